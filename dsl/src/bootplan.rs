//! The boot plan of a checked system: the Untypeds the machine's memory is
//! cut into (each domain's budget, and one for the shared objects), where
//! each lies, which Untyped each object is retyped from and at what offset,
//! and the CSpace slot each domain's named caps and budget Untypeds take.
//!
//! It reads only the checked [`System`]: each owned object goes where the
//! checker placed it (`SystemObject::placement`, the offsets the generated
//! boot plan uses too: a domain's objects first in their budget Untyped,
//! largest first, each naturally aligned, as the budget rules `E0905` and
//! `E0909` packed them with [`place`]), and the shared objects into an
//! Untyped of their own. `capc simulate` boots a system from this plan.

use crate::model::{Domain, System};

/// Bytes of the least Untyped that holds a donation (or quota) of `bytes`:
/// a client sets each one aside as an Untyped of its own.
pub fn donation_bytes(bytes: u64) -> u64 {
    bytes.checked_next_power_of_two().unwrap_or(1 << 63)
}

/// Where [`place`] put an item: the bin and the byte offset in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placed {
    /// Index of the bin.
    pub bin: usize,
    /// Bytes from the bin's start.
    pub offset: u64,
}

/// Places power-of-two `items` (bytes, with a label each), largest first,
/// into the Untypeds `bins` (bytes, powers of two), each item naturally
/// aligned, in the first bin with room. Returns where each item went, in
/// the items' order, or the first item that does not fit with the bytes
/// still free in all the bins when it was tried.
pub fn place<'l>(
    bins: &[u64],
    items: &[(u64, &'l str)],
) -> Result<Vec<Placed>, (u64, &'l str, u64)> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(items[i].0));
    let mut used: Vec<u64> = vec![0; bins.len()];
    let mut placed = vec![Placed { bin: 0, offset: 0 }; items.len()];
    for i in order {
        let (bytes, label) = items[i];
        // Largest first: every earlier item is a multiple of this one, so
        // the next free byte of each bin is aligned for it.
        match (0..bins.len()).find(|&b| bins[b] - used[b] >= bytes) {
            Some(b) => {
                placed[i] = Placed {
                    bin: b,
                    offset: used[b],
                };
                used[b] += bytes;
            }
            None => {
                let free = bins.iter().zip(&used).map(|(b, u)| b - u).sum();
                return Err((bytes, label, free));
            }
        }
    }
    Ok(placed)
}

/// [`place`], keeping only whether everything fits: the first item that
/// does not, with the bytes still free when it was tried.
pub fn pack<'l>(bins: &[u64], items: &[(u64, &'l str)]) -> Option<(u64, &'l str, u64)> {
    place(bins, items).err()
}

/// One Untyped of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootUntyped {
    /// The domain whose budget it is; `None` for the Untyped the shared
    /// objects are made from, which the boot plan pays for.
    pub domain: Option<usize>,
    /// Its place in the domain's `budget` list (0 for the shared one).
    pub index: usize,
    /// Its physical address.
    pub base: u64,
    /// log2 of its size.
    pub size_bits: u32,
}

/// One object of the system, placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlacedObject {
    /// Index in the system's objects.
    pub object: usize,
    /// Index in [`BootPlan::untypeds`] of the Untyped it is made from.
    pub untyped: usize,
    /// Bytes from the Untyped's start.
    pub offset: u64,
}

/// The boot plan of a system (see the module's documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootPlan {
    /// Every Untyped, in address order: the largest first from
    /// [`BootPlan::base`], back to back (each is then naturally aligned).
    pub untypeds: Vec<BootUntyped>,
    /// Every object, in the order to retype them: by Untyped, and in each
    /// by offset, so retyping each at the Untyped's watermark puts it at
    /// its offset.
    pub objects: Vec<PlacedObject>,
    /// Where the first Untyped starts: the first address at or above
    /// 1 MiB (below it is firmware on a PC) aligned to the largest Untyped.
    pub base: u64,
}

/// The lowest address the plan gives out.
const LOWEST: u64 = 1 << 20;

