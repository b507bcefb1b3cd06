//! The generated retype function and derivation predicates, on the demo
//! kernel's spec (one RAM-or-device Untyped cap) and on everything.cap (RAM
//! and device-only Untyped caps with different watermark units).

use std::cell::RefCell;

use capc_generated_tests::kernel::*;
use proptest::prelude::*;

/// A 2 MiB-aligned base, so every object's alignment is met at the base.
const BASE: u64 = 0x20_0000;
const KIB: u64 = 1024;

fn untyped(base: u64, bits: u8, free_index: u64, device: bool) -> Cap {
    UntypedCap::new(base, bits, free_index, device)
        .unwrap()
        .cap()
}

/// A fresh 64 KiB RAM Untyped at `BASE`.
fn fresh() -> Cap {
    untyped(BASE, 16, 0, false)
}

fn request(object_type: ObjectType, size_arg: u64, offset: u64, count: u64) -> RetypeRequest {
    RetypeRequest {
        object_type: object_type as u64,
        size_arg,
        offset,
        count,
    }
}

fn cnode(slots: u64) -> Option<Destination> {
    Some(Destination { slots })
}

fn empty(_slot: u64) -> bool {
    true
}

fn endpoint(address: u64, badge: u64) -> Cap {
    EndpointCap::new(address, Rights::ALL, badge).unwrap().cap()
}

fn frame(address: u64, bits: u8) -> Cap {
    FrameCap::new(address, bits, Rights::READ, 0, false, 0)
        .unwrap()
        .cap()
}

/// A name, the arguments of `retype`, and the error it must return.
type Case<'a> = (
    &'static str,
    Cap,
    bool,
    RetypeRequest,
    Option<Destination>,
    &'a dyn Fn(u64) -> bool,
    RetypeError,
);

#[test]
fn every_error_the_function_returns_with_its_payload() {
    use RetypeError::*;
    let tcb = TcbCap::new(BASE).unwrap().cap();
    let full = untyped(BASE, 16, 64 * KIB / 16, false);
    let occupied_5 = |slot: u64| slot != 5;
    #[rustfmt::skip]
    let cases: Vec<Case<'_>> = vec![
        // 1. the source
        ("tcb source", tcb, false, request(ObjectType::Tcb, 0, 0, 1), cnode(16), &empty, IllegalOperation),
        ("null source", Cap::NULL, false, request(ObjectType::Tcb, 0, 0, 1), cnode(16), &empty, IllegalOperation),
        ("unknown tag", Cap::from_words([31, 0]), false, request(ObjectType::Tcb, 0, 0, 1), cnode(16), &empty, IllegalOperation),
        ("source size below the minimum", untyped(BASE, 3, 0, false), false, request(ObjectType::Endpoint, 0, 0, 1), cnode(16), &empty, IllegalOperation),
        ("source size above the maximum", untyped(BASE, 48, 0, false), false, request(ObjectType::Endpoint, 0, 0, 1), cnode(16), &empty, IllegalOperation),
        // 2. the object type
        ("type 10 is unknown", fresh(), false, RetypeRequest { object_type: 10, size_arg: 0, offset: 0, count: 1 }, cnode(16), &empty, InvalidArgument { index: 0 }),
        ("type u64::MAX is unknown", fresh(), false, RetypeRequest { object_type: u64::MAX, size_arg: 0, offset: 0, count: 1 }, cnode(16), &empty, InvalidArgument { index: 0 }),
        // 3. the size argument: below the smallest as seL4, else a range
        ("untyped below 4 bits", fresh(), false, request(ObjectType::Untyped, 3, 0, 1), cnode(16), &empty, InvalidArgument { index: 1 }),
        ("untyped above 47 bits", fresh(), false, request(ObjectType::Untyped, 48, 0, 1), cnode(16), &empty, RangeError { min: 4, max: 47 }),
        ("cnode of radix 0", fresh(), false, request(ObjectType::CNode, 0, 0, 1), cnode(16), &empty, InvalidArgument { index: 1 }),
        ("frame of 13 bits", fresh(), false, request(ObjectType::Frame, 13, 0, 1), cnode(16), &empty, RangeError { min: 12, max: 21 }),
        ("fixed size with an argument", fresh(), false, request(ObjectType::Tcb, 1, 0, 1), cnode(16), &empty, RangeError { min: 0, max: 0 }),
        ("huge size argument", fresh(), false, request(ObjectType::Untyped, u64::MAX, 0, 1), cnode(16), &empty, RangeError { min: 4, max: 47 }),
        // 4. the destination
        ("lookup failed", fresh(), false, request(ObjectType::Tcb, 0, 0, 1), None, &empty, FailedLookup),
        // 5. the window
        ("offset past the cnode", fresh(), false, request(ObjectType::Tcb, 0, 16, 1), cnode(16), &empty, RangeError { min: 0, max: 15 }),
        ("offset u64::MAX", fresh(), false, request(ObjectType::Tcb, 0, u64::MAX, 1), cnode(16), &empty, RangeError { min: 0, max: 15 }),
        ("cnode without slots", fresh(), false, request(ObjectType::Tcb, 0, 0, 1), cnode(0), &empty, RangeError { min: 0, max: 0 }),
        ("count 0", fresh(), false, request(ObjectType::Tcb, 0, 0, 0), cnode(16), &empty, RangeError { min: 1, max: 256 }),
        ("count above the fan-out", fresh(), false, request(ObjectType::Endpoint, 0, 0, 257), cnode(1024), &empty, RangeError { min: 1, max: 256 }),
        ("count u64::MAX", fresh(), false, request(ObjectType::Endpoint, 0, 0, u64::MAX), cnode(16), &empty, RangeError { min: 1, max: 256 }),
        ("window past the end", fresh(), false, request(ObjectType::Endpoint, 0, 10, 7), cnode(16), &empty, RangeError { min: 1, max: 6 }),
        // 6. occupied slots
        ("slot 5 occupied", fresh(), false, request(ObjectType::Endpoint, 0, 3, 5), cnode(16), &occupied_5, DeleteFirst),
        ("last slot of the window occupied", fresh(), false, request(ObjectType::Endpoint, 0, 5, 1), cnode(16), &occupied_5, DeleteFirst),
        // 7. memory: `left` is the free bytes, as seL4's untypedFreeBytes
        ("2 MiB frame from 64 KiB", fresh(), false, request(ObjectType::Frame, 21, 0, 1), cnode(16), &empty, NotEnoughMemory { left: 64 * KIB }),
        ("128 KiB untyped from 64 KiB", fresh(), false, request(ObjectType::Untyped, 17, 0, 1), cnode(16), &empty, NotEnoughMemory { left: 64 * KIB }),
        ("17 frames in 64 KiB", fresh(), false, request(ObjectType::Frame, 12, 0, 17), cnode(32), &empty, NotEnoughMemory { left: 64 * KIB }),
        ("full, with children", full, true, request(ObjectType::Endpoint, 0, 0, 1), cnode(16), &empty, NotEnoughMemory { left: 0 }),
        ("watermark past the end", untyped(BASE, 16, 5000, false), true, request(ObjectType::Endpoint, 0, 0, 1), cnode(16), &empty, NotEnoughMemory { left: 0 }),
        ("watermark at the field's maximum", untyped(BASE, 16, (1 << 44) - 1, false), true, request(ObjectType::Endpoint, 0, 0, 1), cnode(16), &empty, NotEnoughMemory { left: 0 }),
        ("16 frames after a tcb", untyped(BASE, 16, 2 * KIB / 16, false), true, request(ObjectType::Frame, 12, 0, 16), cnode(16), &empty, NotEnoughMemory { left: 62 * KIB }),
        // 8. the device rule, last as in seL4
        ("tcb from device memory", untyped(BASE, 16, 0, true), false, request(ObjectType::Tcb, 0, 0, 1), cnode(16), &empty, InvalidArgument { index: 1 }),
        ("cnode from device memory", untyped(BASE, 16, 0, true), false, request(ObjectType::CNode, 4, 0, 1), cnode(16), &empty, InvalidArgument { index: 1 }),
        ("page table from device memory", untyped(BASE, 16, 0, true), false, request(ObjectType::PageTable, 0, 0, 1), cnode(16), &empty, InvalidArgument { index: 1 }),
        // 9. a malformed source (not naturally aligned) reaching past the
        // 48 bits an endpoint cap can address: its objects could get no cap
        ("object at 2^48", untyped((1 << 48) - 64 * KIB, 20, 64 * KIB / 16, false), true, request(ObjectType::Endpoint, 0, 0, 1), cnode(16), &empty, IllegalOperation),
    ];
    for (name, source, has_children, request, destination, slot_is_empty, expected) in cases {
        assert_eq!(
            retype(source, has_children, &request, destination, slot_is_empty),
            Err(expected),
            "{name}"
        );
    }
    // Never returned by `retype`: the decoder reports short messages.
    let _ = TruncatedMessage;
}

