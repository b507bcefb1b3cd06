//! The reference interpreter: what a checked spec means, executed on an
//! abstract machine.
//!
//! The machine holds CNodes with their slots, the caps in them, the
//! derivation tree over those caps, the watermark of every Untyped, and the
//! objects servers made for RPC calls from their callers' donations. Every
//! operation (retype, copy, mint, move, delete, revoke, a donating call)
//! reads only the [`model::Spec`](capc_dsl::model::Spec): object sizes and
//! alignment come from each object's `SizeRule`, which cap type a retype
//! makes from the spec's cap declarations, the order of retype's checks and
//! its errors from seL4 as the generated `retype` documents them. It never
//! reads generated code; the differential tests in
//! codegen/generated-tests/tests/differential.rs run the same operations on
//! both and demand equal results and equal states.
//!
//! Written for clarity, not speed: plain `Vec` and `BTreeMap`, caps as
//! structs of named values (no bit packing), and the derivation tree as
//! explicit parent links rather than seL4's list with computed parenthood.
//! Its rules, which the list reproduces:
//! - retype makes children of the Untyped; boot caps are roots;
//! - a `derive` rule makes a child of the source cap that names its
//!   object, allocates and charges nothing, never parents its copies, and
//!   finalises nothing when it goes;
//! - a cap *may parent* when retype made it, it is untyped memory, a mint
//!   gave it a new badge, or it was a boot cap (except `#[always_copy]`
//!   types, which never parent);
//! - a copy or mint of a cap that may parent is its child; of any other cap,
//!   a sibling (a child of the source's parent);
//! - a cap whose mapping is the object's (`Mapping::Shared`, page tables)
//!   cannot be copied or minted while unmapped; the copy of a cap whose
//!   mapping is its own (`Mapping::EachCap`, frames) starts unmapped;
//! - a cap type's `#[copy(...)]` conditions add to these: a copy or mint
//!   is `IllegalOperation` while a field `requires` names is 0, and
//!   `RevokeFirst` while a `no_children` cap has children; the copy has
//!   the fields `clears` names 0;
//! - delete moves the children of the deleted cap to its parent; revoke
//!   deletes every descendant the cap had when the revoke began;
//! - deleting the last cap to a CNode deletes the caps the CNode holds.
//!
//! [`lifecycle`] adds what objects refer to: the slots an object owns
//! (filled by `configure`), mappings into address spaces (`map`, `unmap`),
//! and what removing a cap undoes (finalisation).
//!
//! [`threads`] adds threads and IPC objects: a thread's state, endpoint
//! and notification queues, the one-shot right to reply, and what the
//! `stop_thread` and `cancel_waiters` finalisers do.
//!
//! [`session`] keeps the sessions of interfaces used through sessions:
//! each client's quota, what is charged to it, refunds and closing.
//!
//! [`script`] parses and runs the `capc simulate` scripts on top of it.
//!
//! A crate of its own, not a module of the front end: capc-dsl stops at the
//! checked model, and the interpreter is one consumer of it, as the code
//! generator is. The operations and invariants the differential tests run
//! on it are in the test-only crate capc-harness.
#![deny(missing_docs)]

mod asid;
mod budget;
mod create;
mod lifecycle;
mod retype;
pub mod script;
pub mod session;
mod threads;

pub use create::CreateArgs;

use std::collections::BTreeMap;

use capc_dsl::ast::ObjectKind;
use capc_dsl::model::{
    CapField, CapId, CopyPolicy, FieldKind, Mapping, MethodSet, ObjectId, Role, Spec,
};

pub use budget::{Budget, Call, Donated};
pub use lifecycle::{Container, Entry, IMPLICIT_ASID, MapKey};
pub use threads::{IpcBuffer, IpcEvent, IpcKind, IpcObject, Pending, Thread, ThreadState};

/// The examples of the crate's README.md, run as doctests so that they stay
/// true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// A capability: the value of each of its fields by what the field means.
/// A cap type without a field for some meaning keeps 0 there.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cap {
    /// Its type.
    pub cap_type: CapId,
    /// Address of the object (the `#[object]` field); 0 without one.
    pub object: u64,
    /// The object's size argument (`#[size_arg]`).
    pub size_arg: u64,
    /// Rights it carries, as a mask over the spec's rights.
    pub rights: u64,
    /// Its badge (`#[badge]`); 0 is unbadged.
    pub badge: u64,
    /// Bytes already retyped (`#[watermark]`), as stored: rounded up to the
    /// field's unit.
    pub watermark: u64,
    /// The memory is device memory (`#[device]`).
    pub device: bool,
    /// Every other field (plain data, guards) by name; absent means 0.
    pub other: BTreeMap<String, u64>,
}

/// Why an operation was refused. The kernel's errors with seL4's payloads,
/// plus a method's out-of-budget error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpError {
    /// Argument `index` is invalid.
    InvalidArgument {
        /// 0: the object type; 1: the size argument or kind of memory.
        index: u64,
    },
    /// A value lies outside `min..=max`.
    RangeError {
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// Fewer than the objects need are free: `left` bytes.
    NotEnoughMemory {
        /// Bytes from the aligned free start to the end of the region.
        left: u64,
    },
    /// A destination slot is occupied.
    DeleteFirst,
    /// The Untyped has children that must be revoked first.
    RevokeFirst,
    /// A slot path does not resolve: `source` is 1 for a source, 0 for a
    /// destination or target.
    FailedLookup {
        /// 1 for the source slot, 0 otherwise.
        source: u64,
    },
    /// The operation is not allowed on this cap.
    IllegalOperation,
    /// The call's donation ran out; `needed` bytes would have done.
    OutOfBudget {
        /// Bytes that would have done.
        needed: u64,
    },
    /// A capability is not usable here: `index` 0 is the invoked cap (a
    /// frame or table cap mapped already).
    InvalidCapability {
        /// 0: the invoked cap.
        index: u64,
    },
    /// An address is not aligned to what it maps.
    AlignmentError,
}

