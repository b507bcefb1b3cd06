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
}

/// Gives the cap `cap` the mapping at `vaddr` in the address space whose
/// PML4 is at `pml4`, and makes it with `map`: the number (the one the
/// PML4 has, or the lowest free: `IllegalOperation` when none is), then
/// the record (`InvalidArgument { index: 1 }` when the page does not fit
/// the cap's field), then the mapping. The record first: a mapping
/// nothing records is never made. The PML4 keeps a new number only if
/// `map` succeeds.
fn map_recorded(
    asids: &mut AsidTable,
    cap: Cap,
    pml4: u64,
    vaddr: u64,
    map: impl FnOnce() -> Result<(), KernelError>,
) -> Result<Cap, KernelError> {
    let asid = asids
        .number_for(pml4)
        .ok_or(KernelError::IllegalOperation)?;
    let updated = caps::with_mapping(cap, vaddr >> 12, asid)
        .ok_or(KernelError::InvalidArgument { index: 1 })?;
    map()?;
    asids.give(asid, pml4);
    Ok(updated)
}

/// A frame cap's `map`: maps its frame at `vaddr` in the address space of
/// `vspace`, with the `rights` the cap also has (writable with `WRITE`).
/// Returns the cap recording the mapping (`#[mapped_at]` page and
/// `#[mapped_in]` number), for the caller to store in its slot.
///
/// Checks, in order: `frame_cap` is a frame cap (`IllegalOperation`) not
/// mapped already (`InvalidCapability { index: 0 }`: a frame cap maps
/// once); the address space has a number or one is free
/// (`IllegalOperation`); the page fits the cap (`InvalidArgument { index:
/// 1 }`); then `vspace::map_frame`'s (size, alignment, user range, a
/// missing table, the entry used). Nothing changes on an error; the
/// address space gets its number only when the mapping is made.
pub fn map_frame(
    mem: &mut impl PhysMem,
    asids: &mut AsidTable,
    frame_cap: Cap,
    vspace: Pml4Cap,
    vaddr: u64,
    rights: u64,
) -> Result<Cap, KernelError> {
    let frame = FrameCap::from_cap(frame_cap).ok_or(KernelError::IllegalOperation)?;
    if frame.is_mapped() {
        return Err(KernelError::InvalidCapability { index: 0 });
    }
    let pml4 = vspace.table();
    let rights = Rights::from_bits_truncate(rights).mask(frame.rights());
    map_recorded(asids, frame_cap, pml4, vaddr, || {
        vspace::map_frame(
            mem,
            pml4,
            frame.frame(),
            frame.bits() as u32,
            vaddr,
            rights.contains(Rights::WRITE),
        )
    })
}

