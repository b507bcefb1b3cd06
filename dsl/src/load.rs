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

/// Texts held in memory in front of another loader (a language server's
/// open buffers in front of the file system): a file held here is read
/// from here, any other from the loader behind. Files are matched by that
/// loader's [`SourceLoader::identity`], so an import reaches a held file by
/// whatever path it is written.
#[derive(Clone, Debug, Default)]
pub struct OverlayLoader<L> {
    base: L,
    files: BTreeMap<PathBuf, String>,
}

impl<L: SourceLoader> OverlayLoader<L> {
    /// Nothing held yet: every file is read from `base`.
    pub fn new(base: L) -> OverlayLoader<L> {
        OverlayLoader {
            base,
            files: BTreeMap::new(),
        }
    }

    /// Holds `text` as the file at `path` (replacing what was held for it).
    pub fn insert(&mut self, path: &Path, text: impl Into<String>) {
        self.files.insert(self.base.identity(path), text.into());
    }

    /// [`OverlayLoader::insert`], by value.
    pub fn with(mut self, path: &Path, text: impl Into<String>) -> OverlayLoader<L> {
        self.insert(path, text);
        self
    }
}

impl<L: SourceLoader> SourceLoader for OverlayLoader<L> {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        match self.files.get(&self.base.identity(path)) {
            Some(text) => Ok(text.clone().into_bytes()),
            None => self.base.read(path),
        }
    }

    fn identity(&self, path: &Path) -> PathBuf {
        self.base.identity(path)
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
    /// Which file imports which, `(importer, imported)`, each `use` that
    /// was read once, in the order read (an import of a file loaded already
    /// is an edge too).
    pub imports: Vec<(FileId, FileId)>,
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
                if let Some(&known) = self.by_path.get(&self.loader.identity(&target)) {
                    if !self.loaded.imports.contains(&(id, known)) {
                        self.loaded.imports.push((id, known));
                    }
                    continue;
                }
                match read_text(self.loader, &target) {
                    Ok(text) => {
                        // The next file added is the one imported.
                        let imported = FileId(self.loaded.sources.len() as u32);
                        self.loaded.imports.push((id, imported));
                        self.visit(target, text);
                    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A held file is read instead of the one behind it, by whatever path
    /// the import reaches it; other files still come from behind.
    #[test]
    fn an_overlay_is_read_before_the_loader_behind_it() {
        let base = MemoryLoader::new()
            .with("dir/main.cap", "use \"lib/a.cap\";\nuse \"b.cap\";\n")
            .with("dir/lib/a.cap", "const A = 1;\n")
            .with("dir/b.cap", "const B = 2;\n");
        let overlay = OverlayLoader::new(base).with(Path::new("dir/./lib/a.cap"), "const A = 3;\n");
        let loaded = load(Path::new("dir/main.cap"), &overlay).unwrap();
        let texts: Vec<(&str, &str)> = (0..loaded.sources.len())
            .map(|i| {
                let id = FileId(i as u32);
                (loaded.sources.name(id), loaded.sources.text(id))
            })
            .collect();
        assert_eq!(
            texts,
            [
                ("dir/main.cap", "use \"lib/a.cap\";\nuse \"b.cap\";\n"),
                ("dir/lib/a.cap", "const A = 3;\n"),
                ("dir/b.cap", "const B = 2;\n"),
            ]
        );
        assert!(loaded.diagnostics.is_empty());
    }
}
