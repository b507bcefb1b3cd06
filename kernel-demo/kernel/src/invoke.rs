//! Invocations of CNode and Untyped caps: the message is decoded by the
//! generated decoders, the slots it names are looked up in the CSpace, and
//! the operation of `ops` runs on them. The error is what the reply
//! carries (`KernelError::reply` writes it).
//!
//! The invoked cap and the extra caps come from the caller's lookup in the
//! thread's CSpace (`cspace::lookup_cap`), as the decoders expect.

use crate::caps::{
    CNodeCap, CNodeCapInvocation, Cap, DecodeError, KernelError, MessageInfo, Placement,
    RetypeRequest, Rights, UntypedCapInvocation, decode_cnode_cap, decode_untyped_cap,
};
use crate::cspace::{SlotAddr, SlotMemory, lookup_slot};
use crate::ops;

/// The kernel error a refused decode is reported as: the variants of the
/// same names.
pub fn decode_error(error: DecodeError) -> KernelError {
    match error {
        DecodeError::IllegalOperation => KernelError::IllegalOperation,
        DecodeError::TruncatedMessage => KernelError::TruncatedMessage,
        DecodeError::InvalidArgument { index } => KernelError::InvalidArgument { index },
        DecodeError::InvalidCapability { index } => KernelError::InvalidCapability { index },
    }
}

/// Runs an invocation of the CNode cap `cnode`: copy, mint, move, mutate,
/// delete or revoke. Destination and target slots are looked up from `cnode`,
/// sources from the `src_root` extra cap, each with exactly the depth the
/// message gives; a lookup that fails is `FailedLookup` (or `RangeError`
/// for a depth outside 1..=64). As seL4's decodeCNodeInvocation: the
/// destination is looked up and must be empty (`DeleteFirst`) before the
/// source is looked up. A revoke has a preemption point after each cap it
/// removes (`ops::revoke_preemptible`): `Ok(false)` says it stopped there,
/// to be restarted; every other outcome is `Ok(true)` or an error.
pub fn invoke_cnode(
    memory: &mut SlotMemory<'_>,
    cnode: CNodeCap,
    (info, msg, caps): (MessageInfo, &[u64], &[Cap]),
    preempt: &mut dyn FnMut() -> bool,
) -> Result<bool, KernelError> {
    let invocation =
        decode_cnode_cap(info, cnode.cap().rights(), msg, caps).map_err(decode_error)?;
    let target = |memory: &SlotMemory<'_>, index, depth| {
        lookup_slot(memory, cnode.cap(), index, depth).map_err(|e| e.kernel_error(false))
    };
    // The source root is an `#[unchecked]` cap: one that is not a CNode
    // fails the lookup, as in seL4 (after the destination's checks).
    let source = |memory: &SlotMemory<'_>, root: Cap, index, depth| {
        lookup_slot(memory, root, index, depth).map_err(|e| e.kernel_error(true))
    };
    match invocation {
        CNodeCapInvocation::Copy(call) => {
            let dest = target(memory, call.dest_index, call.dest_depth)?;
            ops::ensure_empty(memory, dest)?;
            let src = source(memory, call.src_root, call.src_index, call.src_depth)?;
            let rights = Rights::from_bits_truncate(call.rights);
            ops::copy(memory, src, dest, rights).map(|()| true)
        }
        CNodeCapInvocation::Mint(call) => {
            let dest = target(memory, call.dest_index, call.dest_depth)?;
            ops::ensure_empty(memory, dest)?;
            let src = source(memory, call.src_root, call.src_index, call.src_depth)?;
            let rights = Rights::from_bits_truncate(call.rights);
            ops::mint(memory, src, dest, rights, call.badge).map(|()| true)
        }
        CNodeCapInvocation::Move(call) => {
            let dest = target(memory, call.dest_index, call.dest_depth)?;
            ops::ensure_empty(memory, dest)?;
            let src = source(memory, call.src_root, call.src_index, call.src_depth)?;
            ops::move_cap(memory, src, dest).map(|()| true)
        }
        CNodeCapInvocation::Mutate(call) => {
            let dest = target(memory, call.dest_index, call.dest_depth)?;
            ops::ensure_empty(memory, dest)?;
            let src = source(memory, call.src_root, call.src_index, call.src_depth)?;
            ops::mutate(memory, src, dest, call.data).map(|()| true)
        }
        CNodeCapInvocation::Delete(call) => {
            let at = target(memory, call.index, call.depth)?;
            ops::delete(memory, at).map(|_| true)
        }
        CNodeCapInvocation::Revoke(call) => {
            let at = target(memory, call.index, call.depth)?;
            let revoked = ops::revoke_preemptible(memory, at, preempt)?;
            Ok(matches!(revoked, ops::Revoked::All(_)))
        }
    }
}

