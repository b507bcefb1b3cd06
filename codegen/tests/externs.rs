//! One module per spec file (`capc build --extern`, `Builder::extern_path`,
//! `include_spec!(..., extern_path(...))`): a spec that imports another
//! generated elsewhere holds only its own items, and the modules compile
//! together, sharing the imported spec's types; wrong externs are E0620–E0623.

mod common;

use common::{Scratch, capc, rustc_lib, text, workspace};

/// The demo's three specs, each in its own module: `kernel` alone,
/// `decompress` over `kernel`, `client_pays` over `decompress` (and so,
/// through it, `kernel`).
fn demo_modules(scratch: &Scratch) -> [String; 3] {
    let root = workspace();
    let build = |spec: &str, externs: &[&str]| {
        let mut args = vec!["build".to_string(), format!("kernel-demo/spec/{spec}")];
        for e in externs {
            args.push("--extern".into());
            args.push(e.to_string());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = capc(&root, &args);
        assert!(out.status.success(), "{spec}: {}", text(&out.stderr));
        let module = text(&out.stdout);
        scratch.write(&spec.replace(".cap", ".rs"), &module);
        module
    };
    [
        build("kernel.cap", &[]),
        build("decompress.cap", &["kernel.cap=crate::kernel"]),
        build("client_pays.cap", &["decompress.cap=crate::decompress"]),
    ]
}

#[test]
fn a_spec_over_an_extern_holds_only_its_own_items_and_compiles() {
    let scratch = Scratch::new("externs", "compiles");
    let [kernel, decompress, client_pays] = demo_modules(&scratch);
    // decompress.cap's module names kernel.cap's items, never copies them.
    assert!(decompress.contains("pub use crate::kernel::*;"));
    for item in [
        "pub struct MessageInfo",
        "pub struct Cap",
        "pub enum CapType",
        "pub mod target",
        "pub const SLOT_BITS",
    ] {
        assert!(kernel.contains(item), "kernel.cap's module has `{item}`");
        assert!(
            !decompress.contains(item) && !client_pays.contains(item),
            "`{item}` is generated once, in kernel.cap's module"
        );
    }
    // One wire module for the crate: the base's; the RPC messages of
    // decompress.cap call it through the `pub use`.
    assert!(kernel.contains("pub mod wire"));
    for module in [&decompress, &client_pays] {
        assert!(!module.contains("mod wire") && !module.contains("mod rpc_wire"));
    }
    assert!(decompress.contains("wire::check_size("));
    assert!(decompress.contains("pub const MAX_OUTPUT_PAGES"));
    assert!(decompress.contains("pub struct DecompressorClient"));
    assert!(!client_pays.contains("pub struct DecompressorClient"));
    assert!(client_pays.contains("pub use crate::decompress::*;"));
    assert!(client_pays.contains("pub mod boot"));
    assert!(
        decompress.len() * 4 < kernel.len(),
        "decompress.cap's module ({} bytes) is its own items only (kernel.cap's: {})",
        decompress.len(),
        kernel.len()
    );
    // The three compile together, warnings denied, and share one type: a
    // function taking kernel.cap's MessageInfo accepts decompress.cap's.
    let lib = "#![no_std]\n\
        pub mod kernel { include!(\"kernel.rs\"); }\n\
        pub mod decompress { include!(\"decompress.rs\"); }\n\
        pub mod client_pays { include!(\"client_pays.rs\"); }\n\
        pub fn one_type(info: decompress::MessageInfo) -> kernel::MessageInfo { info }\n\
        pub fn one_cap(cap: client_pays::Cap) -> kernel::Cap { cap }\n";
    let out = rustc_lib(&scratch, "externs", lib);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn without_externs_a_module_still_stands_alone() {
    let root = workspace();
    let out = capc(&root, &["build", "kernel-demo/spec/decompress.cap"]);
    assert!(out.status.success());
    let module = text(&out.stdout);
    assert!(module.contains("pub struct MessageInfo"));
    assert!(!module.contains("pub use "));
}

#[test]
fn the_header_says_how_to_regenerate_with_the_externs() {
    let root = workspace();
    let out = capc(
        &root,
        &[
            "build",
            "kernel-demo/spec/decompress.cap",
            "--extern",
            "kernel.cap=crate::caps",
        ],
    );
    let module = text(&out.stdout);
    assert!(
        module.contains("capc build --extern kernel.cap=crate::caps decompress.cap"),
        "{}",
        module.lines().take(3).collect::<Vec<_>>().join("\n")
    );
}

/// Runs `capc build` on `spec` (in `scratch`) with `args`, expecting the
/// error `code`; returns stderr.
fn fails(scratch: &Scratch, spec: &str, args: &[&str], code: &str) -> String {
    let mut all = vec!["build", spec];
    all.extend_from_slice(args);
    let out = capc(&scratch.dir, &all);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty());
    assert!(err.contains(&format!("error[{code}]")), "{err}");
    err
}

const BASE: &str = "\
target t {
    address_bits = 48;
    tag_bits = 5;
    message_registers = 4;
    message_words = 16;
    caps_per_message = 2;
}
rights { read, write }
untyped Untyped(bits in 4..=47) {
    size = 1 << bits;
}
/// Untyped memory.
cap UntypedCap for Untyped {
    #[identity] #[object] base: ptr(align = 16),
    #[identity] #[size_arg] bits: u6,
    #[watermark(unit = 16)] free_index: u44,
}
";

