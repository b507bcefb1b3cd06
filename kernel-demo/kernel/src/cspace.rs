//! Capability slots, the memory they live in, and CSpace addressing.
//!
//! A slot is 32 bytes, as `kernel.cap` sizes it (`SLOT_BITS = 5`): a 16-byte
//! [`Cap`] and 16 bytes of derivation links (see `mdb`). Slots exist only
//! inside CNode objects, that is in memory retyped from an Untyped, so this
//! module sees them through [`SlotMemory`]: a window of physical memory
//! handed in as a slice of slots, addressed by physical address
//! ([`SlotAddr`]). The kernel builds one over the RAM it may place CNodes
//! in; host tests build one over an array.
//!
//! [`lookup_slot`] and [`lookup_cap`] resolve a capability address through
//! a tree of CNodes with guards and radixes, as seL4's `resolveAddressBits`
//! does: every level consumes `guard_bits` bits that must equal the CNode's
//! guard, then `radix` bits that index its table, most significant first.
//!
//! Nothing here writes a slot except [`SlotMemory::clear_table`]; keeping
//! the derivation links consistent is `mdb`'s job.

use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::caps::{self, CNodeCap, Cap, KernelError, ObjectType};
use crate::mdb::MdbNode;

/// log2 of the bytes in one slot: the spec's `SLOT_BITS`, which also sizes
/// a CNode (`1 << (radix + SLOT_BITS)` bytes), as a shift amount.
pub const SLOT_BITS: u32 = caps::SLOT_BITS as u32;

/// Bytes in one slot.
pub const SLOT_BYTES: u64 = 1 << SLOT_BITS;

/// The widest capability address, in bits.
pub const WORD_BITS: u32 = u64::BITS;

/// A CNode slot: a capability and its place in the derivation tree.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Slot {
    pub(crate) cap: Cap,
    pub(crate) links: MdbNode,
}

// The `as u32` above loses nothing and the shift in `SLOT_BYTES` cannot
// overflow.
const _: () = assert!(caps::SLOT_BITS < u64::BITS as u64);
// A slot must be the size the spec's CNode object reserves for it.
const _: () = assert!(core::mem::size_of::<Slot>() == SLOT_BYTES as usize);

impl Slot {
    /// An empty slot: the null cap, no links.
    pub const EMPTY: Slot = Slot {
        cap: Cap::NULL,
        links: MdbNode::EMPTY,
    };

    /// The capability in the slot (`Cap::NULL` if empty).
    pub const fn cap(&self) -> Cap {
        self.cap
    }

    /// The slot's derivation links and bits.
    pub const fn links(&self) -> MdbNode {
        self.links
    }

    /// Whether the slot holds no capability.
    pub const fn is_empty(&self) -> bool {
        self.cap.is_null()
    }
}

/// The physical address of a slot: non-zero and 32-byte aligned, so that
/// 0 can mean "no slot" in a link and the low bits can carry flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotAddr(u64);

impl SlotAddr {
    /// The slot at `addr`, if it is non-zero and slot-aligned.
    pub const fn new(addr: u64) -> Option<SlotAddr> {
        if addr != 0 && addr.is_multiple_of(SLOT_BYTES) {
            Some(SlotAddr(addr))
        } else {
            None
        }
    }

    /// The physical address.
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// A run of consecutive slots: the `2^radix` slots of one CNode, or the
/// slots another object owns (a TCB's, see `tcb::TcbSlot`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Table {
    first: SlotAddr,
    radix: u32,
    count: u64,
}

impl Table {
    /// The table a CNode cap names, if its address and radix are ones the
    /// spec allows (a valid object region, not at address 0).
    pub fn of(cnode: CNodeCap) -> Option<Table> {
        // The same test as `caps::region`, without its match over every
        // cap type: this is on the path of every capability lookup.
        let (min, max) = ObjectType::CNode.arg_bounds();
        let radix = u64::from(cnode.radix());
        if radix < min || radix > max {
            return None;
        }
        Some(Table {
            first: SlotAddr::new(cnode.table())?,
            radix: radix as u32,
            count: 1 << radix,
        })
    }

    /// `count` slots from `first` on, held by an object that is not a
    /// CNode (no capability address resolves through them; `radix` is 0).
    pub fn run(first: SlotAddr, count: u64) -> Option<Table> {
        first.get().checked_add(count.checked_mul(SLOT_BYTES)?)?;
        Some(Table {
            first,
            radix: 0,
            count,
        })
    }

