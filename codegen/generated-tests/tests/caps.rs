//! The generated rights, object types and caps of kernel.cap and
//! everything.cap, checked against the specs themselves.
//!
//! Every expectation here is written down from the `.cap` files by hand (the
//! field widths, alignments, tags, rights and size rules), never read back
//! from the generated code, so a wrong generator fails these tests. For each
//! cap type, over the whole value range of every field (property tests plus
//! the boundaries):
//! - `new` stores every field and the getters read it back; the tag is kept;
//! - `set_x` then `x()` gives the value, and changes no other field;
//! - values that do not fit (too wide, misaligned, beyond `ADDRESS_BITS`,
//!   rights the cap type may not carry) are refused with a `FieldError`
//!   naming the field, and leave the cap unchanged;
//! - clearing every field leaves only the tag: no field leaves stray bits;
//! - `Debug` names the type and every field.

use proptest::prelude::*;
use proptest::sample::Index;

/// What a field may hold, from the spec.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// `ptr(align = 2^align_bits)`: an aligned address below 2^ADDRESS_BITS.
    Ptr { align_bits: u32 },
    /// `uN`.
    Uint { width: u32 },
    /// `bool`.
    Bool,
    /// `rights(...)`: the mask of the rights listed.
    Rights { valid: u64 },
}

#[derive(Clone, Copy, Debug)]
struct Field {
    name: &'static str,
    kind: Kind,
}

fn mask(width: u32) -> u64 {
    if width >= 64 {
        u64::MAX
    } else {
        (1 << width) - 1
    }
}

/// One generated cap view, seen through plain `u64` values (a `bool` is 0
/// or 1, rights are their mask), so one set of checks serves every type.
trait View: Copy + PartialEq + std::fmt::Debug {
    /// The name in the spec.
    const NAME: &'static str;
    /// The tag: 1 + position among the spec's cap types.
    const TAG: u64;
    /// The spec's `address_bits`.
    const ADDRESS_BITS: u32;
    /// The spec's `tag_bits`.
    const TAG_BITS: u32;
    /// Every declared right of the spec.
    const ALL_RIGHTS: u64;
    /// The fields in declaration order.
    const FIELDS: &'static [Field];