#[test]
fn wrong_externs_are_reported_with_codes() {
    let scratch = Scratch::new("externs", "codes");
    std::fs::create_dir_all(scratch.path("lib/other")).unwrap();
    scratch.write(
        "svc.cap",
        "use \"lib/base.cap\";\nuse \"lib/other/base.cap\";\n/// A constant.\nconst MINE = 1;\n",
    );
    scratch.write("lib/base.cap", BASE);
    scratch.write(
        "lib/other/base.cap",
        "/// Another constant.\nconst OTHER = 2;\n",
    );
    let err = fails(
        &scratch,
        "svc.cap",
        &["--extern", "nothere.cap=crate::x"],
        "E0621",
    );
    assert!(
        err.contains("`svc.cap` imports `lib/base.cap`, `lib/other/base.cap`"),
        "{err}"
    );
    fails(
        &scratch,
        "svc.cap",
        &["--extern", "svc.cap=crate::x"],
        "E0621",
    );
    let err = fails(
        &scratch,
        "svc.cap",
        &["--extern", "base.cap=crate::x"],
        "E0622",
    );
    assert!(err.contains("help: give more of the file's path"), "{err}");
    fails(
        &scratch,
        "svc.cap",
        &[
            "--extern",
            "other/base.cap=crate::x",
            "--extern",
            "lib/other/base.cap=crate::y",
        ],
        "E0622",
    );
    fails(
        &scratch,
        "svc.cap",
        &["--extern", "other/base.cap=crate::1"],
        "E0623",
    );
}

#[test]
fn a_kernel_item_apart_from_the_target_is_e0620() {
    let scratch = Scratch::new("externs", "kernel_item");
    std::fs::create_dir_all(scratch.path("lib")).unwrap();
    scratch.write("lib/base.cap", BASE);
    scratch.write(
        "svc.cap",
        "use \"lib/base.cap\";\n\
         /// An object of the service.\nobject Thing {\n    size = 64;\n}\n\
         /// A cap to one.\ncap ExtraCap for Thing {\n    #[identity] #[object] thing: ptr(align = 64),\n    rights: rights(read),\n}\n\
         /// Untyped memory becomes things.\nretype UntypedCap {\n    into = Thing;\n    fan_out = 16;\n}\n",
    );
    // The spec checks: only generating it apart from lib/base.cap fails.
    let out = capc(&scratch.dir, &["check", "svc.cap"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = fails(
        &scratch,
        "svc.cap",
        &["--extern", "base.cap=crate::base"],
        "E0620",
    );
    assert!(
        err.contains("cap type `ExtraCap` is generated here"),
        "{err}"
    );
    assert!(
        err.contains("the target, whose module holds the kernel's items"),
        "{err}"
    );
    // The Builder and the macro's expansion say the same.
    let built = capc::Builder::new()
        .spec(scratch.path("svc.cap"))
        .extern_path("base.cap", "crate::base")
        .out_dir(scratch.path("out"))
        .compile();
    let message = built.expect_err("E0620").to_string();
    assert!(message.contains("error[E0620]"), "{message}");
    let options = capc::Options {
        externs: vec![capc::backend::Extern {
            spec: "base.cap".into(),
            path: "crate::base".into(),
        }],
        ..capc::Options::default()
    };
    let expanded = capc::expand::include_spec(&scratch.dir, "svc.cap", &options);
    let messages = expanded.expect_err("E0620");
    assert!(
        messages.iter().any(|m| m.contains("error[E0620]")),
        "{messages:?}"
    );
}
