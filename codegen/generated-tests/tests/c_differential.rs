//! The C header against the Rust module, for every spec build.rs generates
//! both for (kernel.cap, decompress.cap, serial.cap, everything.cap,
//! Barrelfish's caps.cap and seL4's x86_64.cap). The C side is
//! each `<stem>.h` called through a harness (`c_harness.c`) that build.rs
//! generates and compiles with the system C compiler; the Rust side the same
//! dispatch over the generated module (`c_<stem>.rs`). For random caps of
//! every cap type:
//! - every getter reads the same value in both, and every setter accepts or
//!   refuses the same values and leaves the same words;
//! - every predicate (`region`, `same_object`, `is_ancestor`, `is_copy`,
//!   `badge_of`, `may_copy`, `is_mapped`, `derived`) gives the same answer
//!   on random pairs, many of them related (copies, mints, objects carved
//!   from an untyped cap's region, and for Barrelfish's caps.cap caps made
//!   by its `derive` rules and pieces of split frames);
//! - `cap_for` makes the same cap, and `retype` returns the same status,
//!   payload and placement for random requests on random sources, as does
//!   `retype_at` (Barrelfish's caps.cap, whose retype rules have
//!   `#[at_offset]`) at random offsets with random live memory.
//!
//! The pairs and requests come from a fixed-seed generator, so a run is
//! reproducible and can assert that each answer (each retype status, each
//! predicate true and false) was reached.

/// xorshift64*: a fixed-seed source of test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A value with few bits set, or a small one, or anything.
    fn word(&mut self) -> u64 {
        match self.below(4) {
            0 => self.next(),
            1 => self.below(64),
            2 => 1u64 << self.below(64),
            _ => self.next() & self.next() & self.next(),
        }
    }
}