    /// `new(values...)`, with the error as `(field, value)`.
    fn construct(values: &[u64]) -> Result<Self, (&'static str, u64)>;
    /// The getter of field `i`.
    fn get(self, i: usize) -> u64;
    /// The setter of field `i`.
    fn set(&mut self, i: usize, value: u64) -> Result<(), (&'static str, u64)>;
    /// The cap's two words.
    fn words(self) -> [u64; 2];
    /// `from_cap` on a cap with these words.
    fn from_words(words: [u64; 2]) -> Option<Self>;
    /// The generated `TAG` constant.
    fn generated_tag() -> u64;
    /// The generated `VALID_RIGHTS`, and `CapType::valid_rights` for the
    /// type of a cap with these words.
    fn valid_rights(words: [u64; 2]) -> (u64, u64);
    /// The name of the `CapType` of a cap with these words.
    fn cap_type_name(words: [u64; 2]) -> Option<&'static str>;
    /// `{:?}` of the plain `Cap` with these words.
    fn cap_debug(words: [u64; 2]) -> String;
}

/// Every value a field may hold, boundaries included.
fn valid_value<V: View>(kind: Kind) -> BoxedStrategy<u64> {
    match kind {
        Kind::Ptr { align_bits } => {
            let max = mask(V::ADDRESS_BITS - align_bits);
            prop_oneof![Just(0), Just(max), 0..=max]
                .prop_map(move |i| i << align_bits)
                .boxed()
        }
        Kind::Uint { width } => {
            let max = mask(width);
            prop_oneof![Just(0), Just(max), 0..=max].boxed()
        }
        Kind::Bool => (0..=1u64).boxed(),
        Kind::Rights { valid } => any::<u64>().prop_map(move |v| v & valid).boxed(),
    }
}

/// Values a field must refuse, if there are any.
fn invalid_value<V: View>(kind: Kind) -> Option<BoxedStrategy<u64>> {
    match kind {
        Kind::Ptr { align_bits } => {
            let limit = 1u64 << V::ADDRESS_BITS;
            let align = 1u64 << align_bits;
            let misaligned =
                (0..limit, 1..align).prop_map(move |(a, low)| (a & !(align - 1)) | low);
            let too_high =
                prop_oneof![Just(limit), limit..=u64::MAX].prop_map(move |a| a & !(align - 1));
            let too_high_misaligned =
                (limit..=u64::MAX).prop_filter("misaligned", move |a| a & (align - 1) != 0);
            Some(prop_oneof![misaligned, too_high, too_high_misaligned].boxed())
        }
        Kind::Uint { width } if width < 64 => {
            let max = mask(width);
            Some(prop_oneof![Just(max + 1), Just(u64::MAX), (max + 1)..=u64::MAX].boxed())
        }
        Kind::Uint { .. } | Kind::Bool => None,
        Kind::Rights { valid } => {
            let outside = V::ALL_RIGHTS & !valid;
            if outside == 0 {
                return None;
            }
            let bits: Vec<u64> = (0..64)
                .map(|b| 1u64 << b)
                .filter(|b| outside & b != 0)
                .collect();
            Some(
                (any::<u64>(), any::<Index>())
                    .prop_map(move |(v, i)| (v & V::ALL_RIGHTS) | *i.get(&bits))
                    .boxed(),
            )
        }
    }
}

fn valid_values<V: View>() -> Vec<BoxedStrategy<u64>> {
    V::FIELDS.iter().map(|f| valid_value::<V>(f.kind)).collect()
}

/// The largest value of each field.
fn max_values<V: View>() -> Vec<u64> {
    V::FIELDS
        .iter()
        .map(|f| match f.kind {
            Kind::Ptr { align_bits } => mask(V::ADDRESS_BITS - align_bits) << align_bits,
            Kind::Uint { width } => mask(width),
            Kind::Bool => 1,
            Kind::Rights { valid } => valid,
        })
        .collect()
}

fn tag_of(words: [u64; 2], tag_bits: u32) -> u64 {
    words[0] & mask(tag_bits)
}

/// `new` with `values` reads back `values` and keeps the tag.
fn check_new<V: View>(values: &[u64]) -> Result<V, TestCaseError> {
    let view = match V::construct(values) {
        Ok(view) => view,
        Err(e) => {
            return Err(TestCaseError::fail(format!(
                "{} refused {values:?}: {e:?}",
                V::NAME
            )));
        }
    };
    for (i, f) in V::FIELDS.iter().enumerate() {
        prop_assert_eq!(view.get(i), values[i], "{}.{}", V::NAME, f.name);
    }
    let words = view.words();
    prop_assert_eq!(
        tag_of(words, V::TAG_BITS),
        V::TAG,
        "{} lost its tag",
        V::NAME
    );
    prop_assert_eq!(V::from_words(words), Some(view));
    prop_assert_eq!(V::cap_type_name(words), Some(V::NAME));
    Ok(view)
}

/// `set` of field `i` to `value` changes that field only.
fn check_set<V: View>(mut view: V, i: usize, value: u64) -> Result<(), TestCaseError> {
    let before: Vec<u64> = (0..V::FIELDS.len()).map(|j| view.get(j)).collect();
    let name = V::FIELDS[i].name;
    prop_assert_eq!(
        view.set(i, value),
        Ok(()),
        "{}.set_{}({:#x})",
        V::NAME,
        name,
        value
    );
    prop_assert_eq!(view.get(i), value, "{}.{}", V::NAME, name);
    for (j, f) in V::FIELDS.iter().enumerate() {
        if j != i {
            prop_assert_eq!(
                view.get(j),
                before[j],
                "{}.set_{}({:#x}) changed {}",
                V::NAME,
                name,
                value,
                f.name
            );
        }
    }
    prop_assert_eq!(
        tag_of(view.words(), V::TAG_BITS),
        V::TAG,
        "set_{} changed the tag",
        name
    );
    Ok(())
}

/// `set` and `new` refuse `value` for field `i`, naming the field; a refused
/// `set` leaves the cap as it was.
fn check_refused<V: View>(
    mut view: V,
    values: &[u64],
    i: usize,
    value: u64,
) -> Result<(), TestCaseError> {
    let name = V::FIELDS[i].name;
    let before = view.words();
    prop_assert_eq!(
        view.set(i, value),
        Err((name, value)),
        "{}.set_{}({:#x})",
        V::NAME,
        name,
        value
    );
    prop_assert_eq!(
        view.words(),
        before,
        "a refused set_{} changed the cap",
        name
    );
    let mut values = values.to_vec();
    values[i] = value;
    prop_assert_eq!(
        V::construct(&values).err(),
        Some((name, value)),
        "{}::new with {} = {:#x}",
        V::NAME,
        name,
        value
    );
    Ok(())
}

/// Properties and boundary checks shared by every cap type.
fn check_boundaries<V: View>() {
    let n = V::FIELDS.len();
    let zero = vec![0; n];
    let max = max_values::<V>();
    assert_eq!(V::generated_tag(), V::TAG, "{}::TAG", V::NAME);
    assert_eq!(V::TAG_BITS, 5);

    let empty = check_new::<V>(&zero).unwrap();
    assert_eq!(empty.words(), [V::TAG, 0], "{} with every field 0", V::NAME);
    let full = check_new::<V>(&max).unwrap();

    for i in 0..n {
        // From all-zero, set one field to its maximum; from all-maximum,
        // clear one field: either way only that field changes, so no two
        // fields share a bit.
        check_set(empty, i, max[i]).unwrap();
        check_set(full, i, 0).unwrap();
        if let Some(bad) = first_invalid::<V>(V::FIELDS[i].kind) {
            check_refused(empty, &zero, i, bad).unwrap();
            check_refused(full, &max, i, bad).unwrap();
        }
    }

    // Clearing every field of a full cap leaves only the tag.
    let mut view = full;
    for i in 0..n {
        view.set(i, 0).unwrap();
    }
    assert_eq!(
        view.words(),
        [V::TAG, 0],
        "{}: a cleared cap keeps stray bits",
        V::NAME
    );

    // The plain cap's Debug shows the view; the view's names every field.
    let debug = format!("{full:?}");
    assert!(debug.starts_with(V::NAME), "{debug}");
    for f in V::FIELDS {
        assert!(
            debug.contains(&format!("{}: ", f.name)),
            "{debug} lacks {}",
            f.name
        );
    }
    assert_eq!(V::cap_debug(full.words()), debug);

    // VALID_RIGHTS is what the spec lists.
    let valid = V::FIELDS
        .iter()
        .find_map(|f| match f.kind {
            Kind::Rights { valid } => Some(valid),
            _ => None,
        })
        .unwrap_or(0);
    assert_eq!(
        V::valid_rights(full.words()),
        (valid, valid),
        "{} rights",
        V::NAME
    );
}

/// The smallest value just past what the field accepts.
fn first_invalid<V: View>(kind: Kind) -> Option<u64> {
    match kind {
        Kind::Ptr { .. } => Some(1 << V::ADDRESS_BITS),
        Kind::Uint { width } if width < 64 => Some(mask(width) + 1),
        Kind::Uint { .. } | Kind::Bool => None,
        Kind::Rights { valid } => {
            let outside = V::ALL_RIGHTS & !valid;
            (outside != 0).then(|| 1 << outside.trailing_zeros())
        }
    }
}

/// Misaligned pointers are refused too (checked at every bit below the
/// alignment).
fn check_misaligned<V: View>() {
    let zero = vec![0; V::FIELDS.len()];
    let empty = V::construct(&zero).unwrap();
    for (i, f) in V::FIELDS.iter().enumerate() {
        if let Kind::Ptr { align_bits } = f.kind {
            for bit in 0..align_bits {
                check_refused(empty, &zero, i, (1 << align_bits) | (1 << bit)).unwrap();
            }
            // The largest aligned address is accepted, one more byte is not.
            let top = mask(V::ADDRESS_BITS - align_bits) << align_bits;
            check_set(empty, i, top).unwrap();
            check_refused(empty, &zero, i, top + 1).unwrap();
        }
    }
}

/// Implements [`View`] for a generated cap view from its spec description.
macro_rules! view {
    (
        $module:ident :: $ty:ident, tag = $tag:expr, address_bits = $address_bits:expr,
        all_rights = $all:expr,
        { $($field:ident / $setter:ident : $kind:ident $(($arg:expr))?),* $(,)? }
    ) => {
        impl View for capc_generated_tests::$module::$ty {
            const NAME: &'static str = stringify!($ty);
            const TAG: u64 = $tag;
            const ADDRESS_BITS: u32 = $address_bits;
            const TAG_BITS: u32 = 5;
            const ALL_RIGHTS: u64 = $all;
            const FIELDS: &'static [Field] = &[
                $(Field { name: stringify!($field), kind: kind!($kind $(($arg))?) }),*
            ];

            #[allow(unused_variables, unused_mut, clippy::unused_enumerate_index)]
            fn construct(values: &[u64]) -> Result<Self, (&'static str, u64)> {
                use capc_generated_tests::$module::*;
                assert_eq!(values.len(), Self::FIELDS.len());
                let mut values = values.iter().copied();
                $ty::new($(to_arg!($module, $kind, $field, values.next().unwrap())),*)
                    .map_err(|e| (e.field, e.value))
            }

            #[allow(unused_variables)]
            fn get(self, i: usize) -> u64 {
                let name = Self::FIELDS[i].name;
                $(if name == stringify!($field) {
                    return from_val!($kind, self.$field());
                })*
                unreachable!("no field {name}")
            }

            #[allow(unused_variables)]
            fn set(&mut self, i: usize, value: u64) -> Result<(), (&'static str, u64)> {
                #[allow(unused_imports)]
                use capc_generated_tests::$module::*;
                let name = Self::FIELDS[i].name;
                $(if name == stringify!($field) {
                    return self.$setter(to_arg!($module, $kind, $field, value)).map_err(|e| (e.field, e.value));
                })*
                unreachable!("no field {name}")
            }

            fn words(self) -> [u64; 2] {
                self.cap().words()
            }

            fn from_words(words: [u64; 2]) -> Option<Self> {
                Self::from_cap(capc_generated_tests::$module::Cap::from_words(words))
            }

            fn generated_tag() -> u64 {
                Self::TAG
            }

            fn valid_rights(words: [u64; 2]) -> (u64, u64) {
                let cap = capc_generated_tests::$module::Cap::from_words(words);
                let by_type = cap.cap_type().map_or(u64::MAX, |t| t.valid_rights().bits());
                (Self::VALID_RIGHTS.bits(), by_type)
            }

            fn cap_type_name(words: [u64; 2]) -> Option<&'static str> {
                capc_generated_tests::$module::Cap::from_words(words).cap_type().map(|t| t.name())
            }

            fn cap_debug(words: [u64; 2]) -> String {
                format!("{:?}", capc_generated_tests::$module::Cap::from_words(words))
            }
        }
    };
}

