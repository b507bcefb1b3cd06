//! seL4's bitfield_gen.py against capc, on the cap types of a spec: capc
//! exports the spec's cap types as bitfield_gen input (`capc build --lang
//! bf`), seL4's generator turns that into Rust (Robigalia's sel4-sys
//! 0.0.28 generators), and this program checks, for every cap type and
//! every field, in every configuration build.rs was given, that
//!
//! (a) `new` through seL4's block and through capc's view, with the same
//!     values (0, 1, the largest, alignment and sign-extension boundaries
//!     and pseudo-random ones), gives the same words, and that both refuse
//!     the same values (too wide, misaligned, not canonical);
//! (b) on pseudo-random words with the cap type's tag, setting one field
//!     through seL4's `set_X` and capc's `set_X` gives the same words, and
//!     both refuse the same values, but for a documented difference of
//!     seL4's generated setters (below);
//! (c) on pseudo-random valid caps and on pseudo-random words, every getter
//!     of both reads the same value (pointers as addresses), and seL4's
//!     `get_capType` reads the cap type's tag.
//!
//! seL4's generated code refuses a value with `debug_assert!`: this program
//! is built without `--release`, and a refusal is a panic caught here.
//!
//! Pointers: a `field_high` (capc's `#[sign_extend]`) takes and gives the
//! address, as capc's view does; a plain pointer field holds the address
//! shifted right by the pointer's alignment, so seL4's side is given
//! `address >> log2 N` and its getter's value is shifted back; a
//! `#[whole_word]` pointer is the address on both sides.
//!
//! Refusals: `new` refuses exactly what capc's `new` refuses. The setters
//! differ, as seL4's generated setters check less (or other bits) than
//! its `new`: their `debug_assert!` masks the value with `!mask >> shift`
//! (the field's in-word mask), which misses bits that would fall off the
//! top of the word (a too-wide value of a field that ends at bit 63 is
//! taken and cut) and, for a `field_high` stored shifted right, the
//! address's low bits (a misaligned address is taken and its low bits
//! dropped); and for a `field_high` stored shifted left it compares only
//! some of the bits above the address with all of them, so it refuses
//! every negative (kernel) address. So each setter is checked against
//! what its own definition says: capc's takes exactly the values its type
//! allows, seL4's exactly those its template's check lets through
//! ([`sel4_setter_takes`], the template's expression evaluated here), and
//! where the two differ the case is counted and reported, not compared.
//!
//! Deterministic: a fixed seed.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

include!(concat!(env!("OUT_DIR"), "/cases.rs"));

/// A cap field's type, as far as the values to try depend on it.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// `uN`.
    Uint { width: u32 },
    /// `bool`.
    Bool,
    /// An enumeration: its values.
    Enum(&'static [u64]),
    /// A rights mask: its width and the rights the cap type may carry.
    Rights { width: u32, valid: u64 },
    /// `ptr(align = 1 << align_bits)`.
    Ptr {
        width: u32,
        align_bits: u32,
        high: bool,
        whole_word: bool,
        address_bits: u32,
    },
}

/// One field of a cap type, through both generators.
pub struct FieldCase {
    pub name: &'static str,
    pub sel4_name: &'static str,
    pub kind: Kind,
    /// Its lowest bit in its word, and its width.
    pub shift: u32,
    pub width: u32,
    pub capc_get: fn([u64; CAP_WORDS]) -> u64,
    /// Whether capc's setter took the value (the words unchanged if not).
    pub capc_set: fn(&mut [u64; CAP_WORDS], u64) -> bool,
    pub sel4_get: fn([u64; CAP_WORDS]) -> u64,
    pub sel4_set: fn(&mut [u64; CAP_WORDS], u64),
}

/// One cap type.
pub struct CapCase {
    pub name: &'static str,
    pub block: &'static str,
    pub tag: u32,
    pub fields: &'static [FieldCase],
    /// capc's view's `new` with the fields' values in declaration order.
    pub capc_new: fn(&[u64]) -> Option<[u64; CAP_WORDS]>,
    /// seL4's block's `new`, the same values (in seL4's representation).
    pub sel4_new: fn(&[u64]) -> [u64; CAP_WORDS],
    pub sel4_tag: fn([u64; CAP_WORDS]) -> u64,
}

/// splitmix64: fixed-seed pseudo-random words.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn low(width: u32) -> u64 {
    if width >= 64 {
        u64::MAX
    } else {
        (1 << width) - 1
    }
}

/// `value` sign-extended from bit `bits - 1`.
fn sign_extend(value: u64, bits: u32) -> u64 {
    if bits >= 64 {
        value
    } else if (value >> (bits - 1)) & 1 == 1 {
        value | !low(bits)
    } else {
        value & low(bits)
    }
}

