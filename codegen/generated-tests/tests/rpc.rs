//! RPC interfaces as generated for decompress.cap and everything.cap.
//!
//! - Every request and every reply of every method round-trips through its
//!   `encode`/`decode` (proptest over the values), with the header the spec
//!   implies.
//! - A loopback `Transport` (a fake kernel: it copies the caps and tells the
//!   server what was donated) runs each client method against `dispatch_*`
//!   and an in-test server: the server sees exactly the arguments, the client
//!   gets exactly the results or the declared error.
//! - Budgets: each class is handed out exactly its declared count, then the
//!   out-of-budget error; each address is where a retype from the
//!   donation's first free address puts the object (the running total
//!   rounded up to its alignment), inside the donation; in layout order
//!   the objects take at most `WORST_CASE_BYTES` past the aligned start,
//!   out of order the alignment gaps are counted and may run out; a
//!   donation below the minimum (or too small once aligned) is refused
//!   before the server runs; a quota donation works.
//! - Malformed requests and replies become `ProtocolError`s.

use proptest::prelude::*;

#[macro_use]
#[path = "support/cspace.rs"]
mod support;

/// Checks a budget's addresses, in the order they were handed out: each is
/// where a retype from the donation's first free address puts the object
/// after the ones before it (the running total rounded up to its
/// alignment), so they never overlap; all lie inside the donation; and
/// `used` is the running total at the end.
fn check_layout(donation: (u64, u64), objects: &[(u64, u64, u64)], used: u64) {
    let (base, bytes) = donation;
    let mut end = base;
    for &(address, size, align) in objects {
        assert_eq!(
            address,
            end.next_multiple_of(align),
            "object of {size} bytes is not where a retype puts it"
        );
        end = address + size;
        assert!(
            end <= base + bytes,
            "object at {address:#x} ends outside the donation"
        );
    }
    assert_eq!(end - base, used);
}

mod decompress {
    use super::*;
    use capc_generated_tests::decompress::*;
    use std::collections::BTreeMap;

    cspace!(capc_generated_tests::decompress);

    type Words = [u64; target::MESSAGE_WORDS];
    type Slots = [u64; target::CAPS_PER_MESSAGE];

    fn buffers() -> (Words, Slots) {
        ([0; target::MESSAGE_WORDS], [0; target::CAPS_PER_MESSAGE])
    }

    const MIN: u64 = DecompressorDecompressBudget::MIN_DONATION;
    const WORST: u64 = DecompressorDecompressBudget::WORST_CASE_BYTES;

    /// A fake kernel between a client and a server: it hands the server the
    /// client's caps and, for a donating method, the free part of the
    /// donated Untyped as the kernel knows it (by slot).
    struct Loopback<S> {
        server: S,
        untyped: BTreeMap<u64, Donation>,
        kernel: CSpace,
    }

    impl<S: DecompressorServer> Transport for Loopback<S> {
        fn call(
            &mut self,
            info: MessageInfo,
            msg: &mut Words,
            caps_out: &[u64],
            caps_in: &mut Slots,
        ) -> MessageInfo {
            let mut caps = [0; target::CAPS_PER_MESSAGE];
            caps[..caps_out.len()].copy_from_slice(caps_out);
            let donated = match DecompressorLabel::from_label(info.label).and_then(|l| l.donation())
            {
                Some(DonationKind::Untyped(CapType::UntypedCap)) => caps_out
                    .last()
                    .and_then(|slot| self.untyped.get(slot).copied())
                    .unwrap_or(Donation::NONE),
                Some(kind) => panic!("decompress.cap donates no {kind:?}"),
                None => Donation::NONE,
            };
            let kernel = &self.kernel;
            let reply =
                dispatch_decompressor(&mut self.server, info, msg, &mut caps, donated, |slot| {
                    kernel.held(slot)
                });
            caps_in[..reply.caps].copy_from_slice(&caps[..reply.caps]);
            reply
        }

        minting_through!(kernel);
    }

    /// A run-length decompressor as the demo describes it: the lent frame
    /// holds `(count, value)` pairs, each `count` KiB of `value`; the output
    /// goes into frames, in a CNode, all from the budget.
    #[derive(Default)]
    struct Rle {
        /// What each frame a client may lend holds, by slot.
        frames: BTreeMap<u64, Vec<u8>>,
        calls: u64,
        bytes_out: u64,
        /// What the last call allocated: (address, size, alignment).
        made: Vec<(u64, u64, u64)>,
    }

    impl Rle {
        /// The frame a lent copy was minted from: in this test, every copy
        /// is of `INPUT`.
        fn lent_from(&self, copy: u64) -> u64 {
            assert!(copy >= FIRST_COPY, "the server got the client's own cap");
            INPUT
        }
    }

    impl DecompressorServer for Rle {
        fn decompress(
            &mut self,
            input: Slot<FrameCap>,
            input_len: u64,
            budget: &mut DecompressorDecompressBudget,
        ) -> Result<DecompressorDecompressReply, DecompressError> {
            self.calls += 1;
            self.made.clear();
            // The lent copy names the frame the client minted it from.
            let frame = &self.frames[&self.lent_from(input.index())];
            if input_len > frame.len() as u64 {
                return Err(DecompressError::InputTooLarge {
                    max: frame.len() as u64,
                });
            }
            let data = &frame[..input_len as usize];
            if data.len() % 2 == 1 {
                return Err(DecompressError::Corrupt {
                    offset: input_len - 1,
                });
            }
            let cnode = budget.alloc_cnode_8()?;
            self.made.push((cnode, 8192, 8192));
            let (mut output_len, mut pages) = (0u64, 0u64);
            for (i, pair) in data.chunks(2).enumerate() {
                if pair[0] == 0 {
                    return Err(DecompressError::Corrupt {
                        offset: 2 * i as u64,
                    });
                }
                output_len += u64::from(pair[0]) * 1024;
                while pages * 4096 < output_len {
                    let page = budget.alloc_frame_12()?;
                    self.made.push((page, 4096, 4096));
                    pages += 1;
                }
            }
            self.bytes_out += output_len;
            Ok(DecompressorDecompressReply {
                output: Slot::new(40),
                pages,
                output_len,
            })
        }