macro_rules! kind {
    (ptr($align:expr)) => {
        Kind::Ptr {
            align_bits: ($align as u64).trailing_zeros(),
        }
    };
    (uint($width:expr)) => {
        Kind::Uint { width: $width }
    };
    (bool) => {
        Kind::Bool
    };
    (rights($valid:expr)) => {
        Kind::Rights { valid: $valid }
    };
}

macro_rules! to_arg {
    ($module:ident, bool, $field:ident, $v:expr) => {
        $v != 0
    };
    ($module:ident, rights, $field:ident, $v:expr) => {
        capc_generated_tests::$module::Rights::from_bits($v).expect("declared rights")
    };
    // A `uN` field takes the narrowest integer type that holds it: a value
    // too wide for that type cannot be passed, so it is refused here as the
    // setter refuses one too wide for the field.
    ($module:ident, uint, $field:ident, $v:expr) => {{
        let value: u64 = $v;
        match narrow(value) {
            Some(narrow) => narrow,
            None => return Err((stringify!($field), value)),
        }
    }};
    ($module:ident, $kind:ident, $field:ident, $v:expr) => {
        $v
    };
}

/// `value` as the integer type `T`, if it holds it.
fn narrow<T: TryFrom<u64>>(value: u64) -> Option<T> {
    T::try_from(value).ok()
}

/// A getter's integer as a `u64`.
fn wide<T: Into<u64>>(value: T) -> u64 {
    value.into()
}

macro_rules! from_val {
    (bool, $v:expr) => {
        u64::from($v)
    };
    (rights, $v:expr) => {
        $v.bits()
    };
    (uint, $v:expr) => {
        wide($v)
    };
    ($kind:ident, $v:expr) => {
        $v
    };
}

/// The tests of one cap type: boundaries, misalignment, and properties over
/// random values.
macro_rules! cap_tests {
    ($name:ident, $module:ident :: $ty:ident) => {
        mod $name {
            use super::*;
            type V = capc_generated_tests::$module::$ty;

            #[test]
            fn boundaries() {
                check_boundaries::<V>();
            }

            #[test]
            fn misaligned_pointers_are_refused() {
                check_misaligned::<V>();
            }

            #[test]
            fn view_is_a_cap() {
                assert_eq!(std::mem::size_of::<V>(), 16);
            }

            proptest! {
                #![proptest_config(config())]

                #[test]
                fn new_reads_back(values in valid_values::<V>()) {
                    check_new::<V>(&values)?;
                }

                #[test]
                fn set_changes_one_field(
                    values in valid_values::<V>(),
                    field in any::<Index>(),
                    seed in any::<u64>(),
                ) {
                    if V::FIELDS.is_empty() {
                        return Ok(());
                    }
                    let view = check_new::<V>(&values)?;
                    let i = field.index(V::FIELDS.len());
                    let value = pick(valid_value::<V>(V::FIELDS[i].kind), seed);
                    check_set(view, i, value)?;
                }

                #[test]
                fn values_that_do_not_fit_are_refused(
                    values in valid_values::<V>(),
                    field in any::<Index>(),
                    seed in any::<u64>(),
                ) {
                    if V::FIELDS.is_empty() {
                        return Ok(());
                    }
                    let view = check_new::<V>(&values)?;
                    let i = field.index(V::FIELDS.len());
                    let Some(bad) = invalid_value::<V>(V::FIELDS[i].kind) else {
                        return Ok(());
                    };
                    check_refused(view, &values, i, pick(bad, seed))?;
                }
            }
        }
    };
}

/// No regression files: a failure prints the shrunk case instead.
fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// One value of `strategy`, chosen by `seed` (a strategy picked at run time
/// from the field's kind cannot be a proptest argument directly).
fn pick(strategy: BoxedStrategy<u64>, seed: u64) -> u64 {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    strategy.new_tree(&mut runner).expect("a value").current()
}

/// Rights of both specs, in declaration order (everything.cap declares `read`
/// and `write` in its import, then `grant` and `grant_reply`).
const R: u64 = 1;
const W: u64 = 2;
const G: u64 = 4;
const GR: u64 = 8;
const ALL: u64 = R | W | G | GR;

