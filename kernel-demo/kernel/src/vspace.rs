//! Address spaces: x86_64 four-level page tables built only from objects a
//! task retyped (a `Pml4`, `Pdpt`, `PageDirectory` and `PageTable` are each
//! one 4 KiB object), so a task pays for its own page tables, as in seL4.
//!
//! Mapping is explicit, one level at a time: a page table can only be
//! installed under a page directory that is already there, and so on up to
//! the PML4. The first 512 GiB (PML4 entry 0) are the kernel's: every PML4
//! gets the kernel's entry, supervisor only, when it is made ready
//! ([`init_pml4`]), and no user mapping may go there.
//!
//! The tables are reached through [`PhysMem`], so this module runs on the
//! host too; the kernel implements it over its identity mapping.

use crate::abi::{USER_BASE, USER_END};
use crate::caps::{self, Cap, CapType, KernelError};

/// Reads and writes physical memory, one 64-bit word at a time.
pub trait PhysMem {
    /// The word at physical address `paddr` (8-byte aligned).
    fn read(&self, paddr: u64) -> u64;
    /// Writes the word at physical address `paddr` (8-byte aligned).
    fn write(&mut self, paddr: u64, value: u64);
}

/// Page-table entry: present.
pub const PRESENT: u64 = 1;
/// Page-table entry: writable.
pub const WRITABLE: u64 = 1 << 1;
/// Page-table entry: reachable from ring 3.
pub const USER: u64 = 1 << 2;
/// Page-directory entry: maps a 2 MiB page rather than a page table.
pub const HUGE: u64 = 1 << 7;
/// The physical-address bits of an entry.
pub const ADDRESS_MASK: u64 = 0x000f_ffff_ffff_f000;

/// The levels of the tables, from the root down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// The PML4: 512 GiB per entry.
    Pml4,
    /// A page-directory-pointer table: 1 GiB per entry.
    Pdpt,
    /// A page directory: 2 MiB per entry.
    PageDirectory,
    /// A page table: 4 KiB per entry.
    PageTable,
}

impl Level {
    /// log2 of the bytes one entry of a table of this level covers.
    pub const fn entry_bits(self) -> u32 {
        match self {
            Level::Pml4 => 39,
            Level::Pdpt => 30,
            Level::PageDirectory => 21,
            Level::PageTable => 12,
        }
    }

    /// The index of `vaddr`'s entry in a table of this level.
    pub const fn index(self, vaddr: u64) -> u64 {
        (vaddr >> self.entry_bits()) & 511
    }

    /// The level below, whose table an entry of this level points to.
    pub const fn below(self) -> Option<Level> {
        match self {
            Level::Pml4 => Some(Level::Pdpt),
            Level::Pdpt => Some(Level::PageDirectory),
            Level::PageDirectory => Some(Level::PageTable),
            Level::PageTable => None,
        }
    }
}

/// Makes a freshly retyped (zeroed) PML4 usable: copies the kernel's entry 0
/// from `kernel_pml4`, so the kernel stays mapped (supervisor only) while
/// the task runs.
pub fn init_pml4(mem: &mut impl PhysMem, pml4: u64, kernel_pml4: u64) {
    let kernel_entry = mem.read(kernel_pml4);
    mem.write(pml4, kernel_entry & !USER);
}

/// Checks that `[vaddr, vaddr + 2^bits)` is an aligned piece of user space.
fn check_user_range(vaddr: u64, bits: u32) -> Result<(), KernelError> {
    if vaddr & ((1 << bits) - 1) != 0 {
        return Err(KernelError::AlignmentError);
    }
    let end = vaddr.checked_add(1 << bits);
    if vaddr < USER_BASE || end.is_none_or(|end| end > USER_END) {
        return Err(KernelError::InvalidArgument { index: 1 });
    }
    Ok(())
}

