//! Leases (examples/leases.cap): the generated client, dispatch and a block
//! server over a loopback transport with a small model of a kernel's frames
//! and caps.
//!
//! - In bounds, a read lease is read, a write lease written and a
//!   read-write lease of `u32`s both, little-endian, at the lent offset and
//!   nowhere else.
//! - The client has the transport mint each lent cap with exactly the
//!   lease's rights, and ends every lease once the call returns, however it
//!   went: a server that kept a lease can no longer reach the memory.
//! - Out of bounds is refused: a server's access past the lease's length
//!   (`LeaseError::OutOfBounds`, nothing touched); a request whose length
//!   exceeds the bound, is not exactly an exact lease's, is not a whole
//!   number of elements, or whose offset plus length overflows or passes
//!   the largest frame (`ProtocolError::InvalidArgument`, the server not
//!   called); a client's range over the bound (`CallError::Argument`,
//!   nothing minted or sent).
//! - That a read lease has no `write` is a compile-time fact: the
//!   `compile_fail` doc-tests on `capc_generated_tests::leases`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use capc_generated_tests::leases::*;

type Words = [u64; target::MESSAGE_WORDS];
type Slots = [u64; target::CAPS_PER_MESSAGE];

const FRAME_BYTES: usize = 4096;

/// A cap to a frame: which frame, its rights, and the cap it was derived
/// from (a mint, or the kernel's copy into the receiver).
struct Slot {
    frame: usize,
    rights: Rights,
    parent: Option<u64>,
}

/// The frames and caps of both tasks.
#[derive(Default)]
struct Kernel {
    frames: Vec<Vec<u8>>,
    slots: BTreeMap<u64, Slot>,
    next: u64,
    /// Every mint a client asked for: the source slot and the rights.
    minted: Vec<(u64, Rights)>,
    /// Makes the next mint fail after this many succeed.
    mints_left: Option<usize>,
}

impl Kernel {
    fn add(&mut self, frame: usize, rights: Rights, parent: Option<u64>) -> u64 {
        self.next += 1;
        self.slots.insert(
            self.next,
            Slot {
                frame,
                rights,
                parent,
            },
        );
        self.next
    }

    /// A new frame of zeros and a read-write cap to it.
    fn frame(&mut self) -> u64 {
        self.frames.push(vec![0; FRAME_BYTES]);
        self.add(self.frames.len() - 1, Rights::ALL, None)
    }

    /// Deletes `slot` and every cap derived from it.
    fn revoke_and_delete(&mut self, slot: u64) {
        let children: Vec<u64> = self
            .slots
            .iter()
            .filter(|(_, s)| s.parent == Some(slot))
            .map(|(k, _)| *k)
            .collect();
        for child in children {
            self.revoke_and_delete(child);
        }
        self.slots.remove(&slot);
    }

    /// The cap in `slot`, as the server's runtime learns it: a 4 KiB frame
    /// cap with the slot's rights.
    fn held(&self, slot: u64) -> Option<Cap> {
        let s = self.slots.get(&slot)?;
        let base = (s.frame as u64 + 1) << 12;
        Some(FrameCap::new(base, 12, s.rights).ok()?.cap())
    }

    /// The frame bytes `at..at + len` through the cap in `slot`, if it
    /// carries `right`.
    fn range(&mut self, slot: u64, right: Rights, at: u64, len: usize) -> Option<&mut [u8]> {
        let s = self.slots.get(&slot)?;
        if !s.rights.contains(right) {
            return None;
        }
        let at = usize::try_from(at).ok()?;
        self.frames[s.frame].get_mut(at..at.checked_add(len)?)
    }
}

/// The server's view of the kernel: its frame caps' memory.
#[derive(Clone)]
struct Memory(Rc<RefCell<Kernel>>);

impl LeaseMemory for Memory {
    fn read(&mut self, frame: u64, at: u64, bytes: &mut [u8]) -> bool {
        let mut kernel = self.0.borrow_mut();
        match kernel.range(frame, Rights::READ, at, bytes.len()) {
            Some(from) => {
                bytes.copy_from_slice(from);
                true
            }
            None => false,
        }
    }

    fn write(&mut self, frame: u64, at: u64, bytes: &[u8]) -> bool {
        let mut kernel = self.0.borrow_mut();
        match kernel.range(frame, Rights::WRITE, at, bytes.len()) {
            Some(to) => {
                to.copy_from_slice(bytes);
                true
            }
            None => false,
        }
    }
}

