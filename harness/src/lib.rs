//! The shared half of the differential tests: random sequences of
//! capability operations, their run on the reference interpreter, and the
//! invariants every side must keep. The generated code
//! (codegen/generated-tests/tests/differential.rs) and the demo kernel's
//! capability core (kernel-demo/kernel/tests/differential.rs) are each
//! compared with the interpreter through this crate, so both run the same
//! operations and check the same invariants.
//!
//! Test-only (it needs proptest): both tests take it as a dev-dependency,
//! and no library or binary depends on it.

#![allow(missing_docs)]

use std::collections::BTreeMap;

use proptest::prelude::*;

use capc_dsl::model::{DonationKind, ObjectId, Spec};
use capc_interp::Donated;
use capc_interp::{self as interp, Holder, Machine, NodeId, OpError, Slot};

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
    /// seL4's CNode_Mutate: a move that applies `data` as
    /// `updateCapData(preserve)` does (see `Machine::mutate`).
    Mutate {
        source: Path2,
        dest: Path2,
        data: u64,
    },
    Delete(Path2),
    Revoke(Path2),
    /// An RPC to `interface.method` whose caller pays with `payment`; the
    /// server allocates `allocations` (object type, size argument) from
    /// the call's budget, in order.
    Call {
        interface: String,
        method: String,
        payment: Payment,
        allocations: Vec<(u64, u64)>,
    },
}

/// What the caller of a donating method pays with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payment {
    /// The Untyped cap at this path.
    Untyped(Path2),
    /// A byte quota, paid by the principal `client`.
    Quota(u64),
}

/// An operation on what objects refer to (see `interp::lifecycle`). Kept
/// out of [`Op`] so that a side that does not implement them yet runs
/// [`Op`] sequences only; [`Step`] holds either.
#[derive(Clone, PartialEq, Eq)]
pub enum LifecycleOp {
    /// Sets the owned slots of the object whose cap is at `target`: one
    /// source per slot, in declaration order (`None`: left empty).
    Configure {
        target: Path2,
        sources: Vec<Option<Path2>>,
    },
    /// Maps the cap at `cap` at `page` of the address space whose root's
    /// cap is at `space` (`None`: a spec's one implicit address space).
    Map {
        cap: Path2,
        space: Option<Path2>,
        page: u64,
    },
    /// Unmaps the frame cap at this slot.
    Unmap(Path2),
    /// Makes the Untyped cap at `untyped` into a pool of address-space
    /// numbers whose cap goes to `dest` (`asid_pool`).
    MakePool { untyped: Path2, dest: Path2 },
    /// Gives the address-space root whose cap is at `root` a number from
    /// the pool whose cap is at `pool`.
    Assign { pool: Path2, root: Path2 },
    /// Resumes the thread whose cap is at this slot.
    Resume(Path2),
    /// Suspends the thread whose cap is at this slot.
    Suspend(Path2),
    /// The thread whose cap is at `tcb` sends (or calls) through the
    /// endpoint or notification cap at `cap`.
    Send { tcb: Path2, cap: Path2, call: bool },
    /// The thread whose cap is at `tcb` receives through the cap at `cap`.
    Recv { tcb: Path2, cap: Path2 },
    /// The thread whose cap is at this slot replies to the call it took.
    Reply(Path2),
    /// The IPC buffer of the thread whose cap is at `tcb` names the cap a
    /// message it sends carries (`send`) and the slot a cap it receives
    /// goes into (`receive`).
    SetBuffer {
        tcb: Path2,
        send: Option<Path2>,
        receive: Option<Path2>,
    },
}

impl LifecycleOp {
    /// Whether it is a thread's step (resume, suspend, send, call, recv,
    /// reply): run by `Ops::WithThreads` sides only.
    pub fn is_thread_step(&self) -> bool {
        matches!(
            self,
            LifecycleOp::Resume(_)
                | LifecycleOp::Suspend(_)
                | LifecycleOp::Send { .. }
                | LifecycleOp::Recv { .. }
                | LifecycleOp::Reply(_)
                | LifecycleOp::SetBuffer { .. }
        )
    }
}

impl Step {
    /// Whether it is a thread's step ([`LifecycleOp::is_thread_step`]).
    pub fn is_thread_step(&self) -> bool {
        matches!(self, Step::Lifecycle(op) if op.is_thread_step())
    }
}

/// One step of a sequence: a capability operation or a lifecycle one.
#[derive(Clone, PartialEq, Eq)]
pub enum Step {
    Op(Op),
    Lifecycle(LifecycleOp),
}

impl std::fmt::Debug for LifecycleOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LifecycleOp::Configure { target, sources } => {
                write!(f, "configure {target:?} slots")?;
                for s in sources {
                    match s {
                        Some(p) => write!(f, " {p:?}")?,
                        None => write!(f, " -")?,
                    }
                }
                Ok(())
            }
            LifecycleOp::Map { cap, space, page } => {
                write!(f, "map {cap:?} page {page}")?;
                match space {
                    Some(s) => write!(f, " in {s:?}"),
                    None => Ok(()),
                }
            }
            LifecycleOp::Unmap(at) => write!(f, "unmap {at:?}"),
            LifecycleOp::MakePool { untyped, dest } => {
                write!(f, "make_pool {untyped:?} into {dest:?}")
            }
            LifecycleOp::Assign { pool, root } => write!(f, "assign {root:?} from {pool:?}"),
            LifecycleOp::Resume(at) => write!(f, "resume {at:?}"),
            LifecycleOp::Suspend(at) => write!(f, "suspend {at:?}"),
            LifecycleOp::Send { tcb, cap, call } => {
                let verb = if *call { "call" } else { "send" };
                write!(f, "{verb} {tcb:?} on {cap:?}")
            }
            LifecycleOp::Recv { tcb, cap } => write!(f, "recv {tcb:?} on {cap:?}"),
            LifecycleOp::Reply(at) => write!(f, "reply {at:?}"),
            LifecycleOp::SetBuffer { tcb, send, receive } => {
                let path = |p: &Option<Path2>| p.map_or("-".to_string(), |p| format!("{p:?}"));
                write!(
                    f,
                    "buffer {tcb:?} send {} receive {}",
                    path(send),
                    path(receive)
                )
            }
        }
    }
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Op(op) => op.fmt(f),
            Step::Lifecycle(op) => op.fmt(f),
        }
    }
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
            Op::Mutate { source, dest, data } => {
                write!(f, "mutate {source:?} -> {dest:?} data {data}")
            }
            Op::Delete(at) => write!(f, "delete {at:?}"),
            Op::Revoke(at) => write!(f, "revoke {at:?}"),
            Op::Call {
                interface,
                method,
                payment,
                allocations,
            } => {
                write!(f, "call {interface}.{method} ")?;
                match payment {
                    Payment::Untyped(at) => write!(f, "donate {at:?}")?,
                    Payment::Quota(bytes) => write!(f, "quota {bytes} by client")?,
                }
                for (i, (object_type, size_arg)) in allocations.iter().enumerate() {
                    let lead = if i == 0 { " allocate" } else { "," };
                    write!(f, "{lead} type#{object_type}({size_arg})")?;
                }
                Ok(())
            }
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
    /// A call's objects: their addresses, in allocation order, and the
    /// bytes the budget handed out.
    Called {
        addresses: Vec<u64>,
        used: u64,
    },
}

/// Where a cap is held: in a slot, or by the server of the call with
/// number `call` (the `index`-th object it made in that call).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Place {
    Slot(Slot),
    Server { call: usize, index: usize },
}

/// Every cap (two words) by where it is held, and where its parent is.
pub type State = BTreeMap<Place, (Vec<u64>, Option<Place>)>;

/// One call as the accounting sees it: `Interface.method`, the bytes the
/// caller donated, the bytes the server's budget handed out, and whether
/// it succeeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallRecord {
    pub method: String,
    pub donated: u64,
    pub used: u64,
    pub ok: bool,
}

impl CallRecord {
    /// A call of `interface.method` before anything is known of it.
    pub fn new(interface: &str, method: &str) -> CallRecord {
        CallRecord {
            method: format!("{interface}.{method}"),
            donated: 0,
            used: 0,
            ok: false,
        }
    }
}

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
    for o in &spec.objects {
        for (arg, bits) in &o.size.table {
            if *bits <= 14 {
                pairs.push((u64::from(o.number), *arg));
            }
        }
        // A byte-sized type: its smallest size and a few granules more.
        if let Some(b) = o.size.bytes {
            let granule = 1u64 << b.granule_bits;
            for n in [1, 3, 5] {
                let arg = b.min + (n - 1) * granule;
                if arg <= b.max && arg <= 1 << 14 {
                    pairs.push((u64::from(o.number), arg));
                }
            }
        }
    }
    pairs
}

/// A method that takes a donation.
#[derive(Clone, Debug)]
pub struct DonatingMethod {
    pub interface: String,
    pub method: String,
    /// The caller pays with a quota; else with an Untyped.
    pub quota: bool,
    /// Each allocation class: object type, size argument, declared count.
    pub classes: Vec<(u64, u64, u64)>,
}

/// The methods of `spec` that take a donation.
pub fn donating_methods(spec: &Spec) -> Vec<DonatingMethod> {
    let mut out = Vec::new();
    for set in &spec.interfaces {
        for m in &set.methods {
            let Some(d) = &m.donation else { continue };
            let mut classes: Vec<(u64, u64, u64)> = Vec::new();
            for a in &d.allocations {
                let key = (spec.object_number(a.object), a.arg);
                match classes.iter_mut().find(|c| (c.0, c.1) == key) {
                    Some(c) => c.2 += a.count,
                    None => classes.push((key.0, key.1, a.count)),
                }
            }
            out.push(DonatingMethod {
                interface: set.name.clone(),
                method: m.name.clone(),
                quota: d.kind == DonationKind::Quota,
                classes,
            });
        }
    }
    out
}

