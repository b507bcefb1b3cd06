//! Rights, object types with their size rules, and capabilities: the
//! two-word `Cap`, the tag enum, and one typed view per cap type whose
//! constructor, getters and setters follow the checker's layout (pointers
//! stored compressed by their alignment).

use capc_dsl::ast::ObjectKind;
use capc_dsl::model::{
    CapField, CapType, CopyPolicy, Enumeration, FieldKind, Object, RightId, Role,
};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::common::grouped_match;
use super::{Gen, Part, ident, lit, snake};

/// The section's parts: the shared types, one per cap type's view, and
/// `ObjectType::cap_for` (which names every view).
pub fn parts<'a>(g: &'a Gen<'_>) -> Vec<Part<'a>> {
    let mut parts: Vec<Part<'a>> = vec![Box::new(move || {
        let enumerations = enumerations(g);
        let rights = rights(g);
        let objects = objects(g);
        let caps = caps(g);
        quote! {
            #enumerations
            #rights
            #objects
            #caps
        }
    })];
    for c in &g.spec.caps {
        parts.push(Box::new(move || view(g, c)));
    }
    parts.push(Box::new(move || cap_for(g)));
    parts
}

/// The enumerations of the files generated here, in declaration order.
pub fn enumerations(g: &Gen<'_>) -> TokenStream {
    let enumerations = g
        .spec
        .enumerations
        .iter()
        .filter(|e| g.here(e.span))
        .map(|e| enumeration(g, e));
    quote!(#(#enumerations)*)
}

/// An enumeration (`enum Name: uN`) as a Rust enum whose variants stand for
/// their values: `value` gives a variant's, `from_value` the variant of a
/// named value and `None` for any other, so that a cap field's getter and an
/// invocation's decoder refuse an unnamed value.
fn enumeration(g: &Gen<'_>, e: &Enumeration) -> TokenStream {
    let name = ident(&e.name);
    let doc = g.docs(&e.docs, &format!("The `{}` enumeration.", e.name), e.span);
    let variants = e.values.iter().map(|v| {
        let mut lines = if v.docs.is_empty() {
            vec![format!("The `{}` value.", v.name)]
        } else {
            v.docs.clone()
        };
        lines.push(String::new());
        lines.push(format!("Value {}.", v.value));
        let doc = super::doc_lines(&lines);
        let v = ident(&v.name);
        quote!(#doc #v)
    });
    let to = e.values.iter().map(|v| {
        let (n, x) = (ident(&v.name), lit(v.value));
        quote!(Self::#n => #x)
    });
    let from = e.values.iter().map(|v| {
        let (n, x) = (ident(&v.name), lit(v.value));
        quote!(#x => Some(Self::#n))
    });
    let bits = lit(e.bits.into());
    let bits_doc = format!(" Bits a value takes: {}.", e.bits);
    quote! {
        #doc
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[allow(non_camel_case_types)]
        pub enum #name {
            #(#variants,)*
        }

        impl #name {
            #[doc = #bits_doc]
            pub const BITS: u32 = #bits;

            /// The variant's value.
            pub const fn value(self) -> u64 {
                match self {
                    #(#to,)*
                }
            }

            /// The variant with this value; `None` for a value no variant
            /// names.
            pub const fn from_value(value: u64) -> Option<Self> {
                match value {
                    #(#from,)*
                    _ => None,
                }
            }
        }

        impl From<#name> for u64 {
            fn from(value: #name) -> u64 {
                value.value()
            }
        }

        impl TryFrom<u64> for #name {
            /// The value no variant names.
            type Error = u64;

            fn try_from(value: u64) -> Result<Self, u64> {
                match Self::from_value(value) {
                    Some(v) => Ok(v),
                    None => Err(value),
                }
            }
        }
    }
}

/// The Rust enum of an enumerated field, if it is one.
fn enumeration_of(g: &Gen<'_>, f: &CapField) -> Option<proc_macro2::Ident> {
    f.values
        .map(|e| ident(&g.spec.enumerations[e.index()].name))
}

