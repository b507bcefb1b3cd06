//! `capc fix` (and `capc check --fix`): the diagnostics' machine-applicable
//! suggestions applied to the named files, round after round, then the
//! diagnostics that are left; `--dry-run` as a diff.

mod common;

use common::{Scratch, TARGET, capc, text};

/// Two typos with one sure fix each: a setting and a constant.
fn typos() -> String {
    format!(
        "{}const PAGE = 4096;\nconst TWO = 2 * PGE;\n",
        TARGET.replace("tag_bits", "tagbits")
    )
}

/// [`typos`] fixed.
fn fixed() -> String {
    format!("{TARGET}const PAGE = 4096;\nconst TWO = 2 * PAGE;\n")
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(s: &Scratch, args: &[&str]) -> Run {
    let out = capc(&s.dir, args);
    Run {
        code: out.status.code(),
        stdout: text(&out.stdout),
        stderr: text(&out.stderr),
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn read(s: &Scratch, name: &str) -> String {
    std::fs::read_to_string(s.path(name)).expect("read back")
}

#[test]
fn fix_applies_every_sure_suggestion_and_reports_what_is_left() {
    let s = Scratch::new("fix", "basic");
    s.write("spec.cap", typos());
    let r = run(&s, &["fix", "spec.cap"]);
    // Fixed, so only the warning that `TWO` is unused is left: exit 0.
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stderr.contains("fixed 2 problems in spec.cap"), "{r:?}");
    assert!(r.stderr.contains("warning[W0003]"), "{r:?}");
    assert!(!r.stderr.contains("error["), "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
    assert_eq!(read(&s, "spec.cap"), fixed());
    // Nothing left to fix: nothing changes, nothing is said about fixing.
    let again = run(&s, &["fix", "spec.cap"]);
    assert_eq!(again.code, Some(0), "{again:?}");
    assert!(!again.stderr.contains("fixed"), "{again:?}");
    assert_eq!(read(&s, "spec.cap"), fixed());
    // No temporary file is left beside it.
    let names: Vec<String> = std::fs::read_dir(&s.dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["spec.cap"]);
}

#[test]
fn check_fix_is_fix() {
    let s = Scratch::new("fix", "check-fix");
    s.write("spec.cap", typos());
    let r = run(&s, &["check", "--fix", "spec.cap"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stderr.contains("fixed 2 problems in spec.cap"), "{r:?}");
    assert_eq!(read(&s, "spec.cap"), fixed());
}

#[test]
fn dry_run_prints_a_diff_and_writes_nothing() {
    let s = Scratch::new("fix", "dry-run");
    s.write("spec.cap", typos());
    let r = run(&s, &["fix", "--dry-run", "spec.cap"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(read(&s, "spec.cap"), typos(), "--dry-run wrote the file");
    assert!(
        r.stderr.contains("would fix 2 problems in spec.cap"),
        "{r:?}"
    );
    assert_eq!(
        r.stdout,
        "--- spec.cap\n+++ spec.cap\n@@ -1,9 +1,9 @@\n target t {\n     address_bits = 48;\n-    tagbits = 5;\n+    tag_bits = 5;\n     message_registers = 4;\n     message_words = 16;\n     caps_per_message = 2;\n }\n const PAGE = 4096;\n-const TWO = 2 * PGE;\n+const TWO = 2 * PAGE;\n",
        "{r:?}"
    );
    // The diff is what `fix` then does.
    run(&s, &["fix", "spec.cap"]);
    assert_eq!(read(&s, "spec.cap"), fixed());
}

/// `B`'s typo is found only once `A` evaluates: the second round fixes it.
#[test]
fn fixing_repeats_until_nothing_is_left_to_fix() {
    let s = Scratch::new("fix", "rounds");
    let spec =
        format!("{TARGET}const PAGE = 4096;\nconst A = PGE;\nconst B = A + PAGF;\nconst C = B;\n");
    s.write("spec.cap", &spec);
    let first = run(&s, &["check", "--message-format", "json", "spec.cap"]);
    assert_eq!(
        first.stdout.lines().count(),
        1,
        "only `PGE` is reported at first: {first:?}"
    );
    let r = run(&s, &["fix", "spec.cap"]);
    assert!(r.stderr.contains("fixed 2 problems in spec.cap"), "{r:?}");
    assert_eq!(
        read(&s, "spec.cap"),
        format!("{TARGET}const PAGE = 4096;\nconst A = PAGE;\nconst B = A + PAGE;\nconst C = B;\n")
    );
}

/// A guess between two equally close names is not applied: the error
/// stays, and the exit status says so.
#[test]
fn an_unsure_suggestion_is_left_and_errors_exit_1() {
    let s = Scratch::new("fix", "unsure");
    let spec = format!("{TARGET}const X = 1;\nconst XX = 2;\nconst Y = XY + X + XX;\n");
    s.write("spec.cap", &spec);
    let json = run(&s, &["check", "--message-format", "json", "spec.cap"]);
    assert!(
        json.stdout.contains("\"MaybeIncorrect\""),
        "the test needs an unsure suggestion: {json:?}"
    );
    let r = run(&s, &["fix", "spec.cap"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("error[E0100]"), "{r:?}");
    assert!(!r.stderr.contains("fixed"), "{r:?}");
    assert_eq!(read(&s, "spec.cap"), spec);
}

/// An imported file is fixed only when it is named too; otherwise a note
/// says how many of its fixes were not applied.
#[test]
fn imports_are_fixed_only_if_named() {
    let s = Scratch::new("fix", "imports");
    let lib = format!("{TARGET}const PAGE = 4096;\nconst TWO = 2 * PGE;\n");
    let main = "use \"lib.cap\";\nconst HALF = 2048;\nconst Q = HALFF;\n";
    s.write("lib.cap", &lib).write("main.cap", main);
    let r = run(&s, &["fix", "main.cap"]);
    assert_eq!(r.code, Some(1), "the import's error is left: {r:?}");
    assert!(r.stderr.contains("fixed 1 problem in main.cap"), "{r:?}");
    assert!(
        r.stderr.contains(
            "note: 1 machine-applicable fix in `lib.cap` not applied: it is imported, not named"
        ),
        "{r:?}"
    );
    assert_eq!(read(&s, "lib.cap"), lib);
    assert_eq!(
        read(&s, "main.cap"),
        "use \"lib.cap\";\nconst HALF = 2048;\nconst Q = HALF;\n"
    );
    let r = run(&s, &["fix", "main.cap", "lib.cap"]);
    assert!(r.stderr.contains("fixed 1 problem in lib.cap"), "{r:?}");
    assert!(!r.stderr.contains("note:"), "{r:?}");
    assert_eq!(read(&s, "lib.cap"), lib.replace("PGE", "PAGE"));
}

#[test]
fn json_reports_what_is_left_on_stdout() {
    let s = Scratch::new("fix", "json");
    s.write("spec.cap", format!("{}const Y = UNKNOWN;\n", typos()));
    let r = run(&s, &["fix", "--message-format", "json", "spec.cap"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    let codes: Vec<String> = r
        .stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
            v["code"].as_str().expect("code").to_string()
        })
        .collect();
    assert_eq!(codes, ["E0100"], "{r:?}");
}

#[test]
fn a_missing_file_is_exit_2_and_the_others_are_fixed() {
    let s = Scratch::new("fix", "missing");
    s.write("spec.cap", typos());
    let r = run(&s, &["fix", "missing.cap", "spec.cap"]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(
        r.stderr
            .contains("error: cannot read `missing.cap`: no such file"),
        "{r:?}"
    );
    assert_eq!(read(&s, "spec.cap"), fixed());
}

#[test]
fn help_names_fix() {
    let s = Scratch::new("fix", "help");
    let r = run(&s, &["--help"]);
    assert!(r.stdout.contains("fix "), "{r:?}");
    let r = run(&s, &["fix", "--help"]);
    assert!(r.stdout.contains("--dry-run"), "{r:?}");
    assert!(r.stdout.contains("MachineApplicable"), "{r:?}");
}
