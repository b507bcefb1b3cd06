//! `capc breaking`: an OLD/NEW pair for each kind of break (each NEW is
//! the base spec with a few edits), and compatible changes, with the
//! reports snapshotted in snapshots/breaking/ and the exit codes checked;
//! JSON reports; `--against REV` in a scratch git repository; and the
//! errors of usage, of git and of the specs themselves.

mod common;

use common::{Scratch, UNKNOWN_NAME, text, workspace};
use std::path::Path;
use std::process::Command;

/// The OLD spec of every pair.
const BASE: &str = "\
target t {
    address_bits = 48;
    tag_bits = 5;
    message_registers = 4;
    message_words = 16;
    caps_per_message = 2;
}

rights {
    read,
    write,
    grant,
}

untyped Untyped(bits in 4..=40) {
    size = 1 << bits;
}

object Endpoint {
    size = 16;
}

frame Frame(bits in {12, 21}) {
    size = 1 << bits;
}

cap UntypedCap for Untyped {
    #[identity] #[object]
    base: ptr(align = 16),
    #[size_arg]
    bits: u6,
    #[watermark(unit = 16)]
    free_index: u37,
}

cap EndpointCap for Endpoint {
    #[identity] #[object]
    base: ptr(align = 16),
    #[badge]
    badge: u8,
    rights: rights(read, write, grant),
}

cap FrameCap for Frame {
    #[identity] #[object]
    base: ptr(align = 4 KiB),
    #[size_arg]
    bits: u5,
    rights: rights(read, write),
}

#[never_copy]
cap IrqControlCap {}

retype UntypedCap {
    into = Untyped | Endpoint | Frame;
    fan_out = 64;
}

errors KernelError {
    InvalidArgument(index),
    OutOfBudget,
    DeleteFirst,
}

invocations EndpointCap -> KernelError {
    fn send(msg: word, flag: bool) {
        requires write;
        errors InvalidArgument;
    }

    fn receive() -> (msg: word) {
        requires read;
    }
}

invocations IrqControlCap -> KernelError {
    fn issue(line: word, dest: cap EndpointCap);
}

interface Store -> KernelError {
    fn put(data: [u8; 16], page: lend cap FrameCap(read)) -> (handle: word) {
        donates quota 8 KiB;
        allocates 1 * Frame(12);
        out_of_budget OutOfBudget;
        errors OutOfBudget;
    }
}

struct Point {
    x: i32,
    y: i32,
}

interface Plot -> KernelError {
    fn draw(at: Point);
}
";

/// `BASE` with each `(from, to)` applied; each `from` must occur once.
fn edited(edits: &[(&str, &str)]) -> String {
    let mut spec = BASE.to_string();
    for (from, to) in edits {
        assert_eq!(spec.matches(from).count(), 1, "{from:?} must occur once");
        spec = spec.replace(from, to);
    }
    spec
}