// kernel.cap: address_bits = 48, tag_bits = 5; cap types in declaration order.
view!(kernel::UntypedCap, tag = 1, address_bits = 48, all_rights = ALL, {
    base / set_base: ptr(16),
    bits / set_bits: uint(6),
    free_index / set_free_index: uint(44),
    is_device / set_is_device: bool,
});
view!(kernel::CNodeCap, tag = 2, address_bits = 48, all_rights = ALL, {
    table / set_table: ptr(32),
    radix / set_radix: uint(5),
    guard_bits / set_guard_bits: uint(6),
    guard / set_guard: uint(64),
});
view!(kernel::TcbCap, tag = 3, address_bits = 48, all_rights = ALL, {
    tcb / set_tcb: ptr(2048),
});
view!(kernel::EndpointCap, tag = 4, address_bits = 48, all_rights = ALL, {
    endpoint / set_endpoint: ptr(16),
    rights / set_rights: rights(R | W | G | GR),
    badge / set_badge: uint(64),
});
view!(kernel::NotificationCap, tag = 5, address_bits = 48, all_rights = ALL, {
    notification / set_notification: ptr(32),
    rights / set_rights: rights(R | W),
    badge / set_badge: uint(64),
});
view!(kernel::FrameCap, tag = 6, address_bits = 48, all_rights = ALL, {
    frame / set_frame: ptr(4096),
    bits / set_bits: uint(5),
    rights / set_rights: rights(R | W),
    mapped_page / set_mapped_page: uint(36),
    is_device / set_is_device: bool,
    mapped_asid / set_mapped_asid: uint(12),
});
view!(kernel::Pml4Cap, tag = 7, address_bits = 48, all_rights = ALL, {
    table / set_table: ptr(4096),
    asid / set_asid: uint(12),
});
view!(kernel::PdptCap, tag = 8, address_bits = 48, all_rights = ALL, {
    table / set_table: ptr(4096),
    mapped_page / set_mapped_page: uint(36),
    mapped_asid / set_mapped_asid: uint(12),
});
view!(kernel::PageDirectoryCap, tag = 9, address_bits = 48, all_rights = ALL, {
    table / set_table: ptr(4096),
    mapped_page / set_mapped_page: uint(36),
    mapped_asid / set_mapped_asid: uint(12),
});
view!(kernel::PageTableCap, tag = 10, address_bits = 48, all_rights = ALL, {
    table / set_table: ptr(4096),
    mapped_page / set_mapped_page: uint(36),
    mapped_asid / set_mapped_asid: uint(12),
});
view!(
    kernel::IrqControlCap,
    tag = 11,
    address_bits = 48,
    all_rights = ALL,
    {}
);
view!(kernel::IrqHandlerCap, tag = 12, address_bits = 48, all_rights = ALL, {
    irq / set_irq: uint(8),
});
view!(
    kernel::IoPortControlCap,
    tag = 13,
    address_bits = 48,
    all_rights = ALL,
    {}
);
view!(kernel::IoPortCap, tag = 14, address_bits = 48, all_rights = ALL, {
    first / set_first: uint(16),
    last / set_last: uint(16),
});
view!(
    kernel::AsidControlCap,
    tag = 15,
    address_bits = 48,
    all_rights = ALL,
    {}
);
view!(kernel::AsidPoolCap, tag = 16, address_bits = 48, all_rights = ALL, {
    pool / set_pool: ptr(4096),
});
view!(kernel::ReplyCap, tag = 17, address_bits = 48, all_rights = ALL, {
    caller / set_caller: ptr(2048),
    rights / set_rights: rights(G),
});

cap_tests!(kernel_untyped_cap, kernel::UntypedCap);
cap_tests!(kernel_cnode_cap, kernel::CNodeCap);
cap_tests!(kernel_tcb_cap, kernel::TcbCap);
cap_tests!(kernel_endpoint_cap, kernel::EndpointCap);
cap_tests!(kernel_notification_cap, kernel::NotificationCap);
cap_tests!(kernel_frame_cap, kernel::FrameCap);
cap_tests!(kernel_pml4_cap, kernel::Pml4Cap);
cap_tests!(kernel_pdpt_cap, kernel::PdptCap);
cap_tests!(kernel_page_directory_cap, kernel::PageDirectoryCap);
cap_tests!(kernel_page_table_cap, kernel::PageTableCap);
cap_tests!(kernel_irq_control_cap, kernel::IrqControlCap);
cap_tests!(kernel_irq_handler_cap, kernel::IrqHandlerCap);
cap_tests!(kernel_io_port_control_cap, kernel::IoPortControlCap);
cap_tests!(kernel_io_port_cap, kernel::IoPortCap);
cap_tests!(kernel_asid_control_cap, kernel::AsidControlCap);
cap_tests!(kernel_asid_pool_cap, kernel::AsidPoolCap);
cap_tests!(kernel_reply_cap, kernel::ReplyCap);

// everything.cap: the import's items come first (UntypedCap is tag 1).
view!(everything::UntypedCap, tag = 1, address_bits = 48, all_rights = ALL, {
    base / set_base: ptr(16),
    bits / set_bits: uint(6),
    free_index / set_free_index: uint(44),
});
view!(everything::DeviceUntypedCap, tag = 2, address_bits = 48, all_rights = ALL, {
    base / set_base: ptr(4096),
    bits / set_bits: uint(6),
    free_index / set_free_index: uint(36),
    is_device / set_is_device: bool,
});
view!(everything::FrameCap, tag = 3, address_bits = 48, all_rights = ALL, {
    frame / set_frame: ptr(4096),
    bits / set_bits: uint(5),
    rights / set_rights: rights(R | W),
    is_device / set_is_device: bool,
    mapped_page / set_mapped_page: uint(36),
    mapped_asid / set_mapped_asid: uint(8),
});
view!(everything::CNodeCap, tag = 4, address_bits = 48, all_rights = ALL, {
    table / set_table: ptr(64),
    radix / set_radix: uint(5),
    guard_bits / set_guard_bits: uint(6),
    guard / set_guard: uint(64),
});
view!(everything::TcbCap, tag = 5, address_bits = 48, all_rights = ALL, {
    tcb / set_tcb: ptr(1024),
});
view!(everything::EndpointCap, tag = 6, address_bits = 48, all_rights = ALL, {
    endpoint / set_endpoint: ptr(16),
    rights / set_rights: rights(R | W | G | GR),
    badge / set_badge: uint(64),
});
view!(everything::NotificationCap, tag = 7, address_bits = 48, all_rights = ALL, {
    notification / set_notification: ptr(32),
    rights / set_rights: rights(R | W),
    badge / set_badge: uint(32),
});
view!(
    everything::IrqControlCap,
    tag = 8,
    address_bits = 48,
    all_rights = ALL,
    {}
);
view!(everything::DomainCap, tag = 9, address_bits = 48, all_rights = ALL, {
    domain / set_domain: uint(8),
});
view!(everything::PageTableCap, tag = 10, address_bits = 48, all_rights = ALL, {
    table / set_table: ptr(4096),
    mapped_page / set_mapped_page: uint(36),
});

cap_tests!(everything_untyped_cap, everything::UntypedCap);
cap_tests!(everything_device_untyped_cap, everything::DeviceUntypedCap);
cap_tests!(everything_frame_cap, everything::FrameCap);
cap_tests!(everything_cnode_cap, everything::CNodeCap);
cap_tests!(everything_tcb_cap, everything::TcbCap);
cap_tests!(everything_endpoint_cap, everything::EndpointCap);
cap_tests!(everything_notification_cap, everything::NotificationCap);
cap_tests!(everything_irq_control_cap, everything::IrqControlCap);
cap_tests!(everything_domain_cap, everything::DomainCap);
cap_tests!(everything_page_table_cap, everything::PageTableCap);

