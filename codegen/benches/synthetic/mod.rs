//! The synthetic specs and the end-to-end case, shared by the two bench
//! targets: `generate` (the library, with the system allocator, as the
//! `Builder` and the proc macro run it) and `generate_cli` (with mimalloc,
//! the `capc` binary's allocator).

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use capc::Options;
use capc::backend;
use capc_dsl::{Compilation, MemoryLoader, compile};
use criterion::{BenchmarkId, Criterion, Throughput};

/// The sizes measured: cap types (and methods) per spec.
const SIZES: [usize; 4] = [10, 100, 1_000, 10_000];

/// A valid spec with `n` object types, one cap type for each (plus
/// `UntypedCap`), one retype rule listing every object type, and `n` methods:
/// one kernel invocation for each of the first `n - n / 10` cap types and
/// `n / 10` RPCs in one interface, every other one with a donation.
///
/// The object types cycle through four shapes so every kind of field, size
/// rule and role is exercised: a parameterised kernel object with a badge, a
/// fixed-size object with rights and a 64-bit badge, a RAM-or-device frame
/// with two sizes, and an over-aligned object with plain fields.
pub fn synthetic_spec(n: usize) -> String {
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "//! Synthetic spec: {n} cap types and {n} methods.");
    w.push_str(
        "
/// A 64-bit machine; 14 tag bits number up to 16,383 cap types.
target synthetic {
    address_bits = 48;
    tag_bits = 14;
    message_registers = 4;
    message_words = 120;
    caps_per_message = 3;
}

/// The rights.
rights {
    /// Read.
    read,
    /// Write.
    write,
    /// Pass caps on.
    grant,
}

/// Untyped memory.
untyped Untyped(bits in 4..=47) {
    size = 1 << bits;
    memory = ram;
}

/// A cap to untyped memory.
cap UntypedCap for Untyped {
    /// Base address.
    #[identity] #[object]
    base: ptr(align = 16),
    /// log2 of the size.
    #[identity] #[size_arg]
    bits: u6,
    /// Bytes retyped, in 16-byte units.
    #[watermark(unit = 16)]
    free_index: u44,
}

/// Kernel errors.
errors KernelError {
    /// Argument `index` is invalid.
    InvalidArgument(index),
    /// Cap `index` is invalid.
    InvalidCapability(index),
    /// The message is too short.
    TruncatedMessage,
}

/// Service errors.
errors ServiceError {
    /// Nothing has this name.
    NotFound,
    /// The donation ran out.
    OutOfBudget(needed),
}
",
    );
    for i in 0..n {
        let _ = match i % 4 {
            0 => write!(
                w,
                "
/// Object {i}: a table of 2^radix entries.
object Obj{i}(radix in 1..=12) {{
    size = 1 << (radix + 4);
}}

/// A cap to object {i}.
cap Obj{i}Cap for Obj{i} {{
    /// Its address.
    #[identity] #[object]
    addr: ptr(align = 32),
    /// log2 of its entries.
    #[size_arg]
    radix: u4,
    /// Who holds it.
    #[badge]
    badge: u32,
}}
"
            ),
            1 => write!(
                w,
                "
/// Object {i}: fixed size.
object Obj{i} {{
    size = 64;
}}

/// A cap to object {i}.
cap Obj{i}Cap for Obj{i} {{
    /// Its address.
    #[identity] #[object]
    addr: ptr(align = 64),
    /// What the holder may do.
    rights: rights(read, write, grant),
    /// Who holds it.
    #[badge]
    badge: u64,
}}
"
            ),
            2 => write!(
                w,
                "
/// Object {i}: a page of 4 KiB or 2 MiB.
frame Obj{i}(bits in {{12, 21}}) {{
    size = 1 << bits;
    memory = ram | device;
}}

/// A cap to object {i}.
cap Obj{i}Cap for Obj{i} {{
    /// Its address.
    #[identity] #[object]
    addr: ptr(align = 4 KiB),
    /// log2 of its size.
    #[size_arg]
    bits: u5,
    /// Map readable and/or writable.
    rights: rights(read, write),
    /// Device memory.
    #[device]
    is_device: bool,
    /// Where it is mapped.
    mapped_page: u36,
}}
"
            ),
            _ => write!(
                w,
                "
/// Object {i}: 2 KiB, aligned to 1 KiB.
object Obj{i} {{
    size = 2 KiB;
    align = 1 KiB;
}}

/// A cap to object {i}.
cap Obj{i}Cap for Obj{i} {{
    /// Its address.
    #[identity] #[object]
    addr: ptr(align = 1 KiB),
    /// A flag.
    flag: bool,
    /// A counter.
    count: u16,
}}
"
            ),
        };
    }
    w.push_str("\n/// Untyped memory becomes everything.\nretype UntypedCap {\n    into = Untyped");
    for i in 0..n {
        let _ = write!(w, " | Obj{i}");
    }
    w.push_str(";\n    fan_out = 256;\n}\n");

    let rpcs = n / 10;
    for i in 0..n - rpcs {
        let requires = if i % 4 == 1 || i % 4 == 2 {
            "requires read;\n        "
        } else {
            ""
        };
        let other = (i + 1) % n;
        let _ = write!(
            w,
            "
/// Operations on object {i}.
invocations Obj{i}Cap -> KernelError {{
    /// Operation {i}.
    fn op{i}(a: word, b: u8, other: cap Obj{other}Cap, flags: [bool; 3]) {{
        {requires}errors InvalidArgument, InvalidCapability, TruncatedMessage;
    }}
}}
"
        );
    }
    if rpcs > 0 {
        w.push_str("\n/// A service between tasks.\ninterface Service -> ServiceError {\n");
        for k in 0..rpcs {
            // Objects of shape 1 (fixed, 64 bytes, with rights).
            let m = 4 * (k % (n / 4)) + 1;
            if k % 2 == 0 {
                let _ = write!(
                    w,
                    "    /// Call {k}: makes two objects from the caller's memory.
    fn call{k}(x: word, obj: lend cap Obj{m}Cap(read)) -> (made: grant cap Obj{m}Cap, count: word) {{
        donates UntypedCap >= 128;
        allocates 2 * Obj{m};
        out_of_budget OutOfBudget;
        errors NotFound, OutOfBudget;
    }}
"
                );
            } else {
                let _ = write!(
                    w,
                    "    /// Call {k}: no allocation.
    fn call{k}(x: word, name: [u8; 16]) -> (found: bool) {{
        errors NotFound;
    }}
"
                );
            }
        }
        w.push_str("}\n");
    }
    s
}

