//! Every name written in the open documents and their imports, with what
//! it names: the index references, rename, workspace symbols and semantic
//! tokens read.
//!
//! It is built from the parse alone (so it works in a spec that does not
//! check), and it knows the language's namespaces: types (objects, cap
//! types, error sets, interfaces) share one, rights have theirs, constants
//! theirs; a method, a slot, a field, a variant or a parameter is named
//! within the item that declares it. A right `read` and a method `read` are
//! different symbols.

use std::collections::BTreeMap;
use std::path::Path;

use capc_dsl::ast::{self, Expr, ExprKind, Ident, ItemKind};
use capc_dsl::load::{Loaded, normalize};
use capc_dsl::{FileId, Span};
use lsp_types::{Location, Position, Uri};

use super::Server;
use super::position::{path_to_uri, position_to_offset, span_range};

/// What a name names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Symbol {
    /// An object type, cap type (abstract or not), error set or interface.
    Type(String),
    Right(String),
    Const(String),
    /// The size parameter of an object type.
    SizeParam {
        object: String,
        name: String,
    },
    /// A variant of an error set.
    Variant {
        errors: String,
        name: String,
    },
    /// A payload word of a variant.
    Payload {
        errors: String,
        variant: String,
        name: String,
    },
    /// A method of the invocations of a cap type or of an interface.
    Method {
        set: String,
        name: String,
    },
    /// A parameter or result of a method.
    Param {
        set: String,
        method: String,
        name: String,
    },
    /// An owned slot of an object type.
    Slot {
        object: String,
        name: String,
    },
    /// A field of a cap type.
    Field {
        cap: String,
        name: String,
    },
    /// The target's name.
    Target(String),
    /// A target setting (`address_bits`): named by the language.
    Setting(String),
    /// An attribute, its argument names and flags: named by the language.
    Attribute(String),
    /// A memory kind (`ram`, `device`) or finaliser (`unmap`): named by the
    /// language.
    Builtin(String),
}

impl Symbol {
    /// The name as written.
    pub(super) fn name(&self) -> &str {
        match self {
            Symbol::Type(n)
            | Symbol::Right(n)
            | Symbol::Const(n)
            | Symbol::Target(n)
            | Symbol::Setting(n)
            | Symbol::Attribute(n)
            | Symbol::Builtin(n) => n,
            Symbol::SizeParam { name, .. }
            | Symbol::Variant { name, .. }
            | Symbol::Payload { name, .. }
            | Symbol::Method { name, .. }
            | Symbol::Param { name, .. }
            | Symbol::Slot { name, .. }
            | Symbol::Field { name, .. } => name,
        }
    }

    /// The same symbol under another name.
    pub(super) fn renamed(&self, new: &str) -> Symbol {
        let mut symbol = self.clone();
        match &mut symbol {
            Symbol::Type(n)
            | Symbol::Right(n)
            | Symbol::Const(n)
            | Symbol::Target(n)
            | Symbol::Setting(n)
            | Symbol::Attribute(n)
            | Symbol::Builtin(n) => *n = new.to_string(),
            Symbol::SizeParam { name, .. }
            | Symbol::Variant { name, .. }
            | Symbol::Payload { name, .. }
            | Symbol::Method { name, .. }
            | Symbol::Param { name, .. }
            | Symbol::Slot { name, .. }
            | Symbol::Field { name, .. } => *name = new.to_string(),
        }
        symbol
    }

    /// Whether the spec chose the name (and may rename it), rather than
    /// the language.
    pub(super) fn renamable(&self) -> bool {
        !matches!(
            self,
            Symbol::Setting(_) | Symbol::Attribute(_) | Symbol::Builtin(_)
        )
    }

