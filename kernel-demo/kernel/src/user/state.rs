//! The kernel's own state ([`Kernel`], one static) and how kernel objects
//! are reached: the slot window, TCBs, a thread's TCB slots and IPC buffer,
//! physical memory through the boot identity map.
//!
//! The only file that touches `KERNEL` and the raw addresses of objects;
//! the others go through the functions here.

use core::ptr::NonNull;

use capc_demo_kernel::abi::IpcBuffer;
use capc_demo_kernel::asid::AsidTable;
use capc_demo_kernel::caps::{Cap, FrameCap};
use capc_demo_kernel::cspace::{Slot, SlotMemory};
use capc_demo_kernel::irq::{IoPorts, IrqTable};
use capc_demo_kernel::runqueue::{RunQueues, Tcbs};
use capc_demo_kernel::tcb::{Tcb, TcbSlot};
use capc_demo_kernel::threads::ThreadList;
use capc_demo_kernel::vspace::PhysMem;

use super::lifecycle::removed;

/// RFLAGS of a thread's first run: interrupts on (bit 1 is always set).
pub(super) const USER_RFLAGS: u64 = 0x202;

/// Physical memory through the boot identity map.
pub(super) struct Identity;

/// The TCBs the run queues and the thread list link, through the identity
/// map.
pub(super) struct QueuedTcbs;

impl Tcbs for QueuedTcbs {
    fn tcb(&mut self, at: u64) -> &mut Tcb {
        // SAFETY: the run queues and the thread list hold only addresses
        // of TCBs the kernel initialised (put there by `sched::enqueue`
        // from a TcbCap or a thread the kernel runs, and by
        // `lifecycle::zero_objects` for a TCB just retyped), in
        // identity-mapped RAM; `RunQueues` and `ThreadList` use each
        // reference within one step and hold none across their calls,
        // during which no other reference to a TCB is live (the callers
        // hold the kernel state, not a TCB).
        unsafe { &mut *(at as *mut Tcb) }
    }
}

impl PhysMem for Identity {
    fn read(&self, paddr: u64) -> u64 {
        // SAFETY: callers pass addresses of page tables, which are kernel
        // objects in identity-mapped RAM, 8-byte aligned.
        unsafe { core::ptr::read_volatile(paddr as *const u64) }
    }
    fn write(&mut self, paddr: u64, value: u64) {
        // SAFETY: as for `read`.
        unsafe { core::ptr::write_volatile(paddr as *mut u64, value) }
    }
}

/// Zeroes `bytes` bytes at physical address `paddr`.
pub(super) fn zero(paddr: u64, bytes: u64) {
    // SAFETY: only called on the memory of objects just retyped, which
    // nothing references yet, inside identity-mapped RAM.
    unsafe { core::ptr::write_bytes(paddr as *mut u8, 0, bytes as usize) }
}

