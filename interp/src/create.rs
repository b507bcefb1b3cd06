//! Creation invocations (`creates T(field = param) [from untyped] in
//! root;`): the kernel invocations that make a cap other than by retype.
//!
//! - Without `from` (seL4's IRQControl Get, IOPortControl Issue), the new
//!   cap names no new object: it is the invoked cap's child by the spec's
//!   `derive` rule, its fields those the rule derives, then those the
//!   clause sets from arguments.
//! - With `from untyped` (seL4's ASIDControl MakePool), the new cap names a
//!   new object of its type's object type made of all of the Untyped
//!   argument, and is the Untyped's child; a pool of address-space numbers
//!   (`asid_pool = N`) takes the first free place of the directory, as
//!   [`make_pool`](Machine::make_pool) does.
//!
//! State the spec does not describe (seL4's check that an IRQ has no
//! handler yet, its I/O APIC routing) is not modelled.

use std::collections::BTreeMap;

use super::{Cap, Holder, Machine, Node, NodeId, OpError, SlotPath};
use capc_dsl::model::{CapField, CapId, Creation, FieldKind, Method, Role};

/// The arguments of a creation: the words of the parameters the clause
/// sets fields from, by parameter index, and the Untyped's path for
/// `from`.
#[derive(Clone, Debug, Default)]
pub struct CreateArgs {
    /// Parameter index → its value.
    pub words: BTreeMap<usize, u64>,
    /// The `from` parameter's cap, by path.
    pub untyped: Option<Vec<u64>>,
}

impl<'s> Machine<'s> {
    /// The creating method `method` of the invocations on `cap_type`, if it
    /// has a `creates` clause.
    pub fn creation(&self, cap_type: CapId, method: &str) -> Option<(&'s Method, &'s Creation)> {
        let spec = self.spec;
        let set = spec.invocations.iter().find(|s| s.cap == Some(cap_type))?;
        let m = set.methods.iter().find(|m| m.name == method)?;
        Some((m, m.creates.as_ref()?))
    }

