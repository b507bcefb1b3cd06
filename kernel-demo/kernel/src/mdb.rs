//! The derivation tree ("mapping database"), kept as seL4 keeps it: every
//! slot links to the previous and the next slot of a doubly linked list in
//! depth-first order, so the descendants of a cap are the run of slots right
//! after it. Parenthood is not stored but computed from the two caps and
//! two bits per slot ([`is_parent_of`]).
//!
//! The bits are seL4's. *Revocable*: the slot may have children at all;
//! set for caps made by retype, for Untyped copies and for caps minted
//! with a new badge, clear for plain copies. *First badged*: the slot holds
//! the first cap with its badge, so later caps minted with the same badge
//! are not its children. Both live in the low bits of the links, which are
//! free because slots are 32-byte aligned.
//!
//! Everything here keeps the list consistent: a slot is in it exactly when
//! it holds a cap, and `next.prev` and `prev.next` always point back. The
//! functions that change the list are for `ops`; they check every slot
//! they will touch before writing any.

use crate::caps::{Cap, KernelError, badge_of, is_ancestor, same_object};
use crate::cspace::{Removal, SLOT_BYTES, Slot, SlotAddr, SlotMemory};

/// The derivation links of a slot: two words, the previous and the next
/// slot's address (0: none), with the revocable bit in bit 0 of the first
/// and the first-badged bit in bit 0 of the second.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MdbNode {
    prev: u64,
    next: u64,
}

const FLAG: u64 = 1;
const ADDRESS: u64 = !(SLOT_BYTES - 1);

impl MdbNode {
    /// No links, no bits: the links of an empty slot.
    pub const EMPTY: MdbNode = MdbNode { prev: 0, next: 0 };

    const fn new(
        prev: Option<SlotAddr>,
        next: Option<SlotAddr>,
        revocable: bool,
        first_badged: bool,
    ) -> MdbNode {
        MdbNode {
            prev: link(prev) | revocable as u64,
            next: link(next) | first_badged as u64,
        }
    }

    /// The slot before this one in depth-first order.
    pub const fn prev(self) -> Option<SlotAddr> {
        SlotAddr::new(self.prev & ADDRESS)
    }

    /// The slot after this one in depth-first order.
    pub const fn next(self) -> Option<SlotAddr> {
        SlotAddr::new(self.next & ADDRESS)
    }

    /// Whether the cap may have children.
    pub const fn is_revocable(self) -> bool {
        self.prev & FLAG != 0
    }

    /// Whether the cap is the first with its badge.
    pub const fn is_first_badged(self) -> bool {
        self.next & FLAG != 0
    }

    const fn with_prev(self, prev: Option<SlotAddr>) -> MdbNode {
        MdbNode {
            prev: link(prev) | (self.prev & FLAG),
            next: self.next,
        }
    }

    const fn with_next(self, next: Option<SlotAddr>) -> MdbNode {
        MdbNode {
            prev: self.prev,
            next: link(next) | (self.next & FLAG),
        }
    }

    /// The node, marked first with its badge.
    const fn marked_first_badged(self) -> MdbNode {
        MdbNode {
            prev: self.prev,
            next: self.next | FLAG,
        }
    }
}

const fn link(slot: Option<SlotAddr>) -> u64 {
    match slot {
        Some(slot) => slot.get(),
        None => 0,
    }
}

/// Whether `child`, somewhere after `parent` in the list with only
/// `parent`'s descendants in between, is one of its descendants (seL4's
/// `isMDBParentOf`). Only a revocable cap has descendants. Then:
/// - the generated `is_ancestor` decides for other objects: those inside an
///   Untyped's region, and badged caps minted from an unbadged one;
/// - caps to the same object are descendants of an unbadged cap (its copies,
///   and for an Untyped also a same-size Untyped retyped from it), and of a
///   badged cap when they carry its badge and are not themselves the first
///   with it (copies of it, not a fresh mint with the same badge).
pub fn is_parent_of(parent: &Slot, child: &Slot) -> bool {
    let (p, c) = (parent.cap(), child.cap());
    if !parent.links().is_revocable() || p.is_null() || c.is_null() {
        return false;
    }
    if is_ancestor(p, c) {
        return true;
    }
    if !same_object(p, c) {
        return false;
    }
    match badge_of(p) {
        Some(badge) if badge != 0 => badge_of(c) == Some(badge) && !child.links().is_first_badged(),
        _ => true,
    }
}

