//! `capc build --lang sel4-xml`: seL4's interface XML of a spec's kernel
//! invocations (snapshots in snapshots/sel4-xml/, of a small spec and of
//! examples/sel4/x86_64.cap), and its diagnostics (E0938–E0941) for what
//! seL4's generators cannot number or lay out as capc does. That seL4's
//! generators, run on the export, agree with capc's generated code is
//! `cargo xtask sel4-diff` (xtask/src/sel4diff/invocations.rs).

mod common;

use common::{Scratch, capc, text, workspace};

/// Two cap types' invocations: packed flags, an enumeration, a cap, a
/// one-word and a two-word bitfield, results of each kind.
const SMALL: &str = r#"//! A small spec for `capc build --lang sel4-xml`.

target t {
    address_bits = 48;
    tag_bits = 5;
    message_registers = 4;
    message_words = 32;
    caps_per_message = 3;
}

errors Error {
    Invalid,
}

/// Access rights in one word, as `seL4_CapRights_t`.
bitfield AccessRights {
    read: bool,
    write: bool,
}

/// Two whole words, as `seL4_UserContext`.
bitfield Regs {
    a: u64,
    b: u64,
}

enum Mode: u8 {
    Off = 0,
    On = 1,
}

cap ThingCap {}

cap PortCap {}

invocations ThingCap -> Error {
    fn poke(#[at(word = 0, bit = 0)] on: bool, #[at(word = 0, bit = 8)] mode: Mode, value: word,
            port: cap PortCap, rights: AccessRights) -> (old: u16) {
        errors Invalid;
    }
    fn regs() -> (regs: Regs);
}

#[label_base(3)]
invocations PortCap -> Error {
    fn read(port: u16) -> (value: u32);
}
"#;

