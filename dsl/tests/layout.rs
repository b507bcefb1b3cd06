//! Where `#[at]`, `tag_shift`, `#[label_base]` and `#[label]` put things:
//! fields placed by hand stay where they are put and the others fill the
//! free bits around them (tests/ui/pass/positions-and-labels.cap), and
//! specs that place nothing are laid out and numbered as before.

use std::path::Path;

use capc_dsl::model::Spec;
use capc_dsl::{FsLoader, compile};

fn spec(relative: &str) -> Spec {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace");
    let compilation = compile(&root.join(relative), &FsLoader).expect("readable");
    let rendered = compilation.render();
    compilation.spec.unwrap_or_else(|| panic!("{rendered}"))
}

/// `(field, word, lowest bit, width)` of every field of `cap`.
fn places(spec: &Spec, cap: &str) -> Vec<(String, u8, u8, u8)> {
    let cap = &spec.caps[spec.cap(cap).expect("cap type").index()];
    cap.fields
        .iter()
        .map(|f| (f.name.clone(), f.word, f.shift, f.width))
        .collect()
}

fn owned(rows: &[(&str, u8, u8, u8)]) -> Vec<(String, u8, u8, u8)> {
    rows.iter()
        .map(|&(n, w, s, b)| (n.to_string(), w, s, b))
        .collect()
}

#[test]
fn placed_fields_stay_and_the_others_fill_the_gaps() {
    let spec = spec("dsl/tests/ui/pass/positions-and-labels.cap");
    assert_eq!((spec.target.tag_shift, spec.target.tag_bits), (59, 5));
    assert_eq!(
        places(&spec, "UntypedCap"),
        owned(&[
            ("base", 0, 0, 48),
            ("bits", 1, 0, 6),
            ("free_index", 1, 16, 48)
        ])
    );
    // `tcb` takes bits 0..37, `domain` is placed at 45..53: `priority`
    // fits between them, `flags` only between `domain` and the tag.
    assert_eq!(
        places(&spec, "TcbCap"),
        owned(&[
            ("tcb", 0, 0, 37),
            ("domain", 0, 45, 8),
            ("priority", 0, 37, 8),
            ("flags", 0, 53, 6),
        ])
    );
    let tcb = spec.caps[spec.cap("TcbCap").unwrap().index()].fields[0].clone();
    assert!(tcb.sign_extend);
    assert!(!spec.caps[0].fields[1].sign_extend);
}

#[test]
fn labels_count_on_from_the_base_and_from_a_label_given() {
    let spec = spec("dsl/tests/ui/pass/positions-and-labels.cap");
    let labels: Vec<(&str, u32)> = spec.invocations[0]
        .methods
        .iter()
        .map(|m| (m.name.as_str(), m.label))
        .collect();
    assert_eq!(
        labels,
        [
            ("read_registers", 2),
            ("write_registers", 3),
            ("resume", 11),
            ("suspend", 12)
        ]
    );
}

/// Without the new attributes nothing moves: the tag at bit 0, fields in
/// declaration order from the lowest free bit, labels from 1.
#[test]
fn specs_without_them_are_laid_out_as_before() {
    let spec = spec("dsl/tests/ui/base.cap");
    assert_eq!(spec.target.tag_shift, 0);
    assert_eq!(
        places(&spec, "UntypedCap"),
        owned(&[
            ("base", 0, 5, 44),
            ("bits", 0, 49, 6),
            ("free_index", 1, 0, 44),
            ("is_device", 0, 55, 1),
        ])
    );
    let labels: Vec<u32> = spec.invocations[0]
        .methods
        .iter()
        .map(|m| m.label)
        .collect();
    assert_eq!(labels, [1]);
}
