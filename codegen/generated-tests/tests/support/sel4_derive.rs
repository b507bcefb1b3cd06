//! seL4's `deriveCap` per cap type on x86_64, the rule CNode `Copy` and
//! `Mint` apply to their source before anything else: written from seL4's
//! src/object/objecttype.c (`deriveCap`), src/arch/x86/object/objecttype.c
//! (`Arch_deriveCap`) and src/arch/x86/64/object/objecttype.c
//! (`Mode_deriveCap`), seL4 commit 1326364bc, GPL-2.0-only; only what each
//! case does is cited here. `sel4.rs` and `sel4_configurations.rs` hold
//! the generated `may_copy`, `derived` and
//! `CapType::copy_needs_no_children` to it (`check_derive_cap!`).

/// What seL4's `deriveCap` does with a cap of one type.
#[derive(Clone, Copy, Debug)]
pub enum Derive {
    /// `ret.cap = cap`: the copy is the cap as it is.
    Kept,
    /// `ret.cap = cap_null_cap_new()` with no error, which
    /// `decodeCNodeInvocation` answers with `IllegalOperation` ("Source
    /// capability invalid"): never copied.
    Null,
    /// Kept while seL4's field (one bit) is set; else `IllegalOperation`
    /// ("Deriving an unmapped ... cap").
    IfMapped(&'static str),
    /// `ensureNoChildren(slot)`: kept while the cap has no children, else
    /// `RevokeFirst`.
    NoChildren,
    /// Kept with seL4's fields set to 0 (`X86_MappingNone`, `asidInvalid`).
    Cleared(&'static [&'static str]),
}

/// `(cap type, seL4's cap, with MCS (None: either), what deriveCap does)`.
pub const DERIVE_CAP: &[(&str, &str, Option<bool>, Derive)] = &[
    // deriveCap: ensureNoChildren.
    ("UntypedCap", "untyped_cap", None, Derive::NoChildren),
    // deriveCap: the default case.
    ("EndpointCap", "endpoint_cap", None, Derive::Kept),
    ("NotificationCap", "notification_cap", None, Derive::Kept),
    // deriveCap: `#ifndef CONFIG_KERNEL_MCS case cap_reply_cap`: null.
    ("ReplyCap", "reply_cap", Some(false), Derive::Null),
    ("ReplyCap", "reply_cap", Some(true), Derive::Kept),
    ("CNodeCap", "cnode_cap", None, Derive::Kept),
    ("ThreadCap", "thread_cap", None, Derive::Kept),
    // deriveCap: null.
    ("IrqControlCap", "irq_control_cap", None, Derive::Null),
    ("IrqHandlerCap", "irq_handler_cap", None, Derive::Kept),
    // deriveCap: null.
    ("ZombieCap", "zombie_cap", None, Derive::Null),
    ("DomainCap", "domain_cap", None, Derive::Kept),
    (
        "SchedContextCap",
        "sched_context_cap",
        Some(true),
        Derive::Kept,
    ),
    (
        "SchedControlCap",
        "sched_control_cap",
        Some(true),
        Derive::Kept,
    ),
    // Mode_deriveCap: capFMapType = X86_MappingNone, capFMappedASID =
    // asidInvalid; capFMappedAddress is kept.
    (
        "FrameCap",
        "frame_cap",
        None,
        Derive::Cleared(&["capFMapType", "capFMappedASID"]),
    ),
    // Arch_deriveCap.
    (
        "PageTableCap",
        "page_table_cap",
        None,
        Derive::IfMapped("capPTIsMapped"),
    ),
    (
        "PageDirectoryCap",
        "page_directory_cap",
        None,
        Derive::IfMapped("capPDIsMapped"),
    ),
    // Mode_deriveCap.
    (
        "PdptCap",
        "pdpt_cap",
        None,
        Derive::IfMapped("capPDPTIsMapped"),
    ),
    (
        "Pml4Cap",
        "pml4_cap",
        None,
        Derive::IfMapped("capPML4IsMapped"),
    ),
    // Arch_deriveCap: ASID control and pool caps are kept.
    ("AsidControlCap", "asid_control_cap", None, Derive::Kept),
    ("AsidPoolCap", "asid_pool_cap", None, Derive::Kept),
    // Arch_deriveCap: null.
    (
        "IoPortControlCap",
        "io_port_control_cap",
        None,
        Derive::Null,
    ),
    ("IoPortCap", "io_port_cap", None, Derive::Kept),
    // Arch_deriveCap, CONFIG_IOMMU.
    ("IoSpaceCap", "io_space_cap", None, Derive::Kept),
    (
        "IoPageTableCap",
        "io_page_table_cap",
        None,
        Derive::IfMapped("capIOPTIsMapped"),
    ),
    // Arch_deriveCap, CONFIG_VTX.
    ("VcpuCap", "vcpu_cap", None, Derive::Kept),
    (
        "EptPml4Cap",
        "ept_pml4_cap",
        None,
        Derive::IfMapped("capPML4IsMapped"),
    ),
    (
        "EptPdptCap",
        "ept_pdpt_cap",
        None,
        Derive::IfMapped("capPDPTIsMapped"),
    ),
    (
        "EptPdCap",
        "ept_pd_cap",
        None,
        Derive::IfMapped("capPDIsMapped"),
    ),
    (
        "EptPtCap",
        "ept_pt_cap",
        None,
        Derive::IfMapped("capPTIsMapped"),
    ),
];