#[test]
fn earlier_checks_win() {
    use RetypeError::*;
    let device = untyped(BASE, 16, 0, true);
    let occupied = |_slot: u64| false;
    // Unknown type, bad size, no destination, bad window, occupied slots,
    // too little memory, device rule: each pair reports the earlier one, in
    // seL4's order (the device rule last).
    let unknown = RetypeRequest {
        object_type: 99,
        size_arg: 99,
        offset: 99,
        count: 0,
    };
    assert_eq!(
        retype(device, false, &unknown, None, occupied),
        Err(InvalidArgument { index: 0 })
    );
    assert_eq!(
        retype(
            device,
            false,
            &request(ObjectType::Tcb, 7, 99, 0),
            None,
            occupied
        ),
        Err(RangeError { min: 0, max: 0 })
    );
    assert_eq!(
        retype(
            device,
            false,
            &request(ObjectType::Tcb, 0, 99, 0),
            None,
            occupied
        ),
        Err(FailedLookup)
    );
    assert_eq!(
        retype(
            device,
            false,
            &request(ObjectType::Tcb, 0, 99, 1),
            cnode(16),
            occupied
        ),
        Err(RangeError { min: 0, max: 15 })
    );
    assert_eq!(
        retype(
            device,
            false,
            &request(ObjectType::Tcb, 0, 0, 33),
            cnode(64),
            occupied
        ),
        Err(DeleteFirst)
    );
    assert_eq!(
        retype(
            device,
            false,
            &request(ObjectType::Tcb, 0, 0, 33),
            cnode(64),
            empty
        ),
        Err(NotEnoughMemory { left: 64 * KIB })
    );
    assert_eq!(
        retype(
            device,
            false,
            &request(ObjectType::Tcb, 0, 0, 32),
            cnode(64),
            empty
        ),
        Err(InvalidArgument { index: 1 })
    );
}

