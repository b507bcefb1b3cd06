//! A client of the decompression server. It lends its input in a frame and
//! donates an Untyped of 2 MiB from its own budget for each call, through
//! the generated `DecompressorClient`.
//!
//! Argument `role | id << 8`: role 0 is a good client that makes three
//! requests, one before the bombs and two while they are being served (it
//! waits for the root's go-ahead in between), and checks every output byte
//! against a checksum of its input;
//! role 1 sends a decompression bomb (5 bytes that expand to 64 MiB), then
//! revokes its donation and shows the memory can be retyped again. When
//! done, it signals the root's notification with bit `id`.

#![no_std]
#![no_main]

use core::fmt::Write;

use capc_demo_user::abi::{ROOT_IPC_BUFFER, Syscall};
use capc_demo_user::caps::{CNodeCap, ObjectType, Rights, Slot, UntypedCap};
use capc_demo_user::decompress::{CallError, DecompressError, DecompressorClient};
use capc_demo_user::system::boot::{client_pays, server_pays};
use capc_demo_user::task::SCRATCH_VADDR;
use capc_demo_user::{Copies, EndpointTransport, Env, cap_at, entry, rle, syscall};

entry!(main);

// The slots of its CSpace, as the boot plan generated from
// kernel-demo/spec/client_pays.cap fills them: the good client's, which
// every client domain of both systems shares (checked below).
use client_pays::client as slots;

/// Its own CNode, its CSpace's root.
const SELF: u64 = slots::CSPACE.index();
/// Its address space's root.
const VSPACE: u64 = slots::VSPACE;
/// What is left of its budget after its objects and address space.
const BUDGET: u64 = slots::BUDGET[0].index();
/// The frame it lends the server its input in.
const INPUT: u64 = slots::INPUT.index();
/// The server's endpoint, badged with the client's number.
const ENDPOINT: u64 = slots::DEC.index();
/// The root's notification: "done", "failed" and "about to send".
const NOTIFY: u64 = slots::DONE.index();
const NOTIFY_FAILED: u64 = slots::FAILED.index();
const SENDING: u64 = slots::SENDING.index();
/// The root's go-ahead.
const GO: u64 = slots::GO.index();
const DONATION: u64 = slots::FIRST_FREE;
const OUTPUT: u64 = slots::FIRST_FREE + 1;
const PAGE: u64 = slots::FIRST_FREE + 2;
/// Frames a bomber retypes from its revoked donation, in the free slots
/// after `PAGE`.
const AGAIN: u64 = 3;
/// Where the client copies the frame it lends, read-only.
const LENT: u64 = PAGE + 1 + AGAIN;
const _: () = assert!(LENT < 1 << slots::RADIX);

/// Every client domain runs this program: their slots must be the same.
macro_rules! same_slots {
    ($($domain:path),*) => {
        $(const _: () = {
            use $domain as other;
            assert!(
                other::CSPACE.index() == SELF
                    && other::VSPACE == VSPACE
                    && other::BUDGET[0].index() == BUDGET
                    && other::INPUT.index() == INPUT
                    && other::DEC.index() == ENDPOINT
                    && other::DONE.index() == NOTIFY
                    && other::FAILED.index() == NOTIFY_FAILED
                    && other::SENDING.index() == SENDING
                    && other::GO.index() == GO
                    && other::FIRST_FREE == slots::FIRST_FREE
                    && other::RADIX == slots::RADIX
            );
        };)*
    };
}
same_slots!(
    client_pays::bomber1,
    client_pays::bomber2,
    server_pays::client,
    server_pays::bomber1,
    server_pays::bomber2
);
/// log2 of each donation: 2 MiB, at least the spec's 1 MiB + 8 KiB.
const DONATION_BITS: u64 = 21;

/// A run-length record.
fn record(count: u32, byte: u8) -> [u8; rle::RECORD] {
    let c = count.to_le_bytes();
    [c[0], c[1], c[2], c[3], byte]
}

