//! Robustness: the front end must survive any input.
//!
//! Property tests feed `compile` (a) random token soup built from the
//! language's keywords, punctuation, names and numbers, and (b) random
//! mutations of the real example specs (kernel-demo/spec). Whatever the input:
//!
//! - `compile` does not panic (nor does rendering its diagnostics);
//! - every primary and secondary span lies inside its file's text, on char
//!   boundaries (`start <= end <= len`);
//! - every diagnostic's code is in `Code::ALL`;
//! - the model is present exactly when there is no error.
//!
//! Failures are not persisted to disk (no proptest-regressions/ file): a
//! minimal failing input found here becomes a regular `#[test]` at the bottom
//! of this file instead. The fuzz target in fuzz/ checks the same properties
//! with coverage guidance.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::OnceLock;

use capc_dsl::{Code, Compilation, MemoryLoader, compile};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const KERNEL: &str = include_str!("../../kernel-demo/spec/kernel.cap");
const DECOMPRESS: &str = include_str!("../../kernel-demo/spec/decompress.cap");

/// Every violated property of one compilation, in words (empty: all hold).
fn violations(c: &Compilation) -> Vec<String> {
    let mut found = Vec::new();
    let errors = c.diagnostics.iter().any(|d| d.is_error());
    if errors != c.has_errors() {
        found.push("has_errors() disagrees with the diagnostics".to_string());
    }
    match (errors, c.spec.is_some()) {
        (true, true) => found.push("there is an error but the spec is Some".to_string()),
        (false, false) => found.push("there is no error but the spec is None".to_string()),
        _ => {}
    }
    for d in &c.diagnostics {
        let code = d.code.as_str();
        if !Code::ALL.contains(&d.code) {
            found.push(format!("{code}: code not in Code::ALL"));
        }
        let labels = std::iter::once(("primary", &d.primary))
            .chain(d.secondary.iter().map(|l| ("secondary", l)));
        for (role, label) in labels {
            let span = label.span;
            if span.file.0 as usize >= c.sources.len() {
                found.push(format!(
                    "{code} `{}`: {role} span {span:?} names a file not in the source map",
                    d.message
                ));
                continue;
            }
            let text = c.sources.text(span.file);
            let (start, end) = (span.start as usize, span.end as usize);
            if !(start <= end && end <= text.len()) {
                found.push(format!(
                    "{code} `{}`: {role} span {start}..{end} outside the file ({} bytes)",
                    d.message,
                    text.len()
                ));
            } else if !text.is_char_boundary(start) || !text.is_char_boundary(end) {
                found.push(format!(
                    "{code} `{}`: {role} span {start}..{end} not on char boundaries",
                    d.message
                ));
            }
        }
    }
    found
}

/// Compiles `root` from `loader`, renders every diagnostic (which must not
/// panic either) and checks the properties.
fn check_loader(root: &str, loader: &MemoryLoader) -> Result<(), TestCaseError> {
    let run = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let compilation = compile(Path::new(root), loader)
            .map_err(|e| TestCaseError::fail(format!("the root is in memory, yet: {e}")))?;
        let _rendered = compilation.render();
        for d in &compilation.diagnostics {
            // The JSON output computes line and column of both ends.
            let _ = compilation
                .sources
                .line_col(d.primary.span.file, d.primary.span.end as usize);
        }
        Ok::<_, TestCaseError>(compilation)
    }));
    let compilation = match run {
        Ok(result) => result?,
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            return Err(TestCaseError::fail(format!("panicked: {message}")));
        }
    };
    let found = violations(&compilation);
    if found.is_empty() {
        Ok(())
    } else {
        Err(TestCaseError::fail(format!(
            "{}\nrendered:\n{}",
            found.join("\n"),
            compilation.render()
        )))
    }
}

/// Compiles `text` as `soup.cap`, with the example specs beside it so that
/// `use "kernel.cap";` and friends resolve.
fn check_text(text: &str) -> Result<(), TestCaseError> {
    let loader = MemoryLoader::new()
        .with("soup.cap", text)
        .with("kernel.cap", KERNEL)
        .with("decompress.cap", DECOMPRESS);
    check_loader("soup.cap", &loader)
}

// ------------------------------------------------------------------ soup

