//! The module generated from examples/barrelfish/caps.cap, the port of
//! Barrelfish's capabilities/caps.hl, checked against Barrelfish.
//!
//! The expected `ObjType_*` numbers are written down by hand from caps.hl
//! with Hamlet's rule (tools/hamlet/HamletBackend.lhs, `mkObjTypeEnum`: the
//! non-abstract caps in declaration order, from `ObjType_Null` = 0), never
//! read back from the generated code; the layouts from the C widths of the
//! fields (barrelfish_kpi/types.h) and capc's layout rules. caps.hl's
//! `from` relations between cap types (Mappings, EndPointLMP, Domain,
//! DeviceID) are derivation rules: the generated `derive` and `is_ancestor`
//! are run against the reference interpreter on them.

use std::path::Path;
use std::sync::OnceLock;

use capc_dsl::model::Spec;
use capc_generated_tests::barrelfish::{
    Cap, CapType, DERIVE_RULES, DeriveError, Destination, DeviceID, FCNode, Frame_Mapping, IO,
    ObjectType, RAM, RetypeError, RetypeRequest, RetypeRule, Rights, derive, is_ancestor, is_copy,
    range_of, region, retype_at, same_object, split, split_at, split_range, target,
};
use capc_harness::{
    BootCap, boot_machine, boot_regions, check_accounting, check_invariants, interp_seen, pack,
};
use capc_interp::{Machine, OpError};
use proptest::prelude::*;

/// Barrelfish's `enum objtype`, as Hamlet generates it from caps.hl.
const OBJ_TYPES: &[(&str, u64)] = &[
    ("PhysAddr", 1),
    ("RAM", 2),
    ("L1CNode", 3),
    ("L2CNode", 4),
    ("FCNode", 5),
    ("Dispatcher", 6),
    ("EndPointLMP", 7),
    ("Frame", 8),
    ("Frame_Mapping", 9),
    ("EndPointUMP", 10),
    ("EndPointUMP_Mapping", 11),
    ("DevFrame", 12),
    ("DevFrame_Mapping", 13),
    ("Kernel", 14),
    ("VNode_x86_64_pml5", 15),
    ("VNode_x86_64_pml5_Mapping", 16),
    ("VNode_x86_64_pml4", 17),
    ("VNode_x86_64_pml4_Mapping", 18),
    ("VNode_x86_64_pdpt", 19),
    ("VNode_x86_64_pdpt_Mapping", 20),
    ("VNode_x86_64_pdir", 21),
    ("VNode_x86_64_pdir_Mapping", 22),
    ("VNode_x86_64_ptable", 23),
    ("VNode_x86_64_ptable_Mapping", 24),
    ("VNode_x86_64_ept_pml4", 25),
    ("VNode_x86_64_ept_pml4_Mapping", 26),
    ("VNode_x86_64_ept_pdpt", 27),
    ("VNode_x86_64_ept_pdpt_Mapping", 28),
    ("VNode_x86_64_ept_pdir", 29),
    ("VNode_x86_64_ept_pdir_Mapping", 30),
    ("VNode_x86_64_ept_ptable", 31),
    ("VNode_x86_64_ept_ptable_Mapping", 32),
    ("VNode_VTd_root_table", 33),
    ("VNode_VTd_root_table_Mapping", 34),
    ("VNode_VTd_ctxt_table", 35),
    ("VNode_VTd_ctxt_table_Mapping", 36),
    ("VNode_x86_32_pdpt", 37),
    ("VNode_x86_32_pdpt_Mapping", 38),
    ("VNode_x86_32_pdir", 39),
    ("VNode_x86_32_pdir_Mapping", 40),
    ("VNode_x86_32_ptable", 41),
    ("VNode_x86_32_ptable_Mapping", 42),
    ("VNode_ARM_l1", 43),
    ("VNode_ARM_l1_Mapping", 44),
    ("VNode_ARM_l2", 45),
    ("VNode_ARM_l2_Mapping", 46),
    ("VNode_AARCH64_l0", 47),
    ("VNode_AARCH64_l0_Mapping", 48),
    ("VNode_AARCH64_l1", 49),
    ("VNode_AARCH64_l1_Mapping", 50),
    ("VNode_AARCH64_l2", 51),
    ("VNode_AARCH64_l2_Mapping", 52),
    ("VNode_AARCH64_l3", 53),
    ("VNode_AARCH64_l3_Mapping", 54),
    ("IRQTable", 55),
    ("IRQDest", 56),
    ("IRQSrc", 57),
    ("IO", 58),
    ("Notify_IPI", 59),
    ("ID", 60),
    ("PerfMon", 61),
    ("KernelControlBlock", 62),
    ("IPI", 63),
    ("ProcessManager", 64),
    ("Domain", 65),
    ("DeviceIDManager", 66),
    ("DeviceID", 67),
];

/// `ObjType_Num`: Hamlet's count, `ObjType_Null` included.
const OBJ_TYPE_NUM: usize = 68;

#[test]
fn every_tag_is_the_barrelfish_objtype_number() {
    assert_eq!(OBJ_TYPES.len() + 1, OBJ_TYPE_NUM);
    assert_eq!(
        CapType::ALL.len() + 1,
        OBJ_TYPE_NUM,
        "ObjType_Null is tag 0"
    );
    for (cap, (name, number)) in CapType::ALL.iter().zip(OBJ_TYPES) {
        assert_eq!(cap.name(), *name);
        assert_eq!(*cap as u64, *number, "ObjType_{name}");
        assert_eq!(CapType::from_tag(*number), Some(*cap), "ObjType_{name}");
    }
    assert_eq!(
        CapType::from_tag(0),
        None,
        "ObjType_Null is capc's null cap"
    );
    assert_eq!(RAM::TAG, 2, "ObjType_RAM");
    assert_eq!(Frame_Mapping::TAG, 9, "ObjType_Frame_Mapping");
    assert_eq!(IO::TAG, 58, "ObjType_IO");
    assert_eq!(DeviceID::TAG, 67, "ObjType_DeviceID");
}

#[test]
fn the_target_is_barrelfish_x86_64() {
    assert_eq!(target::ADDRESS_BITS, 64);
    assert_eq!(target::CAP_WORDS, 5);
    assert_eq!(target::TAG_BITS, 8);
}

#[test]
fn ram_round_trips_at_full_width() {
    // genpaddr base and gensize bytes are 64 bits, pasid_t 32.
    let base = 0xffff_f000_dead_b000;
    // `bytes` holds bytes, as Barrelfish's: RAM is byte-sized (`#[bytes]`).
    let ram = RAM::new(base, 1 << 40, u32::MAX, u64::MAX).expect("fits");
    let words = Cap::from(ram).words();
    assert_eq!(
        words,
        [2 | (u64::from(u32::MAX) << 8), base, 1 << 40, u64::MAX, 0]
    );
    let back = RAM::from_cap(Cap::from_words(words)).expect("a RAM cap");
    assert_eq!(back.base(), base);
    assert_eq!(back.bytes(), 1 << 40);
    assert_eq!(region(back.cap()), Some((base, 1 << 40)));
    // Any whole number of pages is a size RAM has, three pages too ...
    let three = RAM::new(0x10_0000, 3 << 12, 0, 0).expect("any u64 fits");
    assert_eq!(region(three.cap()), Some((0x10_0000, 3 << 12)));
    // ... but not a part of a page.
    let odd = RAM::new(0x10_0000, (3 << 12) + 0x800, 0, 0).expect("any u64 fits");
    assert_eq!(region(odd.cap()), None);
    let small = RAM::new(0x10_0000, 1 << 11, 0, 0).expect("any u64 fits");
    assert_eq!(region(small.cap()), None, "below the smallest RAM");
    assert_eq!(back.pasid(), u32::MAX);
    assert_eq!(back.free_index(), u64::MAX);
    // pasid_t is 32 bits: the getter and the setter take a `u32`, so no
    // wider value reaches the field.
    let _: fn(RAM) -> u32 = RAM::pasid;
}

#[test]
fn fcnode_and_mapping_round_trip() {
    let rights = Rights::READ.union(Rights::IDENTIFY);
    assert_eq!(
        rights.bits(),
        0b1_0001,
        "CAPRIGHTS_READ | CAPRIGHTS_IDENTIFY"
    );
    let fc = FCNode::new(0x1234_5678_9abc_def0, 8, rights, 3, 2, 0xffff_ffff).expect("fits");
    let back = FCNode::from_cap(Cap::from_words(Cap::from(fc).words())).expect("an FCNode");
    assert_eq!(back.cnode(), 0x1234_5678_9abc_def0);
    assert_eq!(back.bits(), 8);
    assert_eq!(back.rightsmask(), rights);
    assert_eq!(back.core_id(), 3);
    assert_eq!(back.guard_size(), 2);
    assert_eq!(back.guard(), 0xffff_ffff);
    // coreid_t is 8 bits: the field takes a `u8`.
    let _: fn(FCNode) -> u8 = FCNode::core_id;

    // The mapped frame's size in bytes takes the fifth word.
    let mapping = Frame_Mapping::new(
        0xffff_8000_0000_1000,
        0xffff_8000_0000_2040,
        511,
        512,
        0xffff_f000_dead_b000,
        3 << 12,
    )
    .expect("fits");
    let words = Cap::from(mapping).words();
    assert_eq!(
        words,
        [
            9 | (511 << 8) | (512 << 24),
            0xffff_8000_0000_1000,
            0xffff_8000_0000_2040,
            0xffff_f000_dead_b000,
            3 << 12,
        ]
    );
    // IO ports are 16 bits: the fields take a `u16`.
    let _: fn(IO) -> u16 = IO::end;
}

fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/barrelfish/caps.cap");
        capc_dsl::compile(&path, &capc_dsl::FsLoader)
            .expect("readable")
            .spec
            .expect("caps.cap checks clean")
    })
}

/// 1 MiB of RAM, a ProcessManager and a DeviceIDManager.
const BOOT: &[BootCap] = &[
    (0, "RAM", 0x10_0000, 0x10_0000, false, &[]),
    (1, "ProcessManager", 0, 0, false, &[]),
    (2, "DeviceIDManager", 0, 0, false, &[]),
];

/// `BOOT`, and an IRQSrc for the vectors 32..=95 in slot 15.
const BOOT_WITH_IRQ: &[BootCap] = &[
    (0, "RAM", 0x10_0000, 0x10_0000, false, &[]),
    (1, "ProcessManager", 0, 0, false, &[]),
    (2, "DeviceIDManager", 0, 0, false, &[]),
    (
        15,
        "IRQSrc",
        0,
        0,
        false,
        &[("vec_start", 32), ("vec_end", 95)],
    ),
];

/// The words of the cap in root slot `index`.
fn words(m: &Machine<'_>, index: u64) -> Cap {
    let node = m.node_at(capc_interp::Slot {
        cnode: capc_interp::CNodeId::Root,
        index,
    });
    Cap::from_words(
        pack(m, &node.expect("a cap there").cap)
            .try_into()
            .expect("4 words"),
    )
}

#[test]
fn every_from_relation_between_cap_types_is_a_rule() {
    // caps.hl's 26 `from` relations whose source is not PhysAddr or RAM,
    // all `#[multiple]` (see caps.cap), and its `from_self` on Frame and
    // DevFrame (split from the start or at offsets) and IRQSrc (split into
    // sub-ranges).
    assert_eq!(DERIVE_RULES.len(), 29);
    for rule in DERIVE_RULES {
        assert_eq!(rule.target.derived_from(), Some(rule));
        if rule.source == rule.target {
            assert!(rule.source.splits() && !rule.multiple);
            assert_eq!(rule.at_offset, rule.source != CapType::IRQSrc);
        } else {
            assert!(rule.multiple);
            assert!(rule.target.is_derived_from(rule.source));
            assert!(!rule.source.is_derived_from(rule.target));
        }
    }
    let splits: Vec<CapType> = CapType::ALL.into_iter().filter(|t| t.splits()).collect();
    assert_eq!(splits, [CapType::Frame, CapType::DevFrame, CapType::IRQSrc]);
    assert_eq!(
        CapType::EndPointLMP.derived_from().map(|r| r.source),
        Some(CapType::Dispatcher)
    );
    assert_eq!(
        CapType::RAM.derived_from(),
        None,
        "retyped, not derived nor split"
    );
}

#[test]
fn derived_caps_are_the_interpreters() {
    let spec = spec();
    let mut m = boot_machine(spec, BOOT);
    let object = |name: &str| u64::from(spec.object(name).unwrap().0);
    let cap_type = |name: &str| spec.cap(name).unwrap();
    // A 64 KiB Frame, a Dispatcher and a page table.
    m.retype(&[0], object("FrameObject"), 0x1_0000, &[], 3, 1)
        .unwrap();
    m.retype(&[0], object("DispatcherObject"), 0, &[], 4, 1)
        .unwrap();
    m.retype(&[0], object("VNode_x86_64_ptableObject"), 0, &[], 5, 1)
        .unwrap();
    let derivations = [
        (3, "Frame_Mapping", CapType::Frame_Mapping, 7),
        (3, "Frame_Mapping", CapType::Frame_Mapping, 8),
        (4, "EndPointLMP", CapType::EndPointLMP, 9),
        (4, "EndPointLMP", CapType::EndPointLMP, 10),
        (
            5,
            "VNode_x86_64_ptable_Mapping",
            CapType::VNode_x86_64_ptable_Mapping,
            11,
        ),
        (1, "Domain", CapType::Domain, 12),
        (2, "DeviceID", CapType::DeviceID, 13),
    ];
    for (source, name, target, dest) in derivations {
        m.derive_cap(&[source], cap_type(name), &[dest]).unwrap();
        let (parent, child) = (words(&m, source), words(&m, dest));
        // Every rule is `multiple`: a live derived cap does not matter.
        assert_eq!(derive(parent, target, true), Ok(child), "{name}");
        assert!(
            is_ancestor(parent, child),
            "{name} is derived from its source"
        );
        assert!(!is_ancestor(child, parent), "{name}");
        assert!(!same_object(parent, child) && !is_copy(parent, child));
    }
    // A Frame_Mapping names the frame's 64 KiB; it lies within the RAM, so
    // the RAM is its ancestor by its contents too.
    let (ram, frame, mapping) = (words(&m, 0), words(&m, 3), words(&m, 7));
    assert_eq!(Frame_Mapping::from_cap(mapping).unwrap().bytes(), 0x1_0000);
    assert!(is_ancestor(ram, mapping));
    // Not from another frame, nor from a cap of the wrong type.
    m.retype(&[0], object("FrameObject"), 0x1000, &[], 14, 1)
        .unwrap();
    assert!(
        !is_ancestor(words(&m, 14), mapping),
        "another frame's mapping"
    );
    assert_eq!(
        derive(frame, CapType::EndPointLMP, false),
        Err(DeriveError::IllegalOperation)
    );
    assert_eq!(
        m.derive_cap(&[3], cap_type("EndPointLMP"), &[15]),
        Err(OpError::IllegalOperation)
    );
    assert_eq!(
        derive(ram, CapType::Frame_Mapping, false),
        Err(DeriveError::IllegalOperation)
    );
    // Revoking the frame deletes its two mappings; the RAM's revoke the rest
    // but the managers' caps.
    assert_eq!(m.revoke(&[3]), Ok(2));
    assert_eq!(m.revoke(&[0]), Ok(7));
    assert_eq!(m.revoke(&[1]), Ok(1));
    assert_eq!(m.revoke(&[2]), Ok(1));
}

/// One step of a random sequence on the Barrelfish port: retype from the
/// RAM cap in slot 0, derive by a rule, copy, delete, revoke (slots of the
/// root CNode).
#[derive(Clone, Debug)]
enum Step {
    Retype {
        object: &'static str,
        arg: u64,
        dest: u64,
    },
    /// `rule` picks a rule: mostly one for the source's type.
    Derive {
        source: u64,
        rule: usize,
        dest: u64,
    },
    /// `split` (`at` is `None`) or `split_at`.
    Split {
        source: u64,
        arg: u64,
        count: u64,
        at: Option<u64>,
        dest: u64,
    },
    /// From the RAM cap in slot 0 (or `source`, 1 time in 4), at `at`
    /// bytes into it.
    RetypeAt {
        source: u64,
        object: &'static str,
        arg: u64,
        at: u64,
        count: u64,
        dest: u64,
    },
    /// `split_range` of an IRQSrc (mostly), for `first..=first + len`.
    SplitRange {
        source: u64,
        first: u64,
        len: u64,
        dest: u64,
    },
    Copy {
        source: u64,
        dest: u64,
    },
    Delete(u64),
    Revoke(u64),
}

/// Frame sizes in bytes (`#[bytes]`): mostly 1 to 16 whole pages, any
/// number of them, sometimes a size that is not whole pages or is too small.
fn frame_sizes() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => (1..=16u64).prop_map(|pages| pages << 12),
        1 => 0..0x1_1000u64,
    ]
}

