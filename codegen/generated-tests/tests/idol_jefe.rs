//! Hubris's jefe.idol as ported in examples/idol/jefe.cap: the generated
//! client, dispatch and a small supervisor over a loopback transport.
//!
//! - Every operation round-trips its arguments and results (each
//!   `ResetReason`, `Other` with its word, a dump area, the fault counts).
//! - The dump operations' `DumpAgentError`s come back as
//!   `CallError::Server`; an operation without errors whose server returns
//!   one is answered `UndeclaredError`.
//! - A server's death: an idempotent operation is sent again, up to
//!   `Transport::RETRIES` more times, and succeeds once the server is back;
//!   past that, and at once for an operation that is not idempotent
//!   (`claim_dump_area`, `dump_task`), the client answers
//!   `CallError::ServerDied` without sending again.
//! - `read_fault_counts` lends the caller's counts for jefe to write: the
//!   lease is minted write-only, the counts land in the caller's region at
//!   the lent offset, and the lease ends once the call returns, retried or
//!   not.

use std::cell::RefCell;
use std::rc::Rc;

use capc_generated_tests::idol_jefe::*;

type Words = [u64; target::MESSAGE_WORDS];
type Slots = [u64; target::CAPS_PER_MESSAGE];

/// A supervisor: its state word, the last reset reason, dump areas (each
/// claimed or not), fault counts, and what it was asked.
#[derive(Default)]
struct Jefe {
    state: u32,
    reason: Option<ResetReason>,
    claimed: Vec<bool>,
    faults: [u32; 16],
    resets: u32,
    restarts: u32,
    dumped: Vec<(u32, u32, u32)>,
    /// Makes `get_state` return an error it does not declare.
    misbehave: bool,
    /// The caller's region, as jefe reaches what it is lent.
    region: Region,
}

/// A region of the caller's memory (the frame of every lease here).
#[derive(Clone, Default)]
struct Region(Rc<RefCell<Vec<u8>>>);

impl LeaseMemory for Region {
    fn read(&mut self, _frame: u64, at: u64, bytes: &mut [u8]) -> bool {
        let region = self.0.borrow();
        let at = at as usize;
        match region.get(at..at + bytes.len()) {
            Some(from) => {
                bytes.copy_from_slice(from);
                true
            }
            None => false,
        }
    }

    fn write(&mut self, _frame: u64, at: u64, bytes: &[u8]) -> bool {
        let mut region = self.0.borrow_mut();
        let at = at as usize;
        match region.get_mut(at..at + bytes.len()) {
            Some(to) => {
                to.copy_from_slice(bytes);
                true
            }
            None => false,
        }
    }
}

const AREA_BYTES: u32 = 0x1000;

fn area(index: usize) -> DumpArea {
    DumpArea {
        region: DumpAreaRegion {
            address: 0x2000_0000 + index as u32 * AREA_BYTES,
            length: AREA_BYTES,
        },
        // Each area holds another of humpty's contents, in their order.
        contents: [
            DumpContents::Available,
            DumpContents::SingleTask,
            DumpContents::WholeSystem,
            DumpContents::Unknown,
            DumpContents::TaskRegion,
        ][index % 5],
        index: index as u8,
    }
}

impl JefeServer for Jefe {
    fn get_state(&mut self) -> Result<JefeGetStateReply, DumpAgentError> {
        if self.misbehave {
            return Err(DumpAgentError::DumpFailed);
        }
        Ok(JefeGetStateReply { state: self.state })
    }

    fn set_state(&mut self, state: u32) -> Result<(), DumpAgentError> {
        self.state = state;
        Ok(())
    }

    fn request_reset(&mut self) -> Result<(), DumpAgentError> {
        self.resets += 1;
        Ok(())
    }

    fn get_reset_reason(&mut self) -> Result<JefeGetResetReasonReply, DumpAgentError> {
        Ok(JefeGetResetReasonReply {
            reason: self.reason.unwrap_or(ResetReason::Unknown),
        })
    }

