//! The C header's accessors against the Rust module's, on kernel.cap: for
//! random caps of every cap type, every getter must read the same value in
//! both, and every setter must accept or refuse the same values and leave
//! the same words. The C side is `kernel.h` called through a harness
//! (`c_harness.c`) that build.rs generates and compiles with the system C
//! compiler; the Rust side the same dispatch over the generated views.

use capc_generated_tests::kernel::{Cap, target};
use proptest::prelude::*;
use proptest::sample::Index;

/// What build.rs generated from kernel.cap: `FIELDS`, `rust_get`, `rust_set`.
mod dispatch {
    use capc_generated_tests::kernel::*;
    include!(concat!(env!("OUT_DIR"), "/c_fields.rs"));
}
use dispatch::{FIELDS, rust_get, rust_set};

unsafe extern "C" {
    fn capc_c_get(tag: u32, field: u32, words: *const u64) -> u64;
    fn capc_c_set(tag: u32, field: u32, words: *mut u64, value: u64) -> i32;
}

fn c_get(tag: u32, field: u32, words: [u64; target::CAP_WORDS]) -> u64 {
    // SAFETY: the harness reads CAP_WORDS words from `words`.
    unsafe { capc_c_get(tag, field, words.as_ptr()) }
}

fn c_set(tag: u32, field: u32, words: &mut [u64; target::CAP_WORDS], value: u64) -> bool {
    // SAFETY: the harness reads and writes CAP_WORDS words of `words`.
    let ok = unsafe { capc_c_set(tag, field, words.as_mut_ptr(), value) };
    assert!(
        ok == 0 || ok == 1,
        "the harness has no field {field} of tag {tag}"
    );
    ok == 1
}

/// Words of a cap with `tag`: random bits above the tag.
fn cap_words(tag: u32, raw: [u64; target::CAP_WORDS]) -> [u64; target::CAP_WORDS] {
    let mut words = raw;
    let tag_mask = (1u64 << target::TAG_BITS) - 1;
    words[0] = (words[0] & !tag_mask) | u64::from(tag);
    words
}

/// Values for setters: anything, small numbers, powers of two and their
/// neighbours, and aligned addresses, so that both accepted and refused
/// values are common.
fn values() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        0u64..64,
        (0u32..64).prop_map(|b| 1u64 << b),
        (0u32..64).prop_map(|b| (1u64 << b).wrapping_sub(1)),
        (any::<u64>(), 0u32..22).prop_map(|(v, a)| (v >> 16) & !((1u64 << a) - 1)),
    ]
}

fn check(field: &(u32, u32, &str), raw: [u64; target::CAP_WORDS], value: u64) {
    let &(tag, index, name) = field;
    let words = cap_words(tag, raw);
    let cap = Cap::from_words(words);
    // Every field of this cap type reads the same in both.
    for &(t, i, other) in FIELDS.iter().filter(|f| f.0 == tag) {
        assert_eq!(
            c_get(t, i, words),
            rust_get(t, i, cap),
            "{other} of {words:#x?}"
        );
    }
    let mut c_words = words;
    let mut rust_cap = cap;
    let c_ok = c_set(tag, index, &mut c_words, value);
    let rust_ok = rust_set(tag, index, &mut rust_cap, value);
    assert_eq!(c_ok, rust_ok, "setting {name} to {value:#x} on {words:#x?}");
    assert_eq!(
        c_words,
        rust_cap.words(),
        "{name} = {value:#x} on {words:#x?}"
    );
    if !c_ok {
        assert_eq!(c_words, words, "a refused {name} changed the cap");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn c_and_rust_accessors_agree(
        field in any::<Index>(),
        raw in any::<[u64; target::CAP_WORDS]>(),
        value in values(),
    ) {
        check(field.get(FIELDS), raw, value);
    }
}

/// Every field is covered, and both sides see the boundaries alike.
#[test]
fn every_field_at_its_boundaries() {
    assert!(
        FIELDS.len() > 20,
        "kernel.cap has more fields: {}",
        FIELDS.len()
    );
    for field in FIELDS {
        for value in [0, 1, u64::MAX, 1 << 47, (1 << 48) - 4096, 1 << 48] {
            check(field, [0; target::CAP_WORDS], value);
            check(field, [u64::MAX; target::CAP_WORDS], value);
        }
    }
}
