//! Arguments of RPC message types in a script: `request` (and `call`) give
//! a parameter of any type a value, written as the type reads:
//!
//! - an integer (`12`, `0x1f`, `-3` for a signed one), a `bool` (`true`,
//!   `false`), a float as an integer (its value, `2`);
//! - a string `"text"` (no escapes; the closing `"` ends it);
//! - an array `[1, 2, 3]` (fixed: exactly its length; bounded: up to it);
//! - an `Option`: `None` or `Some(v)`;
//! - an enum: `Variant` or `Variant(v, ...)`;
//! - a struct: `{ field = v, ... }` (every field, in any order);
//! - a lease: `lease OFFSET BYTES`, the range of the caller's frame lent.
//!
//! A value that is not of the type's shape (a string for a struct, a
//! variant or field the type does not have) is a script error (`E0805`):
//! the generated client could not even express it. A value of the right
//! shape that the type's bounds refuse (an integer too wide, a string or
//! array too long, a value outside a range type, a lease over its bound,
//! not whole elements, or ending past the largest frame) is what the
//! generated decoder refuses: the step answers `InvalidArgument { index }`
//! with the parameter's position, and the server is not called.

use capc_dsl::ast::Scalar;
use capc_dsl::diag::{Code, Diagnostic};
use capc_dsl::model::{DataDef, Lease, ParamKind, Spec, Ty};
use capc_dsl::source::Span;

use super::{Cursor, PResult, Tok, Token};

/// What a typed argument's value holds, for the steps that use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Checked {
    /// The value as a word, for a scalar parameter (charges sized by it);
    /// 0 for any other.
    pub(super) word: u64,
    /// Whether the type's bounds take it (else the decoder refuses it).
    pub(super) fits: bool,
}

/// A script error at `span`: the value is not of the type's shape.
fn shape(span: Span, expected: &str, found: &str) -> Box<Diagnostic> {
    Box::new(
        Diagnostic::new(
            Code::ScriptInvalid,
            span,
            format!("expected {expected}, found {found}"),
        )
        .label(format!("not {expected}"))
        .help("write the value as its type reads (docs/simulate.md, \"Typed arguments\")"),
    )
}

fn found(c: &Cursor<'_>) -> String {
    match c.peek().map(|t| &t.tok) {
        None => "the end of the line".to_string(),
        Some(Tok::Ident(s) | Tok::Number(s)) => format!("`{s}`"),
        Some(Tok::Str(s)) => format!("\"{s}\""),
        Some(Tok::Punct(p)) => format!("`{p}`"),
    }
}

/// Parses the value of a parameter of kind `kind`.
pub(super) fn parse(
    c: &mut Cursor<'_>,
    spec: &Spec,
    kind: &ParamKind,
    range: Option<(u64, u64)>,
) -> PResult<Checked> {
    let checked = match kind {
        ParamKind::Scalar(s) => {
            let bits = match s {
                Scalar::Word => 64,
                Scalar::Bool => 1,
                Scalar::Uint(b) => *b,
            };
            let word = if *s == Scalar::Bool {
                boolean(c)?
            } else {
                integer(c)?.0
            };
            let fits = (bits == 64 || word >> bits == 0)
                && range.is_none_or(|(lo, hi)| (lo..=hi).contains(&word));
            Checked { word, fits }
        }
        ParamKind::Array { element, len, .. } => {
            let ty = match element {
                Scalar::Bool => Ty::Bool,
                Scalar::Word => Ty::Int {
                    signed: false,
                    bits: 64,
                },
                Scalar::Uint(b) => Ty::Int {
                    signed: false,
                    bits: *b,
                },
            };
            let fits = array(c, spec, &ty, *len, true)?;
            Checked { word: 0, fits }
        }
        ParamKind::Data { ty, .. } => {
            let fits = value(c, spec, ty)?;
            Checked { word: 0, fits }
        }
        ParamKind::Lease(l) => Checked {
            word: 0,
            fits: lease(c, l)?,
        },
        ParamKind::Cap { .. } | ParamKind::AnyCap { .. } => {
            return Err(shape(c.span(), "a value", "a cap parameter"));
        }
    };
    Ok(checked)
}

fn boolean(c: &mut Cursor<'_>) -> PResult<u64> {
    if c.eat("true") {
        Ok(1)
    } else if c.eat("false") {
        Ok(0)
    } else {
        Err(shape(c.span(), "`true` or `false`", &found(c)))
    }
}

/// An integer, `-` before a negative one: its magnitude and sign.
fn integer(c: &mut Cursor<'_>) -> PResult<(u64, bool)> {
    let negative = c.eat("-");
    if !matches!(
        c.peek(),
        Some(Token {
            tok: Tok::Number(_),
            ..
        })
    ) {
        return Err(shape(c.span(), "a number", &found(c)));
    }
    let (v, _) = c.number("a number", "request s1 Files.read offset 12")?;
    Ok((v, negative))
}

/// Whether `(magnitude, negative)` fits an integer of the type.
fn int_fits(signed: bool, bits: u32, (v, negative): (u64, bool)) -> bool {
    match (signed, negative) {
        (false, true) => v == 0,
        (false, false) => bits == 64 || v >> bits == 0,
        (true, false) => v < 1 << (bits - 1),
        (true, true) => v <= 1 << (bits - 1),
    }
}

