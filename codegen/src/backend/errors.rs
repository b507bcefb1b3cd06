//! Error sets whose payloads have types (an RPC's: `BadLength(len: u32)`,
//! `Sprot(inner: SprotError)`), and the [`Wire`] impl of every set nested
//! in another's payload.
//!
//! A typed set's enum has the API of a word set's (`number`, `encode`,
//! `decode`, `reply`); its payload is laid out as the checked model says
//! (`ErrorVariant::payload_types`): the values packed from byte 0 of the
//! reply's words, a bare name as a `u64`, the rest of the last word zero.
//! A nested set is laid out as an enum: its variant's index in
//! `discriminant_bytes`, then the payload, then zeros to its `bytes`.

use capc_dsl::model::{ErrorSet, PayloadTy, Spec};
use proc_macro2::TokenStream;
use quote::quote;

use super::{Gen, data, doc_lines, ident, lit};

/// Whether some error set's payload has types or nests another set: the
/// generated module then needs the `Wire` code.
pub fn needed(spec: &Spec) -> bool {
    spec.error_sets.iter().any(|s| s.typed)
}

/// Whether `set` is nested in some set's payload, and so needs `Wire`.
fn nested(spec: &Spec, set: &ErrorSet) -> bool {
    spec.error_sets
        .iter()
        .flat_map(|s| &s.variants)
        .flat_map(|v| &v.payload_types)
        .any(|(t, _)| matches!(t, PayloadTy::Errors(id) if spec.error_sets[id.index()].name == set.name))
}

/// Whether an error of `set` holds a float, however deeply nested.
fn has_float(spec: &Spec, set: &ErrorSet) -> bool {
    // Sets nest without cycles (the checker refuses one).
    set.variants
        .iter()
        .flat_map(|v| &v.payload_types)
        .any(|(t, _)| match t {
            PayloadTy::Word => false,
            PayloadTy::Data(ty) => ty.has_float(&spec.data_types),
            PayloadTy::Errors(id) => has_float(spec, &spec.error_sets[id.index()]),
        })
}

