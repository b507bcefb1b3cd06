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
        CNodeCapClient, CNodeCapLabel, EndpointCap, InvocationError, ObjectType, Transport,
        UntypedCapClient, UntypedCapLabel, target,
    };
    use crate::cspace::{Slot, lookup_cap};
    use crate::model_check::{
        BASE, ROOT_RADIX, SLOTS, UNTYPED_BASE, World, check_invariants, slot,
    };
    use proptest::prelude::*;

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

    /// A transport bound to the cap at `invoked`, doing what the kernel does
    /// on a syscall: look up the invoked cap and the extra caps the client
    /// sent, invoke, and answer the error (`KernelError::reply`) or success.
    struct Syscall<'w, 'm> {
        w: &'w mut World<'m>,
        invoked: u64,
    }

    impl Transport for Syscall<'_, '_> {
        fn call(
            &mut self,
            info: MessageInfo,
            msg: &mut [u64; target::MESSAGE_WORDS],
            caps_out: &[u64],
            _caps_in: &mut [u64; target::CAPS_PER_MESSAGE],
        ) -> MessageInfo {
            let request = *msg;
            match syscall(self.w, self.invoked, info, &request, caps_out) {
                Ok(()) => MessageInfo::default(),
                Err(error) => error.reply(msg),
            }
        }
    }

    /// The transport invoking the cap at `invoked` of the test thread.
    fn cap<'w, 'm>(w: &'w mut World<'m>, invoked: u64) -> Syscall<'w, 'm> {
        Syscall { w, invoked }
    }

    /// A transport that keeps the request a client sends and answers
    /// success.
    struct Recorder(MessageInfo, [u64; target::MESSAGE_WORDS], Vec<u64>);

    impl Transport for &mut Recorder {
        fn call(
            &mut self,
            info: MessageInfo,
            msg: &mut [u64; target::MESSAGE_WORDS],
            caps_out: &[u64],
            _caps_in: &mut [u64; target::CAPS_PER_MESSAGE],
        ) -> MessageInfo {
            **self = Recorder(info, *msg, caps_out.to_vec());
            MessageInfo::default()
        }
    }

    /// The request a client method sends (`call` makes the client over the
    /// transport and calls it): header, words, extra caps.
    fn sent<R>(
        call: impl FnOnce(&mut Recorder) -> R,
    ) -> (MessageInfo, [u64; target::MESSAGE_WORDS], Vec<u64>) {
        let mut recorder = Recorder(
            MessageInfo::default(),
            [0; target::MESSAGE_WORDS],
            Vec::new(),
        );
        let _ = call(&mut recorder);
        (recorder.0, recorder.1, recorder.2)
    }

    /// A client's result as the kernel's error.
    fn kernel<T>(result: Result<T, InvocationError<KernelError>>) -> Result<T, KernelError> {
        result.map_err(|e| match e {
            InvocationError::Kernel(e) => e,
            InvocationError::Malformed(info) => panic!("malformed reply {info:?}"),
        })
    }

    /// What the kernel does on a syscall for CNode `invoked`: look up the
    /// invoked cap and the extra caps the client sent, then invoke.
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
    fn clients_decoders_and_operations_agree() {
        let mut slots = vec![Slot::EMPTY; SLOTS];
        let mut w = World::new(&mut slots);
        hold_roots(&mut w);
        let depth = ROOT_RADIX;

        // Retype two endpoints from Untyped 0 into slots 10, 11 of the root
        // (depth 0: the root extra cap itself).
        kernel(UntypedCapClient(cap(&mut w, 0)).retype(
            ObjectType::Endpoint as u64,
            0,
            crate::caps::Slot::new(63),
            0,
            0,
            10,
            2,
        ))
        .unwrap();
        assert_eq!(
            EndpointCap::from_cap(w.cap(11)).map(EndpointCap::endpoint),
            Some(UNTYPED_BASE + 16)
        );
        // Into a CNode named by index and depth: a 2-slot CNode in slot 12.
        kernel(UntypedCapClient(cap(&mut w, 0)).retype(
            ObjectType::CNode as u64,
            1,
            crate::caps::Slot::new(63),
            0,
            0,
            12,
            1,
        ))
        .unwrap();
        kernel(UntypedCapClient(cap(&mut w, 0)).retype(
            ObjectType::Notification as u64,
            0,
            crate::caps::Slot::new(62),
            12,
            depth,
            1,
            1,
        ))
        .unwrap();
        let inner = CNodeCap::from_cap(w.cap(12)).unwrap();
        let inner_slot_1 = w.memory.table(inner).unwrap().slot(1).unwrap();
        assert!(!w.memory.get(inner_slot_1).unwrap().is_empty());

        // Mint slot 10 into 20 with a badge, copy it into 21, move it to 22.
        kernel(CNodeCapClient(cap(&mut w, 62)).mint(
            20,
            depth,
            crate::caps::Slot::new(62),
            10,
            depth,
            0b11,
            9,
        ))
        .unwrap();
        kernel(CNodeCapClient(cap(&mut w, 62)).copy(
            21,
            depth,
            crate::caps::Slot::new(62),
            20,
            depth,
            0b1,
        ))
        .unwrap();
        kernel(CNodeCapClient(cap(&mut w, 62)).r#move(
            22,
            depth,
            crate::caps::Slot::new(62),
            21,
            depth,
        ))
        .unwrap();
        let moved = EndpointCap::from_cap(w.cap(22)).unwrap();
        assert_eq!((moved.badge(), moved.rights()), (9, Rights::READ));

        // Revoke the minted cap, then delete the original.
        kernel(CNodeCapClient(cap(&mut w, 62)).revoke(20, depth)).unwrap();
        assert!(w.cap(22).is_null());
        kernel(CNodeCapClient(cap(&mut w, 62)).delete(10, depth)).unwrap();
        assert!(w.cap(10).is_null() && !w.cap(20).is_null());
        check_invariants(&w.memory, crate::cspace::Table::of(w.root).unwrap()).unwrap();
    }

    #[test]
    fn errors_reach_the_reply() {
        let mut slots = vec![Slot::EMPTY; SLOTS];
        let mut w = World::new(&mut slots);
        hold_roots(&mut w);
        let depth = ROOT_RADIX;
        let run = |w: &mut World<'_>, info: MessageInfo, msg: &[u64], extra: &[u64]| {
            syscall(w, 62, info, msg, extra)
        };

        // Occupied destination, empty source, bad depth, short message.
        let (info, msg, extra) =
            sent(|t| CNodeCapClient(t).copy(0, depth, crate::caps::Slot::new(62), 1, depth, 0));
        assert_eq!(
            run(&mut w, info, &msg, &extra),
            Err(KernelError::DeleteFirst)
        );
        let (info, msg, extra) =
            sent(|t| CNodeCapClient(t).copy(30, depth, crate::caps::Slot::new(62), 31, depth, 0));
        assert_eq!(
            run(&mut w, info, &msg, &extra),
            Err(KernelError::FailedLookup { source: 1 })
        );
        let (info, msg, extra) =
            sent(|t| CNodeCapClient(t).copy(30, 3, crate::caps::Slot::new(62), 1, depth, 0));
        assert_eq!(
            run(&mut w, info, &msg, &extra),
            Err(KernelError::FailedLookup { source: 0 })
        );
        let (info, msg, extra) = sent(|t| CNodeCapClient(t).delete(0, 65));
        assert_eq!(
            run(&mut w, info, &msg, &extra),
            Err(KernelError::RangeError { min: 1, max: 64 })
        );
        let (info, msg, extra) = sent(|t| CNodeCapClient(t).delete(0, depth));
        let short = MessageInfo { length: 1, ..info };
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
            let (info, msg, extra) = sent(|t| CNodeCapClient(t).delete(0, bad));
            assert_eq!(
                run(&mut w, info, &msg, &extra),
                Err(KernelError::RangeError { min: 1, max: 64 })
            );
        }
        // The source root is an `#[unchecked]` cap: one that is not a CNode
        // fails the source lookup (seL4's lookupSourceSlot)...
        let (info, msg, extra) =
            sent(|t| CNodeCapClient(t).copy(30, depth, crate::caps::Slot::new(0), 1, depth, 0));
        assert_eq!(
            run(&mut w, info, &msg, &extra),
            Err(KernelError::FailedLookup { source: 1 })
        );
        // ... after the destination is found occupied.
        let (info, msg, extra) =
            sent(|t| CNodeCapClient(t).copy(0, depth, crate::caps::Slot::new(0), 1, depth, 0));
        assert_eq!(
            run(&mut w, info, &msg, &extra),
            Err(KernelError::DeleteFirst)
        );
        // A retype into a slot that holds no CNode.
        let (info, msg, extra) = sent(|t| {
            UntypedCapClient(t).retype(
                ObjectType::Tcb as u64,
                0,
                crate::caps::Slot::new(62),
                1,
                depth,
                0,
                1,
            )
        });
        assert_eq!(
            syscall(&mut w, 0, info, &msg, &extra),
            Err(KernelError::FailedLookup { source: 0 })
        );
        // The root itself (depth 0) is not a CNode: an `#[unchecked]` cap,
        // so seL4's order holds: a bad type first (InvalidArgument 0), a
        // bad size next (RangeError), and only then the root
        // (FailedLookup, not the decoder's InvalidCapability).
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
            let (info, msg, extra) = sent(|t| {
                UntypedCapClient(t).retype(
                    object_type,
                    size_arg,
                    crate::caps::Slot::new(0),
                    0,
                    0,
                    0,
                    1,
                )
            });
            assert_eq!(syscall(&mut w, 0, info, &msg, &extra), Err(expected));
        }

        // The error as the user's client returns it: one the method
        // declares is the kernel's, one it does not a malformed reply.
        assert_eq!(
            CNodeCapClient(cap(&mut w, 62)).copy(0, depth, crate::caps::Slot::new(62), 1, depth, 0),
            Err(InvocationError::Kernel(KernelError::DeleteFirst))
        );
        assert_eq!(
            CNodeCapClient(cap(&mut w, 62)).delete(0, 65),
            Err(InvocationError::Kernel(KernelError::RangeError {
                min: 1,
                max: 64
            }))
        );
    }

    /// A word a hostile caller might send: one of the values at the edges
    /// of what the kernel checks, or any.
    fn word() -> impl Strategy<Value = u64> {
        prop_oneof![
            Just(0u64),
            Just(1),
            Just(ROOT_RADIX),
            Just(63),
            Just(64),
            Just(65),
            Just(ObjectType::Endpoint as u64),
            Just(ObjectType::CNode as u64),
            0..70u64,
            any::<u64>(),
        ]
    }

    /// A cap address: the two roots, an Untyped, a slot the test fills, an
    /// empty slot, or one outside the root.
    fn cptr() -> impl Strategy<Value = u64> {
        prop_oneof![
            Just(62u64),
            Just(63),
            Just(0),
            Just(10),
            Just(30),
            Just(1 << 40)
        ]
    }

    proptest! {
        /// Whatever a caller sends to a CNode or an Untyped cap, an error
        /// the kernel answers to a request with a method's label is one
        /// that method declares in kernel.cap (its `errors` list), so the
        /// spec says everything a client can get back. Requests are sent
        /// as they are, not through the clients, which would refuse some.
        #[test]
        fn every_error_the_kernel_answers_is_declared(
            cnode in any::<bool>(),
            label in 0..9u64,
            length in 0..=target::MESSAGE_WORDS,
            caps in 0..=3usize,
            words in proptest::collection::vec(word(), target::MESSAGE_WORDS),
            extra in proptest::collection::vec(cptr(), 3),
        ) {
            let mut slots = vec![Slot::EMPTY; SLOTS];
            let mut w = World::new(&mut slots);
            hold_roots(&mut w);
            // Something to copy, move and delete: an endpoint in slot 10.
            kernel(UntypedCapClient(cap(&mut w, 0)).retype(
                ObjectType::Endpoint as u64, 0, crate::caps::Slot::new(63), 0, 0, 10, 1,
            ))
            .unwrap();
            let info = MessageInfo { label, length, caps };
            let invoked = if cnode { 62 } else { 0 };
            if let Err(error) = syscall(&mut w, invoked, info, &words, &extra) {
                let code = error.reply(&mut [0; target::MESSAGE_WORDS]).label;
                let declared = if cnode {
                    CNodeCapLabel::from_word(label).map(CNodeCapLabel::errors)
                } else {
                    UntypedCapLabel::from_word(label).map(UntypedCapLabel::errors)
                };
                if let Some(declared) = declared {
                    prop_assert!(
                        declared.contains(&code),
                        "label {} of {} answered {:?}, not in its errors {:?}",
                        label,
                        if cnode { "CNodeCap" } else { "UntypedCap" },
                        error,
                        declared
                    );
                }
            }
            check_invariants(&w.memory, crate::cspace::Table::of(w.root).unwrap()).unwrap();
        }
    }
}
