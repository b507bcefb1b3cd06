//! The open documents and their diagnostics.

use std::path::{Path, PathBuf};

use super::Server;
use super::position::uri_to_path;
use super::position::{path_to_uri, span_range};
use capc_dsl::ast::{self, ItemKind};
use capc_dsl::model::Spec;
use capc_dsl::{Compilation, FileId, Severity, SourceMap, Span};
use capc_dsl::{FsLoader, OverlayLoader};
use lsp_server::{Message, Notification};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Notification as _,
    PublishDiagnostics,
};
use lsp_types::{
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, DidChangeTextDocumentParams,
    DidCloseTextDocumentParams, DidOpenTextDocumentParams, Location, NumberOrString,
    PublishDiagnosticsParams, Uri,
};

/// One open document.
pub(super) struct Document {
    pub(super) uri: Uri,
    /// Its path, as its URI says.
    pub(super) path: PathBuf,
    pub(super) text: String,
    /// The compilation of the current text.
    pub(super) current: Compilation,
    /// The last compilation that produced a model (maybe `current`).
    pub(super) last_good: Option<Compilation>,
    /// The last text that parsed (maybe `text`), for symbols and folding
    /// while an edit leaves a syntax error.
    pub(super) last_parsed: Option<String>,
    /// The diagnostics last published for it.
    published: Vec<Diagnostic>,
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

impl Server {
    /// Opening, changing and closing documents. Every change re-checks
    /// the open documents (a change to one may change what another
    /// imports) and publishes the diagnostics of the changed one, and of
    /// each other whose diagnostics changed.
    pub(super) fn notification(&mut self, n: Notification) -> Vec<Message> {
        let (uri, text) = match n.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<DidOpenTextDocumentParams>(n.params) else {
                    return Vec::new();
                };
                (p.text_document.uri, Some(p.text_document.text))
            }
            DidChangeTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<DidChangeTextDocumentParams>(n.params) else {
                    return Vec::new();
                };
                // Full sync: the last change holds the whole text.
                let Some(change) = p.content_changes.into_iter().last() else {
                    return Vec::new();
                };
                (p.text_document.uri, Some(change.text))
            }
            DidCloseTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<DidCloseTextDocumentParams>(n.params) else {
                    return Vec::new();
                };
                (p.text_document.uri, None)
            }
            _ => return Vec::new(),
        };
        let mut messages = Vec::new();
        match text {
            Some(text) => {
                self.update(&uri, text);
                if let Some(d) = self.documents.get_mut(uri.as_str()) {
                    d.published = diagnostics(d);
                    messages.push(publish(uri.clone(), d.published.clone()));
                }
            }
            None => {
                self.documents.remove(uri.as_str());
                messages.push(publish(uri.clone(), Vec::new()));
            }
        }
        let others: Vec<(Uri, String)> = self
            .documents
            .values()
            .filter(|d| d.uri != uri)
            .map(|d| (d.uri.clone(), d.text.clone()))
            .collect();
        for (other, text) in others {
            self.update(&other, text);
            if let Some(d) = self.documents.get_mut(other.as_str()) {
                let now = diagnostics(d);
                if now != d.published {
                    d.published = now;
                    messages.push(publish(other, d.published.clone()));
                }
            }
        }
        messages
    }

    /// What the files of the open documents hold: their buffers, in front
    /// of the file system.
    pub(super) fn loader(&self) -> OverlayLoader<FsLoader> {
        let mut loader = OverlayLoader::new(FsLoader);
        for d in self.documents.values() {
            loader.insert(&d.path, d.text.as_str());
        }
        loader
    }

    /// Sets a document's text and checks it, its imports read from the
    /// open buffers where they are open.
    fn update(&mut self, uri: &Uri, text: String) {
        let path = uri_to_path(uri);
        let loader = self.loader().with(&path, text.as_str());
        let current = match capc_dsl::compile(&path, &loader) {
            Ok(c) => c,
            // The root is in the overlay, so this does not happen.
            Err(_) => capc_dsl::compile_str(&path.to_string_lossy(), &text),
        };
        let previous = self.documents.remove(uri.as_str());
        let parses = capc_dsl::parse::parse_file(FileId(0), &text).is_ok();
        let last_parsed = if parses {
            Some(text.clone())
        } else {
            previous.as_ref().and_then(|d| d.last_parsed.clone())
        };
        let published = previous
            .as_ref()
            .map(|d| d.published.clone())
            .unwrap_or_default();
        let last_good = if current.spec.is_some() {
            None
        } else {
            previous.and_then(|d| {
                if d.current.spec.is_some() {
                    Some(d.current)
                } else {
                    d.last_good
                }
            })
        };
        self.documents.insert(
            uri.as_str().to_string(),
            Document {
                uri: uri.clone(),
                path,
                text,
                current,
                last_good,
                last_parsed,
                published,
            },
        );
    }
}

pub(super) fn publish(uri: Uri, diagnostics: Vec<Diagnostic>) -> Message {
    let params = PublishDiagnosticsParams {
        uri,
        diagnostics,
        version: None,
    };
    Message::Notification(Notification::new(
        PublishDiagnostics::METHOD.to_string(),
        params,
    ))
}

// ------------------------------------------------------------- diagnostics

/// The document's diagnostics as LSP sees them. Those whose primary span is
/// in an imported file are shown on the `use` of that file (at the top for a
/// file imported through another), naming the file.
pub(super) fn diagnostics(document: &Document) -> Vec<Diagnostic> {
    let uri = &document.uri;
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
