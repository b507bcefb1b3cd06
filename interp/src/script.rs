//! `capc simulate` scripts: a line-based language of capability operations,
//! parsed by hand into statements with spans, checked against the spec
//! (every name must resolve before anything runs), then run on the
//! [`Machine`] and reported as text: each operation's result, the cap tree
//! and each principal's accounting.
//!
//! ```text
//! cnode root radix 6
//! untyped ut0 = root[0] base 0x100000 bits 20 owner alice
//! retype ut0 Endpoint x 4 into root[8..12]
//! mint root[8] -> root[12] rights(read) badge 7
//! revoke ut0
//! ```
//!
//! A script may instead start by booting one of the spec's systems
//! (`system NAME`, module `system`), and assert with `expect` statements
//! (module `expect`). docs/simulate.md describes every statement. Mistakes in a
//! script are diagnostics with codes E0800..E0805 and E0930..E0932, a span
//! and a hint, rendered like a spec's; a refused operation is not a
//! mistake but a result, printed with the kernel's error; an expectation
//! the run misses is E0933.

use capc_dsl::units::sum as bytes;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{CNodeId, Donated, Holder, Machine, NodeId, OpError, Slot, Why};
use capc_dsl::ast::ObjectKind;
use capc_dsl::diag::{Code, Diagnostic, closest};
use capc_dsl::model::{CapId, ObjectId, Role, Spec};
use capc_dsl::source::{FileId, Span};

mod expect;
mod sessions;
mod system;
mod values;

/// Runs the script `text` (file `file` of the caller's source map) against
/// `spec`. Returns the report, or every mistake found; nothing runs when
/// there is one.
pub fn simulate(spec: &Spec, file: FileId, text: &str) -> Result<String, Vec<Diagnostic>> {
    simulate_checked(spec, file, text).map(|(report, _)| report)
}

/// [`simulate`], and the script's expectations that were missed, each an
/// `E0933` diagnostic: a statement may end in `=> OUTCOME` (`ok` for any
/// success, the error as the report prints it, `=> NotEnoughMemory { left:
/// 4080 }`, or its bare name, `=> NotEnoughMemory`, or the whole result as
/// printed, `=> ok: 1 cap(s) deleted`), and an `expect` statement asserts
/// the previous step's outcome or the state (docs/simulate.md, "Expectations"). Each missed one
/// is also marked `MISSED` in the report.
pub fn simulate_checked(
    spec: &Spec,
    file: FileId,
    text: &str,
) -> Result<(String, Vec<Diagnostic>), Vec<Diagnostic>> {
    simulate_report(spec, file, text).map(|r| (r.text, r.missed))
}

/// What a run reports, as text ([`Report::text`], what `capc simulate`
/// prints) and as data (what `--message-format json` prints).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The report as text.
    pub text: String,
    /// Each statement shown, in order.
    pub steps: Vec<StepReport>,
    /// Expectations met and checked.
    pub expectations: (usize, usize),
    /// The `sessions` section's lines (none without sessions).
    pub sessions: Vec<String>,
    /// The cap tree: each cap with its depth (1 for a root).
    pub tree: Vec<(usize, String)>,
    /// Each principal's memory, by name.
    pub principals: Vec<PrincipalMemory>,
    /// Every call made, in order.
    pub calls: Vec<CallReport>,
    /// Each missed expectation, an `E0933`.
    pub missed: Vec<Diagnostic>,
}

/// One statement of a run as the report shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepReport {
    /// Its line in the script.
    pub line: usize,
    /// Its text, without a comment.
    pub statement: String,
    /// The step's result as printed (`ok`, `ok: ...`, `error: ...`), or
    /// what an `expect` statement found.
    pub result: String,
    /// Which cause of its error applied, if it has several.
    pub because: Option<String>,
    /// What the line expects (`=> OUTCOME` or the `expect` statement),
    /// and whether it was met.
    pub expected: Option<(String, bool)>,
}

/// A principal's memory, as the accounting counts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrincipalMemory {
    /// Its name.
    pub name: String,
    /// Bytes given at boot.
    pub given: u64,
    /// Bytes of them in use.
    pub in_use: u64,
    /// How many Untypeds it was given.
    pub untypeds: u64,
}

/// A call as the accounting shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallReport {
    /// `Iface.method`.
    pub method: String,
    /// The paying principal (empty: nobody).
    pub paid_by: String,
    /// Bytes donated.
    pub donated: u64,
    /// Bytes used.
    pub used: u64,
    /// `ok` or the error.
    pub result: String,
}

/// [`simulate_checked`], with the report as data too.
pub fn simulate_report(spec: &Spec, file: FileId, text: &str) -> Result<Report, Vec<Diagnostic>> {
    let mut parser = Parser {
        spec,
        diags: Vec::new(),
        names: BTreeMap::new(),
        root: None,
        sessions: sessions::Names::default(),
        regions: Vec::new(),
        booted: system::Booted::default(),
    };
    let mut stmts = Vec::new();
    for (line_no, (start, full_line)) in lines(text).enumerate() {
        // `=> OUTCOME` before any comment: what the statement must give.
        let code = full_line.split('#').next().unwrap_or("");
        let (line, expect) = match code.find("=>") {
            Some(at) => {
                let want = code[at + 2..].trim();
                let span = Span::new(file, start + at..start + code.trim_end().len());
                if let Err(d) = expect::check_outcome(want, span) {
                    parser.diags.push(*d);
                    continue;
                }
                (&full_line[..at], Some((want.to_string(), span)))
            }
            None => (full_line, None),
        };
        // `expect OUTCOME`: the outcome is text, as after `=>`.
        if let Some(want) = outcome_expectation(code) {
            let at = code.len() - code.trim_start().len();
            let span = Span::new(file, start + at..start + code.trim_end().len());
            let want_at = code.len() - want.len();
            let want_span = Span::new(file, start + want_at..start + code.trim_end().len());
            match expect::check_outcome(want.trim_end(), want_span) {
                Ok(()) => stmts.push((
                    line_no + 1,
                    code.trim().to_string(),
                    span,
                    Stmt::ExpectOutcome(want.trim_end().to_string()),
                    None,
                )),
                Err(d) => parser.diags.push(*d),
            }
            continue;
        }
        let tokens = match lex(line, start, file) {
            Ok(t) => t,
            Err(d) => {
                parser.diags.push(*d);
                continue;
            }
        };
        if tokens.is_empty() {
            continue;
        }
        let span = tokens[0].span.to(tokens[tokens.len() - 1].span);
        let mut cursor = Cursor {
            tokens: &tokens,
            at: 0,
            end: Span::new(file, start + line.len()..start + line.len()),
        };
        match parser.statement(&mut cursor) {
            Ok(Some(stmt)) => {
                let shown = code.trim().to_string();
                stmts.push((line_no + 1, shown, span, stmt, expect));
            }
            Ok(None) => {}
            Err(d) => parser.diags.push(*d),
        }
    }
    // `expect OUTCOME` checks the step before it: there must be one.
    let before_any_step = stmts
        .iter()
        .take_while(|s| matches!(s.3, Stmt::Expect(_) | Stmt::ExpectOutcome(_)))
        .find(|s| matches!(s.3, Stmt::ExpectOutcome(_)));
    if let Some(first) = before_any_step {
        parser.diags.push(
            Diagnostic::new(
                Code::ScriptInvalid,
                first.2,
                "an outcome is expected before any step",
            )
            .label("no step before it")
            .help("write `expect OUTCOME` after the step whose outcome it checks"),
        );
    }
    if parser.root.is_none() && parser.diags.is_empty() {
        let span = Span::new(file, 0..text.len().min(1));
        parser.diags.push(
            Diagnostic::new(
                Code::ScriptInvalid,
                span,
                "the script declares no root CNode",
            )
            .label("the script starts here")
            .help("begin the script with `cnode root radix 6` (64 slots), or boot a system: `system NAME`"),
        );
    }
    if !parser.diags.is_empty() {
        return Err(parser.diags);
    }
    Ok(run(spec, parser.root.unwrap_or(0), &stmts, &parser.booted))
}

/// The outcome of an `expect OUTCOME` line (`ok`, `ok: ...` or an error,
/// which starts with a capital), with the rest of the line; `None` for
/// any other line.
fn outcome_expectation(code: &str) -> Option<&str> {
    let rest = code.trim_start().strip_prefix("expect")?;
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let want = rest.trim_start();
    let outcome = want.starts_with(|c: char| c.is_ascii_uppercase())
        || want == "ok"
        || want.starts_with("ok:")
        || want.starts_with("ok ");
    outcome.then_some(want)
}

/// Lines with the byte offset where each starts.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut offset = 0;
    text.split_inclusive('\n').map(move |l| {
        let start = offset;
        offset += l.len();
        (start, l.trim_end_matches(['\n', '\r']))
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Number(String),
    /// `"text"`: a string argument (no escapes).
    Str(String),
    Punct(&'static str),
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    span: Span,
}

const PUNCT: &[&str] = &[
    "->", "..", "=", "[", "]", "(", ")", ",", ".", "+", "{", "}", "-",
];

fn lex(line: &str, start: usize, file: FileId) -> Result<Vec<Token>, Box<Diagnostic>> {
    let mut tokens = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'#' {
            break;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let from = i;
        let tok = if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            Tok::Ident(line[from..i].to_string())
        } else if c.is_ascii_digit() {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            Tok::Number(line[from..i].to_string())
        } else if c == b'"' {
            let Some(len) = line[i + 1..].find('"') else {
                let span = Span::new(file, start + i..start + line.len());
                return Err(Box::new(
                    Diagnostic::new(Code::ScriptSyntax, span, "unterminated string")
                        .label("no closing `\"`")
                        .help("end the string with `\"` on the same line"),
                ));
            };
            i += len + 2;
            Tok::Str(line[from + 1..i - 1].to_string())
        } else if let Some(p) = PUNCT.iter().find(|p| line[i..].starts_with(**p)) {
            i += p.len();
            Tok::Punct(p)
        } else {
            let len = line[i..].chars().next().map_or(1, char::len_utf8);
            let span = Span::new(file, start + i..start + i + len);
            return Err(Box::new(
                Diagnostic::new(
                    Code::ScriptSyntax,
                    span,
                    format!("unexpected character `{}`", &line[i..i + len]),
                )
                .label("not part of any statement")
                .help("see docs/simulate.md for the statements and their syntax"),
            ));
        };
        tokens.push(Token {
            tok,
            span: Span::new(file, start + from..start + i),
        });
    }
    Ok(tokens)
}

struct Cursor<'t> {
    tokens: &'t [Token],
    at: usize,
    end: Span,
}

