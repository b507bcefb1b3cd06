//! Bitfields: `bitfield Name { #[at(word = W, bit = B)] field: uN, ... }`,
//! records packed into message words that a kernel invocation parameter or
//! result holds (seL4's `seL4_CapRights_t`, `seL4_CNode_CapData`,
//! `seL4_UserContext`).
//!
//! Places each field where its `#[at]` says, else where the field before
//! it ends (the first at bit 0 of word 0), and rejects a field type other
//! than `bool`, `uN` and an enumeration (`E0472`), a width outside 1..=64
//! (`E0401`), two fields on one bit (`E0470`), a field across a word
//! boundary (`E0471`), and a bitfield without fields or past word 63
//! (`E0473`). `#[strict]` on the item makes the decoder refuse a value with
//! a bit set that no field holds.

use std::collections::BTreeMap;

use crate::ast::{self, FieldType};
use crate::diag::{Code, Diagnostic};
use crate::model;
use crate::source::Span;

use super::{Ctx, TypeSym};

/// The most words a bitfield may take.
const MAX_WORDS: u64 = 64;

impl Ctx<'_> {
    /// Checks every bitfield; `None` for those with an error.
    pub(super) fn check_bitfields(&mut self) -> Vec<Option<model::Bitfield>> {
        let items = self.items.bitfields.clone();
        items
            .into_iter()
            .map(|(item, b)| self.check_bitfield(item, b))
            .collect()
    }

    fn check_bitfield(
        &mut self,
        item: &ast::Item,
        b: &ast::BitfieldItem,
    ) -> Option<model::Bitfield> {
        let name = &b.name.name;
        let mut strict = false;
        for attr in &item.attrs {
            if attr.name.name == "strict" {
                if attr.has_args() {
                    self.attr_takes_no_args(attr);
                    return None;
                }
                strict = true;
            }
        }
        if b.fields.is_empty() {
            self.diags.push(
                Diagnostic::new(
                    Code::BitfieldSize,
                    b.name.span,
                    format!("bitfield `{name}` has no fields"),
                )
                .label("no fields")
                .note("a parameter of this type would travel as no bits at all")
                .help("give it fields, or remove it"),
            );
            return None;
        }
        let mut ok = true;
        let mut names: BTreeMap<&str, Span> = BTreeMap::new();
        // Bits taken so far, per word, with the field that took them.
        let mut taken: BTreeMap<u64, Vec<(u64, &ast::Ident)>> = BTreeMap::new();
        let mut out = Vec::new();
        // Where a field without `#[at]` goes: the end of the one before.
        let mut next = (0u64, 0u64);
        for f in &b.fields {
            if let Some(first) = names.insert(&f.name.name, f.name.span) {
                self.diags.push(
                    Diagnostic::new(
                        Code::DuplicateName,
                        f.name.span,
                        format!("`{name}` has two fields called `{}`", f.name.name),
                    )
                    .label("named again here")
                    .with_secondary(first, "first named here")
                    .help("rename one of the fields"),
                );
                ok = false;
                continue;
            }
            let Some(field) = self.bitfield_field(name, f, next) else {
                ok = false;
                continue;
            };
            let (word, bit, width) = (field.word, u64::from(field.bit), u64::from(field.width));
            next = if bit + width == 64 {
                (word + 1, 0)
            } else {
                (word, bit + width)
            };
            let mask = field.mask();
            if let Some((_, other)) = taken
                .get(&word)
                .and_then(|t| t.iter().find(|(m, _)| m & mask != 0))
            {
                self.diags.push(
                    Diagnostic::new(
                        Code::BitfieldOverlap,
                        f.name.span,
                        format!(
                            "field `{}` of `{name}` takes bits another field holds",
                            f.name.name
                        ),
                    )
                    .label(if width == 1 {
                        format!("bit {bit} of word {word}")
                    } else {
                        format!("bits {bit}..{} of word {word}", bit + width)
                    })
                    .with_secondary(other.span, format!("`{}` holds some of them", other.name))
                    .note("two fields of a bitfield cannot share a bit")
                    .help("move one of them with `#[at(word = W, bit = B)]`"),
                );
                ok = false;
                continue;
            }
            taken.entry(word).or_default().push((mask, &f.name));
            out.push(field);
        }
        if !ok {
            return None;
        }
        let words = out.iter().map(|f| f.word + 1).max().unwrap_or(1);
        Some(model::Bitfield {
            docs: item.docs.clone(),
            name: name.clone(),
            words,
            fields: out,
            strict,
            span: b.name.span,
        })
    }

    /// One field, placed at its `#[at]` or at `next` (word, bit).
    fn bitfield_field(
        &mut self,
        bitfield: &str,
        f: &ast::Field,
        next: (u64, u64),
    ) -> Option<model::BitfieldField> {
        let fname = &f.name.name;
        let mut pin = None;
        for attr in &f.attrs {
            if attr.name.name != "at" {
                self.unknown_attribute(&attr.name, &attr.name.name, &["at"], "bitfield field");
                return None;
            }
            if pin.is_some() {
                self.diags.push(
                    Diagnostic::new(
                        Code::AttributeMisuse,
                        attr.span,
                        format!("`#[at]` is given twice on field `{fname}`"),
                    )
                    .label("given again here")
                    .help("remove one of them"),
                );
                return None;
            }
            pin = Some(self.field_at(attr)?);
        }
        let (width, boolean, values) = match &f.ty {
            FieldType::Bool => (1, true, None),
            FieldType::Uint(n) => {
                if !(1..=64).contains(n) {
                    self.diags.push(
                        Diagnostic::new(
                            Code::FieldWidth,
                            f.ty_span,
                            format!("field `{fname}` of `{bitfield}` is {n} bits wide"),
                        )
                        .label("not in 1..=64")
                        .note("a bitfield's field lies in one 64-bit word")
                        .help("use `u1` to `u64`"),
                    );
                    return None;
                }
                (*n, false, None)
            }
            FieldType::Enumeration(ename) => {
                let i = self.resolve(ename, "an enumeration", |s| match s {
                    TypeSym::Enumeration(i) => Some(i),
                    _ => None,
                })?;
                // A failed enumeration was reported with it.
                let bits = self.enumerations.get(i)?.as_ref()?.bits;
                (bits, false, Some(model::EnumerationId(i as u32)))
            }
            FieldType::Ptr { .. } | FieldType::Rights(_) => {
                let what = if matches!(f.ty, FieldType::Ptr { .. }) {
                    "a `ptr(...)`"
                } else {
                    "a `rights(...)` mask"
                };
                self.diags.push(
                    Diagnostic::new(
                        Code::BitfieldFieldType,
                        f.ty_span,
                        format!("field `{fname}` of bitfield `{bitfield}` is {what}"),
                    )
                    .label("not a type a bitfield holds")
                    .note("a bitfield's fields are `bool`, `uN` and enumerations: it is a value in message words, not a cap")
                    .help(format!(
                        "write `{fname}: u64` (an address), or one `bool` per right"
                    )),
                );
                return None;
            }
        };
        let (word, bit, span) = match pin {
            Some((w, b, span)) => (w, b, span),
            None => (next.0, next.1, f.name.span),
        };
        if word >= MAX_WORDS {
            self.diags.push(
                Diagnostic::new(
                    Code::BitfieldSize,
                    span,
                    format!("field `{fname}` of `{bitfield}` is in word {word}"),
                )
                .label(format!("a bitfield has at most {MAX_WORDS} words"))
                .note("a bitfield travels in message words, 64 of them at most")
                .help("place it in an earlier word"),
            );
            return None;
        }
        // A pinned bit may be any number a user writes: no overflow.
        let end = bit.saturating_add(u64::from(width));
        if end > 64 {
            self.diags.push(
                Diagnostic::new(
                    Code::BitfieldCrossesWord,
                    span,
                    if bit >= 64 {
                        format!("field `{fname}` of `{bitfield}` is placed at bit {bit} of word {word}")
                    } else {
                        format!(
                            "field `{fname}` of `{bitfield}` would take bits {bit}..{end} of word {word}"
                        )
                    },
                )
                .label("past the word's 64 bits")
                .note("a field lies in one word, as seL4's bitfield generator requires")
                .help(if pin.is_some() {
                    format!("place it at a bit up to {}", 64 - width)
                } else {
                    format!(
                        "place it with `#[at(word = {}, bit = 0)]`, or narrow the field before it",
                        word + 1
                    )
                }),
            );
            return None;
        }
        Some(model::BitfieldField {
            docs: f.docs.clone(),
            name: fname.clone(),
            word,
            bit: bit as u32,
            width,
            boolean,
            values,
            span: f.name.span,
        })
    }

    /// `#[at(word = W, bit = B)]` on a bitfield's field: (W, B, its span),
    /// read as a cap field's is ([`Self::field_pin`]).
    fn field_at(&mut self, attr: &ast::Attribute) -> Option<(u64, u64, Span)> {
        let pin = self.field_pin(attr, "message word")?;
        Some((pin.word, pin.bit, pin.span))
    }
}
