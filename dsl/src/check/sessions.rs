//! Sessions: an interface used through sessions, each opened with a quota
//! its client donates, which pays for everything the server keeps for that
//! client beyond a call (Genode's session quotas, EROS's space banks).
//!
//! Checks the `session { ... }` block, the range of integer parameters
//! (`bits: u8 in 12..=30`), what each method charges to the session
//! (`allocates ... [for result]`, `keeps N [for result]`), sized by
//! arguments and proved valid for every value in their ranges, what it
//! refunds (`refunds param from method`), and `server_pays N`, the one way a
//! server may pay for a client's call itself. Codes E0740-E0749, W0014,
//! W0015.

use std::collections::BTreeMap;

use crate::ast::{self, Domain, ExprKind, ParamType, Scalar, Transfer};
use crate::diag::{Code, Diagnostic};
use crate::model::{self, Amount, Charge, Charged, ParamKind};
use crate::source::Span;

use super::eval::bytes;
use super::{Ctx, TypeSym};

/// The most values of a parameter that sizes an allocation: the checker
/// proves the allocation for each of them.
pub(super) const MAX_SIZING_VALUES: u64 = 4096;

/// What the session checks need from earlier passes.
pub(super) struct SessionKnown<'m> {
    pub objects: &'m [Option<model::Object>],
    pub caps: &'m [Option<model::CapType>],
    pub error_sets: &'m [model::ErrorSet],
}

/// The largest value of an unsigned integer parameter type.
fn type_max(ty: &ParamType) -> Option<u64> {
    match ty {
        ParamType::Scalar(Scalar::Word) => Some(u64::MAX),
        ParamType::Scalar(Scalar::Uint(n)) if (1..=64).contains(n) => {
            Some(if *n == 64 { u64::MAX } else { (1 << n) - 1 })
        }
        ParamType::Data(ast::TypeExpr {
            kind: ast::TypeExprKind::Named(_),
            ..
        }) => None,
        _ => None,
    }
}

/// The parameter `expr` names, if it is a bare parameter name; else the
/// first parameter it mentions inside a larger expression.
/// `1 << bits` for the top of a range already checked to end at 63.
fn arg_pow2(bits: u64) -> u64 {
    1u64 << bits.min(63)
}

fn mentions<'p>(expr: &ast::Expr, params: &'p [ast::Param]) -> Option<(&'p ast::Param, bool)> {
    match &expr.kind {
        ExprKind::Name(n) => params.iter().find(|p| &p.name.name == n).map(|p| (p, true)),
        ExprKind::Int(_) => None,
        ExprKind::Binary(l, _, r) => mentions(l, params)
            .or_else(|| mentions(r, params))
            .map(|(p, _)| (p, false)),
    }
}

/// Whether any allocation of `method` is sized by one of its parameters.
pub(super) fn sized_by_argument(method: &ast::Method) -> Option<Span> {
    method
        .allocations
        .iter()
        .find(|a| {
            a.arg
                .iter()
                .chain(std::iter::once(&a.count))
                .any(|e| mentions(e, &method.params).is_some())
        })
        .map(|a| a.span)
}

