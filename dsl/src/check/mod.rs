//! Checking: from parsed files to a [`Spec`], or to every error found.
//!
//! The passes run in this order, each in its own module, each collecting all
//! the diagnostics it can rather than stopping at the first:
//! 0. [`inherit`]: inherited cap fields written out;
//! 1. names (here): one namespace for types, one for rights, one for constants;
//!    duplicates and the target block; [`rust_names`]: names the generated
//!    Rust code cannot carry;
//! 2. [`objects`]: size rules evaluated over their whole range, alignment, memory kind;
//! 3. [`caps`]: field roles, bit layout into two words, tags;
//! 4. [`lifecycle`]: slots objects own, and the `unmap` finaliser against
//!    the caps' mapping fields;
//! 5. [`retype`]: retype rules, the retype graph, device memory;
//!    [`derive`]: derivation rules between cap types;
//! 6. [`methods`]: kernel invocations and RPC interfaces: rights, message
//!    limits, donations and the worst-case allocation proof;
//! 7. [`system`]: whole systems: budgets, who pays, authority;
//! 8. lints (here and in [`lints`]): unused types, rights and constants,
//!    cap types without an identity, donations no Untyped can be;
//!    `#[allow(...)]`.
//!
//! A later pass only looks at what earlier passes accepted, so one mistake is
//! reported once.

mod asid_pool;
mod bitfields;
mod callbacks;
mod caps;
mod copy;
mod creates;
mod derive;
mod enumerations;
mod errors;
mod eval;
mod inherit;
mod leases;
mod lifecycle;
mod lints;
mod methods;
mod numbers;
mod objects;
mod retype;
mod rust_names;
mod sessions;
mod syscalls;
mod system;
mod tables;
mod types;

use std::collections::{BTreeMap, BTreeSet};

use crate::ast::{self, Ident, ItemKind};
use crate::diag::{Applicability, Code, Diagnostic, closeness, closest};
use crate::model::{self, Spec};
use crate::source::{FileId, Span};

pub use caps::FIELD_ATTRS;
pub use eval::{bits_for, bytes};
pub use rust_names::{RESERVED_CONST_NAMES, RESERVED_TYPE_NAMES, camel, snake_case};

/// The items of every file, flattened in declaration order.
#[derive(Default)]
struct Items<'a> {
    consts: Vec<(&'a ast::Item, &'a ast::ConstItem)>,
    targets: Vec<(&'a ast::Item, &'a ast::TargetItem)>,
    rights: Vec<&'a ast::RightDecl>,
    objects: Vec<(&'a ast::Item, &'a ast::ObjectItem)>,
    errors: Vec<(&'a ast::Item, &'a ast::ErrorsItem)>,
    caps: Vec<(&'a ast::Item, &'a ast::CapItem)>,
    /// `abstract cap` items: names, but not cap types.
    abstracts: Vec<(&'a ast::Item, &'a ast::CapItem)>,
    retypes: Vec<(&'a ast::Item, &'a ast::RetypeItem)>,
    derives: Vec<(&'a ast::Item, &'a ast::DeriveItem)>,
    invocations: Vec<(&'a ast::Item, &'a ast::MethodSet)>,
    interfaces: Vec<(&'a ast::Item, &'a ast::MethodSet)>,
    systems: Vec<(&'a ast::Item, &'a ast::SystemItem)>,
    /// `struct`, `enum` and `type` items.
    data: Vec<(&'a ast::Item, types::DataDecl<'a>)>,
    /// `enum Name: uN` items.
    enumerations: Vec<(&'a ast::Item, &'a ast::EnumItem)>,
    /// `bitfield` items.
    bitfields: Vec<(&'a ast::Item, &'a ast::BitfieldItem)>,
    /// `syscalls` items.
    syscalls: Vec<(&'a ast::Item, &'a ast::SyscallsItem)>,
    /// Every item, in declaration order.
    all: Vec<&'a ast::Item>,
}

/// What a type name refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TypeSym {
    Object(usize),
    Cap(usize),
    AbstractCap(usize),
    Errors(usize),
    Interface(usize),
    /// A `struct`, `enum` or `type`.
    Data(usize),
    /// An `enum Name: uN`.
    Enumeration(usize),
    /// A `bitfield`.
    Bitfield(usize),
    /// A `syscalls` block.
    Syscalls,
}

impl TypeSym {
    fn describe(self) -> &'static str {
        match self {
            TypeSym::Object(_) => "an object type",
            TypeSym::Cap(_) => "a cap type",
            TypeSym::AbstractCap(_) => "an abstract cap",
            TypeSym::Errors(_) => "an error set",
            TypeSym::Interface(_) => "an interface",
            TypeSym::Data(_) => "a message type",
            TypeSym::Enumeration(_) => "an enumeration",
            TypeSym::Bitfield(_) => "a bitfield",
            TypeSym::Syscalls => "a system call set",
        }
    }
}

