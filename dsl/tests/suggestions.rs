//! Diagnostics whose fix is one replacement carry it as a suggestion (the
//! JSON output and the language server's code actions offer it).

use std::path::Path;

use capc_dsl::diag::Applicability;
use capc_dsl::{MemoryLoader, compile};

const TARGET: &str = "target t {
    address_bits = 48;
    tag_bits = 5;
    message_registers = 4;
    message_words = 16;
    caps_per_message = 2;
}
";

/// The (code, replaced text, replacement) of every suggestion for `spec`.
fn suggestions(spec: &str) -> Vec<(String, String, String)> {
    let c = compile(Path::new("s.cap"), &MemoryLoader::new().with("s.cap", spec)).unwrap();
    c.diagnostics
        .iter()
        .flat_map(|d| {
            d.suggestions.iter().map(|s| {
                assert_eq!(s.applicability, Applicability::MachineApplicable);
                // The text form shows the fix as rustc does: the help names
                // the replacement (`help: did you mean `PAGE`?`).
                let rendered = capc_dsl::diag::render(&c.sources, d);
                assert!(
                    rendered.contains("= help: did you mean `")
                        && (rendered.contains(&format!("`{}`", s.replacement))
                            || rendered.contains(&format!("`#[{}]`", s.replacement))),
                    "the help does not show the replacement `{}`:\n{rendered}",
                    s.replacement
                );
                (
                    d.code.as_str().to_string(),
                    c.sources.snippet(s.span).to_string(),
                    s.replacement.clone(),
                )
            })
        })
        .collect()
}

fn triple(code: &str, from: &str, to: &str) -> (String, String, String) {
    (code.to_string(), from.to_string(), to.to_string())
}

#[test]
fn a_misspelt_constant() {
    let spec = format!("{TARGET}const PAGE = 4096;\nconst TWO = 2 * PGE;\n");
    assert_eq!(suggestions(&spec), [triple("E0100", "PGE", "PAGE")]);
}

#[test]
fn a_type_in_the_wrong_case() {
    let spec = format!("{TARGET}object Thing {{ size = 16; }}\ncap ThingCap for thing {{}}\n");
    assert_eq!(suggestions(&spec), [triple("E0100", "thing", "Thing")]);
}

#[test]
fn a_misspelt_right() {
    let spec = format!(
        "{TARGET}rights {{ read }}\nobject Thing {{ size = 16; }}\ncap ThingCap for Thing {{ #[identity] #[object] p: ptr(align = 16), r: rights(reed) }}\n"
    );
    assert_eq!(suggestions(&spec), [triple("E0100", "reed", "read")]);
}

#[test]
fn a_misspelt_setting() {
    let spec = TARGET.replace("tag_bits", "tagbits");
    assert_eq!(suggestions(&spec), [triple("E0104", "tagbits", "tag_bits")]);
}

#[test]
fn a_misspelt_attribute() {
    let spec = format!(
        "{TARGET}object Thing {{ size = 16; }}\ncap ThingCap for Thing {{ #[identty] #[object] p: ptr(align = 16) }}\n"
    );
    assert_eq!(suggestions(&spec), [triple("E0103", "identty", "identity")]);
}

#[test]
fn a_cap_type_where_its_object_is_meant() {
    let spec = format!(
        "{TARGET}untyped U(bits in 4..=47) {{ size = 1 << bits; }}\ncap UCap for U {{ #[identity] #[object] base: ptr(align = 16), #[identity] #[size_arg] bits: u6, #[watermark(unit = 16)] free_index: u44 }}\nretype UCap {{ into = UCap; fan_out = 2; }}\n"
    );
    assert_eq!(suggestions(&spec), [triple("E0102", "UCap", "U")]);
}
