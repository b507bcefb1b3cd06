//! Formatting: the one canonical layout of a `.cap` file (`capc fmt`).
//!
//! The formatter walks the pest parse tree of grammars/cap.pest (the same
//! parser [`crate::parse`] uses; there is no second one) and prints every
//! construct in a fixed layout: four-space indentation, one member per line
//! in blocks, single spaces around operators and after commas, trailing commas
//! in blocks and none in parenthesised lists. Lists that do not fit in
//! [`MAX_WIDTH`] columns are filled: as many items per line as fit, the next
//! lines aligned after the opening `(` (or under the `=` of `into = A | B`),
//! which is how the hand-written example specs are laid out.
//!
//! Comments are not in the tree (the grammar's `COMMENT` rule is silent), so
//! they are recovered from the source text between the tree's tokens: the
//! gaps between leaf pairs hold only whitespace, punctuation, contextual
//! keywords and comments. Each comment is printed just before the first token
//! that followed it in the source: on its own line if it was on its own line,
//! at the end of the current line if it trailed code. Doc comments (`///`,
//! `//!`) are tokens and stay where they are. Blank lines between members and
//! items are kept (at most one); those inside a construct are dropped.
//!
//! Formatting only changes layout: the checked model of the output equals
//! that of the input (tested in dsl/tests/fmt.rs), and formatting twice
//! changes nothing. A file with a syntax error is not formatted.

use pest::Parser as _;
use pest::iterators::Pair;

use crate::diag::Diagnostic;
use crate::parse::grammar::{CapParser, Rule};
use crate::source::FileId;

/// Lines are filled up to this many columns.
pub const MAX_WIDTH: usize = 100;
/// Columns per indentation level.
const INDENT: usize = 4;

/// Formats the text of one `.cap` file. On a syntax error (or any other error
/// the parser reports, such as a literal too large), returns that diagnostic,
/// with spans in `file`.
#[allow(clippy::result_large_err)] // the error path runs at most once per file
pub fn format(file: FileId, text: &str) -> Result<String, Diagnostic> {
    crate::parse::parse_file(file, text)?;
    let root = CapParser::parse(Rule::file, text)
        .expect("a file that parsed once parses again")
        .next()
        .expect("the file rule always yields one pair");
    let mut printer = Printer::new(text, comments(&root, text), MAX_WIDTH);
    printer.file(root);
    Ok(printer.finish())
}

/// A `//` or `/* */` comment found between tokens.
#[derive(Clone, Copy, Debug)]
struct Comment<'a> {
    start: usize,
    end: usize,
    /// The comment as written (line comments without trailing whitespace).
    text: &'a str,
    /// A `//` comment, which ends its line.
    line: bool,
    /// Only whitespace before it on its line.
    own_line: bool,
    /// Only whitespace after it on its line.
    newline_after: bool,
}

/// Every comment of the file, in order: scanned from the text between the
/// leaves of the parse tree, which holds no strings, names or numbers.
fn comments<'a>(root: &Pair<'a, Rule>, text: &'a str) -> Vec<Comment<'a>> {
    let mut leaves = Vec::new();
    crate::tokens::leaves_of(root.clone(), &mut leaves);
    let mut gaps = Vec::new();
    let mut at = 0;
    for (start, end, _) in leaves {
        if start > at {
            gaps.push((at, start));
        }
        at = at.max(end);
    }
    gaps.push((at, text.len()));
    let mut found = Vec::new();
    for (from, to) in gaps {
        for (start, end) in crate::tokens::comments_in(text, from, to) {
            let line_start = text[..start].rfind('\n').map_or(0, |n| n + 1);
            let line_end = text[end..].find('\n').map_or(text.len(), |n| end + n);
            let line = text[start..].starts_with("//");
            found.push(Comment {
                start,
                end,
                text: if line {
                    text[start..end].trim_end()
                } else {
                    &text[start..end]
                },
                line,
                own_line: text[line_start..start].trim().is_empty(),
                newline_after: text[end..line_end].trim().is_empty(),
            });
        }
    }
    found
}

/// Whether the source between two tokens holds a blank line.
fn has_blank(gap: &str) -> bool {
    let lines: Vec<&str> = gap.split('\n').collect();
    lines.len() > 2
        && lines[1..lines.len() - 1]
            .iter()
            .any(|l| l.trim().is_empty())
}

/// Whether a line break may become a blank line.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Blank {
    /// Never.
    No,
    /// When the source had one there.
    Keep,
    /// Always.
    Force,
}

/// A line break that happens before the next thing printed.
#[derive(Clone, Copy, Debug)]
struct LineBreak {
    /// Indentation of the new line.
    col: usize,
    blank: Blank,
}

struct Printer<'a> {
    src: &'a str,
    comments: Vec<Comment<'a>>,
    /// The first comment not printed yet.
    next_comment: usize,
    width: usize,
    out: String,
    /// Where the current output line starts in `out`.
    line_start: usize,
    /// The current output line has something besides indentation.
    content: bool,
    pending: Option<LineBreak>,
    /// A space goes before the next token on this line.
    space: bool,
    /// Where a line broken inside a construct (by a comment) continues.
    cont: usize,
    /// Source end of the last token or comment printed.
    last_src: usize,
    /// The current line ends in a `//` comment: nothing more fits on it.
    line_closed: bool,
    /// The current line ends in a comment.
    ends_in_comment: bool,
    /// The line break an own-line block comment followed by code on its line
    /// stood for: the next own-line comment breaks the same way.
    after_block: Option<LineBreak>,
}

