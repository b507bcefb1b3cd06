//! The kernel's check of its own capability state, for the `DebugAudit`
//! system call (the fuzzer's final check) and for host tests: from a CSpace
//! root, every CNode reachable and every cap in them.
//!
//! The invariants:
//! 1. the derivation list is sound: a cap's `prev` and `next` name live
//!    slots that point back at it;
//! 2. a cap's rights are within its parent's, when both name one object
//!    (a mint or a copy; a retyped object's rights are not its Untyped's);
//! 3. no two live objects overlap unless one is retyped from the other (an
//!    Untyped and what was made from it) or they are caps to one object;
//! 4. every Untyped's watermark is within its size.

use crate::caps::{CNodeCap, Cap, UntypedMemory, is_ancestor, region, same_object};
use crate::cspace::{SlotAddr, SlotMemory, Table};
use crate::mdb::is_parent_of;

/// Most CNodes an audit follows.
pub const MAX_TABLES: usize = 64;

/// What a passing audit saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Audit {
    /// CNodes reached from the root.
    pub tables: usize,
    /// Caps in them.
    pub caps: usize,
    /// Distinct objects those caps name.
    pub objects: usize,
}

/// The first broken invariant an audit found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditError {
    /// The root is not a CNode in slot memory.
    BadRoot,
    /// More CNodes than [`MAX_TABLES`] are reachable.
    TooManyTables,
    /// The cap at `at` has a link that does not point back.
    BrokenLink {
        /// The slot's address.
        at: u64,
    },
    /// The cap at `at` has a right its parent (a cap to the same object)
    /// lacks.
    RightsExceedParent {
        /// The slot's address.
        at: u64,
    },
    /// The objects of the caps at `a` and `b` overlap.
    Overlap {
        /// One slot's address.
        a: u64,
        /// The other's.
        b: u64,
    },
    /// The Untyped at `at` has a watermark past its end.
    Watermark {
        /// The slot's address.
        at: u64,
    },
}

/// Every CNode reachable from `root` (itself first).
fn tables(
    memory: &SlotMemory<'_>,
    root: CNodeCap,
) -> Result<([Option<Table>; MAX_TABLES], usize), AuditError> {
    let mut found = [None; MAX_TABLES];
    found[0] = Some(memory.table(root).ok_or(AuditError::BadRoot)?);
    let mut count = 1;
    let mut next = 0;
    while next < count {
        let table = found[next].ok_or(AuditError::BadRoot)?;
        next += 1;
        for index in 0..table.slot_count() {
            let Some(cap) = table.slot(index).and_then(|at| memory.cap(at)) else {
                continue;
            };
            let Some(inner) = CNodeCap::from_cap(cap).and_then(|c| memory.table(c)) else {
                continue;
            };
            if found[..count]
                .iter()
                .flatten()
                .any(|t| t.first() == inner.first())
            {
                continue;
            }
            *found.get_mut(count).ok_or(AuditError::TooManyTables)? = Some(inner);
            count += 1;
        }
    }
    Ok((found, count))
}

/// The live slots of `tables`, each once.
fn live<'a>(
    memory: &'a SlotMemory<'_>,
    tables: &'a [Option<Table>],
) -> impl Iterator<Item = (SlotAddr, Cap)> + 'a {
    tables.iter().flatten().flat_map(move |table| {
        (0..table.slot_count()).filter_map(move |index| {
            let at = table.slot(index)?;
            let cap = memory.cap(at)?;
            (!cap.is_null()).then_some((at, cap))
        })
    })
}

