//! seL4's x86_64 caps (examples/sel4/x86_64.cap) against seL4's own
//! layout: the code capc generates puts every field of every cap type at
//! the word and bits seL4's bitfield generator gives it, the tag at bits
//! 59..64 of word 0, reads pointers back as canonical addresses, and
//! numbers the invocations as seL4 numbers them.
//!
//! The positions below are written from seL4's `structures.bf`
//! (include/object/structures_64.bf and
//! include/arch/x86/arch/64/mode/object/structures.bf, seL4 commit
//! 1326364bc, GPL-2.0-only; only the positions are cited here). A block
//! lists its fields from the top bit of its last word down, so a field's
//! bits are what the fields and padding after it in its 64-bit group leave
//! below it; `field_ptr capX W` is `W - 48` bits of padding above a 48-bit
//! `field_high`, and `field_ptr(A) capX W` stores `48 - A` bits.

/// What build.rs generated for the C differential test; only `FIELDS` and
/// `rust_set` are used here.
#[allow(dead_code)]
mod dispatch {
    use capc_generated_tests::x86_64::*;

    include!(concat!(env!("OUT_DIR"), "/c_x86_64.rs"));
}

use capc_generated_tests::x86_64::*;

#[path = "support/sel4_fields.rs"]
mod sel4_fields;

#[path = "support/sel4_derive.rs"]
#[macro_use]
mod sel4_derive;

/// A transport playing the kernel: it keeps the request a client sends
/// (header, words, extra caps) and answers with `reply`.
#[derive(Default)]
struct Kernel {
    sent: (MessageInfo, Vec<u64>, Vec<u64>),
    reply: (MessageInfo, Vec<u64>),
}

impl Transport for &mut Kernel {
    fn call(
        &mut self,
        info: MessageInfo,
        msg: &mut [u64; target::MESSAGE_WORDS],
        caps_out: &[u64],
        _caps_in: &mut [u64; target::CAPS_PER_MESSAGE],
    ) -> MessageInfo {
        self.sent = (info, msg[..info.length].to_vec(), caps_out.to_vec());
        *msg = [0; target::MESSAGE_WORDS];
        msg[..self.reply.1.len()].copy_from_slice(&self.reply.1);
        self.reply.0
    }
}

/// The request a client method sends (`call` makes the client over the
/// transport and calls it): its header, its words and its extra caps.
fn sent<R>(call: impl FnOnce(&mut Kernel) -> R) -> (MessageInfo, Vec<u64>, Vec<u64>) {
    let mut kernel = Kernel::default();
    let _ = call(&mut kernel);
    kernel.sent
}

/// What a client method (called by `call`) makes of the reply `info` with
/// the words `msg`.
fn answer<R>(info: MessageInfo, msg: &[u64], call: impl FnOnce(&mut Kernel) -> R) -> R {
    let mut kernel = Kernel {
        reply: (info, msg.to_vec()),
        ..Kernel::default()
    };
    call(&mut kernel)
}

/// `(cap type, field, word, lowest bit, width, seL4's field)`: the fields
/// of the spec without options that options move (the others are
/// `sel4_fields::EVERY_CONFIGURATION`).
const WITHOUT_OPTIONS: &[(&str, &str, usize, u32, u32, &str)] = &[
    (
        "EndpointCap",
        "rights",
        0,
        55,
        4,
        "capCanSend..capCanGrantReply",
    ),
    ("ReplyCap", "tcb", 1, 0, 64, "capTCBPtr"),
    ("ReplyCap", "can_grant", 0, 1, 1, "capReplyCanGrant"),
    ("ReplyCap", "master", 0, 0, 1, "capReplyMaster"),
    ("IrqHandlerCap", "irq", 1, 0, 12, "capIRQ"),
];

/// Every field of every cap type of the spec.
fn sel4_fields() -> Vec<sel4_fields::Field> {
    sel4_fields::EVERY_CONFIGURATION
        .iter()
        .chain(WITHOUT_OPTIONS)
        .copied()
        .collect()
}

/// seL4's `capType` field: bits 59..64 of word 0 in every cap.
#[test]
fn the_tag_is_at_sel4s_cap_type() {
    assert_eq!((target::TAG_SHIFT, target::TAG_BITS), (59, 5));
    for ty in CapType::ALL {
        let cap = Cap::from_words([(ty as u64) << 59, 0]);
        assert_eq!(cap.cap_type(), Some(ty));
    }
    let endpoint = EndpointCap::new(0x1000, Rights::NONE, 7).expect("fits");
    assert_eq!(endpoint.cap().words()[0] >> 59, EndpointCap::TAG);
}

/// The enumerated fields: set only to the values their enumeration names.
const ENUMERATED: &[&str] = &[
    "FrameCap.page_size",
    "FrameCap.map_type",
    "FrameCap.vm_rights",
];

/// seL4's `capType` values (the `tag` lines of structures.bf: generic caps
/// even, x86_64 caps odd, `io_port_control_cap` 31), by the spec's cap type.
const SEL4_TAGS: &[(CapType, u64, &str)] = &[
    (CapType::UntypedCap, 2, "untyped_cap"),
    (CapType::EndpointCap, 4, "endpoint_cap"),
    (CapType::NotificationCap, 6, "notification_cap"),
    (CapType::ReplyCap, 8, "reply_cap"),
    (CapType::CNodeCap, 10, "cnode_cap"),
    (CapType::ThreadCap, 12, "thread_cap"),
    (CapType::IrqControlCap, 14, "irq_control_cap"),
    (CapType::IrqHandlerCap, 16, "irq_handler_cap"),
    (CapType::ZombieCap, 18, "zombie_cap"),
    (CapType::DomainCap, 20, "domain_cap"),
    (CapType::FrameCap, 1, "frame_cap"),
    (CapType::PageTableCap, 3, "page_table_cap"),
    (CapType::PageDirectoryCap, 5, "page_directory_cap"),
    (CapType::PdptCap, 7, "pdpt_cap"),
    (CapType::Pml4Cap, 9, "pml4_cap"),
    (CapType::AsidControlCap, 11, "asid_control_cap"),
    (CapType::AsidPoolCap, 13, "asid_pool_cap"),
    (CapType::IoPortCap, 19, "io_port_cap"),
    (CapType::IoPortControlCap, 31, "io_port_control_cap"),
];

/// Every cap type's tag is seL4's `capType` for it, and every cap type is
/// in the table.
#[test]
fn every_tag_is_sel4s_cap_type() {
    for &(ty, tag, sel4) in SEL4_TAGS {
        assert_eq!(ty as u64, tag, "{sel4}");
        assert_eq!(CapType::from_tag(tag), Some(ty), "{sel4}");
    }
    for ty in CapType::ALL {
        assert!(
            SEL4_TAGS.iter().any(|r| r.0 == ty),
            "{ty:?} is not in the table"
        );
    }
}