/// A value of `ty`: whether its bounds take it.
fn value(c: &mut Cursor<'_>, spec: &Spec, ty: &Ty) -> PResult<bool> {
    match ty {
        Ty::Bool => boolean(c).map(|_| true),
        Ty::Int { signed, bits } => Ok(int_fits(*signed, *bits, integer(c)?)),
        // A float's value is written as an integer; every one is a float.
        Ty::Float { .. } => integer(c).map(|_| true),
        Ty::Array(t, n) => array(c, spec, t, *n, true),
        Ty::Bounded(t, n) => array(c, spec, t, *n, false),
        Ty::String(n) => match c.peek().cloned() {
            Some(Token {
                tok: Tok::Str(text),
                ..
            }) => {
                c.at += 1;
                Ok(text.len() as u64 <= *n)
            }
            _ => Err(shape(c.span(), "a string `\"...\"`", &found(c))),
        },
        Ty::Option(t) => {
            if c.eat("None") {
                Ok(true)
            } else if c.eat("Some") {
                c.expect("(", "Some(3)")?;
                let fits = value(c, spec, t)?;
                c.expect(")", "Some(3)")?;
                Ok(fits)
            } else {
                Err(shape(c.span(), "`None` or `Some(...)`", &found(c)))
            }
        }
        Ty::Named(id) => {
            let t = &spec.data_types[id.index()];
            match &t.def {
                DataDef::Alias(inner) => value(c, spec, inner),
                DataDef::Range { ty, min, max } => {
                    let (v, negative) = integer(c)?;
                    let Ty::Int { signed, bits } = ty else {
                        return Ok(false);
                    };
                    Ok(!negative
                        && int_fits(*signed, *bits, (v, negative))
                        && (*min..=*max).contains(&v))
                }
                DataDef::Record(fields) => {
                    let example = "{ name = \"a\", size = 3 }";
                    c.expect("{", example)?;
                    let mut given = vec![false; fields.len()];
                    let mut fits = true;
                    while !c.is("}") {
                        let (name, span) = c.ident("a field name", example)?;
                        let Some(i) = fields.iter().position(|f| f.name == name) else {
                            return Err(shape(
                                span,
                                &format!("a field of `{}`", t.name),
                                &format!("`{name}`"),
                            ));
                        };
                        if given[i] {
                            return Err(shape(span, "each field once", &format!("`{name}` again")));
                        }
                        given[i] = true;
                        c.expect("=", example)?;
                        fits &= value(c, spec, &fields[i].ty)?;
                        if !c.eat(",") {
                            break;
                        }
                    }
                    let end = c.span();
                    c.expect("}", example)?;
                    if let Some(i) = given.iter().position(|g| !g) {
                        return Err(shape(
                            end,
                            &format!("field `{}` of `{}`", fields[i].name, t.name),
                            "`}`",
                        ));
                    }
                    Ok(fits)
                }
                DataDef::Enum { variants, .. } => {
                    let (name, span) = c.ident(&format!("a variant of `{}`", t.name), "File(3)")?;
                    let Some(v) = variants.iter().find(|v| v.name == name) else {
                        return Err(shape(
                            span,
                            &format!("a variant of `{}`", t.name),
                            &format!("`{name}`"),
                        ));
                    };
                    let mut fits = true;
                    if !v.fields.is_empty() {
                        c.expect("(", "File(3)")?;
                        for (k, (ty, _)) in v.fields.iter().enumerate() {
                            if k > 0 {
                                c.expect(",", "Link(\"a\", None)")?;
                            }
                            fits &= value(c, spec, ty)?;
                        }
                        c.expect(")", "File(3)")?;
                    }
                    Ok(fits)
                }
            }
        }
    }
}

/// `[v, ...]` of `n` values (`exact`) or up to `n`.
fn array(c: &mut Cursor<'_>, spec: &Spec, element: &Ty, n: u64, exact: bool) -> PResult<bool> {
    c.expect("[", "[1, 2, 3]")?;
    let mut count = 0u64;
    let mut fits = true;
    while !c.is("]") {
        fits &= value(c, spec, element)?;
        count += 1;
        if !c.eat(",") {
            break;
        }
    }
    c.expect("]", "[1, 2, 3]")?;
    Ok(fits && if exact { count == n } else { count <= n })
}

/// `lease OFFSET BYTES`: whether the decoder takes the range.
fn lease(c: &mut Cursor<'_>, l: &Lease) -> PResult<bool> {
    let example = "lease 0 512";
    if !c.eat("lease") {
        return Err(shape(c.span(), "`lease OFFSET BYTES`", &found(c)));
    }
    let (offset, _) = c.number("the lease's offset in bytes", example)?;
    let (bytes, _) = c.number("the lease's length in bytes", example)?;
    let max = l.max_bytes();
    let whole = bytes.checked_rem(l.element_bytes) == Some(0)
        && if l.exact { bytes == max } else { bytes <= max };
    Ok(whole
        && offset
            .checked_add(bytes)
            .is_some_and(|end| end <= l.frame_bytes))
}
