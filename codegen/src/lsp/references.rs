//! Find references and rename, across the open documents and the files
//! they import, namespace by namespace ([`super::index`]).

use std::collections::{BTreeMap, HashMap};

use lsp_types::{
    Location, PrepareRenameResponse, ReferenceParams, RenameParams, TextDocumentPositionParams,
    TextEdit, Uri, WorkspaceEdit,
};

use super::Server;
use super::completion::KEYWORDS;
use super::index::{Graph, Symbol};

/// Where a symbol is written: each place once, in URI and position order,
/// and whether it is a declaration.
type Uses = BTreeMap<(String, (u32, u32)), (Location, bool)>;

impl Server {
    /// The symbol at a position and everywhere it is written in the open
    /// documents and their imports: in the document's own graph, and in
    /// every other graph that holds its declaration (a file imported by
    /// several open documents is one file).
    fn uses(&self, at: &TextDocumentPositionParams) -> Option<(Symbol, Uses, Vec<Graph>)> {
        let graph = self.graph(&at.text_document.uri)?;
        let symbol = graph.at(at.position)?.symbol.clone();
        let declared: Vec<Location> = graph
            .declarations(&symbol)
            .filter_map(|o| graph.location(o.span))
            .collect();
        let graphs: Vec<Graph> = self
            .graphs()
            .into_iter()
            .filter(|g| {
                if declared.is_empty() {
                    g.uri(capc_dsl::FileId(0)) == Some(&at.text_document.uri)
                } else {
                    g.declarations(&symbol)
                        .filter_map(|o| g.location(o.span))
                        .any(|l| declared.contains(&l))
                }
            })
            .collect();
        let mut uses = Uses::new();
        for g in &graphs {
            for o in g.occurrences.iter().filter(|o| o.symbol == symbol) {
                if let Some(location) = g.location(o.span) {
                    let start = location.range.start;
                    uses.insert(
                        (
                            location.uri.as_str().to_string(),
                            (start.line, start.character),
                        ),
                        (location, o.declaration),
                    );
                }
            }
        }
        Some((symbol, uses, graphs))
    }

    pub(super) fn references(&self, p: &ReferenceParams) -> Option<Vec<Location>> {
        let (_, uses, _) = self.uses(&p.text_document_position)?;
        let include = p.context.include_declaration;
        Some(
            uses.into_values()
                .filter(|(_, declaration)| include || !declaration)
                .map(|(location, _)| location)
                .collect(),
        )
    }

    /// The name under the cursor, if it can be renamed; an error saying why
    /// not if it cannot.
    pub(super) fn prepare_rename(
        &self,
        at: &TextDocumentPositionParams,
    ) -> Result<Option<PrepareRenameResponse>, String> {
        let Some(graph) = self.graph(&at.text_document.uri) else {
            return Ok(None);
        };
        let Some(occurrence) = graph.at(at.position) else {
            return Ok(None);
        };
        let symbol = &occurrence.symbol;
        renamable(symbol, graph.declarations(symbol).next().is_some())?;
        let range = graph
            .location(occurrence.span)
            .map(|l| l.range)
            .unwrap_or_default();
        Ok(Some(PrepareRenameResponse::RangeWithPlaceholder {
            range,
            placeholder: symbol.name().to_string(),
        }))
    }

    /// Renames the symbol under the cursor everywhere it is written. Refused
    /// (with the reason) for a name the language gives, one declared
    /// nowhere, a new name that is not a name, and a new name another
    /// symbol of the same namespace has.
    pub(super) fn rename(&self, p: &RenameParams) -> Result<Option<WorkspaceEdit>, String> {
        let new = p.new_name.as_str();
        let Some((symbol, uses, graphs)) = self.uses(&p.text_document_position) else {
            return Err("there is no name here to rename".to_string());
        };
        renamable(&symbol, uses.values().any(|(_, declaration)| *declaration))?;
        valid_name(new)?;
        if new != symbol.name() {
            for g in &graphs {
                let clash = g
                    .occurrences
                    .iter()
                    .find(|o| o.declaration && clashes(&symbol, new, &o.symbol));
                if let Some(clash) = clash {
                    let sources = &g.loaded.sources;
                    let (line, column) =
                        sources.line_col(clash.span.file, clash.span.start as usize);
                    return Err(format!(
                        "cannot rename {} to `{new}`: {} is declared at {}:{line}:{column}",
                        symbol.describe(),
                        clash.symbol.describe(),
                        sources.name(clash.span.file),
                    ));
                }
            }
        }
        let mut by_uri: BTreeMap<String, (Uri, Vec<TextEdit>)> = BTreeMap::new();
        for (location, _) in uses.into_values() {
            by_uri
                .entry(location.uri.as_str().to_string())
                .or_insert_with(|| (location.uri.clone(), Vec::new()))
                .1
                .push(TextEdit {
                    range: location.range,
                    new_text: new.to_string(),
                });
        }
        // `lsp-types` keys the changes by `Uri` in a `HashMap` (its lazily
        // parsed parts do not change its hash); `serde_json` writes the
        // map's keys sorted, so the response does not depend on its order.
        #[allow(clippy::mutable_key_type)]
        let changes: HashMap<Uri, Vec<TextEdit>> = by_uri.into_values().collect();
        Ok(Some(WorkspaceEdit {
            changes: Some(changes),
            ..WorkspaceEdit::default()
        }))
    }
}

/// Whether `symbol` renamed to `new` would clash with `other`: the same
/// kind of thing in the same scope already has the name, or a constant and
/// a size parameter would share it (the parameter hides the constant in
/// its object's expressions).
fn clashes(symbol: &Symbol, new: &str, other: &Symbol) -> bool {
    if *other == symbol.renamed(new) {
        return true;
    }
    match (symbol, other) {
        (Symbol::Const(_), Symbol::SizeParam { name, .. })
        | (Symbol::SizeParam { .. }, Symbol::Const(name)) => name == new,
        _ => false,
    }
}

/// Whether a symbol may be renamed (`declared`: it has a declaration).
fn renamable(symbol: &Symbol, declared: bool) -> Result<(), String> {
    if !symbol.renamable() {
        return Err(format!(
            "{} is part of the language and cannot be renamed",
            symbol.describe()
        ));
    }
    if !declared {
        return Err(format!(
            "{} is not declared in this spec or the files it imports: there is nothing to rename",
            symbol.describe()
        ));
    }
    Ok(())
}

/// Whether `name` can be written as a name: the grammar's `ident`, and not
/// a keyword.
fn valid_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let starts = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !starts || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "`{name}` is not a valid name: a name is a letter or `_` followed by letters, digits and `_`"
        ));
    }
    if KEYWORDS.contains(&name) {
        return Err(format!("`{name}` is a keyword, not a name"));
    }
    Ok(())
}
