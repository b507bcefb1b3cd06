//! Address-space numbers, seL4's ASIDs, from pools their users pay for.
//!
//! Frame and table caps record the address space they are mapped in by
//! number (`#[mapped_in]`), and a PML4's cap records the number its address
//! space was given (`#[asid]`). Numbers come from ASID pools (the spec's
//! `AsidPool`, `asid_pool = 512;`): 4 KiB objects, each of 512 one-word
//! entries saying which PML4 a number stands for (0: free), made from an
//! Untyped of exactly that size by the one ASID-control cap
//! ([`make_pool`]). The kernel keeps only the directory of pools: 8 words,
//! allocated at boot, which only the holder of the control cap can fill.
//! Pool `p` holds the numbers `512 p .. 512 (p + 1)`; number 0 is never
//! given. So a task that wants address spaces pays for their numbers, and
//! one that makes address spaces until it can no more runs out of its own
//! memory, not of a table everyone shares.
//!
//! A number stands for its PML4 until the PML4's last cap goes (the spec's
//! `release_asid`) or the pool's last cap goes (seL4's deleteASIDPool):
//! then every mapping recorded under it is gone with it, and the PML4 can
//! never be given a number again (its caps record the old one).
//!
//! Touches pool memory through [`PhysMem`] and slots through
//! [`SlotMemory`]; the kernel keeps one [`AsidTable`] in its state.

use crate::caps::{
    ASID_POOL, AsidPoolCap, AsidPoolShape, Cap, KernelError, ObjectType, Pml4Cap, UntypedMemory,
};
use crate::cspace::{SlotAddr, SlotMemory};
use crate::vspace::PhysMem;

const SHAPE: AsidPoolShape = match ASID_POOL {
    Some(shape) => shape,
    None => panic!("kernel.cap declares an ASID pool"),
};

/// How many numbers one pool holds.
pub const NUMBERS: u64 = SHAPE.numbers;
/// How many pools the directory has room for.
pub const PLACES: usize = SHAPE.places as usize;
/// How many numbers there are in all (number 0 is never given out: a
/// cap's 0 means "none").
pub const ASIDS: usize = PLACES * NUMBERS as usize;

/// Bytes of one pool, and of the Untyped it is made from.
pub const POOL_BYTES: u64 = NUMBERS * 8;

const _: () = assert!(matches!(SHAPE.object, ObjectType::AsidPool));

/// The directory of pools: which pool each place holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsidTable {
    /// The pool's address by place; 0 for a free place.
    pools: [u64; PLACES],
}

impl Default for AsidTable {
    fn default() -> Self {
        Self::new()
    }
}

impl AsidTable {
    /// A directory with every place free.
    pub const fn new() -> AsidTable {
        AsidTable { pools: [0; PLACES] }
    }

    /// The pool at each place (0: free), for the audit.
    pub fn pools(&self) -> &[u64] {
        &self.pools
    }

    /// The PML4 number `asid` stands for, if it is given out.
    pub fn pml4(&self, mem: &impl PhysMem, asid: u64) -> Option<u64> {
        if asid == 0 {
            return None;
        }
        let pool = *self.pools.get(usize::try_from(asid / NUMBERS).ok()?)?;
        if pool == 0 {
            return None;
        }
        let pml4 = mem.read(pool + 8 * (asid % NUMBERS));
        (pml4 != 0).then_some(pml4)
    }

    /// The PML4 `vspace` names, if the number its cap records still stands
    /// for it: the address space a thread may run in and a map may change.
    pub fn address_space(&self, mem: &impl PhysMem, vspace: Pml4Cap) -> Option<u64> {
        let pml4 = vspace.table();
        (self.pml4(mem, u64::from(vspace.asid())) == Some(pml4)).then_some(pml4)
    }

    /// Every number given out, and the PML4 it stands for, lowest first.
    pub fn numbers<'a>(&'a self, mem: &'a impl PhysMem) -> impl Iterator<Item = (u64, u64)> + 'a {
        (1..ASIDS as u64).filter_map(move |asid| Some((asid, self.pml4(mem, asid)?)))
    }

