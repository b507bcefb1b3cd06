//! `capc lsp`: a language server for `.cap` files over stdio.
//!
//! Built on `lsp-server` (the JSON-RPC transport rust-analyzer uses) and
//! `lsp-types`. Each open document is compiled on open and on every change
//! (full-text sync), its imports read from the editor's buffers where they
//! are open and from the disk otherwise ([`capc_dsl::OverlayLoader`]); a
//! change re-checks every open document, since one may import another. Its
//! diagnostics are published with their codes, ranges in UTF-16 columns as
//! LSP counts them, and the hint and notes in the message. Hover (doc
//! comment, size, owned slots and what removing the last cap undoes, bit
//! layout, signature and cost) and go-to-definition read the checked model
//! of the document, or of its last version that checked when the current
//! one has errors; document symbols (items, with an object's owned slots
//! under it) come from the parse alone (of the last text that parsed, while
//! an edit leaves a syntax error), so they work in a spec that does not
//! check yet. The server keeps no state besides the open documents.
//!
//! References, rename, workspace symbols and semantic tokens read an index
//! of every name written in the open documents and their imports, built
//! from the parse and aware of the namespaces ([`index`]).
//!
//! One module per concern: [`io`] the framing, [`documents`] the open
//! documents and their diagnostics, [`position`] offsets, positions and
//! URIs, [`index`] the names, [`navigation`] hover and definition,
//! [`references`] references and rename, [`symbols`] document and workspace
//! symbols, [`tokens`] semantic tokens, [`actions`] quick fixes,
//! [`completion`], [`formatting`] (and folding).

use std::collections::BTreeMap;
use std::process::ExitCode;

use lsp_server::{Connection, Message, Request, RequestId, Response};
use lsp_types::request::{
    CodeActionRequest, Completion, DocumentSymbolRequest, FoldingRangeRequest, Formatting,
    GotoDefinition, HoverRequest, PrepareRenameRequest, References, Rename, Request as _,
    SemanticTokensFullRequest, WorkspaceSymbolRequest,
};
use lsp_types::{
    CodeActionKind, CodeActionOptions, CodeActionProviderCapability, CompletionOptions,
    FoldingRangeProviderCapability, HoverProviderCapability, OneOf, RenameOptions,
    SemanticTokensFullOptions, SemanticTokensOptions, SemanticTokensServerCapabilities,
    ServerCapabilities, TextDocumentSyncCapability, TextDocumentSyncKind, WorkDoneProgressOptions,
};

mod actions;
mod completion;
mod documents;
mod formatting;
mod index;
mod io;
mod navigation;
mod position;
mod references;
mod symbols;
mod tokens;

use documents::Document;
use io::{read_messages, write_messages};

pub const LSP_EXAMPLES: &str = "\
Examples:
  capc lsp                       speak LSP on stdin/stdout (started by an editor)

VS Code: the extension in editors/vscode starts `capc lsp` for .cap files.
Neovim:  vim.lsp.start({ name = 'capc', cmd = { 'capc', 'lsp' } })
Features: diagnostics with codes on open and change (imports read from open buffers), quick
fixes from the diagnostics' suggestions, hover (docs, sizes, owned slots and finalisers, cap
layouts, method costs), go to definition, references and rename across imports (by
namespace), document and workspace symbols, semantic tokens, formatting (capc fmt's layout),
completion (keywords, attributes after `#[`, the spec's names), folding.
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

fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: WorkDoneProgressOptions::default(),
        })),
        document_symbol_provider: Some(OneOf::Left(true)),
        workspace_symbol_provider: Some(OneOf::Left(true)),
        semantic_tokens_provider: Some(SemanticTokensServerCapabilities::SemanticTokensOptions(
            SemanticTokensOptions {
                legend: tokens::legend(),
                full: Some(SemanticTokensFullOptions::Bool(true)),
                ..SemanticTokensOptions::default()
            },
        )),
        document_formatting_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
            ..CodeActionOptions::default()
        })),
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

#[derive(Default)]
struct Server {
    pub(super) documents: BTreeMap<String, Document>,
}

impl Server {
    fn request(&mut self, request: Request) -> Response {
        let (id, params) = (request.id, request.params);
        match request.method.as_str() {
            HoverRequest::METHOD => respond::<HoverRequest>(id, params, |p| Ok(self.hover(p))),
            GotoDefinition::METHOD => {
                respond::<GotoDefinition>(id, params, |p| Ok(self.definition(p)))
            }
            References::METHOD => respond::<References>(id, params, |p| Ok(self.references(p))),
            PrepareRenameRequest::METHOD => {
                respond::<PrepareRenameRequest>(id, params, |p| self.prepare_rename(p))
            }
            Rename::METHOD => respond::<Rename>(id, params, |p| self.rename(p)),
            DocumentSymbolRequest::METHOD => {
                respond::<DocumentSymbolRequest>(id, params, |p| Ok(self.symbols(p)))
            }
            WorkspaceSymbolRequest::METHOD => {
                respond::<WorkspaceSymbolRequest>(id, params, |p| Ok(self.workspace_symbols(p)))
            }
            SemanticTokensFullRequest::METHOD => {
                respond::<SemanticTokensFullRequest>(id, params, |p| Ok(self.semantic_tokens(p)))
            }
            CodeActionRequest::METHOD => {
                respond::<CodeActionRequest>(id, params, |p| Ok(self.code_actions(p)))
            }
            Formatting::METHOD => respond::<Formatting>(id, params, |p| Ok(self.format(p))),
            Completion::METHOD => respond::<Completion>(id, params, |p| Ok(self.complete(p))),
            FoldingRangeRequest::METHOD => {
                respond::<FoldingRangeRequest>(id, params, |p| Ok(self.folds(p)))
            }
            other => Response::new_err(
                id,
                lsp_server::ErrorCode::MethodNotFound as i32,
                format!("capc lsp does not implement `{other}`"),
            ),
        }
    }
}

/// The response to a request of type `R`: its result, or an error with
/// `handle`'s message (`RequestFailed`), or for parameters that are not
/// `R`'s, an `InvalidParams` error.
fn respond<R: lsp_types::request::Request>(
    id: RequestId,
    params: serde_json::Value,
    handle: impl FnOnce(&R::Params) -> Result<R::Result, String>,
) -> Response {
    let params = match serde_json::from_value::<R::Params>(params) {
        Ok(params) => params,
        Err(e) => return error_response(id, format!("invalid params: {e}")),
    };
    let result = handle(&params).and_then(|r| serde_json::to_value(r).map_err(|e| e.to_string()));
    match result {
        Ok(value) => Response::new_ok(id, value),
        Err(message) => Response::new_err(id, lsp_server::ErrorCode::RequestFailed as i32, message),
    }
}

fn error_response(id: RequestId, message: String) -> Response {
    Response::new_err(id, lsp_server::ErrorCode::InvalidParams as i32, message)
}
