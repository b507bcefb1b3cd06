//! Document symbols, from the parse alone; workspace symbols, from the
//! index of the open documents and their imports.

use std::collections::BTreeMap;

use super::Server;
use super::index::{Symbol, TypeKind};
use super::position::span_range;
use capc_dsl::Span;
use capc_dsl::ast::{self, ItemKind};
use lsp_types::{
    DocumentSymbol, DocumentSymbolParams, DocumentSymbolResponse, OneOf, SymbolKind,
    WorkspaceSymbol, WorkspaceSymbolParams, WorkspaceSymbolResponse,
};

impl Server {
    pub(super) fn symbols(&self, p: &DocumentSymbolParams) -> Option<DocumentSymbolResponse> {
        let document = self.documents.get(p.text_document.uri.as_str())?;
        let (text, file) = document.parse()?;
        Some(DocumentSymbolResponse::Nested(document_symbols(
            text, &file,
        )))
    }
}

impl Server {
    /// Every declaration in the open documents and the files they import
    /// whose name contains the query (ignoring case), by name, then file
    /// and position.
    pub(super) fn workspace_symbols(
        &self,
        p: &WorkspaceSymbolParams,
    ) -> Option<WorkspaceSymbolResponse> {
        let query = p.query.to_lowercase();
        let mut found: BTreeMap<(String, String, (u32, u32)), WorkspaceSymbol> = BTreeMap::new();
        for graph in self.graphs() {
            let kinds = graph.type_kinds();
            for o in graph.occurrences.iter().filter(|o| o.declaration) {
                let name = o.symbol.name();
                if !name.to_lowercase().contains(&query) {
                    continue;
                }
                let Some(location) = graph.location(o.span) else {
                    continue;
                };
                let (kind, container) = match &o.symbol {
                    Symbol::Type(n) => (
                        match kinds.get(n.as_str()) {
                            Some(TypeKind::Object) => SymbolKind::CLASS,
                            Some(TypeKind::Cap | TypeKind::Record) | None => SymbolKind::STRUCT,
                            Some(TypeKind::Errors | TypeKind::Enum) => SymbolKind::ENUM,
                            Some(TypeKind::Interface) => SymbolKind::INTERFACE,
                        },
                        None,
                    ),
                    Symbol::Right(_) => (SymbolKind::ENUM_MEMBER, None),
                    Symbol::Const(_) => (SymbolKind::CONSTANT, None),
                    Symbol::Target(_) => (SymbolKind::NAMESPACE, None),
                    Symbol::SizeParam { object, .. } => {
                        (SymbolKind::TYPE_PARAMETER, Some(object.clone()))
                    }
                    Symbol::Variant { errors, .. } => {
                        (SymbolKind::ENUM_MEMBER, Some(errors.clone()))
                    }
                    Symbol::Payload {
                        errors, variant, ..
                    } => (SymbolKind::FIELD, Some(format!("{errors}::{variant}"))),
                    Symbol::Method { set, .. } => (SymbolKind::METHOD, Some(set.clone())),
                    Symbol::Param { set, method, .. } => {
                        (SymbolKind::VARIABLE, Some(format!("{set}.{method}")))
                    }
                    Symbol::Slot { object, .. } => (SymbolKind::FIELD, Some(object.clone())),
                    Symbol::Field { cap, .. } => (SymbolKind::FIELD, Some(cap.clone())),
                    Symbol::Setting(_) | Symbol::Attribute(_) | Symbol::Builtin(_) => continue,
                };
                let start = location.range.start;
                found
                    .entry((
                        name.to_string(),
                        location.uri.as_str().to_string(),
                        (start.line, start.character),
                    ))
                    .or_insert(WorkspaceSymbol {
                        name: name.to_string(),
                        kind,
                        tags: None,
                        container_name: container,
                        location: OneOf::Left(location),
                        data: None,
                    });
            }
        }
        Some(WorkspaceSymbolResponse::Nested(
            found.into_values().collect(),
        ))
    }
}

#[allow(deprecated)] // `DocumentSymbol::deprecated` must be named to build one
pub(super) fn symbol(
    text: &str,
    name: &str,
    detail: Option<String>,
    kind: SymbolKind,
    range: Span,
    selection: Span,
    children: Vec<DocumentSymbol>,
) -> DocumentSymbol {
    DocumentSymbol {
        name: name.to_string(),
        detail,
        kind,
        tags: None,
        deprecated: None,
        range: span_range(text, range.to(selection)),
        selection_range: span_range(text, selection),
        children: (!children.is_empty()).then_some(children),
    }
}