    /// The place of the pool at `pool`, if it is in the directory.
    fn place_of(&self, pool: u64) -> Option<usize> {
        (pool != 0)
            .then(|| self.pools.iter().position(|&p| p == pool))
            .flatten()
    }

    /// seL4's ASIDPool_Assign: gives the PML4 of `vspace` (the cap in slot
    /// `at`) the lowest free number of the pool `pool` names, and records
    /// it in that cap. Returns the number.
    ///
    /// Checks, in order (the interpreter's `assign`): `pool` is a pool's
    /// cap in the directory (`IllegalOperation`); `vspace` is a PML4's cap
    /// without a number (`InvalidCapability { index: 0 }`); a number of the
    /// pool is free (`DeleteFirst`).
    pub fn assign(
        &self,
        memory: &mut SlotMemory<'_>,
        mem: &mut impl PhysMem,
        pool: Cap,
        at: SlotAddr,
    ) -> Result<u64, KernelError> {
        let pool = AsidPoolCap::from_cap(pool).ok_or(KernelError::IllegalOperation)?;
        let place = self
            .place_of(pool.pool())
            .ok_or(KernelError::IllegalOperation)?;
        let vspace = memory
            .cap(at)
            .and_then(Pml4Cap::from_cap)
            .filter(|v| v.asid() == 0)
            .ok_or(KernelError::InvalidCapability { index: 0 })?;
        let asid = Self::free_number(mem, place, pool.pool())?;
        let mut numbered = vspace;
        u16::try_from(asid)
            .ok()
            .and_then(|asid| numbered.set_asid(asid).ok())
            .ok_or(KernelError::IllegalOperation)?;
        self.give(mem, asid, vspace.table());
        crate::ops::update_cap(memory, at, numbered.cap());
        Ok(asid)
    }

    /// The lowest free number of the pool at `pool`, in place `place`
    /// (`DeleteFirst` when none is).
    fn free_number(mem: &impl PhysMem, place: usize, pool: u64) -> Result<u64, KernelError> {
        let first = place as u64 * NUMBERS;
        (first.max(1)..first + NUMBERS)
            .find(|a| mem.read(pool + 8 * (a % NUMBERS)) == 0)
            .ok_or(KernelError::DeleteFirst)
    }

    /// Makes the free number `asid` of a pool in the directory stand for
    /// the PML4 at `pml4` (the second half of [`assign`](Self::assign),
    /// whose first half records it in the cap). Nothing for a number of no
    /// pool.
    pub fn give(&self, mem: &mut impl PhysMem, asid: u64, pml4: u64) {
        if let Some(&pool) = self.pools.get((asid / NUMBERS) as usize)
            && pool != 0
            && asid != 0
        {
            mem.write(pool + 8 * (asid % NUMBERS), pml4);
        }
    }

    /// Puts the pool at `pool` in the first free place of the directory,
    /// its entries zeroed (the second half of [`make_pool`], whose first
    /// half checks and places its cap). Its place; `None` when the
    /// directory is full.
    pub fn install(&mut self, mem: &mut impl PhysMem, pool: u64) -> Option<usize> {
        let place = self.pools.iter().position(|&p| p == 0)?;
        for entry in 0..NUMBERS {
            mem.write(pool + 8 * entry, 0);
        }
        self.pools[place] = pool;
        Some(place)
    }

    /// The lowest free number of the pool at `pool`, if it is in the
    /// directory and has one: what [`assign`](Self::assign) would give.
    pub fn next_number(&self, mem: &impl PhysMem, pool: u64) -> Option<u64> {
        Self::free_number(mem, self.place_of(pool)?, pool).ok()
    }

    /// The last cap to the PML4 at `pml4`, whose number is `asid`, went:
    /// the number is free again (if it still stands for that PML4).
    pub fn release(&self, mem: &mut impl PhysMem, asid: u64, pml4: u64) {
        if self.pml4(mem, asid) == Some(pml4) {
            let pool = self.pools[(asid / NUMBERS) as usize];
            mem.write(pool + 8 * (asid % NUMBERS), 0);
        }
    }

    /// The last cap to the pool at `pool` went: its place is free, and
    /// every number in it with it (seL4's deleteASIDPool). Whether it was
    /// in the directory.
    pub fn pool_gone(&mut self, pool: u64) -> bool {
        match self.place_of(pool) {
            Some(place) => {
                self.pools[place] = 0;
                true
            }
            None => false,
        }
    }

