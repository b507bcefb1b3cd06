//! `capc build --lang bf`: seL4's bitfield_gen input for a spec's cap
//! types. Snapshots of the export of a small spec and of
//! examples/sel4/x86_64.cap (snapshots/bf/), the layout of every block
//! (each word's entries fill it, fields at their word and bits, in
//! bitfield_gen's order), and the one-line errors for what the format
//! cannot state. That seL4's own bitfield_gen.py turns the export into
//! accessors that agree with capc's views is `cargo xtask sel4-diff`.

mod common;

use common::{Scratch, capc, text, workspace};

use capc::sel4_bf::{Entry, blocks};

/// A small spec: a sign-extended pointer, a plain pointer, a whole-word
/// one, a field named `base` (a bitfield_gen keyword), a field in word 1
/// and a cap type without fields.
const SMALL: &str = "\
target small {
    address_bits = 48;
    tag_bits = 5;
    tag_shift = 59;
    message_registers = 4;
    message_words = 16;
    caps_per_message = 2;
}

rights { read, write }

#[allow(unused)]
#[tag(4)]
cap EndpointCap {
    #[sign_extend] #[at(word = 0, bit = 0)]
    base: ptr(align = 16),
    #[at(word = 0, bit = 55)]
    rights: rights(read, write),
    #[badge] #[at(word = 1, bit = 0)]
    badge: u64,
}

#[allow(unused)]
cap PageCap {
    frame: ptr(align = 4 KiB),
    mapped: bool,
}

#[allow(unused)]
cap RootCap {
    #[whole_word] #[at(word = 1, bit = 0)]
    root: ptr(align = 1),
}

#[allow(unused)]
cap EmptyCap {}
";

fn export(scratch: &Scratch, name: &str, spec: &str) -> std::process::Output {
    scratch.write(name, spec);
    capc(&scratch.dir, &["build", "--lang", "bf", name])
}

#[test]
fn snapshots_of_the_export() {
    let scratch = Scratch::new("sel4_bf", "snapshots");
    let small = export(&scratch, "small.cap", SMALL);
    assert!(small.status.success(), "{}", text(&small.stderr));
    let sel4 = capc(
        &workspace(),
        &["build", "--lang", "bf", "examples/sel4/x86_64.cap"],
    );
    assert!(sel4.status.success(), "{}", text(&sel4.stderr));
    insta::with_settings!({
        snapshot_path => workspace().join("snapshots/bf"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!("small", text(&small.stdout));
        insta::assert_snapshot!("sel4-x86_64", text(&sel4.stdout));
    });
}

#[test]
fn every_block_fills_its_words_with_each_field_at_its_bits() {
    for (options, label) in [
        (vec![], "no options"),
        (vec!["mcs", "smp", "iommu", "vtx"], "all"),
    ] {
        let options: Vec<String> = options.into_iter().map(String::from).collect();
        let path = workspace().join("examples/sel4/x86_64.cap");
        let compilation =
            capc::dsl::compile_with(&path, &capc::dsl::FsLoader, &options).expect("readable");
        let spec = compilation.spec.as_ref().expect("x86_64.cap checks");
        let blocks = blocks(spec).expect("x86_64.cap can be said");
        assert_eq!(blocks.len(), spec.caps.len(), "{label}");
        for (cap, block) in spec.caps.iter().zip(&blocks) {
            assert_eq!(block.tag, cap.tag);
            // Walk the entries as bitfield_gen does: the first takes the top
            // bits of the last word.
            let total: u32 = block
                .entries
                .iter()
                .map(|e| match e {
                    Entry::Tag { bits } | Entry::Field { bits, .. } | Entry::Padding { bits } => {
                        *bits
                    }
                })
                .sum();
            assert_eq!(total, 64 * spec.target.cap_words, "{label}: {}", block.name);
            let mut offset = total;
            let mut seen = 0;
            for entry in &block.entries {
                let bits = match entry {
                    Entry::Tag { bits } | Entry::Field { bits, .. } | Entry::Padding { bits } => {
                        *bits
                    }
                };
                offset -= bits;
                let (word, shift) = (offset / 64, offset % 64);
                assert!(
                    shift + bits <= 64,
                    "{}: an entry crosses a word",
                    block.name
                );
                match entry {
                    Entry::Tag { .. } => {
                        assert_eq!((word, shift), (0, spec.target.tag_shift), "{}", block.name);
                    }
                    Entry::Field {
                        index,
                        name,
                        bits,
                        high,
                    } => {
                        let field = &cap.fields[*index];
                        assert_eq!(
                            (word, shift, *bits),
                            (
                                u32::from(field.word),
                                u32::from(field.shift),
                                u32::from(field.width)
                            ),
                            "{label}: {}.{name}",
                            cap.name
                        );
                        assert_eq!(*high, field.sign_extend, "{}.{name}", cap.name);
                        seen += 1;
                    }
                    Entry::Padding { .. } => {}
                }
            }
            assert_eq!(seen, cap.fields.len(), "{}: every field once", cap.name);
        }
    }
}

#[test]
fn without_sign_extended_pointers_the_base_has_no_extension() {
    let scratch = Scratch::new("sel4_bf", "plain_base");
    let spec = SMALL.replace("#[sign_extend] ", "");
    let output = export(&scratch, "plain.cap", &spec);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let out = text(&output.stdout);
    assert!(out.contains("\nbase 64\n"), "{out}");
    assert!(!out.contains("    field_high "), "{out}");
    assert!(out.contains("    field base_ 44\n"), "{out}");
}

#[test]
fn what_the_format_cannot_state_is_a_one_line_error() {
    let scratch = Scratch::new("sel4_bf", "errors");
    for (name, edit, message) in [
        (
            "tag.cap",
            SMALL.replace("    mapped: bool,", "    capType: bool,"),
            "error: field `PageCap.capType` has the name bitfield_gen's blocks give the tag\n",
        ),
        (
            "keyword.cap",
            SMALL.replace(
                "    mapped: bool,",
                "    mapped: bool,\n    padding: bool,\n    padding_: bool,",
            ),
            "error: field `PageCap.padding` is a bitfield_gen keyword, and its block name `padding_` is another field's\n",
        ),
        (
            "blocks.cap",
            SMALL.replace(
                "cap EmptyCap {}",
                "cap EmptyCap {}\n\n#[allow(unused)]\ncap Empty_Cap {}",
            ),
            "error: cap types `EmptyCap` and `Empty_Cap` would both be bitfield_gen's block `empty_cap`\n",
        ),
    ] {
        let output = export(&scratch, name, &edit);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{name}: {}",
            text(&output.stderr)
        );
        assert!(output.stdout.is_empty(), "{name}");
        assert_eq!(text(&output.stderr), message, "{name}");
    }
}
