//! A hostile task: it holds only what the root gives every task (its own
//! Untyped budget, CNode and PML4 caps, a notification to say it is done),
//! an ASID pool of its own to number the address spaces it makes, and, for
//! the device attack only, a small device Untyped. It tries each way
//! of reaching freed memory or another thread's state that issue 12 lists,
//! and prints one line per attack:
//!
//! - `attack <name>: refused (<what the kernel answered>)`: the kernel said
//!   no to the step the attack needs;
//! - `attack <name>: contained (<evidence>)`: every step went through, but
//!   the attack got nothing (memory was not reused, a reply did not arrive);
//! - `attack <name>: SUCCEEDED (<evidence>)`: the attack worked.
//!
//! Then it asks the kernel to audit its CSpace, signals the root and exits.
//! Every object of an attack is retyped from two Untyped carved from the
//! budget for it, `U` (the memory the attack wants reused) and `W` (the
//! rest: threads, stacks, IPC buffers), and both are revoked afterwards.
//! Helper threads run this program's code in this address space and CSpace;
//! they report through statics.

#![no_std]
#![no_main]

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering};

use capc_demo_user::abi::{ROOT_STACK_TOP, Syscall, SyscallStatus, USER_BASE, USER_END};
use capc_demo_user::attack::{ASID_POOL, DEVICE};
use capc_demo_user::caps::{
    self, FrameCap, InvocationError, KernelError, MessageInfo, ObjectType, Rights, Slot,
};
use capc_demo_user::task::{BUDGET, CSPACE, NOTIFY, PML4, SELF, VSPACE};
use capc_demo_user::{Env, Error, cap_at, entry, syscall, yield_now};

entry!(main);

/// The Untyped whose memory an attack wants reused.
const U: u64 = 7;
/// The Untyped everything else of an attack comes from.
const W: u64 = 8;
/// The first slot an attack's objects go to.
const FIRST: u64 = 10;
/// log2 of `U` and `W`.
const U_BITS: u64 = 15;
const W_BITS: u64 = 16;

/// Physical memory the kernel's image starts at: what a forged cap or a
/// forged page-table entry points to.
const KERNEL_PHYS: u64 = 0x10_0000;
/// Where a forged frame cap is mapped, in this address space (inside the
/// page table of the stack).
const KERNEL_PEEK: u64 = ROOT_STACK_TOP + 0xf_0000;
/// A 2 MiB region with no page table yet, under the page directory of the
/// stack, and the two after it.
const REGION: u64 = (ROOT_STACK_TOP & !((2 << 20) - 1)) + (2 << 20);
const REGION_2: u64 = REGION + (2 << 20);
const REGION_3: u64 = REGION + (4 << 20);
/// An address in another 512 GiB (PML4 entry 2), for the second PML4.
const ELSEWHERE: u64 = 2 * USER_BASE;

/// Pages this program maps for its threads' stacks and IPC buffers and to
/// look into frames: handed out in order from here, inside the page table
/// of the stack (which ends at `REGION`).
static NEXT_PAGE: AtomicU64 = AtomicU64::new(ROOT_STACK_TOP + 0x2_0000);

fn page() -> u64 {
    NEXT_PAGE.fetch_add(0x1000, Ordering::Relaxed)
}

/// How many times a waiting thread yields before it gives up.
const PATIENCE: u64 = 200;

/// Yields until `flag` is nonzero (or [`PATIENCE`] runs out); whether it is.
fn wait_for(flag: &AtomicU64) -> bool {
    for _ in 0..PATIENCE {
        if flag.load(Ordering::Acquire) != 0 {
            return true;
        }
        yield_now();
    }
    flag.load(Ordering::Acquire) != 0
}

/// The outcome of a call made by a helper thread, kept in statics so the
/// main thread can read it: `Ok(word)` or the error.
struct Cell {
    kind: AtomicU64,
    words: [AtomicU64; 3],
}

impl Cell {
    const fn new() -> Cell {
        Cell {
            kind: AtomicU64::new(0),
            words: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    fn store(&self, result: Result<u64, Error>) {
        let (kind, words) = match result {
            Ok(value) => (1, [value, 0, 0]),
            Err(Error::Syscall(status)) => (2, [status as u64, 0, 0]),
            Err(Error::Invocation(InvocationError::Kernel(error))) => {
                let mut payload = [0u64; 2];
                error.encode(&mut payload);
                (3, [error.number(), payload[0], payload[1]])
            }
            Err(Error::Invocation(_)) => (4, [0; 3]),
        };
        for (cell, word) in self.words.iter().zip(words) {
            cell.store(word, Ordering::Relaxed);
        }
        self.kind.store(kind, Ordering::Release);
    }

    fn load(&self) -> Option<Result<u64, Error>> {
        let kind = self.kind.load(Ordering::Acquire);
        let [a, b, c] = [0, 1, 2].map(|i| self.words[i].load(Ordering::Relaxed));
        let malformed = Error::Invocation(InvocationError::Malformed(MessageInfo {
            label: 0,
            length: 0,
            caps: 0,
        }));
        Some(match kind {
            0 => return None,
            1 => Ok(a),
            2 => Err(SyscallStatus::from_word(a).map_or(malformed, Error::Syscall)),
            3 => Err(KernelError::decode(a, &[b, c])
                .map_or(malformed, |e| Error::Invocation(InvocationError::Kernel(e)))),
            _ => Err(malformed),
        })
    }

    fn done(&self) -> &AtomicU64 {
        &self.kind
    }
}

/// A result as the transcript shows it.
struct Shown(Result<(), Error>);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Ok(()) => f.write_str("ok"),
            Err(error) => write!(f, "{error}"),
        }
    }
}

/// What a helper thread's call returned (or that it never said).
struct Word(Option<Result<u64, Error>>);

impl fmt::Display for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("no answer"),
            Some(Ok(word)) => write!(f, "ok, {word:#x}"),
            Some(Err(error)) => write!(f, "{error}"),
        }
    }
}

/// What came of an attack.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Refused,
    Contained,
    Succeeded,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Refused => "refused",
            Verdict::Contained => "contained",
            Verdict::Succeeded => "SUCCEEDED",
        })
    }
}

/// Prints the line of attack `name`.
fn report(env: &mut Env, name: &str, verdict: Verdict, evidence: fmt::Arguments<'_>) {
    let _ = writeln!(env, "attack {name}: {verdict} ({evidence})");
}

/// The start of the object the cap at `slot` names (0: none).
fn address(slot: u64) -> u64 {
    caps::region(cap_at(slot)).map_or(0, |(base, _)| base)
}

fn retype_one(
    env: &mut Env,
    from: u64,
    object: ObjectType,
    size: u64,
    slot: u64,
) -> Result<(), Error> {
    capc_demo_user::caps::UntypedCapClient(env.cap(from))
        .retype(object as u64, size, CSPACE, 0, 0, slot, 1)
        .map_err(capc_demo_user::Error::from)
}

/// Retypes a PML4 from `from` into `slot` and gives it a number from my
/// ASID pool: an address space things can be mapped in.
fn address_space(env: &mut Env, from: u64, slot: u64) -> Result<(), Error> {
    retype_one(env, from, ObjectType::Pml4, 0, slot)?;
    capc_demo_user::caps::AsidPoolCapClient(env.cap(ASID_POOL))
        .assign(Slot::new(slot))
        .map_err(capc_demo_user::Error::from)
}

fn copy(env: &mut Env, from: u64, to: u64) -> Result<(), Error> {
    capc_demo_user::caps::CNodeCapClient(env.cap(SELF))
        .copy(to, 64, CSPACE, from, 64, Rights::ALL.bits())
        .map_err(capc_demo_user::Error::from)
}

