//! The capability operations, with seL4's semantics: copy, mint, move,
//! delete, revoke and retype, on slots already looked up (see
//! `cspace::lookup_slot`; `invoke` does both for a decoded invocation).
//!
//! Every operation checks all it needs before it changes anything, and
//! answers every input with a value: a bad slot address, an empty source
//! or an occupied destination is a [`KernelError`], never a panic. (A
//! broken derivation list, which these operations never leave behind,
//! stops a delete or revoke at the cap where it is found.) Where a
//! failed lookup is reported, `source` is 1 for the source slot and 0 for
//! the destination or target, as in seL4's `failedLookupWasSource`.
//!
//! Deleting the last cap to a CNode or a TCB deletes the caps it holds
//! first (seL4 finalises both the same way), without recursion: see
//! [`delete`]. Revoking an Untyped therefore leaves no cap in the memory
//! it will hand out again, and its next retype starts from its base.

use crate::caps::{
    self, CNodeCap, Cap, Destination, KernelError, ObjectType, Placement, RetypeError,
    RetypeRequest, Rights, UntypedCap, UntypedMemory, badge_of, may_copy,
};
use crate::cspace::{Slot, SlotAddr, SlotMemory, Table};
use crate::mdb::{
    has_children, insert_after, is_final, is_parent_of, next_of, relocate, replace_cap, unlink,
};

const SOURCE_LOOKUP: KernelError = KernelError::FailedLookup { source: 1 };
const TARGET_LOOKUP: KernelError = KernelError::FailedLookup { source: 0 };
/// A list link or a table that should be sound was not: nothing was
/// changed by the step that found it.
const INCONSISTENT: KernelError = KernelError::IllegalOperation;

/// Copies the cap at `source` into the empty slot `dest`, keeping only the
/// rights also in `rights`. The copy goes right after its source in the
/// derivation list.
///
/// Errors: `FailedLookup` for a slot outside slot memory or an empty
/// source, `DeleteFirst` for an occupied destination, `IllegalOperation`
/// for a `#[never_copy]` cap, `RevokeFirst` for an Untyped with children.
/// Copying an Untyped marks the source full (seL4 does the same): the two
/// caps cover the same memory, so until the copy is revoked only the copy
/// may be retyped.
pub fn copy(
    memory: &mut SlotMemory<'_>,
    source: SlotAddr,
    dest: SlotAddr,
    rights: Rights,
) -> Result<(), KernelError> {
    derive(memory, source, dest, rights, None)
}

/// Copies the caps a message carries into the receiver's slots, as seL4's
/// transferCaps derives them: `slots(memory, i)` looks up the `i`-th cap's
/// slot and the slot it goes into (after the copies before it); the
/// transfer stops at the first that is not there or may not be copied (a
/// full slot, a `#[never_copy]` cap, an Untyped with children). Returns how
/// many went.
pub fn transfer_caps(
    memory: &mut SlotMemory<'_>,
    count: usize,
    mut slots: impl FnMut(&SlotMemory<'_>, usize) -> Option<(SlotAddr, SlotAddr)>,
) -> usize {
    for i in 0..count {
        let Some((source, target)) = slots(memory, i) else {
            return i;
        };
        if copy(memory, source, target, Rights::ALL).is_err() {
            return i;
        }
    }
    count
}

/// seL4's CNode_Mutate: moves the cap in `source` to the empty slot `dest`
/// with `data` applied as `updateCapData(preserve = true)`: a cap with a
/// badge is `IllegalOperation`; a CNode cap gets the guard `data` gives (as
/// mint's word: the guard size in the low 6 bits, the guard above them; 0
/// clears the guard, as in seL4); any other cap moves as it is.
pub fn mutate(
    memory: &mut SlotMemory<'_>,
    source: SlotAddr,
    dest: SlotAddr,
    data: u64,
) -> Result<(), KernelError> {
    let cap = memory.cap(source).ok_or(SOURCE_LOOKUP)?;
    if cap.is_null() {
        return Err(SOURCE_LOOKUP);
    }
    if badge_of(cap).is_some() {
        return Err(KernelError::IllegalOperation);
    }
    let mutated = match CNodeCap::from_cap(cap) {
        Some(cnode) => with_guard(cnode, data)?,
        _ => cap,
    };
    move_cap(memory, source, dest)?;
    if mutated != cap {
        replace_cap(memory, dest, mutated);
    }
    Ok(())
}

/// The CNode cap `cnode` with the guard seL4's cap data `data` gives (for
/// mint and mutate, as seL4's updateCapData: the generated
/// `CNodeCap::with_cap_data`). `IllegalOperation` if guard and radix take
/// more than 64 bits.
fn with_guard(cnode: CNodeCap, data: u64) -> Result<Cap, KernelError> {
    cnode
        .with_cap_data(data)
        .map(CNodeCap::cap)
        .ok_or(KernelError::IllegalOperation)
}

/// `DeleteFirst` unless `dest` is an empty slot: seL4's ensureEmptySlot,
/// which its CNode invocations run on the destination before they look the
/// source up (`FailedLookup` for a slot outside slot memory).
pub fn ensure_empty(memory: &SlotMemory<'_>, dest: SlotAddr) -> Result<(), KernelError> {
    if memory.get(dest).ok_or(TARGET_LOOKUP)?.is_empty() {
        Ok(())
    } else {
        Err(KernelError::DeleteFirst)
    }
}

/// Like [`copy`], and also sets the badge of a badgeable cap that has none,
/// or the guard of a CNode cap (`badge` is then seL4's cap data: the guard
/// size in its low 6 bits, the guard above them: 0 clears it, as in seL4).
/// Minting a cap that already has a badge is `IllegalOperation`: a badge
/// is set once. A nonzero word on any other cap without a `#[badge]`
/// field is ignored (seL4's updateCapData). A cap minted with a new badge
/// is revocable: its copies are its children, and revoking it takes them
/// away.
pub fn mint(
    memory: &mut SlotMemory<'_>,
    source: SlotAddr,
    dest: SlotAddr,
    rights: Rights,
    badge: u64,
) -> Result<(), KernelError> {
    derive(memory, source, dest, rights, Some(badge))
}

fn derive(
    memory: &mut SlotMemory<'_>,
    source: SlotAddr,
    dest: SlotAddr,
    rights: Rights,
    badge: Option<u64>,
) -> Result<(), KernelError> {
    let src = memory.get(source).copied().ok_or(SOURCE_LOOKUP)?;
    if !memory.get(dest).ok_or(TARGET_LOOKUP)?.is_empty() {
        return Err(KernelError::DeleteFirst);
    }
    let cap = src.cap();
    if cap.is_null() {
        return Err(SOURCE_LOOKUP);
    }
    // The generated rule: no `#[never_copy]` cap, and no unmapped page
    // table cap (seL4's deriveCap; a table is linked into one place only,
    // through the one cap that maps it, so that its last cap unlinks it).
    if !may_copy(cap) {
        return Err(KernelError::IllegalOperation);
    }
    let untyped = UntypedCap::from_cap(cap).and_then(|_| UntypedMemory::of(cap));
    if untyped.is_some() && has_children(memory, source) {
        return Err(KernelError::RevokeFirst);
    }
    // As seL4's deriveCap: a copy of a cap whose mapping is its own (a
    // frame's) is not mapped anywhere, so that it can be mapped again.
    let mut derived = caps::derived(cap).with_rights_masked(rights);
    // A CNode cap has no badge: as in seL4, mint's word sets its guard
    // instead (guard size in the low 6 bits, the guard above them).
    if let (Some(data), Some(cnode)) = (badge, CNodeCap::from_cap(cap)) {
        derived = with_guard(cnode, data)?;
        return insert_derived(memory, source, dest, derived, false);
    }
    // seL4's updateCapData: a cap without a badge ignores mint's word; a
    // badged one cannot be given another (IllegalOperation).
    match (badge, badge_of(cap)) {
        (None, _) | (Some(_), None) => {}
        (Some(new), Some(0)) => {
            derived = derived
                .with_badge(new)
                .map_err(|_| KernelError::IllegalOperation)?;
        }
        (Some(_), _) => return Err(KernelError::IllegalOperation),
    }
    // seL4's isCapRevocable: a new badge starts a subtree of its own, and an
    // Untyped copy is the parent of what is retyped from it.
    let revocable = untyped.is_some() || badge_of(derived) != badge_of(cap);
    let full_source = match untyped {
        Some(region) => Some(region.with_watermark(region.size).ok_or(INCONSISTENT)?),
        None => None,
    };
    insert_derived(memory, source, dest, derived, revocable)?;
    if let Some(full) = full_source {
        replace_cap(memory, source, full);
    }
    Ok(())
}

/// Puts `derived` into `dest`, right after `source` in the list.
fn insert_derived(
    memory: &mut SlotMemory<'_>,
    source: SlotAddr,
    dest: SlotAddr,
    derived: Cap,
    revocable: bool,
) -> Result<(), KernelError> {
    if insert_after(memory, source, dest, derived, revocable, revocable) {
        Ok(())
    } else {
        Err(INCONSISTENT)
    }
}

/// Moves the cap at `source` into the empty slot `dest`. It keeps its
/// place in the derivation tree and its bits: a moved child is still
/// revoked with its parent. Any cap may be moved, `#[never_copy]` ones too.
///
/// Errors: `FailedLookup` for a slot outside slot memory or an empty
/// source, `DeleteFirst` for an occupied destination.
pub fn move_cap(
    memory: &mut SlotMemory<'_>,
    source: SlotAddr,
    dest: SlotAddr,
) -> Result<(), KernelError> {
    let src = memory.get(source).copied().ok_or(SOURCE_LOOKUP)?;
    if !memory.get(dest).ok_or(TARGET_LOOKUP)?.is_empty() {
        return Err(KernelError::DeleteFirst);
    }
    if src.is_empty() {
        return Err(SOURCE_LOOKUP);
    }
    if !relocate(memory, source, dest) {
        return Err(INCONSISTENT);
    }
    Ok(())
}

/// What [`delete`] took away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deleted {
    /// The cap that was in the slot.
    pub cap: Cap,
    /// It was the last cap to its object (judged by the generated
    /// `same_object` on its neighbours): the object is gone.
    pub was_final: bool,
    /// Caps removed in all: 1, plus those held by CNodes that lost their
    /// last cap on the way.
    pub removed: u64,
}