/// Sizes of pieces to split a frame into: mostly 1 to 4 whole pages.
fn piece_sizes() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => (1..=4u64).prop_map(|pages| pages << 12),
        1 => 0..0x5000u64,
    ]
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let slot = 0..16u64;
    let step = prop_oneof![
        2 => (
            prop_oneof![
                frame_sizes().prop_map(|a| ("FrameObject", a)),
                Just(("DispatcherObject", 0)),
                Just(("VNode_x86_64_ptableObject", 0)),
                Just(("RAMObject", 0x1000)),
            ],
            slot.clone()
        )
            .prop_map(|((object, arg), dest)| Step::Retype { object, arg, dest }),
        4 => (slot.clone(), 0..1000usize, slot.clone())
            .prop_map(|(source, rule, dest)| Step::Derive { source, rule, dest }),
        3 => (
            0..16u64,
            piece_sizes(),
            0..4u64,
            // Mostly page-aligned offsets within the first 16 KiB of a
            // frame; some in 64 KiB, some anywhere, some past its end.
            prop_oneof![
                3 => Just(None),
                3 => (0..4u64).prop_map(|page| Some(page << 12)),
                1 => (0..16u64).prop_map(|page| Some(page << 12)),
                1 => (0..0x2_0000u64).prop_map(Some),
            ],
            slot.clone(),
        )
            .prop_map(|(source, arg, count, at, dest)| Step::Split { source, arg, count, at, dest }),
        3 => (
            0..16u64,
            prop_oneof![
                frame_sizes().prop_map(|a| ("FrameObject", a)),
                Just(("DispatcherObject", 0)),
                Just(("VNode_x86_64_ptableObject", 0)),
                (1..=8u64).prop_map(|pages| ("RAMObject", pages << 12)),
            ],
            // Mostly page-aligned offsets in the 1 MiB RAM; some in its
            // last 64 KiB, some anywhere and some past its end.
            prop_oneof![
                4 => (0..256u64).prop_map(|page| page << 12),
                1 => (1..=16u64).prop_map(|page| 0x10_0000 - (page << 12)),
                1 => 0..0x10_0000u64,
                1 => 0x10_0000..0x20_0000u64,
            ],
            0..4u64,
            slot.clone(),
        )
            .prop_map(|(source, (object, arg), at, count, dest)| Step::RetypeAt {
                source,
                object,
                arg,
                at,
                count,
                dest,
            }),
        // Sometimes the boot IRQSrc's whole range, 32..=95.
        2 => (
            0..16u64,
            prop_oneof![2 => 24..100u64, 1 => Just(32)],
            prop_oneof![2 => 0..40u64, 1 => Just(63)],
            slot.clone(),
        )
            .prop_map(|(source, first, len, dest)| Step::SplitRange { source, first, len, dest }),
        2 => (slot.clone(), slot.clone()).prop_map(|(source, dest)| Step::Copy { source, dest }),
        1 => slot.clone().prop_map(Step::Delete),
        1 => slot.prop_map(Step::Revoke),
    ];
    proptest::collection::vec(step, 1..40)
}

/// Whether a live cap of the interpreter's lies in `source`'s region and is
/// a piece of its type or of a type derived from it, by the generated
/// predicates (what a kernel passes `split`).
fn has_pieces(m: &Machine<'_>, source: Cap) -> bool {
    let Some((base, size)) = capc_generated_tests::barrelfish::region(source) else {
        return false;
    };
    m.nodes().any(|(_, n)| {
        let cap = Cap::from_words(pack(m, &n.cap).try_into().expect("4 words"));
        let related = match (cap.cap_type(), source.cap_type()) {
            (Some(c), Some(s)) => c == s || c.is_derived_from(s),
            _ => false,
        };
        related
            && !same_object(source, cap)
            && capc_generated_tests::barrelfish::region(cap)
                .is_some_and(|(b, s)| b >= base && b.saturating_add(s) <= base + size)
    })
}

/// What a kernel answers `split_range`'s `meets_pieces`: whether a live
/// cap of the interpreter's of `source`'s type, not a copy of it, whose
/// range lies within `source`'s, holds a number in `first..=last`, by the
/// generated predicates.
fn meets_range(m: &Machine<'_>, source: Cap, first: u64, last: u64) -> bool {
    let Some((start, end)) = range_of(source) else {
        return false;
    };
    m.nodes().any(|(id, _)| {
        let cap = packed(m, id);
        cap.cap_type() == source.cap_type()
            && !same_object(source, cap)
            && range_of(cap).is_some_and(|(a, b)| start <= a && b <= end && a <= last && first <= b)
    })
}

/// The packed cap of the interpreter's node `id`.
fn packed(m: &Machine<'_>, id: capc_interp::NodeId) -> Cap {
    Cap::from_words(
        pack(m, &m.node(id).expect("live").cap)
            .try_into()
            .expect("4 words"),
    )
}

/// What a kernel answers `retype_at`'s `meets_live_memory`, from the
/// interpreter's tree and the generated predicates: whether a cap other
/// than `source` (the invoked one) names memory with a byte among the
/// `bytes` from `first` on and is a copy of it or a descendant of it or of
/// a copy.
fn meets_live_memory(m: &Machine<'_>, source: capc_interp::NodeId, first: u64, bytes: u64) -> bool {
    let end = u128::from(first) + u128::from(bytes);
    let meets = |cap: Cap| {
        region(cap).is_some_and(|(b, s)| {
            u128::from(b) < end && u128::from(first) < u128::from(b) + u128::from(s)
        })
    };
    let cap = packed(m, source);
    m.nodes()
        .filter(|(id, _)| same_object(cap, packed(m, *id)))
        .any(|(id, _)| {
            (id != source && meets(packed(m, id)))
                || m.descendants(id).into_iter().any(|d| meets(packed(m, d)))
        })
}

/// The generated `retype_at` of the cap in root slot `source` (the null
/// cap when it is empty), with what a kernel would pass it read from the
/// interpreter.
fn generated_retype_at(
    m: &Machine<'_>,
    source: u64,
    request: &RetypeRequest,
    at: u64,
) -> Result<capc_generated_tests::barrelfish::Placement, RetypeError> {
    let id = m.id_at(root_slot(source));
    let cap = id.map_or(Cap::from_words([0; 5]), |id| packed(m, id));
    let has_children = id.is_some_and(|id| !m.children(id).is_empty());
    retype_at(
        cap,
        has_children,
        request,
        at,
        Some(Destination { slots: 16 }),
        |i| m.node_at(root_slot(i)).is_none(),
        |first, bytes| id.is_some_and(|id| meets_live_memory(m, id, first, bytes)),
    )
}

/// The interpreter's error as the generated `RetypeError`.
fn retype_error(e: OpError) -> RetypeError {
    match e {
        OpError::InvalidArgument { index } => RetypeError::InvalidArgument { index },
        OpError::RangeError { min, max } => RetypeError::RangeError { min, max },
        OpError::NotEnoughMemory { left } => RetypeError::NotEnoughMemory { left },
        OpError::DeleteFirst => RetypeError::DeleteFirst,
        OpError::FailedLookup { .. } => RetypeError::FailedLookup,
        OpError::IllegalOperation => RetypeError::IllegalOperation,
        OpError::AlignmentError => RetypeError::AlignmentError,
        OpError::RevokeFirst => RetypeError::RevokeFirst,
        other => panic!("retype_at never answers {other:?}"),
    }
}

/// Runs a retype at `at` on both sides and checks they agree: the same
/// error, or the same placement with the interpreter's new caps and source
/// cap bit for bit.
fn retype_at_agrees(
    m: &mut Machine<'_>,
    source: u64,
    object: &str,
    arg: u64,
    at: u64,
    count: u64,
    dest: u64,
) -> Result<Option<capc_generated_tests::barrelfish::Placement>, String> {
    let number = spec().object_number(spec().object(object).expect("object type"));
    let request = RetypeRequest {
        object_type: number,
        size_arg: arg,
        offset: dest,
        count,
    };
    let want = generated_retype_at(m, source, &request, at);
    let got = m.retype_at(&[source], number, arg, at, &[], dest, count);
    match (want, got) {
        (Err(want), Err(got)) if want == retype_error(got) => Ok(None),
        (Ok(p), Ok(r)) => {
            let same = (p.first, p.count, p.size, p.new_watermark, p.reset)
                == (r.first, r.count, r.size, r.new_watermark, r.reset);
            if !same {
                return Err(format!("generated {p:?}, interpreter {r:?}"));
            }
            if words(m, source) != p.updated_source {
                return Err("the source caps differ".into());
            }
            for i in 0..p.count {
                if Some(words(m, dest + i)) != p.cap(i, false) {
                    return Err(format!("object {i}'s caps differ"));
                }
            }
            Ok(Some(p))
        }
        (want, got) => Err(format!("generated {want:?}, interpreter {got:?}")),
    }
}

/// What a kernel answers `split_at`'s `meets_pieces`: whether a live cap
/// of the interpreter's that `has_pieces` counts names memory with a byte
/// among the `bytes` from `first` on, by the generated predicates.
fn meets_pieces(m: &Machine<'_>, source: Cap, first: u64, bytes: u64) -> bool {
    let Some((base, size)) = region(source) else {
        return false;
    };
    let end = u128::from(first) + u128::from(bytes);
    m.nodes().any(|(_, n)| {
        let cap = Cap::from_words(pack(m, &n.cap).try_into().expect("4 words"));
        let related = match (cap.cap_type(), source.cap_type()) {
            (Some(c), Some(s)) => c == s || c.is_derived_from(s),
            _ => false,
        };
        related
            && !same_object(source, cap)
            && region(cap).is_some_and(|(b, s)| {
                let cap_end = u128::from(b) + u128::from(s);
                b >= base
                    && cap_end <= u128::from(base) + u128::from(size)
                    && u128::from(b) < end
                    && u128::from(first) < cap_end
            })
    })
}

