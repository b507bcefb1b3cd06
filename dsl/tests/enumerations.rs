//! Enumerations (dsl/tests/ui/pass/enumerations.cap) in the model: values
//! counted on or given, and a variant kept only in its configuration (the
//! reference interpreter's use of them: interp/tests/enumerations.rs).

use std::path::Path;

use capc_dsl::model::Spec;

fn spec(options: &[&str]) -> Spec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/pass/enumerations.cap");
    let options: Vec<String> = options.iter().map(|o| o.to_string()).collect();
    capc_dsl::compile_with(&path, &capc_dsl::FsLoader, &options)
        .expect("readable")
        .spec
        .expect("enumerations.cap checks clean")
}

fn values(spec: &Spec, name: &str) -> Vec<(String, u64)> {
    let e = spec
        .enumerations
        .iter()
        .find(|e| e.name == name)
        .expect("declared");
    e.values.iter().map(|v| (v.name.clone(), v.value)).collect()
}

#[test]
fn values_are_counted_on_and_configured() {
    let plain = spec(&[]);
    let huge = spec(&["huge"]);
    let named = |list: &[(&str, u64)]| -> Vec<(String, u64)> {
        list.iter().map(|(n, v)| (n.to_string(), *v)).collect()
    };
    assert_eq!(
        values(&plain, "FrameSize"),
        named(&[("Small", 0), ("Large", 1)])
    );
    assert_eq!(
        values(&huge, "FrameSize"),
        named(&[("Small", 0), ("Large", 1), ("Huge", 2)])
    );
    assert_eq!(
        values(&plain, "Access"),
        named(&[("ReadWrite", 3), ("ReadOnly", 2), ("KernelOnly", 1)])
    );
    let frame = &plain.caps[plain.cap("FrameCap").unwrap().index()];
    assert_eq!(
        frame.fields[1].values,
        Some(capc_dsl::model::EnumerationId(0))
    );
    assert_eq!(frame.fields[1].width, 2);
    let method = &plain.invocations[0].methods[0];
    assert_eq!(
        method.params[0].values,
        Some(capc_dsl::model::EnumerationId(1))
    );
}

/// What an enumeration is not: a variant's attribute other than `#[cfg]`
/// (`E0404`), a type in an RPC interface or a message type (`E0102`), a
/// `uN` wider than 64 bits (`E0401`), an enumeration without variants
/// (`E0721`).
#[test]
fn misuse_has_codes() {
    let base = "target t {\n    address_bits = 48;\n    tag_bits = 5;\n    message_registers = 4;\n    message_words = 8;\n    caps_per_message = 2;\n}\n#[allow(unused)]\nerrors E { Failed }\n";
    let codes = |extra: &str| -> Vec<capc_dsl::Code> {
        capc_dsl::compile_str("e.cap", &format!("{base}{extra}"))
            .diagnostics
            .iter()
            .map(|d| d.code)
            .collect()
    };
    use capc_dsl::Code;
    let held = "#[allow(unused)]\ncap ModeCap {\n    mode: Mode,\n}\n";
    assert_eq!(codes(&format!("enum Mode: u2 {{ A, B }}\n{held}")), []);
    assert_eq!(
        codes(&format!("enum Mode: u2 {{ #[identity] A, B }}\n{held}")),
        [Code::AttributeMisuse]
    );
    assert_eq!(
        codes("enum Mode: u2 { A, B }\ninterface Store -> E {\n    fn get(mode: Mode);\n}\n"),
        [Code::WrongKind]
    );
    assert_eq!(
        codes(
            "enum Mode: u2 { A, B }\nstruct Pair { mode: Mode }\ninterface Store -> E {\n    fn get(pair: Pair);\n}\n"
        ),
        [Code::WrongKind]
    );
    assert_eq!(
        codes(&format!("enum Mode: u65 {{ A }}\n{held}")),
        [Code::FieldWidth]
    );
    assert_eq!(
        codes(&format!("enum Mode: u2 {{}}\n{held}")),
        [Code::EmptyEnum]
    );
    // A kernel invocation takes it; a cap type is not one.
    assert_eq!(
        codes(&format!(
            "enum Mode: u2 {{ A, B }}\n{held}invocations ModeCap -> E {{\n    fn set(mode: Mode) -> (old: Mode);\n}}\n"
        )),
        []
    );
    assert_eq!(
        codes("#[allow(unused)]\ncap ModeCap {\n    mode: ModeCap,\n}\n"),
        [Code::WrongKind]
    );
}