        fn stats(&mut self) -> Result<DecompressorStatsReply, DecompressError> {
            Ok(DecompressorStatsReply {
                calls: self.calls,
                bytes_out: self.bytes_out,
            })
        }
    }

    const INPUT: u64 = 5;
    const UNTYPED: u64 = 9;
    const SMALL_UNTYPED: u64 = 10;
    const BASE: u64 = 0x10_0000_0000;

    fn client(input: Vec<u8>) -> DecompressorClient<Loopback<Rle>> {
        let mut server = Rle::default();
        server.frames.insert(INPUT, input);
        let mut untyped = BTreeMap::new();
        // A 2 MiB Untyped with 16 bytes already used: the layout starts at
        // the next 8 KiB boundary.
        untyped.insert(
            UNTYPED,
            Donation {
                base: BASE + 16,
                bytes: (2 << 20) - 16,
            },
        );
        untyped.insert(
            SMALL_UNTYPED,
            Donation {
                base: BASE,
                bytes: MIN - 1,
            },
        );
        // The caps as the kernel holds them: the frame the client lends, the
        // Untypeds it donates.
        let frame = FrameCap::new(0x20_0000, 12, FrameCap::VALID_RIGHTS, 0, false, 0).unwrap();
        let ram = |base| UntypedCap::new(base, 21, 0, false).unwrap().cap();
        let kernel = CSpace::with([
            (INPUT, frame.cap()),
            (UNTYPED, ram(BASE)),
            (SMALL_UNTYPED, ram(BASE)),
        ]);
        DecompressorClient::new(Loopback {
            server,
            untyped,
            kernel,
        })
    }

    #[test]
    fn decompresses_from_the_donation() {
        let mut c = client(vec![4, b'a', 8, b'b']);
        let reply = c
            .decompress(Slot::new(INPUT), 4, Slot::new(UNTYPED))
            .unwrap();
        assert_eq!(
            reply,
            DecompressorDecompressReply {
                output: Slot::new(40),
                pages: 3,
                output_len: 12 * 1024
            }
        );
        let made = &c.transport().server.made;
        assert_eq!(made.len(), 4);
        // The CNode first (largest alignment), then the frames after it.
        let start = BASE + 8192;
        assert_eq!(made[0].0, start);
        assert_eq!(made[1].0, start + 8192);
        // 8176 bytes of padding to the CNode's alignment, then no gaps.
        check_layout((BASE + 16, (2 << 20) - 16), made, 8176 + 8192 + 3 * 4096);
        let stats = c.stats().unwrap();
        assert_eq!(
            stats,
            DecompressorStatsReply {
                calls: 1,
                bytes_out: 12 * 1024
            }
        );
    }

    #[test]
    fn a_bomb_runs_out_of_its_own_donation() {
        // 5 runs of 255 KiB: 319 pages, more than the 256 declared. The
        // bytes needed count from the donation's first free address, 8176
        // bytes before the CNode's.
        let mut c = client([255, 0].repeat(5));
        let error = c
            .decompress(Slot::new(INPUT), 10, Slot::new(UNTYPED))
            .unwrap_err();
        assert_eq!(
            error,
            CallError::Server(DecompressError::OutOfBudget {
                needed: 8176 + 8192 + 257 * 4096
            })
        );
        assert_eq!(c.transport().server.made.len(), 1 + 256);
        // Exactly 1 MiB of output still fits.
        let mut c = client([255, 0, 255, 0, 255, 0, 255, 0, 4, 0].to_vec());
        assert_eq!(
            c.decompress(Slot::new(INPUT), 10, Slot::new(UNTYPED))
                .unwrap()
                .pages,
            256
        );
    }

    #[test]
    fn declared_errors_reach_the_client() {
        let mut c = client(vec![4, b'a', 0, b'b', 1]);
        assert_eq!(
            c.decompress(Slot::new(INPUT), 5, Slot::new(UNTYPED)),
            Err(CallError::Server(DecompressError::Corrupt { offset: 4 }))
        );
        assert_eq!(
            c.decompress(Slot::new(INPUT), 4, Slot::new(UNTYPED)),
            Err(CallError::Server(DecompressError::Corrupt { offset: 2 }))
        );
        assert_eq!(
            c.decompress(Slot::new(INPUT), 6, Slot::new(UNTYPED)),
            Err(CallError::Server(DecompressError::InputTooLarge { max: 5 }))
        );
    }

    #[test]
    fn a_small_donation_is_refused_before_the_server_runs() {
        let mut c = client(vec![1, 1]);
        assert_eq!(
            c.decompress(Slot::new(INPUT), 2, Slot::new(SMALL_UNTYPED)),
            Err(CallError::Server(DecompressError::OutOfBudget {
                needed: MIN
            }))
        );
        // No Untyped at all (the fake kernel knows nothing of slot 99):
        // dispatch refuses the donation (the parameter after `input_len`).
        assert_eq!(
            c.decompress(Slot::new(INPUT), 2, Slot::new(99)),
            Err(CallError::Refused(ProtocolError::InvalidArgument {
                index: 2
            }))
        );
        assert_eq!(c.transport().server.calls, 0);
    }