/// Whether the interpreter's cap `id` has a descendant that the generated
/// predicates call derived from it (what a kernel passes `derive`).
fn has_derived_descendant(m: &Machine<'_>, id: capc_interp::NodeId) -> bool {
    let packed = |id| {
        Cap::from_words(
            pack(m, &m.node(id).expect("live").cap)
                .try_into()
                .expect("4 words"),
        )
    };
    let source = packed(id);
    m.descendants(id).into_iter().any(|d| {
        let d = packed(d);
        let derived = match (d.cap_type(), source.cap_type()) {
            (Some(d), Some(s)) => d.is_derived_from(s),
            _ => false,
        };
        derived && is_ancestor(source, d) && !same_object(source, d)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Random sequences: every derivation, split and retype at an offset
    /// the interpreter makes or refuses, the generated `derive`, `split`,
    /// `split_at` and `retype_at` make (bit for bit) or refuse alike; the
    /// generated `is_ancestor` sees every derived cap's parent; and the
    /// interpreter keeps the differential tests' invariants (no overlapping
    /// objects, nothing left under a revoked cap, memory accounted).
    #[test]
    fn random_derivations_agree_with_the_interpreter(steps in steps()) {
        agree(&steps, false)?;
    }

    /// The same from a 64 KiB and a 16 KiB frame in slots 3 and 7, so that
    /// most splits (at offsets or not) have a frame to split, again.
    #[test]
    fn random_splits_of_frames_agree_with_the_interpreter(steps in steps()) {
        agree(&steps, true)?;
    }
}

/// Runs `steps` on the interpreter and checks the generated code agrees
/// with it at every step (see `random_derivations_agree_with_the_interpreter`);
/// `frames`: from two frames retyped first.
fn agree(steps: &[Step], frames: bool) -> Result<(), TestCaseError> {
    let spec = spec();
    let mut m = boot_machine(spec, if frames { BOOT_WITH_IRQ } else { BOOT });
    let boot = boot_regions(&m);
    if frames {
        m.retype(&[0], frame_number(), 0x1_0000, &[], 3, 1)
            .expect("64 KiB frame");
        m.retype(&[0], frame_number(), 0x4000, &[], 7, 1)
            .expect("16 KiB frame");
    }
    for step in steps {
        let mut revoked = None;
        match *step {
            Step::Retype { object, arg, dest } => {
                let object = u64::from(spec.object(object).unwrap().0);
                let _ = m.retype(&[0], object, arg, &[], dest, 1);
            }
            Step::Derive { source, rule, dest } => {
                // Mostly a rule that applies to the source's type.
                let source_type = m
                    .node_at(root_slot(source))
                    .map(|_| words(&m, source).cap_type());
                let applicable: Vec<_> = DERIVE_RULES
                    .into_iter()
                    .filter(|r| source_type == Some(Some(r.source)))
                    .collect();
                let rule = match applicable.as_slice() {
                    [] => DERIVE_RULES[rule % DERIVE_RULES.len()],
                    _ if rule % 5 == 0 => DERIVE_RULES[rule % DERIVE_RULES.len()],
                    some => some[rule % some.len()],
                };
                let target = spec.cap(rule.target.name()).unwrap();
                let before = m
                    .id_at(root_slot(source))
                    .map(|id| (words(&m, source), has_derived_descendant(&m, id)));
                let dest_empty = m.node_at(root_slot(dest)).is_none();
                let got = m.derive_cap(&[source], target, &[dest]);
                match (before, dest_empty) {
                    (_, false) => prop_assert_eq!(got, Err(OpError::DeleteFirst)),
                    (None, true) => {
                        prop_assert_eq!(got, Err(OpError::FailedLookup { source: 1 }));
                    }
                    (Some((cap, has)), true) => {
                        let want = derive(cap, rule.target, has);
                        match (want, got) {
                            (Ok(cap), Ok(_)) => {
                                prop_assert_eq!(words(&m, dest), cap);
                            }
                            (
                                Err(DeriveError::IllegalOperation),
                                Err(OpError::IllegalOperation),
                            )
                            | (Err(DeriveError::RevokeFirst), Err(OpError::RevokeFirst)) => {}
                            (want, got) => prop_assert!(
                                false,
                                "{step:?}: generated {want:?}, interpreter {got:?}"
                            ),
                        }
                    }
                }
            }
            Step::Split {
                source,
                arg,
                count,
                at,
                dest,
            } => {
                // Mostly a cap that splits (a frame).
                let frames: Vec<u64> = (0..16)
                    .filter(|i| {
                        m.node_at(root_slot(*i)).is_some()
                            && words(&m, *i).cap_type().is_some_and(CapType::splits)
                    })
                    .collect();
                let source = match frames.as_slice() {
                    [] => source,
                    _ if source % 4 == 0 => source,
                    some => some[source as usize % some.len()],
                };
                // Mostly the first window of free slots.
                let free = (0..16u64).find(|d| {
                    d + count <= 16 && (*d..d + count).all(|i| m.node_at(root_slot(i)).is_none())
                });
                let dest = match free {
                    Some(free) if dest % 4 != 0 => free,
                    _ => dest,
                };
                let before = m.node_at(root_slot(source)).map(|_| {
                    let cap = words(&m, source);
                    let want = match at {
                        None => split(cap, arg, count, has_pieces(&m, cap)),
                        Some(at) => split_at(cap, arg, at, count, |first, bytes| {
                            meets_pieces(&m, cap, first, bytes)
                        }),
                    };
                    (cap, want)
                });
                let window_free = dest + count <= 16
                    && (dest..dest + count).all(|i| m.node_at(root_slot(i)).is_none());
                let got = match at {
                    None => m.split_cap(&[source], arg, count, &[dest]),
                    Some(at) => m.split_at(&[source], arg, at, count, &[dest]),
                };
                match (before, window_free) {
                    (_, false) => prop_assert!(
                        matches!(got, Err(OpError::DeleteFirst | OpError::RangeError { .. })),
                        "{step:?}: {got:?}"
                    ),
                    (None, true) => {
                        prop_assert_eq!(got, Err(OpError::FailedLookup { source: 1 }));
                    }
                    (Some((cap, want)), true) => match (want, got) {
                        (Ok(pieces), Ok(ids)) => {
                            prop_assert_eq!(ids.len() as u64, pieces.count);
                            for i in 0..pieces.count {
                                prop_assert_eq!(Some(words(&m, dest + i)), pieces.cap(i));
                                prop_assert!(is_ancestor(cap, words(&m, dest + i)));
                            }
                        }
                        (Err(DeriveError::IllegalOperation), Err(OpError::IllegalOperation))
                        | (Err(DeriveError::RevokeFirst), Err(OpError::RevokeFirst)) => {}
                        (
                            Err(DeriveError::InvalidArgument { index }),
                            Err(OpError::InvalidArgument { index: got }),
                        ) if index == got => {}
                        (
                            Err(DeriveError::RangeError { min, max }),
                            Err(OpError::RangeError { min: a, max: b }),
                        ) if (min, max) == (a, b) => {}
                        (want, got) => {
                            prop_assert!(false, "{step:?}: generated {want:?}, interpreter {got:?}")
                        }
                    },
                }
            }
            Step::RetypeAt {
                source,
                object,
                arg,
                at,
                count,
                dest,
            } => {
                let source = if source % 4 == 0 { source } else { 0 };
                let agreed = retype_at_agrees(&mut m, source, object, arg, at, count, dest);
                prop_assert!(agreed.is_ok(), "{step:?}: {agreed:?}");
            }
            Step::SplitRange {
                source,
                first,
                len,
                dest,
            } => {
                // Mostly an IRQSrc.
                let irqs: Vec<u64> = (0..16)
                    .filter(|i| {
                        m.node_at(root_slot(*i)).is_some()
                            && words(&m, *i).cap_type() == Some(CapType::IRQSrc)
                    })
                    .collect();
                let source = match irqs.as_slice() {
                    [] => source,
                    _ if source % 4 == 0 => source,
                    some => some[source as usize % some.len()],
                };
                let last = first + len;
                let want = m.node_at(root_slot(source)).map(|_| {
                    let cap = words(&m, source);
                    split_range(cap, first, last, |f, l| meets_range(&m, cap, f, l))
                });
                let dest_empty = m.node_at(root_slot(dest)).is_none();
                let got = m.split_range(&[source], first, last, &[dest]);
                match (want, dest_empty) {
                    (_, false) => prop_assert_eq!(got, Err(OpError::DeleteFirst)),
                    (None, true) => prop_assert_eq!(got, Err(OpError::FailedLookup { source: 1 })),
                    (Some(want), true) => match (want, got) {
                        (Ok(piece), Ok(_)) => {
                            prop_assert_eq!(words(&m, dest), piece);
                            prop_assert!(is_ancestor(words(&m, source), piece));
                        }
                        (Err(DeriveError::IllegalOperation), Err(OpError::IllegalOperation))
                        | (Err(DeriveError::RevokeFirst), Err(OpError::RevokeFirst)) => {}
                        (
                            Err(DeriveError::InvalidArgument { index }),
                            Err(OpError::InvalidArgument { index: got }),
                        ) if index == got => {}
                        (
                            Err(DeriveError::RangeError { min, max }),
                            Err(OpError::RangeError { min: a, max: b }),
                        ) if (min, max) == (a, b) => {}
                        (want, got) => {
                            prop_assert!(false, "{step:?}: generated {want:?}, interpreter {got:?}")
                        }
                    },
                }
            }
            Step::Copy { source, dest } => {
                let _ = m.copy(&[source], &[dest], u64::MAX);
            }
            Step::Delete(at) => {
                let _ = m.delete(&[at]);
            }
            Step::Revoke(at) => {
                let _ = m.revoke(&[at]);
                revoked = Some(root_slot(at));
            }
        }
        // No two live IRQSrc caps that are not copies hold meeting ranges
        // unless one holds the other's.
        let ranges: Vec<(u64, u64)> = m.nodes().filter_map(|(_, n)| m.range_of(&n.cap)).collect();
        for (i, a) in ranges.iter().enumerate() {
            for b in &ranges[i + 1..] {
                let meet = a.0 <= b.1 && b.0 <= a.1;
                let nested = (a.0 <= b.0 && b.1 <= a.1) || (b.0 <= a.0 && a.1 <= b.1);
                prop_assert!(!meet || nested, "{step:?}: ranges {a:?} and {b:?} meet");
            }
        }
        let seen = interp_seen(&m);
        let invariants = check_invariants("interpreter", &seen, revoked, &boot, &[])
            .and_then(|()| check_accounting("interpreter", &m, &seen));
        prop_assert!(invariants.is_ok(), "{step:?}: {invariants:?}");
        for (id, node) in m.nodes() {
            let Some(parent) = node.parent.and_then(|p| m.node(p)) else {
                continue;
            };
            prop_assert!(
                spec.derive_rule(parent.cap.cap_type).is_none()
                    || parent.cap.cap_type == node.cap.cap_type,
                "{id:?}: a derived cap parents only its own kind's copies"
            );
            let piece = m.is_split_piece(id)
                && parent.cap.cap_type == node.cap.cap_type
                && !m.same_object(&parent.cap, &node.cap);
            if spec.derive_rule(node.cap.cap_type).is_some() || piece {
                let packed = |c| Cap::from_words(pack(&m, c).try_into().expect("4 words"));
                prop_assert!(
                    is_ancestor(packed(&parent.cap), packed(&node.cap)),
                    "{id:?}: the generated is_ancestor misses a derived cap's parent"
                );
            }
        }
    }
    Ok(())
}

fn root_slot(index: u64) -> capc_interp::Slot {
    capc_interp::Slot {
        cnode: capc_interp::CNodeId::Root,
        index,
    }
}

#[test]
fn split_frames_are_the_interpreters() {
    let spec = spec();
    let mut m = boot_machine(spec, BOOT);
    let frame = u64::from(spec.object("FrameObject").unwrap().0);
    m.retype(&[0], frame, 0x4000, &[], 3, 1).unwrap();
    let source = words(&m, 3);
    assert!(!has_pieces(&m, source));
    let pieces = split(source, 0x1000, 4, false).expect("four pages of 16 KiB");
    let ids = m.split_cap(&[3], 0x1000, 4, &[4]).unwrap();
    assert_eq!(ids.len(), 4);
    for i in 0..4 {
        let piece = words(&m, 4 + i);
        assert_eq!(pieces.cap(i), Some(piece));
        assert!(is_ancestor(source, piece) && !is_ancestor(piece, source));
        assert!(!is_copy(source, piece));
    }
    assert!(
        !is_ancestor(words(&m, 4), words(&m, 5)),
        "pieces are siblings"
    );
    // Split once: again is RevokeFirst on both sides, for the frame and for
    // a copy of it.
    assert!(has_pieces(&m, source));
    assert_eq!(
        split(source, 0x1000, 1, true),
        Err(DeriveError::RevokeFirst)
    );
    assert_eq!(
        m.split_cap(&[3], 0x1000, 1, &[8]),
        Err(OpError::RevokeFirst)
    );
    m.copy(&[3], &[9], u64::MAX).unwrap();
    assert_eq!(
        m.split_cap(&[9], 0x1000, 1, &[8]),
        Err(OpError::RevokeFirst)
    );
    // Sizes and counts.
    assert_eq!(
        split(source, 0x4000, 1, false),
        Err(DeriveError::InvalidArgument { index: 1 })
    );
    assert_eq!(
        split(source, 0x2000, 3, false),
        Err(DeriveError::RangeError { min: 1, max: 2 })
    );
    assert_eq!(
        split(words(&m, 0), 0x1000, 1, false),
        Err(DeriveError::IllegalOperation)
    );
    // Revoking the frame takes its pieces (and the copy); then it splits.
    assert_eq!(m.revoke(&[3]), Ok(5));
    m.split_cap(&[3], 0x2000, 2, &[4]).unwrap();
}

/// A frame split while a copy of it lives, then its original cap deleted:
/// the piece is still part of the frame the copy names, not an object
/// overlapping it (found by `random_derivations_agree_with_the_interpreter`).
#[test]
fn a_piece_stays_part_of_the_frame_a_copy_names() {
    let spec = spec();
    let mut m = boot_machine(spec, BOOT);
    let boot = boot_regions(&m);
    let frame = u64::from(spec.object("FrameObject").unwrap().0);
    m.retype(&[0], frame, 0x2000, &[], 5, 1).unwrap();
    m.copy(&[5], &[6], u64::MAX).unwrap();
    m.split_cap(&[5], 0x1000, 1, &[3]).unwrap();
    m.delete(&[5]).unwrap();
    let seen = interp_seen(&m);
    check_invariants("interpreter", &seen, None, &boot, &[]).unwrap();
    check_accounting("interpreter", &m, &seen).unwrap();
}

/// Byte sizes (`#[bytes]` on RAM, Frame, DevFrame, the CNodes ...), by
/// hand: frames of any whole number of pages, aligned to a page rather than
/// to their size; sizes that are not whole pages refused; the generated
/// `retype`, `retype_at`, `split`, `split_at` and `region` agree with the
/// interpreter on each.
#[test]
fn byte_sizes_are_the_interpreters() {
    let spec = spec();
    let mut m = boot_machine(spec, BOOT);
    let ok = |r: Result<Option<_>, String>| r.expect("agree").expect("placed");
    // Three pages at the watermark: 12 KiB, not a power of two.
    let request = RetypeRequest {
        object_type: frame_number(),
        size_arg: 0x3000,
        offset: 3,
        count: 1,
    };
    let p = capc_generated_tests::barrelfish::retype(
        words(&m, 0),
        false,
        &request,
        Some(Destination { slots: 32 }),
        |_| true,
    )
    .expect("three pages");
    let r = m.retype(&[0], frame_number(), 0x3000, &[], 3, 1).unwrap();
    assert_eq!(
        (p.first, p.size, p.new_watermark),
        (r.first, r.size, r.new_watermark)
    );
    assert_eq!((p.first, p.size), (0x10_0000, 0x3000));
    assert_eq!(p.cap(0, false), Some(words(&m, 3)));
    assert_eq!(region(words(&m, 3)), Some((0x10_0000, 0x3000)));
    // A 16 KiB frame at 12 KiB: page-aligned, not aligned to its size.
    let frame = ok(retype_at_agrees(
        &mut m,
        0,
        "FrameObject",
        0x4000,
        0x3000,
        1,
        4,
    ));
    assert_eq!((frame.first, frame.size), (0x10_3000, 0x4000));
    // Five pages at the watermark (28 KiB): right after it.
    let five = m.retype(&[0], frame_number(), 0x5000, &[], 5, 1).unwrap();
    assert_eq!((five.first, five.new_watermark), (0x10_7000, 0xc000));
    // Not whole pages, or below a page: refused on both sides.
    for size_arg in [0x1800, 0x3001, 0x800, 0] {
        assert_eq!(
            retype_at_agrees(&mut m, 0, "FrameObject", size_arg, 0x2_0000, 1, 6),
            Ok(None),
            "{size_arg:#x}"
        );
    }
    // The three-page frame splits into pages, and into a two-page piece
    // at a page's offset.
    let three = words(&m, 3);
    let pieces = split(three, 0x1000, 3, false).expect("three pages");
    let ids = m.split_cap(&[3], 0x1000, 3, &[8]).unwrap();
    assert_eq!(ids.len(), 3);
    for i in 0..3 {
        assert_eq!(pieces.cap(i), Some(words(&m, 8 + i)));
        assert_eq!(
            region(words(&m, 8 + i)),
            Some((0x10_0000 + i * 0x1000, 0x1000))
        );
    }
    m.revoke(&[3]).unwrap();
    let meets = |m: &Machine<'_>, f, b| meets_pieces(m, three, f, b);
    let piece = split_at(three, 0x2000, 0x1000, 1, |f, b| meets(&m, f, b)).expect("room");
    assert_eq!(m.split_at(&[3], 0x2000, 0x1000, 1, &[8]).unwrap().len(), 1);
    assert_eq!(piece.cap(0), Some(words(&m, 8)));
    assert_eq!(region(words(&m, 8)), Some((0x10_1000, 0x2000)));
    // A piece as large as the frame, or not whole pages, is no piece.
    for size_arg in [0x3000, 0x1800] {
        assert_eq!(
            split_at(three, size_arg, 0, 1, |f, b| meets(&m, f, b)).err(),
            Some(DeriveError::InvalidArgument { index: 1 })
        );
        assert_eq!(
            m.split_at(&[3], size_arg, 0, 1, &[9]),
            Err(OpError::InvalidArgument { index: 1 })
        );
    }
    // An L2 CNode and a KCB are page-aligned, as caps_retype checks, not
    // aligned to their size; an ARMv7 L1 table keeps its 16 KiB.
    assert_eq!(ObjectType::L2CNodeObject.placement(0), Ok((0x4000, 12)));
    assert_eq!(
        ObjectType::KernelControlBlockObject.placement(0),
        Ok((0x2_0000, 12))
    );
    assert_eq!(
        ObjectType::VNode_ARM_l1Object.placement(0),
        Ok((0x4000, 14))
    );
    let l2 = ok(retype_at_agrees(
        &mut m,
        0,
        "L2CNodeObject",
        0,
        0x1_d000,
        1,
        12,
    ));
    assert_eq!(l2.first, 0x11_d000);
    // An L1 CNode is whole L2 CNodes (16 KiB) at a page boundary.
    let l1 = spec.object_number(spec.object("L1CNodeObject").unwrap());
    assert_eq!(ObjectType::L1CNodeObject.size_bytes(0x8000), Ok(0x8000));
    assert!(ObjectType::L1CNodeObject.size_bytes(0x5000).is_err());
    assert_eq!(
        ObjectType::L1CNodeObject.placement(0xc000),
        Ok((0xc000, 12))
    );
    let cnode = ok(retype_at_agrees(
        &mut m,
        0,
        "L1CNodeObject",
        0xc000,
        0x1_1000,
        1,
        10,
    ));
    assert_eq!((cnode.first, cnode.size), (0x11_1000, 0xc000));
    assert_eq!(
        m.retype(&[0], l1, 0x5000, &[], 11, 1).err(),
        Some(OpError::RangeError {
            min: 0x4000,
            max: 0xffff_ffff_ffff_c000
        })
    );
}

/// retype's type argument for a Frame.
fn frame_number() -> u64 {
    spec().object_number(spec().object("FrameObject").expect("declared"))
}

/// Retype at an offset (`#[at_offset]` on caps.cap's PhysAddr and RAM
/// rules, Barrelfish's `caps_retype` offset), by hand: the generated
/// `retype_at` and the interpreter agree on every outcome.
#[test]
fn retype_at_an_offset_is_the_interpreters() {
    assert!(RetypeRule::RAM.at_offset() && RetypeRule::PHYS_ADDR.at_offset());
    let mut m = boot_machine(spec(), BOOT);
    let ok = |r: Result<Option<_>, String>| r.expect("agree").expect("placed");
    let refused = |r: Result<Option<capc_generated_tests::barrelfish::Placement>, String>| {
        assert_eq!(r.expect("agree"), None, "refused on both sides")
    };
    // A 16 KiB frame at 64 KiB into the RAM: the watermark jumps to its end.
    let frame = ok(retype_at_agrees(
        &mut m,
        0,
        "FrameObject",
        0x4000,
        0x1_0000,
        1,
        3,
    ));
    assert_eq!(frame.first, 0x11_0000);
    assert_eq!(frame.new_watermark, 0x1_4000);
    assert_eq!(frame.object_type, ObjectType::FrameObject);
    // Below it, two pages at 0 and 4 KiB; the watermark stays.
    let pages = ok(retype_at_agrees(&mut m, 0, "FrameObject", 0x1000, 0, 2, 4));
    assert_eq!((pages.first, pages.new_watermark), (0x10_0000, 0x1_4000));
    // Overlapping the frame (its last page) or a page: RevokeFirst.
    assert_eq!(
        m.retype_at(&[0], frame_number(), 0x1000, 0x1_3000, &[], 6, 1),
        Err(OpError::RevokeFirst)
    );
    refused(retype_at_agrees(&mut m, 0, "FrameObject", 0x2000, 0, 1, 6));
    refused(retype_at_agrees(
        &mut m,
        0,
        "FrameObject",
        0x1000,
        0x1_3000,
        1,
        6,
    ));
    // Off a page boundary (objects are page-aligned, as Barrelfish's, not
    // aligned to their size: a 16 KiB frame at 8 KiB is fine, see below),
    // past the end, and more than fits from the offset to the end.
    assert_eq!(
        m.retype_at(&[0], frame_number(), 0x4000, 0x2800, &[], 6, 1),
        Err(OpError::AlignmentError)
    );
    refused(retype_at_agrees(
        &mut m,
        0,
        "FrameObject",
        0x4000,
        0x2800,
        1,
        6,
    ));
    assert_eq!(
        m.retype_at(&[0], frame_number(), 0x1000, 0x10_0000, &[], 6, 1),
        Err(OpError::RangeError {
            min: 0,
            max: 0xf_ffff
        })
    );
    refused(retype_at_agrees(
        &mut m,
        0,
        "FrameObject",
        0x1000,
        0x10_0000,
        1,
        6,
    ));
    assert_eq!(
        m.retype_at(&[0], frame_number(), 0x1_0000, 0xf_0000, &[], 6, 2),
        Err(OpError::NotEnoughMemory { left: 0x1_0000 })
    );
    refused(retype_at_agrees(
        &mut m,
        0,
        "FrameObject",
        0x1_0000,
        0xf_0000,
        2,
        6,
    ));
    // A retype at the watermark goes above every child placed at an offset.
    let next = m
        .retype(&[0], frame_number(), 0x1000, &[], 6, 1)
        .expect("room above the watermark");
    assert_eq!(next.first, 0x11_4000);
    // Deleting the frame frees its bytes for another object there; a RAM
    // retyped from the RAM at an offset is itself retyped at an offset.
    m.delete(&[3]).unwrap();
    let ram = ok(retype_at_agrees(
        &mut m,
        0,
        "RAMObject",
        0x4000,
        0x1_0000,
        1,
        3,
    ));
    assert_eq!(ram.first, 0x11_0000);
    let inner = ok(retype_at_agrees(
        &mut m,
        3,
        "DispatcherObject",
        0,
        0x400,
        1,
        7,
    ));
    assert_eq!(inner.first, 0x11_0400);
    // The outer RAM sees the dispatcher as live memory (a descendant of
    // its child), so a frame over it is RevokeFirst.
    refused(retype_at_agrees(
        &mut m,
        0,
        "FrameObject",
        0x1000,
        0x1_0000,
        1,
        8,
    ));
    let seen = interp_seen(&m);
    check_invariants(
        "interpreter",
        &seen,
        None,
        &boot_regions(&boot_machine(spec(), BOOT)),
        &[],
    )
    .unwrap();
}

/// Untyped memory with a live copy is not retyped at an offset: the copy's
/// own retype at its watermark (0, it has no children) would place objects
/// over them.
#[test]
fn memory_with_a_live_copy_is_not_retyped_at_an_offset() {
    let mut m = boot_machine(spec(), BOOT);
    m.copy(&[0], &[5], u64::MAX).unwrap();
    assert_eq!(
        m.retype_at(&[0], frame_number(), 0x1000, 0, &[], 6, 1),
        Err(OpError::RevokeFirst)
    );
    assert_eq!(
        retype_at_agrees(&mut m, 0, "FrameObject", 0x1000, 0x8000, 1, 6),
        Ok(None)
    );
    assert_eq!(
        retype_at_agrees(&mut m, 5, "FrameObject", 0x1000, 0x8000, 1, 6),
        Ok(None)
    );
    // The copy gone, the original is retyped at an offset again, and its
    // new watermark covers the frame.
    m.delete(&[5]).unwrap();
    let p = retype_at_agrees(&mut m, 0, "FrameObject", 0x1000, 0x8000, 1, 6)
        .unwrap()
        .unwrap();
    assert_eq!(p.new_watermark, 0x9000);
}

/// The random sequences reach every outcome of a retype or a split at an
/// offset (so `random_derivations_agree_with_the_interpreter` compares them
/// all).
#[test]
fn random_retypes_and_splits_at_offsets_reach_every_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen = std::collections::BTreeSet::new();
    for round in 0..400 {
        let steps = steps().new_tree(&mut runner).unwrap().current();
        let boot = if round % 2 == 1 { BOOT_WITH_IRQ } else { BOOT };
        let mut m = boot_machine(spec(), boot);
        if round % 2 == 1 {
            // As `random_splits_of_frames_agree_with_the_interpreter`.
            m.retype(&[0], frame_number(), 0x1_0000, &[], 3, 1).unwrap();
            m.retype(&[0], frame_number(), 0x4000, &[], 7, 1).unwrap();
        }
        for step in steps {
            match step {
                Step::RetypeAt {
                    source,
                    object,
                    arg,
                    at,
                    count,
                    dest,
                } => {
                    let source = if source % 4 == 0 { source } else { 0 };
                    let number = spec().object_number(spec().object(object).unwrap());
                    let outcome = match m.retype_at(&[source], number, arg, at, &[], dest, count) {
                        Ok(_) => "Ok".to_string(),
                        Err(e) => format!("{e:?}")
                            .split([' ', '{'])
                            .next()
                            .unwrap()
                            .to_string(),
                    };
                    seen.insert(outcome);
                }
                Step::Retype { object, arg, dest } => {
                    let number = spec().object_number(spec().object(object).unwrap());
                    let _ = m.retype(&[0], number, arg, &[], dest, 1);
                }
                Step::Copy { source, dest } => {
                    let _ = m.copy(&[source], &[dest], u64::MAX);
                }
                Step::Delete(at) => {
                    let _ = m.delete(&[at]);
                }
                Step::Revoke(at) => {
                    let _ = m.revoke(&[at]);
                }
                Step::Split {
                    source,
                    arg,
                    count,
                    at: Some(at),
                    dest,
                } => {
                    // A frame, as the random test mostly picks.
                    let frames: Vec<u64> = (0..16)
                        .filter(|i| {
                            m.node_at(root_slot(*i)).is_some()
                                && words(&m, *i).cap_type().is_some_and(CapType::splits)
                        })
                        .collect();
                    let source = match frames.as_slice() {
                        [] => source,
                        _ if source % 4 == 0 => source,
                        some => some[source as usize % some.len()],
                    };
                    // Mostly the first window of free slots.
                    let free = (0..16u64).find(|d| {
                        d + count <= 16
                            && (*d..d + count).all(|i| m.node_at(root_slot(i)).is_none())
                    });
                    let dest = match free {
                        Some(free) if dest % 4 != 0 => free,
                        _ => dest,
                    };
                    let outcome = match m.split_at(&[source], arg, at, count, &[dest]) {
                        Ok(_) => "split_at Ok".to_string(),
                        Err(e) => format!("split_at {e:?}"),
                    };
                    seen.insert(outcome);
                }
                Step::Derive { source, rule, dest } => {
                    // A rule for the source's type, as the random test mostly picks.
                    let Some(t) = m
                        .node_at(root_slot(source))
                        .and_then(|_| words(&m, source).cap_type())
                    else {
                        continue;
                    };
                    let rules: Vec<_> = DERIVE_RULES
                        .into_iter()
                        .filter(|r| r.source == t && r.target != t)
                        .collect();
                    if let Some(r) = rules.get(rule % rules.len().max(1)) {
                        let target = spec().cap(r.target.name()).unwrap();
                        let _ = m.derive_cap(&[source], target, &[dest]);
                    }
                }
                Step::SplitRange {
                    source,
                    first,
                    len,
                    dest,
                } => {
                    // An IRQSrc, as the random test mostly picks.
                    let irqs: Vec<u64> = (0..16)
                        .filter(|i| {
                            m.node_at(root_slot(*i)).is_some()
                                && words(&m, *i).cap_type() == Some(CapType::IRQSrc)
                        })
                        .collect();
                    let source = match irqs.as_slice() {
                        [] => source,
                        _ if source % 4 == 0 => source,
                        some => some[source as usize % some.len()],
                    };
                    let outcome = match m.split_range(&[source], first, first + len, &[dest]) {
                        Ok(_) => "split_range Ok".to_string(),
                        Err(e) => format!("split_range {e:?}")
                            .split([' ', '{'])
                            .take(2)
                            .collect::<Vec<_>>()
                            .join(" "),
                    };
                    seen.insert(outcome);
                }
                Step::Split { .. } => {}
            }
        }
    }
    for outcome in [
        "split_range Ok",
        "split_range RevokeFirst",
        "split_range RangeError",
        "split_range InvalidArgument",
        "split_range IllegalOperation",
    ] {
        assert!(seen.contains(outcome), "{outcome} never happens: {seen:?}");
    }
    for outcome in [
        "split_at Ok",
        "split_at RevokeFirst",
        "split_at InvalidArgument { index: 1 }",
        "split_at InvalidArgument { index: 2 }",
        "split_at IllegalOperation",
    ] {
        assert!(seen.contains(outcome), "{outcome} never happens: {seen:?}");
    }
    for outcome in [
        "Ok",
        "AlignmentError",
        "RevokeFirst",
        "RangeError",
        "NotEnoughMemory",
        "DeleteFirst",
        "IllegalOperation",
    ] {
        assert!(seen.contains(outcome), "{outcome} never happens: {seen:?}");
    }
}

/// Splitting a frame at offsets (`#[at_offset]` on caps.cap's splitting
/// rules, Barrelfish's retype of a Frame at an offset), by hand: the
/// generated `split_at` and the interpreter agree, pieces of several splits
/// lie side by side, and pieces that would meet are refused.
#[test]
fn split_at_offsets_is_the_interpreters() {
    let mut m = boot_machine(spec(), BOOT);
    m.retype(&[0], frame_number(), 0x1_0000, &[], 3, 1).unwrap();
    let frame = words(&m, 3);
    let base = region(frame).unwrap().0;
    let meets = |m: &Machine<'_>, first, bytes| meets_pieces(m, frame, first, bytes);
    // Two 8 KiB pieces from 16 KiB into the frame.
    let pieces = split_at(frame, 0x2000, 0x4000, 2, |f, b| meets(&m, f, b)).expect("room");
    assert_eq!(pieces.first, base + 0x4000);
    assert_eq!(m.split_at(&[3], 0x2000, 0x4000, 2, &[4]).unwrap().len(), 2);
    for i in 0..2 {
        assert_eq!(pieces.cap(i), Some(words(&m, 4 + i)));
        assert!(is_ancestor(frame, words(&m, 4 + i)));
    }
    // A page beside them splits off too; one meeting them does not.
    let page = split_at(frame, 0x1000, 0x1000, 1, |f, b| meets(&m, f, b)).expect("beside");
    assert_eq!(m.split_at(&[3], 0x1000, 0x1000, 1, &[6]).unwrap().len(), 1);
    assert_eq!(page.cap(0), Some(words(&m, 6)));
    assert_eq!(
        split_at(frame, 0x1000, 0x7000, 1, |f, b| meets(&m, f, b)),
        Err(DeriveError::RevokeFirst)
    );
    assert_eq!(
        m.split_at(&[3], 0x1000, 0x7000, 1, &[7]),
        Err(OpError::RevokeFirst)
    );
    // `split` from the start is refused while pieces live.
    assert_eq!(
        m.split_cap(&[3], 0x1000, 1, &[7]),
        Err(OpError::RevokeFirst)
    );
    // Misaligned or past the end: index 2; more than fit: RangeError.
    for (arg, at, count, want) in [
        (0x2000, 0x1800, 1, DeriveError::InvalidArgument { index: 2 }),
        (
            0x1000,
            0x1_0000,
            1,
            DeriveError::InvalidArgument { index: 2 },
        ),
        (
            0x1000,
            0xf000,
            2,
            DeriveError::RangeError { min: 1, max: 1 },
        ),
        (0x1_0000, 0, 1, DeriveError::InvalidArgument { index: 1 }),
        (0x1800, 0x8000, 1, DeriveError::InvalidArgument { index: 1 }),
    ] {
        assert_eq!(
            split_at(frame, arg, at, count, |f, b| meets(&m, f, b)),
            Err(want)
        );
        let got = m.split_at(&[3], arg, at, count, &[7]);
        let want = match want {
            DeriveError::InvalidArgument { index } => OpError::InvalidArgument { index },
            DeriveError::RangeError { min, max } => OpError::RangeError { min, max },
            other => panic!("{other:?}"),
        };
        assert_eq!(got, Err(want));
    }
    // A mapping of the frame names all of it: no split at any offset then.
    m.derive_cap(&[3], spec().cap("Frame_Mapping").unwrap(), &[8])
        .unwrap();
    assert_eq!(
        m.split_at(&[3], 0x1000, 0xf000, 1, &[7]),
        Err(OpError::RevokeFirst)
    );
    let seen = interp_seen(&m);
    check_invariants(
        "interpreter",
        &seen,
        None,
        &boot_regions(&boot_machine(spec(), BOOT)),
        &[],
    )
    .unwrap();
    // Revoking the frame takes its pieces and mapping.
    assert_eq!(m.revoke(&[3]), Ok(4));
}

/// Barrelfish's computed addresses (`address { mem_to_phys(dcb) }` on
/// Dispatcher, `mem_to_phys(listener)` on EndPointLMP, `mem_to_phys(kcb)`
/// on KernelControlBlock): the field holds the kernel-virtual address, and
/// `region` gives the physical one, `field - X86_64_MEMORY_OFFSET`, on the
/// interpreter's caps as on the generated ones.
#[test]
fn computed_addresses_are_mem_to_phys() {
    use capc_generated_tests::barrelfish::{Dispatcher, EndPointLMP, KernelControlBlock};
    const X86_64_MEMORY_OFFSET: u64 = 0xffff_fe00_0000_0000;
    let mut m = boot_machine(spec(), BOOT);
    let number = |name: &str| spec().object_number(spec().object(name).unwrap());
    let dcb = m
        .retype(&[0], number("DispatcherObject"), 0, &[], 3, 1)
        .unwrap()
        .first;
    let kcb = m
        .retype(&[0], number("KernelControlBlockObject"), 0, &[], 4, 1)
        .unwrap()
        .first;
    m.derive_cap(&[3], spec().cap("EndPointLMP").unwrap(), &[5])
        .unwrap();
    let dispatcher = Dispatcher::from_cap(words(&m, 3)).unwrap();
    assert_eq!(dispatcher.dcb(), dcb + X86_64_MEMORY_OFFSET);
    assert_eq!(region(words(&m, 3)), Some((dcb, 1024)));
    let kernel = KernelControlBlock::from_cap(words(&m, 4)).unwrap();
    assert_eq!(kernel.kcb(), kcb + X86_64_MEMORY_OFFSET);
    assert_eq!(region(words(&m, 4)), Some((kcb, 128 * 1024)));
    // The endpoint derived from the dispatcher holds the same pointer and
    // names the same physical range, within the RAM it came from.
    let endpoint = EndPointLMP::from_cap(words(&m, 5)).unwrap();
    assert_eq!(endpoint.listener(), dispatcher.dcb());
    assert_eq!(region(words(&m, 5)), Some((dcb, 1024)));
    assert!(is_ancestor(words(&m, 0), words(&m, 5)));
    // The cap a retype makes for a DCB at an address, and from a cap built
    // by hand: the same translation.
    let made = ObjectType::DispatcherObject
        .cap_for(0x20_0000, 0, false)
        .unwrap();
    assert_eq!(
        Dispatcher::from_cap(made).unwrap().dcb(),
        0x20_0000 + X86_64_MEMORY_OFFSET
    );
    let by_hand = Dispatcher::new(0xffff_fe00_0030_0400).unwrap();
    assert_eq!(region(by_hand.cap()), Some((0x30_0400, 1024)));
}

/// A cap of `cap_type` with random words (its tag set): any field values,
/// also ones no kernel makes; or (mostly) one made by its constructor with
/// a valid size, at a random address (also near the top of the address
/// space), with a random watermark.
fn any_cap_of(cap_type: CapType) -> impl Strategy<Value = Cap> {
    let random = any::<[u64; 5]>().prop_map(move |mut words| {
        words[0] = (words[0] & !0xff) | cap_type as u64;
        Cap::from_words(words)
    });
    // Sizes are bytes: any whole number of pages (a power of two or not),
    // page-aligned.
    let made = (
        prop_oneof![
            (1u64..=64).prop_map(|pages| pages << 12),
            (12u32..=40).prop_map(|bits| 1u64 << bits),
            (1u64..1 << 28).prop_map(|pages| pages << 12),
        ],
        prop_oneof![any::<u64>(), (0u64..1 << 20).prop_map(|page| page << 12)],
        any::<u64>(),
        any::<bool>(),
    )
        .prop_filter_map(
            "a cap the constructor makes",
            move |(bytes, base, free, device)| {
                let base = base & !0xfff;
                let free = free % (bytes + 1);
                match cap_type {
                    CapType::RAM => RAM::new(base, bytes, 0, free).ok().map(|v| v.cap()),
                    CapType::PhysAddr => capc_generated_tests::barrelfish::PhysAddr::new(
                        base, bytes, 0, free, device,
                    )
                    .ok()
                    .map(|v| v.cap()),
                    CapType::Frame => capc_generated_tests::barrelfish::Frame::new(base, bytes, 0)
                        .ok()
                        .map(|v| v.cap()),
                    CapType::DevFrame => {
                        capc_generated_tests::barrelfish::DevFrame::new(base, bytes, 0)
                            .ok()
                            .map(|v| v.cap())
                    }
                    _ => None,
                }
            },
        );
    prop_oneof![1 => random, 4 => made]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// `retype_at` never panics, on any RAM cap and request, and what it
    /// places lies at the offset, aligned, inside the region, with caps
    /// that name it; `meets_live_memory` is asked about exactly those bytes.
    #[test]
    fn retype_at_never_panics_and_places_at_the_offset(
        source in prop_oneof![any_cap_of(CapType::RAM), any_cap_of(CapType::PhysAddr)],
        has_children in any::<bool>(),
        object_type in 0u64..32,
        size_arg in prop_oneof![0u64..0x2_0000, (1u64..=16).prop_map(|pages| pages << 12), any::<u64>()],
        at in prop_oneof![any::<u64>(), (0u64..1 << 10).prop_map(|page| page << 12)],
        count in 0u64..5,
        live in any::<bool>(),
    ) {
        let request = RetypeRequest { object_type, size_arg, offset: 0, count };
        let asked = std::cell::Cell::new(None);
        let result = retype_at(source, has_children, &request, at, Some(Destination { slots: 4 }), |_| true, |first, bytes| {
            asked.set(Some((first, bytes)));
            live
        });
        let Ok(p) = result else {
            // Asked after checks 1 to 7.3, answered live: RevokeFirst;
            // answered not live: a later check's error.
            if let Some((first, _)) = asked.get() {
                prop_assert_eq!(first, region(source).unwrap().0 + at);
                prop_assert_eq!(live, result == Err(RetypeError::RevokeFirst));
            } else {
                prop_assert!(result != Err(RetypeError::RevokeFirst));
            }
            return Ok(());
        };
        prop_assert!(!live);
        let (base, size) = region(source).unwrap();
        let bytes = p.count * p.size;
        prop_assert_eq!(asked.get(), Some((base + at, bytes)));
        prop_assert_eq!(p.first, base + at);
        prop_assert_eq!(p.first % (1 << p.object_type.placement(p.size_arg).unwrap().1), 0);
        prop_assert!(at + bytes <= size);
        for i in 0..p.count {
            let cap = p.cap(i, false).or(p.cap(i, true)).unwrap();
            prop_assert_eq!(region(cap), Some((p.first + i * p.size, p.size)));
        }
        prop_assert!(p.new_watermark >= at + bytes);
    }

    /// `split_at` never panics, on any frame cap, and its pieces lie at
    /// the offset inside the frame; `meets_pieces` is asked about them.
    #[test]
    fn split_at_never_panics_and_places_at_the_offset(
        source in prop_oneof![any_cap_of(CapType::Frame), any_cap_of(CapType::DevFrame)],
        size_arg in prop_oneof![0u64..0x2_0000, (1u64..=16).prop_map(|pages| pages << 12), any::<u64>()],
        at in prop_oneof![any::<u64>(), (0u64..64).prop_map(|page| page << 12)],
        count in 0u64..5,
        live in any::<bool>(),
    ) {
        let asked = std::cell::Cell::new(None);
        let result = split_at(source, size_arg, at, count, |first, bytes| {
            asked.set(Some((first, bytes)));
            live
        });
        let Ok(pieces) = result else {
            // Asked last but one: answered live, RevokeFirst.
            prop_assert_eq!(
                asked.get().is_some() && live,
                result == Err(DeriveError::RevokeFirst)
            );
            return Ok(());
        };
        let (base, size) = region(source).unwrap();
        prop_assert_eq!(asked.get(), Some((base + at, pieces.count * pieces.size)));
        prop_assert_eq!(pieces.first, base + at);
        prop_assert!(at + pieces.count * pieces.size <= size);
        for i in 0..pieces.count {
            let piece = pieces.cap(i).unwrap();
            prop_assert_eq!(region(piece), Some((base + at + i * pieces.size, pieces.size)));
            prop_assert!(is_ancestor(source, piece));
        }
    }

    /// Retypes at random offsets of one RAM cap, each told which bytes are
    /// live (those placed before), never place two objects over each other.
    #[test]
    fn successive_retypes_at_offsets_never_overlap(
        steps in prop::collection::vec((0u64..16, 0usize..4, 1u64..4), 1..30),
    ) {
        let mut source = RAM::new(0x100_0000, 1 << 20, 0, 0).unwrap().cap();
        let mut has_children = false;
        let mut placed: Vec<(u64, u64)> = Vec::new();
        let objects = [
            (ObjectType::FrameObject, 0x1000),
            (ObjectType::FrameObject, 0x4000),
            (ObjectType::DispatcherObject, 0),
            (ObjectType::VNode_x86_64_ptableObject, 0),
        ];
        for (page, object, count) in steps {
            let (object_type, size_arg) = objects[object];
            let request = RetypeRequest { object_type: object_type as u64, size_arg, offset: 0, count };
            let meets = |first: u64, bytes: u64| placed.iter().any(|(b, e)| *b < first + bytes && first < *e);
            let Ok(p) = retype_at(source, has_children, &request, page << 14, Some(Destination { slots: 4 }), |_| true, meets) else {
                continue;
            };
            let range = (p.first, p.first + p.count * p.size);
            for other in &placed {
                prop_assert!(range.1 <= other.0 || other.1 <= range.0, "{:?} overlaps {:?}", range, other);
            }
            prop_assert!(range.1 - 0x100_0000 <= p.new_watermark);
            placed.push(range);
            source = p.updated_source;
            has_children = true;
        }
    }
}
