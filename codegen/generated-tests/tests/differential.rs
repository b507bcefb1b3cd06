//! Differential tests: random sequences of capability operations run on the
//! reference interpreter (`capc_interp`, which reads only the checked
//! model) and on a small kernel built over the generated code (`retype`,
//! `is_ancestor`, `same_object`, `badge_of`, `may_copy`,
//! `Cap::with_rights_masked`, `Cap::with_badge`, `UntypedMemory`, `region`,
//! the cap views), for kernel.cap and everything.cap; and calls of
//! everything.cap's donating methods through the generated RPC code (client
//! stub, `dispatch_file_service`, the `*Budget` types), the server's objects
//! made from the donated Untyped where the budget places them; and
//! sessions of everything.cap's `PageCache` (`everything_sessions_agree`),
//! each backed by an Untyped both machines retyped, through the generated
//! session code and the interpreter's session ledger, which must agree and
//! keep the invariants of sessions: the sum of the sessions' charges is
//! what the server holds for its clients, and no client sequence changes
//! the server's own memory.
//!
//! The kernel here keeps its derivation tree as seL4 does: one list in
//! depth-first order per root, a revocable and a first-badged bit per slot,
//! parenthood computed from the two caps by the generated predicates (as
//! kernel-demo/kernel/src/mdb.rs does). The interpreter keeps explicit
//! parent links. After every operation both must give the same result (Ok
//! with the same placement or count, or the same error with the same
//! payload), the same cap in every slot (bit for bit: the interpreter's
//! caps are packed with the model's layout), the same parent of every cap,
//! and both must keep the invariants: no two live objects overlap, every
//! copy's rights are within its parent's, a revoked cap has no descendant
//! left, every object lies in memory some principal was given (and what is
//! in use never exceeds it), no watermark exceeds its Untyped's size, and
//! no call's server used more than its caller donated. The calls' accounting
//! (each call's donation, bytes used, success) must be equal too.
//!
//! The sequences also run the lifecycle steps (`Ops::WithLifecycle`):
//! `configure` fills a TCB's owned slots (`TcbSlot::admits`,
//! `owned_slots_of`, `may_copy`, `derived`), `map`/`unmap` record mappings
//! in caps (`mapping_of`, `with_mapping`, `is_mapped`) and in the test
//! kernel's address spaces, and removal finalises by the object's
//! `Finaliser`s. Both sides must also report equal address spaces and keep
//! the reference invariant (`check_references`): no cap in an object's
//! slot, address-space entry or live address-space number refers to an
//! object no live cap names.
//!
//! proptest shrinks a divergence to a short sequence, printed as a case
//! file. Every divergence found stays as a case file in
//! harness/differential-cases/, replayed here and by the kernel core's
//! differential test (`case_files_agree`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use capc_dsl::model::Spec;
use capc_harness::*;
use capc_interp::{CNodeId, Container, Machine, OpError, Slot};
use proptest::prelude::*;

// The operations, the interpreter's side and the invariants are shared
// with the kernel's differential test: `capc_harness`.

type Answer = Result<Outcome, OpError>;

// ----- the specs and their boot caps -----

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn load(relative: &str) -> Spec {
    let compilation =
        capc_dsl::compile(&workspace().join(relative), &capc_dsl::FsLoader).expect("readable");
    compilation.spec.expect("the example specs check clean")
}

fn kernel_spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| load("kernel-demo/spec/kernel.cap"))
}

fn everything_spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| load("examples/everything.cap"))
}

/// Boot caps of kernel.cap: RAM Untyped of 64 KiB and 4 KiB, 8 KiB of
/// device memory (the same cap type with `is_device`), the IRQ control cap
/// (never copied) and an IRQ handler.
const KERNEL_BOOT: &[BootCap] = &[
    (0, "UntypedCap", 0x10_0000, 16, false, &[]),
    (1, "UntypedCap", 0x20_0000, 12, false, &[]),
    (2, "UntypedCap", 0xfe00_0000, 13, true, &[]),
    (3, "IrqControlCap", 0, 0, false, &[]),
    (4, "IrqHandlerCap", 0, 0, false, &[("irq", 3)]),
];

/// Boot caps of everything.cap: two RAM Untyped, 4 MiB of device-only
/// untyped memory of its own cap type (watermark in pages, room for two
/// `share_buffer` calls), the IRQ control cap, a domain cap
/// (`#[always_copy]`), and in `DONOR_SLOT` 2 MiB of RAM, enough for one
/// `FileService.read` (1 MiB + 8 KiB + 128 bytes at least).
const EVERYTHING_BOOT: &[BootCap] = &[
    (0, "UntypedCap", 0x10_0000, 16, false, &[]),
    (1, "UntypedCap", 0x20_0000, 12, false, &[]),
    (2, "DeviceUntypedCap", 0xfe00_0000, 22, true, &[]),
    (3, "IrqControlCap", 0, 0, false, &[]),
    (4, "DomainCap", 0, 0, false, &[("domain", 2)]),
    (DONOR_SLOT, "UntypedCap", 0x40_0000, 21, false, &[]),
    (6, "DomainCap", 0, 0, false, &[("domain", 0)]),
];

fn boot_interp<'s>(spec: &'s Spec, boot: &[BootCap]) -> Machine<'s> {
    boot_machine(spec, boot)
}

// ----- the kernel over the generated code -----

