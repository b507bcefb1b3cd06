//! The generated `derive` and `split` of dsl/tests/ui/pass/derive.cap
//! (a `#[multiple]` rule, a one-at-a-time rule, a splitting rule), compiled
//! with rustc together with a `main` that calls them and exits non-zero on
//! the first answer that is not the documented one. The Barrelfish port
//! (codegen/generated-tests/tests/barrelfish.rs) has only `#[multiple]`
//! rules; this covers the rest of `derive`'s checks.

mod common;

use capc::{Options, render_spec};
use common::{Scratch, workspace};
use std::process::Command;

/// Calls of the generated module, each `check(...)` a claim about one
/// answer.
const MAIN: &str = r#"
fn check(ok: bool, what: &str) {
    if !ok {
        eprintln!("wrong: {what}");
        std::process::exit(1);
    }
}

fn main() {
    let frame = FrameCap::new(0x10_0000, 13, Rights::READ).unwrap().cap();
    let manager = TokenManager::new().unwrap().cap();

    // `#[multiple]`: derived caps already there do not matter.
    let mapping = derive(frame, CapType::FrameMapping, true).unwrap();
    let view = FrameMapping::from_cap(mapping).unwrap();
    check(view.base() == 0x10_0000 && view.bits() == 13, "the frame's object");
    check(view.rights() == Rights::READ, "rights within the source's and the type's");
    check(view.entry() == 0, "other fields 0");
    check(is_ancestor(frame, mapping) && !is_ancestor(mapping, frame), "parent and child");

    // One token at a time.
    let token = derive(manager, CapType::Token, false).unwrap();
    check(is_ancestor(manager, token), "a manager's token");
    check(
        derive(manager, CapType::Token, true) == Err(DeriveError::RevokeFirst),
        "a second token",
    );
    check(
        derive(frame, CapType::Token, false) == Err(DeriveError::IllegalOperation),
        "a token from a frame",
    );
    check(
        derive(mapping, CapType::FrameMapping, false) == Err(DeriveError::IllegalOperation),
        "a mapping from a mapping",
    );
    check(
        derive(frame, CapType::FrameCap, false) == Err(DeriveError::IllegalOperation),
        "derive does not split",
    );

    // Splitting the 8 KiB frame into two pages.
    let pieces = split(frame, 12, 2, false).unwrap();
    check(pieces.first == 0x10_0000 && pieces.size_bits == 12, "the placement");
    let second = FrameCap::from_cap(pieces.cap(1).unwrap()).unwrap();
    check(second.base() == 0x10_1000 && second.bits() == 12, "the second page");
    check(second.rights() == Rights::READ, "the source's rights");
    check(pieces.cap(2).is_none(), "two pieces");
    check(is_ancestor(frame, second.cap()) && !is_copy(frame, second.cap()), "a piece");
    check(split(frame, 12, 1, true) == Err(DeriveError::RevokeFirst), "split once");
    check(
        split(frame, 13, 1, false) == Err(DeriveError::InvalidArgument { index: 1 }),
        "pieces smaller than the frame",
    );
    check(
        split(frame, 12, 3, false) == Err(DeriveError::RangeError { min: 1, max: 2 }),
        "as many as fit",
    );
    check(split(manager, 12, 1, false) == Err(DeriveError::IllegalOperation), "a manager");
    check(
        CapType::FrameCap.splits() && !CapType::FrameMapping.splits(),
        "which types split",
    );
    check(DERIVE_RULES.len() == 3, "three rules");
}
"#;

#[test]
fn generated_derive_and_split_answer_as_documented() {
    let path = workspace().join("dsl/tests/ui/pass/derive.cap");
    let (module, _) = render_spec(&path, &Options::default()).expect("derive.cap checks");
    let scratch = Scratch::new("derive", "generated");
    let rs = scratch.path("derive_main.rs");
    std::fs::write(&rs, format!("{module}\n{MAIN}")).unwrap();
    let out = Command::new(std::env::var("RUSTC").unwrap_or("rustc".into()))
        .args(["--edition", "2024", "-D", "warnings", "-o"])
        .arg(scratch.path("derive_main"))
        .arg(&rs)
        .output()
        .expect("rustc runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(scratch.path("derive_main"))
        .output()
        .expect("the program runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}
