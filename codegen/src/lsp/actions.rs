//! Code actions: the fixes diagnostics carry ([`capc_dsl::diag::Suggestion`])
//! as quick fixes; a machine-applicable one is the preferred fix.

use std::collections::HashMap;

use capc_dsl::diag::Applicability;
use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams, CodeActionResponse, Range,
    TextEdit, WorkspaceEdit,
};

use super::Server;
use super::documents::{diagnostics, location};

impl Server {
    /// A quick fix for each suggestion of each diagnostic shown in the
    /// range, in the order the diagnostics are.
    pub(super) fn code_actions(&self, p: &CodeActionParams) -> Option<CodeActionResponse> {
        let uri = &p.text_document.uri;
        let document = self.documents.get(uri.as_str())?;
        if let Some(only) = &p.context.only
            && !only.iter().any(|k| k == &CodeActionKind::QUICKFIX)
        {
            return Some(Vec::new());
        }
        let sources = &document.current.sources;
        let shown = diagnostics(document);
        let mut actions = Vec::new();
        for (d, lsp) in document.current.diagnostics.iter().zip(shown) {
            if !overlap(lsp.range, p.range) {
                continue;
            }
            for s in &d.suggestions {
                let Some(place) = location(uri, sources, s.span) else {
                    continue;
                };
                let edit = TextEdit {
                    range: place.range,
                    new_text: s.replacement.clone(),
                };
                // One file per edit: the map has one key.
                #[allow(clippy::mutable_key_type)]
                let changes = HashMap::from([(place.uri, vec![edit])]);
                actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                    title: format!(
                        "replace `{}` with `{}`",
                        sources.snippet(s.span),
                        s.replacement
                    ),
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![lsp.clone()]),
                    edit: Some(WorkspaceEdit {
                        changes: Some(changes),
                        ..WorkspaceEdit::default()
                    }),
                    is_preferred: (s.applicability == Applicability::MachineApplicable)
                        .then_some(true),
                    ..CodeAction::default()
                }));
            }
        }
        Some(actions)
    }
}

/// Whether two ranges share a position (touching counts: a cursor at the
/// end of a name is on it).
fn overlap(a: Range, b: Range) -> bool {
    let key = |p: lsp_types::Position| (p.line, p.character);
    key(a.start) <= key(b.end) && key(b.start) <= key(a.end)
}