/// A device of four blocks; it remembers the last lease it was lent.
struct Store {
    memory: Memory,
    blocks: Vec<[u8; 512]>,
    calls: u32,
    kept: Option<Lease<LeaseRead, u8, FrameCap, 512>>,
    /// What reading one element past the lease's end gave.
    past_end: Option<Result<(), LeaseError>>,
}

impl BlocksServer for Store {
    fn write_block(
        &mut self,
        block: u32,
        data: Lease<LeaseRead, u8, FrameCap, 512>,
    ) -> Result<(), BlockError> {
        self.calls += 1;
        self.kept = Some(data);
        let mut one = [0];
        self.past_end = Some(data.read(&mut self.memory, data.len(), &mut one));
        let target = self
            .blocks
            .get_mut(block as usize)
            .ok_or(BlockError::NoSuchBlock)?;
        data.read(&mut self.memory, 0, &mut target[..data.len()])
            .map_err(|_| BlockError::BadLease)
    }

    fn read_block(
        &mut self,
        block: u32,
        out: Lease<LeaseWrite, u8, FrameCap, 512>,
    ) -> Result<BlocksReadBlockReply, BlockError> {
        self.calls += 1;
        let source = self
            .blocks
            .get(block as usize)
            .ok_or(BlockError::NoSuchBlock)?;
        let n = out.len();
        // A write one element past the end touches nothing.
        assert_eq!(
            out.write(&mut self.memory, n, &[0xee]),
            Err(LeaseError::OutOfBounds)
        );
        out.write(&mut self.memory, 0, &source[..n])
            .map_err(|_| BlockError::BadLease)?;
        Ok(BlocksReadBlockReply { copied: n as u32 })
    }

    fn bump(
        &mut self,
        delta: u32,
        counters: Lease<LeaseReadWrite, u32, FrameCap, 8>,
    ) -> Result<(), BlockError> {
        self.calls += 1;
        let mut values = [0u32; 8];
        counters
            .read(&mut self.memory, 0, &mut values)
            .map_err(|_| BlockError::BadLease)?;
        for v in &mut values {
            *v = v.wrapping_add(delta);
        }
        counters
            .write(&mut self.memory, 0, &values)
            .map_err(|_| BlockError::BadLease)
    }

    fn sign(
        &mut self,
        nonce: Lease<LeaseRead, u8, FrameCap, 32>,
        answer: Lease<LeaseWrite, u8, FrameCap, 64>,
    ) -> Result<BlocksSignReply, BlockError> {
        self.calls += 1;
        let mut bytes = vec![0; nonce.len()];
        nonce
            .read(&mut self.memory, 0, &mut bytes)
            .map_err(|_| BlockError::BadLease)?;
        let signed: Vec<u8> = bytes.iter().map(|b| b ^ 0x5a).collect();
        let n = signed.len().min(answer.len());
        answer
            .write(&mut self.memory, 0, &signed[..n])
            .map_err(|_| BlockError::BadLease)?;
        Ok(BlocksSignReply { written: n as u32 })
    }
}

/// The client's transport: mints and ends leases in the kernel, copies each
/// sent cap into a new slot for the server (derived from the sent one, as
/// the kernel copies a message's caps) and dispatches to the store.
struct Loopback {
    kernel: Rc<RefCell<Kernel>>,
    store: Store,
    sent: u32,
}

impl Transport for Loopback {
    fn call(
        &mut self,
        info: MessageInfo,
        msg: &mut Words,
        caps_out: &[u64],
        _: &mut Slots,
    ) -> MessageInfo {
        self.sent += 1;
        let mut received = [0; target::CAPS_PER_MESSAGE];
        {
            let mut kernel = self.kernel.borrow_mut();
            for (to, from) in received.iter_mut().zip(caps_out) {
                let (frame, rights) = {
                    let s = &kernel.slots[from];
                    (s.frame, s.rights)
                };
                *to = kernel.add(frame, rights, Some(*from));
            }
        }
        let mut caps = received;
        let kernel = self.kernel.clone();
        dispatch_blocks(&mut self.store, info, msg, &mut caps, |slot| {
            kernel.borrow().held(slot)
        })
    }

