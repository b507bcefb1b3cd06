//! Generates, for each configuration the xtask names, capc's module for the
//! spec and the glue the comparison (src/main.rs) calls: per cap type, its
//! `new` through capc's view and through seL4's generated block, and per
//! field its getter and setter through both.
//!
//! Set by `cargo xtask sel4-diff` (xtask/src/sel4diff/bitfield.rs):
//! - `SEL4_DIFF_SPEC`: the spec (examples/sel4/x86_64.cap);
//! - `SEL4_DIFF_CONFIGURATIONS`: `name=option,option;name=...` (an empty
//!   list of options: every option off);
//! - `SEL4_DIFF_SEL4_DIR`: where `<name>.rs`, bitfield_gen.py's output for
//!   `capc build --lang bf` of that configuration, is.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use capc::backend::{ident, snake};
use capc::dsl::model::{FieldKind, Spec};
use capc::sel4_bf::{Entry, blocks};

fn env(name: &str) -> String {
    println!("cargo:rerun-if-env-changed={name}");
    std::env::var(name)
        .unwrap_or_else(|_| fail(&format!("{name} is not set: run `cargo xtask sel4-diff`")))
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}

fn main() {
    let spec_path = PathBuf::from(env("SEL4_DIFF_SPEC"));
    let sel4_dir = PathBuf::from(env("SEL4_DIFF_SEL4_DIR"));
    let configurations = env("SEL4_DIFF_CONFIGURATIONS");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut text = String::new();
    let mut list = String::new();
    let mut target = None;
    for configuration in configurations.split(';').filter(|c| !c.is_empty()) {
        let (name, options) = configuration.split_once('=').unwrap_or((configuration, ""));
        let options: Vec<String> = options
            .split(',')
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect();
        let dir = out.join(name);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(&format!("{}: {e}", dir.display())));
        let mut builder = capc::Builder::new().spec(&spec_path).out_dir(&dir);
        for option in &options {
            builder = builder.cfg(option.clone());
        }
        builder.run();
        let compilation = capc::dsl::compile_with(&spec_path, &capc::dsl::FsLoader, &options)
            .unwrap_or_else(|e| fail(&format!("{}: {e:?}", spec_path.display())));
        let Some(spec) = compilation.spec.as_ref() else {
            fail(&format!("{} has errors", spec_path.display()))
        };
        target = Some((
            spec.target.cap_words,
            spec.target.tag_bits,
            spec.target.tag_shift,
            spec.target.address_bits,
        ));
        let stem = spec_path.file_stem().unwrap_or_default().to_string_lossy();
        let sel4 = sel4_dir.join(format!("{name}.rs"));
        println!("cargo:rerun-if-changed={}", sel4.display());
        text.push_str(&configuration_module(
            spec,
            name,
            &format!("{name}/{stem}.rs"),
            &sel4,
        ));
        let _ = writeln!(
            list,
            "    (\"{name}\", \"{}\", cfg_{name}::CAPS),",
            options.join(", ")
        );
    }
    let (words, tag_bits, tag_shift, address_bits) =
        target.unwrap_or_else(|| fail("SEL4_DIFF_CONFIGURATIONS names no configuration"));
    let _ = write!(
        text,
        "/// Words in a cap.\npub const CAP_WORDS: usize = {words};\n\
         /// The tag's width and lowest bit in word 0.\n\
         pub const TAG_BITS: u32 = {tag_bits};\npub const TAG_SHIFT: u32 = {tag_shift};\n\
         /// The target's address bits (bitfield_gen's `base 64(A, 1)`).\n\
         pub const ADDRESS_BITS: u32 = {address_bits};\n\n\
         /// Every configuration: (name, options on, its cap types).\n\
         pub const CONFIGURATIONS: &[(&str, &str, &[crate::CapCase])] = &[\n{list}];\n"
    );
    let path = out.join("cases.rs");
    std::fs::write(&path, text).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
}

/// The words as seL4's `usize` array and back.
const TO_SEL4: &str = "words: ::core::array::from_fn(|i| w[i] as usize)";

