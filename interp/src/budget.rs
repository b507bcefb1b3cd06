//! Per-call donation budgets of RPC methods: what a server may allocate for
//! one call, handed out of the caller's donation as retyping it from its
//! first free address places objects (each at the running total rounded up
//! to its alignment), counted against each class's declared count; the
//! worst case `capc check` proved (largest alignment first) bounds it. And
//! the calls a simulation made.

use super::{Holder, Machine, Node, NodeId, OpError, Why};
use capc_dsl::model::{Donation, DonationKind, ObjectId};

/// One allocation class of a budget: the objects of one type and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Class {
    /// The object type.
    pub object: ObjectId,
    /// Its size argument.
    pub arg: u64,
    /// log2 of one object's size.
    pub size_bits: u32,
    /// Most objects per call (repeated clauses added together).
    pub count: u64,
    /// Where it starts in the worst case: in bytes from an aligned start,
    /// every class before it allocated to its count.
    pub offset: u64,
    /// log2 of its alignment.
    pub align_bits: u32,
}

/// The budget of one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The donation's first free address.
    pub base: u64,
    /// Bytes of the donation from `base`.
    pub bytes: u64,
    /// The classes in layout order.
    pub classes: Vec<Class>,
    /// Objects handed out per class.
    pub allocated: Vec<u64>,
    /// Bytes from `base` to the end of the last object handed out.
    pub used: u64,
}

impl Budget {
    /// The classes of `donation` in layout order, with their offsets, and
    /// the end of the layout (the worst case).
    pub fn layout(machine: &Machine<'_>, donation: &Donation) -> (Vec<Class>, u64) {
        let mut classes: Vec<Class> = Vec::new();
        for a in &donation.allocations {
            if let Some(c) = classes
                .iter_mut()
                .find(|c| c.object == a.object && c.arg == a.arg)
            {
                c.count += a.count;
                continue;
            }
            let object = &machine.spec.objects[a.object.index()];
            classes.push(Class {
                object: a.object,
                arg: a.arg,
                size_bits: a.size_bits,
                count: a.count,
                offset: 0,
                align_bits: object.align_bits_for(a.size_bits),
            });
        }
        let mut end = 0u64;
        for c in &mut classes {
            c.offset = end.next_multiple_of(1 << c.align_bits);
            end = c.offset + c.count * (1 << c.size_bits);
        }
        (classes, end)
    }

    /// The budget of a call that donated `bytes` from `base`. Refuses a
    /// donation below the method's minimum, too small for the layout once
    /// its start is aligned, or wrapping around the address space, with
    /// the bytes that would have done.
    pub fn from_donation(
        machine: &Machine<'_>,
        donation: &Donation,
        base: u64,
        bytes: u64,
    ) -> Result<Budget, u64> {
        let (classes, worst) = Budget::layout(machine, donation);
        let align = classes
            .iter()
            .map(|c| 1u64 << c.align_bits)
            .max()
            .unwrap_or(1);
        let padding = base.wrapping_neg() % align;
        let needed = donation.min_bytes.max(worst.saturating_add(padding));
        if bytes < needed || base.checked_add(bytes).is_none() {
            return Err(needed);
        }
        let allocated = vec![0; classes.len()];
        Ok(Budget {
            base,
            bytes,
            classes,
            allocated,
            used: 0,
        })
    }

    /// The class of `object` with `arg`: the most objects of it per call
    /// and how many were handed out; `None` when the method allocates no
    /// such objects.
    pub fn class(&self, object: ObjectId, arg: u64) -> Option<(u64, u64)> {
        let i = self
            .classes
            .iter()
            .position(|c| c.object == object && c.arg == arg)?;
        Some((self.classes[i].count, self.allocated[i]))
    }

    /// Bytes used so far, alignment gaps included.
    pub fn used_bytes(&self) -> u64 {
        self.used
    }