    /// seL4's mint: the copy's rights are the cap's masked by `rights`.
    fn mint(&mut self, frame: u64, rights: Rights) -> Option<u64> {
        let mut kernel = self.kernel.borrow_mut();
        if let Some(left) = kernel.mints_left.as_mut() {
            if *left == 0 {
                return None;
            }
            *left -= 1;
        }
        let source = kernel.slots.get(&frame)?;
        let (f, masked) = (source.frame, source.rights.mask(rights));
        kernel.minted.push((frame, rights));
        Some(kernel.add(f, masked, Some(frame)))
    }

    fn end_lend(&mut self, lease: u64) {
        self.kernel.borrow_mut().revoke_and_delete(lease);
    }
}

fn client() -> BlocksClient<Loopback> {
    let kernel = Rc::new(RefCell::new(Kernel::default()));
    BlocksClient::new(Loopback {
        store: Store {
            memory: Memory(kernel.clone()),
            blocks: vec![[0; 512]; 4],
            calls: 0,
            kept: None,
            past_end: None,
        },
        kernel,
        sent: 0,
    })
}

/// A new frame of the client's, `bytes` written at `at`.
fn frame_with(c: &mut BlocksClient<Loopback>, at: usize, bytes: &[u8]) -> u64 {
    let mut kernel = c.transport().kernel.borrow_mut();
    let slot = kernel.frame();
    let frame = kernel.slots[&slot].frame;
    kernel.frames[frame][at..at + bytes.len()].copy_from_slice(bytes);
    slot
}

fn frame_bytes(c: &mut BlocksClient<Loopback>, slot: u64) -> Vec<u8> {
    let kernel = c.transport().kernel.borrow();
    kernel.frames[kernel.slots[&slot].frame].clone()
}

/// Slots besides the client's own frame caps: none once every lease ended.
fn lent_slots(c: &mut BlocksClient<Loopback>) -> usize {
    let kernel = c.transport().kernel.borrow();
    kernel.slots.values().filter(|s| s.parent.is_some()).count()
}

#[test]
fn in_bounds_reads_and_writes_work_at_the_lent_offset() {
    let mut c = client();
    let data: Vec<u8> = (0..100).map(|i| i as u8 + 1).collect();
    let frame = frame_with(&mut c, 1000, &data);
    c.write_block(
        2,
        FrameRange {
            frame: capc_generated_tests::leases::Slot::new(frame),
            offset: 1000,
            bytes: 100,
        },
    )
    .unwrap();
    assert_eq!(&c.transport().store.blocks[2][..100], &data[..]);
    assert!(c.transport().store.blocks[2][100..].iter().all(|b| *b == 0));
    // Reading past the lease's end was refused, touching nothing.
    assert_eq!(
        c.transport().store.past_end,
        Some(Err(LeaseError::OutOfBounds))
    );

    // The block comes back into another frame, at another offset, and
    // nothing else of the frame changes.
    let out = frame_with(&mut c, 0, &[]);
    let reply = c
        .read_block(
            2,
            FrameRange {
                frame: capc_generated_tests::leases::Slot::new(out),
                offset: 3000,
                bytes: 60,
            },
        )
        .unwrap();
    assert_eq!(reply.copied, 60);
    let bytes = frame_bytes(&mut c, out);
    assert_eq!(&bytes[3000..3060], &data[..60]);
    assert!(bytes[..3000].iter().all(|b| *b == 0));
    assert!(bytes[3060..].iter().all(|b| *b == 0));

    // A read-write lease of u32s, little-endian.
    let counters: Vec<u8> = (0..8u32).flat_map(|i| (i * 1000).to_le_bytes()).collect();
    let frame = frame_with(&mut c, 64, &counters);
    c.bump(
        7,
        FrameRange {
            frame: capc_generated_tests::leases::Slot::new(frame),
            offset: 64,
            bytes: 32,
        },
    )
    .unwrap();
    let bytes = frame_bytes(&mut c, frame);
    for i in 0..8 {
        let at = 64 + i * 4;
        let value = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        assert_eq!(value, i as u32 * 1000 + 7);
    }

    // Two leases in one call.
    let nonce = frame_with(&mut c, 0, &[1, 2, 3, 4]);
    let answer = frame_with(&mut c, 0, &[]);
    let reply = c
        .sign(
            FrameRange {
                frame: capc_generated_tests::leases::Slot::new(nonce),
                offset: 0,
                bytes: 4,
            },
            FrameRange {
                frame: capc_generated_tests::leases::Slot::new(answer),
                offset: 8,
                bytes: 64,
            },
        )
        .unwrap();
    assert_eq!(reply.written, 4);
    assert_eq!(
        &frame_bytes(&mut c, answer)[8..12],
        &[0x5b, 0x58, 0x59, 0x5e]
    );
}

