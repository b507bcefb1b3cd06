//! The scheduler and the way in and out of ring 3: the run queues by
//! priority (`capc_demo_kernel::runqueue`), saving and loading a thread's
//! registers, switching address spaces (CR3), `trap` (every entry from ring
//! 3) and the end of the run.
//!
//! Touches the run queue, the current thread and CR3; system calls are
//! handed to `syscall`.

use core::fmt::Write;

use capc_demo_kernel::abi::{self, FaultMessage};
use capc_demo_kernel::caps::{EndpointCap, Pml4Cap, Rights};
use capc_demo_kernel::tcb::{PendingSend, TcbSlot, ThreadState, UserContext, reg};
use capc_demo_kernel::{fastpath, ipc};
use x86_64::PhysAddr;
use x86_64::registers::control::{Cr2, Cr3, Cr3Flags};
use x86_64::structures::paging::PhysFrame;

use super::ipc::Machine;
use super::state::{Identity, Kernel, QueuedTcbs, kernel, thread_cap};
use super::syscall::syscall;
use crate::interrupts::{
    self, ExceptionFrame, Origin, SYSCALL_VECTOR, TIMER_VECTOR, USER_CODE_SELECTOR,
    USER_DATA_SELECTOR, irq_vector,
};
use crate::qemu::{self, ExitCode};
use crate::serial::Console;

/// Makes `thread` runnable: the back of its priority's queue.
pub(super) fn enqueue(k: &mut Kernel, thread: u64) {
    k.runnable.append(&mut QueuedTcbs, thread);
}

/// Takes the first thread of the highest priority off the run queues.
pub(super) fn dequeue(k: &mut Kernel) -> Option<u64> {
    k.runnable.take_highest(&mut QueuedTcbs)
}

/// Takes `thread` off the run queues if it is there.
pub(super) fn remove(k: &mut Kernel, thread: u64) {
    k.runnable.remove(&mut QueuedTcbs, thread);
}

/// Changes `thread`'s priority, keeping its place among the runnable
/// threads: a queued thread moves to the back of its new level. The
/// current thread is not queued; `trap` lets a higher priority preempt it.
pub(super) fn set_priority(k: &mut Kernel, thread: u64, priority: u8) {
    let queued = k.runnable.remove(&mut QueuedTcbs, thread);
    k.tcb(thread).priority = priority;
    if queued {
        enqueue(k, thread);
    }
}

/// Saves the interrupted thread's registers from `frame`.
pub(super) fn save(frame: &ExceptionFrame, context: &mut UserContext) {
    context.general = [
        frame.rax, frame.rbx, frame.rcx, frame.rdx, frame.rsi, frame.rdi, frame.rbp, frame.r8,
        frame.r9, frame.r10, frame.r11, frame.r12, frame.r13, frame.r14, frame.r15,
    ];
    context.rip = frame.rip;
    context.rsp = frame.rsp;
    context.rflags = frame.rflags;
    context.entered_by_syscall = u64::from(frame.vector == SYSCALL_VECTOR);
}

/// Puts `context` into `frame` for the return to ring 3, choosing
/// `sysretq` when the thread last entered by `syscall` and its RIP is a
/// user address.
pub(super) fn load(frame: &mut ExceptionFrame, context: &UserContext) {
    let g = &context.general;
    (
        frame.rax, frame.rbx, frame.rcx, frame.rdx, frame.rsi, frame.rdi, frame.rbp,
    ) = (g[0], g[1], g[2], g[3], g[4], g[5], g[6]);
    (
        frame.r8, frame.r9, frame.r10, frame.r11, frame.r12, frame.r13, frame.r14, frame.r15,
    ) = (g[7], g[8], g[9], g[10], g[11], g[12], g[13], g[14]);
    frame.rip = context.rip;
    frame.rsp = context.rsp;
    // Only the flags a thread may set, and interrupts always on.
    frame.rflags = (context.rflags & interrupts::USER_FLAGS_MASK) | interrupts::USER_FLAGS_SET;
    if context.entered_by_syscall != 0 && context.rip < abi::USER_END {
        frame.vector = SYSCALL_VECTOR;
    } else {
        // `iretq` takes the segments from the frame.
        frame.vector = TIMER_VECTOR;
        frame.cs = USER_CODE_SELECTOR;
        frame.ss = USER_DATA_SELECTOR;
    }
}