macro_rules! differential {
    ($spec:ident, $get:ident, $set:ident, $predicates:ident, $cap_for:ident, $retype:ident
        $(, derives = $derive:ident)? $(, retype_at = $retype_at:ident)?
        $(, splits = $split_c:ident, $split_at_c:ident, $split_range_c:ident)?) => {
        mod $spec {
            use capc_generated_tests::$spec::*;
            use proptest::prelude::*;
            use proptest::sample::Index;

            use super::Rng;

            /// What build.rs generated from the spec: `FIELDS`, `rust_get`,
            /// `rust_set`, `rust_predicates`, `rust_cap_for`, `rust_retype`.
            mod dispatch {
                use capc_generated_tests::$spec::*;
                include!(concat!(env!("OUT_DIR"), "/c_", stringify!($spec), ".rs"));
            }
            use dispatch::*;

            type Words = [u64; target::CAP_WORDS];

            unsafe extern "C" {
                fn $get(tag: u32, field: u32, words: *const u64) -> u64;
                fn $set(tag: u32, field: u32, words: *mut u64, value: u64) -> i32;
                fn $predicates(a: *const u64, b: *const u64, out: *mut u64);
                fn $cap_for(
                    object_type: u64,
                    address: u64,
                    size_arg: u64,
                    device: i32,
                    words: *mut u64,
                ) -> i32;
                fn $retype(
                    source: *const u64,
                    has_children: i32,
                    request: *const u64,
                    found: i32,
                    slots: u64,
                    occupied: u64,
                    out: *mut u64,
                );
            }

            fn c_get(tag: u32, field: u32, words: Words) -> u64 {
                // SAFETY: the harness reads CAP_WORDS words from `words`.
                unsafe { $get(tag, field, words.as_ptr()) }
            }

            fn c_set(tag: u32, field: u32, words: &mut Words, value: u64) -> bool {
                // SAFETY: the harness reads and writes CAP_WORDS words of `words`.
                let ok = unsafe { $set(tag, field, words.as_mut_ptr(), value) };
                assert!(
                    ok == 0 || ok == 1,
                    "the harness has no field {field} of tag {tag}"
                );
                ok == 1
            }

            fn c_predicates(a: Cap, b: Cap) -> [u64; PREDICATES_LEN] {
                let mut out = [0; PREDICATES_LEN];
                let (a, b) = (a.words(), b.words());
                // SAFETY: the harness reads CAP_WORDS words of `a` and `b` and
                // writes PREDICATES_LEN words of `out`.
                unsafe { $predicates(a.as_ptr(), b.as_ptr(), out.as_mut_ptr()) };
                out
            }

            fn c_cap_for(
                object_type: u64,
                address: u64,
                size_arg: u64,
                device: bool,
            ) -> Option<Cap> {
                let mut words = [0; target::CAP_WORDS];
                // SAFETY: the harness writes CAP_WORDS words of `words`.
                let ok = unsafe {
                    $cap_for(
                        object_type,
                        address,
                        size_arg,
                        i32::from(device),
                        words.as_mut_ptr(),
                    )
                };
                (ok == 1).then(|| Cap::from_words(words))
            }

            fn c_retype(
                source: Cap,
                has_children: bool,
                request: [u64; 4],
                destination: Option<u64>,
                occupied: u64,
            ) -> [u64; RETYPE_LEN] {
                let mut out = [0; RETYPE_LEN];
                let source = source.words();
                // SAFETY: the harness reads CAP_WORDS words of `source` and 4 of
                // `request`, and writes RETYPE_LEN words of `out`.
                unsafe {
                    $retype(
                        source.as_ptr(),
                        i32::from(has_children),
                        request.as_ptr(),
                        i32::from(destination.is_some()),
                        destination.unwrap_or(0),
                        occupied,
                        out.as_mut_ptr(),
                    )
                };
                out
            }

            /// Words of a cap with `tag`: random bits above the tag.
            fn cap_words(tag: u32, raw: Words) -> Words {
                let mut words = raw;
                let tag_mask = ((1u64 << target::TAG_BITS) - 1) << target::TAG_SHIFT;
                words[0] = (words[0] & !tag_mask) | u64::from(tag) << target::TAG_SHIFT;
                words
            }

            /// Values for setters: anything, small numbers, powers of two and
            /// their neighbours, and aligned addresses, so that both accepted
            /// and refused values are common.
            fn values() -> impl Strategy<Value = u64> {
                prop_oneof![
                    any::<u64>(),
                    0u64..64,
                    (0u32..64).prop_map(|b| 1u64 << b),
                    (0u32..64).prop_map(|b| (1u64 << b).wrapping_sub(1)),
                    (any::<u64>(), 0u32..22).prop_map(|(v, a)| (v >> 16) & !((1u64 << a) - 1)),
                ]
            }

            fn check(field: &(u32, u32, &str), raw: Words, value: u64) {
                let &(tag, index, name) = field;
                let words = cap_words(tag, raw);
                let cap = Cap::from_words(words);
                // Every field of this cap type reads the same in both.
                for &(t, i, other) in FIELDS.iter().filter(|f| f.0 == tag) {
                    assert_eq!(
                        c_get(t, i, words),
                        rust_get(t, i, cap),
                        "{other} of {words:#x?}"
                    );
                }
                let mut c_words = words;
                let mut rust_cap = cap;
                let c_ok = c_set(tag, index, &mut c_words, value);
                let rust_ok = rust_set(tag, index, &mut rust_cap, value);
                assert_eq!(c_ok, rust_ok, "setting {name} to {value:#x} on {words:#x?}");
                assert_eq!(
                    c_words,
                    rust_cap.words(),
                    "{name} = {value:#x} on {words:#x?}"
                );
                if !c_ok {
                    assert_eq!(c_words, words, "a refused {name} changed the cap");
                }
            }

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(1024))]

                #[test]
                fn c_and_rust_accessors_agree(
                    field in any::<Index>(),
                    raw in any::<Words>(),
                    value in values(),
                ) {
                    check(field.get(FIELDS), raw, value);
                }
            }

            /// Every field is covered, and both sides see the boundaries alike.
            #[test]
            fn every_field_at_its_boundaries() {
                assert!(!FIELDS.is_empty());
                for field in FIELDS {
                    for value in [0, 1, u64::MAX, 1 << 47, (1 << 48) - 4096, 1 << 48] {
                        check(field, [0; target::CAP_WORDS], value);
                        check(field, [u64::MAX; target::CAP_WORDS], value);
                    }
                }
            }

            /// An allowed size argument of `ty` (sometimes any in its bounds).
            fn size_arg(rng: &mut Rng, ty: ObjectType) -> u64 {
                let (min, max) = ty.arg_bounds();
                for _ in 0..8 {
                    let arg = min + rng.below((max - min).saturating_add(1));
                    if ty.size_bits(arg).is_ok() {
                        return arg;
                    }
                }
                min
            }

            /// The cap of a new object of a random type (`ty` if given), at an
            /// aligned address from `address`, through the Rust `cap_for`; the
            /// C `cap_for` must make the same.
            fn made_cap(rng: &mut Rng, ty: Option<ObjectType>, address: u64) -> Option<Cap> {
                let ty =
                    ty.unwrap_or(ObjectType::ALL[rng.below(ObjectType::ALL.len() as u64) as usize]);
                let arg = size_arg(rng, ty);
                let bits = ty.size_bits(arg).ok()?;
                let align = ty.align_bits(bits).min(63);
                let address = address & !((1u64 << align) - 1);
                let device = rng.chance(30);
                let cap = ty.cap_for(address, arg, device);
                assert_eq!(
                    c_cap_for(ty as u64, address, arg, device),
                    cap,
                    "cap_for({ty:?}, {address:#x}, {arg}, {device})"
                );
                cap
            }

            /// A cap: random words under a valid (or null, or unknown) tag, or a
            /// new object's cap, sometimes badged or mapped.
            fn any_cap(rng: &mut Rng) -> Cap {
                if rng.chance(40) {
                    let tag = match rng.below(10) {
                        0 => 0,
                        1 => (1 << target::TAG_BITS) - 1,
                        _ => CapType::ALL[rng.below(CapType::ALL.len() as u64) as usize] as u32,
                    };
                    let raw = core::array::from_fn(|_| rng.word());
                    return Cap::from_words(cap_words(tag, raw));
                }
                let address = rng.next() & ((1 << 47) - 1);
                let Some(mut cap) = made_cap(rng, None, address) else {
                    return Cap::NULL;
                };
                if rng.chance(30) {
                    let badge = if rng.chance(30) { 0 } else { rng.word() };
                    cap = rebadge(cap, badge);
                }
                if rng.chance(30) {
                    cap = with_mapping(cap, rng.below(1 << 20), rng.below(4)).unwrap_or(cap);
                }
                cap
            }

            /// A cap related to `a`: a copy with some bits changed, its derived
            /// cap, a mint, or a new object inside its region.
            fn related(rng: &mut Rng, a: Cap) -> Cap {
                match rng.below(6) {
                    0 => any_cap(rng),
                    1 => {
                        let mut words = a.words();
                        let tag_mask = ((1u64 << target::TAG_BITS) - 1) << target::TAG_SHIFT;
                        let w = rng.below(target::CAP_WORDS as u64) as usize;
                        words[w] ^= (rng.next() & rng.next()) & if w == 0 { !tag_mask } else { !0 };
                        Cap::from_words(words)
                    }
                    2 => {
                        // A spec with `derive` rules: often a cap derived
                        // from `a` by one, as the generated `derive` makes it.
                        $(
                            let rules: Vec<DeriveRule> = DERIVE_RULES
                                .into_iter()
                                .filter(|r| a.cap_type() == Some(r.source))
                                .collect();
                            if !rules.is_empty() && rng.chance(70) {
                                let rule = rules[rng.below(rules.len() as u64) as usize];
                                if let Ok(cap) = $derive(a, rule.target, false) {
                                    return cap;
                                }
                            }
                            // Or a piece of it, for a type whose caps split.
                            if a.cap_type().is_some_and(CapType::splits) && rng.chance(70)
                                && let Ok(pieces) = split(a, 12 + rng.below(10), 1 + rng.below(4), false)
                                && let Some(cap) = pieces.cap(rng.below(pieces.count))
                            {
                                return cap;
                            }
                        )?
                        derived(a)
                    }
                    3 => rebadge(a, if rng.chance(50) { 0 } else { rng.word() }),
                    _ => match region(a) {
                        Some((base, size)) => {
                            let offset = if rng.chance(20) { 0 } else { rng.below(size) };
                            made_cap(rng, None, base.wrapping_add(offset)).unwrap_or(a)
                        }
                        None => a,
                    },
                }
            }

            /// Every predicate agrees on related and unrelated pairs, in both
            /// orders; each one is seen true and false.
            #[test]
            fn c_and_rust_predicates_agree() {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ stringify!($spec).len() as u64);
                let mut seen = [[0u32; 2]; 10];
                for _ in 0..40_000 {
                    let a = any_cap(&mut rng);
                    let b = related(&mut rng, a);
                    let (t, address, arg, device) = (
                        rng.below(ObjectType::ALL.len() as u64 + 1),
                        rng.word(),
                        rng.word(),
                        rng.chance(50),
                    );
                    assert_eq!(
                        c_cap_for(t, address, arg, device),
                        rust_cap_for(t, address, arg, device),
                        "cap_for({t}, {address:#x}, {arg}, {device})"
                    );
                    for (a, b) in [(a, b), (b, a)] {
                        let rust = rust_predicates(a, b);
                        assert_eq!(c_predicates(a, b), rust, "predicates of {a:?} and {b:?}");
                        for (i, count) in seen.iter_mut().enumerate() {
                            if matches!(i, 0 | 3 | 4 | 5 | 6 | 8 | 9) {
                                count[usize::from(rust[i] != 0)] += 1;
                            }
                        }
                    }
                }
                for (i, name) in [
                    (0, "region"),
                    (3, "same_object"),
                    (4, "is_ancestor"),
                    (5, "is_copy"),
                    (6, "badge_of"),
                    (8, "may_copy"),
                    (9, "is_mapped"),
                ] {
                    // A spec without badges or mappings has no such predicate.
                    if (i == 6 && !HAS_BADGES) || (i == 9 && !HAS_MAPPINGS) {
                        continue;
                    }
                    assert!(
                        seen[i][0] > 50 && seen[i][1] > 50,
                        "{name} was not seen both ways often: {:?}",
                        seen[i]
                    );
                }
            }

            /// A source to retype: mostly untyped memory's cap with a random
            /// watermark, sometimes any cap.
            fn source(rng: &mut Rng) -> Cap {
                let untyped: Vec<ObjectType> = ObjectType::ALL
                    .into_iter()
                    .filter(|t| t.is_untyped())
                    .collect();
                if untyped.is_empty() || rng.chance(15) {
                    return any_cap(rng);
                }
                let ty = untyped[rng.below(untyped.len() as u64) as usize];
                let address = rng.next() & ((1 << 47) - 1);
                let Some(cap) = made_cap(rng, Some(ty), address) else {
                    return any_cap(rng);
                };
                let Some(memory) = UntypedMemory::of(cap) else {
                    return cap;
                };
                let watermark = match rng.below(4) {
                    0 => 0,
                    1 => memory.size,
                    2 => memory.size.saturating_sub(rng.below(1 << 14)),
                    _ => rng.below(memory.size.saturating_add(1)),
                };
                memory.with_watermark(watermark).unwrap_or(cap)
            }

            /// A random retype call: the source, whether it has children,
            /// the request's words (object type, size argument, offset,
            /// count), the destination's slots (`None`: not found) and the
            /// occupied slots (a bit each).
            fn retype_call(rng: &mut Rng) -> (Cap, bool, [u64; 4], Option<u64>, u64) {
                let source = source(rng);
                let has_children = rng.chance(50);
                let count = ObjectType::ALL.len() as u64;
                let object_type = rng.below(count + 2);
                let size_arg = match ObjectType::from_word(object_type) {
                    Some(ty) if rng.chance(85) => size_arg(rng, ty),
                    Some(ty) if rng.chance(50) => ty.arg_bounds().1 + 1,
                    Some(ty) => ty.arg_bounds().0.saturating_sub(1),
                    None => rng.word(),
                };
                let slots = match rng.below(10) {
                    0 => None,
                    1 => Some(rng.below(3)),
                    _ => Some(1u64 << rng.below(10)),
                };
                let room = slots.unwrap_or(8).max(1);
                let offset = match rng.below(8) {
                    0 => rng.word(),
                    1 => room,
                    _ => rng.below(room),
                };
                let count = match rng.below(8) {
                    0 => 0,
                    1 => rng.word(),
                    2 => rng.below(600),
                    _ => 1 + rng.below(4),
                };
                let occupied = if rng.chance(80) {
                    0
                } else {
                    1u64 << rng.below(64)
                };
                (source, has_children, [object_type, size_arg, offset, count], slots, occupied)
            }

            /// An offset into `source`'s region (mostly page-aligned inside
            /// it; some misaligned, at or past its end, or anything) and the
            /// live memory there: none, or a range near the objects. Only
            /// the specs with `retype_at` or `split_at` use it.
            #[allow(dead_code)]
            fn offset_and_live(rng: &mut Rng, source: Cap) -> (u64, (u64, u64)) {
                let (base, size) = region(source).unwrap_or((0, 1 << 20));
                let at = match rng.below(10) {
                    0 => rng.word(),
                    1 => size,
                    2 => rng.below(size.max(1)),
                    _ => rng.below((size >> 12).max(1)) << 12,
                };
                let live = match rng.below(4) {
                    0 | 1 => (0, 0),
                    2 => {
                        let first = base.saturating_add(at).saturating_add(rng.below(1 << 16));
                        (first, first.saturating_add(1 + rng.below(1 << 16)))
                    }
                    _ => {
                        let first = base.saturating_add(rng.below(size.max(1)));
                        (first, first.saturating_add(1 + rng.below(1 << 12)))
                    }
                };
                (at, live)
            }

            $(
            unsafe extern "C" {
                fn $retype_at(
                    source: *const u64,
                    has_children: i32,
                    request: *const u64,
                    at: u64,
                    live_first: u64,
                    live_end: u64,
                    found: i32,
                    slots: u64,
                    occupied: u64,
                    out: *mut u64,
                );
            }

            /// `retype_at` agrees, status, payload and placement, on random
            /// requests at random offsets with random live memory; every
            /// status but TruncatedMessage is reached.
            #[test]
            fn c_and_rust_retype_at_agree() {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ stringify!($spec).len() as u64);
                let mut statuses = [0u32; 10];
                for _ in 0..40_000 {
                    let (source, has_children, request, slots, occupied) = retype_call(&mut rng);
                    let (at, live) = offset_and_live(&mut rng, source);
                    let rust = rust_retype_at(
                        source, has_children, request, at, live, slots, occupied,
                    );
                    let mut c = [0; RETYPE_LEN];
                    let words = source.words();
                    // SAFETY: the harness reads CAP_WORDS words of `words` and 4
                    // of `request`, and writes RETYPE_LEN words of `c`.
                    unsafe {
                        $retype_at(
                            words.as_ptr(),
                            i32::from(has_children),
                            request.as_ptr(),
                            at,
                            live.0,
                            live.1,
                            i32::from(slots.is_some()),
                            slots.unwrap_or(0),
                            occupied,
                            c.as_mut_ptr(),
                        )
                    };
                    assert_eq!(
                        c,
                        rust,
                        "retype_at of {source:?} (children: {has_children}) with {request:?} at \
                         {at:#x}, live {live:x?}, into {slots:?} slots, occupied {occupied:#x}"
                    );
                    statuses[rust[0] as usize] += 1;
                }
                for (status, seen) in statuses.iter().enumerate() {
                    assert!(
                        status == 7 || *seen > 20,
                        "retype_at status {status} was seen {seen} times: {statuses:?}"
                    );
                }
            }
            )?

            $(
            unsafe extern "C" {
                fn $split_c(source: *const u64, size_arg: u64, count: u64, has_pieces: i32, out: *mut u64);
                fn $split_at_c(
                    source: *const u64,
                    size_arg: u64,
                    at: u64,
                    count: u64,
                    live_first: u64,
                    live_end: u64,
                    out: *mut u64,
                );
                fn $split_range_c(
                    source: *const u64,
                    first: u64,
                    last: u64,
                    live_first: u64,
                    live_last: u64,
                    out: *mut u64,
                );
            }

            /// A row of the C `split` and `split_at`: status, index, min,
            /// max, then the piece size, first address, count and the first
            /// and the last piece's words.
            const SPLIT_LEN: usize = 7 + 2 * target::CAP_WORDS;

            /// The status (`DeriveError`'s position from 1) and payload.
            fn derive_error_row(e: DeriveError, out: &mut [u64]) {
                match e {
                    DeriveError::IllegalOperation => out[0] = 1,
                    DeriveError::RevokeFirst => out[0] = 2,
                    DeriveError::InvalidArgument { index } => {
                        out[0] = 3;
                        out[1] = index;
                    }
                    DeriveError::RangeError { min, max } => {
                        out[0] = 4;
                        out[2] = min;
                        out[3] = max;
                    }
                }
            }

            /// The Rust `split` or `split_at`'s answer as the C row.
            fn split_row(answer: Result<Split, DeriveError>) -> [u64; SPLIT_LEN] {
                let mut out = [0; SPLIT_LEN];
                match answer {
                    Ok(s) => {
                        out[4] = s.size;
                        out[5] = s.first;
                        out[6] = s.count;
                        let words = target::CAP_WORDS;
                        if let Some(c) = s.cap(0) {
                            out[7..7 + words].copy_from_slice(&c.words());
                        }
                        if let Some(c) = s.cap(s.count - 1) {
                            out[7 + words..].copy_from_slice(&c.words());
                        }
                    }
                    Err(e) => derive_error_row(e, &mut out),
                }
                out
            }

            /// A cap to split: mostly a new object's cap of a type that
            /// splits into pieces of its object, sometimes any cap.
            fn split_source(rng: &mut Rng) -> Cap {
                let types: Vec<ObjectType> = CapType::ALL
                    .into_iter()
                    .filter(|t| t.splits())
                    .filter_map(CapType::object_type)
                    .collect();
                if types.is_empty() || rng.chance(15) {
                    return any_cap(rng);
                }
                let ty = types[rng.below(types.len() as u64) as usize];
                // Objects of the smallest size times a power of two, so that
                // most split into smaller pieces.
                let (min, _) = ty.arg_bounds();
                let arg = min.max(1) << rng.below(16);
                let address = rng.next() & ((1 << 47) - 1) & !((1 << 28) - 1);
                ty.cap_for(address, arg, rng.chance(30))
                    .unwrap_or_else(|| any_cap(rng))
            }

            /// A size argument for pieces of `source`: mostly a fraction of
            /// its size that the Rust `split` takes (so that the later
            /// checks are reached), else a valid one of its type, or
            /// anything.
            fn piece_arg(rng: &mut Rng, source: Cap) -> u64 {
                let (_, size) = region(source).unwrap_or((0, 1 << 20));
                let ty = source.cap_type().and_then(CapType::object_type);
                match (rng.below(6), ty) {
                    (0, _) => rng.word(),
                    (1, Some(ty)) => size_arg(rng, ty),
                    (2, _) => size >> (1 + rng.below(6)),
                    _ => (0..16)
                        .map(|_| size >> (1 + rng.below(12)))
                        .find(|arg| split(source, *arg, 1, false).is_ok())
                        .unwrap_or(size >> 1),
                }
            }

            /// A count of pieces: mostly a few, sometimes 0 or too many.
            fn piece_count(rng: &mut Rng) -> u64 {
                match rng.below(8) {
                    0 => 0,
                    1 => rng.word(),
                    2 => 1 + rng.below(1 << 10),
                    _ => 1 + rng.below(4),
                }
            }

            /// `split` and `split_at` agree, status, payload, placement and
            /// the first and the last piece's cap, on random requests; every
            /// status is reached.
            #[test]
            fn c_and_rust_splits_agree() {
                let mut rng = Rng(0x6a09_e667_f3bc_c908 ^ stringify!($spec).len() as u64);
                let mut statuses = [[0u32; 5]; 2];
                for _ in 0..40_000 {
                    let source = split_source(&mut rng);
                    let size_arg = piece_arg(&mut rng, source);
                    let count = piece_count(&mut rng);
                    let words = source.words();
                    let has_pieces = rng.chance(20);
                    let rust = split_row(split(source, size_arg, count, has_pieces));
                    let mut c = [0; SPLIT_LEN];
                    // SAFETY: the harness reads CAP_WORDS words of `words` and
                    // writes SPLIT_LEN words of `c`.
                    unsafe {
                        $split_c(words.as_ptr(), size_arg, count, i32::from(has_pieces), c.as_mut_ptr())
                    };
                    assert_eq!(
                        c, rust,
                        "split of {source:?} into {count} of {size_arg} (pieces: {has_pieces})"
                    );
                    statuses[0][rust[0] as usize] += 1;

                    let (at, live) = offset_and_live(&mut rng, source);
                    let meets = |first: u64, bytes: u64| {
                        bytes != 0 && first < live.1 && (live.0 <= first || live.0 - first < bytes)
                    };
                    let rust = split_row(split_at(source, size_arg, at, count, meets));
                    // SAFETY: as above.
                    unsafe {
                        $split_at_c(words.as_ptr(), size_arg, at, count, live.0, live.1, c.as_mut_ptr())
                    };
                    assert_eq!(
                        c, rust,
                        "split_at of {source:?} at {at:#x} into {count} of {size_arg}, live {live:x?}"
                    );
                    statuses[1][rust[0] as usize] += 1;
                }
                for (function, seen) in ["split", "split_at"].iter().zip(statuses) {
                    assert!(
                        seen.iter().all(|n| *n > 20),
                        "{function}: each status (OK, then DeriveError's) seen more than 20 times: {seen:?}"
                    );
                }
            }

            /// `split_range` agrees, status, payload and piece, on random
            /// requests to caps of a type that splits by `#[range]`; every
            /// status is reached.
            #[test]
            fn c_and_rust_split_range_agree() {
                let types: Vec<CapType> = CapType::ALL
                    .into_iter()
                    .filter(|t| t.splits() && t.object_type().is_none())
                    .collect();
                assert!(!types.is_empty(), "the spec has a `#[range]` splitting rule");
                let mut rng = Rng(0xbb67_ae85_84ca_a73b ^ stringify!($spec).len() as u64);
                let mut statuses = [0u32; 5];
                for _ in 0..40_000 {
                    let source = if rng.chance(10) {
                        any_cap(&mut rng)
                    } else {
                        let tag = types[rng.below(types.len() as u64) as usize] as u32;
                        let mut raw: Words = core::array::from_fn(|_| rng.word());
                        // Small numbers, so that ranges are often valid.
                        if rng.chance(70) {
                            for w in raw.iter_mut() {
                                *w &= 0x0000_ffff_0000_ffff;
                            }
                        }
                        Cap::from_words(cap_words(tag, raw))
                    };
                    let (start, end) = range_of(source).unwrap_or((0, 64));
                    let span = end.saturating_sub(start).saturating_add(1);
                    let (first, last) = match rng.below(8) {
                        0 => (rng.word(), rng.word()),
                        1 => (start, end),
                        _ => {
                            let a = start.saturating_add(rng.below(span));
                            let b = a.saturating_add(rng.below(span));
                            (a, b.min(end))
                        }
                    };
                    let live = match rng.below(3) {
                        0 => (1, 0),
                        1 => (first.saturating_add(rng.below(4)), last.saturating_add(rng.below(4))),
                        _ => {
                            let a = start.saturating_add(rng.below(span));
                            (a, a.saturating_add(rng.below(4)))
                        }
                    };
                    let meets = |a: u64, b: u64| live.0 <= live.1 && a <= live.1 && live.0 <= b;
                    let mut rust = [0; 4 + target::CAP_WORDS];
                    match split_range(source, first, last, meets) {
                        Ok(piece) => rust[4..].copy_from_slice(&piece.words()),
                        Err(e) => derive_error_row(e, &mut rust),
                    }
                    let mut c = [0; 4 + target::CAP_WORDS];
                    let words = source.words();
                    // SAFETY: the harness reads CAP_WORDS words of `words` and
                    // writes 4 + CAP_WORDS words of `c`.
                    unsafe {
                        $split_range_c(words.as_ptr(), first, last, live.0, live.1, c.as_mut_ptr())
                    };
                    assert_eq!(
                        c, rust,
                        "split_range of {source:?} to {first}..={last}, live {live:?}"
                    );
                    statuses[rust[0] as usize] += 1;
                }
                assert!(
                    statuses.iter().all(|n| *n > 20),
                    "each status (OK, then DeriveError's) seen more than 20 times: {statuses:?}"
                );
            }
            )?

            /// `retype` agrees, status, payload and placement, on random
            /// requests; every status but TruncatedMessage is reached.
            #[test]
            fn c_and_rust_retype_agree() {
                let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ stringify!($spec).len() as u64);
                let mut statuses = [0u32; 8];
                for _ in 0..40_000 {
                    let (source, has_children, request, slots, occupied) = retype_call(&mut rng);
                    let rust = rust_retype(source, has_children, request, slots, occupied);
                    assert_eq!(
                        c_retype(source, has_children, request, slots, occupied),
                        rust,
                        "retype of {source:?} (children: {has_children}) with {request:?} into \
                         {slots:?} slots, occupied {occupied:#x}"
                    );
                    statuses[rust[0] as usize] += 1;
                }
                for (status, seen) in statuses.iter().enumerate().take(7) {
                    assert!(
                        *seen > 20,
                        "retype status {status} was seen {seen} times: {statuses:?}"
                    );
                }
            }
        }
    };
}

differential!(
    kernel,
    capc_kernel_get,
    capc_kernel_set,
    capc_kernel_predicates,
    capc_kernel_cap_for,
    capc_kernel_retype
);
differential!(
    decompress,
    capc_decompress_get,
    capc_decompress_set,
    capc_decompress_predicates,
    capc_decompress_cap_for,
    capc_decompress_retype
);
differential!(
    serial,
    capc_serial_get,
    capc_serial_set,
    capc_serial_predicates,
    capc_serial_cap_for,
    capc_serial_retype
);
differential!(
    caps,
    capc_caps_get,
    capc_caps_set,
    capc_caps_predicates,
    capc_caps_cap_for,
    capc_caps_retype,
    derives = derive,
    retype_at = capc_caps_retype_at,
    splits = capc_caps_split,
    capc_caps_split_at,
    capc_caps_split_range
);
differential!(
    everything,
    capc_everything_get,
    capc_everything_set,
    capc_everything_predicates,
    capc_everything_cap_for,
    capc_everything_retype
);
differential!(
    x86_64,
    capc_x86_64_get,
    capc_x86_64_set,
    capc_x86_64_predicates,
    capc_x86_64_cap_for,
    capc_x86_64_retype
);