impl BootPlan {
    /// The plan for `system` (of a checked spec: each owned object where
    /// the checker placed it); `min_untyped_bits` is the smallest
    /// Untyped the spec's untyped memory may be (the shared objects'
    /// Untyped is never smaller). `None` when the domains' objects do not
    /// fit their budgets (the checker's `E0905`), which a checked system
    /// never has, or when the Untypeds laid out from 1 MiB would pass the
    /// end of a 64-bit address space.
    pub fn of(system: &System, min_untyped_bits: u32) -> Option<BootPlan> {
        let mut untypeds: Vec<BootUntyped> = Vec::new();
        // Per object: (index of its Untyped in `untypeds`, offset).
        let mut at: Vec<Option<(usize, u64)>> = vec![None; system.objects.len()];
        for (d, domain) in system.domains.iter().enumerate() {
            let first = untypeds.len();
            for (i, bytes) in domain.budget.iter().enumerate() {
                untypeds.push(BootUntyped {
                    domain: Some(d),
                    index: i,
                    base: 0,
                    size_bits: bytes.trailing_zeros(),
                });
            }
            // Each owned object where the checker placed it (the model's
            // `placement`: in its budget Untyped, objects first, largest
            // first, from the Untyped's start), so the interpreter's boot
            // and the generated plan make every object at one address.
            for (object, place) in system.objects.iter().zip(at.iter_mut()) {
                if object.owner == Some(d) {
                    let i = object.placement.untyped?;
                    if i >= domain.budget.len() {
                        return None;
                    }
                    *place = Some((first + i, object.placement.offset));
                }
            }
        }
        // The shared objects, largest first, in one Untyped of their own.
        let shared: Vec<usize> = (0..system.objects.len())
            .filter(|&o| system.objects[o].owner.is_none())
            .collect();
        if !shared.is_empty() {
            let items: Vec<(u64, &str)> = shared
                .iter()
                .map(|&o| {
                    (
                        1u64 << system.objects[o].size_bits,
                        system.objects[o].name.as_str(),
                    )
                })
                .collect();
            let total: u64 = items.iter().map(|i| i.0).sum();
            let bits = donation_bytes(total).trailing_zeros().max(min_untyped_bits);
            let placed = place(&[1u64 << bits], &items).ok()?;
            for (&o, p) in shared.iter().zip(&placed) {
                at[o] = Some((untypeds.len(), p.offset));
            }
            untypeds.push(BootUntyped {
                domain: None,
                index: 0,
                base: 0,
                size_bits: bits,
            });
        }
        // Memory: largest first, back to back (stable: declaration order).
        let mut order: Vec<usize> = (0..untypeds.len()).collect();
        order.sort_by_key(|&u| std::cmp::Reverse(untypeds[u].size_bits));
        let largest = order.first().map_or(0, |&u| untypeds[u].size_bits);
        let base = LOWEST.checked_next_multiple_of(1u64.checked_shl(largest)?)?;
        let mut next = base;
        for &u in &order {
            untypeds[u].base = next;
            next = next.checked_add(1u64.checked_shl(untypeds[u].size_bits)?)?;
        }
        let mut renumber = vec![0; untypeds.len()];
        for (new, &old) in order.iter().enumerate() {
            renumber[old] = new;
        }
        let untypeds: Vec<BootUntyped> = order.iter().map(|&u| untypeds[u].clone()).collect();
        let mut objects: Vec<PlacedObject> = at
            .iter()
            .enumerate()
            .filter_map(|(object, a)| {
                a.map(|(u, offset)| PlacedObject {
                    object,
                    untyped: renumber[u],
                    offset,
                })
            })
            .collect();
        objects.sort_by_key(|p| (p.untyped, p.offset));
        Some(BootPlan {
            untypeds,
            objects,
            base,
        })
    }

    /// The physical address of object `object` (index in the system's
    /// objects).
    pub fn address(&self, object: usize) -> Option<u64> {
        self.objects
            .iter()
            .find(|p| p.object == object)
            .map(|p| self.untypeds[p.untyped].base + p.offset)
    }

    /// The index in a domain's CSpace of its `index`-th budget Untyped:
    /// after its named slots, which take the first indices in declaration
    /// order.
    pub fn budget_slot(domain: &Domain, index: usize) -> u64 {
        (domain.slots.len() + index) as u64
    }
}
