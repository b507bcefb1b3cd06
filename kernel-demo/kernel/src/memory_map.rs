//! The PVH boot information: the `hvm_start_info` structure QEMU's PVH loader
//! hands the kernel in `%ebx`, and the memory map it points to.
//!
//! The layouts are Xen's `arch-x86/hvm/start_info.h` (version 1). The memory
//! map is copied into a [`MemoryMap`] of fixed capacity right away, so the
//! kernel does not depend on the loader's memory staying intact.

use core::fmt;

/// `hvm_start_info.magic`: "xEn3" with the top bit of each byte flipped.
pub const START_INFO_MAGIC: u32 = 0x336e_c578;

/// Most memory-map entries the kernel keeps; QEMU passes about six.
pub const MAX_MEMORY_REGIONS: usize = 64;

/// `struct hvm_start_info`, version 1.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct StartInfo {
    /// [`START_INFO_MAGIC`].
    pub magic: u32,
    /// Version of the structure; the memory map fields need 1 or later.
    pub version: u32,
    /// `SIF_*` flags.
    pub flags: u32,
    /// Number of boot modules.
    pub nr_modules: u32,
    /// Physical address of the boot module list.
    pub modlist_paddr: u64,
    /// Physical address of the NUL-terminated command line (0: none).
    pub cmdline_paddr: u64,
    /// Physical address of the ACPI RSDP.
    pub rsdp_paddr: u64,
    /// Physical address of an array of [`MemmapEntry`].
    pub memmap_paddr: u64,
    /// Number of entries at `memmap_paddr`.
    pub memmap_entries: u32,
    /// Zero.
    pub reserved: u32,
}

/// `struct hvm_modlist_entry`: one boot module (QEMU's `-initrd`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModlistEntry {
    /// Physical address of the module.
    pub paddr: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Physical address of its command line (0: none).
    pub cmdline_paddr: u64,
    /// Zero.
    pub reserved: u64,
}

impl StartInfo {
    /// The first boot module, `[start, end)` in physical memory, if the
    /// loader passed one.
    ///
    /// # Safety
    ///
    /// `self` must be the loader's start info, and its module list still
    /// intact and identity-mapped.
    pub unsafe fn first_module(&self) -> Option<(u64, u64)> {
        if self.nr_modules == 0 || self.modlist_paddr == 0 {
            return None;
        }
        // SAFETY: the caller guarantees the list is intact; entries are
        // only 8-byte aligned by convention, so read unaligned.
        let entry = unsafe { (self.modlist_paddr as *const ModlistEntry).read_unaligned() };
        Some((entry.paddr, entry.paddr.checked_add(entry.size)?))
    }
}

/// `struct hvm_memmap_table_entry`: one region of the physical address space.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemmapEntry {
    /// First byte of the region.
    pub addr: u64,
    /// Length in bytes.
    pub size: u64,
    /// `XEN_HVM_MEMMAP_TYPE_*`, see [`RegionKind`].
    pub kind: u32,
    /// Zero.
    pub reserved: u32,
}

/// What a region of the physical address space holds (the E820 types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionKind {
    /// Usable RAM: the only kind the kernel hands out as Untyped.
    Ram,
    /// Reserved by the firmware or the platform.
    Reserved,
    /// ACPI tables, reclaimable once read.
    AcpiReclaimable,
    /// ACPI non-volatile storage.
    AcpiNvs,
    /// Memory with errors.
    Unusable,
    /// Disabled memory.
    Disabled,
    /// Persistent memory.
    Persistent,
    /// A type this kernel does not know; treated as reserved.
    Unknown(u32),
}

impl RegionKind {
    /// The kind of an `XEN_HVM_MEMMAP_TYPE_*` value.
    pub const fn from_raw(raw: u32) -> RegionKind {
        match raw {
            1 => RegionKind::Ram,
            2 => RegionKind::Reserved,
            3 => RegionKind::AcpiReclaimable,
            4 => RegionKind::AcpiNvs,
            5 => RegionKind::Unusable,
            6 => RegionKind::Disabled,
            7 => RegionKind::Persistent,
            other => RegionKind::Unknown(other),
        }
    }
}

