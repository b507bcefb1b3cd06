//! `capc authority`: which domains of a spec's systems can come to hold a
//! cap to each object with each right (the take-grant closure of
//! `capc_dsl::authority`), as text or JSON.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use capc_dsl::authority::{Authority, Origin};
use capc_dsl::model::{RightId, Spec, System};
use serde_json::{Value, json};

use crate::diagnostics::{self, DiagnosticArgs, MessageFormat};

pub const AUTHORITY_EXAMPLES: &str = "\
Examples:
  capc authority examples/systems/decompress.cap
  capc authority examples/systems/decompress.cap --object dec_cspace
  capc authority --message-format json examples/systems/decompress.cap | jq '.systems[].objects[]'

For each object of each system, and each right someone can come to hold on
it: the domains that can, each marked `at boot` or with the domain and the
object it can get the cap from (docs/language.md, \"Systems\"). The
`trusted` domains, which the closure takes to pass on no cap, are listed
first: what is printed rests on their programs.
Exit status: 0 printed, 1 the spec has errors, 2 usage or I/O error (or an
unknown --object).";

#[derive(clap::Args)]
pub struct AuthorityArgs {
    /// The spec whose systems to analyse (with the files it imports).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Only this object (by its name in the system).
    #[arg(long, value_name = "NAME")]
    pub object: Option<String>,
    #[command(flatten)]
    pub diagnostics: DiagnosticArgs,
}

/// One holder: the domain's name and how it comes to hold the cap.
fn origin_text(system: &System, origin: Origin) -> String {
    match origin {
        Origin::Initial => "at boot".to_string(),
        Origin::Flowed { from, via } => format!(
            "from {} via {}",
            system.domains[from].name, system.objects[via].name
        ),
    }
}

/// The names of the system's `trusted` domains, in domain order.
fn trusted(system: &System) -> Vec<&str> {
    system
        .domains
        .iter()
        .filter(|d| d.trusted)
        .map(|d| d.name.as_str())
        .collect()
}

/// The closure of every system of `spec` as text (`object` alone when
/// given): an object per paragraph, a right per line.
pub fn text(spec: &Spec, object: Option<&str>) -> String {
    let mut out = String::new();
    for system in &spec.systems {
        let authority = Authority::of(&spec.rights, system);
        let _ = writeln!(out, "system {}", system.name);
        let trusted = trusted(system);
        if !trusted.is_empty() {
            let _ = writeln!(
                out,
                "  trusted (taken to pass on no cap): {}",
                trusted.join(", ")
            );
        }
        for (o, obj) in system.objects.iter().enumerate() {
            if object.is_some_and(|name| name != obj.name) {
                continue;
            }
            let ty = &spec.objects[obj.object.0 as usize].name;
            let _ = writeln!(out, "  object {} ({ty})", obj.name);
            for (r, right) in spec.rights.iter().enumerate() {
                let holders = authority.holders(o, RightId(r as u32));
                if holders.is_empty() {
                    continue;
                }
                let list: Vec<String> = holders
                    .iter()
                    .map(|&(d, origin)| {
                        format!(
                            "{} ({})",
                            system.domains[d].name,
                            origin_text(system, origin)
                        )
                    })
                    .collect();
                let _ = writeln!(out, "    {}: {}", right.name, list.join(", "));
            }
        }
    }
    out
}

/// The same as JSON: `{"systems": [{"name", "trusted": [domain names],
/// "objects": [{"name", "type",
/// "rights": [{"right", "holders": [{"domain", "from", "via"}]}]}]}]}`
/// (`from` and `via` null for a cap held at boot).
pub fn json(spec: &Spec, object: Option<&str>) -> Value {
    let systems: Vec<Value> = spec
        .systems
        .iter()
        .map(|system| {
            let authority = Authority::of(&spec.rights, system);
            let objects: Vec<Value> = system
                .objects
                .iter()
                .enumerate()
                .filter(|(_, obj)| object.is_none_or(|name| name == obj.name))
                .map(|(o, obj)| {
                    let rights: Vec<Value> = spec
                        .rights
                        .iter()
                        .enumerate()
                        .filter_map(|(r, right)| {
                            let holders = authority.holders(o, RightId(r as u32));
                            (!holders.is_empty()).then(|| {
                                let holders: Vec<Value> = holders
                                    .iter()
                                    .map(|&(d, origin)| {
                                        let (from, via) = match origin {
                                            Origin::Initial => (Value::Null, Value::Null),
                                            Origin::Flowed { from, via } => (
                                                json!(system.domains[from].name),
                                                json!(system.objects[via].name),
                                            ),
                                        };
                                        json!({
                                            "domain": system.domains[d].name,
                                            "from": from,
                                            "via": via,
                                        })
                                    })
                                    .collect();
                                json!({ "right": right.name, "holders": holders })
                            })
                        })
                        .collect();
                    json!({
                        "name": obj.name,
                        "type": spec.objects[obj.object.0 as usize].name,
                        "rights": rights,
                    })
                })
                .collect();
            json!({ "name": system.name, "trusted": trusted(system), "objects": objects })
        })
        .collect();
    json!({ "systems": systems })
}

pub fn run(args: &AuthorityArgs) -> ExitCode {
    let compilation = match diagnostics::checked_configured(&args.file, &[], &args.diagnostics) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(spec) = &compilation.spec else {
        return ExitCode::from(1);
    };
    if spec.systems.is_empty() {
        eprintln!(
            "error: `{}` has no `system`: there is no authority to show",
            args.file.display()
        );
        return ExitCode::from(2);
    }
    if let Some(name) = &args.object {
        let known = spec
            .systems
            .iter()
            .any(|s| s.objects.iter().any(|o| &o.name == name));
        if !known {
            let names: Vec<&str> = spec
                .systems
                .iter()
                .flat_map(|s| s.objects.iter().map(|o| o.name.as_str()))
                .collect();
            eprintln!(
                "error: no system object is named `{name}` (known: {})",
                names.join(", ")
            );
            return ExitCode::from(2);
        }
    }
    let object = args.object.as_deref();
    let out = match args.diagnostics.message_format {
        MessageFormat::Human => text(spec, object),
        MessageFormat::Json => match serde_json::to_string_pretty(&json(spec, object)) {
            Ok(t) => t + "\n",
            Err(e) => {
                eprintln!("error: cannot write the authority as JSON: {e}");
                return ExitCode::from(2);
            }
        },
    };
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write the authority: {e}");
            ExitCode::from(2)
        }
    }
}
