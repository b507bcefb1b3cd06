//! `capc lsp`: a language server for `.cap` files over stdio.
//!
//! Built on `lsp-server` (the JSON-RPC transport rust-analyzer uses) and
//! `lsp-types`. Each open document is compiled with [`capc_dsl::compile_str`]
//! on open and on every change (full-text sync); its diagnostics are
//! published with their codes, ranges in UTF-16 columns as LSP counts them,
//! and the hint and notes in the message. Hover (doc comment, size, owned
//! slots and what removing the last cap undoes, bit layout, signature and
//! cost) and go-to-definition read the checked model of the document, or of
//! its last version that checked when the current one has errors; document
//! symbols (items, with an object's owned slots under it) come from the parse
//! alone (of the last text that parsed, while an edit leaves a syntax
//! error), so they work in a spec that does not check yet. The server keeps no
//! state besides the open documents.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;

use capc_dsl::ast::{self, ItemKind};
use capc_dsl::model::{Finaliser, Object, ObjectId, OwnedSlot, Spec};
use capc_dsl::{Compilation, FileId, Severity, SourceMap, Span};
use lsp_server::{Connection, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Notification as _,
    PublishDiagnostics,
};
use lsp_types::request::{
    Completion, DocumentSymbolRequest, FoldingRangeRequest, Formatting, GotoDefinition,
    HoverRequest, Request as _,
};
use lsp_types::{
    CompletionItem, CompletionItemKind, CompletionOptions, CompletionParams, CompletionResponse,
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, DocumentFormattingParams,
    DocumentSymbol, DocumentSymbolParams, DocumentSymbolResponse, FoldingRange, FoldingRangeParams,
    FoldingRangeProviderCapability, GotoDefinitionParams, GotoDefinitionResponse, Hover,
    HoverContents, HoverParams, HoverProviderCapability, Location, MarkupContent, MarkupKind,
    NumberOrString, OneOf, Position, PublishDiagnosticsParams, Range, ServerCapabilities,
    SymbolKind, TextDocumentSyncCapability, TextDocumentSyncKind, TextEdit, Uri,
};

pub const LSP_EXAMPLES: &str = "\
Examples:
  capc lsp                       speak LSP on stdin/stdout (started by an editor)

VS Code: the extension in editors/vscode starts `capc lsp` for .cap files.
Neovim:  vim.lsp.start({ name = 'capc', cmd = { 'capc', 'lsp' } })
Features: diagnostics with codes on open and change, hover (docs, sizes, owned slots and
finalisers, cap layouts, method costs), go to definition, document symbols, formatting
(capc fmt's layout), completion (keywords, attributes after `#[`, the spec's names), folding.
Messages are at most 64 MiB. See docs/tools.md.
Exit status: 0 after a clean shutdown, 2 on a protocol or I/O error.";

/// Arguments of `capc lsp` (none: it talks on stdin and stdout).
#[derive(clap::Args)]
pub struct LspArgs {}

/// The largest message body the server reads (`Content-Length`): far more
/// than any spec, and a bound on what a bad header can make it allocate.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// Runs the language server until the client says `exit`.
pub fn run(_args: &LspArgs) -> ExitCode {
    let (connection, client) = Connection::memory();
    // The client's side of the in-memory connection, joined to stdin and
    // stdout by framing of our own: `lsp-server`'s stdio transport
    // allocates whatever `Content-Length` says.
    let (to_server, from_server) = (client.sender, client.receiver);
    let reader = std::thread::spawn(move || read_messages(to_server));
    let writer = std::thread::spawn(move || write_messages(from_server));
    let served = serve(&connection);
    drop(connection);
    let written = writer
        .join()
        .unwrap_or(Err("the writer thread panicked".to_string()));
    // After a clean `exit` the reader may still wait on stdin, so it is
    // not joined. A server that failed lost its channel because the reader
    // returned (dropping its end): joined, its error is the one to report.
    let read = if served.is_err() || reader.is_finished() {
        reader
            .join()
            .unwrap_or(Err("the reader thread panicked".to_string()))
    } else {
        Ok(())
    };
    match read.and(served).and(written) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: capc lsp: {e}");
            ExitCode::from(2)
        }
    }
}