/// Why an operation was refused, where its error alone does not say: one
/// of seL4's errors (`IllegalOperation`, a method's out-of-budget error)
/// has several causes, and a report names the one that applied. The error
/// itself stays the kernel's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// A copy or mint of a cap of this `#[never_copy]` type.
    NeverCopy(CapId),
    /// A copy or mint of an unmapped cap of this type, whose mapping is its
    /// object's (a table's): seL4 derives such a cap only once mapped.
    Unmapped(CapId),
    /// A copy or mint of a cap of this type whose field (an index into
    /// its fields) that `#[copy(requires(...))]` names is 0 (false).
    CopyRequires(CapId, usize),
    /// A copy or mint of a cap of this type of an address-space root that
    /// no pool has given a number yet: seL4 derives such a cap only once
    /// assigned.
    Unassigned(CapId),
    /// A mint of a cap that has this badge already: a badge is set once.
    Badged(u64),
    /// A mint of a badge wider than the `#[badge]` field of `bits` bits.
    BadgeTooWide {
        /// The badge asked for.
        badge: u64,
        /// The field's width.
        bits: u8,
    },
    /// A call donated a cap of type `found` (or no untyped memory a retype
    /// rule applies to) where the method takes the Untyped cap type
    /// `wanted`.
    NotTheDonation {
        /// The type the method takes.
        wanted: CapId,
        /// The type of the cap donated.
        found: CapId,
    },
    /// A call donated device memory, and the method allocates objects of
    /// this type, which only RAM may hold.
    DeviceDonation(ObjectId),
    /// A call's donation of `donated` bytes is below `needed`: the
    /// method's minimum donation, or its worst case from the donation's
    /// start rounded up to the largest alignment.
    DonationTooSmall {
        /// Bytes donated (the free part of a donated Untyped).
        donated: u64,
        /// Bytes that would have done.
        needed: u64,
        /// The method's minimum donation.
        minimum: u64,
    },
    /// A call asked for more objects of one class than the method's
    /// `allocates` clauses declare per call.
    TooMany {
        /// The object type.
        object: ObjectId,
        /// Its size argument.
        arg: u64,
        /// Most objects of the class per call.
        declared: u64,
        /// Objects of the class the call asked for.
        asked: u64,
    },
    /// An object of a call would end `end` bytes into a donation of
    /// `donated` bytes: alignment gaps of an allocation order other than
    /// the layout's (largest alignment first, which has none).
    PastDonation {
        /// The object type.
        object: ObjectId,
        /// Its size argument.
        arg: u64,
        /// Where it would end, in bytes from the donation's start.
        end: u64,
        /// Bytes donated.
        donated: u64,
    },
}

/// An operation's error, and why when the error alone does not say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The kernel's error.
    pub error: OpError,
    /// Its cause, for the errors that have several.
    pub why: Option<Why>,
}

impl From<OpError> for Refused {
    fn from(error: OpError) -> Refused {
        Refused { error, why: None }
    }
}

impl OpError {
    /// This error, because of `why`.
    fn because(self, why: Why) -> Refused {
        Refused {
            error: self,
            why: Some(why),
        }
    }
}

/// Which table of slots: the machine's root CNode, or the slots of an
/// object made by retype (by its address): a CNode's, or those an object
/// owns (`slot NAME: CapType;` in the spec).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CNodeId {
    /// The root CNode the machine starts with.
    Root,
    /// The slots of the object at this address.
    Object(u64),
}

/// One slot: a CNode and an index into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot {
    /// The CNode.
    pub cnode: CNodeId,
    /// The index.
    pub index: u64,
}

/// Identifies a cap in the derivation tree; never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u64);

/// Where a cap is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Holder {
    /// In a slot.
    Slot(Slot),
    /// By a server, for the call with this number (objects made from a
    /// donation; they live until the donated Untyped is revoked).
    Server(usize),
}

/// A cap in the derivation tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The cap.
    pub cap: Cap,
    /// Where it is.
    pub holder: Holder,
    /// The cap it was derived from, if it is not a root.
    pub parent: Option<NodeId>,
    /// Whether copies and mints of it become its children (see the module
    /// docs).
    pub may_parent: bool,
}

/// A path to a slot as a script or test names it: an index into the root
/// CNode, then an index into the CNode whose cap is in that slot, and so on.
pub type SlotPath = [u64];

