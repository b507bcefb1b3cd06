//! Kernel invocations and RPC interfaces.
//!
//! Checks each method's parameters against the target's message limits, its
//! required rights against what the invoked cap type can carry, its errors
//! against its error set, and, the heart of capc, its donation: a method that
//! allocates must declare what the caller donates, every allocated object must
//! be retypable from the donation, and the worst case of everything it may
//! allocate per call must fit in the minimum donation. The worst case places
//! the allocations largest alignment first in a naturally aligned donation
//! (the layout the generated budget type uses), so it is exact.

use std::collections::BTreeMap;

use crate::ast::{self, ParamType, Scalar, Transfer};
use crate::diag::{Code, Diagnostic};
use crate::model::{self, CapId, ErrorSetId, ParamKind, RightId};
use crate::source::Span;

use super::eval::bytes;
use super::{Ctx, TypeSym, list};

/// Whether a method set is kernel invocations or an RPC interface.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SetKind {
    Invocations,
    Interface,
}

/// What the method checks need from earlier passes.
struct Known<'m> {
    target: &'m model::Target,
    objects: &'m [Option<model::Object>],
    caps: &'m [Option<model::CapType>],
    rights: &'m [model::Right],
    retypes: &'m [model::Retype],
    error_sets: &'m [model::ErrorSet],
}

