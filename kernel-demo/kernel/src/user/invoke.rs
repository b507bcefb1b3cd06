//! Invocations of kernel objects through a `Call` on their cap: Untyped
//! (retype), CNode, TCB, frame and page-table caps; the reply goes into
//! the caller's registers.
//!
//! Touches the caps through `SlotMemory` and `ops`, the invoked TCB, and
//! page tables and address-space numbers through
//! `capc_demo_kernel::mapping` (TLB flushes: `address_space`).

use capc_demo_kernel::abi::{self, IpcBuffer, MESSAGE_REGISTERS, SyscallStatus};
use capc_demo_kernel::caps::{
    AsidControlCapInvocation, AsidPoolCapInvocation, CNodeCap, Cap, CapType, FrameCap,
    FrameCapInvocation, IoPortCap, IoPortCapInvocation, IoPortControlCapInvocation,
    IrqControlCapInvocation, IrqHandlerCap, IrqHandlerCapInvocation, KernelError, MessageInfo,
    PageDirectoryCapInvocation, PageTableCapInvocation, PdptCapInvocation, Rights, TcbCap,
    TcbCapInvocation, UntypedMemory, decode_asid_control_cap, decode_asid_pool_cap,
    decode_frame_cap, decode_io_port_cap, decode_io_port_control_cap, decode_irq_control_cap,
    decode_irq_handler_cap, decode_page_directory_cap, decode_page_table_cap, decode_pdpt_cap,
    decode_tcb_cap, encode_io_port_cap_in8_reply, target,
};
use capc_demo_kernel::cspace::{SlotAddr, SlotMemory, lookup_cap, lookup_slot};
use capc_demo_kernel::invoke::{decode_error, invoke_cnode, invoke_untyped};
use capc_demo_kernel::irq::port_allowed;
use capc_demo_kernel::mapping::{self, Flush};
use capc_demo_kernel::mdb;
use capc_demo_kernel::runqueue::check_priority;
use capc_demo_kernel::tcb::{self, TcbSlot, ThreadState, UserContext, reg};
use capc_demo_kernel::{asid, ipc, ops};
use x86_64::instructions::port::Port;

use super::address_space::flush_if_current;
use super::ipc::Machine;
use super::lifecycle::{evict, zero_objects};
use super::sched::{enqueue, remove, set_priority};
use super::state::{Identity, Kernel, USER_RFLAGS, ipc_buffer, slots, thread_cap, with_memory};

/// The system call of `current` stopped at a preemption point: its RIP
/// goes back onto its `syscall` instruction (two bytes), so that it makes
/// the same call, with the same registers, when it runs again, and the
/// scheduler hears of it (`Kernel::preempted`). Its status is left as it
/// is: it is the system call's number.
fn restart(k: &mut Kernel, current: u64) -> SyscallStatus {
    k.preempted = true;
    k.restarts += 1;
    let context = &mut k.tcb(current).context;
    context.rip -= SYSCALL_BYTES;
    SyscallStatus::Ok
}

/// The length of the `syscall` instruction (0f 05).
const SYSCALL_BYTES: u64 = 2;

