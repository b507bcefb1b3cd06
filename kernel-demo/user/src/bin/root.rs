//! The root task: the first user program, which the kernel loads from the
//! boot module and hands every Untyped cap. It exercises the capability
//! system through the generated stubs (retype, copy, mint, move, delete,
//! revoke and every retype error the kernel can be made to return), then
//! makes a thread of its own, paying for its TCB, stack and IPC buffer,
//! which touches kernel memory and is stopped, while the root goes on.
//!
//! Each step prints one line the QEMU test checks (`root: ...`).

#![no_std]
#![no_main]

use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};

use capc_demo_user::abi::{
    FIRST_UNTYPED_SLOT, FaultLabel, ROOT_CNODE_SLOT, ROOT_FLAG_BENCH, ROOT_IPC_BUFFER,
    ROOT_STACK_TOP, ROOT_TCB_SLOT, ROOT_VSPACE_SLOT, Syscall,
};
use capc_demo_user::caps::{
    self, Cap, KernelError, MessageInfo, ObjectType, Rights, Slot, UntypedCap,
};
use capc_demo_user::{Env, Error, InvocationError, entry, syscall, yield_now};

entry!(main);

/// The root's PML4 cap (for `fuzz`).
const ROOT_VSPACE: u64 = ROOT_VSPACE_SLOT;

/// The root's Untyped caps: the first slot and how many.
static FIRST_UNTYPED: AtomicU64 = AtomicU64::new(0);
static UNTYPED_COUNT: AtomicU64 = AtomicU64::new(0);

/// The Untyped the root retypes from (shared with its threads).
static UNTYPED: AtomicU64 = AtomicU64::new(0);

/// Every address is resolved with all 64 bits from the root CNode (its
/// guard takes the rest).
const DEPTH: u64 = 64;

/// A retype into the root CNode's slots `offset..offset + count`.
fn retype(
    env: &mut Env,
    untyped: u64,
    object: ObjectType,
    size_arg: u64,
    offset: u64,
    count: u64,
) -> Result<(), Error> {
    retype_word(env, untyped, object as u64, size_arg, offset, count)
}

fn retype_word(
    env: &mut Env,
    untyped: u64,
    object_type: u64,
    size_arg: u64,
    offset: u64,
    count: u64,
) -> Result<(), Error> {
    caps::UntypedCapClient(env.cap(untyped))
        .retype(
            object_type,
            size_arg,
            capc_demo_user::ROOT_CNODE,
            0,
            0,
            offset,
            count,
        )
        .map_err(capc_demo_user::Error::from)
}

fn copy(env: &mut Env, from: u64, to: u64, rights: Rights) -> Result<(), Error> {
    caps::CNodeCapClient(env.cap(ROOT_CNODE_SLOT))
        .copy(
            to,
            DEPTH,
            capc_demo_user::ROOT_CNODE,
            from,
            DEPTH,
            rights.bits(),
        )
        .map_err(capc_demo_user::Error::from)
}

fn mint(env: &mut Env, from: u64, to: u64, rights: Rights, badge: u64) -> Result<(), Error> {
    caps::CNodeCapClient(env.cap(ROOT_CNODE_SLOT))
        .mint(
            to,
            DEPTH,
            capc_demo_user::ROOT_CNODE,
            from,
            DEPTH,
            rights.bits(),
            badge,
        )
        .map_err(capc_demo_user::Error::from)
}

fn move_cap(env: &mut Env, from: u64, to: u64) -> Result<(), Error> {
    caps::CNodeCapClient(env.cap(ROOT_CNODE_SLOT))
        .r#move(to, DEPTH, capc_demo_user::ROOT_CNODE, from, DEPTH)
        .map_err(capc_demo_user::Error::from)
}

fn delete(env: &mut Env, at: u64) -> Result<(), Error> {
    caps::CNodeCapClient(env.cap(ROOT_CNODE_SLOT))
        .delete(at, DEPTH)
        .map_err(capc_demo_user::Error::from)
}

fn revoke(env: &mut Env, at: u64) -> Result<(), Error> {
    caps::CNodeCapClient(env.cap(ROOT_CNODE_SLOT))
        .revoke(at, DEPTH)
        .map_err(capc_demo_user::Error::from)
}

fn map_frame(env: &mut Env, frame: u64, vaddr: u64) -> Result<(), Error> {
    let rights = Rights::READ.union(Rights::WRITE).bits();
    caps::FrameCapClient(env.cap(frame))
        .map(Slot::new(ROOT_VSPACE_SLOT), vaddr, rights)
        .map_err(capc_demo_user::Error::from)
}

/// Prints `root: <what>: <outcome>` for the result `r` and counts 1 if it
/// failed: one line of the transcript per step.
macro_rules! step {
    ($env:expr, $r:expr, $($what:tt)*) => {{
        let r = $r;
        let _ = writeln!($env, "root: {}: {}", format_args!($($what)*), outcome(r));
        u64::from(r.is_err())
    }};
}

/// The outcome of a call, as the transcript shows it.
fn outcome(result: Result<(), Error>) -> impl core::fmt::Display {
    struct Outcome(Result<(), Error>);
    impl core::fmt::Display for Outcome {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            match &self.0 {
                Ok(()) => f.write_str("ok"),
                Err(error) => write!(f, "{error}"),
            }
        }
    }
    Outcome(result)
}

/// Checks that `result` is the kernel error `expected`, and prints it.
fn expect_error(
    env: &mut Env,
    what: &str,
    result: Result<(), Error>,
    expected: KernelError,
) -> bool {
    let good = result == Err(Error::Invocation(InvocationError::Kernel(expected)));
    let verdict = if good { "as expected" } else { "WRONG" };
    let _ = writeln!(env, "root: {what}: {} ({verdict})", outcome(result));
    good
}

fn main(
    first_untyped: u64,
    untyped_count: u64,
    first_free: u64,
    largest: u64,
    flags: u64,
    boot_image: u64,
) -> u64 {
    // SAFETY: the kernel maps the root's IPC buffer there before it starts.
    let mut env = unsafe { Env::new(ROOT_IPC_BUFFER) };
    let _ = writeln!(
        env,
        "root: running in ring 3; {untyped_count} Untyped caps from slot {first_untyped}, the largest in slot {largest}; first free slot {first_free}"
    );
    assert_eq!(first_untyped, FIRST_UNTYPED_SLOT);
    let mut failures = 0;
    let untyped = largest;
    UNTYPED.store(untyped, Ordering::Relaxed);
    FIRST_UNTYPED.store(first_untyped, Ordering::Relaxed);
    UNTYPED_COUNT.store(untyped_count, Ordering::Relaxed);
    if flags & ROOT_FLAG_BENCH != 0 {
        return bench::run(&mut env, untyped, first_free);
    }
    let slot = first_free;

    // Retype, copy, mint, move, delete, revoke.
    let r = retype(&mut env, untyped, ObjectType::Endpoint, 0, slot, 4);
    failures += step!(env, r, "retype 4 endpoints into slots {slot}..{}", slot + 4);
    let r = copy(&mut env, slot, slot + 10, Rights::READ);
    failures += step!(env, r, "copy slot {slot} -> {} keeping read", slot + 10);
    let r = mint(
        &mut env,
        slot,
        slot + 11,
        Rights::WRITE.union(Rights::GRANT),
        42,
    );
    failures += step!(env, r, "mint slot {slot} -> {} with badge 42", slot + 11);
    let r = move_cap(&mut env, slot + 11, slot + 12);
    failures += step!(env, r, "move slot {} -> {}", slot + 11, slot + 12);
    let r = delete(&mut env, slot + 3);
    failures += step!(env, r, "delete slot {}", slot + 3);
    let r = revoke(&mut env, slot);
    failures += step!(env, r, "revoke slot {slot} (its copy and its badged child)");
    let gone = copy(&mut env, slot + 12, slot + 13, Rights::ALL);
    let expected = KernelError::FailedLookup { source: 1 };
    failures += u64::from(!expect_error(
        &mut env,
        "copy from the revoked child",
        gone,
        expected,
    ));

    // Every retype error a well-formed Untyped can produce. Too little
    // memory reports the free bytes (seL4's untypedFreeBytes): the
    // Untyped's size less its watermark (it has children).
    let next = slot + 20;
    let free = caps::UntypedMemory::of(capc_demo_user::cap_at(untyped))
        .map_or(0, |m| m.size.saturating_sub(m.watermark));
    let cases: [(&str, Result<(), Error>, KernelError); 8] = [
        (
            "retype into object type 99",
            retype_word(&mut env, untyped, 99, 0, next, 1),
            KernelError::InvalidArgument { index: 0 },
        ),
        (
            "retype a CNode of radix 0",
            retype(&mut env, untyped, ObjectType::CNode, 0, next, 1),
            KernelError::InvalidArgument { index: 1 },
        ),
        (
            "retype a 8 KiB frame",
            retype(&mut env, untyped, ObjectType::Frame, 13, next, 1),
            KernelError::RangeError { min: 12, max: 21 },
        ),
        (
            "retype 2^47 bytes of Untyped",
            retype(&mut env, untyped, ObjectType::Untyped, 47, next, 1),
            KernelError::NotEnoughMemory { left: free },
        ),
        (
            "retype into slot 4096 of 4096",
            retype(&mut env, untyped, ObjectType::Endpoint, 0, 4096, 1),
            KernelError::RangeError { min: 0, max: 4095 },
        ),
        (
            "retype 0 objects",
            retype(&mut env, untyped, ObjectType::Endpoint, 0, next, 0),
            KernelError::RangeError { min: 1, max: 256 },
        ),
        (
            "retype into the occupied slot 1",
            retype(&mut env, untyped, ObjectType::Endpoint, 0, 1, 1),
            KernelError::DeleteFirst,
        ),
        (
            "retype on a PML4 cap (it has no methods)",
            retype(&mut env, ROOT_VSPACE_SLOT, ObjectType::Endpoint, 0, next, 1),
            KernelError::IllegalOperation,
        ),
    ];
    for (what, result, expected) in cases {
        failures += u64::from(!expect_error(&mut env, what, result, expected));
    }
    // The device rule: the kernel hands out reserved physical memory as
    // device Untyped, which may become frames or Untyped but nothing else.
    let device = (first_untyped..first_untyped + untyped_count).find(|&slot| {
        let words = syscall(Syscall::DebugCapType, slot, 0, [0; 4]).words;
        UntypedCap::from_cap(Cap::from_words([words[0], words[1]])).is_some_and(|u| u.is_device())
    });
    match device {
        Some(device) => {
            let r = retype(&mut env, device, ObjectType::Tcb, 0, next, 1);
            failures += u64::from(!expect_error(
                &mut env,
                "retype a TCB from device memory",
                r,
                KernelError::InvalidArgument { index: 1 },
            ));
            let r = retype(&mut env, device, ObjectType::Frame, 12, next, 1);
            failures += step!(env, r, "retype a frame from device memory");
        }
        None => {
            let _ = writeln!(
                env,
                "root: no device Untyped to test the device rule with (WRONG)"
            );
            failures += 1;
        }
    }
    // A message too short for retype, and a destination that does not resolve.
    let short = MessageInfo {
        label: caps::UntypedCapLabel::Retype as u64,
        length: 2,
        caps: 1,
    };
    // Sent through the transport by hand: a generated client only sends
    // well-formed requests.
    let mut msg = [0; capc_demo_user::target::MESSAGE_WORDS];
    msg[0] = ObjectType::Endpoint as u64;
    let reply = caps::Transport::call(
        &mut env.cap(untyped),
        short,
        &mut msg,
        &[ROOT_CNODE_SLOT],
        &mut [0; capc_demo_user::target::CAPS_PER_MESSAGE],
    );
    let r = match KernelError::decode(reply.label, &msg[..reply.length]) {
        Some(error) => Err(Error::Invocation(InvocationError::Kernel(error))),
        None => Ok(()),
    };
    failures += u64::from(!expect_error(
        &mut env,
        "retype with a 2-word message",
        r,
        KernelError::TruncatedMessage,
    ));
    let r = caps::UntypedCapClient(env.cap(untyped))
        .retype(
            ObjectType::Endpoint as u64,
            0,
            capc_demo_user::ROOT_CNODE,
            7,
            12,
            next,
            1,
        )
        .map_err(capc_demo_user::Error::from);
    failures += u64::from(!expect_error(
        &mut env,
        "retype into a CNode that does not resolve",
        r,
        KernelError::FailedLookup { source: 0 },
    ));

    // A thread of the root's own, in the root's address space, paid from
    // its Untyped: TCB, stack page, IPC buffer page.
    let (tcb, stack, buffer) = (slot + 30, slot + 31, slot + 32);
    let child_stack = ROOT_STACK_TOP + 0x1000;
    let child_buffer = ROOT_STACK_TOP + 0x2000;
    let steps = [
        (
            "retype a TCB",
            retype(&mut env, untyped, ObjectType::Tcb, 0, tcb, 1),
        ),
        (
            "retype 2 frames",
            retype(&mut env, untyped, ObjectType::Frame, 12, stack, 2),
        ),
        (
            "map the stack frame",
            map_frame(&mut env, stack, child_stack),
        ),
        (
            "map the IPC buffer frame",
            map_frame(&mut env, buffer, child_buffer),
        ),
    ];
    for (what, result) in steps {
        let _ = writeln!(env, "root: {what}: {}", outcome(result));
        failures += u64::from(result.is_err());
    }
    let again = map_frame(&mut env, stack, child_stack + 0x4000);
    failures += u64::from(!expect_error(
        &mut env,
        "map a frame that is already mapped",
        again,
        KernelError::InvalidCapability { index: 0 },
    ));
    let r = retype(&mut env, untyped, ObjectType::PageTable, 0, slot + 33, 1).and_then(|()| {
        caps::PageTableCapClient(env.cap(slot + 33))
            .map(
                Slot::new(ROOT_VSPACE_SLOT),
                (ROOT_STACK_TOP & !((2 << 20) - 1)) + (2 << 20),
            )
            .map_err(capc_demo_user::Error::from)
    });
    failures += step!(env, r, "retype and map a page table for the next 2 MiB");
    // Deleting a mapped frame's cap unmaps it: another frame can then be
    // mapped at the same address (else the map would say DeleteFirst).
    let (first, second) = (slot + 34, slot + 35);
    let at = ROOT_STACK_TOP + 0x8000;
    let r = retype(&mut env, untyped, ObjectType::Frame, 12, first, 2)
        .and_then(|()| map_frame(&mut env, first, at))
        .and_then(|()| delete(&mut env, first))
        .and_then(|()| map_frame(&mut env, second, at));
    failures += step!(
        env,
        r,
        "map a frame, delete its cap, map another frame at the same address"
    );
    let r = start_thread(
        &mut env,
        tcb,
        buffer,
        child_buffer,
        child as *const () as u64,
        child_stack + 0x1000,
    );
    failures += step!(env, r, "configure, set registers of and resume the thread");

    for _ in 0..3 {
        yield_now();
    }
    let _ = writeln!(env, "root: still running after the thread's fault");

    failures += ipc(&mut env, slot + 40);
    failures += fault_handling(&mut env, slot + 51);
    failures += priorities(&mut env, slot + 74);
    failures += driver::run(&mut env, slot + 3000);
    failures += fuzz::run(&mut env, slot + 60);
    failures += spawn::run(&mut env, boot_image, slot + 80);
    failures += long_revoke(&mut env, untyped, slot + 3100);
    let _ = writeln!(env, "root: done; {failures} failures");
    failures
}

/// The endpoints [`long_revoke`] makes: a CNode's worth.
const LONG_REVOKE_RADIX: u64 = 12;

/// A revoke long enough to be preempted: an Untyped (in slot `base`) with
/// a CNode of 4096 slots (in `base + 1`) filled with endpoints, 256 per
/// retype, all revoked in one call. The kernel stops the revoke at a
/// preemption point whenever an interrupt (the 1 kHz timer) is pending and
/// restarts the call, so the root sees one call that succeeds; the
/// kernel's final report counts the restarts, and the transcript check
/// requires some. Returns the number of failures.
fn long_revoke(env: &mut Env, untyped: u64, base: u64) -> u64 {
    let count = 1 << LONG_REVOKE_RADIX;
    let mut failures = step!(
        env,
        fill_for_revoke(env, untyped, base),
        "a 1 MiB Untyped with a CNode of {count} slots and {count} endpoints in it"
    );
    let r = revoke(env, base);
    let found = syscall(Syscall::DebugCapType, base + 1, 0, [0; 4]).words;
    let gone = found[0] == 0 && found[1] == 0;
    failures += step!(
        env,
        r,
        "revoke it in one call ({} caps; the kernel may stop and restart it to let interrupts in): its CNode {}",
        count + 1,
        if gone {
            "is gone"
        } else {
            "is still there (WRONG)"
        }
    );
    failures + u64::from(!gone) + step!(env, delete(env, base), "delete the Untyped")
}

/// Makes what [`long_revoke`] revokes: a 1 MiB Untyped from `untyped` in
/// slot `base`, and from it a CNode of 4096 slots in `base + 1` filled with
/// endpoints, 256 per retype.
fn fill_for_revoke(env: &mut Env, untyped: u64, base: u64) -> Result<(), Error> {
    let (memory, cnode) = (base, base + 1);
    retype(env, untyped, ObjectType::Untyped, 20, memory, 1)?;
    retype(env, memory, ObjectType::CNode, LONG_REVOKE_RADIX, cnode, 1)?;
    (0..(1 << LONG_REVOKE_RADIX) / 256).try_for_each(|batch| {
        caps::UntypedCapClient(env.cap(memory))
            .retype(
                ObjectType::Endpoint as u64,
                0,
                capc_demo_user::ROOT_CNODE,
                cnode,
                DEPTH,
                batch * 256,
                256,
            )
            .map_err(capc_demo_user::Error::from)
    })
}

/// The endpoint the server thread receives on, and the slot it receives a
/// cap into (the two threads share the root's address space and CSpace).
static SERVER_ENDPOINT: AtomicU64 = AtomicU64::new(0);
static SERVER_RECEIVE_SLOT: AtomicU64 = AtomicU64::new(0);

/// Labels of the server's protocol.
const SUM: u64 = 1;
const STOP: u64 = 2;

/// IPC: makes an endpoint, a notification and a server thread (from slot
/// `base` on), calls the server with five words and a notification cap
/// granted along, waits for the server's signal, then stops it. Returns
/// the number of failures.
fn ipc(env: &mut Env, base: u64) -> u64 {
    let untyped = UNTYPED.load(Ordering::Relaxed);
    let (endpoint, notification, client, badged_notification) =
        (base, base + 1, base + 2, base + 3);
    let (tcb, stack, buffer, receive) = (base + 4, base + 5, base + 6, base + 8);
    let stack_at = ROOT_STACK_TOP + 0x3000;
    let buffer_at = ROOT_STACK_TOP + 0x4000;
    SERVER_ENDPOINT.store(endpoint, Ordering::Relaxed);
    SERVER_RECEIVE_SLOT.store(receive, Ordering::Relaxed);
    let mut failures = 0;
    let steps = [
        (
            "retype an endpoint",
            retype(env, untyped, ObjectType::Endpoint, 0, endpoint, 1),
        ),
        (
            "retype a notification",
            retype(env, untyped, ObjectType::Notification, 0, notification, 1),
        ),
        (
            "mint the client's endpoint cap (write, grant, badge 0x77)",
            mint(
                env,
                endpoint,
                client,
                Rights::WRITE.union(Rights::GRANT),
                0x77,
            ),
        ),
        (
            "mint a notification cap to send (write, badge 0b100)",
            mint(env, notification, badged_notification, Rights::WRITE, 0b100),
        ),
        (
            "retype the server's TCB",
            retype(env, untyped, ObjectType::Tcb, 0, tcb, 1),
        ),
        (
            "retype its stack and IPC buffer frames",
            retype(env, untyped, ObjectType::Frame, 12, stack, 2),
        ),
        ("map its stack", map_frame(env, stack, stack_at)),
        ("map its IPC buffer", map_frame(env, buffer, buffer_at)),
    ];
    for (what, result) in steps {
        let _ = writeln!(env, "root: {what}: {}", outcome(result));
        failures += u64::from(result.is_err());
    }
    let r = start_thread(
        env,
        tcb,
        buffer,
        buffer_at,
        server as *const () as u64,
        stack_at + 0x1000,
    );
    failures += step!(env, r, "start the server thread");

    let request = MessageInfo {
        label: SUM,
        length: 5,
        caps: 1,
    };
    match env.call_endpoint(client, request, &[1, 2, 3, 4, 5], &[badged_notification]) {
        Ok(reply) if reply.info.label == 0 && reply.words[0] == 15 => {
            let _ = writeln!(
                env,
                "root: call to the server: ok, reply {} (1 + 2 + 3 + 4 + 5)",
                reply.words[0]
            );
        }
        other => {
            let _ = writeln!(env, "root: call to the server: {other:?} (WRONG)");
            failures += 1;
        }
    }
    match env.wait(notification) {
        Ok(0b100) => {
            let _ = writeln!(
                env,
                "root: the server signalled the notification it was granted: bits 0b100"
            );
        }
        other => {
            let _ = writeln!(env, "root: wait on the notification: {other:?} (WRONG)");
            failures += 1;
        }
    }
    let stop = MessageInfo {
        label: STOP,
        length: 0,
        caps: 0,
    };
    let r = env.call_endpoint(client, stop, &[], &[]).map(drop);
    failures += step!(env, r, "stop the server");

    // Finalisation: a thread waits on an endpoint whose last cap the root
    // then deletes; the kernel ends its wait with an error (seL4's
    // cancelAllIPC) rather than leave it waiting on an object that no
    // longer exists.
    let (waiting_on, waiter) = (base + 9, base + 10);
    WAITER_ENDPOINT.store(waiting_on, Ordering::Relaxed);
    let r = retype(env, untyped, ObjectType::Endpoint, 0, waiting_on, 1)
        .and_then(|()| retype(env, untyped, ObjectType::Tcb, 0, waiter, 1))
        .and_then(|()| {
            start_thread(
                env,
                waiter,
                buffer,
                buffer_at,
                wait_forever as *const () as u64,
                stack_at + 0x1000,
            )
        });
    for _ in 0..3 {
        yield_now();
    }
    // Said before the delete: the waiter may run (and say it was woken)
    // before the root's step line, if the root's time slice ends between.
    let _ = writeln!(
        env,
        "root: deleting the last cap to the endpoint the waiter waits on"
    );
    let r = r.and_then(|()| delete(env, waiting_on));
    failures += step!(
        env,
        r,
        "delete the last cap to the endpoint a thread waits on"
    );
    failures
}