/// How many objects of a class with `count` per call a server allocates:
/// mostly a few, sometimes exactly the count, sometimes one too many (the
/// budget refuses it). Large counts stay small but for the one too many,
/// so a sequence does not fill up with server objects.
fn allocation_count(count: u64) -> BoxedStrategy<u64> {
    let few = 0..=count.min(3);
    if count <= 8 {
        prop_oneof![6 => few, 2 => Just(count), 1 => Just(count + 1)].boxed()
    } else {
        prop_oneof![8 => few, 1 => Just(count + 1)].boxed()
    }
}

/// Calls of the spec's donating methods; `None` when it has none.
pub fn call(spec: &Spec) -> Option<BoxedStrategy<Op>> {
    let methods = donating_methods(spec);
    if methods.is_empty() {
        return None;
    }
    let donor = prop_oneof![
        6 => prop_oneof![(0..3u64), Just(DONOR_SLOT)].prop_map(root),
        1 => path(),
    ];
    let quota = prop_oneof![
        2 => 0..4096u64,
        1 => prop_oneof![Just(0u64), Just(1023), Just(1024), Just(1 << 20), Just(u64::MAX)],
    ];
    let each = methods.into_iter().map(move |m| {
        let DonatingMethod {
            interface,
            method,
            quota: by_quota,
            classes,
        } = m;
        let payment = if by_quota {
            quota.clone().prop_map(Payment::Quota).boxed()
        } else {
            donor.clone().prop_map(Payment::Untyped).boxed()
        };
        let counts: Vec<BoxedStrategy<u64>> =
            classes.iter().map(|c| allocation_count(c.2)).collect();
        (payment, counts)
            .prop_flat_map(move |(payment, counts)| {
                let plan: Vec<(u64, u64)> = classes
                    .iter()
                    .zip(&counts)
                    .flat_map(|(c, n)| std::iter::repeat_n((c.0, c.1), *n as usize))
                    .collect();
                (Just(payment), Just(plan).prop_shuffle())
            })
            .prop_map({
                let (interface, method) = (interface.clone(), method.clone());
                move |(payment, allocations)| Op::Call {
                    interface: interface.clone(),
                    method: method.clone(),
                    payment,
                    allocations,
                }
            })
            .boxed()
    });
    Some(proptest::strategy::Union::new(each).boxed())
}

/// The slot of the one boot Untyped large enough for every donation of
/// everything.cap (a test's boot caps put it there, or leave it empty).
pub const DONOR_SLOT: u64 = 5;

pub fn op(spec: &Spec) -> impl Strategy<Value = Op> + use<> {
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
    let mut arms: Vec<(u32, BoxedStrategy<Op>)> = vec![
        (5, retype.boxed()),
        (
            3,
            (path(), path(), 0..16u64)
                .prop_map(|(source, dest, rights)| Op::Copy {
                    source,
                    dest,
                    rights,
                })
                .boxed(),
        ),
        (
            3,
            (path(), path(), 0..16u64, badge)
                .prop_map(|(source, dest, rights, badge)| Op::Mint {
                    source,
                    dest,
                    rights,
                    badge,
                })
                .boxed(),
        ),
        (
            2,
            (victim(), path())
                .prop_map(|(source, dest)| Op::Move { source, dest })
                .boxed(),
        ),
        (
            1,
            (victim(), path(), prop_oneof![3 => Just(0u64), 1 => 1..4u64])
                .prop_map(|(source, dest, data)| Op::Mutate { source, dest, data })
                .boxed(),
        ),
        (2, victim().prop_map(Op::Delete).boxed()),
        (1, victim().prop_map(Op::Revoke).boxed()),
        (1, source().prop_map(Op::Revoke).boxed()),
    ];
    if let Some(call) = call(spec) {
        arms.push((2, call));
    }
    proptest::strategy::Union::new_weighted(arms)
}

/// Which operations a side runs: the capability operations only, or the
/// lifecycle ones too (configure, map, unmap), or of those only configure
/// (a side whose address spaces are not the interpreter's flat ones: the
/// demo kernel's four-level page tables), or configure and the threads'
/// steps (resume, suspend, send, call, recv, reply: a side that runs IPC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ops {
    Caps,
    WithLifecycle,
    WithOwnedSlots,
    WithThreads,
}

impl Ops {
    /// Whether lifecycle steps run at all.
    fn lifecycle(self) -> bool {
        self != Ops::Caps
    }

    /// Whether map and unmap steps run.
    fn mapping(self) -> bool {
        self == Ops::WithLifecycle
    }

    /// Whether threads' steps run.
    fn threads(self) -> bool {
        self == Ops::WithThreads
    }
}

/// Pages to map at: mostly a few (so mappings collide), sometimes 0 or
/// past any field. With translation tables, mostly the first few
/// addresses of user space aligned to what each level's entries cover, so
/// that tables and frames of every level meet; sometimes one misaligned.
fn page(spec: &Spec) -> BoxedStrategy<u64> {
    let page_bits = spec.page_bits();
    let steps: Vec<u64> = spec
        .objects
        .iter()
        .filter_map(|o| o.table.as_ref())
        .map(|t| 1u64 << (t.entry_bits - page_bits))
        .collect();
    if steps.is_empty() {
        return prop_oneof![
            12 => 1..5u64,
            1 => Just(0u64),
            1 => Just(1u64 << 36),
            1 => any::<u64>(),
        ]
        .boxed();
    }
    let base = spec.target.user_space.map_or(0, |(b, _)| b) >> page_bits;
    prop_oneof![
        12 => (proptest::sample::select(steps), 0..3u64).prop_map(move |(step, k)| base + k * step),
        2 => (1..5u64).prop_map(move |k| base + k),
        1 => Just(0u64),
        1 => Just(1u64 << 36),
        1 => any::<u64>(),
    ]
    .boxed()
}

/// The address where a chain of tables maps its last object: user space's
/// start plus, for each table on `path` (root first), `0` or `1` times what
/// one of its entries covers, as `offsets` picks.
fn chain_address(spec: &Spec, path: &[ObjectId], offsets: &[u64]) -> u64 {
    let base = spec.target.user_space.map_or(0, |(b, _)| b);
    path.iter()
        .zip(offsets)
        .map(|(t, k)| {
            let bits = spec.objects[t.index()]
                .table
                .as_ref()
                .map_or(0, |t| t.entry_bits);
            k << bits
        })
        .fold(base, u64::wrapping_add)
}

/// Lifecycle operations on `spec` for a side that runs `ops` (map and
/// unmap only with `Ops::WithLifecycle`, threads' steps only with
/// `Ops::WithThreads`); `None` when there is none to run.
pub fn lifecycle_op(spec: &Spec, ops: Ops) -> Option<BoxedStrategy<LifecycleOp>> {
    let mapping = ops.mapping();
    let slots = spec
        .objects
        .iter()
        .map(|o| o.slots.len())
        .max()
        .unwrap_or(0);
    let mapped = mapping && spec.caps.iter().any(|c| c.mapping.is_some());
    let roots = spec.address_space_root().is_some();
    let mut arms: Vec<(u32, BoxedStrategy<LifecycleOp>)> = Vec::new();
    if slots > 0 {
        let source = prop_oneof![1 => Just(None), 4 => path().prop_map(Some)];
        arms.push((
            3,
            (victim(), proptest::collection::vec(source, slots))
                .prop_map(|(target, sources)| LifecycleOp::Configure { target, sources })
                .boxed(),
        ));
    }
    if mapped {
        let space = if roots {
            path().prop_map(Some).boxed()
        } else {
            prop_oneof![20 => Just(None), 1 => path().prop_map(Some)].boxed()
        };
        arms.push((
            4,
            (path(), space, page(spec))
                .prop_map(|(cap, space, page)| LifecycleOp::Map { cap, space, page })
                .boxed(),
        ));
        arms.push((1, path().prop_map(LifecycleOp::Unmap).boxed()));
        if spec.asid_pool().is_some() {
            arms.push((
                1,
                (path(), path())
                    .prop_map(|(untyped, dest)| LifecycleOp::MakePool { untyped, dest })
                    .boxed(),
            ));
            arms.push((
                2,
                (path(), path())
                    .prop_map(|(pool, root)| LifecycleOp::Assign { pool, root })
                    .boxed(),
            ));
        }
    }
    if ops.threads() && thread_objects(spec).is_some() {
        arms.push((2, path().prop_map(LifecycleOp::Resume).boxed()));
        arms.push((1, path().prop_map(LifecycleOp::Suspend).boxed()));
        arms.push((
            3,
            (path(), path(), any::<bool>())
                .prop_map(|(tcb, cap, call)| LifecycleOp::Send { tcb, cap, call })
                .boxed(),
        ));
        arms.push((
            3,
            (path(), path())
                .prop_map(|(tcb, cap)| LifecycleOp::Recv { tcb, cap })
                .boxed(),
        ));
        arms.push((2, path().prop_map(LifecycleOp::Reply).boxed()));
    }
    (!arms.is_empty()).then(|| proptest::strategy::Union::new_weighted(arms).boxed())
}

/// The spec's thread object type (`finalise = stop_thread`) and its IPC
/// object types (`finalise = cancel_waiters`), if it has both.
pub fn thread_objects(spec: &Spec) -> Option<(ObjectId, Vec<ObjectId>)> {
    use capc_dsl::model::Finaliser;
    let with = |f: Finaliser| {
        spec.objects
            .iter()
            .enumerate()
            .filter(move |(_, o)| o.finalisers.contains(&f))
            .map(|(i, _)| ObjectId(i as u32))
    };
    let thread = with(Finaliser::StopThread).next()?;
    let ipc: Vec<ObjectId> = with(Finaliser::CancelWaiters).collect();
    (!ipc.is_empty()).then_some((thread, ipc))
}