impl Kind {
    /// Values capc's setter takes: edges, then `random` pseudo-random ones.
    fn valid(self, rng: &mut Rng, random: usize) -> Vec<u64> {
        let mut values = match self {
            Kind::Uint { width } => {
                let max = low(width);
                let mut v = vec![0, 1, max, max >> 1, 1 << (width - 1)];
                v.extend((0..random).map(|_| rng.next() & max));
                v
            }
            Kind::Bool => vec![0, 1],
            Kind::Enum(values) => values.to_vec(),
            Kind::Rights { valid, .. } => {
                // Every subset of the valid rights.
                let mut v = vec![0];
                let mut sub = valid;
                while sub != 0 {
                    v.push(sub);
                    sub = (sub - 1) & valid;
                }
                v
            }
            Kind::Ptr {
                width,
                align_bits,
                high,
                whole_word,
                address_bits,
            } => {
                let align = 1u64 << align_bits;
                if whole_word {
                    let mut v = vec![0, align, !(align - 1), 1 << 63, 1 << 47];
                    v.extend((0..random).map(|_| rng.next() & !(align - 1)));
                    v
                } else if high {
                    let top = 1u64 << (address_bits - 1);
                    let mut v = vec![
                        0,
                        align,
                        top - align,  // the highest positive
                        !(top - 1),   // the lowest negative: 0xffff_8000_...
                        !(align - 1), // -align
                    ];
                    v.extend((0..random).map(|_| {
                        sign_extend(rng.next() & low(address_bits) & !(align - 1), address_bits)
                    }));
                    v
                } else {
                    let max = low(width) << align_bits;
                    let mut v = vec![0, align, max, 1 << (width + align_bits - 1)];
                    v.extend((0..random).map(|_| rng.next() & max));
                    v
                }
            }
        };
        values.dedup();
        values
    }

    /// Values capc's setter refuses: too wide, not canonical, misaligned
    /// (a plain pointer's misaligned address is not among them: seL4's side
    /// holds the shifted value, which cannot carry it).
    fn invalid(self) -> Vec<u64> {
        match self {
            Kind::Uint { width } if width < 64 => vec![1 << width, u64::MAX],
            Kind::Rights { width, .. } if width < 64 => vec![1 << width],
            Kind::Ptr {
                width,
                align_bits,
                high,
                whole_word,
                address_bits,
            } => {
                let align = 1u64 << align_bits;
                if whole_word {
                    // seL4's 64-bit field takes every word: a misaligned
                    // address is capc's alone to refuse.
                    Vec::new()
                } else if high {
                    let top = 1u64 << (address_bits - 1);
                    let mut v = vec![
                        top,                    // bit 47 set, not extended
                        1 << address_bits,      // above, not extended
                        !(top - 1) ^ (1 << 63), // extended but for bit 63
                    ];
                    if align_bits > 0 {
                        v.push(align >> 1);
                        v.push(top - align + 1);
                        v.push(!(top - 1) | 1);
                    }
                    v
                } else if width + align_bits < 64 {
                    vec![1 << (width + align_bits), !(align - 1)]
                } else {
                    Vec::new()
                }
            }
            _ => Vec::new(),
        }
    }
}

/// Whether seL4's generated `set_X` takes `v` (seL4's representation):
/// the expression of bitfield_gen.py's Rust `writer_template`,
/// `((!mask R shift) & v) == (if v & (1 << (A - 1)) != 0 { high_bits } else { 0 })`,
/// with its `mask`, `R`, `shift` and `high_bits` as the generator computes
/// them for the field's place.
fn sel4_setter_takes(field: &FieldCase, v: u64) -> bool {
    let width = field.width;
    let (address_bits, high) = match field.kind {
        Kind::Ptr {
            high, address_bits, ..
        } => (address_bits, high),
        _ => (ADDRESS_BITS, false),
    };
    let mask = low(width) << field.shift;
    let (checked, high_bits) = if high {
        let shift = i64::from(address_bits) - i64::from(width) - i64::from(field.shift);
        let checked = if shift >= 0 {
            !mask << shift
        } else {
            !mask >> -shift
        };
        (checked, !low(address_bits))
    } else {
        (!mask >> field.shift, 0)
    };
    // `base 64(A, 1)` when some field is `field_high`, else `base 64`: the
    // bit tested is A - 1 either way, and high_bits is 0 but for field_high.
    let extended = v & (1 << (address_bits - 1)) != 0;
    (checked & v) == if extended { high_bits } else { 0 }
}

/// What seL4's side is given for capc's value `v` of `field`, and back.
fn to_sel4(kind: Kind, v: u64) -> u64 {
    match kind {
        Kind::Ptr {
            align_bits,
            high: false,
            whole_word: false,
            ..
        } => v >> align_bits,
        _ => v,
    }
}

