//! The kernel's check of its own state, for the `DebugAudit` system call
//! (after the fuzzer and the attacks) and for host tests. [`audit`] checks
//! one CSpace: from its root, every CNode and TCB reachable and every cap
//! in them. [`audit_system`] checks the whole kernel as the scheduler sees
//! it: the CSpaces, TCB slots and address spaces of every thread it knows.
//!
//! The invariants of a CSpace:
//! 1. the derivation list is sound: a cap's `prev` and `next` name live
//!    slots that point back at it;
//! 2. a cap's rights are within its parent's, when both name one object
//!    (a mint or a copy; a retyped object's rights are not its Untyped's);
//! 3. no two live objects overlap unless one is retyped from the other (an
//!    Untyped and what was made from it) or they are caps to one object;
//! 4. every Untyped's watermark is within its size;
//! 5. a cap in an object's owned slot is one the slot admits (its cap type,
//!    with the rights it requires).
//!
//! And of the system, over the caps reachable from every thread:
//! 6. every thread the kernel schedules is a TCB some live cap names;
//! 7. every present user entry of every thread's address space leads to a
//!    live table or frame whose cap records that very mapping (the address
//!    space's number and the virtual page), so no address space reaches
//!    memory that is not an object of the expected type;
//! 8. every thread waiting on an endpoint or notification waits on a live
//!    one, and a right to reply names a thread waiting for that reply;
//! 9. every ASID pool in the kernel's directory is one a live cap names,
//!    and every address-space number stands for a live PML4 whose cap
//!    records that number.

use crate::asid::AsidTable;
use crate::caps::{
    CNodeCap, Cap, CapType, FrameCap, PageDirectoryCap, PageTableCap, PdptCap, Pml4Cap, ReplyCap,
    TcbCap, UntypedMemory, is_ancestor, region, same_object,
};
use crate::cspace::{SlotAddr, SlotMemory, Table};
use crate::mdb::is_parent_of;
use crate::tcb::{TcbSlot, ThreadState};
use crate::vspace::{ADDRESS_MASK, HUGE, Level, PRESENT, PhysMem, USER, WRITABLE};

/// Most CNodes and TCBs whose slots an audit follows.
pub const MAX_TABLES: usize = 256;

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
    /// The cap at `at`, in an object's owned slot, is not one the slot
    /// admits.
    NotAdmitted {
        /// The slot's address.
        at: u64,
    },
    /// The kernel schedules the thread at `tcb` but no live cap names it.
    DeadThread {
        /// The TCB's address.
        tcb: u64,
    },
    /// The entry for `vaddr` in the address space of the PML4 at `pml4`
    /// leads to `target`, which no live cap records as mapped there.
    StrayMapping {
        /// The PML4.
        pml4: u64,
        /// The first virtual address the entry covers.
        vaddr: u64,
        /// The physical address the entry leads to.
        target: u64,
    },
    /// The thread at `tcb` waits on something that is not a live endpoint
    /// or notification, or holds a reply right to a thread not waiting for
    /// its reply.
    StrayWait {
        /// The TCB's address.
        tcb: u64,
    },
    /// An interrupt line signals something that is not a live notification.
    StrayInterrupt {
        /// The line.
        irq: u8,
        /// What it signals.
        notification: u64,
    },
    /// The directory of ASID pools holds something no live pool cap names,
    /// or a number stands for something no live PML4 cap with that number
    /// names.
    StrayAsid {
        /// The number (0: the pool itself is stray).
        asid: u64,
        /// The pool, or the PML4 the number stands for.
        at: u64,
    },
}

/// The slot tables reached so far: CNodes and the owned slots of TCBs.
struct Tables {
    found: [Option<Table>; MAX_TABLES],
    count: usize,
}

impl Tables {
    const fn new() -> Tables {
        Tables {
            found: [None; MAX_TABLES],
            count: 0,
        }
    }