/// Runs `capc` in `dir` (git's environment cleared, so a test run from a
/// git hook still sees only the scratch repository).
fn capc(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_capc"))
        .args(args)
        .current_dir(dir)
        .env_remove("CLICOLOR_FORCE")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        // The scratch directories are in the temp directory: a repository
        // around it (or the temp directory itself) is not theirs.
        .env("GIT_CEILING_DIRECTORIES", std::env::temp_dir())
        .output()
        .expect("run capc");
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// Edits from OLD to NEW: each `(from, to)`.
type Edits = &'static [(&'static str, &'static str)];

/// The cases: name, edits from OLD to NEW, the codes reported in order.
const CASES: &[(&str, Edits, &[&str])] = &[
    (
        "B0001-cap-type-removed",
        &[
            ("#[never_copy]\ncap IrqControlCap {}\n\n", ""),
            (
                "invocations IrqControlCap -> KernelError {\n    fn issue(line: word, dest: cap EndpointCap);\n}\n\n",
                "",
            ),
        ],
        &["B0001", "B0011"],
    ),
    (
        "B0002-cap-type-tag-changed",
        &[
            (
                "cap UntypedCap for Untyped {",
                "#[never_copy]\ncap IrqControlCap {}\n\ncap UntypedCap for Untyped {",
            ),
            ("#[never_copy]\ncap IrqControlCap {}\n\nretype", "retype"),
        ],
        &["B0002", "B0002", "B0002", "B0002"],
    ),
    (
        "B0003-cap-field-removed",
        &[("    #[badge]\n    badge: u8,\n", "")],
        &["B0003", "B0004"],
    ),
    (
        "B0004-cap-field-moved",
        &[("badge: u8,", "badge: u16,")],
        &["B0004", "B0004"],
    ),
    (
        "B0005-right-removed",
        &[
            ("    write,\n    grant,\n", "    write,\n"),
            ("rights(read, write, grant)", "rights(read, write)"),
        ],
        &["B0005", "B0018"],
    ),
    (
        "B0006-right-bit-changed",
        &[("    read,\n    write,\n", "    write,\n    read,\n")],
        &["B0006", "B0006"],
    ),
    (
        "B0007-object-renumbered",
        &[
            ("object Endpoint {\n    size = 16;\n}\n\n", ""),
            (
                "cap UntypedCap for",
                "object Endpoint {\n    size = 16;\n}\n\ncap UntypedCap for",
            ),
        ],
        &["B0007", "B0007"],
    ),
    (
        "B0008-object-size-changed",
        &[("size = 16;", "size = 32;")],
        &["B0008"],
    ),
    (
        "B0009-size-rule-narrowed",
        &[("bits in {12, 21}", "bits in {12}")],
        &["B0009"],
    ),
    (
        "B0010-retype-rule-narrowed",
        &[
            (
                "into = Untyped | Endpoint | Frame;",
                "into = Endpoint | Frame;",
            ),
            ("fan_out = 64;", "fan_out = 16;"),
        ],
        &["B0010", "B0010"],
    ),
    (
        "B0011-method-removed",
        &[(
            "\n\n    fn receive() -> (msg: word) {\n        requires read;\n    }",
            "",
        )],
        &["B0011"],
    ),
    (
        "B0012-method-label-changed",
        &[
            (
                "    fn send(msg: word, flag: bool) {\n        requires write;\n        errors InvalidArgument;\n    }\n\n",
                "",
            ),
            (
                "        requires read;\n    }\n",
                "        requires read;\n    }\n\n    fn send(msg: word, flag: bool) {\n        requires write;\n        errors InvalidArgument;\n    }\n",
            ),
        ],
        &["B0012", "B0012"],
    ),
    (
        "B0012-label-base-changed",
        &[(
            "invocations IrqControlCap",
            "#[label_base(5)]\ninvocations IrqControlCap",
        )],
        &["B0012"],
    ),
    (
        "B0004-cap-field-placed",
        &[(
            "    #[badge]\n    badge: u8,",
            "    #[badge] #[at(word = 1, bit = 8)]\n    badge: u8,",
        )],
        &["B0004", "B0004"],
    ),
    (
        "B0013-message-layout-changed",
        &[
            (
                "fn send(msg: word, flag: bool)",
                "fn send(msg: word, tag: word, flag: bool)",
            ),
            ("fn put(data: [u8; 16],", "fn put(data: [u8; 24],"),
            ("-> (msg: word)", "-> (msg: u32)"),
            (
                "line: word, dest: cap EndpointCap",
                "dest: cap EndpointCap, line: word",
            ),
            ("donates quota 8 KiB;", "donates UntypedCap >= 8 KiB;"),
        ],
        &[
            "B0013", "B0013", "B0013", "B0013", "B0013", "B0013", "B0013",
        ],
    ),
    (
        "B0013-message-type-changed",
        &[("    y: i32,\n", "    y: i16,\n")],
        &["B0013"],
    ),
    (
        "B0014-error-variant-removed",
        &[("    DeleteFirst,\n", "")],
        &["B0014"],
    ),
    (
        "B0015-error-number-changed",
        &[(
            "    OutOfBudget,\n    DeleteFirst,\n",
            "    OutOfBudget,\n    Busy,\n    DeleteFirst,\n",
        )],
        &["B0015"],
    ),
    (
        "B0016-error-payload-changed",
        &[("InvalidArgument(index),", "InvalidArgument(index, max),")],
        &["B0016"],
    ),
    (
        "B0017-target-setting-changed",
        &[
            ("message_registers = 4;", "message_registers = 2;"),
            ("message_words = 16;", "message_words = 8;"),
            // A label width moves the protocol errors' reply labels.
            (
                "caps_per_message = 2;",
                "caps_per_message = 2;\n    label_bits = 52;",
            ),
        ],
        &["B0017", "B0017", "B0017"],
    ),
    (
        "B0018-caller-requirement-raised",
        &[
            ("requires write;", "requires write, grant;"),
            ("lend cap FrameCap(read)", "lend cap FrameCap(read, write)"),
            ("donates quota 8 KiB;", "donates quota 16 KiB;"),
        ],
        &["B0018", "B0018", "B0018"],
    ),
];

/// A scratch directory `name` holding the passing UI spec `file`
/// (dsl/tests/ui/pass) as `old.cap`, beside the UI tests' `base.cap` it
/// uses; the spec's text, to edit into new specs.
fn ui_pass_spec(name: &str, file: &str) -> (Scratch, String) {
    let s = Scratch::new("breaking", name);
    let ui = workspace().join("dsl/tests/ui");
    let spec = std::fs::read_to_string(ui.join("pass").join(file)).expect(file);
    let spec = spec.replace("use \"../base.cap\";", "use \"base.cap\";");
    s.write(
        "base.cap",
        std::fs::read_to_string(ui.join("base.cap")).expect("base.cap"),
    );
    s.write("old.cap", &spec);
    (s, spec)
}

/// The human report and exit code of each pair, snapshotted; the codes
/// reported, in order, checked here too; JSON lists the same codes.
#[test]
fn each_kind_of_break_is_reported() {
    let s = Scratch::new("breaking", "kinds");
    s.write("old.cap", BASE);
    let (code, stdout, stderr) = capc(&s.dir, &["check", "old.cap"]);
    assert_eq!(
        (code, stdout.as_str(), stderr.as_str()),
        (Some(0), "", ""),
        "BASE checks clean"
    );
    for (name, edits, codes) in CASES {
        let new = edited(edits);
        s.write("new.cap", &new);
        let (check, _, check_err) = capc(&s.dir, &["check", "new.cap"]);
        assert_eq!(
            (check, check_err.as_str()),
            (Some(0), ""),
            "{name}: NEW checks clean"
        );
        let (code, stdout, stderr) = capc(&s.dir, &["breaking", "old.cap", "new.cap"]);
        assert_eq!(code, Some(1), "{name}: {stderr}");
        assert!(stdout.is_empty(), "{name}: {stdout}");
        let found: Vec<&str> = stderr
            .lines()
            .filter_map(|l| l.strip_prefix("error[")?.get(..5))
            .collect();
        assert_eq!(&found, codes, "{name}:\n{stderr}");
        assert!(
            stderr.ends_with(&format!(
                "error: {} change{} compiled users of `old.cap`\n",
                codes.len(),
                if codes.len() == 1 {
                    " breaks"
                } else {
                    "s break"
                }
            )),
            "{name}: {stderr}"
        );
        let (json_code, json_out, json_err) = capc(
            &s.dir,
            &["breaking", "--message-format", "json", "old.cap", "new.cap"],
        );
        assert_eq!(json_code, Some(1));
        assert!(json_err.is_empty(), "{name}: {json_err}");
        let json_codes: Vec<String> = json_out
            .lines()
            .map(|l| {
                let v: serde_json::Value =
                    serde_json::from_str(l).expect("one JSON object per line");
                v["code"].as_str().expect("code").to_string()
            })
            .collect();
        assert_eq!(&json_codes, codes, "{name}");
        insta::with_settings!({
            snapshot_path => workspace().join("snapshots/breaking"),
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(*name, format!("exit: {code:?}\n{stderr}"));
        });
    }
}

/// Additions that keep every old number pass with exit 0 and print nothing.
#[test]
fn compatible_changes_exit_0() {
    let s = Scratch::new("breaking", "compatible");
    s.write("old.cap", BASE);
    let compatible: &[(&str, &[(&str, &str)])] = &[
        ("identical", &[]),
        (
            "labels and a field's place written out as they were",
            &[
                (
                    "invocations EndpointCap",
                    "#[label_base(1)]\ninvocations EndpointCap",
                ),
                ("    fn receive()", "    #[label(2)]\n    fn receive()"),
                (
                    "    #[badge]\n    badge: u8,",
                    "    #[badge] #[at(word = 0, bit = 49)]\n    badge: u8,",
                ),
            ],
        ),
        (
            "a cap type, object type and retype target at the end",
            &[
                (
                    "cap UntypedCap for",
                    "object Notification {\n    size = 32;\n}\n\ncap UntypedCap for",
                ),
                (
                    "}\n\nretype UntypedCap {",
                    "}\n\ncap NotificationCap for Notification {\n    #[identity] #[object]\n    base: ptr(align = 32),\n}\n\nretype UntypedCap {",
                ),
                (
                    "into = Untyped | Endpoint | Frame;",
                    "into = Untyped | Endpoint | Frame | Notification;",
                ),
            ],
        ),
        (
            "a method, an error variant and a right at the end",
            &[
                ("    DeleteFirst,\n", "    DeleteFirst,\n    Busy(why),\n"),
                (
                    "        requires read;\n    }\n",
                    "        requires read;\n    }\n\n    fn poll() -> (msg: word) {\n        requires read, signal;\n        errors Busy;\n    }\n",
                ),
                ("    grant,\n}", "    grant,\n    signal,\n}"),
                (
                    "rights(read, write, grant)",
                    "rights(read, write, grant, signal)",
                ),
            ],
        ),
        (
            "a field at the end, wider rules, less required",
            &[
                (
                    "rights(read, write, grant),\n",
                    "rights(read, write, grant),\n    hint: u3,\n",
                ),
                ("bits in {12, 21}", "bits in {12, 21, 30}"),
                ("fan_out = 64;", "fan_out = 128;"),
                ("message_words = 16;", "message_words = 32;"),
                ("requires write;", ""),
                ("donates quota 8 KiB;", "donates quota 4 KiB;"),
            ],
        ),
    ];
    for (what, edits) in compatible {
        s.write("new.cap", edited(edits));
        let (check, _, check_err) = capc(&s.dir, &["check", "new.cap"]);
        assert_eq!(
            (check, check_err.as_str()),
            (Some(0), ""),
            "{what}: NEW checks clean"
        );
        let run = capc(&s.dir, &["breaking", "old.cap", "new.cap"]);
        assert_eq!(run, (Some(0), String::new(), String::new()), "{what}");
        let json = capc(
            &s.dir,
            &["breaking", "--message-format", "json", "old.cap", "new.cap"],
        );
        assert_eq!(json, (Some(0), String::new(), String::new()), "{what}");
    }
}

/// The JSON of a report: the fields of `capc check`'s, the primary span
/// in NEW for a change and in OLD for a removal, and `rendered` is the
/// human text.
#[test]
fn json_reports_have_spans_in_both_files() {
    let s = Scratch::new("breaking", "json");
    s.write("old.cap", BASE);
    s.write(
        "new.cap",
        edited(&[("badge: u8,", "badge: u16,"), ("    DeleteFirst,\n", "")]),
    );
    let (code, stdout, _) = capc(
        &s.dir,
        &["breaking", "--message-format", "json", "old.cap", "new.cap"],
    );
    assert_eq!(code, Some(1));
    let (_, _, human) = capc(&s.dir, &["breaking", "old.cap", "new.cap"]);
    let values: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(values.len(), 3, "{stdout}");
    let (moved, removed) = (&values[0], &values[2]);
    assert_eq!(moved["code"], "B0004");
    assert_eq!(moved["severity"], "error");
    assert_eq!(
        (&moved["file"], &moved["line"], &moved["column"]),
        (&"new.cap".into(), &40.into(), &5.into())
    );
    assert_eq!(moved["secondary"][0]["file"], "old.cap");
    assert_eq!(moved["secondary"][0]["line"], 40);
    assert_eq!(
        moved["secondary"][0]["message"],
        "u8 at word 0, bits 49..57 in the old spec"
    );
    assert_eq!(removed["code"], "B0014");
    assert_eq!(
        (&removed["file"], &removed["line"]),
        (&"old.cap".into(), &63.into())
    );
    let start = removed["byte_start"].as_u64().unwrap() as usize;
    let end = removed["byte_end"].as_u64().unwrap() as usize;
    assert_eq!(&BASE[start..end], "DeleteFirst");
    assert_eq!(removed["secondary"][0]["file"], "new.cap");
    assert!(removed["help"].is_string());
    let rendered: String = values
        .iter()
        .map(|v| v["rendered"].as_str().unwrap())
        .collect();
    assert!(
        human.starts_with(&rendered),
        "rendered is the human text:\n{rendered}\n---\n{human}"
    );
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=capc",
            "-c",
            "user.email=capc@example.invalid",
        ])
        .args(args)
        .current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
}