/// seL4's object-type numbers on x86_64 without MCS (libsel4's
/// objecttype.h files: the generic types, then the x86_64 mode's, then
/// x86's): one frame type here has seL4_X86_4K's number (8) and, per size
/// argument, seL4_X86_LargePageObject's (9) and seL4_X64_HugePageObject's
/// (7) (`frame_sizes_have_sel4s_numbers`); seL4 numbers no ASID pool (12
/// here, past its numbers).
const SEL4_OBJECTS: &[(ObjectType, u64, &str)] = &[
    (ObjectType::Untyped, 0, "seL4_UntypedObject"),
    (ObjectType::Tcb, 1, "seL4_TCBObject"),
    (ObjectType::Endpoint, 2, "seL4_EndpointObject"),
    (ObjectType::Notification, 3, "seL4_NotificationObject"),
    (ObjectType::CNode, 4, "seL4_CapTableObject"),
    (ObjectType::Pdpt, 5, "seL4_X86_PDPTObject"),
    (ObjectType::Frame, 8, "seL4_X86_4K"),
    (ObjectType::PageTable, 10, "seL4_X86_PageTableObject"),
    (
        ObjectType::PageDirectory,
        11,
        "seL4_X86_PageDirectoryObject",
    ),
];

/// Each object type seL4 numbers has seL4's number, as the enum's
/// discriminant and as retype's type argument.
#[test]
fn object_types_have_sel4s_numbers() {
    for &(ty, number, sel4) in SEL4_OBJECTS {
        assert_eq!(ty as u64, number, "{sel4}");
        assert_eq!(ObjectType::from_word(number), Some(ty), "{sel4}");
    }
    assert_eq!(ObjectType::AsidPool as u64, 12);
}

/// Every field, set to all ones in a cap of nothing else, sets exactly
/// seL4's bits of that field; every field of the spec is in the table.
#[test]
fn every_field_is_at_sel4s_word_and_bits() {
    let fields = sel4_fields();
    let mut seen = vec![false; fields.len()];
    for &(tag, index, name) in dispatch::FIELDS {
        let row = sel4_fields::row(&fields, name);
        seen[row] = true;
        let (_, _, word, lo, width, sel4) = fields[row];
        let empty = [u64::from(tag) << 59, 0];
        let filled = sel4_fields::filled(|value| {
            let mut cap = Cap::from_words(empty);
            dispatch::rust_set(tag, index, &mut cap, value).then_some(cap.words())
        })
        .map(Cap::from_words)
        .unwrap_or_else(|| panic!("{name} takes no value"));
        let (expected, ones) = sel4_fields::expected(empty, &fields[row]);
        if filled.words() != expected && ENUMERATED.contains(&name) {
            // Values its variants do not name set no bit of their own
            // (`capFMapType` is 0 or 1 without IOMMU and VT-x): every
            // value sets bits of seL4's field only, and the getter reads
            // exactly those bits (the refused value it reports).
            let inside = filled
                .words()
                .iter()
                .zip(expected)
                .all(|(f, e)| f & !e == 0);
            assert!(inside, "{name} sets bits outside seL4's {sel4}");
            assert_eq!(
                dispatch::rust_get(tag, index, Cap::from_words(expected)),
                ones,
                "{name} does not read seL4's {sel4} (word {word}, bits {lo}..{})",
                lo + width
            );
            let mut outside = [!expected[0] & !(0x1f << 59), !expected[1]];
            outside[0] |= empty[0];
            assert_eq!(dispatch::rust_get(tag, index, Cap::from_words(outside)), 0);
            continue;
        }
        assert_eq!(
            filled.words(),
            expected,
            "{name} is not where seL4 keeps {sel4} (word {word}, bits {lo}..{})",
            lo + width
        );
    }
    for (row, seen) in fields.iter().zip(seen) {
        assert!(seen, "{}.{} is not a field of the spec", row.0, row.1);
    }
}

/// seL4's `field_high` pointers are canonical: read back with bit 47
/// copied above, and only canonical addresses are stored.
#[test]
fn pointers_are_canonical_addresses() {
    let kernel = 0xffff_8000_0010_0000;
    let mut tcb = ThreadCap::new(kernel).expect("a canonical address");
    assert_eq!(tcb.cap().words()[0] & ((1 << 48) - 1), 0x8000_0010_0000);
    assert_eq!(tcb.tcb(), kernel);
    // Bit 47 set without the bits above it: not canonical.
    let e = tcb
        .set_tcb(0x0000_8000_0010_0000)
        .expect_err("not canonical");
    assert_eq!(e.value, 0x0000_8000_0010_0000);
    assert_eq!(tcb.tcb(), kernel, "a refused value leaves the cap alone");
    tcb.set_tcb(0x0000_7fff_ffff_f000).expect("a user address");
    assert_eq!(tcb.tcb(), 0x0000_7fff_ffff_f000);
    // `field_ptr(1)`: 47 bits without the low bit, still canonical.
    let mut cnode = CNodeCap::new(0x1000, 4, 0, 0).expect("fits");
    cnode
        .set_cnode(0xffff_ffff_8000_0000)
        .expect("canonical, aligned");
    assert_eq!(cnode.cnode(), 0xffff_ffff_8000_0000);
    assert_eq!(cnode.cap().words()[0] & ((1 << 47) - 1), 0x7fff_c000_0000);
    assert!(
        cnode.set_cnode(0xffff_ffff_8000_0001).is_err(),
        "misaligned"
    );
    // A mapped address keeps its top bits only (`field_high ... 28`).
    let mut table = PageTableCap::from_cap(Cap::from_words([PageTableCap::TAG << 59, 0]))
        .expect("a page table cap");
    table
        .set_mapped_address(0x0000_7fff_fff0_0000)
        .expect("1 MiB aligned");
    assert_eq!(table.cap().words()[0] >> 21 & ((1 << 28) - 1), 0x7ff_ffff);
    assert!(table.set_mapped_address(0x0000_7fff_fff8_0000).is_err());
}

/// seL4's `invocation_label` numbers for this configuration (non-MCS,
/// non-SMP, no debug API), from libsel4/include/interfaces/object-api.xml
/// (BSD-2-Clause), methods in order from `UntypedRetype` = 1.
/// `seL4_MessageInfo` keeps the label in its top 52 bits (structures.bf's
/// `field label 52`): the spec's `label_bits = 52`.
#[test]
fn labels_fit_sel4s_message_info() {
    assert_eq!(target::LABEL_BITS, 52);
    assert_eq!(target::LAST_LABEL, (1 << 52) - 1);
}

