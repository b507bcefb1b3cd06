//! Pools of address-space numbers (`asid_pool = N;`, seL4's ASID pools):
//! where the numbers of a spec with a pool type come from.
//!
//! - The kernel's directory has `2^bits / N` places, `bits` the width of
//!   the root cap's `#[asid]` field. [`make_pool`](Machine::make_pool)
//!   turns an Untyped of exactly the pool's size into a pool in the first
//!   free place (seL4's ASIDControl_MakePool): pool `p` holds the numbers
//!   `p * N .. (p + 1) * N` (number 0 is never given).
//! - [`assign`](Machine::assign) gives an address-space root the lowest
//!   free number of a pool and records it in the root's cap, in its slot
//!   (seL4's ASIDPool_Assign). A root's cap without a number cannot be
//!   copied, so the one cap retype made is the only one that can be
//!   assigned; its copies carry the number.
//! - A mapping needs a root whose number still stands for it; the number
//!   goes with the root's last cap (`release_asid`) and every number of a
//!   pool with the pool's last cap, so whatever was mapped under them is
//!   no longer a mapping of any address space, and the root can never get
//!   a number again (seL4's deleteASIDPool).
//!
//! A spec without a pool type numbers an address space on its first
//! mapping instead (see [`super::lifecycle`]).

use super::{Holder, Machine, Node, OpError, SlotPath};
use capc_dsl::model::Role;

