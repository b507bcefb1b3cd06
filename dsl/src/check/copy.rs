//! A cap type's own conditions on copying its caps: `#[copy(requires(f),
//! clears(g, h), no_children)]`, as seL4's `deriveCap` states them per
//! type (an unmapped page-table cap is not derived, a frame's copy has no
//! mapping, an Untyped with children is not derived).
//!
//! They combine with the implicit rules (`#[never_copy]`, a `#[mapped_at]`
//! field's `Mapping`, `#[asid]`, an Untyped's children): a copy must meet
//! both. Stating an implicit rule again is allowed; undoing one is not
//! (`clears` of a `Mapping::Shared` cap's mapping fields, which its copies
//! keep).

use std::collections::BTreeMap;

use crate::ast;
use crate::diag::{Code, Diagnostic};
use crate::model::{CapField, CopyConditions, CopyPolicy, FieldKind, Mapping, Role};
use crate::source::Span;

use super::Ctx;
use super::caps::role_name;

/// The conditions `#[copy(...)]` takes.
pub const COPY_CONDITIONS: [&str; 3] = ["requires", "clears", "no_children"];

impl Ctx<'_> {
    /// The conditions of the `#[copy(...)]` attributes `attrs` on cap type
    /// `name` with `fields`; `None` (reported) if any is wrong.
    pub(super) fn copy_conditions(
        &mut self,
        name: &str,
        attrs: &[&ast::Attribute],
        fields: &[CapField],
        copy: CopyPolicy,
        never_span: Option<Span>,
        mapping: Option<Mapping>,
    ) -> Option<CopyConditions> {
        let mut out = CopyConditions::default();
        if attrs.is_empty() {
            return Some(out);
        }
        let mut ok = true;
        if copy == CopyPolicy::Never {
            let mut d = Diagnostic::new(
                Code::CopyConditionOnNeverCopy,
                attrs[0].span,
                format!("`{name}` states conditions on copies but cannot be copied"),
            )
            .label("conditions on a copy")
            .note("a `#[never_copy]` cap type (a reply cap is one) is never copied, so its copy conditions would never apply");
            if let Some(span) = never_span {
                d = d.with_secondary(span, "the cap type is `#[never_copy]` here");
            }
            self.diags
                .push(d.help("remove `#[copy(...)]`, or `#[never_copy]`"));
            ok = false;
        }
        // Where each field and `no_children` was first named, per condition.
        let mut named: BTreeMap<(&str, String), Span> = BTreeMap::new();
        for attr in attrs {
            if !attr.has_args() {
                self.diags.push(
                    Diagnostic::new(
                        Code::CopyConditionSyntax,
                        attr.span,
                        format!("`#[copy]` on `{name}` states no condition"),
                    )
                    .label("no condition")
                    .help("write `#[copy(requires(field))]`, `#[copy(clears(field, ...))]` or `#[copy(no_children)]`"),
                );
                ok = false;
                continue;
            }
            for arg in &attr.all {
                let (condition, args, span) = match arg {
                    ast::AttrArg::Name(n) => (n.name.as_str(), None, n.span),
                    ast::AttrArg::Call(c) => (c.name.name.as_str(), Some(&c.args), c.name.span),
                    ast::AttrArg::Other(span) => {
                        self.copy_syntax(*span, "a condition is `requires(field, ...)`, `clears(field, ...)` or `no_children`", "not a condition");
                        ok = false;
                        continue;
                    }
                };
                let condition = match COPY_CONDITIONS.iter().find(|c| **c == condition) {
                    Some(c) => *c,
                    None => {
                        let help = match crate::diag::closest(condition, COPY_CONDITIONS) {
                            Some(c) => format!("did you mean `{c}`?"),
                            None => "conditions are `requires(field, ...)`, `clears(field, ...)` and `no_children`".into(),
                        };
                        self.copy_syntax(
                            span,
                            &help,
                            &format!("`{condition}` is no copy condition"),
                        );
                        ok = false;
                        continue;
                    }
                };
                match (condition, args) {
                    ("no_children", None) => {
                        if let Some(first) = named.insert(("no_children", String::new()), span) {
                            self.copy_twice(name, "no_children", span, first);
                            ok = false;
                        }
                        out.no_children = true;
                    }
                    ("no_children", Some(_)) => {
                        self.copy_syntax(
                            arg.span(),
                            "write `no_children` alone",
                            "`no_children` takes no fields",
                        );
                        ok = false;
                    }
                    (_, None) => {
                        self.copy_syntax(
                            span,
                            &format!("name the fields: `{condition}(field, ...)`"),
                            &format!("`{condition}` needs fields"),
                        );
                        ok = false;
                    }
                    (_, Some(args)) => {
                        for a in args {
                            let ast::AttrArg::Name(field) = a else {
                                self.copy_syntax(
                                    a.span(),
                                    "name a field of the cap type",
                                    "not a field name",
                                );
                                ok = false;
                                continue;
                            };
                            let Some(index) = fields.iter().position(|f| f.name == field.name)
                            else {
                                self.copy_unknown_field(name, condition, field, fields);
                                ok = false;
                                continue;
                            };
                            if let Some(first) =
                                named.insert((condition, field.name.clone()), field.span)
                            {
                                self.copy_twice(
                                    name,
                                    &format!("`{}` in `{condition}`", field.name),
                                    field.span,
                                    first,
                                );
                                ok = false;
                                continue;
                            }
                            let f = &fields[index];
                            let fine = if condition == "requires" {
                                self.copy_required_field(name, field.span, f)
                            } else {
                                self.copy_cleared_field(name, field.span, f, mapping)
                            };
                            if !fine {
                                ok = false;
                                continue;
                            }
                            if condition == "requires" {
                                out.requires.push(index);
                            } else {
                                out.clears.push(index);
                            }
                        }
                    }
                }
            }
        }
        ok.then_some(out)
    }

    fn copy_syntax(&mut self, span: Span, help: &str, label: &str) {
        self.diags.push(
            Diagnostic::new(Code::CopyConditionSyntax, span, "malformed copy condition")
                .label(label)
                .help(help.to_string()),
        );
    }

    fn copy_twice(&mut self, name: &str, what: &str, span: Span, first: Span) {
        let what = if what == "no_children" {
            "`no_children`".to_string()
        } else {
            what.to_string()
        };
        self.diags.push(
            Diagnostic::new(
                Code::CopyConditionTwice,
                span,
                format!("{what} is stated twice in the copy conditions of `{name}`"),
            )
            .label("stated again here")
            .with_secondary(first, "first stated here")
            .help("state each condition on a field once"),
        );
    }

    fn copy_unknown_field(
        &mut self,
        name: &str,
        condition: &str,
        field: &ast::Ident,
        fields: &[CapField],
    ) {
        let mut d = Diagnostic::new(
            Code::CopyConditionUnknownField,
            field.span,
            format!("`{name}` has no field `{}`", field.name),
        )
        .label(format!("`{condition}` names no field of the cap type"));
        d = match crate::diag::closest(&field.name, fields.iter().map(|f| f.name.as_str())) {
            Some(c) => d.help(format!("did you mean `{c}`?")),
            None if fields.is_empty() => {
                d.help(format!("`{name}` has no fields: remove the condition"))
            }
            None => d.help(format!(
                "its fields are {}",
                super::list(&fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>())
            )),
        };
        self.diags.push(d);
    }

    /// `requires(f)`: a `bool` or `uN` field (enumerations are `uN`).
    fn copy_required_field(&mut self, name: &str, span: Span, f: &CapField) -> bool {
        let what = match f.kind {
            FieldKind::Bool | FieldKind::Uint => return true,
            FieldKind::Ptr { .. } => "a pointer",
            FieldKind::Rights { .. } => "a rights mask",
        };
        self.diags.push(
            Diagnostic::new(
                Code::CopyConditionFieldType,
                span,
                format!("`requires` on `{name}` names `{}`, {what}", f.name),
            )
            .label("not a `bool` or `uN` field")
            .with_secondary(f.span, "declared here")
            .note("a copy is allowed while a `bool` field is true or a `uN` field is not 0")
            .help("name a `bool` or `uN` field (seL4's tables: the `mapped: bool` field)"),
        );
        false
    }

    /// `clears(f)`: not the object's identity, address or size, and not
    /// the mapping a `Mapping::Shared` cap's copies keep.
    fn copy_cleared_field(
        &mut self,
        name: &str,
        span: Span,
        f: &CapField,
        mapping: Option<Mapping>,
    ) -> bool {
        if f.identity || matches!(f.role, Role::Object | Role::SizeArg) {
            let what = if f.identity {
                "part of the object's identity (`#[identity]`)".to_string()
            } else {
                format!("the object's `#[{}]` field", role_name(f.role))
            };
            self.diags.push(
                Diagnostic::new(
                    Code::CopyClearsIdentity,
                    span,
                    format!("`clears` on `{name}` names `{}`, {what}", f.name),
                )
                .label("a copy must name the same object")
                .with_secondary(f.span, "declared here")
                .note("a copy names the object its source names: clearing this field would make it a cap to another object")
                .help("clear only fields that describe the cap, not its object (a mapping, a flag)"),
            );
            return false;
        }
        let shared_mapping = mapping == Some(Mapping::Shared)
            && matches!(f.role, Role::MappedAt | Role::MappedIn | Role::Asid);
        if shared_mapping || f.role == Role::Asid {
            self.diags.push(
                Diagnostic::new(
                    Code::CopyConditionConflict,
                    span,
                    format!("`clears` on `{name}` names `{}`, its `#[{}]` field", f.name, role_name(f.role)),
                )
                .label("conflicts with the mapping rule")
                .with_secondary(f.span, "declared here")
                .note(if f.role == Role::Asid {
                    "an address-space root's copies keep the number a pool gave it; a copy without one could not be copied or used"
                } else {
                    "this cap's mapping is its object's (`Mapping::Shared`, a table's): its copies keep it, and a copy is refused while it is unmapped"
                })
                .help(format!("remove `{}` from `clears`", f.name)),
            );
            return false;
        }
        true
    }
}
