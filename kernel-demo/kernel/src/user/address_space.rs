//! Address spaces: the TLB's part. What a map, an unmap or a removal
//! changes in page tables and address-space numbers is
//! `capc_demo_kernel::mapping`'s; it says what it removed, and the entries
//! the TLB may still hold for the address space loaded are dropped here.
//!
//! Reads CR3's copy in the kernel state; runs `invlpg` and reloads CR3.

use capc_demo_kernel::mapping::Flush;

use super::state::Kernel;

/// Drops what `flush` says from the TLB, if it is about the address space
/// loaded (another's entries are not cached: each switch reloads CR3).
pub(super) fn flush_if_current(k: &mut Kernel, flush: Flush) {
    match flush {
        // Address spaces went with a pool: the loaded one may be among
        // them, and a thread may no longer run in its own (see
        // `sched::switch_to_runnable`).
        Flush::Spaces => {
            x86_64::instructions::tlb::flush_all();
            k.pml4_cap_removed = true;
        }
        Flush::Page { pml4, vaddr } if pml4 == k.cr3 => {
            x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(vaddr));
        }
        // The paging-structure caches may hold the table: drop them all.
        Flush::All { pml4 } if pml4 == k.cr3 => x86_64::instructions::tlb::flush_all(),
        Flush::Nothing | Flush::Page { .. } | Flush::All { .. } => {}
    }
}