type PResult<T> = Result<T, Box<Diagnostic>>;

impl Cursor<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn span(&self) -> Span {
        self.peek().map_or(self.end, |t| t.span)
    }

    /// The span of the token before the cursor (the end of the line's
    /// start when there is none).
    fn span_before(&self) -> Span {
        self.at
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .map_or(self.end, |t| t.span)
    }

    fn found(&self) -> String {
        match self.peek().map(|t| &t.tok) {
            None => "the end of the line".to_string(),
            Some(Tok::Ident(s) | Tok::Number(s)) => format!("`{s}`"),
            Some(Tok::Str(s)) => format!("\"{s}\""),
            Some(Tok::Punct(p)) => format!("`{p}`"),
        }
    }

    fn error(&self, expected: &str, example: &str) -> Box<Diagnostic> {
        Box::new(
            Diagnostic::new(
                Code::ScriptSyntax,
                self.span(),
                format!("expected {expected}, found {}", self.found()),
            )
            .label(format!("expected {expected}"))
            .help(format!("write it as in `{example}`")),
        )
    }

    fn is(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Punct(q), .. }) if *q == p)
    }

    /// The word after the slot path that starts here (a name, then any
    /// `[N]`), without moving.
    fn word_after_path(&self) -> Option<&str> {
        let mut at = self.at + 1;
        while matches!(self.tokens.get(at), Some(Token { tok: Tok::Punct(p), .. }) if *p == "[") {
            at += 3;
        }
        match self.tokens.get(at) {
            Some(Token {
                tok: Tok::Ident(w), ..
            }) => Some(w),
            _ => None,
        }
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Ident(q), .. }) if q == w)
    }

    fn eat(&mut self, p: &str) -> bool {
        let yes = self.is(p) || self.is_word(p);
        if yes {
            self.at += 1;
        }
        yes
    }

    fn expect(&mut self, p: &str, example: &str) -> PResult<()> {
        if self.eat(p) {
            Ok(())
        } else {
            Err(self.error(&format!("`{p}`"), example))
        }
    }

    fn ident(&mut self, what: &str, example: &str) -> PResult<(String, Span)> {
        match self.peek() {
            Some(Token {
                tok: Tok::Ident(s),
                span,
            }) => {
                let out = (s.clone(), *span);
                self.at += 1;
                Ok(out)
            }
            _ => Err(self.error(what, example)),
        }
    }

    /// A name, or names joined by `.` (`client.dec`), as one name.
    fn name(&mut self, what: &str, example: &str) -> PResult<(String, Span)> {
        let (mut name, mut span) = self.ident(what, example)?;
        while self.is(".") {
            self.at += 1;
            let (part, part_span) = self.ident(what, example)?;
            name = format!("{name}.{part}");
            span = span.to(part_span);
        }
        Ok((name, span))
    }

    fn number(&mut self, what: &str, example: &str) -> PResult<(u64, Span)> {
        let Some(Token {
            tok: Tok::Number(text),
            span,
        }) = self.peek().cloned()
        else {
            return Err(self.error(what, example));
        };
        self.at += 1;
        let clean = text.replace('_', "");
        let value = match clean
            .strip_prefix("0x")
            .or_else(|| clean.strip_prefix("0X"))
        {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => clean.parse::<u64>(),
        };
        value.map(|v| (v, span)).map_err(|_| {
            Box::new(
                Diagnostic::new(Code::ScriptNumber, span, format!("`{text}` is not a number that fits in 64 bits"))
                    .label("not a 64-bit number")
                    .help("write a decimal or 0x-prefixed hexadecimal number below 2^64, `_` between digits allowed"),
            )
        })
    }

    fn done(&self, example: &str) -> PResult<()> {
        if self.peek().is_some() {
            return Err(self.error("the end of the line", example));
        }
        Ok(())
    }
}

/// A slot path as written: indices from the root CNode.
#[derive(Clone, Debug)]
struct PathExpr {
    path: Vec<u64>,
}

#[derive(Clone, Debug)]
enum Stmt {
    Boot {
        slot: PathExpr,
        cap: super::Cap,
        owner: String,
    },
    Retype {
        source: PathExpr,
        object: ObjectId,
        arg: u64,
        dest: Vec<u64>,
        offset: u64,
        count: u64,
        /// `at BYTES`: placed at that offset into the source's region
        /// (`Machine::retype_at`), not at its watermark.
        at: Option<u64>,
    },
    Copy {
        source: PathExpr,
        dest: PathExpr,
        rights: u64,
        badge: Option<u64>,
    },
    Move {
        source: PathExpr,
        dest: PathExpr,
    },
    /// `derive SOURCE -> DEST CapType`: by the spec's `derive` rule.
    Derive {
        source: PathExpr,
        dest: PathExpr,
        target: CapId,
    },
    /// `split SOURCE range FIRST..=LAST into DEST`: by its type's
    /// `#[range]` splitting rule.
    SplitRange {
        source: PathExpr,
        first: u64,
        last: u64,
        dest: PathExpr,
    },
    /// `split SOURCE ARG [x N] [at BYTES] into DEST`: by its type's
    /// splitting rule, from the start of its object or `BYTES` into it.
    Split {
        source: PathExpr,
        arg: u64,
        count: u64,
        at: Option<u64>,
        dest: PathExpr,
    },
    Delete(PathExpr),
    Revoke(PathExpr),
    /// `configure TARGET NAME PATH ...`: owned slots by name; those not
    /// named are left empty.
    Configure {
        target: PathExpr,
        slots: Vec<(String, PathExpr)>,
    },
    Map {
        cap: PathExpr,
        page: u64,
        space: Option<PathExpr>,
    },
    Unmap(PathExpr),
    /// `session`, `upgrade`, `close`, `request` (see [`sessions`]).
    Session(sessions::SessionStmt),
    /// `make_pool UNTYPED into DEST`: an ASID pool from an Untyped.
    MakePool {
        untyped: PathExpr,
        dest: PathExpr,
    },
    /// `create INVOKED CapType.method NAME VALUE ... into DEST`: a
    /// creation invocation (`creates`), its arguments by parameter name.
    Create {
        invoked: PathExpr,
        cap_type: CapId,
        method: String,
        words: BTreeMap<usize, u64>,
        untyped: Option<PathExpr>,
        dest: PathExpr,
    },
    /// `assign ROOT from POOL`: an address space's number.
    Assign {
        root: PathExpr,
        pool: PathExpr,
    },
    Call {
        interface: String,
        method: String,
        donated: Donated,
        allocations: Vec<(ObjectId, u64)>,
        /// The first argument the decoder refuses (docs/simulate.md,
        /// "Typed arguments"), if any: the call is then refused whole.
        refused: Option<u64>,
    },
    /// `system NAME`: boots a system of the spec.
    System(Box<system::Boot>),
    /// `expect OUTCOME`: the previous step's outcome.
    ExpectOutcome(String),
    /// `expect ...`: an assertion about the state.
    Expect(expect::Expectation),
}

struct Parser<'s> {
    spec: &'s Spec,
    diags: Vec<Diagnostic>,
    /// Names bound to slot paths, with where they were bound.
    names: BTreeMap<String, (Vec<u64>, Span)>,
    /// The root CNode's radix, once declared.
    root: Option<u32>,
    /// Sessions and handles the script names.
    sessions: sessions::Names,
    /// The memory given at boot so far: region `(base, bytes)`, its
    /// principal and where it was given, so no two boot Untypeds overlap.
    regions: Vec<BootRegion>,
    /// What a booted system lets the script name.
    booted: system::Booted,
}

/// Memory a script gives at boot: a region, its principal, where.
#[derive(Clone, Debug)]
struct BootRegion {
    base: u64,
    bytes: u64,
    owner: String,
    span: Span,
}

const STATEMENTS: &[&str] = &[
    "cnode",
    "system",
    "expect",
    "untyped",
    "cap",
    "let",
    "retype",
    "copy",
    "mint",
    "move",
    "derive",
    "split",
    "delete",
    "revoke",
    "configure",
    "map",
    "unmap",
    "make_pool",
    "create",
    "assign",
    "call",
    "session",
    "upgrade",
    "close",
    "request",
];