fn has_git() -> bool {
    Command::new("git").arg("--version").output().is_ok()
}

/// `--against REV` reads the spec and its imports at REV.
#[test]
fn against_a_git_revision() {
    if !has_git() {
        eprintln!("git is not installed: skipping");
        return;
    }
    let s = Scratch::new("breaking", "against");
    std::fs::create_dir_all(s.path("spec/lib")).unwrap();
    let (lib, rest) = BASE.split_at(BASE.find("rights {").unwrap());
    s.write("spec/lib/target.cap", lib);
    s.write(
        "spec/main.cap",
        format!("use \"lib/target.cap\";\n\n{rest}"),
    );
    git(&s.dir, &["init", "-q"]);
    git(&s.dir, &["add", "."]);
    git(&s.dir, &["commit", "-q", "-m", "v1"]);
    // Unchanged: nothing breaks.
    assert_eq!(
        capc(&s.dir, &["breaking", "--against", "HEAD", "spec/main.cap"]),
        (Some(0), String::new(), String::new())
    );
    // A change in the imported file is seen: its old text is REV's.
    s.write(
        "spec/lib/target.cap",
        lib.replace("message_registers = 4;", "message_registers = 3;"),
    );
    let (code, stdout, stderr) = capc(&s.dir, &["breaking", "--against", "HEAD", "spec/main.cap"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr
            .starts_with("error[B0017]: target setting `message_registers` changed from 4 to 3\n"),
        "{stderr}"
    );
    assert!(stderr.contains("┌─ spec/lib/target.cap:1:8"), "{stderr}");
    assert!(
        stderr.contains("┌─ HEAD:spec/lib/target.cap:1:8"),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("error: 1 change breaks compiled users of `HEAD:spec/main.cap`\n"),
        "{stderr}"
    );
    // From a subdirectory, the path is relative to it.
    let (code, _, stderr) = capc(
        &s.path("spec"),
        &["breaking", "--against", "HEAD", "main.cap"],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("┌─ HEAD:lib/target.cap:1:8"), "{stderr}");
    // A revision git does not know, and a file not in the revision.
    let (code, _, stderr) = capc(
        &s.dir,
        &["breaking", "--against", "no-such-branch", "spec/main.cap"],
    );
    assert_eq!(
        (code, stderr.as_str()),
        (
            Some(2),
            "error: `no-such-branch` is not a revision of this repository\n"
        )
    );
    s.write("spec/new.cap", BASE);
    let (code, _, stderr) = capc(&s.dir, &["breaking", "--against", "HEAD", "spec/new.cap"]);
    assert_eq!(
        (code, stderr.as_str()),
        (
            Some(2),
            "error: `spec/new.cap` does not exist at revision `HEAD`\n"
        )
    );
    // A spec that had errors at REV: reported as by `check`, with REV's name.
    s.write("spec/main.cap", UNKNOWN_NAME);
    git(&s.dir, &["commit", "-q", "-a", "-m", "v2"]);
    s.write("spec/main.cap", BASE);
    let (code, _, stderr) = capc(&s.dir, &["breaking", "--against", "HEAD", "spec/main.cap"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("error[E0100]") && stderr.contains("HEAD:spec/main.cap:8:15"),
        "{stderr}"
    );
}

#[test]
fn against_outside_a_repository_exits_2() {
    let s = Scratch::new("breaking", "no-repo");
    s.write("spec.cap", BASE);
    let (code, stdout, stderr) = capc(&s.dir, &["breaking", "--against", "HEAD", "spec.cap"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.starts_with("error: `--against` compares with a git revision, but the working directory is not in a git repository"),
        "{stderr}"
    );
}

/// Spec errors exit as `capc check` does; usage and I/O errors exit 2.
#[test]
fn spec_and_usage_errors() {
    let s = Scratch::new("breaking", "errors");
    s.write("old.cap", BASE).write("bad.cap", UNKNOWN_NAME);
    let (code, stdout, stderr) = capc(&s.dir, &["breaking", "old.cap", "bad.cap"]);
    assert_eq!(code, Some(1));
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("error[E0100]") && stderr.contains("bad.cap:8:15"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("error[B"),
        "specs with errors are not compared: {stderr}"
    );
    let (code, stdout, _) = capc(
        &s.dir,
        &["breaking", "--message-format", "json", "bad.cap", "old.cap"],
    );
    assert_eq!(code, Some(1));
    let first: serde_json::Value =
        serde_json::from_str(stdout.lines().next().expect("a line")).expect("JSON");
    assert_eq!(
        (&first["code"], &first["file"]),
        (&"E0100".into(), &"bad.cap".into())
    );
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "missing.cap"]);
    assert_eq!(
        (code, stderr.as_str()),
        (Some(2), "error: cannot read `missing.cap`: no such file\n")
    );
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap"]);
    assert_eq!(
        (code, stderr.as_str()),
        (
            Some(2),
            "error: `capc breaking` takes OLD and NEW specs, or `--against REV` and one spec\n"
        )
    );
    let (code, _, stderr) = capc(
        &s.dir,
        &["breaking", "--against", "HEAD", "old.cap", "bad.cap"],
    );
    assert_eq!(
        (code, stderr.as_str()),
        (
            Some(2),
            "error: with `--against REV`, give one spec: it is compared with itself at REV\n"
        )
    );
    let (code, _, _) = capc(&s.dir, &["breaking", "a.cap", "b.cap", "c.cap"]);
    assert_eq!(code, Some(2));
}

/// The demo kernel's pool of address-space numbers: another size, or none,
/// breaks what compiled users hold (B0019); the spec unchanged passes.
#[test]
fn a_changed_asid_pool_breaks() {
    let s = Scratch::new("breaking", "asid-pool");
    let kernel = std::fs::read_to_string(workspace().join("kernel-demo/spec/kernel.cap"))
        .expect("kernel.cap");
    assert!(
        kernel.contains("    asid_pool = 512;\n"),
        "the demo has a pool"
    );
    s.write("old.cap", &kernel);
    s.write("same.cap", &kernel);
    s.write(
        "new.cap",
        kernel.replace("asid_pool = 512;", "asid_pool = 256;"),
    );
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "same.cap"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "new.cap"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with(
            "error[B0019]: object type `AsidPool` changed its pool of address-space numbers\n"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("a pool of 256 address-space numbers here"),
        "{stderr}"
    );
    assert!(
        stderr.contains("a pool of 512 address-space numbers in the old spec"),
        "{stderr}"
    );
}

/// Barrelfish's port: a derivation rule removed, given another source, or
/// narrowed to one derived cap at a time breaks what derives (B0020).
#[test]
fn a_removed_or_narrowed_derive_rule_breaks() {
    let s = Scratch::new("breaking", "derive");
    let caps = std::fs::read_to_string(workspace().join("examples/barrelfish/caps.cap"))
        .expect("caps.cap");
    let rule = "#[multiple]\nderive EndPointLMP from Dispatcher;\n";
    assert!(caps.contains(rule), "the port derives EndPointLMP");
    s.write("old.cap", &caps);
    s.write("same.cap", &caps);
    s.write("gone.cap", caps.replace(rule, ""));
    s.write(
        "once.cap",
        caps.replace(rule, "derive EndPointLMP from Dispatcher;\n"),
    );
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "same.cap"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "gone.cap"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with(
            "error[B0020]: the rule deriving `EndPointLMP` from `Dispatcher` was removed\n"
        ),
        "{stderr}"
    );
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "once.cap"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with(
            "error[B0020]: the rule deriving `EndPointLMP` from `Dispatcher` lost `#[multiple]`\n"
        ),
        "{stderr}"
    );
}

