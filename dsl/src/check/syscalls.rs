//! `syscalls` blocks: a kernel's system calls, their numbers and the caps
//! each sends or receives on, with the rights or flags a cap must carry.

use std::collections::BTreeMap;

use super::{Ctx, TypeSym};
use crate::ast;
use crate::diag::{Code, Diagnostic};
use crate::model::{self, CapId, FieldKind, RightId};
use crate::source::Span;

impl Ctx<'_> {
    /// Checks every `syscalls` block; a block with an error is left out.
    pub(super) fn check_syscalls(
        &mut self,
        caps: &[Option<model::CapType>],
        rights: &[model::Right],
    ) -> Vec<model::SyscallSet> {
        let mut out = Vec::new();
        for index in 0..self.items.syscalls.len() {
            let (item, block) = self.items.syscalls[index];
            let mut ok = true;
            let mut names: BTreeMap<&str, Span> = BTreeMap::new();
            let mut numbers: BTreeMap<i64, (&str, Span)> = BTreeMap::new();
            let mut syscalls = Vec::new();
            for decl in &block.syscalls {
                // The one attribute a system call takes is `#[cfg]`, gone by now.
                for attr in &decl.attrs {
                    self.diags.push(
                        Diagnostic::new(
                            Code::AttributeMisuse,
                            attr.span,
                            format!(
                                "attribute `#[{}]` is not valid on a system call",
                                attr.name.name
                            ),
                        )
                        .label("not allowed here")
                        .help("a system call takes only `#[cfg(...)]`"),
                    );
                    ok = false;
                }
                if let Some(first) = names.insert(&decl.name.name, decl.name.span) {
                    self.duplicate(&decl.name, first, "system call");
                    ok = false;
                }
                let number = self.syscall_number(decl);
                if let Some(n) = number {
                    if let Some((other, first)) =
                        numbers.insert(n, (&decl.name.name, decl.number_span))
                    {
                        self.diags.push(
                            Diagnostic::new(
                                Code::SyscallNumberTaken,
                                decl.number_span,
                                format!(
                                    "system calls `{other}` and `{}` have the number {n}",
                                    decl.name.name
                                ),
                            )
                            .label("taken")
                            .with_secondary(first, format!("`{other}` has it"))
                            .help("give each system call of a block its own number"),
                        );
                        ok = false;
                    }
                }
                let mut sends = None;
                let mut receives = None;
                let mut first_clause: [Option<Span>; 2] = [None, None];
                for clause in &decl.clauses {
                    let slot = usize::from(clause.receives);
                    let word = if clause.receives { "receives" } else { "sends" };
                    if let Some(first) = first_clause[slot] {
                        self.diags.push(
                            Diagnostic::new(
                                Code::SyscallClauseTwice,
                                clause.span,
                                format!("system call `{}` {word} twice", decl.name.name),
                            )
                            .label(format!("a second `{word}`"))
                            .with_secondary(first, "first here")
                            .help("list every cap type it acts on in one clause: `on A | B`"),
                        );
                        ok = false;
                        continue;
                    }
                    first_clause[slot] = Some(clause.span);
                    match self.syscall_targets(clause, caps, rights) {
                        Some(t) if clause.receives => receives = Some(t),
                        Some(t) => sends = Some(t),
                        None => ok = false,
                    }
                }
                if let Some(number) = number {
                    syscalls.push(model::Syscall {
                        docs: decl.docs.clone(),
                        name: decl.name.name.clone(),
                        number,
                        sends,
                        receives,
                        span: decl.name.span,
                    });
                } else {
                    ok = false;
                }
            }
            if ok {
                out.push(model::SyscallSet {
                    docs: item.docs.clone(),
                    name: block.name.name.clone(),
                    syscalls,
                    span: block.name.span,
                });
            }
        }
        out
    }

    /// The number as a signed word, or `None` (reported) when it does not
    /// fit one.
    fn syscall_number(&mut self, decl: &ast::SyscallDecl) -> Option<i64> {
        let magnitude = self.eval_reported(&decl.number, None)?;
        let value = if decl.negative {
            (magnitude <= 1 << 63).then(|| (magnitude as i64).wrapping_neg())
        } else {
            i64::try_from(magnitude).ok()
        };
        if value.is_none() {
            let sign = if decl.negative { "-" } else { "" };
            self.diags.push(
                Diagnostic::new(
                    Code::SyscallNumberRange,
                    decl.number_span,
                    format!(
                        "system call `{}` has the number {sign}{magnitude}, which does not fit a signed word",
                        decl.name.name
                    ),
                )
                .label("not in -2^63..2^63")
                .note("a system call's number is a signed 64-bit word; a negative one is passed as its two's complement")
                .help("write a number from -9223372036854775808 to 9223372036854775807"),
            );
        }
        value
    }

    /// The cap types of a `sends`/`receives` clause, each with what it
    /// must carry; `None` after an error (reported).
    fn syscall_targets(
        &mut self,
        clause: &ast::SyscallClause,
        caps: &[Option<model::CapType>],
        rights: &[model::Right],
    ) -> Option<model::SyscallTargets> {
        let mut ok = true;
        let mut out = Vec::new();
        let mut listed: BTreeMap<&str, Span> = BTreeMap::new();
        for (ty, needs) in &clause.caps {
            if let Some(first) = listed.insert(&ty.name, ty.span) {
                self.diags.push(
                    Diagnostic::new(
                        Code::SyscallCapTwice,
                        ty.span,
                        format!("cap type `{}` is named twice in one clause", ty.name),
                    )
                    .label("named again")
                    .with_secondary(first, "first here")
                    .help("name it once, with every right it needs"),
                );
                ok = false;
                continue;
            }
            let Some(i) = self.resolve(ty, "a cap type", |s| match s {
                TypeSym::Cap(i) => Some(i),
                _ => None,
            }) else {
                ok = false;
                continue;
            };
            let Some(cap) = caps[i].as_ref() else {
                ok = false;
                continue;
            };
            let mut want_rights = Vec::new();
            let mut flags = Vec::new();
            let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
            for need in needs {
                if let Some(first) = seen.insert(&need.name, need.span) {
                    self.listed_twice(need, first, "right");
                    ok = false;
                    continue;
                }
                let right = rights
                    .iter()
                    .position(|r| r.name == need.name)
                    .map(|r| RightId(r as u32))
                    .filter(|r| cap.rights.contains(r));
                let flag = cap
                    .fields
                    .iter()
                    .position(|f| f.name == need.name && f.kind == FieldKind::Bool);
                match (right, flag) {
                    (Some(r), _) => want_rights.push(r),
                    (None, Some(f)) => flags.push(f),
                    (None, None) => {
                        let mut offered: Vec<String> = cap
                            .rights
                            .iter()
                            .map(|r| format!("`{}`", rights[r.index()].name))
                            .collect();
                        offered.extend(
                            cap.fields
                                .iter()
                                .filter(|f| f.kind == FieldKind::Bool)
                                .map(|f| format!("`{}`", f.name)),
                        );
                        let offered = if offered.is_empty() {
                            "none".to_string()
                        } else {
                            offered.join(", ")
                        };
                        self.diags.push(
                            Diagnostic::new(
                                Code::SyscallRightLacking,
                                need.span,
                                format!(
                                    "cap type `{}` has no right or `bool` field `{}`",
                                    cap.name, need.name
                                ),
                            )
                            .label("a cap of this type cannot carry it")
                            .note(format!("what `{}` can carry: {offered}", cap.name))
                            .help("name one of its rights or `bool` fields, or remove it"),
                        );
                        ok = false;
                    }
                }
            }
            out.push(model::SyscallCap {
                cap: CapId(i as u32),
                rights: want_rights,
                flags,
            });
        }
        ok.then_some(model::SyscallTargets { caps: out })
    }
}
