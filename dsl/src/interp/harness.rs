//! The shared half of the differential tests: random sequences of
//! capability operations, their run on the reference interpreter, and the
//! invariants every side must keep. The generated code
//! (codegen/generated-tests/tests/differential.rs) and the demo kernel's
//! capability core (kernel-demo/kernel/tests/differential.rs) are each
//! compared with the interpreter through this module, so both run the same
//! operations and check the same invariants.
//!
//! Behind the `harness` feature (it needs proptest): only tests use it.

#![allow(missing_docs)]

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::interp::{self, Holder, Machine, OpError, Slot};
use crate::model::{FieldKind, Spec};

// ----- the operations -----

/// A slot as a path: `root[index]`, or `root[via][index]` through the CNode
/// whose cap is in `root[via]`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Path2 {
    pub via: Option<u64>,
    pub index: u64,
}

impl Path2 {
    /// The path of slot indices, from the root CNode.
    pub fn path(self) -> Vec<u64> {
        match self.via {
            Some(via) => vec![via, self.index],
            None => vec![self.index],
        }
    }
}

impl std::fmt::Debug for Path2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.via {
            Some(via) => write!(f, "root[{via}][{}]", self.index),
            None => write!(f, "root[{}]", self.index),
        }
    }
}

/// One operation, printed as a `capc simulate` line would read.
#[derive(Clone, PartialEq, Eq)]
pub enum Op {
    Retype {
        source: Path2,
        object_type: u64,
        size_arg: u64,
        /// `None`: the root CNode; `Some(i)`: the CNode whose cap is in root[i].
        dest: Option<u64>,
        offset: u64,
        count: u64,
    },
    Copy {
        source: Path2,
        dest: Path2,
        rights: u64,
    },
    Mint {
        source: Path2,
        dest: Path2,
        rights: u64,
        badge: u64,
    },
    Move {
        source: Path2,
        dest: Path2,
    },
    Delete(Path2),
    Revoke(Path2),
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::Retype {
                source,
                object_type,
                size_arg,
                dest,
                offset,
                count,
            } => {
                let dest = match dest {
                    Some(i) => format!("root[{i}]"),
                    None => "root".to_string(),
                };
                write!(
                    f,
                    "retype {source:?} type#{object_type}({size_arg}) x {count} into {dest}[{offset}..]"
                )
            }
            Op::Copy {
                source,
                dest,
                rights,
            } => write!(f, "copy {source:?} -> {dest:?} rights#{rights:#b}"),
            Op::Mint {
                source,
                dest,
                rights,
                badge,
            } => write!(
                f,
                "mint {source:?} -> {dest:?} rights#{rights:#b} badge {badge}"
            ),
            Op::Move { source, dest } => write!(f, "move {source:?} -> {dest:?}"),
            Op::Delete(at) => write!(f, "delete {at:?}"),
            Op::Revoke(at) => write!(f, "revoke {at:?}"),
        }
    }
}

/// What an operation returned, with the interpreter's error type on both
/// sides (the generated `RetypeError` mapped variant for variant).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Retyped {
        object_type: u64,
        size_bits: u32,
        first: u64,
        count: u64,
        new_watermark: u64,
        reset: bool,
    },
    Done,
    Removed(u64),
}

/// Every slot's cap (two words) and the slot of its parent.
pub type State = BTreeMap<Slot, ([u64; 2], Option<Slot>)>;

/// Root CNode radix: 16 slots, so windows overrun and slots collide often.
pub const ROOT_RADIX: u32 = 4;
pub const ROOT_SLOTS: u64 = 1 << ROOT_RADIX;

pub fn path() -> impl Strategy<Value = Path2> {
    prop_oneof![
        16 => (0..ROOT_SLOTS).prop_map(|index| Path2 { via: None, index }),
        1 => (ROOT_SLOTS..ROOT_SLOTS + 2).prop_map(|index| Path2 { via: None, index }),
        3 => (0..ROOT_SLOTS, 0..10u64).prop_map(|(via, index)| Path2 { via: Some(via), index }),
    ]
}

/// A retype's source: mostly one of the boot Untyped caps.
pub fn source() -> impl Strategy<Value = Path2> {
    prop_oneof![
        6 => (0..3u64).prop_map(|index| Path2 { via: None, index }),
        1 => path(),
    ]
}

/// A cap to delete, move away or revoke: rarely a boot Untyped, which
/// would end the sequence's interesting part.
pub fn victim() -> impl Strategy<Value = Path2> {
    prop_oneof![
        30 => (3..ROOT_SLOTS).prop_map(|index| Path2 { via: None, index }),
        8 => (0..ROOT_SLOTS, 0..10u64).prop_map(|(via, index)| Path2 { via: Some(via), index }),
        1 => (0..3u64).prop_map(|index| Path2 { via: None, index }),
    ]
}

