//! Threads in ring 3: the root task the kernel builds at boot, the
//! round-robin scheduler, the system calls and what happens when a thread
//! faults.
//!
//! The kernel keeps no memory of its own for any of this. The root task's
//! CNode, TCB, page tables, image frames, stack and IPC buffer are retyped
//! at boot from one of the Untyped caps the root task then holds, through
//! the same `ops::retype` a task's own retype goes through, so the root
//! task pays for all of it; the run queue is a list through the TCBs.
//!
//! All kernel objects are reached through the boot identity map. The slot
//! memory ([`SlotMemory`]) is a window over the RAM the Untyped caps cover;
//! a TCB or a page table in that window is reached through its physical
//! address while no reference into the window is live.

use core::fmt::Write;

use capc_demo_kernel::abi::{
    self, FIRST_UNTYPED_SLOT, IpcBuffer, MESSAGE_REGISTERS, ROOT_CNODE_SLOT, ROOT_IPC_BUFFER,
    ROOT_IPC_BUFFER_SLOT, ROOT_RADIX, ROOT_STACK_PAGES, ROOT_STACK_TOP, ROOT_TCB_SLOT,
    ROOT_VSPACE_SLOT, Syscall, SyscallStatus,
};
use capc_demo_kernel::caps::{
    CNodeCap, Cap, CapType, EndpointCap, Finaliser, FrameCap, FrameCapInvocation, KernelError,
    Mapping, MessageInfo, NotificationCap, ObjectType, PageDirectoryCapInvocation,
    PageTableCapInvocation, PdptCapInvocation, Placement, Pml4Cap, RetypeRequest, Rights, TcbCap,
    TcbCapInvocation, UntypedCap, UntypedMemory, decode_frame_cap, decode_page_directory_cap,
    decode_page_table_cap, decode_pdpt_cap, decode_tcb_cap, target,
};
use capc_demo_kernel::cspace::{Removal, Slot, SlotAddr, SlotMemory, lookup_cap, lookup_slot};
use capc_demo_kernel::invoke::{decode_error, invoke_cnode, invoke_untyped};
use capc_demo_kernel::tcb::{self, PendingSend, Tcb, TcbSlot, ThreadState, UserContext, reg};
use capc_demo_kernel::units::Bytes;
use capc_demo_kernel::vspace::{self, Level, PhysMem};
use capc_demo_kernel::{audit, ipc, ops};
use x86_64::PhysAddr;
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::PhysFrame;

use crate::interrupts::{
    self, ExceptionFrame, Origin, SYSCALL_VECTOR, TIMER_VECTOR, USER_CODE_SELECTOR,
    USER_DATA_SELECTOR,
};
use crate::qemu::{self, ExitCode};
use crate::serial::Console;

/// First slot of the page tables and frames the kernel made for the root.
const FIRST_BOOT_OBJECT_SLOT: u64 = 128;

/// RFLAGS of a thread's first run: interrupts on (bit 1 is always set).
const USER_RFLAGS: u64 = 0x202;

/// Physical memory through the boot identity map.
struct Identity;

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
fn zero(paddr: u64, bytes: u64) {
    // SAFETY: only called on the memory of objects just retyped, which
    // nothing references yet, inside identity-mapped RAM.
    unsafe { core::ptr::write_bytes(paddr as *mut u8, 0, bytes as usize) }
}

/// What the kernel tracks besides the objects themselves.
struct Kernel {
    /// The slot window: physical base and slot count.
    slots_base: u64,
    slots_len: usize,
    /// The boot PML4, whose entry 0 every address space shares.
    kernel_pml4: u64,
    /// The TCB running (physical address), 0 before the first.
    current: u64,
    /// The PML4 loaded in CR3.
    cr3: u64,
    /// A thread the current system call woke while the run queue was
    /// empty (0: none): it runs next, without going through the queue.
    woken: u64,
    /// Run queue, through `Tcb::sched_next`.
    queue_head: u64,
    queue_tail: u64,
    /// Counters for the final report.
    syscalls: u64,
    preemptions: u64,
    exited: u64,
    faulted: u64,
    /// Threads made runnable for the first time (the root, and each
    /// resumed from `Inactive`).
    started: u64,
    /// Every thread the kernel refers to (TCB addresses; 0: free entry):
    /// see [`evict`].
    threads: [u64; MAX_THREADS],
    /// The address spaces frames are mapped in, by number (seL4's ASIDs):
    /// the PML4's address, 0 for a free number; number 0 is never used.
    asids: [u64; 256],
    /// The highest number given out so far.
    asids_used: usize,
    /// The pages of the boot image, mapped read-only into the root task
    /// without caps (no Untyped covers them): `[start, end)`.
    boot_image: (u64, u64),
}

/// Most threads the kernel keeps track of at once; `Resume` of one more is
/// `IllegalOperation`.
const MAX_THREADS: usize = 64;

static mut KERNEL: Kernel = Kernel {
    slots_base: 0,
    slots_len: 0,
    kernel_pml4: 0,
    current: 0,
    cr3: 0,
    woken: 0,
    queue_head: 0,
    queue_tail: 0,
    syscalls: 0,
    preemptions: 0,
    exited: 0,
    faulted: 0,
    started: 0,
    threads: [0; MAX_THREADS],
    asids: [0; 256],
    asids_used: 0,
    boot_image: (0, 0),
};

/// The kernel state. One CPU, and the kernel runs with interrupts off, so
/// there is never a second user of it.
fn kernel() -> &'static mut Kernel {
    let state = &raw mut KERNEL;
    // SAFETY: see above; every caller uses the reference only for the
    // duration of one kernel entry.
    unsafe { &mut *state }
}

/// The slot window as [`SlotMemory`].
fn slots(k: &Kernel) -> SlotMemory<'static> {
    // SAFETY: the window is RAM the Untyped caps cover, identity-mapped;
    // every CNode is retyped from that RAM, so every slot lies in it. The
    // kernel holds one such view at a time.
    let window = unsafe { core::slice::from_raw_parts_mut(k.slots_base as *mut Slot, k.slots_len) };
    SlotMemory::new(k.slots_base, window)
        .expect("the slot window is aligned")
        .with_on_remove(removed)
}

/// The TCB at `paddr`.
fn tcb(paddr: u64) -> &'static mut Tcb {
    // SAFETY: `paddr` comes from a TcbCap (or the run queue, which holds
    // only TCBs), so a `Tcb` object the kernel initialised lies there.
    unsafe { &mut *(paddr as *mut Tcb) }
}

