//! Building the root task at boot: its CNode, TCB, address space, image,
//! stack and IPC buffer, all retyped from one of its own Untyped caps.
//!
//! Runs once, before the first thread; touches the kernel state only to
//! set it up, and the root task's objects through `SlotMemory` and `vspace`.

use core::fmt::Write;

use capc_demo_kernel::abi::{
    self, FIRST_UNTYPED_SLOT, ROOT_ASID_CONTROL_SLOT, ROOT_ASID_POOL_SLOT,
    ROOT_ASID_POOL_UNTYPED_SLOT, ROOT_CNODE_SLOT, ROOT_IO_PORT_CONTROL_SLOT, ROOT_IPC_BUFFER,
    ROOT_IPC_BUFFER_SLOT, ROOT_IRQ_CONTROL_SLOT, ROOT_RADIX, ROOT_STACK_PAGES, ROOT_STACK_TOP,
    ROOT_TCB_SLOT, ROOT_VSPACE_SLOT,
};
use capc_demo_kernel::caps::{
    AsidControlCap, CNodeCap, FrameCap, IoPortControlCap, IrqControlCap, KernelError, ObjectType,
    Placement, RetypeRequest, Rights, UntypedCap,
};
use capc_demo_kernel::cspace::{SlotAddr, SlotMemory};
use capc_demo_kernel::tcb::{self, TcbSlot, ThreadState, reg};
use capc_demo_kernel::units::Bytes;
use capc_demo_kernel::vspace::{self, Level};
use capc_demo_kernel::{asid, mdb, ops};
use x86_64::registers::control::Cr3;

use super::lifecycle::zero_objects;
use super::sched::{dequeue, enqueue, enter};

/// The root thread's priority: that of the threads it makes (seL4 starts
/// its root at the highest; here it shares the lowest with its threads,
/// which take turns with it until it gives them other priorities).
const ROOT_PRIORITY: u8 = 0;
/// The root thread's maximum controlled priority: any.
const ROOT_MCP: u8 = 255;
use super::state::{Identity, Kernel, USER_RFLAGS, kernel, slots};

/// First slot of the page tables and frames the kernel made for the root.
pub(super) const FIRST_BOOT_OBJECT_SLOT: u64 = abi::ROOT_FIRST_BOOT_OBJECT_SLOT;

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
    /// Whether `Call` and `ReplyRecv` may take the IPC fast paths
    /// (`capc_demo_kernel::fastpath`); off with the `nofastpath` flag.
    pub fast_path: bool,
}