/// Runs that line up what threads' steps act on: two threads (resumed), an
/// endpoint or notification and a minted copy of its cap (some badge, some
/// rights), in slots often emptied first; then one of the IPC paths (a
/// call answered; a call whose caller is suspended and resumed before the
/// reply; a send queued under a badge whose cap goes; a receiver whose
/// object goes; a thread deleted in a call; a send or signal meeting a
/// waiting receiver), then a few of: a call or a
/// send through the copy, a receive, a reply, a suspend and resume of the
/// caller, deletion of a cap, of the object or of a thread.
pub fn thread_setup(spec: &Spec) -> Option<BoxedStrategy<Vec<Step>>> {
    let (thread, ipc) = thread_objects(spec)?;
    let smallest: Vec<u64> = spec.objects.iter().map(|o| o.size.min_arg()).collect();
    let numbers: Vec<u64> = spec.objects.iter().map(|o| u64::from(o.number)).collect();
    // What a thread needs to run: an object for each `#[required]` slot
    // (kernel.cap's address space), made and configured in before resume.
    let owned = &spec.objects[thread.index()].slots;
    let required: Vec<Option<ObjectId>> = owned
        .iter()
        .map(|s| {
            s.required
                .then(|| spec.caps[s.cap.index()].object)
                .flatten()
        })
        .collect();
    let extra = required.iter().flatten().count();
    // With pools, two slots more: a pool numbers the address space.
    let root_type = spec.address_space_root();
    let numbered = numbering(spec);
    // With two slots more for the caps the threads receive.
    let slots = proptest::sample::subsequence((3..ROOT_SLOTS).collect::<Vec<u64>>(), 8 + extra)
        .prop_shuffle();
    let rights = prop_oneof![3 => Just(0b1111u64), 1 => 0..16u64];
    // Weighted by repetition: calls, receives and replies most.
    const ACTIONS: [u8; 22] = [
        0, 0, 0, 1, 2, 2, 2, 3, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 14,
    ];
    let actions = proptest::collection::vec(proptest::sample::select(ACTIONS.to_vec()), 0..6);
    // The paths, as actions: answered, stale, badged send cancelled,
    // waiter restarted by deletion, caller or receiver deleted, a send
    // (or signal) to a waiting receiver.
    const PATHS: [&[u8]; 7] = [
        &[0, 2, 3],
        &[2, 1],
        &[0, 2, 4, 5, 3],
        &[1, 6],
        &[0, 6],
        &[2, 6, 7],
        &[0, 2, 8, 3],
    ];
    let path = proptest::sample::select(PATHS.to_vec());
    Some(
        (
            prop_oneof![4 => Just(0u64), 1 => Just(1u64)],
            proptest::sample::select(ipc),
            slots,
            rights,
            0..4u64,
            (path, actions, any::<bool>()),
        )
            .prop_map(
                move |(source, object, at, rights, badge, (path, actions, clear))| {
                    let retype = |object: ObjectId, offset: u64| {
                        Step::Op(Op::Retype {
                            source: root(source),
                            object_type: numbers[object.index()],
                            size_arg: smallest[object.index()],
                            dest: None,
                            offset,
                            count: 1,
                        })
                    };
                    let (a, b, e, copy) = (root(at[0]), root(at[1]), root(at[2]), root(at[3]));
                    let mut out: Vec<Step> = if clear {
                        at.iter().map(|i| Step::Op(Op::Delete(root(*i)))).collect()
                    } else {
                        Vec::new()
                    };
                    out.extend([
                        retype(thread, at[0]),
                        retype(thread, at[1]),
                        retype(object, at[2]),
                        Step::Op(Op::Mint {
                            source: e,
                            dest: copy,
                            rights,
                            badge,
                        }),
                    ]);
                    // The required slots' objects, configured into both.
                    let mut next = 4;
                    let mut sources = Vec::new();
                    for needed in &required {
                        sources.push(needed.map(|o| {
                            out.push(retype(o, at[next]));
                            if Some(o) == root_type {
                                out.extend(numbered(
                                    source,
                                    at[4 + extra],
                                    at[5 + extra],
                                    at[next],
                                ));
                            }
                            next += 1;
                            root(at[next - 1])
                        }));
                    }
                    if extra > 0 {
                        for target in [a, b] {
                            out.push(Step::Lifecycle(LifecycleOp::Configure {
                                target,
                                sources: sources.clone(),
                            }));
                        }
                    }
                    out.extend([
                        Step::Lifecycle(LifecycleOp::Resume(a)),
                        Step::Lifecycle(LifecycleOp::Resume(b)),
                    ]);
                    // Their buffers: A's messages carry the endpoint's
                    // cap, B's the copy; each receives into a slot of its
                    // own (which may be full).
                    if badge != 1 {
                        out.extend([
                            Step::Lifecycle(LifecycleOp::SetBuffer {
                                tcb: a,
                                send: Some(e),
                                receive: Some(root(at[6 + extra])),
                            }),
                            Step::Lifecycle(LifecycleOp::SetBuffer {
                                tcb: b,
                                send: Some(copy),
                                receive: Some(root(at[7 + extra])),
                            }),
                        ]);
                    }
                    for action in path.iter().copied().chain(actions) {
                        let send = |tcb, cap, call| LifecycleOp::Send { tcb, cap, call };
                        out.push(match action {
                            0 => Step::Lifecycle(send(a, copy, true)),
                            1 => Step::Lifecycle(send(a, copy, false)),
                            2 => Step::Lifecycle(LifecycleOp::Recv { tcb: b, cap: e }),
                            3 => Step::Lifecycle(LifecycleOp::Reply(b)),
                            4 => Step::Lifecycle(LifecycleOp::Suspend(a)),
                            5 => Step::Lifecycle(LifecycleOp::Resume(a)),
                            6 => Step::Op(Op::Delete(copy)),
                            7 => Step::Op(Op::Delete(e)),
                            8 => Step::Op(Op::Delete(a)),
                            9 => Step::Lifecycle(LifecycleOp::Recv { tcb: a, cap: copy }),
                            10 => Step::Lifecycle(send(b, e, true)),
                            11 => Step::Lifecycle(LifecycleOp::Suspend(b)),
                            12 => Step::Op(Op::Delete(b)),
                            13 => Step::Op(Op::Revoke(e)),
                            _ => Step::Lifecycle(send(a, e, true)),
                        });
                    }
                    out
                },
            )
            .boxed(),
    )
}

