//! Address spaces: removing the mapping a frame or table cap records (in
//! the address space its number names: `capc_demo_kernel::asid`), and TLB
//! flushes.
//!
//! Reads the address-space table in the kernel state, CR3's copy, and
//! changes page tables through `vspace`.

use capc_demo_kernel::caps::FrameCap;
use capc_demo_kernel::vspace::{self, TableMapping};

use super::state::{Identity, Kernel};

/// Removes the mapping `frame` records, if it still stands: from the
/// address space its number names, if that still exists.
pub(super) fn unmap(k: &Kernel, frame: FrameCap) {
    let Some(pml4) = k.asids.pml4(frame.mapped_asid()) else {
        return;
    };
    if frame.mapped_page() == 0 {
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

/// Drops the TLB entry of `vaddr` in the current address space.
pub(super) fn flush(vaddr: u64) {
    x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(vaddr));
}

/// Unlinks the table a table cap records as mapped, if it still is: called
/// when its last cap goes, so that its memory leaves the address space
/// before it can be handed out again.
pub(super) fn unlink_table(k: &mut Kernel, mapping: TableMapping) {
    let Some(pml4) = k.asids.pml4(mapping.asid) else {
        return;
    };
    if mapping.page == 0 {
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
