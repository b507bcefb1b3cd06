//! One module per spec file: which files' items this module generates, and
//! which it takes from the modules of imported specs generated elsewhere.
//!
//! Without externs a module holds every item of its spec and of the files
//! it imports, and compiles on its own. With `--extern kernel.cap=crate::caps`
//! (`Builder::extern_path`, `include_spec!(..., extern_path("kernel.cap" =
//! crate::caps))`) the items of `kernel.cap`, and of every file it imports,
//! are not generated again: the module starts with `pub use crate::caps::*;`
//! and its own items name the imported ones through it, so both modules
//! share one `Cap`, one `MessageInfo`, one `Transport`.
//!
//! The kernel's items (the target and everything spec-wide that follows
//! from it: rights, object and cap types, retype and derivation rules,
//! kernel invocations, the configuration) live in the module of the file
//! that declares `target`: the base module. A spec whose base is generated
//! elsewhere adds only items of its own (constants, error sets, message
//! types, enumerations, bitfields, interfaces, systems); a kernel item
//! declared on the wrong side is E0620.

use capc_dsl::SourceMap;
use capc_dsl::diag::{Code, Diagnostic};
use capc_dsl::model::Spec;
use capc_dsl::source::{FileId, Span};
use proc_macro2::TokenStream;
use quote::quote;

/// An imported spec whose module is generated elsewhere (prost-build's
/// `extern_path`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extern {
    /// The imported file: its name as loaded (`kernel-demo/spec/kernel.cap`)
    /// or any tail of it at a `/` (`spec/kernel.cap`, `kernel.cap`).
    pub spec: String,
    /// The Rust path of its generated module (`crate::caps`,
    /// `capc_demo_kernel::caps`).
    pub path: String,
}

impl Extern {
    /// Reads `FILE=PATH` (the CLI's `--extern`).
    pub fn parse(text: &str) -> Result<Extern, String> {
        match text.split_once('=') {
            Some((spec, path)) if !spec.trim().is_empty() && !path.trim().is_empty() => {
                Ok(Extern {
                    spec: spec.trim().to_string(),
                    path: path.trim().to_string(),
                })
            }
            _ => Err(format!(
                "expected `FILE=PATH` (an imported spec and the Rust path of its module, e.g. `kernel.cap=crate::caps`), got `{text}`"
            )),
        }
    }
}

/// Where each file's items are generated.
#[derive(Clone, Debug, Default)]
pub struct Placement {
    /// By file index: whether this module generates the file's items.
    here: Vec<bool>,
    /// Whether this module holds the kernel's items (the file with
    /// `target` is generated here).
    base_here: bool,
    /// The paths of the modules generated elsewhere, in the order given,
    /// each a valid Rust path (kept as text: tokens cannot cross the
    /// threads that format the module).
    uses: Vec<String>,
}

impl Placement {
    /// Whether the item at `span` is generated in this module.
    pub fn here(&self, span: Span) -> bool {
        self.here.get(span.file.0 as usize).copied().unwrap_or(true)
    }

    /// Whether this module holds the kernel's items.
    pub fn base_here(&self) -> bool {
        self.base_here
    }

    /// Whether some module is generated elsewhere.
    pub fn has_uses(&self) -> bool {
        !self.uses.is_empty()
    }

