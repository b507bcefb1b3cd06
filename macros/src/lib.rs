//! Proc macros of capc, for kernels that include their spec inline.
//!
//! - `include_spec!("spec/kernel.cap")` expands to exactly the module
//!   `capc build` writes (same front end, same backend), and makes cargo
//!   rebuild the crate when the spec or any file it imports changes.
//! - `#[derive(KernelObject)]` with `#[kernel_object(Tcb, spec = "spec/kernel.cap")]`
//!   binds a kernel's own struct to an object type of the spec and proves at
//!   compile time that the struct fits the object's size and alignment.
//!
//! Neither macro panics: every problem becomes a `compile_error!` whose text
//! is the diagnostic `capc check` prints. Paths are relative to the using
//! crate's `CARGO_MANIFEST_DIR`.

use std::path::PathBuf;

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::{DeriveInput, Ident, LitBool, LitInt, LitStr, Token};

/// `"path"` followed by `, clients = bool` / `, servers = bool` /
/// `, cfg(mcs, smp)` (the configuration options turned on) /
/// `, extern_path("kernel.cap" = crate::caps)` (an imported spec generated
/// elsewhere, and its module) / `, side = kernel` (or `user`, `both`).
struct IncludeArgs {
    path: LitStr,
    options: capc::Options,
}

impl Parse for IncludeArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<IncludeArgs> {
        let path: LitStr = input.parse()?;
        let mut options = capc::Options::default();
        while input.peek(Token![,]) {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let key: Ident = input.parse()?;
            if key == "cfg" && input.peek(syn::token::Paren) {
                let content;
                syn::parenthesized!(content in input);
                let names =
                    syn::punctuated::Punctuated::<Ident, Token![,]>::parse_terminated(&content)?;
                options
                    .configuration
                    .extend(names.iter().map(|n| n.to_string()));
                continue;
            }
            if key == "extern_path" && input.peek(syn::token::Paren) {
                let content;
                syn::parenthesized!(content in input);
                let spec: LitStr = content.parse()?;
                content.parse::<Token![=]>()?;
                let path: syn::Path = content.parse()?;
                if !content.is_empty() {
                    return Err(content.error(
                        "expected `extern_path(\"file.cap\" = path::to::module)`: one file and one path",
                    ));
                }
                options.externs.push(capc::backend::Extern {
                    spec: spec.value(),
                    path: quote!(#path).to_string(),
                });
                continue;
            }
            if key == "side" {
                input.parse::<Token![=]>()?;
                let side: Ident = input.parse()?;
                options.side = match side.to_string().as_str() {
                    "both" => capc::backend::Side::Both,
                    "kernel" => capc::backend::Side::Kernel,
                    "user" => capc::backend::Side::User,
                    other => {
                        return Err(syn::Error::new(
                            side.span(),
                            format!(
                                "unknown side `{other}`; the sides are `kernel`, `user` and `both`"
                            ),
                        ));
                    }
                };
                continue;
            }
            input.parse::<Token![=]>()?;
            let value: LitBool = input.parse()?;
            match key.to_string().as_str() {
                "clients" => options.clients = value.value,
                "servers" => options.servers = value.value,
                other => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown option `{other}`; the options are `clients = bool`, `servers = bool`, `side = kernel|user|both`, `cfg(option, ...)` and `extern_path(\"file.cap\" = path::to::module)`"
                        ),
                    ));
                }
            }
        }
        Ok(IncludeArgs { path, options })
    }
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default())
}

