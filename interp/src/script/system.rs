//! `system NAME`: a script that starts by booting one of the spec's
//! systems (docs/simulate.md, "Booting a system"). The boot plan
//! ([`BootPlan`]) gives each domain its budget Untypeds and each object its
//! place; the statement turns it into boot caps, retypes, copies, mints and
//! moves run on the machine, and binds names for what it made:
//!
//! - `OBJECT`: the boot plan's own cap to each object of the system, in the
//!   root CNode (the root task's CSpace);
//! - `DOMAIN.SLOT`: each named slot of a domain's CSpace, holding a copy (or
//!   a mint, with the badge) of that cap with the slot's rights;
//! - `DOMAIN.budgetN`: the domain's `N`-th budget Untyped, moved into its
//!   CSpace after its named slots, its own objects already made from it;
//! - `SYSTEM.shared`: the Untyped the shared objects are made from, which
//!   stays in the root CNode, given to a principal named after the system.
//!
//! ```text
//! system decompress_demo
//! call Decompressor.decompress donate client.budget0 allocate Frame(12)
//! ```

use std::collections::BTreeMap;

use super::{Cursor, PResult, Parser, Stmt, bytes};
use crate::{CNodeId, Cap, Machine, OpError};
use capc_dsl::ast::ObjectKind;
use capc_dsl::bootplan::BootPlan;
use capc_dsl::diag::{Code, Diagnostic, closest};
use capc_dsl::model::{CapId, ObjectId, Spec, System};
use capc_dsl::source::Span;

/// One step of booting a system, as the interpreter runs it.
#[derive(Clone, Debug)]
enum Step {
    /// A boot Untyped in a root CNode slot, given to `owner`.
    Untyped { slot: u64, cap: Cap, owner: String },
    /// An object from the Untyped in root slot `source` into root slot
    /// `dest`, which must land at `address`.
    Retype {
        source: u64,
        object: ObjectId,
        arg: u64,
        dest: u64,
        address: u64,
    },
    /// A named slot: a copy (a mint with a badge, a derived cap for another
    /// cap type) of the boot plan's cap.
    Slot {
        source: Vec<u64>,
        dest: Vec<u64>,
        cap: CapId,
        rights: u64,
        badge: Option<u64>,
    },
    /// A budget Untyped moved into its domain's CSpace.
    Move { source: Vec<u64>, dest: Vec<u64> },
}

/// A system to boot: its steps, in order, each with what it does in words
/// (shown when it fails).
#[derive(Clone, Debug)]
pub(super) struct Boot {
    steps: Vec<(Step, String)>,
    domains: usize,
    untypeds: usize,
    objects: usize,
}

/// What the script may name once a system is booted: its domains (with
/// the address of each one's CSpace CNode), its objects (type and
/// address) and the principals memory was given to.
#[derive(Clone, Debug, Default)]
pub(super) struct Booted {
    /// The system's index in the spec.
    pub(super) system: Option<usize>,
    /// Each domain's name and its CSpace CNode's address.
    pub(super) domains: BTreeMap<String, Option<u64>>,
    /// Each object's name, type and address.
    pub(super) objects: BTreeMap<String, (ObjectId, u64)>,
    /// Names for slots in the report: a path and what it is called.
    pub(super) shown: Vec<(Vec<u64>, String)>,
}