/// The pieces random specs are made of.
#[rustfmt::skip]
const TOKENS: &[&str] = &[
    // keywords
    "use", "const", "target", "rights", "untyped", "frame", "object", "errors", "cap", "for",
    "retype", "invocations", "interface", "fn", "in",
    // contextual words
    "size", "align", "memory", "ram", "device", "into", "fan_out", "requires", "donates", "quota",
    "allocates", "out_of_budget", "grant", "lend", "word", "bool", "ptr", "read", "write",
    "session", "keeps", "refunds", "server_pays",
    // field types
    "u0", "u1", "u5", "u6", "u8", "u44", "u64", "u65", "u4294967296",
    // attributes
    "identity", "object", "size_arg", "watermark", "unit", "device", "guard_bits", "guard",
    "badge", "never_copy", "always_copy",
    // settings
    "address_bits", "tag_bits", "message_registers", "message_words", "caps_per_message",
    // names
    "Untyped", "CNode", "Tcb", "Frame", "Endpoint", "UntypedCap", "CNodeCap", "FrameCap",
    "EndpointCap", "KernelError", "E", "x86_64", "radix", "bits", "SLOT_BITS", "X", "a", "_",
    "index", "OutOfBudget",
    // punctuation
    "{", "}", "(", ")", "[", "]", ";", ",", ":", "=", "|", "->", ">=", "*", "+", "-", "<<", "..",
    "..=", "#", "#[", "///", "//!", "//", "/*", "*/", "\"", "\\", "'",
    // numbers
    "0", "1", "2", "5", "12", "16", "47", "48", "63", "64", "65", "120", "256", "4096", "0x10",
    "0b101", "0x", "0b", "1_000", "KiB", "MiB", "GiB", "TiB", "4 KiB", "1 TiB", "4KiB",
    "0xFFFF_FFFF_FFFF_FFFF", "18446744073709551615", "18446744073709551616",
    "99999999999999999999999999",
    // import paths
    "\"kernel.cap\"", "\"decompress.cap\"", "\"soup.cap\"", "\"missing.cap\"", "\"../x.cap\"",
    "\"\"", "\".\"", "\"/\"",
    // odd text: multi-byte letters and punctuation, invisible characters
    "é", "日本", "\u{1F600}", "\u{0}", "\u{FEFF}", "\u{200B}", "\u{7F}", "—", "→", "€", "§",
    "…", "\u{A0}", "\u{FFFD}", "/// —", "x—", "4—",
];

const SEPARATORS: &[&str] = &[" ", " ", " ", "\n", "", "\t", "\r\n", "\r"];

/// Starts that get a soup past the first item, so that later parser states
/// and the checker see random input too.
const PREFIXES: &[&str] = &[
    "",
    "use \"kernel.cap\";\n",
    "target t { address_bits = 48; tag_bits = 5; message_registers = 4; message_words = 16; caps_per_message = 2; }\n",
    "rights { read, write }\nuntyped U(bits in 4..=47) { size = 1 << bits; memory = ram; }\n",
];

/// Ends that put odd text right at the end of the file, where the parser
/// reports "found the end of the file".
const SUFFIXES: &[&str] = &[
    "",
    "",
    "",
    "\n",
    "///",
    "/// x",
    "/// —",
    "/// é",
    "/// \u{1F600}",
    "//! …",
    "// —",
    "/*",
    "/* —",
    "\"",
    "\"—",
    "#[",
    "4",
    "4—",
];

fn soup() -> impl Strategy<Value = String> {
    let piece = (
        prop::sample::select(TOKENS),
        prop::sample::select(SEPARATORS),
    );
    // Mostly short soups: a long one almost always breaks early, and a short
    // one after a valid prefix lets the suffix decide what is at the end.
    let pieces = prop_oneof![
        prop::collection::vec(piece.clone(), 0..4),
        prop::collection::vec(piece.clone(), 0..40),
        prop::collection::vec(piece, 0..160),
    ];
    (
        prop::sample::select(PREFIXES),
        pieces,
        prop::sample::select(SUFFIXES),
    )
        .prop_map(|(prefix, pieces, suffix)| {
            let mut text = prefix.to_string();
            for (token, sep) in pieces {
                text.push_str(token);
                text.push_str(sep);
            }
            text.push_str(suffix);
            text
        })
}

// ------------------------------------------------------------- mutations

/// Numbers to put in place of one of the spec's numbers: huge ones, and the
/// edges of what the checker accepts.
const NUMBERS: &[&str] = &[
    "18446744073709551615",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "0xFFFFFFFFFFFFFFFF",
    "0x1_0000_0000_0000_0000",
    "9223372036854775808",
    "4294967296",
    "18446744073709551615 TiB",
    "17179869184 GiB",
    "1 TiB",
    "0",
    "1",
    "63",
    "64",
    "65",
    "128",
];

