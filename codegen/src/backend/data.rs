//! Message types: the spec's `struct`, `enum` and `type` items as Rust
//! types, and the [`Wire`]-trait code that lays every message value out in
//! the bytes of message words.
//!
//! Generated when the spec declares a message type or an RPC parameter is
//! one (a signed integer, a bounded array, a string, an option): the trait
//! `Wire` with its impls for `bool`, the integers, `[T; N]` and
//! `Option<T>`; `BoundedArray<T, N>` and `BoundedString<N>`; a private
//! `rpc_bytes` module of byte helpers; then each declared type in
//! declaration order, with its `Wire` impl.
//!
//! The layout is the checked model's (`capc_dsl::model::Ty`): packed,
//! little-endian, byte 0 the low byte of word 0, field offsets and sizes
//! taken from the model as literals. Decoding accepts exactly the bytes
//! encoding makes (every unused byte zero), so a malformed value is `None`
//! and the message a protocol error, never a panic.

use capc_dsl::model::{DataDef, DataType, ParamKind, Spec, Ty};
use proc_macro2::TokenStream;
use quote::{ToTokens, quote};

use super::{Gen, ident, lit};

/// Whether the generated module needs the message-type code.
pub fn needed(spec: &Spec) -> bool {
    !spec.data_types.is_empty()
        || super::errors::needed(spec)
        || spec
            .interfaces
            .iter()
            .flat_map(|s| &s.methods)
            .flat_map(|m| m.params.iter().chain(&m.results))
            .any(|p| matches!(p.kind, ParamKind::Data { .. }))
}

