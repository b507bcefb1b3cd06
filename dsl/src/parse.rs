//! Parsing: text to [`ast::File`] with the pest grammar in grammars/cap.pest.
//!
//! The parser stops at the first syntax error and reports it as an `E0001`
//! diagnostic whose message says, in words, what was expected there. Literal
//! values are computed here (units applied); a literal that does not fit in
//! 64 bits is `E0003`.

// A syntax error ends the parse of a file, so the `Err` path is taken at most
// once per file: the size of `Diagnostic` does not matter there.
#![allow(clippy::result_large_err)]

use pest::Parser as _;
use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};

use crate::ast::*;
use crate::diag::{Code, Diagnostic, closest};
use crate::source::{FileId, Span};

/// The pest-generated parser lives in its own module: its `Rule` enum is an
/// implementation detail, not part of the crate's documented API.
pub(crate) mod grammar {
    #![allow(missing_docs)]
    // dsl/cap.pest is a symlink to grammars/cap.pest, which `cargo package`
    // stores as the file: one grammar, carried by the published crate.
    #[derive(pest_derive::Parser)]
    #[grammar = "cap.pest"]
    pub struct CapParser;
}
use grammar::{CapParser, Rule};

/// Parses one file. On a syntax error, returns the one diagnostic for it.
pub fn parse_file(file: FileId, text: &str) -> std::result::Result<File, Diagnostic> {
    check_nesting(file, text)?;
    // Tracking every parse attempt is what makes "expected ..." messages
    // precise, and it is slow: parse without it (pest's default), and again
    // with it only when there is an error to explain. The switch is global
    // to pest, so detailed parses take turns under a lock; a fast parse that
    // overlaps one is merely slower.
    let mut pairs = match CapParser::parse(Rule::file, text) {
        Ok(pairs) => pairs,
        Err(_) => {
            static DETAILED: std::sync::Mutex<()> = std::sync::Mutex::new(());
            let _turn = DETAILED
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            pest::set_error_detail(true);
            let error = CapParser::parse(Rule::file, text).err();
            pest::set_error_detail(false);
            let error = error.expect("a parse that failed once fails again");
            return Err(syntax_error(file, text, error));
        }
    };
    let root = pairs.next().expect("the file rule always yields one pair");
    Builder { file }.file(root)
}

/// Deepest parenthesis nesting accepted in an expression. Parsing and
/// evaluation recurse once per level; real specs use two or three.
pub const MAX_NESTING: usize = 64;
/// Most operators accepted in one expression (evaluation recurses per operator).
pub const MAX_OPERATORS: usize = 256;

/// Rejects parentheses nested deeper than [`MAX_NESTING`], and more than
/// [`MAX_OPERATORS`] arithmetic operators in one statement, before the
/// parser sees them (comments and quoted paths are skipped): so the parse,
/// whose memory grows with every operator, is bounded whatever the input.
fn check_nesting(file: FileId, text: &str) -> std::result::Result<(), Diagnostic> {
    let mut depth = 0usize;
    let mut operators = 0usize;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '/' if chars.peek().is_some_and(|(_, n)| *n == '/') => {
                for (_, n) in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek().is_some_and(|(_, n)| *n == '*') => {
                chars.next();
                let mut star = false;
                for (_, n) in chars.by_ref() {
                    if star && n == '/' {
                        break;
                    }
                    star = n == '*';
                }
            }
            '"' => {
                for (_, n) in chars.by_ref() {
                    if n == '"' || n == '\n' {
                        break;
                    }
                }
            }
            // No expression spans these, so an unmatched `(` (a syntax error
            // the parser reports) cannot add up across items.
            ';' | '{' | '}' => (depth, operators) = (0, 0),
            '+' | '*' | '-' | '<' => {
                if c == '-' && chars.peek().is_some_and(|(_, n)| *n == '>') {
                    continue; // `->`
                }
                if c == '<' && chars.peek().is_some_and(|(_, n)| *n == '<') {
                    chars.next();
                } else if c == '<' && chars.peek().is_none_or(|(_, n)| *n != '=') {
                    // `Option<T>`: a level of type nesting.
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Err(nested_too_deep(file, i, depth));
                    }
                }
                operators += 1;
                if operators > MAX_OPERATORS {
                    return Err(Diagnostic::new(
                        Code::TooComplex,
                        Span::new(file, i..i + 1),
                        format!("more than {MAX_OPERATORS} operators in one statement"),
                    )
                    .label(format!("operator {operators}"))
                    .note("capc limits expression length so that checking any input is bounded")
                    .help("split the expression into named constants"));
                }
            }
            '(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(Diagnostic::new(
                        Code::TooComplex,
                        Span::new(file, i..i + 1),
                        format!("parentheses nested more than {MAX_NESTING} deep"),
                    )
                    .label(format!("level {depth}"))
                    .note("capc limits nesting so that checking any input is bounded")
                    .help("split the expression into named constants"));
                }
            }
            ')' | ']' | '>' => depth = depth.saturating_sub(1),
            '[' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(nested_too_deep(file, i, depth));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Types (`[T; N]`, `Option<T>`) nested deeper than [`MAX_NESTING`].
fn nested_too_deep(file: FileId, at: usize, depth: usize) -> Diagnostic {
    Diagnostic::new(
        Code::TooComplex,
        Span::new(file, at..at + 1),
        format!("types nested more than {MAX_NESTING} deep"),
    )
    .label(format!("level {depth}"))
    .note("capc limits nesting so that checking any input is bounded")
    .help("name the inner types with `type Name = ...;`")
}