    /// Whether these are a CNode's slots (not an object's owned slots).
    pub const fn is_cnode(&self) -> bool {
        self.radix > 0
    }

    /// The address of the first slot (the CNode's address).
    pub const fn first(&self) -> SlotAddr {
        self.first
    }

    /// log2 of the number of slots of a CNode.
    pub const fn radix(&self) -> u32 {
        self.radix
    }

    /// The number of slots.
    pub const fn slot_count(&self) -> u64 {
        self.count
    }

    /// The table's size in bytes.
    pub const fn bytes(&self) -> u64 {
        self.slot_count() << SLOT_BITS
    }

    /// Slot `index`, if the table has it.
    pub fn slot(&self, index: u64) -> Option<SlotAddr> {
        if index >= self.slot_count() {
            return None;
        }
        SlotAddr::new(self.first.0.checked_add(index << SLOT_BITS)?)
    }

    /// The position of `slot` in the table, if it is one of its slots.
    pub fn index_of(&self, slot: SlotAddr) -> Option<u64> {
        let offset = slot.0.checked_sub(self.first.0)? >> SLOT_BITS;
        (offset < self.slot_count()).then_some(offset)
    }
}

/// A cap taken out of its slot for good, as `SlotMemory` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Removal {
    /// The cap.
    pub cap: Cap,
    /// It was the last cap to its object: the object is gone.
    pub last: bool,
    /// It carried a badge, and neither neighbour in the derivation list
    /// is a cap to the same object with the same badge: the last of its
    /// subtree with that badge (senders queued with it are cancelled).
    pub last_with_badge: bool,
}

/// A window of physical memory seen as slots: the slot at physical address
/// `base + 32 * i` is the `i`-th. Every CNode the kernel uses lies in it;
/// slots outside it do not exist.
///
/// The window is held as a raw pointer, not a `&mut [Slot]`: it covers all
/// RAM the Untyped caps cover, where the kernel also keeps TCBs, endpoints
/// and page tables. Only references to single slots are handed out, each
/// for as long as the borrow of the `SlotMemory` it came from, so a `&mut
/// Tcb` (whose struct lies before the TCB object's own slots, see
/// `tcb::slot_of`) never overlaps a reference into the window.
pub struct SlotMemory<'m> {
    base: u64,
    slots: NonNull<Slot>,
    len: usize,
    /// The window is borrowed for `'m`, as a `&'m mut [Slot]` would be.
    window: PhantomData<&'m mut [Slot]>,
    /// Called with every cap taken out of a slot for good (delete, revoke,
    /// a CNode emptied): the kernel undoes what the cap stood for outside
    /// the slots (a frame's mapping) and finalises an object whose last cap
    /// went. A closure, so that it reaches the kernel's state through what
    /// it borrowed rather than through a global.
    on_remove: Option<&'m mut dyn FnMut(Removal)>,
}

impl core::fmt::Debug for SlotMemory<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SlotMemory")
            .field("base", &self.base)
            .field("len", &self.len)
            .field("on_remove", &self.on_remove.is_some())
            .finish()
    }
}

impl<'m> SlotMemory<'m> {
    /// The window of `slots` at physical address `base`, if `base` is a
    /// valid slot address and the window ends below 2^64.
    ///
    /// The slots are taken as they are: memory that no CNode covers is
    /// never read, and retype clears a CNode's table when it makes one.
    pub fn new(base: u64, slots: &'m mut [Slot]) -> Option<SlotMemory<'m>> {
        let len = slots.len();
        // SAFETY: `slots` is `len` slots borrowed mutably for `'m`, which
        // the returned window keeps borrowed.
        unsafe { Self::from_raw(base, NonNull::from(slots).cast(), len) }
    }

    /// The window of `len` slots at `slots`, whose physical address is
    /// `base`; see [`new`](Self::new).
    ///
    /// # Safety
    ///
    /// `slots` must point to `len` valid, aligned slots that, for `'m`, are
    /// read and written only through this window (and windows made from it
    /// while it is not used); other memory may be referenced freely.
    pub unsafe fn from_raw(base: u64, slots: NonNull<Slot>, len: usize) -> Option<SlotMemory<'m>> {
        SlotAddr::new(base)?;
        let bytes = u64::try_from(len).ok()?.checked_mul(SLOT_BYTES)?;
        base.checked_add(bytes)?;
        Some(SlotMemory {
            base,
            slots,
            len,
            window: PhantomData,
            on_remove: None,
        })
    }