#[test]
fn tcb_then_two_frames_on_a_fresh_64_kib_untyped() {
    let tcb = retype(
        fresh(),
        false,
        &request(ObjectType::Tcb, 0, 0, 1),
        cnode(16),
        empty,
    )
    .unwrap();
    assert_eq!(tcb.object_type, ObjectType::Tcb);
    assert_eq!(tcb.size_bits, 11);
    assert_eq!(tcb.first, BASE);
    assert_eq!(tcb.count, 1);
    assert_eq!(tcb.first_slot, 0);
    assert_eq!(tcb.new_watermark, 2 * KIB);
    assert!(tcb.reset);
    let after_tcb = UntypedCap::from_cap(tcb.updated_source).unwrap();
    assert_eq!(after_tcb.free_index(), 128, "2 KiB in 16-byte units");
    assert_eq!(after_tcb.base(), BASE);
    assert_eq!(after_tcb.bits(), 16);
    assert!(!after_tcb.is_device());

    // The untyped now has a child (the TCB): the frames go above it, at the
    // next 4 KiB boundary; the 2 KiB between are padding.
    let frames = retype(
        tcb.updated_source,
        true,
        &request(ObjectType::Frame, 12, 1, 2),
        cnode(16),
        empty,
    )
    .unwrap();
    assert_eq!(frames.object_type, ObjectType::Frame);
    assert_eq!(frames.size_bits, 12);
    assert_eq!(frames.first, BASE + 0x1000);
    assert_eq!(frames.address(0), Some(BASE + 0x1000));
    assert_eq!(frames.address(1), Some(BASE + 0x2000));
    assert_eq!(frames.address(2), None);
    assert_eq!(frames.slot(0), Some(1));
    assert_eq!(frames.slot(1), Some(2));
    assert_eq!(frames.slot(2), None);
    assert_eq!(frames.new_watermark, 0x3000);
    assert!(!frames.reset);
    let after_frames = UntypedCap::from_cap(frames.updated_source).unwrap();
    assert_eq!(after_frames.free_index(), 0x300);

    // What is left: 64 KiB - 12 KiB = 52 KiB, i.e. 13 more frames, not 14.
    let more = |count| {
        retype(
            frames.updated_source,
            true,
            &request(ObjectType::Frame, 12, 0, count),
            cnode(16),
            empty,
        )
    };
    assert_eq!(more(13).unwrap().new_watermark, 64 * KIB);
    assert_eq!(
        more(14),
        Err(RetypeError::NotEnoughMemory { left: 52 * KIB })
    );
}

#[test]
fn small_objects_pack_at_their_own_alignment() {
    // An endpoint (16 bytes) after the TCB lands right at 2 KiB.
    let source = untyped(BASE, 16, 128, false);
    let ep = retype(
        source,
        true,
        &request(ObjectType::Endpoint, 0, 0, 3),
        cnode(4),
        empty,
    )
    .unwrap();
    assert_eq!(ep.first, BASE + 2 * KIB);
    assert_eq!(ep.address(2), Some(BASE + 2 * KIB + 32));
    assert_eq!(ep.new_watermark, 2 * KIB + 48);
    assert_eq!(
        UntypedCap::from_cap(ep.updated_source)
            .unwrap()
            .free_index(),
        131
    );
    // A notification (32 bytes) after one endpoint skips 16 bytes.
    let source = untyped(BASE, 16, 1, false);
    let n = retype(
        source,
        true,
        &request(ObjectType::Notification, 0, 0, 1),
        cnode(4),
        empty,
    )
    .unwrap();
    assert_eq!(n.first, BASE + 32);
    assert_eq!(n.new_watermark, 64);
    // A CNode of radix 8 is 8 KiB and 8 KiB aligned.
    let c = retype(
        source,
        true,
        &request(ObjectType::CNode, 8, 0, 1),
        cnode(4),
        empty,
    )
    .unwrap();
    assert_eq!(
        (c.first, c.size_bits, c.new_watermark),
        (BASE + 8 * KIB, 13, 16 * KIB)
    );
}

#[test]
fn alignment_is_of_addresses_not_offsets() {
    // A 64 KiB region that starts 16 bytes past a page boundary: frames start
    // at the next page, and only 15 fit.
    let source = untyped(BASE + 16, 16, 0, false);
    let placed = retype(
        source,
        false,
        &request(ObjectType::Frame, 12, 0, 15),
        cnode(16),
        empty,
    )
    .unwrap();
    assert_eq!(placed.first, BASE + 0x1000);
    assert_eq!(placed.new_watermark, 0x1000 - 16 + 15 * 0x1000);
    assert_eq!(
        retype(
            source,
            false,
            &request(ObjectType::Frame, 12, 0, 16),
            cnode(16),
            empty
        ),
        // The free bytes, as seL4 reports them: a region that is not
        // naturally aligned (which the kernel never makes) loses a page to
        // alignment that they count.
        Err(RetypeError::NotEnoughMemory { left: 0x10000 })
    );
    // A 2 MiB frame needs 2 MiB alignment, which a 4 MiB region at 1 MiB
    // offers once, at 2 MiB.
    let source = untyped(0x10_0000, 22, 0, false);
    let big = retype(
        source,
        false,
        &request(ObjectType::Frame, 21, 0, 1),
        cnode(4),
        empty,
    )
    .unwrap();
    assert_eq!(big.first, 0x20_0000);
    assert_eq!(
        retype(
            source,
            false,
            &request(ObjectType::Frame, 21, 0, 2),
            cnode(4),
            empty
        ),
        Err(RetypeError::NotEnoughMemory { left: 0x40_0000 })
    );
}

#[test]
fn no_children_resets_the_watermark() {
    let full = untyped(BASE, 16, 64 * KIB / 16, false);
    let placed = retype(
        full,
        false,
        &request(ObjectType::Frame, 12, 0, 16),
        cnode(16),
        empty,
    )
    .unwrap();
    assert!(placed.reset);
    assert_eq!(placed.first, BASE);
    assert_eq!(placed.new_watermark, 64 * KIB);
    // With children, the same cap is full.
    assert_eq!(
        retype(
            full,
            true,
            &request(ObjectType::Frame, 12, 0, 1),
            cnode(16),
            empty
        ),
        Err(RetypeError::NotEnoughMemory { left: 0 })
    );
}