/// Size arguments: mostly small valid ones, sometimes anything.
pub fn size_arg() -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => Just(0u64),
        4 => 1..4u64,
        4 => 4..14u64,
        1 => Just(12u64),
        1 => Just(21u64),
        1 => prop_oneof![Just(24u64), Just(25), Just(47), Just(48), Just(63), Just(64), any::<u64>()],
    ]
}

/// `(object type, size argument)` pairs the spec allows, small enough to
/// fit the boot Untyped caps many times.
pub fn small_objects(spec: &Spec) -> Vec<(u64, u64)> {
    let mut pairs = Vec::new();
    for (i, o) in spec.objects.iter().enumerate() {
        for (arg, bits) in &o.size.table {
            if *bits <= 14 {
                pairs.push((i as u64, *arg));
            }
        }
    }
    pairs
}

pub fn op(spec: &Spec) -> impl Strategy<Value = Op> {
    let object_types = spec.objects.len() as u64;
    let object = prop_oneof![
        3 => proptest::sample::select(small_objects(spec)),
        1 => (0..object_types + 1, size_arg()),
    ];
    let retype = (
        source(),
        object,
        prop_oneof![3 => Just(None), 1 => (0..ROOT_SLOTS).prop_map(Some)],
        prop_oneof![12 => 3..ROOT_SLOTS, 1 => 0..3u64, 1 => ROOT_SLOTS..ROOT_SLOTS + 4, 1 => Just(u64::MAX)],
        prop_oneof![8 => 1..5u64, 1 => Just(0u64), 1 => 5..20u64, 1 => Just(257u64), 1 => Just(u64::MAX)],
    )
        .prop_map(
            |(source, (object_type, size_arg), dest, offset, count)| Op::Retype {
                source,
                object_type,
                size_arg,
                dest,
                offset,
                count,
            },
        );
    let badge = prop_oneof![4 => 0..3u64, 1 => Just(u64::from(u32::MAX) + 1), 1 => any::<u64>()];
    prop_oneof![
        5 => retype,
        3 => (path(), path(), 0..16u64).prop_map(|(source, dest, rights)| Op::Copy { source, dest, rights }),
        3 => (path(), path(), 0..16u64, badge).prop_map(|(source, dest, rights, badge)| Op::Mint {
            source,
            dest,
            rights,
            badge
        }),
        2 => (victim(), path()).prop_map(|(source, dest)| Op::Move { source, dest }),
        2 => victim().prop_map(Op::Delete),
        1 => victim().prop_map(Op::Revoke),
        1 => source().prop_map(Op::Revoke),
    ]
}

// ----- the interpreter's side -----

pub fn run_interp(m: &mut Machine<'_>, op: &Op) -> Result<Outcome, OpError> {
    match op {
        Op::Retype {
            source,
            object_type,
            size_arg,
            dest,
            offset,
            count,
        } => {
            let dest: Vec<u64> = dest.iter().copied().collect();
            m.retype(
                &source.path(),
                *object_type,
                *size_arg,
                &dest,
                *offset,
                *count,
            )
            .map(|r| Outcome::Retyped {
                object_type: r.object.0.into(),
                size_bits: r.size_bits,
                first: r.first,
                count: r.count,
                new_watermark: r.new_watermark,
                reset: r.reset,
            })
        }
        Op::Copy {
            source,
            dest,
            rights,
        } => m
            .copy(&source.path(), &dest.path(), *rights)
            .map(|_| Outcome::Done),
        Op::Mint {
            source,
            dest,
            rights,
            badge,
        } => m
            .mint(&source.path(), &dest.path(), *rights, *badge)
            .map(|_| Outcome::Done),
        Op::Move { source, dest } => m
            .move_cap(&source.path(), &dest.path())
            .map(|_| Outcome::Done),
        Op::Delete(at) => m.delete(&at.path()).map(Outcome::Removed),
        Op::Revoke(at) => m.revoke(&at.path()).map(Outcome::Removed),
    }
}

/// The two words the generated layout gives `cap`: the model's tag, and
/// each field at its word and shift (pointers shifted by their alignment).
pub fn pack(m: &Machine<'_>, cap: &interp::Cap) -> [u64; 2] {
    let spec = m.spec();
    let t = &spec.caps[cap.cap_type.index()];
    let mut words = [u64::from(t.tag), 0];
    for f in &t.fields {
        let mut value = m.field_value(cap, f);
        if let FieldKind::Ptr { align_bits } = f.kind {
            value >>= align_bits;
        }
        let mask = if f.width >= 64 {
            u64::MAX
        } else {
            (1u64 << f.width) - 1
        };
        words[usize::from(f.word)] |= (value & mask) << f.shift;
    }
    words
}

pub fn interp_state(m: &Machine<'_>) -> State {
    m.occupied()
        .map(|(slot, node)| {
            let parent = node.parent.and_then(|p| match m.node(p)?.holder {
                Holder::Slot(s) => Some(s),
                Holder::Server(_) => None,
            });
            (slot, (pack(m, &node.cap), parent))
        })
        .collect()
}

// ----- the invariants, over what each side reports -----