fn syntax_error(file: FileId, text: &str, error: pest::error::Error<Rule>) -> Diagnostic {
    // pest tracks two things: the rules tried at the farthest position a rule
    // was tried (`positives`), and the literal tokens tried at the farthest
    // position a token was tried. Report at the farther of the two, and only
    // what was tried there: mixing them would say "expected `,`" at a place
    // where a `,` is not what is missing.
    let rule_pos = match error.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let attempts = error
        .parse_attempts()
        .filter(|a| !a.expected_tokens().is_empty());
    let token_pos = attempts.as_ref().map_or(0, |a| a.max_position);
    let at = rule_pos.max(token_pos).min(text.len());
    let all_tokens: Vec<String> = match &attempts {
        Some(a) if a.max_position == at => a
            .expected_tokens()
            .iter()
            .map(ToString::to_string)
            .collect(),
        _ => Vec::new(),
    };
    let tokens: Vec<String> = all_tokens
        .iter()
        .filter(|t| is_user_token(t))
        .cloned()
        .collect();
    let rules: Vec<Rule> = match &error.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } if rule_pos == at => {
            positives.clone()
        }
        _ => Vec::new(),
    };
    // Right after a name or number, pest tries to extend it: those character
    // classes are not what the user should write next.
    let glued = text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_');
    let expected = expected_list(&all_tokens, &rules, glued);
    let expected_text = match expected.len() {
        0 => "something else".to_string(),
        1 => expected[0].clone(),
        n => format!("{} or {}", expected[..n - 1].join(", "), expected[n - 1]),
    };

    // Letters glued to a number (`4x`, `2KB`): the whole word is the mistake.
    let word_start = text[..at]
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    if word_start < at
        && text[word_start..].starts_with(|c: char| c.is_ascii_digit())
        && text[at..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
    {
        let end = at + token_len(&text[at..]);
        let word = &text[word_start..end];
        return Diagnostic::new(
            Code::Syntax,
            Span::new(file, word_start..end),
            format!("invalid number `{word}`"),
        )
        .label("letters cannot follow the digits of a number")
        .help("write numbers in decimal, `0x` hex or `0b` binary, optionally followed by a unit: `4 KiB`, `2 MiB`, `1 GiB`, `1 TiB`");
    }
    let end = at + token_len(&text[at..]);
    // `[cap FrameCap; 2]`: pest stops inside, at a place that says nothing.
    if let Some(open) = text[..at].rfind('[')
        && !text[open..at].contains([']', ';', '\n'])
    {
        let inside = text[open + 1..at].trim_start();
        let start = at - inside.len();
        let word = &inside[..token_len(inside)];
        if matches!(word, "cap" | "grant" | "lend" | "move") {
            return Diagnostic::new(
                Code::Syntax,
                Span::new(file, start..end),
                "an array cannot hold caps",
            )
            .label("a cap here")
            .note("arrays, like every message value, travel in the message's words; caps travel in its caps, one parameter each")
            .help("pass each cap as its own parameter (`a: cap FrameCap, b: cap FrameCap`), or several caps in one CNode (`frames: lend cap CNodeCap`)");
        }
    }
    let found = if at >= text.len() {
        "the end of the file".to_string()
    } else {
        format!("`{}`", &text[at..end])
    };
    let mut diagnostic = Diagnostic::new(
        Code::Syntax,
        Span::new(file, at..end),
        format!("expected {expected_text}, found {found}"),
    )
    .label(format!("expected {expected_text}"));

    // A missing `;` or `,` at the end of a line is found only at the next
    // line's first token; show where it belongs too.
    if let Some(prev) = previous_token(text, at)
        && text[prev.end..at].contains('\n')
    {
        let missing: Vec<&str> = [";", ","]
            .into_iter()
            .filter(|p| tokens.iter().any(|t| t == p))
            .collect();
        if let Some(first) = missing.first() {
            let what = if missing.len() == 2 {
                "`;` or `,`".to_string()
            } else {
                format!("`{first}`")
            };
            diagnostic = diagnostic
                .with_secondary(Span::new(file, prev), format!("{what} missing after this?"));
        }
    }
    if at >= text.len()
        && let Some(open) = unclosed_brace(text)
    {
        diagnostic =
            diagnostic.with_secondary(Span::new(file, open..open + 1), "this `{` is never closed");
    }

    // Mistakes whose fix the expected tokens alone do not say.
    let before = text[..at].trim_end();
    let last_words: Vec<&str> = before.rsplit(char::is_whitespace).take(2).collect();
    if before.ends_with("->") && tokens.iter().any(|t| t == "(") {
        return diagnostic
            .help("a method's results are named, in parentheses: `fn count() -> (n: word);`");
    }
    if tokens.iter().any(|t| t == "->") && last_words.get(1) == Some(&"interface") {
        return diagnostic.help(
            "an interface names the error set its methods return: `interface Files -> FileError {`",
        );
    }
    if text[at..].starts_with("///") {
        return diagnostic.help(
            "a `///` doc comment documents an item, a field, a variant, a right, a slot or a method, and cannot stand here: write a plain `//` comment",
        );
    }

    // A misspelled keyword: suggest the closest one that fits here.
    let word = &text[at..end];
    let keywords = all_tokens
        .iter()
        .map(String::as_str)
        .chain(rules.iter().filter_map(|r| keyword_text(*r)))
        .chain(
            rules
                .iter()
                .flat_map(|r| rule_starts_with(*r).iter().copied()),
        )
        .filter(|t| t.len() > 1 && t.chars().all(|c| c.is_ascii_alphabetic() || c == '_'));
    let keywords: Vec<&str> = keywords.collect();
    let glued_keyword = keywords.iter().find(|k| {
        word.len() > k.len()
            && word.starts_with(**k)
            && word[k.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
    });
    if let Some(keyword) = glued_keyword {
        return diagnostic.help(format!(
            "put a space between `{keyword}` and `{}`",
            &word[keyword.len()..]
        ));
    }
    match closest(word, keywords) {
        Some(keyword) if keyword != word && word.starts_with(|c: char| c.is_ascii_alphabetic()) => {
            diagnostic.help(format!("did you mean `{keyword}`?"))
        }
        _ => diagnostic
            .help("`capc explain E0001` and docs/language.md give the syntax of each item"),
    }
}

/// What the parser expected, in words: literal tokens first, then rules
/// described in words. A token that a described rule starts with is left
/// out (an item starts with `object`, so "an item" covers `object`).
fn expected_list(all_tokens: &[String], rules: &[Rule], glued: bool) -> Vec<String> {
    let tokens: Vec<&str> = all_tokens
        .iter()
        .map(String::as_str)
        .filter(|t| is_user_token(t))
        .collect();
    let mut described: Vec<Rule> = rules
        .iter()
        .copied()
        .filter(|r| describe_rule(*r).is_some())
        .collect();
    // Keywords pest reports as rules (`kw_in`) rather than as tokens.
    let keywords: Vec<&str> = rules.iter().filter_map(|r| keyword_text(*r)).collect();
    let tokens: Vec<&str> = tokens.into_iter().chain(keywords).collect();
    // Most of the keywords that start a construct (e.g. after a doc comment,
    // where pest reports the keywords but not `item`): name the construct.
    for rule in [
        Rule::item,
        Rule::clause,
        Rule::object_stmt,
        Rule::retype_stmt,
    ] {
        let starts = rule_starts_with(rule);
        let present = starts.iter().filter(|k| tokens.contains(k)).count();
        if present >= 2.max(starts.len().min(3)) && !described.contains(&rule) {
            described.push(rule);
        }
    }
    // After `item`, attributes and the end of the file go without saying.
    if described.contains(&Rule::item) {
        described.retain(|r| !matches!(r, Rule::attribute | Rule::EOI));
    }
    let mut out = Vec::new();
    let mut words = Vec::new();
    // One operator is named; several, or an expression going on, are "an operator".
    let operators = tokens.iter().filter(|t| is_operator(t)).count();
    let expression_goes_on = operators > 1
        || rules
            .iter()
            .any(|r| matches!(r, Rule::add | Rule::sub | Rule::mul | Rule::shl));
    for token in &tokens {
        if is_operator(token) && expression_goes_on {
            push_unique(&mut words, "an operator".to_string());
        } else if !described
            .iter()
            .any(|r| rule_starts_with(*r).contains(token))
        {
            push_unique(&mut out, format!("`{token}`"));
        }
    }
    for rule in described {
        if let Some(text) = describe_rule(rule) {
            push_unique(&mut words, text.to_string());
        }
    }
    // Character classes that start a name or a number (or, when nothing
    // else would do, continue one: the digits of `u8`).
    if !glued || (out.is_empty() && words.is_empty()) {
        if all_tokens.iter().any(|t| t == "0..9") {
            push_unique(&mut words, "a number".to_string());
        }
        if all_tokens.iter().any(|t| t == "a..z" || t == "A..Z") {
            push_unique(&mut words, "a name".to_string());
        }
    }
    // A name, a number or `(`: an expression.
    let paren = out.iter().position(|t| t == "`(`");
    let name = words.iter().position(|t| t == "a name");
    let number = words.iter().position(|t| t == "a number");
    if let (Some(paren), Some(_), Some(_)) = (paren, name, number) {
        out.remove(paren);
        words.retain(|t| t != "a name" && t != "a number");
        push_unique(&mut words, "an expression".to_string());
    }
    // Constructs that start with a name or a number already say so.
    let covers_values = ["an expression", "a range (", "a field (", "a setting ("];
    if words
        .iter()
        .any(|w| covers_values.iter().any(|c| w.starts_with(c)))
    {
        words.retain(|t| t != "a name" && t != "a number");
    }
    if words.iter().any(|w| w.starts_with("a range (")) {
        words.retain(|t| t != "an expression");
    }
    out.extend(words);
    out
}

/// The literal tokens a rule can begin with, which its description covers.
fn rule_starts_with(rule: Rule) -> &'static [&'static str] {
    match rule {
        Rule::item => &[
            "#",
            "use",
            "const",
            "target",
            "rights",
            "untyped",
            "frame",
            "object",
            "errors",
            "cap",
            "retype",
            "derive",
            "invocations",
            "interface",
            "struct",
            "enum",
            "type",
            "config",
            "system",
            "bitfield",
            "syscalls",
        ],
        Rule::field | Rule::attribute => &["#"],
        Rule::object_stmt => &[
            "size",
            "align",
            "memory",
            "finalise",
            "table",
            "asid_pool",
            "slot",
        ],
        Rule::retype_stmt => &["into", "fan_out"],
        Rule::clause => &[
            "requires",
            "errors",
            "donates",
            "allocates",
            "out_of_budget",
            "creates",
            "keeps",
            "refunds",
            "server_pays",
        ],
        Rule::method => &["fn"],
        Rule::field_type => &["ptr", "rights", "bool", "u"],
        Rule::param_type => &[
            "word", "bool", "u", "i", "[", "string", "Option", "cap", "grant", "move", "lend",
            "lease",
        ],
        Rule::data_type | Rule::scalar_type => &["word", "bool", "u", "i", "[", "string", "Option"],
        Rule::transfer | Rule::grant | Rule::lend | Rule::move_ => &["grant", "move", "lend"],
        Rule::expr | Rule::primary_count => &["("],
        Rule::domain => &["(", "{"],
        _ => &[],
    }
}