/// A position in a text of any length: `Pos(p).of(n)` is `p / 2^64` of the
/// way into `0..n`.
#[derive(Clone, Copy, Debug)]
struct Pos(u64);

impl Pos {
    fn of(self, n: usize) -> usize {
        ((n as u128 * self.0 as u128) >> 64) as usize
    }
}

fn pos() -> impl Strategy<Value = Pos> {
    any::<u64>().prop_map(Pos)
}

#[derive(Clone, Debug)]
enum Mutation {
    /// Remove `len` bytes at `at`.
    Delete { at: Pos, len: usize },
    /// Copy `len` bytes at `from` to `to`.
    Duplicate { from: Pos, len: usize, to: Pos },
    /// Exchange two ranges of `len` bytes each.
    Swap { a: Pos, b: Pos, len: usize },
    /// Insert a token (with a space on either side, or not) at `at`.
    Insert {
        at: Pos,
        token: &'static str,
        spaced: bool,
    },
    /// Replace the `nth` number of the text by `number`.
    Number { nth: Pos, number: &'static str },
    /// Cut the text at `at`, then append `tail`.
    Truncate { at: Pos, tail: &'static str },
}

fn length() -> impl Strategy<Value = usize> {
    prop_oneof![4 => 0..8usize, 3 => 0..64usize, 1 => 0..4000usize]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (pos(), length()).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (pos(), length(), pos()).prop_map(|(from, len, to)| Mutation::Duplicate { from, len, to }),
        (pos(), pos(), length()).prop_map(|(a, b, len)| Mutation::Swap { a, b, len }),
        (pos(), prop::sample::select(TOKENS), any::<bool>())
            .prop_map(|(at, token, spaced)| Mutation::Insert { at, token, spaced }),
        (pos(), prop::sample::select(NUMBERS))
            .prop_map(|(nth, number)| Mutation::Number { nth, number }),
        (pos(), prop::sample::select(SUFFIXES))
            .prop_map(|(at, tail)| Mutation::Truncate { at, tail }),
    ]
}

/// The char boundary at or before `at`.
fn floor(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// A char-aligned range of about `len` bytes starting at `at` (an index into
/// `0..=text.len()`).
fn range(text: &str, at: Pos, len: usize) -> (usize, usize) {
    let start = floor(text, at.of(text.len() + 1));
    (start, floor(text, start.saturating_add(len)))
}

fn apply(text: &mut String, m: &Mutation) {
    match m {
        Mutation::Delete { at, len } => {
            let (s, e) = range(text, *at, *len);
            text.replace_range(s..e, "");
        }
        Mutation::Duplicate { from, len, to } => {
            let (s, e) = range(text, *from, *len);
            let copy = text[s..e].to_string();
            let to = floor(text, to.of(text.len() + 1));
            text.insert_str(to, &copy);
        }
        Mutation::Swap { a, b, len } => {
            let (a0, a1) = range(text, *a, *len);
            let (b0, b1) = range(text, *b, *len);
            let ((s0, s1), (t0, t1)) = if a0 <= b0 {
                ((a0, a1), (b0, b1))
            } else {
                ((b0, b1), (a0, a1))
            };
            if s1 > t0 {
                return; // overlapping ranges: nothing sensible to swap
            }
            let swapped = format!(
                "{}{}{}{}{}",
                &text[..s0],
                &text[t0..t1],
                &text[s1..t0],
                &text[s0..s1],
                &text[t1..]
            );
            *text = swapped;
        }
        Mutation::Insert { at, token, spaced } => {
            let at = floor(text, at.of(text.len() + 1));
            if *spaced {
                text.insert_str(at, &format!(" {token} "));
            } else {
                text.insert_str(at, token);
            }
        }
        Mutation::Number { nth, number } => {
            let numbers = number_ranges(text);
            if !numbers.is_empty() {
                let (s, e) = numbers[nth.of(numbers.len())];
                text.replace_range(s..e, number);
            }
        }
        Mutation::Truncate { at, tail } => {
            let at = floor(text, at.of(text.len() + 1));
            text.truncate(at);
            text.push_str(tail);
        }
    }
}

/// The byte ranges of the decimal numbers in `text` that are not part of a
/// name (`48`, not the `64` in `x86_64`).
fn number_ranges(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut ranges = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let in_name = i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if b.is_ascii_digit() && !in_name {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'_') {
                i += 1;
            }
            ranges.push((start, i));
        } else {
            i += 1;
        }
    }
    ranges
}