/// State shared by the passes.
struct Ctx<'a> {
    items: Items<'a>,
    /// Caps whose `inherits` failed ([`inherit`]): not checked further.
    failed_inheritance: BTreeSet<String>,
    diags: Vec<Diagnostic>,
    types: BTreeMap<String, (TypeSym, Span)>,
    right_index: BTreeMap<String, usize>,
    const_index: BTreeMap<String, usize>,
    const_states: Vec<eval::ConstState>,
    /// Constants being evaluated, outermost first (to show a cycle).
    const_stack: Vec<usize>,
    /// For each constant on `const_stack`, the longest chain of constants
    /// among those it has used so far.
    const_chain: Vec<usize>,
    used_consts: BTreeSet<String>,
    used_types: BTreeSet<String>,
    /// Each enumeration once checked (`None`: it has an error), before
    /// the cap types' fields and the methods' parameters name them.
    enumerations: Vec<Option<model::Enumeration>>,
    /// Each bitfield once checked (`None`: it has an error), before the
    /// methods' parameters name them.
    bitfields: Vec<Option<model::Bitfield>>,
    /// Bytes of each declared message type (`None`: it has an error), once
    /// [`types`] has laid them out.
    data_bytes: Vec<Option<u64>>,
    /// Whether the target lets messages carry `f32` and `f64`.
    floats: bool,
    /// The lints allowed on items, with the span of each item's name
    /// (`#[allow(unused)]` on a constant, ...): those lints pass them over.
    allowed: BTreeSet<(&'static str, Span)>,
    root_file: FileId,
    /// Position of each file in declaration order (imports before importers).
    file_rank: BTreeMap<FileId, u32>,
}

/// Checks the parsed files of one compilation, in declaration order
/// (imports before the files that use them; the root file last). That order
/// is the ABI order: cap tags, right bits, labels and error numbers follow it,
/// so a spec's numbering does not depend on which file is compiled.
///
/// Returns the model when there is no error, and every diagnostic (errors and
/// warnings) in the order the passes found them.
pub fn check(files: &[(FileId, ast::File)]) -> (Option<Spec>, Vec<Diagnostic>) {
    let expanded = inherit::expand(files);
    let files = &expanded.files[..];
    let mut items = Items::default();
    for (_, file) in files {
        for item in &file.items {
            items.all.push(item);
            match &item.kind {
                ItemKind::Use(_) | ItemKind::Config(_) => {}
                ItemKind::Const(c) => items.consts.push((item, c)),
                ItemKind::Target(t) => items.targets.push((item, t)),
                ItemKind::Rights(r) => items.rights.extend(r),
                ItemKind::Object(o) => items.objects.push((item, o)),
                ItemKind::Errors(e) => items.errors.push((item, e)),
                ItemKind::Cap(c) if c.is_abstract => items.abstracts.push((item, c)),
                ItemKind::Cap(c) => items.caps.push((item, c)),
                ItemKind::Retype(r) => items.retypes.push((item, r)),
                ItemKind::Derive(d) => items.derives.push((item, d)),
                ItemKind::Invocations(m) => items.invocations.push((item, m)),
                ItemKind::Interface(m) => items.interfaces.push((item, m)),
                ItemKind::Struct(s) => items.data.push((item, types::DataDecl::Struct(s))),
                ItemKind::Enum(e) if e.width.is_some() => items.enumerations.push((item, e)),
                ItemKind::Enum(e) => items.data.push((item, types::DataDecl::Enum(e))),
                ItemKind::TypeAlias(a) => items.data.push((item, types::DataDecl::Alias(a))),
                ItemKind::System(s) => items.systems.push((item, s)),
                ItemKind::Bitfield(b) => items.bitfields.push((item, b)),
                ItemKind::Syscalls(s) => items.syscalls.push((item, s)),
            }
        }
    }
    let mut ctx = Ctx {
        const_states: vec![eval::ConstState::Pending; items.consts.len()],
        const_stack: Vec::new(),
        const_chain: Vec::new(),
        items,
        diags: expanded.diags,
        types: BTreeMap::new(),
        right_index: BTreeMap::new(),
        const_index: BTreeMap::new(),
        used_consts: BTreeSet::new(),
        used_types: expanded.inherited,
        data_bytes: Vec::new(),
        floats: false,
        enumerations: Vec::new(),
        bitfields: Vec::new(),
        failed_inheritance: expanded.failed,
        allowed: BTreeSet::new(),
        root_file: files.last().map_or(FileId(0), |(id, _)| *id),
        file_rank: files
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (*id, i as u32))
            .collect(),
    };
    ctx.reject_misplaced_attributes();
    ctx.collect_names();
    ctx.check_rust_names();
    let consts = ctx.check_consts();
    let target = ctx.check_target();
    ctx.floats = target.as_ref().is_some_and(|t| t.floats);
    let rights = ctx.rights();
    ctx.enumerations = ctx.check_enumerations();
    ctx.bitfields = ctx.check_bitfields();
    let mut objects = ctx.check_objects(target.as_ref());
    let mut caps = ctx.check_caps(target.as_ref(), &objects, &rights);
    ctx.check_lifecycle(target.as_ref(), &mut objects, &caps, &rights);
    ctx.check_tables(target.as_ref(), &mut objects);
    ctx.check_asid_pools(&mut objects, &mut caps);
    let retypes = ctx.check_retypes(&objects, &caps);
    let derives = ctx.check_derives(&objects, &caps);
    let mut error_sets = ctx.error_sets();
    let data_types = ctx.check_data_types(target.as_ref());
    ctx.type_error_sets(&mut error_sets, target.as_ref());
    let (invocations, interfaces) = ctx.check_methods(
        target.as_ref(),
        &objects,
        &caps,
        &rights,
        &retypes,
        &error_sets,
        &derives,
    );
    let syscalls = ctx.check_syscalls(&caps, &rights);
    let system_items = ctx.items.systems.clone();
    let systems = if ctx.diags.iter().any(Diagnostic::is_error) {
        Vec::new()
    } else {
        ctx.check_systems(
            &system_items,
            &objects,
            &caps,
            &rights,
            &interfaces,
            target.as_ref().and_then(|t| t.slot_bits),
        )
    };
    // Unused-item lints only once the spec is otherwise fine: after an error
    // (a misspelt constant, a cycle ...) "never used" is a consequence, not
    // news.
    if !ctx.diags.iter().any(Diagnostic::is_error) {
        ctx.lint_unused(&caps, &rights);
        ctx.lint_identity(&caps, &objects);
        ctx.lint_donations(&caps, &objects, &interfaces);
        ctx.lint_sessions(&interfaces);
        ctx.lint_refusals(&invocations, &error_sets);
    }

    let docs = files
        .last()
        .map(|(_, f)| f.docs.clone())
        .unwrap_or_default();
    let has_errors = ctx.diags.iter().any(Diagnostic::is_error);
    let spec = match (has_errors, target) {
        (false, Some(target)) => Some(Spec {
            docs,
            target,
            consts,
            rights,
            objects: objects.into_iter().map(|o| o.expect("no errors")).collect(),
            caps: caps.into_iter().map(|c| c.expect("no errors")).collect(),
            retypes,
            derives,
            error_sets,
            data_types: data_types
                .into_iter()
                .map(|t| t.expect("no errors"))
                .collect(),
            enumerations: ctx
                .enumerations
                .iter()
                .map(|e| e.clone().expect("no errors"))
                .collect(),
            bitfields: ctx
                .bitfields
                .iter()
                .map(|b| b.clone().expect("no errors"))
                .collect(),
            invocations,
            interfaces,
            configuration: Vec::new(),
            syscalls,
            systems,
            imports: Vec::new(),
        }),
        _ => None,
    };
    (spec, ctx.diags)
}