    #[test]
    fn a_budget_hands_out_each_class_exactly_its_count() {
        let mut b = DecompressorDecompressBudget::from_donation(
            Slot::new(3),
            Donation {
                base: 0,
                bytes: MIN,
            },
        )
        .unwrap();
        assert_eq!(b.untyped(), Slot::new(3));
        assert_eq!(b.remaining(DecompressorDecompressClass::CNode8), 1);
        assert_eq!(b.alloc_cnode_8(), Ok(0));
        assert_eq!(b.remaining(DecompressorDecompressClass::CNode8), 0);
        assert_eq!(
            b.alloc_cnode_8(),
            Err(DecompressError::OutOfBudget { needed: 2 * 8192 })
        );
        for i in 0..256 {
            assert_eq!(b.alloc_frame_12(), Ok(8192 + i * 4096));
        }
        assert_eq!(b.used_bytes(), WORST);
        assert_eq!(
            b.alloc_frame_12(),
            Err(DecompressError::OutOfBudget {
                needed: WORST + 4096
            })
        );
        assert_eq!(b.remaining(DecompressorDecompressClass::Frame12), 0);
        assert_eq!(b.used_bytes(), WORST);
    }

    #[test]
    fn the_layout_is_the_checkers() {
        assert_eq!(MIN, (1 << 20) + 8192);
        assert_eq!(WORST, (1 << 20) + 8192);
        assert_eq!(DecompressorDecompressBudget::ALIGN, 8192);
        assert_eq!(
            DecompressorDecompressClass::ALL,
            [
                DecompressorDecompressClass::CNode8,
                DecompressorDecompressClass::Frame12
            ]
        );
        let c = DecompressorDecompressClass::Frame12;
        assert_eq!(
            (
                c.object_type(),
                c.size_arg(),
                c.size(),
                c.count(),
                c.offset()
            ),
            (ObjectType::Frame, 12, 4096, 256, 8192)
        );
        let c = DecompressorDecompressClass::CNode8;
        assert_eq!(
            (
                c.object_type(),
                c.size_arg(),
                c.size(),
                c.count(),
                c.offset()
            ),
            (ObjectType::CNode, 8, 8192, 1, 0)
        );
        assert_eq!(DecompressorLabel::Decompress.min_donation(), MIN);
        assert_eq!(DecompressorLabel::Decompress.worst_case_bytes(), WORST);
        assert_eq!(DecompressorLabel::Decompress.errors(), &[1, 2, 3]);
        assert_eq!(DecompressorLabel::Stats.donation(), None);
        assert_eq!(DecompressorLabel::Stats.errors(), &[] as &[u64]);
    }

    #[test]
    fn an_unaligned_donation_must_cover_its_padding() {
        // 16 bytes past an 8 KiB boundary: 8176 bytes of padding.
        let unaligned = Donation {
            base: 16,
            bytes: MIN,
        };
        assert_eq!(
            DecompressorDecompressBudget::from_donation(Slot::new(1), unaligned),
            Err(DecompressError::OutOfBudget {
                needed: WORST + 8176
            })
        );
        let b = DecompressorDecompressBudget::from_donation(
            Slot::new(1),
            Donation {
                base: 16,
                bytes: WORST + 8176,
            },
        )
        .unwrap();
        assert_eq!((b.base(), b.bytes()), (16, WORST + 8176));
        let mut b = b;
        assert_eq!(b.alloc_cnode_8(), Ok(8192));
        assert_eq!(b.alloc_frame_12(), Ok(16384));
        assert_eq!(b.used_bytes(), 8176 + 8192 + 4096);
        // A region that wraps around the address space.
        let wraps = Donation {
            base: u64::MAX - 8191,
            bytes: 2 * MIN,
        };
        assert!(DecompressorDecompressBudget::from_donation(Slot::new(1), wraps).is_err());
    }