/// A small kernel over one generated module: slots in CNodes, the
/// derivation tree as seL4's list (see the module docs).
macro_rules! generated_kernel {
    ($module:ident, $server:path) => {
        mod $module {
            use super::*;
            use capc_generated_tests::$module as g;
            use g::{Cap, RetypeError, RetypeRequest, UntypedMemory};

            #[derive(Clone, Copy, Debug)]
            struct Entry {
                cap: Cap,
                prev: Option<Place>,
                next: Option<Place>,
                revocable: bool,
                first_badged: bool,
            }

            pub struct Kernel {
                cnodes: BTreeMap<CNodeId, u64>,
                slots: BTreeMap<Place, Entry>,
                calls: Vec<CallRecord>,
                /// Live objects that own slots, by address.
                owners: BTreeMap<u64, g::ObjectType>,
                /// Live address spaces: number to root address.
                asids: BTreeMap<u64, u64>,
                /// ASID pools (`g::ASID_POOL`) by place in the directory:
                /// the pool's address.
                pools: BTreeMap<u64, u64>,
                /// The entries of translation tables (by table address)
                /// or, without tables, of each address space (by number):
                /// object address and type.
                entries: BTreeMap<(Container, u64), (u64, g::ObjectType)>,
            }

            /// The address-space root type: the one that finalises with
            /// `release_asid`.
            fn root_type() -> Option<g::ObjectType> {
                g::ObjectType::ALL
                    .into_iter()
                    .find(|o| o.finalisers().contains(&g::Finaliser::ReleaseAsid))
            }

            const SOURCE: OpError = OpError::FailedLookup { source: 1 };
            const TARGET: OpError = OpError::FailedLookup { source: 0 };

            fn retype_error(e: RetypeError) -> OpError {
                match e {
                    RetypeError::InvalidArgument { index } => OpError::InvalidArgument { index },
                    RetypeError::RangeError { min, max } => OpError::RangeError { min, max },
                    RetypeError::NotEnoughMemory { left } => OpError::NotEnoughMemory { left },
                    RetypeError::DeleteFirst => OpError::DeleteFirst,
                    RetypeError::FailedLookup => TARGET,
                    RetypeError::IllegalOperation => OpError::IllegalOperation,
                    RetypeError::TruncatedMessage => panic!("retype never truncates"),
                }
            }

            impl Kernel {
                /// The kernel with the boot caps the interpreter was given,
                /// as words: each a root of its own list, revocable unless
                /// its type is `#[always_copy]`.
                pub fn boot(m: &Machine<'_>) -> Kernel {
                    let mut k = Kernel {
                        cnodes: BTreeMap::from([(CNodeId::Root, ROOT_SLOTS)]),
                        slots: BTreeMap::new(),
                        calls: Vec::new(),
                        owners: BTreeMap::new(),
                        asids: BTreeMap::new(),
                        pools: BTreeMap::new(),
                        entries: BTreeMap::new(),
                    };
                    // Without address-space roots, one implicit space.
                    if root_type().is_none() {
                        k.asids.insert(1, 0);
                    }
                    for (slot, node) in m.occupied() {
                        let cap = Cap::from_words(pack(m, &node.cap).try_into().expect("a cap's words"));
                        let revocable =
                            cap.cap_type().unwrap().copy_policy() != g::CopyPolicy::Always;
                        k.slots.insert(
                            Place::Slot(slot),
                            Entry {
                                cap,
                                prev: None,
                                next: None,
                                revocable,
                                first_badged: revocable,
                            },
                        );
                    }
                    k
                }

                fn cnode_named(&self, cap: Cap) -> Option<CNodeId> {
                    let view = g::CNodeCap::from_cap(cap)?;
                    let id = CNodeId::Object(view.table());
                    self.cnodes.contains_key(&id).then_some(id)
                }

                fn slot_in(&self, cnode: CNodeId, index: u64) -> Option<Slot> {
                    (index < *self.cnodes.get(&cnode)?).then_some(Slot { cnode, index })
                }

                fn resolve(&self, path: Path2) -> Option<Slot> {
                    let cnode = match path.via {
                        None => CNodeId::Root,
                        Some(via) => {
                            let slot = self.slot_in(CNodeId::Root, via)?;
                            self.cnode_named(self.slots.get(&Place::Slot(slot))?.cap)?
                        }
                    };
                    self.slot_in(cnode, path.index)
                }

                /// seL4's `isMDBParentOf` over the generated predicates.
                fn is_parent_of(&self, parent: &Entry, child: &Entry) -> bool {
                    let (p, c) = (parent.cap, child.cap);
                    if !parent.revocable {
                        return false;
                    }
                    if g::is_ancestor(p, c) {
                        return true;
                    }
                    if !g::same_object(p, c) {
                        return false;
                    }
                    match g::badge_of(p) {
                        Some(badge) if badge != 0 => {
                            g::badge_of(c) == Some(badge) && !child.first_badged
                        }
                        _ => true,
                    }
                }

                /// The descendants of `at`: the run of slots after it.
                fn run(&self, at: Place) -> Vec<Place> {
                    let parent = self.slots[&at];
                    let mut out = Vec::new();
                    let mut next = parent.next;
                    while let Some(n) = next {
                        let child = &self.slots[&n];
                        if !self.is_parent_of(&parent, child) {
                            break;
                        }
                        out.push(n);
                        next = child.next;
                    }
                    out
                }

                fn has_children(&self, at: Place) -> bool {
                    let entry = &self.slots[&at];
                    entry
                        .next
                        .is_some_and(|n| self.is_parent_of(entry, &self.slots[&n]))
                }

                fn insert_after(&mut self, source: Place, new: Place, cap: Cap, revocable: bool) {
                    let next = self.slots[&source].next;
                    self.slots.insert(
                        new,
                        Entry {
                            cap,
                            prev: Some(source),
                            next,
                            revocable,
                            first_badged: revocable,
                        },
                    );
                    self.slots.get_mut(&source).unwrap().next = Some(new);
                    if let Some(n) = next {
                        self.slots.get_mut(&n).unwrap().prev = Some(new);
                    }
                }

                fn unlink(&mut self, at: Place) -> Entry {
                    let entry = self.slots.remove(&at).unwrap();
                    if let Some(p) = entry.prev {
                        self.slots.get_mut(&p).unwrap().next = entry.next;
                    }
                    if let Some(n) = entry.next {
                        self.slots.get_mut(&n).unwrap().prev = entry.prev;
                    }
                    entry
                }

                /// A new object: one that owns slots starts with them empty.
                fn made(&mut self, cap: Cap) {
                    let Some((_, count)) = g::owned_slots_of(cap) else {
                        return;
                    };
                    let (base, _) = g::region(cap).unwrap();
                    let table = CNodeId::Object(base);
                    self.slots
                        .retain(|p, _| !matches!(p, Place::Slot(s) if s.cnode == table));
                    self.cnodes.insert(table, count);
                    let object = cap.cap_type().and_then(|t| t.object_type()).unwrap();
                    self.owners.insert(base, object);
                }

                /// The slots of the live object `cap` names: a CNode's or
                /// those it owns.
                fn table_named(&self, cap: Cap) -> Option<CNodeId> {
                    if let Some(cnode) = self.cnode_named(cap) {
                        return Some(cnode);
                    }
                    g::owned_slots_of(cap)?;
                    let (base, _) = g::region(cap)?;
                    let table = CNodeId::Object(base);
                    (self.owners.contains_key(&base) && self.cnodes.contains_key(&table))
                        .then_some(table)
                }

                /// The address space and page a cap's mapping records
                /// (the implicit space for a cap without `#[mapped_in]`).
                fn mapping_of(cap: Cap) -> Option<(u64, u64)> {
                    let (page, asid) = g::mapping_of(cap)?;
                    // A mapped cap records its address space, unless its
                    // type has no `#[mapped_in]`: the implicit one.
                    (page != 0).then_some((if asid == 0 { 1 } else { asid }, page))
                }

                /// `cap` mapped at `page` of `asid`; in a spec without
                /// address-space roots the implicit space is recorded where
                /// the cap type has a `#[mapped_in]` field.
                fn with_mapping(cap: Cap, page: u64, asid: u64) -> Option<Cap> {
                    match root_type() {
                        Some(_) => g::with_mapping(cap, page, asid),
                        None => g::with_mapping(cap, page, asid)
                            .or_else(|| g::with_mapping(cap, page, 0)),
                    }
                }

                /// The entry an object of type `object` and `1 << bits`
                /// bytes at `page` of address space `asid` (root table at
                /// `root`) goes in, walking down through the generated
                /// `TableShape`s; why there is none.
                fn entry_for(
                    &self,
                    asid: u64,
                    root: Option<u64>,
                    page: u64,
                    object: g::ObjectType,
                    bits: u32,
                ) -> Result<(Container, u64), OpError> {
                    let (Some(root_type), Some(mut table)) = (g::TABLE_ROOT, root) else {
                        return Ok((Container::Space(asid), page));
                    };
                    let holder = object.held_in(bits).ok_or(OpError::IllegalOperation)?;
                    // The tables from the root down to the holder.
                    let mut path = vec![holder];
                    while path[path.len() - 1] != root_type {
                        let t = path[path.len() - 1];
                        let span = t.table().expect("a table").span_bits();
                        path.push(t.held_in(span).ok_or(OpError::IllegalOperation)?);
                    }
                    path.reverse();
                    let vaddr = page
                        .checked_shl(g::PAGE_BITS)
                        .filter(|v| v >> g::PAGE_BITS == page)
                        .ok_or(OpError::InvalidArgument { index: 1 })?;
                    if vaddr & ((1u64 << bits) - 1) != 0 {
                        return Err(OpError::AlignmentError);
                    }
                    let (low, high) = g::USER_SPACE.unwrap_or((0, u64::MAX));
                    if vaddr < low || vaddr.checked_add(1 << bits).is_none_or(|e| e > high) {
                        return Err(OpError::InvalidArgument { index: 1 });
                    }
                    for pair in path.windows(2) {
                        let index = pair[0].table().expect("a table").index(vaddr);
                        match self.entries.get(&(Container::Table(table), index)) {
                            Some(&(next, t)) if t == pair[1] => table = next,
                            _ => return Err(OpError::FailedLookup { source: 0 }),
                        }
                    }
                    Ok((Container::Table(table), holder.table().expect("a table").index(vaddr)))
                }

                /// log2 of the bytes of address space the object `cap`
                /// names takes: a table's span, any other object's size.
                fn bits_of(cap: Cap) -> u32 {
                    let object = cap.cap_type().and_then(|t| t.object_type());
                    match object.and_then(|o| o.table()) {
                        Some(t) => t.span_bits(),
                        None => g::region(cap).map_or(0, |(_, size)| size.trailing_zeros()),
                    }
                }

                /// Empties the entry `cap` records, if the walk still
                /// reaches it and it still holds this object.
                fn unmap_entry(&mut self, cap: Cap) {
                    let Some((asid, page)) = Self::mapping_of(cap) else {
                        return;
                    };
                    let (Some(&root), Some(object)) = (
                        self.asids.get(&asid),
                        cap.cap_type().and_then(|t| t.object_type()),
                    ) else {
                        return;
                    };
                    let root = g::TABLE_ROOT.map(|_| root);
                    let Ok(at) = self.entry_for(asid, root, page, object, Self::bits_of(cap)) else {
                        return;
                    };
                    let (base, _) = g::region(cap).unwrap();
                    if self.entries.get(&at).is_some_and(|e| e.0 == base) {
                        self.entries.remove(&at);
                    }
                }

                /// Deletes the cap at `at` and finalises what it named
                /// (`Finaliser`): a mapped frame cap's page, and with the
                /// last cap a table's link, an address space's number and
                /// the caps in the object's slots.
                fn delete_slot(&mut self, at: Place) -> u64 {
                    let entry = self.slots[&at];
                    // A badged cap's copies outlive it as first of their
                    // badge: without this, the list would hand them to the
                    // next cap minted with the same badge in front of them.
                    if entry.revocable && g::badge_of(entry.cap).is_some_and(|b| b != 0) {
                        for d in self.run(at) {
                            self.slots.get_mut(&d).unwrap().first_badged = true;
                        }
                    }
                    let entry = self.unlink(at);
                    let cap = entry.cap;
                    let mut removed = 1;
                    let Some(object) = cap.cap_type().and_then(|t| t.object_type()) else {
                        return removed;
                    };
                    let last = !self.slots.values().any(|e| g::same_object(e.cap, cap));
                    match cap.cap_type().and_then(|t| t.mapping()) {
                        Some(g::Mapping::EachCap) => self.unmap_entry(cap),
                        Some(g::Mapping::Shared) if last => self.unmap_entry(cap),
                        _ => {}
                    }
                    if !last {
                        return removed;
                    }
                    let Some((base, _)) = g::region(cap) else {
                        return removed;
                    };
                    // A table's entries go with it.
                    if object.table().is_some() {
                        self.entries.retain(|(c, _), _| *c != Container::Table(base));
                    }
                    // A pool's numbers go with its last cap.
                    if g::ASID_POOL.is_some_and(|s| s.object == object) {
                        let places: Vec<u64> = self
                            .pools
                            .iter()
                            .filter(|(_, a)| **a == base)
                            .map(|(p, _)| *p)
                            .collect();
                        let numbers = g::ASID_POOL.map_or(1, |s| s.numbers);
                        for place in places {
                            self.pools.remove(&place);
                            let range = place * numbers..(place + 1) * numbers;
                            self.asids.retain(|a, _| !range.contains(a));
                        }
                    }
                    if object.finalisers().contains(&g::Finaliser::ReleaseAsid) {
                        let gone: Vec<u64> = self
                            .asids
                            .iter()
                            .filter(|(_, r)| **r == base)
                            .map(|(a, _)| *a)
                            .collect();
                        for asid in gone {
                            self.asids.remove(&asid);
                            self.entries.retain(|(c, _), _| *c != Container::Space(asid));
                        }
                    }
                    if let Some(table) = self.table_named(cap) {
                        self.cnodes.remove(&table);
                        if self.cnode_named(cap).is_none() {
                            self.owners.remove(&base);
                        }
                        let held: Vec<Place> = self
                            .slots
                            .keys()
                            .filter(|p| matches!(p, Place::Slot(s) if s.cnode == table))
                            .copied()
                            .collect();
                        for s in held {
                            if self.slots.contains_key(&s) {
                                removed += self.delete_slot(s);
                            }
                        }
                    }
                    removed
                }

                /// One step: a capability operation, or a lifecycle one.
                pub fn run_step(&mut self, step: &Step) -> Answer {
                    match step {
                        Step::Op(op) => self.run_op(op),
                        Step::Lifecycle(LifecycleOp::Configure { target, sources }) => self
                            .configure(*target, sources)
                            .map(Outcome::Removed),
                        Step::Lifecycle(LifecycleOp::Map { cap, space, page }) => self
                            .map(*cap, *space, *page)
                            .map(|()| Outcome::Done),
                        Step::Lifecycle(LifecycleOp::Unmap(at)) => {
                            self.unmap(*at).map(|()| Outcome::Done)
                        }
                        Step::Lifecycle(LifecycleOp::MakePool { untyped, dest }) => {
                            self.make_pool(*untyped, *dest).map(|()| Outcome::Done)
                        }
                        Step::Lifecycle(LifecycleOp::Assign { pool, root }) => {
                            self.assign(*pool, *root).map(|()| Outcome::Done)
                        }
                        // Threads' steps are the kernel's differential
                        // test's (`Ops::WithThreads`), never generated here.
                        Step::Lifecycle(other) => panic!("no threads here: {other:?}"),
                    }
                }

                /// seL4's TCB_Configure over `TcbSlot`: check everything,
                /// delete what each slot holds, copy in each source still
                /// there (`derived`: a frame copy starts unmapped).
                fn configure(&mut self, target: Path2, sources: &[Option<Path2>]) -> Result<u64, OpError> {
                    let at = Place::Slot(self.resolve(target).ok_or(TARGET)?);
                    let cap = self.slots.get(&at).ok_or(TARGET)?.cap;
                    let Some((_, count)) = g::owned_slots_of(cap) else {
                        return Err(OpError::IllegalOperation);
                    };
                    let table = self.table_named(cap).ok_or(OpError::IllegalOperation)?;
                    // Slots past the sources given keep what they hold (the
                    // caller slot is the kernel's alone).
                    if count < sources.len() as u64 || count != g::TcbSlot::ALL.len() as u64 {
                        return Err(OpError::IllegalOperation);
                    }
                    let mut picked = Vec::new();
                    for (source, slot) in sources.iter().zip(g::TcbSlot::ALL) {
                        let Some(path) = source else {
                            picked.push(None);
                            continue;
                        };
                        let from = Place::Slot(self.resolve(*path).ok_or(SOURCE)?);
                        let c = self.slots.get(&from).ok_or(SOURCE)?.cap;
                        // As seL4's TCB_Configure: a cap of the wrong type
                        // (or without the rights) is an illegal operation.
                        if !slot.admits(c) || !g::may_copy(c) {
                            return Err(OpError::IllegalOperation);
                        }
                        picked.push(Some((from, c)));
                    }
                    // Only the slots given a cap change.
                    let mut removed = 0;
                    for (index, _) in (0..count).zip(&picked).filter(|(_, p)| p.is_some()) {
                        let owned = Place::Slot(Slot { cnode: table, index });
                        if self.slots.contains_key(&owned) {
                            removed += self.delete_slot(owned);
                        }
                    }
                    for (index, source) in picked.into_iter().enumerate() {
                        let Some((from, c)) = source else { continue };
                        // The deletions may have taken the source, or the
                        // object itself.
                        if !self.cnodes.contains_key(&table)
                            || self.slots.get(&from).map(|e| e.cap) != Some(c)
                        {
                            continue;
                        }
                        let owned = Place::Slot(Slot {
                            cnode: table,
                            index: index as u64,
                        });
                        self.insert_after(from, owned, g::derived(c), false);
                    }
                    Ok(removed)
                }

                /// Maps the cap at `at` at `page` of the address space
                /// whose root's cap is at `space`, through the cap views'
                /// mapped fields.
                fn map(&mut self, at: Path2, space: Option<Path2>, page: u64) -> Result<(), OpError> {
                    let at = Place::Slot(self.resolve(at).ok_or(SOURCE)?);
                    let cap = self.slots.get(&at).ok_or(SOURCE)?.cap;
                    let cap_type = cap.cap_type().ok_or(OpError::IllegalOperation)?;
                    let (Some(_), Some(object)) = (cap_type.mapping(), cap_type.object_type()) else {
                        return Err(OpError::IllegalOperation);
                    };
                    let root = match (root_type(), space) {
                        (Some(root_type), Some(space)) => {
                            let s = self.resolve(space).ok_or(TARGET)?;
                            let r = self.slots.get(&Place::Slot(s)).ok_or(TARGET)?.cap;
                            let named = r.cap_type().and_then(|t| t.object_type());
                            match (named == Some(root_type), g::region(r)) {
                                (true, Some((base, _))) => Some(base),
                                _ => return Err(OpError::IllegalOperation),
                            }
                        }
                        (Some(_), None) => return Err(TARGET),
                        (None, Some(_)) => return Err(OpError::IllegalOperation),
                        (None, None) => None,
                    };
                    if g::is_mapped(cap) {
                        return Err(OpError::InvalidCapability { index: 0 });
                    }
                    let asid = match root {
                        None => 1,
                        // With pools: the number the root's cap records, if
                        // it still stands for the root.
                        Some(root) if g::ASID_POOL.is_some() => {
                            let s = self.resolve(space.expect("a root")).ok_or(TARGET)?;
                            let r = self.slots[&Place::Slot(s)].cap;
                            match g::asid_of(r) {
                                Some(0) | None => return Err(OpError::InvalidCapability { index: 0 }),
                                Some(asid) if self.asids.get(&asid) == Some(&root) => asid,
                                Some(_) => return Err(TARGET),
                            }
                        }
                        Some(root) => match self.asids.iter().find(|(_, r)| **r == root) {
                            Some((asid, _)) => *asid,
                            None => (1..)
                                .take_while(|a| g::with_mapping(cap, 1, *a).is_some())
                                .find(|a| !self.asids.contains_key(a))
                                .ok_or(OpError::IllegalOperation)?,
                        },
                    };
                    if page == 0 || Self::with_mapping(cap, page, 0).is_none() {
                        return Err(OpError::InvalidArgument { index: 1 });
                    }
                    let table_root = g::TABLE_ROOT.and(root);
                    let entry =
                        self.entry_for(asid, table_root, page, object, Self::bits_of(cap))?;
                    if self.entries.contains_key(&entry) {
                        return Err(OpError::DeleteFirst);
                    }
                    if let Some(root) = root {
                        self.asids.insert(asid, root);
                    }
                    let (base, _) = g::region(cap).unwrap();
                    self.entries.insert(entry, (base, object));
                    self.slots.get_mut(&at).unwrap().cap =
                        Self::with_mapping(cap, page, asid).expect("checked");
                    Ok(())
                }

                /// ASIDControl_MakePool over the generated `UntypedMemory`
                /// and `ASID_POOL`: the interpreter's order of checks.
                fn make_pool(&mut self, untyped: Path2, dest: Path2) -> Result<(), OpError> {
                    let shape = g::ASID_POOL.ok_or(OpError::IllegalOperation)?;
                    let place = (0..shape.places)
                        .find(|p| !self.pools.contains_key(p))
                        .ok_or(OpError::DeleteFirst)?;
                    let at = Place::Slot(self.resolve(untyped).ok_or(SOURCE)?);
                    let cap = self.slots.get(&at).ok_or(SOURCE)?.cap;
                    let pool_bytes = shape.object.size_bits(0).ok().map(|b| 1u64 << b);
                    let memory = UntypedMemory::of(cap)
                        .filter(|u| !u.device && Some(u.size) == pool_bytes)
                        .ok_or(OpError::InvalidCapability { index: 0 })?;
                    if self.has_children(at) {
                        return Err(OpError::RevokeFirst);
                    }
                    let dest = Place::Slot(self.resolve(dest).ok_or(TARGET)?);
                    if self.slots.contains_key(&dest) {
                        return Err(OpError::DeleteFirst);
                    }
                    let used = memory
                        .with_watermark(memory.size)
                        .ok_or(OpError::IllegalOperation)?;
                    let pool = shape
                        .object
                        .cap_for(memory.base, 0, false)
                        .ok_or(OpError::IllegalOperation)?;
                    self.slots.get_mut(&at).unwrap().cap = used;
                    self.insert_after(at, dest, pool, true);
                    self.pools.insert(place, memory.base);
                    Ok(())
                }

                /// ASIDPool_Assign over `asid_of` and `with_asid`.
                fn assign(&mut self, pool: Path2, root: Path2) -> Result<(), OpError> {
                    let shape = g::ASID_POOL.ok_or(OpError::IllegalOperation)?;
                    let at = Place::Slot(self.resolve(pool).ok_or(SOURCE)?);
                    let pool_cap = self.slots.get(&at).ok_or(SOURCE)?.cap;
                    let is_pool = pool_cap.cap_type().and_then(|t| t.object_type()) == Some(shape.object);
                    let base = g::region(pool_cap).map(|(b, _)| b);
                    let place = self
                        .pools
                        .iter()
                        .find(|(_, a)| Some(**a) == base)
                        .map(|(p, _)| *p)
                        .filter(|_| is_pool)
                        .ok_or(OpError::IllegalOperation)?;
                    let to = Place::Slot(self.resolve(root).ok_or(TARGET)?);
                    let root_cap = self.slots.get(&to).ok_or(TARGET)?.cap;
                    let invalid = OpError::InvalidCapability { index: 0 };
                    let (Some(0), Some((object, _))) = (g::asid_of(root_cap), g::region(root_cap)) else {
                        return Err(invalid);
                    };
                    let first = place * shape.numbers;
                    let asid = (first.max(1)..first + shape.numbers)
                        .find(|a| !self.asids.contains_key(a))
                        .ok_or(OpError::DeleteFirst)?;
                    let numbered = g::with_asid(root_cap, asid).ok_or(invalid)?;
                    self.slots.get_mut(&to).unwrap().cap = numbered;
                    self.asids.insert(asid, object);
                    Ok(())
                }

                /// Unmaps the cap at `at`: a frame's (`Mapping::EachCap`)
                /// mapping, or, through a table's last cap
                /// (`Mapping::Shared`), its link, emptying the table.
                fn unmap(&mut self, at: Path2) -> Result<(), OpError> {
                    let at = Place::Slot(self.resolve(at).ok_or(SOURCE)?);
                    let cap = self.slots.get(&at).ok_or(SOURCE)?.cap;
                    match cap.cap_type().and_then(|t| t.mapping()) {
                        Some(g::Mapping::EachCap) => {
                            self.unmap_entry(cap);
                            self.slots.get_mut(&at).unwrap().cap = g::derived(cap);
                        }
                        Some(g::Mapping::Shared) => {
                            let others = self
                                .slots
                                .iter()
                                .any(|(p, e)| *p != at && g::same_object(e.cap, cap));
                            if others {
                                return Err(OpError::RevokeFirst);
                            }
                            if g::is_mapped(cap) {
                                let (base, _) = g::region(cap).unwrap();
                                self.entries.retain(|(c, _), _| *c != Container::Table(base));
                                self.unmap_entry(cap);
                            }
                            self.slots.get_mut(&at).unwrap().cap =
                                Self::with_mapping(cap, 0, 0).expect("0 fits");
                        }
                        _ => return Err(OpError::IllegalOperation),
                    }
                    Ok(())
                }

                /// What each live address space maps: the entries reached
                /// by walking down from its root (or its pages, without
                /// tables), by number, page and entry size.
                fn mappings(&self) -> BTreeMap<(u64, u64, u32), (u64, g::ObjectType)> {
                    let mut out = BTreeMap::new();
                    for (&asid, &root) in &self.asids {
                        match g::TABLE_ROOT {
                            None => {
                                for ((c, page), e) in &self.entries {
                                    if *c == Container::Space(asid) {
                                        out.insert((asid, *page, 0), *e);
                                    }
                                }
                            }
                            Some(root_type) => self.walk(&mut out, asid, root, root_type, 0),
                        }
                    }
                    out
                }

                fn walk(
                    &self,
                    out: &mut BTreeMap<(u64, u64, u32), (u64, g::ObjectType)>,
                    asid: u64,
                    table: u64,
                    table_type: g::ObjectType,
                    base: u64,
                ) {
                    let shape = table_type.table().expect("a table");
                    for ((c, index), &(object, t)) in &self.entries {
                        if *c != Container::Table(table) {
                            continue;
                        }
                        let vaddr = base + (index << shape.entry_bits);
                        out.insert((asid, vaddr >> g::PAGE_BITS, shape.entry_bits), (object, t));
                        if t.table().is_some() {
                            self.walk(out, asid, object, t, vaddr);
                        }
                    }
                }

                /// The address spaces, as the harness compares them.
                pub fn spaces(&self) -> Spaces {
                    Spaces {
                        asids: self.asids.clone(),
                        entries: self
                            .mappings()
                            .into_iter()
                            .map(|(k, (a, t))| (k, (a, t as u64)))
                            .collect(),
                    }
                }

                /// What holds references besides caps: caps in objects'
                /// slots, address-space entries, live address spaces.
                pub fn references(&self) -> Vec<Reference> {
                    let cnode = g::ObjectType::CNode as u64;
                    let mut out: Vec<Reference> = self
                        .slots
                        .keys()
                        .filter_map(|p| match p {
                            Place::Slot(Slot {
                                cnode: CNodeId::Object(address),
                                ..
                            }) => Some(Reference {
                                from: Referrer::Slot(*p),
                                object_type: self
                                    .owners
                                    .get(address)
                                    .map_or(cnode, |o| *o as u64),
                                address: *address,
                            }),
                            _ => None,
                        })
                        .collect();
                    for ((asid, page, bits), (address, object)) in self.mappings() {
                        out.push(Reference {
                            from: Referrer::Mapping { asid, page, bits },
                            object_type: object as u64,
                            address,
                        });
                    }
                    if let Some(root) = root_type() {
                        for (&asid, &address) in &self.asids {
                            out.push(Reference {
                                from: Referrer::AddressSpace(asid),
                                object_type: root as u64,
                                address,
                            });
                        }
                    }
                    if let Some(shape) = g::ASID_POOL {
                        for (&place, &address) in &self.pools {
                            out.push(Reference {
                                from: Referrer::Pool(place),
                                object_type: shape.object as u64,
                                address,
                            });
                        }
                    }
                    out
                }

                pub fn run_op(&mut self, op: &Op) -> Answer {
                    match *op {
                        Op::Retype {
                            source,
                            object_type,
                            size_arg,
                            dest,
                            offset,
                            count,
                        } => {
                            let at = Place::Slot(self.resolve(source).ok_or(SOURCE)?);
                            let cap = self.slots.get(&at).map_or(Cap::NULL, |e| e.cap);
                            let has_children =
                                self.slots.contains_key(&at) && self.has_children(at);
                            let cnode = match dest {
                                None => Some(CNodeId::Root),
                                Some(i) => self
                                    .slot_in(CNodeId::Root, i)
                                    .and_then(|s| self.slots.get(&Place::Slot(s)))
                                    .and_then(|e| self.cnode_named(e.cap)),
                            };
                            let destination = cnode.map(|c| g::Destination {
                                slots: self.cnodes[&c],
                            });
                            let request = RetypeRequest {
                                object_type,
                                size_arg,
                                offset,
                                count,
                            };
                            let placement =
                                g::retype(cap, has_children, &request, destination, |i| {
                                    !self.slots.contains_key(&Place::Slot(Slot {
                                        cnode: cnode.unwrap(),
                                        index: i,
                                    }))
                                })
                                .map_err(retype_error)?;
                            let cnode = cnode.unwrap();
                            let device = UntypedMemory::of(cap).unwrap().device;
                            self.slots.get_mut(&at).unwrap().cap = placement.updated_source;
                            // As seL4's createNewObjects: each new cap goes
                            // right after the source, so the last made is
                            // first in the list (and the first a revoke meets).
                            for i in 0..placement.count {
                                let new = placement.cap(i, device).expect("check 10");
                                if let Some(view) = g::CNodeCap::from_cap(new) {
                                    self.cnodes
                                        .insert(CNodeId::Object(view.table()), 1 << view.radix());
                                }
                                self.made(new);
                                let slot = Place::Slot(Slot {
                                    cnode,
                                    index: placement.slot(i).unwrap(),
                                });
                                self.insert_after(at, slot, new, true);
                            }
                            Ok(Outcome::Retyped {
                                object_type: placement.object_type as u64,
                                size_bits: placement.size_bits,
                                first: placement.first,
                                count: placement.count,
                                new_watermark: placement.new_watermark,
                                reset: placement.reset,
                            })
                        }
                        Op::Copy {
                            source,
                            dest,
                            rights,
                        } => self
                            .derive(source, dest, rights, None)
                            .map(|()| Outcome::Done),
                        Op::Mint {
                            source,
                            dest,
                            rights,
                            badge,
                        } => self
                            .derive(source, dest, rights, Some(badge))
                            .map(|()| Outcome::Done),
                        Op::Move { source, dest } | Op::Mutate { source, dest, .. } => {
                            // seL4's order: the destination, that it is
                            // empty, then the source.
                            let to = Place::Slot(self.resolve(dest).ok_or(TARGET)?);
                            if self.slots.contains_key(&to) {
                                return Err(OpError::DeleteFirst);
                            }
                            let from = Place::Slot(self.resolve(source).ok_or(SOURCE)?);
                            // Mutate preserves: a badged type's cap cannot
                            // be mutated (seL4's updateCapData).
                            let cap = self.slots.get(&from).ok_or(SOURCE)?.cap;
                            if matches!(op, Op::Mutate { .. }) && g::badge_of(cap).is_some() {
                                return Err(OpError::IllegalOperation);
                            }
                            // Mutate sets a CNode cap's guard as mint does.
                            let mutated = match (op, g::CNodeCap::from_cap(cap)) {
                                (Op::Mutate { data, .. }, Some(cnode)) => {
                                    cnode.with_cap_data(*data).ok_or(OpError::IllegalOperation)?.cap()
                                }
                                _ => cap,
                            };
                            let mut entry = self.slots.remove(&from).ok_or(SOURCE)?;
                            entry.cap = mutated;
                            if let Some(p) = entry.prev {
                                self.slots.get_mut(&p).unwrap().next = Some(to);
                            }
                            if let Some(n) = entry.next {
                                self.slots.get_mut(&n).unwrap().prev = Some(to);
                            }
                            self.slots.insert(to, entry);
                            Ok(Outcome::Done)
                        }
                        Op::Delete(at) => {
                            let at = Place::Slot(self.resolve(at).ok_or(TARGET)?);
                            if !self.slots.contains_key(&at) {
                                return Ok(Outcome::Removed(0));
                            }
                            Ok(Outcome::Removed(self.delete_slot(at)))
                        }
                        Op::Revoke(at) => {
                            let at = Place::Slot(self.resolve(at).ok_or(TARGET)?);
                            if !self.slots.contains_key(&at) {
                                return Ok(Outcome::Removed(0));
                            }
                            // seL4's cteRevoke: delete the cap after it
                            // while that is a descendant, and stop if the
                            // revoked cap itself went on the way (it was
                            // held in a CNode whose last cap was revoked).
                            let mut removed = 0;
                            while let Some(entry) = self.slots.get(&at)
                                && let Some(next) = entry.next
                                && self.is_parent_of(entry, &self.slots[&next])
                            {
                                removed += self.delete_slot(next);
                            }
                            Ok(Outcome::Removed(removed))
                        }
                        Op::Call {
                            ref interface,
                            ref method,
                            payment,
                            ref allocations,
                        } => {
                            let mut record = CallRecord::new(interface, method);
                            let answer = self.call(interface, method, payment, allocations, &mut record);
                            record.ok = answer.is_ok();
                            self.calls.push(record);
                            answer
                        }
                    }
                }

                /// A call: the kernel's part here (the donated cap, its
                /// free memory, the server's objects as the donation's
                /// children), the rest through the generated RPC code in
                /// `$server`.
                fn call(
                    &mut self,
                    interface: &str,
                    method: &str,
                    payment: Payment,
                    allocations: &[(u64, u64)],
                    record: &mut CallRecord,
                ) -> Answer {
                    let number = self.calls.len();
                    let (donor, base, bytes) = match payment {
                        Payment::Quota(bytes) => (None, 0, bytes),
                        Payment::Untyped(path) => {
                            let at = Place::Slot(self.resolve(path).ok_or(SOURCE)?);
                            let cap = self.slots.get(&at).ok_or(SOURCE)?.cap;
                            let memory =
                                UntypedMemory::of(cap).ok_or(OpError::IllegalOperation)?;
                            // Free from the watermark; all of it without
                            // children, as a retype would reset it.
                            let watermark = if self.has_children(at) {
                                memory.watermark.min(memory.size)
                            } else {
                                0
                            };
                            let free = (memory.base + watermark, memory.size - watermark);
                            (Some((at, memory, watermark)), free.0, free.1)
                        }
                    };
                    let donor_cap = donor.map(|(_, memory, _)| memory.cap);
                    let (addresses, used) =
                        $server(interface, method, donor_cap, base, bytes, allocations, record)?;
                    // The server's retypes, one per object; without any,
                    // the donation is left as it was.
                    if let Some((at, memory, watermark)) = donor
                        && !addresses.is_empty()
                    {
                        let mut end = watermark;
                        let mut made = Vec::new();
                        for (&(object, arg), &address) in allocations.iter().zip(&addresses) {
                            let cap = g::ObjectType::from_word(object)
                                .and_then(|t| t.cap_for(address, arg, memory.device))
                                .expect("a budget's object has a cap");
                            let (start, size) = g::region(cap).expect("an object");
                            end = end.max(start + size - memory.base);
                            self.made(cap);
                            made.push(cap);
                        }
                        self.slots.get_mut(&at).unwrap().cap =
                            memory.with_watermark(end).expect("the end fits the field");
                        for (index, cap) in made.into_iter().enumerate().rev() {
                            self.insert_after(at, Place::Server { call: number, index }, cap, true);
                        }
                    }
                    record.used = used;
                    Ok(Outcome::Called { addresses, used })
                }

                /// Copy and mint, as kernel-demo's `ops::derive`.
                fn derive(
                    &mut self,
                    source: Path2,
                    dest: Path2,
                    rights: u64,
                    badge: Option<u64>,
                ) -> Result<(), OpError> {
                    // seL4's order: the destination, that it is empty,
                    // then the source.
                    let to = Place::Slot(self.resolve(dest).ok_or(TARGET)?);
                    if self.slots.contains_key(&to) {
                        return Err(OpError::DeleteFirst);
                    }
                    let from = Place::Slot(self.resolve(source).ok_or(SOURCE)?);
                    let cap = self.slots.get(&from).ok_or(SOURCE)?.cap;
                    if !g::may_copy(cap) {
                        return Err(OpError::IllegalOperation);
                    }
                    let memory = UntypedMemory::of(cap);
                    // An Untyped, and a cap type with `#[copy(no_children)]`,
                    // is copied only without children.
                    let no_children = memory.is_some()
                        || cap.cap_type().is_some_and(g::CapType::copy_needs_no_children);
                    if no_children && self.has_children(from) {
                        return Err(OpError::RevokeFirst);
                    }
                    let mut derived =
                        g::derived(cap).with_rights_masked(g::Rights::from_bits_truncate(rights));
                    // A CNode cap's guard from mint's word (seL4's
                    // updateCapData).
                    if let (Some(data), Some(cnode)) = (badge, g::CNodeCap::from_cap(derived)) {
                        derived = cnode.with_cap_data(data).ok_or(OpError::IllegalOperation)?.cap();
                    }
                    // As seL4's updateCapData: a cap without a badge
                    // ignores mint's word; a badged one cannot be rebadged.
                    match (badge, g::badge_of(cap)) {
                        (None, _) | (Some(_), None) => {}
                        (Some(new), Some(0)) => {
                            derived = derived
                                .with_badge(new)
                                .map_err(|_| OpError::IllegalOperation)?;
                        }
                        (Some(_), _) => return Err(OpError::IllegalOperation),
                    }
                    let revocable = memory.is_some() || g::badge_of(derived) != g::badge_of(cap);
                    if let Some(region) = memory {
                        self.slots.get_mut(&from).unwrap().cap =
                            region.with_watermark(region.size).expect("size fits");
                    }
                    self.insert_after(from, to, derived, revocable);
                    Ok(())
                }

                /// Every slot's cap and its parent: the nearest cap before
                /// it in its list whose run of descendants reaches it.
                pub fn state(&self) -> State {
                    let mut parents: BTreeMap<Place, Place> = BTreeMap::new();
                    let heads = self
                        .slots
                        .iter()
                        .filter(|(_, e)| e.prev.is_none())
                        .map(|(s, _)| *s);
                    for head in heads {
                        let mut order = Vec::new();
                        let mut at = Some(head);
                        while let Some(s) = at {
                            order.push(s);
                            at = self.slots[&s].next;
                        }
                        // Later (deeper) ancestors overwrite earlier ones.
                        for s in &order {
                            for d in self.run(*s) {
                                parents.insert(d, *s);
                            }
                        }
                    }
                    self.slots
                        .iter()
                        .map(|(s, e)| (*s, (e.cap.words().to_vec(), parents.get(s).copied())))
                        .collect()
                }

                /// The calls made so far, as the accounting sees them.
                pub fn calls(&self) -> &[CallRecord] {
                    &self.calls
                }

                pub fn seen(&self) -> Vec<Seen> {
                    let state = self.state();
                    self.slots
                        .iter()
                        .map(|(s, e)| Seen {
                            place: *s,
                            parent: state[s].1,
                            tag: e.cap.tag(),
                            region: g::region(e.cap),
                            memory: UntypedMemory::of(e.cap).map(|m| (m.size, m.watermark)),
                            rights: e.cap.rights().bits(),
                        })
                        .collect()
                }
            }
        }
    };
}