/// The cap in slot `which` of the TCB at `at` (see [`TcbSlot`]).
fn thread_cap(at: u64, which: TcbSlot) -> Cap {
    let Some(slot) = tcb::slot_of(at, which) else {
        return Cap::NULL;
    };
    // SAFETY: `at` is a TCB object (see `tcb`), 2 KiB of identity-mapped
    // RAM whose last slots `tcb::slot_of` names: a `Slot`, 32-byte aligned,
    // emptied by the TCB's retype and written only through `SlotMemory`.
    unsafe { core::ptr::read_volatile(slot.get() as *const Slot) }.cap()
}

/// The IPC buffer of the thread at `at`, if it has one.
fn ipc_buffer(at: u64) -> Option<&'static mut IpcBuffer> {
    let frame = FrameCap::from_cap(thread_cap(at, TcbSlot::IpcBuffer))?;
    // SAFETY: the frame is a 4 KiB (or larger) object the thread was
    // configured with; `IpcBuffer` fits in 4 KiB (checked in `abi`).
    Some(unsafe { &mut *(frame.frame() as *mut IpcBuffer) })
}

/// Everything [`start`] needs from the boot code.
pub struct Boot<'a> {
    /// The Untyped caps of the inventory.
    pub untyped: &'a [UntypedCap],
    /// The root task's ELF image.
    pub image: &'a [u8],
    /// The whole boot image, `[start, end)` in physical memory: mapped
    /// read-only into the root task.
    pub boot_image: (u64, u64),
    /// The RAM the Untyped caps cover: `[start, end)`.
    pub window: (u64, u64),
    /// Flags for the root task's `r8` (`abi::ROOT_FLAG_BENCH`).
    pub flags: u64,
}

/// A failure while building the root task, with what was being made.
struct BootError(&'static str, KernelError);

/// Builds the root task, starts the timer and runs the root thread; never
/// returns (the run ends in [`finish`]).
pub fn start(out: &mut impl Write, boot: &Boot<'_>) -> ! {
    let k = kernel();
    k.slots_base = boot.window.0;
    k.slots_len = ((boot.window.1 - boot.window.0) / 32) as usize;
    k.boot_image = (boot.boot_image.0 & !0xfff, boot.boot_image.1);
    k.kernel_pml4 = Cr3::read().0.start_address().as_u64();
    k.cr3 = k.kernel_pml4;
    match build_root(out, boot) {
        Ok(root) => {
            crate::timer::init();
            let _ = writeln!(
                out,
                "scheduler: round robin, {} ms time slices (PIT at {} Hz)",
                1000 / crate::timer::HZ,
                crate::timer::HZ
            );
            enqueue(k, root);
            k.started += 1;
            k.threads[0] = root;
            let first = dequeue(k).expect("the root thread was queued");
            enter(first)
        }
        Err(BootError(what, error)) => panic!("building the root task: {what}: {error:?}"),
    }
}

/// Retypes one object for the root task from the Untyped at
/// `untyped_slot` into slot `index` of the root CNode, zeroed.
fn retype_one(
    memory: &mut SlotMemory<'_>,
    cnode: CNodeCap,
    untyped_slot: SlotAddr,
    object_type: ObjectType,
    size_arg: u64,
    index: u64,
) -> Result<Placement, KernelError> {
    let request = RetypeRequest {
        object_type: object_type as u64,
        size_arg,
        offset: index,
        count: 1,
    };
    let placement = ops::retype(memory, untyped_slot, &request, Some(cnode))?;
    zero_objects(&placement, false);
    Ok(placement)
}

/// Stops every thread the kernel still refers to whose TCB, address space,
/// CSpace root, IPC buffer or the endpoint it waits on lies in `[start,
/// end)`, and forgets address spaces whose PML4 lies there; `why` goes in
/// the report. Called when the last cap to an object goes (its
/// finalisation, as seL4's) and before a retype hands memory out again (for
/// what was left without caps), so no thread runs on, or is queued in,
/// memory that is gone or about to change.
fn evict(k: &mut Kernel, start: u64, end: u64, why: &str) {
    let inside = |addr: u64| addr != 0 && start <= addr && addr < end;
    // An address space whose PML4 goes loses its number: mappings recorded
    // under it are gone with its tables.
    for pml4 in k.asids[..=k.asids_used].iter_mut().filter(|p| inside(**p)) {
        *pml4 = 0;
    }
    for entry in 0..MAX_THREADS {
        let at = k.threads[entry];
        if at == 0 {
            continue;
        }
        let t = tcb(at);
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
            tcb(at).blocked_on = 0;
        } else {
            ipc::cancel(&mut Machine(k), at);
        }
        // Its right to reply goes (its caller stays waiting, as in seL4).
        ipc::drop_reply_right(&mut Machine(k), at);
        // Running, or waiting: it would have gone on.
        let was_live = !matches!(
            t.state,
            ThreadState::Inactive | ThreadState::Exited | ThreadState::Faulted
        );
        tcb(at).state = ThreadState::Inactive;
        if inside(at) {
            k.threads[entry] = 0;
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
/// anything in device memory.
fn zero_objects(placement: &Placement, device: bool) {
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
        if let Some(at) = placement.address(i) {
            zero(at, 1 << placement.size_bits);
        }
        if placement.object_type == ObjectType::Tcb
            && let Some(at) = placement.address(i)
        {
            *tcb(at) = Tcb::new();
        }
        // A new address space maps the kernel from the start.
        if placement.object_type == ObjectType::Pml4
            && let Some(at) = placement.address(i)
        {
            vspace::init_pml4(&mut Identity, at, kernel().kernel_pml4);
        }
    }
}

/// The root task under construction: where its next object goes.
struct RootBuilder<'m> {
    memory: SlotMemory<'m>,
    cnode: CNodeCap,
    untyped: SlotAddr,
    pml4: u64,
    next_slot: u64,
    frames: u64,
    tables: u64,
}

impl RootBuilder<'_> {
    fn slot(&self, index: u64) -> Result<SlotAddr, BootError> {
        self.memory
            .table(self.cnode)
            .and_then(|t| t.slot(index))
            .ok_or(BootError(
                "root CNode slot",
                KernelError::FailedLookup { source: 0 },
            ))
    }

    /// Retypes the next object into the next free slot.
    fn make(
        &mut self,
        what: &'static str,
        object_type: ObjectType,
        size_arg: u64,
    ) -> Result<(u64, SlotAddr), BootError> {
        let index = self.next_slot;
        self.next_slot += 1;
        self.make_at(what, object_type, size_arg, index)
    }

    fn make_at(
        &mut self,
        what: &'static str,
        object_type: ObjectType,
        size_arg: u64,
        index: u64,
    ) -> Result<(u64, SlotAddr), BootError> {
        let placement = retype_one(
            &mut self.memory,
            self.cnode,
            self.untyped,
            object_type,
            size_arg,
            index,
        )
        .map_err(|e| BootError(what, e))?;
        Ok((placement.first, self.slot(index)?))
    }

    /// Makes sure a page table maps `vaddr`, making the PDPT, page
    /// directory and page table on the way that are missing, each mapped
    /// by the same `vspace` code a `map` invocation uses.
    fn ensure_tables(&mut self, vaddr: u64) -> Result<(), BootError> {
        for (parent, object_type) in [
            (Level::Pml4, ObjectType::Pdpt),
            (Level::Pdpt, ObjectType::PageDirectory),
            (Level::PageDirectory, ObjectType::PageTable),
        ] {
            let region = vaddr & !((1u64 << parent.entry_bits()) - 1);
            let child = parent.below().unwrap_or(Level::PageTable);
            if vspace::table_at(&Identity, self.pml4, region, child).is_some() {
                continue;
            }
            let (table, slot) = self.make("page table", object_type, 0)?;
            vspace::map_table(&mut Identity, self.pml4, parent, table, region)
                .map_err(|e| BootError("page table mapping", e))?;
            self.record_mapping(slot, region);
            self.tables += 1;
        }
        Ok(())
    }

    /// Writes the mapping into the cap of a table or frame (its
    /// `#[mapped_at]` and `#[mapped_in]` fields).
    fn record_mapping(&mut self, slot: SlotAddr, vaddr: u64) {
        let updated = self.memory.cap(slot).and_then(|cap| {
            let asid = asid_of(kernel(), self.pml4)?;
            capc_demo_kernel::caps::with_mapping(cap, vaddr >> 12, asid)
        });
        if let Some(updated) = updated {
            ops::update_cap(&mut self.memory, slot, updated);
        }
    }

    /// Makes a 4 KiB frame, fills it from `bytes` (the rest zero) and maps
    /// it at `vaddr`; returns its slot.
    fn map_new_frame(
        &mut self,
        vaddr: u64,
        bytes: &[u8],
        writable: bool,
        index: Option<u64>,
    ) -> Result<SlotAddr, BootError> {
        self.ensure_tables(vaddr)?;
        let (frame, slot) = match index {
            Some(index) => self.make_at("frame", ObjectType::Frame, 12, index)?,
            None => self.make("frame", ObjectType::Frame, 12)?,
        };
        // SAFETY: the frame was just retyped and zeroed; 4 KiB of
        // identity-mapped RAM that nothing else references.
        let page = unsafe { core::slice::from_raw_parts_mut(frame as *mut u8, 4096) };
        page[..bytes.len()].copy_from_slice(bytes);
        vspace::map_frame(&mut Identity, self.pml4, frame, 12, vaddr, writable)
            .map_err(|e| BootError("frame mapping", e))?;
        self.record_mapping(slot, vaddr);
        self.frames += 1;
        Ok(slot)
    }
}

