//! `capc fix`: applies the diagnostics' machine-applicable suggestions to
//! the named spec files, as `cargo fix` applies rustc's.
//!
//! Each named file is compiled as a root (with what it imports); every
//! `MachineApplicable` suggestion whose span lies in a named file is
//! applied, the files are compiled again, and so on until no such
//! suggestion is left or [`MAX_ROUNDS`] rounds have run. Two suggestions
//! whose spans overlap are not applied in one round: the first is, and the
//! other, if the next round still makes it, is applied then. A file that is
//! only imported, not named, is never changed: its suggestions are counted
//! in a note that says to name it. The files change only at the end, each
//! written whole to a temporary file beside it and renamed over it, so an
//! interrupted `capc fix` leaves every file either as it was or fixed.
//! With `--dry-run` nothing is written: a unified diff of each file that
//! would change is printed instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use capc_dsl::diag::Applicability;
use capc_dsl::{FileId, FsLoader, OverlayLoader, SourceLoader};

use crate::diagnostics::{self, DiagnosticArgs, JsonTo, MessageFormat};

pub const FIX_EXAMPLES: &str = "\
Examples:
  capc fix spec.cap                  apply every sure fix, then report what is left
  capc fix --dry-run spec.cap        print the fixes as a unified diff; change nothing
  capc fix kernel.cap lib/types.cap  fix a spec and a file it imports (only named files change)

Only suggestions marked MachineApplicable are applied (`capc check --message-format json`
shows them as `suggestion_applicability`); a `did you mean` with two equally close names is not.
Fixing repeats until nothing more can be fixed (at most 16 rounds). Files are written
atomically (a temporary file renamed over the original).
Exit status: 0 no errors remain (warnings allowed), 1 errors remain, 2 usage or I/O error.";

/// How many rounds of fixing and re-checking at most: a fix that makes a
/// new suggestion gets that one applied too, but a cycle of suggestions
/// cannot loop for ever.
const MAX_ROUNDS: usize = 16;

/// Arguments of `capc fix`.
#[derive(clap::Args)]
pub struct FixArgs {
    /// Spec files to fix in place (each checked with the files it imports;
    /// an imported file is changed only if it is named too).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Write nothing; print a unified diff of each file that would change.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    diagnostics: DiagnosticArgs,
}

/// A named file: its text as read, its text with the fixes so far, and how
/// many fixes those are.
struct Named {
    /// The path as given.
    path: PathBuf,
    original: String,
    current: String,
    fixes: usize,
}

/// One replacement in one file.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Edit {
    start: usize,
    end: usize,
    replacement: String,
}

/// Runs `capc fix`.
pub fn run(args: &FixArgs) -> ExitCode {
    fix(&args.files, args.dry_run, &args.diagnostics)
}