    /// The same window, calling `on_remove` with every cap removed for good.
    pub fn with_on_remove<'h>(self, on_remove: &'h mut dyn FnMut(Removal)) -> SlotMemory<'h>
    where
        'm: 'h,
    {
        SlotMemory {
            base: self.base,
            slots: self.slots,
            len: self.len,
            window: PhantomData,
            on_remove: Some(on_remove),
        }
    }

    /// The same window without the removal hook, for as long as this one
    /// is borrowed: for removals whose consequences the caller handles
    /// itself (a reply cap deleted by the IPC code).
    pub fn unhooked(&mut self) -> SlotMemory<'_> {
        SlotMemory {
            base: self.base,
            slots: self.slots,
            len: self.len,
            window: PhantomData,
            on_remove: None,
        }
    }

    /// Tells the kernel that a cap was removed for good.
    pub(crate) fn removed(&mut self, removal: Removal) {
        if let Some(on_remove) = self.on_remove.as_mut() {
            on_remove(removal);
        }
    }

    /// The physical address of the first slot.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The number of slots in the window.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the window has no slots.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the `size` bytes at `addr` lie entirely in the window.
    pub fn covers(&self, addr: u64, size: u64) -> bool {
        let end = self.base + ((self.len as u64) << SLOT_BITS);
        addr >= self.base && addr.checked_add(size).is_some_and(|e| e <= end)
    }

    fn index(&self, at: SlotAddr) -> Option<usize> {
        let i = usize::try_from(at.0.checked_sub(self.base)? >> SLOT_BITS).ok()?;
        (i < self.len).then_some(i)
    }

    /// The `i`-th slot; `i` below `len`.
    fn slot_ptr(&self, i: usize) -> *mut Slot {
        debug_assert!(i < self.len);
        // SAFETY: `i < len`, so the result lies in the window `from_raw`
        // was given.
        unsafe { self.slots.as_ptr().add(i) }
    }

    /// The slot at `at`, if the window has it.
    pub fn get(&self, at: SlotAddr) -> Option<&Slot> {
        let i = self.index(at)?;
        // SAFETY: a slot of the window (see `from_raw`); no `&mut` into the
        // window can be live while `self` is borrowed shared.
        Some(unsafe { &*self.slot_ptr(i) })
    }

    pub(crate) fn get_mut(&mut self, at: SlotAddr) -> Option<&mut Slot> {
        let i = self.index(at)?;
        // SAFETY: a slot of the window; `self` is borrowed mutably for as
        // long as the reference lives, so it is the only one into the window.
        Some(unsafe { &mut *self.slot_ptr(i) })
    }

    /// The cap in the slot at `at`, if the window has it.
    pub fn cap(&self, at: SlotAddr) -> Option<Cap> {
        self.get(at).map(Slot::cap)
    }

    /// The first slot of `table` that holds a cap, `except` aside: one pass
    /// over the table's slots (a few instructions each), for the walk that
    /// deletes a CNode's contents, which a restarted revoke makes again
    /// over the slots it emptied before. `None` if the table is not in the
    /// window.
    pub fn first_occupied(&self, table: Table, except: SlotAddr) -> Option<SlotAddr> {
        let start = self.index(table.first)?;
        let count = usize::try_from(table.slot_count()).ok()?;
        if start.checked_add(count)? > self.len {
            return None;
        }
        // SAFETY: `start..start + count` lies in the window (checked above),
        // read shared as `get` reads.
        let slots = unsafe { core::slice::from_raw_parts(self.slot_ptr(start), count) };
        slots
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.is_empty())
            .map(|(i, _)| SlotAddr(table.first.0 + ((i as u64) << SLOT_BITS)))
            .find(|&at| at != except)
    }

    /// The cap in slot `index` of `table`, a table of this window (from
    /// [`SlotMemory::table`]); `None` past its end.
    pub fn table_cap(&self, table: Table, index: u64) -> Option<Cap> {
        if index >= table.slot_count() {
            return None;
        }
        // A table of the window has every slot in range; whatever the
        // table, the index is checked against the window, as `get` does.
        let first = (table.first.0.wrapping_sub(self.base) >> SLOT_BITS) as usize;
        let i = first.wrapping_add(index as usize);
        (i < self.len).then(|| {
            // SAFETY: `i < len`: a slot of the window, read as `get` reads.
            unsafe { (*self.slot_ptr(i)).cap }
        })
    }

    /// The table of `cnode`, if it is a valid CNode lying in the window.
    pub fn table(&self, cnode: CNodeCap) -> Option<Table> {
        Table::of(cnode).filter(|t| self.covers(t.first.0, t.bytes()))
    }

    /// Empties every slot of `table`, without looking at what they held:
    /// for memory that holds no live slot, as when retype makes a CNode or
    /// the boot code its root CNode. False if the table is not in the
    /// window.
    pub fn clear_table(&mut self, table: Table) -> bool {
        if !self.covers(table.first.0, table.bytes()) {
            return false;
        }
        let Some(start) = self.index(table.first) else {
            return false;
        };
        let len = table.slot_count() as usize;
        if start.checked_add(len).is_none_or(|end| end > self.len) {
            return false;
        }
        for i in start..start + len {
            // SAFETY: a slot of the window (checked above), written through
            // `self`, borrowed mutably.
            unsafe { self.slot_ptr(i).write(Slot::EMPTY) };
        }
        true
    }

    /// Every slot of the window with its address, in address order.
    pub fn iter(&self) -> impl Iterator<Item = (SlotAddr, &Slot)> {
        (0..self.len).map(move |i| {
            // SAFETY: as for `get`.
            let slot = unsafe { &*self.slot_ptr(i) };
            (SlotAddr(self.base + ((i as u64) << SLOT_BITS)), slot)
        })
    }
}

