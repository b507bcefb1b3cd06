//! The one message layout of the model (`model::Layout`): parameters in
//! declaration order, words and cap slots numbered apart, a lease taking
//! two words and one cap slot; and the one cap layout (`CapType::words`).

use std::path::Path;

use capc_dsl::model::{FieldKind, Layout, Method, Spec, Wire};

fn spec(path: &str) -> Spec {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    let compilation = capc_dsl::compile(&root, &capc_dsl::FsLoader).expect("readable");
    compilation.spec.expect("the example checks")
}

fn method<'s>(spec: &'s Spec, set: &str, name: &str) -> &'s Method {
    spec.invocations
        .iter()
        .chain(&spec.interfaces)
        .filter(|s| s.name == set)
        .flat_map(|s| &s.methods)
        .find(|m| m.name == name)
        .expect("the method exists")
}

#[test]
fn an_invocation_numbers_words_and_caps_apart() {
    let kernel = spec("kernel-demo/spec/kernel.cap");
    let copy = method(&kernel, "CNodeCap", "copy");
    let layout = Layout::of(&copy.params);
    let word = |start| Wire::Words { start, count: 1 };
    assert_eq!(
        layout.places,
        [
            word(0),
            word(1),
            Wire::Cap { index: 0 },
            word(2),
            word(3),
            word(4)
        ]
    );
    assert_eq!((layout.words, layout.caps), (5, 1));
    assert_eq!(copy.request_words, layout.words);
}

#[test]
fn a_lease_takes_two_words_and_a_cap_slot() {
    let leases = spec("examples/leases.cap");
    let sign = leases
        .interfaces
        .iter()
        .flat_map(|s| &s.methods)
        .find(|m| m.name == "sign")
        .expect("sign");
    let layout = Layout::of(&sign.params);
    assert_eq!(
        layout.places,
        [
            Wire::Lease { words: 0, cap: 0 },
            Wire::Lease { words: 2, cap: 1 }
        ]
    );
    assert_eq!((layout.words, layout.caps), (4, 2));
    assert_eq!(Layout::of(&sign.results).words, sign.reply_words);
}

#[test]
fn a_cap_s_fields_take_their_bits_and_only_those() {
    let kernel = spec("kernel-demo/spec/kernel.cap");
    let target = &kernel.target;
    for t in &kernel.caps {
        // Every bit of every field set: each field's mask, and the tag.
        let mut expected = vec![0; target.cap_words as usize];
        expected[0] = u64::from(t.tag) << target.tag_shift;
        for f in &t.fields {
            assert_eq!(
                expected[usize::from(f.word)] & f.mask(),
                0,
                "{}.{} overlaps",
                t.name,
                f.name
            );
            expected[usize::from(f.word)] |= f.mask();
        }
        assert_eq!(t.words(target, |_| u64::MAX), expected, "{}", t.name);
        // A pointer is stored shifted right by its alignment; the rest as is.
        for f in &t.fields {
            let one = match f.kind {
                FieldKind::Ptr { align_bits } => 1 << align_bits,
                _ => 1,
            };
            assert_eq!(f.placed(one), 1 << f.shift, "{}.{}", t.name, f.name);
        }
    }
}

/// Packed parameters (`#[at]`, dsl/tests/ui/pass/packed-parameters.cap)
/// take their word and bits; the others take, in order, the next words no
/// packed parameter uses (an array the next run of free words).
#[test]
fn packed_parameters_share_their_word_and_the_others_skip_it() {
    let spec = spec("dsl/tests/ui/pass/packed-parameters.cap");
    let word = |start| Wire::Words { start, count: 1 };
    let read = method(&spec, "UntypedCap", "read");
    let layout = Layout::of(&read.params);
    assert_eq!(layout.places, [word(0), word(0), word(1)]);
    assert_eq!(layout.words, 2);
    let bits: Vec<_> = read
        .params
        .iter()
        .map(|p| p.at.map(|a| (a.word, a.bit, a.width, a.mask())))
        .collect();
    assert_eq!(bits, [Some((0, 0, 1, 0x1)), Some((0, 8, 8, 0xff00)), None]);
    let mixed = method(&spec, "UntypedCap", "mixed");
    let layout = Layout::of(&mixed.params);
    assert_eq!(
        layout.places,
        [
            word(0),
            word(1),
            Wire::Words { start: 2, count: 2 },
            word(1),
            word(1),
            word(4)
        ]
    );
    assert_eq!((layout.words, mixed.request_words), (5, 5));
    assert_eq!(mixed.params[4].at.map(|a| a.mask()), Some(1 << 63));
}
