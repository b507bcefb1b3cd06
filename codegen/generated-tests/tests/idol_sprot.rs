//! Hubris's sprot.idol as ported in examples/idol/sprot.cap: the generated
//! client, dispatch and an in-test RoT over a loopback transport.
//!
//! - Every one of the 38 operations round-trips its arguments and results.
//! - Errors nest as sprot nests them (`DumpOrSprotError::Sprot` carrying a
//!   `SprotError::Watchdog` carrying a `WatchdogError::Other` with its
//!   code), each operation's own set comes back as `CallError::Server`, and
//!   the payload is laid out as docs/language.md says: the nested variants'
//!   indices, then their values, packed from byte 0.
//! - A nested error whose index no variant has, or whose unused bytes are
//!   not zero, does not decode.
//! - The leases: each is minted with exactly its rights and ended after
//!   the call; a read lease's bytes reach the server, a write lease's land
//!   in the caller's memory at the lent offset; a block past 512 bytes is
//!   refused by the client, and by the dispatcher before the server runs.
//! - A server's death: `status` (idempotent) is sent again; `abort_update`
//!   answers `ServerDied` at once.

use std::cell::RefCell;
use std::rc::Rc;

use capc_generated_tests::idol_sprot::*;

/// The bound of a lease without Idol's `max_len`: hubris.cap's largest
/// region.
const REGION: usize = 1 << 20;

/// The caller's memory, one region, as the RoT reaches what it is lent.
#[derive(Clone)]
struct Memory(Rc<RefCell<Vec<u8>>>);

impl Default for Memory {
    fn default() -> Memory {
        Memory(Rc::new(RefCell::new(vec![0; 8192])))
    }
}

impl LeaseMemory for Memory {
    fn read(&mut self, _frame: u64, at: u64, bytes: &mut [u8]) -> bool {
        let memory = self.0.borrow();
        let at = at as usize;
        match memory.get(at..at + bytes.len()) {
            Some(from) => {
                bytes.copy_from_slice(from);
                true
            }
            None => false,
        }
    }

    fn write(&mut self, _frame: u64, at: u64, bytes: &[u8]) -> bool {
        let mut memory = self.0.borrow_mut();
        let at = at as usize;
        match memory.get_mut(at..at + bytes.len()) {
            Some(to) => {
                to.copy_from_slice(bytes);
                true
            }
            None => false,
        }
    }
}

type Words = [u64; target::MESSAGE_WORDS];
type Slots = [u64; target::CAPS_PER_MESSAGE];

/// What the in-test RoT was asked, and the error it answers next.
#[derive(Default)]
struct Rot {
    calls: Vec<&'static str>,
    blocks: Vec<(u32, usize)>,
    dump_error: Option<DumpOrSprotError>,
    state_error: Option<StateOrSprotError>,
    memory: Memory,
    /// The first byte of each lent block or measurement.
    first_bytes: Vec<u8>,
}

const STATUS: SprotStatus = SprotStatus {
    rot: RotStatus {
        version: 4,
        min_version: 2,
        request_buf_size: 1024,
        response_buf_size: 1024,
    },
    sp: SpStatus {
        version: 4,
        min_version: 3,
        request_buf_size: 512,
        response_buf_size: 2048,
    },
};

/// `len` bytes counting up from `from`.
fn bytes(from: u32, len: u32) -> Vec<u8> {
    (0..len).map(|i| (from + i) as u8).collect()
}

impl Rot {
    /// Writes `dest.len()` bytes counting up from `from` into a write lease.
    fn fill(
        &mut self,
        dest: Lease<LeaseWrite, u8, RegionCap, REGION>,
        from: u32,
    ) -> Result<(), AttestError> {
        dest.write(&mut self.memory, 0, &bytes(from, dest.len() as u32))
            .map_err(|_| AttestError::BadLease)
    }

