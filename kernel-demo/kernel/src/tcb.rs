//! The kernel's thread control block: its layout is the kernel's business,
//! its size the spec's. `#[derive(KernelObject)]` proves at compile time that
//! [`Tcb`] fits the `Tcb` object of `kernel.cap` (2 KiB), so retyping Untyped
//! memory into a Tcb always leaves room for the struct.
//!
//! What a thread runs with (its CSpace root, its address space, the frame of
//! its IPC buffer) is not copied into the struct: it is held as caps in
//! slots of the TCB object itself, after the struct ([`TcbSlot`], declared
//! by `slot` in the spec's `Tcb`, as seL4's TCB CNode). Those slots are in the derivation tree like any CNode slot,
//! so while a thread is configured with a CNode, a PML4 or a frame, the
//! Untyped that object came from has a child and its memory is not handed
//! out again; and deleting the TCB's last cap deletes them.

pub use crate::caps::TcbSlot;
use crate::caps::{Cap, KernelError, KernelObject, ObjectType, Rights, may_copy, owned_slots_of};
use crate::cspace::{SlotAddr, SlotMemory, Table};
use crate::ops;

/// The user registers saved on kernel entry and restored on exit.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserContext {
    /// rax, rbx, rcx, rdx, rsi, rdi, rbp, r8..r15.
    pub general: [u64; 15],
    /// Instruction pointer.
    pub rip: u64,
    /// Stack pointer.
    pub rsp: u64,
    /// Flags.
    pub rflags: u64,
    /// Thread-local storage base.
    pub fs_base: u64,
    /// Non-zero if the registers were saved by `syscall`, whose return
    /// path (`sysretq`) may clobber RCX and R11; zero if an interrupt or
    /// fault saved them all.
    pub entered_by_syscall: u64,
}

/// Indices into [`UserContext::general`].
pub mod reg {
    /// rax: the system call number, then its status.
    pub const RAX: usize = 0;
    /// rbx.
    pub const RBX: usize = 1;
    /// rcx: clobbered by `syscall`.
    pub const RCX: usize = 2;
    /// rdx: message word 0.
    pub const RDX: usize = 3;
    /// rsi: the `MessageInfo` word.
    pub const RSI: usize = 4;
    /// rdi: the capability address, or the first argument of a thread.
    pub const RDI: usize = 5;
    /// rbp.
    pub const RBP: usize = 6;
    /// r8: message word 1.
    pub const R8: usize = 7;
    /// r9: message word 2.
    pub const R9: usize = 8;
    /// r10: message word 3.
    pub const R10: usize = 9;
    /// r11: clobbered by `syscall`.
    pub const R11: usize = 10;
}

/// Where a thread is in its life.
#[repr(u8)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ThreadState {
    /// Created by retype, not yet resumed (or suspended).
    #[default]
    Inactive,
    /// Runnable.
    Running,
    /// Waiting in an endpoint's queue to send (`Send` or `Call`).
    BlockedOnSend,
    /// Waiting in an endpoint's queue to receive.
    BlockedOnRecv,
    /// Waiting for the reply to a `Call` its receiver took.
    BlockedOnReply,
    /// Waiting on a notification.
    BlockedOnNotification,
    /// Stopped by a fault it caused; never runs again.
    Faulted,
    /// Ended itself with the `Exit` system call.
    Exited,
}

/// A thread: what `TcbCap::configure` and `write_registers` set.
#[derive(capc_macros::KernelObject, Clone, Copy, Debug)]
#[kernel_object(Tcb, spec = "../spec/kernel.cap")]
#[repr(C)]
pub struct Tcb {
    /// Saved user registers.
    pub context: UserContext,
    /// Scheduling state.
    pub state: ThreadState,
    /// Where the IPC buffer is mapped in the thread's address space.
    pub ipc_buffer_addr: u64,
    /// The next thread in the run queue or in the queue of the endpoint
    /// it waits on (physical address of its TCB, 0 for none): a thread is
    /// in at most one queue, and the queues live in the TCBs, so they need
    /// no memory of their own.
    pub sched_next: u64,
    /// The next thread in the list of every thread the kernel knows
    /// (`threads`; 0: none).
    pub thread_next: u64,
    /// The previous thread in that list (0: none).
    pub thread_prev: u64,
    /// The endpoint or notification the thread waits on (0: none).
    pub blocked_on: u64,
    /// What the thread sends while it waits to: the badge of the cap it
    /// sent through, whether that cap may grant caps, whether it is a call.
    pub ipc: PendingSend,
    /// While the thread waits in `BlockedOnReply`: the thread whose caller
    /// slot (`TcbSlot::Caller`) holds the `ReplyCap` naming this one (0:
    /// none), so that cancelling the wait can delete it (seL4 finds it as
    /// the child of the TCB's master reply cap).
    pub reply_from: u64,
    /// The endpoint cap this thread waits to receive through has the grant
    /// right: a call it receives may be answered with caps.
    pub recv_grant: bool,
    /// The fault this thread's call to its fault handler carries, kept
    /// until the handler replies (which restarts the thread) or the wait is
    /// cancelled; `FaultMessage::NONE` otherwise.
    pub fault: crate::abi::FaultMessage,
    /// Its priority, 0 (lowest) to 255: the highest runnable thread runs
    /// (`runqueue`).
    pub priority: u8,
    /// Its maximum controlled priority (seL4's MCP): the highest priority
    /// (or MCP) a holder of a cap to this TCB may give any thread.
    pub mcp: u8,
    /// Timer ticks left of its time slice (seL4's tcbTimeSlice): counted
    /// down only while it runs, refilled when it runs out (`runqueue::tick`).
    pub time_slice: u8,
}

