//! The generated `derive` and `split` of dsl/tests/ui/pass/derive.cap
//! (a `#[multiple]` rule, a one-at-a-time rule, a splitting rule), compiled
//! with rustc together with a `main` that calls them and exits non-zero on
//! the first answer that is not the documented one. The Barrelfish port
//! (codegen/generated-tests/tests/barrelfish.rs) has only `#[multiple]`
//! rules; this covers the rest of `derive`'s checks.

mod common;

use capc::{Options, render_spec};
use common::{Scratch, rustc_run, workspace};

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
    rustc_run(&scratch, "derive_main", &format!("{module}\n{MAIN}"));
}

/// A spec whose only derivation rule splits (with `#[at_offset]`), whose
/// retype rule has `#[at_offset]`, and whose kernel object's cap holds a
/// kernel-virtual pointer: its module once did not compile (`derive` was a
/// `match` of one unreachable arm, `is_derived_from` left its argument
/// unused; found by rust_names.rs's random specs). Its guarded cap holds
/// its size in bytes (`with_cap_data` reads the radix as their log2).
/// Compiled with a `main` that calls `derive`, `split_at`, `retype_at`,
/// `region` and `with_cap_data`.
const SPLIT_ONLY: &str = "target t {
    address_bits = 64;
    tag_bits = 4;
    message_registers = 1;
    message_words = 4;
    caps_per_message = 0;
}

untyped Untyped(bits in 12..=20) {
    size = 1 << bits;
}

cap UntypedCap for Untyped {
    #[identity] #[object]
    base: ptr(align = 16),
    #[identity] #[size_arg]
    bits: u5,
    #[watermark(unit = 16)]
    free: u20,
}

frame Frame(bits in 12..=14) {
    size = 1 << bits;
}

cap FrameCap for Frame {
    #[identity] #[object]
    base: ptr(align = 4096),
    #[identity] #[size_arg]
    bits: u4,
}

object Block {
    size = 64;
}

cap BlockCap for Block {
    #[identity] #[object(virtual_offset = 0xffff800000000000)]
    block: ptr(align = 16),
}

/// Its size in bytes, with a guard: `with_cap_data` reads the radix as
/// log2 of the bytes.
cap GuardedCap for Frame {
    #[identity] #[object]
    base: ptr(align = 4096),
    #[identity] #[size_arg(bytes)]
    bytes: u15,
    #[guard_bits]
    guard_bits: u6,
    #[guard]
    guard: u16,
}

#[at_offset]
retype UntypedCap {
    into = Frame | Block;
    fan_out = 4;
}

#[at_offset]
derive FrameCap from FrameCap;
";

const SPLIT_ONLY_MAIN: &str = r#"
fn check(ok: bool, what: &str) {
    if !ok {
        eprintln!("wrong: {what}");
        std::process::exit(1);
    }
}

fn main() {
    let frame = FrameCap::new(0x10_0000, 14).unwrap().cap();
    check(
        derive(frame, CapType::FrameCap, false) == Err(DeriveError::IllegalOperation),
        "no rule derives one type from another",
    );
    check(!CapType::FrameCap.is_derived_from(CapType::FrameCap), "not derived");
    let pieces = split_at(frame, 12, 0x2000, 2, |_, _| false).unwrap();
    check(pieces.first == 0x10_2000 && pieces.count == 2, "pieces from the offset");
    check(
        split_at(frame, 12, 0x2000, 1, |first, bytes| first == 0x10_2000 && bytes == 0x1000)
            == Err(DeriveError::RevokeFirst),
        "the pieces' bytes asked",
    );
    check(
        split_at(frame, 13, 0x1000, 1, |_, _| false) == Err(DeriveError::InvalidArgument { index: 2 }),
        "a misaligned offset",
    );
    let untyped = UntypedCap::new(0x20_0000, 16, 0).unwrap().cap();
    let request = RetypeRequest {
        object_type: ObjectType::Block as u64,
        size_arg: 0,
        offset: 0,
        count: 2,
    };
    let cnode = Some(Destination { slots: 4 });
    let placed = retype_at(untyped, false, &request, 0x400, cnode, |_| true, |_, _| false).unwrap();
    check(placed.first == 0x20_0400 && placed.new_watermark == 0x480, "placed at the offset");
    let block = placed.cap(1, false).unwrap();
    check(
        BlockCap::from_cap(block).unwrap().block() == 0xffff_8000_0020_0440,
        "a kernel-virtual pointer",
    );
    check(region(block) == Some((0x20_0440, 64)), "its physical region");
    check(is_ancestor(untyped, block), "within the untyped memory");
    let guarded = GuardedCap::new(0x30_0000, 1 << 13, 0, 0).unwrap();
    check(region(guarded.cap()) == Some((0x30_0000, 1 << 13)), "a size in bytes");
    check(guarded.with_cap_data(52).is_none(), "52 guard bits and radix 13 pass 64");
    let minted = guarded.with_cap_data(51 | 0x5 << 6).unwrap();
    check(minted.guard_bits() == 51 && minted.guard() == 5, "51 and 13 fit");
    check(
        retype_at(untyped, false, &request, 0x404, cnode, |_| true, |_, _| false)
            == Err(RetypeError::AlignmentError),
        "a misaligned offset",
    );
    check(
        retype_at(untyped, true, &request, 0x400, cnode, |_| true, |_, _| true)
            == Err(RetypeError::RevokeFirst),
        "live memory there",
    );
}
"#;

#[test]
fn a_spec_that_only_splits_generates_code_that_compiles_and_runs() {
    let scratch = Scratch::new("derive", "split-only");
    let spec = scratch.path("split_only.cap");
    std::fs::write(&spec, SPLIT_ONLY).unwrap();
    let (module, _) = render_spec(&spec, &Options::default()).expect("the spec checks");
    rustc_run(
        &scratch,
        "split_only_main",
        &format!("{module}\n{SPLIT_ONLY_MAIN}"),
    );
}