impl Parser<'_> {
    /// `system NAME` (the first statement, in place of `cnode root`).
    pub(super) fn system_statement(&mut self, c: &mut Cursor<'_>, keyword: Span) -> PResult<Stmt> {
        let example = "system decompress_demo";
        let (name, name_span) = c.ident("the name of a system of the spec", example)?;
        c.done(example)?;
        let spec = self.spec;
        let Some(index) = spec.systems.iter().position(|s| s.name == name) else {
            return Err(self.unknown(
                name_span,
                "system",
                &name,
                spec.systems.iter().map(|s| s.name.as_str()),
            ));
        };
        if let Some((_, first)) = self.names.get("root") {
            return Err(Box::new(
                Diagnostic::new(
                    Code::ScriptDuplicate,
                    keyword,
                    "the root CNode is declared twice",
                )
                .label("a system brings its own root CNode")
                .with_secondary(*first, "first declared here")
                .help("boot a system in place of `cnode root`, as the script's first statement"),
            ));
        }
        let system = &spec.systems[index];
        let span = keyword.to(name_span);
        let (boot, radix) = plan(spec, system, span)?;
        self.root = Some(radix);
        self.names.insert("root".into(), (Vec::new(), span));
        // Names, and the memory given, as `untyped` statements would.
        let booted = names(system, &boot.1);
        for (path, shown) in &booted.shown {
            self.bind(shown.clone(), span, path.clone())?;
        }
        for (step, _) in &boot.0.steps {
            if let Step::Untyped { cap, owner, .. } = step {
                let machine = Machine::new(spec, 1);
                let (base, size) = machine.region(cap).expect("memory has a region");
                self.give(super::BootRegion {
                    base,
                    bytes: size,
                    owner: owner.clone(),
                    span,
                })?;
            }
        }
        self.booted = booted;
        self.booted.system = Some(index);
        Ok(Stmt::System(Box::new(boot.0)))
    }

    /// A domain of the booted system, by name (`E0801` otherwise).
    pub(super) fn domain(&self, name: &str, span: Span) -> PResult<Option<u64>> {
        match self.booted.domains.get(name) {
            Some(cspace) => Ok(*cspace),
            None => {
                let d = Diagnostic::new(
                    Code::ScriptUnknownName,
                    span,
                    format!("no domain is called `{name}`"),
                )
                .label("not a domain of the booted system");
                Err(Box::new(
                    match closest(name, self.booted.domains.keys().map(String::as_str)) {
                        Some(s) => d.help(format!("did you mean `{s}`?")),
                        None if self.booted.system.is_none() => d.help(
                            "name domains after booting a system: begin the script with `system NAME`",
                        ),
                        None => d.help("name a domain the system declares"),
                    },
                ))
            }
        }
    }

    /// An object of the booted system, by name (`E0801` otherwise).
    pub(super) fn system_object(&self, name: &str, span: Span) -> PResult<(ObjectId, u64)> {
        match self.booted.objects.get(name) {
            Some(o) => Ok(*o),
            None => {
                let d = Diagnostic::new(
                    Code::ScriptUnknownName,
                    span,
                    format!("no object of the booted system is called `{name}`"),
                )
                .label("not an object of the system");
                Err(Box::new(
                    match closest(name, self.booted.objects.keys().map(String::as_str)) {
                        Some(s) => d.help(format!("did you mean `{s}`?")),
                        None => d.help("name an object the system declares, after `system NAME`"),
                    },
                ))
            }
        }
    }
}

/// The names a booted system binds (see the module's documentation).
fn names(system: &System, plan: &BootPlan) -> Booted {
    let first_object = plan.untypeds.len() as u64;
    let object_slot = |o: usize| {
        first_object
            + plan
                .objects
                .iter()
                .position(|p| p.object == o)
                .expect("every object is placed") as u64
    };
    let mut booted = Booted::default();
    for (o, object) in system.objects.iter().enumerate() {
        let address = plan.address(o).expect("placed");
        booted
            .objects
            .insert(object.name.clone(), (object.object, address));
        booted
            .shown
            .push((vec![object_slot(o)], object.name.clone()));
    }
    // The shared objects' Untyped stays the boot plan's, in the root CNode.
    if let Some(u) = plan.untypeds.iter().position(|u| u.domain.is_none()) {
        booted
            .shown
            .push((vec![u as u64], format!("{}.shared", system.name)));
    }
    for domain in &system.domains {
        let cspace = domain
            .cspace
            .map(|c| (object_slot(c), plan.address(c).expect("placed")));
        booted
            .domains
            .insert(domain.name.clone(), cspace.map(|c| c.1));
        let Some((cspace, _)) = cspace else { continue };
        for (i, slot) in domain.slots.iter().enumerate() {
            booted.shown.push((
                vec![cspace, i as u64],
                format!("{}.{}", domain.name, slot.name),
            ));
        }
        for j in 0..domain.budget.len() {
            booted.shown.push((
                vec![cspace, BootPlan::budget_slot(domain, j)],
                format!("{}.budget{j}", domain.name),
            ));
        }
    }
    booted
}