/// Why a capability address does not resolve: seL4's lookup faults, plus
/// a depth outside `1..=64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupError {
    /// The depth is 0 or above 64 bits (seL4: `RangeError { 1, 64 }`).
    DepthOutOfRange {
        /// The depth asked for.
        depth: u32,
    },
    /// The root is not a CNode cap whose table lies in slot memory.
    InvalidRoot,
    /// The address resolved to an empty slot with `bits_left` bits unused.
    MissingCapability {
        /// Address bits not yet consumed.
        bits_left: u32,
    },
    /// A level needs `bits_found` bits but only `bits_left` are left, or
    /// (with `bits_found` 0) the lookup reached a slot that is not a CNode
    /// with `bits_left` bits still to resolve.
    DepthMismatch {
        /// Address bits not yet consumed.
        bits_left: u32,
        /// Bits the level needed (0: the path ended early).
        bits_found: u32,
    },
    /// The address bits do not match a CNode's guard.
    GuardMismatch {
        /// Address bits not yet consumed.
        bits_left: u32,
        /// The CNode's guard.
        guard_found: u64,
        /// The CNode's guard width.
        bits_found: u32,
    },
}

impl LookupError {
    /// The kernel error a failed lookup becomes in a reply: `RangeError`
    /// for a bad depth, else `FailedLookup` saying whether the source
    /// (`true`) or the destination address failed.
    pub fn kernel_error(self, source: bool) -> KernelError {
        match self {
            LookupError::DepthOutOfRange { .. } => KernelError::RangeError {
                min: 1,
                max: u64::from(WORD_BITS),
            },
            _ => KernelError::FailedLookup {
                source: u64::from(source),
            },
        }
    }
}

/// The `width` address bits just below bit `top` (`width <= top <= 64`).
fn address_bits(address: u64, top: u32, width: u32) -> u64 {
    if width == 0 {
        return 0;
    }
    let shifted = address.checked_shr(top - width).unwrap_or(0);
    shifted & (u64::MAX >> (WORD_BITS - width))
}

