//! The generated code of dsl/tests/ui/pass/whole-word-pointers.cap (two
//! `#[whole_word]` pointers: one placed in word 1, one placed by capc),
//! compiled with rustc together with a `main` that checks the getters,
//! setters, `new`, `region`, `cap_for` and `retype` on them and exits
//! non-zero on the first answer that is not the documented one.

mod common;

use capc::{Options, render_spec};
use common::{Scratch, rustc_run, workspace};

const MAIN: &str = r#"
fn check(ok: bool, what: &str) {
    if !ok {
        eprintln!("wrong: {what}");
        std::process::exit(1);
    }
}

fn main() {
    // The address as it is, in the whole of word 1: a kernel address
    // (above 2^48, not what a 48-bit pointer holds) included.
    let kernel = 0xffff_ff80_0040_3000;
    let mut pml4 = Pml4Cap::new(kernel, 0x123).unwrap();
    check(pml4.cap().words() == [Pml4Cap::TAG << 59 | 0x123, kernel], "word 1 is the address");
    check(pml4.base() == kernel, "read back as set");
    check(
        pml4.set_base(kernel + 0x800) == Err(FieldError { field: "base", value: kernel + 0x800 }),
        "misaligned refused",
    );
    check(pml4.base() == kernel, "a refused value changes nothing");
    check(Pml4Cap::new(0x1001, 0).is_err(), "new refuses a misaligned address");
    check(region(pml4.cap()) == Some((kernel, 4096)), "region at the address");

    // Placed by capc: the word nothing else uses.
    let vcpu = VcpuCap::new(u64::MAX).unwrap();
    check(vcpu.cap().words() == [VcpuCap::TAG << 59, u64::MAX], "every bit");
    check(vcpu.vcpu() == u64::MAX, "every bit read back");

    // What retype makes.
    let made = ObjectType::Vcpu.cap_for(0x40_4000, 0, false).and_then(VcpuCap::from_cap);
    check(made.map(VcpuCap::vcpu) == Some(0x40_4000), "cap_for");
    let untyped = UntypedCap::new(0x40_0000, 14, 0).unwrap();
    let placement = retype(
        untyped.cap(),
        false,
        &RetypeRequest { object_type: ObjectType::Pml4 as u64, size_arg: 0, offset: 0, count: 4 },
        Some(Destination { slots: 4 }),
        |_| true,
    )
    .unwrap();
    let last = Pml4Cap::from_cap(placement.cap(3, false).unwrap()).unwrap();
    check(last.cap().words() == [Pml4Cap::TAG << 59, 0x40_3000], "retype's fourth PML4");
}
"#;

#[test]
fn generated_whole_word_pointers_answer_as_documented() {
    let path = workspace().join("dsl/tests/ui/pass/whole-word-pointers.cap");
    let (module, _) = render_spec(&path, &Options::default()).expect("the spec checks");
    let scratch = Scratch::new("whole_word", "generated");
    rustc_run(&scratch, "whole_word_main", &format!("{module}\n{MAIN}"));
}
