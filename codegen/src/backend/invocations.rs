//! Error sets and kernel invocations.
//!
//! [`error_sets`] makes one enum per error set of the spec (kernel invocations
//! and RPC interfaces both use them). [`invocations`] makes, per invoked cap
//! type, a label enum, a typed argument struct per method, an enum of the
//! decoded invocations, the kernel-side decoder and reply encoders, and the
//! user side's `<Cap>Client<T: Transport>` (one method per invocation, as an
//! RPC interface's client has; a reply error the method does not declare is
//! `Malformed`). Both sides come from one
//! layout ([`layout`]) and share the packing helpers of the crate's one `wire`
//! module (`wire.rs`), so they cannot disagree about where an argument travels.
//!
//! Layout of a request: word parameters in declaration order, one message
//! word per scalar, arrays packed `64 / bits` elements to a word with the
//! first element in the lowest bits and no element crossing a word; cap
//! parameters travel as extra caps, in declaration order. Replies use the same
//! layout for results; a reply's label is 0 on success and the error's number
//! otherwise, with the error's payload words as the message.

use capc_dsl::ast::Scalar;
use capc_dsl::model::{
    CapType, ErrorSet, FieldKind, Layout, Method, MethodParam, MethodSet, ParamKind, RightId, Wire,
};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::{Gen, Part, camel, doc_lines, ident, lit, snake};

/// The section's parts: the error sets, the types and helpers every invoked
/// cap type shares, and one per invoked cap type.
pub fn parts<'a>(g: &'a Gen<'_>) -> Vec<Part<'a>> {
    let mut parts: Vec<Part<'a>> = vec![Box::new(move || error_sets(g))];
    if !g.spec.invocations.is_empty() && g.place.base_here() {
        parts.push(Box::new(move || invocations(g)));
        for set in &g.spec.invocations {
            parts.push(Box::new(move || invocation_set(g, set)));
        }
    }
    parts
}

// ---------------------------------------------------------------------------
// Error sets
// ---------------------------------------------------------------------------

