//! Host-only checks of the capability core as a whole: a small CSpace
//! fixture that the unit tests of `ops` and `invoke` share, the invariants
//! the derivation tree and the Untyped memory must keep, and a randomized
//! run of thousands of operations that checks them after every one.
//!
//! The invariants:
//! 1. the derivation list is consistent: an empty slot has no links, a full
//!    one's neighbours point back at it, and every list ends;
//! 2. every cap lies in a live CNode (the root table or one some cap names);
//! 3. caps to one object are neighbours in the list, and name equal regions;
//! 4. a descendant naming its ancestor's object has a subset of its rights
//!    and, below a badged cap, its badge;
//! 5. no two live objects overlap, except inside Untyped memory: an object
//!    in an Untyped's region lies below its watermark, and the Untyped has
//!    children (so its next retype does not start again from its base);
//! 6. no watermark exceeds its region.

use std::collections::HashMap;

use crate::caps::{
    CNodeCap, Cap, CapType, KernelError, ObjectType, Placement, RetypeRequest, Rights, UntypedCap,
    UntypedMemory, badge_of, region, same_object,
};
use crate::cspace::{SLOT_BYTES, Slot, SlotAddr, SlotMemory, Table, lookup_slot};
use crate::mdb::{self, MdbNode, descendants, has_children};
use crate::ops;

/// The physical address of the test window.
pub(crate) const BASE: u64 = 0x10_0000;
/// Slots in the test window: 128 KiB.
pub(crate) const SLOTS: usize = 4096;
/// log2 of the root CNode's slots.
pub(crate) const ROOT_RADIX: u64 = 6;
/// The root CNode's four Untypeds, 16 KiB each, in root slots 0..4.
pub(crate) const UNTYPED_BASE: u64 = BASE + 0x1_0000;
/// log2 of the size of each of the four Untypeds.
pub(crate) const UNTYPED_BITS: u64 = 14;
/// Root slot 4: 1 MiB of device memory outside the window.
pub(crate) const DEVICE_BASE: u64 = 0x1_0000_0000;
/// Root slot 5: 64 KiB of RAM outside the window (no CNodes from it).
pub(crate) const FAR_BASE: u64 = 0x2000_0000;

/// Slot `i` of the test root CNode.
pub(crate) fn slot(i: u64) -> SlotAddr {
    SlotAddr::new(BASE + i * SLOT_BYTES).unwrap()
}

/// A CSpace to test on: a root CNode of 64 slots at the window's base, its
/// cap held outside slot memory (as a thread's CSpace root is), with the
/// Untypeds above in its first slots.
pub(crate) struct World<'m> {
    pub memory: SlotMemory<'m>,
    pub root: CNodeCap,
}

impl<'m> World<'m> {
    pub fn new(slots: &'m mut [Slot]) -> World<'m> {
        let mut memory = SlotMemory::new(BASE, slots).unwrap();
        let root = CNodeCap::new(BASE, ROOT_RADIX as u8, 0, 0).unwrap();
        assert!(memory.clear_table(Table::of(root).unwrap()));
        let mut world = World { memory, root };
        for i in 0..4 {
            let base = UNTYPED_BASE + (i << UNTYPED_BITS);
            let cap = UntypedCap::new(base, UNTYPED_BITS as u8, 0, false).unwrap();
            mdb::insert_root(&mut world.memory, slot(i), cap.cap()).unwrap();
        }
        let device = UntypedCap::new(DEVICE_BASE, 20, 0, true).unwrap();
        mdb::insert_root(&mut world.memory, slot(4), device.cap()).unwrap();
        let far = UntypedCap::new(FAR_BASE, 16, 0, false).unwrap();
        mdb::insert_root(&mut world.memory, slot(5), far.cap()).unwrap();
        world
    }

    /// The cap in root slot `i`.
    pub fn cap(&self, i: u64) -> Cap {
        self.memory.cap(slot(i)).unwrap()
    }

    /// Retypes the Untyped in root slot `untyped` into root slots from
    /// `offset` on.
    pub fn retype(
        &mut self,
        untyped: u64,
        object_type: ObjectType,
        size_arg: u64,
        offset: u64,
        count: u64,
    ) -> Result<Placement, KernelError> {
        let request = RetypeRequest {
            object_type: object_type as u64,
            size_arg,
            offset,
            count,
        };
        let at = slot(untyped);
        ops::retype(&mut self.memory, at, &request, Some(self.root))
    }

    /// The number of slots holding a cap.
    pub fn live_caps(&self) -> usize {
        self.memory.iter().filter(|(_, s)| !s.is_empty()).count()
    }
}

fn fail<T>(message: String) -> Result<T, String> {
    Err(message)
}

/// Checks the invariants of the module documentation; `root` is the table
/// held outside slot memory.
pub(crate) fn check_invariants(memory: &SlotMemory<'_>, root: Table) -> Result<(), String> {
    let live: Vec<(SlotAddr, Slot)> = memory
        .iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(at, s)| (at, *s))
        .collect();
    let by_addr: HashMap<SlotAddr, Slot> = live.iter().copied().collect();