impl Ctx<'_> {
    /// The range of a parameter (`in lo..=hi`): on an unsigned integer
    /// parameter of an interface, not empty, within its type (`E0740`).
    /// `Err(())` after an error.
    pub(super) fn param_range(
        &mut self,
        p: &ast::Param,
        interface: bool,
    ) -> Result<Option<(u64, u64)>, ()> {
        let Some((domain, span)) = &p.range else {
            return Ok(None);
        };
        let bad = |ctx: &mut Self, message: String, label: String, help: &str| {
            ctx.diags.push(
                Diagnostic::new(Code::RangeInvalid, *span, message)
                    .label(label)
                    .help(help.to_string()),
            );
            Err(())
        };
        if !interface {
            return bad(
                self,
                format!("`{}` has a range in a kernel invocation", p.name.name),
                "not valid here".to_string(),
                "the kernel decodes an invocation's words itself: remove the range",
            );
        }
        let Some(max) = type_max(&p.ty) else {
            return bad(
                self,
                format!(
                    "`{}` has a range but is not an unsigned integer",
                    p.name.name
                ),
                "a range needs `word` or `uN`".to_string(),
                "give the parameter a `uN` or `word` type, or remove the range",
            );
        };
        let (lo, hi) = match domain {
            Domain::Inclusive(lo, hi) | Domain::Exclusive(lo, hi) => {
                let lo = self.eval_reported(lo, None).ok_or(())?;
                let hi = self.eval_reported(hi, None).ok_or(())?;
                (lo, hi)
            }
            Domain::Set(_) => unreachable!("grammar: a parameter's range is a range"),
        };
        let hi = match domain {
            Domain::Exclusive(..) if hi == 0 || hi <= lo => {
                return bad(
                    self,
                    format!("the range of `{}` is empty", p.name.name),
                    format!("no value is at least {lo} and below {hi}"),
                    "write the least value first, then the greatest (`lo..=hi`)",
                );
            }
            Domain::Exclusive(..) => hi - 1,
            _ => hi,
        };
        if lo > hi {
            return bad(
                self,
                format!("the range of `{}` is empty", p.name.name),
                format!("{lo} is greater than {hi}"),
                "write the least value first, then the greatest (`lo..=hi`)",
            );
        }
        if hi > max {
            return bad(
                self,
                format!("the range of `{}` goes past its type", p.name.name),
                format!("{hi} does not fit (at most {max})"),
                "use a wider type, or lower the range's end",
            );
        }
        Ok(Some((lo, hi)))
    }

    /// The `session { ... }` block of an interface: one donation (a quota,
    /// or an Untyped backing it), at most one `keeps N`, one out-of-quota
    /// error, and a minimum quota that covers what the session keeps.
    /// `Err(())` after an error.
    pub(super) fn check_session(
        &mut self,
        decl: &ast::SessionDecl,
        errors: Option<usize>,
        known: &SessionKnown<'_>,
    ) -> Result<model::Session, ()> {
        let mut ok = true;
        for extra in decl.donations.iter().skip(1) {
            self.given_twice(extra.span(), decl.donations[0].span(), "a donation");
            ok = false;
        }
        for extra in decl.keeps.iter().skip(1) {
            self.given_twice(extra.span, decl.keeps[0].span, "`keeps`");
            ok = false;
        }
        for extra in decl.out_of_budget.iter().skip(1) {
            self.given_twice(extra.span, decl.out_of_budget[0].span, "`out_of_budget`");
            ok = false;
        }
        let missing = match (decl.donations.is_empty(), decl.out_of_budget.is_empty()) {
            (true, _) => Some((
                "the session does not say what its client donates",
                "add `donates quota N;` (or `donates UntypedCap >= N;`): the least quota a session is opened with",
            )),
            (_, true) => Some((
                "the session does not say which error means its quota ran out",
                "add `out_of_budget V;` naming a variant of the interface's error set",
            )),
            _ => None,
        };
        if let Some((message, help)) = missing {
            self.diags.push(
                Diagnostic::new(Code::SessionInvalid, decl.span, message)
                    .label("in this session")
                    .note("a session's quota pays for everything the server keeps for its client; a charge that does not fit is refused with the session's error")
                    .help(help),
            );
            return Err(());
        }
        let donation = &decl.donations[0];
        let kind = self.donation_kind(
            donation,
            known.objects,
            known.caps,
            "cannot back a session's quota",
        );
        let min = self.eval_reported(donation.bytes(), None);
        let keeps = match decl.keeps.first() {
            None => Some(0),
            Some(k) => {
                if let Some(r) = &k.handed_to {
                    self.diags.push(
                        Diagnostic::new(
                            Code::HandedToInvalid,
                            r.span,
                            "what a session keeps is not handed out",
                        )
                        .label("`for` in a session")
                        .note("state kept per session lasts until the session closes")
                        .help("remove `for ...`; hand out per-call state from a method"),
                    );
                    ok = false;
                }
                self.eval_reported(&k.bytes, None)
            }
        };
        let out_of_budget = errors.and_then(|e| {
            let v = &decl.out_of_budget[0];
            let set = &known.error_sets[e];
            match set.variants.iter().position(|x| x.name == v.name) {
                Some(i) => Some(i),
                None => {
                    let names: Vec<&str> = set.variants.iter().map(|x| x.name.as_str()).collect();
                    self.unknown(v, &format!("error of `{}`", set.name), names);
                    None
                }
            }
        });
        for (_, span) in decl.binds.iter().skip(1) {
            self.given_twice(*span, decl.binds[0].1, "`binds`");
            ok = false;
        }
        let binds = match decl.binds.first() {
            None => Some(None),
            Some((name, span)) => self.session_binds(decl, name, *span, keeps).map(Some),
        };
        let (Some(kind), Some(min), Some(keeps), Some(out_of_budget), Some(binds), true) =
            (kind, min, keeps, out_of_budget, binds, ok)
        else {
            return Err(());
        };
        if keeps > min {
            let k = decl.keeps.first().expect("keeps > 0");
            self.diags.push(
                Diagnostic::new(
                    Code::SessionInvalid,
                    donation.span(),
                    "the least quota does not cover what the session keeps",
                )
                .label(format!("at least {} donated", bytes(min)))
                .with_secondary(k.span, format!("{} kept per session", bytes(keeps)))
                .note("the session's own state is charged to its quota when it opens")
                .help(format!(
                    "raise the least quota to at least {}",
                    bytes(keeps)
                )),
            );
            return Err(());
        }
        Ok(model::Session {
            docs: decl.docs.clone(),
            kind,
            min_bytes: min,
            keeps,
            out_of_budget,
            binds,
            span: decl.span,
        })
    }

    /// `binds Name;` in a session block: `Name` is a callback interface
    /// (`E0781`) with a message (`E0785`), and the session keeps something
    /// for the cap the server holds to send it through (`E0784`). The index
    /// of the callback interface, or `None` after an error.
    fn session_binds(
        &mut self,
        decl: &ast::SessionDecl,
        name: &ast::Ident,
        span: Span,
        keeps: Option<u64>,
    ) -> Option<usize> {
        let i = self.callback_interface(
            name,
            "a session bound with `binds` is where the server sends a callback interface's messages: a `callback interface`",
        )?;
        let (_, set) = self.items.interfaces[i];
        if set.methods.is_empty() {
            self.diags.push(
                Diagnostic::new(
                    Code::SessionBindsNothing,
                    name.span,
                    format!("callback interface `{}` has no messages", name.name),
                )
                .label("nothing to send")
                .with_secondary(set.name.span, "declared here")
                .note("a bound session holds a cap the server sends the callback's messages through: with none, the server would keep the cap for nothing")
                .help(format!(
                    "declare a message in `{}`, or remove `binds`",
                    name.name
                )),
            );
            return None;
        }
        if decl.keeps.is_empty() || keeps == Some(0) {
            self.diags.push(
                Diagnostic::new(
                    Code::SessionBindingUnpaid,
                    span,
                    format!(
                        "the session binds `{}` but keeps nothing",
                        name.name
                    ),
                )
                .label("the server holds the bound cap until the session closes")
                .with_secondary(decl.span, "in this session")
                .note("the server keeps a bound session's cap (a slot, and its record of it) beyond any call: the session's `keeps` pays for it")
                .help("add `keeps N;` to the session: the bytes the server keeps per session, the bound cap's slot included"),
            );
            return None;
        }
        Some(i)
    }

    fn given_twice(&mut self, span: Span, first: Span, what: &str) {
        self.diags.push(
            Diagnostic::new(
                Code::DuplicateStatement,
                span,
                format!("{what} is given twice"),
            )
            .label("given again here")
            .with_secondary(first, "first given here")
            .help("keep one"),
        );
    }

    /// A charge number: a constant, or a bare parameter name with a range
    /// (`E0745` for a parameter without one, or one inside an expression).
    fn amount(
        &mut self,
        expr: &ast::Expr,
        params: &[ast::Param],
        checked: &[model::MethodParam],
    ) -> Option<Amount> {
        match mentions(expr, params) {
            None => self.eval_reported(expr, None).map(Amount::Const),
            Some((p, bare)) => {
                let index = checked.iter().position(|c| c.name == p.name.name)?;
                let range = checked[index].range;
                // `1 << p`: a power of two, for a byte-sized object's size.
                let pow2 = matches!(&expr.kind, ExprKind::Binary(l, crate::ast::BinOp::Shl, r)
                    if matches!(l.kind, ExprKind::Int(1))
                        && matches!(&r.kind, ExprKind::Name(n) if *n == p.name.name));
                let problem = if pow2 && range.is_some_and(|(_, hi)| hi > 63) {
                    Some((
                        format!("`1 << {}` overflows 64 bits", p.name.name),
                        format!("end the range of `{}` at 63 or below", p.name.name),
                    ))
                } else if pow2 {
                    None
                } else if !bare {
                    Some((
                        format!("`{}` is used inside an expression", p.name.name),
                        "write the parameter alone (`Frame(bits)`), `1 << bits` (a byte-sized object's size), or a constant".to_string(),
                    ))
                } else if range.is_none() {
                    Some((
                        format!("`{}` has no range", p.name.name),
                        format!(
                            "give it one, e.g. `{}: {} in 12..=30`, so the checker can prove the charge for every value",
                            p.name.name,
                            describe_ty(&p.ty)
                        ),
                    ))
                } else {
                    None
                };
                if let Some((message, help)) = problem {
                    self.diags.push(
                        Diagnostic::new(Code::AmountNotRange, expr.span, message)
                            .label("sizes this charge")
                            .with_secondary(p.name.span, "the parameter")
                            .note("a charge sized by an argument is proved for every value in the parameter's range")
                            .help(help),
                    );
                    return None;
                }
                Some(if pow2 {
                    Amount::Pow2(index)
                } else {
                    Amount::Param(index)
                })
            }
        }
    }

    /// The result a charge is handed out with (`for result`): a granted
    /// cap, or an unsigned integer naming what the server keeps (`E0743`).
    fn handed_to(
        &mut self,
        r: &ast::Ident,
        mname: &str,
        results: &[model::MethodParam],
    ) -> Option<usize> {
        let Some(i) = results.iter().position(|p| p.name == r.name) else {
            let names: Vec<String> = results.iter().map(|p| format!("`{}`", p.name)).collect();
            self.diags.push(
                Diagnostic::new(
                    Code::HandedToInvalid,
                    r.span,
                    format!("`{mname}` has no result `{}`", r.name),
                )
                .label("not a result")
                .note(if names.is_empty() {
                    format!("`{mname}` returns nothing")
                } else {
                    format!("its results are {}", names.join(", "))
                })
                .help("name the result the client keeps it with: a granted cap, or a number naming it"),
            );
            return None;
        };
        let handle = matches!(
            results[i].kind,
            ParamKind::Cap {
                transfer: Transfer::Grant | Transfer::Move,
                ..
            } | ParamKind::AnyCap {
                transfer: Transfer::Grant | Transfer::Move,
            } | ParamKind::Scalar(Scalar::Word | Scalar::Uint(_))
        );
        if !handle {
            self.diags.push(
                Diagnostic::new(
                    Code::HandedToInvalid,
                    r.span,
                    format!("`{}` cannot name what the client keeps", r.name),
                )
                .label("not a granted or moved cap or an unsigned integer")
                .note("the charge stays with what the result names until a method takes it back")
                .help(
                    "hand it out with a `grant cap` or `move cap` result, or a `uN`/`word` handle",
                ),
            );
            return None;
        }
        Some(i)
    }

    /// What `method` charges to its session: each allocation (for the call,
    /// or handed out `for` a result) and each `keeps`, with every sizing
    /// argument proved valid for each value of its range (`E0746`); every
    /// charging method returns the session's error (`E0748`). `Err(())`
    /// after an error.
    pub(super) fn check_charges(
        &mut self,
        method: &ast::Method,
        session: &model::Session,
        params: &[model::MethodParam],
        results: &[model::MethodParam],
        error_indices: &[usize],
        known: &SessionKnown<'_>,
    ) -> Result<Option<model::Charges>, ()> {
        let mname = &method.name.name;
        let mut ok = true;
        let mut charges = Vec::new();
        let mut worst: u64 = 0;
        for a in &method.allocations {
            let Some(oid) = self.resolve(&a.object, "an object type", |s| match s {
                TypeSym::Object(i) => Some(i),
                _ => None,
            }) else {
                ok = false;
                continue;
            };
            let Some(object) = known.objects[oid].as_ref() else {
                ok = false;
                continue;
            };
            let count = self.amount(&a.count, &method.params, params);
            let arg = match (&a.arg, &object.size.param) {
                (None, None) => Some(Amount::Const(0)),
                (Some(e), Some(_)) => self.amount(e, &method.params, params),
                (None, Some(p)) => {
                    self.diags.push(
                        Diagnostic::new(
                            Code::AllocationSizeArg,
                            a.object.span,
                            format!("`{}` needs its size argument `{p}`", object.name),
                        )
                        .label("size argument missing")
                        .help(format!("write `{}(ARG)`", object.name)),
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
                        .help(format!("write `{}`", object.name)),
                    );
                    None
                }
            };
            let handed = match &a.handed_to {
                None => Some(None),
                Some(r) => self.handed_to(r, mname, results).map(Some),
            };
            let (Some(count), Some(arg), Some(handed)) = (count, arg, handed) else {
                ok = false;
                continue;
            };
            if count == Amount::Const(0) {
                self.diags.push(
                    Diagnostic::new(Code::AllocationSizeArg, a.count.span, "allocation of zero objects")
                        .label("count is 0")
                        .help("remove the clause, or give the largest number of objects allocated per call"),
                );
                ok = false;
                continue;
            }
            // Every value of the sizing argument: a valid size of the object.
            let values: Vec<u64> = match arg {
                Amount::Const(v) => vec![v],
                Amount::Param(i) | Amount::Pow2(i) => {
                    let (lo, hi) = params[i].range.expect("checked by amount");
                    if hi - lo >= MAX_SIZING_VALUES {
                        self.diags.push(
                            Diagnostic::new(
                                Code::AmountNotRange,
                                a.arg.as_ref().expect("parameterised").span,
                                format!(
                                    "the range of `{}` has more than {MAX_SIZING_VALUES} values",
                                    params[i].name
                                ),
                            )
                            .label("sizes this allocation")
                            .with_secondary(params[i].span, format!("{lo}..={hi}"))
                            .note("the checker proves the allocation for every value of the range")
                            .help("narrow the range to the sizes the server hands out"),
                        );
                        ok = false;
                        continue;
                    }
                    (lo..=hi).map(|v| arg.value(&vec![v; i + 1])).collect()
                }
            };
            let mut largest = 0u64;
            let mut valid = true;
            for v in values {
                match object.size.size_of(v) {
                    Some(bytes) => largest = largest.max(bytes),
                    None => {
                        let span = a.arg.as_ref().map_or(a.span, |e| e.span);
                        let mut d = Diagnostic::new(
                            Code::AllocationForValue,
                            span,
                            match arg {
                                Amount::Param(i) => format!(
                                    "`{}({})` is not a valid size for `{} = {v}`",
                                    object.name, params[i].name, params[i].name
                                ),
                                Amount::Pow2(i) => format!(
                                    "`{}(1 << {})` is not a valid size: {v} bytes",
                                    object.name, params[i].name
                                ),
                                Amount::Const(_) => {
                                    format!("`{}({v})` is not a valid size", object.name)
                                }
                            },
                        )
                        .label(format!("{v} is not an allowed size argument"))
                        .with_secondary(object.span, "the object's sizes");
                        if let Some(i) = arg.param() {
                            d = d.with_secondary(
                                params[i].span,
                                format!("`{}` may be {v}", params[i].name),
                            );
                        }
                        self.diags
                            .push(d.help("narrow the parameter's range to sizes the object has"));
                        valid = false;
                        break;
                    }
                }
            }
            if !valid {
                ok = false;
                continue;
            }
            let max_count = match count {
                Amount::Const(c) => c,
                Amount::Param(i) => params[i].range.expect("checked").1,
                Amount::Pow2(i) => arg_pow2(params[i].range.expect("checked").1),
            };
            match max_count
                .checked_mul(largest)
                .and_then(|b| worst.checked_add(b))
            {
                Some(w) => worst = w,
                None => {
                    self.overflow(method);
                    ok = false;
                    continue;
                }
            }
            charges.push(Charge {
                what: Charged::Objects {
                    object: model::ObjectId(oid as u32),
                    count,
                    arg,
                },
                handed_to: handed,
            });
        }
        for k in &method.keeps {
            let b = self.eval_reported(&k.bytes, None);
            let handed = match &k.handed_to {
                None => Some(None),
                Some(r) => self.handed_to(r, mname, results).map(Some),
            };
            let (Some(b), Some(handed)) = (b, handed) else {
                ok = false;
                continue;
            };
            match worst.checked_add(b) {
                Some(w) => worst = w,
                None => {
                    self.overflow(method);
                    ok = false;
                    continue;
                }
            }
            charges.push(Charge {
                what: Charged::Bytes(b),
                handed_to: handed,
            });
        }
        // What a call hands out is charged as one: with one result.
        let handed: Vec<(usize, Span)> = method
            .allocations
            .iter()
            .filter_map(|a| a.handed_to.as_ref())
            .chain(method.keeps.iter().filter_map(|k| k.handed_to.as_ref()))
            .filter_map(|r| {
                results
                    .iter()
                    .position(|p| p.name == r.name)
                    .map(|i| (i, r.span))
            })
            .collect();
        if let Some(&(first, first_span)) = handed.first()
            && let Some(&(other, span)) = handed.iter().find(|(i, _)| *i != first)
        {
            self.diags.push(
                Diagnostic::new(
                    Code::HandedToInvalid,
                    span,
                    format!(
                        "`{mname}` hands out with `{}` and with `{}`",
                        results[other].name, results[first].name
                    ),
                )
                .label("a second result")
                .with_secondary(first_span, "the first")
                .note("what one call hands out is charged as one, and refunded as one when the result that names it comes back")
                .help(format!(
                    "charge everything the call hands out `for {}`",
                    results[first].name
                )),
            );
            ok = false;
        }
        if !charges.is_empty() && !error_indices.contains(&session.out_of_budget) {
            let first = method
                .allocations
                .first()
                .map(|a| a.span)
                .or_else(|| method.keeps.first().map(|k| k.span))
                .expect("a charge");
            self.diags.push(
                Diagnostic::new(
                    Code::SessionErrorMissing,
                    first,
                    format!("`{mname}` charges its session but cannot say its quota ran out"),
                )
                .label("charged to the session")
                .with_secondary(session.span, "the session")
                .note("a charge that does not fit the session's quota is refused with the session's out-of-budget error")
                .help("list the session's `out_of_budget` error in the method's `errors` clause"),
            );
            ok = false;
        }
        if !ok {
            return Err(());
        }
        // The session quota rule: a session opened with the least quota
        // can make the call at least once, at the smallest value of each
        // parameter that sizes it (larger values may need an upgrade).
        let least: Vec<u64> = params.iter().map(|p| p.range.map_or(0, |r| r.0)).collect();
        let size = |o: model::ObjectId, arg: u64| {
            known.objects[o.index()]
                .as_ref()
                .and_then(|o| o.size.size_of(arg))
        };
        let smallest = charges
            .iter()
            .map(|c| c.bytes(&least, &size))
            .fold(0u64, u64::saturating_add);
        let needed = smallest.saturating_add(session.keeps);
        if needed > session.min_bytes {
            let values: Vec<String> = charges
                .iter()
                .filter_map(|c| match &c.what {
                    Charged::Objects { count, arg, .. } => Some([*count, *arg]),
                    Charged::Bytes(_) => None,
                })
                .flatten()
                .filter_map(|a| a.param())
                .collect::<std::collections::BTreeSet<usize>>()
                .into_iter()
                .map(|i| format!("`{} = {}`", params[i].name, least[i]))
                .collect();
            let at = if values.is_empty() {
                String::new()
            } else {
                format!(" at {}", values.join(", "))
            };
            self.diags.push(
                Diagnostic::new(
                    Code::SessionInvalid,
                    method.name.span,
                    format!("a session with the least quota cannot make one `{mname}` call"),
                )
                .label(format!("charges {}{at}", bytes(smallest)))
                .with_secondary(
                    session.span,
                    format!("at least {} donated", bytes(session.min_bytes)),
                )
                .note(format!(
                    "the session keeps {}, and the call's smallest charge is {}: {} in all",
                    bytes(session.keeps),
                    bytes(smallest),
                    bytes(needed)
                ))
                .help(format!(
                    "raise the session's least quota to at least {}, or charge less",
                    bytes(needed)
                )),
            );
            return Err(());
        }
        Ok(
            (!charges.is_empty() || !method.refunds.is_empty()).then_some(model::Charges {
                charges,
                refunds: Vec::new(),
            }),
        )
    }

    fn overflow(&mut self, method: &ast::Method) {
        self.diags.push(
            Diagnostic::new(
                Code::Overflow,
                method.name.span,
                format!(
                    "the largest charge of `{}` overflows 64 bits",
                    method.name.name
                ),
            )
            .label("at this method")
            .help("narrow the ranges of the parameters that size it"),
        );
    }

    /// The `refunds` clauses of every method of a session interface,
    /// resolved once every method is checked: the argument is a parameter
    /// of its method, of the type of a result the named method hands out
    /// (`E0744`). `false` after an error.
    pub(super) fn resolve_refunds(
        &mut self,
        set: &ast::MethodSet,
        methods: &mut [model::Method],
    ) -> bool {
        let mut ok = true;
        let index: BTreeMap<String, usize> = methods
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.clone(), i))
            .collect();
        for ast_method in &set.methods {
            let Some(&mi) = index.get(ast_method.name.name.as_str()) else {
                continue;
            };
            let mut refunds = Vec::new();
            for r in &ast_method.refunds {
                let me = &methods[mi];
                let Some(param) = me.params.iter().position(|p| p.name == r.param.name) else {
                    let names: Vec<&str> = me.params.iter().map(|p| p.name.as_str()).collect();
                    self.refund_error(
                        r.param.span,
                        format!("`{}` has no parameter `{}`", me.name, r.param.name),
                        "not a parameter",
                        if names.is_empty() {
                            format!(
                                "`{}` takes no arguments: add the handle it takes back",
                                me.name
                            )
                        } else {
                            format!("name one of its parameters: {}", names.join(", "))
                        },
                    );
                    ok = false;
                    continue;
                };
                let kind = methods[mi].params[param].kind.clone();
                let mut from = Vec::new();
                for named in &r.methods {
                    let Some(&fi) = index.get(named.name.as_str()) else {
                        let names: Vec<&str> = methods
                            .iter()
                            .filter(|m| hands_out(m).next().is_some())
                            .map(|m| m.name.as_str())
                            .collect();
                        self.refund_error(
                            named.span,
                            format!("the interface has no method `{}`", named.name),
                            "not a method",
                            if names.is_empty() {
                                "no method hands anything out: add `for result` to an allocation or `keeps`".to_string()
                            } else {
                                format!("name the method that handed it out: {}", names.join(", "))
                            },
                        );
                        ok = false;
                        continue;
                    };
                    let result = hands_out(&methods[fi])
                        .find(|&ri| same_handle(&methods[fi].results[ri].kind, &kind));
                    let Some(result) = result else {
                        let out: Vec<String> = hands_out(&methods[fi])
                            .map(|ri| format!("`{}`", methods[fi].results[ri].name))
                            .collect();
                        self.refund_error(
                            named.span,
                            format!(
                                "`{}` hands out nothing of the type of `{}`",
                                methods[fi].name, r.param.name
                            ),
                            "refunded from here",
                            if out.is_empty() {
                                format!(
                                    "`{}` hands out nothing: charge it `for` a result first",
                                    methods[fi].name
                                )
                            } else {
                                format!(
                                    "take back what it hands out ({}), with the same type",
                                    out.join(", ")
                                )
                            },
                        );
                        ok = false;
                        continue;
                    };
                    if !from.contains(&(fi, result)) {
                        from.push((fi, result));
                    }
                }
                if from.len() == r.methods.len() {
                    refunds.push(model::Refund { param, from });
                }
            }
            if !refunds.is_empty() {
                methods[mi]
                    .charges
                    .get_or_insert_with(model::Charges::default)
                    .refunds = refunds;
            }
        }
        ok
    }

    fn refund_error(&mut self, span: Span, message: String, label: &str, help: String) {
        self.diags.push(
            Diagnostic::new(Code::RefundInvalid, span, message)
                .label(label.to_string())
                .note("`refunds ARG from METHOD;` takes back what METHOD (or one of `METHOD | METHOD2`) handed out `for` a result, and returns its charge to the session")
                .help(help),
        );
    }

    /// `server_pays N;`: given once (`E0105`), never with a donation, a
    /// session charge or a refund, and at least the bytes of what the
    /// method allocates and keeps (`E0749`). The bound, or `Err(())`.
    pub(super) fn check_server_pays(
        &mut self,
        method: &ast::Method,
        known: &SessionKnown<'_>,
    ) -> Result<Option<u64>, ()> {
        let Some((expr, span)) = method.server_pays.first() else {
            return Ok(None);
        };
        let mname = &method.name.name;
        let mut ok = true;
        for (_, extra) in method.server_pays.iter().skip(1) {
            self.given_twice(*extra, *span, "`server_pays`");
            ok = false;
        }
        let mixed = method
            .donations
            .first()
            .map(|d| (d.span(), "its caller donates"))
            .or_else(|| {
                method
                    .allocations
                    .iter()
                    .find_map(|a| a.handed_to.as_ref().map(|_| (a.span, "it hands out")))
            })
            .or_else(|| {
                method
                    .keeps
                    .iter()
                    .find_map(|k| k.handed_to.as_ref().map(|_| (k.span, "it hands out")))
            })
            .or_else(|| method.refunds.first().map(|r| (r.span, "it refunds")));
        if let Some((other, what)) = mixed {
            self.diags.push(
                Diagnostic::new(
                    Code::ServerPaysInvalid,
                    *span,
                    format!("the server pays for `{mname}`, but {what}"),
                )
                .label("paid by the server")
                .with_secondary(other, "paid by the client")
                .note("a method is paid either by its client (a donation or its session) or by the server")
                .help("remove `server_pays`, or the client's payment"),
            );
            return Err(());
        }
        let bound = self.eval_reported(expr, None).ok_or(())?;
        let mut total: u64 = 0;
        let mut steps = Vec::new();
        for a in &method.allocations {
            let Some(oid) = self.resolve(&a.object, "an object type", |s| match s {
                TypeSym::Object(i) => Some(i),
                _ => None,
            }) else {
                ok = false;
                continue;
            };
            let Some(object) = known.objects[oid].as_ref() else {
                ok = false;
                continue;
            };
            if self.reject_byte_object(
                object,
                a.object.span,
                "allocated by a server without sessions",
            ) {
                ok = false;
                continue;
            }
            let (Some(count), arg) = (
                self.eval_reported(&a.count, None),
                a.arg.as_ref().map(|e| self.eval_reported(e, None)),
            ) else {
                ok = false;
                continue;
            };
            let arg = match arg {
                None => 0,
                Some(Some(v)) => v,
                Some(None) => {
                    ok = false;
                    continue;
                }
            };
            let Some(bits) = object.size.size_bits(arg) else {
                self.diags.push(
                    Diagnostic::new(
                        Code::AllocationSizeArg,
                        a.arg.as_ref().map_or(a.object.span, |e| e.span),
                        format!("`{}({arg})` is not a valid size", object.name),
                    )
                    .label(format!("`{arg}` is not an allowed value"))
                    .help("use an allowed size argument"),
                );
                ok = false;
                continue;
            };
            let b = count.saturating_mul(1 << bits);
            total = total.saturating_add(b);
            steps.push(format!("{count} × `{}` = {}", object.name, bytes(b)));
        }
        for k in &method.keeps {
            match self.eval_reported(&k.bytes, None) {
                Some(b) => {
                    total = total.saturating_add(b);
                    steps.push(format!("kept: {}", bytes(b)));
                }
                None => ok = false,
            }
        }
        if !ok {
            return Err(());
        }
        if total > bound {
            let mut d = Diagnostic::new(
                Code::ServerPaysInvalid,
                *span,
                format!("`{mname}` may take more than the server says it pays"),
            )
            .label(format!("at most {} per call", bytes(bound)));
            for s in steps {
                d = d.note(s);
            }
            self.diags.push(
                d.note(format!("in all {} > {}", bytes(total), bytes(bound)))
                    .help(format!("raise the bound to at least {}", bytes(total))),
            );
            return Err(());
        }
        Ok(Some(bound))
    }

    /// `keeps`, `for` and `refunds` outside a session: the server would
    /// keep, beyond the call, what nobody pays for (`E0742`). `false`
    /// after an error.
    pub(super) fn unpaid_state(&mut self, method: &ast::Method, server_pays: bool) -> bool {
        let mname = &method.name.name;
        let kept = method
            .keeps
            .iter()
            .filter(|k| !server_pays || k.handed_to.is_some())
            .map(|k| (k.span, "keeps state beyond the call"))
            .chain(
                method
                    .allocations
                    .iter()
                    .filter(|a| a.handed_to.is_some())
                    .map(|a| (a.span, "hands out what it allocates")),
            )
            .chain(method.refunds.iter().map(|r| (r.span, "refunds a charge")))
            .next();
        let Some((span, what)) = kept else {
            return true;
        };
        self.diags.push(
            Diagnostic::new(
                Code::UnpaidState,
                span,
                format!("`{mname}` {what}, but no session pays for it"),
            )
            .label("kept beyond the call")
            .note("every byte a server keeps beyond a call is charged to a client's session; without one the server would pay, and one client could exhaust it")
            .help("open the interface as a session (`session { donates quota N; out_of_budget V; }`), or say the server pays with `server_pays N;`"),
        );
        false
    }
}