/// One live cap as the invariants see it.
pub struct Seen {
    pub slot: Slot,
    pub parent: Option<Slot>,
    pub tag: u64,
    pub region: Option<(u64, u64)>,
    /// `(size, watermark)` for untyped memory.
    pub memory: Option<(u64, u64)>,
    pub rights: u64,
}

/// Checks the invariants; `revoked` is the slot just revoked, if any, and
/// `boot` the boot Untyped regions.
pub fn check_invariants(
    side: &str,
    seen: &[Seen],
    revoked: Option<Slot>,
    boot: &[(u64, u64)],
) -> Result<(), String> {
    let by_slot: BTreeMap<Slot, &Seen> = seen.iter().map(|s| (s.slot, s)).collect();
    for a in seen {
        // Watermarks.
        if let Some((size, watermark)) = a.memory
            && watermark > size
        {
            return Err(format!(
                "{side}: watermark {watermark} > size {size} at {:?}",
                a.slot
            ));
        }
        // Rights within the parent's, for caps to the same object.
        if let Some(p) = a.parent.and_then(|p| by_slot.get(&p))
            && p.tag == a.tag
            && p.region == a.region
            && a.rights & !p.rights != 0
        {
            return Err(format!(
                "{side}: {:?} has rights {:#b} beyond its parent's {:#b}",
                a.slot, a.rights, p.rights
            ));
        }
        // Memory from some principal's Untyped.
        if let Some((base, size)) = a.region
            && !boot.iter().any(|(b, s)| base >= *b && base + size <= b + s)
        {
            return Err(format!(
                "{side}: object {base:#x}+{size:#x} at {:?} lies in no boot Untyped",
                a.slot
            ));
        }
        // No overlap but containment in untyped memory or the same object.
        for b in seen {
            let (Some((x, xs)), Some((y, ys))) = (a.region, b.region) else {
                continue;
            };
            let same = a.tag == b.tag && (x, xs) == (y, ys);
            let overlap = x < y + ys && y < x + xs;
            let a_holds_b = a.memory.is_some() && x <= y && y + ys <= x + xs;
            let b_holds_a = b.memory.is_some() && y <= x && x + xs <= y + ys;
            if overlap && !same && !a_holds_b && !b_holds_a {
                return Err(format!(
                    "{side}: objects at {:?} and {:?} overlap",
                    a.slot, b.slot
                ));
            }
        }
    }
    // After revoke, no descendant: nothing names the revoked cap as parent.
    if let Some(r) = revoked
        && seen.iter().any(|s| s.parent == Some(r))
    {
        return Err(format!("{side}: {r:?} still has children after revoke"));
    }
    // What is in use of each boot Untyped never exceeds it.
    for (base, size) in boot {
        let mut regions: Vec<(u64, u64)> = seen
            .iter()
            .filter_map(|s| s.region)
            .filter(|(b, s)| (*b, *s) != (*base, *size) && *b >= *base && b + s <= base + size)
            .collect();
        regions.sort();
        let (mut used, mut end) = (0u64, 0u64);
        for (b, s) in regions {
            if b + s > end {
                used += b + s - b.max(end);
                end = b + s;
            }
        }
        if used > *size {
            return Err(format!("{side}: {used} bytes in use of {size}"));
        }
    }
    Ok(())
}

pub fn interp_seen(m: &Machine<'_>) -> Vec<Seen> {
    let state = interp_state(m);
    m.occupied()
        .map(|(slot, node)| Seen {
            slot,
            parent: state[&slot].1,
            tag: u64::from(m.spec().caps[node.cap.cap_type.index()].tag),
            region: m.region(&node.cap),
            memory: m
                .is_memory(&node.cap)
                .then(|| (m.region(&node.cap).unwrap().1, node.cap.watermark)),
            rights: node.cap.rights,
        })
        .collect()
}

/// The regions of the boot Untyped caps: every object must lie in one.
pub fn boot_regions(m: &Machine<'_>) -> Vec<(u64, u64)> {
    m.occupied()
        .filter(|(_, n)| m.is_memory(&n.cap))
        .filter_map(|(_, n)| m.region(&n.cap))
        .collect()
}

/// The root CNode's slot `index`.
pub fn root(index: u64) -> Path2 {
    Path2 { via: None, index }
}

/// The common path both differential tests name: retype two objects
/// of type 3 (an endpoint in kernel.cap), mint one with a badge, copy the
/// badged cap, revoke the Untyped.
pub fn retype_mint_copy_revoke() -> [Op; 4] {
    [
        Op::Retype {
            source: root(0),
            object_type: 3,
            size_arg: 0,
            dest: None,
            offset: 8,
            count: 2,
        },
        Op::Mint {
            source: root(8),
            dest: root(10),
            rights: 0b11,
            badge: 7,
        },
        Op::Copy {
            source: root(10),
            dest: root(11),
            rights: 0b1,
        },
        Op::Revoke(root(0)),
    ]
}