    // 1. Links.
    for (at, slot) in memory.iter() {
        if slot.is_empty() {
            if slot.links() != MdbNode::EMPTY {
                return fail(format!("empty slot {at:?} has links {:?}", slot.links()));
            }
            continue;
        }
        if let Some(prev) = slot.links().prev() {
            match by_addr.get(&prev) {
                Some(p) if p.links().next() == Some(at) => {}
                _ => return fail(format!("{at:?}.prev = {prev:?} does not point back")),
            }
        }
        if let Some(next) = slot.links().next() {
            match by_addr.get(&next) {
                Some(n) if n.links().prev() == Some(at) => {}
                _ => return fail(format!("{at:?}.next = {next:?} does not point back")),
            }
        }
    }
    let mut lists: Vec<Vec<SlotAddr>> = Vec::new();
    for (head, _) in live.iter().filter(|(_, s)| s.links().prev().is_none()) {
        let mut list = vec![*head];
        while let Some(next) = by_addr[list.last().unwrap()].links().next() {
            if list.len() > live.len() {
                return fail(format!("the list from {head:?} does not end"));
            }
            list.push(next);
        }
        lists.push(list);
    }
    let listed: usize = lists.iter().map(Vec::len).sum();
    if listed != live.len() {
        return fail(format!(
            "{} caps but {listed} in lists: a cycle",
            live.len()
        ));
    }

    // 2. Every cap lies in a live CNode or in the owned slots of a live
    // object (a TCB's).
    let mut tables = vec![root];
    tables.extend(
        live.iter()
            .filter_map(|(_, s)| crate::ops::held_slots(memory, s.cap())),
    );
    for (at, slot) in &live {
        if !tables.iter().any(|t| t.index_of(*at).is_some()) {
            return fail(format!(
                "{at:?} holds {:?} outside every CNode and TCB",
                slot.cap()
            ));
        }
    }

    // 3. Caps to one object are neighbours and agree on its region: each
    // object has one run of caps in one list.
    let mut runs: HashMap<(u64, u64, u64), u32> = HashMap::new();
    let object_key = |cap: Cap| match region(cap) {
        Some((base, size)) => (cap.tag(), base, size),
        None => (cap.tag(), cap.words()[0], 0),
    };
    for list in &lists {
        for (i, at) in list.iter().enumerate() {
            let cap = by_addr[at].cap();
            let prev = i.checked_sub(1).map(|p| by_addr[&list[p]].cap());
            match prev {
                Some(prev) if same_object(prev, cap) => {
                    if region(prev) != region(cap) {
                        return fail(format!("{prev:?} and {cap:?}: one object, two regions"));
                    }
                }
                _ => *runs.entry(object_key(cap)).or_default() += 1,
            }
        }
    }
    if let Some((key, _)) = runs.iter().find(|(_, n)| **n > 1) {
        return fail(format!(
            "caps to the object {key:x?} are not neighbours in the list"
        ));
    }

    // 4. Rights and badges of descendants.
    for (at, slot) in &live {
        for d in descendants(memory, *at) {
            let child = by_addr[&d].cap();
            if !same_object(slot.cap(), child) {
                continue;
            }
            if !slot.cap().rights().contains(child.rights()) {
                return fail(format!(
                    "{child:?} has rights beyond its ancestor {:?}",
                    slot.cap()
                ));
            }
            if let Some(badge @ 1..) = badge_of(slot.cap())
                && badge_of(child) != Some(badge)
            {
                return fail(format!("{child:?} under badge {badge} of {:?}", slot.cap()));
            }
        }
    }