#[derive(Clone, Debug)]
struct Mutated {
    /// Mutate decompress.cap (else kernel.cap).
    decompress: bool,
    /// Compile decompress.cap as the root (it imports kernel.cap).
    root_decompress: bool,
    mutations: Vec<Mutation>,
}

fn mutated() -> impl Strategy<Value = Mutated> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(mutation(), 1..=4),
    )
        .prop_map(|(decompress, root_decompress, mutations)| Mutated {
            decompress,
            root_decompress,
            mutations,
        })
}

fn check_mutated(case: &Mutated) -> Result<(), TestCaseError> {
    let mut text = if case.decompress { DECOMPRESS } else { KERNEL }.to_string();
    for m in &case.mutations {
        apply(&mut text, m);
    }
    let (kernel, decompress) = if case.decompress {
        (KERNEL.to_string(), text)
    } else {
        (text, DECOMPRESS.to_string())
    };
    let loader = MemoryLoader::new()
        .with("kernel.cap", kernel.as_str())
        .with("decompress.cap", decompress.as_str());
    let root = if case.root_decompress {
        "decompress.cap"
    } else {
        "kernel.cap"
    };
    check_loader(root, &loader).map_err(|e| {
        TestCaseError::fail(format!(
            "{e}\nroot {root}; kernel.cap:\n{kernel}\n--- decompress.cap:\n{decompress}"
        ))
    })
}

/// Every spec of the repository (UI cases, examples, the demo), by path
/// relative to the workspace, read once.
fn corpus() -> &'static [(String, String)] {
    static CORPUS: OnceLock<Vec<(String, String)>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("dsl/ is in the workspace");
        let mut files = Vec::new();
        for dir in ["kernel-demo/spec", "examples", "dsl/tests/ui"] {
            collect_specs(root, &root.join(dir), &mut files);
        }
        files.sort();
        files
    })
}

fn collect_specs(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_specs(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "cap")
            && let Ok(text) = std::fs::read_to_string(&path)
        {
            let relative = path.strip_prefix(root).expect("under the workspace");
            out.push((relative.to_string_lossy().replace('\\', "/"), text));
        }
    }
}

/// Mutates the `root`-th spec of the corpus and compiles it with every other
/// spec of the corpus beside it (so its imports resolve).
fn check_corpus(root: Pos, mutations: &[Mutation]) -> Result<(), TestCaseError> {
    let files = corpus();
    if files.is_empty() {
        return Ok(());
    }
    let (root_path, original) = &files[root.of(files.len())];
    let mut text = original.clone();
    for m in mutations {
        apply(&mut text, m);
    }
    let mut loader = MemoryLoader::new();
    for (path, other) in files {
        loader = loader.with(path.as_str(), other.as_str());
    }
    loader = loader.with(root_path.as_str(), text.as_str());
    check_loader(root_path, &loader)
        .map_err(|e| TestCaseError::fail(format!("{e}\nroot {root_path}, mutated:\n{text}")))
}

fn config() -> ProptestConfig {
    // 256 cases unless PROPTEST_CASES says otherwise.
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn token_soup_upholds_the_properties(text in soup()) {
        check_text(&text)?;
    }

    #[test]
    fn mutated_examples_uphold_the_properties(case in mutated()) {
        check_mutated(&case)?;
    }

    #[test]
    fn mutated_repository_specs_uphold_the_properties(
        root in pos(),
        mutations in prop::collection::vec(mutation(), 1..=4),
    ) {
        check_corpus(root, &mutations)?;
    }
}

// ------------------------------------------------------- fixed inputs

fn assert_holds(text: &str) {
    if let Err(e) = check_text(text) {
        panic!("{e}\ninput: {text:?}");
    }
}

#[test]
fn the_examples_check_clean_from_memory() {
    let loader = MemoryLoader::new()
        .with("kernel.cap", KERNEL)
        .with("decompress.cap", DECOMPRESS);
    for root in ["kernel.cap", "decompress.cap"] {
        let c = compile(Path::new(root), &loader).expect("in memory");
        assert!(c.diagnostics.is_empty(), "{root}:\n{}", c.render());
        assert!(c.spec.is_some());
    }
}

