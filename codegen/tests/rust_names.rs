//! Names the generated code once could not carry: each spec here either
//! fails `check` with `E0107` or generates a module that rustc compiles
//! without warnings, and none makes the generator panic.

mod common;

use capc::{Options, render_spec};
use common::{Scratch, workspace};
use std::process::Command;

const TARGET: &str = "target tiny {
    address_bits = 32;
    tag_bits = 4;
    message_registers = 1;
    message_words = 1;
    caps_per_message = 0;
}
";

/// A spec of one cap type `ty` with one `u8` field `field`, and no object
/// types.
fn spec(ty: &str, field: &str) -> String {
    format!("{TARGET}\ncap {ty} {{\n    {field}: u8,\n}}\n")
}

/// `(spec, rejected)`: every name that once broke the build.
fn cases() -> Vec<(String, bool)> {
    let mut cases = vec![(TARGET.to_string(), false)];
    for bad in ["super", "self", "Self", "crate", "_", "__", "SELF"] {
        cases.push((spec("Token", bad), true));
        cases.push((spec(bad, "value"), true));
    }
    for member in [
        "cap",
        "new",
        "from_cap",
        "TAG",
        "VALID_RIGHTS",
        "is_mapped",
        "Some",
        "None",
    ] {
        cases.push((spec("Token", member), true));
    }
    // Type names the module has itself, or takes from the prelude.
    for taken in [
        "Cap", "Rights", "Some", "None", "Ok", "Err", "Option", "Result",
    ] {
        cases.push((spec(taken, "value"), true));
        cases.push((format!("{TARGET}\nerrors {taken} {{ Failed }}\n"), true));
    }
    cases.push((
        format!("{TARGET}\ncap Token {{\n    level: u8,\n    set_level: bool,\n}}\n"),
        true,
    ));
    // Fields named like trait methods: the generated Debug and is_mapped
    // call the view's getter by path, so the trait's method never wins.
    for fine in [
        "from", "type", "move", "match", "eq", "ne", "fmt", "into", "try_into", "clone",
    ] {
        cases.push((spec("Token", fine), false));
    }
    cases
}

#[test]
fn previously_breaking_names_are_rejected_or_compile() {
    let scratch = Scratch::new("rust_names", "compile");
    for (i, (text, rejected)) in cases().into_iter().enumerate() {
        let path = scratch.path(&format!("case{i}.cap"));
        std::fs::write(&path, &text).unwrap();
        let result = std::panic::catch_unwind(|| render_spec(&path, &Options::default()));
        let result = result.unwrap_or_else(|_| panic!("the generator panicked on\n{text}"));
        match result {
            Err(e) => {
                assert!(rejected, "rejected unexpectedly:\n{text}\n{e}");
                assert!(format!("{e}").contains("E0107"), "{text}\n{e}");
            }
            Ok((module, _)) => {
                assert!(!rejected, "accepted, want E0107:\n{text}");
                let rs = scratch.path(&format!("case{i}.rs"));
                std::fs::write(&rs, module).unwrap();
                let out = Command::new(std::env::var("RUSTC").unwrap_or("rustc".into()))
                    .args(["--edition", "2024", "--crate-type", "lib", "-D", "warnings"])
                    .arg("--out-dir")
                    .arg(scratch.path(""))
                    .arg("--crate-name")
                    .arg(format!("case{i}"))
                    .arg(&rs)
                    .output()
                    .expect("rustc runs");
                assert!(
                    out.status.success(),
                    "generated code does not compile:\n{text}\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
}

/// The checker's list of type names the generated module has whatever the
/// spec says (`RESERVED_TYPE_NAMES`) holds every type of the example specs'
/// modules that no declared name accounts for: so a new fixed type in the
/// backend cannot be shadowed by a spec's cap type, error set or interface
/// without this test saying so.
#[test]
fn every_fixed_type_of_the_generated_module_is_reserved() {
    let specs = [
        "kernel-demo/spec/kernel.cap",
        "kernel-demo/spec/decompress.cap",
        "examples/everything.cap",
    ];
    for relative in specs {
        let path = workspace().join(relative);
        let (module, compilation) = render_spec(&path, &Options::default()).expect("checks");
        let spec = compilation.spec.expect("a model");
        let declared: Vec<&str> = spec
            .caps
            .iter()
            .map(|c| c.name.as_str())
            .chain(spec.objects.iter().map(|o| o.name.as_str()))
            .chain(spec.error_sets.iter().map(|e| e.name.as_str()))
            .chain(spec.interfaces.iter().map(|i| i.name.as_str()))
            .collect();
        let file = syn::parse_file(&module).expect("the module parses");
        for item in &file.items {
            let name = match item {
                syn::Item::Struct(i) => i.ident.to_string(),
                syn::Item::Enum(i) => i.ident.to_string(),
                syn::Item::Trait(i) => i.ident.to_string(),
                syn::Item::Type(i) => i.ident.to_string(),
                _ => continue,
            };
            if declared.iter().any(|d| name.starts_with(d)) {
                continue;
            }
            assert!(
                capc_dsl::check::RESERVED_TYPE_NAMES.contains(&name.as_str()),
                "{relative}: the generated type `{name}` is not in RESERVED_TYPE_NAMES"
            );
        }
    }
}