/// The abstract machine.
#[derive(Clone, Debug)]
pub struct Machine<'s> {
    spec: &'s Spec,
    /// Live slot tables (CNodes, objects' owned slots) and their slot
    /// counts.
    cnodes: BTreeMap<CNodeId, u64>,
    /// Live objects that own slots, by address.
    slot_owners: BTreeMap<u64, ObjectId>,
    /// Live address spaces: number to root object address.
    asids: BTreeMap<u64, u64>,
    /// Pools of address-space numbers (`asid_pool`), by place in the
    /// kernel's directory: the pool's address.
    pools: BTreeMap<u64, u64>,
    /// The entries of translation tables (and of the address spaces of a
    /// spec without tables), by table and index.
    entries: BTreeMap<(lifecycle::Container, u64), Entry>,
    /// Occupied slots.
    slots: BTreeMap<Slot, NodeId>,
    /// Every live cap.
    nodes: BTreeMap<NodeId, Node>,
    next_node: u64,
    /// Owner of each boot cap that is untyped memory.
    owners: BTreeMap<NodeId, String>,
    /// The memory given to each principal at boot, by region `(base,
    /// size)`: kept when the boot cap goes, so what was made from the
    /// memory stays charged to whoever was given it.
    grants: BTreeMap<(u64, u64), String>,
    /// Every RPC call made, in order.
    calls: Vec<Call>,
    /// Live threads, by address (see [`threads`]).
    threads: BTreeMap<u64, Thread>,
    /// Live endpoints and notifications, by address.
    ipc: BTreeMap<u64, IpcObject>,
    /// What IPC did, in order.
    ipc_events: Vec<IpcEvent>,
    /// What each thread's IPC buffer names: the cap a message it sends
    /// carries, and the slot a cap it receives goes into.
    ipc_buffers: BTreeMap<u64, threads::IpcBuffer>,
    /// Caps deleted by IPC's finalisation (reply caps), so far: a
    /// deletion counts them among the caps it removed.
    ipc_deletions: u64,
}

/// A successful retype: where the objects went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retyped {
    /// The object type.
    pub object: ObjectId,
    /// log2 of one object's size; 0 for a byte-sized object (`#[bytes]`),
    /// whose size need not be a power of two (see `size`).
    pub size_bits: u32,
    /// One object's size in bytes.
    pub size: u64,
    /// Address of the first object; the others follow back to back.
    pub first: u64,
    /// How many.
    pub count: u64,
    /// The source's new watermark in bytes from its base.
    pub new_watermark: u64,
    /// The watermark was taken as 0: the source had no children.
    pub reset: bool,
}

impl<'s> Machine<'s> {
    /// A machine for `spec` with an empty root CNode of `2^radix` slots.
    pub fn new(spec: &'s Spec, radix: u32) -> Machine<'s> {
        let mut cnodes = BTreeMap::new();
        cnodes.insert(CNodeId::Root, 1u64 << radix.min(32));
        Machine {
            spec,
            cnodes,
            slot_owners: BTreeMap::new(),
            asids: if spec.address_space_root().is_some() {
                BTreeMap::new()
            } else {
                BTreeMap::from([(IMPLICIT_ASID, 0)])
            },
            pools: BTreeMap::new(),
            entries: BTreeMap::new(),
            slots: BTreeMap::new(),
            nodes: BTreeMap::new(),
            next_node: 0,
            owners: BTreeMap::new(),
            grants: BTreeMap::new(),
            calls: Vec::new(),
            threads: BTreeMap::new(),
            ipc: BTreeMap::new(),
            ipc_events: Vec::new(),
            ipc_buffers: BTreeMap::new(),
            ipc_deletions: 0,
        }
    }

    /// The spec it runs.
    pub fn spec(&self) -> &'s Spec {
        self.spec
    }

    // ----- caps, read from the model -----

    /// A cap of `cap_type` with every right it may carry and every other
    /// field 0, an enumerated one its first variant ([`Spec::initial_value`]).
    pub fn blank_cap(&self, cap_type: CapId) -> Cap {
        Cap {
            cap_type,
            object: 0,
            size_arg: 0,
            rights: self.valid_rights(cap_type),
            badge: 0,
            watermark: 0,
            device: false,
            // An enumerated field starts at its first variant.
            other: self.spec.caps[cap_type.index()]
                .fields
                .iter()
                .filter(|f| f.role == Role::Plain && self.spec.initial_value(f) != 0)
                .map(|f| (f.name.clone(), self.spec.initial_value(f)))
                .collect(),
        }
    }

    /// The rights mask caps of `cap_type` may carry.
    pub fn valid_rights(&self, cap_type: CapId) -> u64 {
        self.spec.caps[cap_type.index()]
            .rights
            .iter()
            .fold(0, |mask, r| mask | 1 << r.0)
    }

    /// The value a field holds in `cap` (in the field's own units).
    pub fn field_value(&self, cap: &Cap, field: &CapField) -> u64 {
        if let FieldKind::Rights { .. } = field.kind {
            return cap.rights;
        }
        match field.role {
            // A kernel-virtual pointer holds the address plus its offset.
            Role::Object => cap.object.wrapping_add(field.virtual_offset),
            // A size in bytes (`#[size_arg(bytes)]`) is `1 << arg`.
            Role::SizeArg if field.size_bytes => 1u64.checked_shl(cap.size_arg as u32).unwrap_or(0),
            Role::SizeArg => cap.size_arg,
            Role::Watermark => cap.watermark >> field.unit_bits,
            Role::Badge => cap.badge,
            Role::Device => u64::from(cap.device),
            Role::Plain
            | Role::Guard
            | Role::GuardBits
            | Role::MappedAt
            | Role::MappedIn
            | Role::Asid
            | Role::Caller => cap.other.get(&field.name).copied().unwrap_or(0),
        }
    }