impl Parser<'_> {
    fn statement(&mut self, c: &mut Cursor<'_>) -> PResult<Option<Stmt>> {
        let (word, span) = c.ident("a statement", "retype ut0 Endpoint into root[8]")?;
        if word != "cnode" && word != "system" && self.root.is_none() {
            return Err(Box::new(
                Diagnostic::new(
                    Code::ScriptInvalid,
                    span,
                    "the root CNode must be declared first",
                )
                .label("before `cnode root`")
                .help("begin the script with `cnode root radix 6` (64 slots), or boot a system: `system NAME`"),
            ));
        }
        let stmt = match word.as_str() {
            "cnode" => {
                let example = "cnode root radix 6";
                let (name, name_span) = c.ident("`root`", example)?;
                if name != "root" {
                    return Err(Box::new(
                        Diagnostic::new(Code::ScriptInvalid, name_span, "only the root CNode can be declared")
                            .label("not `root`")
                            .help("declare `cnode root radix N`; make other CNodes with `retype ... CNode(radix) into ...`"),
                    ));
                }
                if self.root.is_some() {
                    return Err(Box::new(
                        Diagnostic::new(
                            Code::ScriptDuplicate,
                            name_span,
                            "the root CNode is declared twice",
                        )
                        .label("declared again here")
                        .with_secondary(self.names["root"].1, "first declared here")
                        .help("declare it once"),
                    ));
                }
                c.expect("radix", example)?;
                let (radix, radix_span) = c.number("the radix", example)?;
                if !(1..=16).contains(&radix) {
                    return Err(Box::new(
                        Diagnostic::new(
                            Code::ScriptNumber,
                            radix_span,
                            format!("radix {radix} is out of range"),
                        )
                        .label("not in 1..=16")
                        .help("give the root CNode between 2 and 65536 slots: a radix in 1..=16"),
                    ));
                }
                c.done(example)?;
                self.root = Some(radix as u32);
                self.names.insert("root".into(), (Vec::new(), name_span));
                return Ok(None);
            }
            "let" => {
                let example = "let out = root[16]";
                let (name, name_span) = c.ident("a name", example)?;
                c.expect("=", example)?;
                let slot = self.path(c, example)?;
                c.done(example)?;
                self.bind(name, name_span, slot.path)?;
                return Ok(None);
            }
            "system" => self.system_statement(c, span)?,
            "expect" => Stmt::Expect(self.expectation(c)?),
            "untyped" => self.untyped(c)?,
            "cap" => self.cap(c)?,
            "retype" => self.retype(c)?,
            "copy" | "mint" => {
                let example = if word == "copy" {
                    "copy root[8] -> root[9] rights(read)"
                } else {
                    "mint root[8] -> root[9] rights(read) badge 7"
                };
                let source = self.path(c, example)?;
                c.expect("->", example)?;
                let dest = self.path(c, example)?;
                let rights = if c.is_word("rights") {
                    self.rights(c, example)?
                } else {
                    u64::MAX
                };
                let badge = if word == "mint" {
                    c.expect("badge", example)?;
                    Some(c.number("the badge", example)?.0)
                } else {
                    None
                };
                c.done(example)?;
                Stmt::Copy {
                    source,
                    dest,
                    rights,
                    badge,
                }
            }
            "move" => {
                let example = "move root[8] -> root[9]";
                let source = self.path(c, example)?;
                c.expect("->", example)?;
                let dest = self.path(c, example)?;
                c.done(example)?;
                Stmt::Move { source, dest }
            }
            "derive" => {
                let example = "derive root[8] -> root[9] FrameMappingCap";
                let source = self.path(c, example)?;
                c.expect("->", example)?;
                let dest = self.path(c, example)?;
                let (target, _, _) = self.cap_type(c, "a cap type", example)?;
                c.done(example)?;
                Stmt::Derive {
                    source,
                    dest,
                    target,
                }
            }
            "split" if c.word_after_path() == Some("range") => {
                let example = "split root[8] range 32..=47 into root[9]";
                let source = self.path(c, example)?;
                c.expect("range", example)?;
                let (first, _) = c.number("the first number of the range", example)?;
                c.expect("..", example)?;
                c.expect("=", example)?;
                let (last, _) = c.number("the last number of the range", example)?;
                c.expect("into", example)?;
                let dest = self.path(c, example)?;
                c.done(example)?;
                Stmt::SplitRange {
                    source,
                    first,
                    last,
                    dest,
                }
            }
            "split" => {
                let example = "split root[8] 12 x 4 into root[9]";
                let source = self.path(c, example)?;
                let (arg, _) = c.number("the pieces' size argument", example)?;
                let count = if c.is_word("x") {
                    c.expect("x", example)?;
                    c.number("how many pieces", example)?.0
                } else {
                    1
                };
                let at = if c.is_word("at") {
                    c.expect("at", example)?;
                    Some(c.number("the byte offset into the source", example)?.0)
                } else {
                    None
                };
                c.expect("into", example)?;
                let dest = self.path(c, example)?;
                c.done(example)?;
                Stmt::Split {
                    source,
                    arg,
                    count,
                    at,
                    dest,
                }
            }
            "delete" | "revoke" => {
                let example = format!("{word} root[8]");
                let at = self.path(c, &example)?;
                c.done(&example)?;
                if word == "delete" {
                    Stmt::Delete(at)
                } else {
                    Stmt::Revoke(at)
                }
            }
            "configure" => {
                let example = "configure root[8] cspace root[9] ipc_buffer root[10]";
                let target = self.path(c, example)?;
                let mut slots = Vec::new();
                while c.peek().is_some() {
                    let (name, span) = c.ident("an owned slot's name", example)?;
                    let names = self.spec.objects.iter().flat_map(|o| &o.slots);
                    if !names.clone().any(|s| s.name == name) {
                        let d = Diagnostic::new(
                            Code::ScriptUnknownItem,
                            span,
                            format!("no object owns a slot called `{name}`"),
                        )
                        .label("not an owned slot");
                        let d = match closest(&name, names.map(|s| s.name.as_str())) {
                            Some(s) => d.help(format!("did you mean `{s}`?")),
                            None => {
                                d.help("name a slot an object declares with `slot NAME: CapType;`")
                            }
                        };
                        return Err(Box::new(d));
                    }
                    slots.push((name, self.path(c, example)?));
                }
                Stmt::Configure { target, slots }
            }
            "map" => {
                let example = "map root[10] page 5 in root[11]";
                let cap = self.path(c, example)?;
                c.expect("page", example)?;
                let (page, _) = c.number("a page number", example)?;
                let space = if c.eat("in") {
                    Some(self.path(c, example)?)
                } else {
                    None
                };
                c.done(example)?;
                Stmt::Map { cap, page, space }
            }
            "unmap" => {
                let example = "unmap root[10]";
                let at = self.path(c, example)?;
                c.done(example)?;
                Stmt::Unmap(at)
            }
            "make_pool" => {
                let example = "make_pool root[9] into root[10]";
                let untyped = self.path(c, example)?;
                c.expect("into", example)?;
                let dest = self.path(c, example)?;
                c.done(example)?;
                Stmt::MakePool { untyped, dest }
            }
            "create" => self.create(c)?,
            "assign" => {
                let example = "assign root[3] from root[10]";
                let root = self.path(c, example)?;
                c.expect("from", example)?;
                let pool = self.path(c, example)?;
                c.done(example)?;
                Stmt::Assign { root, pool }
            }
            "call" => self.call(c)?,
            w if sessions::STATEMENTS.contains(&w) => Stmt::Session(self.session_statement(w, c)?),
            _ => {
                let mut d = Diagnostic::new(
                    Code::ScriptSyntax,
                    span,
                    format!("unknown statement `{word}`"),
                )
                .label("not a statement");
                d = match closest(&word, STATEMENTS.iter().copied()) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help(format!("a statement is one of {}", STATEMENTS.join(", "))),
                };
                return Err(Box::new(d));
            }
        };
        Ok(Some(stmt))
    }

    /// Records memory given at boot: `E0931` if it overlaps memory given
    /// before, to the same principal or another.
    fn give(&mut self, region: BootRegion) -> PResult<()> {
        let end = region.base.saturating_add(region.bytes);
        if let Some(other) = self
            .regions
            .iter()
            .find(|r| r.base < end && region.base < r.base.saturating_add(r.bytes))
        {
            let whose = if other.owner == region.owner {
                format!("given to `{}` twice", region.owner)
            } else {
                format!("given to both `{}` and `{}`", other.owner, region.owner)
            };
            return Err(Box::new(
                Diagnostic::new(
                    Code::UntypedOverlap,
                    region.span,
                    format!(
                        "{:#x}..{:#x} overlaps {:#x}..{:#x}: memory {whose}",
                        region.base,
                        end,
                        other.base,
                        other.base.saturating_add(other.bytes)
                    ),
                )
                .label("overlaps memory given before")
                .with_secondary(other.span, "given here first")
                .note("each byte of memory is given at boot once: an object made from one Untyped would lie in the other's memory")
                .help(format!(
                    "give this Untyped memory from {:#x} on, after the other's end",
                    other.base.saturating_add(other.bytes)
                )),
            ));
        }
        self.regions.push(region);
        Ok(())
    }

    fn bind(&mut self, name: String, span: Span, path: Vec<u64>) -> PResult<()> {
        if let Some((_, first)) = self.names.get(&name) {
            return Err(Box::new(
                Diagnostic::new(
                    Code::ScriptDuplicate,
                    span,
                    format!("`{name}` is defined twice"),
                )
                .label("defined again here")
                .with_secondary(*first, "first defined here")
                .help("give each name one slot; use another name"),
            ));
        }
        self.names.insert(name, (path, span));
        Ok(())
    }

    /// `name[i][j]`, the name being `root` or a `let`/`untyped`/`cap` name.
    fn path(&mut self, c: &mut Cursor<'_>, example: &str) -> PResult<PathExpr> {
        let (name, span) = c.name("a slot such as `root[3]`", example)?;
        let Some((base, _)) = self.names.get(&name) else {
            return Err(self.unknown_slot(&name, span));
        };
        let mut path = base.clone();
        while c.eat("[") {
            let (index, _) = c.number("a slot index", example)?;
            c.expect("]", example)?;
            path.push(index);
        }
        if path.is_empty() {
            return Err(c.error("`[` and a slot index after `root`", example));
        }
        Ok(PathExpr { path })
    }

    fn unknown_slot(&self, name: &str, span: Span) -> Box<Diagnostic> {
        let d = Diagnostic::new(
            Code::ScriptUnknownName,
            span,
            format!("no slot is called `{name}`"),
        )
        .label("unknown name");
        Box::new(match closest(name, self.names.keys().map(String::as_str)) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => d.help("name a slot `root[N]`, or bind a name first with `let NAME = root[N]`"),
        })
    }

    /// A cap type's name (`what` says which, for the diagnostic): its id,
    /// its name and span, or an unknown-name error with the closest one.
    fn cap_type(
        &self,
        c: &mut Cursor<'_>,
        what: &str,
        example: &str,
    ) -> PResult<(capc_dsl::model::CapId, String, Span)> {
        let (type_name, type_span) = c.ident(what, example)?;
        let spec = self.spec;
        match spec.cap(&type_name) {
            Some(id) => Ok((id, type_name, type_span)),
            None => Err(self.unknown(
                type_span,
                "cap type",
                &type_name,
                spec.caps.iter().map(|t| t.name.as_str()),
            )),
        }
    }

    fn rights(&mut self, c: &mut Cursor<'_>, example: &str) -> PResult<u64> {
        c.expect("rights", example)?;
        c.expect("(", example)?;
        let mut mask = 0;
        while !c.is(")") {
            let (name, span) = c.ident("a right", example)?;
            let Some(i) = self.spec.rights.iter().position(|r| r.name == name) else {
                return Err(self.unknown(
                    span,
                    "right",
                    &name,
                    self.spec.rights.iter().map(|r| r.name.as_str()),
                ));
            };
            mask |= 1 << i;
            if !c.eat(",") {
                break;
            }
        }
        c.expect(")", example)?;
        Ok(mask)
    }

    fn unknown<'a>(
        &self,
        span: Span,
        what: &str,
        name: &str,
        candidates: impl Iterator<Item = &'a str> + Clone,
    ) -> Box<Diagnostic> {
        let d = Diagnostic::new(
            Code::ScriptUnknownItem,
            span,
            format!("the spec has no {what} `{name}`"),
        )
        .label(format!("unknown {what}"));
        Box::new(match closest(name, candidates.clone()) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => {
                let all: Vec<&str> = candidates.collect();
                d.help(format!("the spec's {what}s: {}", all.join(", ")))
            }
        })
    }

    /// `Obj` or `Obj(arg)`; with `checked`, the argument is one the
    /// object's size rule allows (`E0803`). A retype takes any argument, as
    /// the kernel's ABI carries any word: the interpreter answers with
    /// seL4's error.
    fn object(
        &mut self,
        c: &mut Cursor<'_>,
        example: &str,
        checked: bool,
    ) -> PResult<(ObjectId, u64)> {
        let (name, span) = c.ident("an object type", example)?;
        let Some(object) = self.spec.object(&name) else {
            return Err(self.unknown(
                span,
                "object type",
                &name,
                self.spec.objects.iter().map(|o| o.name.as_str()),
            ));
        };
        let o = &self.spec.objects[object.index()];
        let arg = if c.eat("(") {
            let (arg, arg_span) = c.number("the size argument", example)?;
            c.expect(")", example)?;
            if checked && o.size.size_of(arg).is_none() {
                return Err(Box::new(
                    Diagnostic::new(
                        Code::ScriptNumber,
                        arg_span,
                        format!("`{}` does not allow the size argument {arg}", o.name),
                    )
                    .label("not an allowed size argument")
                    .help(format!(
                        "use one of {}..={}",
                        o.size.min_arg(),
                        o.size.max_arg()
                    )),
                ));
            }
            arg
        } else if o.size.param.is_some() {
            return Err(c.error(
                &format!("`(` and the size argument of `{}`", o.name),
                &format!("{}({})", o.name, o.size.min_arg()),
            ));
        } else {
            0
        };
        Ok((object, arg))
    }

    fn untyped(&mut self, c: &mut Cursor<'_>) -> PResult<Stmt> {
        let example = "untyped ut0 = root[0] base 0x100000 bits 20 owner alice";
        let (name, name_span) = c.ident("a name", example)?;
        c.expect("=", example)?;
        let slot = self.path(c, example)?;
        c.expect("base", example)?;
        let (base, base_span) = c.number("the base address", example)?;
        // `bytes N` for a byte-sized Untyped (`#[bytes]`); `bits N` for
        // any, 2^N bytes.
        let in_bytes = c.eat("bytes");
        if !in_bytes {
            c.expect("bits", example)?;
        }
        let (bits, bits_span) = if in_bytes {
            c.number("the size in bytes", example)?
        } else {
            c.number("log2 of the size", example)?
        };
        let device = c.eat("device");
        let owner = if c.eat("owner") {
            c.ident("a principal's name", example)?.0
        } else {
            "root".to_string()
        };
        c.done(example)?;
        // The first untyped cap type for this kind of memory.
        let spec = self.spec;
        let cap_type = spec.caps.iter().position(|t| {
            t.object.is_some_and(|o| {
                let o = &spec.objects[o.index()];
                o.kind == ObjectKind::Untyped && if device { o.device } else { o.ram }
            })
        });
        let Some(cap_type) = cap_type else {
            let kind = if device { "device" } else { "RAM" };
            return Err(Box::new(
                Diagnostic::new(
                    Code::ScriptInvalid,
                    name_span,
                    format!("the spec has no untyped memory in {kind}"),
                )
                .label("no cap type for this memory")
                .help("declare an `untyped` object with a cap type in the spec, or drop `device`"),
            ));
        };
        let machine = Machine::new(spec, 1);
        let mut cap = machine.blank_cap(CapId(cap_type as u32));
        let object = &spec.objects[spec.caps[cap_type].object.expect("untyped").index()];
        cap.object = base;
        cap.size_arg = match (object.size.is_bytes(), in_bytes) {
            (true, true) | (false, false) => bits,
            (true, false) => 1u64
                .checked_shl(u32::try_from(bits).unwrap_or(64))
                .unwrap_or(0),
            (false, true) => {
                return Err(Box::new(
                    Diagnostic::new(
                        Code::ScriptInvalid,
                        bits_span,
                        format!("`{}` is not byte-sized", object.name),
                    )
                    .label("a size in bytes")
                    .note("`bytes N` gives a byte-sized (`#[bytes]`) Untyped its size")
                    .help("give log2 of the size: `bits N`"),
                ));
            }
        };
        cap.device = device;
        if !machine.is_memory(&cap) || !machine.cap_fits(&cap) {
            let span = if machine.region(&cap).is_none() {
                bits_span
            } else {
                base_span
            };
            return Err(Box::new(
                Diagnostic::new(
                    Code::ScriptNumber,
                    span,
                    format!(
                        "`{}` cannot hold base {base:#x} with bits {bits}",
                        spec.caps[cap_type].name
                    ),
                )
                .label("does not fit the cap")
                .help("use a size the untyped object allows and a base aligned to it"),
            ));
        }
        let (base, size) = machine.region(&cap).expect("memory has a region");
        // A byte-sized Untyped is aligned to its `align`, any other to its
        // size.
        let align = match object.size.bytes {
            Some(_) => 1u64 << object.align_bits.unwrap_or(0).min(63),
            None => size,
        };
        if base % align != 0 {
            let down = base - base % align;
            return Err(Box::new(
                Diagnostic::new(
                    Code::UntypedMisaligned,
                    base_span,
                    format!(
                        "base {base:#x} is not aligned to the Untyped's {}",
                        bytes(align)
                    ),
                )
                .label(format!("not a multiple of {align:#x}"))
                .note("an Untyped of 2^bits bytes starts at a multiple of 2^bits, as seL4's boot Untypeds do")
                .help(format!(
                    "use base {down:#x} or {:#x}, or fewer bits",
                    down.saturating_add(align)
                )),
            ));
        }
        let span = name_span.to(c.span_before());
        self.give(BootRegion {
            base,
            bytes: size,
            owner: owner.clone(),
            span,
        })?;
        self.bind(name, name_span, slot.path.clone())?;
        Ok(Stmt::Boot { slot, cap, owner })
    }

    fn cap(&mut self, c: &mut Cursor<'_>) -> PResult<Stmt> {
        let example = "cap irq = root[3] IrqHandlerCap irq 3";
        let (name, name_span) = c.ident("a name", example)?;
        c.expect("=", example)?;
        let slot = self.path(c, example)?;
        let (cap_type, type_name, type_span) = self.cap_type(c, "a cap type", example)?;
        let spec = self.spec;
        let t = &spec.caps[cap_type.index()];
        if t.object.is_some() {
            return Err(Box::new(
                Diagnostic::new(Code::ScriptInvalid, type_span, format!("`{type_name}` names an object, which only retype makes"))
                    .label("caps to objects come from retype")
                    .help("declare untyped memory with `untyped` and retype it; `cap` is for caps without an object"),
            ));
        }
        let machine = Machine::new(spec, 1);
        let mut cap = machine.blank_cap(cap_type);
        while let Some(Token {
            tok: Tok::Ident(field),
            span,
        }) = c.peek().cloned()
        {
            c.at += 1;
            let Some(f) = t.fields.iter().find(|f| f.name == field) else {
                return Err(self.unknown(
                    span,
                    &format!("field of `{type_name}` called"),
                    &field,
                    t.fields.iter().map(|f| f.name.as_str()),
                ));
            };
            let (value, value_span) = c.number("the field's value", example)?;
            if !Machine::fits(f, value) {
                return Err(Box::new(
                    Diagnostic::new(
                        Code::ScriptNumber,
                        value_span,
                        format!("{value} does not fit the field `{field}`"),
                    )
                    .label(format!("wider than {} bits", f.width))
                    .help("use a smaller value"),
                ));
            }
            match f.role {
                Role::Badge => cap.badge = value,
                _ => {
                    cap.other.insert(field, value);
                }
            }
        }
        c.done(example)?;
        self.bind(name, name_span, slot.path.clone())?;
        Ok(Stmt::Boot {
            slot,
            cap,
            owner: "root".into(),
        })
    }

    fn retype(&mut self, c: &mut Cursor<'_>) -> PResult<Stmt> {
        let example = "retype ut0 Endpoint x 4 into root[8..12]";
        let source = self.path(c, example)?;
        let (object, arg) = self.object(c, example, false)?;
        let count = if c.eat("x") {
            Some(c.number("the count", example)?)
        } else {
            None
        };
        let at = if c.eat("at") {
            Some(c.number("the byte offset into the source", example)?.0)
        } else {
            None
        };
        c.expect("into", example)?;
        // The destination: a CNode path and a window in its last brackets.
        let (name, span) = c.name("a slot window such as `root[8..12]`", example)?;
        let Some((base, _)) = self.names.get(&name).cloned() else {
            return Err(self.unknown_slot(&name, span));
        };
        let mut dest = base;
        let mut window = None;
        while c.eat("[") {
            let (first, _) = c.number("a slot index", example)?;
            if c.eat("..") {
                let (end, end_span) = c.number("the end of the window", example)?;
                c.expect("]", example)?;
                if end <= first {
                    return Err(Box::new(
                        Diagnostic::new(
                            Code::ScriptNumber,
                            end_span,
                            format!("the window {first}..{end} is empty"),
                        )
                        .label("not after the start")
                        .help(format!(
                            "the end is exclusive: `[{first}..{}]` is one slot",
                            first + 1
                        )),
                    ));
                }
                window = Some((first, Some(end - first)));
                break;
            }
            c.expect("]", example)?;
            if c.is("[") {
                dest.push(first);
            } else {
                window = Some((first, None));
            }
        }
        let Some((offset, len)) = window else {
            return Err(c.error("`[` and the first slot of the window", example));
        };
        let count = match (count, len) {
            (Some((n, span)), Some(len)) if n != len => {
                return Err(Box::new(
                    Diagnostic::new(
                        Code::ScriptInvalid,
                        span,
                        format!("{n} objects do not fill a window of {len} slots"),
                    )
                    .label("count given here")
                    .help("give the count once: `x N into root[a]` or `into root[a..a+N]`"),
                ));
            }
            (Some((n, _)), _) => n,
            (None, Some(len)) => len,
            (None, None) => 1,
        };
        c.done(example)?;
        Ok(Stmt::Retype {
            source,
            object,
            arg,
            dest,
            offset,
            count,
            at,
        })
    }

    /// `create INVOKED CapType.method NAME VALUE ... into DEST`: each
    /// parameter the `creates` clause reads, by name, a number (a path
    /// for its `from` Untyped); the destination replaces the method's
    /// CNode, index and depth.
    fn create(&mut self, c: &mut Cursor<'_>) -> PResult<Stmt> {
        let example = "create root[1] IrqControlCap.get irq 9 into root[3]";
        let invoked = self.path(c, example)?;
        let (cap_type, type_name, _) = self.cap_type(c, "the invoked cap type", example)?;
        let spec = self.spec;
        c.expect(".", example)?;
        let (method, method_span) = c.ident("a method", example)?;
        let set = spec.invocations.iter().find(|s| s.cap == Some(cap_type));
        let methods = set.map_or(&[][..], |s| &s.methods[..]);
        let Some(m) = methods.iter().find(|m| m.name == method) else {
            return Err(self.unknown(
                method_span,
                &format!("method of `{type_name}`"),
                &method,
                methods.iter().map(|m| m.name.as_str()),
            ));
        };
        let Some(creation) = &m.creates else {
            return Err(Box::new(
                Diagnostic::new(
                    Code::ScriptInvalid,
                    method_span,
                    format!("`{type_name}.{method}` creates no cap"),
                )
                .label("no `creates` clause")
                .help("simulate methods with a `creates` clause; retype with `retype`"),
            ));
        };
        // The parameters the clause reads, by index.
        let mut wanted: Vec<usize> = creation.fields.iter().map(|&(_, p)| p).collect();
        wanted.extend(creation.from);
        let mut words = BTreeMap::new();
        let mut untyped = None;
        while !c.eat("into") {
            let (name, span) = c.ident("a parameter's name, or `into`", example)?;
            let Some(p) = wanted.iter().copied().find(|&p| m.params[p].name == name) else {
                return Err(self.unknown(
                    span,
                    &format!("parameter `{type_name}.{method}` creates from"),
                    &name,
                    wanted.iter().map(|&p| m.params[p].name.as_str()),
                ));
            };
            if Some(p) == creation.from {
                untyped = Some(self.path(c, example)?);
            } else {
                words.insert(p, c.number("the argument", example)?.0);
            }
        }
        let dest = self.path(c, example)?;
        c.done(example)?;
        let missing: Vec<String> = wanted
            .iter()
            .filter(|&&p| {
                !words.contains_key(&p) && (Some(p) != creation.from || untyped.is_none())
            })
            .map(|&p| format!("`{}`", m.params[p].name))
            .collect();
        if !missing.is_empty() {
            return Err(Box::new(
                Diagnostic::new(
                    Code::ScriptInvalid,
                    method_span,
                    format!("`{type_name}.{method}` needs {}", missing.join(", ")),
                )
                .label("arguments missing")
                .help(format!(
                    "give each as `NAME VALUE` before `into`: {example}"
                )),
            ));
        }
        Ok(Stmt::Create {
            invoked,
            cap_type,
            method,
            words,
            untyped,
            dest,
        })
    }

    fn call(&mut self, c: &mut Cursor<'_>) -> PResult<Stmt> {
        let example = "call Decompressor.decompress donate ut1 allocate Frame(12) x 3";
        let (interface, span) = c.ident("an interface", example)?;
        let spec = self.spec;
        let Some(set) = spec.interfaces.iter().find(|i| i.name == interface) else {
            return Err(self.unknown(
                span,
                "interface",
                &interface,
                spec.interfaces.iter().map(|i| i.name.as_str()),
            ));
        };
        c.expect(".", example)?;
        let (method, method_span) = c.ident("a method", example)?;
        let Some(m) = set.methods.iter().find(|m| m.name == method) else {
            return Err(self.unknown(
                method_span,
                &format!("method of `{interface}` called"),
                &method,
                set.methods.iter().map(|m| m.name.as_str()),
            ));
        };
        // `PARAM VALUE ...`: arguments of any message type.
        let mut refused = None;
        while let Some(Token {
            tok: Tok::Ident(param),
            span,
        }) = c.peek().cloned()
        {
            let Some(i) = m.params.iter().position(|p| p.name == param) else {
                if param == "donate" || param == "quota" {
                    break;
                }
                return Err(self.unknown(
                    span,
                    &format!("parameter of `{interface}.{method}`"),
                    &param,
                    m.params.iter().map(|p| p.name.as_str()),
                ));
            };
            c.at += 1;
            let p = &m.params[i];
            if matches!(
                p.kind,
                capc_dsl::model::ParamKind::Cap { .. } | capc_dsl::model::ParamKind::AnyCap { .. }
            ) {
                return Err(Box::new(
                    Diagnostic::new(Code::ScriptInvalid, span, format!("`{param}` is a cap"))
                        .label("a cap is not given as a value")
                        .help("leave it out: a call's caps are its donation"),
                ));
            }
            let checked = values::parse(c, spec, &p.kind, p.range)?;
            if !checked.fits {
                refused = Some(refused.map_or(i as u64, |r: u64| r.min(i as u64)));
            }
        }
        let Some(donation) = &m.donation else {
            return Err(Box::new(
                Diagnostic::new(
                    Code::ScriptInvalid,
                    method_span,
                    format!("`{interface}.{method}` takes no donation"),
                )
                .label("allocates nothing for its caller")
                .help("simulate calls of methods with a `donates` clause"),
            ));
        };
        let keyword_span = c.span();
        let donated = if c.eat("donate") {
            Donated::Untyped(self.path(c, example)?.path)
        } else if c.eat("quota") {
            let (bytes, _) = c.number("the quota in bytes", example)?;
            c.expect("by", "call FileService.open quota 1024 by alice")?;
            Donated::Quota {
                principal: c
                    .ident(
                        "the paying principal",
                        "call FileService.open quota 1024 by alice",
                    )?
                    .0,
                bytes,
            }
        } else {
            return Err(c.error("`donate SLOT` or `quota BYTES by NAME`", example));
        };
        let wants_quota = matches!(donation.kind, capc_dsl::model::DonationKind::Quota);
        if wants_quota != matches!(donated, Donated::Quota { .. }) {
            let want = if wants_quota {
                "a quota: `quota BYTES by NAME`"
            } else {
                "an Untyped cap: `donate SLOT`"
            };
            return Err(Box::new(
                Diagnostic::new(
                    Code::ScriptInvalid,
                    keyword_span,
                    format!("`{interface}.{method}` takes {want}"),
                )
                .label("the wrong kind of donation")
                .with_secondary(m.span, "the method is declared here")
                .help(format!("donate {want}")),
            ));
        }
        let mut allocations = Vec::new();
        if c.eat("allocate") {
            loop {
                let from = c.span();
                let (object, arg) = self.object(c, example, true)?;
                let n = if c.eat("x") {
                    c.number("the count", example)?.0
                } else {
                    1
                };
                if !donation
                    .allocations
                    .iter()
                    .any(|a| a.object == object && a.arg == arg)
                {
                    return Err(Box::new(
                        Diagnostic::new(
                            Code::ScriptInvalid,
                            from,
                            format!("`{interface}.{method}` does not allocate this object"),
                        )
                        .label("not in the method's `allocates` clauses")
                        .with_secondary(m.span, "the method is declared here")
                        .help("allocate only what the method declares"),
                    ));
                }
                allocations.extend(std::iter::repeat_n((object, arg), n.min(1 << 16) as usize));
                if !c.eat(",") {
                    break;
                }
            }
        }
        c.done(example)?;
        Ok(Stmt::Call {
            interface,
            method,
            donated,
            allocations,
            refused,
        })
    }
}

