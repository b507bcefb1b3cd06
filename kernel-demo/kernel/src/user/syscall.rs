//! System calls: decoding the number and the cap a call names, sending and
//! receiving on endpoints and notifications, and the debug calls (print,
//! cap type, audit).
//!
//! Touches the calling thread's saved registers and IPC buffer; objects are
//! changed only through `capc_demo_kernel::ipc` and `invoke`.

use core::fmt::Write;

use capc_demo_kernel::abi::{Syscall, SyscallStatus};
use capc_demo_kernel::caps::{Cap, EndpointCap, NotificationCap, Rights};
use capc_demo_kernel::cspace::{SlotAddr, lookup_cap};
use capc_demo_kernel::tcb::{PendingSend, TcbSlot, ThreadState, reg};
use capc_demo_kernel::{audit, ipc};

use super::invoke::invoke_object;
use super::ipc::Machine;
use super::state::{Identity, Kernel, ipc_buffer, slots, thread_cap};
use crate::serial::Console;

/// Handles the system call of the thread at `current` (its registers are
/// saved in its TCB); writes the results into its saved registers.
/// Returns whether the thread gives up the CPU.
pub(super) fn syscall(k: &mut Kernel, current: u64) -> bool {
    let thread = k.tcb(current);
    let (number, rdi) = (
        thread.context.general[reg::RAX],
        thread.context.general[reg::RDI],
    );
    let status = match Syscall::from_word(number) {
        None => SyscallStatus::UnknownSyscall,
        Some(Syscall::Yield) => {
            thread.context.general[reg::RAX] = SyscallStatus::Ok as u64;
            return true;
        }
        Some(Syscall::Exit) => {
            if let Some(mut console) = Console::reopen() {
                let _ = writeln!(console, "thread {current:#x} exited with status {}", rdi);
            }
            thread.state = ThreadState::Exited;
            k.exited += 1;
            return true;
        }
        Some(Syscall::DebugPrint) => debug_print(current, rdi),
        Some(Syscall::Call) => match lookup(k, current) {
            Err(status) => status,
            Ok((slot, cap)) => match EndpointCap::from_cap(cap) {
                Some(endpoint) if Syscall::Call.sends_on(cap) => {
                    let pending = PendingSend {
                        badge: endpoint.badge(),
                        grant: endpoint.rights().contains(Rights::GRANT),
                        grant_reply: endpoint.rights().contains(Rights::GRANT_REPLY),
                        call: true,
                    };
                    ipc_status(ipc::send(
                        &mut Machine(k),
                        current,
                        endpoint.endpoint(),
                        pending,
                    ))
                }
                Some(_) => SyscallStatus::InvalidCap,
                None => invoke_object(k, current, slot, cap),
            },
        },
        Some(Syscall::Send) => match ipc_target(k, current, Syscall::Send, Way::Send) {
            Ok(IpcTarget::Endpoint(endpoint, cap)) => {
                let pending = PendingSend {
                    badge: cap.badge(),
                    grant: cap.rights().contains(Rights::GRANT),
                    grant_reply: false,
                    call: false,
                };
                ipc_status(ipc::send(&mut Machine(k), current, endpoint, pending))
            }
            Ok(IpcTarget::Notification(notification, badge)) => {
                ipc::signal(&mut Machine(k), notification, badge);
                SyscallStatus::Ok
            }
            Err(status) => status,
        },
        Some(Syscall::Recv) => receive(k, current, Syscall::Recv),
        Some(Syscall::DebugCapType) => {
            let cap = lookup(k, current).map_or(Cap::NULL, |(_, cap)| cap);
            let g = &mut k.tcb(current).context.general;
            g[reg::RDI] = cap.tag();
            (g[reg::RDX], g[reg::R8]) = (cap.words()[0], cap.words()[1]);
            SyscallStatus::Ok
        }
        Some(Syscall::DebugAudit) => {
            let verdict = debug_audit(k, current);
            k.tcb(current).context.general[reg::RDI] = u64::from(!verdict);
            SyscallStatus::Ok
        }
        Some(Syscall::Reply) => {
            ipc::reply(&mut Machine(k), current);
            SyscallStatus::Ok
        }
        Some(Syscall::ReplyRecv) => {
            ipc::reply(&mut Machine(k), current);
            receive(k, current, Syscall::ReplyRecv)
        }
    };
    if k.preempted {
        // Restarted: the registers stay as the call left them.
        return false;
    }
    let thread = k.tcb(current);
    // A thread that blocked gets its status (and message) when it is woken.
    if thread.state == ThreadState::Running {
        thread.context.general[reg::RAX] = status as u64;
    }
    thread.state != ThreadState::Running
}

/// The receive of `syscall` (`Recv`, `ReplyRecv`) on an endpoint or a
/// notification.
pub(super) fn receive(k: &mut Kernel, current: u64, syscall: Syscall) -> SyscallStatus {
    match ipc_target(k, current, syscall, Way::Receive) {
        Ok(IpcTarget::Endpoint(endpoint, cap)) => {
            let can_grant = cap.rights().contains(Rights::GRANT);
            ipc_status(ipc::recv(&mut Machine(k), current, endpoint, can_grant))
        }
        Ok(IpcTarget::Notification(notification, _)) => {
            ipc_status(ipc::wait(&mut Machine(k), current, notification))
        }
        Err(status) => status,
    }
}