/// The results of `m` it charges something `for`.
fn hands_out(m: &model::Method) -> impl Iterator<Item = usize> + '_ {
    let charges = m
        .charges
        .as_ref()
        .map(|c| c.charges.as_slice())
        .unwrap_or(&[]);
    let mut out: Vec<usize> = charges.iter().filter_map(|c| c.handed_to).collect();
    out.sort_unstable();
    out.dedup();
    out.into_iter()
}

/// Whether an argument of type `param` can be a result of type `result`
/// handed back: the same cap type, or an unsigned integer.
fn same_handle(result: &ParamKind, param: &ParamKind) -> bool {
    match (result, param) {
        (ParamKind::Cap { cap: a, .. }, ParamKind::Cap { cap: b, .. }) => a == b,
        (ParamKind::AnyCap { .. }, ParamKind::AnyCap { .. }) => true,
        (ParamKind::Scalar(a), ParamKind::Scalar(b)) => a == b,
        _ => false,
    }
}

/// A parameter type as written, for help text.
fn describe_ty(ty: &ParamType) -> String {
    match ty {
        ParamType::Scalar(Scalar::Word) => "word".to_string(),
        ParamType::Scalar(Scalar::Uint(n)) => format!("u{n}"),
        _ => "u32".to_string(),
    }
}

