//! Integration tests of the `capc` binary: exit codes, what goes to stdout
//! and stderr, JSON diagnostics, help text and colour.
//!
//! Each test writes its specs to its own directory under the system temp
//! directory (removed when the test ends) and runs `capc` there, so paths in
//! diagnostics are the short relative ones the test passed.

mod common;

use common::{Scratch, UNKNOWN_NAME, workspace};
use std::path::Path;
use std::process::{Command, Output};

/// A minimal clean spec: just the target block.
const CLEAN: &str = common::TARGET;

/// Only a warning: an unused constant.
const UNUSED_CONST: &str = "\
target t {
    address_bits = 48;
    tag_bits = 5;
    message_registers = 4;
    message_words = 16;
    caps_per_message = 2;
}
const UNUSED = 1;
";

/// Running `capc` in a scratch directory.
trait RunCapc {
    fn capc(&self, args: &[&str]) -> Run;
}

impl RunCapc for Scratch {
    /// Runs `capc` with `args` in this directory.
    fn capc(&self, args: &[&str]) -> Run {
        run_in(&self.dir, args)
    }
}

/// What one run of `capc` did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    args: Vec<String>,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "capc {:?} exited {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.args, self.code, self.stdout, self.stderr
        )
    }
}

impl Run {
    #[track_caller]
    fn exits(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "{self:?}");
        self
    }

    #[track_caller]
    fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}: {self:?}"
        );
        self
    }

    #[track_caller]
    fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}: {self:?}"
        );
        self
    }

    #[track_caller]
    fn silent(&self) -> &Self {
        assert!(
            self.stdout.is_empty() && self.stderr.is_empty(),
            "expected no output: {self:?}"
        );
        self
    }
}