/// Deletes the cap at `at`. Its descendants stay (revoke takes them);
/// deleting an empty slot does nothing and returns `None`.
///
/// When the cap is the last one to a CNode, the caps the CNode holds are
/// deleted first, and so on down: the kernel has no stack to recurse on,
/// so it walks from `at` down to a cap that can go now, removes it (and
/// the plain caps after it in the same table), and starts again from `at`,
/// which goes last. A cycle of CNodes holding each other's last caps
/// can only run through `at` itself (every CNode has one last cap, in one
/// slot), and `at` is never walked into, so the walk always ends.
///
/// Errors: `FailedLookup` for a slot outside slot memory.
pub fn delete(memory: &mut SlotMemory<'_>, at: SlotAddr) -> Result<Option<Deleted>, KernelError> {
    let slot = memory.get(at).copied().ok_or(TARGET_LOOKUP)?;
    if slot.is_empty() {
        return Ok(None);
    }
    let was_final = is_final(memory, at);
    let (removed, _) = delete_slot(memory, at, &mut || false)?;
    Ok(Some(Deleted {
        cap: slot.cap(),
        was_final,
        removed,
    }))
}

/// Deletes every descendant of the cap at `at` and returns how many caps
/// went (with those held by CNodes that lost their last cap). The cap
/// itself stays, unless it was held by one of those CNodes. Revoking an
/// empty slot does nothing.
///
/// Errors: `FailedLookup` for a slot outside slot memory.
pub fn revoke(memory: &mut SlotMemory<'_>, at: SlotAddr) -> Result<u64, KernelError> {
    match revoke_preemptible(memory, at, &mut || false)? {
        Revoked::All(removed) | Revoked::Preempted(removed) => Ok(removed),
    }
}

/// How far a [`revoke_preemptible`] got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revoked {
    /// Every descendant went: this many caps.
    All(u64),
    /// Stopped at a preemption point after removing this many caps; the
    /// derivation tree is sound, and revoking again goes on from there.
    Preempted(u64),
}

/// [`revoke`] with a preemption point after every cap it removes (seL4's
/// `preemptionPoint` in `cteRevoke` and `finaliseSlot`): when `preempt`
/// says so, it stops there. Each step removes one cap through the same
/// unlink as an uninterrupted revoke, so what is left is what a revoke
/// stopped by an error would leave, and a revoke of the same slot later
/// finishes the work: the system call is restarted (the kernel's way of
/// letting an interrupt in), so that no revoke holds the CPU for longer
/// than one cap's removal and finalisation.
pub fn revoke_preemptible(
    memory: &mut SlotMemory<'_>,
    at: SlotAddr,
    preempt: &mut dyn FnMut() -> bool,
) -> Result<Revoked, KernelError> {
    let revoked = memory.get(at).copied().ok_or(TARGET_LOOKUP)?;
    let mut removed = 0;
    // Every round removes at least one cap.
    for _ in 0..=memory.len() {
        let Some(parent) = memory.get(at).copied().filter(|s| s.cap() == revoked.cap()) else {
            return Ok(Revoked::All(removed));
        };
        match next_of(memory, at) {
            Some(next) if memory.get(next).is_some_and(|n| is_parent_of(&parent, n)) => {
                let (count, done) = delete_slot(memory, next, preempt)?;
                removed += count;
                if !done || preempt() {
                    return Ok(Revoked::Preempted(removed));
                }
            }
            _ => return Ok(Revoked::All(removed)),
        }
    }
    Err(INCONSISTENT)
}

/// Removes the cap at `target` and, first, every cap in the CNodes whose
/// last cap is being removed (see [`delete`]). Returns the caps removed,
/// and whether `target` went: with a preemption point (`preempt`) after
/// each cap removed before it, it may stop early, leaving `target` and the
/// caps not yet reached.
fn delete_slot(
    memory: &mut SlotMemory<'_>,
    target: SlotAddr,
    preempt: &mut dyn FnMut() -> bool,
) -> Result<(u64, bool), KernelError> {
    let mut removed = 0;
    // Every round removes at least one cap, so the window bounds the rounds.
    for _ in 0..=memory.len() {
        let (leaf, table) = descend(memory, target);
        unlink(memory, leaf).ok_or(INCONSISTENT)?;
        removed += 1;
        if leaf == target {
            return Ok((removed, true));
        }
        if preempt() {
            return Ok((removed, false));
        }
        // The slots after `leaf` in its table: remove them too while none
        // needs a walk of its own, instead of walking down again for each.
        let Some(table) = table else { continue };
        let next = table.index_of(leaf).map_or(table.slot_count(), |i| i + 1);
        for slot in (next..table.slot_count()).filter_map(|i| table.slot(i)) {
            if slot == target || memory.get(slot).is_none_or(Slot::is_empty) {
                continue;
            }
            if blocking_slot(memory, slot, target).is_some() {
                break;
            }
            unlink(memory, slot).ok_or(INCONSISTENT)?;
            removed += 1;
            if preempt() {
                return Ok((removed, false));
            }
        }
    }
    Err(INCONSISTENT)
}

/// From `target` down to a cap that can be removed now: while the slot
/// reached holds the last cap to a CNode that still holds caps (other than
/// `target`), go to the first of them. Returns the slot and the table it
/// was found in (`None` for `target` itself).
fn descend(memory: &SlotMemory<'_>, target: SlotAddr) -> (SlotAddr, Option<Table>) {
    let (mut at, mut table) = (target, None);
    // No slot is visited twice (see `delete`); the bound is for safety.
    for _ in 0..memory.len() {
        match blocking_slot(memory, at, target) {
            Some((inner_table, inner)) => (at, table) = (inner, Some(inner_table)),
            None => break,
        }
    }
    (at, table)
}

/// The slots the object `cap` names holds: a CNode's table, a TCB's own
/// slots; `None` for objects without slots.
pub fn held_slots(memory: &SlotMemory<'_>, cap: Cap) -> Option<Table> {
    match CNodeCap::from_cap(cap) {
        Some(cnode) => memory.table(cnode),
        None => crate::tcb::slots_of(cap).filter(|t| memory.covers(t.first().get(), t.bytes())),
    }
}