/// Switches to the address space of the thread at `thread`. A thread
/// without one (never resumed so, but its VSpace slot may be emptied while
/// it waits) gets the kernel's, which maps nothing for user mode: it
/// faults at once and is stopped.
pub(super) fn switch_address_space(k: &mut Kernel, thread: u64) {
    let pml4 =
        Pml4Cap::from_cap(thread_cap(thread, TcbSlot::Vspace)).map_or(k.kernel_pml4, |c| c.table());
    load_cr3(k, pml4);
}

/// Loads `pml4` into CR3 unless it is there already.
fn load_cr3(k: &mut Kernel, pml4: u64) {
    // The kernel's copy of CR3 spares reading it on every entry.
    if k.cr3 != pml4 {
        k.cr3 = pml4;
        let frame = PhysFrame::containing_address(PhysAddr::new(k.cr3));
        // SAFETY: the PML4 was made ready by `vspace::init_pml4`, so it
        // maps the kernel (entry 0) exactly as the boot tables do.
        unsafe { Cr3::write(frame, Cr3Flags::empty()) };
    }
}

/// Runs `thread` for the first time: builds its frame on the kernel stack
/// and leaves through the common exit path.
pub(super) fn enter(k: &mut Kernel, thread: u64) -> ! {
    set_running(k, thread);
    switch_address_space(k, thread);
    let t = k.tcb(thread);
    let mut frame = ExceptionFrame::zeroed();
    load(&mut frame, &t.context);
    interrupts::return_to(&frame)
}

/// Every entry from ring 3 but `syscall`: the timer, an interrupt, or a
/// fault. Saves the thread, handles the entry and leaves the next thread
/// to run in `frame`.
pub fn trap(frame: &mut ExceptionFrame) {
    // SAFETY: the one call of this entry; `k` is threaded through
    // everything it does and dead when it returns.
    let k = unsafe { kernel() };
    let current = k.current;
    let thread = k.tcb(current);
    save(frame, &mut thread.context);
    let stranded = thread.context.rip >= abi::USER_END;
    let mut rotate = false;
    match frame.vector {
        TIMER_VECTOR => {
            crate::timer::end_of_interrupt();
            rotate = capc_demo_kernel::runqueue::tick(k.tcb(current));
            k.preemptions += u64::from(rotate);
        }
        vector if (irq_vector(1)..=irq_vector(15)).contains(&vector) => {
            crate::timer::irq_arrived((vector - TIMER_VECTOR) as u8);
            let _ = deliver_interrupts(k);
        }
        _ if stranded => {}
        _ => fault(k, current, frame),
    }
    if stranded {
        stop_past_user_end(k, current);
    }
    let next = schedule(k, current, rotate);
    load(frame, &k.tcb(next).context);
}

/// Every `syscall` from ring 3, called by the entry stub once the
/// thread's registers are in its saved context: handles the system call
/// and returns the saved context of the thread to run next, for the stub
/// to leave by `sysretq`; a thread that cannot be resumed so (it last
/// entered by an interrupt or a fault, or its RIP was set to a
/// non-user address) is left for by `iretq` instead.
pub extern "C" fn system_call() -> *const UserContext {
    // SAFETY: the one call of this entry; `k` is threaded through
    // everything it does and dead when it returns.
    let k = unsafe { kernel() };
    let current = k.current;
    k.syscalls += 1;
    let context = &mut k.tcb(current).context;
    if context.rip >= abi::USER_END {
        stop_past_user_end(k, current);
        let next = schedule(k, current, false);
        return resume(&k.tcb(next).context);
    }
    let fast = match abi::Syscall::from_word(context.general[reg::RAX]) {
        None => {
            // Nothing changed but the status: the caller goes on.
            context.general[reg::RAX] = abi::SyscallStatus::UnknownSyscall as u64;
            return resume(context);
        }
        Some(abi::Syscall::Call) if k.fast_path => fastpath::call(&mut Machine(k), current),
        Some(abi::Syscall::ReplyRecv) if k.fast_path => {
            fastpath::reply_recv(&mut Machine(k), current)
        }
        Some(_) => None,
    };
    match fast {
        Some((next, pml4)) => switch_fast(k, next, pml4),
        None => slow_system_call(k, current),
    }
}

