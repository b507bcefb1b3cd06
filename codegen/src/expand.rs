//! What the proc macros in `capc-macros` do, as plain functions (a
//! proc-macro crate cannot export anything else, and plain functions can be
//! tested directly).
//!
//! Both macros read specs relative to the using crate's `CARGO_MANIFEST_DIR`
//! and go through the same front end and backend as the CLI and the
//! [`crate::Builder`]. Errors come back as the rendered diagnostics, one
//! string each, exactly as `capc check` prints them; the macros turn each
//! into a `compile_error!`.

use std::path::{Path, PathBuf};

use capc_dsl::model::Spec;
use capc_dsl::{Compilation, SourceLoader, diag};
use proc_macro2::TokenStream;
use quote::quote;

use crate::backend::{self, Options};

/// Reads paths relative to a crate's directory, so diagnostics name files
/// as the user wrote them.
struct CrateLoader<'a>(&'a Path);

impl SourceLoader for CrateLoader<'_> {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.0.join(path))
    }
}

/// Compiles `spec` (relative to `manifest_dir`); on failure returns every
/// rendered error (or the reason the file cannot be read).
pub fn compile_in_crate(manifest_dir: &Path, spec: &str) -> Result<Compilation, Vec<String>> {
    compile_configured(manifest_dir, spec, &[])
}

/// [`compile_in_crate`] in the configuration with the options in
/// `configuration` on.
pub fn compile_configured(
    manifest_dir: &Path,
    spec: &str,
    configuration: &[String],
) -> Result<Compilation, Vec<String>> {
    let compilation =
        capc_dsl::compile_with(Path::new(spec), &CrateLoader(manifest_dir), configuration)
            .map_err(|e| vec![format!("{e} (paths are relative to CARGO_MANIFEST_DIR)")])?;
    if compilation.has_errors() {
        let errors = compilation
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| diag::render(&compilation.sources, d))
            .collect();
        return Err(errors);
    }
    Ok(compilation)
}

/// The expansion of `include_spec!(spec, options)`: the generated module's
/// items, then one `include_str!` per file read so that cargo rebuilds the
/// crate when the spec or any import changes.
pub fn include_spec(
    manifest_dir: &Path,
    spec: &str,
    options: &Options,
) -> Result<TokenStream, Vec<String>> {
    let compilation = compile_configured(manifest_dir, spec, &options.configuration)?;
    let model: &Spec = compilation.spec.as_ref().expect("no errors");
    let wrong = backend::check_options(model, &compilation.sources, options);
    if !wrong.is_empty() {
        return Err(wrong
            .iter()
            .map(|d| diag::render(&compilation.sources, d))
            .collect());
    }
    let items = backend::generate(model, &compilation.sources, options);
    let tracked = compilation.paths.iter().map(|p| {
        let absolute: PathBuf = manifest_dir.join(p);
        let absolute = absolute.to_string_lossy().into_owned();
        quote!(
            const _: &str = include_str!(#absolute);
        )
    });
    Ok(quote! {
        #items
        #(#tracked)*
    })
}

/// What `#[derive(KernelObject)]` needs from the spec: the object's number
/// and log2 size for a size argument, or a rendered error.
pub struct ObjectFacts {
    /// Its variant name in the generated `ObjectType`.
    pub name: String,
    /// log2 of its size in bytes.
    pub size_bits: u32,
    /// log2 of its alignment.
    pub align_bits: u32,
    /// Bytes at its end taken by the capability slots it owns (0 for none):
    /// the kernel's struct must fit before them.
    pub slot_bytes: u64,
    /// `file.cap:line` where it is declared.
    pub location: String,
}

/// Looks `object` (with size argument `arg`, 0 for fixed-size types) up in
/// the spec; errors are user-facing messages.
pub fn object_facts(
    manifest_dir: &Path,
    spec: &str,
    object: &str,
    arg: Option<u64>,
) -> Result<ObjectFacts, Vec<String>> {
    let compilation = compile_in_crate(manifest_dir, spec)?;
    let model = compilation.spec.as_ref().expect("no errors");
    let Some(id) = model.object(object) else {
        let names: Vec<&str> = model.objects.iter().map(|o| o.name.as_str()).collect();
        let hint = match diag::closest(object, names.iter().copied()) {
            Some(c) => format!("did you mean `{c}`?"),
            None => format!("the object types are {}", names.join(", ")),
        };
        return Err(vec![format!(
            "unknown object type `{object}` in `{spec}`; {hint}"
        )]);
    };
    let o = &model.objects[id.index()];
    let arg = match (arg, &o.size.param) {
        (Some(a), Some(_)) => a,
        (None, None) => 0,
        (None, Some(p)) => {
            return Err(vec![format!(
                "`{object}` takes a size argument `{p}` ({}..={}): write `#[kernel_object({object}({}), spec = \"{spec}\")]`",
                o.size.min_arg(),
                o.size.max_arg(),
                o.size.min_arg()
            )]);
        }
        (Some(_), None) => {
            return Err(vec![format!(
                "`{object}` has a fixed size and takes no size argument"
            )]);
        }
    };
    let Some(size_bits) = o.size.size_bits(arg) else {
        return Err(vec![format!(
            "`{object}({arg})` is not a valid size: the argument must be in {}..={}",
            o.size.min_arg(),
            o.size.max_arg()
        )]);
    };
    let location = {
        let name = compilation.sources.name(o.span.file);
        let (line, _) = compilation
            .sources
            .line_col(o.span.file, o.span.start as usize);
        format!("{name}:{line}")
    };
    // Slots lie at the end of the object: the first one's offset is what
    // is left for the kernel's own struct.
    let slot_bytes = o
        .slots
        .first()
        .map_or(0, |s| (1u64 << size_bits) - s.offset);
    Ok(ObjectFacts {
        name: o.name.clone(),
        size_bits,
        align_bits: o.align_bits_for(size_bits),
        slot_bytes,
        location,
    })
}