#[test]
fn device_untyped_becomes_frames_and_untyped_only() {
    let device = untyped(BASE, 16, 0, true);
    let frames = retype(
        device,
        false,
        &request(ObjectType::Frame, 12, 0, 2),
        cnode(4),
        empty,
    )
    .unwrap();
    assert_eq!((frames.first, frames.new_watermark), (BASE, 0x2000));
    assert!(
        UntypedCap::from_cap(frames.updated_source)
            .unwrap()
            .is_device()
    );
    let piece = retype(
        device,
        false,
        &request(ObjectType::Untyped, 12, 0, 1),
        cnode(4),
        empty,
    )
    .unwrap();
    assert_eq!(piece.object_type, ObjectType::Untyped);
    // An ASID pool is made by the ASID-control cap, never by retype.
    for t in ObjectType::ALL
        .into_iter()
        .filter(|t| *t != ObjectType::AsidPool)
    {
        let result = retype(
            device,
            false,
            &request(t, t.arg_bounds().0, 0, 1),
            cnode(4),
            empty,
        );
        let allowed = matches!(t, ObjectType::Frame | ObjectType::Untyped);
        assert_eq!(result.is_ok(), allowed, "{t:?}: {result:?}");
        if !allowed {
            assert_eq!(result, Err(RetypeError::InvalidArgument { index: 1 }));
        }
    }
}

#[test]
fn fan_out_window_and_occupancy() {
    // The full fan-out: 256 endpoints fill a 256-slot CNode and 4 KiB.
    let placed = retype(
        fresh(),
        false,
        &request(ObjectType::Endpoint, 0, 0, 256),
        cnode(256),
        empty,
    )
    .unwrap();
    assert_eq!(placed.count, 256);
    assert_eq!(placed.address(255), Some(BASE + 255 * 16));
    assert_eq!(placed.new_watermark, 4 * KIB);
    // The window may end exactly at the last slot.
    assert!(
        retype(
            fresh(),
            false,
            &request(ObjectType::Endpoint, 0, 10, 6),
            cnode(16),
            empty
        )
        .is_ok()
    );
    assert!(
        retype(
            fresh(),
            false,
            &request(ObjectType::Endpoint, 0, 15, 1),
            cnode(16),
            empty
        )
        .is_ok()
    );
    // Slots outside the window may be occupied; the closure is asked about
    // the window's slots only, in order, stopping at the first occupied one.
    let asked = RefCell::new(Vec::new());
    let empty_only_in_window = |slot: u64| {
        asked.borrow_mut().push(slot);
        (4..8).contains(&slot)
    };
    assert!(
        retype(
            fresh(),
            false,
            &request(ObjectType::Endpoint, 0, 4, 4),
            cnode(16),
            empty_only_in_window
        )
        .is_ok()
    );
    assert_eq!(*asked.borrow(), [4, 5, 6, 7]);
    asked.borrow_mut().clear();
    let occupied_6 = |slot: u64| {
        asked.borrow_mut().push(slot);
        slot != 6
    };
    assert_eq!(
        retype(
            fresh(),
            false,
            &request(ObjectType::Endpoint, 0, 4, 4),
            cnode(16),
            occupied_6
        ),
        Err(RetypeError::DeleteFirst)
    );
    assert_eq!(*asked.borrow(), [4, 5, 6]);
    // The closure is not asked at all when an earlier check fails.
    asked.borrow_mut().clear();
    let record = |slot: u64| {
        asked.borrow_mut().push(slot);
        true
    };
    let _ = retype(
        fresh(),
        false,
        &request(ObjectType::Endpoint, 0, 4, 0),
        cnode(16),
        record,
    );
    assert!(asked.borrow().is_empty());
}

#[test]
fn rules_come_from_the_spec() {
    assert_eq!(RetypeRule::ALL.len(), 1);
    let rule = RetypeRule::of(CapType::UntypedCap).unwrap();
    assert_eq!(rule, RetypeRule::UNTYPED_CAP);
    assert_eq!(rule.fan_out, 256);
    assert_eq!(rule.targets.len(), 10);
    // Everything but the ASID pool, which only the ASID-control cap makes.
    for t in ObjectType::ALL {
        assert_eq!(rule.allows(t), t != ObjectType::AsidPool, "{t:?}");
    }
    assert_eq!(RetypeRule::of(CapType::TcbCap), None);
    let memory = UntypedMemory::of(untyped(BASE, 16, 3, true)).unwrap();
    assert_eq!(
        (memory.base, memory.size, memory.watermark, memory.device),
        (BASE, 64 * KIB, 48, true)
    );
    assert_eq!(UntypedMemory::of(endpoint(BASE, 0)), None);
}