    /// The bytes of a read lease.
    fn take<const N: usize>(
        &mut self,
        lease: Lease<LeaseRead, u8, RegionCap, N>,
    ) -> Result<Vec<u8>, AttestError> {
        let mut out = vec![0; lease.len()];
        lease
            .read(&mut self.memory, 0, &mut out)
            .map_err(|_| AttestError::BadLease)?;
        self.first_bytes.extend(out.first());
        Ok(out)
    }
}

fn attest(error: AttestError) -> AttestOrSprotError {
    AttestOrSprotError::Attest { error }
}

impl SpRotServer for Rot {
    fn status(&mut self) -> Result<SpRotStatusReply, SprotError> {
        self.calls.push("status");
        Ok(SpRotStatusReply { status: STATUS })
    }
    fn io_stats(&mut self) -> Result<SpRotIoStatsReply, SprotError> {
        self.calls.push("io_stats");
        let rot = RotIoStats {
            rx_received: 1,
            rx_overrun: 2,
            request_msg_too_large: 3,
            csn_pulses: 4,
            tx_underrun: 5,
            rx_invalid: 6,
            tx_incomplete: 7,
            desynchronized: u32::MAX,
        };
        let sp = SpIoStats {
            tx_sent: 10,
            tx_errors: 11,
            rx_received: 12,
            rx_errors: 13,
            rx_invalid: 14,
            retries: 15,
            csn_pulses: 16,
            csn_pulse_failures: 17,
            timeouts: 18,
            desynchronized: 19,
        };
        Ok(SpRotIoStatsReply {
            stats: SprotIoStats { rot, sp },
        })
    }
    fn rot_state(&mut self) -> Result<SpRotRotStateReply, SprotError> {
        self.calls.push("rot_state");
        Ok(SpRotRotStateReply { state: rot_state() })
    }
    fn pulse_cs(&mut self, delay: u16) -> Result<SpRotPulseCsReply, SprotError> {
        self.calls.push("pulse_cs");
        Ok(SpRotPulseCsReply {
            status: PulseStatus {
                rot_irq_begin: (delay >> 8) as u8,
                rot_irq_end: delay as u8,
            },
        })
    }
    fn block_size(&mut self) -> Result<SpRotBlockSizeReply, SprotError> {
        self.calls.push("block_size");
        Ok(SpRotBlockSizeReply { size: 512 })
    }
    fn prep_image_update(&mut self, target: UpdateTarget) -> Result<(), SprotError> {
        self.calls.push("prep_image_update");
        match target {
            UpdateTarget::Reserved => Err(SprotError::Update {
                error: UpdateError::InvalidSlotIdForOperation,
            }),
            _ => Ok(()),
        }
    }
    fn write_one_block(
        &mut self,
        block_num: u32,
        block: Lease<LeaseRead, u8, RegionCap, 512>,
    ) -> Result<(), SprotError> {
        self.calls.push("write_one_block");
        let block = self.take(block).map_err(|_| SprotError::Update {
            error: UpdateError::BadLength,
        })?;
        self.blocks.push((block_num, block.len()));
        Ok(())
    }
    fn abort_update(&mut self) -> Result<(), SprotError> {
        self.calls.push("abort_update");
        Ok(())
    }
    fn finish_image_update(&mut self) -> Result<(), SprotError> {
        self.calls.push("finish_image_update");
        Err(SprotError::Update {
            error: UpdateError::UpdateNotStarted,
        })
    }
    fn switch_default_image(
        &mut self,
        slot: SlotId,
        duration: SwitchDuration,
    ) -> Result<(), SprotError> {
        self.calls.push("switch_default_image");
        assert_eq!((slot, duration), (SlotId::B, SwitchDuration::Forever));
        Ok(())
    }
    fn reset(&mut self) -> Result<(), SprotError> {
        self.calls.push("reset");
        Ok(())
    }
    fn dump(&mut self, _address: u32) -> Result<(), DumpOrSprotError> {
        self.calls.push("dump");
        self.dump_error.map_or(Ok(()), Err)
    }
    fn caboose_size(
        &mut self,
        slot: SlotId,
    ) -> Result<SpRotCabooseSizeReply, RawCabooseOrSprotError> {
        self.calls.push("caboose_size");
        match slot {
            SlotId::A => Ok(SpRotCabooseSizeReply { size: 256 }),
            SlotId::B => Err(RawCabooseOrSprotError::Caboose {
                error: RawCabooseError::MissingCaboose,
            }),
        }
    }
    fn read_caboose_region(
        &mut self,
        offset: u32,
        _slot: SlotId,
        out: Lease<LeaseWrite, u8, RegionCap, REGION>,
    ) -> Result<(), RawCabooseOrSprotError> {
        self.calls.push("read_caboose_region");
        self.fill(out, offset)
            .map_err(|_| RawCabooseOrSprotError::Caboose {
                error: RawCabooseError::InvalidRead,
            })
    }
    fn rot_boot_info(&mut self) -> Result<SpRotRotBootInfoReply, SprotError> {
        self.calls.push("rot_boot_info");
        Ok(SpRotRotBootInfoReply {
            info: RotBootInfo {
                active: SlotId::A,
                persistent_boot_preference: SlotId::B,
                pending_persistent_boot_preference: None,
                transient_boot_preference: Some(SlotId::A),
                slot_a_sha3_256_digest: Some([0xa5; 32]),
                slot_b_sha3_256_digest: None,
            },
        })
    }
    fn cert_chain_len(&mut self) -> Result<SpRotCertChainLenReply, AttestOrSprotError> {
        self.calls.push("cert_chain_len");
        Ok(SpRotCertChainLenReply { len: 3 })
    }
    fn cert_len(&mut self, index: u32) -> Result<SpRotCertLenReply, AttestOrSprotError> {
        self.calls.push("cert_len");
        if index >= 3 {
            return Err(AttestOrSprotError::Attest {
                error: AttestError::InvalidCertIndex,
            });
        }
        Ok(SpRotCertLenReply { len: 400 + index })
    }
    fn cert(
        &mut self,
        _index: u32,
        offset: u32,
        dest: Lease<LeaseWrite, u8, RegionCap, REGION>,
    ) -> Result<(), AttestOrSprotError> {
        self.calls.push("cert");
        self.fill(dest, offset).map_err(attest)
    }
    fn record(
        &mut self,
        _algorithm: HashAlgorithm,
        data: Lease<LeaseRead, u8, RegionCap, 512>,
    ) -> Result<(), AttestOrSprotError> {
        self.calls.push("record");
        if self.take(data).map_err(attest)?.len() != 32 {
            return Err(AttestOrSprotError::Attest {
                error: AttestError::BadLease,
            });
        }
        Ok(())
    }
    fn read_rot_page(
        &mut self,
        page: RotPage,
        dest: Lease<LeaseWrite, u8, RegionCap, REGION>,
    ) -> Result<(), SprotError> {
        self.calls.push("read_rot_page");
        self.fill(dest, page as u32)
            .map_err(|_| SprotError::Update {
                error: UpdateError::BadLength,
            })
    }
    fn log(
        &mut self,
        offset: u32,
        dest: Lease<LeaseWrite, u8, RegionCap, REGION>,
    ) -> Result<(), AttestOrSprotError> {
        self.calls.push("log");
        self.fill(dest, offset).map_err(attest)
    }
    fn log_len(&mut self) -> Result<SpRotLogLenReply, AttestOrSprotError> {
        self.calls.push("log_len");
        Ok(SpRotLogLenReply { len: 77 })
    }
    fn attest(
        &mut self,
        nonce: Lease<LeaseRead, u8, RegionCap, 128>,
        dest: Lease<LeaseWrite, u8, RegionCap, REGION>,
    ) -> Result<(), AttestOrSprotError> {
        self.calls.push("attest");
        let nonce = self.take(nonce).map_err(attest)?;
        self.fill(dest, u32::from(nonce[0])).map_err(attest)
    }
    fn attest_len(&mut self) -> Result<SpRotAttestLenReply, AttestOrSprotError> {
        self.calls.push("attest_len");
        Ok(SpRotAttestLenReply { len: 100 })
    }
    fn enable_sp_slot_watchdog(&mut self, time_ms: u32) -> Result<(), SprotError> {
        self.calls.push("enable_sp_slot_watchdog");
        Err(SprotError::Watchdog {
            error: WatchdogError::Other { code: time_ms },
        })
    }
    fn disable_sp_slot_watchdog(&mut self) -> Result<(), SprotError> {
        self.calls.push("disable_sp_slot_watchdog");
        Ok(())
    }
    fn sp_slot_watchdog_supported(&mut self) -> Result<(), SprotError> {
        self.calls.push("sp_slot_watchdog_supported");
        Err(SprotError::Watchdog {
            error: WatchdogError::DongleDetected,
        })
    }
    fn versioned_rot_boot_info(
        &mut self,
        version: u8,
    ) -> Result<SpRotVersionedRotBootInfoReply, SprotError> {
        self.calls.push("versioned_rot_boot_info");
        Ok(SpRotVersionedRotBootInfoReply {
            info: boot_info(version),
        })
    }
    fn component_caboose_size(
        &mut self,
        component: RotComponent,
        _slot: SlotId,
    ) -> Result<SpRotComponentCabooseSizeReply, RawCabooseOrSprotError> {
        self.calls.push("component_caboose_size");
        Ok(SpRotComponentCabooseSizeReply {
            size: 100 + component as u32,
        })
    }
    fn component_read_caboose_region(
        &mut self,
        offset: u32,
        _component: RotComponent,
        _slot: SlotId,
        out: Lease<LeaseWrite, u8, RegionCap, REGION>,
    ) -> Result<(), RawCabooseOrSprotError> {
        self.calls.push("component_read_caboose_region");
        self.fill(out, offset)
            .map_err(|_| RawCabooseOrSprotError::Caboose {
                error: RawCabooseError::InvalidRead,
            })
    }
    fn component_prep_image_update(
        &mut self,
        _component: RotComponent,
        _slot: SlotId,
    ) -> Result<(), SprotError> {
        self.calls.push("component_prep_image_update");
        Ok(())
    }
    fn component_switch_default_image(
        &mut self,
        _component: RotComponent,
        _slot: SlotId,
        _duration: SwitchDuration,
    ) -> Result<(), SprotError> {
        self.calls.push("component_switch_default_image");
        Ok(())
    }
    fn lifecycle_state(&mut self) -> Result<SpRotLifecycleStateReply, StateOrSprotError> {
        self.calls.push("lifecycle_state");
        self.state_error.map_or(
            Ok(SpRotLifecycleStateReply {
                state: LifecycleState::EndOfLife,
            }),
            Err,
        )
    }
    fn tq_cert_chain_len(&mut self) -> Result<SpRotTqCertChainLenReply, AttestOrSprotError> {
        self.calls.push("tq_cert_chain_len");
        Ok(SpRotTqCertChainLenReply { len: 2 })
    }
    fn tq_cert_len(&mut self, index: u32) -> Result<SpRotTqCertLenReply, AttestOrSprotError> {
        self.calls.push("tq_cert_len");
        Ok(SpRotTqCertLenReply { len: 300 + index })
    }
    fn tq_cert(
        &mut self,
        _index: u32,
        offset: u32,
        dest: Lease<LeaseWrite, u8, RegionCap, REGION>,
    ) -> Result<(), AttestOrSprotError> {
        self.calls.push("tq_cert");
        self.fill(dest, offset).map_err(attest)
    }
    fn tq_sign(
        &mut self,
        tq: Lease<LeaseRead, u8, RegionCap, 32>,
        dest: Lease<LeaseWrite, u8, RegionCap, REGION>,
    ) -> Result<(), AttestOrSprotError> {
        self.calls.push("tq_sign");
        let tq = self.take(tq).map_err(attest)?;
        self.fill(dest, tq.len() as u32).map_err(attest)
    }
    fn tq_sign_len(&mut self) -> Result<SpRotTqSignLenReply, AttestOrSprotError> {
        self.calls.push("tq_sign_len");
        Ok(SpRotTqSignLenReply { len: 64 })
    }
}