/// Checks the invariants of the module documentation over the CSpace of
/// `root`.
pub fn audit(memory: &SlotMemory<'_>, root: CNodeCap) -> Result<Audit, AuditError> {
    let (found, count) = tables(memory, root)?;
    let tables = &found[..count];
    let mut caps = 0;
    let mut objects = 0;
    for (at, cap) in live(memory, tables) {
        caps += 1;
        let slot = memory
            .get(at)
            .ok_or(AuditError::BrokenLink { at: at.get() })?;
        let links = slot.links();
        let points_back =
            |other: Option<SlotAddr>, back: fn(&crate::cspace::Slot) -> Option<SlotAddr>| {
                other.is_none_or(|o| {
                    memory
                        .get(o)
                        .is_some_and(|s| !s.is_empty() && back(s) == Some(at))
                })
            };
        if !points_back(links.prev(), |s| s.links().next())
            || !points_back(links.next(), |s| s.links().prev())
        {
            return Err(AuditError::BrokenLink { at: at.get() });
        }
        if let Some(parent) = links.prev().and_then(|p| memory.get(p))
            && is_parent_of(parent, slot)
            && same_object(parent.cap(), cap)
            && !parent.cap().rights().contains(cap.rights())
        {
            return Err(AuditError::RightsExceedParent { at: at.get() });
        }
        if let Some(untyped) = UntypedMemory::of(cap)
            && untyped.watermark > untyped.size
        {
            return Err(AuditError::Watermark { at: at.get() });
        }
        // Overlaps, each pair once: against the caps listed before this one.
        let Some((base, size)) = region(cap) else {
            continue;
        };
        let mut new_object = true;
        for (other_at, other) in live(memory, tables) {
            if other_at == at {
                break;
            }
            let Some((other_base, other_size)) = region(other) else {
                continue;
            };
            if same_object(cap, other) {
                new_object = false;
                continue;
            }
            let overlap = base < other_base.saturating_add(other_size)
                && other_base < base.saturating_add(size);
            if overlap && !is_ancestor(cap, other) && !is_ancestor(other, cap) {
                return Err(AuditError::Overlap {
                    a: other_at.get(),
                    b: at.get(),
                });
            }
        }
        objects += usize::from(new_object);
    }
    Ok(Audit {
        tables: count,
        caps,
        objects,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::{ObjectType, Rights, UntypedCap};
    use crate::cspace::Slot;
    use crate::ops;

    const BASE: u64 = 0x10_0000;

    #[test]
    fn a_sound_cspace_passes_and_a_forged_overlap_does_not() {
        let mut slots = vec![Slot::EMPTY; 1 << 12];
        let mut memory = SlotMemory::new(BASE, &mut slots).unwrap();
        let untyped = UntypedCap::new(BASE, 16, 0, false).unwrap();
        let root = ops::bootstrap_root_cnode(&mut memory, untyped, 6, 1, 2, 58).unwrap();
        let table = memory.table(root).unwrap();
        let request = |object: ObjectType, arg, offset, count| crate::caps::RetypeRequest {
            object_type: object as u64,
            size_arg: arg,
            offset,
            count,
        };
        let u = table.slot(1).unwrap();
        ops::retype(
            &mut memory,
            u,
            &request(ObjectType::Endpoint, 0, 8, 4),
            Some(root),
        )
        .unwrap();
        ops::retype(
            &mut memory,
            u,
            &request(ObjectType::CNode, 2, 12, 1),
            Some(root),
        )
        .unwrap();
        ops::mint(
            &mut memory,
            table.slot(8).unwrap(),
            table.slot(20).unwrap(),
            Rights::READ,
            9,
        )
        .unwrap();
        let report = audit(&memory, root).unwrap();
        assert_eq!(report.tables, 2, "the root and the CNode in slot 12");
        assert_eq!(report.caps, 1 + 1 + 4 + 1 + 1);
        assert_eq!(
            report.objects,
            1 + 4 + 1 + 1,
            "the root CNode, 4 endpoints, a CNode"
        );

        // An endpoint cap placed by hand over the first endpoint's memory,
        // outside the derivation tree.
        let first = memory.cap(table.slot(8).unwrap()).unwrap();
        let (at, _) = region(first).unwrap();
        let forged = ObjectType::Notification.cap_for(at, 0, false).unwrap();
        crate::mdb::insert_root(&mut memory, table.slot(30).unwrap(), forged).unwrap();
        assert!(matches!(
            audit(&memory, root),
            Err(AuditError::Overlap { .. })
        ));
    }
}
