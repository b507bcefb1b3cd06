//! Frames and tables in address spaces: the frame and table invocations
//! (`map`, and a frame's `unmap`), what removing their caps undoes there
//! (the spec's `unmap` and `release_asid` finalisers, and a frame cap's
//! own mapping), and making a newly retyped table ready.
//!
//! Touches page tables through [`PhysMem`] (the walks are `vspace`'s) and
//! the address-space numbers in an [`AsidTable`]; nothing else. The caller
//! stores the caps these return in their slots (`ops::update_cap`) and
//! drops stale TLB entries as they say, for only it knows which address
//! space is loaded. The kernel runs them over its identity map; on the
//! host they run over any [`PhysMem`], next to the spec's interpreter.
//!
//! A mapping is removed only where it still stands: the number the cap
//! records still names an address space, and the entry there is still the
//! cap's frame or table. So a cap that recorded a mapping in an address
//! space that is gone unmaps nothing, even when its number has been given
//! to another.

use crate::asid::AsidTable;
use crate::caps::{
    self, Cap, Finaliser, FrameCap, KernelError, Mapping, ObjectType, Pml4Cap, Rights,
};
use crate::cspace::Removal;
use crate::vspace::{self, PhysMem, TableMapping};

/// Entries in a table of any level (each table object is 4 KiB).
const ENTRIES: u64 = 512;

/// What the TLB must drop after a removal changed the address space whose
/// PML4 is at `pml4`: needed only when that one is loaded, which the
/// caller knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flush {
    /// No entry was removed.
    Nothing,
    /// The page at `vaddr` was unmapped.
    Page {
        /// The PML4 of the address space.
        pml4: u64,
        /// The page's virtual address.
        vaddr: u64,
    },
    /// A table was unlinked: the paging-structure caches may hold it, so
    /// everything goes.
    All {
        /// The PML4 of the address space.
        pml4: u64,
    },
    /// A pool went with the address spaces its numbers stood for: any of
    /// them may be loaded, so everything goes, and a thread may no longer
    /// run in its address space.
    Spaces,
}

/// The address space `vspace` names, for a map into it: its number and
/// PML4. A PML4 no pool has given a number is `InvalidCapability { index:
/// 0 }` (seL4 maps only into an assigned address space); one whose number
/// no longer stands for it (its pool went) is `FailedLookup { source: 0 }`
/// (seL4's findVSpaceForASID).
fn space_for_map(
    mem: &impl PhysMem,
    asids: &AsidTable,
    vspace: Pml4Cap,
) -> Result<(u64, u64), KernelError> {
    if vspace.asid() == 0 {
        return Err(KernelError::InvalidCapability { index: 0 });
    }
    let pml4 = asids
        .address_space(mem, vspace)
        .ok_or(KernelError::FailedLookup { source: 0 })?;
    Ok((u64::from(vspace.asid()), pml4))
}

/// The cap `cap` recording the mapping at `vaddr` in address space `asid`
/// (`InvalidArgument { index: 1 }` when the page does not fit the cap's
/// field). The record comes before the mapping: a mapping nothing records
/// is never made.
fn recorded(cap: Cap, asid: u64, vaddr: u64) -> Result<Cap, KernelError> {
    caps::with_mapping(cap, vaddr >> 12, asid).ok_or(KernelError::InvalidArgument { index: 1 })
}

/// A frame cap's `map`: maps its frame at `vaddr` in the address space of
/// `vspace`, with the `rights` the cap also has (writable with `WRITE`).
/// Returns the cap recording the mapping (`#[mapped_at]` page and
/// `#[mapped_in]` number), for the caller to store in its slot.
///
/// Checks, in order: `frame_cap` is a frame cap (`IllegalOperation`) not
/// mapped already (`InvalidCapability { index: 0 }`: a frame cap maps
/// once); the address space has its number ([`space_for_map`]); the page
/// fits the cap (`InvalidArgument { index: 1 }`); then
/// `vspace::map_frame`'s (size, alignment, user range, a missing table,
/// the entry used). Nothing changes on an error.
pub fn map_frame(
    mem: &mut impl PhysMem,
    asids: &AsidTable,
    frame_cap: Cap,
    vspace: Pml4Cap,
    vaddr: u64,
    rights: u64,
) -> Result<Cap, KernelError> {
    let frame = FrameCap::from_cap(frame_cap).ok_or(KernelError::IllegalOperation)?;
    if frame.is_mapped() {
        return Err(KernelError::InvalidCapability { index: 0 });
    }
    let (asid, pml4) = space_for_map(mem, asids, vspace)?;
    let rights = Rights::from_bits_truncate(rights).mask(frame.rights());
    let updated = recorded(frame_cap, asid, vaddr)?;
    vspace::map_frame(
        mem,
        pml4,
        frame.frame(),
        u32::from(frame.bits()),
        vaddr,
        rights.contains(Rights::WRITE),
    )?;
    Ok(updated)
}

