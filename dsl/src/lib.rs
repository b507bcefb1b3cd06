//! The front end of capc: everything between a `.cap` file and the checked
//! model the code generator consumes.
//!
//! The pipeline, one module per pass:
//! [`load`] reads the root spec and its `use` imports into a [`SourceMap`] and
//! parses each with [`parse`] (pest grammar in grammars/cap.pest) into an
//! [`ast::File`]; [`check`] resolves names, evaluates expressions, computes cap
//! layouts and proves the resource rules, producing a [`model::Spec`] and every
//! [`Diagnostic`] it found. The CLI, the build API and the proc macro all call
//! [`compile`]; none has a parser of its own.
#![deny(missing_docs)]

pub mod ast;
pub mod authority;
pub mod bootplan;
pub mod check;
pub mod config;
pub mod diag;
pub mod fmt;
pub mod load;
pub mod model;
pub mod parse;
pub mod source;
pub mod tokens;
pub mod units;

use std::path::{Path, PathBuf};

pub use diag::{Code, Diagnostic, Severity};
pub use load::{FsLoader, MemoryLoader, OverlayLoader, RootError, SourceLoader};
pub use source::{FileId, SourceMap, Span};

/// The examples of the crate's README.md, run as doctests so that they stay
/// true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The result of compiling one spec: its sources, every diagnostic, and the
/// checked model when there was no error.
#[derive(Debug)]
pub struct Compilation {
    /// The text of every file read (to render diagnostics).
    pub sources: SourceMap,
    /// Errors and warnings, in the order found.
    pub diagnostics: Vec<Diagnostic>,
    /// The checked model; `None` when there is any error.
    pub spec: Option<model::Spec>,
    /// Every file read, root first (for rebuild tracking).
    pub paths: Vec<PathBuf>,
}

impl Compilation {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Turns every warning into an error (`--deny-warnings`); the model is
    /// dropped if there was any warning.
    pub fn deny_warnings(&mut self) {
        for d in &mut self.diagnostics {
            d.severity = Severity::Error;
        }
        if !self.diagnostics.is_empty() {
            self.spec = None;
        }
    }

    /// Every diagnostic rendered as plain text, as the CLI prints it.
    pub fn render(&self) -> String {
        self.diagnostics
            .iter()
            .map(|d| diag::render(&self.sources, d))
            .collect()
    }
}

/// Loads, parses and checks the spec at `root` and every file it imports.
///
/// Fails only when `root` itself cannot be read; everything wrong inside a
/// spec (including an unreadable import) is a diagnostic.
pub fn compile(root: &Path, loader: &dyn SourceLoader) -> Result<Compilation, RootError> {
    compile_with(root, loader, &[])
}

/// [`compile`] in the configuration with the options named in `chosen` on
/// and every other off. The spec is checked in every configuration its
/// `#[cfg(...)]` conditions tell apart ([`config`]); the model is the
/// chosen configuration's.
pub fn compile_with(
    root: &Path,
    loader: &dyn SourceLoader,
    chosen: &[String],
) -> Result<Compilation, RootError> {
    let loaded = load::load(root, loader)?;
    let mut diagnostics = loaded.diagnostics;
    let spec = if diagnostics.is_empty() {
        let (spec, found) = config::check_all(&loaded.files, chosen);
        diagnostics.extend(found);
        spec.map(|mut spec| {
            spec.imports = loaded.imports;
            spec
        })
    } else {
        None
    };
    Ok(Compilation {
        sources: loaded.sources,
        diagnostics,
        spec,
        paths: loaded.paths,
    })
}

/// Compiles spec text held in memory under `name` (imports are looked up
/// relative to `name` on the file system).
pub fn compile_str(name: &str, text: &str) -> Compilation {
    let loader = OverlayLoader::new(FsLoader).with(Path::new(name), text);
    compile(Path::new(name), &loader).expect("the root is in memory")
}
