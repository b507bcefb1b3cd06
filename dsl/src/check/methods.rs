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

use std::collections::{BTreeMap, BTreeSet};

use crate::ast::{self, ParamType, Scalar, Transfer};
use crate::diag::{Code, Diagnostic};
use crate::model::{self, CapId, ErrorSetId, ParamKind, RightId};
use crate::source::Span;

use super::caps::literal;
use super::eval::bytes;
use super::sessions::{SessionKnown, sized_by_argument};
use super::{Ctx, TypeSym, list, types};

/// The largest label a method may have: a Rust enum's discriminant on a
/// 32-bit target.
const MAX_LABEL: u64 = (1 << 31) - 1;

/// The session of the interface a method is in.
#[derive(Clone, Copy)]
pub(super) struct Context<'s> {
    /// The checked session, if it checked.
    session: Option<&'s model::Session>,
    /// Whether the interface has a `session` block (checked or not).
    in_session: bool,
    /// The set's error set, if it resolved.
    errors: Option<usize>,
    /// Whether the set is a callback interface (`callback interface`).
    callback: bool,
}

/// Whether a method set is kernel invocations or an RPC interface.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum SetKind {
    Invocations,
    Interface,
}

/// What the method checks need from earlier passes.
pub(super) struct Known<'m> {
    pub(super) target: &'m model::Target,
    pub(super) objects: &'m [Option<model::Object>],
    pub(super) caps: &'m [Option<model::CapType>],
    pub(super) rights: &'m [model::Right],
    pub(super) retypes: &'m [model::Retype],
    pub(super) error_sets: &'m [model::ErrorSet],
    pub(super) derives: &'m [model::Derive],
}