/// The boot state the test's RoT reports: slot B active, its image good,
/// slot A's and stage0next's failed with errors at both ends of
/// `ImageError`.
fn rot_state() -> RotState {
    let details = |digest: u8, status| RotImageDetailsV2 {
        digest: [digest; 32],
        status,
    };
    RotState::V2(RotStateV2 {
        state: RotBootStateV2 {
            active: RotSlot::B,
            a: details(0xa, ImageStatus::Err(ImageError::Unchecked)),
            b: details(0xb, ImageStatus::Ok),
            stage0: details(0, ImageStatus::Ok),
            stage0next: details(1, ImageStatus::Err(ImageError::Signature)),
        },
    })
}

/// The boot info of `version` (1 or 2; `V1` with no digests otherwise).
fn boot_info(version: u8) -> VersionedRotBootInfo {
    match version {
        2 => VersionedRotBootInfo::V2(RotBootInfoV2 {
            active: SlotId::A,
            persistent_boot_preference: SlotId::B,
            pending_persistent_boot_preference: None,
            transient_boot_preference: Some(SlotId::A),
            slot_a_fwid: Fwid::Sha3_256([1; 32]),
            slot_b_fwid: Fwid::Sha3_256([2; 32]),
            stage0_fwid: Fwid::Sha3_256([3; 32]),
            stage0next_fwid: Fwid::Sha3_256([0xff; 32]),
            slot_a_status: ImageStatus::Ok,
            slot_b_status: ImageStatus::Err(ImageError::BadMagic),
            stage0_status: ImageStatus::Ok,
            stage0next_status: ImageStatus::Err(ImageError::ResetVector),
        }),
        v => VersionedRotBootInfo::V1(RotBootInfo {
            active: SlotId::B,
            persistent_boot_preference: SlotId::B,
            pending_persistent_boot_preference: Some(SlotId::A),
            transient_boot_preference: None,
            slot_a_sha3_256_digest: (v == 1).then_some([7; 32]),
            slot_b_sha3_256_digest: None,
        }),
    }
}