/// A PDPT, page-directory or page-table cap's `map`: links its table at
/// `vaddr` into the table above it (of the level the cap type says) in
/// the address space of `vspace`. Returns the cap recording the mapping,
/// for the caller to store in its slot (its copies, made after, share it).
///
/// Checks, in order: `table_cap` is a table cap (`IllegalOperation`) not
/// mapped already (`InvalidCapability { index: 0 }`: a table is linked in
/// one place only); the number and the record as for [`map_frame`]; then
/// `vspace::map_table`'s. Nothing changes on an error; the address space
/// gets its number only when the table is linked.
pub fn map_table(
    mem: &mut impl PhysMem,
    asids: &mut AsidTable,
    table_cap: Cap,
    vspace: Pml4Cap,
    vaddr: u64,
) -> Result<Cap, KernelError> {
    let mapping = vspace::table_mapping(table_cap).ok_or(KernelError::IllegalOperation)?;
    if mapping.page != 0 {
        return Err(KernelError::InvalidCapability { index: 0 });
    }
    let pml4 = vspace.table();
    map_recorded(asids, table_cap, pml4, vaddr, || {
        vspace::map_table(mem, pml4, mapping.parent, mapping.table, vaddr)
    })
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

/// Removes the mapping `frame` records, if it still stands: from the
/// address space its number names, if that still exists. The PML4 and
/// address of the entry removed.
fn remove_frame_mapping(
    mem: &mut impl PhysMem,
    asids: &AsidTable,
    frame: FrameCap,
) -> Option<(u64, u64)> {
    let pml4 = asids.pml4(frame.mapped_asid())?;
    if frame.mapped_page() == 0 {
        return None;
    }
    let vaddr = frame.mapped_page() << 12;
    vspace::unmap_frame(mem, pml4, frame.frame(), frame.bits() as u32, vaddr)
        .then_some((pml4, vaddr))
}

/// Unlinks the table a table cap records as linked, if it still is; the
/// PML4 of the address space it left.
fn unlink_table(mem: &mut impl PhysMem, asids: &AsidTable, mapping: TableMapping) -> Option<u64> {
    let pml4 = asids.pml4(mapping.asid)?;
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
    for finaliser in object.finalisers() {
        match finaliser {
            Finaliser::Unmap => {
                if let Some(mapping) = vspace::table_mapping(cap)
                    && let Some(pml4) = unlink_table(mem, asids, mapping)
                {
                    flush = Flush::All { pml4 };
                }
            }
            Finaliser::ReleaseAsid => asids.release(base),
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
    use crate::asid::ASIDS;
    use crate::caps::{EndpointCap, PageDirectoryCap, PageTableCap, PdptCap, TcbCap};
    use crate::vspace::{Level, PRESENT, USER, WRITABLE, table_at, translate};

    use crate::vspace::sparse::{FRAME, KERNEL_PML4, PD, PDPT, PML4, PT, Sparse, VADDR};

    const KERNEL_ENTRY: u64 = 0x2000 | PRESENT | WRITABLE;
    /// A second address space, with its own tables.
    const PML4_B: u64 = 0x11_0000;
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

    fn space(pml4: u64) -> Pml4Cap {
        Pml4Cap::new(pml4).unwrap()
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
        let mut asids = AsidTable::new();
        tables(&mut mem, PML4, PDPT);
        let rw = frame(FRAME, RW);
        let cap = map_frame(&mut mem, &mut asids, rw, space(PML4), VADDR, ALL).unwrap();
        let mapped = FrameCap::from_cap(cap).unwrap();
        assert_eq!(
            (mapped.mapped_page(), mapped.mapped_asid()),
            (VADDR >> 12, 1)
        );
        assert_eq!(caps::with_mapping(cap, 0, 0), Some(rw), "nothing else");
        assert_eq!(asids.pml4(1), Some(PML4));
        assert_eq!(translate(&mem, PML4, VADDR + 8), Some((FRAME + 8, true)));
        // Read only, asked for...
        let vaddr = VADDR + 0x1000;
        let read = Rights::READ.bits();
        map_frame(&mut mem, &mut asids, rw, space(PML4), vaddr, read).unwrap();
        assert_eq!(translate(&mem, PML4, vaddr), Some((FRAME, false)));
        // ...or all the cap allows.
        let vaddr = VADDR + 0x2000;
        let ro = frame(FRAME + 0x1000, Rights::READ);
        let cap = map_frame(&mut mem, &mut asids, ro, space(PML4), vaddr, ALL).unwrap();
        assert_eq!(translate(&mem, PML4, vaddr), Some((FRAME + 0x1000, false)));
        assert_eq!(
            FrameCap::from_cap(cap).unwrap().mapped_asid(),
            1,
            "its number"
        );
        assert_eq!(asids.pml4(2), None);
    }

    #[test]
    fn every_refusal_of_a_frame_map_has_its_error_and_changes_nothing() {
        let mut mem = spaces();
        let mut asids = AsidTable::new();
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
        assert_eq!(asids.number_for(PML4), Some(1), "never given");
    }

    #[test]
    fn a_pml4_gets_its_number_only_with_its_first_mapping() {
        let mut mem = spaces();
        let mut asids = AsidTable::new();
        let pdpt = unmapped(Level::Pml4);
        let pdpt_b = PdptCap::new(PML4_B + 0x1000, 0, 0).unwrap().cap();
        let at = region(VADDR, Level::Pml4);
        // Failed maps in PML4: no table, a misaligned table, a taken entry.
        let error = refused(&mut mem, &mut asids, |m, a| {
            map_frame(m, a, frame(FRAME, RW), space(PML4), VADDR, ALL)
        });
        assert_eq!(error, KernelError::FailedLookup { source: 0 });
        let error = refused(&mut mem, &mut asids, |m, a| {
            map_table(m, a, pdpt, space(PML4), at + 0x1000)
        });
        assert_eq!(error, KernelError::AlignmentError);
        vspace::map_table(&mut mem, PML4, Level::Pml4, PDPT + 0x8000, at).unwrap();
        let error = refused(&mut mem, &mut asids, |m, a| {
            map_table(m, a, pdpt, space(PML4), at)
        });
        assert_eq!(error, KernelError::DeleteFirst);
        // The first mapping made takes the lowest number, in PML4_B.
        let linked = map_table(&mut mem, &mut asids, pdpt_b, space(PML4_B), at).unwrap();
        assert_eq!(caps::mapping_of(linked), Some((at >> 12, 1)));
        assert_eq!((asids.pml4(1), asids.pml4(2)), (Some(PML4_B), None));
        let cap = map_frame(
            &mut mem,
            &mut asids,
            frame(FRAME, RW),
            space(PML4),
            VADDR,
            ALL,
        );
        assert_eq!(cap, Err(KernelError::FailedLookup { source: 0 }));
        assert_eq!(asids.pml4(2), None);
        // PML4's first mapping gives it 2, which a later failure keeps.
        let pd = unmapped(Level::Pdpt);
        let at = region(VADDR, Level::Pdpt);
        let linked = map_table(&mut mem, &mut asids, pd, space(PML4), at).unwrap();
        assert_eq!(caps::mapping_of(linked), Some((at >> 12, 2)));
        let error = map_table(&mut mem, &mut asids, pd, space(PML4), at);
        assert_eq!(error, Err(KernelError::DeleteFirst));
        assert_eq!(asids.pml4(2), Some(PML4));
    }

    #[test]
    fn out_of_numbers_is_refused_after_the_cap_is_checked_and_before_the_rest() {
        let mut mem = spaces();
        let mut asids = AsidTable::new();
        tables(&mut mem, PML4, PDPT);
        for i in 1..ASIDS as u64 {
            assert_eq!(asids.number_of(0x100_0000 + (i << 12)), Some(i));
        }
        let rw = frame(FRAME, RW);
        let pt = PageTableCap::new(PT + 0x1000, 0, 0).unwrap().cap();
        let v = space(PML4);
        let at = region(VADDR + (1 << 21), Level::PageDirectory);
        let unaligned = (1 << 48) | 8;
        let mapped = caps::with_mapping(rw, 0x1234, 1).unwrap();
        let linked = caps::with_mapping(pt, 0x1234, 1).unwrap();
        for (cap, vaddr, error) in [
            (rw, VADDR, KernelError::IllegalOperation),
            (rw, unaligned, KernelError::IllegalOperation),
            (mapped, VADDR, KernelError::InvalidCapability { index: 0 }),
            (pt, at, KernelError::IllegalOperation),
            (pt, unaligned, KernelError::IllegalOperation),
            (linked, at, KernelError::InvalidCapability { index: 0 }),
        ] {
            let refusal = refused(&mut mem, &mut asids, |m, a| {
                if cap == pt || cap == linked {
                    map_table(m, a, cap, v, vaddr)
                } else {
                    map_frame(m, a, cap, v, vaddr, ALL)
                }
            });
            assert_eq!(refusal, error, "{cap:?} at {vaddr:#x}");
        }
        // A number released is the one the next address space gets.
        asids.release(0x100_0000 + (5 << 12));
        let cap = map_frame(&mut mem, &mut asids, rw, v, VADDR, ALL).unwrap();
        assert_eq!(FrameCap::from_cap(cap).unwrap().mapped_asid(), 5);
        assert_eq!(asids.pml4(5), Some(PML4));
    }

    #[test]
    fn tables_link_level_by_level_and_their_caps_record_where() {
        let mut mem = spaces();
        let mut asids = AsidTable::new();
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
            let linked = map_table(&mut mem, &mut asids, cap, v, at).unwrap();
            assert_eq!(caps::mapping_of(linked), Some((at >> 12, 1)));
            assert_eq!(caps::with_mapping(linked, 0, 0), Some(cap), "nothing else");
        }
        assert_eq!(table_at(&mem, PML4, VADDR, Level::Pdpt), Some(PDPT));
        assert_eq!(table_at(&mem, PML4, VADDR, Level::PageDirectory), Some(PD));
        assert_eq!(table_at(&mem, PML4, VADDR, Level::PageTable), Some(PT));
        map_frame(&mut mem, &mut asids, frame(FRAME, RW), v, VADDR, ALL).unwrap();
        assert_eq!(translate(&mem, PML4, VADDR), Some((FRAME, true)));
        assert_eq!(asids.pml4(1), Some(PML4));
    }

    #[test]
    fn every_refusal_of_a_table_map_has_its_error_and_changes_nothing() {
        let mut mem = spaces();
        let mut asids = AsidTable::new();
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
        assert_eq!(asids.pml4(1), None, "never given");
    }

    #[test]
    fn unmapping_a_frame_removes_its_entry_and_its_record() {
        let mut mem = spaces();
        let mut asids = AsidTable::new();
        tables(&mut mem, PML4, PDPT);
        let rw = frame(FRAME, RW);
        let mapped = map_frame(&mut mem, &mut asids, rw, space(PML4), VADDR, ALL).unwrap();
        assert_eq!(
            unmap_frame(&mut mem, &asids, mapped),
            (rw, Some((PML4, VADDR)))
        );
        assert_eq!(translate(&mem, PML4, VADDR), None);
        assert_eq!(asids.pml4(1), Some(PML4), "the number stays");
        let before = mem.clone();
        assert_eq!(unmap_frame(&mut mem, &asids, mapped), (rw, None), "gone");
        assert_eq!(unmap_frame(&mut mem, &asids, rw), (rw, None), "unmapped");
        let v = space(PML4).cap();
        assert_eq!(unmap_frame(&mut mem, &asids, v), (v, None), "not a frame");
        assert_eq!(mem, before);
        // Another frame now at that page stays.
        let other = frame(FRAME + 0x1000, RW);
        map_frame(&mut mem, &mut asids, other, space(PML4), VADDR, ALL).unwrap();
        assert_eq!(unmap_frame(&mut mem, &asids, mapped), (rw, None));
        assert_eq!(translate(&mem, PML4, VADDR), Some((FRAME + 0x1000, true)));
    }

    #[test]
    fn a_stale_frame_cap_unmaps_nothing() {
        let mut mem = spaces();
        let mut asids = AsidTable::new();
        tables(&mut mem, PML4, PDPT);
        tables(&mut mem, PML4_B, PML4_B + 0x1000);
        let rw = frame(FRAME, RW);
        let stale = map_frame(&mut mem, &mut asids, rw, space(PML4), VADDR, ALL).unwrap();
        // PML4's last cap goes: its number with it, its tables stay.
        let pml4_cap = space(PML4).cap();
        assert_eq!(
            removed(&mut mem, &mut asids, &removal(pml4_cap, true)),
            Flush::Nothing
        );
        assert_eq!(asids.pml4(1), None);
        let before = mem.clone();
        assert_eq!(unmap_frame(&mut mem, &asids, stale), (rw, None));
        assert_eq!(
            removed(&mut mem, &mut asids, &removal(stale, true)),
            Flush::Nothing
        );
        assert_eq!(mem, before);
        assert_eq!(translate(&mem, PML4, VADDR), Some((FRAME, true)));
        // Its number now names PML4_B, which maps the same frame there
        // through another cap: that mapping is not the stale cap's.
        let b = map_frame(&mut mem, &mut asids, rw, space(PML4_B), VADDR, ALL).unwrap();
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
        let mut asids = AsidTable::new();
        tables(&mut mem, PML4, PDPT);
        let rw = frame(FRAME, RW);
        let second = VADDR + 0x1000;
        let one = map_frame(&mut mem, &mut asids, rw, space(PML4), VADDR, ALL).unwrap();
        let two = map_frame(&mut mem, &mut asids, rw, space(PML4), second, ALL).unwrap();
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
        assert_eq!(asids.pml4(1), Some(PML4), "the number stays");
    }

    #[test]
    fn a_table_is_unlinked_with_its_last_cap_only() {
        let mut mem = spaces();
        let mut asids = AsidTable::new();
        let v = space(PML4);
        let mut linked = Vec::new();
        for (cap, parent) in [
            (unmapped(Level::Pml4), Level::Pml4),
            (unmapped(Level::Pdpt), Level::Pdpt),
            (unmapped(Level::PageDirectory), Level::PageDirectory),
        ] {
            let at = region(VADDR, parent);
            linked.push(map_table(&mut mem, &mut asids, cap, v, at).unwrap());
        }
        map_frame(&mut mem, &mut asids, frame(FRAME, RW), v, VADDR, ALL).unwrap();
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
        map_table(&mut mem, &mut asids, pt2, v, at).unwrap();
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
        assert_eq!(asids.pml4(1), Some(PML4), "the number stays");
    }

    #[test]
    fn a_pml4_number_goes_with_its_last_cap_only() {
        let mut mem = spaces();
        let mut asids = AsidTable::new();
        let pdpt = unmapped(Level::Pml4);
        let at = region(VADDR, Level::Pml4);
        map_table(&mut mem, &mut asids, pdpt, space(PML4), at).unwrap();
        let cap = space(PML4).cap();
        let before = mem.clone();
        assert_eq!(
            removed(&mut mem, &mut asids, &removal(cap, false)),
            Flush::Nothing
        );
        assert_eq!(asids.pml4(1), Some(PML4), "a copy is left");
        assert_eq!(
            removed(&mut mem, &mut asids, &removal(cap, true)),
            Flush::Nothing
        );
        assert_eq!(asids.pml4(1), None);
        assert_eq!(mem, before, "its tables are left as they are");
    }

    #[test]
    fn caps_without_mappings_or_address_spaces_change_nothing() {
        let mut mem = spaces();
        let mut asids = AsidTable::new();
        tables(&mut mem, PML4, PDPT);
        map_frame(
            &mut mem,
            &mut asids,
            frame(FRAME, RW),
            space(PML4),
            VADDR,
            ALL,
        )
        .unwrap();
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
