//! Formatting (`capc fmt`'s layout) and folding.

use super::Server;
use super::position::offset_to_position;
use capc_dsl::FileId;
use lsp_types::{
    DocumentFormattingParams, FoldingRange, FoldingRangeParams, Position, Range, TextEdit,
};

impl Server {
    /// `capc fmt`'s layout for the document: one edit replacing the whole
    /// text, none when it is formatted already; `None` (no edits) while it
    /// does not parse, which its diagnostics say.
    pub(super) fn format(&self, p: &DocumentFormattingParams) -> Option<Vec<TextEdit>> {
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

    /// Folding: each item of more than one line, from the parse alone.
    pub(super) fn folds(&self, p: &FoldingRangeParams) -> Option<Vec<FoldingRange>> {
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
}