/// The RoT behind a loopback, which dies for the next `deaths` requests.
#[derive(Default)]
struct Loopback {
    rot: Rot,
    deaths: u32,
    sent: u32,
    /// The rights of each lease minted, and how many are not yet ended.
    minted: Vec<Rights>,
    lent: u32,
    /// The minted copies not yet ended, by slot: caps to the caller's
    /// memory with the lease's rights.
    copies: std::collections::BTreeMap<u64, Cap>,
}

/// A cap to the caller's memory with `rights`.
fn region(rights: Rights) -> Cap {
    RegionCap::new(0x1000_0000, 20, rights)
        .expect("a region")
        .cap()
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
        dispatch_sp_rot(&mut self.rot, info, msg, &mut caps, |slot| {
            copies.get(&slot).copied()
        })
    }

    fn mint(&mut self, _frame: u64, rights: Rights) -> Option<u64> {
        self.minted.push(rights);
        self.lent += 1;
        let slot = 100 + self.minted.len() as u64;
        self.copies.insert(slot, region(rights));
        Some(slot)
    }

    fn end_lend(&mut self, lease: u64) {
        self.lent -= 1;
        self.copies.remove(&lease);
    }
}

/// `len` bytes of the caller's memory from `at`.
fn lent(at: u64, len: u64) -> FrameRange<RegionCap> {
    FrameRange {
        frame: Slot::new(1),
        offset: at,
        bytes: len,
    }
}