/// Builds the root task (see the module documentation) and returns its
/// TCB's physical address, runnable.
fn build_root(out: &mut impl Write, boot: &Boot<'_>) -> Result<u64, BootError> {
    let k = kernel();
    let mut memory = slots(k);
    // The largest RAM Untyped pays for the root task's own objects.
    let (payer, &payer_cap) = boot
        .untyped
        .iter()
        .enumerate()
        .filter(|(_, cap)| !cap.is_device())
        .max_by_key(|(_, cap)| cap.bits())
        .ok_or(BootError(
            "root task",
            KernelError::NotEnoughMemory { left: 0 },
        ))?;
    let cnode = ops::bootstrap_root_cnode(
        &mut memory,
        payer_cap,
        ROOT_RADIX,
        FIRST_UNTYPED_SLOT + payer as u64,
        ROOT_CNODE_SLOT,
        64 - ROOT_RADIX,
    )
    .map_err(|e| BootError("root CNode", e))?;
    let table = memory
        .table(cnode)
        .ok_or(BootError("root CNode", KernelError::IllegalOperation))?;
    for (i, cap) in boot.untyped.iter().enumerate() {
        if i != payer {
            let slot = table.slot(FIRST_UNTYPED_SLOT + i as u64).ok_or(BootError(
                "untyped slot",
                KernelError::RangeError { min: 0, max: 0 },
            ))?;
            capc_demo_kernel::mdb::insert_root(&mut memory, slot, cap.cap())
                .map_err(|e| BootError("untyped cap", e))?;
        }
    }
    let untyped = table
        .slot(FIRST_UNTYPED_SLOT + payer as u64)
        .ok_or(BootError("untyped slot", KernelError::IllegalOperation))?;
    let mut root = RootBuilder {
        memory,
        cnode,
        untyped,
        pml4: 0,
        next_slot: FIRST_BOOT_OBJECT_SLOT,
        frames: 0,
        tables: 0,
    };
    let (tcb_addr, _) = root.make_at("TCB", ObjectType::Tcb, 0, ROOT_TCB_SLOT)?;
    let (pml4, _) = root.make_at("PML4", ObjectType::Pml4, 0, ROOT_VSPACE_SLOT)?;
    vspace::init_pml4(&mut Identity, pml4, k.kernel_pml4);
    root.pml4 = pml4;

    let entry = load_elf(&mut root, boot.image)?;
    let image_frames = root.frames;
    for page in 1..=ROOT_STACK_PAGES {
        root.map_new_frame(ROOT_STACK_TOP - page * 4096, &[], true, None)?;
    }
    let buffer_slot = root.map_new_frame(ROOT_IPC_BUFFER, &[], true, Some(ROOT_IPC_BUFFER_SLOT))?;

    let boot_image_at = map_boot_image(&mut root, boot.boot_image)?;

    let untyped_after = root
        .memory
        .cap(root.untyped)
        .and_then(UntypedCap::from_cap)
        .ok_or(BootError("untyped", KernelError::IllegalOperation))?;
    let paid = untyped_after.free_index() * 16;
    // The root thread holds copies of its CNode, PML4 and IPC buffer caps
    // in its TCB's own slots, as `configure` gives any thread.
    for (which, index) in [
        (TcbSlot::Cspace, ROOT_CNODE_SLOT),
        (TcbSlot::Vspace, ROOT_VSPACE_SLOT),
        (TcbSlot::IpcBuffer, ROOT_IPC_BUFFER_SLOT),
    ] {
        let from = root.slot(index)?;
        let into = tcb::slot_of(tcb_addr, which)
            .ok_or(BootError("TCB slot", KernelError::IllegalOperation))?;
        ops::copy(&mut root.memory, from, into, Rights::ALL)
            .map_err(|e| BootError("TCB slot", e))?;
    }
    let _ = buffer_slot;
    let thread = tcb(tcb_addr);
    thread.ipc_buffer_addr = ROOT_IPC_BUFFER;
    thread.context.rip = entry;
    thread.context.rsp = ROOT_STACK_TOP;
    thread.context.rflags = USER_RFLAGS;
    thread.context.general[reg::RDI] = FIRST_UNTYPED_SLOT;
    thread.context.general[reg::RSI] = boot.untyped.len() as u64;
    thread.context.general[reg::RDX] = root.next_slot;
    thread.context.general[reg::RCX] = FIRST_UNTYPED_SLOT + payer as u64;
    thread.context.general[reg::R8] = boot.flags;
    thread.context.general[reg::R9] = boot_image_at;
    thread.state = ThreadState::Running;

    let _ = writeln!(
        out,
        "root task: CNode of 2^{ROOT_RADIX} slots, TCB, PML4, {} page tables, {image_frames} image frames, {} stack frames, IPC buffer at {ROOT_IPC_BUFFER:#x}",
        root.tables, ROOT_STACK_PAGES
    );
    let _ = writeln!(
        out,
        "root task: boot image mapped read-only at {boot_image_at:#x}"
    );
    let _ = writeln!(
        out,
        "root task: paid {} ({paid} bytes) from its Untyped in slot {} ({:#x}, 2^{}); entry {entry:#x}, first free slot {}",
        Bytes(paid),
        FIRST_UNTYPED_SLOT + payer as u64,
        payer_cap.base(),
        payer_cap.bits(),
        root.next_slot
    );
    Ok(tcb_addr)
}

