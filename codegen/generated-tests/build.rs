//! Generates the example specs' modules (kernel.cap, decompress.cap,
//! everything.cap and Barrelfish's caps.cap) with the build-script API,
//! exactly as a kernel crate would; and, for the differential test of the C backend
//! (tests/c_differential.rs), kernel.cap's C header, a C harness that calls
//! its accessors by (tag, field index), compiled with the system C compiler,
//! and the same dispatch over the Rust module's views.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use capc::backend::{ident, snake};
use capc::dsl::model::{FieldKind, Spec};

const KERNEL: &str = "../../kernel-demo/spec/kernel.cap";

fn main() {
    capc::Builder::new()
        .spec(KERNEL)
        .spec("../../kernel-demo/spec/decompress.cap")
        .spec("../../examples/everything.cap")
        .spec("../../examples/barrelfish/caps.cap")
        .run();
    capc::Builder::new().spec(KERNEL).lang(capc::Lang::C).run();

    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let compilation = match capc::dsl::compile(Path::new(KERNEL), &capc::dsl::FsLoader) {
        Ok(c) => c,
        Err(e) => fail(&format!("{e}")),
    };
    let Some(spec) = &compilation.spec else {
        fail(&compilation.render());
    };
    write(&out.join("c_harness.c"), &c_harness(spec));
    write(&out.join("c_fields.rs"), &rust_dispatch(spec));
    cc::Build::new()
        .file(out.join("c_harness.c"))
        .include(&out)
        .std("c11")
        .warnings_into_errors(true)
        .flag("-Wall")
        .flag("-Wextra")
        .compile("capc_c_harness");
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(1);
}

fn write(path: &Path, text: &str) {
    if let Err(e) = std::fs::write(path, text) {
        fail(&format!("cannot write {}: {e}", path.display()));
    }
}

/// `capc_c_get(tag, field, words)` and `capc_c_set(tag, field, words,
/// value)` over every field of every cap type of the header.
fn c_harness(spec: &Spec) -> String {
    let words = spec.target.cap_words;
    let mut get = String::new();
    let mut set = String::new();
    for cap in &spec.caps {
        let cap_name = snake(&cap.name);
        for (i, field) in cap.fields.iter().enumerate() {
            let f = snake(&field.name);
            let case = format!("    case {} * 256 + {i}:", cap.tag);
            let _ = writeln!(
                get,
                "{case}\n        return (uint64_t)kernel_{cap_name}_get_{f}(cap);"
            );
            let value = if matches!(field.kind, FieldKind::Bool) {
                "value != 0"
            } else {
                "value"
            };
            let _ = writeln!(
                set,
                "{case}\n        ok = kernel_{cap_name}_set_{f}(&cap, {value});\n        break;"
            );
        }
    }
    format!(
        "#include <stdint.h>\n#include \"kernel.h\"\n\n\
         uint64_t capc_c_get(uint32_t tag, uint32_t field, const uint64_t *words);\n\
         int capc_c_set(uint32_t tag, uint32_t field, uint64_t *words, uint64_t value);\n\n\
         uint64_t capc_c_get(uint32_t tag, uint32_t field, const uint64_t *words)\n{{\n    \
         kernel_cap_t cap;\n    for (int i = 0; i < {words}; i++) {{\n        cap.words[i] = words[i];\n    }}\n    \
         switch (tag * 256 + field) {{\n{get}    default:\n        return UINT64_C(0xdead);\n    }}\n}}\n\n\
         int capc_c_set(uint32_t tag, uint32_t field, uint64_t *words, uint64_t value)\n{{\n    \
         kernel_cap_t cap;\n    bool ok;\n    for (int i = 0; i < {words}; i++) {{\n        cap.words[i] = words[i];\n    }}\n    \
         switch (tag * 256 + field) {{\n{set}    default:\n        return -1;\n    }}\n    \
         for (int i = 0; i < {words}; i++) {{\n        words[i] = cap.words[i];\n    }}\n    return ok;\n}}\n"
    )
}

/// `FIELDS` (tag, field index, name) and `rust_get`/`rust_set`, the same
/// dispatch over the Rust module's views.
fn rust_dispatch(spec: &Spec) -> String {
    let mut fields = String::new();
    let mut get = String::new();
    let mut set = String::new();
    for cap in &spec.caps {
        let view = &cap.name;
        for (i, field) in cap.fields.iter().enumerate() {
            let name = snake(&field.name);
            let getter = ident(&name);
            let setter = ident(&format!("set_{name}"));
            let _ = writeln!(fields, "    ({}, {i}, \"{view}.{name}\"),", cap.tag);
            let pat = format!("        ({}, {i}) =>", cap.tag);
            let (read, arg) = match field.kind {
                FieldKind::Bool => ("u64::from(v.{g}())", "value != 0"),
                FieldKind::Rights { .. } => ("v.{g}().bits()", "rights"),
                _ => ("v.{g}()", "value"),
            };
            let read = read.replace("{g}", &getter.to_string());
            let _ = writeln!(
                get,
                "{pat} {{\n            let v = {view}::from_cap(cap).expect(\"tag\");\n            {read}\n        }}"
            );
            let prelude = if matches!(field.kind, FieldKind::Rights { .. }) {
                "let Some(rights) = Rights::from_bits(value) else { return false };\n            "
            } else {
                ""
            };
            let _ = writeln!(
                set,
                "{pat} {{\n            {prelude}let mut v = {view}::from_cap(*cap).expect(\"tag\");\n            \
                 let ok = v.{setter}({arg}).is_ok();\n            *cap = v.cap();\n            ok\n        }}"
            );
        }
    }
    format!(
        "/// Every cap field of kernel.cap: (tag, index among its cap type's fields, name).\n\
         pub const FIELDS: &[(u32, u32, &str)] = &[\n{fields}];\n\n\
         /// The field through the Rust view.\n\
         pub fn rust_get(tag: u32, field: u32, cap: Cap) -> u64 {{\n    match (tag, field) {{\n{get}        \
         _ => unreachable!(\"no field {{field}} of tag {{tag}}\"),\n    }}\n}}\n\n\
         /// Sets the field through the Rust view; whether it was accepted.\n\
         pub fn rust_set(tag: u32, field: u32, cap: &mut Cap, value: u64) -> bool {{\n    match (tag, field) {{\n{set}        \
         _ => unreachable!(\"no field {{field}} of tag {{tag}}\"),\n    }}\n}}\n"
    )
}
