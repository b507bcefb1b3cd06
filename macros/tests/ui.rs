//! trybuild tests of the proc macros: programs that must compile and run,
//! and programs that must fail with the committed compiler output
//! (tests/ui/*.stderr; regenerate with TRYBUILD=overwrite).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/include_and_derive.rs");
    t.pass("tests/ui/include_configured.rs");
    t.compile_fail("tests/ui/unknown_configuration.rs");
    t.pass("tests/ui/include_sessions.rs");
    t.compile_fail("tests/ui/too_large.rs");
    t.compile_fail("tests/ui/too_large_for_slots.rs");
    t.compile_fail("tests/ui/unknown_object.rs");
    t.compile_fail("tests/ui/spec_syntax_error.rs");
    t.compile_fail("tests/ui/spec_semantic_error.rs");
    t.compile_fail("tests/ui/spec_rust_name.rs");
    t.compile_fail("tests/ui/not_a_struct.rs");
    t.pass("tests/ui/include_externs.rs");
    t.compile_fail("tests/ui/extern_unknown.rs");
    t.compile_fail("tests/ui/wrong_cap_slot.rs");
}
