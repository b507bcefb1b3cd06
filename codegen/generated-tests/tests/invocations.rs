//! Kernel invocations and error sets as generated for kernel.cap and
//! everything.cap: every invocation's client method sends a request the
//! kernel-side decoder turns back into the same arguments (over the full range
//! of every parameter), every short request is `TruncatedMessage`, every
//! out-of-range `uN`/`bool` is `InvalidArgument` at its position, unknown
//! labels and missing rights are `IllegalOperation`, wrong extra caps are
//! `InvalidCapability` at their position, and every error round-trips through
//! its set's `encode`/`decode` and the client methods, which return the
//! errors a method declares and take any other for a malformed reply.

use proptest::prelude::*;

/// Checks shared by both specs; expanded in each spec's module so the types
/// (`MessageInfo`, `DecodeError`, ...) are that module's.
macro_rules! checks {
    () => {
        /// A decoder as generated: `decode_<cap>`.
        type Decoder<T> = fn(MessageInfo, Rights, &[u64], &[Cap]) -> Result<T, DecodeError>;

        /// Empty message and cap buffers of the target's size.
        fn buffers() -> (
            [u64; target::MESSAGE_WORDS],
            [u64; target::CAPS_PER_MESSAGE],
        ) {
            ([0; target::MESSAGE_WORDS], [0; target::CAPS_PER_MESSAGE])
        }

        /// `rights` without `right`.
        fn without(rights: Rights, right: Rights) -> Rights {
            Rights::from_bits_truncate(rights.bits() & !right.bits())
        }

        /// The request decodes to `expected` with the invoked cap carrying
        /// exactly `required` (and with all rights); without any one required
        /// right it is `IllegalOperation`; every shorter header, buffer or cap
        /// list is `TruncatedMessage`; extra words and caps are ignored.
        fn check_request<T: PartialEq + std::fmt::Debug>(
            decode: Decoder<T>,
            info: MessageInfo,
            msg: &[u64],
            caps: &[Cap],
            required: Rights,
            expected: &T,
        ) {
            let msg = &msg[..info.length];
            assert_eq!(caps.len(), info.caps);
            assert_eq!(decode(info, Rights::ALL, msg, caps).as_ref(), Ok(expected));
            assert_eq!(decode(info, required, msg, caps).as_ref(), Ok(expected));
            for bit in 0..64 {
                let right = Rights::from_bits_truncate(1 << bit);
                if right != Rights::NONE && required.contains(right) {
                    assert_eq!(
                        decode(info, without(Rights::ALL, right), msg, caps),
                        Err(DecodeError::IllegalOperation),
                        "missing right {right:?}"
                    );
                }
            }
            for length in 0..info.length {
                let short = MessageInfo { length, ..info };
                assert_eq!(
                    decode(short, Rights::ALL, msg, caps),
                    Err(DecodeError::TruncatedMessage),
                    "header length {length}"
                );
                assert_eq!(
                    decode(info, Rights::ALL, &msg[..length], caps),
                    Err(DecodeError::TruncatedMessage),
                    "buffer length {length}"
                );
            }
            for count in 0..info.caps {
                let short = MessageInfo {
                    caps: count,
                    ..info
                };
                assert_eq!(
                    decode(short, Rights::ALL, msg, caps),
                    Err(DecodeError::TruncatedMessage),
                    "header caps {count}"
                );
                assert_eq!(
                    decode(info, Rights::ALL, msg, &caps[..count]),
                    Err(DecodeError::TruncatedMessage),
                    "cap list {count}"
                );
            }
            let mut long = msg.to_vec();
            long.push(u64::MAX);
            let mut more_caps = caps.to_vec();
            more_caps.push(Cap::NULL);
            let longer = MessageInfo {
                length: info.length + 1,
                caps: info.caps + 1,
                ..info
            };
            assert_eq!(
                decode(longer, Rights::ALL, &long, &more_caps).as_ref(),
                Ok(expected)
            );
        }

        /// Word `word` of a valid request set to `bad` is `InvalidArgument`
        /// at parameter `index`.
        fn check_bad_word<T: PartialEq + std::fmt::Debug>(
            decode: Decoder<T>,
            info: MessageInfo,
            msg: &[u64],
            caps: &[Cap],
            word: usize,
            bad: u64,
            index: u64,
        ) {
            let mut msg = msg[..info.length].to_vec();
            msg[word] = bad;
            assert_eq!(
                decode(info, Rights::ALL, &msg, caps),
                Err(DecodeError::InvalidArgument { index })
            );
        }

        /// Extra cap `at` of a valid request replaced by `bad` is
        /// `InvalidCapability` at parameter `index`.
        fn check_bad_cap<T: PartialEq + std::fmt::Debug>(
            decode: Decoder<T>,
            info: MessageInfo,
            msg: &[u64],
            caps: &[Cap],
            at: usize,
            bad: Cap,
            index: u64,
        ) {
            let mut caps = caps.to_vec();
            caps[at] = bad;
            assert_eq!(
                decode(info, Rights::ALL, &msg[..info.length], &caps),
                Err(DecodeError::InvalidCapability { index })
            );
        }

        /// Labels outside `1..=methods` are `IllegalOperation`, whatever the
        /// rest of the message.
        fn check_unknown_label<T: PartialEq + std::fmt::Debug>(
            decode: Decoder<T>,
            methods: u64,
            label: u64,
        ) {
            if (1..=methods).contains(&label) {
                return;
            }
            let (msg, _) = buffers();
            let caps = [Cap::NULL; target::CAPS_PER_MESSAGE];
            let info = MessageInfo {
                label,
                length: msg.len(),
                caps: caps.len(),
            };
            assert_eq!(
                decode(info, Rights::ALL, &msg, &caps),
                Err(DecodeError::IllegalOperation)
            );
        }

        /// A transport playing the kernel: it keeps the request a client
        /// sends (header, words, extra caps) and answers with `reply`.
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

        /// The request a client method sends (`call` makes the client over
        /// the transport and calls it): its header, its words in a buffer
        /// of the target's size, and its extra caps. The header counts
        /// the words and caps sent.
        fn sent<R>(
            call: impl FnOnce(&mut Kernel) -> R,
        ) -> (MessageInfo, [u64; target::MESSAGE_WORDS], Vec<u64>) {
            let mut kernel = Kernel::default();
            let _ = call(&mut kernel);
            let (info, words, caps) = kernel.sent;
            assert_eq!((info.length, info.caps), (words.len(), caps.len()));
            let mut msg = [0; target::MESSAGE_WORDS];
            msg[..words.len()].copy_from_slice(&words);
            (info, msg, caps)
        }

        /// What a client method (called by `call`) makes of the reply
        /// `info` with the words `msg`.
        fn answer<R>(info: MessageInfo, msg: &[u64], call: impl FnOnce(&mut Kernel) -> R) -> R {
            let mut kernel = Kernel {
                reply: (info, msg.to_vec()),
                ..Kernel::default()
            };
            call(&mut kernel)
        }

        /// A client method without results, as `reply` calls it on a
        /// reply: success is `Ok(())`, `error` comes back as
        /// `InvocationError::Kernel` if the method declares it (its number
        /// is in `declared`) and is `InvocationError::Malformed` if not, and
        /// a label outside the set, a short payload or a header claiming
        /// more words than a message holds is `InvocationError::Malformed`.
        fn check_reply(
            reply: fn(MessageInfo, &[u64]) -> Result<(), InvocationError<KernelError>>,
            error: KernelError,
            unknown: u64,
            declared: &[u64],
        ) {
            assert_eq!(reply(MessageInfo::default(), &[]), Ok(()));
            let (mut msg, _) = buffers();
            let info = error.reply(&mut msg);
            if declared.contains(&error.number()) {
                assert_eq!(reply(info, &msg), Err(InvocationError::Kernel(error)));
                if info.length > 0 {
                    let short = MessageInfo {
                        length: info.length - 1,
                        ..info
                    };
                    assert_eq!(reply(short, &msg), Err(InvocationError::Malformed(short)));
                }
            } else {
                assert_eq!(reply(info, &msg), Err(InvocationError::Malformed(info)));
            }
            for &number in declared {
                let long = MessageInfo {
                    label: number,
                    length: target::MESSAGE_WORDS + 1,
                    caps: 0,
                };
                assert_eq!(reply(long, &msg), Err(InvocationError::Malformed(long)));
            }
            let bad = MessageInfo {
                label: unknown,
                ..info
            };
            assert_eq!(reply(bad, &msg), Err(InvocationError::Malformed(bad)));
        }

        /// `encode` writes the payload `decode` reads back, `number` is the
        /// label of `reply`, and a payload one word short does not decode.
        fn check_error<E: Copy + PartialEq + std::fmt::Debug>(
            error: E,
            number: fn(&E) -> u64,
            encode: fn(&E, &mut [u64]) -> usize,
            decode: fn(u64, &[u64]) -> Option<E>,
            reply: fn(&E, &mut [u64]) -> MessageInfo,
            payload: &[u64],
        ) {
            let mut msg = [u64::MAX; 8];
            let n = encode(&error, &mut msg);
            assert_eq!(&msg[..n], payload);
            assert!(
                msg[n..].iter().all(|w| *w == u64::MAX),
                "wrote past its payload"
            );
            assert_eq!(decode(number(&error), &msg[..n]), Some(error));
            assert_eq!(decode(number(&error), &msg), Some(error));
            if n > 0 {
                assert_eq!(decode(number(&error), &msg[..n - 1]), None);
            }
            assert_eq!(decode(0, &msg), None);
            let mut msg = [0; 8];
            let info = reply(&error, &mut msg);
            assert_eq!(
                info,
                MessageInfo {
                    label: number(&error),
                    length: n,
                    caps: 0
                }
            );
            assert_eq!(decode(info.label, &msg[..info.length]), Some(error));
        }
    };
}