/// Writes `input` into the lent frame (mapped at the first scratch page).
fn write_input(input: &[u8]) {
    // SAFETY: the input frame is mapped there, writable, for the whole run.
    let page = unsafe { core::slice::from_raw_parts_mut(SCRATCH_VADDR[0] as *mut u8, 4096) };
    page[..input.len()].copy_from_slice(input);
}

/// Reads every output page through the granted CNode and checks the bytes
/// against the checksum of `input`.
fn verify(env: &mut Env, pages: u64, input: &[u8]) -> bool {
    let radix = CNodeCap::from_cap(cap_at(OUTPUT)).map_or(8, |c| c.radix()) as u64;
    let mut hash = rle::FNV_START;
    let mut left = rle::output_len(input).unwrap_or(0);
    for page in 0..pages {
        let at = SCRATCH_VADDR[1];
        let ok = capc_demo_user::caps::CNodeCapClient(env.cap(SELF))
            .r#move(PAGE, 64, Slot::new(OUTPUT), page, radix)
            .map_err(capc_demo_user::Error::from)
            .is_ok()
            && capc_demo_user::caps::FrameCapClient(env.cap(PAGE))
                .map(Slot::new(VSPACE), at, Rights::READ.bits())
                .map_err(capc_demo_user::Error::from)
                .is_ok();
        if !ok {
            return false;
        }
        let take = left.min(4096) as usize;
        // SAFETY: the output frame was just mapped there, readable.
        let bytes = unsafe { core::slice::from_raw_parts(at as *const u8, take) };
        hash = rle::fnv(hash, bytes);
        left -= take as u64;
        let _ = capc_demo_user::caps::FrameCapClient(env.cap(PAGE))
            .unmap()
            .map_err(capc_demo_user::Error::from);
        let _ = capc_demo_user::caps::CNodeCapClient(env.cap(SELF))
            .delete(PAGE, 64)
            .map_err(capc_demo_user::Error::from);
    }
    hash == rle::checksum(input)
}

/// One call: lend the input, donate, and report.
fn request(env: &mut Env, id: u64, what: &str, input: &[u8]) -> Result<u64, DecompressError> {
    write_input(input);
    let transport = EndpointTransport {
        env: &mut *env,
        endpoint: ENDPOINT,
        receive: [OUTPUT, 0, 0],
        copies: Some(Copies {
            cnode: SELF,
            slot: LENT,
        }),
    };
    let mut client = DecompressorClient::new(transport);
    let result = client.decompress(slots::INPUT, input.len() as u64, Slot::new(DONATION));
    let _ = client;
    let outcome = match result {
        Ok(reply) => {
            // The generated client lent the server a read-only copy of the
            // input and took it back (revoked and deleted) once the call
            // returned: the copy's slot is empty again.
            let good = verify(env, reply.pages, input) && cap_at(LENT).is_null();
            let _ = writeln!(
                env,
                "client {id}: {what}: {} bytes in {} pages, checksum {}",
                reply.output_len,
                reply.pages,
                if good { "verified" } else { "WRONG" }
            );
            if good {
                Ok(reply.pages)
            } else {
                Err(DecompressError::Corrupt { offset: 0 })
            }
        }
        Err(CallError::Server(error)) => {
            let _ = writeln!(env, "client {id}: {what}: {error:?}");
            Err(error)
        }
        Err(other) => {
            let _ = writeln!(
                env,
                "client {id}: {what}: the call failed: {other:?} (WRONG)"
            );
            Err(DecompressError::Corrupt { offset: u64::MAX })
        }
    };
    // The session's end: the output goes, and everything the server built
    // from the donation with it (the lent frame's copy was taken back by
    // the generated client).
    let _ = capc_demo_user::caps::CNodeCapClient(env.cap(SELF))
        .delete(OUTPUT, 64)
        .map_err(capc_demo_user::Error::from);
    let _ = capc_demo_user::caps::CNodeCapClient(env.cap(SELF))
        .revoke(DONATION, 64)
        .map_err(capc_demo_user::Error::from);
    outcome
}