/// Every view of a module refuses every other type's cap.
macro_rules! views_are_distinct {
    ($name:ident, $module:ident :: { $($ty:ident),* $(,)? }) => {
        #[test]
        fn $name() {
            use capc_generated_tests::$module::*;
            let caps: Vec<(&str, [u64; 2])> = vec![$((
                stringify!($ty),
                <$ty as View>::construct(&vec![0; <$ty as View>::FIELDS.len()]).unwrap().words(),
            )),*];
            for (owner, words) in &caps {
                let accepted: Vec<&str> = [$((
                    stringify!($ty),
                    <$ty as View>::from_words(*words).is_some(),
                )),*]
                .into_iter()
                .filter(|(_, ok)| *ok)
                .map(|(name, _)| name)
                .collect();
                assert_eq!(accepted, [*owner], "views accepting a {owner}");
            }
            // One tag per cap type, 1.. in declaration order.
            let tags: Vec<u64> = vec![$(<$ty as View>::TAG),*];
            assert_eq!(tags, (1..=tags.len() as u64).collect::<Vec<_>>());
            assert_eq!(CapType::ALL.len(), tags.len());
        }
    };
}

views_are_distinct!(kernel_views_are_distinct, kernel::{
    UntypedCap, CNodeCap, TcbCap, EndpointCap, NotificationCap, FrameCap, Pml4Cap, PdptCap,
    PageDirectoryCap, PageTableCap, IrqControlCap, IrqHandlerCap, IoPortControlCap, IoPortCap,
    AsidControlCap, AsidPoolCap, ReplyCap,
});
views_are_distinct!(everything_views_are_distinct, everything::{
    UntypedCap, DeviceUntypedCap, FrameCap, CNodeCap, TcbCap, EndpointCap, NotificationCap,
    IrqControlCap, DomainCap, PageTableCap,
});

/// How an object type's size depends on its argument, from the spec.
#[derive(Clone, Copy, Debug)]
enum Size {
    /// A fixed size: argument 0 only.
    Fixed(u32),
    /// `arg in min..=max`, size_bits = arg + offset.
    Range { min: u64, max: u64, offset: u32 },
    /// `arg in {a, b, ...}`, size_bits = arg.
    Set(&'static [u64]),
}

impl Size {
    fn bounds(self) -> (u64, u64) {
        match self {
            Size::Fixed(_) => (0, 0),
            Size::Range { min, max, .. } => (min, max),
            Size::Set(args) => (args[0], args[args.len() - 1]),
        }
    }