/// A failure while building the root task, with what was being made.
pub(super) struct BootError(&'static str, KernelError);

/// Builds the root task, starts the timer and runs the root thread; never
/// returns (the run ends in [`finish`]).
pub fn start(out: &mut impl Write, boot: &Boot<'_>) -> ! {
    // SAFETY: the boot's one entry into this module; `enter` never returns.
    let k = unsafe { kernel() };
    k.slots_base = boot.window.0;
    k.slots_len = ((boot.window.1 - boot.window.0) / 32) as usize;
    k.boot_image = (boot.boot_image.0 & !0xfff, boot.boot_image.1);
    k.kernel_pml4 = Cr3::read().0.start_address().as_u64();
    k.cr3 = k.kernel_pml4;
    k.fast_path = boot.fast_path;
    let _ = writeln!(
        out,
        "kernel: IPC fast path {}",
        if k.fast_path {
            "on (Call and ReplyRecv of a message in registers to a waiting thread that runs next)"
        } else {
            "off (nofastpath): every system call takes the slow path"
        }
    );
    match build_root(k, out, boot) {
        Ok(root) => {
            crate::timer::init();
            let _ = writeln!(
                out,
                "scheduler: round robin within each of {} priorities, the highest runnable first, time slices of {} ticks of {} ms, counted only while a thread runs (PIT at {} Hz); the root runs at priority {ROOT_PRIORITY} with MCP {ROOT_MCP}",
                capc_demo_kernel::runqueue::PRIORITIES,
                capc_demo_kernel::runqueue::TIME_SLICE,
                1000 / crate::timer::HZ,
                crate::timer::HZ
            );
            // What the kernel keeps of its own: the one static, fixed at
            // build; everything else is in memory some task retyped.
            let _ = writeln!(
                out,
                "kernel: own state {} bytes, fixed at build (run queues, the head of the thread list, {} ASID pool places, {} interrupt lines, port ranges); no allocator, nothing after boot comes from it",
                core::mem::size_of::<super::state::Kernel>(),
                capc_demo_kernel::asid::PLACES,
                capc_demo_kernel::irq::LINES
            );
            // Priority 0, as every thread it makes, so they take turns
            // until it says otherwise; an MCP of 255 lets it give any.
            k.tcb(root).priority = ROOT_PRIORITY;
            k.tcb(root).mcp = ROOT_MCP;
            enqueue(k, root);
            k.started += 1;
            let first = dequeue(k).expect("the root thread was queued");
            enter(k, first)
        }
        Err(BootError(what, error)) => panic!("building the root task: {what}: {error:?}"),
    }
}

/// Retypes one object for the root task from the Untyped at
/// `untyped_slot` into slot `index` of the root CNode, zeroed.
pub(super) fn retype_one(
    memory: &mut SlotMemory<'_>,
    cnode: CNodeCap,
    untyped_slot: SlotAddr,
    object_type: ObjectType,
    (size_arg, index): (u64, u64),
    k: &mut Kernel,
) -> Result<Placement, KernelError> {
    let request = RetypeRequest {
        object_type: object_type as u64,
        size_arg,
        offset: index,
        count: 1,
    };
    let placement = ops::retype(memory, untyped_slot, &request, Some(cnode))?;
    zero_objects(&placement, false, k.kernel_pml4, &mut k.threads);
    Ok(placement)
}

/// The root task under construction: where its next object goes.
pub(super) struct RootBuilder<'k> {
    /// The kernel state, for address-space numbers.
    k: &'k mut Kernel,
    /// The slot window without a removal hook: building the root task
    /// removes no cap.
    memory: SlotMemory<'static>,
    cnode: CNodeCap,
    untyped: SlotAddr,
    pml4: u64,
    /// The root PML4's address-space number.
    asid: u64,
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
            (size_arg, index),
            self.k,
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
        let updated = self
            .memory
            .cap(slot)
            .and_then(|cap| capc_demo_kernel::caps::with_mapping(cap, vaddr >> 12, self.asid));
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
pub(super) fn build_root(
    k: &mut Kernel,
    out: &mut impl Write,
    boot: &Boot<'_>,
) -> Result<u64, BootError> {
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
    let kernel_pml4 = k.kernel_pml4;
    let mut root = RootBuilder {
        k,
        memory,
        cnode,
        untyped,
        pml4: 0,
        asid: 0,
        next_slot: FIRST_BOOT_OBJECT_SLOT,
        frames: 0,
        tables: 0,
    };
    let (tcb_addr, _) = root.make_at("TCB", ObjectType::Tcb, 0, ROOT_TCB_SLOT)?;
    let (pml4, _) = root.make_at("PML4", ObjectType::Pml4, 0, ROOT_VSPACE_SLOT)?;
    vspace::init_pml4(&mut Identity, pml4, kernel_pml4);
    root.pml4 = pml4;
    // The root's ASID pool, from 4 KiB of its own Untyped as any pool, and
    // its PML4's number from it (seL4 gives the root task an initial pool
    // the same way).
    let (_, pool_untyped) = root.make_at(
        "ASID pool",
        ObjectType::Untyped,
        12,
        ROOT_ASID_POOL_UNTYPED_SLOT,
    )?;
    let (pool_slot, vspace_slot) = (
        root.slot(ROOT_ASID_POOL_SLOT)?,
        root.slot(ROOT_VSPACE_SLOT)?,
    );
    asid::make_pool(
        &mut root.k.asids,
        &mut root.memory,
        &mut Identity,
        Some(pool_untyped),
        Ok(pool_slot),
    )
    .map_err(|e| BootError("ASID pool", e))?;
    let pool_cap = root
        .memory
        .cap(pool_slot)
        .ok_or(BootError("ASID pool", KernelError::IllegalOperation))?;
    root.asid = root
        .k
        .asids
        .assign(&mut root.memory, &mut Identity, pool_cap, vspace_slot)
        .map_err(|e| BootError("root address-space number", e))?;

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
    // The authority over interrupts and I/O ports, one cap each (seL4's
    // IRQControl and IOPortControl), for the root to hand to drivers.
    let control = [
        (
            ROOT_IRQ_CONTROL_SLOT,
            IrqControlCap::new().map(IrqControlCap::cap),
        ),
        (
            ROOT_IO_PORT_CONTROL_SLOT,
            IoPortControlCap::new().map(IoPortControlCap::cap),
        ),
        (
            ROOT_ASID_CONTROL_SLOT,
            AsidControlCap::new().map(AsidControlCap::cap),
        ),
    ];
    for (index, cap) in control {
        let cap = cap.map_err(|_| BootError("control cap", KernelError::IllegalOperation))?;
        let at = root.slot(index)?;
        mdb::insert_root(&mut root.memory, at, cap).map_err(|e| BootError("control cap", e))?;
    }
    let thread = root.k.tcb(tcb_addr);
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
pub(super) fn map_boot_image(
    root: &mut RootBuilder<'_>,
    (start, end): (u64, u64),
) -> Result<u64, BootError> {
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
pub(super) fn load_elf(root: &mut RootBuilder<'_>, image: &[u8]) -> Result<u64, BootError> {
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

pub(super) fn bad_image() -> BootError {
    BootError("root image", KernelError::InvalidArgument { index: 0 })
}