generated_kernel!(kernel, no_calls);
generated_kernel!(everything, file_service::call);

/// kernel.cap declares no method with a donation: the strategy never
/// calls one.
fn no_calls(
    _: &str,
    _: &str,
    _: Option<capc_generated_tests::kernel::Cap>,
    _: u64,
    _: u64,
    _: &[(u64, u64)],
    _: &mut CallRecord,
) -> Result<(Vec<u64>, u64), OpError> {
    unreachable!("kernel.cap declares no donating method")
}

/// everything.cap's `FileService` through the generated RPC code: the
/// client stub encodes the request, a loopback transport hands it to
/// `dispatch_file_service` with what the caller donated, the dispatcher
/// makes the method's budget, and a server allocates what the operation
/// says through it. The interpreter's `call` must agree on every address,
/// every refusal and its `needed`.
mod file_service {
    use super::{CallRecord, OpError};
    use capc_generated_tests::everything::*;

    /// A server that allocates `plan` (object type, size argument) through
    /// each call's budget, and remembers the addresses and bytes used.
    #[derive(Default)]
    struct Planned {
        plan: Vec<(u64, u64)>,
        made: Vec<u64>,
        used: u64,
    }

    impl Planned {
        /// Allocates the plan, each object from the class of its type and
        /// size among `classes`.
        fn allocate<C: Copy>(
            &mut self,
            classes: &[C],
            class_of: impl Fn(C) -> (ObjectType, u64),
            mut alloc: impl FnMut(C) -> Result<u64, FileError>,
        ) -> Result<(), FileError> {
            for &(object, arg) in &self.plan {
                let want = (ObjectType::from_word(object).expect("an object type"), arg);
                let class = classes
                    .iter()
                    .copied()
                    .find(|c| class_of(*c) == want)
                    .expect("the strategy allocates only declared classes");
                self.made.push(alloc(class)?);
            }
            Ok(())
        }
    }