/// The endpoint `wait_forever` receives on.
static WAITER_ENDPOINT: AtomicU64 = AtomicU64::new(0);

/// Waits on an endpoint nobody sends to (reusing the stopped server's
/// stack and IPC buffer).
extern "C" fn wait_forever(buffer: u64) -> ! {
    // SAFETY: the root mapped this IPC buffer, and the server that used it
    // has exited.
    let mut env = unsafe { Env::new(buffer) };
    let _ = writeln!(env, "waiter: waiting on an endpoint nobody sends to");
    match env.recv(WAITER_ENDPOINT.load(Ordering::Relaxed)) {
        Err(error) => {
            let _ = writeln!(env, "waiter: the endpoint was deleted: {error:?}");
            capc_demo_user::exit(0)
        }
        Ok(_) => {
            let _ = writeln!(env, "waiter: received something (WRONG)");
            capc_demo_user::exit(1)
        }
    }
}

/// Where the faulting thread of [`fault_handling`] reads: a page nothing
/// maps until its fault handler does.
const FAULT_PAGE: u64 = ROOT_STACK_TOP + 0x1_6000;
/// What the handler writes into the page before it maps it there.
const FAULT_PAGE_VALUE: u64 = 0xfeed_f00d;

/// Fault handling (seL4's fault IPC): a thread of the root's whose fault
/// handler is an endpoint the root receives on (badge 0x66, write and
/// grant-reply) reads [`FAULT_PAGE`], which nothing maps. The kernel sends
/// the fault to the root as a call: label `VmFault`, the faulting
/// instruction and address. The root writes a value into a fresh frame,
/// maps it there and replies; the thread goes on from the faulting read,
/// which now reads the value, and exits. Uses slots `base..base + 6`.
/// Returns the number of failures.
fn fault_handling(env: &mut Env, base: u64) -> u64 {
    let untyped = UNTYPED.load(Ordering::Relaxed);
    let (endpoint, handler, tcb, page) = (base, base + 1, base + 2, base + 5);
    let r = retype(env, untyped, ObjectType::Endpoint, 0, endpoint, 1)
        .and_then(|()| {
            mint(
                env,
                endpoint,
                handler,
                Rights::WRITE.union(Rights::GRANT_REPLY),
                0x66,
            )
        })
        .and_then(|()| retype(env, untyped, ObjectType::Frame, 12, page, 1))
        .and_then(|()| {
            own_thread(env, tcb, 0x1_4000, faulter, |env| {
                caps::TcbCapClient(env.cap(tcb))
                    .set_fault_handler(Slot::new(handler))
                    .map_err(capc_demo_user::Error::from)
            })
        });
    let mut failures = step!(
        env,
        r,
        "start a thread whose fault handler is the root's endpoint"
    );
    if r.is_err() {
        return failures;
    }
    // The thread runs when the root waits: its fault arrives as a call.
    let fault = match env.recv(endpoint) {
        Ok(m) => m,
        Err(error) => {
            let _ = writeln!(env, "root: fault handler: receive failed: {error} (WRONG)");
            return failures + 1;
        }
    };
    let [ip, address, fetch, code] = [
        fault.words[0],
        fault.words[1],
        fault.words[2],
        fault.words[3],
    ];
    // The read is near the start of the thread's function.
    let entry = faulter as *const () as u64;
    let expected = fault.info.label == FaultLabel::VmFault as u64
        && fault.info.length == 4
        && fault.badge == 0x66
        && address == FAULT_PAGE
        && fetch == 0
        && (entry..entry + 4096).contains(&ip);
    let _ = writeln!(
        env,
        "root: fault handler: a {} at {address:#x} (a {} access, error code {code:#x}) came as a message with badge {:#x}{}",
        if fault.info.label == FaultLabel::VmFault as u64 {
            "page fault"
        } else {
            "fault"
        },
        if fetch == 1 { "fetch" } else { "data" },
        fault.badge,
        if expected { "" } else { " (WRONG)" }
    );
    failures += u64::from(!expected);
    // The frame gets the value first, through a mapping of the root's own
    // (the two threads share the address space), then goes where the
    // thread faulted.
    let r = map_frame(env, page, FAULT_PAGE).and_then(|()| {
        // SAFETY: the frame was just mapped there, read-write, and only
        // the faulting thread, stopped until the reply, reads it.
        unsafe { core::ptr::write_volatile(FAULT_PAGE as *mut u64, FAULT_PAGE_VALUE) };
        env.reply(
            MessageInfo {
                label: 0,
                length: 0,
                caps: 0,
            },
            &[],
        )
    });
    failures += step!(
        env,
        r,
        "fault handler: map a frame at the faulting page and reply"
    );
    for _ in 0..3 {
        yield_now();
    }
    failures
}

/// The thread whose fault [`fault_handling`] handles: reads a page nothing
/// maps, and reports what the read returned once its handler has mapped it.
extern "C" fn faulter(buffer: u64) -> ! {
    // SAFETY: the root mapped this thread's own IPC buffer at `buffer`.
    let mut env = unsafe { Env::new(buffer) };
    // SAFETY: nothing maps the page yet, on purpose: the read faults, and
    // the thread's fault handler maps a frame holding a u64 there.
    let value = unsafe { core::ptr::read_volatile(FAULT_PAGE as *const u64) };
    let right = value == FAULT_PAGE_VALUE;
    let _ = writeln!(
        env,
        "faulter: read {value:#x} at {FAULT_PAGE:#x} after its fault handler mapped the page{}",
        if right { "" } else { " (WRONG)" }
    );
    capc_demo_user::exit(u64::from(!right))
}

/// The next ticket the threads of [`priorities`] take, and the tickets
/// thread A (priority 10) and thread B (priority 20) took.
static TICKET: AtomicU64 = AtomicU64::new(1);
static TICKETS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// Sets the priority of the thread `tcb` to `priority`, on the authority of
/// the root's own TCB (its MCP is 255).
fn set_priority(env: &mut Env, tcb: u64, priority: u64) -> Result<(), Error> {
    caps::TcbCapClient(env.cap(tcb))
        .set_priority(priority, Slot::new(ROOT_TCB_SLOT))
        .map_err(capc_demo_user::Error::from)
}

/// Priorities (seL4's fixed-priority scheduling): the root raises itself
/// to 30, starts thread A at priority 10 and thread B at 20 (neither runs
/// yet: the root is higher), then drops back to 0. B runs to its end
/// before A starts, and both before the root goes on: their tickets are 1
/// and 2 and the root takes 3. A priority above the authority's maximum
/// controlled priority is refused: a thread given MCP 5 cannot raise
/// another above 5. Uses slots `base..base + 6`; returns the failures.
fn priorities(env: &mut Env, base: u64) -> u64 {
    let threads = [(base, 10, 0x1_7000), (base + 3, 20, 0x1_9000)];
    let mut r = set_priority(env, ROOT_TCB_SLOT, 30);
    for (index, &(tcb, priority, at)) in threads.iter().enumerate() {
        let entry = if index == 0 { ticket_a } else { ticket_b };
        r = r
            .and_then(|()| own_thread(env, tcb, at, entry, |env| set_priority(env, tcb, priority)));
    }
    let mut failures = step!(
        env,
        r,
        "at priority 30, start thread A at priority 10 and thread B at 20"
    );
    // Nothing of theirs ran yet; dropping to 0 lets them, B first.
    let before = TICKET.load(Ordering::SeqCst);
    let r = set_priority(env, ROOT_TCB_SLOT, 0);
    failures += step!(env, r, "drop the root to priority 0");
    let root = TICKET.fetch_add(1, Ordering::SeqCst);
    let [a, b] = [0, 1].map(|i| TICKETS[i].load(Ordering::SeqCst));
    let right = (before, b, a, root) == (1, 1, 2, 3);
    let _ = writeln!(
        env,
        "root: priorities: thread B (20) took ticket {b}, thread A (10) ticket {a}, the root (0) ticket {root}{}",
        if right { "" } else { " (WRONG)" }
    );
    failures += u64::from(!right);
    // MCP: thread B may be given MCP 5 by the root, then B's TCB as the
    // authority cannot give A more than 5.
    let r = caps::TcbCapClient(env.cap(threads[1].0))
        .set_mc_priority(5, Slot::new(ROOT_TCB_SLOT))
        .map_err(capc_demo_user::Error::from);
    failures += step!(env, r, "give thread B an MCP of 5");
    let r = caps::TcbCapClient(env.cap(threads[0].0))
        .set_priority(6, Slot::new(threads[1].0))
        .map_err(capc_demo_user::Error::from);
    failures += u64::from(!expect_error(
        env,
        "set priority 6 on the authority of a thread with MCP 5",
        r,
        KernelError::RangeError { min: 0, max: 5 },
    ));
    failures
}

/// Thread A of [`priorities`]: takes a ticket and exits.
extern "C" fn ticket_a(_buffer: u64) -> ! {
    TICKETS[0].store(TICKET.fetch_add(1, Ordering::SeqCst), Ordering::SeqCst);
    capc_demo_user::exit(0)
}

/// Thread B of [`priorities`]: takes a ticket and exits.
extern "C" fn ticket_b(_buffer: u64) -> ! {
    TICKETS[1].store(TICKET.fetch_add(1, Ordering::SeqCst), Ordering::SeqCst);
    capc_demo_user::exit(0)
}

/// A thread of the root's, in its CSpace and address space, paid from its
/// Untyped: a TCB in slot `tcb`, its stack and IPC buffer frames in the
/// next two slots, mapped at `ROOT_STACK_TOP + at` and the page above;
/// `setup` runs before the thread starts at `entry` with its buffer's
/// address.
fn own_thread(
    env: &mut Env,
    tcb: u64,
    at: u64,
    entry: extern "C" fn(u64) -> !,
    setup: impl FnOnce(&mut Env) -> Result<(), Error>,
) -> Result<(), Error> {
    let untyped = UNTYPED.load(Ordering::Relaxed);
    let (stack, buffer) = (tcb + 1, tcb + 2);
    let (stack_at, buffer_at) = (ROOT_STACK_TOP + at, ROOT_STACK_TOP + at + 0x1000);
    retype(env, untyped, ObjectType::Tcb, 0, tcb, 1)?;
    retype(env, untyped, ObjectType::Frame, 12, stack, 2)?;
    map_frame(env, stack, stack_at)?;
    map_frame(env, buffer, buffer_at)?;
    setup(env)?;
    start_thread(
        env,
        tcb,
        buffer,
        buffer_at,
        entry as *const () as u64,
        stack_at + 0x1000,
    )
}

/// Configures the thread `tcb` in the root's CSpace and address space with
/// the IPC buffer frame `buffer` mapped at `buffer_at`, sets its registers
/// and resumes it.
fn start_thread(
    env: &mut Env,
    tcb: u64,
    buffer: u64,
    buffer_at: u64,
    entry: u64,
    stack_top: u64,
) -> Result<(), Error> {
    caps::TcbCapClient(env.cap(tcb)).configure(
        capc_demo_user::ROOT_CNODE,
        Slot::new(ROOT_VSPACE_SLOT),
        Slot::new(buffer),
        buffer_at,
    )?;
    caps::TcbCapClient(env.cap(tcb)).write_registers(entry, stack_top, buffer_at)?;
    caps::TcbCapClient(env.cap(tcb))
        .resume()
        .map_err(capc_demo_user::Error::from)
}

/// The server thread: answers `SUM` calls with the sum of their words,
/// signals any notification cap granted to it, and exits on `STOP`.
extern "C" fn server(buffer: u64) -> ! {
    // SAFETY: the root mapped this thread's own IPC buffer at `buffer`.
    let mut env = unsafe { Env::new(buffer) };
    let endpoint = SERVER_ENDPOINT.load(Ordering::Relaxed);
    let receive = SERVER_RECEIVE_SLOT.load(Ordering::Relaxed);
    env.receive_caps_into(&[receive], 64);
    let mut message = env.recv(endpoint);
    loop {
        let m = match message {
            Ok(m) => m,
            Err(error) => {
                let _ = writeln!(env, "server: receive failed: {error}");
                capc_demo_user::exit(1);
            }
        };
        match m.info.label {
            SUM => {
                let words = &m.words[..m.info.length];
                let _ = writeln!(
                    env,
                    "server: call with badge {:#x}, {} words and {} cap",
                    m.badge,
                    words.len(),
                    m.info.caps
                );
                if m.info.caps == 1 && env.signal(receive).is_err() {
                    let _ = writeln!(env, "server: signalling the granted notification failed");
                }
                let sum = words.iter().sum::<u64>();
                let reply = MessageInfo {
                    label: 0,
                    length: 1,
                    caps: 0,
                };
                message = env.reply_recv(endpoint, reply, &[sum]);
            }
            STOP => {
                let _ = env.reply(
                    MessageInfo {
                        label: 0,
                        length: 0,
                        caps: 0,
                    },
                    &[],
                );
                let _ = writeln!(env, "server: stopping");
                capc_demo_user::exit(0);
            }
            label => {
                let _ = writeln!(env, "server: unknown label {label}");
                let reply = MessageInfo {
                    label: 1,
                    length: 0,
                    caps: 0,
                };
                message = env.reply_recv(endpoint, reply, &[]);
            }
        }
    }
}

/// The root's second thread: says hello, then reads the kernel's image,
/// which is mapped supervisor-only, and is stopped by the kernel.
extern "C" fn child(buffer: u64) -> ! {
    // SAFETY: the root mapped this thread's own IPC buffer at `buffer`.
    let mut env = unsafe { Env::new(buffer) };
    let _ = writeln!(env, "child: running; reading kernel memory at 0x100000");
    // SAFETY: not safe at all, on purpose: the page is the kernel's, so
    // the read faults and the kernel stops this thread.
    let value = unsafe { core::ptr::read_volatile(0x10_0000 as *const u64) };
    let _ = writeln!(
        env,
        "child: read {value:#x} from kernel memory (the kernel failed to stop me)"
    );
    capc_demo_user::exit(1)
}

/// The benchmarks `cargo xtask bench-kernel` runs under QEMU's `-icount
/// shift=0`, where `rdtsc` counts guest instructions: every number is the
/// same on every run. Each is measured [`bench::RUNS`] times; the minimum
/// and the median are printed.
mod bench {
    use core::fmt::Write;
    use core::sync::atomic::{AtomicU64, Ordering};

    use capc_demo_user::abi::{ROOT_STACK_TOP, ROOT_VSPACE_SLOT, Syscall};
    use capc_demo_user::caps::{self, ObjectType};
    use capc_demo_user::{Env, Error, null_syscall, rdtsc, syscall};

    use super::driver::{COM2, COM2_IRQ, IER, LCR, MCR, ack, out8};

    /// Measurements per benchmark.
    pub const RUNS: usize = 101;

    /// A benchmark's minimum and median.
    type MinMedian = (u64, u64);

    /// The endpoint the echo thread serves.
    static ECHO_ENDPOINT: AtomicU64 = AtomicU64::new(0);

    /// Instructions `f` takes, minimum and median over [`RUNS`] runs (`f`
    /// gets the run's number).
    fn measure(mut f: impl FnMut(u64)) -> (u64, u64) {
        let mut samples = [0u64; RUNS];
        for (run, sample) in samples.iter_mut().enumerate() {
            let start = rdtsc();
            f(run as u64);
            *sample = rdtsc() - start;
        }
        samples.sort_unstable();
        (samples[0], samples[RUNS / 2])
    }

    fn report(env: &mut Env, name: &str, (min, median): (u64, u64), what: &str) {
        let _ = writeln!(
            env,
            "bench: {name} min {min} median {median} instructions ({what})"
        );
    }

    pub fn run(env: &mut Env, untyped: u64, first_free: u64) -> u64 {
        let _ = writeln!(
            env,
            "bench: {RUNS} runs each; rdtsc counts guest instructions under -icount shift=0"
        );
        let empty = measure(|_| {});
        report(
            env,
            "rdtsc-pair",
            empty,
            "two rdtsc, the floor of every number below",
        );

        report(
            env,
            "null-syscall",
            measure(|_| {
                null_syscall();
            }),
            "syscall with an unknown number: kernel entry, dispatch and sysret",
        );

        report(
            env,
            "cap-lookup",
            measure(|_| {
                syscall(Syscall::Call, ROOT_VSPACE_SLOT, 0, [0; 4]);
            }),
            "Call on a PML4 cap: entry, 64-bit CSpace lookup, decode, error reply",
        );

        // A thread that answers every call at once.
        let base = first_free;
        let (endpoint, tcb, stack, buffer) = (base, base + 1, base + 2, base + 3);
        ECHO_ENDPOINT.store(endpoint, Ordering::Relaxed);
        let stack_at = ROOT_STACK_TOP + 0x1000;
        let buffer_at = ROOT_STACK_TOP + 0x2000;
        let ready = super::retype(env, untyped, ObjectType::Endpoint, 0, endpoint, 1)
            .and_then(|()| super::retype(env, untyped, ObjectType::Tcb, 0, tcb, 1))
            .and_then(|()| super::retype(env, untyped, ObjectType::Frame, 12, stack, 2))
            .and_then(|()| super::map_frame(env, stack, stack_at))
            .and_then(|()| super::map_frame(env, buffer, buffer_at))
            .and_then(|()| {
                super::start_thread(
                    env,
                    tcb,
                    buffer,
                    buffer_at,
                    echo as *const () as u64,
                    stack_at + 0x1000,
                )
            });
        if let Err(error) = ready {
            let _ = writeln!(env, "bench: setting up the echo thread failed: {error}");
            return 1;
        }
        // Let the echo thread reach its first receive.
        capc_demo_user::yield_now();
        report(
            env,
            "ipc-call-reply",
            measure(|_| {
                syscall(Syscall::Call, endpoint, 0, [0; 4]);
            }),
            "0-length Call to a thread waiting in ReplyRecv, and its reply: two context switches",
        );
        // A 4-word message: the words travel in registers.
        let four = capc_demo_user::abi::pack_info(caps::MessageInfo {
            label: 0,
            length: 4,
            caps: 0,
        })
        .unwrap_or(0);
        report(
            env,
            "ipc-call-reply-4-words",
            measure(|run| {
                syscall(Syscall::Call, endpoint, four, [run, 2, 3, 4]);
            }),
            "as ipc-call-reply with 4 message words in registers each way",
        );
        // The same round trip with the server in an address space and a
        // CSpace of its own: a CR3 switch each way.
        // Slots past those the frame retypes below fill.
        match far_echo_thread(env, untyped, base + 20 + RUNS as u64 + 10) {
            Ok(far) => report(
                env,
                "ipc-call-reply-cross-as",
                measure(|_| {
                    syscall(Syscall::Call, far, 0, [0; 4]);
                }),
                "as ipc-call-reply, the server in another address space and CSpace: two context switches, two CR3 loads",
            ),
            Err(error) => {
                let _ = writeln!(env, "bench: setting up the far echo thread failed: {error}");
                return 1;
            }
        }
        // A notification the root signals (through a cap with badge 1: the
        // bits a signal sets) and then takes.
        let (notification, badged) = (base + 4, base + 5);
        let made = super::retype(env, untyped, ObjectType::Notification, 0, notification, 1)
            .and_then(|()| super::mint(env, notification, badged, caps::Rights::ALL, 1));
        if made.is_ok() {
            report(
                env,
                "signal-wait",
                measure(|_| {
                    syscall(Syscall::Send, badged, 0, [0; 4]);
                    syscall(Syscall::Recv, notification, 0, [0; 4]);
                }),
                "Send on a notification, then Recv of the bits it holds: two system calls, no switch",
            );
        }

        let first = base + 10;
        let frame = measure(|run| {
            let _ = caps::UntypedCapClient(env.cap(super::UNTYPED.load(Ordering::Relaxed)))
                .retype(
                    ObjectType::Frame as u64,
                    12,
                    capc_demo_user::ROOT_CNODE,
                    0,
                    0,
                    first + run,
                    1,
                )
                .map_err(capc_demo_user::Error::from);
        });
        report(
            env,
            "frame-retype",
            frame,
            "retype one 4 KiB frame through the generated stub: checks, placement, zeroing 4 KiB",
        );
        // COM2's interrupt to its driver: the THR-empty interrupt, raised
        // by enabling it, to a driver thread of a higher priority waiting
        // on the notification the line signals.
        match irq_to_driver(env, untyped, at_irq(base)) {
            Ok((out8, delivered)) => {
                report(
                    env,
                    "out8",
                    out8,
                    "an IoPort cap's out8 to COM2's scratch register: the invocation the next one makes",
                );
                report(
                    env,
                    "irq-to-driver",
                    delivered,
                    "out8 that makes COM2 raise IRQ 3, to its driver running after its wait: the out8, the interrupt, delivery to the notification, a switch",
                );
            }
            Err(error) => {
                let _ = writeln!(env, "bench: setting up the COM2 driver failed: {error}");
                return 1;
            }
        }
        // A revoke of 4,097 caps, which the kernel stops at a preemption
        // point whenever the 1 kHz timer is pending and restarts: the whole
        // call, restarts included, a few times (each is long). The kernel's
        // final report gives the longest stretch without a preemption point.
        let at = base + 20 + RUNS as u64 + 40;
        let mut samples = [0u64; 5];
        for sample in &mut samples {
            if let Err(error) = super::fill_for_revoke(env, untyped, at) {
                let _ = writeln!(env, "bench: setting up the revoke failed: {error}");
                return 1;
            }
            let start = rdtsc();
            let _ = super::revoke(env, at);
            *sample = rdtsc() - start;
            let _ = super::delete(env, at);
        }
        samples.sort_unstable();
        report(
            env,
            "revoke-4097",
            (samples[0], samples[samples.len() / 2]),
            "revoke of an Untyped's 4097 children (a CNode full of endpoints) in one call, restarts at preemption points included",
        );
        let _ = writeln!(env, "bench: done");
        0
    }