impl Machine<'_> {
    /// How many numbers one pool holds, and how many places the directory
    /// has; `None` without a pool type.
    pub fn pool_shape(&self) -> Option<(u64, u64)> {
        let (_, pool) = self.spec.asid_pool()?;
        Some((pool.numbers, self.spec.asid_places()?))
    }

    /// The pools made, by place in the directory: the pool's address.
    pub fn pools(&self) -> &std::collections::BTreeMap<u64, u64> {
        &self.pools
    }

    /// seL4's ASIDControl_MakePool: makes the Untyped cap at `untyped` into
    /// a pool of address-space numbers, whose cap goes into the slot at
    /// `dest`, as the Untyped's child; the pool takes the first free place
    /// of the directory. Returns that place.
    ///
    /// Checks, in order:
    /// 1. the spec has a pool type, else `IllegalOperation`;
    /// 2. a place is free, else `DeleteFirst`;
    /// 3. `untyped` resolves (`FailedLookup { source: 1 }`) to an Untyped
    ///    in RAM of exactly the pool's size, else `InvalidCapability {
    ///    index: 0 }`;
    /// 4. it has no children, else `RevokeFirst`;
    /// 5. `dest` resolves (`FailedLookup { source: 0 }`) to an empty slot
    ///    (`DeleteFirst`).
    pub fn make_pool(&mut self, untyped: &SlotPath, dest: &SlotPath) -> Result<u64, OpError> {
        let (pool_type, _) = self.spec.asid_pool().ok_or(OpError::IllegalOperation)?;
        let (_, places) = self.pool_shape().ok_or(OpError::IllegalOperation)?;
        let place = (0..places)
            .find(|p| !self.pools.contains_key(p))
            .ok_or(OpError::DeleteFirst)?;
        let source = self
            .resolve(untyped)
            .and_then(|s| self.id_at(s))
            .ok_or(OpError::FailedLookup { source: 1 })?;
        let cap = self.nodes[&source].cap.clone();
        let pool_bytes = 1u64 << self.spec.objects[pool_type.index()].size.max_bits();
        let (base, size) = self
            .region(&cap)
            .filter(|_| self.is_memory(&cap) && !self.is_device(&cap))
            .filter(|&(_, size)| size == pool_bytes)
            .ok_or(OpError::InvalidCapability { index: 0 })?;
        if !self.children(source).is_empty() {
            return Err(OpError::RevokeFirst);
        }
        let slot = self
            .resolve(dest)
            .ok_or(OpError::FailedLookup { source: 0 })?;
        if self.slots.contains_key(&slot) {
            return Err(OpError::DeleteFirst);
        }
        let used = self
            .stored_watermark(&cap, size)
            .ok_or(OpError::IllegalOperation)?;
        let pool = self
            .cap_for(pool_type, base, 0, false)
            .ok_or(OpError::IllegalOperation)?;
        self.nodes.get_mut(&source).expect("live").cap = used;
        self.made(&pool);
        self.add_node(Node {
            cap: pool,
            holder: Holder::Slot(slot),
            parent: Some(source),
            may_parent: true,
        });
        self.pools.insert(place, base);
        Ok(place)
    }

    /// seL4's ASIDPool_Assign: gives the address-space root whose cap is at
    /// `root` the lowest free number of the pool whose cap is at `pool`,
    /// and records it in that cap. Returns the number.
    ///
    /// Checks, in order: `pool` resolves (`FailedLookup { source: 1 }`) to
    /// a pool's cap (`IllegalOperation`); `root` resolves (`FailedLookup {
    /// source: 0 }`) to the cap of an address-space root without a number
    /// (`InvalidCapability { index: 0 }`); a number of the pool is free
    /// (`DeleteFirst`).
    pub fn assign(&mut self, pool: &SlotPath, root: &SlotPath) -> Result<u64, OpError> {
        let (pool_type, _) = self.spec.asid_pool().ok_or(OpError::IllegalOperation)?;
        let (numbers, _) = self.pool_shape().ok_or(OpError::IllegalOperation)?;
        let pool_cap = self
            .resolve(pool)
            .and_then(|s| self.node_at(s))
            .ok_or(OpError::FailedLookup { source: 1 })?
            .cap
            .clone();
        let place = self
            .pools
            .iter()
            .find(|(_, at)| **at == pool_cap.object)
            .map(|(p, _)| *p)
            .filter(|_| self.object_of(&pool_cap) == Some(pool_type))
            .ok_or(OpError::IllegalOperation)?;
        let root_id = self
            .resolve(root)
            .and_then(|s| self.id_at(s))
            .ok_or(OpError::FailedLookup { source: 0 })?;
        let mut root_cap = self.nodes[&root_id].cap.clone();
        let field = self.spec.caps[root_cap.cap_type.index()]
            .field_with(Role::Asid)
            .filter(|_| self.region(&root_cap).is_some())
            .filter(|_| self.object_of(&root_cap) == self.address_space_object())
            .ok_or(OpError::InvalidCapability { index: 0 })?;
        if self.field_value(&root_cap, field) != 0 {
            return Err(OpError::InvalidCapability { index: 0 });
        }
        let first = place * numbers;
        let asid = (first.max(1)..first + numbers)
            .find(|a| !self.asids.contains_key(a))
            .ok_or(OpError::DeleteFirst)?;
        root_cap.other.insert(field.name.clone(), asid);
        self.nodes.get_mut(&root_id).expect("live").cap = root_cap.clone();
        self.asids.insert(asid, root_cap.object);
        Ok(asid)
    }

    /// The number a root's cap records (`#[asid]`; 0: none), for a spec
    /// with pools.
    pub(crate) fn assigned_asid(&self, cap: &super::Cap) -> u64 {
        self.spec.caps[cap.cap_type.index()]
            .field_with(Role::Asid)
            .map_or(0, |f| self.field_value(cap, f))
    }

    /// Whether `cap` is a root's cap that records no number yet: such a cap
    /// cannot be copied (seL4 refuses to derive an unassigned PML4 cap).
    pub(crate) fn is_unassigned_root(&self, cap: &super::Cap) -> bool {
        self.spec.caps[cap.cap_type.index()]
            .field_with(Role::Asid)
            .is_some()
            && self.region(cap).is_some()
            && self.assigned_asid(cap) == 0
    }

    /// The last cap to the pool at `pool` went: its place in the directory
    /// and every number in it are released.
    pub(crate) fn pool_gone(&mut self, pool: u64) {
        let Some((numbers, _)) = self.pool_shape() else {
            return;
        };
        let places: Vec<u64> = self
            .pools
            .iter()
            .filter(|(_, at)| **at == pool)
            .map(|(p, _)| *p)
            .collect();
        for place in places {
            self.pools.remove(&place);
            let range = place * numbers..(place + 1) * numbers;
            self.asids.retain(|asid, _| !range.contains(asid));
        }
    }
}
