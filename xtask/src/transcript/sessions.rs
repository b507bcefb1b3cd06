//! What a good run of the session services (kernel-demo/spec/sessions.cap:
//! the memory server, the file service and their clients, started by the
//! root task's `spawn::sessions`) looks like.
//!
//! When the client pays: the good clients (1 and 2) are served in full,
//! also after the hostile client (3) has exhausted what it could, and
//! every one of their lines says so; the hostile client is refused by its
//! own quota (`OutOfQuota`) with all of it charged, for RAM and for files;
//! closing a session returns every byte of the quota and its donation
//! retypes again whole, and the servers hold nothing for clients after the
//! last close; after every message, the sum of the sessions' charges is
//! what the server holds for its clients, its own memory is what it was
//! when it started serving, and every object it made lies in the session's
//! donation. When the server pays (the control run), the memory server's
//! own memory is spent and both good clients are refused RAM. The root's table says
//! the same.

/// The line that starts the run in which clients pay.
pub const PAYING: &str = "root: session services, the client pays";
/// The line that starts the control run.
const CONTROL: &str = "root: session services, the server pays (control run)";
/// The line after which the hostile client holds all it could take.
const EXHAUSTED: &str = "root: the hostile client can take no more; the good clients go on";
/// The good clients and the hostile one.
const GOOD: [u64; 2] = [1, 2];
const HOSTILE: u64 = 3;
/// The servers, by the start of their lines.
const SERVERS: [&str; 2] = ["memserver: ", "fileserver: "];

