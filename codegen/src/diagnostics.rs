//! Printing diagnostics, shared by every command that reports a spec's
//! (`check`, `build`, `fix`, `watch`, `graph`, `doc`, `simulate`, `model`,
//! `breaking`): the `--deny-warnings`, `--message-format` and `--color`
//! options, the human format (codespan-reporting, rustc-like, on stderr)
//! and the JSON one (one object per line), and the one "compile, print
//! the diagnostics, choose the exit code" sequence every command follows
//! ([`compile`], [`report`], [`exit_code`], and [`checked`] for the
//! commands that need a model).

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use capc_dsl::{Compilation, Diagnostic, FsLoader, SourceLoader, SourceMap, diag};
use clap::ValueEnum;
use codespan_reporting::term::termcolor::{ColorChoice, StandardStream};

/// The options that say how diagnostics are reported.
#[derive(clap::Args)]
pub struct DiagnosticArgs {
    /// Treat warnings as errors.
    #[arg(long)]
    pub deny_warnings: bool,
    /// How to print diagnostics.
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    pub message_format: MessageFormat,
    /// When to colour human-readable output.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum MessageFormat {
    /// rustc-style text with source snippets.
    Human,
    /// One JSON object per diagnostic per line.
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Color {
    /// Colour when stderr is a terminal.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Where JSON diagnostics go: stdout, unless the command's stdout carries
/// something else (the generated module, a simulation's report).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum JsonTo {
    Stdout,
    Stderr,
}

/// Prints `diagnostics` (their spans in `sources`) as `args` say: human
/// text on stderr, or JSON lines where `json_to` says.
pub fn print(
    sources: &SourceMap,
    diagnostics: &[Diagnostic],
    args: &DiagnosticArgs,
    json_to: JsonTo,
) -> std::io::Result<()> {
    match args.message_format {
        MessageFormat::Json => {
            let mut out: Box<dyn Write> = match json_to {
                JsonTo::Stdout => Box::new(std::io::stdout().lock()),
                JsonTo::Stderr => Box::new(std::io::stderr().lock()),
            };
            for d in diagnostics {
                writeln!(out, "{}", json(sources, d))?;
            }
            out.flush()
        }
        MessageFormat::Human => {
            let choice = match args.color {
                Color::Always => ColorChoice::Always,
                Color::Never => ColorChoice::Never,
                Color::Auto if std::io::stderr().is_terminal() => ColorChoice::Auto,
                Color::Auto => ColorChoice::Never,
            };
            let mut err = StandardStream::stderr(choice);
            for d in diagnostics {
                diag::emit(&mut err, sources, d)?;
            }
            Ok(())
        }
    }
}

/// Compiles `file` for a command that needs its model (`build`, `graph`,
/// `doc`, `simulate`, `model`), prints its diagnostics (warnings too; JSON to
/// stderr, since stdout carries the command's output), and returns the
/// compilation only if it has a model; otherwise the exit code to end
/// with.
pub fn checked(file: &Path, args: &DiagnosticArgs) -> Result<Compilation, ExitCode> {
    checked_configured(file, &[], args)
}

/// [`checked`] in the configuration with the options in `chosen` on.
pub fn checked_configured(
    file: &Path,
    chosen: &[String],
    args: &DiagnosticArgs,
) -> Result<Compilation, ExitCode> {
    let mut compilation = compile(file, &FsLoader, chosen)?;
    report(&mut compilation, args, JsonTo::Stderr)?;
    with_model(compilation)
}

/// [`checked`] with the files read by `loader`, each file named with
/// `prefix` before its path (`HEAD:` for a spec read from a git
/// revision), JSON diagnostics going where `json_to` says.
pub fn checked_with(
    file: &Path,
    loader: &dyn SourceLoader,
    prefix: Option<&str>,
    args: &DiagnosticArgs,
    json_to: JsonTo,
) -> Result<Compilation, ExitCode> {
    let mut compilation = compile(file, loader, &[])?;
    if let Some(prefix) = prefix {
        let mut renamed = SourceMap::new();
        for i in 0..compilation.sources.len() as u32 {
            let id = capc_dsl::FileId(i);
            renamed.add(
                format!("{prefix}{}", compilation.sources.name(id)),
                compilation.sources.text(id),
            );
        }
        compilation.sources = renamed;
    }
    report(&mut compilation, args, json_to)?;
    with_model(compilation)
}

/// Compiles `file` (read by `loader`, the options in `chosen` on); a file
/// that cannot be read is reported (`error: ...`) and ends the command
/// with exit code 2.
pub fn compile(
    file: &Path,
    loader: &dyn SourceLoader,
    chosen: &[String],
) -> Result<Compilation, ExitCode> {
    capc_dsl::compile_with(file, loader, chosen).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

/// Promotes the warnings of `compilation` with `--deny-warnings`, then
/// prints its diagnostics; diagnostics that cannot be written are reported
/// and give exit code 2.
pub fn report(
    compilation: &mut Compilation,
    args: &DiagnosticArgs,
    json_to: JsonTo,
) -> Result<(), ExitCode> {
    if args.deny_warnings {
        compilation.deny_warnings();
    }
    print(
        &compilation.sources,
        &compilation.diagnostics,
        args,
        json_to,
    )
    .map_err(|e| {
        eprintln!("error: cannot write diagnostics: {e}");
        ExitCode::from(2)
    })
}

/// `compilation` if it has a model; exit code 1 otherwise (its errors are
/// reported).
fn with_model(compilation: Compilation) -> Result<Compilation, ExitCode> {
    if compilation.spec.is_none() {
        return Err(ExitCode::from(1));
    }
    Ok(compilation)
}

/// The exit code of a command over several files: 2 if a file could not be
/// read or a report written, else 1 if a spec has errors, else 0.
pub fn exit_code(io_error: bool, spec_errors: bool) -> ExitCode {
    if io_error {
        ExitCode::from(2)
    } else if spec_errors {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// One diagnostic as the JSON object `--message-format json` prints
/// (docs/language.md lists its fields).
fn json(sources: &SourceMap, d: &Diagnostic) -> serde_json::Value {
    let place = |span: capc_dsl::Span| {
        let (line, column) = sources.line_col(span.file, span.start as usize);
        let (end_line, end_column) = sources.line_col(span.file, span.end as usize);
        serde_json::json!({
            "file": sources.name(span.file),
            "byte_start": span.start,
            "byte_end": span.end,
            "line": line,
            "column": column,
            "end_line": end_line,
            "end_column": end_column,
        })
    };
    let label = |l: &diag::Label| {
        let mut value = place(l.span);
        value["message"] = l.message.clone().into();
        value
    };
    // As rustc's JSON gives a suggestion: the span to replace, with
    // `suggested_replacement` and `suggestion_applicability`.
    let suggestion = |s: &diag::Suggestion| {
        let mut value = place(s.span);
        value["suggested_replacement"] = s.replacement.clone().into();
        value["suggestion_applicability"] = s.applicability.as_str().into();
        value
    };
    let primary = label(&d.primary);
    serde_json::json!({
        "code": d.code.as_str(),
        "severity": d.severity.as_str(),
        "message": d.message,
        "file": primary["file"],
        "byte_start": d.primary.span.start,
        "byte_end": d.primary.span.end,
        "line": primary["line"],
        "column": primary["column"],
        "end_line": primary["end_line"],
        "end_column": primary["end_column"],
        "label": d.primary.message,
        "secondary": d.secondary.iter().map(label).collect::<Vec<_>>(),
        "notes": d.notes,
        "help": d.help,
        "suggestions": d.suggestions.iter().map(suggestion).collect::<Vec<_>>(),
        "rendered": diag::render(sources, d),
    })
}
