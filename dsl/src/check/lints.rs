//! Lints: warnings about specs that check but probably do not say what
//! their author meant, and `#[allow(NAME)]`, which silences one lint on
//! the item it is written on.
//!
//! | lint | codes | looks at |
//! |---|---|---|
//! | `unused` | W0001, W0002, W0003 | constants, rights, error sets, cap types, message types, enumerations |
//! | `missing_identity` | W0004 | cap types |
//! | `donation_size` | W0005 | interfaces |
//! | `server_pays` | W0014 | interfaces |
//! | `never_refunded` | W0015 | interfaces |
//! | `undeclared_refusal` | W0016 | `invocations` blocks |
//!
//! Like every warning, they run only on a spec without errors.

use crate::ast;
use crate::diag::{Code, Diagnostic, closest};
use crate::model::{self, Role};

use super::caps::{literal, pow2_bytes};
use super::eval::bytes;
use super::{Ctx, list};

/// The kinds of item a lint may look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Looked {
    Const,
    Rights,
    Errors,
    Cap,
    Interface,
    /// A `struct`, `enum` or `type`.
    Data,
    /// An `enum Name: uN`.
    Enumeration,
    /// An `invocations` block.
    Invocations,
    /// A `bitfield`.
    Bitfield,
}

impl Looked {
    fn of(kind: &ast::ItemKind) -> Option<Looked> {
        match kind {
            ast::ItemKind::Const(_) => Some(Looked::Const),
            ast::ItemKind::Rights(_) => Some(Looked::Rights),
            ast::ItemKind::Errors(_) => Some(Looked::Errors),
            ast::ItemKind::Cap(_) => Some(Looked::Cap),
            ast::ItemKind::Interface(_) => Some(Looked::Interface),
            ast::ItemKind::Enum(e) if e.width.is_some() => Some(Looked::Enumeration),
            ast::ItemKind::Bitfield(_) => Some(Looked::Bitfield),
            ast::ItemKind::Invocations(_) => Some(Looked::Invocations),
            ast::ItemKind::Struct(_) | ast::ItemKind::Enum(_) | ast::ItemKind::TypeAlias(_) => {
                Some(Looked::Data)
            }
            _ => None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Looked::Const => "a constant",
            Looked::Rights => "a `rights` item",
            Looked::Errors => "an error set",
            Looked::Cap => "a cap type",
            Looked::Interface => "an interface",
            Looked::Data => "a message type",
            Looked::Enumeration => "an enumeration",
            Looked::Bitfield => "a bitfield",
            Looked::Invocations => "an `invocations` block",
        }
    }
}

/// A lint `#[allow(...)]` can name.
struct Lint {
    /// The name written in `#[allow(...)]`.
    name: &'static str,
    /// Its codes, as the note on a bad name lists them.
    codes: &'static str,
    /// The items it looks at.
    looks_at: &'static [Looked],
    /// Those items in words.
    items: &'static str,
}

const LINTS: &[Lint] = &[
    Lint {
        name: "unused",
        codes: "W0001 (types), W0002 (rights), W0003 (constants)",
        looks_at: &[
            Looked::Const,
            Looked::Rights,
            Looked::Errors,
            Looked::Cap,
            Looked::Data,
            Looked::Enumeration,
            Looked::Bitfield,
        ],
        items: "constants, rights, error sets, cap types, message types, enumerations and bitfields",
    },
    Lint {
        name: "missing_identity",
        codes: "W0004",
        looks_at: &[Looked::Cap],
        items: "cap types",
    },
    Lint {
        name: "donation_size",
        codes: "W0005",
        looks_at: &[Looked::Interface],
        items: "interfaces",
    },
    Lint {
        name: "server_pays",
        codes: "W0014",
        looks_at: &[Looked::Interface],
        items: "interfaces",
    },
    Lint {
        name: "never_refunded",
        codes: "W0015",
        looks_at: &[Looked::Interface],
        items: "interfaces",
    },
    Lint {
        name: "undeclared_refusal",
        codes: "W0016",
        looks_at: &[Looked::Invocations],
        items: "`invocations` blocks",
    },
];

/// `unused`, `missing_identity`, ... in backticks.
fn lint_names() -> String {
    let names: Vec<&str> = LINTS.iter().map(|l| l.name).collect();
    list(&names).replace(" and ", " or ")
}

