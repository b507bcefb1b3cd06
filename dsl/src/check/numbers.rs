//! Cap-type tags (`#[tag(N)]` on a `cap`) and object-type numbers
//! (`#[number(N)]` on an `object`, `frame` or `untyped`).
//!
//! One rule numbers both: an item with the attribute has its number; the
//! items without take, in declaration order, the lowest numbers no item
//! has (from 1 for tags, tag 0 being the null cap; from 0 for object
//! types). With no attribute anywhere this is declaration order: tag =
//! index + 1, object number = index. Two items of one kind with the same
//! number are `E0433`; a tag outside `1..2^tag_bits` or an object number
//! past `MAX_OBJECT_NUMBER` is `E0434`; an unnumbered cap type left
//! without a tag that fits is `E0405`.

use crate::ast;
use crate::diag::{Code, Diagnostic};
use crate::model;
use crate::source::Span;

use super::Ctx;

/// The largest object-type number: it is a Rust enum's discriminant and a
/// C enum constant, at most 2^31 - 1 on every target.
pub const MAX_OBJECT_NUMBER: u64 = (1 << 31) - 1;

/// The numbers after the first of each item's `#[number(A, B, ...)]`,
/// each with where it is written (empty for items with one number).
pub(super) type ExtraNumbers = Vec<Vec<(u64, Span)>>;

/// Each item's one number (or first of several), with where it is given.
type Explicit = Vec<Option<(u64, Span)>>;

/// What is being numbered.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tag,
    Object,
}

impl Kind {
    fn attr(self) -> &'static str {
        match self {
            Kind::Tag => "tag",
            Kind::Object => "number",
        }
    }
    fn noun(self) -> &'static str {
        match self {
            Kind::Tag => "cap type",
            Kind::Object => "object type",
        }
    }
    fn what(self) -> &'static str {
        match self {
            Kind::Tag => "tag",
            Kind::Object => "object-type number",
        }
    }
}