impl Ctx<'_> {
    // One argument per earlier pass's result, as `Known` holds them.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn check_methods(
        &mut self,
        target: Option<&model::Target>,
        objects: &[Option<model::Object>],
        caps: &[Option<model::CapType>],
        rights: &[model::Right],
        retypes: &[model::Retype],
        error_sets: &[model::ErrorSet],
        derives: &[model::Derive],
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
            derives,
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
        if let (SetKind::Invocations, Some(e)) = (kind, errors)
            && known.error_sets[e].typed
        {
            let typed = &known.error_sets[e];
            self.diags.push(
                Diagnostic::new(
                    Code::TypedErrorsInInvocations,
                    set.errors.span,
                    format!("kernel invocations on `{}` return `{}`, whose payloads have types", set.name.name, typed.name),
                )
                .label("an error set with typed payloads")
                .with_secondary(typed.span, "declared here")
                .note("a kernel's errors carry payload words (seL4's), which the kernel writes; typed payloads are laid out as RPC message values")
                .help(format!("give `{}`'s payloads as bare word names (`index` rather than `index: u32`), or return another set", typed.name)),
            );
            ok = false;
        }
        let labels = self.labels(item, set, kind, known.target);
        ok &= labels.is_some();
        let labels = labels.unwrap_or_default();
        let sk = SessionKnown {
            objects: known.objects,
            caps: known.caps,
            error_sets: known.error_sets,
        };
        if let (Some(mark), Some(decl)) = (set.callback, &set.session) {
            self.diags.push(
                Diagnostic::new(
                    Code::CallbackReply,
                    decl.span,
                    format!("callback interface `{}` has a session", set.name.name),
                )
                .label("not valid in a callback interface")
                .with_secondary(mark, "a callback interface")
                .note("a callback interface's messages go from a server to a client that bound them; the server keeps the bound cap, and the interface the client called to bind it pays for that")
                .help("remove the `session` block; charge what the server keeps to the session of the interface whose method binds it"),
            );
            ok = false;
        }
        let session = match &set.session {
            Some(decl) if set.callback.is_none() => match self.check_session(decl, errors, &sk) {
                Ok(s) => Some(s),
                Err(()) => {
                    ok = false;
                    None
                }
            },
            _ => None,
        };
        let in_session = set.session.is_some() && set.callback.is_none();
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
            let label = labels.get(index).copied().unwrap_or(0);
            let context = Context {
                session: session.as_ref(),
                in_session,
                errors,
                callback: set.callback.is_some(),
            };
            match self.check_method(method, label, kind, cap, known, context) {
                Some(m) => methods.push(m),
                None => ok = false,
            }
        }
        if ok && in_session {
            ok &= self.resolve_refunds(set, &mut methods);
        }
        ok &= self.error_numbers_fit(&methods, known);
        ok.then(|| model::MethodSet {
            docs: item.docs.clone(),
            name: set.name.name.clone(),
            cap: cap.map(|c| CapId(c as u32)),
            errors: ErrorSetId(errors.expect("ok") as u32),
            methods,
            session,
            callback: set.callback.is_some(),
            span: set.name.span,
        })
    }

    /// Every error a method may answer is numbered (its index + 1) below
    /// the labels the target's `label_bits` keep for protocol errors: its
    /// number is its reply's label (`E0725`). Reported once per error set.
    fn error_numbers_fit(&mut self, methods: &[model::Method], known: &Known<'_>) -> bool {
        let max = known.target.last_method_label();
        let mut reported = BTreeSet::new();
        for method in methods {
            let set = &known.error_sets[method.error_set.0 as usize];
            let Some(&worst) = method.errors.iter().max() else {
                continue;
            };
            let number = worst as u64 + 1;
            if number <= max || !reported.insert(method.error_set) {
                continue;
            }
            let variant = &set.variants[worst];
            self.diags.push(
                Diagnostic::new(
                    Code::ErrorNumberPastLabels,
                    variant.span,
                    format!(
                        "error `{}::{}` is number {number}, past the labels the target leaves errors",
                        set.name, variant.name
                    ),
                )
                .label(format!("number {number}, above {max}"))
                .with_secondary(method.span, format!("method `{}` may answer it", method.name))
                .note(format!(
                    "an error's number is its reply's label; the target's `label_bits = {}` leaves labels up to {}, of which the top six are protocol errors' and a dead server's",
                    known.target.label_bits,
                    known.target.last_label()
                ))
                .help("split the error set, or raise the target's `label_bits`"),
            );
        }
        reported.is_empty()
    }

    fn check_method(
        &mut self,
        method: &ast::Method,
        label: u32,
        kind: SetKind,
        cap: Option<usize>,
        known: &Known<'_>,
        context: Context<'_>,
    ) -> Option<model::Method> {
        let mut ok = true;
        let mname = &method.name.name;
        let oneway = self.oneway(method, kind);
        ok &= oneway.is_some();
        // Every message of a callback interface is one-way: a server never
        // waits for a client.
        let oneway = oneway.unwrap_or(false) || context.callback;
        if context.callback {
            ok &= self.check_callback_message(method);
        } else if oneway {
            ok &= self.check_oneway(method);
        }
        let idempotent = self.idempotent(method, kind, oneway);
        ok &= idempotent.is_some();
        let idempotent = idempotent.unwrap_or(false);
        let own_set = self.method_error_set(method, kind, context.errors);
        ok &= own_set.is_ok();
        // After an error in the method's own set, its variants are not
        // looked up in another.
        let errors = match own_set {
            Ok(own) => own.or(context.errors),
            Err(()) => None,
        };

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
                if let ParamType::Cap {
                    transfer: Transfer::Lend,
                    ..
                } = &p.ty
                    && which == 1
                {
                    self.not_valid_here(
                        p.ty_span,
                        "`lend` in a result",
                        "a lent cap is revoked when the call ends, so a lent result would vanish on arrival",
                        "return the cap with `grant cap ...`",
                    );
                    ok = false;
                    continue;
                }
                // An interface's last cap result may be `| null` (Flounder's
                // null cap beside an error value): its reply then carries
                // one cap fewer, as seL4 stops a transfer at a null cap.
                let last_cap = params
                    .iter()
                    .rposition(|q| matches!(q.ty, ParamType::Cap { .. }));
                let trailing_null = matches!(&p.ty, ParamType::Cap { alternatives, null, .. }
                        if alternatives.is_empty() && null.len() == 1)
                    && which == 1
                    && kind == SetKind::Interface
                    && last_cap == params.iter().position(|q| std::ptr::eq(q, p));
                if let ParamType::Cap {
                    alternatives, null, ..
                } = &p.ty
                    && (!alternatives.is_empty() || !null.is_empty())
                    && (which == 1 || kind == SetKind::Interface)
                    && !trailing_null
                {
                    let span = alternatives
                        .first()
                        .map(|a| a.span)
                        .into_iter()
                        .chain(null.first().copied())
                        .min()
                        .expect("one alternative");
                    self.diags.push(
                        Diagnostic::new(
                            Code::CapAlternativeNotHere,
                            span,
                            if which == 1 {
                                format!("result `{}` may be one of several caps", p.name.name)
                            } else {
                                format!("RPC parameter `{}` may be one of several caps", p.name.name)
                            },
                        )
                        .label("not valid here")
                        .note("`cap A | B` and `cap A | null` are parameters of kernel invocations, which the kernel's decoder checks against each alternative (seL4's optional fault endpoint, its TCB-or-notification bind); an RPC's last cap result may be `cap A | null`")
                        .help(if alternatives.is_empty() && which == 1 && kind == SetKind::Interface {
                            "make it the last cap result: a reply leaves out only its last cap"
                        } else {
                            "name one cap type"
                        }),
                    );
                    ok = false;
                    continue;
                }
                if let ParamType::Lease { .. } = &p.ty
                    && which == 1
                {
                    self.not_valid_here(
                        p.ty_span,
                        "a lease in a result",
                        "a lease lends the caller's memory to the server for the call: the server writes its answer into a `lease(write)` parameter",
                        "make it a parameter: `name: lease(write) [T; ..=N]`",
                    );
                    ok = false;
                    continue;
                }
                let range = self.param_range(p, kind == SetKind::Interface);
                let pin = self.param_at(p, kind, which == 1);
                let values = self.param_enumeration(p, kind);
                let bitfield = self.param_bitfield(p, kind);
                let checked = match (values, bitfield) {
                    (Some(Some(e)), _) => Some(ParamKind::Scalar(Scalar::Uint(e.1))),
                    (_, Some(Some((_, 1)))) => Some(ParamKind::Scalar(Scalar::Word)),
                    (_, Some(Some((_, words)))) => Some(ParamKind::Array {
                        element: Scalar::Word,
                        len: words,
                        words,
                    }),
                    (Some(None), _) | (_, Some(None)) => None,
                    (None, None) => self.check_param(p, kind, known),
                };
                match (checked, range, pin) {
                    (Some(param_kind), Ok(range), Ok(pin)) => {
                        let at = match pin {
                            None => None,
                            Some(pin) => {
                                let bitfield = bitfield.flatten().is_some();
                                match self.packed(p, &param_kind, bitfield, pin, known.target) {
                                    Some(at) => Some(at),
                                    None => {
                                        ok = false;
                                        continue;
                                    }
                                }
                            }
                        };
                        let binds = match &p.binds {
                            Some(b) => {
                                match self.check_binding(p, b, which == 1, kind, context.callback) {
                                    Some(i) => Some(i),
                                    None => {
                                        ok = false;
                                        continue;
                                    }
                                }
                            }
                            None => None,
                        };
                        lists[which].push(model::MethodParam {
                            name: p.name.name.clone(),
                            kind: param_kind,
                            range,
                            values: values.flatten().map(|(id, _)| id),
                            bitfield: bitfield.flatten().map(|(id, _)| id),
                            binds,
                            at,
                            span: p.name.span,
                        })
                    }
                    _ => ok = false,
                }
            }
        }
        ok &= self.packed_overlap(&lists[0]);
        let [params, results] = lists.clone();
        // (A binding that failed is reported alone.)
        if let Some(p) = method.params.iter().find(|p| {
            params
                .iter()
                .any(|q| q.name == p.name.name && q.binds.is_some())
        }) {
            ok &= self.binding_paid(method, p, oneway);
        }

        // Rights the invoked cap must carry.
        let mut requires = Vec::new();
        let mut listed: BTreeMap<&str, Span> = BTreeMap::new();
        for r in &method.requires {
            if let Some(first) = listed.insert(&r.name, r.span) {
                self.listed_twice(r, first, "right");
                ok = false;
                continue;
            }
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
            // `errors of Set;` alone: every variant of the set.
            if method.errors.is_empty() && !method.error_sets.is_empty() {
                error_indices.extend(0..set.variants.len());
            }
            let mut listed: BTreeMap<&str, Span> = BTreeMap::new();
            for v in &method.errors {
                if let Some(first) = listed.insert(&v.name, v.span) {
                    self.listed_twice(v, first, "error");
                    ok = false;
                    continue;
                }
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

        // Donation and allocations, what the session pays, or what the
        // server does. (A one-way method's clauses are refused above,
        // `E0723`.)
        let sk = SessionKnown {
            objects: known.objects,
            caps: known.caps,
            error_sets: known.error_sets,
        };
        let mut charges = None;
        let mut server_pays = None;
        let session_clause = method
            .keeps
            .first()
            .map(|k| (k.span, "`keeps`"))
            .or_else(|| method.refunds.first().map(|r| (r.span, "`refunds`")))
            .or_else(|| {
                method
                    .server_pays
                    .first()
                    .map(|(_, s)| (*s, "`server_pays`"))
            });
        let donation = if oneway {
            if let Some((span, what)) = session_clause {
                self.diags.push(
                    Diagnostic::new(
                        Code::OnewayDonation,
                        span,
                        format!("one-way method `{mname}` has {what}"),
                    )
                    .label("not valid in a one-way method")
                    .note("a one-way message is sent without waiting and never answered: if a charge did not fit, nobody could be told")
                    .help("remove the clause, or remove `#[oneway]` to make it a call"),
                );
                ok = false;
            }
            None
        } else if kind == SetKind::Invocations {
            if let Some((span, what)) = session_clause {
                self.not_valid_here(
                    span,
                    &format!("{what} in a kernel invocation"),
                    "the kernel keeps nothing for a caller beyond what its caps name",
                    "remove the clause",
                );
                ok = false;
            }
            self.check_donation(method, kind, &error_indices, errors, known, &mut ok)
        } else {
            match self.check_server_pays(method, &sk) {
                Ok(bound) => server_pays = bound,
                Err(()) => ok = false,
            }
            let sized = sized_by_argument(method);
            let per_call_only = !method.donations.is_empty() || context.session.is_none();
            if let (Some(span), true, false) = (
                sized,
                per_call_only,
                context.in_session && method.donations.is_empty(),
            ) {
                self.diags.push(
                    Diagnostic::new(
                        Code::ChargeInDonation,
                        span,
                        format!("`{mname}` allocates by an argument's size, but no session pays"),
                    )
                    .label("sized by an argument")
                    .note("a per-call donation is proved against its worst case; a charge sized by the actual argument is made to the client's session")
                    .help("open the interface as a session and remove the method's `donates`, or allocate a constant size"),
                );
                ok = false;
                None
            } else if !method.donations.is_empty() {
                if let Some(a) = method.allocations.iter().find(|a| a.handed_to.is_some()) {
                    self.diags.push(
                        Diagnostic::new(
                            Code::ChargeInDonation,
                            a.span,
                            format!("`{mname}` hands out what a per-call donation paid for"),
                        )
                        .label("handed out")
                        .note("a per-call donation pays for one call; what outlives it is charged to the client's session, and follows what is handed out")
                        .help("open the interface as a session and remove the method's `donates`, or remove `for ...`"),
                    );
                    ok = false;
                }
                if !context.in_session {
                    ok &= self.unpaid_state(method, false);
                } else if let Some(session) = context.session {
                    match self.check_charges_kept(method, session, &lists, &error_indices, &sk) {
                        Ok(c) => charges = c,
                        Err(()) => ok = false,
                    }
                }
                self.check_donation(method, kind, &error_indices, errors, known, &mut ok)
            } else if !method.server_pays.is_empty() {
                ok &= self.unpaid_state(method, true);
                self.no_budget_error(method, &mut ok);
                None
            } else if context.in_session {
                if let Some(session) = context.session {
                    match self.check_charges(
                        method,
                        session,
                        &lists[0],
                        &lists[1],
                        &error_indices,
                        &sk,
                    ) {
                        Ok(c) => charges = c,
                        Err(()) => ok = false,
                    }
                }
                self.no_budget_error(method, &mut ok);
                None
            } else {
                ok &= self.unpaid_state(method, false);
                self.check_donation(method, kind, &error_indices, errors, known, &mut ok)
            }
        };

        // Message limits.
        let target = known.target;
        for (which, list_) in [("request", &params), ("reply", &results)] {
            let mut words = 0u64;
            let mut parts = Vec::new();
            let mut cap_parts = Vec::new();
            for p in list_.iter() {
                match &p.kind {
                    ParamKind::Scalar(_) if p.at.is_some() => {}
                    ParamKind::Scalar(_) => {
                        words += 1;
                        parts.push(format!("{} 1", p.name));
                    }
                    ParamKind::Array { words: w, .. } => {
                        words += w;
                        parts.push(format!("{} {w}", p.name));
                    }
                    ParamKind::Data {
                        words: w, bytes, ..
                    } => {
                        words = words.saturating_add(*w);
                        parts.push(format!("{} {w} ({bytes} bytes)", p.name));
                    }
                    ParamKind::Cap { .. } | ParamKind::AnyCap { .. } => {
                        cap_parts.push(format!("`{}`", p.name))
                    }
                    ParamKind::Lease(_) => {
                        words += model::Lease::WORDS;
                        parts.push(format!("{} 2 (lease offset and length)", p.name));
                        cap_parts.push(format!("the frame of lease `{}`", p.name));
                    }
                }
            }
            // A donated Untyped travels with the request, whether or not the
            // donation itself checked.
            if which == "request"
                && kind == SetKind::Interface
                && let Some(ast::Donation::Untyped { cap, .. }) = method.donations.first()
            {
                cap_parts.push(format!("the donated `{}`", cap.name));
            }
            // Packed parameters take the words they name, the others the
            // words left over ([`model::Layout::of`]).
            let packed_words: BTreeSet<u64> =
                list_.iter().filter_map(|p| p.at.map(|a| a.word)).collect();
            if !packed_words.is_empty() {
                let names: Vec<&str> = list_
                    .iter()
                    .filter(|p| p.at.is_some())
                    .map(|p| p.name.as_str())
                    .collect();
                parts.push(format!(
                    "{} packed in {}",
                    names.join(", "),
                    packed_words.len()
                ));
                words = model::Layout::of(list_).words;
            }
            let caps = cap_parts.len() as u64;
            // An RPC message may take several channel messages (`fragments`).
            let (limit, setting) = if kind == SetKind::Interface && target.fragments > 1 {
                (
                    target.rpc_words(),
                    format!(
                        "`message_words = {}` in `fragments = {}`",
                        target.message_words, target.fragments
                    ),
                )
            } else {
                (
                    u64::from(target.message_words),
                    format!("`message_words = {}`", target.message_words),
                )
            };
            if words > limit {
                self.diags.push(
                    Diagnostic::new(
                        Code::MessageTooLong,
                        method.name.span,
                        format!("the {which} of `{mname}` takes {words} message words"),
                    )
                    .label(format!("more than {limit} words"))
                    .with_secondary(target.span, setting)
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
                    .note(format!("capabilities: {}", join_and(&cap_parts)))
                    .help("pass several caps in one CNode, or split the method"),
                );
                ok = false;
            }
        }
        let creates = self.check_creates(method, kind == SetKind::Invocations, cap, &params, known);
        ok &= creates.is_ok();
        let creates = creates.unwrap_or(None);
        if !ok {
            return None;
        }
        Some(model::Method {
            docs: method.docs.clone(),
            name: mname.clone(),
            label,
            request_words: model::Layout::of(&params).words,
            reply_words: model::Layout::of(&results).words,
            params,
            results,
            requires,
            // (Without a set the whole block failed, reported.)
            error_set: ErrorSetId(errors? as u32),
            errors: error_indices,
            idempotent,
            donation,
            oneway,
            creates,
            charges,
            server_pays,
            span: method.name.span,
        })
    }

    /// The error set a method's `errors ... of Set;` clauses name: `None`
    /// without one; `Err` after an error: an `of` in a kernel invocation,
    /// two sets named (`E0761`), or a method with a set of its own that
    /// donates or charges its session, whose out-of-budget error is its
    /// interface's (`E0762`).
    fn method_error_set(
        &mut self,
        method: &ast::Method,
        kind: SetKind,
        block: Option<usize>,
    ) -> Result<Option<usize>, ()> {
        let Some(first) = method.error_sets.first() else {
            return Ok(None);
        };
        let mname = &method.name.name;
        if kind == SetKind::Invocations {
            self.diags.push(
                Diagnostic::new(
                    Code::MethodErrorSet,
                    first.span,
                    format!("kernel invocation `{mname}` names an error set of its own"),
                )
                .label("not valid in a kernel invocation")
                .note("a kernel's invocations on one cap type return the errors of their block's set, which the kernel's ABI numbers")
                .help(format!("remove `of {}`, and list variants of the block's error set", first.name)),
            );
            return Err(());
        }
        let set = self
            .resolve(first, "an error set", |s| match s {
                TypeSym::Errors(i) => Some(i),
                _ => None,
            })
            .ok_or(())?;
        if let Some(other) = method.error_sets.iter().find(|o| o.name != first.name) {
            self.diags.push(
                Diagnostic::new(
                    Code::MethodErrorSet,
                    other.span,
                    format!("`{mname}` names two error sets, `{}` and `{}`", first.name, other.name),
                )
                .label("a second error set")
                .with_secondary(first.span, "the first")
                .note("a method's errors are of one set: its reply's label is a number in that set")
                .help(format!(
                    "declare one set with the variants of both (an error of one set may carry the other's: `Inner(error: {})`)",
                    other.name
                )),
            );
            return Err(());
        }
        let charges = method
            .donations
            .first()
            .map(|d| d.span())
            .or_else(|| method.allocations.first().map(|a| a.span))
            .or_else(|| method.keeps.first().map(|k| k.span));
        if let (Some(span), true) = (charges, Some(set) != block) {
            self.diags.push(
                Diagnostic::new(
                    Code::MethodErrorSetCharges,
                    span,
                    format!("`{mname}` has an error set of its own and pays for memory"),
                )
                .label("a donation or a charge to the session")
                .with_secondary(first.span, "its own error set")
                .note("a donation or session that runs out is answered with an out-of-budget error of the interface's set")
                .help("return the interface's errors (remove `of ...`), or move the method to an interface whose error set is this one"),
            );
            return Err(());
        }
        Ok(Some(set))
    }

    /// `out_of_budget` in a method without a donation (`E0709`): a session's
    /// error is the session's.
    fn no_budget_error(&mut self, method: &ast::Method, ok: &mut bool) {
        if let Some(o) = method.out_of_budget.first() {
            self.not_valid_here(
                o.span,
                "`out_of_budget` without a donation",
                "there is no per-call budget to run out of; a session's error is given in its `session` block",
                "remove the clause",
            );
            *ok = false;
        }
    }

    /// What a method with its own donation, in a session interface, keeps
    /// for its session: only its `keeps` clauses (its allocations are paid
    /// by the donation).
    fn check_charges_kept(
        &mut self,
        method: &ast::Method,
        session: &model::Session,
        lists: &[Vec<model::MethodParam>; 2],
        error_indices: &[usize],
        sk: &SessionKnown<'_>,
    ) -> Result<Option<model::Charges>, ()> {
        let kept = ast::Method {
            allocations: Vec::new(),
            ..method.clone()
        };
        self.check_charges(&kept, session, &lists[0], &lists[1], error_indices, sk)
    }

    /// Whether `method` is one-way: its `#[oneway]` (bare, once, on a
    /// method of an interface; `E0404` otherwise). `None` after an error.
    fn oneway(&mut self, method: &ast::Method, kind: SetKind) -> Option<bool> {
        self.flag(
            method,
            kind,
            "oneway",
            "a kernel invocation always answers its caller",
            "a method is one-way or not",
        )
    }

    /// Whether `method` is `#[idempotent]` (bare, once, on a method of an
    /// interface that is not one-way: `E0404`, `E0763`). `None` after an
    /// error.
    fn idempotent(&mut self, method: &ast::Method, kind: SetKind, oneway: bool) -> Option<bool> {
        let idempotent = self.flag(
            method,
            kind,
            "idempotent",
            "the kernel's invocations are not called again when a server dies",
            "a method is idempotent or not",
        )?;
        if idempotent && oneway {
            let attr = method
                .attrs
                .iter()
                .find(|a| a.name.name == "idempotent")
                .expect("the flag is an attribute");
            self.diags.push(
                Diagnostic::new(
                    Code::IdempotentOneway,
                    attr.span,
                    format!("one-way method `{}` is `#[idempotent]`", method.name.name),
                )
                .label("nothing to call again")
                .note("a client calls an idempotent method again when its server died before replying; a one-way message is never replied to, so its sender cannot tell")
                .help("remove `#[idempotent]`, or remove `#[oneway]` to make it a call"),
            );
            return None;
        }
        Some(idempotent)
    }

    /// Whether the bare attribute `#[name]` is on `method` (once, on a
    /// method of an interface; `E0404` otherwise). `None` after an error.
    fn flag(
        &mut self,
        method: &ast::Method,
        kind: SetKind,
        name: &str,
        not_invocation: &str,
        bare: &str,
    ) -> Option<bool> {
        let mut first: Option<Span> = None;
        let mut ok = true;
        for attr in method.attrs.iter().filter(|a| a.name.name == name) {
            let problem = if kind == SetKind::Invocations {
                Some((
                    format!("`#[{name}]` on kernel invocation `{}`", method.name.name),
                    not_invocation.to_string(),
                    format!("remove `#[{name}]`"),
                ))
            } else if attr.has_args() {
                Some((
                    format!("`#[{name}]` takes no arguments"),
                    bare.to_string(),
                    format!("write `#[{name}]`"),
                ))
            } else if let Some(first) = first {
                self.diags.push(
                    Diagnostic::new(
                        Code::AttributeMisuse,
                        attr.span,
                        format!("`#[{name}]` is given twice on `{}`", method.name.name),
                    )
                    .label("given again here")
                    .with_secondary(first, "first given here")
                    .help("remove one of them"),
                );
                ok = false;
                continue;
            } else {
                None
            };
            match problem {
                Some((message, why, fix)) => {
                    self.diags.push(
                        Diagnostic::new(Code::AttributeMisuse, attr.span, message)
                            .label("not valid here")
                            .note(why)
                            .help(fix),
                    );
                    ok = false;
                }
                None => first = Some(attr.span),
            }
        }
        ok.then_some(first.is_some())
    }

    /// A one-way method's limits: it has no reply, so no results or errors
    /// (`E0722`), no donation or allocation, whose failure nobody could be
    /// told (`E0723`), and no lent caps, which nobody could take back once
    /// the server is done (`E0724`). `false` after an error.
    pub(super) fn check_oneway(&mut self, method: &ast::Method) -> bool {
        let mname = &method.name.name;
        let mut ok = true;
        let note = "a one-way message is sent without waiting and never answered";
        if let Some(first) = method.results.first() {
            self.diags.push(
                Diagnostic::new(
                    Code::OnewayReply,
                    first.name.span,
                    format!("one-way method `{mname}` has results"),
                )
                .label("a result needs a reply")
                .note(note)
                .help("remove the results, or remove `#[oneway]` to make it a call"),
            );
            ok = false;
        }
        if let Some(first) = method.errors.first().or(method.error_sets.first()) {
            self.diags.push(
                Diagnostic::new(
                    Code::OnewayReply,
                    first.span,
                    format!("one-way method `{mname}` declares errors"),
                )
                .label("an error needs a reply")
                .note(note)
                .help("remove the `errors` clause, or remove `#[oneway]` to make it a call"),
            );
            ok = false;
        }
        let donation = method
            .donations
            .first()
            .map(|d| (d.span(), "donates"))
            .or_else(|| method.allocations.first().map(|a| (a.span, "allocates")))
            .or_else(|| {
                method
                    .out_of_budget
                    .first()
                    .map(|o| (o.span, "has an out-of-budget error"))
            });
        if let Some((span, what)) = donation {
            self.diags.push(
                Diagnostic::new(
                    Code::OnewayDonation,
                    span,
                    format!("one-way method `{mname}` {what}"),
                )
                .label("not valid in a one-way method")
                .note(format!(
                    "{note}: if the donation fell short, or an allocation failed, nobody could be told"
                ))
                .help("remove the clause, or remove `#[oneway]` to make it a call"),
            );
            ok = false;
        }
        for p in &method.params {
            if let ParamType::Cap {
                transfer: Transfer::Lend,
                ..
            }
            | ParamType::Lease { .. } = &p.ty
            {
                self.diags.push(
                    Diagnostic::new(
                        Code::OnewayLend,
                        p.ty_span,
                        format!("one-way method `{mname}` lends `{}`", p.name.name),
                    )
                    .label("a lent cap must come back")
                    .note(format!(
                        "{note}: its sender cannot know when the server is done with a lent cap, so it could never take it back"
                    ))
                    .help("grant the cap with `grant cap ...` (the server keeps its copy), or remove `#[oneway]` to make it a call"),
                );
                ok = false;
            }
        }
        ok
    }

    /// The index of the declaration a kernel invocation's parameter or
    /// result names, when `pick` takes its symbol (an enumeration, a
    /// bitfield); the name is then used and the parameter's attributes
    /// checked. `None` for any other type, and in an RPC interface, where
    /// such a name is of the wrong kind, reported with the message types.
    fn param_named(
        &mut self,
        p: &ast::Param,
        kind: SetKind,
        pick: impl Fn(TypeSym) -> Option<usize>,
    ) -> Option<usize> {
        let ParamType::Data(ast::TypeExpr {
            kind: ast::TypeExprKind::Named(name),
            ..
        }) = &p.ty
        else {
            return None;
        };
        let i = pick(self.types.get(&name.name)?.0)?;
        if kind == SetKind::Interface {
            return None;
        }
        self.used_types.insert(name.name.clone());
        self.param_attributes(p, kind)?;
        Some(i)
    }

    /// A kernel invocation's parameter or result of an enumeration's type:
    /// `Some(Some((enumeration, bits)))`, `Some(None)` when the
    /// enumeration failed (reported with it), `None` for any other type
    /// ([`Self::param_named`]).
    fn param_enumeration(
        &mut self,
        p: &ast::Param,
        kind: SetKind,
    ) -> Option<Option<(model::EnumerationId, u32)>> {
        let i = self.param_named(p, kind, |t| match t {
            TypeSym::Enumeration(i) => Some(i),
            _ => None,
        })?;
        let bits = self.enumerations.get(i)?.as_ref().map(|e| e.bits);
        Some(bits.map(|b| (model::EnumerationId(i as u32), b)))
    }

    /// A kernel invocation's parameter or result of a bitfield's type:
    /// `Some(Some((bitfield, words)))`, `Some(None)` when the bitfield
    /// failed (reported with it), `None` for any other type
    /// ([`Self::param_named`]).
    fn param_bitfield(
        &mut self,
        p: &ast::Param,
        kind: SetKind,
    ) -> Option<Option<(model::BitfieldId, u64)>> {
        let i = self.param_named(p, kind, |t| match t {
            TypeSym::Bitfield(i) => Some(i),
            _ => None,
        })?;
        let words = self.bitfields.get(i)?.as_ref().map(|b| b.words);
        Some(words.map(|w| (model::BitfieldId(i as u32), w)))
    }

    fn check_param(
        &mut self,
        p: &ast::Param,
        kind: SetKind,
        known: &Known<'_>,
    ) -> Option<ParamKind> {
        let unchecked = self.param_attributes(p, kind)?;
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
                let bits = match s {
                    Scalar::Word => 64,
                    Scalar::Bool => 1,
                    Scalar::Uint(b) => *b as u64,
                };
                let per_word = 64 / bits;
                let message_words = if kind == SetKind::Interface {
                    known.target.rpc_words()
                } else {
                    u64::from(known.target.message_words)
                };
                // Beyond this no element type fits; below it, a too-long array
                // is a too-long message (E0700), reported with the arithmetic.
                let max = message_words * 64;
                if n == 0 {
                    self.diags.push(
                        Diagnostic::new(
                            Code::EmptyArray,
                            len.span,
                            format!("array `{}` has no elements", p.name.name),
                        )
                        .label("length 0")
                        .note("an array carries at least one element")
                        .help("give the largest length it may need, or remove the parameter"),
                    );
                    return None;
                }
                if n > max {
                    self.diags.push(
                        Diagnostic::new(
                            Code::EmptyArray,
                            len.span,
                            format!("array `{}` has {n} elements", p.name.name),
                        )
                        .label(format!("more than {max}"))
                        .note(format!(
                            "a message has {message_words} words, and a word holds at most 64 elements"
                        ))
                        .help("pass large data in a shared frame (a `lend cap`) instead of the message"),
                    );
                    return None;
                }
                Some(ParamKind::Array {
                    element: *s,
                    len: n,
                    words: n.div_ceil(per_word),
                })
            }
            ParamType::Data(e) => {
                if kind == SetKind::Invocations {
                    self.not_valid_here(
                        p.ty_span,
                        "this type in a kernel invocation",
                        "the kernel decodes an invocation's words itself: they are `word`, `bool`, `uN` and fixed arrays of them; records, enums, signed integers, bounded arrays, strings and options are for RPC interfaces",
                        "use `word`, `bool`, `uN` or `[uN; N]`",
                    );
                    return None;
                }
                let ty = self.resolve_ty(e)?;
                let sizes = &self.data_bytes;
                let named = |j: usize| sizes.get(j).copied().flatten();
                match types::checked_bytes(&ty, &named) {
                    Ok(bytes) => Some(ParamKind::Data {
                        ty,
                        bytes,
                        words: bytes.div_ceil(8),
                    }),
                    Err(types::NoSize::Failed) => None,
                    Err(types::NoSize::Overflow) => {
                        self.diags.push(
                            Diagnostic::new(
                                Code::Overflow,
                                p.ty_span,
                                format!("the size of `{}` overflows 64 bits", p.name.name),
                            )
                            .label("too large to lay out")
                            .help("make its arrays and strings shorter"),
                        );
                        None
                    }
                }
            }
            ParamType::Lease { cap, rights, ty } => {
                if kind == SetKind::Invocations {
                    self.not_valid_here(
                        p.ty_span,
                        "a lease in a kernel invocation",
                        "a lease lends memory to another task for an RPC; the kernel reads a caller's frames through the caps it names",
                        "pass the frame as `cap FrameCap` with its offset and length",
                    );
                    return None;
                }
                self.check_lease(p, cap.as_ref(), rights, ty, known.objects, known.caps)
                    .map(ParamKind::Lease)
            }
            ParamType::Cap {
                transfer,
                cap,
                rights,
                alternatives,
                null,
            } if cap.name == "any" => {
                let qualified = rights
                    .first()
                    .map(|r| (r.span, "rights"))
                    .or(alternatives.first().map(|a| (a.span, "an alternative")))
                    .or(null.first().map(|n| (*n, "an alternative")))
                    .or(unchecked.then_some((p.name.span, "`#[unchecked]`")));
                if let Some((span, what)) = qualified {
                    self.diags.push(
                        Diagnostic::new(
                            Code::AnyCapQualified,
                            span,
                            format!("`{}: cap any` has {what}", p.name.name),
                        )
                        .label("not with `cap any`")
                        .note("`cap any` is a cap of any type with whatever rights it has: which rights a cap can carry depends on its type")
                        .help("write `cap any` alone, or name the cap type: `cap FrameCap(read)`"),
                    );
                    return None;
                }
                match (kind, transfer) {
                    (SetKind::Invocations, _) => {
                        self.not_valid_here(
                            cap.span,
                            "`cap any` in a kernel invocation",
                            "the decoder of a kernel invocation hands over the cap it looked up as its view, so it names the cap type",
                            &format!("name the cap type, with `#[unchecked]` if the method checks it: `#[unchecked] {}: cap T`", p.name.name),
                        );
                        None
                    }
                    (SetKind::Interface, Transfer::Lookup) => {
                        self.not_valid_here(p.ty_span, "a cap in an RPC without `grant`, `move` or `lend`", "between tasks a cap is given (`grant`: the sender keeps its own; `move`: the sender gives its own up) or lent for the call (`lend`)", "write `grant cap ...`, `move cap ...` or `lend cap ...`");
                        None
                    }
                    _ => Some(ParamKind::AnyCap {
                        transfer: *transfer,
                    }),
                }
            }
            ParamType::Cap {
                transfer,
                cap,
                rights,
                alternatives,
                null,
            } => {
                let id = self.resolve(cap, "a cap type", |s| match s {
                    TypeSym::Cap(i) => Some(i),
                    _ => None,
                })?;
                let others = self.cap_alternatives(
                    p,
                    (id, cap.span),
                    alternatives,
                    null,
                    unchecked,
                    rights,
                )?;
                match (kind, transfer) {
                    (SetKind::Invocations, Transfer::Grant | Transfer::Lend | Transfer::Move) => {
                        let keyword = match transfer {
                            Transfer::Grant => "grant",
                            Transfer::Move => "move",
                            _ => "lend",
                        };
                        let span = Span {
                            end: p.ty_span.start + keyword.len() as u32,
                            ..p.ty_span
                        };
                        self.not_valid_here(
                            span,
                            &format!("`{keyword}` in a kernel invocation"),
                            "the kernel looks extra caps up in the caller's CSpace; nothing is transferred",
                            &format!(
                                "remove `{keyword}`: write `{}: cap {}{}`",
                                p.name.name,
                                cap.name,
                                if rights.is_empty() {
                                    String::new()
                                } else {
                                    let names: Vec<&str> =
                                        rights.iter().map(|r| r.name.as_str()).collect();
                                    format!("({})", names.join(", "))
                                }
                            ),
                        );
                        return None;
                    }
                    (SetKind::Interface, Transfer::Lookup) => {
                        self.not_valid_here(p.ty_span, "a cap in an RPC without `grant`, `move` or `lend`", "between tasks a cap is given (`grant`: the sender keeps its own; `move`: the sender gives its own up) or lent for the call (`lend`)", "write `grant cap ...`, `move cap ...` or `lend cap ...`");
                        return None;
                    }
                    _ => {}
                }
                let cap_type = known.caps[id].as_ref()?;
                let mut ids: Vec<RightId> = Vec::new();
                let mut ok = true;
                let mut listed: BTreeMap<&str, Span> = BTreeMap::new();
                for r in rights {
                    if let Some(first) = listed.insert(&r.name, r.span) {
                        self.listed_twice(r, first, "right");
                        ok = false;
                        continue;
                    }
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
                    unchecked,
                    alternatives: others,
                    nullable: !null.is_empty(),
                })
            }
        }
    }

    /// The other cap types of `cap A | B | null` (`E0488`: a type or
    /// `null` twice; `E0489`: with required rights or `#[unchecked]`).
    fn cap_alternatives(
        &mut self,
        p: &ast::Param,
        first: (usize, Span),
        alternatives: &[ast::Ident],
        null: &[Span],
        unchecked: bool,
        rights: &[ast::Ident],
    ) -> Option<Vec<CapId>> {
        if alternatives.is_empty() && null.is_empty() {
            return Some(Vec::new());
        }
        let mut ok = true;
        if let Some(&again) = null.get(1) {
            self.diags.push(
                Diagnostic::new(
                    Code::CapAlternativeTwice,
                    again,
                    format!("`null` is an alternative of `{}` twice", p.name.name),
                )
                .label("again")
                .with_secondary(null[0], "first here")
                .help("write `| null` once"),
            );
            ok = false;
        }
        let mut seen: Vec<(usize, Span)> = vec![first];
        let mut others = Vec::new();
        for alt in alternatives {
            let Some(id) = self.resolve(alt, "a cap type", |s| match s {
                TypeSym::Cap(i) => Some(i),
                _ => None,
            }) else {
                ok = false;
                continue;
            };
            if let Some(&(_, at)) = seen.iter().find(|(s, _)| *s == id) {
                self.diags.push(
                    Diagnostic::new(
                        Code::CapAlternativeTwice,
                        alt.span,
                        format!(
                            "`{}` is an alternative of `{}` twice",
                            alt.name, p.name.name
                        ),
                    )
                    .label("named again")
                    .with_secondary(at, "first named here")
                    .help("name each cap type once"),
                );
                ok = false;
                continue;
            }
            seen.push((id, alt.span));
            others.push(CapId(id as u32));
        }
        let with = if unchecked {
            Some(
                "`#[unchecked]`: the decoder hands an unchecked cap over as looked up, so which alternative it is would not be known",
            )
        } else if !rights.is_empty() && !others.is_empty() {
            Some(
                "required rights: a right is one of a cap type's, and the alternatives are several types",
            )
        } else {
            None
        };
        if let Some(why) = with {
            let span = alternatives
                .first()
                .map(|a| a.span)
                .into_iter()
                .chain(null.first().copied())
                .min()
                .expect("one alternative");
            self.diags.push(
                Diagnostic::new(
                    Code::CapAlternativeChecks,
                    span,
                    format!("cap parameter `{}` has alternatives and {}", p.name.name, why.split(':').next().unwrap_or(why)),
                )
                .label("alternatives")
                .note(why.to_string())
                .help(if unchecked {
                    "remove `#[unchecked]` (the decoder checks the alternatives), or the alternatives"
                } else {
                    "remove the rights, or check them in the method's semantics"
                }),
            );
            ok = false;
        }
        ok.then_some(others)
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
            // One report for the whole donation, however many clauses it has.
            let mut spans: Vec<Span> = method
                .donations
                .iter()
                .map(|d| d.span())
                .chain(method.allocations.iter().map(|a| a.span))
                .chain(method.out_of_budget.iter().map(|o| o.span))
                .collect();
            spans.sort();
            if let Some((first, rest)) = spans.split_first() {
                let mut d = Diagnostic::new(
                    Code::NotValidHere,
                    *first,
                    format!("kernel invocation `{mname}` cannot take a donation"),
                )
                .label("not valid in a kernel invocation");
                for span in rest {
                    d = d.with_secondary(*span, "not valid either");
                }
                self.diags.push(
                    d.note("the kernel allocates nothing on its own: invocations such as retype spend the caller's Untyped directly")
                        .help(if rest.is_empty() {
                            "remove the clause"
                        } else {
                            "remove these clauses"
                        }),
                );
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
        let donation = method.donations.first();
        let donation_kind = match donation {
            None => None,
            Some(d) => self.donation_kind(d, known.objects, known.caps, "cannot be donated"),
        };
        let min_bytes = donation.and_then(|d| self.eval_reported(d.bytes(), None));

        // Allocations, checked with or without a donation.
        let mut allocations = Vec::new();
        let mut allocations_ok = true;
        for a in &method.allocations {
            let Some(oid) = self.resolve(&a.object, "an object type", |s| match s {
                TypeSym::Object(i) => Some(i),
                _ => None,
            }) else {
                allocations_ok = false;
                continue;
            };
            let Some(object) = known.objects[oid].as_ref() else {
                allocations_ok = false;
                continue;
            };
            if self.reject_byte_object(object, a.object.span, "allocated by a kernel invocation") {
                allocations_ok = false;
                continue;
            }
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
                        .with_secondary(object.span, format!("allowed: {}", allowed(&object.size)))
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
                allocations_ok = false;
                continue;
            };
            let Some(size_bits) = object.size.size_bits(arg) else {
                self.diags.push(
                    Diagnostic::new(
                        Code::AllocationSizeArg,
                        a.arg.as_ref().expect("parameterised").span,
                        format!("`{}({arg})` is not a valid size", object.name),
                    )
                    .label(format!("`{arg}` is not an allowed value"))
                    .with_secondary(object.span, format!("allowed: {}", allowed(&object.size)))
                    .help(format!(
                        "use an allowed size argument, e.g. `{}({})`",
                        object.name,
                        nearest(&object.size, arg)
                    )),
                );
                allocations_ok = false;
                continue;
            };
            if count == 0 {
                self.diags.push(
                    Diagnostic::new(Code::AllocationSizeArg, a.count.span, "allocation of zero objects")
                        .label("count is 0")
                        .help("remove the clause, or give the largest number of objects allocated per call"),
                );
                allocations_ok = false;
                continue;
            }
            if let (Some(model::DonationKind::Untyped(cap)), Some(donation)) =
                (&donation_kind, donation)
            {
                let oid = model::ObjectId(oid as u32);
                let retypable = known
                    .retypes
                    .iter()
                    .any(|r| r.source == *cap && r.targets.contains(&oid));
                if !retypable {
                    let cap_name = &known.caps[cap.index()].as_ref().expect("resolved").name;
                    let mut d = Diagnostic::new(
                        Code::AllocationNotRetypable,
                        a.object.span,
                        format!("`{cap_name}` cannot be retyped into `{}`", object.name),
                    )
                    .label("allocated from the donation")
                    .with_secondary(donation.span(), "the donation");
                    let others: Vec<&str> = known
                        .retypes
                        .iter()
                        .filter(|r| r.targets.contains(&oid))
                        .filter_map(|r| known.caps[r.source.index()].as_ref())
                        .map(|c| c.name.as_str())
                        .collect();
                    d = match others.first() {
                        Some(other) => d.help(format!(
                            "donate `{other}`, which can be retyped into `{}`, or add `{}` to the `into` list of `retype {cap_name}`",
                            object.name, object.name
                        )),
                        None => d.help(format!(
                            "add `{}` to the `into` list of `retype {cap_name}`",
                            object.name
                        )),
                    };
                    self.diags.push(d);
                    allocations_ok = false;
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
        if !allocations_ok {
            *ok = false;
        }
        // Largest alignment first: the layout of the worst case.
        allocations.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.size_bits.cmp(&a.0.size_bits)));

        let Some(donation) = donation else {
            if let Some(a) = method.allocations.first() {
                // Suggest a cap that can become every allocated object, and the
                // exact minimum when the allocations are all valid.
                let objects: Vec<model::ObjectId> =
                    allocations.iter().map(|(a, _)| a.object).collect();
                let source = known
                    .retypes
                    .iter()
                    .find(|r| allocations_ok && objects.iter().all(|o| r.targets.contains(o)))
                    .and_then(|r| known.caps[r.source.index()].as_ref())
                    .map_or("UntypedCap", |c| c.name.as_str());
                let minimum = match (allocations_ok, worst_case(&allocations, known)) {
                    (true, Some((worst, _))) => literal(worst),
                    _ => "N".to_string(),
                };
                self.diags.push(
                    Diagnostic::new(Code::AllocationWithoutDonation, a.span, format!("`{mname}` allocates on its caller's behalf, but the caller donates nothing"))
                        .label("allocated per call")
                        .note("the server would pay for what its client asked for, so one client could exhaust it")
                        .help(format!("add `donates {source} >= {minimum};` and an `out_of_budget` error, so the caller pays; to keep what it allocates beyond the call, open the interface as a session; if the server means to pay, say so with `server_pays {minimum};`")),
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

        // Out-of-budget error.
        let mut out_of_budget = None;
        match (method.out_of_budget.as_slice(), errors) {
            ([], e) => {
                let variant = e.and_then(|e| {
                    known.error_sets[e]
                        .variants
                        .iter()
                        .find(|v| v.name.to_ascii_lowercase().contains("budget"))
                });
                let help = match (variant, e) {
                    (Some(v), _) => format!(
                        "add `out_of_budget {0};` and list `{0}` in the method's `errors`",
                        v.name
                    ),
                    (_, Some(e)) => format!(
                        "add a variant `OutOfBudget` to `{}`, then `out_of_budget OutOfBudget;` and list it in the method's `errors`",
                        known.error_sets[e].name
                    ),
                    _ => "add `out_of_budget OutOfBudget;` and list `OutOfBudget` in the method's `errors`".to_string(),
                };
                self.diags.push(
                    Diagnostic::new(
                        Code::OutOfBudgetError,
                        donation.span(),
                        format!("`{mname}` does not say which error means the donation ran out"),
                    )
                    .label("a donation needs an out-of-budget error")
                    .note("when an allocation would exceed the donation the server must fail the call with a declared error")
                    .help(help),
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
                        let mut d = Diagnostic::new(
                            Code::OutOfBudgetError,
                            v.span,
                            format!("`{}` is not among the errors `{mname}` returns", v.name),
                        )
                        .label("the out-of-budget error");
                        if let (Some(first), Some(last)) =
                            (method.errors.first(), method.errors.last())
                        {
                            d = d.with_secondary(
                                first.span.to(last.span),
                                format!("`{mname}` returns only these"),
                            );
                        }
                        self.diags.push(
                            d.help(format!("add `{}` to the method's `errors` clause", v.name)),
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
        let Some((cursor, steps)) = worst_case(&allocations, known) else {
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
                .note(format!(
                    "worst case, placed largest alignment first: {} > {} donated",
                    bytes(cursor),
                    bytes(min_bytes)
                ))
                .help(format!(
                    "raise the minimum donation to at least {}, or allocate less per call",
                    bytes(cursor)
                ));
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

    pub(super) fn listed_twice(&mut self, ident: &ast::Ident, first: Span, what: &str) {
        self.diags.push(
            Diagnostic::new(
                Code::DuplicateName,
                ident.span,
                format!("{what} `{}` is listed twice", ident.name),
            )
            .label("listed again here")
            .with_secondary(first, "first listed here")
            .help("list it once"),
        );
    }

    /// A parameter's `#[at(word = W, bit = B)]`: `Ok(Some((W, B, span)))`,
    /// `Ok(None)` without one; `Err` after an error: on a result or an RPC
    /// parameter, given twice, or malformed (`E0404`).
    fn param_at(
        &mut self,
        p: &ast::Param,
        kind: SetKind,
        result: bool,
    ) -> Result<Option<(u64, u64, Span)>, ()> {
        let mut pin = None;
        let mut ok = true;
        for attr in p.attrs.iter().filter(|a| a.name.name == "at") {
            let problem = if result {
                Some((
                    format!("`#[at]` on result `{}`", p.name.name),
                    "seL4's replies give each result its own words: only a kernel invocation's parameters are packed",
                ))
            } else if kind == SetKind::Interface {
                Some((
                    format!("`#[at]` on RPC parameter `{}`", p.name.name),
                    "an RPC's parameters are laid out by capc; `#[at]` packs a kernel invocation's parameters as the kernel's ABI has them",
                ))
            } else if pin.is_some() {
                Some((
                    format!("`#[at]` is given twice on `{}`", p.name.name),
                    "remove one of them",
                ))
            } else {
                None
            };
            if let Some((message, help)) = problem {
                self.diags.push(
                    Diagnostic::new(Code::AttributeMisuse, attr.span, message)
                        .label("not allowed here")
                        .help(help),
                );
                ok = false;
                continue;
            }
            match self.field_pin(attr, "message word") {
                Some(found) => pin = Some((found.word, found.bit, found.span)),
                None => ok = false,
            }
        }
        if ok { Ok(pin) } else { Err(()) }
    }

    /// A packed parameter's place: its type has a width (`bool` 1, `uN` N,
    /// an enumeration its bits, `word` 64; anything else is `E0918`), its
    /// bits lie in its word (`E0915`), and its word in the message
    /// (`E0917`).
    fn packed(
        &mut self,
        p: &ast::Param,
        kind: &ParamKind,
        bitfield: bool,
        (word, bit, span): (u64, u64, Span),
        target: &model::Target,
    ) -> Option<model::Packed> {
        let name = &p.name.name;
        let width = match kind {
            ParamKind::Scalar(_) if bitfield => None,
            ParamKind::Scalar(Scalar::Bool) => Some(1),
            ParamKind::Scalar(Scalar::Uint(n)) => Some(*n),
            ParamKind::Scalar(Scalar::Word) => Some(64),
            _ => None,
        };
        let Some(width) = width else {
            let what = match kind {
                ParamKind::Scalar(_) | ParamKind::Array { .. } if bitfield => "a bitfield",
                ParamKind::Array { .. } => "an array",
                ParamKind::Cap { .. } => "a cap",
                _ => "this type",
            };
            self.diags.push(
                Diagnostic::new(
                    Code::PackedType,
                    span,
                    format!("`{name}` is {what}, which cannot share a word"),
                )
                .label("`#[at]` packs a value into part of a word")
                .with_secondary(p.ty_span, "its type")
                .note("a packed parameter is a `bool`, a `uN`, a `word` or an enumeration: a cap travels as an extra cap, an array or a bitfield in words of its own")
                .help("remove `#[at]`"),
            );
            return None;
        };
        if bit.saturating_add(u64::from(width)) > 64 {
            self.diags.push(
                Diagnostic::new(
                    Code::PackedCrossesWord,
                    span,
                    format!(
                        "`{name}` would take bits {bit}..{} of message word {word}",
                        bit.saturating_add(u64::from(width))
                    ),
                )
                .label("past the word's 64 bits")
                .with_secondary(p.ty_span, format!("{width} bits wide"))
                .note("a packed parameter lies in one word, as seL4's stubs pack them")
                .help(format!(
                    "place it at a bit up to {}, or in a word of its own without `#[at]`",
                    64 - width
                )),
            );
            return None;
        }
        if word >= u64::from(target.message_words) {
            self.diags.push(
                Diagnostic::new(
                    Code::PackedOutOfRange,
                    span,
                    format!("`{name}` is packed into message word {word}"),
                )
                .label(format!("a message has words 0..{}", target.message_words))
                .with_secondary(
                    target.span,
                    format!("`message_words = {}`", target.message_words),
                )
                .help("pack it into an earlier word"),
            );
            return None;
        }
        Some(model::Packed {
            word,
            bit: bit as u32,
            width,
        })
    }

    /// No two packed parameters of a request share a bit (`E0916`).
    fn packed_overlap(&mut self, params: &[model::MethodParam]) -> bool {
        let mut ok = true;
        let packed: Vec<(&model::MethodParam, model::Packed)> =
            params.iter().filter_map(|p| p.at.map(|a| (p, a))).collect();
        for (i, (p, a)) in packed.iter().enumerate() {
            let Some((q, b)) = packed[..i]
                .iter()
                .find(|(_, b)| b.word == a.word && b.mask() & a.mask() != 0)
            else {
                continue;
            };
            let both = a.mask() & b.mask();
            self.diags.push(
                Diagnostic::new(
                    Code::PackedOverlap,
                    p.span,
                    format!(
                        "`{}` and `{}` share bits of message word {}",
                        p.name, q.name, a.word
                    ),
                )
                .label(format!(
                    "bits {}..{}",
                    a.bit,
                    u64::from(a.bit) + u64::from(a.width)
                ))
                .with_secondary(
                    q.span,
                    format!("bits {}..{}", b.bit, u64::from(b.bit) + u64::from(b.width)),
                )
                .note(format!(
                    "the lowest bit both take is bit {}",
                    both.trailing_zeros()
                ))
                .help("give each packed parameter bits of its own"),
            );
            ok = false;
        }
        ok
    }

    /// A parameter's attributes: `#[unchecked]`, bare, on a cap parameter
    /// of a kernel invocation, at most once; anything else is `E0404`.
    /// Whether it is unchecked, or `None` after an error.
    fn param_attributes(&mut self, p: &ast::Param, kind: SetKind) -> Option<bool> {
        let mut unchecked = false;
        let mut ok = true;
        for attr in &p.attrs {
            let problem = match attr.name.name.as_str() {
                "unchecked" if attr.has_args() => Some((
                    "`#[unchecked]` takes no arguments".to_string(),
                    "write `#[unchecked]`",
                )),
                "unchecked" if unchecked => Some((
                    "`#[unchecked]` is written twice".to_string(),
                    "write it once",
                )),
                "unchecked" if !matches!(p.ty, ParamType::Cap { .. }) => Some((
                    "`#[unchecked]` on a parameter that is not a cap".to_string(),
                    "only a cap parameter's type can be left to the method to check",
                )),
                "unchecked" if kind == SetKind::Interface => Some((
                    "`#[unchecked]` in an RPC interface".to_string(),
                    "an RPC server's decoder always checks the caps it is given; `#[unchecked]` is for kernel invocations, whose semantics (seL4's) check some caps late",
                )),
                "unchecked" => {
                    unchecked = true;
                    None
                }
                // Read by `param_at`.
                "at" => None,
                _ => Some((
                    format!(
                        "attribute `#[{}]` is not valid on a parameter",
                        attr.name.name
                    ),
                    "a parameter takes `#[unchecked]` (a cap parameter of a kernel invocation) and `#[at(word = W, bit = B)]` (a `bool`, `uN`, `word` or enumeration parameter of a kernel invocation)",
                )),
            };
            if let Some((message, help)) = problem {
                self.diags.push(
                    Diagnostic::new(Code::AttributeMisuse, attr.span, message)
                        .label("not allowed here")
                        .help(help),
                );
                ok = false;
            }
        }
        ok.then_some(unchecked)
    }

    /// Each method's label: its `#[label(N)]`, else one more than the
    /// method before's, the first's the block's `#[label_base(N)]` (1
    /// without). Labels are in `1..=MAX_LABEL`, and below the labels the
    /// target's `label_bits` keep for protocol errors (`E0711`), and differ
    /// within the block, which is all one cap type dispatches on (`E0710`);
    /// interfaces take neither attribute (`E0404`). `None` after an error.
    fn labels(
        &mut self,
        item: &ast::Item,
        set: &ast::MethodSet,
        kind: SetKind,
        target: &model::Target,
    ) -> Option<Vec<u32>> {
        let max = MAX_LABEL.min(target.last_method_label());
        let mut ok = true;
        let mut next: (u64, Option<Span>) = (1, None);
        let mut base_given: Option<Span> = None;
        for attr in item.attrs.iter().filter(|a| a.name.name == "label_base") {
            if let Some(first) = base_given {
                self.diags.push(
                    Diagnostic::new(
                        Code::AttributeMisuse,
                        attr.span,
                        format!("`#[label_base]` is given twice on `{}`", set.name.name),
                    )
                    .label("given again here")
                    .with_secondary(first, "first given here")
                    .help("remove one of them"),
                );
                ok = false;
                continue;
            }
            base_given = Some(attr.span);
            match self.label_value(attr) {
                Some(base) => next = (base, Some(attr.span)),
                None => ok = false,
            }
        }
        let mut labels = Vec::new();
        let mut taken: BTreeMap<u64, &ast::Method> = BTreeMap::new();
        for method in &set.methods {
            let mut explicit: Option<(u64, Span)> = None;
            for attr in &method.attrs {
                if attr.name.name == "oneway" || attr.name.name == "idempotent" {
                    // Checked with the method (`flag`).
                    continue;
                }
                if attr.name.name != "label" {
                    let known: &[&str] = match kind {
                        SetKind::Interface => &["oneway", "idempotent"],
                        SetKind::Invocations => &["label"],
                    };
                    self.unknown_attribute(&attr.name, &attr.name.name, known, "method");
                    ok = false;
                    continue;
                }
                if kind == SetKind::Interface {
                    self.diags.push(
                        Diagnostic::new(
                            Code::AttributeMisuse,
                            attr.span,
                            format!("`#[label]` on a method of interface `{}`", set.name.name),
                        )
                        .label("not valid here")
                        .note("an interface's methods are numbered in declaration order; only kernel invocations, whose labels a kernel's ABI fixes, take `#[label(N)]`")
                        .help("remove `#[label]`"),
                    );
                    ok = false;
                    continue;
                }
                ok &= self.number_once(attr, &method.name.name, &mut explicit);
            }
            let (label, from) = match explicit {
                Some((v, span)) => (v, Some(span)),
                None => next,
            };
            next = (label.saturating_add(1), from);
            if !(1..=max).contains(&label) {
                let span = from.unwrap_or(method.name.span);
                let mut d = Diagnostic::new(
                    Code::LabelOutOfRange,
                    method.name.span,
                    format!("method `{}` would have label {label}", method.name.name),
                )
                .label(format!("outside 1..={max}"));
                if span != method.name.span {
                    d = d.with_secondary(span, "the label comes from here");
                }
                let why = if max < MAX_LABEL {
                    format!(
                        "the target's `label_bits = {}` leaves labels up to {}, of which the top six are protocol errors' and a dead server's",
                        target.label_bits,
                        target.last_label()
                    )
                } else {
                    "a label is a Rust enum's discriminant, at most 2^31 - 1 on every target"
                        .to_string()
                };
                self.diags.push(
                    d.note(format!(
                        "label 0 is no method (a reply's label 0 is success); {why}"
                    ))
                    .help(format!("give labels in 1..={max}")),
                );
                ok = false;
                continue;
            }
            if let Some(first) = taken.get(&label) {
                let mut d = Diagnostic::new(
                    Code::DuplicateLabel,
                    from.filter(|s| explicit.is_some_and(|(_, e)| e == *s))
                        .unwrap_or(method.name.span),
                    format!(
                        "methods `{}` and `{}` of `{}` both have label {label}",
                        first.name.name, method.name.name, set.name.name
                    ),
                )
                .label(format!("`{}` gets label {label}", method.name.name))
                .with_secondary(
                    first.name.span,
                    format!("`{}` has it already", first.name.name),
                );
                if explicit.is_none() {
                    d = d.note(format!(
                        "`{}` has no `#[label]`: its label is one more than the method before's",
                        method.name.name
                    ));
                }
                let mut free = label;
                while taken.contains_key(&free) || free == label {
                    free += 1;
                }
                self.diags.push(
                    d.note("the decoder picks a method by its label alone")
                        .help(format!(
                            "give one of them another label, e.g. `#[label({free})]`"
                        )),
                );
                ok = false;
                continue;
            }
            taken.insert(label, method);
            labels.push(label as u32);
        }
        ok.then_some(labels)
    }

    /// Reads a numbering attribute (`#[label(N)]`, `#[tag(N)]`, ...) of the
    /// item `item` into `explicit`: `E0404` if one was read already or the
    /// attribute is not one number. Whether it was good.
    pub(super) fn number_once(
        &mut self,
        attr: &ast::Attribute,
        item: &str,
        explicit: &mut Option<(u64, crate::source::Span)>,
    ) -> bool {
        if let Some((_, first)) = *explicit {
            self.diags.push(
                Diagnostic::new(
                    Code::AttributeMisuse,
                    attr.span,
                    format!("`#[{}]` is given twice on `{item}`", attr.name.name),
                )
                .label("given again here")
                .with_secondary(first, "first given here")
                .help("remove one of them"),
            );
            return false;
        }
        match self.label_value(attr) {
            Some(v) => {
                *explicit = Some((v, attr.span));
                true
            }
            None => false,
        }
    }

    /// The value of `#[label(N)]` or `#[label_base(N)]` (`E0404` for any
    /// other form).
    pub(super) fn label_value(&mut self, attr: &ast::Attribute) -> Option<u64> {
        match (
            attr.values.as_slice(),
            attr.flags.as_slice(),
            attr.args.is_empty(),
        ) {
            ([value], [], true) => self.eval_reported(value, None),
            // A constant alone parses as a bare name (`#[label(BASE)]`).
            ([], [name], true) => {
                let value = ast::Expr {
                    kind: ast::ExprKind::Name(name.name.clone()),
                    span: name.span,
                };
                self.eval_reported(&value, None)
            }
            _ => {
                let name = &attr.name.name;
                self.diags.push(
                    Diagnostic::new(
                        Code::AttributeMisuse,
                        attr.span,
                        format!("`#[{name}]` needs one number"),
                    )
                    .label(format!("expected `#[{name}(N)]`"))
                    .help(format!("write e.g. `#[{name}(17)]`")),
                );
                None
            }
        }
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

/// The bytes the allocations take placed in order (sorted largest alignment
/// first), with one line of arithmetic per allocation; `None` on overflow.
fn worst_case(
    allocations: &[(model::Allocation, u32)],
    known: &Known<'_>,
) -> Option<(u64, Vec<String>)> {
    let mut cursor: u64 = 0;
    let mut steps = Vec::new();
    for (a, align_bits) in allocations {
        let object = known.objects[a.object.index()].as_ref().expect("checked");
        let shown = match object.size.param {
            Some(_) => format!("{}({})", object.name, a.arg),
            None => object.name.clone(),
        };
        let size = 1u64 << a.size_bits;
        let total = a.count.checked_mul(size)?;
        cursor = cursor
            .checked_next_multiple_of(1u64 << align_bits)?
            .checked_add(total)?;
        steps.push(format!(
            "{} x {shown} = {} x {size} = {total} bytes",
            a.count, a.count
        ));
    }
    Some((cursor, steps))
}

/// The values a size argument may take, as a user reads them.
fn allowed(size: &model::SizeRule) -> String {
    if let Some(b) = size.bytes {
        return format!(
            "{}..={} bytes, multiples of {}",
            b.min,
            b.max,
            1u64 << b.granule_bits
        );
    }
    if size.table.len() > 8 {
        format!("{}..={}", size.min_arg(), size.max_arg())
    } else {
        let values: Vec<String> = size.table.iter().map(|(a, _)| a.to_string()).collect();
        values.join(", ")
    }
}

/// The allowed size argument closest to `arg`.
fn nearest(size: &model::SizeRule, arg: u64) -> u64 {
    size.table
        .iter()
        .map(|(a, _)| *a)
        .min_by_key(|a| a.abs_diff(arg))
        .unwrap_or(0)
}

/// `a`, `a and b`, `a, b and c`.
fn join_and(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

impl Ctx<'_> {
    /// What `donation` gives: a quota, or memory through a cap type to
    /// untyped memory (`DonationNotMemory`, labelled `label`, for a cap
    /// type to anything else). For a method's donation and a session's.
    pub(super) fn donation_kind(
        &mut self,
        donation: &ast::Donation,
        objects: &[Option<model::Object>],
        caps: &[Option<model::CapType>],
        label: &str,
    ) -> Option<model::DonationKind> {
        let cap = match donation {
            ast::Donation::Quota { .. } => return Some(model::DonationKind::Quota),
            ast::Donation::Untyped { cap, .. } => cap,
        };
        let id = self.resolve(cap, "a cap type", |s| match s {
            TypeSym::Cap(i) => Some(i),
            _ => None,
        })?;
        let c = caps[id].as_ref()?;
        let memory = c
            .object
            .and_then(|o| objects[o.index()].as_ref())
            .is_some_and(|o| o.kind == ast::ObjectKind::Untyped);
        if memory {
            return Some(model::DonationKind::Untyped(CapId(id as u32)));
        }
        self.diags.push(
            Diagnostic::new(
                Code::DonationNotMemory,
                cap.span,
                format!("`{}` is not a cap to untyped memory", cap.name),
            )
            .label(label)
            .with_secondary(c.span, "cap type declared here")
            .help("donate a cap to an `untyped` object, or `quota N`"),
        );
        None
    }
}
