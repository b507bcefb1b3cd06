//! The generated lifecycle API on everything.cap, checked against the spec:
//! finalisers per object type, the slots a TCB owns and where they lie,
//! `owned_slots_of`, whose a mapping is, `is_mapped`, `derived` and the
//! copy rule `may_copy` applies to mapped and unmapped caps.

use capc_generated_tests::everything::*;

/// A TCB at a 2 KiB boundary (its size; alignment is only 1 KiB).
const TCB: u64 = 0x4_0800;

fn frame(mapped_page: u64, mapped_asid: u8) -> FrameCap {
    FrameCap::new(
        0x20_0000,
        12,
        Rights::READ.union(Rights::WRITE),
        false,
        mapped_page,
        mapped_asid,
    )
    .unwrap()
}

fn page_table(mapped_page: u64) -> PageTableCap {
    PageTableCap::new(0x30_0000, mapped_page).unwrap()
}

#[test]
fn finalisers_follow_the_spec_in_order() {
    assert_eq!(ObjectType::Tcb.finalisers(), &[Finaliser::StopThread]);
    assert_eq!(
        ObjectType::Endpoint.finalisers(),
        &[Finaliser::CancelWaiters]
    );
    assert_eq!(
        ObjectType::Notification.finalisers(),
        &[Finaliser::CancelWaiters]
    );
    assert_eq!(ObjectType::Frame.finalisers(), &[Finaliser::Unmap]);
    assert_eq!(ObjectType::PageTable.finalisers(), &[Finaliser::Unmap]);
    assert!(ObjectType::CNode.finalisers().is_empty());
    assert!(ObjectType::Untyped.finalisers().is_empty());
}

#[test]
fn a_tcb_owns_its_slots_at_its_end() {
    assert_eq!(target::SLOT_BITS, 5);
    let size = 1u64 << ObjectType::Tcb.size_bits(0).unwrap();
    assert_eq!(TcbSlot::ALL, [TcbSlot::Cspace, TcbSlot::IpcBuffer]);
    // Slot i of n at size - (n - i) << slot_bits.
    assert_eq!(TcbSlot::Cspace.offset(), size - 64);
    assert_eq!(TcbSlot::IpcBuffer.offset(), size - 32);
    assert_eq!(TcbSlot::Cspace.cap_type(), CapType::CNodeCap);
    assert_eq!(TcbSlot::IpcBuffer.cap_type(), CapType::FrameCap);
    assert_eq!(TcbSlot::Cspace.rights(), Rights::NONE);
    assert_eq!(
        TcbSlot::IpcBuffer.rights(),
        Rights::READ.union(Rights::WRITE)
    );
    let owned = ObjectType::Tcb.owned_slots();
    assert_eq!(owned.len(), 2);
    assert_eq!(owned[0].name, "cspace");
    assert_eq!(owned[1], TcbSlot::IpcBuffer.owned_slot());
    for o in ObjectType::ALL {
        if o != ObjectType::Tcb {
            assert!(o.owned_slots().is_empty(), "{o:?}");
        }
    }
}

#[test]
fn owned_slots_of_finds_the_slots_of_the_named_object() {
    let tcb = TcbCap::new(TCB).unwrap().cap();
    assert_eq!(
        owned_slots_of(tcb),
        Some((TCB + TcbSlot::Cspace.offset(), 2))
    );
    assert_eq!(owned_slots_of(frame(0, 0).cap()), None);
    assert_eq!(owned_slots_of(Cap::NULL), None);
    assert_eq!(owned_slots_of(IrqControlCap::new().unwrap().cap()), None);
}

#[test]
fn a_slot_admits_its_cap_type_with_the_rights_it_requires() {
    let cnode = CNodeCap::new(0x1000, 4, 0, 0).unwrap().cap();
    assert!(TcbSlot::Cspace.admits(cnode));
    assert!(!TcbSlot::Cspace.admits(frame(0, 0).cap()));
    assert!(TcbSlot::IpcBuffer.admits(frame(0, 0).cap()));
    let read_only = frame(0, 0).cap().with_rights_masked(Rights::READ);
    assert!(!TcbSlot::IpcBuffer.admits(read_only));
    assert!(!TcbSlot::IpcBuffer.admits(Cap::NULL));
}

#[test]
fn mapping_is_each_caps_for_frames_and_shared_for_tables() {
    assert_eq!(CapType::FrameCap.mapping(), Some(Mapping::EachCap));
    assert_eq!(CapType::PageTableCap.mapping(), Some(Mapping::Shared));
    assert_eq!(CapType::TcbCap.mapping(), None);
    assert!(frame(0x123, 1).is_mapped());
    assert!(!frame(0, 0).is_mapped());
    assert!(is_mapped(page_table(7).cap()));
    assert!(!is_mapped(page_table(0).cap()));
    assert!(!is_mapped(TcbCap::new(TCB).unwrap().cap()));
    assert!(!is_mapped(Cap::NULL));
}

#[test]
fn a_frame_copy_starts_unmapped_and_keeps_everything_else() {
    let mapped = frame(0xf_ffff_ffff, 255);
    let copy = FrameCap::from_cap(derived(mapped.cap())).unwrap();
    assert_eq!(copy.mapped_page(), 0);
    assert_eq!(copy.mapped_asid(), 0);
    assert_eq!(copy.frame(), mapped.frame());
    assert_eq!(copy.bits(), mapped.bits());
    assert_eq!(copy.rights(), mapped.rights());
    assert!(may_copy(mapped.cap()));
    assert!(may_copy(frame(0, 0).cap()));
}

#[test]
fn an_unmapped_table_cap_cannot_be_copied_a_mapped_one_keeps_its_mapping() {
    assert!(!may_copy(page_table(0).cap()));
    let mapped = page_table(0x42).cap();
    assert!(may_copy(mapped));
    assert_eq!(derived(mapped), mapped);
    // Caps without mapping fields are their own derivation.
    let tcb = TcbCap::new(TCB).unwrap().cap();
    assert_eq!(derived(tcb), tcb);
    assert_eq!(derived(Cap::NULL), Cap::NULL);
}

#[test]
fn mapping_of_and_with_mapping_read_and_write_the_mapping_fields() {
    let unmapped = frame(0, 0).cap();
    assert_eq!(mapping_of(unmapped), Some((0, 0)));
    let mapped = with_mapping(unmapped, 0x8_0000, 3).unwrap();
    assert_eq!(mapping_of(mapped), Some((0x8_0000, 3)));
    assert_eq!(mapped, frame(0x8_0000, 3).cap());
    assert_eq!(with_mapping(mapped, 0, 0), Some(unmapped));
    // The page table has no `#[mapped_in]` field: only address space 0.
    let table = page_table(0).cap();
    assert_eq!(mapping_of(with_mapping(table, 7, 0).unwrap()), Some((7, 0)));
    assert_eq!(with_mapping(table, 7, 1), None);
    // Values wider than the fields, and caps without mapping fields.
    assert_eq!(with_mapping(unmapped, u64::MAX, 0), None);
    assert_eq!(mapping_of(Cap::NULL), None);
    assert_eq!(with_mapping(Cap::NULL, 1, 0), None);
}