fn mint(env: &mut Env, from: u64, to: u64, rights: Rights, badge: u64) -> Result<(), Error> {
    capc_demo_user::caps::CNodeCapClient(env.cap(SELF))
        .mint(to, 64, CSPACE, from, 64, rights.bits(), badge)
        .map_err(capc_demo_user::Error::from)
}

fn configure(
    env: &mut Env,
    tcb: u64,
    cspace: u64,
    vspace: u64,
    (buffer, buffer_at): (u64, u64),
) -> Result<(), Error> {
    capc_demo_user::caps::TcbCapClient(env.cap(tcb))
        .configure(
            Slot::new(cspace),
            Slot::new(vspace),
            Slot::new(buffer),
            buffer_at,
        )
        .map_err(capc_demo_user::Error::from)
}

fn write_registers(env: &mut Env, tcb: u64, entry: u64, sp: u64, arg: u64) -> Result<(), Error> {
    capc_demo_user::caps::TcbCapClient(env.cap(tcb))
        .write_registers(entry, sp, arg)
        .map_err(capc_demo_user::Error::from)
}

fn resume(env: &mut Env, tcb: u64) -> Result<(), Error> {
    capc_demo_user::caps::TcbCapClient(env.cap(tcb))
        .resume()
        .map_err(capc_demo_user::Error::from)
}

fn suspend(env: &mut Env, tcb: u64) -> Result<(), Error> {
    capc_demo_user::caps::TcbCapClient(env.cap(tcb))
        .suspend()
        .map_err(capc_demo_user::Error::from)
}

/// Maps the table at `table` (a PDPT, page directory or page table) at
/// `vaddr` in the address space at `vspace`.
fn map_table(env: &mut Env, table: u64, vspace: u64, vaddr: u64) -> Result<(), Error> {
    let object = cap_at(table).cap_type().and_then(|t| t.object_type());
    let object = object.unwrap_or(ObjectType::PageTable);
    capc_demo_user::map_table(env, table, object, Slot::new(vspace), vaddr)
}

/// Retypes the PDPT, page directory and page table that map `vaddr` into
/// `slots` from `from` and maps them in the address space at `vspace`.
fn tables(env: &mut Env, from: u64, vspace: u64, vaddr: u64, slots: [u64; 3]) -> Result<(), Error> {
    for (slot, object, bits) in [
        (slots[0], ObjectType::Pdpt, 39),
        (slots[1], ObjectType::PageDirectory, 30),
        (slots[2], ObjectType::PageTable, 21),
    ] {
        retype_one(env, from, object, 0, slot)?;
        map_table(env, slot, vspace, vaddr & !((1u64 << bits) - 1))?;
    }
    Ok(())
}

/// A helper thread's slots: TCB, two stack frames and the IPC buffer
/// frame.
#[derive(Clone, Copy)]
struct Thread {
    tcb: u64,
    stack: u64,
    buffer: u64,
    buffer_at: u64,
    stack_top: u64,
}

/// Makes a thread from `W` (TCB in `slot`, its frames in the next three,
/// mapped in this address space), set to run `code` with its IPC buffer's
/// address as argument; not configured. Its stack has an unmapped page
/// below it.
fn unconfigured(env: &mut Env, slot: u64, code: extern "C" fn(u64) -> !) -> Result<Thread, Error> {
    let _guard = page();
    let stack_at = [page(), page()];
    let buffer_at = page();
    let t = Thread {
        tcb: slot,
        stack: slot + 1,
        buffer: slot + 3,
        buffer_at,
        stack_top: stack_at[1] + 0x1000,
    };
    let rw = Rights::READ.union(Rights::WRITE);
    retype_one(env, W, ObjectType::Tcb, 0, t.tcb)?;
    capc_demo_user::caps::UntypedCapClient(env.cap(W)).retype(
        ObjectType::Frame as u64,
        12,
        CSPACE,
        0,
        0,
        t.stack,
        3,
    )?;
    capc_demo_user::caps::FrameCapClient(env.cap(t.stack)).map(PML4, stack_at[0], rw.bits())?;
    capc_demo_user::caps::FrameCapClient(env.cap(t.stack + 1)).map(PML4, stack_at[1], rw.bits())?;
    capc_demo_user::caps::FrameCapClient(env.cap(t.buffer)).map(PML4, buffer_at, rw.bits())?;
    write_registers(env, t.tcb, code as usize as u64, t.stack_top, buffer_at)?;
    Ok(t)
}

/// Makes a thread (see [`unconfigured`]) in this address space and CSpace,
/// with its own IPC buffer; not resumed.
fn thread(env: &mut Env, slot: u64, code: extern "C" fn(u64) -> !) -> Result<Thread, Error> {
    let t = unconfigured(env, slot, code)?;
    configure(env, t.tcb, SELF, VSPACE, (t.buffer, t.buffer_at))?;
    Ok(t)
}

/// Makes and resumes a thread (see [`thread`]).
fn start(env: &mut Env, slot: u64, code: extern "C" fn(u64) -> !) -> Result<Thread, Error> {
    let t = thread(env, slot, code)?;
    resume(env, t.tcb)?;
    Ok(t)
}

/// Carves `U` and `W` from the budget.
fn carve(env: &mut Env) -> Result<(), Error> {
    retype_one(env, BUDGET, ObjectType::Untyped, U_BITS, U)?;
    retype_one(env, BUDGET, ObjectType::Untyped, W_BITS, W)
}

/// Ends an attack: suspends `threads`, then revokes and deletes `U` and
/// `W` (everything made from them goes, and their threads with them).
fn clean_up(env: &mut Env, threads: &[u64]) {
    for &tcb in threads {
        let _ = suspend(env, tcb);
    }
    for untyped in [U, W] {
        let _ = capc_demo_user::caps::CNodeCapClient(env.cap(SELF))
            .revoke(untyped, 64)
            .map_err(capc_demo_user::Error::from);
        let _ = capc_demo_user::caps::CNodeCapClient(env.cap(SELF))
            .delete(untyped, 64)
            .map_err(capc_demo_user::Error::from);
    }
}