/// Resolves the low `depth` bits of `address` from the CNode `root`, as
/// seL4's `resolveAddressBits`: level by level until the bits are used up
/// or a slot holds something other than a CNode. Returns the slot reached
/// and the bits left unresolved (0 unless the path ended at a non-CNode).
pub fn resolve(
    memory: &SlotMemory<'_>,
    root: Cap,
    address: u64,
    depth: u32,
) -> Result<(SlotAddr, u32), LookupError> {
    if depth == 0 || depth > WORD_BITS {
        return Err(LookupError::DepthOutOfRange { depth });
    }
    let mut node = CNodeCap::from_cap(root).ok_or(LookupError::InvalidRoot)?;
    let mut bits_left = depth;
    // Every level consumes at least one bit (radix >= 1), so this ends
    // within 64 levels.
    loop {
        let table = memory.table(node).ok_or(LookupError::InvalidRoot)?;
        let guard_bits = u32::from(node.guard_bits());
        let guard_fault = || LookupError::GuardMismatch {
            bits_left,
            guard_found: node.guard(),
            bits_found: guard_bits,
        };
        if guard_bits > bits_left {
            return Err(guard_fault());
        }
        let guard_mask = u64::MAX.checked_shr(WORD_BITS - guard_bits).unwrap_or(0);
        if address_bits(address, bits_left, guard_bits) != node.guard() & guard_mask {
            return Err(guard_fault());
        }
        let level = guard_bits + table.radix();
        if level > bits_left {
            return Err(LookupError::DepthMismatch {
                bits_left,
                bits_found: level,
            });
        }
        let index = address_bits(address, bits_left - guard_bits, table.radix());
        let slot = table.slot(index).ok_or(LookupError::InvalidRoot)?;
        bits_left -= level;
        if bits_left == 0 {
            return Ok((slot, 0));
        }
        let cap = memory.cap(slot).ok_or(LookupError::InvalidRoot)?;
        match CNodeCap::from_cap(cap) {
            Some(next) => node = next,
            None => return Ok((slot, bits_left)),
        }
    }
}

/// The slot that exactly `depth` bits of `address` name from `root` (seL4's
/// `lookupSlotForCNodeOp`): the path must use up all the bits. The slot
/// may be empty.
pub fn lookup_slot(
    memory: &SlotMemory<'_>,
    root: Cap,
    address: u64,
    depth: u64,
) -> Result<SlotAddr, LookupError> {
    // A depth past 64 is out of range whatever its size (`RangeError`).
    let depth = u32::try_from(depth).unwrap_or(u32::MAX);
    match resolve(memory, root, address, depth)? {
        (slot, 0) => Ok(slot),
        (_, bits_left) => Err(LookupError::DepthMismatch {
            bits_left,
            bits_found: 0,
        }),
    }
}

/// The cap a thread names by `address` in its CSpace `root` (seL4's
/// `lookupCapAndSlot`): all 64 bits are resolved, stopping early at the
/// first slot that is not a CNode. An empty slot is `MissingCapability`.
pub fn lookup_cap(
    memory: &SlotMemory<'_>,
    root: Cap,
    address: u64,
) -> Result<(SlotAddr, Cap), LookupError> {
    let (slot, bits_left) = resolve(memory, root, address, WORD_BITS)?;
    match memory.cap(slot) {
        Some(cap) if !cap.is_null() => Ok((slot, cap)),
        _ => Err(LookupError::MissingCapability { bits_left }),
    }
}

/// [`lookup_cap`]'s cap when it finds one, `None` whatever the error: the
/// lookup of the IPC fast paths (seL4's `lookup_fp`), one pass per level
/// with no error to build. The slow path looks the address up again to
/// say why it failed.
#[inline]
pub fn lookup_fast(memory: &SlotMemory<'_>, root: Cap, address: u64) -> Option<Cap> {
    let mut node = CNodeCap::from_cap(root)?;
    let mut bits_left = WORD_BITS;
    // Every level consumes at least one bit (radix >= 1), so this ends
    // within 64 levels; `bits_left` is at least 1 at the top of each.
    loop {
        let table = memory.table(node)?;
        let radix = table.radix();
        // A 6-bit field: below 64.
        let guard_bits = u32::from(node.guard_bits() & 63);
        // The guard and the index, read as one field of `level` bits from
        // the top of the bits left.
        let level = guard_bits + radix;
        if level > bits_left {
            return None;
        }
        let field = (address << (WORD_BITS - bits_left)) >> (WORD_BITS - level);
        if field >> radix != node.guard() & ((1 << guard_bits) - 1) {
            return None;
        }
        let cap = memory.table_cap(table, field & ((1 << radix) - 1))?;
        bits_left -= level;
        match CNodeCap::from_cap(cap) {
            Some(next) if bits_left > 0 => node = next,
            _ => return (!cap.is_null()).then_some(cap),
        }
    }
}

#[cfg(test)]
// Address literals are grouped by level, guard then index: `0b1010_0011_01_10`.
#[allow(clippy::unusual_byte_groupings)]
mod tests {
    use super::*;
    use crate::caps::EndpointCap;