/// Reads `Content-Length`-framed messages from stdin into `to_server`
/// until stdin ends; a header without a length, a length past
/// [`MAX_MESSAGE_BYTES`], or a body that is not a JSON-RPC message is an
/// error (the server then stops).
fn read_messages(to_server: crossbeam_channel::Sender<Message>) -> Result<(), String> {
    use std::io::{BufRead, Read};
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    loop {
        let mut length = None;
        loop {
            let mut line = String::new();
            let n = input
                .read_line(&mut line)
                .map_err(|e| format!("reading stdin: {e}"))?;
            if n == 0 {
                return Ok(()); // the client closed stdin
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                let value = value.trim();
                let bytes: usize = value
                    .parse()
                    .map_err(|_| format!("`Content-Length: {value}` is not a length"))?;
                if bytes > MAX_MESSAGE_BYTES {
                    return Err(format!(
                        "a message of {bytes} bytes (`Content-Length`) is more than the {} MiB a message may have",
                        MAX_MESSAGE_BYTES >> 20
                    ));
                }
                length = Some(bytes);
            }
        }
        let length = length.ok_or("a message header without `Content-Length`")?;
        let mut body = vec![0; length];
        input
            .read_exact(&mut body)
            .map_err(|e| format!("reading a message body of {length} bytes: {e}"))?;
        let message: Message = serde_json::from_slice(&body)
            .map_err(|e| format!("a message that is not JSON-RPC: {e}"))?;
        let exit = matches!(&message, Message::Notification(n) if n.method == "exit");
        if to_server.send(message).is_err() || exit {
            return Ok(());
        }
    }
}

/// Writes what the server sends to stdout, `Content-Length`-framed.
fn write_messages(from_server: crossbeam_channel::Receiver<Message>) -> Result<(), String> {
    use std::io::Write;
    let stdout = std::io::stdout();
    for message in from_server {
        let body = serde_json::to_string(&message).map_err(|e| e.to_string())?;
        let mut out = stdout.lock();
        write!(out, "Content-Length: {}\r\n\r\n{body}", body.len())
            .and_then(|()| out.flush())
            .map_err(|e| format!("writing stdout: {e}"))?;
    }
    Ok(())
}

fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        document_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec!["[".to_string()]),
            ..CompletionOptions::default()
        }),
        folding_range_provider: Some(FoldingRangeProviderCapability::Simple(true)),
        ..ServerCapabilities::default()
    }
}

