//! The tokens of a file, for highlighting: what each piece of text is, from
//! the parse tree of grammars/cap.pest (the one parser, as in [`crate::fmt`]).
//!
//! The tree's leaves are the keywords, names, numbers, quoted paths, doc
//! comments and operators. The text between two leaves holds only
//! whitespace, punctuation, comments (the grammar's `COMMENT` rule is
//! silent) and the contextual keywords the grammar writes as plain strings
//! (`size`, `requires`, ...): those are found in the gaps, a word there being
//! such a keyword. What a name names is not decided here: the language
//! server's index of the parse does that.

use pest::Parser as _;
use pest::iterators::Pair;

use crate::diag::Diagnostic;
use crate::parse::grammar::{CapParser, Rule};
use crate::source::FileId;

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TokenKind {
    /// A keyword, contextual ones (`size`, `requires`) included.
    Keyword,
    /// A built-in type: `word`, `bool`, `u8` ...
    BuiltinType,
    /// A name.
    Name,
    /// An integer literal, or its unit (`KiB`).
    Number,
    /// The quoted path of a `use`.
    String,
    /// A doc comment (`///`, `//!`).
    Doc,
    /// A `//` or `/* */` comment.
    Comment,
    /// `+`, `-`, `*`, `<<`.
    Operator,
}

/// One token: a byte range of the text and what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    /// What it is.
    pub kind: TokenKind,
    /// Its first byte.
    pub start: usize,
    /// One past its last byte.
    pub end: usize,
}

/// Every token of `text`, in order. On a syntax error, the diagnostic (in
/// `file`) instead.
#[allow(clippy::result_large_err)] // the error path runs at most once per file
pub fn tokens(file: FileId, text: &str) -> Result<Vec<Token>, Diagnostic> {
    crate::parse::parse_file(file, text)?;
    let root = CapParser::parse(Rule::file, text)
        .expect("a file that parsed once parses again")
        .next()
        .expect("the file rule always yields one pair");
    let mut leaves = Vec::new();
    leaves_of(root, &mut leaves);
    let mut out = Vec::new();
    let mut at = 0;
    for (start, end, rule) in leaves {
        gap_tokens(text, at, start, &mut out);
        if let Some(kind) = leaf_kind(rule) {
            out.push(Token { kind, start, end });
        }
        at = at.max(end);
    }
    gap_tokens(text, at, text.len(), &mut out);
    Ok(out)
}

fn leaf_kind(rule: Rule) -> Option<TokenKind> {
    Some(match rule {
        Rule::ident => TokenKind::Name,
        Rule::string => TokenKind::String,
        Rule::outer_doc | Rule::inner_doc => TokenKind::Doc,
        Rule::dec_int | Rule::hex_int | Rule::bin_int | Rule::unit | Rule::literal => {
            TokenKind::Number
        }
        Rule::add | Rule::sub | Rule::mul | Rule::shl => TokenKind::Operator,
        Rule::bool_type | Rule::uint_type | Rule::word_type => TokenKind::BuiltinType,
        Rule::kw_use
        | Rule::kw_const
        | Rule::kw_target
        | Rule::kw_rights
        | Rule::kw_untyped
        | Rule::kw_frame
        | Rule::kw_object
        | Rule::kw_errors
        | Rule::kw_cap
        | Rule::kw_for
        | Rule::kw_retype
        | Rule::kw_invocations
        | Rule::kw_interface
        | Rule::kw_fn
        | Rule::kw_in
        | Rule::kw_slot
        | Rule::kw_x
        | Rule::kw_of
        | Rule::kw_inherits
        | Rule::abstract_mark
        | Rule::callback_mark
        | Rule::kw_binds
        | Rule::kw_syscalls
        | Rule::sk_sends
        | Rule::sk_receives
        | Rule::grant
        | Rule::lend => TokenKind::Keyword,
        _ => return None,
    })
}

/// The comments and contextual keywords between two leaves.
fn gap_tokens(text: &str, from: usize, to: usize, out: &mut Vec<Token>) {
    let comments = comments_in(text, from, to);
    let mut at = from;
    for &(start, end) in comments.iter().chain(std::iter::once(&(to, to))) {
        // Words between comments are the grammar's contextual keywords.
        let gap = &text[at..start];
        let mut i = 0;
        while i < gap.len() {
            let rest = &gap[i..];
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if len > 0 && rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                out.push(Token {
                    kind: TokenKind::Keyword,
                    start: at + i,
                    end: at + i + len,
                });
                i += len;
            } else {
                i += rest.chars().next().map_or(1, char::len_utf8).max(len);
            }
        }
        if start < end {
            out.push(Token {
                kind: TokenKind::Comment,
                start,
                end,
            });
        }
        at = end;
    }
}

/// The `//` and `/* */` comments in `text[from..to]`, a gap between two
/// leaves of the parse tree (which holds no strings, names or numbers), as
/// byte ranges; a line comment ends before its newline.
pub(crate) fn comments_in(text: &str, from: usize, to: usize) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut i = from;
    while i < to {
        let rest = &text[i..to];
        let len = if rest.starts_with("//") {
            rest.find('\n').unwrap_or(rest.len())
        } else if let Some(body) = rest.strip_prefix("/*") {
            body.find("*/").map_or(rest.len(), |n| n + 4)
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        };
        found.push((i, i + len));
        i += len;
    }
    found
}

/// The pairs with no inner pairs, in source order, with their rules.
pub(crate) fn leaves_of(pair: Pair<'_, Rule>, out: &mut Vec<(usize, usize, Rule)>) {
    let span = pair.as_span();
    let rule = pair.as_rule();
    let mut inner = pair.into_inner().peekable();
    if inner.peek().is_none() {
        // `()` is the one rule that can match no token: its text is punctuation
        // (and perhaps comments), not a leaf.
        if span.start() < span.end() && rule != Rule::params {
            out.push((span.start(), span.end(), rule));
        }
        return;
    }
    for p in inner {
        leaves_of(p, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_piece_of_a_file_is_classified() {
        let text =
            "/// Doc.\nconst A = 4 KiB; // note\nobject O(n in 1..=2) {\n    size = 1 << n;\n}\n";
        let tokens = tokens(FileId(0), text).unwrap();
        let shown: Vec<(TokenKind, &str)> = tokens
            .iter()
            .map(|t| (t.kind, &text[t.start..t.end]))
            .collect();
        use TokenKind::*;
        assert_eq!(
            shown,
            [
                (Doc, "/// Doc."),
                (Keyword, "const"),
                (Name, "A"),
                (Number, "4"),
                (Number, "KiB"),
                (Comment, "// note"),
                (Keyword, "object"),
                (Name, "O"),
                (Name, "n"),
                (Keyword, "in"),
                (Number, "1"),
                (Number, "2"),
                (Keyword, "size"),
                (Number, "1"),
                (Operator, "<<"),
                (Name, "n"),
            ]
        );
    }
}