#[test]
fn regions() {
    assert_eq!(region(fresh()), Some((BASE, 64 * KIB)));
    assert_eq!(region(untyped(0, 47, 0, false)), Some((0, 1 << 47)));
    assert_eq!(region(untyped(BASE, 3, 0, false)), None);
    assert_eq!(
        region(CNodeCap::new(BASE, 8, 0, 0).unwrap().cap()),
        Some((BASE, 8 * KIB))
    );
    assert_eq!(region(CNodeCap::new(BASE, 0, 0, 0).unwrap().cap()), None);
    assert_eq!(
        region(TcbCap::new(BASE).unwrap().cap()),
        Some((BASE, 2 * KIB))
    );
    assert_eq!(region(endpoint(BASE, 7)), Some((BASE, 16)));
    assert_eq!(region(frame(BASE, 21)), Some((BASE, 2 * KIB * KIB)));
    assert_eq!(region(frame(BASE, 13)), None);
    assert_eq!(
        region(PageTableCap::new(BASE, 0, 0).unwrap().cap()),
        Some((BASE, 4 * KIB))
    );
    assert_eq!(region(IrqHandlerCap::new(3).unwrap().cap()), None);
    assert_eq!(region(IrqControlCap::new().unwrap().cap()), None);
    assert_eq!(region(Cap::NULL), None);
    assert_eq!(region(Cap::from_words([31, 0])), None);
}

#[test]
fn same_object_compares_identity_fields_only() {
    assert!(same_object(endpoint(BASE, 0), endpoint(BASE, 9)));
    let read_only = EndpointCap::new(BASE, Rights::READ, 0).unwrap().cap();
    assert!(same_object(endpoint(BASE, 0), read_only));
    assert!(!same_object(endpoint(BASE, 0), endpoint(BASE + 16, 0)));
    assert!(same_object(
        frame(BASE, 12),
        FrameCap::new(BASE, 12, Rights::NONE, 5, false, 0)
            .unwrap()
            .cap()
    ));
    assert!(!same_object(
        TcbCap::new(BASE).unwrap().cap(),
        frame(BASE, 12)
    ));
    assert!(
        same_object(fresh(), untyped(BASE, 16, 100, false)),
        "the watermark is not identity"
    );
    assert!(
        !same_object(fresh(), untyped(BASE, 15, 0, false)),
        "the size is"
    );
    assert!(same_object(
        IrqHandlerCap::new(3).unwrap().cap(),
        IrqHandlerCap::new(3).unwrap().cap()
    ));
    assert!(!same_object(
        IrqHandlerCap::new(3).unwrap().cap(),
        IrqHandlerCap::new(4).unwrap().cap()
    ));
    let control = IrqControlCap::new().unwrap().cap();
    assert!(same_object(control, control));
    assert!(!same_object(Cap::NULL, Cap::NULL));
    assert_eq!(badge_of(endpoint(BASE, 9)), Some(9));
    assert_eq!(badge_of(fresh()), None);
}

#[test]
fn ancestors_by_containment() {
    let parent = fresh();
    // Children anywhere inside, including flush with either end.
    assert!(is_ancestor(parent, frame(BASE, 12)));
    assert!(is_ancestor(parent, frame(BASE + 60 * KIB, 12)));
    assert!(is_ancestor(parent, endpoint(BASE + 64 * KIB - 16, 0)));
    assert!(is_ancestor(parent, untyped(BASE + 32 * KIB, 15, 0, false)));
    assert!(is_ancestor(parent, untyped(BASE, 4, 0, false)));
    // Just outside, overlapping an end, or larger.
    assert!(!is_ancestor(parent, endpoint(BASE + 64 * KIB, 0)));
    assert!(!is_ancestor(parent, endpoint(BASE - 16, 0)));
    assert!(!is_ancestor(parent, frame(BASE + 64 * KIB, 12)));
    assert!(!is_ancestor(parent, untyped(BASE, 17, 0, false)));
    assert!(!is_ancestor(parent, frame(BASE, 21)));
    // A copy of the same Untyped is a sibling, whatever its watermark.
    assert!(!is_ancestor(parent, untyped(BASE, 16, 9, false)));
    assert!(is_copy(parent, untyped(BASE, 16, 9, false)));
    // Nothing is inside a cap that is not untyped, and caps with no object
    // are inside nothing.
    assert!(!is_ancestor(frame(BASE, 21), frame(BASE, 12)));
    assert!(!is_ancestor(parent, IrqHandlerCap::new(1).unwrap().cap()));
    assert!(!is_ancestor(parent, Cap::NULL));
    assert!(!is_ancestor(Cap::NULL, frame(BASE, 12)));
    assert!(!is_ancestor(untyped(BASE, 3, 0, false), frame(BASE, 12)));
    // A child is not its parent's ancestor.
    assert!(!is_ancestor(frame(BASE, 12), parent));
    // The region's very top: a 2^47 Untyped at the highest base it can have.
    let top = untyped((1 << 48) - (1 << 47), 47, 0, false);
    assert!(is_ancestor(top, frame((1 << 48) - 4 * KIB, 12)));
    assert!(!is_ancestor(top, frame((1 << 47) - 4 * KIB, 12)));
}

#[test]
fn ancestors_by_badge() {
    let unbadged = endpoint(BASE, 0);
    let badged = endpoint(BASE, 7);
    assert!(is_ancestor(unbadged, badged));
    assert!(!is_ancestor(badged, unbadged));
    assert!(!is_ancestor(badged, endpoint(BASE, 8)));
    assert!(!is_ancestor(unbadged, endpoint(BASE, 0)));
    assert!(
        !is_ancestor(unbadged, endpoint(BASE + 16, 7)),
        "another endpoint"
    );
    assert!(is_copy(unbadged, endpoint(BASE, 0)));
    assert!(is_copy(badged, endpoint(BASE, 7)));
    assert!(!is_copy(unbadged, badged));
    let n = |badge| {
        NotificationCap::new(BASE, Rights::READ, badge)
            .unwrap()
            .cap()
    };
    assert!(is_ancestor(n(0), n(1)));
    assert!(!is_copy(unbadged, n(0)), "another cap type");
    // Caps with no badge field are never each other's children.
    assert!(!is_ancestor(frame(BASE, 12), frame(BASE, 12)));
    assert!(is_copy(frame(BASE, 12), frame(BASE, 12)));
}