    impl FileServiceServer for Planned {
        fn open(
            &mut self,
            _: [u8; 32],
            _: bool,
            budget: &mut FileServiceOpenBudget,
        ) -> Result<FileServiceOpenReply, FileError> {
            let class_of = |c: FileServiceOpenClass| (c.object_type(), c.size_arg());
            self.allocate(&FileServiceOpenClass::ALL, class_of, |c| budget.alloc(c))?;
            self.used = budget.used_bytes();
            Ok(FileServiceOpenReply {
                file: Slot::new(0),
                size: 0,
            })
        }

        fn read(
            &mut self,
            _: Slot<EndpointCap>,
            _: u64,
            _: u64,
            _: [bool; 3],
            budget: &mut FileServiceReadBudget,
        ) -> Result<FileServiceReadReply, FileError> {
            let class_of = |c: FileServiceReadClass| (c.object_type(), c.size_arg());
            self.allocate(&FileServiceReadClass::ALL, class_of, |c| budget.alloc(c))?;
            self.used = budget.used_bytes();
            Ok(FileServiceReadReply {
                pages: Slot::new(0),
                count: 0,
            })
        }

        fn share_buffer(
            &mut self,
            _: Slot<EndpointCap>,
            budget: &mut FileServiceShareBufferBudget,
        ) -> Result<FileServiceShareBufferReply, FileError> {
            let class_of = |c: FileServiceShareBufferClass| (c.object_type(), c.size_arg());
            self.allocate(&FileServiceShareBufferClass::ALL, class_of, |c| {
                budget.alloc(c)
            })?;
            self.used = budget.used_bytes();
            Ok(FileServiceShareBufferReply {
                buffer: Slot::new(0),
            })
        }

