//! The backend: from a checked [`Spec`] to one no_std Rust module.
//!
//! Each section of the generated module has its own file here and cuts the
//! module into parts (whole items: the shared types, one cap type's view, one
//! invoked cap type, ...), each a function from the model to a `TokenStream`
//! built with `quote!` (never string templates). [`generate`] concatenates
//! the parts in a fixed order; [`render`] formats them one by one with
//! prettyplease, on two threads, joins the texts in the same order and adds
//! the `@generated` header. Everything iterates the model's vectors in
//! declaration order, so the output is byte-identical across runs and
//! machines, whichever thread formats which part.
//!
//! Conventions every section follows (the generated code is read by kernel
//! authors, so it should read like hand-written Rust):
//! - only `::core` paths, no `alloc`, no `unsafe`;
//! - unsuffixed integer literals ([`lit`]);
//! - a doc comment on every public item, ending with the spec line it comes
//!   from ([`Gen::docs`]);
//! - names: types in CamelCase as written in the spec, functions in
//!   snake_case ([`snake`]), keywords escaped ([`ident`]).

mod bitfields;
mod caps;
mod common;
mod data;
mod errors;
mod externs;
mod invocations;
mod lifecycle;
mod retype;
mod rpc;
mod syscalls;
mod systems;
mod wire;

use capc_dsl::SourceMap;
use capc_dsl::diag::Diagnostic;
use capc_dsl::model::Spec;
use capc_dsl::source::Span;
use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};
use std::sync::atomic::{AtomicUsize, Ordering};

pub use externs::{Extern, Placement};

/// Which side of the kernel boundary a module is for (`capc build
/// --side`, [`crate::Builder::side`], `include_spec!(..., side = kernel)`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Side {
    /// Everything (the default).
    #[default]
    Both,
    /// What a kernel needs: the cap layout and views, retype and
    /// derivation, the lifecycle facts, the decoders of kernel
    /// invocations and their reply encoders, errors and message types.
    /// No invocation clients, no RPC clients or servers (user tasks run
    /// those), no boot plans (the root task runs them).
    Kernel,
    /// What user tasks need: the cap layout and views, invocation clients,
    /// RPC clients and servers, boot plans, errors and message types. No
    /// retype or derivation checks, no lifecycle facts and no invocation
    /// decoders (the kernel runs those).
    User,
}

/// What to generate: which parts of RPC interfaces, and for which
/// configuration of the spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Generate client types for interfaces.
    pub clients: bool,
    /// Generate server traits and dispatch functions for interfaces.
    pub servers: bool,
    /// The configuration options (of the spec's `config` block) that are
    /// on; every other is off (`capc build --cfg`, [`crate::Builder::cfg`],
    /// `include_spec!(..., cfg(...))`).
    pub configuration: Vec<String>,
    /// Imported specs whose modules are generated elsewhere: their items
    /// (and those of the files they import) are named through
    /// `pub use <path>::*;` instead of being generated again (`capc build
    /// --extern`, [`crate::Builder::extern_path`], `include_spec!(...,
    /// extern_path("kernel.cap" = crate::caps))`).
    pub externs: Vec<Extern>,
    /// The kernel's side, the user side, or both.
    pub side: Side,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            clients: true,
            servers: true,
            configuration: Vec::new(),
            externs: Vec::new(),
            side: Side::Both,
        }
    }
}

/// What every section needs: the model, the sources (for spec line
/// references) and the options.
pub struct Gen<'a> {
    /// The checked spec.
    pub spec: &'a Spec,
    /// The sources the spec was read from.
    pub sources: &'a SourceMap,
    /// What to generate, with the side applied: a kernel-side module has
    /// neither RPC clients nor servers.
    pub options: Options,
    /// Which files' items this module generates.
    pub place: Placement,
}