#[test]
fn copy_policies() {
    assert!(!may_copy(IrqControlCap::new().unwrap().cap()));
    assert!(may_copy(IrqHandlerCap::new(1).unwrap().cap()));
    assert!(may_copy(fresh()));
    assert!(may_copy(endpoint(BASE, 0)));
    assert!(!may_copy(Cap::NULL));
    assert!(!may_copy(Cap::from_words([31, 0])));
}

/// The cap each object type gets, from kernel.cap: the first cap type
/// declared for it, and the rights that cap type may carry.
fn expected_cap(object_type: ObjectType) -> (CapType, Rights) {
    let rw = Rights::READ.union(Rights::WRITE);
    match object_type {
        ObjectType::Untyped => (CapType::UntypedCap, Rights::NONE),
        ObjectType::CNode => (CapType::CNodeCap, Rights::NONE),
        ObjectType::Tcb => (CapType::TcbCap, Rights::NONE),
        ObjectType::Endpoint => (CapType::EndpointCap, Rights::ALL),
        ObjectType::Notification => (CapType::NotificationCap, rw),
        ObjectType::Frame => (CapType::FrameCap, rw),
        ObjectType::Pml4 => (CapType::Pml4Cap, Rights::NONE),
        ObjectType::Pdpt => (CapType::PdptCap, Rights::NONE),
        ObjectType::PageDirectory => (CapType::PageDirectoryCap, Rights::NONE),
        ObjectType::PageTable => (CapType::PageTableCap, Rights::NONE),
        ObjectType::AsidPool => (CapType::AsidPoolCap, Rights::NONE),
    }
}

#[test]
fn placement_caps_name_the_placed_objects() {
    // A 16 MiB RAM Untyped: room for two of everything up to 2^23 bytes.
    let base = 1 << 24;
    for device in [false, true] {
        let source = untyped(base, 24, 0, device);
        for object_type in ObjectType::ALL
            .into_iter()
            .filter(|t| *t != ObjectType::AsidPool)
        {
            let (min, max) = object_type.arg_bounds();
            for size_arg in [min, max, (min + max) / 2] {
                let Ok(bits) = object_type.size_bits(size_arg) else {
                    continue;
                };
                let (ram, device_ok) = object_type.memory();
                if bits > 23 || !(if device { device_ok } else { ram }) {
                    continue;
                }
                let request = request(object_type, size_arg, 3, 2);
                let p = retype(source, false, &request, cnode(16), empty).unwrap();
                assert_eq!(p.size_arg, size_arg);
                let (cap_type, rights) = expected_cap(object_type);
                for i in 0..2 {
                    let cap = p.cap(i, device).unwrap();
                    let at = p.address(i).unwrap();
                    assert_eq!(cap.cap_type(), Some(cap_type));
                    assert_eq!(
                        region(cap),
                        Some((at, 1 << bits)),
                        "{object_type:?} {size_arg}"
                    );
                    assert_eq!(cap.rights(), rights, "{object_type:?}");
                    assert_eq!(cap.rights(), cap_type.valid_rights());
                    assert_eq!(badge_of(cap).unwrap_or(0), 0);
                    assert!(is_ancestor(source, cap));
                    assert_eq!(object_type.cap_for(at, size_arg, device), Some(cap));
                }
                assert_eq!(p.cap(2, device), None);
                // Every other field is 0; the device flag is the source's.
                let first = p.cap(0, device).unwrap();
                let at = p.address(0).unwrap();
                let rw = Rights::READ.union(Rights::WRITE);
                let size_arg = u8::try_from(size_arg).unwrap();
                let expected = match object_type {
                    ObjectType::Untyped => UntypedCap::new(at, size_arg, 0, device).map(Cap::from),
                    ObjectType::CNode => CNodeCap::new(at, size_arg, 0, 0).map(Cap::from),
                    ObjectType::Tcb => TcbCap::new(at).map(Cap::from),
                    ObjectType::Endpoint => EndpointCap::new(at, Rights::ALL, 0).map(Cap::from),
                    ObjectType::Notification => NotificationCap::new(at, rw, 0).map(Cap::from),
                    ObjectType::Frame => {
                        FrameCap::new(at, size_arg, rw, 0, device, 0).map(Cap::from)
                    }
                    ObjectType::Pml4 => Pml4Cap::new(at, 0).map(Cap::from),
                    ObjectType::Pdpt => PdptCap::new(at, 0, 0).map(Cap::from),
                    ObjectType::PageDirectory => PageDirectoryCap::new(at, 0, 0).map(Cap::from),
                    ObjectType::PageTable => PageTableCap::new(at, 0, 0).map(Cap::from),
                    ObjectType::AsidPool => AsidPoolCap::new(at).map(Cap::from),
                };
                assert_eq!(Ok(first), expected, "{object_type:?}");
            }
        }
    }
}

#[test]
fn cap_for_refuses_what_the_fields_refuse() {
    // Misaligned (a TCB is 2 KiB aligned) and beyond 48 address bits.
    assert_eq!(ObjectType::Tcb.cap_for(0x100, 0, false), None);
    assert_eq!(ObjectType::Endpoint.cap_for(1 << 48, 0, false), None);
    // A size argument wider than the field (`bits: u5` in FrameCap).
    assert_eq!(ObjectType::Frame.cap_for(0x1000, 32, false), None);
    let device = ObjectType::Frame.cap_for(0x1000, 12, true).unwrap();
    assert!(FrameCap::from_cap(device).unwrap().is_device());
}

mod everything {
    use capc_generated_tests::everything::*;