    /// Forgets every pool in `[start, end)` (its memory is about to be
    /// handed out again: a pool's last cap went before, so this finds
    /// none unless finalisation missed one).
    pub fn release_pools_within(&mut self, start: u64, end: u64) {
        for pool in self.pools.iter_mut() {
            if start <= *pool && *pool < end {
                *pool = 0;
            }
        }
    }
}

/// seL4's ASIDControl_MakePool: makes the Untyped whose cap is in slot
/// `untyped` into an ASID pool, whose cap goes into the slot `dest` names
/// as the Untyped's child; the pool takes the first free place of the
/// directory, its entries zeroed. Returns the place.
///
/// Checks, in order (the interpreter's `make_pool`): a place is free
/// (`DeleteFirst`); `untyped` holds an Untyped cap of RAM of exactly
/// [`POOL_BYTES`] (`InvalidCapability { index: 0 }`) with no children
/// (`RevokeFirst`); then `dest`'s own error (a failed lookup) and that
/// the slot is empty (`DeleteFirst`). Nothing changes on an error.
pub fn make_pool(
    asids: &mut AsidTable,
    memory: &mut SlotMemory<'_>,
    mem: &mut impl PhysMem,
    untyped: Option<SlotAddr>,
    dest: Result<SlotAddr, KernelError>,
) -> Result<usize, KernelError> {
    if asids.pools.iter().all(|&p| p != 0) {
        return Err(KernelError::DeleteFirst);
    }
    let (slot, region) = untyped
        .and_then(|at| Some((at, UntypedMemory::of(memory.cap(at)?)?)))
        .filter(|(_, u)| !u.device && u.size == POOL_BYTES)
        .ok_or(KernelError::InvalidCapability { index: 0 })?;
    if crate::mdb::has_children(memory, slot) {
        return Err(KernelError::RevokeFirst);
    }
    let dest = dest?;
    crate::ops::ensure_empty(memory, dest)?;
    let pool = AsidPoolCap::new(region.base)
        .map_err(|_| KernelError::IllegalOperation)?
        .cap();
    let used = region
        .with_watermark(region.size)
        .ok_or(KernelError::IllegalOperation)?;
    if !crate::mdb::insert_after(memory, slot, dest, pool, true, true) {
        return Err(KernelError::IllegalOperation);
    }
    crate::ops::update_cap(memory, slot, used);
    asids
        .install(mem, region.base)
        .ok_or(KernelError::IllegalOperation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::{KernelError, ObjectType, Pml4Cap, UntypedCap};
    use crate::cspace::Slot;
    use crate::model_check::{SLOTS, World, slot};
    use crate::vspace::sparse::Sparse;

    /// A world whose slot 10 holds a 4 KiB Untyped and slot 11 a PML4 cap,
    /// both retyped from the world's Untyped in slot 0.
    fn world(slots: &mut Vec<Slot>) -> World<'_> {
        *slots = vec![Slot::EMPTY; SLOTS];
        let mut w = World::new(slots);
        w.retype(0, ObjectType::Untyped, 12, 10, 1).unwrap();
        w.retype(0, ObjectType::Pml4, 0, 11, 1).unwrap();
        w
    }

    fn pool_in(w: &World<'_>, at: u64) -> u64 {
        AsidPoolCap::from_cap(w.cap(at)).unwrap().pool()
    }

    #[test]
    fn a_pool_is_made_from_exactly_its_size_and_numbers_address_spaces() {
        let mut slots = Vec::new();
        let mut w = world(&mut slots);
        let (mut asids, mut mem) = (AsidTable::new(), Sparse::default());
        let mut make = |w: &mut World<'_>, asids: &mut AsidTable, from: u64, to: u64| {
            make_pool(
                asids,
                &mut w.memory,
                &mut mem,
                Some(slot(from)),
                Ok(slot(to)),
            )
        };
        // Not an Untyped, or not 4 KiB: InvalidCapability; a taken slot.
        assert_eq!(
            make(&mut w, &mut asids, 11, 12),
            Err(KernelError::InvalidCapability { index: 0 })
        );
        assert_eq!(
            make(&mut w, &mut asids, 0, 12),
            Err(KernelError::InvalidCapability { index: 0 })
        );
        assert_eq!(
            make(&mut w, &mut asids, 10, 11),
            Err(KernelError::DeleteFirst)
        );
        assert_eq!(asids, AsidTable::new(), "nothing changed");
        assert_eq!(make(&mut w, &mut asids, 10, 12), Ok(0));
        let pool = pool_in(&w, 12);
        let untyped = UntypedCap::from_cap(w.cap(10)).unwrap();
        assert_eq!(pool, untyped.base(), "the Untyped's memory");
        assert_eq!(untyped.free_index() * 16, POOL_BYTES, "all of it used");
        assert!(crate::mdb::has_children(&w.memory, slot(10)), "its child");
        // Its Untyped has a child now: RevokeFirst.
        assert_eq!(
            make(&mut w, &mut asids, 10, 13),
            Err(KernelError::RevokeFirst)
        );
        // Assign: number 1 first (0 is never given), recorded in the cap.
        let (pool_cap, untyped_cap) = (w.cap(12), w.cap(10));
        assert_eq!(
            asids.assign(&mut w.memory, &mut mem, pool_cap, slot(11)),
            Ok(1)
        );
        let vspace = Pml4Cap::from_cap(w.cap(11)).unwrap();
        assert_eq!(vspace.asid(), 1);
        assert_eq!(asids.pml4(&mem, 1), Some(vspace.table()));
        assert_eq!(asids.address_space(&mem, vspace), Some(vspace.table()));
        // Twice, or not a PML4, or not a pool: refused.
        assert_eq!(
            asids.assign(&mut w.memory, &mut mem, pool_cap, slot(11)),
            Err(KernelError::InvalidCapability { index: 0 })
        );
        assert_eq!(
            asids.assign(&mut w.memory, &mut mem, pool_cap, slot(10)),
            Err(KernelError::InvalidCapability { index: 0 })
        );
        assert_eq!(
            asids.assign(&mut w.memory, &mut mem, untyped_cap, slot(11)),
            Err(KernelError::IllegalOperation)
        );
        assert_eq!(
            asids.numbers(&mem).collect::<Vec<_>>(),
            [(1, vspace.table())]
        );
    }

    #[test]
    fn a_pool_runs_out_of_numbers_and_the_directory_of_places() {
        let mut mem = Sparse::default();
        let mut asids = AsidTable::new();
        for place in 0..PLACES {
            let pool = 0x100_0000 + place as u64 * 0x1000;
            assert_eq!(asids.install(&mut mem, pool), Some(place));
        }
        assert_eq!(asids.install(&mut mem, 0x200_0000), None, "8 places");
        // Pool 0 holds 511 numbers (0 is never given), pool 1 all 512.
        let (first, second) = (0x100_0000, 0x100_1000);
        for expected in 1..NUMBERS {
            let asid = asids.next_number(&mem, first).unwrap();
            assert_eq!(asid, expected);
            asids.give(&mut mem, asid, 0x4000_0000 + (asid << 12));
        }
        assert_eq!(asids.next_number(&mem, first), None, "pool 0 is full");
        assert_eq!(asids.next_number(&mem, second), Some(NUMBERS));
        // A number released is the next one given.
        asids.release(&mut mem, 7, 0x4000_0000 + (7 << 12));
        asids.release(&mut mem, 9, 0x1234_5000);
        assert_eq!(
            asids.next_number(&mem, first),
            Some(7),
            "9 stands for another"
        );
        // A pool going frees its place, and only its own numbers.
        assert!(asids.pool_gone(first));
        assert!(!asids.pool_gone(first), "once");
        assert_eq!(asids.pml4(&mem, 8), None);
        asids.give(&mut mem, NUMBERS + 3, 0x5000_0000);
        assert_eq!(asids.pml4(&mem, NUMBERS + 3), Some(0x5000_0000));
        asids.release_pools_within(second, second + 0x1000);
        assert_eq!(asids.pml4(&mem, NUMBERS + 3), None);
        assert_eq!(
            asids.install(&mut mem, 0x200_0000),
            Some(0),
            "the lowest place"
        );
    }
}