/// The physical address of the table of level `level` that maps `vaddr`,
/// walking down from `pml4`; `FailedLookup` if a table on the way is
/// missing (or a huge page is there instead).
fn table_for(mem: &impl PhysMem, pml4: u64, vaddr: u64, level: Level) -> Result<u64, KernelError> {
    let mut table = pml4;
    let mut at = Level::Pml4;
    while at != level {
        let entry = mem.read(table + 8 * at.index(vaddr));
        if entry & PRESENT == 0 || entry & HUGE != 0 {
            return Err(KernelError::FailedLookup { source: 0 });
        }
        table = entry & ADDRESS_MASK;
        at = at.below().expect("the walk stops at the page table");
    }
    Ok(table)
}

/// The physical address of the table of level `level` that maps `vaddr`
/// in `pml4`, if every table above it is installed.
pub fn table_at(mem: &impl PhysMem, pml4: u64, vaddr: u64, level: Level) -> Option<u64> {
    table_for(mem, pml4, vaddr, level).ok()
}

/// Installs the table at `table` (of the level just below `parent`) so that
/// it maps the region around `vaddr`: `parent` is `Pml4` to install a
/// PDPT, `Pdpt` for a page directory, `PageDirectory` for a page table.
/// Errors: `vaddr` not aligned to the region the table covers
/// (`AlignmentError`), outside user space (`InvalidArgument`), a missing
/// table above (`FailedLookup`), the entry already used (`DeleteFirst`).
pub fn map_table(
    mem: &mut impl PhysMem,
    pml4: u64,
    parent: Level,
    table: u64,
    vaddr: u64,
) -> Result<(), KernelError> {
    check_user_range(vaddr, parent.entry_bits())?;
    let parent_table = table_for(mem, pml4, vaddr, parent)?;
    let entry = parent_table + 8 * parent.index(vaddr);
    if mem.read(entry) & PRESENT != 0 {
        return Err(KernelError::DeleteFirst);
    }
    mem.write(entry, table | PRESENT | WRITABLE | USER);
    Ok(())
}

/// Maps the frame at `frame` (`2^bits` bytes: 4 KiB or 2 MiB) at `vaddr`,
/// writable if `writable`. Errors as for [`map_table`].
pub fn map_frame(
    mem: &mut impl PhysMem,
    pml4: u64,
    frame: u64,
    bits: u32,
    vaddr: u64,
    writable: bool,
) -> Result<(), KernelError> {
    let (level, huge) = match bits {
        12 => (Level::PageTable, 0),
        21 => (Level::PageDirectory, HUGE),
        _ => return Err(KernelError::InvalidArgument { index: 0 }),
    };
    check_user_range(vaddr, bits)?;
    let table = table_for(mem, pml4, vaddr, level)?;
    let entry = table + 8 * level.index(vaddr);
    if mem.read(entry) & PRESENT != 0 {
        return Err(KernelError::DeleteFirst);
    }
    let write = if writable { WRITABLE } else { 0 };
    mem.write(entry, frame | PRESENT | USER | write | huge);
    Ok(())
}

/// Unlinks the table at `table` from the entry of its parent (of level
/// `parent`, as for [`map_table`]) that maps `vaddr`, if that entry still
/// points at it; whether it did. The kernel calls it when a table's last
/// cap goes, so that the table's memory, handed out again, is no longer
/// part of any address space.
pub fn unmap_table(
    mem: &mut impl PhysMem,
    pml4: u64,
    parent: Level,
    table: u64,
    vaddr: u64,
) -> bool {
    let Ok(parent_table) = table_for(mem, pml4, vaddr, parent) else {
        return false;
    };
    let entry = parent_table + 8 * parent.index(vaddr);
    let value = mem.read(entry);
    if value & PRESENT == 0 || value & HUGE != 0 || value & ADDRESS_MASK != table {
        return false;
    }
    mem.write(entry, 0);
    true
}