#[test]
fn labels_are_sel4s() {
    let labels: &[(u64, u64, &str)] = &[
        (UntypedCapLabel::Retype as u64, 1, "UntypedRetype"),
        (ThreadCapLabel::ReadRegisters as u64, 2, "TCBReadRegisters"),
        (
            ThreadCapLabel::WriteRegisters as u64,
            3,
            "TCBWriteRegisters",
        ),
        (ThreadCapLabel::CopyRegisters as u64, 4, "TCBCopyRegisters"),
        (ThreadCapLabel::Configure as u64, 5, "TCBConfigure"),
        (ThreadCapLabel::SetPriority as u64, 6, "TCBSetPriority"),
        (ThreadCapLabel::SetMcPriority as u64, 7, "TCBSetMCPriority"),
        (
            ThreadCapLabel::SetSchedParams as u64,
            8,
            "TCBSetSchedParams",
        ),
        (ThreadCapLabel::SetIpcBuffer as u64, 9, "TCBSetIPCBuffer"),
        (ThreadCapLabel::SetSpace as u64, 10, "TCBSetSpace"),
        (ThreadCapLabel::Suspend as u64, 11, "TCBSuspend"),
        (ThreadCapLabel::Resume as u64, 12, "TCBResume"),
        (
            ThreadCapLabel::BindNotification as u64,
            13,
            "TCBBindNotification",
        ),
        (
            ThreadCapLabel::UnbindNotification as u64,
            14,
            "TCBUnbindNotification",
        ),
        (ThreadCapLabel::SetTlsBase as u64, 15, "TCBSetTLSBase"),
        (ThreadCapLabel::SetFlags as u64, 16, "TCBSetFlags"),
        (CNodeCapLabel::Revoke as u64, 17, "CNodeRevoke"),
        (CNodeCapLabel::Delete as u64, 18, "CNodeDelete"),
        (
            CNodeCapLabel::CancelBadgedSends as u64,
            19,
            "CNodeCancelBadgedSends",
        ),
        (CNodeCapLabel::Copy as u64, 20, "CNodeCopy"),
        (CNodeCapLabel::Mint as u64, 21, "CNodeMint"),
        (CNodeCapLabel::Move as u64, 22, "CNodeMove"),
        (CNodeCapLabel::Mutate as u64, 23, "CNodeMutate"),
        (CNodeCapLabel::Rotate as u64, 24, "CNodeRotate"),
        (CNodeCapLabel::SaveCaller as u64, 25, "CNodeSaveCaller"),
        (IrqControlCapLabel::Get as u64, 26, "IRQIssueIRQHandler"),
        (IrqHandlerCapLabel::Ack as u64, 27, "IRQAckIRQ"),
        (
            IrqHandlerCapLabel::SetNotification as u64,
            28,
            "IRQSetIRQHandler",
        ),
        (IrqHandlerCapLabel::Clear as u64, 29, "IRQClearIRQHandler"),
        (DomainCapLabel::Set as u64, 30, "DomainSetSet"),
        (
            DomainCapLabel::ScheduleConfigure as u64,
            31,
            "DomainScheduleConfigure",
        ),
        (
            DomainCapLabel::ScheduleSetStart as u64,
            32,
            "DomainScheduleSetStart",
        ),
        // x86's, from `nInvocationLabels` (33 here) on: object-api-arch.xml.
        (
            AsidControlCapLabel::MakePool as u64,
            42,
            "X86ASIDControlMakePool",
        ),
        (AsidPoolCapLabel::Assign as u64, 43, "X86ASIDPoolAssign"),
        (
            IrqControlCapLabel::GetIoapic as u64,
            51,
            "X86IRQIssueIRQHandlerIOAPIC",
        ),
        (
            IrqControlCapLabel::GetMsi as u64,
            52,
            "X86IRQIssueIRQHandlerMSI",
        ),
    ];
    for &(ours, sel4, name) in labels {
        assert_eq!(ours, sel4, "{name}");
    }
    assert_eq!(
        CNodeCapLabel::from_word(17),
        Some(CNodeCapLabel::Revoke),
        "the decoder takes seL4's number"
    );
    assert_eq!(CNodeCapLabel::from_word(1), None);
}

/// IRQControl's Get and IOPortControl's Issue create caps (`creates`):
/// the label enum says which cap type, the decoded arguments build the new
/// cap from the arguments, and a `derive` rule makes it a child of the
/// invoked cap.
#[test]
fn creation_invocations_build_the_new_cap() {
    assert_eq!(
        IrqControlCapLabel::Get.creates(),
        Some(CapType::IrqHandlerCap)
    );
    assert_eq!(
        IoPortControlCapLabel::Issue.creates(),
        Some(CapType::IoPortCap)
    );
    let root = CNodeCap::new(0x10_0000, 10, 0, 0).expect("fits");
    let (info, msg, _) = sent(|k| IrqControlCapClient(k).get(9, Slot::new(0x40), 7, 64));
    let decoded =
        decode_irq_control_cap(info, Rights::NONE, &msg, &[root.cap()]).expect("a well-formed Get");
    let IrqControlCapInvocation::Get(args) = decoded else {
        panic!("label 26 is Get");
    };
    let handler = args.created().expect("IRQ 9 fits");
    assert_eq!(handler.irq(), 9);
    assert_eq!(handler.cap().words(), [16 << 59, 9]);
    // An IRQ number wider than seL4's 12 bits is refused, not truncated.
    let too_wide = IrqControlCapGet {
        irq: 1 << 12,
        ..args
    };
    assert!(too_wide.created().is_err());

    let issue = IoPortControlCapIssue {
        first_port: 0x3f8,
        last_port: 0x3ff,
        root,
        index: 8,
        depth: 64,
    };
    let port = issue.created().expect("16-bit ports");
    assert_eq!((port.first_port(), port.last_port()), (0x3f8, 0x3ff));
    assert_eq!(port.cap().words()[0], 19 << 59 | 0x3f8 << 40 | 0x3ff << 24);
    assert!(
        IoPortControlCapIssue {
            last_port: 1 << 16,
            ..issue
        }
        .created()
        .is_err()
    );

    // x86's I/O APIC and MSI handlers: seL4 reads the IRQ from the seventh
    // message word (`vector`), after the slot's index and depth and four
    // words about the interrupt's source.
    for label in [IrqControlCapLabel::GetIoapic, IrqControlCapLabel::GetMsi] {
        assert_eq!(label.creates(), Some(CapType::IrqHandlerCap));
        assert_eq!(label.request_words(), 7);
    }
    let (info, msg, _) =
        sent(|k| IrqControlCapClient(k).get_ioapic(Slot::new(0x40), 7, 64, 1, 2, 1, 0, 17));
    assert_eq!(msg[..7], [7, 64, 1, 2, 1, 0, 17]);
    let IrqControlCapInvocation::GetIoapic(ioapic) =
        decode_irq_control_cap(info, Rights::NONE, &msg, &[root.cap()]).expect("well formed")
    else {
        panic!("label 51 is GetIoapic");
    };
    assert_eq!(ioapic.created().expect("fits").irq(), 17);
    let (info, msg, _) =
        sent(|k| IrqControlCapClient(k).get_msi(Slot::new(0x40), 7, 64, 3, 4, 5, 6, 18));
    assert_eq!(msg[..7], [7, 64, 3, 4, 5, 6, 18]);
    let IrqControlCapInvocation::GetMsi(msi) =
        decode_irq_control_cap(info, Rights::NONE, &msg, &[root.cap()]).expect("well formed")
    else {
        panic!("label 52 is GetMsi");
    };
    assert_eq!(msi.created().expect("fits").irq(), 18);

    // The derivation rules put the new caps under the control caps, any
    // number of them.
    for (made, from) in [
        (CapType::IrqHandlerCap, CapType::IrqControlCap),
        (CapType::IoPortCap, CapType::IoPortControlCap),
    ] {
        let rule = made.derived_from().expect("a derive rule");
        assert_eq!(
            (rule.source, rule.target, rule.multiple),
            (from, made, true)
        );
    }
    let control = Cap::from_words([IrqControlCap::TAG << 59, 0]);
    let derived = derive(control, CapType::IrqHandlerCap, true).expect("#[multiple]");
    assert_eq!(derived.cap_type(), Some(CapType::IrqHandlerCap));
}

