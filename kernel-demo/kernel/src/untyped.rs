//! The Untyped inventory: all usable RAM above the kernel image, cut into
//! naturally aligned power-of-two regions, each named by an `UntypedCap`
//! built with the generated code.
//!
//! This is the memory every later kernel object is retyped from; the kernel
//! keeps none for itself beyond its image, so it has no heap. The size range
//! of an Untyped (2^4 ..= 2^47 bytes in `kernel.cap`) comes from the spec
//! through the generated `ObjectType::Untyped.arg_bounds()`.

use crate::caps::{FieldError, ObjectType, UntypedCap};
use crate::memory_map::{MemoryMap, RegionKind};

/// Most Untyped caps the inventory holds. A region of `n` bytes needs at most
/// about `2 * log2(n)` pieces, so a few dozen RAM regions fit.
pub const MAX_UNTYPEDS: usize = 256;

/// The smallest and largest Untyped, as log2 of the size in bytes, from the
/// spec (`untyped Untyped(bits in 4..=47)`).
pub const fn untyped_bits_bounds() -> (u32, u32) {
    let (min, max) = ObjectType::Untyped.arg_bounds();
    (min as u32, max as u32)
}

/// The naturally aligned power-of-two pieces that exactly cover
/// `[start, end)` after rounding both ends inward to `2^min_bits`, largest
/// first as alignment allows, none above `2^max_bits`. This greedy split
/// gives the fewest pieces.
#[derive(Clone, Debug)]
pub struct NaturalPieces {
    next: u64,
    end: u64,
    min_bits: u32,
    max_bits: u32,
}

impl NaturalPieces {
    /// The pieces of `[start, end)`, each `2^min_bits ..= 2^max_bits` bytes.
    pub fn new(start: u64, end: u64, min_bits: u32, max_bits: u32) -> NaturalPieces {
        let granule = 1u64 << min_bits;
        let next = start.checked_next_multiple_of(granule).unwrap_or(u64::MAX);
        let end = end & !(granule - 1);
        NaturalPieces {
            next,
            end: end.max(next),
            min_bits,
            max_bits,
        }
    }
}

impl Iterator for NaturalPieces {
    /// `(base, bits)`: `2^bits` bytes at `base`, `base` a multiple of `2^bits`.
    type Item = (u64, u32);

    fn next(&mut self) -> Option<(u64, u32)> {
        let left = self.end - self.next;
        if left == 0 {
            return None;
        }
        let fits = 63 - left.leading_zeros();
        let bits = self.next.trailing_zeros().min(fits).min(self.max_bits);
        debug_assert!(bits >= self.min_bits);
        let base = self.next;
        self.next += 1 << bits;
        Some((base, bits))
    }
}

/// The Untyped caps covering usable RAM, in address order per region.
#[derive(Clone, Debug)]
pub struct UntypedInventory {
    caps: [UntypedCap; MAX_UNTYPEDS],
    len: usize,
    /// Bytes of RAM above the kernel that no cap covers: alignment slack at
    /// region ends, and pieces that did not fit in [`MAX_UNTYPEDS`].
    pub uncovered_bytes: u64,
    /// The first piece the generated `UntypedCap::new` refused (a base beyond
    /// the spec's address bits), if any; such pieces count as uncovered.
    pub refused: Option<FieldError>,
}

/// Fills the unused tail of the table; never handed out.
const UNUSED_SLOT: UntypedCap = match UntypedCap::new(0, untyped_bits_bounds().0 as u8, 0, false) {
    Ok(cap) => cap,
    Err(_) => panic!("the smallest Untyped at address 0 must be representable"),
};

impl UntypedInventory {
    /// Reserved regions at or above this address become device Untyped:
    /// physical address space that is not RAM and that the kernel never
    /// touches (it identity-maps only the 4 GiB below).
    pub const DEVICE_FROM: u64 = 4 << 30;