/// Removes the mapping of the frame at `frame` at `vaddr`, if it is there;
/// whether it was.
pub fn unmap_frame(mem: &mut impl PhysMem, pml4: u64, frame: u64, bits: u32, vaddr: u64) -> bool {
    let level = if bits == 21 {
        Level::PageDirectory
    } else {
        Level::PageTable
    };
    let Ok(table) = table_for(mem, pml4, vaddr, level) else {
        return false;
    };
    let entry = table + 8 * level.index(vaddr);
    let value = mem.read(entry);
    if value & PRESENT == 0 || value & ADDRESS_MASK != frame {
        return false;
    }
    mem.write(entry, 0);
    true
}

/// The physical address `vaddr` maps to in `pml4` and whether it is
/// writable from user mode, if it is mapped for user mode.
pub fn translate(mem: &impl PhysMem, pml4: u64, vaddr: u64) -> Option<(u64, bool)> {
    let mut table = pml4;
    let mut level = Level::Pml4;
    let mut writable = true;
    loop {
        let entry = mem.read(table + 8 * level.index(vaddr));
        if entry & (PRESENT | USER) != PRESENT | USER {
            return None;
        }
        writable &= entry & WRITABLE != 0;
        let leaf =
            level == Level::PageTable || (level == Level::PageDirectory && entry & HUGE != 0);
        if leaf {
            let offset = vaddr & ((1 << level.entry_bits()) - 1);
            return Some(((entry & ADDRESS_MASK) + offset, writable));
        }
        table = entry & ADDRESS_MASK;
        level = level.below()?;
    }
}

/// What a PDPT, page-directory or page-table cap says of its table: the
/// level of the table it is linked into, the table's address, and where it
/// is mapped (`page`, `asid`; 0 for unmapped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableMapping {
    /// The level of the table it is linked into.
    pub parent: Level,
    /// The table's physical address.
    pub table: u64,
    /// The virtual page number it is mapped at (0: unmapped).
    pub page: u64,
    /// The number of the address space it is mapped in (0: unmapped).
    pub asid: u64,
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

/// The mapping a table cap records (through the generated `mapping_of`);
/// `None` for any other cap.
pub fn table_mapping(cap: Cap) -> Option<TableMapping> {
    let (page, asid) = caps::mapping_of(cap)?;
    Some(TableMapping {
        parent: parent_level(cap)?,
        table: caps::region(cap)?.0,
        page,
        asid,
    })
}

/// Physical memory for host tests of page tables.
#[cfg(test)]
pub(crate) mod sparse {
    use std::collections::BTreeMap;

    use super::PhysMem;
    use crate::abi::USER_BASE;

    /// The kernel's PML4, whose entry every new PML4 copies.
    pub(crate) const KERNEL_PML4: u64 = 0x1000;
    /// A PML4 and a table of each level below it.
    pub(crate) const PML4: u64 = 0x10_0000;
    pub(crate) const PDPT: u64 = 0x10_1000;
    pub(crate) const PD: u64 = 0x10_2000;
    pub(crate) const PT: u64 = 0x10_3000;
    /// A frame, and an address in user space to map it at.
    pub(crate) const FRAME: u64 = 0x20_0000;
    pub(crate) const VADDR: u64 = USER_BASE + 0x1234_5000;

    /// Sparse physical memory: every word not written reads 0.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub(crate) struct Sparse(pub(crate) BTreeMap<u64, u64>);