/// ASIDControl's MakePool makes an ASID pool of all of a 4 KiB Untyped
/// (`creates AsidPoolCap from untyped in root;`): seL4's message (index
/// and depth in words 0 and 1, the Untyped and the root CNode as the two
/// extra caps), the decoder's check of the Untyped's size and kind of
/// memory (seL4's vspace.c: `capBlockSize != seL4_ASIDPoolBits` or
/// `capIsDevice` is InvalidCapability), the pool's cap at its address.
#[test]
fn make_pool_makes_a_pool_of_an_untyped() {
    assert_eq!(
        AsidControlCapLabel::MakePool.creates(),
        Some(CapType::AsidPoolCap)
    );
    assert_eq!(AsidControlCapLabel::MakePool.request_words(), 2);
    assert_eq!(AsidControlCapLabel::MakePool.request_caps(), 2);
    let root = CNodeCap::new(0x10_0000, 10, 0, 0).expect("fits");
    let untyped = |bits: u8, device: bool| {
        UntypedCap::new(0x20_3000, bits, device, 0)
            .expect("fits")
            .cap()
    };
    let (info, msg, caps) =
        sent(|k| AsidControlCapClient(k).make_pool(Slot::new(0x40), Slot::new(0x41), 7, 64));
    assert_eq!((msg[..2].to_vec(), caps), (vec![7, 64], vec![0x40, 0x41]));
    let decode =
        |untyped: Cap| decode_asid_control_cap(info, Rights::NONE, &msg, &[untyped, root.cap()]);
    let AsidControlCapInvocation::MakePool(args) =
        decode(untyped(12, false)).expect("4 KiB of RAM");
    let pool = args.created().expect("a 4 KiB-aligned pool");
    assert_eq!(pool.pool(), 0x20_3000);
    assert_eq!(pool.asid_base(), 0, "the kernel numbers the pool");
    assert_eq!(pool.cap().words(), [13 << 59 | 0x20_3000 >> 11, 0]);
    for refused in [
        untyped(13, false),
        untyped(11, false),
        untyped(12, true),
        root.cap(),
    ] {
        assert_eq!(
            decode(refused),
            Err(DecodeError::InvalidCapability { index: 0 }),
            "{refused:?}"
        );
    }
    // Not a retype target: seL4's retype has no ASID pool number.
    assert_eq!(Sel4ObjectType::from_value(12), None);
}

/// seL4's three frame object types are one object type numbered per size
/// argument (`#[number(8, 9, 7)]`): each number names its size, and a
/// retype with it makes frames of that size whatever its size argument
/// word says, as seL4 ignores `size_bits` for frames.
#[test]
fn frame_sizes_have_sel4s_numbers() {
    for (number, arg, sel4) in [
        (8, 0, "seL4_X86_4K"),
        (9, 1, "seL4_X86_LargePageObject"),
        (7, 2, "seL4_X64_HugePageObject"),
    ] {
        assert_eq!(
            ObjectType::sized_number(number),
            Some((ObjectType::Frame, arg)),
            "{sel4}"
        );
    }
    assert_eq!(
        ObjectType::sized_number(10),
        None,
        "the page table's number"
    );
    assert_eq!(ObjectType::from_word(9), None, "the enum is one type");
    let untyped = UntypedCap::new(0x4000_0000, 30, false, 0).expect("1 GiB");
    for (number, size_bits) in [(8, 12), (9, 21), (7, 30)] {
        let request = RetypeRequest {
            object_type: number,
            // Not read for a frame number: any word.
            size_arg: 0xdead,
            offset: 0,
            count: 1,
        };
        let placement = retype(
            untyped.cap(),
            false,
            &request,
            Some(Destination { slots: 4 }),
            |_| true,
        )
        .unwrap_or_else(|e| panic!("type {number}: {e:?}"));
        assert_eq!(placement.object_type, ObjectType::Frame);
        assert_eq!(placement.size_bits, size_bits, "type {number}");
        let frame =
            FrameCap::from_cap(placement.cap(0, false).expect("a cap")).expect("a frame cap");
        assert_eq!(
            frame.page_size().map(FrameSize::value),
            Ok(placement.size_arg),
            "capFSize"
        );
    }
}