    /// Carves every RAM region of `map`, minus everything below
    /// `reserved_end` (the kernel image and the low memory under it) and
    /// the range `hole` (a boot module, `[start, end)`), into Untyped caps,
    /// and every reserved region from [`Self::DEVICE_FROM`] on into device
    /// Untyped caps. The loader's regions are trusted not to overlap.
    pub fn from_memory_map(
        map: &MemoryMap,
        reserved_end: u64,
        hole: Option<(u64, u64)>,
    ) -> UntypedInventory {
        let (min_bits, max_bits) = untyped_bits_bounds();
        let mut inventory = UntypedInventory {
            caps: [UNUSED_SLOT; MAX_UNTYPEDS],
            len: 0,
            uncovered_bytes: 0,
            refused: None,
        };
        for region in map.regions() {
            if region.kind == RegionKind::Reserved && region.start >= Self::DEVICE_FROM {
                for (base, bits) in NaturalPieces::new(region.start, region.end, min_bits, max_bits)
                {
                    inventory.push(base, bits, true);
                }
                continue;
            }
            if region.kind != RegionKind::Ram || region.end <= reserved_end {
                continue;
            }
            let start = region.start.max(reserved_end);
            let (hole_start, hole_end) = hole.unwrap_or((region.end, region.end));
            // The region minus the hole: the part below it, the part above.
            let parts = [
                (start, region.end.min(hole_start)),
                (start.max(hole_end), region.end),
            ];
            for (start, end) in parts {
                if start >= end {
                    continue;
                }
                let mut covered = 0;
                for (base, bits) in NaturalPieces::new(start, end, min_bits, max_bits) {
                    if inventory.push(base, bits, false) {
                        covered += 1u64 << bits;
                    }
                }
                inventory.uncovered_bytes += (end - start) - covered;
            }
        }
        inventory
    }

    /// Adds a cap for `2^bits` bytes of RAM (or device memory) at `base`;
    /// false if the table is full or the generated code refuses the fields.
    fn push(&mut self, base: u64, bits: u32, device: bool) -> bool {
        if self.len == MAX_UNTYPEDS {
            return false;
        }
        // A log2 size is at most 64: it fits the field's `u8`, and the
        // field refuses what is too big for it.
        match UntypedCap::new(base, bits as u8, 0, device) {
            Ok(cap) => {
                self.caps[self.len] = cap;
                self.len += 1;
                true
            }
            Err(error) => {
                self.refused.get_or_insert(error);
                false
            }
        }
    }

    /// The caps, in the order they were carved.
    pub fn caps(&self) -> &[UntypedCap] {
        &self.caps[..self.len]
    }