fn configuration_module(spec: &Spec, name: &str, module: &str, sel4: &Path) -> String {
    let blocks = blocks(spec).unwrap_or_else(|errors| {
        let messages: Vec<String> = errors
            .iter()
            .map(|d| format!("error[{}]: {}", d.code.as_str(), d.message))
            .collect();
        fail(&format!("capc build --lang bf: {}", messages.join("; ")))
    });
    let mut glue = String::new();
    let mut capc_glue = String::new();
    let mut caps = String::new();
    for (cap, block) in spec.caps.iter().zip(&blocks) {
        let b = &block.name;
        let view = &cap.name;
        // seL4's `new`: its arguments in the block's order, the tag's value
        // for `capType`.
        let args: Vec<String> = block
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::Tag { .. } => Some(format!("{}usize", cap.tag)),
                Entry::Field { index, .. } => Some(format!("a[{index}] as usize")),
                Entry::Padding { .. } => None,
            })
            .collect();
        let _ = writeln!(
            glue,
            "        pub fn new_{b}(a: &[u64]) -> [u64; CAP_WORDS] {{\n            \
             let _ = a;\n            let c = {b}::new({});\n            ::core::array::from_fn(|i| c.words[i] as u64)\n        }}\n\
             \x20       pub fn tag_{b}(w: [u64; CAP_WORDS]) -> u64 {{\n            \
             {b} {{ {TO_SEL4} }}.get_capType() as u64\n        }}",
            args.join(", ")
        );
        let mut fields = String::new();
        let mut new_args = Vec::new();
        for (i, field) in cap.fields.iter().enumerate() {
            let bf = block
                .entries
                .iter()
                .find_map(|e| match e {
                    Entry::Field { index, name, .. } if *index == i => Some(name.clone()),
                    _ => None,
                })
                .expect("every field is in the block");
            let high = block
                .entries
                .iter()
                .any(|e| matches!(e, Entry::Field { index, high: true, .. } if *index == i));
            let _ = writeln!(
                glue,
                "        pub fn get_{b}_{i}(w: [u64; CAP_WORDS]) -> u64 {{\n            \
                 {b} {{ {TO_SEL4} }}.get_{bf}() as u64\n        }}\n\
                 \x20       pub fn set_{b}_{i}(w: &mut [u64; CAP_WORDS], v: u64) {{\n            \
                 let mut c = {b} {{ {TO_SEL4} }};\n            c.set_{bf}(v as usize);\n            \
                 *w = ::core::array::from_fn(|i| c.words[i] as u64);\n        }}"
            );
            let getter = ident(&snake(&field.name)).to_string();
            let setter = ident(&format!("set_{}", snake(&field.name))).to_string();
            let enumeration = field.values.map(|e| &spec.enumerations[e.index()]);
            let narrow = match field.width {
                0..=8 => "u8",
                9..=16 => "u16",
                17..=32 => "u32",
                _ => "u64",
            };
            // (kind, capc's value from `v` (a u64) or None, the getter's u64)
            let (kind, arg, read) = match (&field.kind, enumeration) {
                (_, Some(e)) => (
                    format!(
                        "Kind::Enum(&[{}])",
                        e.values
                            .iter()
                            .map(|v| v.value.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    format!("capc::{}::from_value(v)?", e.name),
                    format!("match view.{getter}() {{ Ok(x) => x.value(), Err(e) => e.value }}"),
                ),
                (FieldKind::Bool, None) => (
                    "Kind::Bool".to_string(),
                    "match v { 0 => false, 1 => true, _ => return None }".to_string(),
                    format!("u64::from(view.{getter}())"),
                ),
                (FieldKind::Rights { .. }, None) => (
                    format!(
                        "Kind::Rights {{ width: {}, valid: capc::{view}::VALID_RIGHTS.bits() }}",
                        field.width
                    ),
                    "capc::Rights::from_bits(v)?".to_string(),
                    format!("view.{getter}().bits()"),
                ),
                (FieldKind::Uint, None) if narrow != "u64" => (
                    format!("Kind::Uint {{ width: {} }}", field.width),
                    format!("{narrow}::try_from(v).ok()?"),
                    format!("u64::from(view.{getter}())"),
                ),
                (FieldKind::Uint, None) => (
                    format!("Kind::Uint {{ width: {} }}", field.width),
                    "v".to_string(),
                    format!("view.{getter}()"),
                ),
                (FieldKind::Ptr { align_bits }, None) => (
                    format!(
                        "Kind::Ptr {{ width: {}, align_bits: {align_bits}, high: {high}, whole_word: {}, address_bits: {} }}",
                        field.width, field.whole_word, spec.target.address_bits
                    ),
                    "v".to_string(),
                    format!("view.{getter}()"),
                ),
            };
            let convert = format!("{{ let v = a[{i}]; {arg} }}");
            new_args.push(convert);
            let _ = writeln!(
                capc_glue,
                "    fn get_{b}_{i}(w: [u64; CAP_WORDS]) -> u64 {{\n        \
                 let view = capc::{view}::from_cap(capc::Cap::from_words(w)).expect(\"the tag\");\n        {read}\n    }}\n\
                 \x20   fn set_{b}_{i}(w: &mut [u64; CAP_WORDS], v: u64) -> bool {{\n        \
                 let set = || -> Option<[u64; CAP_WORDS]> {{\n            \
                 let mut view = capc::{view}::from_cap(capc::Cap::from_words(*w)).expect(\"the tag\");\n            \
                 view.{setter}({arg}).ok()?;\n            Some(view.cap().words())\n        }};\n        \
                 match set() {{\n            Some(words) => {{\n                *w = words;\n                true\n            }}\n            \
                 None => false,\n        }}\n    }}"
            );
            let _ = writeln!(
                fields,
                "            crate::FieldCase {{\n                name: \"{}\",\n                sel4_name: \"{bf}\",\n                \
                 kind: crate::{kind},\n                shift: {},\n                width: {},\n                capc_get: get_{b}_{i},\n                capc_set: set_{b}_{i},\n                \
                 sel4_get: sel4::get_{b}_{i},\n                sel4_set: sel4::set_{b}_{i},\n            }},",
                field.name, field.shift, field.width
            );
        }
        let _ = writeln!(
            capc_glue,
            "    fn new_{b}(a: &[u64]) -> Option<[u64; CAP_WORDS]> {{\n        \
             let _ = a;\n        Some(capc::{view}::new({}).ok()?.cap().words())\n    }}",
            new_args.join(", ")
        );
        let _ = writeln!(
            caps,
            "    crate::CapCase {{\n        name: \"{view}\",\n        block: \"{b}\",\n        tag: {},\n        \
             fields: &[\n{fields}        ],\n        capc_new: new_{b},\n        sel4_new: sel4::new_{b},\n        \
             sel4_tag: sel4::tag_{b},\n    }},",
            cap.tag
        );
    }
    format!(
        "/// The `{name}` configuration.\n\
         #[allow(clippy::all, unused_braces)]\n\
         pub mod cfg_{name} {{\n    use super::CAP_WORDS;\n\n    \
         /// capc's module.\n    \
         #[allow(dead_code, unused_imports, clippy::all)]\n    \
         pub mod capc {{\n        include!(concat!(env!(\"OUT_DIR\"), \"/{module}\"));\n    }}\n\n    \
         /// seL4's bitfield_gen.py output for `capc build --lang bf`, and the glue.\n    \
         #[allow(non_camel_case_types, non_snake_case, unused_parens, unused_mut, dead_code, clippy::all)]\n    \
         pub mod sel4 {{\n        use super::CAP_WORDS;\n        include!({sel4:?});\n\n{glue}    }}\n\n\
         {capc_glue}\n    \
         /// Every cap type.\n    \
         pub const CAPS: &[crate::CapCase] = &[\n{caps}];\n}}\n\n"
    )
}
