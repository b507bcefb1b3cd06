//! Barrelfish's mem.if as ported in examples/flounder/mem.cap: the
//! generated client, dispatch and a small memory server over a loopback
//! transport, in one client's session. Each RPC round-trips its arguments
//! and results; a failed allocation answers its `errval_t` and no cap, as
//! Flounder's does (`ret` and `mem_cap: move cap RAM | null`); the moved
//! caps arrive in the caps of the message. The session pays for what the
//! client is handed, sized by the `bits` it asks for, until `free_monitor`
//! takes it back; an allocation that hands nothing out costs nothing.

use capc_generated_tests::flounder_mem::*;

type Words = [u64; target::MESSAGE_WORDS];
type Slots = [u64; target::CAPS_PER_MESSAGE];

/// A stand-in `errval_t` for "no memory in the range" (the test's own
/// number, not Barrelfish's).
const NO_MEMORY: ErrVal = 0x2a;

/// A memory server: one region it hands out from the bottom, each
/// allocation a new cap slot; `free_monitor` takes a region back.
struct Server {
    next: GenPAddr,
    end: GenPAddr,
    total: GenPAddr,
    next_slot: u64,
    freed: Vec<(u64, GenPAddr, u8)>,
    stolen: u32,
    /// The charge of each cap handed out, kept with it.
    charges: Vec<(u64, MemCharge)>,
}

impl Server {
    fn take(&mut self, bits: u8, minbase: GenPAddr, maxlimit: GenPAddr) -> Result<u64, ErrVal> {
        let size = 1u64.checked_shl(bits.into()).ok_or(NO_MEMORY)?;
        let base = self.next.max(minbase).next_multiple_of(size);
        if base + size > self.end.min(maxlimit) {
            return Err(NO_MEMORY);
        }
        self.next = base + size;
        self.next_slot += 1;
        Ok(self.next_slot)
    }

    /// mem.if's answer: `SYS_ERR_OK` and the RAM, keeping its charge with
    /// it; or the error and the null cap, leaving the charge to dispatch.
    fn hand_out(
        &mut self,
        taken: Result<u64, ErrVal>,
        charge: &mut Option<MemCharge>,
    ) -> (ErrVal, Option<Slot<RAM>>) {
        match taken {
            Ok(slot) => {
                self.charges.push((slot, charge.take().expect("charged")));
                (0, Some(Slot::new(slot)))
            }
            Err(err) => (err, None),
        }
    }
}

impl MemServer for Server {
    fn allocate(
        &mut self,
        bits: u8,
        minbase: GenPAddr,
        maxlimit: GenPAddr,
        _session: &mut MemSession,
        charge: &mut Option<MemCharge>,
    ) -> Result<MemAllocateReply, MemError> {
        let taken = self.take(bits, minbase, maxlimit);
        let (ret, mem_cap) = self.hand_out(taken, charge);
        Ok(MemAllocateReply { ret, mem_cap })
    }

    fn steal(
        &mut self,
        bits: u8,
        minbase: GenPAddr,
        maxlimit: GenPAddr,
        _session: &mut MemSession,
        charge: &mut Option<MemCharge>,
    ) -> Result<MemStealReply, MemError> {
        self.stolen += 1;
        let taken = self.take(bits, minbase, maxlimit);
        let (ret, mem_cap) = self.hand_out(taken, charge);
        Ok(MemStealReply { ret, mem_cap })
    }

    fn available(&mut self, _session: &mut MemSession) -> Result<MemAvailableReply, MemError> {
        Ok(MemAvailableReply {
            mem_avail: self.end - self.next,
            mem_total: self.total,
        })
    }

    fn free_monitor(
        &mut self,
        mem_cap: Slot<RAM>,
        base: GenPAddr,
        bits: u8,
        session: &mut MemSession,
    ) -> Result<MemFreeMonitorReply, MemError> {
        let Some(at) = self
            .charges
            .iter()
            .position(|(cap, _)| *cap == mem_cap.index())
        else {
            return Ok(MemFreeMonitorReply { err: NO_MEMORY });
        };
        let (_, charge) = self.charges.remove(at);
        session.refund(charge).expect("this session's");
        self.freed.push((mem_cap.index(), base, bits));
        Ok(MemFreeMonitorReply { err: 0 })
    }
}

/// The server, the one client's session, and the caps the kernel holds
/// (in a loopback the client and the server share slot numbers: a moved
/// cap is the server's own).
struct Loopback(Server, MemSession, std::collections::BTreeMap<u64, Cap>);

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
        let held = &self.2;
        let reply = dispatch_mem(&mut self.0, info, msg, &mut caps, &mut self.1, |slot| {
            held.get(&slot).copied()
        });
        // The kernel hands the client the RAM the server made: the server's
        // `take` makes 2^bits bytes at its `next` address.
        for &slot in &caps[..reply.caps] {
            let ram = RAM::new(0x100_0000 + slot * 0x1000, 0x1000, 0, 0).expect("a RAM cap");
            self.2.insert(slot, ram.cap());
        }
        caps_in[..reply.caps].copy_from_slice(&caps[..reply.caps]);
        reply
    }

    fn delete(&mut self, slot: u64) {
        assert!(self.2.remove(&slot).is_some(), "slot {slot} deleted twice");
    }
}