    proptest! {
        #[test]
        fn budgets_stay_inside_their_donation(
            base in (0u64..1 << 40).prop_map(|b| b * 16),
            extra in 0u64..1 << 21,
            picks in proptest::collection::vec(any::<bool>(), 0..300),
        ) {
            let padding = base.wrapping_neg() % DecompressorDecompressBudget::ALIGN;
            let donation = Donation { base, bytes: MIN.max(WORST + padding) + extra };
            let mut b = DecompressorDecompressBudget::from_donation(Slot::new(2), donation).unwrap();
            let mut objects = Vec::new();
            let mut in_order = true;
            for pick in picks {
                let class = if pick { DecompressorDecompressClass::CNode8 } else { DecompressorDecompressClass::Frame12 };
                let left = b.remaining(class);
                let end = (base + b.used_bytes()).next_multiple_of(class.align()) + class.size() - base;
                match b.alloc(class) {
                    Ok(address) => {
                        prop_assert!(left > 0 && end <= donation.bytes);
                        in_order &= objects.last().is_none_or(|o: &(u64, u64, u64)| o.2 >= class.align());
                        objects.push((address, class.size(), class.align()));
                    }
                    Err(e) => {
                        prop_assert!(left == 0 || end > donation.bytes);
                        prop_assert_eq!(e, DecompressError::OutOfBudget { needed: end });
                    }
                }
            }
            check_layout((donation.base, donation.bytes), &objects, b.used_bytes());
            // In layout order, nothing beyond the worst case past the
            // aligned start.
            if in_order {
                prop_assert!(b.used_bytes() <= WORST + padding);
            }
        }

        #[test]
        fn donations_below_the_minimum_are_refused(bytes in 0..MIN, base in (0u64..1 << 30).prop_map(|b| b * 8192)) {
            prop_assert_eq!(
                DecompressorDecompressBudget::from_donation(Slot::new(2), Donation { base, bytes }),
                Err(DecompressError::OutOfBudget { needed: MIN })
            );
        }

        #[test]
        fn requests_round_trip(input: u64, input_len: u64, donation: u64) {
            let (mut msg, mut caps) = buffers();
            let request = DecompressorRequest::Decompress { input: Slot::new(input), input_len, donation: Slot::new(donation) };
            let info = request.encode(&mut msg, &mut caps).unwrap();
            prop_assert_eq!(info, MessageInfo { label: 1, length: 1, caps: 2 });
            prop_assert_eq!(DecompressorRequest::decode(info, &msg, &caps), Ok(request));
            let info = DecompressorRequest::Stats.encode(&mut msg, &mut caps).unwrap();
            prop_assert_eq!(info, MessageInfo { label: 2, length: 0, caps: 0 });
            prop_assert_eq!(DecompressorRequest::decode(info, &msg, &caps), Ok(DecompressorRequest::Stats));
        }

        #[test]
        fn replies_round_trip(output: u64, pages: u64, output_len: u64) {
            let (mut msg, mut caps) = buffers();
            let reply = DecompressorDecompressReply { output: Slot::new(output), pages, output_len };
            let info = reply.encode(&mut msg, &mut caps).unwrap();
            prop_assert_eq!(info, MessageInfo { label: 0, length: 2, caps: 1 });
            prop_assert_eq!(DecompressorDecompressReply::decode(info, &msg, &caps), Ok(reply));
            let reply = DecompressorStatsReply { calls: output, bytes_out: pages };
            let info = reply.encode(&mut msg, &mut caps).unwrap();
            prop_assert_eq!(info, MessageInfo { label: 0, length: 2, caps: 0 });
            prop_assert_eq!(DecompressorStatsReply::decode(info, &msg, &caps), Ok(reply));
        }

        #[test]
        fn short_requests_are_truncated(length in 0usize..1, caps_count in 0usize..3) {
            let (msg, caps) = buffers();
            let info = MessageInfo { label: 1, length, caps: caps_count };
            prop_assert_eq!(DecompressorRequest::decode(info, &msg, &caps), Err(ProtocolError::Truncated));
        }

        #[test]
        fn unknown_labels_are_refused(label in 3u64..) {
            let mut server = Rle::default();
            let (mut msg, mut caps) = buffers();
            let info = MessageInfo { label, length: 1, caps: 2 };
            let reply = dispatch_decompressor(&mut server, info, &mut msg, &mut caps, Donation::NONE, |_| None);
            prop_assert_eq!(ProtocolError::decode(reply, &msg), Some(ProtocolError::UnknownLabel { label }));
            prop_assert_eq!(server.calls, 0);
        }
    }
}

mod everything {
    use super::*;
    use capc_generated_tests::everything::*;
    use std::collections::BTreeMap;

    cspace!(capc_generated_tests::everything);

    type Words = [u64; target::MESSAGE_WORDS];
    type Slots = [u64; target::CAPS_PER_MESSAGE];

    fn buffers() -> (Words, Slots) {
        ([0; target::MESSAGE_WORDS], [0; target::CAPS_PER_MESSAGE])
    }

    /// What the in-test server answers, per method.
    #[derive(Clone, Debug)]
    struct Script {
        open: Result<FileServiceOpenReply, FileError>,
        read: Result<FileServiceReadReply, FileError>,
        share_buffer: Result<FileServiceShareBufferReply, FileError>,
        stats: Result<FileServiceStatsReply, FileError>,
    }

    impl Default for Script {
        fn default() -> Script {
            Script {
                open: Ok(FileServiceOpenReply {
                    file: Slot::new(1),
                    size: 2,
                }),
                read: Ok(FileServiceReadReply {
                    pages: Slot::new(3),
                    count: 4,
                }),
                share_buffer: Ok(FileServiceShareBufferReply {
                    buffer: Slot::new(5),
                }),
                stats: Ok(FileServiceStatsReply { calls: 6, bytes: 7 }),
            }
        }
    }

    /// A server that records each request (with the donated slot from its
    /// budget), allocates everything its budget allows, and answers from its
    /// script.
    #[derive(Default)]
    struct Recorder {
        script: Script,
        requests: Vec<FileServiceRequest>,
        /// Objects of the last call, (address, size, alignment), and the
        /// budget's used bytes and worst case.
        made: Vec<(u64, u64, u64)>,
        used: u64,
    }

    impl Recorder {
        fn record<C: Copy>(
            &mut self,
            all: &[C],
            mut alloc: impl FnMut(C) -> Result<u64, FileError>,
            size: impl Fn(C) -> (u64, u64),
        ) -> Result<(), FileError> {
            self.made.clear();
            for &class in all {
                loop {
                    match alloc(class) {
                        Ok(address) => {
                            let (s, a) = size(class);
                            self.made.push((address, s, a));
                        }
                        Err(FileError::OutOfBudget { .. }) => break,
                        Err(e) => return Err(e),
                    }
                }
            }
            Ok(())
        }
    }