        fn stats(&mut self) -> Result<FileServiceStatsReply, FileError> {
            unreachable!("stats takes no donation")
        }
    }

    /// The server behind a loopback: what the kernel would tell it the
    /// caller donated, and the caps it holds (the file the client lends,
    /// the donated cap, the copies the client minted).
    struct Loopback {
        server: Planned,
        donated: Donation,
        caps: std::collections::BTreeMap<u64, Cap>,
    }

    impl Transport for Loopback {
        fn call(
            &mut self,
            info: MessageInfo,
            msg: &mut [u64; target::MESSAGE_WORDS],
            caps_out: &[u64],
            caps_in: &mut [u64; target::CAPS_PER_MESSAGE],
        ) -> MessageInfo {
            let mut caps = [0; target::CAPS_PER_MESSAGE];
            caps[..caps_out.len()].copy_from_slice(caps_out);
            let held = &self.caps;
            let reply = dispatch_file_service(
                &mut self.server,
                info,
                msg,
                &mut caps,
                self.donated,
                |slot| held.get(&slot).copied(),
            );
            caps_in[..reply.caps].copy_from_slice(&caps[..reply.caps]);
            reply
        }

        fn mint(&mut self, slot: u64, rights: Rights) -> Option<u64> {
            let copy = self.caps.get(&slot)?.with_rights_masked(rights);
            let at = self.caps.last_key_value().map_or(0, |(k, _)| k + 1);
            self.caps.insert(at, copy);
            Some(at)
        }

        fn end_lend(&mut self, copy: u64) {
            self.caps.remove(&copy);
        }
    }

    /// Calls `FileService.method` with `donor` (the donated cap, `None`
    /// for a quota) and the free memory `base`, `bytes`; the addresses the
    /// server allocated and the bytes its budget handed out.
    pub fn call(
        interface: &str,
        method: &str,
        donor: Option<Cap>,
        base: u64,
        bytes: u64,
        plan: &[(u64, u64)],
        record: &mut CallRecord,
    ) -> Result<(Vec<u64>, u64), OpError> {
        assert_eq!(interface, "FileService");
        let label = match method {
            "open" => FileServiceLabel::Open,
            "read" => FileServiceLabel::Read,
            "share_buffer" => FileServiceLabel::ShareBuffer,
            _ => unreachable!("FileService.{method} takes no donation"),
        };
        // The kernel's check: the method takes this kind of donation, and
        // an Untyped of its declared cap type.
        match (label.donation(), donor) {
            (Some(DonationKind::Quota), None) => {}
            (Some(DonationKind::Untyped(t)), Some(cap)) if cap.cap_type() == Some(t) => {}
            _ => return Err(OpError::IllegalOperation),
        }
        // Device memory must hold every object the method declares.
        let declared: Vec<ObjectType> = match label {
            FileServiceLabel::Read => FileServiceReadClass::ALL.map(|c| c.object_type()).to_vec(),
            FileServiceLabel::ShareBuffer => FileServiceShareBufferClass::ALL
                .map(|c| c.object_type())
                .to_vec(),
            _ => Vec::new(),
        };
        let device = donor.and_then(UntypedMemory::of).is_some_and(|m| m.device);
        if device && declared.iter().any(|t| !t.memory().1) {
            return Err(OpError::IllegalOperation);
        }
        record.donated = bytes;
        let server = Planned {
            plan: plan.to_vec(),
            ..Planned::default()
        };
        // The donated Untyped travels as the request's last cap.
        const DONATED_SLOT: u64 = 9;
        let file = EndpointCap::new(0x1000, Rights::ALL, 0).expect("an endpoint");
        let mut caps = std::collections::BTreeMap::from([(1, file.cap())]);
        caps.extend(donor.map(|cap| (DONATED_SLOT, cap)));
        let mut client = FileServiceClient::new(Loopback {
            server,
            donated: Donation { base, bytes },
            caps,
        });
        let result = match label {
            FileServiceLabel::Open => client.open([0; 32], false).map(drop),
            FileServiceLabel::Read => client
                .read(Slot::new(1), 0, 0, [false; 3], Slot::new(DONATED_SLOT))
                .map(drop),
            FileServiceLabel::ShareBuffer => client
                .share_buffer(Slot::new(1), Slot::new(DONATED_SLOT))
                .map(drop),
            FileServiceLabel::Stats => unreachable!(),
        };
        let server = client.into_transport().server;
        match result {
            Ok(()) => Ok((server.made, server.used)),
            Err(CallError::Server(FileError::OutOfBudget { needed })) => {
                Err(OpError::OutOfBudget { needed })
            }
            Err(e) => panic!("FileService.{method} failed otherwise: {e:?}"),
        }
    }
}

/// Runs `steps` on both sides; the first divergence or broken invariant.
macro_rules! differ {
    ($module:ident, $spec:expr, $boot:expr, $steps:expr) => {{
        let steps: &[Step] = $steps;
        let spec = $spec;
        let mut m = boot_interp(spec, $boot);
        let mut k = $module::Kernel::boot(&m);
        let boot = boot_regions(&m);
        let mut result = Ok(());
        for (i, step) in steps.iter().enumerate() {
            let want = run_step(&mut m, step);
            let got = k.run_step(step);
            if want != got {
                result = Err(format!(
                    "op {i} {step:?}: interpreter {want:?}, generated {got:?}"
                ));
                break;
            }
            let (ours, theirs) = (interp_state(&m), k.state());
            if ours != theirs {
                result = Err(format!(
                    "op {i} {step:?}: states differ\ninterpreter: {ours:?}\ngenerated:   {theirs:?}"
                ));
                break;
            }
            let (ours, theirs) = (interp_spaces(&m), k.spaces());
            if ours != theirs {
                result = Err(format!(
                    "op {i} {step:?}: address spaces differ\ninterpreter: {ours:x?}\ngenerated:   {theirs:x?}"
                ));
                break;
            }
            let calls = interp_calls(&m);
            if calls != k.calls() {
                result = Err(format!(
                    "op {i} {step:?}: accounting differs\ninterpreter: {calls:?}\ngenerated:   {:?}",
                    k.calls()
                ));
                break;
            }
            let revoked = match step {
                Step::Op(Op::Revoke(at)) if want.is_ok() => m.resolve(&at.path()),
                _ => None,
            };
            let (interp_seen, kernel_seen) = (interp_seen(&m), k.seen());
            if let Err(e) = check_invariants("interpreter", &interp_seen, revoked, &boot, &calls)
                .and_then(|()| check_invariants("generated", &kernel_seen, revoked, &boot, k.calls()))
                .and_then(|()| {
                    check_references("interpreter", spec, &interp_seen, &interp_references(&m))
                })
                .and_then(|()| check_references("generated", spec, &kernel_seen, &k.references()))
                .and_then(|()| check_accounting("interpreter", &m, &interp_seen))
                .and_then(|()| check_accounting("generated", &m, &kernel_seen))
            {
                result = Err(format!("op {i} {step:?}: {e}"));
                break;
            }
        }
        // The sequence up to the failing operation, as a case file.
        result.map_err(|e| {
            let upto = e
                .strip_prefix("op ")
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse::<usize>().ok())
                .map_or(steps.len(), |i| i + 1);
            format!(
                "{e}\n\nAs a case file for {CASES_DIR}/:\n{}",
                steps_text(stringify!($module), &steps[..upto])
            )
        })
    }};
}