    /// The first of the slots [`irq_to_driver`] uses, past the others.
    fn at_irq(base: u64) -> u64 {
        base + 20 + RUNS as u64 + 60
    }

    /// COM2's scratch register, which an `out8` may write to no effect.
    const SCR: u16 = 7;

    /// The driver's IoPort cap, IrqHandler cap and notification, and when
    /// its wait last returned (the time-stamp counter).
    static IRQ_SLOTS: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];
    static IRQ_SEEN: AtomicU64 = AtomicU64::new(0);

    /// Sets COM2's line up for a driver thread at priority 10 (from slot
    /// `base` on, 8 slots) and measures, [`RUNS`] times each: an out8 that
    /// raises nothing, and an out8 that enables the THR-empty interrupt
    /// until the driver's wait returns (the driver turns it off and
    /// acknowledges the line before it waits again).
    fn irq_to_driver(
        env: &mut Env,
        untyped: u64,
        base: u64,
    ) -> Result<(MinMedian, MinMedian), Error> {
        let (ports, irq, wait_on, bound, tcb) = (base, base + 1, base + 2, base + 3, base + 4);
        super::driver::issue(env, COM2, COM2 + 7, ports)?;
        super::driver::get(env, COM2_IRQ, irq)?;
        super::retype(env, untyped, ObjectType::Notification, 0, wait_on, 1)?;
        super::mint(env, wait_on, bound, caps::Rights::WRITE, 1)?;
        caps::IrqHandlerCapClient(env.cap(irq)).set_notification(caps::Slot::new(bound))?;
        // 8 data bits, the interrupt line on (OUT2), no interrupt enabled.
        out8(env, ports, LCR, 0x03)?;
        out8(env, ports, MCR, 0x08)?;
        out8(env, ports, IER, 0)?;
        ack(env, irq)?;
        for (slot, value) in IRQ_SLOTS.iter().zip([ports, irq, wait_on]) {
            slot.store(value, Ordering::Relaxed);
        }
        // Of a higher priority than the root: it runs, and waits, at once.
        // Its stack is two pages (an invocation's message arrays take more
        // than one): `own_thread` maps the upper, this the lower.
        let (lower, at) = (base + 7, 0x3_0000);
        super::own_thread(env, tcb, at, irq_driver, |env| {
            super::retype(env, untyped, ObjectType::Frame, 12, lower, 1)?;
            super::map_frame(env, lower, ROOT_STACK_TOP + at - 0x1000)?;
            super::set_priority(env, tcb, 10)
        })?;
        let scratch = measure(|_| {
            let _ = out8(env, ports, SCR, 0);
        });

        let mut samples = [0u64; RUNS];
        for sample in &mut samples {
            IRQ_SEEN.store(0, Ordering::Relaxed);
            let start = rdtsc();
            out8(env, ports, IER, 0x02)?;
            *sample = IRQ_SEEN.load(Ordering::Acquire).wrapping_sub(start);
        }
        samples.sort_unstable();
        // Suspended, it no longer waits for an interrupt: the kernel may
        // end the run when nothing else can run.
        caps::TcbCapClient(env.cap(tcb)).suspend()?;
        Ok((scratch, (samples[0], samples[RUNS / 2])))
    }

    /// The driver of [`irq_to_driver`]: waits for COM2's interrupt, notes
    /// when, turns it off and acknowledges the line, forever.
    extern "C" fn irq_driver(buffer: u64) -> ! {
        // SAFETY: the root mapped this thread's own IPC buffer at `buffer`.
        let mut env = unsafe { Env::new(buffer) };
        let [ports, irq, wait_on] = [0, 1, 2].map(|i| IRQ_SLOTS[i].load(Ordering::Relaxed));
        loop {
            if env.wait(wait_on).is_err() {
                capc_demo_user::exit(1);
            }
            IRQ_SEEN.store(rdtsc(), Ordering::Release);
            let _ = out8(&mut env, ports, IER, 0);
            let _ = ack(&mut env, irq);
        }
    }

    /// Sets up [`far_echo`] in an address space of its own (a PML4
    /// numbered from the root's pool, the tables down to the page of its
    /// code, and a copy of the cap of that code frame, read only) and a
    /// CSpace of its own (a 4-slot CNode whose slot 1 holds its endpoint),
    /// from slots `base..base + 12`, and starts it. The endpoint's slot in
    /// the root's CSpace.
    fn far_echo_thread(
        env: &mut Env,
        untyped: u64,
        base: u64,
    ) -> Result<u64, capc_demo_user::Error> {
        use capc_demo_user::abi::{ROOT_ASID_POOL_SLOT, ROOT_IPC_BUFFER};
        use capc_demo_user::caps::{FrameCap, Rights};
        let [
            endpoint,
            pml4,
            pdpt,
            pd,
            pt,
            code,
            cnode,
            guarded,
            tcb,
            buffer,
        ] = core::array::from_fn(|i| base + i as u64);
        let entry = far_echo as *const () as u64;
        let page = entry & !0xfff;
        // The code must not cross into the next page (it is a few bytes).
        let missing = capc_demo_user::Error::Syscall(capc_demo_user::SyscallStatus::InvalidCap);
        if (entry + 64) & !0xfff != page {
            return Err(missing);
        }
        let code_frame = (capc_demo_user::abi::ROOT_FIRST_BOOT_OBJECT_SLOT..base)
            .find(|&s| {
                FrameCap::from_cap(capc_demo_user::cap_at(s))
                    .is_some_and(|f| f.mapped_page() == page >> 12 && f.bits() == 12)
            })
            .ok_or(missing)?;
        super::retype(env, untyped, ObjectType::Endpoint, 0, endpoint, 1)?;
        super::retype(env, untyped, ObjectType::Pml4, 0, pml4, 1)?;
        caps::AsidPoolCapClient(env.cap(ROOT_ASID_POOL_SLOT)).assign(caps::Slot::new(pml4))?;
        for (slot, object, bits) in [
            (pdpt, ObjectType::Pdpt, 39),
            (pd, ObjectType::PageDirectory, 30),
            (pt, ObjectType::PageTable, 21),
        ] {
            super::retype(env, untyped, object, 0, slot, 1)?;
            capc_demo_user::map_table(
                env,
                slot,
                object,
                caps::Slot::new(pml4),
                page & !((1u64 << bits) - 1),
            )?;
        }
        super::copy(env, code_frame, code, Rights::READ)?;
        caps::FrameCapClient(env.cap(code)).map(
            caps::Slot::new(pml4),
            page,
            Rights::READ.bits(),
        )?;
        super::retype(env, untyped, ObjectType::CNode, 2, cnode, 1)?;
        // Addresses 64 bits deep: a guard of 62 zero bits, then 2 of slot.
        super::mint(env, cnode, guarded, Rights::ALL, 62)?;
        caps::CNodeCapClient(env.cap(cnode)).copy(
            1,
            2,
            capc_demo_user::ROOT_CNODE,
            endpoint,
            64,
            Rights::ALL.bits(),
        )?;
        super::retype(env, untyped, ObjectType::Tcb, 0, tcb, 1)?;
        // An IPC buffer frame, never mapped: the thread's messages are all
        // in registers.
        super::retype(env, untyped, ObjectType::Frame, 12, buffer, 1)?;
        caps::TcbCapClient(env.cap(tcb)).configure(
            caps::Slot::new(guarded),
            caps::Slot::new(pml4),
            caps::Slot::new(buffer),
            ROOT_IPC_BUFFER,
        )?;
        caps::TcbCapClient(env.cap(tcb)).write_registers(entry, 0, 1)?;
        caps::TcbCapClient(env.cap(tcb)).resume()?;
        // Let it reach its first receive.
        capc_demo_user::yield_now();
        Ok(endpoint)
    }

    /// The far echo server: receives on the endpoint whose address is its
    /// argument, then answers every call with the message it got, forever.
    /// Registers only (no stack, no data): it runs in an address space
    /// that maps nothing but the page of this code.
    #[unsafe(naked)]
    extern "C" fn far_echo(_endpoint: u64) -> ! {
        core::arch::naked_asm!(
            // r12 outlives system calls; rdi comes back as the badge.
            "mov r12, rdi",
            "mov eax, {recv}",
            "syscall",
            "2:",
            "mov rdi, r12",
            "mov eax, {reply_recv}",
            "syscall",
            "jmp 2b",
            recv = const Syscall::Recv.word(),
            reply_recv = const Syscall::ReplyRecv.word(),
        )
    }

    /// Answers every call with the message it got, forever.
    extern "C" fn echo(_buffer: u64) -> ! {
        let endpoint = ECHO_ENDPOINT.load(Ordering::Relaxed);
        let mut message = syscall(Syscall::Recv, endpoint, 0, [0; 4]);
        loop {
            // The reply is the request, header and register words.
            message = syscall(Syscall::ReplyRecv, endpoint, message.info, message.words);
        }
    }
}

/// The fuzzer: a thread in a CSpace of its own (a 256-slot CNode holding a
/// 1 MiB Untyped, its own CNode cap and a notification cap) that makes
/// [`fuzz::INVOCATIONS`] random invocations with random capability
/// addresses, labels, lengths, words and extra caps. Every call must come
/// back with a result; afterwards the root asks the kernel to audit its
/// CSpace (which holds the fuzzer's CNode), so the fuzzer's caps are
/// checked too.
mod fuzz {
    use core::fmt::Write;
    use core::sync::atomic::{AtomicU64, Ordering};

    use capc_demo_user::abi::{
        ROOT_ASID_POOL_SLOT, ROOT_IO_PORT_CONTROL_SLOT, ROOT_IRQ_CONTROL_SLOT, ROOT_STACK_TOP,
        Syscall, SyscallStatus,
    };
    use capc_demo_user::caps::{self, CapType, KernelError, ObjectType, Rights};
    use capc_demo_user::{Env, IpcBuffer, abi, syscall, yield_now};

    /// Invocations the fuzzer makes.
    pub const INVOCATIONS: u64 = 10_000;
    /// The interrupt line and the I/O port of the driver caps the fuzzer
    /// gets (no device uses line 5 in QEMU's PC; port 0x80 takes POST codes),
    /// and the slots they go to.
    const FUZZ_IRQ: u8 = 5;
    const FUZZ_PORT: u16 = 0x80;
    const DRIVER_SLOTS: [u64; 2] = [10, 11];
    /// Slots of the fuzzer's CNode, and the guard that makes its addresses
    /// 64 bits deep.
    const RADIX: u64 = 8;
    /// Pages of the fuzzer's stack.
    const STACK_PAGES: u64 = 4;
    /// Set by the fuzzer when it is done: 1 plus its failures.
    static DONE: AtomicU64 = AtomicU64::new(0);

    /// Sets up the fuzzer from slot `base` on, runs it, waits for it and
    /// audits the result; the number of failures.
    pub fn run(env: &mut Env, base: u64) -> u64 {
        let untyped = super::UNTYPED.load(Ordering::Relaxed);
        let (sub, cnode, guarded, notification) = (base, base + 1, base + 2, base + 3);
        let (tcb, buffer, stack) = (base + 4, base + 6, base + 8);
        // Four pages of stack (the lifecycle phase keeps the caps of its
        // slots there), with an unmapped page below.
        let stack_at = ROOT_STACK_TOP + 0xa000;
        let stack_top = stack_at + STACK_PAGES * 0x1000;
        let buffer_at = ROOT_STACK_TOP + 0x6000;
        let in_fuzzer = |env: &mut Env, index: u64, from: u64| {
            caps::CNodeCapClient(env.cap(cnode))
                .copy(
                    index,
                    RADIX,
                    capc_demo_user::ROOT_CNODE,
                    from,
                    64,
                    Rights::ALL.bits(),
                )
                .map_err(capc_demo_user::Error::from)
        };
        let setup = super::retype(env, untyped, ObjectType::Untyped, 20, sub, 1)
            .and_then(|()| super::retype(env, untyped, ObjectType::CNode, RADIX, cnode, 1))
            .and_then(|()| super::mint(env, cnode, guarded, Rights::ALL, 64 - RADIX))
            .and_then(|()| {
                super::retype(env, untyped, ObjectType::Notification, 0, notification, 1)
            })
            .and_then(|()| {
                caps::CNodeCapClient(env.cap(cnode))
                    .r#move(1, RADIX, capc_demo_user::ROOT_CNODE, sub, 64)
                    .map_err(capc_demo_user::Error::from)
            })
            .and_then(|()| in_fuzzer(env, 2, guarded))
            .and_then(|()| in_fuzzer(env, 3, notification))
            // Driver caps for the random invocations: a handler of a line
            // no device uses, and a port nothing listens on (QEMU's POST
            // code port).
            .and_then(|()| {
                caps::IrqControlCapClient(env.cap(ROOT_IRQ_CONTROL_SLOT))
                    .get(FUZZ_IRQ, caps::Slot::new(cnode), DRIVER_SLOTS[0], RADIX)
                    .map_err(capc_demo_user::Error::from)
            })
            .and_then(|()| {
                caps::IoPortControlCapClient(env.cap(ROOT_IO_PORT_CONTROL_SLOT))
                    .issue(
                        FUZZ_PORT,
                        FUZZ_PORT,
                        caps::Slot::new(cnode),
                        DRIVER_SLOTS[1],
                        RADIX,
                    )
                    .map_err(capc_demo_user::Error::from)
            })
            .and_then(|()| super::retype(env, untyped, ObjectType::Tcb, 0, tcb, 1))
            .and_then(|()| super::retype(env, untyped, ObjectType::Frame, 12, buffer, 1))
            .and_then(|()| super::map_frame(env, buffer, buffer_at))
            .and_then(|()| super::retype(env, untyped, ObjectType::Frame, 12, stack, STACK_PAGES))
            .and_then(|()| {
                (0..STACK_PAGES)
                    .try_for_each(|i| super::map_frame(env, stack + i, stack_at + i * 0x1000))
            });
        let _ = writeln!(
            env,
            "root: fuzzer's CSpace (2^{RADIX} slots: a 1 MiB Untyped, its CNode, a notification, an IRQ handler and an I/O port), TCB, stack and IPC buffer: {}",
            super::outcome(setup)
        );
        if setup.is_err() {
            return 1;
        }
        // The fuzzer's CSpace root is the guarded CNode cap; its address space
        // the root's, so that it runs this program's code.
        let started = caps::TcbCapClient(env.cap(tcb))
            .configure(
                caps::Slot::new(guarded),
                caps::Slot::new(super::ROOT_VSPACE),
                caps::Slot::new(buffer),
                buffer_at,
            )
            .map_err(capc_demo_user::Error::from)
            .and_then(|()| {
                caps::TcbCapClient(env.cap(tcb))
                    .write_registers(fuzzer as *const () as u64, stack_top, buffer_at)
                    .map_err(capc_demo_user::Error::from)
            })
            .and_then(|()| {
                caps::TcbCapClient(env.cap(tcb))
                    .resume()
                    .map_err(capc_demo_user::Error::from)
            });
        let _ = writeln!(env, "root: start the fuzzer: {}", super::outcome(started));
        if started.is_err() {
            return 1;
        }
        let mut waited = 0u64;
        while DONE.load(Ordering::Acquire) == 0 && waited < 1_000_000 {
            if WANT_ROOT_PML4.load(Ordering::Acquire) == 1 {
                let given = in_fuzzer(env, lifecycle::ROOT_PML4, super::ROOT_VSPACE)
                    .and_then(|()| in_fuzzer(env, lifecycle::ASID_POOL, ROOT_ASID_POOL_SLOT));
                WANT_ROOT_PML4.store(if given.is_ok() { 2 } else { 3 }, Ordering::Release);
            }
            yield_now();
            waited += 1;
        }
        let done = DONE.load(Ordering::Acquire);
        if done == 0 {
            let _ = writeln!(env, "root: the fuzzer never finished (WRONG)");
            return 1;
        }
        let audit = syscall(Syscall::DebugAudit, 0, 0, [0; 4]);
        let clean = audit.status == SyscallStatus::Ok as u64 && audit.badge == 0;
        let _ = writeln!(
            env,
            "root: kernel audit after the fuzzer: {}",
            if clean { "ok" } else { "FAILED (WRONG)" }
        );
        u64::from(!clean) + (done - 1)
    }

