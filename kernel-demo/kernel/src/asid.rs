//! Address-space numbers, seL4's ASIDs: frame and table caps record the
//! address space they are mapped in by number (`#[mapped_in]`, 8 bits), and
//! this table says which PML4 a number stands for. A PML4 gets a number
//! when its first mapping is made (a map that fails gives it none: see
//! [`AsidTable::number_for`] and [`AsidTable::give`]); when the PML4 goes
//! (its last cap, or its memory handed out again) the number is released,
//! so every mapping recorded under it is known to be gone with its tables.
//!
//! Plain bookkeeping, no memory is touched: the kernel keeps one table in
//! its state.

/// How many numbers there are (number 0 is never given out: a cap's 0
/// means "unmapped").
pub const ASIDS: usize = 256;

/// Which PML4 each address-space number stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsidTable {
    /// The PML4's address by number; 0 for a free number.
    pml4s: [u64; ASIDS],
    /// The highest number given out so far.
    used: usize,
}

impl Default for AsidTable {
    fn default() -> Self {
        Self::new()
    }
}

impl AsidTable {
    /// A table with every number free.
    pub const fn new() -> AsidTable {
        AsidTable {
            pml4s: [0; ASIDS],
            used: 0,
        }
    }

    /// The number of the address space whose PML4 is at `pml4`: the one it
    /// has, or else the lowest free one, which it gets only by [`give`]
    /// once a mapping in it is made; `None` when it has none and all 255
    /// are taken. Changes nothing.
    ///
    /// [`give`]: AsidTable::give
    pub fn number_for(&self, pml4: u64) -> Option<u64> {
        if let Some(asid) = self.pml4s[..=self.used]
            .iter()
            .position(|&p| p == pml4)
            .filter(|&a| a != 0)
        {
            return Some(asid as u64);
        }
        let free = self.pml4s.iter().skip(1).position(|&p| p == 0)? + 1;
        Some(free as u64)
    }

    /// Makes `asid` (from [`number_for`](AsidTable::number_for) for the
    /// same `pml4`, with nothing given or released since) stand for the
    /// PML4 at `pml4`: a mapping was just made in it. Number 0, and
    /// numbers past the table, are never given.
    pub fn give(&mut self, asid: u64, pml4: u64) {
        let Some(index) = usize::try_from(asid).ok().filter(|&a| a != 0 && a < ASIDS) else {
            return;
        };
        self.pml4s[index] = pml4;
        self.used = self.used.max(index);
    }

    /// The number of the address space whose PML4 is at `pml4`, giving it
    /// the lowest free one if it has none; `None` when all 255 are taken.
    /// Only for a mapping already made (the root task's, at boot): a map
    /// still to be checked uses [`number_for`](AsidTable::number_for) and
    /// [`give`](AsidTable::give).
    pub fn number_of(&mut self, pml4: u64) -> Option<u64> {
        let asid = self.number_for(pml4)?;
        self.give(asid, pml4);
        Some(asid)
    }

    /// The PML4 number `asid` stands for, if it is given out.
    pub fn pml4(&self, asid: u64) -> Option<u64> {
        let pml4 = self.pml4s.get(usize::try_from(asid).ok()?).copied()?;
        (pml4 != 0).then_some(pml4)
    }

    /// Takes back the number of the PML4 at `pml4` (it is gone).
    pub fn release(&mut self, pml4: u64) {
        self.release_where(|p| p == pml4);
    }

    /// Takes back the numbers of every PML4 in `[start, end)` (their memory
    /// is gone or about to be handed out again).
    pub fn release_within(&mut self, start: u64, end: u64) {
        self.release_where(|p| start <= p && p < end);
    }

    fn release_where(&mut self, gone: impl Fn(u64) -> bool) {
        for pml4 in self.pml4s[..=self.used]
            .iter_mut()
            .filter(|p| **p != 0 && gone(**p))
        {
            *pml4 = 0;
        }
    }

    /// The PML4 of every number (0 for free ones), indexed by number: what
    /// the audit checks recorded mappings against.
    pub fn as_slice(&self) -> &[u64] {
        &self.pml4s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_given_once_and_taken_back() {
        let mut table = AsidTable::new();
        assert_eq!(table.pml4(0), None, "0 is never given out");
        assert_eq!(table.number_of(0x1000), Some(1));
        assert_eq!(table.number_of(0x2000), Some(2));
        assert_eq!(
            table.number_of(0x1000),
            Some(1),
            "the same PML4, the same number"
        );
        assert_eq!(
            (table.pml4(1), table.pml4(2), table.pml4(3)),
            (Some(0x1000), Some(0x2000), None)
        );
        table.release(0x1000);
        assert_eq!(table.pml4(1), None);
        assert_eq!(table.number_of(0x3000), Some(1), "the lowest free number");
        table.release_within(0x2000, 0x4000);
        assert_eq!((table.pml4(1), table.pml4(2)), (None, None));
        assert_eq!(table.pml4(u64::MAX), None);
        assert_eq!(table.as_slice().len(), ASIDS);
    }

    #[test]
    fn a_number_is_only_given_when_asked() {
        let mut table = AsidTable::new();
        assert_eq!(table.number_for(0x1000), Some(1));
        assert_eq!(table.pml4(1), None, "number_for gives nothing");
        assert_eq!(table.number_for(0x2000), Some(1), "1 is still free");
        table.give(1, 0x2000);
        assert_eq!(table.pml4(1), Some(0x2000));
        assert_eq!(table.number_for(0x2000), Some(1));
        assert_eq!(table.number_for(0x1000), Some(2));
        table.give(0, 0x3000);
        table.give(ASIDS as u64, 0x3000);
        table.give(u64::MAX, 0x3000);
        assert_eq!(table.pml4(0), None, "0 is never given");
        assert_eq!(table.number_for(0x3000), Some(2), "nor past the table");
    }

    #[test]
    fn runs_out_after_255() {
        let mut table = AsidTable::new();
        for i in 1..ASIDS as u64 {
            assert_eq!(table.number_of(i << 12), Some(i));
        }
        assert_eq!(table.number_of(0xfff_f000), None);
        assert_eq!(table.number_for(0xfff_f000), None);
        assert_eq!(table.number_for(7 << 12), Some(7), "its own still");
        table.release(5 << 12);
        assert_eq!(table.number_of(0xfff_f000), Some(5));
    }
}