    const BASE: u64 = 0x1_0000;

    fn cnode(table: u64, radix: u64, guard_bits: u64, guard: u64) -> Cap {
        let narrow = |n: u64| u8::try_from(n).unwrap();
        CNodeCap::new(table, narrow(radix), narrow(guard_bits), guard)
            .unwrap()
            .cap()
    }

    fn put(memory: &mut SlotMemory<'_>, at: SlotAddr, cap: Cap) {
        memory.get_mut(at).unwrap().cap = cap;
    }

    fn endpoint(addr: u64) -> Cap {
        EndpointCap::new(addr, EndpointCap::VALID_RIGHTS, 0)
            .unwrap()
            .cap()
    }

    /// The fast lookup finds what the full one finds, and nothing where it
    /// fails, on random two-level CSpaces (random radixes, guards and
    /// addresses, most of them aimed at a filled slot).
    #[test]
    fn the_fast_lookup_agrees_with_the_full_one() {
        let mut rng = crate::model_check::XorShift(0x9e37_79b9_7f4a_7c15u64);
        let mut next = move || rng.next();
        let mut found = 0;
        for _ in 0..2000 {
            let mut slots = [Slot::EMPTY; 64];
            let mut memory = SlotMemory::new(BASE, &mut slots).unwrap();
            let (radix, inner_radix) = (1 + next() % 5, 1 + next() % 4);
            let (guard_bits, inner_guard_bits) = (next() % 40, next() % 30);
            let (guard, inner_guard) = (next(), next());
            let root = cnode(BASE, radix, guard_bits, guard);
            let inner_table = BASE + 32 * SLOT_BYTES;
            let inner = cnode(inner_table, inner_radix, inner_guard_bits, inner_guard);
            for i in 0..(1u64 << radix) {
                let cap = match next() % 4 {
                    0 => inner,
                    1 => Cap::NULL,
                    _ => endpoint(0x10_0000 + i * 16),
                };
                put(&mut memory, SlotAddr(BASE + i * SLOT_BYTES), cap);
            }
            for i in 0..(1u64 << inner_radix) {
                let cap = if next().is_multiple_of(3) {
                    Cap::NULL
                } else {
                    endpoint(0x20_0000 + i * 16)
                };
                put(&mut memory, SlotAddr(inner_table + i * SLOT_BYTES), cap);
            }
            for _ in 0..16 {
                // Mostly the guard and a random index at the top, the
                // inner level's guard and index next, random low bits.
                let mut address = next();
                if !next().is_multiple_of(4) {
                    let top =
                        ((guard & ((1 << guard_bits) - 1)) << radix) | (next() % (1 << radix));
                    let level = guard_bits + radix;
                    address = top << (64 - level) | (address >> level);
                    if next().is_multiple_of(2) && level + inner_guard_bits + inner_radix <= 64 {
                        let inner_level = inner_guard_bits + inner_radix;
                        let field = ((inner_guard & ((1 << inner_guard_bits) - 1)) << inner_radix)
                            | (next() % (1 << inner_radix));
                        let shift = 64 - level - inner_level;
                        let keep = address & !(u64::MAX >> level);
                        address = keep | field << shift | (next() & ((1 << shift) - 1));
                    }
                }
                let full = lookup_cap(&memory, root, address).ok().map(|(_, cap)| cap);
                assert_eq!(lookup_fast(&memory, root, address), full, "{address:#x}");
                found += usize::from(full.is_some());
            }
        }
        assert!(found > 5000, "too few lookups found a cap: {found}");
    }

    #[test]
    fn slot_addresses_are_non_zero_and_aligned() {
        assert_eq!(SlotAddr::new(0), None);
        assert_eq!(SlotAddr::new(0x1010), None);
        assert_eq!(SlotAddr::new(0x1020).map(SlotAddr::get), Some(0x1020));
    }

    #[test]
    fn a_window_must_start_at_a_slot_address_and_fit() {
        let mut slots = [Slot::EMPTY; 4];
        assert!(SlotMemory::new(0, &mut slots).is_none());
        assert!(SlotMemory::new(0x18, &mut slots).is_none());
        assert!(SlotMemory::new(u64::MAX - 63, &mut slots).is_none());
        let memory = SlotMemory::new(BASE, &mut slots).unwrap();
        assert_eq!(memory.len(), 4);
        assert!(memory.covers(BASE, 128));
        assert!(!memory.covers(BASE, 129));
        assert!(!memory.covers(BASE - 32, 32));
        assert!(!memory.covers(u64::MAX, 2));
        assert_eq!(memory.get(SlotAddr(BASE + 128)), None);
    }