/// An attack: its name and what it does (the verdict and its evidence).
type Attack = (&'static str, fn(&mut Env) -> Result<(), Error>);

fn main(_: u64, _: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY: the root maps every task's IPC buffer there.
    let mut env = unsafe { Env::new(capc_demo_user::abi::ROOT_IPC_BUFFER) };
    let _ = writeln!(
        env,
        "attack: holding only my Untyped, CNode, PML4 and ASID pool (and a device Untyped for one attack)"
    );
    let attacks: [Attack; 15] = [
        ("cnode-reuse", cnode_reuse),
        ("pml4-reuse", pml4_reuse),
        ("ipc-buffer-reuse", ipc_buffer_reuse),
        ("pagetable-reuse", pagetable_reuse),
        ("double-table-map", double_table_map),
        ("table-unmap", table_unmap),
        ("frames-under-deleted-pml4", frames_under_deleted_pml4),
        ("stale-reply", stale_reply),
        ("queued-send-after-revoke", queued_send_after_revoke),
        ("device-ipc-buffer", device_ipc_buffer),
        ("thread-flood", thread_flood),
        ("address-space-flood", address_space_flood),
        ("syscall-at-user-end", syscall_at_user_end),
        ("ipc-without-rights", ipc_without_rights),
        // Last: it deletes my ASID pool.
        ("asid-pool-deleted", asid_pool_deleted),
    ];
    let mut failed = 0;
    for (name, attack) in attacks {
        if let Err(error) = carve(&mut env).and_then(|()| attack(&mut env)) {
            // A step the attack needs to set up failed: say so (the line
            // is neither refused nor contained, so the check fails).
            let _ = writeln!(env, "attack {name}: could not set up: {error}");
            failed += 1;
            clean_up(&mut env, &[]);
        }
    }
    let audit = syscall(Syscall::DebugAudit, 0, 0, [0; 4]);
    let clean = audit.status == SyscallStatus::Ok as u64 && audit.badge == 0;
    let _ = writeln!(
        env,
        "attack: kernel audit after the attacks: {}",
        if clean { "ok" } else { "FAILED" }
    );
    let _ = env.signal(NOTIFY);
    failed + u64::from(!clean)
}

/// What the thread with the forged CSpace got: the word it read.
static FORGER: Cell = Cell::new();

/// 1. A TCB's CSpace is deleted under it and its memory retyped into a
///    frame, which the attack fills with forged caps.
fn cnode_reuse(env: &mut Env) -> Result<(), Error> {
    const NAME: &str = "cnode-reuse";
    let (cnode, guarded, frame) = (FIRST, FIRST + 1, FIRST + 2);
    retype_one(env, U, ObjectType::CNode, 4, cnode)?;
    mint(env, cnode, guarded, Rights::ALL, 64 - 4)?;
    let t = unconfigured(env, FIRST + 4, forger)?;
    configure(env, t.tcb, guarded, VSPACE, (t.buffer, t.buffer_at))?;
    let was = address(cnode);
    capc_demo_user::caps::CNodeCapClient(env.cap(SELF)).delete(guarded, 64)?;
    capc_demo_user::caps::CNodeCapClient(env.cap(SELF)).delete(cnode, 64)?;
    retype_one(env, U, ObjectType::Frame, 12, frame)?;
    let first = address(frame);
    let reused = first == was;
    // Then with U emptied for good: forged caps where the CSpace was.
    capc_demo_user::caps::CNodeCapClient(env.cap(SELF)).revoke(U, 64)?;
    retype_one(env, U, ObjectType::Frame, 12, frame)?;
    let at = page();
    let mut forged =
        FrameCap::from_cap(cap_at(frame)).ok_or(Error::Syscall(SyscallStatus::InvalidCap))?;
    forged
        .set_frame(KERNEL_PHYS)
        .map_err(|_| Error::Syscall(SyscallStatus::BadMessage))?;
    capc_demo_user::caps::FrameCapClient(env.cap(frame)).map(
        PML4,
        at,
        Rights::READ.union(Rights::WRITE).bits(),
    )?;
    let slots = at as *mut [u64; 4];
    // SAFETY: the frame was just mapped there, writable; 4 KiB hold the
    // 16 slots of 32 bytes of the old CNode. Slot 1: a frame cap to the
    // kernel's image; slot 2: this task's PML4 cap.
    unsafe {
        let pml4 = cap_at(VSPACE).words();
        let frame = forged.cap().words();
        core::ptr::write_volatile(slots.add(1), [frame[0], frame[1], 0, 0]);
        core::ptr::write_volatile(slots.add(2), [pml4[0], pml4[1], 0, 0]);
    }
    FORGER.kind.store(0, Ordering::Relaxed);
    let resumed = resume(env, t.tcb);
    let ran = resumed.is_ok() && wait_for(FORGER.done());
    let forged = FORGER.load();
    let verdict = if reused || matches!(forged, Some(Ok(_))) {
        Verdict::Succeeded
    } else {
        Verdict::Contained
    };
    report(
        env,
        NAME,
        verdict,
        format_args!(
            "a frame retyped from U after deleting the CNode of a configured thread lies at {first:#x}, the CNode at {was:#x}{}; after revoking U, with forged caps there, resume: {}, {}",
            if reused { " (reused)" } else { "" },
            Shown(resumed),
            Forged(forged, ran),
        ),
    );
    clean_up(env, &[t.tcb]);
    Ok(())
}

/// How the thread with the forged caps fared, and whether it ran.
struct Forged(Option<Result<u64, Error>>, bool);

impl fmt::Display for Forged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.1, &self.0) {
            (true, Some(Ok(value))) => write!(
                f,
                "the thread mapped physical {KERNEL_PHYS:#x} through the forged cap and read {value:#x}"
            ),
            (true, Some(Err(error))) => write!(f, "the thread's map of the forged cap: {error}"),
            _ => f.write_str("the thread never ran"),
        }
    }
}

/// The thread of [`cnode_reuse`]: maps the frame cap in slot 1 of its
/// CSpace into the PML4 in slot 2 and reads it.
extern "C" fn forger(buffer: u64) -> ! {
    // SAFETY: its IPC buffer is mapped there, and only it uses it.
    let mut env = unsafe { Env::new(buffer) };
    let result = capc_demo_user::caps::FrameCapClient(env.cap(1))
        .map(Slot::new(2), KERNEL_PEEK, Rights::READ.bits())
        .map_err(capc_demo_user::Error::from)
        .map(|()| {
            // SAFETY: not at all, on purpose: if the map went through, the
            // kernel's memory is mapped there.
            unsafe { core::ptr::read_volatile(KERNEL_PEEK as *const u64) }
        });
    FORGER.store(result);
    capc_demo_user::exit(0)
}

/// Set by [`probe`] when it runs; what `DebugPrint` of nothing said.
static PROBE: Cell = Cell::new();

/// A thread that reports it ran, and whether it has an IPC buffer.
extern "C" fn probe(_buffer: u64) -> ! {
    let returned = syscall(Syscall::DebugPrint, 0, 0, [0; 4]);
    PROBE.store(match SyscallStatus::from_word(returned.status) {
        Some(SyscallStatus::Ok) => Ok(0),
        Some(status) => Err(Error::Syscall(status)),
        None => Err(Error::Syscall(SyscallStatus::UnknownSyscall)),
    });
    capc_demo_user::exit(0)
}

/// 2. A TCB's address space is deleted under it and its memory retyped.
fn pml4_reuse(env: &mut Env) -> Result<(), Error> {
    let (pml4, frame) = (FIRST, FIRST + 1);
    address_space(env, U, pml4)?;
    let t = unconfigured(env, FIRST + 3, probe)?;
    configure(env, t.tcb, SELF, pml4, (t.buffer, t.buffer_at))?;
    let was = address(pml4);
    capc_demo_user::caps::CNodeCapClient(env.cap(SELF)).delete(pml4, 64)?;
    retype_one(env, U, ObjectType::Frame, 12, frame)?;
    let now = address(frame);
    if now == was {
        // Resuming the thread would run it on a zeroed frame as its page
        // tables, without the kernel mapped: the machine would stop.
        report(
            env,
            "pml4-reuse",
            Verdict::Succeeded,
            format_args!(
                "a frame retyped from U after deleting the PML4 of a configured thread lies at {now:#x}, where the PML4 was; the thread still names it"
            ),
        );
    } else {
        capc_demo_user::caps::CNodeCapClient(env.cap(SELF)).revoke(U, 64)?;
        retype_one(env, U, ObjectType::Frame, 12, frame)?;
        PROBE.kind.store(0, Ordering::Relaxed);
        let resumed = resume(env, t.tcb);
        let ran = resumed.is_ok() && wait_for(PROBE.done());
        report(
            env,
            "pml4-reuse",
            if ran {
                Verdict::Succeeded
            } else {
                Verdict::Contained
            },
            format_args!(
                "a frame retyped from U after deleting the PML4 of a configured thread lies at {now:#x}, the PML4 at {was:#x}; after revoking U and retyping a frame at {:#x}, resume: {}{}",
                address(frame),
                Shown(resumed),
                if ran { ", and the thread ran" } else { "" }
            ),
        );
    }
    clean_up(env, &[t.tcb]);
    Ok(())
}