/// If `at` holds the last cap to an object that holds slots (a CNode, a
/// TCB), the object's first slot other than `target` that holds a cap,
/// with the object's slots.
fn blocking_slot(
    memory: &SlotMemory<'_>,
    at: SlotAddr,
    target: SlotAddr,
) -> Option<(Table, SlotAddr)> {
    let table = held_slots(memory, memory.cap(at)?)?;
    if !is_final(memory, at) {
        return None;
    }
    memory
        .first_occupied(table, target)
        .map(|slot| (table, slot))
}

/// The kernel error a refused retype is reported as. A failed lookup of
/// the destination CNode is the destination's (`source: 0`).
pub fn retype_error(error: RetypeError) -> KernelError {
    match error {
        RetypeError::InvalidArgument { index } => KernelError::InvalidArgument { index },
        RetypeError::RangeError { min, max } => KernelError::RangeError { min, max },
        RetypeError::NotEnoughMemory { left } => KernelError::NotEnoughMemory { left },
        RetypeError::DeleteFirst => KernelError::DeleteFirst,
        RetypeError::FailedLookup => TARGET_LOOKUP,
        RetypeError::IllegalOperation => KernelError::IllegalOperation,
        RetypeError::TruncatedMessage => KernelError::TruncatedMessage,
    }
}

/// Retypes the Untyped at `untyped`: checks the call with the generated
/// `retype` (its checks and their order are documented there), then puts
/// a cap to each new object into the destination slots as children of the
/// Untyped, in slot order, and stores the Untyped's new watermark.
///
/// `dest` is the destination CNode as the caller's lookup found it (`None`
/// when that failed or found no CNode). Whether the Untyped has children
/// comes from the derivation tree: without them its watermark is taken as
/// 0 (`Placement::reset`), since nothing made from it is left. New CNodes
/// get empty slots; zeroing other new objects is for their own code.
///
/// Errors besides the generated `retype`'s (see [`retype_error`]):
/// `FailedLookup { source: 1 }` for an Untyped slot outside slot memory,
/// `FailedLookup { source: 0 }` for a destination CNode outside it, and
/// `InvalidArgument { index: 0 }` for CNodes that would lie outside slot
/// memory (this memory cannot become CNodes).
pub fn retype(
    memory: &mut SlotMemory<'_>,
    untyped: SlotAddr,
    request: &RetypeRequest,
    dest: Option<CNodeCap>,
) -> Result<Placement, KernelError> {
    let source = memory.get(untyped).copied().ok_or(SOURCE_LOOKUP)?;
    let has_children = has_children(memory, untyped);
    let table = dest.and_then(|cnode| memory.table(cnode));
    let destination = table.map(|t| Destination {
        slots: t.slot_count(),
    });
    let slot_is_empty = |index: u64| {
        table
            .and_then(|t| t.slot(index))
            .and_then(|slot| memory.get(slot))
            .is_some_and(Slot::is_empty)
    };
    let placement = caps::retype(
        source.cap(),
        has_children,
        request,
        destination,
        slot_is_empty,
    )
    .map_err(retype_error)?;
    let device = UntypedMemory::of(source.cap()).is_some_and(|m| m.device);
    let table = table.ok_or(TARGET_LOOKUP)?;

    // Everything that can fail, before anything changes. CNodes and TCBs
    // hold slots, which retype empties: they must not overwrite a live one.
    if placement.object_type == ObjectType::CNode || !placement.object_type.owned_slots().is_empty()
    {
        let start = placement.first;
        let len = 1u64
            .checked_shl(placement.size_bits)
            .and_then(|bytes| bytes.checked_mul(placement.count))
            .ok_or(INCONSISTENT)?;
        if placement.object_type == ObjectType::CNode && !memory.covers(start, len) {
            return Err(KernelError::InvalidArgument { index: 0 });
        }
        // Free memory holds no live slot; refuse rather than overwrite one.
        let overlaps = |addr: u64, bytes: u64| {
            addr < start.saturating_add(len) && start < addr.saturating_add(bytes)
        };
        if overlaps(untyped.get(), 1) || overlaps(table.first().get(), table.bytes()) {
            return Err(INCONSISTENT);
        }
    }
    for i in 0..placement.count {
        new_object(&placement, device, table, i).ok_or(INCONSISTENT)?;
    }

    replace_cap(memory, untyped, placement.updated_source);
    // Each insertion goes right after the Untyped, as seL4's
    // createNewObjects does: the last object made ends up first in the
    // list, and is the first a revoke of the Untyped deletes.
    for i in 0..placement.count {
        let (cap, slot) = new_object(&placement, device, table, i).ok_or(INCONSISTENT)?;
        // An object outside the window (only in host tests) has no owned
        // slots: a TCB there cannot be configured.
        if let Some(new_table) = CNodeCap::from_cap(cap)
            .and_then(Table::of)
            .or_else(|| crate::tcb::slots_of(cap))
        {
            memory.clear_table(new_table);
        }
        if !insert_after(memory, untyped, slot, cap, true, true) {
            return Err(INCONSISTENT);
        }
    }
    Ok(placement)
}

/// The first step of making the root task, before any CNode exists: the
/// root CNode of `2^radix` slots is retyped from `untyped` with the
/// generated `retype` like any other object, then the Untyped's cap (its
/// watermark past the CNode) goes into slot `untyped_index` of that CNode
/// as a derivation root, and the CNode's own cap into slot `cnode_index`
/// as its child, with `guard_bits` zero guard bits (so that a thread whose
/// CSpace root it is names slot `i` by the address `i` at depth 64 when
/// `guard_bits + radix == 64`). From here on the root task holds both caps and the
/// derivation tree is as if it had retyped the CNode itself.
///
/// Errors: the generated `retype`'s (an Untyped too small), and
/// `InvalidArgument { index: 0 }` if the CNode would lie outside slot
/// memory or the two indices are equal or outside the CNode.
pub fn bootstrap_root_cnode(
    memory: &mut SlotMemory<'_>,
    untyped: UntypedCap,
    radix: u64,
    untyped_index: u64,
    cnode_index: u64,
    guard_bits: u64,
) -> Result<CNodeCap, KernelError> {
    let request = RetypeRequest {
        object_type: ObjectType::CNode as u64,
        size_arg: radix,
        offset: cnode_index,
        count: 1,
    };
    let destination = Destination {
        slots: 1u64.checked_shl(radix as u32).unwrap_or(0),
    };
    let placement = caps::retype(untyped.cap(), false, &request, Some(destination), |_| true)
        .map_err(retype_error)?;
    let invalid = KernelError::InvalidArgument { index: 0 };
    let mut cnode = placement
        .cap(0, false)
        .and_then(CNodeCap::from_cap)
        .ok_or(INCONSISTENT)?;
    u8::try_from(guard_bits)
        .ok()
        .and_then(|bits| cnode.set_guard_bits(bits).ok())
        .ok_or(invalid)?;
    let table = memory.table(cnode).ok_or(invalid)?;
    let (Some(untyped_slot), Some(cnode_slot)) =
        (table.slot(untyped_index), table.slot(cnode_index))
    else {
        return Err(invalid);
    };
    if untyped_index == cnode_index {
        return Err(invalid);
    }
    memory.clear_table(table);
    crate::mdb::insert_root(memory, untyped_slot, placement.updated_source)?;
    if !insert_after(memory, untyped_slot, cnode_slot, cnode.cap(), true, true) {
        return Err(INCONSISTENT);
    }
    Ok(cnode)
}

/// Replaces the cap at `at` with `cap`, a cap to the same object (a field
/// such as a frame's mapping changed); false, and nothing changed, if the
/// slot is empty or `cap` names another object.
pub fn update_cap(memory: &mut SlotMemory<'_>, at: SlotAddr, cap: Cap) -> bool {
    let same = memory
        .cap(at)
        .is_some_and(|old| !old.is_null() && caps::same_object(old, cap));
    same && replace_cap(memory, at, cap)
}

