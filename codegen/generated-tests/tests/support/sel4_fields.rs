//! seL4's cap fields that lie at the same word and bits in every
//! configuration the seL4 port declares (`sel4.rs` checks them without any
//! option, `sel4_configurations.rs` with every option on), written from
//! seL4's structures_64.bf and the x86_64 structures.bf: `(cap type, field,
//! word, lowest bit, width, seL4's field)`.

/// The fields no option moves.
pub const EVERY_CONFIGURATION: &[(&str, &str, usize, u32, u32, &str)] = &[
    ("UntypedCap", "base", 0, 0, 48, "capPtr"),
    ("UntypedCap", "block_size", 1, 0, 6, "capBlockSize"),
    ("UntypedCap", "is_device", 1, 6, 1, "capIsDevice"),
    ("UntypedCap", "free_index", 1, 16, 48, "capFreeIndex"),
    ("EndpointCap", "endpoint", 0, 0, 48, "capEPPtr"),
    ("EndpointCap", "badge", 1, 0, 64, "capEPBadge"),
    ("NotificationCap", "notification", 0, 0, 48, "capNtfnPtr"),
    ("NotificationCap", "can_send", 0, 57, 1, "capNtfnCanSend"),
    (
        "NotificationCap",
        "can_receive",
        0,
        58,
        1,
        "capNtfnCanReceive",
    ),
    ("NotificationCap", "badge", 1, 0, 64, "capNtfnBadge"),
    ("CNodeCap", "cnode", 0, 0, 47, "capCNodePtr"),
    ("CNodeCap", "radix", 0, 47, 6, "capCNodeRadix"),
    ("CNodeCap", "guard_size", 0, 53, 6, "capCNodeGuardSize"),
    ("CNodeCap", "guard", 1, 0, 64, "capCNodeGuard"),
    ("ThreadCap", "tcb", 0, 0, 48, "capTCBPtr"),
    ("ZombieCap", "id", 1, 0, 64, "capZombieID"),
    ("ZombieCap", "zombie_type", 0, 0, 7, "capZombieType"),
    ("FrameCap", "base", 1, 0, 48, "capFBasePtr"),
    ("FrameCap", "mapped_asid", 1, 48, 16, "capFMappedASID"),
    ("FrameCap", "page_size", 0, 57, 2, "capFSize"),
    ("FrameCap", "map_type", 0, 55, 2, "capFMapType"),
    ("FrameCap", "mapped_address", 0, 7, 48, "capFMappedAddress"),
    ("FrameCap", "vm_rights", 0, 5, 2, "capFVMRights"),
    ("FrameCap", "is_device", 0, 4, 1, "capFIsDevice"),
    ("PageTableCap", "base", 1, 0, 48, "capPTBasePtr"),
    ("PageTableCap", "mapped_asid", 1, 48, 12, "capPTMappedASID"),
    ("PageTableCap", "mapped", 0, 49, 1, "capPTIsMapped"),
    (
        "PageTableCap",
        "mapped_address",
        0,
        21,
        28,
        "capPTMappedAddress",
    ),
    ("PageDirectoryCap", "base", 1, 0, 48, "capPDBasePtr"),
    (
        "PageDirectoryCap",
        "mapped_asid",
        1,
        48,
        12,
        "capPDMappedASID",
    ),
    ("PageDirectoryCap", "mapped", 0, 49, 1, "capPDIsMapped"),
    (
        "PageDirectoryCap",
        "mapped_address",
        0,
        30,
        19,
        "capPDMappedAddress",
    ),
    ("PdptCap", "base", 1, 0, 48, "capPDPTBasePtr"),
    ("PdptCap", "mapped_asid", 1, 48, 12, "capPDPTMappedASID"),
    ("PdptCap", "mapped", 0, 58, 1, "capPDPTIsMapped"),
    (
        "PdptCap",
        "mapped_address",
        0,
        48,
        10,
        "capPDPTMappedAddress",
    ),
    ("Pml4Cap", "base", 1, 0, 64, "capPML4BasePtr"),
    ("Pml4Cap", "mapped", 0, 58, 1, "capPML4IsMapped"),
    ("Pml4Cap", "mapped_asid", 0, 0, 12, "capPML4MappedASID"),
    ("AsidPoolCap", "pool", 0, 0, 37, "capASIDPool"),
    ("AsidPoolCap", "asid_base", 0, 47, 12, "capASIDBase"),
    ("IoPortCap", "first_port", 0, 40, 16, "capIOPortFirstPort"),
    ("IoPortCap", "last_port", 0, 24, 16, "capIOPortLastPort"),
];

/// A row of a field table: `(cap type, field, word, lowest bit, width,
/// seL4's field)`.
pub type Field = (&'static str, &'static str, usize, u32, u32, &'static str);

/// The row of `name` (`"Cap.field"`) in `fields`.
pub fn row(fields: &[Field], name: &str) -> usize {
    let (cap_name, field) = name.split_once('.').expect("Cap.field");
    fields
        .iter()
        .position(|r| r.0 == cap_name && r.1 == field)
        .unwrap_or_else(|| panic!("{name} is not in the table"))
}

/// Every bit some value of a field sets (`set` stores a value into a cap
/// and gives its words, `None` when the setter refuses it): all ones, the
/// canonical all-ones address without its alignment bits, or an enumerated
/// field's named values together (capFSize takes 1 and 2, not 3).
pub fn filled(set: impl FnMut(u64) -> Option<[u64; 2]>) -> Option<[u64; 2]> {
    (0..64)
        .map(|k| u64::MAX << k)
        .chain((1..64).rev().map(|w| (1u64 << w) - 1))
        .chain((0..64).map(|k| 1u64 << k))
        .filter_map(set)
        .reduce(|a, b| [a[0] | b[0], a[1] | b[1]])
}

/// `empty` with seL4's field of `row` all ones, and those ones.
pub fn expected(empty: [u64; 2], row: &Field) -> ([u64; 2], u64) {
    let (_, _, word, lo, width, _) = *row;
    let ones = if width == 64 {
        u64::MAX
    } else {
        (1 << width) - 1
    };
    let mut words = empty;
    words[word] |= ones << lo;
    (words, ones)
}