fn from_sel4(kind: Kind, v: u64) -> u64 {
    match kind {
        Kind::Ptr {
            align_bits,
            high: false,
            whole_word: false,
            ..
        } => v << align_bits,
        _ => v,
    }
}

/// Set while seL4's generated code runs: its refusals (panics) are expected
/// and not printed.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Runs `f`; `None` if it panicked (seL4's debug_assert refused).
fn sel4<T>(f: impl FnOnce() -> T) -> Option<T> {
    QUIET.store(true, Ordering::SeqCst);
    let result = catch_unwind(AssertUnwindSafe(f)).ok();
    QUIET.store(false, Ordering::SeqCst);
    result
}

#[derive(Default)]
struct Counts {
    cap_types: usize,
    fields: usize,
    new: usize,
    set: usize,
    get: usize,
    refused: usize,
    /// Setter cases capc refuses and seL4's setter takes, and the reverse.
    sel4_setter_takes_more: usize,
    sel4_setter_refuses_more: usize,
    failures: Vec<String>,
}

impl Counts {
    fn fail(&mut self, message: String) {
        if self.failures.len() < 20 {
            eprintln!("DIFFERS: {message}");
        }
        self.failures.push(message);
    }
}

fn hex(words: &[u64]) -> String {
    let w: Vec<String> = words.iter().map(|w| format!("{w:#018x}")).collect();
    format!("[{}]", w.join(", "))
}

fn check_cap(config: &str, cap: &CapCase, rng: &mut Rng, n: &mut Counts) {
    let what = |field: &str| {
        format!(
            "[{config}] {}.{field} (seL4 block `{}`)",
            cap.name, cap.block
        )
    };
    n.cap_types += 1;
    n.fields += cap.fields.len();
    let first: Vec<u64> = cap.fields.iter().map(|f| f.kind.valid(rng, 0)[0]).collect();
    let random_valid = |rng: &mut Rng| -> Vec<u64> {
        cap.fields
            .iter()
            .map(|f| {
                let v = f.kind.valid(rng, 1);
                let pick = (rng.next() % v.len() as u64) as usize;
                v[pick]
            })
            .collect()
    };

    // (a) new, with each field's every edge and random values, the others
    // at their first value or random ones.
    let compare_new = |values: &[u64], n: &mut Counts, field: &str| {
        let sel4_values: Vec<u64> = cap
            .fields
            .iter()
            .zip(values)
            .map(|(f, &v)| to_sel4(f.kind, v))
            .collect();
        let capc = (cap.capc_new)(values);
        let theirs = sel4(|| (cap.sel4_new)(&sel4_values));
        n.new += 1;
        match (capc, theirs) {
            (Some(ours), Some(theirs)) => {
                if ours != theirs {
                    n.fail(format!(
                        "{}: new({values:x?}): seL4 {} capc {}",
                        what(field),
                        hex(&theirs),
                        hex(&ours)
                    ));
                } else if (cap.sel4_tag)(theirs) != u64::from(cap.tag) {
                    n.fail(format!(
                        "{}: seL4's capType is not the tag {}",
                        what(field),
                        cap.tag
                    ));
                }
            }
            (None, None) => n.refused += 1,
            (ours, theirs) => n.fail(format!(
                "{}: new({values:x?}): capc {} it, seL4 {}",
                what(field),
                if ours.is_some() { "takes" } else { "refuses" },
                if theirs.is_some() {
                    "takes it"
                } else {
                    "refuses it"
                }
            )),
        }
    };
    if cap.fields.is_empty() {
        compare_new(&[], n, "(no field)");
    }
    for (i, field) in cap.fields.iter().enumerate() {
        for v in field.kind.valid(rng, 8) {
            let mut values = first.clone();
            values[i] = v;
            compare_new(&values, n, field.name);
            let mut values = random_valid(rng);
            values[i] = v;
            compare_new(&values, n, field.name);
        }
        for v in field.kind.invalid() {
            let mut values = first.clone();
            values[i] = v;
            compare_new(&values, n, field.name);
        }
    }
    for _ in 0..64 {
        let values = random_valid(rng);
        compare_new(&values, n, "(every field)");
    }

    // (b) set one field on random words with the tag.
    for field in cap.fields {
        let valid = field.kind.valid(rng, 8).into_iter().map(|v| (v, true));
        let invalid = field.kind.invalid().into_iter().map(|v| (v, false));
        for (v, allowed) in valid.chain(invalid).collect::<Vec<_>>() {
            for _ in 0..4 {
                let start = fix_tag(cap, std::array::from_fn(|_| rng.next()));
                let mut ours = start;
                let took = (field.capc_set)(&mut ours, v);
                let mut theirs = start;
                let sel4_v = to_sel4(field.kind, v);
                let sel4_took = sel4(|| (field.sel4_set)(&mut theirs, sel4_v)).is_some();
                n.set += 1;
                if took != allowed {
                    n.fail(format!(
                        "{}: capc's setter {} {v:#x}, which its type {}",
                        what(field.name),
                        if took { "takes" } else { "refuses" },
                        if allowed { "allows" } else { "does not allow" }
                    ));
                    continue;
                }
                if sel4_took != sel4_setter_takes(field, sel4_v) {
                    n.fail(format!(
                        "{}: seL4's set_{}({sel4_v:#x}) {} it, not as its template's check says",
                        what(field.name),
                        field.sel4_name,
                        if sel4_took { "takes" } else { "refuses" }
                    ));
                    continue;
                }
                match (took, sel4_took) {
                    (true, true) => {
                        if ours != theirs {
                            n.fail(format!(
                                "{}: set({v:#x}) on {}: seL4 {} capc {}",
                                what(field.name),
                                hex(&start),
                                hex(&theirs),
                                hex(&ours)
                            ));
                        }
                    }
                    (false, false) => {
                        n.refused += 1;
                        if ours != start {
                            n.fail(format!(
                                "{}: capc's refused set({v:#x}) changed the cap",
                                what(field.name)
                            ));
                        }
                    }
                    (false, true) => n.sel4_setter_takes_more += 1,
                    (true, false) => n.sel4_setter_refuses_more += 1,
                }
            }
        }
    }

    // (c) every getter on random valid caps and on random words.
    for round in 0..128 {
        let words = if round % 2 == 0 {
            let values = random_valid(rng);
            match (cap.capc_new)(&values) {
                Some(words) => words,
                None => {
                    n.fail(format!(
                        "{}: capc's new refuses {values:x?}, which its types allow",
                        what("(new)")
                    ));
                    continue;
                }
            }
        } else {
            fix_tag(cap, std::array::from_fn(|_| rng.next()))
        };
        if (cap.sel4_tag)(words) != u64::from(cap.tag) {
            n.fail(format!(
                "{}: seL4's capType of {} is not the tag {}",
                what("(tag)"),
                hex(&words),
                cap.tag
            ));
        }
        for field in cap.fields {
            n.get += 1;
            let ours = (field.capc_get)(words);
            let theirs = sel4(|| from_sel4(field.kind, (field.sel4_get)(words)));
            if theirs != Some(ours) {
                n.fail(format!(
                    "{}: get on {}: seL4 {:x?} capc {ours:#x}",
                    what(field.name),
                    hex(&words),
                    theirs
                ));
            }
        }
    }
}