/// The boot steps of `system`, its plan and the root CNode's radix, or
/// `E0932` when the interpreter cannot boot it.
fn plan(spec: &Spec, system: &System, span: Span) -> PResult<((Boot, BootPlan), u32)> {
    let cannot = |message: String, help: &str| {
        Box::new(
            Diagnostic::new(Code::SystemNotBootable, span, message)
                .label("cannot be booted here")
                .help(help.to_string()),
        )
    };
    let machine = Machine::new(spec, 1);
    // The first cap type for untyped RAM, as `untyped` uses.
    let untyped_cap = spec.caps.iter().position(|t| {
        t.object.is_some_and(|o| {
            let o = &spec.objects[o.index()];
            o.kind == ObjectKind::Untyped && o.ram
        })
    });
    let Some(untyped_cap) = untyped_cap else {
        return Err(cannot(
            "the spec has no untyped memory in RAM to boot from".into(),
            "declare an `untyped` object with a cap type in the spec",
        ));
    };
    let untyped_object = spec.caps[untyped_cap].object.expect("names an object");
    let min_bits = spec.objects[untyped_object.index()].size.min_bits();
    let Some(plan) = BootPlan::of(system, min_bits) else {
        return Err(cannot(
            format!(
                "the boot plan of `{}` cannot be laid out: its domains' objects do not fit their budgets, or its memory passes 2^64 bytes",
                system.name
            ),
            "give the domains budgets that hold their objects, and the system less memory",
        ));
    };
    let cnode = machine.cnode_object();
    for domain in &system.domains {
        let Some(c) = domain.cspace else {
            if domain.slots.is_empty() && domain.budget.is_empty() {
                continue;
            }
            return Err(Box::new(
                cannot(
                    format!(
                        "domain `{}` has no CSpace for its slots and budget",
                        domain.name
                    ),
                    "give the domain `cspace = OBJECT;`, a CNode it owns",
                )
                .with_secondary(domain.span, "the domain is declared here"),
            ));
        };
        let object = &system.objects[c];
        let holds = domain.slots.len() + domain.budget.len();
        if cnode != Some(object.object) {
            return Err(cannot(
                format!(
                    "`{}`, the CSpace of `{}`, is no CNode",
                    object.name, domain.name
                ),
                "make the domain's `cspace` a CNode object",
            ));
        }
        if (holds as u64) > 1u64.checked_shl(object.arg as u32).unwrap_or(u64::MAX) {
            return Err(cannot(
                format!(
                    "`{}`, the CSpace of `{}`, has {} slots for its {} named slots and {} budget Untypeds",
                    object.name,
                    domain.name,
                    1u64 << object.arg.min(63),
                    domain.slots.len(),
                    domain.budget.len()
                ),
                "give the domain a larger CNode as its CSpace",
            ));
        }
    }
    let root_slots = (plan.untypeds.len() + plan.objects.len()) as u64;
    let radix = root_slots.max(2).next_power_of_two().trailing_zeros();
    if radix > 16 {
        return Err(cannot(
            format!("the boot plan needs {root_slots} root CNode slots, more than 65536"),
            "boot a smaller system",
        ));
    }
    let owner = |u: &capc_dsl::bootplan::BootUntyped| match u.domain {
        Some(d) => system.domains[d].name.clone(),
        None => system.name.clone(),
    };
    let mut steps = Vec::new();
    for (i, u) in plan.untypeds.iter().enumerate() {
        let mut cap = machine.blank_cap(CapId(untyped_cap as u32));
        cap.object = u.base;
        cap.size_arg = u64::from(u.size_bits);
        if !machine.cap_fits(&cap) || machine.region(&cap).is_none() {
            return Err(cannot(
                format!(
                    "`{}` cannot hold an Untyped of {} at {:#x}",
                    spec.caps[untyped_cap].name,
                    bytes(1u64 << u.size_bits),
                    u.base
                ),
                "give the domains budgets the spec's untyped memory allows",
            ));
        }
        let whose = owner(u);
        let what = match u.domain {
            Some(_) => format!("`{whose}`'s budget Untyped {}", u.index),
            None => "the shared objects' Untyped".to_string(),
        };
        steps.push((
            Step::Untyped {
                slot: i as u64,
                cap,
                owner: whose,
            },
            format!(
                "give {what} ({} at {:#x})",
                bytes(1u64 << u.size_bits),
                u.base
            ),
        ));
    }
    let first_object = plan.untypeds.len() as u64;
    for (k, p) in plan.objects.iter().enumerate() {
        let o = &system.objects[p.object];
        steps.push((
            Step::Retype {
                source: p.untyped as u64,
                object: o.object,
                arg: o.arg,
                dest: first_object + k as u64,
                address: plan.untypeds[p.untyped].base + p.offset,
            },
            format!("make `{}`", o.name),
        ));
    }
    let object_slot = |o: usize| {
        first_object
            + plan
                .objects
                .iter()
                .position(|p| p.object == o)
                .expect("placed") as u64
    };
    for (d, domain) in system.domains.iter().enumerate() {
        let Some(c) = domain.cspace else { continue };
        let cspace = object_slot(c);
        for (i, slot) in domain.slots.iter().enumerate() {
            let rights = slot
                .rights
                .iter()
                .fold(0u64, |m, r| m | capc_dsl::authority::bit(*r));
            steps.push((
                Step::Slot {
                    source: vec![object_slot(slot.object)],
                    dest: vec![cspace, i as u64],
                    cap: slot.cap,
                    rights,
                    badge: slot.badge,
                },
                format!(
                    "put `{}` in `{}.{}`",
                    system.objects[slot.object].name, domain.name, slot.name
                ),
            ));
        }
        for (j, u) in plan.untypeds.iter().enumerate() {
            if u.domain == Some(d) {
                steps.push((
                    Step::Move {
                        source: vec![j as u64],
                        dest: vec![cspace, BootPlan::budget_slot(domain, u.index)],
                    },
                    format!(
                        "move budget Untyped {} into `{}.budget{}`",
                        u.index, domain.name, u.index
                    ),
                ));
            }
        }
    }
    let boot = Boot {
        steps,
        domains: system.domains.len(),
        untypeds: plan.untypeds.len(),
        objects: plan.objects.len(),
    };
    Ok(((boot, plan), radix))
}