/// Where the regression case files are (see `capc_harness::Case`),
/// from the workspace root. The kernel core's differential test replays them
/// too.
const CASES_DIR: &str = "harness/differential-cases";

fn kernel_differ(steps: &[Step]) -> Result<(), String> {
    differ!(kernel, kernel_spec(), KERNEL_BOOT, steps)
}

fn everything_differ(steps: &[Step]) -> Result<(), String> {
    differ!(everything, everything_spec(), EVERYTHING_BOOT, steps)
}

/// Capability operations as steps.
fn as_steps(ops: &[Op]) -> Vec<Step> {
    ops.iter().cloned().map(Step::Op).collect()
}

/// Cases per spec, and runs per case (uniform, so 150.5 on average; a run
/// is one step, or now and then a lifecycle setup of a few, so a case has
/// about 186 steps): 2 specs × 275 cases × 186 ≈ 102,000 operations per
/// run. A failing case shrinks down to the few operations that matter.
const CASES: u32 = 275;
const OPS_PER_CASE: std::ops::RangeInclusive<usize> = 1..=300;

proptest! {
    // PROPTEST_CASES overrides the count for a longer hunt, e.g.
    // `PROPTEST_CASES=20000 cargo test --release -p capc-generated-tests
    // --test differential`.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(CASES)
    ))]

    #[test]
    fn kernel_spec_agrees(steps in steps(kernel_spec(), Ops::WithLifecycle, OPS_PER_CASE)) {
        if let Err(e) = kernel_differ(&steps) {
            prop_assert!(false, "{e}");
        }
    }

    #[test]
    fn everything_spec_agrees(steps in steps(everything_spec(), Ops::WithLifecycle, OPS_PER_CASE)) {
        if let Err(e) = everything_differ(&steps) {
            prop_assert!(false, "{e}");
        }
    }
}

// ----- named cases -----

/// The interpreter packs boot caps exactly as the generated constructors do.
#[test]
fn packed_boot_caps_match_the_generated_constructors() {
    use capc_generated_tests::{everything as e, kernel as k};
    let m = boot_interp(kernel_spec(), KERNEL_BOOT);
    let words = |i: u64| {
        pack(
            &m,
            &m.node_at(Slot {
                cnode: CNodeId::Root,
                index: i,
            })
            .unwrap()
            .cap,
        )
    };
    assert_eq!(
        words(2),
        k::UntypedCap::new(0xfe00_0000, 13, 0, true)
            .unwrap()
            .cap()
            .words()
    );
    assert_eq!(words(4), k::IrqHandlerCap::new(3).unwrap().cap().words());
    let m = boot_interp(everything_spec(), EVERYTHING_BOOT);
    let words = |i: u64| {
        pack(
            &m,
            &m.node_at(Slot {
                cnode: CNodeId::Root,
                index: i,
            })
            .unwrap()
            .cap,
        )
    };
    assert_eq!(
        words(2),
        e::DeviceUntypedCap::new(0xfe00_0000, 22, 0, true)
            .unwrap()
            .cap()
            .words()
    );
    assert_eq!(words(4), e::DomainCap::new(2).unwrap().cap().words());
}

/// Retype, copy, mint with a badge, copy of the badged cap, revoke: the
/// common path agrees and ends with the Untyped's subtree gone.
#[test]
fn retype_mint_copy_revoke_agree() {
    let ops = as_steps(&retype_mint_copy_revoke());
    kernel_differ(&ops).unwrap();
    everything_differ(&ops).unwrap();
}

