//! Writes into `OUT_DIR`, from the spec at `$SEL4_DIFF_SPEC` in the
//! configuration with the options in `$SEL4_DIFF_CFG` on (comma-separated)
//! and seL4's generated files in `$SEL4_DIFF_SEL4`:
//!
//! - `spec.rs`: capc's generated module of the spec (`capc::Builder`);
//! - `invocation.rs`, `syscall_stub.rs`: copies of what seL4's
//!   `invocation_header_gen.py` and `syscall_stub_gen.py` made of capc's
//!   `--lang sel4-xml` export of the spec;
//! - `sel4_types.rs`: the C types those stubs name that the export
//!   declares (each invoked cap type, a `seL4_CPtr`; each bitfield, the
//!   struct seL4's generators expect of a `<struct>`);
//! - `cases.rs`: one function per invocation that checks its label, then
//!   sends the same random arguments through seL4's stub and capc's
//!   client and compares the messages, then, for a method with results,
//!   has seL4's stub read the reply capc's encoder writes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use capc::backend::snake;
use capc::dsl::ast::Scalar;
use capc::dsl::model::{MethodParam, ParamKind, Spec};

fn main() {
    let spec_path = PathBuf::from(env("SEL4_DIFF_SPEC"));
    // The options on, comma-separated (empty: none).
    let chosen: Vec<String> = env("SEL4_DIFF_CFG")
        .split(',')
        .filter(|o| !o.is_empty())
        .map(str::to_string)
        .collect();
    let sel4 = PathBuf::from(env("SEL4_DIFF_SEL4"));
    let out = PathBuf::from(env("OUT_DIR"));
    println!("cargo:rerun-if-env-changed=SEL4_DIFF_SPEC");
    println!("cargo:rerun-if-env-changed=SEL4_DIFF_SEL4");
    println!("cargo:rerun-if-env-changed=SEL4_DIFF_CFG");
    let name = if chosen.is_empty() {
        "no options".to_string()
    } else {
        chosen.join(", ")
    };
    println!("cargo:rustc-env=SEL4_DIFF_CONFIGURATION={name}");
    for file in ["invocation.rs", "syscall_stub.rs"] {
        println!("cargo:rerun-if-changed={}", sel4.join(file).display());
        std::fs::copy(sel4.join(file), out.join(file))
            .unwrap_or_else(|e| panic!("cannot copy {}: {e}", sel4.join(file).display()));
    }
    let mut builder = capc::Builder::new().spec(&spec_path);
    for option in &chosen {
        builder = builder.cfg(option);
    }
    let written = builder
        .out_dir(&out)
        .compile()
        .unwrap_or_else(|e| panic!("capc: {e}"));
    std::fs::copy(&written[0], out.join("spec.rs")).expect("copy the module");
    let compilation = capc::dsl::compile_with(&spec_path, &capc::dsl::FsLoader, &chosen)
        .unwrap_or_else(|e| panic!("capc: {e}"));
    let spec = compilation.spec.as_ref().expect("the spec checks");
    write(&out.join("sel4_types.rs"), &types(spec));
    let stubs = std::fs::read_to_string(out.join("syscall_stub.rs")).expect("seL4's stubs");
    write(&out.join("cases.rs"), &cases(spec, &stubs));
}

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set (run `cargo xtask sel4-diff`)"))
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// The export's names as seL4's stubs use them.
fn types(spec: &Spec) -> String {
    let mut s = String::new();
    for set in &spec.invocations {
        let _ = writeln!(s, "pub type {} = seL4_CPtr;", set.name);
    }
    for b in &spec.bitfields {
        let _ = writeln!(s, "#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]");
        if b.words == 1 {
            // bitfield_gen's structs, as the stubs build and read them.
            let _ = writeln!(s, "pub struct {} {{ pub words: [seL4_Word; 1] }}", b.name);
        } else {
            let _ = writeln!(s, "pub struct {} {{", b.name);
            for w in 0..b.words {
                let _ = writeln!(s, "    pub {}: seL4_Word,", capc::sel4_xml::member(b, w));
            }
            s.push_str("}\n");
        }
    }
    s
}

/// How one parameter or result is made and handed to each side.
struct Value {
    /// Statements that make `v{i}` (capc's value) and `w{i}` (its words
    /// or number as seL4's side takes it).
    make: String,
    /// The argument to seL4's stub.
    sel4: String,
    /// The argument to capc's client or encoder.
    capc: String,
}

