//! What a good boot of the demo kernel looks like: the checks `cargo xtask
//! test` (and `demo`) run on the serial transcript and QEMU's exit status.
//!
//! The kernel prints one fact per line (see `kernel-demo/kernel/src/main.rs`);
//! these checks hold it to what it claims: a banner, Untyped lines whose
//! regions are naturally aligned, within the spec's size range and disjoint,
//! each with the generated `UntypedCap` Debug line naming the same base, a
//! total that is their sum, the IDT line and `boot ok`; then the root task
//! (kernel-demo/user/src/bin/root.rs) running in ring 3: every capability
//! operation it reports succeeded, every retype error it provokes came back
//! as the one expected, its second thread was stopped by a user-mode page
//! fault while the root went on, every attack of the hostile task
//! (kernel-demo/user/src/bin/attack.rs) was refused or contained and the
//! kernel's audit passed after them, the session services held a hostile
//! client to its own quota while the good clients were served and returned
//! every byte on close (the `sessions` module), and the kernel's summary and `demo ok`
//! come last, with QEMU's `isa-debug-exit` status for success.
//!
//! [`check_fault_test`] does the same for a boot with `-append fault-test`:
//! the breakpoint resumed, the page fault at [`FAULT_TEST_ADDRESS`] was
//! reported with that CR2, and QEMU ended with the CPU-exception status.

use std::fmt;
use std::time::Duration;

mod sessions;

/// QEMU's status when the kernel writes 0x10 to `isa-debug-exit`: `(0x10 << 1) | 1`.
pub const EXIT_SUCCESS: i32 = 33;
/// QEMU's status when the kernel panics (it writes 0x11).
pub const EXIT_PANIC: i32 = 35;
/// QEMU's status after a fatal CPU exception (the kernel writes 0x12).
pub const EXIT_CPU_EXCEPTION: i32 = 37;

/// The kernel command line that selects the exception self-test.
pub const FAULT_TEST_CMDLINE: &str = "fault-test";

/// The command line that turns the kernel's IPC fast paths off.
pub const NO_FAST_PATH_CMDLINE: &str = "nofastpath";
/// The unmapped address the self-test reads (`FAULT_TEST_ADDRESS` in
/// `kernel-demo/kernel/src/main.rs`).
pub const FAULT_TEST_ADDRESS: u64 = 0x0000_0005_dead_b000;
/// What the kernel prints once `int3` has returned to it.
pub const BREAKPOINT_RESUMED: &str = "breakpoint handled, continuing";
/// The start of the page-fault report's first line.
const PAGE_FAULT_REPORT: &str = "cpu exception: #PF page fault (vector 14)";
/// The start of every exception report's first line.
const EXCEPTION_REPORT: &str = "cpu exception:";

/// IDT gates the kernel installs: the 32 CPU exception vectors, the timer
/// and IRQs 1-15.
const IDT_VECTORS: u32 = 48;

/// The first line the kernel prints.
pub const BANNER: &str = "capc demo kernel";
/// The line that ends the boot, before the root task runs.
pub const BOOT_OK: &str = "boot ok";
/// The last line of a run in which every thread exited or was stopped.
pub const DEMO_OK: &str = "demo ok";
/// The kernel's line saying it cannot execute or touch user pages.
const PROTECTION: &str = "cpu: SMEP on, SMAP on";
/// How the kernel's line starts and ends when it sent a thread's fault to
/// the fault handler of the root's fault-handling test (badge 0x66).
const FAULT_SENT: (&str, &str) = (
    ": fault sent to its fault handler (endpoint 0x",
    ", badge 0x66)",
);
/// The line before the exception report of a faulting thread.
const THREAD_FAULTED: &str = "faulted:";
/// What the root task prints for an outcome that is not the one expected.
const WRONG: &str = "(WRONG)";
/// The kernel errors the root task provokes from retype, each of which must
/// come back as expected.
const RETYPE_ERRORS: [&str; 7] = [
    "InvalidArgument",
    "RangeError",
    "NotEnoughMemory",
    "DeleteFirst",
    "IllegalOperation",
    "TruncatedMessage",
    "FailedLookup",
];
/// Root-task lines that must end in `: ok`, by their start.
const ROOT_OK: [&str; 34] = [
    "root: retype 4 endpoints",
    "root: copy slot",
    "root: mint slot",
    "root: move slot",
    "root: delete slot",
    "root: revoke slot",
    "root: retype a TCB:",
    "root: retype 2 frames",
    "root: map the stack frame",
    "root: map the IPC buffer frame",
    "root: retype and map a page table",
    "root: map a frame, delete its cap, map another frame at the same address",
    "root: configure, set registers of and resume the thread",
    "root: retype an endpoint",
    "root: retype a notification",
    "root: mint the client's endpoint cap",
    "root: mint a notification cap to send",
    "root: retype the server's TCB",
    "root: retype its stack and IPC buffer frames",
    "root: map its stack",
    "root: map its IPC buffer",
    "root: start the server thread",
    "root: stop the server",
    "root: delete the last cap to the endpoint a thread waits on",
    "root: start a thread whose fault handler is the root's endpoint",
    "root: fault handler: map a frame at the faulting page and reply",
    "root: at priority 30, start thread A at priority 10 and thread B at 20",
    "root: drop the root to priority 0",
    "root: give thread B an MCP of 5",
    "root: driver: COM2's ports and interrupt line, bound to a notification",
    "root: driver: start the driver thread",
    "root: a 1 MiB Untyped with a CNode of 4096 slots and 4096 endpoints in it",
    "root: revoke it in one call (4097 caps",
    "root: delete the Untyped",
];

/// The kernel's report of preemption points: a revoke the root makes long
/// enough (4097 caps) that the 1 kHz timer comes during it.
const RESTARTS: (&str, &str) = ("kernel: ", " system calls restarted at preemption points");
/// Lines the priority part must print exactly: the higher priority ran
/// first, to its end, and both before the root that had let them; a
/// priority above the authority's MCP was refused.
const PRIORITY_LINES: [&str; 2] = [
    "root: priorities: thread B (20) took ticket 1, thread A (10) ticket 2, the root (0) ticket 3",
    "root: set priority 6 on the authority of a thread with MCP 5: RangeError { min: 0, max: 5 } (as expected)",
];
/// Lines the fault-handling part must print exactly: the thread's page
/// fault reached its handler, the root, as a message with the handler
/// cap's badge, and after the handler mapped the page the thread read what
/// the handler had put there. The kernel says it sent the fault with
/// [`FAULT_SENT`].
const FAULT_HANDLER_LINES: [&str; 2] = [
    "root: fault handler: a page fault at 0xfe00116000 (a data access, error code 0x4) came as a message with badge 0x66",
    "faulter: read 0xfeedf00d at 0xfe00116000 after its fault handler mapped the page",
];
/// Lines the IPC part must print exactly: the server got the call with
/// the client's badge, its words and the granted cap, answered with their
/// sum, and signalled the granted notification.
const IPC_LINES: [&str; 4] = [
    "server: call with badge 0x77, 5 words and 1 cap",
    "root: call to the server: ok, reply 15 (1 + 2 + 3 + 4 + 5)",
    "root: the server signalled the notification it was granted: bits 0b100",
    "server: stopping",
];

/// What QEMU feeds the guest's second serial port (COM2), for the root's
/// user-level driver: `driver::INPUT` in kernel-demo/user/src/bin/root.rs.
pub const COM2_INPUT: &[u8] = b"capc: bytes for a user-level driver\n";

/// What the kernel prints the first time it has nothing to run but a
/// thread waits for an interrupt (the COM2 driver): `cargo xtask` feeds
/// COM2 only then, so the driver's first interrupt wakes an idle kernel.
pub const DRIVER_WAITS: &str = "kernel: nothing to run; waiting for an interrupt a thread waits on";

/// Lines the driver part must print exactly: the kernel's own ports and
/// lines are refused and ranges do not overlap; [`DRIVER_RECEIVED`] then
/// says the driver received every byte QEMU fed COM2, in order, through its
/// ports on its interrupts, and served them over its RPC interface; the
/// last line says deleting a bound line's notification clears the binding.
const DRIVER_LINES: [&str; 5] = [
    "root: issue the ports of COM1: IllegalOperation (as expected)",
    "root: get the timer's interrupt line: RevokeFirst (as expected)",
    "root: get interrupt line 16: RangeError { min: 0, max: 15 } (as expected)",
    "root: issue a port another IoPort cap has: RevokeFirst (as expected)",
    "root: delete the notification line 3 signals while it is bound: kernel audit ok",
];
/// How the root's line on what the driver received starts and ends.
const DRIVER_RECEIVED: (&str, &str) = (
    "root: the driver received 36 bytes from COM2 in ",
    " interrupt(s), served over its Serial interface in 4 calls: \"capc: bytes for a user-level driver\"",
);

/// The attacks of the hostile task (kernel-demo/user/src/bin/attack.rs), in
/// the order it makes them: each prints `attack <name>: refused (...)` or
/// `attack <name>: contained (...)`, or `SUCCEEDED` when it worked.
pub const ATTACKS: [&str; 15] = [
    "cnode-reuse",
    "pml4-reuse",
    "ipc-buffer-reuse",
    "pagetable-reuse",
    "double-table-map",
    "table-unmap",
    "frames-under-deleted-pml4",
    "stale-reply",
    "queued-send-after-revoke",
    "device-ipc-buffer",
    "thread-flood",
    "address-space-flood",
    "syscall-at-user-end",
    "ipc-without-rights",
    "asid-pool-deleted",
];
/// Whether `line` is the kernel's report of a passing audit: it must name
/// every invariant the audit checks, the page tables' included.
fn is_passing_audit(line: &str) -> bool {
    line.starts_with("audit: ")
        && [
            "the derivation list is sound",
            "owned slots hold what they admit",
            "every thread is a live TCB waiting only on live objects",
            "reply caps names a live caller waiting for it",
            "every interrupt line signals a live notification",
            "every address-space number stands for a live PML4 of a live pool",
            "every user mapping leads to an object whose cap records it",
        ]
        .iter()
        .all(|claim| line.contains(claim))
}

/// The most the kernel's own state (`user/state.rs`'s `Kernel`) may take:
/// the run queues' 4 KiB of heads and tails, the map of 65,536 I/O ports
/// (8 KiB, a bit each: hardware-sized), and some words. The former table of
/// 256 address-space numbers alone was 2 KiB.
const KERNEL_STATE_BYTES: u64 = 4096 + 8192 + 1024;

/// What the hostile task prints when the kernel's audit after its attacks
/// passed.
const ATTACK_AUDIT_OK: &str = "attack: kernel audit after the attacks: ok";
/// What the root prints once the hostile task is done.
const ATTACK_DONE: &str = "root: the attack program is done";
/// What the root prints when a new task starts after the attacks flooded
/// the kernel with threads and address spaces, and then the new task's
/// call: the other tasks go on.
const AFTER_ATTACKS: [&str; 2] = [
    "root: after the attacks, task 0 starts again",
    "root: task 0 called with 41; answering 42",
];

/// The smallest and largest Untyped in `kernel-demo/spec/kernel.cap`, as log2
/// of bytes.
const UNTYPED_BITS: std::ops::RangeInclusive<u32> = 4..=47;

/// How the QEMU run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QemuExit {
    /// QEMU exited with this status.
    Code(i32),
    /// QEMU was killed by a signal.
    Signal,
    /// The kernel did not finish in time and QEMU was killed.
    TimedOut(Duration),
}

impl fmt::Display for QemuExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            QemuExit::Code(EXIT_SUCCESS) => write!(f, "exit status {EXIT_SUCCESS} (kernel success)"),
            QemuExit::Code(EXIT_PANIC) => write!(f, "exit status {EXIT_PANIC} (kernel panic)"),
            QemuExit::Code(EXIT_CPU_EXCEPTION) => {
                write!(f, "exit status {EXIT_CPU_EXCEPTION} (fatal CPU exception)")
            }
            QemuExit::Code(crate::kernel::EXIT_STACK_OVERFLOW) => write!(
                f,
                "exit status {} (kernel stack overflow)",
                crate::kernel::EXIT_STACK_OVERFLOW
            ),
            QemuExit::Code(0) => f.write_str(
                "exit status 0: the guest triple-faulted or reset (-no-reboot), or never reached isa-debug-exit",
            ),
            QemuExit::Code(code) => write!(
                f,
                "exit status {code}: QEMU itself failed (its message is above)"
            ),
            QemuExit::Signal => f.write_str("QEMU was killed by a signal"),
            QemuExit::TimedOut(limit) => write!(
                f,
                "no exit within {} s: the kernel hung; QEMU was killed",
                limit.as_secs()
            ),
        }
    }
}

/// One `untyped 0x... 2^N (...) ram` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UntypedLine {
    /// Physical base address.
    pub base: u64,
    /// log2 of the size.
    pub bits: u32,
    /// Device memory rather than RAM.
    pub is_device: bool,
}

/// What a good boot reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootReport {
    /// The Untyped regions, in the order printed.
    pub untypeds: Vec<UntypedLine>,
    /// The total the kernel printed (checked to be their sum).
    pub total_bytes: u64,
}

/// Checks a transcript and exit status; every problem found, or the report.
pub fn check(transcript: &str, exit: QemuExit) -> Result<BootReport, Vec<String>> {
    let mut problems = Vec::new();
    if exit != QemuExit::Code(EXIT_SUCCESS) {
        problems.push(format!(
            "QEMU did not exit with {EXIT_SUCCESS} (kernel success): {exit}"
        ));
    }
    let lines: Vec<&str> = transcript.lines().map(str::trim_end).collect();
    problems.extend(common_problems(&lines));
    // An exception report is fine only as the report of a thread's fault.
    for (index, line) in lines.iter().enumerate() {
        if !line.starts_with(EXCEPTION_REPORT) {
            continue;
        }
        let before = lines[..index].iter().rev().find(|l| !l.is_empty());
        if !before.is_some_and(|l| l.starts_with("thread 0x") && l.ends_with(THREAD_FAULTED)) {
            problems.push(format!("the kernel took a CPU exception: `{line}`"));
        }
    }

    let mut untypeds = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        if !line.starts_with("untyped 0x") {
            continue;
        }
        match parse_untyped(line) {
            Ok(untyped) => {
                let cap_line = lines.get(index + 1).copied().unwrap_or("");
                let base = format!("{:#x}", untyped.base);
                if !(cap_line.contains("UntypedCap") && cap_line.contains(&base)) {
                    problems.push(format!(
                        "`{line}` is not followed by its UntypedCap's Debug line naming {base} (got `{cap_line}`)"
                    ));
                }
                untypeds.push(untyped);
            }
            Err(why) => problems.push(format!("malformed untyped line `{line}`: {why}")),
        }
    }
    if untypeds.is_empty() {
        problems.push("no `untyped 0x... 2^N (...) ram` line".to_owned());
    }
    problems.extend(overlaps(&untypeds));

    let sum: u64 = untypeds.iter().map(|u| 1u64 << u.bits).sum();
    let mut total_bytes = 0;
    match lines.iter().find(|l| l.starts_with("untyped total ")) {
        None => problems.push("no `untyped total N bytes` line".to_owned()),
        Some(line) => match parse_total(line) {
            Ok((total, caps)) => {
                total_bytes = total;
                if total != sum {
                    problems.push(format!(
                        "`{line}`: the untyped lines add up to {sum} bytes, not {total}"
                    ));
                }
                if caps != untypeds.len() {
                    problems.push(format!(
                        "`{line}`: {} untyped lines were printed, not {caps}",
                        untypeds.len()
                    ));
                }
            }
            Err(why) => problems.push(format!("malformed total line `{line}`: {why}")),
        },
    }

    if !lines.contains(&BOOT_OK) {
        problems.push(format!("no `{BOOT_OK}` line"));
    }
    // QEMU runs with `-cpu max`, which has both.
    if !lines.contains(&PROTECTION) {
        problems.push(format!("no `{PROTECTION}` line"));
    }
    problems.extend(root_task_problems(&lines));
    match lines.iter().rev().find(|l| !l.is_empty()) {
        Some(&last) if last == DEMO_OK => {}
        last => problems.push(format!(
            "the last line is `{}`, not `{DEMO_OK}`",
            last.copied().unwrap_or_default()
        )),
    }

    if problems.is_empty() {
        Ok(BootReport {
            untypeds,
            total_bytes,
        })
    } else {
        Err(problems)
    }
}

