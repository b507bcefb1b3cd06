//! `capc fmt`: rewrites `.cap` files in the canonical layout of
//! [`capc_dsl::fmt`], or with `--check` prints a unified diff of what
//! formatting would change. A file with a syntax error is reported and left
//! untouched.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use capc_dsl::{SourceMap, diag};
use codespan_reporting::term::termcolor::{ColorChoice, StandardStream};

pub const FMT_EXAMPLES: &str = "\
Examples:
  capc fmt kernel-demo/spec/kernel.cap          rewrite the file in place
  capc fmt --check examples/*.cap               show what would change, as a unified diff
  capc fmt --check spec.cap | patch -p0         apply that diff
  capc fmt - < spec.cap > formatted.cap         filter standard input to standard output

Only layout changes: the checked model of a formatted spec equals the original's, and
formatting twice changes nothing. Comments and doc comments are kept.
Exit status: 0 formatted (or, with --check, nothing would change), 1 some file would change
(--check) or has a syntax error (that file is left untouched), 2 usage or I/O error.";

/// Arguments of `capc fmt`.
#[derive(clap::Args)]
pub struct FmtArgs {
    /// Spec files to format in place; `-` formats standard input to standard output.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Write nothing; print a unified diff of every file that is not formatted and exit 1 if any.
    #[arg(long)]
    check: bool,
}

/// What happened to one file.
enum Outcome {
    Unchanged,
    /// Rewritten, or (with `--check`) would be.
    Changed,
    /// Not formatted: a syntax error.
    SpecError,
    /// Could not be read or written.
    IoError,
}

/// Runs `capc fmt`.
pub fn run(args: &FmtArgs) -> ExitCode {
    let mut changed = false;
    let mut spec_error = false;
    let mut io_error = false;
    for path in &args.files {
        match format_one(path, args.check) {
            Outcome::Unchanged => {}
            Outcome::Changed => changed = true,
            Outcome::SpecError => spec_error = true,
            Outcome::IoError => io_error = true,
        }
    }
    crate::diagnostics::exit_code(io_error, spec_error || (args.check && changed))
}

fn format_one(path: &Path, check: bool) -> Outcome {
    let stdin = path == Path::new("-");
    let name = if stdin {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    };
    let text = match read(path, stdin) {
        Ok(text) => text,
        Err(message) => {
            eprintln!("error: {message}");
            return Outcome::IoError;
        }
    };
    let mut sources = SourceMap::new();
    let file = sources.add(name.clone(), text.clone());
    let formatted = match capc_dsl::fmt::format(file, &text) {
        Ok(formatted) => formatted,
        Err(diagnostic) => {
            let choice = if std::io::stderr().is_terminal() {
                ColorChoice::Auto
            } else {
                ColorChoice::Never
            };
            let mut err = StandardStream::stderr(choice);
            if diag::emit(&mut err, &sources, &diagnostic).is_err() {
                return Outcome::IoError;
            }
            return Outcome::SpecError;
        }
    };
    let outcome = if formatted == text {
        Outcome::Unchanged
    } else {
        Outcome::Changed
    };
    if check {
        if matches!(outcome, Outcome::Changed) {
            print!("{}", unified_diff(&name, &text, &formatted));
        }
        return outcome;
    }
    let written = if stdin {
        std::io::stdout()
            .write_all(formatted.as_bytes())
            .map_err(|e| format!("cannot write standard output: {e}"))
    } else if matches!(outcome, Outcome::Changed) {
        std::fs::write(path, formatted).map_err(|e| format!("cannot write `{name}`: {e}"))
    } else {
        Ok(())
    };
    match written {
        Ok(()) => outcome,
        Err(message) => {
            eprintln!("error: {message}");
            Outcome::IoError
        }
    }
}

/// What formatting changes in `name`, as a unified diff with three lines
/// of context, both sides named `name` (so `patch -p0` applies it).
pub(crate) fn unified_diff(name: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(name, name)
        .to_string()
}

fn read(path: &Path, stdin: bool) -> Result<String, String> {
    let mut bytes = Vec::new();
    if stdin {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
    } else {
        bytes =
            std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    }
    String::from_utf8(bytes).map_err(|_| format!("`{}` is not UTF-8", path.display()))
}