/// What a thread waiting to send will send.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PendingSend {
    /// The badge of the endpoint cap it sent through.
    pub badge: u64,
    /// The cap had the grant right: caps may go along.
    pub grant: bool,
    /// The cap had the grant-reply right: a call through it may be
    /// answered (seL4: without grant or grant-reply a caller gets no reply
    /// right and is left inactive).
    pub grant_reply: bool,
    /// A `Call`: the sender waits for the reply.
    pub call: bool,
}

impl Tcb {
    /// A thread as retype creates it: inactive, registers and caps cleared.
    pub const fn new() -> Tcb {
        Tcb {
            context: UserContext {
                general: [0; 15],
                rip: 0,
                rsp: 0,
                rflags: 0,
                fs_base: 0,
                entered_by_syscall: 0,
            },
            state: ThreadState::Inactive,
            ipc_buffer_addr: 0,
            sched_next: 0,
            thread_next: 0,
            thread_prev: 0,
            blocked_on: 0,
            ipc: PendingSend {
                badge: 0,
                grant: false,
                grant_reply: false,
                call: false,
            },
            reply_from: 0,
            recv_grant: false,
            fault: crate::abi::FaultMessage::NONE,
            priority: 0,
            mcp: 0,
            time_slice: crate::runqueue::TIME_SLICE,
        }
    }
}

/// The slot `which` of the TCB object at `tcb` (the slots are the spec's
/// `slot` declarations of `Tcb`, at the end of the object).
pub fn slot_of(tcb: u64, which: TcbSlot) -> Option<SlotAddr> {
    SlotAddr::new(tcb.checked_add(which.offset())?)
}

// The struct ends before the first slot begins (`#[derive(KernelObject)]`
// checks the same against the spec).
const _: () = assert!(core::mem::size_of::<Tcb>() as u64 <= TcbSlot::ALL[0].offset());

/// Whether `cap` may go into slot `which`, as `configure` checks it: a cap
/// the slot admits (its cap type, with the rights it requires) that may be
/// copied; `IllegalOperation` otherwise, as seL4's TCB_Configure says for
/// a CSpace, VSpace or IPC buffer cap of the wrong type.
pub fn admit(which: TcbSlot, cap: Cap) -> Result<(), KernelError> {
    if !which.admits(cap) || !may_copy(cap) {
        return Err(KernelError::IllegalOperation);
    }
    Ok(())
}

/// Sets the slots of the TCB at `tcb` as seL4's `TCB_Configure` and
/// `TCB_SetSpace` do and as the spec's interpreter runs it
/// (`Machine::configure`): `given` holds, in the order of
/// [`TcbSlot::ALL`], the cap for each slot with the slot it was found in
/// (`None`: the slot is left as it is). First every cap is checked
/// ([`admit`]); then each given slot's old cap is deleted and a copy of the
/// new one goes in. A source that those deletions took away (it was
/// held by an object they finalised) is left out. Returns how many caps
/// the deletions removed. `IllegalOperation` if the TCB's slots are not in
/// slot memory. (What the kernel asks of an IPC buffer beyond the spec, RAM
/// it can reach, is the system call's check: `invoke`.)
pub fn configure(
    memory: &mut SlotMemory<'_>,
    tcb: u64,
    given: &[Option<(SlotAddr, Cap)>; TcbSlot::ALL.len()],
) -> Result<u64, KernelError> {
    for (which, given) in TcbSlot::ALL.iter().zip(given) {
        if let Some((_, cap)) = given {
            admit(*which, *cap)?;
        }
    }
    let slots = TcbSlot::ALL.map(|which| slot_of(tcb, which).filter(|&s| memory.get(s).is_some()));
    if slots.contains(&None) {
        return Err(KernelError::IllegalOperation);
    }
    let mut removed = 0;
    for (slot, given) in slots.into_iter().flatten().zip(given) {
        if given.is_some() {
            removed += ops::delete(memory, slot)?.map_or(0, |d| d.removed);
        }
    }
    for (slot, given) in slots.into_iter().flatten().zip(given) {
        if let Some((source, new)) = *given
            && memory.cap(source) == Some(new)
        {
            ops::copy(memory, source, slot, Rights::ALL)?;
        }
    }
    Ok(removed)
}