/// Barrelfish's port: a retype rule that loses `#[at_offset]` breaks what
/// retypes at an offset (B0030), one that gains it does not; a splitting
/// rule that loses it breaks what splits at an offset (B0020); a
/// kernel-virtual pointer's offset that changes breaks its field (B0004).
#[test]
fn a_retype_rule_losing_at_offset_breaks() {
    let s = Scratch::new("breaking", "at-offset");
    let caps = std::fs::read_to_string(workspace().join("examples/barrelfish/caps.cap"))
        .expect("caps.cap");
    let rule = "#[at_offset]\nretype RAM {";
    assert!(caps.contains(rule), "the port retypes RAM at offsets");
    s.write("old.cap", &caps);
    s.write("lost.cap", caps.replace(rule, "retype RAM {"));
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "lost.cap"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error[B0030]: `RAM`'s retype rule lost `#[at_offset]`\n"),
        "{stderr}"
    );
    let (code, _, stderr) = capc(&s.dir, &["breaking", "lost.cap", "old.cap"]);
    assert_eq!(code, Some(0), "{stderr}");
    // A kernel-virtual pointer whose offset changes reads other addresses
    // from the same bits (B0004).
    let offset = "const X86_64_MEMORY_OFFSET = 0xfffffe0000000000;";
    assert!(caps.contains(offset), "the port's mem_to_phys offset");
    s.write(
        "offset.cap",
        caps.replace(offset, "const X86_64_MEMORY_OFFSET = 0xffffff0000000000;"),
    );
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "offset.cap"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error[B0004]: field `dcb` of cap type `Dispatcher` changed"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "it holds the address plus 0xffffff0000000000 now, plus 0xfffffe0000000000 before"
        ),
        "{stderr}"
    );
    // IRQSrc's range read from its fields the other way round (B0020).
    let range = "#[range(vec_start, vec_end)]";
    assert!(caps.contains(range), "the port splits IRQSrc by range");
    s.write(
        "range.cap",
        caps.replace(range, "#[range(vec_end, vec_start)]"),
    );
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "range.cap"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with(
            "error[B0020]: the rule splitting `IRQSrc` by a range changed its `#[range]`\n"
        ),
        "{stderr}"
    );
    // A byte-sized type that becomes log2-sized (B0052): its size
    // argument means another size.
    let frame = "#[bytes]\nframe FrameObject(bytes in BASE_PAGE_SIZE..=MAX_REGION) {\n    size = bytes;\n    align = BASE_PAGE_SIZE;\n}";
    assert!(caps.contains(frame), "Frame is byte-sized");
    s.write(
        "log2.cap",
        caps.replace(
            frame,
            "frame FrameObject(bits in 12..=63) {\n    size = 1 << bits;\n}",
        ),
    );
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "log2.cap"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "error[B0052]: object type `FrameObject` changed what its size argument means"
        ),
        "{stderr}"
    );
    // A coarser granule drops sizes (B0052); a finer one would not.
    let granule = "#[bytes(granule = OBJSIZE_L2CNODE)]";
    assert!(caps.contains(granule), "L1 CNodes are whole L2 CNodes");
    s.write(
        "granule.cap",
        caps.replace(granule, "#[bytes(granule = 32768)]")
            .replace(
                "const MAX_L1CNODE = 0xffff_ffff_ffff_c000;",
                "const MAX_L1CNODE = 0xffff_ffff_ffff_8000;",
            )
            .replace(
                "object L1CNodeObject(bytes in OBJSIZE_L2CNODE..",
                "object L1CNodeObject(bytes in 32768..",
            ),
    );
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "granule.cap"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "error[B0052]: byte-sized object type `L1CNodeObject` allows fewer sizes or places"
        ) && stderr.contains("granule 16384 bytes before, 32768 now"),
        "{stderr}"
    );
    // A splitting rule that loses it breaks `split_at` (B0020).
    let split = "#[at_offset]\nderive Frame from Frame;";
    assert!(caps.contains(split), "the port splits frames at offsets");
    s.write("split.cap", caps.replace(split, "derive Frame from Frame;"));
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "split.cap"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error[B0020]: the rule splitting `Frame` lost `#[at_offset]`\n"),
        "{stderr}"
    );
}