/// Maps the boot image `[start, end)` read-only at `abi::BOOT_IMAGE_VADDR`
/// in the root task (page tables paid by the root; the pages themselves are
/// not objects: no cap names them, and they are never retyped). Returns the
/// address of the image's first byte there.
fn map_boot_image(root: &mut RootBuilder<'_>, (start, end): (u64, u64)) -> Result<u64, BootError> {
    let first_page = start & !0xfff;
    let mut page = first_page;
    while page < end {
        let vaddr = abi::BOOT_IMAGE_VADDR + (page - first_page);
        root.ensure_tables(vaddr)?;
        vspace::map_frame(&mut Identity, root.pml4, page, 12, vaddr, false)
            .map_err(|e| BootError("boot image mapping", e))?;
        page += 4096;
    }
    Ok(abi::BOOT_IMAGE_VADDR + (start - first_page))
}

/// Loads the PT_LOAD segments of `image` into fresh frames of the root
/// task and returns the entry point.
fn load_elf(root: &mut RootBuilder<'_>, image: &[u8]) -> Result<u64, BootError> {
    use elf::ElfBytes;
    use elf::abi::{PF_W, PT_LOAD};
    use elf::endian::LittleEndian;
    let bad = BootError("root image", KernelError::InvalidArgument { index: 0 });
    let file = ElfBytes::<LittleEndian>::minimal_parse(image).map_err(|_| bad_image())?;
    let segments = file.segments().ok_or(bad)?;
    for segment in segments.iter().filter(|s| s.p_type == PT_LOAD) {
        let start = segment.p_vaddr & !0xfff;
        let end = segment
            .p_vaddr
            .checked_add(segment.p_memsz)
            .ok_or(bad_image())?;
        let file_start = segment.p_offset as usize;
        let file_end = file_start
            .checked_add(segment.p_filesz as usize)
            .ok_or(bad_image())?;
        let data = image.get(file_start..file_end).ok_or(bad_image())?;
        let mut page = start;
        while page < end {
            // The bytes of this page that come from the file.
            let lo = page.max(segment.p_vaddr);
            let hi = (page + 4096).min(segment.p_vaddr + segment.p_filesz);
            // Two segments may share a page (the linker packs them): the
            // second one's bytes go into the frame the first one made.
            let frame = match vspace::translate(&Identity, root.pml4, page) {
                Some((frame, _)) => frame,
                None => {
                    let slot = root.map_new_frame(page, &[], segment.p_flags & PF_W != 0, None)?;
                    root.memory
                        .cap(slot)
                        .and_then(FrameCap::from_cap)
                        .map(|f| f.frame())
                        .ok_or_else(bad_image)?
                }
            };
            if lo < hi {
                let from = (lo - segment.p_vaddr) as usize;
                let to = (hi - segment.p_vaddr) as usize;
                let at = frame + (lo - page);
                // SAFETY: `at..at + (to - from)` lies in the 4 KiB frame
                // just made for this page (or the one made for it before),
                // which only this loader references.
                let target = unsafe { core::slice::from_raw_parts_mut(at as *mut u8, to - from) };
                target.copy_from_slice(&data[from..to]);
            }
            page += 4096;
        }
    }
    Ok(file.ehdr.e_entry)
}

fn bad_image() -> BootError {
    BootError("root image", KernelError::InvalidArgument { index: 0 })
}

/// Appends `thread` to the run queue.
fn enqueue(k: &mut Kernel, thread: u64) {
    tcb(thread).sched_next = 0;
    if k.queue_tail == 0 {
        k.queue_head = thread;
    } else {
        tcb(k.queue_tail).sched_next = thread;
    }
    k.queue_tail = thread;
}

/// Takes the first thread off the run queue.
fn dequeue(k: &mut Kernel) -> Option<u64> {
    let head = k.queue_head;
    if head == 0 {
        return None;
    }
    k.queue_head = tcb(head).sched_next;
    if k.queue_head == 0 {
        k.queue_tail = 0;
    }
    tcb(head).sched_next = 0;
    Some(head)
}

/// Removes `thread` from the run queue if it is there.
fn remove(k: &mut Kernel, thread: u64) {
    let mut previous = 0;
    let mut at = k.queue_head;
    while at != 0 {
        let next = tcb(at).sched_next;
        if at == thread {
            if previous == 0 {
                k.queue_head = next;
            } else {
                tcb(previous).sched_next = next;
            }
            if k.queue_tail == thread {
                k.queue_tail = previous;
            }
            tcb(at).sched_next = 0;
            return;
        }
        previous = at;
        at = next;
    }
}