/// A PDPT, page-directory or page-table cap's `map`: links its table at
/// `vaddr` into the table above it (of the level the cap type says) in
/// the address space of `vspace`. Returns the cap recording the mapping,
/// for the caller to store in its slot (its copies, made after, share it).
///
/// Checks, in order: `table_cap` is a table cap (`IllegalOperation`) not
/// mapped already (`InvalidCapability { index: 0 }`: a table is linked in
/// one place only); the number and the record as for [`map_frame`]; then
/// `vspace::map_table`'s. Nothing changes on an error.
pub fn map_table(
    mem: &mut impl PhysMem,
    asids: &AsidTable,
    table_cap: Cap,
    vspace: Pml4Cap,
    vaddr: u64,
) -> Result<Cap, KernelError> {
    let mapping = vspace::table_mapping(table_cap).ok_or(KernelError::IllegalOperation)?;
    if mapping.page != 0 {
        return Err(KernelError::InvalidCapability { index: 0 });
    }
    let (asid, pml4) = space_for_map(mem, asids, vspace)?;
    let updated = recorded(table_cap, asid, vaddr)?;
    vspace::map_table(mem, pml4, mapping.parent, mapping.table, vaddr)?;
    Ok(updated)
}

/// A frame cap's `unmap`: removes the mapping `frame_cap` records, if it
/// still stands. Returns the cap unmapped, for the caller to store in its
/// slot, and the PML4 and address of the entry removed, if one was (for a
/// TLB flush when that address space is loaded). Any other cap comes back
/// as it is, with nothing removed.
pub fn unmap_frame(
    mem: &mut impl PhysMem,
    asids: &AsidTable,
    frame_cap: Cap,
) -> (Cap, Option<(u64, u64)>) {
    let Some(frame) = FrameCap::from_cap(frame_cap) else {
        return (frame_cap, None);
    };
    let removed = remove_frame_mapping(mem, asids, frame);
    // Page and number 0 fit any frame cap.
    let unmapped = caps::with_mapping(frame_cap, 0, 0).unwrap_or(frame_cap);
    (unmapped, removed)
}

/// A PDPT, page-directory or page-table cap's `unmap` (seL4's
/// PageTable_Unmap), for the table's last cap (the caller checks, as seL4's
/// isFinalCapability: `RevokeFirst` otherwise): unlinks the table from
/// where the cap records it is linked, if it still is, and empties the
/// table, so what was mapped under it is no mapping of any address space.
/// Returns the cap unmapped, for the caller to store in its slot, and what
/// the TLB must drop. An unmapped cap comes back as it is, its table
/// untouched; any other cap is `IllegalOperation`.
pub fn unmap_table(
    mem: &mut impl PhysMem,
    asids: &AsidTable,
    table_cap: Cap,
) -> Result<(Cap, Flush), KernelError> {
    let mapping = vspace::table_mapping(table_cap).ok_or(KernelError::IllegalOperation)?;
    if mapping.page == 0 {
        return Ok((table_cap, Flush::Nothing));
    }
    let flush = match unlink_table(mem, asids, mapping) {
        Some(pml4) => Flush::All { pml4 },
        None => Flush::Nothing,
    };
    for entry in 0..ENTRIES {
        mem.write(mapping.table + 8 * entry, 0);
    }
    // Page and number 0 fit any table cap.
    let unmapped = caps::with_mapping(table_cap, 0, 0).unwrap_or(table_cap);
    Ok((unmapped, flush))
}

/// Removes the mapping `frame` records, if it still stands: from the
/// address space its number names, if that still exists. The PML4 and
/// address of the entry removed.
fn remove_frame_mapping(
    mem: &mut impl PhysMem,
    asids: &AsidTable,
    frame: FrameCap,
) -> Option<(u64, u64)> {
    let pml4 = asids.pml4(mem, u64::from(frame.mapped_asid()))?;
    if frame.mapped_page() == 0 {
        return None;
    }
    let vaddr = frame.mapped_page() << 12;
    vspace::unmap_frame(mem, pml4, frame.frame(), u32::from(frame.bits()), vaddr)
        .then_some((pml4, vaddr))
}

/// Unlinks the table a table cap records as linked, if it still is; the
/// PML4 of the address space it left.
fn unlink_table(mem: &mut impl PhysMem, asids: &AsidTable, mapping: TableMapping) -> Option<u64> {
    let pml4 = asids.pml4(mem, mapping.asid)?;
    if mapping.page == 0 {
        return None;
    }
    vspace::unmap_table(mem, pml4, mapping.parent, mapping.table, mapping.page << 12)
        .then_some(pml4)
}