    /// xorshift64*: a fixed seed, so every run makes the same calls.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        /// A capability address: mostly the three caps the fuzzer starts
        /// with (1: Untyped, 2: its CNode, 3: a notification) and the low
        /// slots its retypes and copies fill.
        fn cptr(&mut self) -> u64 {
            match self.below(20) {
                0..=7 => 1 + self.below(3),
                8..=14 => self.below(32),
                15..=17 => self.below(1 << RADIX),
                18 => self.below(1 << 12),
                _ => self.next(),
            }
        }
        /// A message word: small numbers, slot indices, depths, object
        /// types, size arguments, rights, or anything.
        fn word(&mut self) -> u64 {
            match self.below(20) {
                0..=4 => self.below(16),
                5..=8 => self.below(32),
                9..=11 => [RADIX, 56, 64, 0][self.below(4) as usize],
                12..=14 => self.below(12),
                15..=16 => 4 + self.below(20),
                17 => self.below(1 << RADIX),
                18 => Rights::ALL.bits() & self.next(),
                _ => self.next(),
            }
        }
    }

    /// The fuzzer thread.
    extern "C" fn fuzzer(buffer_at: u64) -> ! {
        // SAFETY: the root mapped this thread's own IPC buffer there.
        let mut env = unsafe { Env::new(buffer_at) };
        let buffer = buffer_at as *mut IpcBuffer;
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut ok, mut signals, mut skipped) = (0u64, 0u64, 0u64);
        // Invocations of the IRQ handler and I/O port caps, and those that
        // succeeded.
        let (mut driver_calls, mut driver_ok) = (0u64, 0u64);
        let mut errors = [0u64; 16];
        let mut refused = [0u64; 8];
        let mut made = 0;
        while made < INVOCATIONS {
            // A third of the calls are well-formed retypes, a third
            // well-formed CNode operations (each word drawn from a likely
            // range), the rest anything at all.
            let mut msg = [0u64; 8];
            let (target, label, length, cap_count) = match rng.below(9) {
                0..=2 => {
                    msg[..6].copy_from_slice(&[
                        rng.below(11),
                        rng.below(25),
                        0,
                        0,
                        4 + rng.below(28),
                        1 + rng.below(4),
                    ]);
                    let target = if rng.below(5) == 0 { rng.cptr() } else { 1 };
                    (target, 1, 6, 1)
                }
                3..=5 => {
                    // Slots 1-3 hold what the fuzzer works with: it copies
                    // and mints from them and revokes them, but does not
                    // overwrite, move or delete them.
                    let label = 1 + rng.below(5);
                    let free_slot = 4 + rng.below((1 << RADIX) - 4);
                    let source = if label == 3 {
                        4 + rng.below(28)
                    } else {
                        rng.below(32)
                    };
                    let first = if label == 5 { rng.below(32) } else { free_slot };
                    msg[..7].copy_from_slice(&[
                        first,
                        64,
                        source,
                        64,
                        Rights::ALL.bits() & rng.next(),
                        rng.below(4),
                        0,
                    ]);
                    let target = if rng.below(5) == 0 { rng.cptr() } else { 2 };
                    match label {
                        // delete and revoke: index, depth
                        4 | 5 => (target, label, 2, 0),
                        // move: no rights or badge
                        3 => (target, label, 4, 1),
                        _ => (target, label, 5 + label - 1, 1),
                    }
                }
                // The driver caps (while they last: the CNode operations
                // may move or delete them): a method of either, a port
                // mostly the cap's, and the notification as the cap.
                6 => {
                    msg[0] = if rng.below(2) == 0 {
                        u64::from(FUZZ_PORT)
                    } else {
                        rng.word()
                    };
                    msg[1] = rng.word();
                    let target = DRIVER_SLOTS[rng.below(2) as usize];
                    (target, 1 + rng.below(3), rng.below(3), rng.below(2))
                }
                _ => {
                    for w in &mut msg {
                        *w = rng.word();
                    }
                    let length = match rng.below(10) {
                        0 => rng.below(128),
                        _ => rng.below(9),
                    };
                    (rng.cptr(), rng.below(8), length, rng.below(4))
                }
            };
            let cptr = target;
            let tag = syscall(Syscall::DebugCapType, cptr, 0, [0; 4]).badge;
            if tag == CapType::EndpointCap as u64 {
                // A call on an endpoint nobody receives on would wait forever.
                skipped += 1;
                continue;
            }
            made += 1;
            if tag == CapType::NotificationCap as u64 && rng.below(2) == 0 {
                syscall(Syscall::Send, cptr, 0, [0; 4]);
                signals += 1;
                continue;
            }
            let words = [msg[0], msg[1], msg[2], msg[3]];
            // SAFETY: the buffer is this thread's, mapped writable.
            let b = unsafe { &mut *buffer };
            for i in abi::MESSAGE_REGISTERS..(length as usize).min(b.msg.len()) {
                b.msg[i] = msg.get(i).copied().unwrap_or_else(|| rng.word());
            }
            // CNode operations' source CNode and retype's destination are
            // among the caps: mostly the fuzzer's own CNode.
            for c in &mut b.caps {
                *c = match rng.below(4) {
                    0 => rng.cptr(),
                    // The notification: what an IRQ handler may signal.
                    1 if DRIVER_SLOTS.contains(&cptr) => 3,
                    _ => 2,
                };
            }
            let info = label << 12 | cap_count << 7 | length;
            let returned = syscall(Syscall::Call, cptr, info, words);
            if returned.status != SyscallStatus::Ok as u64 {
                refused[(returned.status as usize).min(7)] += 1;
                continue;
            }
            let driver = tag == CapType::IrqHandlerCap as u64 || tag == CapType::IoPortCap as u64;
            driver_calls += u64::from(driver);
            match abi::unpack_info(returned.info).map(|i| i.label) {
                Some(0) => {
                    ok += 1;
                    driver_ok += u64::from(driver);
                }
                Some(error) => errors[(error as usize).min(15)] += 1,
                None => refused[7] += 1,
            }
        }
        let _ = writeln!(
            env,
            "fuzz: {INVOCATIONS} invocations ({signals} signals, {skipped} endpoint addresses skipped): {ok} succeeded"
        );
        let _ = writeln!(
            env,
            "fuzz: driver caps (IRQ {FUZZ_IRQ}'s handler, port {FUZZ_PORT:#x}): {driver_calls} invocations, {driver_ok} succeeded"
        );
        let _ = write!(env, "fuzz: kernel errors:");
        for (number, count) in errors.iter().enumerate().filter(|(_, c)| **c > 0) {
            let name = KernelError::decode(number as u64, &[0; 2]).map_or("?", error_name);
            let _ = write!(env, " {name} {count}");
        }
        let _ = writeln!(env);
        let _ = write!(env, "fuzz: refused system calls:");
        for (status, count) in refused.iter().enumerate().filter(|(_, c)| **c > 0) {
            let _ = match SyscallStatus::from_word(status as u64) {
                Some(status) => write!(env, " {status:?} {count}"),
                None => write!(env, " malformed-reply {count}"),
            };
        }
        let _ = writeln!(env);
        let failures = lifecycle_phase(&mut env);
        DONE.store(1 + failures, Ordering::Release);
        capc_demo_user::exit(0)
    }

    /// Clears what the random invocations left (the Untyped revoked, every
    /// slot but the three caps the fuzzer started with emptied), asks the
    /// root for a copy of its PML4 cap and runs [`lifecycle`]; the number
    /// of failures.
    fn lifecycle_phase(env: &mut Env) -> u64 {
        if capc_demo_user::cap_at(2).cap_type() != Some(CapType::CNodeCap) {
            let _ = writeln!(
                env,
                "fuzz: lifecycle: slot 2 is not the fuzzer's CNode (WRONG)"
            );
            return 1;
        }
        let _ = caps::CNodeCapClient(env.cap(2))
            .revoke(1, 64)
            .map_err(capc_demo_user::Error::from);
        for slot in (0..1).chain(4..1 << RADIX) {
            let _ = caps::CNodeCapClient(env.cap(2))
                .delete(slot, 64)
                .map_err(capc_demo_user::Error::from);
        }
        WANT_ROOT_PML4.store(1, Ordering::Release);
        while WANT_ROOT_PML4.load(Ordering::Acquire) == 1 {
            yield_now();
        }
        lifecycle::run(env)
    }

    /// Asked by the fuzzer when its random invocations are done: the root
    /// copies its own PML4 cap into [`lifecycle::ROOT_PML4`] of the
    /// fuzzer's CNode (1 asked, 2 given, 3 refused), so that the helper
    /// threads the lifecycle phase resumes run this program's code, and its
    /// ASID pool's cap into [`lifecycle::ASID_POOL`], which numbers the
    /// address spaces the phase makes.
    static WANT_ROOT_PML4: AtomicU64 = AtomicU64::new(0);

    /// The fuzzer's second phase: the objects the lifecycle rules govern.
    /// From its 1 MiB Untyped (slot 1) and four child Untypeds of 128 KiB
    /// (slots 5..9) it retypes TCBs, PML4s, PDPTs, page directories, page
    /// tables, frames, CNodes, endpoints and notifications into a pool of
    /// slots, configures the TCBs with random (valid and invalid) CNode,
    /// PML4 and frame caps, maps tables and frames at random user addresses
    /// of its own PML4s (never the root's, which runs its code), copies,
    /// unmaps, deletes and revokes what is mapped, and regularly revokes a
    /// child Untyped (or the whole Untyped) and retypes the same memory
    /// into other objects. It builds chains of tables with frames under
    /// them, so that frame maps and removals of mapped frames succeed.
    /// TCBs it resumes run [`capc_fuzz_receiver`], [`capc_fuzz_sender`],
    /// [`capc_fuzz_caller`] or [`capc_fuzz_server`] in the root's address
    /// space (configured with the root's PML4 right before), which only
    /// receive, send, call, answer and exit, so endpoints and notifications
    /// get queues and deliver messages, and the fuzzer deletes and revokes
    /// them under waiters without ever blocking itself; a resumed TCB is
    /// suspended before it is configured with anything else. The kernel
    /// audits the whole system every [`AUDIT_EVERY`] steps.
    pub mod lifecycle {
        use core::fmt::Write;
        use core::sync::atomic::{AtomicU64, Ordering};

        use capc_demo_user::abi::{ROOT_STACK_TOP, Syscall, SyscallStatus, USER_BASE};
        use capc_demo_user::caps::{
            self, Cap, CapType, FrameCap, ObjectType, PageDirectoryCap, PageTableCap, PdptCap,
            Pml4Cap, Rights, TcbCap, UntypedCap,
        };
        use capc_demo_user::{Env, Error, cap_at, syscall, yield_now};

        use super::Rng;

        /// Steps of the phase.
        pub const STEPS: u64 = 3_000;
        /// Steps between two audits of the whole kernel.
        pub const AUDIT_EVERY: u64 = 500;
        /// The fuzzer's own CNode (its CSpace root, addresses 64 bits deep).
        const CNODE: u64 = 2;
        /// The fuzzer's Untyped.
        const UNTYPED: u64 = 1;
        /// A notification cap the root gave.
        const NOTIFICATION: u64 = 3;
        /// A copy of the root's PML4: only ever a resumed helper's VSpace.
        pub const ROOT_PML4: u64 = 4;
        /// A copy of the root's ASID pool cap, which numbers the address
        /// spaces the fuzzer makes.
        pub const ASID_POOL: u64 = 9;
        /// The child Untypeds: slots and log2 of their size.
        const CHILDREN: core::ops::Range<u64> = 5..9;
        const CHILD_BITS: u64 = 17;
        /// The pool the steps retype into, copy into and pick caps from.
        const POOL: core::ops::Range<u64> = 16..96;
        /// Slots the phase tracks (everything below the pool's end).
        const TRACKED: usize = POOL.end as usize;

        /// Counted by the helper threads: messages and signals received,
        /// sends done, and helpers that ended (their wait failed or was
        /// cancelled).
        static RECEIVED: AtomicU64 = AtomicU64::new(0);
        static SENT: AtomicU64 = AtomicU64::new(0);
        static ENDED: AtomicU64 = AtomicU64::new(0);
        /// Counted by the helpers: calls that got their reply.
        static ANSWERED: AtomicU64 = AtomicU64::new(0);

        // The helper threads: a few instructions that use no stack and no
        // IPC buffer. `capc_fuzz_receiver` receives on the cap at `rdi`
        // until that fails, `capc_fuzz_sender` sends (or signals) once,
        // `capc_fuzz_caller` calls once, `capc_fuzz_server` receives and
        // then answers and receives (ReplyRecv) until that fails; all then
        // exit with status 0. Registers other than rax, rdi,
        // rsi, rdx, r8-r11 and rcx survive a system call, so rbx keeps
        // the cap address.
        core::arch::global_asm!(
            ".pushsection .text.capc_fuzz_helpers,\"ax\",@progbits",
            ".globl capc_fuzz_receiver",
            "capc_fuzz_receiver:",
            "    mov rbx, rdi",
            "2:  mov rdi, rbx",
            "    mov eax, 3",
            "    xor esi, esi",
            "    syscall",
            "    test rax, rax",
            "    jnz 3f",
            "    lock inc qword ptr [rip + {received}]",
            "    jmp 2b",
            "3:  lock inc qword ptr [rip + {ended}]",
            "    mov eax, 8",
            "    xor edi, edi",
            "    syscall",
            "    ud2",
            ".globl capc_fuzz_sender",
            "capc_fuzz_sender:",
            "    mov eax, 2",
            "    xor esi, esi",
            "    syscall",
            "    test rax, rax",
            "    jnz 4f",
            "    lock inc qword ptr [rip + {sent}]",
            "4:  lock inc qword ptr [rip + {ended}]",
            "    mov eax, 8",
            "    xor edi, edi",
            "    syscall",
            "    ud2",
            ".globl capc_fuzz_caller",
            "capc_fuzz_caller:",
            "    mov eax, 1",
            "    xor esi, esi",
            "    syscall",
            "    test rax, rax",
            "    jnz 5f",
            "    lock inc qword ptr [rip + {answered}]",
            "5:  lock inc qword ptr [rip + {ended}]",
            "    mov eax, 8",
            "    xor edi, edi",
            "    syscall",
            "    ud2",
            ".globl capc_fuzz_server",
            "capc_fuzz_server:",
            "    mov rbx, rdi",
            "    mov eax, 3",
            "    xor esi, esi",
            "    syscall",
            "6:  test rax, rax",
            "    jnz 7f",
            "    lock inc qword ptr [rip + {received}]",
            "    mov rdi, rbx",
            "    mov eax, 5",
            "    xor esi, esi",
            "    syscall",
            "    jmp 6b",
            "7:  lock inc qword ptr [rip + {ended}]",
            "    mov eax, 8",
            "    xor edi, edi",
            "    syscall",
            "    ud2",
            ".popsection",
            received = sym RECEIVED,
            sent = sym SENT,
            ended = sym ENDED,
            answered = sym ANSWERED,
        );

        unsafe extern "C" {
            fn capc_fuzz_receiver() -> !;
            fn capc_fuzz_sender() -> !;
            fn capc_fuzz_caller() -> !;
            fn capc_fuzz_server() -> !;
        }

        /// The object types a retype step draws from, and their size
        /// arguments.
        const TYPES: [(ObjectType, u64); 10] = [
            (ObjectType::Untyped, 13),
            (ObjectType::CNode, 3),
            (ObjectType::Tcb, 0),
            (ObjectType::Endpoint, 0),
            (ObjectType::Notification, 0),
            (ObjectType::Frame, 12),
            (ObjectType::Pml4, 0),
            (ObjectType::Pdpt, 0),
            (ObjectType::PageDirectory, 0),
            (ObjectType::PageTable, 0),
        ];

        /// Successes and attempts of one kind of step.
        #[derive(Clone, Copy, Default)]
        struct Tally {
            ok: u64,
            tried: u64,
        }

        impl Tally {
            fn count(&mut self, result: Result<(), Error>) -> bool {
                // `is_ok` is evaluated once on purpose. Written as
                // `self.ok += u64::from(result.is_ok()); result.is_ok()`,
                // rustc 1.95.0 miscompiles it: GVN merges the two calls into
                // one bool, then SimplifyComparisonIntegral turns the branch
                // into a switch on the discriminant and deletes the bool's
                // definition although the addition still reads it
                // (rust-lang/rust#158206), so map and suspend successes
                // were added as garbage (LLVM dropped the addition).
                let ok = result.is_ok();
                self.tried += 1;
                if ok {
                    self.ok += 1;
                }
                ok
            }
        }

        impl core::fmt::Display for Tally {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{} of {} ok", self.ok, self.tried)
            }
        }

        /// What the phase did, printed as `fuzz: ...` lines.
        #[derive(Default)]
        struct Counts {
            retype: [Tally; TYPES.len()],
            configure: Tally,
            configure_valid: Tally,
            /// Address-space numbers given to new PML4s from the root's
            /// ASID pool.
            assign: Tally,
            fault_handler: Tally,
            resume: Tally,
            suspend: Tally,
            signal: Tally,
            map_frame: Tally,
            map_table: Tally,
            unmap: Tally,
            copy_mapped_table: Tally,
            copy_unmapped_table: Tally,
            copy_other: Tally,
            delete: Tally,
            revoke: Tally,
            child_revoke: Tally,
            full_revoke: Tally,
            /// Retypes that placed objects below an Untyped's highest
            /// watermark so far: in memory that held other objects.
            reused: u64,
            /// Caps removed (delete, revoke, a revoked Untyped) while they
            /// recorded a mapping: frames, tables.
            removed_mapped_frames: u64,
            removed_mapped_tables: u64,
            /// PML4 caps removed after something was mapped in that PML4.
            removed_pml4s_with_mappings: u64,
            /// TCB caps removed while the TCB had been configured.
            removed_configured_tcbs: u64,
            /// Chains built (PDPT, page directory, page table, then frames
            /// under them): ok when a frame was mapped at the end.
            chain: Tally,
            /// IPC steps: ok when every helper of the step started.
            ipc: Tally,
            /// Waiters whose endpoint was deleted under them and that were
            /// restarted (their receive failed).
            cancelled_waits: u64,
            audits: Tally,
        }

        /// The phase's state: the caps in the tracked slots as last read,
        /// and what the kernel does not show through a cap.
        struct Lifecycle<'e> {
            env: &'e mut Env,
            rng: Rng,
            slots: [Cap; TRACKED],
            /// The highest watermark seen per tracked Untyped slot.
            high_water: [u64; TRACKED],
            /// TCBs (by address) that were resumed: they run only helper
            /// code in the root's address space, so they are suspended
            /// before anything else is configured into them.
            resumed: [u64; 16],
            /// TCBs (by address) a configure succeeded on.
            configured: [u64; 32],
            /// PML4s (by address) something was mapped in.
            mapped_pml4s: [u64; 32],
            counts: Counts,
            /// Whether [`Lifecycle::park`] left its thread.
            parked: bool,
        }

        /// Adds `addr` to the set `set` (replacing an entry when full).
        fn remember(set: &mut [u64], addr: u64, rng: &mut Rng) {
            if set.contains(&addr) {
                return;
            }
            match set.iter().position(|&a| a == 0) {
                Some(free) => set[free] = addr,
                None => set[rng.below(set.len() as u64) as usize] = addr,
            }
        }

        fn forget(set: &mut [u64], addr: u64) {
            for a in set.iter_mut().filter(|a| **a == addr) {
                *a = 0;
            }
        }

        /// The object a cap names.
        fn object(cap: Cap) -> u64 {
            caps::region(cap).map_or(0, |(base, _)| base)
        }

        /// Whether a frame or table cap records a mapping.
        fn mapped(cap: Cap) -> bool {
            FrameCap::from_cap(cap).is_some_and(|c| c.mapped_asid() != 0)
                || PdptCap::from_cap(cap).is_some_and(|c| c.mapped_asid() != 0)
                || PageDirectoryCap::from_cap(cap).is_some_and(|c| c.mapped_asid() != 0)
                || PageTableCap::from_cap(cap).is_some_and(|c| c.mapped_asid() != 0)
        }

        fn is_table(cap: Cap) -> bool {
            matches!(
                cap.cap_type(),
                Some(CapType::PdptCap | CapType::PageDirectoryCap | CapType::PageTableCap)
            )
        }

        /// Runs the phase; the number of failures (a failed audit).
        pub fn run(env: &mut Env) -> u64 {
            let mut phase = Lifecycle {
                env,
                rng: Rng(0x2545_f491_4f6c_dd1d),
                slots: [Cap::NULL; TRACKED],
                high_water: [0; TRACKED],
                resumed: [0; 16],
                configured: [0; 32],
                mapped_pml4s: [0; 32],
                counts: Counts::default(),
                parked: false,
            };
            phase.refresh();
            let ready = phase.slots[UNTYPED as usize].cap_type() == Some(CapType::UntypedCap)
                && phase.slots[CNODE as usize].cap_type() == Some(CapType::CNodeCap)
                && phase.slots[ROOT_PML4 as usize].cap_type() == Some(CapType::Pml4Cap);
            if !ready {
                let _ = writeln!(
                    phase.env,
                    "fuzz: lifecycle: the Untyped, CNode or root PML4 cap is missing (WRONG)"
                );
                return 1;
            }
            phase.make_children();
            for step in 1..=STEPS {
                phase.step();
                if step % AUDIT_EVERY == 0 {
                    let audit = syscall(Syscall::DebugAudit, 0, 0, [0; 4]);
                    let clean = audit.status == SyscallStatus::Ok as u64 && audit.badge == 0;
                    phase.counts.audits.count(if clean {
                        Ok(())
                    } else {
                        Err(Error::Syscall(SyscallStatus::InvalidCap))
                    });
                }
            }
            phase.park();
            phase.report();
            phase.counts.audits.tried - phase.counts.audits.ok + u64::from(!phase.parked)
        }

        impl Lifecycle<'_> {
            fn refresh(&mut self) {
                for slot in 0..TRACKED {
                    let cap = cap_at(slot as u64);
                    if let Some(untyped) = UntypedCap::from_cap(cap) {
                        let high = &mut self.high_water[slot];
                        // Another Untyped in this slot starts afresh.
                        if object(self.slots[slot]) != untyped.base() {
                            *high = 0;
                        }
                        *high = (*high).max(untyped.free_index());
                    }
                    self.slots[slot] = cap;
                }
            }

            /// Refreshes the tracked slots after a step that may remove
            /// caps, counting the removals the lifecycle rules act on.
            fn refresh_after_removal(&mut self) {
                let before = self.slots;
                self.refresh();
                for (old, new) in before.iter().zip(self.slots.iter()) {
                    if old == new || (object(*old) == object(*new) && !new.is_null()) {
                        continue;
                    }
                    if mapped(*old) {
                        if is_table(*old) {
                            self.counts.removed_mapped_tables += 1;
                        } else {
                            self.counts.removed_mapped_frames += 1;
                        }
                    }
                    let addr = object(*old);
                    if Pml4Cap::from_cap(*old).is_some() && self.mapped_pml4s.contains(&addr) {
                        self.counts.removed_pml4s_with_mappings += 1;
                    }
                    if TcbCap::from_cap(*old).is_some() && self.configured.contains(&addr) {
                        self.counts.removed_configured_tcbs += 1;
                    }
                }
            }

            /// Retypes the child Untypeds from the Untyped (after it was
            /// revoked, over the same memory).
            fn make_children(&mut self) {
                let count = CHILDREN.end - CHILDREN.start;
                let r = self.retype_into(UNTYPED, 0, CHILD_BITS, CHILDREN.start, count);
                self.counts.retype[0].count(r);
            }

            /// A retype of `count` objects of `TYPES[kind]` from the
            /// Untyped at `untyped` into slots `offset..`; counts reuse.
            fn retype_into(
                &mut self,
                untyped: u64,
                kind: usize,
                size_arg: u64,
                offset: u64,
                count: u64,
            ) -> Result<(), Error> {
                let (object_type, _) = TYPES[kind];
                let before = UntypedCap::from_cap(cap_at(untyped)).map(|u| u.free_index());
                let r = self.guarded(untyped).and_then(|()| {
                    caps::UntypedCapClient(self.env.cap(untyped))
                        .retype(
                            object_type as u64,
                            size_arg,
                            caps::Slot::new(CNODE),
                            0,
                            0,
                            offset,
                            count,
                        )
                        .map_err(capc_demo_user::Error::from)
                });
                let high = self.high_water.get(untyped as usize).copied().unwrap_or(0);
                if r.is_ok() && before.is_some_and(|b| b < high) {
                    self.counts.reused += 1;
                }
                self.refresh();
                if r.is_ok() {
                    for slot in offset..offset + count {
                        if let Some(&cap) = self.slots.get(slot as usize) {
                            let addr = object(cap);
                            forget(&mut self.resumed, addr);
                            forget(&mut self.configured, addr);
                            forget(&mut self.mapped_pml4s, addr);
                            // A new address space's number, from the root's
                            // pool, so that maps into it can work.
                            if Pml4Cap::from_cap(cap).is_some() {
                                let a = caps::AsidPoolCapClient(self.env.cap(ASID_POOL))
                                    .assign(caps::Slot::new(slot))
                                    .map_err(capc_demo_user::Error::from);
                                self.counts.assign.count(a);
                            }
                        }
                    }
                    self.refresh();
                }
                r
            }

            /// A random slot of the pool.
            fn pool_slot(&mut self) -> u64 {
                POOL.start + self.rng.below(POOL.end - POOL.start)
            }

            /// A slot holding a cap of type `cap_type` (the pool, the
            /// children and `extra`), mostly; sometimes any slot but the
            /// root's PML4.
            fn pick(&mut self, cap_type: CapType, extra: &[u64]) -> u64 {
                if self.rng.below(8) != 0 {
                    let mut found = [0u64; TRACKED];
                    let mut n = 0;
                    let candidates = CHILDREN.chain(POOL).chain(extra.iter().copied());
                    for slot in candidates {
                        if self.slots[slot as usize].cap_type() == Some(cap_type) {
                            found[n] = slot;
                            n += 1;
                        }
                    }
                    if n > 0 {
                        return found[self.rng.below(n as u64) as usize];
                    }
                }
                let slot = self.rng.below(TRACKED as u64);
                if slot == ROOT_PML4 { CNODE } else { slot }
            }

            /// A user address in the few regions the steps map into, or
            /// now and then a bad one.
            fn vaddr(&mut self) -> u64 {
                match self.rng.below(16) {
                    0 => self.rng.next(),
                    1 => USER_BASE + (self.rng.below(1 << 20) << 3),
                    _ => {
                        USER_BASE
                            + (self.rng.below(2) << 30)
                            + (self.rng.below(2) << 21)
                            + (self.rng.below(4) << 12)
                    }
                }
            }

            fn step(&mut self) {
                match self.rng.below(1000) {
                    0..=249 => self.retype(),
                    250..=359 => self.configure(),
                    360..=409 => self.resume(),
                    410..=439 => self.suspend(),
                    440..=479 => self.signal(),
                    480..=529 => self.map_frame(),
                    530..=609 => self.map_chain(),
                    610..=669 => self.map_table(),
                    670..=749 => self.ipc(),
                    750..=829 => self.copy(),
                    830..=869 => self.unmap(),
                    870..=929 => self.delete(),
                    930..=969 => self.revoke(),
                    970..=994 => self.revoke_child(),
                    _ => self.revoke_all(),
                }
            }

            fn retype(&mut self) {
                let kind = self.rng.below(TYPES.len() as u64) as usize;
                let (_, size_arg) = TYPES[kind];
                let untyped = match self.rng.below(4) {
                    0 => UNTYPED,
                    _ => self.pick(CapType::UntypedCap, &[]),
                };
                let offset = self.pool_slot();
                let count = 1 + self.rng.below(3);
                let r = self.retype_into(untyped, kind, size_arg, offset, count);
                self.counts.retype[kind].count(r);
            }

            /// Suspends the TCB at `slot` if it was ever resumed, so that
            /// what is configured next never runs.
            fn settle(&mut self, slot: u64) {
                let addr = object(self.slots[slot as usize]);
                if TcbCap::from_cap(self.slots[slot as usize]).is_some()
                    && self.resumed.contains(&addr)
                {
                    let r = self.invoke_suspend(slot);
                    self.counts.suspend.count(r);
                    if r.is_ok() {
                        forget(&mut self.resumed, addr);
                    }
                }
            }

            fn configure(&mut self) {
                if self.rng.below(4) == 0 {
                    return self.set_fault_handler();
                }
                let tcb = self.pick(CapType::TcbCap, &[]);
                self.settle(tcb);
                if !self.slots[tcb as usize].is_null()
                    && self.resumed.contains(&object(self.slots[tcb as usize]))
                {
                    return;
                }
                let cspace = self.pick(CapType::CNodeCap, &[CNODE]);
                let vspace = self.pick(CapType::Pml4Cap, &[]);
                let buffer = self.pick(CapType::FrameCap, &[]);
                let buffer_addr = match self.rng.below(8) {
                    0 => self.rng.next(),
                    _ => USER_BASE + (self.rng.below(64) << 12),
                };
                let valid = [
                    (cspace, CapType::CNodeCap),
                    (vspace, CapType::Pml4Cap),
                    (buffer, CapType::FrameCap),
                ]
                .iter()
                .all(|&(s, t)| self.slots[s as usize].cap_type() == Some(t));
                let r = self.invoke_configure(tcb, cspace, vspace, buffer, buffer_addr);
                self.counts.configure.count(r);
                if valid && buffer_addr % 4096 == 0 {
                    self.counts.configure_valid.count(r);
                }
                if r.is_ok() {
                    let addr = object(self.slots[tcb as usize]);
                    remember(&mut self.configured, addr, &mut self.rng);
                }
                self.refresh();
            }

            /// Gives a TCB a fault handler: any endpoint cap it can send
            /// on goes into its slot (faults are not sent yet).
            fn set_fault_handler(&mut self) {
                let tcb = self.pick(CapType::TcbCap, &[]);
                let endpoint = self.pick(CapType::EndpointCap, &[]);
                let r = self.invoke(tcb, |t| {
                    caps::TcbCapClient(t).set_fault_handler(caps::Slot::new(endpoint))
                });
                self.counts.fault_handler.count(r);
                self.refresh();
            }

            /// Starts a helper thread: configured with the root's PML4
            /// (and the fuzzer's CNode), registers set to a helper, resumed.
            fn resume(&mut self) {
                let tcb = self.pick(CapType::TcbCap, &[]);
                if TcbCap::from_cap(self.slots[tcb as usize]).is_none() {
                    return;
                }
                let buffer = self.pick(CapType::FrameCap, &[]);
                let on = match self.rng.below(3) {
                    0 => self.pick(CapType::NotificationCap, &[NOTIFICATION]),
                    _ => self.pick(CapType::EndpointCap, &[]),
                };
                let helper = if self.rng.below(3) == 0 {
                    capc_fuzz_sender as *const () as u64
                } else {
                    capc_fuzz_receiver as *const () as u64
                };
                let r = self.start_helper(tcb, buffer, on, helper);
                self.counts.resume.count(r);
                self.refresh();
            }

            fn suspend(&mut self) {
                let tcb = self.pick(CapType::TcbCap, &[]);
                let r = self.invoke_suspend(tcb);
                if self.counts.suspend.count(r) {
                    forget(&mut self.resumed, object(self.slots[tcb as usize]));
                }
            }

            fn signal(&mut self) {
                let at = self.pick(CapType::NotificationCap, &[NOTIFICATION]);
                if self.slots[at as usize].cap_type() != Some(CapType::NotificationCap) {
                    // A send on anything else might wait forever.
                    return;
                }
                let returned = syscall(Syscall::Send, at, 0, [0; 4]);
                let r = if returned.status == SyscallStatus::Ok as u64 {
                    Ok(())
                } else {
                    Err(Error::Syscall(SyscallStatus::InvalidCap))
                };
                self.counts.signal.count(r);
            }

            fn map_frame(&mut self) {
                let frame = self.pick(CapType::FrameCap, &[]);
                let vspace = self.pick(CapType::Pml4Cap, &[]);
                let vaddr = self.vaddr();
                let rights = match self.rng.below(4) {
                    0 => Rights::ALL.bits() & self.rng.next(),
                    _ => Rights::READ.union(Rights::WRITE).bits(),
                };
                let r = self.invoke(frame, |t| {
                    caps::FrameCapClient(t).map(caps::Slot::new(vspace), vaddr, rights)
                });
                if self.counts.map_frame.count(r) {
                    let addr = object(self.slots[vspace as usize]);
                    remember(&mut self.mapped_pml4s, addr, &mut self.rng);
                }
                self.refresh();
            }

            /// Maps the table at `table` (by its cap's type) at `vaddr` of
            /// the PML4 at `vspace`.
            fn invoke_map_table(
                &mut self,
                table: u64,
                vspace: u64,
                vaddr: u64,
            ) -> Result<(), Error> {
                let object = self.slots[table as usize]
                    .cap_type()
                    .and_then(|t| t.object_type());
                self.guarded(table)?;
                capc_demo_user::map_table(
                    self.env,
                    table,
                    object.unwrap_or(ObjectType::PageTable),
                    caps::Slot::new(vspace),
                    vaddr,
                )
            }

            /// A pool slot holding an unmapped cap of `cap_type`, if any.
            fn unmapped(&mut self, cap_type: CapType) -> Option<u64> {
                let start = self.pool_slot();
                (POOL.start..POOL.end)
                    .map(|i| POOL.start + (start - POOL.start + i) % (POOL.end - POOL.start))
                    .find(|&slot| {
                        let cap = self.slots[slot as usize];
                        cap.cap_type() == Some(cap_type) && !mapped(cap)
                    })
            }

            /// A new object of `TYPES[kind]` from a child Untyped, in an
            /// empty pool slot (one is emptied if none is); its slot.
            fn fresh(&mut self, kind: usize) -> Option<u64> {
                let start = self.pool_slot();
                let empty = (POOL.start..POOL.end)
                    .map(|i| POOL.start + (start - POOL.start + i) % (POOL.end - POOL.start))
                    .find(|&slot| self.slots[slot as usize].is_null());
                let slot = match empty {
                    Some(slot) => slot,
                    None => {
                        let _ = caps::CNodeCapClient(self.env.cap(CNODE))
                            .delete(start, 64)
                            .map_err(capc_demo_user::Error::from);
                        self.refresh_after_removal();
                        start
                    }
                };
                let child = CHILDREN.start + self.rng.below(CHILDREN.end - CHILDREN.start);
                let (_, size_arg) = TYPES[kind];
                let r = self.retype_into(child, kind, size_arg, slot, 1);
                self.counts.retype[kind].count(r).then_some(slot)
            }

            /// Builds a chain in one of the fuzzer's PML4s: a PDPT, a page
            /// directory and a page table at one address (unmapped ones
            /// from the pool, or new ones; a level already there refuses
            /// and the one in place serves), then one to three frames
            /// under them.
            fn map_chain(&mut self) {
                let vspace = self.pick(CapType::Pml4Cap, &[]);
                if vspace == ROOT_PML4
                    || self.slots[vspace as usize].cap_type() != Some(CapType::Pml4Cap)
                {
                    return;
                }
                let base = USER_BASE + (self.rng.below(2) << 30) + (self.rng.below(2) << 21);
                for (kind, cap_type) in [
                    (7, CapType::PdptCap),
                    (8, CapType::PageDirectoryCap),
                    (9, CapType::PageTableCap),
                ] {
                    let Some(table) = self.unmapped(cap_type).or_else(|| self.fresh(kind)) else {
                        continue;
                    };
                    let r = self.invoke_map_table(table, vspace, base);
                    if self.counts.map_table.count(r) {
                        let addr = object(self.slots[vspace as usize]);
                        remember(&mut self.mapped_pml4s, addr, &mut self.rng);
                    }
                    self.refresh();
                }
                let mut mapped_any = false;
                for page in 0..1 + self.rng.below(3) {
                    let Some(frame) = self.unmapped(CapType::FrameCap).or_else(|| self.fresh(5))
                    else {
                        continue;
                    };
                    let vaddr = base + (self.rng.below(4) << 12) + (page << 14);
                    let rights = Rights::READ.union(Rights::WRITE).bits();
                    let r = self.invoke(frame, |t| {
                        caps::FrameCapClient(t).map(caps::Slot::new(vspace), vaddr, rights)
                    });
                    if self.counts.map_frame.count(r) {
                        mapped_any = true;
                        let addr = object(self.slots[vspace as usize]);
                        remember(&mut self.mapped_pml4s, addr, &mut self.rng);
                    }
                    self.refresh();
                }
                self.counts.chain.count(if mapped_any {
                    Ok(())
                } else {
                    Err(Error::Syscall(SyscallStatus::InvalidCap))
                });
            }

            /// Starts a helper thread in the TCB at `tcb`: configured with
            /// the root's PML4, the fuzzer's CNode and the frame at
            /// `buffer`, its registers set to run `helper` on the cap at
            /// `on`, resumed.
            fn start_helper(
                &mut self,
                tcb: u64,
                buffer: u64,
                on: u64,
                helper: u64,
            ) -> Result<(), Error> {
                let addr = object(self.slots[tcb as usize]);
                let r = self
                    .invoke_configure(tcb, CNODE, ROOT_PML4, buffer, ROOT_STACK_TOP)
                    .and_then(|()| {
                        self.invoke(tcb, |t| {
                            caps::TcbCapClient(t).write_registers(helper, 0, on)
                        })
                    })
                    .and_then(|()| self.invoke(tcb, |t| caps::TcbCapClient(t).resume()));
                if r.is_ok() {
                    remember(&mut self.resumed, addr, &mut self.rng);
                    remember(&mut self.configured, addr, &mut self.rng);
                }
                r
            }

            /// Lets the helpers run until they wait or end.
            fn let_helpers_run(&mut self) {
                for _ in 0..4 {
                    yield_now();
                }
            }

            /// Helper threads that talk over one new endpoint: a receiver
            /// and a sender, a server and callers (calls answered with
            /// ReplyRecv), or a receiver whose endpoint is then deleted
            /// while it waits (the kernel restarts it with an error).
            fn ipc(&mut self) {
                let Some(endpoint) = self.fresh(3) else {
                    return;
                };
                let scenario = self.rng.below(3);
                let helpers: &[u64] = match scenario {
                    0 => &[
                        capc_fuzz_receiver as *const () as u64,
                        capc_fuzz_sender as *const () as u64,
                    ],
                    1 => &[
                        capc_fuzz_server as *const () as u64,
                        capc_fuzz_caller as *const () as u64,
                        capc_fuzz_caller as *const () as u64,
                    ],
                    _ => &[capc_fuzz_receiver as *const () as u64],
                };
                let mut started = true;
                for &helper in helpers {
                    let tcb = self.fresh(2);
                    let buffer = self.unmapped(CapType::FrameCap).or_else(|| self.fresh(5));
                    let (Some(tcb), Some(buffer)) = (tcb, buffer) else {
                        started = false;
                        continue;
                    };
                    started &= self.start_helper(tcb, buffer, endpoint, helper).is_ok();
                    self.refresh();
                }
                self.let_helpers_run();
                if scenario == 2 && started {
                    let ended = ENDED.load(Ordering::Acquire);
                    let r = caps::CNodeCapClient(self.env.cap(CNODE))
                        .delete(endpoint, 64)
                        .map_err(capc_demo_user::Error::from);
                    self.refresh_after_removal();
                    self.let_helpers_run();
                    if r.is_ok() && ENDED.load(Ordering::Acquire) > ended {
                        self.counts.cancelled_waits += 1;
                    }
                }
                self.counts.ipc.count(if started {
                    Ok(())
                } else {
                    Err(Error::Syscall(SyscallStatus::InvalidCap))
                });
            }

            fn map_table(&mut self) {
                let cap_type = [
                    CapType::PdptCap,
                    CapType::PageDirectoryCap,
                    CapType::PageTableCap,
                ][self.rng.below(3) as usize];
                let table = self.pick(cap_type, &[]);
                let vspace = self.pick(CapType::Pml4Cap, &[]);
                // Mostly aligned to what the table covers.
                let covers: u64 = match self.slots[table as usize].cap_type() {
                    Some(CapType::PdptCap) => 1 << 39,
                    Some(CapType::PageDirectoryCap) => 1 << 30,
                    _ => 1 << 21,
                };
                let vaddr = match self.rng.below(8) {
                    0 => self.vaddr(),
                    _ => self.vaddr() & !(covers - 1),
                };
                let r = self.invoke_map_table(table, vspace, vaddr);
                if self.counts.map_table.count(r) {
                    let addr = object(self.slots[vspace as usize]);
                    remember(&mut self.mapped_pml4s, addr, &mut self.rng);
                }
                self.refresh();
            }

            fn copy(&mut self) {
                let from = match self.rng.below(3) {
                    0 => {
                        let cap_type = [
                            CapType::PdptCap,
                            CapType::PageDirectoryCap,
                            CapType::PageTableCap,
                        ][self.rng.below(3) as usize];
                        self.pick(cap_type, &[])
                    }
                    _ => {
                        let slot = self.rng.below(TRACKED as u64);
                        if slot == ROOT_PML4 { CNODE } else { slot }
                    }
                };
                let to = self.pool_slot();
                let rights = match self.rng.below(4) {
                    0 => Rights::ALL.bits() & self.rng.next(),
                    _ => Rights::ALL.bits(),
                };
                let source = self.slots[from as usize];
                let r = if self.rng.below(3) == 0 {
                    let badge = self.rng.below(8);
                    self.invoke(CNODE, |t| {
                        caps::CNodeCapClient(t).mint(
                            to,
                            64,
                            caps::Slot::new(CNODE),
                            from,
                            64,
                            rights,
                            badge,
                        )
                    })
                } else {
                    self.invoke(CNODE, |t| {
                        caps::CNodeCapClient(t).copy(
                            to,
                            64,
                            caps::Slot::new(CNODE),
                            from,
                            64,
                            rights,
                        )
                    })
                };
                match (is_table(source), mapped(source)) {
                    (true, true) => self.counts.copy_mapped_table.count(r),
                    (true, false) => self.counts.copy_unmapped_table.count(r),
                    _ => self.counts.copy_other.count(r),
                };
                self.refresh();
            }

            fn unmap(&mut self) {
                let frame = self.pick(CapType::FrameCap, &[]);
                let r = self.invoke(frame, |t| caps::FrameCapClient(t).unmap());
                self.counts.unmap.count(r);
                self.refresh();
            }

            /// A slot to delete or revoke: the pool, now and then a child
            /// Untyped; never the caps the phase runs on (slots 0..5).
            fn victim(&mut self) -> u64 {
                match self.rng.below(10) {
                    0 => CHILDREN.start + self.rng.below(CHILDREN.end - CHILDREN.start),
                    1..=4 => {
                        let cap_type = [
                            CapType::Pml4Cap,
                            CapType::PageTableCap,
                            CapType::PageDirectoryCap,
                            CapType::PdptCap,
                            CapType::TcbCap,
                            CapType::FrameCap,
                            CapType::EndpointCap,
                            CapType::CNodeCap,
                        ][self.rng.below(8) as usize];
                        let slot = self.pick(cap_type, &[]);
                        if slot < CHILDREN.start {
                            self.pool_slot()
                        } else {
                            slot
                        }
                    }
                    _ => self.pool_slot(),
                }
            }

            fn delete(&mut self) {
                let at = self.victim();
                let r = caps::CNodeCapClient(self.env.cap(CNODE))
                    .delete(at, 64)
                    .map_err(capc_demo_user::Error::from);
                self.counts.delete.count(r);
                self.refresh_after_removal();
            }

            fn revoke(&mut self) {
                let at = self.victim();
                let r = caps::CNodeCapClient(self.env.cap(CNODE))
                    .revoke(at, 64)
                    .map_err(capc_demo_user::Error::from);
                self.counts.revoke.count(r);
                self.refresh_after_removal();
            }

            /// Revokes a child Untyped and retypes its memory again.
            fn revoke_child(&mut self) {
                let child = CHILDREN.start + self.rng.below(CHILDREN.end - CHILDREN.start);
                let r = caps::CNodeCapClient(self.env.cap(CNODE))
                    .revoke(child, 64)
                    .map_err(capc_demo_user::Error::from);
                self.counts.child_revoke.count(r);
                self.refresh_after_removal();
                for _ in 0..1 + self.rng.below(3) {
                    let kind = self.rng.below(TYPES.len() as u64) as usize;
                    let (_, size_arg) = TYPES[kind];
                    let offset = self.pool_slot();
                    let count = 1 + self.rng.below(3);
                    let r = self.retype_into(child, kind, size_arg, offset, count);
                    self.counts.retype[kind].count(r);
                }
            }

            /// Revokes the whole Untyped (every object of the phase goes)
            /// and makes the children again, over the same memory.
            fn revoke_all(&mut self) {
                let r = caps::CNodeCapClient(self.env.cap(CNODE))
                    .revoke(UNTYPED, 64)
                    .map_err(capc_demo_user::Error::from);
                self.counts.full_revoke.count(r);
                self.refresh_after_removal();
                self.make_children();
            }

            /// Refuses to invoke an endpoint: a call nobody answers would
            /// wait forever.
            fn guarded(&self, target: u64) -> Result<(), Error> {
                if cap_at(target).cap_type() == Some(CapType::EndpointCap) {
                    Err(Error::Syscall(SyscallStatus::InvalidCap))
                } else {
                    Ok(())
                }
            }

            /// A kernel invocation of the cap at `target`, never an
            /// endpoint.
            fn invoke<T>(
                &mut self,
                target: u64,
                call: impl FnOnce(
                    capc_demo_user::CapTransport<'_>,
                )
                    -> Result<T, capc_demo_user::InvocationError<caps::KernelError>>,
            ) -> Result<T, Error> {
                self.guarded(target)?;
                call(self.env.cap(target)).map_err(capc_demo_user::Error::from)
            }

            fn invoke_configure(
                &mut self,
                tcb: u64,
                cspace: u64,
                vspace: u64,
                buffer: u64,
                buffer_addr: u64,
            ) -> Result<(), Error> {
                self.invoke(tcb, |t| {
                    caps::TcbCapClient(t).configure(
                        caps::Slot::new(cspace),
                        caps::Slot::new(vspace),
                        caps::Slot::new(buffer),
                        buffer_addr,
                    )
                })
            }

            fn invoke_suspend(&mut self, tcb: u64) -> Result<(), Error> {
                self.invoke(tcb, |t| caps::TcbCapClient(t).suspend())
            }

            /// Leaves the kernel a state worth auditing and no thread that
            /// runs or waits: every TCB is suspended, and all but one are
            /// deleted (so the threads the demo starts later find room).
            /// That one is made afresh from a revoked child Untyped with a
            /// PML4 mapping a frame through a PDPT, a page directory and a
            /// page table; it is started as a helper that exits at once (so
            /// the scheduler knows it) and then configured into that PML4,
            /// so the audit after the fuzzer walks those tables.
            fn park(&mut self) {
                self.refresh();
                for slot in 0..TRACKED as u64 {
                    if TcbCap::from_cap(self.slots[slot as usize]).is_some() {
                        let _ = self.invoke_suspend(slot);
                        let _ = caps::CNodeCapClient(self.env.cap(CNODE))
                            .delete(slot, 64)
                            .map_err(capc_demo_user::Error::from);
                    }
                }
                let child = CHILDREN.start;
                let at = POOL.end - 8;
                for slot in at..POOL.end {
                    let _ = caps::CNodeCapClient(self.env.cap(CNODE))
                        .delete(slot, 64)
                        .map_err(capc_demo_user::Error::from);
                }
                let (tcb, buffer, pml4, frame) = (at, at + 1, at + 2, at + 6);
                let vaddr = USER_BASE + (1 << 39);
                let exit_at_once = capc_fuzz_receiver as *const () as u64;
                // Read before the resume: the helper may run and end before
                // the fuzzer runs again (a timer tick), and waiting for a
                // later end would wait forever.
                let ended = ENDED.load(Ordering::Acquire);
                if UntypedCap::from_cap(self.slots[child as usize]).is_none() {
                    self.revoke_all();
                }
                let r = caps::CNodeCapClient(self.env.cap(CNODE))
                    .revoke(child, 64)
                    .map_err(capc_demo_user::Error::from)
                    .and_then(|()| self.retype_into(child, 2, 0, tcb, 1))
                    .and_then(|()| self.retype_into(child, 5, 12, buffer, 1))
                    .and_then(|()| self.retype_into(child, 6, 0, pml4, 1))
                    .and_then(|()| self.retype_into(child, 7, 0, at + 3, 1))
                    .and_then(|()| self.retype_into(child, 8, 0, at + 4, 1))
                    .and_then(|()| self.retype_into(child, 9, 0, at + 5, 1))
                    .and_then(|()| self.retype_into(child, 5, 12, frame, 1))
                    .and_then(|()| {
                        self.invoke(at + 3, |t| {
                            caps::PdptCapClient(t).map(caps::Slot::new(pml4), vaddr)
                        })
                    })
                    .and_then(|()| {
                        self.invoke(at + 4, |t| {
                            caps::PageDirectoryCapClient(t).map(caps::Slot::new(pml4), vaddr)
                        })
                    })
                    .and_then(|()| {
                        self.invoke(at + 5, |t| {
                            caps::PageTableCapClient(t).map(caps::Slot::new(pml4), vaddr)
                        })
                    })
                    .and_then(|()| {
                        let rights = Rights::READ.union(Rights::WRITE).bits();
                        self.invoke(frame, |t| {
                            caps::FrameCapClient(t).map(caps::Slot::new(pml4), vaddr, rights)
                        })
                    })
                    .and_then(|()| {
                        self.invoke_configure(tcb, CNODE, ROOT_PML4, buffer, ROOT_STACK_TOP)
                    })
                    .and_then(|()| {
                        // Slot 0 is empty: the helper's receive fails and it exits.
                        self.invoke(tcb, |t| {
                            caps::TcbCapClient(t).write_registers(exit_at_once, 0, 0)
                        })
                    })
                    .and_then(|()| self.invoke(tcb, |t| caps::TcbCapClient(t).resume()))
                    .and_then(|()| {
                        while ENDED.load(Ordering::Acquire) == ended {
                            yield_now();
                        }
                        self.invoke_configure(tcb, CNODE, pml4, buffer, ROOT_STACK_TOP)
                    });
                self.refresh();
                let _ = writeln!(
                    self.env,
                    "fuzz: parked for the audit: an exited thread in a PML4 of the fuzzer mapping a frame at {vaddr:#x} through three tables: {}",
                    super::super::outcome(r)
                );
                self.parked = r.is_ok();
            }

            fn report(&mut self) {
                let c = &self.counts;
                let env = &mut *self.env;
                let _ = write!(env, "fuzz: lifecycle: {STEPS} steps; retype");
                for ((object_type, _), tally) in TYPES.iter().zip(c.retype.iter()) {
                    let _ = write!(env, " {object_type:?} {}/{}", tally.ok, tally.tried);
                }
                let _ = writeln!(env);
                let _ = writeln!(
                    env,
                    "fuzz: configure: {} ({} of {} with caps of the right types)",
                    c.configure, c.configure_valid.ok, c.configure_valid.tried
                );
                let _ = writeln!(env, "fuzz: fault handler: {}", c.fault_handler);
                let _ = writeln!(
                    env,
                    "fuzz: threads: resume {}, suspend {}, signal {}; helpers received {}, sent {}, ended {}",
                    c.resume,
                    c.suspend,
                    c.signal,
                    RECEIVED.load(Ordering::Relaxed),
                    SENT.load(Ordering::Relaxed),
                    ENDED.load(Ordering::Relaxed)
                );
                let _ = writeln!(
                    env,
                    "fuzz: map: frames {}, tables {}; unmap {}; chains {}; address spaces numbered {}",
                    c.map_frame, c.map_table, c.unmap, c.chain, c.assign
                );
                let _ = writeln!(
                    env,
                    "fuzz: ipc: steps {}; messages delivered {} (calls answered {}), cancelled waits {}",
                    c.ipc,
                    RECEIVED.load(Ordering::Relaxed),
                    ANSWERED.load(Ordering::Relaxed),
                    c.cancelled_waits
                );
                let _ = writeln!(
                    env,
                    "fuzz: copy: mapped tables {}, unmapped tables {}, other caps {}",
                    c.copy_mapped_table, c.copy_unmapped_table, c.copy_other
                );
                let _ = writeln!(
                    env,
                    "fuzz: remove: delete {}, revoke {}; removed while mapped: {} frames, {} tables; {} PML4s with mappings, {} configured TCBs",
                    c.delete,
                    c.revoke,
                    c.removed_mapped_frames,
                    c.removed_mapped_tables,
                    c.removed_pml4s_with_mappings,
                    c.removed_configured_tcbs
                );
                let _ = writeln!(
                    env,
                    "fuzz: reuse: {} retypes into memory that held other objects; child Untyped revokes {}, full revokes {}",
                    c.reused, c.child_revoke, c.full_revoke
                );
                let _ = writeln!(env, "fuzz: audits during the lifecycle steps: {}", c.audits);
            }
        }
    }

    fn error_name(error: KernelError) -> &'static str {
        match error {
            KernelError::InvalidArgument { .. } => "InvalidArgument",
            KernelError::InvalidCapability { .. } => "InvalidCapability",
            KernelError::IllegalOperation => "IllegalOperation",
            KernelError::RangeError { .. } => "RangeError",
            KernelError::AlignmentError => "AlignmentError",
            KernelError::FailedLookup { .. } => "FailedLookup",
            KernelError::TruncatedMessage => "TruncatedMessage",
            KernelError::DeleteFirst => "DeleteFirst",
            KernelError::RevokeFirst => "RevokeFirst",
            KernelError::NotEnoughMemory { .. } => "NotEnoughMemory",
        }
    }
}