    impl FileServiceServer for Recorder {
        fn open(
            &mut self,
            name: [u8; 32],
            create: bool,
            budget: &mut FileServiceOpenBudget,
        ) -> Result<FileServiceOpenReply, FileError> {
            self.requests
                .push(FileServiceRequest::Open { name, create });
            self.record(
                &FileServiceOpenClass::ALL,
                |c| budget.alloc(c),
                |c| (c.size(), c.align()),
            )?;
            self.used = budget.used_bytes();
            self.script.open
        }

        fn read(
            &mut self,
            file: Slot<EndpointCap>,
            offset: u64,
            len: u64,
            flags: [bool; 3],
            budget: &mut FileServiceReadBudget,
        ) -> Result<FileServiceReadReply, FileError> {
            let donation = budget.untyped();
            self.requests.push(FileServiceRequest::Read {
                file,
                offset,
                len,
                flags,
                donation,
            });
            self.record(
                &FileServiceReadClass::ALL,
                |c| budget.alloc(c),
                |c| (c.size(), c.align()),
            )?;
            self.used = budget.used_bytes();
            self.script.read
        }

        fn share_buffer(
            &mut self,
            file: Slot<EndpointCap>,
            budget: &mut FileServiceShareBufferBudget,
        ) -> Result<FileServiceShareBufferReply, FileError> {
            let donation = budget.untyped();
            self.requests
                .push(FileServiceRequest::ShareBuffer { file, donation });
            self.record(
                &FileServiceShareBufferClass::ALL,
                |c| budget.alloc(c),
                |c| (c.size(), c.align()),
            )?;
            self.used = budget.used_bytes();
            self.script.share_buffer
        }

        fn stats(&mut self) -> Result<FileServiceStatsReply, FileError> {
            self.requests.push(FileServiceRequest::Stats);
            self.script.stats
        }
    }

    /// A fake kernel: Untyped regions by slot (RAM and device), and the
    /// quota the server's accounting grants the client.
    struct Loopback {
        server: Recorder,
        untyped: BTreeMap<u64, (CapType, Donation)>,
        quota: u64,
        kernel: CSpace,
    }

    impl Transport for Loopback {
        fn call(
            &mut self,
            info: MessageInfo,
            msg: &mut Words,
            caps_out: &[u64],
            caps_in: &mut Slots,
        ) -> MessageInfo {
            let mut caps = [0; target::CAPS_PER_MESSAGE];
            caps[..caps_out.len()].copy_from_slice(caps_out);
            let donated = match FileServiceLabel::from_label(info.label).and_then(|l| l.donation())
            {
                Some(DonationKind::Untyped(cap)) => caps_out
                    .last()
                    .and_then(|slot| self.untyped.get(slot))
                    .filter(|(t, _)| *t == cap)
                    .map_or(Donation::NONE, |(_, d)| *d),
                Some(DonationKind::Quota) => Donation::quota(self.quota),
                None => Donation::NONE,
            };
            let kernel = &self.kernel;
            let reply =
                dispatch_file_service(&mut self.server, info, msg, &mut caps, donated, |slot| {
                    kernel.held(slot)
                });
            caps_in[..reply.caps].copy_from_slice(&caps[..reply.caps]);
            reply
        }

        minting_through!(kernel);
    }

    /// An endpoint cap with every right, as the files a client lends.
    fn endpoint() -> Cap {
        EndpointCap::new(0x1000, Rights::ALL, 0).unwrap().cap()
    }

    const RAM: u64 = 11;
    const DEVICE: u64 = 12;
    const RAM_BASE: u64 = 0x4000_0000;
    const DEVICE_BASE: u64 = 0xfe00_0000;

    fn client(script: Script) -> FileServiceClient<Loopback> {
        let mut untyped = BTreeMap::new();
        untyped.insert(
            RAM,
            (
                CapType::UntypedCap,
                Donation {
                    base: RAM_BASE,
                    bytes: 2 << 20,
                },
            ),
        );
        untyped.insert(
            DEVICE,
            (
                CapType::DeviceUntypedCap,
                Donation {
                    base: DEVICE_BASE,
                    bytes: 2 << 20,
                },
            ),
        );
        FileServiceClient::new(Loopback {
            server: Recorder {
                script,
                ..Recorder::default()
            },
            untyped,
            quota: 1024,
            // The files the tests lend, and the Untypeds they donate.
            kernel: CSpace::with([
                (0, endpoint()),
                (3, endpoint()),
                (8, endpoint()),
                (RAM, UntypedCap::new(RAM_BASE, 21, 0).unwrap().cap()),
                (
                    DEVICE,
                    DeviceUntypedCap::new(DEVICE_BASE, 21, 0, true)
                        .unwrap()
                        .cap(),
                ),
            ]),
        })
    }

    fn file_error() -> impl Strategy<Value = FileError> {
        prop_oneof![
            Just(FileError::NotFound),
            any::<u64>().prop_map(|needed| FileError::OutOfBudget { needed }),
            any::<u64>().prop_map(|max| FileError::TooLarge { max }),
        ]
    }

    #[test]
    fn a_quota_donation_works() {
        let mut c = client(Script::default());
        assert_eq!(
            c.open([7; 32], true),
            Ok(FileServiceOpenReply {
                file: Slot::new(1),
                size: 2
            })
        );
        let server = &c.transport().server;
        // Offsets into the quota: the notification (32-aligned) first.
        assert_eq!(server.made, vec![(0, 32, 32), (32, 16, 16)]);
        assert_eq!(server.used, FileServiceOpenBudget::WORST_CASE_BYTES);
        assert_eq!(FileServiceOpenBudget::WORST_CASE_BYTES, 48);
        assert_eq!(FileServiceLabel::Open.donation(), Some(DonationKind::Quota));
        // A quota short of the minimum is refused; the server never runs.
        c.transport().quota = 1023;
        c.transport().server.requests.clear();
        assert_eq!(
            c.open([7; 32], true),
            Err(CallError::Server(FileError::OutOfBudget { needed: 1024 }))
        );
        assert!(c.transport().server.requests.is_empty());
    }