fn run_in(dir: &Path, args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_capc"))
        .args(args)
        .current_dir(dir)
        // Make "not a terminal" the only reason colour is off.
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("run capc");
    Run {
        code: status.code(),
        stdout: String::from_utf8(stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(stderr).expect("stderr is UTF-8"),
        args: args.iter().map(|a| a.to_string()).collect(),
    }
}

/// Whether `text` contains `error[Ennnn]`.
fn has_error_code(text: &str) -> bool {
    text.match_indices("error[E").any(|(i, _)| {
        let rest = &text.as_bytes()[i + "error[E".len()..];
        rest.len() >= 5 && rest[..4].iter().all(u8::is_ascii_digit) && rest[4] == b']'
    })
}

// ------------------------------------------------------------- outcomes

#[test]
fn clean_spec_exits_0_with_no_output() {
    let s = Scratch::new("cli", "clean");
    s.write("clean.cap", CLEAN);
    s.capc(&["check", "clean.cap"]).exits(0).silent();
    s.capc(&["check", "--deny-warnings", "clean.cap"])
        .exits(0)
        .silent();
    s.capc(&["check", "--message-format", "json", "clean.cap"])
        .exits(0)
        .silent();
}

#[test]
fn example_specs_check_clean() {
    run_in(
        &workspace(),
        &[
            "check",
            "kernel-demo/spec/kernel.cap",
            "kernel-demo/spec/decompress.cap",
        ],
    )
    .exits(0)
    .silent();
}

#[test]
fn spec_error_exits_1_with_code_and_location() {
    let s = Scratch::new("cli", "error");
    s.write("bad.cap", UNKNOWN_NAME);
    let run = s.capc(&["check", "bad.cap"]);
    run.exits(1)
        .stderr_has("bad.cap:8:15")
        .stderr_has("UNKNOWN");
    assert!(has_error_code(&run.stderr), "no error[Ennnn]: {run:?}");
    assert!(run.stdout.is_empty(), "diagnostics go to stderr: {run:?}");
}

#[test]
fn syntax_error_exits_1_with_code_and_location() {
    let s = Scratch::new("cli", "syntax");
    s.write("syntax.cap", "const X = ;\n");
    let run = s.capc(&["check", "syntax.cap"]);
    run.exits(1)
        .stderr_has("error[E0001]")
        .stderr_has("syntax.cap:1:11");
}

#[test]
fn unreadable_import_is_a_spec_error_not_an_io_error() {
    let s = Scratch::new("cli", "import");
    s.write("main.cap", format!("use \"missing.cap\";\n{CLEAN}"));
    s.capc(&["check", "main.cap"])
        .exits(1)
        .stderr_has("error[E0002]")
        .stderr_has("main.cap:1:5")
        .stderr_has("missing.cap");
}

#[test]
fn every_file_is_checked_and_the_worst_outcome_wins() {
    let s = Scratch::new("cli", "several");
    s.write("clean.cap", CLEAN).write("bad.cap", UNKNOWN_NAME);
    s.capc(&["check", "clean.cap", "bad.cap"])
        .exits(1)
        .stderr_has("bad.cap:8:15");
    // An I/O error (2) outranks a spec error (1); both are reported.
    s.capc(&["check", "bad.cap", "missing.cap"])
        .exits(2)
        .stderr_has("bad.cap:8:15")
        .stderr_has("missing.cap");
}

// ---------------------------------------------------------------- JSON

#[test]
fn json_prints_one_object_per_diagnostic_per_line() {
    let s = Scratch::new("cli", "json");
    // Two errors (an unknown name, a negative value with a note) ...
    let errors = format!("{UNKNOWN_NAME}const Z = 0 - 1;\n");
    s.write("bad.cap", &errors);
    let run = s.capc(&["check", "--message-format", "json", "bad.cap"]);
    run.exits(1);
    let mut found = json_lines(&run, &errors);
    // ... and a warning.
    s.write("bad.cap", UNUSED_CONST);
    let run = s.capc(&["check", "--message-format", "json", "bad.cap"]);
    run.exits(0);
    found.extend(json_lines(&run, UNUSED_CONST));
    let codes: Vec<(&str, &str)> = found
        .iter()
        .map(|v| {
            (
                v["code"].as_str().unwrap_or(""),
                v["severity"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        codes,
        [("E0100", "error"), ("E0201", "error"), ("W0003", "warning")]
    );
    assert!(
        !found[1]["notes"].as_array().expect("notes").is_empty(),
        "E0201 explains the arithmetic in a note"
    );
}

/// The primary span's end and each diagnostic's text as the human format
/// prints it (`rendered`, as rustc's JSON has): the rendered texts of a
/// run, one after another, are what `--message-format human` prints.
#[test]
fn json_has_the_span_end_and_the_rendered_text() {
    let s = Scratch::new("cli", "json-rendered");
    s.write("bad.cap", UNKNOWN_NAME);
    let human = s.capc(&["check", "--color", "always", "bad.cap"]);
    human.exits(1);
    let plain = s.capc(&["check", "bad.cap"]);
    let json = s.capc(&["check", "--message-format", "json", "bad.cap"]);
    json.exits(1);
    let values = json_lines(&json, UNKNOWN_NAME);
    let first = &values[0];
    // `UNKNOWN` on line 8, columns 15 to 22 (the end is exclusive).
    assert_eq!(
        (
            &first["line"],
            &first["column"],
            &first["end_line"],
            &first["end_column"]
        ),
        (&8.into(), &15.into(), &8.into(), &22.into())
    );
    let rendered: String = values
        .iter()
        .map(|v| v["rendered"].as_str().expect("rendered"))
        .collect();
    assert_eq!(rendered, plain.stderr, "rendered is the human text");
    assert!(
        !rendered.contains('\x1b') && human.stderr.contains('\x1b'),
        "rendered has no colour, whatever the terminal"
    );
}

/// Parses `run`'s stdout as one JSON diagnostic per line about `text`
/// (in `bad.cap`), checking the fields of each.
fn json_lines(run: &Run, text: &str) -> Vec<serde_json::Value> {
    assert!(
        run.stderr.is_empty(),
        "JSON mode prints nothing on stderr: {run:?}"
    );
    let mut values = Vec::new();
    for line in run.stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
        let obj = v
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {line}"));
        for key in [
            "code",
            "severity",
            "message",
            "file",
            "byte_start",
            "byte_end",
            "line",
            "column",
            "end_line",
            "end_column",
            "notes",
            "rendered",
        ] {
            assert!(obj.contains_key(key), "missing `{key}`: {line}");
        }
        let code = v["code"].as_str().expect("code is a string");
        assert!(
            code.len() == 5
                && (code.starts_with('E') || code.starts_with('W'))
                && code[1..].bytes().all(|b| b.is_ascii_digit()),
            "bad code {code}"
        );
        let severity = v["severity"].as_str().expect("severity is a string");
        assert!(severity == "error" || severity == "warning", "{line}");
        assert!(!v["message"].as_str().expect("message").is_empty());
        assert_eq!(v["file"], "bad.cap", "{line}");
        assert!(v["notes"].is_array(), "{line}");
        let start = v["byte_start"].as_u64().expect("byte_start") as usize;
        let end = v["byte_end"].as_u64().expect("byte_end") as usize;
        assert!(start <= end && end <= text.len(), "{line}");
        // line and column (1-based) agree with the byte offsets, at the
        // start and at the end of the primary span.
        for (offset, line_key, column_key) in
            [(start, "line", "column"), (end, "end_line", "end_column")]
        {
            let before = &text[..offset];
            let line_no = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            assert_eq!(v[line_key].as_u64(), Some(line_no as u64), "{line}");
            assert_eq!(v[column_key].as_u64(), Some(column as u64), "{line}");
        }
        let rendered = v["rendered"].as_str().expect("rendered is a string");
        let code = v["code"].as_str().expect("code");
        assert!(rendered.contains(&format!("[{code}]: ")), "{line}");
        values.push(v);
    }
    values
}

#[test]
fn json_points_at_the_unknown_name() {
    let s = Scratch::new("cli", "json-span");
    s.write("bad.cap", UNKNOWN_NAME);
    let run = s.capc(&["check", "--message-format=json", "bad.cap"]);
    run.exits(1);
    let first: serde_json::Value =
        serde_json::from_str(run.stdout.lines().next().expect("a diagnostic")).expect("JSON");
    let start = first["byte_start"].as_u64().expect("byte_start") as usize;
    let end = first["byte_end"].as_u64().expect("byte_end") as usize;
    assert_eq!(&UNKNOWN_NAME[start..end], "UNKNOWN", "{run:?}");
    assert_eq!(first["line"], 8);
    assert_eq!(first["column"], 15);
}

/// A diagnostic whose fix is one replacement carries it, as rustc's JSON
/// does: the span, `suggested_replacement` and `suggestion_applicability`.
#[test]
fn json_carries_suggested_replacements() {
    let s = Scratch::new("cli", "json-suggestion");
    let spec = UNKNOWN_NAME.replace("const Y = X;", "const XX = 2;\nconst Y = XXY;");
    s.write("bad.cap", &spec);
    let run = s.capc(&["check", "--message-format", "json", "bad.cap"]);
    run.exits(1);
    let values: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let suggestions: Vec<&serde_json::Value> = values.iter().map(|v| &v["suggestions"]).collect();
    let at = spec.find("XXY").unwrap();
    assert_eq!(
        suggestions,
        [
            &serde_json::json!([]),
            &serde_json::json!([{
                "file": "bad.cap",
                "byte_start": at,
                "byte_end": at + 3,
                "line": 10,
                "column": 11,
                "end_line": 10,
                "end_column": 14,
                "suggested_replacement": "XX",
                "suggestion_applicability": "MachineApplicable",
            }]),
        ],
        "{run:?}"
    );
}

// ------------------------------------------------------ I/O and usage

#[test]
fn missing_file_exits_2_naming_the_file() {
    let s = Scratch::new("cli", "missing");
    let run = s.capc(&["check", "no-such-spec.cap"]);
    run.exits(2)
        .stderr_has("no-such-spec.cap")
        .stderr_has("no such file");
    assert!(run.stdout.is_empty(), "{run:?}");
}

#[test]
fn non_utf8_file_exits_2() {
    let s = Scratch::new("cli", "utf8");
    s.write("latin1.cap", b"const caf\xe9 = 1;\n");
    s.capc(&["check", "latin1.cap"])
        .exits(2)
        .stderr_has("latin1.cap")
        .stderr_has("not valid UTF-8");
}

#[test]
fn directory_exits_2() {
    let s = Scratch::new("cli", "dir");
    std::fs::create_dir_all(s.dir.join("specs.cap")).expect("mkdir");
    s.capc(&["check", "specs.cap"])
        .exits(2)
        .stderr_has("specs.cap")
        .stderr_has("directory");
}

#[test]
fn deny_warnings_turns_a_warning_into_exit_1() {
    let s = Scratch::new("cli", "deny");
    s.write("warn.cap", UNUSED_CONST);
    s.capc(&["check", "warn.cap"])
        .exits(0)
        .stderr_has("warning[W0003]")
        .stderr_has("warn.cap:8:7");
    s.capc(&["check", "--deny-warnings", "warn.cap"])
        .exits(1)
        .stderr_has("W0003")
        .stderr_has("warn.cap:8:7");
    let json = s.capc(&[
        "check",
        "--deny-warnings",
        "--message-format",
        "json",
        "warn.cap",
    ]);
    json.exits(1);
    let v: serde_json::Value =
        serde_json::from_str(json.stdout.lines().next().expect("a diagnostic")).expect("JSON");
    assert_eq!(v["code"], "W0003");
    assert_eq!(v["severity"], "error", "denied warnings are errors");
}

/// A server that pays says so, and `--deny-warnings` refuses it unless the
/// interface allows it.
#[test]
fn deny_warnings_refuses_a_server_that_pays() {
    let s = Scratch::new("cli", "server-pays");
    let spec = std::fs::read_to_string(workspace().join("dsl/tests/ui/fail/W0014-server-pays.cap"))
        .expect("the W0014 case")
        .replace("use \"../base.cap\";", "use \"base.cap\";");
    s.write(
        "base.cap",
        std::fs::read_to_string(workspace().join("dsl/tests/ui/base.cap")).expect("base.cap"),
    );
    s.write("pays.cap", &spec);
    s.capc(&["check", "pays.cap"])
        .exits(0)
        .stderr_has("warning[W0014]: the server pays for `log`");
    s.capc(&["check", "--deny-warnings", "pays.cap"])
        .exits(1)
        .stderr_has("W0014");
    s.write(
        "allowed.cap",
        spec.replace(
            "interface Logger",
            "#[allow(server_pays)]\ninterface Logger",
        ),
    );
    s.capc(&["check", "--deny-warnings", "allowed.cap"])
        .exits(0);
}

#[test]
fn help_exits_0_and_shows_an_example() {
    let root = workspace();
    for args in [&["--help"][..], &["check", "--help"], &["help", "check"]] {
        run_in(&root, args)
            .exits(0)
            .stdout_has("Examples:")
            .stdout_has("capc check kernel-demo/spec/kernel.cap")
            .stdout_has("Exit status");
    }
    run_in(&root, &["check", "--help"])
        .stdout_has("--deny-warnings")
        .stdout_has("--message-format")
        .stdout_has("--color");
}

#[test]
fn no_arguments_exits_2_with_usage() {
    let root = workspace();
    run_in(&root, &[]).exits(2).stderr_has("Usage");
    run_in(&root, &["check"])
        .exits(2)
        .stderr_has("Usage")
        .stderr_has("FILE");
}

#[test]
fn bad_options_exit_2() {
    let s = Scratch::new("cli", "options");
    s.write("clean.cap", CLEAN);
    s.capc(&["check", "--message-format", "xml", "clean.cap"])
        .exits(2)
        .stderr_has("xml");
    s.capc(&["check", "--colour", "never", "clean.cap"])
        .exits(2);
    s.capc(&["frobnicate"]).exits(2);
}

// --------------------------------------------------------------- colour

#[test]
fn colour_is_off_when_stderr_is_not_a_terminal() {
    let s = Scratch::new("cli", "colour");
    s.write("bad.cap", UNKNOWN_NAME);
    for args in [
        &["check", "bad.cap"][..],
        &["check", "--color", "auto", "bad.cap"],
        &["check", "--color", "never", "bad.cap"],
    ] {
        let run = s.capc(args);
        run.exits(1);
        assert!(!run.stderr.contains('\x1b'), "escape codes: {run:?}");
    }
    // ... and the check above would notice colour: `always` forces it.
    let forced = s.capc(&["check", "--color", "always", "bad.cap"]);
    forced.exits(1);
    assert!(forced.stderr.contains('\x1b'), "{forced:?}");
}

// ---------------------------------------------------------- regressions

#[test]
fn deeply_nested_parentheses_are_a_diagnostic_not_a_crash() {
    // Found by dsl/tests/robustness.rs: 3000 nested parentheses used to
    // overflow the stack in the parser and abort capc (SIGABRT).
    let s = Scratch::new("cli", "deep");
    let depth = 3000;
    s.write(
        "deep.cap",
        format!(
            "{CLEAN}const X = {}1{};\nconst Y = X;\n",
            "(".repeat(depth),
            ")".repeat(depth)
        ),
    );
    s.capc(&["check", "deep.cap"])
        .exits(1)
        .stderr_has("error[E0004]")
        .stderr_has("deep.cap:8:");
}

// --------------------------------------------------------- hostile I/O

/// Diagnostics that cannot be written (stderr on a full device) end the run
/// with the I/O exit code, not a panic.
#[cfg(target_os = "linux")]
#[test]
fn a_full_stderr_is_an_io_error_not_a_panic() {
    let s = Scratch::new("cli", "full_stderr");
    s.write("bad.cap", UNKNOWN_NAME);
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = Command::new(env!("CARGO_BIN_EXE_capc"))
        .args(["check", "bad.cap"])
        .current_dir(&s.dir)
        .stderr(full)
        .output()
        .expect("run capc");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

/// `capc build x.cap -o x.cap` (or `-o` naming a file the spec imports)
/// refuses and leaves the spec as it was.
#[test]
fn build_does_not_overwrite_its_own_spec() {
    let s = Scratch::new("cli", "overwrite");
    let lib = "target t {\n    address_bits = 48;\n    tag_bits = 5;\n    message_registers = 4;\n    message_words = 16;\n    caps_per_message = 2;\n}\n";
    s.write("lib.cap", lib);
    s.write("main.cap", "use \"lib.cap\";\n");
    for output in ["main.cap", "./main.cap", "lib.cap"] {
        run_in(&s.dir, &["build", "main.cap", "-o", output])
            .exits(2)
            .stderr_has("is a file of the spec: refusing to overwrite it");
    }
    assert_eq!(std::fs::read_to_string(s.path("lib.cap")).unwrap(), lib);
    assert_eq!(
        std::fs::read_to_string(s.path("main.cap")).unwrap(),
        "use \"lib.cap\";\n"
    );
    run_in(&s.dir, &["build", "main.cap", "-o", "main.rs"]).exits(0);
}

/// One file reached by two import paths is loaded once, whatever the
/// working directory: from inside `dup/`, `lib/t.cap` and
/// `../dup/lib/t.cap` are the same file (its target is not "defined twice").
#[test]
fn a_file_imported_by_two_paths_loads_once() {
    let s = Scratch::new("cli", "two_paths");
    std::fs::create_dir_all(s.path("dup/lib")).unwrap();
    s.write(
        "dup/lib/t.cap",
        "target t {\n    address_bits = 48;\n    tag_bits = 5;\n    message_registers = 4;\n    message_words = 16;\n    caps_per_message = 2;\n}\n",
    );
    s.write(
        "dup/d.cap",
        "use \"lib/t.cap\";\nuse \"../dup/lib/t.cap\";\n",
    );
    run_in(&s.path("dup"), &["check", "d.cap"])
        .exits(0)
        .silent();
    run_in(&s.dir, &["check", "dup/d.cap"]).exits(0).silent();
}

/// `capc explain CODE` prints the catalogue's entry for a code, in any
/// case, from the binary alone; anything else is a usage error.
#[test]
fn explain_prints_a_codes_entry() {
    let s = Scratch::new("cli", "explain");
    let run = run_in(&s.dir, &["explain", "e0703"]);
    run.exits(0)
        .stdout_has("E0703: worst-case allocation exceeds the minimum donation")
        .stdout_has("Fix:");
    run_in(&s.dir, &["explain", "W0001"])
        .exits(0)
        .stdout_has("W0001: unused type");
    run_in(&s.dir, &["explain", "E9999"])
        .exits(2)
        .stderr_has("`E9999` is not a capc diagnostic code");
}

/// `capc watch` checks at once, then again when the spec changes: the first
/// round reports the error, the round after the fix reports none.
#[test]
fn watch_checks_again_after_a_change() {
    use std::io::{BufRead, BufReader};
    let s = Scratch::new("cli", "watch");
    s.write("spec.cap", UNKNOWN_NAME);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_capc"))
        .args([
            "watch",
            "--interval",
            "20",
            "--max-checks",
            "2",
            "--color",
            "never",
            "spec.cap",
        ])
        .current_dir(&s.dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run capc watch");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines
        .by_ref()
        .map(|l| l.unwrap())
        .find(|l| l.starts_with("watch: "))
        .expect("a first round");
    assert_eq!(first, "watch: checked 1 file(s): 1 error(s), 0 warning(s)");
    // The fix: a length change, so the watch sees it whatever the clock.
    s.write("spec.cap", UNKNOWN_NAME.replace("1 + UNKNOWN", "1 + 2"));
    let second = lines
        .map(|l| l.unwrap())
        .find(|l| l.starts_with("watch: "))
        .expect("a second round");
    // `Y` is never used: a warning, not an error.
    assert_eq!(second, "watch: checked 1 file(s): 0 error(s), 1 warning(s)");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