/// The slot after `at` in the list, if there is one.
pub fn next_of(memory: &SlotMemory<'_>, at: SlotAddr) -> Option<SlotAddr> {
    memory.get(at)?.links().next()
}

/// Whether the cap at `at` has descendants: the next slot is its child.
pub fn has_children(memory: &SlotMemory<'_>, at: SlotAddr) -> bool {
    let Some(slot) = memory.get(at) else {
        return false;
    };
    slot.links()
        .next()
        .and_then(|next| memory.get(next))
        .is_some_and(|next| is_parent_of(slot, next))
}

/// Whether the cap at `at` is the last one to its object. Caps to one
/// object are neighbours in the list (every cap to an object is derived
/// from the cap retype made, and derived caps go right after their
/// source), so only the two neighbours need a look. False for an empty
/// slot.
pub fn is_final(memory: &SlotMemory<'_>, at: SlotAddr) -> bool {
    let Some(slot) = memory.get(at).filter(|s| !s.is_empty()) else {
        return false;
    };
    let names_same_object = |neighbour: Option<SlotAddr>| {
        neighbour
            .and_then(|n| memory.get(n))
            .is_some_and(|n| same_object(n.cap(), slot.cap()))
    };
    !names_same_object(slot.links().prev()) && !names_same_object(slot.links().next())
}

/// Whether the cap at `at` carries a badge and no other cap to the same
/// object carries it. The caps to one object are one run of the list (every
/// cap to an object is derived from the cap retype made, and a derived cap
/// goes right after its source), so the run on either side is all there is
/// to look at; an independent mint of the same badge is in it too.
pub fn is_last_with_badge(memory: &SlotMemory<'_>, at: SlotAddr) -> bool {
    let Some(slot) = memory.get(at).filter(|s| !s.is_empty()) else {
        return false;
    };
    let badge = badge_of(slot.cap()).unwrap_or(0);
    if badge == 0 {
        return false;
    }
    // Walks one way along the run of caps to the same object: whether one
    // of them has the badge. The window bounds the walk.
    let another_in = |step: fn(&Slot) -> Option<SlotAddr>| {
        let mut cursor = step(slot);
        for _ in 0..memory.len() {
            let Some(other) = cursor.and_then(|c| memory.get(c)) else {
                return false;
            };
            if !same_object(other.cap(), slot.cap()) {
                return false;
            }
            if badge_of(other.cap()) == Some(badge) {
                return true;
            }
            cursor = step(other);
        }
        false
    };
    !another_in(|s| s.links().prev()) && !another_in(|s| s.links().next())
}

/// The descendants of the cap at `at`, in list order.
pub fn descendants<'a>(
    memory: &'a SlotMemory<'_>,
    at: SlotAddr,
) -> impl Iterator<Item = SlotAddr> + 'a {
    let parent = memory.get(at).copied().unwrap_or(Slot::EMPTY);
    let mut next = parent.links().next();
    // The list has at most one node per slot: a longer walk means a cycle.
    let mut budget = memory.len();
    core::iter::from_fn(move || {
        let slot = next?;
        let child = memory.get(slot)?;
        budget = budget.checked_sub(1)?;
        if !is_parent_of(&parent, child) {
            return None;
        }
        next = child.links().next();
        Some(slot)
    })
}

/// Puts `cap` into the empty slot `at` as the root of a list of its own,
/// revocable and first badged: how the boot code hands out the caps it
/// starts with (the Untyped inventory, the root CNode).
pub fn insert_root(memory: &mut SlotMemory<'_>, at: SlotAddr, cap: Cap) -> Result<(), KernelError> {
    let slot = memory
        .get_mut(at)
        .ok_or(KernelError::FailedLookup { source: 0 })?;
    put_root(slot, cap)
}