    #[test]
    fn placement_caps_use_each_objects_cap_type() {
        for object_type in ObjectType::ALL {
            let (min, _) = object_type.arg_bounds();
            let bits = object_type.size_bits(min).unwrap();
            let cap = object_type.cap_for(1 << 30, min, false).unwrap();
            let cap_type = cap.cap_type().unwrap();
            assert_eq!(cap_type.object_type(), Some(object_type));
            assert_eq!(region(cap), Some((1 << 30, 1 << bits)), "{object_type:?}");
            assert_eq!(cap.rights(), cap_type.valid_rights());
        }
        let frame = ObjectType::Frame.cap_for(0x20_0000, 21, true).unwrap();
        assert_eq!(frame.cap_type(), Some(CapType::FrameCap));
        assert_eq!(frame.rights(), FrameCap::VALID_RIGHTS);
        assert_eq!(region(frame), Some((0x20_0000, 1 << 21)));
        let device = ObjectType::DeviceUntyped
            .cap_for(0x10_0000, 20, true)
            .unwrap();
        assert_eq!(device.cap_type(), Some(CapType::DeviceUntypedCap));
        assert_eq!(region(device), Some((0x10_0000, 1 << 20)));
        // Only device memory holds a DeviceUntyped: its flag is always set.
        let ram = ObjectType::DeviceUntyped.cap_for(0x10_0000, 20, false);
        assert_eq!(ram, Some(device));
        assert!(DeviceUntypedCap::from_cap(device).unwrap().is_device());
        assert!(UntypedMemory::of(device).unwrap().device);
        let ep = ObjectType::Endpoint.cap_for(0x40, 0, false).unwrap();
        assert_eq!(ep.rights(), Rights::ALL);
        assert_eq!(badge_of(ep), Some(0));
        assert_eq!(ep.with_badge(3).ok().and_then(badge_of), Some(3));
    }

    fn request(object_type: ObjectType, size_arg: u64, count: u64) -> RetypeRequest {
        RetypeRequest {
            object_type: object_type as u64,
            size_arg,
            offset: 0,
            count,
        }
    }

    fn empty(_slot: u64) -> bool {
        true
    }

    const DEST: Option<Destination> = Some(Destination { slots: 64 });

    #[test]
    fn two_rules() {
        assert_eq!(
            RetypeRule::ALL,
            [RetypeRule::UNTYPED_CAP, RetypeRule::DEVICE_UNTYPED_CAP]
        );
        assert_eq!(
            RetypeRule::DEVICE_UNTYPED_CAP.targets,
            [ObjectType::DeviceUntyped, ObjectType::Frame]
        );
    }

    #[test]
    fn device_untyped_counts_pages() {
        let source = DeviceUntypedCap::new(0x4000_0000, 16, 0, true)
            .unwrap()
            .cap();
        let frames = retype(
            source,
            false,
            &request(ObjectType::Frame, 12, 3),
            DEST,
            empty,
        )
        .unwrap();
        assert_eq!(frames.first, 0x4000_0000);
        assert_eq!(frames.new_watermark, 3 * 4096);
        let after = DeviceUntypedCap::from_cap(frames.updated_source).unwrap();
        assert_eq!(after.free_index(), 3, "the watermark unit is a page");
        let more = retype(
            after.cap(),
            true,
            &request(ObjectType::DeviceUntyped, 13, 1),
            DEST,
            empty,
        )
        .unwrap();
        assert_eq!(more.first, 0x4000_0000 + 0x4000, "8 KiB aligned");
        assert_eq!(
            DeviceUntypedCap::from_cap(more.updated_source)
                .unwrap()
                .free_index(),
            6
        );
        // Not in this rule's targets: the object type argument is refused.
        assert_eq!(
            retype(
                source,
                false,
                &request(ObjectType::CNode, 4, 1),
                DEST,
                empty
            ),
            Err(RetypeError::InvalidArgument { index: 0 })
        );
        // The memory is device memory whatever the field says.
        let unmarked = DeviceUntypedCap::new(0x4000_0000, 16, 0, false)
            .unwrap()
            .cap();
        assert!(UntypedMemory::of(unmarked).unwrap().device);
    }

    #[test]
    fn ram_untyped_has_no_device_field() {
        let source = UntypedCap::new(0x10_0000, 16, 0).unwrap().cap();
        assert!(!UntypedMemory::of(source).unwrap().device);
        assert_eq!(
            retype(
                source,
                false,
                &request(ObjectType::DeviceUntyped, 12, 1),
                DEST,
                empty
            ),
            Err(RetypeError::InvalidArgument { index: 0 })
        );
        // A TCB is 2 KiB but 1 KiB aligned: after one endpoint it starts at 1 KiB.
        let tcb = retype(
            UntypedCap::new(0x10_0000, 16, 1).unwrap().cap(),
            true,
            &request(ObjectType::Tcb, 0, 2),
            DEST,
            empty,
        )
        .unwrap();
        assert_eq!(tcb.first, 0x10_0000 + 1024);
        assert_eq!(tcb.address(1), Some(0x10_0000 + 1024 + 2048));
        assert_eq!(tcb.new_watermark, 1024 + 4096);
    }

    #[test]
    fn always_copy_caps_are_copies() {
        let a = DomainCap::new(2).unwrap().cap();
        assert!(is_copy(a, a));
        assert!(!is_ancestor(a, a));
        assert!(may_copy(a));
        assert!(!same_object(a, DomainCap::new(3).unwrap().cap()));
        assert!(!may_copy(IrqControlCap::new().unwrap().cap()));
    }
}

