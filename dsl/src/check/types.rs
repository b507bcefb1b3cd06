//! Message types: `struct`, `enum` and `type` items, and the types of RPC
//! arguments and results written with them.
//!
//! Resolves every type as written to a [`model::Ty`], rejects what has no
//! finite byte layout (a type that contains itself, `E0710`; an enum without
//! variants, `E0711`; integers of other widths than 8, 16, 32 and 64 bits,
//! `E0401`; arrays and strings of no elements, `E0708`; a type no message
//! can hold, `E0700`), and lays out each declared type once: the layout
//! [`model::Ty`] documents, which the backend and the docs read.

use std::collections::BTreeMap;

use crate::ast::{self, Scalar, TypeExpr, TypeExprKind};
use crate::diag::{Code, Diagnostic};
use crate::model::{self, DataDef, DataTypeId, Ty, length_prefix_bytes};
use crate::source::Span;

use super::{Ctx, TypeSym};

/// A `struct`, `enum` or `type` item.
#[derive(Clone, Copy)]
pub(super) enum DataDecl<'a> {
    Struct(&'a ast::StructItem),
    Enum(&'a ast::EnumItem),
    Alias(&'a ast::TypeAlias),
}

impl<'a> DataDecl<'a> {
    pub(super) fn name(self) -> &'a ast::Ident {
        match self {
            DataDecl::Struct(s) => &s.name,
            DataDecl::Enum(e) => &e.name,
            DataDecl::Alias(a) => &a.name,
        }
    }
}

/// Most message types a chain of types, each containing the next, may
/// hold (as constants' chains, `E0004`).
const MAX_TYPE_DEPTH: usize = 128;

/// The state of the walk that lays out the declared types.
struct Walk {
    /// The types being laid out, outermost first (to show a cycle).
    stack: Vec<usize>,
    /// The length of the longest chain of types from each one laid out.
    depths: Vec<usize>,
    /// Whether a too-deep chain was reported.
    too_deep: bool,
}

/// A declaration with its types resolved (`None` where a type failed).
enum Resolved {
    Record(Vec<Option<Ty>>),
    Enum(Vec<Vec<Option<Ty>>>),
    Alias(Option<Ty>),
}

/// How far the size of a declared type is known.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Size {
    Pending,
    /// Being computed: meeting it again is a cycle.
    Visiting,
    /// Computed; `None` when it failed (reported).
    Done(Option<u64>),
}

/// Why the bytes of a type are not known.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum NoSize {
    /// A type it names failed, which was reported.
    Failed,
    /// The size does not fit in 64 bits.
    Overflow,
}

/// The bytes of `ty`, from the sizes of the declared types (`None`: failed).
pub(super) fn checked_bytes(ty: &Ty, named: &dyn Fn(usize) -> Option<u64>) -> Result<u64, NoSize> {
    let sum = |a: u64, b: u64| a.checked_add(b).ok_or(NoSize::Overflow);
    let product = |a: u64, b: u64| a.checked_mul(b).ok_or(NoSize::Overflow);
    match ty {
        Ty::Bool => Ok(1),
        Ty::Int { bits, .. } | Ty::Float { bits } => Ok(u64::from(*bits) / 8),
        Ty::Array(t, n) => product(*n, checked_bytes(t, named)?),
        Ty::Bounded(t, n) => sum(
            length_prefix_bytes(*n),
            product(*n, checked_bytes(t, named)?)?,
        ),
        Ty::String(n) => sum(length_prefix_bytes(*n), *n),
        Ty::Option(t) => sum(1, checked_bytes(t, named)?),
        Ty::Named(id) => named(id.index()).ok_or(NoSize::Failed),
    }
}