/// The Rust type of a message value.
pub fn rust_ty(ty: &Ty, types: &[DataType]) -> TokenStream {
    match ty {
        Ty::Bool => quote!(bool),
        Ty::Int { signed, bits } => {
            let name = ident(&format!("{}{bits}", if *signed { 'i' } else { 'u' }));
            quote!(#name)
        }
        Ty::Float { bits } => {
            let name = ident(&format!("f{bits}"));
            quote!(#name)
        }
        Ty::Array(t, n) => {
            let t = rust_ty(t, types);
            let n = lit(*n);
            quote!([#t; #n])
        }
        Ty::Bounded(t, n) => {
            let t = rust_ty(t, types);
            let n = lit(*n);
            quote!(BoundedArray<#t, #n>)
        }
        Ty::String(n) => {
            let n = lit(*n);
            quote!(BoundedString<#n>)
        }
        Ty::Option(t) => {
            let t = rust_ty(t, types);
            quote!(Option<#t>)
        }
        Ty::Named(id) => {
            let name = ident(&types[id.index()].name);
            quote!(#name)
        }
    }
}

/// The derives of a generated type whose values may hold a float: no `Eq`
/// or `Hash` (NaN is not equal to itself).
pub fn derives(float: bool) -> TokenStream {
    if float {
        quote!(#[derive(Clone, Copy, Debug, PartialEq)])
    } else {
        quote!(#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)])
    }
}

/// Whether a parameter or result holds a float.
pub fn param_has_float(p: &capc_dsl::model::MethodParam, types: &[DataType]) -> bool {
    matches!(&p.kind, ParamKind::Data { ty, .. } if ty.has_float(types))
}

/// `at`, or `at + offset`.
fn at_plus(offset: u64) -> TokenStream {
    if offset == 0 {
        quote!(at)
    } else {
        let n = lit(offset);
        quote!(at + #n)
    }
}

/// The shared code: the trait, its impls for the built-in types, the
/// bounded types and the byte helpers.
pub fn shared() -> TokenStream {
    let ints: [(bool, u32); 8] = [
        (false, 8),
        (false, 16),
        (false, 32),
        (false, 64),
        (true, 8),
        (true, 16),
        (true, 32),
        (true, 64),
    ];
    let int_impls = ints.iter().map(|&(signed, bits)| {
        let name = ident(&format!("{}{bits}", if signed { 'i' } else { 'u' }));
        let unsigned = ident(&format!("u{bits}"));
        let bytes = lit(u64::from(bits) / 8);
        let (to_word, from_word) = match (signed, bits) {
            (false, 64) => (quote!(*self), quote!(Some(value))),
            (false, _) => (
                quote!(u64::from(*self)),
                quote!(#unsigned::try_from(value).ok()),
            ),
            (true, 64) => (
                quote!(u64::from_le_bytes(self.to_le_bytes())),
                quote!(Some(i64::from_le_bytes(value.to_le_bytes()))),
            ),
            (true, _) => (
                quote!(u64::from(#unsigned::from_le_bytes(self.to_le_bytes()))),
                quote!(#unsigned::try_from(value).ok().map(|v| #name::from_le_bytes(v.to_le_bytes()))),
            ),
        };
        let doc = format!(" `{name}`: {bytes} bytes, little-endian{}.", if signed { ", two's complement" } else { "" });
        quote! {
            #[doc = #doc]
            impl Wire for #name {
                const BYTES: usize = #bytes;
                const ZERO: #name = 0;

                fn write_words(&self, words: &mut [u64], at: usize) {
                    rpc_bytes::put(words, at, #bytes, #to_word);
                }

                fn read_words(words: &[u64], at: usize) -> Option<#name> {
                    let value = rpc_bytes::get(words, at, #bytes)?;
                    #from_word
                }
            }
        }
    });
    quote! {
        /// A value of an RPC message, laid out in the bytes of message
        /// words: byte 0 is the low byte of word 0, values are packed with
        /// no padding, integers little-endian. Encoding writes every byte of
        /// the value (unused ones zero); decoding accepts exactly what
        /// encoding writes, so a malformed value (a `bool` other than 0 or
        /// 1, an unknown enum variant, a length over its bound, text that
        /// is not UTF-8, a nonzero unused byte) decodes to `None`.
        pub trait Wire: Copy {
            /// Bytes a value takes.
            const BYTES: usize;
            /// The value whose bytes are all zero.
            const ZERO: Self;

            /// Writes the value's [`BYTES`](Self::BYTES) bytes from byte
            /// `at` of `words`; bytes past the end of `words` are not
            /// written.
            fn write_words(&self, words: &mut [u64], at: usize);

            /// The value whose bytes start at byte `at` of `words`; `None`
            /// when they are not a value of the type or run past the end of
            /// `words`.
            fn read_words(words: &[u64], at: usize) -> Option<Self>;
        }

        /// `bool`: one byte, 0 or 1.
        impl Wire for bool {
            const BYTES: usize = 1;
            const ZERO: bool = false;

            fn write_words(&self, words: &mut [u64], at: usize) {
                rpc_bytes::put(words, at, 1, u64::from(*self));
            }

            fn read_words(words: &[u64], at: usize) -> Option<bool> {
                match rpc_bytes::get(words, at, 1)? {
                    0 => Some(false),
                    1 => Some(true),
                    _ => None,
                }
            }
        }

        #(#int_impls)*

        /// `f32`: IEEE 754 binary32, its bits little-endian. Every bit
        /// pattern is a value: a NaN arrives with the bits it was sent with.
        impl Wire for f32 {
            const BYTES: usize = 4;
            const ZERO: f32 = 0.0;

            fn write_words(&self, words: &mut [u64], at: usize) {
                rpc_bytes::put(words, at, 4, u64::from(self.to_bits()));
            }

            fn read_words(words: &[u64], at: usize) -> Option<f32> {
                let bits = rpc_bytes::get(words, at, 4)?;
                Some(f32::from_bits(u32::try_from(bits).ok()?))
            }
        }

        /// `f64`: IEEE 754 binary64, its bits little-endian. Every bit
        /// pattern is a value: a NaN arrives with the bits it was sent with.
        impl Wire for f64 {
            const BYTES: usize = 8;
            const ZERO: f64 = 0.0;

            fn write_words(&self, words: &mut [u64], at: usize) {
                rpc_bytes::put(words, at, 8, self.to_bits());
            }

            fn read_words(words: &[u64], at: usize) -> Option<f64> {
                Some(f64::from_bits(rpc_bytes::get(words, at, 8)?))
            }
        }

        /// `[T; N]`: the values one after the other.
        impl<T: Wire, const N: usize> Wire for [T; N] {
            const BYTES: usize = N * T::BYTES;
            const ZERO: [T; N] = [T::ZERO; N];

            fn write_words(&self, words: &mut [u64], at: usize) {
                for (i, value) in self.iter().enumerate() {
                    value.write_words(words, at.saturating_add(i * T::BYTES));
                }
            }

            fn read_words(words: &[u64], at: usize) -> Option<[T; N]> {
                let mut values = [T::ZERO; N];
                for (i, value) in values.iter_mut().enumerate() {
                    *value = T::read_words(words, at.saturating_add(i * T::BYTES))?;
                }
                Some(values)
            }
        }

        /// `Option<T>`: one byte, 0 (none) or 1 (some), then room for a
        /// `T`, all zero when none.
        impl<T: Wire> Wire for Option<T> {
            const BYTES: usize = 1 + T::BYTES;
            const ZERO: Option<T> = None;

            fn write_words(&self, words: &mut [u64], at: usize) {
                match self {
                    None => rpc_bytes::clear(words, at, Self::BYTES),
                    Some(value) => {
                        rpc_bytes::put(words, at, 1, 1);
                        value.write_words(words, at.saturating_add(1));
                    }
                }
            }

            fn read_words(words: &[u64], at: usize) -> Option<Option<T>> {
                match rpc_bytes::get(words, at, 1)? {
                    0 if rpc_bytes::zeroed(words, at.saturating_add(1), T::BYTES) => Some(None),
                    1 => T::read_words(words, at.saturating_add(1)).map(Some),
                    _ => None,
                }
            }
        }

        /// Up to `N` values of `T` (`[T; ..=N]` in the spec). On the wire:
        /// the length in [`prefix_bytes`]`(N)` bytes, then room for `N`
        /// values, those past the length zero.
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct BoundedArray<T: Wire, const N: usize> {
            len: usize,
            values: [T; N],
        }

        impl<T: Wire, const N: usize> BoundedArray<T, N> {
            /// No values.
            pub const EMPTY: BoundedArray<T, N> = BoundedArray { len: 0, values: [T::ZERO; N] };

            /// The values of `values`; `None` when there are more than `N`.
            pub fn new(values: &[T]) -> Option<BoundedArray<T, N>> {
                let mut array = Self::EMPTY;
                array.values.get_mut(..values.len())?.copy_from_slice(values);
                array.len = values.len();
                Some(array)
            }

            /// The values.
            pub fn as_slice(&self) -> &[T] {
                self.values.get(..self.len).unwrap_or(&[])
            }

            /// How many values there are.
            pub const fn len(&self) -> usize {
                self.len
            }

            /// Whether there are none.
            pub const fn is_empty(&self) -> bool {
                self.len == 0
            }
        }

        impl<T: Wire + ::core::fmt::Debug, const N: usize> ::core::fmt::Debug for BoundedArray<T, N> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_list().entries(self.as_slice()).finish()
            }
        }

        impl<T: Wire, const N: usize> Wire for BoundedArray<T, N> {
            const BYTES: usize = prefix_bytes(N) + N * T::BYTES;
            const ZERO: BoundedArray<T, N> = Self::EMPTY;

            fn write_words(&self, words: &mut [u64], at: usize) {
                rpc_bytes::put(words, at, prefix_bytes(N), self.len as u64);
                self.values.write_words(words, at.saturating_add(prefix_bytes(N)));
            }

            fn read_words(words: &[u64], at: usize) -> Option<BoundedArray<T, N>> {
                let len = rpc_bytes::get(words, at, prefix_bytes(N))?;
                let len = usize::try_from(len).ok().filter(|len| *len <= N)?;
                let first = at.saturating_add(prefix_bytes(N));
                let unused = first.saturating_add(len * T::BYTES);
                if !rpc_bytes::zeroed(words, unused, (N - len) * T::BYTES) {
                    return None;
                }
                // Only the first `len` are values: the zero bytes past them
                // need not be one (a range type without 0).
                let mut values = [T::ZERO; N];
                for (i, value) in values.iter_mut().take(len).enumerate() {
                    *value = T::read_words(words, first.saturating_add(i * T::BYTES))?;
                }
                Some(BoundedArray { len, values })
            }
        }

        /// UTF-8 text of up to `N` bytes (`string<=N>` in the spec). On
        /// the wire: the length in bytes in [`prefix_bytes`]`(N)` bytes,
        /// then `N` bytes, those past the length zero.
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct BoundedString<const N: usize> {
            len: usize,
            bytes: [u8; N],
        }

        impl<const N: usize> BoundedString<N> {
            /// The empty string.
            pub const EMPTY: BoundedString<N> = BoundedString { len: 0, bytes: [0; N] };

            /// `text`; `None` when it is longer than `N` bytes.
            pub fn new(text: &str) -> Option<BoundedString<N>> {
                let mut string = Self::EMPTY;
                string.bytes.get_mut(..text.len())?.copy_from_slice(text.as_bytes());
                string.len = text.len();
                Some(string)
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                ::core::str::from_utf8(self.bytes.get(..self.len).unwrap_or(&[])).unwrap_or("")
            }

            /// Its length in bytes.
            pub const fn len(&self) -> usize {
                self.len
            }

            /// Whether it is empty.
            pub const fn is_empty(&self) -> bool {
                self.len == 0
            }
        }

        impl<const N: usize> ::core::fmt::Debug for BoundedString<N> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Debug::fmt(self.as_str(), f)
            }
        }

        impl<const N: usize> Wire for BoundedString<N> {
            const BYTES: usize = prefix_bytes(N) + N;
            const ZERO: BoundedString<N> = Self::EMPTY;

            fn write_words(&self, words: &mut [u64], at: usize) {
                rpc_bytes::put(words, at, prefix_bytes(N), self.len as u64);
                self.bytes.write_words(words, at.saturating_add(prefix_bytes(N)));
            }

            fn read_words(words: &[u64], at: usize) -> Option<BoundedString<N>> {
                let len = rpc_bytes::get(words, at, prefix_bytes(N))?;
                let len = usize::try_from(len).ok().filter(|len| *len <= N)?;
                let bytes = <[u8; N]>::read_words(words, at.saturating_add(prefix_bytes(N)))?;
                let (text, unused) = bytes.split_at(len);
                if unused.iter().any(|b| *b != 0) || ::core::str::from_utf8(text).is_err() {
                    return None;
                }
                Some(BoundedString { len, bytes })
            }
        }

        /// Bytes of the length of a bounded array or string of up to `max`
        /// elements, and of the discriminant of an enum whose last variant
        /// is number `max`: the fewest of 1, 2, 4 and 8 that hold `max`.
        pub const fn prefix_bytes(max: usize) -> usize {
            if max <= 0xff {
                1
            } else if max <= 0xffff {
                2
            } else if max as u64 <= 0xffff_ffff {
                4
            } else {
                8
            }
        }

        /// Reading and writing the bytes of message words.
        mod rpc_bytes {
            /// Writes the `n` low bytes of `value` from byte `at` of `words`.
            pub(super) fn put(words: &mut [u64], at: usize, n: usize, value: u64) {
                for (i, byte) in value.to_le_bytes().into_iter().take(n).enumerate() {
                    let at = at.saturating_add(i);
                    if let Some(word) = words.get_mut(at / 8) {
                        let shift = (at % 8) * 8;
                        *word = (*word & !(0xff << shift)) | (u64::from(byte) << shift);
                    }
                }
            }

            /// The `n` bytes from byte `at` of `words` as an integer; `None`
            /// past the end of `words`.
            pub(super) fn get(words: &[u64], at: usize, n: usize) -> Option<u64> {
                let mut bytes = [0; 8];
                for (i, byte) in bytes.iter_mut().take(n).enumerate() {
                    let at = at.checked_add(i)?;
                    *byte = (words.get(at / 8)? >> ((at % 8) * 8)) as u8;
                }
                Some(u64::from_le_bytes(bytes))
            }

            /// Writes `n` zero bytes from byte `at`.
            pub(super) fn clear(words: &mut [u64], at: usize, n: usize) {
                for i in 0..n {
                    put(words, at.saturating_add(i), 1, 0);
                }
            }

            /// Whether the `n` bytes from byte `at` are zero (and in `words`).
            pub(super) fn zeroed(words: &[u64], at: usize, n: usize) -> bool {
                (0..n).all(|i| at.checked_add(i).and_then(|at| get(words, at, 1)) == Some(0))
            }
        }
    }
}

/// A declared type as Rust, with its `Wire` impl.
pub fn data_type(g: &Gen<'_>, t: &DataType) -> TokenStream {
    let types = &g.spec.data_types;
    let name = ident(&t.name);
    let bytes = lit(t.bytes);
    let what = match &t.def {
        DataDef::Record(_) => "record",
        DataDef::Enum { .. } => "enum",
        DataDef::Alias(_) | DataDef::Range { .. } => "type",
    };
    let fallback = format!("The {what} `{}` of the spec.", t.name);
    let mut lines = if t.docs.is_empty() {
        vec![fallback]
    } else {
        t.docs.clone()
    };
    lines.push(String::new());
    lines.push(format!("On the wire: {} bytes.", t.bytes));
    let doc = g.docs(&lines, "", t.span);
    let derives = derives(t.def.has_float(types));
    match &t.def {
        DataDef::Alias(ty) => {
            let ty = rust_ty(ty, types);
            quote! {
                #doc
                #[allow(non_camel_case_types)]
                pub type #name = #ty;
            }
        }
        DataDef::Range { ty, min, max } => {
            let full = match ty {
                Ty::Int { bits: 64, .. } => u64::MAX,
                Ty::Int { bits, .. } => (1 << bits) - 1,
                _ => u64::MAX,
            };
            range_type(&name, doc, rust_ty(ty, types), (*min, *max), full)
        }
        DataDef::Record(fields) => {
            let decls = fields.iter().map(|f| {
                let fdoc = field_doc(g, &f.docs, &format!("Field `{}`", f.name), f.offset, &f.ty);
                let n = ident(&f.name);
                let ty = rust_ty(&f.ty, types);
                quote!(#fdoc pub #n: #ty)
            });
            let zeros = fields.iter().map(|f| {
                let n = ident(&f.name);
                let ty = rust_ty(&f.ty, types);
                quote!(#n: <#ty as Wire>::ZERO)
            });
            let writes = fields.iter().map(|f| {
                let n = ident(&f.name);
                let at = at_plus(f.offset);
                quote!(self.#n.write_words(words, #at);)
            });
            let reads = fields.iter().map(|f| {
                let n = ident(&f.name);
                let ty = rust_ty(&f.ty, types);
                let at = at_plus(f.offset);
                quote!(#n: <#ty as Wire>::read_words(words, #at)?)
            });
            let (words, at) = if fields.is_empty() {
                (quote!(_words), quote!(_at))
            } else {
                (quote!(words), quote!(at))
            };
            let guard = (!fields.is_empty()).then(|| {
                quote! {
                    if at > words.len() * 8 {
                        return None;
                    }
                }
            });
            let check = layout_check(
                &t.name,
                fields.iter().map(|f| rust_ty(&f.ty, types)).collect(),
                0,
                t.bytes,
            );
            let write_guard = (!fields.is_empty()).then(|| {
                quote! {
                    if at > words.len() * 8 {
                        return;
                    }
                }
            });
            quote! {
                #doc
                #derives
                #[allow(non_camel_case_types)]
                pub struct #name {
                    #(#decls,)*
                }

                impl Wire for #name {
                    const BYTES: usize = #bytes;
                    const ZERO: #name = #name { #(#zeros,)* };

                    fn write_words(&self, #words: &mut [u64], #at: usize) {
                        #write_guard
                        #(#writes)*
                    }

                    fn read_words(#words: &[u64], #at: usize) -> Option<#name> {
                        #guard
                        Some(#name { #(#reads,)* })
                    }
                }

                #check
            }
        }
        DataDef::Enum {
            discriminant_bytes,
            variants,
        } => {
            let d = lit(*discriminant_bytes);
            let decls = variants.iter().map(|v| {
                let vname = ident(&v.name);
                let mut lines = if v.docs.is_empty() {
                    vec![format!("Variant `{}`.", v.name)]
                } else {
                    v.docs.clone()
                };
                let layout: Vec<String> = v
                    .fields
                    .iter()
                    .enumerate()
                    .map(|(k, (ty, at))| {
                        format!("value {k} (`{}`) at byte {at}", ty.spelling(types))
                    })
                    .collect();
                lines.push(String::new());
                lines.push(if layout.is_empty() {
                    "On the wire: its discriminant only.".to_string()
                } else {
                    format!("On the wire: {}.", layout.join(", "))
                });
                let vdoc = super::doc_lines(&lines);
                if v.fields.is_empty() {
                    quote!(#vdoc #vname)
                } else {
                    let tys = v.fields.iter().map(|(ty, _)| rust_ty(ty, types));
                    quote!(#vdoc #vname(#(#tys),*))
                }
            });
            let checks: Vec<TokenStream> = variants
                .iter()
                .map(|v| {
                    let tys = v.fields.iter().map(|(ty, _)| rust_ty(ty, types)).collect();
                    layout_check(
                        &format!("{}::{}", t.name, v.name),
                        tys,
                        *discriminant_bytes,
                        v.end,
                    )
                })
                .collect();
            let first = &variants[0];
            let first_name = ident(&first.name);
            let zero = if first.fields.is_empty() {
                quote!(#name::#first_name)
            } else {
                let zeros = first.fields.iter().map(|(ty, _)| {
                    let ty = rust_ty(ty, types);
                    quote!(<#ty as Wire>::ZERO)
                });
                quote!(#name::#first_name(#(#zeros),*))
            };
            let writes = variants.iter().enumerate().map(|(k, v)| {
                let vname = ident(&v.name);
                let k = lit(k as u64);
                let bindings: Vec<proc_macro2::Ident> = (0..v.fields.len())
                    .map(|j| quote::format_ident!("value{}", j))
                    .collect();
                let pattern = if v.fields.is_empty() {
                    quote!(#name::#vname)
                } else {
                    quote!(#name::#vname(#(#bindings),*))
                };
                let values = v.fields.iter().zip(&bindings).map(|((_, at), b)| {
                    let at = at_plus(*at);
                    quote!(#b.write_words(words, #at);)
                });
                let rest = t.bytes - v.end;
                let clear = (rest > 0).then(|| {
                    let at = at_plus(v.end);
                    let rest = lit(rest);
                    quote!(rpc_bytes::clear(words, #at, #rest);)
                });
                quote! {
                    #pattern => {
                        rpc_bytes::put(words, at, #d, #k);
                        #(#values)*
                        #clear
                    }
                }
            });
            let reads = variants.iter().enumerate().map(|(k, v)| {
                let vname = ident(&v.name);
                let k = lit(k as u64);
                let rest = t.bytes - v.end;
                let guard = (rest > 0).then(|| {
                    let at = at_plus(v.end);
                    let rest = lit(rest);
                    quote!(if rpc_bytes::zeroed(words, #at, #rest))
                });
                let value = if v.fields.is_empty() {
                    quote!(#name::#vname)
                } else {
                    let values = v.fields.iter().map(|(ty, at)| {
                        let ty = rust_ty(ty, types);
                        let at = at_plus(*at);
                        quote!(<#ty as Wire>::read_words(words, #at)?)
                    });
                    quote!(#name::#vname(#(#values),*))
                };
                quote!(#k #guard => Some(#value),)
            });
            let wire = enum_wire(&name, &bytes, &zero, &d, writes, reads);
            quote! {
                #doc
                #derives
                #[allow(non_camel_case_types)]
                pub enum #name {
                    #(#decls,)*
                }

                #wire

                #(#checks)*
            }
        }
    }
}

/// `type Name = uN in lo..=hi;`: a newtype of the integer whose `new`
/// refuses values outside the range and whose `Wire` decoding does too, so
/// a message carrying one is a protocol error.
fn range_type(
    name: &proc_macro2::Ident,
    doc: TokenStream,
    int: TokenStream,
    (min, max): (u64, u64),
    full: u64,
) -> TokenStream {
    let (lo, hi) = (lit(min), lit(max));
    // A bound at the integer's own end is no test (and a lint).
    let body = match (min > 0, max < full) {
        (false, false) => quote!(Some(#name(value))),
        (true, false) => quote!(if value >= #lo { Some(#name(value)) } else { None }),
        (false, true) => quote!(if value <= #hi { Some(#name(value)) } else { None }),
        (true, true) => {
            quote!(if value >= #lo && value <= #hi { Some(#name(value)) } else { None })
        }
    };
    let new_doc = format!(" `value` as a `{name}`; `None` outside {min}..={max}.");
    quote! {
        #doc
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[allow(non_camel_case_types)]
        pub struct #name(#int);

        impl #name {
            /// The least value.
            pub const MIN: #int = #lo;
            /// The greatest value.
            pub const MAX: #int = #hi;

            #[doc = #new_doc]
            pub const fn new(value: #int) -> Option<#name> {
                #body
            }

            /// The value.
            pub const fn get(self) -> #int {
                self.0
            }
        }

        /// Laid out as the integer; decoding refuses a value outside the
        /// range. [`Wire::ZERO`] is the value of all-zero bytes, which the
        /// layout writes where no value is (past a bounded array's length,
        /// after `None`): outside the range when the range leaves out 0,
        /// and then never made by `new` or by decoding.
        impl Wire for #name {
            const BYTES: usize = <#int as Wire>::BYTES;
            const ZERO: #name = #name(0);

            fn write_words(&self, words: &mut [u64], at: usize) {
                self.0.write_words(words, at);
            }

            fn read_words(words: &[u64], at: usize) -> Option<#name> {
                #name::new(<#int as Wire>::read_words(words, at)?)
            }
        }
    }
}

/// A compile-time check that values of `tys` after `start` bytes end at
/// byte `end`, the model's layout: the generated `Wire` code and the
/// checker's layout cannot drift apart without the module failing to
/// compile. Nothing when there are no values.
pub fn layout_check(what: &str, tys: Vec<TokenStream>, start: u64, end: u64) -> TokenStream {
    if tys.is_empty() {
        return TokenStream::new();
    }
    let start = (start > 0).then(|| {
        let start = lit(start);
        quote!(#start +)
    });
    let end = lit(end);
    let message = format!("the layout of `{what}` is not the checked model's");
    quote! {
        const _: () = if #start #(<#tys as Wire>::BYTES)+* != #end {
            panic!(#message)
        };
    }
}

/// The doc of a record field: its docs, or `fallback`, and where it is.
fn field_doc(g: &Gen<'_>, docs: &[String], fallback: &str, offset: u64, ty: &Ty) -> TokenStream {
    let mut lines = if docs.is_empty() {
        vec![format!("{fallback}.")]
    } else {
        docs.to_vec()
    };
    lines.push(String::new());
    lines.push(format!(
        "On the wire: a `{}` at byte {offset}.",
        ty.spelling(&g.spec.data_types)
    ));
    super::doc_lines(&lines)
}

/// `impl Wire` for an enum on the wire (a message enum, or an error set
/// nested in a payload): the variant's index in `d` bytes at the value's
/// start, written by `writes` and read back by `reads` (one match arm per
/// variant each), `bytes` in all, `zero` its all-zero value.
pub(super) fn enum_wire(
    name: &impl ToTokens,
    bytes: &impl ToTokens,
    zero: &impl ToTokens,
    d: &impl ToTokens,
    writes: impl Iterator<Item = TokenStream>,
    reads: impl Iterator<Item = TokenStream>,
) -> TokenStream {
    quote! {
        impl Wire for #name {
            const BYTES: usize = #bytes;
            const ZERO: #name = #zero;

            fn write_words(&self, words: &mut [u64], at: usize) {
                if at > words.len() * 8 {
                    return;
                }
                match *self {
                    #(#writes)*
                }
            }

            fn read_words(words: &[u64], at: usize) -> Option<#name> {
                if at > words.len() * 8 {
                    return None;
                }
                match rpc_bytes::get(words, at, #d)? {
                    #(#reads)*
                    _ => None,
                }
            }
        }
    }
}