/// [`insert_root`] on a slot already found: `cap` goes into the empty
/// `slot` with no links, so that no other slot changes.
pub fn put_root(slot: &mut Slot, cap: Cap) -> Result<(), KernelError> {
    if !slot.is_empty() {
        return Err(KernelError::DeleteFirst);
    }
    if cap.is_null() {
        return Err(KernelError::IllegalOperation);
    }
    *slot = Slot {
        cap,
        links: MdbNode::new(None, None, true, true),
    };
    Ok(())
}

/// Empties `slot` if its cap is alone in the derivation list (no slot
/// before or after it, so no parent, no child and no copy): what deleting
/// it does when nothing finalises it, touching no other slot. False, and
/// nothing changed, otherwise.
pub fn take_root(slot: &mut Slot) -> bool {
    if slot.is_empty() || slot.links.prev().is_some() || slot.links.next().is_some() {
        return false;
    }
    *slot = Slot::EMPTY;
    true
}

fn set_prev(memory: &mut SlotMemory<'_>, at: Option<SlotAddr>, prev: Option<SlotAddr>) {
    if let Some(slot) = at.and_then(|at| memory.get_mut(at)) {
        slot.links = slot.links.with_prev(prev);
    }
}

fn set_next(memory: &mut SlotMemory<'_>, at: Option<SlotAddr>, next: Option<SlotAddr>) {
    if let Some(slot) = at.and_then(|at| memory.get_mut(at)) {
        slot.links = slot.links.with_next(next);
    }
}

/// Whether `link` is none or a slot of the window holding a cap.
fn is_valid_link(memory: &SlotMemory<'_>, link: Option<SlotAddr>) -> bool {
    link.is_none_or(|at| memory.get(at).is_some_and(|s| !s.is_empty()))
}

/// Puts `cap` into the empty slot `new`, right after `source` in the list.
/// False (and nothing changed) unless `source` holds a cap, `new` is an
/// empty slot and the links around `source` are sound.
pub(crate) fn insert_after(
    memory: &mut SlotMemory<'_>,
    source: SlotAddr,
    new: SlotAddr,
    cap: Cap,
    revocable: bool,
    first_badged: bool,
) -> bool {
    let Some(src) = memory.get(source).copied() else {
        return false;
    };
    let next = src.links().next();
    if src.is_empty()
        || cap.is_null()
        || !memory.get(new).is_some_and(Slot::is_empty)
        || !is_valid_link(memory, next)
    {
        return false;
    }
    if let Some(slot) = memory.get_mut(new) {
        *slot = Slot {
            cap,
            links: MdbNode::new(Some(source), next, revocable, first_badged),
        };
    }
    set_next(memory, Some(source), Some(new));
    set_prev(memory, next, Some(new));
    true
}

/// Takes the cap out of `at` and the slot out of the list; `None` (and
/// nothing changed) if `at` is empty or its links are unsound.
pub(crate) fn unlink(memory: &mut SlotMemory<'_>, at: SlotAddr) -> Option<Cap> {
    let slot = memory.get(at).copied()?;
    let last = is_final(memory, at);
    let last_with_badge = is_last_with_badge(memory, at);
    let (prev, next) = (slot.links().prev(), slot.links().next());
    if slot.is_empty() || !is_valid_link(memory, prev) || !is_valid_link(memory, next) {
        return None;
    }
    set_next(memory, prev, next);
    set_prev(memory, next, prev);
    // As seL4's `emptySlot`: the next cap inherits "first with its badge",
    // so a badged copy left behind is never taken for the child of a later
    // mint with the same badge.
    if slot.links().is_first_badged()
        && let Some(next) = next.and_then(|n| memory.get_mut(n))
    {
        next.links = next.links.marked_first_badged();
    }
    *memory.get_mut(at)? = Slot::EMPTY;
    memory.removed(Removal {
        cap: slot.cap(),
        last,
        last_with_badge,
    });
    Some(slot.cap())
}