/// Fixes `files` (or, with `dry_run`, prints what fixing would change),
/// then prints the diagnostics that are left as `capc check` does.
pub fn fix(files: &[PathBuf], dry_run: bool, args: &DiagnosticArgs) -> ExitCode {
    let mut io_error = false;
    // The named files, keyed by their identity (the canonical path), in
    // the order given; a file named twice is fixed once.
    let mut named: Vec<Named> = Vec::new();
    let mut by_identity: BTreeMap<PathBuf, usize> = BTreeMap::new();
    for path in files {
        let text = match read(path) {
            Ok(text) => text,
            Err(message) => {
                eprintln!("error: {message}");
                io_error = true;
                continue;
            }
        };
        let identity = FsLoader.identity(path);
        if by_identity.contains_key(&identity) {
            continue;
        }
        by_identity.insert(identity, named.len());
        named.push(Named {
            path: path.clone(),
            original: text.clone(),
            current: text,
            fixes: 0,
        });
    }

    let mut overlay = OverlayLoader::new(FsLoader);
    for file in &named {
        overlay.insert(&file.path, file.current.clone());
    }
    // Round after round: each root compiled with the fixes so far and its
    // sure edits in named files applied, until a round changes nothing (a
    // fix in one file can let the checker go further, in it or in a file
    // that imports it). The round after the last allowed one only looks.
    let mut unfinished = false;
    for round in 0..=MAX_ROUNDS {
        let mut applied_any = false;
        for root in 0..named.len() {
            let path = named[root].path.clone();
            // Held in the overlay: compiling it cannot fail to read it.
            let Ok(compilation) = capc_dsl::compile(&path, &overlay) else {
                continue;
            };
            let edits = applicable_edits(&compilation, &by_identity);
            if round == MAX_ROUNDS {
                unfinished |= !edits.is_empty();
                continue;
            }
            for (index, edits) in edits {
                let file = &mut named[index];
                let (text, applied) = apply(&file.current, edits);
                if applied > 0 {
                    applied_any = true;
                    file.current = text;
                    file.fixes += applied;
                    overlay.insert(&file.path, file.current.clone());
                }
            }
        }
        if !applied_any {
            break;
        }
    }

    // What changed: written (or shown) before what is left is reported.
    for file in &named {
        if file.fixes == 0 || file.current == file.original {
            continue;
        }
        let name = file.path.display().to_string();
        let problems = if file.fixes == 1 {
            "problem"
        } else {
            "problems"
        };
        if dry_run {
            print!(
                "{}",
                crate::fmt_cmd::unified_diff(&name, &file.original, &file.current)
            );
            eprintln!("would fix {} {problems} in {name}", file.fixes);
        } else {
            match write_atomically(&file.path, &file.current) {
                Ok(()) => eprintln!("fixed {} {problems} in {name}", file.fixes),
                Err(e) => {
                    eprintln!("error: cannot write `{name}`: {e}");
                    io_error = true;
                }
            }
        }
    }
    if unfinished {
        eprintln!(
            "warning: stopped after {MAX_ROUNDS} rounds of fixes: some fixes make further ones; run `capc fix` again"
        );
    }

    // What is left, as `capc check` reports it (JSON on stderr with
    // `--dry-run`, whose stdout carries the diff).
    let json_to = if dry_run {
        JsonTo::Stderr
    } else {
        JsonTo::Stdout
    };
    let mut any_errors = false;
    let mut elsewhere: BTreeMap<String, usize> = BTreeMap::new();
    for file in &named {
        let Ok(mut compilation) = capc_dsl::compile(&file.path, &overlay) else {
            continue;
        };
        for (id, _) in applicable(&compilation) {
            let identity = FsLoader.identity(&compilation.paths[id.0 as usize]);
            if !by_identity.contains_key(&identity) {
                *elsewhere
                    .entry(compilation.sources.name(id).to_string())
                    .or_default() += 1;
            }
        }
        io_error |= diagnostics::report(&mut compilation, args, json_to).is_err();
        any_errors |= compilation.has_errors();
    }
    if matches!(args.message_format, MessageFormat::Human) {
        for (name, count) in &elsewhere {
            let fixes = if *count == 1 { "fix" } else { "fixes" };
            eprintln!(
                "note: {count} machine-applicable {fixes} in `{name}` not applied: it is imported, not named (`capc fix {name}` fixes it)"
            );
        }
    }
    diagnostics::exit_code(io_error, any_errors)
}

/// Every machine-applicable suggestion of `compilation`, with its file.
fn applicable(compilation: &capc_dsl::Compilation) -> impl Iterator<Item = (FileId, Edit)> + '_ {
    compilation
        .diagnostics
        .iter()
        .flat_map(|d| &d.suggestions)
        .filter(|s| s.applicability == Applicability::MachineApplicable)
        .map(|s| {
            (
                s.span.file,
                Edit {
                    start: s.span.start as usize,
                    end: s.span.end as usize,
                    replacement: s.replacement.clone(),
                },
            )
        })
        // A replacement by the same text changes nothing: not a fix.
        .filter(|(file, edit)| {
            compilation.sources.text(*file).get(edit.start..edit.end)
                != Some(edit.replacement.as_str())
        })
}