/// The word a keyword rule matches.
fn keyword_text(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::kw_use => "use",
        Rule::kw_const => "const",
        Rule::kw_target => "target",
        Rule::kw_rights => "rights",
        Rule::kw_untyped => "untyped",
        Rule::kw_frame => "frame",
        Rule::kw_object => "object",
        Rule::kw_errors => "errors",
        Rule::kw_cap => "cap",
        Rule::kw_for => "for",
        Rule::kw_retype => "retype",
        Rule::kw_derive => "derive",
        Rule::kw_from => "from",
        Rule::kw_invocations => "invocations",
        Rule::kw_interface => "interface",
        Rule::kw_fn => "fn",
        Rule::kw_in => "in",
        Rule::kw_session => "session",
        Rule::kw_slot => "slot",
        Rule::kw_struct => "struct",
        Rule::kw_enum => "enum",
        Rule::kw_type => "type",
        Rule::kw_string => "string",
        Rule::kw_option => "Option",
        Rule::kw_config => "config",
        Rule::kw_system => "system",
        Rule::kw_binds => "binds",
        Rule::kw_bitfield => "bitfield",
        Rule::kw_lease => "lease",
        Rule::kw_syscalls => "syscalls",
        _ => return None,
    })
}

fn is_operator(token: &str) -> bool {
    matches!(token, "+" | "-" | "*" | "<<")
}

/// The length of the token at the start of `rest`: a word or number, a
/// string, a multi-character operator, or one character.
fn token_len(rest: &str) -> usize {
    let Some(first) = rest.chars().next() else {
        return 0;
    };
    if first.is_alphanumeric() || first == '_' {
        return rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
    }
    if first == '"' {
        return rest[1..].find(['"', '\n']).map_or(rest.len(), |i| {
            i + 1 + usize::from(rest[i + 1..].starts_with('"'))
        });
    }
    for op in ["..=", "///", "//!", "..", "<<", "->", ">=", "//", "/*"] {
        if rest.starts_with(op) {
            return op.len();
        }
    }
    first.len_utf8()
}

/// The byte range of the last token before `at`, skipping whitespace and
/// `//` comments (not block comments).
fn previous_token(text: &str, at: usize) -> Option<std::ops::Range<usize>> {
    let mut end = at;
    loop {
        let trimmed = text[..end].trim_end();
        if trimmed.is_empty() {
            return None;
        }
        let line_start = trimmed.rfind('\n').map_or(0, |i| i + 1);
        let line = &trimmed[line_start..];
        match line_comment_start(line) {
            Some(c) => end = line_start + c,
            None => {
                end = trimmed.len();
                break;
            }
        }
    }
    let last = text[..end].chars().next_back()?;
    let start = if last.is_alphanumeric() || last == '_' {
        text[..end]
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
            .map_or(0, |(i, c)| i + c.len_utf8())
    } else {
        end - last.len_utf8()
    };
    Some(start..end)
}

/// Where a `//` comment starts in `line`, ignoring `//` inside strings.
fn line_comment_start(line: &str) -> Option<usize> {
    let mut in_string = false;
    let bytes = line.as_bytes();
    for i in 0..bytes.len() {
        match bytes[i] {
            b'"' => in_string = !in_string,
            b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => return Some(i),
            _ => {}
        }
    }
    None
}

/// The innermost `{` left open at the end of `text` (comments and strings
/// skipped), if any.
fn unclosed_brace(text: &str) -> Option<usize> {
    let mut open = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = text[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |n| i + 2 + n + 2);
                continue;
            }
            b'"' => {
                i = text[i + 1..]
                    .find(['"', '\n'])
                    .map_or(bytes.len(), |n| i + 1 + n);
            }
            b'{' => open.push(i),
            b'}' => {
                open.pop();
            }
            _ => {}
        }
        i += 1;
    }
    open.pop()
}

/// Whether an expected literal token is worth showing: punctuation and
/// keywords are; whitespace, comment openers, character ranges and the pieces
/// of number literals are not.
fn is_user_token(token: &str) -> bool {
    let is_char_range = token.len() > 2 && token.contains("..") && !token.starts_with("..");
    !(token.trim().is_empty()
        || token.starts_with('/')
        || token.starts_with('"')
        || is_char_range
        || matches!(
            token,
            "0x" | "0b" | "_" | "BUILTIN_RULE" | "KiB" | "MiB" | "GiB" | "TiB"
                // Only where an item may start, which "an item" says.
                | "abstract"
                | "callback"
        ))
}

fn push_unique(list: &mut Vec<String>, entry: String) {
    if !list.contains(&entry) {
        list.push(entry);
    }
}

/// Rule names as a user should read them in "expected ..." messages; `None`
/// for rules whose literal tokens already say it.
fn describe_rule(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::ident => "a name",
        Rule::string => "a quoted path",
        Rule::literal => "a number",
        Rule::expr | Rule::primary_count => "an expression",
        Rule::domain => "a range (`4..=47`) or a set (`{12, 21}`)",
        Rule::item => "an item (`use`, `const`, `target`, `rights`, `object`, `cap`, ...)",
        Rule::add | Rule::sub | Rule::mul | Rule::shl => "an operator",
        Rule::field_type => {
            "a field type (`ptr(align = N)`, `uN`, `bool`, `rights(...)`, an enumeration)"
        }
        Rule::param_type => {
            "a type (`word`, `bool`, `uN`, `iN`, `[T; N]`, `string<=N>`, `cap T`, ...)"
        }
        Rule::data_type | Rule::scalar_type => {
            "a value type (`word`, `bool`, `uN`, `iN`, `[T; N]`, `[T; ..=N]`, `string<=N>`, `Option<T>`, a type name)"
        }
        Rule::int_type => "a signed integer type like `i32`",
        Rule::float_type => "`f32` or `f64`",
        Rule::record_field => "a field (`name: type`)",
        Rule::enum_variant => "a variant (`Name`, `Name(type, ...)` or `Name = value`)",
        Rule::uint_type => "an integer type like `u8`",
        Rule::bool_type => "`bool`",
        Rule::word_type => "`word`",
        Rule::transfer | Rule::grant | Rule::lend => "`grant` or `lend`",
        Rule::clause => {
            "a clause (`requires`, `errors`, `donates`, `allocates`, `out_of_budget`, `creates`, `keeps`, `refunds`, `server_pays`)"
        }
        Rule::session_clause => "a session clause (`donates`, `keeps`, `out_of_budget`, `binds`)",
        Rule::object_stmt => {
            "a statement (`size = ...;`, `align = ...;`, `memory = ...;`, `finalise = ...;`, `slot ...;`)"
        }
        Rule::retype_stmt => "a statement (`into = ...;`, `fan_out = ...;`)",
        Rule::setting => "a setting (`name = value;`)",
        Rule::method => "a method (`fn name(...)`)",
        Rule::field => "a field (`name: type`)",
        Rule::param => "a parameter (`name: type`)",
        Rule::attribute => "an attribute (`#[...]`)",
        Rule::inherited => "the abstract cap it inherits",
        Rule::binding => "`binds` and a callback interface",
        Rule::EOI => "the end of the file",
        _ => return None,
    })
}

struct Builder {
    file: FileId,
}

type Result<T> = std::result::Result<T, Diagnostic>;

fn doc_text(pair: Pair<'_, Rule>) -> String {
    let text = pair.as_str();
    let body = text
        .strip_prefix("///")
        .or_else(|| text.strip_prefix("//!"));
    let body = body.unwrap_or(text).trim_end();
    body.strip_prefix(' ').unwrap_or(body).to_string()
}

