//! `capc simulate SPEC SCRIPT`: runs a script of capability operations on
//! the reference interpreter for a checked spec (see
//! `capc_interp::script` and docs/simulate.md) and prints each
//! operation's result, the cap tree and the accounting per principal.
//!
//! Exit codes as `capc check`: 0 ran and met every expectation, 1 the spec
//! or the script has errors or an expectation was missed (diagnostics on
//! stderr, `E0933` for a missed expectation), 2 usage or I/O error. The
//! spec's warnings are printed before the report, as `capc check` prints
//! them.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::diagnostics::{self, DiagnosticArgs, JsonTo, MessageFormat};

/// `--help` examples of `capc simulate`.
pub const SIMULATE_EXAMPLES: &str = "\
Examples:
  capc simulate kernel-demo/spec/kernel.cap examples/sim/basics.capsim
  capc simulate kernel-demo/spec/decompress.cap examples/sim/decompress.capsim
  capc simulate examples/systems/decompress.cap examples/sim/decompress-system.capsim
  capc simulate --message-format json spec.cap script.capsim 2> diagnostics.jsonl

A script line is one operation, e.g.
  cnode root radix 6
  untyped ut0 = root[0] base 0x100000 bits 20 owner alice
  retype ut0 Endpoint x 4 into root[8..12]
  mint root[8] -> root[12] rights(read) badge 7
  revoke ut0
  call Decompressor.decompress donate ut1 allocate Frame(12) x 3
  expect OutOfBudget
or, for a spec with a system, `system NAME` first (it boots the system), then
  call Decompressor.decompress donate client.budget0 allocate Frame(12)
  expect client holds write on dec_ep
docs/simulate.md describes every statement. Diagnostics (the spec's warnings too) go to
stderr, as human text or, with --message-format json, one JSON object per line.
Exit status: 0 ran and met every expectation, 1 the spec or the script has errors (or, with
--deny-warnings, the spec has warnings) or an expectation was missed (E0933), 2 usage or I/O
error.";

#[derive(clap::Args)]
pub struct SimulateArgs {
    /// The spec whose semantics to run (with the files it imports).
    #[arg(value_name = "SPEC")]
    spec: PathBuf,
    /// The script of operations.
    #[arg(value_name = "SCRIPT")]
    script: PathBuf,
    #[command(flatten)]
    diagnostics: DiagnosticArgs,
}

pub fn run(args: &SimulateArgs) -> ExitCode {
    // Every diagnostic of the spec, its warnings when it is clean too.
    let mut compilation = match diagnostics::checked(&args.spec, &args.diagnostics) {
        Ok(compilation) => compilation,
        Err(code) => return code,
    };
    let Some(spec) = compilation.spec.take() else {
        return ExitCode::from(1); // `checked` returns only a spec with a model
    };
    let text = match std::fs::read(&args.script).map(String::from_utf8) {
        Ok(Ok(text)) => text,
        Ok(Err(_)) => {
            eprintln!("error: `{}` is not UTF-8", args.script.display());
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: cannot read `{}`: {e}", args.script.display());
            return ExitCode::from(2);
        }
    };
    let file = compilation
        .sources
        .add(args.script.to_string_lossy(), text.clone());
    let (report, found) = match capc_interp::script::simulate_report(&spec, file, &text) {
        // The report, and any expectation it missed (`E0933`).
        Ok(mut report) => {
            let missed = std::mem::take(&mut report.missed);
            (Some(report), missed)
        }
        // Mistakes in the script: nothing ran.
        Err(found) => (None, found),
    };
    match (&report, args.diagnostics.message_format) {
        (Some(report), MessageFormat::Human) => print!("{}", report.text),
        (Some(report), MessageFormat::Json) => println!("{}", report_json(report)),
        (None, _) => {}
    }
    // JSON to stderr too: stdout is the report's.
    let printed = diagnostics::print(
        &compilation.sources,
        &found,
        &args.diagnostics,
        JsonTo::Stderr,
    );
    if let Err(e) = printed {
        eprintln!("error: cannot write diagnostics: {e}");
        return ExitCode::from(2);
    }
    if found.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The report as one JSON document (`--message-format json`): each step
/// shown with its result and expectation, the expectations met, the
/// sessions' lines, the cap tree and the accounting, sizes in bytes.
fn report_json(report: &capc_interp::script::Report) -> serde_json::Value {
    let steps: Vec<serde_json::Value> = report
        .steps
        .iter()
        .map(|step| {
            serde_json::json!({
                "line": step.line,
                "statement": step.statement,
                "result": step.result,
                "because": step.because,
                "expected": step.expected.as_ref().map(|(want, _)| want),
                "met": step.expected.as_ref().map(|(_, met)| met),
            })
        })
        .collect();
    let tree: Vec<serde_json::Value> = report
        .tree
        .iter()
        .map(|(depth, cap)| serde_json::json!({ "depth": depth, "cap": cap }))
        .collect();
    let principals: Vec<serde_json::Value> = report
        .principals
        .iter()
        .map(|p| {
            serde_json::json!({
                "name": p.name,
                "given": p.given,
                "in_use": p.in_use,
                "free": p.given.saturating_sub(p.in_use),
                "untypeds": p.untypeds,
            })
        })
        .collect();
    let calls: Vec<serde_json::Value> = report
        .calls
        .iter()
        .map(|c| {
            serde_json::json!({
                "method": c.method,
                "paid_by": if c.paid_by.is_empty() { None } else { Some(&c.paid_by) },
                "donated": c.donated,
                "used": c.used,
                "result": c.result,
            })
        })
        .collect();
    serde_json::json!({
        "steps": steps,
        "expectations": { "met": report.expectations.0, "checked": report.expectations.1 },
        "sessions": report.sessions,
        "cap_tree": tree,
        "principals": principals,
        "calls": calls,
    })
}