mod kernel {
    use super::*;
    use capc_generated_tests::kernel::*;

    checks!();

    const KERNEL_ERRORS: u64 = 10;

    fn cnode(seed: u64) -> CNodeCap {
        CNodeCap::new(
            (seed % (1 << 43)) << 5,
            (seed % 32) as u8,
            (seed % 64) as u8,
            seed,
        )
        .unwrap()
    }
    fn pml4(seed: u64) -> Pml4Cap {
        Pml4Cap::new((seed % (1 << 36)) << 12, ((seed >> 36) % (1 << 12)) as u16).unwrap()
    }
    fn frame(seed: u64, rights: Rights) -> FrameCap {
        FrameCap::new(
            (seed % (1 << 36)) << 12,
            12,
            rights,
            seed % (1 << 36),
            seed & 1 == 1,
            ((seed >> 8) % 256) as u16,
        )
        .unwrap()
    }
    fn notification(seed: u64, rights: Rights) -> NotificationCap {
        NotificationCap::new((seed % (1 << 43)) << 5, rights, seed).unwrap()
    }
    fn tcb(seed: u64) -> TcbCap {
        TcbCap::new((seed % (1 << 37)) << 11).unwrap()
    }
    const RW: Rights = Rights::READ.union(Rights::WRITE);

    fn kernel_error() -> impl Strategy<Value = KernelError> {
        prop_oneof![
            any::<u64>().prop_map(|index| KernelError::InvalidArgument { index }),
            any::<u64>().prop_map(|index| KernelError::InvalidCapability { index }),
            Just(KernelError::IllegalOperation),
            (any::<u64>(), any::<u64>())
                .prop_map(|(min, max)| KernelError::RangeError { min, max }),
            Just(KernelError::AlignmentError),
            any::<u64>().prop_map(|source| KernelError::FailedLookup { source }),
            Just(KernelError::TruncatedMessage),
            Just(KernelError::DeleteFirst),
            Just(KernelError::RevokeFirst),
            any::<u64>().prop_map(|left| KernelError::NotEnoughMemory { left }),
        ]
    }

    fn payload(e: &KernelError) -> Vec<u64> {
        match *e {
            KernelError::InvalidArgument { index } | KernelError::InvalidCapability { index } => {
                vec![index]
            }
            KernelError::RangeError { min, max } => vec![min, max],
            KernelError::FailedLookup { source } => vec![source],
            KernelError::NotEnoughMemory { left } => vec![left],
            _ => vec![],
        }
    }

    #[test]
    fn error_numbers_follow_declaration_order() {
        let all = [
            KernelError::InvalidArgument { index: 0 },
            KernelError::InvalidCapability { index: 0 },
            KernelError::IllegalOperation,
            KernelError::RangeError { min: 0, max: 0 },
            KernelError::AlignmentError,
            KernelError::FailedLookup { source: 0 },
            KernelError::TruncatedMessage,
            KernelError::DeleteFirst,
            KernelError::RevokeFirst,
            KernelError::NotEnoughMemory { left: 0 },
        ];
        for (i, e) in all.iter().enumerate() {
            assert_eq!(e.number(), i as u64 + 1, "{e:?}");
        }
        assert_eq!(KernelError::decode(0, &[0, 0]), None);
        assert_eq!(KernelError::decode(KERNEL_ERRORS + 1, &[0, 0]), None);
        assert_eq!(KernelError::decode(u64::MAX, &[0, 0]), None);
    }