/// Tasks: programs of the boot image started in an address space and a
/// CSpace of their own, every object of which the root retypes from its
/// Untyped (it pays for them): a CNode, a PML4 and its page tables, the
/// frames of the image, a stack and an IPC buffer, and a TCB. The root
/// writes each image page through a scratch mapping of its own, then maps a
/// copy of the frame cap into the task.
mod spawn {
    use core::fmt::Write;
    use core::sync::atomic::Ordering;

    use capc_demo_user::abi::{
        ROOT_ASID_CONTROL_SLOT, ROOT_ASID_POOL_SLOT, ROOT_IPC_BUFFER, ROOT_STACK_TOP,
        ROOT_TCB_SLOT, ROOT_VSPACE_SLOT, USER_BASE,
    };
    use capc_demo_user::bootimage::{BootImage, HEADER_BYTES};
    use capc_demo_user::caps::UntypedCap;
    use capc_demo_user::caps::{self, MessageInfo, ObjectType, Rights};
    use capc_demo_user::decompress::DecompressorClient;
    use capc_demo_user::loader::{self, Machine};
    use capc_demo_user::system::{
        self,
        boot::{Domain, client_pays, server_pays},
    };
    use capc_demo_user::{EndpointTransport, Env, Error, attack, task};

    /// Where the root maps the frames it fills for a task.
    const SCRATCH: u64 = 0x0000_00d0_0000_0000;
    /// log2 of a task's CNode slots; its cap's guard takes the other bits.
    const TASK_RADIX: u64 = task::RADIX;
    /// Stack pages of a task.
    const STACK_PAGES: u64 = 16;
    /// log2 of the Untyped each task gets as its budget: 1 MiB.
    const TASK_BUDGET_BITS: u64 = 20;
    /// The label a task calls the root with.
    const HELLO: u64 = 7;

