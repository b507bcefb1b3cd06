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
    let compilation = capc_dsl::compile(path, &FsLoader).map_err(BuildError::Unreadable)?;
    match &compilation.spec {
        Some(spec) => {
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

/// Generates Rust modules from specs in a build script.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    specs: Vec<PathBuf>,
    options: Options,
    out_dir: Option<PathBuf>,
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

    /// Where to write (default: `OUT_DIR`).
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.out_dir = Some(dir.into());
        self
    }

    /// Writes `<stem>.rs` for every spec and prints `cargo:rerun-if-changed`
    /// for every file read. Returns the files written.
    pub fn compile(&self) -> Result<Vec<PathBuf>, BuildError> {
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()),
        };
        let mut written = Vec::new();
        for spec in &self.specs {
            println!("cargo:rerun-if-changed={}", spec.display());
            let result = render_spec(spec, &self.options);
            // Imports are tracked even when the spec has errors, so fixing
            // an imported file reruns the build.
            let imports = match &result {
                Ok((_, compilation)) => &compilation.paths[1..],
                Err(BuildError::Spec { paths, .. }) => paths.get(1..).unwrap_or_default(),
                Err(_) => &[],
            };
            for path in imports {
                println!("cargo:rerun-if-changed={}", path.display());
            }
            let (text, _) = result?;
            let stem = spec.file_stem().unwrap_or_default().to_string_lossy();
            let out = out_dir.join(format!("{stem}.rs"));
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