/// A number of `#[number(A, B, ...)]` that moves or goes breaks the
/// retypes that use it (B0007); the same numbers do not.
#[test]
fn a_moved_number_per_size_breaks() {
    let s = Scratch::new("breaking", "sized-numbers");
    let spec =
        std::fs::read_to_string(workspace().join("examples/sel4/x86_64.cap")).expect("x86_64.cap");
    let numbers = "#[number(ARCH_OBJECTS + 3, ARCH_OBJECTS + 4, ARCH_OBJECTS + 2)]";
    assert!(
        spec.contains(numbers),
        "seL4's frames are numbered per size"
    );
    s.write("old.cap", &spec);
    s.write("same.cap", &spec);
    s.write(
        "moved.cap",
        spec.replace(numbers, "#[number(ARCH_OBJECTS + 3, ARCH_OBJECTS + 4, 40)]"),
    );
    s.write(
        "one.cap",
        spec.replace(numbers, "#[number(ARCH_OBJECTS + 3)]"),
    );
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "same.cap"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "moved.cap"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with(
            "error[B0007]: object type `Frame` with size argument 2 is no longer number 7\n"
        ),
        "{stderr}"
    );
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "one.cap"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.matches("error[B0007]").count(), 2, "{stderr}");
}

/// A method that gains or loses `#[oneway]` breaks its compiled clients
/// (B0021); the same spec does not.
#[test]
fn a_method_changing_between_call_and_oneway_breaks() {
    let s = Scratch::new("breaking", "oneway");
    let spec =
        std::fs::read_to_string(workspace().join("examples/messages.cap")).expect("messages.cap");
    let oneway = "#[oneway]\n    fn note(";
    assert!(spec.contains(oneway), "messages.cap has a one-way `note`");
    s.write("old.cap", &spec);
    s.write("same.cap", &spec);
    s.write("call.cap", spec.replace(oneway, "fn note("));
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "same.cap"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "call.cap"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr
            .starts_with("error[B0021]: method `Directory.note` changed from one-way to a call\n"),
        "{stderr}"
    );
    let (code, _, stderr) = capc(&s.dir, &["breaking", "call.cap", "old.cap"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr
            .starts_with("error[B0021]: method `Directory.note` changed from a call to one-way\n"),
        "{stderr}"
    );
}

/// Who pays (examples/files.cap): a session donated differently, its quota raised, a
/// range narrowed, a call charging more, a refund removed; and a wider
/// range, a cheaper call or a lower quota are compatible.
#[test]
fn charging_a_session_more_breaks() {
    let s = Scratch::new("breaking", "sessions");
    let spec = std::fs::read_to_string(workspace().join("examples/files.cap")).expect("files.cap");
    s.write("old.cap", &spec);
    let edit = |name: &str, from: &str, to: &str| {
        assert!(spec.contains(from), "files.cap has `{from}`");
        s.write(name, spec.replace(from, to));
    };
    let cases = [
        (
            "quota.cap",
            "donates quota 8 KiB;",
            "donates quota 16 KiB;",
            "error[B0041]: the least quota of `Files`'s sessions was raised from 8192 to 16384 bytes\n",
        ),
        (
            "range.cap",
            "pages: u8 in 1..=16",
            "pages: u8 in 1..=8",
            "error[B0042]: parameter `pages` of `Files.read` now takes 1..=8, not 1..=16\n",
        ),
        (
            "charge.cap",
            "keeps 256 for fd;",
            "keeps 512 for fd;",
            "error[B0043]: `Files.open` charges its session 512 bytes, not 256\n",
        ),
        (
            "buffer.cap",
            "allocates pages * Frame(12);",
            "allocates pages * Frame(12);\n        keeps 8;",
            "error[B0043]: `Files.read` charges its session 4104 bytes for `pages = 1`, not 4096\n",
        ),
        (
            "refund.cap",
            "        refunds fd from open;\n",
            "",
            "error[B0044]: `Files.close` no longer refunds `fd` from `open`\n",
        ),
    ];
    for (name, from, to, first) in cases {
        edit(name, from, to);
        let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", name]);
        assert_eq!(code, Some(1), "{name}: {stderr}");
        // (A removed refund also warns W0015 first: nothing takes `fd` back.)
        assert!(
            stderr.contains(&format!("\n{first}")) || stderr.starts_with(first),
            "{name}: {stderr}"
        );
    }
    // Sessions backed by an Untyped instead: servers and clients change.
    edit(
        "untyped.cap",
        "donates quota 8 KiB;",
        "donates UntypedCap >= 8 KiB;",
    );
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "untyped.cap"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error[B0040]: interface `Files` changed from sessions opened with a byte quota to sessions opened with a `UntypedCap` cap\n"),
        "{stderr}"
    );
    // The other way round each is compatible.
    for name in ["quota.cap", "range.cap", "charge.cap", "buffer.cap"] {
        let (code, _, stderr) = capc(&s.dir, &["breaking", name, "old.cap"]);
        assert_eq!(code, Some(0), "{name}: {stderr}");
    }
}