/// Short runs of steps that set up what the lifecycle operations act on,
/// which independent random steps would hardly ever line up: retype an
/// object that owns slots and a cap for each slot, configure it; retype a
/// mapped object (and an address-space root) and map it. The random steps
/// around them delete, revoke and retype the same memory again.
pub fn lifecycle_setup(spec: &Spec, mapping: bool) -> Option<BoxedStrategy<Vec<Step>>> {
    let smallest: Vec<u64> = spec.objects.iter().map(|o| o.size.min_arg()).collect();
    let numbers: Vec<u64> = spec.objects.iter().map(|o| u64::from(o.number)).collect();
    let smallest_for = smallest.clone();
    let retype = move |source: u64, object: ObjectId, at: u64| {
        Step::Op(Op::Retype {
            source: root(source),
            object_type: numbers[object.index()],
            size_arg: smallest_for[object.index()],
            dest: None,
            offset: at,
            count: 1,
        })
    };
    let untyped = prop_oneof![4 => Just(0u64), 1 => Just(1u64)];
    let at = || 3..ROOT_SLOTS;
    let numbered = numbering(spec);
    let root_type = spec.address_space_root();
    let mut arms: Vec<BoxedStrategy<Vec<Step>>> = Vec::new();
    for (i, o) in spec.objects.iter().enumerate() {
        let owner = ObjectId(i as u32);
        // What each slot's cap names; a caller slot (`None`) is the
        // kernel's to fill, never configured.
        let slot_objects: Option<Vec<Option<ObjectId>>> = o
            .slots
            .iter()
            .map(|s| {
                let cap = &spec.caps[s.cap.index()];
                if cap.is_reply() {
                    Some(None)
                } else {
                    cap.object.map(Some)
                }
            })
            .collect();
        let Some(slot_objects) = slot_objects.filter(|v| v.iter().any(Option::is_some)) else {
            continue;
        };
        let n = slot_objects.len();
        arms.push(
            (
                untyped.clone(),
                // Distinct slots for the object and its slots' caps, in a
                // random order.
                // (and two for a pool that numbers an address space).
                proptest::sample::subsequence(at().collect::<Vec<u64>>(), n + 3).prop_shuffle(),
                any::<bool>(),
            )
                .prop_map({
                    let retype = retype.clone();
                    let numbered = numbered.clone();
                    move |(source, all, again)| {
                        let (target, places) = (all[0], &all[1..=n]);
                        let mut out = vec![retype(source, owner, target)];
                        for (object, place) in slot_objects.iter().zip(places) {
                            let Some(object) = object else {
                                continue;
                            };
                            out.push(retype(source, *object, *place));
                            if Some(*object) == root_type {
                                out.extend(numbered(source, all[n + 1], all[n + 2], *place));
                            }
                        }
                        out.push(Step::Lifecycle(LifecycleOp::Configure {
                            target: root(target),
                            sources: slot_objects
                                .iter()
                                .zip(places)
                                .map(|(o, p)| o.map(|_| root(*p)))
                                .collect(),
                        }));
                        if again {
                            // Configured again: what the slots held is deleted.
                            out.push(out[out.len() - 1].clone());
                        }
                        out
                    }
                })
                .boxed(),
        );
    }
    let mapped: Vec<ObjectId> = spec
        .caps
        .iter()
        .filter(|c| c.mapping.is_some())
        .filter_map(|c| c.object)
        .collect();
    if mapping && !mapped.is_empty() {
        arms.push(
            (
                untyped.clone(),
                proptest::sample::select(mapped.clone()),
                at(),
                at(),
                page(spec),
                any::<bool>(),
                prop_oneof![3 => Just(None), 1 => at().prop_map(Some)],
            )
                .prop_map({
                    let retype = retype.clone();
                    let numbered = numbered.clone();
                    move |(source, object, place, space, page, new_space, twice)| {
                        let mut out = vec![retype(source, object, place)];
                        let space = root_type.map(|r| {
                            if new_space {
                                out.push(retype(source, r, space));
                                // Its number, from a pool in the slots
                                // after it.
                                let after = |k: u64| 3 + (space - 3 + k) % (ROOT_SLOTS - 3);
                                let (memory, pool) = (after(1), after(2));
                                out.extend(numbered(source, memory, pool, space));
                            }
                            root(space)
                        });
                        out.push(Step::Lifecycle(LifecycleOp::Map {
                            cap: root(place),
                            space,
                            page,
                        }));
                        // A second object at the same page of the same space.
                        if let Some(second) = twice {
                            out.push(retype(source, object, second));
                            out.push(Step::Lifecycle(LifecycleOp::Map {
                                cap: root(second),
                                space,
                                page,
                            }));
                        }
                        out
                    }
                })
                .boxed(),
        );
    }
    if let (true, Some(root_type)) = (mapping, spec.table_root()) {
        // What a chain of tables ends in: each mapped object at its
        // smallest size, under the tables down to the one that holds it.
        let ends: Vec<(Vec<ObjectId>, ObjectId)> = mapped
            .iter()
            .filter(|o| **o != root_type)
            .filter_map(|&o| {
                let bits = spec.objects[o.index()]
                    .size
                    .size_bits(smallest[o.index()])?;
                let path = spec.table_path(spec.table_holding(o, bits)?)?;
                Some((path, o))
            })
            .collect();
        // Chains that end in a frame need every level: three times as many.
        let ends: Vec<(Vec<ObjectId>, ObjectId)> = ends
            .into_iter()
            .flat_map(|e| {
                let times = if spec.objects[e.1.index()].table.is_some() {
                    1
                } else {
                    3
                };
                std::iter::repeat_n(e, times)
            })
            .collect();
        let page_bits = spec.page_bits();
        let spec_for = spec.clone();
        if !ends.is_empty() {
            arms.push(
                (
                    untyped,
                    proptest::sample::select(ends),
                    // Distinct slots, in a random order.
                    proptest::sample::subsequence(at().collect::<Vec<u64>>(), 8).prop_shuffle(),
                    proptest::collection::vec(0..2u64, 8),
                    // Mostly a new address space; at times the slot's.
                    proptest::bool::weighted(0.8),
                    0..4u8,
                )
                    .prop_map(
                        move |(source, (path, end), places, offsets, new_space, tail)| {
                            let vaddr = chain_address(&spec_for, &path, &offsets);
                            let span = |t: ObjectId| {
                                let o = &spec_for.objects[t.index()];
                                o.table
                                    .as_ref()
                                    .map_or(o.size.min_bits(), |t| t.span_bits())
                            };
                            let space = root(places[0]);
                            let mut out = Vec::new();
                            if new_space {
                                out.push(retype(source, root_type, places[0]));
                                // Its number, from a pool made in the two
                                // slots no chain uses.
                                out.extend(numbered(source, places[6], places[7], places[0]));
                            }
                            for (i, &object) in path[1..].iter().chain([&end]).enumerate() {
                                let at = vaddr & !((1u64 << span(object)) - 1);
                                out.push(retype(source, object, places[i + 1]));
                                out.push(Step::Lifecycle(LifecycleOp::Map {
                                    cap: root(places[i + 1]),
                                    space: Some(space),
                                    page: at >> page_bits,
                                }));
                            }
                            // Then, at times, the end's cap goes, or all of it,
                            // or a copy of it is mapped where the end is.
                            let end_at = vaddr & !((1u64 << span(end)) - 1);
                            match tail {
                                0 => out.push(Step::Op(Op::Delete(root(places[path.len()])))),
                                1 => out.push(Step::Op(Op::Revoke(root(source)))),
                                2 => {
                                    // A copy: a frame's starts unmapped, and the
                                    // entry is taken; a table's is mapped.
                                    out.push(Step::Op(Op::Copy {
                                        source: root(places[path.len()]),
                                        dest: root(places[path.len() + 1]),
                                        rights: u64::MAX,
                                    }));
                                    out.push(Step::Lifecycle(LifecycleOp::Map {
                                        cap: root(places[path.len() + 1]),
                                        space: Some(space),
                                        page: end_at >> page_bits,
                                    }));
                                }
                                _ => {}
                            }
                            out
                        },
                    )
                    .boxed(),
            );
        }
    }
    (!arms.is_empty()).then(|| proptest::strategy::Union::new(arms).boxed())
}

/// The steps that give the address-space root whose cap is in root slot
/// `space` a number, in a spec with a pool type (`asid_pool`): an Untyped of
/// the pool's size from root slot `source` into `memory`, a pool from it
/// into `pool`, then `assign`. None without a pool type.
fn numbering(spec: &Spec) -> impl Fn(u64, u64, u64, u64) -> Vec<Step> + Clone + 'static {
    let untyped = spec.asid_pool().and_then(|(pool, _)| {
        let bits = spec.objects[pool.index()].size.max_bits();
        spec.objects.iter().enumerate().find_map(|(i, o)| {
            let arg = o
                .size
                .table
                .iter()
                .find(|(_, b)| *b == bits)
                .map(|(a, _)| *a)?;
            (o.kind == capc_dsl::ast::ObjectKind::Untyped && o.ram)
                .then_some((spec.object_number(ObjectId(i as u32)), arg))
        })
    });
    move |source, memory, pool, space| {
        let Some((object_type, size_arg)) = untyped else {
            return Vec::new();
        };
        vec![
            Step::Op(Op::Retype {
                source: root(source),
                object_type,
                size_arg,
                dest: None,
                offset: memory,
                count: 1,
            }),
            Step::Lifecycle(LifecycleOp::MakePool {
                untyped: root(memory),
                dest: root(pool),
            }),
            Step::Lifecycle(LifecycleOp::Assign {
                pool: root(pool),
                root: root(space),
            }),
        ]
    }
}

/// A sequence of about `len` steps: [`step`]s, and with
/// `Ops::WithLifecycle` now and then a [`lifecycle_setup`] run.
pub fn steps(
    spec: &Spec,
    ops: Ops,
    len: std::ops::RangeInclusive<usize>,
) -> BoxedStrategy<Vec<Step>> {
    let one = step(spec, ops).prop_map(|s| vec![s]);
    let threads = thread_setup(spec).filter(|_| ops.threads());
    let runs = match (
        ops.lifecycle(),
        lifecycle_setup(spec, ops.mapping()),
        threads,
    ) {
        (true, Some(setup), Some(threads)) => {
            prop_oneof![24 => one, 2 => setup, 3 => threads].boxed()
        }
        (true, Some(setup), None) => prop_oneof![12 => one, 1 => setup].boxed(),
        _ => one.boxed(),
    };
    proptest::collection::vec(runs, len)
        .prop_map(|runs| runs.into_iter().flatten().collect())
        .boxed()
}

/// One step: [`op`], and with `Ops::WithLifecycle` the spec's lifecycle
/// operations about a fifth of the time.
pub fn step(spec: &Spec, ops: Ops) -> BoxedStrategy<Step> {
    let caps = op(spec).prop_map(Step::Op);
    match (ops.lifecycle(), lifecycle_op(spec, ops)) {
        (true, Some(lifecycle)) => prop_oneof![
            4 => caps,
            1 => lifecycle.prop_map(Step::Lifecycle),
        ]
        .boxed(),
        _ => caps.boxed(),
    }
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
                object_type: m.spec().object_number(r.object),
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
        Op::Mutate { source, dest, data } => m
            .mutate(&source.path(), &dest.path(), *data)
            .map(|_| Outcome::Done),
        Op::Delete(at) => m.delete(&at.path()).map(Outcome::Removed),
        Op::Revoke(at) => m.revoke(&at.path()).map(Outcome::Removed),
        Op::Call {
            interface,
            method,
            payment,
            allocations,
        } => {
            let donated = match payment {
                Payment::Untyped(at) => Donated::Untyped(at.path()),
                Payment::Quota(bytes) => Donated::Quota {
                    principal: "client".to_string(),
                    bytes: *bytes,
                },
            };
            let Some(allocations) = allocations
                .iter()
                .map(|(object, arg)| Some((m.spec().object_by_number(*object)?, *arg)))
                .collect::<Option<Vec<(ObjectId, u64)>>>()
            else {
                return Err(OpError::InvalidArgument { index: 0 });
            };
            let addresses = m
                .call(interface, method, &donated, &allocations)
                .expect("the strategy calls declared methods with declared allocations")?;
            let used = m.calls().last().expect("just called").used;
            Ok(Outcome::Called { addresses, used })
        }
    }
}