/// Writes `values` into the caller's memory at `at`.
fn put(sp: &mut SpRotClient<Loopback>, at: usize, values: &[u8]) {
    sp.transport().rot.memory.0.borrow_mut()[at..at + values.len()].copy_from_slice(values);
}

/// The caller's memory from `at`, `len` bytes.
fn got(sp: &mut SpRotClient<Loopback>, at: usize, len: usize) -> Vec<u8> {
    sp.transport().rot.memory.0.borrow()[at..at + len].to_vec()
}

fn client() -> SpRotClient<Loopback> {
    SpRotClient::new(Loopback::default())
}

#[test]
fn every_operation_round_trips() {
    let mut sp = client();
    assert_eq!(sp.status().unwrap().status, STATUS);
    let stats = sp.io_stats().unwrap().stats;
    assert_eq!(
        (stats.rot.desynchronized, stats.sp.timeouts),
        (u32::MAX, 18)
    );
    assert_eq!(sp.rot_state().unwrap().state, rot_state());
    let pulse = sp.pulse_cs(0x1234).unwrap().status;
    assert_eq!((pulse.rot_irq_begin, pulse.rot_irq_end), (0x12, 0x34));
    assert_eq!(sp.block_size().unwrap().size, 512);
    sp.prep_image_update(UpdateTarget::ImageB).unwrap();
    put(&mut sp, 0, &bytes(0, 512));
    sp.write_one_block(7, lent(0, 512)).unwrap();
    sp.write_one_block(8, lent(0, 0)).unwrap();
    sp.abort_update().unwrap();
    sp.switch_default_image(SlotId::B, SwitchDuration::Forever)
        .unwrap();
    sp.reset().unwrap();
    sp.dump(0x2000_0000).unwrap();
    assert_eq!(sp.caboose_size(SlotId::A).unwrap().size, 256);
    sp.read_caboose_region(5, SlotId::A, lent(1024, 512))
        .unwrap();
    assert_eq!(got(&mut sp, 1024, 512), bytes(5, 512));
    let info = sp.rot_boot_info().unwrap().info;
    assert_eq!(info.transient_boot_preference, Some(SlotId::A));
    assert_eq!(info.slot_a_sha3_256_digest, Some([0xa5; 32]));
    assert_eq!(info.slot_b_sha3_256_digest, None);
    assert_eq!(sp.cert_chain_len().unwrap().len, 3);
    assert_eq!(sp.cert_len(2).unwrap().len, 402);
    sp.cert(0, 9, lent(2000, 100)).unwrap();
    assert_eq!(got(&mut sp, 2000, 100), bytes(9, 100));
    put(&mut sp, 3000, &[0xcc; 32]);
    sp.record(HashAlgorithm::Sha3_256, lent(3000, 32)).unwrap();
    sp.read_rot_page(RotPage::CfpaScratch, lent(3100, 4))
        .unwrap();
    assert_eq!(got(&mut sp, 3100, 4), bytes(2, 4));
    sp.log(3, lent(3200, 0)).unwrap();
    assert_eq!(sp.log_len().unwrap().len, 77);
    put(&mut sp, 4000, &[42; 128]);
    sp.attest(lent(4000, 128), lent(4200, 10)).unwrap();
    assert_eq!(got(&mut sp, 4200, 10), bytes(42, 10));
    assert_eq!(sp.attest_len().unwrap().len, 100);
    sp.disable_sp_slot_watchdog().unwrap();
    // Both versions of the boot info, and the boot state's every layer
    // (records, options, `Fwid`, `Result<(), ImageError>`), round-trip.
    assert_eq!(sp.versioned_rot_boot_info(1).unwrap().info, boot_info(1));
    assert_eq!(sp.versioned_rot_boot_info(2).unwrap().info, boot_info(2));
    assert_ne!(boot_info(1), boot_info(2));
    assert_eq!(
        sp.component_caboose_size(RotComponent::Stage0, SlotId::B)
            .unwrap()
            .size,
        101
    );
    sp.component_read_caboose_region(1, RotComponent::Hubris, SlotId::A, lent(4300, 3))
        .unwrap();
    assert_eq!(got(&mut sp, 4300, 3), bytes(1, 3));
    sp.component_prep_image_update(RotComponent::Stage0, SlotId::A)
        .unwrap();
    sp.component_switch_default_image(RotComponent::Hubris, SlotId::B, SwitchDuration::Once)
        .unwrap();
    assert_eq!(
        sp.lifecycle_state().unwrap().state,
        LifecycleState::EndOfLife
    );
    assert_eq!(sp.tq_cert_chain_len().unwrap().len, 2);
    assert_eq!(sp.tq_cert_len(1).unwrap().len, 301);
    sp.tq_cert(0, 4, lent(4400, 8)).unwrap();
    assert_eq!(got(&mut sp, 4400, 8), bytes(4, 8));
    put(&mut sp, 4500, &[7; 32]);
    sp.tq_sign(lent(4500, 32), lent(4600, 5)).unwrap();
    assert_eq!(got(&mut sp, 4600, 5), bytes(32, 5));
    assert_eq!(sp.tq_sign_len().unwrap().len, 64);
    // The four that fail by design, and the one the server refuses.
    assert!(sp.finish_image_update().is_err());
    assert!(sp.enable_sp_slot_watchdog(1).is_err());
    assert!(sp.sp_slot_watchdog_supported().is_err());
    assert!(sp.caboose_size(SlotId::B).is_err());
    assert!(sp.prep_image_update(UpdateTarget::Reserved).is_err());
    let calls = &sp.transport().rot.calls;
    let mut distinct = calls.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 38, "every operation ran: {calls:?}");
    assert_eq!(sp.transport().rot.blocks, [(7, 512), (8, 0)]);
    // What the read leases carried reached the RoT.
    assert_eq!(sp.transport().rot.first_bytes, [0, 0xcc, 42, 7]);
    // Every lease minted with exactly its rights, and every one ended.
    let (read, write) = (Rights::READ, Rights::WRITE);
    assert_eq!(
        sp.transport().minted,
        [
            read, read, write, write, read, write, write, read, write, write, write, read, write
        ]
    );
    assert_eq!(sp.transport().lent, 0);
}