impl Ctx<'_> {
    /// Checks and lays out every `struct`, `enum` and `type`; `None` for
    /// those with an error.
    pub(super) fn check_data_types(
        &mut self,
        target: Option<&model::Target>,
    ) -> Vec<Option<model::DataType>> {
        let count = self.items.data.len();
        let mut resolved = Vec::with_capacity(count);
        for i in 0..count {
            let (_, decl) = self.items.data[i];
            resolved.push(self.resolve_decl(decl));
        }
        let mut sizes = vec![Size::Pending; count];
        let mut walk = Walk {
            stack: Vec::new(),
            depths: vec![0; count],
            too_deep: false,
        };
        for i in 0..count {
            self.decl_size(i, &resolved, &mut sizes, &mut walk);
        }
        let mut out = Vec::with_capacity(count);
        for (i, r) in resolved.into_iter().enumerate() {
            let (item, decl) = self.items.data[i];
            let Size::Done(Some(bytes)) = sizes[i] else {
                out.push(None);
                continue;
            };
            let size_of = |j: usize| match sizes[j] {
                Size::Done(s) => s,
                _ => None,
            };
            let bytes_of = |t: &Ty| checked_bytes(t, &size_of).unwrap_or(0);
            let def = match (r, decl) {
                (Resolved::Record(tys), DataDecl::Struct(s)) => {
                    let mut offset = 0;
                    let mut fields = Vec::new();
                    for (ty, f) in tys.into_iter().zip(&s.fields) {
                        let ty = ty.expect("resolved: the size is known");
                        let size = bytes_of(&ty);
                        fields.push(model::RecordField {
                            docs: f.docs.clone(),
                            name: f.name.name.clone(),
                            ty,
                            offset,
                            span: f.name.span,
                        });
                        offset += size;
                    }
                    DataDef::Record(fields)
                }
                (Resolved::Enum(variants), DataDecl::Enum(e)) => {
                    let discriminant_bytes = length_prefix_bytes(variants.len() as u64 - 1);
                    let variants = variants
                        .into_iter()
                        .zip(&e.variants)
                        .map(|(tys, v)| {
                            let mut end = discriminant_bytes;
                            let fields = tys
                                .into_iter()
                                .map(|ty| {
                                    let ty = ty.expect("resolved: the size is known");
                                    let at = end;
                                    end += bytes_of(&ty);
                                    (ty, at)
                                })
                                .collect();
                            model::EnumVariant {
                                docs: v.docs.clone(),
                                name: v.name.name.clone(),
                                fields,
                                end,
                                span: v.name.span,
                            }
                        })
                        .collect();
                    DataDef::Enum {
                        discriminant_bytes,
                        variants,
                    }
                }
                (Resolved::Alias(ty), DataDecl::Alias(a)) => {
                    let ty = ty.expect("resolved: the size is known");
                    match &a.range {
                        None => DataDef::Alias(ty),
                        Some((domain, span)) => match self.type_range(a, &ty, domain, *span) {
                            Some((min, max)) => DataDef::Range { ty, min, max },
                            None => {
                                out.push(None);
                                continue;
                            }
                        },
                    }
                }
                _ => unreachable!("resolved as declared"),
            };
            if let Some(target) = target {
                let limit = u64::from(target.message_words) * 8;
                if bytes > limit {
                    self.diags.push(
                        Diagnostic::new(
                            Code::MessageTooLong,
                            decl.name().span,
                            format!("a `{}` takes {bytes} bytes", decl.name().name),
                        )
                        .label(format!("more than a message's {limit} bytes"))
                        .with_secondary(
                            target.span,
                            format!("`message_words = {}`", target.message_words),
                        )
                        .note(layout_note(&def, bytes))
                        .help("make its arrays and strings shorter, or pass the data in a shared frame (a `lend cap`)"),
                    );
                    out.push(None);
                    continue;
                }
            }
            out.push(Some(model::DataType {
                docs: item.docs.clone(),
                name: decl.name().name.clone(),
                def,
                bytes,
                span: decl.name().span,
            }));
        }
        self.data_bytes = out.iter().map(|t| t.as_ref().map(|t| t.bytes)).collect();
        out
    }

    /// Resolves the types a declaration writes, and reports duplicate
    /// field and variant names and enums without variants.
    fn resolve_decl(&mut self, decl: DataDecl<'_>) -> Resolved {
        match decl {
            DataDecl::Struct(s) => {
                let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
                let mut tys = Vec::new();
                for f in &s.fields {
                    if let Some(first) = seen.insert(&f.name.name, f.name.span) {
                        self.named_twice(&f.name, first, "field", &s.name.name);
                        tys.push(None);
                        continue;
                    }
                    tys.push(self.resolve_ty(&f.ty));
                }
                Resolved::Record(tys)
            }
            DataDecl::Enum(e) => {
                if e.variants.is_empty() {
                    self.diags.push(
                        Diagnostic::new(
                            Code::EmptyEnum,
                            e.name.span,
                            format!("enum `{}` has no variants", e.name.name),
                        )
                        .label("no value has this type")
                        .note("a message carrying it could never be sent, and every received one would be refused")
                        .help("give it a variant, or remove it"),
                    );
                    return Resolved::Enum(vec![vec![None]]);
                }
                let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
                let mut variants = Vec::new();
                for v in &e.variants {
                    if let Some(first) = seen.insert(&v.name.name, v.name.span) {
                        self.named_twice(&v.name, first, "variant", &e.name.name);
                        variants.push(vec![None]);
                        continue;
                    }
                    variants.push(v.fields.iter().map(|t| self.resolve_ty(t)).collect());
                }
                Resolved::Enum(variants)
            }
            DataDecl::Alias(a) => Resolved::Alias(self.resolve_ty(&a.ty)),
        }
    }

    fn named_twice(&mut self, name: &ast::Ident, first: Span, what: &str, owner: &str) {
        self.diags.push(
            Diagnostic::new(
                Code::DuplicateName,
                name.span,
                format!("`{owner}` has two {what}s called `{}`", name.name),
            )
            .label("named again here")
            .with_secondary(first, "first named here")
            .help(format!("rename one of the {what}s")),
        );
    }

    /// The type a type expression means, or `None` after reporting why it
    /// means none.
    pub(super) fn resolve_ty(&mut self, e: &TypeExpr) -> Option<Ty> {
        let width = |ctx: &mut Self, signed: bool, bits: u32| -> Option<Ty> {
            if [8, 16, 32, 64].contains(&bits) {
                return Some(Ty::Int { signed, bits });
            }
            let letter = if signed { 'i' } else { 'u' };
            ctx.diags.push(
                Diagnostic::new(
                    Code::FieldWidth,
                    e.span,
                    format!("`{letter}{bits}` is not a width a message value can have"),
                )
                .label("not 8, 16, 32 or 64 bits")
                .note("message values are laid out in whole bytes; only a parameter's own `uN` (one word) or a `[uN; M]` of them packs bits")
                .help(format!(
                    "use `{letter}8`, `{letter}16`, `{letter}32` or `{letter}64`"
                )),
            );
            None
        };
        match &e.kind {
            TypeExprKind::Scalar(Scalar::Word) => Some(Ty::Int {
                signed: false,
                bits: 64,
            }),
            TypeExprKind::Scalar(Scalar::Bool) => Some(Ty::Bool),
            TypeExprKind::Scalar(Scalar::Uint(bits)) => width(self, false, *bits),
            TypeExprKind::Int(bits) => width(self, true, *bits),
            TypeExprKind::Float(bits) => {
                if self.floats {
                    return Some(Ty::Float { bits: *bits });
                }
                self.diags.push(
                    Diagnostic::new(
                        Code::FloatWithoutTarget,
                        e.span,
                        format!("`f{bits}` on a target without floats"),
                    )
                    .label("a floating-point value")
                    .note("a target says whether its tasks have floating-point registers to hold one (`floats = 1;`); most kernels' do not save them across calls")
                    .help("add `floats = 1;` to the target, or send the value as an integer (its bits, or a fixed-point number)"),
                );
                None
            }
            TypeExprKind::Array(t, len) | TypeExprKind::Bounded(t, len) => {
                let element = self.resolve_ty(t);
                let n = self.eval_reported(len, None)?;
                if n == 0 {
                    let what = match e.kind {
                        TypeExprKind::Array(..) => "an array of 0 elements",
                        _ => "a bounded array of at most 0 elements",
                    };
                    self.no_elements(len.span, what);
                    return None;
                }
                let element = Box::new(element?);
                Some(match e.kind {
                    TypeExprKind::Array(..) => Ty::Array(element, n),
                    _ => Ty::Bounded(element, n),
                })
            }
            TypeExprKind::String(len) => {
                let n = self.eval_reported(len, None)?;
                if n == 0 {
                    self.no_elements(len.span, "a string of at most 0 bytes");
                    return None;
                }
                Some(Ty::String(n))
            }
            TypeExprKind::Option(t) => Some(Ty::Option(Box::new(self.resolve_ty(t)?))),
            TypeExprKind::Named(name) => {
                let i = self.resolve(name, "a message type", |s| match s {
                    TypeSym::Data(i) => Some(i),
                    _ => None,
                })?;
                Some(Ty::Named(DataTypeId(i as u32)))
            }
        }
    }

    /// The least and greatest value of `type Name = uN in lo..=hi;`, or
    /// `None` after `E0764`: a range on a type that is not an unsigned
    /// integer, an empty one, or one past the type's values.
    fn type_range(
        &mut self,
        a: &ast::TypeAlias,
        ty: &Ty,
        domain: &ast::Domain,
        span: Span,
    ) -> Option<(u64, u64)> {
        let name = &a.name.name;
        let bad = |ctx: &mut Self, message: String, label: String, help: &str| {
            ctx.diags.push(
                Diagnostic::new(Code::TypeRangeInvalid, span, message)
                    .label(label)
                    .help(help.to_string()),
            );
            None
        };
        let Ty::Int {
            signed: false,
            bits,
        } = ty
        else {
            return bad(
                self,
                format!("`{name}` has a range but is not an unsigned integer"),
                format!("a range of `{}`", ty.spelling(&[])),
                "give the type a `uN` or `word`, or remove the range",
            );
        };
        let type_max = if *bits == 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        let (lo, hi, exclusive) = match domain {
            ast::Domain::Inclusive(lo, hi) => (lo, hi, false),
            ast::Domain::Exclusive(lo, hi) => (lo, hi, true),
            ast::Domain::Set(_) => unreachable!("grammar: a type's range is a range"),
        };
        let lo = self.eval_reported(lo, None)?;
        let hi = self.eval_reported(hi, None)?;
        let hi = if exclusive {
            if hi <= lo {
                return bad(
                    self,
                    format!("the range of `{name}` is empty"),
                    format!("no value is at least {lo} and below {hi}"),
                    "write the least value first, then the greatest (`lo..=hi`)",
                );
            }
            hi - 1
        } else {
            hi
        };
        if lo > hi {
            return bad(
                self,
                format!("the range of `{name}` is empty"),
                format!("{lo} is greater than {hi}"),
                "write the least value first, then the greatest (`lo..=hi`)",
            );
        }
        if hi > type_max {
            return bad(
                self,
                format!("the range of `{name}` goes past `u{bits}`"),
                format!("{hi} is more than {type_max}"),
                "end the range at the type's greatest value, or use a wider type",
            );
        }
        Some((lo, hi))
    }

    fn no_elements(&mut self, span: Span, what: &str) {
        self.diags.push(
            Diagnostic::new(
                Code::EmptyArray,
                span,
                format!("{what} of at most 0 elements"),
            )
            .label("length 0")
            .note("it could never hold anything")
            .help("give the largest length it may need, or remove it"),
        );
    }

    /// The size of declared type `i`, computing those it names first;
    /// reports a type that contains itself, and sizes beyond 64 bits.
    fn decl_size(
        &mut self,
        i: usize,
        resolved: &[Resolved],
        sizes: &mut Vec<Size>,
        walk: &mut Walk,
    ) -> Option<u64> {
        match sizes[i] {
            Size::Done(s) => return s,
            Size::Visiting => {
                let from = walk.stack.iter().position(|&j| j == i).unwrap_or(0);
                let cycle: Vec<usize> = walk.stack[from..].to_vec();
                self.report_cycle(&cycle);
                for j in cycle {
                    sizes[j] = Size::Done(None);
                }
                return None;
            }
            Size::Pending if walk.stack.len() >= MAX_TYPE_DEPTH => {
                let depth = walk.stack.len() + 1;
                self.too_deep(i, depth, walk);
                sizes[i] = Size::Done(None);
                return None;
            }
            Size::Pending => {}
        }
        sizes[i] = Size::Visiting;
        walk.stack.push(i);
        let tys: Vec<&Option<Ty>> = match &resolved[i] {
            Resolved::Record(tys) => tys.iter().collect(),
            Resolved::Enum(vs) => vs.iter().flatten().collect(),
            Resolved::Alias(t) => vec![t],
        };
        // Every type it names first, so that a cycle is found whatever else
        // failed.
        let mut ok = tys.iter().all(|t| t.is_some());
        let mut depth = 1;
        for t in tys.iter().copied().flatten() {
            let mut named = Vec::new();
            names_in(t, &mut named);
            for j in named {
                if self.decl_size(j, resolved, sizes, walk).is_none() {
                    ok = false;
                }
                depth = depth.max(walk.depths[j] + 1);
            }
        }
        walk.stack.pop();
        walk.depths[i] = depth;
        if sizes[i] != Size::Visiting {
            // Part of a cycle, reported.
            return None;
        }
        // Declared in the order they are used, the types of a long chain
        // are each laid out shallowly: the chain's length, not the
        // recursion, is the limit (the generated Rust nests as deep).
        if ok && depth > MAX_TYPE_DEPTH {
            self.too_deep(i, depth, walk);
            sizes[i] = Size::Done(None);
            return None;
        }
        let size = ok
            .then(|| self.layout_bytes(i, &resolved[i], sizes))
            .flatten();
        sizes[i] = Size::Done(size);
        size
    }

    /// The bytes of declaration `i` once every type it names has its size.
    fn layout_bytes(&mut self, i: usize, resolved: &Resolved, sizes: &[Size]) -> Option<u64> {
        let size_of = |j: usize| match sizes[j] {
            Size::Done(s) => s,
            _ => None,
        };
        let bytes = |t: &Option<Ty>| checked_bytes(t.as_ref().expect("checked"), &size_of);
        let total = match resolved {
            Resolved::Record(tys) => tys.iter().try_fold(0u64, |acc, t| {
                acc.checked_add(bytes(t)?).ok_or(NoSize::Overflow)
            }),
            Resolved::Enum(vs) => {
                let prefix = length_prefix_bytes(vs.len() as u64 - 1);
                vs.iter()
                    .try_fold(0u64, |widest, tys| {
                        let payload = tys.iter().try_fold(0u64, |acc, t| {
                            acc.checked_add(bytes(t)?).ok_or(NoSize::Overflow)
                        })?;
                        Ok(widest.max(payload))
                    })
                    .and_then(|p| p.checked_add(prefix).ok_or(NoSize::Overflow))
            }
            Resolved::Alias(t) => bytes(t),
        };
        match total {
            Ok(n) => Some(n),
            Err(NoSize::Failed) => None,
            Err(NoSize::Overflow) => {
                let name = self.items.data[i].1.name();
                self.diags.push(
                    Diagnostic::new(
                        Code::Overflow,
                        name.span,
                        format!("the size of `{}` overflows 64 bits", name.name),
                    )
                    .label("too large to lay out")
                    .help("make its arrays and strings shorter"),
                );
                None
            }
        }
    }

    /// `E0004` for the first type found too deep; the others fail quietly.
    fn too_deep(&mut self, i: usize, depth: usize, walk: &mut Walk) {
        if std::mem::replace(&mut walk.too_deep, true) {
            return;
        }
        let name = self.items.data[i].1.name();
        self.diags.push(
            Diagnostic::new(
                Code::TooComplex,
                name.span,
                format!("a chain of more than {MAX_TYPE_DEPTH} message types, each containing the next"),
            )
            .label(format!("`{}` makes it {depth} long", name.name))
            .note("capc limits how deeply message types contain each other so that checking any input, and compiling the generated code, is bounded")
            .help("flatten the chain: put the fields of an inner type in the outer one"),
        );
    }

    fn report_cycle(&mut self, cycle: &[usize]) {
        let names: Vec<&ast::Ident> = cycle.iter().map(|&j| self.items.data[j].1.name()).collect();
        let first = names[0];
        let mut path: Vec<String> = names.iter().map(|n| format!("`{}`", n.name)).collect();
        path.push(format!("`{}`", first.name));
        let mut d = Diagnostic::new(
            Code::RecursiveType,
            first.span,
            format!("`{}` contains itself", first.name),
        )
        .label("a value of it would hold another, without end");
        for other in &names[1..] {
            d = d.with_secondary(other.span, "on the way round");
        }
        self.diags.push(
            d.note(format!("contains: {}", path.join(" -> ")))
                .note("a message value has a size known when the spec is checked, so it cannot hold a value of its own type, not even in an `Option` or a bounded array")
                .help("break the cycle: send the inner values in a separate call, or bound the nesting with distinct types"),
        );
    }
}

/// The declared types `ty` names, outermost first.
fn names_in(ty: &Ty, out: &mut Vec<usize>) {
    match ty {
        Ty::Named(id) => out.push(id.index()),
        Ty::Array(t, _) | Ty::Bounded(t, _) | Ty::Option(t) => names_in(t, out),
        Ty::Bool | Ty::Int { .. } | Ty::Float { .. } | Ty::String(_) => {}
    }
}

/// Where a declared type's bytes go, for the note of a type too large.
fn layout_note(def: &DataDef, bytes: u64) -> String {
    match def {
        DataDef::Record(fields) => {
            let parts: Vec<String> = fields
                .iter()
                .map(|f| format!("`{}` at byte {}", f.name, f.offset))
                .collect();
            format!("{bytes} bytes: {}", parts.join(", "))
        }
        DataDef::Enum {
            discriminant_bytes,
            variants,
        } => {
            let widest = variants.iter().max_by_key(|v| v.end);
            format!(
                "{bytes} bytes: a {discriminant_bytes}-byte discriminant and the widest variant{}",
                widest.map_or(String::new(), |v| format!(", `{}`", v.name))
            )
        }
        DataDef::Alias(_) | DataDef::Range { .. } => format!("{bytes} bytes"),
    }
}