/// Runs a step on the interpreter.
pub fn run_step(m: &mut Machine<'_>, step: &Step) -> Result<Outcome, OpError> {
    match step {
        Step::Op(op) => run_interp(m, op),
        Step::Lifecycle(LifecycleOp::Configure { target, sources }) => {
            let sources: Vec<Option<Vec<u64>>> =
                sources.iter().map(|s| s.map(Path2::path)).collect();
            m.configure(&target.path(), &sources).map(Outcome::Removed)
        }
        Step::Lifecycle(LifecycleOp::Map { cap, space, page }) => {
            let space = space.map(Path2::path);
            m.map(&cap.path(), space.as_deref(), *page)
                .map(|()| Outcome::Done)
        }
        Step::Lifecycle(LifecycleOp::Unmap(at)) => m.unmap(&at.path()).map(|()| Outcome::Done),
        Step::Lifecycle(LifecycleOp::MakePool { untyped, dest }) => m
            .make_pool(&untyped.path(), &dest.path())
            .map(|_| Outcome::Done),
        Step::Lifecycle(LifecycleOp::Assign { pool, root }) => {
            m.assign(&pool.path(), &root.path()).map(|_| Outcome::Done)
        }
        Step::Lifecycle(LifecycleOp::Resume(at)) => m.resume(&at.path()).map(|()| Outcome::Done),
        Step::Lifecycle(LifecycleOp::Suspend(at)) => m.suspend(&at.path()).map(|()| Outcome::Done),
        Step::Lifecycle(LifecycleOp::Send { tcb, cap, call }) => m
            .send(&tcb.path(), &cap.path(), *call)
            .map(|()| Outcome::Done),
        Step::Lifecycle(LifecycleOp::Recv { tcb, cap }) => {
            m.recv(&tcb.path(), &cap.path()).map(|()| Outcome::Done)
        }
        Step::Lifecycle(LifecycleOp::Reply(at)) => m.reply(&at.path()).map(|()| Outcome::Done),
        Step::Lifecycle(LifecycleOp::SetBuffer { tcb, send, receive }) => {
            let buffer = interp::IpcBuffer {
                send: send.map(Path2::path),
                receive: receive.map(Path2::path),
            };
            m.set_ipc_buffer(&tcb.path(), buffer)
                .map(|()| Outcome::Done)
        }
    }
}

/// What random sequences of `spec` reach on the interpreter, as "kind
/// outcome" (`retype ok`, `copy RevokeFirst`, `call read allocated`,
/// `delete removed` ...) with counts: `sequences` sequences of
/// `ops_per_sequence` operations from a fixed seed, each run on a machine
/// from `boot`. `DIFF_TRACE=1` prints each operation. The differential
/// tests check with it that their strategies reach what they are meant to.
pub fn outcomes<'s>(
    spec: &'s Spec,
    boot: impl Fn() -> Machine<'s>,
    sequences: usize,
    ops_per_sequence: std::ops::RangeInclusive<usize>,
) -> BTreeMap<String, u64> {
    step_outcomes(spec, boot, sequences, ops_per_sequence, Ops::Caps)
}

/// [`outcomes`] of [`step`] sequences. Besides each step's outcome it
/// counts what the lifecycle reached: `finalise unmap` (a removal
/// unmapped a page), `finalise unlink` (a table's last cap unlinked it),
/// `finalise release_asid` (an address space's last cap released its
/// number), `finalise owned slots` (an object's last cap deleted the caps
/// in its slots), `reuse memory` (a retype placed an object where an
/// object made earlier in the sequence was).
pub fn step_outcomes<'s>(
    spec: &'s Spec,
    boot: impl Fn() -> Machine<'s>,
    sequences: usize,
    ops_per_sequence: std::ops::RangeInclusive<usize>,
    ops: Ops,
) -> BTreeMap<String, u64> {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for _ in 0..sequences {
        let steps = steps(spec, ops, ops_per_sequence.clone())
            .new_tree(&mut runner)
            .expect("a sequence")
            .current();
        let mut m = boot();
        let mut made: Vec<(u64, u64)> = Vec::new();
        let mut lost_rights = std::collections::BTreeSet::new();
        for step in &steps {
            let mut kind = format!("{step:?}")
                .split(' ')
                .next()
                .unwrap_or("")
                .to_string();
            if let Step::Op(Op::Call { method, .. }) = step {
                kind = format!("{kind} {method}");
            }
            let before = m.clone();
            let result = run_step(&mut m, step);
            if let Ok(Outcome::Retyped {
                object_type,
                size_bits,
                first,
                count,
                ..
            }) = result
                && m.spec()
                    .object_by_number(object_type)
                    .is_some_and(|o| !m.is_untyped_object(o))
            {
                let bytes = 1u64 << size_bits;
                let (start, end) = (first, first + count * bytes);
                if made.iter().any(|(b, e)| *b < end && start < *e) {
                    *seen.entry("reuse memory".into()).or_default() += 1;
                }
                made.push((start, end));
            }
            for path in finalised(&before, &m, step) {
                *seen.entry(format!("finalise {path}")).or_default() += 1;
            }
            for path in ipc_paths(&before, &m, step, &result, &mut lost_rights) {
                *seen.entry(format!("ipc {path}")).or_default() += 1;
            }
            let outcome = match result {
                Ok(Outcome::Removed(n)) if n > 0 => "removed".to_string(),
                Ok(Outcome::Called { addresses, .. }) if !addresses.is_empty() => {
                    "allocated".to_string()
                }
                Ok(_) => "ok".to_string(),
                Err(e) => format!("{e:?}")
                    .split([' ', '{'])
                    .next()
                    .unwrap_or("")
                    .to_string(),
            };
            if std::env::var("DIFF_TRACE").is_ok() {
                eprintln!("{step:?} => {outcome}");
            }
            *seen.entry(format!("{kind} {outcome}")).or_default() += 1;
        }
    }
    seen
}

/// The IPC paths a step took, from the machine before and after and its
/// result: `call answered` (a reply delivered), `stale reply refused` (a
/// reply by a thread whose right was taken away), `badged send cancelled`
/// (a queued sender restarted, its endpoint still live), `waiter restarted
/// by deletion` (its object gone), `thread stopped by deletion` (a thread
/// that had been resumed lost its TCB), `signal delivered`. `lost_rights`
/// keeps the threads whose right to reply was taken away.
fn ipc_paths(
    before: &Machine<'_>,
    after: &Machine<'_>,
    step: &Step,
    result: &Result<Outcome, OpError>,
    lost_rights: &mut std::collections::BTreeSet<u64>,
) -> Vec<&'static str> {
    use capc_interp::{IpcEvent, ThreadState};
    let mut out = Vec::new();
    let replier = match step {
        Step::Lifecycle(LifecycleOp::Reply(at)) => before
            .resolve(&at.path())
            .and_then(|s| before.node_at(s))
            .map(|n| n.cap.object)
            .filter(|t| before.threads().get(t).map(|t| t.state) == Some(ThreadState::Running)),
        _ => None,
    };
    match (replier, result) {
        (Some(_), Ok(_)) => out.push("call answered"),
        (Some(t), Err(_)) if lost_rights.contains(&t) => out.push("stale reply refused"),
        _ => {}
    }
    for (at, t) in before.threads() {
        let now = after.threads().get(at);
        if before.reply_cap(*at).is_some()
            && now.is_some()
            && after.reply_cap(*at).is_none()
            && replier != Some(*at)
        {
            lost_rights.insert(*at);
        }
        if now.is_none() && t.state != ThreadState::Inactive {
            out.push("thread stopped by deletion");
        }
    }
    for event in &after.ipc_events()[before.ipc_events().len()..] {
        match *event {
            IpcEvent::Restarted { thread } => {
                let waited = match before.threads().get(&thread).map(|t| t.state) {
                    Some(ThreadState::Sending { endpoint, .. }) => Some((endpoint, true)),
                    Some(
                        ThreadState::Receiving { endpoint: at, .. }
                        | ThreadState::Waiting { notification: at },
                    ) => Some((at, false)),
                    _ => None,
                };
                match waited {
                    Some((at, _)) if !after.ipc_objects().contains_key(&at) => {
                        out.push("waiter restarted by deletion")
                    }
                    Some((_, true)) => out.push("badged send cancelled"),
                    _ => {}
                }
            }
            IpcEvent::Signal { .. } => out.push("signal delivered"),
            IpcEvent::Message { caps: 1.., .. } => out.push("cap transferred"),
            IpcEvent::Message { .. } => {}
        }
    }
    out.sort();
    out.dedup();
    out
}

/// What random sequences with threads' steps must reach (with
/// `Ops::WithThreads`), as [`step_outcomes`] names it.
pub const THREAD_OUTCOMES: [&str; 15] = [
    "resume ok",
    "suspend ok",
    "send ok",
    "call ok",
    "recv ok",
    "reply ok",
    "reply IllegalOperation",
    "call IllegalOperation",
    "ipc call answered",
    "ipc stale reply refused",
    "ipc badged send cancelled",
    "ipc waiter restarted by deletion",
    "ipc thread stopped by deletion",
    "ipc signal delivered",
    "ipc cap transferred",
];

/// The finalisation paths a step took, from the machine before and after.
fn finalised(before: &Machine<'_>, after: &Machine<'_>, step: &Step) -> Vec<&'static str> {
    let mut out = Vec::new();
    if matches!(step, Step::Lifecycle(LifecycleOp::Unmap(_))) {
        return out;
    }
    let spec = before.spec();
    let shared = |t: ObjectId| {
        spec.caps
            .iter()
            .any(|c| c.object == Some(t) && c.mapping == Some(capc_dsl::model::Mapping::Shared))
    };
    let asids_gone = before
        .address_spaces()
        .keys()
        .any(|a| !after.address_spaces().contains_key(a));
    if asids_gone {
        out.push("release_asid");
    }
    if before
        .pools()
        .keys()
        .any(|p| !after.pools().contains_key(p))
    {
        out.push("release_pool");
    }
    let after_mappings = after.mappings();
    for (key, entry) in before.mappings() {
        if after_mappings.get(&key) == Some(&entry) || !after.address_spaces().contains_key(&key.0)
        {
            continue;
        }
        out.push(if shared(entry.object_type) {
            "unlink"
        } else {
            "unmap"
        });
    }
    let held_caps = before.occupied().any(|(s, _)| {
        matches!(s.cnode, interp::CNodeId::Object(a)
            if before.slot_owners().contains_key(&a) && !after.slot_owners().contains_key(&a))
    });
    if held_caps {
        out.push("owned slots");
    }
    out.sort();
    out.dedup();
    out
}

/// What random sequences with lifecycle operations must reach, for a
/// spec with owned slots, mappings of both kinds and address spaces.
pub const LIFECYCLE_OUTCOMES: [&str; 14] = [
    "configure ok",
    "configure removed",
    "configure FailedLookup",
    "configure IllegalOperation",
    "map ok",
    "map IllegalOperation",
    "map DeleteFirst",
    "map InvalidArgument",
    "unmap ok",
    "finalise unmap",
    "finalise unlink",
    "finalise owned slots",
    "finalise release_asid",
    "reuse memory",
];