    /// What it is, in words: "the right `read`", "the method `FileService.read`".
    pub(super) fn describe(&self) -> String {
        match self {
            Symbol::Type(n) => format!("the type `{n}`"),
            Symbol::Right(n) => format!("the right `{n}`"),
            Symbol::Const(n) => format!("the constant `{n}`"),
            Symbol::SizeParam { object, name } => {
                format!("the size parameter `{name}` of `{object}`")
            }
            Symbol::Variant { errors, name } => format!("the error `{errors}::{name}`"),
            Symbol::Payload {
                errors,
                variant,
                name,
            } => format!("the payload `{name}` of `{errors}::{variant}`"),
            Symbol::Method { set, name } => format!("the method `{set}.{name}`"),
            Symbol::Param { set, method, name } => {
                format!("the parameter `{name}` of `{set}.{method}`")
            }
            Symbol::Slot { object, name } => format!("the slot `{object}.{name}`"),
            Symbol::Field { cap, name } => format!("the field `{cap}.{name}`"),
            Symbol::Target(n) => format!("the target `{n}`"),
            Symbol::Setting(n) => format!("the target setting `{n}`"),
            Symbol::Attribute(n) => format!("the attribute name `{n}`"),
            Symbol::Builtin(n) => format!("the built-in name `{n}`"),
        }
    }
}

/// One name as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Occurrence {
    pub(super) symbol: Symbol,
    pub(super) span: Span,
    /// Whether this is where the symbol is declared.
    pub(super) declaration: bool,
}

/// Every name written in `files`, in source order within each file.
pub(super) fn occurrences(files: &[(FileId, ast::File)]) -> Vec<Occurrence> {
    let mut walker = Walker::default();
    for (_, file) in files {
        for item in &file.items {
            walker.item(item);
        }
    }
    walker.out.sort_by_key(|o| o.span);
    walker.out
}

#[derive(Default)]
struct Walker {
    out: Vec<Occurrence>,
}

impl Walker {
    fn push(&mut self, symbol: Symbol, ident: &Ident, declaration: bool) {
        self.out.push(Occurrence {
            symbol,
            span: ident.span,
            declaration,
        });
    }

    fn declare(&mut self, symbol: Symbol, ident: &Ident) {
        self.push(symbol, ident, true);
    }

    fn refer(&mut self, symbol: Symbol, ident: &Ident) {
        self.push(symbol, ident, false);
    }

    fn types(&mut self, idents: &[Ident]) {
        for i in idents {
            self.refer(Symbol::Type(i.name.clone()), i);
        }
    }

    fn rights(&mut self, idents: &[Ident]) {
        for i in idents {
            self.refer(Symbol::Right(i.name.clone()), i);
        }
    }

    fn builtins(&mut self, idents: &[Ident]) {
        for i in idents {
            self.refer(Symbol::Builtin(i.name.clone()), i);
        }
    }

    /// The names in an expression: constants, or the size parameter of
    /// `object` where one is in scope.
    fn expr(&mut self, expr: &Expr, param: Option<(&str, &str)>) {
        match &expr.kind {
            ExprKind::Int(_) => {}
            ExprKind::Name(name) => {
                let symbol = match param {
                    Some((object, p)) if p == name => Symbol::SizeParam {
                        object: object.to_string(),
                        name: name.clone(),
                    },
                    _ => Symbol::Const(name.clone()),
                };
                self.out.push(Occurrence {
                    symbol,
                    span: expr.span,
                    declaration: false,
                });
            }
            ExprKind::Binary(lhs, _, rhs) => {
                self.expr(lhs, param);
                self.expr(rhs, param);
            }
        }
    }

    fn attrs(&mut self, attrs: &[ast::Attribute]) {
        for a in attrs {
            self.refer(Symbol::Attribute(a.name.name.clone()), &a.name);
            for (key, value) in &a.args {
                self.refer(Symbol::Attribute(key.name.clone()), key);
                self.expr(value, None);
            }
            for flag in &a.flags {
                self.refer(Symbol::Attribute(flag.name.clone()), flag);
            }
        }
    }