/// What is wrong with the root task's part of the transcript: see the
/// module documentation.
fn root_task_problems(lines: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    // The kernel's own state is fixed at build and small: a table that grew
    // with threads or address spaces (64 TCB addresses, 256 PML4s) would
    // show here.
    match lines
        .iter()
        .find_map(|l| l.strip_prefix("kernel: own state "))
        .and_then(|rest| number_after(rest, ""))
    {
        Some(bytes) if bytes <= KERNEL_STATE_BYTES => {}
        Some(bytes) => problems.push(format!(
            "the kernel's own state is {bytes} bytes, more than {KERNEL_STATE_BYTES}"
        )),
        None => problems.push("no `kernel: own state N bytes ...` line".to_owned()),
    }
    let has = |start: &str| lines.iter().any(|l| l.starts_with(start));
    for start in [
        "root task: CNode",
        "root task: paid",
        "scheduler: round robin",
        "root: running in ring 3",
    ] {
        if !has(start) {
            problems.push(format!("no `{start} ...` line"));
        }
    }
    for wrong in lines.iter().filter(|l| l.contains(WRONG)) {
        problems.push(format!("the root task got an unexpected result: `{wrong}`"));
    }
    for start in ROOT_OK {
        match lines.iter().find(|l| l.starts_with(start)) {
            None => problems.push(format!("no `{start} ...` line")),
            Some(line) if !line.ends_with(": ok") => {
                problems.push(format!("`{line}` did not succeed"));
            }
            Some(_) => {}
        }
    }
    // The long revoke was stopped at a preemption point, and restarted, at
    // least once (as the root's lines say, it still removed everything).
    let restarts = lines.iter().find_map(|l| {
        l.strip_prefix(RESTARTS.0)?
            .split_once(RESTARTS.1)?
            .0
            .parse::<u64>()
            .ok()
    });
    match restarts {
        Some(1..) => {}
        Some(0) => problems.push(
            "no system call was restarted at a preemption point: the long revoke never let an interrupt in".to_owned(),
        ),
        None => problems.push(format!("no `{}N{} ...` line", RESTARTS.0, RESTARTS.1)),
    }
    for error in RETYPE_ERRORS {
        let provoked = lines.iter().any(|l| {
            l.starts_with("root: retype") && l.contains(error) && l.ends_with("(as expected)")
        });
        if !provoked {
            problems.push(format!(
                "no root-task retype that returned {error} as expected"
            ));
        }
    }
    for line in [
        "root: still running after the thread's fault",
        "root: done; 0 failures",
    ]
    .into_iter()
    .chain(IPC_LINES)
    .chain(FAULT_HANDLER_LINES)
    .chain(PRIORITY_LINES)
    .chain(DRIVER_LINES)
    {
        if !lines.contains(&line) {
            problems.push(format!("no `{line}` line"));
        }
    }
    let received = lines
        .iter()
        .any(|l| l.starts_with(DRIVER_RECEIVED.0) && l.ends_with(DRIVER_RECEIVED.1));
    if !received {
        problems.push(format!(
            "no `{}N{}` line: the user-level driver did not get COM2's bytes in order",
            DRIVER_RECEIVED.0, DRIVER_RECEIVED.1
        ));
    }
    let sent = lines.iter().any(|l| {
        l.starts_with("thread 0x") && l.contains(FAULT_SENT.0) && l.ends_with(FAULT_SENT.1)
    });
    if !sent {
        problems.push(format!(
            "no `thread 0x...{}...{}` line: the kernel did not send the fault to its handler",
            FAULT_SENT.0, FAULT_SENT.1
        ));
    }
    if !has("child: running") {
        problems.push("the root task's second thread never ran".to_owned());
    }
    if let Some(line) = lines.iter().find(|l| l.starts_with("child: read")) {
        problems.push(format!(
            "the thread read kernel memory and was not stopped: `{line}`"
        ));
    }
    let fault = lines
        .iter()
        .position(|l| l.starts_with("thread 0x") && l.ends_with(THREAD_FAULTED));
    match fault {
        None => problems.push("no `thread 0x... faulted:` report".to_owned()),
        Some(at) => {
            let report = &lines[at..lines.len().min(at + 12)];
            if !report.iter().any(|l| l.starts_with(PAGE_FAULT_REPORT)) {
                problems.push("the faulting thread's report is not a page fault".to_owned());
            }
            if !report.iter().any(|l| l.contains("user mode")) {
                problems.push("the thread's page fault was not in user mode".to_owned());
            }
            if !report.iter().any(|l| {
                l.trim_start()
                    .starts_with("in ring 3: the thread is stopped")
            }) {
                problems.push("the thread's fault report does not say it was stopped".to_owned());
            }
        }
    }
    if !lines
        .iter()
        .any(|l| l.starts_with("thread 0x") && l.ends_with("exited with status 0"))
    {
        problems.push("no thread `exited with status 0` (the root task)".to_owned());
    }
    match lines
        .iter()
        .find_map(|l| l.strip_prefix("kernel: no runnable threads left: "))
    {
        None => problems.push("no `kernel: no runnable threads left: ...` summary".to_owned()),
        Some(summary) => {
            let count = |what: &str| {
                summary
                    .split([',', ';'])
                    .find_map(|part| part.trim().strip_suffix(what)?.trim().parse::<u64>().ok())
            };
            // The root, the IPC server, the fuzzer, task 0 and the service's
            // clients exit; the child thread and tasks 1 and 2 fault; nothing
            // may be left waiting.
            match (count("exited"), count("faulted"), count("blocked")) {
                (Some(4..), Some(3..), Some(0)) => {}
                _ => problems.push(format!(
                    "the summary `{summary}` is not: at least 4 exited, at least 3 faulted, 0 blocked"
                )),
            }
            // The driver's interrupts came, some while nothing else could
            // run (the kernel waited for them instead of ending the run).
            match (count("interrupts for drivers"), count("while idle")) {
                (Some(1..), Some(1..)) => {}
                _ => problems.push(format!(
                    "the summary `{summary}` does not say that interrupts reached the driver, some while the kernel was idle"
                )),
            }
        }
    }
    problems.extend(fuzz_problems(lines));
    problems.extend(task_problems(lines));
    problems.extend(service_problems(lines));
    problems.extend(sessions::problems(lines));
    problems.extend(attack_problems(lines));
    problems
}

/// What is wrong with the hostile task's part: every attack of [`ATTACKS`]
/// must print its line, in order, each `refused` or `contained`; none may
/// say `SUCCEEDED`; after the last one the kernel's audit must pass (its
/// `audit: ...` line, then the task's [`ATTACK_AUDIT_OK`]); and the root
/// must have seen the task finish.
fn attack_problems(lines: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    for line in lines
        .iter()
        .filter(|l| l.starts_with("attack ") && l.contains("SUCCEEDED"))
    {
        problems.push(format!("an attack succeeded: `{line}`"));
    }
    let mut previous: Option<usize> = None;
    for name in ATTACKS {
        let prefix = format!("attack {name}: ");
        let Some(at) = lines.iter().position(|l| l.starts_with(&prefix)) else {
            problems.push(format!("no `{prefix}refused|contained (...)` line"));
            continue;
        };
        let line = lines[at];
        let verdict = &line[prefix.len()..];
        let held = verdict.starts_with("refused (") || verdict.starts_with("contained (");
        if !held && !verdict.starts_with("SUCCEEDED") {
            problems.push(format!("`{line}` is neither refused nor contained"));
        }
        if previous.is_some_and(|p| at < p) {
            problems.push(format!("`{line}` is out of order (attacks: {ATTACKS:?})"));
        }
        previous = Some(previous.map_or(at, |p| p.max(at)));
    }
    // The kernel stopped, before the attack's line, rather than ran: the
    // thread whose address space lost its number, and the one that made a
    // system call from the end of user space.
    for (attack, stopped) in [
        (
            "asid-pool-deleted",
            "stopped: its address space was deleted",
        ),
        (
            "syscall-at-user-end",
            "stopped: its return address 0x800000000000 is past the end of user space",
        ),
    ] {
        let prefix = format!("attack {attack}: ");
        let pool = lines
            .iter()
            .position(|l| l.starts_with(&prefix))
            .and_then(|at| {
                let tcb = lines[at].split_once("(TCB at ")?.1.split_once(')')?.0;
                Some((at, format!("thread {tcb} {stopped}")))
            });
        match pool {
            Some((at, line)) if lines[..at].contains(&line.as_str()) => {}
            Some((_, line)) => {
                problems.push(format!("no `{line}` line before the {attack} attack's"))
            }
            None => problems.push(format!("the {attack} attack names no TCB")),
        }
    }
    // The stale-reply attack audits while a server holds a reply cap.
    let saw_reply = lines
        .iter()
        .any(|l| is_passing_audit(l) && number_after(l, "each of ").is_some_and(|n| n > 0));
    if !saw_reply {
        problems.push(
            "no passing kernel audit checked a reply cap in a caller slot (`each of N reply caps`, N > 0)"
                .to_owned(),
        );
    }
    let rest = previous.map_or(&lines[..0], |p| &lines[p..]);
    let audit = rest.iter().position(|l| is_passing_audit(l));
    let passed = rest.iter().position(|l| *l == ATTACK_AUDIT_OK);
    if !matches!((audit, passed), (Some(a), Some(p)) if a < p) {
        problems.push(format!(
            "no passing kernel audit after the attacks (`audit: ...` then `{ATTACK_AUDIT_OK}`)"
        ));
    }
    match lines.iter().position(|l| *l == ATTACK_DONE) {
        None => problems.push(format!("no `{ATTACK_DONE}` line")),
        Some(done) => {
            let after = &lines[done..];
            let started = after.iter().position(|l| *l == AFTER_ATTACKS[0]);
            let called =
                started.and_then(|s| after[s..].iter().position(|l| *l == AFTER_ATTACKS[1]));
            if called.is_none() {
                problems.push(format!(
                    "no `{}` then `{}` after the attacks: the other tasks did not go on",
                    AFTER_ATTACKS[0], AFTER_ATTACKS[1]
                ));
            }
        }
    }
    problems
}

/// What is wrong with the fuzzer's part: it must have made all its
/// invocations, some of which succeeded and some of which failed in at
/// least five different ways, and the kernel's audit afterwards must pass.
fn fuzz_problems(lines: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    let summary = lines
        .iter()
        .find_map(|l| l.strip_prefix("fuzz: 10000 invocations"));
    match summary.and_then(|s| {
        s.split(": ")
            .last()?
            .strip_suffix(" succeeded")?
            .parse::<u64>()
            .ok()
    }) {
        Some(1..) => {}
        _ => problems
            .push("no `fuzz: 10000 invocations ...: N succeeded` line with N > 0".to_owned()),
    }
    let kinds = lines
        .iter()
        .find_map(|l| l.strip_prefix("fuzz: kernel errors:"))
        .map_or(0, |errors| errors.split_whitespace().count() / 2);
    if kinds < 5 {
        problems.push(format!(
            "the fuzzer provoked {kinds} kinds of kernel error, fewer than 5"
        ));
    }
    if !lines.iter().any(|l| is_passing_audit(l)) {
        problems.push("no passing `audit: ...` line from the kernel".to_owned());
    }
    // The IRQ handler and I/O port caps the root gave the fuzzer were
    // invoked, and some invocations did what they ask.
    match lines
        .iter()
        .find_map(|l| l.strip_prefix("fuzz: driver caps "))
        .map(|l| (number_after(l, "): "), number_after(l, "invocations, ")))
    {
        Some((Some(calls), Some(ok))) if calls >= 50 && ok > 0 => {}
        Some(_) => problems.push(
            "the fuzzer's driver caps were invoked fewer than 50 times, or never with success"
                .to_owned(),
        ),
        None => problems
            .push("no `fuzz: driver caps (...): N invocations, M succeeded` line".to_owned()),
    }
    if !lines.contains(&"root: kernel audit after the fuzzer: ok") {
        problems.push("no `root: kernel audit after the fuzzer: ok` line".to_owned());
    }
    problems.extend(fuzz_lifecycle_problems(lines));
    problems
}

/// The counts of the fuzzer's lifecycle phase that must not be zero: each
/// names its line's prefix and the words that follow the counts summed.
const FUZZ_LIFECYCLE_KINDS: [(&str, &str, &[&str]); 10] = [
    ("configure", "fuzz: configure: ", &[""]),
    ("fault handler", "fuzz: fault handler: ", &[""]),
    ("frame map", "fuzz: map: ", &["frames "]),
    ("table map", "fuzz: map: ", &["tables "]),
    (
        "address-space number",
        "fuzz: map: ",
        &["address spaces numbered "],
    ),
    (
        "revoke-under-mapping",
        "fuzz: remove: ",
        &["removed while mapped: ", "frames, ", "tables; "],
    ),
    (
        "removal of a mapped frame",
        "fuzz: remove: ",
        &["removed while mapped: "],
    ),
    ("reuse", "fuzz: reuse: ", &[""]),
    ("message delivery", "fuzz: ipc: ", &["messages delivered "]),
    ("cancelled wait", "fuzz: ipc: ", &["cancelled waits "]),
];

/// The number right after the first `after` in `text` (`after` empty: at
/// its start).
fn number_after(text: &str, after: &str) -> Option<u64> {
    let at = text.find(after)? + after.len();
    let digits = text[at..].split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok()
}

