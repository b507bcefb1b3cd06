//! The payloads of error sets: a bare name is a word, `name: T` a message
//! value, `name: OtherErrors` an error of another set nested in this one
//! (sprot's errors that carry another set's).
//!
//! Resolves each payload value's type once the message types are laid out,
//! rejects a set that contains itself, however indirectly (`E0720`), and
//! one whose payload cannot fit a message (`E0700`), and lays out every
//! set: each variant's payload values packed from byte 0 of the reply's
//! words, and, for a set nested in another, the variant's index then the
//! widest payload.

use crate::diag::{Code, Diagnostic};
use crate::model::{self, ErrorSetId, PayloadTy, length_prefix_bytes};

use super::types::{NoSize, checked_bytes};
use super::{Ctx, TypeSym};

/// How far the size of an error set is known.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Size {
    Pending,
    Visiting,
    Done(Option<u64>),
}

impl Ctx<'_> {
    /// Gives every error set's payload its types and layout; the sets whose
    /// payload failed keep their words and are reported.
    pub(super) fn type_error_sets(
        &mut self,
        sets: &mut [model::ErrorSet],
        target: Option<&model::Target>,
    ) {
        let count = sets.len();
        // The resolved types of each variant's payload (`None`: failed).
        let mut resolved: Vec<Vec<Vec<Option<PayloadTy>>>> = Vec::with_capacity(count);
        for (i, set) in sets.iter_mut().enumerate() {
            let (_, item) = self.items.errors[i];
            let mut variants = Vec::new();
            // Variants defined twice were left out of the model.
            for v in &set.variants {
                let ast = item
                    .variants
                    .iter()
                    .find(|a| a.name.span == v.span)
                    .expect("a model variant is an item's");
                // Without a rest (`name: ..Set`, resolved below).
                let tys = ast
                    .payload_types
                    .iter()
                    .take(v.payload.len())
                    .map(|t| match t {
                        None => Some(PayloadTy::Word),
                        Some(t) => self.payload_ty(t),
                    })
                    .collect();
                variants.push(tys);
            }
            set.typed = item
                .variants
                .iter()
                .any(|v| v.payload_types.iter().any(Option::is_some));
            resolved.push(variants);
        }
        self.resolve_rests(sets);
        let mut sizes = vec![Size::Pending; count];
        let mut stack = Vec::new();
        for i in 0..count {
            self.set_size(i, &resolved, &mut sizes, &mut stack);
        }
        let data_bytes = self.data_bytes.clone();
        // The most bytes an error of each set takes as a rest: its number
        // word and its longest payload (a set of words); 0 past the sets.
        let mut rest_bytes: Vec<u64> = sets
            .iter()
            .map(|s| {
                8 + 8 * s
                    .variants
                    .iter()
                    .map(|v| v.payload.len() as u64)
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        rest_bytes.push(0);
        for (i, set) in sets.iter_mut().enumerate() {
            let Size::Done(Some(bytes)) = sizes[i] else {
                continue;
            };
            let size_of = |p: &PayloadTy| -> u64 {
                match p {
                    PayloadTy::Word => 8,
                    PayloadTy::Data(ty) => {
                        checked_bytes(ty, &|j| data_bytes.get(j).copied().flatten()).unwrap_or(0)
                    }
                    PayloadTy::Errors(id) => match sizes[id.index()] {
                        Size::Done(Some(b)) => b,
                        _ => 0,
                    },
                }
            };
            let mut widest = 0;
            for (v, tys) in set.variants.iter_mut().zip(&resolved[i]) {
                let mut at = 0;
                v.payload_types = tys
                    .iter()
                    .map(|t| {
                        let t = t.clone().expect("sized: every type resolved");
                        let offset = at;
                        at += size_of(&t);
                        (t, offset)
                    })
                    .collect();
                v.payload_bytes =
                    at + rest_bytes[v.rest.as_ref().map_or(count, |(_, id)| id.index())];
                widest = widest.max(v.payload_bytes);
            }
            set.discriminant_bytes =
                length_prefix_bytes(set.variants.len().saturating_sub(1) as u64);
            set.bytes = bytes;
            let Some(target) = target else { continue };
            let limit = u64::from(target.message_words) * 8;
            if widest > limit {
                let v = set
                    .variants
                    .iter()
                    .find(|v| v.payload_bytes == widest)
                    .expect("the widest is a variant's");
                self.diags.push(
                    Diagnostic::new(
                        Code::MessageTooLong,
                        v.span,
                        format!(
                            "the payload of `{}::{}` takes {widest} bytes",
                            set.name, v.name
                        ),
                    )
                    .label(format!("more than a message's {limit} bytes"))
                    .with_secondary(
                        target.span,
                        format!("`message_words = {}`", target.message_words),
                    )
                    .help("make its arrays and strings shorter, or split the variant"),
                );
            }
        }
    }

    /// Resolves each variant's rest (`name: ..Set`): `Set` is a set of bare
    /// words without rests of its own (`E0922`), in a set of bare words
    /// (`E0923`). A rest that fails is left out (reported).
    fn resolve_rests(&mut self, sets: &mut [model::ErrorSet]) {
        let has_rest: Vec<bool> = (0..sets.len())
            .map(|j| {
                self.items.errors[j]
                    .1
                    .variants
                    .iter()
                    .any(|v| !v.rest.is_empty())
            })
            .collect();
        let typed: Vec<bool> = sets.iter().map(|s| s.typed).collect();
        for (i, set) in sets.iter_mut().enumerate() {
            let (_, item) = self.items.errors[i];
            for v in &mut set.variants {
                let ast = item
                    .variants
                    .iter()
                    .find(|a| a.name.span == v.span)
                    .expect("a model variant is an item's");
                // Only a rest that is the last value (E0921 otherwise).
                let Some((at, name)) = ast
                    .rest
                    .first()
                    .filter(|_| v.payload.len() < ast.payload.len())
                else {
                    continue;
                };
                let value = &ast.payload[*at];
                if typed[i] {
                    self.diags.push(
                        Diagnostic::new(
                            Code::PayloadRestInTypedSet,
                            value.span,
                            format!("`{}: ..{}` in `{}`, whose payloads have types", value.name, name.name, set.name),
                        )
                        .label("a rest of words")
                        .with_secondary(set.span, "an error set with typed payloads")
                        .note("a rest is laid out in words, as a kernel's errors are; a set with typed payloads is an RPC's, laid out in bytes")
                        .help(format!("give `{}`'s payloads as bare words, or nest the set as `{}: {}`", set.name, value.name, name.name)),
                    );
                    continue;
                }
                let found = match self.types.get(&name.name).copied() {
                    Some((TypeSym::Errors(j), _)) => Some(j),
                    _ => None,
                };
                let why = match found {
                    None => format!("`{}` is not an error set", name.name),
                    Some(j) if typed[j] => format!("`{}` has typed payloads", name.name),
                    Some(j) if has_rest[j] => {
                        format!("`{}` has variable-length payloads of its own", name.name)
                    }
                    Some(j) if self.items.errors[j].1.variants.is_empty() => {
                        format!("`{}` has no variants", name.name)
                    }
                    Some(j) => {
                        self.used_types.insert(name.name.clone());
                        v.rest = Some((value.name.clone(), ErrorSetId(j as u32)));
                        continue;
                    }
                };
                self.diags.push(
                    Diagnostic::new(
                        Code::PayloadRestNotWords,
                        name.span,
                        format!("the rest of `{}::{}` is not an error set of words", set.name, v.name),
                    )
                    .label(why)
                    .note("a rest is an error of another set: its number in one word, then its payload words")
                    .help("name an error set whose payloads are bare words, without a `..` of its own"),
                );
            }
        }
    }

    /// The type of a payload value written `name: T`: an error set's name
    /// nests that set, anything else is a message type.
    fn payload_ty(&mut self, t: &crate::ast::TypeExpr) -> Option<PayloadTy> {
        if let crate::ast::TypeExprKind::Named(name) = &t.kind
            && let Some((TypeSym::Errors(j), _)) = self.types.get(&name.name).copied()
        {
            self.used_types.insert(name.name.clone());
            if self.items.errors[j].1.variants.is_empty() {
                self.diags.push(
                    Diagnostic::new(
                        Code::EmptyEnum,
                        name.span,
                        format!("error set `{}` has no variants to carry", name.name),
                    )
                    .label("no error of it exists")
                    .note("a nested error is one of its set's variants; a set without variants has none")
                    .help(format!("give `{}` a variant, or carry another type", name.name)),
                );
                return None;
            }
            return Some(PayloadTy::Errors(ErrorSetId(j as u32)));
        }
        self.resolve_ty(t).map(PayloadTy::Data)
    }

    /// The bytes of error set `i` nested in another's payload: its
    /// discriminant and its widest variant's payload; `None` when a type
    /// failed or the set contains itself (reported here).
    fn set_size(
        &mut self,
        i: usize,
        resolved: &[Vec<Vec<Option<PayloadTy>>>],
        sizes: &mut [Size],
        stack: &mut Vec<usize>,
    ) -> Option<u64> {
        match sizes[i] {
            Size::Done(s) => return s,
            Size::Visiting => {
                let from = stack.iter().position(|&j| j == i).expect("on the stack");
                let cycle = stack[from..].to_vec();
                self.report_error_cycle(&cycle);
                for &j in &cycle {
                    sizes[j] = Size::Done(None);
                }
                return None;
            }
            Size::Pending => {}
        }
        sizes[i] = Size::Visiting;
        stack.push(i);
        // `Err(true)`: a size past 64 bits; `Err(false)`: a type failed,
        // which was reported.
        let mut widest: Result<u64, bool> = Ok(0);
        let data_bytes = self.data_bytes.clone();
        for tys in &resolved[i] {
            let mut sum: Result<u64, bool> = Ok(0);
            for t in tys {
                let b = match t {
                    None => Err(false),
                    Some(PayloadTy::Word) => Ok(8),
                    Some(PayloadTy::Data(ty)) => {
                        checked_bytes(ty, &|j| data_bytes.get(j).copied().flatten())
                            .map_err(|e| e == NoSize::Overflow)
                    }
                    Some(PayloadTy::Errors(id)) => self
                        .set_size(id.index(), resolved, sizes, stack)
                        .ok_or(false),
                };
                sum = match (sum, b) {
                    (Ok(a), Ok(b)) => a.checked_add(b).ok_or(true),
                    (Err(e), _) | (_, Err(e)) => Err(e),
                };
            }
            widest = match (widest, sum) {
                (Ok(w), Ok(s)) => Ok(w.max(s)),
                (Err(e), _) | (_, Err(e)) => Err(e),
            };
        }
        stack.pop();
        if sizes[i] == Size::Done(None) {
            // Part of a cycle reported further in.
            return None;
        }
        let prefix = length_prefix_bytes(resolved[i].len().saturating_sub(1) as u64);
        let size = widest.and_then(|w| w.checked_add(prefix).ok_or(true));
        if size == Err(true) {
            let name = self.items.errors[i].1.name.clone();
            self.diags.push(
                Diagnostic::new(
                    Code::Overflow,
                    name.span,
                    format!("the size of error set `{}` overflows 64 bits", name.name),
                )
                .label("too large to lay out")
                .help("make its payloads' arrays and strings shorter"),
            );
        }
        let size = size.ok();
        sizes[i] = Size::Done(size);
        size
    }

    fn report_error_cycle(&mut self, cycle: &[usize]) {
        let names: Vec<crate::ast::Ident> = cycle
            .iter()
            .map(|&j| self.items.errors[j].1.name.clone())
            .collect();
        let first = &names[0];
        let mut path: Vec<String> = names.iter().map(|n| format!("`{}`", n.name)).collect();
        path.push(format!("`{}`", first.name));
        let mut d = Diagnostic::new(
            Code::RecursiveType,
            first.span,
            format!("error set `{}` contains itself", first.name),
        )
        .label("an error of it would carry another, without end");
        for other in &names[1..] {
            d = d.with_secondary(other.span, "on the way round");
        }
        self.diags.push(
            d.note(format!("nests: {}", path.join(" -> ")))
                .note("an error's payload has a size known when the spec is checked, so it cannot carry an error of its own set")
                .help("break the cycle: carry the inner error's number as a word, or nest distinct sets"),
        );
    }
}