fn serve(connection: &Connection) -> Result<(), String> {
    let capabilities = serde_json::to_value(capabilities()).map_err(|e| e.to_string())?;
    connection
        .initialize(capabilities)
        .map_err(|e| e.to_string())?;
    let mut server = Server::default();
    for message in &connection.receiver {
        let replies = match message {
            Message::Request(request) => {
                if connection
                    .handle_shutdown(&request)
                    .map_err(|e| e.to_string())?
                {
                    return Ok(());
                }
                vec![Message::Response(server.request(request))]
            }
            Message::Notification(notification) => server.notification(notification),
            Message::Response(_) => Vec::new(),
        };
        for reply in replies {
            connection.sender.send(reply).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// One open document.
struct Document {
    text: String,
    /// The compilation of the current text.
    current: Compilation,
    /// The last compilation that produced a model (maybe `current`).
    last_good: Option<Compilation>,
    /// The last text that parsed (maybe `text`), for symbols and folding
    /// while an edit leaves a syntax error.
    last_parsed: Option<String>,
}

impl Document {
    /// The parse of the text, or of the last text that parsed, and that text.
    fn parse(&self) -> Option<(&str, ast::File)> {
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
    fn model(&self) -> Option<(&Spec, &SourceMap)> {
        let c = if self.current.spec.is_some() {
            &self.current
        } else {
            self.last_good.as_ref()?
        };
        Some((c.spec.as_ref()?, &c.sources))
    }
}

#[derive(Default)]
struct Server {
    documents: BTreeMap<String, Document>,
}

impl Server {
    fn notification(&mut self, n: Notification) -> Vec<Message> {
        let uri = match n.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidOpenTextDocumentParams>(n.params)
                else {
                    return Vec::new();
                };
                self.update(&p.text_document.uri, p.text_document.text);
                p.text_document.uri
            }
            DidChangeTextDocument::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidChangeTextDocumentParams>(n.params)
                else {
                    return Vec::new();
                };
                // Full sync: the last change holds the whole text.
                let Some(change) = p.content_changes.into_iter().last() else {
                    return Vec::new();
                };
                self.update(&p.text_document.uri, change.text);
                p.text_document.uri
            }
            DidCloseTextDocument::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidCloseTextDocumentParams>(n.params)
                else {
                    return Vec::new();
                };
                self.documents.remove(p.text_document.uri.as_str());
                return vec![publish(p.text_document.uri, Vec::new())];
            }
            _ => return Vec::new(),
        };
        let diagnostics = self
            .documents
            .get(uri.as_str())
            .map(|d| diagnostics(&uri, d))
            .unwrap_or_default();
        vec![publish(uri, diagnostics)]
    }

    fn update(&mut self, uri: &Uri, text: String) {
        let path = uri_to_path(uri);
        let current = capc_dsl::compile_str(&path.to_string_lossy(), &text);
        let previous = self.documents.remove(uri.as_str());
        let parses = capc_dsl::parse::parse_file(FileId(0), &text).is_ok();
        let last_parsed = if parses {
            Some(text.clone())
        } else {
            previous.as_ref().and_then(|d| d.last_parsed.clone())
        };
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
                text,
                current,
                last_good,
                last_parsed,
            },
        );
    }

    fn request(&mut self, request: Request) -> Response {
        let id = request.id.clone();
        let result = match request.method.as_str() {
            HoverRequest::METHOD => serde_json::from_value::<HoverParams>(request.params)
                .map(|p| serde_json::to_value(self.hover(&p)).unwrap_or_default()),
            GotoDefinition::METHOD => {
                serde_json::from_value::<GotoDefinitionParams>(request.params)
                    .map(|p| serde_json::to_value(self.definition(&p)).unwrap_or_default())
            }
            DocumentSymbolRequest::METHOD => {
                serde_json::from_value::<DocumentSymbolParams>(request.params)
                    .map(|p| serde_json::to_value(self.symbols(&p)).unwrap_or_default())
            }
            Formatting::METHOD => {
                serde_json::from_value::<DocumentFormattingParams>(request.params)
                    .map(|p| serde_json::to_value(self.format(&p)).unwrap_or_default())
            }
            Completion::METHOD => serde_json::from_value::<CompletionParams>(request.params)
                .map(|p| serde_json::to_value(self.complete(&p)).unwrap_or_default()),
            FoldingRangeRequest::METHOD => {
                serde_json::from_value::<FoldingRangeParams>(request.params)
                    .map(|p| serde_json::to_value(self.folds(&p)).unwrap_or_default())
            }
            other => {
                return Response::new_err(
                    id,
                    lsp_server::ErrorCode::MethodNotFound as i32,
                    format!("capc lsp does not implement `{other}`"),
                );
            }
        };
        match result {
            Ok(value) => Response::new_ok(id, value),
            Err(e) => error_response(id, format!("invalid params: {e}")),
        }
    }

    /// `capc fmt`'s layout for the document: one edit replacing the whole
    /// text, none when it is formatted already; `None` (no edits) while it
    /// does not parse, which its diagnostics say.
    fn format(&self, p: &DocumentFormattingParams) -> Option<Vec<TextEdit>> {
        let document = self.documents.get(p.text_document.uri.as_str())?;
        let formatted = capc_dsl::fmt::format(FileId(0), &document.text).ok()?;
        if formatted == document.text {
            return Some(Vec::new());
        }
        let end = offset_to_position(&document.text, document.text.len());
        Some(vec![TextEdit {
            range: Range::new(Position::new(0, 0), end),
            new_text: formatted,
        }])
    }

    /// Completion: after `#[`, the attributes; elsewhere the keywords and
    /// the names the document's last model that checked defines (types,
    /// constants, rights), each with what it is.
    fn complete(&self, p: &CompletionParams) -> Option<CompletionResponse> {
        let at = &p.text_document_position;
        let document = self.documents.get(at.text_document.uri.as_str())?;
        let offset = position_to_offset(&document.text, at.position);
        let before = &document.text[..offset];
        let word = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let item = |label: &str, kind, detail: &str| CompletionItem {
            label: label.to_string(),
            kind: Some(kind),
            detail: Some(detail.to_string()),
            ..CompletionItem::default()
        };
        if before[..word].ends_with("#[") {
            let items = capc_dsl::check::FIELD_ATTRS
                .iter()
                .chain(OTHER_ATTRIBUTES)
                .map(|a| item(a, CompletionItemKind::PROPERTY, "attribute"))
                .collect();
            return Some(CompletionResponse::Array(items));
        }
        let mut items: Vec<CompletionItem> = KEYWORDS
            .iter()
            .map(|k| item(k, CompletionItemKind::KEYWORD, "keyword"))
            .collect();
        if let Some((spec, _)) = document.model() {
            let kinds = [
                (CompletionItemKind::STRUCT, "object type"),
                (CompletionItemKind::STRUCT, "cap type"),
                (CompletionItemKind::ENUM, "error set"),
                (CompletionItemKind::INTERFACE, "interface"),
                (CompletionItemKind::CONSTANT, "constant"),
                (CompletionItemKind::ENUM_MEMBER, "right"),
            ];
            let lists: [Vec<&str>; 6] = [
                spec.objects.iter().map(|o| o.name.as_str()).collect(),
                spec.caps.iter().map(|c| c.name.as_str()).collect(),
                spec.error_sets.iter().map(|e| e.name.as_str()).collect(),
                spec.interfaces.iter().map(|i| i.name.as_str()).collect(),
                spec.consts.iter().map(|c| c.name.as_str()).collect(),
                spec.rights.iter().map(|r| r.name.as_str()).collect(),
            ];
            for ((kind, detail), names) in kinds.into_iter().zip(lists) {
                items.extend(names.into_iter().map(|name| item(name, kind, detail)));
            }
        }
        Some(CompletionResponse::Array(items))
    }

    /// Folding: each item of more than one line, from the parse alone.
    fn folds(&self, p: &FoldingRangeParams) -> Option<Vec<FoldingRange>> {
        let document = self.documents.get(p.text_document.uri.as_str())?;
        let (text, file) = document.parse()?;
        let folds = file
            .items
            .iter()
            .filter_map(|item| {
                let start = offset_to_position(text, item.span.start as usize);
                let end = offset_to_position(text, item.span.end as usize);
                (end.line > start.line).then(|| FoldingRange {
                    start_line: start.line,
                    end_line: end.line,
                    ..FoldingRange::default()
                })
            })
            .collect();
        Some(folds)
    }

    /// The name under the cursor and the document it is in.
    fn word_at(&self, uri: &Uri, position: Position) -> Option<(&Document, String)> {
        let document = self.documents.get(uri.as_str())?;
        let offset = position_to_offset(&document.text, position);
        let word = word_at(&document.text, offset)?;
        Some((document, word.to_string()))
    }

    fn hover(&self, p: &HoverParams) -> Option<Hover> {
        let position = &p.text_document_position_params;
        let (document, word) = self.word_at(&position.text_document.uri, position.position)?;
        let (spec, _) = document.model()?;
        // Whether the name is declared as a method here (`fn name`).
        let offset = position_to_offset(&document.text, position.position);
        let start = document.text[..offset]
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let before = document.text[..start].trim_end();
        let after_fn = before.len() < start
            && before
                .strip_suffix("fn")
                .is_some_and(|rest| !rest.ends_with(|c: char| c.is_alphanumeric() || c == '_'));
        let text = hover_text(spec, &word, after_fn)?;
        Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: text,
            }),
            range: None,
        })
    }

    fn definition(&self, p: &GotoDefinitionParams) -> Option<GotoDefinitionResponse> {
        let position = &p.text_document_position_params;
        let (document, word) = self.word_at(&position.text_document.uri, position.position)?;
        let (spec, sources) = document.model()?;
        let spans = definitions(spec, &word);
        let root = &position.text_document.uri;
        let locations: Vec<Location> = spans
            .into_iter()
            .filter_map(|span| location(root, sources, span))
            .collect();
        match locations.len() {
            0 => None,
            1 => locations
                .into_iter()
                .next()
                .map(GotoDefinitionResponse::Scalar),
            _ => Some(GotoDefinitionResponse::Array(locations)),
        }
    }

    fn symbols(&self, p: &DocumentSymbolParams) -> Option<DocumentSymbolResponse> {
        let document = self.documents.get(p.text_document.uri.as_str())?;
        let (text, file) = document.parse()?;
        Some(DocumentSymbolResponse::Nested(document_symbols(
            text, &file,
        )))
    }
}