/// 2. A TCB's IPC buffer is deleted under it and its memory retyped.
fn ipc_buffer_reuse(env: &mut Env) -> Result<(), Error> {
    let (buffer, frame) = (FIRST, FIRST + 1);
    let buffer_at = page();
    retype_one(env, U, ObjectType::Frame, 12, buffer)?;
    capc_demo_user::caps::FrameCapClient(env.cap(buffer)).map(
        PML4,
        buffer_at,
        Rights::READ.union(Rights::WRITE).bits(),
    )?;
    let t = unconfigured(env, FIRST + 3, probe)?;
    configure(env, t.tcb, SELF, VSPACE, (buffer, buffer_at))?;
    let was = address(buffer);
    capc_demo_user::caps::CNodeCapClient(env.cap(SELF)).delete(buffer, 64)?;
    retype_one(env, U, ObjectType::Frame, 12, frame)?;
    let now = address(frame);
    capc_demo_user::caps::CNodeCapClient(env.cap(SELF)).revoke(U, 64)?;
    retype_one(env, U, ObjectType::Frame, 12, frame)?;
    PROBE.kind.store(0, Ordering::Relaxed);
    let resumed = resume(env, t.tcb);
    let printed = if resumed.is_ok() && wait_for(PROBE.done()) {
        PROBE.load()
    } else {
        None
    };
    let verdict = if now == was || matches!(printed, Some(Ok(_))) {
        Verdict::Succeeded
    } else {
        Verdict::Contained
    };
    report(
        env,
        "ipc-buffer-reuse",
        verdict,
        format_args!(
            "a frame retyped from U after deleting the IPC buffer of a configured thread lies at {now:#x}, the buffer at {was:#x}; after revoking U and retyping a frame at {:#x}, resume: {}, the thread's DebugPrint: {}",
            address(frame),
            Shown(resumed),
            match printed {
                Some(Ok(_)) => "ok (its buffer is the new frame)",
                Some(Err(Error::Syscall(SyscallStatus::NoIpcBuffer))) => "NoIpcBuffer",
                Some(Err(_)) => "another error",
                None => "the thread never ran",
            }
        ),
    );
    clean_up(env, &[t.tcb]);
    Ok(())
}

/// 3. A page table's last cap is deleted while it is mapped, its memory
///    retyped into a frame and page-table entries written into it.
fn pagetable_reuse(env: &mut Env) -> Result<(), Error> {
    let (table, frame, other) = (FIRST, FIRST + 1, FIRST + 2);
    retype_one(env, U, ObjectType::PageTable, 0, table)?;
    map_table(env, table, VSPACE, REGION)?;
    let was = address(table);
    capc_demo_user::caps::CNodeCapClient(env.cap(SELF)).delete(table, 64)?;
    retype_one(env, U, ObjectType::Frame, 12, frame)?;
    let now = address(frame);
    let at = page();
    capc_demo_user::caps::FrameCapClient(env.cap(frame)).map(
        PML4,
        at,
        Rights::READ.union(Rights::WRITE).bits(),
    )?;
    // SAFETY: the frame is mapped there, writable. If it is still the
    // dead table's memory, this entry maps the kernel's image at REGION.
    unsafe { core::ptr::write_volatile(at as *mut u64, KERNEL_PHYS | 7) };
    retype_one(env, W, ObjectType::Frame, 12, other)?;
    let mapped = capc_demo_user::caps::FrameCapClient(env.cap(other))
        .map(PML4, REGION + 0x1000, Rights::READ.bits())
        .map_err(capc_demo_user::Error::from);
    match mapped {
        Ok(()) => {
            // SAFETY: not at all, on purpose: the dead table maps the
            // kernel's memory there.
            let value = unsafe { core::ptr::read_volatile(REGION as *const u64) };
            // SAFETY: as above; the entry goes again.
            unsafe { core::ptr::write_volatile(at as *mut u64, 0) };
            report(
                env,
                "pagetable-reuse",
                Verdict::Succeeded,
                format_args!(
                    "the deleted table at {was:#x} is still linked at {REGION:#x}: a frame retyped at {now:#x} holds its entries, another frame mapped through it, and {REGION:#x} reads {value:#x} from physical {KERNEL_PHYS:#x}"
                ),
            );
        }
        Err(error) => report(
            env,
            "pagetable-reuse",
            Verdict::Contained,
            format_args!(
                "the table at {was:#x} was unlinked with its last cap: with a frame retyped at {now:#x}, a map inside its region: {error}"
            ),
        ),
    }
    clean_up(env, &[]);
    Ok(())
}

/// Unmaps the page table whose cap is at `table` (seL4's PageTable_Unmap).
fn unmap_table(env: &mut Env, table: u64) -> Result<(), Error> {
    capc_demo_user::caps::PageTableCapClient(env.cap(table))
        .unmap()
        .map_err(capc_demo_user::Error::from)
}

/// 3b. A page table unmapped with a frame still in it, the frame's memory
///     handed out again as a kernel object, and the table linked again
///     elsewhere: if its entries survived, the kernel object is mapped.
fn table_unmap(env: &mut Env) -> Result<(), Error> {
    let (table, copy_of_table, frame, object, other) =
        (FIRST, FIRST + 1, FIRST + 2, FIRST + 3, FIRST + 4);
    let rw = Rights::READ.union(Rights::WRITE);
    retype_one(env, W, ObjectType::PageTable, 0, table)?;
    map_table(env, table, VSPACE, REGION)?;
    retype_one(env, U, ObjectType::Frame, 12, frame)?;
    capc_demo_user::caps::FrameCapClient(env.cap(frame)).map(PML4, REGION, rw.bits())?;
    let frame_at = address(frame);
    // Only the table's last cap may unmap it.
    copy(env, table, copy_of_table)?;
    let with_copy = Shown(unmap_table(env, table));
    capc_demo_user::caps::CNodeCapClient(env.cap(SELF)).delete(copy_of_table, 64)?;
    unmap_table(env, table)?;
    // The frame's cap goes (its record names an address space the table
    // is no longer in), and its memory becomes a page table.
    capc_demo_user::caps::CNodeCapClient(env.cap(SELF)).delete(frame, 64)?;
    capc_demo_user::caps::CNodeCapClient(env.cap(SELF)).revoke(U, 64)?;
    retype_one(env, U, ObjectType::PageTable, 0, object)?;
    let object_at = address(object);
    map_table(env, table, VSPACE, REGION_2)?;
    retype_one(env, W, ObjectType::Frame, 12, other)?;
    let over = capc_demo_user::caps::FrameCapClient(env.cap(other))
        .map(PML4, REGION_2, Rights::READ.bits())
        .map_err(capc_demo_user::Error::from);
    let verdict = match over {
        Ok(()) => Verdict::Contained,
        Err(_) => Verdict::Succeeded,
    };
    report(
        env,
        "table-unmap",
        verdict,
        format_args!(
            "unmap with a copy of the table's cap: {with_copy}; unmapped, its frame at {frame_at:#x} deleted and a page table retyped at {object_at:#x}, the table linked again at {REGION_2:#x}: a frame maps at its first entry: {}",
            Shown(over)
        ),
    );
    clean_up(env, &[]);
    Ok(())
}

/// 4. One page table mapped twice, through a copy of its cap.
fn double_table_map(env: &mut Env) -> Result<(), Error> {
    let (table, copied) = (FIRST, FIRST + 1);
    retype_one(env, W, ObjectType::PageTable, 0, table)?;
    let unmapped_copy = copy(env, table, copied);
    if unmapped_copy.is_ok() {
        let first = map_table(env, table, VSPACE, REGION_2);
        let second = map_table(env, copied, VSPACE, REGION_3);
        report(
            env,
            "double-table-map",
            if first.is_ok() && second.is_ok() {
                Verdict::Succeeded
            } else {
                Verdict::Contained
            },
            format_args!(
                "copy of an unmapped page-table cap: ok; map it at {REGION_2:#x}: {}, map the copy at {REGION_3:#x}: {}",
                Shown(first),
                Shown(second)
            ),
        );
    } else {
        map_table(env, table, VSPACE, REGION_2)?;
        let mapped_copy = copy(env, table, copied);
        let again = mapped_copy.and_then(|()| map_table(env, copied, VSPACE, REGION_3));
        report(
            env,
            "double-table-map",
            if again.is_ok() {
                Verdict::Succeeded
            } else {
                Verdict::Refused
            },
            format_args!(
                "copy of an unmapped page-table cap: {}; copy of the cap mapped at {REGION_2:#x}: {}, map the copy at {REGION_3:#x}: {}",
                Shown(unmapped_copy),
                Shown(mapped_copy),
                Shown(again)
            ),
        );
    }
    clean_up(env, &[]);
    Ok(())
}