#[test]
fn explain_knows_the_codes() {
    let s = Scratch::new("breaking", "explain");
    let (code, stdout, _) = capc(&s.dir, &["explain", "b0002"]);
    assert_eq!(code, Some(0));
    assert!(
        stdout.starts_with("B0002: cap type tag changed\n"),
        "{stdout}"
    );
    let (code, _, stderr) = capc(&s.dir, &["explain", "B0099"]);
    assert_eq!(code, Some(2), "{stderr}");
}

#[test]
fn help_shows_both_forms_and_the_exit_status() {
    let s = Scratch::new("breaking", "help");
    let (code, stdout, _) = capc(&s.dir, &["breaking", "--help"]);
    assert_eq!(code, Some(0));
    for needle in [
        "capc breaking [OPTIONS] OLD NEW",
        "capc breaking [OPTIONS] --against REV FILE",
        "--message-format",
        "capc breaking --against HEAD kernel-demo/spec/kernel.cap",
        "Exit status: 0 nothing breaks",
    ] {
        assert!(stdout.contains(needle), "lacks {needle:?}:\n{stdout}");
    }
    let (code, stdout, _) = capc(&s.dir, &["model", "--help"]);
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("docs/model.schema.json") && stdout.contains("--json"),
        "{stdout}"
    );
}

/// Enumerations (dsl/tests/ui/pass/enumerations.cap): a variant removed or
/// renumbered (B0060), a field or parameter made plain (B0061); a variant
/// added with a new value is compatible.
#[test]
fn a_changed_enumeration_breaks() {
    let s = Scratch::new("breaking", "enumerations");
    let spec = std::fs::read_to_string(workspace().join("dsl/tests/ui/pass/enumerations.cap"))
        .expect("enumerations.cap");
    s.write("old.cap", &spec);
    let edit = |name: &str, from: &str, to: &str| {
        assert!(spec.contains(from), "enumerations.cap has `{from}`");
        s.write(name, spec.replace(from, to));
    };
    let cases = [
        (
            "removed.cap",
            "    KernelOnly = 1,\n",
            "",
            "error[B0060]: variant `Access::KernelOnly` (1) was removed\n",
        ),
        (
            "renumbered.cap",
            "ReadOnly = 2,",
            "ReadOnly = 0,",
            "error[B0060]: variant `Access::ReadOnly` changed value from 2 to 0\n",
        ),
        (
            "field.cap",
            "    access: Access,",
            "    access: u2,",
            "error[B0061]: field `access` of cap type `FrameCap` holds a plain value now, `Access` before\n",
        ),
        (
            "param.cap",
            "fn remap(access: Access)",
            "fn remap(access: u2)",
            "error[B0061]: parameter `access` of `FrameCap.remap` holds a plain value now, `Access` before\n",
        ),
    ];
    for (name, from, to, first) in cases {
        edit(name, from, to);
        let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", name]);
        assert_eq!(code, Some(1), "{name}: {stderr}");
        assert!(stderr.starts_with(first), "{name}: {stderr}");
    }
    // The other way round, a plain field made enumerated breaks too.
    let (code, _, stderr) = capc(&s.dir, &["breaking", "field.cap", "old.cap"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error[B0061]: field `access` of cap type `FrameCap` holds `Access` now, a plain value before\n"),
        "{stderr}"
    );
    // A new variant with a value no variant had is compatible.
    edit(
        "added.cap",
        "    KernelOnly = 1,\n",
        "    KernelOnly = 1,\n    Hidden = 0,\n",
    );
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "added.cap"]);
    assert_eq!(code, Some(0), "{stderr}");
}

/// Bitfields (dsl/tests/ui/pass/bitfields.cap): a parameter made plain
/// (B0062), a field moved or removed and a bitfield made strict (B0063);
/// a field added on bits no field held is compatible.
#[test]
fn a_changed_bitfield_breaks() {
    let s = Scratch::new("breaking", "bitfields");
    let spec = std::fs::read_to_string(workspace().join("dsl/tests/ui/pass/bitfields.cap"))
        .expect("bitfields.cap");
    s.write("old.cap", &spec);
    let edit = |name: &str, from: &str, to: &str| {
        assert!(spec.contains(from), "bitfields.cap has `{from}`");
        s.write(name, spec.replace(from, to));
    };
    // `Access` stays declared, used by nothing (so no W0001 comes first).
    s.write(
        "param.cap",
        spec.replace("fn restrict(access: Access,", "fn restrict(access: word,")
            .replace("bitfield Access {", "#[allow(unused)]\nbitfield Access {"),
    );
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "param.cap"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error[B0062]: parameter `access` of `DeviceCap.restrict` holds plain words now, `Access` before\n"),
        "{stderr}"
    );
    let cases = [
        (
            "moved.cap",
            "    #[at(word = 0, bit = 8)]\n    guard: u48,",
            "    #[at(word = 0, bit = 9)]\n    guard: u48,",
            "error[B0063]: field `guard` of bitfield `Guard` changed: `u48` in bits 8..56 of word 0 before, `u48` in bits 9..57 of word 0 now\n",
        ),
        (
            "removed.cap",
            "    flags: u32,\n",
            "",
            "error[B0063]: field `flags` of bitfield `Registers` was removed\n",
        ),
        (
            "strict.cap",
            "/// Rights, one bit each from bit 0.\n",
            "/// Rights, one bit each from bit 0.\n#[strict]\n",
            "error[B0063]: bitfield `Access` became `#[strict]`\n",
        ),
    ];
    for (name, from, to, first) in cases {
        edit(name, from, to);
        let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", name]);
        assert_eq!(code, Some(1), "{name}: {stderr}");
        assert!(stderr.starts_with(first), "{name}: {stderr}");
    }
    // The other way round, a plain parameter made a bitfield breaks too.
    let (code, _, stderr) = capc(&s.dir, &["breaking", "param.cap", "old.cap"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error[B0062]: parameter `access` of `DeviceCap.restrict` holds `Access` now, plain words before\n"),
        "{stderr}"
    );
    // A field on bits no field held is compatible.
    edit(
        "added.cap",
        "    grant: bool,\n",
        "    grant: bool,\n    #[at(word = 0, bit = 8)]\n    audit: bool,\n",
    );
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "added.cap"]);
    assert_eq!(code, Some(0), "{stderr}");
}