    impl PhysMem for Sparse {
        fn read(&self, paddr: u64) -> u64 {
            assert_eq!(paddr % 8, 0);
            self.0.get(&paddr).copied().unwrap_or(0)
        }
        fn write(&mut self, paddr: u64, value: u64) {
            assert_eq!(paddr % 8, 0);
            self.0.insert(paddr, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_cap_says_where_its_table_is_linked() {
        let pd = caps::PageDirectoryCap::new(PD, VADDR >> 12, 3).unwrap();
        assert_eq!(
            table_mapping(pd.cap()),
            Some(TableMapping {
                parent: Level::Pdpt,
                table: PD,
                page: VADDR >> 12,
                asid: 3
            })
        );
        let pdpt = caps::PdptCap::new(PDPT, 0, 0).unwrap();
        assert_eq!(
            table_mapping(pdpt.cap()).map(|m| (m.parent, m.page, m.asid)),
            Some((Level::Pml4, 0, 0))
        );
        let pt = caps::PageTableCap::new(PT, 1, 1).unwrap();
        assert_eq!(
            table_mapping(pt.cap()).map(|m| m.parent),
            Some(Level::PageDirectory)
        );
        assert_eq!(
            table_mapping(caps::Pml4Cap::new(PML4, 0).unwrap().cap()),
            None
        );
        assert_eq!(table_mapping(Cap::NULL), None);
    }

    use super::sparse::{FRAME, KERNEL_PML4, PD, PDPT, PML4, PT, Sparse, VADDR};

    fn space() -> Sparse {
        let mut mem = Sparse::default();
        mem.write(KERNEL_PML4, 0x2000 | PRESENT | WRITABLE);
        init_pml4(&mut mem, PML4, KERNEL_PML4);
        mem
    }

    fn with_tables() -> Sparse {
        let mut mem = space();
        map_table(&mut mem, PML4, Level::Pml4, PDPT, VADDR & !((1 << 39) - 1)).unwrap();
        map_table(&mut mem, PML4, Level::Pdpt, PD, VADDR & !((1 << 30) - 1)).unwrap();
        map_table(
            &mut mem,
            PML4,
            Level::PageDirectory,
            PT,
            VADDR & !((1 << 21) - 1),
        )
        .unwrap();
        mem
    }

    #[test]
    fn a_frame_maps_through_every_level() {
        let mut mem = with_tables();
        map_frame(&mut mem, PML4, FRAME, 12, VADDR, true).unwrap();
        assert_eq!(
            translate(&mem, PML4, VADDR + 0x10),
            Some((FRAME + 0x10, true))
        );
        assert_eq!(translate(&mem, PML4, VADDR + 0x1000), None);
        assert!(unmap_frame(&mut mem, PML4, FRAME, 12, VADDR));
        assert_eq!(translate(&mem, PML4, VADDR), None);
        assert!(!unmap_frame(&mut mem, PML4, FRAME, 12, VADDR));
    }

    #[test]
    fn an_unlinked_table_maps_nothing_and_only_its_own_entry_goes() {
        let mut mem = with_tables();
        map_frame(&mut mem, PML4, FRAME, 12, VADDR, true).unwrap();
        let region = VADDR & !((1 << 21) - 1);
        // Another table's address, or the wrong level: nothing changes.
        assert!(!unmap_table(
            &mut mem,
            PML4,
            Level::PageDirectory,
            PD,
            region
        ));
        assert!(!unmap_table(&mut mem, PML4, Level::Pdpt, PT, region));
        assert!(translate(&mem, PML4, VADDR).is_some());
        assert!(unmap_table(
            &mut mem,
            PML4,
            Level::PageDirectory,
            PT,
            region
        ));
        assert_eq!(translate(&mem, PML4, VADDR), None);
        assert!(!unmap_table(
            &mut mem,
            PML4,
            Level::PageDirectory,
            PT,
            region
        ));
        // The table above is still there: another table can go in.
        map_table(&mut mem, PML4, Level::PageDirectory, PT + 0x1000, region).unwrap();
        assert!(unmap_table(&mut mem, PML4, Level::Pml4, PDPT, region));
        assert_eq!(table_at(&mem, PML4, region, Level::PageTable), None);
    }

    /// The levels are the spec's tables (`table = 512 x ...` in
    /// kernel.cap): each covers what the spec says, and holds the table the
    /// level below is, and frames of its entry's size where the spec says.
    #[test]
    fn the_levels_are_the_specs_tables() {
        use caps::ObjectType;
        let levels = [
            (Level::Pml4, ObjectType::Pml4),
            (Level::Pdpt, ObjectType::Pdpt),
            (Level::PageDirectory, ObjectType::PageDirectory),
            (Level::PageTable, ObjectType::PageTable),
        ];
        assert_eq!(caps::TABLE_ROOT, Some(ObjectType::Pml4));
        assert_eq!(caps::PAGE_BITS, 12);
        for (i, (level, object)) in levels.iter().enumerate() {
            let shape = object.table().expect("a table");
            assert_eq!((shape.entries, shape.entry_bits), (512, level.entry_bits()));
            if let Some((below, below_object)) = levels.get(i + 1) {
                assert_eq!(level.below(), Some(*below));
                assert_eq!(below_object.held_in(shape.entry_bits), Some(*object));
            }
        }
        assert_eq!(ObjectType::Frame.held_in(12), Some(ObjectType::PageTable));
        assert_eq!(
            ObjectType::Frame.held_in(21),
            Some(ObjectType::PageDirectory)
        );
        assert_eq!(ObjectType::Frame.held_in(30), None, "no 1 GiB pages");
    }

    #[test]
    fn the_kernel_entry_is_copied_supervisor_only() {
        let mem = space();
        assert_eq!(mem.read(PML4), 0x2000 | PRESENT | WRITABLE);
        assert_eq!(translate(&mem, PML4, 0x10_0000), None, "not for ring 3");
    }

    #[test]
    fn every_refusal_has_its_error() {
        let mut mem = space();
        assert_eq!(
            map_frame(&mut mem, PML4, FRAME, 12, VADDR, true),
            Err(KernelError::FailedLookup { source: 0 }),
            "no tables yet"
        );
        assert_eq!(
            map_table(&mut mem, PML4, Level::Pml4, PDPT, 0),
            Err(KernelError::InvalidArgument { index: 1 }),
            "the kernel's slot"
        );
        assert_eq!(
            map_table(&mut mem, PML4, Level::Pml4, PDPT, USER_END),
            Err(KernelError::InvalidArgument { index: 1 }),
            "past user space"
        );
        assert_eq!(
            map_table(&mut mem, PML4, Level::Pdpt, PD, VADDR),
            Err(KernelError::AlignmentError)
        );
        let mut mem = with_tables();
        assert_eq!(
            map_table(
                &mut mem,
                PML4,
                Level::PageDirectory,
                PT + 0x1000,
                VADDR & !((1 << 21) - 1)
            ),
            Err(KernelError::DeleteFirst)
        );
        map_frame(&mut mem, PML4, FRAME, 12, VADDR, false).unwrap();
        assert_eq!(
            map_frame(&mut mem, PML4, FRAME + 0x1000, 12, VADDR, false),
            Err(KernelError::DeleteFirst)
        );
        assert_eq!(translate(&mem, PML4, VADDR), Some((FRAME, false)));
        assert_eq!(
            map_frame(&mut mem, PML4, FRAME, 13, VADDR, false),
            Err(KernelError::InvalidArgument { index: 0 })
        );
        assert_eq!(
            map_frame(&mut mem, PML4, FRAME, 21, VADDR, false),
            Err(KernelError::AlignmentError)
        );
    }

    #[test]
    fn a_huge_frame_sits_in_the_page_directory() {
        let mut mem = space();
        let vaddr = USER_BASE + (3 << 21);
        map_table(&mut mem, PML4, Level::Pml4, PDPT, USER_BASE).unwrap();
        map_table(&mut mem, PML4, Level::Pdpt, PD, USER_BASE).unwrap();
        map_frame(&mut mem, PML4, 0x4000_0000, 21, vaddr, true).unwrap();
        assert_eq!(
            translate(&mem, PML4, vaddr + 0x1_2345),
            Some((0x4001_2345, true))
        );
        assert_eq!(
            map_table(&mut mem, PML4, Level::PageDirectory, PT, vaddr),
            Err(KernelError::DeleteFirst)
        );
    }
}