impl fmt::Display for RegionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegionKind::Ram => f.pad("ram"),
            RegionKind::Reserved => f.pad("reserved"),
            RegionKind::AcpiReclaimable => f.pad("acpi"),
            RegionKind::AcpiNvs => f.pad("acpi-nvs"),
            RegionKind::Unusable => f.pad("unusable"),
            RegionKind::Disabled => f.pad("disabled"),
            RegionKind::Persistent => f.pad("persistent"),
            RegionKind::Unknown(raw) => write!(f, "type-{raw}"),
        }
    }
}

/// A region of the physical address space, `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRegion {
    /// First byte.
    pub start: u64,
    /// First byte after the region.
    pub end: u64,
    /// What it holds.
    pub kind: RegionKind,
}

impl MemoryRegion {
    /// The region an entry describes; `None` if it is empty or wraps around
    /// the address space.
    pub fn from_entry(entry: &MemmapEntry) -> Option<MemoryRegion> {
        let end = entry.addr.checked_add(entry.size)?;
        (entry.size > 0).then_some(MemoryRegion {
            start: entry.addr,
            end,
            kind: RegionKind::from_raw(entry.kind),
        })
    }

    /// Length in bytes.
    pub const fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the region holds no bytes.
    pub const fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// Why the boot information cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootInfoError {
    /// `%ebx` did not point to a start info: the kernel was not booted by PVH.
    BadMagic(u32),
    /// Version 0 has no memory map.
    NoMemoryMap {
        /// The version found.
        version: u32,
    },
}

impl fmt::Display for BootInfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootInfoError::BadMagic(magic) => write!(
                f,
                "start info magic is {magic:#010x}, expected {START_INFO_MAGIC:#010x}: not booted through PVH"
            ),
            BootInfoError::NoMemoryMap { version } => write!(
                f,
                "start info version {version} carries no memory map (version 1 or later does)"
            ),
        }
    }
}

/// The physical memory map, as the loader described it, in its order.
#[derive(Clone, Copy, Debug)]
pub struct MemoryMap {
    regions: [MemoryRegion; MAX_MEMORY_REGIONS],
    len: usize,
    /// Entries that did not fit in [`MAX_MEMORY_REGIONS`] or were empty.
    pub ignored: usize,
}

impl MemoryMap {
    /// An empty map.
    pub const fn new() -> MemoryMap {
        MemoryMap {
            regions: [MemoryRegion {
                start: 0,
                end: 0,
                kind: RegionKind::Reserved,
            }; MAX_MEMORY_REGIONS],
            len: 0,
            ignored: 0,
        }
    }

    /// Appends a loader entry; counts it in [`MemoryMap::ignored`] if it is
    /// empty or the map is full.
    pub fn push_entry(&mut self, entry: &MemmapEntry) {
        match MemoryRegion::from_entry(entry) {
            Some(region) if self.len < MAX_MEMORY_REGIONS => {
                self.regions[self.len] = region;
                self.len += 1;
            }
            _ => self.ignored += 1,
        }
    }

    /// The regions, in the loader's order.
    pub fn regions(&self) -> &[MemoryRegion] {
        &self.regions[..self.len]
    }

    /// Reads the start info at `start_info_paddr` and copies its memory map.
    ///
    /// # Safety
    ///
    /// `start_info_paddr` must be the address the PVH loader passed in `%ebx`,
    /// identity-mapped, and the memory it and its memory map occupy must not
    /// have been reused yet.
    pub unsafe fn from_pvh(start_info_paddr: u64) -> Result<(StartInfo, MemoryMap), BootInfoError> {
        let start_info_ptr = start_info_paddr as *const StartInfo;
        // SAFETY: the caller guarantees the address holds the loader's start
        // info; it is only 8-byte aligned by convention, so read unaligned.
        let start_info = unsafe { start_info_ptr.read_unaligned() };
        if start_info.magic != START_INFO_MAGIC {
            return Err(BootInfoError::BadMagic(start_info.magic));
        }
        if start_info.version < 1 {
            return Err(BootInfoError::NoMemoryMap {
                version: start_info.version,
            });
        }
        let mut map = MemoryMap::new();
        let entries = start_info.memmap_paddr as *const MemmapEntry;
        for index in 0..start_info.memmap_entries as usize {
            // SAFETY: a version-1 start info with a valid magic points to
            // `memmap_entries` entries, which the caller guarantees are still
            // intact and mapped.
            let entry = unsafe { entries.add(index).read_unaligned() };
            map.push_entry(&entry);
        }
        Ok((start_info, map))
    }
}