/// 5. Frames mapped under a PML4 whose last cap goes, and a new address
///    space with a frame at the same address.
fn frames_under_deleted_pml4(env: &mut Env) -> Result<(), Error> {
    let rw = Rights::READ.union(Rights::WRITE);
    let (old, old_frame) = (FIRST, FIRST + 4);
    let (new, new_frame, third) = (FIRST + 5, FIRST + 9, FIRST + 10);
    address_space(env, U, old)?;
    tables(env, U, old, ELSEWHERE, [FIRST + 1, FIRST + 2, FIRST + 3])?;
    retype_one(env, U, ObjectType::Frame, 12, old_frame)?;
    capc_demo_user::caps::FrameCapClient(env.cap(old_frame)).map(
        Slot::new(old),
        ELSEWHERE,
        rw.bits(),
    )?;
    capc_demo_user::caps::CNodeCapClient(env.cap(SELF)).delete(old, 64)?;
    address_space(env, W, new)?;
    tables(env, W, new, ELSEWHERE, [FIRST + 6, FIRST + 7, FIRST + 8])?;
    retype_one(env, W, ObjectType::Frame, 12, new_frame)?;
    capc_demo_user::caps::FrameCapClient(env.cap(new_frame)).map(
        Slot::new(new),
        ELSEWHERE,
        rw.bits(),
    )?;
    capc_demo_user::caps::CNodeCapClient(env.cap(SELF)).delete(old_frame, 64)?;
    retype_one(env, W, ObjectType::Frame, 12, third)?;
    let over = capc_demo_user::caps::FrameCapClient(env.cap(third))
        .map(Slot::new(new), ELSEWHERE, rw.bits())
        .map_err(capc_demo_user::Error::from);
    report(
        env,
        "frames-under-deleted-pml4",
        if over.is_ok() {
            Verdict::Succeeded
        } else {
            Verdict::Contained
        },
        format_args!(
            "after deleting a PML4 with a frame mapped at {ELSEWHERE:#x}, then the frame's cap, the frame a new PML4 maps there {}: mapping a third frame there: {}",
            if over.is_ok() {
                "was unmapped"
            } else {
                "stays"
            },
            Shown(over)
        ),
    );
    clean_up(env, &[]);
    Ok(())
}

/// The endpoints of [`stale_reply`]: the first server's and the second's.
static ENDPOINTS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
/// Set by each server when it has received, and by the main thread to let
/// it reply.
static RECEIVED: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
static GO: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
/// What each server's reply returned.
static REPLIED: [Cell; 2] = [Cell::new(), Cell::new()];
/// The answers of the two servers.
const ANSWERS: [u64; 2] = [0xa, 0xc];
/// What the caller's first and second calls got back.
static FIRST_CALL: Cell = Cell::new();
static SECOND_CALL: Cell = Cell::new();

fn serve(buffer: u64, which: usize) -> ! {
    // SAFETY: its IPC buffer is mapped there, and only it uses it.
    let mut env = unsafe { Env::new(buffer) };
    let received = env.recv(ENDPOINTS[which].load(Ordering::Relaxed));
    RECEIVED[which].store(1 + u64::from(received.is_err()), Ordering::Release);
    while GO[which].load(Ordering::Acquire) == 0 {
        yield_now();
    }
    let info = MessageInfo {
        label: 0,
        length: 1,
        caps: 0,
    };
    REPLIED[which].store(env.reply(info, &[ANSWERS[which]]).map(|()| 0));
    capc_demo_user::exit(0)
}

extern "C" fn server_a(buffer: u64) -> ! {
    serve(buffer, 0)
}

extern "C" fn server_c(buffer: u64) -> ! {
    serve(buffer, 1)
}

/// Calls the first server, then (whatever that returned) the second.
extern "C" fn caller(buffer: u64) -> ! {
    // SAFETY: its IPC buffer is mapped there, and only it uses it.
    let mut env = unsafe { Env::new(buffer) };
    let info = MessageInfo {
        label: 1,
        length: 0,
        caps: 0,
    };
    let first = env.call_endpoint(ENDPOINTS[0].load(Ordering::Relaxed), info, &[], &[]);
    FIRST_CALL.store(first.map(|m| m.words[0]));
    let second = env.call_endpoint(ENDPOINTS[1].load(Ordering::Relaxed), info, &[], &[]);
    SECOND_CALL.store(second.map(|m| m.words[0]));
    capc_demo_user::exit(0)
}

/// 6. A server replies to a caller that was suspended, resumed and is now
///    calling someone else.
fn stale_reply(env: &mut Env) -> Result<(), Error> {
    let (first, second) = (FIRST, FIRST + 1);
    capc_demo_user::caps::UntypedCapClient(env.cap(W)).retype(
        ObjectType::Endpoint as u64,
        0,
        CSPACE,
        0,
        0,
        first,
        2,
    )?;
    ENDPOINTS[0].store(first, Ordering::Relaxed);
    ENDPOINTS[1].store(second, Ordering::Relaxed);
    let a = start(env, FIRST + 2, server_a)?;
    let c = start(env, FIRST + 6, server_c)?;
    let b = start(env, FIRST + 10, caller)?;
    let threads = [a.tcb, b.tcb, c.tcb];
    let verdict = if !wait_for(&RECEIVED[0]) {
        Err(Word(None))
    } else {
        // The first server holds the reply cap naming the caller: the
        // kernel's audit checks it (and says how many it saw).
        syscall(Syscall::DebugAudit, 0, 0, [0; 4]);
        suspend(env, b.tcb)?;
        resume(env, b.tcb)?;
        if !wait_for(&RECEIVED[1]) {
            // The kernel restarted the caller's first call (as seL4's
            // `restart` does): it waits to send again. The first server's
            // reply must not reach it either.
            GO[0].store(1, Ordering::Release);
            wait_for(REPLIED[0].done());
            for _ in 0..5 {
                yield_now();
            }
            match FIRST_CALL.load() {
                Some(Ok(answer)) if answer == ANSWERS[0] => Ok(Some(Ok(answer))),
                Some(other) => Err(Word(Some(other))),
                None => Ok(None),
            }
        } else {
            GO[0].store(1, Ordering::Release);
            wait_for(REPLIED[0].done());
            for _ in 0..5 {
                yield_now();
            }
            GO[1].store(1, Ordering::Release);
            wait_for(SECOND_CALL.done());
            Ok(SECOND_CALL.load())
        }
    };
    match verdict {
        Ok(Some(Ok(answer))) if answer == ANSWERS[1] => report(
            env,
            "stale-reply",
            Verdict::Contained,
            format_args!(
                "the first server's reply after the caller's suspend and resume: {}; the caller got the second server's answer {answer:#x}",
                Word(REPLIED[0].load())
            ),
        ),
        Ok(Some(Ok(answer))) if answer == ANSWERS[0] => report(
            env,
            "stale-reply",
            Verdict::Succeeded,
            format_args!(
                "the caller's call to the second server was answered by the first server's stale reply {answer:#x}"
            ),
        ),
        Ok(None) if RECEIVED[1].load(Ordering::Acquire) == 0 => report(
            env,
            "stale-reply",
            Verdict::Contained,
            format_args!(
                "the caller's call was restarted by its resume; the first server's reply after it: {}, and it did not reach the caller",
                Word(REPLIED[0].load())
            ),
        ),
        Ok(other) => {
            let _ = writeln!(
                env,
                "attack stale-reply: inconclusive (the caller's second call: {})",
                Word(other)
            );
        }
        Err(first) => {
            let _ = writeln!(
                env,
                "attack stale-reply: inconclusive (first server received: {}, the caller's first call: {first})",
                RECEIVED[0].load(Ordering::Acquire)
            );
        }
    }
    clean_up(env, &threads);
    Ok(())
}