/// What removing a cap for good (`SlotMemory`'s removal hook) undoes in
/// address spaces, as seL4's finaliseCap for frames, tables and PML4s,
/// driven by what the spec declares:
/// - a cap whose mapping is its own (`Mapping::EachCap`: a frame's) is
///   unmapped on every removal, so no address space keeps a page whose
///   cap is gone;
/// - the last cap to an object that finalises with `unmap` and whose caps
///   record a table's link (a PDPT, page directory or page table) unlinks
///   it from its parent, so that its memory, handed out again, is no
///   longer part of an address space;
/// - the last cap to an object that finalises with `release_asid` (a
///   PML4) takes its number back: every mapping recorded under it is gone
///   with its tables.
///
/// What the TLB must drop (a cap records one mapping, so one flush at
/// most). The rest of finalisation (threads, IPC) is not touched here:
/// see `finalise`.
pub fn removed(mem: &mut impl PhysMem, asids: &mut AsidTable, removal: &Removal) -> Flush {
    let Removal { cap, last, .. } = *removal;
    let Some(cap_type) = cap.cap_type() else {
        return Flush::Nothing;
    };
    let mut flush = Flush::Nothing;
    if cap_type.mapping() == Some(Mapping::EachCap)
        && let Some(frame) = FrameCap::from_cap(cap)
        && let Some((pml4, vaddr)) = remove_frame_mapping(mem, asids, frame)
    {
        flush = Flush::Page { pml4, vaddr };
    }
    let (Some(object), Some((base, _)), true) = (cap_type.object_type(), caps::region(cap), last)
    else {
        return flush;
    };
    // A pool's numbers go with it, and the address spaces they stand for
    // (seL4's deleteASIDPool): the caller drops them all from the TLB.
    if object == ObjectType::AsidPool && asids.pool_gone(base) {
        flush = Flush::Spaces;
    }
    for finaliser in object.finalisers() {
        match finaliser {
            Finaliser::Unmap => {
                if let Some(mapping) = vspace::table_mapping(cap)
                    && let Some(pml4) = unlink_table(mem, asids, mapping)
                {
                    flush = Flush::All { pml4 };
                }
            }
            Finaliser::ReleaseAsid => {
                if let Some(vspace) = Pml4Cap::from_cap(cap) {
                    asids.release(mem, u64::from(vspace.asid()), base);
                }
            }
            Finaliser::CancelWaiters | Finaliser::StopThread => {}
        }
    }
    flush
}