/// seL4's enumerations, written from include/arch/x86/arch/machine/hardware.h
/// (`vm_page_size`, `vm_page_map_type`) and
/// include/arch/x86/arch/object/structures.h (`vm_rights`) of seL4 commit
/// 1326364bc (GPL-2.0-only; only the values are cited), and from libsel4's
/// objecttype.h files (BSD-2-Clause) for `seL4_ObjectType`.
#[test]
fn enumerations_have_sel4s_values() {
    for (ours, sel4, name) in [
        (FrameSize::Small.value(), 0, "X86_SmallPage"),
        (FrameSize::Large.value(), 1, "X86_LargePage"),
        (FrameSize::Huge.value(), 2, "X64_HugePage"),
        (FrameMapType::Unmapped.value(), 0, "X86_MappingNone"),
        (FrameMapType::VSpace.value(), 1, "X86_MappingVSpace"),
        (VmRights::KernelOnly.value(), 1, "VMKernelOnly"),
        (VmRights::ReadOnly.value(), 2, "VMReadOnly"),
        (VmRights::ReadWrite.value(), 3, "VMReadWrite"),
        (Sel4ObjectType::Untyped.value(), 0, "seL4_UntypedObject"),
        (Sel4ObjectType::Tcb.value(), 1, "seL4_TCBObject"),
        (Sel4ObjectType::Endpoint.value(), 2, "seL4_EndpointObject"),
        (
            Sel4ObjectType::Notification.value(),
            3,
            "seL4_NotificationObject",
        ),
        (Sel4ObjectType::CapTable.value(), 4, "seL4_CapTableObject"),
        (Sel4ObjectType::Pdpt.value(), 5, "seL4_X86_PDPTObject"),
        (Sel4ObjectType::Pml4.value(), 6, "seL4_X64_PML4Object"),
        (
            Sel4ObjectType::HugePage.value(),
            7,
            "seL4_X64_HugePageObject",
        ),
        (Sel4ObjectType::SmallPage.value(), 8, "seL4_X86_4K"),
        (
            Sel4ObjectType::LargePage.value(),
            9,
            "seL4_X86_LargePageObject",
        ),
        (
            Sel4ObjectType::PageTable.value(),
            10,
            "seL4_X86_PageTableObject",
        ),
        (
            Sel4ObjectType::PageDirectory.value(),
            11,
            "seL4_X86_PageDirectoryObject",
        ),
    ] {
        assert_eq!(ours, sel4, "{name}");
    }
    // `seL4_ObjectTypeCount` (12) and beyond, and values no variant has.
    assert_eq!(Sel4ObjectType::from_value(12), None);
    assert_eq!(VmRights::from_value(0), None, "seL4 has no vm_rights 0");
    assert_eq!(FrameSize::from_value(3), None);
    assert_eq!(FrameMapType::from_value(2), None, "IOMMU's, not here");
    assert_eq!(VmRights::try_from(3), Ok(VmRights::ReadWrite));
    assert_eq!(FrameSize::try_from(3), Err(3));
    assert_eq!(u64::from(FrameSize::Huge), 2);
}

/// A retype makes a frame cap as seL4's `Arch_createObject` does:
/// `X86_MappingNone`, `VMReadWrite` (the first variant of `VmRights`), its
/// size; the getters read the enumerations back and refuse a value no
/// variant names with the field's name and the bits.
#[test]
fn frame_caps_hold_sel4s_values() {
    let frame = ObjectType::Frame
        .cap_for(0x20_0000, 1, false)
        .and_then(FrameCap::from_cap)
        .expect("a 2 MiB frame cap");
    assert_eq!(frame.page_size(), Ok(FrameSize::Large));
    assert_eq!(frame.map_type(), Ok(FrameMapType::Unmapped));
    assert_eq!(frame.vm_rights(), Ok(VmRights::ReadWrite));
    let words = frame.cap().words();
    assert_eq!(words[0] >> 57 & 3, 1, "capFSize");
    assert_eq!(words[0] >> 55 & 3, 0, "capFMapType");
    assert_eq!(words[0] >> 5 & 3, 3, "capFVMRights");
    // A size argument no variant names makes no cap.
    assert_eq!(ObjectType::Frame.cap_for(0x20_0000, 3, false), None);
    // Bits no variant names: refused by the getter, not read as a variant.
    let unnamed =
        FrameCap::from_cap(Cap::from_words([words[0] & !(3 << 5), words[1]])).expect("a frame cap");
    assert_eq!(
        unnamed.vm_rights(),
        Err(FieldError {
            field: "vm_rights",
            value: 0
        })
    );
    let mut read_only = frame;
    read_only.set_vm_rights(VmRights::ReadOnly).expect("fits");
    assert_eq!(read_only.cap().words()[0] >> 5 & 3, 2);
    assert_eq!(read_only.vm_rights(), Ok(VmRights::ReadOnly));
    let built = FrameCap::new(
        0x4000_0000,
        0,
        FrameSize::Huge,
        FrameMapType::VSpace,
        0x4000_0000,
        VmRights::KernelOnly,
        false,
    )
    .expect("fits");
    assert_eq!(built.cap().words()[0] >> 55 & 0xf, 2 << 2 | 1);
}

/// `UntypedRetype`'s type argument is an `seL4_ObjectType`: the stub writes
/// its number, the decoder refuses a number seL4 has no type for with
/// `InvalidArgument` 0 (seL4's `newType >= seL4_ObjectTypeCount`) and takes
/// the PML4's (6), which retype makes (`retype_makes_pml4s`).
#[test]
fn retype_takes_sel4s_object_types() {
    let root = CNodeCap::new(0x10_0000, 10, 0, 0).expect("fits");
    let (info, mut msg, _) = sent(|k| {
        UntypedCapClient(k).retype(Sel4ObjectType::LargePage, 0, Slot::new(7), 0, 0, 4, 1)
    });
    assert_eq!(msg[0], 9, "seL4_X86_LargePageObject");
    let UntypedCapInvocation::Retype(args) =
        decode_untyped_cap(info, Rights::NONE, &msg, &[root.cap()]).expect("well-formed");
    assert_eq!(args.object_type, Sel4ObjectType::LargePage);
    for (number, decoded) in [
        (6, Ok(Sel4ObjectType::Pml4)),
        (12, Err(0)),
        (u64::MAX, Err(0)),
    ] {
        msg[0] = number;
        let result = decode_untyped_cap(info, Rights::NONE, &msg, &[root.cap()]).map(|i| {
            let UntypedCapInvocation::Retype(args) = i;
            args.object_type
        });
        assert_eq!(
            result,
            decoded.map_err(|index| DecodeError::InvalidArgument { index }),
            "type {number}"
        );
    }
    assert_eq!(
        ObjectType::sized_number(6),
        None,
        "one number, not per size"
    );
    assert_eq!(ObjectType::from_word(6), Some(ObjectType::Pml4));
}

/// `seL4_X64_PML4Object` (6, `seL4_PML4Bits` 12): retype makes 4 KiB PML4s
/// as seL4's `Arch_createObject` does, each a `pml4_cap` (9) whose
/// `capPML4BasePtr` is the whole of word 1, unmapped (ASID 0).
#[test]
fn retype_makes_pml4s() {
    let untyped = UntypedCap::new(0x40_0000, 14, false, 0).expect("16 KiB");
    let placement = retype(
        untyped.cap(),
        false,
        &RetypeRequest {
            object_type: 6,
            size_arg: 0,
            offset: 0,
            count: 3,
        },
        Some(Destination { slots: 4 }),
        |_| true,
    )
    .expect("three PML4s");
    assert_eq!(placement.object_type, ObjectType::Pml4);
    assert_eq!(placement.size_bits, 12);
    let third = Pml4Cap::from_cap(placement.cap(2, false).expect("a cap")).expect("a PML4 cap");
    assert_eq!(third.base(), 0x40_2000);
    assert_eq!(third.cap().words(), [9 << 59, 0x40_2000]);
    assert_eq!(region(third.cap()), Some((0x40_2000, 4096)));
}