/// The words that start items and statements, for completion.
const KEYWORDS: &[&str] = &[
    "use",
    "const",
    "target",
    "rights",
    "untyped",
    "frame",
    "object",
    "errors",
    "abstract",
    "cap",
    "for",
    "inherits",
    "retype",
    "invocations",
    "interface",
    "fn",
    "slot",
    "size",
    "align",
    "memory",
    "finalise",
    "table",
    "into",
    "fan_out",
    "requires",
    "donates",
    "allocates",
    "out_of_budget",
    "grant",
    "lend",
    "word",
    "bool",
    "ptr",
];

/// The attributes besides a field's roles (`capc_dsl::check::FIELD_ATTRS`),
/// for completion after `#[`: a cap type's, a slot's, a parameter's, and
/// the lints'.
const OTHER_ATTRIBUTES: &[&str] = &[
    "always_copy",
    "never_copy",
    "required",
    "unchecked",
    "allow",
];

fn error_response(id: RequestId, message: String) -> Response {
    Response::new_err(id, lsp_server::ErrorCode::InvalidParams as i32, message)
}

fn publish(uri: Uri, diagnostics: Vec<Diagnostic>) -> Message {
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
fn diagnostics(uri: &Uri, document: &Document) -> Vec<Diagnostic> {
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
fn location(root: &Uri, sources: &SourceMap, span: Span) -> Option<Location> {
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

// ------------------------------------------------------------- positions

/// LSP counts columns in UTF-16 code units.
fn offset_to_position(text: &str, offset: usize) -> Position {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let character = text[line_start..offset].encode_utf16().count();
    Position::new(line as u32, character as u32)
}

fn position_to_offset(text: &str, position: Position) -> usize {
    let mut line_start = 0;
    for _ in 0..position.line {
        match text[line_start..].find('\n') {
            Some(i) => line_start += i + 1,
            None => return text.len(),
        }
    }
    let line = &text[line_start..];
    let line = &line[..line.find('\n').unwrap_or(line.len())];
    let mut units = 0;
    for (i, c) in line.char_indices() {
        if units >= position.character as usize {
            return line_start + i;
        }
        units += c.len_utf16();
    }
    line_start + line.len()
}

fn span_range(text: &str, span: Span) -> Range {
    Range::new(
        offset_to_position(text, span.start as usize),
        offset_to_position(text, span.end as usize),
    )
}

/// The name around byte `offset`.
fn word_at(text: &str, offset: usize) -> Option<&str> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let offset = offset.min(text.len());
    let start = text[..offset]
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_word(*c))
        .last()
        .map_or(offset, |(i, _)| i);
    let end = text[offset..]
        .find(|c: char| !is_word(c))
        .map_or(text.len(), |i| offset + i);
    (start < end).then(|| &text[start..end])
}

fn uri_to_path(uri: &Uri) -> PathBuf {
    let text = uri.as_str();
    let path = text.strip_prefix("file://").unwrap_or(text);
    PathBuf::from(percent_decode(path))
}

fn path_to_uri(path: &Path) -> Option<Uri> {
    let absolute = std::path::absolute(path).ok()?;
    let mut text = String::from("file://");
    for byte in absolute.to_string_lossy().bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                text.push(byte as char)
            }
            _ => text.push_str(&format!("%{byte:02X}")),
        }
    }
    Uri::from_str(&text).ok()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ------------------------------------------------------------- hover

