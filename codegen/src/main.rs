//! `capc`: the command-line front end of the capc compiler.
//!
//! Exit codes: 0 clean (warnings allowed), 1 the spec has errors, 2 usage or
//! I/O error (missing or unreadable file, not UTF-8). Diagnostics go to stderr.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// `eprintln!` that does not panic: a stderr that cannot be written (a
/// full disk, a closed pipe) loses the message, and the exit code still
/// says what happened.
macro_rules! eprintln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `print!` that does not panic: a stdout that cannot be written (a
/// closed pipe, as in `capc simulate ... | head`) loses the text.
macro_rules! print {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

mod authority;
mod breaking;
mod diagnostics;
mod doc;
mod explain;
mod fix;
mod fmt_cmd;
mod graph;
mod lsp;
mod model_json;
mod present;
mod simulate;
mod watch;

use capc_dsl::{Compilation, FsLoader};
use clap::{Parser, Subcommand};
use diagnostics::{DiagnosticArgs, JsonTo};

// mimalloc, not the system allocator: about a third of `capc build` is
// malloc and free (tokens, syntax trees and their drop), and mimalloc takes
// a fifth to a quarter off the end-to-end time (BENCHMARKS.md, benches
// `generate` against `generate_cli`).
// Only a binary can choose its allocator, so the library, the `Builder` in
// build scripts and the proc macro keep their host's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXAMPLES: &str = "\
Examples:
  capc check kernel-demo/spec/kernel.cap
  capc check --deny-warnings kernel-demo/spec/*.cap
  capc check --message-format json spec.cap | jq .code
  capc fix spec.cap                      apply every machine-applicable suggestion, then check
  capc model --json spec.cap             the checked model, every number resolved
  capc breaking --against HEAD spec.cap  what breaks code compiled against HEAD's spec

Exit status: 0 clean, 1 the spec has errors, 2 usage or I/O error.
Every code is explained by `capc explain CODE` (and in docs/language.md).";

/// Compiler for .cap capability-kernel specifications.
#[derive(Parser)]
#[command(name = "capc", version, about, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check specs and report every problem found, with codes, spans and hints.
    #[command(after_help = EXAMPLES)]
    Check(CheckArgs),
    /// Apply the diagnostics' machine-applicable fixes to specs, then report what is left.
    #[command(after_help = fix::FIX_EXAMPLES)]
    Fix(fix::FixArgs),
    /// Check one spec and generate its no_std Rust module.
    #[command(after_help = BUILD_EXAMPLES)]
    Build(BuildArgs),
    /// Run a script of capability operations on the spec's reference interpreter.
    #[command(after_help = simulate::SIMULATE_EXAMPLES)]
    Simulate(simulate::SimulateArgs),
    /// Rewrite specs in the one canonical layout (comments kept), or check that they are.
    #[command(after_help = fmt_cmd::FMT_EXAMPLES)]
    Fmt(fmt_cmd::FmtArgs),
    /// Draw a spec's retype graph, cap types and interfaces as Graphviz DOT, SVG or PNG.
    #[command(after_help = graph::GRAPH_EXAMPLES)]
    Graph(graph::GraphArgs),
    /// Write a Markdown reference of a spec: types, cap layouts, rules and what calls cost.
    #[command(after_help = doc::DOC_EXAMPLES)]
    Doc(doc::DocArgs),
    /// Run the language server over stdin/stdout: diagnostics, hover, definitions, symbols, formatting, completion.
    #[command(after_help = lsp::LSP_EXAMPLES)]
    Lsp(lsp::LspArgs),
    /// Explain a diagnostic code (E0703, W0001, B0002): what it means, an example, the fix.
    #[command(after_help = explain::EXPLAIN_EXAMPLES)]
    Explain(explain::ExplainArgs),
    /// Check specs now and again after every change to them or their imports.
    #[command(after_help = watch::WATCH_EXAMPLES)]
    Watch(watch::WatchArgs),
    /// Print a spec's checked model as JSON: tags, layouts, rights, labels, error numbers, sizes.
    #[command(after_help = model_json::MODEL_EXAMPLES)]
    Model(model_json::ModelArgs),
    /// Report every change from OLD to NEW that breaks code compiled against OLD (tags, layouts, labels ...).
    #[command(
        after_help = breaking::BREAKING_EXAMPLES,
        override_usage = "capc breaking [OPTIONS] OLD NEW\n       capc breaking [OPTIONS] --against REV FILE"
    )]
    Breaking(breaking::BreakingArgs),
    /// Show which domains of a system can come to hold which rights on each object (take-grant closure).
    #[command(after_help = authority::AUTHORITY_EXAMPLES)]
    Authority(authority::AuthorityArgs),
}

const BUILD_EXAMPLES: &str = "\
Examples:
  capc build kernel-demo/spec/kernel.cap -o src/caps.rs
  capc build --no-servers kernel-demo/spec/decompress.cap > client.rs
  capc build --lang c kernel-demo/spec/kernel.cap -o kernel.h
  capc build --lang bf examples/sel4/x86_64.cap -o x86_64.bf
  capc build --lang sel4-xml examples/sel4/x86_64.cap -o x86_64.xml
  capc build --cfg mcs --cfg smp examples/sel4/x86_64.cap -o sel4.rs
  capc build --extern kernel.cap=crate::caps kernel-demo/spec/decompress.cap -o src/decompress.rs
  capc build --side kernel kernel-demo/spec/kernel.cap -o src/caps.rs

The output is byte-identical to what capc::Builder writes and include_spec! expands to.
Exit status: 0 written, 1 the spec has errors, 2 usage or I/O error.";

#[derive(clap::Args)]
struct BuildArgs {
    /// The spec to generate code from (with the files it imports).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Write the module here instead of standard output.
    #[arg(short, long, value_name = "OUT.rs")]
    output: Option<PathBuf>,
    /// What to generate: a no_std Rust module, a C header (constants,
    /// enums and cap field accessors), seL4's bitfield_gen input for the
    /// cap types (`bf`: a block per cap type, every field at its word and
    /// bits), or seL4's interface XML of the kernel invocations
    /// (`sel4-xml`, for seL4's invocation-label and stub generators);
    /// --no-clients/--no-servers apply to Rust only.
    #[arg(long, value_enum, default_value = "rust")]
    lang: LangArg,
    /// Do not generate client types for interfaces.
    #[arg(long)]
    no_clients: bool,
    /// Do not generate server traits and dispatch functions for interfaces.
    #[arg(long)]
    no_servers: bool,
    /// Turn on this option of the spec's `config` block (repeatable; every
    /// option not named is off). The spec is checked in every configuration either way.
    #[arg(long = "cfg", value_name = "OPTION")]
    cfg: Vec<String>,
    /// An imported spec whose module is generated elsewhere, and that
    /// module's Rust path (repeatable): its items, and those of the files it
    /// imports, are not generated again but named through `pub use PATH::*;`.
    /// FILE is the imported file's path or a tail of it at a `/`.
    #[arg(long = "extern", value_name = "FILE=PATH", value_parser = capc::backend::Extern::parse)]
    externs: Vec<capc::backend::Extern>,
    /// Which side of the kernel boundary to generate: `kernel` (cap layout,
    /// retype, lifecycle, invocation decoders), `user` (cap layout,
    /// invocation clients, RPC clients and servers, boot plans), or both.
    #[arg(long, value_enum, default_value = "both")]
    side: SideArg,
    #[command(flatten)]
    diagnostics: DiagnosticArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SideArg {
    Both,
    Kernel,
    User,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LangArg {
    Rust,
    C,
    Bf,
    /// seL4's interface XML (libsel4's interfaces/*.xml) of the kernel
    /// invocations, for seL4's invocation-label and stub generators.
    #[value(name = "sel4-xml")]
    Sel4Xml,
}

#[derive(clap::Args)]
struct CheckArgs {
    /// Spec files to check (each with the files it imports).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// First apply every machine-applicable suggestion to the named files, as `capc fix` does.
    #[arg(long)]
    fix: bool,
    #[command(flatten)]
    diagnostics: DiagnosticArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check(&args),
        Command::Fix(args) => fix::run(&args),
        Command::Build(args) => build(&args),
        Command::Simulate(args) => simulate::run(&args),
        Command::Fmt(args) => fmt_cmd::run(&args),
        Command::Graph(args) => graph::run(&args),
        Command::Doc(args) => doc::run(&args),
        Command::Lsp(args) => lsp::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Watch(args) => watch::run(&args),
        Command::Model(args) => model_json::run(&args),
        Command::Breaking(args) => breaking::run(&args),
        Command::Authority(args) => authority::run(&args),
    }
}

fn check(args: &CheckArgs) -> ExitCode {
    if args.fix {
        return fix::fix(&args.files, false, &args.diagnostics);
    }
    let (mut any_errors, mut io_error) = (false, false);
    for path in &args.files {
        let Ok(mut compilation) = diagnostics::compile(path, &FsLoader, &[]) else {
            io_error = true;
            continue;
        };
        io_error |=
            diagnostics::report(&mut compilation, &args.diagnostics, JsonTo::Stdout).is_err();
        any_errors |= compilation.has_errors();
    }
    diagnostics::exit_code(io_error, any_errors)
}

/// Prints every diagnostic (JSON to stderr: stdout may carry the module)
/// and writes the module.
fn build(args: &BuildArgs) -> ExitCode {
    let compilation =
        match diagnostics::checked_configured(&args.file, &args.cfg, &args.diagnostics) {
            Ok(c) => c,
            Err(code) => return code,
        };
    let spec = compilation.spec.as_ref().expect("checked");
    let options = capc::Options {
        clients: !args.no_clients,
        servers: !args.no_servers,
        configuration: args.cfg.clone(),
        externs: args.externs.clone(),
        side: match args.side {
            SideArg::Both => capc::backend::Side::Both,
            SideArg::Kernel => capc::backend::Side::Kernel,
            SideArg::User => capc::backend::Side::User,
        },
    };
    let wrong = capc::backend::check_options(spec, &compilation.sources, &options);
    if !wrong.is_empty() {
        return refuse(&compilation, &wrong, &args.diagnostics);
    }
    let name = args.file.to_string_lossy();
    let rendered: Result<String, Vec<capc_dsl::diag::Diagnostic>> = match args.lang {
        LangArg::Rust => Ok(capc::backend::render(
            spec,
            &compilation.sources,
            &options,
            &name,
        )),
        LangArg::C => capc::c::render(spec, &compilation.sources, &name),
        LangArg::Bf => capc::sel4_bf::render(spec, &name),
        LangArg::Sel4Xml => capc::sel4_xml::render(spec, &name),
    };
    let text = match rendered {
        Ok(text) => text,
        // What the export cannot say (E0934–E0942), reported like the
        // checker's diagnostics.
        Err(refused) => return refuse(&compilation, &refused, &args.diagnostics),
    };
    let written = match &args.output {
        Some(path) if is_a_source(&compilation, &args.file, path) => Err(format!(
            "`{}` is a file of the spec: refusing to overwrite it with {} (give another `-o`)",
            path.display(),
            match args.lang {
                LangArg::Rust => "Rust",
                LangArg::C => "C",
                LangArg::Bf => "bitfield_gen input",
                LangArg::Sel4Xml => "seL4 XML",
            }
        )),
        Some(path) => std::fs::write(path, text)
            .map_err(|e| format!("cannot write `{}`: {e}", path.display())),
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|e| format!("cannot write the module: {e}")),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// Prints why `capc build` writes nothing (`diagnostics`, as `format`
/// asks, on standard error) and returns exit status 1, or 2 if they cannot
/// be written.
fn refuse(
    compilation: &Compilation,
    diagnostics: &[capc_dsl::diag::Diagnostic],
    format: &DiagnosticArgs,
) -> ExitCode {
    match diagnostics::print(&compilation.sources, diagnostics, format, JsonTo::Stderr) {
        Ok(()) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: cannot write diagnostics: {e}");
            ExitCode::from(2)
        }
    }
}

/// Whether `output` names the spec `root` or a file it imports (compared
/// as canonical paths, so `./x.cap` and `x.cap` are one file).
fn is_a_source(
    compilation: &Compilation,
    root: &std::path::Path,
    output: &std::path::Path,
) -> bool {
    let Ok(output) = std::fs::canonicalize(output) else {
        return false; // not there yet: no spec file
    };
    let sources = &compilation.sources;
    let loaded = (0..sources.len() as u32)
        .map(|i| std::path::PathBuf::from(sources.name(capc_dsl::source::FileId(i))));
    std::iter::once(root.to_path_buf())
        .chain(loaded)
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .any(|p| p == output)
}