impl<'a> Printer<'a> {
    fn new(src: &'a str, comments: Vec<Comment<'a>>, width: usize) -> Printer<'a> {
        Printer {
            src,
            comments,
            next_comment: 0,
            width,
            out: String::new(),
            line_start: 0,
            content: false,
            pending: None,
            space: false,
            cont: INDENT,
            last_src: 0,
            line_closed: false,
            ends_in_comment: false,
            after_block: None,
        }
    }

    fn finish(mut self) -> String {
        let trimmed = self.out.trim_end().len();
        self.out.truncate(trimmed);
        if !self.out.is_empty() {
            self.out.push('\n');
        }
        self.out
    }

    // ------------------------------------------------------------ printing

    fn col(&self) -> usize {
        self.out[self.line_start..].chars().count()
    }

    fn break_line(&mut self, col: usize, blank: Blank) {
        self.pending = Some(LineBreak { col, blank });
    }

    fn space(&mut self) {
        self.space = true;
    }

    /// Makes a pending line break happen, then a pending space; `next` is the
    /// source position of what comes next, to look for a blank line before it.
    fn materialize(&mut self, next: Option<usize>) {
        self.after_block = None;
        if let Some(b) = self.pending.take() {
            if !self.out.is_empty() {
                let trimmed = self.out.trim_end_matches([' ', '\t']).len();
                self.out.truncate(trimmed);
                self.out.push('\n');
                let blank = match b.blank {
                    Blank::Force => true,
                    Blank::Keep => next.is_some_and(|p| {
                        p >= self.last_src && has_blank(&self.src[self.last_src..p])
                    }),
                    Blank::No => false,
                };
                if blank {
                    self.out.push('\n');
                }
            }
            self.line_start = self.out.len();
            self.line_closed = false;
            self.out.extend(std::iter::repeat_n(' ', b.col));
            self.content = false;
            self.space = false;
        }
        if self.space && self.content {
            self.out.push(' ');
        }
        self.space = false;
    }

    fn push(&mut self, text: &str) {
        self.line_closed = text.starts_with("//");
        self.ends_in_comment = false;
        self.out.push_str(text);
        if let Some(n) = text.rfind('\n') {
            self.line_start = self.out.len() - (text.len() - n - 1);
        }
        self.content = true;
    }

    /// Prints a token that is not in the tree (punctuation, a contextual keyword).
    fn token(&mut self, text: &str) {
        self.materialize(None);
        self.push(text);
    }

    /// Prints the token `text` found at `start..end` in the source, after the
    /// comments before it.
    fn source_token(&mut self, text: &str, start: usize, end: usize) {
        self.comments_before(start);
        self.materialize(Some(start));
        self.push(text);
        self.last_src = end;
    }

    /// Prints `text`, a token that is not in the tree but starts `pair`.
    fn keyword(&mut self, text: &str, pair: &Pair<'_, Rule>) {
        let start = pair.as_span().start();
        self.source_token(text, start, start + 1);
    }

    /// Prints a pair that is one token, as written.
    fn leaf(&mut self, pair: &Pair<'_, Rule>) {
        let span = pair.as_span();
        self.source_token(pair.as_str().trim_end(), span.start(), span.end());
    }

    fn has_comment_before(&self, pos: usize) -> bool {
        self.comments
            .get(self.next_comment)
            .is_some_and(|c| c.start < pos)
    }

    /// Prints every comment that starts before `pos`.
    fn comments_before(&mut self, pos: usize) {
        while let Some(&c) = self.comments.get(self.next_comment) {
            if c.start >= pos {
                break;
            }
            self.next_comment += 1;
            self.comment(c);
        }
    }

    fn comment(&mut self, c: Comment<'_>) {
        // A block comment that trailed code joins a line of comments only
        // if that line goes on with code; otherwise it starts its own line.
        let joins_comments = !c.line && self.pending.is_some() && self.ends_in_comment;
        if c.own_line || self.out.is_empty() || self.line_closed || joins_comments {
            let brk = match self.pending.or(self.after_block) {
                Some(b) => b,
                None if self.content => LineBreak {
                    col: self.cont,
                    blank: Blank::No,
                },
                None => LineBreak {
                    col: self.col(),
                    blank: Blank::No,
                },
            };
            self.pending = Some(brk);
            self.materialize(Some(c.start));
            self.push(c.text);
            self.ends_in_comment = true;
            self.last_src = c.end;
            if c.line || c.newline_after {
                let blank = match brk.blank {
                    Blank::No => Blank::No,
                    _ => Blank::Keep,
                };
                self.break_line(brk.col, blank);
            } else {
                self.space();
                self.after_block = Some(brk);
            }
        } else {
            // A trailing comment stays at the end of the line it trailed.
            let pending = self.pending.take();
            if self.content && !self.out.ends_with(' ') {
                self.out.push(' ');
            }
            self.push(c.text);
            self.ends_in_comment = true;
            self.last_src = c.end;
            self.space = false;
            if pending.is_some() {
                self.pending = pending;
            } else if c.line {
                // After `/* own line */ // this`, the line breaks as the
                // block comment's line did.
                let brk = self.after_block.take().map_or(
                    LineBreak {
                        col: self.cont,
                        blank: Blank::No,
                    },
                    |b| LineBreak {
                        col: b.col,
                        blank: match b.blank {
                            Blank::No => Blank::No,
                            _ => Blank::Keep,
                        },
                    },
                );
                self.pending = Some(brk);
            } else {
                self.space();
            }
        }
    }

    /// The width of something printed flat, without comments.
    fn measure(&self, print: impl FnOnce(&mut Printer<'a>)) -> usize {
        let mut m = Printer::new(self.src, Vec::new(), usize::MAX);
        print(&mut m);
        m.out.chars().count()
    }

    /// Prints `items` separated by `, `, filling lines; wrapped lines start
    /// at the current column. `tail` is the width of what must follow the
    /// last item on its line.
    fn comma_fill<'i>(
        &mut self,
        items: Vec<Pair<'i, Rule>>,
        tail: usize,
        print: impl Fn(&mut Self, Pair<'i, Rule>),
    ) {
        let pending_space = self.space && self.content && self.pending.is_none();
        let align = self.col() + usize::from(pending_space);
        let saved = std::mem::replace(&mut self.cont, align);
        let n = items.len();
        for (i, item) in items.into_iter().enumerate() {
            let last = i + 1 == n;
            if i > 0 {
                let w = self.measure(|m| print(m, item.clone())) + if last { tail } else { 1 };
                if self.pending.is_none() && self.col() + 1 + w > self.width {
                    self.break_line(align, Blank::No);
                } else {
                    self.space();
                }
            }
            print(self, item);
            if !last {
                self.token(",");
            }
        }
        self.cont = saved;
    }

    /// Prints names separated by ` | `, filling lines; wrapped lines start
    /// with `|` at column `align`.
    fn bar_fill(&mut self, items: Vec<Pair<'_, Rule>>, tail: usize, align: usize) {
        let saved = std::mem::replace(&mut self.cont, align);
        let n = items.len();
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                let w = 2 + item.as_str().len() + if i + 1 == n { tail } else { 0 };
                if self.pending.is_none() && self.col() + 1 + w > self.width {
                    self.break_line(align, Blank::No);
                } else {
                    self.space();
                }
                self.token("|");
                self.space();
            }
            self.leaf(&item);
        }
        self.cont = saved;
    }

    /// ` { members }`: one member per line at `indent + 4`, blank lines
    /// between members kept; comments before the `}` at `close` stay inside.
    fn block<'i>(
        &mut self,
        indent: usize,
        members: Vec<Pair<'i, Rule>>,
        close: usize,
        print: impl Fn(&mut Self, Pair<'i, Rule>, usize),
    ) {
        self.space();
        self.token("{");
        if members.is_empty() && !self.has_comment_before(close) {
            self.token("}");
            return;
        }
        let inner = indent + INDENT;
        let had_members = !members.is_empty();
        for (i, member) in members.into_iter().enumerate() {
            self.break_line(inner, if i == 0 { Blank::No } else { Blank::Keep });
            self.cont = inner + INDENT;
            print(self, member, inner);
        }
        self.break_line(inner, if had_members { Blank::Keep } else { Blank::No });
        self.comments_before(close);
        self.break_line(indent, Blank::No);
        self.token("}");
        self.cont = indent + INDENT;
    }

    // ------------------------------------------------------------ the tree

    fn file(&mut self, pair: Pair<'_, Rule>) {
        let mut had_docs = false;
        let mut previous: Option<bool> = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::inner_doc => {
                    self.break_line(0, if had_docs { Blank::No } else { Blank::Keep });
                    self.leaf(&p);
                    had_docs = true;
                }
                Rule::item => {
                    let one_line = is_one_line(&p);
                    let blank = match previous {
                        None if had_docs => Blank::Force,
                        None => Blank::Keep,
                        Some(true) if one_line => Blank::Keep,
                        Some(_) => Blank::Force,
                    };
                    self.break_line(0, blank);
                    self.cont = INDENT;
                    self.item(p, 0);
                    previous = Some(one_line);
                }
                _ => {}
            }
        }
        self.break_line(0, Blank::Keep);
        self.comments_before(self.src.len());
    }

    /// Doc comments and attributes each on their own line, then the rest.
    fn item(&mut self, pair: Pair<'_, Rule>, indent: usize) {
        let mut first = true;
        for part in pair.into_inner() {
            if !first {
                self.break_line(indent, Blank::No);
            }
            first = false;
            match part.as_rule() {
                Rule::outer_doc => self.leaf(&part),
                Rule::attribute => self.attribute(part),
                _ => self.item_kind(part, indent),
            }
        }
    }

    fn item_kind(&mut self, pair: Pair<'_, Rule>, indent: usize) {
        let rule = pair.as_rule();
        let close = pair.as_span().end().saturating_sub(1);
        let mut inner = pair.into_inner();
        match rule {
            Rule::use_item | Rule::const_item => {
                for (i, p) in inner.enumerate() {
                    match p.as_rule() {
                        Rule::expr => {
                            self.space();
                            self.token("=");
                            self.space();
                            self.expr(p);
                        }
                        _ => {
                            if i > 0 {
                                self.space();
                            }
                            self.leaf(&p);
                        }
                    }
                }
                self.token(";");
            }
            Rule::target_item => {
                self.keyword_and_name(&mut inner);
                self.block(indent, inner.collect(), close, |s, setting, indent| {
                    for p in setting.into_inner() {
                        match p.as_rule() {
                            Rule::outer_doc => s.on_own_line(p, indent),
                            Rule::ident => s.leaf(&p),
                            _ => {
                                s.assign();
                                s.expr(p);
                                s.token(";");
                            }
                        }
                    }
                });
            }
            Rule::rights_item | Rule::config_item => {
                let kw = inner.next().expect("grammar: keyword");
                self.leaf(&kw);
                self.block(indent, inner.collect(), close, |s, right, indent| {
                    s.documented(right, indent);
                    s.token(",");
                });
            }
            Rule::object_item => {
                let kind = inner.next().expect("grammar: object kind");
                self.leaf(&kind);
                self.space();
                self.leaf(&inner.next().expect("grammar: object name"));
                let mut stmts = Vec::new();
                for p in inner {
                    match p.as_rule() {
                        Rule::size_param => self.size_param(p),
                        _ => stmts.push(p),
                    }
                }
                self.block(indent, stmts, close, |s, stmt, inner| {
                    let stmt = stmt.into_inner().next().expect("grammar: statement");
                    match stmt.as_rule() {
                        Rule::size_stmt | Rule::align_stmt => {
                            let keyword = if stmt.as_rule() == Rule::size_stmt {
                                "size"
                            } else {
                                "align"
                            };
                            s.keyword(keyword, &stmt);
                            s.assign();
                            s.expr(stmt.into_inner().next().expect("grammar: value"));
                        }
                        Rule::memory_stmt | Rule::finalise_stmt => {
                            let keyword = if stmt.as_rule() == Rule::memory_stmt {
                                "memory"
                            } else {
                                "finalise"
                            };
                            s.keyword(keyword, &stmt);
                            let align = s.col() + 1;
                            s.space();
                            s.token("=");
                            s.space();
                            s.bar_fill(stmt.into_inner().collect(), 1, align);
                        }
                        Rule::asid_pool_stmt => {
                            s.keyword("asid_pool", &stmt);
                            s.assign();
                            s.expr(stmt.into_inner().next().expect("grammar: pool size"));
                        }
                        Rule::table_stmt => {
                            s.keyword("table", &stmt);
                            s.assign();
                            let mut parts = stmt.into_inner();
                            s.expr(parts.next().expect("grammar: entry count"));
                            s.space();
                            s.leaf(&parts.next().expect("grammar: `x`"));
                            s.space();
                            s.expr(parts.next().expect("grammar: entry size"));
                            s.space();
                            s.leaf(&parts.next().expect("grammar: `of`"));
                            let align = s.col() + 1;
                            s.space();
                            s.bar_fill(parts.collect(), 1, align);
                        }
                        _ => s.slot(stmt, inner),
                    }
                    s.token(";");
                });
            }
            Rule::errors_item => {
                self.keyword_and_name(&mut inner);
                self.block(indent, inner.collect(), close, |s, variant, indent| {
                    let mut payload = Vec::new();
                    for p in variant.into_inner() {
                        match p.as_rule() {
                            Rule::outer_doc => s.on_own_line(p, indent),
                            _ => payload.push(p),
                        }
                    }
                    let mut payload = payload.into_iter();
                    s.leaf(&payload.next().expect("grammar: variant name"));
                    let payload: Vec<_> = payload.collect();
                    if !payload.is_empty() {
                        s.token("(");
                        s.comma_fill(payload, 2, |s, p| {
                            let mut field = p.into_inner();
                            s.leaf(&field.next().expect("grammar: payload name"));
                            match field.next() {
                                Some(rest) if rest.as_rule() == Rule::payload_rest => {
                                    s.token(":");
                                    s.space();
                                    s.token("..");
                                    s.leaf(&rest.into_inner().next().expect("grammar: set name"));
                                }
                                Some(ty) => {
                                    s.token(":");
                                    s.space();
                                    s.data_type(ty);
                                }
                                None => {}
                            }
                        });
                        s.token(")");
                    }
                    s.token(",");
                });
            }
            Rule::cap_item => {
                let mut inner = inner.peekable();
                if let Some(mark) = inner.next_if(|p| p.as_rule() == Rule::abstract_mark) {
                    self.leaf(&mark);
                    self.space();
                }
                self.keyword_and_name(&mut inner);
                let mut fields = Vec::new();
                for p in inner {
                    match p.as_rule() {
                        Rule::kw_for | Rule::kw_inherits | Rule::ident => {
                            self.space();
                            self.leaf(&p);
                        }
                        Rule::inherited => {
                            self.space();
                            self.leaf(&p.into_inner().next().expect("grammar: inherited name"));
                        }
                        _ => fields.push(p),
                    }
                }
                self.block(indent, fields, close, |s, field, indent| {
                    s.field(field, indent)
                });
            }
            Rule::retype_item => {
                self.keyword_and_name(&mut inner);
                self.block(indent, inner.collect(), close, |s, stmt, _| {
                    let stmt = stmt.into_inner().next().expect("grammar: statement");
                    if stmt.as_rule() == Rule::into_stmt {
                        s.keyword("into", &stmt);
                        let align = s.col() + 1;
                        s.space();
                        s.token("=");
                        s.space();
                        s.bar_fill(stmt.into_inner().collect(), 1, align);
                    } else {
                        s.keyword("fan_out", &stmt);
                        s.assign();
                        s.expr(stmt.into_inner().next().expect("grammar: fan_out"));
                    }
                    s.token(";");
                });
            }
            Rule::derive_item => {
                for (i, p) in inner.enumerate() {
                    if i > 0 {
                        self.space();
                    }
                    self.leaf(&p);
                }
                self.token(";");
            }
            Rule::invocations_item | Rule::interface_item => {
                let mut inner = inner.peekable();
                if let Some(mark) = inner.next_if(|p| p.as_rule() == Rule::callback_mark) {
                    self.leaf(&mark);
                    self.space();
                }
                self.keyword_and_name(&mut inner);
                self.space();
                self.token("->");
                self.space();
                self.leaf(&inner.next().expect("grammar: error set"));
                self.block(indent, inner.collect(), close, |s, m, indent| {
                    if m.as_rule() == Rule::session_decl {
                        s.session(m, indent)
                    } else {
                        s.method(m, indent)
                    }
                });
            }
            Rule::struct_item => {
                self.keyword_and_name(&mut inner);
                self.block(indent, inner.collect(), close, |s, field, indent| {
                    for p in field.into_inner() {
                        match p.as_rule() {
                            Rule::outer_doc => s.on_own_line(p, indent),
                            Rule::ident => {
                                s.leaf(&p);
                                s.token(":");
                                s.space();
                            }
                            _ => s.data_type(p),
                        }
                    }
                    s.token(",");
                });
            }
            Rule::enum_item => {
                self.keyword_and_name(&mut inner);
                let mut variants: Vec<_> = inner.collect();
                // `enum Name: uN`: an enumeration's width.
                if variants
                    .first()
                    .is_some_and(|p| p.as_rule() == Rule::enum_width)
                {
                    let width = variants.remove(0);
                    self.token(":");
                    self.space();
                    self.leaf(&width.into_inner().next().expect("grammar: width"));
                }
                self.block(indent, variants, close, |s, variant, indent| {
                    let mut values = Vec::new();
                    let mut value = None;
                    let mut attrs = false;
                    for p in variant.into_inner() {
                        match p.as_rule() {
                            Rule::outer_doc => s.on_own_line(p, indent),
                            Rule::attribute => {
                                if attrs {
                                    s.space();
                                }
                                s.attribute(p);
                                attrs = true;
                            }
                            Rule::ident => {
                                if attrs {
                                    s.space();
                                }
                                s.leaf(&p);
                            }
                            Rule::enum_value => value = Some(p),
                            _ => values.push(p),
                        }
                    }
                    if !values.is_empty() {
                        s.token("(");
                        s.comma_fill(values, 2, |s, p| s.data_type(p));
                        s.token(")");
                    }
                    if let Some(value) = value {
                        s.assign();
                        s.expr(value.into_inner().next().expect("grammar: value"));
                    }
                    s.token(",");
                });
            }
            Rule::type_item => {
                self.keyword_and_name(&mut inner);
                self.assign();
                self.data_type(inner.next().expect("grammar: aliased type"));
                if let Some(range) = inner.next() {
                    for p in range.into_inner() {
                        if p.as_rule() == Rule::kw_in {
                            self.space();
                            self.leaf(&p);
                            self.space();
                        } else {
                            let incl = p.as_rule() == Rule::range_incl;
                            let mut ends = p.into_inner();
                            self.expr(ends.next().expect("grammar: range start"));
                            self.token(if incl { "..=" } else { ".." });
                            self.expr(ends.next().expect("grammar: range end"));
                        }
                    }
                }
                self.token(";");
            }
            Rule::bitfield_item => {
                self.keyword_and_name(&mut inner);
                self.block(indent, inner.collect(), close, |s, field, indent| {
                    s.field(field, indent)
                });
            }
            Rule::system_item => {
                self.keyword_and_name(&mut inner);
                self.block(indent, inner.collect(), close, |s, stmt, indent| {
                    s.system_stmt(stmt, indent);
                });
            }
            Rule::syscalls_item => {
                self.keyword_and_name(&mut inner);
                self.block(indent, inner.collect(), close, |s, decl, indent| {
                    s.syscall(decl, indent);
                });
            }
            other => unreachable!("grammar: unexpected item rule {other:?}"),
        }
    }

    /// A message value's type: `u8`, `[T; N]`, `[T; ..=N]`, `string<=N>`,
    /// `Option<T>`, a name.
    fn data_type(&mut self, pair: Pair<'_, Rule>) {
        let ty = pair.into_inner().next().expect("grammar: data type");
        match ty.as_rule() {
            Rule::array_type => {
                self.keyword("[", &ty);
                for p in ty.into_inner() {
                    match p.as_rule() {
                        Rule::data_type => {
                            self.data_type(p);
                            self.token(";");
                            self.space();
                        }
                        Rule::up_to => self.leaf(&p),
                        _ => self.expr(p),
                    }
                }
                self.token("]");
            }
            Rule::string_type | Rule::option_type => {
                let string = ty.as_rule() == Rule::string_type;
                let mut parts = ty.into_inner();
                self.leaf(&parts.next().expect("grammar: keyword"));
                self.token(if string { "<=" } else { "<" });
                let inner = parts.next().expect("grammar: bound or type");
                if string {
                    self.expr(inner);
                } else {
                    self.data_type(inner);
                }
                self.token(">");
            }
            _ => self.leaf(&ty),
        }
    }

    fn keyword_and_name<'i>(&mut self, inner: &mut impl Iterator<Item = Pair<'i, Rule>>) {
        self.leaf(&inner.next().expect("grammar: keyword"));
        self.space();
        self.leaf(&inner.next().expect("grammar: name"));
    }

    /// A statement of a `system` or `domain` block: its docs, then a
    /// nested `domain` block or a one-line statement.
    fn system_stmt(&mut self, stmt: Pair<'_, Rule>, indent: usize) {
        for p in stmt.into_inner() {
            match p.as_rule() {
                Rule::outer_doc => self.on_own_line(p, indent),
                Rule::sys_domain => {
                    let close = p.as_span().end().saturating_sub(1);
                    let mut inner = p.into_inner();
                    self.keyword_and_name(&mut inner);
                    self.block(indent, inner.collect(), close, |s, stmt, indent| {
                        s.system_stmt(stmt, indent);
                    });
                }
                _ => self.flat(&p),
            }
        }
    }

    /// A one-line statement printed token by token from its source, one
    /// space between tokens except around `(`, before `)`, `,`, `;`, `:`.
    fn flat(&mut self, pair: &Pair<'_, Rule>) {
        let start = pair.as_span().start();
        let text = pair.as_str();
        let mut prev: Option<&str> = None;
        let mut i = 0;
        while i < text.len() {
            let rest = &text[i..];
            let c = rest.chars().next().expect("in bounds");
            if c.is_whitespace() {
                i += c.len_utf8();
                continue;
            }
            let len = if rest.starts_with("//") {
                i += rest.find('\n').unwrap_or(rest.len());
                continue;
            } else if rest.starts_with("/*") {
                i += rest.find("*/").map_or(rest.len(), |e| e + 2);
                continue;
            } else if c == '"' {
                rest[1..].find('"').map_or(rest.len(), |e| e + 2)
            } else if c.is_alphanumeric() || c == '_' {
                rest.find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
                    .unwrap_or(rest.len())
            } else if rest.starts_with("<<") || rest.starts_with(">=") {
                2
            } else {
                c.len_utf8()
            };
            let token = &rest[..len];
            let word = |t: &str| t.chars().all(|ch| ch.is_alphanumeric() || ch == '_');
            let tight = matches!(token, ";" | "," | ")" | ":")
                || prev == Some("(")
                || (token == "(" && prev.is_some_and(word));
            if prev.is_some() && !tight {
                self.space();
            }
            self.source_token(token, start + i, start + i + len);
            prev = Some(token);
            i += len;
        }
    }

    /// ` = ` after a name.
    fn assign(&mut self) {
        self.space();
        self.token("=");
        self.space();
    }

    /// Doc comments on their own lines, then a name.
    fn documented(&mut self, pair: Pair<'_, Rule>, indent: usize) {
        for p in pair.into_inner() {
            self.leaf(&p);
            if p.as_rule() == Rule::outer_doc {
                self.break_line(indent, Blank::No);
            }
        }
    }

    fn attribute(&mut self, pair: Pair<'_, Rule>) {
        self.keyword("#[", &pair);
        let mut inner = pair.into_inner();
        self.leaf(&inner.next().expect("grammar: attribute name"));
        let args: Vec<_> = inner.collect();
        if !args.is_empty() {
            self.token("(");
            self.comma_fill(args, 2, Self::attr_arg);
            self.token(")");
        }
        self.token("]");
    }

    fn attr_arg(&mut self, arg: Pair<'_, Rule>) {
        let mut kv = arg.into_inner();
        let first = kv.next().expect("grammar: key or value");
        match first.as_rule() {
            Rule::expr => self.expr(first),
            Rule::attr_call => {
                let mut inner = first.into_inner();
                self.leaf(&inner.next().expect("grammar: call name"));
                self.token("(");
                self.comma_fill(inner.collect(), 2, Self::attr_arg);
                self.token(")");
            }
            _ => {
                self.leaf(&first);
                if let Some(value) = kv.next() {
                    self.assign();
                    self.expr(value);
                }
            }
        }
    }

    fn size_param(&mut self, pair: Pair<'_, Rule>) {
        self.token("(");
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ident => self.leaf(&p),
                Rule::kw_in => {
                    self.space();
                    self.leaf(&p);
                    self.space();
                }
                _ => {
                    let domain = p.into_inner().next().expect("grammar: domain");
                    let rule = domain.as_rule();
                    let exprs: Vec<_> = domain.into_inner().collect();
                    if rule == Rule::value_set {
                        self.token("{");
                        self.comma_fill(exprs, 2, |s, e| s.expr(e));
                        self.token("}");
                    } else {
                        let mut exprs = exprs.into_iter();
                        self.expr(exprs.next().expect("grammar: range start"));
                        self.token(if rule == Rule::range_incl {
                            "..="
                        } else {
                            ".."
                        });
                        self.expr(exprs.next().expect("grammar: range end"));
                    }
                }
            }
        }
        self.token(")");
    }

    /// Docs on their own lines, then `slot name: CapType(rights)` (the `;`
    /// is the caller's).
    fn slot(&mut self, pair: Pair<'_, Rule>, indent: usize) {
        let mut names = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::outer_doc | Rule::attribute => self.on_own_line(p, indent),
                Rule::kw_slot => {
                    self.leaf(&p);
                    self.space();
                }
                _ => names.push(p),
            }
        }
        let mut names = names.into_iter();
        self.leaf(&names.next().expect("grammar: slot name"));
        self.token(":");
        self.space();
        self.leaf(&names.next().expect("grammar: slot cap type"));
        let rights: Vec<_> = names.collect();
        if !rights.is_empty() {
            self.token("(");
            self.comma_fill(rights, 2, |s, r| s.leaf(&r));
            self.token(")");
        }
    }

    /// Docs, attributes on one line, then `name: type,`.
    fn field(&mut self, pair: Pair<'_, Rule>, indent: usize) {
        let mut attrs = false;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::outer_doc => self.on_own_line(p, indent),
                Rule::attribute => {
                    if attrs {
                        self.space();
                    }
                    self.attribute(p);
                    attrs = true;
                }
                Rule::ident => {
                    if attrs {
                        self.break_line(indent, Blank::No);
                    }
                    self.leaf(&p);
                    self.token(":");
                    self.space();
                }
                _ => {
                    let ty = p.into_inner().next().expect("grammar: field type");
                    match ty.as_rule() {
                        Rule::ptr_type => {
                            self.keyword("ptr(align", &ty);
                            self.assign();
                            self.expr(ty.into_inner().next().expect("grammar: align"));
                            self.token(")");
                        }
                        Rule::rights_type => {
                            let mut inner = ty.into_inner();
                            self.leaf(&inner.next().expect("grammar: keyword"));
                            self.token("(");
                            self.comma_fill(inner.collect(), 2, |s, r| s.leaf(&r));
                            self.token(")");
                        }
                        _ => self.leaf(&ty),
                    }
                }
            }
        }
        self.token(",");
    }

    /// A doc comment or an attribute on a line of its own, before what it
    /// documents or marks.
    fn on_own_line(&mut self, p: Pair<'_, Rule>, indent: usize) {
        if p.as_rule() == Rule::attribute {
            self.attribute(p);
        } else {
            self.leaf(&p);
        }
        self.break_line(indent, Blank::No);
    }

    fn method(&mut self, pair: Pair<'_, Rule>, indent: usize) {
        let has_body = pair.as_str().ends_with('}');
        let close = pair.as_span().end() - 1;
        let mut lists = Vec::new();
        let mut clauses = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::outer_doc | Rule::attribute => self.on_own_line(p, indent),
                Rule::kw_fn => self.leaf(&p),
                Rule::ident => {
                    self.space();
                    self.leaf(&p);
                }
                Rule::params => lists.push(p),
                _ => clauses.push(p),
            }
        }
        let body = !clauses.is_empty() || (has_body && self.has_comment_before(close));
        let end_width = if body { 2 } else { 1 };
        let mut lists = lists.into_iter();
        let params = lists.next().expect("grammar: parameters");
        let results = lists.next();
        self.params(params, if results.is_some() { 1 } else { 1 + end_width });
        if let Some(results) = results {
            let flat = 4 + self.measure(|m| m.params(results.clone(), 0)) + end_width;
            if self.col() + flat > self.width {
                self.break_line(indent + INDENT, Blank::No);
            } else {
                self.space();
            }
            self.token("->");
            self.space();
            self.params(results, end_width);
        }
        if body {
            self.block(indent, clauses, close, |s, clause, _| s.clause(clause));
        } else {
            self.token(";");
        }
    }

    /// `Name = -N { sends on A(r) | B; receives; }` or `Name = -N;`
    fn syscall(&mut self, pair: Pair<'_, Rule>, indent: usize) {
        let has_body = pair.as_str().ends_with('}');
        let close = pair.as_span().end() - 1;
        let mut clauses = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::outer_doc | Rule::attribute => self.on_own_line(p, indent),
                Rule::ident => self.leaf(&p),
                Rule::syscall_number => {
                    self.assign();
                    for q in p.into_inner() {
                        match q.as_rule() {
                            Rule::sub => self.leaf(&q),
                            _ => self.expr(q),
                        }
                    }
                }
                _ => clauses.push(p),
            }
        }
        if !clauses.is_empty() || (has_body && self.has_comment_before(close)) {
            self.block(indent, clauses, close, |s, clause, _| {
                let mut caps = Vec::new();
                for q in clause.into_inner() {
                    match q.as_rule() {
                        Rule::sk_sends | Rule::sk_receives => s.leaf(&q),
                        Rule::sk_on => {
                            s.space();
                            s.leaf(&q);
                        }
                        _ => caps.push(q),
                    }
                }
                // The cap types stay on one line: a clause lists a few.
                for (i, cap) in caps.into_iter().enumerate() {
                    if i > 0 {
                        s.space();
                        s.token("|");
                    }
                    s.space();
                    s.flat(&cap);
                }
                s.token(";");
            });
        } else {
            self.token(";");
        }
    }

    /// `session { clauses }` at the top of an interface.
    fn session(&mut self, pair: Pair<'_, Rule>, indent: usize) {
        let close = pair.as_span().end() - 1;
        let mut clauses = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::outer_doc => self.on_own_line(p, indent),
                Rule::kw_session => self.leaf(&p),
                _ => clauses.push(p),
            }
        }
        self.block(indent, clauses, close, |s, clause, _| s.clause(clause));
    }

    /// ` for result` after an allocation or kept state.
    fn handed_to(&mut self, pair: Pair<'_, Rule>) {
        for p in pair.into_inner() {
            self.space();
            self.leaf(&p);
        }
    }

    fn params(&mut self, pair: Pair<'_, Rule>, tail: usize) {
        self.token("(");
        self.comma_fill(pair.into_inner().collect(), tail, |s, param| {
            let mut inner = param.into_inner().peekable();
            while let Some(attr) = inner.next_if(|p| p.as_rule() == Rule::attribute) {
                s.attribute(attr);
                s.space();
            }
            s.leaf(&inner.next().expect("grammar: parameter name"));
            s.token(":");
            s.space();
            let ty = inner.next().expect("grammar: parameter type");
            let ty = ty.into_inner().next().expect("grammar: type");
            match ty.as_rule() {
                Rule::data_type => s.data_type(ty),
                // `lease FrameCap(read, write) [u8; ..=N]`
                Rule::lease_param => {
                    let open = ty.as_span().start() + ty.as_str().find('(').unwrap_or(0);
                    let mut rights = Vec::new();
                    let mut data = None;
                    for p in ty.into_inner() {
                        match p.as_rule() {
                            Rule::kw_lease => s.leaf(&p),
                            Rule::data_type => data = Some(p),
                            _ if p.as_span().start() < open => {
                                s.space();
                                s.leaf(&p);
                            }
                            _ => rights.push(p),
                        }
                    }
                    s.token("(");
                    s.comma_fill(rights, 2, |s, r| s.leaf(&r));
                    s.token(")");
                    s.space();
                    s.data_type(data.expect("grammar: lease type"));
                }
                _ => {
                    let mut rights = Vec::new();
                    let mut alternatives = Vec::new();
                    let mut named = false;
                    for p in ty.into_inner() {
                        match p.as_rule() {
                            Rule::transfer | Rule::kw_cap => {
                                s.leaf(&p);
                                s.space();
                            }
                            Rule::cap_alt => alternatives.push(p),
                            _ if !named => {
                                s.leaf(&p);
                                named = true;
                            }
                            _ => rights.push(p),
                        }
                    }
                    if !rights.is_empty() {
                        s.token("(");
                        s.comma_fill(rights, 2, |s, r| s.leaf(&r));
                        s.token(")");
                    }
                    for alt in alternatives {
                        s.space();
                        s.token("|");
                        s.space();
                        s.leaf(&alt.into_inner().next().expect("grammar: alternative"));
                    }
                }
            }
            if let Some(range) = inner.next_if(|p| p.as_rule() == Rule::param_range) {
                for p in range.into_inner() {
                    if p.as_rule() == Rule::kw_in {
                        s.space();
                        s.leaf(&p);
                        s.space();
                    } else {
                        let incl = p.as_rule() == Rule::range_incl;
                        let mut ends = p.into_inner();
                        s.expr(ends.next().expect("grammar: range start"));
                        s.token(if incl { "..=" } else { ".." });
                        s.expr(ends.next().expect("grammar: range end"));
                    }
                }
            }
            // `binds WatchEvents`
            if let Some(binding) = inner.next() {
                for p in binding.into_inner() {
                    s.space();
                    s.leaf(&p);
                }
            }
        });
        self.token(")");
    }

    fn clause(&mut self, pair: Pair<'_, Rule>) {
        let clause = pair.into_inner().next().expect("grammar: clause");
        match clause.as_rule() {
            Rule::requires_clause | Rule::errors_clause => {
                if clause.as_rule() == Rule::requires_clause {
                    self.keyword("requires", &clause);
                }
                let mut names = Vec::new();
                let mut of = None;
                for p in clause.into_inner() {
                    match p.as_rule() {
                        Rule::kw_errors => self.leaf(&p),
                        Rule::errors_of => of = Some(p),
                        _ => names.push(p),
                    }
                }
                if !names.is_empty() {
                    self.space();
                    self.comma_fill(names, 1, |s, n| s.leaf(&n));
                }
                if let Some(of) = of {
                    let mut parts = of.into_inner();
                    self.space();
                    self.leaf(&parts.next().expect("grammar: `of`"));
                    self.space();
                    self.leaf(&parts.next().expect("grammar: error set"));
                }
            }
            Rule::donates_clause => {
                self.keyword("donates", &clause);
                self.space();
                let donation = clause.into_inner().next().expect("grammar: donation");
                let rule = donation.as_rule();
                let mut inner = donation.into_inner();
                if rule == Rule::quota {
                    self.token("quota");
                    self.space();
                } else {
                    self.leaf(&inner.next().expect("grammar: donated cap"));
                    self.space();
                    self.token(">=");
                    self.space();
                }
                self.expr(inner.next().expect("grammar: bytes"));
            }
            Rule::allocates_clause => {
                self.keyword("allocates", &clause);
                self.space();
                let mut inner = clause.into_inner();
                let count = inner.next().expect("grammar: count");
                self.primary(count.into_inner().next().expect("grammar: count"));
                self.space();
                self.token("*");
                self.space();
                self.leaf(&inner.next().expect("grammar: object"));
                for p in inner {
                    if p.as_rule() == Rule::handed_to {
                        self.handed_to(p);
                    } else {
                        self.token("(");
                        self.expr(p);
                        self.token(")");
                    }
                }
            }
            Rule::creates_clause => {
                self.keyword("creates", &clause);
                self.space();
                let mut fields = Vec::new();
                let mut idents = Vec::new();
                let mut has_from = false;
                for p in clause.into_inner() {
                    match p.as_rule() {
                        Rule::field_arg => fields.push(p),
                        Rule::ident => idents.push(p),
                        Rule::kw_from => has_from = true,
                        _ => {}
                    }
                }
                self.leaf(&idents[0]);
                if !fields.is_empty() {
                    self.token("(");
                    self.comma_fill(fields, 1, |s, f| {
                        let mut kv = f.into_inner();
                        s.leaf(&kv.next().expect("grammar: field"));
                        s.assign();
                        s.leaf(&kv.next().expect("grammar: parameter"));
                    });
                    self.token(")");
                }
                if has_from {
                    self.space();
                    self.token("from");
                    self.space();
                    self.leaf(&idents[1]);
                }
                self.space();
                self.token("in");
                self.space();
                self.leaf(idents.last().expect("grammar: destination"));
            }
            Rule::keeps_clause => {
                self.keyword("keeps", &clause);
                let mut inner = clause.into_inner();
                self.space();
                self.expr(inner.next().expect("grammar: bytes"));
                if let Some(p) = inner.next() {
                    self.handed_to(p);
                }
            }
            Rule::refunds_clause => {
                self.keyword("refunds", &clause);
                let mut after_from = 0;
                for p in clause.into_inner() {
                    self.space();
                    if after_from > 0 {
                        if after_from > 1 {
                            self.token("|");
                            self.space();
                        }
                        after_from += 1;
                    }
                    if p.as_rule() == Rule::kw_from {
                        after_from = 1;
                    }
                    self.leaf(&p);
                }
            }
            Rule::session_binds => {
                let mut inner = clause.into_inner();
                self.leaf(&inner.next().expect("grammar: `binds`"));
                self.space();
                self.leaf(&inner.next().expect("grammar: bound interface"));
            }
            Rule::server_pays_clause => {
                self.keyword("server_pays", &clause);
                self.space();
                self.expr(clause.into_inner().next().expect("grammar: bound"));
            }
            _ => {
                self.keyword("out_of_budget", &clause);
                self.space();
                self.leaf(&clause.into_inner().next().expect("grammar: variant"));
            }
        }
        self.token(";");
    }

    fn expr(&mut self, pair: Pair<'_, Rule>) {
        for (i, p) in pair.into_inner().enumerate() {
            if i > 0 {
                self.space();
            }
            self.primary(p);
        }
    }

    /// A literal, name, operator or parenthesised expression.
    fn primary(&mut self, pair: Pair<'_, Rule>) {
        match pair.as_rule() {
            Rule::paren => {
                let span = pair.as_span();
                self.source_token("(", span.start(), span.start() + 1);
                self.expr(pair.into_inner().next().expect("grammar: inner expression"));
                self.token(")");
            }
            Rule::literal => {
                // `4 KiB` and `4KiB` stay as written; several spaces become one.
                let span = pair.as_span();
                let mut parts = pair.into_inner();
                let digits = parts.next().expect("grammar: digits");
                let text = match parts.next() {
                    Some(unit) if unit.as_span().start() > digits.as_span().end() => {
                        format!("{} {}", digits.as_str(), unit.as_str())
                    }
                    Some(unit) => format!("{}{}", digits.as_str(), unit.as_str()),
                    None => digits.as_str().to_string(),
                };
                self.source_token(&text, span.start(), span.end());
            }
            _ => self.leaf(&pair),
        }
    }
}