/// A random value of `p` (the `i`th) in capc's domain, and what each side
/// takes; `None` for what this harness cannot yet pass.
fn value(spec: &Spec, p: &MethodParam, i: usize) -> Option<Value> {
    if let Some(b) = p.bitfield {
        let b = &spec.bitfields[b.index()];
        let n = b.words;
        let make = format!(
            "let v{i} = loop {{ let words: [u64; {n}] = core::array::from_fn(|_| rng.word()); \
             if let Some(v) = capc_gen::{name}::from_words(&words) {{ break v; }} }};\n\
             let w{i} = v{i}.words();\n",
            name = b.name
        );
        let sel4 = if n == 1 {
            format!("sel4::{} {{ words: [w{i}[0]] }}", b.name)
        } else {
            let fields: Vec<String> = (0..n)
                .map(|w| format!("{}: w{i}[{w}]", capc::sel4_xml::member(b, w)))
                .collect();
            format!("&mut sel4::{} {{ {} }}", b.name, fields.join(", "))
        };
        return Some(Value {
            make,
            sel4,
            capc: format!("v{i}"),
        });
    }
    if let Some(e) = p.values {
        let e = &spec.enumerations[e.index()];
        let values: Vec<String> = e.values.iter().map(|v| v.value.to_string()).collect();
        let ty = match p.kind {
            ParamKind::Scalar(Scalar::Uint(n)) => format!("u{n}"),
            _ => "u64".into(),
        };
        let make = format!(
            "let all = [{}u64]; let w{i} = all[rng.below(all.len())];\n\
             let v{i} = capc_gen::{}::from_value(w{i}).expect(\"a named value\");\n",
            values.join("u64, "),
            e.name
        );
        return Some(Value {
            make,
            sel4: format!("w{i} as {ty}"),
            capc: format!("v{i}"),
        });
    }
    match &p.kind {
        ParamKind::Scalar(Scalar::Word) => Some(Value {
            make: format!("let v{i}: u64 = rng.word(); let w{i} = v{i};\n"),
            sel4: format!("w{i}"),
            capc: format!("v{i}"),
        }),
        ParamKind::Scalar(Scalar::Bool) => Some(Value {
            make: format!("let v{i} = rng.word() & 1 == 1; let w{i} = u64::from(v{i});\n"),
            sel4: format!("w{i} as u8"),
            capc: format!("v{i}"),
        }),
        ParamKind::Scalar(Scalar::Uint(n @ (8 | 16 | 32 | 64))) => Some(Value {
            make: format!("let v{i} = rng.word() as u{n}; let w{i} = u64::from(v{i});\n"),
            sel4: format!("v{i}"),
            capc: format!("v{i}"),
        }),
        // Whichever its type, or types, and whether it may be null: a
        // CPtr to seL4's stub, a slot to capc's client.
        ParamKind::Cap { .. } => Some(Value {
            make: format!("let w{i}: u64 = rng.word() >> 1;\n"),
            sel4: format!("w{i}"),
            capc: format!("capc_gen::Slot::new(w{i})"),
        }),
        _ => None,
    }
}

/// What seL4's stub read into result `p` (the `i`th), as words, given
/// the stub's result `r` (a struct) or, for a struct passed by reference,
/// the out-parameter `o{i}`.
fn sel4_read(spec: &Spec, p: &MethodParam, i: usize) -> String {
    if let Some(b) = p.bitfield {
        let b = &spec.bitfields[b.index()];
        if b.words == 1 {
            return format!("r.{}.words.to_vec()", p.name);
        }
        let fields: Vec<String> = (0..b.words)
            .map(|w| format!("o{i}.{}", capc::sel4_xml::member(b, w)))
            .collect();
        return format!("vec![{}]", fields.join(", "));
    }
    format!("vec![r.{} as u64]", p.name)
}