    fn as_slice(&self) -> &[Option<Table>] {
        &self.found[..self.count]
    }

    /// Adds `table` unless it is there already.
    fn add(&mut self, table: Table) -> Result<(), AuditError> {
        if self
            .as_slice()
            .iter()
            .flatten()
            .any(|t| t.first() == table.first())
        {
            return Ok(());
        }
        *self
            .found
            .get_mut(self.count)
            .ok_or(AuditError::TooManyTables)? = Some(table);
        self.count += 1;
        Ok(())
    }

    /// Adds every table reachable from those found since `from`: the
    /// CNodes and the TCB slots their caps name.
    fn close(&mut self, memory: &SlotMemory<'_>, mut from: usize) -> Result<(), AuditError> {
        while from < self.count {
            let table = self.found[from].ok_or(AuditError::BadRoot)?;
            from += 1;
            for index in 0..table.slot_count() {
                let Some(cap) = table.slot(index).and_then(|at| memory.cap(at)) else {
                    continue;
                };
                if let Some(inner) = crate::ops::held_slots(memory, cap) {
                    self.add(inner)?;
                }
            }
        }
        Ok(())
    }
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

/// Checks invariants 1 to 5 of the module documentation over the CSpace
/// of `root`.
pub fn audit(memory: &SlotMemory<'_>, root: CNodeCap) -> Result<Audit, AuditError> {
    let mut tables = Tables::new();
    tables.add(memory.table(root).ok_or(AuditError::BadRoot)?)?;
    tables.close(memory, 0)?;
    check_caps(memory, &tables)
}

/// Invariants 1 to 5 over the caps of `tables`.
fn check_caps(memory: &SlotMemory<'_>, found: &Tables) -> Result<Audit, AuditError> {
    let tables = found.as_slice();
    let count = tables.iter().flatten().filter(|t| t.is_cnode()).count();
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
        if let Some(which) = owned_slot(tables, at)
            && !which.admits(cap)
        {
            return Err(AuditError::NotAdmitted { at: at.get() });
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

/// Which TCB slot `at` is, if it is in one of the owned-slot runs found
/// (the only objects that own slots are TCBs).
fn owned_slot(tables: &[Option<Table>], at: SlotAddr) -> Option<TcbSlot> {
    let table = tables
        .iter()
        .flatten()
        .find(|t| !t.is_cnode() && t.index_of(at).is_some())?;
    TcbSlot::ALL
        .get(usize::try_from(table.index_of(at)?).ok()?)
        .copied()
}

/// What [`audit_system`] needs to know of a thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadView {
    /// Its scheduling state.
    pub state: ThreadState,
    /// The endpoint or notification it waits on (0: none).
    pub blocked_on: u64,
    /// The thread whose caller slot holds the reply cap naming it (0:
    /// none).
    pub reply_from: u64,
}

/// What a passing [`audit_system`] saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SystemAudit {
    /// The CSpace part, over every thread's caps.
    pub caps: Audit,
    /// Threads checked.
    pub threads: usize,
    /// Address spaces walked.
    pub address_spaces: usize,
    /// Present user entries checked, at every level.
    pub entries: usize,
    /// Reply caps found in the threads' caller slots, each naming a live
    /// caller that waits for that very reply.
    pub replies: usize,
}

/// Checks every invariant of the module documentation over what the
/// threads at `threads` (TCB addresses) reach: their CSpaces
/// and TCB slots, and their address spaces through `phys`. `asids` is the
/// kernel's directory of ASID pools (each pool is read through `phys`)
/// and `thread` reads a thread's TCB. Pages of `boot_image` (`[start,
/// end)`: the boot image, which no Untyped covers and no cap names) may be
/// mapped read-only without a cap. Every interrupt line of `interrupts`
/// (`(line, notification)`) must signal a notification some cap names.
pub fn audit_system(
    memory: &SlotMemory<'_>,
    (threads, asids): (impl Iterator<Item = u64> + Clone, &AsidTable),
    (boot_image, interrupts): ((u64, u64), &[(u8, u64)]),
    phys: &impl PhysMem,
    thread: impl Fn(u64) -> ThreadView,
) -> Result<SystemAudit, AuditError> {
    let mut tables = Tables::new();
    for tcb in threads.clone() {
        let tcb_cap = TcbCap::new(tcb).map_err(|_| AuditError::DeadThread { tcb })?;
        let own =
            crate::ops::held_slots(memory, tcb_cap.cap()).ok_or(AuditError::DeadThread { tcb })?;
        tables.add(own)?;
    }
    tables.close(memory, 0)?;
    let caps = check_caps(memory, &tables)?;
    let found = tables.as_slice();
    let all_caps = || {
        found.iter().flatten().flat_map(move |table| {
            (0..table.slot_count()).filter_map(move |i| memory.cap(table.slot(i)?))
        })
    };
    let names = |cap_type: CapType, addr: u64| {
        all_caps()
            .any(|c| c.cap_type() == Some(cap_type) && region(c).is_some_and(|(b, _)| b == addr))
    };
    for &(irq, notification) in interrupts {
        if !names(CapType::NotificationCap, notification) {
            return Err(AuditError::StrayInterrupt { irq, notification });
        }
    }
    // Every pool is live, and every number stands for a live PML4 whose
    // cap records it.
    for &pool in asids.pools().iter().filter(|&&p| p != 0) {
        if !names(CapType::AsidPoolCap, pool) {
            return Err(AuditError::StrayAsid { asid: 0, at: pool });
        }
    }
    for (asid, pml4) in asids.numbers(phys) {
        let recorded = all_caps().any(|c| {
            Pml4Cap::from_cap(c).is_some_and(|v| v.table() == pml4 && u64::from(v.asid()) == asid)
        });
        if !recorded {
            return Err(AuditError::StrayAsid { asid, at: pml4 });
        }
    }
    let mut checked_threads = 0;
    let mut replies = 0;
    let mut spaces = 0;
    let mut entries = 0;
    for tcb in threads {
        checked_threads += 1;
        if !names(CapType::TcbCap, tcb) {
            return Err(AuditError::DeadThread { tcb });
        }
        let view = thread(tcb);
        let waits_on_live = match view.state {
            ThreadState::BlockedOnSend | ThreadState::BlockedOnRecv => {
                names(CapType::EndpointCap, view.blocked_on)
            }
            ThreadState::BlockedOnNotification => names(CapType::NotificationCap, view.blocked_on),
            _ => true,
        };
        // The reply cap in its caller slot names a live thread waiting for
        // this very reply; a thread waiting for one from a holder is named
        // by the holder's reply cap.
        let reply_of = |holder: u64| {
            crate::tcb::slot_of(holder, TcbSlot::Caller)
                .and_then(|s| memory.cap(s))
                .and_then(ReplyCap::from_cap)
        };
        replies += usize::from(reply_of(tcb).is_some());
        let reply_ok = reply_of(tcb).is_none_or(|reply| {
            let caller = reply.caller();
            names(CapType::TcbCap, caller) && {
                let c = thread(caller);
                c.state == ThreadState::BlockedOnReply && c.reply_from == tcb
            }
        }) && (view.reply_from == 0
            || view.state == ThreadState::BlockedOnReply
                && names(CapType::TcbCap, view.reply_from)
                && reply_of(view.reply_from).is_some_and(|r| r.caller() == tcb));
        if !waits_on_live || !reply_ok {
            return Err(AuditError::StrayWait { tcb });
        }
        // The thread's address space, through its VSpace slot: one whose
        // number still stands for it (the thread runs in no other).
        let Some((pml4, asid)) = crate::tcb::slot_of(tcb, TcbSlot::Vspace)
            .and_then(|s| memory.cap(s))
            .and_then(Pml4Cap::from_cap)
            .and_then(|v| Some((asids.address_space(phys, v)?, v.asid())))
        else {
            continue;
        };
        spaces += 1;
        entries += walk(phys, pml4, &|entry: Entry| {
            let records = |c: Cap| {
                let (page, in_asid, at) = match c.cap_type() {
                    Some(CapType::PdptCap) if entry.level == Level::Pml4 => {
                        PdptCap::from_cap(c).map(|v| (v.mapped_page(), v.mapped_asid(), v.table()))
                    }
                    Some(CapType::PageDirectoryCap) if entry.level == Level::Pdpt => {
                        PageDirectoryCap::from_cap(c)
                            .map(|v| (v.mapped_page(), v.mapped_asid(), v.table()))
                    }
                    Some(CapType::PageTableCap)
                        if entry.level == Level::PageDirectory && !entry.huge =>
                    {
                        PageTableCap::from_cap(c)
                            .map(|v| (v.mapped_page(), v.mapped_asid(), v.table()))
                    }
                    Some(CapType::FrameCap) => FrameCap::from_cap(c)
                        .filter(|v| match entry.level {
                            Level::PageTable => v.bits() == 12,
                            Level::PageDirectory => entry.huge && v.bits() == 21,
                            _ => false,
                        })
                        .map(|v| (v.mapped_page(), v.mapped_asid(), v.frame())),
                    _ => None,
                }?;
                Some(page == entry.vaddr >> 12 && in_asid == asid && at == entry.target)
            };
            let leaf = entry.level == Level::PageTable || entry.huge;
            let boot_page = leaf
                && !entry.writable
                && boot_image.0 <= entry.target
                && entry.target < boot_image.1;
            if boot_page || all_caps().any(|c| records(c) == Some(true)) {
                Ok(())
            } else {
                Err(AuditError::StrayMapping {
                    pml4,
                    vaddr: entry.vaddr,
                    target: entry.target,
                })
            }
        })?;
    }
    Ok(SystemAudit {
        caps,
        threads: checked_threads,
        address_spaces: spaces,
        entries,
        replies,
    })
}

/// A present user entry of an address space.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// The level of the table it is in.
    level: Level,
    /// The first virtual address it covers.
    vaddr: u64,
    /// The physical address it leads to.
    target: u64,
    /// A page-directory entry that maps a 2 MiB page.
    huge: bool,
    /// The entry lets ring 3 write.
    writable: bool,
}