impl Ctx<'_> {
    pub(super) fn check_methods(
        &mut self,
        target: Option<&model::Target>,
        objects: &[Option<model::Object>],
        caps: &[Option<model::CapType>],
        rights: &[model::Right],
        retypes: &[model::Retype],
        error_sets: &[model::ErrorSet],
    ) -> (Vec<model::MethodSet>, Vec<model::MethodSet>) {
        let Some(target) = target else {
            return (Vec::new(), Vec::new());
        };
        let known = Known {
            target,
            objects,
            caps,
            rights,
            retypes,
            error_sets,
        };
        let mut invoked: BTreeMap<usize, Span> = BTreeMap::new();
        let mut invocations = Vec::new();
        for i in 0..self.items.invocations.len() {
            let (item, set) = self.items.invocations[i];
            let cap = self.resolve(&set.name, "a cap type", |s| match s {
                TypeSym::Cap(i) => Some(i),
                _ => None,
            });
            if let Some(cap) = cap {
                if let Some(first) = invoked.insert(cap, set.name.span) {
                    self.diags.push(
                        Diagnostic::new(
                            Code::DuplicateName,
                            set.name.span,
                            format!("invocations on `{}` are declared twice", set.name.name),
                        )
                        .label("declared again here")
                        .with_secondary(first, "first declared here")
                        .help("put every method of this cap type in one `invocations` block"),
                    );
                    continue;
                }
                if let Some(m) = self.check_set(item, set, SetKind::Invocations, Some(cap), &known)
                {
                    invocations.push(m);
                }
            }
        }
        let mut interfaces = Vec::new();
        for i in 0..self.items.interfaces.len() {
            let (item, set) = self.items.interfaces[i];
            if let Some(m) = self.check_set(item, set, SetKind::Interface, None, &known) {
                interfaces.push(m);
            }
        }
        (invocations, interfaces)
    }

    fn check_set(
        &mut self,
        item: &ast::Item,
        set: &ast::MethodSet,
        kind: SetKind,
        cap: Option<usize>,
        known: &Known<'_>,
    ) -> Option<model::MethodSet> {
        let errors = self.resolve(&set.errors, "an error set", |s| match s {
            TypeSym::Errors(i) => Some(i),
            _ => None,
        });
        let mut names: BTreeMap<&str, Span> = BTreeMap::new();
        let mut methods = Vec::new();
        let mut ok = errors.is_some();
        for (index, method) in set.methods.iter().enumerate() {
            if let Some(first) = names.insert(&method.name.name, method.name.span) {
                self.diags.push(
                    Diagnostic::new(
                        Code::DuplicateName,
                        method.name.span,
                        format!(
                            "method `{}` is defined twice in `{}`",
                            method.name.name, set.name.name
                        ),
                    )
                    .label("defined again here")
                    .with_secondary(first, "first defined here")
                    .help("rename one of them"),
                );
                ok = false;
                continue;
            }
            match self.check_method(method, index, kind, cap, errors, known) {
                Some(m) => methods.push(m),
                None => ok = false,
            }
        }
        ok.then(|| model::MethodSet {
            docs: item.docs.clone(),
            name: set.name.name.clone(),
            cap: cap.map(|c| CapId(c as u32)),
            errors: ErrorSetId(errors.expect("ok") as u32),
            methods,
            span: set.name.span,
        })
    }

    fn check_method(
        &mut self,
        method: &ast::Method,
        index: usize,
        kind: SetKind,
        cap: Option<usize>,
        errors: Option<usize>,
        known: &Known<'_>,
    ) -> Option<model::Method> {
        let mut ok = true;
        let mname = &method.name.name;

        // Parameters and results.
        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
        let mut lists: [Vec<model::MethodParam>; 2] = [Vec::new(), Vec::new()];
        for (which, params) in [&method.params, &method.results].into_iter().enumerate() {
            for p in params {
                if let Some(first) = seen.insert(&p.name.name, p.name.span) {
                    self.diags.push(
                        Diagnostic::new(
                            Code::DuplicateName,
                            p.name.span,
                            format!("`{}` is named twice in `{mname}`", p.name.name),
                        )
                        .label("named again here")
                        .with_secondary(first, "first named here")
                        .help("give each parameter and result its own name"),
                    );
                    ok = false;
                    continue;
                }
                match self.check_param(p, kind, known) {
                    Some(kind) => lists[which].push(model::MethodParam {
                        name: p.name.name.clone(),
                        kind,
                    }),
                    None => ok = false,
                }
            }
        }
        let [params, results] = lists;

        // Rights the invoked cap must carry.
        let mut requires = Vec::new();
        for r in &method.requires {
            let Some(id) = self.resolve_right(r) else {
                ok = false;
                continue;
            };
            match (kind, cap.and_then(|c| known.caps[c].as_ref())) {
                (SetKind::Interface, _) => {
                    self.not_valid_here(
                        r.span,
                        "`requires` in an interface",
                        "an RPC is made through an endpoint; rights of kernel invocations only",
                        "remove the clause",
                    );
                    ok = false;
                }
                (SetKind::Invocations, Some(invoked)) => {
                    if !invoked.rights.contains(&id) {
                        self.amplification(r.span, invoked, &r.name, known.rights);
                        ok = false;
                    }
                    requires.push(id);
                }
                (SetKind::Invocations, None) => ok = false,
            }
        }

        // Errors.
        let mut error_indices = Vec::new();
        if let Some(e) = errors {
            let set = &known.error_sets[e];
            for v in &method.errors {
                match set.variants.iter().position(|x| x.name == v.name) {
                    Some(i) => error_indices.push(i),
                    None => {
                        let names: Vec<&str> =
                            set.variants.iter().map(|x| x.name.as_str()).collect();
                        self.unknown(v, &format!("error of `{}`", set.name), names);
                        ok = false;
                    }
                }
            }
        }

        // Donation and allocations.
        let donation = self.check_donation(method, kind, &error_indices, errors, known, &mut ok);

        // Message limits.
        let target = known.target;
        for (which, list_) in [("request", &params), ("reply", &results)] {
            let mut words = 0u64;
            let mut caps = 0u64;
            let mut parts = Vec::new();
            for p in list_.iter() {
                match &p.kind {
                    ParamKind::Scalar(_) => {
                        words += 1;
                        parts.push(format!("{} 1", p.name));
                    }
                    ParamKind::Array { words: w, .. } => {
                        words += w;
                        parts.push(format!("{} {w}", p.name));
                    }
                    ParamKind::Cap { .. } => caps += 1,
                }
            }
            if which == "request"
                && donation
                    .as_ref()
                    .is_some_and(|d| matches!(d.kind, model::DonationKind::Untyped(_)))
            {
                caps += 1;
            }
            if words > target.message_words as u64 {
                self.diags.push(
                    Diagnostic::new(
                        Code::MessageTooLong,
                        method.name.span,
                        format!("the {which} of `{mname}` takes {words} message words"),
                    )
                    .label(format!("more than {} words", target.message_words))
                    .with_secondary(
                        target.span,
                        format!("`message_words = {}`", target.message_words),
                    )
                    .note(format!("words: {}", parts.join(" + ")))
                    .help(
                        "pass large data in a shared frame (a `lend cap`) instead of the message",
                    ),
                );
                ok = false;
            }
            if caps > target.caps_per_message as u64 {
                self.diags.push(
                    Diagnostic::new(
                        Code::TooManyCaps,
                        method.name.span,
                        format!("the {which} of `{mname}` carries {caps} capabilities"),
                    )
                    .label(format!("more than {}", target.caps_per_message))
                    .with_secondary(
                        target.span,
                        format!("`caps_per_message = {}`", target.caps_per_message),
                    )
                    .note("a donated Untyped counts as one capability")
                    .help("pass several caps in one CNode, or split the method"),
                );
                ok = false;
            }
        }
        if !ok {
            return None;
        }
        let words = |l: &[model::MethodParam]| {
            l.iter()
                .map(|p| match &p.kind {
                    ParamKind::Scalar(_) => 1,
                    ParamKind::Array { words, .. } => *words,
                    ParamKind::Cap { .. } => 0,
                })
                .sum()
        };
        Some(model::Method {
            docs: method.docs.clone(),
            name: mname.clone(),
            label: index as u32 + 1,
            request_words: words(&params),
            reply_words: words(&results),
            params,
            results,
            requires,
            errors: error_indices,
            donation,
            span: method.name.span,
        })
    }

    fn check_param(
        &mut self,
        p: &ast::Param,
        kind: SetKind,
        known: &Known<'_>,
    ) -> Option<ParamKind> {
        let scalar_ok = |ctx: &mut Self, s: Scalar| -> bool {
            if let Scalar::Uint(n) = s
                && !(1..=64).contains(&n)
            {
                ctx.diags.push(
                    Diagnostic::new(
                        Code::FieldWidth,
                        p.ty_span,
                        format!("`{}` is {n} bits wide", p.name.name),
                    )
                    .label("not in 1..=64")
                    .help("use `u1` to `u64`, or `word`"),
                );
                return false;
            }
            true
        };
        match &p.ty {
            ParamType::Scalar(s) => scalar_ok(self, *s).then_some(ParamKind::Scalar(*s)),
            ParamType::Array(s, len) => {
                if !scalar_ok(self, *s) {
                    return None;
                }
                let n = self.eval_reported(len, None)?;
                let max = known.target.message_words as u64 * 64;
                if n == 0 || n > max {
                    self.diags.push(
                        Diagnostic::new(
                            Code::EmptyArray,
                            len.span,
                            format!("array `{}` has {n} elements", p.name.name),
                        )
                        .label(format!("not in 1..={max}"))
                        .help("an array carries at least one element and fits in one message"),
                    );
                    return None;
                }
                let bits = match s {
                    Scalar::Word => 64,
                    Scalar::Bool => 1,
                    Scalar::Uint(b) => *b as u64,
                };
                let per_word = 64 / bits;
                Some(ParamKind::Array {
                    element: *s,
                    len: n,
                    words: n.div_ceil(per_word),
                })
            }
            ParamType::Cap {
                transfer,
                cap,
                rights,
            } => {
                let id = self.resolve(cap, "a cap type", |s| match s {
                    TypeSym::Cap(i) => Some(i),
                    _ => None,
                })?;
                match (kind, transfer) {
                    (SetKind::Invocations, Transfer::Grant | Transfer::Lend) => {
                        self.not_valid_here(p.ty_span, "`grant`/`lend` in a kernel invocation", "the kernel looks extra caps up in the caller's CSpace; nothing is transferred", "remove `grant`/`lend`");
                        return None;
                    }
                    (SetKind::Interface, Transfer::Lookup) => {
                        self.not_valid_here(p.ty_span, "a cap in an RPC without `grant` or `lend`", "between tasks a cap is either given away (`grant`) or lent for the call (`lend`)", "write `grant cap ...` or `lend cap ...`");
                        return None;
                    }
                    _ => {}
                }
                let cap_type = known.caps[id].as_ref()?;
                let mut ids: Vec<RightId> = Vec::new();
                let mut ok = true;
                for r in rights {
                    if let Some(rid) = self.resolve_right(r) {
                        if !cap_type.rights.contains(&rid) {
                            self.amplification(r.span, cap_type, &r.name, known.rights);
                            ok = false;
                        }
                        ids.push(rid);
                    } else {
                        ok = false;
                    }
                }
                ok.then_some(ParamKind::Cap {
                    transfer: *transfer,
                    cap: CapId(id as u32),
                    rights: ids,
                })
            }
        }
    }

    fn check_donation(
        &mut self,
        method: &ast::Method,
        kind: SetKind,
        error_indices: &[usize],
        errors: Option<usize>,
        known: &Known<'_>,
        ok: &mut bool,
    ) -> Option<model::Donation> {
        let mname = &method.name.name;
        if kind == SetKind::Invocations {
            let misplaced = method
                .donations
                .iter()
                .map(|d| d.span())
                .chain(method.allocations.iter().map(|a| a.span))
                .chain(method.out_of_budget.iter().map(|o| o.span));
            let spans: Vec<Span> = misplaced.collect();
            for span in spans {
                self.not_valid_here(span, "a donation clause in a kernel invocation", "the kernel allocates nothing on its own: invocations such as retype spend the caller's Untyped directly", "remove the clause");
                *ok = false;
            }
            return None;
        }
        if let Some(extra) = method.donations.get(1) {
            self.diags.push(
                Diagnostic::new(
                    Code::DuplicateStatement,
                    extra.span(),
                    format!("`{mname}` declares two donations"),
                )
                .label("second donation")
                .with_secondary(method.donations[0].span(), "first donation")
                .help("a method takes one donation"),
            );
            *ok = false;
        }
        let Some(donation) = method.donations.first() else {
            if let Some(a) = method.allocations.first() {
                self.diags.push(
                    Diagnostic::new(Code::AllocationWithoutDonation, a.span, format!("`{mname}` allocates on its caller's behalf, but the caller donates nothing"))
                        .label("allocated per call")
                        .note("the server would pay for what its client asked for, so one client could exhaust it")
                        .help("add `donates UntypedCap >= N;` so the caller pays"),
                );
                *ok = false;
            }
            if let Some(o) = method.out_of_budget.first() {
                self.not_valid_here(
                    o.span,
                    "`out_of_budget` without a donation",
                    "there is no budget to run out of",
                    "remove the clause, or add a donation",
                );
                *ok = false;
            }
            return None;
        };
        let donation_kind = match donation {
            ast::Donation::Quota { .. } => Some(model::DonationKind::Quota),
            ast::Donation::Untyped { cap, .. } => {
                let id = self.resolve(cap, "a cap type", |s| match s {
                    TypeSym::Cap(i) => Some(i),
                    _ => None,
                });
                match id.and_then(|i| known.caps[i].as_ref().map(|c| (i, c))) {
                    Some((i, c)) => {
                        let is_memory = c
                            .object
                            .and_then(|o| known.objects[o.index()].as_ref())
                            .is_some_and(|o| o.kind == ast::ObjectKind::Untyped);
                        if is_memory {
                            Some(model::DonationKind::Untyped(CapId(i as u32)))
                        } else {
                            self.diags.push(
                                Diagnostic::new(
                                    Code::DonationNotMemory,
                                    cap.span,
                                    format!("`{}` is not a cap to untyped memory", cap.name),
                                )
                                .label("cannot be donated")
                                .with_secondary(c.span, "cap type declared here")
                                .help("donate a cap to an `untyped` object, or `quota N`"),
                            );
                            None
                        }
                    }
                    None => None,
                }
            }
        };
        let min_bytes = self.eval_reported(donation.bytes(), None);

        // Allocations.
        let mut allocations = Vec::new();
        for a in &method.allocations {
            let Some(oid) = self.resolve(&a.object, "an object type", |s| match s {
                TypeSym::Object(i) => Some(i),
                _ => None,
            }) else {
                *ok = false;
                continue;
            };
            let Some(object) = known.objects[oid].as_ref() else {
                *ok = false;
                continue;
            };
            let count = self.eval_reported(&a.count, None);
            let arg = match (&a.arg, object.size.param.as_ref()) {
                (None, None) => Some(0),
                (Some(e), Some(_)) => self.eval_reported(e, None),
                (None, Some(p)) => {
                    self.diags.push(
                        Diagnostic::new(
                            Code::AllocationSizeArg,
                            a.object.span,
                            format!("`{}` needs its size argument `{p}`", object.name),
                        )
                        .label("size argument missing")
                        .help(format!(
                            "write `{}({})`",
                            object.name,
                            object.size.min_arg()
                        )),
                    );
                    None
                }
                (Some(e), None) => {
                    self.diags.push(
                        Diagnostic::new(
                            Code::AllocationSizeArg,
                            e.span,
                            format!(
                                "`{}` has a fixed size and takes no size argument",
                                object.name
                            ),
                        )
                        .label("unexpected size argument")
                        .with_secondary(object.span, "declared without a size parameter")
                        .help(format!("write `{}`", object.name)),
                    );
                    None
                }
            };
            let (Some(count), Some(arg)) = (count, arg) else {
                *ok = false;
                continue;
            };
            let Some(size_bits) = object.size.size_bits(arg) else {
                let allowed: Vec<String> = object
                    .size
                    .table
                    .iter()
                    .map(|(a, _)| a.to_string())
                    .collect();
                let shown = if allowed.len() > 8 {
                    format!("{}..={}", object.size.min_arg(), object.size.max_arg())
                } else {
                    allowed.join(", ")
                };
                self.diags.push(
                    Diagnostic::new(
                        Code::AllocationSizeArg,
                        a.arg.as_ref().expect("parameterised").span,
                        format!("`{}({arg})` is not a valid size", object.name),
                    )
                    .label(format!("`{}` is outside the allowed values", arg))
                    .with_secondary(object.span, format!("allowed: {shown}"))
                    .help("use an allowed size argument"),
                );
                *ok = false;
                continue;
            };
            if count == 0 {
                self.diags.push(
                    Diagnostic::new(Code::AllocationSizeArg, a.count.span, "allocation of zero objects")
                        .label("count is 0")
                        .help("remove the clause, or give the largest number of objects allocated per call"),
                );
                *ok = false;
                continue;
            }
            if let Some(model::DonationKind::Untyped(cap)) = &donation_kind {
                let retypable = known
                    .retypes
                    .iter()
                    .any(|r| r.source == *cap && r.targets.contains(&model::ObjectId(oid as u32)));
                if !retypable {
                    let cap_name = &known.caps[cap.index()].as_ref().expect("resolved").name;
                    self.diags.push(
                        Diagnostic::new(
                            Code::AllocationNotRetypable,
                            a.object.span,
                            format!("`{cap_name}` cannot be retyped into `{}`", object.name),
                        )
                        .label("allocated from the donation")
                        .with_secondary(donation.span(), "the donation")
                        .help(format!(
                            "add `{}` to the `into` list of `retype {cap_name}`",
                            object.name
                        )),
                    );
                    *ok = false;
                    continue;
                }
            }
            allocations.push((
                model::Allocation {
                    object: model::ObjectId(oid as u32),
                    arg,
                    size_bits,
                    count,
                },
                object.align_bits_for(size_bits),
            ));
        }

        // Out-of-budget error.
        let mut out_of_budget = None;
        match (method.out_of_budget.as_slice(), errors) {
            ([], _) => {
                self.diags.push(
                    Diagnostic::new(
                        Code::OutOfBudgetError,
                        donation.span(),
                        format!("`{mname}` does not say which error means the donation ran out"),
                    )
                    .label("a donation needs an out-of-budget error")
                    .help("add `out_of_budget OutOfBudget;` and list `OutOfBudget` in `errors`"),
                );
                *ok = false;
            }
            ([v, rest @ ..], Some(e)) => {
                if let Some(extra) = rest.first() {
                    self.diags.push(
                        Diagnostic::new(
                            Code::DuplicateStatement,
                            extra.span,
                            "`out_of_budget` is given twice",
                        )
                        .label("given again here")
                        .with_secondary(v.span, "first given here")
                        .help("keep one"),
                    );
                    *ok = false;
                }
                let set = &known.error_sets[e];
                match set.variants.iter().position(|x| x.name == v.name) {
                    Some(i) if error_indices.contains(&i) => out_of_budget = Some(i),
                    Some(_) => {
                        self.diags.push(
                            Diagnostic::new(
                                Code::OutOfBudgetError,
                                v.span,
                                format!("`{}` is not among the errors `{mname}` returns", v.name),
                            )
                            .label("the out-of-budget error")
                            .help(format!("add `{}` to the method's `errors` clause", v.name)),
                        );
                        *ok = false;
                    }
                    None => {
                        let names: Vec<&str> =
                            set.variants.iter().map(|x| x.name.as_str()).collect();
                        self.unknown(v, &format!("error of `{}`", set.name), names);
                        *ok = false;
                    }
                }
            }
            (_, None) => *ok = false,
        }

        // The proof: worst case fits in the minimum donation.
        let (Some(kind), Some(min_bytes)) = (donation_kind, min_bytes) else {
            *ok = false;
            return None;
        };
        if !*ok {
            return None;
        }
        allocations.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.size_bits.cmp(&a.0.size_bits)));
        let mut cursor: u64 = 0;
        let mut steps = Vec::new();
        for (a, align_bits) in &allocations {
            let name = &known.objects[a.object.index()]
                .as_ref()
                .expect("checked")
                .name;
            let shown = match known.objects[a.object.index()]
                .as_ref()
                .and_then(|o| o.size.param.as_ref())
            {
                Some(_) => format!("{name}({})", a.arg),
                None => name.clone(),
            };
            let align = 1u64 << align_bits;
            let total = a.count.checked_mul(1u64 << a.size_bits).and_then(|t| {
                cursor
                    .checked_next_multiple_of(align)
                    .and_then(|c| c.checked_add(t))
            });
            let Some(end) = total else {
                self.diags.push(
                    Diagnostic::new(
                        Code::Overflow,
                        method.name.span,
                        format!("the worst-case allocation of `{mname}` overflows 64 bits"),
                    )
                    .label("at this method")
                    .help("allocate fewer objects per call"),
                );
                *ok = false;
                return None;
            };
            steps.push(format!(
                "{} x {shown} = {} x {} = {} bytes",
                a.count,
                a.count,
                1u64 << a.size_bits,
                a.count << a.size_bits
            ));
            cursor = end;
        }
        if cursor > min_bytes {
            let mut d = Diagnostic::new(
                Code::DonationTooSmall,
                donation.span(),
                format!("`{mname}` may allocate more than its caller donates"),
            )
            .label(format!("at least {} donated", bytes(min_bytes)));
            for a in &method.allocations {
                d = d.with_secondary(a.span, "allocated per call");
            }
            for step in steps {
                d = d.note(step);
            }
            d = d
                .note(format!("worst case, placed largest alignment first: {} > {} donated", bytes(cursor), bytes(min_bytes)))
                .help(format!("raise the minimum donation to at least {cursor} bytes, or allocate less per call"));
            self.diags.push(d);
            *ok = false;
            return None;
        }
        Some(model::Donation {
            kind,
            min_bytes,
            allocations: allocations.into_iter().map(|(a, _)| a).collect(),
            worst_case_bytes: cursor,
            out_of_budget: out_of_budget.expect("checked above"),
        })
    }

    fn amplification(
        &mut self,
        span: Span,
        cap: &model::CapType,
        right: &str,
        rights: &[model::Right],
    ) {
        let carried: Vec<&str> = cap
            .rights
            .iter()
            .map(|r| rights[r.index()].name.as_str())
            .collect();
        let note = if carried.is_empty() {
            format!("`{}` carries no rights", cap.name)
        } else {
            format!("`{}` carries at most {}", cap.name, list(&carried))
        };
        self.diags.push(
            Diagnostic::new(
                Code::RightsAmplification,
                span,
                format!("`{}` can never carry the right `{right}`", cap.name),
            )
            .label("required here")
            .with_secondary(cap.span, "cap type declared here")
            .note(note)
            .help(format!(
                "add `{right}` to the `rights(...)` field of `{}`, or do not require it",
                cap.name
            )),
        );
    }

    fn not_valid_here(&mut self, span: Span, what: &str, why: &str, fix: &str) {
        self.diags.push(
            Diagnostic::new(Code::NotValidHere, span, format!("{what} is not valid"))
                .label("not valid here")
                .note(why.to_string())
                .help(fix.to_string()),
        );
    }
}
