//! What the library's IPC (`capc_demo_kernel::ipc`) needs of the machine:
//! TCBs, endpoints and notifications by address, waking a thread, and the
//! transfer of a message (registers, IPC buffer words, granted caps).
//!
//! Touches the TCBs and IPC buffers of the two threads of a transfer, the
//! run queue (to wake), and the slots a grant copies into.

use capc_demo_kernel::abi::{self, MESSAGE_REGISTERS, SyscallStatus};
use capc_demo_kernel::caps::{Cap, MessageInfo, Pml4Cap, ReplyCap};
use capc_demo_kernel::cspace::{SlotAddr, lookup_cap, lookup_fast, lookup_slot};
use capc_demo_kernel::tcb::{Tcb, TcbSlot, ThreadState, reg};
use capc_demo_kernel::{fastpath, ipc, mdb, ops};

use super::sched::{enqueue, switches_directly};
use super::state::{Identity, Kernel, caller_slot, ipc_buffer_ptr, slots, thread_cap, with_memory};

/// The kernel's objects for `ipc`, reached through the identity map.
pub(super) struct Machine<'k>(pub(super) &'k mut Kernel);

impl ipc::Objects for Machine<'_> {
    fn tcb(&mut self, at: u64) -> &mut Tcb {
        self.0.tcb(at)
    }
    fn endpoint(&mut self, at: u64) -> &mut ipc::Endpoint {
        // SAFETY: `at` comes from an EndpointCap (or a TCB's `blocked_on`,
        // set from one): a 16-byte Endpoint object, zeroed by its retype.
        unsafe { &mut *(at as *mut ipc::Endpoint) }
    }
    fn notification(&mut self, at: u64) -> &mut ipc::Notification {
        // SAFETY: as above, for a 32-byte Notification object.
        unsafe { &mut *(at as *mut ipc::Notification) }
    }
    fn transfer(&mut self, from: u64, to: u64, badge: u64, grant: bool) {
        transfer(self.0, from, to, badge, grant);
    }
    fn deliver_signal(&mut self, to: u64, word: u64) {
        let g = &mut self.0.tcb(to).context.general;
        g[reg::RAX] = SyscallStatus::Ok as u64;
        g[reg::RDI] = word;
        g[reg::RSI] = 0;
    }
    fn reply_cap(&mut self, holder: u64) -> Option<ReplyCap> {
        ReplyCap::from_cap(thread_cap(holder, TcbSlot::Caller))
    }
    fn set_reply_cap(&mut self, holder: u64, cap: Option<ReplyCap>) {
        // The caller slot is reached directly, without a view of the slot
        // window: what a reply cap's going does to its caller, `ipc` does
        // itself, and a reply cap is never copied, so it is alone in the
        // derivation list and no other slot changes. This may run inside
        // the removal hook (a caller's last TCB cap deleted), while the
        // hooked view waits for it, holding no reference into the window.
        let slot = caller_slot(holder);
        match cap {
            Some(cap) => {
                let _ = mdb::put_root(slot, cap.cap());
            }
            None => {
                // Never with links (see above); were it so, the general
                // delete would unlink it.
                if !mdb::take_root(slot)
                    && !slot.is_empty()
                    && let Some(at) = SlotAddr::new(holder + TcbSlot::Caller.offset())
                {
                    let _ = ops::delete(&mut slots(self.0), at);
                }
            }
        }
    }
    fn fail_wait(&mut self, thread: u64) {
        let t = self.0.tcb(thread);
        t.state = ThreadState::Running;
        t.context.general[reg::RAX] = SyscallStatus::InvalidCap as u64;
        self.wake(thread);
    }
    fn wake(&mut self, thread: u64) {
        let k = &mut *self.0;
        // The first thread an entry wakes is kept aside for the scheduler
        // to switch to directly (seL4's possibleSwitchTo: a call or a reply
        // goes straight to its receiver), without a trip through the run
        // queues; the others queue.
        if k.woken == 0 {
            k.woken = thread;
        } else {
            enqueue(k, thread);
        }
    }
}

impl fastpath::Machine for Machine<'_> {
    /// The PML4 to load.
    type Switch = u64;
    #[inline(always)]
    fn lookup(&mut self, thread: u64, address: u64) -> Option<Cap> {
        let memory = slots(self.0);
        let root = thread_cap(thread, TcbSlot::Cspace);
        lookup_fast(&memory, root, address)
    }
    #[inline(always)]
    fn runs_next(&mut self, thread: u64) -> Option<u64> {
        let k = &*self.0;
        // What `sched::schedule` would choose once the caller blocks and
        // `thread` is woken (`sched::switches_directly`), and only into an
        // address space that stands (`sched::switch_to_runnable`).
        if k.woken != 0 || !switches_directly(k, k.current, thread) {
            return None;
        }
        let vspace = Pml4Cap::from_cap(thread_cap(thread, TcbSlot::Vspace))?;
        k.asids.address_space(&Identity, vspace)
    }
}

