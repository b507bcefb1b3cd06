//! A client of the session services (`kernel-demo/spec/sessions.cap`):
//! the memory server on its endpoint (`task::ENDPOINT`) and the file
//! service on [`FILES`], through the generated `MemClient` and
//! `FilesClient`. Each session is opened with an Untyped the client
//! retypes from its own budget and donates.
//!
//! Argument `role | id << 8`. Role 0 is a good client: it opens a session
//! of each, gets 16 KiB of RAM and uses it, opens and reads a file, then
//! tells the root (`SENDING`) and waits for its go-ahead (`GO`), which comes
//! once the hostile client has exhausted its quotas; then it gets 4 KiB
//! more, opens and reads another file, frees and closes everything and
//! checks its sessions came back to what they were. Role 1 is hostile: it
//! opens sessions and allocates and opens files until it can no more, tells
//! the root, and once let go closes its sessions and retypes each donation
//! again, whole. When done, each signals the root's notification with bit
//! `id` (done) or `id + 8` (failed).

#![no_std]
#![no_main]

use core::fmt::Write;

use capc_demo_user::abi::{ROOT_IPC_BUFFER, Syscall};
use capc_demo_user::caps::{ObjectType, Rights, Slot, UntypedCap};
use capc_demo_user::sessions::{
    CallError, FILES as FILE_TABLE, FileError, FileName, FilesClient, MemClient, MemError,
    ProtocolError, checksum, close_session, open_session,
};
use capc_demo_user::task::{
    BUDGET, CSPACE, ENDPOINT, FIRST_FREE, GO, NOTIFY, NOTIFY_FAILED, PML4, SCRATCH_VADDR, SELF,
    SENDING,
};
use capc_demo_user::{EndpointTransport, Env, cap_at, entry, syscall};

entry!(main);

/// The file service's endpoint cap.
const FILES: u64 = FIRST_FREE;
/// The Untyped donated to each session, and one too small for a session.
const MEM_DONATION: u64 = 16;
const FILES_DONATION: u64 = 17;
const SMALL_DONATION: u64 = 18;
/// A frame the client makes from its RAM to use it.
const FRAME: u64 = 19;
/// Where the RAM the server gives lands: one slot per allocation.
const RAM: u64 = 32;
/// Where a donation is retyped again after its session closed.
const AGAIN: u64 = 64;
/// log2 of the donations: 64 KiB for the memory server, 16 KiB (good) or
/// 32 KiB (hostile) for the file service, 32 KiB for the refused one.
const MEM_BITS: u64 = 16;

fn mem(env: &mut Env, receive: u64) -> MemClient<EndpointTransport<'_>> {
    MemClient::new(EndpointTransport {
        env,
        endpoint: ENDPOINT,
        receive: [receive, 0, 0],
        copies: None,
    })
}

fn files(env: &mut Env) -> FilesClient<EndpointTransport<'_>> {
    FilesClient::new(EndpointTransport {
        env,
        endpoint: FILES,
        receive: [0; 3],
        copies: None,
    })
}

/// Opens a session on `endpoint` with an Untyped of 2^`bits` bytes retyped
/// into `slot`; prints the outcome. Whether it opened.
fn open(env: &mut Env, id: u64, service: &str, endpoint: u64, slot: u64, bits: u64) -> bool {
    if let Err(error) = capc_demo_user::caps::UntypedCapClient(env.cap(BUDGET))
        .retype(ObjectType::Untyped as u64, bits, CSPACE, 0, 0, slot, 1)
        .map_err(capc_demo_user::Error::from)
    {
        let _ = writeln!(
            env,
            "client {id}: {service}: retyping a donation: {error} (WRONG)"
        );
        return false;
    }
    match open_session(env, endpoint, slot) {
        Ok((quota, used)) => {
            let _ = writeln!(
                env,
                "client {id}: {service}: session opened with a donation of {quota} bytes, {used} charged at once"
            );
            true
        }
        Err(needed) => {
            let _ = writeln!(
                env,
                "client {id}: {service}: a session with a donation of {} bytes: OutOfQuota {{ needed: {needed} }}",
                1u64 << bits
            );
            let _ = capc_demo_user::caps::CNodeCapClient(env.cap(SELF))
                .revoke(slot, 64)
                .map_err(capc_demo_user::Error::from);
            let _ = capc_demo_user::caps::CNodeCapClient(env.cap(SELF))
                .delete(slot, 64)
                .map_err(capc_demo_user::Error::from);
            false
        }
    }
}