    fn size_bits(self, arg: u64) -> Option<u32> {
        match self {
            Size::Fixed(bits) => (arg == 0).then_some(bits),
            Size::Range { min, max, offset } => {
                (min..=max).contains(&arg).then(|| arg as u32 + offset)
            }
            Size::Set(args) => args.contains(&arg).then_some(arg as u32),
        }
    }
}

/// An object type as the spec declares it.
struct ObjectSpec {
    name: &'static str,
    size: Size,
    /// `align = ...` as log2, when it differs from the size.
    align_bits: Option<u32>,
    ram: bool,
    device: bool,
    untyped: bool,
}

const fn object(name: &'static str, size: Size) -> ObjectSpec {
    ObjectSpec {
        name,
        size,
        align_bits: None,
        ram: true,
        device: false,
        untyped: false,
    }
}

/// Arguments worth trying for every object type: small ones, every one a
/// size rule here allows and its neighbours, and ones that truncate to
/// allowed values when cut to 32 or 8 bits.
fn interesting_args() -> Vec<u64> {
    let mut args: Vec<u64> = (0..=100).collect();
    for base in [1u64 << 8, 1 << 32, 1 << 63] {
        for low in [0, 1, 4, 12, 21, 24, 47] {
            args.push(base + low);
        }
    }
    args.extend([u64::MAX, u64::MAX - 5, u64::MAX - 4, u32::MAX.into()]);
    args
}

/// The cap type table of a spec: name, object type, rights, copy policy.
struct CapSpec {
    name: &'static str,
    object: Option<&'static str>,
    rights: u64,
    copy: &'static str,
}

const fn cap(name: &'static str, object: Option<&'static str>, rights: u64) -> CapSpec {
    CapSpec {
        name,
        object,
        rights,
        copy: "Normal",
    }
}

/// Rights, object types, cap types, the plain `Cap` and the target
/// constants of one module, against tables written from its spec.
macro_rules! module_tests {
    ($name:ident, $module:ident, objects = $objects:expr, caps = $caps:expr) => {
        mod $name {
            use super::*;
            use capc_generated_tests::$module::*;

            #[test]
            fn target_constants() {
                assert_eq!(target::ADDRESS_BITS, 48);
                assert_eq!(target::TAG_BITS, 5);
                assert_eq!(target::MESSAGE_REGISTERS, 4);
                assert_eq!(target::MESSAGE_WORDS, 120);
                assert_eq!(target::CAPS_PER_MESSAGE, 3);
            }

            #[test]
            fn rights_are_numbered_in_declaration_order() {
                assert_eq!(Rights::READ.bits(), R);
                assert_eq!(Rights::WRITE.bits(), W);
                assert_eq!(Rights::GRANT.bits(), G);
                assert_eq!(Rights::GRANT_REPLY.bits(), GR);
                assert_eq!(Rights::NONE.bits(), 0);
                assert_eq!(Rights::ALL.bits(), ALL);
                assert_eq!(Rights::NAMES, ["read", "write", "grant", "grant_reply"]);
                assert_eq!(Rights::default(), Rights::NONE);
                assert_eq!(format!("{:?}", Rights::NONE), "Rights()");
                assert_eq!(
                    format!("{:?}", Rights::READ.union(Rights::GRANT)),
                    "Rights(read | grant)"
                );
                assert_eq!(
                    format!("{:?}", Rights::ALL),
                    "Rights(read | write | grant | grant_reply)"
                );
            }

            #[test]
            fn masking_never_adds_rights() {
                for a in 0..=ALL {
                    let have = Rights::from_bits(a).unwrap();
                    assert_eq!(have.bits(), a);
                    for b in 0..=ALL {
                        let keep = Rights::from_bits(b).unwrap();
                        let masked = have.mask(keep);
                        assert_eq!(masked.bits(), a & b, "{a:#b}.mask({b:#b})");
                        assert!(have.contains(masked));
                        assert_eq!(have.contains(keep), b & !a == 0, "{a:#b}.contains({b:#b})");
                        assert_eq!(have.union(keep).bits(), a | b);
                    }
                }
            }

            proptest! {
                #![proptest_config(config())]

                #[test]
                fn mask_is_a_subset(a in any::<u64>(), b in any::<u64>()) {
                    let have = Rights::from_bits_truncate(a);
                    let masked = have.mask(Rights::from_bits_truncate(b));
                    prop_assert!(have.contains(masked));
                    prop_assert_eq!(masked.bits() & !have.bits(), 0);
                    prop_assert_eq!(masked.bits(), a & b & ALL);
                }

                #[test]
                fn from_bits_refuses_unknown_bits(bits in any::<u64>()) {
                    match Rights::from_bits(bits) {
                        Some(r) => {
                            prop_assert_eq!(bits & !ALL, 0);
                            prop_assert_eq!(r.bits(), bits);
                        }
                        None => prop_assert_ne!(bits & !ALL, 0),
                    }
                    prop_assert_eq!(Rights::from_bits_truncate(bits).bits(), bits & ALL);
                }

                #[test]
                fn size_bits_of_any_argument(arg in any::<u64>()) {
                    let objects: &[ObjectSpec] = &$objects;
                    for (o, spec) in ObjectType::ALL.iter().zip(objects) {
                        let (min, max) = spec.size.bounds();
                        let expected = spec.size.size_bits(arg).ok_or(SizeError { min, max });
                        prop_assert_eq!(o.size_bits(arg), expected, "{}({})", spec.name, arg);
                    }
                }
            }

            #[test]
            fn object_types_match_the_spec() {
                let objects: &[ObjectSpec] = &$objects;
                let names: Vec<&str> = ObjectType::ALL.iter().map(|o| o.name()).collect();
                let expected: Vec<&str> = objects.iter().map(|o| o.name).collect();
                assert_eq!(names, expected);
                for (i, (o, spec)) in ObjectType::ALL.iter().zip(objects).enumerate() {
                    assert_eq!(*o as u64, i as u64, "{} is numbered by position", spec.name);
                    assert_eq!(ObjectType::from_word(i as u64), Some(*o));
                    let (min, max) = spec.size.bounds();
                    assert_eq!(o.arg_bounds(), (min, max), "{} bounds", spec.name);
                    for arg in interesting_args() {
                        let expected = spec.size.size_bits(arg).ok_or(SizeError { min, max });
                        assert_eq!(o.size_bits(arg), expected, "{}.size_bits({arg})", spec.name);
                    }
                    for bits in 0..64 {
                        assert_eq!(
                            o.align_bits(bits),
                            spec.align_bits.unwrap_or(bits),
                            "{}.align_bits({bits})",
                            spec.name
                        );
                    }
                    assert_eq!(o.memory(), (spec.ram, spec.device), "{} memory", spec.name);
                    assert_eq!(o.is_untyped(), spec.untyped, "{} untyped", spec.name);
                }
                for word in [objects.len() as u64, 255, 256, u64::MAX] {
                    assert_eq!(ObjectType::from_word(word), None, "object type {word}");
                }
            }

            #[test]
            fn cap_types_match_the_spec() {
                let caps: &[CapSpec] = &$caps;
                let names: Vec<&str> = CapType::ALL.iter().map(|c| c.name()).collect();
                let expected: Vec<&str> = caps.iter().map(|c| c.name).collect();
                assert_eq!(names, expected);
                for (i, (c, spec)) in CapType::ALL.iter().zip(caps).enumerate() {
                    let tag = i as u64 + 1;
                    assert_eq!(*c as u64, tag, "{} tag", spec.name);
                    assert_eq!(CapType::from_tag(tag), Some(*c));
                    assert_eq!(
                        c.object_type().map(|o| o.name()),
                        spec.object,
                        "{}",
                        spec.name
                    );
                    assert_eq!(c.valid_rights().bits(), spec.rights, "{} rights", spec.name);
                    assert_eq!(
                        format!("{:?}", c.copy_policy()),
                        spec.copy,
                        "{} copy",
                        spec.name
                    );
                }
                assert_eq!(CapType::from_tag(0), None, "tag 0 is the null cap");
                for tag in caps.len() as u64 + 1..=64 {
                    assert_eq!(CapType::from_tag(tag), None, "tag {tag}");
                }
            }

            #[test]
            fn plain_caps() {
                assert_eq!(std::mem::size_of::<Cap>(), 16);
                assert_eq!(Cap::NULL.words(), [0, 0]);
                assert_eq!(Cap::default(), Cap::NULL);
                assert!(Cap::NULL.is_null());
                assert_eq!(Cap::NULL.cap_type(), None);
                assert_eq!(format!("{:?}", Cap::NULL), "Cap::NULL");
                // The tag is the low 5 bits of word 0 and nothing else.
                let cap = Cap::from_words([!0x1f | 3, u64::MAX]);
                assert_eq!(cap.tag(), 3);
                assert!(!cap.is_null());
                assert_eq!(cap.cap_type(), CapType::from_tag(3));
                assert_eq!(Cap::from_words([!0x1f, u64::MAX]).tag(), 0);
                assert!(Cap::from_words([!0x1f, u64::MAX]).is_null());
                let words = [0x1234_5678_9abc_def0, 0x0fed_cba9_8765_4321];
                assert_eq!(Cap::from_words(words).words(), words);
                // An unused tag is shown as such, not as some cap type.
                let unused = Cap::from_words([31, 0]);
                assert_eq!(unused.cap_type(), None);
                assert!(
                    format!("{unused:?}").contains("invalid tag: 31"),
                    "{unused:?}"
                );
            }
        }
    };
}

module_tests!(
    kernel_module,
    kernel,
    objects = [
        ObjectSpec {
            device: true,
            untyped: true,
            ..object(
                "Untyped",
                Size::Range {
                    min: 4,
                    max: 47,
                    offset: 0
                }
            )
        },
        object(
            "CNode",
            Size::Range {
                min: 1,
                max: 24,
                offset: 5
            }
        ),
        object("Tcb", Size::Fixed(11)),
        object("Endpoint", Size::Fixed(4)),
        object("Notification", Size::Fixed(5)),
        ObjectSpec {
            device: true,
            ..object("Frame", Size::Set(&[12, 21]))
        },
        object("Pml4", Size::Fixed(12)),
        object("Pdpt", Size::Fixed(12)),
        object("PageDirectory", Size::Fixed(12)),
        object("PageTable", Size::Fixed(12)),
        object("AsidPool", Size::Fixed(12)),
    ],
    caps = [
        cap("UntypedCap", Some("Untyped"), 0),
        cap("CNodeCap", Some("CNode"), 0),
        cap("TcbCap", Some("Tcb"), 0),
        cap("EndpointCap", Some("Endpoint"), R | W | G | GR),
        cap("NotificationCap", Some("Notification"), R | W),
        cap("FrameCap", Some("Frame"), R | W),
        cap("Pml4Cap", Some("Pml4"), 0),
        cap("PdptCap", Some("Pdpt"), 0),
        cap("PageDirectoryCap", Some("PageDirectory"), 0),
        cap("PageTableCap", Some("PageTable"), 0),
        CapSpec {
            copy: "Never",
            ..cap("IrqControlCap", None, 0)
        },
        cap("IrqHandlerCap", None, 0),
        CapSpec {
            copy: "Never",
            ..cap("IoPortControlCap", None, 0)
        },
        cap("IoPortCap", None, 0),
        CapSpec {
            copy: "Never",
            ..cap("AsidControlCap", None, 0)
        },
        cap("AsidPoolCap", Some("AsidPool"), 0),
        CapSpec {
            copy: "Never",
            ..cap("ReplyCap", None, G)
        },
    ]
);

module_tests!(
    everything_module,
    everything,
    objects = [
        ObjectSpec {
            untyped: true,
            ..object(
                "Untyped",
                Size::Range {
                    min: 4,
                    max: 47,
                    offset: 0
                }
            )
        },
        ObjectSpec {
            ram: false,
            device: true,
            untyped: true,
            ..object(
                "DeviceUntyped",
                Size::Range {
                    min: 12,
                    max: 47,
                    offset: 0
                }
            )
        },
        ObjectSpec {
            device: true,
            ..object("Frame", Size::Set(&[12, 21]))
        },
        object(
            "CNode",
            Size::Range {
                min: 1,
                max: 24,
                offset: 5
            }
        ),
        ObjectSpec {
            align_bits: Some(10),
            ..object("Tcb", Size::Fixed(11))
        },
        object("Endpoint", Size::Fixed(4)),
        object("Notification", Size::Fixed(5)),
        object("PageTable", Size::Fixed(12)),
    ],
    caps = [
        cap("UntypedCap", Some("Untyped"), 0),
        cap("DeviceUntypedCap", Some("DeviceUntyped"), 0),
        cap("FrameCap", Some("Frame"), R | W),
        cap("CNodeCap", Some("CNode"), 0),
        cap("TcbCap", Some("Tcb"), 0),
        cap("EndpointCap", Some("Endpoint"), R | W | G | GR),
        cap("NotificationCap", Some("Notification"), R | W),
        CapSpec {
            copy: "Never",
            ..cap("IrqControlCap", None, 0)
        },
        CapSpec {
            copy: "Always",
            ..cap("DomainCap", None, 0)
        },
        cap("PageTableCap", Some("PageTable"), 0),
    ]
);

/// decompress.cap imports kernel.cap: the same cap types, object types and
/// rights, with the same numbers.
#[test]
fn decompress_has_the_kernel_types() {
    use capc_generated_tests::{decompress, kernel};
    let names = |all: &[&str]| all.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        names(&decompress::CapType::ALL.map(|c| c.name())),
        names(&kernel::CapType::ALL.map(|c| c.name()))
    );
    assert_eq!(
        names(&decompress::ObjectType::ALL.map(|o| o.name())),
        names(&kernel::ObjectType::ALL.map(|o| o.name()))
    );
    assert_eq!(decompress::Rights::NAMES, kernel::Rights::NAMES);
    let endpoint = decompress::EndpointCap::new(0x1000, decompress::Rights::READ, 7).unwrap();
    assert_eq!(
        endpoint.cap().words(),
        kernel::EndpointCap::new(0x1000, kernel::Rights::READ, 7)
            .unwrap()
            .cap()
            .words()
    );
}