    fn set_reset_reason(&mut self, reason: ResetReason) -> Result<(), DumpAgentError> {
        self.reason = Some(reason);
        Ok(())
    }

    fn reinitialize_dump_areas(&mut self) -> Result<(), DumpAgentError> {
        self.claimed.iter_mut().for_each(|c| *c = false);
        Ok(())
    }

    fn get_dump_area(&mut self, index: u8) -> Result<JefeGetDumpAreaReply, DumpAgentError> {
        let index = usize::from(index);
        if index >= self.claimed.len() {
            return Err(DumpAgentError::InvalidArea);
        }
        Ok(JefeGetDumpAreaReply { area: area(index) })
    }

    fn claim_dump_area(&mut self) -> Result<JefeClaimDumpAreaReply, DumpAgentError> {
        let index = self
            .claimed
            .iter()
            .position(|c| !c)
            .ok_or(DumpAgentError::CannotClaimDumpArea)?;
        self.claimed[index] = true;
        Ok(JefeClaimDumpAreaReply { area: area(index) })
    }

    fn dump_task(&mut self, task_index: u32) -> Result<JefeDumpTaskReply, DumpAgentError> {
        self.dump_task_region(task_index, 0, 0)
            .map(|r| JefeDumpTaskReply { area: r.area })
    }

    fn dump_task_region(
        &mut self,
        task_index: u32,
        address: u32,
        length: u32,
    ) -> Result<JefeDumpTaskRegionReply, DumpAgentError> {
        if task_index >= 16 {
            return Err(DumpAgentError::DumpFailedSetup);
        }
        if !address.is_multiple_of(4) {
            return Err(DumpAgentError::UnalignedSegmentAddress);
        }
        let index = self
            .claimed
            .iter()
            .position(|c| !c)
            .ok_or(DumpAgentError::DumpAreaInUse)?;
        self.claimed[index] = true;
        self.dumped.push((task_index, address, length));
        Ok(JefeDumpTaskRegionReply { area: index as u8 })
    }

    fn reinitialize_dump_from(&mut self, index: u8) -> Result<(), DumpAgentError> {
        let index = usize::from(index);
        if index >= self.claimed.len() {
            return Err(DumpAgentError::InvalidArea);
        }
        self.claimed[index..].iter_mut().for_each(|c| *c = false);
        Ok(())
    }

    fn restart_me_raw(&mut self) -> Result<(), DumpAgentError> {
        self.restarts += 1;
        Ok(())
    }

    fn read_fault_counts(
        &mut self,
        data: Lease<LeaseWrite, u32, RegionCap, 16>,
    ) -> Result<(), DumpAgentError> {
        data.write(&mut self.region, 0, &self.faults)
            .map_err(|_| DumpAgentError::LeaseWriteFailed)
    }
}

/// The supervisor behind a loopback, which dies (answers `SERVER_DIED`
/// without running it) for the next `deaths` requests.
#[derive(Default)]
struct Loopback {
    jefe: Jefe,
    deaths: u32,
    sent: u32,
    /// The rights of each lease minted, and the leases not yet ended.
    minted: Vec<Rights>,
    lent: u32,
    /// The minted copies not yet ended, by slot: caps to the caller's
    /// region with the lease's rights.
    copies: std::collections::BTreeMap<u64, Cap>,
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
        if self.deaths > 0 {
            self.deaths -= 1;
            return MessageInfo {
                label: Self::SERVER_DIED,
                length: 0,
                caps: 0,
            };
        }
        let mut caps = [0; target::CAPS_PER_MESSAGE];
        caps[..caps_out.len()].copy_from_slice(caps_out);
        let copies = &self.copies;
        let reply = dispatch_jefe(&mut self.jefe, info, msg, &mut caps, |slot| {
            copies.get(&slot).copied()
        });
        // Hubris's response code is a `u32` (hubris.cap's `label_bits =
        // 32`): so is every reply's label, a refusal's too.
        assert_eq!(target::LAST_LABEL, u64::from(u32::MAX));
        assert!(reply.label <= target::LAST_LABEL, "{reply:?}");
        reply
    }

    fn mint(&mut self, _frame: u64, rights: Rights) -> Option<u64> {
        self.minted.push(rights);
        self.lent += 1;
        let slot = 100 + u64::from(self.lent);
        let region = RegionCap::new(0x1000_0000, 16, rights).ok()?;
        self.copies.insert(slot, region.cap());
        Some(slot)
    }

    fn end_lend(&mut self, lease: u64) {
        self.lent -= 1;
        self.copies.remove(&lease);
    }
}