/// Moves the cap at `from` with its links and bits to the empty slot `to`,
/// keeping its place in the list. False (and nothing changed) unless
/// `from` holds a cap, `to` is empty and the links are sound.
pub(crate) fn relocate(memory: &mut SlotMemory<'_>, from: SlotAddr, to: SlotAddr) -> bool {
    let Some(slot) = memory.get(from).copied() else {
        return false;
    };
    let (prev, next) = (slot.links().prev(), slot.links().next());
    if slot.is_empty()
        || !memory.get(to).is_some_and(Slot::is_empty)
        || !is_valid_link(memory, prev)
        || !is_valid_link(memory, next)
    {
        return false;
    }
    if let Some(target) = memory.get_mut(to) {
        *target = slot;
    }
    if let Some(source) = memory.get_mut(from) {
        *source = Slot::EMPTY;
    }
    set_next(memory, prev, Some(to));
    set_prev(memory, next, Some(to));
    true
}

/// Replaces the cap at `at`, which must hold one, keeping its links:
/// for a new watermark in an Untyped cap.
pub(crate) fn replace_cap(memory: &mut SlotMemory<'_>, at: SlotAddr, cap: Cap) -> bool {
    match memory.get_mut(at) {
        Some(slot) if !slot.is_empty() && !cap.is_null() => {
            slot.cap = cap;
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::{EndpointCap, Rights, UntypedCap};

    const BASE: u64 = 0x1_0000;

    fn at(i: u64) -> SlotAddr {
        SlotAddr::new(BASE + i * 32).unwrap()
    }

    fn endpoint(badge: u64) -> Cap {
        EndpointCap::new(0x8000, Rights::ALL, badge).unwrap().cap()
    }

    fn untyped(base: u64, bits: u8) -> Cap {
        UntypedCap::new(base, bits, 0, false).unwrap().cap()
    }

    /// The slots in list order from `head`.
    fn walk(memory: &SlotMemory<'_>, head: SlotAddr) -> Vec<SlotAddr> {
        let mut order = vec![head];
        while let Some(next) = next_of(memory, *order.last().unwrap()) {
            assert_eq!(
                memory.get(next).unwrap().links().prev(),
                order.last().copied()
            );
            order.push(next);
        }
        order
    }

    #[test]
    fn links_keep_their_flags_and_addresses_apart() {
        let node = MdbNode::new(Some(at(1)), Some(at(2)), true, false);
        assert_eq!((node.prev(), node.next()), (Some(at(1)), Some(at(2))));
        assert!(node.is_revocable() && !node.is_first_badged());
        let node = node.with_prev(None).with_next(Some(at(7)));
        assert_eq!((node.prev(), node.next()), (None, Some(at(7))));
        assert!(node.is_revocable() && !node.is_first_badged());
        assert_eq!(MdbNode::EMPTY.prev(), None);
    }

    #[test]
    fn insert_unlink_and_relocate_keep_the_list_consistent() {
        let mut slots = [Slot::EMPTY; 8];
        let mut memory = SlotMemory::new(BASE, &mut slots).unwrap();
        insert_root(&mut memory, at(0), untyped(0x10_0000, 20)).unwrap();
        assert!(insert_after(
            &mut memory,
            at(0),
            at(1),
            endpoint(0),
            true,
            true
        ));
        assert!(insert_after(
            &mut memory,
            at(0),
            at(2),
            endpoint(0),
            true,
            true
        ));
        assert_eq!(walk(&memory, at(0)), [at(0), at(2), at(1)]);
        // Occupied or missing targets change nothing.
        assert!(!insert_after(
            &mut memory,
            at(0),
            at(1),
            endpoint(0),
            true,
            true
        ));
        assert!(!insert_after(
            &mut memory,
            at(5),
            at(6),
            endpoint(0),
            true,
            true
        ));
        assert!(!insert_after(
            &mut memory,
            at(0),
            at(99),
            endpoint(0),
            true,
            true
        ));
        assert!(!insert_after(
            &mut memory,
            at(0),
            at(6),
            Cap::NULL,
            true,
            true
        ));
        assert!(relocate(&mut memory, at(2), at(5)));
        assert_eq!(walk(&memory, at(0)), [at(0), at(5), at(1)]);
        assert!(!relocate(&mut memory, at(2), at(6)));
        assert!(!relocate(&mut memory, at(5), at(1)));
        assert_eq!(unlink(&mut memory, at(5)), Some(endpoint(0)));
        assert_eq!(walk(&memory, at(0)), [at(0), at(1)]);
        assert_eq!(unlink(&mut memory, at(5)), None);
        assert_eq!(unlink(&mut memory, at(0)), Some(untyped(0x10_0000, 20)));
        assert_eq!(walk(&memory, at(1)), [at(1)]);
        assert_eq!(memory.get(at(1)).unwrap().links().prev(), None);
        assert!(replace_cap(&mut memory, at(1), endpoint(3)));
        assert!(!replace_cap(&mut memory, at(0), endpoint(3)));
    }

    #[test]
    fn root_insertion_needs_an_empty_slot_and_a_cap() {
        let mut slots = [Slot::EMPTY; 2];
        let mut memory = SlotMemory::new(BASE, &mut slots).unwrap();
        assert_eq!(
            insert_root(&mut memory, at(0), Cap::NULL),
            Err(KernelError::IllegalOperation)
        );
        insert_root(&mut memory, at(0), endpoint(0)).unwrap();
        assert_eq!(
            insert_root(&mut memory, at(0), endpoint(0)),
            Err(KernelError::DeleteFirst)
        );
        assert_eq!(
            insert_root(&mut memory, at(2), endpoint(0)),
            Err(KernelError::FailedLookup { source: 0 })
        );
    }

    #[test]
    fn parenthood_follows_sel4() {
        let slot = |cap, revocable, first_badged| Slot {
            cap,
            links: MdbNode::new(None, None, revocable, first_badged),
        };
        let original = slot(endpoint(0), true, true);
        let copy = slot(endpoint(0), false, false);
        let minted = slot(endpoint(7), true, true);
        let minted_copy = slot(endpoint(7), false, false);
        assert!(is_parent_of(&original, &copy));
        assert!(is_parent_of(&original, &minted));
        // A plain copy is not revocable: it has no children of its own.
        assert!(!is_parent_of(&copy, &copy));
        assert!(is_parent_of(&minted, &minted_copy));
        // A second mint with the same badge is not the first one's child.
        assert!(!is_parent_of(&minted, &slot(endpoint(7), true, true)));
        assert!(!is_parent_of(&minted, &slot(endpoint(8), false, false)));
        let region = slot(untyped(0x10_0000, 20), true, true);
        assert!(is_parent_of(
            &region,
            &slot(untyped(0x10_0000, 12), true, true)
        ));
        assert!(is_parent_of(
            &region,
            &slot(untyped(0x10_0000, 20), true, true)
        ));
        assert!(!is_parent_of(
            &region,
            &slot(untyped(0x20_0000, 12), true, true)
        ));
        assert!(!is_parent_of(&region, &Slot::EMPTY));
    }

    #[test]
    fn children_descendants_and_final_caps() {
        let mut slots = [Slot::EMPTY; 8];
        let mut memory = SlotMemory::new(BASE, &mut slots).unwrap();
        let ut = untyped(0x0, 16);
        insert_root(&mut memory, at(0), ut).unwrap();
        assert!(!has_children(&memory, at(0)));
        let ep = EndpointCap::new(0x100, Rights::ALL, 0).unwrap().cap();
        assert!(insert_after(&mut memory, at(0), at(1), ep, true, true));
        assert!(insert_after(&mut memory, at(1), at(2), ep, false, false));
        assert!(has_children(&memory, at(0)));
        assert!(has_children(&memory, at(1)));
        assert!(!has_children(&memory, at(2)));
        assert_eq!(
            descendants(&memory, at(0)).collect::<Vec<_>>(),
            [at(1), at(2)]
        );
        assert_eq!(descendants(&memory, at(1)).collect::<Vec<_>>(), [at(2)]);
        assert!(!is_final(&memory, at(1)) && !is_final(&memory, at(2)));
        assert!(is_final(&memory, at(0)));
        unlink(&mut memory, at(2));
        assert!(is_final(&memory, at(1)));
        assert!(!is_final(&memory, at(7)));
        assert!(!has_children(&memory, at(7)));
        assert_eq!(descendants(&memory, at(7)).count(), 0);
    }
}