/// Copies the message `from` sends (its saved registers: `rsi` the
/// `MessageInfo`, `rdx, r8, r9, r10` the first words; the rest and the cap
/// addresses in its IPC buffer) into `to`'s registers and IPC buffer, as
/// the return of its receive with `badge`. With `grant`, each cap goes into
/// the receive slot `to` named in its buffer (`receive_slots[i]` at
/// `receive_depth`), stopping at the first that cannot (as seL4).
#[inline(always)]
pub(super) fn transfer(k: &mut Kernel, from: u64, to: u64, badge: u64, grant: bool) {
    // The common case, a message that fits the registers and carries no
    // caps between threads with no fault, goes as it is: its `MessageInfo`
    // word is already right.
    let word = k.tcb_ref(from).context.general[reg::RSI];
    if abi::fits_registers(word)
        && !k.tcb_ref(from).fault.is_fault()
        && !k.tcb_ref(to).fault.is_fault()
    {
        let g = &k.tcb_ref(from).context.general;
        let words = [g[reg::RDX], g[reg::R8], g[reg::R9], g[reg::R10]];
        let r = &mut k.tcb(to).context.general;
        r[reg::RAX] = SyscallStatus::Ok as u64;
        r[reg::RDI] = badge;
        r[reg::RSI] = word;
        (r[reg::RDX], r[reg::R8], r[reg::R9], r[reg::R10]) =
            (words[0], words[1], words[2], words[3]);
        return;
    }
    transfer_in_general(k, from, to, badge, grant);
}

/// [`transfer`] of anything but the common case: a fault's message, a
/// reply to a fault, words past the registers, caps.
#[inline(never)]
fn transfer_in_general(k: &mut Kernel, from: u64, to: u64, badge: u64, grant: bool) {
    // A fault's message is the kernel's, not the registers'; the reply to
    // it restarts the thread with its registers as they were.
    let fault = k.tcb(from).fault;
    if fault.is_fault() {
        let r = &mut k.tcb(to).context.general;
        r[reg::RAX] = SyscallStatus::Ok as u64;
        r[reg::RDI] = badge;
        r[reg::RSI] = abi::pack_info(fault.info()).unwrap_or(0);
        (r[reg::RDX], r[reg::R8], r[reg::R9], r[reg::R10]) = (
            fault.words[0],
            fault.words[1],
            fault.words[2],
            fault.words[3],
        );
        return;
    }
    if k.tcb(to).fault.is_fault() {
        k.tcb(to).fault = abi::FaultMessage::NONE;
        return;
    }
    // A message that fits the registers went in `transfer`.
    let sender = k.tcb(from);
    let g = &sender.context.general;
    let words = [g[reg::RDX], g[reg::R8], g[reg::R9], g[reg::R10]];
    let mut info = abi::unpack_info(g[reg::RSI]).unwrap_or(MessageInfo {
        label: 0,
        length: 0,
        caps: 0,
    });
    let sender_cspace = thread_cap(from, TcbSlot::Cspace);
    // Pointers, not references: two threads may share a buffer frame.
    let (from_buffer, to_buffer) = if info.length > MESSAGE_REGISTERS || info.caps > 0 {
        (ipc_buffer_ptr(from), ipc_buffer_ptr(to))
    } else {
        (None, None)
    };
    let receiver_cspace = thread_cap(to, TcbSlot::Cspace);
    // Words past the registers need both buffers.
    if from_buffer.is_none() || to_buffer.is_none() {
        info.length = info.length.min(MESSAGE_REGISTERS);
    }
    // One shared buffer already holds the words.
    if let (Some(src), Some(dst)) = (from_buffer, to_buffer)
        && info.length > MESSAGE_REGISTERS
        && src != dst
    {
        // SAFETY: two IPC buffers (see `ipc_buffer`) at different frames,
        // which do not overlap; nothing else refers to them now.
        let (src, dst) = unsafe { (&*src, &mut *dst) };
        let words = MESSAGE_REGISTERS..info.length;
        dst.msg[words.clone()].copy_from_slice(&src.msg[words]);
    }
    let mut moved = 0;
    if let (true, Some(src), Some(dst)) = (grant, from_buffer, to_buffer) {
        // SAFETY: IPC buffers (see `ipc_buffer`), only read here.
        let (src, dst) = unsafe { (&*src, &*dst) };
        let depth = dst.receive_depth;
        let count = info.caps.min(src.caps.len()).min(dst.receive_slots.len());
        moved = with_memory(k, |memory| {
            ops::transfer_caps(memory, count, |memory, i| {
                let (source, _) = lookup_cap(memory, sender_cspace, src.caps[i]).ok()?;
                let target = lookup_slot(memory, receiver_cspace, dst.receive_slots[i], depth);
                Some((source, target.ok()?))
            })
        });
    }
    info.caps = moved;
    let r = &mut k.tcb(to).context.general;
    r[reg::RAX] = SyscallStatus::Ok as u64;
    r[reg::RDI] = badge;
    r[reg::RSI] = abi::pack_info(info).unwrap_or(0);
    (r[reg::RDX], r[reg::R8], r[reg::R9], r[reg::R10]) = (words[0], words[1], words[2], words[3]);
}