/// The caller's 16 counts (64 bytes) from `offset` of its region.
fn counts(offset: u64) -> FrameRange<RegionCap> {
    FrameRange {
        frame: Slot::new(1),
        offset,
        bytes: 64,
    }
}

fn client(areas: usize) -> JefeClient<Loopback> {
    JefeClient::new(Loopback {
        jefe: Jefe {
            claimed: vec![false; areas],
            ..Jefe::default()
        },
        ..Loopback::default()
    })
}

#[test]
fn every_operation_round_trips() {
    let mut jefe = client(2);
    jefe.set_state(0xdead_beef).unwrap();
    assert_eq!(jefe.get_state().unwrap().state, 0xdead_beef);
    jefe.request_reset().unwrap();
    jefe.restart_me_raw().unwrap();
    assert_eq!(
        jefe.get_reset_reason().unwrap().reason,
        ResetReason::Unknown
    );
    for reason in [
        ResetReason::PowerOn,
        ResetReason::Pin,
        ResetReason::SystemCall,
        ResetReason::Brownout,
        ResetReason::SystemWatchdog,
        ResetReason::IndependentWatchdog,
        ResetReason::LowPowerSecurity,
        ResetReason::ExitStandby,
        ResetReason::Other(0),
        ResetReason::Other(u32::MAX),
        ResetReason::Unknown,
    ] {
        jefe.set_reset_reason(reason).unwrap();
        assert_eq!(jefe.get_reset_reason().unwrap().reason, reason);
    }
    // Every area, and with it every variant of humpty's `DumpContents`,
    // round-trips with its index.
    let mut five = client(5);
    for index in 0..5 {
        let got = five.get_dump_area(index).unwrap().area;
        assert_eq!(got, area(usize::from(index)));
        assert_eq!(got.index, index);
    }
    assert_eq!(jefe.claim_dump_area().unwrap().area, area(0));
    assert_eq!(jefe.dump_task_region(3, 0x100, 64).unwrap().area, 1);
    jefe.reinitialize_dump_from(1).unwrap();
    assert_eq!(jefe.dump_task(4).unwrap().area, 1);
    jefe.reinitialize_dump_areas().unwrap();
    assert_eq!(jefe.claim_dump_area().unwrap().area, area(0));
    let faults: [u32; 16] = core::array::from_fn(|i| (i as u32) * 1000 + 7);
    jefe.transport().jefe.faults = faults;
    *jefe.transport().jefe.region.0.borrow_mut() = vec![0; 128];
    jefe.read_fault_counts(counts(16)).unwrap();
    let region = jefe.transport().jefe.region.0.borrow().clone();
    assert!(region[..16].iter().all(|b| *b == 0));
    for (i, count) in faults.iter().enumerate() {
        let at = 16 + i * 4;
        assert_eq!(region[at..at + 4], count.to_le_bytes());
    }
    assert!(region[80..].iter().all(|b| *b == 0));
    assert_eq!(jefe.transport().minted, [Rights::WRITE]);
    assert_eq!(jefe.transport().lent, 0);
    let server = &jefe.transport().jefe;
    assert_eq!((server.resets, server.restarts), (1, 1));
    assert_eq!(server.dumped, [(3, 0x100, 64), (4, 0, 0)]);
}