#[test]
fn nested_errors_come_back_whole() {
    let mut sp = client();
    assert_eq!(
        sp.finish_image_update(),
        Err(CallError::Server(SprotError::Update {
            error: UpdateError::UpdateNotStarted
        }))
    );
    assert_eq!(
        sp.enable_sp_slot_watchdog(u32::MAX),
        Err(CallError::Server(SprotError::Watchdog {
            error: WatchdogError::Other { code: u32::MAX }
        }))
    );
    assert_eq!(
        sp.caboose_size(SlotId::B),
        Err(CallError::Server(RawCabooseOrSprotError::Caboose {
            error: RawCabooseError::MissingCaboose
        }))
    );
    assert_eq!(
        sp.cert_len(3),
        Err(CallError::Server(AttestOrSprotError::Attest {
            error: AttestError::InvalidCertIndex
        }))
    );
    for error in [
        DumpOrSprotError::Sprot {
            error: SprotError::Protocol {
                error: SprotProtocolError::Desynchronized,
            },
        },
        DumpOrSprotError::Sprot {
            error: SprotError::Spi {
                error: SpiError::TaskRestarted,
            },
        },
        DumpOrSprotError::Dump {
            error: DumperError::UnknownFailureViaSprot,
        },
    ] {
        sp.transport().rot.dump_error = Some(error);
        assert_eq!(sp.dump(0), Err(CallError::Server(error)));
    }
    for error in [
        StateOrSprotError::State {
            error: StateError::ReadCfpa {
                error: UpdateError::VersionNotSupported,
            },
        },
        StateOrSprotError::State {
            error: StateError::BadRevoke { revoke: 0xff },
        },
        StateOrSprotError::Sprot {
            error: SprotError::Sprockets {
                error: SprocketsError::UnsupportedVersion,
            },
        },
    ] {
        sp.transport().rot.state_error = Some(error);
        assert_eq!(sp.lifecycle_state(), Err(CallError::Server(error)));
    }
}