/// Typed errors (dsl/tests/ui/pass/typed-errors.cap): a method whose errors
/// move to another set (B0050), a method that stops being idempotent
/// (B0051), a payload value given another type (B0016); a method that
/// becomes idempotent is compatible.
#[test]
fn a_method_changing_its_error_set_or_idempotence_breaks() {
    let (s, spec) = ui_pass_spec("typed-errors", "typed-errors.cap");
    let edit = |name: &str, from: &str, to: &str| {
        assert!(spec.contains(from), "typed-errors.cap has `{from}`");
        s.write(name, spec.replace(from, to));
    };
    edit("set.cap", "errors of DumpOrSprotError;", "errors Flash;");
    edit(
        "idempotent.cap",
        "#[idempotent]\n    fn status()",
        "fn status()",
    );
    edit("payload.cap", "Dump(code: u8)", "Dump(code: u16)");
    edit(
        "more.cap",
        "    fn reset();",
        "    #[idempotent]\n    fn reset();",
    );
    for (name, expected) in [
        (
            "set.cap",
            "error[B0050]: method `SpRot.dump` returns errors of `SprotError`, not `DumpOrSprotError`\n",
        ),
        (
            "idempotent.cap",
            "error[B0051]: method `SpRot.status` is no longer idempotent\n",
        ),
        (
            "payload.cap",
            "error[B0016]: the payload of error `DumpOrSprotError::Dump` changed from (code: u8) to (code: u16)\n",
        ),
    ] {
        let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", name]);
        assert_eq!(code, Some(1), "{name}: {stderr}");
        assert!(stderr.starts_with(expected), "{name}: {stderr}");
    }
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "more.cap"]);
    assert_eq!(code, Some(0), "{stderr}");
}

/// A range type whose range changes changes the layout of every parameter
/// and result of that type (B0013): one side may refuse what the other
/// sends.
#[test]
fn a_range_type_changing_its_range_breaks() {
    let s = Scratch::new("breaking", "range-type");
    let spec =
        std::fs::read_to_string(workspace().join("examples/messages.cap")).expect("messages.cap");
    let from = "type Percent = u8 in 0..=100;";
    assert!(spec.contains(from), "messages.cap has `{from}`");
    s.write("old.cap", &spec);
    s.write(
        "new.cap",
        spec.replace(from, "type Percent = u8 in 0..=90;"),
    );
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "new.cap"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with(
            "error[B0013]: parameter `full` of `Directory.limit` changed: u8 in 0..=100 in message word 0 before, u8 in 0..=90 in message word 0 now\n"
        ),
        "{stderr}"
    );
}

/// Callbacks (dsl/tests/ui/pass/callbacks.cap): an interface that stops
/// being a callback interface (B0058), a parameter that binds another
/// interface or nothing (B0059).
#[test]
fn a_callback_changing_direction_or_binding_breaks() {
    let (s, spec) = ui_pass_spec("callbacks", "callbacks.cap");
    let edit = |name: &str, from: &str, to: &str| {
        assert!(spec.contains(from), "callbacks.cap has `{from}`");
        s.write(name, spec.replace(from, to));
    };
    edit("other.cap", "binds KeyEvents) {", "binds OtherEvents) {");
    let other = std::fs::read_to_string(s.dir.join("other.cap")).expect("written")
        + "\ncallback interface OtherEvents -> Error {\n    fn gone(key: u64);\n}\n";
    s.write("other.cap", other);
    edit(
        "unbound.cap",
        "to: grant cap EndpointCap(write) binds KeyEvents) {\n        server_pays 64;\n        keeps 64;",
        "to: grant cap EndpointCap(write)) {\n        server_pays 64;\n        keeps 64;",
    );
    for (name, expected) in [
        (
            "other.cap",
            "error[B0059]: parameter `to` of `Keys.watch` binds `OtherEvents`, not `KeyEvents`\n",
        ),
        (
            "unbound.cap",
            "error[B0059]: parameter `to` of `Keys.watch` binds nothing, not `KeyEvents`\n",
        ),
    ] {
        let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", name]);
        assert_eq!(code, Some(1), "{name}: {stderr}");
        assert!(stderr.starts_with(expected), "{name}: {stderr}");
    }
    // A callback interface made one clients call: nothing binds it then.
    s.write(
        "plain.cap",
        spec.replace("callback interface KeyEvents", "interface KeyEvents")
            .replace(" binds KeyEvents", ""),
    );
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "plain.cap"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with(
            "error[B0058]: `KeyEvents` changed from a callback interface to an interface clients call\n"
        ),
        "{stderr}"
    );
}

/// A lease whose directions or bound change is a changed parameter
/// (B0013): the server's `Lease` type and the decoder's bound change with
/// them; an unchanged lease is no change.
#[test]
fn a_changed_lease_breaks() {
    let s = Scratch::new("breaking", "lease");
    let spec =
        std::fs::read_to_string(workspace().join("examples/leases.cap")).expect("leases.cap");
    let from = "data: lease(read) [u8; ..=BLOCK_BYTES]";
    assert!(spec.contains(from), "leases.cap has `{from}`");
    s.write("old.cap", &spec);
    s.write("same.cap", &spec);
    s.write(
        "new.cap",
        spec.replace(from, "data: lease(read, write) [u8; ..=BLOCK_BYTES]"),
    );
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "same.cap"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "new.cap"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with(
            "error[B0013]: parameter `data` of `Blocks.write_block` changed: lease FrameCap(read) [u8; ..=512] in message words 1..3 and cap 0 of the message before, lease FrameCap(read, write) [u8; ..=512] in message words 1..3 and cap 0 of the message now\n"
        ),
        "{stderr}"
    );
}

/// A packed parameter (`#[at]`, dsl/tests/ui/pass/packed-parameters.cap)
/// whose bits move changes the message (B0013), though its word does not;
/// the same spec does not.
#[test]
fn a_packed_parameter_moving_within_its_word_breaks() {
    let (s, spec) = ui_pass_spec("packed", "packed-parameters.cap");
    s.write("same.cap", &spec);
    let flags = "#[at(word = 0, bit = 8)] arch_flags: u8";
    assert!(spec.contains(flags));
    s.write(
        "moved.cap",
        spec.replace(flags, "#[at(word = 0, bit = 16)] arch_flags: u8"),
    );
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "same.cap"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "moved.cap"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with(
            "error[B0013]: parameter `arch_flags` of `UntypedCap.read` changed: u8 in bits 8..16 of message word 0 before, u8 in bits 16..24 of message word 0 now\n"
        ),
        "{stderr}"
    );
}