    /// The address of the next object of the class for `object` with `arg`:
    /// the running total rounded up to the object's alignment, as a retype
    /// from the donation's first free address would place it after the
    /// objects handed out so far. `Err(needed)`, the bytes the call would
    /// have used with it, once the class's count is used up or if it would
    /// end past the donation. `None` when the method allocates no such
    /// objects.
    pub fn alloc(&mut self, object: ObjectId, arg: u64) -> Option<Result<u64, u64>> {
        let i = self
            .classes
            .iter()
            .position(|c| c.object == object && c.arg == arg)?;
        let class = &self.classes[i];
        let size = 1u64 << class.size_bits;
        let end = (self.base + self.used)
            .checked_next_multiple_of(1 << class.align_bits)
            .and_then(|start| start.checked_add(size))
            .map_or(u64::MAX, |end| end - self.base);
        if self.allocated[i] == class.count || end > self.bytes {
            return Some(Err(end));
        }
        self.allocated[i] += 1;
        self.used = end;
        Some(Ok(self.base + end - size))
    }
}

/// What a caller donated with a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Donated {
    /// A byte quota, paid by the named principal.
    Quota {
        /// Who pays.
        principal: String,
        /// Bytes donated.
        bytes: u64,
    },
    /// The Untyped cap at this slot path.
    Untyped(Vec<u64>),
}

/// One call a simulation made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// `Interface.method`.
    pub method: String,
    /// Who paid: the principal of the quota, or the owner of the boot
    /// Untyped the donated one was made from.
    pub principal: String,
    /// Bytes donated (the free part of a donated Untyped).
    pub donated: u64,
    /// Objects the server made: type, size argument, address.
    pub objects: Vec<(ObjectId, u64, u64)>,
    /// Bytes of those objects.
    pub used: u64,
    /// How it ended.
    pub result: Result<(), OpError>,
    /// Why it was refused, when the error alone does not say.
    pub why: Option<Why>,
}