    #[test]
    fn labels_are_positions_from_one() {
        assert_eq!(UntypedCapLabel::Retype as u64, 1);
        let cnode = [
            CNodeCapLabel::Copy,
            CNodeCapLabel::Mint,
            CNodeCapLabel::Move,
            CNodeCapLabel::Delete,
            CNodeCapLabel::Revoke,
            CNodeCapLabel::Mutate,
        ];
        for (i, l) in cnode.into_iter().enumerate() {
            assert_eq!(l as u64, i as u64 + 1);
            assert_eq!(CNodeCapLabel::from_word(i as u64 + 1), Some(l));
        }
        assert_eq!(CNodeCapLabel::from_word(0), None);
        assert_eq!(CNodeCapLabel::from_word(7), None);
        assert_eq!(TcbCapLabel::Suspend as u64, 4);
        assert_eq!(FrameCapLabel::Map.requires(), Rights::READ);
        assert_eq!(FrameCapLabel::Unmap.requires(), Rights::NONE);
        assert_eq!(TcbCapLabel::SetFaultHandler as u64, 5);
        assert_eq!(TcbCapLabel::Configure.request_words(), 1);
        assert_eq!(TcbCapLabel::Configure.request_caps(), 3);
        assert_eq!(TcbCapLabel::SetFaultHandler.request_caps(), 1);
        assert_eq!(IrqHandlerCapLabel::SetNotification as u64, 2);
    }

    #[test]
    fn frame_map_requires_read() {
        let (info, msg, _) = sent(|k| FrameCapClient(k).map(Slot::new(1), 0x1000, 3));
        let looked_up = [pml4(1).cap()];
        assert_eq!(
            decode_frame_cap(info, Rights::WRITE, &msg, &looked_up),
            Err(DecodeError::IllegalOperation)
        );
        assert_eq!(
            decode_frame_cap(info, Rights::NONE, &msg, &looked_up),
            Err(DecodeError::IllegalOperation)
        );
        // Rights are checked before the length: a short request without
        // the right is still an illegal operation.
        let short = MessageInfo { length: 0, ..info };
        assert_eq!(
            decode_frame_cap(short, Rights::WRITE, &msg, &looked_up),
            Err(DecodeError::IllegalOperation)
        );
        assert!(decode_frame_cap(info, Rights::READ, &msg, &looked_up).is_ok());
        // Unmap requires nothing.
        let (info, _, _) = sent(|k| FrameCapClient(k).unmap());
        assert_eq!(
            decode_frame_cap(info, Rights::NONE, &[], &[]),
            Ok(FrameCapInvocation::Unmap)
        );
    }

    #[test]
    fn malformed_replies() {
        let retype = |info, msg: &[u64]| {
            answer(info, msg, |k| {
                UntypedCapClient(k).retype(0, 0, Slot::new(0), 0, 0, 0, 0)
            })
        };
        // A RangeError reply carries two words; a short one is malformed.
        let info = MessageInfo {
            label: 4,
            length: 1,
            caps: 0,
        };
        assert_eq!(retype(info, &[1, 2]), Err(InvocationError::Malformed(info)));
        // The header may not claim more words than a message holds.
        let info = MessageInfo {
            label: 0,
            length: target::MESSAGE_WORDS + 1,
            caps: 0,
        };
        assert_eq!(
            answer(info, &[], |k| TcbCapClient(k).resume()),
            Err(InvocationError::Malformed(info))
        );
        // An error the method does not declare is malformed, one it
        // declares is the kernel's.
        let mut msg = [0; 4];
        let info = KernelError::NotEnoughMemory { left: 5 }.reply(&mut msg);
        assert_eq!(
            answer(info, &msg, |k| IrqHandlerCapClient(k).ack()),
            Err(InvocationError::Malformed(info))
        );
        assert_eq!(
            retype(info, &msg),
            Err(InvocationError::Kernel(KernelError::NotEnoughMemory {
                left: 5
            }))
        );
    }