/// A source cap: mostly a valid size with a watermark inside the region,
/// sometimes arbitrary (invalid) fields.
fn any_untyped() -> impl Strategy<Value = Cap> {
    let bits = prop_oneof![8 => 4u8..=30, 1 => 0u8..64];
    (
        0u64..1 << 44,
        bits,
        any::<bool>(),
        any::<u64>(),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(base, bits, inside, raw, device)| {
            let free_index = if inside {
                raw % ((1 << (bits.clamp(4, 47) - 4)) + 1)
            } else {
                raw & ((1 << 44) - 1)
            };
            untyped(base << 4, bits, free_index, device)
        })
}

/// Mostly plausible requests (a known type with an allowed size argument,
/// a small window), some arbitrary.
fn any_request() -> impl Strategy<Value = RetypeRequest> {
    let object_type = prop_oneof![8 => 0u64..10, 1 => any::<u64>()];
    let small_or_any = |small: std::ops::Range<u64>| prop_oneof![6 => small, 1 => any::<u64>()];
    (
        object_type,
        any::<u64>(),
        prop::bool::weighted(0.9),
        small_or_any(0..16),
        small_or_any(1..16),
    )
        .prop_map(|(object_type, raw, plausible, offset, count)| {
            let size_arg = match ObjectType::from_word(object_type) {
                Some(t) if plausible => {
                    let (min, max) = t.arg_bounds();
                    min + raw % (max - min + 1)
                }
                _ => raw % 64,
            };
            RetypeRequest {
                object_type,
                size_arg,
                offset,
                count,
            }
        })
}

fn any_slots() -> impl Strategy<Value = Option<Destination>> {
    prop_oneof![
        1 => Just(None),
        6 => (4u32..12).prop_map(|radix| Some(Destination { slots: 1 << radix })),
        1 => any::<u64>().prop_map(|slots| Some(Destination { slots })),
        1 => Just(Some(Destination { slots: 0 })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics_and_places_inside(
        source in any_untyped(),
        has_children in any::<bool>(),
        request in any_request(),
        destination in any_slots(),
        occupied in any::<u64>(),
    ) {
        let slot_is_empty = |slot: u64| slot >= 64 || occupied & (1 << slot) == 0;
        let Ok(p) = retype(source, has_children, &request, destination, slot_is_empty) else {
            return Ok(());
        };
        let memory = UntypedMemory::of(source).unwrap();
        let (base, end) = (memory.base, memory.base + memory.size);
        let floor = base + if has_children { memory.watermark } else { 0 };
        let bytes = 1u64 << p.size_bits;
        let align = 1u64 << p.object_type.align_bits(p.size_bits);
        prop_assert_eq!(p.object_type as u64, request.object_type);
        prop_assert_eq!((p.count, p.first_slot, p.reset), (request.count, request.offset, !has_children));
        prop_assert!(p.count >= 1 && p.count <= 256);
        prop_assert!(request.offset + p.count <= destination.unwrap().slots);
        prop_assert!(p.first >= floor);
        let mut previous_end = p.first;
        for i in 0..p.count {
            let at = p.address(i).unwrap();
            prop_assert_eq!(at % align, 0);
            prop_assert!(at >= previous_end, "objects never overlap");
            prop_assert!(at + bytes <= end);
            previous_end = at + bytes;
            prop_assert!(slot_is_empty(p.slot(i).unwrap()));
            let cap = p.cap(i, memory.device).unwrap();
            prop_assert_eq!(region(cap), Some((at, bytes)));
            prop_assert!(is_ancestor(source, cap) || p.size_bits as u64 == memory.size.trailing_zeros() as u64);
        }
        prop_assert_eq!(p.address(p.count), None);
        prop_assert_eq!(p.cap(p.count, memory.device), None);
        prop_assert_eq!(p.size_arg, request.size_arg);
        prop_assert_eq!(p.new_watermark, previous_end - base);
        let after = UntypedMemory::of(p.updated_source).unwrap();
        prop_assert_eq!((after.base, after.size, after.device), (memory.base, memory.size, memory.device));
        prop_assert_eq!(after.watermark, p.new_watermark.div_ceil(16) * 16);
        prop_assert!(after.watermark <= memory.size);
    }

    #[test]
    fn successive_retypes_never_overlap(
        bits in 12u8..24,
        base_pages in 0u64..1 << 20,
        steps in prop::collection::vec((0u64..10, 0u64..30, 1u64..8), 1..40),
    ) {
        let base = base_pages << 12;
        let mut source = untyped(base, bits, 0, false);
        let mut has_children = false;
        let mut placed: Vec<(u64, u64)> = Vec::new();
        for (object_type, size_arg, count) in steps {
            let request = RetypeRequest { object_type, size_arg, offset: 0, count };
            let Ok(p) = retype(source, has_children, &request, Some(Destination { slots: 8 }), |_| true) else {
                continue;
            };
            for i in 0..p.count {
                let at = p.address(i).unwrap();
                let range = (at, at + (1 << p.size_bits));
                prop_assert!(range.0 >= base && range.1 <= base + (1 << bits));
                for other in &placed {
                    prop_assert!(range.1 <= other.0 || other.1 <= range.0, "{:?} overlaps {:?}", range, other);
                }
                prop_assert!(is_ancestor(source, untyped_at(at, p.size_bits)) || p.size_bits == bits as u32);
                placed.push(range);
            }
            source = p.updated_source;
            has_children = true;
        }
    }
}

/// A cap covering `[at, at + 2^size_bits)`, to ask `is_ancestor` about it.
fn untyped_at(at: u64, size_bits: u32) -> Cap {
    untyped(at, u8::try_from(size_bits).unwrap(), 0, false)
}