pub(super) fn document_symbols(text: &str, file: &ast::File) -> Vec<DocumentSymbol> {
    let leaf = |name: &ast::Ident, kind: SymbolKind| {
        symbol(
            text,
            &name.name,
            None,
            kind,
            name.span,
            name.span,
            Vec::new(),
        )
    };
    let mut out = Vec::new();
    for item in &file.items {
        let span = item.span;
        let entry = match &item.kind {
            ItemKind::Use(u) => symbol(
                text,
                &u.path,
                Some("use".to_string()),
                SymbolKind::FILE,
                span,
                u.path_span,
                Vec::new(),
            ),
            ItemKind::Const(c) => symbol(
                text,
                &c.name.name,
                Some("const".to_string()),
                SymbolKind::CONSTANT,
                span,
                c.name.span,
                Vec::new(),
            ),
            ItemKind::Target(t) => symbol(
                text,
                &t.name.name,
                Some("target".to_string()),
                SymbolKind::NAMESPACE,
                span,
                t.name.span,
                t.settings
                    .iter()
                    .map(|s| leaf(&s.key, SymbolKind::PROPERTY))
                    .collect(),
            ),
            ItemKind::Rights(rights) => {
                let Some(first) = rights.first() else {
                    continue;
                };
                symbol(
                    text,
                    "rights",
                    None,
                    SymbolKind::ENUM,
                    span,
                    first.name.span,
                    rights
                        .iter()
                        .map(|r| leaf(&r.name, SymbolKind::ENUM_MEMBER))
                        .collect(),
                )
            }
            ItemKind::Config(options) => {
                let Some(first) = options.first() else {
                    continue;
                };
                symbol(
                    text,
                    "config",
                    None,
                    SymbolKind::ENUM,
                    span,
                    first.name.span,
                    options
                        .iter()
                        .map(|r| leaf(&r.name, SymbolKind::BOOLEAN))
                        .collect(),
                )
            }
            ItemKind::System(sys) => symbol(
                text,
                &sys.name.name,
                Some("system".to_string()),
                SymbolKind::MODULE,
                span,
                sys.name.span,
                sys.domains
                    .iter()
                    .map(|d| leaf(&d.name, SymbolKind::OBJECT))
                    .collect(),
            ),
            ItemKind::Object(o) => symbol(
                text,
                &o.name.name,
                Some(
                    match o.kind {
                        ast::ObjectKind::Untyped => "untyped",
                        ast::ObjectKind::Frame => "frame",
                        ast::ObjectKind::Kernel => "object",
                    }
                    .to_string(),
                ),
                SymbolKind::CLASS,
                span,
                o.name.span,
                o.slots
                    .iter()
                    .map(|slot| {
                        let rights: Vec<&str> =
                            slot.rights.iter().map(|r| r.name.as_str()).collect();
                        let rights = if rights.is_empty() {
                            String::new()
                        } else {
                            format!("({})", rights.join(", "))
                        };
                        symbol(
                            text,
                            &slot.name.name,
                            Some(format!("slot: {}{rights}", slot.cap.name)),
                            SymbolKind::FIELD,
                            slot.span,
                            slot.name.span,
                            Vec::new(),
                        )
                    })
                    .collect(),
            ),
            ItemKind::Errors(e) => symbol(
                text,
                &e.name.name,
                Some("errors".to_string()),
                SymbolKind::ENUM,
                span,
                e.name.span,
                e.variants
                    .iter()
                    .map(|v| leaf(&v.name, SymbolKind::ENUM_MEMBER))
                    .collect(),
            ),
            ItemKind::Cap(c) => symbol(
                text,
                &c.name.name,
                Some(match (&c.is_abstract, &c.inherits) {
                    (true, _) => "abstract cap".to_string(),
                    (false, Some(parent)) => format!("cap, inherits {}", parent.name),
                    (false, None) => "cap".to_string(),
                }),
                SymbolKind::STRUCT,
                span,
                c.name.span,
                c.fields
                    .iter()
                    .map(|f| leaf(&f.name, SymbolKind::FIELD))
                    .collect(),
            ),
            ItemKind::Struct(s) => symbol(
                text,
                &s.name.name,
                Some("struct".to_string()),
                SymbolKind::STRUCT,
                span,
                s.name.span,
                s.fields
                    .iter()
                    .map(|f| leaf(&f.name, SymbolKind::FIELD))
                    .collect(),
            ),
            ItemKind::Enum(e) => symbol(
                text,
                &e.name.name,
                Some("enum".to_string()),
                SymbolKind::ENUM,
                span,
                e.name.span,
                e.variants
                    .iter()
                    .map(|v| leaf(&v.name, SymbolKind::ENUM_MEMBER))
                    .collect(),
            ),
            ItemKind::Syscalls(sc) => symbol(
                text,
                &sc.name.name,
                Some("syscalls".to_string()),
                SymbolKind::ENUM,
                span,
                sc.name.span,
                sc.syscalls
                    .iter()
                    .map(|d| leaf(&d.name, SymbolKind::ENUM_MEMBER))
                    .collect(),
            ),
            ItemKind::Bitfield(b) => symbol(
                text,
                &b.name.name,
                Some("bitfield".to_string()),
                SymbolKind::STRUCT,
                span,
                b.name.span,
                b.fields
                    .iter()
                    .map(|f| leaf(&f.name, SymbolKind::FIELD))
                    .collect(),
            ),
            ItemKind::TypeAlias(a) => symbol(
                text,
                &a.name.name,
                Some("type".to_string()),
                SymbolKind::TYPE_PARAMETER,
                span,
                a.name.span,
                Vec::new(),
            ),
            ItemKind::Retype(r) => symbol(
                text,
                &format!("retype {}", r.source.name),
                None,
                SymbolKind::OPERATOR,
                span,
                r.source.span,
                Vec::new(),
            ),
            ItemKind::Derive(d) => symbol(
                text,
                &format!("derive {} from {}", d.target.name, d.source.name),
                None,
                SymbolKind::OPERATOR,
                span,
                d.target.span,
                Vec::new(),
            ),
            ItemKind::Invocations(set) | ItemKind::Interface(set) => {
                let invocations = matches!(item.kind, ItemKind::Invocations(_));
                symbol(
                    text,
                    &if invocations {
                        format!("invocations {}", set.name.name)
                    } else {
                        set.name.name.clone()
                    },
                    Some(
                        if invocations {
                            "invocations"
                        } else {
                            "interface"
                        }
                        .to_string(),
                    ),
                    SymbolKind::INTERFACE,
                    span,
                    set.name.span,
                    set.methods
                        .iter()
                        .map(|m| {
                            symbol(
                                text,
                                &m.name.name,
                                None,
                                SymbolKind::METHOD,
                                m.span,
                                m.name.span,
                                Vec::new(),
                            )
                        })
                        .collect(),
                )
            }
        };
        out.push(entry);
    }
    out
}