/// Saves the interrupted thread's registers from `frame`.
fn save(frame: &ExceptionFrame, context: &mut UserContext) {
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
fn load(frame: &mut ExceptionFrame, context: &UserContext) {
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
    frame.rflags = (context.rflags & 0xcd5) | USER_RFLAGS;
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
fn switch_address_space(k: &mut Kernel, thread: u64) {
    let pml4 =
        Pml4Cap::from_cap(thread_cap(thread, TcbSlot::Vspace)).map_or(k.kernel_pml4, |c| c.table());
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
fn enter(thread: u64) -> ! {
    let k = kernel();
    k.current = thread;
    switch_address_space(k, thread);
    let t = tcb(thread);
    let mut frame = ExceptionFrame::zeroed();
    load(&mut frame, &t.context);
    interrupts::return_to(&frame)
}

/// Every entry from ring 3: a system call, the timer, or a fault. Saves
/// the thread, handles the entry and leaves the next thread to run in
/// `frame`.
pub fn trap(frame: &mut ExceptionFrame) {
    let k = kernel();
    let current = k.current;
    let thread = tcb(current);
    save(frame, &mut thread.context);
    let mut rotate = false;
    match frame.vector {
        SYSCALL_VECTOR => {
            k.syscalls += 1;
            rotate = syscall(k, current);
        }
        TIMER_VECTOR => {
            crate::timer::end_of_interrupt();
            k.preemptions += 1;
            rotate = true;
        }
        _ => {
            if let Some(mut console) = Console::reopen() {
                let _ = writeln!(console, "thread {current:#x} faulted:");
                let _ = interrupts::report(&mut console, frame, Origin::User);
            }
            thread.state = ThreadState::Faulted;
            k.faulted += 1;
        }
    }
    let thread = tcb(current);
    let woken = core::mem::take(&mut k.woken);
    let next = if thread.state == ThreadState::Running && !rotate {
        if woken != 0 {
            enqueue(k, woken);
        }
        current
    } else {
        if thread.state == ThreadState::Running {
            enqueue(k, current);
        }
        // A thread woken into an empty run queue is next anyway: switch to
        // it directly (as seL4 does on a call or reply).
        match (woken, dequeue(k)) {
            (0, Some(next)) => next,
            (0, None) => finish(k),
            (woken, _) => woken,
        }
    };
    let next = with_address_space(k, next);
    k.current = next;
    switch_address_space(k, next);
    load(frame, &tcb(next).context);
}

/// `next`, or if its VSpace slot lost its PML4 cap (deleted or revoked
/// while the thread was queued), the first queued thread that has one:
/// a thread never runs without its own address space. Those passed over
/// are stopped.
fn with_address_space(k: &mut Kernel, mut next: u64) -> u64 {
    for _ in 0..=MAX_THREADS {
        if Pml4Cap::from_cap(thread_cap(next, TcbSlot::Vspace)).is_some() {
            return next;
        }
        tcb(next).state = ThreadState::Inactive;
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
    finish(k)
}

/// No thread is left to run: the report, then the end of the QEMU run.
fn finish(k: &Kernel) -> ! {
    if let Some(mut console) = Console::reopen() {
        let _ = writeln!(
            console,
            "kernel: no runnable threads left: {} exited, {} faulted, {} blocked; {} system calls, {} preemptions; no kernel heap",
            k.exited,
            k.faulted,
            k.threads
                .iter()
                .filter(|&&t| t != 0)
                .filter(|&&t| matches!(
                    tcb(t).state,
                    ThreadState::BlockedOnSend
                        | ThreadState::BlockedOnRecv
                        | ThreadState::BlockedOnReply
                        | ThreadState::BlockedOnNotification
                ))
                .count(),
            k.syscalls,
            k.preemptions
        );
        let _ = writeln!(console, "{}", crate::DEMO_OK);
    }
    qemu::exit(ExitCode::Success)
}

/// Handles the system call of the thread at `current` (its registers are
/// saved in its TCB); writes the results into its saved registers.
/// Returns whether the thread gives up the CPU.
fn syscall(k: &mut Kernel, current: u64) -> bool {
    let thread = tcb(current);
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
                Some(endpoint) if endpoint.rights().contains(Rights::WRITE) => {
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
        Some(Syscall::Send) => match ipc_target(k, current, Rights::WRITE) {
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
        Some(Syscall::Recv) => receive(k, current),
        Some(Syscall::DebugCapType) => {
            let cap = lookup(k, current).map_or(Cap::NULL, |(_, cap)| cap);
            let g = &mut tcb(current).context.general;
            g[reg::RDI] = cap.tag();
            (g[reg::RDX], g[reg::R8]) = (cap.words()[0], cap.words()[1]);
            SyscallStatus::Ok
        }
        Some(Syscall::DebugAudit) => {
            let verdict = debug_audit(k, current);
            tcb(current).context.general[reg::RDI] = u64::from(!verdict);
            SyscallStatus::Ok
        }
        Some(Syscall::Reply) => {
            ipc::reply(&mut Machine(k), current);
            SyscallStatus::Ok
        }
        Some(Syscall::ReplyRecv) => {
            ipc::reply(&mut Machine(k), current);
            receive(k, current)
        }
    };
    let thread = tcb(current);
    // A thread that blocked gets its status (and message) when it is woken.
    if thread.state == ThreadState::Running {
        thread.context.general[reg::RAX] = status as u64;
    }
    thread.state != ThreadState::Running
}

/// `Recv` on an endpoint or a notification.
fn receive(k: &mut Kernel, current: u64) -> SyscallStatus {
    match ipc_target(k, current, Rights::READ) {
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
fn ipc_status(_next: ipc::Next) -> SyscallStatus {
    SyscallStatus::Ok
}

/// What a `Send` or `Recv` names.
enum IpcTarget {
    /// An endpoint (its address) and the cap used.
    Endpoint(u64, EndpointCap),
    /// A notification (its address) and the cap's badge.
    Notification(u64, u64),
}

/// The cap at the caller's `rdi` and its slot.
fn lookup(k: &Kernel, current: u64) -> Result<(SlotAddr, Cap), SyscallStatus> {
    let memory = slots(k);
    lookup_cap(
        &memory,
        thread_cap(current, TcbSlot::Cspace),
        tcb(current).context.general[reg::RDI],
    )
    .map_err(|_| SyscallStatus::InvalidCap)
}

/// The endpoint or notification the cap at the caller's `rdi` names, if
/// the cap carries `right`.
fn ipc_target(k: &Kernel, current: u64, right: Rights) -> Result<IpcTarget, SyscallStatus> {
    let (_, cap) = lookup(k, current)?;
    ipc_target_of(cap, right)
}

/// The endpoint or notification `cap` names, if it carries `right`.
fn ipc_target_of(cap: Cap, right: Rights) -> Result<IpcTarget, SyscallStatus> {
    if let Some(endpoint) = EndpointCap::from_cap(cap)
        && endpoint.rights().contains(right)
    {
        return Ok(IpcTarget::Endpoint(endpoint.endpoint(), endpoint));
    }
    if let Some(notification) = NotificationCap::from_cap(cap)
        && notification.rights().contains(right)
    {
        return Ok(IpcTarget::Notification(
            notification.notification(),
            notification.badge(),
        ));
    }
    Err(SyscallStatus::InvalidCap)
}

/// The kernel's objects for `ipc`, reached through the identity map.
struct Machine<'k>(&'k mut Kernel);

impl ipc::Objects for Machine<'_> {
    fn tcb(&mut self, at: u64) -> &mut Tcb {
        tcb(at)
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
        let g = &mut tcb(to).context.general;
        g[reg::RAX] = SyscallStatus::Ok as u64;
        g[reg::RDI] = word;
        g[reg::RSI] = 0;
    }
    fn fail_wait(&mut self, thread: u64) {
        let t = tcb(thread);
        t.state = ThreadState::Running;
        t.context.general[reg::RAX] = SyscallStatus::InvalidCap as u64;
        self.wake(thread);
    }
    fn wake(&mut self, thread: u64) {
        let k = &mut *self.0;
        // Into an empty run queue: kept aside for `trap` to switch to.
        if k.queue_head == 0 && k.woken == 0 {
            k.woken = thread;
        } else {
            enqueue(k, thread);
        }
    }
}

/// Copies the message `from` sends (its saved registers: `rsi` the
/// `MessageInfo`, `rdx, r8, r9, r10` the first words; the rest and the cap
/// addresses in its IPC buffer) into `to`'s registers and IPC buffer, as
/// the return of its receive with `badge`. With `grant`, each cap goes into
/// the receive slot `to` named in its buffer (`receive_slots[i]` at
/// `receive_depth`), stopping at the first that cannot (as seL4).
fn transfer(k: &mut Kernel, from: u64, to: u64, badge: u64, grant: bool) {
    let sender = tcb(from);
    let g = &sender.context.general;
    let words = [g[reg::RDX], g[reg::R8], g[reg::R9], g[reg::R10]];
    // The common case, a message that fits the registers and carries no
    // caps, goes as it is: its `MessageInfo` word is already right.
    if abi::fits_registers(g[reg::RSI]) {
        let word = g[reg::RSI];
        let r = &mut tcb(to).context.general;
        r[reg::RAX] = SyscallStatus::Ok as u64;
        r[reg::RDI] = badge;
        r[reg::RSI] = word;
        (r[reg::RDX], r[reg::R8], r[reg::R9], r[reg::R10]) =
            (words[0], words[1], words[2], words[3]);
        return;
    }
    let mut info = abi::unpack_info(g[reg::RSI]).unwrap_or(MessageInfo {
        label: 0,
        length: 0,
        caps: 0,
    });
    let sender_cspace = thread_cap(from, TcbSlot::Cspace);
    let (from_buffer, mut to_buffer) = if info.length > MESSAGE_REGISTERS || info.caps > 0 {
        (ipc_buffer(from), ipc_buffer(to))
    } else {
        (None, None)
    };
    let receiver_cspace = thread_cap(to, TcbSlot::Cspace);
    // Words past the registers need both buffers.
    if from_buffer.is_none() || to_buffer.is_none() {
        info.length = info.length.min(MESSAGE_REGISTERS);
    }
    if let (Some(src), Some(dst)) = (&from_buffer, &mut to_buffer)
        && info.length > MESSAGE_REGISTERS
    {
        let words = MESSAGE_REGISTERS..info.length;
        dst.msg[words.clone()].copy_from_slice(&src.msg[words]);
    }
    let mut moved = 0;
    if let (true, Some(src), Some(dst)) = (grant, &from_buffer, &to_buffer) {
        let mut memory = slots(k);
        let depth = u8::try_from(dst.receive_depth).unwrap_or(0);
        for (&address, &slot) in src.caps.iter().zip(&dst.receive_slots).take(info.caps) {
            let Ok((source, _)) = lookup_cap(&memory, sender_cspace, address) else {
                break;
            };
            let Ok(target) = lookup_slot(&memory, receiver_cspace, slot, depth) else {
                break;
            };
            if ops::copy(&mut memory, source, target, Rights::ALL).is_err() {
                break;
            }
            moved += 1;
        }
    }
    info.caps = moved;
    let r = &mut tcb(to).context.general;
    r[reg::RAX] = SyscallStatus::Ok as u64;
    r[reg::RDI] = badge;
    r[reg::RSI] = abi::pack_info(info).unwrap_or(0);
    (r[reg::RDX], r[reg::R8], r[reg::R9], r[reg::R10]) = (words[0], words[1], words[2], words[3]);
}

/// Audits the kernel's state as the scheduler sees it (every known
/// thread's CSpace, TCB slots, address space and waits: see `audit`),
/// prints the result, and says whether it passed.
// Never inlined: the audit's tables take kilobytes of stack, which must not
// become part of the frame of every entry (the exception handler's frame is
// on the 16 KiB double-fault stack too).
#[inline(never)]
fn debug_audit(k: &Kernel, current: u64) -> bool {
    let memory = slots(k);
    let view = |at: u64| {
        let t = tcb(at);
        audit::ThreadView {
            state: t.state,
            blocked_on: t.blocked_on,
            reply_to: t.reply_to,
            reply_from: t.reply_from,
        }
    };
    let result = audit::audit_system(
        &memory,
        (&k.threads, &k.asids),
        k.boot_image,
        &Identity,
        view,
    );
    if let Some(mut console) = Console::reopen() {
        let _ = match result {
            Ok(report) => writeln!(
                console,
                "audit: for thread {current:#x}: {} threads reach {} caps to {} objects in {} CNodes and their TCBs' slots, {} address spaces with {} user entries: the derivation list is sound, rights never exceed a parent's, no objects overlap, watermarks within their Untyped, owned slots hold what they admit, every thread is a live TCB waiting only on live objects, every user mapping leads to an object whose cap records it",
                report.threads,
                report.caps.caps,
                report.caps.objects,
                report.caps.tables,
                report.address_spaces,
                report.entries
            ),
            Err(error) => writeln!(console, "audit: for thread {current:#x}: FAILED: {error:?}"),
        };
    }
    result.is_ok()
}

/// Prints `length` bytes of the thread's IPC buffer.
fn debug_print(thread: u64, length: u64) -> SyscallStatus {
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

/// A `Call` on the kernel object `cap` (in `slot` of the caller's CSpace):
/// decode, run, reply. The message words are read where they are: the
/// registers, and for a longer message the IPC buffer, whose first
/// [`MESSAGE_REGISTERS`] places (unused by the ABI) get the register words
/// so that the decoder sees one slice.
fn invoke_object(k: &mut Kernel, current: u64, slot: SlotAddr, cap: Cap) -> SyscallStatus {
    let thread = tcb(current);
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
    let mut memory = slots(k);
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
            invoke_untyped(&mut memory, slot, info, msg, caps).map(|p| zero_objects(&p, device))
        }
        Some(CapType::CNodeCap) => match CNodeCap::from_cap(cap) {
            Some(cnode) => invoke_cnode(&mut memory, cnode, info, msg, caps),
            None => Err(KernelError::IllegalOperation),
        },
        Some(CapType::TcbCap) => invoke_tcb(k, &mut memory, cap, info, msg, (caps, &sources)),
        Some(CapType::FrameCap) => invoke_frame(&mut memory, slot, cap, info, msg, caps),
        Some(CapType::PdptCap | CapType::PageDirectoryCap | CapType::PageTableCap) => {
            invoke_table(&mut memory, slot, cap, info, msg, caps)
        }
        _ => Err(KernelError::IllegalOperation),
    };
    // An error's payload is at most two words (`RangeError { min, max }`),
    // so the reply always fits in the registers.
    let mut reply = [0u64; MESSAGE_REGISTERS];
    let reply_info = match result {
        Ok(()) => MessageInfo {
            label: 0,
            length: 0,
            caps: 0,
        },
        Err(error) => error.reply(&mut reply),
    };
    let g = &mut tcb(current).context.general;
    g[reg::RSI] = abi::pack_info(reply_info).unwrap_or(0);
    (g[reg::RDX], g[reg::R8], g[reg::R9], g[reg::R10]) = (reply[0], reply[1], reply[2], reply[3]);
    SyscallStatus::Ok
}

/// Invocations of a TCB cap. `extra` holds the message's caps and the
/// slots they were found in.
fn invoke_tcb(
    k: &mut Kernel,
    memory: &mut SlotMemory<'_>,
    cap: Cap,
    info: MessageInfo,
    msg: &[u64],
    (caps, sources): (&[Cap], &[Option<SlotAddr>]),
) -> Result<(), KernelError> {
    let tcb_cap = TcbCap::from_cap(cap).ok_or(KernelError::IllegalOperation)?;
    let at = tcb_cap.tcb();
    let invocation = decode_tcb_cap(info, cap.rights(), msg, caps).map_err(decode_error)?;
    let thread = tcb(at);
    match invocation {
        TcbCapInvocation::Configure(call) => {
            if call.buffer_addr % 4096 != 0 {
                return Err(KernelError::AlignmentError);
            }
            let given = [0, 1, 2].map(|i| {
                let cap = caps.get(i).copied().unwrap_or(Cap::NULL);
                (sources.get(i).copied().flatten(), cap)
            });
            tcb::configure(memory, at, &given)?;
            let thread = tcb(at);
            thread.ipc_buffer_addr = call.buffer_addr;
            thread.fault_endpoint = call.fault_endpoint;
        }
        TcbCapInvocation::WriteRegisters(call) => {
            if call.ip >= abi::USER_END || call.sp >= abi::USER_END {
                return Err(KernelError::InvalidArgument { index: 0 });
            }
            thread.context = UserContext::default();
            thread.context.rip = call.ip;
            thread.context.rsp = call.sp;
            thread.context.rflags = USER_RFLAGS;
            thread.context.general[reg::RDI] = call.arg;
        }
        TcbCapInvocation::Resume => {
            // A thread runs only in an address space that maps the kernel.
            if Pml4Cap::from_cap(thread_cap(at, TcbSlot::Vspace)).is_none() {
                return Err(KernelError::IllegalOperation);
            }
            if matches!(thread.state, ThreadState::Inactive) && at != k.current {
                let known = k.threads.contains(&at);
                let free = k.threads.iter().position(|&t| t == 0);
                match (known, free) {
                    (true, _) => {}
                    (false, Some(free)) => k.threads[free] = at,
                    (false, None) => return Err(KernelError::IllegalOperation),
                }
                let thread = tcb(at);
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
            tcb(at).state = ThreadState::Inactive;
        }
    }
    Ok(())
}

/// Invocations of a frame cap: map it into an address space (recorded in
/// the cap: the page and the address space's number), unmap it.
fn invoke_frame(
    memory: &mut SlotMemory<'_>,
    slot: SlotAddr,
    cap: Cap,
    info: MessageInfo,
    msg: &[u64],
    caps: &[Cap],
) -> Result<(), KernelError> {
    let mut frame = FrameCap::from_cap(cap).ok_or(KernelError::IllegalOperation)?;
    match decode_frame_cap(info, cap.rights(), msg, caps).map_err(decode_error)? {
        FrameCapInvocation::Map(call) => {
            if frame.mapped_page() != 0 {
                return Err(KernelError::InvalidCapability { index: 0 });
            }
            let pml4 = call.vspace.table();
            // Out of address-space numbers: the map cannot be recorded.
            let asid = asid_of(kernel(), pml4).ok_or(KernelError::IllegalOperation)?;
            let rights = Rights::from_bits_truncate(call.rights).mask(frame.rights());
            // The record first: a mapping nothing records is never made.
            let updated = capc_demo_kernel::caps::with_mapping(frame.cap(), call.vaddr >> 12, asid)
                .ok_or(KernelError::InvalidArgument { index: 1 })?;
            vspace::map_frame(
                &mut Identity,
                pml4,
                frame.frame(),
                frame.bits() as u32,
                call.vaddr,
                rights.contains(Rights::WRITE),
            )?;
            ops::update_cap(memory, slot, updated);
            Ok(())
        }
        FrameCapInvocation::Unmap => {
            unmap(frame);
            frame
                .set_mapped_page(0)
                .and_then(|()| frame.set_mapped_asid(0))
                .map_err(|_| KernelError::IllegalOperation)?;
            ops::update_cap(memory, slot, frame.cap());
            Ok(())
        }
    }
}

/// Removes the mapping `frame` records, if it still stands: from the
/// address space its number names, if that still exists.
fn unmap(frame: FrameCap) {
    let k = kernel();
    let pml4 = k
        .asids
        .get(frame.mapped_asid() as usize)
        .copied()
        .unwrap_or(0);
    if frame.mapped_page() == 0 || frame.mapped_asid() == 0 || pml4 == 0 {
        return;
    }
    let vaddr = frame.mapped_page() << 12;
    if vspace::unmap_frame(
        &mut Identity,
        pml4,
        frame.frame(),
        frame.bits() as u32,
        vaddr,
    ) && pml4 == k.cr3
    {
        flush(vaddr);
    }
}

/// `SlotMemory`'s hook for a cap removed for good, as seL4's finaliseCap,
/// driven by what the spec declares:
/// - a cap whose mapping is its own (`Mapping::EachCap`: a frame's) is
///   unmapped with it, so no address space keeps a page whose cap is gone;
/// - the last cap with a badge to an endpoint cancels the sends queued
///   with that badge (seL4's cancelBadgedSends);
/// - the last cap to an object runs the object's `finalise` actions:
///   `unmap` unlinks a table from its parent, `cancel_waiters` restarts
///   the threads waiting on an endpoint or notification with an error,
///   `stop_thread` stops the thread (see [`evict`]) and `release_asid`
///   takes an address space's number back. (Owned slots and a CNode's
///   slots were emptied by the derivation tree before.)
fn removed(removal: Removal) {
    let Removal {
        cap,
        last,
        last_with_badge,
    } = removal;
    let Some(cap_type) = cap.cap_type() else {
        return;
    };
    let k = kernel();
    if cap_type.mapping() == Some(Mapping::EachCap)
        && let Some(frame) = FrameCap::from_cap(cap)
    {
        unmap(frame);
    }
    if let Some(endpoint) = EndpointCap::from_cap(cap)
        && last_with_badge
    {
        let (at, badge) = (endpoint.endpoint(), endpoint.badge());
        ipc::cancel_badged_sends(&mut Machine(k), at, badge);
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
            Finaliser::Unmap => {
                if let Some(mapping) = table_mapping(cap) {
                    unlink_table(k, mapping);
                }
            }
            Finaliser::CancelWaiters => {
                let notification = object == ObjectType::Notification;
                ipc::cancel_all(&mut Machine(k), base, notification);
            }
            Finaliser::StopThread => {
                evict(k, base, base.saturating_add(size), "its TCB was deleted");
            }
            Finaliser::ReleaseAsid => {
                for pml4 in k.asids[..=k.asids_used].iter_mut().filter(|p| **p == base) {
                    *pml4 = 0;
                }
            }
        }
    }
}

/// The number of the address space whose PML4 is at `pml4`, given one on
/// its first frame mapping; `None` when all 255 are taken.
fn asid_of(k: &mut Kernel, pml4: u64) -> Option<u64> {
    if let Some(asid) = k.asids[..=k.asids_used]
        .iter()
        .position(|&p| p == pml4)
        .filter(|&a| a != 0)
    {
        return Some(asid as u64);
    }
    let free = k.asids.iter().skip(1).position(|&p| p == 0)? + 1;
    k.asids[free] = pml4;
    k.asids_used = k.asids_used.max(free);
    Some(free as u64)
}

/// Drops the TLB entry of `vaddr` in the current address space.
fn flush(vaddr: u64) {
    x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(vaddr));
}

/// What a PDPT, page-directory or page-table cap says of its table: the
/// level of the table it is linked into, the table's address, and where it
/// is mapped (`mapped_page`, `mapped_asid`; 0 for unmapped).
#[derive(Clone, Copy)]
struct TableMapping {
    parent: Level,
    table: u64,
    page: u64,
    asid: u64,
}

/// The level of the table a table cap's table is linked into.
fn parent_level(cap: Cap) -> Option<Level> {
    match cap.cap_type()? {
        CapType::PdptCap => Some(Level::Pml4),
        CapType::PageDirectoryCap => Some(Level::Pdpt),
        CapType::PageTableCap => Some(Level::PageDirectory),
        _ => None,
    }
}

/// The mapping a table cap records (the generated `mapping_of`).
fn table_mapping(cap: Cap) -> Option<TableMapping> {
    let (page, asid) = capc_demo_kernel::caps::mapping_of(cap)?;
    Some(TableMapping {
        parent: parent_level(cap)?,
        table: capc_demo_kernel::caps::region(cap)?.0,
        page,
        asid,
    })
}

/// Unlinks the table a table cap records as mapped, if it still is: called
/// when its last cap goes, so that its memory leaves the address space
/// before it can be handed out again.
fn unlink_table(k: &mut Kernel, mapping: TableMapping) {
    let pml4 = k.asids.get(mapping.asid as usize).copied().unwrap_or(0);
    if mapping.page == 0 || mapping.asid == 0 || pml4 == 0 {
        return;
    }
    if vspace::unmap_table(
        &mut Identity,
        pml4,
        mapping.parent,
        mapping.table,
        mapping.page << 12,
    ) && pml4 == k.cr3
    {
        // The paging-structure caches may hold the table: drop them all.
        x86_64::instructions::tlb::flush_all();
    }
}

/// Invocations of a PDPT, page-directory or page-table cap: map it.
fn invoke_table(
    memory: &mut SlotMemory<'_>,
    slot: SlotAddr,
    cap: Cap,
    info: MessageInfo,
    msg: &[u64],
    caps: &[Cap],
) -> Result<(), KernelError> {
    let rights = cap.rights();
    // The level of the table it goes into, and where.
    let (parent, vspace, vaddr) = match cap.cap_type() {
        Some(CapType::PdptCap) => {
            let PdptCapInvocation::Map(call) =
                decode_pdpt_cap(info, rights, msg, caps).map_err(decode_error)?;
            (Level::Pml4, call.vspace, call.vaddr)
        }
        Some(CapType::PageDirectoryCap) => {
            let PageDirectoryCapInvocation::Map(call) =
                decode_page_directory_cap(info, rights, msg, caps).map_err(decode_error)?;
            (Level::Pdpt, call.vspace, call.vaddr)
        }
        Some(CapType::PageTableCap) => {
            let PageTableCapInvocation::Map(call) =
                decode_page_table_cap(info, rights, msg, caps).map_err(decode_error)?;
            (Level::PageDirectory, call.vspace, call.vaddr)
        }
        _ => return Err(KernelError::IllegalOperation),
    };
    let mapping = table_mapping(cap).ok_or(KernelError::IllegalOperation)?;
    // A table is linked into one place only (its copies share the
    // mapping, and an unmapped cap cannot be copied: see `ops::copy`).
    if mapping.page != 0 {
        return Err(KernelError::InvalidCapability { index: 0 });
    }
    let pml4 = vspace.table();
    let asid = asid_of(kernel(), pml4).ok_or(KernelError::IllegalOperation)?;
    let updated = capc_demo_kernel::caps::with_mapping(cap, vaddr >> 12, asid)
        .ok_or(KernelError::InvalidArgument { index: 1 })?;
    vspace::map_table(&mut Identity, pml4, parent, mapping.table, vaddr)?;
    ops::update_cap(memory, slot, updated);
    Ok(())
}