    /// Whether `value` fits `field` as a cap stores it: a pointer must be
    /// aligned and fit after the shift (a whole-word one only aligned), an
    /// integer fit the width.
    pub fn fits(field: &CapField, value: u64) -> bool {
        let (value, width) = match field.kind {
            FieldKind::Ptr { align_bits } => {
                if align_bits >= 64 || value & ((1u64 << align_bits) - 1) != 0 {
                    return false;
                }
                // A whole-word pointer holds any aligned address.
                if field.whole_word {
                    return true;
                }
                (value >> align_bits, u32::from(field.width))
            }
            FieldKind::Bool => (value, 1),
            _ => (value, u32::from(field.width)),
        };
        width >= 64 || value >> width == 0
    }

    /// Whether every field of `cap` fits its type's layout.
    pub fn cap_fits(&self, cap: &Cap) -> bool {
        self.spec.caps[cap.cap_type.index()]
            .fields
            .iter()
            .all(|f| Self::fits(f, self.field_value(cap, f)))
    }

    /// The object type a cap names, if any.
    pub fn object_of(&self, cap: &Cap) -> Option<ObjectId> {
        self.spec.caps[cap.cap_type.index()].object
    }

    /// `(base, bytes)` of the memory the cap's object occupies; `None` for a
    /// cap that names no object or has a size argument its object does not
    /// allow.
    pub fn region(&self, cap: &Cap) -> Option<(u64, u64)> {
        let object = &self.spec.objects[self.object_of(cap)?.index()];
        if object.size.is_bytes() {
            self.spec.caps[cap.cap_type.index()].field_with(Role::SizeArg)?;
            return Some((cap.object, object.size.size_of(cap.size_arg)?));
        }
        let bits = match object.size.table.as_slice() {
            [(_, bits)] => *bits,
            _ => {
                self.spec.caps[cap.cap_type.index()].field_with(Role::SizeArg)?;
                object.size.size_bits(cap.size_arg)?
            }
        };
        Some((cap.object, 1u64.checked_shl(bits)?))
    }

    /// Whether two caps name the same object: same type, equal identity
    /// fields.
    pub fn same_object(&self, a: &Cap, b: &Cap) -> bool {
        a.cap_type == b.cap_type
            && self.spec.caps[a.cap_type.index()]
                .fields
                .iter()
                .filter(|f| f.identity)
                .all(|f| self.field_value(a, f) == self.field_value(b, f))
    }

    /// Whether `cap` is untyped memory a retype rule applies to, with a
    /// valid size argument and a watermark.
    pub fn is_memory(&self, cap: &Cap) -> bool {
        let c = &self.spec.caps[cap.cap_type.index()];
        self.spec.retypes.iter().any(|r| r.source == cap.cap_type)
            && c.field_with(Role::Watermark).is_some()
            && self.region(cap).is_some()
    }

    /// Whether the memory `cap` names is device memory: always for objects
    /// only device memory may hold, never for RAM-only ones, else the cap's
    /// `#[device]` field.
    pub fn is_device(&self, cap: &Cap) -> bool {
        let Some(object) = self.object_of(cap) else {
            return false;
        };
        let object = &self.spec.objects[object.index()];
        match (object.ram, object.device) {
            (false, _) => true,
            (true, true) => {
                self.spec.caps[cap.cap_type.index()]
                    .field_with(Role::Device)
                    .is_some()
                    && cap.device
            }
            (true, false) => false,
        }
    }

    /// Whether `cap` records a mapping: its `#[mapped_at]` field is not 0.
    /// False for a cap type without one.
    pub fn is_mapped(&self, cap: &Cap) -> bool {
        self.spec.caps[cap.cap_type.index()]
            .field_with(Role::MappedAt)
            .is_some_and(|f| self.field_value(cap, f) != 0)
    }

    /// Whether `cap`'s type has a `#[badge]` integer field.
    fn badge_field(&self, cap_type: CapId) -> Option<&CapField> {
        self.spec.caps[cap_type.index()]
            .field_with(Role::Badge)
            .filter(|f| f.kind == FieldKind::Uint)
    }

    fn copy_policy(&self, cap_type: CapId) -> CopyPolicy {
        self.spec.caps[cap_type.index()].copy
    }

    /// The cap a retype makes for an object of `object` at `address`: the
    /// first cap type declared for the object, every right it may carry,
    /// badge and watermark 0, and the source's kind of memory.
    pub fn cap_for(
        &self,
        object: ObjectId,
        address: u64,
        size_arg: u64,
        device: bool,
    ) -> Option<Cap> {
        let cap_type = self
            .spec
            .caps
            .iter()
            .position(|c| c.object == Some(object))
            .map(|i| CapId(i as u32))?;
        let o = &self.spec.objects[object.index()];
        let mut cap = self.blank_cap(cap_type);
        cap.object = address;
        cap.size_arg = size_arg;
        let has_device = self.spec.caps[cap_type.index()]
            .field_with(Role::Device)
            .is_some();
        cap.device = has_device && if o.ram && o.device { device } else { !o.ram };
        self.cap_fits(&cap).then_some(cap)
    }

    // ----- the machine's state -----

    /// The slot count of a live CNode.
    pub fn cnode_slots(&self, cnode: CNodeId) -> Option<u64> {
        self.cnodes.get(&cnode).copied()
    }

    /// The node in `slot`, if any.
    pub fn node_at(&self, slot: Slot) -> Option<&Node> {
        self.nodes.get(self.slots.get(&slot)?)
    }

    /// The id of the node in `slot`.
    pub fn id_at(&self, slot: Slot) -> Option<NodeId> {
        self.slots.get(&slot).copied()
    }