/// Runs `next`, which a fast path made runnable and found to be the
/// scheduler's next choice, in its address space `pml4`: it is in no run
/// queue, and the thread that called blocked.
fn switch_fast(k: &mut Kernel, next: u64, pml4: u64) -> *const UserContext {
    k.fast_syscalls += 1;
    load_cr3(k, pml4);
    set_running(k, next);
    resume(&k.tcb(next).context)
}

/// Every system call the fast paths above leave: [`syscall`], then the
/// scheduler's choice.
#[inline(never)]
fn slow_system_call(k: &mut Kernel, current: u64) -> *const UserContext {
    let mut rotate = syscall(k, current);
    if core::mem::take(&mut k.preempted) {
        // The system call stopped at a preemption point to let interrupts
        // in: they are handled as if they had come in ring 3 (the thread
        // restarts the call when it runs again).
        let _ = deliver_interrupts(k);
        if crate::timer::take_kernel_tick() {
            let slice_over = capc_demo_kernel::runqueue::tick(k.tcb(current));
            k.preemptions += u64::from(slice_over);
            rotate |= slice_over;
        }
    }
    let next = schedule(k, current, rotate);
    resume(&k.tcb(next).context)
}

/// Leaves for `context`: returns it for `sysretq` if the thread last
/// entered by `syscall` and resumes at a user address (`sysretq` to a
/// non-canonical RIP would fault in ring 0 on the user's stack), or leaves
/// by `iretq`.
#[inline(always)]
fn resume(context: &UserContext) -> *const UserContext {
    if context.entered_by_syscall != 0 && context.rip < abi::USER_END {
        return context;
    }
    let mut frame = ExceptionFrame::zeroed();
    load(&mut frame, context);
    interrupts::return_to(&frame)
}

/// Stops `thread`, whose saved RIP is past the end of user space: it ran
/// `syscall` in the last two bytes of user space, or was interrupted right
/// after the last instruction there, so its return address is the first
/// non-canonical one, and `sysretq` or `iretq` to it would fault in ring 0
/// (the kernel's fault, on the thread's stack: Linux keeps a guard page
/// below the end of user space for this). Nothing else can put it there:
/// `write_registers` refuses such a RIP, and a fault keeps the faulting
/// instruction's. So it is stopped, as for a fault, before anything else.
fn stop_past_user_end(k: &mut Kernel, thread: u64) {
    let rip = k.tcb(thread).context.rip;
    k.tcb(thread).state = ThreadState::Faulted;
    k.faulted += 1;
    if let Some(mut console) = Console::reopen() {
        let _ = writeln!(
            console,
            "thread {thread:#x} stopped: its return address {rip:#x} is past the end of user space"
        );
    }
}

/// Chooses the thread to run after an entry of `current`, which gives up
/// its turn if `rotate`, and makes it the running one (its address
/// space loaded, its context the one the next `syscall` saves into).
fn schedule(k: &mut Kernel, current: u64, rotate: bool) -> u64 {
    // seL4's choice: the current thread goes on unless it stopped, gave
    // up its turn, or a thread of a higher priority became runnable (which
    // then runs, the current one keeping its place at the front of its
    // level). Otherwise the first thread of the highest level runs.
    let running = k.tcb(current).state == ThreadState::Running;
    let priority = k.tcb(current).priority;
    // The first thread the entry woke (kept out of the run queues) runs
    // next without going through them if it outranks a current thread
    // that goes on, or as `switches_directly` says when the current one
    // stops.
    let woken = core::mem::take(&mut k.woken);
    let next = if running && !rotate {
        if woken != 0 && k.tcb(woken).priority > priority {
            k.runnable.prepend(&mut QueuedTcbs, current);
            woken
        } else {
            if woken != 0 {
                enqueue(k, woken);
            }
            match k.runnable.highest() {
                Some(highest) if highest > priority => {
                    k.runnable.prepend(&mut QueuedTcbs, current);
                    dequeue(k).unwrap_or(current)
                }
                _ => current,
            }
        }
    } else {
        let direct = if running {
            enqueue(k, current);
            woken != 0
                && k.runnable
                    .highest()
                    .is_none_or(|highest| highest <= k.tcb(woken).priority)
        } else {
            woken != 0 && switches_directly(k, current, woken)
        };
        if direct {
            woken
        } else {
            if woken != 0 {
                enqueue(k, woken);
            }
            match dequeue(k) {
                Some(next) => next,
                None => idle(k),
            }
        }
    };
    // The same thread goes on in the same address space unless a PML4 cap
    // went (its own VSpace slot's, perhaps): only then is the slot read.
    if next == current && !core::mem::take(&mut k.pml4_cap_removed) {
        return current;
    }
    let next = switch_to_runnable(k, next);
    set_running(k, next);
    next
}