#[test]
fn each_lease_is_minted_with_exactly_its_rights_and_ended_after_the_call() {
    let mut c = client();
    let frame = frame_with(&mut c, 0, &[9; 16]);
    let range = |bytes| FrameRange {
        frame: capc_generated_tests::leases::Slot::new(frame),
        offset: 0,
        bytes,
    };
    c.write_block(0, range(16)).unwrap();
    c.read_block(0, range(16)).unwrap();
    c.bump(1, range(32)).unwrap();
    // A call that fails still ends its lease.
    assert_eq!(
        c.write_block(9, range(16)),
        Err(CallError::Server(BlockError::NoSuchBlock))
    );
    let minted = c.transport().kernel.borrow().minted.clone();
    assert_eq!(
        minted,
        [
            (frame, Rights::READ),
            (frame, Rights::WRITE),
            (frame, Rights::READ.union(Rights::WRITE)),
            (frame, Rights::READ),
        ]
    );
    assert_eq!(lent_slots(&mut c), 0);
    // The server kept its last lease: the memory is out of its reach now.
    let kept = c.transport().store.kept.unwrap();
    let mut memory = c.transport().store.memory.clone();
    assert_eq!(
        kept.read(&mut memory, 0, &mut [0; 4]),
        Err(LeaseError::Fault)
    );
}

#[test]
fn a_lease_that_cannot_be_minted_is_not_sent_and_ends_the_ones_before() {
    let mut c = client();
    let frame = frame_with(&mut c, 0, &[1; 8]);
    let range = FrameRange {
        frame: capc_generated_tests::leases::Slot::new(frame),
        offset: 0,
        bytes: 8,
    };
    c.transport().kernel.borrow_mut().mints_left = Some(1);
    assert_eq!(c.sign(range, range), Err(CallError::NotMinted));
    assert_eq!(c.transport().sent, 0);
    assert_eq!(lent_slots(&mut c), 0);
    // A cap without `write` lent for writing: its copy has no `write`
    // either (a mint never adds a right), and the dispatcher refuses it.
    c.transport().kernel.borrow_mut().mints_left = None;
    let read_only = {
        let mut kernel = c.transport().kernel.borrow_mut();
        let f = kernel.slots[&frame].frame;
        kernel.add(f, Rights::READ, None)
    };
    assert_eq!(
        c.read_block(
            0,
            FrameRange {
                frame: capc_generated_tests::leases::Slot::new(read_only),
                ..range
            }
        ),
        Err(CallError::Refused(ProtocolError::InvalidArgument {
            index: 1
        }))
    );
    assert_eq!(c.transport().sent, 1);
    assert_eq!(c.transport().store.calls, 0, "the server is not called");
    assert_eq!(lent_slots(&mut c), 0, "the copy was taken back");
}

#[test]
fn the_client_refuses_a_range_over_the_bound() {
    let mut c = client();
    let frame = frame_with(&mut c, 0, &[]);
    let range = |offset, bytes| FrameRange {
        frame: capc_generated_tests::leases::Slot::new(frame),
        offset,
        bytes,
    };
    let over = |field| Err(CallError::Argument(FieldError { field, value: 513 }));
    assert_eq!(c.write_block(0, range(0, 513)), over("data"));
    // `[u32; 8]` is exactly 32 bytes.
    for bytes in [28, 36, 33] {
        assert_eq!(
            c.bump(0, range(0, bytes)),
            Err(CallError::Argument(FieldError {
                field: "counters",
                value: bytes,
            }))
        );
    }
    // An offset whose end overflows, or passes the largest frame (2 MiB).
    assert!(matches!(
        c.write_block(0, range(u64::MAX - 3, 8)),
        Err(CallError::Argument(_))
    ));
    assert!(matches!(
        c.write_block(0, range(2 * 1024 * 1024 - 4, 8)),
        Err(CallError::Argument(_))
    ));
    assert_eq!(c.transport().sent, 0);
    assert!(c.transport().kernel.borrow().minted.is_empty());
}