#[test]
fn the_mutation_helpers_do_what_they_say() {
    assert_eq!(
        number_ranges("x86_64 = 48; 1_0 u8"),
        vec![(9, 11), (13, 16)]
    );
    let mut text = "abcdef".to_string();
    apply(
        &mut text,
        &Mutation::Delete {
            at: Pos(u64::MAX / 7 + 1),
            len: 2,
        },
    );
    assert_eq!(text, "adef");
    apply(
        &mut text,
        &Mutation::Number {
            nth: Pos(0),
            number: "1",
        },
    );
    assert_eq!(text, "adef");
    let mut text = "é1".to_string();
    apply(
        &mut text,
        &Mutation::Delete {
            at: Pos(u64::MAX / 4 + 1),
            len: 2,
        },
    );
    assert_eq!(text, "1");
}

#[test]
fn empty_and_blank_inputs() {
    for text in [
        "",
        " ",
        "\n",
        "\u{FEFF}",
        "//! only a doc\n",
        "/* open",
        "///",
        "\u{0}",
    ] {
        assert_holds(text);
    }
}

#[test]
fn unterminated_constructs() {
    for text in [
        "const X = ",
        "const X = (((",
        "target t {",
        "use \"kernel.cap",
        "use \"é",
        "é",
        "const X = 1 é;",
        "cap C for ",
        "object O(r in 1..",
        "#[",
        "/* é",
    ] {
        assert_holds(text);
    }
}

#[test]
fn huge_literals() {
    for text in [
        "const X = 18446744073709551616;",
        "const X = 18446744073709551615 TiB;",
        "const X = 0xFFFF_FFFF_FFFF_FFFF_F;",
        "const X = 99999999999999999999999999999999999999999;",
        "const X = 1 << 64;",
        "const X = 1 << 18446744073709551615;",
        "const X = 0 - 1;",
        "const X = 18446744073709551615 * 18446744073709551615;",
    ] {
        assert_holds(text);
    }
}

#[test]
fn moderately_deep_nesting_is_fine() {
    // Far beyond any real spec, and still within a test thread's 2 MiB stack.
    let depth = 200;
    assert_holds(&format!(
        "const X = {}1{};",
        "(".repeat(depth),
        ")".repeat(depth)
    ));
    assert_holds(&format!("const X = 1{};", " + 1".repeat(depth)));
}

// ------------------------------------------------ regressions (stack depth)
//
// The parser's tree builder and the constant evaluator recurse once per
// nesting level; capc bounds nesting (E0004) so no input can overflow the
// stack. A stack overflow aborts the whole process (it is not a panic), so
// each of these tests compiles its input in a child process (this test
// binary re-run on just that test) on a thread with an 8 MiB stack, the size
// of the main thread the CLI runs on.

/// Set in the child process that actually compiles the input.
const CHILD: &str = "CAPC_ROBUSTNESS_CHILD";