/// Uses the RAM at `ram`: a frame retyped from it, written and read back.
fn use_ram(env: &mut Env, ram: u64) -> bool {
    let at = SCRATCH_VADDR[0];
    let made = capc_demo_user::caps::UntypedCapClient(env.cap(ram))
        .retype(ObjectType::Frame as u64, 12, CSPACE, 0, 0, FRAME, 1)
        .map_err(capc_demo_user::Error::from)
        .and_then(|()| {
            capc_demo_user::caps::FrameCapClient(env.cap(FRAME))
                .map(PML4, at, Rights::READ.union(Rights::WRITE).bits())
                .map_err(capc_demo_user::Error::from)
        });
    let good = made.is_ok() && {
        // SAFETY: the frame was just mapped there, writable.
        let page = unsafe { core::slice::from_raw_parts_mut(at as *mut u64, 512) };
        for (n, word) in page.iter_mut().enumerate() {
            *word = ram ^ (n as u64).wrapping_mul(0x9e37_79b9);
        }
        page.iter()
            .enumerate()
            .all(|(n, word)| *word == ram ^ (n as u64).wrapping_mul(0x9e37_79b9))
    };
    let _ = capc_demo_user::caps::FrameCapClient(env.cap(FRAME))
        .unmap()
        .map_err(capc_demo_user::Error::from);
    let _ = capc_demo_user::caps::CNodeCapClient(env.cap(SELF))
        .delete(FRAME, 64)
        .map_err(capc_demo_user::Error::from);
    good
}

/// Allocates 2^`bits` bytes of RAM into `slot` and uses it. Whether it
/// worked; prints the outcome.
fn allocate(env: &mut Env, id: u64, bits: u8, slot: u64) -> bool {
    let result = mem(env, slot).allocate(bits);
    let kib = (1u64 << bits) / 1024;
    match result {
        Ok(_) => {
            let base = UntypedCap::from_cap(cap_at(slot)).map_or(0, |u| u.base());
            let used = use_ram(env, slot);
            let _ = writeln!(
                env,
                "client {id}: allocate {kib} KiB: RAM at {base:#x}, written and read back: {}",
                if used { "verified" } else { "WRONG" }
            );
            used
        }
        Err(error) => {
            let _ = writeln!(env, "client {id}: allocate {kib} KiB: {error:?}");
            false
        }
    }
}

/// Opens the file `name` and reads it back. Its fd, if all was right;
/// prints the outcome.
fn read_file(env: &mut Env, id: u64, file: usize) -> Option<u32> {
    let (name, bytes) = FILE_TABLE[file];
    let opened = files(env).open(FileName::new(name)?);
    let fd = match opened {
        Ok(reply) => reply.fd,
        Err(error) => {
            let _ = writeln!(env, "client {id}: open {name}: {error:?}");
            return None;
        }
    };
    let read = files(env).read(fd);
    let good = read
        .as_ref()
        .is_ok_and(|r| r.size == bytes.len() as u64 && r.checksum == checksum(bytes));
    let _ = writeln!(
        env,
        "client {id}: open and read {name}: {} bytes, checksum {}",
        read.as_ref().map_or(0, |r| r.size),
        if good { "verified" } else { "WRONG" }
    );
    good.then_some(fd)
}