/// Markdown about every declaration called `name`.
fn hover_text(spec: &Spec, name: &str, after_fn: bool) -> Option<String> {
    let (mut parts, mut methods) = (Vec::new(), Vec::new());
    let docs = |docs: &[String]| {
        if docs.is_empty() {
            String::new()
        } else {
            format!("\n\n{}", docs.join("\n"))
        }
    };
    if let Some(c) = spec.consts.iter().find(|c| c.name == name) {
        parts.push(format!(
            "```cap\nconst {} = {}\n```{}",
            c.name,
            c.value,
            docs(&c.docs)
        ));
    }
    if let Some((bit, r)) = spec.rights.iter().enumerate().find(|(_, r)| r.name == name) {
        parts.push(format!("right `{}` (bit {bit}){}", r.name, docs(&r.docs)));
    }
    if let Some(index) = spec.objects.iter().position(|o| o.name == name) {
        parts.push(object_hover(spec, ObjectId(index as u32)));
    }
    for o in &spec.objects {
        for slot in o.slots.iter().filter(|s| s.name == name) {
            parts.push(format!(
                "slot `{}.{}`: `{}` at byte {} of `{}`\n\n\
                 A cap put there must carry {}; it is deleted when the last cap to `{}` goes.{}",
                o.name,
                slot.name,
                slot_type(spec, slot),
                crate::doc::slot_offset(slot),
                o.name,
                crate::doc::required_rights(spec, &slot.rights),
                o.name,
                docs(&slot.docs)
            ));
        }
    }
    if let Some(f) = Finaliser::from_name(name) {
        let users: Vec<(usize, &Object)> = spec
            .objects
            .iter()
            .enumerate()
            .filter(|(_, o)| o.finalisers.contains(&f))
            .collect();
        for (index, o) in users {
            parts.push(format!(
                "finaliser `{}` of `{}`: when the last cap to it goes, the kernel {}",
                f.name(),
                o.name,
                crate::doc::finaliser_text(spec, ObjectId(index as u32), f)
            ));
        }
    }
    if let Some(cap) = spec.caps.iter().find(|c| c.name == name) {
        let mut text = format!(
            "cap `{}` (tag {}){}\n\n",
            cap.name,
            cap.tag,
            docs(&cap.docs)
        );
        crate::doc::layout(&mut text, spec, cap);
        parts.push(text.trim_end().to_string());
    }
    for set in spec.error_sets.iter().filter(|s| s.name == name) {
        let variants: Vec<String> = set
            .variants
            .iter()
            .map(|v| format!("`{}`", v.name))
            .collect();
        parts.push(format!(
            "errors `{}`: {}{}",
            set.name,
            variants.join(", "),
            docs(&set.docs)
        ));
    }
    for set in &spec.error_sets {
        for (i, v) in set
            .variants
            .iter()
            .enumerate()
            .filter(|(_, v)| v.name == name)
        {
            parts.push(format!(
                "`{}::{}` (number {}){}",
                set.name,
                v.name,
                i + 1,
                docs(&v.docs)
            ));
        }
    }
    for set in spec.invocations.iter().chain(&spec.interfaces) {
        if set.name == name && set.cap.is_none() {
            let methods: Vec<String> = set
                .methods
                .iter()
                .map(|m| format!("`{}`", m.name))
                .collect();
            parts.push(format!(
                "interface `{}`: {}{}",
                set.name,
                methods.join(", "),
                docs(&set.docs)
            ));
        }
        for method in set.methods.iter().filter(|m| m.name == name) {
            let mut text = String::new();
            crate::doc::method(&mut text, spec, set, method);
            let text = text.replacen(
                &format!("#### `{}`", method.name),
                &format!("`{}.{}`", set.name, method.name),
                1,
            );
            methods.push(text.trim_end().to_string());
        }
    }
    // Methods have a namespace of their own: after `fn` the name is a
    // method's, elsewhere anything else of the name (a right `read` is not
    // the method `read`), and a method only when nothing else is.
    let shown = match (after_fn, parts.is_empty()) {
        (true, _) | (false, true) => methods,
        (false, false) => parts,
    };
    (!shown.is_empty()).then(|| shown.join("\n\n---\n\n"))
}