/// Whether `woken`, made runnable while `current` stopped (blocked,
/// exited), runs next without going through the run queues: seL4's choice
/// in `schedule` for a thread `possibleSwitchTo` named, when it is at
/// `current`'s priority or above, or no queued thread outranks it.
pub(super) fn switches_directly(k: &Kernel, current: u64, woken: u64) -> bool {
    let priority = k.tcb_ref(woken).priority;
    priority >= k.tcb_ref(current).priority
        || k.runnable
            .highest()
            .is_none_or(|highest| highest <= priority)
}

/// Makes `thread` the running thread.
pub(super) fn set_running(k: &mut Kernel, thread: u64) {
    k.current = thread;
    interrupts::set_running(&mut k.tcb(thread).context);
}

/// Signals, for every interrupt that arrived, the notification its line
/// is bound to (with the binding's badge); an unbound line's interrupt is
/// dropped. Each line stays masked until its driver acknowledges it.
fn deliver_interrupts(k: &mut Kernel) -> u64 {
    let arrived = crate::timer::take_arrived();
    k.interrupts += u64::from(arrived.count_ones());
    for irq in (0..16u8).filter(|irq| arrived & (1 << irq) != 0) {
        if let Some(line) = k.irqs.line(irq)
            && line.notification != 0
        {
            ipc::signal(&mut Machine(k), line.notification, line.badge);
        }
    }
    u64::from(arrived.count_ones())
}

/// What the kernel prints the first time it waits for an interrupt with
/// nothing to run (`cargo xtask` feeds COM2's driver then).
const IDLE: &str = "kernel: nothing to run; waiting for an interrupt a thread waits on";

/// Nothing can run: while a thread waits on a notification an interrupt
/// line signals, the kernel halts with interrupts on until one arrives
/// (the handler in ring 0 only notes it) and delivers it; the thread it
/// wakes runs next. With no such waiter nothing can ever run again, and
/// the run ends.
fn idle(k: &mut Kernel) -> u64 {
    let mut halted = false;
    loop {
        let delivered = deliver_interrupts(k);
        if halted {
            k.idle_interrupts += delivered;
        }
        // A thread the interrupt woke (kept aside: the queues were empty).
        let woken = core::mem::take(&mut k.woken);
        if woken != 0 {
            return woken;
        }
        if let Some(next) = dequeue(k) {
            return next;
        }
        let waits_for_interrupt = k.known_threads().any(|t| {
            k.tcb_ref(t).state == ThreadState::BlockedOnNotification
                && k.irqs.signals(k.tcb_ref(t).blocked_on)
        });
        if !waits_for_interrupt {
            finish(k);
        }
        if !k.reported_idle {
            k.reported_idle = true;
            if let Some(mut console) = Console::reopen() {
                let _ = writeln!(console, "{IDLE}");
            }
        }
        // Interrupts on and halt in one step (no interrupt can slip in
        // between), then off again before the kernel state is touched.
        x86_64::instructions::interrupts::enable_and_hlt();
        x86_64::instructions::interrupts::disable();
        // A tick while idle is nobody's time slice.
        let _ = crate::timer::take_kernel_tick();
        halted = true;
    }
}

