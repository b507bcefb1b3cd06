//! Configurations: a spec's `config { ... }` options and the
//! `#[cfg(...)]` conditions on its items, cap fields, slots, methods,
//! parameters and enum variants.
//!
//! A spec is checked in every configuration its conditions can tell apart:
//! each combination of the options some condition names (2^k checks for k
//! such options, at most [`MAX_OPTIONS`]). An option no condition names
//! changes nothing and doubles nothing. Each configuration's files are the
//! parsed files with what its conditions exclude removed, checked by
//! [`crate::check::check`] as any spec; the diagnostics of all of them are
//! merged:
//! - an error found in any configuration is reported once, with a note
//!   naming the configurations it is found in when that is not all of them;
//! - a warning is reported when it is found in every configuration in which
//!   the place it points at exists (so a type only an MCS method uses is not
//!   "unused" because non-MCS configurations do not have that method).
//!
//! The model returned is the one of the configuration chosen (the options
//! given to [`crate::compile_with`], every other off), and only when no
//! configuration has an error.

use std::collections::{BTreeMap, BTreeSet};

use crate::ast::{self, AttrArg, Attribute, Ident, ItemKind};
use crate::diag::{Code, Diagnostic, closest};
use crate::model::{ConfigOption, Spec};
use crate::source::{FileId, Span};

/// The most options a spec's conditions may name (2^8 = 256 checks).
pub const MAX_OPTIONS: usize = 8;

/// A condition, its options numbered in declaration order.
#[derive(Clone, Debug)]
enum Pred {
    Opt(usize),
    Not(Box<Pred>),
    All(Vec<Pred>),
    Any(Vec<Pred>),
}

impl Pred {
    fn eval(&self, on: &BTreeSet<usize>) -> bool {
        match self {
            Pred::Opt(i) => on.contains(i),
            Pred::Not(p) => !p.eval(on),
            Pred::All(ps) => ps.iter().all(|p| p.eval(on)),
            Pred::Any(ps) => ps.iter().any(|p| p.eval(on)),
        }
    }

    fn options(&self, out: &mut BTreeSet<usize>) {
        match self {
            Pred::Opt(i) => {
                out.insert(*i);
            }
            Pred::Not(p) => p.options(out),
            Pred::All(ps) | Pred::Any(ps) => ps.iter().for_each(|p| p.options(out)),
        }
    }
}

/// The declared options and every condition, read from the files.
struct Conditions {
    options: Vec<ast::RightDecl>,
    index: BTreeMap<String, usize>,
    /// Each `#[cfg]` by the span of the attribute.
    preds: BTreeMap<Span, Pred>,
    /// Any `#[cfg]` or `config` at all.
    any: bool,
    diags: Vec<Diagnostic>,
}

/// Where a `#[cfg]` is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Allowed,
    Use,
    Config,
}

fn is_cfg(attr: &Attribute) -> bool {
    attr.name.name == "cfg"
}