    // 5 and 6. Memory.
    let objects: Vec<(SlotAddr, Cap, u64, u64)> = live
        .iter()
        .filter_map(|(at, s)| region(s.cap()).map(|(base, size)| (*at, s.cap(), base, size)))
        .collect();
    for &(u_at, u, base, size) in &objects {
        let Some(memory_of_u) = UntypedMemory::of(u).filter(|_| UntypedCap::from_cap(u).is_some())
        else {
            continue;
        };
        if memory_of_u.watermark > size {
            return fail(format!("{u:?}: watermark beyond its region"));
        }
        for &(_, x, x_base, x_size) in &objects {
            let overlap = x_base < base + size && base < x_base + x_size;
            let x_contains_u = x_base <= base && base + size <= x_base + x_size;
            if !overlap || same_object(u, x) || x_contains_u {
                continue;
            }
            if x_base < base || x_base + x_size > base + size {
                return fail(format!("{x:?} straddles the edge of {u:?}"));
            }
            if x_base + x_size > base + memory_of_u.watermark {
                return fail(format!("{x:?} lies above the watermark of {u:?}"));
            }
            if !has_children(memory, u_at) {
                return fail(format!("{u:?} has no children but {x:?} is in its region"));
            }
        }
    }
    for (i, &(_, a, a_base, a_size)) in objects.iter().enumerate() {
        for &(_, b, b_base, b_size) in &objects[i + 1..] {
            let untyped = |c: Cap| UntypedCap::from_cap(c).is_some();
            let overlap = a_base < b_base + b_size && b_base < a_base + a_size;
            if overlap && !same_object(a, b) && !untyped(a) && !untyped(b) {
                return fail(format!("{a:?} and {b:?} overlap"));
            }
        }
    }
    Ok(())
}

/// Marsaglia's xorshift64: deterministic, no dependencies.
/// The host tests' random numbers: xorshift64, seeded by the test.
pub(crate) struct XorShift(pub(crate) u64);