/// `Enum::Variant` for the value a kernel-made cap holds in an enumerated
/// field it sets nothing for (its first variant).
pub fn initial_variant(g: &Gen<'_>, f: &CapField) -> Option<TokenStream> {
    let e = &g.spec.enumerations[f.values?.index()];
    let (name, first) = (ident(&e.name), ident(&e.values.first()?.name));
    Some(quote!(#name::#first))
}

/// `Rights::READ.union(Rights::WRITE)`-style constant for a set of rights.
pub fn rights_const(g: &Gen<'_>, rights: &[RightId]) -> TokenStream {
    if rights.is_empty() {
        return quote!(Rights::NONE);
    }
    if rights.len() == g.spec.rights.len() {
        return quote!(Rights::ALL);
    }
    let mut names = rights
        .iter()
        .map(|r| format_ident!("{}", g.spec.rights[r.index()].name.to_ascii_uppercase()));
    let first = names.next().expect("not empty");
    quote!(Rights::#first #(.union(Rights::#names))*)
}

fn rights(g: &Gen<'_>) -> TokenStream {
    let consts = g.spec.rights.iter().enumerate().map(|(i, r)| {
        let name = format_ident!("{}", r.name.to_ascii_uppercase());
        let doc = g.docs(&r.docs, &format!("The `{}` right.", r.name), r.span);
        let value = if i == 0 {
            quote!(1)
        } else {
            let bit = lit(i as u64);
            quote!(1 << #bit)
        };
        quote! {
            #doc
            pub const #name: Rights = Rights(#value);
        }
    });
    let all = lit(if g.spec.rights.len() >= 64 {
        u64::MAX
    } else {
        (1u64 << g.spec.rights.len()) - 1
    });
    let names = g.spec.rights.iter().map(|r| r.name.as_str());
    quote! {
        /// A set of rights. Masking can only remove rights: there is no
        /// operation that adds a right to a cap's set.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct Rights(u64);

        impl Rights {
            #(#consts)*
            /// No rights.
            pub const NONE: Rights = Rights(0);
            /// Every declared right.
            pub const ALL: Rights = Rights(#all);
            /// Names of the rights, by bit.
            pub const NAMES: &'static [&'static str] = &[#(#names),*];

            /// The set as a mask (bit n is the n-th declared right).
            pub const fn bits(self) -> u64 {
                self.0
            }

            /// The set with exactly these bits, if every bit is a declared right.
            pub const fn from_bits(bits: u64) -> Option<Rights> {
                if bits & !Rights::ALL.0 == 0 {
                    Some(Rights(bits))
                } else {
                    None
                }
            }

            /// The declared rights among `bits`; other bits are dropped.
            pub const fn from_bits_truncate(bits: u64) -> Rights {
                Rights(bits & Rights::ALL.0)
            }

            /// Whether every right of `other` is in `self`.
            pub const fn contains(self, other: Rights) -> bool {
                self.0 & other.0 == other.0
            }

            /// Both sets together (for building constants, not for caps).
            pub const fn union(self, other: Rights) -> Rights {
                Rights(self.0 | other.0)
            }

            /// Keeps only the rights also in `keep`. The result is always a
            /// subset of `self`: masking never adds a right.
            pub const fn mask(self, keep: Rights) -> Rights {
                Rights(self.0 & keep.0)
            }
        }

        impl ::core::fmt::Debug for Rights {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str("Rights(")?;
                let mut first = true;
                for (bit, name) in Rights::NAMES.iter().enumerate() {
                    if self.0 & (1 << bit) != 0 {
                        if !first {
                            f.write_str(" | ")?;
                        }
                        f.write_str(name)?;
                        first = false;
                    }
                }
                f.write_str(")")
            }
        }
    }
}

fn object_variant(o: &Object) -> proc_macro2::Ident {
    ident(&o.name)
}

fn objects(g: &Gen<'_>) -> TokenStream {
    let objects = &g.spec.objects;
    let variants = objects.iter().map(|o| {
        let doc = g.docs(&o.docs, &format!("The `{}` object type.", o.name), o.span);
        let v = object_variant(o);
        let n = lit(o.number.into());
        quote!(#doc #v = #n)
    });
    let all = objects.iter().map(|o| {
        let v = object_variant(o);
        quote!(ObjectType::#v)
    });
    let count = lit(objects.len() as u64);
    let from_word = objects.iter().map(|o| {
        let v = object_variant(o);
        let n = lit(o.number.into());
        quote!(#n => Some(ObjectType::#v))
    });
    // A spec without object types (an RPC interface alone) has no number
    // to match.
    let from_word_body = if objects.is_empty() {
        quote! {
            let _ = word;
            None
        }
    } else if objects
        .iter()
        .enumerate()
        .all(|(i, o)| o.number as usize == i)
    {
        // Numbers 0, 1, ... in declaration order: `ALL` is the table.
        quote! {
            if word < #count {
                Some(ObjectType::ALL[word as usize])
            } else {
                None
            }
        }
    } else {
        quote! {
            match word {
                #(#from_word,)*
                _ => None,
            }
        }
    };
    let names = objects.iter().map(|o| {
        let v = object_variant(o);
        let name = &o.name;
        quote!(ObjectType::#v => #name)
    });
    // Only a spec with a type numbered per size argument has `sized_number`.
    let sized_arms: Vec<TokenStream> = objects
        .iter()
        .flat_map(|o| {
            let v = object_variant(o);
            o.numbers.iter().map(move |&(arg, n)| {
                let n = lit(n.into());
                let arg = lit(arg);
                quote!(#n => Some((ObjectType::#v, #arg)))
            })
        })
        .collect();
    let sized_number = (!sized_arms.is_empty()).then(|| {
        quote! {
            /// The object type and size argument a number of a type
            /// numbered per size argument names (`#[number(A, B, ...)]`, as
            /// seL4 numbers its 4 KiB, 2 MiB and 1 GiB frames): a retype
            /// with it makes that size, whatever its size argument word
            /// says. `None` for any other word.
            pub const fn sized_number(word: u64) -> Option<(ObjectType, u64)> {
                match word {
                    #(#sized_arms,)*
                    _ => None,
                }
            }
        }
    });
    let sizes = objects.iter().map(|o| {
        let v = object_variant(o);
        let min = lit(o.size.min_arg());
        let max = lit(o.size.max_arg());
        if let Some(b) = o.size.bytes {
            // A byte-sized type has a log2 size only where its size in
            // bytes is a power of two.
            let mask = lit((1u64 << b.granule_bits) - 1);
            return (
                quote!(ObjectType::#v),
                quote! {
                    if arg >= #min && arg <= #max && arg & #mask == 0 && arg.is_power_of_two() {
                        Ok(arg.trailing_zeros())
                    } else {
                        Err(SizeError { min: #min, max: #max })
                    }
                },
            );
        }
        let table = &o.size.table;
        let offset = table[0].1 as i64 - table[0].0 as i64;
        let contiguous = table
            .iter()
            .enumerate()
            .all(|(i, (a, b))| *a == table[0].0 + i as u64 && *b as i64 - *a as i64 == offset);
        let body = if table.len() == 1 {
            let bits = lit(table[0].1.into());
            quote!(if arg == #min { Ok(#bits) } else { Err(SizeError { min: #min, max: #max }) })
        } else if contiguous && offset >= 0 {
            let bits = if offset == 0 {
                quote!(arg as u32)
            } else {
                let offset = lit(offset as u64);
                quote!((arg + #offset) as u32)
            };
            quote!(if arg >= #min && arg <= #max { Ok(#bits) } else { Err(SizeError { min: #min, max: #max }) })
        } else {
            let arms = table.iter().map(|(a, b)| {
                let a = lit(*a);
                let b = lit((*b).into());
                quote!(#a => Ok(#b))
            });
            quote!(match arg { #(#arms,)* _ => Err(SizeError { min: #min, max: #max }) })
        };
        (quote!(ObjectType::#v), body)
    });
    let sizes = grouped_match(quote!(self), sizes.collect(), true);
    let bounds = objects.iter().map(|o| {
        let v = object_variant(o);
        let (min, max) = (lit(o.size.min_arg()), lit(o.size.max_arg()));
        (quote!(ObjectType::#v), quote!((#min, #max)))
    });
    let bounds = grouped_match(quote!(self), bounds.collect(), true);
    let aligns = objects.iter().filter_map(|o| {
        let v = object_variant(o);
        o.align_bits.map(|a| {
            let a = lit(a.into());
            quote!(ObjectType::#v => #a,)
        })
    });
    let align_body = if objects.iter().any(|o| o.align_bits.is_some()) {
        quote!(match self { #(#aligns)* _ => size_bits })
    } else {
        quote!(size_bits)
    };
    let memory = objects.iter().map(|o| {
        let v = object_variant(o);
        let (ram, device) = (o.ram, o.device);
        (quote!(ObjectType::#v), quote!((#ram, #device)))
    });
    let memory = grouped_match(quote!(self), memory.collect(), true);
    let untyped = objects
        .iter()
        .filter(|o| o.kind == ObjectKind::Untyped)
        .map(|o| {
            let v = object_variant(o);
            quote!(ObjectType::#v)
        });
    let untyped_match = if objects.iter().any(|o| o.kind == ObjectKind::Untyped) {
        quote!(matches!(self, #(#untyped)|*))
    } else {
        quote!(false)
    };
    let byte_sizes = g.byte_sizes().then(|| byte_size_fns(objects));
    // `repr(u8)` fixes the numbering rustc may use; on an enum without
    // variants (a spec with no object types) it is an error (E0084).
    let repr = (!objects.is_empty()).then(|| quote!(#[repr(u8)]));
    // Without object types `size_bits` matches on nothing and reads no argument.
    let arg = if objects.is_empty() {
        format_ident!("_arg")
    } else {
        format_ident!("arg")
    };
    quote! {
        /// A size argument outside what an object type allows (seL4's
        /// `RangeError`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct SizeError {
            /// The smallest allowed argument.
            pub min: u64,
            /// The largest allowed argument.
            pub max: u64,
        }

        /// The kernel object types, numbered in declaration order (the
        /// number is the `object_type` word of a retype call).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #repr
        // Variants are named as the spec names its types.
        #[allow(non_camel_case_types)]
        pub enum ObjectType {
            #(#variants,)*
        }

        impl ObjectType {
            /// Every object type, in number order.
            pub const ALL: [ObjectType; #count] = [#(#all),*];

            /// The object type with this number.
            pub const fn from_word(word: u64) -> Option<ObjectType> {
                #from_word_body
            }

            #sized_number

            /// The name used in the spec.
            pub const fn name(self) -> &'static str {
                match self {
                    #(#names,)*
                }
            }

            /// log2 of the size in bytes of an object made with size argument
            /// `arg` (fixed-size types take 0).
            pub const fn size_bits(self, #arg: u64) -> Result<u32, SizeError> {
                #sizes
            }

            /// The smallest and largest size argument.
            pub const fn arg_bounds(self) -> (u64, u64) {
                #bounds
            }

            #byte_sizes

            /// log2 of the alignment of an object of `size_bits`: objects are
            /// naturally aligned unless the spec says otherwise.
            pub const fn align_bits(self, size_bits: u32) -> u32 {
                #align_body
            }

            /// Whether objects of this type may be made from RAM and from
            /// device memory.
            pub const fn memory(self) -> (bool, bool) {
                #memory
            }

            /// Whether this is untyped memory (which can be retyped).
            pub const fn is_untyped(self) -> bool {
                #untyped_match
            }
        }

        /// Binds a kernel's own struct to an object type of the spec; see
        /// `#[derive(KernelObject)]`.
        pub trait KernelObject {
            /// The object type the struct implements.
            const OBJECT_TYPE: ObjectType;
            /// log2 of the object's size: the struct must fit in it.
            const SIZE_BITS: u32;
        }
    }
}

/// `ObjectType::size_bytes` and `ObjectType::placement`, for a spec with
/// a byte-sized object type.
fn byte_size_fns(objects: &[Object]) -> TokenStream {
    let arms = objects.iter().filter_map(|o| {
        let b = o.size.bytes?;
        let v = object_variant(o);
        let (min, max) = (lit(b.min), lit(b.max));
        let mask = lit((1u64 << b.granule_bits) - 1);
        Some(quote! {
            ObjectType::#v => if arg >= #min && arg <= #max && arg & #mask == 0 {
                Ok(arg)
            } else {
                Err(SizeError { min: #min, max: #max })
            }
        })
    });
    quote! {
        /// The size in bytes of an object made with size argument `arg`:
        /// `1 << size_bits(arg)`, or for a byte-sized type (`#[bytes]`)
        /// `arg` itself, a whole number of its granules in its range.
        pub const fn size_bytes(self, arg: u64) -> Result<u64, SizeError> {
            match self {
                #(#arms,)*
                _ => match self.size_bits(arg) {
                    Ok(bits) => match 1u64.checked_shl(bits) {
                        Some(bytes) => Ok(bytes),
                        None => {
                            let (min, max) = self.arg_bounds();
                            Err(SizeError { min, max })
                        }
                    },
                    Err(e) => Err(e),
                },
            }
        }

        /// The size in bytes and log2 of the alignment of an object made
        /// with size argument `arg`: a byte-sized type is aligned to its
        /// granule, any other to `align_bits` of its size.
        pub const fn placement(self, arg: u64) -> Result<(u64, u32), SizeError> {
            match self.size_bytes(arg) {
                Ok(bytes) => Ok((bytes, self.align_bits(bytes.trailing_zeros()))),
                Err(e) => Err(e),
            }
        }
    }
}

/// The Rust type of a field's value: a `uN` field's is the narrowest of
/// `u8`, `u16`, `u32` and `u64` that holds `N` bits; a pointer is an
/// address, `u64`.
pub fn field_type(g: &Gen<'_>, f: &CapField) -> TokenStream {
    if let Some(e) = enumeration_of(g, f) {
        return quote!(#e);
    }
    match f.kind {
        FieldKind::Bool => quote!(bool),
        FieldKind::Rights { .. } => quote!(Rights),
        FieldKind::Ptr { .. } => quote!(u64),
        FieldKind::Uint => uint_type(f.width.into()),
    }
}

/// The narrowest unsigned integer type of `width` bits or more.
pub fn uint_type(width: u32) -> TokenStream {
    match width {
        0..=8 => quote!(u8),
        9..=16 => quote!(u16),
        17..=32 => quote!(u32),
        _ => quote!(u64),
    }
}

/// Whether a field's getter returns an integer narrower than `u64` (a
/// `uN` field of 32 bits or fewer, not enumerated): generated code that
/// computes with it in `u64` widens it ([`get_u64`]) and stores a `u64`
/// in it through `Cap::set_field` ([`set_u64`]).
pub fn is_narrow(f: &CapField) -> bool {
    f.kind == FieldKind::Uint && f.values.is_none() && f.width <= 32
}

/// `view.getter()` as a `u64`: widened with `as u64` when the getter's
/// type is narrower (`as` is what a `const fn` can use).
pub fn get_u64(view: TokenStream, f: &CapField) -> TokenStream {
    let getter = ident(&f.name);
    if is_narrow(f) {
        quote!(#view.#getter() as u64)
    } else {
        quote!(#view.#getter())
    }
}

/// The setter call storing the `u64` expression `value` in field `f` of
/// the view `view` (a place): the setter itself when it takes a `u64`, else
/// `Cap::set_field` on the view's cap, which checks the value against the
/// field's width and fails with the same `FieldError` the setter would.
pub fn set_u64(view: TokenStream, f: &CapField, value: TokenStream) -> TokenStream {
    if is_narrow(f) {
        let name = &f.name;
        let place = place(f);
        quote!(#view.0.set_field(#name, #place, #value))
    } else {
        let setter = format_ident!("set_{}", snake(&f.name));
        quote!(#view.#setter(#value))
    }
}

/// `word, shift, width` of a field, the arguments of `Cap::field` and
/// `Cap::set_field`.
pub fn place(f: &CapField) -> TokenStream {
    let word = lit(f.word.into());
    let shift = lit(f.shift.into());
    let width = lit(f.width.into());
    quote!(#word, #shift, #width)
}

/// Expression reading the field from the view's cap as its Rust type.
fn getter_expr(g: &Gen<'_>, f: &CapField) -> TokenStream {
    let place = place(f);
    let raw = quote!(self.0.field(#place));
    if let Some(e) = enumeration_of(g, f) {
        let name = &f.name;
        return quote! {
            let value = #raw;
            match #e::from_value(value) {
                Some(v) => Ok(v),
                None => Err(FieldError { field: #name, value }),
            }
        };
    }
    match &f.kind {
        FieldKind::Bool => quote!(#raw != 0),
        FieldKind::Rights { .. } => quote!(Rights::from_bits_truncate(#raw)),
        FieldKind::Uint if is_narrow(f) => {
            let t = uint_type(f.width.into());
            quote!(#raw as #t)
        }
        FieldKind::Uint => raw,
        // A whole-word pointer is the address itself.
        FieldKind::Ptr { .. } if f.whole_word => raw,
        FieldKind::Ptr { align_bits } if f.sign_extend => {
            let a = lit((*align_bits).into());
            quote!(self.0.canonical_pointer(#place, #a))
        }
        // A byte-aligned pointer is stored as it is: no shift.
        FieldKind::Ptr { align_bits: 0 } => raw,
        FieldKind::Ptr { align_bits } => {
            let a = lit((*align_bits).into());
            quote!(#raw << #a)
        }
    }
}

/// The body of a field's setter: check `value` (a cap type's rights against
/// its `VALID_RIGHTS`) and store it with `Cap::set_field`, or with
/// `Cap::set_pointer` for a pointer.
fn setter_body(f: &CapField) -> TokenStream {
    let name = &f.name;
    let place = place(f);
    if f.values.is_some() {
        return quote!(self.0.set_field(#name, #place, value.value()));
    }
    match &f.kind {
        FieldKind::Bool => quote!(self.0.set_field(#name, #place, value as u64)),
        FieldKind::Rights { .. } => quote! {
            if !Self::VALID_RIGHTS.contains(value) {
                return Err(FieldError { field: #name, value: value.bits() });
            }
            self.0.set_field(#name, #place, value.bits())
        },
        FieldKind::Uint if is_narrow(f) => quote!(self.0.set_field(#name, #place, value as u64)),
        FieldKind::Uint => quote!(self.0.set_field(#name, #place, value)),
        FieldKind::Ptr { align_bits } if f.whole_word => {
            let w = lit(f.word.into());
            let a = lit((*align_bits).into());
            quote!(self.0.set_word_pointer(#name, #w, #a, value))
        }
        FieldKind::Ptr { align_bits } if f.sign_extend => {
            let a = lit((*align_bits).into());
            quote!(self.0.set_canonical_pointer(#name, #place, #a, value))
        }
        FieldKind::Ptr { align_bits } => {
            let a = lit((*align_bits).into());
            quote!(self.0.set_pointer(#name, #place, #a, value))
        }
    }
}

/// log2 of a pointer field's alignment (0 for any other field).
fn ptr_align_bits(f: &CapField) -> u32 {
    match f.kind {
        FieldKind::Ptr { align_bits } => align_bits,
        _ => 0,
    }
}

/// The private helpers of `Cap` the views' getters and setters call: each
/// view names a field by its place (word, shift, width), and the bit
/// arithmetic is written once. Only the helpers the spec's fields use.
fn field_helpers(g: &Gen<'_>) -> TokenStream {
    let fields = || g.spec.caps.iter().flat_map(|c| &c.fields);
    if fields().next().is_none() {
        return TokenStream::new();
    }
    let canonical = fields().any(|f| f.sign_extend).then(|| {
        quote! {
            /// The pointer in bits `shift..shift + width` of word `word`,
            /// its low `align_bits` bits put back and its top bit copied
            /// into every bit above it (a canonical address).
            const fn canonical_pointer(self, word: usize, shift: u32, width: u32, align_bits: u32) -> u64 {
                let above = 64 - (width + align_bits);
                ((self.field(word, shift, width) << (align_bits + above)) as i64 >> above) as u64
            }

            /// Stores canonical pointer `value` in bits `shift..shift +
            /// width` of word `word`, without its low `align_bits` bits
            /// and the bits above them that copy its top bit; fails,
            /// naming `field`, if it is misaligned or not canonical.
            const fn set_canonical_pointer(
                &mut self,
                field: &'static str,
                word: usize,
                shift: u32,
                width: u32,
                align_bits: u32,
                value: u64,
            ) -> Result<(), FieldError> {
                let above = 64 - (width + align_bits);
                if value & ((1 << align_bits) - 1) != 0 || ((value << above) as i64 >> above) as u64 != value {
                    return Err(FieldError { field, value });
                }
                self.set_field(field, word, shift, width, (value >> align_bits) & Cap::low_bits(width))
            }
        }
    });
    let word_pointer = fields().any(|f| f.whole_word).then(|| {
        quote! {
            /// Stores pointer `value` as the whole of word `word`, as it is
            /// (not shifted); fails, naming `field`, if its low
            /// `align_bits` bits are not 0.
            const fn set_word_pointer(
                &mut self,
                field: &'static str,
                word: usize,
                align_bits: u32,
                value: u64,
            ) -> Result<(), FieldError> {
                if value & Cap::low_bits(align_bits) != 0 {
                    return Err(FieldError { field, value });
                }
                self.words[word] = value;
                Ok(())
            }
        }
    });
    let pointer = fields()
        .any(|f| matches!(f.kind, FieldKind::Ptr { .. }) && !f.sign_extend && !f.whole_word)
        .then(|| {
            quote! {
                /// Stores pointer `value` in bits `shift..shift + width` of
                /// word `word`, without its low `align_bits` bits; fails,
                /// naming `field`, if it is misaligned or too high.
                const fn set_pointer(
                    &mut self,
                    field: &'static str,
                    word: usize,
                    shift: u32,
                    width: u32,
                    align_bits: u32,
                    value: u64,
                ) -> Result<(), FieldError> {
                    if value & ((1 << align_bits) - 1) != 0 || (value >> align_bits) & !Cap::low_bits(width) != 0 {
                        return Err(FieldError { field, value });
                    }
                    self.set_field(field, word, shift, width, value >> align_bits)
                }
            }
        });
    // `new` of a view with more than one field.
    let first_error = g.spec.caps.iter().any(|c| c.fields.len() > 1).then(|| {
        quote! {
            /// The first failure among the results of a view's setters (what
            /// its `new` returns), or `Ok`.
            const fn first_error(results: &[Result<(), FieldError>]) -> Result<(), FieldError> {
                let mut i = 0;
                while i < results.len() {
                    if let Err(e) = results[i] {
                        return Err(e);
                    }
                    i += 1;
                }
                Ok(())
            }
        }
    });
    quote! {
        /// The mask of the low `width` bits of a word.
        const fn low_bits(width: u32) -> u64 {
            if width >= 64 { u64::MAX } else { (1 << width) - 1 }
        }

        #first_error

        /// Bits `shift..shift + width` of word `word`.
        const fn field(self, word: usize, shift: u32, width: u32) -> u64 {
            (self.words[word] >> shift) & Cap::low_bits(width)
        }

        /// Stores `value` in bits `shift..shift + width` of word `word`;
        /// fails, naming `field`, if it does not fit in `width` bits.
        const fn set_field(
            &mut self,
            field: &'static str,
            word: usize,
            shift: u32,
            width: u32,
            value: u64,
        ) -> Result<(), FieldError> {
            let mask = Cap::low_bits(width);
            if value & !mask != 0 {
                return Err(FieldError { field, value });
            }
            self.words[word] = (self.words[word] & !(mask << shift)) | value << shift;
            Ok(())
        }

        #pointer
        #canonical
        #word_pointer
    }
}

fn caps(g: &Gen<'_>) -> TokenStream {
    let spec = g.spec;
    let tag_mask = lit((1u64 << spec.target.tag_bits) - 1);
    let tag_read = match spec.target.tag_shift {
        0 => quote!(self.words[0] & #tag_mask),
        shift => {
            let shift = lit(shift.into());
            quote!((self.words[0] >> #shift) & #tag_mask)
        }
    };
    let variants = spec.caps.iter().map(|c| {
        let v = ident(&c.name);
        let tag = lit(c.tag.into());
        // The cap type's docs and spec line are on its view.
        let doc = format!(" [`{}`]'s tag.", c.name);
        quote!(#[doc = #doc] #v = #tag)
    });
    let from_tag = spec.caps.iter().map(|c| {
        let v = ident(&c.name);
        let tag = lit(c.tag.into());
        quote!(#tag => Some(CapType::#v))
    });
    let all = spec.caps.iter().map(|c| {
        let v = ident(&c.name);
        quote!(CapType::#v)
    });
    let count = lit(spec.caps.len() as u64);
    // A spec without cap types (an RPC interface alone) has no tag to match.
    let from_tag_body = if spec.caps.is_empty() {
        quote! {
            let _ = tag;
            None
        }
    } else if spec
        .caps
        .iter()
        .enumerate()
        .all(|(i, c)| c.tag as usize == i + 1)
    {
        // Tags 1, 2, ... in declaration order: `ALL` is the table.
        quote! {
            match tag {
                1..=#count => Some(CapType::ALL[tag as usize - 1]),
                _ => None,
            }
        }
    } else {
        quote! {
            match tag {
                #(#from_tag,)*
                _ => None,
            }
        }
    };
    let type_names = spec.caps.iter().map(|c| {
        let v = ident(&c.name);
        let n = &c.name;
        quote!(CapType::#v => #n)
    });
    let object_of = spec.caps.iter().map(|c| {
        let v = ident(&c.name);
        match c.object {
            Some(o) => {
                let ov = object_variant(&spec.objects[o.index()]);
                (quote!(CapType::#v), quote!(Some(ObjectType::#ov)))
            }
            None => (quote!(CapType::#v), quote!(None)),
        }
    });
    let object_of = grouped_match(quote!(self), object_of.collect(), true);
    let valid_rights = spec.caps.iter().map(|c| {
        let v = ident(&c.name);
        let r = rights_const(g, &c.rights);
        (quote!(CapType::#v), r)
    });
    let valid_rights = grouped_match(quote!(self), valid_rights.collect(), true);
    let copy = spec.caps.iter().map(|c| {
        let v = ident(&c.name);
        let p = match c.copy {
            CopyPolicy::Normal => quote!(CopyPolicy::Normal),
            CopyPolicy::Always => quote!(CopyPolicy::Always),
            CopyPolicy::Never => quote!(CopyPolicy::Never),
        };
        (quote!(CapType::#v), p)
    });
    let copy = grouped_match(quote!(self), copy.collect(), true);
    let debug_arms = spec.caps.iter().map(|c| {
        let v = ident(&c.name);
        quote!(Some(CapType::#v) => ::core::fmt::Debug::fmt(&#v(*self), f))
    });
    let rights_methods = rights_methods(g);
    let field_helpers = field_helpers(g);
    let badge_methods = badge_methods(g);
    let cap_doc = format!(
        " A capability: {} 64-bit words (`target::CAP_WORDS`), the cap type's tag in {} of word 0 and the fields where the spec's layout put them.",
        match spec.target.cap_words {
            2 => "two".to_string(),
            n => n.to_string(),
        },
        match spec.target.tag_shift {
            0 => "the low bits".to_string(),
            shift => format!("bits {shift}..{}", shift + spec.target.tag_bits),
        }
    );
    // `repr(u8)` on an enum without variants is an error (E0084).
    let repr = (!spec.caps.is_empty()).then(|| quote!(#[repr(u8)]));
    quote! {
        /// The capability types, numbered by their tag (0 is the null cap);
        /// each is documented on its view, the type named like it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #repr
        #[allow(non_camel_case_types)]
        pub enum CapType {
            #(#variants,)*
        }

        /// How copies of a cap type behave.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum CopyPolicy {
            /// Copies and derivations follow the usual rules.
            Normal,
            /// Every derivation is a copy, never a child.
            Always,
            /// The cap cannot be copied.
            Never,
        }

        impl CapType {
            /// Every cap type, in tag order.
            pub const ALL: [CapType; #count] = [#(#all),*];

            /// The cap type with this tag (`None` for 0, the null cap, and
            /// for unused tags).
            pub const fn from_tag(tag: u64) -> Option<CapType> {
                #from_tag_body
            }

            /// The name used in the spec.
            pub const fn name(self) -> &'static str {
                match self {
                    #(#type_names,)*
                }
            }

            /// The object type caps of this type name, if any.
            pub const fn object_type(self) -> Option<ObjectType> {
                #object_of
            }

            /// The rights caps of this type may carry.
            pub const fn valid_rights(self) -> Rights {
                #valid_rights
            }

            /// How copies behave.
            pub const fn copy_policy(self) -> CopyPolicy {
                #copy
            }
        }

        #[doc = #cap_doc]
        ///
        /// # Views
        ///
        /// Each cap type has a view named like it: the cap seen as that
        /// type, made with its `new` (from every field's value) or
        /// `from_cap` (when the tag is its `TAG`), and turned back with
        /// `cap` or `From`. A view has a getter for each field, named like
        /// the field, and a setter `set_<field>` that takes the getter's
        /// type and fails with a [`FieldError`], changing nothing, when the
        /// value does not fit the field: too wide, a right the type may not
        /// carry (its `VALID_RIGHTS`), a misaligned pointer.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        #[repr(C)]
        pub struct Cap {
            words: [u64; target::CAP_WORDS],
        }

        // A cap is its words and nothing else (written without `assert!`,
        // whose tokens the formatter would print as they come).
        const _: () = if ::core::mem::size_of::<Cap>() != 8 * target::CAP_WORDS {
            panic!("a Cap is not its words")
        };

        impl Cap {
            /// The null cap: an empty slot.
            pub const NULL: Cap = Cap { words: [0; target::CAP_WORDS] };

            /// The cap stored in these words.
            pub const fn from_words(words: [u64; target::CAP_WORDS]) -> Cap {
                Cap { words }
            }

            /// The words of the cap.
            pub const fn words(self) -> [u64; target::CAP_WORDS] {
                self.words
            }

            /// The raw tag.
            pub const fn tag(self) -> u64 {
                #tag_read
            }

            /// Whether this is the null cap.
            pub const fn is_null(self) -> bool {
                self.tag() == 0
            }

            /// The cap's type, if its tag is a known one.
            pub const fn cap_type(self) -> Option<CapType> {
                CapType::from_tag(self.tag())
            }

            #rights_methods
            #badge_methods
            #field_helpers
        }

        impl ::core::fmt::Debug for Cap {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                if self.is_null() {
                    return f.write_str("Cap::NULL");
                }
                match self.cap_type() {
                    #(#debug_arms,)*
                    None => write!(f, "Cap {{ invalid tag: {} }}", self.tag()),
                }
            }
        }

    }
}

/// The field of `c` holding its rights, if it has one.
fn rights_field(c: &CapType) -> Option<&CapField> {
    c.fields
        .iter()
        .find(|f| matches!(f.kind, FieldKind::Rights { .. }))
}

/// The `#[badge]` field of `c`, if it has one that holds a number.
fn badge_field(c: &CapType) -> Option<&CapField> {
    c.field_with(Role::Badge)
        .filter(|f| f.kind == FieldKind::Uint)
}

/// `Cap::rights` and `Cap::with_rights_masked`, or nothing when no cap type
/// has a rights field.
fn rights_methods(g: &Gen<'_>) -> TokenStream {
    let with: Vec<_> = g
        .spec
        .caps
        .iter()
        .filter_map(|c| Some((ident(&c.name), rights_field(c)?)))
        .collect();
    if with.is_empty() {
        return TokenStream::new();
    }
    let get_arms = with.iter().map(|(view, f)| {
        let getter = ident(&f.name);
        quote!(Some(CapType::#view) => #view(self).#getter())
    });
    let mask_arms = with.iter().map(|(view, f)| {
        let getter = ident(&f.name);
        let setter = format_ident!("set_{}", snake(&f.name));
        quote! {
            Some(CapType::#view) => {
                let mut view = #view(self);
                let rights = view.#getter().mask(keep).mask(#view::VALID_RIGHTS);
                if view.#setter(rights).is_ok() { view.0 } else { self }
            }
        }
    });
    quote! {
        /// The rights the cap carries: its rights field. `Rights::NONE` for
        /// cap types without one, the null cap and an unknown tag.
        pub const fn rights(self) -> Rights {
            match self.cap_type() {
                #(#get_arms,)*
                _ => Rights::NONE,
            }
        }

        /// The cap with its rights field keeping only the rights also in
        /// `keep` (and valid for its type): masking never adds a right, and
        /// no other field changes. Caps without a rights field, the null cap
        /// and an unknown tag come back unchanged.
        pub const fn with_rights_masked(self, keep: Rights) -> Cap {
            match self.cap_type() {
                // A subset of the type's valid rights: the setter accepts it.
                #(#mask_arms,)*
                _ => self,
            }
        }
    }
}

/// `Cap::with_badge`, or nothing when no cap type has a badge.
fn badge_methods(g: &Gen<'_>) -> TokenStream {
    let arms: Vec<_> = g
        .spec
        .caps
        .iter()
        .filter_map(|c| {
            let set = set_u64(quote!(view), badge_field(c)?, quote!(badge));
            let view = ident(&c.name);
            Some(quote! {
                Some(CapType::#view) => {
                    let mut view = #view(self);
                    if let Err(e) = #set {
                        return Err(e);
                    }
                    Ok(view.0)
                }
            })
        })
        .collect();
    if arms.is_empty() {
        return TokenStream::new();
    }
    quote! {
        /// The cap with its `#[badge]` field set to `badge` (read it back
        /// with `badge_of`); no other field changes. Fails with the
        /// setter's `FieldError` when the badge does not fit, and with a
        /// `FieldError` naming `"badge"` for the null cap, an unknown tag
        /// and cap types without a badge.
        pub const fn with_badge(self, badge: u64) -> Result<Cap, FieldError> {
            match self.cap_type() {
                #(#arms,)*
                _ => Err(FieldError { field: "badge", value: badge }),
            }
        }
    }
}

/// Whether a new object's `#[device]` field comes from `cap_for`'s `device`
/// argument: only for objects that may be made from RAM and from device
/// memory. Others are always (`memory = device`) or never device memory.
fn device_varies(o: &Object) -> bool {
    o.ram && o.device
}

/// The value a new object's cap stores in field `f` (see `cap_for`).
fn new_object_value(f: &CapField, view: &proc_macro2::Ident, o: &Object) -> TokenStream {
    let device = if device_varies(o) {
        quote!(device)
    } else {
        let is_device = !o.ram;
        quote!(#is_device)
    };
    // A `u64` value for a narrower field: refused (`cap_for` is `None`) when
    // it does not fit that type, as the setter refuses it when it does not
    // fit the field.
    let narrow = |value: TokenStream| {
        if is_narrow(f) {
            let t = uint_type(f.width.into());
            quote!(#t::try_from(#value).ok()?)
        } else {
            value
        }
    };
    match (f.role, &f.kind) {
        (Role::Object, _) if f.virtual_offset != 0 => {
            let offset = super::lit(f.virtual_offset);
            quote!(address.wrapping_add(#offset))
        }
        (Role::Object, _) => quote!(address),
        // A size in bytes: `1 << size_arg` (0 for an argument past 63,
        // which no object allows).
        (Role::SizeArg, _) if f.size_bytes => narrow(quote!(
            1u64.checked_shl(if size_arg < 64 { size_arg as u32 } else { 64 })
                .unwrap_or(0)
        )),
        (Role::SizeArg, _) => narrow(quote!(size_arg)),
        (Role::Device, FieldKind::Bool) => device,
        (Role::Device, _) => {
            let t = if is_narrow(f) {
                uint_type(f.width.into())
            } else {
                quote!(u64)
            };
            quote!(#device as #t)
        }
        (_, FieldKind::Rights { .. }) => quote!(#view::VALID_RIGHTS),
        (_, FieldKind::Bool) => quote!(false),
        _ => quote!(0),
    }
}

/// [`new_object_value`] for an enumerated field: its variant of the size
/// argument (the checker has every argument named), else its first.
fn new_object_variant(g: &Gen<'_>, f: &CapField) -> Option<TokenStream> {
    let e = enumeration_of(g, f)?;
    Some(match f.role {
        Role::SizeArg => quote!(#e::from_value(size_arg)?),
        _ => initial_variant(g, f)?,
    })
}

/// `ObjectType::cap_for`: the cap a retype makes for a new object, built
/// with the first cap type declared for each object type.
fn cap_for(g: &Gen<'_>) -> TokenStream {
    let spec = g.spec;
    // Each object type with the first cap type declared for it.
    let pairs: Vec<(&Object, &CapType)> = spec
        .objects
        .iter()
        .enumerate()
        .filter_map(|(i, o)| {
            let c = spec
                .caps
                .iter()
                .find(|c| c.object.is_some_and(|id| id.index() == i))?;
            Some((o, c))
        })
        .collect();
    let arms = pairs.iter().map(|(o, c)| {
        let object = object_variant(o);
        let view = ident(&c.name);
        let values = c
            .fields
            .iter()
            .map(|f| new_object_variant(g, f).unwrap_or_else(|| new_object_value(f, &view, o)));
        quote!(ObjectType::#object => #view::new(#(#values),*).map(Cap::from))
    });
    let rest = (pairs.len() < spec.objects.len()).then(|| quote!(_ => return None,));
    // A parameter no cap type stores is named `_x`, so it is not unused.
    let param = |name: &str, role: Role| {
        let used = |o: &Object| role != Role::Device || device_varies(o);
        if pairs
            .iter()
            .any(|(o, c)| c.field_with(role).is_some() && used(o))
        {
            format_ident!("{}", name)
        } else {
            format_ident!("_{}", name)
        }
    };
    let address = param("address", Role::Object);
    let size_arg = param("size_arg", Role::SizeArg);
    let device = param("device", Role::Device);
    let body = if pairs.is_empty() {
        quote! {
            let _ = self;
            None
        }
    } else {
        quote! {
            let cap = match self {
                #(#arms,)*
                #rest
            };
            cap.ok()
        }
    };
    quote! {
        impl ObjectType {
            /// The cap a retype makes for a new object of this type at
            /// `address`, of the first cap type the spec declares for it:
            /// its `#[object]` field is `address`, its `#[size_arg]` field
            /// `size_arg`, its `#[device]` field `device` (always true for
            /// objects only device memory may hold), its rights field
            /// every right the cap type may carry (`VALID_RIGHTS`), and every
            /// other field (badge, watermark, guard, ...) 0. `None` when no
            /// cap type names this object type, or a field refuses its value
            /// (a misaligned or too wide address, a size argument too wide).
            pub fn cap_for(self, #address: u64, #size_arg: u64, #device: bool) -> Option<Cap> {
                #body
            }
        }
    }
}

/// `with_cap_data` for a cap type with `#[guard_bits]`, `#[guard]` and
/// `#[size_arg]` integer fields (a CNode cap): seL4's updateCapData, which
/// mint and mutate apply to the word they are given. Nothing for others.
fn cap_data_method(c: &CapType) -> Option<TokenStream> {
    let uint = |role| {
        c.field_with(role)
            .filter(|f| f.kind == FieldKind::Uint && f.values.is_none())
    };
    let (bits, guard, radix) = (
        uint(Role::GuardBits)?,
        uint(Role::Guard)?,
        uint(Role::SizeArg)?,
    );
    let get_radix = ident(&radix.name);
    // A radix held in bytes (`#[size_arg(bytes)]`) is log2 of them.
    let radix_value = if radix.size_bytes {
        quote!((self.#get_radix().trailing_zeros() as u64))
    } else {
        get_u64(quote!(self), radix)
    };
    let width = lit(bits.width.into());
    let set_bits = set_u64(quote!(view), bits, quote!(size));
    let set_guard = set_u64(quote!(view), guard, quote!((data >> #width) & mask));
    let doc = format!(
        " seL4's updateCapData for this cap, as mint and mutate apply their word: the word's low {w} bits are the guard's size (`{b}`), the bits above them the guard (`{g}`), masked to that size. `None` if the guard and the radix (`{r}`) take more than 64 bits, or a value does not fit its field.",
        w = bits.width,
        b = bits.name,
        g = guard.name,
        r = radix.name,
    );
    Some(quote! {
        #[doc = #doc]
        pub const fn with_cap_data(self, data: u64) -> Option<Self> {
            let size = data & Cap::low_bits(#width);
            if size + #radix_value > 64 {
                return None;
            }
            let mask = if size == 0 { 0 } else { u64::MAX >> (64 - size) };
            let mut view = self;
            if #set_bits.is_err() || #set_guard.is_err() {
                return None;
            }
            Some(view)
        }
    })
}

fn view(g: &Gen<'_>, c: &CapType) -> TokenStream {
    let name = ident(&c.name);
    let doc = g.docs(
        &c.docs,
        &format!("{} `{}` capability.", super::article(&c.name), c.name),
        c.span,
    );
    let tag = lit(c.tag.into());
    let tag_word = lit(u64::from(c.tag) << g.spec.target.tag_shift);
    let valid_const = rights_const(g, &c.rights);
    let params = c.fields.iter().map(|f| {
        let n = ident(&f.name);
        let t = field_type(g, f);
        quote!(#n: #t)
    });
    let sets: Vec<_> = c
        .fields
        .iter()
        .map(|f| {
            let n = ident(&f.name);
            let setter = format_ident!("set_{}", snake(&f.name));
            quote!(view.#setter(#n))
        })
        .collect();
    let accessors = c.fields.iter().map(|f| {
        let getter = ident(&f.name);
        let setter = format_ident!("set_{}", snake(&f.name));
        let t = field_type(g, f);
        let get = getter_expr(g, f);
        // An enumerated field's bits may hold a value no variant names.
        let (get_type, get_note) = if f.values.is_some() {
            (
                quote!(Result<#t, FieldError>),
                Some(quote!(#[doc = " Fails with a [`FieldError`] when its bits hold a value no variant names."])),
            )
        } else {
            (t.clone(), None)
        };
        let fdoc = g.docs(&f.docs, &format!("The `{}` field.", f.name), f.span);
        let layout = format!(
            " Stored in word {}, bits {}..{}{}.",
            f.word,
            f.shift,
            f.shift as u32 + f.width as u32,
            match f.kind {
                FieldKind::Ptr { align_bits } if f.whole_word && align_bits > 0 => {
                    format!(", the whole address (aligned to 2^{align_bits})")
                }
                FieldKind::Ptr { .. } if f.whole_word => ", the whole address".to_string(),
                FieldKind::Ptr { align_bits } if f.sign_extend => format!(
                    ", shifted right by {align_bits}; read back sign-extended from bit {}",
                    u32::from(f.width) + align_bits - 1
                ),
                FieldKind::Ptr { align_bits } if align_bits > 0 => {
                    format!(", shifted right by {align_bits}")
                }
                _ => String::new(),
            }
        );
        let set = setter_body(f);
        let set_doc = if f.sign_extend {
            format!(
                " Sets `{}`; fails if the address is misaligned or not canonical (the bits above bit {} not all equal to it).",
                f.name,
                u32::from(f.width) + ptr_align_bits(f) - 1
            )
        } else if f.whole_word {
            format!(" Sets `{}`; fails if the address is misaligned.", f.name)
        } else {
            format!(" Sets [`{}`](Self::{}).", f.name, ident(&f.name))
        };
        quote! {
            #fdoc
            #[doc = ""]
            #[doc = #layout]
            #get_note
            pub const fn #getter(self) -> #get_type {
                #get
            }

            #[doc = #set_doc]
            pub const fn #setter(&mut self, value: #t) -> Result<(), FieldError> {
                #set
            }
        }
    });
    let debug_fields = c.fields.iter().map(|f| {
        let n = &f.name;
        let getter = ident(&f.name);
        match f.kind {
            // `Type::getter(view)`, not `self.getter()`: a field named like
            // a trait method (`eq`, `fmt`, `clone`) would call the trait's.
            FieldKind::Ptr { .. } => {
                quote!(.field(#n, &format_args!("{:#x}", #name::#getter(view))))
            }
            _ => quote!(.field(#n, &#name::#getter(view))),
        }
    });
    // The getters take the view by value; a view without fields needs none.
    let view_binding = if c.fields.is_empty() {
        quote!()
    } else {
        quote!(let view = *self;)
    };
    let zeros = (1..g.spec.target.cap_words).map(|_| quote!(0));
    let words = quote!([#tag_word, #(#zeros),*]);
    // Every setter runs; the first failure is the answer (a setter that
    // fails changes nothing).
    let new_body = match sets.as_slice() {
        [] => quote!(Ok(#name(Cap { words: #words }))),
        [set] => quote! {
            let mut view = #name(Cap { words: #words });
            match #set {
                Ok(()) => Ok(view),
                Err(e) => Err(e),
            }
        },
        sets => quote! {
            let mut view = #name(Cap { words: #words });
            match Cap::first_error(&[#(#sets),*]) {
                Ok(()) => Ok(view),
                Err(e) => Err(e),
            }
        },
    };
    let many_args = (c.fields.len() > 7).then(|| quote!(#[allow(clippy::too_many_arguments)]));
    let cap_data = cap_data_method(c);
    let cap_name = &c.name;
    let new_doc = format!(
        " {} `{}` with these fields, or the first field's [`FieldError`].",
        super::article(&c.name),
        c.name
    );
    let tag_doc = format!(
        " The tag of {} `{}`.",
        super::article(&c.name).to_lowercase(),
        c.name
    );
    let rights_doc = format!(
        " The rights {} `{}` may carry.",
        super::article(&c.name).to_lowercase(),
        c.name
    );
    let from_doc = format!(
        " `cap` as {} `{}`, if it is one.",
        super::article(&c.name).to_lowercase(),
        c.name
    );
    let cap_doc = format!(" This `{}` as a [`Cap`].", c.name);
    quote! {
        #doc
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(non_camel_case_types)]
        pub struct #name(Cap);

        impl #name {
            #[doc = #tag_doc]
            pub const TAG: u64 = #tag;
            #[doc = #rights_doc]
            pub const VALID_RIGHTS: Rights = #valid_const;

            #[doc = #new_doc]
            #many_args
            pub const fn new(#(#params),*) -> Result<#name, FieldError> {
                #new_body
            }

            #[doc = #from_doc]
            pub const fn from_cap(cap: Cap) -> Option<#name> {
                if cap.tag() == #tag { Some(#name(cap)) } else { None }
            }

            #[doc = #cap_doc]
            pub const fn cap(self) -> Cap {
                self.0
            }

            #(#accessors)*

            #cap_data
        }

        impl From<#name> for Cap {
            fn from(view: #name) -> Cap {
                view.0
            }
        }

        impl ::core::fmt::Debug for #name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                #view_binding
                f.debug_struct(#cap_name)
                    #(#debug_fields)*
                    .finish()
            }
        }
    }
}