/// What the lifecycle steps on a spec with translation tables must also
/// reach: a map refused for each reason a walk down the tables gives, and
/// for a cap mapped already.
pub const TABLE_OUTCOMES: [&str; 3] = [
    "map AlignmentError",
    "map FailedLookup",
    "map InvalidCapability",
];

/// What the lifecycle steps on a spec with pools of address-space numbers
/// (`asid_pool`) must also reach: pools made and refused, numbers given and
/// refused, and a pool's numbers released with its last cap.
pub const POOL_OUTCOMES: [&str; 5] = [
    "make_pool ok",
    "make_pool InvalidCapability",
    "assign ok",
    "assign InvalidCapability",
    "finalise release_pool",
];

/// What every spec's random sequences must reach (as [`outcomes`] names
/// it): each kind of operation succeeds sometimes, and retype fails with
/// each of its errors.
pub const CAP_OUTCOMES: [&str; 16] = [
    "retype ok",
    "retype IllegalOperation",
    "retype InvalidArgument",
    "retype RangeError",
    "retype NotEnoughMemory",
    "retype DeleteFirst",
    "retype FailedLookup",
    "copy ok",
    "copy RevokeFirst",
    "copy IllegalOperation",
    "mint ok",
    "mint IllegalOperation",
    "move ok",
    "mutate ok",
    "delete removed",
    "revoke removed",
];

/// Panics, naming it and showing `seen`, if an outcome of `wanted` was
/// never reached.
pub fn assert_reached<'a>(seen: &BTreeMap<String, u64>, wanted: impl IntoIterator<Item = &'a str>) {
    for want in wanted {
        assert!(seen.contains_key(want), "never reached: {want}; {seen:#?}");
    }
}

/// The calls the interpreter made, as the accounting sees them.
pub fn interp_calls(m: &Machine<'_>) -> Vec<CallRecord> {
    m.calls()
        .iter()
        .map(|c| CallRecord {
            method: c.method.clone(),
            donated: c.donated,
            used: c.used,
            ok: c.result.is_ok(),
        })
        .collect()
}

/// The words the generated layout gives `cap`: the model's rule
/// ([`CapType::words`](capc_dsl::model::CapType::words): the tag at
/// `tag_shift`, each field at its word and shift, pointers shifted by their
/// alignment) applied to the interpreter's field values.
pub fn pack(m: &Machine<'_>, cap: &interp::Cap) -> Vec<u64> {
    let spec = m.spec();
    spec.caps[cap.cap_type.index()].words(&spec.target, |f| m.field_value(cap, f))
}

/// Where the interpreter holds each node: its slot, or its server's call
/// and its position among that call's objects (node numbers grow).
fn places(m: &Machine<'_>) -> BTreeMap<NodeId, Place> {
    let mut made: BTreeMap<usize, usize> = BTreeMap::new();
    m.nodes()
        .map(|(id, node)| {
            let place = match node.holder {
                Holder::Slot(s) => Place::Slot(s),
                Holder::Server(call) => {
                    let index = made.entry(call).or_default();
                    *index += 1;
                    Place::Server {
                        call,
                        index: *index - 1,
                    }
                }
            };
            (id, place)
        })
        .collect()
}

pub fn interp_state(m: &Machine<'_>) -> State {
    let places = places(m);
    m.nodes()
        .map(|(id, node)| {
            let parent = node.parent.map(|p| places[&p]);
            (places[&id], (pack(m, &node.cap), parent))
        })
        .collect()
}

// ----- the invariants, over what each side reports -----

/// One live cap as the invariants see it.
pub struct Seen {
    pub place: Place,
    pub parent: Option<Place>,
    pub tag: u64,
    /// The region of the object it names; `None` for a cap that names
    /// none, for a derived cap (it names part of its source's object), and
    /// for a piece split off a cap that is still its ancestor.
    pub region: Option<(u64, u64)>,
    /// `(size, watermark)` for untyped memory.
    pub memory: Option<(u64, u64)>,
    pub rights: u64,
}

/// Checks the invariants; `revoked` is the slot just revoked, if any,
/// `boot` the boot Untyped regions and `calls` the calls made so far.
pub fn check_invariants(
    side: &str,
    seen: &[Seen],
    revoked: Option<Slot>,
    boot: &[(u64, u64)],
    calls: &[CallRecord],
) -> Result<(), String> {
    let by_slot: BTreeMap<Place, &Seen> = seen.iter().map(|s| (s.place, s)).collect();
    for a in seen {
        // Watermarks.
        if let Some((size, watermark)) = a.memory
            && watermark > size
        {
            return Err(format!(
                "{side}: watermark {watermark} > size {size} at {:?}",
                a.place
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
                a.place, a.rights, p.rights
            ));
        }
        // Memory from some principal's Untyped.
        if let Some((base, size)) = a.region
            && !boot.iter().any(|(b, s)| base >= *b && base + size <= b + s)
        {
            return Err(format!(
                "{side}: object {base:#x}+{size:#x} at {:?} lies in no boot Untyped",
                a.place
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
                    a.place, b.place
                ));
            }
        }
    }
    // After revoke, no descendant: nothing names the revoked cap as parent.
    if let Some(r) = revoked
        && seen.iter().any(|s| s.parent == Some(Place::Slot(r)))
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
    // A call's server never used more than its caller donated.
    for (i, c) in calls.iter().enumerate() {
        if c.used > c.donated {
            return Err(format!(
                "{side}: call {i} ({}) used {} of {} bytes donated",
                c.method, c.used, c.donated
            ));
        }
    }
    Ok(())
}

/// The accounting invariant: what the interpreter charges to principals,
/// per region given at boot (`Machine::grants`, whatever became of the
/// boot caps), adds up to the memory of the live objects `side` reports
/// (the union of their regions, untyped memory covering a whole grant
/// aside). Who pays for what is never lost.
pub fn check_accounting(side: &str, m: &Machine<'_>, seen: &[Seen]) -> Result<(), String> {
    let charged: u64 = m
        .grants()
        .keys()
        .map(|&(base, size)| m.in_use_of(base, size))
        .sum();
    let mut regions: Vec<(u64, u64)> = seen
        .iter()
        .filter(|s| !(s.memory.is_some() && s.region.is_some_and(|r| m.grants().contains_key(&r))))
        .filter_map(|s| s.region)
        .collect();
    regions.sort();
    let (mut live, mut end) = (0u64, 0u64);
    for (b, s) in regions {
        let e = b.saturating_add(s);
        if e > end {
            live += e - b.max(end);
            end = e;
        }
    }
    if charged != live {
        return Err(format!(
            "{side}: principals are charged {charged} bytes, live objects hold {live}"
        ));
    }
    Ok(())
}

/// What holds a reference to an object, besides a cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Referrer {
    /// A cap in a slot of an object (a CNode's, or one the object owns):
    /// the slot refers to the object that holds it.
    Slot(Place),
    /// An address space's entry at a page (of a table whose entries cover
    /// `1 << bits` bytes; 0 without tables): a mapped frame or a linked
    /// table.
    Mapping { asid: u64, page: u64, bits: u32 },
    /// A live address-space number: its root.
    AddressSpace(u64),
    /// A place of the kernel's directory of pools of address-space
    /// numbers: the pool there.
    Pool(u64),
    /// The thread whose TCB is at this address waits on an endpoint or a
    /// notification (queued to send, to receive, or for a signal).
    Waiter(u64),
    /// The queue of the endpoint or notification at this address holds a
    /// thread.
    Queue(u64),
    /// The thread at this address holds the right to reply to its caller.
    ReplyRight(u64),
    /// The thread at this address awaits a reply from the holder of the
    /// right to give it.
    ReplyFrom(u64),
}

/// A reference to the object of type `object_type` (its number, as retype
/// objects) at `address`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    pub from: Referrer,
    pub object_type: u64,
    pub address: u64,
}

/// The reference invariant: every reference leads to a live object of the
/// type it expects, one some live cap names (a cap of a type for that
/// object, at that address). With the overlap invariant of
/// [`check_invariants`] that means the memory was not handed out again:
/// no thread's slot, address space or table link can reach reused memory.
pub fn check_references(
    side: &str,
    spec: &Spec,
    seen: &[Seen],
    references: &[Reference],
) -> Result<(), String> {
    let live: std::collections::BTreeSet<(u64, u64)> = seen
        .iter()
        .filter_map(|s| {
            let t = &spec.caps[spec.cap_by_tag(s.tag)?.index()];
            Some((spec.object_number(t.object?), s.region?.0))
        })
        .collect();
    for r in references {
        if !live.contains(&(r.object_type, r.address)) {
            let name = spec
                .object_by_number(r.object_type)
                .map_or("?", |o| spec.objects[o.index()].name.as_str());
            return Err(format!(
                "{side}: {:?} refers to a {name} at {:#x} that no live cap names",
                r.from, r.address
            ));
        }
    }
    Ok(())
}

