//! Creation invocations: `creates CapType(field = param, ...) in root;` on
//! a kernel invocation (seL4's IRQControl Get and IOPortControl Issue): the
//! invocation makes a cap of `CapType`, a child of the invoked cap, in the
//! CNode the cap parameter `root` names, its fields set from parameters.
//!
//! Rules: one clause per method (`E0105`), on kernel invocations only
//! (`E0709`); the cap type exists (`E0100`, `E0102`) and a `derive` rule
//! makes it from the invoked cap type (`E0444`: the rule is what puts the
//! new cap in the derivation tree, under the invoked cap); `root` is a cap
//! parameter of a CNode cap type, one that names an object and has a
//! `#[guard]` field (`E0445`); each `field = param` names a
//! field of the new cap (`E0100`) once, and a parameter of the method
//! (`E0100`) whose type the field can hold (`E0446`: a `bool` for a
//! `bool`, a `word` or `uN` for an integer or pointer; a rights field is
//! never set from a parameter).
//!
//! `creates T(...) from untyped in root;` makes a new object instead (seL4's
//! ASIDControl MakePool): `untyped` is a checked cap parameter of a cap
//! type that is retyped (a `retype` rule's source) and has a `#[watermark]`
//! field, as an Untyped's does (`E0485`); `T` names an object type
//! (`for Object`) of one fixed size that RAM may hold (`E0486`); the object
//! is all of the Untyped (the kernel checks its size), at its address, so
//! `T`'s `#[object]` field is not set from a parameter (`E0446`), and the
//! new cap is the Untyped's child, so no `derive` rule is needed.

use std::collections::BTreeMap;

use crate::ast::{self, Scalar};
use crate::diag::{Code, Diagnostic};
use crate::model::{self, FieldKind, ParamKind, Role};
use crate::source::Span;

use super::methods::Known;
use super::{Ctx, TypeSym};