    fn item(&mut self, item: &ast::Item) {
        self.attrs(&item.attrs);
        match &item.kind {
            ItemKind::Use(_) => {}
            ItemKind::Const(c) => {
                self.declare(Symbol::Const(c.name.name.clone()), &c.name);
                self.expr(&c.value, None);
            }
            ItemKind::Target(t) => {
                self.declare(Symbol::Target(t.name.name.clone()), &t.name);
                for s in &t.settings {
                    self.refer(Symbol::Setting(s.key.name.clone()), &s.key);
                    self.expr(&s.value, None);
                }
            }
            ItemKind::Rights(rights) => {
                for r in rights {
                    self.declare(Symbol::Right(r.name.name.clone()), &r.name);
                }
            }
            ItemKind::Config(_) | ItemKind::System(_) => {}
            ItemKind::Object(o) => self.object(o),
            ItemKind::Errors(e) => {
                let errors = &e.name.name;
                self.declare(Symbol::Type(errors.clone()), &e.name);
                for v in &e.variants {
                    self.declare(
                        Symbol::Variant {
                            errors: errors.clone(),
                            name: v.name.name.clone(),
                        },
                        &v.name,
                    );
                    for p in &v.payload {
                        self.declare(
                            Symbol::Payload {
                                errors: errors.clone(),
                                variant: v.name.name.clone(),
                                name: p.name.clone(),
                            },
                            p,
                        );
                    }
                    // A typed payload names a message type or an error set,
                    // and `name: ..Set` the set its rest is an error of.
                    for t in v.payload_types.iter().flatten() {
                        self.type_expr(t);
                    }
                    for (_, set) in &v.rest {
                        self.refer(Symbol::Type(set.name.clone()), set);
                    }
                }
            }
            ItemKind::Cap(c) => {
                self.declare(Symbol::Type(c.name.name.clone()), &c.name);
                self.types(c.object.as_slice());
                self.types(c.inherits.as_slice());
                for f in &c.fields {
                    self.attrs(&f.attrs);
                    self.declare(
                        Symbol::Field {
                            cap: c.name.name.clone(),
                            name: f.name.name.clone(),
                        },
                        &f.name,
                    );
                    match &f.ty {
                        ast::FieldType::Ptr { align } => self.expr(align, None),
                        ast::FieldType::Rights(rights) => self.rights(rights),
                        ast::FieldType::Enumeration(name) => {
                            self.types(std::slice::from_ref(name));
                        }
                        ast::FieldType::Uint(_) | ast::FieldType::Bool => {}
                    }
                }
            }
            ItemKind::Retype(r) => {
                self.types(std::slice::from_ref(&r.source));
                self.types(&r.into);
                for e in &r.fan_outs {
                    self.expr(e, None);
                }
            }
            ItemKind::Derive(d) => {
                self.types(&[d.target.clone(), d.source.clone()]);
            }
            ItemKind::Invocations(set) => {
                self.types(std::slice::from_ref(&set.name));
                self.methods(set);
            }
            ItemKind::Interface(set) => {
                self.declare(Symbol::Type(set.name.name.clone()), &set.name);
                self.methods(set);
            }
            ItemKind::Struct(s) => {
                self.declare(Symbol::Type(s.name.name.clone()), &s.name);
                for f in &s.fields {
                    self.type_expr(&f.ty);
                }
            }
            ItemKind::Enum(e) => {
                self.declare(Symbol::Type(e.name.name.clone()), &e.name);
                for t in e.variants.iter().flat_map(|v| &v.fields) {
                    self.type_expr(t);
                }
                for v in &e.variants {
                    self.attrs(&v.attrs);
                    if let Some(value) = &v.value {
                        self.expr(value, None);
                    }
                }
            }
            ItemKind::TypeAlias(a) => {
                self.declare(Symbol::Type(a.name.name.clone()), &a.name);
                self.type_expr(&a.ty);
            }
            ItemKind::Syscalls(sc) => {
                self.declare(Symbol::Type(sc.name.name.clone()), &sc.name);
                for d in &sc.syscalls {
                    self.attrs(&d.attrs);
                    for clause in &d.clauses {
                        let caps: Vec<ast::Ident> =
                            clause.caps.iter().map(|(c, _)| c.clone()).collect();
                        self.types(&caps);
                    }
                }
            }
            ItemKind::Bitfield(b) => {
                self.declare(Symbol::Type(b.name.name.clone()), &b.name);
                for f in &b.fields {
                    self.attrs(&f.attrs);
                    if let ast::FieldType::Enumeration(name) = &f.ty {
                        self.types(std::slice::from_ref(name));
                    }
                }
            }
        }
    }

    /// The names and lengths a message value's type refers to.
    fn type_expr(&mut self, e: &ast::TypeExpr) {
        match &e.kind {
            ast::TypeExprKind::Scalar(_)
            | ast::TypeExprKind::Int(_)
            | ast::TypeExprKind::Float(_) => {}
            ast::TypeExprKind::Array(t, len) | ast::TypeExprKind::Bounded(t, len) => {
                self.type_expr(t);
                self.expr(len, None);
            }
            ast::TypeExprKind::String(len) => self.expr(len, None),
            ast::TypeExprKind::Option(t) => self.type_expr(t),
            ast::TypeExprKind::Named(name) => self.types(std::slice::from_ref(name)),
        }
    }

