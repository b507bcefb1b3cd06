//! Leases: a parameter of an RPC interface that lends the caller's memory
//! for one call (Idol's leases), `buf: lease(read, write) [u8; ..=4096]`.
//!
//! A lease travels as a frame cap minted with exactly its rights, plus an
//! offset and a length in the message. This pass checks what a lease
//! declares: its directions are the rights `read` and `write`, declared and
//! carried by the frame cap type (`E0766`); that cap type names a `frame`
//! object, given or the spec's only one (`E0767`); it holds an array of
//! integers (`E0768`) of at least one element and no more bytes than the
//! largest frame (`E0769`). Where a lease may appear (parameters of a call
//! of an interface) is checked with the other parameters.

use std::collections::BTreeMap;

use crate::ast::{self, ObjectKind, TypeExprKind};
use crate::diag::{Code, Diagnostic};
use crate::model::{self, CapId, Ty};
use crate::source::Span;

use super::{Ctx, TypeSym, list};

/// The directions a lease may grant, each a right of the same name.
const DIRECTIONS: [&str; 2] = ["read", "write"];

impl Ctx<'_> {
    /// The lease `p` declares, `None` after an error (reported).
    pub(super) fn check_lease(
        &mut self,
        p: &ast::Param,
        cap: Option<&ast::Ident>,
        rights: &[ast::Ident],
        ty: &ast::TypeExpr,
        objects: &[Option<model::Object>],
        caps: &[Option<model::CapType>],
    ) -> Option<model::Lease> {
        let frame = self.lease_frame(p, cap, objects, caps);
        let directions = self.lease_rights(p, rights, frame.map(|(id, _)| id), caps);
        let element = self.lease_element(p, ty);
        let (cap_id, frame_bytes) = frame?;
        let (read, write, right_ids) = directions?;
        let (element, exact, len) = element?;
        let element_bytes = match element {
            Ty::Int { bits, .. } => u64::from(bits) / 8,
            _ => return None,
        };
        let max = self.eval_reported(len, None)?;
        let bytes = max.checked_mul(element_bytes);
        if max == 0 || bytes.is_none_or(|b| b > frame_bytes) {
            let (label, note) = if max == 0 {
                (
                    "length 0".to_string(),
                    "a lease lends at least one element".to_string(),
                )
            } else {
                (
                    format!(
                        "{} bytes, more than a frame",
                        bytes.map_or("too many".to_string(), |b| b.to_string())
                    ),
                    format!(
                        "the largest frame `{}` names holds {frame_bytes} bytes, and a lease lies within one frame",
                        caps[cap_id.index()]
                            .as_ref()
                            .map_or("", |c| c.name.as_str())
                    ),
                )
            };
            self.diags.push(
                Diagnostic::new(
                    Code::LeaseLength,
                    len.span,
                    format!("lease `{}` may hold {max} elements", p.name.name),
                )
                .label(label)
                .note(note)
                .help("give the lease a length from 1 to what one frame holds"),
            );
            return None;
        }
        Some(model::Lease {
            cap: cap_id,
            read,
            write,
            rights: right_ids,
            element,
            element_bytes,
            max,
            exact,
            frame_bytes,
        })
    }

    /// The frame cap type of a lease and the largest frame it names.
    fn lease_frame(
        &mut self,
        p: &ast::Param,
        cap: Option<&ast::Ident>,
        objects: &[Option<model::Object>],
        caps: &[Option<model::CapType>],
    ) -> Option<(CapId, u64)> {
        let frame_of = |c: &model::CapType| -> Option<u64> {
            let object = objects[c.object?.index()].as_ref()?;
            (object.kind == ObjectKind::Frame).then(|| {
                object
                    .size
                    .table
                    .iter()
                    .map(|(_, b)| 1u64 << b)
                    .max()
                    .unwrap_or(0)
            })
        };
        let frames: Vec<(usize, &model::CapType, u64)> = caps
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let c = c.as_ref()?;
                Some((i, c, frame_of(c)?))
            })
            .collect();
        let names: Vec<&str> = frames.iter().map(|(_, c, _)| c.name.as_str()).collect();
        match cap {
            Some(name) => {
                let id = self.resolve(name, "a cap type", |s| match s {
                    TypeSym::Cap(i) => Some(i),
                    _ => None,
                })?;
                let c = caps[id].as_ref()?;
                match frame_of(c) {
                    Some(bytes) => Some((CapId(id as u32), bytes)),
                    None => {
                        let help = if names.is_empty() {
                            "declare a `frame` object type and a cap type for it".to_string()
                        } else {
                            format!("name a cap type of a `frame`: {}", list(&names))
                        };
                        self.diags.push(
                            Diagnostic::new(
                                Code::LeaseFrame,
                                name.span,
                                format!("`{}` is not a cap type of a frame", name.name),
                            )
                            .label("cannot carry a lease")
                            .with_secondary(c.span, "cap type declared here")
                            .note("a lease lends memory: it travels as a cap to a `frame` object")
                            .help(help),
                        );
                        None
                    }
                }
            }
            None => match frames.as_slice() {
                [(i, _, bytes)] => Some((CapId(*i as u32), *bytes)),
                [] => {
                    self.diags.push(
                        Diagnostic::new(
                            Code::LeaseFrame,
                            p.ty_span,
                            format!("no frame cap type can carry lease `{}`", p.name.name),
                        )
                        .label("carried by no cap type")
                        .note("a lease lends memory: it travels as a cap to a `frame` object, and the spec has none")
                        .help("declare a `frame` object type and a cap type for it"),
                    );
                    None
                }
                several => {
                    let first = several[0].1.name.clone();
                    self.diags.push(
                        Diagnostic::new(
                            Code::LeaseFrame,
                            p.ty_span,
                            format!(
                                "lease `{}` may travel as any of several frame cap types",
                                p.name.name
                            ),
                        )
                        .label("which frame cap type?")
                        .note(format!("frame cap types: {}", list(&names)))
                        .help(format!("name one after `lease`: `lease {first}(...)`")),
                    );
                    None
                }
            },
        }
    }

    /// A lease's directions (`read`, `write`) and the rights its cap is
    /// minted with.
    fn lease_rights(
        &mut self,
        p: &ast::Param,
        rights: &[ast::Ident],
        frame: Option<CapId>,
        caps: &[Option<model::CapType>],
    ) -> Option<(bool, bool, Vec<model::RightId>)> {
        let mut ok = true;
        let mut listed: BTreeMap<&str, Span> = BTreeMap::new();
        let (mut read, mut write) = (false, false);
        let mut ids = Vec::new();
        for r in rights {
            if !DIRECTIONS.contains(&r.name.as_str()) {
                self.diags.push(
                    Diagnostic::new(
                        Code::LeaseRights,
                        r.span,
                        format!("`{}` is not a direction of a lease", r.name),
                    )
                    .label("not `read` or `write`")
                    .note("a lease lets its server read the lent memory, write it, or both")
                    .help("write `lease(read)`, `lease(write)` or `lease(read, write)`"),
                );
                ok = false;
                continue;
            }
            if let Some(first) = listed.insert(&r.name, r.span) {
                self.diags.push(
                    Diagnostic::new(
                        Code::LeaseRights,
                        r.span,
                        format!("`{}` is listed twice in lease `{}`", r.name, p.name.name),
                    )
                    .label("listed again here")
                    .with_secondary(first, "first listed here")
                    .help("list each direction once"),
                );
                ok = false;
                continue;
            }
            let Some(&index) = self.right_index.get(&r.name) else {
                self.diags.push(
                    Diagnostic::new(
                        Code::LeaseRights,
                        r.span,
                        format!("the right `{}` is not declared", r.name),
                    )
                    .label("a lease's direction is the right of its name")
                    .note("the lent frame cap is minted with exactly the rights of the lease's directions")
                    .help(format!("declare `{}` in a `rights {{ ... }}` block", r.name)),
                );
                ok = false;
                continue;
            };
            let id = model::RightId(index as u32);
            if let Some(c) = frame.and_then(|f| caps[f.index()].as_ref())
                && !c.rights.contains(&id)
            {
                self.diags.push(
                    Diagnostic::new(
                        Code::LeaseRights,
                        r.span,
                        format!("`{}` can never carry the right `{}`", c.name, r.name),
                    )
                    .label("lent with this right")
                    .with_secondary(c.span, "cap type declared here")
                    .note("the lent frame cap is minted with exactly the rights of the lease's directions")
                    .help(format!(
                        "add `{}` to the `rights(...)` field of `{}`",
                        r.name, c.name
                    )),
                );
                ok = false;
                continue;
            }
            if r.name == "read" {
                read = true;
            } else {
                write = true;
            }
            ids.push(id);
        }
        ids.sort();
        ok.then_some((read, write, ids))
    }

    /// A lease's element type, whether its length is exact, and the length
    /// expression: `[T; N]` or `[T; ..=N]` with `T` an integer.
    fn lease_element<'t>(
        &mut self,
        p: &ast::Param,
        ty: &'t ast::TypeExpr,
    ) -> Option<(Ty, bool, &'t ast::Expr)> {
        let (element, exact, len) = match &ty.kind {
            TypeExprKind::Array(e, len) => (e, true, len),
            TypeExprKind::Bounded(e, len) => (e, false, len),
            _ => {
                self.lease_type_error(p, ty.span);
                return None;
            }
        };
        let integer = match &element.kind {
            TypeExprKind::Scalar(ast::Scalar::Word) => Some(Ty::Int {
                signed: false,
                bits: 64,
            }),
            TypeExprKind::Scalar(ast::Scalar::Uint(b)) | TypeExprKind::Int(b)
                if [8, 16, 32, 64].contains(b) =>
            {
                Some(Ty::Int {
                    signed: matches!(element.kind, TypeExprKind::Int(_)),
                    bits: *b,
                })
            }
            _ => None,
        };
        match integer {
            Some(t) => Some((t, exact, len)),
            None => {
                self.lease_type_error(p, element.span);
                None
            }
        }
    }

    fn lease_type_error(&mut self, p: &ast::Param, span: Span) {
        self.diags.push(
            Diagnostic::new(
                Code::LeaseType,
                span,
                format!("lease `{}` does not hold an array of integers", p.name.name),
            )
            .label("not `[T; N]` or `[T; ..=N]` of an integer type")
            .note(
                "a lease lends memory as it lies: integers of 8, 16, 32 or 64 bits, little-endian",
            )
            .help("write `[u8; ..=N]` (up to N elements) or `[u32; N]` (exactly N)"),
        );
    }
}
