//! The reference interpreter's `derive`: caps made from caps of another type
//! by a spec's `derive` rules (dsl/tests/ui/pass/derive.cap): where they go
//! in the derivation tree, what they hold, what they charge, and each of the
//! refusals in the order `Machine::derive_cap` documents.

use std::path::Path;

use capc_dsl::model::Spec;
use capc_interp::{CNodeId, Machine, OpError, Slot};

fn spec() -> Spec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dsl/tests/ui/pass/derive.cap");
    capc_dsl::compile(&path, &capc_dsl::FsLoader)
        .expect("readable")
        .spec
        .expect("derive.cap checks clean")
}

fn root(index: u64) -> Slot {
    Slot {
        cnode: CNodeId::Root,
        index,
    }
}

/// A machine with 1 MiB of RAM in slot 0, a frame of 8 KiB retyped from it
/// in slot 1, and a token manager in slot 2.
fn machine(spec: &Spec) -> Machine<'_> {
    let mut m = Machine::new(spec, 6);
    let mut ram = m.blank_cap(spec.cap("UntypedCap").unwrap());
    ram.object = 0x10_0000;
    ram.size_arg = 20;
    m.boot(root(0), ram, "alice").unwrap();
    let manager = m.blank_cap(spec.cap("TokenManager").unwrap());
    m.boot(root(2), manager, "alice").unwrap();
    let frame = spec.object("Frame").unwrap().0 as u64;
    m.retype(&[0], frame, 13, &[], 1, 1).unwrap();
    m
}

#[test]
fn a_derived_cap_names_its_source_object_and_is_its_child() {
    let spec = spec();
    let mut m = machine(&spec);
    let mapping = spec.cap("FrameMapping").unwrap();
    // A read-only copy of the frame: the mapping gets only `read`.
    m.copy(&[1], &[3], 0b01).unwrap();
    let id = m.derive_cap(&[3], mapping, &[4]).unwrap();
    let node = m.node(id).unwrap();
    assert_eq!(node.parent, m.id_at(root(3)));
    assert_eq!(node.cap.cap_type, mapping);
    assert_eq!((node.cap.object, node.cap.size_arg), (0x10_0000, 13));
    assert_eq!(
        node.cap.rights, 0b01,
        "the source's rights, within its type's"
    );
    assert_eq!(m.region(&node.cap), Some((0x10_0000, 8192)));
    // It charges nothing: the frame's 8 KiB are what is in use.
    let ram = m.id_at(root(0)).unwrap();
    assert_eq!(m.in_use(ram), 8192);
    // `#[multiple]`: any number from one source.
    m.derive_cap(&[3], mapping, &[5]).unwrap();
    // Deleting the frame cap it came from hands both to the frame's parent
    // (the original frame cap), whose revoke deletes them.
    assert_eq!(m.delete(&[3]), Ok(1));
    assert_eq!(m.node_at(root(4)).unwrap().parent, m.id_at(root(1)));
    assert_eq!(m.revoke(&[1]), Ok(2));
    assert!(m.node_at(root(4)).is_none() && m.node_at(root(5)).is_none());
    assert!(m.node_at(root(1)).is_some(), "revoke keeps the cap itself");
}

#[test]
fn a_rule_without_multiple_derives_one_cap_at_a_time() {
    let spec = spec();
    let mut m = machine(&spec);
    let token = spec.cap("Token").unwrap();
    m.derive_cap(&[2], token, &[3]).unwrap();
    assert_eq!(m.derive_cap(&[2], token, &[4]), Err(OpError::RevokeFirst));
    // A copy of the manager is a copy, not a derived cap: it does not count,
    // and it may derive its own token. A copy of the token is the manager's
    // child too, and counts.
    m.copy(&[2], &[5], u64::MAX).unwrap();
    m.derive_cap(&[5], token, &[6]).unwrap();
    m.delete(&[3]).unwrap();
    m.copy(&[6], &[7], u64::MAX).unwrap();
    assert_eq!(m.node_at(root(7)).unwrap().parent, m.id_at(root(5)));
    assert_eq!(m.derive_cap(&[5], token, &[8]), Err(OpError::RevokeFirst));
    // Once the manager's derived cap is gone, it derives again.
    m.derive_cap(&[2], token, &[3]).unwrap();
    assert_eq!(m.revoke(&[5]), Ok(2));
    m.derive_cap(&[5], token, &[6]).unwrap();
}

#[test]
fn refusals_come_in_order() {
    let spec = spec();
    let mut m = machine(&spec);
    let (mapping, token) = (
        spec.cap("FrameMapping").unwrap(),
        spec.cap("Token").unwrap(),
    );
    assert_eq!(
        m.derive_cap(&[1], mapping, &[99]),
        Err(OpError::FailedLookup { source: 0 })
    );
    assert_eq!(m.derive_cap(&[1], mapping, &[2]), Err(OpError::DeleteFirst));
    assert_eq!(
        m.derive_cap(&[9], mapping, &[3]),
        Err(OpError::FailedLookup { source: 1 })
    );
    // No rule derives a token from a frame, or a frame mapping from memory.
    assert_eq!(
        m.derive_cap(&[1], token, &[3]),
        Err(OpError::IllegalOperation)
    );
    assert_eq!(
        m.derive_cap(&[0], mapping, &[3]),
        Err(OpError::IllegalOperation)
    );
    // Nor a mapping from a mapping.
    m.derive_cap(&[1], mapping, &[3]).unwrap();
    assert_eq!(
        m.derive_cap(&[3], mapping, &[4]),
        Err(OpError::IllegalOperation)
    );
}

