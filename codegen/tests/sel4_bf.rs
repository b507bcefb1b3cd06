//! `capc build --lang bf`: seL4's bitfield_gen input for a spec's cap
//! types. Snapshots of the export of a small spec and of
//! examples/sel4/x86_64.cap (snapshots/bf/), the layout of every block
//! (each word's entries fill it, fields at their word and bits, in
//! bitfield_gen's order), and the diagnostics (E0934–E0937) for what the
//! format cannot state. That seL4's own bitfield_gen.py turns the export into
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

/// Each change of the small spec and the diagnostic the export refuses
/// it with (exit code 1, nothing on stdout): its code, message, the line
/// of its span (the first line with `at`), a secondary label's line where
/// there is one, and its hint, in JSON and as the human report.
#[test]
fn what_the_format_cannot_state_is_a_diagnostic() {
    let scratch = Scratch::new("sel4_bf", "errors");
    for (name, edit, code, message, at, secondary, help) in [
        (
            "tag.cap",
            SMALL.replace("    mapped: bool,", "    capType: bool,"),
            "E0934",
            "field `PageCap.capType` has the name bitfield_gen's blocks give the tag",
            "capType: bool",
            None,
            "rename the field: `capType` is taken by the tag",
        ),
        (
            "keyword.cap",
            SMALL.replace(
                "    mapped: bool,",
                "    mapped: bool,\n    padding: bool,\n    padding_: bool,",
            ),
            "E0935",
            "field `PageCap.padding` is a bitfield_gen keyword, and its block name `padding_` is another field's",
            "padding: bool",
            Some("padding_: bool"),
            "rename `padding` or `padding_` (bitfield_gen's keywords cannot be field names)",
        ),
        (
            "blocks.cap",
            SMALL.replace(
                "cap EmptyCap {}",
                "cap EmptyCap {}\n\n#[allow(unused)]\ncap Empty_Cap {}",
            ),
            "E0936",
            "cap types `EmptyCap` and `Empty_Cap` would both be bitfield_gen's block `empty_cap`",
            "cap Empty_Cap",
            Some("cap EmptyCap"),
            "rename `EmptyCap` or `Empty_Cap` so that their snake_case names differ",
        ),
    ] {
        let line_of =
            |marker: &str| edit.lines().position(|l| l.contains(marker)).expect(marker) + 1;
        scratch.write(name, &edit);
        let output = capc(
            &scratch.dir,
            &["build", "--lang", "bf", "--message-format", "json", name],
        );
        assert_eq!(
            output.status.code(),
            Some(1),
            "{name}: {}",
            text(&output.stderr)
        );
        assert!(output.stdout.is_empty(), "{name}");
        let stderr = text(&output.stderr);
        assert_eq!(
            stderr.lines().count(),
            1,
            "{name}: one diagnostic\n{stderr}"
        );
        let json: serde_json::Value = serde_json::from_str(&stderr).expect("JSON");
        assert_eq!(json["code"], code, "{name}");
        assert_eq!(json["message"], message, "{name}");
        assert_eq!(json["file"], name, "{name}");
        assert_eq!(json["line"], line_of(at), "{name}: {stderr}");
        assert_eq!(json["help"], help, "{name}");
        match secondary {
            Some(marker) => assert_eq!(json["secondary"][0]["line"], line_of(marker), "{name}"),
            None => assert_eq!(json["secondary"], serde_json::json!([]), "{name}"),
        }
        // The human report: the code, the span's line, the hint.
        let output = export(&scratch, name, &edit);
        assert_eq!(output.status.code(), Some(1), "{name}");
        let human = text(&output.stderr);
        assert!(
            human.starts_with(&format!("error[{code}]: {message}\n")),
            "{human}"
        );
        assert!(
            human.contains(&format!("{name}:{}:", line_of(at))),
            "{human}"
        );
        assert!(human.contains(&format!("= help: {help}")), "{human}");
    }
}

/// A sign-extended pointer of another width than `field_high` of the
/// address (E0937): the checker never lays one out, so the model is
/// changed by hand, as a program using the library could.
#[test]
fn a_sign_extended_pointer_of_another_width_is_a_diagnostic() {
    let scratch = Scratch::new("sel4_bf", "high_width");
    scratch.write("small.cap", SMALL);
    let mut compilation =
        capc::dsl::compile_with(&scratch.path("small.cap"), &capc::dsl::FsLoader, &[])
            .expect("readable");
    let spec = compilation.spec.as_mut().expect("checks");
    let field = spec.caps[0]
        .fields
        .iter_mut()
        .find(|f| f.name == "base")
        .expect("EndpointCap.base");
    assert_eq!(field.width, 44);
    field.width = 40;
    let errors = blocks(spec).expect_err("refused");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = &errors[0];
    assert_eq!(e.code.as_str(), "E0937");
    assert_eq!(
        e.message,
        "field `EndpointCap.base`: a sign-extended pointer of 40 bits aligned to 2^4 \
         is not bitfield_gen's `field_high` of a 48-bit address"
    );
    let (line, _) = compilation
        .sources
        .line_col(e.primary.span.file, e.primary.span.start as usize);
    let expected = SMALL.lines().position(|l| l.contains("base: ptr")).unwrap() + 1;
    assert_eq!(line, expected);
    assert_eq!(
        e.help.as_deref(),
        Some(
            "give the pointer 44 bits (`address_bits` 48 minus its alignment's 4), or drop `#[sign_extend]`"
        )
    );
    let rendered = capc::dsl::diag::render(&compilation.sources, e);
    assert!(rendered.starts_with("error[E0937]: "), "{rendered}");
}