impl XorShift {
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Every slot address a random operation may use: the root slots, and
/// the slots of the CNodes held in the root, with their depths.
fn reachable(world: &World<'_>) -> Vec<(u64, u8)> {
    let mut addresses = Vec::new();
    for i in 0..1 << ROOT_RADIX {
        addresses.push((i, ROOT_RADIX as u8));
        if let Some(inner) = CNodeCap::from_cap(world.cap(i)) {
            let radix = inner.radix();
            for j in 0..1 << radix {
                addresses.push(((i << radix) | j, (ROOT_RADIX + u64::from(radix)) as u8));
            }
        }
    }
    addresses
}

/// A random slot address: mostly one of `reachable` whose cap passes
/// `wanted` (and, if `inner`, not a root slot when there are others),
/// sometimes one that may not resolve.
fn random_address(
    rng: &mut XorShift,
    world: &World<'_>,
    wanted: impl Fn(Cap) -> bool,
    inner: bool,
) -> (u64, u8) {
    let root = world.root.cap();
    let mut candidates = reachable(world);
    candidates.retain(|&(address, depth)| {
        lookup_slot(&world.memory, root, address, depth.into())
            .is_ok_and(|at| world.memory.cap(at).is_some_and(&wanted))
    });
    if inner
        && candidates
            .iter()
            .any(|&(_, depth)| depth > ROOT_RADIX as u8)
    {
        candidates.retain(|&(_, depth)| depth > ROOT_RADIX as u8);
    }
    match rng.below(20) {
        0 => (rng.next(), rng.below(70) as u8),
        1 => (
            rng.below(1 << 10),
            ROOT_RADIX as u8 + 1 + rng.below(3) as u8,
        ),
        _ if candidates.is_empty() => (0, ROOT_RADIX as u8),
        _ => candidates[rng.below(candidates.len() as u64) as usize],
    }
}

/// Puts the boot Untyped of root slot `i` (0..4) back once its slot is
/// empty and no cap names memory in its region: the test's stand-in for
/// a system that keeps handing out memory.
fn refill(world: &mut World<'_>, i: u64) {
    let base = UNTYPED_BASE + (i << UNTYPED_BITS);
    let end = base + (1 << UNTYPED_BITS);
    let in_use = world
        .memory
        .iter()
        .any(|(_, s)| region(s.cap()).is_some_and(|(b, size)| b < end && base < b + size));
    if !in_use && world.cap(i).is_null() {
        let cap = UntypedCap::new(base, UNTYPED_BITS as u8, 0, false).unwrap();
        mdb::insert_root(&mut world.memory, slot(i), cap.cap()).unwrap();
    }
}

/// What the random run did, to check that it did something.
#[derive(Debug, Default)]
struct Tally {
    ok: HashMap<&'static str, u32>,
    errors: HashMap<String, u32>,
    lookup_failures: u32,
    most_caps: usize,
    caps_revoked: u64,
    resets: u32,
    /// Deletes of a CNode's last cap that deleted the caps it held.
    cnodes_emptied: u32,
    /// Stops of preemptible revokes, each restarted.
    revokes_preempted: u32,
}

fn random_operation(rng: &mut XorShift, world: &mut World<'_>, tally: &mut Tally) {
    let root = world.root.cap();
    let operation = rng.below(14);
    // Retype and revoke mostly an Untyped, delete often a CNode (so that
    // CNodes holding caps lose their last cap), the others any cap.
    let wanted = match (operation, rng.below(10)) {
        (0..=3 | 13, 0..=6) => Some(CapType::UntypedCap),
        (11..=12, 0..=4) => Some(CapType::CNodeCap),
        _ => None,
    };
    let source = |cap: Cap| match wanted {
        Some(cap_type) => cap.cap_type() == Some(cap_type),
        None => !cap.is_null(),
    };
    // Destinations: half of the time a slot of a CNode held in the root.
    let inner = rng.below(2) == 0;
    let pick = |rng: &mut XorShift, world: &World<'_>, wanted: &dyn Fn(Cap) -> bool, inner| {
        let (address, depth) = random_address(rng, world, wanted, inner);
        lookup_slot(&world.memory, root, address, depth.into())
    };
    let (Ok(a), Ok(b)) = (
        pick(rng, world, &source, false),
        pick(rng, world, &|_| true, inner),
    ) else {
        tally.lookup_failures += 1;
        return;
    };
    let rights = Rights::from_bits_truncate(rng.below(16));
    let badge = if rng.below(2) == 0 {
        0
    } else {
        1 + rng.below(3)
    };
    let memory = &mut world.memory;
    let (name, result) = match operation {
        0..=3 => {
            // CNodes often, so that caps end up in CNodes that lose their
            // last cap; and sometimes a type that does not exist.
            let object_type = match rng.below(10) {
                0..=2 => ObjectType::CNode as u64,
                _ => rng.below(11),
            };
            let size_arg = match ObjectType::from_word(object_type) {
                Some(ObjectType::Untyped) => 4 + rng.below(12),
                Some(ObjectType::CNode) => rng.below(5),
                Some(ObjectType::Frame) => [12, 21, 13][rng.below(3) as usize],
                _ => rng.below(8) / 7,
            };
            let dest = match rng.below(5) {
                0 => memory.cap(b).and_then(CNodeCap::from_cap),
                _ => Some(world.root),
            };
            let request = RetypeRequest {
                object_type,
                size_arg,
                offset: rng.below(70),
                count: [0, 1, 1, 2, 3, 300][rng.below(6) as usize],
            };
            let result = ops::retype(memory, a, &request, dest);
            if result.is_ok_and(|p| p.reset) {
                tally.resets += 1;
            }
            ("retype", result.map(drop))
        }
        4..=6 => ("copy", ops::copy(memory, a, b, rights)),
        7..=8 => ("mint", ops::mint(memory, a, b, rights, badge)),
        9..=10 => ("move", ops::move_cap(memory, a, b)),
        11..=12 => {
            let result = ops::delete(memory, a);
            if let Ok(Some(deleted)) = result
                && deleted.removed > 1
            {
                tally.cnodes_emptied += 1;
            }
            ("delete", result.map(drop))
        }
        _ if rng.below(2) == 0 => {
            let result = ops::revoke(memory, a);
            tally.caps_revoked += result.unwrap_or(0);
            ("revoke", result.map(drop))
        }
        _ => {
            // Preempted at random points and restarted until done: every
            // stop leaves the invariants, and the end is what one
            // uninterrupted revoke of the same state gives.
            let mut whole = slots_of(memory);
            let expected = {
                let mut copy = SlotMemory::new(BASE, &mut whole).unwrap();
                ops::revoke(&mut copy, a)
            };
            let every = 1 + rng.below(2);
            let mut calls = 0;
            let mut preempt = || {
                calls += 1;
                calls % every == 0
            };
            let mut removed = 0;
            let result = loop {
                match ops::revoke_preemptible(memory, a, &mut preempt) {
                    Ok(ops::Revoked::All(n)) => break Ok(removed + n),
                    Ok(ops::Revoked::Preempted(n)) => {
                        removed += n;
                        tally.revokes_preempted += 1;
                        let root = Table::of(world.root).unwrap();
                        if let Err(broken) = check_invariants(memory, root) {
                            panic!("a preempted revoke broke an invariant: {broken}");
                        }
                    }
                    Err(error) => break Err(error),
                }
            };
            assert_eq!(result, expected, "a preempted revoke removed another count");
            assert!(
                slots_of(memory) == whole,
                "a preempted revoke left other slots than a whole one"
            );
            tally.caps_revoked += result.unwrap_or(0);
            ("revoke", result.map(drop))
        }
    };
    match result {
        Ok(()) => *tally.ok.entry(name).or_default() += 1,
        Err(error) => *tally.errors.entry(format!("{name} {error:?}")).or_default() += 1,
    }
    tally.most_caps = tally.most_caps.max(world.live_caps());
}