impl<'a> Gen<'a> {
    /// The generator for `spec` with `options`; externs that do not hold
    /// ([`check_options`]) are left out, their files generated here.
    pub fn new(spec: &'a Spec, sources: &'a SourceMap, options: &'a Options) -> Gen<'a> {
        let (place, _) = externs::place(spec, sources, &options.externs);
        let mut options = options.clone();
        if options.side == Side::Kernel {
            options.clients = false;
            options.servers = false;
        }
        Gen {
            spec,
            sources,
            options,
            place,
        }
    }
}

/// What the options get wrong about the spec (an extern that names no
/// imported file, a kernel item apart from the target, E0620–E0623),
/// reported as the checker's diagnostics are. Every front end calls it
/// before generating.
pub fn check_options(spec: &Spec, sources: &SourceMap, options: &Options) -> Vec<Diagnostic> {
    externs::place(spec, sources, &options.externs).1
}

impl Gen<'_> {
    /// Whether the module has the kernel's side (retype and derivation
    /// checks, lifecycle facts, invocation decoders).
    pub fn kernel_side(&self) -> bool {
        self.options.side != Side::User
    }

    /// Whether the module has the user side (invocation clients, RPC
    /// clients and servers, boot plans).
    pub fn user_side(&self) -> bool {
        self.options.side != Side::Kernel
    }

    /// Whether the item declared at `span` is generated in this module
    /// (not in the module of an imported spec, [`Options::externs`]).
    pub fn here(&self, span: Span) -> bool {
        self.place.here(span)
    }

    /// Whether some object type is byte-sized (`#[bytes]`): the generated
    /// retype, split and region code then counts in bytes (`size_bytes`,
    /// `placement`, `Placement::size`) rather than in log2 sizes, which a
    /// spec without one keeps exactly as before.
    pub fn byte_sizes(&self) -> bool {
        self.spec.objects.iter().any(|o| o.size.is_bytes())
    }

    /// `file.cap:line` for a span; the file's name only, never a directory,
    /// so output does not depend on where the spec lives.
    pub fn location(&self, span: Span) -> String {
        let name = self.sources.name(span.file);
        let name = name.rsplit('/').next().unwrap_or(name);
        let (line, _) = self.sources.line_col(span.file, span.start as usize);
        format!("{name}:{line}")
    }

    /// Doc attributes from spec doc lines, or `fallback` when there are none,
    /// followed by a line pointing back at the spec.
    pub fn docs(&self, docs: &[String], fallback: &str, span: Span) -> TokenStream {
        let mut lines: Vec<String> = if docs.is_empty() {
            vec![fallback.to_string()]
        } else {
            docs.to_vec()
        };
        lines.push(String::new());
        lines.push(format!("Spec: `{}`.", self.location(span)));
        doc_lines(&lines)
    }
}