    fn object(&mut self, o: &ast::ObjectItem) {
        let object = o.name.name.as_str();
        self.declare(Symbol::Type(object.to_string()), &o.name);
        let param = o.param.as_ref().map(|p| (object, p.name.name.as_str()));
        if let Some(p) = &o.param {
            self.declare(
                Symbol::SizeParam {
                    object: object.to_string(),
                    name: p.name.name.clone(),
                },
                &p.name,
            );
            match &p.domain {
                ast::Domain::Inclusive(lo, hi) | ast::Domain::Exclusive(lo, hi) => {
                    self.expr(lo, None);
                    self.expr(hi, None);
                }
                ast::Domain::Set(values) => {
                    for v in values {
                        self.expr(v, None);
                    }
                }
            }
        }
        for e in o.sizes.iter().chain(&o.aligns) {
            self.expr(e, param);
        }
        for kinds in o.memories.iter().chain(&o.finalises) {
            self.builtins(kinds);
        }
        for slot in &o.slots {
            self.attrs(&slot.attrs);
            self.declare(
                Symbol::Slot {
                    object: object.to_string(),
                    name: slot.name.name.clone(),
                },
                &slot.name,
            );
            self.types(std::slice::from_ref(&slot.cap));
            self.rights(&slot.rights);
        }
        for t in &o.tables {
            self.expr(&t.entries, param);
            self.expr(&t.covers, param);
            self.types(&t.holds);
        }
    }

    fn methods(&mut self, set: &ast::MethodSet) {
        let name = &set.name.name;
        self.types(std::slice::from_ref(&set.errors));
        if let Some(session) = &set.session {
            for d in &session.donations {
                if let ast::Donation::Untyped { cap, .. } = d {
                    self.types(std::slice::from_ref(cap));
                }
                self.expr(d.bytes(), None);
            }
            for k in &session.keeps {
                self.expr(&k.bytes, None);
            }
            // `binds Name;`: the callback interface a session may be bound to.
            for (b, _) in &session.binds {
                self.types(std::slice::from_ref(b));
            }
            for v in &session.out_of_budget {
                self.refer(
                    Symbol::Variant {
                        errors: set.errors.name.clone(),
                        name: v.name.clone(),
                    },
                    v,
                );
            }
        }
        for m in &set.methods {
            self.declare(
                Symbol::Method {
                    set: name.clone(),
                    name: m.name.name.clone(),
                },
                &m.name,
            );
            for p in m.params.iter().chain(&m.results) {
                self.attrs(&p.attrs);
                self.declare(
                    Symbol::Param {
                        set: name.clone(),
                        method: m.name.name.clone(),
                        name: p.name.name.clone(),
                    },
                    &p.name,
                );
                match &p.ty {
                    ast::ParamType::Scalar(_) => {}
                    ast::ParamType::Array(_, length) => self.expr(length, None),
                    ast::ParamType::Data(t) => self.type_expr(t),
                    ast::ParamType::Cap { cap, rights, .. } => {
                        self.types(std::slice::from_ref(cap));
                        self.rights(rights);
                    }
                    ast::ParamType::Lease { cap, rights, ty } => {
                        self.types(cap.as_slice());
                        self.rights(rights);
                        self.type_expr(ty);
                    }
                }
                // `binds Name`: the callback interface, a type name.
                self.types(p.binds.as_slice());
            }
            self.rights(&m.requires);
            // `errors ... of Set;`: the method's errors are of that set.
            self.types(&m.error_sets);
            let own = m.error_sets.first().unwrap_or(&set.errors);
            for v in m.errors.iter().chain(&m.out_of_budget) {
                self.refer(
                    Symbol::Variant {
                        errors: own.name.clone(),
                        name: v.name.clone(),
                    },
                    v,
                );
            }
            for d in &m.donations {
                if let ast::Donation::Untyped { cap, .. } = d {
                    self.types(std::slice::from_ref(cap));
                }
                self.expr(d.bytes(), None);
            }
            for a in &m.allocations {
                self.expr(&a.count, None);
                self.types(std::slice::from_ref(&a.object));
                if let Some(arg) = &a.arg {
                    self.expr(arg, None);
                }
            }
            for k in &m.keeps {
                self.expr(&k.bytes, None);
            }
            for (bound, _) in &m.server_pays {
                self.expr(bound, None);
            }
        }
    }
}