    /// Runs the creating method `method` of `cap_type`'s invocations on
    /// the cap at `invoked`, putting the new cap into the slot at `dest`.
    /// Returns the new cap's node.
    ///
    /// Checks, in order:
    /// 1. `invoked` resolves to a cap, else `FailedLookup { source: 1 }`,
    ///    of `cap_type` with a creating `method`, else `IllegalOperation`;
    /// 2. each value the clause sets a field from fits the field (and is a
    ///    value of its enumeration), else `RangeError { 0, largest }`
    ///    (`InvalidArgument` at the parameter's position for an enumerated
    ///    one);
    /// 3. without `from`: the `derive` rule is `#[multiple]` or the invoked
    ///    cap has no cap derived from it, else `RevokeFirst`;
    ///    with `from`: a pool of address-space numbers has a free place in
    ///    the directory, else `DeleteFirst`; the Untyped resolves, else
    ///    `FailedLookup { source: 1 }`, to an Untyped of RAM of exactly the
    ///    object's size, else `InvalidCapability` at its parameter's
    ///    position; it has no children, else `RevokeFirst`;
    /// 4. `dest` resolves, else `FailedLookup { source: 0 }`, to an empty
    ///    slot, else `DeleteFirst`;
    /// 5. the new cap holds its values, else `IllegalOperation`.
    pub fn create(
        &mut self,
        cap_type: CapId,
        method: &str,
        invoked: &SlotPath,
        args: &CreateArgs,
        dest: &SlotPath,
    ) -> Result<NodeId, OpError> {
        let invoked_id = self.source_id(invoked)?;
        let invoked_cap = self.nodes[&invoked_id].cap.clone();
        let (_, creation) = self
            .creation(cap_type, method)
            .filter(|_| invoked_cap.cap_type == cap_type)
            .ok_or(OpError::IllegalOperation)?;
        let new_type = &self.spec.caps[creation.cap.index()];
        let mut set = Vec::new();
        for &(f, p) in &creation.fields {
            let field = &new_type.fields[f];
            let value = args.words.get(&p).copied().unwrap_or(0);
            self.field_value_ok(field, value, p)?;
            set.push((field, value));
        }
        // The new cap, its parent, and for a new object its size and the
        // place of a pool in the directory.
        let (mut cap, parent, made, place) = match creation.from {
            None => {
                let rule = self
                    .spec
                    .derive_rule(creation.cap)
                    .filter(|r| r.source == cap_type)
                    .ok_or(OpError::IllegalOperation)?;
                if !rule.multiple && self.has_derived_children(invoked_id) {
                    return Err(OpError::RevokeFirst);
                }
                let cap = self.derived_cap(&invoked_cap, creation.cap);
                (cap, invoked_id, None, None)
            }
            Some(from) => {
                let object = new_type.object.ok_or(OpError::IllegalOperation)?;
                let place = match self.spec.asid_pool() {
                    Some((pool, _)) if pool == object => {
                        let (_, places) = self.pool_shape().ok_or(OpError::IllegalOperation)?;
                        Some(
                            (0..places)
                                .find(|p| !self.pools.contains_key(p))
                                .ok_or(OpError::DeleteFirst)?,
                        )
                    }
                    _ => None,
                };
                let untyped = args
                    .untyped
                    .as_deref()
                    .ok_or(OpError::FailedLookup { source: 1 })?;
                let untyped_id = self.source_id(untyped)?;
                let untyped_cap = self.nodes[&untyped_id].cap.clone();
                let bytes = 1u64 << self.spec.objects[object.index()].size.max_bits();
                let invalid = OpError::InvalidCapability { index: from as u64 };
                let (base, _) = self
                    .region(&untyped_cap)
                    .filter(|_| self.is_memory(&untyped_cap) && !self.is_device(&untyped_cap))
                    .filter(|&(_, size)| size == bytes)
                    .ok_or(invalid)?;
                if !self.children(untyped_id).is_empty() {
                    return Err(OpError::RevokeFirst);
                }
                let mut cap = self.blank_cap(creation.cap);
                cap.object = base;
                (cap, untyped_id, Some(bytes), place.map(|p| (p, base)))
            }
        };
        let slot = self.empty_dest(dest)?;
        for (field, value) in set {
            set_field(&mut cap, field, value);
        }
        if !self.cap_fits(&cap) {
            return Err(OpError::IllegalOperation);
        }
        if let Some(bytes) = made {
            let untyped_cap = self.nodes[&parent].cap.clone();
            let used = self
                .stored_watermark(&untyped_cap, bytes)
                .ok_or(OpError::IllegalOperation)?;
            self.nodes.get_mut(&parent).expect("live").cap = used;
            self.made(&cap);
        }
        if let Some((p, base)) = place {
            self.pools.insert(p, base);
        }
        Ok(self.add_node(Node {
            cap,
            holder: Holder::Slot(slot),
            parent: Some(parent),
            // A new object's cap may have children (a pool's, retype's);
            // a derived cap, as `derive` makes it, not.
            may_parent: made.is_some(),
        }))
    }

    /// Step 2 of [`create`](Machine::create): `value` for `field`, from
    /// parameter `param`.
    fn field_value_ok(&self, field: &CapField, value: u64, param: usize) -> Result<(), OpError> {
        if let Some(e) = field.values {
            let known = self.spec.enumerations[e.index()]
                .values
                .iter()
                .any(|v| v.value == value);
            return if known {
                Ok(())
            } else {
                Err(OpError::InvalidArgument {
                    index: param as u64,
                })
            };
        }
        if Self::fits(field, value) {
            return Ok(());
        }
        let max = match field.kind {
            FieldKind::Bool => 1,
            FieldKind::Ptr { .. } if field.whole_word => u64::MAX,
            FieldKind::Ptr { align_bits } => {
                let bits = u32::from(field.width) + align_bits;
                if bits >= 64 {
                    u64::MAX
                } else {
                    (1u64 << bits) - 1
                }
            }
            _ if field.width >= 64 => u64::MAX,
            _ => (1u64 << field.width) - 1,
        };
        Err(OpError::RangeError { min: 0, max })
    }
}

/// Sets `field` of `cap` to `value` (in the field's own units, as
/// [`Machine::field_value`] reads it).
fn set_field(cap: &mut Cap, field: &CapField, value: u64) {
    match field.role {
        Role::Object => cap.object = value.wrapping_sub(field.virtual_offset),
        Role::SizeArg => cap.size_arg = value,
        Role::Watermark => cap.watermark = value << field.unit_bits,
        Role::Badge => cap.badge = value,
        Role::Device => cap.device = value != 0,
        Role::Plain
        | Role::Guard
        | Role::GuardBits
        | Role::MappedAt
        | Role::MappedIn
        | Role::Asid
        | Role::Caller => {
            cap.other.insert(field.name.clone(), value);
        }
    }
}