#[test]
fn mem_if_round_trips_over_a_loopback() {
    // A session with room for its own record (64 bytes), one page and one
    // MiB, each with the server's 64-byte record of it.
    let session = MemSession::open(7, Donation::quota((1 << 20) + (4 << 10) + 192)).unwrap();
    assert_eq!(session.used(), MemSession::KEEPS);
    let mut client = MemClient::new(Loopback(
        Server {
            next: 1 << 20,
            end: 1 << 24,
            total: (1 << 24) - (1 << 20),
            next_slot: 100,
            freed: Vec::new(),
            stolen: 0,
            charges: Vec::new(),
        },
        session,
        std::collections::BTreeMap::new(),
    ));
    let all = client.available().unwrap();
    assert_eq!((all.mem_avail, all.mem_total), (15 << 20, 15 << 20));

    // A page: the session pays 4 KiB and the server's 64-byte record, not
    // the range's worst case.
    assert_eq!(
        client.allocate(12, 0, u64::MAX).unwrap(),
        MemAllocateReply {
            ret: 0,
            mem_cap: Some(Slot::new(101))
        }
    );
    assert_eq!(client.transport().1.used(), 64 + 4096 + 64);
    // 1 MiB, stolen: paid alike.
    assert_eq!(
        client.steal(20, 0, u64::MAX).unwrap().mem_cap,
        Some(Slot::new(102))
    );
    assert_eq!(client.transport().0.stolen, 1);
    assert_eq!(client.transport().1.available(), 0);
    // Nothing is left: the next page is refused before the server runs,
    // with what it would have cost.
    assert_eq!(
        client.allocate(12, 0, u64::MAX),
        Err(CallError::Server(MemError::OutOfQuota {
            needed: 4096 + 64
        }))
    );
    assert_eq!(client.transport().0.next_slot, 102);
    // Outside the range `bits` declares: refused by the decoder.
    assert_eq!(
        client.allocate(u8::MAX, 0, u64::MAX),
        Err(CallError::Refused(ProtocolError::InvalidArgument {
            index: 0
        }))
    );
    let left = client.available().unwrap();
    assert_eq!(left.mem_avail, (1 << 24) - (3 << 20));

    // Freeing the page refunds its charge; the server's errval comes back
    // when the server fails, and the session's charge for it is refunded.
    assert_eq!(
        client
            .free_monitor(Slot::new(101), 1 << 20, 12)
            .unwrap()
            .err,
        0
    );
    assert_eq!(client.transport().0.freed, [(101, 1 << 20, 12)]);
    // `mem_cap` was moved (Flounder's `give_away_cap`): once the call
    // succeeded, the client's cap is gone; the one it did not free stays.
    assert!(!client.transport().2.contains_key(&101));
    assert!(client.transport().2.contains_key(&102));
    // The server deletes its own copy of an allocation once it replied.
    assert_eq!(MemLabel::Allocate.moved_results(), [0]);
    assert_eq!(MemLabel::Steal.moved_results(), [0]);
    assert_eq!(MemLabel::FreeMonitor.moved_results(), [0u64; 0]);
    assert_eq!(client.transport().1.available(), 4096 + 64);
    // A failed allocation: its errval and the null cap, as Flounder's reply;
    // the reply carries no cap, and the session's charge for the RAM that
    // did not come is refunded.
    assert_eq!(
        client.allocate(12, 0, 1 << 20),
        Ok(MemAllocateReply {
            ret: NO_MEMORY,
            mem_cap: None
        })
    );
    assert_eq!(client.transport().1.available(), 4096 + 64);
    // On the wire: a reply with the cap carries one cap, one without none,
    // and a reply that says "one cap" without a word for `ret` is short.
    let (mut msg, mut caps): (Words, Slots) = ([0; _], [0; _]);
    let with = MemAllocateReply {
        ret: 0,
        mem_cap: Some(Slot::new(7)),
    };
    assert_eq!(with.encode(&mut msg, &mut caps).unwrap().caps, 1);
    let info = MemAllocateReply {
        ret: 5,
        mem_cap: None,
    }
    .encode(&mut msg, &mut caps)
    .unwrap();
    assert_eq!((info.length, info.caps), (1, 0));
    assert_eq!(
        MemAllocateReply::decode(info, &msg, &caps).unwrap().mem_cap,
        None
    );
    let short = MessageInfo { length: 0, ..info };
    assert_eq!(
        MemAllocateReply::decode(short, &msg, &caps),
        Err(ProtocolError::Truncated)
    );
    // Closing the session returns the whole quota.
    let Loopback(_, session, _) = client.into_transport();
    assert_eq!(session.close(), (1 << 20) + (4 << 10) + 192);
}
