//! Creation invocations (`creates CapType(field = param) in root;`): the
//! model records the created cap type, the destination parameter and the
//! fields set from parameters; misuse is reported with its code.

use capc_dsl::{Code, compile_str};

const BASE: &str = r#"
target test {
    address_bits = 48;
    tag_bits = 5;
    message_registers = 4;
    message_words = 16;
    caps_per_message = 2;
}

untyped Untyped(bits in 4..=47) {
    size = 1 << bits;
}

cap UntypedCap for Untyped {
    #[identity] #[object] base: ptr(align = 16),
    #[size_arg] bits: u6,
    #[watermark(unit = 16)] free_index: u44,
}

object CNode(radix in 1..=24) {
    size = 1 << (radix + 5);
}

cap CNodeCap for CNode {
    #[identity] #[object] cnode: ptr(align = 32),
    #[size_arg] radix: u5,
    #[guard] guard: u32,
}

retype UntypedCap {
    into = Untyped | CNode;
    fan_out = 256;
}

errors Error {
    Invalid,
}

#[never_copy]
cap PortControlCap {}

cap PortCap {
    first: u16,
    last: u16,
    open: bool,
}

#[multiple]
derive PortCap from PortControlCap;
"#;

fn codes(extra: &str) -> Vec<Code> {
    let c = compile_str("creates.cap", &format!("{BASE}{extra}"));
    c.diagnostics.iter().map(|d| d.code).collect()
}

#[test]
fn the_model_records_the_creation() {
    let c = compile_str(
        "creates.cap",
        &format!(
            "{BASE}
invocations PortControlCap -> Error {{
    fn issue(first: word, last: u16, root: cap CNodeCap, index: word, depth: u8) {{
        creates PortCap(last = last, first = first) in root;
    }}
    fn other();
}}
"
        ),
    );
    let rendered = c.render();
    let spec = c.spec.unwrap_or_else(|| panic!("{rendered}"));
    let set = &spec.invocations[0];
    let creation = set.methods[0].creates.as_ref().expect("creates");
    let port = spec.cap("PortCap").expect("PortCap");
    assert_eq!(creation.cap, port);
    assert_eq!(set.methods[0].params[creation.into].name, "root");
    // `last` (field 1) from parameter 1, `first` (field 0) from parameter 0,
    // in the order written; `open` is left 0.
    assert_eq!(creation.fields, [(1, 1), (0, 0)]);
    assert!(set.methods[1].creates.is_none());
}

#[test]
fn misuse_has_codes() {
    let method = |clause: &str| {
        format!(
            "invocations PortControlCap -> Error {{\n    fn issue(first: word, on: bool, root: cap CNodeCap, index: word) {{\n        {clause}\n    }}\n}}\n"
        )
    };
    assert_eq!(
        codes(&method("creates PortCap(first = first) in root;")),
        []
    );
    assert_eq!(
        codes(&method("creates PortCap(first = on) in root;")),
        [Code::CreationField]
    );
    assert_eq!(
        codes(&method("creates PortCap(open = first) in root;")),
        [Code::CreationField]
    );
    assert_eq!(
        codes(&method("creates PortCap(open = on, open = on) in root;")),
        [Code::DuplicateName]
    );
    assert_eq!(
        codes(&method("creates PortCap(nope = first) in root;")),
        [Code::UnknownName]
    );
    assert_eq!(
        codes(&method("creates PortCap(first = nope) in root;")),
        [Code::UnknownName]
    );
    assert_eq!(
        codes(&method("creates PortCap in first;")),
        [Code::CreationDestination]
    );
    assert_eq!(
        codes(&method("creates PortCap in nowhere;")),
        [Code::CreationDestination]
    );
    assert_eq!(codes(&method("creates Nope in root;")), [Code::UnknownName]);
    assert_eq!(
        codes(&method(
            "creates PortCap in root;\n        creates PortCap in root;"
        )),
        [Code::DuplicateStatement]
    );
    // A destination whose own type is wrong is reported once, as that.
    assert_eq!(
        codes(
            "invocations PortControlCap -> Error {\n    fn issue(root: cap NoSuchCap) {\n        creates PortCap in root;\n    }\n}\n"
        ),
        [Code::UnknownName]
    );
    // Only the kernel creates caps.
    let interface = "interface Broker -> Error {\n    fn issue(root: lend cap CNodeCap) {\n        creates PortCap in root;\n    }\n}\n";
    assert_eq!(codes(interface), [Code::NotValidHere]);
}

/// An enumerated field is set from a parameter of its enumeration only,
/// and such a parameter sets only a field of its enumeration (`E0446`).
#[test]
fn enumerated_fields_take_their_enumeration() {
    let text = |field: &str, param: &str, set: &str| {
        format!(
            "enum Mode: u2 {{ Open = 1, Shut = 2 }}\n#[allow(unused)]\nenum Other: u2 {{ A = 1 }}\n\
             cap ModeCap {{\n    {field}\n}}\n#[multiple]\nderive ModeCap from PortControlCap;\n\
             invocations PortControlCap -> Error {{\n    fn issue({param}, root: cap CNodeCap) {{\n        creates ModeCap({set}) in root;\n    }}\n}}\n"
        )
    };
    assert_eq!(codes(&text("mode: Mode,", "mode: Mode", "mode = mode")), []);
    assert_eq!(
        codes(&text("mode: Mode,", "mode: u2", "mode = mode")),
        [Code::CreationField]
    );
    assert_eq!(
        codes(&text("mode: u2,", "mode: Mode", "mode = mode")),
        [Code::CreationField]
    );
    assert_eq!(
        codes(&text(
            "mode: Mode,\n    other: Other,",
            "mode: Other",
            "mode = mode"
        )),
        [Code::CreationField]
    );
}