    #[test]
    fn a_quota_budget_counts_each_class() {
        let mut b = FileServiceOpenBudget::from_donation(Donation::quota(1024)).unwrap();
        assert_eq!(b.alloc_notification(), Ok(0));
        assert_eq!(
            b.alloc_notification(),
            Err(FileError::OutOfBudget { needed: 64 })
        );
        assert_eq!(b.alloc_endpoint(), Ok(32));
        assert_eq!(
            b.alloc_endpoint(),
            Err(FileError::OutOfBudget { needed: 64 })
        );
        assert_eq!(
            FileServiceOpenBudget::from_donation(Donation::quota(0)),
            Err(FileError::OutOfBudget { needed: 1024 })
        );
    }

    #[test]
    fn read_lays_out_its_untyped_like_the_checker() {
        let mut c = client(Script::default());
        assert_eq!(
            c.read(Slot::new(3), 4, 5, [true, false, true], Slot::new(RAM)),
            Ok(FileServiceReadReply {
                pages: Slot::new(3),
                count: 4
            })
        );
        let server = &c.transport().server;
        assert_eq!(
            server.requests,
            vec![FileServiceRequest::Read {
                // A copy of the client's cap with `read` only, taken back
                // once the call returned.
                file: Slot::new(FIRST_COPY),
                offset: 4,
                len: 5,
                flags: [true, false, true],
                donation: Slot::new(RAM)
            }]
        );
        assert_eq!(server.made.len(), 1 + 256 + 4);
        assert_eq!(server.made[0], (RAM_BASE, 8192, 8192));
        assert_eq!(server.made[1], (RAM_BASE + 8192, 4096, 4096));
        assert_eq!(server.made[257], (RAM_BASE + 8192 + (1 << 20), 32, 32));
        assert_eq!(server.used, FileServiceReadBudget::WORST_CASE_BYTES);
        assert_eq!(
            FileServiceReadBudget::WORST_CASE_BYTES,
            (1 << 20) + 8192 + 128
        );
        check_layout((RAM_BASE, 2 << 20), &server.made, server.used);
        let kernel = &c.transport().kernel;
        assert_eq!(kernel.minted, [(3, FIRST_COPY, Rights::READ)]);
        assert_eq!(kernel.ended, [FIRST_COPY]);
        assert_eq!(kernel.copies_left(), [0u64; 0]);
    }

    #[test]
    fn share_buffer_takes_device_memory() {
        let mut c = client(Script::default());
        assert_eq!(
            c.share_buffer(Slot::new(8), Slot::new(DEVICE)),
            Ok(FileServiceShareBufferReply {
                buffer: Slot::new(5)
            })
        );
        assert_eq!(
            c.transport().server.made,
            vec![(DEVICE_BASE, 2 << 20, 2 << 20)]
        );
        assert_eq!(
            FileServiceLabel::ShareBuffer.donation(),
            Some(DonationKind::Untyped(CapType::DeviceUntypedCap))
        );
        // A RAM Untyped is not what the method takes: dispatch refuses it
        // (the donation, one past the parameters).
        assert_eq!(
            c.share_buffer(Slot::new(8), Slot::new(RAM)),
            Err(CallError::Refused(ProtocolError::InvalidArgument {
                index: 1
            }))
        );
        let mut b = FileServiceShareBufferBudget::from_donation(
            Slot::new(1),
            Donation {
                base: 0,
                bytes: 2 << 20,
            },
        )
        .unwrap();
        assert_eq!(b.alloc_frame_21(), Ok(0));
        assert_eq!(
            b.alloc_frame_21(),
            Err(FileError::OutOfBudget { needed: 4 << 20 })
        );
    }

    #[test]
    fn undeclared_errors_never_reach_the_client_as_errors() {
        // `share_buffer` declares only OutOfBudget.
        let mut c = client(Script {
            share_buffer: Err(FileError::NotFound),
            ..Script::default()
        });
        assert_eq!(
            c.share_buffer(Slot::new(8), Slot::new(DEVICE)),
            Err(CallError::Refused(ProtocolError::UndeclaredError {
                number: 1
            }))
        );
        let mut c = client(Script {
            stats: Err(FileError::TooLarge { max: 1 }),
            ..Script::default()
        });
        assert_eq!(
            c.stats(),
            Err(CallError::Refused(ProtocolError::UndeclaredError {
                number: 3
            }))
        );
    }

    /// A server that answers whatever reply it was given, to check the client.
    struct Canned(MessageInfo, Words);

    impl Transport for Canned {
        fn call(
            &mut self,
            _: MessageInfo,
            msg: &mut Words,
            _: &[u64],
            _: &mut Slots,
        ) -> MessageInfo {
            *msg = self.1;
            self.0
        }

        /// No kernel behind the canned replies: the "copy" is the cap itself.
        fn mint(&mut self, slot: u64, _: Rights) -> Option<u64> {
            Some(slot)
        }
    }

