//! Semantic tokens (whole document): keywords, numbers, strings, comments
//! and operators from the parse tree ([`capc_dsl::tokens`]), and each name
//! as what the index of the parse says it names (a cap type, a right, a
//! method ...), declarations marked.

use std::collections::BTreeMap;

use capc_dsl::FileId;
use capc_dsl::tokens::TokenKind;
use lsp_types::{
    SemanticToken, SemanticTokenModifier, SemanticTokenType, SemanticTokens, SemanticTokensLegend,
    SemanticTokensParams, SemanticTokensResult,
};

use super::Server;
use super::index::{Occurrence, Symbol, TypeKind};
use super::position::offset_to_position;

/// The token types, in the order the legend gives them (their numbers).
const TYPES: &[SemanticTokenType] = &[
    SemanticTokenType::NAMESPACE,
    SemanticTokenType::TYPE,
    SemanticTokenType::CLASS,
    SemanticTokenType::ENUM,
    SemanticTokenType::INTERFACE,
    SemanticTokenType::STRUCT,
    SemanticTokenType::TYPE_PARAMETER,
    SemanticTokenType::PARAMETER,
    SemanticTokenType::VARIABLE,
    SemanticTokenType::PROPERTY,
    SemanticTokenType::ENUM_MEMBER,
    SemanticTokenType::METHOD,
    SemanticTokenType::DECORATOR,
    SemanticTokenType::KEYWORD,
    SemanticTokenType::COMMENT,
    SemanticTokenType::STRING,
    SemanticTokenType::NUMBER,
    SemanticTokenType::OPERATOR,
];

/// The token modifiers, in the order of their bits.
const MODIFIERS: &[SemanticTokenModifier] = &[
    SemanticTokenModifier::DECLARATION,
    SemanticTokenModifier::DOCUMENTATION,
    SemanticTokenModifier::READONLY,
    SemanticTokenModifier::DEFAULT_LIBRARY,
];

pub(super) fn legend() -> SemanticTokensLegend {
    SemanticTokensLegend {
        token_types: TYPES.to_vec(),
        token_modifiers: MODIFIERS.to_vec(),
    }
}

/// The number of a token type in the legend.
fn type_index(ty: &SemanticTokenType) -> u32 {
    TYPES.iter().position(|t| t == ty).unwrap_or_default() as u32
}

/// The bit set of some modifiers.
fn modifier_bits(modifiers: &[SemanticTokenModifier]) -> u32 {
    modifiers
        .iter()
        .filter_map(|m| MODIFIERS.iter().position(|x| x == m))
        .fold(0, |bits, i| bits | 1 << i)
}

impl Server {
    /// The document's tokens; `None` while it does not parse.
    pub(super) fn semantic_tokens(&self, p: &SemanticTokensParams) -> Option<SemanticTokensResult> {
        let uri = &p.text_document.uri;
        let document = self.documents.get(uri.as_str())?;
        let text = document.text.as_str();
        let tokens = capc_dsl::tokens::tokens(FileId(0), text).ok()?;
        let graph = self.graph(uri)?;
        let kinds = graph.type_kinds();
        let names: BTreeMap<usize, &Occurrence> = graph
            .occurrences
            .iter()
            .filter(|o| o.span.file == FileId(0))
            .map(|o| (o.span.start as usize, o))
            .collect();
        let mut data = Vec::new();
        let (mut line, mut column) = (0, 0);
        for token in tokens {
            use SemanticTokenModifier as M;
            use SemanticTokenType as T;
            let (ty, modifiers): (T, Vec<M>) = match token.kind {
                TokenKind::Keyword => (T::KEYWORD, vec![]),
                TokenKind::BuiltinType => (T::TYPE, vec![M::DEFAULT_LIBRARY]),
                TokenKind::Number => (T::NUMBER, vec![]),
                TokenKind::String => (T::STRING, vec![]),
                TokenKind::Doc => (T::COMMENT, vec![M::DOCUMENTATION]),
                TokenKind::Comment => (T::COMMENT, vec![]),
                TokenKind::Operator => (T::OPERATOR, vec![]),
                TokenKind::Name => {
                    let Some(o) = names.get(&token.start) else {
                        continue;
                    };
                    let (ty, mut modifiers) = match &o.symbol {
                        Symbol::Type(name) => (
                            match kinds.get(name.as_str()) {
                                Some(TypeKind::Object) => T::CLASS,
                                Some(TypeKind::Cap | TypeKind::Record) => T::STRUCT,
                                Some(TypeKind::Errors | TypeKind::Enum) => T::ENUM,
                                Some(TypeKind::Interface) => T::INTERFACE,
                                None => T::TYPE,
                            },
                            vec![],
                        ),
                        Symbol::Right(_) | Symbol::Variant { .. } => (T::ENUM_MEMBER, vec![]),
                        Symbol::Const(_) => (T::VARIABLE, vec![M::READONLY]),
                        Symbol::SizeParam { .. } => (T::TYPE_PARAMETER, vec![]),
                        Symbol::Param { .. } => (T::PARAMETER, vec![]),
                        Symbol::Payload { .. } | Symbol::Slot { .. } | Symbol::Field { .. } => {
                            (T::PROPERTY, vec![])
                        }
                        Symbol::Method { .. } => (T::METHOD, vec![]),
                        Symbol::Target(_) => (T::NAMESPACE, vec![]),
                        Symbol::Setting(_) => (T::PROPERTY, vec![M::DEFAULT_LIBRARY]),
                        Symbol::Attribute(_) => (T::DECORATOR, vec![M::DEFAULT_LIBRARY]),
                        Symbol::Builtin(_) => (T::ENUM_MEMBER, vec![M::DEFAULT_LIBRARY]),
                    };
                    if o.declaration {
                        modifiers.push(M::DECLARATION);
                    }
                    (ty, modifiers)
                }
            };
            let (ty, bits) = (type_index(&ty), modifier_bits(&modifiers));
            // A token is on one line: a block comment is one per line.
            let mut start = token.start;
            for piece in text[token.start..token.end].split_inclusive('\n') {
                let end = start + piece.trim_end_matches(['\n', '\r']).len();
                if end > start {
                    let at = offset_to_position(text, start);
                    let length = text[start..end].encode_utf16().count() as u32;
                    let delta_line = at.line - line;
                    let delta_start = if delta_line == 0 {
                        at.character - column
                    } else {
                        at.character
                    };
                    data.push(SemanticToken {
                        delta_line,
                        delta_start,
                        length,
                        token_type: ty,
                        token_modifiers_bitset: bits,
                    });
                    (line, column) = (at.line, at.character);
                }
                start += piece.len();
            }
        }
        Some(SemanticTokensResult::Tokens(SemanticTokens {
            result_id: None,
            data,
        }))
    }
}