    /// The root's free slots, handed out in order.
    struct Slots(u64);

    impl Slots {
        fn take(&mut self) -> u64 {
            self.0 += 1;
            self.0 - 1
        }
    }

    /// An address space being filled: its PML4's slot, and the tables made
    /// so far (the level's entry size in bits and the region's start).
    struct Space {
        pml4: u64,
        tables: [(u32, u64); 16],
        count: usize,
    }

    impl Space {
        fn has(&self, bits: u32, region: u64) -> bool {
            self.tables[..self.count].contains(&(bits, region))
        }
    }

    /// What a task cost its parent, in objects and bytes.
    struct Bill {
        /// The Untyped that pays.
        untyped: u64,
        /// The task's TCB (a slot of the root).
        tcb: u64,
        frames: u64,
        tables: u64,
        bytes: u64,
    }

    impl Bill {
        fn paid_by(untyped: u64) -> Bill {
            Bill {
                untyped,
                tcb: 0,
                frames: 0,
                tables: 0,
                bytes: 0,
            }
        }
    }

    /// One object retyped from the Untyped that pays `bill`.
    fn retype(
        env: &mut Env,
        object: ObjectType,
        size_arg: u64,
        slot: u64,
        bill: &mut Bill,
    ) -> Result<(), Error> {
        super::retype(env, bill.untyped, object, size_arg, slot, 1)?;
        bill.bytes += 1 << object.size_bits(size_arg).unwrap_or(0);
        Ok(())
    }

    /// Makes the page tables `space` lacks on the way to `vaddr`.
    fn ensure_tables(
        env: &mut Env,
        space: &mut Space,
        slots: &mut Slots,
        vaddr: u64,
        bill: &mut Bill,
    ) -> Result<(), Error> {
        for (bits, object) in [
            (39, ObjectType::Pdpt),
            (30, ObjectType::PageDirectory),
            (21, ObjectType::PageTable),
        ] {
            let region = vaddr & !((1u64 << bits) - 1);
            if space.has(bits, region) {
                continue;
            }
            let table = slots.take();
            retype(env, object, 0, table, bill)?;
            let pml4 = space.pml4;
            capc_demo_user::map_table(env, table, object, caps::Slot::new(pml4), region)?;
            bill.tables += 1;
            space.tables[space.count] = (bits, region);
            space.count += 1;
        }
        Ok(())
    }

    fn map(
        env: &mut Env,
        frame: u64,
        space: &Space,
        vaddr: u64,
        writable: bool,
    ) -> Result<(), Error> {
        let rights = if writable {
            Rights::READ.union(Rights::WRITE)
        } else {
            Rights::READ
        };
        let pml4 = space.pml4;
        caps::FrameCapClient(env.cap(frame))
            .map(caps::Slot::new(pml4), vaddr, rights.bits())
            .map_err(capc_demo_user::Error::from)
    }

    /// A new frame holding `bytes` at `offset` (the rest zero), mapped at
    /// `vaddr` in `task`; filled through the root's scratch mapping at
    /// `scratch`.
    #[allow(clippy::too_many_arguments)]
    fn frame_for(
        env: &mut Env,
        slots: &mut Slots,
        root: &mut Space,
        task: &mut Space,
        scratch: u64,
        (vaddr, writable): (u64, bool),
        (offset, bytes): (usize, &[u8]),
        bill: &mut Bill,
    ) -> Result<(), Error> {
        let (frame, copy) = (slots.take(), slots.take());
        retype(env, ObjectType::Frame, 12, frame, bill)?;
        bill.frames += 1;
        // The root's scratch tables are the root's own, not the task's.
        let root_pays = super::UNTYPED.load(Ordering::Relaxed);
        ensure_tables(env, root, slots, scratch, &mut Bill::paid_by(root_pays))?;
        map(env, frame, root, scratch, true)?;
        // SAFETY: the frame was just made (zeroed) and mapped writable at
        // `scratch` in this address space; nothing else uses it.
        let page = unsafe { core::slice::from_raw_parts_mut(scratch as *mut u8, 4096) };
        page[offset..offset + bytes.len()].copy_from_slice(bytes);
        // A copy of the cap is not mapped: it can be mapped in the task.
        super::copy(env, frame, copy, Rights::ALL)?;
        ensure_tables(env, task, slots, vaddr, bill)?;
        map(env, copy, task, vaddr, writable)
    }

    /// Fills the address space `task` with `image`'s loadable segments, a
    /// stack of `stack_pages` pages and an IPC buffer, paid from the
    /// Untyped of `bill`. Returns the program's entry and the root's slot
    /// of the IPC buffer's frame (the copy mapped in the task).
    #[allow(clippy::too_many_arguments)]
    fn load_image(
        env: &mut Env,
        slots: &mut Slots,
        root: &mut Space,
        task: &mut Space,
        image: &[u8],
        next_scratch: &mut u64,
        bill: &mut Bill,
        stack_pages: u64,
    ) -> Result<(u64, u64), Error> {
        use elf::ElfBytes;
        use elf::abi::{PF_W, PT_LOAD};
        use elf::endian::LittleEndian;
        let bad = Error::Invocation(caps::InvocationError::Malformed(MessageInfo {
            label: 0,
            length: 0,
            caps: 0,
        }));
        let file = ElfBytes::<LittleEndian>::minimal_parse(image).map_err(|_| bad)?;
        let segments = file.segments().ok_or(bad)?;
        // Pages made so far: (task address, scratch address), since two
        // segments may share a page.
        let mut pages = [(0u64, 0u64); 48];
        let mut made = 0;
        for segment in segments.iter().filter(|s| s.p_type == PT_LOAD) {
            let data = image
                .get(segment.p_offset as usize..(segment.p_offset + segment.p_filesz) as usize)
                .ok_or(bad)?;
            let mut page = segment.p_vaddr & !0xfff;
            while page < segment.p_vaddr + segment.p_memsz {
                let lo = page.max(segment.p_vaddr);
                let hi = (page + 4096).min(segment.p_vaddr + segment.p_filesz);
                let bytes = if lo < hi {
                    &data[(lo - segment.p_vaddr) as usize..(hi - segment.p_vaddr) as usize]
                } else {
                    &[][..]
                };
                let offset = (lo - page) as usize;
                match pages[..made].iter().find(|(v, _)| *v == page) {
                    Some(&(_, scratch)) => {
                        // SAFETY: mapped writable by the root when the page
                        // was made, and only the root uses the scratch area.
                        let target =
                            unsafe { core::slice::from_raw_parts_mut(scratch as *mut u8, 4096) };
                        target[offset..offset + bytes.len()].copy_from_slice(bytes);
                    }
                    None => {
                        let scratch = *next_scratch;
                        *next_scratch += 4096;
                        let writable = segment.p_flags & PF_W != 0;
                        frame_for(
                            env,
                            slots,
                            root,
                            task,
                            scratch,
                            (page, writable),
                            (offset, bytes),
                            bill,
                        )?;
                        *pages.get_mut(made).ok_or(bad)? = (page, scratch);
                        made += 1;
                    }
                }
                page += 4096;
            }
        }
        for n in 1..=stack_pages {
            let scratch = *next_scratch;
            *next_scratch += 4096;
            frame_for(
                env,
                slots,
                root,
                task,
                scratch,
                (ROOT_STACK_TOP - n * 4096, true),
                (0, &[]),
                bill,
            )?;
        }
        let scratch = *next_scratch;
        *next_scratch += 4096;
        let buffer = slots.0 + 1; // the copy `frame_for` maps in the task
        frame_for(
            env,
            slots,
            root,
            task,
            scratch,
            (ROOT_IPC_BUFFER, true),
            (0, &[]),
            bill,
        )?;
        Ok((file.ehdr.e_entry, buffer))
    }

    /// What a task gets in its CSpace: `(task slot, root slot, rights,
    /// badge)` minted from the root's caps.
    pub type Grant = (u64, u64, Rights, u64);