/// The endpoint caps of [`queued_send_after_revoke`]: badged, unbadged.
static SEND_THROUGH: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
static SENT: [Cell; 2] = [Cell::new(), Cell::new()];
static SENDING: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

fn send(buffer: u64, which: usize) -> ! {
    // SAFETY: its IPC buffer is mapped there, and only it uses it.
    let mut env = unsafe { Env::new(buffer) };
    let info = MessageInfo {
        label: 0,
        length: 1,
        caps: 0,
    };
    SENDING[which].store(1, Ordering::Release);
    let sent = env.send(
        SEND_THROUGH[which].load(Ordering::Relaxed),
        info,
        &[which as u64],
        &[],
    );
    SENT[which].store(sent.map(|()| 0));
    capc_demo_user::exit(0)
}

extern "C" fn badged_sender(buffer: u64) -> ! {
    send(buffer, 0)
}

extern "C" fn unbadged_sender(buffer: u64) -> ! {
    send(buffer, 1)
}

/// 7. A send queued through a badged cap that is then revoked.
fn queued_send_after_revoke(env: &mut Env) -> Result<(), Error> {
    const BADGE: u64 = 7;
    let (endpoint, badged) = (FIRST, FIRST + 1);
    retype_one(env, W, ObjectType::Endpoint, 0, endpoint)?;
    mint(env, endpoint, badged, Rights::WRITE, BADGE)?;
    SEND_THROUGH[0].store(badged, Ordering::Relaxed);
    SEND_THROUGH[1].store(endpoint, Ordering::Relaxed);
    let first = start(env, FIRST + 2, badged_sender)?;
    wait_for(&SENDING[0]);
    for _ in 0..5 {
        yield_now();
    }
    capc_demo_user::caps::CNodeCapClient(env.cap(SELF)).revoke(badged, 64)?;
    capc_demo_user::caps::CNodeCapClient(env.cap(SELF)).delete(badged, 64)?;
    let second = start(env, FIRST + 6, unbadged_sender)?;
    wait_for(&SENDING[1]);
    for _ in 0..5 {
        yield_now();
    }
    let received = env.recv(endpoint);
    match received {
        Ok(m) if m.badge == 0 => report(
            env,
            "queued-send-after-revoke",
            Verdict::Contained,
            format_args!(
                "the receiver got badge 0 first; the send queued through the deleted badge-{BADGE} cap: {}",
                Word(SENT[0].load())
            ),
        ),
        Ok(m) => report(
            env,
            "queued-send-after-revoke",
            Verdict::Succeeded,
            format_args!(
                "the receiver got badge {:#x} first, from a send queued through the badged cap after it was deleted",
                m.badge
            ),
        ),
        Err(error) => {
            let _ = writeln!(
                env,
                "attack queued-send-after-revoke: inconclusive (receive: {error})"
            );
        }
    }
    clean_up(env, &[first.tcb, second.tcb]);
    Ok(())
}

/// 8. An IPC buffer in device memory.
fn device_ipc_buffer(env: &mut Env) -> Result<(), Error> {
    let device_frame = FIRST;
    retype_one(env, DEVICE, ObjectType::Frame, 12, device_frame)?;
    let t = unconfigured(env, FIRST + 1, probe)?;
    let configured = configure(env, t.tcb, SELF, VSPACE, (device_frame, t.buffer_at));
    match configured {
        Err(error) => report(
            env,
            "device-ipc-buffer",
            Verdict::Refused,
            format_args!(
                "configure with the device frame at {:#x} as the IPC buffer: {error}",
                address(device_frame)
            ),
        ),
        // The kernel would touch the buffer on the thread's first system
        // call and fault: it is not resumed.
        Ok(()) => report(
            env,
            "device-ipc-buffer",
            Verdict::Succeeded,
            format_args!(
                "configure took the device frame at {:#x} as the IPC buffer (the thread is not resumed: the kernel would fault on it)",
                address(device_frame)
            ),
        ),
    }
    let _ = capc_demo_user::caps::CNodeCapClient(env.cap(SELF))
        .delete(device_frame, 64)
        .map_err(capc_demo_user::Error::from);
    clean_up(env, &[t.tcb]);
    Ok(())
}

/// The Untyped the thread flood's TCBs come from, and its size: 256 KiB,
/// room for [`AT_ONCE`] TCBs of 2 KiB.
const F: u64 = 9;
const F_BITS: u64 = 18;
/// Threads the flood runs one after another, each from the memory of the
/// one before, and then all at once: more than any fixed kernel table of
/// threads would hold (the kernel had one of 64 entries).
const IN_SEQUENCE: u64 = 1000;
const AT_ONCE: u64 = 100;
/// The flood's slots: the endpoint its threads report on, the notification
/// they then wait on for good, the frame they share as IPC buffer (they
/// never use it), and their TCBs from `FLOOD_TCBS` on.
const FLOOD_EP: u64 = FIRST;
const FLOOD_BLOCK: u64 = FIRST + 1;
const FLOOD_BUFFER: u64 = FIRST + 2;
const FLOOD_TCBS: u64 = FIRST + 3;

/// A flood thread: sends its argument (`rdi`) as a one-word message on the
/// endpoint at [`FLOOD_EP`], then waits on the notification at
/// [`FLOOD_BLOCK`], which nothing signals. Registers only: it has no stack.
#[unsafe(naked)]
extern "C" fn flood_thread(_number: u64) -> ! {
    core::arch::naked_asm!(
        "mov rdx, rdi",
        "mov esi, 1",
        "mov edi, {ep}",
        "mov eax, {send}",
        "syscall",
        "mov edi, {block}",
        "mov eax, {recv}",
        "syscall",
        "ud2",
        ep = const FLOOD_EP,
        block = const FLOOD_BLOCK,
        send = const Syscall::Send.word(),
        recv = const Syscall::Recv.word(),
    )
}

/// Makes the flood thread in `slot` from `F`, set to send `number`, and
/// resumes it.
fn flood_start(env: &mut Env, slot: u64, number: u64) -> Result<(), Error> {
    retype_one(env, F, ObjectType::Tcb, 0, slot)?;
    configure(env, slot, SELF, VSPACE, (FLOOD_BUFFER, page_for_flood()))?;
    write_registers(env, slot, flood_thread as *const () as u64, 0, number)?;
    resume(env, slot)
}

/// The address the flood's shared IPC buffer is said to be at (the kernel
/// reaches it through its frame cap; the threads never touch it).
fn page_for_flood() -> u64 {
    REGION_3
}

/// The number the next flood thread on the endpoint sent.
fn flood_receive(env: &mut Env) -> Result<u64, Error> {
    let message = env.recv(FLOOD_EP)?;
    Ok(message.words[0])
}

/// Stops and deletes the flood thread in `slot`.
fn flood_end(env: &mut Env, slot: u64) -> Result<(), Error> {
    suspend(env, slot)?;
    capc_demo_user::caps::CNodeCapClient(env.cap(SELF))
        .delete(slot, 64)
        .map_err(capc_demo_user::Error::from)
}

