//! What objects refer to, and what removing their last cap undoes: the
//! slots an object owns, mappings into address spaces, and finalisation.
//!
//! - Owned slots (`slot NAME: CapType(rights);`) are slots of the object
//!   like a CNode's: `Slot { cnode: CNodeId::Object(address), index }`,
//!   index in declaration order. They are in the derivation tree, and no
//!   path reaches them: only [`configure`](Machine::configure) fills them,
//!   as seL4's TCB_Configure fills a TCB's tcbCTable/tcbVTable/tcbBuffer.
//! - An address space is an object whose type finalises with
//!   `release_asid`. It gets its number (seL4's ASID) on its first
//!   mapping: the lowest one free. A spec without such a type has one
//!   address space, number 1, that always exists.
//! - With translation tables (`table = N x SIZE of ...;`) an address space
//!   is its root table, and every mapping an entry of a table reached by
//!   walking down from it: [`map`](Machine::map) walks to the table whose
//!   entries hold the object at its size, as the hardware would. Without
//!   tables an address space is one flat table of pages.
//! - [`map`](Machine::map) records a mapping in the cap (`#[mapped_at]`,
//!   `#[mapped_in]`) and fills the entry. For `Mapping::EachCap` caps
//!   (frames) the mapping is the cap's; for `Mapping::Shared` caps (tables)
//!   it is the object's: the table is linked, and its caps, all copies of
//!   the one mapped, say so.
//! - Removing a cap ([`finalise`](Machine::finalise)): a mapped EachCap
//!   cap unmaps its page; the last cap to an object unlinks a Shared
//!   object, empties a table (its memory may be handed out again),
//!   releases an address space's number, and deletes the caps in the
//!   object's slots.
//!
//! A mapping is removed only where it still stands: the address space
//! still has the number, the walk down to the entry still works, and the
//! entry is this object; so a cap that recorded a mapping in a released
//! address space, or under a table since unlinked, unmaps nothing.

use super::{CNodeId, Holder, Machine, Node, NodeId, OpError, SlotPath};
use capc_dsl::model::{CopyPolicy, Mapping, ObjectId, Role};

/// What a table entry holds: an object (a frame, or a linked table) by its
/// address and type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Entry {
    /// The object's address.
    pub object: u64,
    /// Its type.
    pub object_type: ObjectId,
}

/// Whose entries: a translation table's (by its address), or, in a spec
/// without tables, an address space's own flat table (by its number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Container {
    /// The entries of the table at this address, by index.
    Table(u64),
    /// The pages of the address space with this number (no tables).
    Space(u64),
}

/// Where a mapping is, as both differential tests report it: the address
/// space's number, the virtual page (in units of the smallest entry, see
/// `Spec::page_bits`) and log2 of the bytes the entry covers (0 without
/// tables).
pub type MapKey = (u64, u64, u32);

/// The number of the one address space of a spec without an
/// address-space root type.
pub const IMPLICIT_ASID: u64 = 1;