/// Makes the table object just retyped at `table` ready: its 512 entries
/// zeroed and, for a PML4, the kernel's entry copied from `kernel_pml4`
/// (`vspace::init_pml4`). Whether `object_type` is a table type (a PML4,
/// PDPT, page directory or page table); nothing is written for any other.
pub fn prepare_table(
    mem: &mut impl PhysMem,
    object_type: ObjectType,
    table: u64,
    kernel_pml4: u64,
) -> bool {
    if !matches!(
        object_type,
        ObjectType::Pml4 | ObjectType::Pdpt | ObjectType::PageDirectory | ObjectType::PageTable
    ) {
        return false;
    }
    for entry in 0..ENTRIES {
        mem.write(table + 8 * entry, 0);
    }
    if object_type == ObjectType::Pml4 {
        vspace::init_pml4(mem, table, kernel_pml4);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::USER_END;
    use crate::caps::{EndpointCap, PageDirectoryCap, PageTableCap, PdptCap, TcbCap};
    use crate::vspace::{Level, PRESENT, USER, WRITABLE, table_at, translate};

    use crate::vspace::sparse::{FRAME, KERNEL_PML4, PD, PDPT, PML4, PT, Sparse, VADDR};

    const KERNEL_ENTRY: u64 = 0x2000 | PRESENT | WRITABLE;
    /// A second address space, with its own tables.
    const PML4_B: u64 = 0x11_0000;
    /// The ASID pool.
    const POOL: u64 = 0x12_0000;
    const RW: Rights = Rights::READ.union(Rights::WRITE);
    const ALL: u64 = Rights::ALL.bits();

    /// An unmapped cap to the test's table that goes under a `parent`
    /// table: the PDPT, page directory or page table.
    fn unmapped(parent: Level) -> Cap {
        match parent {
            Level::Pml4 => PdptCap::new(PDPT, 0, 0).unwrap().cap(),
            Level::Pdpt => PageDirectoryCap::new(PD, 0, 0).unwrap().cap(),
            _ => PageTableCap::new(PT, 0, 0).unwrap().cap(),
        }
    }

    /// The start of the region a table linked under a `parent` table maps.
    fn region(vaddr: u64, parent: Level) -> u64 {
        vaddr & !((1 << parent.entry_bits()) - 1)
    }

    /// Two address spaces (PML4 and PML4_B), ready, without tables.
    fn spaces() -> Sparse {
        let mut mem = Sparse::default();
        mem.write(KERNEL_PML4, KERNEL_ENTRY);
        vspace::init_pml4(&mut mem, PML4, KERNEL_PML4);
        vspace::init_pml4(&mut mem, PML4_B, KERNEL_PML4);
        mem
    }

    /// Links a PDPT, a page directory and a page table under `pml4` so that
    /// `VADDR` can be mapped, straight through `vspace` (no number given),
    /// the tables at `first` and the two pages after it.
    fn tables(mem: &mut Sparse, pml4: u64, first: u64) {
        for (i, parent) in [Level::Pml4, Level::Pdpt, Level::PageDirectory]
            .into_iter()
            .enumerate()
        {
            let table = first + 0x1000 * i as u64;
            vspace::map_table(mem, pml4, parent, table, region(VADDR, parent)).unwrap();
        }
    }

    /// A cap to the PML4 at `pml4` with the number [`numbers`] gave it.
    fn space(pml4: u64) -> Pml4Cap {
        let asid = match pml4 {
            PML4 => 1,
            PML4_B => 2,
            _ => 0,
        };
        Pml4Cap::new(pml4, asid).unwrap()
    }

    /// An ASID pool at `POOL`, in place 0 of the directory, which gave
    /// PML4 number 1 and PML4_B number 2.
    fn numbers(mem: &mut Sparse) -> AsidTable {
        let mut asids = AsidTable::new();
        assert_eq!(asids.install(mem, POOL), Some(0));
        asids.give(mem, 1, PML4);
        asids.give(mem, 2, PML4_B);
        asids
    }

    fn frame(at: u64, rights: Rights) -> Cap {
        FrameCap::new(at, 12, rights, 0, false, 0).unwrap().cap()
    }

    fn removal(cap: Cap, last: bool) -> Removal {
        Removal {
            cap,
            last,
            last_with_badge: false,
        }
    }

    /// Runs `f`, which must fail, and checks that it changed neither
    /// memory nor the numbers; its error.
    fn refused(
        mem: &mut Sparse,
        asids: &mut AsidTable,
        f: impl FnOnce(&mut Sparse, &mut AsidTable) -> Result<Cap, KernelError>,
    ) -> KernelError {
        let (mem_before, asids_before) = (mem.clone(), asids.clone());
        let error = f(mem, asids).expect_err("refused");
        assert_eq!(*mem, mem_before, "{error:?} changed memory");
        assert_eq!(*asids, asids_before, "{error:?} gave or took a number");
        error
    }

    #[test]
    fn a_frame_maps_with_the_rights_both_allow_and_its_cap_records_where() {
        let mut mem = spaces();
        let asids = numbers(&mut mem);
        tables(&mut mem, PML4, PDPT);
        let rw = frame(FRAME, RW);
        let cap = map_frame(&mut mem, &asids, rw, space(PML4), VADDR, ALL).unwrap();
        let mapped = FrameCap::from_cap(cap).unwrap();
        assert_eq!(
            (mapped.mapped_page(), mapped.mapped_asid()),
            (VADDR >> 12, 1)
        );
        assert_eq!(caps::with_mapping(cap, 0, 0), Some(rw), "nothing else");
        assert_eq!(asids.pml4(&mem, 1), Some(PML4));
        assert_eq!(translate(&mem, PML4, VADDR + 8), Some((FRAME + 8, true)));
        // Read only, asked for...
        let vaddr = VADDR + 0x1000;
        let read = Rights::READ.bits();
        map_frame(&mut mem, &asids, rw, space(PML4), vaddr, read).unwrap();
        assert_eq!(translate(&mem, PML4, vaddr), Some((FRAME, false)));
        // ...or all the cap allows.
        let vaddr = VADDR + 0x2000;
        let ro = frame(FRAME + 0x1000, Rights::READ);
        let cap = map_frame(&mut mem, &asids, ro, space(PML4), vaddr, ALL).unwrap();
        assert_eq!(translate(&mem, PML4, vaddr), Some((FRAME + 0x1000, false)));
        assert_eq!(
            FrameCap::from_cap(cap).unwrap().mapped_asid(),
            1,
            "its number"
        );
        assert_eq!(asids.pml4(&mem, 3), None);
    }

    #[test]
    fn every_refusal_of_a_frame_map_has_its_error_and_changes_nothing() {
        let mut mem = spaces();
        let mut asids = numbers(&mut mem);
        let rw = frame(FRAME, RW);
        let v = space(PML4);
        let mut check = |mem: &mut Sparse, cap: Cap, vaddr: u64| {
            refused(mem, &mut asids, |m, a| map_frame(m, a, cap, v, vaddr, ALL))
        };
        assert_eq!(
            check(&mut mem, v.cap(), VADDR),
            KernelError::IllegalOperation
        );
        assert_eq!(
            check(&mut mem, Cap::NULL, VADDR),
            KernelError::IllegalOperation
        );
        assert_eq!(
            check(&mut mem, rw, VADDR),
            KernelError::FailedLookup { source: 0 },
            "no tables"
        );
        tables(&mut mem, PML4, PDPT);
        let mapped = caps::with_mapping(rw, 0x1234, 1).unwrap();
        assert_eq!(
            check(&mut mem, mapped, VADDR),
            KernelError::InvalidCapability { index: 0 }
        );
        assert_eq!(check(&mut mem, rw, VADDR + 8), KernelError::AlignmentError);
        assert_eq!(
            check(&mut mem, rw, 0),
            KernelError::InvalidArgument { index: 1 },
            "the kernel's part"
        );
        assert_eq!(
            check(&mut mem, rw, USER_END),
            KernelError::InvalidArgument { index: 1 },
            "past user space"
        );
        // A page the cap cannot record is refused before the alignment.
        assert_eq!(
            check(&mut mem, rw, (1 << 48) | 8),
            KernelError::InvalidArgument { index: 1 }
        );
        let odd = FrameCap::new(FRAME, 13, RW, 0, false, 0).unwrap().cap();
        assert_eq!(
            check(&mut mem, odd, VADDR),
            KernelError::InvalidArgument { index: 0 }
        );
        vspace::map_frame(&mut mem, PML4, FRAME + 0x1000, 12, VADDR, true).unwrap();
        assert_eq!(check(&mut mem, rw, VADDR), KernelError::DeleteFirst);
    }

    #[test]
    fn a_map_needs_the_number_its_pml4_cap_records_to_stand_for_it() {
        let mut mem = spaces();
        let mut asids = numbers(&mut mem);
        tables(&mut mem, PML4, PDPT);
        let rw = frame(FRAME, RW);
        let map = |mem: &mut Sparse, asids: &mut AsidTable, v: Pml4Cap| {
            refused(mem, asids, |m, a| map_frame(m, a, rw, v, VADDR, ALL))
        };
        // No number yet: refused before anything else about the space.
        let unassigned = Pml4Cap::new(PML4, 0).unwrap();
        assert_eq!(
            map(&mut mem, &mut asids, unassigned),
            KernelError::InvalidCapability { index: 0 }
        );
        // A number that stands for another PML4, or for none.
        for asid in [2, 3, 511, 512, 4095] {
            let wrong = Pml4Cap::new(PML4, asid).unwrap();
            assert_eq!(
                map(&mut mem, &mut asids, wrong),
                KernelError::FailedLookup { source: 0 },
                "number {asid}"
            );
        }
        // Its own number: mapped, and recorded under it.
        let cap = map_frame(&mut mem, &asids, rw, space(PML4), VADDR, ALL).unwrap();
        assert_eq!(caps::mapping_of(cap), Some((VADDR >> 12, 1)));
        // Once its number is released, nothing maps into it again.
        asids.release(&mut mem, 1, PML4);
        assert_eq!(asids.pml4(&mem, 1), None);
        let rw2 = frame(FRAME + 0x1000, RW);
        let error = refused(&mut mem, &mut asids, |m, a| {
            map_frame(m, a, rw2, space(PML4), VADDR + 0x1000, ALL)
        });
        assert_eq!(error, KernelError::FailedLookup { source: 0 });
    }

    #[test]
    fn a_pool_going_takes_its_address_spaces_with_it() {
        let mut mem = spaces();
        let mut asids = numbers(&mut mem);
        tables(&mut mem, PML4, PDPT);
        let rw = frame(FRAME, RW);
        let mapped = map_frame(&mut mem, &asids, rw, space(PML4), VADDR, ALL).unwrap();
        let pool = crate::caps::AsidPoolCap::new(POOL).unwrap().cap();
        assert_eq!(
            removed(&mut mem, &mut asids, &removal(pool, false)),
            Flush::Nothing,
            "a copy of the pool's cap is left"
        );
        assert_eq!(asids.pml4(&mem, 1), Some(PML4));
        assert_eq!(
            removed(&mut mem, &mut asids, &removal(pool, true)),
            Flush::Spaces
        );
        assert_eq!((asids.pml4(&mem, 1), asids.pml4(&mem, 2)), (None, None));
        assert_eq!(asids.pools(), [0; crate::asid::PLACES]);
        // What was mapped under it is no mapping of any address space: its
        // cap unmaps nothing (the PML4 can never be loaded again).
        assert_eq!(unmap_frame(&mut mem, &asids, mapped).1, None);
        // A new pool takes the place, and its numbers are new.
        assert_eq!(asids.install(&mut mem, POOL + 0x1000), Some(0));
        assert_eq!(asids.pml4(&mem, 1), None, "entries start free");
        assert_eq!(asids.next_number(&mem, POOL + 0x1000), Some(1));
        assert_eq!(asids.next_number(&mem, POOL), None, "not in the directory");
    }

    #[test]
    fn tables_link_level_by_level_and_their_caps_record_where() {
        let mut mem = spaces();
        let asids = numbers(&mut mem);
        let v = space(PML4);
        let pdpt = unmapped(Level::Pml4);
        let pd = unmapped(Level::Pdpt);
        let pt = unmapped(Level::PageDirectory);
        for (cap, parent) in [
            (pdpt, Level::Pml4),
            (pd, Level::Pdpt),
            (pt, Level::PageDirectory),
        ] {
            let at = region(VADDR, parent);
            let linked = map_table(&mut mem, &asids, cap, v, at).unwrap();
            assert_eq!(caps::mapping_of(linked), Some((at >> 12, 1)));
            assert_eq!(caps::with_mapping(linked, 0, 0), Some(cap), "nothing else");
        }
        assert_eq!(table_at(&mem, PML4, VADDR, Level::Pdpt), Some(PDPT));
        assert_eq!(table_at(&mem, PML4, VADDR, Level::PageDirectory), Some(PD));
        assert_eq!(table_at(&mem, PML4, VADDR, Level::PageTable), Some(PT));
        map_frame(&mut mem, &asids, frame(FRAME, RW), v, VADDR, ALL).unwrap();
        assert_eq!(translate(&mem, PML4, VADDR), Some((FRAME, true)));
        assert_eq!(asids.pml4(&mem, 1), Some(PML4));
    }

    #[test]
    fn every_refusal_of_a_table_map_has_its_error_and_changes_nothing() {
        let mut mem = spaces();
        let mut asids = numbers(&mut mem);
        let v = space(PML4);
        let pdpt = unmapped(Level::Pml4);
        let pd = unmapped(Level::Pdpt);
        let at = region(VADDR, Level::Pml4);
        let mut check = |mem: &mut Sparse, cap: Cap, vaddr: u64| {
            refused(mem, &mut asids, |m, a| map_table(m, a, cap, v, vaddr))
        };
        for not_a_table in [frame(FRAME, RW), v.cap(), Cap::NULL] {
            assert_eq!(
                check(&mut mem, not_a_table, at),
                KernelError::IllegalOperation
            );
        }
        let linked = caps::with_mapping(pdpt, at >> 12, 1).unwrap();
        assert_eq!(
            check(&mut mem, linked, at),
            KernelError::InvalidCapability { index: 0 }
        );
        // A page the cap cannot record is refused before the alignment.
        assert_eq!(
            check(&mut mem, pdpt, (1 << 48) | 8),
            KernelError::InvalidArgument { index: 1 }
        );
        assert_eq!(
            check(&mut mem, pdpt, 0),
            KernelError::InvalidArgument { index: 1 },
            "the kernel's part"
        );
        assert_eq!(check(&mut mem, pdpt, VADDR), KernelError::AlignmentError);
        assert_eq!(
            check(&mut mem, pd, region(VADDR, Level::Pdpt)),
            KernelError::FailedLookup { source: 0 },
            "no PDPT above"
        );
        vspace::map_table(&mut mem, PML4, Level::Pml4, PDPT + 0x8000, at).unwrap();
        assert_eq!(check(&mut mem, pdpt, at), KernelError::DeleteFirst);
    }

    #[test]
    fn unmapping_a_frame_removes_its_entry_and_its_record() {
        let mut mem = spaces();
        let asids = numbers(&mut mem);
        tables(&mut mem, PML4, PDPT);
        let rw = frame(FRAME, RW);
        let mapped = map_frame(&mut mem, &asids, rw, space(PML4), VADDR, ALL).unwrap();
        assert_eq!(
            unmap_frame(&mut mem, &asids, mapped),
            (rw, Some((PML4, VADDR)))
        );
        assert_eq!(translate(&mem, PML4, VADDR), None);
        assert_eq!(asids.pml4(&mem, 1), Some(PML4), "the number stays");
        let before = mem.clone();
        assert_eq!(unmap_frame(&mut mem, &asids, mapped), (rw, None), "gone");
        assert_eq!(unmap_frame(&mut mem, &asids, rw), (rw, None), "unmapped");
        let v = space(PML4).cap();
        assert_eq!(unmap_frame(&mut mem, &asids, v), (v, None), "not a frame");
        assert_eq!(mem, before);
        // Another frame now at that page stays.
        let other = frame(FRAME + 0x1000, RW);
        map_frame(&mut mem, &asids, other, space(PML4), VADDR, ALL).unwrap();
        assert_eq!(unmap_frame(&mut mem, &asids, mapped), (rw, None));
        assert_eq!(translate(&mem, PML4, VADDR), Some((FRAME + 0x1000, true)));
    }

    #[test]
    fn a_stale_frame_cap_unmaps_nothing() {
        let mut mem = spaces();
        let mut asids = numbers(&mut mem);
        tables(&mut mem, PML4, PDPT);
        tables(&mut mem, PML4_B, PML4_B + 0x1000);
        let rw = frame(FRAME, RW);
        let stale = map_frame(&mut mem, &asids, rw, space(PML4), VADDR, ALL).unwrap();
        // PML4's last cap goes: its number with it, its tables stay.
        let pml4_cap = space(PML4).cap();
        assert_eq!(
            removed(&mut mem, &mut asids, &removal(pml4_cap, true)),
            Flush::Nothing
        );
        assert_eq!(asids.pml4(&mem, 1), None);
        let before = mem.clone();
        assert_eq!(unmap_frame(&mut mem, &asids, stale), (rw, None));
        assert_eq!(
            removed(&mut mem, &mut asids, &removal(stale, true)),
            Flush::Nothing
        );
        assert_eq!(mem, before);
        assert_eq!(translate(&mem, PML4, VADDR), Some((FRAME, true)));
        // Its number now names PML4_B (as if a pool gave it again), which
        // maps the same frame there through another cap: that mapping is
        // not the stale cap's.
        asids.give(&mut mem, 1, PML4_B);
        let b_one = Pml4Cap::new(PML4_B, 1).unwrap();
        let b = map_frame(&mut mem, &asids, rw, b_one, VADDR, ALL).unwrap();
        assert_eq!(b, stale, "the same record");
        let stale_other = caps::with_mapping(frame(FRAME + 0x1000, RW), VADDR >> 12, 1).unwrap();
        assert_eq!(
            removed(&mut mem, &mut asids, &removal(stale_other, true)),
            Flush::Nothing,
            "another frame at that page"
        );
        assert_eq!(translate(&mem, PML4_B, VADDR), Some((FRAME, true)));
    }

    #[test]
    fn removing_any_frame_cap_unmaps_its_own_mapping() {
        let mut mem = spaces();
        let mut asids = numbers(&mut mem);
        tables(&mut mem, PML4, PDPT);
        let rw = frame(FRAME, RW);
        let second = VADDR + 0x1000;
        let one = map_frame(&mut mem, &asids, rw, space(PML4), VADDR, ALL).unwrap();
        let two = map_frame(&mut mem, &asids, rw, space(PML4), second, ALL).unwrap();
        assert_eq!(
            removed(&mut mem, &mut asids, &removal(one, false)),
            Flush::Page {
                pml4: PML4,
                vaddr: VADDR
            }
        );
        assert_eq!(translate(&mem, PML4, VADDR), None);
        assert_eq!(translate(&mem, PML4, second), Some((FRAME, true)));
        assert_eq!(
            removed(&mut mem, &mut asids, &removal(two, true)),
            Flush::Page {
                pml4: PML4,
                vaddr: second
            }
        );
        assert_eq!(translate(&mem, PML4, second), None);
        let before = mem.clone();
        assert_eq!(
            removed(&mut mem, &mut asids, &removal(rw, true)),
            Flush::Nothing,
            "unmapped"
        );
        assert_eq!(mem, before);
        assert_eq!(asids.pml4(&mem, 1), Some(PML4), "the number stays");
    }

    #[test]
    fn a_table_is_unlinked_with_its_last_cap_only() {
        let mut mem = spaces();
        let mut asids = numbers(&mut mem);
        let v = space(PML4);
        let mut linked = Vec::new();
        for (cap, parent) in [
            (unmapped(Level::Pml4), Level::Pml4),
            (unmapped(Level::Pdpt), Level::Pdpt),
            (unmapped(Level::PageDirectory), Level::PageDirectory),
        ] {
            let at = region(VADDR, parent);
            linked.push(map_table(&mut mem, &asids, cap, v, at).unwrap());
        }
        map_frame(&mut mem, &asids, frame(FRAME, RW), v, VADDR, ALL).unwrap();
        let pt = linked[2];
        let before = mem.clone();
        assert_eq!(
            removed(&mut mem, &mut asids, &removal(pt, false)),
            Flush::Nothing,
            "a copy is left"
        );
        assert_eq!(mem, before);
        assert_eq!(
            removed(&mut mem, &mut asids, &removal(pt, true)),
            Flush::All { pml4: PML4 }
        );
        assert_eq!(table_at(&mem, PML4, VADDR, Level::PageTable), None);
        assert_eq!(translate(&mem, PML4, VADDR), None);
        assert_eq!(table_at(&mem, PML4, VADDR, Level::PageDirectory), Some(PD));
        // Another table now there stays.
        let at = region(VADDR, Level::PageDirectory);
        let pt2 = PageTableCap::new(PT + 0x8000, 0, 0).unwrap().cap();
        map_table(&mut mem, &asids, pt2, v, at).unwrap();
        let before = mem.clone();
        assert_eq!(
            removed(&mut mem, &mut asids, &removal(pt, true)),
            Flush::Nothing
        );
        let unlinked = PageTableCap::new(PT + 0x9000, 0, 0).unwrap().cap();
        assert_eq!(
            removed(&mut mem, &mut asids, &removal(unlinked, true)),
            Flush::Nothing
        );
        assert_eq!(mem, before);
        // A PDPT goes with what hangs under it.
        assert_eq!(
            removed(&mut mem, &mut asids, &removal(linked[0], true)),
            Flush::All { pml4: PML4 }
        );
        assert_eq!(table_at(&mem, PML4, VADDR, Level::Pdpt), None);
        assert_eq!(asids.pml4(&mem, 1), Some(PML4), "the number stays");
    }

    #[test]
    fn a_pml4_number_goes_with_its_last_cap_only() {
        let mut mem = spaces();
        let mut asids = numbers(&mut mem);
        let pdpt = unmapped(Level::Pml4);
        let at = region(VADDR, Level::Pml4);
        map_table(&mut mem, &asids, pdpt, space(PML4), at).unwrap();
        let cap = space(PML4).cap();
        let before = mem.clone();
        assert_eq!(
            removed(&mut mem, &mut asids, &removal(cap, false)),
            Flush::Nothing
        );
        assert_eq!(asids.pml4(&mem, 1), Some(PML4), "a copy is left");
        assert_eq!(
            removed(&mut mem, &mut asids, &removal(cap, true)),
            Flush::Nothing
        );
        assert_eq!(asids.pml4(&mem, 1), None);
        let mut expected = before;
        expected.write(POOL + 8, 0);
        assert_eq!(mem, expected, "its tables are left as they are");
    }

    #[test]
    fn caps_without_mappings_or_address_spaces_change_nothing() {
        let mut mem = spaces();
        let mut asids = numbers(&mut mem);
        tables(&mut mem, PML4, PDPT);
        map_frame(&mut mem, &asids, frame(FRAME, RW), space(PML4), VADDR, ALL).unwrap();
        let (mem_before, asids_before) = (mem.clone(), asids.clone());
        for cap in [
            Cap::NULL,
            EndpointCap::new(PML4, Rights::ALL, 0).unwrap().cap(),
            TcbCap::new(PML4).unwrap().cap(),
        ] {
            for last in [false, true] {
                assert_eq!(
                    removed(&mut mem, &mut asids, &removal(cap, last)),
                    Flush::Nothing
                );
            }
        }
        assert_eq!((mem, asids), (mem_before, asids_before));
    }

    #[test]
    fn a_new_table_is_zeroed_and_a_new_pml4_maps_the_kernel() {
        let mut mem = Sparse::default();
        mem.write(KERNEL_PML4, KERNEL_ENTRY | USER);
        let garbage = 0xdead_b000 | PRESENT;
        for table in [PML4, PDPT, PD, PT] {
            for entry in 0..=ENTRIES {
                mem.write(table + 8 * entry, garbage);
            }
        }
        for (object_type, table) in [
            (ObjectType::Pdpt, PDPT),
            (ObjectType::PageDirectory, PD),
            (ObjectType::PageTable, PT),
        ] {
            assert!(prepare_table(&mut mem, object_type, table, KERNEL_PML4));
            assert!(
                (0..ENTRIES).all(|e| mem.read(table + 8 * e) == 0),
                "{object_type:?}"
            );
        }
        assert!(prepare_table(&mut mem, ObjectType::Pml4, PML4, KERNEL_PML4));
        assert_eq!(
            mem.read(PML4),
            KERNEL_ENTRY,
            "the kernel's, supervisor only"
        );
        assert!((1..ENTRIES).all(|e| mem.read(PML4 + 8 * e) == 0));
        assert_eq!(
            mem.read(PT + 8 * ENTRIES),
            garbage,
            "the next object is not touched"
        );
        let before = mem.clone();
        for object_type in ObjectType::ALL.into_iter().filter(|t| {
            !matches!(
                t,
                ObjectType::Pml4
                    | ObjectType::Pdpt
                    | ObjectType::PageDirectory
                    | ObjectType::PageTable
            )
        }) {
            assert!(!prepare_table(&mut mem, object_type, PT, KERNEL_PML4));
        }
        assert_eq!(mem, before);
    }
}
