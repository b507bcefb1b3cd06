//! Derivation rules: `derive Target from Source;`.
//!
//! A derived cap is made from a cap of another type without memory (a
//! frame's mapping, Barrelfish's `EndPointLMP from Dispatcher`). The
//! generated `is_ancestor` must see from the two caps' contents alone that
//! one was derived from the other, or a kernel that keeps its derivation
//! tree as seL4's list would not revoke it with its source. So the target
//! names its source's object (whose every address and size argument both
//! caps' fields hold), or the source has no identity fields (there is one
//! object of its type). Untyped memory is retyped, not derived; a derived cap never
//! owns its object, so it cannot be the cap type retype makes for it; every
//! cap type has at most one source, and rules never loop.
//!
//! A rule from a cap type to itself splits its caps into smaller pieces of
//! their object (Barrelfish's `from_self` on Frame): the object must be a
//! `frame` or `object` with more than one size, and pieces of two splits
//! would overlap, so the rule is never `#[multiple]`.

use crate::ast::{self, ObjectKind};
use crate::diag::{Code, Diagnostic};
use crate::model::{self, CapId};

use super::{Ctx, TypeSym};

impl Ctx<'_> {
    pub(super) fn check_derives(
        &mut self,
        objects: &[Option<model::Object>],
        caps: &[Option<model::CapType>],
    ) -> Vec<model::Derive> {
        let mut out: Vec<model::Derive> = Vec::new();
        for index in 0..self.items.derives.len() {
            let (item, rule) = self.items.derives[index];
            let attributes = self.derive_attributes(item);
            let multiple = attributes.map(|(multiple, _)| multiple);
            let at_offset = attributes.is_some_and(|(_, at_offset)| at_offset);
            let cap = |s| match s {
                TypeSym::Cap(i) => Some(i),
                _ => None,
            };
            let target = self.resolve(&rule.target, "a cap type", cap);
            let source = self.resolve(&rule.source, "a cap type", cap);
            let (Some(target), Some(source), Some(multiple)) = (target, source, multiple) else {
                continue;
            };
            let (Some(t), Some(s)) = (caps[target].as_ref(), caps[source].as_ref()) else {
                continue;
            };
            let range = match item.attrs.iter().find(|a| a.name.name == "range") {
                Some(attr) => {
                    match self.range_attribute(attr, t, target == source, multiple, at_offset) {
                        Some(range) => Some(range),
                        None => continue,
                    }
                }
                None => None,
            };
            if range.is_none()
                && (!self.derive_kinds(rule, objects, caps, t, s)
                    || !self.derive_object(rule, objects, t, s))
            {
                continue;
            }
            if multiple && target == source {
                let attr = item
                    .attrs
                    .iter()
                    .find(|a| a.name.name == "multiple")
                    .expect("multiple");
                self.diags.push(
                    Diagnostic::new(
                        Code::AttributeMisuse,
                        attr.span,
                        "`#[multiple]` on a splitting rule",
                    )
                    .label("not allowed here")
                    .note("a cap is split once, until its pieces are revoked: pieces of two splits would overlap")
                    .help("remove `#[multiple]`"),
                );
                continue;
            }
            if at_offset && target != source {
                let attr = item
                    .attrs
                    .iter()
                    .find(|a| a.name.name == "at_offset")
                    .expect("at_offset");
                self.diags.push(
                    Diagnostic::new(
                        Code::AttributeMisuse,
                        attr.span,
                        "`#[at_offset]` on a rule that does not split",
                    )
                    .label("not allowed here")
                    .note("a derived cap names its source's whole object; only the pieces of a split lie at an offset")
                    .help(format!("remove `#[at_offset]`, or split with `derive {} from {};`", s.name, s.name)),
                );
                continue;
            }
            if let Some(earlier) = out.iter().find(|d| d.target == CapId(target as u32)) {
                let first = &caps[earlier.source.index()].as_ref().expect("checked").name;
                let message = if earlier.source == CapId(source as u32) {
                    format!("`{}` is derived from `{}` twice", t.name, s.name)
                } else {
                    format!("`{}` is derived from two cap types", t.name)
                };
                self.diags.push(
                    Diagnostic::new(Code::DeriveTwice, rule.target.span, message)
                    .label(format!("derived from `{}` here", s.name))
                    .with_secondary(earlier.span, format!("derived from `{first}` here"))
                    .note("the contents of a derived cap say which cap type it came from, so it has one source")
                    .help(format!(
                        "keep one rule, or declare a second cap type to derive from `{}`",
                        s.name
                    )),
                );
                continue;
            }
            out.push(model::Derive {
                docs: item.docs.clone(),
                source: CapId(source as u32),
                target: CapId(target as u32),
                multiple,
                at_offset,
                range,
                span: rule.target.span,
            });
        }
        self.derive_cycles(&out, caps);
        out
    }

    /// The fields of a valid `#[range(first, last)]` on a rule: a splitting
    /// rule (`E0404`) of a cap type that names no object (`E0404`), without
    /// `#[multiple]` or `#[at_offset]` (`E0404`), naming two distinct
    /// fields of the type (`E0100`, `E0613`) that are `#[identity]`
    /// integers (`E0613`).
    fn range_attribute(
        &mut self,
        attr: &ast::Attribute,
        t: &model::CapType,
        splits: bool,
        multiple: bool,
        at_offset: bool,
    ) -> Option<(usize, usize)> {
        let misuse = if !splits {
            Some("`#[range]` on a rule that does not split")
        } else if t.object.is_some() {
            Some("`#[range]` on a splitting rule of a cap type that names an object")
        } else if multiple || at_offset {
            Some("`#[range]` with `#[multiple]` or `#[at_offset]`")
        } else if !attr.args.is_empty() || !attr.values.is_empty() || attr.flags.len() != 2 {
            Some("`#[range]` takes two field names")
        } else {
            None
        };
        if let Some(misuse) = misuse {
            self.diags.push(
                Diagnostic::new(Code::AttributeMisuse, attr.span, misuse)
                    .label("not valid here")
                    .note("`#[range(first, last)]` on `derive T from T;` splits caps of a type that names no object into caps for sub-ranges of the numbers `first..=last` its two fields hold")
                    .help(format!("write `#[range(first, last)]` alone before `derive {0} from {0};`, naming two `#[identity]` integer fields of a cap type without `for`", t.name)),
            );
            return None;
        }
        let mut found = Vec::new();
        for name in &attr.flags {
            let Some(index) = t.fields.iter().position(|f| f.name == name.name) else {
                let names = t.fields.iter().map(|f| f.name.as_str());
                let mut d = Diagnostic::new(
                    Code::UnknownName,
                    name.span,
                    format!("`{}` has no field `{}`", t.name, name.name),
                )
                .label("no such field");
                if let Some(near) = crate::diag::closest(&name.name, names) {
                    d = d.help(format!("did you mean `{near}`?"));
                }
                self.diags.push(d);
                return None;
            };
            let f = &t.fields[index];
            let problem = if f.kind != model::FieldKind::Uint {
                Some("is not an integer field")
            } else if f.values.is_some() {
                Some("is an enumerated field, not a number")
            } else if !f.identity {
                Some("is not `#[identity]`")
            } else if found.contains(&index) {
                Some("is named twice")
            } else {
                None
            };
            if let Some(problem) = problem {
                self.diags.push(
                    Diagnostic::new(
                        Code::RangeFields,
                        name.span,
                        format!("field `{}` of `{}` {problem}", f.name, t.name),
                    )
                    .label("cannot hold an end of the range")
                    .with_secondary(f.span, "declared here")
                    .note("a cap's range is the numbers between its two fields, both ends included, and what tells caps of the type apart: two `#[identity]` `uN` fields")
                    .help("name two different `#[identity]` integer fields, the first and the last number"),
                );
                return None;
            }
            found.push(index);
        }
        Some((found[0], found[1]))
    }

    /// `Some((multiple, at_offset))` when the rule's attributes are valid.
    fn derive_attributes(&mut self, item: &ast::Item) -> Option<(bool, bool)> {
        let mut multiple = Some((false, false));
        for attr in &item.attrs {
            match attr.name.name.as_str() {
                "allow" => {}
                "multiple" if !attr.has_args() => {
                    multiple = multiple.map(|(_, at)| (true, at));
                }
                "at_offset" if !attr.has_args() => {
                    multiple = multiple.map(|(m, _)| (m, true));
                }
                "range" => {} // checked with the rule's types
                name => {
                    self.diags.push(
                        Diagnostic::new(
                            Code::AttributeMisuse,
                            attr.span,
                            format!("attribute `#[{name}]` is not valid on a derivation rule"),
                        )
                        .label("not allowed here")
                        .help("a derivation rule takes `#[multiple]` (any number of derived caps per source cap), a splitting rule `#[at_offset]` (pieces from an offset) or `#[range(first, last)]` (sub-ranges of numbers), and nothing else"),
                    );
                    multiple = None;
                }
            }
        }
        multiple
    }

    /// Source and target are kinds of cap one may derive the other from.
    fn derive_kinds(
        &mut self,
        rule: &ast::DeriveItem,
        objects: &[Option<model::Object>],
        caps: &[Option<model::CapType>],
        t: &model::CapType,
        s: &model::CapType,
    ) -> bool {
        let object = |c: &model::CapType| c.object.and_then(|o| objects[o.index()].as_ref());
        let untyped = |c: &model::CapType| object(c).filter(|o| o.kind == ObjectKind::Untyped);
        let owner = t.object.and_then(|o| {
            caps.iter()
                .flatten()
                .find(|c| c.object == Some(o))
                .filter(|c| c.name == t.name)
        });
        let (span, message, label, help) = if t.name == s.name {
            // A splitting rule: pieces of a sized frame or kernel object.
            let what = match object(t) {
                None => format!("`{}` names no object", t.name),
                Some(o) if o.kind == ObjectKind::Untyped => {
                    format!("`{}` names `{}`, which is `untyped`", t.name, o.name)
                }
                Some(o) if o.size.table.len() < 2 && !o.size.is_bytes() => {
                    format!("`{}` has one size: nothing smaller to split into", o.name)
                }
                Some(_) => return true,
            };
            let help = if object(t).is_none() {
                format!(
                    "a cap type without an object splits by a range of numbers: `#[range(first, last)]` naming two `#[identity]` integer fields of `{}`",
                    t.name
                )
            } else {
                "give the object a size parameter (`frame F(bits in 12..=21)`); untyped memory splits by a retype rule that lists its own object".to_string()
            };
            (
                rule.target.span,
                format!("`{}` cannot be split", t.name),
                what,
                help,
            )
        } else if let Some(o) = untyped(s) {
            (
                rule.source.span,
                format!("`{}` is untyped memory", s.name),
                format!("`{}` names `{}`, which is `untyped`", s.name, o.name),
                format!(
                    "memory becomes objects by retype: `retype {} {{ into = ...; fan_out = ...; }}`",
                    s.name
                ),
            )
        } else if let Some(o) = untyped(t) {
            (
                rule.target.span,
                format!("`{}` is untyped memory", t.name),
                format!("`{}` names `{}`, which is `untyped`", t.name, o.name),
                "a derived cap allocates no memory, so it cannot be memory to retype: derive a cap type that names no untyped object".to_string(),
            )
        } else if owner.is_some() {
            let o = object(t).expect("names an object");
            (
                rule.target.span,
                format!("`{}` is the cap type of `{}`", t.name, o.name),
                format!(
                    "`{}` is the first cap type declared for `{}`: its caps own the object",
                    t.name, o.name
                ),
                format!(
                    "declare another cap type `for {}` after `{}` and derive that one",
                    o.name, t.name
                ),
            )
        } else {
            return true;
        };
        let note = if t.name == s.name {
            "a rule from a cap type to itself splits a cap into caps for smaller pieces of its object"
        } else {
            "a derived cap is made from a cap of another type, names its object and allocates nothing"
        };
        self.diags.push(
            Diagnostic::new(Code::DeriveKind, span, message)
                .label(label)
                .note(note)
                .help(help),
        );
        false
    }

    /// The target names the source's object, or the source has no identity
    /// to name.
    fn derive_object(
        &mut self,
        rule: &ast::DeriveItem,
        objects: &[Option<model::Object>],
        t: &model::CapType,
        s: &model::CapType,
    ) -> bool {
        let name = |o: model::ObjectId| {
            objects[o.index()]
                .as_ref()
                .map_or(String::new(), |o| o.name.clone())
        };
        let report = |ctx: &mut Self, message: String, label: String, help: String| {
            ctx.diags.push(
                Diagnostic::new(Code::DeriveObject, rule.target.span, message)
                    .label(label)
                    .with_secondary(s.span, format!("`{}` declared here", s.name))
                    .note("`is_ancestor` must tell from the two caps alone that one was derived from the other, so that revoking the source finds the derived cap")
                    .help(help),
            );
            false
        };
        match (t.object, s.object) {
            (Some(to), Some(so)) if to != so => report(
                self,
                format!("`{}` names another object than `{}`", t.name, s.name),
                format!(
                    "`{}` names `{}`, `{}` names `{}`",
                    t.name,
                    name(to),
                    s.name,
                    name(so)
                ),
                format!("write `cap {} for {}`", t.name, name(so)),
            ),
            (Some(_), None) => report(
                self,
                format!("`{}` names an object and `{}` none", t.name, s.name),
                format!("`{}` has no object for `{}` to name", s.name, t.name),
                format!("remove `for ...` from `{}`", t.name),
            ),
            (None, _) if s.fields.iter().any(|f| f.identity) => {
                let so = s.object.map(name);
                report(
                    self,
                    format!(
                        "`{}` cannot show which `{}` it was derived from",
                        t.name, s.name
                    ),
                    format!(
                        "`{}` names no object, and caps of `{}` differ by their `#[identity]` fields",
                        t.name, s.name
                    ),
                    match so {
                        Some(o) => format!(
                            "write `cap {} for {o}` with the `#[object]` (and `#[size_arg]`) fields `{}` has",
                            t.name, s.name
                        ),
                        None => format!(
                            "derive `{}` from a cap type without `#[identity]` fields",
                            t.name
                        ),
                    },
                )
            }
            // Same object: both caps' fields hold every address and size
            // argument the object may have (the caps pass checks that).
            _ => true,
        }
    }

    /// A chain of rules that comes back to where it started.
    fn derive_cycles(&mut self, rules: &[model::Derive], caps: &[Option<model::CapType>]) {
        // A splitting rule is no cycle.
        let rules: Vec<&model::Derive> = rules.iter().filter(|d| d.source != d.target).collect();
        let rules = &rules[..];
        let name = |c: CapId| caps[c.index()].as_ref().map_or("", |c| c.name.as_str());
        let mut reported: Vec<CapId> = Vec::new();
        for &start in rules {
            let mut path = vec![start];
            loop {
                let last = path.last().expect("not empty");
                let Some(&next) = rules.iter().find(|d| d.target == last.source) else {
                    break;
                };
                if let Some(from) = path.iter().position(|d| d.target == next.target) {
                    let cycle = &path[from..];
                    if cycle.iter().any(|d| reported.contains(&d.target)) {
                        break;
                    }
                    reported.extend(cycle.iter().map(|d| d.target));
                    let first = cycle[0];
                    let mut names: Vec<String> = cycle
                        .iter()
                        .map(|d| format!("`{}`", name(d.target)))
                        .collect();
                    names.push(format!("`{}`", name(first.target)));
                    let mut d = Diagnostic::new(
                        Code::DeriveCycle,
                        first.span,
                        format!("derivation cycle: {}", names.join(" <- ")),
                    )
                    .label(format!(
                        "`{}` is derived from `{}` here",
                        name(first.target),
                        name(first.source)
                    ));
                    for rule in &cycle[1..] {
                        d = d.with_secondary(
                            rule.span,
                            format!(
                                "`{}` is derived from `{}` here",
                                name(rule.target),
                                name(rule.source)
                            ),
                        );
                    }
                    self.diags.push(
                        d.note(
                            "every derived cap comes, in the end, from a cap that is not derived",
                        )
                        .help("remove one of these rules"),
                    );
                    break;
                }
                path.push(next);
            }
        }
    }
}