    /// A node by id.
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(&id)
    }

    /// Every live node, in creation order.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &Node)> {
        self.nodes.iter().map(|(id, n)| (*id, n))
    }

    /// Occupied slots with their nodes, in slot order.
    pub fn occupied(&self) -> impl Iterator<Item = (Slot, &Node)> {
        self.slots.iter().map(|(s, id)| (*s, &self.nodes[id]))
    }

    /// The children of `id`, in creation order.
    pub fn children(&self, id: NodeId) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.parent == Some(id))
            .map(|(c, _)| *c)
            .collect()
    }

    /// Every descendant of `id`, depth first.
    pub fn descendants(&self, id: NodeId) -> Vec<NodeId> {
        let mut out = Vec::new();
        let mut stack = self.children(id);
        stack.reverse();
        while let Some(n) = stack.pop() {
            out.push(n);
            let mut more = self.children(n);
            more.reverse();
            stack.extend(more);
        }
        out
    }

    /// The calls made so far.
    pub fn calls(&self) -> &[Call] {
        &self.calls
    }

    /// The owner of a boot Untyped.
    pub fn owner(&self, id: NodeId) -> Option<&str> {
        self.owners.get(&id).map(String::as_str)
    }

    /// Owners of boot Untyped caps, by node.
    pub fn owners(&self) -> &BTreeMap<NodeId, String> {
        &self.owners
    }

    /// The memory given to each principal at boot, by region `(base,
    /// size)`, whatever became of the boot caps since.
    pub fn grants(&self) -> &BTreeMap<(u64, u64), String> {
        &self.grants
    }

    /// Follows a path from the root CNode to a slot. Every index must lie
    /// in its CNode and every slot but the last hold a CNode cap.
    pub fn resolve(&self, path: &SlotPath) -> Option<Slot> {
        let (last, through) = path.split_last()?;
        let mut cnode = CNodeId::Root;
        for index in through {
            let node = self.node_at(self.slot_in(cnode, *index)?)?;
            cnode = self.cnode_named(&node.cap)?;
        }
        self.slot_in(cnode, *last)
    }

    /// The CNode a cap names, if it is a cap to a live CNode.
    pub fn cnode_named(&self, cap: &Cap) -> Option<CNodeId> {
        let id = CNodeId::Object(cap.object);
        (self.region(cap).is_some() && self.is_cnode_cap(cap) && self.cnodes.contains_key(&id))
            .then_some(id)
    }

    fn is_cnode_cap(&self, cap: &Cap) -> bool {
        self.object_of(cap)
            .is_some_and(|o| self.cnode_object() == Some(o))
    }

    /// The object type whose caps address CNodes: the one whose cap type has
    /// a `#[guard]` field (as a kernel's lookup reads it), or else the one
    /// called `CNode`.
    pub fn cnode_object(&self) -> Option<ObjectId> {
        self.spec
            .caps
            .iter()
            .find(|c| c.field_with(Role::Guard).is_some() && c.object.is_some())
            .and_then(|c| c.object)
            .or_else(|| self.spec.object("CNode"))
    }

    fn slot_in(&self, cnode: CNodeId, index: u64) -> Option<Slot> {
        (index < *self.cnodes.get(&cnode)?).then_some(Slot { cnode, index })
    }

    fn add_node(&mut self, node: Node) -> NodeId {
        let id = NodeId(self.next_node);
        self.next_node += 1;
        if let Holder::Slot(slot) = node.holder {
            self.slots.insert(slot, id);
        }
        self.nodes.insert(id, node);
        id
    }

    /// The empty slot `dest` names: `FailedLookup { source: 0 }` if the
    /// path does not resolve, `DeleteFirst` if a cap is there (seL4 checks
    /// the destination first).
    fn empty_dest(&self, dest: &SlotPath) -> Result<Slot, OpError> {
        let slot = self
            .resolve(dest)
            .ok_or(OpError::FailedLookup { source: 0 })?;
        if self.slots.contains_key(&slot) {
            return Err(OpError::DeleteFirst);
        }
        Ok(slot)
    }

    /// The node of the cap at `source`: `FailedLookup { source: 1 }` if the
    /// path does not resolve or the slot is empty.
    fn source_id(&self, source: &SlotPath) -> Result<NodeId, OpError> {
        self.resolve(source)
            .and_then(|s| self.id_at(s))
            .ok_or(OpError::FailedLookup { source: 1 })
    }

    // ----- operations -----

    /// Puts a boot cap (an Untyped the machine starts with, an IRQ
    /// control cap ...) into an empty slot as a root of the tree. Untyped
    /// memory is recorded as `owner`'s.
    pub fn boot(&mut self, slot: Slot, cap: Cap, owner: &str) -> Result<NodeId, OpError> {
        if self.slot_in(slot.cnode, slot.index).is_none() {
            return Err(OpError::FailedLookup { source: 0 });
        }
        if self.slots.contains_key(&slot) {
            return Err(OpError::DeleteFirst);
        }
        let memory = self.is_memory(&cap);
        let may_parent = self.copy_policy(cap.cap_type) != CopyPolicy::Always;
        let id = self.add_node(Node {
            cap,
            holder: Holder::Slot(slot),
            parent: None,
            may_parent,
        });
        if memory {
            self.owners.insert(id, owner.to_string());
            let region = self
                .region(&self.nodes[&id].cap)
                .expect("memory has a region");
            self.grants.insert(region, owner.to_string());
        }
        Ok(id)
    }

    /// Copies the cap at `source` into the empty slot `dest`, keeping only
    /// the rights in `rights`.
    ///
    /// Checks in seL4's order (`decodeCNodeInvocation`): the destination
    /// resolves (`FailedLookup { source: 0 }`) and is empty
    /// (`DeleteFirst`), the source path resolves (`FailedLookup { source: 1
    /// }`) and holds a cap (`FailedLookup { source: 1 }`), its type may be copied (`IllegalOperation` for
    /// `#[never_copy]`), untyped memory has no children (`RevokeFirst`).
    /// Copying untyped memory marks the source full: both caps cover the
    /// same memory, so until the copy is revoked only the copy is retyped.
    pub fn copy(
        &mut self,
        source: &SlotPath,
        dest: &SlotPath,
        rights: u64,
    ) -> Result<NodeId, OpError> {
        self.derive(source, dest, rights, None).map_err(|r| r.error)
    }

    /// Like [`copy`](Self::copy), and sets the badge of a cap that has none.
    /// A badge is set once: minting a badged cap, or a nonzero badge onto a
    /// type without one, or one wider than the field, is
    /// `IllegalOperation`. Minting a badge of 0 is a copy.
    pub fn mint(
        &mut self,
        source: &SlotPath,
        dest: &SlotPath,
        rights: u64,
        badge: u64,
    ) -> Result<NodeId, OpError> {
        self.derive(source, dest, rights, Some(badge))
            .map_err(|r| r.error)
    }

    /// A [`copy`](Self::copy) (`badge` `None`) or a
    /// [`mint`](Self::mint), refused with the error and, for an
    /// `IllegalOperation`, which of its causes applied.
    pub fn derive(
        &mut self,
        source: &SlotPath,
        dest: &SlotPath,
        rights: u64,
        badge: Option<u64>,
    ) -> Result<NodeId, Refused> {
        // seL4's decodeCNodeInvocation: the destination, that it is empty,
        // then the source.
        let dest = self.empty_dest(dest)?;
        let source_id = self.source_id(source)?;
        let src = self.nodes[&source_id].clone();
        let cap_type = src.cap.cap_type;
        if self.copy_policy(cap_type) == CopyPolicy::Never {
            return Err(OpError::IllegalOperation.because(Why::NeverCopy(cap_type)));
        }
        let mapping = self.spec.caps[cap_type.index()].mapping;
        if mapping == Some(Mapping::Shared) && !self.is_mapped(&src.cap) {
            return Err(OpError::IllegalOperation.because(Why::Unmapped(cap_type)));
        }
        if self.is_unassigned_root(&src.cap) {
            return Err(OpError::IllegalOperation.because(Why::Unassigned(cap_type)));
        }
        if let Some(field) = self.unmet_copy_requirement(&src.cap) {
            return Err(OpError::IllegalOperation.because(Why::CopyRequires(cap_type, field)));
        }
        let memory = self.is_memory(&src.cap);
        let no_children = self.spec.caps[cap_type.index()].copy_conditions.no_children;
        if (memory || no_children) && !self.children(source_id).is_empty() {
            return Err(OpError::RevokeFirst.into());
        }
        let mut cap = src.cap.clone();
        self.clear_copied_fields(&mut cap);
        cap.rights &= rights & self.valid_rights(cap.cap_type);
        // A CNode cap has no badge: as seL4's updateCapData, mint's word
        // sets its guard (0: none).
        if let Some(data) = badge
            && let Some(guarded) = self.with_guard(&cap, data)
        {
            cap = guarded?;
        }
        let field = self.badge_field(cap.cap_type);
        // As seL4's updateCapData: a cap type without a badge ignores mint's
        // word; a badged cap cannot be given another.
        match (badge, field.is_some(), src.cap.badge) {
            (None, _, _) | (Some(_), false, _) => {}
            (Some(new), true, 0) => {
                let field = field.expect("has a badge field");
                if !Self::fits(field, new) {
                    return Err(OpError::IllegalOperation.because(Why::BadgeTooWide {
                        badge: new,
                        bits: field.width,
                    }));
                }
                cap.badge = new;
            }
            (Some(_), _, old) => {
                return Err(OpError::IllegalOperation.because(Why::Badged(old)));
            }
        }
        let may_parent = memory || cap.badge != src.cap.badge;
        let parent = if src.may_parent {
            Some(source_id)
        } else {
            src.parent
        };
        if memory {
            let (_, size) = self.region(&src.cap).expect("memory has a region");
            let full = self
                .stored_watermark(&src.cap, size)
                .ok_or(OpError::IllegalOperation)?;
            self.nodes.get_mut(&source_id).expect("live").cap = full;
        }
        Ok(self.add_node(Node {
            cap,
            holder: Holder::Slot(dest),
            parent,
            may_parent,
        }))
    }

    /// The first field `#[copy(requires(...))]` of `cap`'s type names
    /// that is 0 (false) in `cap`, as an index into its fields; `None`
    /// when every one holds.
    pub fn unmet_copy_requirement(&self, cap: &Cap) -> Option<usize> {
        let t = &self.spec.caps[cap.cap_type.index()];
        t.copy_conditions
            .requires
            .iter()
            .copied()
            .find(|&i| self.field_value(cap, &t.fields[i]) == 0)
    }

    /// `cap` as a copy of it starts (seL4's `deriveCap`): a cap whose
    /// mapping is its own (`Mapping::EachCap`) without its `#[mapped_at]`
    /// and `#[mapped_in]` fields, and without the fields its type's
    /// `#[copy(clears(...))]` names.
    pub fn clear_copied_fields(&self, cap: &mut Cap) {
        let t = &self.spec.caps[cap.cap_type.index()];
        for (i, f) in t.fields.iter().enumerate() {
            let mapping = t.mapping == Some(Mapping::EachCap)
                && matches!(f.role, Role::MappedAt | Role::MappedIn);
            if !mapping && !t.copy_conditions.clears.contains(&i) {
                continue;
            }
            if let FieldKind::Rights { .. } = f.kind {
                cap.rights = 0;
                continue;
            }
            match f.role {
                // The checker refuses `clears` of these (E0730).
                Role::Object | Role::SizeArg => {}
                Role::Watermark => cap.watermark = 0,
                Role::Badge => cap.badge = 0,
                Role::Device => cap.device = false,
                _ => {
                    cap.other.remove(&f.name);
                }
            }
        }
    }

    /// seL4's updateCapData for a CNode cap (one with `#[guard_bits]` and
    /// `#[guard]` fields): `data`'s low 6 bits are the guard's size, the
    /// bits above them the guard, masked to that size. `None` for a cap
    /// without a guard; `IllegalOperation` if guard and radix (the CNode's
    /// size argument) take more than 64 bits, or the values do not fit the
    /// fields.
    fn with_guard(&self, cap: &Cap, data: u64) -> Option<Result<Cap, OpError>> {
        if !self.is_cnode_cap(cap) {
            return None;
        }
        let t = &self.spec.caps[cap.cap_type.index()];
        let (bits_field, guard_field) =
            (t.field_with(Role::GuardBits)?, t.field_with(Role::Guard)?);
        let guard_bits = data & 0x3f;
        if guard_bits + cap.size_arg > 64 {
            return Some(Err(OpError::IllegalOperation));
        }
        let mask = match guard_bits {
            0 => 0,
            bits => u64::MAX >> (64 - bits),
        };
        let guard = (data >> 6) & mask;
        if !Self::fits(bits_field, guard_bits) || !Self::fits(guard_field, guard) {
            return Some(Err(OpError::IllegalOperation));
        }
        // Absent is 0 (`Cap::other`).
        let mut cap = cap.clone();
        for (field, value) in [(bits_field, guard_bits), (guard_field, guard)] {
            match value {
                0 => cap.other.remove(&field.name),
                v => cap.other.insert(field.name.clone(), v),
            };
        }
        Some(Ok(cap))
    }

    /// `cap` with its watermark set to `bytes`, rounded up to the field's
    /// unit; `None` if that does not fit the field.
    pub fn stored_watermark(&self, cap: &Cap, bytes: u64) -> Option<Cap> {
        let field = self.spec.caps[cap.cap_type.index()].field_with(Role::Watermark)?;
        let units = bytes.div_ceil(1u64.checked_shl(field.unit_bits)?);
        if !Self::fits(field, units) {
            return None;
        }
        let mut cap = cap.clone();
        cap.watermark = units << field.unit_bits;
        Some(cap)
    }

    /// seL4's CNode_Mutate: moves the cap at `source` into the empty slot
    /// `dest` with `data` applied as `updateCapData(preserve = true)`
    /// does. A cap with a `#[badge]` field is `IllegalOperation` (seL4's
    /// gives a null cap for a badged type when preserving); a CNode cap
    /// gets the guard `data` gives, as for mint (a guard that does not fit
    /// is `IllegalOperation`); any other keeps its bits.
    /// Checks as for [`move_cap`](Self::move_cap).
    pub fn mutate(&mut self, source: &SlotPath, dest: &SlotPath, data: u64) -> Result<(), OpError> {
        self.empty_dest(dest)?;
        let id = self.source_id(source)?;
        if self.badge_field(self.nodes[&id].cap.cap_type).is_some() {
            return Err(OpError::IllegalOperation);
        }
        let guarded = self.with_guard(&self.nodes[&id].cap, data).transpose()?;
        self.move_cap(source, dest)?;
        if let Some(cap) = guarded {
            self.nodes.get_mut(&id).expect("live").cap = cap;
        }
        Ok(())
    }

    /// Moves the cap at `source` into the empty slot `dest`; it keeps its
    /// place in the tree. Any cap may be moved, `#[never_copy]` ones too.
    pub fn move_cap(&mut self, source: &SlotPath, dest: &SlotPath) -> Result<(), OpError> {
        // seL4's order: the destination, that it is empty, then the source.
        let dest = self.empty_dest(dest)?;
        let source = self
            .resolve(source)
            .ok_or(OpError::FailedLookup { source: 1 })?;
        let id = self
            .slots
            .remove(&source)
            .ok_or(OpError::FailedLookup { source: 1 })?;
        self.slots.insert(dest, id);
        self.nodes.get_mut(&id).expect("live").holder = Holder::Slot(dest);
        Ok(())
    }

    /// Deletes the cap at `target` (nothing for an empty slot). Its
    /// children become children of its parent. Returns how many caps went:
    /// more than one when it was the last cap to a CNode that held caps.
    pub fn delete(&mut self, target: &SlotPath) -> Result<u64, OpError> {
        let slot = self
            .resolve(target)
            .ok_or(OpError::FailedLookup { source: 0 })?;
        Ok(match self.id_at(slot) {
            Some(id) => self.delete_node(id),
            None => 0,
        })
    }

    /// Deletes every descendant the cap at `target` has now (nothing for an
    /// empty slot); the cap itself stays unless it was held by a CNode that
    /// lost its last cap on the way. Returns how many caps went.
    pub fn revoke(&mut self, target: &SlotPath) -> Result<u64, OpError> {
        let slot = self
            .resolve(target)
            .ok_or(OpError::FailedLookup { source: 0 })?;
        let Some(id) = self.id_at(slot) else {
            return Ok(0);
        };
        Ok(self.revoke_node(id))
    }

    /// Revokes node `id`: see [`revoke`](Self::revoke).
    pub fn revoke_node(&mut self, id: NodeId) -> u64 {
        let mut removed = 0;
        // As seL4's cteRevoke: the next descendant in the derivation list
        // goes, one at a time; the list holds the newest derivation first,
        // each followed by its own descendants, which a deletion hands to
        // `id`. The revoke ends when none is left, or when the revoked cap
        // itself went on the way (it sat in a CNode whose last cap it
        // revoked): its other descendants then stay, under its parent.
        while self.nodes.contains_key(&id) {
            let Some(next) = self.children(id).into_iter().max() else {
                break;
            };
            removed += self.delete_node(next);
        }
        removed
    }

    /// Deletes one node, and finalises what it named (see [`lifecycle`]):
    /// a mapped cap's mapping, and with the last cap to an object, its
    /// link, its address space, and the caps in its slots (a CNode's or
    /// the ones it owns).
    pub fn delete_node(&mut self, id: NodeId) -> u64 {
        let Some(node) = self.nodes.remove(&id) else {
            return 0;
        };
        if let Holder::Slot(slot) = node.holder {
            self.slots.remove(&slot);
        }
        for n in self.nodes.values_mut() {
            if n.parent == Some(id) {
                n.parent = node.parent;
            }
        }
        self.owners.remove(&id);
        // A derived cap never owns its object: removing it finalises nothing.
        let owns = self.spec.derive_rule(node.cap.cap_type).is_none();
        let last = owns
            && self.object_of(&node.cap).is_some()
            && !self
                .nodes
                .values()
                .any(|n| self.same_object(&n.cap, &node.cap));
        let badge_field = self.badge_field(node.cap.cap_type).is_some();
        let last_with_badge = owns
            && badge_field
            && node.cap.badge != 0
            && !self
                .nodes
                .values()
                .any(|n| self.same_object(&n.cap, &node.cap) && n.cap.badge == node.cap.badge);
        let mut removed = 1;
        for n in self.finalise(&node.cap, last) {
            removed += self.delete_node(n);
        }
        // As the kernel: what the object held is gone before its threads
        // and queues are finalised (which may delete a reply cap).
        let before = self.ipc_deletions;
        self.finalise_ipc(&node.cap, last, last_with_badge);
        removed + (self.ipc_deletions - before)
    }

    /// The invocation method set of the spec for `name`.
    pub fn interface(&self, name: &str) -> Option<&'s MethodSet> {
        self.spec.interfaces.iter().find(|i| i.name == name)
    }

    /// Memory in use in the boot Untyped `boot`: the bytes of the union of
    /// the regions of every live object made from it (its copies are not
    /// objects made from it), servers' objects included.
    pub fn in_use(&self, boot: NodeId) -> u64 {
        let Some(root) = self.nodes.get(&boot) else {
            return 0;
        };
        self.region(&root.cap)
            .map_or(0, |(base, size)| self.in_use_of(base, size))
    }

    /// Memory in use in the region `(base, size)` (a boot Untyped's,
    /// whether or not its cap is still there): the bytes of the union of
    /// the regions of every live object in it but untyped memory covering
    /// it all (the boot Untyped and its copies). Derived caps charge
    /// nothing: they name part of an object.
    pub fn in_use_of(&self, base: u64, size: u64) -> u64 {
        let mut regions: Vec<(u64, u64)> = self
            .nodes
            .values()
            .filter(|n| !(self.is_memory(&n.cap) && self.region(&n.cap) == Some((base, size))))
            // A derived cap names part of an object and charges nothing.
            .filter(|n| self.spec.derive_rule(n.cap.cap_type).is_none())
            .filter_map(|n| self.region(&n.cap))
            .filter(|(b, s)| *b >= base && b.saturating_add(*s) <= base.saturating_add(size))
            .collect();
        regions.sort();
        let mut total = 0u64;
        let mut end = 0u64;
        for (b, s) in regions {
            let e = b.saturating_add(s);
            if e <= end {
                continue;
            }
            total += e - b.max(end);
            end = e;
        }
        total
    }

    /// Whether the object kind is untyped memory.
    pub fn is_untyped_object(&self, object: ObjectId) -> bool {
        self.spec.objects[object.index()].kind == ObjectKind::Untyped
    }
}

/// The rights named in `names`, as a mask; `None` if one is unknown.
pub fn rights_mask<'a>(spec: &Spec, names: impl IntoIterator<Item = &'a str>) -> Option<u64> {
    names.into_iter().try_fold(0u64, |mask, name| {
        let i = spec.rights.iter().position(|r| r.name == name)?;
        Some(mask | 1 << i)
    })
}

/// The names of the rights in `mask`, in declaration order.
pub fn rights_names(spec: &Spec, mask: u64) -> Vec<&str> {
    spec.rights
        .iter()
        .enumerate()
        .filter(|(i, _)| mask >> i & 1 == 1)
        .map(|(_, r)| r.name.as_str())
        .collect()
}