/// A `Call` on the kernel object `cap` (in `slot` of the caller's CSpace):
/// decode, run, reply. The message words are read where they are: the
/// registers, and for a longer message the IPC buffer, whose first
/// [`MESSAGE_REGISTERS`] places (unused by the ABI) get the register words
/// so that the decoder sees one slice.
pub(super) fn invoke_object(
    k: &mut Kernel,
    current: u64,
    slot: SlotAddr,
    cap: Cap,
) -> SyscallStatus {
    let thread = k.tcb(current);
    let g = &thread.context.general;
    let Some(info) = abi::unpack_info(g[reg::RSI]) else {
        return SyscallStatus::BadMessage;
    };
    let registers = [g[reg::RDX], g[reg::R8], g[reg::R9], g[reg::R10]];
    let buffer: Option<&IpcBuffer> = if info.length > MESSAGE_REGISTERS || info.caps > 0 {
        let Some(b) = ipc_buffer(current) else {
            return SyscallStatus::NoIpcBuffer;
        };
        b.msg[..MESSAGE_REGISTERS].copy_from_slice(&registers);
        Some(b)
    } else {
        None
    };
    let msg: &[u64] = match buffer {
        Some(b) => &b.msg[..info.length],
        None => &registers[..info.length],
    };
    let memory = slots(k);
    // Extra caps: a capability address that does not resolve becomes the
    // null cap, which the decoder refuses as `InvalidCapability`.
    let mut caps = [Cap::NULL; target::CAPS_PER_MESSAGE];
    let mut sources = [None; target::CAPS_PER_MESSAGE];
    if let Some(b) = &buffer {
        let cspace = thread_cap(current, TcbSlot::Cspace);
        let extra = caps.iter_mut().zip(&mut sources).zip(&b.caps);
        for ((cap, source), &address) in extra.take(info.caps) {
            if let Ok((slot, found)) = lookup_cap(&memory, cspace, address) {
                (*cap, *source) = (found, Some(slot));
            }
        }
    }
    let caps = &caps[..info.caps];
    // What an invocation with results (an I/O port's `in8`) replies.
    let mut results = [0u64; MESSAGE_REGISTERS];
    let mut result_info = None;
    let result = match cap.cap_type() {
        Some(CapType::UntypedCap) => {
            // The memory this retype may hand out: above the watermark, or
            // all of it when the Untyped has no children (it is reset).
            let device = UntypedMemory::of(cap).is_some_and(|u| u.device);
            if let Some(untyped) = UntypedMemory::of(cap) {
                let reset = !capc_demo_kernel::mdb::has_children(&memory, slot);
                let from = if reset { 0 } else { untyped.watermark };
                evict(
                    k,
                    untyped.base.saturating_add(from),
                    untyped.base.saturating_add(untyped.size),
                    "its objects' memory is being retyped",
                );
            }
            let kernel_pml4 = k.kernel_pml4;
            with_memory(k, |memory| invoke_untyped(memory, slot, info, msg, caps))
                .map(|p| zero_objects(&p, device, kernel_pml4, &mut k.threads))
        }
        Some(CapType::CNodeCap) => match CNodeCap::from_cap(cap) {
            Some(cnode) => {
                crate::timer::start_preemptible();
                let invocation = (info, msg, caps);
                let mut point = crate::timer::preemption_point;
                match with_memory(k, |memory| {
                    invoke_cnode(memory, cnode, invocation, &mut point)
                }) {
                    Ok(true) => Ok(()),
                    Ok(false) => return restart(k, current),
                    Err(error) => Err(error),
                }
            }
            None => Err(KernelError::IllegalOperation),
        },
        Some(CapType::TcbCap) => invoke_tcb(k, cap, info, msg, (caps, &sources)),
        Some(CapType::FrameCap) => invoke_frame(k, slot, cap, info, msg, caps),
        Some(CapType::PdptCap | CapType::PageDirectoryCap | CapType::PageTableCap) => {
            invoke_table(k, slot, cap, info, msg, caps)
        }
        Some(CapType::AsidControlCap) => invoke_asid_control(k, info, msg, (caps, &sources)),
        Some(CapType::AsidPoolCap) => invoke_asid_pool(k, cap, info, msg, (caps, &sources)),
        Some(CapType::IrqControlCap) => invoke_irq_control(k, info, msg, caps),
        Some(CapType::IrqHandlerCap) => invoke_irq_handler(k, cap, info, msg, caps),
        Some(CapType::IoPortControlCap) => invoke_io_port_control(k, info, msg, caps),
        Some(CapType::IoPortCap) => match invoke_io_port(cap, info, msg, &mut results) {
            Ok(Some(info)) => {
                result_info = Some(info);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        },
        _ => Err(KernelError::IllegalOperation),
    };
    // An error's payload is at most two words (`RangeError { min, max }`),
    // and results fit the registers too, so the reply always does.
    let mut reply = [0u64; MESSAGE_REGISTERS];
    let reply_info = match result {
        Ok(()) => match result_info {
            Some(info) => {
                reply = results;
                info
            }
            None => MessageInfo {
                label: 0,
                length: 0,
                caps: 0,
            },
        },
        Err(error) => error.reply(&mut reply),
    };
    let g = &mut k.tcb(current).context.general;
    g[reg::RSI] = abi::pack_info(reply_info).unwrap_or(0);
    (g[reg::RDX], g[reg::R8], g[reg::R9], g[reg::R10]) = (reply[0], reply[1], reply[2], reply[3]);
    SyscallStatus::Ok
}

/// The message's cap `i` and the slot it was found in
/// (`InvalidCapability` if it was not found).
fn found(
    caps: &[Cap],
    sources: &[Option<SlotAddr>],
    i: usize,
) -> Result<(SlotAddr, Cap), KernelError> {
    let index = i as u64;
    let slot = sources.get(i).copied().flatten();
    let cap = caps.get(i).copied().unwrap_or(Cap::NULL);
    Ok((slot.ok_or(KernelError::InvalidCapability { index })?, cap))
}

/// Invocations of a TCB cap. `extra` holds the message's caps and the
/// slots they were found in.
pub(super) fn invoke_tcb(
    k: &mut Kernel,
    cap: Cap,
    info: MessageInfo,
    msg: &[u64],
    (caps, sources): (&[Cap], &[Option<SlotAddr>]),
) -> Result<(), KernelError> {
    let tcb_cap = TcbCap::from_cap(cap).ok_or(KernelError::IllegalOperation)?;
    let at = tcb_cap.tcb();
    let invocation = decode_tcb_cap(info, cap.rights(), msg, caps).map_err(decode_error)?;
    match invocation {
        TcbCapInvocation::Configure(call) => {
            // The caps are `#[unchecked]`: checked here in seL4's order
            // (decodeTCBConfigure): the IPC buffer first (a read-write
            // frame, `IllegalOperation`; RAM the kernel reaches, as
            // checkValidIPCBuffer refuses device frames; an aligned
            // address, `AlignmentError`), then the roots as
            // `tcb::configure` admits them, in slot order.
            let buffer = FrameCap::from_cap(call.buffer)
                .filter(|_| TcbSlot::IpcBuffer.admits(call.buffer))
                .ok_or(KernelError::IllegalOperation)?;
            let reachable = with_memory(k, |memory| {
                !buffer.is_device() && memory.covers(buffer.frame(), 1 << buffer.bits())
            });
            if !reachable {
                return Err(KernelError::IllegalOperation);
            }
            if call.buffer_addr % 4096 != 0 {
                return Err(KernelError::AlignmentError);
            }
            // Each cap was found in a slot. The fault handler's slot is
            // left as it is.
            let mut given = [None; TcbSlot::ALL.len()];
            for (which, cap) in [
                (TcbSlot::IpcBuffer, 2),
                (TcbSlot::Cspace, 0),
                (TcbSlot::Vspace, 1),
            ] {
                let at_slot = TcbSlot::ALL.iter().position(|s| *s == which);
                given[at_slot.ok_or(KernelError::IllegalOperation)?] =
                    Some(found(caps, sources, cap)?);
            }
            with_memory(k, |memory| tcb::configure(memory, at, &given))?;
            k.tcb(at).ipc_buffer_addr = call.buffer_addr;
        }
        TcbCapInvocation::SetFaultHandler(_) => {
            // Only the fault handler's slot changes (seL4 MCS's
            // TCB_SetSpace sets it; faults are not sent yet: issue 17).
            let mut given = [None; TcbSlot::ALL.len()];
            let at_slot = TcbSlot::ALL
                .iter()
                .position(|s| *s == TcbSlot::FaultHandler);
            given[at_slot.ok_or(KernelError::IllegalOperation)?] = Some(found(caps, sources, 0)?);
            with_memory(k, |memory| tcb::configure(memory, at, &given))?;
        }
        TcbCapInvocation::WriteRegisters(call) => {
            if call.ip >= abi::USER_END || call.sp >= abi::USER_END {
                return Err(KernelError::InvalidArgument { index: 0 });
            }
            let thread = k.tcb(at);
            thread.context = UserContext::default();
            thread.context.rip = call.ip;
            thread.context.rsp = call.sp;
            thread.context.rflags = USER_RFLAGS;
            thread.context.general[reg::RDI] = call.arg;
        }
        TcbCapInvocation::Resume => {
            // A thread runs only with a cap in each slot the spec marks
            // `#[required]`: an address space that maps the kernel.
            if tcb::missing_required_slot(|which| thread_cap(at, which)) {
                return Err(KernelError::IllegalOperation);
            }
            if matches!(k.tcb(at).state, ThreadState::Inactive) && at != k.current {
                let thread = k.tcb(at);
                thread.state = ThreadState::Running;
                enqueue(k, at);
                k.started += 1;
            }
        }
        TcbCapInvocation::Suspend => {
            if at == k.current {
                return Err(KernelError::IllegalOperation);
            }
            remove(k, at);
            ipc::cancel(&mut Machine(k), at);
            k.tcb(at).state = ThreadState::Inactive;
        }
        // seL4's TCB_SetPriority and TCB_SetMCPriority: the value may not
        // pass the authority's maximum controlled priority (`RangeError`
        // 0..=mcp, `runqueue::check_priority`). A higher priority than the
        // current thread's preempts it on the way out (`trap`).
        TcbCapInvocation::SetPriority(call) => {
            let priority = check_priority(call.priority, k.tcb(call.authority.tcb()))
                .map_err(|(min, max)| KernelError::RangeError { min, max })?;
            set_priority(k, at, priority);
        }
        TcbCapInvocation::SetMcPriority(call) => {
            let mcp = check_priority(call.mcp, k.tcb(call.authority.tcb()))
                .map_err(|(min, max)| KernelError::RangeError { min, max })?;
            k.tcb(at).mcp = mcp;
        }
    }
    Ok(())
}

/// Invocations of a frame cap: map it into an address space (recorded in
/// the cap: the page and the address space's number), unmap it. The
/// checks and the page tables are `capc_demo_kernel::mapping`'s; here the
/// cap goes back in its slot and the TLB drops what was unmapped.
pub(super) fn invoke_frame(
    k: &mut Kernel,
    slot: SlotAddr,
    cap: Cap,
    info: MessageInfo,
    msg: &[u64],
    caps: &[Cap],
) -> Result<(), KernelError> {
    let updated = match decode_frame_cap(info, cap.rights(), msg, caps).map_err(decode_error)? {
        FrameCapInvocation::Map(call) => mapping::map_frame(
            &mut Identity,
            &k.asids,
            cap,
            call.vspace,
            call.vaddr,
            call.rights,
        )?,
        FrameCapInvocation::Unmap => {
            let (unmapped, removed) = mapping::unmap_frame(&mut Identity, &k.asids, cap);
            if let Some((pml4, vaddr)) = removed {
                flush_if_current(k, Flush::Page { pml4, vaddr });
            }
            unmapped
        }
    };
    with_memory(k, |memory| ops::update_cap(memory, slot, updated));
    Ok(())
}

/// Invocations of a PDPT, page-directory or page-table cap: map it (see
/// `capc_demo_kernel::mapping::map_table`), or, through its last cap,
/// unlink and empty it (`mapping::unmap_table`, seL4's PageTable_Unmap).
pub(super) fn invoke_table(
    k: &mut Kernel,
    slot: SlotAddr,
    cap: Cap,
    info: MessageInfo,
    msg: &[u64],
    caps: &[Cap],
) -> Result<(), KernelError> {
    let rights = cap.rights();
    // Where it goes (the level of the table it goes into is its type's), or
    // `None` for an unmap.
    let map = match cap.cap_type() {
        Some(CapType::PdptCap) => {
            match decode_pdpt_cap(info, rights, msg, caps).map_err(decode_error)? {
                PdptCapInvocation::Map(call) => Some((call.vspace, call.vaddr)),
                PdptCapInvocation::Unmap => None,
            }
        }
        Some(CapType::PageDirectoryCap) => {
            match decode_page_directory_cap(info, rights, msg, caps).map_err(decode_error)? {
                PageDirectoryCapInvocation::Map(call) => Some((call.vspace, call.vaddr)),
                PageDirectoryCapInvocation::Unmap => None,
            }
        }
        Some(CapType::PageTableCap) => {
            match decode_page_table_cap(info, rights, msg, caps).map_err(decode_error)? {
                PageTableCapInvocation::Map(call) => Some((call.vspace, call.vaddr)),
                PageTableCapInvocation::Unmap => None,
            }
        }
        _ => return Err(KernelError::IllegalOperation),
    };
    let updated = match map {
        Some((vspace, vaddr)) => mapping::map_table(&mut Identity, &k.asids, cap, vspace, vaddr)?,
        None => {
            // Only the table's last cap may (seL4's isFinalCapability).
            if !mdb::is_final(&slots(k), slot) {
                return Err(KernelError::RevokeFirst);
            }
            let (unmapped, flush) = mapping::unmap_table(&mut Identity, &k.asids, cap)?;
            flush_if_current(k, flush);
            unmapped
        }
    };
    with_memory(k, |memory| ops::update_cap(memory, slot, updated));
    Ok(())
}

/// The empty slot `index` names at `depth` from the `#[unchecked]` root
/// `root` (`FailedLookup`; `RangeError` for a depth past 64), as seL4's
/// lookupTargetSlot and ensureEmptySlot (`DeleteFirst`) find a destination.
fn empty_target(
    memory: &SlotMemory<'_>,
    root: Cap,
    index: u64,
    depth: u64,
) -> Result<SlotAddr, KernelError> {
    let at = lookup_slot(memory, root, index, depth).map_err(|e| e.kernel_error(false))?;
    ops::ensure_empty(memory, at)?;
    Ok(at)
}

/// Places `cap` as a new root of derivation in the empty slot `index` names
/// at `depth` from `root`: how IrqControl and IoPortControl hand out the
/// caps they issue.
fn insert_issued(
    k: &mut Kernel,
    root: Cap,
    index: u64,
    depth: u64,
    cap: Cap,
) -> Result<(), KernelError> {
    with_memory(k, |memory| {
        let at = empty_target(memory, root, index, depth)?;
        mdb::insert_root(memory, at, cap)
    })
}

/// Invocations of the ASID-control cap: an ASID pool from 4 KiB of an
/// Untyped (`capc_demo_kernel::asid::make_pool`, seL4's
/// ASIDControl_MakePool). `extra` holds the message's caps and the slots
/// they were found in.
pub(super) fn invoke_asid_control(
    k: &mut Kernel,
    info: MessageInfo,
    msg: &[u64],
    (caps, sources): (&[Cap], &[Option<SlotAddr>]),
) -> Result<(), KernelError> {
    let AsidControlCapInvocation::MakePool(call) =
        decode_asid_control_cap(info, Rights::NONE, msg, caps).map_err(decode_error)?;
    let untyped = sources.first().copied().flatten();
    // No cap is removed: the slot window without the removal hook.
    let mut memory = slots(k);
    // `make_pool` checks the slot is empty, after the Untyped.
    let dest =
        lookup_slot(&memory, call.root, call.index, call.depth).map_err(|e| e.kernel_error(false));
    asid::make_pool(&mut k.asids, &mut memory, &mut Identity, untyped, dest).map(drop)
}

/// Invocations of an ASID pool's cap: give an address space a number
/// (`capc_demo_kernel::asid::AsidTable::assign`, seL4's ASIDPool_Assign).
pub(super) fn invoke_asid_pool(
    k: &mut Kernel,
    cap: Cap,
    info: MessageInfo,
    msg: &[u64],
    (caps, sources): (&[Cap], &[Option<SlotAddr>]),
) -> Result<(), KernelError> {
    let AsidPoolCapInvocation::Assign(_) =
        decode_asid_pool_cap(info, Rights::NONE, msg, caps).map_err(decode_error)?;
    let Some(at) = sources.first().copied().flatten() else {
        return Err(KernelError::InvalidCapability { index: 0 });
    };
    // No cap is removed: the slot window without the removal hook.
    let mut memory = slots(k);
    k.asids
        .assign(&mut memory, &mut Identity, cap, at)
        .map(drop)
}

/// Invocations of the IrqControl cap: a handler cap for a line, in seL4's
/// order (the line's range and use, then the destination).
pub(super) fn invoke_irq_control(
    k: &mut Kernel,
    info: MessageInfo,
    msg: &[u64],
    caps: &[Cap],
) -> Result<(), KernelError> {
    let IrqControlCapInvocation::Get(call) =
        decode_irq_control_cap(info, Rights::NONE, msg, caps).map_err(decode_error)?;
    let irq = k.irqs.available(u64::from(call.irq))?;
    let handler = IrqHandlerCap::new(irq)
        .map_err(|_| KernelError::IllegalOperation)?
        .cap();
    insert_issued(k, call.root, call.index, call.depth, handler)?;
    k.irqs.issue(u64::from(irq)).map(drop)
}

/// Invocations of an IrqHandler cap: acknowledge (the line may interrupt
/// again), bind a notification the interrupt signals, or unbind it.
pub(super) fn invoke_irq_handler(
    k: &mut Kernel,
    cap: Cap,
    info: MessageInfo,
    msg: &[u64],
    caps: &[Cap],
) -> Result<(), KernelError> {
    let handler = IrqHandlerCap::from_cap(cap).ok_or(KernelError::IllegalOperation)?;
    let irq = handler.irq();
    match decode_irq_handler_cap(info, cap.rights(), msg, caps).map_err(decode_error)? {
        IrqHandlerCapInvocation::Ack => crate::timer::unmask(irq),
        IrqHandlerCapInvocation::SetNotification(call) => {
            let n = call.notification;
            k.irqs.bind(irq, n.notification(), n.badge());
        }
        IrqHandlerCapInvocation::Clear => k.irqs.unbind(irq),
    }
    Ok(())
}

/// Invocations of the IoPortControl cap: an IoPort cap for a range, in
/// seL4's order (the range, then the destination).
pub(super) fn invoke_io_port_control(
    k: &mut Kernel,
    info: MessageInfo,
    msg: &[u64],
    caps: &[Cap],
) -> Result<(), KernelError> {
    let IoPortControlCapInvocation::Issue(call) =
        decode_io_port_control_cap(info, Rights::NONE, msg, caps).map_err(decode_error)?;
    k.ports.available(call.first, call.last)?;
    let ports = IoPortCap::new(call.first, call.last)
        .map_err(|_| KernelError::IllegalOperation)?
        .cap();
    insert_issued(k, call.root, call.index, call.depth, ports)?;
    k.ports.issue(call.first, call.last)
}

/// Invocations of an IoPort cap: a byte in or out of one of its ports
/// (`IllegalOperation` for another port). The reply of `in8` carries the
/// byte, written into `reply`.
pub(super) fn invoke_io_port(
    cap: Cap,
    info: MessageInfo,
    msg: &[u64],
    reply: &mut [u64],
) -> Result<Option<MessageInfo>, KernelError> {
    let ports = IoPortCap::from_cap(cap).ok_or(KernelError::IllegalOperation)?;
    let allowed = |port: u16| port_allowed(ports.first(), ports.last(), port);
    match decode_io_port_cap(info, cap.rights(), msg, &[]).map_err(decode_error)? {
        IoPortCapInvocation::In8(call) => {
            let port = allowed(call.port)?;
            // SAFETY: the port is in the range the cap names, which the
            // kernel handed out only if none of its own ports is in it.
            let value = unsafe { Port::<u8>::new(port).read() };
            Ok(Some(encode_io_port_cap_in8_reply(value, reply)))
        }
        IoPortCapInvocation::Out8(call) => {
            let port = allowed(call.port)?;
            // SAFETY: as for `in8`.
            unsafe { Port::<u8>::new(port).write(call.value) };
            Ok(None)
        }
    }
}
