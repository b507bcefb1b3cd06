//! docs/language.md's examples are written in the layout `capc fmt` gives:
//! every ```cap block that parses as a whole spec must be left unchanged by
//! the formatter (`capc fmt` is `capc_dsl::fmt::format` and a file write).
//! Blocks that do not parse (fragments such as a lone field, or a failing
//! example of E0001) are skipped and counted; the test says how many blocks
//! it checked and fails if that is fewer than it should be, so it cannot
//! pass by checking nothing.

use std::path::Path;

use capc_dsl::FileId;
use capc_dsl::fmt::format;

/// Each ```cap block of `markdown`: the line its first line is on, and its
/// text (every line ending in a newline).
fn cap_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, line) in markdown.lines().enumerate() {
        match &mut current {
            None if line.trim_end() == "```cap" => current = Some((index + 2, String::new())),
            None => {}
            Some(_) if line.trim_end() == "```" => blocks.extend(current.take()),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    assert!(current.is_none(), "a ```cap block is not closed");
    blocks
}

#[test]
fn language_md_examples_are_formatted() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/language.md");
    let markdown = std::fs::read_to_string(&path).expect("read docs/language.md");
    let blocks = cap_blocks(&markdown);
    let mut checked = 0;
    let mut fragments = Vec::new();
    let mut unformatted = Vec::new();
    for (line, text) in &blocks {
        match format(FileId(0), text) {
            Err(_) => fragments.push(*line),
            Ok(formatted) if formatted == *text => checked += 1,
            Ok(formatted) => {
                checked += 1;
                let diff = similar::TextDiff::from_lines(text.as_str(), &formatted)
                    .unified_diff()
                    .header("docs", "capc fmt")
                    .to_string();
                unformatted.push(format!("docs/language.md:{line}:\n{diff}"));
            }
        }
    }
    println!(
        "{} ```cap blocks: {checked} checked, {} fragments skipped (at lines {fragments:?})",
        blocks.len(),
        fragments.len()
    );
    assert!(
        unformatted.is_empty(),
        "{} example(s) not in `capc fmt` layout:\n{}",
        unformatted.len(),
        unformatted.join("\n")
    );
    // Most examples are whole specs; a drop here means blocks stopped
    // being found or parsed, not that fewer need checking.
    assert!(
        checked >= 60 && checked + fragments.len() == blocks.len(),
        "only {checked} of {} blocks checked",
        blocks.len()
    );
}

#[test]
fn blocks_are_found_with_their_lines() {
    let markdown = "text\n```cap\nconst A = 1;\n```\n```rust\nfn x() {}\n```\n```cap\n```\n";
    assert_eq!(
        cap_blocks(markdown),
        [(3, "const A = 1;\n".to_string()), (9, String::new())]
    );
}