    #[test]
    fn bad_replies_are_reported() {
        let words = [0; target::MESSAGE_WORDS];
        let reply = |label, length, caps| {
            FileServiceClient::new(Canned(
                MessageInfo {
                    label,
                    length,
                    caps,
                },
                words,
            ))
        };
        // Error 3 (TooLarge) is not one `open` declares.
        assert_eq!(
            reply(3, 1, 0).open([0; 32], false),
            Err(CallError::BadReply(ProtocolError::UndeclaredError {
                number: 3
            }))
        );
        // Success without the results' words or caps.
        assert_eq!(
            reply(0, 0, 1).open([0; 32], false),
            Err(CallError::BadReply(ProtocolError::Truncated))
        );
        assert_eq!(
            reply(0, 1, 0).open([0; 32], false),
            Err(CallError::BadReply(ProtocolError::Truncated))
        );
        // TooLarge without its payload word.
        assert_eq!(
            reply(3, 0, 0).read(Slot::new(0), 0, 0, [false; 3], Slot::new(RAM)),
            Err(CallError::BadReply(ProtocolError::Truncated))
        );
        // A protocol error without its payload word.
        assert_eq!(
            reply(u64::MAX, 0, 0).stats(),
            Err(CallError::BadReply(ProtocolError::Truncated))
        );
        // A refusal.
        let mut words = words;
        words[0] = 1;
        let mut c = FileServiceClient::new(Canned(
            MessageInfo {
                label: u64::MAX - 2,
                length: 1,
                caps: 0,
            },
            words,
        ));
        assert_eq!(
            c.stats(),
            Err(CallError::Refused(ProtocolError::InvalidArgument {
                index: 1
            }))
        );
        // A declared error.
        let mut c = FileServiceClient::new(Canned(
            MessageInfo {
                label: 3,
                length: 1,
                caps: 0,
            },
            words,
        ));
        assert_eq!(
            c.read(Slot::new(0), 0, 0, [false; 3], Slot::new(RAM)),
            Err(CallError::Server(FileError::TooLarge { max: 1 }))
        );
    }

    #[test]
    fn malformed_requests_are_refused() {
        let (mut msg, mut caps) = buffers();
        let open = FileServiceRequest::Open {
            name: [1; 32],
            create: true,
        };
        let info = open.encode(&mut msg, &mut caps).unwrap();
        assert_eq!(
            info,
            MessageInfo {
                label: 1,
                length: 5,
                caps: 0
            }
        );
        // A bool word of 2.
        msg[4] = 2;
        assert_eq!(
            FileServiceRequest::decode(info, &msg, &caps),
            Err(ProtocolError::InvalidArgument { index: 1 })
        );
        // One word short.
        let short = MessageInfo { length: 4, ..info };
        assert_eq!(
            FileServiceRequest::decode(short, &msg, &caps),
            Err(ProtocolError::Truncated)
        );
        // A padding bit of `flags: [bool; 3]`.
        let read = FileServiceRequest::Read {
            file: Slot::new(1),
            offset: 2,
            len: 3,
            flags: [true; 3],
            donation: Slot::new(4),
        };
        let info = read.encode(&mut msg, &mut caps).unwrap();
        assert_eq!(msg[2], 0b111);
        msg[2] |= 1 << 3;
        assert_eq!(
            FileServiceRequest::decode(info, &msg, &caps),
            Err(ProtocolError::InvalidArgument { index: 3 })
        );
        // Through dispatch: the server is not called and the reply says why.
        let mut server = Recorder::default();
        let reply = dispatch_file_service(
            &mut server,
            info,
            &mut msg,
            &mut caps,
            Donation::NONE,
            |_| None,
        );
        assert!(reply.label >= ProtocolError::FIRST_LABEL);
        assert_eq!(
            ProtocolError::decode(reply, &msg),
            Some(ProtocolError::InvalidArgument { index: 3 })
        );
        assert!(server.requests.is_empty());
    }