/// The status of an IPC operation that went on (one that blocked gets
/// its status when it is woken).
pub(super) fn ipc_status(_next: ipc::Next) -> SyscallStatus {
    SyscallStatus::Ok
}

/// What a `Send` or `Recv` names.
pub(super) enum IpcTarget {
    /// An endpoint (its address) and the cap used.
    Endpoint(u64, EndpointCap),
    /// A notification (its address) and the cap's badge.
    Notification(u64, u64),
}

/// The cap at the caller's `rdi` and its slot.
pub(super) fn lookup(k: &Kernel, current: u64) -> Result<(SlotAddr, Cap), SyscallStatus> {
    let memory = slots(k);
    lookup_cap(
        &memory,
        thread_cap(current, TcbSlot::Cspace),
        k.tcb_ref(current).context.general[reg::RDI],
    )
    .map_err(|_| SyscallStatus::InvalidCap)
}

/// Whether a system call sends or receives on the cap it names.
#[derive(Clone, Copy)]
pub(super) enum Way {
    Send,
    Receive,
}

/// The endpoint or notification the cap at the caller's `rdi` names, if
/// `syscall` may send or receive (`way`) on it.
pub(super) fn ipc_target(
    k: &Kernel,
    current: u64,
    syscall: Syscall,
    way: Way,
) -> Result<IpcTarget, SyscallStatus> {
    let (_, cap) = lookup(k, current)?;
    ipc_target_of(cap, syscall, way)
}

/// The endpoint or notification `cap` names, if `syscall` may send or
/// receive (`way`) on it: kernel.cap's `sends on` and `receives on`
/// clauses (the cap's type and the rights they list), as the generated
/// `Syscall::sends_on` and `receives_on` check them.
pub(super) fn ipc_target_of(
    cap: Cap,
    syscall: Syscall,
    way: Way,
) -> Result<IpcTarget, SyscallStatus> {
    let allowed = match way {
        Way::Send => syscall.sends_on(cap),
        Way::Receive => syscall.receives_on(cap),
    };
    if !allowed {
        return Err(SyscallStatus::InvalidCap);
    }
    if let Some(endpoint) = EndpointCap::from_cap(cap) {
        return Ok(IpcTarget::Endpoint(endpoint.endpoint(), endpoint));
    }
    if let Some(notification) = NotificationCap::from_cap(cap) {
        return Ok(IpcTarget::Notification(
            notification.notification(),
            notification.badge(),
        ));
    }
    Err(SyscallStatus::InvalidCap)
}

/// Audits the kernel's state as the scheduler sees it (every known
/// thread's CSpace, TCB slots, address space and waits: see `audit`),
/// prints the result, and says whether it passed.
// Never inlined: the audit's tables take kilobytes of stack, which must not
// become part of the frame of every entry (the exception handler's frame is
// on the 16 KiB double-fault stack too).
#[inline(never)]
pub(super) fn debug_audit(k: &Kernel, current: u64) -> bool {
    let memory = slots(k);
    let view = |at: u64| {
        let t = k.tcb_ref(at);
        audit::ThreadView {
            state: t.state,
            blocked_on: t.blocked_on,
            reply_from: t.reply_from,
        }
    };
    let mut interrupts = [(0u8, 0u64); capc_demo_kernel::irq::LINES];
    let mut bound = 0;
    for (slot, binding) in interrupts.iter_mut().zip(k.irqs.bindings()) {
        *slot = binding;
        bound += 1;
    }
    let result = audit::audit_system(
        &memory,
        (k.known_threads(), &k.asids),
        (k.boot_image, &interrupts[..bound]),
        &Identity,
        view,
    );
    if let Some(mut console) = Console::reopen() {
        let _ = match result {
            Ok(report) => writeln!(
                console,
                "audit: for thread {current:#x}: {} threads reach {} caps to {} objects in {} CNodes and their TCBs' slots, {} address spaces with {} user entries: the derivation list is sound, rights never exceed a parent's, no objects overlap, watermarks within their Untyped, owned slots hold what they admit, every thread is a live TCB waiting only on live objects, each of {} reply caps names a live caller waiting for it, every interrupt line signals a live notification, every address-space number stands for a live PML4 of a live pool, every user mapping leads to an object whose cap records it",
                report.threads,
                report.caps.caps,
                report.caps.objects,
                report.caps.tables,
                report.address_spaces,
                report.entries,
                report.replies
            ),
            Err(error) => writeln!(console, "audit: for thread {current:#x}: FAILED: {error:?}"),
        };
    }
    result.is_ok()
}

/// Prints `length` bytes of the thread's IPC buffer.
pub(super) fn debug_print(thread: u64, length: u64) -> SyscallStatus {
    let Some(buffer) = ipc_buffer(thread) else {
        return SyscallStatus::NoIpcBuffer;
    };
    let capacity = core::mem::size_of_val(&buffer.msg) as u64;
    if length > capacity {
        return SyscallStatus::BadMessage;
    }
    // SAFETY: `msg` is `capacity` bytes of the IPC buffer frame.
    let bytes =
        unsafe { core::slice::from_raw_parts(buffer.msg.as_ptr().cast::<u8>(), length as usize) };
    if let Some(mut console) = Console::reopen() {
        let text = core::str::from_utf8(bytes).unwrap_or("<not UTF-8>");
        let _ = console.write_str(text);
    }
    SyscallStatus::Ok
}