fn assert_no_stack_overflow(test: &str, input: fn() -> String) {
    if std::env::var_os(CHILD).is_some() {
        let text = input();
        let found = std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn(move || violations(&capc_dsl::compile_str("deep.cap", &text)))
            .expect("spawn")
            .join()
            .expect("compile_str panicked");
        assert!(found.is_empty(), "{}", found.join("\n"));
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([test, "--exact", "--include-ignored", "--nocapture"])
        .env(CHILD, "1")
        .output()
        .expect("re-run the test binary");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "compiling the input crashed ({}):\n{}",
        output.status,
        stderr.lines().rev().take(5).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn regression_deeply_nested_parentheses_overflow_the_stack() {
    // 6 KB of input. (From about 5000 levels on, pest's own stack guard
    // trips first and the parse fails with "expected something else, found
    // `(`", which does not crash but does not say what is wrong either.)
    assert_no_stack_overflow(
        "regression_deeply_nested_parentheses_overflow_the_stack",
        || format!("const X = {}1{};", "(".repeat(3000), ")".repeat(3000)),
    );
}

#[test]
fn regression_long_operator_chains_overflow_the_stack() {
    // Left-associative operators build a left-leaning tree as deep as the
    // expression is long; the evaluator recurses down it. 500 KB of input.
    assert_no_stack_overflow("regression_long_operator_chains_overflow_the_stack", || {
        format!("const X = 1{};\nconst Y = X;", " + 1".repeat(100_000))
    });
}

#[test]
fn regression_long_constant_chains_overflow_the_stack() {
    // `const C0 = C1; const C1 = C2; ...`: each reference recurses. 200 KB.
    assert_no_stack_overflow("regression_long_constant_chains_overflow_the_stack", || {
        let n = 10_000;
        let mut text = String::new();
        for i in 0..n {
            text.push_str(&format!("const C{i} = C{};\n", i + 1));
        }
        text.push_str(&format!("const C{n} = 1;\n"));
        text
    });
}

#[test]
fn regression_long_message_type_chains_overflow_the_stack() {
    // `struct A0 { x: A1 } struct A1 { x: A2 } ...`: laying each out first
    // lays out the one it contains. 500 KB.
    assert_no_stack_overflow(
        "regression_long_message_type_chains_overflow_the_stack",
        || {
            let n = 20_000;
            let mut text = String::from("errors E { X }\ninterface I -> E { fn f(a: A0); }\n");
            for i in 0..n {
                text.push_str(&format!("struct A{i} {{ x: A{} }}\n", i + 1));
            }
            text.push_str(&format!("struct A{n} {{ x: u8 }}\n"));
            text
        },
    );
}

#[test]
fn regression_multibyte_character_before_a_syntax_error_panics() {
    // `word_start = text[..at].rfind(non-word char) + 1` assumes that char is
    // one byte; when the last non-word character before the error position
    // is a multi-byte one (and `at` is past it), `text[word_start..]` panics.
    // Minimal inputs, found by the fuzzer and the soup/mutation properties:
    for text in [
        "///—",                // 6 bytes: an em dash ending a doc comment at EOF
        "/// —",               // the same with a space
        "/// see §",           // any non-alphanumeric multi-byte character ...
        "/// \u{1F600}",       // ... of any width
        "/// x —abc",          // ... followed by letters too
        "const X = 1;\n/// …", // after a valid item
    ] {
        let run = std::panic::catch_unwind(|| capc_dsl::compile_str("doc.cap", text));
        assert!(run.is_ok(), "compile_str panicked on {text:?}");
        assert_holds(text);
    }
}

#[test]
fn regression_parentheses_in_comments_do_not_count_as_nesting() {
    // The E0004 pre-scan once counted `(` inside /* */ comments and never
    // took an unmatched `(` back, rejecting these clean specs.
    let target = "target t { address_bits = 48; tag_bits = 5; message_registers = 4; \
                  message_words = 16; caps_per_message = 2; }\n";
    let one_comment = format!("{target}/* {} */\n", "(".repeat(65));
    let many_comments: String = std::iter::once(target.to_string())
        .chain((0..65).map(|i| format!("/* see (note {i} */\n")))
        .collect();
    for text in [one_comment, many_comments] {
        let c = capc_dsl::compile_str("comments.cap", &text);
        assert!(c.diagnostics.is_empty(), "{}", c.render());
    }
}

/// The limit on chains of constants is the chain's length, whatever the
/// order of declaration: 200 constants, each one more than the last, are
/// refused (`E0004`) declared either way round, and 100 are accepted.
#[test]
fn the_constant_chain_limit_does_not_depend_on_order() {
    let chain = |n: usize, forward: bool| {
        let mut lines: Vec<String> = (1..n)
            .map(|i| format!("const C{i} = C{} + 1;", i - 1))
            .collect();
        lines.insert(0, "const C0 = 1;".to_string());
        if !forward {
            lines.reverse();
        }
        lines.join("\n")
    };
    for forward in [true, false] {
        let long = capc_dsl::compile_str("chain.cap", &chain(200, forward));
        assert!(
            long.diagnostics
                .iter()
                .any(|d| d.code == capc_dsl::Code::TooComplex),
            "200 constants, forward {forward}: {:?}",
            long.diagnostics
        );
        let short = capc_dsl::compile_str("chain.cap", &chain(100, forward));
        assert!(
            !short
                .diagnostics
                .iter()
                .any(|d| d.code == capc_dsl::Code::TooComplex),
            "100 constants, forward {forward}"
        );
    }
}

/// A statement of a million operators is refused (`E0004`) before the
/// parser builds anything for it, so memory stays bounded by the input;
/// the example specs' statements are far from the limit.
#[test]
fn a_million_operators_are_refused_before_parsing() {
    let text = format!("const X = 1{};\n", " + 1".repeat(1_000_000));
    let c = capc_dsl::compile_str("long.cap", &text);
    assert!(
        c.diagnostics
            .iter()
            .any(|d| d.code == Code::TooComplex && d.message.contains("more than 256 operators")),
        "{:?}",
        c.diagnostics.first()
    );
}