#[test]
fn a_nested_error_is_laid_out_as_documented() {
    // `Sprot` is number 1 of DumpOrSprotError; its payload is a nested
    // SprotError: `Watchdog` is index 4, then its nested WatchdogError:
    // `Other` is index 1, then the code, little-endian.
    let error = DumpOrSprotError::Sprot {
        error: SprotError::Watchdog {
            error: WatchdogError::Other { code: 0x1122_3344 },
        },
    };
    let mut words = [u64::MAX; 4];
    let info = error.reply(&mut words);
    assert_eq!((info.label, info.length), (1, 1));
    assert_eq!(words[0], 0x0000_1122_3344_0104);
    assert_eq!(DumpOrSprotError::decode(1, &words[..1]), Some(error));
    // A nested SprotError takes its index and the widest payload, a
    // WatchdogError's 5 bytes.
    assert_eq!(<SprotError as Wire>::BYTES, 6);
    // An index no variant has, at either depth.
    assert_eq!(DumpOrSprotError::decode(1, &[0x05]), None);
    assert_eq!(DumpOrSprotError::decode(1, &[0x0204]), None);
    // A nonzero byte past the nested error's end, or past the payload.
    assert_eq!(DumpOrSprotError::decode(1, &[0x0100_0000_0000_0000]), None);
    assert_eq!(
        DumpOrSprotError::decode(1, &[0x0000_0100_0000_0004]),
        None,
        "bytes past `DongleDetected` are zero"
    );
    assert_eq!(
        DumpOrSprotError::decode(1, &[0x0004]),
        Some(DumpOrSprotError::Sprot {
            error: SprotError::Watchdog {
                error: WatchdogError::DongleDetected
            }
        })
    );
    // A number outside the set, and a payload missing.
    assert_eq!(DumpOrSprotError::decode(3, &[0]), None);
    assert_eq!(DumpOrSprotError::decode(1, &[]), None);
}