impl Ctx<'_> {
    /// `#[allow(LINT, ...)]` on an item: each name must be a lint that
    /// looks at this kind of item; the item's names are recorded for the
    /// lints to pass over.
    pub(super) fn allow(&mut self, item: &ast::Item, attr: &ast::Attribute) {
        let written = format!(
            "#[allow({})]",
            attr.flags
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let Some(looked) = Looked::of(&item.kind) else {
            let places: Vec<String> = LINTS
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let verb = if i == 0 { " looks" } else { "" };
                    format!("`{}`{verb} at {}", l.name, l.items)
                })
                .collect();
            let places = places.join("; ");
            self.diags.push(
                Diagnostic::new(
                    Code::AttributeMisuse,
                    attr.span,
                    format!("`{written}` on an item no lint looks at"),
                )
                .label("nothing to allow here")
                .help(format!("{places}: put it on one of those")),
            );
            return;
        };
        let here: Vec<&Lint> = LINTS
            .iter()
            .filter(|l| l.looks_at.contains(&looked))
            .collect();
        let suggestion = |name: Option<&str>| -> String {
            let names: Vec<String> = match name {
                Some(n) => vec![format!("`#[allow({n})]`")],
                None => here
                    .iter()
                    .map(|l| format!("`#[allow({})]`", l.name))
                    .collect(),
            };
            names.join(" or ")
        };
        let bad = attr
            .flags
            .iter()
            .find(|f| !LINTS.iter().any(|l| l.name == f.name));
        if !attr.args.is_empty() || attr.flags.is_empty() || bad.is_some() {
            let at = bad.map_or(attr.span, |f| f.span);
            let near = bad.and_then(|f| closest(&f.name, here.iter().map(|l| l.name)));
            let notes: Vec<String> = LINTS
                .iter()
                .map(|l| format!("`{}`: {}", l.name, l.codes))
                .collect();
            self.diags.push(
                Diagnostic::new(
                    Code::AttributeMisuse,
                    at,
                    "`#[allow]` takes the lint to allow",
                )
                .label(format!("expected {}", lint_names()))
                .note(format!("the lints are {}", notes.join("; ")))
                .help(match near {
                    Some(n) => format!("did you mean {}?", suggestion(Some(n))),
                    None => format!("write {}", suggestion(None)),
                }),
            );
            return;
        }
        for flag in &attr.flags {
            let lint = LINTS.iter().find(|l| l.name == flag.name).expect("checked");
            if !lint.looks_at.contains(&looked) {
                self.diags.push(
                    Diagnostic::new(
                        Code::AttributeMisuse,
                        flag.span,
                        format!("`{}` does not look at {}", lint.name, looked.describe()),
                    )
                    .label(format!("`{}` looks at {} only", lint.name, lint.items))
                    .help(format!(
                        "move it to the item whose warning it silences; on {} write {}",
                        looked.describe(),
                        suggestion(None)
                    )),
                );
                return;
            }
        }
        let names: Vec<&ast::Ident> = match &item.kind {
            ast::ItemKind::Const(c) => vec![&c.name],
            ast::ItemKind::Rights(rights) => rights.iter().map(|r| &r.name).collect(),
            ast::ItemKind::Errors(e) => vec![&e.name],
            ast::ItemKind::Cap(c) => vec![&c.name],
            ast::ItemKind::Interface(m) => vec![&m.name],
            ast::ItemKind::Struct(t) => vec![&t.name],
            ast::ItemKind::Enum(t) => vec![&t.name],
            ast::ItemKind::TypeAlias(t) => vec![&t.name],
            ast::ItemKind::Bitfield(b) => vec![&b.name],
            ast::ItemKind::Invocations(m) => vec![&m.name],
            _ => Vec::new(),
        };
        for flag in &attr.flags {
            let lint = LINTS.iter().find(|l| l.name == flag.name).expect("checked");
            self.allowed
                .extend(names.iter().map(|n| (lint.name, n.span)));
        }
    }

    /// Whether `#[allow(lint)]` is written on the item named at `span`.
    pub(super) fn is_allowed(&self, lint: &str, span: crate::source::Span) -> bool {
        self.allowed.iter().any(|(l, s)| *l == lint && *s == span)
    }

    /// W0016: a kernel invocation whose generated decoder can refuse a
    /// request with an error of the block's set (by the decoder error's
    /// name: `IllegalOperation`, `TruncatedMessage`, `InvalidArgument`,
    /// `InvalidCapability`) that the method's `errors` list leaves out. A
    /// kernel maps the decoder's refusals to the variants of those names,
    /// so the client would take the kernel's answer for a malformed reply.
    pub(super) fn lint_refusals(
        &mut self,
        invocations: &[model::MethodSet],
        error_sets: &[model::ErrorSet],
    ) {
        let blocks = self.items.invocations.clone();
        for (_, block) in blocks {
            if self.is_allowed("undeclared_refusal", block.name.span) {
                continue;
            }
            let Some(set) = invocations
                .iter()
                .find(|s| s.cap.is_some() && s.span == block.name.span)
            else {
                continue;
            };
            let errors = &error_sets[set.errors.index()];
            for m in &set.methods {
                for (name, when) in refusals(m) {
                    let Some(index) = errors.variants.iter().position(|v| v.name == name) else {
                        continue;
                    };
                    if m.errors.contains(&index) {
                        continue;
                    }
                    self.diags.push(
                        Diagnostic::new(
                            Code::UndeclaredRefusal,
                            m.span,
                            format!("`{}` can be refused with `{name}`, which it does not declare", m.name),
                        )
                        .label(format!("its decoder answers `{name}` {when}"))
                        .note(format!(
                            "a client takes an error its method does not declare for a malformed reply, so `{name}` from the kernel would reach it as one"
                        ))
                        .help(format!(
                            "add `{name}` to its `errors` list, or write `#[allow(undeclared_refusal)]` on `invocations {}` if the kernel answers something else",
                            set.name
                        )),
                    );
                }
            }
        }
    }

    /// W0004: a cap type that names an object but has no `#[identity]`
    /// field: any two of its caps name the same object.
    pub(super) fn lint_identity(
        &mut self,
        caps: &[Option<model::CapType>],
        objects: &[Option<model::Object>],
    ) {
        for cap in caps.iter().flatten() {
            let Some(object) = cap.object else { continue };
            if cap.fields.iter().any(|f| f.identity)
                || self.is_allowed("missing_identity", cap.span)
            {
                continue;
            }
            let object = objects[object.index()]
                .as_ref()
                .map_or("its object", |o| o.name.as_str());
            let mut d = Diagnostic::new(
                Code::MissingIdentity,
                cap.span,
                format!(
                    "cap type `{}` names `{object}` objects but has no `#[identity]` field",
                    cap.name
                ),
            )
            .label("no field tells its objects apart")
            .note(format!(
                "two caps name the same object when their `#[identity]` fields are equal; with none, any two `{}` caps name the same object (`same_object` holds for all of them), so no `{object}` is finalised until the last cap to any of them goes",
                cap.name
            ));
            // The object's address, and its size argument when it has one
            // (an Untyped and the one Untyped of its size retyped from it
            // share their base).
            let marks: Vec<String> = [(Role::Object, "object"), (Role::SizeArg, "size_arg")]
                .into_iter()
                .filter_map(|(role, attr)| {
                    cap.field_with(role)
                        .map(|f| format!("`#[identity] #[{attr}] {}`", f.name))
                })
                .collect();
            if let Some(f) = cap.field_with(Role::Object) {
                d = d.with_secondary(f.span, "the object's address, not part of the identity");
            }
            d = d.help(if marks.is_empty() {
                format!(
                    "mark the fields that tell objects apart `#[identity]`, or write `#[allow(missing_identity)]` on the cap type if there is only ever one `{object}`"
                )
            } else {
                format!(
                    "write {}, or `#[allow(missing_identity)]` on the cap type if there is only ever one `{object}`",
                    marks.join(" and ")
                )
            });
            self.diags.push(d);
        }
    }

    /// W0005: `donates CapType >= N` where no object of the donated
    /// Untyped type is `N` bytes. Untyped sizes are powers of two (in the
    /// type's domain), so a caller that donates a whole one gives at least
    /// the smallest size that covers `N`: the warning names it.
    pub(super) fn lint_donations(
        &mut self,
        caps: &[Option<model::CapType>],
        objects: &[Option<model::Object>],
        interfaces: &[model::MethodSet],
    ) {
        let sets = self.items.interfaces.clone();
        for (_, set) in sets {
            if self.is_allowed("donation_size", set.name.span) {
                continue;
            }
            let Some(checked) = interfaces.iter().find(|i| i.name == set.name.name) else {
                continue;
            };
            for method in &set.methods {
                let Some(ast::Donation::Untyped {
                    cap, bytes: expr, ..
                }) = method.donations.first()
                else {
                    continue;
                };
                let donation = checked
                    .methods
                    .iter()
                    .find(|m| m.name == method.name.name)
                    .and_then(|m| m.donation.as_ref());
                let Some(model::Donation {
                    kind: model::DonationKind::Untyped(cap_id),
                    min_bytes,
                    ..
                }) = donation
                else {
                    continue;
                };
                let Some(object) = caps[cap_id.index()]
                    .as_ref()
                    .and_then(|c| c.object)
                    .and_then(|o| objects[o.index()].as_ref())
                else {
                    continue;
                };
                if let Some(d) =
                    donation_size(&method.name.name, &cap.name, object, *min_bytes, expr.span)
                {
                    self.diags.push(d);
                }
            }
        }
    }
}

