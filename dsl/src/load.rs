//! Loading: the root spec and, transitively, every file it `use`s.
//!
//! Paths in `use` are relative to the importing file. Each file is loaded and
//! parsed once, however often it is imported (import cycles are therefore
//! harmless), and whatever path reaches it: files are told apart by the
//! loader's [`SourceLoader::identity`] (on the file system, the canonical
//! path). Files are named in diagnostics by the path the user gave for the
//! root joined with the relative import paths, never by an absolute path the
//! user did not write. A root that cannot be read is an I/O error for the
//! caller (exit 2); an import that cannot be read is an `E0002` diagnostic at
//! its `use`.

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::ast;
use crate::diag::{Code, Diagnostic};
use crate::parse::parse_file;
use crate::source::{FileId, SourceMap, Span};

/// Where spec text comes from: the file system, or memory in tests.
pub trait SourceLoader {
    /// The bytes of the file at `path`.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;

    /// What tells the file at `path` from others: two paths with the same
    /// identity are one file, loaded once. By default the path with `.`
    /// and `..` folded ([`normalize`]).
    fn identity(&self, path: &Path) -> PathBuf {
        normalize(path)
    }
}

/// Reads specs from the file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct FsLoader;

impl SourceLoader for FsLoader {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    /// The canonical path: `lib/t.cap` and `../dup/lib/t.cap` read from
    /// `dup/` are one file (and so are two names through a symlink).
    fn identity(&self, path: &Path) -> PathBuf {
        std::fs::canonicalize(path).unwrap_or_else(|_| normalize(path))
    }
}

/// Specs held in memory, keyed by path (for tests and the fuzzer).
#[derive(Clone, Debug, Default)]
pub struct MemoryLoader {
    files: BTreeMap<PathBuf, String>,
}

impl MemoryLoader {
    /// An empty set of files.
    pub fn new() -> MemoryLoader {
        MemoryLoader::default()
    }

    /// Adds a file.
    pub fn with(mut self, path: impl Into<PathBuf>, text: impl Into<String>) -> MemoryLoader {
        self.files.insert(normalize(&path.into()), text.into());
        self
    }
}

impl SourceLoader for MemoryLoader {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.files
            .get(&normalize(path))
            .map(|t| t.clone().into_bytes())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))
    }
}

/// Every file of one compilation, parsed.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The text of every file read.
    pub sources: SourceMap,
    /// The parsed files in declaration order: a file's imports (in `use`
    /// order, recursively) before the file itself, so the root comes last.
    pub files: Vec<(FileId, ast::File)>,
    /// Every path read, root first (for `rerun-if-changed` and `include_str!`).
    pub paths: Vec<PathBuf>,
    /// Syntax and import errors.
    pub diagnostics: Vec<Diagnostic>,
}

/// Why the root spec could not be read at all.
#[derive(Debug)]
pub struct RootError {
    /// The path as given.
    pub path: PathBuf,
    /// What went wrong, in words.
    pub message: String,
}

impl std::fmt::Display for RootError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot read `{}`: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for RootError {}

/// Loads and parses `root` and everything it imports.
pub fn load(root: &Path, loader: &dyn SourceLoader) -> Result<Loaded, RootError> {
    let text = read_text(loader, root).map_err(|message| RootError {
        path: root.to_path_buf(),
        message,
    })?;
    let mut state = LoadState {
        loader,
        loaded: Loaded::default(),
        by_path: BTreeMap::new(),
    };
    state.visit(normalize(root), text);
    Ok(state.loaded)
}

struct LoadState<'l> {
    loader: &'l dyn SourceLoader,
    loaded: Loaded,
    by_path: BTreeMap<PathBuf, FileId>,
}

impl LoadState<'_> {
    /// Adds and parses one file, then its imports in `use` order, then
    /// records the file: imports come before their importer (post-order).
    fn visit(&mut self, path: PathBuf, text: String) {
        let id = self
            .loaded
            .sources
            .add(path.to_string_lossy().replace('\\', "/"), text);
        self.by_path.insert(self.loader.identity(&path), id);
        self.loaded.paths.push(path.clone());
        let file = match parse_file(id, self.loaded.sources.text(id)) {
            Ok(file) => file,
            Err(diagnostic) => {
                self.loaded.diagnostics.push(diagnostic);
                return;
            }
        };
        for item in &file.items {
            if let ast::ItemKind::Use(u) = &item.kind {
                let target = normalize(&path.parent().unwrap_or(Path::new("")).join(&u.path));
                // Loaded already, or being loaded further up (an import
                // cycle, which is harmless: every file is read once).
                if self.by_path.contains_key(&self.loader.identity(&target)) {
                    continue;
                }
                match read_text(self.loader, &target) {
                    Ok(text) => self.visit(target, text),
                    Err(message) => self.loaded.diagnostics.push(import_error(
                        u.path_span,
                        &u.path,
                        &target,
                        &message,
                    )),
                }
            }
        }
        self.loaded.files.push((id, file));
    }
}

fn import_error(span: Span, written: &str, resolved: &Path, message: &str) -> Diagnostic {
    Diagnostic::new(
        Code::ImportUnreadable,
        span,
        format!("cannot read imported file `{written}`"),
    )
    .label(message.to_string())
    .note(format!("looked for `{}`", resolved.display()))
    .help("import paths are relative to the file that contains the `use`")
}

fn read_text(loader: &dyn SourceLoader, path: &Path) -> Result<String, String> {
    let bytes = loader.read(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => "no such file".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ if path.is_dir() => "it is a directory".to_string(),
        _ => e.to_string(),
    })?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "not valid UTF-8 (first bad byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Removes `.` and folds `..` lexically, so one file has one name.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}
