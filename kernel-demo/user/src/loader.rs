//! The generic loader: boots a system from the boot plan `capc` generates
//! from its description (kernel-demo/spec/client_pays.cap), in the style of
//! capDL's loader. It walks the plan's steps in order and hands each to a
//! [`Machine`]: the root task's makes each one kernel invocation through
//! the generated stubs; a test's simulates the kernel on the host
//! (codegen/generated-tests/tests/boot_plan.rs). Only this walk is here:
//! it touches no hardware and uses nothing but the plan, so the same code
//! runs in both.
//!
//! The walk adds the loader's first free slot (`base`) to every slot of the
//! plan, and before each retype checks that the Untyped's watermark is
//! where the checker placed the object: the kernel puts an object at the
//! watermark, so the object lands where `capc check` proved it fits.

use crate::system::ObjectType;
use crate::system::boot::{Domain, Plan, Step, Untyped};

/// What the loader needs of a kernel. Every slot is the loader's own
/// (already offset by `base`) unless named `index`, a slot of a domain's
/// CSpace.
pub trait Machine {
    /// Why an invocation failed.
    type Error;

    /// Retypes one `object` with size argument `arg` from `from` (`None`:
    /// the pool) into slot `to`.
    fn retype(
        &mut self,
        from: Option<u64>,
        object: ObjectType,
        arg: u64,
        to: u64,
    ) -> Result<(), Self::Error>;

    /// The watermark of the Untyped `from` (`None`: the pool) in bytes, if
    /// the machine can tell.
    fn watermark(&mut self, from: Option<u64>) -> Option<u64>;

    /// Mints the cap in `from` into `at`: slot `index` of the CNode in
    /// `cnode` of `1 << radix` slots, as `(cnode, radix, index)`, with
    /// `rights` (bits) and `badge` (a CNode cap's guard bits).
    fn mint(
        &mut self,
        at: (u64, u32, u64),
        from: u64,
        rights: u64,
        badge: u64,
    ) -> Result<(), Self::Error>;

    /// Mints the CNode cap in `from` into the loader's slot `to` with
    /// `guard_bits` of guard.
    fn guard(&mut self, from: u64, to: u64, guard_bits: u32) -> Result<(), Self::Error>;

    /// Loads `domain`'s program into a new address space paid from the
    /// Untyped in `budget`, and puts the address space's root into slot
    /// `domain.vspace` of its CNode (in `cnode`).
    fn load(
        &mut self,
        which: usize,
        domain: &Domain,
        budget: u64,
        cnode: u64,
    ) -> Result<(), Self::Error>;

    /// Moves the cap in `from` into `at`, `(cnode, radix, index)` as for
    /// [`Machine::mint`].
    fn move_cap(&mut self, at: (u64, u32, u64), from: u64) -> Result<(), Self::Error>;

    /// Configures the thread in `tcb` to run `domain` (its CSpace root the
    /// guarded cap in `cspace_root`, the address space `load` made, the
    /// domain's priority) and starts it.
    fn start(
        &mut self,
        which: usize,
        domain: &Domain,
        tcb: u64,
        cspace_root: u64,
    ) -> Result<(), Self::Error>;
}

/// Why a plan could not be booted, and at which step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootError<E> {
    /// Index of the step in the plan.
    pub step: usize,
    /// What went wrong.
    pub kind: BootErrorKind<E>,
}

/// What went wrong in a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootErrorKind<E> {
    /// The machine refused the step.
    Machine(E),
    /// The Untyped's watermark is not where the checker placed the
    /// object: something else was retyped from it first.
    Misplaced {
        /// The offset the plan says.
        expected: u64,
        /// The watermark found.
        found: u64,
    },
    /// The domain has no TCB among its objects: nothing to run its program.
    NoThread,
    /// The domain has interrupts or device memory, which this loader does
    /// not hand out.
    Hardware,
    /// A step names a domain the plan does not have.
    NoDomain,
}

/// Boots `plan` on `machine`: the plan's slots are the loader's from
/// `base` on (`plan.slots` of them). Stops at the first step that fails.
pub fn boot<M: Machine>(
    plan: &Plan,
    base: u64,
    machine: &mut M,
) -> Result<(), BootError<M::Error>> {
    for (n, step) in plan.steps.iter().enumerate() {
        let fail = |kind| BootError { step: n, kind };
        let domain = |d: usize| plan.domains.get(d).ok_or(fail(BootErrorKind::NoDomain));
        match *step {
            Step::Retype {
                from,
                object,
                arg,
                to,
                offset,
            } => {
                let from = match from {
                    Untyped::Pool => None,
                    Untyped::Slot(slot) => Some(base + slot),
                };
                if let Some(found) = machine.watermark(from)
                    && found != offset
                {
                    return Err(fail(BootErrorKind::Misplaced {
                        expected: offset,
                        found,
                    }));
                }
                machine
                    .retype(from, object, arg, base + to)
                    .map_err(|e| fail(BootErrorKind::Machine(e)))?;
            }
            Step::Mint {
                cnode,
                radix,
                index,
                from,
                rights,
                badge,
            } => machine
                .mint(
                    (base + cnode, radix, index),
                    base + from,
                    rights.bits(),
                    badge,
                )
                .map_err(|e| fail(BootErrorKind::Machine(e)))?,
            Step::Guard {
                from,
                to,
                guard_bits,
            } => machine
                .guard(base + from, base + to, guard_bits)
                .map_err(|e| fail(BootErrorKind::Machine(e)))?,
            Step::Load { domain: d } => {
                let dom = domain(d)?;
                if !dom.irqs.is_empty() || !dom.devices.is_empty() {
                    return Err(fail(BootErrorKind::Hardware));
                }
                let budget = dom.budget.first().ok_or(fail(BootErrorKind::NoDomain))?;
                machine
                    .load(d, dom, base + budget, base + dom.cnode)
                    .map_err(|e| fail(BootErrorKind::Machine(e)))?;
            }
            Step::Move {
                cnode,
                radix,
                index,
                from,
            } => machine
                .move_cap((base + cnode, radix, index), base + from)
                .map_err(|e| fail(BootErrorKind::Machine(e)))?,
            Step::Start { domain: d } => {
                let dom = domain(d)?;
                let tcb = dom
                    .objects
                    .iter()
                    .find(|o| o.object == ObjectType::Tcb)
                    .ok_or(fail(BootErrorKind::NoThread))?;
                machine
                    .start(d, dom, base + tcb.slot, base + dom.cspace_root)
                    .map_err(|e| fail(BootErrorKind::Machine(e)))?;
            }
        }
    }
    Ok(())
}
