//! The formatter (`capc fmt`): idempotent, meaning-preserving, comment-keeping.
//!
//! - Every spec of the repository (examples, the demo kernel's specs, the UI
//!   test cases) formats to a fixed point, and its checked model (or, for a
//!   failing case, its list of diagnostics) is the same before and after.
//!   The formatted examples are snapshotted in snapshots/fmt/.
//! - Property tests re-lay-out the token stream of those specs at random
//!   (spaces, tabs, newlines, blank lines) and sprinkle comments between
//!   tokens; and they generate specs with long lists that must be filled.
//!   Whatever the input: the output formats to itself, means what the input
//!   meant, keeps every comment in order, and fits in 100 columns unless a
//!   single token or comment is wider. Two layouts of the same tokens without
//!   blank lines format to the same text.
//!
//! "Means the same" compares the `Debug` rendering of the checked model with
//! every `Span` blanked out (formatting moves code, so spans differ), or, for
//! a spec that does not check, the codes and messages of its diagnostics.

use std::path::{Path, PathBuf};

use capc_dsl::fmt::{MAX_WIDTH, format};
use capc_dsl::{Compilation, FileId, SourceLoader, compile};
use proptest::prelude::*;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("dsl/ is in the workspace")
        .to_path_buf()
}

/// `name` holds `text`; every other path is read relative to the workspace.
struct Overlay<'a> {
    name: &'a str,
    text: &'a str,
}

impl SourceLoader for Overlay<'_> {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        if path == Path::new(self.name) {
            Ok(self.text.as_bytes().to_vec())
        } else {
            std::fs::read(workspace().join(path))
        }
    }
}

fn compile_as(name: &str, text: &str) -> Compilation {
    compile(Path::new(name), &Overlay { name, text }).expect("the root is in memory")
}

/// `Span { .. }` replaced by `Span`: what a spec means, not where it was written.
fn strip_spans(debug: &str) -> String {
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug;
    while let Some(i) = rest.find("Span {") {
        out.push_str(&rest[..i + 4]);
        let close = rest[i..].find('}').expect("a Span's Debug closes");
        rest = &rest[i + close + 1..];
    }
    out.push_str(rest);
    out
}

/// The meaning of a compilation: its model without spans, or its diagnostics.
fn meaning(c: &Compilation) -> String {
    match &c.spec {
        Some(spec) => strip_spans(&format!("{spec:#?}")),
        None => c
            .diagnostics
            .iter()
            .map(|d| format!("{} {}\n", d.code.as_str(), d.message))
            .collect(),
    }
}

/// Every property of formatting `text` (named `name` for its imports),
/// lines fitting in [`MAX_WIDTH`] only if `width`; returns the formatted text, or `None` when it has a syntax error.
fn check_formatting(name: &str, text: &str, width: bool) -> Result<Option<String>, String> {
    let Ok(formatted) = format(FileId(0), text) else {
        return Ok(None);
    };
    let again = format(FileId(0), &formatted)
        .map_err(|d| format!("the output does not parse: {}\n{formatted}", d.message))?;
    if again != formatted {
        return Err(format!(
            "not idempotent:\n--- input\n{text}\n--- once\n{formatted}\n--- twice\n{again}"
        ));
    }
    let before = meaning(&compile_as(name, text));
    let after = meaning(&compile_as(name, &formatted));
    if before != after {
        return Err(format!(
            "meaning changed:\n--- input\n{text}\n--- output\n{formatted}\n--- before\n{before}\n--- after\n{after}"
        ));
    }
    let comments_in = comments(&lex(text));
    let comments_out = comments(&lex(&formatted));
    if comments_in != comments_out {
        return Err(format!(
            "comments changed: {comments_in:?} became {comments_out:?}\n--- input\n{text}\n--- output\n{formatted}"
        ));
    }
    // A comment inside a list can push the rest of the list to the right.
    for line in formatted.lines().filter(|_| width) {
        let long_token = lex(line).iter().any(|t| t.text.len() > 40);
        let comment = line.contains("//") || line.contains("/*");
        if line.chars().count() > MAX_WIDTH && !long_token && !comment {
            return Err(format!(
                "line wider than {MAX_WIDTH}: `{line}`\n{formatted}"
            ));
        }
    }
    Ok(Some(formatted))
}

// ------------------------------------------------------------ repository specs

