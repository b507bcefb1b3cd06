//! Address spaces: their numbers (seL4's ASIDs, recorded in frame and
//! table caps), removing the mapping a frame or table cap records, and TLB
//! flushes.
//!
//! Touches the address-space table in the kernel state and page tables
//! through `vspace`.

use capc_demo_kernel::caps::{Cap, CapType, FrameCap};
use capc_demo_kernel::vspace::{self, Level};

use super::state::{Identity, Kernel};

/// Removes the mapping `frame` records, if it still stands: from the
/// address space its number names, if that still exists.
pub(super) fn unmap(k: &Kernel, frame: FrameCap) {
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

/// The number of the address space whose PML4 is at `pml4`, given one on
/// its first frame mapping; `None` when all 255 are taken.
pub(super) fn asid_of(k: &mut Kernel, pml4: u64) -> Option<u64> {
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
pub(super) fn flush(vaddr: u64) {
    x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(vaddr));
}

/// What a PDPT, page-directory or page-table cap says of its table: the
/// level of the table it is linked into, the table's address, and where it
/// is mapped (`mapped_page`, `mapped_asid`; 0 for unmapped).
#[derive(Clone, Copy)]
pub(super) struct TableMapping {
    pub(super) parent: Level,
    pub(super) table: u64,
    pub(super) page: u64,
    pub(super) asid: u64,
}

/// The level of the table a table cap's table is linked into.
pub(super) fn parent_level(cap: Cap) -> Option<Level> {
    match cap.cap_type()? {
        CapType::PdptCap => Some(Level::Pml4),
        CapType::PageDirectoryCap => Some(Level::Pdpt),
        CapType::PageTableCap => Some(Level::PageDirectory),
        _ => None,
    }
}

/// The mapping a table cap records (the generated `mapping_of`).
pub(super) fn table_mapping(cap: Cap) -> Option<TableMapping> {
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
pub(super) fn unlink_table(k: &mut Kernel, mapping: TableMapping) {
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
