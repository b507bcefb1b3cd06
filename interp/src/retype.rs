//! Retype: untyped memory becomes objects, with seL4's checks in the order
//! the generated `retype` documents, each with the same error and payload.

use super::{CNodeId, Holder, Machine, Node, NodeId, OpError, Retyped, SlotPath};
use capc_dsl::model::{CapId, Role};

impl Machine<'_> {
    /// Retypes the Untyped at `source` into `count` objects of the object
    /// type numbered `object_type` (its number: `#[number(N)]` or declaration order) with `size_arg`, one
    /// cap per slot from `offset` on in the destination CNode: the root
    /// CNode when `dest` is empty, else the CNode whose cap is at `dest`.
    ///
    /// A source path that does not resolve is `FailedLookup { source: 1 }`.
    /// Then, in seL4's order (`decodeUntypedInvocation`):
    /// 1. a retype rule applies to the source cap and its size argument is
    ///    valid (an empty slot has no cap), else `IllegalOperation`;
    /// 2. the object type exists and the rule allows it, else
    ///    `InvalidArgument { index: 0 }`;
    /// 3. the size argument is not below the type's smallest, else
    ///    `InvalidArgument { index: 1 }` (seL4's answer for a CNode of radix
    ///    0 or an Untyped below the minimum), and is allowed, else
    ///    `RangeError` with the type's smallest and largest argument;
    /// 4. the destination is a CNode, else `FailedLookup { source: 0 }`;
    /// 5. the offset is a slot of it (`RangeError { 0, slots - 1 }`), the
    ///    count is in `1..=fan_out` (`RangeError { 1, fan_out }`) and the
    ///    window ends in the CNode (`RangeError { 1, slots - offset }`);
    /// 6. every slot of the window is empty, else `DeleteFirst`;
    /// 7. `count` objects fit in the free bytes, from the watermark (0 when
    ///    the source has no children) to the region's end, and the new
    ///    watermark fits the field, else `NotEnoughMemory { left }` with
    ///    those free bytes (seL4's `untypedFreeBytes`); the objects start at
    ///    the watermark rounded up to their alignment, which always leaves
    ///    room for as many as the free bytes hold;
    /// 8. the source's kind of memory may hold the object, else
    ///    `InvalidArgument { index: 1 }` (seL4 checks device memory last);
    /// 9. a cap can name the last object, else `IllegalOperation`.
    pub fn retype(
        &mut self,
        source: &SlotPath,
        object_type: u64,
        size_arg: u64,
        dest: &SlotPath,
        offset: u64,
        count: u64,
    ) -> Result<Retyped, OpError> {
        self.retype_placed(source, object_type, size_arg, None, dest, offset, count)
    }

    /// Retypes the Untyped at `source` as [`Machine::retype`] does, but
    /// places the objects at `at` bytes into its region (Barrelfish's
    /// retype), not at its watermark. Only a source whose retype rule has
    /// `#[at_offset]` may be retyped so. Checks 1 to 6 are `retype`'s (a
    /// rule without `#[at_offset]` fails check 1, `IllegalOperation`);
    /// check 7 is, in order:
    /// 1. `at` lies in the region, else `RangeError { 0, size - 1 }`;
    /// 2. the region's base plus `at` is aligned to the object's
    ///    alignment, else `AlignmentError`;
    /// 3. `count` objects fit from there to the region's end, else
    ///    `NotEnoughMemory { left }` with the bytes from `at` to the end;
    /// 4. no other live cap that is a copy of the source, or a descendant
    ///    of it or of a copy, names memory in the objects' bytes
    ///    ([`Machine::meets_live_memory`]), else `RevokeFirst`;
    /// 5. the watermark, raised to the objects' end if it was below (0
    ///    when the source has no children), fits its field, else
    ///    `NotEnoughMemory { left }` as in 3.
    ///
    /// Checks 8 and 9 are `retype`'s.
    #[allow(clippy::too_many_arguments)]
    pub fn retype_at(
        &mut self,
        source: &SlotPath,
        object_type: u64,
        size_arg: u64,
        at: u64,
        dest: &SlotPath,
        offset: u64,
        count: u64,
    ) -> Result<Retyped, OpError> {
        self.retype_placed(source, object_type, size_arg, Some(at), dest, offset, count)
    }

    /// `retype` (`at` is `None`) or `retype_at`.
    #[allow(clippy::too_many_arguments)]
    fn retype_placed(
        &mut self,
        source: &SlotPath,
        object_type: u64,
        size_arg: u64,
        at: Option<u64>,
        dest: &SlotPath,
        offset: u64,
        count: u64,
    ) -> Result<Retyped, OpError> {
        let slot = self
            .resolve(source)
            .ok_or(OpError::FailedLookup { source: 1 })?;
        let source_id = self.id_at(slot).ok_or(OpError::IllegalOperation)?;
        let cap = self.nodes[&source_id].cap.clone();
        let spec = self.spec;

        // 1. The rule (the first one for the source's type) and the memory.
        let rule = spec
            .retypes
            .iter()
            .find(|r| r.source == cap.cap_type)
            .filter(|r| self.is_memory(&cap) && (at.is_none() || r.at_offset))
            .ok_or(OpError::IllegalOperation)?;
        let (base, size) = self.region(&cap).expect("memory has a region");
        // 2. The object type.
        let object = spec
            .object_by_number(object_type)
            .filter(|o| rule.targets.contains(o))
            .ok_or(OpError::InvalidArgument { index: 0 })?;
        let o = &spec.objects[object.index()];
        // A number of an object type numbered per size argument names the
        // size argument too (seL4's frame types): the word is not read.
        let size_arg = spec.size_arg_of_number(object_type).unwrap_or(size_arg);
        // 3. Its size: below the smallest is seL4's InvalidArgument (a CNode
        // of radix 0, an Untyped below the minimum), anything else not
        // allowed a RangeError.
        if size_arg < o.size.min_arg() {
            return Err(OpError::InvalidArgument { index: 1 });
        }
        let (object_bytes, align_bits) = o.placement_of(size_arg).ok_or(OpError::RangeError {
            min: o.size.min_arg(),
            max: o.size.max_arg(),
        })?;
        let size_bits = o.size.size_bits(size_arg).unwrap_or(0);
        // 4. The destination.
        let cnode = self
            .destination(dest)
            .ok_or(OpError::FailedLookup { source: 0 })?;
        // 5. The window.
        let slots = self.cnodes[&cnode];
        if offset >= slots {
            return Err(OpError::RangeError {
                min: 0,
                max: slots - 1,
            });
        }
        if count == 0 || count > rule.fan_out {
            return Err(OpError::RangeError {
                min: 1,
                max: rule.fan_out,
            });
        }
        if count > slots - offset {
            return Err(OpError::RangeError {
                min: 1,
                max: slots - offset,
            });
        }
        // 6. Empty slots.
        let window: Vec<_> = (offset..offset + count)
            .map(|index| super::Slot { cnode, index })
            .collect();
        if window.iter().any(|s| self.slots.contains_key(s)) {
            return Err(OpError::DeleteFirst);
        }
        // 7. Room: as many objects as the free bytes hold, from the
        // watermark or at the offset.
        let has_children = !self.children(source_id).is_empty();
        let watermark = if has_children { cap.watermark } else { 0 };
        let align = 1u64.checked_shl(align_bits);
        let (first, new_watermark, no_room) = match at {
            None => {
                let left = size.saturating_sub(watermark);
                let no_room = OpError::NotEnoughMemory { left };
                let fits = left / object_bytes;
                if fits < count {
                    return Err(no_room);
                }
                let bytes = count * object_bytes;
                let first = free_from(base, size, watermark, align)
                    .filter(|(_, room)| bytes <= *room)
                    .map(|(first, _)| first)
                    .ok_or(no_room)?;
                (first, first - base + bytes, no_room)
            }
            Some(at) => {
                if at >= size {
                    return Err(OpError::RangeError {
                        min: 0,
                        max: size - 1,
                    });
                }
                let first = base.checked_add(at).ok_or(OpError::IllegalOperation)?;
                if align.is_none_or(|a| first & (a - 1) != 0) {
                    return Err(OpError::AlignmentError);
                }
                let left = size - at;
                let no_room = OpError::NotEnoughMemory { left };
                if left / object_bytes < count {
                    return Err(no_room);
                }
                let bytes = count * object_bytes;
                if self.meets_live_memory(source_id, first, bytes) {
                    return Err(OpError::RevokeFirst);
                }
                (first, watermark.max(at + bytes), no_room)
            }
        };
        let updated = self.stored_watermark(&cap, new_watermark).ok_or(no_room)?;
        // 8. RAM or device memory.
        let device = self.is_device(&cap);
        if !(if device { o.device } else { o.ram }) {
            return Err(OpError::InvalidArgument { index: 1 });
        }
        // 9. Caps for every object (the last has the highest address).
        let caps: Vec<_> = (0..count)
            .map(|i| self.cap_for(object, first + i * object_bytes, size_arg, device))
            .collect::<Option<_>>()
            .ok_or(OpError::IllegalOperation)?;

        self.nodes.get_mut(&source_id).expect("live").cap = updated;
        let is_cnode = self.cnode_object() == Some(object);
        for (slot, cap) in window.into_iter().zip(caps) {
            if is_cnode {
                // A new CNode starts with every slot empty.
                let cnode = CNodeId::Object(cap.object);
                self.slots.retain(|s, _| s.cnode != cnode);
                self.cnodes.insert(cnode, 1u64 << size_arg.min(63));
            }
            self.made(&cap);
            self.add_node(Node {
                cap,
                holder: Holder::Slot(slot),
                parent: Some(source_id),
                may_parent: true,
            });
        }
        Ok(Retyped {
            object,
            size_bits,
            size: object_bytes,
            first,
            count,
            new_watermark,
            reset: !has_children,
        })
    }

    /// Derives a cap of type `target` from the cap at `source` by the
    /// spec's `derive` rule, into the empty slot `dest`: a child of the
    /// source that names its object and allocates nothing (see
    /// [`Machine::derived_cap`]). In order, as the generated `derive` and
    /// seL4's CNode operations check:
    /// 1. `dest` resolves, else `FailedLookup { source: 0 }`, and is empty,
    ///    else `DeleteFirst`;
    /// 2. `source` resolves to a cap, else `FailedLookup { source: 1 }`;
    /// 3. a rule derives `target` from the source's type, else
    ///    `IllegalOperation`;
    /// 4. the rule is `#[multiple]`, or the source has no live descendant
    ///    derived from it (one of a type derived from the source's that is
    ///    not a copy of it), else `RevokeFirst`;
    /// 5. the new cap's fields hold the source's values, else
    ///    `IllegalOperation`.
    pub fn derive_cap(
        &mut self,
        source: &SlotPath,
        target: CapId,
        dest: &SlotPath,
    ) -> Result<NodeId, OpError> {
        let dest = self.empty_dest(dest)?;
        let source_id = self.source_id(source)?;
        let src = self.nodes[&source_id].cap.clone();
        let rule = self
            .spec
            .derive_rule(target)
            .filter(|r| r.source == src.cap_type)
            .ok_or(OpError::IllegalOperation)?;
        if !rule.multiple && self.has_derived_children(source_id) {
            return Err(OpError::RevokeFirst);
        }
        let cap = self.derived_cap(&src, target);
        if !self.cap_fits(&cap) {
            return Err(OpError::IllegalOperation);
        }
        Ok(self.add_node(Node {
            cap,
            holder: Holder::Slot(dest),
            parent: Some(source_id),
            may_parent: false,
        }))
    }

    /// Splits the cap at `source` by its type's splitting rule (`derive T
    /// from T;`) into `count` caps of its type, each naming the piece of
    /// `1 << size_bits` bytes its object type has for `size_arg`, back to
    /// back from the start of the source's object, one per slot from `dest`
    /// on in `dest`'s CNode. The pieces are children of the source, copy its
    /// other fields (a mapping excepted: a piece starts unmapped), allocate
    /// nothing and are objects of their own. In order, as the generated
    /// `split` checks from 3 on:
    /// 1. `dest` resolves, else `FailedLookup { source: 0 }`; the `count`
    ///    slots from it lie in its CNode, else `RangeError { 1, slots - index
    ///    }`, and are empty, else `DeleteFirst`;
    /// 2. `source` resolves to a cap, else `FailedLookup { source: 1 }`;
    /// 3. a splitting rule applies to its type and it names a valid region,
    ///    else `IllegalOperation`;
    /// 4. `size_arg` is one its object type allows, for pieces smaller than
    ///    the source's object, else `InvalidArgument { index: 1 }`;
    /// 5. `count` is in `1..=pieces` (how many fit), else `RangeError { 1,
    ///    pieces }`;
    /// 6. no live cap is a piece of the source's object or derived from it
    ///    ([`Machine::has_pieces`]; pieces of two splits would overlap, also
    ///    when one split a copy), else `RevokeFirst`;
    /// 7. the last piece's cap can hold its values, else `IllegalOperation`.
    pub fn split_cap(
        &mut self,
        source: &SlotPath,
        size_arg: u64,
        count: u64,
        dest: &SlotPath,
    ) -> Result<Vec<NodeId>, OpError> {
        self.split_placed(source, size_arg, None, count, dest)
    }

    /// Splits the cap at `source` as [`Machine::split_cap`] does, but into
    /// pieces back to back from `at` bytes into its object (Barrelfish's
    /// retype of a Frame at an offset), by a splitting rule with
    /// `#[at_offset]`. Checks 1 and 2 are `split_cap`'s; then, in order:
    /// 3. a splitting rule with `#[at_offset]` applies to the source's type
    ///    and it names a valid region, else `IllegalOperation`;
    /// 4. `size_arg` is as for `split_cap`, else `InvalidArgument { index:
    ///    1 }`;
    /// 5. `at` lies in the source's object and the first piece's address
    ///    is aligned to the pieces' alignment, else `InvalidArgument {
    ///    index: 2 }`;
    /// 6. `count` is in `1..=pieces`, the pieces that fit from `at` to the
    ///    object's end, else `RangeError { 1, pieces }`;
    /// 7. no live cap that is a piece of the source's object or derived
    ///    from it meets the pieces' bytes ([`Machine::has_pieces_in`]), else
    ///    `RevokeFirst`: a cap splits at offsets any number of times while
    ///    the pieces do not meet;
    /// 8. the last piece's cap can hold its values, else `IllegalOperation`.
    pub fn split_at(
        &mut self,
        source: &SlotPath,
        size_arg: u64,
        at: u64,
        count: u64,
        dest: &SlotPath,
    ) -> Result<Vec<NodeId>, OpError> {
        self.split_placed(source, size_arg, Some(at), count, dest)
    }

    /// `split_cap` (`at` is `None`) or `split_at`.
    fn split_placed(
        &mut self,
        source: &SlotPath,
        size_arg: u64,
        at: Option<u64>,
        count: u64,
        dest: &SlotPath,
    ) -> Result<Vec<NodeId>, OpError> {
        let first = self
            .resolve(dest)
            .ok_or(OpError::FailedLookup { source: 0 })?;
        let slots = self.cnodes[&first.cnode];
        if count > slots - first.index {
            return Err(OpError::RangeError {
                min: 1,
                max: slots - first.index,
            });
        }
        let window: Vec<_> = (first.index..first.index + count)
            .map(|index| super::Slot {
                cnode: first.cnode,
                index,
            })
            .collect();
        if window.iter().any(|s| self.slots.contains_key(s)) {
            return Err(OpError::DeleteFirst);
        }
        let source_id = self.source_id(source)?;
        let src = self.nodes[&source_id].cap.clone();
        let (region_base, size) = self
            .region(&src)
            .filter(|_| {
                self.spec
                    .split_rule(src.cap_type)
                    .is_some_and(|r| at.is_none() || r.at_offset)
            })
            .ok_or(OpError::IllegalOperation)?;
        let object = &self.spec.objects[self.object_of(&src).expect("has a region").index()];
        let (piece, align_bits) = object
            .placement_of(size_arg)
            .filter(|(piece, _)| *piece < size)
            .ok_or(OpError::InvalidArgument { index: 1 })?;
        let offset = at.unwrap_or(0);
        if let Some(at) = at {
            let align = 1u64 << align_bits.min(63);
            let aligned = region_base
                .checked_add(at)
                .is_some_and(|first| first & (align - 1) == 0);
            if at >= size || !aligned {
                return Err(OpError::InvalidArgument { index: 2 });
            }
        }
        let base = region_base + offset;
        let pieces = (size - offset) / piece;
        if count == 0 || count > pieces {
            return Err(OpError::RangeError {
                min: 1,
                max: pieces,
            });
        }
        let refused = match at {
            None => self.has_pieces(&src),
            Some(_) => self.has_pieces_in(&src, base, count * piece),
        };
        if refused {
            return Err(OpError::RevokeFirst);
        }
        let t = &self.spec.caps[src.cap_type.index()];
        let caps: Vec<_> = (0..count)
            .map(|i| {
                let mut cap = src.clone();
                cap.object = base + i * piece;
                cap.size_arg = size_arg;
                for f in &t.fields {
                    if matches!(f.role, Role::MappedAt | Role::MappedIn | Role::Asid) {
                        cap.other.remove(&f.name);
                    }
                }
                cap
            })
            .collect();
        if !caps.last().is_some_and(|c| self.cap_fits(c)) {
            return Err(OpError::IllegalOperation);
        }
        Ok(window
            .into_iter()
            .zip(caps)
            .map(|(slot, cap)| {
                self.add_node(Node {
                    cap,
                    holder: Holder::Slot(slot),
                    parent: Some(source_id),
                    may_parent: true,
                })
            })
            .collect())
    }

    /// Splits the cap at `source` by its type's `#[range(first, last)]`
    /// splitting rule (Barrelfish's IRQSrc `from_self`) into one cap of its
    /// type for the numbers `first..=last`, a sub-range of its own, in the
    /// empty slot `dest`: a child of the source with its other fields. In
    /// order, as the generated `split_range` checks from 3 on:
    /// 1. `dest` resolves, else `FailedLookup { source: 0 }`, and is empty,
    ///    else `DeleteFirst`;
    /// 2. `source` resolves to a cap, else `FailedLookup { source: 1 }`;
    /// 3. a `#[range]` splitting rule applies to its type, else
    ///    `IllegalOperation`;
    /// 4. `first..=last` lies in the source's range, else `RangeError {
    ///    min, max }` with the source's range;
    /// 5. it is smaller than the source's range, else `InvalidArgument {
    ///    index: 1 }`;
    /// 6. no live cap meets it ([`Machine::has_range_pieces_in`]), else
    ///    `RevokeFirst`;
    /// 7. the cap can hold the numbers, else `IllegalOperation`.
    pub fn split_range(
        &mut self,
        source: &SlotPath,
        first: u64,
        last: u64,
        dest: &SlotPath,
    ) -> Result<NodeId, OpError> {
        let dest = self.empty_dest(dest)?;
        let source_id = self.source_id(source)?;
        let src = self.nodes[&source_id].cap.clone();
        let (start, end) = self
            .spec
            .split_rule(src.cap_type)
            .and_then(|r| r.range)
            .map(|_| self.range_of(&src).expect("a range type"))
            .ok_or(OpError::IllegalOperation)?;
        if !(start <= first && first <= last && last <= end) {
            return Err(OpError::RangeError {
                min: start,
                max: end,
            });
        }
        if (first, last) == (start, end) {
            return Err(OpError::InvalidArgument { index: 1 });
        }
        if self.has_range_pieces_in(&src, first, last) {
            return Err(OpError::RevokeFirst);
        }
        let t = &self.spec.caps[src.cap_type.index()];
        let (a, b) = self
            .spec
            .split_rule(src.cap_type)
            .and_then(|r| r.range)
            .expect("checked");
        let mut cap = src.clone();
        cap.other.insert(t.fields[a].name.clone(), first);
        cap.other.insert(t.fields[b].name.clone(), last);
        if !self.cap_fits(&cap) {
            return Err(OpError::IllegalOperation);
        }
        Ok(self.add_node(Node {
            cap,
            holder: Holder::Slot(dest),
            parent: Some(source_id),
            may_parent: true,
        }))
    }

    /// The numbers `first..=last` a cap of a type with a `#[range]`
    /// splitting rule holds; `None` for any other cap.
    pub fn range_of(&self, cap: &super::Cap) -> Option<(u64, u64)> {
        let (a, b) = self.spec.split_rule(cap.cap_type)?.range?;
        let t = &self.spec.caps[cap.cap_type.index()];
        Some((
            self.field_value(cap, &t.fields[a]),
            self.field_value(cap, &t.fields[b]),
        ))
    }

    /// Whether a live cap of `cap`'s type that is not a copy of it, whose
    /// range lies within `cap`'s, holds a number in `first..=last`: what
    /// makes splitting a range `RevokeFirst`.
    pub fn has_range_pieces_in(&self, cap: &super::Cap, first: u64, last: u64) -> bool {
        let Some((start, end)) = self.range_of(cap) else {
            return false;
        };
        self.nodes.values().any(|n| {
            n.cap.cap_type == cap.cap_type
                && !self.same_object(cap, &n.cap)
                && self
                    .range_of(&n.cap)
                    .is_some_and(|(a, b)| start <= a && b <= end && a <= last && first <= b)
        })
    }

    /// The cap of type `target` derived from `source`: its object address,
    /// size argument and kind of memory the source's (where `target` names
    /// an object), the rights its type may carry that the source carries
    /// (all of them when the source's type has no rights), every other
    /// field 0.
    pub fn derived_cap(&self, source: &super::Cap, target: CapId) -> super::Cap {
        let t = &self.spec.caps[target.index()];
        let mut cap = self.blank_cap(target);
        if !self.spec.caps[source.cap_type.index()].rights.is_empty() {
            cap.rights &= source.rights;
        }
        if t.object.is_some() {
            cap.object = source.object;
            if t.field_with(Role::SizeArg).is_some() {
                cap.size_arg = source.size_arg;
            }
            cap.device = t.field_with(Role::Device).is_some() && self.is_device(source);
        }
        cap
    }

    /// Whether the cap `id` has a live descendant derived from it: of a
    /// type derived from its type, and not a copy of it (Barrelfish's
    /// retype asks for no descendants at all).
    pub fn has_derived_children(&self, id: NodeId) -> bool {
        let cap = &self.nodes[&id].cap;
        self.descendants(id).into_iter().any(|c| {
            let child = &self.nodes[&c].cap;
            self.spec.derives_from(cap.cap_type, child.cap_type) && !self.same_object(cap, child)
        })
    }

    /// Whether some live cap lies in `cap`'s region, is not a copy of it,
    /// and is of its type (a piece split off it or off a copy of it) or of a
    /// type derived from it: what makes splitting it `RevokeFirst`. Found
    /// by contents, as Barrelfish's mapping database finds descendants.
    pub fn has_pieces(&self, cap: &super::Cap) -> bool {
        let Some((base, size)) = self.region(cap) else {
            return false;
        };
        self.nodes.values().any(|n| {
            let related = n.cap.cap_type == cap.cap_type
                || self.spec.derives_from(cap.cap_type, n.cap.cap_type);
            related
                && !self.same_object(cap, &n.cap)
                && self
                    .region(&n.cap)
                    .is_some_and(|(b, s)| b >= base && b.saturating_add(s) <= base + size)
        })
    }

    /// Whether some live cap that [`Machine::has_pieces`] counts (in
    /// `cap`'s region, not a copy of it, of its type or of a type derived
    /// from it) names memory with a byte among the `bytes` from `first`
    /// on: what makes a split at an offset `RevokeFirst`.
    pub fn has_pieces_in(&self, cap: &super::Cap, first: u64, bytes: u64) -> bool {
        let Some((base, size)) = self.region(cap) else {
            return false;
        };
        let end = u128::from(first) + u128::from(bytes);
        self.nodes.values().any(|n| {
            let related = n.cap.cap_type == cap.cap_type
                || self.spec.derives_from(cap.cap_type, n.cap.cap_type);
            related
                && !self.same_object(cap, &n.cap)
                && self.region(&n.cap).is_some_and(|(b, s)| {
                    let n_end = u128::from(b) + u128::from(s);
                    b >= base
                        && n_end <= u128::from(base) + u128::from(size)
                        && u128::from(b) < end
                        && u128::from(first) < n_end
                })
        })
    }

    /// Whether the cap `id` is a piece split off a cap that is still live:
    /// one of the same type whose region holds its own, larger. (It is then
    /// part of that cap's object, not an object beside it.) That cap need
    /// not be its ancestor any more: the piece of a frame whose original
    /// cap was deleted is still part of the frame a copy of it names.
    pub fn is_split_piece(&self, id: NodeId) -> bool {
        let Some(node) = self.nodes.get(&id) else {
            return false;
        };
        if self.spec.split_rule(node.cap.cap_type).is_none() {
            return false;
        }
        let Some((base, size)) = self.region(&node.cap) else {
            return false;
        };
        self.nodes.values().any(|p| {
            p.cap.cap_type == node.cap.cap_type
                && self
                    .region(&p.cap)
                    .is_some_and(|(b, s)| s > size && b <= base && base + size <= b + s)
        })
    }

    /// Whether a live cap other than `source` names memory with a byte
    /// among the `bytes` from address `first` on, and is a copy of it (a
    /// cap naming the same object, whose region is the source's), or a
    /// descendant of it or of a copy of it: what makes a retype at an
    /// offset `RevokeFirst` (Barrelfish's check for descendants in the
    /// range). So untyped memory with a live copy is never retyped at an
    /// offset: the copy's own retype at its watermark would not see the
    /// objects (a cap without children starts again at 0).
    pub fn meets_live_memory(&self, source: NodeId, first: u64, bytes: u64) -> bool {
        let end = u128::from(first) + u128::from(bytes);
        let meets = |cap: &super::Cap| {
            self.region(cap).is_some_and(|(b, s)| {
                u128::from(b) < end && u128::from(first) < u128::from(b) + u128::from(s)
            })
        };
        let cap = &self.nodes[&source].cap;
        self.nodes
            .iter()
            .filter(|(_, n)| self.same_object(cap, &n.cap))
            .any(|(id, n)| {
                (*id != source && meets(&n.cap))
                    || self
                        .descendants(*id)
                        .into_iter()
                        .any(|d| meets(&self.nodes[&d].cap))
            })
    }

    /// The CNode a retype's destination names.
    pub(crate) fn destination(&self, dest: &SlotPath) -> Option<CNodeId> {
        if dest.is_empty() {
            return Some(CNodeId::Root);
        }
        let node = self.node_at(self.resolve(dest)?)?;
        self.cnode_named(&node.cap)
    }
}

/// The first address at least `watermark` bytes into the region aligned to
/// `align`, and the bytes from there to the region's end; `None` past the
/// end or on overflow.
fn free_from(base: u64, size: u64, watermark: u64, align: Option<u64>) -> Option<(u64, u64)> {
    let end = base.checked_add(size)?;
    let mask = align? - 1;
    let start = base.checked_add(watermark)?.checked_add(mask)? & !mask;
    Some((start, end.checked_sub(start)?))
}