/// The Rust type of a payload value.
pub fn payload_ty(spec: &Spec, t: &PayloadTy) -> TokenStream {
    match t {
        PayloadTy::Word => quote!(u64),
        PayloadTy::Data(ty) => data::rust_ty(ty, &spec.data_types),
        PayloadTy::Errors(id) => {
            let n = ident(&spec.error_sets[id.index()].name);
            quote!(#n)
        }
    }
}

/// The binding of a variant's `k`th payload value in a pattern (not its
/// name, which may be `msg`, `words` or `at`).
fn binding(k: usize) -> proc_macro2::Ident {
    quote::format_ident!("value{}", k)
}

/// A pattern binding a variant's payload values to [`binding`]s.
fn bound(v: &capc_dsl::model::ErrorVariant, ty: TokenStream) -> TokenStream {
    let vname = ident(&v.name);
    if v.payload.is_empty() {
        return quote!(#ty::#vname);
    }
    let fields = v.payload.iter().enumerate().map(|(k, p)| {
        let f = ident(p);
        let b = binding(k);
        quote!(#f: #b)
    });
    quote!(#ty::#vname { #(#fields),* })
}

/// `at`, or `at + offset`.
fn at_plus(base: &TokenStream, offset: u64) -> TokenStream {
    if offset == 0 {
        base.clone()
    } else {
        let n = lit(offset);
        quote!(#base + #n)
    }
}

/// The enum and inherent impl of a typed error set (`doc` its docs).
pub fn typed_set(g: &Gen<'_>, set: &ErrorSet, doc: TokenStream) -> TokenStream {
    let spec = g.spec;
    let name = ident(&set.name);
    let decls = set.variants.iter().enumerate().map(|(i, v)| {
        let mut lines = if v.docs.is_empty() {
            vec![format!("The `{}` error.", v.name)]
        } else {
            v.docs.clone()
        };
        lines.push(String::new());
        lines.push(if v.payload.is_empty() {
            format!("Number {}; no payload.", i + 1)
        } else {
            format!(
                "Number {}; its payload, {} bytes from byte 0 of the reply's words, the rest of the last word zero.",
                i + 1,
                v.payload_bytes
            )
        });
        let vdoc = doc_lines(&lines);
        let vname = ident(&v.name);
        if v.payload.is_empty() {
            return quote!(#vdoc #vname);
        }
        let fields = v.payload.iter().zip(&v.payload_types).map(|(p, (t, at))| {
            let f = ident(p);
            let ty = payload_ty(spec, t);
            let fdoc = format!(" On the wire: a `{}` at byte {at}.", t.spelling(spec));
            quote!(#[doc = #fdoc] #f: #ty)
        });
        quote!(#vdoc #vname { #(#fields),* })
    });
    let pattern = |i: usize| bound(&set.variants[i], quote!(Self));
    let numbers = set.variants.iter().enumerate().map(|(i, v)| {
        let vname = ident(&v.name);
        let n = lit(i as u64 + 1);
        if v.payload.is_empty() {
            quote!(Self::#vname => #n)
        } else {
            quote!(Self::#vname { .. } => #n)
        }
    });
    let at = quote!(0);
    let encodes = set.variants.iter().enumerate().map(|(i, v)| {
        let p = pattern(i);
        let writes = v.payload_types.iter().enumerate().map(|(k, (_, off))| {
            let f = binding(k);
            let at = at_plus(&at, *off);
            quote!(#f.write_words(msg, #at);)
        });
        let words = v.payload_bytes.div_ceil(8);
        let pad = words * 8 - v.payload_bytes;
        let clear = (pad > 0).then(|| {
            let from = lit(v.payload_bytes);
            let pad = lit(pad);
            quote!(rpc_bytes::clear(msg, #from, #pad);)
        });
        let words = lit(words);
        quote!(#p => { #(#writes)* #clear #words })
    });
    let decodes = set.variants.iter().enumerate().map(|(i, v)| {
        let n = lit(i as u64 + 1);
        let vname = ident(&v.name);
        let words = v.payload_bytes.div_ceil(8);
        let pad = words * 8 - v.payload_bytes;
        let guard = (pad > 0).then(|| {
            let from = lit(v.payload_bytes);
            let pad = lit(pad);
            quote!(if rpc_bytes::zeroed(msg, #from, #pad))
        });
        if v.payload.is_empty() {
            return quote!(#n => Some(Self::#vname),);
        }
        let reads = v.payload.iter().zip(&v.payload_types).map(|(f, (t, off))| {
            let f = ident(f);
            let ty = payload_ty(spec, t);
            let at = at_plus(&at, *off);
            quote!(#f: <#ty as Wire>::read_words(msg, #at)?)
        });
        quote!(#n #guard => Some(Self::#vname { #(#reads),* }),)
    });
    let checks = set.variants.iter().map(|v| {
        let tys = v
            .payload_types
            .iter()
            .map(|(t, _)| payload_ty(spec, t))
            .collect();
        data::layout_check(
            &format!("{}::{}", set.name, v.name),
            tys,
            0,
            v.payload_bytes,
        )
    });
    let (number_body, encode_body, decode_body) = if set.variants.is_empty() {
        (
            quote!(match *self {}),
            quote! {
                let _ = msg;
                match *self {}
            },
            quote! {
                let _ = (number, msg);
                None
            },
        )
    } else {
        (
            quote!(match self { #(#numbers,)* }),
            quote!(match *self { #(#encodes)* }),
            quote! {
                match number {
                    #(#decodes)*
                    _ => None,
                }
            },
        )
    };
    let wire = nested(spec, set).then(|| wire_impl(g, set));
    let derives = data::derives(has_float(spec, set));
    quote! {
        #doc
        #derives
        #[allow(non_camel_case_types)]
        pub enum #name {
            #(#decls,)*
        }

        impl #name {
            /// The error's number: its position in the set, from 1 (0 means
            /// success). It is the label of a reply carrying the error.
            pub const fn number(&self) -> u64 {
                #number_body
            }

            /// Writes the payload into `msg` (which must be long enough for
            /// it), laid out as message values are (see [`Wire`]) with the
            /// rest of its last word zero, and returns the words written.
            pub fn encode(&self, msg: &mut [u64]) -> usize {
                #encode_body
            }

            /// The error with this number, its payload read from the first
            /// words of `msg` (further words are ignored). `None` for 0
            /// (success), a number outside the set, a `msg` shorter than the
            /// payload, or a payload that is not a value of its types.
            pub fn decode(number: u64, msg: &[u64]) -> Option<Self> {
                #decode_body
            }

            /// The reply carrying this error: writes the payload into `msg`
            /// and returns the header (label = number, no caps).
            pub fn reply(&self, msg: &mut [u64]) -> MessageInfo {
                MessageInfo {
                    label: self.number(),
                    length: self.encode(msg),
                    caps: 0,
                }
            }
        }

        #(#checks)*
        #wire
    }
}

/// The [`Wire`] impl of a set nested in another's payload, for a word set
/// too (its enum's variants have named `u64` fields either way).
pub fn nested_wire(g: &Gen<'_>, set: &ErrorSet) -> TokenStream {
    if set.typed || !nested(g.spec, set) {
        return TokenStream::new();
    }
    wire_impl(g, set)
}

fn wire_impl(g: &Gen<'_>, set: &ErrorSet) -> TokenStream {
    let spec = g.spec;
    let name = ident(&set.name);
    let bytes = lit(set.bytes);
    let d = lit(set.discriminant_bytes);
    let base = quote!(at);
    let first = &set.variants[0];
    let first_name = ident(&first.name);
    let zero = if first.payload.is_empty() {
        quote!(#name::#first_name)
    } else {
        let zeros = first
            .payload
            .iter()
            .zip(&first.payload_types)
            .map(|(f, (t, _))| {
                let f = ident(f);
                let ty = payload_ty(spec, t);
                quote!(#f: <#ty as Wire>::ZERO)
            });
        quote!(#name::#first_name { #(#zeros),* })
    };
    let writes = set.variants.iter().enumerate().map(|(k, v)| {
        let pattern = bound(v, quote!(#name));
        let fields: Vec<_> = (0..v.payload.len()).map(binding).collect();
        let values = v.payload_types.iter().zip(&fields).map(|((_, off), f)| {
            let at = at_plus(&base, set.discriminant_bytes + off);
            quote!(#f.write_words(words, #at);)
        });
        let end = set.discriminant_bytes + v.payload_bytes;
        let rest = set.bytes - end;
        let clear = (rest > 0).then(|| {
            let at = at_plus(&base, end);
            let rest = lit(rest);
            quote!(rpc_bytes::clear(words, #at, #rest);)
        });
        let k = lit(k as u64);
        quote! {
            #pattern => {
                rpc_bytes::put(words, at, #d, #k);
                #(#values)*
                #clear
            }
        }
    });
    let reads = set.variants.iter().enumerate().map(|(k, v)| {
        let vname = ident(&v.name);
        let k = lit(k as u64);
        let end = set.discriminant_bytes + v.payload_bytes;
        let rest = set.bytes - end;
        let guard = (rest > 0).then(|| {
            let at = at_plus(&base, end);
            let rest = lit(rest);
            quote!(if rpc_bytes::zeroed(words, #at, #rest))
        });
        let value = if v.payload.is_empty() {
            quote!(#name::#vname)
        } else {
            let values = v.payload.iter().zip(&v.payload_types).map(|(f, (t, off))| {
                let f = ident(f);
                let ty = payload_ty(spec, t);
                let at = at_plus(&base, set.discriminant_bytes + off);
                quote!(#f: <#ty as Wire>::read_words(words, #at)?)
            });
            quote!(#name::#vname { #(#values),* })
        };
        quote!(#k #guard => Some(#value),)
    });
    let doc = format!(
        " `{}` nested in another error's payload: the variant's index (its number - 1) in {} byte(s), then its payload, then zeros to {} bytes.",
        set.name, set.discriminant_bytes, set.bytes
    );
    let enum_wire = super::data::enum_wire(&name, &bytes, &zero, &d, writes, reads);
    quote! {
        #[doc = #doc]
        #enum_wire
    }
}