impl Ctx<'_> {
    /// The method's creation, `Ok(None)` without one, `Err` after an error.
    pub(super) fn check_creates(
        &mut self,
        method: &ast::Method,
        invocation: bool,
        invoked: Option<usize>,
        params: &[model::MethodParam],
        known: &Known<'_>,
    ) -> Result<Option<model::Creation>, ()> {
        let (caps, derives) = (known.caps, known.derives);
        let Some(clause) = method.creates.first() else {
            return Ok(None);
        };
        if let Some(again) = method.creates.get(1) {
            self.diags.push(
                Diagnostic::new(
                    Code::DuplicateStatement,
                    again.span,
                    format!("`{}` creates twice", method.name.name),
                )
                .label("second `creates`")
                .with_secondary(clause.span, "first `creates`")
                .help("an invocation creates one cap: remove one clause"),
            );
            return Err(());
        }
        if !invocation {
            self.diags.push(
                Diagnostic::new(
                    Code::NotValidHere,
                    clause.span,
                    "`creates` in an interface is not valid",
                )
                .label("not valid here")
                .note("only the kernel makes caps out of nothing; a server hands out caps it holds with `grant`")
                .help("return the cap as a `grant cap` result"),
            );
            return Err(());
        }
        let mut ok = true;
        let created = self.resolve(&clause.cap, "a cap type", |s| match s {
            TypeSym::Cap(i) => Some(i),
            _ => None,
        });
        let (Some(created), Some(invoked)) = (created, invoked) else {
            return Err(());
        };
        let (Some(new_cap), Some(invoked_cap)) = (caps[created].as_ref(), caps[invoked].as_ref())
        else {
            return Err(());
        };
        if clause.from.is_none()
            && !derives
                .iter()
                .any(|d| d.source.index() == invoked && d.target.index() == created)
        {
            self.diags.push(
                Diagnostic::new(
                    Code::CreationWithoutDerive,
                    clause.cap.span,
                    format!(
                        "`{}` creates `{}` caps, which no `derive` rule makes from `{}`",
                        method.name.name, new_cap.name, invoked_cap.name
                    ),
                )
                .label("not derived from the invoked cap type")
                .note("the new cap is a child of the invoked cap in the derivation tree: revoking the invoked cap deletes it, as seL4's revoke of IRQControl deletes its IRQ handlers")
                .help(format!(
                    "add `#[multiple] derive {} from {};` (without `#[multiple]` it makes one at a time)",
                    new_cap.name, invoked_cap.name
                )),
            );
            ok = false;
        }

        // A parameter that is declared but failed its own check has been
        // reported: the clause is not checked against it again.
        let failed = |name: &str| {
            !params.iter().any(|p| p.name == name)
                && method.params.iter().any(|p| p.name.name == name)
        };
        if failed(&clause.into.name)
            || clause.from.as_ref().is_some_and(|f| failed(&f.name))
            || clause.fields.iter().any(|(_, param)| failed(&param.name))
        {
            return Err(());
        }

        // A new object, from an Untyped argument.
        let from = match &clause.from {
            None => None,
            Some(from) => {
                let object_ok = self.check_created_object(method, clause, new_cap, known);
                let source = self.check_creation_source(method, from, params, known);
                ok &= object_ok;
                if source.is_none() {
                    ok = false;
                }
                source
            }
        };

        // The destination.
        let into = params.iter().position(|p| p.name == clause.into.name);
        let destination_ok = into.is_some_and(|i| match &params[i].kind {
            ParamKind::Cap {
                cap,
                alternatives,
                nullable: false,
                ..
            } if alternatives.is_empty() => caps[cap.index()].as_ref().is_some_and(is_cnode),
            _ => false,
        });
        if !destination_ok {
            let cnodes: Vec<String> = params
                .iter()
                .filter(|p| {
                    matches!(&p.kind, ParamKind::Cap { cap, alternatives, nullable: false, .. }
                        if alternatives.is_empty() && caps[cap.index()].as_ref().is_some_and(is_cnode))
                })
                .map(|p| format!("`{}`", p.name))
                .collect();
            let mut d = Diagnostic::new(
                Code::CreationDestination,
                clause.into.span,
                format!(
                    "`in {}`: the new cap's destination is not a CNode cap parameter of `{}`",
                    clause.into.name, method.name.name
                ),
            )
            .label(match into {
                None => "no parameter has this name",
                Some(_) => "not a cap of a CNode's cap type",
            })
            .note("`in` names the cap parameter whose CNode receives the new cap (seL4's `root`, with the slot's index and depth as other parameters)");
            d = if cnodes.is_empty() {
                d.help("add a CNode cap parameter (`root: cap CNodeCap`) and name it after `in`")
            } else {
                d.help(format!("name {} after `in`", cnodes.join(" or ")))
            };
            self.diags.push(d);
            ok = false;
        }

        // The fields set from parameters.
        let mut fields = Vec::new();
        let mut set: BTreeMap<&str, Span> = BTreeMap::new();
        for (field, param) in &clause.fields {
            let Some(f) = new_cap.fields.iter().position(|x| x.name == field.name) else {
                let names: Vec<&str> = new_cap.fields.iter().map(|x| x.name.as_str()).collect();
                self.unknown(field, &format!("field of `{}`", new_cap.name), names);
                ok = false;
                continue;
            };
            if let Some(first) = set.insert(&field.name, field.span) {
                self.diags.push(
                    Diagnostic::new(
                        Code::DuplicateName,
                        field.span,
                        format!("field `{}` is set twice", field.name),
                    )
                    .label("set again here")
                    .with_secondary(first, "first set here")
                    .help("set each field once"),
                );
                ok = false;
                continue;
            }
            let Some(p) = params.iter().position(|x| x.name == param.name) else {
                let names: Vec<&str> = params.iter().map(|x| x.name.as_str()).collect();
                self.unknown(
                    param,
                    &format!("parameter of `{}`", method.name.name),
                    names,
                );
                ok = false;
                continue;
            };
            if clause.from.is_some() && new_cap.fields[f].role == Role::Object {
                self.diags.push(
                    Diagnostic::new(
                        Code::CreationField,
                        param.span,
                        format!(
                            "field `{}` of `{}` cannot be set from parameter `{}`",
                            field.name, new_cap.name, param.name
                        ),
                    )
                    .label("the new object's address")
                    .with_secondary(params[p].span, "the parameter")
                    .note("with `from`, the new object is the Untyped's memory: its cap's `#[object]` field is the Untyped's address")
                    .help(format!("leave `{}` out of the parentheses", field.name)),
                );
                ok = false;
                continue;
            }
            let field_kind = &new_cap.fields[f].kind;
            // An enumerated field takes a parameter of its enumeration, and
            // such a parameter sets only a field of it.
            let same_values = new_cap.fields[f].values == params[p].values;
            let holds = same_values
                && matches!(
                    (&params[p].kind, field_kind),
                    (ParamKind::Scalar(Scalar::Bool), FieldKind::Bool)
                        | (
                            ParamKind::Scalar(Scalar::Word | Scalar::Uint(_)),
                            FieldKind::Uint | FieldKind::Ptr { .. },
                        )
                );
            if !holds {
                let what = match field_kind {
                    _ if !same_values => {
                        "an enumerated field takes a parameter of its enumeration, and an enumerated parameter sets a field of its enumeration"
                    }
                    FieldKind::Bool => "a `bool` field takes a `bool` parameter",
                    FieldKind::Rights { .. } => {
                        "a rights field is not set from a parameter: the new cap has the rights its type may carry that the invoked cap carries"
                    }
                    FieldKind::Uint | FieldKind::Ptr { .. } => {
                        "an integer or pointer field takes a `word` or `uN` parameter"
                    }
                };
                self.diags.push(
                    Diagnostic::new(
                        Code::CreationField,
                        param.span,
                        format!(
                            "field `{}` of `{}` cannot be set from parameter `{}`",
                            field.name, new_cap.name, param.name
                        ),
                    )
                    .label("not a value this field holds")
                    .with_secondary(params[p].span, "the parameter")
                    .note(what)
                    .help("name a parameter of the field's type, or leave the field out (it is 0)"),
                );
                ok = false;
                continue;
            }
            fields.push((f, p));
        }
        if !ok {
            return Err(());
        }
        Ok(Some(model::Creation {
            cap: model::CapId(created as u32),
            into: into.expect("checked"),
            from,
            fields,
            span: clause.span,
        }))
    }
}