#[test]
fn random_operations_keep_every_invariant() {
    // Under Miri (`cargo xtask miri`), which runs this some thousand times
    // slower, one seed, fewer steps and the invariants checked every 10th
    // step: enough to reach every operation's code, not to meet the
    // coverage asserts below.
    let (seeds, steps, every): (&[u64], u64, u64) = if cfg!(miri) {
        (&[0x9e37_79b9_7f4a_7c15], 60, 10)
    } else {
        (&[0x9e37_79b9_7f4a_7c15, 1, 0xdead_beef, 42], 4000, 1)
    };
    for &seed in seeds {
        let mut slots = vec![Slot::EMPTY; SLOTS];
        let mut world = World::new(&mut slots);
        let root = Table::of(world.root).unwrap();
        let mut rng = XorShift(seed);
        let mut tally = Tally::default();
        check_invariants(&world.memory, root).unwrap();
        for step in 0..steps {
            refill(&mut world, step % 4);
            random_operation(&mut rng, &mut world, &mut tally);
            if (step + 1) % every != 0 {
                continue;
            }
            if let Err(broken) = check_invariants(&world.memory, root) {
                panic!("seed {seed:#x}, step {step}: {broken}\n{tally:#?}");
            }
        }
        if cfg!(miri) {
            continue;
        }
        // The run must have exercised the operations, not only their errors.
        for op in ["retype", "copy", "mint", "move", "delete", "revoke"] {
            assert!(
                tally.ok.get(op).copied().unwrap_or(0) >= 20,
                "seed {seed:#x}: {tally:#?}"
            );
        }
        assert!(tally.most_caps >= 30, "{tally:#?}");
        assert!(tally.caps_revoked >= 30 && tally.resets >= 5, "{tally:#?}");
        assert!(tally.cnodes_emptied >= 3, "{tally:#?}");
        assert!(tally.revokes_preempted >= 5, "{tally:#?}");
    }
}

#[test]
fn the_checker_catches_broken_links_and_overlaps() {
    let mut slots = vec![Slot::EMPTY; SLOTS];
    let mut world = World::new(&mut slots);
    let root = Table::of(world.root).unwrap();
    world.retype(0, ObjectType::Endpoint, 0, 10, 2).unwrap();
    check_invariants(&world.memory, root).unwrap();

    // An endpoint forged over the first one, as a root of its own.
    let mut forged = world.memory.cap(slot(10)).unwrap().words();
    forged[1] = 0;
    let forged = Cap::from_words(forged);
    let mut copy = vec![Slot::EMPTY; SLOTS];
    copy.copy_from_slice(&slots_of(&world.memory));
    mdb::insert_root(&mut world.memory, slot(20), forged).unwrap();
    let broken = check_invariants(&world.memory, root).unwrap_err();
    assert!(broken.contains("not neighbours"), "{broken}");

    // A slot whose neighbour does not point back.
    let mut memory = SlotMemory::new(BASE, &mut copy).unwrap();
    let at = slot(10);
    let stray = memory.get_mut(at).unwrap();
    stray.links = MdbNode::EMPTY;
    let broken = check_invariants(&memory, root).unwrap_err();
    assert!(broken.contains("does not point back"), "{broken}");
}

fn slots_of(memory: &SlotMemory<'_>) -> Vec<Slot> {
    memory.iter().map(|(_, s)| *s).collect()
}