/// An object's size, docs, what removing its last cap undoes and its slots.
fn object_hover(spec: &Spec, object: ObjectId) -> String {
    let o = &spec.objects[object.index()];
    let size = match &o.size.param {
        None => crate::graph::bytes_pow(o.size.min_bits()),
        Some(param) => format!(
            "by `{param}` from {} ({}) to {} ({})",
            o.size.min_arg(),
            crate::graph::bytes_pow(o.size.min_bits()),
            o.size.max_arg(),
            crate::graph::bytes_pow(o.size.max_bits())
        ),
    };
    let memory = match (o.ram, o.device) {
        (true, true) => "RAM or device memory",
        (false, true) => "device memory",
        _ => "RAM",
    };
    let mut text = format!(
        "object `{}`: size {size}, alignment {}, in {memory}",
        o.name,
        o.align_bits
            .map_or("its size".to_string(), crate::graph::bytes_pow),
    );
    if !o.docs.is_empty() {
        text.push_str("\n\n");
        text.push_str(&o.docs.join("\n"));
    }
    let undone = crate::doc::finalisation(spec, object);
    if !undone.is_empty() {
        let order = if undone.len() > 1 { ", in order" } else { "" };
        text.push_str(&format!("\n\nWhen its last cap goes, the kernel{order}:\n"));
        for (i, step) in undone.iter().enumerate() {
            text.push_str(&format!("\n{}. {step}", i + 1));
        }
    }
    if !o.slots.is_empty() {
        let slot_bits = spec.target.slot_bits.unwrap_or_default();
        text.push_str(&format!(
            "\n\nOwned slots, {} each:\n",
            crate::graph::bytes_pow(slot_bits)
        ));
        for slot in &o.slots {
            text.push_str(&format!(
                "\n- `{}`: `{}` at byte {}",
                slot.name,
                slot_type(spec, slot),
                crate::doc::slot_offset(slot)
            ));
        }
    }
    text
}