    #[test]
    fn tables_outside_the_window_or_with_bad_radix_are_refused() {
        let mut slots = [Slot::EMPTY; 8];
        let memory = SlotMemory::new(BASE, &mut slots).unwrap();
        let inside = CNodeCap::new(BASE, 3, 0, 0).unwrap();
        assert!(memory.table(inside).is_some());
        let too_big = CNodeCap::new(BASE, 4, 0, 0).unwrap();
        assert_eq!(memory.table(too_big), None);
        let radix_zero = CNodeCap::new(BASE, 0, 0, 0).unwrap();
        assert_eq!(Table::of(radix_zero), None);
        let at_zero = CNodeCap::new(0, 1, 0, 0).unwrap();
        assert_eq!(Table::of(at_zero), None);
    }

    /// A root CNode of 16 slots with a 4-bit guard 0b1010, and in its slot 3
    /// a CNode of 4 slots with a 2-bit guard 0b01.
    fn two_levels(slots: &mut [Slot; 32]) -> (SlotMemory<'_>, Cap) {
        let mut memory = SlotMemory::new(BASE, slots).unwrap();
        let root = cnode(BASE, 4, 4, 0b1010);
        let inner_table = BASE + 16 * SLOT_BYTES;
        put(
            &mut memory,
            SlotAddr(BASE + 3 * 32),
            cnode(inner_table, 2, 2, 0b01),
        );
        put(&mut memory, SlotAddr(BASE + 5 * 32), endpoint(0x8000));
        put(
            &mut memory,
            SlotAddr(inner_table + 2 * 32),
            endpoint(0x9000),
        );
        (memory, root)
    }

    #[test]
    fn one_level_with_a_guard() {
        let mut slots = [Slot::EMPTY; 32];
        let (memory, root) = two_levels(&mut slots);
        // guard 1010, index 0101: slot 5.
        assert_eq!(
            lookup_slot(&memory, root, 0b1010_0101, 8),
            Ok(SlotAddr(BASE + 5 * 32))
        );
        // A cap lookup resolves all 64 bits: the guard is the top 4.
        assert_eq!(
            lookup_cap(&memory, root, 0b1010_0101 << 56),
            Ok((SlotAddr(BASE + 5 * 32), endpoint(0x8000)))
        );
        assert_eq!(
            lookup_cap(&memory, root, 0b1010_0101),
            Err(LookupError::GuardMismatch {
                bits_left: 64,
                guard_found: 0b1010,
                bits_found: 4
            })
        );
    }

    #[test]
    fn two_levels_with_guards() {
        let mut slots = [Slot::EMPTY; 32];
        let (memory, root) = two_levels(&mut slots);
        // 1010 0011 | 01 10: root slot 3, then guard 01 and index 2.
        let address = 0b1010_0011_01_10;
        assert_eq!(
            lookup_slot(&memory, root, address, 12),
            Ok(SlotAddr(BASE + 16 * 32 + 2 * 32))
        );
        // Stopping after the first level names the CNode cap's own slot.
        assert_eq!(
            lookup_slot(&memory, root, 0b1010_0011, 8),
            Ok(SlotAddr(BASE + 3 * 32))
        );
    }

    #[test]
    fn guard_mismatches_report_the_guard_and_the_bits_left() {
        let mut slots = [Slot::EMPTY; 32];
        let (memory, root) = two_levels(&mut slots);
        assert_eq!(
            lookup_slot(&memory, root, 0b1011_0101, 8),
            Err(LookupError::GuardMismatch {
                bits_left: 8,
                guard_found: 0b1010,
                bits_found: 4
            })
        );
        // Second level: guard 11 instead of 01.
        assert_eq!(
            lookup_slot(&memory, root, 0b1010_0011_11_10, 12),
            Err(LookupError::GuardMismatch {
                bits_left: 4,
                guard_found: 0b01,
                bits_found: 2
            })
        );
        // Fewer bits than the guard.
        assert_eq!(
            lookup_slot(&memory, root, 0b101, 3),
            Err(LookupError::GuardMismatch {
                bits_left: 3,
                guard_found: 0b1010,
                bits_found: 4
            })
        );
    }