impl<'a> Ctx<'a> {
    /// Attributes on items: `#[allow(unused)]` on the items the unused
    /// lints look at (constants, rights, error sets, cap types), recorded
    /// for them; a cap type's own attributes are its pass's; any other is
    /// misplaced (`E0404`).
    fn reject_misplaced_attributes(&mut self) {
        let items = self.items.all.clone();
        for item in items {
            for attr in &item.attrs {
                if attr.name.name == "allow" {
                    self.allow(item, attr);
                    continue;
                }
                if matches!(&item.kind, ast::ItemKind::Cap(c) if !c.is_abstract)
                    || matches!(item.kind, ast::ItemKind::Derive(_))
                {
                    continue; // checked with the cap type or the rule
                }
                if matches!(&item.kind, ast::ItemKind::Invocations(_))
                    && attr.name.name == "label_base"
                {
                    continue; // checked with the methods
                }
                if matches!(&item.kind, ast::ItemKind::Object(_)) && attr.name.name == "number" {
                    continue; // checked with the object types' numbers
                }
                if matches!(&item.kind, ast::ItemKind::Object(_)) && attr.name.name == "bytes" {
                    continue; // checked with the object type's size
                }
                if matches!(&item.kind, ast::ItemKind::Retype(_)) && attr.name.name == "at_offset" {
                    continue; // checked with the retype rules
                }
                if matches!(&item.kind, ast::ItemKind::Bitfield(_)) && attr.name.name == "strict" {
                    continue; // checked with the bitfields
                }
                self.diags.push(
                    Diagnostic::new(
                        Code::AttributeMisuse,
                        attr.span,
                        format!("attribute `#[{}]` is not valid on this item", attr.name.name),
                    )
                    .label("not allowed here")
                    .help("attributes go on `cap` types (`#[always_copy]`, `#[never_copy]`, `#[tag(N)]`) and their fields, `#[number(N)]` and `#[bytes]` on object types, `#[at_offset]` on retype rules, `#[strict]` on bitfields and `#[label_base(N)]` on `invocations` blocks; `#[allow(unused)]` on constants, rights, error sets and cap types"),
                );
            }
        }
    }