/// Runs an invocation of the Untyped cap in slot `untyped`: retype. The
/// placement tells the caller which memory to zero. The
/// destination CNode is the `root` extra cap itself for depth 0 (as in
/// seL4), else the cap at `index` with `depth` bits from it; a lookup
/// that fails or finds no CNode is reported by the generated `retype` as
/// `FailedLookup`, after its checks of the arguments.
pub fn invoke_untyped(
    memory: &mut SlotMemory<'_>,
    untyped: SlotAddr,
    info: MessageInfo,
    msg: &[u64],
    caps: &[Cap],
) -> Result<Placement, KernelError> {
    let cap = memory
        .cap(untyped)
        .ok_or(KernelError::FailedLookup { source: 1 })?;
    let UntypedCapInvocation::Retype(call) =
        decode_untyped_cap(info, cap.rights(), msg, caps).map_err(decode_error)?;
    let dest = match call.depth {
        0 => CNodeCap::from_cap(call.root),
        depth => lookup_slot(memory, call.root, call.index, depth)
            .ok()
            .and_then(|slot| memory.cap(slot))
            .and_then(CNodeCap::from_cap),
    };
    let request = RetypeRequest {
        object_type: call.object_type,
        size_arg: call.size_arg,
        offset: call.offset,
        count: call.count,
    };
    ops::retype(memory, untyped, &request, dest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::{
        EndpointCap, InvocationError, ObjectType, decode_cnode_cap_copy_reply,
        encode_cnode_cap_copy, encode_cnode_cap_delete, encode_cnode_cap_mint,
        encode_cnode_cap_move, encode_cnode_cap_revoke, encode_untyped_cap_retype,
    };
    use crate::cspace::{Slot, lookup_cap};
    use crate::model_check::{
        BASE, ROOT_RADIX, SLOTS, UNTYPED_BASE, World, check_invariants, slot,
    };

    /// The thread's view of the test root: a 58-bit guard of zeros, so that
    /// a capability address is just a root slot number.
    fn thread_root() -> Cap {
        let radix = u8::try_from(ROOT_RADIX).unwrap();
        CNodeCap::new(BASE, radix, 64 - radix, 0).unwrap().cap()
    }

    /// The thread's root in slot 63 and, in slot 62, a cap to the same CNode
    /// without a guard, for CNode operations with `ROOT_RADIX`-bit indices
    /// (seL4 sets such guards with mint; here it is put there directly).
    fn hold_roots(w: &mut World<'_>) {
        crate::mdb::insert_root(&mut w.memory, slot(63), thread_root()).unwrap();
        assert!(crate::mdb::insert_after(
            &mut w.memory,
            slot(63),
            slot(62),
            w.root.cap(),
            false,
            false
        ));
    }

    /// What the kernel does on a syscall for CNode `invoked`: look up the
    /// invoked cap and the extra caps the stub wrote, then invoke.
    fn syscall(
        w: &mut World<'_>,
        invoked: u64,
        info: MessageInfo,
        msg: &[u64],
        extra: &[u64],
    ) -> Result<(), KernelError> {
        let root = thread_root();
        let (at, cap) = lookup_cap(&w.memory, root, invoked).map_err(|e| e.kernel_error(true))?;
        let mut caps = [Cap::NULL; 3];
        for (cap, &cptr) in caps.iter_mut().zip(extra.iter().take(info.caps)) {
            *cap = lookup_cap(&w.memory, root, cptr).map_or(Cap::NULL, |(_, cap)| cap);
        }
        match CNodeCap::from_cap(cap) {
            Some(cnode) => {
                invoke_cnode(&mut w.memory, cnode, (info, msg, &caps), &mut || false).map(drop)
            }
            None => invoke_untyped(&mut w.memory, at, info, msg, &caps).map(drop),
        }
    }

    #[test]
    fn stubs_decoders_and_operations_agree() {
        let mut slots = vec![Slot::EMPTY; SLOTS];
        let mut w = World::new(&mut slots);
        hold_roots(&mut w);
        let (mut msg, mut extra) = ([0; 8], [0; 3]);
        let depth = ROOT_RADIX;

        // Retype two endpoints from Untyped 0 into slots 10, 11 of the root
        // (depth 0: the root extra cap itself).
        let info = encode_untyped_cap_retype(
            ObjectType::Endpoint as u64,
            0,
            63,
            0,
            0,
            10,
            2,
            &mut msg,
            &mut extra,
        );
        syscall(&mut w, 0, info, &msg, &extra).unwrap();
        assert_eq!(
            EndpointCap::from_cap(w.cap(11)).map(EndpointCap::endpoint),
            Some(UNTYPED_BASE + 16)
        );
        // Into a CNode named by index and depth: a 2-slot CNode in slot 12.
        let info = encode_untyped_cap_retype(
            ObjectType::CNode as u64,
            1,
            63,
            0,
            0,
            12,
            1,
            &mut msg,
            &mut extra,
        );
        syscall(&mut w, 0, info, &msg, &extra).unwrap();
        let info = encode_untyped_cap_retype(
            ObjectType::Notification as u64,
            0,
            62,
            12,
            depth,
            1,
            1,
            &mut msg,
            &mut extra,
        );
        syscall(&mut w, 0, info, &msg, &extra).unwrap();
        let inner = CNodeCap::from_cap(w.cap(12)).unwrap();
        let inner_slot_1 = w.memory.table(inner).unwrap().slot(1).unwrap();
        assert!(!w.memory.get(inner_slot_1).unwrap().is_empty());

        // Mint slot 10 into 20 with a badge, copy it into 21, move it to 22.
        let info = encode_cnode_cap_mint(20, depth, 62, 10, depth, 0b11, 9, &mut msg, &mut extra);
        syscall(&mut w, 62, info, &msg, &extra).unwrap();
        let info = encode_cnode_cap_copy(21, depth, 62, 20, depth, 0b1, &mut msg, &mut extra);
        syscall(&mut w, 62, info, &msg, &extra).unwrap();
        let info = encode_cnode_cap_move(22, depth, 62, 21, depth, &mut msg, &mut extra);
        syscall(&mut w, 62, info, &msg, &extra).unwrap();
        let moved = EndpointCap::from_cap(w.cap(22)).unwrap();
        assert_eq!((moved.badge(), moved.rights()), (9, Rights::READ));

        // Revoke the minted cap, then delete the original.
        let info = encode_cnode_cap_revoke(20, depth, &mut msg);
        syscall(&mut w, 62, info, &msg, &extra).unwrap();
        assert!(w.cap(22).is_null());
        let info = encode_cnode_cap_delete(10, depth, &mut msg);
        syscall(&mut w, 62, info, &msg, &extra).unwrap();
        assert!(w.cap(10).is_null() && !w.cap(20).is_null());
        check_invariants(&w.memory, crate::cspace::Table::of(w.root).unwrap()).unwrap();
    }

    #[test]
    fn errors_reach_the_reply() {
        let mut slots = vec![Slot::EMPTY; SLOTS];
        let mut w = World::new(&mut slots);
        hold_roots(&mut w);
        let (mut msg, mut extra) = ([0; 8], [0; 3]);
        let depth = ROOT_RADIX;
        let run = |w: &mut World<'_>, info: MessageInfo, msg: &[u64], extra: &[u64]| {
            syscall(w, 62, info, msg, extra)
        };

        // Occupied destination, empty source, bad depth, short message.
        let info = encode_cnode_cap_copy(0, depth, 62, 1, depth, 0, &mut msg, &mut extra);
        assert_eq!(
            run(&mut w, info, &msg, &extra),
            Err(KernelError::DeleteFirst)
        );
        let info = encode_cnode_cap_copy(30, depth, 62, 31, depth, 0, &mut msg, &mut extra);
        assert_eq!(
            run(&mut w, info, &msg, &extra),
            Err(KernelError::FailedLookup { source: 1 })
        );
        let info = encode_cnode_cap_copy(30, 3, 62, 1, depth, 0, &mut msg, &mut extra);
        assert_eq!(
            run(&mut w, info, &msg, &extra),
            Err(KernelError::FailedLookup { source: 0 })
        );
        let info = encode_cnode_cap_delete(0, 65, &mut msg);
        assert_eq!(
            run(&mut w, info, &msg, &extra),
            Err(KernelError::RangeError { min: 1, max: 64 })
        );
        let short = MessageInfo {
            length: 1,
            ..encode_cnode_cap_delete(0, depth, &mut msg)
        };
        assert_eq!(
            run(&mut w, short, &msg, &extra),
            Err(KernelError::TruncatedMessage)
        );
        let unknown = MessageInfo { label: 99, ..short };
        assert_eq!(
            run(&mut w, unknown, &msg, &extra),
            Err(KernelError::IllegalOperation)
        );
        // A depth past 64, of any size: seL4's lookupSlotForCNodeOp
        // says RangeError.
        for bad in [65, 300, u64::MAX] {
            let info = encode_cnode_cap_delete(0, bad, &mut msg);
            assert_eq!(
                run(&mut w, info, &msg, &extra),
                Err(KernelError::RangeError { min: 1, max: 64 })
            );
        }
        // The source root is an `#[unchecked]` cap: one that is not a CNode
        // fails the source lookup (seL4's lookupSourceSlot)...
        let info = encode_cnode_cap_copy(30, depth, 0, 1, depth, 0, &mut msg, &mut extra);
        assert_eq!(
            run(&mut w, info, &msg, &extra),
            Err(KernelError::FailedLookup { source: 1 })
        );
        // ... after the destination is found occupied.
        let info = encode_cnode_cap_copy(0, depth, 0, 1, depth, 0, &mut msg, &mut extra);
        assert_eq!(
            run(&mut w, info, &msg, &extra),
            Err(KernelError::DeleteFirst)
        );
        // A retype into a slot that holds no CNode.
        let info = encode_untyped_cap_retype(
            ObjectType::Tcb as u64,
            0,
            62,
            1,
            depth,
            0,
            1,
            &mut msg,
            &mut extra,
        );
        assert_eq!(
            syscall(&mut w, 0, info, &msg, &extra),
            Err(KernelError::FailedLookup { source: 0 })
        );
        // The root itself (depth 0) is not a CNode: an `#[unchecked]` cap,
        // so seL4's order holds: a bad type first (InvalidArgument 0), a
        // bad size next (RangeError), and only then the root
        // (FailedLookup, not the decoder's InvalidCapability).
        let retype_into_slot_0 =
            |object_type: u64, size_arg: u64, msg: &mut [u64], extra: &mut [u64]| {
                encode_untyped_cap_retype(object_type, size_arg, 0, 0, 0, 0, 1, msg, extra)
            };
        for (object_type, size_arg, expected) in [
            (99, 0, KernelError::InvalidArgument { index: 0 }),
            (
                ObjectType::Untyped as u64,
                99,
                KernelError::RangeError { min: 4, max: 47 },
            ),
            (
                ObjectType::Tcb as u64,
                0,
                KernelError::FailedLookup { source: 0 },
            ),
        ] {
            let info = retype_into_slot_0(object_type, size_arg, &mut msg, &mut extra);
            assert_eq!(syscall(&mut w, 0, info, &msg, &extra), Err(expected));
        }

        // The error as the user's stub decodes the reply.
        let mut reply = [0; 4];
        let header = KernelError::DeleteFirst.reply(&mut reply);
        assert_eq!(
            decode_cnode_cap_copy_reply(header, &reply),
            Err(InvocationError::Kernel(KernelError::DeleteFirst))
        );
    }
}