/// `field capPML4BasePtr 64`: a `#[whole_word]` pointer holds any 64-bit
/// address in word 1 as it is, a kernel address (`0xffffff80...`, seL4's
/// `PPTR_BASE`) or one that is not canonical, which a 48-bit pointer could
/// not; the reply cap's `capTCBPtr` likewise.
#[test]
fn whole_word_pointers_hold_every_bit() {
    for address in [0xffff_ff80_0012_3000, 0x8000_0000_0000_0001, u64::MAX, 0] {
        let mut pml4 = Pml4Cap::new(address, true, 0xabc).expect("any word");
        assert_eq!(pml4.cap().words(), [9 << 59 | 1 << 58 | 0xabc, address]);
        assert_eq!(pml4.base(), address);
        pml4.set_base(address ^ 0xf0).expect("any word");
        assert_eq!(pml4.cap().words()[1], address ^ 0xf0);
        assert_eq!(pml4.mapped_asid(), 0xabc, "word 0 untouched");
        let reply = ReplyCap::new(address, false, true).expect("any word");
        assert_eq!(reply.cap().words(), [8 << 59 | 1, address]);
        assert_eq!(reply.tcb(), address);
    }
    // A 48-bit sign-extended pointer refuses what a whole word takes.
    assert!(EndpointCap::new(0x8000_0000_0000_0000, Rights::NONE, 0).is_err());
}

/// seL4's `seL4_CapRights_t` and `seL4_CNode_CapData` (libsel4's
/// mode_include/64/sel4/shared_types.bf, seL4 commit 1326364bc,
/// BSD-2-Clause): bitfields whose words are the words seL4's generated
/// `seL4_CapRights_new` and `seL4_CNode_CapData_new` make, passed where
/// seL4's stubs pass them.
#[test]
fn structured_arguments_are_sel4s_words() {
    // seL4_CapRights_new(grant_reply, grant, read, write): write is bit 0,
    // read 1, grant 2, grant-reply 3; libsel4's seL4_AllRights is 0xf,
    // seL4_ReadWrite 0x3, seL4_CanRead 0x2, seL4_CanGrantReply 0x8.
    assert_eq!(CapRights::new(true, true, true, true).words(), [0xf]);
    assert_eq!(CapRights::new(true, true, false, false).words(), [0x3]);
    assert_eq!(CapRights::new(false, true, false, false).words(), [0x2]);
    assert_eq!(CapRights::new(false, false, false, true).words(), [0x8]);
    assert_eq!(CapRights::WORDS, 1);
    // seL4 reads the word through its getters: the bits above 4 are
    // ignored, not refused.
    let read = CapRights::from_words(&[0xffff_fff2]).expect("seL4 masks");
    assert!(read.allow_read() && !read.allow_write() && !read.allow_grant());
    assert_eq!(read.words(), [0x2]);
    assert_eq!(CapRights::from_words(&[]), None);

    // seL4_CNode_CapData_new(guard, guardSize): the size in bits 0..6,
    // the guard in 6..64.
    let data = CNodeCapData::new(6, 0x2a).expect("fits");
    assert_eq!(data.words(), [0x2a << 6 | 6]);
    assert_eq!((data.guard_size(), data.guard()), (6, 0x2a));
    assert_eq!(CNodeCapData::new(64, 0), None, "guardSize is 6 bits");
    assert_eq!(CNodeCapData::new(0, 1 << 58), None, "guard is 58 bits");
    let all = CNodeCapData::from_words(&[u64::MAX]).expect("every bit a field's");
    assert_eq!((all.guard_size(), all.guard()), (63, (1 << 58) - 1));

    // CNodeMint: dest_index, dest_depth, src_index, src_depth, rights,
    // badge in message words 0 to 5, as seL4_CNode_Mint sets them.
    let rights = CapRights::new(false, true, true, false);
    let (info, mut msg, _) =
        sent(|k| CNodeCapClient(k).mint(5, 64, Slot::new(0x40), 9, 64, rights, 0xbad));
    assert_eq!(info.label, 21);
    assert_eq!(&msg[..6], &[5, 64, 9, 64, 0x6, 0xbad]);
    let root = CNodeCap::new(0x10_0000, 10, 0, 0).expect("fits");
    let decoded = decode_cnode_cap(info, Rights::NONE, &msg, &[root.cap()]).expect("a Mint");
    let CNodeCapInvocation::Mint(args) = decoded else {
        panic!("decoded as {decoded:?}")
    };
    assert_eq!(args.rights, rights);
    // High bits in the rights word are dropped as seL4 drops them.
    msg[4] = 0x6 | 1 << 40;
    let decoded = decode_cnode_cap(info, Rights::NONE, &msg, &[root.cap()]).expect("a Mint");
    assert_eq!(decoded, CNodeCapInvocation::Mint(args));

    // CNodeMutate's guard and TCBConfigure's cspace_root_data are CNode
    // cap data in the words seL4 sends (message word 4; word 1 after the
    // fault endpoint).
    let (info, msg, _) = sent(|k| CNodeCapClient(k).mutate(5, 64, Slot::new(0x40), 9, 64, data));
    assert_eq!(msg[4], 0x2a << 6 | 6);
    let CNodeCapInvocation::Mutate(args) =
        decode_cnode_cap(info, Rights::NONE, &msg, &[root.cap()]).expect("a Mutate")
    else {
        panic!("not a Mutate")
    };
    assert_eq!(args.badge, data);
    let (_, msg, _) = sent(|k| {
        ThreadCapClient(k).configure(
            7,
            Slot::new(0x40),
            data,
            Slot::new(0x41),
            0,
            0x1000,
            Slot::new(0x42),
        )
    });
    assert_eq!(&msg[..4], &[7, 0x2a << 6 | 6, 0, 0x1000]);
}

/// seL4's x86_64 `seL4_UserContext` (20 words, rip first, gs_base last,
/// libsel4's object-api-sel4-arch.xml): `ReadRegisters`' reply and
/// `WriteRegisters`' request carry it word for word.
#[test]
fn user_contexts_are_sel4s_twenty_words() {
    assert_eq!(UserContext::WORDS, 20);
    let regs: [u64; 20] = core::array::from_fn(|i| 0x100 + i as u64);
    let context = UserContext::from_words(&regs).expect("20 words");
    assert_eq!(context.rip(), 0x100);
    assert_eq!(context.rsp(), 0x101);
    assert_eq!(context.rax(), 0x103);
    assert_eq!(context.r15(), 0x111);
    assert_eq!(context.fs_base(), 0x112);
    assert_eq!(context.gs_base(), 0x113);
    assert_eq!(context.words(), regs);
    assert_eq!(UserContext::from_words(&regs[..19]), None);

    let (info, msg, _) = sent(|k| ThreadCapClient(k).write_registers(true, 0, 20, context));
    assert_eq!(info.length, 22);
    assert_eq!(&msg[2..22], &regs);
    let mut msg = [0u64; 32];
    let reply = encode_thread_cap_read_registers_reply(context, &mut msg);
    assert_eq!(&msg[..20], &regs);
    assert_eq!(
        answer(reply, &msg, |k| ThreadCapClient(k)
            .read_registers(false, 0, 20)),
        Ok(context)
    );
}