/// What a type name names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TypeKind {
    Object,
    Cap,
    Errors,
    Interface,
    /// A `struct` or a `type` alias.
    Record,
    /// An `enum`.
    Enum,
}

/// One open document with everything it imports, parsed, and the names
/// written in them.
pub(super) struct Graph {
    pub(super) loaded: Loaded,
    pub(super) occurrences: Vec<Occurrence>,
    /// The URI of each file, by [`FileId`].
    uris: Vec<Option<Uri>>,
}

impl Graph {
    /// The URI of a file of the graph.
    pub(super) fn uri(&self, file: FileId) -> Option<&Uri> {
        self.uris.get(file.0 as usize)?.as_ref()
    }

    pub(super) fn location(&self, span: Span) -> Option<Location> {
        Some(Location {
            uri: self.uri(span.file)?.clone(),
            range: span_range(self.loaded.sources.text(span.file), span),
        })
    }

    /// The occurrence at a position of the root document.
    pub(super) fn at(&self, position: Position) -> Option<&Occurrence> {
        let root = FileId(0);
        let offset = position_to_offset(self.loaded.sources.text(root), position) as u32;
        self.occurrences
            .iter()
            .find(|o| o.span.file == root && o.span.start <= offset && offset <= o.span.end)
    }

    /// What each type name of the graph names.
    pub(super) fn type_kinds(&self) -> BTreeMap<&str, TypeKind> {
        let mut kinds = BTreeMap::new();
        for (_, file) in &self.loaded.files {
            for item in &file.items {
                let (name, kind) = match &item.kind {
                    ItemKind::Object(o) => (&o.name, TypeKind::Object),
                    ItemKind::Cap(c) => (&c.name, TypeKind::Cap),
                    ItemKind::Errors(e) => (&e.name, TypeKind::Errors),
                    ItemKind::Interface(i) => (&i.name, TypeKind::Interface),
                    ItemKind::Struct(s) => (&s.name, TypeKind::Record),
                    ItemKind::TypeAlias(a) => (&a.name, TypeKind::Record),
                    ItemKind::Bitfield(b) => (&b.name, TypeKind::Record),
                    ItemKind::Enum(e) => (&e.name, TypeKind::Enum),
                    _ => continue,
                };
                kinds.insert(name.name.as_str(), kind);
            }
        }
        kinds
    }

    /// Where `symbol` is declared in the graph.
    pub(super) fn declarations<'g>(
        &'g self,
        symbol: &'g Symbol,
    ) -> impl Iterator<Item = &'g Occurrence> + 'g {
        self.occurrences
            .iter()
            .filter(move |o| o.declaration && &o.symbol == symbol)
    }
}

impl Server {
    /// The graph of the open document at `uri`, read through the open
    /// buffers.
    pub(super) fn graph(&self, uri: &Uri) -> Option<Graph> {
        let document = self.documents.get(uri.as_str())?;
        let loaded = capc_dsl::load::load(&document.path, &self.loader()).ok()?;
        let occurrences = occurrences(&loaded.files);
        let uris = (0..loaded.sources.len())
            .map(|i| {
                if i == 0 {
                    return Some(uri.clone());
                }
                self.uri_of(Path::new(loaded.sources.name(FileId(i as u32))))
            })
            .collect();
        Some(Graph {
            loaded,
            occurrences,
            uris,
        })
    }

    /// The graph of every open document, in URI order.
    pub(super) fn graphs(&self) -> Vec<Graph> {
        self.documents
            .values()
            .filter_map(|d| self.graph(&d.uri))
            .collect()
    }

    /// The URI of a file: the one it is open under, if it is open.
    fn uri_of(&self, path: &Path) -> Option<Uri> {
        let path = normalize(path);
        self.documents
            .values()
            .find(|d| normalize(&d.path) == path)
            .map(|d| d.uri.clone())
            .or_else(|| path_to_uri(&path))
    }
}
