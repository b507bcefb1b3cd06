//! `capc fmt`: rewrites in place, `--check` names what would change, `-`
//! filters standard input; a syntax error leaves the file untouched; exit
//! codes as for `capc check`. The layout itself is tested in dsl/tests/fmt.rs.

mod common;

use common::{Scratch, capc, text};
use std::path::Path;
use std::process::{Command, Stdio};

const MESSY: &str = "const A=1;   // one\nrights{read,write}\n";
const TIDY: &str = "const A = 1; // one\n\nrights {\n    read,\n    write,\n}\n";

#[test]
fn rewrites_in_place_and_then_is_clean() {
    let s = Scratch::new("fmt", "rewrite");
    s.write("a.cap", MESSY).write("b.cap", TIDY);
    let out = capc(&s.dir, &["fmt", "a.cap", "b.cap"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(std::fs::read_to_string(s.path("a.cap")).unwrap(), TIDY);
    let out = capc(&s.dir, &["fmt", "--check", "a.cap", "b.cap"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "");
}

/// `--check` prints a unified diff of each file that would change (both
/// sides named as given, so `patch -p0` applies it), nothing for a
/// formatted one, and writes nothing.
#[test]
fn check_prints_a_diff_of_what_would_change_and_writes_nothing() {
    let s = Scratch::new("fmt", "check");
    s.write("messy.cap", MESSY).write("tidy.cap", TIDY);
    let out = capc(&s.dir, &["fmt", "--check", "tidy.cap", "messy.cap"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        "\
--- messy.cap
+++ messy.cap
@@ -1,2 +1,6 @@
-const A=1;   // one
-rights{read,write}
+const A = 1; // one
+
+rights {
+    read,
+    write,
+}
"
    );
    assert_eq!(std::fs::read_to_string(s.path("messy.cap")).unwrap(), MESSY);
    // Only the lines that change, with three lines of context, in hunks.
    let long = format!("{TIDY}{}\nconst  B = 2;\n", "\nconst C = 3;".repeat(8));
    s.write("long.cap", &long);
    let out = capc(&s.dir, &["fmt", "--check", "long.cap"]);
    assert_eq!(out.status.code(), Some(1));
    let diff = text(&out.stdout);
    assert!(
        diff.starts_with("--- long.cap\n+++ long.cap\n@@ -13,4 +13,4 @@\n"),
        "{diff}"
    );
    assert!(diff.ends_with("-const  B = 2;\n+const B = 2;\n"), "{diff}");
    assert!(!diff.contains("rights"), "far from the change: {diff}");
}

/// `capc` with `args`, `input` on its standard input.
fn fmt_stdin(args: &[&str], input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_capc"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run capc");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

#[test]
fn check_of_standard_input_prints_its_diff() {
    let out = fmt_stdin(&["fmt", "--check", "-"], "const A=1;");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        "--- <stdin>\n+++ <stdin>\n@@ -1 +1 @@\n-const A=1;\n\\ No newline at end of file\n+const A = 1;\n"
    );
}

#[test]
fn a_syntax_error_is_reported_and_the_file_left_alone() {
    let s = Scratch::new("fmt", "syntax");
    let broken = "const A = 1\nconst B = 2;\n";
    s.write("broken.cap", broken).write("messy.cap", MESSY);
    let out = capc(&s.dir, &["fmt", "broken.cap", "messy.cap"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("error[E0001]"), "{stderr}");
    assert!(stderr.contains("broken.cap:2:1"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(s.path("broken.cap")).unwrap(),
        broken
    );
    // The other file is still formatted.
    assert_eq!(std::fs::read_to_string(s.path("messy.cap")).unwrap(), TIDY);
}

#[test]
fn a_missing_file_is_an_io_error() {
    let s = Scratch::new("fmt", "missing");
    s.write("messy.cap", MESSY);
    let out = capc(&s.dir, &["fmt", "--check", "messy.cap", "nope.cap"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read `nope.cap`"));
    let out = capc(&s.dir, &["fmt"]);
    assert_eq!(out.status.code(), Some(2), "no file is a usage error");
}

#[test]
fn dash_formats_standard_input_to_standard_output() {
    let out = fmt_stdin(&["fmt", "-"], MESSY);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), TIDY);
}

#[test]
fn the_repository_specs_are_formatted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = capc(
        root,
        &[
            "fmt",
            "--check",
            "kernel-demo/spec/kernel.cap",
            "kernel-demo/spec/decompress.cap",
            "kernel-demo/spec/client_pays.cap",
            "examples/systems/decompress.cap",
            "examples/everything.cap",
            "examples/lib/everything-base.cap",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn help_has_examples() {
    let out = capc(Path::new("."), &["fmt", "--help"]);
    let help = text(&out.stdout);
    assert!(help.contains("capc fmt --check"), "{help}");
    assert!(help.contains("Exit status"), "{help}");
}