    proptest! {
        #[test]
        fn requests_round_trip(
            name: [u8; 32],
            create: bool,
            file: u64,
            offset: u64,
            len: u64,
            flags: [bool; 3],
            donation: u64,
        ) {
            let cases = [
                (FileServiceRequest::Open { name, create }, MessageInfo { label: 1, length: 5, caps: 0 }),
                (FileServiceRequest::Read { file: Slot::new(file), offset, len, flags, donation: Slot::new(donation) }, MessageInfo { label: 2, length: 3, caps: 2 }),
                (FileServiceRequest::ShareBuffer { file: Slot::new(file), donation: Slot::new(donation) }, MessageInfo { label: 3, length: 0, caps: 2 }),
                (FileServiceRequest::Stats, MessageInfo { label: 4, length: 0, caps: 0 }),
            ];
            for (request, header) in cases {
                let (mut msg, mut caps) = buffers();
                let info = request.encode(&mut msg, &mut caps).unwrap();
                prop_assert_eq!(info, header);
                prop_assert_eq!(request.label().label(), info.label);
                prop_assert_eq!(FileServiceRequest::decode(info, &msg, &caps), Ok(request));
            }
        }

        #[test]
        fn replies_round_trip(a: u64, b: u64) {
            let (mut msg, mut caps) = buffers();
            let open = FileServiceOpenReply { file: Slot::new(a), size: b };
            let info = open.encode(&mut msg, &mut caps).unwrap();
            prop_assert_eq!(info, MessageInfo { label: 0, length: 1, caps: 1 });
            prop_assert_eq!(FileServiceOpenReply::decode(info, &msg, &caps), Ok(open));
            let read = FileServiceReadReply { pages: Slot::new(a), count: b };
            let info = read.encode(&mut msg, &mut caps).unwrap();
            prop_assert_eq!(info, MessageInfo { label: 0, length: 1, caps: 1 });
            prop_assert_eq!(FileServiceReadReply::decode(info, &msg, &caps), Ok(read));
            let share = FileServiceShareBufferReply { buffer: Slot::new(a) };
            let info = share.encode(&mut msg, &mut caps).unwrap();
            prop_assert_eq!(info, MessageInfo { label: 0, length: 0, caps: 1 });
            prop_assert_eq!(FileServiceShareBufferReply::decode(info, &msg, &caps), Ok(share));
            let stats = FileServiceStatsReply { calls: a, bytes: b };
            let info = stats.encode(&mut msg, &mut caps).unwrap();
            prop_assert_eq!(info, MessageInfo { label: 0, length: 2, caps: 0 });
            prop_assert_eq!(FileServiceStatsReply::decode(info, &msg, &caps), Ok(stats));
        }

        #[test]
        fn every_method_runs_through_the_loopback(
            name: [u8; 32],
            create: bool,
            file in 13u64..FIRST_COPY,
            offset: u64,
            len: u64,
            flags: [bool; 3],
            a: u64,
            b: u64,
        ) {
            let script = Script {
                open: Ok(FileServiceOpenReply { file: Slot::new(a), size: b }),
                read: Ok(FileServiceReadReply { pages: Slot::new(b), count: a }),
                share_buffer: Ok(FileServiceShareBufferReply { buffer: Slot::new(a ^ b) }),
                stats: Ok(FileServiceStatsReply { calls: a, bytes: b }),
            };
            let mut c = client(script.clone());
            c.transport().kernel.caps.insert(file, endpoint());
            prop_assert_eq!(c.open(name, create), Ok(script.open.unwrap()));
            prop_assert_eq!(c.read(Slot::new(file), offset, len, flags, Slot::new(RAM)), Ok(script.read.unwrap()));
            prop_assert_eq!(c.share_buffer(Slot::new(file), Slot::new(DEVICE)), Ok(script.share_buffer.unwrap()));
            prop_assert_eq!(c.stats(), Ok(script.stats.unwrap()));
            prop_assert_eq!(
                &c.transport().server.requests,
                &vec![
                    FileServiceRequest::Open { name, create },
                    FileServiceRequest::Read { file: Slot::new(FIRST_COPY), offset, len, flags, donation: Slot::new(RAM) },
                    FileServiceRequest::ShareBuffer { file: Slot::new(FIRST_COPY), donation: Slot::new(DEVICE) },
                    FileServiceRequest::Stats,
                ]
            );
            let kernel = &c.transport().kernel;
            prop_assert_eq!(&kernel.minted, &[(file, FIRST_COPY, Rights::READ), (file, FIRST_COPY, Rights::ALL)]);
            prop_assert_eq!(kernel.copies_left(), [0u64; 0]);
        }

        #[test]
        fn declared_errors_run_through_the_loopback(error in file_error(), name: [u8; 32]) {
            let declared = |label: FileServiceLabel| label.errors().contains(&error.number());
            let script = Script {
                open: Err(error),
                read: Err(error),
                share_buffer: Err(error),
                stats: Err(error),
            };
            let mut c = client(script);
            let expect = |label| {
                if declared(label) {
                    CallError::Server(error)
                } else {
                    CallError::Refused(ProtocolError::UndeclaredError { number: error.number() })
                }
            };
            prop_assert_eq!(c.open(name, false), Err(expect(FileServiceLabel::Open)));
            prop_assert_eq!(c.read(Slot::new(3), 2, 3, [false; 3], Slot::new(RAM)), Err(expect(FileServiceLabel::Read)));
            prop_assert_eq!(c.share_buffer(Slot::new(3), Slot::new(DEVICE)), Err(expect(FileServiceLabel::ShareBuffer)));
            prop_assert_eq!(c.stats(), Err(expect(FileServiceLabel::Stats)));
        }

        #[test]
        fn read_budgets_stay_inside_their_donation(
            base in (0u64..1 << 40).prop_map(|b| b * 16),
            extra in 0u64..1 << 20,
            picks in proptest::collection::vec(0usize..3, 0..400),
        ) {
            let worst = FileServiceReadBudget::WORST_CASE_BYTES;
            let padding = base.wrapping_neg() % FileServiceReadBudget::ALIGN;
            let donation = Donation { base, bytes: FileServiceReadBudget::MIN_DONATION.max(worst + padding) + extra };
            let mut b = FileServiceReadBudget::from_donation(Slot::new(1), donation).unwrap();
            let mut objects = Vec::new();
            let mut counts = [0u64; 3];
            let mut in_order = true;
            for pick in picks {
                let class = FileServiceReadClass::ALL[pick];
                let end = (base + b.used_bytes()).next_multiple_of(class.align()) + class.size() - base;
                match b.alloc(class) {
                    Ok(address) => {
                        counts[pick] += 1;
                        prop_assert!(counts[pick] <= class.count() && end <= donation.bytes);
                        in_order &= objects.last().is_none_or(|o: &(u64, u64, u64)| o.2 >= class.align());
                        objects.push((address, class.size(), class.align()));
                    }
                    Err(e) => {
                        prop_assert!(counts[pick] == class.count() || end > donation.bytes);
                        prop_assert_eq!(e, FileError::OutOfBudget { needed: end });
                    }
                }
            }
            check_layout((donation.base, donation.bytes), &objects, b.used_bytes());
            if in_order {
                prop_assert!(b.used_bytes() <= worst + padding);
            }
        }
    }
}
