//! Objects going and coming: the removal hook `SlotMemory` calls for every
//! cap removed for good (seL4's finaliseCap, driven by the spec's
//! finalisers), stopping the threads that use memory that goes, and zeroing
//! new objects.
//!
//! Touches the threads the kernel knows, the run queue, IPC queues,
//! address-space numbers, and page tables through
//! `capc_demo_kernel::mapping`.

use core::fmt::Write;

use capc_demo_kernel::caps::{
    CapType, Finaliser, IoPortCap, IrqHandlerCap, NotificationCap, ObjectType, Placement,
};
use capc_demo_kernel::cspace::Removal;
use capc_demo_kernel::tcb::{Tcb, ThreadState};
use capc_demo_kernel::threads::ThreadList;
use capc_demo_kernel::{finalise, ipc, mapping};

use super::address_space::flush_if_current;
use super::ipc::Machine;
use super::sched::remove;
use super::state::{Identity, Kernel, QueuedTcbs, zero};
use crate::serial::Console;

/// Stops every thread the kernel still refers to whose TCB, address space,
/// CSpace root, IPC buffer or the endpoint it waits on lies in `[start,
/// end)`, and forgets address spaces whose PML4 lies there; `why` goes in
/// the report. Called when the last cap to an object goes (its
/// finalisation, as seL4's) and before a retype hands memory out again (for
/// what was left without caps), so no thread runs on, or is queued in,
/// memory that is gone or about to change.
pub(super) fn evict(k: &mut Kernel, start: u64, end: u64, why: &str) {
    let inside = |addr: u64| addr != 0 && start <= addr && addr < end;
    // A pool whose memory goes takes its numbers with it (its last cap
    // went before: this is for what finalisation would have missed).
    k.asids.release_pools_within(start, end);
    let mut next = k.threads.first();
    while next != 0 {
        let at = next;
        next = ThreadList::next(&mut QueuedTcbs, at);
        let t = k.tcb(at);
        let uses = inside(t.blocked_on);
        if !inside(at) && !uses {
            continue;
        }
        let t = *t;
        remove(k, at);
        if k.woken == at {
            k.woken = 0;
        }
        if inside(t.blocked_on) {
            // The queue goes with the object's memory.
            k.tcb(at).blocked_on = 0;
            // Its right to reply goes (its caller stays waiting, as in seL4).
            ipc::drop_reply_right(&mut Machine(k), at);
        } else {
            finalise::stop_thread(&mut Machine(k), at);
        }
        // Running, or waiting: it would have gone on.
        let was_live = !matches!(
            t.state,
            ThreadState::Inactive | ThreadState::Exited | ThreadState::Faulted
        );
        k.tcb(at).state = ThreadState::Inactive;
        if inside(at) {
            // Its TCB goes: the kernel forgets it.
            k.threads.remove(&mut QueuedTcbs, at);
        }
        if (was_live || at == k.current)
            && let Some(mut console) = Console::reopen()
        {
            let _ = writeln!(console, "thread {at:#x} stopped: {why}");
        }
    }
}

/// Zeroes the memory of the objects a retype placed, but for Untyped
/// (nothing reads it), CNodes (`ops::retype` cleared their slots) and
/// anything in device memory. Tables are made ready by
/// `capc_demo_kernel::mapping::prepare_table` (a new address space maps the
/// kernel from the start).
pub(super) fn zero_objects(
    placement: &Placement,
    device: bool,
    kernel_pml4: u64,
    threads: &mut ThreadList,
) {
    // Device memory is not the kernel's to write (and not mapped for it).
    if device
        || matches!(
            placement.object_type,
            ObjectType::Untyped | ObjectType::CNode
        )
    {
        return;
    }
    for i in 0..placement.count {
        let Some(at) = placement.address(i) else {
            continue;
        };
        if mapping::prepare_table(&mut Identity, placement.object_type, at, kernel_pml4) {
            continue;
        }
        zero(at, 1 << placement.size_bits);
        if placement.object_type == ObjectType::Tcb {
            // SAFETY: `at` is a TCB object just retyped (and zeroed), in
            // identity-mapped RAM; nothing refers to it yet.
            unsafe { (at as *mut Tcb).write(Tcb::new()) };
            // The kernel knows every TCB from here to its last cap.
            threads.insert(&mut QueuedTcbs, at);
        }
    }
}

/// `SlotMemory`'s hook for a cap removed for good, as seL4's finaliseCap,
/// driven by what the spec declares:
/// - what it undoes in address spaces is `capc_demo_kernel::mapping`'s
///   (`removed`): a cap whose mapping is its own (`Mapping::EachCap`: a
///   frame's) is unmapped with it, so no address space keeps a page whose
///   cap is gone; for the last cap to an object, the `unmap` finaliser
///   unlinks a table from its parent and `release_asid` takes an address
///   space's number back. The TLB then drops what it says;
/// - the last cap with a badge to an endpoint cancels the sends queued
///   with that badge (seL4's cancelBadgedSends);
/// - the last cap to an object runs the object's other `finalise`
///   actions: `cancel_waiters` restarts the threads waiting on an endpoint
///   or notification with an error, `stop_thread` stops the thread (see
///   [`evict`]). (Owned slots and a CNode's slots were emptied by the
///   derivation tree before.)
///
/// The IPC part (badged sends, waiters, a thread's wait and reply right)
/// is `capc_demo_kernel::finalise`'s, which the differential test runs
/// against the spec's interpreter.
pub(super) fn removed(k: &mut Kernel, removal: Removal) {
    let Removal { cap, last, .. } = removal;
    let Some(cap_type) = cap.cap_type() else {
        return;
    };
    if cap_type == CapType::Pml4Cap {
        k.pml4_cap_removed = true;
    }
    let flush = mapping::removed(&mut Identity, &mut k.asids, &removal);
    flush_if_current(k, flush);
    finalise::reply_cap_removed(&mut Machine(k), &removal);
    finalise::cancel_badged_sends(&mut Machine(k), &removal);
    // What drivers hold: a line with its last handler cap, ports with
    // their last cap, and any binding to a notification with its last cap.
    if last {
        if let Some(handler) = IrqHandlerCap::from_cap(cap) {
            let irq = handler.irq();
            crate::timer::mask(irq);
            k.irqs.release(irq);
        }
        if let Some(ports) = IoPortCap::from_cap(cap) {
            k.ports.release(ports.first(), ports.last());
        }
        if let Some(n) = NotificationCap::from_cap(cap) {
            k.irqs.notification_gone(n.notification());
        }
    }
    let (Some(object), Some((base, size)), true) = (
        cap_type.object_type(),
        capc_demo_kernel::caps::region(cap),
        last,
    ) else {
        return;
    };
    for finaliser in object.finalisers() {
        match finaliser {
            Finaliser::CancelWaiters => finalise::cancel_waiters(&mut Machine(k), cap),
            Finaliser::StopThread => {
                evict(k, base, base.saturating_add(size), "its TCB was deleted");
            }
            // Done above, by `mapping::removed`.
            Finaliser::Unmap | Finaliser::ReleaseAsid => {}
        }
    }
}
