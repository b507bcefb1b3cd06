//! How long `capc` takes from spec text to formatted Rust, on synthetic specs
//! with 10, 100, 1,000 and 10,000 cap types and as many methods.
//!
//! `end_to_end` is what `capc build` and the `Builder` do: load, parse and
//! check the spec (`capc_dsl::compile` with a `MemoryLoader`), then generate
//! and format the module (`capc::backend::render`, which formats the module
//! part by part on up to two threads). It runs with the system allocator, as
//! the `Builder` in a build script does; `generate_cli` times the same cases
//! with mimalloc, the `capc` binary's allocator. The other groups time one phase each on the
//! same specs, to show where the time goes: `check` (front end only),
//! `tokens` (the backend's `quote!` parts, as the proc macro gets them),
//! `parse` (those tokens to one `syn::File`) and `format` (prettyplease), up
//! to 1,000 cap types. These run on one thread over the whole module, so
//! they add up to the CPU time of `render`, not to its wall time.
//!
//! `barrelfish` times the same phases on examples/barrelfish/caps.cap,
//! the port of the spec Hamlet compiles (Barrelfish's caps.hl), so capc can
//! be set beside Hamlet on the spec Hamlet exists for: `check`, `tokens`
//! (what `include_spec!` expands to, unformatted) and `end_to_end` (what
//! `capc build` writes).
//!
//! Run with `cargo bench -p capc --bench generate`; BENCHMARKS.md has the
//! numbers. `cargo test -p capc --bench generate` runs every case once.

mod synthetic;

use std::hint::black_box;

use capc::Options;
use capc::backend;
use capc_dsl::Compilation;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use synthetic::{bench_end_to_end, check, clean_specs, configure};

/// The Barrelfish port, read from the repository.
fn barrelfish_spec() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/barrelfish/caps.cap"
    );
    std::fs::read_to_string(path).expect("examples/barrelfish/caps.cap is in the repository")
}

fn bench_barrelfish(c: &mut Criterion) {
    let text = barrelfish_spec();
    let compilation = check(&text);
    let spec = compilation.spec.as_ref().expect("the port checks");
    let options = Options::default();
    let mut group = c.benchmark_group("barrelfish");
    configure(&mut group);
    group.bench_function("check", |b| b.iter(|| check(black_box(&text))));
    group.bench_function("tokens", |b| {
        b.iter(|| backend::generate(black_box(spec), &compilation.sources, &options))
    });
    group.bench_function("end_to_end", |b| {
        b.iter(|| {
            let compilation = check(black_box(&text));
            let spec = compilation.spec.as_ref().expect("the port checks");
            backend::render(spec, &compilation.sources, &options, "caps.cap")
        })
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    bench_barrelfish(c);
    let specs = clean_specs();
    bench_end_to_end(c, "end_to_end", &specs);

    // The phases, each on its own; up to 1,000 cap types, as the largest
    // case would take minutes more and is linear anyway.
    let specs: Vec<&(usize, String)> = specs.iter().filter(|(n, _)| *n <= 1_000).collect();
    let compiled: Vec<(usize, Compilation)> =
        specs.iter().map(|(n, text)| (*n, check(text))).collect();
    let options = Options::default();

    let mut group = c.benchmark_group("check");
    configure(&mut group);
    for (n, text) in specs.iter().copied() {
        group.throughput(Throughput::Elements(*n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), text, |b, text| {
            b.iter(|| check(black_box(text)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("tokens");
    configure(&mut group);
    for (n, compilation) in &compiled {
        let spec = compilation.spec.as_ref().expect("valid");
        group.throughput(Throughput::Elements(*n as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| backend::generate(black_box(spec), &compilation.sources, &options))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("parse");
    configure(&mut group);
    for (n, compilation) in &compiled {
        let spec = compilation.spec.as_ref().expect("valid");
        let tokens = backend::generate(spec, &compilation.sources, &options);
        group.throughput(Throughput::Elements(*n as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| syn::parse2::<syn::File>(black_box(tokens.clone())).expect("a Rust file"))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("format");
    configure(&mut group);
    for (n, compilation) in &compiled {
        let spec = compilation.spec.as_ref().expect("valid");
        let tokens = backend::generate(spec, &compilation.sources, &options);
        let file: syn::File = syn::parse2(tokens).expect("a Rust file");
        group.throughput(Throughput::Elements(*n as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| prettyplease::unparse(black_box(&file)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