/// Runs the boot steps; what was made, or the first step refused with
/// what it was.
pub(super) fn boot(m: &mut Machine<'_>, boot: &Boot) -> Result<String, (OpError, String)> {
    for (step, what) in &boot.steps {
        let result = match step {
            Step::Untyped { slot, cap, owner } => match m.resolve(&[*slot]) {
                Some(at) => m.boot(at, cap.clone(), owner).map(|_| ()),
                None => Err(OpError::FailedLookup { source: 0 }),
            },
            Step::Retype {
                source,
                object,
                arg,
                dest,
                address,
            } => {
                let number = m.spec().retype_number(*object, *arg);
                m.retype(&[*source], number, *arg, &[], *dest, 1)
                    .and_then(|r| {
                        // The plan's offsets are the retype's: largest first.
                        if r.first == *address {
                            Ok(())
                        } else {
                            Err(OpError::AlignmentError)
                        }
                    })
            }
            Step::Slot {
                source,
                dest,
                cap,
                rights,
                badge,
            } => {
                let made = m
                    .resolve(source)
                    .and_then(|s| m.node_at(s))
                    .map(|n| n.cap.cap_type);
                if made == Some(*cap) {
                    m.derive(source, dest, *rights, *badge)
                        .map(|_| ())
                        .map_err(|r| r.error)
                } else {
                    m.derive_cap(source, *cap, dest).map(|_| ())
                }
            }
            Step::Move { source, dest } => m.move_cap(source, dest),
        };
        if let Err(e) = result {
            return Err((e, what.clone()));
        }
    }
    Ok(format!(
        "{} domain(s), {} Untyped, {} object(s)",
        boot.domains, boot.untypeds, boot.objects
    ))
}

/// Root-relative paths as the report names them: the booted system's names
/// for its slots, by the slot each path resolves to now.
pub(super) fn slot_names(m: &Machine<'_>, booted: &Booted) -> BTreeMap<crate::Slot, String> {
    booted
        .shown
        .iter()
        .filter_map(|(path, name)| m.resolve(path).map(|s| (s, name.clone())))
        .collect()
}

/// Whether the domain whose CSpace CNode is at `cspace` holds, in one of
/// its CSpace's slots, a cap to the object of type `object` at `address`
/// with every right in `rights` (a cap type without rights carries all).
pub(super) fn holds(
    m: &Machine<'_>,
    cspace: u64,
    object: ObjectId,
    address: u64,
    rights: u64,
) -> bool {
    let cnode = CNodeId::Object(cspace);
    m.cnode_slots(cnode).is_some()
        && m.occupied().any(|(slot, node)| {
            let t = &m.spec().caps[node.cap.cap_type.index()];
            slot.cnode == cnode
                && m.object_of(&node.cap) == Some(object)
                && node.cap.object == address
                && (t.rights.is_empty() || node.cap.rights & rights == rights)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example system, checked.
    fn example() -> Spec {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/systems/decompress.cap");
        capc_dsl::compile(&root, &capc_dsl::FsLoader)
            .expect("readable")
            .spec
            .expect("decompress.cap checks clean")
    }

    /// `E0932` for what `capc check` refuses before a script can boot it
    /// (no script reaches these: E0912 and E0913 come first): a domain
    /// without a CSpace, and a CSpace too small for its slots and budget.
    #[test]
    fn a_system_the_interpreter_cannot_boot_is_e0932() {
        let spec = example();
        let span = Span::default();
        assert!(plan(&spec, &spec.systems[0], span).is_ok());

        let mut no_cspace = spec.systems[0].clone();
        no_cspace.domains[0].cspace = None;
        let Err(e) = plan(&spec, &no_cspace, span) else {
            panic!("a domain without a CSpace is refused")
        };
        assert_eq!(e.code, Code::SystemNotBootable);
        assert!(e.message.contains("has no CSpace"), "{}", e.message);

        let mut small = spec.systems[0].clone();
        let c = small.domains[0].cspace.expect("a CSpace");
        small.objects[c].arg = 0;
        let Err(e) = plan(&spec, &small, span) else {
            panic!("a CSpace too small is refused")
        };
        assert_eq!(e.code, Code::SystemNotBootable);
        assert!(e.message.contains("slots for its"), "{}", e.message);
    }
}