/// One `compile_error!` per message, spanned at `span`.
fn errors(span: Span, messages: Vec<String>) -> TokenStream {
    let errors = messages
        .iter()
        .map(|m| quote_spanned!(span=> ::core::compile_error!(#m);));
    quote!(#(#errors)*).into()
}

/// Includes the module generated from a `.cap` spec.
///
/// ```ignore
/// mod caps {
///     capc_macros::include_spec!("spec/kernel.cap", servers = false);
/// }
/// mod sel4 {
///     // The spec's configuration with its `mcs` option on (`config { mcs, smp }`).
///     capc_macros::include_spec!("spec/sel4.cap", cfg(mcs));
/// }
/// mod service {
///     // Only the service's own items: kernel.cap's come from `crate::caps`.
///     capc_macros::include_spec!("spec/service.cap", extern_path("kernel.cap" = crate::caps));
/// }
/// ```
#[proc_macro]
pub fn include_spec(input: TokenStream) -> TokenStream {
    let args = match syn::parse::<IncludeArgs>(input) {
        Ok(args) => args,
        Err(e) => return e.to_compile_error().into(),
    };
    match capc::expand::include_spec(&manifest_dir(), &args.path.value(), &args.options) {
        Ok(tokens) => tokens.into(),
        Err(messages) => errors(args.path.span(), messages),
    }
}

/// `Object` or `Object(arg)`, then `, spec = "path"`.
struct ObjectArgs {
    object: Ident,
    arg: Option<u64>,
    spec: LitStr,
}

impl Parse for ObjectArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<ObjectArgs> {
        let object: Ident = input.parse()?;
        let arg = if input.peek(syn::token::Paren) {
            let content;
            syn::parenthesized!(content in input);
            Some(content.parse::<LitInt>()?.base10_parse()?)
        } else {
            None
        };
        input.parse::<Token![,]>()?;
        let key: Ident = input.parse()?;
        if key != "spec" {
            return Err(syn::Error::new(
                key.span(),
                "expected `spec = \"path/to/spec.cap\"`",
            ));
        }
        input.parse::<Token![=]>()?;
        let spec: LitStr = input.parse()?;
        let _ = input.parse::<Option<Token![,]>>()?;
        Ok(ObjectArgs { object, arg, spec })
    }
}

/// Implements the generated `KernelObject` trait for a struct and checks at
/// compile time that it fits the spec's object, before the capability slots
/// the object owns (which lie at its end). `KernelObject` and
/// `ObjectType` from the generated module must be in scope.
///
/// ```ignore
/// #[derive(KernelObject)]
/// #[kernel_object(Tcb, spec = "spec/kernel.cap")]
/// struct Tcb { registers: [u64; 32] }
/// ```
#[proc_macro_derive(KernelObject, attributes(kernel_object))]
pub fn derive_kernel_object(input: TokenStream) -> TokenStream {
    let input = match syn::parse::<DeriveInput>(input) {
        Ok(input) => input,
        Err(e) => return e.to_compile_error().into(),
    };
    let name = &input.ident;
    match &input.data {
        syn::Data::Struct(_) => {}
        _ => {
            return errors(
                name.span(),
                vec![format!(
                    "`#[derive(KernelObject)]` only works on structs: `{name}` is not one"
                )],
            );
        }
    }
    if !input.generics.params.is_empty() {
        return errors(
            input.generics.params[0].span_start(),
            vec![format!(
                "`#[derive(KernelObject)]` needs a struct without generics: a kernel object has one size"
            )],
        );
    }
    let Some(attr) = input
        .attrs
        .iter()
        .find(|a| a.path().is_ident("kernel_object"))
    else {
        return errors(
            name.span(),
            vec![format!(
                "`#[derive(KernelObject)]` on `{name}` needs `#[kernel_object(ObjectName, spec = \"path/to/spec.cap\")]`"
            )],
        );
    };
    let args = match attr.parse_args::<ObjectArgs>() {
        Ok(args) => args,
        Err(e) => return e.to_compile_error().into(),
    };
    let facts = match capc::expand::object_facts(
        &manifest_dir(),
        &args.spec.value(),
        &args.object.to_string(),
        args.arg,
    ) {
        Ok(facts) => facts,
        Err(messages) => return errors(args.object.span(), messages),
    };
    let variant = Ident::new(&facts.name, args.object.span());
    let size_bits = facts.size_bits;
    let align_bits = facts.align_bits;
    let size = 1u64 << size_bits;
    let align = 1u64 << align_bits;
    let too_large = if facts.slot_bytes == 0 {
        format!(
            "`{name}` does not fit in the spec's `{}` object ({} gives it {size} bytes, 2^{size_bits}); shrink the struct or enlarge the object in the spec",
            facts.name, facts.location
        )
    } else {
        format!(
            "`{name}` does not fit in the spec's `{}` object before its owned slots ({} gives it {size} bytes, 2^{size_bits}, the last {} of them its owned slots); shrink the struct or enlarge the object in the spec",
            facts.name, facts.location, facts.slot_bytes
        )
    };
    let over_aligned = format!(
        "`{name}` needs more alignment than the spec's `{}` object has ({} gives it {align} bytes, 2^{align_bits})",
        facts.name, facts.location
    );
    // The struct lies at the start of the object, its owned slots at the end.
    let size = (size - facts.slot_bytes) as usize;
    let align = align as usize;
    let span = name.span();
    // The sizes are const generic arguments so that rustc's error names both:
    // "evaluation of `Fits::<32, 16>::OK` failed". `let () =` forces the
    // evaluation without a path statement, which `#[warn(path_statements)]`
    // (and so `clippy -D warnings` in the using crate) would reject.
    quote_spanned! {span=>
        impl KernelObject for #name {
            const OBJECT_TYPE: ObjectType = ObjectType::#variant;
            const SIZE_BITS: u32 = #size_bits;
        }
        const _: () = {
            struct Fits<const STRUCT_BYTES: usize, const OBJECT_BYTES: usize>;
            impl<const STRUCT_BYTES: usize, const OBJECT_BYTES: usize> Fits<STRUCT_BYTES, OBJECT_BYTES> {
                const SIZE_OK: () = assert!(STRUCT_BYTES <= OBJECT_BYTES, #too_large);
                const ALIGN_OK: () = assert!(STRUCT_BYTES <= OBJECT_BYTES, #over_aligned);
            }
            let () = Fits::<{ ::core::mem::size_of::<#name>() }, #size>::SIZE_OK;
            let () = Fits::<{ ::core::mem::align_of::<#name>() }, #align>::ALIGN_OK;
        };
    }
    .into()
}

trait SpanStart {
    fn span_start(&self) -> Span;
}

impl SpanStart for syn::GenericParam {
    fn span_start(&self) -> Span {
        match self {
            syn::GenericParam::Lifetime(l) => l.lifetime.span(),
            syn::GenericParam::Type(t) => t.ident.span(),
            syn::GenericParam::Const(c) => c.ident.span(),
        }
    }
}