/// Every `.cap` file of the repository outside target/, relative to the
/// workspace; not the VS Code grammar's fixtures, which are token samples
/// (one is meant not to parse), nor npm's node_modules.
fn repository_specs() -> Vec<String> {
    let mut found = Vec::new();
    let mut dirs = vec![workspace()];
    let fixtures = workspace().join("editors/vscode/test/fixtures");
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read a workspace directory") {
            let path = entry.expect("directory entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if !name.starts_with('.')
                    && name != "target"
                    && name != "node_modules"
                    && path != fixtures
                {
                    dirs.push(path);
                }
            } else if name.ends_with(".cap") {
                let relative = path
                    .strip_prefix(workspace())
                    .expect("inside the workspace");
                found.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    found.sort();
    found
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(workspace().join(relative)).expect("read a spec")
}

#[test]
fn every_repository_spec_formats_to_a_fixed_point_with_the_same_meaning() {
    let specs = repository_specs();
    assert!(specs.len() > 50, "found only {specs:?}");
    let mut failures = Vec::new();
    let mut syntax_errors = 0;
    for spec in &specs {
        match check_formatting(spec, &read(spec), true) {
            Ok(Some(_)) => {}
            Ok(None) => syntax_errors += 1,
            Err(e) => failures.push(format!("{spec}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // Exactly the cases of the errors the parser reports are refused: not
    // the E0004 cases the checker reports (chains of constants and of
    // message types), and the proc macro's spec with a syntax error.
    let parse_errors = specs
        .iter()
        .filter(|s| {
            ["/E0001-", "/E0003-", "/E0004-nested-too-deep"]
                .iter()
                .any(|c| s.contains(c))
                || s.ends_with("/bad-syntax.cap")
        })
        .count();
    assert_eq!(syntax_errors, parse_errors);
}

#[test]
fn formatted_examples() {
    insta::with_settings!({
        snapshot_path => workspace().join("snapshots/fmt"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        for spec in [
            "kernel-demo/spec/kernel.cap",
            "kernel-demo/spec/decompress.cap",
            "examples/everything.cap",
            "examples/lib/everything-base.cap",
            "dsl/tests/ui/pass/syntax-variety.cap",
        ] {
            let formatted = check_formatting(spec, &read(spec), true)
                .unwrap_or_else(|e| panic!("{spec}: {e}"))
                .expect("an example parses");
            let name = Path::new(spec).file_stem().unwrap().to_string_lossy().into_owned();
            insta::assert_snapshot!(name, formatted);
        }
    });
}

#[test]
fn a_syntax_error_is_reported_not_formatted() {
    let err = format(FileId(0), "const A = 1\nconst B = 2;\n").unwrap_err();
    assert_eq!(err.code.as_str(), "E0001");
    assert!(err.message.contains("`;`"), "{}", err.message);
    let err = format(FileId(0), "const A = 99999999999999999999999;\n").unwrap_err();
    assert_eq!(err.code.as_str(), "E0003");
}

#[test]
fn comments_stay_where_they_were() {
    let text = "\
//! Inner docs.
// A comment before the first item.
const A = 1;   // after A
const B = /* inside */ 2;


/// Docs of X.
object X { // opens X
    // before size
    size = 16;
    /* after size */
}
rights { read /* trailing block */, write, // end of write
  // before the brace
}
// at the end
";
    let formatted = format(FileId(0), text).unwrap();
    assert_eq!(
        formatted,
        "\
//! Inner docs.

// A comment before the first item.
const A = 1; // after A
const B = /* inside */ 2;

/// Docs of X.
object X { // opens X
    // before size
    size = 16;
    /* after size */
}

rights {
    read, /* trailing block */
    write, // end of write
    // before the brace
}
// at the end
"
    );
}

#[test]
fn long_signatures_and_clauses_are_filled() {
    let params: Vec<String> = (0..12).map(|i| format!("argument_{i}: word")).collect();
    let text = format!(
        "interface I -> E {{ fn call({}) -> (first_result: word, second_result: word, third: word) {{ errors {}; }} }}",
        params.join(", "),
        (0..15)
            .map(|i| format!("Variant{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let formatted = format(FileId(0), &text).unwrap();
    assert_eq!(
        formatted,
        "\
interface I -> E {
    fn call(argument_0: word, argument_1: word, argument_2: word, argument_3: word,
            argument_4: word, argument_5: word, argument_6: word, argument_7: word,
            argument_8: word, argument_9: word, argument_10: word, argument_11: word)
        -> (first_result: word, second_result: word, third: word) {
        errors Variant0, Variant1, Variant2, Variant3, Variant4, Variant5, Variant6, Variant7,
               Variant8, Variant9, Variant10, Variant11, Variant12, Variant13, Variant14;
    }
}
"
    );
}

// ------------------------------------------------------------ a test lexer

/// A token of the test lexer: enough to re-lay-out a spec, not to parse it.
#[derive(Clone, Debug, PartialEq)]
struct Token {
    text: String,
    /// `//` comment or `///`/`//!` doc: a newline must follow.
    ends_line: bool,
    comment: bool,
}

fn lex(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut rest = text;
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    while let Some(c) = rest.chars().next() {
        let (len, ends_line, comment) = if c.is_whitespace() {
            rest = &rest[c.len_utf8()..];
            continue;
        } else if rest.starts_with("//") {
            let doc =
                (rest.starts_with("///") && !rest.starts_with("////")) || rest.starts_with("//!");
            (rest.find('\n').unwrap_or(rest.len()), true, !doc)
        } else if let Some(body) = rest.strip_prefix("/*") {
            (body.find("*/").map_or(rest.len(), |n| n + 4), false, true)
        } else if c == '"' {
            (
                rest[1..].find('"').map_or(rest.len(), |n| n + 2),
                false,
                false,
            )
        } else if c.is_ascii_digit() {
            // A number with its unit, `4 KiB`, is one token.
            let mut len = rest.find(|c| !word(c)).unwrap_or(rest.len());
            let after = rest[len..].trim_start_matches(' ');
            for unit in ["KiB", "MiB", "GiB", "TiB"] {
                if after.starts_with(unit) && !after[3..].starts_with(word) {
                    len = rest.len() - after.len() + 3;
                }
            }
            (len, false, false)
        } else if word(c) {
            (rest.find(|c| !word(c)).unwrap_or(rest.len()), false, false)
        } else {
            let op = ["..=", "..", "->", ">=", "<<", "<="]
                .into_iter()
                .find(|op| rest.starts_with(op));
            (op.map_or(c.len_utf8(), str::len), false, false)
        };
        tokens.push(Token {
            text: rest[..len].trim_end().to_string(),
            ends_line,
            comment,
        });
        rest = &rest[len..];
    }
    tokens
}

fn comments(tokens: &[Token]) -> Vec<String> {
    tokens
        .iter()
        .filter(|t| t.comment)
        .map(|t| t.text.clone())
        .collect()
}

/// Joins `tokens` with the separators chosen by `gaps` (cycled), inserting
/// `extra` comments before the tokens whose index they name.
fn relayout(tokens: &[Token], gaps: &[&str], extra: &[(usize, String)]) -> String {
    let mut out = String::new();
    let mut gap = gaps.iter().cycle();
    let mut ends_line = false;
    for (i, token) in tokens.iter().enumerate() {
        let mut pieces: Vec<(String, bool)> = extra
            .iter()
            .filter(|(at, _)| *at == i)
            .map(|(_, c)| (c.clone(), c.starts_with("//")))
            .collect();
        pieces.push((token.text.clone(), token.ends_line));
        for (text, piece_ends_line) in pieces {
            if !out.is_empty() {
                let g = gap.next().expect("cycled");
                if ends_line && !g.contains('\n') {
                    out.push('\n');
                } else {
                    out.push_str(g);
                }
            }
            out.push_str(&text);
            ends_line = piece_ends_line;
        }
    }
    out.push('\n');
    out
}

const PROPERTY_SPECS: &[&str] = &[
    "kernel-demo/spec/kernel.cap",
    "kernel-demo/spec/decompress.cap",
    "examples/everything.cap",
    "examples/messages.cap",
    "examples/lib/everything-base.cap",
    "dsl/tests/ui/pass/syntax-variety.cap",
    "examples/sel4/x86_64.cap",
    "examples/files.cap",
    "examples/flounder/mem.cap",
    "dsl/tests/ui/pass/sessions.cap",
    "examples/systems/decompress.cap",
    "kernel-demo/spec/client_pays.cap",
    "dsl/tests/ui/pass/system.cap",
];

const GAPS: &[&str] = &[" ", "\n", "\n\n", "  ", "\t", "\n    ", "\n\n\n  "];
const ONE_LINE_GAPS: &[&str] = &[" ", "\n", "  ", "\t", "\n        ", " \n "];
const COMMENTS: &[&str] = &[
    "// a line comment",
    "/* a block */",
    "/* a block\n   over two lines */",
    "//",
    "/**/",
];

fn layout() -> impl Strategy<Value = (usize, Vec<&'static str>, Vec<(usize, String)>)> {
    (
        0..PROPERTY_SPECS.len(),
        prop::collection::vec(prop::sample::select(GAPS), 1..40),
        prop::collection::vec(
            (any::<prop::sample::Index>(), prop::sample::select(COMMENTS)),
            0..16,
        ),
    )
        .prop_map(|(spec, gaps, comments)| {
            let tokens = lex(&read(PROPERTY_SPECS[spec])).len();
            let extra = comments
                .into_iter()
                .map(|(at, c)| (at.index(tokens), c.to_string()))
                .collect();
            (spec, gaps, extra)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any layout of an example's tokens, with comments anywhere between
    /// them, formats to a fixed point with the same meaning and comments.
    #[test]
    fn any_layout_of_an_example((spec, gaps, extra) in layout()) {
        let name = PROPERTY_SPECS[spec];
        let text = relayout(&lex(&read(name)), &gaps, &extra);
        let result = check_formatting(name, &text, false);
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
        prop_assert!(result.unwrap().is_some(), "a re-laid-out example must parse:\n{}", text);
    }

    /// Without blank lines and comments, the layout of the input does not
    /// matter at all.
    #[test]
    fn layout_does_not_matter(
        spec in 0..PROPERTY_SPECS.len(),
        a in prop::collection::vec(prop::sample::select(ONE_LINE_GAPS), 1..20),
        b in prop::collection::vec(prop::sample::select(ONE_LINE_GAPS), 1..20),
    ) {
        let mut tokens = lex(&read(PROPERTY_SPECS[spec]));
        tokens.retain(|t| !t.comment);
        let first = format(FileId(0), &relayout(&tokens, &a, &[])).unwrap();
        let second = format(FileId(0), &relayout(&tokens, &b, &[])).unwrap();
        prop_assert_eq!(first, second);
    }

    /// Generated specs with many objects, caps, variants and long method
    /// signatures, which exercise filling at every width.
    #[test]
    fn generated_specs(spec in generated_spec(), gaps in prop::collection::vec(prop::sample::select(GAPS), 1..10)) {
        let text = relayout(&lex(&spec), &gaps, &[]);
        let result = check_formatting("generated.cap", &text, true);
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
        let formatted = result.unwrap();
        prop_assert!(formatted.is_some(), "a generated spec must parse:\n{}", text);
        let compilation = compile_as("generated.cap", &spec);
        prop_assert!(compilation.spec.is_some(), "a generated spec must check:\n{}\n{}", spec, compilation.render());
    }
}

/// A spec that checks: `objects` kernel objects with a cap each, all retyped
/// from Untyped; an error set with `variants` variants; an interface whose
/// methods take `params` words and may return any of the errors.
fn generated_spec() -> impl Strategy<Value = String> {
    (1usize..25, 1usize..30, 0usize..12, 1usize..4, 1usize..30).prop_map(
        |(objects, variants, params, methods, name_len)| {
            let long = "x".repeat(name_len);
            let mut s = String::from(
                "target t { address_bits = 48; tag_bits = 5; message_registers = 4; \
                 message_words = 120; caps_per_message = 3; }\n\
                 untyped Untyped(bits in 4..=47) { size = 1 << bits; memory = ram; }\n\
                 cap UntypedCap for Untyped { #[identity] #[object] base: ptr(align = 16), \
                 #[identity] #[size_arg] bits: u6, #[watermark(unit = 16)] free_index: u44 }\n",
            );
            let names: Vec<String> = (0..objects).map(|i| format!("Object{i}{long}")).collect();
            for name in &names {
                s.push_str(&format!("object {name} {{ size = 16; }}\n"));
                s.push_str(&format!(
                    "cap {name}Cap for {name} {{ #[identity] #[object] address: ptr(align = 16) }}\n"
                ));
            }
            s.push_str(&format!(
                "retype UntypedCap {{ into = Untyped | {}; fan_out = 8; }}\n",
                names.join(" | ")
            ));
            let variant_names: Vec<String> = (0..variants).map(|i| format!("Error{i}")).collect();
            s.push_str(&format!(
                "errors E {{ {} }}\n",
                variant_names
                    .iter()
                    .map(|v| format!("{v}(payload_{long})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            s.push_str("interface Service -> E {\n");
            for m in 0..methods {
                let list: Vec<String> = (0..params).map(|i| format!("p{i}_{long}: word")).collect();
                s.push_str(&format!(
                    "fn method{m}({}) -> (r_{long}: word) {{ errors {}; }}\n",
                    list.join(", "),
                    variant_names.join(", ")
                ));
            }
            s.push_str("}\n");
            s
        },
    )
}
