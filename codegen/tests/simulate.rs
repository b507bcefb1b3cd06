//! `capc simulate`: exit codes, what goes to stdout and stderr, and the
//! reports of the example scripts (snapshotted in snapshots/simulate/).
//! Runs in the workspace root, so paths in the output are relative.
#![cfg(feature = "cli")]

mod common;

use common::{Scratch, workspace};
use std::process::Command;

/// Exit code, stdout, stderr of `capc` with `args`, run in the workspace.
fn capc(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_capc"))
        .args(args)
        .current_dir(workspace())
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("run capc");
    (
        out.status.code(),
        String::from_utf8(out.stdout).expect("UTF-8"),
        String::from_utf8(out.stderr).expect("UTF-8"),
    )
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({
        snapshot_path => workspace().join("snapshots/simulate"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn basics_example_reports_results_tree_and_accounting() {
    let (code, stdout, stderr) = capc(&[
        "simulate",
        "kernel-demo/spec/kernel.cap",
        "examples/sim/basics.capsim",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    // A refused operation is a result, not a script error.
    assert!(stdout.contains("error: DeleteFirst"));
    assert!(stdout.contains("error: RangeError { min: 1, max: 256 }"));
    // seL4's bare error, and why: minting a badged cap.
    assert!(
        stdout.contains(
            "      error: IllegalOperation\n      because the source cap has badge 7 already: a badge is set once"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("\ncap tree\n") && stdout.contains("\naccounting\n"));
    snapshot("basics", &stdout);
}

#[test]
fn decompress_example_charges_the_donor() {
    let (code, stdout, stderr) = capc(&[
        "simulate",
        "kernel-demo/spec/decompress.cap",
        "examples/sim/decompress.capsim",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("OutOfBudget { needed: 1060864 }"));
    // The bomb's out-of-budget error is its count, above the method's
    // `allocates` bound, not the donation's size.
    assert!(
        stdout.contains(
            "      because `Decompressor.decompress` allocates at most 256 × Frame(12) per call (its `allocates` clauses), and this call asks for 257\n"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("client: given 2 MiB in 1 Untyped, in use 1 MiB + 8 KiB"));
    snapshot("decompress", &stdout);
}

#[test]
fn files_example_charges_each_session_its_own() {
    let (code, stdout, stderr) = capc(&[
        "simulate",
        "examples/files.cap",
        "examples/sim/files.capsim",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("expectations: 12 of 12 met"), "{stdout}");
    // The hostile client's 32nd file is refused by its own quota.
    assert!(
        stdout.contains(
            "      error: OutOfBudget { needed: 256 }\n      because the call's charge, 256 B, does not fit what is left of the session's quota, 128 B\n"
        ),
        "{stdout}"
    );
    assert!(stdout.contains(
        "  the server holds 384 B for its clients: the sum of the sessions' charges\n  the server's own memory spent on clients, at most (`server_pays` bounds): 0 B\n"
    ));
    snapshot("files", &stdout);
}

#[test]
fn everything_example_runs() {
    let (code, stdout, stderr) = capc(&[
        "simulate",
        "examples/everything.cap",
        "examples/sim/everything.capsim",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    snapshot("everything", &stdout);
}

/// seL4's creation invocations on the x86_64 spec (`create`): IRQ
/// handlers and I/O ports under their control caps, an ASID pool of a
/// whole 4 KiB Untyped under it; every outcome is the one the script
/// expects, and the retypes use the spec's object-type numbers.
#[test]
fn sel4_creations_example_meets_its_expectations() {
    let (code, stdout, stderr) = capc(&[
        "simulate",
        "examples/sel4/x86_64.cap",
        "examples/sim/sel4-creations.capsim",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("expectations: 21 of 21 met"), "{stdout}");
    assert!(
        stdout.contains(
            "    root[10]  UntypedCap Untyped(12) at 0x100000 (4 KiB) watermark 4 KiB\n      root[12]  AsidPoolCap AsidPool at 0x100000 (4 KiB)\n"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("ok: 1 × Endpoint (16 B)"), "{stdout}");
    snapshot("sel4-creations", &stdout);
}

#[test]
fn the_same_script_gives_the_same_report() {
    let args = [
        "simulate",
        "kernel-demo/spec/kernel.cap",
        "examples/sim/basics.capsim",
    ];
    assert_eq!(capc(&args), capc(&args));
}

#[test]
fn script_errors_exit_1_with_codes_on_stderr() {
    let (code, stdout, stderr) = capc(&[
        "simulate",
        "kernel-demo/spec/kernel.cap",
        "dsl/tests/ui/fail/E0802-script-unknown-object.capsim",
    ]);
    assert_eq!(code, Some(1));
    assert!(stdout.is_empty(), "nothing runs: {stdout}");
    assert!(stderr.contains("error[E0802]"), "{stderr}");
    assert!(
        stderr.contains("help: did you mean `Endpoint`?"),
        "{stderr}"
    );
}

#[test]
fn spec_errors_exit_1() {
    let (code, _, stderr) = capc(&[
        "simulate",
        "dsl/tests/ui/fail/E0100-type-typo.cap",
        "examples/sim/basics.capsim",
    ]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("error[E0100]"), "{stderr}");
}

#[test]
fn missing_files_exit_2() {
    let (code, _, stderr) = capc(&[
        "simulate",
        "kernel-demo/spec/kernel.cap",
        "no/such/script.capsim",
    ]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("cannot read `no/such/script.capsim`"),
        "{stderr}"
    );
    let (code, _, _) = capc(&["simulate", "no/such.cap", "examples/sim/basics.capsim"]);
    assert_eq!(code, Some(2));
    let (code, _, _) = capc(&["simulate", "kernel-demo/spec/kernel.cap"]);
    assert_eq!(code, Some(2), "a missing argument is a usage error");
}

#[test]
fn help_shows_examples() {
    let (code, stdout, _) = capc(&["simulate", "--help"]);
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("capc simulate kernel-demo/spec/kernel.cap examples/sim/basics.capsim")
    );
    assert!(stdout.contains("docs/simulate.md"));
}

/// A script's `=> OUTCOME` expectations: the seL4 conformance script meets
/// every one and exits 0; a script that misses one says so in the report
/// (`MISSED`) and on stderr, and exits 1.
#[test]
fn expectations_are_checked() {
    let (code, stdout, stderr) = capc(&[
        "simulate",
        "kernel-demo/spec/kernel.cap",
        "examples/sim/sel4-conformance.capsim",
    ]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("expectations: 29 of 29 met"), "{stdout}");
    assert!(!stdout.contains("MISSED"), "{stdout}");
    let scratch = std::env::temp_dir().join(format!("capc-simulate-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let script = scratch.join("missed.capsim");
    std::fs::write(
        &script,
        "cnode root radix 4\nuntyped ut0 = root[0] base 0x100000 bits 12\n\
         retype ut0 Endpoint into root[1] => DeleteFirst\n\
         retype ut0 Endpoint into root[2] => ok\n",
    )
    .unwrap();
    let (code, stdout, stderr) = capc(&[
        "simulate",
        "kernel-demo/spec/kernel.cap",
        script.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_dir_all(&scratch);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("MISSED: expected DeleteFirst"), "{stdout}");
    assert!(stdout.contains("expectations: 1 of 2 met"), "{stdout}");
    assert!(
        stderr.contains("error[E0933]: expected DeleteFirst, but the step gave ok"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("error[").count(), 1, "{stderr}");
}

/// The decompression demo booted from its system description: the
/// domains get their budgets, objects and slots, every `expect` of the
/// script holds (the clients pay for their calls, the server pays for
/// nothing), and the report names slots by domain.
#[test]
fn decompress_system_boots_and_the_clients_pay() {
    let (code, stdout, stderr) = capc(&[
        "simulate",
        "examples/systems/decompress.cap",
        "examples/sim/decompress-system.capsim",
    ]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert!(!stdout.contains("MISSED"), "{stdout}");
    let met = stdout
        .lines()
        .find_map(|l| l.strip_prefix("expectations: "))
        .expect("an expectations line");
    let (met, of) = met
        .strip_suffix(" met")
        .and_then(|m| m.split_once(" of "))
        .expect("N of M met");
    assert_eq!(met, of, "{stdout}");
    assert!(met.parse::<u32>().expect("a count") >= 20, "{stdout}");
    assert!(
        stdout.contains("  decompressor: given 1 MiB in 1 Untyped, in use 2 KiB + 512 B, free 1021 KiB + 512 B\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("client.dec  EndpointCap Endpoint at "),
        "{stdout}"
    );
    snapshot("decompress-system", &stdout);

    // The same run as JSON: every step, its result, and the accounting in
    // bytes.
    let (code, json, stderr) = capc(&[
        "simulate",
        "--message-format",
        "json",
        "examples/systems/decompress.cap",
        "examples/sim/decompress-system.capsim",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&json).expect("one JSON document");
    assert_eq!(report["steps"][0]["statement"], "system decompress_demo");
    assert_eq!(
        report["steps"][0]["result"],
        "ok: 4 domain(s), 5 Untyped, 14 object(s)"
    );
    let server = report["principals"]
        .as_array()
        .expect("principals")
        .iter()
        .find(|p| p["name"] == "decompressor")
        .expect("the server");
    assert_eq!(
        (&server["given"], &server["in_use"]),
        (&(1024 * 1024).into(), &(2560).into())
    );
    assert!(
        report["calls"]
            .as_array()
            .expect("calls")
            .iter()
            .all(|c| c["paid_by"] != "decompressor"),
        "{report}"
    );
}

/// A missed `expect` is an `E0933` diagnostic, as JSON with
/// `--message-format json`, with the expectation's line; the report
/// still goes to stdout, as JSON, each expectation marked met or not.
#[test]
fn missed_expectations_are_json_diagnostics() {
    let (code, stdout, stderr) = capc(&[
        "simulate",
        "--message-format",
        "json",
        "examples/systems/decompress.cap",
        "dsl/tests/ui/fail/E0933-script-expectation-missed.capsim",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(
        report["expectations"],
        serde_json::json!({"met": 0, "checked": 4})
    );
    let expected: Vec<(u64, bool)> = report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| !s["expected"].is_null())
        .map(|s| (s["line"].as_u64().unwrap(), s["met"].as_bool().unwrap()))
        .collect();
    assert_eq!(expected, [(3, false), (5, false), (6, false), (7, false)]);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let at: Vec<(String, u64)> = lines
        .iter()
        .map(|v| {
            assert_eq!(v["severity"], "error", "{v}");
            (
                v["code"].as_str().expect("code").to_string(),
                v["line"].as_u64().expect("line"),
            )
        })
        .collect();
    let e = |line| ("E0933".to_string(), line);
    assert_eq!(at, [e(3), e(5), e(6), e(7)]);
    assert!(
        lines[1]["help"]
            .as_str()
            .is_some_and(|h| h.contains("expect `OutOfBudget { needed: 1061888 }`")),
        "{}",
        lines[1]
    );
}

/// A script that runs on `dsl/tests/ui/base.cap` and the specs that use it.
const SMALL_SCRIPT: &str = "\
cnode root radix 4
untyped ut = root[0] base 0x10000 bits 12 owner alice
retype ut Endpoint x 2 into root[1..3]
";

/// A spec that checks clean with one warning (W0003).
const WARNING_SPEC: &str = "dsl/tests/ui/fail/W0003-unused-const.cap";

/// The warnings of a clean spec are printed before the report, as
/// `capc check` prints them; `--deny-warnings` makes them errors, and
/// then nothing runs.
#[test]
fn warnings_of_a_clean_spec_are_shown() {
    let s = Scratch::new("simulate", "warnings");
    s.write("small.capsim", SMALL_SCRIPT);
    let script = s.path("small.capsim");
    let script = script.to_str().expect("UTF-8 path");
    let (code, stdout, stderr) = capc(&["simulate", WARNING_SPEC, script]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("warning[W0003]"), "{stderr}");
    assert!(stderr.contains("W0003-unused-const.cap:3:7"), "{stderr}");
    assert!(stdout.contains("2 × Endpoint"), "the script ran: {stdout}");
    let (code, stdout, stderr) = capc(&["simulate", "--deny-warnings", WARNING_SPEC, script]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("error[W0003]"), "{stderr}");
    assert!(stdout.is_empty(), "nothing runs: {stdout}");
}

/// `--message-format json` as `capc check` has it: one object per line,
/// on stderr, for the spec's diagnostics and the script's; stdout is the
/// report as one JSON document.
#[test]
fn json_diagnostics_go_to_stderr() {
    let s = Scratch::new("simulate", "json");
    s.write("small.capsim", SMALL_SCRIPT);
    let script = s.path("small.capsim");
    let script = script.to_str().expect("UTF-8 path");
    let (code, stdout, stderr) =
        capc(&["simulate", "--message-format", "json", WARNING_SPEC, script]);
    assert_eq!(code, Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(
        report["cap_tree"][0]["cap"],
        "root[0]  UntypedCap Untyped(12) at 0x10000 (4 KiB) watermark 32 B [owner alice]"
    );
    let warning: serde_json::Value = serde_json::from_str(stderr.trim()).expect("one JSON line");
    assert_eq!(warning["code"], "W0003");
    assert_eq!(warning["severity"], "warning");
    assert_eq!(
        (&warning["line"], &warning["column"]),
        (&3.into(), &7.into())
    );
    assert!(
        warning["rendered"]
            .as_str()
            .expect("rendered")
            .contains("warning[W0003]")
    );

    let (code, stdout, stderr) = capc(&[
        "simulate",
        "--message-format=json",
        "kernel-demo/spec/kernel.cap",
        "dsl/tests/ui/fail/E0802-script-unknown-object.capsim",
    ]);
    assert_eq!(code, Some(1));
    assert!(stdout.is_empty(), "{stdout}");
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(!lines.is_empty());
    for v in &lines {
        assert_eq!(v["code"], "E0802", "{v}");
        assert_eq!(
            v["file"],
            "dsl/tests/ui/fail/E0802-script-unknown-object.capsim"
        );
    }
}

/// `--color always|never|auto`; auto colours only a terminal.
#[test]
fn color_is_chosen_as_for_check() {
    let args = |color: &'static str| {
        [
            "simulate",
            "--color",
            color,
            "kernel-demo/spec/kernel.cap",
            "dsl/tests/ui/fail/E0802-script-unknown-object.capsim",
        ]
    };
    let (code, _, stderr) = capc(&args("always"));
    assert_eq!(code, Some(1));
    assert!(stderr.contains('\x1b'), "colour asked for: {stderr}");
    for color in ["never", "auto"] {
        let (code, _, stderr) = capc(&args(color));
        assert_eq!(code, Some(1));
        assert!(stderr.contains("error[E0802]"), "{stderr}");
        assert!(!stderr.contains('\x1b'), "--color {color}: {stderr}");
    }
    let (code, _, stderr) = capc(&["simulate", "--color", "sometimes", "a.cap", "b.capsim"]);
    assert_eq!(code, Some(2), "{stderr}");
    let (code, stdout, _) = capc(&["simulate", "--help"]);
    assert_eq!(code, Some(0));
    for option in ["--color", "--message-format", "--deny-warnings"] {
        assert!(stdout.contains(option), "{option}: {stdout}");
    }
}