/// What the kernel tracks besides the objects themselves.
pub(super) struct Kernel {
    /// The slot window: physical base and slot count.
    pub(super) slots_base: u64,
    pub(super) slots_len: usize,
    /// The boot PML4, whose entry 0 every address space shares.
    pub(super) kernel_pml4: u64,
    /// The TCB running (physical address), 0 before the first.
    pub(super) current: u64,
    /// The PML4 loaded in CR3.
    pub(super) cr3: u64,
    /// The runnable threads but the current one, by priority, and a
    /// thread the current entry woke while they were empty (0: none), which
    /// is in no queue: `trap` switches to it or queues it.
    pub(super) runnable: RunQueues,
    pub(super) woken: u64,
    /// The interrupt lines handed out to drivers, and what they signal.
    pub(super) irqs: IrqTable,
    /// The I/O ports handed out to drivers.
    pub(super) ports: IoPorts,
    /// Counters for the final report.
    pub(super) syscalls: u64,
    /// Of those, the `Call`s and `ReplyRecv`s the fast paths carried out.
    pub(super) fast_syscalls: u64,
    pub(super) preemptions: u64,
    pub(super) exited: u64,
    pub(super) faulted: u64,
    /// Interrupts of drivers' lines, and how many of them woke the kernel
    /// waiting with nothing to run.
    pub(super) interrupts: u64,
    pub(super) idle_interrupts: u64,
    /// The kernel said once that it waits for an interrupt.
    pub(super) reported_idle: bool,
    /// Threads made runnable for the first time (the root, and each
    /// resumed from `Inactive`).
    pub(super) started: u64,
    /// Every TCB there is, from its retype to its last cap, linked
    /// through the TCBs (see `capc_demo_kernel::threads`): one word here,
    /// whatever the number of threads.
    pub(super) threads: ThreadList,
    /// The address spaces frames and tables are mapped in, by number
    /// (seL4's ASIDs).
    pub(super) asids: AsidTable,
    /// A PML4 cap was removed since the last exit: the thread that goes on
    /// may have lost its address space (see `sched::trap`).
    pub(super) pml4_cap_removed: bool,
    /// The pages of the boot image, mapped read-only into the root task
    /// without caps (no Untyped covers them): `[start, end)`.
    pub(super) boot_image: (u64, u64),
    /// `Call` and `ReplyRecv` may take the IPC fast paths.
    pub(super) fast_path: bool,
    /// The current system call stopped at a preemption point: it is
    /// restarted (its thread's RIP back on the `syscall`), and the
    /// interrupts that came are handled first.
    pub(super) preempted: bool,
    /// System calls restarted so.
    pub(super) restarts: u64,
}

pub(super) static mut KERNEL: Kernel = Kernel {
    slots_base: 0,
    slots_len: 0,
    kernel_pml4: 0,
    current: 0,
    cr3: 0,
    runnable: RunQueues::new(),
    woken: 0,
    irqs: IrqTable::new(),
    ports: IoPorts::new(),
    syscalls: 0,
    fast_syscalls: 0,
    preemptions: 0,
    exited: 0,
    faulted: 0,
    interrupts: 0,
    idle_interrupts: 0,
    reported_idle: false,
    started: 0,
    threads: ThreadList::new(),
    asids: AsidTable::new(),
    pml4_cap_removed: false,
    boot_image: (0, 0),
    fast_path: false,
    preempted: false,
    restarts: 0,
};

/// The kernel state: the one mutable context of a kernel entry, threaded
/// from there through everything the entry does (the removal hook gets it
/// from [`with_memory`], not from here).
///
/// # Safety
///
/// At most one result may be live: called once at the start of each entry
/// (`start`, `trap`). One CPU, and the kernel runs with interrupts off, so
/// entries never overlap.
pub(super) unsafe fn kernel() -> &'static mut Kernel {
    let state = &raw mut KERNEL;
    // SAFETY: the caller makes this the only reference to `KERNEL`.
    unsafe { &mut *state }
}

/// The slot window as [`SlotMemory`], without a removal hook: for lookups,
/// the audit, and the boot (which removes nothing). Anything that may
/// remove a cap goes through [`with_memory`].
pub(super) fn slots(k: &Kernel) -> SlotMemory<'static> {
    let window = NonNull::new(k.slots_base as *mut Slot).expect("the slot window is not at 0");
    // SAFETY: the window is RAM the Untyped caps cover, identity-mapped;
    // every CNode (and a TCB's own slots) is retyped from that RAM, so
    // every slot lies in it, and slots are reached only through a
    // `SlotMemory`. The kernel uses one such view at a time (a hooked one
    // made while another exists is used only while that one is not), and
    // a view hands out references to single slots only, never overlapping
    // a `Tcb`, an endpoint, a page table or an IPC buffer.
    unsafe { SlotMemory::from_raw(k.slots_base, window, k.slots_len) }
        .expect("the slot window is aligned")
}