/// Dispatches a hand-made request for `label` with these words and one cap.
fn dispatch(store: &mut Store, label: BlocksLabel, words: &[u64], caps: usize) -> MessageInfo {
    let mut msg = [0; target::MESSAGE_WORDS];
    msg[..words.len()].copy_from_slice(words);
    let mut slots = [0; target::CAPS_PER_MESSAGE];
    slots[..caps].fill(1);
    let info = MessageInfo {
        label: label.label(),
        length: words.len(),
        caps,
    };
    let kernel = store.memory.0.clone();
    dispatch_blocks(store, info, &mut msg, &mut slots, |slot| {
        kernel.borrow().held(slot)
    })
}

#[test]
fn the_dispatcher_refuses_a_lease_out_of_bounds() {
    let mut c = client();
    frame_with(&mut c, 0, &[]);
    let store = &mut c.transport().store;
    let refused = |index| ProtocolError::InvalidArgument { index }.label();
    // Longer than `[u8; ..=512]`.
    let reply = dispatch(store, BlocksLabel::WriteBlock, &[0, 0, 513], 1);
    assert_eq!(reply.label, refused(1));
    // Not exactly `[u32; 8]`, or not whole `u32`s.
    for bytes in [28, 36, 30] {
        let reply = dispatch(store, BlocksLabel::Bump, &[1, 0, bytes], 1);
        assert_eq!(reply.label, refused(1));
    }
    // The offset plus the length overflows, or ends past a 2 MiB frame.
    let reply = dispatch(store, BlocksLabel::WriteBlock, &[0, u64::MAX - 1, 8], 1);
    assert_eq!(reply.label, refused(1));
    let reply = dispatch(
        store,
        BlocksLabel::WriteBlock,
        &[0, 2 * 1024 * 1024 - 4, 8],
        1,
    );
    assert_eq!(reply.label, refused(1));
    // A lease without its cap is a truncated request.
    let reply = dispatch(store, BlocksLabel::WriteBlock, &[0, 0, 8], 0);
    assert_eq!(reply.label, ProtocolError::Truncated.label());
    assert_eq!(store.calls, 0);
    // In bounds, the same request reaches the server.
    let reply = dispatch(store, BlocksLabel::WriteBlock, &[0, 0, 512], 1);
    assert_eq!(reply.label, 0);
    let reply = dispatch(
        store,
        BlocksLabel::WriteBlock,
        &[0, 2 * 1024 * 1024 - 512, 512],
        1,
    );
    assert_eq!(reply.label, BlockError::BadLease.number());
    assert_eq!(store.calls, 2);
}

#[test]
fn a_decoded_lease_reads_only_within_its_length() {
    let mut c = client();
    let frame = frame_with(&mut c, 10, &[1, 2, 3, 4, 5, 6]);
    let mut msg = [0; target::MESSAGE_WORDS];
    msg[..3].copy_from_slice(&[0, 10, 4]);
    let mut caps = [0; target::CAPS_PER_MESSAGE];
    caps[0] = frame;
    let info = MessageInfo {
        label: BlocksLabel::WriteBlock.label(),
        length: 3,
        caps: 1,
    };
    let BlocksRequest::WriteBlock { data, .. } = BlocksRequest::decode(info, &msg, &caps).unwrap()
    else {
        panic!("decoded another method");
    };
    let mut memory = c.transport().store.memory.clone();
    assert_eq!((data.len(), data.frame().index()), (4, frame));
    let mut out = [0; 4];
    data.read(&mut memory, 0, &mut out).unwrap();
    assert_eq!(out, [1, 2, 3, 4]);
    let mut two = [0; 2];
    data.read(&mut memory, 2, &mut two).unwrap();
    assert_eq!(two, [3, 4]);
    // Bytes 5 and 6 lie in the frame, past the lease.
    assert_eq!(
        data.read(&mut memory, 3, &mut two),
        Err(LeaseError::OutOfBounds)
    );
    assert_eq!(
        data.read(&mut memory, usize::MAX, &mut two),
        Err(LeaseError::OutOfBounds)
    );
    assert_eq!(two, [3, 4]);
}