/// x86's paging invocations with seL4's labels: x86_64's `X86PDPTMap` and
/// `X86PDPTUnmap` from `nInvocationLabels` (33 here), then x86's page
/// directory, page table and page methods in object-api-arch.xml's order,
/// without those of IOMMU (`X86IOPageTable*`, `X86PageMapIO`), VT-x
/// (`X86PageMapEPT`) and IA-32 (`X86PageDirectoryGetStatusBits`).
#[test]
fn paging_labels_are_sel4s() {
    let labels: &[(u64, u64, &str)] = &[
        (PdptCapLabel::Map as u64, 33, "X86PDPTMap"),
        (PdptCapLabel::Unmap as u64, 34, "X86PDPTUnmap"),
        (PageDirectoryCapLabel::Map as u64, 35, "X86PageDirectoryMap"),
        (
            PageDirectoryCapLabel::Unmap as u64,
            36,
            "X86PageDirectoryUnmap",
        ),
        (PageTableCapLabel::Map as u64, 37, "X86PageTableMap"),
        (PageTableCapLabel::Unmap as u64, 38, "X86PageTableUnmap"),
        (FrameCapLabel::Map as u64, 39, "X86PageMap"),
        (FrameCapLabel::Unmap as u64, 40, "X86PageUnmap"),
        (FrameCapLabel::GetAddress as u64, 41, "X86PageGetAddress"),
        // seL4's ASID control and pool methods take 42 and 43.
        (
            IoPortControlCapLabel::Issue as u64,
            44,
            "X86IOPortControlIssue",
        ),
    ];
    for &(ours, sel4, name) in labels {
        assert_eq!(ours, sel4, "{name}");
    }
    assert_eq!(FrameCapLabel::from_word(39), Some(FrameCapLabel::Map));
    assert_eq!(FrameCapLabel::from_word(42), None);
}

/// The kernel reads `seL4_X86_VMAttributes` as its `vm_attributes` block
/// (PWT bit 0, PCD bit 1, PAT bit 2): libsel4's values are the bitfield's
/// words, and the bits above are ignored as seL4 ignores them.
#[test]
fn vm_attributes_are_sel4s_words() {
    // seL4_X86_Default_VMAttributes / seL4_X86_WriteBack.
    assert_eq!(VmAttributes::new(false, false, false).words(), [0]);
    // seL4_X86_WriteThrough, seL4_X86_CacheDisabled, seL4_X86_Uncacheable,
    // seL4_X86_WriteCombining.
    assert_eq!(VmAttributes::new(true, false, false).words(), [1]);
    assert_eq!(VmAttributes::new(false, true, false).words(), [2]);
    assert_eq!(VmAttributes::new(true, true, false).words(), [3]);
    assert_eq!(VmAttributes::new(false, false, true).words(), [4]);
    let attr = VmAttributes::from_words(&[4 | 1 << 9]).expect("seL4 masks");
    assert!(attr.pat() && !attr.write_through() && !attr.cache_disabled());
}

/// seL4_X86_Page_Map sends `vaddr`, the rights word and the attributes in
/// message words 0 to 2 and the PML4 as its one extra cap; the decoder
/// reads them back, and `GetAddress`'s reply carries the address in word
/// 0. The page table, page directory and PDPT maps send `vaddr` and the
/// attributes in words 0 and 1.
#[test]
fn paging_messages_are_sel4s() {
    let rights = CapRights::new(false, true, false, false);
    let attr = VmAttributes::new(true, true, false);
    let (info, msg, caps) =
        sent(|k| FrameCapClient(k).map(Slot::new(0x20), 0x7000_0000, rights, attr));
    assert_eq!((info.label, info.length, info.caps), (39, 3, 1));
    assert_eq!(&msg[..3], &[0x7000_0000, 0x2, 0x3]);
    assert_eq!(caps[0], 0x20);
    let pml4 = Cap::from_words([Pml4Cap::TAG << 59, 0x1000]);
    let FrameCapInvocation::Map(args) =
        decode_frame_cap(info, Rights::NONE, &msg, &[pml4]).expect("a Map")
    else {
        panic!("not a Map")
    };
    assert_eq!(
        (args.vaddr, args.rights, args.attr),
        (0x7000_0000, rights, attr)
    );
    // A cap of another type where the PML4 goes is refused at its position.
    let frame = Cap::from_words([FrameCap::TAG << 59, 0]);
    assert_eq!(
        decode_frame_cap(info, Rights::NONE, &msg, &[frame]),
        Err(DecodeError::InvalidCapability { index: 0 })
    );

    let (info, msg, _) = sent(|k| PageTableCapClient(k).map(Slot::new(0x20), 0x4000_0000, attr));
    assert_eq!((info.label, info.length, info.caps), (37, 2, 1));
    assert_eq!(&msg[..2], &[0x4000_0000, 0x3]);
    let (info, _, _) = sent(|k| PageDirectoryCapClient(k).map(Slot::new(0x20), 0x4000_0000, attr));
    assert_eq!((info.label, info.length), (35, 2));
    let (info, _, _) = sent(|k| PdptCapClient(k).map(Slot::new(0x20), 0x80_0000_0000, attr));
    assert_eq!((info.label, info.length), (33, 2));

    let (info, _, _) = sent(|k| FrameCapClient(k).get_address());
    assert_eq!((info.label, info.length), (41, 0));
    let mut msg = [0u64; 8];
    let reply = encode_frame_cap_get_address_reply(0x1234_5000, &mut msg);
    assert_eq!(msg[0], 0x1234_5000);
    assert_eq!(
        answer(reply, &msg, |k| FrameCapClient(k).get_address()),
        Ok(0x1234_5000)
    );
}

