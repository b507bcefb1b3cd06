//! The decompression server of `kernel-demo/spec/decompress.cap`, served
//! through the generated `dispatch_decompressor`: it decompresses the
//! run-length input a client lends in a frame into output frames in a CNode
//! it grants back.
//!
//! In its first mode (argument 0) the client pays: every object of a call
//! is retyped from the Untyped the client donated, and every allocation
//! goes through the generated budget, which stops at what the spec declares
//! (256 pages and a CNode); the server's own memory never changes. In its
//! second mode (argument 1, the control run) the server pays, as in Mach:
//! it allocates from its own budget, as much as the input asks for.
//!
//! The budget's addresses are where the kernel's retype puts each object
//! (it hands out the donation as retype does); the server checks every
//! object it makes against them and reports the count with each call.

#![no_std]
#![no_main]

use core::fmt::Write;

use capc_demo_user::abi::ROOT_IPC_BUFFER;
use capc_demo_user::caps::{self, FrameCap, ObjectType, Rights, Slot, UntypedCap};
use capc_demo_user::decompress::{
    DecompressError, DecompressorDecompressBudget, DecompressorDecompressReply, DecompressorLabel,
    DecompressorServer, DecompressorStatsReply, Donation, MessageInfo as RpcInfo,
    dispatch_decompressor,
};
use capc_demo_user::system::boot::{client_pays, server_pays};
use capc_demo_user::task::SCRATCH_VADDR;
use capc_demo_user::{Env, MessageInfo, cap_at, entry, rle, target};

entry!(main);

// The slots of its CSpace, as the boot plan generated from
// kernel-demo/spec/client_pays.cap fills them; the control run's server
// (`server_pays`) has the same (checked below).
use client_pays::decompressor as slots;

/// Its own CNode, its CSpace's root.
const SELF: u64 = slots::CSPACE.index();
/// Its address space's root.
const VSPACE: u64 = slots::VSPACE;
/// What is left of its budget after its objects and address space.
const BUDGET: u64 = slots::BUDGET[0].index();
/// The endpoint it serves on.
const ENDPOINT: u64 = slots::EP.index();
const FIRST_FREE: u64 = slots::FIRST_FREE;
const _: () = {
    use server_pays::decompressor as other;
    assert!(
        other::CSPACE.index() == SELF
            && other::VSPACE == VSPACE
            && other::BUDGET[0].index() == BUDGET
            && other::EP.index() == ENDPOINT
            && other::FIRST_FREE == FIRST_FREE
            && FIRST_FREE + 4 <= 1 << slots::RADIX
    );
};

/// Where a call's caps arrive: the lent input frame, the donation.
const INPUT: u64 = FIRST_FREE;
const DONATION: u64 = FIRST_FREE + 1;
/// The output CNode being filled, and a frame on its way into it.
const OUTPUT: u64 = FIRST_FREE + 2;
const PAGE: u64 = FIRST_FREE + 3;
/// Bytes of a page; the largest input (one lent frame).
const PAGE_BYTES: u64 = 4096;

/// Bytes of its own budget the server has used.
fn own_usage() -> (u64, u64) {
    UntypedCap::from_cap(cap_at(BUDGET)).map_or((0, 0), |u| (u.free_index() * 16, 1 << u.bits()))
}

struct Service {
    env: Env,
    server_pays: bool,
    calls: u64,
    bytes_out: u64,
    /// The last call's donation and what the budget let the server take
    /// of it (both 0 for a call that brought none, or when it pays itself).
    donated: u64,
    charged: u64,
    /// The last call's objects from a budget, and of them those the kernel
    /// put where the budget said.
    made: u64,
    placed: u64,
    /// Per client (by badge): calls, bytes donated, bytes charged.
    accounts: [Account; 4],
    /// Bytes of its own budget in use when it started serving.
    own_at_start: u64,
}

/// What one client gave and was charged.
#[derive(Clone, Copy, Default)]
struct Account {
    calls: u64,
    donated: u64,
    charged: u64,
}

impl Service {
    /// Removes what a call left in the server's CSpace: its copies of the
    /// lent frame and of the donation, and the output (granted by now).
    fn clean_up(&mut self) {
        for slot in [PAGE, OUTPUT, INPUT, DONATION] {
            let _ = capc_demo_user::caps::CNodeCapClient(self.env.cap(SELF))
                .delete(slot, 64)
                .map_err(capc_demo_user::Error::from);
        }
    }

    /// Counts an object the budget handed out at `want` and the kernel made
    /// in `slot`: whether it lies where the budget said.
    fn placed(&mut self, slot: u64, want: u64) {
        self.made += 1;
        if caps::region(cap_at(slot)).map(|(base, _)| base) == Some(want) {
            self.placed += 1;
        }
    }