    /// `pub use <path>::*;` for each module generated elsewhere.
    pub fn uses(&self) -> TokenStream {
        let paths = self
            .uses
            .iter()
            .filter_map(|path| syn::parse_str::<syn::Path>(path).ok());
        let uses = paths.map(|path| {
            quote! {
                #[allow(unused_imports)]
                pub use #path::*;
            }
        });
        quote!(#(#uses)*)
    }
}

/// Decides where each file's items go, and reports what the externs get
/// wrong (E0620–E0623). With errors the placement still holds: every item
/// an erroneous extern would have covered is generated here.
pub fn place(spec: &Spec, sources: &SourceMap, externs: &[Extern]) -> (Placement, Vec<Diagnostic>) {
    let files = sources.len();
    let root = Span::new(FileId(0), 0..0);
    let mut diags = Vec::new();
    let mut here = vec![true; files];
    let mut uses: Vec<String> = Vec::new();
    let mut claimed: Vec<(FileId, &str)> = Vec::new();
    let root_name = file_name(sources.name(FileId(0)));
    for e in externs {
        let path = match syn::parse_str::<syn::Path>(&e.path) {
            Ok(path) => quote!(#path).to_string(),
            Err(_) => {
                diags.push(
                    Diagnostic::new(
                        Code::ExternPath,
                        root,
                        format!("`{}` is not a Rust path (the module of `{}`)", e.path, e.spec),
                    )
                    .help("give the path of the module the imported spec was generated into, e.g. `crate::caps` or `kernel_crate::caps`"),
                );
                continue;
            }
        };
        let wanted = e.spec.replace('\\', "/");
        let wanted = wanted.trim_start_matches("./");
        let matches: Vec<FileId> = (0..files as u32)
            .map(FileId)
            .filter(|&id| {
                let name = sources.name(id);
                name == wanted || name.ends_with(&format!("/{wanted}"))
            })
            .collect();
        let imported: Vec<FileId> = matches.iter().copied().filter(|id| id.0 != 0).collect();
        match imported.as_slice() {
            [] => {
                let imports: Vec<String> = (1..files as u32)
                    .map(|i| format!("`{}`", sources.name(FileId(i))))
                    .collect();
                let what = if matches.is_empty() {
                    "no file the spec imports".to_string()
                } else {
                    format!("`{root_name}` itself, not a file it imports")
                };
                diags.push(
                    Diagnostic::new(
                        Code::ExternUnknown,
                        root,
                        format!("the extern `{}` names {what}", e.spec),
                    )
                    .label("the spec generated")
                    .note(if imports.is_empty() {
                        format!("`{root_name}` imports no file")
                    } else {
                        format!("`{root_name}` imports {}", imports.join(", "))
                    })
                    .help("name an imported file by its path or a tail of it (`kernel.cap`), or drop the extern"),
                );
            }
            [id] => {
                if let Some((_, other)) = claimed.iter().find(|(c, _)| c == id) {
                    diags.push(
                        Diagnostic::new(
                            Code::ExternAmbiguous,
                            root,
                            format!(
                                "`{}` is given two modules: `{other}` and `{}`",
                                sources.name(*id),
                                e.path
                            ),
                        )
                        .help("give each imported file one extern"),
                    );
                    continue;
                }
                claimed.push((*id, e.path.as_str()));
                cover(spec, *id, &mut here);
                if !uses.contains(&path) {
                    uses.push(path);
                }
            }
            several => {
                let names: Vec<String> = several
                    .iter()
                    .map(|id| format!("`{}`", sources.name(*id)))
                    .collect();
                diags.push(
                    Diagnostic::new(
                        Code::ExternAmbiguous,
                        root,
                        format!("the extern `{}` names {} files", e.spec, several.len()),
                    )
                    .note(format!("it matches {}", names.join(" and ")))
                    .help("give more of the file's path, up to a `/` (`spec/kernel.cap`)"),
                );
            }
        }
    }
    let base = spec.target.span.file;
    let base_here = here.get(base.0 as usize).copied().unwrap_or(true);
    let placement = Placement {
        here,
        base_here,
        uses,
    };
    if diags.is_empty() {
        diags.extend(kernel_items_apart(spec, sources, &placement));
    }
    (placement, diags)
}

/// Marks `file` and everything it imports, transitively, as generated
/// elsewhere (never the root).
fn cover(spec: &Spec, file: FileId, here: &mut [bool]) {
    let mut stack = vec![file];
    while let Some(f) = stack.pop() {
        if f.0 == 0 || !here.get(f.0 as usize).copied().unwrap_or(false) {
            continue;
        }
        here[f.0 as usize] = false;
        stack.extend(
            spec.imports
                .iter()
                .filter(|(from, _)| *from == f)
                .map(|(_, to)| *to),
        );
    }
}

/// E0620 for each kernel item on the other side of the externs than the
/// file that declares `target`.
fn kernel_items_apart(spec: &Spec, sources: &SourceMap, p: &Placement) -> Vec<Diagnostic> {
    let mut items: Vec<(&str, &str, Span)> = Vec::new();
    items.extend(
        spec.rights
            .iter()
            .map(|r| ("right", r.name.as_str(), r.span)),
    );
    items.extend(
        spec.objects
            .iter()
            .map(|o| ("object type", o.name.as_str(), o.span)),
    );
    items.extend(
        spec.caps
            .iter()
            .map(|c| ("cap type", c.name.as_str(), c.span)),
    );
    items.extend(spec.retypes.iter().map(|r| {
        (
            "retype rule for",
            spec.caps[r.source.index()].name.as_str(),
            r.span,
        )
    }));
    items.extend(spec.derives.iter().map(|d| {
        (
            "derivation rule for",
            spec.caps[d.target.index()].name.as_str(),
            d.span,
        )
    }));
    items.extend(
        spec.invocations
            .iter()
            .map(|s| ("kernel invocations of", s.name.as_str(), s.span)),
    );
    let target = spec.target.span;
    let base_name = sources.name(target.file);
    items
        .into_iter()
        .filter(|(_, _, span)| p.here(*span) != p.base_here)
        .map(|(kind, name, span)| {
            let file = sources.name(span.file);
            let (message, help) = if p.base_here {
                (
                    format!("{kind} `{name}` is in `{file}`, which is generated elsewhere, but the kernel's items are generated here"),
                    format!("move it into a file generated with `{base_name}`, or drop the extern that covers `{file}`"),
                )
            } else {
                (
                    format!("{kind} `{name}` is generated here, but the kernel's items are in the module of `{base_name}`, generated elsewhere"),
                    format!("declare it in `{base_name}` (or a file that module includes), or generate without the extern that covers `{base_name}`"),
                )
            };
            let label = if p.base_here {
                "in a file generated elsewhere"
            } else {
                "in a file generated here"
            };
            Diagnostic::new(Code::ExternKernelItem, span, message)
                .label(label)
                .with_secondary(target, "the target, whose module holds the kernel's items")
                .help(help)
        })
        .collect()
}

/// The last part of a loaded file's name.
fn file_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}