    fn collect_names(&mut self) {
        let mut entries: Vec<(Ident, TypeSym)> = Vec::new();
        entries.extend(
            self.items
                .objects
                .iter()
                .enumerate()
                .map(|(i, (_, o))| (o.name.clone(), TypeSym::Object(i))),
        );
        entries.extend(
            self.items
                .caps
                .iter()
                .enumerate()
                .map(|(i, (_, c))| (c.name.clone(), TypeSym::Cap(i))),
        );
        entries.extend(
            self.items
                .abstracts
                .iter()
                .enumerate()
                .map(|(i, (_, c))| (c.name.clone(), TypeSym::AbstractCap(i))),
        );
        entries.extend(
            self.items
                .errors
                .iter()
                .enumerate()
                .map(|(i, (_, e))| (e.name.clone(), TypeSym::Errors(i))),
        );
        entries.extend(
            self.items
                .interfaces
                .iter()
                .enumerate()
                .map(|(i, (_, m))| (m.name.clone(), TypeSym::Interface(i))),
        );
        entries.extend(
            self.items
                .data
                .iter()
                .enumerate()
                .map(|(i, (_, d))| (d.name().clone(), TypeSym::Data(i))),
        );
        entries.extend(
            self.items
                .enumerations
                .iter()
                .enumerate()
                .map(|(i, (_, e))| (e.name.clone(), TypeSym::Enumeration(i))),
        );
        entries.extend(
            self.items
                .bitfields
                .iter()
                .enumerate()
                .map(|(i, (_, b))| (b.name.clone(), TypeSym::Bitfield(i))),
        );
        entries.extend(
            self.items
                .syscalls
                .iter()
                .map(|(_, s)| (s.name.clone(), TypeSym::Syscalls)),
        );
        // Report in declaration order, whatever the kinds.
        entries.sort_by_key(|(ident, _)| self.decl_order(ident.span));
        for (ident, sym) in entries {
            if let Some((_, first)) = self.types.get(&ident.name) {
                let first = *first;
                self.duplicate(&ident, first, "type");
            } else {
                self.types.insert(ident.name.clone(), (sym, ident.span));
            }
        }
        let rights: Vec<Ident> = self.items.rights.iter().map(|r| r.name.clone()).collect();
        let mut first_right: BTreeMap<String, Span> = BTreeMap::new();
        for ident in rights {
            if let Some(first) = first_right.get(&ident.name) {
                let first = *first;
                self.duplicate(&ident, first, "right");
            } else {
                first_right.insert(ident.name.clone(), ident.span);
                let index = self.right_index.len();
                self.right_index.insert(ident.name.clone(), index);
            }
        }
        let mut consts: Vec<(usize, Ident)> = self
            .items
            .consts
            .iter()
            .map(|(_, c)| c.name.clone())
            .enumerate()
            .collect();
        // The first in declaration order is the one that counts.
        consts.sort_by_key(|(_, ident)| self.decl_order(ident.span));
        for (i, ident) in consts {
            if let Some(&first) = self.const_index.get(&ident.name) {
                let span = self.items.consts[first].1.name.span;
                self.duplicate(&ident, span, "constant");
            } else {
                self.const_index.insert(ident.name.clone(), i);
            }
        }
    }

    /// Where a span comes in declaration order: a file's imports come before
    /// it, so the root file comes last.
    fn decl_order(&self, span: Span) -> (u32, u32) {
        (
            self.file_rank.get(&span.file).copied().unwrap_or(u32::MAX),
            span.start,
        )
    }

    fn duplicate(&mut self, ident: &Ident, first: Span, what: &str) {
        // The root file's definition is the one "defined again": the
        // imported one comes first.
        let (again, first) = if self.decl_order(first) > self.decl_order(ident.span) {
            (first, ident.span)
        } else {
            (ident.span, first)
        };
        self.diags.push(
            Diagnostic::new(
                Code::DuplicateName,
                again,
                format!("the {what} name `{}` is defined twice", ident.name),
            )
            .label("defined again here")
            .with_secondary(first, "first defined here")
            .help("rename one of them; names are case-sensitive"),
        );
    }

    /// Resolves a type name that must be of the kind `accept` picks out.
    fn resolve<T>(
        &mut self,
        ident: &Ident,
        expected: &str,
        accept: impl Fn(TypeSym) -> Option<T>,
    ) -> Option<T> {
        match self.types.get(&ident.name).copied() {
            Some((sym, span)) => {
                self.used_types.insert(ident.name.clone());
                match accept(sym) {
                    Some(t) => Some(t),
                    None => {
                        // A cap type where its object is meant, or the reverse.
                        let related = match sym {
                            TypeSym::Cap(i) => self.items.caps[i].1.object.as_ref().map(|o| {
                                (
                                    o.name.clone(),
                                    format!("the object type `{}` is for", ident.name),
                                )
                            }),
                            TypeSym::Object(_) => self
                                .items
                                .caps
                                .iter()
                                .find(|(_, c)| {
                                    c.object.as_ref().is_some_and(|o| o.name == ident.name)
                                })
                                .map(|(_, c)| {
                                    (
                                        c.name.name.clone(),
                                        format!("the cap type for `{}`", ident.name),
                                    )
                                }),
                            _ => None,
                        }
                        .filter(|(name, _)| {
                            self.types
                                .get(name)
                                .is_some_and(|(s, _)| accept(*s).is_some())
                        });
                        let suggestion = related.as_ref().map(|(name, _)| name.clone());
                        let help = match related {
                            Some((name, what)) => format!("did you mean `{name}`, {what}?"),
                            None => format!("name {expected} here"),
                        };
                        let mut d = Diagnostic::new(
                            Code::WrongKind,
                            ident.span,
                            format!("`{}` is {}, not {expected}", ident.name, sym.describe()),
                        )
                        .label(format!("expected {expected}"))
                        .with_secondary(span, format!("`{}` is defined here", ident.name))
                        .help(help);
                        if let Some(name) = suggestion {
                            d = d.suggest(ident.span, name, Applicability::MachineApplicable);
                        }
                        self.diags.push(d);
                        None
                    }
                }
            }
            None => {
                let candidates: Vec<String> = self
                    .types
                    .iter()
                    .filter(|(_, (sym, _))| accept(*sym).is_some())
                    .map(|(name, _)| name.clone())
                    .collect();
                self.unknown(ident, expected, candidates.iter().map(String::as_str));
                None
            }
        }
    }