/// The W0005 diagnostic for a minimum donation of `min` bytes of `object`
/// (an untyped type) through `cap`, or `None` when some object of the type
/// is exactly that large.
fn donation_size(
    method: &str,
    cap: &str,
    object: &model::Object,
    min: u64,
    at: crate::source::Span,
) -> Option<Diagnostic> {
    if object.size.size_of(min).is_some() {
        return None;
    }
    let mut sizes: Vec<(u64, u32)> = object.size.table.clone();
    sizes.sort_by_key(|(_, bits)| *bits);
    let size = |bits: u32| 1u128 << bits;
    if sizes.iter().any(|(_, bits)| size(*bits) == u128::from(min)) {
        return None;
    }
    let name = &object.name;
    let written = |arg: u64| match object.size.param {
        Some(_) => format!("`{name}({arg})`"),
        None => format!("`{name}`"),
    };
    let all: Vec<u32> = sizes.iter().map(|(_, bits)| *bits).collect();
    let contiguous = all.windows(2).all(|w| w[1] == w[0] + 1);
    let range = match (all.first(), all.last()) {
        (Some(lo), Some(hi)) if lo == hi => pow2_bytes(*lo),
        (Some(lo), Some(hi)) if contiguous => {
            format!(
                "powers of two from {} to {}",
                pow2_bytes(*lo),
                pow2_bytes(*hi)
            )
        }
        _ => {
            let each: Vec<String> = all.iter().map(|b| pow2_bytes(*b)).collect();
            format!("{} only", each.join(", "))
        }
    };
    let d = match sizes.iter().find(|(_, bits)| size(*bits) > u128::from(min)) {
        Some(&(arg, bits)) => {
            let real = 1u64 << bits;
            Diagnostic::new(
                Code::DonationSize,
                at,
                format!(
                    "no `{name}` is {}: a caller of `{method}` donates at least {}",
                    bytes(min),
                    bytes(real)
                ),
            )
            .label(format!("not a size of `{name}`"))
            .with_secondary(object.span, format!("`{name}` sizes: {range}"))
            .note(format!(
                "`{cap}` names `{name}`: the smallest that covers {} is {}, {}; only what is left of a partly retyped one can be {min} bytes",
                bytes(min),
                written(arg),
                pow2_bytes(bits)
            ))
            .help(format!(
                "write what a caller donates: `donates {cap} >= {};`, or `#[allow(donation_size)]` on the interface if callers donate what is left of partly retyped `{name}` objects",
                literal(real)
            ))
        }
        None => {
            let largest = all.last().copied().unwrap_or(0);
            Diagnostic::new(
                Code::DonationSize,
                at,
                format!(
                    "no `{name}` is as large as {}: no caller of `{method}` can donate enough",
                    bytes(min)
                ),
            )
            .label(format!("more than the largest `{name}`"))
            .with_secondary(object.span, format!("`{name}` sizes: {range}"))
            .note(format!(
                "`{cap}` names `{name}`, whose largest is {}",
                pow2_bytes(largest)
            ))
            .help(format!(
                "lower the minimum to at most {}, allow larger `{name}` sizes, or donate a byte quota (`donates quota N;`)",
                pow2_bytes(largest)
            ))
        }
    };
    Some(d)
}

