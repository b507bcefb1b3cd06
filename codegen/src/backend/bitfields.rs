//! Bitfields (`bitfield Name { ... }`): one Rust struct per bitfield with
//! a checked constructor, one getter per field, and `words`/`from_words`,
//! the packing the invocation wire code uses for a parameter or result of
//! the bitfield's type. Each field lies at the word and bits the checker
//! placed it; bits no field holds are 0 in `words` and, unless the
//! bitfield is `#[strict]`, ignored by `from_words`.

use capc_dsl::model::{Bitfield, BitfieldField};
use proc_macro2::TokenStream;
use quote::quote;

use super::{Gen, Part, ident, lit};

/// One part per bitfield.
pub fn parts<'a>(g: &'a Gen<'_>) -> Vec<Part<'a>> {
    g.spec
        .bitfields
        .iter()
        .filter(|b| g.here(b.span))
        .map(|b| -> Part<'a> { Box::new(move || bitfield(g, b)) })
        .collect()
}

/// The Rust type of a field: `bool`, its enumeration, or the smallest
/// unsigned integer that holds its bits.
fn field_type(g: &Gen<'_>, f: &BitfieldField) -> TokenStream {
    if f.boolean {
        return quote!(bool);
    }
    if let Some(e) = f.values {
        let e = ident(&g.spec.enumerations[e.index()].name);
        return quote!(#e);
    }
    match f.width {
        0..=8 => quote!(u8),
        9..=16 => quote!(u16),
        17..=32 => quote!(u32),
        _ => quote!(u64),
    }
}

/// Whether a field's Rust type holds values its bits do not (a `u6` in a
/// `u8`): the constructor checks those.
fn narrow(f: &BitfieldField) -> bool {
    !f.boolean && f.values.is_none() && ![8, 16, 32, 64].contains(&f.width)
}

/// A mask as a hexadecimal literal, as a kernel author writes one.
fn hex(value: u64) -> TokenStream {
    format!("{value:#x}")
        .parse()
        .expect("a hexadecimal literal is a token")
}

fn bitfield(g: &Gen<'_>, b: &Bitfield) -> TokenStream {
    let name = ident(&b.name);
    let mut lines = if b.docs.is_empty() {
        vec![format!("The `{}` bitfield.", b.name)]
    } else {
        b.docs.clone()
    };
    lines.push(String::new());
    lines.push(format!(
        "{} message word{}; {}.",
        b.words,
        if b.words == 1 { "" } else { "s" },
        if b.strict {
            "`from_words` refuses a value with a bit set that no field holds (`#[strict]`)"
        } else {
            "bits no field holds are 0 in `words` and ignored by `from_words`"
        }
    ));
    let doc = g.docs(&lines, "", b.span);
    let words = lit(b.words);
    let fields: Vec<_> = b.fields.iter().map(|f| ident(&f.name)).collect();
    let types: Vec<_> = b.fields.iter().map(|f| field_type(g, f)).collect();
    let struct_fields = fields.iter().zip(&types).map(|(f, t)| quote!(#f: #t));
    let getters = b.fields.iter().zip(&fields).zip(&types).map(|((f, n), t)| {
        let mut lines = f.docs.clone();
        if !lines.is_empty() {
            lines.push(String::new());
        }
        lines.push(if f.width == 1 {
            format!("`{}`: bit {} of word {}.", f.name, f.bit, f.word)
        } else {
            format!(
                "`{}`: bits {}..{} of word {}.",
                f.name,
                f.bit,
                f.bit + f.width,
                f.word
            )
        });
        let doc = super::doc_lines(&lines);
        quote! {
            #doc
            pub const fn #n(&self) -> #t {
                self.#n
            }
        }
    });
    let checks = b
        .fields
        .iter()
        .zip(&fields)
        .filter(|(f, _)| narrow(f))
        .map(|(f, n)| {
            let max = hex(u64::MAX >> (64 - f.width));
            quote!(if #n > #max { return None; })
        });
    let fallible = b.fields.iter().any(narrow);
    let params = fields.iter().zip(&types).map(|(f, t)| quote!(#f: #t));
    let (new_type, new_body, new_doc) = if fallible {
        (
            quote!(Option<Self>),
            quote! {
                #(#checks)*
                Some(Self { #(#fields),* })
            },
            " A value with these fields; `None` when a value does not fit its field's bits.",
        )
    } else {
        (
            quote!(Self),
            quote!(Self { #(#fields),* }),
            " A value with these fields.",
        )
    };
    // `words`: each field shifted to its bits of its word.
    let packed = (0..b.words).map(|w| {
        let parts: Vec<_> = b
            .fields
            .iter()
            .zip(&fields)
            .filter(|(f, _)| f.word == w)
            .map(|(f, n)| {
                let value = if f.values.is_some() {
                    quote!(self.#n.value())
                } else if f.boolean || f.width <= 32 {
                    quote!((self.#n as u64))
                } else {
                    quote!(self.#n)
                };
                if f.bit == 0 {
                    value
                } else {
                    let shift = lit(f.bit.into());
                    quote!((#value << #shift))
                }
            })
            .collect();
        if parts.is_empty() {
            quote!(0)
        } else {
            quote!(#(#parts)|*)
        }
    });
    // `from_words`: each field read back, an enumeration's value checked.
    let reads = b.fields.iter().zip(&fields).zip(&types).map(|((f, n), t)| {
        let at = lit(f.word);
        let shifted = if f.bit == 0 {
            quote!(words[#at])
        } else {
            let shift = lit(f.bit.into());
            quote!((words[#at] >> #shift))
        };
        // The field's bits, bare and in parentheses.
        let (bits, group) = if f.width == 64 {
            (shifted.clone(), shifted)
        } else {
            let mask = hex(u64::MAX >> (64 - f.width));
            (quote!(#shifted & #mask), quote!((#shifted & #mask)))
        };
        if f.boolean {
            quote!(let #n = #group != 0;)
        } else if f.values.is_some() {
            quote! {
                let #n = match #t::from_value(#bits) {
                    Some(v) => v,
                    None => return None,
                };
            }
        } else if f.width > 32 {
            quote!(let #n = #bits;)
        } else {
            quote!(let #n = #group as #t;)
        }
    });
    let strict = b.strict.then(|| {
        // A word every bit of which a field holds needs no check.
        let checks = (0..b.words)
            .filter(|w| b.used_mask(*w) != u64::MAX)
            .map(|w| {
                let at = lit(w);
                let unused = hex(!b.used_mask(w));
                quote!(if words[#at] & #unused != 0 { return None; })
            });
        quote!(#(#checks)*)
    });
    let from_doc = if b.strict {
        " The value in `words` (its first `WORDS`); `None` when there are fewer, a bit no field holds is set, or an enumerated field holds a value its enumeration does not name."
    } else {
        " The value in `words` (its first `WORDS`), bits no field holds ignored; `None` when there are fewer, or an enumerated field holds a value its enumeration does not name."
    };
    // Clippy's limit is 7 arguments.
    let allow = (b.fields.len() > 7).then(|| quote!(#[allow(clippy::too_many_arguments)]));
    let short = if b.words == 1 {
        quote!(words.is_empty())
    } else {
        quote!(words.len() < #words)
    };
    quote! {
        #doc
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct #name {
            #(#struct_fields,)*
        }

        impl #name {
            /// Message words a value takes.
            pub const WORDS: usize = #words;

            #[doc = #new_doc]
            #allow
            pub const fn new(#(#params),*) -> #new_type {
                #new_body
            }

            #(#getters)*

            /// The value's message words.
            pub const fn words(&self) -> [u64; #words] {
                [#(#packed),*]
            }

            #[doc = #from_doc]
            pub const fn from_words(words: &[u64]) -> Option<Self> {
                if #short {
                    return None;
                }
                #strict
                #(#reads)*
                Some(Self { #(#fields),* })
            }
        }
    }
}