/// `#[doc = " line"]` for each line, as [`comment_text`] makes it safe.
pub fn doc_lines(lines: &[String]) -> TokenStream {
    let attrs = lines.iter().map(|l| {
        let text = if l.is_empty() {
            String::new()
        } else {
            format!(" {}", comment_text(l))
        };
        quote!(#[doc = #text])
    });
    quote!(#(#attrs)*)
}

/// Text from a spec (a doc comment, a file name) made fit for a comment of
/// the generated code: rustc refuses a bare carriage return in a doc
/// comment and, deny by default, the bidirectional-text controls
/// (U+202A..U+202E, U+2066..U+2069) that can make code read otherwise
/// than it compiles; a line break would end a `//` comment. Each is written
/// as its `\u{...}` escape, visible in the docs.
pub fn comment_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if bidi || (c.is_control() && c != '\t') {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// "A" or "An" before `word`, by its first letter (a vowel takes "An"), for
/// doc text that names a spec item: "An `UntypedCap`", "A `TcbCap`".
pub fn article(word: &str) -> &'static str {
    let word = word.trim_start_matches('`');
    // A vowel letter read as a consonant sound: "a `Unit`", "a `UserId`",
    // "a `OneShot`".
    const SOUNDED: [&str; 7] = ["uni", "use", "usu", "uti", "eu", "one", "once"];
    let lower = word.to_ascii_lowercase();
    if SOUNDED.iter().any(|p| lower.starts_with(p)) {
        return "A";
    }
    // An unsigned integer type reads "you": "a `u64`", "a `usize`".
    let mut chars = lower.chars();
    if chars.next() == Some('u')
        && (chars.next().is_some_and(|c| c.is_ascii_digit()) || lower == "usize")
    {
        return "A";
    }
    match word.chars().next() {
        Some(c) if "AEIOUaeiou".contains(c) => "An",
        _ => "A",
    }
}

/// An unsuffixed integer literal.
pub fn lit(value: u64) -> Literal {
    Literal::u64_unsuffixed(value)
}

/// An identifier, escaped with `r#` when it is a Rust keyword.
pub fn ident(name: &str) -> Ident {
    const KEYWORDS: &[&str] = &[
        "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum",
        "extern", "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod",
        "move", "mut", "pub", "ref", "return", "static", "struct", "trait", "true", "type",
        "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
        "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
    ];
    if KEYWORDS.contains(&name) {
        format_ident!("r#{}", name)
    } else {
        format_ident!("{}", name)
    }
}

/// `CNodeCap` -> `cnode_cap`, `PageDirectory` -> `page_directory` (the
/// checker's rule, so the names it vets are the names generated).
pub fn snake(name: &str) -> String {
    capc_dsl::check::snake_case(name)
}

/// `write_registers` -> `WriteRegisters` (the checker's, which reserves
/// the names it makes).
pub use capc_dsl::check::camel;

/// A piece of the generated module: whole items, in the module's order.
///
/// Tokens from `proc_macro2` cannot cross threads, so a part is the function
/// that makes its tokens rather than the tokens themselves: [`render`] calls
/// each part on whichever thread formats it.
type Part<'a> = Box<dyn Fn() -> TokenStream + Send + Sync + 'a>;

/// Every part of the module, in order.
///
/// The kernel's items (the target, cap types, retype, lifecycle, kernel
/// invocations) only in the base module, the one of the file that declares
/// `target`; the rest, each file's own, wherever its file is generated.
fn parts<'a>(g: &'a Gen<'_>) -> Vec<Part<'a>> {
    let mut parts: Vec<Part<'a>> = Vec::new();
    if g.place.has_uses() {
        parts.push(Box::new(move || g.place.uses()));
    }
    if g.place.base_here() {
        parts.push(Box::new(move || common::generate(g)));
        parts.push(Box::new(move || wire::module(g)));
        parts.extend(caps::parts(g));
        if g.kernel_side() {
            parts.push(Box::new(move || retype::generate(g)));
            parts.push(Box::new(move || lifecycle::generate(g)));
        }
    } else {
        parts.push(Box::new(move || common::consts(g)));
        parts.push(Box::new(move || caps::enumerations(g)));
    }
    parts.extend(bitfields::parts(g));
    parts.extend(syscalls::parts(g));
    parts.extend(invocations::parts(g));
    parts.extend(rpc::parts(g));
    if g.user_side() {
        parts.extend(systems::parts(g));
    }
    parts
}

/// The generated module as tokens (what the proc macro expands to).
pub fn generate(spec: &Spec, sources: &SourceMap, options: &Options) -> TokenStream {
    let g = Gen::new(spec, sources, options);
    let mut tokens = TokenStream::new();
    // Owned streams are moved, not copied, into the module.
    tokens.extend(parts(&g).iter().map(|part| part()));
    tokens
}

/// The generated module as formatted source, with its `@generated` header.
///
/// Each part is formatted on its own (parsed with syn, printed with
/// prettyplease) and the texts are joined in order: prettyplease prints the
/// items of a file one after another, so this is the text the whole module
/// would give, without holding the whole module's syntax tree at once. The
/// parts are shared out between up to two threads.
pub fn render(spec: &Spec, sources: &SourceMap, options: &Options, root_name: &str) -> String {
    let g = Gen::new(spec, sources, options);
    let parts = parts(&g);
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(part) = parts.get(i) else {
                return done;
            };
            let file: syn::File = match syn::parse2(part()) {
                Ok(file) => file,
                Err(e) => panic!("capc generated tokens that are not Rust items: {e}"),
            };
            done.push((i, prettyplease::unparse(&file)));
        }
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(2));
    let mut texts: Vec<(usize, String)> = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut texts = work();
        for helper in helpers {
            match helper.join() {
                Ok(more) => texts.extend(more),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        texts
    });
    texts.sort_unstable_by_key(|(i, _)| *i);
    let name = root_name.rsplit(['/', '\\']).next().unwrap_or(root_name);
    let name = comment_text(name);
    let cfg: String = spec
        .configuration
        .iter()
        .filter(|o| o.enabled)
        .map(|o| format!("--cfg {} ", o.name))
        .chain(options.externs.iter().map(|e| {
            format!(
                "--extern {}={} ",
                comment_text(&e.spec),
                comment_text(&e.path)
            )
        }))
        .chain(match options.side {
            Side::Both => None,
            Side::Kernel => Some("--side kernel ".to_string()),
            Side::User => Some("--side user ".to_string()),
        })
        .collect();
    let mut out = format!(
        "// @generated by capc from {name}, do not edit.\n// Regenerate with `capc build {cfg}{name}` or through include_spec!/capc::Builder.\n\n"
    );
    out.reserve(texts.iter().map(|(_, text)| text.len()).sum());
    for (_, text) in texts {
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `render` formats the module part by part on two threads; the text
    /// must be what formatting the whole module at once gives, for every
    /// example spec and with clients or servers left out.
    #[test]
    fn formatting_in_parts_is_formatting_the_whole_module() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let specs = [
            "kernel-demo/spec/kernel.cap",
            "kernel-demo/spec/decompress.cap",
            "examples/everything.cap",
        ];
        let choices = [
            Options::default(),
            Options {
                clients: false,
                ..Options::default()
            },
            Options {
                servers: false,
                ..Options::default()
            },
        ];
        for spec in specs {
            let compilation = capc_dsl::compile(&root.join(spec), &capc_dsl::FsLoader)
                .unwrap_or_else(|e| panic!("{spec}: {e:?}"));
            let model = compilation.spec.as_ref().expect("the example checks");
            for options in &choices {
                let whole: syn::File = syn::parse2(generate(model, &compilation.sources, options))
                    .expect("the module parses");
                let rendered = render(model, &compilation.sources, options, spec);
                let (header, body) = rendered
                    .split_once("\n\n")
                    .expect("a header, then the module");
                assert!(header.starts_with("// @generated by capc from "));
                assert!(
                    body == prettyplease::unparse(&whole),
                    "{spec} with {options:?}: the parts differ from the whole module"
                );
            }
        }
    }

    #[test]
    fn names_convert() {
        assert_eq!(snake("CNodeCap"), "cnode_cap");
        assert_eq!(snake("PageDirectoryCap"), "page_directory_cap");
        assert_eq!(snake("Pml4Cap"), "pml4_cap");
        assert_eq!(snake("UntypedCap"), "untyped_cap");
        assert_eq!(snake("IPCBuffer"), "ipc_buffer");
        assert_eq!(camel("write_registers"), "WriteRegisters");
        assert_eq!(ident("move").to_string(), "r#move");
        assert_eq!(article("`UntypedCap`"), "An");
        assert_eq!(article("Entry"), "An");
        assert_eq!(article("Unit"), "A");
        assert_eq!(article("FrameCap"), "A");
        assert_eq!(article("`u64`"), "A");
        assert_eq!(article("usize"), "A");
        assert_eq!(article("Untyped"), "An");
    }
}