/// The spec's `const`s, with the values written down from the `.cap` files.
#[test]
fn spec_constants_have_the_spec_values() {
    use capc_generated_tests::{decompress, everything, kernel};
    // kernel.cap
    assert_eq!(kernel::SLOT_BITS, 5);
    assert_eq!(kernel::RETYPE_FAN_OUT, 256);
    assert_eq!(
        kernel::RetypeRule::UNTYPED_CAP.fan_out,
        kernel::RETYPE_FAN_OUT
    );
    // A CNode is 2^(radix + SLOT_BITS) bytes.
    assert_eq!(
        kernel::ObjectType::CNode.size_bits(4),
        Ok(4 + kernel::SLOT_BITS as u32)
    );
    // decompress.cap, and what it imports from kernel.cap
    assert_eq!(decompress::MAX_OUTPUT_PAGES, 256);
    assert_eq!(decompress::SLOT_BITS, 5);
    // everything.cap and everything-base.cap: each expression evaluated
    assert_eq!(everything::SLOT_BITS, 0b101);
    assert_eq!(everything::MAX_UNTYPED_BITS, 47);
    assert_eq!(everything::MESSAGE_WORDS, 120);
    assert_eq!(everything::FAN_OUT, 0x100);
    assert_eq!(everything::PAGE_SIZE, 4096);
    assert_eq!(everything::LARGE_PAGE_SIZE, 2 * 1024 * 1024);
    assert_eq!(everything::TCB_SIZE, 1 << 11);
    assert_eq!(everything::MAX_READ_PAGES, 256);
    assert_eq!(everything::READ_CNODE_RADIX, 8);
}

/// `Cap::rights`, `Cap::with_rights_masked` and `Cap::with_badge` over plain
/// caps of kernel.cap.
mod cap_methods {
    use capc_generated_tests::kernel::*;
    use proptest::prelude::*;

    const RW: Rights = Rights::READ.union(Rights::WRITE);

    /// One cap of every type of kernel.cap, each with rights (where it has a
    /// rights field) `rights` and every other field nonzero where it can be.
    fn one_of_each(rights: Rights) -> Vec<(CapType, Cap)> {
        let frame_rights = rights.mask(RW);
        let caps = [
            UntypedCap::new(0x10_0000, 20, 7, true).unwrap().cap(),
            CNodeCap::new(0x2000, 4, 3, 5).unwrap().cap(),
            TcbCap::new(0x800).unwrap().cap(),
            EndpointCap::new(0x40, rights, 9).unwrap().cap(),
            NotificationCap::new(0x60, frame_rights, 3).unwrap().cap(),
            FrameCap::new(0x20_0000, 21, frame_rights, 17, false, 3)
                .unwrap()
                .cap(),
            Pml4Cap::new(0x1000, 5).unwrap().cap(),
            PdptCap::new(0x1000, 1, 1).unwrap().cap(),
            PageDirectoryCap::new(0x1000, 2, 1).unwrap().cap(),
            PageTableCap::new(0x1000, 3, 1).unwrap().cap(),
            IrqControlCap::new().unwrap().cap(),
            IrqHandlerCap::new(4).unwrap().cap(),
            IoPortControlCap::new().unwrap().cap(),
            IoPortCap::new(0x2f8, 0x2ff).unwrap().cap(),
            AsidControlCap::new().unwrap().cap(),
            AsidPoolCap::new(0x3000).unwrap().cap(),
            ReplyCap::new(0x4800, rights.mask(Rights::GRANT))
                .unwrap()
                .cap(),
        ];
        let caps: Vec<_> = caps
            .into_iter()
            .map(|c| (c.cap_type().unwrap(), c))
            .collect();
        let types: Vec<_> = caps.iter().map(|(t, _)| *t).collect();
        assert_eq!(types, CapType::ALL, "one cap of every type, in tag order");
        caps
    }