/// What is wrong with the fuzzer's lifecycle phase: each kind of
/// [`FUZZ_LIFECYCLE_KINDS`] must have succeeded at least once, every audit
/// during the phase must have passed, and the thread it parks for the
/// audit after it must be there.
fn fuzz_lifecycle_problems(lines: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    for (kind, prefix, counts) in FUZZ_LIFECYCLE_KINDS {
        let line = lines.iter().find_map(|l| l.strip_prefix(prefix));
        let total: Option<u64> = line.and_then(|l| {
            counts
                .iter()
                .map(|after| number_after(l, after))
                .try_fold(0u64, |sum, n| Some(sum + n?))
        });
        if !matches!(total, Some(1..)) {
            problems.push(format!(
                "the fuzzer's lifecycle phase never succeeded at {kind} (`{prefix}...`)"
            ));
        }
    }
    let audits = lines
        .iter()
        .find_map(|l| l.strip_prefix("fuzz: audits during the lifecycle steps: "));
    let passed = audits.and_then(|a| Some((number_after(a, "")?, number_after(a, " of ")?)));
    if !matches!(passed, Some((ok, all)) if ok == all && all > 0) {
        problems.push(
            "no `fuzz: audits during the lifecycle steps: N of N ok` line with N > 0".to_owned(),
        );
    }
    if !lines
        .iter()
        .any(|l| l.starts_with("fuzz: parked for the audit: ") && l.ends_with(": ok"))
    {
        problems.push("no `fuzz: parked for the audit: ...: ok` line".to_owned());
    }
    problems
}

/// What is wrong with the tasks the root starts from the boot image: each
/// must have started, task 0 must have called the root and got its answer,
/// and tasks 1 and 2 must have been stopped at their first forbidden read.
fn task_problems(lines: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    if !lines
        .iter()
        .any(|l| l.starts_with("boot image: ") && l.contains(" task ("))
    {
        problems.push("no `boot image: ... task (...)` line".to_owned());
    }
    for task in 0..3 {
        let started = format!("root: started task {task:#x} from the boot image");
        if !lines.iter().any(|l| l.starts_with(&started)) {
            problems.push(format!("no `{started} ...` line"));
        }
    }
    for line in [
        "root: retype a TCB from device memory: InvalidArgument { index: 1 } (as expected)",
        "root: retype a frame from device memory: ok",
        "root: task 0 called with 41; answering 42",
        "task 0: the root answered 42",
        "task 1: reading kernel memory at 0x100000",
        "task 2: reading the root's boot image at 0xc000000000",
    ] {
        if !lines.contains(&line) {
            problems.push(format!("no `{line}` line"));
        }
    }
    // Finalisation: the thread waiting on the deleted endpoint gets an
    // error once the endpoint's last cap goes (seL4's cancelAllIPC).
    let finalised = lines
        .iter()
        .position(|l| *l == "waiter: the endpoint was deleted: Syscall(InvalidCap)");
    let deleted = lines
        .iter()
        .position(|l| *l == "root: deleting the last cap to the endpoint the waiter waits on");
    if !matches!((finalised, deleted), (Some(f), Some(d)) if d < f) {
        problems.push(
            "the thread waiting on the deleted endpoint did not get an error after the deletion"
                .to_owned(),
        );
    }
    for escaped in ["task 1: read ", "task 2: read ", "waiter: received"] {
        if let Some(line) = lines.iter().find(|l| l.starts_with(escaped)) {
            problems.push(format!("a task was not stopped: `{line}`"));
        }
    }
    problems
}

/// What is wrong with the decompression service's two runs. When the client
/// pays: the good client's three requests come back verified, both bombs
/// get `OutOfBudget` and their donations are retyped again after the
/// revocation, and the server's own memory never changes. When the server
/// pays (the control run): the server's memory is spent and the good
/// client's later requests are refused. The root's table says the same.
fn service_problems(lines: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    let start = lines
        .iter()
        .position(|l| *l == "root: decompression service, the client pays");
    let control = lines
        .iter()
        .position(|l| *l == "root: decompression service, the server pays (control run)");
    let (Some(start), Some(control)) = (start, control) else {
        problems.push("no `root: decompression service, ...` lines for both runs".to_owned());
        return problems;
    };
    let (paying, spending) = (&lines[start..control], &lines[control..]);
    for request in 1..=3 {
        let prefix = format!("client 1: request {request}: ");
        if !paying
            .iter()
            .any(|l| l.starts_with(&prefix) && l.ends_with("checksum verified"))
        {
            problems.push(format!("no verified `{prefix}...` when the client pays"));
        }
    }
    for bomber in [2, 3] {
        for (line, run) in [
            (
                format!("client {bomber}: bomb (5 bytes that expand to 64 MiB): OutOfBudget"),
                paying,
            ),
            (format!("client {bomber}: donation revoked: "), paying),
        ] {
            if !run
                .iter()
                .any(|l| l.starts_with(&line) && !l.contains("WRONG"))
            {
                problems.push(format!("no `{line}...` line when the client pays"));
            }
        }
    }
    // The server's own memory, as it reports it after every call.
    let usage = |run: &[&str]| -> Vec<String> {
        run.iter()
            .filter(|l| l.starts_with("server: "))
            .filter_map(|l| {
                let rest = l.split("own budget: ").nth(1)?;
                Some(rest.split(';').next()?.to_owned())
            })
            .collect()
    };
    let paid = usage(paying);
    if paid.len() < 5 || paid.iter().any(|u| *u != paid[0]) {
        problems.push(format!(
            "the server's own memory changed while clients paid: {paid:?}"
        ));
    }
    let spent = usage(spending);
    let exhausted = |u: &String| {
        let mut words = u.split_whitespace();
        let used = words.next();
        let size = words.nth(1);
        used.is_some() && used == size
    };
    if !spent.iter().any(exhausted) {
        problems.push(format!(
            "the server's own memory was never spent in the control run: {spent:?}"
        ));
    }
    if !spending
        .iter()
        .any(|l| l.starts_with("client 1: request 3: OutOfBudget"))
    {
        problems.push("the good client was not refused in the control run".to_owned());
    }
    // What the budget charged each call: never past the spec's bound nor
    // the donation.
    for line in paying
        .iter()
        .filter(|l| l.starts_with("server: ") && l.contains("the spec's bound"))
    {
        let number = |after: &str| -> Option<u64> {
            line.split(after)
                .nth(1)?
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        };
        match (number("donated "), number("charged "), number("bound: ")) {
            (Some(donated), Some(charged), Some(bound))
                if charged <= bound && (donated == 0 || charged <= donated) => {}
            _ => problems.push(format!("a charge past the bound or the donation: `{line}`")),
        }
    }
    // Every object of a paid call lies where its budget said: the budget
    // hands out the donation as the kernel's retype places objects.
    for line in paying
        .iter()
        .filter(|l| l.starts_with("server: ") && l.contains("the spec's bound"))
        .filter(|l| !l.contains("from client 0;"))
    {
        let counts = line
            .split("; objects where the budget said: ")
            .nth(1)
            .and_then(|rest| rest.split_once(" of "))
            .and_then(|(placed, made)| {
                Some((placed.parse::<u64>().ok()?, made.parse::<u64>().ok()?))
            });
        match counts {
            Some((placed, made)) if placed == made && made > 0 => {}
            _ => problems.push(format!("an object not where its budget said: `{line}`")),
        }
    }
    problems.extend(accounting_problems(paying, true));
    problems.extend(accounting_problems(spending, false));
    for row in [
        "root: the client     | all verified             | yes",
        "root: the server     | refused or failed        | yes",
    ] {
        if !lines.iter().any(|l| l.starts_with(row)) {
            problems.push(format!("no table row `{row} ...`"));
        }
    }
    problems
}

/// What is wrong with the server's accounting table of one run: its rows
/// must add up to its total, and when clients pay the server must have
/// spent none of its own memory on calls and charged every client.
fn accounting_problems(run: &[&str], clients_pay: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let numbers = |line: &str| -> Vec<u64> {
        line.split('|')
            .skip(1)
            .filter_map(|cell| cell.trim().parse().ok())
            .collect()
    };
    let rows: Vec<Vec<u64>> = run
        .iter()
        .filter(|l| l.starts_with("server:   ") && l.contains('|'))
        .filter(|l| {
            l.trim_start_matches("server:")
                .trim()
                .starts_with(|c: char| c.is_ascii_digit())
        })
        .map(|l| numbers(l))
        .collect();
    let total = run
        .iter()
        .find(|l| l.starts_with("server:    total |"))
        .map(|l| numbers(l));
    let Some(total) = total.filter(|t| t.len() == 3 && !rows.is_empty()) else {
        problems.push("no accounting table with a total from the server".to_owned());
        return problems;
    };
    for (column, &expected) in total.iter().enumerate() {
        let sum: u64 = rows.iter().filter_map(|r| r.get(column)).sum();
        if sum != expected {
            problems.push(format!(
                "the accounting column {column} adds up to {sum}, not {expected}"
            ));
        }
    }
    let own = run
        .iter()
        .find_map(|l| l.strip_prefix("server:   own memory spent on calls: "))
        .and_then(|rest| rest.strip_suffix(" bytes")?.parse::<u64>().ok());
    match (clients_pay, own) {
        (true, Some(0)) => {}
        (false, Some(spent)) if spent > 0 => {}
        (_, own) => problems.push(format!(
            "the server's own memory spent on calls is {own:?} (clients pay: {clients_pay})"
        )),
    }
    if clients_pay
        && rows
            .iter()
            .any(|r| r.get(2).is_none_or(|charged| *charged == 0))
    {
        problems.push("a client was not charged for its calls while clients pay".to_owned());
    }
    problems
}

/// Problems any boot can have: a panic, no banner, no (or a wrong) IDT line.
fn common_problems(lines: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(panic) = lines.iter().find(|l| l.starts_with("kernel panic")) {
        problems.push(format!("the kernel panicked: `{panic}`"));
    }
    if !lines.iter().any(|l| l.starts_with(BANNER)) {
        problems.push(format!("no banner line starting with `{BANNER}`"));
    }
    match lines.iter().find(|l| l.starts_with("idt: ")) {
        None => problems.push("no `idt: N vectors installed` line".to_owned()),
        Some(line) => {
            let vectors = line
                .strip_prefix("idt: ")
                .and_then(|rest| rest.split_once(" vectors installed"))
                .and_then(|(n, _)| n.parse::<u32>().ok());
            match vectors {
                Some(IDT_VECTORS) => {}
                Some(n) => problems.push(format!(
                    "`{line}`: {n} vectors, not the {IDT_VECTORS} of the CPU exceptions, the timer and IRQs 1-15"
                )),
                None => problems.push(format!(
                    "malformed IDT line `{line}`: expected `idt: N vectors installed`"
                )),
            }
        }
    }
    problems
}

/// What the fault-test boot reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultReport {
    /// The faulting address the page-fault report gave (CR2).
    pub cr2: u64,
    /// Where the fault happened.
    pub rip: u64,
}

/// Checks the transcript and exit status of a boot with `-append
/// fault-test`: banner and IDT line, the breakpoint resumed
/// ([`BREAKPOINT_RESUMED`]), then a page-fault report with RIP, CS, RFLAGS,
/// RSP and `cr2` = [`FAULT_TEST_ADDRESS`], and QEMU's status
/// [`EXIT_CPU_EXCEPTION`]; every problem found, or the report.
pub fn check_fault_test(transcript: &str, exit: QemuExit) -> Result<FaultReport, Vec<String>> {
    let mut problems = Vec::new();
    if exit != QemuExit::Code(EXIT_CPU_EXCEPTION) {
        problems.push(format!(
            "QEMU did not exit with {EXIT_CPU_EXCEPTION} (fatal CPU exception): {exit}"
        ));
    }
    let lines: Vec<&str> = transcript.lines().map(str::trim).collect();
    problems.extend(common_problems(&lines));
    if lines.contains(&BOOT_OK) {
        problems.push(format!(
            "`{BOOT_OK}` was printed: the kernel ignored `{FAULT_TEST_CMDLINE}`"
        ));
    }

    let resumed = lines.iter().position(|&l| l == BREAKPOINT_RESUMED);
    if resumed.is_none() {
        problems.push(format!(
            "no `{BREAKPOINT_RESUMED}` line: int3 did not return to the kernel"
        ));
    }
    let Some(report) = lines.iter().position(|l| l.starts_with(PAGE_FAULT_REPORT)) else {
        problems.push(format!("no page-fault report `{PAGE_FAULT_REPORT}, ...`"));
        return Err(problems);
    };
    if resumed.is_some_and(|resumed| resumed > report) {
        problems.push(format!(
            "`{BREAKPOINT_RESUMED}` comes after the page-fault report"
        ));
    }
    if let Some(other) = lines[..report]
        .iter()
        .find(|l| l.starts_with(EXCEPTION_REPORT) && !l.starts_with("cpu exception: #BP"))
    {
        problems.push(format!(
            "an exception other than the breakpoint came first: `{other}`"
        ));
    }

    // The report's register lines, up to the next blank line.
    let body: Vec<&str> = lines[report + 1..]
        .iter()
        .copied()
        .take_while(|l| !l.is_empty())
        .collect();
    let register = |name: &str| -> Option<u64> {
        body.iter().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let at = fields.iter().position(|&f| f == name)?;
            let value = fields.get(at + 1)?.strip_prefix("0x")?;
            u64::from_str_radix(value, 16).ok()
        })
    };
    for name in ["rip", "cs", "rflags", "rsp"] {
        if register(name).is_none() {
            problems.push(format!("the page-fault report has no `{name} 0x...`"));
        }
    }
    let cr2 = register("cr2");
    match cr2 {
        None => problems.push("the page-fault report has no `cr2 0x...`".to_owned()),
        Some(cr2) if cr2 != FAULT_TEST_ADDRESS => problems.push(format!(
            "the page-fault report gives cr2 {cr2:#x}, not the address read, {FAULT_TEST_ADDRESS:#x}"
        )),
        Some(_) => {}
    }
    if problems.is_empty() {
        Ok(FaultReport {
            cr2: cr2.unwrap_or_default(),
            rip: register("rip").unwrap_or_default(),
        })
    } else {
        Err(problems)
    }
}