/// The interpreter's references: caps held in objects' slots, entries of
/// address spaces, live address-space numbers, and those of threads and
/// IPC objects ([`thread_references`]).
pub fn interp_references(m: &Machine<'_>) -> Vec<Reference> {
    let mut out = Vec::new();
    let places = places(m);
    let cnode = m.cnode_object().map(|o| m.spec().object_number(o));
    for (slot, id) in m.occupied().filter_map(|(s, _)| Some((s, m.id_at(s)?))) {
        if let interp::CNodeId::Object(address) = slot.cnode {
            let object_type = match m.slot_owners().get(&address) {
                Some(o) => m.spec().object_number(*o),
                None => cnode.unwrap_or(u64::MAX),
            };
            out.push(Reference {
                from: Referrer::Slot(places[&id]),
                object_type,
                address,
            });
        }
    }
    for ((asid, page, bits), entry) in m.mappings() {
        out.push(Reference {
            from: Referrer::Mapping { asid, page, bits },
            object_type: m.spec().object_number(entry.object_type),
            address: entry.object,
        });
    }
    if let Some(root) = m.address_space_object() {
        for (&asid, &address) in m.address_spaces() {
            out.push(Reference {
                from: Referrer::AddressSpace(asid),
                object_type: m.spec().object_number(root),
                address,
            });
        }
    }
    if let Some((pool, _)) = m.spec().asid_pool() {
        for (&place, &address) in m.pools() {
            out.push(Reference {
                from: Referrer::Pool(place),
                object_type: m.spec().object_number(pool),
                address,
            });
        }
    }
    out.extend(thread_references(m, &interp_threads(m)));
    out
}

/// The threads and IPC objects a side reports: every live thread (by the
/// address of its TCB) as the interpreter models it, and every live
/// endpoint's or notification's queue (first first) and the bits of the
/// signal pending, if one is (`None` for endpoints; `Some(0)` after a
/// signal of badge 0).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Threads {
    pub threads: BTreeMap<u64, interp::Thread>,
    pub queues: BTreeMap<u64, (Vec<u64>, Option<u64>)>,
    /// The reply caps in the threads' caller slots, by holder: the caller
    /// each names, and whether the reply may carry caps.
    pub replies: BTreeMap<u64, (u64, bool)>,
}

/// The interpreter's threads and IPC objects.
pub fn interp_threads(m: &Machine<'_>) -> Threads {
    Threads {
        threads: m.threads().clone(),
        replies: m
            .threads()
            .keys()
            .filter_map(|t| Some((*t, m.reply_cap(*t)?)))
            .collect(),
        queues: m
            .ipc_objects()
            .iter()
            .map(|(at, o)| {
                let pending = o.active.then_some(o.word);
                (*at, (o.queue.iter().copied().collect(), pending))
            })
            .collect(),
    }
}

/// The references threads and IPC objects hold, as `threads` reports them
/// (types from `m`'s spec): a waiting thread to the endpoint or
/// notification it waits on, a queue to each thread in it, a holder of a
/// right to reply to its caller, a caller to the holder of that right.
pub fn thread_references(m: &Machine<'_>, threads: &Threads) -> Vec<Reference> {
    use capc_interp::{IpcKind, ThreadState};
    let Some((tcb, ipc)) = thread_objects(m.spec()) else {
        return Vec::new();
    };
    let of_kind = |kind| {
        ipc.iter()
            .find(|o| m.ipc_kind(**o) == Some(kind))
            .map_or(u64::MAX, |o| m.spec().object_number(*o))
    };
    let (endpoint, notification) = (of_kind(IpcKind::Endpoint), of_kind(IpcKind::Notification));
    let tcb = m.spec().object_number(tcb);
    let mut out = Vec::new();
    for (&at, t) in &threads.threads {
        let waits = match t.state {
            ThreadState::Sending { endpoint: e, .. }
            | ThreadState::Receiving { endpoint: e, .. } => Some((endpoint, e)),
            ThreadState::Waiting { notification: n } => Some((notification, n)),
            _ => None,
        };
        if let Some((object_type, address)) = waits {
            out.push(Reference {
                from: Referrer::Waiter(at),
                object_type,
                address,
            });
        }
        if let Some(&(caller, _)) = threads.replies.get(&at) {
            out.push(Reference {
                from: Referrer::ReplyRight(at),
                object_type: tcb,
                address: caller,
            });
        }
        if let Some(holder) = t.reply_from {
            out.push(Reference {
                from: Referrer::ReplyFrom(at),
                object_type: tcb,
                address: holder,
            });
        }
    }
    for (&object, (queue, _)) in &threads.queues {
        for &thread in queue {
            out.push(Reference {
                from: Referrer::Queue(object),
                object_type: tcb,
                address: thread,
            });
        }
    }
    out
}

/// Live address spaces (number to root address) and what each maps
/// (`(number, page, entry bits)` to object address and type), as both
/// sides report them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Spaces {
    pub asids: BTreeMap<u64, u64>,
    pub entries: BTreeMap<interp::MapKey, (u64, u64)>,
}

/// The interpreter's address spaces.
pub fn interp_spaces(m: &Machine<'_>) -> Spaces {
    Spaces {
        asids: m.address_spaces().clone(),
        entries: m
            .mappings()
            .into_iter()
            .map(|(k, e)| (k, (e.object, m.spec().object_number(e.object_type))))
            .collect(),
    }
}

pub fn interp_seen(m: &Machine<'_>) -> Vec<Seen> {
    let places = places(m);
    m.nodes()
        .map(|(id, node)| Seen {
            place: places[&id],
            parent: node.parent.map(|p| places[&p]),
            tag: u64::from(m.spec().caps[node.cap.cap_type.index()].tag),
            // A derived cap names part of an object, not one of its own;
            // so does a piece split off a cap still above it.
            region: m.region(&node.cap).filter(|_| {
                m.spec().derive_rule(node.cap.cap_type).is_none() && !m.is_split_piece(id)
            }),
            memory: m
                .is_memory(&node.cap)
                .then(|| (m.region(&node.cap).unwrap().1, node.cap.watermark)),
            rights: node.cap.rights,
        })
        .collect()
}

/// A boot cap: slot index in the root CNode, cap type name, object address,
/// size argument, device, other fields.
pub type BootCap = (
    u64,
    &'static str,
    u64,
    u64,
    bool,
    &'static [(&'static str, u64)],
);

/// A machine with a root CNode of `ROOT_RADIX` and the boot caps `boot`,
/// owned by principal `boot`.
pub fn boot_machine<'s>(spec: &'s Spec, boot: &[BootCap]) -> Machine<'s> {
    let mut m = Machine::new(spec, ROOT_RADIX);
    for (index, cap_type, object, size_arg, device, other) in boot {
        let mut cap = m.blank_cap(spec.cap(cap_type).expect("boot cap type"));
        cap.object = *object;
        cap.size_arg = *size_arg;
        cap.device = *device;
        for (name, value) in *other {
            cap.other.insert((*name).to_string(), *value);
        }
        assert!(m.cap_fits(&cap), "{cap_type} fits");
        let slot = Slot {
            cnode: interp::CNodeId::Root,
            index: *index,
        };
        m.boot(slot, cap, "boot").expect("empty root slot");
    }
    m
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

// ----- regression case files -----

/// A regression case: a sequence of operations, for one spec, that once
/// made two sides differ (or shows a case worth keeping). Stored as text,
/// one operation per line in the form `Op`'s `Debug` prints (the form a
/// failing run prints), after a `spec NAME` line:
///
/// ```text
/// # Why this case exists.
/// spec kernel
/// retype root[0] type#3(0) x 1 into root[8..]
/// mint root[8] -> root[9] rights#0b1111 badge 5
/// ```
///
/// `#` at the start of a line or after a space starts a comment (`type#3`
/// is part of an operation). The differential tests replay every case file of
/// their specs from their boot caps; the boot caps are the test's, so a
/// case says only what was done.
///
/// A step may end in `=> OUTCOME`: what it must give, `ok` or the error as
/// `OpError`'s `Debug` prints it (`=> NotEnoughMemory { left: 4080 }`). The
/// seL4 conformance cases (`sel4-*.ops`) say so for every step, each rule
/// citing the seL4 function it follows; [`check_expectations`] checks them
/// on the interpreter, and the differential tests, replaying every case,
/// make the generated code and the kernel give the same.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// The spec's short name: `kernel` or `everything`.
    pub spec: String,
    /// Capability operations, and lifecycle ones (`configure`, `map`,
    /// `unmap`, as [`LifecycleOp`]'s `Debug` prints them).
    pub steps: Vec<Step>,
    /// For each step, the outcome it must give, if the case says.
    pub expect: Vec<Option<String>>,
}

/// Runs `case` on `m`, checking each step the case gives an outcome for:
/// `ok` for any success, otherwise the error's `Debug` text. The first
/// mismatch, naming the step.
pub fn check_expectations(m: &mut Machine<'_>, case: &Case) -> Result<(), String> {
    for (i, (step, want)) in case.steps.iter().zip(&case.expect).enumerate() {
        let got = match run_step(m, step) {
            Ok(_) => "ok".to_string(),
            Err(e) => format!("{e:?}"),
        };
        if let Some(want) = want
            && *want != got
        {
            return Err(format!("step {} `{step:?}`: want {want}, got {got}", i + 1));
        }
    }
    Ok(())
}

/// Every case file in `dir` for the spec called `spec` with an outcome for
/// at least one step, by file name.
pub fn expectation_cases(dir: &std::path::Path, spec: &str) -> Vec<(String, Case)> {
    case_files(dir)
        .into_iter()
        .filter(|(_, c)| c.spec == spec && c.expect.iter().any(Option::is_some))
        .collect()
}

/// The text of a case file for `ops` on the spec called `spec`.
pub fn case_text(spec: &str, ops: &[Op]) -> String {
    let steps: Vec<Step> = ops.iter().cloned().map(Step::Op).collect();
    steps_text(spec, &steps)
}

/// The text of a case file for `steps` on the spec called `spec`.
pub fn steps_text(spec: &str, steps: &[Step]) -> String {
    let mut out = format!("spec {spec}\n");
    for step in steps {
        out.push_str(&format!("{step:?}\n"));
    }
    out
}