/// A CPU exception in ring 3 (seL4's handleFault): reported, then sent
/// as a message to the thread's fault handler, the endpoint cap in its
/// `fault_handler` slot, as a call through it (with its badge, and its
/// grant and grant-reply rights), so the handler's reply restarts the
/// thread at the faulting instruction. A thread without a handler whose
/// cap can send and be answered (grant or grant-reply, as seL4 asks) is
/// stopped, as seL4 does on a double fault.
fn fault(k: &mut Kernel, current: u64, frame: &ExceptionFrame) {
    // CR2 is the faulting address only for a page fault; it is read before
    // anything else can fault.
    let address = if frame.vector == 14 {
        Cr2::read_raw()
    } else {
        0
    };
    if let Some(mut console) = Console::reopen() {
        let _ = writeln!(console, "thread {current:#x} faulted:");
        let _ = interrupts::report(&mut console, frame, Origin::User);
    }
    let handler = EndpointCap::from_cap(thread_cap(current, TcbSlot::FaultHandler)).filter(|e| {
        e.rights().contains(Rights::WRITE)
            && (e.rights().contains(Rights::GRANT) || e.rights().contains(Rights::GRANT_REPLY))
    });
    let Some(handler) = handler else {
        k.tcb(current).state = ThreadState::Faulted;
        k.faulted += 1;
        return;
    };
    k.tcb(current).fault = FaultMessage::of(
        frame.vector,
        frame.error_code,
        frame.rip,
        frame.rsp,
        address,
    );
    if let Some(mut console) = Console::reopen() {
        let _ = writeln!(
            console,
            "thread {current:#x}: fault sent to its fault handler (endpoint {:#x}, badge {:#x})",
            handler.endpoint(),
            handler.badge()
        );
    }
    let pending = PendingSend {
        badge: handler.badge(),
        grant: handler.rights().contains(Rights::GRANT),
        grant_reply: handler.rights().contains(Rights::GRANT_REPLY),
        call: true,
    };
    ipc::send(&mut Machine(k), current, handler.endpoint(), pending);
}

/// Switches to the address space of `next` and returns it; or, if its
/// VSpace slot lost its PML4 cap (deleted or revoked while the thread was
/// queued) or the number the cap records no longer stands for its PML4
/// (its ASID pool was deleted), to the first queued thread whose address
/// space stands: a thread never runs without its own. Those passed over
/// are stopped. (One read of the slot and one of the pool per thread: this
/// is on every switch.)
pub(super) fn switch_to_runnable(k: &mut Kernel, mut next: u64) -> u64 {
    // Each pass stops a queued thread for good, so the queues run out.
    loop {
        if let Some(pml4) = Pml4Cap::from_cap(thread_cap(next, TcbSlot::Vspace))
            .and_then(|v| k.asids.address_space(&Identity, v))
        {
            load_cr3(k, pml4);
            return next;
        }
        k.tcb(next).state = ThreadState::Inactive;
        if let Some(mut console) = Console::reopen() {
            let _ = writeln!(
                console,
                "thread {next:#x} stopped: its address space was deleted"
            );
        }
        next = match dequeue(k) {
            Some(other) => other,
            None => finish(k),
        };
    }
}

/// No thread is left to run: the report, then the end of the QEMU run.
pub(super) fn finish(k: &Kernel) -> ! {
    if let Some(mut console) = Console::reopen() {
        let _ = writeln!(
            console,
            "kernel: no runnable threads left: {} exited, {} faulted, {} blocked; {} system calls ({} on the IPC fast path), {} preemptions; {} interrupts for drivers, {} while idle; no kernel heap",
            k.exited,
            k.faulted,
            k.known_threads()
                .filter(|&t| matches!(
                    k.tcb_ref(t).state,
                    ThreadState::BlockedOnSend
                        | ThreadState::BlockedOnRecv
                        | ThreadState::BlockedOnReply
                        | ThreadState::BlockedOnNotification
                ))
                .count(),
            k.syscalls,
            k.fast_syscalls,
            k.preemptions,
            k.interrupts,
            k.idle_interrupts
        );
        let (points, longest) = crate::timer::preemption_stats();
        let _ = writeln!(
            console,
            "kernel: {} system calls restarted at preemption points to let interrupts in; {points} preemption points, the longest stretch of a revoke without one {longest} time-stamp ticks",
            k.restarts
        );
        let _ = writeln!(console, "{}", crate::DEMO_OK);
    }
    qemu::exit(ExitCode::Success)
}