fn cases(spec: &Spec, stubs: &str) -> String {
    let mut s = String::new();
    let mut calls = String::new();
    for set in &spec.invocations {
        let cap_snake = snake(&set.name);
        for m in &set.methods {
            let camel = capc::dsl::check::camel(&m.name);
            let id = format!("{}{camel}", set.name);
            let f = format!("case_{cap_snake}_{}", m.name);
            let what = format!("{}.{}", set.name, m.name);
            let _ = writeln!(calls, "    {f}(&mut rng, &mut report);");
            // Not every value made is read by both sides (a `u8` is passed
            // as itself, its word unused; a method without parameters
            // draws nothing).
            let _ = writeln!(s, "#[allow(unused_variables)]");
            let _ = writeln!(s, "fn {f}(rng: &mut Rng, report: &mut Report) {{");
            let _ = writeln!(s, "    let what = \"{what}\";");
            // (a) The label.
            let _ = writeln!(
                s,
                "    report.label(what, sel4::InvocationLabel::{id} as u64, capc_gen::{}Label::{camel} as u64);",
                set.name
            );
            let params: Option<Vec<Value>> = m
                .params
                .iter()
                .enumerate()
                .map(|(i, p)| value(spec, p, i))
                .collect();
            let Some(params) = params else {
                let _ = writeln!(
                    s,
                    "    report.skipped(what, \"a parameter this harness cannot make\");\n}}"
                );
                continue;
            };
            let results: Option<Vec<Value>> = m
                .results
                .iter()
                .enumerate()
                .map(|(i, p)| value(spec, p, 100 + i))
                .collect();
            let sel4_fn = format!("sel4::{}_{camel}", set.name);
            let sel4_args: Vec<String> = params.iter().map(|v| v.sel4.clone()).collect();
            let capc_args: Vec<String> = params.iter().map(|v| v.capc.clone()).collect();
            // Out-parameters of structs passed by reference.
            let mut outs = String::new();
            let mut out_args = Vec::new();
            for (i, p) in m.results.iter().enumerate() {
                if let Some(b) = p.bitfield
                    && spec.bitfields[b.index()].words > 1
                {
                    let i = 100 + i;
                    let _ = writeln!(
                        outs,
                        "        let mut o{i} = sel4::{}::default();",
                        spec.bitfields[b.index()].name
                    );
                    out_args.push(format!("&mut o{i}"));
                }
            }
            // seL4's stub takes its arguments in the export's order, by
            // name: each is passed to the stub's parameter of its name, so
            // an export that reorders or renames parameters sends other
            // words (or does not compile).
            let by_name: Vec<(String, String)> = m
                .params
                .iter()
                .map(|p| p.name.clone())
                .zip(sel4_args)
                .chain(
                    m.results
                        .iter()
                        .filter(|p| {
                            p.bitfield
                                .is_some_and(|b| spec.bitfields[b.index()].words > 1)
                        })
                        .map(|p| p.name.clone())
                        .zip(out_args),
                )
                .collect();
            let all_sel4_args = stub_params(stubs, &format!("{}_{camel}", set.name))
                .iter()
                .map(|name| {
                    by_name
                        .iter()
                        .find(|(n, _)| n == name || format!("{n}_") == *name)
                        .map_or_else(
                            || format!("compile_error!(\"seL4's stub has a parameter `{name}` capc's method lacks\")"),
                            |(_, arg)| arg.clone(),
                        )
                })
                .collect::<Vec<_>>()
                .join(", ");
            // (b) The request.
            let _ = writeln!(s, "    for _ in 0..ROUNDS {{");
            for v in &params {
                s.push_str("        ");
                s.push_str(&v.make);
            }
            s.push_str(&outs);
            let _ = writeln!(s, "        sel4::rt::reset();");
            let _ = writeln!(
                s,
                "        #[allow(unused_variables, unused_unsafe)] let r = unsafe {{ {sel4_fn}(SERVICE, {all_sel4_args}) }};"
            );
            let _ = writeln!(s, "        let theirs = sel4::rt::sent();");
            let _ = writeln!(s, "        let mut kernel = Kernel::default();");
            let _ = writeln!(
                s,
                "        let _ = capc_gen::{}Client(&mut kernel).{}({});",
                set.name,
                capc_ident(&m.name),
                capc_args.join(", ")
            );
            let _ = writeln!(s, "        report.request(what, &theirs, &kernel.sent);");
            // (c) The reply.
            if let Some(results) = results.as_ref().filter(|r| !r.is_empty()) {
                for v in results {
                    s.push_str("        ");
                    s.push_str(&v.make);
                }
                let encode_args: Vec<String> = results.iter().map(|v| v.capc.clone()).collect();
                let _ = writeln!(
                    s,
                    "        let mut msg = [0u64; capc_gen::target::MESSAGE_WORDS];"
                );
                let _ = writeln!(
                    s,
                    "        let info = capc_gen::encode_{cap_snake}_{}_reply({}, &mut msg);",
                    m.name,
                    encode_args.join(", ")
                );
                let _ = writeln!(
                    s,
                    "        sel4::rt::reply(info.label, &msg[..info.length]);"
                );
                let _ = writeln!(
                    s,
                    "        #[allow(unused_variables, unused_unsafe)] let r = unsafe {{ {sel4_fn}(SERVICE, {all_sel4_args}) }};"
                );
                let _ = writeln!(s, "        let _ = &r;");
                for (i, p) in m.results.iter().enumerate() {
                    let read = sel4_read(spec, p, 100 + i);
                    let _ = writeln!(
                        s,
                        "        report.result(what, \"{}\", {read}, w{}.to_words());",
                        p.name,
                        100 + i
                    );
                }
            } else if results.is_none() {
                let _ = writeln!(
                    s,
                    "        report.skipped(what, \"a result this harness cannot make\");"
                );
            }
            s.push_str("    }\n}\n");
        }
    }
    let _ = writeln!(
        s,
        "pub(crate) fn run_cases(mut rng: Rng, mut report: Report) -> Report {{"
    );
    s.push_str(&calls);
    s.push_str("    report\n}\n");
    s
}

/// The names of the parameters of seL4's stub `name` after `_service`, in
/// order (its signature is one line: `pub unsafe fn NAME(_service: T, a:
/// T, ...) -> R`); none if there is no such stub.
fn stub_params(stubs: &str, name: &str) -> Vec<String> {
    let head = format!("pub unsafe fn {name}(");
    let Some(line) = stubs.lines().find(|l| l.starts_with(&head)) else {
        return Vec::new();
    };
    let list = &line[head.len()..line.rfind(')').unwrap_or(line.len())];
    list.split(", ")
        .filter_map(|p| p.split(':').next())
        .map(str::trim)
        .filter(|p| !p.is_empty() && *p != "_service")
        .map(str::to_string)
        .collect()
}

/// A method's name as the generated client spells it.
fn capc_ident(name: &str) -> String {
    capc::backend::ident(name).to_string()
}
