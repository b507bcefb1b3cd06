//! The open documents and their diagnostics.

use std::path::{Path, PathBuf};

use super::position::{path_to_uri, span_range};
use capc_dsl::ast::{self, ItemKind};
use capc_dsl::model::Spec;
use capc_dsl::{Compilation, FileId, Severity, SourceMap, Span};
use lsp_types::{
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, Uri,
};

/// One open document.
pub(super) struct Document {
    pub(super) text: String,
    /// The compilation of the current text.
    pub(super) current: Compilation,
    /// The last compilation that produced a model (maybe `current`).
    pub(super) last_good: Option<Compilation>,
    /// The last text that parsed (maybe `text`), for symbols and folding
    /// while an edit leaves a syntax error.
    pub(super) last_parsed: Option<String>,
}

impl Document {
    /// The parse of the text, or of the last text that parsed, and that text.
    pub(super) fn parse(&self) -> Option<(&str, ast::File)> {
        [Some(&self.text), self.last_parsed.as_ref()]
            .into_iter()
            .flatten()
            .find_map(|text| {
                let file = capc_dsl::parse::parse_file(FileId(0), text).ok()?;
                Some((text.as_str(), file))
            })
    }
}

impl Document {
    /// The compilation hover and definition read.
    pub(super) fn model(&self) -> Option<(&Spec, &SourceMap)> {
        let c = if self.current.spec.is_some() {
            &self.current
        } else {
            self.last_good.as_ref()?
        };
        Some((c.spec.as_ref()?, &c.sources))
    }
}

// ------------------------------------------------------------- diagnostics

/// The document's diagnostics as LSP sees them. Those whose primary span is
/// in an imported file are shown on the `use` of that file (at the top for a
/// file imported through another), naming the file.
pub(super) fn diagnostics(uri: &Uri, document: &Document) -> Vec<Diagnostic> {
    let c = &document.current;
    let root = FileId(0);
    // The document's imports: a problem in an imported file is shown on the
    // `use` that brings it in (or at the top, for a file imported through
    // another), with the place itself as related information.
    let uses: Vec<(String, Span)> = capc_dsl::parse::parse_file(root, &document.text)
        .map(|file| {
            file.items
                .iter()
                .filter_map(|item| match &item.kind {
                    ItemKind::Use(u) => Some((u.path.clone(), u.path_span)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let use_of = |name: &str| {
        uses.iter().find_map(|(path, span)| {
            let tail: PathBuf = Path::new(path)
                .components()
                .filter(|c| matches!(c, std::path::Component::Normal(_)))
                .collect();
            Path::new(name)
                .ends_with(&tail)
                .then(|| span_range(&document.text, *span))
        })
    };
    c.diagnostics
        .iter()
        .map(|d| {
            let mut message = d.message.clone();
            if !d.primary.message.is_empty() {
                message = format!("{message}: {}", d.primary.message);
            }
            for note in &d.notes {
                message.push_str(&format!("\nnote: {note}"));
            }
            if let Some(help) = &d.help {
                message.push_str(&format!("\nhelp: {help}"));
            }
            let imported = d.primary.span.file != root;
            let range = if imported {
                let name = c.sources.name(d.primary.span.file);
                message = format!("in {name}: {message}");
                use_of(name).unwrap_or_default()
            } else {
                span_range(&document.text, d.primary.span)
            };
            let primary = imported.then(|| capc_dsl::diag::Label {
                span: d.primary.span,
                message: "the problem is here".to_string(),
            });
            let related: Vec<DiagnosticRelatedInformation> = primary
                .iter()
                .chain(&d.secondary)
                .filter_map(|l| {
                    Some(DiagnosticRelatedInformation {
                        location: location(uri, &c.sources, l.span)?,
                        message: l.message.clone(),
                    })
                })
                .collect();
            Diagnostic {
                range,
                severity: Some(match d.severity {
                    Severity::Error => DiagnosticSeverity::ERROR,
                    Severity::Warning => DiagnosticSeverity::WARNING,
                }),
                code: Some(NumberOrString::String(d.code.as_str().to_string())),
                source: Some("capc".to_string()),
                message,
                related_information: (!related.is_empty()).then_some(related),
                ..Diagnostic::default()
            }
        })
        .collect()
}

/// Where a span is: in the document itself (`root`), or in an imported file.
pub(super) fn location(root: &Uri, sources: &SourceMap, span: Span) -> Option<Location> {
    let uri = if span.file == FileId(0) {
        root.clone()
    } else {
        path_to_uri(Path::new(sources.name(span.file)))?
    };
    Some(Location {
        uri,
        range: span_range(sources.text(span.file), span),
    })
}