/// 10. Threads by the thousand, paid from this task's budget.
///
/// The kernel must keep no table of threads that such a task could fill
/// for everyone.
fn thread_flood(env: &mut Env) -> Result<(), Error> {
    retype_one(env, BUDGET, ObjectType::Untyped, F_BITS, F)?;
    retype_one(env, W, ObjectType::Endpoint, 0, FLOOD_EP)?;
    retype_one(env, W, ObjectType::Notification, 0, FLOOD_BLOCK)?;
    retype_one(env, W, ObjectType::Frame, 12, FLOOD_BUFFER)?;
    // One after another, each TCB in the memory of the one before.
    let mut first_tcb = 0;
    let mut in_sequence = 0;
    for number in 0..IN_SEQUENCE {
        flood_start(env, FLOOD_TCBS, number)?;
        let at = address(FLOOD_TCBS);
        if number == 0 {
            first_tcb = at;
        }
        let got = flood_receive(env)?;
        flood_end(env, FLOOD_TCBS)?;
        capc_demo_user::caps::CNodeCapClient(env.cap(SELF)).revoke(F, 64)?;
        if got == number && at == first_tcb {
            in_sequence += 1;
        }
    }
    // All at once: every one is resumed before any reports.
    for number in 0..AT_ONCE {
        flood_start(env, FLOOD_TCBS + number, number)?;
    }
    let mut seen = 0u128;
    for _ in 0..AT_ONCE {
        let got = flood_receive(env)?;
        if got < AT_ONCE {
            seen |= 1 << got;
        }
    }
    let at_once = seen.count_ones();
    for number in 0..AT_ONCE {
        flood_end(env, FLOOD_TCBS + number)?;
    }
    capc_demo_user::caps::CNodeCapClient(env.cap(SELF)).revoke(F, 64)?;
    capc_demo_user::caps::CNodeCapClient(env.cap(SELF)).delete(F, 64)?;
    let verdict = if in_sequence == IN_SEQUENCE && u64::from(at_once) == AT_ONCE {
        Verdict::Contained
    } else {
        Verdict::Succeeded
    };
    report(
        env,
        "thread-flood",
        verdict,
        format_args!(
            "{in_sequence} of {IN_SEQUENCE} threads ran one after another, each TCB at {first_tcb:#x} in the memory of the one before, then {at_once} of {AT_ONCE} at once; all paid from my budget, none left in the kernel"
        ),
    );
    clean_up(env, &[]);
    Ok(())
}

/// The Untyped the address-space flood's PML4s come from: 1 MiB of my
/// budget, room for 256 of them (the kernel's former table of numbers held
/// 255 for every task together).
const G_BITS: u64 = 20;
/// The flood's slots: where each PML4 is made and numbered, and the CNode
/// of 512 slots it then moves to.
const SPACE: u64 = FIRST;
const SPACES: u64 = FIRST + 1;
/// log2 of the slots of [`SPACES`].
const SPACES_RADIX: u64 = 9;

/// 11. Address spaces until my budget runs out.
///
/// Each takes a number from my own ASID pool; the kernel must keep no
/// table of numbers that such a task could fill for everyone.
fn address_space_flood(env: &mut Env) -> Result<(), Error> {
    retype_one(env, BUDGET, ObjectType::Untyped, G_BITS, F)?;
    retype_one(env, W, ObjectType::CNode, SPACES_RADIX, SPACES)?;
    let mut made = 0;
    let mut numbered = 0;
    let stop = loop {
        if made == 1 << SPACES_RADIX {
            break Ok(());
        }
        if let Err(error) = retype_one(env, F, ObjectType::Pml4, 0, SPACE) {
            break Err(error);
        }
        made += 1;
        if capc_demo_user::caps::AsidPoolCapClient(env.cap(ASID_POOL))
            .assign(Slot::new(SPACE))
            .map_err(capc_demo_user::Error::from)
            .is_ok()
        {
            numbered += 1;
        }
        capc_demo_user::caps::CNodeCapClient(env.cap(SPACES)).r#move(
            made - 1,
            SPACES_RADIX,
            CSPACE,
            SPACE,
            64,
        )?;
    };
    let ran_out = matches!(
        stop,
        Err(Error::Invocation(InvocationError::Kernel(
            KernelError::NotEnoughMemory { .. }
        )))
    );
    let verdict = if ran_out && made == 256 && numbered == made {
        Verdict::Contained
    } else {
        Verdict::Succeeded
    };
    report(
        env,
        "address-space-flood",
        verdict,
        format_args!(
            "{made} address spaces from 1 MiB of my budget, {numbered} numbered from my own pool, then the next: {}; the kernel keeps no table of numbers",
            Shown(stop)
        ),
    );
    // Deleting the CNode deletes the PML4s and frees their numbers.
    capc_demo_user::caps::CNodeCapClient(env.cap(SELF)).delete(SPACES, 64)?;
    capc_demo_user::caps::CNodeCapClient(env.cap(SELF)).revoke(F, 64)?;
    capc_demo_user::caps::CNodeCapClient(env.cap(SELF)).delete(F, 64)?;
    clean_up(env, &[]);
    Ok(())
}

/// Set by [`must_not_run`] if it ever runs.
/// The endpoint [`listener`] receives on, and the words it heard.
static LISTEN_ON: AtomicU64 = AtomicU64::new(0);
static HEARD: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// Receives on [`LISTEN_ON`] forever, keeping the first word of each
/// message (a send's or a call's) in [`HEARD`] and answering calls with no
/// words.
extern "C" fn listener(buffer: u64) -> ! {
    // SAFETY: its IPC buffer is mapped there, and only it uses it.
    let mut env = unsafe { Env::new(buffer) };
    let empty = MessageInfo {
        label: 0,
        length: 0,
        caps: 0,
    };
    loop {
        if let Ok(message) = env.recv(LISTEN_ON.load(Ordering::Relaxed)) {
            let word = message.words[0];
            HEARD[usize::from(word == 2)].store(word, Ordering::Release);
            if word == 2 {
                let _ = env.reply(empty, &[]);
            }
        }
    }
}