/// Two-way bindings (dsl/tests/ui/pass/session-binds.cap): a session that
/// binds another callback interface, or stops binding one, breaks (B0064);
/// an interface whose sessions start binding one breaks too (a compiled
/// server's `close` hands back no sender).
#[test]
fn a_session_changing_what_it_binds_breaks() {
    let (s, spec) = ui_pass_spec("session-binds", "session-binds.cap");
    let from = "        binds KeyEvents;\n";
    assert!(spec.contains(from), "session-binds.cap has `{from}`");
    s.write(
        "other.cap",
        spec.replace(from, "        binds OtherEvents;\n")
            + "\ncallback interface OtherEvents -> Error {\n    fn gone(key: u64);\n}\n",
    );
    s.write("unbound.cap", spec.replace(from, ""));
    for (old_spec, new_spec, expected) in [
        (
            "old.cap",
            "other.cap",
            "error[B0064]: `Keys`'s sessions bind `OtherEvents`, not `KeyEvents`\n",
        ),
        (
            "old.cap",
            "unbound.cap",
            "error[B0064]: `Keys`'s sessions bind nothing, not `KeyEvents`\n",
        ),
        (
            "unbound.cap",
            "old.cap",
            "error[B0064]: `Keys`'s sessions bind `KeyEvents`, not nothing\n",
        ),
    ] {
        let (code, _, stderr) = capc(&s.dir, &["breaking", old_spec, new_spec]);
        assert_eq!(code, Some(1), "{new_spec}: {stderr}");
        assert!(stderr.starts_with(expected), "{new_spec}: {stderr}");
    }
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "old.cap"]);
    assert_eq!(code, Some(0), "{stderr}");
}

/// seL4's port: a PML4 cap whose base stops being a whole word (a 48-bit
/// sign-extended pointer instead) reads other addresses from its word
/// (B0004), reported with both types.
#[test]
fn a_pointer_losing_whole_word_breaks() {
    let s = Scratch::new("breaking", "whole-word");
    let spec =
        std::fs::read_to_string(workspace().join("examples/sel4/x86_64.cap")).expect("x86_64.cap");
    let whole = "    #[identity] #[object] #[whole_word] #[at(word = 1, bit = 0)]\n    base: ptr(align = 1),\n    #[at(word = 0, bit = 58)]\n    mapped: bool,\n    #[at(word = 0, bit = 0)]\n    mapped_asid: u12,";
    assert!(spec.contains(whole), "the PML4 cap's whole-word base");
    s.write("old.cap", &spec);
    s.write(
        "new.cap",
        spec.replace(whole, &whole.replace("#[whole_word]", "#[sign_extend]")),
    );
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "new.cap"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error[B0004]: field `base` of cap type `Pml4Cap` changed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("#[whole_word] ptr(align = 2^0)")
            && stderr.contains("#[sign_extend] ptr(align = 2^0)"),
        "{stderr}"
    );
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "old.cap"]);
    assert_eq!(code, Some(0), "{stderr}");
}

/// System calls (dsl/tests/ui/pass/syscalls.cap): one renumbered, one
/// needing another flag, one accepting a cap type fewer, one removed
/// (B0053); a call that also receives is compatible.
#[test]
fn a_system_call_renumbered_or_narrowed_breaks() {
    let (s, spec) = ui_pass_spec("syscalls", "syscalls.cap");
    let edit = |name: &str, from: &str, to: &str| {
        assert!(spec.contains(from), "syscalls.cap has `{from}`");
        s.write(name, spec.replace(from, to));
    };
    edit("renumbered.cap", "Recv = -2 {", "Recv = -4 {");
    edit(
        "flag.cap",
        "NotificationCap(can_receive)",
        "NotificationCap(can_receive, can_send)",
    );
    edit(
        "fewer.cap",
        "EndpointCap(write) | NotificationCap(can_send)",
        "EndpointCap(write)",
    );
    edit(
        "removed.cap",
        "    /// Reply to the caller.\n    Reply = -3 {\n        sends;\n    }\n",
        "",
    );
    edit(
        "more.cap",
        "Reply = -3 {\n        sends;",
        "Reply = -3 {\n        sends;\n        receives;",
    );
    for (name, expected) in [
        (
            "renumbered.cap",
            "error[B0053]: system call `Syscall::Recv` is numbered -4, no longer -2\n",
        ),
        (
            "flag.cap",
            "error[B0053]: system call `Syscall::Recv` receives on `NotificationCap` only with `can_send` now\n",
        ),
        (
            "fewer.cap",
            "error[B0053]: system call `Syscall::Call` no longer sends on `NotificationCap`\n",
        ),
        (
            "removed.cap",
            "error[B0053]: system call `Syscall::Reply` was removed\n",
        ),
    ] {
        let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", name]);
        assert_eq!(code, Some(1), "{name}: {stderr}");
        assert!(stderr.starts_with(expected), "{name}: {stderr}");
    }
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "more.cap"]);
    assert_eq!(code, Some(0), "{stderr}");
}

/// seL4's port: a copy condition added (`requires`, `no_children`) or a
/// changed `clears` breaks (B0065): a copy the old code made may now be
/// refused or start from other words; removing a `requires` is compatible.
#[test]
fn a_copy_condition_added_breaks() {
    let s = Scratch::new("breaking", "copy-conditions");
    let spec =
        std::fs::read_to_string(workspace().join("examples/sel4/x86_64.cap")).expect("x86_64.cap");
    let table = "#[copy(requires(mapped))]\n#[tag(3)]\ncap PageTableCap";
    let frame = "#[copy(clears(map_type, mapped_asid))]\n#[tag(1)]\ncap FrameCap";
    let thread = "#[tag(12)]\ncap ThreadCap";
    for from in [table, frame, thread] {
        assert!(spec.contains(from), "x86_64.cap has `{from}`");
    }
    s.write("old.cap", &spec);
    s.write(
        "unrequired.cap",
        spec.replace(table, "#[tag(3)]\ncap PageTableCap"),
    );
    s.write(
        "cleared.cap",
        spec.replace(frame, "#[copy(clears(map_type))]\n#[tag(1)]\ncap FrameCap"),
    );
    s.write(
        "childless.cap",
        spec.replace(thread, "#[copy(no_children)]\n#[tag(12)]\ncap ThreadCap"),
    );
    for (old_spec, new_spec, expected) in [
        (
            "unrequired.cap",
            "old.cap",
            "error[B0065]: cap type `PageTableCap`'s copy conditions changed: `requires(mapped)` was added\n",
        ),
        (
            "old.cap",
            "cleared.cap",
            "error[B0065]: cap type `FrameCap`'s copy conditions changed: `clears` named `map_type`, `mapped_asid` before, `map_type` now\n",
        ),
        (
            "old.cap",
            "childless.cap",
            "error[B0065]: cap type `ThreadCap`'s copy conditions changed: `no_children` was added\n",
        ),
    ] {
        let (code, _, stderr) = capc(&s.dir, &["breaking", old_spec, new_spec]);
        assert_eq!(code, Some(1), "{new_spec}: {stderr}");
        assert!(stderr.starts_with(expected), "{new_spec}: {stderr}");
    }
    let (code, _, stderr) = capc(&s.dir, &["breaking", "old.cap", "unrequired.cap"]);
    assert_eq!(code, Some(0), "{stderr}");
}