/// `words` with the cap type's tag at the target's tag bits of word 0
/// (seL4's `capType`: `sel4_tag` checks it).
fn fix_tag(cap: &CapCase, mut words: [u64; CAP_WORDS]) -> [u64; CAP_WORDS] {
    let mask = low(TAG_BITS) << TAG_SHIFT;
    words[0] = (words[0] & !mask) | ((u64::from(cap.tag) << TAG_SHIFT) & mask);
    words
}

fn main() -> ExitCode {
    if !cfg!(debug_assertions) {
        eprintln!("seL4's refusals are debug_assert!s: build without --release");
        return ExitCode::FAILURE;
    }
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !QUIET.load(Ordering::SeqCst) {
            default_hook(info);
        }
    }));
    let mut rng = Rng(0x5e14_b17f_1e1d_0023);
    let mut total = Counts::default();
    for (name, options, caps) in CONFIGURATIONS {
        let mut n = Counts::default();
        for cap in *caps {
            check_cap(name, cap, &mut rng, &mut n);
        }
        println!(
            "[{name}] ({}) {} cap types, {} fields: {} new, {} set and {} get cases; {} refused by both; \
             setters: {} values seL4's takes and capc's refuses, {} the reverse",
            if options.is_empty() {
                "no options"
            } else {
                options
            },
            n.cap_types,
            n.fields,
            n.new,
            n.set,
            n.get,
            n.refused,
            n.sel4_setter_takes_more,
            n.sel4_setter_refuses_more
        );
        total.cap_types += n.cap_types;
        total.fields += n.fields;
        total.new += n.new;
        total.set += n.set;
        total.get += n.get;
        total.refused += n.refused;
        total.sel4_setter_takes_more += n.sel4_setter_takes_more;
        total.sel4_setter_refuses_more += n.sel4_setter_refuses_more;
        total.failures.extend(n.failures);
    }
    let cases = total.new + total.set + total.get;
    if total.failures.is_empty() {
        println!(
            "seL4's bitfield_gen and capc agree: {} configurations, {} cap types, {} fields, {cases} cases \
             ({} refused by both)",
            CONFIGURATIONS.len(),
            total.cap_types,
            total.fields,
            total.refused
        );
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "seL4's bitfield_gen and capc differ in {} of {cases} cases (the first ones above)",
            total.failures.len()
        );
        ExitCode::FAILURE
    }
}