// ----- running and reporting -----

/// A parsed statement: its line, its text, where it is, the statement and
/// the outcome it must give, if the script says.
type Parsed = (usize, String, Span, Stmt, Option<(String, Span)>);

fn run(spec: &Spec, radix: u32, stmts: &[Parsed], booted: &system::Booted) -> Report {
    let mut steps: Vec<StepReport> = Vec::new();
    let mut m = Machine::new(spec, radix);
    let mut sessions = sessions::Runner::new(spec);
    let mut out = String::new();
    let mut expected = 0;
    let mut missed: Vec<Diagnostic> = Vec::new();
    // The last step's outcome (`ok` or the error), its whole result as
    // printed, its line and span: what `expect OUTCOME` checks.
    let mut last: Option<(String, String, usize, Span)> = None;
    for (line, text, span, stmt, expect) in stmts {
        // Expectations are checked, not run.
        let checked = match stmt {
            Stmt::ExpectOutcome(want) => {
                let (got, shown, step_line, step_span) =
                    last.clone().expect("the parser puts a step first");
                let found = format!("the step on line {step_line} gave {shown}");
                Some(if expect::outcome_matches(want, &got, &shown) {
                    Ok(found)
                } else {
                    let help = format!("if the step is right, expect `{got}`");
                    Err((want.clone(), found, Some((step_line, step_span)), help))
                })
            }
            Stmt::Expect(e) => Some(expect::check(&m, e).map_err(|(found, help)| {
                let want = text.trim_start_matches("expect").trim().to_string();
                (want, found, None, help)
            })),
            _ => None,
        };
        if let Some(result) = checked {
            expected += 1;
            let want = text.trim_start_matches("expect").trim().to_string();
            let (result, met) = match result {
                Ok(found) => {
                    writeln!(out, "{line:>4}  {text}\n      met").expect("a String");
                    (found, true)
                }
                Err((want, found, step, help)) => {
                    writeln!(out, "{line:>4}  {text}\n      MISSED: {found}").expect("a String");
                    missed.push(expect::missed(*span, &want, &found, step, help));
                    (found, false)
                }
            };
            steps.push(StepReport {
                line: *line,
                statement: text.clone(),
                result,
                because: None,
                expected: Some((want, met)),
            });
            continue;
        }
        // Why an operation was refused, when its error has several causes.
        let mut why: Option<Why> = None;
        let mut session_why: Option<String> = None;
        // A revoke of a session's donated Untyped closes the session.
        let revoked = match stmt {
            Stmt::Revoke(at) => m.resolve(&at.path).and_then(|s| m.id_at(s)),
            _ => None,
        };
        let result = match stmt {
            Stmt::Boot { slot, cap, owner } => match m.resolve(&slot.path) {
                Some(at) => m.boot(at, cap.clone(), owner).map(|_| String::new()),
                None => Err(OpError::FailedLookup { source: 0 }),
            },
            Stmt::Retype {
                source,
                object,
                arg,
                dest,
                offset,
                count,
                at,
            } => match at {
                None => m.retype(
                    &source.path,
                    spec.retype_number(*object, *arg),
                    *arg,
                    dest,
                    *offset,
                    *count,
                ),
                Some(at) => m.retype_at(
                    &source.path,
                    spec.retype_number(*object, *arg),
                    *arg,
                    *at,
                    dest,
                    *offset,
                    *count,
                ),
            }
            .map(|r| {
                let size = r.size;
                format!(
                    "{} × {} ({}) at {:#x}..{:#x}; watermark {}{}",
                    r.count,
                    object_name(spec, r.object, *arg),
                    bytes(size),
                    r.first,
                    r.first + r.count * size,
                    bytes(r.new_watermark),
                    if r.reset { " (reset first)" } else { "" }
                )
            }),
            Stmt::Copy {
                source,
                dest,
                rights,
                badge,
            } => m
                .derive(&source.path, &dest.path, *rights, *badge)
                .map(|_| String::new())
                .map_err(|refused| {
                    why = refused.why;
                    refused.error
                }),
            Stmt::Move { source, dest } => {
                m.move_cap(&source.path, &dest.path).map(|()| String::new())
            }
            Stmt::Derive {
                source,
                dest,
                target,
            } => m
                .derive_cap(&source.path, *target, &dest.path)
                .map(|_| String::new()),
            Stmt::Split {
                source,
                arg,
                count,
                at,
                dest,
            } => match at {
                None => m.split_cap(&source.path, *arg, *count, &dest.path),
                Some(at) => m.split_at(&source.path, *arg, *at, *count, &dest.path),
            }
            .map(|pieces| format!("{} piece(s)", pieces.len())),
            Stmt::SplitRange {
                source,
                first,
                last,
                dest,
            } => m
                .split_range(&source.path, *first, *last, &dest.path)
                .map(|_| String::new()),
            Stmt::Delete(at) => m.delete(&at.path).map(|n| format!("{n} cap(s) deleted")),
            Stmt::Revoke(at) => m.revoke(&at.path).map(|n| format!("{n} cap(s) deleted")),
            Stmt::Configure { target, slots } => configure(&mut m, target, slots),
            Stmt::Map { cap, page, space } => m
                .map(&cap.path, space.as_ref().map(|s| s.path.as_slice()), *page)
                .map(|()| String::new()),
            Stmt::Unmap(at) => m.unmap(&at.path).map(|()| String::new()),
            Stmt::MakePool { untyped, dest } => m
                .make_pool(&untyped.path, &dest.path)
                .map(|place| format!("pool in place {place}")),
            Stmt::Create {
                invoked,
                cap_type,
                method,
                words,
                untyped,
                dest,
            } => {
                let args = super::create::CreateArgs {
                    words: words.clone(),
                    untyped: untyped.as_ref().map(|u| u.path.clone()),
                };
                m.create(*cap_type, method, &invoked.path, &args, &dest.path)
                    .map(|id| {
                        let cap = &m.node(id).expect("made").cap;
                        format!("created {}", m.spec().caps[cap.cap_type.index()].name)
                    })
            }
            Stmt::Assign { root, pool } => m
                .assign(&pool.path, &root.path)
                .map(|asid| format!("address-space number {asid}")),
            Stmt::Call {
                refused: Some(index),
                ..
            } => Err(OpError::InvalidArgument { index: *index }),
            Stmt::Call {
                interface,
                method,
                donated,
                allocations,
                refused: None,
            } => match m.call(interface, method, donated, allocations) {
                Some(Ok(_)) => {
                    let call = m.calls().last().expect("recorded");
                    Ok(format!(
                        "donated {}, used {}: {}",
                        bytes(call.donated),
                        bytes(call.used),
                        allocated(spec, &call.objects)
                    ))
                }
                Some(Err(e)) => {
                    why = m.calls().last().and_then(|call| call.why);
                    Err(e)
                }
                None => Err(OpError::IllegalOperation),
            },
            Stmt::Session(s) => {
                let (result, because) = sessions.run(&m, s);
                session_why = because;
                result
            }
            Stmt::System(boot) => system::boot(&mut m, boot).map_err(|(e, what)| {
                session_why = Some(format!("the boot plan could not {what}"));
                e
            }),
            Stmt::ExpectOutcome(_) | Stmt::Expect(_) => unreachable!("checked above"),
        };
        let because = match (&result, why) {
            (Err(_), Some(why)) => Some(explain(spec, stmt, why)),
            _ => session_why.take(),
        };
        let got = match &result {
            Ok(_) => "ok".to_string(),
            Err(e) => error_text(e),
        };
        let shown = match result {
            Ok(s) if s.is_empty() => "ok".to_string(),
            Ok(s) => format!("ok: {s}"),
            Err(e) => format!("error: {}", error_text(&e)),
        };
        // A boot statement is shown only when it fails (or is expected to).
        let quiet = matches!(stmt, Stmt::Boot { .. }) && got == "ok" && expect.is_none();
        if !quiet {
            writeln!(out, "{line:>4}  {text}\n      {shown}").expect("a String");
            if let Some(because) = &because {
                writeln!(out, "      because {because}").expect("a String");
            }
            let expected = expect
                .as_ref()
                .map(|(want, _)| (want.clone(), expect::outcome_matches(want, &got, &shown)));
            steps.push(StepReport {
                line: *line,
                statement: text.clone(),
                result: shown.clone(),
                because,
                expected,
            });
        }
        sessions.reap(&m, revoked, &mut out);
        // `ok` for any success, the error as printed (or its bare name),
        // or the whole result as printed (`ok: 1 cap(s) deleted`).
        if let Some((want, want_span)) = expect {
            expected += 1;
            if !expect::outcome_matches(want, &got, &shown) {
                writeln!(out, "      MISSED: expected {want}").expect("a String");
                missed.push(expect::missed(
                    *want_span,
                    want,
                    &format!("the step gave {shown}"),
                    Some((*line, *span)),
                    format!("if the step is right, expect `=> {got}`"),
                ));
            }
        }
        last = Some((got, shown, *line, *span));
    }
    if expected > 0 {
        writeln!(
            out,
            "\nexpectations: {} of {expected} met",
            expected - missed.len()
        )
        .expect("a String");
    }
    let mut session_text = String::new();
    sessions.report(spec, &mut session_text);
    out.push_str(&session_text);
    out.push_str("\ncap tree\n");
    let names = system::slot_names(&m, booted);
    let tree = tree(&m, &names);
    if tree.is_empty() {
        out.push_str("  (empty)\n");
    }
    for (depth, cap) in &tree {
        writeln!(out, "{}{cap}", "  ".repeat(*depth)).expect("a String");
    }
    out.push_str("\naccounting\n");
    accounting(&m, &mut out);
    let calls = m
        .calls()
        .iter()
        .map(|call| CallReport {
            method: call.method.clone(),
            paid_by: call.principal.clone(),
            donated: call.donated,
            used: call.used,
            result: match call.result {
                Ok(()) => "ok".to_string(),
                Err(e) => error_text(&e),
            },
        })
        .collect();
    Report {
        text: out,
        steps,
        expectations: (expected - missed.len(), expected),
        sessions: session_text
            .lines()
            .skip_while(|l| l.is_empty() || *l == "sessions")
            .map(str::to_string)
            .collect(),
        tree,
        principals: principals(&m),
        calls,
        missed,
    }
}