/// `capc build --lang sel4-xml` of `spec` (written as `name.cap` in a
/// scratch directory): its exit code, stdout and stderr.
fn export(test: &str, name: &str, spec: &str) -> (i32, String, String) {
    let scratch = Scratch::new("sel4_xml", test);
    scratch.write(&format!("{name}.cap"), spec);
    let out = capc(
        &scratch.dir,
        &["build", "--lang", "sel4-xml", &format!("{name}.cap")],
    );
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[test]
fn snapshot_of_a_small_spec() {
    let (code, xml, stderr) = export("small", "small", SMALL);
    assert_eq!(code, 0, "{stderr}");
    insta::with_settings!({
        snapshot_path => workspace().join("snapshots/sel4-xml"),
        prepend_module_to_snapshot => false,
    }, {
        insta::assert_snapshot!("small", xml);
    });
}

#[test]
fn snapshot_of_sel4s_x86_64_spec() {
    let spec = workspace().join("examples/sel4/x86_64.cap");
    let out = capc(
        &workspace(),
        &["build", "--lang", "sel4-xml", &spec.to_string_lossy()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let xml = text(&out.stdout);
    assert!(
        !xml.contains(&*workspace().to_string_lossy()),
        "an absolute path"
    );
    // seL4's generators number methods by position: every label 1 to 52
    // once, in order.
    let ids: Vec<&str> = xml
        .lines()
        .filter_map(|l| l.trim().strip_prefix("<method id=\""))
        .collect();
    assert_eq!(ids.len(), 52);
    assert!(ids[0].starts_with("UntypedCapRetype\""));
    assert!(ids[51].starts_with("IrqControlCapGetMsi\""));
    insta::with_settings!({
        snapshot_path => workspace().join("snapshots/sel4-xml"),
        prepend_module_to_snapshot => false,
    }, {
        insta::assert_snapshot!("x86_64", xml);
    });
}

#[test]
fn the_export_is_written_with_o_and_is_the_same_twice() {
    let scratch = Scratch::new("sel4_xml", "dash_o");
    scratch.write("small.cap", SMALL);
    for _ in 0..2 {
        let out = capc(
            &scratch.dir,
            &[
                "build",
                "--lang",
                "sel4-xml",
                "small.cap",
                "-o",
                "small.xml",
            ],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let written = std::fs::read_to_string(scratch.path("small.xml")).expect("written");
    assert_eq!(written, export("dash_o_stdout", "small", SMALL).1);
}

/// Each change of the small spec and the diagnostic the export refuses
/// it with (exit code 1, nothing on stdout): its code, message, the line
/// of its span (the first line with `at`) and its hint, in JSON and as
/// the human report.
#[test]
fn what_sel4s_generators_cannot_say_is_a_diagnostic() {
    let cases = [
        (
            "#[label_base(3)]",
            "#[label_base(4)]",
            "E0939",
            "`PortCap.read` has label 4, but seL4's generators would number it 3: they number methods 1, 2, 3, ... in order, so labels must have no gaps",
            "fn read(",
            "number the kernel invocations 1, 2, 3, ... with no gap: this one's label would be 3",
        ),
        (
            "#[label_base(3)]",
            "#[label_base(2)]",
            "E0938",
            "`ThingCap.regs` and `PortCap.read` both have label 2: seL4's generators give each method its own position",
            "fn read(",
            "give each kernel invocation its own label: seL4's generators number methods 1, 2, 3, ... by their place in the file",
        ),
        (
            "#[at(word = 0, bit = 8)] mode",
            "mode",
            "E0940",
            "`ThingCap.poke`: parameter `mode` is at word 1, bit 0 in capc's request, but seL4's stubs put it at word 0, bit 8",
            "fn poke(",
            "give it `#[at(word = 0, bit = 8)]`",
        ),
        (
            "value: word,",
            "value: u12,",
            "E0941",
            "`ThingCap.poke`: parameter `value` is a u12, which seL4's stub generator has no type for (it knows bool, u8, u16, u32, u64 and word)",
            "fn poke(",
            "make it a `u8`, `u16`, `u32`, `u64`, `word` or `bool`",
        ),
        (
            "fn read(port: u16) -> (value: u32);",
            "fn read(port: u16) -> (value: u32, table: [u8; 16]);",
            "E0941",
            "`PortCap.read`: result `table` is an array, which seL4's interface XML cannot say",
            "fn read(",
            "pass it as words (`word`, `u64`) or a bitfield, or leave this method out of the export",
        ),
        (
            "fn regs() -> (regs: Regs);",
            "fn regs() -> (regs: Regs, port: cap PortCap);",
            "E0941",
            "`ThingCap.regs`: result `port` is a cap, which seL4's interface XML cannot return",
            "fn regs(",
            "return the cap into a slot the caller names (a CNode cap parameter) instead",
        ),
    ];
    for (i, (from, to, code, message, at, help)) in cases.into_iter().enumerate() {
        assert!(SMALL.contains(from), "{from}");
        let spec = SMALL.replacen(from, to, 1);
        let line = spec.lines().position(|l| l.contains(at)).expect("marker") + 1;
        let scratch = Scratch::new("sel4_xml", &format!("refused{i}"));
        scratch.write("bad.cap", &spec);
        let out = capc(
            &scratch.dir,
            &[
                "build",
                "--lang",
                "sel4-xml",
                "--message-format",
                "json",
                "bad.cap",
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{to}: {}", text(&out.stderr));
        assert!(out.stdout.is_empty(), "{to}");
        let stderr = text(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{to}: one diagnostic\n{stderr}");
        let json: serde_json::Value = serde_json::from_str(&stderr).expect("JSON");
        assert_eq!(json["code"], code, "{to}");
        assert_eq!(json["severity"], "error", "{to}");
        assert_eq!(json["message"], message, "{to}");
        assert_eq!(json["file"], "bad.cap", "{to}");
        assert_eq!(json["line"], line, "{to}: {stderr}");
        assert_eq!(json["help"], help, "{to}");
        // The human report: the code, the span's line, the hint.
        let (code_h, _, human) = export(&format!("refused{i}_human"), "bad", &spec);
        assert_eq!(code_h, 1, "{to}");
        assert!(
            human.starts_with(&format!("error[{code}]: {message}\n")),
            "{human}"
        );
        assert!(human.contains(&format!("bad.cap:{line}:")), "{human}");
        assert!(human.contains(&format!("= help: {help}")), "{human}");
    }
}