#[test]
fn dump_errors_come_back_typed() {
    let mut jefe = client(1);
    assert_eq!(
        jefe.get_dump_area(1),
        Err(CallError::Server(DumpAgentError::InvalidArea))
    );
    assert_eq!(
        jefe.dump_task(16),
        Err(CallError::Server(DumpAgentError::DumpFailedSetup))
    );
    assert_eq!(
        jefe.dump_task_region(0, 2, 8),
        Err(CallError::Server(DumpAgentError::UnalignedSegmentAddress))
    );
    jefe.claim_dump_area().unwrap();
    assert_eq!(
        jefe.claim_dump_area(),
        Err(CallError::Server(DumpAgentError::CannotClaimDumpArea))
    );
    // The numbers are dump-agent-api's, from 1.
    assert_eq!(DumpAgentError::DumpAgentUnsupported.number(), 1);
    assert_eq!(DumpAgentError::LeaseWriteFailed.number(), 22);
    // `get_state` declares no error: one from its server is refused.
    jefe.transport().jefe.misbehave = true;
    assert_eq!(
        jefe.get_state(),
        Err(CallError::Refused(ProtocolError::UndeclaredError {
            number: DumpAgentError::DumpFailed.number()
        }))
    );
}

#[test]
fn idempotent_operations_are_retried_when_the_server_died() {
    let mut jefe = client(1);
    jefe.set_state(5).unwrap();
    // Dies twice, then answers: the third request gets the state.
    jefe.transport().deaths = 2;
    jefe.transport().sent = 0;
    assert_eq!(jefe.get_state().unwrap().state, 5);
    assert_eq!(jefe.transport().sent, 3);
    // Dies on the first try and every retry: the client gives up.
    jefe.transport().deaths = 1 + Loopback::RETRIES;
    jefe.transport().sent = 0;
    assert_eq!(jefe.get_state(), Err(CallError::ServerDied));
    assert_eq!(jefe.transport().sent, 1 + Loopback::RETRIES);
    assert_eq!(jefe.transport().deaths, 0);
    // An idempotent call with arguments is sent again whole.
    jefe.transport().deaths = 1;
    jefe.set_reset_reason(ResetReason::Other(42)).unwrap();
    assert_eq!(jefe.transport().jefe.reason, Some(ResetReason::Other(42)));
    // An idempotent call with a lease: sent again with the same lease,
    // which ends once, after the last try.
    *jefe.transport().jefe.region.0.borrow_mut() = vec![0; 64];
    jefe.transport().jefe.faults[3] = 9;
    jefe.transport().deaths = 2;
    jefe.transport().sent = 0;
    jefe.read_fault_counts(counts(0)).unwrap();
    assert_eq!(jefe.transport().sent, 3);
    assert_eq!(jefe.transport().minted.len(), 1);
    assert_eq!(jefe.transport().lent, 0);
    assert_eq!(jefe.transport().jefe.region.0.borrow()[12], 9);
    // The counts are exactly 16 `u32`s: a shorter range is not sent.
    jefe.transport().sent = 0;
    let short = FrameRange {
        bytes: 60,
        ..counts(0)
    };
    assert_eq!(
        jefe.read_fault_counts(short),
        Err(CallError::Argument(FieldError {
            field: "data",
            value: 60
        }))
    );
    assert_eq!(jefe.transport().sent, 0);
}

#[test]
fn other_operations_report_the_death_at_once() {
    let mut jefe = client(2);
    for death in [
        |j: &mut JefeClient<Loopback>| j.claim_dump_area().map(|_| ()),
        |j: &mut JefeClient<Loopback>| j.dump_task(1).map(|_| ()),
        |j: &mut JefeClient<Loopback>| j.reinitialize_dump_from(0),
    ] {
        jefe.transport().deaths = 1;
        jefe.transport().sent = 0;
        assert_eq!(death(&mut jefe), Err(CallError::ServerDied));
        assert_eq!(jefe.transport().sent, 1, "sent once, not again");
    }
    // The server never ran them.
    assert!(jefe.transport().jefe.claimed.iter().all(|c| !c));
    assert!(jefe.transport().jefe.dumped.is_empty());
}