/// Runs `configure`: the named slots of the target's object, in its
/// declaration order; a name its object does not own is refused as the
/// kernel would refuse a bad argument.
fn configure(
    m: &mut Machine<'_>,
    target: &PathExpr,
    named: &[(String, PathExpr)],
) -> Result<String, OpError> {
    let owned: Vec<String> = m
        .resolve(&target.path)
        .and_then(|s| m.node_at(s))
        .and_then(|n| m.owned_slots(&n.cap))
        .map(|slots| slots.iter().map(|s| s.name.clone()).collect())
        .unwrap_or_default();
    if let Some(i) = named.iter().position(|(n, _)| !owned.contains(n)) {
        if !owned.is_empty() {
            return Err(OpError::InvalidArgument {
                index: i as u64 + 1,
            });
        }
    }
    let sources: Vec<Option<Vec<u64>>> = owned
        .iter()
        .map(|name| {
            named
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, p)| p.path.clone())
        })
        .collect();
    m.configure(&target.path, &sources)
        .map(|n| format!("{n} cap(s) deleted"))
}

/// `CNode(8) at 0x2000000, 3 × Frame(12) at 0x2002000..0x2005000`: runs of
/// one object type and size placed back to back, shown as one range.
fn allocated(spec: &Spec, objects: &[(ObjectId, u64, u64)]) -> String {
    let mut runs: Vec<(ObjectId, u64, u64, u64, u64)> = Vec::new();
    for (object, arg, address) in objects {
        let size = spec.objects[object.index()].size.size_of(*arg).unwrap_or(0);
        match runs.last_mut() {
            Some(run) if (run.0, run.1) == (*object, *arg) && run.2 + run.3 * size == *address => {
                run.3 += 1;
            }
            _ => runs.push((*object, *arg, *address, 1, size)),
        }
    }
    if runs.is_empty() {
        return "nothing allocated".to_string();
    }
    runs.iter()
        .map(|(object, arg, first, count, size)| {
            let name = object_name(spec, *object, *arg);
            if *count == 1 {
                format!("{name} at {first:#x}")
            } else {
                format!(
                    "{count} × {name} at {first:#x}..{:#x}",
                    first + count * size
                )
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why `stmt` was refused, in words: the cause of an error that has
/// several (`IllegalOperation`, a method's out-of-budget error).
fn explain(spec: &Spec, stmt: &Stmt, why: Why) -> String {
    let cap = |c: CapId| format!("`{}`", spec.caps[c.index()].name);
    let method = match stmt {
        Stmt::Call {
            interface, method, ..
        } => format!("`{interface}.{method}`"),
        _ => "the method".to_string(),
    };
    match why {
        Why::NeverCopy(c) => format!(
            "{} is `#[never_copy]`: there is one cap of the type, which may be moved but not copied",
            cap(c)
        ),
        Why::Unmapped(c) => format!(
            "the {} is not mapped: a cap whose mapping is its object's is copied only once mapped (seL4 does not derive an unmapped page-table cap)",
            cap(c)
        ),
        Why::CopyRequires(c, field) => {
            let t = &spec.caps[c.index()];
            format!(
                "the {}'s `{}` is {}: its type's `#[copy(requires({}))]` allows a copy only while it is not (seL4 does not derive an unmapped table cap)",
                cap(c),
                t.fields[field].name,
                if t.fields[field].kind == capc_dsl::model::FieldKind::Bool {
                    "false"
                } else {
                    "0"
                },
                t.fields[field].name
            )
        }
        Why::Unassigned(c) => format!(
            "the {} has no address-space number yet: a root's cap is copied only once a pool has given it one (seL4 does not derive an unassigned PML4 cap)",
            cap(c)
        ),
        Why::Badged(badge) => format!(
            "the source cap has badge {badge} already: a badge is set once, by the mint that makes the first badged cap (mint from the unbadged cap, or copy this one)"
        ),
        Why::BadgeTooWide { badge, bits } => {
            format!("badge {badge} does not fit the cap's {bits}-bit `#[badge]` field")
        }
        Why::NotTheDonation { wanted, found } if wanted == found => format!(
            "the donated {} is not untyped memory a retype rule applies to",
            cap(found)
        ),
        Why::NotTheDonation { wanted, found } => format!(
            "the donated cap is a {}, and {method} takes a {}",
            cap(found),
            cap(wanted)
        ),
        Why::DeviceDonation(object) => format!(
            "the donation is device memory, and {method} allocates `{}`, which only RAM may hold",
            spec.objects[object.index()].name
        ),
        Why::DonationTooSmall {
            donated,
            needed,
            minimum,
        } if needed == minimum => format!(
            "{} was donated, less than {method}'s minimum donation of {}",
            bytes(donated),
            bytes(minimum)
        ),
        Why::DonationTooSmall {
            donated,
            needed,
            minimum,
        } => format!(
            "{} was donated, and {method}'s worst case needs {} once the donation's start is rounded up to its largest alignment{}",
            bytes(donated),
            bytes(needed),
            if donated < minimum {
                format!(" (its minimum donation is {})", bytes(minimum))
            } else {
                String::new()
            }
        ),
        Why::TooMany {
            object,
            arg,
            declared,
            asked,
        } => format!(
            "{method} allocates at most {declared} × {} per call (its `allocates` clauses), and this call asks for {asked}",
            object_name(spec, object, arg)
        ),
        Why::PastDonation {
            object,
            arg,
            end,
            donated,
        } => format!(
            "the next {} would end {} into the donation, past its {}: allocated in this order the objects leave alignment gaps (largest alignment first leaves none)",
            object_name(spec, object, arg),
            bytes(end),
            bytes(donated)
        ),
    }
}

fn error_text(e: &OpError) -> String {
    format!("{e:?}")
}

fn object_name(spec: &Spec, object: ObjectId, arg: u64) -> String {
    let o = &spec.objects[object.index()];
    match o.size.param {
        Some(_) => format!("{}({arg})", o.name),
        None => o.name.clone(),
    }
}

fn slot_text(m: &Machine<'_>, slot: Slot) -> String {
    match slot.cnode {
        CNodeId::Root => format!("root[{}]", slot.index),
        CNodeId::Object(address) if m.slot_owners().contains_key(&address) => {
            let object = &m.spec().objects[m.slot_owners()[&address].index()];
            let name = object
                .slots
                .get(slot.index as usize)
                .map_or("?", |s| s.name.as_str());
            format!("{}@{address:#x}.{name}", object.name)
        }
        CNodeId::Object(address) => {
            // The first slot holding a cap to this CNode names it.
            let via = m
                .occupied()
                .find(|(_, n)| m.cnode_named(&n.cap) == Some(slot.cnode))
                .map(|(s, _)| s);
            match via {
                Some(via) if via.cnode != slot.cnode => {
                    format!("{}[{}]", slot_text(m, via), slot.index)
                }
                _ => format!("cnode@{address:#x}[{}]", slot.index),
            }
        }
    }
}

fn describe(m: &Machine<'_>, names: &BTreeMap<Slot, String>, id: NodeId) -> String {
    let spec = m.spec();
    let node = m.node(id).expect("live");
    let cap = &node.cap;
    let t = &spec.caps[cap.cap_type.index()];
    let holder = match node.holder {
        Holder::Slot(s) => names.get(&s).cloned().unwrap_or_else(|| slot_text(m, s)),
        Holder::Server(n) => format!("server (call #{})", n + 1),
    };
    let mut text = format!("{holder}  {}", t.name);
    if let Some(object) = t.object {
        let (base, size) = m.region(cap).unwrap_or((cap.object, 0));
        write!(
            text,
            " {} at {base:#x} ({})",
            object_name(spec, object, cap.size_arg),
            bytes(size)
        )
        .expect("a String");
    }
    if !t.rights.is_empty() {
        write!(
            text,
            " rights({})",
            super::rights_names(spec, cap.rights).join(", ")
        )
        .expect("a String");
    }
    if cap.badge != 0 {
        write!(text, " badge {}", cap.badge).expect("a String");
    }
    if m.is_memory(cap) {
        write!(text, " watermark {}", bytes(cap.watermark)).expect("a String");
        if m.is_device(cap) {
            text.push_str(" device");
        }
    }
    for (name, value) in &cap.other {
        write!(text, " {name} {value}").expect("a String");
    }
    if let Some(owner) = m.owner(id) {
        write!(text, " [owner {owner}]").expect("a String");
    }
    text
}

/// The cap tree: each cap (or a server's objects) with its depth, roots
/// at 1.
fn tree(m: &Machine<'_>, names: &BTreeMap<Slot, String>) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut roots: Vec<(String, NodeId)> = m
        .nodes()
        .filter(|(_, n)| n.parent.is_none())
        .map(|(id, _)| (sort_key(m, id), id))
        .collect();
    roots.sort();
    let mut stack: Vec<(usize, NodeId)> = roots.into_iter().rev().map(|(_, id)| (1, id)).collect();
    while let Some((depth, id)) = stack.pop() {
        out.push((depth, describe(m, names, id)));
        let mut children: Vec<(String, NodeId)> = Vec::new();
        let mut served: BTreeMap<usize, Vec<(ObjectId, u64, u64)>> = BTreeMap::new();
        for c in m.children(id) {
            let node = m.node(c).expect("live");
            match (node.holder, m.object_of(&node.cap)) {
                (Holder::Server(call), Some(object)) if m.children(c).is_empty() => served
                    .entry(call)
                    .or_default()
                    .push((object, node.cap.size_arg, node.cap.object)),
                _ => children.push((sort_key(m, c), c)),
            }
        }
        children.sort();
        for (call, objects) in served {
            out.push((
                depth + 1,
                format!(
                    "server (call #{}): {}",
                    call + 1,
                    allocated(m.spec(), &objects)
                ),
            ));
        }
        stack.extend(children.into_iter().rev().map(|(_, c)| (depth + 1, c)));
    }
    out
}

/// Children in slot order (root CNode first), servers' objects last.
fn sort_key(m: &Machine<'_>, id: NodeId) -> String {
    match m.node(id).expect("live").holder {
        Holder::Slot(s) => {
            let cnode = match s.cnode {
                CNodeId::Root => 0,
                CNodeId::Object(a) => a.saturating_add(1),
            };
            format!("0 {cnode:020} {:020}", s.index)
        }
        Holder::Server(n) => format!("1 {n:020} {:020}", id.0),
    }
}

/// Each principal's memory, by name: by what it was given at boot, not by
/// the boot caps, so what was made from the memory stays charged after
/// those caps go.
fn principals(m: &Machine<'_>) -> Vec<PrincipalMemory> {
    let mut principals: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    for (&(base, size), owner) in m.grants() {
        let entry = principals.entry(owner.clone()).or_default();
        entry.0 += size;
        entry.1 += m.in_use_of(base, size);
        entry.2 += 1;
    }
    principals
        .into_iter()
        .map(|(name, (given, in_use, untypeds))| PrincipalMemory {
            name,
            given,
            in_use,
            untypeds,
        })
        .collect()
}

fn accounting(m: &Machine<'_>, out: &mut String) {
    let principals = principals(m);
    if principals.is_empty() {
        out.push_str("  no untyped memory\n");
    }
    for PrincipalMemory {
        name,
        given,
        in_use: used,
        untypeds: count,
    } in &principals
    {
        let check = if used <= given { "" } else { "  OVER BUDGET" };
        writeln!(
            out,
            "  {name}: given {} in {count} Untyped, in use {}, free {}{check}",
            bytes(*given),
            bytes(*used),
            bytes(given.saturating_sub(*used))
        )
        .expect("a String");
    }
    if !m.calls().is_empty() {
        out.push_str("  calls:\n");
    }
    for (i, call) in m.calls().iter().enumerate() {
        let result = match call.result {
            Ok(()) => "ok".to_string(),
            Err(e) => error_text(&e),
        };
        writeln!(
            out,
            "    #{} {} paid by {}: donated {}, used {}: {result}",
            i + 1,
            call.method,
            if call.principal.is_empty() {
                "nobody"
            } else {
                &call.principal
            },
            bytes(call.donated),
            bytes(call.used)
        )
        .expect("a String");
    }
}

#[cfg(test)]
mod tests {
    use capc_dsl::model::Spec;
    use capc_dsl::source::SourceMap;

    /// kernel-demo/spec/kernel.cap, checked.
    fn kernel_spec() -> Spec {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        capc_dsl::compile(
            &root.join("kernel-demo/spec/kernel.cap"),
            &capc_dsl::FsLoader,
        )
        .expect("readable")
        .spec
        .expect("kernel.cap checks clean")
    }

    /// A refused call says which cause of its out-of-budget error applied:
    /// a count above the method's `allocates` clauses, or alignment gaps
    /// of an allocation order other than the layout's in a donation of
    /// exactly the worst case (what is left of a 2 MiB Untyped after 254
    /// frames: 1 MiB + 8 KiB).
    #[test]
    fn out_of_budget_says_why() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let spec = capc_dsl::compile(
            &root.join("kernel-demo/spec/decompress.cap"),
            &capc_dsl::FsLoader,
        )
        .expect("readable")
        .spec
        .expect("decompress.cap checks clean");
        let script = "\
cnode root radix 9
untyped gift = root[0] base 0x2000000 bits 21 owner client
call Decompressor.decompress donate gift allocate CNode(8) x 2
retype gift Frame(12) x 254 into root[1..255]
call Decompressor.decompress donate gift allocate Frame(12), CNode(8), Frame(12) x 255
";
        let mut sources = SourceMap::default();
        let file = sources.add("why.capsim", script.to_string());
        let report = super::simulate(&spec, file, script).expect("a valid script");
        assert!(
            report.contains(
                "error: OutOfBudget { needed: 16384 }\n      because `Decompressor.decompress` allocates at most 1 × CNode(8) per call (its `allocates` clauses), and this call asks for 2\n"
            ),
            "{report}"
        );
        assert!(
            report.contains(
                "      because the next Frame(12) would end 1 MiB + 12 KiB into the donation, past its 1 MiB + 8 KiB: allocated in this order"
            ),
            "{report}"
        );
    }

    /// Deleting the only cap to an Untyped that has live children does not
    /// take them off its principal's account: the memory stays charged
    /// until the objects go.
    #[test]
    fn objects_stay_charged_when_their_untyped_cap_goes() {
        let spec = kernel_spec();
        let script = "\
cnode root radix 4
untyped ut0 = root[0] base 0x100000 bits 16 owner alice
retype ut0 Endpoint x 2 into root[1..3]
delete root[0]
";
        let mut sources = SourceMap::default();
        let file = sources.add("charged.capsim", script.to_string());
        let report = super::simulate(&spec, file, script).expect("a valid script");
        assert!(
            report.contains("alice: given 64 KiB in 1 Untyped, in use 32 B,"),
            "{report}"
        );
    }

    /// A retype may ask for any size argument, as the kernel's ABI may: the
    /// interpreter answers with seL4's errors (below the smallest:
    /// `InvalidArgument`; otherwise not allowed: `RangeError`).
    #[test]
    fn out_of_domain_size_arguments_run() {
        let spec = kernel_spec();
        let script = "\
cnode root radix 4
untyped ut0 = root[0] base 0x100000 bits 16
retype ut0 CNode(30) into root[1]
retype ut0 CNode(0) into root[1]
retype ut0 Frame(13) into root[1]
";
        let mut sources = SourceMap::default();
        let file = sources.add("sizes.capsim", script.to_string());
        let report = super::simulate(&spec, file, script).expect("a valid script");
        for want in [
            "retype ut0 CNode(30) into root[1]\n      error: RangeError { min: 1, max: 24 }",
            "retype ut0 CNode(0) into root[1]\n      error: InvalidArgument { index: 1 }",
            "retype ut0 Frame(13) into root[1]\n      error: RangeError { min: 12, max: 21 }",
        ] {
            assert!(report.contains(want), "{want}\n\n{report}");
        }
    }

    /// `configure`, `make_pool`, `assign`, `map` and `unmap` run on the
    /// interpreter: a PML4 without a number is neither copied into a TCB
    /// nor mapped into, a pool gives it one (once), a TCB's
    /// slots are filled and named in the tree, a frame and a table are
    /// mapped into a PML4's address space, a second link of the table is
    /// refused, and deleting the TCB empties its slots.
    #[test]
    fn lifecycle_statements_run() {
        let spec = kernel_spec();
        let script = "\
cnode root radix 4
untyped ut0 = root[0] base 0x100000 bits 16
retype ut0 Tcb into root[1]
retype ut0 CNode(4) into root[2]
retype ut0 Pml4 into root[3]
retype ut0 Frame(12) into root[4]
retype ut0 PageTable into root[5]
retype ut0 Pdpt into root[7]
retype ut0 PageDirectory into root[8]
configure root[1] cspace root[2] vspace root[3] ipc_buffer root[4]
map root[4] page 0x8000010 in root[3]
retype ut0 Untyped(12) into root[9]
make_pool root[9] into root[10]
assign root[3] from root[10]
assign root[3] from root[10]
configure root[1] cspace root[2] vspace root[3] ipc_buffer root[4]
map root[4] page 0x8000010 in root[3]
map root[7] page 0x8000000 in root[3]
map root[8] page 0x8000000 in root[3]
map root[5] page 0x8000000 in root[3]
map root[4] page 0x8000010 in root[3]
copy root[5] -> root[6] rights(read)
map root[6] page 0x8000200 in root[3]
unmap root[4]
configure root[1] vspace root[3]
delete root[1]
";
        let mut sources = SourceMap::default();
        let file = sources.add("lifecycle.capsim", script.to_string());
        let report = super::simulate(&spec, file, script).expect("a valid script");
        for want in [
            "configure root[1] cspace root[2] vspace root[3] ipc_buffer root[4]\n      error: IllegalOperation",
            "map root[4] page 0x8000010 in root[3]\n      error: InvalidCapability",
            "make_pool root[9] into root[10]\n      ok: pool in place 0",
            "assign root[3] from root[10]\n      ok: address-space number 1",
            "assign root[3] from root[10]\n      error: InvalidCapability",
            "configure root[1] cspace root[2] vspace root[3] ipc_buffer root[4]\n      ok: 0 cap(s) deleted",
            "map root[4] page 0x8000010 in root[3]\n      error: FailedLookup",
            "map root[5] page 0x8000000 in root[3]\n      ok",
            "map root[6] page 0x8000200 in root[3]\n      error: InvalidCapability",
            "configure root[1] vspace root[3]\n      ok: 1 cap(s) deleted",
            "delete root[1]\n      ok: 4 cap(s) deleted",
        ] {
            assert!(report.contains(want), "{want}\n\n{report}");
        }
    }
}