#[test]
fn removing_a_derived_cap_finalises_nothing() {
    let spec = spec();
    let mut m = machine(&spec);
    let mapping = spec.cap("FrameMapping").unwrap();
    m.derive_cap(&[1], mapping, &[3]).unwrap();
    // The last mapping goes: the frame stays, and so does its memory.
    assert_eq!(m.delete(&[3]), Ok(1));
    let ram = m.id_at(root(0)).unwrap();
    assert_eq!(m.in_use(ram), 8192);
    // The frame's last cap goes while a mapping lives: the mapping stays
    // under the Untyped until it is revoked, and charges nothing.
    m.derive_cap(&[1], mapping, &[3]).unwrap();
    assert_eq!(m.delete(&[1]), Ok(1));
    assert_eq!(m.node_at(root(3)).unwrap().parent, Some(ram));
    assert_eq!(m.in_use(ram), 0);
    assert_eq!(m.revoke(&[0]), Ok(1));
}

#[test]
fn a_split_makes_pieces_of_the_frame_as_its_children() {
    let spec = spec();
    let mut m = machine(&spec);
    let frame = spec.cap("FrameCap").unwrap();
    // Read-only: the pieces keep the source's rights.
    m.copy(&[1], &[3], 0b01).unwrap();
    let pieces = m.split_cap(&[3], 12, 2, &[4]).unwrap();
    assert_eq!(pieces.len(), 2);
    for (i, id) in pieces.iter().enumerate() {
        let node = m.node(*id).unwrap();
        assert_eq!(node.parent, m.id_at(root(3)));
        assert_eq!(node.cap.cap_type, frame);
        assert_eq!(node.cap.rights, 0b01);
        assert_eq!(
            m.region(&node.cap),
            Some((0x10_0000 + 4096 * i as u64, 4096))
        );
    }
    assert!(m.is_split_piece(pieces[0]));
    assert!(!m.is_split_piece(m.id_at(root(3)).unwrap()));
    // The pieces lie in the frame: nothing more is in use.
    let ram = m.id_at(root(0)).unwrap();
    assert_eq!(m.in_use(ram), 8192);
    // Once split, the frame (or its original, whose region holds the
    // pieces) splits again only when the pieces are gone.
    assert_eq!(m.split_cap(&[3], 12, 1, &[6]), Err(OpError::RevokeFirst));
    assert_eq!(m.split_cap(&[1], 12, 1, &[6]), Err(OpError::RevokeFirst));
    // A piece is a frame of its own: it has mappings, and its last cap
    // going finalises it; the frame's revoke takes the pieces.
    let mapping = spec.cap("FrameMapping").unwrap();
    m.derive_cap(&[4], mapping, &[6]).unwrap();
    assert_eq!(m.revoke(&[3]), Ok(3));
    m.split_cap(&[1], 12, 2, &[4]).unwrap();
}

#[test]
fn split_refusals_come_in_order() {
    let spec = spec();
    let mut m = machine(&spec);
    assert_eq!(
        m.split_cap(&[1], 12, 1, &[99]),
        Err(OpError::FailedLookup { source: 0 })
    );
    assert_eq!(
        m.split_cap(&[1], 12, 100, &[3]),
        Err(OpError::RangeError { min: 1, max: 61 })
    );
    assert_eq!(m.split_cap(&[1], 12, 1, &[2]), Err(OpError::DeleteFirst));
    assert_eq!(
        m.split_cap(&[9], 12, 1, &[3]),
        Err(OpError::FailedLookup { source: 1 })
    );
    // Untyped memory and a manager do not split.
    assert_eq!(
        m.split_cap(&[0], 12, 1, &[3]),
        Err(OpError::IllegalOperation)
    );
    assert_eq!(
        m.split_cap(&[2], 12, 1, &[3]),
        Err(OpError::IllegalOperation)
    );
    // 8 KiB into 8 KiB or more, or a size the frame does not have.
    for arg in [13, 14, 11] {
        assert_eq!(
            m.split_cap(&[1], arg, 1, &[3]),
            Err(OpError::InvalidArgument { index: 1 })
        );
    }
    assert_eq!(
        m.split_cap(&[1], 12, 3, &[3]),
        Err(OpError::RangeError { min: 1, max: 2 })
    );
    assert_eq!(
        m.split_cap(&[1], 12, 0, &[3]),
        Err(OpError::RangeError { min: 1, max: 2 })
    );
    // A frame with a mapping does not split until the mapping is revoked.
    let mapping = spec.cap("FrameMapping").unwrap();
    m.derive_cap(&[1], mapping, &[3]).unwrap();
    assert_eq!(m.split_cap(&[1], 12, 2, &[4]), Err(OpError::RevokeFirst));
    m.revoke(&[1]).unwrap();
    m.split_cap(&[1], 12, 2, &[4]).unwrap();
}
