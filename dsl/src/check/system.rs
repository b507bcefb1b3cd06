//! Systems (`system name { ... }`): names resolve, objects fit their
//! domains' budgets and the boot plan the machine's memory, every served
//! method is paid by its client, every client can pay for the calls it may
//! have in flight, hardware is given once, and `deny` assertions hold under
//! the authority closure ([`crate::authority`]).

use std::collections::BTreeMap;

use super::{Ctx, TypeSym};
use crate::ast::{self, Ident};
use crate::authority::Authority;
use crate::bootplan::{Placed, donation_bytes, pack, place};
use crate::diag::{Code, Diagnostic};
use crate::model::{self, CapId, ObjectId, Role};
use crate::source::Span;
use crate::units::sum as format_bytes;

/// The boot plan's placement of a domain's own objects: in the Untyped the
/// check's packing of `packed` (its objects first, then what it sets aside
/// for its calls) chose for each, but from that Untyped's start, largest
/// first, so the objects are the first retypes of the Untyped and what is
/// left after them is the domain's.
fn objects_first(own: &[(u64, &str)], packed: &[Placed]) -> Vec<(usize, u64)> {
    let mut order: Vec<usize> = (0..own.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(own[i].0));
    let mut next: BTreeMap<usize, u64> = BTreeMap::new();
    let mut placed = vec![(0, 0); own.len()];
    for i in order {
        let bin = packed[i].bin;
        let at = next.entry(bin).or_insert(0);
        placed[i] = (bin, *at);
        *at += own[i].0;
    }
    placed
}

/// The generated module's name for a slot or object: SCREAMING_SNAKE_CASE.
fn const_name(name: &str) -> String {
    crate::check::snake_case(name).to_ascii_uppercase()
}

/// The largest stack a domain may ask for: 1 MiB.
const MAX_STACK: u64 = 1 << 20;

/// Names a domain's generated module defines besides its slots.
const DOMAIN_CONSTS: &[&str] = &["DOMAIN", "RADIX", "BUDGET", "VSPACE", "FIRST_FREE"];

/// Names a system's generated module defines besides its domains.
const SYSTEM_ITEMS: &[&str] = &["objects", "PLAN"];

