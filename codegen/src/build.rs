//! The build-script API, in the style of prost-build and Idol:
//!
//! ```no_run
//! // In build.rs's `main`:
//! capc::Builder::new()
//!     .spec("spec/kernel.cap")
//!     .servers(false)
//!     .run();
//! // In src/lib.rs: include!(concat!(env!("OUT_DIR"), "/kernel.rs"));
//! ```
//!
//! Each spec becomes `<stem>.rs` in `OUT_DIR`, byte-identical to what
//! `capc build` prints. Cargo is told to rerun when the spec or any file it
//! imports changes. On a spec error the diagnostics are printed as the CLI
//! prints them and the build fails with a one-line message, not a panic
//! backtrace.

use std::path::{Path, PathBuf};

use capc_dsl::{Compilation, FsLoader, RootError};

use crate::backend::{self, Options};

/// Why a spec produced no code.
#[derive(Debug)]
pub enum BuildError {
    /// The root spec could not be read.
    Unreadable(RootError),
    /// The spec has errors; their rendered text (as `capc check` prints it).
    Spec {
        /// The spec's path.
        path: PathBuf,
        /// Every diagnostic, rendered.
        rendered: String,
        /// Every file read, root first.
        paths: Vec<PathBuf>,
    },
    /// The C header could not be generated: two spec names give one C name
    /// (E0942).
    CHeader {
        /// The spec's path.
        path: PathBuf,
        /// Every collision's diagnostic, rendered (as `capc build` prints it).
        rendered: String,
        /// Every file read, root first.
        paths: Vec<PathBuf>,
    },
    /// The output could not be written.
    Write {
        /// Where.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Unreadable(e) => write!(f, "{e}"),
            BuildError::Spec { path, rendered, .. } => {
                write!(f, "{rendered}capc: `{}` has errors", path.display())
            }
            BuildError::CHeader { path, rendered, .. } => {
                write!(
                    f,
                    "{rendered}capc: `{}`: the C header cannot be generated",
                    path.display()
                )
            }
            BuildError::Write { path, error } => {
                write!(f, "cannot write `{}`: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for BuildError {}

/// Compiles the spec at `path` and renders its module: the one function the
/// CLI's `build` and the [`Builder`] share, so their output is identical.
pub fn render_spec(path: &Path, options: &Options) -> Result<(String, Compilation), BuildError> {
    let compilation = capc_dsl::compile_with(path, &FsLoader, &options.configuration)
        .map_err(BuildError::Unreadable)?;
    match &compilation.spec {
        Some(spec) => {
            let wrong = backend::check_options(spec, &compilation.sources, options);
            if !wrong.is_empty() {
                let rendered = wrong
                    .iter()
                    .map(|d| capc_dsl::diag::render(&compilation.sources, d))
                    .collect();
                return Err(BuildError::Spec {
                    path: path.to_path_buf(),
                    rendered,
                    paths: compilation.paths.clone(),
                });
            }
            let name = path.to_string_lossy();
            let text = backend::render(spec, &compilation.sources, options, &name);
            Ok((text, compilation))
        }
        None => Err(BuildError::Spec {
            path: path.to_path_buf(),
            rendered: compilation.render(),
            paths: compilation.paths.clone(),
        }),
    }
}

/// The language [`Builder`] (and `capc build --lang`) generates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lang {
    /// A `#![no_std]` Rust module, `<stem>.rs`.
    #[default]
    Rust,
    /// A C header, `<stem>.h` (see [`crate::c`]): constants, enums and the
    /// cap field accessors, for a kernel written in C.
    C,
}

/// Compiles the spec at `path` and renders its C header: what the CLI's
/// `build --lang c` and the [`Builder`] share (in the configuration with
/// the options in `configuration` on).
pub fn render_c_header(
    path: &Path,
    configuration: &[String],
) -> Result<(String, Compilation), BuildError> {
    let compilation =
        capc_dsl::compile_with(path, &FsLoader, configuration).map_err(BuildError::Unreadable)?;
    match &compilation.spec {
        Some(spec) => {
            let name = path.to_string_lossy();
            match crate::c::render(spec, &compilation.sources, &name) {
                Ok(text) => Ok((text, compilation)),
                Err(diagnostics) => Err(BuildError::CHeader {
                    path: path.to_path_buf(),
                    rendered: diagnostics
                        .iter()
                        .map(|d| capc_dsl::diag::render(&compilation.sources, d))
                        .collect(),
                    paths: compilation.paths.clone(),
                }),
            }
        }
        None => Err(BuildError::Spec {
            path: path.to_path_buf(),
            rendered: compilation.render(),
            paths: compilation.paths.clone(),
        }),
    }
}

/// Generates Rust modules (or C headers) from specs in a build script.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    specs: Vec<PathBuf>,
    options: Options,
    out_dir: Option<PathBuf>,
    lang: Lang,
}

impl Builder {
    /// A builder with no specs, generating clients and servers.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Adds a spec (relative to the crate's directory, as build scripts run there).
    pub fn spec(mut self, path: impl Into<PathBuf>) -> Builder {
        self.specs.push(path.into());
        self
    }

    /// Whether to generate client types for interfaces (default: yes).
    pub fn clients(mut self, yes: bool) -> Builder {
        self.options.clients = yes;
        self
    }

    /// Whether to generate server traits and dispatch (default: yes).
    pub fn servers(mut self, yes: bool) -> Builder {
        self.options.servers = yes;
        self
    }

    /// What to generate (default: [`Lang::Rust`]); [`Lang::C`] writes
    /// `<stem>.h` instead of `<stem>.rs` (clients and servers do not apply).
    pub fn lang(mut self, lang: Lang) -> Builder {
        self.lang = lang;
        self
    }

    /// Turns on an option of the specs' `config` blocks (every option not
    /// turned on is off). Each spec is checked in every configuration; the
    /// code is the chosen one's.
    pub fn cfg(mut self, option: impl Into<String>) -> Builder {
        self.options.configuration.push(option.into());
        self
    }

    /// Generates only the kernel's side or the user side of each spec
    /// ([`backend::Side`]; both by default).
    pub fn side(mut self, side: backend::Side) -> Builder {
        self.options.side = side;
        self
    }

    /// Generates the imported spec `spec` (its path, or a tail of it at a
    /// `/`: `"kernel.cap"`) elsewhere, as the module at the Rust path `path`
    /// (`"crate::caps"`): its items, and those of the files it imports, are
    /// named through `pub use path::*;` instead of being generated again,
    /// as prost-build's `extern_path`. A wrong extern fails the build with
    /// E0620–E0623.
    pub fn extern_path(mut self, spec: impl Into<String>, path: impl Into<String>) -> Builder {
        self.options.externs.push(backend::Extern {
            spec: spec.into(),
            path: path.into(),
        });
        self
    }

    /// Where to write (default: `OUT_DIR`).
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.out_dir = Some(dir.into());
        self
    }

    /// Writes `<stem>.rs` (or `<stem>.h`) for every spec and prints `cargo:rerun-if-changed`
    /// for every file read. Returns the files written.
    pub fn compile(&self) -> Result<Vec<PathBuf>, BuildError> {
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()),
        };
        let mut written = Vec::new();
        for spec in &self.specs {
            println!("cargo:rerun-if-changed={}", spec.display());
            let result = match self.lang {
                Lang::Rust => render_spec(spec, &self.options),
                Lang::C => render_c_header(spec, &self.options.configuration),
            };
            // Imports are tracked even when the spec has errors, so fixing
            // an imported file reruns the build.
            let imports = match &result {
                Ok((_, compilation)) => &compilation.paths[1..],
                Err(BuildError::Spec { paths, .. } | BuildError::CHeader { paths, .. }) => {
                    paths.get(1..).unwrap_or_default()
                }
                Err(_) => &[],
            };
            for path in imports {
                println!("cargo:rerun-if-changed={}", path.display());
            }
            let (text, _) = result?;
            let stem = spec.file_stem().unwrap_or_default().to_string_lossy();
            let extension = match self.lang {
                Lang::Rust => "rs",
                Lang::C => "h",
            };
            let out = out_dir.join(format!("{stem}.{extension}"));
            std::fs::write(&out, text).map_err(|error| BuildError::Write {
                path: out.clone(),
                error,
            })?;
            written.push(out);
        }
        Ok(written)
    }

    /// [`Builder::compile`] for build scripts: on error, prints the
    /// diagnostics and exits with status 1 (no panic backtrace).
    pub fn run(&self) {
        if let Err(e) = self.compile() {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