/// `untyped 0x0000000000200000 2^21 (2 MiB) ram`.
fn parse_untyped(line: &str) -> Result<UntypedLine, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [_, base, size, .., kind] = fields[..] else {
        return Err("expected `untyped <base> 2^<bits> (<size>) ram|device`".to_owned());
    };
    let hex = base.strip_prefix("0x").unwrap_or(base);
    if hex.len() != 16 {
        return Err(format!("base `{base}` is not 16 hex digits"));
    }
    let base = u64::from_str_radix(hex, 16).map_err(|e| format!("base `{base}`: {e}"))?;
    let bits: u32 = size
        .strip_prefix("2^")
        .and_then(|b| b.parse().ok())
        .ok_or_else(|| format!("size `{size}` is not 2^<bits>"))?;
    if !UNTYPED_BITS.contains(&bits) {
        return Err(format!(
            "2^{bits} is outside the spec's Untyped sizes 2^{}..=2^{}",
            UNTYPED_BITS.start(),
            UNTYPED_BITS.end()
        ));
    }
    if base % (1u64 << bits) != 0 {
        return Err(format!("{base:#x} is not aligned to its size 2^{bits}"));
    }
    let is_device = match kind {
        "ram" => false,
        "device" => true,
        other => return Err(format!("memory kind `{other}` is neither ram nor device")),
    };
    Ok(UntypedLine {
        base,
        bits,
        is_device,
    })
}

/// `untyped total 132898816 bytes (126 MiB + 760 KiB) in 20 caps`.
fn parse_total(line: &str) -> Result<(u64, usize), String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let bytes = fields
        .get(2)
        .and_then(|f| f.parse().ok())
        .ok_or("expected `untyped total <bytes> bytes`")?;
    let caps = match fields[..] {
        [.., "in", caps, "caps"] => caps.parse().map_err(|_| "cap count is not a number")?,
        _ => return Err("expected `... in <count> caps` at the end".to_owned()),
    };
    Ok((bytes, caps))
}