fn main(arg: u64, _: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY: the root maps this task's IPC buffer there.
    let mut env = unsafe { Env::new(ROOT_IPC_BUFFER) };
    let (role, id) = (arg & 0xff, arg >> 8);
    // The input frame is the domain's own object, made by the boot plan.
    let setup = capc_demo_user::caps::FrameCapClient(env.cap(INPUT))
        .map(
            Slot::new(VSPACE),
            SCRATCH_VADDR[0],
            Rights::READ.union(Rights::WRITE).bits(),
        )
        .map_err(capc_demo_user::Error::from)
        .and_then(|()| {
            capc_demo_user::caps::UntypedCapClient(env.cap(BUDGET))
                .retype(
                    ObjectType::Untyped as u64,
                    DONATION_BITS,
                    slots::CSPACE,
                    0,
                    0,
                    DONATION,
                    1,
                )
                .map_err(capc_demo_user::Error::from)
        });
    if let Err(error) = setup {
        let _ = writeln!(env, "client {id}: setting up failed: {error} (WRONG)");
        return 1;
    }
    let mut failures = 0;
    if role == 0 {
        let inputs: [&[u8]; 3] = [
            &[record(10_000, b'a'), record(5, b'b')].concat_array(),
            &[record(100_000, b'x'), record(1, b'\n')].concat_array(),
            &[record(1 << 20, b'z'), record(0, b'-')].concat_array(),
        ];
        for (n, input) in inputs.iter().enumerate() {
            let what = ["request 1", "request 2", "request 3"][n];
            failures += u64::from(request(&mut env, id, what, input).is_err());
            if n == 0 {
                // Requests 2 and 3 go out while the bombs are being served.
                let _ = env.wait(GO);
            }
        }
    } else {
        let bomb = record(64 << 20, 0);
        // The root lets the good client go on once the bombs are on their way.
        syscall(Syscall::Send, SENDING, 0, [0; 4]);
        let result = request(&mut env, id, "bomb (5 bytes that expand to 64 MiB)", &bomb);
        if !matches!(result, Err(DecompressError::OutOfBudget { .. })) {
            failures += 1;
        }
        // The donation was revoked: it has no children, so its next retype
        // starts again from its base.
        let again = capc_demo_user::caps::UntypedCapClient(env.cap(DONATION))
            .retype(
                ObjectType::Frame as u64,
                12,
                slots::CSPACE,
                0,
                0,
                PAGE + 1,
                AGAIN,
            )
            .map_err(capc_demo_user::Error::from);
        let base = UntypedCap::from_cap(cap_at(DONATION)).map_or(0, |u| u.free_index() * 16);
        let _ = capc_demo_user::caps::CNodeCapClient(env.cap(SELF))
            .revoke(DONATION, 64)
            .map_err(capc_demo_user::Error::from);
        let _ = writeln!(
            env,
            "client {id}: donation revoked: everything the server built from it is gone; {AGAIN} frames retyped from it again: {} (its watermark back at {base} bytes)",
            if again.is_ok() && base == AGAIN * 4096 {
                "ok"
            } else {
                "FAILED (WRONG)"
            }
        );
        failures += u64::from(again.is_err() || base != AGAIN * 4096);
    }
    // Tell the root how it went: two notification caps to the same
    // notification, whose badges say "done" and "failed".
    let cap = if failures == 0 { NOTIFY } else { NOTIFY_FAILED };
    syscall(Syscall::Send, cap, 0, [0; 4]);
    failures
}

/// Joins two records into one input.
trait ConcatArray {
    fn concat_array(&self) -> [u8; 2 * rle::RECORD];
}

impl ConcatArray for [[u8; rle::RECORD]; 2] {
    fn concat_array(&self) -> [u8; 2 * rle::RECORD] {
        let mut out = [0u8; 2 * rle::RECORD];
        out[..rle::RECORD].copy_from_slice(&self[0]);
        out[rle::RECORD..].copy_from_slice(&self[1]);
        out
    }
}