    /// Loads `image` into a new address space and CSpace (of `2^radix`
    /// slots) paid from a new Untyped of `2^budget_bits` bytes, puts the
    /// `grants` and, in the
    /// slots of `capc_demo_user::task`, its own CNode and PML4 and what is
    /// left of the budget into its CSpace, and starts it with `arg`.
    #[allow(clippy::too_many_arguments)]
    fn start(
        env: &mut Env,
        slots: &mut Slots,
        root: &mut Space,
        image: &[u8],
        arg: u64,
        grants: &[Grant],
        (from, budget_bits, radix): (u64, u64, u64),
        next_scratch: &mut u64,
        pool_at: Option<u64>,
    ) -> Result<Bill, Error> {
        // The task's budget: an Untyped of its own, from which everything
        // it is made of is retyped; what is left stays the task's.
        let budget = slots.take();
        super::retype(env, from, ObjectType::Untyped, budget_bits, budget, 1)?;
        let mut bill = Bill::paid_by(budget);
        let (cnode, guarded, pml4, tcb) = (slots.take(), slots.take(), slots.take(), slots.take());
        retype(env, ObjectType::CNode, radix, cnode, &mut bill)?;
        super::mint(env, cnode, guarded, Rights::ALL, 64 - radix)?;
        retype(env, ObjectType::Pml4, 0, pml4, &mut bill)?;
        // Its number, from the root's ASID pool: nothing maps into it before.
        caps::AsidPoolCapClient(env.cap(ROOT_ASID_POOL_SLOT)).assign(caps::Slot::new(pml4))?;
        // For a task that makes address spaces, an ASID pool of its own,
        // from 4 KiB of its budget (only the root holds the ASID-control
        // cap that makes pools), into its slot `pool_at`.
        let pool = match pool_at {
            Some(at) => {
                let (memory, pool) = (slots.take(), slots.take());
                retype(env, ObjectType::Untyped, 12, memory, &mut bill)?;
                caps::AsidControlCapClient(env.cap(ROOT_ASID_CONTROL_SLOT)).make_pool(
                    caps::Slot::new(memory),
                    capc_demo_user::ROOT_CNODE,
                    pool,
                    64,
                )?;
                Some((at, pool, Rights::ALL, 0))
            }
            None => None,
        };
        let own = [
            // The guard word again: a mint sets a CNode cap's guard from its
            // word (seL4's updateCapData), and 0 would take it off.
            (task::SELF, guarded, Rights::ALL, 64 - radix),
            (task::VSPACE, pml4, Rights::ALL, 0),
        ];
        for &(at, from, rights, badge) in grants.iter().chain(&own).chain(pool.iter()) {
            caps::CNodeCapClient(env.cap(cnode)).mint(
                at,
                radix,
                capc_demo_user::ROOT_CNODE,
                from,
                64,
                rights.bits(),
                badge,
            )?;
        }
        // The task's pool is the task's alone: with the root's cap gone,
        // the task's is the last, and deleting it frees the pool's numbers.
        if let Some((_, pool, _, _)) = pool {
            super::delete(env, pool)?;
        }
        let mut task = Space {
            pml4,
            tables: [(0, 0); 16],
            count: 0,
        };

        let (entry, buffer) = load_image(
            env,
            slots,
            root,
            &mut task,
            image,
            next_scratch,
            &mut bill,
            STACK_PAGES,
        )?;
        retype(env, ObjectType::Tcb, 0, tcb, &mut bill)?;
        bill.tcb = tcb;
        caps::TcbCapClient(env.cap(tcb)).configure(
            caps::Slot::new(guarded),
            caps::Slot::new(pml4),
            caps::Slot::new(buffer),
            ROOT_IPC_BUFFER,
        )?;
        caps::TcbCapClient(env.cap(tcb)).write_registers(entry, ROOT_STACK_TOP, arg)?;
        // What is left of the budget is the task's: its cap goes to the
        // task's slot 2 (the objects made from it stay its children).
        caps::CNodeCapClient(env.cap(cnode)).r#move(
            task::BUDGET,
            radix,
            capc_demo_user::ROOT_CNODE,
            budget,
            64,
        )?;
        caps::TcbCapClient(env.cap(tcb)).resume()?;
        Ok(bill)
    }

    /// The boot image the kernel mapped at `boot_image`, if it is one.
    fn boot_image(boot_image: u64) -> Option<BootImage<'static>> {
        // SAFETY: the kernel mapped the whole boot image there, read-only;
        // its header says how long it is.
        let header = unsafe { core::slice::from_raw_parts(boot_image as *const u8, HEADER_BYTES) };
        let len = BootImage::total_len(header).ok()?;
        // SAFETY: as above, for the length the header gives.
        let bytes = unsafe { core::slice::from_raw_parts(boot_image as *const u8, len) };
        BootImage::parse(bytes).ok()
    }

    /// What starting tasks needs: the root's free slots, its address space
    /// and the next scratch page.
    struct Starter {
        /// The Untyped the tasks' budgets are retyped from.
        untyped: u64,
        slots: Slots,
        root: Space,
        scratch: u64,
        image: BootImage<'static>,
        /// log2 of the slots of the next task's CNode.
        radix: u64,
        /// The slot of the next task's CNode that gets an ASID pool made
        /// from its budget, if it makes address spaces.
        pool_at: Option<u64>,
    }

    impl Starter {
        fn new(boot_image_at: u64, base: u64) -> Option<Starter> {
            // The root's own address space: the kernel made the table for
            // its first 512 GiB of user space.
            let mut root = Space {
                pml4: ROOT_VSPACE_SLOT,
                tables: [(0, 0); 16],
                count: 1,
            };
            root.tables[0] = (39, USER_BASE);
            Some(Starter {
                untyped: super::UNTYPED.load(Ordering::Relaxed),
                slots: Slots(base),
                root,
                scratch: SCRATCH,
                image: boot_image(boot_image_at)?,
                pool_at: None,
                radix: TASK_RADIX,
            })
        }

        /// Starts the program `name` with `arg` and `grants` in a budget of
        /// `2^budget_bits` bytes; prints what it took.
        fn start(
            &mut self,
            env: &mut Env,
            name: &str,
            arg: u64,
            grants: &[Grant],
            budget_bits: u64,
        ) -> Result<u64, Error> {
            let bad = Error::Invocation(caps::InvocationError::Malformed(MessageInfo {
                label: 0,
                length: 0,
                caps: 0,
            }));
            let program = self.image.find(name).ok_or(bad)?;
            let bill = start(
                env,
                &mut self.slots,
                &mut self.root,
                program,
                arg,
                grants,
                (self.untyped, budget_bits, self.radix),
                &mut self.scratch,
                self.pool_at,
            )?;
            let _ = writeln!(
                env,
                "root: started {name} {arg:#x} from the boot image in a budget of {} KiB: its CNode, PML4, {} page tables, {} frames{} and TCB took {} bytes of it; the rest is the task's",
                (1u64 << budget_bits) / 1024,
                bill.tables,
                bill.frames,
                if self.pool_at.is_some() {
                    ", ASID pool"
                } else {
                    ""
                },
                bill.bytes
            );
            Ok(bill.tcb)
        }

        fn take(&mut self) -> u64 {
            self.slots.take()
        }
    }

    /// Starts three tasks from the boot image at `boot_image` (slots from
    /// `base` on): one that calls the root, one that touches kernel memory
    /// and one that touches memory mapped only in the root. Then runs the
    /// decompression service twice (`service`) and the session services
    /// twice (`sessions`). The number of failures.
    pub fn run(env: &mut Env, boot_image: u64, base: u64) -> u64 {
        let Some(mut starter) = Starter::new(boot_image, base) else {
            let _ = writeln!(env, "root: the boot image is not readable (WRONG)");
            return 1;
        };
        let endpoint = starter.take();
        let untyped = super::UNTYPED.load(Ordering::Relaxed);
        if let Err(error) = super::retype(env, untyped, ObjectType::Endpoint, 0, endpoint, 1) {
            let _ = writeln!(
                env,
                "root: retype an endpoint for the tasks: {error} (WRONG)"
            );
            return 1;
        }
        let mut failures = 0;
        for arg in 0..3 {
            // Write to call, grant-reply to be answered (as in seL4, a call
            // through a cap with neither grant right gets no reply).
            let rights = Rights::WRITE.union(Rights::GRANT_REPLY);
            let grants = [(task::ENDPOINT, endpoint, rights, 0)];
            if let Err(error) = starter.start(env, "task", arg, &grants, TASK_BUDGET_BITS) {
                let _ = writeln!(env, "root: starting task {arg} failed: {error} (WRONG)");
                failures += 1;
                continue;
            }
            if arg == 0 {
                failures += answer_task_zero(env, endpoint);
            }
            for _ in 0..3 {
                capc_demo_user::yield_now();
            }
        }
        failures += service(env, &mut starter);
        failures += sessions::run(env, &mut starter);
        failures += run_attacks(env, &mut starter);
        // The attacks flooded the kernel with threads and address spaces
        // from their own budget: a new task (a new address space, numbered
        // from the root's pool, and a new thread) still starts and calls.
        let rights = Rights::WRITE.union(Rights::GRANT_REPLY);
        let grants = [(task::ENDPOINT, endpoint, rights, 0)];
        if let Err(error) = starter.start(env, "task", 0, &grants, TASK_BUDGET_BITS) {
            let _ = writeln!(
                env,
                "root: starting task 0 after the attacks failed: {error} (WRONG)"
            );
            return failures + 1;
        }
        let _ = writeln!(env, "root: after the attacks, task 0 starts again");
        failures + answer_task_zero(env, endpoint)
    }

    /// Receives task 0's call on `endpoint` and answers it with the word it
    /// sent plus one. The number of failures.
    fn answer_task_zero(env: &mut Env, endpoint: u64) -> u64 {
        match env.recv(endpoint) {
            Ok(m) if m.info.label == HELLO && m.info.length == 1 => {
                let answer = m.words[0] + 1;
                let _ = writeln!(
                    env,
                    "root: task 0 called with {}; answering {answer}",
                    m.words[0]
                );
                let reply = MessageInfo {
                    label: 0,
                    length: 1,
                    caps: 0,
                };
                u64::from(env.reply(reply, &[answer]).is_err())
            }
            other => {
                let _ = writeln!(env, "root: waiting for task 0: {other:?} (WRONG)");
                1
            }
        }
    }

    /// log2 of the attack program's budget: 8 MiB (of which its
    /// address-space flood takes 1 MiB, aligned, and each of its 13
    /// attacks 96 KiB more: the budget's watermark only goes back once
    /// none of its objects is left, and its own CNode, tables and pool
    /// stay).
    const ATTACK_BUDGET_BITS: u64 = 23;

    /// Starts the `attack` program, which holds only what every task holds
    /// (and a device Untyped of 4 KiB for its last attack), and waits for
    /// it to say it is done. The number of failures.
    fn run_attacks(env: &mut Env, starter: &mut Starter) -> u64 {
        let untyped = super::UNTYPED.load(Ordering::Relaxed);
        starter.untyped = untyped;
        let (done, device) = (starter.take(), starter.take());
        let first = super::FIRST_UNTYPED.load(Ordering::Relaxed);
        let count = super::UNTYPED_COUNT.load(Ordering::Relaxed);
        let from = (first..first + count).find(|&slot| {
            UntypedCap::from_cap(capc_demo_user::cap_at(slot))
                .is_some_and(|u| u.is_device() && u64::from(u.bits()) > attack::DEVICE_BITS)
        });
        let made =
            super::retype(env, untyped, ObjectType::Notification, 0, done, 1).and_then(|()| {
                let from = from.ok_or(Error::Syscall(capc_demo_user::SyscallStatus::InvalidCap))?;
                super::retype(
                    env,
                    from,
                    ObjectType::Untyped,
                    attack::DEVICE_BITS,
                    device,
                    1,
                )
            });
        if let Err(error) = made {
            let _ = writeln!(
                env,
                "root: making the attack program's notification and device Untyped: {error} (WRONG)"
            );
            return 1;
        }
        let grants = [
            (task::NOTIFY, done, Rights::WRITE, 1),
            (attack::DEVICE, device, Rights::ALL, 0),
        ];
        // Its own ASID pool comes from its budget.
        (starter.radix, starter.pool_at) = (attack::RADIX, Some(attack::ASID_POOL));
        let started = starter.start(env, "attack", 0, &grants, ATTACK_BUDGET_BITS);
        (starter.radix, starter.pool_at) = (TASK_RADIX, None);
        if let Err(error) = started {
            let _ = writeln!(
                env,
                "root: starting the attack program failed: {error} (WRONG)"
            );
            return 1;
        }
        match env.wait(done) {
            Ok(_) => {
                let _ = writeln!(env, "root: the attack program is done");
                0
            }
            Err(error) => {
                let _ = writeln!(env, "root: waiting for the attack program: {error} (WRONG)");
                1
            }
        }
    }

    /// The root's [`Machine`] for a boot plan: each step one kernel
    /// invocation through the generated stubs; `Load` fills an address
    /// space as [`start`] does, paid from the domain's budget.
    struct PlanMachine<'a> {
        env: &'a mut Env,
        starter: &'a mut Starter,
        /// The Untyped every budget and shared object of the plan is made
        /// from.
        pool: u64,
        /// The argument each domain's program starts with.
        args: [u64; DOMAINS],
        /// Each domain's address space once loaded: its PML4's slot, its
        /// IPC buffer frame's slot and its program's entry.
        loaded: [(u64, u64, u64); DOMAINS],
    }

    /// The domains of the demo's systems (both have the same).
    const DOMAINS: usize = client_pays::PLAN.domains.len();
    const _: () = assert!(server_pays::PLAN.domains.len() == DOMAINS);

    /// A step the root cannot make (an unknown program or object type).
    const MALFORMED: Error = Error::Invocation(caps::InvocationError::Malformed(MessageInfo {
        label: 0,
        length: 0,
        caps: 0,
    }));

    impl Machine for PlanMachine<'_> {
        type Error = Error;

        fn retype(
            &mut self,
            from: Option<u64>,
            object: system::ObjectType,
            arg: u64,
            to: u64,
        ) -> Result<(), Error> {
            super::retype(self.env, from.unwrap_or(self.pool), object, arg, to, 1)
        }

        fn watermark(&mut self, from: Option<u64>) -> Option<u64> {
            let cap = capc_demo_user::cap_at(from.unwrap_or(self.pool));
            UntypedCap::from_cap(cap).map(|u| u.free_index() * 16)
        }

        fn mint(
            &mut self,
            (cnode, radix, index): (u64, u32, u64),
            from: u64,
            rights: u64,
            badge: u64,
        ) -> Result<(), Error> {
            caps::CNodeCapClient(self.env.cap(cnode))
                .mint(
                    index,
                    radix.into(),
                    capc_demo_user::ROOT_CNODE,
                    from,
                    64,
                    rights,
                    badge,
                )
                .map_err(capc_demo_user::Error::from)
        }

        fn guard(&mut self, from: u64, to: u64, guard_bits: u32) -> Result<(), Error> {
            super::mint(self.env, from, to, Rights::ALL, guard_bits.into())
        }

        fn load(
            &mut self,
            which: usize,
            domain: &Domain,
            budget: u64,
            cnode: u64,
        ) -> Result<(), Error> {
            let starter = &mut *self.starter;
            let image = starter.image.find(domain.program).ok_or(MALFORMED)?;
            let mut bill = Bill::paid_by(budget);
            let pml4 = starter.slots.take();
            retype(self.env, ObjectType::Pml4, 0, pml4, &mut bill)?;
            caps::AsidPoolCapClient(self.env.cap(ROOT_ASID_POOL_SLOT))
                .assign(caps::Slot::new(pml4))?;
            let mut space = Space {
                pml4,
                tables: [(0, 0); 16],
                count: 0,
            };
            let (entry, buffer) = load_image(
                self.env,
                &mut starter.slots,
                &mut starter.root,
                &mut space,
                image,
                &mut starter.scratch,
                &mut bill,
                domain.stack / 4096,
            )?;
            let at = (cnode, domain.radix, domain.vspace);
            self.mint(at, pml4, Rights::ALL.bits(), 0)?;
            *self.loaded.get_mut(which).ok_or(MALFORMED)? = (pml4, buffer, entry);
            let _ = writeln!(
                self.env,
                "root: loaded {} for domain {} from its plan: its PML4, {} page tables and {} frames took {} bytes of its budget",
                domain.program, domain.name, bill.tables, bill.frames, bill.bytes
            );
            Ok(())
        }

        fn move_cap(
            &mut self,
            (cnode, radix, index): (u64, u32, u64),
            from: u64,
        ) -> Result<(), Error> {
            caps::CNodeCapClient(self.env.cap(cnode))
                .r#move(index, radix.into(), capc_demo_user::ROOT_CNODE, from, 64)
                .map_err(capc_demo_user::Error::from)
        }

        fn start(
            &mut self,
            which: usize,
            domain: &Domain,
            tcb: u64,
            cspace_root: u64,
        ) -> Result<(), Error> {
            let (pml4, buffer, entry) = *self.loaded.get(which).ok_or(MALFORMED)?;
            let arg = self.args[which];
            let env = &mut *self.env;
            caps::TcbCapClient(env.cap(tcb)).configure(
                caps::Slot::new(cspace_root),
                caps::Slot::new(pml4),
                caps::Slot::new(buffer),
                ROOT_IPC_BUFFER,
            )?;
            caps::TcbCapClient(env.cap(tcb)).write_registers(entry, ROOT_STACK_TOP, arg)?;
            super::set_priority(env, tcb, domain.priority.into())?;
            caps::TcbCapClient(env.cap(tcb))
                .resume()
                .map_err(capc_demo_user::Error::from)
        }
    }

    /// The decompression service, run twice, each time booted from its
    /// description (kernel-demo/spec/client_pays.cap) by the generic
    /// loader: first the client pays (the server allocates only from each
    /// caller's donation, through the generated budget), then, as a
    /// control, the server pays from its own memory. Each time a good client
    /// makes three requests while two clients send decompression bombs.
    /// The number of failures.
    fn service(env: &mut Env, starter: &mut Starter) -> u64 {
        // The badges of the clients' `dec` slots in the description: the
        // server's accounting and the clients' lines name them.
        const GOOD: u64 = 1;
        const BOMBERS: [u64; 2] = [2, 3];
        let mut failures = 0;
        let mut outcome = [[false; 3]; 2];
        let runs = [
            (
                "the client pays",
                &client_pays::PLAN,
                client_pays::decompressor::DOMAIN,
                [
                    client_pays::client::DOMAIN,
                    client_pays::bomber1::DOMAIN,
                    client_pays::bomber2::DOMAIN,
                ],
            ),
            (
                "the server pays (control run)",
                &server_pays::PLAN,
                server_pays::decompressor::DOMAIN,
                [
                    server_pays::client::DOMAIN,
                    server_pays::bomber1::DOMAIN,
                    server_pays::bomber2::DOMAIN,
                ],
            ),
        ];
        // Where each run's plan leaves its objects (the same in both).
        const _: () = assert!(
            client_pays::objects::DEC_EP == server_pays::objects::DEC_EP
                && client_pays::objects::DONE == server_pays::objects::DONE
                && client_pays::objects::GO == server_pays::objects::GO
        );
        for (mode, (name, plan, server, clients)) in runs.into_iter().enumerate() {
            let _ = writeln!(env, "root: decompression service, {name}");
            // Each run's plan is paid from an unused Untyped of its own, at
            // least as large as its pool (the plan's offsets are from the
            // Untyped's start, which a larger Untyped's alignment keeps
            // aligned; the boot image's size decides which sizes are left).
            let pool = (super::FIRST_UNTYPED.load(Ordering::Relaxed)..)
                .take(super::UNTYPED_COUNT.load(Ordering::Relaxed) as usize)
                .filter(|&slot| slot != super::UNTYPED.load(Ordering::Relaxed))
                .find(|&slot| {
                    UntypedCap::from_cap(capc_demo_user::cap_at(slot)).is_some_and(|u| {
                        !u.is_device()
                            && u32::from(u.bits()) >= plan.pool_bits
                            && u.free_index() == 0
                    })
                });
            let Some(pool) = pool else {
                let _ = writeln!(
                    env,
                    "root: no free Untyped of 2^{} bytes or more for the plan of {} (WRONG)",
                    plan.pool_bits, plan.name
                );
                return failures + 1;
            };
            let base = starter.slots.0;
            starter.slots.0 += plan.slots;
            let mut args = [0; DOMAINS];
            args[server] = mode as u64;
            for (&d, (id, role)) in
                clients
                    .iter()
                    .zip([(GOOD, 0), (BOMBERS[0], 1), (BOMBERS[1], 1)])
            {
                args[d] = role | id << 8;
            }
            // Above every domain while the plan boots, as capDL's loader
            // starts threads only once everything is made: no domain runs
            // before the whole system is there, and the boot's time is the
            // loader's alone.
            let above = plan.domains.iter().map(|d| d.priority).max().unwrap_or(0);
            let raised = super::set_priority(env, ROOT_TCB_SLOT, u64::from(above) + 1);
            let start = capc_demo_user::rdtsc();
            let booted = raised.map(|()| {
                loader::boot(
                    plan,
                    base,
                    &mut PlanMachine {
                        env: &mut *env,
                        starter: &mut *starter,
                        pool,
                        args,
                        loaded: [(0, 0, 0); DOMAINS],
                    },
                )
            });
            let ticks = capc_demo_user::rdtsc() - start;
            // Back to the root's own priority: the domains run.
            let lowered = super::set_priority(env, ROOT_TCB_SLOT, 0);
            match (booted, lowered) {
                (Ok(Ok(())), Ok(())) => {}
                (Ok(Err(error)), _) => {
                    let _ = writeln!(
                        env,
                        "root: booting {} from its plan failed at step {}: {:?} (WRONG)",
                        plan.name, error.step, error.kind
                    );
                    return failures + 1;
                }
                (Err(error), _) | (_, Err(error)) => {
                    let _ = writeln!(
                        env,
                        "root: setting the root's priority around the boot: {error} (WRONG)"
                    );
                    return failures + 1;
                }
            }
            let _ = writeln!(
                env,
                "root: booted {} from its plan: {} steps, {} domains, in {ticks} time-stamp ticks",
                plan.name,
                plan.steps.len(),
                plan.domains.len()
            );
            let endpoint = base + client_pays::objects::DEC_EP;
            let done = base + client_pays::objects::DONE;
            let go = base + client_pays::objects::GO;
            let server_tcb = plan.domains[server]
                .objects
                .iter()
                .find(|o| o.object == system::ObjectType::Tcb)
                .map(|o| base + o.slot);
            // A signal carries its cap's badge: an unbadged one sets no bit.
            let go_signal = starter.take();
            if super::mint(env, go, go_signal, Rights::WRITE, 1).is_err() {
                let _ = writeln!(env, "root: minting the go-ahead failed (WRONG)");
                return failures + 1;
            }
            // Once both bombs are on their way, the good client sends its
            // other two requests; then every client reports (done or failed).
            let mut bits = 0u64;
            let sending = BOMBERS
                .iter()
                .map(|id| 1 << (id + 16))
                .fold(0, |a, b| a | b);
            let reports = [GOOD, BOMBERS[0], BOMBERS[1]]
                .iter()
                .map(|id| (1 << id) | (1 << (id + 8)))
                .fold(0, |a, b| a | b);
            for (wanted, count, then_go) in [(sending, 2, true), (reports, 3, false)] {
                while (bits & wanted).count_ones() < count {
                    match env.wait(done) {
                        Ok(signalled) => bits |= signalled,
                        Err(error) => {
                            let _ = writeln!(env, "root: waiting for the clients: {error} (WRONG)");
                            return failures + 1;
                        }
                    }
                }
                if then_go {
                    let _ = writeln!(
                        env,
                        "root: both bombs are on their way; the good client goes on"
                    );
                    if env.signal(go_signal).is_err() {
                        failures += 1;
                    }
                }
            }
            for (i, id) in [GOOD, BOMBERS[0], BOMBERS[1]].into_iter().enumerate() {
                outcome[mode][i] = bits & (1 << id) != 0;
            }
            let transport = EndpointTransport {
                env: &mut *env,
                endpoint,
                receive: [0; 3],
                copies: None,
            };
            let stats = DecompressorClient::new(transport).stats();
            match stats {
                Ok(s) => {
                    let _ = writeln!(
                        env,
                        "root: server stats: {} calls answered, {} bytes out",
                        s.calls, s.bytes_out
                    );
                }
                Err(error) => {
                    let _ = writeln!(env, "root: server stats: {error:?} (WRONG)");
                    failures += 1;
                }
            }
            // The server waits for calls forever: stop it.
            if let Some(tcb) = server_tcb {
                let stopped = caps::TcbCapClient(env.cap(tcb))
                    .suspend()
                    .map_err(capc_demo_user::Error::from);
                if stopped.is_err() {
                    failures += 1;
                }
            }
        }
        let _ = writeln!(
            env,
            "root: who paid       | good client's 3 requests | bombs refused, bomber gets memory back | server's own memory"
        );
        for (mode, (who, server)) in [
            ("the client", "unchanged"),
            ("the server", "spent on the bombs"),
        ]
        .into_iter()
        .enumerate()
        {
            let [good, bomb_a, bomb_b] = outcome[mode];
            let verified = if good {
                "all verified"
            } else {
                "refused or failed"
            };
            let bombs = if bomb_a && bomb_b { "yes" } else { "no" };
            let _ = writeln!(
                env,
                "root: {who:<15}| {verified:<24} | {bombs:<38} | {server}"
            );
        }
        // The design holds if the client-pays run went as it should; the
        // control run is expected to fail the good client.
        if !outcome[0].iter().take(3).all(|&ok| ok) {
            let _ = writeln!(env, "root: with the client paying, a client failed (WRONG)");
            failures += 1;
        }
        if outcome[1][0] {
            let _ = writeln!(
                env,
                "root: with the server paying, the good client was not starved (WRONG: the control shows nothing)"
            );
            failures += 1;
        }
        failures
    }

    /// The session services of kernel-demo/spec/sessions.cap (the memory
    /// server, the file service and their clients: memserver.rs,
    /// fileserver.rs, sessclient.rs), started from the boot image like the
    /// decompression service. All of the root's part is here.
    mod sessions {
        use core::fmt::Write;
        use core::sync::atomic::Ordering;

        use capc_demo_user::caps::{self, ObjectType, Rights, UntypedCap};
        use capc_demo_user::{Env, task};

        use super::{Grant, Starter, TASK_RADIX};

        /// The good clients and the hostile one, by badge.
        const GOOD: [u64; 2] = [1, 2];
        const HOSTILE: u64 = 3;
        /// Budgets: 256 KiB for each server (a server that pays has that
        /// to give), 1 MiB for each client, whose donations come from it.
        const SERVER_BITS: u64 = 18;
        const CLIENT_BITS: u64 = 20;
        /// A client's CNode: slots for the RAM it is given.
        const CLIENT_RADIX: u64 = 8;

        /// Runs the session services twice: first the client pays (every
        /// session's objects come from the Untyped its client donated,
        /// through the generated session ledgers), then, as a control, the
        /// memory server pays from its own memory. Each time two good
        /// clients use both services while a hostile client opens sessions,
        /// allocates and opens files until it can no more. The number of
        /// failures.
        pub fn run(env: &mut Env, starter: &mut Starter) -> u64 {
            // Both runs are paid from an 8 MiB Untyped of their own: each
            // takes two servers' 256 KiB and three clients' 1 MiB, aligned.
            let root = super::super::UNTYPED.load(Ordering::Relaxed);
            let first = super::super::FIRST_UNTYPED.load(Ordering::Relaxed);
            let count = super::super::UNTYPED_COUNT.load(Ordering::Relaxed);
            let pool = (first..first + count)
                .filter(|&slot| slot != root)
                .find(|&slot| {
                    UntypedCap::from_cap(capc_demo_user::cap_at(slot))
                        .is_some_and(|u| !u.is_device() && u.bits() == 23)
                });
            let Some(pool) = pool else {
                let _ = writeln!(
                    env,
                    "root: no 8 MiB Untyped for the session services (WRONG)"
                );
                return 1;
            };
            starter.untyped = pool;
            let mut failures = 0;
            let mut outcome = [[false; 3]; 2];
            for (mode, name) in ["the client pays", "the server pays (control run)"]
                .into_iter()
                .enumerate()
            {
                let _ = writeln!(env, "root: session services, {name}");
                match one_run(env, starter, pool, mode as u64) {
                    Some(result) => outcome[mode] = result,
                    None => return failures + 1,
                }
            }
            let _ = writeln!(
                env,
                "root: sessions: who paid | good clients | hostile client held to its own quota, every byte back on close"
            );
            for (mode, who) in ["the client", "the server"].into_iter().enumerate() {
                let [a, b, hostile] = outcome[mode];
                let _ = writeln!(
                    env,
                    "root: sessions: {who:<10} | {:<12} | {}",
                    if a && b {
                        "all verified"
                    } else {
                        "refused or failed"
                    },
                    if hostile { "yes" } else { "no" }
                );
            }
            if !outcome[0].iter().all(|&ok| ok) {
                let _ = writeln!(
                    env,
                    "root: sessions: with the client paying, a client failed (WRONG)"
                );
                failures += 1;
            }
            if outcome[1][0] && outcome[1][1] {
                let _ = writeln!(
                    env,
                    "root: sessions: with the server paying, the good clients were not starved (WRONG: the control shows nothing)"
                );
                failures += 1;
            }
            failures
        }

        /// One run: the servers (the memory server in `mode`), two good
        /// clients and the hostile one. Whether each client reported
        /// success, or `None` when the run could not be made.
        fn one_run(
            env: &mut Env,
            starter: &mut Starter,
            pool: u64,
            mode: u64,
        ) -> Option<[bool; 3]> {
            let (mem, files, done) = (starter.take(), starter.take(), starter.take());
            let go = [starter.take(), starter.take(), starter.take()];
            let signals = [starter.take(), starter.take(), starter.take()];
            let mut made = super::super::retype(env, pool, ObjectType::Endpoint, 0, mem, 1)
                .and_then(|()| super::super::retype(env, pool, ObjectType::Endpoint, 0, files, 1))
                .and_then(|()| {
                    super::super::retype(env, pool, ObjectType::Notification, 0, done, 1)
                });
            for (go, signal) in go.into_iter().zip(signals) {
                made = made
                    .and_then(|()| {
                        super::super::retype(env, pool, ObjectType::Notification, 0, go, 1)
                    })
                    .and_then(|()| super::super::mint(env, go, signal, Rights::WRITE, 1));
            }
            if made.is_err() {
                let _ = writeln!(
                    env,
                    "root: making the session services' endpoints failed (WRONG)"
                );
                return None;
            }
            let mem_server = [(task::ENDPOINT, mem, Rights::ALL, 0)];
            let file_server = [(task::ENDPOINT, files, Rights::ALL, 0)];
            let servers = [
                starter.start(env, "memserver", mode, &mem_server, SERVER_BITS),
                starter.start(env, "fileserver", 0, &file_server, SERVER_BITS),
            ];
            let client = |id: u64, go: u64| -> [Grant; 6] {
                let send = Rights::WRITE.union(Rights::GRANT);
                [
                    (task::ENDPOINT, mem, send, id),
                    (task::FIRST_FREE, files, send, id),
                    (task::NOTIFY, done, Rights::WRITE, 1 << id),
                    (task::NOTIFY_FAILED, done, Rights::WRITE, 1 << (id + 8)),
                    (task::GO, go, Rights::READ, 0),
                    (task::SENDING, done, Rights::WRITE, 1 << (id + 16)),
                ]
            };
            starter.radix = CLIENT_RADIX;
            let mut started = servers.iter().all(Result::is_ok);
            let mut bits = 0u64;
            // The good clients first, up to their go-ahead; then the hostile
            // client, until it has exhausted what it could.
            for (ids, role) in [(&GOOD[..], 0), (&[HOSTILE][..], 1)] {
                for &id in ids {
                    let grants = client(id, go[id as usize - 1]);
                    started = started
                        && starter
                            .start(env, "sessclient", role | id << 8, &grants, CLIENT_BITS)
                            .is_ok();
                }
                // Up to its go-ahead, or its report if it failed before.
                let any = |id: &u64| (1 << id) | (1 << (id + 8)) | (1 << (id + 16));
                while started && ids.iter().any(|id| bits & any(id) == 0) {
                    match env.wait(done) {
                        Ok(signalled) => bits |= signalled,
                        Err(_) => started = false,
                    }
                }
            }
            starter.radix = TASK_RADIX;
            if !started {
                let _ = writeln!(env, "root: starting the session services failed (WRONG)");
                return None;
            }
            let _ = writeln!(
                env,
                "root: the hostile client can take no more; the good clients go on"
            );
            // The good clients finish, then the hostile client closes.
            for (ids, last) in [(&GOOD[..], false), (&[HOSTILE][..], true)] {
                for &id in ids {
                    let _ = env.signal(signals[id as usize - 1]);
                }
                while ids
                    .iter()
                    .any(|id| bits & ((1 << id) | (1 << (id + 8))) == 0)
                {
                    match env.wait(done) {
                        Ok(signalled) => bits |= signalled,
                        Err(_) => return None,
                    }
                }
                if last {
                    break;
                }
            }
            // The servers wait for calls forever: stop them.
            for tcb in servers.into_iter().flatten() {
                let _ = caps::TcbCapClient(env.cap(tcb))
                    .suspend()
                    .map_err(capc_demo_user::Error::from);
            }
            Some(
                [GOOD[0], GOOD[1], HOSTILE]
                    .map(|id| bits & (1 << id) != 0 && bits & (1 << (id + 8)) == 0),
            )
        }
    }
}