#[test]
fn leases_are_bounded() {
    let mut sp = client();
    // The client does not send a block past `max_len`.
    assert_eq!(
        sp.write_one_block(0, lent(0, 513)),
        Err(CallError::Argument(FieldError {
            field: "block",
            value: 513
        }))
    );
    assert_eq!(sp.transport().sent, 0);
    // Nor does the dispatcher take one: words `block_num`, then the
    // lease's offset and length, and its cap.
    let mut msg = [0; target::MESSAGE_WORDS];
    msg[..3].copy_from_slice(&[0, 0, 513]);
    let info = MessageInfo {
        label: SpRotLabel::WriteOneBlock.label(),
        length: 3,
        caps: 1,
    };
    let reply = dispatch_sp_rot(&mut sp.transport().rot, info, &mut msg, &mut [1, 0], |_| {
        Some(region(Rights::READ))
    });
    assert_eq!(
        reply.label,
        ProtocolError::InvalidArgument { index: 1 }.label()
    );
    // A write lease past the largest region (1 MiB), or whose end
    // overflows, is refused before it is minted.
    for range in [lent(0, 1 << 20 | 1), lent(u64::MAX, 1)] {
        assert!(matches!(
            sp.read_caboose_region(0, SlotId::A, range),
            Err(CallError::Argument(_))
        ));
    }
    assert!(sp.transport().minted.is_empty());
    assert!(sp.transport().rot.calls.is_empty(), "the server never ran");
}

#[test]
fn a_server_death_is_retried_only_where_idempotent() {
    let mut sp = client();
    sp.transport().deaths = 1;
    assert_eq!(sp.status().unwrap().status, STATUS);
    assert_eq!(sp.transport().sent, 2);
    sp.transport().deaths = 1;
    sp.transport().sent = 0;
    assert_eq!(sp.abort_update(), Err(CallError::ServerDied));
    assert_eq!(sp.transport().sent, 1);
    assert_eq!(sp.transport().rot.calls, ["status"]);
}