    fn unknown<'c>(
        &mut self,
        ident: &Ident,
        expected: &str,
        candidates: impl IntoIterator<Item = &'c str>,
    ) {
        let candidates: Vec<&str> = candidates.into_iter().collect();
        // `expected` may come with an article ("an object type").
        let kind = expected
            .strip_prefix("an ")
            .or_else(|| expected.strip_prefix("a "))
            .unwrap_or(expected);
        let mut d = Diagnostic::new(
            Code::UnknownName,
            ident.span,
            format!("unknown {kind} `{}`", ident.name),
        )
        .label(format!("no {kind} has this name"));
        d = match closest(&ident.name, candidates.iter().copied()) {
            Some(c) if c.eq_ignore_ascii_case(&ident.name) => d
                .help(format!("did you mean `{c}`? (names are case-sensitive)"))
                .suggest(
                    ident.span,
                    c,
                    closeness(&ident.name, c, candidates.iter().copied()),
                ),
            Some(c) => d.help(format!("did you mean `{c}`?")).suggest(
                ident.span,
                c,
                closeness(&ident.name, c, candidates.iter().copied()),
            ),
            None if candidates.is_empty() => {
                d.help(format!("declare {} {kind} with this name", article(kind)))
            }
            None => d.help(format!("known: {}", list(&candidates))),
        };
        self.diags.push(d);
    }

    /// Resolves a right by name.
    fn resolve_right(&mut self, ident: &Ident) -> Option<model::RightId> {
        match self.right_index.get(&ident.name) {
            Some(&i) => Some(model::RightId(i as u32)),
            None => {
                let names: Vec<String> = self
                    .items
                    .rights
                    .iter()
                    .map(|r| r.name.name.clone())
                    .collect();
                self.unknown(ident, "right", names.iter().map(String::as_str));
                None
            }
        }
    }

    fn check_consts(&mut self) -> Vec<model::Const> {
        let mut out = Vec::new();
        for i in 0..self.items.consts.len() {
            let (item, c) = self.items.consts[i];
            if self.const_index.get(&c.name.name) != Some(&i) {
                continue; // a duplicate, already reported
            }
            let name = c.name.name.clone();
            let span = c.name.span;
            // Evaluating through the name marks it used; that use does not count.
            let was_used = self.used_consts.contains(&name);
            if let Ok(value) = self.eval(
                &ast::Expr {
                    kind: ast::ExprKind::Name(name.clone()),
                    span,
                },
                None,
            ) {
                out.push(model::Const {
                    docs: item.docs.clone(),
                    name: name.clone(),
                    value,
                    span,
                });
            }
            if !was_used {
                self.used_consts.remove(&name);
            }
        }
        out
    }

    fn check_target(&mut self) -> Option<model::Target> {
        const KEYS: [&str; 5] = [
            "address_bits",
            "tag_bits",
            "message_registers",
            "message_words",
            "caps_per_message",
        ];
        // Settings a spec may leave out.
        const OPTIONAL: [&str; 8] = [
            "fragments",
            "label_bits",
            "floats",
            "cap_words",
            "slot_bits",
            "user_base",
            "user_end",
            "tag_shift",
        ];
        let known_keys: Vec<&str> = KEYS.iter().chain(&OPTIONAL).copied().collect();
        let mut targets: Vec<&ast::TargetItem> =
            self.items.targets.iter().map(|(_, t)| *t).collect();
        targets.sort_by_key(|t| self.decl_order(t.name.span));
        let Some(&first) = targets.first() else {
            self.diags.push(
                Diagnostic::new(
                    Code::MissingStatement,
                    Span { file: self.root_file, start: 0, end: 0 },
                    "the spec has no `target` block",
                )
                .label("expected a `target` item in this file or one it imports")
                .help("add `target x86_64 { address_bits = 48; tag_bits = 5; message_registers = 4; message_words = 120; caps_per_message = 3; }`"),
            );
            return None;
        };
        for extra in &targets[1..] {
            self.diags.push(
                Diagnostic::new(
                    Code::DuplicateName,
                    extra.name.span,
                    "the spec defines more than one target",
                )
                .label(format!("second target `{}`", extra.name.name))
                .with_secondary(
                    first.name.span,
                    format!("the target is `{}`, defined here", first.name.name),
                )
                .help("a spec has exactly one target; remove one of them"),
            );
        }
        let mut values: BTreeMap<&str, (u64, Span)> = BTreeMap::new();
        // Keys an unknown setting was probably meant as: not reported missing too.
        let mut suggested: BTreeSet<&str> = BTreeSet::new();
        // Keys given, even when their value failed to evaluate (reported already).
        let mut given: BTreeMap<&str, Span> = BTreeMap::new();
        for setting in &first.settings {
            let key = setting.key.name.as_str();
            let Some(known) = known_keys.iter().find(|k| **k == key) else {
                let mut d = Diagnostic::new(
                    Code::UnknownSetting,
                    setting.key.span,
                    format!("unknown target setting `{key}`"),
                )
                .label("not a target setting");
                d = match closest(key, known_keys.iter().copied()) {
                    Some(c) => {
                        suggested.insert(c);
                        d.help(format!("did you mean `{c}`?")).suggest(
                            setting.key.span,
                            c,
                            closeness(key, c, known_keys.iter().copied()),
                        )
                    }
                    None => d.help(format!("the settings are {}", list(&known_keys))),
                };
                self.diags.push(d);
                continue;
            };
            if let Some(&earlier) = given.get(known) {
                self.diags.push(
                    Diagnostic::new(
                        Code::DuplicateStatement,
                        setting.key.span,
                        format!("`{key}` is set twice"),
                    )
                    .label("set again here")
                    .with_secondary(earlier, "first set here")
                    .help("keep one of them"),
                );
                continue;
            }
            given.insert(known, setting.key.span);
            if let Some(v) = self.eval_reported(&setting.value, None) {
                values.insert(known, (v, setting.value.span));
            }
        }
        let missing: Vec<&str> = KEYS
            .iter()
            .copied()
            .filter(|k| !given.contains_key(k) && !suggested.contains(k))
            .collect();
        if missing.is_empty() && KEYS.iter().any(|k| !values.contains_key(k)) {
            return None; // misspelt keys or bad values, reported already
        }
        if !missing.is_empty() {
            self.diags.push(
                Diagnostic::new(
                    Code::MissingStatement,
                    first.name.span,
                    format!(
                        "target `{}` does not set {}",
                        first.name.name,
                        list(&missing)
                    ),
                )
                .label("incomplete target")
                .help(format!(
                    "add {}",
                    missing
                        .iter()
                        .map(|k| format!("`{k} = ...;`"))
                        .collect::<Vec<_>>()
                        .join(" ")
                )),
            );
            return None;
        }
        let mut get = |key: &str, range: std::ops::RangeInclusive<u64>, why: &str| -> Option<u32> {
            let (v, span) = values[key];
            if range.contains(&v) {
                Some(v as u32)
            } else {
                self.diags.push(
                    Diagnostic::new(
                        Code::SettingOutOfRange,
                        span,
                        format!(
                            "`{key}` is {v}, outside {}..={}",
                            range.start(),
                            range.end()
                        ),
                    )
                    .label("out of range")
                    .note(why.to_string())
                    .help(format!(
                        "choose a value in {}..={}",
                        range.start(),
                        range.end()
                    )),
                );
                None
            }
        };
        let address_bits = get(
            "address_bits",
            12..=64,
            "addresses are at most one 64-bit word",
        );
        let tag_bits = get(
            "tag_bits",
            1..=16,
            "the tag sits in word 0 beside the fields",
        );
        let message_words = get(
            "message_words",
            1..=4096,
            "a message is at most a 4096-word IPC buffer",
        );
        let message_registers = get(
            "message_registers",
            0..=64,
            "registers hold at most 64 words",
        );
        let caps_per_message = get(
            "caps_per_message",
            0..=64,
            "at most 64 caps travel in one message",
        );
        // A setting a spec may leave out: `Ok(None)` when it is not given,
        // `Err(())` when its value failed to evaluate or is out of range
        // (reported already).
        let mut optional = |key: &str, range, why: &str| -> Result<Option<u32>, ()> {
            if values.contains_key(key) {
                get(key, range, why).map(Some).ok_or(())
            } else if given.contains_key(key) {
                Err(())
            } else {
                Ok(None)
            }
        };
        let cap_words = optional(
            "cap_words",
            2..=8,
            "a cap is two words (its tag and a pointer at least) to eight",
        );
        let slot_bits = optional(
            "slot_bits",
            4..=12,
            "a slot holds a cap and its derivation links, in at most a page",
        );
        let tag_shift = optional(
            "tag_shift",
            0..=63,
            "the tag's lowest bit is a bit of word 0",
        );
        let floats = optional(
            "floats",
            0..=1,
            "1 when messages may carry `f32` and `f64`, 0 when not",
        );
        let fragments = optional(
            "fragments",
            1..=4096,
            "an RPC message takes 1 to 4096 channel messages",
        );
        let label_bits = optional(
            "label_bits",
            8..=64,
            "a message's label is 8 to 64 bits of its header word",
        );
        let (cap_words, slot_bits, tag_shift, floats, fragments, label_bits) = (
            cap_words.ok()?.unwrap_or(2),
            slot_bits.ok()?,
            tag_shift.ok()?.unwrap_or(0),
            floats.ok()?.unwrap_or(0) == 1,
            fragments.ok()?.unwrap_or(1),
            label_bits.ok()?.unwrap_or(64),
        );
        let (address_bits, tag_bits, message_words, message_registers, caps_per_message) = (
            address_bits?,
            tag_bits?,
            message_words?,
            message_registers?,
            caps_per_message?,
        );
        if tag_shift + tag_bits > 64 {
            let (_, span) = values["tag_shift"];
            self.diags.push(
                Diagnostic::new(
                    Code::SettingOutOfRange,
                    span,
                    format!("the tag at bit {tag_shift} runs past word 0"),
                )
                .label(format!("bits {tag_shift}..{}", tag_shift + tag_bits))
                .note(format!(
                    "the tag is `tag_bits = {tag_bits}` bits wide and sits in word 0 (bits 0..64)"
                ))
                .help(format!("make `tag_shift` at most {}", 64 - tag_bits)),
            );
            return None;
        }
        if let Some(bits) = slot_bits
            && (1u64 << bits) < u64::from(cap_words) * 8
        {
            let (_, span) = values["slot_bits"];
            self.diags.push(
                Diagnostic::new(
                    Code::SettingOutOfRange,
                    span,
                    format!("a slot of {} bytes cannot hold a cap", 1u64 << bits),
                )
                .label(format!("`slot_bits = {bits}`"))
                .note(format!(
                    "a cap is `cap_words = {cap_words}` words, {} bytes",
                    cap_words * 8
                ))
                .help("raise `slot_bits`, or lower `cap_words`"),
            );
            return None;
        }
        if u64::from(message_words) * u64::from(fragments) > 4096 {
            let (_, span) = values["fragments"];
            self.diags.push(
                Diagnostic::new(
                    Code::SettingOutOfRange,
                    span,
                    format!(
                        "an RPC message of {fragments} × {message_words} words is more than 4096 words"
                    ),
                )
                .label(format!("`fragments = {fragments}`"))
                .note("a message is at most a 4096-word buffer, whole or in fragments")
                .help(format!("make `fragments` at most {}", 4096 / message_words)),
            );
            return None;
        }
        if message_registers > message_words {
            let (_, span) = values["message_registers"];
            self.diags.push(
                Diagnostic::new(
                    Code::SettingOutOfRange,
                    span,
                    "more message registers than message words",
                )
                .label(format!("{message_registers} registers"))
                .note(format!(
                    "`message_words` is {message_words}; registers are the first words of a message"
                ))
                .help("make `message_registers` at most `message_words`"),
            );
            return None;
        }
        let user_space = self.user_space(&values, &given, first, address_bits)?;
        Some(model::Target {
            name: first.name.name.clone(),
            address_bits,
            floats,
            tag_bits,
            tag_shift,
            message_registers,
            message_words,
            fragments,
            label_bits,
            caps_per_message,
            cap_words,
            slot_bits,
            user_space,
            span: first.name.span,
        })
    }

    /// `user_base` and `user_end`: both or neither, `base < end`, inside
    /// the address space. `Some(None)` when neither is set; `None` after an
    /// error.
    fn user_space(
        &mut self,
        values: &BTreeMap<&str, (u64, Span)>,
        given: &BTreeMap<&str, Span>,
        target: &ast::TargetItem,
        address_bits: u32,
    ) -> Option<Option<(u64, u64)>> {
        if ["user_base", "user_end"]
            .iter()
            .any(|k| given.contains_key(k) && !values.contains_key(k))
        {
            return None; // a value failed to evaluate, reported already
        }
        let (base, end) = match (values.get("user_base"), values.get("user_end")) {
            (None, None) => return Some(None),
            (Some(base), Some(end)) => (*base, *end),
            (Some((_, span)), None) | (None, Some((_, span))) => {
                let (has, lacks) = if values.contains_key("user_base") {
                    ("user_base", "user_end")
                } else {
                    ("user_end", "user_base")
                };
                self.diags.push(
                    Diagnostic::new(
                        Code::MissingStatement,
                        *span,
                        format!(
                            "target `{}` sets `{has}` but not `{lacks}`",
                            target.name.name
                        ),
                    )
                    .label(format!("`{has}` without `{lacks}`"))
                    .note("the two bound the addresses a task may map: `[user_base, user_end)`")
                    .help(format!("add `{lacks} = ...;`, or remove `{has}`")),
                );
                return None;
            }
        };
        let top = if address_bits >= 64 {
            u64::MAX
        } else {
            1u64 << address_bits
        };
        if base.0 >= end.0 || end.0 > top {
            let why = if base.0 >= end.0 {
                format!("`user_base` is {:#x}, not below `user_end`", base.0)
            } else {
                format!("addresses are {address_bits} bits wide, so they end at {top:#x}")
            };
            self.diags.push(
                Diagnostic::new(
                    Code::SettingOutOfRange,
                    base.1.to(end.1),
                    format!(
                        "user space `{:#x}..{:#x}` is empty or too large",
                        base.0, end.0
                    ),
                )
                .label("not a range of addresses")
                .note(why)
                .help(
                    "set `user_base` below `user_end`, and `user_end` at most `1 << address_bits`",
                ),
            );
            return None;
        }
        Some(Some((base.0, end.0)))
    }

    fn rights(&self) -> Vec<model::Right> {
        let mut seen = BTreeSet::new();
        self.items
            .rights
            .iter()
            .filter(|r| seen.insert(r.name.name.clone()))
            .map(|r| model::Right {
                docs: r.docs.clone(),
                name: r.name.name.clone(),
                span: r.name.span,
            })
            .collect()
    }

    fn error_sets(&mut self) -> Vec<model::ErrorSet> {
        let mut out = Vec::new();
        for &(item, set) in &self.items.errors {
            let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
            let mut variants = Vec::new();
            for v in &set.variants {
                if let Some(first) = seen.get(v.name.name.as_str()) {
                    let first = *first;
                    self.diags.push(
                        Diagnostic::new(
                            Code::DuplicateName,
                            v.name.span,
                            format!("error variant `{}` is defined twice", v.name.name),
                        )
                        .label("defined again here")
                        .with_secondary(first, "first defined here")
                        .help("rename one of them"),
                    );
                    continue;
                }
                seen.insert(&v.name.name, v.name.span);
                let mut fields: BTreeMap<&str, Span> = BTreeMap::new();
                for p in &v.payload {
                    if let Some(first) = fields.insert(&p.name, p.span) {
                        self.diags.push(
                            Diagnostic::new(
                                Code::DuplicateName,
                                p.span,
                                format!("payload value `{}` is named twice", p.name),
                            )
                            .label("named again here")
                            .with_secondary(first, "first named here")
                            .help("give each payload value its own name"),
                        );
                    }
                }
                // A rest (`name: ..Set`) is the last value: it is not a word
                // of `payload`, and is resolved with the types.
                let mut words = v.payload.len();
                for &(at, ref set_name) in &v.rest {
                    if at + 1 != v.payload.len() || v.rest.len() > 1 {
                        let last = &v.payload[v.payload.len() - 1];
                        self.diags.push(
                            Diagnostic::new(
                                Code::PayloadRestNotLast,
                                v.payload[at].span,
                                format!(
                                    "`{}: ..{}` is not the last payload value of `{}`",
                                    v.payload[at].name, set_name.name, v.name.name
                                ),
                            )
                            .label("the rest of the message")
                            .with_secondary(last.span, "the variant's last value")
                            .note("a variable-length payload ends the message: the values after it would have no fixed word")
                            .help("move it to the end of the payload; a variant has one at most"),
                        );
                    } else {
                        words = at;
                    }
                }
                variants.push(model::ErrorVariant {
                    docs: v.docs.clone(),
                    name: v.name.name.clone(),
                    payload: v.payload[..words].iter().map(|p| p.name.clone()).collect(),
                    // Laid out once the message types are (`type_error_sets`).
                    payload_types: Vec::new(),
                    payload_bytes: 0,
                    rest: None,
                    span: v.name.span,
                });
            }
            out.push(model::ErrorSet {
                docs: item.docs.clone(),
                name: set.name.name.clone(),
                variants,
                typed: false,
                discriminant_bytes: 1,
                bytes: 0,
                span: set.name.span,
            });
        }
        out
    }

    /// Warnings for things declared and never used.
    fn lint_unused(&mut self, caps: &[Option<model::CapType>], rights: &[model::Right]) {
        for (_, c) in &self.items.consts {
            if !self.used_consts.contains(&c.name.name) && !self.is_allowed("unused", c.name.span) {
                self.diags.push(
                    Diagnostic::new(
                        Code::UnusedConst,
                        c.name.span,
                        format!("constant `{}` is never used", c.name.name),
                    )
                    .label("unused")
                    .help("remove it, or use it in an expression"),
                );
            }
        }
        let carried: BTreeSet<model::RightId> = caps
            .iter()
            .flatten()
            .flat_map(|c| c.rights.iter().copied())
            .collect();
        for (i, right) in rights.iter().enumerate() {
            if !carried.contains(&model::RightId(i as u32))
                && !self.is_allowed("unused", right.span)
            {
                self.diags.push(
                    Diagnostic::new(
                        Code::UnusedRight,
                        right.span,
                        format!("right `{}` is carried by no cap type", right.name),
                    )
                    .label("unused")
                    .help("add it to a cap type's `rights(...)` field, or remove it"),
                );
            }
        }
        let mut unused = Vec::new();
        for (_, set) in &self.items.errors {
            if !self.used_types.contains(&set.name.name)
                && !self.is_allowed("unused", set.name.span)
            {
                unused.push((
                    set.name.clone(),
                    "error set",
                    "no invocations or interface returns it",
                ));
            }
        }
        for (_, cap) in &self.items.abstracts {
            if !self.used_types.contains(&cap.name.name)
                && !self.is_allowed("unused", cap.name.span)
            {
                unused.push((cap.name.clone(), "abstract cap", "no cap type inherits it"));
            }
        }
        for (_, cap) in &self.items.caps {
            if cap.object.is_none()
                && !self.used_types.contains(&cap.name.name)
                && !self.is_allowed("unused", cap.name.span)
            {
                unused.push((
                    cap.name.clone(),
                    "cap type",
                    "it names no object and no method mentions it",
                ));
            }
        }
        for (_, d) in &self.items.data {
            let name = d.name();
            if !self.used_types.contains(&name.name) && !self.is_allowed("unused", name.span) {
                unused.push((
                    name.clone(),
                    "message type",
                    "no interface and no other message type uses it",
                ));
            }
        }
        for (_, e) in &self.items.enumerations {
            if !self.used_types.contains(&e.name.name) && !self.is_allowed("unused", e.name.span) {
                unused.push((
                    e.name.clone(),
                    "enumeration",
                    "no cap field and no invocation parameter holds it",
                ));
            }
        }
        for (_, b) in &self.items.bitfields {
            if !self.used_types.contains(&b.name.name) && !self.is_allowed("unused", b.name.span) {
                unused.push((
                    b.name.clone(),
                    "bitfield",
                    "no invocation parameter or result holds it",
                ));
            }
        }
        for (ident, what, why) in unused {
            self.diags.push(
                Diagnostic::new(
                    Code::UnusedType,
                    ident.span,
                    format!("{what} `{}` is never used", ident.name),
                )
                .label("unused")
                .note(why.to_string())
                .help("remove it, or refer to it"),
            );
        }
    }
}

/// `a` or `an`, as English puts it before `word`.
fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// `a`, `a and b`, `a, b and c`, each in backticks.
fn list<S: AsRef<str>>(names: &[S]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{}`", n.as_ref())).collect();
    match quoted.len() {
        0 => String::new(),
        1 => quoted[0].clone(),
        n => format!("{} and {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}