/// What the generated decoder of kernel invocation `m` can refuse a request
/// with before the method runs, by the decoder error's name, and when (see
/// the generated `DecodeError`).
fn refusals(m: &model::Method) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if !m.requires.is_empty() {
        out.push((
            "IllegalOperation",
            "when the invoked cap lacks a right the method `requires`".to_string(),
        ));
    }
    let cap = |p: &&model::MethodParam| matches!(p.kind, model::ParamKind::Cap { .. });
    if m.request_words > 0 || m.params.iter().any(|p| cap(&p)) {
        out.push((
            "TruncatedMessage",
            "to a message shorter than its parameters".to_string(),
        ));
    }
    let checked_word = m.params.iter().find(|p| {
        p.range.is_some()
            || p.values.is_some()
            || p.bitfield.is_some()
            || match p.kind {
                // A packed `bool` or `uN` is read from exactly its bits:
                // every value is one (an enumeration is checked above).
                model::ParamKind::Scalar(_) if p.at.is_some() => false,
                model::ParamKind::Scalar(s) => {
                    !matches!(s, ast::Scalar::Word | ast::Scalar::Uint(64))
                }
                model::ParamKind::Array { .. } => true,
                _ => false,
            }
    });
    if let Some(p) = checked_word {
        out.push((
            "InvalidArgument",
            format!("to a value of `{}` outside its type", p.name),
        ));
    }
    let checked_cap = m.params.iter().find(|p| {
        matches!(
            p.kind,
            model::ParamKind::Cap {
                unchecked: false,
                ..
            }
        )
    });
    if let Some(p) = checked_cap {
        out.push((
            "InvalidCapability",
            format!(
                "when cap `{}` is not of its type or lacks its rights",
                p.name
            ),
        ));
    }
    out
}