const ROOT: &str = "synthetic.cap";

/// Load, parse and check a spec held in memory.
pub fn check(text: &str) -> Compilation {
    let loader = MemoryLoader::new().with(ROOT, text);
    compile(Path::new(ROOT), &loader).expect("the spec is in memory")
}

/// Check + generate + format, as `capc build` does.
fn end_to_end(text: &str) -> String {
    let compilation = check(text);
    let spec = compilation
        .spec
        .as_ref()
        .expect("the synthetic spec is valid");
    backend::render(spec, &compilation.sources, &Options::default(), ROOT)
}

/// The synthetic spec of each size in [`SIZES`], each checked to compile
/// with no diagnostics (also what `cargo test --benches` verifies).
pub fn clean_specs() -> Vec<(usize, String)> {
    let specs: Vec<(usize, String)> = SIZES.iter().map(|&n| (n, synthetic_spec(n))).collect();
    for (n, text) in &specs {
        let compilation = check(text);
        assert!(
            compilation.diagnostics.is_empty(),
            "the synthetic spec with {n} cap types has diagnostics:\n{}",
            compilation.render()
        );
    }
    specs
}

/// Times [`end_to_end`] on every spec, in the criterion group `name`.
pub fn bench_end_to_end(c: &mut Criterion, name: &str, specs: &[(usize, String)]) {
    let mut group = c.benchmark_group(name);
    configure(&mut group);
    for (n, text) in specs {
        group.throughput(Throughput::Elements(*n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), text, |b, text| {
            b.iter(|| end_to_end(black_box(text)))
        });
    }
    group.finish();
}

/// Few, short samples (10 is criterion's minimum), so the run stays within
/// minutes on two cores even where one iteration takes seconds.
pub fn configure(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
}