/// Items printed on one line (without comments), which may sit next to each
/// other without a blank line.
fn is_one_line(item: &Pair<'_, Rule>) -> bool {
    item.clone().into_inner().last().is_some_and(|k| {
        matches!(
            k.as_rule(),
            Rule::use_item | Rule::const_item | Rule::derive_item | Rule::type_item
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(text: &str) -> String {
        format(FileId(0), text).unwrap_or_else(|d| panic!("{}", d.message))
    }

    #[test]
    fn derive_rules_sit_on_one_line_each_grouped() {
        let text = "derive   A\n  from B ;\n/// doc\n#[multiple]  derive C from D; // why\n\
                    derive E from F;\ncap X {}\nderive G from H;\n";
        assert_eq!(
            fmt(text),
            "derive A from B;\n/// doc\n#[multiple]\nderive C from D; // why\nderive E from F;\n\n\
             cap X {}\n\nderive G from H;\n"
        );
    }

    #[test]
    fn lays_out_a_small_spec() {
        let text = "const A=1<<(2+3) ;const B = 4KiB;\nrights{read,write}\n\
                    object X{size=16;}\ncap XCap for X{#[identity]#[object] p:ptr(align=16),r:rights(read,),}\n";
        assert_eq!(
            fmt(text),
            "const A = 1 << (2 + 3);\nconst B = 4KiB;\n\nrights {\n    read,\n    write,\n}\n\n\
             object X {\n    size = 16;\n}\n\ncap XCap for X {\n    #[identity] #[object]\n    \
             p: ptr(align = 16),\n    r: rights(read),\n}\n"
        );
    }

    #[test]
    fn keeps_comments() {
        let text = "// head\n\nconst A = 1; // trailing\n/* own */\nconst B = 2 /* inline */ + 3;\nrights {\n    read, // r\n    // last\n}\n// tail\n";
        let out = fmt(text);
        assert_eq!(
            out,
            "// head\n\nconst A = 1; // trailing\n/* own */\nconst B = 2 /* inline */ + 3;\n\nrights {\n    read, // r\n    // last\n}\n// tail\n"
        );
        assert_eq!(fmt(&out), out);
    }

    #[test]
    fn fills_long_lists() {
        let names: Vec<String> = (0..20).map(|i| format!("Object{i}")).collect();
        let text = format!("retype C {{ into = {}; }}", names.join(" | "));
        let out = fmt(&text);
        assert!(out.lines().all(|l| l.len() <= MAX_WIDTH), "{out}");
        assert!(out.contains("\n         | Object"), "{out}");
        assert_eq!(fmt(&out), out);
    }

    #[test]
    fn refuses_syntax_errors() {
        assert!(format(FileId(0), "const A = ;").is_err());
    }
}