/// Every regression case file agrees: each divergence ever found, kept as
/// the operations that showed it.
#[test]
fn case_files_agree() {
    let dir = workspace().join(CASES_DIR);
    let (kernel, everything) = (step_cases(&dir, "kernel"), step_cases(&dir, "everything"));
    assert!(
        !kernel.is_empty() && !everything.is_empty(),
        "no case files in {CASES_DIR}"
    );
    for (name, ops) in kernel {
        kernel_differ(&ops).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, ops) in everything {
        everything_differ(&ops).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// What a failing run prints as a case file reads back as the same
/// operations.
#[test]
fn case_text_reads_back() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    for (name, spec) in [("kernel", kernel_spec()), ("everything", everything_spec())] {
        for _ in 0..20 {
            let steps = steps(spec, Ops::WithLifecycle, OPS_PER_CASE)
                .new_tree(&mut runner)
                .unwrap()
                .current();
            let text = steps_text(name, &steps);
            let case = parse_case(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(case.spec, name);
            assert_eq!(case.steps, steps);
        }
    }
}

/// The call in everything-call-from-a-reset-donation.ops starts at the
/// region's base, its objects follow each other as a retype places them,
/// and the retype after it goes right after the last one.
#[test]
fn a_call_from_a_donation_without_children_resets_it() {
    let dir = workspace().join(CASES_DIR);
    let (_, ops) = step_cases(&dir, "everything")
        .into_iter()
        .find(|(name, _)| name == "everything-call-from-a-reset-donation.ops")
        .expect("the case file");
    let mut m = boot_interp(everything_spec(), EVERYTHING_BOOT);
    let outcomes: Vec<_> = ops.iter().map(|op| run_step(&mut m, op)).collect();
    assert_eq!(
        outcomes[2],
        Ok(Outcome::Called {
            addresses: vec![0x40_0000, 0x40_2000, 0x40_3000],
            used: 8192 + 4096 + 32,
        })
    );
    assert!(matches!(outcomes[3], Ok(Outcome::Retyped { first, .. }) if first == 0x40_3020));
}

/// The random sequences reach what they are meant to test: every kind of
/// operation succeeds sometimes, and retype fails with each of its errors.
#[test]
fn random_sequences_reach_every_outcome() {
    let boot = || boot_interp(kernel_spec(), KERNEL_BOOT);
    let seen = outcomes(kernel_spec(), boot, 40, OPS_PER_CASE);
    eprintln!("{seen:#?}");
    assert_reached(&seen, CAP_OUTCOMES);
}

/// everything.cap's sequences reach every outcome of kernel.cap's, and its
/// calls every outcome of a donation: each method
/// allocates from its budget, a donation too small and an allocation past
/// a class's count are refused, and so are a donated cap of the wrong type
/// and a slot that holds none.
#[test]
fn random_calls_reach_every_outcome() {
    let boot = || boot_interp(everything_spec(), EVERYTHING_BOOT);
    let seen = outcomes(everything_spec(), boot, 40, OPS_PER_CASE);
    eprintln!("{seen:#?}");
    assert_reached(&seen, CAP_OUTCOMES);
    assert_reached(
        &seen,
        [
            "call open allocated",
            "call open OutOfBudget",
            "call read allocated",
            "call read OutOfBudget",
            "call read IllegalOperation",
            "call read FailedLookup",
            "call share_buffer allocated",
            "call share_buffer OutOfBudget",
            "call share_buffer IllegalOperation",
        ],
    );
}

/// The random sequences with lifecycle steps reach every lifecycle path
/// on kernel.cap (owned slots, frames, tables, address spaces, and each
/// refusal of a walk down its four levels of tables) and reuse
/// memory; everything.cap's reach all but `release_asid` (it has no
/// address-space root: one implicit address space).
#[test]
fn random_lifecycle_steps_reach_every_path() {
    // More cases than elsewhere: a chain of four tables and a frame needs
    // most of the 64 KiB Untyped, and a random step often takes it first.
    let boot = || boot_interp(kernel_spec(), KERNEL_BOOT);
    let seen = step_outcomes(kernel_spec(), boot, 100, OPS_PER_CASE, Ops::WithLifecycle);
    eprintln!("{seen:#?}");
    assert_reached(&seen, CAP_OUTCOMES);
    assert_reached(&seen, LIFECYCLE_OUTCOMES);
    assert_reached(&seen, TABLE_OUTCOMES);
    assert_reached(&seen, POOL_OUTCOMES);
    let boot = || boot_interp(everything_spec(), EVERYTHING_BOOT);
    let seen = step_outcomes(
        everything_spec(),
        boot,
        40,
        OPS_PER_CASE,
        Ops::WithLifecycle,
    );
    eprintln!("{seen:#?}");
    assert_reached(&seen, CAP_OUTCOMES);
    assert_reached(
        &seen,
        LIFECYCLE_OUTCOMES
            .into_iter()
            .filter(|o| *o != "finalise release_asid"),
    );
}

/// The interpreter's outcomes of a kernel.cap case file, each step's.
fn kernel_case_outcomes(name: &str) -> (Machine<'static>, Vec<Answer>) {
    let dir = workspace().join(CASES_DIR);
    let (_, steps) = step_cases(&dir, "kernel")
        .into_iter()
        .find(|(n, _)| n == name)
        .expect("the case file");
    kernel_differ(&steps).unwrap();
    let mut m = boot_interp(kernel_spec(), KERNEL_BOOT);
    let outcomes = steps.iter().map(|s| run_step(&mut m, s)).collect();
    (m, outcomes)
}

/// Issue 12's first takeover (kernel-cnode-reused-under-a-live-cspace.ops):
/// the CNode's memory cannot be retyped while the TCB's `cspace` slot holds
/// a cap to it; deleting the TCB empties its slots and frees the memory.
#[test]
fn a_cnode_under_a_live_cspace_is_not_reused() {
    let (m, outcomes) = kernel_case_outcomes("kernel-cnode-reused-under-a-live-cspace.ops");
    assert!(outcomes[..10].iter().all(Result::is_ok), "{outcomes:?}");
    assert_eq!(outcomes[10], Err(OpError::NotEnoughMemory { left: 0 }));
    // The TCB's three slots and the copies they held went with it.
    assert_eq!(outcomes[11], Ok(Outcome::Removed(4)));
    assert!(matches!(
        outcomes[12],
        Ok(Outcome::Retyped {
            first: 0x10_0000,
            reset: true,
            ..
        })
    ));
    assert!(m.slot_owners().is_empty());
}

/// Issue 12's second takeover (kernel-table-reused-while-linked.ops): an
/// unlinked table cap cannot be copied, a linked one cannot be linked again,
/// its memory stays while a cap does, the last cap's removal unlinks it,
/// and the PML4's last cap takes its address space and mappings.
#[test]
fn a_linked_table_is_not_reused() {
    let (m, outcomes) = kernel_case_outcomes("kernel-table-reused-while-linked.ops");
    assert!(outcomes[..10].iter().all(Result::is_ok), "{outcomes:?}");
    assert_eq!(outcomes[10], Err(OpError::IllegalOperation));
    assert_eq!(outcomes[11], Ok(Outcome::Done));
    assert_eq!(outcomes[12], Ok(Outcome::Done));
    assert_eq!(outcomes[13], Err(OpError::InvalidCapability { index: 0 }));
    assert_eq!(outcomes[14], Err(OpError::NotEnoughMemory { left: 0 }));
    assert!(matches!(
        outcomes[17],
        Ok(Outcome::Retyped {
            first: 0x10_0000,
            reset: true,
            ..
        })
    ));
    assert_eq!(outcomes[18], Err(OpError::FailedLookup { source: 0 }));
    assert!(outcomes[19].is_ok());
    assert_eq!(
        outcomes[20],
        Ok(Outcome::Done),
        "the table's entry was freed"
    );
    assert_eq!(outcomes[21], Ok(Outcome::Done));
    assert_eq!(outcomes[22], Ok(Outcome::Removed(1)));
    assert!(m.mappings().is_empty() && m.address_spaces().is_empty());
}

/// The seL4 conformance cases (`sel4-*.ops`, each rule citing the seL4
/// function it follows) give on the interpreter the outcome every step
/// names; `case_files_agree` replays them against this test's kernel over
/// the generated code, so it gives the same.
#[test]
fn sel4_conformance_cases_hold() {
    let dir = workspace().join(CASES_DIR);
    let cases = expectation_cases(&dir, "kernel");
    assert!(cases.iter().any(|(name, _)| name.starts_with("sel4-")));
    for (name, case) in cases {
        let mut m = boot_interp(kernel_spec(), KERNEL_BOOT);
        check_expectations(&mut m, &case).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// everything.cap's copy conditions (`everything-copy-conditions.ops`):
/// the interpreter gives each step the outcome the case names, and the
/// CNode cap's copy has no guard where its source (minted with one) has
/// guard 5 of 4 bits; `case_files_agree` holds the generated side to the
/// same caps.
#[test]
fn copy_conditions_case_holds() {
    let dir = workspace().join(CASES_DIR);
    let (_, case) = expectation_cases(&dir, "everything")
        .into_iter()
        .find(|(name, _)| name == "everything-copy-conditions.ops")
        .expect("the case file");
    let mut m = boot_interp(everything_spec(), EVERYTHING_BOOT);
    check_expectations(&mut m, &case).unwrap();
    let guard = |index: u64, field: &str| {
        let node = m.node_at(Slot {
            cnode: CNodeId::Root,
            index,
        });
        node.expect("a cap")
            .cap
            .other
            .get(field)
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(
        (guard(9, "guard_bits"), guard(9, "guard")),
        (4, 5),
        "minted"
    );
    assert_eq!(
        (guard(10, "guard_bits"), guard(10, "guard")),
        (0, 0),
        "copied"
    );
}

// ----- sessions: everything.cap's page cache -----

/// everything.cap's `PageCache`, a session interface, through the generated
/// RPC code (client stub, `dispatch_page_cache`, `PageCacheSession`,
/// `PageCacheCharge`) with a small server, and through the interpreter's
/// session ledger (`capc_interp::session`); each session is backed by
/// an Untyped retyped from the donor's memory on both machines (the
/// interpreter and the kernel over the generated code), and deleting or
/// revoking it closes the session on both sides (the interpreter's `reap`;
/// on the generated side, the server's runtime sees the donation gone).
/// After every step: the same outcome (success, the out-of-quota error
/// with the same `needed`, or the same refusal), the same quota and charge
/// of every session, the same caps in every slot, and both sides keep the
/// two invariants of docs/language.md ("Sessions"): the sum of the
/// sessions' charges is what the server holds for its clients, and no
/// client sequence changes the server's own memory.
mod page_cache {
    use std::collections::BTreeMap;

    use capc_generated_tests::everything::{
        CacheError, CallError, Donation, MessageInfo, PageCacheCharge, PageCacheClient,
        PageCacheFillReply, PageCacheServer, PageCacheSession, PageCacheTouchReply, Transport,
        UntypedCap, dispatch_page_cache, target,
    };

    /// The server: each entry's session, pages and charge.
    #[derive(Default)]
    pub struct Server {
        pub entries: BTreeMap<u32, (u64, u8, PageCacheCharge)>,
        next: u32,
        /// Bytes of its own memory the server spent for clients: none, by
        /// construction of the spec; counted to show it stays so.
        pub own: u64,
    }

    impl Server {
        /// What the server holds for the clients of `sessions` open
        /// sessions: each session's record, and every entry's charge.
        pub fn held(&self, sessions: usize) -> u64 {
            sessions as u64 * PageCacheSession::KEEPS
                + self
                    .entries
                    .values()
                    .map(|(_, _, c)| c.bytes())
                    .sum::<u64>()
        }

        /// Forgets what it kept for session `id` (its runtime closed it).
        pub fn forget(&mut self, id: u64) {
            self.entries.retain(|_, (owner, _, _)| *owner != id);
        }
    }

    impl PageCacheServer for Server {
        fn fill(
            &mut self,
            pages: u8,
            session: &mut PageCacheSession,
            charge: &mut Option<PageCacheCharge>,
        ) -> Result<PageCacheFillReply, CacheError> {
            self.next += 1;
            let charge = charge.take().expect("dispatch charged the entry");
            assert_eq!(
                charge.bytes(),
                PageCacheSession::fill_handed_bytes(pages),
                "the charge is the actual arguments'"
            );
            self.entries
                .insert(self.next, (session.id(), pages, charge));
            Ok(PageCacheFillReply { key: self.next })
        }

        fn touch(
            &mut self,
            key: u32,
            session: &mut PageCacheSession,
        ) -> Result<PageCacheTouchReply, CacheError> {
            match self.entries.get(&key) {
                Some((owner, pages, _)) if *owner == session.id() => {
                    Ok(PageCacheTouchReply { pages: *pages })
                }
                _ => Err(CacheError::NoEntry),
            }
        }

        fn release(&mut self, key: u32, session: &mut PageCacheSession) -> Result<(), CacheError> {
            match self.entries.get(&key) {
                Some((owner, _, _)) if *owner == session.id() => {
                    let (_, _, charge) = self.entries.remove(&key).expect("present");
                    session.refund(charge).expect("this session's charge");
                    Ok(())
                }
                _ => Err(CacheError::NoEntry),
            }
        }
    }

    /// The server with the session of the client calling.
    pub struct Loopback<'a> {
        pub server: &'a mut Server,
        pub session: &'a mut PageCacheSession,
    }

    impl Transport for Loopback<'_> {
        fn call(
            &mut self,
            info: MessageInfo,
            msg: &mut [u64; target::MESSAGE_WORDS],
            caps_out: &[u64],
            caps_in: &mut [u64; target::CAPS_PER_MESSAGE],
        ) -> MessageInfo {
            let mut caps = [0; target::CAPS_PER_MESSAGE];
            caps[..caps_out.len()].copy_from_slice(caps_out);
            let reply = dispatch_page_cache(self.server, info, msg, &mut caps, self.session);
            caps_in[..reply.caps].copy_from_slice(&caps[..reply.caps]);
            reply
        }
    }

    /// A client's stub over its session.
    pub fn client<'a>(
        server: &'a mut Server,
        session: &'a mut PageCacheSession,
    ) -> PageCacheClient<Loopback<'a>> {
        PageCacheClient::new(Loopback { server, session })
    }

    /// The donation an Untyped cap's words say: a fresh Untyped (no
    /// children), so all of it. `None` for another cap.
    pub fn donation(words: &[u64]) -> Option<Donation> {
        let cap = capc_generated_tests::everything::Cap::from_words(words.try_into().ok()?);
        let u = UntypedCap::from_cap(cap)?;
        Some(Donation {
            base: u.base(),
            bytes: 1 << u.bits(),
        })
    }

    /// A generated call's result, comparable with the interpreter's.
    pub fn outcome<T>(r: Result<T, CallError<CacheError>>) -> super::SessionOutcome {
        match r {
            Ok(_) => super::SessionOutcome::Ok,
            Err(CallError::Server(CacheError::OutOfQuota { needed })) => {
                super::SessionOutcome::OutOfQuota(needed)
            }
            Err(_) => super::SessionOutcome::Refused,
        }
    }
}

/// What a session step gave, comparable across the two sides.
#[derive(Clone, Debug, PartialEq, Eq)]
enum SessionOutcome {
    Ok,
    OutOfQuota(u64),
    Refused,
    /// The sessions closed (by client), as their runtime or `reap` saw it.
    Closed(Vec<usize>),
    Skipped,
}

fn interp_outcome<T>(r: Option<Result<T, OpError>>) -> SessionOutcome {
    match r.expect("the method exists") {
        Ok(_) => SessionOutcome::Ok,
        Err(OpError::OutOfBudget { needed }) => SessionOutcome::OutOfQuota(needed),
        Err(_) => SessionOutcome::Refused,
    }
}

/// A session step. Clients 0..3 donate from the root slot `8 + client`.
#[derive(Clone, Debug)]
enum SessionOp {
    /// Retype an Untyped of 2^bits bytes from the donor's memory into the
    /// client's donation slot and open a session with it (2^13 is below
    /// the least quota).
    Open(usize, u64),
    Fill(usize, u8),
    Touch(usize, usize),
    Release(usize, usize),
    /// The client closes its session, then deletes its donation.
    Close(usize),
    /// The client deletes its donation: the session closes.
    DeleteDonation(usize),
    /// The client revokes its donation: the session closes.
    RevokeDonation(usize),
    /// The donor's memory is revoked: every session closes.
    RevokeDonor,
}

fn session_op() -> impl Strategy<Value = SessionOp> {
    prop_oneof![
        2 => (0usize..3, prop_oneof![Just(13u64), Just(14), Just(15)])
            .prop_map(|(c, b)| SessionOp::Open(c, b)),
        4 => (0usize..3, 0u8..4).prop_map(|(c, p)| SessionOp::Fill(c, p)),
        1 => (0usize..3, 0usize..8).prop_map(|(c, f)| SessionOp::Touch(c, f)),
        2 => (0usize..3, 0usize..8).prop_map(|(c, f)| SessionOp::Release(c, f)),
        1 => (0usize..3).prop_map(SessionOp::Close),
        1 => (0usize..3).prop_map(SessionOp::DeleteDonation),
        1 => (0usize..3).prop_map(SessionOp::RevokeDonation),
        1 => Just(SessionOp::RevokeDonor),
    ]
}

/// One client on both sides: its generated session and interpreter
/// session, and its entries (generated key, interpreter handle).
struct SessionClient {
    session: capc_generated_tests::everything::PageCacheSession,
    id: capc_interp::session::SessionId,
    entries: Vec<(u32, u64)>,
}

/// The root slot of client `c`'s donation.
fn donation_slot(c: usize) -> Path2 {
    Path2 {
        via: None,
        index: 8 + c as u64,
    }
}

/// Runs `ops` on both sides: what each step gave, or the first
/// disagreement or broken invariant.
fn sessions_differ(ops: &[SessionOp]) -> Result<Vec<SessionOutcome>, String> {
    use capc_generated_tests::everything::PageCacheSession;
    use capc_interp::session::Sessions;
    let spec = everything_spec();
    let mut m = boot_interp(spec, EVERYTHING_BOOT);
    let mut k = everything::Kernel::boot(&m);
    let mut ledger = Sessions::new(spec);
    let mut server = page_cache::Server::default();
    let mut clients: [Option<SessionClient>; 3] = [None, None, None];
    let mut next_id = 1;
    let donor = Path2 {
        via: None,
        index: DONOR_SLOT,
    };
    let mut outcomes = Vec::new();
    // A capability step on both machines: the same answer and state.
    let both = |m: &mut Machine<'_>, k: &mut everything::Kernel, op: Op| -> Result<bool, String> {
        let step = Step::Op(op);
        let (want, got) = (run_step(m, &step), k.run_step(&step));
        if want != got {
            return Err(format!("{step:?}: interpreter {want:?}, generated {got:?}"));
        }
        if interp_state(m) != k.state() {
            return Err(format!("{step:?}: the states differ"));
        }
        Ok(want.is_ok())
    };
    for (i, op) in ops.iter().enumerate() {
        let at = |e: String| format!("op {i} {op:?}: {e}");
        let (want, got) = match *op {
            SessionOp::Open(c, bits) => {
                if clients[c].is_some() {
                    (SessionOutcome::Skipped, SessionOutcome::Skipped)
                } else {
                    let slot = donation_slot(c);
                    let retype = Op::Retype {
                        source: donor,
                        object_type: capc_generated_tests::everything::ObjectType::Untyped as u64,
                        size_arg: bits,
                        dest: None,
                        offset: slot.index,
                        count: 1,
                    };
                    if !both(&mut m, &mut k, retype).map_err(at)? {
                        (SessionOutcome::Skipped, SessionOutcome::Skipped)
                    } else {
                        let want = ledger.open_untyped(&m, "PageCache", &slot.path());
                        let words = k
                            .state()
                            .get(&Place::Slot(Slot {
                                cnode: CNodeId::Root,
                                index: slot.index,
                            }))
                            .map(|(words, _)| words.clone())
                            .unwrap_or_default();
                        let donation = page_cache::donation(&words)
                            .ok_or_else(|| at("the donation is not an Untyped".into()))?;
                        let got = PageCacheSession::open(next_id, donation);
                        next_id += 1;
                        let outcome = match &got {
                            Ok(_) => SessionOutcome::Ok,
                            Err(capc_generated_tests::everything::CacheError::OutOfQuota {
                                needed,
                            }) => SessionOutcome::OutOfQuota(*needed),
                            Err(_) => SessionOutcome::Refused,
                        };
                        let w = interp_outcome(want);
                        match (want, got) {
                            (Some(Ok(id)), Ok(session)) => {
                                clients[c] = Some(SessionClient {
                                    session,
                                    id,
                                    entries: Vec::new(),
                                });
                            }
                            // Refused: the client takes its donation back.
                            _ => {
                                both(&mut m, &mut k, Op::Delete(slot)).map_err(at)?;
                            }
                        }
                        (w, outcome)
                    }
                }
            }
            SessionOp::Fill(c, pages) => match &mut clients[c] {
                Some(client) => {
                    let want = ledger.call(client.id, "PageCache", "fill", &[u64::from(pages)]);
                    let handle = match &want {
                        Some(Ok(out)) => Some(out.handles[0].1),
                        _ => None,
                    };
                    let got = page_cache::client(&mut server, &mut client.session).fill(pages);
                    if let (Ok(reply), Some(handle)) = (&got, handle) {
                        client.entries.push((reply.key, handle));
                    }
                    (interp_outcome(want), page_cache::outcome(got))
                }
                None => (SessionOutcome::Skipped, SessionOutcome::Skipped),
            },
            SessionOp::Touch(c, f) => match &mut clients[c] {
                Some(client) if !client.entries.is_empty() => {
                    let (key, _) = client.entries[f % client.entries.len()];
                    let want = ledger.call(client.id, "PageCache", "touch", &[0]);
                    let got = page_cache::client(&mut server, &mut client.session).touch(key);
                    (interp_outcome(want), page_cache::outcome(got))
                }
                _ => (SessionOutcome::Skipped, SessionOutcome::Skipped),
            },
            SessionOp::Release(c, f) => match &mut clients[c] {
                Some(client) if !client.entries.is_empty() => {
                    let (key, handle) = client.entries.remove(f % client.entries.len());
                    let want = ledger.call(client.id, "PageCache", "release", &[handle]);
                    let got = page_cache::client(&mut server, &mut client.session).release(key);
                    (interp_outcome(want), page_cache::outcome(got))
                }
                _ => (SessionOutcome::Skipped, SessionOutcome::Skipped),
            },
            SessionOp::Close(c) => match clients[c].take() {
                Some(client) => {
                    server.forget(client.session.id());
                    let quota = client.session.close();
                    let want = ledger.close(client.id);
                    if want != Ok(quota) {
                        return Err(at(format!(
                            "closing: interpreter {want:?}, generated {quota}"
                        )));
                    }
                    both(&mut m, &mut k, Op::Delete(donation_slot(c))).map_err(at)?;
                    (SessionOutcome::Ok, SessionOutcome::Ok)
                }
                None => (SessionOutcome::Skipped, SessionOutcome::Skipped),
            },
            SessionOp::DeleteDonation(_)
            | SessionOp::RevokeDonation(_)
            | SessionOp::RevokeDonor => {
                let (cap_op, target) = match *op {
                    SessionOp::DeleteDonation(c) => (Op::Delete(donation_slot(c)), None),
                    SessionOp::RevokeDonation(c) => {
                        (Op::Revoke(donation_slot(c)), Some(donation_slot(c)))
                    }
                    _ => (Op::Revoke(donor), Some(donor)),
                };
                // The node a revoke runs on, before it runs.
                let revoked = target
                    .and_then(|t| m.resolve(&t.path()))
                    .and_then(|s| m.id_at(s));
                if !both(&mut m, &mut k, cap_op).map_err(at)? {
                    (SessionOutcome::Skipped, SessionOutcome::Skipped)
                } else {
                    // The interpreter: sessions whose donation is gone or
                    // was revoked.
                    let reaped = ledger.reap(&m, revoked);
                    let mut want: Vec<usize> = (0..3)
                        .filter(|&c| {
                            clients[c]
                                .as_ref()
                                .is_some_and(|cl| reaped.contains(&cl.id))
                        })
                        .collect();
                    want.sort_unstable();
                    // The generated side's runtime: a session whose
                    // donation slot is empty, or whose donation was the
                    // cap revoked, is closed.
                    let state = k.state();
                    let mut got = Vec::new();
                    for (c, client) in clients.iter().enumerate() {
                        let Some(client) = client else { continue };
                        let slot = donation_slot(c);
                        let gone = !state.contains_key(&Place::Slot(Slot {
                            cnode: CNodeId::Root,
                            index: slot.index,
                        }));
                        if gone || target == Some(slot) {
                            server.forget(client.session.id());
                            got.push(c);
                        }
                    }
                    for &c in &got {
                        let client = clients[c].take().expect("open");
                        let _ = client.session.close();
                        // The client takes back what is left of it.
                        if matches!(op, SessionOp::RevokeDonation(_)) {
                            both(&mut m, &mut k, Op::Delete(donation_slot(c))).map_err(at)?;
                        }
                    }
                    (SessionOutcome::Closed(want), SessionOutcome::Closed(got))
                }
            }
        };
        if want != got {
            return Err(at(format!("interpreter {want:?}, generated {got:?}")));
        }
        let open: Vec<&SessionClient> = clients.iter().flatten().collect();
        if open.len() != ledger.open.len() {
            return Err(at(format!(
                "{} sessions open in the generated code, {} in the interpreter",
                open.len(),
                ledger.open.len()
            )));
        }
        for client in &open {
            let s = &ledger.open[&client.id];
            if (client.session.quota(), client.session.used()) != (s.quota, s.used()) {
                return Err(at(format!(
                    "a session's quota and charges: generated {} and {}, interpreter {} and {}",
                    client.session.quota(),
                    client.session.used(),
                    s.quota,
                    s.used()
                )));
            }
            if client.session.used() > client.session.quota() {
                return Err(at("a session charged past its quota".into()));
            }
        }
        // The sum of the sessions' charges is what the server holds for its
        // clients, on both sides.
        let charged: u64 = open.iter().map(|c| c.session.used()).sum();
        if charged != server.held(open.len()) || !ledger.balanced() || ledger.held != charged {
            return Err(at(format!(
                "the sessions' charges ({charged}) are not what the server holds (generated {}, interpreter {})",
                server.held(open.len()),
                ledger.held
            )));
        }
        // No client sequence changes the server's own memory.
        if server.own != 0 || ledger.server_own != 0 {
            return Err(at("the server's own memory changed".into()));
        }
        outcomes.push(got);
    }
    Ok(outcomes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(128)
    ))]

    #[test]
    fn everything_sessions_agree(ops in prop::collection::vec(session_op(), 1..80)) {
        if let Err(e) = sessions_differ(&ops) {
            prop_assert!(false, "{e}");
        }
    }
}