/// seL4's stubs pack the TCB register methods' flags into message word 0
/// (syscall_stub_gen.py's `get_parameter_positions`: a `seL4_Bool` is one
/// bit, a `seL4_Uint8` eight bits aligned to a multiple of eight, each
/// masked to its bits; libsel4's generated `seL4_TCB_ReadRegisters` sends
/// `(suspend_source & 0x1) | ((arch_flags & 0xff) << 8)`, then `count`):
/// the `#[at]` parameters send the same words, and the decoder reads each
/// from its bits, ignoring the others as src/object/tcb.c does with its
/// masks.
#[test]
fn register_flags_are_packed_as_sel4s_stubs_pack_them() {
    // seL4_TCB_ReadRegisters(tcb, suspend_source, arch_flags, count, regs).
    let (info, msg, _) = sent(|k| ThreadCapClient(k).read_registers(true, 0x5, 20));
    assert_eq!((info.label, info.length), (2, 2));
    assert_eq!(msg, [0x1 | 0x5 << 8, 20]);
    assert_eq!(ThreadCapLabel::ReadRegisters.request_words(), 2);
    let ThreadCapInvocation::ReadRegisters(args) =
        decode_thread_cap(info, Rights::NONE, &msg, &[]).expect("a ReadRegisters")
    else {
        panic!("not ReadRegisters")
    };
    assert_eq!(
        (args.suspend_source, args.arch_flags, args.count),
        (true, 0x5, 20)
    );
    // Bits no parameter takes are ignored, not refused.
    let noisy = [0x1 | 0x5 << 8 | 0xfe | 0xffff << 16, 20];
    assert_eq!(
        decode_thread_cap(info, Rights::NONE, &noisy, &[]),
        Ok(ThreadCapInvocation::ReadRegisters(args))
    );

    // seL4_TCB_WriteRegisters(tcb, resume_target, arch_flags, count, regs):
    // the flags, then count, then the 20 registers.
    let regs = UserContext::from_words(&[7; 20]).expect("20 words");
    let (info, msg, _) = sent(|k| ThreadCapClient(k).write_registers(false, 0xff, 20, regs));
    assert_eq!((info.label, info.length), (3, 22));
    assert_eq!(&msg[..3], &[0xff << 8, 20, 7]);

    // seL4_TCB_CopyRegisters(tcb, source, suspend_source, resume_target,
    // transfer_frame, transfer_integer, arch_flags): one word, bits 0 to 3
    // and 8..16, the source as the extra cap.
    let (info, msg, caps) =
        sent(|k| ThreadCapClient(k).copy_registers(Slot::new(0x30), true, false, true, true, 0x3));
    assert_eq!((info.label, info.length, info.caps), (4, 1, 1));
    assert_eq!((msg, caps), (vec![0x1 | 0x4 | 0x8 | 0x3 << 8], vec![0x30]));
    let source = ThreadCap::new(0xffff_8000_0010_0000).expect("fits");
    let ThreadCapInvocation::CopyRegisters(args) =
        decode_thread_cap(info, Rights::NONE, &[0x2 | 0x80 << 8], &[source.cap()])
            .expect("a CopyRegisters")
    else {
        panic!("not CopyRegisters")
    };
    assert_eq!(
        (
            args.suspend_source,
            args.resume_target,
            args.transfer_frame,
            args.transfer_integer,
            args.arch_flags
        ),
        (false, true, false, false, 0x80)
    );
}

/// seL4's FailedLookup (src/object/tcb.c, setMRs_syscall_error, and
/// src/api/faults.c, setMRs_lookup_failure): word 0 whether the source's
/// lookup failed, word 1 the lookup fault's type (`seL4_InvalidRoot` 1 to
/// `seL4_GuardMismatch` 4, libsel4's constants.h), then 0 to 3 words of
/// it (`seL4_CapFault_BitsLeft`, then the depth mismatch's bits found or
/// the guard mismatch's guard and bits found): 2 to 5 words, read back.
#[test]
fn failed_lookup_carries_sel4s_lookup_fault() {
    for (fault, words) in [
        (LookupFault::InvalidRoot, vec![1u64, 1]),
        (
            LookupFault::MissingCapability { bits_left: 12 },
            vec![1, 2, 12],
        ),
        (
            LookupFault::DepthMismatch {
                bits_left: 12,
                bits_found: 20,
            },
            vec![1, 3, 12, 20],
        ),
        (
            LookupFault::GuardMismatch {
                bits_left: 40,
                guard_found: 0x3,
                bits_found: 2,
            },
            vec![1, 4, 40, 0x3, 2],
        ),
    ] {
        let error = Sel4Error::FailedLookup {
            failed_source: 1,
            lookup: fault,
        };
        let mut msg = [0u64; target::MESSAGE_WORDS];
        let info = error.reply(&mut msg);
        assert_eq!(info.label, 6, "seL4_FailedLookup");
        assert_eq!(&msg[..info.length], &words[..], "{fault:?}");
        assert_eq!(Sel4Error::decode(6, &msg[..info.length]), Some(error));
    }
    // seL4_NoFailure (0) is no lookup fault; a fault without its words is
    // refused.
    assert_eq!(Sel4Error::decode(6, &[0, 0]), None);
    assert_eq!(Sel4Error::decode(6, &[0, 3, 12]), None);
}

/// seL4's `deriveCap` (`support/sel4_derive.rs`), without MCS: every cap
/// type's copy rule, from the spec's `#[copy(...)]` and `#[never_copy]`
/// attributes: an unmapped page table, page directory, PDPT or PML4 cap
/// is not copied and a mapped one is, a frame's copy has `capFMapType` and
/// `capFMappedASID` 0 and every other bit kept (`capFMappedAddress` too),
/// an Untyped is copied only without children, and the zombie, IRQ
/// control, I/O port control and (without MCS) reply caps never.
#[test]
fn copies_are_derived_as_sel4_derives_them() {
    use capc_generated_tests::x86_64;
    check_derive_cap!(x86_64, sel4_fields(), false);
}

/// A frame copy, field by field: seL4's `Mode_deriveCap` sets the mapping
/// type to `X86_MappingNone` and the ASID to `asidInvalid` (0), and keeps
/// the mapped address, rights, size and device bit; an unmapped page
/// table cap is refused (`Arch_deriveCap`) until its mapped bit is set.
#[test]
fn a_frame_copy_is_unmapped_and_a_table_copy_mapped() {
    let frame = FrameCap::new(
        0x4000_0000,
        0x3ff,
        FrameSize::Huge,
        FrameMapType::VSpace,
        0x7f80_0000_0000,
        VmRights::ReadOnly,
        true,
    )
    .expect("fits");
    let copy = FrameCap::from_cap(derived(frame.cap())).expect("a frame cap");
    assert_eq!(copy.map_type(), Ok(FrameMapType::Unmapped));
    assert_eq!(copy.mapped_asid(), 0);
    assert_eq!(copy.mapped_address(), 0x7f80_0000_0000);
    assert_eq!(copy.base(), 0x4000_0000);
    assert_eq!(copy.page_size(), Ok(FrameSize::Huge));
    assert_eq!(copy.vm_rights(), Ok(VmRights::ReadOnly));
    assert!(copy.is_device());
    assert!(may_copy(frame.cap()));
    let mut table = PageTableCap::new(0x10_0000, 7, false, 0x20_0000).expect("fits");
    assert!(!may_copy(table.cap()), "unmapped");
    table.set_mapped(true).expect("a bool");
    assert!(may_copy(table.cap()), "mapped");
    assert_eq!(derived(table.cap()), table.cap());
    assert!(CapType::UntypedCap.copy_needs_no_children());
    assert!(!CapType::FrameCap.copy_needs_no_children());
}