/// Parses a case file; the error names the line.
pub fn parse_case(text: &str) -> Result<Case, String> {
    let mut spec = None;
    let mut steps = Vec::new();
    let mut expect = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = strip_comment(line).trim();
        if line.is_empty() {
            continue;
        }
        let (line, want) = match line.split_once("=>") {
            Some((step, want)) => (step.trim(), Some(want.trim().to_string())),
            None => (line, None),
        };
        let at = |e: String| format!("line {}: {e}: `{line}`", i + 1);
        if let Some(name) = line.strip_prefix("spec ") {
            if spec.is_some() {
                return Err(at("a second `spec` line".into()));
            }
            spec = Some(name.trim().to_string());
            continue;
        }
        if spec.is_none() {
            return Err(at("operations before the `spec` line".into()));
        }
        steps.push(line.parse::<Step>().map_err(at)?);
        expect.push(want);
    }
    let spec = spec.ok_or("no `spec NAME` line")?;
    Ok(Case {
        spec,
        steps,
        expect,
    })
}

/// Every case file (`*.ops`) in `dir` for the spec called `spec` made of
/// capability operations only, by file name, each with its name. Cases
/// with lifecycle steps are [`step_cases`].
pub fn cases(dir: &std::path::Path, spec: &str) -> Vec<(String, Vec<Op>)> {
    step_cases(dir, spec)
        .into_iter()
        .filter_map(|(name, steps)| {
            let ops: Option<Vec<Op>> = steps
                .into_iter()
                .map(|s| match s {
                    Step::Op(op) => Some(op),
                    Step::Lifecycle(_) => None,
                })
                .collect();
            Some((name, ops?))
        })
        .collect()
}

/// Every case file (`*.ops`) in `dir` for the spec called `spec` without
/// threads' steps, by file name, each with its name. Cases with threads'
/// steps too are [`thread_cases`].
pub fn step_cases(dir: &std::path::Path, spec: &str) -> Vec<(String, Vec<Step>)> {
    all_cases(dir, spec)
        .into_iter()
        .filter(|(_, steps)| !steps.iter().any(Step::is_thread_step))
        .collect()
}

/// Every case file (`*.ops`) in `dir` for the spec called `spec`, threads'
/// steps or not, by file name, each with its name.
pub fn thread_cases(dir: &std::path::Path, spec: &str) -> Vec<(String, Vec<Step>)> {
    all_cases(dir, spec)
}

fn all_cases(dir: &std::path::Path, spec: &str) -> Vec<(String, Vec<Step>)> {
    case_files(dir)
        .into_iter()
        .filter(|(_, c)| c.spec == spec)
        .map(|(name, c)| (name, c.steps))
        .collect()
}

/// Every case file (`*.ops`) in `dir`, parsed, by file name.
fn case_files(dir: &std::path::Path) -> Vec<(String, Case)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "ops"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let case = parse_case(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        out.push((name, case));
    }
    out
}

/// `line` without its comment: from a `#` that starts the line or follows
/// whitespace.
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    let start = (0..bytes.len())
        .find(|&i| bytes[i] == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()));
    start.map_or(line, |i| &line[..i])
}

fn number(s: &str) -> Result<u64, String> {
    let s = s.trim_end_matches(',');
    let parsed = match (s.strip_prefix("0b"), s.strip_prefix("0x")) {
        (Some(bits), _) => u64::from_str_radix(bits, 2),
        (_, Some(hex)) => u64::from_str_radix(hex, 16),
        _ => s.parse(),
    };
    parsed.map_err(|_| format!("`{s}` is not a number"))
}

/// `root`, `root[i]` or `root[i][j]`: the indices.
fn indices(s: &str) -> Result<Vec<u64>, String> {
    let mut rest = s
        .strip_prefix("root")
        .ok_or_else(|| format!("`{s}` is not a slot under `root`"))?;
    let mut out = Vec::new();
    while let Some(r) = rest.strip_prefix('[') {
        let end = r.find(']').ok_or_else(|| format!("`{s}` lacks a `]`"))?;
        out.push(number(&r[..end])?);
        rest = &r[end + 1..];
    }
    if !rest.is_empty() {
        return Err(format!("`{s}` has `{rest}` after its slot"));
    }
    Ok(out)
}

impl std::str::FromStr for Path2 {
    type Err = String;

    fn from_str(s: &str) -> Result<Path2, String> {
        match indices(s)?[..] {
            [index] => Ok(Path2 { via: None, index }),
            [via, index] => Ok(Path2 {
                via: Some(via),
                index,
            }),
            _ => Err(format!("`{s}` is not `root[i]` or `root[i][j]`")),
        }
    }
}

/// `type#T(A)`: the object type and size argument.
fn object(s: &str) -> Result<(u64, u64), String> {
    let s = s.trim_end_matches(',');
    let body = s
        .strip_prefix("type#")
        .and_then(|b| b.strip_suffix(')'))
        .ok_or_else(|| format!("`{s}` is not `type#T(ARG)`"))?;
    let (t, a) = body
        .split_once('(')
        .ok_or_else(|| format!("`{s}` is not `type#T(ARG)`"))?;
    Ok((number(t)?, number(a)?))
}

impl std::str::FromStr for Op {
    type Err = String;

    /// One line as `Debug` prints it.
    fn from_str(line: &str) -> Result<Op, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let rights = |w: &str| {
            w.strip_prefix("rights#")
                .ok_or_else(|| format!("`{w}` is not `rights#0b...`"))
                .and_then(number)
        };
        let op = match words[..] {
            ["retype", source, object_type, "x", count, "into", window] => {
                let (object_type, size_arg) = object(object_type)?;
                let window = window
                    .strip_suffix("..]")
                    .ok_or_else(|| format!("`{window}` is not `CNODE[A..]`"))?;
                let open = window.rfind('[').ok_or("no `[` in the window")?;
                let dest = match indices(&window[..open])?[..] {
                    [] => None,
                    [i] => Some(i),
                    _ => return Err(format!("`{window}` is not in a CNode the root names")),
                };
                Op::Retype {
                    source: source.parse()?,
                    object_type,
                    size_arg,
                    dest,
                    offset: number(&window[open + 1..])?,
                    count: number(count)?,
                }
            }
            ["copy", source, "->", dest, r] => Op::Copy {
                source: source.parse()?,
                dest: dest.parse()?,
                rights: rights(r)?,
            },
            ["mint", source, "->", dest, r, "badge", badge] => Op::Mint {
                source: source.parse()?,
                dest: dest.parse()?,
                rights: rights(r)?,
                badge: number(badge)?,
            },
            ["move", source, "->", dest] => Op::Move {
                source: source.parse()?,
                dest: dest.parse()?,
            },
            ["mutate", source, "->", dest, "data", data] => Op::Mutate {
                source: source.parse()?,
                dest: dest.parse()?,
                data: number(data)?,
            },
            ["delete", at] => Op::Delete(at.parse()?),
            ["revoke", at] => Op::Revoke(at.parse()?),
            ["call", name, ref rest @ ..] => {
                let (interface, method) = name
                    .split_once('.')
                    .ok_or_else(|| format!("`{name}` is not `Interface.method`"))?;
                let (payment, rest) = match rest {
                    ["donate", at, rest @ ..] => (Payment::Untyped(at.parse()?), rest),
                    ["quota", bytes, "by", "client", rest @ ..] => {
                        (Payment::Quota(number(bytes)?), rest)
                    }
                    _ => return Err("a call is `donate SLOT` or `quota N by client`".into()),
                };
                let allocations = match rest {
                    [] => Vec::new(),
                    ["allocate", objects @ ..] => objects
                        .iter()
                        .map(|o| object(o))
                        .collect::<Result<_, _>>()?,
                    _ => return Err("after the payment comes `allocate type#T(A), ...`".into()),
                };
                Op::Call {
                    interface: interface.to_string(),
                    method: method.to_string(),
                    payment,
                    allocations,
                }
            }
            _ => return Err("not an operation".into()),
        };
        Ok(op)
    }
}

impl std::str::FromStr for Step {
    type Err = String;

    /// One line as `Debug` prints it.
    fn from_str(line: &str) -> Result<Step, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let lifecycle = match words[..] {
            ["configure", target, "slots", ref sources @ ..] => LifecycleOp::Configure {
                target: target.parse()?,
                sources: sources
                    .iter()
                    .map(|s| match *s {
                        "-" => Ok(None),
                        s => s.parse().map(Some),
                    })
                    .collect::<Result<_, _>>()?,
            },
            ["map", cap, "page", page] => LifecycleOp::Map {
                cap: cap.parse()?,
                space: None,
                page: number(page)?,
            },
            ["map", cap, "page", page, "in", space] => LifecycleOp::Map {
                cap: cap.parse()?,
                space: Some(space.parse()?),
                page: number(page)?,
            },
            ["unmap", at] => LifecycleOp::Unmap(at.parse()?),
            ["make_pool", untyped, "into", dest] => LifecycleOp::MakePool {
                untyped: untyped.parse()?,
                dest: dest.parse()?,
            },
            ["assign", root, "from", pool] => LifecycleOp::Assign {
                pool: pool.parse()?,
                root: root.parse()?,
            },
            ["resume", at] => LifecycleOp::Resume(at.parse()?),
            ["suspend", at] => LifecycleOp::Suspend(at.parse()?),
            [verb @ ("send" | "call"), tcb, "on", cap] if tcb.starts_with("root") => {
                LifecycleOp::Send {
                    tcb: tcb.parse()?,
                    cap: cap.parse()?,
                    call: verb == "call",
                }
            }
            ["recv", tcb, "on", cap] => LifecycleOp::Recv {
                tcb: tcb.parse()?,
                cap: cap.parse()?,
            },
            ["reply", at] => LifecycleOp::Reply(at.parse()?),
            ["buffer", tcb, "send", send, "receive", receive] => {
                let path = |p: &str| match p {
                    "-" => Ok(None),
                    p => p.parse().map(Some),
                };
                LifecycleOp::SetBuffer {
                    tcb: tcb.parse()?,
                    send: path(send)?,
                    receive: path(receive)?,
                }
            }
            _ => return line.parse().map(Step::Op),
        };
        Ok(Step::Lifecycle(lifecycle))
    }
}