/// A hostile client fills until its own quota is exhausted; the others
/// are unaffected, and revoking its donation returns every byte.
#[test]
fn a_hostile_page_cache_client_exhausts_only_its_own_quota() {
    let mut ops = vec![SessionOp::Open(0, 14), SessionOp::Open(1, 14)];
    // 16 KiB: the record (64) and three entries of 2 pages (3 × 8224)
    // fit no more than one; 1-page entries: (16384 - 64) / 4128 = 3.
    ops.extend((0..6).map(|_| SessionOp::Fill(1, 1)));
    ops.extend([
        SessionOp::Fill(0, 2),
        SessionOp::Touch(0, 0),
        SessionOp::Release(0, 0),
        SessionOp::RevokeDonation(1),
        SessionOp::Open(1, 15),
        SessionOp::Fill(1, 2),
        SessionOp::Close(0),
        SessionOp::RevokeDonor,
    ]);
    let outcomes = sessions_differ(&ops).unwrap();
    use SessionOutcome::{Closed, Ok as Done, OutOfQuota};
    // 16 KiB hold the record (64 bytes) and three 1-page entries (4096 +
    // 32 bytes each); the fourth is refused with its charge.
    assert_eq!(
        outcomes[2..8],
        [
            Done,
            Done,
            Done,
            OutOfQuota(4128),
            OutOfQuota(4128),
            OutOfQuota(4128)
        ]
    );
    assert_eq!(
        outcomes[8..11],
        [Done, Done, Done],
        "the other client is served"
    );
    assert_eq!(outcomes[11], Closed(vec![1]));
    assert_eq!(outcomes[12..15], [Done, Done, Done], "its memory is back");
    assert_eq!(outcomes[15], Closed(vec![1]));
}
