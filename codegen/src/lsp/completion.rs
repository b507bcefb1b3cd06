//! Completion: keywords, attributes after `#[`, the spec's names.

use super::Server;
use super::position::position_to_offset;
use lsp_types::{CompletionItem, CompletionItemKind, CompletionParams, CompletionResponse};

impl Server {
    /// Completion: after `#[`, the attributes; elsewhere the keywords and
    /// the names the document's last model that checked defines (types,
    /// constants, rights), each with what it is.
    pub(super) fn complete(&self, p: &CompletionParams) -> Option<CompletionResponse> {
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
                (CompletionItemKind::STRUCT, "message type"),
            ];
            let lists: [Vec<&str>; 7] = [
                spec.objects.iter().map(|o| o.name.as_str()).collect(),
                spec.caps.iter().map(|c| c.name.as_str()).collect(),
                spec.error_sets.iter().map(|e| e.name.as_str()).collect(),
                spec.interfaces.iter().map(|i| i.name.as_str()).collect(),
                spec.consts.iter().map(|c| c.name.as_str()).collect(),
                spec.rights.iter().map(|r| r.name.as_str()).collect(),
                spec.data_types.iter().map(|t| t.name.as_str()).collect(),
            ];
            for ((kind, detail), names) in kinds.into_iter().zip(lists) {
                items.extend(names.into_iter().map(|name| item(name, kind, detail)));
            }
        }
        Some(CompletionResponse::Array(items))
    }
}

/// The words that start items and statements, for completion.
pub(super) const KEYWORDS: &[&str] = &[
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
    "derive",
    "from",
    "invocations",
    "interface",
    "struct",
    "enum",
    "bitfield",
    "syscalls",
    "sends",
    "receives",
    "type",
    "config",
    "fn",
    "slot",
    "size",
    "align",
    "memory",
    "finalise",
    "table",
    "asid_pool",
    "into",
    "fan_out",
    "requires",
    "donates",
    "allocates",
    "creates",
    "out_of_budget",
    "session",
    "binds",
    "keeps",
    "refunds",
    "server_pays",
    "grant",
    "move",
    "lend",
    "null",
    "word",
    "bool",
    "ptr",
    "string",
    "Option",
];

/// The attributes besides a field's roles (`capc_dsl::check::FIELD_ATTRS`),
/// for completion after `#[`: a cap type's, a slot's, a parameter's, a
/// method's, an invocations block's, a derivation rule's, a retype rule's,
/// and the lints'.
pub(super) const OTHER_ATTRIBUTES: &[&str] = &[
    "always_copy",
    "never_copy",
    "copy",
    "required",
    "unchecked",
    "multiple",
    "at_offset",
    "range",
    "allow",
    "label",
    "label_base",
    "oneway",
    "cfg",
];