/// The edits of `compilation` that fall in named files, by the file's
/// index in the named files.
fn applicable_edits(
    compilation: &capc_dsl::Compilation,
    by_identity: &BTreeMap<PathBuf, usize>,
) -> BTreeMap<usize, Vec<Edit>> {
    let mut edits: BTreeMap<usize, Vec<Edit>> = BTreeMap::new();
    for (file, edit) in applicable(compilation) {
        let path = &compilation.paths[file.0 as usize];
        if let Some(&index) = by_identity.get(&FsLoader.identity(path)) {
            edits.entry(index).or_default().push(edit);
        }
    }
    edits
}

/// Applies `edits` to `text`: the same edit given twice once, and of two
/// overlapping edits only the first (by position); the other is left for
/// the next round. Returns the new text and how many edits were applied.
fn apply(text: &str, mut edits: Vec<Edit>) -> (String, usize) {
    edits.sort();
    edits.dedup();
    let mut chosen: Vec<Edit> = Vec::new();
    for edit in edits {
        let in_text = edit.start <= edit.end
            && text.is_char_boundary(edit.start)
            && text.is_char_boundary(edit.end)
            && edit.end <= text.len();
        let overlaps = chosen
            .last()
            .is_some_and(|last| edit.start < last.end || edit.start == last.start);
        if in_text && !overlaps {
            chosen.push(edit);
        }
    }
    let mut out = text.to_string();
    for edit in chosen.iter().rev() {
        out.replace_range(edit.start..edit.end, &edit.replacement);
    }
    (out, chosen.len())
}

/// Writes `text` to a temporary file in the directory of `path` (its
/// target, if it is a symlink), with its permissions, and renames it over
/// the file: a reader sees the old text or the new, never part of either.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let target = std::fs::canonicalize(path)?;
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = dir.join(format!(".{name}.capc-fix-{}.tmp", std::process::id()));
    let written = std::fs::write(&temporary, text)
        .and_then(|()| {
            let permissions = std::fs::metadata(&target)?.permissions();
            std::fs::set_permissions(&temporary, permissions)
        })
        .and_then(|()| std::fs::rename(&temporary, &target));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

fn read(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            _ if path.is_dir() => "it is a directory".to_string(),
            _ => e.to_string(),
        };
        format!("cannot read `{}`: {why}", path.display())
    })?;
    String::from_utf8(bytes).map_err(|_| format!("`{}` is not UTF-8", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(start: usize, end: usize, replacement: &str) -> Edit {
        Edit {
            start,
            end,
            replacement: replacement.to_string(),
        }
    }

    #[test]
    fn edits_apply_back_to_front() {
        let (text, n) = apply("ab cd ef", vec![edit(6, 8, "EF"), edit(0, 2, "AB")]);
        assert_eq!((text.as_str(), n), ("AB cd EF", 2));
    }

    #[test]
    fn of_overlapping_edits_the_first_is_applied() {
        let (text, n) = apply("abcdef", vec![edit(2, 5, "X"), edit(0, 3, "Y")]);
        assert_eq!((text.as_str(), n), ("Ydef", 1));
        // Two insertions at one place: one, then the other next round.
        let (text, n) = apply("ab", vec![edit(1, 1, "Y"), edit(1, 1, "X")]);
        assert_eq!((text.as_str(), n), ("aXb", 1));
    }

    #[test]
    fn the_same_edit_twice_is_one_fix() {
        let (text, n) = apply("abc", vec![edit(0, 1, "A"), edit(0, 1, "A")]);
        assert_eq!((text.as_str(), n), ("Abc", 1));
    }

    #[test]
    fn an_edit_outside_the_text_is_not_applied() {
        let (text, n) = apply("é", vec![edit(1, 2, "x"), edit(5, 6, "y")]);
        assert_eq!((text.as_str(), n), ("é", 0));
    }
}