/// One enum per error set of the spec, named as in the spec (`KernelError`),
/// with `number`, `encode`, `decode` and `reply`. Variants are numbered by
/// position from 1 (0 means success) and carry their payload words as named
/// `u64` fields.
pub fn error_sets(g: &Gen<'_>) -> TokenStream {
    let sets = g
        .spec
        .error_sets
        .iter()
        .filter(|set| g.here(set.span))
        .map(|set| error_set(g, set));
    quote!(#(#sets)*)
}

fn error_set(g: &Gen<'_>, set: &ErrorSet) -> TokenStream {
    let name = ident(&set.name);
    let doc = g.docs(
        &set.docs,
        &format!("The `{}` error set.", set.name),
        set.span,
    );
    if set.typed {
        return super::errors::typed_set(g, set, doc);
    }
    let wire = super::errors::nested_wire(g, set);
    let variant_names: Vec<_> = set.variants.iter().map(|v| ident(&v.name)).collect();
    // A variant's payload words and its rest's name, if it has one.
    let rests: Vec<Option<(Ident, Ident)>> = set
        .variants
        .iter()
        .map(|v| {
            v.rest
                .as_ref()
                .map(|(name, id)| (ident(name), ident(&g.spec.error_sets[id.index()].name)))
        })
        .collect();
    let payloads: Vec<Vec<_>> = set
        .variants
        .iter()
        .map(|v| v.payload.iter().map(|p| ident(p)).collect())
        .collect();
    // Fields of a variant's pattern: the words, then the rest.
    let fields_of = |i: usize| -> Vec<Ident> {
        let mut fields = payloads[i].clone();
        fields.extend(rests[i].as_ref().map(|(name, _)| name.clone()));
        fields
    };
    let variants = set.variants.iter().enumerate().map(|(i, v)| {
        let mut lines = if v.docs.is_empty() {
            vec![format!("The `{}` error.", v.name)]
        } else {
            v.docs.clone()
        };
        lines.push(String::new());
        lines.push(match v.payload.len() {
            0 => format!("Number {}; no payload.", i + 1),
            1 => format!("Number {}; one payload word.", i + 1),
            n => format!("Number {}; {n} payload words, in field order.", i + 1),
        });
        if let Some((name, id)) = &v.rest {
            lines.push(format!(
                "Then `{name}`, the rest of the message: a `{}`, its number in one word and its payload words after it.",
                g.spec.error_sets[id.index()].name
            ));
        }
        let doc = doc_lines(&lines);
        let vname = &variant_names[i];
        if v.payload.is_empty() && v.rest.is_none() {
            quote!(#doc #vname)
        } else {
            let fields = v.payload.iter().enumerate().map(|(w, p)| {
                let f = ident(p);
                let fdoc = format!(" Payload word {w}.");
                quote!(#[doc = #fdoc] #f: u64)
            });
            let rest = rests[i].as_ref().map(|(f, set)| {
                let fdoc = format!(" Payload words {} on: the error's number, then its payload.", v.payload.len());
                quote!(#[doc = #fdoc] #f: #set)
            });
            quote!(#doc #vname { #(#fields,)* #rest })
        }
    });
    // A pattern matching a variant whatever its payload, and one binding it.
    let any = |i: usize| {
        let v = &variant_names[i];
        if fields_of(i).is_empty() {
            quote!(Self::#v)
        } else {
            quote!(Self::#v { .. })
        }
    };
    let bound = |i: usize| {
        let v = &variant_names[i];
        let fields = fields_of(i);
        if fields.is_empty() {
            quote!(Self::#v)
        } else {
            quote!(Self::#v { #(#fields),* })
        }
    };
    let numbers = (0..set.variants.len()).map(|i| {
        let pattern = any(i);
        let n = lit(i as u64 + 1);
        quote!(#pattern => #n)
    });
    let (with_payload, without): (Vec<usize>, Vec<usize>) =
        (0..set.variants.len()).partition(|i| !fields_of(*i).is_empty());
    let mut payload_arms: Vec<TokenStream> = with_payload
        .iter()
        .map(|&i| {
            let pattern = bound(i);
            let fields = &payloads[i];
            match &rests[i] {
                // The words, the rest's number, then its payload; bound to
                // names of its own (a field may be named `msg`).
                Some((rest, _)) => {
                    let v = &variant_names[i];
                    let words: Vec<Ident> =
                        (0..fields.len()).map(|w| format_ident!("w{w}")).collect();
                    let n = lit(fields.len() as u64);
                    let after = lit(fields.len() as u64 + 1);
                    quote!(Self::#v { #(#fields: #words,)* #rest: r } => {
                        msg[..#n].copy_from_slice(&[#(#words),*]);
                        msg[#n] = r.number();
                        return #after + r.encode(&mut msg[#after..]);
                    })
                }
                None => quote!(#pattern => &[#(#fields),*]),
            }
        })
        .collect();
    if !without.is_empty() {
        let patterns = without.iter().map(|&i| any(i));
        payload_arms.push(quote!(#(#patterns)|* => &[]));
    }
    let decode_arms = (0..set.variants.len()).map(|i| {
        let n = lit(i as u64 + 1);
        let fields = &payloads[i];
        let value = bound(i);
        match &rests[i] {
            // Bound to names of its own, the value built by field name.
            Some((rest, set)) => {
                let v = &variant_names[i];
                let words: Vec<Ident> = (0..fields.len()).map(|w| format_ident!("w{w}")).collect();
                quote! {
                    (#n, &[#(#words,)* r, ref tail @ ..]) => #set::decode(r, tail)
                        .map(|r| Self::#v { #(#fields: #words,)* #rest: r })
                }
            }
            None if fields.is_empty() => quote!((#n, _) => Some(#value)),
            None => quote!((#n, &[#(#fields,)* ..]) => Some(#value)),
        }
    });
    let decode_body = if set.variants.is_empty() {
        quote! {
            let _ = (number, msg);
            None
        }
    } else {
        quote! {
            match (number, msg) {
                #(#decode_arms,)*
                _ => None,
            }
        }
    };
    let (number_body, encode_body) = if set.variants.is_empty() {
        (
            quote!(match *self {}),
            quote! {
                let _ = msg;
                match *self {}
            },
        )
    } else {
        (
            quote!(match self { #(#numbers,)* }),
            quote! {
                let payload: &[u64] = match *self {
                    #(#payload_arms,)*
                };
                msg[..payload.len()].copy_from_slice(payload);
                payload.len()
            },
        )
    };
    quote! {
        #doc
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[allow(non_camel_case_types)]
        pub enum #name {
            #(#variants,)*
        }

        impl #name {
            /// The error's number: its position in the set, from 1 (0 means
            /// success). It is the label of a reply carrying the error.
            pub const fn number(&self) -> u64 {
                #number_body
            }

            /// Writes the payload words into `msg` (which must be long enough
            /// for them) and returns how many were written.
            pub fn encode(&self, msg: &mut [u64]) -> usize {
                #encode_body
            }

            /// The error with this number, its payload read from the first
            /// words of `msg` (further words are ignored). `None` for 0
            /// (success), a number outside the set, or a `msg` shorter than
            /// the payload.
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

        #wire
    }
}

// ---------------------------------------------------------------------------
// Layout shared by both sides
// ---------------------------------------------------------------------------

/// Where a parameter or result travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// Message words `start..start + count`.
    Words { start: u64, count: u64 },
    /// Extra cap number `index` (among the message's caps).
    Cap { index: u64 },
}

/// A parameter or result with its position in the list and where it travels.
struct Slot<'a> {
    param: &'a MethodParam,
    position: u64,
    place: Place,
}

/// The layout of a parameter or result list: the model's one layout
/// ([`Layout`]), which RPC messages follow too. Word parameters take message
/// words in order (arrays as many as [`ParamKind::Array`] says), cap
/// parameters take extra caps in order.
fn layout(params: &[MethodParam]) -> Vec<Slot<'_>> {
    let layout = Layout::of(params);
    params
        .iter()
        .zip(layout.places)
        .enumerate()
        .map(|(i, (p, wire))| {
            let place = match wire {
                Wire::Words { start, count } => Place::Words { start, count },
                Wire::Cap { index } => Place::Cap { index },
                Wire::Lease { .. } => {
                    unreachable!("the checker allows leases in RPC interfaces only")
                }
            };
            Slot {
                param: p,
                position: i as u64,
                place,
            }
        })
        .collect()
}

/// How many extra caps `params` take.
fn cap_count(params: &[MethodParam]) -> u64 {
    Layout::of(params).caps
}

fn scalar_bits(s: Scalar) -> u32 {
    match s {
        Scalar::Word => 64,
        Scalar::Bool => 1,
        Scalar::Uint(n) => n,
    }
}

/// The Rust type of a scalar: `bool`, or the smallest unsigned integer that
/// holds its bits.
fn scalar_type(s: Scalar) -> TokenStream {
    match s {
        Scalar::Bool => quote!(bool),
        Scalar::Uint(n) if n <= 8 => quote!(u8),
        Scalar::Uint(n) if n <= 16 => quote!(u16),
        Scalar::Uint(n) if n <= 32 => quote!(u32),
        Scalar::Word | Scalar::Uint(_) => quote!(u64),
    }
}

/// Size in bytes of a scalar's Rust type (to judge enum variant sizes).
fn scalar_size(s: Scalar) -> u64 {
    match s {
        Scalar::Bool => 1,
        Scalar::Uint(n) if n <= 8 => 1,
        Scalar::Uint(n) if n <= 16 => 2,
        Scalar::Uint(n) if n <= 32 => 4,
        Scalar::Word | Scalar::Uint(_) => 8,
    }
}

/// A scalar as written in the spec.
fn scalar_name(s: Scalar) -> String {
    match s {
        Scalar::Word => "word".into(),
        Scalar::Bool => "bool".into(),
        Scalar::Uint(n) => format!("u{n}"),
    }
}

/// A scalar whose Rust type is `u64`.
fn is_u64(s: Scalar) -> bool {
    matches!(s, Scalar::Word) || matches!(s, Scalar::Uint(n) if n > 32)
}

/// A scalar whose every `u64` value is valid (no range check needed).
fn full_word(s: Scalar) -> bool {
    matches!(s, Scalar::Word | Scalar::Uint(64))
}

/// `Rights::READ.union(Rights::WRITE)` for a list of rights.
fn rights_expr(g: &Gen<'_>, rights: &[RightId]) -> TokenStream {
    let mut names = rights.iter().map(|r| {
        let name = format_ident!("{}", g.spec.rights[r.index()].name.to_ascii_uppercase());
        quote!(Rights::#name)
    });
    match names.next() {
        None => quote!(Rights::NONE),
        Some(first) => quote!(#first #(.union(#names))*),
    }
}

/// `read`, `write` for docs.
fn rights_names(g: &Gen<'_>, rights: &[RightId]) -> String {
    let names: Vec<String> = rights
        .iter()
        .map(|r| format!("`{}`", g.spec.rights[r.index()].name))
        .collect();
    names.join(", ")
}

/// What a parameter is and where it travels, for docs.
fn describe(g: &Gen<'_>, slot: &Slot<'_>) -> String {
    let what = match (&slot.param.kind, slot.place) {
        (ParamKind::Scalar(s), _) if slot.param.at.is_some() => {
            let packed = slot.param.at.expect("packed");
            format!(
                "`{}` in bits {}..{} of message word {} (`#[at]`)",
                scalar_name(*s),
                packed.bit,
                u64::from(packed.bit) + u64::from(packed.width),
                packed.word
            )
        }
        (_, Place::Words { start, count }) if slot.param.bitfield.is_some() => {
            let b = &g.spec.bitfields[slot.param.bitfield.expect("a bitfield").index()];
            if count == 1 {
                format!("bitfield `{}` in message word {start}", b.name)
            } else {
                format!(
                    "bitfield `{}` in message words {start}..{}",
                    b.name,
                    start + count
                )
            }
        }
        (ParamKind::Scalar(s), Place::Words { start, .. }) => {
            format!("`{}` in message word {start}", scalar_name(*s))
        }
        (ParamKind::Array { element, len, .. }, Place::Words { start, count }) => format!(
            "`[{}; {len}]` in message words {start}..{}, {} elements to a word",
            scalar_name(*element),
            start + count,
            64 / scalar_bits(*element)
        ),
        (
            ParamKind::Cap {
                cap,
                rights,
                unchecked,
                ..
            },
            Place::Cap { index },
        ) => {
            let name = &g.spec.caps[cap.index()].name;
            let what = if rights.is_empty() {
                format!("`{name}` as extra cap {index}")
            } else {
                format!(
                    "`{name}` carrying {}, as extra cap {index}",
                    rights_names(g, rights)
                )
            };
            if *unchecked {
                format!("{what}, unchecked (`#[unchecked]`): the method checks it")
            } else {
                what
            }
        }
        _ => unreachable!("layout places words and caps by kind"),
    };
    format!(
        "`{}` (position {}): {what}.",
        slot.param.name, slot.position
    )
}

// ---------------------------------------------------------------------------
// Invocations
// ---------------------------------------------------------------------------

/// Whether `p` is an array its sender packs with `wire::pack` (a bitfield
/// of several words is copied as its words).
fn packed(p: &MethodParam) -> bool {
    matches!(p.kind, ParamKind::Array { .. }) && p.bitfield.is_none()
}

/// The width of `p` when it is an integer narrower than the Rust type
/// that holds it (a `u6` in a `u8`): its client refuses a wider value.
fn narrow(p: &MethodParam) -> Option<u32> {
    match p.kind {
        ParamKind::Scalar(Scalar::Uint(bits))
            if p.values.is_none() && p.bitfield.is_none() && ![8, 16, 32, 64].contains(&bits) =>
        {
            Some(bits)
        }
        _ => None,
    }
}

/// Whether some kernel invocation takes an array or a narrow integer: its
/// client refuses an element or a value wider than its field
/// (`InvocationError::Argument`).
fn packs_arguments(g: &Gen<'_>) -> bool {
    g.spec
        .invocations
        .iter()
        .flat_map(|s| &s.methods)
        .flat_map(|m| &m.params)
        .any(|p| packed(p) || narrow(p).is_some())
}

/// What every invoked cap type shares: `DecodeError` and `InvocationError`
/// (the `wire` helpers are the base module's, see `wire.rs`). Each cap
/// type's label enum, argument structs, invocation enum, decoder, reply
/// encoders and client follow from [`invocation_set`].
pub fn invocations(g: &Gen<'_>) -> TokenStream {
    let argument = packs_arguments(g).then(|| {
        quote! {
            /// An argument the client refused before sending anything: an
            /// integer or an array element wider than its field. Never
            /// truncated.
            Argument(FieldError),
        }
    });
    let alternatives = alternative_sets(g)
        .into_iter()
        .map(|set| alternatives_enum(g, &set));
    quote! {
        #(#alternatives)*

        /// Why the kernel refused an invocation while decoding it, before
        /// doing anything. Indices are positions in the method's parameter
        /// list as written in the spec, from 0, counting word and cap
        /// parameters alike.
        ///
        /// Every decoder checks, in this order: the label and the rights the
        /// method requires (`IllegalOperation`); the header's and the
        /// buffers' length and cap count (`TruncatedMessage`); then each
        /// parameter in order (`InvalidArgument` or `InvalidCapability` with
        /// its position; an `#[unchecked]` cap is the method's to check).
        /// Words and caps beyond the method's are ignored.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum DecodeError {
            /// The label names no method of the invoked cap type, or the
            /// invoked cap lacks a right the method `requires`.
            IllegalOperation,
            /// The message has fewer words (by its header or its buffer) or
            /// fewer extra caps than the method takes.
            TruncatedMessage,
            /// Parameter `index` is out of range for its type: a `uN` above
            /// 2^N - 1, a `bool` other than 0 or 1, or an array word with bits
            /// set outside its elements.
            InvalidArgument {
                /// Position of the parameter.
                index: u64,
            },
            /// Cap parameter `index` is not of the expected cap type or lacks
            /// a right the parameter requires.
            InvalidCapability {
                /// Position of the parameter.
                index: u64,
            },
        }

        /// Why a kernel invocation did not succeed, as its client sees the
        /// reply: an error the method declares is `Kernel`, decoded by the
        /// error set's `decode`; a reply the spec does not allow is
        /// `Malformed`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum InvocationError<E> {
            /// The kernel answered with this error, one the method declares
            /// (its `errors` clause).
            Kernel(E),
            /// The reply is not one the spec allows: an error the method
            /// does not declare, an error number outside the set, fewer
            /// words than the error's payload or the results need, fewer
            /// caps than the results, or a result out of range for its
            /// type. Carries the reply's header.
            Malformed(MessageInfo),
            #argument
        }
    }
}

/// Names of what is generated for one method.
struct Names {
    /// `UntypedCapLabel::Retype`'s variant, also the invocation enum's.
    variant: Ident,
    /// `UntypedCapRetype`
    args: Ident,
    /// `encode_untyped_cap_retype_reply`
    encode_reply: Ident,
    /// `UntypedCapRetypeReply`
    reply: Ident,
}

fn names(cap: &CapType, m: &Method) -> Names {
    let method = camel(&m.name);
    let cap_snake = snake(&cap.name);
    let m_snake = snake(&m.name);
    Names {
        variant: format_ident!("{}", method),
        args: format_ident!("{}{}", cap.name, method),
        encode_reply: format_ident!("encode_{}_{}_reply", cap_snake, m_snake),
        reply: format_ident!("{}{}Reply", cap.name, method),
    }
}

fn invocation_set(g: &Gen<'_>, set: &MethodSet) -> TokenStream {
    let Some(cap_id) = set.cap else {
        return TokenStream::new();
    };
    let cap = &g.spec.caps[cap_id.index()];
    let label = format_ident!("{}Label", cap.name);
    let invocation = format_ident!("{}Invocation", cap.name);
    let decode = format_ident!("decode_{}", snake(&cap.name));
    let errors = ident(&g.spec.error_sets[set.errors.index()].name);
    let names: Vec<Names> = set.methods.iter().map(|m| names(cap, m)).collect();

    let label_enum = label_enum(g, set, cap, &label, &names);
    let args = set
        .methods
        .iter()
        .zip(&names)
        .filter(|(m, _)| !m.params.is_empty())
        .map(|(m, n)| args_struct(g, cap, m, n, &label));
    // The kernel's side decodes requests and encodes replies; the user
    // side's client encodes requests and decodes replies.
    let kernel = g.kernel_side();
    let invocation_enum = kernel.then(|| invocation_enum(g, set, cap, &label, &invocation, &names));
    let decoder = kernel.then(|| decoder(g, set, cap, &label, &invocation, &decode, &names));
    let replies = set.methods.iter().zip(&names).map(|(m, n)| {
        let reply = reply_struct(g, cap, m, n);
        let encoder = kernel.then(|| reply_encoder(g, cap, m, n));
        quote!(#reply #encoder)
    });
    let client = g
        .user_side()
        .then(|| client(g, set, cap, &label, &errors, &names));
    quote! {
        #label_enum
        #(#args)*
        #invocation_enum
        #decoder
        #(#replies)*
        #client
    }
}

fn label_enum(
    g: &Gen<'_>,
    set: &MethodSet,
    cap: &CapType,
    label: &Ident,
    names: &[Names],
) -> TokenStream {
    let doc = g.docs(
        &[format!(
            "The methods of `{}` caps: the label in an invocation's `MessageInfo`.",
            cap.name
        )],
        "",
        set.span,
    );
    let variants = set.methods.iter().zip(names).map(|(m, n)| {
        let doc = g.docs(&m.docs, &format!("The `{}` method.", m.name), m.span);
        let v = &n.variant;
        let l = lit(m.label.into());
        quote!(#doc #v = #l)
    });
    let per_method = |f: &dyn Fn(&Method) -> TokenStream| -> TokenStream {
        if set.methods.is_empty() {
            return quote!(match self {});
        }
        // Methods with the same value share an arm, in order of first use.
        let mut groups: Vec<(String, TokenStream, Vec<&Ident>)> = Vec::new();
        for (m, n) in set.methods.iter().zip(names) {
            let value = f(m);
            let key = value.to_string();
            match groups.iter_mut().find(|(k, _, _)| *k == key) {
                Some((_, _, variants)) => variants.push(&n.variant),
                None => groups.push((key, value, vec![&n.variant])),
            }
        }
        let arms = groups
            .iter()
            .map(|(_, value, variants)| quote!(#(Self::#variants)|* => #value));
        quote!(match self { #(#arms,)* })
    };
    let from_word = if set.methods.is_empty() {
        quote! {
            let _ = word;
            None
        }
    } else {
        let arms = set.methods.iter().zip(names).map(|(m, n)| {
            let v = &n.variant;
            let l = lit(m.label.into());
            quote!(#l => Some(Self::#v))
        });
        quote!(match word { #(#arms,)* _ => None })
    };
    let requires = per_method(&|m| rights_expr(g, &m.requires));
    let words = per_method(&|m| {
        let w = lit(m.request_words);
        quote!(#w)
    });
    let caps = per_method(&|m| {
        let c = lit(cap_count(&m.params));
        quote!(#c)
    });
    let errors = per_method(&|m| {
        let codes = m.errors.iter().map(|e| lit(*e as u64 + 1));
        quote!(&[#(#codes),*])
    });
    // Only blocks with a creating method have `creates`, so other specs'
    // modules do not change.
    let creates = set.methods.iter().any(|m| m.creates.is_some()).then(|| {
        let body = per_method(&|m| match &m.creates {
            Some(c) => {
                let v = ident(&g.spec.caps[c.cap.index()].name);
                quote!(Some(CapType::#v))
            }
            None => quote!(None),
        });
        quote! {
            /// The cap type the method creates (its `creates` clause), if
            /// any: the kernel puts the new cap in the CNode of the
            /// method's destination parameter, as a child of the invoked
            /// cap.
            pub const fn creates(self) -> Option<CapType> {
                #body
            }
        }
    });
    quote! {
        #doc
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[allow(non_camel_case_types)]
        pub enum #label {
            #(#variants,)*
        }

        impl #label {
            /// The method with this label.
            pub const fn from_word(word: u64) -> Option<Self> {
                #from_word
            }

            /// Rights the invoked cap must carry.
            pub const fn requires(self) -> Rights {
                #requires
            }

            /// Message words of the request.
            pub const fn request_words(self) -> usize {
                #words
            }

            /// Extra caps of the request.
            pub const fn request_caps(self) -> usize {
                #caps
            }

            /// The labels of the errors the method declares (its `errors`
            /// list), in the spec's order: the kernel answers no other
            /// error to a request it decoded, and a client takes another
            /// as a malformed reply.
            pub const fn errors(self) -> &'static [u64] {
                #errors
            }

            #creates
        }
    }
}

/// Every distinct `cap A | B ...` of the spec's invocation parameters, the
/// first cap type then the alternatives, in order of first use.
fn alternative_sets(g: &Gen<'_>) -> Vec<Vec<capc_dsl::model::CapId>> {
    let mut sets: Vec<Vec<capc_dsl::model::CapId>> = Vec::new();
    for set in &g.spec.invocations {
        for m in &set.methods {
            for p in &m.params {
                if let Some(types) = alternative_types(p)
                    && !sets.contains(&types)
                {
                    sets.push(types);
                }
            }
        }
    }
    sets
}

/// The cap types of a `cap A | B ...` parameter, `None` for any other.
fn alternative_types(p: &MethodParam) -> Option<Vec<capc_dsl::model::CapId>> {
    match &p.kind {
        ParamKind::Cap {
            cap, alternatives, ..
        } if !alternatives.is_empty() => Some(
            std::iter::once(*cap)
                .chain(alternatives.iter().copied())
                .collect(),
        ),
        _ => None,
    }
}

/// The name of the enum of a `cap A | B` parameter's types: `AOrB`.
fn alternatives_name(g: &Gen<'_>, types: &[capc_dsl::model::CapId]) -> Ident {
    let names: Vec<&str> = types
        .iter()
        .map(|c| g.spec.caps[c.index()].name.as_str())
        .collect();
    format_ident!("{}", names.join("Or"))
}

/// `enum AOrB { A(A), B(B) }`: a cap of one of the types a `cap A | B`
/// parameter takes, as the decoder hands it over.
fn alternatives_enum(g: &Gen<'_>, types: &[capc_dsl::model::CapId]) -> TokenStream {
    let name = alternatives_name(g, types);
    let listed: Vec<String> = types
        .iter()
        .map(|c| format!("`{}`", g.spec.caps[c.index()].name))
        .collect();
    let doc = format!(
        " A cap of one of the types {} (a `cap {}` parameter), as the decoder checked it.",
        listed.join(", "),
        types
            .iter()
            .map(|c| g.spec.caps[c.index()].name.as_str())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let views: Vec<Ident> = types
        .iter()
        .map(|c| ident(&g.spec.caps[c.index()].name))
        .collect();
    let variants = views.iter().map(|v| {
        let vdoc = format!(" A `{v}`.");
        quote!(#[doc = #vdoc] #v(#v))
    });
    let to_cap = views.iter().map(|v| quote!(Self::#v(c) => c.cap()));
    let from_cap = views.iter().map(|v| {
        quote! {
            Some(CapType::#v) => match #v::from_cap(cap) {
                Some(c) => Some(Self::#v(c)),
                None => None,
            }
        }
    });
    let slots = views.iter().map(|v| {
        let doc = format!(" A slot of a `{v}` is a slot of one of these types.");
        quote! {
            #[doc = #doc]
            impl From<Slot<#v>> for Slot<#name> {
                fn from(slot: Slot<#v>) -> Slot<#name> {
                    Slot::new(slot.index())
                }
            }
        }
    });
    quote! {
        #(#slots)*

        #[doc = #doc]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum #name {
            #(#variants,)*
        }

        impl #name {
            /// The cap as one of these types; `None` for a cap of any other
            /// type (or the null cap).
            pub const fn from_cap(cap: Cap) -> Option<Self> {
                match cap.cap_type() {
                    #(#from_cap,)*
                    _ => None,
                }
            }

            /// The cap, whichever type it has.
            pub const fn cap(self) -> Cap {
                match self {
                    #(#to_cap,)*
                }
            }
        }
    }
}

/// The Rust enum of an enumerated parameter or result, if it is one.
fn enumeration_of(g: &Gen<'_>, p: &MethodParam) -> Option<Ident> {
    p.values
        .map(|e| ident(&g.spec.enumerations[e.index()].name))
}

/// The Rust struct of a bitfield parameter or result, if it is one.
fn bitfield_of(g: &Gen<'_>, p: &MethodParam) -> Option<Ident> {
    p.bitfield.map(|b| ident(&g.spec.bitfields[b.index()].name))
}

/// The kernel-side type of a parameter: caps as their typed view.
fn param_type(g: &Gen<'_>, p: &MethodParam) -> TokenStream {
    if let Some(e) = enumeration_of(g, p).or_else(|| bitfield_of(g, p)) {
        return quote!(#e);
    }
    match &p.kind {
        ParamKind::Scalar(s) => scalar_type(*s),
        ParamKind::Array { element, len, .. } => {
            let t = scalar_type(*element);
            let n = lit(*len);
            quote!([#t; #n])
        }
        ParamKind::Cap {
            unchecked: true, ..
        } => quote!(Cap),
        ParamKind::Cap { cap, nullable, .. } => {
            let view = match alternative_types(p) {
                Some(types) => alternatives_name(g, &types),
                None => ident(&g.spec.caps[cap.index()].name),
            };
            if *nullable {
                quote!(Option<#view>)
            } else {
                quote!(#view)
            }
        }
        ParamKind::Data { .. } | ParamKind::Lease(_) | ParamKind::AnyCap { .. } => {
            unreachable!(
                "the checker allows typed values, leases and `cap any` in RPC interfaces only"
            )
        }
    }
}

/// The user-side type of a parameter: a cap as its typed `Slot` in the
/// caller's CSpace (`Slot<FrameCap>`; `Slot<TcbCapOrNotificationCap>` for
/// a `cap A | B`, which each `Slot<A>` converts into).
fn client_type(g: &Gen<'_>, p: &MethodParam) -> TokenStream {
    if let Some(e) = enumeration_of(g, p).or_else(|| bitfield_of(g, p)) {
        return quote!(#e);
    }
    match &p.kind {
        ParamKind::Cap { cap, .. } => {
            let view = match alternative_types(p) {
                Some(types) => alternatives_name(g, &types),
                None => ident(&g.spec.caps[cap.index()].name),
            };
            quote!(Slot<#view>)
        }
        ParamKind::Array { element, len, .. } => {
            let t = scalar_type(*element);
            let n = lit(*len);
            quote!([#t; #n])
        }
        ParamKind::Scalar(s) => scalar_type(*s),
        ParamKind::Data { .. } | ParamKind::Lease(_) | ParamKind::AnyCap { .. } => {
            unreachable!(
                "the checker allows typed values, leases and `cap any` in RPC interfaces only"
            )
        }
    }
}

/// Estimated size in bytes of a parameter's Rust type.
fn param_size(kind: &ParamKind) -> u64 {
    match kind {
        ParamKind::Scalar(s) => scalar_size(*s),
        ParamKind::Array { element, len, .. } => scalar_size(*element) * len,
        ParamKind::Cap { .. } => 16,
        ParamKind::Data { .. } | ParamKind::Lease(_) | ParamKind::AnyCap { .. } => {
            unreachable!(
                "the checker allows typed values, leases and `cap any` in RPC interfaces only"
            )
        }
    }
}

/// The method's docs stay on its label variant; the struct links there.
fn args_struct(g: &Gen<'_>, cap: &CapType, m: &Method, n: &Names, label: &Ident) -> TokenStream {
    let lines = [format!(
        "The arguments of [`{label}::{}`] (`{}` on `{}` caps), decoded and checked by the kernel.",
        n.variant, m.name, cap.name
    )];
    let doc = g.docs(&lines, "", m.span);
    let name = &n.args;
    let fields = layout(&m.params).into_iter().map(|slot| {
        let f = ident(&slot.param.name);
        let t = param_type(g, slot.param);
        let fdoc = format!(" Parameter {}", describe(g, &slot));
        quote!(#[doc = #fdoc] pub #f: #t)
    });
    let created = m.creates.as_ref().map(|c| created_method(g, m, c, name));
    quote! {
        #doc
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[allow(non_camel_case_types)]
        pub struct #name {
            #(#fields,)*
        }

        #created
    }
}

/// `impl Args { fn created(&self) }` for a method with a `creates`
/// clause: the new cap, its fields from the arguments the clause names,
/// every other field 0 (an enumerated one its first variant).
fn created_method(
    g: &Gen<'_>,
    m: &Method,
    c: &capc_dsl::model::Creation,
    args_name: &Ident,
) -> TokenStream {
    let new_cap = &g.spec.caps[c.cap.index()];
    let view = ident(&new_cap.name);
    let mut checks = Vec::new();
    let args: Vec<_> = new_cap
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if let (Some(untyped), capc_dsl::model::Role::Object) = (c.from, f.role) {
                let untyped = &m.params[untyped];
                let ParamKind::Cap { cap, .. } = &untyped.kind else {
                    unreachable!("the checker allows a checked cap parameter only")
                };
                let base = g.spec.caps[cap.index()]
                    .field_with(capc_dsl::model::Role::Object)
                    .expect("an Untyped's cap type names its object");
                let (p, base) = (ident(&untyped.name), ident(&base.name));
                return quote!(self.#p.#base());
            }
            let from = c
                .fields
                .iter()
                .find(|(field, _)| *field == i)
                .map(|(_, p)| &m.params[*p]);
            match (from, &f.kind) {
                (Some(p), FieldKind::Bool) => {
                    let p = ident(&p.name);
                    quote!(self.#p)
                }
                (Some(p), _) => {
                    // The parameter's integer into the field's (both the
                    // narrowest type of their bits): widened with `as`, or
                    // checked first when the field's type is narrower.
                    let bits = match p.kind {
                        ParamKind::Scalar(s) if p.values.is_none() => scalar_bits(s),
                        _ => 0,
                    };
                    let p = ident(&p.name);
                    let (field_bits, field_t) = if super::caps::is_narrow(f) {
                        (
                            u32::from(f.width).next_power_of_two().max(8),
                            super::caps::uint_type(f.width.into()),
                        )
                    } else {
                        (64, quote!(u64))
                    };
                    let param_bits = bits.next_power_of_two().max(8);
                    if bits == 0 || param_bits == field_bits || f.values.is_some() {
                        quote!(self.#p)
                    } else if param_bits < field_bits {
                        quote!(self.#p as #field_t)
                    } else {
                        let name = &f.name;
                        let wide = if param_bits == 64 {
                            quote!(self.#p)
                        } else {
                            quote!(self.#p as u64)
                        };
                        checks.push(quote! {
                            if self.#p > #field_t::MAX as _ {
                                return Err(FieldError { field: #name, value: #wide });
                            }
                        });
                        quote!(self.#p as #field_t)
                    }
                }
                (None, _) if f.values.is_some() => {
                    super::caps::initial_variant(g, f).expect("an enumerated field")
                }
                (None, FieldKind::Bool) => quote!(false),
                (None, FieldKind::Rights { .. }) => quote!(Rights::NONE),
                (None, _) => quote!(0),
            }
        })
        .collect();
    let address = c.from.and_then(|u| {
        let f = new_cap.field_with(capc_dsl::model::Role::Object)?;
        Some(format!(
            "`{}` the address of `{}`",
            f.name, m.params[u].name
        ))
    });
    let set: Vec<String> =
        address
            .into_iter()
            .chain(c.fields.iter().map(|(f, p)| {
                format!("`{}` from `{}`", new_cap.fields[*f].name, m.params[*p].name)
            }))
            .collect();
    let object = c.from.map_or(String::new(), |u| {
        format!(
            ", naming the new object made of all of `{}`",
            m.params[u].name
        )
    });
    let doc = format!(
        " The `{}` this invocation creates (its `creates` clause){object}, to go into the CNode of `{}`: {}, every other field 0 (an enumerated one its first variant). Fails as `{}::new` does, on a value its field cannot hold.",
        new_cap.name,
        m.params[c.into].name,
        if set.is_empty() {
            "no field from the arguments".to_string()
        } else {
            set.join(", ")
        },
        new_cap.name
    );
    quote! {
        impl #args_name {
            #[doc = #doc]
            pub const fn created(&self) -> Result<#view, FieldError> {
                #(#checks)*
                #view::new(#(#args),*)
            }
        }
    }
}

fn invocation_enum(
    g: &Gen<'_>,
    set: &MethodSet,
    cap: &CapType,
    label: &Ident,
    invocation: &Ident,
    names: &[Names],
) -> TokenStream {
    let doc = g.docs(
        &[format!(
            "An invocation of `{}` caps, decoded and checked by `decode_{}`.",
            cap.name,
            snake(&cap.name)
        )],
        "",
        set.span,
    );
    let variants = set.methods.iter().zip(names).map(|(m, n)| {
        // The method's docs are on its label variant, said once.
        let v = &n.variant;
        let doc = g.docs(
            &[format!("The `{}` method: [`{label}::{v}`].", m.name)],
            "",
            m.span,
        );
        if m.params.is_empty() {
            quote!(#doc #v)
        } else {
            let args = &n.args;
            quote!(#doc #v(#args))
        }
    });
    let label_arms = set.methods.iter().zip(names).map(|(m, n)| {
        let v = &n.variant;
        if m.params.is_empty() {
            quote!(Self::#v => #label::#v)
        } else {
            quote!(Self::#v(_) => #label::#v)
        }
    });
    let sizes: Vec<u64> = set
        .methods
        .iter()
        .map(|m| m.params.iter().map(|p| param_size(&p.kind)).sum())
        .collect();
    let large = sizes.iter().max().copied().unwrap_or(0) > 200;
    let allow = large.then(|| quote!(#[allow(clippy::large_enum_variant)]));
    quote! {
        #doc
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #allow
        #[allow(non_camel_case_types)]
        pub enum #invocation {
            #(#variants,)*
        }

        impl #invocation {
            /// The method's label.
            pub const fn label(&self) -> #label {
                match *self {
                    #(#label_arms,)*
                }
            }
        }
    }
}

/// Expression decoding a word parameter or result from `msg`; `error` is the
/// value returned (with `?`) when the words are out of range.
fn decode_words(
    g: &Gen<'_>,
    p: &MethodParam,
    place: Place,
    msg: &Ident,
    error: &TokenStream,
) -> TokenStream {
    let Place::Words { start, count } = place else {
        unreachable!("only word parameters are decoded from words")
    };
    // A packed parameter: exactly its bits of its word (the word's other
    // bits are other parameters', or ignored as seL4 ignores them).
    if let Some(packed) = p.at {
        let word = lit(packed.word);
        // `msg[w]`, `msg[w] >> b`, `msg[w] & m` or `(msg[w] >> b) & m`:
        // an expression of operators, parenthesised where it is an operand.
        let shifted = if packed.bit == 0 {
            quote!(#msg[#word])
        } else {
            let bit = lit(packed.bit.into());
            quote!(#msg[#word] >> #bit)
        };
        let (bits, plain) = match (packed.width >= 64, packed.bit == 0) {
            (true, plain) => (shifted, plain),
            (false, true) => {
                let mask = lit((1u64 << packed.width) - 1);
                (quote!(#shifted & #mask), false)
            }
            (false, false) => {
                let mask = lit((1u64 << packed.width) - 1);
                (quote!((#shifted) & #mask), false)
            }
        };
        let operand = if plain { bits.clone() } else { quote!((#bits)) };
        if let Some(e) = enumeration_of(g, p) {
            return quote!(#e::from_value(#bits).ok_or(#error)?);
        }
        return match &p.kind {
            ParamKind::Scalar(Scalar::Bool) => quote!(#operand != 0),
            ParamKind::Scalar(s) if is_u64(*s) => bits,
            ParamKind::Scalar(s) => {
                let t = scalar_type(*s);
                quote!(#operand as #t)
            }
            _ => unreachable!("the checker packs scalars only"),
        };
    }
    let at = lit(start);
    // An enumeration's value: one a variant names.
    if let Some(e) = enumeration_of(g, p) {
        return quote!(#e::from_value(#msg[#at]).ok_or(#error)?);
    }
    // A bitfield's value: its fields from its words.
    if let Some(b) = bitfield_of(g, p) {
        let end = lit(start + count);
        return quote!(#b::from_words(&#msg[#at..#end]).ok_or(#error)?);
    }
    match &p.kind {
        ParamKind::Scalar(s) if full_word(*s) => quote!(#msg[#at]),
        ParamKind::Scalar(Scalar::Bool) => quote!(wire::scalar(#msg[#at], 1).ok_or(#error)?),
        ParamKind::Scalar(s) => {
            let bits = lit(scalar_bits(*s).into());
            quote!(wire::scalar(#msg[#at], #bits).ok_or(#error)?)
        }
        ParamKind::Array { element, .. } => {
            let end = lit(start + count);
            let bits = lit(scalar_bits(*element).into());
            quote!(wire::unpack(&#msg[#at..#end], #bits).ok_or(#error)?)
        }
        ParamKind::Cap { .. } => unreachable!("caps are not words"),
        ParamKind::Data { .. } | ParamKind::Lease(_) | ParamKind::AnyCap { .. } => {
            unreachable!(
                "the checker allows typed values, leases and `cap any` in RPC interfaces only"
            )
        }
    }
}

/// Statement encoding a word parameter or result `value` into `msg`;
/// `refused` maps the `FieldError` of an array element wider than its
/// field to the caller's error (after it, `?` returns it).
fn encode_words(
    p: &MethodParam,
    place: Place,
    msg: &Ident,
    value: &TokenStream,
    refused: &TokenStream,
) -> TokenStream {
    let Place::Words { start, count } = place else {
        unreachable!("only word parameters are encoded into words")
    };
    // A packed parameter: or-ed into its bits of its word (the buffer
    // starts zeroed; its value fits its bits: an enumeration's values do,
    // a narrow integer is refused before this when wider).
    if let Some(packed) = p.at {
        let word = lit(packed.word);
        let value = if p.values.is_some() {
            quote!(#value.value())
        } else {
            match &p.kind {
                ParamKind::Scalar(s) if is_u64(*s) => quote!(#value),
                ParamKind::Scalar(_) => quote!(u64::from(#value)),
                _ => unreachable!("the checker packs scalars only"),
            }
        };
        return packed_into(&quote!(#msg[#word]), packed.bit, &value);
    }
    let at = lit(start);
    if p.values.is_some() {
        return quote!(#msg[#at] = #value.value(););
    }
    if p.bitfield.is_some() {
        let end = lit(start + count);
        return quote!(#msg[#at..#end].copy_from_slice(&#value.words()););
    }
    match &p.kind {
        ParamKind::Scalar(s) if is_u64(*s) => quote!(#msg[#at] = #value;),
        ParamKind::Scalar(_) => quote!(#msg[#at] = u64::from(#value);),
        ParamKind::Array { element, .. } => {
            let end = lit(start + count);
            let bits = lit(scalar_bits(*element).into());
            let field = &p.name;
            quote!(wire::pack(#field, &mut #msg[#at..#end], &#value, #bits)#refused?;)
        }
        ParamKind::Cap { .. } => unreachable!("caps are not words"),
        ParamKind::Data { .. } | ParamKind::Lease(_) | ParamKind::AnyCap { .. } => {
            unreachable!(
                "the checker allows typed values, leases and `cap any` in RPC interfaces only"
            )
        }
    }
}

/// `word |= value << bit;` (without the shift for bit 0).
fn packed_into(word: &TokenStream, bit: u32, value: &TokenStream) -> TokenStream {
    if bit == 0 {
        quote!(#word |= #value;)
    } else {
        let bit = lit(bit.into());
        quote!(#word |= #value << #bit;)
    }
}

fn decoder(
    g: &Gen<'_>,
    set: &MethodSet,
    cap: &CapType,
    label: &Ident,
    invocation: &Ident,
    decode: &Ident,
    names: &[Names],
) -> TokenStream {
    let lines = [
        format!(
            "Decodes an invocation of `{}` caps (kernel side): `info` and `msg` are the request, `rights` the invoked cap's rights, `caps` the extra caps the kernel looked up in the caller's CSpace, in order.",
            cap.name
        ),
        String::new(),
        "Checks in the order [`DecodeError`] gives.".to_string(),
    ];
    let doc = g.docs(&lines, "", set.span);
    let body = if set.methods.is_empty() {
        quote! {
            let _ = (info, rights, msg, caps);
            Err(DecodeError::IllegalOperation)
        }
    } else {
        let uses_words = set.methods.iter().any(|m| m.request_words > 0);
        let uses_caps = set.methods.iter().any(|m| cap_count(&m.params) > 0);
        let bind = match (uses_words, uses_caps) {
            (true, true) => quote!(let (msg, caps) = ),
            (true, false) => quote!(let (msg, _) = ),
            (false, true) => quote!(let (_, caps) = ),
            (false, false) => quote!(),
        };
        let arms = set.methods.iter().zip(names).map(|(m, n)| {
            let v = &n.variant;
            if m.params.is_empty() {
                return quote!(#label::#v => #invocation::#v);
            }
            let args = &n.args;
            let from = m.creates.as_ref().and_then(|c| Some((c, c.from?)));
            let fields = layout(&m.params).into_iter().map(|slot| {
                let f = ident(&slot.param.name);
                let position = lit(slot.position);
                if let (Some((creation, _)), Place::Cap { index }) =
                    (from.filter(|(_, p)| *p as u64 == slot.position), slot.place)
                {
                    let value = created_from(g, creation, slot.param, index, &position);
                    return quote!(#f: #value);
                }
                let value = match (&slot.param.kind, slot.place) {
                    (
                        ParamKind::Cap {
                            unchecked: true, ..
                        },
                        Place::Cap { index },
                    ) => {
                        let index = lit(index);
                        quote!(caps[#index])
                    }
                    (
                        ParamKind::Cap {
                            cap,
                            rights,
                            nullable,
                            ..
                        },
                        Place::Cap { index },
                    ) => {
                        let target = &g.spec.caps[cap.index()];
                        let view = match alternative_types(slot.param) {
                            Some(types) => alternatives_name(g, &types),
                            None => ident(&target.name),
                        };
                        let index = lit(index);
                        let error = quote!(DecodeError::InvalidCapability { index: #position });
                        let checked = if rights.is_empty() {
                            quote!(#view::from_cap(caps[#index]).ok_or(#error)?)
                        } else {
                            let getter = rights_getter(target);
                            let required = rights_expr(g, rights);
                            quote! {
                                #view::from_cap(caps[#index])
                                    .filter(|cap| cap.#getter().contains(#required))
                                    .ok_or(#error)?
                            }
                        };
                        // `cap A | null`: the null cap is `None`.
                        if *nullable {
                            quote! {
                                if caps[#index].is_null() {
                                    None
                                } else {
                                    Some(#checked)
                                }
                            }
                        } else {
                            checked
                        }
                    }
                    (_, place) => {
                        let error = quote!(DecodeError::InvalidArgument { index: #position });
                        decode_words(g, slot.param, place, &format_ident!("msg"), &error)
                    }
                };
                quote!(#f: #value)
            });
            quote!(#label::#v => #invocation::#v(#args { #(#fields,)* }))
        });
        quote! {
            let label = #label::from_word(info.label).ok_or(DecodeError::IllegalOperation)?;
            if !rights.contains(label.requires()) {
                return Err(DecodeError::IllegalOperation);
            }
            #bind wire::request(info, msg, caps, label.request_words(), label.request_caps())
                .ok_or(DecodeError::TruncatedMessage)?;
            Ok(match label {
                #(#arms,)*
            })
        }
    };
    quote! {
        #doc
        pub fn #decode(
            info: MessageInfo,
            rights: Rights,
            msg: &[u64],
            caps: &[Cap],
        ) -> Result<#invocation, DecodeError> {
            #body
        }
    }
}

/// The decoded `from` parameter of a creation that makes a new object
/// (`creates T from untyped`): a cap of its Untyped type, whose memory is
/// exactly the new object's size and is not device memory, else
/// `InvalidCapability` at its position (seL4's ASIDControl MakePool).
/// Whether it has children is the kernel's to check, with its
/// derivation tree.
fn created_from(
    g: &Gen<'_>,
    creation: &capc_dsl::model::Creation,
    param: &MethodParam,
    index: u64,
    position: &proc_macro2::Literal,
) -> TokenStream {
    let index = lit(index);
    let ParamKind::Cap { cap, .. } = &param.kind else {
        unreachable!("the checker allows a checked cap parameter only")
    };
    let untyped = &g.spec.caps[cap.index()];
    let view = ident(&untyped.name);
    let untyped_object = untyped
        .object
        .expect("the checker allows an Untyped's cap type only");
    let object_type = ident(&g.spec.objects[untyped_object.index()].name);
    let made = g.spec.caps[creation.cap.index()]
        .object
        .expect("the checker allows a cap type for an object only");
    let bits = lit(g.spec.objects[made.index()].size.max_bits().into());
    let arg = match untyped.field_with(capc_dsl::model::Role::SizeArg) {
        Some(f) if f.values.is_some() => {
            let f = ident(&f.name);
            quote!(cap.#f() as u64)
        }
        Some(f) => super::caps::get_u64(quote!(cap), f),
        None => quote!(0),
    };
    let fits = quote!(matches!(ObjectType::#object_type.size_bits(#arg), Ok(#bits)));
    let fits = match untyped.field_with(capc_dsl::model::Role::Device) {
        Some(f) => {
            let f = ident(&f.name);
            quote!(#fits && !cap.#f())
        }
        None => fits,
    };
    quote! {
        #view::from_cap(caps[#index])
            .filter(|cap| #fits)
            .ok_or(DecodeError::InvalidCapability { index: #position })?
    }
}

/// The getter of a cap type's rights field.
fn rights_getter(cap: &CapType) -> Ident {
    let field = cap
        .fields
        .iter()
        .find(|f| matches!(f.kind, FieldKind::Rights { .. }))
        .expect("the checker allows required rights only on caps with a rights field");
    ident(&field.name)
}

/// A name for a client method's buffer that no parameter uses.
fn buffer_name(base: &str, params: &[MethodParam]) -> Ident {
    let mut name = base.to_string();
    while params.iter().any(|p| p.name == name) {
        name.push('_');
    }
    format_ident!("{}", name)
}

/// `#[allow(clippy::too_many_arguments)]` when a fn takes more than clippy's 7.
fn allow_many(count: usize) -> Option<TokenStream> {
    (count > 7).then(|| quote!(#[allow(clippy::too_many_arguments)]))
}

/// "6 words into `msg`" and the like, for docs.
fn words_phrase(words: u64, buffer: &str) -> String {
    match words {
        1 => format!("1 word into `{buffer}`"),
        n => format!("{n} words into `{buffer}`"),
    }
}

/// The client of an invoked cap type (user side): `<Cap>Client<T:
/// Transport>`, the shape of an RPC interface's client, with one method per
/// invocation.
fn client(
    g: &Gen<'_>,
    set: &MethodSet,
    cap: &CapType,
    label: &Ident,
    errors: &Ident,
    names: &[Names],
) -> TokenStream {
    let client = format_ident!("{}Client", cap.name);
    let doc = g.docs(
        &[format!(
            "A client of `{}` caps (user side): one method per invocation, over a [`Transport`] bound to one such cap (`{}Client(transport)`).",
            cap.name, cap.name
        )],
        "",
        set.span,
    );
    let methods = set
        .methods
        .iter()
        .zip(names)
        .map(|(m, n)| client_method(g, m, n, label, errors));
    quote! {
        #doc
        #[derive(Debug)]
        #[allow(non_camel_case_types)]
        pub struct #client<T: Transport>(pub T);

        impl<T: Transport> #client<T> {
            #(#methods)*
        }
    }
}

/// One method of an invocation client: encodes the request, calls the
/// transport, decodes the reply (a reply error the method does not declare
/// is `Malformed`).
fn client_method(g: &Gen<'_>, m: &Method, n: &Names, label: &Ident, errors: &Ident) -> TokenStream {
    let slots = layout(&m.params);
    let msg = buffer_name("msg", &m.params);
    let params: Vec<TokenStream> = slots
        .iter()
        .map(|s| {
            let name = ident(&s.param.name);
            let t = client_type(g, s.param);
            quote!(#name: #t)
        })
        .collect();
    let word_slots: Vec<&Slot<'_>> = slots
        .iter()
        .filter(|s| matches!(s.place, Place::Words { .. }))
        .collect();
    // The request's words: a slice of one expression per parameter when
    // each takes one word as it is; else a buffer the parameters are
    // packed into.
    let inline: Option<Vec<TokenStream>> = word_slots
        .iter()
        .map(|s| {
            let value = ident(&s.param.name);
            match &s.param.kind {
                // Packed parameters share words: the buffer below.
                _ if s.param.at.is_some() => None,
                _ if s.param.values.is_some() => Some(quote!(#value.value())),
                _ if s.param.bitfield.is_some() => None,
                _ if narrow(s.param).is_some() => None,
                ParamKind::Scalar(sc) if is_u64(*sc) => Some(quote!(#value)),
                ParamKind::Scalar(_) => Some(quote!(u64::from(#value))),
                _ => None,
            }
        })
        .collect();
    let (encode, words_out) = match inline {
        Some(values) => (TokenStream::new(), quote!(&[#(#values),*])),
        None => {
            let length = lit(m.request_words);
            let stmts = word_slots.iter().map(|s| {
                let value = ident(&s.param.name);
                let refused = quote!(.map_err(InvocationError::Argument));
                match (narrow(s.param), s.place) {
                    (Some(bits), Place::Words { .. }) if s.param.at.is_some() => {
                        let packed = s.param.at.expect("packed");
                        let (word, bits, field) =
                            (lit(packed.word), lit(bits.into()), &s.param.name);
                        packed_into(
                            &quote!(#msg[#word]),
                            packed.bit,
                            &quote!(wire::fit(#field, u64::from(#value), #bits)#refused?),
                        )
                    }
                    (Some(bits), Place::Words { start, .. }) => {
                        let (at, bits, field) = (lit(start), lit(bits.into()), &s.param.name);
                        quote!(#msg[#at] = wire::fit(#field, u64::from(#value), #bits)#refused?;)
                    }
                    _ => encode_words(s.param, s.place, &msg, &quote!(#value), &refused),
                }
            });
            (
                quote! {
                    let mut #msg = [0; #length];
                    #(#stmts)*
                },
                quote!(&#msg),
            )
        }
    };
    // Cap parameters are in `layout`'s order of extra caps.
    let caps_out = slots
        .iter()
        .filter(|s| matches!(s.place, Place::Cap { .. }))
        .map(|s| {
            let name = ident(&s.param.name);
            quote!(#name.index())
        });
    let set_errors = &g.spec.error_sets[m.error_set.index()];
    let mut lines = vec![
        format!("Invokes `{}`: [`{label}::{}`].", m.name, n.variant),
        String::new(),
    ];
    if m.errors.is_empty() {
        lines.push("Errors: none.".into());
    } else {
        let listed: Vec<String> = m
            .errors
            .iter()
            .map(|e| format!("`{}`", set_errors.variants[*e].name))
            .collect();
        lines.push(format!("Errors: {}.", listed.join(", ")));
    }
    let rights: Vec<String> = m
        .params
        .iter()
        .filter_map(|p| match &p.kind {
            ParamKind::Cap { rights, .. } if !rights.is_empty() => {
                let names = rights_names(g, rights);
                let names = match names.rsplit_once(", ") {
                    Some((rest, last)) => format!("{rest} and {last}"),
                    None => names,
                };
                Some(format!("`{}` must carry {names}.", p.name))
            }
            _ => None,
        })
        .collect();
    if !rights.is_empty() {
        lines.push(String::new());
        lines.push(rights.join(" "));
    }
    let cap_results = cap_count(&m.results);
    if cap_results > 0 {
        lines.push(String::new());
        lines.push(format!(
            "Cap results arrive as the reply's caps, in order, where the transport receives caps; the client only checks there are {cap_results}."
        ));
    }
    if m.params.iter().any(|p| {
        narrow(p).is_some()
            || matches!(&p.kind, ParamKind::Array { element: Scalar::Uint(b), .. } if ![8, 16, 32, 64].contains(b))
    }) {
        lines.push(String::new());
        lines.push(
            "An integer or an array element wider than its field is refused (`InvocationError::Argument`) before anything is sent, never cut to its width."
                .into(),
        );
    }
    let doc = g.docs(&lines, "", m.span);
    let name = ident(&m.name);
    let v = &n.variant;
    let reply_words = lit(m.reply_words);
    let reply_caps = lit(cap_results);
    let (value_type, results) = reply_value(g, m, n);
    let error = quote!(InvocationError::Malformed(reply));
    let caps_out = quote!(&[#(#caps_out),*]);
    let check = quote! {
        wire::invoke(
            &mut self.0,
            #label::#v as u64,
            #words_out,
            #caps_out,
            (#reply_words, #reply_caps, #label::#v.errors()),
            #errors::decode,
        )?
    };
    let body = match results.as_slice() {
        [] => quote! {
            #check;
            Ok(())
        },
        [one] => {
            let value = decode_words(g, one.param, one.place, &msg, &error);
            // Bound first: `Ok(x?)` of a checked value is clippy's
            // needless_question_mark.
            let result = ident(&one.param.name);
            let reply = header_binding(&value);
            quote! {
                let (#reply, #msg) = #check;
                let #result = #value;
                Ok(#result)
            }
        }
        _ => {
            let r = &n.reply;
            let fields: Vec<TokenStream> = results
                .iter()
                .map(|s| {
                    let f = ident(&s.param.name);
                    let value = decode_words(g, s.param, s.place, &msg, &error);
                    quote!(#f: #value)
                })
                .collect();
            let reply = header_binding(&quote!(#(#fields)*));
            quote! {
                let (#reply, #msg) = #check;
                Ok(#r { #(#fields,)* })
            }
        }
    };
    let allow = allow_many(1 + params.len());
    quote! {
        #doc
        #allow
        pub fn #name(&mut self, #(#params),*) -> Result<#value_type, InvocationError<#errors>> {
            #encode
            #body
        }
    }
}

/// `reply` when the results' decoding reports the reply's header (a result
/// it checks), else `_`: an unused binding would be a warning.
fn header_binding(decoding: &TokenStream) -> TokenStream {
    if decoding.to_string().contains("Malformed") {
        quote!(reply)
    } else {
        quote!(_)
    }
}

/// The type of a method's reply value: `()`, the one word result, or the
/// `...Reply` struct.
fn reply_value<'a>(g: &Gen<'_>, m: &'a Method, n: &Names) -> (TokenStream, Vec<Slot<'a>>) {
    let words: Vec<Slot<'a>> = layout(&m.results)
        .into_iter()
        .filter(|s| matches!(s.place, Place::Words { .. }))
        .collect();
    let t = match words.as_slice() {
        [] => quote!(()),
        [one] => client_type(g, one.param),
        _ => {
            let r = &n.reply;
            quote!(#r)
        }
    };
    (t, words)
}

/// The `...Reply` struct of a method with more than one word result, which
/// both sides use.
fn reply_struct(g: &Gen<'_>, cap: &CapType, m: &Method, n: &Names) -> TokenStream {
    let (_, words) = reply_value(g, m, n);
    if words.len() < 2 {
        return TokenStream::new();
    }
    let r = &n.reply;
    let fields = words.iter().map(|s| {
        let f = ident(&s.param.name);
        let t = client_type(g, s.param);
        let fdoc = format!(" Result {}", describe(g, s));
        quote!(#[doc = #fdoc] pub #f: #t)
    });
    let sdoc = g.docs(
        &[format!(
            "The results of `{}` on `{}` caps.",
            m.name, cap.name
        )],
        "",
        m.span,
    );
    quote! {
        #sdoc
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[allow(non_camel_case_types)]
        pub struct #r {
            #(#fields,)*
        }
    }
}

/// The kernel side's success reply, for methods with results.
fn reply_encoder(g: &Gen<'_>, cap: &CapType, m: &Method, n: &Names) -> TokenStream {
    if m.results.is_empty() {
        return TokenStream::new();
    }
    let (value_type, words) = reply_value(g, m, n);
    let msg = buffer_name("msg", &m.results);
    let cap_results = cap_count(&m.results);
    let (arg, stmts) = match words.as_slice() {
        [] => (None, Vec::new()),
        [one] => {
            let v = ident(&one.param.name);
            (
                Some(quote!(#v: #value_type, #msg: &mut [u64])),
                vec![encode_words(
                    one.param,
                    one.place,
                    &msg,
                    &quote!(#v),
                    &TokenStream::new(),
                )],
            )
        }
        _ => (
            Some(quote!(reply: &#value_type, #msg: &mut [u64])),
            words
                .iter()
                .map(|s| {
                    let f = ident(&s.param.name);
                    encode_words(
                        s.param,
                        s.place,
                        &msg,
                        &quote!(reply.#f),
                        &TokenStream::new(),
                    )
                })
                .collect(),
        ),
    };
    let mut lines = vec![format!(
        "Encodes the successful reply to the `{}` invocation on `{}` caps (kernel side).",
        m.name, cap.name
    )];
    lines.push(String::new());
    if m.reply_words > 0 {
        lines.push(format!(
            "Writes {}; returns the header (label 0).",
            words_phrase(m.reply_words, "msg")
        ));
    } else {
        lines.push("Returns the header (label 0).".into());
    }
    if cap_results > 0 {
        lines.push(format!(
            "The header counts the {cap_results} cap result(s), which the kernel transfers itself."
        ));
    }
    // Packing an array refuses an element wider than its field.
    let refuses = m.results.iter().any(packed);
    if refuses {
        lines.push(
            "Fails with the `FieldError` of an array element wider than its field, never cut to its width."
                .into(),
        );
    }
    let doc = g.docs(&lines, "", m.span);
    let name = &n.encode_reply;
    let length = lit(m.reply_words);
    let caps = lit(cap_results);
    let header = quote! {
        MessageInfo {
            label: 0,
            length: #length,
            caps: #caps,
        }
    };
    let (returns, header) = if refuses {
        (quote!(Result<MessageInfo, FieldError>), quote!(Ok(#header)))
    } else {
        (quote!(MessageInfo), header)
    };
    quote! {
        #doc
        pub fn #name(#arg) -> #returns {
            #(#stmts)*
            #header
        }
    }
}