    proptest! {
        #[test]
        fn errors_round_trip(e in kernel_error()) {
            check_error(e, KernelError::number, KernelError::encode, KernelError::decode, KernelError::reply, &payload(&e));
        }

        #[test]
        fn unknown_labels(label: u64) {
            check_unknown_label(decode_untyped_cap, 1, label);
            check_unknown_label(decode_cnode_cap, 5, label);
            check_unknown_label(decode_tcb_cap, 4, label);
            check_unknown_label(decode_frame_cap, 2, label);
            check_unknown_label(decode_pdpt_cap, 1, label);
            check_unknown_label(decode_page_directory_cap, 1, label);
            check_unknown_label(decode_page_table_cap, 1, label);
            check_unknown_label(decode_irq_control_cap, 1, label);
            check_unknown_label(decode_irq_handler_cap, 3, label);
        }

        #[test]
        fn untyped_cap_retype(
            object_type: u64, size_arg: u64, root_cptr: u64, root_seed: u64, index: u64,
            depth: u64, offset: u64, count: u64, e in kernel_error(),
        ) {
            let (info, msg, caps) = sent(|k| UntypedCapClient(k).retype(object_type, size_arg, Slot::new(root_cptr), index, depth, offset, count));
            prop_assert_eq!(info, MessageInfo { label: 1, length: 6, caps: 1 });
            prop_assert_eq!(caps[0], root_cptr);
            // `root` is `#[unchecked]`: the decoder hands over any cap,
            // even none, for the kernel to check in seL4's place.
            for root in [cnode(root_seed).cap(), Cap::NULL, pml4(root_seed).cap()] {
                let expected = UntypedCapInvocation::Retype(UntypedCapRetype {
                    object_type, size_arg, root, index, depth, offset, count,
                });
                prop_assert_eq!(expected.label(), UntypedCapLabel::Retype);
                check_request(decode_untyped_cap, info, &msg, &[root], Rights::NONE, &expected);
            }
            check_reply(|i, m| answer(i, m, |k| UntypedCapClient(k).retype(Default::default(), Default::default(), Slot::new(0), Default::default(), Default::default(), Default::default(), Default::default())), e, KERNEL_ERRORS + 1, &[1, 4, 6, 8, 10, 3, 7]);
        }

        #[test]
        fn cnode_cap_copy_mint_move(
            dest_index: u64, dest_depth: u64, src_cptr: u64, src_seed: u64, src_index: u64,
            src_depth: u64, rights: u64, badge: u64, e in kernel_error(),
        ) {
            // `src_root` is `#[unchecked]`: the decoder hands over any cap,
            // even none, for the kernel to look the source up from.
            let roots = [cnode(src_seed).cap(), Cap::NULL, tcb(src_seed).cap(), pml4(src_seed).cap()];

            let (info, msg, caps) = sent(|k| CNodeCapClient(k).copy(dest_index, dest_depth, Slot::new(src_cptr), src_index, src_depth, rights));
            prop_assert_eq!(info, MessageInfo { label: 1, length: 5, caps: 1 });
            prop_assert_eq!(caps[0], src_cptr);
            for src_root in roots {
                let expected = CNodeCapInvocation::Copy(CNodeCapCopy {
                    dest_index, dest_depth, src_root, src_index, src_depth, rights,
                });
                check_request(decode_cnode_cap, info, &msg, &[src_root], Rights::NONE, &expected);
            }
            check_reply(|i, m| answer(i, m, |k| CNodeCapClient(k).copy(Default::default(), Default::default(), Slot::new(0), Default::default(), Default::default(), Default::default())), e, KERNEL_ERRORS + 1, &[6, 4, 8, 9, 2, 3, 7]);

            let (info, msg, caps) = sent(|k| CNodeCapClient(k).mint(dest_index, dest_depth, Slot::new(src_cptr), src_index, src_depth, rights, badge));
            prop_assert_eq!(info, MessageInfo { label: 2, length: 6, caps: 1 });
            prop_assert_eq!(caps[0], src_cptr);
            for src_root in roots {
                let expected = CNodeCapInvocation::Mint(CNodeCapMint {
                    dest_index, dest_depth, src_root, src_index, src_depth, rights, badge,
                });
                check_request(decode_cnode_cap, info, &msg, &[src_root], Rights::NONE, &expected);
            }
            check_reply(|i, m| answer(i, m, |k| CNodeCapClient(k).mint(Default::default(), Default::default(), Slot::new(0), Default::default(), Default::default(), Default::default(), Default::default())), e, KERNEL_ERRORS + 1, &[6, 4, 8, 9, 2, 3, 7]);

            let (info, msg, caps) = sent(|k| CNodeCapClient(k).r#move(dest_index, dest_depth, Slot::new(src_cptr), src_index, src_depth));
            prop_assert_eq!(info, MessageInfo { label: 3, length: 4, caps: 1 });
            prop_assert_eq!(caps[0], src_cptr);
            for src_root in roots {
                let expected = CNodeCapInvocation::Move(CNodeCapMove {
                    dest_index, dest_depth, src_root, src_index, src_depth,
                });
                check_request(decode_cnode_cap, info, &msg, &[src_root], Rights::NONE, &expected);
            }
            check_reply(|i, m| answer(i, m, |k| CNodeCapClient(k).r#move(Default::default(), Default::default(), Slot::new(0), Default::default(), Default::default())), e, KERNEL_ERRORS + 1, &[6, 4, 8, 7]);
        }

        #[test]
        fn cnode_cap_delete_revoke(index: u64, depth: u64, e in kernel_error()) {
            let (info, msg, _) = sent(|k| CNodeCapClient(k).delete(index, depth));
            prop_assert_eq!(info, MessageInfo { label: 4, length: 2, caps: 0 });
            let expected = CNodeCapInvocation::Delete(CNodeCapDelete { index, depth });
            check_request(decode_cnode_cap, info, &msg, &[], Rights::NONE, &expected);
            check_reply(|i, m| answer(i, m, |k| CNodeCapClient(k).delete(Default::default(), Default::default())), e, KERNEL_ERRORS + 1, &[6, 4, 7]);

            let (info, msg, _) = sent(|k| CNodeCapClient(k).revoke(index, depth));
            prop_assert_eq!(info, MessageInfo { label: 5, length: 2, caps: 0 });
            let expected = CNodeCapInvocation::Revoke(CNodeCapRevoke { index, depth });
            check_request(decode_cnode_cap, info, &msg, &[], Rights::NONE, &expected);
            check_reply(|i, m| answer(i, m, |k| CNodeCapClient(k).revoke(Default::default(), Default::default())), e, KERNEL_ERRORS + 1, &[6, 4, 7]);
        }

        #[test]
        fn tcb_cap_invocations(
            cptrs: [u64; 3], seed: u64, buffer_addr: u64,
            ip: u64, sp: u64, arg: u64, e in kernel_error(),
        ) {
            let (info, msg, caps) = sent(|k| TcbCapClient(k).configure(Slot::new(cptrs[0]), Slot::new(cptrs[1]), Slot::new(cptrs[2]), buffer_addr));
            prop_assert_eq!(info, MessageInfo { label: 1, length: 1, caps: 3 });
            prop_assert_eq!(caps, cptrs);
            let (cspace, vspace, buffer) = (cnode(seed), pml4(seed), frame(seed, RW));
            // All three caps are `#[unchecked]`: handed over as they are,
            // right or wrong, for the kernel to check in seL4's order.
            let (cspace, vspace, buffer) = (cspace.cap(), vspace.cap(), buffer.cap());
            let read_only = frame(seed, Rights::READ).cap();
            for looked_up in [[cspace, vspace, buffer], [vspace, cspace, Cap::NULL], [cspace, vspace, read_only]] {
                let [cspace, vspace, buffer] = looked_up;
                let expected = TcbCapInvocation::Configure(TcbCapConfigure {
                    cspace, vspace, buffer, buffer_addr,
                });
                check_request(decode_tcb_cap, info, &msg, &looked_up, Rights::NONE, &expected);
            }
            check_reply(|i, m| answer(i, m, |k| TcbCapClient(k).configure(Slot::new(0), Slot::new(0), Slot::new(0), 0)), e, KERNEL_ERRORS + 1, &[5, 3, 7]);

            let (info, msg, _) = sent(|k| TcbCapClient(k).write_registers(ip, sp, arg));
            prop_assert_eq!(info, MessageInfo { label: 2, length: 3, caps: 0 });
            let expected = TcbCapInvocation::WriteRegisters(TcbCapWriteRegisters { ip, sp, arg });
            check_request(decode_tcb_cap, info, &msg, &[], Rights::NONE, &expected);
            check_reply(|i, m| answer(i, m, |k| TcbCapClient(k).write_registers(Default::default(), Default::default(), Default::default())), e, KERNEL_ERRORS + 1, &[1, 7]);

            let (info, _, _) = sent(|k| TcbCapClient(k).resume());
            prop_assert_eq!(info, MessageInfo { label: 3, length: 0, caps: 0 });
            check_request(decode_tcb_cap, info, &[], &[], Rights::NONE, &TcbCapInvocation::Resume);
            check_reply(|i, m| answer(i, m, |k| TcbCapClient(k).resume()), e, KERNEL_ERRORS + 1, &[]);

            let (info, _, _) = sent(|k| TcbCapClient(k).suspend());
            prop_assert_eq!(info, MessageInfo { label: 4, length: 0, caps: 0 });
            check_request(decode_tcb_cap, info, &[], &[], Rights::NONE, &TcbCapInvocation::Suspend);
            check_reply(|i, m| answer(i, m, |k| TcbCapClient(k).suspend()), e, KERNEL_ERRORS + 1, &[]);

            // A fault handler: an endpoint cap that may send.
            let (info, _, caps) = sent(|k| TcbCapClient(k).set_fault_handler(Slot::new(cptrs[0])));
            prop_assert_eq!(info, MessageInfo { label: 5, length: 0, caps: 1 });
            prop_assert_eq!(caps[0], cptrs[0]);
            let endpoint = EndpointCap::new(seed << 4 & ((1 << 48) - 1), Rights::WRITE, seed).unwrap();
            let looked_up = [endpoint.cap()];
            let expected = TcbCapInvocation::SetFaultHandler(TcbCapSetFaultHandler { endpoint });
            check_request(decode_tcb_cap, info, &[], &looked_up, Rights::NONE, &expected);
            let receive_only = EndpointCap::new(endpoint.endpoint(), Rights::READ, seed).unwrap();
            check_bad_cap(decode_tcb_cap, info, &[], &looked_up, 0, receive_only.cap(), 0);
            check_bad_cap(decode_tcb_cap, info, &[], &looked_up, 0, cspace, 0);
            check_reply(|i, m| answer(i, m, |k| TcbCapClient(k).set_fault_handler(Slot::new(0))), e, KERNEL_ERRORS + 1, &[2, 3, 7]);

            // Priorities: a word (any: the kernel bounds it by the
            // authority's MCP) and the authority's TCB cap.
            for (label, priority) in [(6, ip), (7, sp)] {
                let (info, msg, caps) = if label == 6 {
                    sent(|k| TcbCapClient(k).set_priority(priority, Slot::new(cptrs[1])))
                } else {
                    sent(|k| TcbCapClient(k).set_mc_priority(priority, Slot::new(cptrs[1])))
                };
                prop_assert_eq!(info, MessageInfo { label, length: 1, caps: 1 });
                prop_assert_eq!(caps[0], cptrs[1]);
                let authority = tcb(seed);
                let looked_up = [authority.cap()];
                let expected = if label == 6 {
                    TcbCapInvocation::SetPriority(TcbCapSetPriority { priority, authority })
                } else {
                    TcbCapInvocation::SetMcPriority(TcbCapSetMcPriority { mcp: priority, authority })
                };
                check_request(decode_tcb_cap, info, &msg, &looked_up, Rights::NONE, &expected);
                check_bad_cap(decode_tcb_cap, info, &msg, &looked_up, 0, cnode(seed).cap(), 1);
            }
            check_reply(|i, m| answer(i, m, |k| TcbCapClient(k).set_priority(Default::default(), Slot::new(0))), e, KERNEL_ERRORS + 1, &[2, 4, 7]);
        }

        #[test]
        fn frame_cap_invocations(
            vspace_cptr: u64, seed: u64, vaddr: u64, rights: u64, e in kernel_error(),
        ) {
            let (info, msg, caps) = sent(|k| FrameCapClient(k).map(Slot::new(vspace_cptr), vaddr, rights));
            prop_assert_eq!(info, MessageInfo { label: 1, length: 2, caps: 1 });
            prop_assert_eq!(caps[0], vspace_cptr);
            let vspace = pml4(seed);
            let looked_up = [vspace.cap()];
            let expected = FrameCapInvocation::Map(FrameCapMap { vspace, vaddr, rights });
            check_request(decode_frame_cap, info, &msg, &looked_up, Rights::READ, &expected);
            check_bad_cap(decode_frame_cap, info, &msg, &looked_up, 0, cnode(seed).cap(), 0);
            check_reply(|i, m| answer(i, m, |k| FrameCapClient(k).map(Slot::new(0), Default::default(), Default::default())), e, KERNEL_ERRORS + 1, &[1, 2, 5, 6, 8, 3, 7]);

            let (info, _, _) = sent(|k| FrameCapClient(k).unmap());
            prop_assert_eq!(info, MessageInfo { label: 2, length: 0, caps: 0 });
            check_request(decode_frame_cap, info, &[], &[], Rights::NONE, &FrameCapInvocation::Unmap);
            check_reply(|i, m| answer(i, m, |k| FrameCapClient(k).unmap()), e, KERNEL_ERRORS + 1, &[]);
        }

        #[test]
        fn page_table_maps(vspace_cptr: u64, seed: u64, vaddr: u64, e in kernel_error()) {
            let vspace = pml4(seed);
            let looked_up = [vspace.cap()];
            let wrong = notification(seed, RW).cap();

            let (info, msg, caps) = sent(|k| PdptCapClient(k).map(Slot::new(vspace_cptr), vaddr));
            prop_assert_eq!(info, MessageInfo { label: 1, length: 1, caps: 1 });
            prop_assert_eq!(caps[0], vspace_cptr);
            let expected = PdptCapInvocation::Map(PdptCapMap { vspace, vaddr });
            check_request(decode_pdpt_cap, info, &msg, &looked_up, Rights::NONE, &expected);
            check_bad_cap(decode_pdpt_cap, info, &msg, &looked_up, 0, wrong, 0);
            check_reply(|i, m| answer(i, m, |k| PdptCapClient(k).map(Slot::new(0), Default::default())), e, KERNEL_ERRORS + 1, &[1, 2, 5, 6, 8, 7]);

            let (info, msg, caps) = sent(|k| PageDirectoryCapClient(k).map(Slot::new(vspace_cptr), vaddr));
            prop_assert_eq!(info, MessageInfo { label: 1, length: 1, caps: 1 });
            prop_assert_eq!(caps[0], vspace_cptr);
            let expected = PageDirectoryCapInvocation::Map(PageDirectoryCapMap { vspace, vaddr });
            check_request(decode_page_directory_cap, info, &msg, &looked_up, Rights::NONE, &expected);
            check_bad_cap(decode_page_directory_cap, info, &msg, &looked_up, 0, wrong, 0);
            check_reply(|i, m| answer(i, m, |k| PageDirectoryCapClient(k).map(Slot::new(0), Default::default())), e, KERNEL_ERRORS + 1, &[1, 2, 5, 6, 8, 7]);

            let (info, msg, caps) = sent(|k| PageTableCapClient(k).map(Slot::new(vspace_cptr), vaddr));
            prop_assert_eq!(info, MessageInfo { label: 1, length: 1, caps: 1 });
            prop_assert_eq!(caps[0], vspace_cptr);
            let expected = PageTableCapInvocation::Map(PageTableCapMap { vspace, vaddr });
            check_request(decode_page_table_cap, info, &msg, &looked_up, Rights::NONE, &expected);
            check_bad_cap(decode_page_table_cap, info, &msg, &looked_up, 0, wrong, 0);
            check_reply(|i, m| answer(i, m, |k| PageTableCapClient(k).map(Slot::new(0), Default::default())), e, KERNEL_ERRORS + 1, &[1, 2, 5, 6, 8, 7]);
        }

        #[test]
        fn irq_control_cap_get(
            irq: u8, root_cptr: u64, seed: u64, index: u64, depth: u64, bad in 256u64..,
            e in kernel_error(),
        ) {
            let (info, msg, caps) = sent(|k| IrqControlCapClient(k).get(irq, Slot::new(root_cptr), index, depth));
            prop_assert_eq!(info, MessageInfo { label: 1, length: 3, caps: 1 });
            prop_assert_eq!(caps[0], root_cptr);
            // `root` is `#[unchecked]`: handed over as it is.
            for root in [cnode(seed).cap(), Cap::NULL, pml4(seed).cap()] {
                let looked_up = [root];
                let expected = IrqControlCapInvocation::Get(IrqControlCapGet { irq, root, index, depth });
                check_request(decode_irq_control_cap, info, &msg, &looked_up, Rights::NONE, &expected);
                check_bad_word(decode_irq_control_cap, info, &msg, &looked_up, 0, bad, 0);
            }
            check_reply(|i, m| answer(i, m, |k| IrqControlCapClient(k).get(Default::default(), Slot::new(0), Default::default(), Default::default())), e, KERNEL_ERRORS + 1, &[1, 4, 6, 8, 9, 7]);
        }

        #[test]
        fn irq_handler_cap_invocations(cptr: u64, seed: u64, e in kernel_error()) {
            let (info, _, _) = sent(|k| IrqHandlerCapClient(k).ack());
            prop_assert_eq!(info, MessageInfo { label: 1, length: 0, caps: 0 });
            check_request(decode_irq_handler_cap, info, &[], &[], Rights::NONE, &IrqHandlerCapInvocation::Ack);
            check_reply(|i, m| answer(i, m, |k| IrqHandlerCapClient(k).ack()), e, KERNEL_ERRORS + 1, &[]);

            let (info, _, caps) = sent(|k| IrqHandlerCapClient(k).set_notification(Slot::new(cptr)));
            prop_assert_eq!(info, MessageInfo { label: 2, length: 0, caps: 1 });
            prop_assert_eq!(caps[0], cptr);
            let notification = notification(seed, Rights::WRITE);
            let looked_up = [notification.cap()];
            let expected = IrqHandlerCapInvocation::SetNotification(IrqHandlerCapSetNotification {
                notification,
            });
            check_request(decode_irq_handler_cap, info, &[], &looked_up, Rights::NONE, &expected);
            // The notification must carry write.
            check_bad_cap(decode_irq_handler_cap, info, &[], &looked_up, 0, notification_read(seed), 0);
            check_bad_cap(decode_irq_handler_cap, info, &[], &looked_up, 0, tcb(seed).cap(), 0);
            check_reply(|i, m| answer(i, m, |k| IrqHandlerCapClient(k).set_notification(Slot::new(0))), e, KERNEL_ERRORS + 1, &[2, 7]);

            let (info, _, _) = sent(|k| IrqHandlerCapClient(k).clear());
            prop_assert_eq!(info, MessageInfo { label: 3, length: 0, caps: 0 });
            check_request(decode_irq_handler_cap, info, &[], &[], Rights::NONE, &IrqHandlerCapInvocation::Clear);
            check_reply(|i, m| answer(i, m, |k| IrqHandlerCapClient(k).clear()), e, KERNEL_ERRORS + 1, &[]);
        }
    }

    fn notification_read(seed: u64) -> Cap {
        notification(seed, Rights::READ).cap()
    }
}

mod everything {
    use super::*;
    use capc_generated_tests::everything::*;

    checks!();

    const KERNEL_ERRORS: u64 = 7;
    const FILE_ERRORS: u64 = 3;

    fn cnode(seed: u64) -> CNodeCap {
        CNodeCap::new(
            (seed % (1 << 42)) << 6,
            (seed % 32) as u8,
            (seed % 64) as u8,
            seed,
        )
        .unwrap()
    }
    fn frame(seed: u64, rights: Rights) -> FrameCap {
        FrameCap::new((seed % (1 << 36)) << 12, 21, rights, seed & 1 == 0, 0, 0).unwrap()
    }
    fn notification(seed: u64, rights: Rights) -> NotificationCap {
        NotificationCap::new((seed % (1 << 43)) << 5, rights, (seed % (1 << 32)) as u32).unwrap()
    }
    fn tcb(seed: u64) -> TcbCap {
        TcbCap::new((seed % (1 << 38)) << 10).unwrap()
    }
    fn domain(seed: u64) -> DomainCap {
        DomainCap::new((seed % 256) as u8).unwrap()
    }
    const RW: Rights = Rights::READ.union(Rights::WRITE);

    #[test]
    fn checks_run_in_order() {
        let (info, mut msg, _) =
            sent(|k| UntypedCapClient(k).retype(1, 2, Slot::new(3), 4, 5, 6, 7));
        // Length before arguments: a bad depth in a short message is truncation.
        msg[3] = 300;
        let short = MessageInfo { length: 4, ..info };
        assert_eq!(
            decode_untyped_cap(short, Rights::ALL, &msg, &[cnode(1).cap()]),
            Err(DecodeError::TruncatedMessage)
        );
        // Parameters in order: a bad cap (position 2) before a bad depth (4).
        assert_eq!(
            decode_untyped_cap(info, Rights::ALL, &msg, &[Cap::NULL]),
            Err(DecodeError::InvalidCapability { index: 2 })
        );
        assert_eq!(
            decode_untyped_cap(info, Rights::ALL, &msg, &[cnode(1).cap()]),
            Err(DecodeError::InvalidArgument { index: 4 })
        );
    }

    #[test]
    fn an_unchecked_cap_is_handed_over_as_it_is() {
        let (info, mut msg, _) = sent(|k| TcbCapClient(k).set_space(Slot::new(9), 12));
        assert_eq!(
            info,
            MessageInfo {
                label: 3,
                length: 1,
                caps: 1
            }
        );
        // Any cap, of any type or none, reaches the kernel; the words are
        // still checked, in order.
        for cspace in [cnode(1).cap(), tcb(1).cap(), Cap::NULL] {
            assert_eq!(
                decode_tcb_cap(info, Rights::ALL, &msg, &[cspace]),
                Ok(TcbCapInvocation::SetSpace(TcbCapSetSpace {
                    cspace,
                    guard_bits: 12,
                }))
            );
        }
        msg[0] = 64;
        assert_eq!(
            decode_tcb_cap(info, Rights::ALL, &msg, &[Cap::NULL]),
            Err(DecodeError::InvalidArgument { index: 1 })
        );
    }

    /// A `u6` argument wider than 6 bits is refused by the client, before
    /// anything is sent, never cut to its low bits (as the decoder refuses
    /// such a word).
    #[test]
    fn a_narrow_integer_too_wide_is_refused_by_the_client() {
        for guard_bits in [64u8, 65, 255] {
            let mut kernel = Kernel::default();
            assert_eq!(
                TcbCapClient(&mut kernel).set_space(Slot::new(9), guard_bits),
                Err(InvocationError::Argument(FieldError {
                    field: "guard_bits",
                    value: u64::from(guard_bits),
                }))
            );
            assert_eq!(kernel.sent.0, MessageInfo::default(), "nothing was sent");
        }
        let mut kernel = Kernel::default();
        assert_eq!(
            TcbCapClient(&mut kernel).set_space(Slot::new(9), 63),
            Ok(())
        );
        assert_eq!(kernel.sent.1, vec![63]);
    }

    fn kernel_error() -> impl Strategy<Value = KernelError> {
        prop_oneof![
            any::<u64>().prop_map(|index| KernelError::InvalidArgument { index }),
            any::<u64>().prop_map(|index| KernelError::InvalidCapability { index }),
            (any::<u64>(), any::<u64>())
                .prop_map(|(min, max)| KernelError::RangeError { min, max }),
            any::<u64>().prop_map(|source| KernelError::FailedLookup { source }),
            Just(KernelError::DeleteFirst),
            any::<u64>().prop_map(|left| KernelError::NotEnoughMemory { left }),
            Just(KernelError::TruncatedMessage),
        ]
    }

    fn kernel_payload(e: &KernelError) -> Vec<u64> {
        match *e {
            KernelError::InvalidArgument { index } | KernelError::InvalidCapability { index } => {
                vec![index]
            }
            KernelError::RangeError { min, max } => vec![min, max],
            KernelError::FailedLookup { source } => vec![source],
            KernelError::NotEnoughMemory { left } => vec![left],
            KernelError::DeleteFirst | KernelError::TruncatedMessage => vec![],
        }
    }

    fn file_error() -> impl Strategy<Value = FileError> {
        prop_oneof![
            Just(FileError::NotFound),
            any::<u64>().prop_map(|needed| FileError::OutOfBudget { needed }),
            any::<u64>().prop_map(|max| FileError::TooLarge { max }),
        ]
    }

    fn file_payload(e: &FileError) -> Vec<u64> {
        match *e {
            FileError::NotFound => vec![],
            FileError::OutOfBudget { needed } => vec![needed],
            FileError::TooLarge { max } => vec![max],
        }
    }

    #[test]
    fn error_numbers_follow_declaration_order() {
        let kernel = [
            KernelError::InvalidArgument { index: 0 },
            KernelError::InvalidCapability { index: 0 },
            KernelError::RangeError { min: 0, max: 0 },
            KernelError::FailedLookup { source: 0 },
            KernelError::DeleteFirst,
            KernelError::NotEnoughMemory { left: 0 },
            KernelError::TruncatedMessage,
        ];
        for (i, e) in kernel.iter().enumerate() {
            assert_eq!(e.number(), i as u64 + 1, "{e:?}");
        }
        assert_eq!(KernelError::decode(KERNEL_ERRORS + 1, &[0; 2]), None);
        let file = [
            FileError::NotFound,
            FileError::OutOfBudget { needed: 0 },
            FileError::TooLarge { max: 0 },
        ];
        for (i, e) in file.iter().enumerate() {
            assert_eq!(e.number(), i as u64 + 1, "{e:?}");
        }
        assert_eq!(FileError::decode(0, &[0]), None);
        assert_eq!(FileError::decode(FILE_ERRORS + 1, &[0]), None);
    }

    #[test]
    fn endpoint_bind_requires_read_and_grant() {
        assert_eq!(
            EndpointCapLabel::Bind.requires(),
            Rights::READ.union(Rights::GRANT)
        );
        let (info, _, _) = sent(|k| EndpointCapClient(k).bind(Slot::new(7)));
        let looked_up = [notification(1, Rights::READ).cap()];
        for rights in [
            Rights::NONE,
            Rights::READ,
            Rights::GRANT,
            Rights::WRITE.union(Rights::GRANT_REPLY),
        ] {
            assert_eq!(
                decode_endpoint_cap(info, rights, &[], &looked_up),
                Err(DecodeError::IllegalOperation),
                "{rights:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn errors_round_trip(k in kernel_error(), f in file_error()) {
            check_error(k, KernelError::number, KernelError::encode, KernelError::decode, KernelError::reply, &kernel_payload(&k));
            check_error(f, FileError::number, FileError::encode, FileError::decode, FileError::reply, &file_payload(&f));
        }

        #[test]
        fn unknown_labels(label: u64) {
            check_unknown_label(decode_untyped_cap, 1, label);
            check_unknown_label(decode_tcb_cap, 2, label);
            check_unknown_label(decode_frame_cap, 1, label);
            check_unknown_label(decode_endpoint_cap, 1, label);
            check_unknown_label(decode_irq_control_cap, 1, label);
            check_unknown_label(decode_domain_cap, 1, label);
        }

        #[test]
        fn untyped_cap_retype(
            object_type: u64, size_arg: u64, root_cptr: u64, seed: u64, index: u64, depth: u8,
            offset: u64, count: u64, bad in 256u64.., e in kernel_error(),
        ) {
            let (info, msg, caps) = sent(|k| UntypedCapClient(k).retype(object_type, size_arg, Slot::new(root_cptr), index, depth, offset, count));
            prop_assert_eq!(info, MessageInfo { label: 1, length: 6, caps: 1 });
            prop_assert_eq!(caps[0], root_cptr);
            let root = cnode(seed);
            let looked_up = [root.cap()];
            let expected = UntypedCapInvocation::Retype(UntypedCapRetype {
                object_type, size_arg, root, index, depth, offset, count,
            });
            check_request(decode_untyped_cap, info, &msg, &looked_up, Rights::NONE, &expected);
            check_bad_word(decode_untyped_cap, info, &msg, &looked_up, 3, bad, 4);
            check_bad_cap(decode_untyped_cap, info, &msg, &looked_up, 0, tcb(seed).cap(), 2);
            check_reply(|i, m| answer(i, m, |k| UntypedCapClient(k).retype(Default::default(), Default::default(), Slot::new(0), Default::default(), Default::default(), Default::default(), Default::default())), e, KERNEL_ERRORS + 1, &[1, 3, 4, 5, 6, 7, 2]);
        }

        #[test]
        fn tcb_cap_invocations(buffer_cptr: u64, seed: u64, buffer_addr: u64, e in kernel_error()) {
            let (info, msg, caps) = sent(|k| TcbCapClient(k).set_ipc_buffer(Slot::new(buffer_cptr), buffer_addr));
            prop_assert_eq!(info, MessageInfo { label: 1, length: 1, caps: 1 });
            prop_assert_eq!(caps[0], buffer_cptr);
            let buffer = frame(seed, RW);
            let looked_up = [buffer.cap()];
            let expected = TcbCapInvocation::SetIpcBuffer(TcbCapSetIpcBuffer { buffer, buffer_addr });
            check_request(decode_tcb_cap, info, &msg, &looked_up, Rights::NONE, &expected);
            check_bad_cap(decode_tcb_cap, info, &msg, &looked_up, 0, frame(seed, Rights::READ).cap(), 0);
            check_bad_cap(decode_tcb_cap, info, &msg, &looked_up, 0, frame(seed, Rights::WRITE).cap(), 0);
            check_bad_cap(decode_tcb_cap, info, &msg, &looked_up, 0, cnode(seed).cap(), 0);
            check_reply(|i, m| answer(i, m, |k| TcbCapClient(k).set_ipc_buffer(Slot::new(0), 0)), e, KERNEL_ERRORS + 1, &[2, 7]);

            let (info, _, _) = sent(|k| TcbCapClient(k).resume());
            prop_assert_eq!(info, MessageInfo { label: 2, length: 0, caps: 0 });
            check_request(decode_tcb_cap, info, &[], &[], Rights::NONE, &TcbCapInvocation::Resume);
            check_reply(|i, m| answer(i, m, |k| TcbCapClient(k).resume()), e, KERNEL_ERRORS + 1, &[]);
        }

        #[test]
        fn frame_cap_map(vaddr: u64, writable: bool, bad in 2u64.., e in kernel_error()) {
            let (info, msg, _) = sent(|k| FrameCapClient(k).map(vaddr, writable));
            prop_assert_eq!(info, MessageInfo { label: 1, length: 2, caps: 0 });
            prop_assert_eq!(msg[1], u64::from(writable));
            let expected = FrameCapInvocation::Map(FrameCapMap { vaddr, writable });
            check_request(decode_frame_cap, info, &msg, &[], Rights::READ, &expected);
            check_bad_word(decode_frame_cap, info, &msg, &[], 1, bad, 1);
            check_reply(|i, m| answer(i, m, |k| FrameCapClient(k).map(Default::default(), Default::default())), e, KERNEL_ERRORS + 1, &[1, 5, 7]);
        }

        #[test]
        fn endpoint_cap_bind(cptr: u64, seed: u64, e in kernel_error()) {
            let (info, _, caps) = sent(|k| EndpointCapClient(k).bind(Slot::new(cptr)));
            prop_assert_eq!(info, MessageInfo { label: 1, length: 0, caps: 1 });
            prop_assert_eq!(caps[0], cptr);
            let notification = notification(seed, Rights::READ);
            let looked_up = [notification.cap()];
            let expected = EndpointCapInvocation::Bind(EndpointCapBind { notification });
            check_request(
                decode_endpoint_cap, info, &[], &looked_up, Rights::READ.union(Rights::GRANT), &expected,
            );
            let write_only = self::notification(seed, Rights::WRITE).cap();
            check_bad_cap(decode_endpoint_cap, info, &[], &looked_up, 0, write_only, 0);
            check_bad_cap(decode_endpoint_cap, info, &[], &looked_up, 0, Cap::NULL, 0);
            check_reply(|i, m| answer(i, m, |k| EndpointCapClient(k).bind(Slot::new(0))), e, KERNEL_ERRORS + 1, &[2, 7]);
        }

        #[test]
        fn irq_control_cap_route(irq: u8, cptr: u64, seed: u64, bad in 256u64.., e in kernel_error()) {
            let (info, msg, caps) = sent(|k| IrqControlCapClient(k).route(irq, Slot::new(cptr)));
            prop_assert_eq!(info, MessageInfo { label: 1, length: 1, caps: 1 });
            prop_assert_eq!(caps[0], cptr);
            let notification = notification(seed, RW);
            let looked_up = [notification.cap()];
            let expected = IrqControlCapInvocation::Route(IrqControlCapRoute { irq, notification });
            check_request(decode_irq_control_cap, info, &msg, &looked_up, Rights::NONE, &expected);
            check_bad_word(decode_irq_control_cap, info, &msg, &looked_up, 0, bad, 0);
            let read_only = self::notification(seed, Rights::READ).cap();
            check_bad_cap(decode_irq_control_cap, info, &msg, &looked_up, 0, read_only, 1);
            check_reply(|i, m| answer(i, m, |k| IrqControlCapClient(k).route(Default::default(), Slot::new(0))), e, KERNEL_ERRORS + 1, &[3, 2, 7, 1]);
        }

        #[test]
        fn domain_cap_assign(cptr: u64, seed: u64, e in kernel_error()) {
            let (info, _, caps) = sent(|k| DomainCapClient(k).assign(Slot::new(cptr)));
            prop_assert_eq!(info, MessageInfo { label: 1, length: 0, caps: 1 });
            prop_assert_eq!(caps[0], cptr);
            let thread = tcb(seed);
            let looked_up = [thread.cap()];
            let expected = DomainCapInvocation::Assign(DomainCapAssign { thread });
            check_request(decode_domain_cap, info, &[], &looked_up, Rights::NONE, &expected);
            check_bad_cap(decode_domain_cap, info, &[], &looked_up, 0, domain(seed).cap(), 0);
            check_reply(|i, m| answer(i, m, |k| DomainCapClient(k).assign(Slot::new(0))), e, KERNEL_ERRORS + 1, &[2, 7]);
        }
    }

    /// A `#[strict]` bitfield parameter: the fields at their bits, the
    /// decoder refusing a bit no field holds and an enumerated field's
    /// unnamed value (`InvalidArgument` at the parameter), the reply
    /// carrying one back.
    #[test]
    fn frame_cap_set_attributes_packs_a_bitfield() {
        let attributes = MapAttributes::new(true, Caching::Uncached, 0x2a).expect("fits");
        assert_eq!(attributes.words(), [1 | 3 << 4 | 0x2a << 6]);
        assert_eq!(MapAttributes::new(false, Caching::WriteBack, 64), None);
        let (info, msg, _) = sent(|k| FrameCapClient(k).set_attributes(attributes));
        assert_eq!((info.label, info.length), (2, 1));
        assert_eq!(msg[0], 1 | 3 << 4 | 0x2a << 6);
        assert_eq!(
            decode_frame_cap(info, Rights::NONE, &msg, &[]),
            Ok(FrameCapInvocation::SetAttributes(FrameCapSetAttributes {
                attributes
            }))
        );
        for bad in [msg[0] | 1 << 1, msg[0] | 1 << 12, 1 | 2 << 4] {
            assert_eq!(
                decode_frame_cap(info, Rights::NONE, &[bad], &[]),
                Err(DecodeError::InvalidArgument { index: 0 }),
                "{bad:#x}"
            );
        }
        let mut msg = [0; 4];
        let reply = encode_frame_cap_set_attributes_reply(attributes, &mut msg);
        let set =
            |msg: &[u64]| answer(reply, msg, |k| FrameCapClient(k).set_attributes(attributes));
        assert_eq!(set(&msg), Ok(attributes));
        msg[0] |= 1 << 63;
        assert_eq!(set(&msg), Err(InvocationError::Malformed(reply)));
    }
}