/// Whether a slot the spec marks `#[required]` is empty, `cap_in` giving
/// each slot's cap: then the thread may not run (resume is
/// `IllegalOperation`). What a slot holds is of its type (`admit`).
pub fn missing_required_slot(cap_in: impl Fn(TcbSlot) -> Cap) -> bool {
    TcbSlot::ALL
        .iter()
        .any(|&which| which.required() && cap_in(which).is_null())
}

/// The slots the object `cap` names owns (a TCB's), as a run of slots.
pub fn slots_of(cap: Cap) -> Option<Table> {
    let (first, count) = owned_slots_of(cap)?;
    Table::run(SlotAddr::new(first)?, count)
}

impl Default for Tcb {
    fn default() -> Tcb {
        Tcb::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcb_is_bound_to_the_specs_2_kib_object() {
        assert_eq!(Tcb::OBJECT_TYPE, ObjectType::Tcb);
        assert_eq!(Tcb::SIZE_BITS, 11);
        assert_eq!(ObjectType::Tcb.size_bits(0), Ok(11));
        assert!(core::mem::size_of::<Tcb>() <= 1 << Tcb::SIZE_BITS);
    }

    #[test]
    fn a_new_tcb_holds_null_caps() {
        let tcb = Tcb::new();
        assert_eq!(tcb.state, ThreadState::Inactive);
        assert_eq!(tcb.reply_from, 0);
    }

    #[test]
    fn a_tcbs_slots_are_the_last_of_its_object() {
        use crate::caps::TcbCap;
        use crate::cspace::SLOT_BYTES;
        let base = 0x10_0000;
        let last = slot_of(base, TcbSlot::Caller).unwrap().get();
        assert_eq!(last + SLOT_BYTES, base + (1 << Tcb::SIZE_BITS));
        let cap = TcbCap::new(base).unwrap().cap();
        let table = slots_of(cap).unwrap();
        assert_eq!(table.slot_count(), 5);
        assert_eq!(table.slot(0), slot_of(base, TcbSlot::IpcBuffer));
        assert_eq!(table.slot(4), slot_of(base, TcbSlot::Caller));
        assert_eq!(table.slot(5), None);
        assert_eq!(slots_of(Cap::NULL), None);
    }

    /// The kernel's pattern, which Miri (`cargo xtask miri`) checks: slot
    /// memory over RAM in which a TCB lies, a `&mut Tcb` to the TCB's
    /// struct live while the TCB's own slots (the same object's last bytes)
    /// are written through the window, and used again after.
    #[test]
    fn a_tcb_and_its_own_slots_are_reached_at_once() {
        use crate::caps::{EndpointCap, Pml4Cap};
        use crate::cspace::Slot;
        use core::ptr::NonNull;
        const BASE: u64 = 0x10_0000;
        // 4 KiB of "RAM": a TCB object (2 KiB) at BASE + 2 KiB.
        assert!(core::mem::align_of::<Tcb>() <= core::mem::align_of::<Slot>());
        let mut ram = vec![Slot::EMPTY; 128];
        let window = NonNull::new(ram.as_mut_ptr()).unwrap();
        // SAFETY: `ram` is reached only through `window` from here on.
        let mut memory = unsafe { SlotMemory::from_raw(BASE, window, 128) }.unwrap();
        let at = BASE + 0x800;
        // SAFETY: 2 KiB into the buffer, aligned for `Tcb` (the buffer is
        // aligned for `Slot`, whose alignment is at least `Tcb`'s), and
        // before the TCB's own slots.
        let thread = unsafe { &mut *window.as_ptr().byte_add(0x800).cast::<Tcb>() };
        *thread = Tcb::new();
        thread.sched_next = 1;
        let cspace = slot_of(at, TcbSlot::Cspace).unwrap();
        let vspace = slot_of(at, TcbSlot::Vspace).unwrap();
        let ep = EndpointCap::new(0x20_0000, Rights::ALL, 0).unwrap().cap();
        crate::mdb::insert_root(&mut memory, cspace, ep).unwrap();
        thread.state = ThreadState::Running;
        let pml4 = Pml4Cap::new(0x30_0000, 1).unwrap().cap();
        crate::mdb::insert_root(&mut memory, vspace, pml4).unwrap();
        thread.sched_next += 1;
        assert_eq!(
            (memory.cap(cspace), memory.cap(vspace)),
            (Some(ep), Some(pml4))
        );
        assert_eq!((thread.sched_next, thread.state), (2, ThreadState::Running));
        assert!(memory.iter().any(|(a, s)| a == vspace && s.cap() == pml4));
    }
}