    /// Bytes all the caps cover together.
    pub fn total_bytes(&self) -> u64 {
        self.caps().iter().map(|cap| 1u64 << cap.bits()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_map::MemmapEntry;

    fn pieces(start: u64, end: u64) -> Vec<(u64, u32)> {
        NaturalPieces::new(start, end, 4, 47).collect()
    }

    fn map(entries: &[(u64, u64, u32)]) -> MemoryMap {
        let mut map = MemoryMap::new();
        for &(addr, size, kind) in entries {
            map.push_entry(&MemmapEntry {
                addr,
                size,
                kind,
                reserved: 0,
            });
        }
        map
    }

    #[test]
    fn the_bounds_come_from_the_spec() {
        assert_eq!(untyped_bits_bounds(), (4, 47));
    }

    #[test]
    fn pieces_are_naturally_aligned_contiguous_and_cover_the_region() {
        let (start, end) = (0x12_3000, 0x7fe_0000);
        let pieces = pieces(start, end);
        let mut next = start;
        for &(base, bits) in &pieces {
            assert_eq!(base, next, "contiguous");
            assert_eq!(base % (1 << bits), 0, "{base:#x} is aligned to 2^{bits}");
            next += 1 << bits;
        }
        assert_eq!(next, end);
        // Growing with the alignment of the start, then shrinking to fit the end.
        let bits: Vec<u32> = pieces.iter().map(|&(_, bits)| bits).collect();
        assert_eq!(
            bits,
            [
                12, 14, 15, 16, 18, 19, 21, 22, 23, 24, 25, 25, 24, 23, 22, 21, 20, 19, 18, 17
            ]
        );
    }

    #[test]
    fn ends_are_rounded_inward_to_the_smallest_untyped() {
        assert_eq!(pieces(0x1001, 0x1030), [(0x1010, 4), (0x1020, 4)]);
        assert_eq!(pieces(0x1001, 0x100f), []);
        assert_eq!(pieces(u64::MAX - 3, u64::MAX), []);
    }

    #[test]
    fn no_piece_exceeds_the_largest_untyped() {
        let huge = pieces(0, 1 << 49);
        assert_eq!(huge, [(0, 47), (1 << 47, 47), (2 << 47, 47), (3 << 47, 47)]);
    }

    #[test]
    fn only_ram_above_the_kernel_becomes_untyped() {
        let map = map(&[
            (0, 0x9_fc00, 1),
            (0x9_fc00, 0x400, 2),
            (0xf_0000, 0x1_0000, 2),
            (0x10_0000, 0x7ee_0000, 1),
            (0xfffc_0000, 0x4_0000, 2),
        ]);
        let kernel_end = 0x12_3000;
        let inventory = UntypedInventory::from_memory_map(&map, kernel_end, None);
        let caps = inventory.caps();
        assert!(!caps.is_empty());
        assert_eq!(caps[0].base(), kernel_end);
        assert!(
            caps.iter()
                .all(|cap| !cap.is_device() && cap.free_index() == 0)
        );
        assert_eq!(inventory.total_bytes(), 0x7fe_0000 - kernel_end);
        assert_eq!(inventory.uncovered_bytes, 0);
        assert_eq!(inventory.refused, None);
        let end = caps.last().map(|cap| cap.base() + (1 << cap.bits()));
        assert_eq!(end, Some(0x7fe_0000));
    }

    #[test]
    fn reserved_regions_above_4_gib_become_device_untyped() {
        let map = map(&[
            (0x10_0000, 0x7f0_0000, 1),
            (0xfffc_0000, 0x4_0000, 2),
            (0xfd_0000_0000, 0x3_0000_0000, 2),
        ]);
        let inventory = UntypedInventory::from_memory_map(&map, 0x20_0000, None);
        let device: Vec<_> = inventory.caps().iter().filter(|c| c.is_device()).collect();
        assert_eq!(
            device
                .iter()
                .map(|c| (c.base(), c.bits()))
                .collect::<Vec<_>>(),
            [(0xfd_0000_0000, 32), (0xfe_0000_0000, 33)]
        );
        assert!(
            inventory
                .caps()
                .iter()
                .all(|c| c.is_device() == (c.base() >= 4 << 30)),
            "the reserved region below 4 GiB stays out"
        );
    }

    #[test]
    fn a_boot_module_is_left_out() {
        let map = map(&[(0x10_0000, 0x7f0_0000, 1)]);
        let module = (0x7e0_1000, 0x7e0_9000);
        let inventory = UntypedInventory::from_memory_map(&map, 0x20_0000, Some(module));
        for cap in inventory.caps() {
            let (base, end) = (cap.base(), cap.base() + (1 << cap.bits()));
            assert!(end <= module.0 || base >= module.1, "{base:#x}..{end:#x}");
        }
        assert_eq!(
            inventory.total_bytes() + inventory.uncovered_bytes,
            0x800_0000 - 0x20_0000 - 0x8000
        );
    }

    #[test]
    fn pieces_beyond_a_full_table_count_as_uncovered() {
        // Ten 1 MiB regions shifted by 16 bytes: about 30 pieces each.
        let regions: Vec<(u64, u64, u32)> = (1..=10)
            .map(|mib: u64| ((mib << 20) + 0x10, (1 << 20) - 0x20, 1))
            .collect();
        let inventory = UntypedInventory::from_memory_map(&map(&regions), 0, None);
        assert_eq!(inventory.caps().len(), MAX_UNTYPEDS);
        assert!(inventory.uncovered_bytes > 0);
        let ram: u64 = regions.iter().map(|&(_, size, _)| size).sum();
        assert_eq!(inventory.total_bytes() + inventory.uncovered_bytes, ram);
    }

    #[test]
    fn ram_beyond_the_specs_address_bits_is_refused() {
        let high = map(&[(1 << 48, 1 << 20, 1)]);
        let inventory = UntypedInventory::from_memory_map(&high, 0, None);
        assert!(inventory.caps().is_empty());
        assert_eq!(inventory.uncovered_bytes, 1 << 20);
        assert_eq!(inventory.refused.map(|e| e.field), Some("base"));
    }
}