impl Builder {
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        Span::new(self.file, s.start()..s.end())
    }

    fn ident(&self, pair: Pair<'_, Rule>) -> Ident {
        debug_assert_eq!(pair.as_rule(), Rule::ident);
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }

    fn file(&self, pair: Pair<'_, Rule>) -> Result<File> {
        let mut docs = Vec::new();
        let mut items = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::inner_doc => docs.push(doc_text(p)),
                Rule::item => items.push(self.item(p)?),
                _ => {}
            }
        }
        Ok(File { docs, items })
    }

    fn item(&self, pair: Pair<'_, Rule>) -> Result<Item> {
        let mut docs = Vec::new();
        let mut attrs = Vec::new();
        let mut kind = None;
        let mut span = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::outer_doc => docs.push(doc_text(p)),
                Rule::attribute => {
                    let a = self.attribute(p)?;
                    span.get_or_insert(a.span);
                    attrs.push(a);
                }
                _ => {
                    let s = self.span(&p);
                    span = Some(span.map_or(s, |first: Span| first.to(s)));
                    kind = Some(self.item_kind(p)?);
                }
            }
        }
        Ok(Item {
            docs,
            attrs,
            kind: kind.expect("grammar: an item has a body"),
            span: span.expect("grammar: an item has a body"),
        })
    }

    /// `Name = -N { sends on Cap(right) | Cap; receives; }`
    fn syscall(&self, pair: Pair<'_, Rule>) -> Result<SyscallDecl> {
        let mut docs = Vec::new();
        let mut attrs = Vec::new();
        let mut name = None;
        let mut number = None;
        let mut clauses = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::outer_doc => docs.push(doc_text(p)),
                Rule::attribute => attrs.push(self.attribute(p)?),
                Rule::ident => name = Some(self.ident(p)),
                Rule::syscall_number => {
                    let span = self.span(&p);
                    let mut inner = p.into_inner().peekable();
                    let negative = inner.next_if(|q| q.as_rule() == Rule::sub).is_some();
                    let expr = self.expr(inner.next().expect("grammar: syscall number"))?;
                    number = Some((negative, expr, span));
                }
                _ => {
                    let mut inner = p.into_inner();
                    let kw = inner.next().expect("grammar: sends or receives");
                    let mut caps = Vec::new();
                    for c in inner.filter(|q| q.as_rule() == Rule::syscall_cap) {
                        let mut parts = c.into_inner();
                        let ty = self.ident(parts.next().expect("grammar: cap type"));
                        caps.push((ty, parts.map(|r| self.ident(r)).collect()));
                    }
                    clauses.push(SyscallClause {
                        receives: kw.as_rule() == Rule::sk_receives,
                        span: self.span(&kw),
                        caps,
                    });
                }
            }
        }
        let (negative, number, number_span) = number.expect("grammar: syscall number");
        Ok(SyscallDecl {
            docs,
            attrs,
            name: name.expect("grammar: syscall name"),
            negative,
            number,
            number_span,
            clauses,
        })
    }

    fn attribute(&self, pair: Pair<'_, Rule>) -> Result<Attribute> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let name = self.ident(inner.next().expect("grammar: attribute name"));
        let mut args = Vec::new();
        let mut flags = Vec::new();
        let mut values = Vec::new();
        let mut calls = Vec::new();
        let mut all = Vec::new();
        for arg in inner {
            let arg_span = self.span(&arg);
            let mut kv = arg.into_inner();
            let first = kv.next().expect("grammar: key or value");
            if first.as_rule() == Rule::expr {
                values.push(self.expr(first)?);
                all.push(AttrArg::Other(arg_span));
                continue;
            }
            if first.as_rule() == Rule::attr_call {
                let call = self.attr_call(first);
                calls.push(call.clone());
                all.push(AttrArg::Call(call));
                continue;
            }
            let key = self.ident(first);
            match kv.next() {
                Some(value) => {
                    args.push((key, self.expr(value)?));
                    all.push(AttrArg::Other(arg_span));
                }
                None => {
                    flags.push(key.clone());
                    all.push(AttrArg::Name(key));
                }
            }
        }
        Ok(Attribute {
            name,
            args,
            flags,
            values,
            calls,
            all,
            span,
        })
    }

    /// `name(arg, ...)` inside an attribute (only its shape: `#[cfg]`
    /// reads names and calls, and the checker rejects anything else).
    fn attr_call(&self, pair: Pair<'_, Rule>) -> AttrCall {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let name = self.ident(inner.next().expect("grammar: call name"));
        let args = inner
            .map(|arg| {
                let arg_span = self.span(&arg);
                let mut kv = arg.into_inner();
                let first = kv.next().expect("grammar: key or value");
                match first.as_rule() {
                    Rule::attr_call => AttrArg::Call(self.attr_call(first)),
                    Rule::ident if kv.next().is_none() => AttrArg::Name(self.ident(first)),
                    _ => AttrArg::Other(arg_span),
                }
            })
            .collect();
        AttrCall { name, args, span }
    }

    fn item_kind(&self, pair: Pair<'_, Rule>) -> Result<ItemKind> {
        let rule = pair.as_rule();
        let mut inner = pair.into_inner().filter(|p| !is_keyword(p.as_rule()));
        Ok(match rule {
            Rule::use_item => {
                let s = inner.next().expect("grammar: use path");
                let text = s.as_str();
                ItemKind::Use(UseItem {
                    path: text[1..text.len() - 1].to_string(),
                    path_span: self.span(&s),
                })
            }
            Rule::const_item => ItemKind::Const(ConstItem {
                name: self.ident(inner.next().expect("grammar: const name")),
                value: self.expr(inner.next().expect("grammar: const value"))?,
            }),
            Rule::target_item => {
                let name = self.ident(inner.next().expect("grammar: target name"));
                let mut settings = Vec::new();
                for s in inner {
                    let mut docs = Vec::new();
                    let mut key = None;
                    let mut value = None;
                    for p in s.into_inner() {
                        match p.as_rule() {
                            Rule::outer_doc => docs.push(doc_text(p)),
                            Rule::ident => key = Some(self.ident(p)),
                            _ => value = Some(self.expr(p)?),
                        }
                    }
                    settings.push(Setting {
                        docs,
                        key: key.expect("grammar: setting key"),
                        value: value.expect("grammar: setting value"),
                    });
                }
                ItemKind::Target(TargetItem { name, settings })
            }
            Rule::rights_item => ItemKind::Rights(
                inner
                    .map(|r| {
                        let (docs, name) = self.documented_ident(r);
                        RightDecl { docs, name }
                    })
                    .collect(),
            ),
            Rule::config_item => ItemKind::Config(
                inner
                    .map(|r| {
                        let (docs, name) = self.documented_ident(r);
                        RightDecl { docs, name }
                    })
                    .collect(),
            ),
            Rule::object_item => ItemKind::Object(Box::new(self.object(inner)?)),
            Rule::system_item => ItemKind::System(self.system(inner)?),
            Rule::errors_item => {
                let name = self.ident(inner.next().expect("grammar: errors name"));
                let mut variants = Vec::new();
                for v in inner {
                    let mut docs = Vec::new();
                    let mut name = None;
                    let mut payload = Vec::new();
                    let mut payload_types = Vec::new();
                    let mut rest = Vec::new();
                    for p in v.into_inner() {
                        match p.as_rule() {
                            Rule::outer_doc => docs.push(doc_text(p)),
                            Rule::payload_field => {
                                let mut field = p.into_inner();
                                payload
                                    .push(self.ident(field.next().expect("grammar: payload name")));
                                match field.next() {
                                    Some(t) if t.as_rule() == Rule::payload_rest => {
                                        let set = t.into_inner().next().expect("grammar: set name");
                                        rest.push((payload.len() - 1, self.ident(set)));
                                        payload_types.push(None);
                                    }
                                    t => payload_types
                                        .push(t.map(|t| self.type_expr(t)).transpose()?),
                                }
                            }
                            _ => name = Some(self.ident(p)),
                        }
                    }
                    variants.push(Variant {
                        docs,
                        name: name.expect("grammar: variant name"),
                        payload,
                        payload_types,
                        rest,
                    });
                }
                ItemKind::Errors(ErrorsItem { name, variants })
            }
            Rule::cap_item => {
                let mut inner = inner.peekable();
                let is_abstract = inner
                    .next_if(|p| p.as_rule() == Rule::abstract_mark)
                    .is_some();
                let name = self.ident(inner.next().expect("grammar: cap name"));
                let mut object = None;
                let mut inherits = None;
                let mut fields = Vec::new();
                for p in inner {
                    match p.as_rule() {
                        Rule::ident => object = Some(self.ident(p)),
                        Rule::inherited => {
                            let ident = p.into_inner().next().expect("grammar: inherited name");
                            inherits = Some(self.ident(ident));
                        }
                        _ => fields.push(self.field(p)?),
                    }
                }
                ItemKind::Cap(CapItem {
                    is_abstract,
                    name,
                    object,
                    inherits,
                    fields,
                })
            }
            Rule::retype_item => {
                let source = self.ident(inner.next().expect("grammar: retype source"));
                let mut into = Vec::new();
                let mut fan_outs = Vec::new();
                for stmt in inner {
                    let stmt = stmt.into_inner().next().expect("grammar: retype statement");
                    match stmt.as_rule() {
                        Rule::into_stmt => into.extend(stmt.into_inner().map(|p| self.ident(p))),
                        _ => fan_outs
                            .push(self.expr(stmt.into_inner().next().expect("grammar: fan_out"))?),
                    }
                }
                ItemKind::Retype(RetypeItem {
                    source,
                    into,
                    fan_outs,
                })
            }
            Rule::derive_item => ItemKind::Derive(DeriveItem {
                target: self.ident(inner.next().expect("grammar: derived cap type")),
                source: self.ident(inner.next().expect("grammar: derive source")),
            }),
            Rule::invocations_item | Rule::interface_item => {
                let mut inner = inner.peekable();
                let callback = inner
                    .next_if(|p| p.as_rule() == Rule::callback_mark)
                    .map(|p| self.span(&p));
                let name = self.ident(inner.next().expect("grammar: name"));
                let errors = self.ident(inner.next().expect("grammar: error set"));
                let mut inner = inner.peekable();
                let session = match inner.next_if(|p| p.as_rule() == Rule::session_decl) {
                    Some(p) => Some(self.session(p)?),
                    None => None,
                };
                let methods = inner.map(|m| self.method(m)).collect::<Result<_>>()?;
                let set = MethodSet {
                    name,
                    errors,
                    methods,
                    session,
                    callback,
                };
                if rule == Rule::invocations_item {
                    ItemKind::Invocations(set)
                } else {
                    ItemKind::Interface(set)
                }
            }
            Rule::bitfield_item => {
                let name = self.ident(inner.next().expect("grammar: bitfield name"));
                let fields = inner.map(|f| self.field(f)).collect::<Result<_>>()?;
                ItemKind::Bitfield(BitfieldItem { name, fields })
            }
            Rule::syscalls_item => {
                let name = self.ident(inner.next().expect("grammar: syscalls name"));
                let syscalls = inner.map(|d| self.syscall(d)).collect::<Result<_>>()?;
                ItemKind::Syscalls(SyscallsItem { name, syscalls })
            }
            Rule::struct_item => {
                let name = self.ident(inner.next().expect("grammar: struct name"));
                let mut fields = Vec::new();
                for f in inner {
                    let mut docs = Vec::new();
                    let mut field_name = None;
                    let mut ty = None;
                    for p in f.into_inner() {
                        match p.as_rule() {
                            Rule::outer_doc => docs.push(doc_text(p)),
                            Rule::ident => field_name = Some(self.ident(p)),
                            _ => ty = Some(self.type_expr(p)?),
                        }
                    }
                    fields.push(DataField {
                        docs,
                        name: field_name.expect("grammar: field name"),
                        ty: ty.expect("grammar: field type"),
                    });
                }
                ItemKind::Struct(StructItem { name, fields })
            }
            Rule::enum_item => {
                let name = self.ident(inner.next().expect("grammar: enum name"));
                let mut variants = Vec::new();
                let mut width = None;
                for v in inner {
                    if v.as_rule() == Rule::enum_width {
                        let t = v.into_inner().next().expect("grammar: enumeration width");
                        width = Some((self.uint_width(&t), self.span(&t)));
                        continue;
                    }
                    let mut docs = Vec::new();
                    let mut variant_name = None;
                    let mut fields = Vec::new();
                    let mut value = None;
                    let mut attrs = Vec::new();
                    for p in v.into_inner() {
                        match p.as_rule() {
                            Rule::outer_doc => docs.push(doc_text(p)),
                            Rule::attribute => attrs.push(self.attribute(p)?),
                            Rule::ident => variant_name = Some(self.ident(p)),
                            Rule::enum_value => {
                                value = Some(
                                    self.expr(p.into_inner().next().expect("grammar: value"))?,
                                );
                            }
                            _ => fields.push(self.type_expr(p)?),
                        }
                    }
                    variants.push(EnumVariant {
                        docs,
                        attrs,
                        name: variant_name.expect("grammar: variant name"),
                        fields,
                        value,
                    });
                }
                ItemKind::Enum(EnumItem {
                    name,
                    width,
                    variants,
                })
            }
            Rule::type_item => {
                let name = self.ident(inner.next().expect("grammar: type name"));
                let ty = self.type_expr(inner.next().expect("grammar: aliased type"))?;
                let range = match inner.next() {
                    Some(r) => {
                        let span = self.span(&r);
                        let range = r
                            .into_inner()
                            .find(|p| p.as_rule() != Rule::kw_in)
                            .expect("grammar: range");
                        Some((self.range(range)?, span))
                    }
                    None => None,
                };
                ItemKind::TypeAlias(TypeAlias { name, ty, range })
            }
            other => unreachable!("grammar: unexpected item rule {other:?}"),
        })
    }

    fn documented_ident(&self, pair: Pair<'_, Rule>) -> (Vec<String>, Ident) {
        let mut docs = Vec::new();
        let mut name = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::outer_doc => docs.push(doc_text(p)),
                _ => name = Some(self.ident(p)),
            }
        }
        (docs, name.expect("grammar: documented name"))
    }

    fn object<'i>(&self, mut inner: impl Iterator<Item = Pair<'i, Rule>>) -> Result<ObjectItem> {
        let kind_pair = inner.next().expect("grammar: object kind");
        let kind_span = self.span(&kind_pair);
        let kind = match kind_pair.as_str() {
            "untyped" => ObjectKind::Untyped,
            "frame" => ObjectKind::Frame,
            _ => ObjectKind::Kernel,
        };
        let name = self.ident(inner.next().expect("grammar: object name"));
        let mut object = ObjectItem {
            kind,
            kind_span,
            name,
            param: None,
            sizes: Vec::new(),
            aligns: Vec::new(),
            memories: Vec::new(),
            finalises: Vec::new(),
            slots: Vec::new(),
            tables: Vec::new(),
            asid_pools: Vec::new(),
        };
        for p in inner {
            match p.as_rule() {
                Rule::size_param => {
                    let mut parts = p.into_inner().filter(|p| p.as_rule() != Rule::kw_in);
                    let name = self.ident(parts.next().expect("grammar: param name"));
                    let domain = parts.next().expect("grammar: domain");
                    let domain = domain.into_inner().next().expect("grammar: domain kind");
                    let rule = domain.as_rule();
                    let mut exprs = domain
                        .into_inner()
                        .map(|e| self.expr(e))
                        .collect::<Result<Vec<_>>>()?;
                    let domain = match rule {
                        Rule::value_set => Domain::Set(exprs),
                        _ => {
                            let hi = exprs.pop().expect("grammar: range end");
                            let lo = exprs.pop().expect("grammar: range start");
                            if rule == Rule::range_incl {
                                Domain::Inclusive(lo, hi)
                            } else {
                                Domain::Exclusive(lo, hi)
                            }
                        }
                    };
                    object.param = Some(SizeParam { name, domain });
                }
                Rule::object_stmt => {
                    let stmt = p.into_inner().next().expect("grammar: statement");
                    match stmt.as_rule() {
                        Rule::size_stmt => object
                            .sizes
                            .push(self.expr(stmt.into_inner().next().expect("grammar: size"))?),
                        Rule::align_stmt => object
                            .aligns
                            .push(self.expr(stmt.into_inner().next().expect("grammar: align"))?),
                        Rule::memory_stmt => object
                            .memories
                            .push(stmt.into_inner().map(|p| self.ident(p)).collect()),
                        Rule::finalise_stmt => object
                            .finalises
                            .push(stmt.into_inner().map(|p| self.ident(p)).collect()),
                        Rule::table_stmt => object.tables.push(self.table(stmt)?),
                        Rule::asid_pool_stmt => object.asid_pools.push(AsidPoolDecl {
                            span: self.span(&stmt),
                            entries: self
                                .expr(stmt.into_inner().next().expect("grammar: pool size"))?,
                        }),
                        _ => object.slots.push(self.slot(stmt)?),
                    }
                }
                other => unreachable!("grammar: unexpected object part {other:?}"),
            }
        }
        Ok(object)
    }

    /// `table = N x SIZE of A | B;`
    fn table(&self, pair: Pair<'_, Rule>) -> Result<TableDecl> {
        let span = self.span(&pair);
        let mut exprs = Vec::new();
        let mut holds = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::expr => exprs.push(self.expr(p)?),
                Rule::ident => holds.push(self.ident(p)),
                _ => {}
            }
        }
        let mut exprs = exprs.into_iter();
        Ok(TableDecl {
            entries: exprs.next().expect("grammar: entry count"),
            covers: exprs.next().expect("grammar: entry size"),
            holds,
            span,
        })
    }

    /// `/// docs` `slot name: CapType(rights);`
    fn slot(&self, pair: Pair<'_, Rule>) -> Result<SlotDecl> {
        let mut docs = Vec::new();
        let mut attrs = Vec::new();
        let mut names = Vec::new();
        let mut start = None;
        let end = pair.as_span().end();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::outer_doc => docs.push(doc_text(p)),
                Rule::attribute => attrs.push(self.attribute(p)?),
                Rule::kw_slot => start = Some(p.as_span().start()),
                _ => names.push(self.ident(p)),
            }
        }
        let mut names = names.into_iter();
        let name = names.next().expect("grammar: slot name");
        let cap = names.next().expect("grammar: slot cap type");
        let start = start.expect("grammar: `slot`");
        Ok(SlotDecl {
            docs,
            attrs,
            name,
            cap,
            rights: names.collect(),
            span: Span::new(self.file, start..end),
        })
    }

    fn field(&self, pair: Pair<'_, Rule>) -> Result<Field> {
        let mut docs = Vec::new();
        let mut attrs = Vec::new();
        let mut name = None;
        let mut ty = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::outer_doc => docs.push(doc_text(p)),
                Rule::attribute => attrs.push(self.attribute(p)?),
                Rule::ident => name = Some(self.ident(p)),
                _ => {
                    let ty_span = self.span(&p);
                    let t = p.into_inner().next().expect("grammar: field type");
                    let parsed = match t.as_rule() {
                        Rule::ptr_type => FieldType::Ptr {
                            align: self.expr(t.into_inner().next().expect("grammar: align"))?,
                        },
                        Rule::rights_type => FieldType::Rights(
                            t.into_inner()
                                .filter(|p| p.as_rule() == Rule::ident)
                                .map(|p| self.ident(p))
                                .collect(),
                        ),
                        Rule::bool_type => FieldType::Bool,
                        Rule::enum_field => FieldType::Enumeration(
                            self.ident(t.into_inner().next().expect("grammar: enumeration")),
                        ),
                        _ => FieldType::Uint(self.uint_width(&t)),
                    };
                    ty = Some((parsed, ty_span));
                }
            }
        }
        let (ty, ty_span) = ty.expect("grammar: field type");
        Ok(Field {
            docs,
            attrs,
            name: name.expect("grammar: field name"),
            ty,
            ty_span,
        })
    }

    /// The N of `uN`; widths too large for u32 saturate so the checker
    /// reports them as out of range.
    fn uint_width(&self, pair: &Pair<'_, Rule>) -> u32 {
        pair.as_str()[1..].parse().unwrap_or(u32::MAX)
    }

    fn method(&self, pair: Pair<'_, Rule>) -> Result<Method> {
        let span = self.span(&pair);
        let mut method = Method {
            docs: Vec::new(),
            attrs: Vec::new(),
            name: Ident {
                name: String::new(),
                span,
            },
            params: Vec::new(),
            results: Vec::new(),
            requires: Vec::new(),
            errors: Vec::new(),
            error_sets: Vec::new(),
            donations: Vec::new(),
            allocations: Vec::new(),
            out_of_budget: Vec::new(),
            creates: Vec::new(),
            keeps: Vec::new(),
            refunds: Vec::new(),
            server_pays: Vec::new(),
            span,
        };
        let mut seen_params = false;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::outer_doc => method.docs.push(doc_text(p)),
                Rule::attribute => method.attrs.push(self.attribute(p)?),
                Rule::kw_fn => {}
                Rule::ident => method.name = self.ident(p),
                Rule::params => {
                    let list = p
                        .into_inner()
                        .map(|p| self.param(p))
                        .collect::<Result<_>>()?;
                    if seen_params {
                        method.results = list;
                    } else {
                        method.params = list;
                        seen_params = true;
                    }
                }
                Rule::clause => self.clause(p, &mut method)?,
                other => unreachable!("grammar: unexpected method part {other:?}"),
            }
        }
        Ok(method)
    }

    fn param(&self, pair: Pair<'_, Rule>) -> Result<Param> {
        let mut inner = pair.into_inner().peekable();
        let mut attrs = Vec::new();
        while let Some(attr) = inner.next_if(|p| p.as_rule() == Rule::attribute) {
            attrs.push(self.attribute(attr)?);
        }
        let name = self.ident(inner.next().expect("grammar: param name"));
        let ty_pair = inner.next().expect("grammar: param type");
        let range = match inner.next_if(|p| p.as_rule() == Rule::param_range) {
            Some(r) => {
                let span = self.span(&r);
                let range = r
                    .into_inner()
                    .find(|p| p.as_rule() != Rule::kw_in)
                    .expect("grammar: range");
                Some((self.range(range)?, span))
            }
            None => None,
        };
        let ty_span = self.span(&ty_pair);
        let t = ty_pair
            .into_inner()
            .next()
            .expect("grammar: param type kind");
        let ty = match t.as_rule() {
            // Words, bools, `uN` and fixed arrays of them keep their
            // word-based layout; every other value is laid out in bytes.
            Rule::data_type => match self.type_expr(t)? {
                TypeExpr {
                    kind: TypeExprKind::Scalar(s),
                    ..
                } => ParamType::Scalar(s),
                TypeExpr {
                    kind: TypeExprKind::Array(element, len),
                    ..
                } if matches!(element.kind, TypeExprKind::Scalar(_)) => {
                    let TypeExprKind::Scalar(s) = element.kind else {
                        unreachable!("matched above")
                    };
                    ParamType::Array(s, len)
                }
                other => ParamType::Data(other),
            },
            Rule::lease_param => {
                let mut cap = None;
                let mut rights = Vec::new();
                let mut ty = None;
                // `lease FrameCap(read)`: a name before the parenthesis is
                // the frame cap type, those inside it are rights.
                let open = t.as_span().start() + t.as_str().find('(').unwrap_or(0);
                let mut parts = t.into_inner().peekable();
                parts.next_if(|p| p.as_rule() == Rule::kw_lease);
                let mut names = Vec::new();
                for p in parts {
                    match p.as_rule() {
                        Rule::data_type => ty = Some(self.type_expr(p)?),
                        _ => names.push((self.ident(p.clone()), p.as_span().start())),
                    }
                }
                for (ident, start) in names {
                    if start < open && cap.is_none() {
                        cap = Some(ident);
                    } else {
                        rights.push(ident);
                    }
                }
                ParamType::Lease {
                    cap,
                    rights,
                    ty: ty.expect("grammar: lease type"),
                }
            }
            _ => {
                let mut transfer = Transfer::Lookup;
                let mut cap = None;
                let mut rights = Vec::new();
                let mut alternatives = Vec::new();
                let mut null = Vec::new();
                for p in t.into_inner() {
                    match p.as_rule() {
                        Rule::cap_alt => {
                            let alt = p.into_inner().next().expect("grammar: alternative");
                            if alt.as_rule() == Rule::kw_null {
                                null.push(self.span(&alt));
                            } else {
                                alternatives.push(self.ident(alt));
                            }
                        }
                        Rule::transfer => {
                            transfer = match p.as_str() {
                                "grant" => Transfer::Grant,
                                "move" => Transfer::Move,
                                _ => Transfer::Lend,
                            }
                        }
                        Rule::kw_cap => {}
                        _ if cap.is_none() => cap = Some(self.ident(p)),
                        _ => rights.push(self.ident(p)),
                    }
                }
                ParamType::Cap {
                    transfer,
                    cap: cap.expect("grammar: cap type"),
                    rights,
                    alternatives,
                    null,
                }
            }
        };
        let binds = inner.next().map(|b| {
            self.ident(
                b.into_inner()
                    .find(|p| p.as_rule() == Rule::ident)
                    .expect("grammar: bound interface"),
            )
        });
        Ok(Param {
            attrs,
            name,
            ty,
            ty_span,
            range,
            binds,
        })
    }

    /// A `data_type` pair.
    fn type_expr(&self, pair: Pair<'_, Rule>) -> Result<TypeExpr> {
        let span = self.span(&pair);
        let t = pair.into_inner().next().expect("grammar: data type");
        let kind = match t.as_rule() {
            Rule::scalar_type => TypeExprKind::Scalar(self.scalar(t)),
            Rule::int_type => TypeExprKind::Int(self.uint_width(&t)),
            Rule::float_type => TypeExprKind::Float(if t.as_str() == "f32" { 32 } else { 64 }),
            Rule::array_type => {
                let mut parts = t.into_inner().peekable();
                let element = self.type_expr(parts.next().expect("grammar: element type"))?;
                let bounded = parts.next_if(|p| p.as_rule() == Rule::up_to).is_some();
                let len = self.expr(parts.next().expect("grammar: array length"))?;
                if bounded {
                    TypeExprKind::Bounded(Box::new(element), len)
                } else {
                    TypeExprKind::Array(Box::new(element), len)
                }
            }
            Rule::string_type => {
                let mut parts = t.into_inner();
                parts.next().expect("grammar: keyword");
                TypeExprKind::String(self.expr(parts.next().expect("grammar: string bound"))?)
            }
            Rule::option_type => {
                let mut parts = t.into_inner();
                parts.next().expect("grammar: keyword");
                TypeExprKind::Option(Box::new(
                    self.type_expr(parts.next().expect("grammar: option type"))?,
                ))
            }
            _ => {
                TypeExprKind::Named(self.ident(t.into_inner().next().expect("grammar: type name")))
            }
        };
        Ok(TypeExpr { kind, span })
    }

    fn scalar(&self, pair: Pair<'_, Rule>) -> Scalar {
        let t = pair.into_inner().next().expect("grammar: scalar");
        match t.as_rule() {
            Rule::word_type => Scalar::Word,
            Rule::bool_type => Scalar::Bool,
            _ => Scalar::Uint(self.uint_width(&t)),
        }
    }

    fn clause(&self, pair: Pair<'_, Rule>, method: &mut Method) -> Result<()> {
        let clause = pair.into_inner().next().expect("grammar: clause");
        let span = self.span(&clause);
        match clause.as_rule() {
            Rule::requires_clause => method
                .requires
                .extend(clause.into_inner().map(|p| self.ident(p))),
            Rule::errors_clause => {
                for p in clause.into_inner() {
                    match p.as_rule() {
                        Rule::ident => method.errors.push(self.ident(p)),
                        Rule::errors_of => method
                            .error_sets
                            .push(self.ident(p.into_inner().nth(1).expect("grammar: error set"))),
                        _ => {}
                    }
                }
            }
            Rule::donates_clause => method.donations.push(self.donation(clause)?),
            Rule::allocates_clause => {
                let mut inner = clause.into_inner();
                let count = inner.next().expect("grammar: count");
                let count = self.primary(count.into_inner().next().expect("grammar: count"))?;
                let object = self.ident(inner.next().expect("grammar: object"));
                let mut arg = None;
                let mut handed_to = None;
                for p in inner {
                    if p.as_rule() == Rule::handed_to {
                        handed_to = Some(self.handed_to(p));
                    } else {
                        arg = Some(self.expr(p)?);
                    }
                }
                method.allocations.push(Allocation {
                    count,
                    object,
                    arg,
                    handed_to,
                    span,
                });
            }
            Rule::creates_clause => {
                let mut idents = Vec::new();
                let mut fields = Vec::new();
                let mut from = None;
                let mut after_from = false;
                for p in clause.into_inner() {
                    match p.as_rule() {
                        Rule::field_arg => {
                            let mut kv = p.into_inner();
                            let field = self.ident(kv.next().expect("grammar: field"));
                            let param = self.ident(kv.next().expect("grammar: parameter"));
                            fields.push((field, param));
                        }
                        Rule::kw_from => after_from = true,
                        Rule::ident if after_from => {
                            from = Some(self.ident(p));
                            after_from = false;
                        }
                        Rule::ident => idents.push(self.ident(p)),
                        _ => {}
                    }
                }
                let mut idents = idents.into_iter();
                method.creates.push(Creates {
                    cap: idents.next().expect("grammar: created cap"),
                    fields,
                    from,
                    into: idents.next().expect("grammar: destination"),
                    span,
                });
            }
            Rule::keeps_clause => method.keeps.push(self.keep(clause)?),
            Rule::refunds_clause => {
                let mut inner = clause.into_inner().filter(|p| p.as_rule() == Rule::ident);
                let param = self.ident(inner.next().expect("grammar: refunded argument"));
                let methods = inner.map(|p| self.ident(p)).collect();
                method.refunds.push(Refund {
                    param,
                    methods,
                    span,
                });
            }
            Rule::server_pays_clause => {
                let bytes = self.expr(clause.into_inner().next().expect("grammar: bound"))?;
                method.server_pays.push((bytes, span));
            }
            _ => method
                .out_of_budget
                .push(self.ident(clause.into_inner().next().expect("grammar: variant"))),
        }
        Ok(())
    }

    /// A `donates_clause` pair.
    fn donation(&self, clause: Pair<'_, Rule>) -> Result<Donation> {
        let span = self.span(&clause);
        let d = clause.into_inner().next().expect("grammar: donation");
        let rule = d.as_rule();
        let mut inner = d.into_inner();
        Ok(if rule == Rule::quota {
            Donation::Quota {
                bytes: self.expr(inner.next().expect("grammar: quota"))?,
                span,
            }
        } else {
            Donation::Untyped {
                cap: self.ident(inner.next().expect("grammar: donated cap")),
                bytes: self.expr(inner.next().expect("grammar: minimum"))?,
                span,
            }
        })
    }

    /// A `handed_to` pair: the result's name.
    fn handed_to(&self, pair: Pair<'_, Rule>) -> Ident {
        let name = pair
            .into_inner()
            .find(|p| p.as_rule() == Rule::ident)
            .expect("grammar: result name");
        self.ident(name)
    }

    /// A `keeps_clause` pair.
    fn keep(&self, clause: Pair<'_, Rule>) -> Result<Keep> {
        let span = self.span(&clause);
        let mut inner = clause.into_inner();
        let bytes = self.expr(inner.next().expect("grammar: kept bytes"))?;
        let handed_to = inner.next().map(|p| self.handed_to(p));
        Ok(Keep {
            bytes,
            handed_to,
            span,
        })
    }

    /// A `session_decl` pair.
    fn session(&self, pair: Pair<'_, Rule>) -> Result<SessionDecl> {
        let mut session = SessionDecl {
            docs: Vec::new(),
            donations: Vec::new(),
            keeps: Vec::new(),
            out_of_budget: Vec::new(),
            binds: Vec::new(),
            span: self.span(&pair),
        };
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::outer_doc => session.docs.push(doc_text(p)),
                Rule::kw_session => session.span = self.span(&p),
                _ => {
                    let clause = p.into_inner().next().expect("grammar: session clause");
                    match clause.as_rule() {
                        Rule::donates_clause => session.donations.push(self.donation(clause)?),
                        Rule::keeps_clause => session.keeps.push(self.keep(clause)?),
                        Rule::session_binds => {
                            let span = self.span(&clause);
                            let name = clause
                                .into_inner()
                                .find(|q| q.as_rule() == Rule::ident)
                                .expect("grammar: bound interface");
                            session.binds.push((self.ident(name), span));
                        }
                        _ => session.out_of_budget.push(
                            self.ident(clause.into_inner().next().expect("grammar: variant")),
                        ),
                    }
                }
            }
        }
        Ok(session)
    }

    /// A `range_incl` or `range_excl` pair.
    fn range(&self, pair: Pair<'_, Rule>) -> Result<Domain> {
        let rule = pair.as_rule();
        let mut exprs = pair
            .into_inner()
            .map(|e| self.expr(e))
            .collect::<Result<Vec<_>>>()?;
        let hi = exprs.pop().expect("grammar: range end");
        let lo = exprs.pop().expect("grammar: range start");
        Ok(if rule == Rule::range_incl {
            Domain::Inclusive(lo, hi)
        } else {
            Domain::Exclusive(lo, hi)
        })
    }

    /// The body of `system name { ... }` (after its keyword).
    fn system<'i>(&self, mut inner: impl Iterator<Item = Pair<'i, Rule>>) -> Result<SystemItem> {
        let name = self.ident(inner.next().expect("grammar: system name"));
        let mut system = SystemItem {
            name,
            memory: Vec::new(),
            objects: Vec::new(),
            domains: Vec::new(),
            denies: Vec::new(),
        };
        for stmt in inner {
            let mut docs = Vec::new();
            for p in stmt.into_inner() {
                let span = self.span(&p);
                match p.as_rule() {
                    Rule::outer_doc => docs.push(doc_text(p)),
                    Rule::sys_memory => {
                        let e = p.into_inner().find(|q| q.as_rule() == Rule::expr);
                        system
                            .memory
                            .push((self.expr(e.expect("grammar: memory"))?, span));
                    }
                    Rule::sys_object => {
                        system
                            .objects
                            .push(self.system_object(p, std::mem::take(&mut docs))?);
                    }
                    Rule::sys_deny => {
                        let mut ids = p
                            .into_inner()
                            .filter(|q| q.as_rule() == Rule::ident)
                            .map(|q| self.ident(q));
                        let mut next = || ids.next().expect("grammar: deny");
                        system.denies.push(DenyItem {
                            domain: next(),
                            right: next(),
                            object: next(),
                            span,
                        });
                    }
                    _ => {
                        let d = self.domain_item(p, std::mem::take(&mut docs))?;
                        system.domains.push(d);
                    }
                }
            }
        }
        Ok(system)
    }

    fn system_object(&self, pair: Pair<'_, Rule>, docs: Vec<String>) -> Result<SystemObject> {
        let span = self.span(&pair);
        let mut ids = Vec::new();
        let mut arg = None;
        for q in pair.into_inner() {
            match q.as_rule() {
                Rule::ident => ids.push(self.ident(q)),
                Rule::expr => arg = Some(self.expr(q)?),
                _ => {}
            }
        }
        let ty = ids.pop().expect("grammar: object type");
        let name = ids.pop().expect("grammar: object name");
        Ok(SystemObject {
            docs,
            name,
            ty,
            arg,
            span,
        })
    }

    fn domain_item(&self, pair: Pair<'_, Rule>, docs: Vec<String>) -> Result<DomainItem> {
        let mut inner = pair.into_inner().filter(|q| q.as_rule() != Rule::sk_domain);
        let name = self.ident(inner.next().expect("grammar: domain name"));
        let mut d = DomainItem {
            docs,
            name,
            program: Vec::new(),
            budget: Vec::new(),
            priority: Vec::new(),
            stack: Vec::new(),
            trusted: Vec::new(),
            cspace: Vec::new(),
            objects: Vec::new(),
            slots: Vec::new(),
            serves: Vec::new(),
            calls: Vec::new(),
            irqs: Vec::new(),
            devices: Vec::new(),
        };
        for stmt in inner {
            let mut docs = Vec::new();
            for p in stmt.into_inner() {
                let span = self.span(&p);
                let rule = p.as_rule();
                if rule == Rule::outer_doc {
                    docs.push(doc_text(p));
                    continue;
                }
                if rule == Rule::sys_object {
                    d.objects
                        .push(self.system_object(p, std::mem::take(&mut docs))?);
                    continue;
                }
                let mut ids = Vec::new();
                let mut exprs = Vec::new();
                let mut string = None;
                let mut rights = None;
                for q in p.into_inner() {
                    match q.as_rule() {
                        Rule::ident => ids.push(self.ident(q)),
                        Rule::slot_rights => {
                            rights = Some(q.into_inner().map(|r| self.ident(r)).collect());
                        }
                        Rule::expr => exprs.push(self.expr(q)?),
                        Rule::string => {
                            let t = q.as_str();
                            string = Some((t[1..t.len() - 1].to_string(), self.span(&q)));
                        }
                        _ => {}
                    }
                }
                let mut ids = ids.into_iter();
                let mut exprs = exprs.into_iter();
                match rule {
                    Rule::dom_program => d.program.extend(string),
                    Rule::dom_budget => d.budget.push((exprs.collect(), span)),
                    Rule::dom_priority => d.priority.push((exprs.next().expect("grammar"), span)),
                    Rule::dom_stack => d.stack.push((exprs.next().expect("grammar"), span)),
                    Rule::dom_trusted => d.trusted.push(((), span)),
                    Rule::dom_cspace => d.cspace.extend(ids.next()),
                    Rule::dom_serves => {
                        let interface = ids.next().expect("grammar: interface");
                        d.serves
                            .push((interface, ids.next().expect("grammar: slot")));
                    }
                    Rule::dom_calls => d.calls.push(CallsItem {
                        interface: ids.next().expect("grammar: interface"),
                        slot: ids.next().expect("grammar: slot"),
                        in_flight: exprs.next(),
                        span,
                    }),
                    Rule::dom_irq => d.irqs.push((exprs.next().expect("grammar: irq"), span)),
                    Rule::dom_device => d.devices.push(DeviceItem {
                        name: ids.next().expect("grammar: device name"),
                        base: exprs.next().expect("grammar: device base"),
                        size: exprs.next().expect("grammar: device size"),
                        span,
                    }),
                    _ => {
                        // dom_slot: name, cap type, object.
                        d.slots.push(SlotItem {
                            docs: std::mem::take(&mut docs),
                            name: ids.next().expect("grammar: slot name"),
                            cap: ids.next().expect("grammar: cap type"),
                            rights,
                            object: ids.next().expect("grammar: slot object"),
                            badge: exprs.next(),
                            span,
                        });
                    }
                }
            }
        }
        Ok(d)
    }

    fn expr(&self, pair: Pair<'_, Rule>) -> Result<Expr> {
        debug_assert_eq!(pair.as_rule(), Rule::expr);
        let operators = pair.clone().into_inner().count() / 2;
        if operators > MAX_OPERATORS {
            return Err(Diagnostic::new(
                Code::TooComplex,
                self.span(&pair),
                format!("expression with {operators} operators"),
            )
            .label(format!("more than {MAX_OPERATORS} operators"))
            .note("capc limits expression length so that checking any input is bounded")
            .help("split the expression into named constants"));
        }
        // Rust's precedence: `*` binds tighter than `+`/`-`, which bind tighter than `<<`.
        let pratt = PrattParser::new()
            .op(Op::infix(Rule::shl, Assoc::Left))
            .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
            .op(Op::infix(Rule::mul, Assoc::Left));
        pratt
            .map_primary(|p| self.primary(p))
            .map_infix(|lhs, op, rhs| {
                let (lhs, rhs) = (lhs?, rhs?);
                let op = match op.as_rule() {
                    Rule::add => BinOp::Add,
                    Rule::sub => BinOp::Sub,
                    Rule::mul => BinOp::Mul,
                    _ => BinOp::Shl,
                };
                Ok(Expr {
                    span: lhs.span.to(rhs.span),
                    kind: ExprKind::Binary(Box::new(lhs), op, Box::new(rhs)),
                })
            })
            .parse(pair.into_inner())
    }

    fn primary(&self, pair: Pair<'_, Rule>) -> Result<Expr> {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::ident => Ok(Expr {
                kind: ExprKind::Name(pair.as_str().to_string()),
                span,
            }),
            Rule::literal => Ok(Expr {
                kind: ExprKind::Int(self.literal(pair)?),
                span,
            }),
            Rule::paren => {
                let inner = pair
                    .into_inner()
                    .next()
                    .expect("grammar: parenthesised expr");
                let mut e = self.expr(inner)?;
                // Keep the parentheses in the span so labels cover what was written.
                e.span = span;
                Ok(e)
            }
            other => unreachable!("grammar: unexpected primary {other:?}"),
        }
    }

    fn literal(&self, pair: Pair<'_, Rule>) -> Result<u64> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let digits = inner.next().expect("grammar: digits");
        let (text, radix) = match digits.as_rule() {
            Rule::hex_int => (&digits.as_str()[2..], 16),
            Rule::bin_int => (&digits.as_str()[2..], 2),
            _ => (digits.as_str(), 10),
        };
        let clean: String = text.chars().filter(|c| *c != '_').collect();
        let too_large = || {
            Diagnostic::new(
                Code::LiteralTooLarge,
                span,
                "integer literal does not fit in 64 bits",
            )
            .label("larger than 18446744073709551615")
            .help("values in a spec are unsigned 64-bit integers; use a smaller value")
        };
        let value = u64::from_str_radix(&clean, radix).map_err(|_| too_large())?;
        let scale: u64 = match inner.next().map(|u| u.as_str()) {
            Some("KiB") => 1 << 10,
            Some("MiB") => 1 << 20,
            Some("GiB") => 1 << 30,
            Some("TiB") => 1 << 40,
            _ => 1,
        };
        value.checked_mul(scale).ok_or_else(too_large)
    }
}

fn is_keyword(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::kw_use
            | Rule::kw_system
            | Rule::kw_bitfield
            | Rule::kw_syscalls
            | Rule::kw_config
            | Rule::kw_const
            | Rule::kw_target
            | Rule::kw_rights
            | Rule::kw_errors
            | Rule::kw_cap
            | Rule::kw_for
            | Rule::kw_inherits
            | Rule::kw_retype
            | Rule::kw_derive
            | Rule::kw_from
            | Rule::kw_invocations
            | Rule::kw_interface
            | Rule::kw_struct
            | Rule::kw_enum
            | Rule::kw_type
    )
}
