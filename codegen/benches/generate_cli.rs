//! The `end_to_end` cases of the `generate` bench with mimalloc as the
//! global allocator, as in the `capc` binary (`codegen/src/main.rs`): what
//! `capc build` takes on the same synthetic specs. The library cannot choose
//! an allocator, so `generate` measures the `Builder` and the proc macro,
//! and this one the binary.
//!
//! Run with `cargo bench -p capc --bench generate_cli`; BENCHMARKS.md has
//! the numbers. `cargo test -p capc --bench generate_cli` runs every case
//! once.

mod synthetic;

use criterion::{Criterion, criterion_group, criterion_main};
use synthetic::{bench_end_to_end, clean_specs};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench(c: &mut Criterion) {
    bench_end_to_end(c, "end_to_end_mimalloc", &clean_specs());
}

criterion_group!(benches, bench);
criterion_main!(benches);