/// Runs `f` on the slot window with the removal hook: every cap removed
/// for good is finalised ([`removed`]) with this entry's kernel state,
/// which the hook borrows for as long as `f` runs.
pub(super) fn with_memory<R>(k: &mut Kernel, f: impl FnOnce(&mut SlotMemory<'_>) -> R) -> R {
    let window = slots(k);
    let mut hook = |removal| removed(k, removal);
    let mut memory = window.with_on_remove(&mut hook);
    f(&mut memory)
}

impl Kernel {
    /// The TCB at `at`, borrowed with the kernel state: while it is live
    /// nothing else reaches a TCB or the state (the borrow checker sees
    /// to it), so two `&mut Tcb` to one TCB never coexist.
    pub(super) fn tcb(&mut self, at: u64) -> &mut Tcb {
        // SAFETY: `at` comes from a TcbCap (or the run queue or the thread
        // list, which hold only TCBs), so a `Tcb` object the kernel
        // initialised lies there; no other reference to it is live (see
        // above), and slot memory never covers a TCB's struct.
        unsafe { &mut *(at as *mut Tcb) }
    }

    /// Every TCB there is (see [`Kernel::threads`]), the newest first.
    pub(super) fn known_threads(&self) -> impl Iterator<Item = u64> + Clone + '_ {
        let mut at = self.threads.first();
        core::iter::from_fn(move || {
            let this = at;
            at = (this != 0).then(|| self.tcb_ref(this).thread_next)?;
            Some(this)
        })
    }

    /// The TCB at `at`, to read, borrowed with the kernel state.
    pub(super) fn tcb_ref(&self, at: u64) -> &Tcb {
        // SAFETY: as for `tcb`.
        unsafe { &*(at as *const Tcb) }
    }
}

/// The cap in slot `which` of the TCB at `at` (see [`TcbSlot`]).
pub(super) fn thread_cap(at: u64, which: TcbSlot) -> Cap {
    // `at` is the address of a TCB (from a TcbCap, the run queue or the
    // thread table): 2 KiB aligned and below 2^48, so the slot's address
    // neither overflows nor needs `tcb::slot_of`'s checks on this path,
    // which every system call takes.
    let slot = at + which.offset();
    // SAFETY: the TCB object is 2 KiB of identity-mapped RAM whose last
    // slots are its owned slots: a `Slot` at `slot`, 32-byte aligned,
    // emptied by the TCB's retype and written only through `SlotMemory`,
    // which holds no reference to it across this read.
    unsafe { (*(slot as *const Slot)).cap() }
}

/// The caller slot (`TcbSlot::Caller`) of the TCB at `at`, where the reply
/// cap of the call it took last is held.
pub(super) fn caller_slot(at: u64) -> &'static mut Slot {
    // SAFETY: as for `thread_cap`: `at` is a TCB's address, whose owned
    // slots lie in identity-mapped RAM after the struct. The caller holds
    // no other reference to this slot and no view of the slot window uses
    // one across this borrow (`ipc::Objects::set_reply_cap`, its one user,
    // writes the slot at once).
    unsafe { &mut *((at + TcbSlot::Caller.offset()) as *mut Slot) }
}

/// The IPC buffer of the thread at `at`, if it has one.
pub(super) fn ipc_buffer(at: u64) -> Option<&'static mut IpcBuffer> {
    // SAFETY: the frame is a 4 KiB (or larger) object the thread was
    // configured with; `IpcBuffer` fits in 4 KiB (checked in `abi`).
    // Callers hold one buffer reference at a time.
    ipc_buffer_ptr(at).map(|b| unsafe { &mut *b })
}

/// Where the IPC buffer of the thread at `at` is, if it has one: for a
/// transfer, where two threads may share one buffer frame.
pub(super) fn ipc_buffer_ptr(at: u64) -> Option<*mut IpcBuffer> {
    let frame = FrameCap::from_cap(thread_cap(at, TcbSlot::IpcBuffer))?;
    Some(frame.frame() as *mut IpcBuffer)
}