impl Conditions {
    fn read(files: &[(FileId, ast::File)]) -> Conditions {
        let mut c = Conditions {
            options: Vec::new(),
            index: BTreeMap::new(),
            preds: BTreeMap::new(),
            any: false,
            diags: Vec::new(),
        };
        for (_, file) in files {
            for item in &file.items {
                if let ItemKind::Config(options) = &item.kind {
                    c.any = true;
                    for attr in &item.attrs {
                        c.diags.push(
                            Diagnostic::new(
                                Code::AttributeMisuse,
                                attr.span,
                                format!(
                                    "attribute `#[{}]` is not valid on a `config` block",
                                    attr.name.name
                                ),
                            )
                            .label("not allowed here")
                            .help("a `config` block declares every option in every configuration: remove the attribute"),
                        );
                    }
                    for option in options {
                        c.declare(option);
                    }
                }
            }
        }
        for (_, file) in files {
            for item in &file.items {
                let place = match item.kind {
                    ItemKind::Use(_) => Place::Use,
                    ItemKind::Config(_) => Place::Config,
                    _ => Place::Allowed,
                };
                if place != Place::Config {
                    c.attrs(&item.attrs, place);
                }
                match &item.kind {
                    ItemKind::Cap(cap) => cap.fields.iter().for_each(|f| c.attrs(&f.attrs, place)),
                    ItemKind::Bitfield(b) => b.fields.iter().for_each(|f| c.attrs(&f.attrs, place)),
                    ItemKind::Enum(e) => e.variants.iter().for_each(|v| c.attrs(&v.attrs, place)),
                    ItemKind::Syscalls(s) => {
                        s.syscalls.iter().for_each(|d| c.attrs(&d.attrs, place))
                    }
                    ItemKind::Object(o) => o.slots.iter().for_each(|s| c.attrs(&s.attrs, place)),
                    ItemKind::Invocations(m) | ItemKind::Interface(m) => {
                        for method in &m.methods {
                            c.attrs(&method.attrs, place);
                            for p in method.params.iter().chain(&method.results) {
                                c.attrs(&p.attrs, place);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        c
    }

    fn declare(&mut self, option: &ast::RightDecl) {
        let name = &option.name;
        if let Some(&first) = self.index.get(&name.name) {
            let first = self.options[first].name.span;
            self.diags.push(
                Diagnostic::new(
                    Code::DuplicateName,
                    name.span,
                    format!("configuration option `{}` is declared twice", name.name),
                )
                .label("declared again here")
                .with_secondary(first, "first declared here")
                .help("remove one of the two"),
            );
            return;
        }
        if self.options.len() == MAX_OPTIONS {
            self.diags.push(
                Diagnostic::new(
                    Code::TooManyOptions,
                    name.span,
                    format!(
                        "configuration option `{}` is one more than the {MAX_OPTIONS} a spec may declare",
                        name.name
                    ),
                )
                .label(format!("option {}", MAX_OPTIONS + 1))
                .note(format!(
                    "capc checks every combination of the options, 2^{MAX_OPTIONS} = {} configurations at most",
                    1u32 << MAX_OPTIONS
                ))
                .help("merge options that always go together, or split the spec into files a configuration `use`s"),
            );
            return;
        }
        self.index.insert(name.name.clone(), self.options.len());
        self.options.push(option.clone());
    }

    fn attrs(&mut self, attrs: &[Attribute], place: Place) {
        for attr in attrs.iter().filter(|a| is_cfg(a)) {
            self.any = true;
            if place == Place::Use {
                self.diags.push(
                    Diagnostic::new(
                        Code::AttributeMisuse,
                        attr.span,
                        "`#[cfg]` is not valid on a `use`",
                    )
                    .label("not allowed here")
                    .note("files are loaded before configurations are chosen: every configuration has every file")
                    .help("put `#[cfg(...)]` on the items of the imported file instead"),
                );
                continue;
            }
            let pred = match attr.all.as_slice() {
                [arg] => self.pred(arg),
                _ => {
                    self.diags.push(
                        Diagnostic::new(
                            Code::MalformedCondition,
                            attr.span,
                            "`#[cfg]` takes one condition",
                        )
                        .label(if attr.all.is_empty() {
                            "no condition"
                        } else {
                            "more than one condition"
                        })
                        .help("write `#[cfg(mcs)]`, `#[cfg(not(mcs))]`, `#[cfg(all(mcs, smp))]` or `#[cfg(any(mcs, smp))]`"),
                    );
                    None
                }
            };
            if let Some(pred) = pred {
                self.preds.insert(attr.span, pred);
            }
        }
    }

    fn pred(&mut self, arg: &AttrArg) -> Option<Pred> {
        match arg {
            AttrArg::Name(name) => self.option(name).map(Pred::Opt),
            AttrArg::Call(call) => {
                let args: Vec<Option<Pred>> = call.args.iter().map(|a| self.pred(a)).collect();
                let args: Option<Vec<Pred>> = args.into_iter().collect();
                match call.name.name.as_str() {
                    "not" if call.args.len() != 1 => {
                        self.diags.push(
                            Diagnostic::new(
                                Code::MalformedCondition,
                                call.span,
                                "`not(...)` takes one condition",
                            )
                            .label(format!("{} conditions", call.args.len()))
                            .help("write `not(a)`; for several, `not(any(a, b))`"),
                        );
                        None
                    }
                    "not" => args.map(|mut a| Pred::Not(Box::new(a.remove(0)))),
                    "all" => args.map(Pred::All),
                    "any" => args.map(Pred::Any),
                    other => {
                        let mut d = Diagnostic::new(
                            Code::MalformedCondition,
                            call.name.span,
                            format!("`{other}(...)` is not a condition"),
                        )
                        .label("not `not`, `all` or `any`")
                        .help("a condition is an option's name, `not(c)`, `all(c, ...)` or `any(c, ...)`");
                        if let Some(c) = closest(other, ["not", "all", "any"]) {
                            d = d.help(format!("did you mean `{c}`?"));
                        }
                        self.diags.push(d);
                        None
                    }
                }
            }
            AttrArg::Other(span) => {
                self.diags.push(
                    Diagnostic::new(Code::MalformedCondition, *span, "not a condition")
                        .label("expected an option's name, `not(...)`, `all(...)` or `any(...)`")
                        .note("configuration options are on or off: a condition has no values")
                        .help("write `#[cfg(mcs)]` for an option declared in `config { mcs }`"),
                );
                None
            }
        }
    }

    fn option(&mut self, name: &Ident) -> Option<usize> {
        if let Some(&i) = self.index.get(&name.name) {
            return Some(i);
        }
        let mut d = Diagnostic::new(
            Code::UnknownOption,
            name.span,
            format!("unknown configuration option `{}`", name.name),
        )
        .label("not declared in a `config` block");
        let names = self.options.iter().map(|o| o.name.name.as_str());
        d = match closest(&name.name, names) {
            Some(c) => d.help(format!("did you mean `{c}`?")),
            None if self.options.is_empty() => {
                d.help(format!("declare it: `config {{ {} }}`", name.name))
            }
            None => d.help(format!(
                "the options are {}; declare it in the `config` block",
                self.options
                    .iter()
                    .map(|o| format!("`{}`", o.name.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
        self.diags.push(d);
        None
    }
}

/// One configuration: which of the options conditions name are on.
struct Filter<'a> {
    preds: &'a BTreeMap<Span, Pred>,
    on: &'a BTreeSet<usize>,
    /// What this configuration removes.
    removed: Vec<Span>,
    /// For each condition reached, whether it was ever true.
    reached: &'a mut BTreeMap<Span, bool>,
}

impl Filter<'_> {
    /// Whether the conditions in `attrs` hold (all of them); removes them.
    fn keep(&mut self, attrs: &mut Vec<Attribute>) -> bool {
        let mut keep = true;
        for attr in attrs.iter().filter(|a| is_cfg(a)) {
            let holds = self.preds[&attr.span].eval(self.on);
            *self.reached.entry(attr.span).or_insert(false) |= holds;
            keep &= holds;
        }
        attrs.retain(|a| !is_cfg(a));
        keep
    }

    fn file(&mut self, file: &ast::File) -> ast::File {
        let mut file = file.clone();
        file.items.retain_mut(|item| {
            if !self.keep(&mut item.attrs) {
                self.removed.push(item.span);
                return false;
            }
            match &mut item.kind {
                ItemKind::Cap(cap) => cap.fields.retain_mut(|f| {
                    let keep = self.keep(&mut f.attrs);
                    if !keep {
                        self.removed.push(f.name.span.to(f.ty_span));
                    }
                    keep
                }),
                ItemKind::Bitfield(b) => b.fields.retain_mut(|f| {
                    let keep = self.keep(&mut f.attrs);
                    if !keep {
                        self.removed.push(f.name.span.to(f.ty_span));
                    }
                    keep
                }),
                ItemKind::Enum(e) => e.variants.retain_mut(|v| {
                    let keep = self.keep(&mut v.attrs);
                    if !keep {
                        self.removed.push(v.name.span);
                    }
                    keep
                }),
                ItemKind::Syscalls(s) => s.syscalls.retain_mut(|d| {
                    let keep = self.keep(&mut d.attrs);
                    if !keep {
                        self.removed.push(d.name.span);
                    }
                    keep
                }),
                ItemKind::Object(o) => o.slots.retain_mut(|s| {
                    let keep = self.keep(&mut s.attrs);
                    if !keep {
                        self.removed.push(s.span);
                    }
                    keep
                }),
                ItemKind::Invocations(m) | ItemKind::Interface(m) => {
                    m.methods.retain_mut(|method| {
                        if !self.keep(&mut method.attrs) {
                            self.removed.push(method.span);
                            return false;
                        }
                        for params in [&mut method.params, &mut method.results] {
                            params.retain_mut(|p| {
                                let keep = self.keep(&mut p.attrs);
                                if !keep {
                                    self.removed.push(p.name.span.to(p.ty_span));
                                }
                                keep
                            });
                        }
                        true
                    });
                }
                _ => {}
            }
            true
        });
        file
    }
}

/// Describes the configuration `on` of `used` options: `mcs on, smp off`.
fn describe(options: &[ast::RightDecl], used: &[usize], on: &BTreeSet<usize>) -> String {
    if used.is_empty() {
        return "the only configuration".to_string();
    }
    used.iter()
        .map(|i| {
            let state = if on.contains(i) { "on" } else { "off" };
            format!("{} {state}", options[*i].name.name)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks `files` in every configuration (see the module docs); the model
/// is the one of the configuration with the options in `chosen` on.
pub(crate) fn check_all(
    files: &[(FileId, ast::File)],
    chosen: &[String],
) -> (Option<Spec>, Vec<Diagnostic>) {
    let mut conditions = Conditions::read(files);
    let root = files.last().map_or(FileId(0), |(id, _)| *id);
    let anchor = conditions
        .options
        .first()
        .map_or(Span::new(root, 0..0), |o| o.name.span);
    for name in chosen {
        if !conditions.index.contains_key(name) {
            let names: Vec<&str> = conditions
                .options
                .iter()
                .map(|o| o.name.name.as_str())
                .collect();
            let mut d = Diagnostic::new(
                Code::UnknownChosenOption,
                anchor,
                format!("configuration option `{name}` is chosen but the spec does not declare it"),
            )
            .label(if names.is_empty() {
                "the spec declares no options".to_string()
            } else {
                "the spec's options are declared here".to_string()
            });
            d = match closest(name, names.iter().copied()) {
                Some(c) => d.help(format!("did you mean `{c}`?")),
                None if names.is_empty() => d.help(
                    "choose no options (`--cfg`, `Builder::cfg`, `include_spec!(..., cfg(...))`), or declare them in `config { ... }`",
                ),
                None => d.help(format!(
                    "choose among {}",
                    names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            };
            conditions.diags.push(d);
        }
    }
    if !conditions.any && chosen.is_empty() {
        return crate::check::check(files);
    }
    if conditions.diags.iter().any(Diagnostic::is_error) {
        return (None, conditions.diags);
    }
    let mut used = BTreeSet::new();
    for pred in conditions.preds.values() {
        pred.options(&mut used);
    }
    let mut diags = conditions.diags;
    for (i, option) in conditions.options.iter().enumerate() {
        if !used.contains(&i) {
            diags.push(
                Diagnostic::new(
                    Code::UnusedOption,
                    option.name.span,
                    format!("configuration option `{}` is named by no `#[cfg]`", option.name.name),
                )
                .label("changes nothing")
                .note("capc checks each combination of the options conditions name; this one is left out")
                .help(format!(
                    "put `#[cfg({})]` on what it turns on, or remove it",
                    option.name.name
                )),
            );
        }
    }
    let used: Vec<usize> = used.into_iter().collect();
    let chosen_on: BTreeSet<usize> = chosen
        .iter()
        .filter_map(|n| conditions.index.get(n).copied())
        .filter(|i| used.contains(i))
        .collect();
    let configurations: Vec<BTreeSet<usize>> = (0u32..1 << used.len())
        .map(|mask| {
            used.iter()
                .enumerate()
                .filter(|(bit, _)| mask & (1 << bit) != 0)
                .map(|(_, i)| *i)
                .collect()
        })
        .collect();
    // The chosen configuration first, so its diagnostics come in its order.
    let chosen_index = configurations
        .iter()
        .position(|on| *on == chosen_on)
        .expect("every combination is there");
    let order = std::iter::once(chosen_index)
        .chain((0..configurations.len()).filter(|&n| n != chosen_index));
    let mut reached = BTreeMap::new();
    let mut found: Vec<(Diagnostic, BTreeSet<usize>)> = Vec::new();
    let mut model = None;
    let mut removed: Vec<Vec<Span>> = vec![Vec::new(); configurations.len()];
    for n in order {
        let on = &configurations[n];
        let mut filter = Filter {
            preds: &conditions.preds,
            on,
            removed: Vec::new(),
            reached: &mut reached,
        };
        let filtered: Vec<(FileId, ast::File)> =
            files.iter().map(|(id, f)| (*id, filter.file(f))).collect();
        removed[n] = filter.removed;
        let (spec, diagnostics) = crate::check::check(&filtered);
        if n == chosen_index {
            model = spec;
        }
        for d in diagnostics {
            match found.iter_mut().find(|(f, _)| *f == d) {
                Some((_, configs)) => {
                    configs.insert(n);
                }
                None => found.push((d, BTreeSet::from([n]))),
            }
        }
    }
    let all = configurations.len();
    let live = |span: Span, n: usize| {
        !removed[n]
            .iter()
            .any(|r| r.file == span.file && r.start <= span.start && span.end <= r.end)
    };
    for (mut d, configs) in found {
        if !d.is_error() {
            let everywhere = (0..all).all(|n| configs.contains(&n) || !live(d.primary.span, n));
            if !everywhere {
                continue;
            }
        }
        if configs.len() < all {
            let listed: Vec<String> = configs
                .iter()
                .take(4)
                .map(|&n| {
                    format!(
                        "({})",
                        describe(&conditions.options, &used, &configurations[n])
                    )
                })
                .collect();
            let more = if configs.len() > 4 {
                format!(" and {} more", configs.len() - 4)
            } else {
                String::new()
            };
            d = d.note(format!(
                "in {} of the {all} configurations checked: {}{more}",
                configs.len(),
                listed.join(", ")
            ));
        }
        diags.push(d);
    }
    for (span, holds) in &reached {
        if !holds {
            diags.push(
                Diagnostic::new(
                    Code::NeverConfigured,
                    *span,
                    "this condition holds in no configuration",
                )
                .label("never true where it is written")
                .note("what it is on is checked in no configuration and generated in none")
                .help("fix the condition (and the conditions of what encloses it), or remove what it is on"),
            );
        }
    }
    if diags.iter().any(Diagnostic::is_error) {
        return (None, diags);
    }
    let model = model.map(|mut spec| {
        spec.configuration = conditions
            .options
            .iter()
            .map(|o| ConfigOption {
                name: o.name.name.clone(),
                docs: o.docs.clone(),
                enabled: chosen.contains(&o.name.name),
            })
            .collect();
        spec
    });
    (model, diags)
}