/// A user-level driver: the second serial port (COM2, IRQ 3, ports
/// 0x2f8-0x2ff), which QEMU feeds [`driver::INPUT`] (`cargo xtask` writes
/// it there). The root hands a thread of its own the ports (an IoPort cap
/// from the IoPortControl cap) and the interrupt (an IrqHandler cap from the
/// IrqControl cap, bound to a notification); the thread enables the UART's
/// receive interrupt, and on every interrupt reads what arrived through its
/// ports and acknowledges the interrupt, until a line is complete; then it
/// serves what it received over the `Serial` interface of
/// kernel-demo/spec/serial.cap, through the generated dispatch. The root is
/// its client, through the generated `SerialClient`: it calls `read` until
/// the driver says `Empty`, and nothing runs but what the interrupts wake
/// until the driver answers.
mod driver {
    use core::fmt::Write;
    use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

    use capc_demo_user::abi::{
        ROOT_IO_PORT_CONTROL_SLOT, ROOT_IRQ_CONTROL_SLOT, Syscall, SyscallStatus,
    };
    use capc_demo_user::caps::{self, KernelError, ObjectType, Rights};
    use capc_demo_user::serial::{
        self, SerialClient, SerialError, SerialReadReply, SerialServer, dispatch_serial,
    };
    use capc_demo_user::{EndpointTransport, Env, Error, MessageInfo, target};

    use super::outcome;

    /// What QEMU feeds COM2: `INPUT` in xtask/src/transcript.rs.
    pub const INPUT: &[u8] = b"capc: bytes for a user-level driver\n";
    /// COM2's ports and interrupt line.
    pub(super) const COM2: u16 = 0x2f8;
    pub(super) const COM2_IRQ: u8 = 3;
    /// UART registers, from the base port.
    const DATA: u16 = 0;
    pub(super) const IER: u16 = 1;
    const FCR: u16 = 2;
    pub(super) const LCR: u16 = 3;
    pub(super) const MCR: u16 = 4;
    const LSR: u16 = 5;

    /// Writes `value` to COM2's `register` through the IoPort cap `ports`.
    pub(super) fn out8(env: &mut Env, ports: u64, register: u16, value: u8) -> Result<(), Error> {
        caps::IoPortCapClient(env.cap(ports))
            .out8(COM2 + register, value)
            .map_err(capc_demo_user::Error::from)
    }

    /// Acknowledges the interrupt of the IrqHandler cap `irq`: its line
    /// may come again.
    pub(super) fn ack(env: &mut Env, irq: u64) -> Result<(), Error> {
        caps::IrqHandlerCapClient(env.cap(irq))
            .ack()
            .map_err(capc_demo_user::Error::from)
    }

    /// The slots the driver thread uses (set by `run`): its IoPort cap, its
    /// IrqHandler cap, the notification it waits on, the one it signals when
    /// done.
    static SLOTS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
    /// What it received.
    static RECEIVED: [AtomicU8; 64] = [const { AtomicU8::new(0) }; 64];
    static COUNT: AtomicU64 = AtomicU64::new(0);
    /// Interrupts it handled.
    static INTERRUPTS: AtomicU64 = AtomicU64::new(0);

    pub(super) fn issue(env: &mut Env, first: u16, last: u16, to: u64) -> Result<(), Error> {
        caps::IoPortControlCapClient(env.cap(ROOT_IO_PORT_CONTROL_SLOT))
            .issue(first, last, capc_demo_user::ROOT_CNODE, to, 64)
            .map_err(capc_demo_user::Error::from)
    }

    pub(super) fn get(env: &mut Env, irq: u8, to: u64) -> Result<(), Error> {
        caps::IrqControlCapClient(env.cap(ROOT_IRQ_CONTROL_SLOT))
            .get(irq, capc_demo_user::ROOT_CNODE, to, 64)
            .map_err(capc_demo_user::Error::from)
    }

    /// Sets the driver up from slot `base` on (12 slots), starts it, waits
    /// for it and checks what it received; the number of failures.
    pub fn run(env: &mut Env, base: u64) -> u64 {
        let untyped = super::UNTYPED.load(Ordering::Relaxed);
        let (ports, irq, wait_on, bound, service, tcb) =
            (base, base + 1, base + 2, base + 3, base + 4, base + 5);
        // Refused: a port of the kernel's (COM1, its log), the timer's line,
        // a line past the PICs.
        let mut failures = 0;
        for (what, result, expected) in [
            (
                "issue the ports of COM1",
                issue(env, 0x3f8, 0x3ff, base + 9),
                KernelError::IllegalOperation,
            ),
            (
                "get the timer's interrupt line",
                get(env, 0, base + 9),
                KernelError::RevokeFirst,
            ),
            (
                "get interrupt line 16",
                get(env, 16, base + 9),
                KernelError::RangeError { min: 0, max: 15 },
            ),
        ] {
            failures += u64::from(!super::expect_error(env, what, result, expected));
        }
        let r = issue(env, COM2, COM2 + 7, ports)
            .and_then(|()| get(env, COM2_IRQ, irq))
            .and_then(|()| super::retype(env, untyped, ObjectType::Notification, 0, wait_on, 1))
            .and_then(|()| super::mint(env, wait_on, bound, Rights::WRITE, 0b1))
            .and_then(|()| super::retype(env, untyped, ObjectType::Endpoint, 0, service, 1))
            .and_then(|()| {
                caps::IrqHandlerCapClient(env.cap(irq))
                    .set_notification(caps::Slot::new(bound))
                    .map_err(capc_demo_user::Error::from)
            });
        failures += step!(
            env,
            r,
            "driver: COM2's ports and interrupt line, bound to a notification"
        );
        let again = issue(env, COM2 + 4, COM2 + 4, base + 9);
        failures += u64::from(!super::expect_error(
            env,
            "issue a port another IoPort cap has",
            again,
            KernelError::RevokeFirst,
        ));
        if r.is_err() {
            return failures;
        }
        for (slot, value) in SLOTS.iter().zip([ports, irq, wait_on, service]) {
            slot.store(value, Ordering::Relaxed);
        }
        let r = super::own_thread(env, tcb, 0x1_b000, driver, |_| Ok(()));
        failures += step!(env, r, "driver: start the driver thread");
        // The root is the driver's client: `read` until it says `Empty`.
        let mut got = [0u8; 64];
        let (mut count, mut calls, mut finished) = (0, 0, false);
        if r.is_ok() {
            let transport = EndpointTransport {
                env: &mut *env,
                endpoint: service,
                receive: [0; target::CAPS_PER_MESSAGE],
                copies: None,
            };
            let mut client = SerialClient::new(transport);
            while calls < 16 {
                calls += 1;
                match client.read() {
                    Ok(reply) => {
                        let n = usize::from(reply.count).min(reply.bytes.len());
                        let room = got.len() - count;
                        got[count..count + n.min(room)]
                            .copy_from_slice(&reply.bytes[..n.min(room)]);
                        count += n.min(room);
                    }
                    Err(serial::CallError::Server(SerialError::Empty)) => {
                        finished = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
        let right = finished && got[..count] == *INPUT;
        let text = core::str::from_utf8(&got[..count]).unwrap_or("(not UTF-8)");
        let _ = writeln!(
            env,
            "root: the driver received {count} bytes from COM2 in {} interrupt(s), served over its Serial interface in {calls} calls: {:?}{}",
            INTERRUPTS.load(Ordering::SeqCst),
            text.trim_end(),
            if right { "" } else { " (WRONG)" }
        );
        // A task may delete the notification a line signals while the line
        // is still bound: the kernel must forget the binding, and the audit
        // checks that every bound line signals a live notification.
        let gone = super::delete(env, bound).and_then(|()| super::delete(env, wait_on));
        let audit = capc_demo_user::syscall(Syscall::DebugAudit, 0, 0, [0; 4]);
        let clean = gone.is_ok() && audit.status == SyscallStatus::Ok as u64 && audit.badge == 0;
        let _ = writeln!(
            env,
            "root: delete the notification line {COM2_IRQ} signals while it is bound: kernel audit {}",
            if clean { "ok" } else { "FAILED (WRONG)" }
        );
        failures + u64::from(!right) + u64::from(!clean)
    }

    /// The driver thread: enables COM2's receive interrupt, then reads what
    /// each interrupt says arrived, until a line is complete.
    extern "C" fn driver(buffer: u64) -> ! {
        // SAFETY: the root mapped this thread's own IPC buffer at `buffer`.
        let mut env = unsafe { Env::new(buffer) };
        let [ports, irq, wait_on, service] = [0, 1, 2, 3].map(|i| SLOTS[i].load(Ordering::Relaxed));
        let out = |env: &mut Env, register: u16, value: u8| out8(env, ports, register, value);
        let inb = |env: &mut Env, register: u16| {
            caps::IoPortCapClient(env.cap(ports))
                .in8(COM2 + register)
                .map_err(capc_demo_user::Error::from)
        };
        let ack = |env: &mut Env| ack(env, irq);
        // 8 data bits, no FIFO, the interrupt line on (OUT2), then the
        // receive interrupt; the line may interrupt from now on.
        let setup = out(&mut env, LCR, 0x03)
            .and_then(|()| out(&mut env, FCR, 0))
            .and_then(|()| out(&mut env, MCR, 0x08))
            .and_then(|()| out(&mut env, IER, 0x01))
            .and_then(|()| ack(&mut env));
        if let Err(error) = setup {
            let _ = writeln!(env, "driver: setting COM2 up failed: {error} (WRONG)");
            capc_demo_user::exit(1);
        }
        let mut complete = false;
        while !complete {
            if let Err(error) = env.wait(wait_on) {
                let _ = writeln!(env, "driver: waiting failed: {error} (WRONG)");
                capc_demo_user::exit(1);
            }
            INTERRUPTS.fetch_add(1, Ordering::SeqCst);
            while matches!(inb(&mut env, LSR), Ok(lsr) if lsr & 1 != 0) {
                let Ok(byte) = inb(&mut env, DATA) else { break };
                let n = COUNT.fetch_add(1, Ordering::SeqCst) as usize;
                if let Some(slot) = RECEIVED.get(n) {
                    slot.store(byte, Ordering::SeqCst);
                }
                complete |= byte == b'\n' || n + 1 >= RECEIVED.len();
            }
            let _ = ack(&mut env);
        }
        serve(&mut env, service);
        capc_demo_user::exit(0)
    }

    /// What the driver received, handed out 16 bytes a call.
    struct Received {
        next: usize,
    }

    impl SerialServer for Received {
        fn read(&mut self) -> Result<SerialReadReply, SerialError> {
            let count = (COUNT.load(Ordering::SeqCst) as usize).min(RECEIVED.len());
            if self.next >= count {
                return Err(SerialError::Empty);
            }
            let mut bytes = [0u8; 16];
            let n = (count - self.next).min(bytes.len());
            for (b, r) in bytes.iter_mut().zip(&RECEIVED[self.next..self.next + n]) {
                *b = r.load(Ordering::SeqCst);
            }
            self.next += n;
            Ok(SerialReadReply {
                bytes,
                count: n as u8,
            })
        }
    }

    /// Answers `Serial` calls on `service` through the generated dispatch
    /// until a `read` finds nothing left.
    fn serve(env: &mut Env, service: u64) {
        let mut server = Received { next: 0 };
        let mut message = env.recv(service);
        while let Ok(m) = message {
            let mut msg = [0u64; target::MESSAGE_WORDS];
            msg[..m.info.length].copy_from_slice(&m.words[..m.info.length]);
            let mut caps = [0u64; target::CAPS_PER_MESSAGE];
            let info = serial::MessageInfo {
                label: m.info.label,
                length: m.info.length,
                caps: m.info.caps,
            };
            let reply = dispatch_serial(&mut server, info, &mut msg, &mut caps);
            let reply = MessageInfo {
                label: reply.label,
                length: reply.length,
                caps: reply.caps,
            };
            // The last answer: nothing left (`Empty`, a nonzero label).
            if reply.label != 0 {
                let _ = env.reply(reply, &msg[..reply.length]);
                return;
            }
            message = env.reply_recv(service, reply, &msg[..reply.length]);
        }
    }
}