/// Closes the session on `endpoint` and takes back the donation at
/// `slot` (2^`bits` bytes): every byte must come back, and the donation
/// must retype again whole. Whether it did; prints the outcome.
fn close(env: &mut Env, id: u64, service: &str, endpoint: u64, slot: u64, bits: u64) -> bool {
    let donated = 1u64 << bits;
    let closed = close_session(env, endpoint);
    // Whatever the server made from the donation is gone with the revoke;
    // with no children left, it retypes again from its base.
    let _ = capc_demo_user::caps::CNodeCapClient(env.cap(SELF))
        .revoke(slot, 64)
        .map_err(capc_demo_user::Error::from);
    let pages = donated / 4096;
    let again = capc_demo_user::caps::UntypedCapClient(env.cap(slot))
        .retype(ObjectType::Frame as u64, 12, CSPACE, 0, 0, AGAIN, pages)
        .map_err(capc_demo_user::Error::from);
    let watermark = UntypedCap::from_cap(cap_at(slot)).map_or(0, |u| u.free_index() * 16);
    let _ = capc_demo_user::caps::CNodeCapClient(env.cap(SELF))
        .revoke(slot, 64)
        .map_err(capc_demo_user::Error::from);
    let _ = capc_demo_user::caps::CNodeCapClient(env.cap(SELF))
        .delete(slot, 64)
        .map_err(capc_demo_user::Error::from);
    let good =
        closed.is_some_and(|(quota, _)| quota == donated) && again.is_ok() && watermark == donated;
    let _ = writeln!(
        env,
        "client {id}: {service}: session closed: {} of {donated} bytes returned ({} were charged); its donation retyped again whole ({pages} frames): {}",
        closed.map_or(0, |c| c.0),
        closed.map_or(0, |c| c.1),
        if good { "ok" } else { "FAILED" }
    );
    good
}

/// The good client. The number of failures.
fn good(env: &mut Env, id: u64) -> u64 {
    let mut failures = 0;
    if !open(env, id, "Mem", ENDPOINT, MEM_DONATION, MEM_BITS)
        || !open(env, id, "Files", FILES, FILES_DONATION, 14)
    {
        return 1;
    }
    failures += u64::from(!allocate(env, id, 14, RAM));
    let first = read_file(env, id, 0);
    failures += u64::from(first.is_none());
    // The hostile client goes now; the root says when it is done.
    syscall(Syscall::Send, SENDING, 0, [0; 4]);
    let _ = env.wait(GO);
    failures += u64::from(!allocate(env, id, 12, RAM + 1));
    let second = read_file(env, id, 1);
    failures += u64::from(second.is_none());
    for slot in [RAM, RAM + 1] {
        if UntypedCap::from_cap(cap_at(slot)).is_some() {
            failures += u64::from(mem(env, 0).free(Slot::new(slot)).is_err());
        }
    }
    for fd in [first, second].into_iter().flatten() {
        failures += u64::from(files(env).close(fd).is_err());
    }
    // Freed and closed: only the session's own record is charged.
    let usage = mem(env, 0).usage();
    let back = usage.as_ref().is_ok_and(|u| u.used == 4096);
    let _ = writeln!(
        env,
        "client {id}: after freeing its RAM and closing its files, its Mem session is charged {} bytes (its CNode): {}",
        usage.as_ref().map_or(0, |u| u.used),
        if back { "ok" } else { "not back" }
    );
    failures += u64::from(!back);
    failures += u64::from(!close(env, id, "Mem", ENDPOINT, MEM_DONATION, MEM_BITS));
    failures += u64::from(!close(env, id, "Files", FILES, FILES_DONATION, 14));
    let _ = writeln!(
        env,
        "client {id}: {}",
        if failures == 0 {
            "all verified"
        } else {
            "refused or failed"
        }
    );
    failures
}

