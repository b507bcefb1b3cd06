//! The proc macros' expansion (capc::expand) against the CLI's output and
//! the rebuild tracking it carries.

use std::path::{Path, PathBuf};

use capc::Options;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The expansion without the trailing `include_str!` tracking items.
fn expanded_module(spec: &str) -> (String, Vec<String>) {
    let tokens =
        capc::expand::include_spec(&workspace(), spec, &Options::default()).expect("spec is clean");
    let file: syn::File = syn::parse2(tokens).expect("expansion parses");
    let (tracking, items): (Vec<syn::Item>, Vec<syn::Item>) = file.items.into_iter().partition(|item| {
        matches!(item, syn::Item::Const(c) if quote::quote!(#c).to_string().contains("include_str"))
    });
    let tracked = tracking
        .iter()
        .map(|t| quote::quote!(#t).to_string())
        .collect();
    let module = prettyplease::unparse(&syn::File {
        shebang: None,
        frontmatter: None,
        attrs: Vec::new(),
        items,
    });
    (module, tracked)
}

#[test]
fn include_spec_expands_to_what_capc_build_writes() {
    for spec in [
        "kernel-demo/spec/kernel.cap",
        "kernel-demo/spec/decompress.cap",
        "examples/everything.cap",
    ] {
        let (module, _) = expanded_module(spec);
        let (cli, _) =
            capc::render_spec(&workspace().join(spec), &Options::default()).expect("clean");
        let body = cli.split_once("\n\n").expect("header then code").1;
        assert_eq!(module, body, "{spec}");
    }
}

#[test]
fn include_spec_tracks_the_spec_and_every_import() {
    let (_, tracked) = expanded_module("kernel-demo/spec/decompress.cap");
    assert_eq!(tracked.len(), 2, "{tracked:?}");
    assert!(tracked[0].contains("decompress.cap"));
    assert!(tracked[1].contains("kernel.cap"));
}

#[test]
fn an_edited_spec_changes_the_expansion() {
    let dir = std::env::temp_dir().join(format!("capc-expand-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = "target t { address_bits = 48; tag_bits = 5; message_registers = 4; message_words = 16; caps_per_message = 2; }\n\
                untyped Untyped(bits in 4..=47) { size = 1 << bits; }\n\
                cap UntypedCap for Untyped { #[object] base: ptr(align = 16), #[size_arg] bits: u6, #[watermark(unit = 16)] free: u44 }\n";
    std::fs::write(dir.join("spec.cap"), spec).unwrap();
    let before = capc::expand::include_spec(&dir, "spec.cap", &Options::default())
        .unwrap()
        .to_string();
    std::fs::write(
        dir.join("spec.cap"),
        spec.replace("tag_bits = 5", "tag_bits = 6"),
    )
    .unwrap();
    let after = capc::expand::include_spec(&dir, "spec.cap", &Options::default())
        .unwrap()
        .to_string();
    assert_ne!(before, after);
    // Cargo sees the file through include_str!, so the edit triggers a rebuild.
    assert!(after.contains("include_str") && after.contains("spec.cap"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn spec_errors_come_back_rendered_as_the_cli_prints_them() {
    let dir = std::env::temp_dir().join(format!("capc-expand-err-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bad.cap"), "const A = B;\n").unwrap();
    let errors = capc::expand::include_spec(&dir, "bad.cap", &Options::default()).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("error[E0100]") && e.contains("bad.cap:1:11")),
        "{errors:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