/// One problem per pair of Untyped regions that share a byte.
fn overlaps(untypeds: &[UntypedLine]) -> Vec<String> {
    let mut sorted = untypeds.to_vec();
    sorted.sort_by_key(|u| u.base);
    sorted
        .windows(2)
        .filter(|pair| pair[0].base + (1u64 << pair[0].bits) > pair[1].base)
        .map(|pair| {
            format!(
                "untyped {:#x} 2^{} overlaps untyped {:#x} 2^{}",
                pair[0].base, pair[0].bits, pair[1].base, pair[1].bits
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real transcript, trimmed to two Untyped regions (and with the
    /// serial port's `\r\n` line ends).
    const GOOD: &str = "capc demo kernel 0.1.0 (x86_64, spec kernel-demo/spec/kernel.cap)\r\n\
        boot: PVH start info at 0x21e0, version 1, 7 memory map entries\r\n\
        boot: command line \"\"\r\n\
        cpu: SMEP on, SMAP on\r\n\
        idt: 48 vectors installed (CPU exceptions 0-31, timer 32, IRQs 1-15 33-47); in the kernel #BP resumes and the rest report and exit, in a thread they stop it\r\n\
        memory map:\r\n\
        \x20 0x0000000000100000..0x0000000007fe0000 ram       126 MiB + 896 KiB\r\n\
        untyped inventory: RAM from 0x122000 in naturally aligned pieces of 2^4..=2^47 bytes\r\n\
        untyped 0x0000000000122000 2^13 (8 KiB) ram\r\n\
        \x20       UntypedCap { base: 0x122000, bits: 13, free_index: 0, is_device: false }\r\n\
        untyped 0x0000000000200000 2^21 (2 MiB) ram\r\n\
        \x20       UntypedCap { base: 0x200000, bits: 21, free_index: 0, is_device: false }\r\n\
        untyped total 2105344 bytes (2 MiB + 8 KiB) in 2 caps\r\n\
        tcb: struct Tcb is 224 bytes, within the spec's Tcb object of 2^11 bytes (2 KiB), checked at compile time\r\n\
        boot ok\r\n\
        boot image: 4 programs: root (2 MiB + 137 KiB + 32 B) task (1 MiB + 26 KiB + 576 B) decompress (1 MiB + 241 KiB + 968 B) client (1 MiB + 86 KiB + 792 B)\r\n\
        root task: CNode of 2^12 slots, TCB, PML4, 11 page tables, 32 image frames, 16 stack frames, IPC buffer at 0xff00000000\r\n\
        root task: boot image mapped read-only at 0xc000000000\r\n\
        root task: paid 376 KiB (385024 bytes) from its Untyped in slot 26 (0x4000000, 2^25); entry 0x8000000000, first free slot 187\r\n\
        kernel: own state 12904 bytes, fixed at build (run queues, the head of the thread list, 8 ASID pool places, 16 interrupt lines, port ranges); no allocator, nothing after boot comes from it\r\n\
        scheduler: round robin, 10 ms time slices (PIT at 100 Hz)\r\n\
        root: running in ring 3; 27 Untyped caps from slot 16, the largest in slot 26; first free slot 187\r\n\
        root: retype 4 endpoints into slots 187..191: ok\r\n\
        root: copy slot 187 -> 197 keeping read: ok\r\n\
        root: mint slot 187 -> 198 with badge 42: ok\r\n\
        root: move slot 198 -> 199: ok\r\n\
        root: delete slot 190: ok\r\n\
        root: revoke slot 187 (its copy and its badged child): ok\r\n\
        root: copy from the revoked child: FailedLookup { source: 1 } (as expected)\r\n\
        root: retype into object type 99: InvalidArgument { index: 0 } (as expected)\r\n\
        root: retype a CNode of radix 0: InvalidArgument { index: 1 } (as expected)\r\n\
        root: retype a 8 KiB frame: RangeError { min: 12, max: 21 } (as expected)\r\n\
        root: retype 2^47 bytes of Untyped: NotEnoughMemory { left: 33107904 } (as expected)\r\n\
        root: retype into slot 4096 of 4096: RangeError { min: 0, max: 4095 } (as expected)\r\n\
        root: retype 0 objects: RangeError { min: 1, max: 256 } (as expected)\r\n\
        root: retype into the occupied slot 1: DeleteFirst (as expected)\r\n\
        root: retype on a PML4 cap (it has no methods): IllegalOperation (as expected)\r\n\
        root: retype a TCB from device memory: InvalidArgument { index: 1 } (as expected)\r\n\
        root: retype a frame from device memory: ok\r\n\
        root: retype with a 2-word message: TruncatedMessage (as expected)\r\n\
        root: retype into a CNode that does not resolve: FailedLookup { source: 0 } (as expected)\r\n\
        root: retype a TCB: ok\r\n\
        root: retype 2 frames: ok\r\n\
        root: map the stack frame: ok\r\n\
        root: map the IPC buffer frame: ok\r\n\
        root: map a frame that is already mapped: InvalidCapability { index: 0 } (as expected)\r\n\
        root: retype and map a page table for the next 2 MiB: ok\r\n\
        root: map a frame, delete its cap, map another frame at the same address: ok\r\n\
        root: configure, set registers of and resume the thread: ok\r\n\
        child: running; reading kernel memory at 0x100000\r\n\
        thread 0x405e800 faulted:\r\n\
        \r\n\
        cpu exception: #PF page fault (vector 14), error code 0x5\r\n\
        \x20 rip 0x000000800001108a  cs 0x0023  rflags 0x0000000000000216\r\n\
        \x20 rsp 0x000000fe00101dc8  ss 0x001b\r\n\
        \x20 cr2 0x0000000000100000  (protection violation, read, user mode)\r\n\
        \x20 rax 0x0000000000000000  rbx 0x000000fe00101de0  rcx 0x000000800001a0d5  rdx 0x0000000000000000\r\n\
        \x20 rsi 0x000000fe00101bc2  rdi 0x0000000000000032  rbp 0x0000000000000000\r\n\
        \x20 in ring 3: the thread is stopped; the kernel and the other threads go on\r\n\
        root: still running after the thread's fault\r\n\
        root: retype an endpoint: ok\r\n\
        root: retype a notification: ok\r\n\
        root: mint the client's endpoint cap (write, grant, badge 0x77): ok\r\n\
        root: mint a notification cap to send (write, badge 0b100): ok\r\n\
        root: retype the server's TCB: ok\r\n\
        root: retype its stack and IPC buffer frames: ok\r\n\
        root: map its stack: ok\r\n\
        root: map its IPC buffer: ok\r\n\
        root: start the server thread: ok\r\n\
        server: call with badge 0x77, 5 words and 1 cap\r\n\
        root: call to the server: ok, reply 15 (1 + 2 + 3 + 4 + 5)\r\n\
        root: the server signalled the notification it was granted: bits 0b100\r\n\
        server: stopping\r\n\
        thread 0x4064800 exited with status 0\r\n\
        root: stop the server: ok\r\n\
        waiter: waiting on an endpoint nobody sends to\r\n\
        root: deleting the last cap to the endpoint the waiter waits on\r\n\
        root: delete the last cap to the endpoint a thread waits on: ok\r\n\
        waiter: the endpoint was deleted: Syscall(InvalidCap)\r\n\
        thread 0x4067800 exited with status 0\r\n\
        root: start a thread whose fault handler is the root's endpoint: ok\r\n\
        thread 0x4079800 faulted:\r\n\
        cpu exception: #PF page fault (vector 14), error code 0x4\r\n\
        thread 0x4079800: fault sent to its fault handler (endpoint 0x4079000, badge 0x66)\r\n\
        root: fault handler: a page fault at 0xfe00116000 (a data access, error code 0x4) came as a message with badge 0x66\r\n\
        root: fault handler: map a frame at the faulting page and reply: ok\r\n\
        faulter: read 0xfeedf00d at 0xfe00116000 after its fault handler mapped the page\r\n\
        thread 0x4079800 exited with status 0\r\n\
        root: at priority 30, start thread A at priority 10 and thread B at 20: ok\r\n\
        thread 0x407b000 exited with status 0\r\n\
        thread 0x407a800 exited with status 0\r\n\
        root: drop the root to priority 0: ok\r\n\
        root: priorities: thread B (20) took ticket 1, thread A (10) ticket 2, the root (0) ticket 3\r\n\
        root: give thread B an MCP of 5: ok\r\n\
        root: set priority 6 on the authority of a thread with MCP 5: RangeError { min: 0, max: 5 } (as expected)\r\n\
        root: issue the ports of COM1: IllegalOperation (as expected)\r\n\
        root: get the timer's interrupt line: RevokeFirst (as expected)\r\n\
        root: get interrupt line 16: RangeError { min: 0, max: 15 } (as expected)\r\n\
        root: driver: COM2's ports and interrupt line, bound to a notification: ok\r\n\
        root: issue a port another IoPort cap has: RevokeFirst (as expected)\r\n\
        root: driver: start the driver thread: ok\r\n\
        kernel: nothing to run; waiting for an interrupt a thread waits on\r\n\
        thread 0x407e000 exited with status 0\r\n\
        root: the driver received 36 bytes from COM2 in 35 interrupt(s), served over its Serial interface in 4 calls: \"capc: bytes for a user-level driver\"\r\n\
        root: delete the notification line 3 signals while it is bound: kernel audit ok\r\n\
        root: fuzzer's CSpace (2^8 slots: a 1 MiB Untyped, its CNode, a notification, an IRQ handler and an I/O port), TCB, stack and IPC buffer: ok\r\n\
        root: start the fuzzer: ok\r\n\
        fuzz: 10000 invocations (363 signals, 2 endpoint addresses skipped): 1415 succeeded\r\n\
        fuzz: driver caps (IRQ 5's handler, port 0x80): 153 invocations, 77 succeeded\r\n\
        fuzz: kernel errors: InvalidArgument 226 InvalidCapability 1001 IllegalOperation 1200 RangeError 1606 FailedLookup 1166 TruncatedMessage 269 DeleteFirst 231 RevokeFirst 31 NotEnoughMemory 205\r\n\
        fuzz: refused system calls: BadMessage 8 InvalidCap 2279\r\n\
        fuzz: parked for the audit: an exited thread in a PML4 of the fuzzer mapping a frame at 0x10000000000 through three tables: ok\r\n\
        fuzz: lifecycle: 3000 steps; retype Untyped 60/106 CNode 53/107 Tcb 50/93 Endpoint 57/98 Notification 40/84 Frame 42/93 Pml4 38/98 Pdpt 44/80 PageDirectory 40/89 PageTable 40/87\r\n\
        fuzz: configure: 62 of 363 ok (62 of 86 with caps of the right types)\r\n\
        fuzz: fault handler: 14 of 92 ok\r\n\
        fuzz: threads: resume 45 of 87 ok, suspend 88 of 117 ok, signal 96 of 96 ok; helpers received 0, sent 1, ended 4\r\n\
        fuzz: map: frames 53 of 331 ok, tables 66 of 451 ok; unmap 106 of 128 ok; chains 31 of 96 ok; address spaces numbered 38 of 38 ok\r\n\
        fuzz: ipc: steps 127 of 175 ok; messages delivered 129 (calls answered 75), cancelled waits 44\r\n\
        fuzz: copy: mapped tables 2 of 6 ok, unmapped tables 0 of 53 ok, other caps 29 of 179 ok\r\n\
        fuzz: remove: delete 163 of 163 ok, revoke 109 of 109 ok; removed while mapped: 32 frames, 28 tables; 23 PML4s with mappings, 29 configured TCBs\r\n\
        fuzz: reuse: 172 retypes into memory that held other objects; child Untyped revokes 76 of 76 ok, full revokes 18 of 18 ok\r\n\
        fuzz: audits during the lifecycle steps: 6 of 6 ok\r\n\
        thread 0x4202800 exited with status 0\r\n\
        audit: for thread 0x4020000: 5 threads reach 161 caps to 121 objects in 10 CNodes and their TCBs' slots, 5 address spaces with 8820 user entries: the derivation list is sound, rights never exceed a parent's, no objects overlap, watermarks within their Untyped, owned slots hold what they admit, every thread is a live TCB waiting only on live objects, each of 0 reply caps names a live caller waiting for it, every interrupt line signals a live notification, every address-space number stands for a live PML4 of a live pool, every user mapping leads to an object whose cap records it\r\n\
        root: kernel audit after the fuzzer: ok\r\n\
        root: started task 0x0 from the boot image in a budget of 1024 KiB: its CNode, PML4, 7 page tables, 22 frames and TCB took 125440 bytes of it; the rest is the task's\r\n\
        task 0: running in an address space of my own\r\n\
        root: task 0 called with 41; answering 42\r\n\
        task 0: the root answered 42\r\n\
        thread 0x431f000 exited with status 0\r\n\
        root: started task 0x1 from the boot image in a budget of 1024 KiB: its CNode, PML4, 7 page tables, 22 frames and TCB took 125440 bytes of it; the rest is the task's\r\n\
        task 1: running in an address space of my own\r\n\
        task 1: reading kernel memory at 0x100000\r\n\
        thread 0x451f000 faulted:\r\n\
        \r\n\
        cpu exception: #PF page fault (vector 14), error code 0x5\r\n\
        \x20 rip 0x0000008000001b3e  cs 0x0023  rflags 0x0000000000000216\r\n\
        \x20 rsp 0x000000fe000ff5c8  ss 0x001b\r\n\
        \x20 cr2 0x0000000000100000  (protection violation, read, user mode)\r\n\
        \x20 rax 0x0000000000000000  rbx 0x000000fe000ff5f8  rcx 0x0000008000002945  rdx 0x0000000000000000\r\n\
        \x20 rsi 0x000000fe000ff3ba  rdi 0x000000000000002a  rbp 0x0000000000000000\r\n\
        \x20 in ring 3: the thread is stopped; the kernel and the other threads go on\r\n\
        root: started task 0x2 from the boot image in a budget of 1024 KiB: its CNode, PML4, 7 page tables, 22 frames and TCB took 125440 bytes of it; the rest is the task's\r\n\
        task 2: running in an address space of my own\r\n\
        task 2: reading the root's boot image at 0xc000000000\r\n\
        thread 0x461f000 faulted:\r\n\
        \r\n\
        cpu exception: #PF page fault (vector 14), error code 0x4\r\n\
        \x20 rip 0x0000008000001cc6  cs 0x0023  rflags 0x0000000000000216\r\n\
        \x20 rsp 0x000000fe000ff5c8  ss 0x001b\r\n\
        \x20 cr2 0x000000c000000000  (not present, read, user mode)\r\n\
        \x20 rax 0x000000c000000000  rbx 0x0000008000002ba0  rcx 0x0000008000002945  rdx 0x0000000000000000\r\n\
        \x20 rsi 0x000000fe000ff356  rdi 0x0000000000000036  rbp 0x0000000000000000\r\n\
        \x20 in ring 3: the thread is stopped; the kernel and the other threads go on\r\n\
        root: decompression service, the client pays\r\n\
        root: started decompress 0x0 from the boot image in a budget of 1024 KiB: its CNode, PML4, 7 page tables, 25 frames and TCB took 137728 bytes of it; the rest is the task's\r\n\
        server: serving, the client pays; own budget: 141312 of 1048576 bytes used\r\n\
        root: started client 0x100 from the boot image in a budget of 4096 KiB: its CNode, PML4, 7 page tables, 26 frames and TCB took 141824 bytes of it; the rest is the task's\r\n\
        root: started client 0x201 from the boot image in a budget of 4096 KiB: its CNode, PML4, 7 page tables, 26 frames and TCB took 141824 bytes of it; the rest is the task's\r\n\
        root: started client 0x301 from the boot image in a budget of 4096 KiB: its CNode, PML4, 7 page tables, 26 frames and TCB took 141824 bytes of it; the rest is the task's\r\n\
        server: answered a call from client 1; donated 2097152, charged 20480 (the spec's bound: 1056768); own budget: 141312 of 1048576 bytes used; objects where the budget said: 4 of 4\r\n\
        root: both bombs are on their way; the good client goes on\r\n\
        client 1: request 1: 10005 bytes in 3 pages, checksum verified\r\n\
        server: refused a call from client 2; donated 2097152, charged 1056768 (the spec's bound: 1056768); own budget: 141312 of 1048576 bytes used; objects where the budget said: 257 of 257\r\n\
        client 2: bomb (5 bytes that expand to 64 MiB): OutOfBudget { needed: 1060864 }\r\n\
        client 2: donation revoked: everything the server built from it is gone; 3 frames retyped from it again: ok (its watermark back at 12288 bytes)\r\n\
        thread 0x1823000 exited with status 0\r\n\
        server: refused a call from client 3; donated 2097152, charged 1056768 (the spec's bound: 1056768); own budget: 141312 of 1048576 bytes used; objects where the budget said: 257 of 257\r\n\
        server: answered a call from client 1; donated 2097152, charged 110592 (the spec's bound: 1056768); own budget: 141312 of 1048576 bytes used; objects where the budget said: 26 of 26\r\n\
        client 1: request 2: 100001 bytes in 25 pages, checksum verified\r\n\
        client 3: bomb (5 bytes that expand to 64 MiB): OutOfBudget { needed: 1060864 }\r\n\
        client 3: donation revoked: everything the server built from it is gone; 3 frames retyped from it again: ok (its watermark back at 12288 bytes)\r\n\
        thread 0x1c23000 exited with status 0\r\n\
        server: answered a call from client 1; donated 2097152, charged 1056768 (the spec's bound: 1056768); own budget: 141312 of 1048576 bytes used; objects where the budget said: 257 of 257\r\n\
        client 1: request 3: 1048576 bytes in 256 pages, checksum verified\r\n\
        thread 0x1423000 exited with status 0\r\n\
        server: accounting, the client pays:\r\n\
        server:   client | calls | donated (bytes) | charged to the donation (bytes)\r\n\
        server:        1 |     3 |         6291456 |                         1187840\r\n\
        server:        2 |     1 |         2097152 |                         1056768\r\n\
        server:        3 |     1 |         2097152 |                         1056768\r\n\
        server:    total |     5 |        10485760 |                         3301376\r\n\
        server:   own memory spent on calls: 0 bytes\r\n\
        server: answered a call from client 0; donated 0, charged 0 (the spec's bound: 1056768); own budget: 141312 of 1048576 bytes used\r\n\
        root: server stats: 3 calls answered, 1158582 bytes out\r\n\
        root: decompression service, the server pays (control run)\r\n\
        root: started decompress 0x1 from the boot image in a budget of 2048 KiB: its CNode, PML4, 7 page tables, 25 frames and TCB took 137728 bytes of it; the rest is the task's\r\n\
        root: started client 0x100 from the boot image in a budget of 4096 KiB: its CNode, PML4, 7 page tables, 26 frames and TCB took 141824 bytes of it; the rest is the task's\r\n\
        server: serving, the server pays; own budget: 141312 of 2097152 bytes used\r\n\
        root: started client 0x201 from the boot image in a budget of 4096 KiB: its CNode, PML4, 7 page tables, 26 frames and TCB took 141824 bytes of it; the rest is the task's\r\n\
        server: answered a call from client 1; donated 0, charged 0 (the spec's bound: 1056768); own budget: 167936 of 2097152 bytes used\r\n\
        root: started client 0x301 from the boot image in a budget of 4096 KiB: its CNode, PML4, 7 page tables, 26 frames and TCB took 141824 bytes of it; the rest is the task's\r\n\
        client 1: request 1: 10005 bytes in 3 pages, checksum verified\r\n\
        server: refused a call from client 2; donated 0, charged 0 (the spec's bound: 1056768); own budget: 2097152 of 2097152 bytes used\r\n\
        server: refused a call from client 3; donated 0, charged 0 (the spec's bound: 1056768); own budget: 2097152 of 2097152 bytes used\r\n\
        root: both bombs are on their way; the good client goes on\r\n\
        client 2: bomb (5 bytes that expand to 64 MiB): OutOfBudget { needed: 67117056 }\r\n\
        client 2: donation revoked: everything the server built from it is gone; 3 frames retyped from it again: ok (its watermark back at 12288 bytes)\r\n\
        thread 0x6823000 exited with status 0\r\n\
        client 3: bomb (5 bytes that expand to 64 MiB): OutOfBudget { needed: 67117056 }\r\n\
        client 3: donation revoked: everything the server built from it is gone; 3 frames retyped from it again: ok (its watermark back at 12288 bytes)\r\n\
        thread 0x6c23000 exited with status 0\r\n\
        server: refused a call from client 1; donated 0, charged 0 (the spec's bound: 1056768); own budget: 2097152 of 2097152 bytes used\r\n\
        client 1: request 2: OutOfBudget { needed: 110592 }\r\n\
        server: refused a call from client 1; donated 0, charged 0 (the spec's bound: 1056768); own budget: 2097152 of 2097152 bytes used\r\n\
        client 1: request 3: OutOfBudget { needed: 1056768 }\r\n\
        thread 0x6423000 exited with status 2\r\n\
        server: accounting, the server pays:\r\n\
        server:   client | calls | donated (bytes) | charged to the donation (bytes)\r\n\
        server:        1 |     3 |               0 |                               0\r\n\
        server:        2 |     1 |               0 |                               0\r\n\
        server:        3 |     1 |               0 |                               0\r\n\
        server:    total |     5 |               0 |                               0\r\n\
        server:   own memory spent on calls: 1955840 bytes\r\n\
        server: answered a call from client 0; donated 0, charged 0 (the spec's bound: 1056768); own budget: 2097152 of 2097152 bytes used\r\n\
        root: server stats: 1 calls answered, 10005 bytes out\r\n\
        root: who paid       | good client's 3 requests | bombs refused, bomber gets memory back | server's own memory\r\n\
        root: the client     | all verified             | yes                                    | unchanged\r\n\
        root: the server     | refused or failed        | yes                                    | spent on the bombs\r\n\
        root: started attack 0x0 from the boot image in a budget of 2048 KiB: its CNode, PML4, 7 page tables, 30 frames and TCB took 165888 bytes of it; the rest is the task's\r\n\
        attack: holding only my Untyped, CNode, PML4 and ASID pool (and a device Untyped for one attack)\r\n\
        attack cnode-reuse: contained (a frame retyped from U after deleting the CNode of a configured thread lies at 0x4830200, the CNode at 0x4830000; after revoking U, with forged caps there, resume: IllegalOperation, the thread never ran)\r\n\
        attack pml4-reuse: contained (a frame retyped from U after deleting the PML4 of a configured thread lies at 0x4851000, the PML4 at 0x4850000; after revoking U and retyping a frame at 0x4850000, resume: IllegalOperation)\r\n\
        attack ipc-buffer-reuse: contained (a frame retyped from U after deleting the IPC buffer of a configured thread lies at 0x4871000, the buffer at 0x4870000; after revoking U and retyping a frame at 0x4870000, resume: ok, the thread's DebugPrint: NoIpcBuffer)\r\n\
        thread 0x4878000 exited with status 0\r\n\
        attack pagetable-reuse: contained (the table at 0x4890000 was unlinked with its last cap: with a frame retyped at 0x4890000, a map inside its region: FailedLookup { source: 0 })\r\n\
        attack double-table-map: refused (copy of an unmapped page-table cap: IllegalOperation; copy of the cap mapped at 0xfe00400000: ok, map the copy at 0xfe00600000: InvalidCapability { index: 0 })\r\n\
        attack table-unmap: contained (unmap with a copy of the table's cap: RevokeFirst; unmapped, its frame at 0x48d0000 deleted and a page table retyped at 0x48d0000, the table linked again at 0xfe00400000: a frame maps at its first entry: ok)\r\n\
        attack frames-under-deleted-pml4: contained (after deleting a PML4 with a frame mapped at 0x10000000000, then the frame's cap, the frame a new PML4 maps there stays: mapping a third frame there: DeleteFirst)\r\n\
        thread 0x48f0800 exited with status 0\r\n\
        thread 0x48f6000 exited with status 0\r\n\
        thread 0x48f3000 exited with status 0\r\n\
        attack stale-reply: contained (the first server's reply after the caller's suspend and resume: ok, 0x0; the caller got the second server's answer 0xc)\r\n\
        attack queued-send-after-revoke: contained (the receiver got badge 0 first; the send queued through the deleted badge-7 cap: system call refused: InvalidCap)\r\n\
        attack device-ipc-buffer: refused (configure with the device frame at 0xfd00001000 as the IPC buffer: IllegalOperation)\r\n\
        attack thread-flood: contained (1000 of 1000 threads ran one after another, each TCB at 0x4980000 in the memory of the one before, then 100 of 100 at once; all paid from my budget, none left in the kernel)\r\n\
        attack address-space-flood: contained (256 address spaces from 1 MiB of my budget, 256 numbered from my own pool, then the next: NotEnoughMemory { left: 0 }; the kernel keeps no table of numbers)\r\n\
        thread 0x4900000 stopped: its return address 0x800000000000 is past the end of user space\r\n\
        attack syscall-at-user-end: contained (a thread (TCB at 0x4900000) made a system call from 0x7ffffffffffe, the last two bytes of user space: the kernel went on)\r\n\
        attack ipc-without-rights: refused (Recv on a write-only endpoint cap with a sender queued, signal through a read-only notification cap, wait on a write-only one with a signal pending, Send and Call on an endpoint cap without write with a listener waiting: InvalidCap each; through caps with the rights: received, signalled, waited, sent, called)\r\n\
        thread 0x4941000 stopped: its address space was deleted\r\n\
        attack asid-pool-deleted: contained (after deleting my ASID pool, a thread (TCB at 0x4941000) configured with a PML4 it numbered, resumed: did not run; a PDPT mapped into that PML4 (one mapped before): FailedLookup { source: 0 })\r\n\
        audit: for thread 0x4828000: 17 threads reach 1031 caps to 578 objects in 22 CNodes and their TCBs' slots, 17 address spaces with 10732 user entries: the derivation list is sound, rights never exceed a parent's, no objects overlap, watermarks within their Untyped, owned slots hold what they admit, every thread is a live TCB waiting only on live objects, each of 1 reply caps names a live caller waiting for it, every interrupt line signals a live notification, every address-space number stands for a live PML4 of a live pool, every user mapping leads to an object whose cap records it\r\n\
        attack: kernel audit after the attacks: ok\r\n\
        thread 0x4828000 exited with status 0\r\n\
        root: the attack program is done\r\n\
        root: after the attacks, task 0 starts again\r\n\
        task 0: running in an address space of my own\r\n\
        root: task 0 called with 41; answering 42\r\n\
        root: session services, the client pays\r\n\
        memserver: serving, the client pays; own budget: 145408 of 262144 bytes used\r\n\
        fileserver: serving, the client pays; own budget: 149504 of 262144 bytes used\r\n\
        memserver: client 1: session opened with a donation of 65536 bytes: 4096 charged at once (its CNode); sessions charged 4096 bytes, held for clients 4096; own budget: 145408 of 262144 bytes used; objects in the session's donation: 1 of 1\r\n\
        memserver: client 2: session opened with a donation of 65536 bytes: 4096 charged at once (its CNode); sessions charged 8192 bytes, held for clients 8192; own budget: 145408 of 262144 bytes used; objects in the session's donation: 1 of 1\r\n\
        client 1: Mem: session opened with a donation of 65536 bytes, 4096 charged at once\r\n\
        fileserver: client 1: session opened with a donation of 16384 bytes: 4096 charged at once (its CNode); sessions charged 4096 bytes, held for clients 4096; own budget: 149504 of 262144 bytes used; objects in the session's donation: 1 of 1\r\n\
        client 2: Mem: session opened with a donation of 65536 bytes, 4096 charged at once\r\n\
        fileserver: client 2: session opened with a donation of 16384 bytes: 4096 charged at once (its CNode); sessions charged 8192 bytes, held for clients 8192; own budget: 149504 of 262144 bytes used; objects in the session's donation: 1 of 1\r\n\
        client 1: Files: session opened with a donation of 16384 bytes, 4096 charged at once\r\n\
        memserver: client 1: allocate: answered; its session: 20480 of 65536 bytes charged; sessions charged 24576 bytes, held for clients 24576; own budget: 145408 of 262144 bytes used; objects in the session's donation: 1 of 1\r\n\
        client 2: Files: session opened with a donation of 16384 bytes, 4096 charged at once\r\n\
        memserver: client 2: allocate: answered; its session: 20480 of 65536 bytes charged; sessions charged 40960 bytes, held for clients 40960; own budget: 145408 of 262144 bytes used; objects in the session's donation: 1 of 1\r\n\
        client 1: allocate 16 KiB: RAM at 0x934000, written and read back: verified\r\n\
        fileserver: client 1: open: answered; its session: 8192 of 16384 bytes charged; sessions charged 12288 bytes, held for clients 12288; own budget: 149504 of 262144 bytes used; objects in the session's donation: 1 of 1\r\n\
        client 2: allocate 16 KiB: RAM at 0xa34000, written and read back: verified\r\n\
        fileserver: client 2: open: answered; its session: 8192 of 16384 bytes charged; sessions charged 16384 bytes, held for clients 16384; own budget: 149504 of 262144 bytes used; objects in the session's donation: 1 of 1\r\n\
        fileserver: client 1: read: answered; its session: 8192 of 16384 bytes charged; sessions charged 16384 bytes, held for clients 16384; own budget: 149504 of 262144 bytes used\r\n\
        fileserver: client 2: read: answered; its session: 8192 of 16384 bytes charged; sessions charged 16384 bytes, held for clients 16384; own budget: 149504 of 262144 bytes used\r\n\
        client 1: open and read motd: 31 bytes, checksum verified\r\n\
        client 2: open and read motd: 31 bytes, checksum verified\r\n\
        memserver: client 3: session refused: OutOfQuota { needed: 65536 }; sessions charged 40960 bytes, held for clients 40960; own budget: 145408 of 262144 bytes used\r\n\
        client 3: Mem: a session with a donation of 32768 bytes: OutOfQuota { needed: 65536 }\r\n\
        memserver: client 3: session opened with a donation of 65536 bytes: 4096 charged at once (its CNode); sessions charged 45056 bytes, held for clients 45056; own budget: 145408 of 262144 bytes used; objects in the session's donation: 1 of 1\r\n\
        client 3: Mem: session opened with a donation of 65536 bytes, 4096 charged at once\r\n\
        fileserver: client 3: session opened with a donation of 32768 bytes: 4096 charged at once (its CNode); sessions charged 20480 bytes, held for clients 20480; own budget: 149504 of 262144 bytes used; objects in the session's donation: 1 of 1\r\n\
        client 3: Files: session opened with a donation of 32768 bytes, 4096 charged at once\r\n\
        memserver: client 3: allocate: refused; its session: 4096 of 65536 bytes charged; sessions charged 45056 bytes, held for clients 45056; own budget: 145408 of 262144 bytes used\r\n\
        memserver: client 3: allocate: answered; its session: 8192 of 65536 bytes charged; sessions charged 49152 bytes, held for clients 49152; own budget: 145408 of 262144 bytes used; objects in the session's donation: 1 of 1\r\n\
        memserver: client 3: allocate: answered; its session: 65536 of 65536 bytes charged; sessions charged 106496 bytes, held for clients 106496; own budget: 145408 of 262144 bytes used; objects in the session's donation: 1 of 1\r\n\
        memserver: client 3: allocate: refused; its session: 65536 of 65536 bytes charged; sessions charged 106496 bytes, held for clients 106496; own budget: 145408 of 262144 bytes used\r\n\
        memserver: client 3: usage: answered; its session: 65536 of 65536 bytes charged; sessions charged 106496 bytes, held for clients 106496; own budget: 145408 of 262144 bytes used\r\n\
        client 3: Mem: allocate 64 KiB: OutOfQuota; then 15 allocations of 4 KiB, the next: OutOfQuota { needed: 4096 }; 65536 of 65536 bytes charged\r\n\
        fileserver: client 3: open: answered; its session: 8192 of 32768 bytes charged; sessions charged 24576 bytes, held for clients 24576; own budget: 149504 of 262144 bytes used; objects in the session's donation: 1 of 1\r\n\
        fileserver: client 3: open: answered; its session: 32768 of 32768 bytes charged; sessions charged 49152 bytes, held for clients 49152; own budget: 149504 of 262144 bytes used; objects in the session's donation: 1 of 1\r\n\
        fileserver: client 3: open: refused; its session: 32768 of 32768 bytes charged; sessions charged 49152 bytes, held for clients 49152; own budget: 149504 of 262144 bytes used\r\n\
        client 3: Files: 7 files opened, the next: OutOfQuota { needed: 4096 }\r\n\
        client 3: Mem: free of its Files endpoint as RAM: refused by dispatch (InvalidArgument at 0)\r\n\
        root: the hostile client can take no more; the good clients go on\r\n\
        memserver: client 1: allocate: answered; its session: 24576 of 65536 bytes charged; sessions charged 110592 bytes, held for clients 110592; own budget: 145408 of 262144 bytes used; objects in the session's donation: 1 of 1\r\n\
        memserver: client 2: allocate: answered; its session: 24576 of 65536 bytes charged; sessions charged 114688 bytes, held for clients 114688; own budget: 145408 of 262144 bytes used; objects in the session's donation: 1 of 1\r\n\
        client 1: allocate 4 KiB: RAM at 0x938000, written and read back: verified\r\n\
        fileserver: client 1: open: answered; its session: 12288 of 16384 bytes charged; sessions charged 53248 bytes, held for clients 53248; own budget: 149504 of 262144 bytes used; objects in the session's donation: 1 of 1\r\n\
        client 2: allocate 4 KiB: RAM at 0xa38000, written and read back: verified\r\n\
        fileserver: client 2: open: answered; its session: 12288 of 16384 bytes charged; sessions charged 57344 bytes, held for clients 57344; own budget: 149504 of 262144 bytes used; objects in the session's donation: 1 of 1\r\n\
        fileserver: client 1: read: answered; its session: 12288 of 16384 bytes charged; sessions charged 57344 bytes, held for clients 57344; own budget: 149504 of 262144 bytes used\r\n\
        fileserver: client 2: read: answered; its session: 12288 of 16384 bytes charged; sessions charged 57344 bytes, held for clients 57344; own budget: 149504 of 262144 bytes used\r\n\
        client 1: open and read readme: 70 bytes, checksum verified\r\n\
        memserver: client 1: free: answered; its session: 8192 of 65536 bytes charged; sessions charged 98304 bytes, held for clients 98304; own budget: 145408 of 262144 bytes used\r\n\
        client 2: open and read readme: 70 bytes, checksum verified\r\n\
        memserver: client 2: free: answered; its session: 8192 of 65536 bytes charged; sessions charged 81920 bytes, held for clients 81920; own budget: 145408 of 262144 bytes used\r\n\
        memserver: client 1: free: answered; its session: 4096 of 65536 bytes charged; sessions charged 77824 bytes, held for clients 77824; own budget: 145408 of 262144 bytes used\r\n\
        memserver: client 2: free: answered; its session: 4096 of 65536 bytes charged; sessions charged 73728 bytes, held for clients 73728; own budget: 145408 of 262144 bytes used\r\n\
        fileserver: client 1: close: answered; its session: 8192 of 16384 bytes charged; sessions charged 53248 bytes, held for clients 53248; own budget: 149504 of 262144 bytes used\r\n\
        fileserver: client 2: close: answered; its session: 8192 of 16384 bytes charged; sessions charged 49152 bytes, held for clients 49152; own budget: 149504 of 262144 bytes used\r\n\
        fileserver: client 1: close: answered; its session: 4096 of 16384 bytes charged; sessions charged 45056 bytes, held for clients 45056; own budget: 149504 of 262144 bytes used\r\n\
        fileserver: client 2: close: answered; its session: 4096 of 16384 bytes charged; sessions charged 40960 bytes, held for clients 40960; own budget: 149504 of 262144 bytes used\r\n\
        memserver: client 1: usage: answered; its session: 4096 of 65536 bytes charged; sessions charged 73728 bytes, held for clients 73728; own budget: 145408 of 262144 bytes used\r\n\
        memserver: client 2: usage: answered; its session: 4096 of 65536 bytes charged; sessions charged 73728 bytes, held for clients 73728; own budget: 145408 of 262144 bytes used\r\n\
        client 1: after freeing its RAM and closing its files, its Mem session is charged 4096 bytes (its CNode): ok\r\n\
        memserver: client 1: session closed: 65536 bytes of quota returned, 4096 were charged; its donation revoked; sessions charged 69632 bytes, held for clients 69632; own budget: 145408 of 262144 bytes used\r\n\
        client 2: after freeing its RAM and closing its files, its Mem session is charged 4096 bytes (its CNode): ok\r\n\
        memserver: client 2: session closed: 65536 bytes of quota returned, 4096 were charged; its donation revoked; sessions charged 65536 bytes, held for clients 65536; own budget: 145408 of 262144 bytes used\r\n\
        client 1: Mem: session closed: 65536 of 65536 bytes returned (4096 were charged); its donation retyped again whole (16 frames): ok\r\n\
        fileserver: client 1: session closed: 16384 bytes of quota returned, 4096 were charged; its donation revoked; sessions charged 36864 bytes, held for clients 36864; own budget: 149504 of 262144 bytes used\r\n\
        client 2: Mem: session closed: 65536 of 65536 bytes returned (4096 were charged); its donation retyped again whole (16 frames): ok\r\n\
        fileserver: client 2: session closed: 16384 bytes of quota returned, 4096 were charged; its donation revoked; sessions charged 32768 bytes, held for clients 32768; own budget: 149504 of 262144 bytes used\r\n\
        client 1: Files: session closed: 16384 of 16384 bytes returned (4096 were charged); its donation retyped again whole (4 frames): ok\r\n\
        client 1: all verified\r\n\
        client 2: Files: session closed: 16384 of 16384 bytes returned (4096 were charged); its donation retyped again whole (4 frames): ok\r\n\
        client 2: all verified\r\n\
        memserver: client 3: session closed: 65536 bytes of quota returned, 65536 were charged; its donation revoked; sessions charged 0 bytes, held for clients 0; own budget: 145408 of 262144 bytes used\r\n\
        client 3: Mem: session closed: 65536 of 65536 bytes returned (65536 were charged); its donation retyped again whole (16 frames): ok\r\n\
        fileserver: client 3: session closed: 32768 bytes of quota returned, 32768 were charged; its donation revoked; sessions charged 0 bytes, held for clients 0; own budget: 149504 of 262144 bytes used\r\n\
        client 3: Files: session closed: 32768 of 32768 bytes returned (32768 were charged); its donation retyped again whole (8 frames): ok\r\n\
        root: session services, the server pays (control run)\r\n\
        memserver: serving, the server pays; own budget: 145408 of 262144 bytes used\r\n\
        client 1: Mem: session opened with a donation of 65536 bytes, 4096 charged at once\r\n\
        client 2: Mem: session opened with a donation of 65536 bytes, 4096 charged at once\r\n\
        client 1: allocate 16 KiB: RAM at 0xc68000, written and read back: verified\r\n\
        client 2: allocate 16 KiB: RAM at 0xc6c000, written and read back: verified\r\n\
        client 3: Mem: a session with a donation of 32768 bytes: OutOfQuota { needed: 65536 }\r\n\
        client 3: Mem: session opened with a donation of 65536 bytes, 4096 charged at once\r\n\
        memserver: client 3: allocate: answered; its session: 65536 bytes charged (no limit); sessions charged 106496 bytes, held for clients 106496; own budget: 262144 of 262144 bytes used\r\n\
        memserver: client 3: allocate: refused; its session: 65536 bytes charged (no limit); sessions charged 106496 bytes, held for clients 106496; own budget: 262144 of 262144 bytes used\r\n\
        memserver: client 3: usage: answered; its session: 65536 bytes charged (no limit); sessions charged 106496 bytes, held for clients 106496; own budget: 262144 of 262144 bytes used\r\n\
        client 3: Mem: allocate 64 KiB: refused; then 15 allocations of 4 KiB, the next: Failed; 65536 of 9223372036854775807 bytes charged\r\n\
        root: the hostile client can take no more; the good clients go on\r\n\
        memserver: client 1: allocate: refused; its session: 20480 bytes charged (no limit); sessions charged 106496 bytes, held for clients 106496; own budget: 262144 of 262144 bytes used\r\n\
        memserver: client 2: allocate: refused; its session: 20480 bytes charged (no limit); sessions charged 106496 bytes, held for clients 106496; own budget: 262144 of 262144 bytes used\r\n\
        client 1: allocate 4 KiB: Server(Failed)\r\n\
        client 2: allocate 4 KiB: Server(Failed)\r\n\
        memserver: client 1: free: answered; its session: 4096 bytes charged (no limit); sessions charged 90112 bytes, held for clients 90112; own budget: 262144 of 262144 bytes used\r\n\
        memserver: client 2: free: answered; its session: 4096 bytes charged (no limit); sessions charged 73728 bytes, held for clients 73728; own budget: 262144 of 262144 bytes used\r\n\
        memserver: client 1: usage: answered; its session: 4096 bytes charged (no limit); sessions charged 73728 bytes, held for clients 73728; own budget: 262144 of 262144 bytes used\r\n\
        client 1: after freeing its RAM and closing its files, its Mem session is charged 4096 bytes (its CNode): ok\r\n\
        memserver: client 2: usage: answered; its session: 4096 bytes charged (no limit); sessions charged 73728 bytes, held for clients 73728; own budget: 262144 of 262144 bytes used\r\n\
        memserver: client 1: session closed: 65536 bytes of quota returned, 4096 were charged; its donation revoked; sessions charged 69632 bytes, held for clients 69632; own budget: 262144 of 262144 bytes used\r\n\
        client 2: after freeing its RAM and closing its files, its Mem session is charged 4096 bytes (its CNode): ok\r\n\
        memserver: client 2: session closed: 65536 bytes of quota returned, 4096 were charged; its donation revoked; sessions charged 65536 bytes, held for clients 65536; own budget: 262144 of 262144 bytes used\r\n\
        client 1: Mem: session closed: 65536 of 65536 bytes returned (4096 were charged); its donation retyped again whole (16 frames): ok\r\n\
        client 2: Mem: session closed: 65536 of 65536 bytes returned (4096 were charged); its donation retyped again whole (16 frames): ok\r\n\
        client 1: refused or failed\r\n\
        client 2: refused or failed\r\n\
        memserver: client 3: session closed: 65536 bytes of quota returned, 65536 were charged; its donation revoked; sessions charged 0 bytes, held for clients 0; own budget: 262144 of 262144 bytes used\r\n\
        client 3: Mem: session closed: 65536 of 65536 bytes returned (65536 were charged); its donation retyped again whole (16 frames): ok\r\n\
        root: sessions: who paid | good clients | hostile client held to its own quota, every byte back on close\r\n\
        root: sessions: the client | all verified | yes\r\n\
        root: sessions: the server | refused or failed | no\r\n\
        root: a 1 MiB Untyped with a CNode of 4096 slots and 4096 endpoints in it: ok\r\n\
        root: revoke it in one call (4097 caps; the kernel may stop and restart it to let interrupts in): its CNode is gone: ok\r\n\
        root: delete the Untyped: ok\r\n\
        root: done; 0 failures\r\n\
        thread 0x4020000 exited with status 0\r\n\
        kernel: no runnable threads left: 10 exited, 3 faulted, 0 blocked; 27281 system calls (278 on the IPC fast path), 18 preemptions; 36 interrupts for drivers, 35 while idle; no kernel heap\r\n\
        kernel: 11 system calls restarted at preemption points to let interrupts in; 6955 preemption points, the longest stretch of a revoke without one 800576 time-stamp ticks\r\n\
        demo ok\r\n";

    fn problems(transcript: &str, exit: QemuExit) -> Vec<String> {
        check(transcript, exit).expect_err("the check should fail")
    }

    #[test]
    fn a_fault_must_reach_its_handler_and_the_thread_go_on() {
        for (line, problem) in [
            (
                "thread 0x4079800: fault sent to its fault handler (endpoint 0x4079000, badge 0x66)",
                "the kernel did not send the fault to its handler",
            ),
            (
                "faulter: read 0xfeedf00d at 0xfe00116000 after its fault handler mapped the page",
                "no `faulter: read 0xfeedf00d",
            ),
        ] {
            let without = GOOD.replace(&format!("{line}\r\n"), "");
            let problems = check(&without, QemuExit::Code(EXIT_SUCCESS)).unwrap_err();
            assert!(
                problems.iter().any(|p| p.contains(problem)),
                "{problems:#?}"
            );
        }
    }

    #[test]
    fn the_driver_must_get_every_byte_and_the_kernel_wait_for_it() {
        let received = "root: the driver received 36 bytes from COM2 in 35 interrupt(s), served over its Serial interface in 4 calls: \"capc: bytes for a user-level driver\"\r\n";
        let out_of_order = GOOD.replace(received, &received.replace("capc: bytes", "bytes capc:"));
        let problems = check(&out_of_order, QemuExit::Code(EXIT_SUCCESS)).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.contains("did not get COM2's bytes in order")),
            "{problems:#?}"
        );
        let never_idle = GOOD.replace("35 while idle", "0 while idle");
        let problems = check(&never_idle, QemuExit::Code(EXIT_SUCCESS)).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.contains("while the kernel was idle")),
            "{problems:#?}"
        );
    }

    #[test]
    fn driver_caps_must_be_fuzzed() {
        let few = GOOD.replace(
            "153 invocations, 77 succeeded",
            "12 invocations, 1 succeeded",
        );
        let p = problems(&few, QemuExit::Code(EXIT_SUCCESS));
        assert_eq!(
            p,
            ["the fuzzer's driver caps were invoked fewer than 50 times, or never with success"]
        );
        let none = GOOD.replace(
            "153 invocations, 77 succeeded",
            "153 invocations, 0 succeeded",
        );
        assert_eq!(problems(&none, QemuExit::Code(EXIT_SUCCESS)).len(), 1);
    }

    #[test]
    fn a_kernel_state_that_grew_fails() {
        let grown = GOOD.replace(
            "kernel: own state 12904 bytes",
            "kernel: own state 16000 bytes",
        );
        let p = problems(&grown, QemuExit::Code(EXIT_SUCCESS));
        assert_eq!(
            p,
            ["the kernel's own state is 16000 bytes, more than 13312"]
        );
        let gone = GOOD.replace("kernel: own state 12904 bytes", "kernel: state");
        let p = problems(&gone, QemuExit::Code(EXIT_SUCCESS));
        assert_eq!(p, ["no `kernel: own state N bytes ...` line"]);
    }

    #[test]
    fn a_good_boot_passes() {
        let report = check(GOOD, QemuExit::Code(EXIT_SUCCESS)).unwrap();
        assert_eq!(report.total_bytes, 2_105_344);
        assert_eq!(
            report.untypeds,
            [
                UntypedLine {
                    base: 0x122000,
                    bits: 13,
                    is_device: false
                },
                UntypedLine {
                    base: 0x200000,
                    bits: 21,
                    is_device: false
                },
            ]
        );
    }

    #[test]
    fn every_exit_but_33_fails_and_says_why() {
        for (exit, says) in [
            (QemuExit::Code(0), "triple-faulted"),
            (QemuExit::Code(EXIT_PANIC), "kernel panic"),
            (QemuExit::Code(1), "QEMU itself failed"),
            (QemuExit::Signal, "signal"),
            (QemuExit::TimedOut(Duration::from_secs(30)), "within 30 s"),
        ] {
            let problems = problems(GOOD, exit);
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(problems[0].contains(says), "{problems:?}");
        }
    }

    #[test]
    fn an_empty_transcript_reports_every_missing_line() {
        let problems = problems("", QemuExit::Code(EXIT_SUCCESS));
        let all = problems.join("\n");
        for missing in [
            "no banner",
            "no `untyped 0x",
            "no `untyped total",
            "no `boot ok`",
            "not `demo ok`",
            "no `root: running in ring 3 ...`",
            "no `thread 0x... faulted:` report",
            "no `fuzz: 10000 invocations",
            "no `root: started task 0x0 from the boot image ...` line",
            "no `root: decompression service, ...` lines for both runs",
            "no `root: session services, the client pays` and",
            "no `attack cnode-reuse: refused|contained (...)` line",
            "no passing kernel audit after the attacks",
            "no `root: the attack program is done` line",
            "no `idt: N vectors installed`",
            "no `cpu: SMEP on, SMAP on`",
        ] {
            assert!(all.contains(missing), "{missing} in {all}");
        }
    }

    #[test]
    fn every_attack_must_be_refused_or_contained_in_order_then_audited() {
        let line = |name: &str| {
            GOOD.lines()
                .find(|l| l.starts_with(&format!("attack {name}: ")))
                .expect("GOOD has every attack's line")
        };
        let stale = line("stale-reply");
        let succeeded = GOOD.replace(
            stale,
            "attack stale-reply: SUCCEEDED (the caller's call to the second server was answered by the first server's stale reply 0xa)",
        );
        let p = problems(&succeeded, QemuExit::Code(EXIT_SUCCESS));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("an attack succeeded: `attack stale-reply"),
            "{p:?}"
        );

        let inconclusive = GOOD.replace(
            stale,
            "attack stale-reply: inconclusive (the first server never received the call)",
        );
        let p = problems(&inconclusive, QemuExit::Code(EXIT_SUCCESS));
        assert!(
            p.iter()
                .any(|p| p.contains("neither refused nor contained")),
            "{p:?}"
        );

        // No audit saw a reply cap: the audit of caller slots went unused.
        let unchecked = GOOD.replace("each of 1 reply caps", "each of 0 reply caps");
        let p = problems(&unchecked, QemuExit::Code(EXIT_SUCCESS));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("checked a reply cap"), "{p:?}");

        let missing = GOOD.replace(&format!("{}\r\n", line("pml4-reuse")), "");
        let p = problems(&missing, QemuExit::Code(EXIT_SUCCESS));
        assert_eq!(p, ["no `attack pml4-reuse: refused|contained (...)` line"]);

        let (first, last) = (line("cnode-reuse"), line("device-ipc-buffer"));
        let swapped = GOOD
            .replace(first, "FIRST")
            .replace(last, first)
            .replace("FIRST", last);
        let p = problems(&swapped, QemuExit::Code(EXIT_SUCCESS));
        assert!(p.iter().any(|p| p.contains("out of order")), "{p:?}");

        let stuck = GOOD.replace("root: after the attacks, task 0 starts again\r\n", "");
        let p = problems(&stuck, QemuExit::Code(EXIT_SUCCESS));
        assert!(
            p.iter()
                .any(|p| p.contains("the other tasks did not go on")),
            "{p:?}"
        );

        let unaudited = GOOD.replace(
            "attack: kernel audit after the attacks: ok",
            "attack: kernel audit after the attacks: FAILED",
        );
        let p = problems(&unaudited, QemuExit::Code(EXIT_SUCCESS));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("no passing kernel audit after the attacks"),
            "{p:?}"
        );

        // The audit must come after the last attack, not before it.
        let audit = GOOD
            .lines()
            .find(|l| l.starts_with("audit: for thread 0x4828000"))
            .expect("GOOD has the attack program's audit");
        let early = GOOD
            .replace(&format!("{audit}\r\n"), "")
            .replace(first, &format!("{audit}\r\n{first}"));
        let p = problems(&early, QemuExit::Code(EXIT_SUCCESS));
        assert!(
            p.iter().any(|p| p.starts_with("no passing kernel audit")),
            "{p:?}"
        );
    }

    #[test]
    fn a_panic_is_reported_with_its_message() {
        let transcript = GOOD.replace(
            "boot ok",
            "kernel panic: panicked at src/main.rs:1:1:\nboom",
        );
        let all = problems(&transcript, QemuExit::Code(EXIT_PANIC)).join("\n");
        assert!(
            all.contains("`kernel panic: panicked at src/main.rs:1:1:`"),
            "{all}"
        );
        assert!(all.contains("no `boot ok`"), "{all}");
    }

    #[test]
    fn a_total_that_is_not_the_sum_fails() {
        let transcript = GOOD.replace("total 2105344 bytes", "total 2105360 bytes");
        let all = problems(&transcript, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(
            all.contains("add up to 2105344 bytes, not 2105360"),
            "{all}"
        );
        let transcript = GOOD.replace("in 2 caps", "in 3 caps");
        let all = problems(&transcript, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(all.contains("2 untyped lines were printed, not 3"), "{all}");
    }

    #[test]
    fn misaligned_overlapping_or_oversized_regions_fail() {
        let misaligned = GOOD.replace("0x0000000000200000 2^21", "0x0000000000201000 2^21");
        let all = problems(&misaligned, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(
            all.contains("0x201000 is not aligned to its size 2^21"),
            "{all}"
        );

        let overlapping = GOOD.replace("0x0000000000122000 2^13", "0x0000000000200000 2^13");
        let all = problems(&overlapping, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(all.contains("overlaps"), "{all}");

        let oversized = GOOD.replace("2^21 (2 MiB)", "2^48 (256 TiB)");
        let all = problems(&oversized, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(all.contains("outside the spec's Untyped sizes"), "{all}");
    }

    #[test]
    fn a_wrong_idt_line_or_an_exception_fails_a_normal_boot() {
        let transcript = GOOD.replace("idt: 48 vectors", "idt: 31 vectors");
        let all = problems(&transcript, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(all.contains("31 vectors, not the 48"), "{all}");
        let transcript = GOOD.replace(
            "boot ok",
            "cpu exception: #GP general protection fault (vector 13), error code 0x0\nboot ok",
        );
        let all = problems(&transcript, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(
            all.contains("took a CPU exception: `cpu exception: #GP"),
            "{all}"
        );
    }

    /// A real `-append fault-test` transcript.
    const FAULT_TEST: &str = "capc demo kernel 0.1.0 (x86_64, spec kernel-demo/spec/kernel.cap)\r\n\
        boot: PVH start info at 0x21e0, version 1, 7 memory map entries\r\n\
        boot: command line \"fault-test\"\r\n\
        idt: 48 vectors installed (CPU exceptions 0-31, timer 32, IRQs 1-15 33-47); in the kernel #BP resumes and the rest report and exit, in a thread they stop it\r\n\
        fault-test: int3\r\n\
        cpu exception: #BP breakpoint (vector 3) at rip 0x0000000000101f1a, resuming\r\n\
        breakpoint handled, continuing\r\n\
        fault-test: reading unmapped address 0x00000005deadb000\r\n\
        \r\n\
        cpu exception: #PF page fault (vector 14), error code 0x0\r\n\
        \x20 rip 0x0000000000101f6c  cs 0x0008  rflags 0x0000000000000046\r\n\
        \x20 rsp 0x0000000000122840  ss 0x0010\r\n\
        \x20 cr2 0x00000005deadb000  (not present, read, supervisor mode)\r\n\
        \x20 in ring 0, the kernel: stopping (isa-debug-exit 0x12, QEMU status 37)\r\n";

    #[test]
    fn a_good_fault_test_passes() {
        let report = check_fault_test(FAULT_TEST, QemuExit::Code(EXIT_CPU_EXCEPTION)).unwrap();
        assert_eq!(
            report,
            FaultReport {
                cr2: FAULT_TEST_ADDRESS,
                rip: 0x101f6c
            }
        );
    }

    #[test]
    fn a_bad_fault_test_says_what_is_wrong() {
        let fails = |transcript: &str, exit: i32| {
            check_fault_test(transcript, QemuExit::Code(exit))
                .expect_err("the check should fail")
                .join("\n")
        };
        let all = fails(FAULT_TEST, EXIT_SUCCESS);
        assert!(all.contains("did not exit with 37"), "{all}");
        let all = fails(
            &FAULT_TEST.replace(BREAKPOINT_RESUMED, ""),
            EXIT_CPU_EXCEPTION,
        );
        assert!(all.contains("int3 did not return"), "{all}");
        let all = fails(
            &FAULT_TEST.replace("cr2 0x00000005deadb000", "cr2 0x0000000000000000"),
            EXIT_CPU_EXCEPTION,
        );
        assert!(all.contains("cr2 0x0, not the address read"), "{all}");
        let all = fails(
            &FAULT_TEST.replace("  rip 0x", "  pc 0x"),
            EXIT_CPU_EXCEPTION,
        );
        assert!(all.contains("no `rip 0x...`"), "{all}");
        let all = fails(
            &FAULT_TEST.replace(
                "#PF page fault (vector 14)",
                "#GP general protection fault (vector 13)",
            ),
            EXIT_CPU_EXCEPTION,
        );
        assert!(all.contains("no page-fault report"), "{all}");
        let all = fails(&format!("{FAULT_TEST}boot ok\n"), EXIT_CPU_EXCEPTION);
        assert!(all.contains("ignored `fault-test`"), "{all}");
        let all = fails(
            &FAULT_TEST.replace("idt: 48 vectors installed", "idt: none"),
            EXIT_CPU_EXCEPTION,
        );
        assert!(all.contains("malformed IDT line"), "{all}");
    }

    #[test]
    fn the_root_task_must_get_what_it_expects() {
        let wrong = GOOD.replace(
            "DeleteFirst (as expected)",
            "RangeError { min: 0, max: 0 } (WRONG)",
        );
        let all = problems(&wrong, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(all.contains("unexpected result"), "{all}");
        assert!(all.contains("returned DeleteFirst as expected"), "{all}");
        let moved = GOOD
            .lines()
            .find(|l| l.starts_with("root: move slot"))
            .expect("GOOD has a move line")
            .trim_end();
        let failed = GOOD.replace(moved, &moved.replace(": ok", ": DeleteFirst"));
        let all = problems(&failed, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(all.contains("did not succeed"), "{all}");
    }

    #[test]
    fn a_thread_that_is_not_stopped_fails_the_run() {
        let kept_going = GOOD.replace(
            "  in ring 3: the thread is stopped; the kernel and the other threads go on",
            "child: read 0x0 from kernel memory (the kernel failed to stop me)",
        );
        let all = problems(&kept_going, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(all.contains("was not stopped"), "{all}");
        assert!(all.contains("does not say it was stopped"), "{all}");
        // A fault report without the thread line is the kernel's own.
        let kernel_fault = GOOD.replace("faulted:", "misbehaved:");
        let all = problems(&kernel_fault, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(all.contains("the kernel took a CPU exception"), "{all}");
    }

    #[test]
    fn the_fuzzer_must_succeed_sometimes_and_the_audit_pass() {
        let fuzz = GOOD
            .lines()
            .find(|l| l.starts_with("fuzz: 10000 invocations"))
            .expect("GOOD has the fuzzer's line")
            .trim_end();
        let succeeded = fuzz.rsplit(": ").next().expect("a count");
        let idle = GOOD.replace(fuzz, &fuzz.replace(succeeded, "0 succeeded"));
        let all = problems(&idle, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(all.contains("N succeeded` line with N > 0"), "{all}");
        let failed = GOOD.replace(
            "root: kernel audit after the fuzzer: ok",
            "root: kernel audit after the fuzzer: FAILED (WRONG)",
        );
        let all = problems(&failed, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(
            all.contains("kernel audit after the fuzzer: ok` line"),
            "{all}"
        );
        let blocked = GOOD.replace("0 blocked", "1 blocked");
        let all = problems(&blocked, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(all.contains("0 blocked"), "{all}");
    }

    #[test]
    fn the_fuzzers_lifecycle_phase_must_do_each_kind_and_pass_its_audits() {
        assert!(
            fuzz_lifecycle_problems(&GOOD.lines().map(str::trim_end).collect::<Vec<_>>())
                .is_empty()
        );
        let cases = [
            (
                "fuzz: configure: 62 of",
                "fuzz: configure: 0 of",
                "at configure",
            ),
            ("tables 66 of 451", "tables 0 of 451", "at table map"),
            ("frames 53 of 331", "frames 0 of 331", "at frame map"),
            (
                "32 frames, 28 tables; 23 PML4s",
                "0 frames, 0 tables; 0 PML4s",
                "at revoke-under-mapping",
            ),
            (
                "32 frames, 28 tables; 23 PML4s",
                "0 frames, 28 tables; 23 PML4s",
                "at removal of a mapped frame",
            ),
            (
                "messages delivered 129",
                "messages delivered 0",
                "at message delivery",
            ),
            (
                "cancelled waits 44",
                "cancelled waits 0",
                "at cancelled wait",
            ),
            ("fuzz: ipc: ", "fuzz: talk: ", "at message delivery"),
            (
                "fuzz: reuse: 172 retypes",
                "fuzz: reuse: 0 retypes",
                "at reuse",
            ),
            ("fuzz: reuse: ", "fuzz: reused: ", "at reuse"),
            ("steps: 6 of 6 ok", "steps: 5 of 6 ok", "N of N ok"),
            (
                "three tables: ok",
                "three tables: InvalidCap",
                "parked for the audit",
            ),
        ];
        for (from, to, expected) in cases {
            let changed = GOOD.replace(from, to);
            assert_ne!(changed, GOOD, "{from}");
            let all = problems(&changed, QemuExit::Code(EXIT_SUCCESS)).join("\n");
            assert!(all.contains(expected), "{from} -> {to}: {all}");
        }
    }

    #[test]
    fn the_service_must_protect_the_server_only_when_clients_pay() {
        let changed = GOOD.replacen(
            "own budget: 141312 of 1048576 bytes used",
            "own budget: 145408 of 1048576 bytes used",
            2,
        );
        let all = problems(&changed, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(
            all.contains("own memory changed while clients paid"),
            "{all}"
        );
        let unbounded = GOOD.replace(
            "root: the client     | all verified",
            "root: the client     | refused or failed",
        );
        let all = problems(&unbounded, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(all.contains("no table row `root: the client"), "{all}");
        let misplaced = GOOD.replacen(
            "objects where the budget said: 26 of 26",
            "objects where the budget said: 25 of 26",
            1,
        );
        let all = problems(&misplaced, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(all.contains("an object not where its budget said"), "{all}");
        let overcharged = GOOD.replacen("charged 1056768", "charged 1060864", 1);
        let all = problems(&overcharged, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(all.contains("a charge past the bound"), "{all}");
        let total = GOOD
            .lines()
            .find(|l| l.starts_with("server:    total |"))
            .expect("GOOD has the accounting total")
            .trim_end();
        let wrong_total = GOOD.replacen(total, &total.replace("|     5 |", "|     6 |"), 1);
        let all = problems(&wrong_total, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(all.contains("adds up to 5, not 6"), "{all}");
    }

    /// `GOOD` with the first `from` after the start of the session
    /// services' run in which clients pay replaced by `to`, checked: every
    /// problem, joined.
    fn sessions_changed(from: &str, to: &str) -> String {
        let start = GOOD.find(sessions::PAYING).expect("GOOD has the run");
        let at = start
            + GOOD[start..]
                .find(from)
                .expect("the line to change is in GOOD");
        let changed = format!("{}{to}{}", &GOOD[..at], &GOOD[at + from.len()..]);
        problems(&changed, QemuExit::Code(EXIT_SUCCESS)).join("\n")
    }

    #[test]
    fn a_hostile_session_client_must_not_affect_the_good_clients() {
        // A good client refused RAM after the hostile client took its fill.
        let all = sessions_changed(
            "client 2: allocate 4 KiB: RAM at 0xa38000, written and read back: verified",
            "client 2: allocate 4 KiB: Server(OutOfQuota { needed: 4096 })",
        );
        assert!(
            all.contains("the hostile client affected a good client: no verified `client 2: allocate 4 KiB: ...`"),
            "{all}"
        );
        assert!(all.contains("a good client was not served"), "{all}");
        let all = sessions_changed("client 1: all verified", "client 1: refused or failed");
        assert!(
            all.contains("the hostile client affected a good client: no `client 1: all verified`"),
            "{all}"
        );
        // The hostile client stopped by something else than its own quota.
        let all = sessions_changed(
            "the next: OutOfQuota { needed: 4096 }; 65536 of 65536 bytes charged",
            "the next: Failed; 61440 of 65536 bytes charged",
        );
        assert!(all.contains("was not held to its own quota"), "{all}");
        // The server's own memory spent while clients pay.
        let all = sessions_changed(
            "own budget: 145408 of 262144 bytes used; objects in the session's donation: 1 of 1",
            "own budget: 149504 of 262144 bytes used; objects in the session's donation: 1 of 1",
        );
        assert!(
            all.contains("the server's own memory changed while clients paid"),
            "{all}"
        );
    }

    #[test]
    fn closing_a_session_must_return_every_byte() {
        let all = sessions_changed(
            "client 3: Mem: session closed: 65536 of 65536 bytes returned",
            "client 3: Mem: session closed: 61440 of 65536 bytes returned",
        );
        assert!(
            all.contains("closing a session did not return every byte"),
            "{all}"
        );
        let all = sessions_changed(
            "its donation retyped again whole (8 frames): ok",
            "its donation retyped again whole (8 frames): FAILED",
        );
        assert!(
            all.contains("closing a session did not return every byte"),
            "{all}"
        );
        // What the server holds after the last close.
        let last = "its donation revoked; sessions charged 0 bytes, held for clients 0;";
        let all = sessions_changed(
            last,
            "its donation revoked; sessions charged 4096 bytes, held for clients 4096;",
        );
        assert!(
            all.contains("closing every session did not return every byte"),
            "{all}"
        );
        // The charges no longer what the server holds.
        let all = sessions_changed(
            "sessions charged 49152 bytes, held for clients 49152",
            "sessions charged 45056 bytes, held for clients 49152",
        );
        assert!(
            all.contains("the sessions' charges are not what the server holds"),
            "{all}"
        );
    }

    #[test]
    fn the_session_control_run_must_fail() {
        // The good clients got their RAM while the server paid.
        let good = GOOD
            .replace(
                "client 1: allocate 4 KiB: Server(Failed)",
                "client 1: allocate 4 KiB: RAM at 0xc71000, written and read back: verified",
            )
            .replace(
                "client 2: allocate 4 KiB: Server(Failed)",
                "client 2: allocate 4 KiB: RAM at 0xc72000, written and read back: verified",
            );
        let all = problems(&good, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(
            all.contains("the control run did not fail: a good client was not refused RAM"),
            "{all}"
        );
        let unspent = GOOD.replace(
            "own budget: 262144 of 262144 bytes used",
            "own budget: 258048 of 262144 bytes used",
        );
        let all = problems(&unspent, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(
            all.contains(
                "the control run did not fail: the memory server's own memory was never spent"
            ),
            "{all}"
        );
        let row = GOOD.replace(
            "root: sessions: the server | refused or failed | no",
            "root: sessions: the server | all verified | no",
        );
        let all = problems(&row, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(
            all.contains("no table row `root: sessions: the server"),
            "{all}"
        );
    }

    #[test]
    fn each_untyped_line_needs_its_cap_line() {
        let transcript = GOOD.replace("UntypedCap { base: 0x200000", "UntypedCap { base: 0x300000");
        let all = problems(&transcript, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(all.contains("naming 0x200000"), "{all}");
    }

    /// The summaries of a run with the fast path and one without.
    const FAST_RUN: &str = "kernel: no runnable threads left: 4 exited, 3 faulted, 0 blocked; 1000 system calls (12 on the IPC fast path), 40 preemptions; 2 interrupts for drivers, 1 while idle; no kernel heap\n";
    const SLOW_RUN: &str = "kernel: no runnable threads left: 2 exited, 3 faulted, 0 blocked; 1072 system calls (0 on the IPC fast path), 38 preemptions; 25 interrupts for drivers, 23 while idle; no kernel heap\n";

    #[test]
    fn a_thread_whose_pool_went_must_be_stopped_by_the_kernel() {
        let ran = GOOD.replace(
            "thread 0x4941000 stopped: its address space was deleted\r\n",
            "",
        );
        let problems = check(&ran, QemuExit::Code(EXIT_SUCCESS)).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.contains("stopped: its address space was deleted")),
            "{problems:?}"
        );
        let other = GOOD.replace(
            "thread 0x4941000 stopped: its address",
            "thread 0x4942000 stopped: its address",
        );
        assert!(
            check(&other, QemuExit::Code(EXIT_SUCCESS)).is_err(),
            "another thread"
        );
    }

    #[test]
    fn a_thread_at_the_end_of_user_space_must_be_stopped_by_the_kernel() {
        let ran = GOOD.replace(
            "thread 0x4900000 stopped: its return address 0x800000000000 is past the end of user space\r\n",
            "",
        );
        let problems = check(&ran, QemuExit::Code(EXIT_SUCCESS)).unwrap_err();
        assert!(
            problems.iter().any(|p| p.contains("syscall-at-user-end")),
            "{problems:?}"
        );
    }

    #[test]
    fn a_revoke_never_preempted_fails() {
        let never = GOOD.replace(
            "kernel: 11 system calls restarted",
            "kernel: 0 system calls restarted",
        );
        let problems = check(&never, QemuExit::Code(EXIT_SUCCESS)).unwrap_err();
        assert!(
            problems.iter().any(|p| p.contains("preemption point")),
            "{problems:?}"
        );
        let silent = GOOD.replace("kernel: 11 system calls restarted", "kernel: 11 calls");
        assert!(check(&silent, QemuExit::Code(EXIT_SUCCESS)).is_err());
        let kept = GOOD.replace(
            "its CNode is gone: ok",
            "its CNode is still there (WRONG): ok",
        );
        assert!(check(&kept, QemuExit::Code(EXIT_SUCCESS)).is_err());
    }

    #[test]
    fn runs_with_and_without_the_fast_path_are_counted() {
        let counts = same_run(FAST_RUN, SLOW_RUN).unwrap();
        assert_eq!(
            counts,
            FastPathCounts {
                syscalls: 1000,
                fast: 12
            }
        );
    }

    #[test]
    fn the_fast_path_must_be_taken_with_it_on_and_never_with_it_off() {
        let never = FAST_RUN.replace("(12 on", "(0 on");
        assert_eq!(
            same_run(&never, SLOW_RUN).unwrap_err(),
            ["the run with the fast path never took it"]
        );
        let taken = SLOW_RUN.replace("(0 on", "(5 on");
        assert_eq!(
            same_run(FAST_RUN, &taken).unwrap_err(),
            ["the run with nofastpath took the fast path 5 times"]
        );
        let silent = FAST_RUN.replace(" (12 on the IPC fast path)", "");
        assert!(same_run(&silent, SLOW_RUN).is_err());
    }
}

/// How many system calls a run made, and how many the fast path took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FastPathCounts {
    pub syscalls: u64,
    pub fast: u64,
}

/// The summary's system-call count and its fast-path share, from
/// `..., N system calls (M on the IPC fast path), ...`.
fn fast_path_counts(transcript: &str) -> Option<FastPathCounts> {
    let summary = transcript.lines().find_map(|l| {
        l.trim_end()
            .strip_prefix("kernel: no runnable threads left: ")
    })?;
    let (before, after) = summary.split_once(" system calls (")?;
    let syscalls = before.rsplit(' ').next()?.parse().ok()?;
    let fast = after.split_once(" on the IPC fast path)")?.0.parse().ok()?;
    Some(FastPathCounts { syscalls, fast })
}

/// What is wrong with the two runs of the demo that show the IPC fast path
/// changes nothing (each has passed [`check`] already, every result the
/// demo asserts): the run with it (`fast`) must have taken it, the run
/// with `nofastpath` (`slow`) never. The transcripts themselves are not
/// compared line by line: the PIT preempts threads in real time, so even
/// two runs with the fast path print their lines in another order, with
/// other counts (a mid-run audit, the fuzzer's helper threads). The fast
/// path's changes are held to the slow path's by the host test in
/// `fastpath.rs`. Returns the fast run's counts.
pub fn same_run(fast: &str, slow: &str) -> Result<FastPathCounts, Vec<String>> {
    let mut problems = Vec::new();
    let (Some(on), Some(off)) = (fast_path_counts(fast), fast_path_counts(slow)) else {
        return Err(vec![
            "a summary does not say how many system calls took the IPC fast path".to_owned(),
        ]);
    };
    if on.fast == 0 {
        problems.push("the run with the fast path never took it".to_owned());
    }
    if off.fast != 0 {
        problems.push(format!(
            "the run with nofastpath took the fast path {} times",
            off.fast
        ));
    }
    if problems.is_empty() {
        Ok(on)
    } else {
        Err(problems)
    }
}