impl Ctx<'_> {
    /// `E0486`: a creation `from` an Untyped makes an object of the created
    /// cap type's object type, which has one size and may be made from RAM.
    fn check_created_object(
        &mut self,
        method: &ast::Method,
        clause: &ast::Creates,
        new_cap: &model::CapType,
        known: &Known<'_>,
    ) -> bool {
        let object = new_cap
            .object
            .and_then(|o| known.objects[o.index()].as_ref());
        let why = match object {
            None if new_cap.object.is_some() => return false,
            None => format!("`{}` names no object type (no `for Object`)", new_cap.name),
            Some(o) if o.size.param.is_some() => format!(
                "`{}`'s object type `{}` has a size argument: which size would the Untyped have to be?",
                new_cap.name, o.name
            ),
            Some(o) if !o.ram => format!(
                "`{}`'s object type `{}` is made from device memory only, and `from` takes RAM",
                new_cap.name, o.name
            ),
            Some(_) => return true,
        };
        self.diags.push(
            Diagnostic::new(
                Code::CreationObject,
                clause.cap.span,
                format!(
                    "`{}` makes a new object for `{}` caps from an Untyped, but {why}",
                    method.name.name, new_cap.name
                ),
            )
            .label("no object of one size")
            .note("`creates T from untyped` turns all of the Untyped into one object of `T`'s object type, as seL4's ASIDControl MakePool turns a 4 KiB Untyped into an ASID pool; the kernel checks the Untyped is exactly that object's size")
            .help("create a cap type `for` an object type of one fixed size, or drop `from` to create a cap without an object"),
        );
        false
    }

    /// `E0485`: the parameter after `from`, a checked cap parameter of a
    /// cap type that is retyped and has a `#[watermark]` (an Untyped's).
    fn check_creation_source(
        &mut self,
        method: &ast::Method,
        from: &ast::Ident,
        params: &[model::MethodParam],
        known: &Known<'_>,
    ) -> Option<usize> {
        let is_untyped = |cap: model::CapId| {
            known.retypes.iter().any(|r| r.source == cap)
                && known.caps[cap.index()]
                    .as_ref()
                    .is_some_and(|c| c.object.is_some() && c.field_with(Role::Watermark).is_some())
        };
        let index = params.iter().position(|p| p.name == from.name);
        let (label, note) = match index.map(|i| &params[i].kind) {
            Some(ParamKind::Cap {
                cap,
                unchecked: false,
                alternatives,
                nullable: false,
                ..
            }) if alternatives.is_empty() && is_untyped(*cap) => return index,
            None => ("no parameter has this name", None),
            Some(ParamKind::Cap {
                alternatives,
                nullable,
                ..
            }) if !alternatives.is_empty() || *nullable => (
                "a cap that may be null or of another type",
                Some(
                    "the new object is made of the Untyped: the parameter names one cap type, without `| null`",
                ),
            ),
            Some(ParamKind::Cap {
                unchecked: true, ..
            }) => (
                "an `#[unchecked]` cap",
                Some(
                    "the decoder checks the Untyped's type, size and kind of memory, and the created cap is built from its address: the parameter must be a checked cap",
                ),
            ),
            Some(ParamKind::Cap { .. }) => (
                "not a cap of an Untyped's cap type",
                Some(
                    "an Untyped's cap type names an object, is one a `retype` rule retypes and has a `#[watermark]` field",
                ),
            ),
            Some(_) => ("not a cap parameter", None),
        };
        let untyped: Vec<String> = params
            .iter()
            .filter(|p| matches!(&p.kind, ParamKind::Cap { cap, unchecked: false, alternatives, nullable: false, .. } if alternatives.is_empty() && is_untyped(*cap)))
            .map(|p| format!("`{}`", p.name))
            .collect();
        let mut d = Diagnostic::new(
            Code::CreationSource,
            from.span,
            format!(
                "`from {}`: the new object's memory is not an Untyped cap parameter of `{}`",
                from.name, method.name.name
            ),
        )
        .label(label);
        if let Some(note) = note {
            d = d.note(note);
        }
        d = if untyped.is_empty() {
            d.help(
                "add an Untyped cap parameter (`untyped: cap UntypedCap`) and name it after `from`",
            )
        } else {
            d.help(format!("name {} after `from`", untyped.join(" or ")))
        };
        self.diags.push(d);
        None
    }
}

/// Whether caps of `cap` address CNodes, as a kernel's lookup reads them:
/// it names an object and has a `#[guard]` field.
fn is_cnode(cap: &model::CapType) -> bool {
    cap.object.is_some() && cap.field_with(Role::Guard).is_some()
}