/// What `deriveCap` does with caps of `cap_type` (the spec's name) in a
/// configuration with or without MCS.
pub fn derive_of(cap_type: &str, mcs: bool) -> Derive {
    DERIVE_CAP
        .iter()
        .find(|r| r.0 == cap_type && r.2.is_none_or(|m| m == mcs))
        .unwrap_or_else(|| panic!("{cap_type} is not in DERIVE_CAP"))
        .3
}

/// The word and mask of seL4's field `sel4` of `cap_type` in `fields`.
pub fn bits_of(fields: &[super::sel4_fields::Field], cap_type: &str, sel4: &str) -> (usize, u64) {
    let &(_, _, word, lo, width, _) = fields
        .iter()
        .find(|r| r.0 == cap_type && r.5 == sel4)
        .unwrap_or_else(|| panic!("{cap_type}'s {sel4} is not in the field table"));
    let ones = if width == 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    };
    (word, ones << lo)
}

/// Holds generated module `$m`'s copy rules to `DERIVE_CAP` for every cap
/// type it has, the field positions from `$fields` (seL4's), MCS on or off
/// (`$mcs`): a cap with every bit of its fields set is copied as the table
/// says, an unmapped table cap (its is-mapped bit clear) is refused and a
/// mapped one with every other field 0 allowed, a frame's copy has seL4's
/// mapping fields 0 and every other bit kept, an Untyped is copied only
/// without children (`copy_needs_no_children`), and the null-deriving caps
/// are `CopyPolicy::Never`.
#[macro_export]
macro_rules! check_derive_cap {
    ($m:ident, $fields:expr, $mcs:expr) => {{
        use $m::{Cap, CapType, CopyPolicy};
        let fields = $fields;
        for ty in CapType::ALL {
            let name = ty.name();
            let tag = (ty as u64) << 59;
            let full = Cap::from_words([!(0x1f << 59) | tag, u64::MAX]);
            let rule = sel4_derive::derive_of(name, $mcs);
            let copyable = !matches!(rule, sel4_derive::Derive::Null);
            assert_eq!($m::may_copy(full), copyable, "{name}: {rule:?}");
            assert_eq!(ty.copy_policy() == CopyPolicy::Never, !copyable, "{name}");
            assert_eq!(
                ty.copy_needs_no_children(),
                matches!(rule, sel4_derive::Derive::NoChildren),
                "{name}"
            );
            match rule {
                sel4_derive::Derive::Cleared(cleared) => {
                    let mut want = full.words();
                    for sel4 in cleared {
                        let (word, mask) = sel4_derive::bits_of(&fields, name, sel4);
                        want[word] &= !mask;
                    }
                    assert_ne!(want, full.words(), "{name}");
                    assert_eq!(
                        $m::derived(full).words(),
                        want,
                        "{name}: {cleared:?} cleared"
                    );
                }
                _ => assert_eq!($m::derived(full), full, "{name}: copied as it is"),
            }
            if let sel4_derive::Derive::IfMapped(sel4) = rule {
                let (word, mask) = sel4_derive::bits_of(&fields, name, sel4);
                let mut unmapped = full.words();
                unmapped[word] &= !mask;
                assert!(!$m::may_copy(Cap::from_words(unmapped)), "{name}: unmapped");
                let mut only_mapped = [tag, 0];
                only_mapped[word] |= mask;
                assert!($m::may_copy(Cap::from_words(only_mapped)), "{name}: mapped");
            }
        }
    }};
}