    /// The input bytes: the lent frame mapped for the time of reading.
    fn read_input(
        &mut self,
        input: Slot<FrameCap>,
        len: u64,
        out: &mut [u8; PAGE_BYTES as usize],
    ) -> Result<(), DecompressError> {
        if len > PAGE_BYTES {
            return Err(DecompressError::InputTooLarge { max: PAGE_BYTES });
        }
        let at = SCRATCH_VADDR[0];
        capc_demo_user::caps::FrameCapClient(self.env.cap(input.index()))
            .map(Slot::new(VSPACE), at, Rights::READ.bits())
            .map_err(capc_demo_user::Error::from)
            .map_err(|_| DecompressError::Corrupt { offset: 0 })?;
        // SAFETY: the frame was just mapped there, readable.
        let page = unsafe { core::slice::from_raw_parts(at as *const u8, PAGE_BYTES as usize) };
        out.copy_from_slice(page);
        let _ = capc_demo_user::caps::FrameCapClient(self.env.cap(input.index()))
            .unmap()
            .map_err(capc_demo_user::Error::from);
        Ok(())
    }

    /// Makes the output: a CNode of 2^8 frames from `from`, filled with the
    /// expansion of `input`. In client-pays mode every object is first
    /// taken from `budget`.
    fn build(
        &mut self,
        from: u64,
        input: &[u8],
        total: u64,
        mut budget: Option<&mut DecompressorDecompressBudget>,
    ) -> Result<u64, DecompressError> {
        let pages = total.div_ceil(PAGE_BYTES);
        let needed = 8192 + pages * PAGE_BYTES;
        let out_of_memory = DecompressError::OutOfBudget { needed };
        // The spec's CNode of 2^8 slots when the client pays; paying for
        // itself, the server sizes the CNode for the output it was asked
        // for, as a server with nobody to charge does.
        let (radix, want) = match budget.as_deref_mut() {
            Some(budget) => (8, Some(budget.alloc_cnode_8()?)),
            None => (
                (64 - pages.max(2).saturating_sub(1).leading_zeros() as u64).clamp(8, 16),
                None,
            ),
        };
        capc_demo_user::caps::UntypedCapClient(self.env.cap(from))
            .retype(
                ObjectType::CNode as u64,
                radix,
                slots::CSPACE,
                0,
                0,
                OUTPUT,
                1,
            )
            .map_err(capc_demo_user::Error::from)
            .map_err(|_| out_of_memory)?;
        if let Some(want) = want {
            self.placed(OUTPUT, want);
        }
        let mut bytes = [0u8; PAGE_BYTES as usize];
        for page in 0..pages {
            let want = match budget.as_deref_mut() {
                Some(budget) => Some(budget.alloc_frame_12()?),
                None => None,
            };
            capc_demo_user::caps::UntypedCapClient(self.env.cap(from))
                .retype(ObjectType::Frame as u64, 12, slots::CSPACE, 0, 0, PAGE, 1)
                .map_err(capc_demo_user::Error::from)
                .map_err(|_| out_of_memory)?;
            if let Some(want) = want {
                self.placed(PAGE, want);
            }
            let at = SCRATCH_VADDR[1];
            capc_demo_user::caps::FrameCapClient(self.env.cap(PAGE))
                .map(
                    Slot::new(VSPACE),
                    at,
                    Rights::READ.union(Rights::WRITE).bits(),
                )
                .map_err(capc_demo_user::Error::from)
                .map_err(|_| out_of_memory)?;
            rle::expand(input, page * PAGE_BYTES, &mut bytes);
            // SAFETY: the frame was just mapped there, writable, and only
            // this server uses the address.
            unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), at as *mut u8, bytes.len()) };
            capc_demo_user::caps::FrameCapClient(self.env.cap(PAGE))
                .unmap()
                .map_err(capc_demo_user::Error::from)
                .map_err(|_| out_of_memory)?;
            // Into the output CNode, from the server's root.
            capc_demo_user::caps::CNodeCapClient(self.env.cap(OUTPUT))
                .r#move(page, radix, slots::CSPACE, PAGE, 64)
                .map_err(capc_demo_user::Error::from)
                .map_err(|_| out_of_memory)?;
        }
        Ok(pages)
    }
}

impl DecompressorServer for Service {
    fn decompress(
        &mut self,
        input: Slot<FrameCap>,
        input_len: u64,
        budget: &mut DecompressorDecompressBudget,
    ) -> Result<DecompressorDecompressReply, DecompressError> {
        let mut bytes = [0u8; PAGE_BYTES as usize];
        self.read_input(input, input_len, &mut bytes)?;
        let input = &bytes[..input_len as usize];
        let total = rle::output_len(input).map_err(|offset| DecompressError::Corrupt { offset })?;
        let pages = if self.server_pays {
            self.build(BUDGET, input, total, None)?
        } else {
            let from = budget.untyped();
            self.donated = budget.bytes();
            let built = self.build(from.index(), input, total, Some(&mut *budget));
            self.charged = budget.used_bytes();
            built?
        };
        self.calls += 1;
        self.bytes_out += total;
        Ok(DecompressorDecompressReply {
            output: Slot::new(OUTPUT),
            pages,
            output_len: total,
        })
    }