/// The hostile client. The number of failures (of what it should see).
fn hostile(env: &mut Env, id: u64) -> u64 {
    let mut failures = 0;
    // A donation below the least quota opens nothing.
    if open(env, id, "Mem", ENDPOINT, SMALL_DONATION, MEM_BITS - 1) {
        failures += 1;
    }
    if !open(env, id, "Mem", ENDPOINT, MEM_DONATION, MEM_BITS)
        || !open(env, id, "Files", FILES, FILES_DONATION, 15)
    {
        return failures + 1;
    }
    // More RAM than the quota, then 4 KiB at a time until refused.
    let big = mem(env, 0).allocate(16);
    let mut count = 0;
    let last: CallError<MemError> = loop {
        match mem(env, RAM + count).allocate(12) {
            Ok(_) if count < 31 => count += 1,
            Ok(_) => break CallError::Server(MemError::Failed),
            Err(error) => break error,
        }
    };
    let usage = mem(env, 0).usage();
    let (used, quota) = usage.as_ref().map_or((0, 0), |u| (u.used, u.quota));
    let _ = writeln!(
        env,
        "client {id}: Mem: allocate 64 KiB: {}; then {count} allocations of 4 KiB, the next: {:?}; {used} of {quota} bytes charged",
        match &big {
            Ok(_) => "ok",
            Err(CallError::Server(MemError::OutOfQuota { .. })) => "OutOfQuota",
            Err(_) => "refused",
        },
        match &last {
            CallError::Server(e) => *e,
            _ => MemError::Failed,
        },
    );
    // Held to its own quota: refused by it, with all of it charged.
    let held = matches!(big, Err(CallError::Server(MemError::OutOfQuota { .. })))
        && matches!(last, CallError::Server(MemError::OutOfQuota { .. }))
        && used == quota;
    failures += u64::from(!held);
    // Files until refused.
    let mut opened = 0;
    let last = loop {
        match files(env).open(FileName::new("motd").unwrap_or(FileName::EMPTY)) {
            Ok(_) if opened < 127 => opened += 1,
            Ok(_) => break None,
            Err(CallError::Server(error)) => break Some(error),
            Err(_) => break None,
        }
    };
    let _ = writeln!(
        env,
        "client {id}: Files: {opened} files opened, the next: {:?}",
        last.unwrap_or(FileError::BadFile)
    );
    if !matches!(last, Some(FileError::OutOfQuota { .. })) {
        failures += 1;
    }
    // Its Files endpoint handed back as if it were RAM: the server's
    // generated dispatch checks the received cap's type and refuses the
    // call before the server runs; the refusal's reply label fits the
    // kernel's 52-bit message labels, so the reply reaches the client.
    let freed = mem(env, 0).free(Slot::new(FILES));
    let refused = matches!(
        freed,
        Err(CallError::Refused(ProtocolError::InvalidArgument {
            index: 0
        }))
    );
    let _ = writeln!(
        env,
        "client {id}: Mem: free of its Files endpoint as RAM: {}",
        match freed {
            Err(CallError::Refused(ProtocolError::InvalidArgument { index: 0 })) =>
                "refused by dispatch (InvalidArgument at 0)",
            Ok(()) => "freed",
            Err(_) => "failed otherwise",
        }
    );
    failures += u64::from(!refused);
    // The root lets the good clients go on, then this one.
    syscall(Syscall::Send, SENDING, 0, [0; 4]);
    let _ = env.wait(GO);
    failures += u64::from(!close(env, id, "Mem", ENDPOINT, MEM_DONATION, MEM_BITS));
    failures += u64::from(!close(env, id, "Files", FILES, FILES_DONATION, 15));
    failures
}

fn main(arg: u64, _: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY: the root maps this task's IPC buffer there.
    let mut env = unsafe { Env::new(ROOT_IPC_BUFFER) };
    let (role, id) = (arg & 0xff, arg >> 8);
    let failures = if role == 0 {
        good(&mut env, id)
    } else {
        hostile(&mut env, id)
    };
    let cap = if failures == 0 { NOTIFY } else { NOTIFY_FAILED };
    syscall(Syscall::Send, cap, 0, [0; 4]);
    failures
}