/// Calls `check` on every present user entry of the address space of the
/// PML4 at `pml4`, top down; returns how many there were. The kernel's
/// entries (supervisor only) are not walked.
fn walk(
    phys: &impl PhysMem,
    pml4: u64,
    check: &dyn Fn(Entry) -> Result<(), AuditError>,
) -> Result<usize, AuditError> {
    let mut count = 0;
    // (table, level, first vaddr it covers); at most four levels deep.
    let mut stack = [(0u64, Level::Pml4, 0u64); 4];
    stack[0] = (pml4, Level::Pml4, 0);
    let mut index = [0u64; 4];
    let mut depth = 0usize;
    loop {
        let (table, level, base) = stack[depth];
        if index[depth] == 512 {
            if depth == 0 {
                return Ok(count);
            }
            depth -= 1;
            continue;
        }
        let i = index[depth];
        index[depth] += 1;
        let value = phys.read(table + 8 * i);
        if value & (PRESENT | USER) != PRESENT | USER {
            continue;
        }
        let vaddr = base + (i << level.entry_bits());
        let entry = Entry {
            level,
            vaddr,
            target: value & ADDRESS_MASK,
            huge: level == Level::PageDirectory && value & HUGE != 0,
            writable: value & WRITABLE != 0,
        };
        check(entry)?;
        count += 1;
        if let (Some(below), false) = (level.below(), entry.huge) {
            depth += 1;
            stack[depth] = (entry.target, below, vaddr);
            index[depth] = 0;
        }
    }
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