    /// The statistics, and the accounting table printed on the way.
    fn stats(&mut self) -> Result<DecompressorStatsReply, DecompressError> {
        let who = if self.server_pays {
            "the server pays"
        } else {
            "the client pays"
        };
        let own = own_usage().0 - self.own_at_start;
        let env = &mut self.env;
        let _ = writeln!(env, "server: accounting, {who}:");
        let _ = writeln!(
            env,
            "server:   client | calls | donated (bytes) | charged to the donation (bytes)"
        );
        let mut total = Account::default();
        for (client, account) in self
            .accounts
            .iter()
            .enumerate()
            .filter(|(_, a)| a.calls > 0)
        {
            let _ = writeln!(
                env,
                "server:   {client:>6} | {:>5} | {:>15} | {:>31}",
                account.calls, account.donated, account.charged
            );
            total.calls += account.calls;
            total.donated += account.donated;
            total.charged += account.charged;
        }
        let _ = writeln!(
            env,
            "server:    total | {:>5} | {:>15} | {:>31}",
            total.calls, total.donated, total.charged
        );
        let _ = writeln!(env, "server:   own memory spent on calls: {own} bytes");
        Ok(DecompressorStatsReply {
            calls: self.calls,
            bytes_out: self.bytes_out,
        })
    }
}

fn main(mode: u64, _: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    let server_pays = mode == 1;
    let mut service = Service {
        // SAFETY: the root maps this task's IPC buffer there.
        env: unsafe { Env::new(ROOT_IPC_BUFFER) },
        server_pays,
        calls: 0,
        bytes_out: 0,
        donated: 0,
        charged: 0,
        made: 0,
        placed: 0,
        accounts: [Account::default(); 4],
        own_at_start: own_usage().0,
    };
    let (used, size) = own_usage();
    let who = if server_pays {
        "the server pays"
    } else {
        "the client pays"
    };
    let _ = writeln!(
        service.env,
        "server: serving, {who}; own budget: {used} of {size} bytes used"
    );
    loop {
        service.env.receive_caps_into(&[INPUT, DONATION], 64);
        let message = match service.env.recv(ENDPOINT) {
            Ok(message) => message,
            Err(error) => {
                let _ = writeln!(service.env, "server: receive failed: {error}");
                return 1;
            }
        };
        let mut msg = [0u64; target::MESSAGE_WORDS];
        msg[..message.info.length].copy_from_slice(&message.words[..message.info.length]);
        let mut caps = [INPUT, DONATION, 0];
        // The donation: a received copy of an Untyped has no children (the
        // kernel copies only those), so all of it is free: its next retype
        // starts from its base, whatever watermark the cap shows.
        let donated = UntypedCap::from_cap(cap_at(DONATION)).map_or(Donation::NONE, |u| Donation {
            base: u.base(),
            bytes: 1 << u.bits(),
        });
        let info = RpcInfo {
            label: message.info.label,
            length: message.info.length,
            caps: message.info.caps,
        };
        // Dispatch checks the received caps (a frame with `read`, an
        // Untyped) as the kernel holds them.
        let held = |slot| Some(cap_at(slot)).filter(|cap| !cap.is_null());
        let reply = dispatch_decompressor(&mut service, info, &mut msg, &mut caps, donated, held);
        let reply = MessageInfo {
            label: reply.label,
            length: reply.length,
            caps: reply.caps,
        };
        if let Err(error) =
            service
                .env
                .reply_with_caps(reply, &msg[..reply.length], &caps[..reply.caps])
        {
            let _ = writeln!(service.env, "server: reply failed: {error}");
        }
        service.clean_up();
        let (used, size) = own_usage();
        let status = if reply.label == 0 {
            "answered"
        } else {
            "refused"
        };
        let (donated, charged) = (
            core::mem::take(&mut service.donated),
            core::mem::take(&mut service.charged),
        );
        let (made, placed) = (
            core::mem::take(&mut service.made),
            core::mem::take(&mut service.placed),
        );
        if let Some(account) = service.accounts.get_mut(message.badge as usize)
            && message.info.label == DecompressorLabel::Decompress as u64
        {
            account.calls += 1;
            account.donated += donated;
            account.charged += charged;
        }
        let _ = write!(
            service.env,
            "server: {status} a call from client {}; donated {donated}, charged {charged} (the spec's bound: {}); own budget: {used} of {size} bytes used",
            message.badge,
            DecompressorDecompressBudget::WORST_CASE_BYTES,
        );
        if !service.server_pays && message.info.label == DecompressorLabel::Decompress as u64 {
            let _ = write!(
                service.env,
                "; objects where the budget said: {placed} of {made}"
            );
        }
        let _ = writeln!(service.env);
    }
}
