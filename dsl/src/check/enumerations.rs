//! Enumerations: `enum Name: uN { A = 0, B, C = 4 }`, named values of N
//! bits that a cap field or a kernel invocation parameter holds.
//!
//! Evaluates each variant's value (the one before's plus 1 when none is
//! given, 0 for the first), and rejects a variant carrying values
//! (`E0450`), a value that does not fit in N bits (`E0451`), two variants
//! with one value (`E0452`), a width outside 1..=64 (`E0401`) and an
//! enumeration without variants (`E0721`). A message enum's variant with
//! `= value` is `E0450` too: its discriminant is its position.

use std::collections::BTreeMap;

use crate::ast;
use crate::diag::{Code, Diagnostic};
use crate::model;
use crate::source::Span;

use super::Ctx;

impl Ctx<'_> {
    /// Checks every enumeration; `None` for those with an error. Also
    /// reports `= value` on the variants of message enums.
    pub(super) fn check_enumerations(&mut self) -> Vec<Option<model::Enumeration>> {
        // A variant's one attribute is `#[cfg]`, gone by now.
        let variants: Vec<&ast::EnumVariant> = self
            .items
            .all
            .iter()
            .filter_map(|item| match &item.kind {
                ast::ItemKind::Enum(e) => Some(&e.variants),
                _ => None,
            })
            .flatten()
            .collect();
        for v in variants {
            for attr in &v.attrs {
                self.diags.push(
                    Diagnostic::new(
                        Code::AttributeMisuse,
                        attr.span,
                        format!(
                            "attribute `#[{}]` is not valid on a variant",
                            attr.name.name
                        ),
                    )
                    .label("not allowed here")
                    .help("a variant takes only `#[cfg(...)]`"),
                );
            }
        }
        for i in 0..self.items.data.len() {
            if let (_, super::types::DataDecl::Enum(e)) = self.items.data[i] {
                for v in &e.variants {
                    if let Some(value) = &v.value {
                        self.diags.push(
                            Diagnostic::new(
                                Code::EnumerationVariant,
                                value.span,
                                format!(
                                    "variant `{}` of message enum `{}` has a value",
                                    v.name.name, e.name.name
                                ),
                            )
                            .label("a message enum's discriminant is its position")
                            .note("only an enumeration, `enum Name: uN { ... }`, names values; it is a type for cap fields and kernel invocation parameters")
                            .help(format!(
                                "remove `= ...`, or give the enum a width: `enum {}: u8 {{ ... }}`",
                                e.name.name
                            )),
                        );
                    }
                }
            }
        }
        let items = self.items.enumerations.clone();
        items
            .into_iter()
            .map(|(item, e)| self.check_enumeration(item, e))
            .collect()
    }

    fn check_enumeration(
        &mut self,
        item: &ast::Item,
        e: &ast::EnumItem,
    ) -> Option<model::Enumeration> {
        let (bits, bits_span) = e.width.expect("an enumeration has a width");
        let name = &e.name.name;
        if !(1..=64).contains(&bits) {
            self.diags.push(
                Diagnostic::new(
                    Code::FieldWidth,
                    bits_span,
                    format!("enumeration `{name}` is {bits} bits wide"),
                )
                .label("not in 1..=64")
                .note("its values go in a cap field or one message word")
                .help("use `u1` to `u64`"),
            );
            return None;
        }
        if e.variants.is_empty() {
            self.diags.push(
                Diagnostic::new(
                    Code::EmptyEnum,
                    e.name.span,
                    format!("enumeration `{name}` has no variants"),
                )
                .label("no value has this type")
                .note("a field or parameter of this type could never be set")
                .help("name its values, or remove it"),
            );
            return None;
        }
        let max = u64::MAX >> (64 - bits);
        let mut ok = true;
        let mut names: BTreeMap<&str, Span> = BTreeMap::new();
        let mut values: BTreeMap<u64, &ast::Ident> = BTreeMap::new();
        let mut out = Vec::new();
        // The value after the one before (0 for the first); `None` after
        // a value that failed, or past 2^64 - 1.
        let mut next = Some(0u64);
        for v in &e.variants {
            if let Some(first) = names.insert(&v.name.name, v.name.span) {
                self.diags.push(
                    Diagnostic::new(
                        Code::DuplicateName,
                        v.name.span,
                        format!("`{name}` has two variants called `{}`", v.name.name),
                    )
                    .label("named again here")
                    .with_secondary(first, "first named here")
                    .help("rename one of the variants"),
                );
                ok = false;
            }
            if let Some(first) = v.fields.first() {
                self.diags.push(
                    Diagnostic::new(
                        Code::EnumerationVariant,
                        first.span,
                        format!(
                            "variant `{}` of enumeration `{name}` carries values",
                            v.name.name
                        ),
                    )
                    .label("an enumeration's variant is a value, not a record")
                    .note("an enumeration (`enum Name: uN`) names values of its width; a message enum (without `: uN`) carries values in RPC messages")
                    .help(format!(
                        "write `{} = N`, or remove `: u{bits}` to make `{name}` a message enum",
                        v.name.name
                    )),
                );
                ok = false;
                next = None;
                continue;
            }
            let value = match &v.value {
                Some(expr) => self.eval_reported(expr, None),
                None => match next {
                    Some(n) => Some(n),
                    // After a failed value: said there.
                    None if !ok => continue,
                    None => {
                        self.diags.push(
                            Diagnostic::new(
                                Code::EnumerationValueRange,
                                v.name.span,
                                format!(
                                    "`{name}::{}` would be 2^64, one past the variant before",
                                    v.name.name
                                ),
                            )
                            .label("no value")
                            .help(format!(
                                "give `{}` a value: `{} = N`",
                                v.name.name, v.name.name
                            )),
                        );
                        ok = false;
                        continue;
                    }
                },
            };
            let Some(value) = value else {
                ok = false;
                next = None;
                continue;
            };
            let span = v.value.as_ref().map_or(v.name.span, |x| x.span);
            next = value.checked_add(1);
            if value > max {
                self.diags.push(
                    Diagnostic::new(
                        Code::EnumerationValueRange,
                        span,
                        format!(
                            "`{name}::{}` is {value}, which does not fit in {bits} bits",
                            v.name.name
                        ),
                    )
                    .label(format!("more than {max}"))
                    .with_secondary(bits_span, format!("`{name}` is {bits} bits wide"))
                    .help(format!(
                        "widen `{name}` to `u{}`, or give `{}` a smaller value",
                        64 - value.leading_zeros(),
                        v.name.name
                    )),
                );
                ok = false;
                continue;
            }
            if let Some(first) = values.insert(value, &v.name) {
                self.diags.push(
                    Diagnostic::new(
                        Code::EnumerationValueTwice,
                        span,
                        format!(
                            "`{name}::{}` and `{name}::{}` are both {value}",
                            first.name, v.name.name
                        ),
                    )
                    .label(format!("{value} again"))
                    .with_secondary(first.span, format!("`{}` is {value}", first.name))
                    .note("a value read from a cap or a message must name one variant")
                    .help("give each variant its own value"),
                );
                ok = false;
                continue;
            }
            out.push(model::EnumerationValue {
                docs: v.docs.clone(),
                name: v.name.name.clone(),
                value,
                span: v.name.span,
            });
        }
        ok.then(|| model::Enumeration {
            docs: item.docs.clone(),
            name: name.clone(),
            bits,
            values: out,
            span: e.name.span,
        })
    }
}