/// A slot's cap type with the rights it requires, as the spec writes it:
/// `FrameCap(read, write)`.
fn slot_type(spec: &Spec, slot: &OwnedSlot) -> String {
    let cap = &spec.caps[slot.cap.index()].name;
    format!("{cap}{}", crate::graph::rights_list(spec, &slot.rights))
}

/// Where every declaration called `name` is.
fn definitions(spec: &Spec, name: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    spans.extend(
        spec.consts
            .iter()
            .filter(|c| c.name == name)
            .map(|c| c.span),
    );
    spans.extend(
        spec.rights
            .iter()
            .filter(|r| r.name == name)
            .map(|r| r.span),
    );
    spans.extend(
        spec.objects
            .iter()
            .filter(|o| o.name == name)
            .map(|o| o.span),
    );
    spans.extend(spec.caps.iter().filter(|c| c.name == name).map(|c| c.span));
    spans.extend(
        spec.error_sets
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.span),
    );
    spans.extend(
        spec.interfaces
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.span),
    );
    if spans.is_empty() {
        for o in &spec.objects {
            spans.extend(o.slots.iter().filter(|s| s.name == name).map(|s| s.span));
        }
        for set in spec.invocations.iter().chain(&spec.interfaces) {
            spans.extend(
                set.methods
                    .iter()
                    .filter(|m| m.name == name)
                    .map(|m| m.span),
            );
        }
    }
    spans
}

// ------------------------------------------------------------- symbols

#[allow(deprecated)] // `DocumentSymbol::deprecated` must be named to build one
fn symbol(
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

fn document_symbols(text: &str, file: &ast::File) -> Vec<DocumentSymbol> {
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
            ItemKind::Retype(r) => symbol(
                text,
                &format!("retype {}", r.source.name),
                None,
                SymbolKind::OPERATOR,
                span,
                r.source.span,
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
