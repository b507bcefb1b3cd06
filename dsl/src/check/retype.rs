//! Retype rules and the retype graph.
//!
//! Only caps to `untyped` objects can be retyped. The graph has an edge from
//! the source cap's object to each target; every object must be reachable
//! from untyped memory, and the only cycles allowed are an untyped type
//! splitting into itself. A source that can only be device memory cannot
//! become kernel objects.

use crate::ast::ObjectKind;
use crate::diag::{Code, Diagnostic};
use crate::model::{self, CapId, ObjectId};
use crate::source::Span;

use super::{Ctx, TypeSym};

impl Ctx<'_> {
    pub(super) fn check_retypes(
        &mut self,
        objects: &[Option<model::Object>],
        caps: &[Option<model::CapType>],
    ) -> Vec<model::Retype> {
        let mut out = Vec::new();
        let mut edges: Vec<Vec<(usize, Span)>> = vec![Vec::new(); objects.len()];
        let mut produced = vec![false; objects.len()];
        for index in 0..self.items.retypes.len() {
            let (item, rule) = self.items.retypes[index];
            let mut ok = true;
            let at_offset = self.at_offset_attribute(item);
            let source = self.resolve(&rule.source, "a cap type", |s| match s {
                TypeSym::Cap(i) => Some(i),
                _ => None,
            });
            let mut targets = Vec::new();
            for t in &rule.into {
                match self.resolve(t, "an object type", |s| match s {
                    TypeSym::Object(i) => Some(i),
                    _ => None,
                }) {
                    Some(i) => {
                        produced[i] = true;
                        if targets.iter().any(|(j, _)| *j == i) {
                            self.diags.push(
                                Diagnostic::new(
                                    Code::DuplicateName,
                                    t.span,
                                    format!("`{}` is listed twice", t.name),
                                )
                                .label("listed again here")
                                .help("list each target once"),
                            );
                            ok = false;
                        } else {
                            targets.push((i, t.span));
                        }
                    }
                    None => ok = false,
                }
            }
            if rule.into.is_empty() {
                self.diags.push(
                    Diagnostic::new(
                        Code::MissingStatement,
                        rule.source.span,
                        format!("retype rule for `{}` has no targets", rule.source.name),
                    )
                    .label("no `into = ...;` statement")
                    .help("add `into = Frame | Endpoint;` listing the objects it may become"),
                );
                ok = false;
            }
            let fan_out = match rule.fan_outs.as_slice() {
                [] => {
                    self.diags.push(
                        Diagnostic::new(Code::MissingStatement, rule.source.span, format!("retype rule for `{}` has no fan-out limit", rule.source.name))
                            .label("no `fan_out = ...;` statement")
                            .note("the fan-out limit bounds how many objects one retype call creates (and how long it runs)")
                            .help("add `fan_out = 256;`"),
                    );
                    None
                }
                [f, rest @ ..] => {
                    if let Some(extra) = rest.first() {
                        self.diags.push(
                            Diagnostic::new(
                                Code::DuplicateStatement,
                                extra.span,
                                "`fan_out` is given twice",
                            )
                            .label("given again here")
                            .with_secondary(f.span, "first given here")
                            .help("keep one `fan_out` statement"),
                        );
                    }
                    match self.eval_reported(f, None) {
                        Some(v) if (1..=65536).contains(&v) => Some(v),
                        Some(v) => {
                            self.diags.push(
                                Diagnostic::new(
                                    Code::FanOutOutOfRange,
                                    f.span,
                                    format!("fan-out {v} is outside 1..=65536"),
                                )
                                .label("out of range")
                                .note("a retype call creates between 1 and `fan_out` objects")
                                .help("choose a value in 1..=65536; seL4 uses 256"),
                            );
                            None
                        }
                        None => None,
                    }
                }
            };
            let Some(source) = source else { continue };
            let Some(source_cap) = caps[source].as_ref() else {
                continue;
            };
            let source_object = source_cap.object.map(|o| o.index());
            let Some(source_object) = source_object.filter(|o| {
                objects[*o]
                    .as_ref()
                    .is_some_and(|o| o.kind == ObjectKind::Untyped)
            }) else {
                let what = match source_cap.object {
                    Some(o) => format!(
                        "`{}` names `{}`, which is not `untyped`",
                        source_cap.name,
                        self.items.objects[o.index()].1.name.name
                    ),
                    None => format!("`{}` names no object", source_cap.name),
                };
                self.diags.push(
                    Diagnostic::new(
                        Code::RetypeFromNonMemory,
                        rule.source.span,
                        format!("`{}` cannot be retyped", rule.source.name),
                    )
                    .label(what)
                    .with_secondary(source_cap.span, "cap type declared here")
                    .help("retype from a cap to an object declared with `untyped`"),
                );
                continue;
            };
            let src = objects[source_object].as_ref().expect("filtered");
            for &(t, span) in &targets {
                if let Some(pool) = objects[t].as_ref().filter(|o| o.asid_pool.is_some()) {
                    self.diags.push(
                        Diagnostic::new(
                            Code::AsidPoolMisuse,
                            span,
                            format!("`{}` cannot be retyped", pool.name),
                        )
                        .label("a pool of address-space numbers")
                        .with_secondary(pool.span, format!("`{}` has `asid_pool`", pool.name))
                        .note("the kernel's directory of pools is fixed: pools are made by the kernel's pool-making invocation (seL4's ASIDControl), which only the holder of its cap can call, from an Untyped of exactly their size")
                        .help(format!("remove `{}` from this rule", pool.name)),
                    );
                    ok = false;
                    continue;
                }
                edges[source_object].push((t, span));
                if let Some(target) = objects[t].as_ref()
                    && src.device
                    && !src.ram
                    && target.kind == ObjectKind::Kernel
                {
                    self.diags.push(
                        Diagnostic::new(
                            Code::DeviceRetype,
                            span,
                            format!(
                                "device memory `{}` cannot become kernel object `{}`",
                                src.name, target.name
                            ),
                        )
                        .label("kernel object from device memory")
                        .with_secondary(
                            src.span,
                            format!("`{}` is `memory = device;` only", src.name),
                        )
                        .note("device memory may only become `frame` or `untyped` objects")
                        .help(format!("remove `{}` from this rule", target.name)),
                    );
                    ok = false;
                }
            }
            if let (true, Some(fan_out), Some((at_offset, attr_span))) = (ok, fan_out, at_offset) {
                let source = CapId(source as u32);
                let new_targets = targets.iter().map(|(t, _)| ObjectId(*t as u32));
                // Several rules for one source cap type add up to one rule;
                // they must agree on the fan-out.
                match out
                    .iter_mut()
                    .find(|r: &&mut model::Retype| r.source == source)
                {
                    Some(earlier) if earlier.fan_out != fan_out => {
                        self.diags.push(
                            Diagnostic::new(
                                Code::FanOutOutOfRange,
                                rule.fan_outs[0].span,
                                format!("`{}` has two retype rules with different fan-outs", rule.source.name),
                            )
                            .label(format!("fan-out {fan_out} here"))
                            .with_secondary(earlier.span, format!("fan-out {} in the earlier rule", earlier.fan_out))
                            .note("rules for one cap type add up to one rule, which has one fan-out limit")
                            .help(format!("use `fan_out = {};` here too, or merge the rules", earlier.fan_out)),
                        );
                    }
                    Some(earlier) if earlier.at_offset != at_offset => {
                        let (with, without) = if at_offset {
                            (attr_span, earlier.span)
                        } else {
                            (rule.source.span, earlier.span)
                        };
                        self.diags.push(
                            Diagnostic::new(
                                Code::AtOffsetDisagree,
                                with,
                                format!("`{}` has two retype rules, one with `#[at_offset]` and one without", rule.source.name),
                            )
                            .label(if at_offset { "`#[at_offset]` here" } else { "no `#[at_offset]` here" })
                            .with_secondary(without, if at_offset { "no `#[at_offset]` on the earlier rule" } else { "the earlier rule has `#[at_offset]`" })
                            .note("rules for one cap type add up to one rule: its caps are retyped at an offset or not")
                            .help("put `#[at_offset]` on every rule for this cap type, or on none"),
                        );
                    }
                    Some(earlier) => {
                        for t in new_targets {
                            if !earlier.targets.contains(&t) {
                                earlier.targets.push(t);
                            }
                        }
                    }
                    None => out.push(model::Retype {
                        docs: item.docs.clone(),
                        source,
                        targets: new_targets.collect(),
                        fan_out,
                        at_offset,
                        span: rule.source.span,
                    }),
                }
            }
        }
        self.check_graph(objects, &edges, &produced);
        out
    }

    /// `Some((at_offset, span of the attribute))` when the rule's
    /// `#[at_offset]` is valid (no arguments, given once); other
    /// attributes are `reject_misplaced_attributes`'.
    fn at_offset_attribute(&mut self, item: &crate::ast::Item) -> Option<(bool, Span)> {
        let mut found: Option<Span> = None;
        let mut ok = true;
        for attr in item.attrs.iter().filter(|a| a.name.name == "at_offset") {
            let problem = if attr.has_args() {
                Some("`#[at_offset]` takes no arguments")
            } else if found.is_some() {
                Some("`#[at_offset]` is given twice")
            } else {
                None
            };
            if let Some(problem) = problem {
                self.diags.push(
                    Diagnostic::new(Code::AttributeMisuse, attr.span, problem)
                        .label("not valid here")
                        .help("write `#[at_offset]` once, with no arguments, before `retype`"),
                );
                ok = false;
            }
            found.get_or_insert(attr.span);
        }
        ok.then(|| (found.is_some(), found.unwrap_or(item.span)))
    }

    /// The names of the object types a `creates T from untyped` clause
    /// makes (`T`'s object type): objects not retyped but made of an
    /// Untyped all the same. The clause itself is checked with its method.
    fn created_from_untyped(&self) -> std::collections::BTreeSet<String> {
        let mut names = std::collections::BTreeSet::new();
        for (_, set) in &self.items.invocations {
            for m in &set.methods {
                for c in m.creates.iter().filter(|c| c.from.is_some()) {
                    let object = self
                        .items
                        .caps
                        .iter()
                        .find(|(_, cap)| cap.name.name == c.cap.name)
                        .and_then(|(_, cap)| cap.object.as_ref());
                    if let Some(object) = object {
                        names.insert(object.name.clone());
                    }
                }
            }
        }
        names
    }

    fn check_graph(
        &mut self,
        objects: &[Option<model::Object>],
        edges: &[Vec<(usize, Span)>],
        produced: &[bool],
    ) {
        let created = self.created_from_untyped();
        for (i, object) in objects.iter().enumerate() {
            // A duplicate object is reported as such; rules name the first.
            let duplicate = !matches!(
                self.types.get(&self.items.objects[i].1.name.name),
                Some((TypeSym::Object(j), _)) if *j == i
            );
            if let Some(o) = object
                && o.kind != ObjectKind::Untyped
                && o.asid_pool.is_none()
                && !produced[i]
                && !created.contains(&o.name)
                && !duplicate
            {
                self.diags.push(
                    Diagnostic::new(
                        Code::UnreachableObject,
                        o.span,
                        format!("no retype rule creates `{}`", o.name),
                    )
                    .label("not reachable from untyped memory")
                    .note("the kernel has no heap: every object is retyped from untyped memory")
                    .help(format!(
                        "add `{}` to the `into` list of a retype rule",
                        o.name
                    )),
                );
            }
        }
        // Cycles between distinct types (a self-loop is from-self splitting).
        let n = objects.len();
        let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
        // Each node on the stack with the edge that reached it.
        let mut stack: Vec<(usize, Option<Span>)> = Vec::new();
        for start in 0..n {
            if state[start] == 0 {
                self.dfs(start, None, edges, &mut state, &mut stack);
            }
        }
    }

    fn dfs(
        &mut self,
        node: usize,
        reached_by: Option<Span>,
        edges: &[Vec<(usize, Span)>],
        state: &mut [u8],
        stack: &mut Vec<(usize, Option<Span>)>,
    ) {
        state[node] = 1;
        stack.push((node, reached_by));
        for &(next, span) in &edges[node] {
            if next == node {
                continue;
            }
            match state[next] {
                0 => self.dfs(next, Some(span), edges, state, stack),
                1 => {
                    let from = stack
                        .iter()
                        .position(|(s, _)| *s == next)
                        .expect("on stack");
                    let name = |i: usize| self.items.objects[i].1.name.name.as_str();
                    let mut path: Vec<String> = stack[from..]
                        .iter()
                        .map(|(i, _)| format!("`{}`", name(*i)))
                        .collect();
                    path.push(format!("`{}`", name(next)));
                    let mut d = Diagnostic::new(
                        Code::RetypeCycle,
                        span,
                        format!("retype cycle: {}", path.join(" -> ")),
                    )
                    .label(format!(
                        "`{}` is retyped into `{}` here, closing the cycle",
                        name(node),
                        name(next)
                    ));
                    // The other edges of the cycle, in order.
                    for pair in stack[from..].windows(2) {
                        let ((a, _), (b, by)) = (pair[0], pair[1]);
                        if let Some(by) = by {
                            d = d.with_secondary(
                                by,
                                format!("`{}` is retyped into `{}` here", name(a), name(b)),
                            );
                        }
                    }
                    d = d
                        .note(
                            "only splitting an untyped type into smaller pieces of itself may loop",
                        )
                        .help("remove one of these retype targets so memory flows one way");
                    self.diags.push(d);
                }
                _ => {}
            }
        }
        stack.pop();
        state[node] = 2;
    }
}