    #[test]
    fn depth_mismatches() {
        let mut slots = [Slot::EMPTY; 32];
        let (memory, root) = two_levels(&mut slots);
        // The guard fits but not the radix.
        assert_eq!(
            lookup_slot(&memory, root, 0b1010_01, 6),
            Err(LookupError::DepthMismatch {
                bits_left: 6,
                bits_found: 8
            })
        );
        // Slot 5 holds an endpoint: 4 bits are left over.
        assert_eq!(
            lookup_slot(&memory, root, 0b1010_0101_0000, 12),
            Err(LookupError::DepthMismatch {
                bits_left: 4,
                bits_found: 0
            })
        );
        // An empty slot ends the path too.
        assert_eq!(
            lookup_slot(&memory, root, 0b1010_0110_0000, 12),
            Err(LookupError::DepthMismatch {
                bits_left: 4,
                bits_found: 0
            })
        );
        for depth in [0, 65, 255] {
            assert_eq!(
                resolve(&memory, root, 0, depth),
                Err(LookupError::DepthOutOfRange { depth })
            );
        }
        assert_eq!(
            lookup_slot(&memory, root, 0, 0),
            Err(LookupError::DepthOutOfRange { depth: 0 })
        );
    }

    #[test]
    fn roots_must_be_cnodes_in_slot_memory() {
        let mut slots = [Slot::EMPTY; 32];
        let (memory, _) = two_levels(&mut slots);
        assert_eq!(
            lookup_slot(&memory, endpoint(0x8000), 0, 8),
            Err(LookupError::InvalidRoot)
        );
        assert_eq!(
            lookup_slot(&memory, Cap::NULL, 0, 8),
            Err(LookupError::InvalidRoot)
        );
        assert_eq!(
            lookup_slot(&memory, cnode(0x20_0000, 4, 0, 0), 0, 4),
            Err(LookupError::InvalidRoot)
        );
    }

    #[test]
    fn cap_lookup_resolves_all_64_bits_and_stops_at_a_non_cnode() {
        let mut slots = [Slot::EMPTY; 32];
        let (memory, _) = two_levels(&mut slots);
        // A root whose guard takes the 60 high bits: small addresses work.
        let root = cnode(BASE, 4, 60, 0);
        assert_eq!(
            lookup_cap(&memory, root, 5),
            Ok((SlotAddr(BASE + 5 * 32), endpoint(0x8000)))
        );
        assert_eq!(
            lookup_cap(&memory, root, 6),
            Err(LookupError::MissingCapability { bits_left: 0 })
        );
        // Slot 3 is a CNode with a 2-bit guard and radix 2; with the root's
        // guard at 56 bits, 4 bits are left for it: guard 01, index 2.
        let root = cnode(BASE, 4, 56, 0);
        assert_eq!(
            lookup_cap(&memory, root, 0b0011_01_10),
            Ok((SlotAddr(BASE + 16 * 32 + 2 * 32), endpoint(0x9000)))
        );
        // Slot 5 is an endpoint: the 4 unused bits do not matter.
        assert_eq!(
            lookup_cap(&memory, root, 0b0101_1111).map(|(_, cap)| cap),
            Ok(endpoint(0x8000))
        );
    }

    #[test]
    fn clearing_a_table_empties_exactly_its_slots() {
        let mut slots = [Slot::EMPTY; 32];
        let (mut memory, _) = two_levels(&mut slots);
        let inner = CNodeCap::new(BASE + 16 * 32, 2, 0, 0).unwrap();
        let table = memory.table(inner).unwrap();
        assert!(memory.clear_table(table));
        assert_eq!(
            memory.cap(SlotAddr(BASE + 16 * 32 + 2 * 32)),
            Some(Cap::NULL)
        );
        assert_eq!(memory.cap(SlotAddr(BASE + 5 * 32)), Some(endpoint(0x8000)));
        let outside = Table {
            first: SlotAddr(BASE + 30 * 32),
            radix: 2,
            count: 4,
        };
        assert!(!memory.clear_table(outside));
        assert_eq!(table.index_of(SlotAddr(BASE + 17 * 32)), Some(1));
        assert_eq!(table.index_of(SlotAddr(BASE + 20 * 32)), None);
        assert_eq!(table.index_of(SlotAddr(BASE)), None);
        assert_eq!(table.slot(4), None);
    }
}
