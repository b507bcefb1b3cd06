//! `cargo xtask doc-size [FILE]`: how big the module `capc build` generates
//! for a spec is, and how much of it is doc lines said more than once.
//!
//! Generates the module with the workspace's `capc` (release build), then
//! counts its bytes and lines, the bytes of its doc lines (`///` and `//!`),
//! and for every distinct doc line said more than once, how often it occurs
//! and the bytes its repeats take. The numbers are in BENCHMARKS.md
//! ("Generated module size").

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::{Failure, cargo};

/// The spec measured when none is named.
pub const DEFAULT_SPEC: &str = "kernel-demo/spec/kernel.cap";

/// How many repeated doc lines the report lists.
const TOP: usize = 15;

/// What [`measure`] finds in a generated module.
#[derive(Debug, PartialEq, Eq)]
pub struct Sizes {
    /// Bytes of the whole module.
    pub bytes: usize,
    /// Lines of the whole module.
    pub lines: usize,
    /// Bytes of the doc lines, indentation and newline included.
    pub doc_bytes: usize,
    /// Bytes of the doc lines beyond each distinct line's first occurrence.
    pub repeated_doc_bytes: usize,
    /// Each doc line (trimmed) said more than once: its repeats' bytes, its
    /// count and the line, most bytes first.
    pub repeats: Vec<(usize, usize, String)>,
}

/// Measures a generated module's text.
pub fn measure(text: &str) -> Sizes {
    let mut doc_bytes = 0;
    let mut counts: HashMap<&str, (usize, usize)> = HashMap::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("///") || trimmed.starts_with("//!") {
            let bytes = line.len() + 1;
            doc_bytes += bytes;
            let entry = counts.entry(trimmed).or_insert((0, 0));
            entry.0 += 1;
            entry.1 += bytes;
        }
    }
    let mut repeats: Vec<(usize, usize, String)> = counts
        .into_iter()
        .filter(|(_, (count, _))| *count > 1)
        // The bytes beyond the first occurrence (indentation may differ: the
        // average line is close enough for a report).
        .map(|(line, (count, bytes))| (bytes - bytes / count, count, line.to_string()))
        .collect();
    repeats.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    Sizes {
        bytes: text.len(),
        lines: text.lines().count(),
        doc_bytes,
        repeated_doc_bytes: repeats.iter().map(|r| r.0).sum(),
        repeats,
    }
}

/// Generates `spec`'s module with `capc build` and prints its [`Sizes`].
pub fn doc_size(root: &Path, spec: &str) -> Result<(), Failure> {
    println!("==> capc build {spec}  [cargo run --release -p capc]");
    let output = Command::new(cargo())
        .current_dir(root)
        .args(["run", "--quiet", "--release", "-p", "capc", "--bin", "capc"])
        .args(["--", "build", spec])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Failure::new(format!("cannot run cargo: {e}")))?;
    if !output.status.success() {
        return Err(Failure::from_status("`capc build` failed", output.status));
    }
    let text = String::from_utf8(output.stdout)
        .map_err(|_| Failure::new("`capc build` wrote a module that is not UTF-8"))?;
    let sizes = measure(&text);
    let percent = |part: usize| part as f64 * 100.0 / sizes.bytes.max(1) as f64;
    println!(
        "module:        {} bytes, {} lines",
        sizes.bytes, sizes.lines
    );
    println!(
        "doc lines:     {} bytes ({:.0}%)",
        sizes.doc_bytes,
        percent(sizes.doc_bytes)
    );
    println!(
        "repeated docs: {} bytes ({:.0}%) in {} distinct lines said more than once",
        sizes.repeated_doc_bytes,
        percent(sizes.repeated_doc_bytes),
        sizes.repeats.len()
    );
    println!("most repeated (bytes of repeats, occurrences, line):");
    for (bytes, count, line) in sizes.repeats.iter().take(TOP) {
        let shown: String = line.chars().take(100).collect();
        let more = if shown.len() < line.len() { "..." } else { "" };
        println!("{bytes:>7} {count:>4}x  {shown}{more}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::measure;

    #[test]
    fn counts_doc_lines_and_their_repeats() {
        let text = "//! Module.\n/// Same.\nfn a() {}\n    /// Same.\n/// Once.\nfn b() {}\n";
        let sizes = measure(text);
        assert_eq!(sizes.bytes, text.len());
        assert_eq!(sizes.lines, 6);
        assert_eq!(sizes.doc_bytes, 12 + 10 + 14 + 10);
        // "/// Same." twice: 24 bytes in all, 12 of them the repeat.
        assert_eq!(sizes.repeats, vec![(12, 2, "/// Same.".to_string())]);
        assert_eq!(sizes.repeated_doc_bytes, 12);
    }
}