/// The cap to object `i` of a placement and the slot it goes in.
fn new_object(
    placement: &Placement,
    device: bool,
    table: Table,
    i: u64,
) -> Option<(Cap, SlotAddr)> {
    let cap = placement.cap(i, device)?;
    Some((cap, table.slot(placement.slot(i)?)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::{EndpointCap, FrameCap, IrqControlCap, NotificationCap, region};
    use crate::cspace::SLOT_BYTES;
    use crate::mdb::{self, descendants};
    use crate::model_check::{
        BASE, DEVICE_BASE, FAR_BASE, SLOTS, UNTYPED_BASE, UNTYPED_BITS, World, check_invariants,
        slot,
    };

    const R: Rights = Rights::READ;
    const W: Rights = Rights::WRITE;
    const G: Rights = Rights::GRANT;

    fn new_world(slots: &mut Vec<Slot>) -> World<'_> {
        *slots = vec![Slot::EMPTY; SLOTS];
        World::new(slots)
    }

    fn check(world: &World<'_>) {
        check_invariants(&world.memory, Table::of(world.root).unwrap()).unwrap();
    }

    fn watermark(cap: Cap) -> u64 {
        UntypedMemory::of(cap).unwrap().watermark
    }

    #[test]
    fn retype_copy_mint_move_delete_revoke() {
        let mut slots = Vec::new();
        let mut w = new_world(&mut slots);
        let m = &mut w.memory;
        let _ = m;
        // Retype: two endpoints into root slots 10 and 11.
        let placement = w.retype(0, ObjectType::Endpoint, 0, 10, 2).unwrap();
        assert_eq!((placement.first, placement.count), (UNTYPED_BASE, 2));
        assert!(placement.reset);
        assert_eq!(watermark(w.cap(0)), 32);
        let ep = EndpointCap::from_cap(w.cap(10)).unwrap();
        assert_eq!(
            (ep.endpoint(), ep.rights(), ep.badge()),
            (UNTYPED_BASE, Rights::ALL, 0)
        );
        assert_eq!(
            EndpointCap::from_cap(w.cap(11)).unwrap().endpoint(),
            UNTYPED_BASE + 16
        );
        // seL4's order: the last object made is first after the Untyped.
        let (u, e0, e1) = (slot(0), slot(10), slot(11));
        assert_eq!(descendants(&w.memory, u).collect::<Vec<_>>(), [e1, e0]);

        // Copy with fewer rights, then mint a badged, read-only cap.
        copy(&mut w.memory, e0, slot(12), R.union(W)).unwrap();
        assert_eq!(w.cap(12).rights(), R.union(W));
        mint(&mut w.memory, slot(12), slot(13), R.union(G), 7).unwrap();
        let minted = EndpointCap::from_cap(w.cap(13)).unwrap();
        assert_eq!((minted.rights(), minted.badge()), (R, 7));
        // The original endpoint cap is the parent of both.
        assert_eq!(
            descendants(&w.memory, e0).collect::<Vec<_>>(),
            [slot(12), slot(13)]
        );
        check(&w);

        // Move the badged cap: it keeps its place.
        move_cap(&mut w.memory, slot(13), slot(40)).unwrap();
        assert!(w.cap(13).is_null());
        assert_eq!(
            descendants(&w.memory, e0).collect::<Vec<_>>(),
            [slot(12), slot(40)]
        );
        check(&w);

        // Delete the plain copy: not the last cap to the endpoint.
        let deleted = delete(&mut w.memory, slot(12)).unwrap().unwrap();
        assert_eq!((deleted.was_final, deleted.removed), (false, 1));
        assert_eq!(delete(&mut w.memory, slot(12)), Ok(None));

        // Revoke the original: the badged cap goes, the original stays.
        assert_eq!(revoke(&mut w.memory, e0), Ok(1));
        assert!(w.cap(40).is_null());
        assert!(!w.cap(10).is_null());
        let last = delete(&mut w.memory, e1).unwrap().unwrap();
        assert!(last.was_final);
        check(&w);

        // Revoke the Untyped: everything made from it goes.
        assert_eq!(revoke(&mut w.memory, u), Ok(1));
        assert!(w.cap(10).is_null());
        assert_eq!(w.live_caps(), 6);
        check(&w);
    }

    #[test]
    fn revoking_an_untyped_removes_its_subtree_and_resets_its_watermark() {
        let mut slots = Vec::new();
        let mut w = new_world(&mut slots);
        let u = slot(1);
        let base = UNTYPED_BASE + (1 << UNTYPED_BITS);
        // A CNode of 4 slots, a 4 KiB frame, a smaller Untyped and from it
        // a notification; copies of them in the new CNode and the root.
        let cnode = w.retype(1, ObjectType::CNode, 2, 10, 1).unwrap();
        assert_eq!(cnode.first, base);
        let frame = w.retype(1, ObjectType::Frame, 12, 11, 1).unwrap();
        assert_eq!(frame.first, base + 0x1000);
        w.retype(1, ObjectType::Untyped, 10, 12, 1).unwrap();
        w.retype(12, ObjectType::Notification, 0, 13, 2).unwrap();
        let table = w
            .memory
            .table(CNodeCap::from_cap(w.cap(10)).unwrap())
            .unwrap();
        let inner = |i| table.slot(i).unwrap();
        copy(&mut w.memory, slot(11), inner(0), R).unwrap();
        mint(&mut w.memory, slot(13), inner(1), W, 3).unwrap();
        copy(&mut w.memory, inner(1), slot(20), W).unwrap();
        copy(&mut w.memory, slot(10), slot(21), Rights::ALL).unwrap();
        // Something from elsewhere in the new CNode too.
        w.retype(2, ObjectType::Tcb, 0, 30, 1).unwrap();
        copy(&mut w.memory, slot(30), inner(2), Rights::ALL).unwrap();
        check(&w);
        let before = w.live_caps();
        assert_eq!(watermark(w.cap(1)), 0x2000 + (1 << 10));

        let removed = revoke(&mut w.memory, u).unwrap();
        // CNode, its copy, frame, its copy, Untyped, two notifications, the
        // badged one and its copy, and the Tcb copy held by the CNode.
        assert_eq!(removed, 10);
        assert_eq!(w.live_caps(), before - 10);
        for i in [10, 11, 12, 13, 14, 20, 21] {
            assert!(w.cap(i).is_null(), "root slot {i}");
        }
        assert!(
            !w.cap(30).is_null(),
            "the Tcb's own cap is not from this Untyped"
        );
        assert!(!mdb::has_children(&w.memory, u));
        check(&w);

        // The Untyped starts again from its base.
        let again = w.retype(1, ObjectType::Frame, 12, 10, 4).unwrap();
        assert!(again.reset);
        assert_eq!((again.first, again.new_watermark), (base, 0x4000));
        assert_eq!(
            w.retype(1, ObjectType::Endpoint, 0, 20, 1),
            Err(KernelError::NotEnoughMemory { left: 0 })
        );
        check(&w);
    }

    #[test]
    fn a_badged_copy_left_behind_is_not_adopted_by_a_new_mint() {
        // Found by the differential tests against the reference interpreter
        // (codegen/generated-tests/tests/differential.rs): seL4's emptySlot
        // passes "first with its badge" on to the next cap.
        let mut slots = Vec::new();
        let mut w = new_world(&mut slots);
        w.retype(0, ObjectType::Endpoint, 0, 8, 1).unwrap();
        mint(&mut w.memory, slot(8), slot(9), Rights::ALL, 5).unwrap();
        copy(&mut w.memory, slot(9), slot(10), Rights::ALL).unwrap();
        delete(&mut w.memory, slot(9)).unwrap();
        mint(&mut w.memory, slot(8), slot(11), Rights::ALL, 5).unwrap();
        assert_eq!(revoke(&mut w.memory, slot(11)), Ok(0));
        assert_eq!(badge_of(w.cap(10)), Some(5), "the old copy survives");
        assert_eq!(revoke(&mut w.memory, slot(8)), Ok(2));
        check(&w);
    }

    #[test]
    fn the_last_cap_with_a_badge_is_judged_over_all_caps_to_its_object() {
        let mut slots = Vec::new();
        let mut w = new_world(&mut slots);
        w.retype(0, ObjectType::Endpoint, 0, 10, 1).unwrap();
        // E, then mints from it, each right after E: E, B(7), C(9), A(7).
        mint(&mut w.memory, slot(10), slot(11), Rights::ALL, 7).unwrap();
        mint(&mut w.memory, slot(10), slot(12), Rights::ALL, 9).unwrap();
        mint(&mut w.memory, slot(10), slot(13), Rights::ALL, 7).unwrap();
        copy(&mut w.memory, slot(12), slot(14), Rights::ALL).unwrap();
        let last = |w: &World<'_>, i| mdb::is_last_with_badge(&w.memory, slot(i));
        // B's neighbours are E and C, but A carries 7 too.
        assert!(!last(&w, 13) && !last(&w, 11));
        // C has a copy beside it; an unbadged cap never counts.
        assert!(!last(&w, 12) && !last(&w, 10));
        delete(&mut w.memory, slot(14)).unwrap();
        assert!(last(&w, 12));
        delete(&mut w.memory, slot(11)).unwrap();
        assert!(last(&w, 13));
        check(&w);
    }

    #[test]
    fn every_cap_removed_for_good_is_reported() {
        use std::sync::atomic::{AtomicU64, Ordering};
        static REMOVED: AtomicU64 = AtomicU64::new(0);
        static LAST: AtomicU64 = AtomicU64::new(0);
        fn count(removal: crate::cspace::Removal) {
            REMOVED.fetch_add(1, Ordering::Relaxed);
            LAST.fetch_add(u64::from(removal.last), Ordering::Relaxed);
        }
        let mut slots = Vec::new();
        let w = new_world(&mut slots);
        let mut hook = count;
        let mut world = World {
            memory: w.memory.with_on_remove(&mut hook),
            root: w.root,
        };
        let w = &mut world;
        w.retype(0, ObjectType::Frame, 12, 10, 3).unwrap();
        move_cap(&mut w.memory, slot(10), slot(20)).unwrap();
        copy(&mut w.memory, slot(12), slot(30), Rights::ALL).unwrap();
        assert_eq!(REMOVED.load(Ordering::Relaxed), 0, "a move removes nothing");
        delete(&mut w.memory, slot(11)).unwrap();
        assert_eq!(REMOVED.load(Ordering::Relaxed), 1);
        delete(&mut w.memory, slot(30)).unwrap();
        assert_eq!(
            (
                REMOVED.load(Ordering::Relaxed),
                LAST.load(Ordering::Relaxed)
            ),
            (2, 1),
            "slot 30 held a copy: slot 12 still names the frame"
        );
        assert_eq!(revoke(&mut w.memory, slot(0)), Ok(2));
        assert_eq!(
            (
                REMOVED.load(Ordering::Relaxed),
                LAST.load(Ordering::Relaxed)
            ),
            (4, 3)
        );
    }

    #[test]
    fn a_copy_of_a_mapped_frame_is_unmapped() {
        let mut slots = Vec::new();
        let mut w = new_world(&mut slots);
        w.retype(0, ObjectType::Frame, 12, 10, 1).unwrap();
        let mut mapped = FrameCap::from_cap(w.cap(10)).unwrap();
        mapped.set_mapped_page(0x80_0000).unwrap();
        mapped.set_mapped_asid(3).unwrap();
        assert!(update_cap(&mut w.memory, slot(10), mapped.cap()));
        copy(&mut w.memory, slot(10), slot(11), Rights::ALL).unwrap();
        let copied = FrameCap::from_cap(w.cap(11)).unwrap();
        assert_eq!(
            (copied.mapped_page(), copied.mapped_asid(), copied.frame()),
            (0, 0, mapped.frame())
        );
        assert!(caps::same_object(w.cap(10), w.cap(11)));
        check(&w);
    }

    #[test]
    fn only_a_mapped_table_cap_is_copied_and_the_copy_shares_the_mapping() {
        let mut slots = Vec::new();
        let mut w = new_world(&mut slots);
        w.retype(0, ObjectType::PageTable, 0, 10, 1).unwrap();
        assert_eq!(
            copy(&mut w.memory, slot(10), slot(11), Rights::ALL),
            Err(KernelError::IllegalOperation)
        );
        assert_eq!(
            mint(&mut w.memory, slot(10), slot(11), Rights::ALL, 0),
            Err(KernelError::IllegalOperation)
        );
        let mut mapped = caps::PageTableCap::from_cap(w.cap(10)).unwrap();
        mapped.set_mapped_page(0x80_0000 >> 12).unwrap();
        mapped.set_mapped_asid(3).unwrap();
        assert!(update_cap(&mut w.memory, slot(10), mapped.cap()));
        copy(&mut w.memory, slot(10), slot(11), Rights::ALL).unwrap();
        assert_eq!(w.cap(11), mapped.cap());
        // Deleting the copy leaves the table mapped; only the last cap is.
        let first = delete(&mut w.memory, slot(11)).unwrap().unwrap();
        assert!(!first.was_final);
        assert!(delete(&mut w.memory, slot(10)).unwrap().unwrap().was_final);
        check(&w);
    }

    #[test]
    fn deleting_a_tcbs_last_cap_deletes_the_caps_in_its_slots() {
        let mut slots = Vec::new();
        let mut w = new_world(&mut slots);
        w.retype(0, ObjectType::Tcb, 0, 10, 1).unwrap();
        w.retype(0, ObjectType::Endpoint, 0, 11, 1).unwrap();
        let tcb = w.cap(10);
        let held = crate::tcb::slots_of(tcb).unwrap();
        assert_eq!(held_slots(&w.memory, tcb), Some(held));
        // A fresh TCB's slots are empty.
        assert!((0..4).all(|i| w.memory.cap(held.slot(i).unwrap()) == Some(Cap::NULL)));
        copy(&mut w.memory, slot(11), held.slot(0).unwrap(), Rights::ALL).unwrap();
        // The endpoint's cap in the CNode is no longer its last.
        assert!(!delete(&mut w.memory, slot(11)).unwrap().unwrap().was_final);
        let gone = delete(&mut w.memory, slot(10)).unwrap().unwrap();
        assert_eq!((gone.was_final, gone.removed), (true, 2));
        assert_eq!(w.memory.cap(held.slot(0).unwrap()), Some(Cap::NULL));
        check(&w);
    }

    #[test]
    fn configure_fills_a_tcbs_slots_with_copies_and_checks_them_first() {
        use crate::tcb::{TcbSlot, configure, slot_of};
        let mut slots = Vec::new();
        let mut w = new_world(&mut slots);
        w.retype(0, ObjectType::Tcb, 0, 10, 1).unwrap();
        w.retype(0, ObjectType::CNode, 2, 11, 1).unwrap();
        w.retype(0, ObjectType::Pml4, 0, 12, 1).unwrap();
        w.retype(0, ObjectType::Frame, 12, 13, 1).unwrap();
        let tcb = region(w.cap(10)).unwrap().0;
        // A PML4 cap is copied only once a pool gave it a number.
        let unnumbered = w.cap(12);
        let mut numbered = crate::caps::Pml4Cap::from_cap(unnumbered).unwrap();
        numbered.set_asid(1).unwrap();
        assert!(!crate::caps::may_copy(unnumbered));
        assert!(crate::caps::may_copy(numbered.cap()));
        update_cap(&mut w.memory, slot(12), numbered.cap());
        /// Configure with the caps in these root slots (0: none given);
        /// the caller slot is never given.
        fn conf(w: &mut World<'_>, tcb: u64, from: [u64; 4]) -> Result<u64, KernelError> {
            let [a, b, c, d] = from.map(|i| (i != 0).then(|| (slot(i), w.cap(i))));
            configure(&mut w.memory, tcb, &[a, b, c, d, None])
        }
        // Slots in the spec's order: IPC buffer, CSpace, VSpace, fault
        // handler. A cap in the wrong place is refused before anything
        // changes, as seL4's TCB_Configure refuses it: IllegalOperation.
        assert_eq!(
            conf(&mut w, tcb, [13, 12, 11, 0]),
            Err(KernelError::IllegalOperation)
        );
        // An IPC buffer frame without write is refused too.
        copy(&mut w.memory, slot(13), slot(14), Rights::READ).unwrap();
        assert_eq!(
            conf(&mut w, tcb, [14, 11, 12, 0]),
            Err(KernelError::IllegalOperation)
        );
        let held = |w: &World<'_>, which| w.memory.cap(slot_of(tcb, which).unwrap()).unwrap();
        assert_eq!(held(&w, TcbSlot::Cspace), Cap::NULL);
        conf(&mut w, tcb, [13, 11, 12, 0]).unwrap();
        assert_eq!(held(&w, TcbSlot::Cspace), w.cap(11));
        assert_eq!(held(&w, TcbSlot::Vspace), w.cap(12));
        assert_eq!(held(&w, TcbSlot::IpcBuffer), caps::derived(w.cap(13)));
        // The copies keep the objects: deleting the CNode's cap is not final.
        assert!(!delete(&mut w.memory, slot(11)).unwrap().unwrap().was_final);
        // Configuring again replaces them; the old CNode's last cap goes.
        w.retype(0, ObjectType::CNode, 2, 11, 1).unwrap();
        assert_eq!(conf(&mut w, tcb, [13, 11, 12, 0]), Ok(3));
        assert_eq!(held(&w, TcbSlot::Cspace), w.cap(11));
        // A fault handler needs an endpoint it can send on; given alone,
        // only its slot changes.
        w.retype(0, ObjectType::Endpoint, 0, 15, 1).unwrap();
        copy(&mut w.memory, slot(15), slot(16), Rights::READ).unwrap();
        assert_eq!(
            conf(&mut w, tcb, [0, 0, 0, 16]),
            Err(KernelError::IllegalOperation)
        );
        assert_eq!(conf(&mut w, tcb, [0, 0, 0, 15]), Ok(0));
        assert_eq!(held(&w, TcbSlot::FaultHandler), w.cap(15));
        assert_eq!(held(&w, TcbSlot::Cspace), w.cap(11), "left as it was");
        check(&w);
    }

    #[test]
    fn mint_sets_a_cnode_guard_from_its_word() {
        let mut slots = Vec::new();
        let mut w = new_world(&mut slots);
        w.retype(0, ObjectType::CNode, 4, 10, 1).unwrap();
        // 60 guard bits of value 0b101: 60 | 0b101 << 6.
        mint(
            &mut w.memory,
            slot(10),
            slot(11),
            Rights::ALL,
            60 | 0b101 << 6,
        )
        .unwrap();
        let guarded = CNodeCap::from_cap(w.cap(11)).unwrap();
        assert_eq!(
            (guarded.guard_bits(), guarded.guard(), guarded.radix()),
            (60, 0b101, 4)
        );
        assert!(caps::same_object(w.cap(10), w.cap(11)));
        assert_eq!(
            mint(&mut w.memory, slot(10), slot(12), Rights::ALL, 61),
            Err(KernelError::IllegalOperation),
            "61 guard bits and a radix of 4 exceed 64"
        );
        mint(&mut w.memory, slot(10), slot(12), Rights::ALL, 0).unwrap();
        assert_eq!(CNodeCap::from_cap(w.cap(12)).unwrap().guard_bits(), 0);
        check(&w);
    }

    #[test]
    fn mint_cannot_add_rights_or_rebadge() {
        let mut slots = Vec::new();
        let mut w = new_world(&mut slots);
        w.retype(0, ObjectType::Endpoint, 0, 10, 1).unwrap();
        copy(&mut w.memory, slot(10), slot(11), R).unwrap();
        mint(&mut w.memory, slot(11), slot(12), Rights::ALL, 5).unwrap();
        assert_eq!(
            w.cap(12).rights(),
            R,
            "asking for all rights keeps only read"
        );
        assert_eq!(
            mint(&mut w.memory, slot(12), slot(13), Rights::ALL, 6),
            Err(KernelError::IllegalOperation)
        );
        assert_eq!(
            mint(&mut w.memory, slot(12), slot(13), R, 5),
            Err(KernelError::IllegalOperation),
            "not even with the same badge"
        );
        assert_eq!(
            mint(&mut w.memory, slot(12), slot(13), R, 0),
            Err(KernelError::IllegalOperation),
            "nor to clear it"
        );
        assert!(w.cap(13).is_null());
        // A badged cap is copied with its badge; its copies are its children.
        copy(&mut w.memory, slot(12), slot(13), Rights::ALL).unwrap();
        assert_eq!(badge_of(w.cap(13)), Some(5));
        assert_eq!(w.cap(13).rights(), R);
        assert_eq!(revoke(&mut w.memory, slot(12)), Ok(1));
        // A cap without a badge field ignores the word (seL4's
        // updateCapData): the mint is a plain copy.
        w.retype(0, ObjectType::Tcb, 0, 20, 1).unwrap();
        mint(&mut w.memory, slot(20), slot(21), Rights::ALL, 1).unwrap();
        assert_eq!(w.cap(21), w.cap(20));
        mint(&mut w.memory, slot(20), slot(22), Rights::ALL, 0).unwrap();
        // Masking a frame's rights.
        w.retype(0, ObjectType::Frame, 12, 30, 1).unwrap();
        mint(&mut w.memory, slot(30), slot(31), W.union(G), 0).unwrap();
        assert_eq!(FrameCap::from_cap(w.cap(31)).unwrap().rights(), W);
        check(&w);
    }

    #[test]
    fn badges_split_the_tree() {
        let mut slots = Vec::new();
        let mut w = new_world(&mut slots);
        w.retype(0, ObjectType::Notification, 0, 10, 1).unwrap();
        mint(&mut w.memory, slot(10), slot(11), Rights::ALL, 1).unwrap();
        mint(&mut w.memory, slot(10), slot(12), Rights::ALL, 1).unwrap();
        copy(&mut w.memory, slot(11), slot(13), R).unwrap();
        copy(&mut w.memory, slot(12), slot(14), W).unwrap();
        let n = NotificationCap::from_cap(w.cap(14)).unwrap();
        assert_eq!((n.badge(), n.rights()), (1, W));
        // Two mints with one badge are separate subtrees.
        assert_eq!(revoke(&mut w.memory, slot(11)), Ok(1));
        assert!(w.cap(13).is_null() && !w.cap(14).is_null());
        // Revoking a cap leaves the cap itself: the first mint stayed.
        assert_eq!(revoke(&mut w.memory, slot(10)), Ok(3));
        assert!(w.cap(12).is_null() && w.cap(14).is_null() && w.cap(11).is_null());
        check(&w);
    }

    #[test]
    fn copy_and_mint_errors() {
        let mut slots = Vec::new();
        let mut w = new_world(&mut slots);
        w.retype(0, ObjectType::Endpoint, 0, 10, 1).unwrap();
        let outside = SlotAddr::new(BASE + SLOTS as u64 * SLOT_BYTES).unwrap();
        let (ep, empty) = (slot(10), slot(11));
        for op in [
            copy as fn(&mut SlotMemory<'_>, _, _, _) -> _,
            |m: &mut SlotMemory<'_>, s, d, r| mint(m, s, d, r, 0),
        ] {
            let m = &mut w.memory;
            assert_eq!(op(m, ep, ep, R), Err(KernelError::DeleteFirst));
            assert_eq!(
                op(m, empty, slot(12), R),
                Err(KernelError::FailedLookup { source: 1 })
            );
            assert_eq!(
                op(m, outside, empty, R),
                Err(KernelError::FailedLookup { source: 1 })
            );
            assert_eq!(
                op(m, ep, outside, R),
                Err(KernelError::FailedLookup { source: 0 })
            );
        }
        // The one IRQ control cap may be moved but never copied.
        mdb::insert_root(&mut w.memory, slot(50), IrqControlCap::new().unwrap().cap()).unwrap();
        assert_eq!(
            copy(&mut w.memory, slot(50), slot(51), Rights::ALL),
            Err(KernelError::IllegalOperation)
        );
        assert_eq!(
            mint(&mut w.memory, slot(50), slot(51), Rights::ALL, 0),
            Err(KernelError::IllegalOperation)
        );
        move_cap(&mut w.memory, slot(50), slot(51)).unwrap();
        // An Untyped with children cannot be copied.
        assert_eq!(
            copy(&mut w.memory, slot(0), slot(60), Rights::ALL),
            Err(KernelError::RevokeFirst)
        );
        assert_eq!(w.live_caps(), 8);
        check(&w);
    }

    #[test]
    fn an_untyped_copy_owns_the_memory_until_it_is_revoked() {
        let mut slots = Vec::new();
        let mut w = new_world(&mut slots);
        copy(&mut w.memory, slot(0), slot(10), Rights::ALL).unwrap();
        // The source is full and the copy is its child.
        assert_eq!(watermark(w.cap(0)), 1 << UNTYPED_BITS);
        assert_eq!(
            w.retype(0, ObjectType::Endpoint, 0, 20, 1),
            Err(KernelError::NotEnoughMemory { left: 0 })
        );
        let from_copy = w.retype(10, ObjectType::Endpoint, 0, 20, 1).unwrap();
        assert_eq!(from_copy.first, UNTYPED_BASE);
        check(&w);
        assert_eq!(revoke(&mut w.memory, slot(0)), Ok(2));
        assert_eq!(
            w.retype(0, ObjectType::Endpoint, 0, 20, 1).map(|p| p.first),
            Ok(UNTYPED_BASE)
        );
        // An Untyped retyped into one of its own size is its child too.
        let mut slots2 = Vec::new();
        let mut w = new_world(&mut slots2);
        w.retype(0, ObjectType::Untyped, UNTYPED_BITS, 10, 1)
            .unwrap();
        w.retype(10, ObjectType::Tcb, 0, 11, 1).unwrap();
        assert_eq!(
            w.retype(0, ObjectType::Tcb, 0, 12, 1),
            Err(KernelError::NotEnoughMemory { left: 0 })
        );
        check(&w);
        assert_eq!(revoke(&mut w.memory, slot(0)), Ok(2));
        check(&w);
    }

    #[test]
    fn move_errors_and_position() {
        let mut slots = Vec::new();
        let mut w = new_world(&mut slots);
        w.retype(0, ObjectType::Endpoint, 0, 10, 2).unwrap();
        let outside = SlotAddr::new(BASE + SLOTS as u64 * SLOT_BYTES).unwrap();
        let m = &mut w.memory;
        let (a, b, empty) = (slot(10), slot(11), slot(12));
        assert_eq!(move_cap(m, a, b), Err(KernelError::DeleteFirst));
        assert_eq!(move_cap(m, a, a), Err(KernelError::DeleteFirst));
        assert_eq!(
            move_cap(m, empty, slot(13)),
            Err(KernelError::FailedLookup { source: 1 })
        );
        assert_eq!(
            move_cap(m, outside, empty),
            Err(KernelError::FailedLookup { source: 1 })
        );
        assert_eq!(
            move_cap(m, a, outside),
            Err(KernelError::FailedLookup { source: 0 })
        );
        // Moving the Untyped keeps its children.
        move_cap(m, slot(0), slot(30)).unwrap();
        assert_eq!(descendants(m, slot(30)).count(), 2);
        assert_eq!(revoke(m, slot(30)), Ok(2));
        check(&w);
    }

    #[test]
    fn delete_and_revoke_errors() {
        let mut slots = Vec::new();
        let mut w = new_world(&mut slots);
        let outside = SlotAddr::new(BASE + SLOTS as u64 * SLOT_BYTES).unwrap();
        assert_eq!(
            delete(&mut w.memory, outside),
            Err(KernelError::FailedLookup { source: 0 })
        );
        assert_eq!(
            revoke(&mut w.memory, outside),
            Err(KernelError::FailedLookup { source: 0 })
        );
        assert_eq!(revoke(&mut w.memory, slot(20)), Ok(0));
        assert_eq!(delete(&mut w.memory, slot(20)), Ok(None));
        // Deleting an Untyped with children leaves them: its parent (here
        // none) still covers their memory, and nothing hands it out again.
        w.retype(0, ObjectType::Endpoint, 0, 10, 1).unwrap();
        let gone = delete(&mut w.memory, slot(0)).unwrap().unwrap();
        assert!(gone.was_final);
        assert!(!w.cap(10).is_null());
        check(&w);
    }

    #[test]
    fn deleting_the_last_cap_to_a_cnode_deletes_what_it_holds() {
        let mut slots = Vec::new();
        let mut w = new_world(&mut slots);
        // Root slot 10: CNode A (4 slots). A[0]: CNode B (2 slots). B[1]: a
        // copy of an endpoint from another Untyped. A[1]: a notification.
        // A[3]: the last cap to A itself (a cycle).
        w.retype(0, ObjectType::CNode, 2, 10, 1).unwrap();
        w.retype(0, ObjectType::CNode, 1, 11, 1).unwrap();
        w.retype(1, ObjectType::Endpoint, 0, 12, 1).unwrap();
        w.retype(0, ObjectType::Notification, 0, 13, 1).unwrap();
        let a = w
            .memory
            .table(CNodeCap::from_cap(w.cap(10)).unwrap())
            .unwrap();
        let b = w
            .memory
            .table(CNodeCap::from_cap(w.cap(11)).unwrap())
            .unwrap();
        copy(&mut w.memory, slot(12), b.slot(1).unwrap(), Rights::ALL).unwrap();
        move_cap(&mut w.memory, slot(11), a.slot(0).unwrap()).unwrap();
        move_cap(&mut w.memory, slot(13), a.slot(1).unwrap()).unwrap();
        copy(&mut w.memory, slot(10), a.slot(3).unwrap(), Rights::ALL).unwrap();
        check(&w);
        // A has two caps: deleting one removes nothing else.
        let one = delete(&mut w.memory, slot(10)).unwrap().unwrap();
        assert_eq!((one.was_final, one.removed), (false, 1));
        check(&w);
        // Now A's last cap is inside A: garbage, until the Untyped is revoked.
        let before = w.live_caps();
        assert_eq!(revoke(&mut w.memory, slot(0)), Ok(4));
        assert_eq!(w.live_caps(), before - 4);
        assert!(!w.cap(12).is_null(), "the original endpoint is in the root");
        check(&w);

        // Deleting the last cap of a CNode tree held in the root.
        w.retype(0, ObjectType::CNode, 2, 10, 1).unwrap();
        w.retype(0, ObjectType::CNode, 1, 11, 1).unwrap();
        let a = w
            .memory
            .table(CNodeCap::from_cap(w.cap(10)).unwrap())
            .unwrap();
        let b = w
            .memory
            .table(CNodeCap::from_cap(w.cap(11)).unwrap())
            .unwrap();
        copy(&mut w.memory, slot(12), b.slot(0).unwrap(), R).unwrap();
        copy(&mut w.memory, slot(12), b.slot(1).unwrap(), W).unwrap();
        move_cap(&mut w.memory, slot(11), a.slot(2).unwrap()).unwrap();
        copy(&mut w.memory, slot(12), a.slot(3).unwrap(), G).unwrap();
        let gone = delete(&mut w.memory, slot(10)).unwrap().unwrap();
        assert_eq!((gone.was_final, gone.removed), (true, 5));
        assert_eq!(descendants(&w.memory, slot(12)).count(), 0);
        check(&w);
    }

    #[test]
    fn a_revoke_stops_when_it_deletes_the_revoked_cap() {
        let mut slots = Vec::new();
        let mut w = new_world(&mut slots);
        // A frame, then a CNode from the Untyped (the list reads Untyped,
        // CNode, frame); then the Untyped's cap moves into the CNode, whose
        // only cap is in the root.
        w.retype(0, ObjectType::Frame, 12, 11, 1).unwrap();
        w.retype(0, ObjectType::CNode, 1, 10, 1).unwrap();
        let table = w
            .memory
            .table(CNodeCap::from_cap(w.cap(10)).unwrap())
            .unwrap();
        let held = table.slot(0).unwrap();
        move_cap(&mut w.memory, slot(0), held).unwrap();
        assert_eq!(descendants(&w.memory, held).count(), 2);
        check(&w);
        // Deleting the CNode takes the Untyped with it; the frame stays as
        // an orphan that nothing can retype over.
        assert_eq!(revoke(&mut w.memory, held), Ok(2));
        assert!(w.memory.get(held).unwrap().is_empty());
        assert!(!w.cap(11).is_null());
        check(&w);
    }

    #[test]
    fn retype_errors() {
        let mut slots = Vec::new();
        let mut w = new_world(&mut slots);
        w.retype(0, ObjectType::Endpoint, 0, 10, 1).unwrap();
        let request = |object_type: u64, size_arg, offset, count| RetypeRequest {
            object_type,
            size_arg,
            offset,
            count,
        };
        let root = Some(w.root);
        let outside = SlotAddr::new(BASE + SLOTS as u64 * SLOT_BYTES).unwrap();
        let (u, ep) = (slot(0), slot(10));
        let m = &mut w.memory;
        let endpoint = ObjectType::Endpoint as u64;
        let cases = [
            (
                ep,
                request(endpoint, 0, 20, 1),
                root,
                KernelError::IllegalOperation,
            ),
            (
                slot(20),
                request(endpoint, 0, 20, 1),
                root,
                KernelError::IllegalOperation,
            ),
            (
                u,
                request(99, 0, 20, 1),
                root,
                KernelError::InvalidArgument { index: 0 },
            ),
            (
                u,
                request(endpoint, 1, 20, 1),
                root,
                KernelError::RangeError { min: 0, max: 0 },
            ),
            (
                u,
                request(ObjectType::Frame as u64, 13, 20, 1),
                root,
                KernelError::RangeError { min: 12, max: 21 },
            ),
            // 2 MiB: more than the free bytes, which the error reports
            // (seL4's untypedFreeBytes: all but the endpoint's 16).
            (
                u,
                request(ObjectType::Frame as u64, 21, 20, 1),
                root,
                KernelError::NotEnoughMemory {
                    left: (1 << UNTYPED_BITS) - 16,
                },
            ),
            (
                u,
                request(endpoint, 0, 20, 1),
                None,
                KernelError::FailedLookup { source: 0 },
            ),
            (
                u,
                request(endpoint, 0, 64, 1),
                root,
                KernelError::RangeError { min: 0, max: 63 },
            ),
            (
                u,
                request(endpoint, 0, 20, 0),
                root,
                KernelError::RangeError { min: 1, max: 256 },
            ),
            (
                u,
                request(endpoint, 0, 60, 5),
                root,
                KernelError::RangeError { min: 1, max: 4 },
            ),
            (
                u,
                request(endpoint, 0, 9, 2),
                root,
                KernelError::DeleteFirst,
            ),
            // Seven Tcbs fit in the free bytes (from 2 KiB on, aligned).
            (
                u,
                request(ObjectType::Tcb as u64, 0, 20, 8),
                root,
                KernelError::NotEnoughMemory {
                    left: (1 << UNTYPED_BITS) - 16,
                },
            ),
            (
                outside,
                request(endpoint, 0, 20, 1),
                root,
                KernelError::FailedLookup { source: 1 },
            ),
        ];
        for (source, request, dest, expected) in cases {
            assert_eq!(
                retype(m, source, &request, dest),
                Err(expected),
                "{request:?}"
            );
        }
        // A destination CNode outside slot memory is a failed lookup.
        let far = CNodeCap::new(FAR_BASE, 2, 0, 0).unwrap();
        assert_eq!(
            retype(m, u, &request(endpoint, 0, 0, 1), Some(far)),
            Err(KernelError::FailedLookup { source: 0 })
        );
        check(&w);
        // Device memory: frames and Untyped only (the generated check).
        assert_eq!(
            w.retype(4, ObjectType::Tcb, 0, 20, 1),
            Err(KernelError::InvalidArgument { index: 1 })
        );
        let frame = w.retype(4, ObjectType::Frame, 12, 20, 1).unwrap();
        assert_eq!(frame.first, DEVICE_BASE);
        assert!(FrameCap::from_cap(w.cap(20)).unwrap().is_device());
        w.retype(4, ObjectType::Untyped, 12, 21, 1).unwrap();
        assert!(UntypedCap::from_cap(w.cap(21)).unwrap().is_device());
        // RAM outside slot memory cannot become CNodes, but other objects.
        assert_eq!(
            w.retype(5, ObjectType::CNode, 1, 22, 1),
            Err(KernelError::InvalidArgument { index: 0 })
        );
        w.retype(5, ObjectType::Tcb, 0, 22, 1).unwrap();
        // Nothing changed on the failed calls: one endpoint, three more caps.
        assert_eq!(watermark(w.cap(0)), 16);
        assert_eq!(w.live_caps(), 10);
        check(&w);
    }

    #[test]
    fn retype_fills_new_cnodes_with_empty_slots_and_caps_carry_size_args() {
        let mut slots = Vec::new();
        let mut w = new_world(&mut slots);
        // Leave junk where the CNode will go: retype must clear it.
        let table_base = UNTYPED_BASE + (2 << UNTYPED_BITS);
        let junk = SlotAddr::new(table_base + 3 * SLOT_BYTES).unwrap();
        w.memory.get_mut(junk).unwrap().cap = EndpointCap::new(0x40, R, 1).unwrap().cap();
        let placement = w.retype(2, ObjectType::CNode, 3, 10, 1).unwrap();
        assert_eq!((placement.first, placement.size_bits), (table_base, 8));
        let cnode = CNodeCap::from_cap(w.cap(10)).unwrap();
        assert_eq!(
            (cnode.table(), cnode.radix(), cnode.guard_bits()),
            (table_base, 3, 0)
        );
        assert!(w.memory.get(junk).unwrap().is_empty());
        let untyped = w.retype(2, ObjectType::Untyped, 9, 11, 2).unwrap();
        assert_eq!(untyped.first, table_base + 512);
        assert_eq!(region(w.cap(12)), Some((table_base + 1024, 512)));
        check(&w);
    }

    // What copy, mint and retype take from the generated code (formerly
    // checked on the kernel's own `cap_fields` helpers).

    #[test]
    fn object_caps_name_the_object_retype_placed() {
        use crate::caps::CapType;
        for object_type in ObjectType::ALL {
            let (min, max) = object_type.arg_bounds();
            for size_arg in [min, max] {
                let Ok(bits) = object_type.size_bits(size_arg) else {
                    continue;
                };
                let address = 1 << bits.max(12);
                let cap = object_type.cap_for(address, size_arg, false).unwrap();
                assert_eq!(
                    cap.cap_type().and_then(CapType::object_type),
                    Some(object_type)
                );
                assert_eq!(region(cap), Some((address, 1 << bits)), "{object_type:?}");
                let valid = cap.cap_type().map(CapType::valid_rights);
                assert_eq!(Some(cap.rights()), valid, "{object_type:?} has full rights");
                assert_eq!(badge_of(cap).unwrap_or(0), 0);
            }
        }
        // A misaligned address is refused by the generated setter.
        assert_eq!(ObjectType::Tcb.cap_for(0x100, 0, false), None);
        let device = ObjectType::Frame.cap_for(0x1000, 12, true).unwrap();
        assert!(FrameCap::from_cap(device).unwrap().is_device());
    }

    #[test]
    fn masking_only_removes_rights() {
        use crate::caps::TcbCap;
        let ep = EndpointCap::new(0x100, R.union(G), 5).unwrap().cap();
        let masked = ep.with_rights_masked(R.union(W));
        assert_eq!(masked.rights(), R);
        assert_eq!(badge_of(masked), Some(5));
        let frame = FrameCap::new(0x1000, 12, R, 0, false, 0).unwrap().cap();
        assert_eq!(frame.with_rights_masked(Rights::ALL).rights(), R);
        let tcb = TcbCap::new(0x800).unwrap().cap();
        assert_eq!(tcb.with_rights_masked(Rights::NONE), tcb);
        assert_eq!(Cap::NULL.rights(), Rights::NONE);
    }

    #[test]
    fn only_badged_types_take_a_badge() {
        use crate::caps::TcbCap;
        let ep = EndpointCap::new(0x100, Rights::ALL, 0).unwrap().cap();
        assert_eq!(ep.with_badge(9).ok().and_then(badge_of), Some(9));
        let tcb = TcbCap::new(0x800).unwrap().cap();
        assert!(tcb.with_badge(9).is_err());
        assert!(Cap::NULL.with_badge(9).is_err());
    }

    #[test]
    fn the_root_cnode_is_a_child_of_its_untyped() {
        let mut slots = vec![Slot::EMPTY; SLOTS];
        let mut memory = SlotMemory::new(BASE, &mut slots).unwrap();
        let untyped = UntypedCap::new(BASE, 16, 0, false).unwrap();
        let cnode = bootstrap_root_cnode(&mut memory, untyped, 4, 3, 2, 60).unwrap();
        assert_eq!((cnode.table(), cnode.guard_bits()), (BASE, 60));
        let table = memory.table(cnode).unwrap();
        let (u, c) = (table.slot(3).unwrap(), table.slot(2).unwrap());
        let source = UntypedCap::from_cap(memory.cap(u).unwrap()).unwrap();
        assert_eq!(
            source.free_index(),
            16 * 32 / 16,
            "watermark past the table"
        );
        assert_eq!(memory.cap(c), Some(cnode.cap()));
        assert_eq!(descendants(&memory, u).collect::<Vec<_>>(), vec![c]);
        check_invariants(&memory, table).unwrap();
        // The next retype from the Untyped lands after the table.
        let request = RetypeRequest {
            object_type: ObjectType::Endpoint as u64,
            size_arg: 0,
            offset: 4,
            count: 1,
        };
        let placed = retype(&mut memory, u, &request, Some(cnode)).unwrap();
        assert_eq!(placed.first, BASE + 16 * 32);
        assert_eq!(
            bootstrap_root_cnode(&mut memory, untyped, 4, 2, 2, 60),
            Err(KernelError::InvalidArgument { index: 0 })
        );
    }
}