impl Ctx<'_> {
    /// Checks every `system` item against the checked spec.
    pub(super) fn check_systems(
        &mut self,
        systems: &[(&ast::Item, &ast::SystemItem)],
        objects: &[Option<model::Object>],
        caps: &[Option<model::CapType>],
        rights: &[model::Right],
        interfaces: &[model::MethodSet],
        slot_bits: Option<u32>,
    ) -> Vec<model::System> {
        // `E0914`: each system is a module of the generated `boot` module.
        let mut modules: BTreeMap<String, &str> = BTreeMap::new();
        for (_, s) in systems {
            let module = crate::check::snake_case(&s.name.name);
            match modules.get(&module) {
                Some(other) if *other != s.name.name => self.diags.push(
                    Diagnostic::new(
                        Code::PlanNameClash,
                        s.name.span,
                        format!(
                            "`{}` is `{module}` in the generated boot plan, as system `{other}` is",
                            s.name.name
                        ),
                    )
                    .label("clashes in the generated code")
                    .help("rename it"),
                ),
                _ => {
                    modules.insert(module, &s.name.name);
                }
            }
        }
        systems
            .iter()
            .filter_map(|(item, s)| {
                self.check_system(item, s, objects, caps, rights, interfaces, slot_bits)
            })
            .collect()
    }

    /// One setting given once: the first, or `E0900` when missing or repeated.
    fn one<'t, T>(&mut self, what: &str, whose: &Ident, given: &'t [(T, Span)]) -> Option<&'t T> {
        let first = self.at_most_one(what, whose, given);
        if given.is_empty() {
            self.diags.push(
                Diagnostic::new(
                    Code::SystemSetting,
                    whose.span,
                    format!("`{}` does not give `{what}`", whose.name),
                )
                .label(format!("no `{what} = ...;` here"))
                .help(format!("add `{what} = ...;` to its block")),
            );
        }
        first
    }

    /// The setting `what` of `whose`, which may be left out: `E0900` when
    /// it is given twice.
    fn at_most_one<'t, T>(
        &mut self,
        what: &str,
        whose: &Ident,
        given: &'t [(T, Span)],
    ) -> Option<&'t T> {
        if let Some((_, again)) = given.get(1) {
            self.diags.push(
                Diagnostic::new(
                    Code::SystemSetting,
                    *again,
                    format!("`{}` gives `{what}` twice", whose.name),
                )
                .label("given again here")
                .with_secondary(given[0].1, "first given here")
                .help("give each setting once"),
            );
        }
        given.first().map(|(v, _)| v)
    }

    fn system_object(
        &mut self,
        o: &ast::SystemObject,
        objects: &[Option<model::Object>],
        owner: Option<usize>,
    ) -> Option<model::SystemObject> {
        let id = self.resolve(&o.ty, "an object type", |s| match s {
            TypeSym::Object(i) => Some(i),
            _ => None,
        })?;
        let object = objects.get(id)?.as_ref()?;
        if self.reject_byte_object(object, o.ty.span, "an object of a system") {
            return None;
        }
        let arg = match (&o.arg, &object.size.param) {
            (Some(e), Some(_)) => self.eval_reported(e, None)?,
            (None, None) => 0,
            (None, Some(p)) => {
                self.diags.push(
                    Diagnostic::new(
                        Code::SystemObjectSize,
                        o.ty.span,
                        format!("`{}` is sized by `{p}`: give its size argument", o.ty.name),
                    )
                    .label("no size argument")
                    .help(format!(
                        "write `{}({})`, with `{p}` in {}..={}",
                        o.ty.name,
                        object.size.min_arg(),
                        object.size.min_arg(),
                        object.size.max_arg()
                    )),
                );
                return None;
            }
            (Some(e), None) => {
                self.diags.push(
                    Diagnostic::new(
                        Code::SystemObjectSize,
                        e.span,
                        format!("`{}` has one size: it takes no size argument", o.ty.name),
                    )
                    .label("not a sized type")
                    .help(format!("write `{}` alone", o.ty.name)),
                );
                return None;
            }
        };
        let Some(size_bits) = object.size.size_bits(arg) else {
            let span = o.arg.as_ref().map_or(o.span, |e| e.span);
            self.diags.push(
                Diagnostic::new(
                    Code::SystemObjectSize,
                    span,
                    format!("`{}` cannot have size argument {arg}", o.ty.name),
                )
                .label("not an allowed size")
                .with_secondary(object.span, "its sizes are declared here")
                .help(format!(
                    "use a size argument in {}..={}",
                    object.size.min_arg(),
                    object.size.max_arg()
                )),
            );
            return None;
        };
        Some(model::SystemObject {
            name: o.name.name.clone(),
            object: ObjectId(id as u32),
            arg,
            size_bits,
            owner,
            placement: model::Placement::default(),
            span: o.span,
        })
    }

    fn value_error(&mut self, span: Span, message: String, help: &str) {
        self.diags.push(
            Diagnostic::new(Code::SystemValue, span, message)
                .label("out of range")
                .help(help.to_string()),
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn check_system(
        &mut self,
        item: &ast::Item,
        s: &ast::SystemItem,
        objects: &[Option<model::Object>],
        caps: &[Option<model::CapType>],
        rights: &[model::Right],
        interfaces: &[model::MethodSet],
        slot_bits: Option<u32>,
    ) -> Option<model::System> {
        let errors_before = self.diags.iter().filter(|d| d.is_error()).count();
        let memory = self
            .one("memory", &s.name, &s.memory)
            .and_then(|e| self.eval_reported(e, None));

        // Objects: shared ones, then each domain's own; one namespace.
        let mut sys_objects: Vec<model::SystemObject> = Vec::new();
        let mut object_index: BTreeMap<String, (usize, Span)> = BTreeMap::new();
        let mut domain_index: BTreeMap<String, (usize, Span)> = BTreeMap::new();
        let mut failed_objects: Vec<String> = Vec::new();
        let owned = s.objects.iter().map(|o| (o, None)).chain(
            s.domains
                .iter()
                .enumerate()
                .flat_map(|(d, dom)| dom.objects.iter().map(move |o| (o, Some(d)))),
        );
        for (o, owner) in owned.collect::<Vec<_>>() {
            if let Some((_, first)) = object_index.get(&o.name.name) {
                let first = *first;
                self.duplicate(&o.name, first, "object");
                continue;
            }
            match self.system_object(o, objects, owner) {
                Some(m) => {
                    object_index.insert(o.name.name.clone(), (sys_objects.len(), o.name.span));
                    sys_objects.push(m);
                }
                None => failed_objects.push(o.name.name.clone()),
            }
        }
        for (d, dom) in s.domains.iter().enumerate() {
            if let Some((_, first)) = domain_index.get(&dom.name.name) {
                let first = *first;
                self.duplicate(&dom.name, first, "domain");
            } else {
                domain_index.insert(dom.name.name.clone(), (d, dom.name.span));
            }
        }
        let object_names: Vec<String> = object_index.keys().cloned().collect();
        let find_object = |ctx: &mut Self, ident: &Ident| -> Option<usize> {
            match object_index.get(&ident.name) {
                Some((i, _)) => Some(*i),
                None if failed_objects.contains(&ident.name) => None,
                None => {
                    ctx.unknown(ident, "object", object_names.iter().map(String::as_str));
                    None
                }
            }
        };

        let mut domains = Vec::new();
        for dom in &s.domains {
            let program = self.one("program", &dom.name, &dom.program).cloned();
            let budget_exprs = self.one("budget", &dom.name, &dom.budget).cloned();
            let priority = self
                .one("priority", &dom.name, &dom.priority)
                .and_then(|e| self.eval_reported(e, None));
            let stack_expr = self.at_most_one("stack", &dom.name, &dom.stack).cloned();
            let trusted = self
                .at_most_one("trusted", &dom.name, &dom.trusted)
                .is_some();
            let stack_value = stack_expr
                .as_ref()
                .and_then(|e| self.eval_reported(e, None));
            if let Some(again) = dom.cspace.get(1) {
                self.diags.push(
                    Diagnostic::new(
                        Code::SystemSetting,
                        again.span,
                        format!("`{}` gives `cspace` twice", dom.name.name),
                    )
                    .label("given again here")
                    .with_secondary(dom.cspace[0].span, "first given here")
                    .help("a domain has one CSpace"),
                );
            }
            let cspace = dom.cspace.first().and_then(|c| find_object(self, c));
            let mut budget = Vec::new();
            for e in budget_exprs.iter().flatten() {
                if let Some(v) = self.eval_reported(e, None) {
                    if v.is_power_of_two() {
                        budget.push(v);
                    } else {
                        self.value_error(
                            e.span,
                            format!("a budget Untyped of {} is not a power of two", format_bytes(v)),
                            "give the budget as Untyped sizes, each a power of two (`2 MiB, 64 KiB`)",
                        );
                    }
                }
            }
            if let (Some(p), Some((e, _))) = (priority, dom.priority.first())
                && p > 255
            {
                self.value_error(
                    e.span,
                    format!("priority {p} is above 255"),
                    "give a priority in 0..=255",
                );
            }
            // A page: the smallest a translation table maps (4 KiB with
            // no tables in the spec).
            let page_bits = objects
                .iter()
                .flatten()
                .filter_map(|o| o.table.as_ref())
                .map(|t| t.entry_bits)
                .min()
                .unwrap_or(12);
            let page = 1u64 << page_bits;
            let stack = match (stack_value, &stack_expr) {
                (Some(v), Some(e)) if v == 0 || v % page != 0 || v > MAX_STACK => {
                    self.value_error(
                        e.span,
                        format!(
                            "a stack of {} is not a whole number of {} pages up to {}",
                            format_bytes(v),
                            format_bytes(page),
                            format_bytes(MAX_STACK)
                        ),
                        "give the stack in pages (`stack = 64 KiB;`)",
                    );
                    model::DEFAULT_STACK
                }
                (Some(v), _) => v,
                _ => model::DEFAULT_STACK,
            };

            // Slots.
            let mut slots = Vec::new();
            let mut slot_index: BTreeMap<String, (usize, Span)> = BTreeMap::new();
            let mut failed_slots: Vec<String> = Vec::new();
            for slot in &dom.slots {
                if let Some((_, first)) = slot_index.get(&slot.name.name) {
                    let first = *first;
                    self.duplicate(&slot.name, first, "slot");
                    continue;
                }
                match self.slot(slot, caps, &sys_objects, objects, &find_object) {
                    Some(m) => {
                        slot_index.insert(slot.name.name.clone(), (slots.len(), slot.name.span));
                        slots.push(m);
                    }
                    None => failed_slots.push(slot.name.name.clone()),
                }
            }
            let slot_names: Vec<String> = slot_index.keys().cloned().collect();
            let find_slot = |ctx: &mut Self, ident: &Ident| -> Option<usize> {
                match slot_index.get(&ident.name) {
                    Some((i, _)) => Some(*i),
                    None if failed_slots.contains(&ident.name) => None,
                    None => {
                        ctx.unknown(ident, "slot", slot_names.iter().map(String::as_str));
                        None
                    }
                }
            };
            let find_interface = |ctx: &mut Self, ident: &Ident| -> Option<usize> {
                ctx.resolve(ident, "an interface", |s| match s {
                    TypeSym::Interface(_) => Some(()),
                    _ => None,
                })?;
                interfaces.iter().position(|i| i.name == ident.name)
            };
            let mut serves = Vec::new();
            for (iface, slot) in &dom.serves {
                let i = find_interface(self, iface);
                let sl = find_slot(self, slot);
                if let (Some(i), Some(sl)) = (i, sl) {
                    serves.push((i, sl));
                }
            }
            let mut calls = Vec::new();
            for c in &dom.calls {
                let i = find_interface(self, &c.interface);
                let sl = find_slot(self, &c.slot);
                let n = match &c.in_flight {
                    Some(e) => self.eval_reported(e, None),
                    None => Some(1),
                };
                if n == Some(0) {
                    let span = c.in_flight.as_ref().map_or(c.span, |e| e.span);
                    self.value_error(
                        span,
                        "a client with no call in flight cannot call".to_string(),
                        "allow at least one call in flight, or remove the `calls` statement",
                    );
                }
                if let (Some(i), Some(sl), Some(n)) = (i, sl, n) {
                    calls.push(model::Call {
                        interface: i,
                        slot: sl,
                        in_flight: n,
                        reserve_bytes: 0,
                        span: c.span,
                    });
                }
            }
            let mut irqs = Vec::new();
            for (e, _) in &dom.irqs {
                irqs.extend(self.eval_reported(e, None));
            }
            let mut devices = Vec::new();
            for dev in &dom.devices {
                let base = self.eval_reported(&dev.base, None);
                let bytes = self.eval_reported(&dev.size, None);
                if let (Some(base), Some(bytes)) = (base, bytes) {
                    devices.push(model::Device {
                        name: dev.name.name.clone(),
                        base,
                        bytes,
                    });
                }
            }
            domains.push(model::Domain {
                name: dom.name.name.clone(),
                program: program.unwrap_or_default(),
                budget,
                priority: priority.unwrap_or(0),
                stack,
                trusted,
                cspace,
                slots,
                serves,
                calls,
                irqs,
                devices,
                budget_offsets: Vec::new(),
                layout: model::CSpaceLayout::default(),
                span: dom.name.span,
            });
        }

        let mut denies = Vec::new();
        for deny in &s.denies {
            let domain = match domain_index.get(&deny.domain.name) {
                Some((d, _)) => Some(*d),
                None => {
                    let names: Vec<String> = domain_index.keys().cloned().collect();
                    self.unknown(&deny.domain, "domain", names.iter().map(String::as_str));
                    None
                }
            };
            let right = self.resolve_right(&deny.right);
            let object = find_object(self, &deny.object);
            if let (Some(domain), Some(right), Some(object)) = (domain, right, object) {
                denies.push(model::Deny {
                    domain,
                    right,
                    object,
                    span: deny.span,
                });
            }
        }
        if self.diags.iter().filter(|d| d.is_error()).count() > errors_before {
            return None;
        }
        let mut system = model::System {
            name: s.name.name.clone(),
            memory: memory?,
            objects: sys_objects,
            domains,
            denies,
            pool_bytes: 0,
            span: item.span,
        };
        self.check_hardware(s, &system);
        self.check_channels(s, &system, rights, interfaces);
        self.check_budgets(s, &mut system, interfaces);
        self.check_layout(s, &mut system, caps, slot_bits);
        self.check_plan_names(s, &system);
        self.check_denies(&system, rights);
        self.lint_unheld(&system);
        Some(system)
    }

    fn slot(
        &mut self,
        slot: &ast::SlotItem,
        caps: &[Option<model::CapType>],
        sys_objects: &[model::SystemObject],
        objects: &[Option<model::Object>],
        find_object: &dyn Fn(&mut Self, &Ident) -> Option<usize>,
    ) -> Option<model::Slot> {
        let cap_id = self.resolve(&slot.cap, "a cap type", |s| match s {
            TypeSym::Cap(i) => Some(i),
            _ => None,
        });
        let object = find_object(self, &slot.object);
        let mut rights = Vec::new();
        for r in slot.rights.iter().flatten() {
            rights.extend(self.resolve_right(r));
        }
        let badge = slot
            .badge
            .as_ref()
            .and_then(|e| self.eval_reported(e, None));
        let cap = caps.get(cap_id?)?.as_ref()?;
        let object = object?;
        let o = &sys_objects[object];
        if cap.object != Some(o.object) {
            let actual = objects[o.object.0 as usize]
                .as_ref()
                .map_or("?", |x| x.name.as_str());
            let right_cap = caps
                .iter()
                .flatten()
                .find(|c| c.object == Some(o.object))
                .map(|c| c.name.clone());
            let mut d = Diagnostic::new(
                Code::SlotCapMismatch,
                slot.cap.span,
                format!(
                    "`{}` cannot name `{}`, a `{actual}`",
                    slot.cap.name, slot.object.name
                ),
            )
            .label("wrong cap type for this object")
            .with_secondary(o.span, format!("`{}` is declared here", slot.object.name));
            d = match right_cap {
                Some(c) => d.help(format!("a cap to a `{actual}` is a `{c}`")),
                None => d.help(format!("no cap type of the spec names a `{actual}`")),
            };
            self.diags.push(d);
            return None;
        }
        for (r, ident) in rights.iter().zip(slot.rights.iter().flatten()) {
            if !cap.rights.contains(r) {
                self.diags.push(
                    Diagnostic::new(
                        Code::SlotRights,
                        ident.span,
                        format!("`{}` cannot carry `{}`", cap.name, ident.name),
                    )
                    .label("not one of its rights")
                    .with_secondary(cap.span, format!("`{}` is declared here", cap.name))
                    .help("remove the right, or give the cap type a rights field that has it"),
                );
                return None;
            }
        }
        if let (Some(e), None) = (&slot.badge, cap.field_with(Role::Badge)) {
            self.diags.push(
                Diagnostic::new(
                    Code::SlotRights,
                    e.span,
                    format!("`{}` has no badge", cap.name),
                )
                .label("no `#[badge]` field")
                .help("remove the badge"),
            );
            return None;
        }
        // A cap type without a rights field is full authority over its
        // object: it carries every right.
        if cap.rights.is_empty() && slot.rights.is_none() {
            rights = (0..self.items.rights.len() as u32)
                .map(model::RightId)
                .collect();
        }
        Some(model::Slot {
            name: slot.name.name.clone(),
            cap: CapId(caps.iter().position(|c| c.as_ref() == Some(cap))? as u32),
            rights,
            object,
            badge,
            span: slot.span,
        })
    }

    /// `E0911`: an interrupt given to two domains (or twice), device memory
    /// not aligned to its size or overlapping another region.
    fn check_hardware(&mut self, s: &ast::SystemItem, system: &model::System) {
        let mut irqs: BTreeMap<u64, (&str, Span)> = BTreeMap::new();
        let mut regions: Vec<(u64, u64, &str, Span)> = Vec::new();
        for (dom, ast_dom) in system.domains.iter().zip(&s.domains) {
            for (irq, (_, span)) in dom.irqs.iter().zip(&ast_dom.irqs) {
                if let Some((other, first)) = irqs.get(irq) {
                    self.diags.push(
                        Diagnostic::new(
                            Code::HardwareConflict,
                            *span,
                            if *other == dom.name {
                                format!("interrupt {irq} is given to `{other}` twice")
                            } else {
                                format!(
                                    "interrupt {irq} is given to `{}` and to `{other}`",
                                    dom.name
                                )
                            },
                        )
                        .label("given again here")
                        .with_secondary(*first, "first given here")
                        .help("give each interrupt to one domain, once"),
                    );
                } else {
                    irqs.insert(*irq, (&dom.name, *span));
                }
            }
            for (dev, ast_dev) in dom.devices.iter().zip(&ast_dom.devices) {
                if !dev.bytes.is_power_of_two() || dev.base % dev.bytes != 0 {
                    self.diags.push(
                        Diagnostic::new(
                            Code::HardwareConflict,
                            ast_dev.span,
                            format!(
                                "device memory `{}` at {:#x} of {} is no naturally aligned power-of-two region",
                                dev.name,
                                dev.base,
                                format_bytes(dev.bytes)
                            ),
                        )
                        .label("not an Untyped-shaped region")
                        .help("device memory is given as an Untyped: a power-of-two size at a base aligned to it"),
                    );
                    continue;
                }
                let end = dev.base.saturating_add(dev.bytes);
                if let Some((_, _, other, first)) = regions
                    .iter()
                    .find(|(b, e, _, _)| dev.base < *e && *b < end)
                {
                    self.diags.push(
                        Diagnostic::new(
                            Code::HardwareConflict,
                            ast_dev.span,
                            format!("device memory `{}` overlaps `{other}`", dev.name),
                        )
                        .label("overlaps")
                        .with_secondary(*first, "the other region")
                        .help("give each device region once"),
                    );
                } else {
                    regions.push((dev.base, end, &dev.name, ast_dev.span));
                }
            }
        }
    }

    /// `E0907`: a server must hold its endpoint with `read`, a client with
    /// `write`, and a client calls an interface some domain serves on the
    /// object its slot names. `E0908`: a served method the server pays for.
    fn check_channels(
        &mut self,
        s: &ast::SystemItem,
        system: &model::System,
        rights: &[model::Right],
        interfaces: &[model::MethodSet],
    ) {
        let right = |name: &str| {
            rights
                .iter()
                .position(|r| r.name == name)
                .map(|i| model::RightId(i as u32))
        };
        let (read, write) = (right("read"), right("write"));
        // (object, interface) -> the serving domain.
        let mut served: BTreeMap<(usize, usize), usize> = BTreeMap::new();
        for (d, (dom, ast_dom)) in system.domains.iter().zip(&s.domains).enumerate() {
            for (&(iface, slot), (ast_iface, ast_slot)) in dom.serves.iter().zip(&ast_dom.serves) {
                let sl = &dom.slots[slot];
                if let Some(read) = read
                    && !sl.rights.contains(&read)
                {
                    self.diags.push(
                        Diagnostic::new(
                            Code::ChannelInvalid,
                            ast_slot.span,
                            format!(
                                "`{}` serves `{}` on `{}`, which it cannot receive on",
                                dom.name, ast_iface.name, sl.name
                            ),
                        )
                        .label("this slot's cap lacks `read`")
                        .with_secondary(sl.span, "the slot is declared here")
                        .help("give the server's cap `read`"),
                    );
                }
                if let Some(&other) = served.get(&(sl.object, iface)) {
                    self.diags.push(
                        Diagnostic::new(
                            Code::ChannelInvalid,
                            ast_iface.span,
                            format!(
                                "`{}` is served on `{}` by `{}` already",
                                ast_iface.name,
                                system.objects[sl.object].name,
                                system.domains[other].name
                            ),
                        )
                        .label("served twice on one object")
                        .help("serve an interface on an object once"),
                    );
                }
                served.insert((sl.object, iface), d);
                for m in &interfaces[iface].methods {
                    if let Some(bytes) = m.server_pays {
                        self.diags.push(
                            Diagnostic::new(
                                Code::ServerWouldPay,
                                ast_iface.span,
                                format!(
                                    "`{}` would pay up to {} of its own memory for each call of `{}::{}`",
                                    dom.name,
                                    format_bytes(bytes),
                                    interfaces[iface].name,
                                    m.name
                                ),
                            )
                            .label("served here")
                            .with_secondary(m.span, "the method is paid for by its server (`server_pays`)")
                            .note("in a system the client pays: a server's budget covers only its static objects")
                            .help("make the method take a donation (`donates ...`) or charge a session instead of `server_pays`"),
                        );
                    }
                }
            }
        }
        for (dom, ast_dom) in system.domains.iter().zip(&s.domains) {
            for (c, ast_c) in dom.calls.iter().zip(&ast_dom.calls) {
                let sl = &dom.slots[c.slot];
                if let Some(write) = write
                    && !sl.rights.contains(&write)
                {
                    self.diags.push(
                        Diagnostic::new(
                            Code::ChannelInvalid,
                            ast_c.slot.span,
                            format!(
                                "`{}` calls `{}` on `{}`, which it cannot send on",
                                dom.name, ast_c.interface.name, sl.name
                            ),
                        )
                        .label("this slot's cap lacks `write`")
                        .with_secondary(sl.span, "the slot is declared here")
                        .help("give the client's cap `write`"),
                    );
                }
                if !served.contains_key(&(sl.object, c.interface)) {
                    self.diags.push(
                        Diagnostic::new(
                            Code::ChannelInvalid,
                            ast_c.span,
                            format!(
                                "no domain serves `{}` on `{}`",
                                ast_c.interface.name, system.objects[sl.object].name
                            ),
                        )
                        .label("nobody answers these calls")
                        .help(format!(
                            "add `serves {} on SLOT;` to the domain that receives on `{}`",
                            ast_c.interface.name, system.objects[sl.object].name
                        )),
                    );
                }
            }
        }
    }

    /// `E0905`, `E0909`, `E0906`: each domain's objects, and a client's
    /// donations for the calls it may have in flight, fit its budget; the
    /// budgets and the shared objects fit the machine's memory.
    fn check_budgets(
        &mut self,
        s: &ast::SystemItem,
        system: &mut model::System,
        interfaces: &[model::MethodSet],
    ) {
        let mut placements: Vec<(usize, model::Placement)> = Vec::new();
        for (d, ast_dom) in s.domains.iter().enumerate() {
            let own_index: Vec<usize> = (0..system.objects.len())
                .filter(|&i| system.objects[i].owner == Some(d))
                .collect();
            let own: Vec<(u64, &str)> = own_index
                .iter()
                .map(|&i| {
                    let o = &system.objects[i];
                    (1u64 << o.size_bits, o.name.as_str())
                })
                .collect();
            let budget = system.domains[d].budget.clone();
            let total: u64 = budget.iter().sum();
            let budget_span = ast_dom.budget.first().map_or(ast_dom.name.span, |b| b.1);
            if let Some((bytes, label, free)) = pack(&budget, &own) {
                let needed: u64 = own.iter().map(|o| o.0).sum();
                self.diags.push(
                    Diagnostic::new(
                        Code::DomainOverBudget,
                        budget_span,
                        format!(
                            "`{}`'s own objects need {} but its budget is {}",
                            ast_dom.name.name,
                            format_bytes(needed),
                            format_bytes(total)
                        ),
                    )
                    .label("too small")
                    .note(format!(
                        "`{label}` ({}) does not fit: {} is left",
                        format_bytes(bytes),
                        format_bytes(free)
                    ))
                    .help("give the domain a larger Untyped, or fewer objects"),
                );
                continue;
            }
            // The calls in flight, each method's worst case.
            let mut items = own.clone();
            let mut placed: Vec<(usize, u64)> = Vec::new();
            let mut reserves: Vec<(String, u64, u64)> = Vec::new();
            let calls = system.domains[d].calls.clone();
            for (ci, c) in calls.iter().enumerate() {
                let iface = &interfaces[c.interface];
                let session = iface
                    .session
                    .as_ref()
                    .map_or(0, |s| donation_bytes(s.min_bytes));
                let (method, per_call) = iface
                    .methods
                    .iter()
                    .filter_map(|m| {
                        m.donation
                            .as_ref()
                            .map(|don| (m.name.as_str(), donation_bytes(don.min_bytes)))
                    })
                    .max_by_key(|(_, b)| *b)
                    .unwrap_or(("", 0));
                system.domains[d].calls[ci].reserve_bytes =
                    per_call.saturating_add(session).saturating_mul(c.in_flight);
                // Each an Untyped of its own (a power of two), for `pack`.
                if per_call > 0 {
                    reserves.push((format!("{}::{method}", iface.name), per_call, c.in_flight));
                }
                if session > 0 {
                    reserves.push((format!("{}'s session", iface.name), session, c.in_flight));
                }
            }
            let labels: Vec<String> = reserves.iter().map(|r| r.0.clone()).collect();
            let needed = reserves
                .iter()
                .map(|(_, one, n)| one.saturating_mul(*n))
                .chain(own.iter().map(|o| o.0))
                .fold(0u64, u64::saturating_add);
            // Thousands of calls in flight are not placed one by one: the
            // sum decides.
            let failed = if reserves.iter().any(|(_, _, n)| *n > 1 << 12) {
                if let Ok(packed) = place(&budget, &own) {
                    placed = objects_first(&own, &packed);
                }
                reserves
                    .iter()
                    .max_by_key(|r| r.1.saturating_mul(r.2))
                    .filter(|_| needed > total)
                    .map(|r| (r.1, r.0.as_str(), 0))
            } else {
                for ((_, one, n), label) in reserves.iter().zip(&labels) {
                    for _ in 0..*n {
                        items.push((*one, label.as_str()));
                    }
                }
                match place(&budget, &items) {
                    Ok(packed) => {
                        placed = objects_first(&own, &packed[..own.len()]);
                        None
                    }
                    Err(failed) => Some(failed),
                }
            };
            for (&i, &(bin, offset)) in own_index.iter().zip(&placed) {
                placements.push((
                    i,
                    model::Placement {
                        untyped: Some(bin),
                        offset,
                    },
                ));
            }
            if let Some((bytes, label, _)) = failed {
                // Own objects fit alone (checked above): when the last item
                // placed is one of them, the calls crowded it out, and the
                // largest of them is named.
                let reserve = reserves
                    .iter()
                    .find(|r| r.0 == label)
                    .or_else(|| reserves.iter().max_by_key(|r| r.1.saturating_mul(r.2)));
                let (label, one, n) =
                    reserve.map_or((label, bytes, 1), |r| (r.0.as_str(), r.1, r.2));
                let shortfall = needed.saturating_sub(total).max(1);
                let call_span = calls
                    .iter()
                    .zip(&ast_dom.calls)
                    .find(|(c, _)| {
                        let i = &interfaces[c.interface];
                        label.starts_with(&format!("{}::", i.name))
                            || label == format!("{}'s session", i.name)
                    })
                    .map_or(budget_span, |(_, a)| a.span);
                let short = if needed > total {
                    format!("short by {shortfall} bytes")
                } else {
                    format!(
                        "its Untypeds are too small for one donation of {}",
                        format_bytes(one)
                    )
                };
                self.diags.push(
                    Diagnostic::new(
                        Code::ClientUnderBudget,
                        budget_span,
                        format!(
                            "client `{}` cannot pay for `{label}`: {short}",
                            ast_dom.name.name
                        ),
                    )
                    .label(format!("budget {}", format_bytes(total)))
                    .with_secondary(call_span, format!("{n} call(s) in flight, {} each", format_bytes(one)))
                    .note(format!(
                        "it needs {} ({} bytes): its own objects and the worst-case donation of each call it may have in flight",
                        format_bytes(needed),
                        needed
                    ))
                    .help("give the client a larger budget, or fewer calls in flight"),
                );
            }
        }
        // The boot plan: every budget and every shared object.
        let mut items: Vec<u64> = system
            .domains
            .iter()
            .flat_map(|d| d.budget.iter().copied())
            .collect();
        items.extend(
            system
                .objects
                .iter()
                .filter(|o| o.owner.is_none())
                .map(|o| 1u64 << o.size_bits),
        );
        let needed = items.iter().fold(0u64, |a, b| a.saturating_add(*b));
        // The pool: the least power of two that holds the budgets and the
        // shared objects, each placed naturally aligned, largest first.
        let pool = needed.checked_next_power_of_two().unwrap_or(1 << 63).max(1);
        let labelled: Vec<(u64, &str)> = items.iter().map(|&b| (b, "")).collect();
        if let Ok(packed) = place(&[pool], &labelled) {
            system.pool_bytes = pool;
            let mut at = packed.iter().map(|p| p.offset);
            for d in &mut system.domains {
                d.budget_offsets = at.by_ref().take(d.budget.len()).collect();
            }
            let shared: Vec<usize> = (0..system.objects.len())
                .filter(|&i| system.objects[i].owner.is_none())
                .collect();
            for (i, offset) in shared.into_iter().zip(at) {
                system.objects[i].placement = model::Placement {
                    untyped: None,
                    offset,
                };
            }
        }
        for (i, placement) in placements {
            system.objects[i].placement = placement;
        }
        if needed > system.memory {
            let span = s.memory.first().map_or(s.name.span, |m| m.1);
            self.diags.push(
                Diagnostic::new(
                    Code::SystemOverMemory,
                    span,
                    format!(
                        "the boot plan of `{}` needs {} but the machine has {}",
                        system.name,
                        format_bytes(needed),
                        format_bytes(system.memory)
                    ),
                )
                .label("too little memory")
                .note(format!(
                    "the domains' budgets and the shared objects: {} bytes over",
                    needed - system.memory
                ))
                .help("give the machine more memory, or the domains smaller budgets"),
            );
        }
    }

    /// `E0912`, `E0913`: each domain's CSpace is a CNode the boot plan can
    /// fill, and holds its named slots, its budget Untypeds and the root of
    /// its address space; the layout goes into the model.
    fn check_layout(
        &mut self,
        s: &ast::SystemItem,
        system: &mut model::System,
        caps: &[Option<model::CapType>],
        slot_bits: Option<u32>,
    ) {
        for (d, ast_dom) in s.domains.iter().enumerate() {
            let dom = &system.domains[d];
            let Some(cspace) = dom.cspace else {
                self.diags.push(
                    Diagnostic::new(
                        Code::NoCSpace,
                        ast_dom.name.span,
                        format!("`{}` has no CSpace", dom.name),
                    )
                    .label("no `cspace = ...;` in this domain")
                    .note("the boot plan puts the domain's slots and its budget into its CSpace")
                    .help("give the domain a CNode of its own: `object NAME: CNode(4); cspace = NAME;`"),
                );
                continue;
            };
            let object = &system.objects[cspace];
            // A CSpace is an object whose cap has a guard: a CNode.
            let is_cnode = caps.iter().flatten().any(|c| {
                c.object == Some(object.object) && c.field_with(model::Role::Guard).is_some()
            });
            let radix = slot_bits
                .filter(|_| is_cnode)
                .and_then(|bits| object.size_bits.checked_sub(bits));
            let span = ast_dom.cspace.first().map_or(ast_dom.name.span, |c| c.span);
            let Some(radix) = radix else {
                self.diags.push(
                    Diagnostic::new(
                        Code::NoCSpace,
                        span,
                        format!("`{}` cannot be `{}`'s CSpace", object.name, dom.name),
                    )
                    .label("not a table of capability slots")
                    .with_secondary(object.span, format!("`{}` is declared here", object.name))
                    .note("a CSpace is an object whose cap has a `#[guard]` field (a CNode), and the target gives `slot_bits`")
                    .help("name a CNode object of the domain"),
                );
                continue;
            };
            let named = dom.slots.len() as u64;
            let budgets = dom.budget.len() as u64;
            let layout = model::CSpaceLayout {
                radix,
                slots: (1..=named).collect(),
                budget: (named + 1..=named + budgets).collect(),
                vspace: named + budgets + 1,
                first_free: named + budgets + 2,
            };
            let room = 1u64.checked_shl(radix).unwrap_or(u64::MAX);
            if layout.first_free > room {
                self.diags.push(
                    Diagnostic::new(
                        Code::CSpaceTooSmall,
                        span,
                        format!(
                            "`{}`'s CSpace has {room} slots but the boot plan fills {}",
                            dom.name, layout.first_free
                        ),
                    )
                    .label(format!("{room} slots"))
                    .note(format!(
                        "slot 0 stays empty, then {named} named slot(s), {budgets} budget Untyped(s) and the address space's root"
                    ))
                    .help("give the domain a larger CNode"),
                );
                continue;
            }
            system.domains[d].layout = layout;
        }
    }

    /// `E0914`: the names the boot plan's generated module gives a system,
    /// its domains, their slots and the objects must not clash.
    fn check_plan_names(&mut self, s: &ast::SystemItem, system: &model::System) {
        let clash = |ctx: &mut Self, span: Span, name: &str, generated: &str, with: &str| {
            ctx.diags.push(
                Diagnostic::new(
                    Code::PlanNameClash,
                    span,
                    format!("`{name}` is `{generated}` in the generated boot plan, as {with} is"),
                )
                .label("clashes in the generated code")
                .help("rename it"),
            );
        };
        if matches!(s.name.name.as_str(), "self" | "super" | "crate" | "Self") {
            clash(
                self,
                s.name.span,
                &s.name.name,
                &s.name.name,
                "a Rust path keyword",
            );
        }
        // A module or constant with `__` inside is one rustc warns about.
        let doubled = std::iter::once((&s.name.name, s.name.span))
            .chain(s.objects.iter().map(|o| (&o.name.name, o.name.span)))
            .chain(s.domains.iter().flat_map(|d| {
                std::iter::once((&d.name.name, d.name.span))
                    .chain(d.objects.iter().map(|o| (&o.name.name, o.name.span)))
                    .chain(d.slots.iter().map(|sl| (&sl.name.name, sl.name.span)))
            }));
        for (name, span) in doubled.collect::<Vec<_>>() {
            if name.trim_matches('_').contains("__") {
                self.diags.push(
                    Diagnostic::new(
                        Code::PlanNameClash,
                        span,
                        format!("`{name}` has two underscores in a row"),
                    )
                    .label("not snake_case or SCREAMING_SNAKE_CASE in Rust")
                    .note("the generated boot plan names a module or constant after it, and rustc warns about `__` inside a name")
                    .help("rename it"),
                );
            }
        }
        let mut modules: BTreeMap<String, String> = SYSTEM_ITEMS
            .iter()
            .map(|n| (n.to_string(), format!("the system's `{n}`")))
            .collect();
        for (dom, ast_dom) in system.domains.iter().zip(&s.domains) {
            let module = crate::check::snake_case(&dom.name);
            match modules.get(&module) {
                Some(with) => clash(self, ast_dom.name.span, &dom.name, &module, with),
                None => {
                    modules.insert(module.clone(), format!("domain `{}`", dom.name));
                }
            }
            if matches!(module.as_str(), "self" | "super" | "crate") {
                clash(
                    self,
                    ast_dom.name.span,
                    &dom.name,
                    &module,
                    "a Rust path keyword",
                );
            }
            let mut consts: BTreeMap<String, String> = DOMAIN_CONSTS
                .iter()
                .map(|n| (n.to_string(), format!("the domain's `{n}`")))
                .collect();
            for (slot, ast_slot) in dom.slots.iter().zip(&ast_dom.slots) {
                let name = const_name(&slot.name);
                match consts.get(&name) {
                    Some(with) => clash(self, ast_slot.name.span, &slot.name, &name, with),
                    None => {
                        consts.insert(name, format!("slot `{}`", slot.name));
                    }
                }
            }
        }
        let mut objects: BTreeMap<String, String> = BTreeMap::new();
        for o in &system.objects {
            let name = const_name(&o.name);
            match objects.get(&name) {
                Some(with) => clash(self, o.span, &o.name, &name, with),
                None => {
                    objects.insert(name, format!("object `{}`", o.name));
                }
            }
        }
    }

    /// `E0910`: each `deny` against the authority closure.
    fn check_denies(&mut self, system: &model::System, rights: &[model::Right]) {
        if system.denies.is_empty() {
            return;
        }
        let authority = Authority::of(rights, system);
        for deny in &system.denies {
            let Some(cap) = authority.holds(deny.domain, deny.object, deny.right) else {
                continue;
            };
            let right = &rights[deny.right.0 as usize].name;
            let mut d = Diagnostic::new(
                Code::DenyViolated,
                deny.span,
                format!(
                    "`{}` can come to hold `{right}` on `{}`",
                    system.domains[deny.domain].name, system.objects[deny.object].name
                ),
            )
            .label("this assertion does not hold");
            for step in authority.path(deny.domain, cap) {
                let who = &system.domains[step.domain];
                match step.origin {
                    crate::authority::Origin::Initial => {
                        let slot = who
                            .slots
                            .iter()
                            .find(|s| s.object == deny.object && s.rights.contains(&deny.right));
                        match slot {
                            Some(slot) => {
                                d = d.with_secondary(
                                    slot.span,
                                    format!("`{}` holds it at boot", who.name),
                                );
                            }
                            None => {
                                d = d.note(format!("`{}` holds it at boot", who.name));
                            }
                        }
                    }
                    crate::authority::Origin::Flowed { from, via } => {
                        d = d.note(format!(
                            "`{}` can pass it to `{}` through `{}`",
                            system.domains[from].name, who.name, system.objects[via].name
                        ));
                    }
                }
            }
            self.diags.push(
                d.help("remove the grant right (or the cap) that lets it flow, or the `deny`"),
            );
        }
    }

    /// `W0020`: a shared object no domain holds a cap to and no domain has
    /// as its CSpace.
    fn lint_unheld(&mut self, system: &model::System) {
        for (i, o) in system.objects.iter().enumerate() {
            let held = o.owner.is_some()
                || system
                    .domains
                    .iter()
                    .any(|d| d.cspace == Some(i) || d.slots.iter().any(|s| s.object == i));
            if !held {
                self.diags.push(
                    Diagnostic::new(
                        Code::UnheldObject,
                        o.span,
                        format!("no domain holds a cap to `{}`", o.name),
                    )
                    .label("made at boot, then unreachable")
                    .help("give a domain a slot naming it, or remove it"),
                );
            }
        }
    }
}