impl Ctx<'_> {
    /// Each cap type's tag, in declaration order; `None` after an error or
    /// without a target.
    pub(super) fn cap_tags(&mut self, target: Option<&model::Target>) -> Option<Vec<u32>> {
        let items: Vec<(&ast::Item, &ast::Ident)> =
            self.items.caps.iter().map(|(i, c)| (*i, &c.name)).collect();
        let (explicit, _) = self.explicit_numbers(&items, Kind::Tag)?;
        let target = target?;
        let limit = (1u64 << target.tag_bits) - 1;
        let names: Vec<&ast::Ident> = items.iter().map(|(_, n)| *n).collect();
        self.assign(&names, &explicit, &[], Kind::Tag, 1, limit, Some(target))
    }

    /// Each object type's number, in declaration order, and the numbers
    /// after the first of a `#[number(A, B, ...)]` (one per further value
    /// of the size argument, checked against its domain by the caller);
    /// `None` after an error.
    pub(super) fn object_numbers(&mut self) -> Option<(Vec<u32>, ExtraNumbers)> {
        let items: Vec<(&ast::Item, &ast::Ident)> = self
            .items
            .objects
            .iter()
            .map(|(i, o)| (*i, &o.name))
            .collect();
        let (explicit, extra) = self.explicit_numbers(&items, Kind::Object)?;
        let names: Vec<&ast::Ident> = items.iter().map(|(_, n)| *n).collect();
        let numbers = self.assign(
            &names,
            &explicit,
            &extra,
            Kind::Object,
            0,
            MAX_OBJECT_NUMBER,
            None,
        )?;
        Some((numbers, extra))
    }

    /// The attribute's value on each item (`E0404` when given twice or
    /// malformed), and on object types the values after the first.
    fn explicit_numbers(
        &mut self,
        items: &[(&ast::Item, &ast::Ident)],
        kind: Kind,
    ) -> Option<(Explicit, ExtraNumbers)> {
        let mut ok = true;
        let mut out = Vec::new();
        let mut extras = Vec::new();
        for (item, name) in items {
            let mut explicit: Option<(u64, Span)> = None;
            let mut extra = Vec::new();
            for attr in item.attrs.iter().filter(|a| a.name.name == kind.attr()) {
                if kind == Kind::Object && attr.all.len() > 1 && explicit.is_none() {
                    match self.number_list(attr) {
                        Some(list) => {
                            explicit = Some((list[0].0, attr.span));
                            extra = list[1..].to_vec();
                        }
                        None => ok = false,
                    }
                    continue;
                }
                ok &= self.number_once(attr, &name.name, &mut explicit);
            }
            out.push(explicit);
            extras.push(extra);
        }
        ok.then_some((out, extras))
    }

    /// The values of `#[number(A, B, ...)]`, each with its span (`E0404`
    /// for an argument that is not a value).
    fn number_list(&mut self, attr: &ast::Attribute) -> Option<Vec<(u64, Span)>> {
        let mut out = Vec::new();
        for arg in &attr.all {
            let expr = match arg {
                ast::AttrArg::Name(n) => ast::Expr {
                    kind: ast::ExprKind::Name(n.name.clone()),
                    span: n.span,
                },
                ast::AttrArg::Other(span) => match attr.values.iter().find(|e| e.span == *span) {
                    Some(e) => e.clone(),
                    None => {
                        self.number_list_misuse(*span);
                        return None;
                    }
                },
                ast::AttrArg::Call(c) => {
                    self.number_list_misuse(c.span);
                    return None;
                }
            };
            let value = self.eval_reported(&expr, None)?;
            out.push((value, expr.span));
        }
        Some(out)
    }

    fn number_list_misuse(&mut self, span: Span) {
        self.diags.push(
            Diagnostic::new(Code::AttributeMisuse, span, "`#[number(...)]` takes numbers")
                .label("not a number")
                .help("write `#[number(N)]`, or one number per value of the size argument: `#[number(8, 9, 7)]`"),
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn assign(
        &mut self,
        names: &[&ast::Ident],
        explicit: &[Option<(u64, Span)>],
        extra: &[Vec<(u64, Span)>],
        kind: Kind,
        first: u64,
        limit: u64,
        target: Option<&model::Target>,
    ) -> Option<Vec<u32>> {
        let mut ok = true;
        let mut taken: std::collections::BTreeMap<u64, (usize, Span)> = Default::default();
        let entries = explicit
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.map(|(value, span)| (i, value, span)))
            .chain(
                extra
                    .iter()
                    .enumerate()
                    .flat_map(|(i, list)| list.iter().map(move |&(value, span)| (i, value, span))),
            )
            .collect::<Vec<_>>();
        for (i, value, span) in entries {
            if !(first..=limit).contains(&value) {
                let mut d = Diagnostic::new(
                    Code::NumberOutOfRange,
                    span,
                    format!(
                        "{} `{}` cannot have {} {value}",
                        kind.noun(),
                        names[i].name,
                        kind.what()
                    ),
                )
                .label(format!("outside {first}..={limit}"));
                d = match (kind, target) {
                    (Kind::Tag, _) if value == 0 => {
                        d.note("tag 0 is the null cap, which every spec has and no `cap` declares")
                    }
                    (Kind::Tag, Some(t)) => d
                        .with_secondary(t.span, format!("`tag_bits = {}` holds tags up to {limit}", t.tag_bits))
                        .note("a cap's tag is stored in `tag_bits` bits of word 0"),
                    _ => d.note("an object-type number is a Rust enum's discriminant and a C enum constant, at most 2^31 - 1"),
                };
                let fix = match kind {
                    Kind::Tag if value > limit => {
                        "give a tag in range, or raise `tag_bits` in the target".to_string()
                    }
                    _ => format!(
                        "give {} in {first}..={limit}",
                        match kind {
                            Kind::Tag => "a tag",
                            Kind::Object => "an object-type number",
                        }
                    ),
                };
                self.diags.push(d.help(fix));
                ok = false;
                continue;
            }
            if let Some(&(j, first_span)) = taken.get(&value) {
                let mut free = value;
                while taken.contains_key(&free)
                    || explicit.iter().any(|e| e.is_some_and(|(v, _)| v == free))
                    || extra.iter().flatten().any(|(v, _)| *v == free)
                {
                    free += 1;
                }
                self.diags.push(
                    Diagnostic::new(
                        Code::DuplicateNumber,
                        span,
                        format!(
                            "{}s `{}` and `{}` both have {} {value}",
                            kind.noun(),
                            names[j].name,
                            names[i].name,
                            kind.what()
                        ),
                    )
                    .label(format!("`{}` gets {} {value}", names[i].name, kind.what()))
                    .with_secondary(first_span, format!("`{}` has it already", names[j].name))
                    .note(match kind {
                        Kind::Tag => "a cap's type is read from its tag alone",
                        Kind::Object => "retype picks the object type by its number alone",
                    })
                    .help(format!(
                        "give one of them another, e.g. `#[{}({free})]`",
                        kind.attr()
                    )),
                );
                ok = false;
                continue;
            }
            taken.insert(value, (i, span));
        }
        if !ok {
            return None;
        }
        let mut next = first;
        let mut out = Vec::new();
        for (i, e) in explicit.iter().enumerate() {
            let value = match e {
                Some((v, _)) => *v,
                None => {
                    while taken.contains_key(&next) {
                        next += 1;
                    }
                    let v = next;
                    next += 1;
                    if v > limit {
                        let mut d = Diagnostic::new(
                            match kind {
                                Kind::Tag => Code::TooManyCapTypes,
                                Kind::Object => Code::NumberOutOfRange,
                            },
                            names[i].span,
                            format!(
                                "{} `{}` gets no {}",
                                kind.noun(),
                                names[i].name,
                                kind.what()
                            ),
                        )
                        .label(format!("would be {} {v}", kind.what()));
                        if let Some(t) = target {
                            d = d.with_secondary(
                                t.span,
                                format!(
                                    "`tag_bits = {}` allows {limit} cap types (tag 0 is the null cap)",
                                    t.tag_bits
                                ),
                            );
                        }
                        self.diags.push(d.help(match kind {
                            Kind::Tag => "raise `tag_bits` in the target, or merge cap types",
                            Kind::Object => "give object types lower numbers",
                        }));
                        return None;
                    }
                    v
                }
            };
            out.push(value as u32);
        }
        Some(out)
    }
}