impl Machine<'_> {
    /// The object type whose objects are address-space roots: the first
    /// that finalises with `release_asid`.
    pub fn address_space_object(&self) -> Option<ObjectId> {
        self.spec.address_space_root()
    }

    /// Live address spaces: number to the address of the root object
    /// (0 for the implicit one).
    pub fn address_spaces(&self) -> &std::collections::BTreeMap<u64, u64> {
        &self.asids
    }

    /// What every live address space maps: every entry reached by walking
    /// down from its root (or its pages, without tables), by where it is.
    /// Entries of tables no longer reachable (unlinked, or under a root that
    /// went) are not mappings.
    pub fn mappings(&self) -> std::collections::BTreeMap<MapKey, Entry> {
        let mut out = std::collections::BTreeMap::new();
        for (&asid, &root) in &self.asids {
            match self.spec.table_root() {
                None => {
                    let space = Container::Space(asid);
                    for ((_, page), e) in self.entries.range((space, 0)..=(space, u64::MAX)) {
                        out.insert((asid, *page, 0), *e);
                    }
                }
                Some(root_type) => self.walk_into(&mut out, asid, root, root_type, 0),
            }
        }
        out
    }

    /// Adds what the table at `table` (of type `table_type`, covering
    /// from `base`) maps, and what the tables it links map.
    fn walk_into(
        &self,
        out: &mut std::collections::BTreeMap<MapKey, Entry>,
        asid: u64,
        table: u64,
        table_type: ObjectId,
        base: u64,
    ) {
        let Some(t) = &self.spec.objects[table_type.index()].table else {
            return;
        };
        let page_bits = self.spec.page_bits();
        let at = Container::Table(table);
        for ((_, index), e) in self.entries.range((at, 0)..=(at, u64::MAX)) {
            let vaddr = base + (index << t.entry_bits);
            out.insert((asid, vaddr >> page_bits, t.entry_bits), *e);
            if self.spec.objects[e.object_type.index()].table.is_some() {
                self.walk_into(out, asid, e.object, e.object_type, vaddr);
            }
        }
    }

    /// Objects that own slots, by address, with their type.
    pub fn slot_owners(&self) -> &std::collections::BTreeMap<u64, ObjectId> {
        &self.slot_owners
    }

    /// The owned slots of the object `cap` names, if its type has some.
    pub fn owned_slots(&self, cap: &super::Cap) -> Option<&[capc_dsl::model::OwnedSlot]> {
        let object = self.object_of(cap)?;
        let slots = &self.spec.objects[object.index()].slots;
        (!slots.is_empty() && self.region(cap).is_some()).then_some(slots.as_slice())
    }

    /// The slot table of the live object `cap` names: a CNode's, or the
    /// slots an object owns.
    pub(crate) fn table_named(&self, cap: &super::Cap) -> Option<CNodeId> {
        if let Some(cnode) = self.cnode_named(cap) {
            return Some(cnode);
        }
        let id = CNodeId::Object(cap.object);
        (self.owned_slots(cap).is_some()
            && self.slot_owners.contains_key(&cap.object)
            && self.cnodes.contains_key(&id))
        .then_some(id)
    }

    /// A new object's slots: an object that owns slots starts with them
    /// empty (whatever a previous object there left is gone with it).
    pub(crate) fn made(&mut self, cap: &super::Cap) {
        self.made_ipc(cap);
        let table = Container::Table(cap.object);
        self.entries.retain(|(c, _), _| *c != table);
        let Some(count) = self.owned_slots(cap).map(<[_]>::len) else {
            return;
        };
        let id = CNodeId::Object(cap.object);
        self.slots.retain(|s, _| s.cnode != id);
        self.cnodes.insert(id, count as u64);
        let object = self.object_of(cap).expect("owns slots");
        self.slot_owners.insert(cap.object, object);
    }

    fn field_max(&self, cap: &super::Cap, role: Role) -> Option<u64> {
        let f = self.spec.caps[cap.cap_type.index()].field_with(role)?;
        Some(if f.width >= 64 {
            u64::MAX
        } else {
            (1u64 << f.width) - 1
        })
    }

    fn mapped_fields(&self, cap: &super::Cap) -> (u64, u64) {
        let t = &self.spec.caps[cap.cap_type.index()];
        let get = |role| t.field_with(role).map_or(0, |f| self.field_value(cap, f));
        (get(Role::MappedAt), get(Role::MappedIn))
    }

    fn set_mapped_fields(&self, cap: &mut super::Cap, page: u64, asid: u64) {
        let t = &self.spec.caps[cap.cap_type.index()];
        for (role, value) in [(Role::MappedAt, page), (Role::MappedIn, asid)] {
            if let Some(f) = t.field_with(role) {
                if value == 0 {
                    cap.other.remove(&f.name);
                } else {
                    cap.other.insert(f.name.clone(), value);
                }
            }
        }
    }

    /// The address space a cap's mapping is in: its `#[mapped_in]` field,
    /// or the implicit space for a cap without one.
    fn space_of(&self, cap: &super::Cap) -> u64 {
        let (page, asid) = self.mapped_fields(cap);
        let has_field = self.spec.caps[cap.cap_type.index()]
            .field_with(Role::MappedIn)
            .is_some();
        match (page, has_field) {
            (0, _) => 0,
            (_, true) => asid,
            (_, false) => IMPLICIT_ASID,
        }
    }

    /// The entry where an object of type `object_type` and `1 << size_bits`
    /// bytes mapped at `page` of address space `asid` is: walking down from
    /// the root to the table that holds it. `Err` says why there is none:
    /// the object cannot be mapped (`IllegalOperation`), the address is not
    /// aligned to its size (`AlignmentError`), lies outside user space
    /// (`InvalidArgument { index: 1 }`), or a table on the way is missing
    /// (`FailedLookup { source: 0 }`).
    /// `root` is the address-space root's address (`None` without
    /// tables).
    fn entry_for(
        &self,
        asid: u64,
        root: Option<u64>,
        page: u64,
        object_type: ObjectId,
        size_bits: u32,
    ) -> Result<(Container, u64), OpError> {
        let (Some(_), Some(root)) = (self.spec.table_root(), root) else {
            return Ok((Container::Space(asid), page));
        };
        let holder = self
            .spec
            .table_holding(object_type, size_bits)
            .ok_or(OpError::IllegalOperation)?;
        let path = self
            .spec
            .table_path(holder)
            .ok_or(OpError::IllegalOperation)?;
        let page_bits = self.spec.page_bits();
        let vaddr = page
            .checked_shl(page_bits)
            .filter(|v| v >> page_bits == page)
            .ok_or(OpError::InvalidArgument { index: 1 })?;
        if vaddr & ((1u64 << size_bits) - 1) != 0 {
            return Err(OpError::AlignmentError);
        }
        let (user_base, user_end) = self.spec.target.user_space.unwrap_or((0, u64::MAX));
        let end = vaddr.checked_add(1 << size_bits);
        if vaddr < user_base || end.is_none_or(|end| end > user_end) {
            return Err(OpError::InvalidArgument { index: 1 });
        }
        let mut table = root;
        for pair in path.windows(2) {
            let t = self.spec.objects[pair[0].index()]
                .table
                .as_ref()
                .expect("a table on the path");
            let index = (vaddr >> t.entry_bits) & (t.entries - 1);
            match self.entries.get(&(Container::Table(table), index)) {
                Some(e) if e.object_type == pair[1] => table = e.object,
                _ => return Err(OpError::FailedLookup { source: 0 }),
            }
        }
        let t = self.spec.objects[holder.index()]
            .table
            .as_ref()
            .expect("the holder is a table");
        Ok((
            Container::Table(table),
            (vaddr >> t.entry_bits) & (t.entries - 1),
        ))
    }

    /// log2 of the bytes of address space the object `cap` names takes
    /// when mapped: a table's span, any other object's size (0 if it has
    /// none).
    fn size_bits_of(&self, cap: &super::Cap) -> u32 {
        let table = self
            .object_of(cap)
            .and_then(|o| self.spec.objects[o.index()].table.as_ref());
        match table {
            Some(t) => t.span_bits(),
            None => self
                .region(cap)
                .map_or(0, |(_, size)| size.trailing_zeros()),
        }
    }

    /// Removes the mapping `cap` records (at `page` of address space
    /// `asid`) if it still stands: the walk still reaches its entry and the
    /// entry is this object.
    fn unmap_entry(&mut self, cap: &super::Cap, asid: u64, page: u64) {
        let Some(object_type) = self.object_of(cap) else {
            return;
        };
        let Some(&root) = self.asids.get(&asid) else {
            return;
        };
        if page == 0 {
            return;
        }
        let root = self.spec.table_root().map(|_| root);
        let Ok(at) = self.entry_for(asid, root, page, object_type, self.size_bits_of(cap)) else {
            return;
        };
        if self
            .entries
            .get(&at)
            .is_some_and(|e| e.object == cap.object)
        {
            self.entries.remove(&at);
        }
    }

    /// Sets the slots the object whose cap is at `target` owns, as seL4's
    /// TCB_Configure and TCB_SetSpace: `sources` names a cap for each slot
    /// in declaration order (`None`: the slot is left as it is). The cap of
    /// every slot given a source is deleted first; then each source still
    /// there is copied in (a copy: the same rights, its place in the tree as
    /// a copy's, a frame copy unmapped). Returns how many caps the deletions
    /// removed.
    ///
    /// Checks, before anything changes: `target` resolves to a cap
    /// (`FailedLookup { source: 0 }`) to an object that owns slots, one
    /// source per slot (`IllegalOperation`); each source resolves to a cap
    /// (`FailedLookup { source: 1 }`) the slot admits, of its cap type and
    /// with the rights it requires, that may be copied (`IllegalOperation`
    /// otherwise, as seL4's TCB_Configure for a root or buffer cap of the
    /// wrong type). Slots are checked in declaration order.
    pub fn configure(
        &mut self,
        target: &SlotPath,
        sources: &[Option<Vec<u64>>],
    ) -> Result<u64, OpError> {
        let slot = self
            .resolve(target)
            .ok_or(OpError::FailedLookup { source: 0 })?;
        let cap = self
            .node_at(slot)
            .ok_or(OpError::FailedLookup { source: 0 })?
            .cap
            .clone();
        let table = self.table_named(&cap);
        let owned = self.owned_slots(&cap).map(<[_]>::to_vec);
        let (Some(table @ CNodeId::Object(_)), Some(owned)) = (table, owned) else {
            return Err(OpError::IllegalOperation);
        };
        // Slots past the sources given are left as they are (the caller
        // slot, last in kernel.cap, is the kernel's alone).
        if self.cnode_named(&cap).is_some() || sources.len() > owned.len() {
            return Err(OpError::IllegalOperation);
        }
        let mut picked: Vec<Option<NodeId>> = Vec::new();
        for (source, want) in sources.iter().zip(&owned) {
            let Some(path) = source else {
                picked.push(None);
                continue;
            };
            let id = self
                .resolve(path)
                .and_then(|s| self.id_at(s))
                .ok_or(OpError::FailedLookup { source: 1 })?;
            let c = &self.nodes[&id].cap;
            let required = want.rights.iter().fold(0u64, |m, r| m | 1 << r.0);
            if c.cap_type != want.cap || c.rights & required != required || !self.may_copy(c) {
                return Err(OpError::IllegalOperation);
            }
            picked.push(Some(id));
        }
        let mut removed = 0;
        for (index, _) in (0..owned.len() as u64)
            .zip(&picked)
            .filter(|(_, p)| p.is_some())
        {
            let at = super::Slot {
                cnode: table,
                index,
            };
            if let Some(id) = self.id_at(at) {
                removed += self.delete_node(id);
            }
        }
        for (index, source) in picked.into_iter().enumerate() {
            // The deletions may have taken the source, or the object itself.
            let (Some(id), true) = (source, self.cnodes.contains_key(&table)) else {
                continue;
            };
            let Some(src) = self.nodes.get(&id).cloned() else {
                continue;
            };
            let mut cap = src.cap.clone();
            self.clear_copied_fields(&mut cap);
            let parent = if src.may_parent { Some(id) } else { src.parent };
            self.add_node(Node {
                cap,
                holder: Holder::Slot(super::Slot {
                    cnode: table,
                    index: index as u64,
                }),
                parent,
                may_parent: false,
            });
        }
        Ok(removed)
    }

    /// Whether `cap` may be copied at all: its type is not `#[never_copy]`,
    /// a `Mapping::Shared` cap is mapped, an address-space root's cap
    /// has its number (with pools), and every field its type's
    /// `#[copy(requires(...))]` names is not 0. (`#[copy(no_children)]`
    /// needs the tree: [`derive`](super::Machine::derive) checks it.)
    pub fn may_copy(&self, cap: &super::Cap) -> bool {
        let t = &self.spec.caps[cap.cap_type.index()];
        t.copy != CopyPolicy::Never
            && (t.mapping != Some(Mapping::Shared) || self.is_mapped(cap))
            && !self.is_unassigned_root(cap)
            && self.unmet_copy_requirement(cap).is_none()
    }

    /// Maps the object of the cap at `cap` at virtual page `page` of the
    /// address space whose root's cap is at `space` (`None` in a spec with
    /// no address-space root type: its one address space). With tables,
    /// the page is in units of the smallest entry (`Spec::page_bits`), and
    /// the object goes into the entry of the table that holds it at its
    /// size, reached by walking down from the root.
    ///
    /// Checks in order: `cap` resolves to a cap (`FailedLookup { source: 1
    /// }`) of a type with a `#[mapped_at]` field (`IllegalOperation`);
    /// `space` resolves to a cap (`FailedLookup { source: 0 }`) to an
    /// address-space root (`IllegalOperation`; so is a `space` in a spec
    /// without roots); the cap is not mapped already (`InvalidCapability
    /// { index: 0 }`, seL4's: a table is linked once, a frame cap maps
    /// once); the root has a number or one is free that fits the
    /// `#[mapped_in]` field (`IllegalOperation`); the page is not 0 and
    /// fits the field (`InvalidArgument { index: 1 }`); with tables, some
    /// table holds the object at its size (`IllegalOperation`), the address
    /// is aligned to it (`AlignmentError`) and in user space
    /// (`InvalidArgument { index: 1 }`), and every table above is there
    /// (`FailedLookup { source: 0 }`); the entry is free (`DeleteFirst`).
    /// The root gets its number only when the mapping is made.
    pub fn map(
        &mut self,
        cap: &SlotPath,
        space: Option<&SlotPath>,
        page: u64,
    ) -> Result<(), OpError> {
        let id = self
            .resolve(cap)
            .and_then(|s| self.id_at(s))
            .ok_or(OpError::FailedLookup { source: 1 })?;
        let node_cap = self.nodes[&id].cap.clone();
        let mapping = self.spec.caps[node_cap.cap_type.index()].mapping;
        let (Some(_), Some(object_type)) = (mapping, self.object_of(&node_cap)) else {
            return Err(OpError::IllegalOperation);
        };
        let root = match (self.address_space_object(), space) {
            (Some(root_type), Some(space)) => {
                let root = self
                    .resolve(space)
                    .and_then(|s| self.node_at(s))
                    .ok_or(OpError::FailedLookup { source: 0 })?;
                if self.object_of(&root.cap) != Some(root_type) || self.region(&root.cap).is_none()
                {
                    return Err(OpError::IllegalOperation);
                }
                Some(root.cap.object)
            }
            (Some(_), None) => return Err(OpError::FailedLookup { source: 0 }),
            (None, Some(_)) => return Err(OpError::IllegalOperation),
            (None, None) => None,
        };
        if self.is_mapped(&node_cap) {
            return Err(OpError::InvalidCapability { index: 0 });
        }
        let pooled = self.spec.asid_pool().is_some();
        let asid = match root {
            None => IMPLICIT_ASID,
            // With pools, the number the root's cap records, if it still
            // stands for the root.
            Some(root) if pooled => {
                let root_cap = space
                    .and_then(|s| self.resolve(s))
                    .and_then(|s| self.node_at(s))
                    .map(|n| n.cap.clone())
                    .ok_or(OpError::FailedLookup { source: 0 })?;
                match self.assigned_asid(&root_cap) {
                    0 => return Err(OpError::InvalidCapability { index: 0 }),
                    asid if self.asids.get(&asid) == Some(&root) => asid,
                    _ => return Err(OpError::FailedLookup { source: 0 }),
                }
            }
            Some(root) => match self.asids.iter().find(|(_, r)| **r == root) {
                Some((asid, _)) => *asid,
                None => {
                    let max = self.field_max(&node_cap, Role::MappedIn).unwrap_or(255);
                    (1..=max)
                        .find(|a| !self.asids.contains_key(a))
                        .ok_or(OpError::IllegalOperation)?
                }
            },
        };
        let max = self.field_max(&node_cap, Role::MappedAt).unwrap_or(0);
        if page == 0 || page > max {
            return Err(OpError::InvalidArgument { index: 1 });
        }
        let table_root = self.spec.table_root().and(root);
        let at = self.entry_for(
            asid,
            table_root,
            page,
            object_type,
            self.size_bits_of(&node_cap),
        )?;
        if self.entries.contains_key(&at) {
            return Err(OpError::DeleteFirst);
        }
        if let Some(root) = root {
            self.asids.insert(asid, root);
        }
        self.entries.insert(
            at,
            Entry {
                object: node_cap.object,
                object_type,
            },
        );
        let mut mapped = node_cap;
        self.set_mapped_fields(&mut mapped, page, asid);
        self.nodes.get_mut(&id).expect("live").cap = mapped;
        Ok(())
    }

    /// Unmaps the cap at `cap`: the entry it records is emptied if it still
    /// maps this object, and the cap is unmapped. Nothing for an unmapped
    /// cap. A cap whose mapping is its own (`Mapping::EachCap`, a frame's)
    /// unmaps just that; one whose mapping is its object's
    /// (`Mapping::Shared`, a table's) must be the object's only cap, and
    /// the table's own entries are emptied too (seL4's PageTable_Unmap
    /// clears the table), so what was mapped under it is no mapping of any
    /// address space.
    ///
    /// Checks: `cap` resolves to a cap (`FailedLookup { source: 1 }`) that
    /// records mappings (`IllegalOperation`) and, if they are its object's,
    /// is its last cap (`RevokeFirst`, seL4's isFinalCapability).
    pub fn unmap(&mut self, cap: &SlotPath) -> Result<(), OpError> {
        let id = self
            .resolve(cap)
            .and_then(|s| self.id_at(s))
            .ok_or(OpError::FailedLookup { source: 1 })?;
        let mut node_cap = self.nodes[&id].cap.clone();
        let mapping = self.spec.caps[node_cap.cap_type.index()].mapping;
        match mapping {
            Some(Mapping::EachCap) => {}
            Some(Mapping::Shared) => {
                let others = self
                    .nodes
                    .iter()
                    .any(|(n, node)| *n != id && self.same_object(&node.cap, &node_cap));
                if others {
                    return Err(OpError::RevokeFirst);
                }
            }
            None => return Err(OpError::IllegalOperation),
        }
        let (page, _) = self.mapped_fields(&node_cap);
        let asid = self.space_of(&node_cap);
        if mapping == Some(Mapping::Shared) && page != 0 {
            let table = Container::Table(node_cap.object);
            self.entries.retain(|(c, _), _| *c != table);
        }
        self.unmap_entry(&node_cap, asid, page);
        self.set_mapped_fields(&mut node_cap, 0, 0);
        self.nodes.get_mut(&id).expect("live").cap = node_cap;
        Ok(())
    }

    /// What removing `node` undoes (it is out of the tree already; `last`:
    /// no other cap names its object). Returns the ids of the caps in the
    /// object's slots, for the caller to delete.
    pub(crate) fn finalise(&mut self, cap: &super::Cap, last: bool) -> Vec<NodeId> {
        let mapping = self.spec.caps[cap.cap_type.index()].mapping;
        let (page, _) = self.mapped_fields(cap);
        let asid = self.space_of(cap);
        match mapping {
            Some(Mapping::EachCap) => self.unmap_entry(cap, asid, page),
            Some(Mapping::Shared) if last => self.unmap_entry(cap, asid, page),
            _ => {}
        }
        if !last || self.region(cap).is_none() {
            return Vec::new();
        }
        // A table's entries go with it: its memory may be handed out again.
        let object = self.object_of(cap);
        if object.is_some_and(|o| self.spec.objects[o.index()].table.is_some()) {
            let table = Container::Table(cap.object);
            self.entries.retain(|(c, _), _| *c != table);
        }
        if object.is_some() && object == self.spec.asid_pool().map(|(o, _)| o) {
            self.pool_gone(cap.object);
        }
        if object.is_some() && object == self.address_space_object() {
            let released: Vec<u64> = self
                .asids
                .iter()
                .filter(|(_, root)| **root == cap.object)
                .map(|(a, _)| *a)
                .collect();
            for asid in released {
                self.asids.remove(&asid);
                let space = Container::Space(asid);
                self.entries.retain(|(c, _), _| *c != space);
            }
        }
        let Some(table) = self.table_named(cap) else {
            return Vec::new();
        };
        self.cnodes.remove(&table);
        if self.owned_slots(cap).is_some() && self.cnode_named(cap).is_none() {
            self.slot_owners.remove(&cap.object);
        }
        self.slots
            .iter()
            .filter(|(s, _)| s.cnode == table)
            .map(|(_, n)| *n)
            .collect()
    }
}