/// The number right after `after` in `line`.
fn number(line: &str, after: &str) -> Option<u64> {
    line.split(after)
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// `(used, size)` of a server line's `own budget: U of S bytes used`.
fn own_budget(line: &str) -> Option<(u64, u64)> {
    let rest = line.split("own budget: ").nth(1)?;
    let (used, size) = rest.split_once(" of ")?;
    Some((used.parse().ok()?, size.split(' ').next()?.parse().ok()?))
}

/// Every problem of the session services' two runs.
pub fn problems(lines: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    let start = lines.iter().position(|l| *l == PAYING);
    let control = lines.iter().position(|l| *l == CONTROL);
    let (Some(start), Some(control)) = (start, control) else {
        problems.push(format!("no `{PAYING}` and `{CONTROL}` lines"));
        return problems;
    };
    if control < start {
        problems.push("the control run of the session services came first".to_owned());
        return problems;
    }
    let end = lines[control..]
        .iter()
        .position(|l| l.starts_with("root: sessions: the server"))
        .map_or(lines.len(), |at| control + at + 1);
    let (paying, spending) = (&lines[start..control], &lines[control..end]);
    problems.extend(paying_problems(paying));
    problems.extend(control_problems(spending));
    for row in [
        "root: sessions: the client | all verified | yes",
        "root: sessions: the server | refused or failed | no",
    ] {
        if !spending.contains(&row) {
            problems.push(format!("no table row `{row}`"));
        }
    }
    problems
}

/// The run in which clients pay.
fn paying_problems(run: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(exhausted) = run.iter().position(|l| *l == EXHAUSTED) else {
        problems.push(format!("no `{EXHAUSTED}` line when the client pays"));
        return problems;
    };
    // The hostile client affects nobody else: the good clients are served
    // in full after it exhausted what it could, and say so.
    for id in GOOD {
        let mine = format!("client {id}: ");
        if !run.contains(&format!("client {id}: all verified").as_str()) {
            problems.push(format!(
                "the hostile client affected a good client: no `client {id}: all verified` when the client pays"
            ));
        }
        for line in run.iter().filter(|l| l.starts_with(&mine)) {
            let fine = line.ends_with(": verified")
                || line.ends_with("checksum verified")
                || line.ends_with(": ok")
                || line.ends_with("all verified")
                || line.contains(": session opened with a donation of ");
            if !fine {
                problems.push(format!(
                    "a good client was not served when the client pays: `{line}`"
                ));
            }
        }
        for what in ["allocate 4 KiB: ", "open and read readme: "] {
            let after = &run[exhausted..];
            let prefix = format!("client {id}: {what}");
            if !after
                .iter()
                .any(|l| l.starts_with(&prefix) && l.ends_with("verified"))
            {
                problems.push(format!(
                    "the hostile client affected a good client: no verified `{prefix}...` after it exhausted its quota"
                ));
            }
        }
    }
    // The hostile client is held to its own quota, for RAM and for files.
    let hostile = format!("client {HOSTILE}: ");
    for wanted in [
        "Mem: a session with a donation of 32768 bytes: OutOfQuota { needed: 65536 }",
        "Mem: allocate 64 KiB: OutOfQuota; then 15 allocations of 4 KiB, the next: OutOfQuota { needed: 4096 }; 65536 of 65536 bytes charged",
        "Files: 7 files opened, the next: OutOfQuota { needed: 4096 }",
        // A cap of the wrong type is refused by the generated dispatch, and
        // the refusal's reply fits the kernel's message labels.
        "Mem: free of its Files endpoint as RAM: refused by dispatch (InvalidArgument at 0)",
    ] {
        if !run[..exhausted].contains(&format!("{hostile}{wanted}").as_str()) {
            problems.push(format!(
                "the hostile client was not held to its own quota: no `{hostile}{wanted}` line when the client pays"
            ));
        }
    }
    // Closing returns every byte: each client's sessions come back whole,
    // its donation retypes whole again, and the servers hold nothing after.
    for id in GOOD.into_iter().chain([HOSTILE]) {
        for service in ["Mem", "Files"] {
            let prefix = format!("client {id}: {service}: session closed: ");
            match run.iter().find(|l| l.starts_with(&prefix)) {
                None => problems.push(format!("no `{prefix}...` line when the client pays")),
                Some(line) => {
                    let returned = number(line, &prefix);
                    let donated = number(line, " of ");
                    if returned.is_none() || returned != donated || !line.ends_with(": ok") {
                        problems.push(format!(
                            "closing a session did not return every byte: `{line}`"
                        ));
                    }
                }
            }
        }
    }
    for server in SERVERS {
        let last = run
            .iter()
            .rev()
            .find(|l| l.starts_with(server) && l.contains("held for clients"));
        if !last.is_some_and(|l| l.contains("sessions charged 0 bytes, held for clients 0;")) {
            problems.push(format!(
                "closing every session did not return every byte: the last `{server}` line is `{}`",
                last.unwrap_or(&"")
            ));
        }
    }
    // After every message: the charges are what the server holds, its own
    // memory does not change, every object lies in the donation.
    for server in SERVERS {
        let mine: Vec<&str> = run
            .iter()
            .copied()
            .filter(|l| l.starts_with(server))
            .collect();
        let start = mine
            .iter()
            .find(|l| l.contains(": serving, the client pays"));
        let Some(first) = start.and_then(|l| own_budget(l)) else {
            problems.push(format!(
                "no `{server}serving, the client pays; own budget: ...` line"
            ));
            continue;
        };
        let calls: Vec<&str> = mine
            .iter()
            .copied()
            .filter(|l| l.contains(": client "))
            .collect();
        if calls.len() < 8 {
            problems.push(format!(
                "fewer than 8 `{server}client ...` lines when the client pays"
            ));
        }
        for line in calls {
            let charged = number(line, "sessions charged ");
            let held = number(line, "held for clients ");
            if charged.is_none() || charged != held {
                problems.push(format!(
                    "the sessions' charges are not what the server holds for its clients: `{line}`"
                ));
            }
            if own_budget(line) != Some(first) {
                problems.push(format!(
                    "the server's own memory changed while clients paid: `{line}`"
                ));
            }
            if let Some(rest) = line.split("objects in the session's donation: ").nth(1) {
                let counts = rest.split_once(" of ").and_then(|(inside, made)| {
                    Some((inside.parse::<u64>().ok()?, made.parse::<u64>().ok()?))
                });
                if !counts.is_some_and(|(inside, made)| inside == made && made > 0) {
                    problems.push(format!(
                        "an object outside its session's donation: `{line}`"
                    ));
                }
            }
        }
    }
    problems
}

/// The control run: the memory server's own memory is spent and both good
/// clients are refused.
fn control_problems(run: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    let spent = run
        .iter()
        .filter(|l| l.starts_with("memserver: "))
        .filter_map(|l| own_budget(l))
        .any(|(used, size)| used == size);
    if !spent {
        problems.push(
            "the control run did not fail: the memory server's own memory was never spent"
                .to_owned(),
        );
    }
    let refused = GOOD.iter().all(|id| {
        run.contains(&format!("client {id}: refused or failed").as_str())
            && run.iter().any(|l| {
                l.starts_with(&format!("client {id}: allocate 4 KiB: ")) && !l.ends_with("verified")
            })
    });
    if !refused {
        problems.push(
            "the control run did not fail: a good client was not refused RAM when the server paid"
                .to_owned(),
        );
    }
    problems
}