/// IPC through caps without the right it needs: `Send` and `Call` on an
/// endpoint cap without `write`, `Recv` on one without `read`, signal
/// through a notification cap without `write` and wait on one without
/// `read` (kernel.cap's `syscalls` block). Each is set up so that, let
/// through, it would return at once (a sender is queued, a listener waits
/// and answers, a signal is pending) rather than block; each is then done
/// again through a cap with the right, which must work.
fn ipc_without_rights(env: &mut Env) -> Result<(), Error> {
    let (endpoint, notification) = (FIRST, FIRST + 1);
    let (read_ep, write_ep, read_ntfn, write_ntfn) = (FIRST + 2, FIRST + 3, FIRST + 4, FIRST + 5);
    retype_one(env, W, ObjectType::Endpoint, 0, endpoint)?;
    retype_one(env, W, ObjectType::Notification, 0, notification)?;
    // The endpoint cap without `write` may be answered (`grant_reply`): a
    // call through it, were it let through, would come back rather than
    // leave this thread inactive.
    mint(
        env,
        endpoint,
        read_ep,
        Rights::READ.union(Rights::GRANT_REPLY),
        0,
    )?;
    mint(env, endpoint, write_ep, Rights::WRITE, 0)?;
    mint(env, notification, read_ntfn, Rights::READ, 0)?;
    // Unbadged: a signal of badge 0 must stay pending, as in seL4, for the
    // wait after it to return.
    mint(env, notification, write_ntfn, Rights::WRITE, 0)?;
    let one = MessageInfo {
        label: 0,
        length: 1,
        caps: 0,
    };
    // A sender queued on the endpoint, then a listener waiting on it.
    SEND_THROUGH[0].store(endpoint, Ordering::Relaxed);
    SENDING[0].store(0, Ordering::Release);
    LISTEN_ON.store(endpoint, Ordering::Relaxed);
    for heard in &HEARD {
        heard.store(0, Ordering::Release);
    }
    let sender = start(env, FIRST + 6, badged_sender)?;
    wait_for(&SENDING[0]);
    for _ in 0..5 {
        yield_now();
    }
    let mut threads = [sender.tcb, 0];
    // Each op without the right, then the same through a cap with it; the
    // first op let through ends the attack (its control could block).
    let mut with = [Ok(()); 5];
    let mut through = None;
    for (step, control) in with.iter_mut().enumerate() {
        let (what, without) = match step {
            0 => (
                "Recv on a write-only endpoint cap with a sender queued",
                env.recv(write_ep).map(drop),
            ),
            1 => (
                "a signal through a read-only notification cap",
                env.signal(read_ntfn),
            ),
            2 => {
                env.signal(write_ntfn)?;
                (
                    "a wait on a write-only notification cap with a signal pending",
                    env.wait(write_ntfn).map(drop),
                )
            }
            3 => {
                threads[1] = start(env, FIRST + 10, listener)?.tcb;
                for _ in 0..5 {
                    yield_now();
                }
                (
                    "Send on an endpoint cap without write with a listener waiting",
                    env.send(read_ep, one, &[1], &[]),
                )
            }
            _ => (
                "Call on an endpoint cap without write with a listener waiting",
                env.call_endpoint(read_ep, one, &[2], &[]).map(drop),
            ),
        };
        if !matches!(without, Err(Error::Syscall(SyscallStatus::InvalidCap))) {
            through = Some((what, without));
            break;
        }
        *control = match step {
            0 => env.recv(read_ep).map(drop),
            1 => env.signal(write_ntfn),
            2 => env.wait(read_ntfn).map(drop),
            3 => env.send(write_ep, one, &[1], &[]),
            _ => env.call_endpoint(endpoint, one, &[2], &[]).map(drop),
        };
    }
    for _ in 0..5 {
        yield_now();
    }
    let heard = HEARD.each_ref().map(|h| h.load(Ordering::Acquire));
    match through {
        Some((what, Ok(()))) => report(
            env,
            "ipc-without-rights",
            Verdict::Succeeded,
            format_args!("{what} went through"),
        ),
        Some((what, Err(error))) => {
            let _ = writeln!(
                env,
                "attack ipc-without-rights: inconclusive ({what}: {error}, not InvalidCap)"
            );
        }
        None if with.iter().all(Result::is_ok) && heard == [1, 2] => report(
            env,
            "ipc-without-rights",
            Verdict::Refused,
            format_args!(
                "Recv on a write-only endpoint cap with a sender queued, signal through a read-only notification cap, wait on a write-only one with a signal pending, Send and Call on an endpoint cap without write with a listener waiting: InvalidCap each; through caps with the rights: received, signalled, waited, sent, called"
            ),
        ),
        None => {
            let _ = writeln!(
                env,
                "attack ipc-without-rights: inconclusive (through caps with the rights: {}, {}, {}, {}, {}; heard {heard:?})",
                Shown(with[0]),
                Shown(with[1]),
                Shown(with[2]),
                Shown(with[3]),
                Shown(with[4])
            );
        }
    }
    let started = if threads[1] == 0 { 1 } else { 2 };
    clean_up(env, &threads[..started]);
    Ok(())
}

static RAN: Cell = Cell::new();

/// The thread of [`asid_pool_deleted`]: its address space maps nothing,
/// so it would fault at once in it; only in another (this task's, the
/// kernel keeping the wrong CR3) could it say it ran.
extern "C" fn must_not_run(_: u64) -> ! {
    RAN.store(Ok(1));
    capc_demo_user::exit(1)
}

/// 13. My ASID pool deleted under a thread's address space.
///
/// A PML4 numbered from my own pool is a thread's VSpace; the pool goes,
/// then I resume the thread. The number no longer stands for the PML4: the
/// kernel must run the thread in no address space (it stops it when it
/// would switch to it: its line `thread ... stopped: its address space was
/// deleted`, which the transcript check requires for this TCB), and
/// nothing maps into that PML4 again.
fn asid_pool_deleted(env: &mut Env) -> Result<(), Error> {
    let (space, before, after) = (FIRST, FIRST + 5, FIRST + 6);
    let t = unconfigured(env, FIRST + 1, must_not_run)?;
    address_space(env, U, space)?;
    configure(env, t.tcb, SELF, space, (t.buffer, t.buffer_at))?;
    // A page-directory-pointer table, the first level a PML4 takes, maps
    // while the pool stands.
    retype_one(env, W, ObjectType::Pdpt, 0, before)?;
    map_table(env, before, space, ELSEWHERE)?;
    capc_demo_user::caps::CNodeCapClient(env.cap(SELF)).delete(ASID_POOL, 64)?;
    resume(env, t.tcb)?;
    for _ in 0..3 {
        yield_now();
    }
    // Another, at the next 512 GiB, once the pool went.
    retype_one(env, W, ObjectType::Pdpt, 0, after)?;
    let mapped = map_table(env, after, space, ELSEWHERE + (1 << 39));
    let ran = RAN.load().is_some();
    report(
        env,
        "asid-pool-deleted",
        if mapped.is_err() && !ran {
            Verdict::Contained
        } else {
            Verdict::Succeeded
        },
        format_args!(
            "after deleting my ASID pool, a thread (TCB at {:#x}) configured with a PML4 it numbered, resumed: {}; a PDPT mapped into that PML4 (one mapped before): {}",
            address(t.tcb),
            if ran { "ran" } else { "did not run" },
            Shown(mapped)
        ),
    );
    clean_up(env, &[t.tcb]);
    Ok(())
}

/// 14. `syscall` in the last two bytes of user space.
///
/// Its return address is the first non-canonical one: `sysretq` there
/// faults in ring 0 on my stack (the classic hole), and so does `iretq`.
/// A thread of mine runs the instruction from a page I map at the top of
/// user space; the kernel must stop it (its line `thread ... stopped: its
/// return address ... is past the end of user space`, which the transcript
/// check requires for this TCB) and go on.
fn syscall_at_user_end(env: &mut Env) -> Result<(), Error> {
    let rw = Rights::READ.union(Rights::WRITE);
    let (top, frame) = (USER_END - 0x1000, FIRST + 8);
    tables(env, U, VSPACE, top, [FIRST + 5, FIRST + 6, FIRST + 7])?;
    retype_one(env, U, ObjectType::Frame, 12, frame)?;
    capc_demo_user::caps::FrameCapClient(env.cap(frame)).map(PML4, top, rw.bits())?;
    let at = USER_END - 2;
    // SAFETY: the frame just mapped at `top`, read-write, mine alone.
    unsafe {
        core::ptr::write_volatile(at as *mut u8, 0x0f);
        core::ptr::write_volatile((at + 1) as *mut u8, 0x05);
    }
    let t = unconfigured(env, FIRST, must_not_run)?;
    write_registers(env, t.tcb, at, t.stack_top, t.buffer_at)?;
    configure(env, t.tcb, SELF, VSPACE, (t.buffer, t.buffer_at))?;
    resume(env, t.tcb)?;
    for _ in 0..3 {
        yield_now();
    }
    // Still here, and the thread never got past its `syscall`.
    let ran = RAN.load().is_some();
    report(
        env,
        "syscall-at-user-end",
        if ran {
            Verdict::Succeeded
        } else {
            Verdict::Contained
        },
        format_args!(
            "a thread (TCB at {:#x}) made a system call from {at:#x}, the last two bytes of user space: the kernel {}",
            address(t.tcb),
            if ran { "ran it on" } else { "went on" }
        ),
    );
    clean_up(env, &[t.tcb]);
    Ok(())
}
