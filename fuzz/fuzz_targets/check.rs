//! Fuzz target: any bytes, as UTF-8 when valid, through the front end.
//!
//! Properties (as in dsl/tests/robustness.rs): no panic (libFuzzer reports
//! a panic, an abort or a stack overflow as a crash); every primary and
//! secondary span lies inside its file's text on char boundaries; every code
//! is in `Code::ALL`; the model is present exactly when there is no error;
//! rendering the diagnostics does not panic; and a spec that checks renders
//! to Rust without a panic, which syn parses (that rustc compiles it too is
//! the random-spec test's, codegen/tests/rust_names.rs).
//!
//! The input is compiled as `fuzz.cap` exactly as `compile_str` does, but
//! with an in-memory loader instead of `compile_str`'s file-system fallback
//! for imports: beside the input it holds the demo specs, so
//! `use "kernel.cap";` and `use "decompress.cap";` resolve and every other
//! import is an E0002. That keeps runs reproducible and keeps the fuzzer from
//! reading `/dev/zero` or `/dev/stdin` through a `use`.
#![no_main]

use std::path::Path;

use capc_dsl::{Code, MemoryLoader, compile};
use libfuzzer_sys::fuzz_target;

const KERNEL: &str = include_str!("../../kernel-demo/spec/kernel.cap");
const DECOMPRESS: &str = include_str!("../../kernel-demo/spec/decompress.cap");

fuzz_target!(|data: &[u8]| {
    // Valid UTF-8 as it is; anything else with U+FFFD for each bad sequence
    // (multi-byte characters are where span arithmetic goes wrong).
    let text = String::from_utf8_lossy(data);
    let loader = MemoryLoader::new()
        .with("fuzz.cap", text.as_ref())
        .with("kernel.cap", KERNEL)
        .with("decompress.cap", DECOMPRESS);
    let compilation = compile(Path::new("fuzz.cap"), &loader).expect("the root is in memory");
    let errors = compilation.diagnostics.iter().any(|d| d.is_error());
    assert_eq!(
        errors,
        compilation.spec.is_none(),
        "the model must be present exactly when there is no error"
    );
    for d in &compilation.diagnostics {
        assert!(Code::ALL.contains(&d.code), "{:?} not in Code::ALL", d.code);
        for label in std::iter::once(&d.primary).chain(&d.secondary) {
            let span = label.span;
            assert!(
                (span.file.0 as usize) < compilation.sources.len(),
                "{}: span {span:?} names an unknown file",
                d.code.as_str()
            );
            let file_text = compilation.sources.text(span.file);
            let (start, end) = (span.start as usize, span.end as usize);
            assert!(
                start <= end && end <= file_text.len(),
                "{}: span {start}..{end} outside the file ({} bytes)",
                d.code.as_str(),
                file_text.len()
            );
            assert!(
                file_text.is_char_boundary(start) && file_text.is_char_boundary(end),
                "{}: span {start}..{end} not on char boundaries",
                d.code.as_str()
            );
        }
    }
    let _ = compilation.render();
    if let Some(spec) = &compilation.spec {
        let module = capc::backend::render(
            spec,
            &compilation.sources,
            &capc::Options::default(),
            "fuzz.cap",
        );
        if let Err(e) = syn::parse_file(&module) {
            panic!("the generated module does not parse: {e}\n{module}");
        }
    }
});