    #[test]
    fn rights_reads_the_rights_field_of_every_type() {
        let all = Rights::READ
            .union(Rights::WRITE)
            .union(Rights::GRANT)
            .union(Rights::GRANT_REPLY);
        for rights in [Rights::NONE, Rights::READ, Rights::WRITE, RW, all] {
            for (cap_type, cap) in one_of_each(rights) {
                // From kernel.cap: only these four types have a rights field.
                let expected = match cap_type {
                    CapType::EndpointCap => rights,
                    CapType::NotificationCap | CapType::FrameCap => rights.mask(RW),
                    CapType::ReplyCap => rights.mask(Rights::GRANT),
                    _ => Rights::NONE,
                };
                assert_eq!(cap.rights(), expected, "{cap_type:?}");
            }
        }
        assert_eq!(Cap::NULL.rights(), Rights::NONE);
        assert_eq!(Cap::from_words([31, u64::MAX]).rights(), Rights::NONE);
    }

    #[test]
    fn masking_removes_rights_and_nothing_else() {
        let ep = EndpointCap::new(0x40, Rights::READ.union(Rights::GRANT), 5)
            .unwrap()
            .cap();
        let masked = ep.with_rights_masked(RW);
        assert_eq!(masked.rights(), Rights::READ);
        assert_eq!(badge_of(masked), Some(5));
        assert_eq!(EndpointCap::from_cap(masked).unwrap().endpoint(), 0x40);
        assert_eq!(ep.with_rights_masked(Rights::ALL), ep);
        assert_eq!(ep.with_rights_masked(Rights::NONE).rights(), Rights::NONE);
        for (cap_type, cap) in one_of_each(Rights::NONE) {
            if cap.rights() == Rights::NONE && cap_type.valid_rights() == Rights::NONE {
                assert_eq!(cap.with_rights_masked(Rights::NONE), cap, "{cap_type:?}");
            }
        }
        assert_eq!(Cap::NULL.with_rights_masked(Rights::NONE), Cap::NULL);
    }

    #[test]
    fn with_badge_round_trips_on_badged_types() {
        for badge in [0, 1, 0xdead_beef, u64::MAX] {
            let ep = EndpointCap::new(0x40, Rights::READ, 0).unwrap().cap();
            let badged = ep.with_badge(badge).unwrap();
            assert_eq!(badge_of(badged), Some(badge));
            assert_eq!(badged.rights(), Rights::READ);
            assert!(same_object(ep, badged));
            let ntfn = NotificationCap::new(0x60, RW, 1).unwrap().cap();
            let badged = ntfn.with_badge(badge).unwrap();
            assert_eq!(badge_of(badged), Some(badge));
            assert_eq!(badged.rights(), RW);
        }
    }

    #[test]
    fn with_badge_refuses_types_without_a_badge() {
        for (cap_type, cap) in one_of_each(Rights::READ) {
            let result = cap.with_badge(7);
            match cap_type {
                CapType::EndpointCap | CapType::NotificationCap => assert!(result.is_ok()),
                _ => assert_eq!(
                    result,
                    Err(FieldError {
                        field: "badge",
                        value: 7
                    }),
                    "{cap_type:?}"
                ),
            }
        }
        let refused = Err(FieldError {
            field: "badge",
            value: 7,
        });
        assert_eq!(Cap::NULL.with_badge(7), refused);
        assert_eq!(Cap::from_words([31, 0]).with_badge(7), refused);
    }

    /// `cap` with its rights field set to `rights` through the typed view's
    /// setter; unchanged for types without one.
    fn set_rights(cap: Cap, rights: Rights) -> Cap {
        if let Some(mut view) = EndpointCap::from_cap(cap) {
            view.set_rights(rights).unwrap();
            view.cap()
        } else if let Some(mut view) = NotificationCap::from_cap(cap) {
            view.set_rights(rights).unwrap();
            view.cap()
        } else if let Some(mut view) = FrameCap::from_cap(cap) {
            view.set_rights(rights).unwrap();
            view.cap()
        } else if let Some(mut view) = ReplyCap::from_cap(cap) {
            view.set_rights(rights).unwrap();
            view.cap()
        } else {
            cap
        }
    }

    proptest! {
        /// Whatever the words and the mask, the result's rights are the
        /// cap's rights within `keep`, and only rights bits change.
        #[test]
        fn masking_never_adds_rights(
            tag in 0u64..32,
            word0 in any::<u64>(),
            word1 in any::<u64>(),
            keep in 0u64..16,
        ) {
            let cap = Cap::from_words([(word0 & !31) | tag, word1]);
            let keep = Rights::from_bits_truncate(keep);
            let masked = cap.with_rights_masked(keep);
            prop_assert!(cap.rights().contains(masked.rights()));
            prop_assert!(keep.contains(masked.rights()));
            prop_assert_eq!(masked.tag(), cap.tag());
            let valid = cap.cap_type().map_or(Rights::NONE, CapType::valid_rights);
            prop_assert_eq!(masked.rights(), cap.rights().mask(keep).mask(valid));
            // Only the rights field changes: the same as the view's setter.
            prop_assert_eq!(masked, set_rights(cap, masked.rights()));
            prop_assert_eq!(masked.words()[0] & !cap.words()[0], 0, "no bit is set");
            prop_assert_eq!(masked.words()[1] & !cap.words()[1], 0, "no bit is set");
            // Masking twice is masking once.
            prop_assert_eq!(masked.with_rights_masked(keep), masked);
        }

        #[test]
        fn badge_round_trip(address in 0u64..(1 << 44), badge in any::<u64>()) {
            let ep = EndpointCap::new(address << 4, Rights::ALL, 0).unwrap().cap();
            let badged = ep.with_badge(badge).unwrap();
            prop_assert_eq!(badge_of(badged), Some(badge));
            prop_assert_eq!(badged.with_badge(0).unwrap(), ep);
        }
    }
}