impl Machine<'_> {
    /// Calls `interface.method` with a donation, and has the server allocate
    /// `allocations` (object type and size argument, in order) from the
    /// call's budget. The server's objects of an Untyped donation are
    /// retyped from it where the budget places them: they become children
    /// of the donated cap, held by the server until it is revoked, and its
    /// watermark moves past the last one. A quota pays for objects in the
    /// server's own memory; the simulation only counts their bytes.
    ///
    /// Errors: `FailedLookup { source: 1 }` for a donated slot that does
    /// not resolve or is empty, `IllegalOperation` for a method without a
    /// donation of this kind, a cap of the wrong type, or device memory
    /// where the method declares objects only RAM may hold, `OutOfBudget`
    /// from the budget. `None` when the interface or method does not exist or
    /// an allocation is one the method does not declare (a script checks
    /// that before it runs).
    pub fn call(
        &mut self,
        interface: &str,
        method: &str,
        donated: &Donated,
        allocations: &[(ObjectId, u64)],
    ) -> Option<Result<Vec<u64>, OpError>> {
        let set = self.interface(interface)?;
        let m = set.methods.iter().find(|m| m.name == method)?;
        let name = format!("{interface}.{method}");
        let mut call = Call {
            method: name,
            principal: String::new(),
            donated: 0,
            objects: Vec::new(),
            used: 0,
            result: Ok(()),
            why: None,
        };
        let outcome = self.run_call(m.donation.as_ref(), donated, allocations, &mut call);
        if let Some(Err(e)) = &outcome {
            call.result = Err(*e);
        }
        if outcome.is_some() {
            self.calls.push(call);
        }
        outcome
    }

    fn run_call(
        &mut self,
        donation: Option<&Donation>,
        donated: &Donated,
        allocations: &[(ObjectId, u64)],
        call: &mut Call,
    ) -> Option<Result<Vec<u64>, OpError>> {
        let number = self.calls.len();
        let (untyped, base, bytes) = match (donated, donation.map(|d| &d.kind)) {
            (Donated::Quota { principal, bytes }, Some(DonationKind::Quota)) => {
                call.principal = principal.clone();
                (None, 0, *bytes)
            }
            (Donated::Untyped(path), Some(DonationKind::Untyped(cap_type))) => {
                let Some(id) = self.resolve(path).and_then(|s| self.id_at(s)) else {
                    return Some(Err(OpError::FailedLookup { source: 1 }));
                };
                let node = &self.nodes[&id];
                if node.cap.cap_type != *cap_type || !self.is_memory(&node.cap) {
                    call.why = Some(Why::NotTheDonation {
                        wanted: *cap_type,
                        found: node.cap.cap_type,
                    });
                    return Some(Err(OpError::IllegalOperation));
                }
                // Device memory must be able to hold every object the
                // method declares, or the server's retypes would fail.
                let declared = &donation.expect("matched").allocations;
                let ram_only = declared
                    .iter()
                    .find(|a| !self.spec.objects[a.object.index()].device);
                if let (true, Some(a)) = (self.is_device(&node.cap), ram_only) {
                    call.why = Some(Why::DeviceDonation(a.object));
                    return Some(Err(OpError::IllegalOperation));
                }
                call.principal = self.principal_of(id).unwrap_or_default();
                let (base, size) = self.region(&node.cap).expect("memory");
                let watermark = if self.children(id).is_empty() {
                    0
                } else {
                    node.cap.watermark.min(size)
                };
                (Some(id), base + watermark, size - watermark)
            }
            _ => return Some(Err(OpError::IllegalOperation)),
        };
        call.donated = bytes;
        let donation = donation.expect("matched above");
        let mut budget = match Budget::from_donation(self, donation, base, bytes) {
            Ok(b) => b,
            Err(needed) => {
                call.why = Some(Why::DonationTooSmall {
                    donated: bytes,
                    needed,
                    minimum: donation.min_bytes,
                });
                return Some(Err(OpError::OutOfBudget { needed }));
            }
        };
        let mut addresses = Vec::new();
        for &(object, arg) in allocations {
            let count_used_up = budget
                .class(object, arg)
                .is_some_and(|(declared, handed_out)| handed_out == declared);
            match budget.alloc(object, arg)? {
                Ok(address) => {
                    addresses.push(address);
                    call.objects.push((object, arg, address));
                }
                Err(needed) => {
                    call.why = Some(if count_used_up {
                        Why::TooMany {
                            object,
                            arg,
                            declared: budget.class(object, arg).map_or(0, |(d, _)| d),
                            asked: allocations.iter().filter(|a| **a == (object, arg)).count()
                                as u64,
                        }
                    } else {
                        Why::PastDonation {
                            object,
                            arg,
                            end: needed,
                            donated: bytes,
                        }
                    });
                    return Some(Err(OpError::OutOfBudget { needed }));
                }
            }
        }
        call.used = budget.used_bytes();
        // The server's retypes, one per object; without any, the donation
        // is left as it was.
        if let Some(id) = untyped
            && !call.objects.is_empty()
        {
            let cap = self.nodes[&id].cap.clone();
            let device = self.is_device(&cap);
            let (base, _) = self.region(&cap).expect("memory");
            // Reset, as a retype would, if the donation has no children
            // yet: the budget started at the region's base.
            let mut end = if self.children(id).is_empty() {
                0
            } else {
                cap.watermark
            };
            for (object, arg, address) in call.objects.clone() {
                let size_bits = self.spec.objects[object.index()].size.size_bits(arg)?;
                end = end.max(address + (1u64 << size_bits) - base);
                let new = self.cap_for(object, address, arg, device)?;
                self.made(&new);
                self.add_node(Node {
                    cap: new,
                    holder: Holder::Server(number),
                    parent: Some(id),
                    may_parent: true,
                });
            }
            if let Some(updated) = self.stored_watermark(&cap, end) {
                self.nodes.get_mut(&id).expect("live").cap = updated;
            }
        }
        Some(Ok(addresses))
    }

    /// The owner of the boot Untyped `id` was made from (or is).
    pub fn principal_of(&self, mut id: NodeId) -> Option<String> {
        loop {
            if let Some(owner) = self.owners.get(&id) {
                return Some(owner.clone());
            }
            id = self.nodes.get(&id)?.parent?;
        }
    }
}