impl Ctx<'_> {
    /// W0014: a method the server pays for, with its bound, so that
    /// `--deny-warnings` refuses it unless the interface says
    /// `#[allow(server_pays)]`. W0015: what a method hands out that no
    /// method refunds (it returns to the session only when the session
    /// closes), unless `#[allow(never_refunded)]`.
    pub(super) fn lint_sessions(&mut self, interfaces: &[model::MethodSet]) {
        let sets = self.items.interfaces.clone();
        for (_, set) in sets {
            let Some(checked) = interfaces.iter().find(|i| i.name == set.name.name) else {
                continue;
            };
            let pays = !self.is_allowed("server_pays", set.name.span);
            let refunds = !self.is_allowed("never_refunded", set.name.span);
            for (mi, m) in checked.methods.iter().enumerate() {
                if let (Some(bound), true) = (m.server_pays, pays) {
                    let span = set
                        .methods
                        .iter()
                        .find(|a| a.name.name == m.name)
                        .and_then(|a| a.server_pays.first())
                        .map_or(m.span, |(_, s)| *s);
                    self.diags.push(
                        Diagnostic::new(
                            Code::ServerPays,
                            span,
                            format!("the server pays for `{}`", m.name),
                        )
                        .label(format!("up to {} per call from the server's own memory", bytes(bound)))
                        .note("a client that calls it often enough takes this memory from every other client")
                        .help(format!(
                            "charge a session or a donation instead, or write `#[allow(server_pays)]` on `{}` if the server means to pay",
                            checked.name
                        )),
                    );
                }
                if !refunds {
                    continue;
                }
                for ri in hands_out(m) {
                    let refunded = checked.methods.iter().any(|other| {
                        other
                            .charges
                            .as_ref()
                            .is_some_and(|c| c.refunds.iter().any(|r| r.from.contains(&(mi, ri))))
                    });
                    if refunded {
                        continue;
                    }
                    let result = &m.results[ri];
                    self.diags.push(
                        Diagnostic::new(
                            Code::NeverRefunded,
                            result.span,
                            format!("no method takes `{}` of `{}` back", result.name, m.name),
                        )
                        .label("charged to the session until it closes")
                        .note("a client that is done with it cannot get its quota back without closing its session")
                        .help(format!(
                            "add a method with `refunds ARG from {};`, or write `#[allow(never_refunded)]` on `{}`",
                            m.name, checked.name
                        )),
                    );
                }
            }
        }
    }
}