impl Default for MemoryMap {
    fn default() -> MemoryMap {
        MemoryMap::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(addr: u64, size: u64, kind: u32) -> MemmapEntry {
        MemmapEntry {
            addr,
            size,
            kind,
            reserved: 0,
        }
    }

    #[test]
    fn layouts_match_xen_start_info_h() {
        assert_eq!(core::mem::size_of::<StartInfo>(), 56);
        assert_eq!(core::mem::offset_of!(StartInfo, memmap_paddr), 40);
        assert_eq!(core::mem::offset_of!(StartInfo, memmap_entries), 48);
        assert_eq!(core::mem::size_of::<MemmapEntry>(), 24);
    }

    #[test]
    fn reads_the_memory_map_a_pvh_loader_passes() {
        let entries = [
            entry(0, 0x9fc00, 1),
            entry(0x9fc00, 0x400, 2),
            entry(0x100000, 0x7ee0000, 1),
            entry(0xfffc0000, 0x40000, 9),
        ];
        let start_info = StartInfo {
            magic: START_INFO_MAGIC,
            version: 1,
            flags: 0,
            nr_modules: 0,
            modlist_paddr: 0,
            cmdline_paddr: 0,
            rsdp_paddr: 0,
            memmap_paddr: entries.as_ptr() as u64,
            memmap_entries: entries.len() as u32,
            reserved: 0,
        };
        // SAFETY: both structures live on this stack frame for the call.
        let (read, map) = unsafe { MemoryMap::from_pvh(&raw const start_info as u64) }.unwrap();
        assert_eq!(read.version, 1);
        let regions = map.regions();
        assert_eq!(regions.len(), 4);
        assert_eq!(regions[2].start, 0x100000);
        assert_eq!(regions[2].end, 0x7fe0000);
        assert_eq!(regions[2].kind, RegionKind::Ram);
        assert_eq!(regions[1].kind, RegionKind::Reserved);
        assert_eq!(regions[3].kind, RegionKind::Unknown(9));
        assert_eq!(map.ignored, 0);
    }

    #[test]
    fn refuses_what_is_not_a_version_1_start_info() {
        let mut start_info = StartInfo {
            magic: 0x2bad_b002,
            version: 1,
            flags: 0,
            nr_modules: 0,
            modlist_paddr: 0,
            cmdline_paddr: 0,
            rsdp_paddr: 0,
            memmap_paddr: 0,
            memmap_entries: 0,
            reserved: 0,
        };
        // SAFETY: the structure lives on this stack frame for the call.
        let bad_magic = unsafe { MemoryMap::from_pvh(&raw const start_info as u64) };
        assert_eq!(bad_magic.unwrap_err(), BootInfoError::BadMagic(0x2bad_b002));
        start_info.magic = START_INFO_MAGIC;
        start_info.version = 0;
        // SAFETY: as above.
        let version_0 = unsafe { MemoryMap::from_pvh(&raw const start_info as u64) };
        assert_eq!(
            version_0.unwrap_err(),
            BootInfoError::NoMemoryMap { version: 0 }
        );
    }

    #[test]
    fn drops_empty_wrapping_and_excess_entries() {
        let mut map = MemoryMap::new();
        map.push_entry(&entry(0x1000, 0, 1));
        map.push_entry(&entry(u64::MAX - 10, 100, 1));
        for i in 0..MAX_MEMORY_REGIONS as u64 + 3 {
            map.push_entry(&entry(i * 0x1000, 0x1000, 1));
        }
        assert_eq!(map.regions().len(), MAX_MEMORY_REGIONS);
        assert_eq!(map.ignored, 5);
    }
}
