//! The messages of an interface: where each argument and result travels,
//! how it is encoded and decoded, and the label enum, request enum and
//! reply structs generated from that layout.

use capc_dsl::ast::Scalar;
use capc_dsl::model::{
    CapId, DataType, DonationKind, Layout, Method, MethodParam, ParamKind, Spec, Wire,
};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::{Iface, data, doc_lines, ident, leases, lit, wrap};

/// Width in bits of a scalar in a message.
pub(super) fn bits(s: Scalar) -> u32 {
    match s {
        Scalar::Word => 64,
        Scalar::Bool => 1,
        Scalar::Uint(n) => n,
    }
}

/// A `uN` whose width is not that of a Rust integer: encoding checks it.
pub(super) fn odd(s: Scalar) -> bool {
    matches!(s, Scalar::Uint(n) if ![8, 16, 32, 64].contains(&n))
}

/// The Rust type of a scalar: the narrowest integer that holds it.
fn scalar_ty(s: Scalar) -> TokenStream {
    match s {
        Scalar::Word => quote!(u64),
        Scalar::Bool => quote!(bool),
        Scalar::Uint(n) if n <= 8 => quote!(u8),
        Scalar::Uint(n) if n <= 16 => quote!(u16),
        Scalar::Uint(n) if n <= 32 => quote!(u32),
        Scalar::Uint(_) => quote!(u64),
    }
}

/// The spec's spelling of a scalar type.
pub(super) fn scalar_name(s: Scalar) -> String {
    match s {
        Scalar::Word => "word".to_string(),
        Scalar::Bool => "bool".to_string(),
        Scalar::Uint(n) => format!("u{n}"),
    }
}

/// The Rust type of an argument or result; a cap is its typed slot
/// (`Slot<FrameCap>`).
pub(super) fn param_ty(kind: &ParamKind, spec: &Spec) -> TokenStream {
    match kind {
        ParamKind::Data { ty, .. } => data::rust_ty(ty, &spec.data_types),
        ParamKind::Scalar(s) => scalar_ty(*s),
        ParamKind::Array { element, len, .. } => {
            let t = scalar_ty(*element);
            let len = lit(*len);
            quote!([#t; #len])
        }
        // `cap A | null`: an RPC's last cap result, absent from the reply.
        ParamKind::Cap {
            cap,
            nullable: true,
            ..
        } => {
            let slot = slot_ty(spec, *cap);
            quote!(Option<#slot>)
        }
        ParamKind::Cap { cap, .. } => slot_ty(spec, *cap),
        // A cap of any type: named by the generic cap.
        ParamKind::AnyCap { .. } => quote!(Slot<Cap>),
        ParamKind::Lease(l) => leases::lease_ty(l, spec),
    }
}

/// `Slot<FrameCap>`: the typed slot of a cap of type `cap`.
pub(super) fn slot_ty(spec: &Spec, cap: CapId) -> TokenStream {
    let view = ident(&spec.caps[cap.index()].name);
    quote!(Slot<#view>)
}

/// The cap type of a method's donated Untyped, if it donates one.
pub(super) fn donated_cap(m: &Method) -> Option<capc_dsl::model::CapId> {
    match m.donation.as_ref().map(|d| &d.kind) {
        Some(DonationKind::Untyped(cap)) => Some(*cap),
        _ => None,
    }
}

/// The name of the request field of a donated Untyped: `donation`, unless a
/// parameter already has that name.
pub(super) fn donation_field(m: &Method) -> String {
    let mut name = "donation".to_string();
    while m.params.iter().chain(&m.results).any(|p| p.name == name) {
        name.push('_');
    }
    name
}

/// Names a match arm of `dispatch_*` or `encode` binds next to its own locals;
/// an argument with one of these names is bound as `<name>_arg`.
const RESERVED: &[&str] = &[
    "server", "info", "msg", "caps", "donated", "request", "label", "result", "budget", "reply",
    "error", "session", "charge", "scratch", "kept", "total", "handler",
];

/// The pattern that destructures `m`'s variant `v` of the request enum, and
/// the local names it binds: the parameters, then the donated slot.
pub(super) fn request_pattern(
    request: &impl quote::ToTokens,
    v: &Ident,
    m: &Method,
    donation: Option<&str>,
) -> (TokenStream, Vec<Ident>) {
    let names: Vec<Ident> = m
        .params
        .iter()
        .map(|p| ident(&p.name))
        .chain(donation.map(ident))
        .collect();
    let bindings: Vec<Ident> = m
        .params
        .iter()
        .map(|p| binding(&p.name))
        .chain(donation.map(binding))
        .collect();
    let pattern = if names.is_empty() {
        quote!(#request::#v)
    } else {
        let pairs = names
            .iter()
            .zip(&bindings)
            .map(|(n, b)| if n == b { quote!(#n) } else { quote!(#n: #b) });
        quote!(#request::#v { #(#pairs),* })
    };
    (pattern, bindings)
}

/// The binding of an argument in a match arm: its name, or `<name>_arg`
/// for a name in [`RESERVED`].
fn binding(name: &str) -> Ident {
    if RESERVED.contains(&name) {
        format_ident!("{}_arg", name)
    } else {
        ident(name)
    }
}

/// Where a field of a message travels.
#[derive(Clone, Copy)]
enum Place {
    /// Words `start..end` of the message.
    Words(usize, usize),
    /// One cap slot.
    Cap(usize),
    /// A lease: its offset and length in words `at` and `at + 1`, its
    /// frame in a cap slot.
    Lease(usize, usize),
}

/// The places of `params` in a message, and the words and caps it takes:
/// the model's one layout ([`Layout`]) in the indices this module uses.
fn layout(params: &[MethodParam]) -> (Vec<Place>, usize, usize) {
    let layout = Layout::of(params);
    let places = layout
        .places
        .iter()
        .map(|wire| match *wire {
            Wire::Words { start, count } => Place::Words(start as usize, (start + count) as usize),
            Wire::Cap { index } => Place::Cap(index as usize),
            Wire::Lease { words, cap } => Place::Lease(words as usize, cap as usize),
        })
        .collect();
    (places, layout.words as usize, layout.caps as usize)
}

/// The statement writing `value` (a field called `name`) at `place`.
fn encode_field(name: &str, kind: &ParamKind, place: Place, value: TokenStream) -> TokenStream {
    match (kind, place) {
        (ParamKind::Scalar(s), Place::Words(i, _)) => {
            let i = lit(i as u64);
            let b = lit(bits(*s).into());
            if odd(*s) && bits(*s) > 32 {
                quote!(msg[#i] = wire::fit(#name, #value, #b)?;)
            } else if odd(*s) {
                quote!(msg[#i] = wire::fit(#name, u64::from(#value), #b)?;)
            } else if bits(*s) == 64 {
                quote!(msg[#i] = #value;)
            } else {
                quote!(msg[#i] = u64::from(#value);)
            }
        }
        (ParamKind::Array { element, .. }, Place::Words(a, b)) => {
            let (a, b) = (lit(a as u64), lit(b as u64));
            let bits = lit(bits(*element).into());
            quote!(wire::pack(#name, &mut msg[#a..#b], &#value, #bits)?;)
        }
        (ParamKind::Data { .. }, Place::Words(a, b)) if a == b => quote!(let _ = #value;),
        (ParamKind::Data { .. }, Place::Words(a, b)) => {
            let (start, end, at) = (lit(a as u64), lit(b as u64), lit(a as u64 * 8));
            quote! {
                msg[#start..#end].fill(0);
                #value.write_words(&mut msg[..], #at);
            }
        }
        (ParamKind::Cap { nullable: true, .. }, Place::Cap(i)) => {
            let i = lit(i as u64);
            quote! {
                if let Some(slot) = #value {
                    caps[#i] = slot.index();
                }
            }
        }
        (_, Place::Cap(i)) => {
            let i = lit(i as u64);
            quote!(caps[#i] = #value.index();)
        }
        (_, Place::Lease(at, cap)) => leases::encode(at, cap, value),
        (
            ParamKind::Cap { .. } | ParamKind::AnyCap { .. } | ParamKind::Lease(_),
            Place::Words(..),
        ) => {
            unreachable!("caps and leases travel with a cap")
        }
    }
}

/// The expression reading a field of type `kind` from `place`; `invalid` is
/// the error when the words are not a value of the type.
fn decode_field(
    kind: &ParamKind,
    types: &[DataType],
    place: Place,
    invalid: &TokenStream,
) -> TokenStream {
    match (kind, place) {
        (ParamKind::Data { ty, bytes, .. }, Place::Words(a, b)) => {
            let t = data::rust_ty(ty, types);
            let at = a as u64 * 8;
            let padding = b as u64 * 8 - at - bytes;
            let read = if a == b {
                quote!(<#t as Wire>::read_words(&[], 0))
            } else {
                let at = lit(at);
                quote!(<#t as Wire>::read_words(&msg[..], #at))
            };
            if padding == 0 {
                quote!(#read.ok_or(#invalid)?)
            } else {
                let (end, padding) = (lit(at + bytes), lit(padding));
                quote!(#read.filter(|_| rpc_bytes::zeroed(&msg[..], #end, #padding)).ok_or(#invalid)?)
            }
        }
        (ParamKind::Scalar(s), Place::Words(i, _)) => {
            let i = lit(i as u64);
            if bits(*s) == 64 {
                quote!(msg[#i])
            } else {
                let b = lit(bits(*s).into());
                quote!(wire::scalar(msg[#i], #b).ok_or(#invalid)?)
            }
        }
        (ParamKind::Array { element, .. }, Place::Words(a, b)) => {
            let (a, b) = (lit(a as u64), lit(b as u64));
            let bits = lit(bits(*element).into());
            quote!(wire::unpack(&msg[#a..#b], #bits).ok_or(#invalid)?)
        }
        // The last cap, absent when the reply carries one cap fewer.
        (ParamKind::Cap { nullable: true, .. }, Place::Cap(i)) => {
            let k = lit(i as u64);
            quote!((info.caps > #k).then(|| Slot::new(caps[#k])))
        }
        (_, Place::Cap(i)) => {
            let i = lit(i as u64);
            quote!(Slot::new(caps[#i]))
        }
        (ParamKind::Lease(l), Place::Lease(at, cap)) => leases::decode(l, at, cap, invalid),
        (_, Place::Lease(..)) => unreachable!("only a lease has a lease's place"),
        (
            ParamKind::Cap { .. } | ParamKind::AnyCap { .. } | ParamKind::Lease(_),
            Place::Words(..),
        ) => {
            unreachable!("caps and leases travel with a cap")
        }
    }
}

/// `msg`/`caps` parameter names: `_msg` when no message of the function uses it.
fn buffer_names(words: bool, caps: bool) -> (Ident, Ident) {
    (
        if words {
            format_ident!("msg")
        } else {
            format_ident!("_msg")
        },
        if caps {
            format_ident!("caps")
        } else {
            format_ident!("_caps")
        },
    )
}

/// "Words: `a` in word 0, ...; caps: ...", describing a message layout.
fn layout_line(params: &[MethodParam], places: &[Place], donation: Option<&str>) -> String {
    let mut words = Vec::new();
    let mut caps = Vec::new();
    for (p, place) in params.iter().zip(places) {
        match place {
            Place::Words(a, b) if b - a == 1 => words.push(format!("`{}` in word {a}", p.name)),
            Place::Words(a, b) => words.push(format!("`{}` in words {a}..{b}", p.name)),
            Place::Cap(i) => caps.push(format!("`{}` in cap {i}", p.name)),
            Place::Lease(at, i) => {
                words.push(format!(
                    "`{}`'s offset and length in words {at} and {}",
                    p.name,
                    at + 1
                ));
                caps.push(format!("`{}`'s frame in cap {i}", p.name));
            }
        }
    }
    if let Some(name) = donation {
        caps.push(format!("`{name}` in cap {}", caps.len()));
    }
    let words = if words.is_empty() {
        "no words".to_string()
    } else {
        format!("words: {}", words.join(", "))
    };
    let caps = if caps.is_empty() {
        "no caps".to_string()
    } else {
        format!("caps: {}", caps.join(", "))
    };
    format!("Message: {words}; {caps}.")
}

/// The label enum of an interface.
pub(super) fn label_enum(i: &Iface<'_>) -> TokenStream {
    let set = i.set;
    let label = &i.label;
    let mut lines = wrap(&format!(
        "The labels of the `{}` interface: a request's `MessageInfo::label`.",
        set.name
    ));
    if !set.docs.is_empty() {
        lines.push(String::new());
        lines.extend(set.docs.iter().cloned());
    }
    // What every variant's docs would repeat, said once here.
    lines.push(String::new());
    lines.extend(wrap(if set.callback {
        "Each variant has its message's docs. The server sends every message to a client that bound the interface, without waiting."
    } else {
        "Each variant has its method's docs, cost and errors; one that states no cost costs its caller nothing."
    }));
    let doc = i.g.docs(&lines, "", set.span);
    let variants = set.methods.iter().map(|m| {
        let mut lines = i.method_docs(m);
        if let Some(cost) = i.cost(m) {
            lines.push(String::new());
            lines.extend(wrap(&cost));
        }
        if !set.callback {
            lines.push(String::new());
            lines.extend(wrap(&i.errors_line(m)));
        }
        let doc = i.docs(lines, m);
        let v = i.variant(m);
        let n = lit(m.label.into());
        quote!(#doc #v = #n)
    });
    let count = lit(set.methods.len() as u64);
    let all = set.methods.iter().map(|m| {
        let v = i.variant(m);
        quote!(#label::#v)
    });
    let from_label = set.methods.iter().map(|m| {
        let v = i.variant(m);
        let n = lit(m.label.into());
        quote!(#n => Some(#label::#v),)
    });
    let names = set.methods.iter().map(|m| {
        let v = i.variant(m);
        let name = &m.name;
        quote!(#label::#v => #name,)
    });
    let oneways = set.methods.iter().map(|m| {
        let v = i.variant(m);
        let oneway = m.oneway;
        quote!(#label::#v => #oneway,)
    });
    let errors = set.methods.iter().map(|m| {
        let v = i.variant(m);
        let numbers = m.errors.iter().map(|e| lit(*e as u64 + 1));
        quote!(#label::#v => &[#(#numbers),*],)
    });
    let donations = set.methods.iter().map(|m| {
        let v = i.variant(m);
        let kind = match m.donation.as_ref().map(|d| &d.kind) {
            None => quote!(None),
            Some(DonationKind::Quota) => quote!(Some(DonationKind::Quota)),
            Some(DonationKind::Untyped(cap)) => {
                let cap = ident(&i.g.spec.caps[cap.index()].name);
                quote!(Some(DonationKind::Untyped(CapType::#cap)))
            }
        };
        quote!(#label::#v => #kind,)
    });
    let minimum = set.methods.iter().map(|m| {
        let v = i.variant(m);
        let n = lit(m.donation.as_ref().map_or(0, |d| d.min_bytes));
        quote!(#label::#v => #n,)
    });
    let worst = set.methods.iter().map(|m| {
        let v = i.variant(m);
        let n = lit(m.donation.as_ref().map_or(0, |d| d.worst_case_bytes));
        quote!(#label::#v => #n,)
    });
    let errors_doc = if i.mixed() {
        doc_lines(&wrap(
            "The numbers of the errors the method declares, in its error set: a reply with another error number is malformed.",
        ))
    } else {
        let error_set = &i.errors.name;
        doc_lines(&wrap(&format!(
            "The numbers of the errors of `{error_set}` the method declares: a reply with another error number is malformed."
        )))
    };
    quote! {
        #doc
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[allow(non_camel_case_types)]
        pub enum #label {
            #(#variants,)*
        }

        impl #label {
            /// Every method, in label order.
            pub const ALL: [#label; #count] = [#(#all),*];

            /// The method with this label.
            pub const fn from_label(label: u64) -> Option<#label> {
                match label {
                    #(#from_label)*
                    _ => None,
                }
            }

            /// The label: the method's position in the interface, from 1.
            pub const fn label(self) -> u64 {
                self as u64
            }

            /// The method's name in the spec.
            pub const fn name(self) -> &'static str {
                match self {
                    #(#names)*
                }
            }

            /// Whether the method is one-way (`#[oneway]`): sent without
            /// waiting, never answered.
            pub const fn oneway(self) -> bool {
                match self {
                    #(#oneways)*
                }
            }

            #errors_doc
            pub const fn errors(self) -> &'static [u64] {
                match self {
                    #(#errors)*
                }
            }

            /// How the caller pays for what the server allocates on its
            /// behalf; `None` when it pays nothing.
            pub const fn donation(self) -> Option<DonationKind> {
                match self {
                    #(#donations)*
                }
            }

            /// The least bytes the caller donates (0 without a donation).
            pub const fn min_donation(self) -> u64 {
                match self {
                    #(#minimum)*
                }
            }

            /// The most bytes the server allocates from the donation per
            /// call (0 without a donation); never more than
            /// [`min_donation`](Self::min_donation).
            pub const fn worst_case_bytes(self) -> u64 {
                match self {
                    #(#worst)*
                }
            }
        }
    }
}

/// The request enum of an interface, with its encoder and decoder.
pub(super) fn request_enum(i: &Iface<'_>) -> TokenStream {
    let set = i.set;
    let (label, request) = (&i.label, &i.request);
    let mut lines = vec![
        format!(
            "A request of the `{}` interface, with its arguments decoded.",
            set.name
        ),
        String::new(),
    ];
    lines.extend(wrap(
        "Each variant says where its arguments travel (see [messages](ProtocolError#messages)).",
    ));
    let doc = i.g.docs(&lines, "", set.span);
    let mut any_words = false;
    let mut any_caps = false;
    let mut variants = Vec::new();
    let mut encode_arms = Vec::new();
    let mut decode_arms = Vec::new();
    let mut label_arms = Vec::new();
    for m in &set.methods {
        let v = i.variant(m);
        let (places, words, mut caps) = layout(&m.params);
        let donation = donated_cap(m).map(|_| donation_field(m));
        let donation_place = donation.as_ref().map(|_| {
            caps += 1;
            Place::Cap(caps - 1)
        });
        any_words |= words > 0;
        any_caps |= caps > 0;

        // The variant: the method's docs and cost are on its label.
        let mut lines = vec![i.method_link(m, "request"), String::new()];
        lines.extend(wrap(&layout_line(&m.params, &places, donation.as_deref())));
        let vdoc = i.docs(lines, m);
        let mut fields: Vec<TokenStream> = m
            .params
            .iter()
            .map(|p| {
                let doc = doc_lines(&wrap(&i.describe(p, false)));
                let name = ident(&p.name);
                let ty = param_ty(&p.kind, i.g.spec);
                quote!(#doc #name: #ty)
            })
            .collect();
        if let (Some(name), Some(desc), Some(cap)) = (&donation, i.donation_desc(m), donated_cap(m))
        {
            let doc = doc_lines(&wrap(&desc));
            let name = ident(name);
            let ty = slot_ty(i.g.spec, cap);
            fields.push(quote!(#doc #name: #ty));
        }
        variants.push(if fields.is_empty() {
            quote!(#vdoc #v)
        } else {
            quote!(#vdoc #v { #(#fields,)* })
        });

        // Its encoding.
        let (pattern, bindings) = request_pattern(request, &v, m, donation.as_deref());
        let mut stmts: Vec<TokenStream> = m
            .params
            .iter()
            .zip(&places)
            .zip(&bindings)
            .map(|((p, place), b)| encode_field(&p.name, &p.kind, *place, quote!(#b)))
            .collect();
        if let (Some(place), Some(b)) = (donation_place, bindings.last()) {
            let i = match place {
                Place::Cap(i) => lit(i as u64),
                Place::Words(..) | Place::Lease(..) => unreachable!("a donation is a cap"),
            };
            stmts.push(quote!(caps[#i] = #b.index();));
        }
        let (w, c) = (lit(words as u64), lit(caps as u64));
        let info = quote!(MessageInfo { label: #label::#v.label(), length: #w, caps: #c });
        encode_arms.push(if stmts.is_empty() {
            quote!(#pattern => Ok(#info),)
        } else {
            quote!(#pattern => {
                #(#stmts)*
                Ok(#info)
            })
        });

        // Its decoding.
        let values = m
            .params
            .iter()
            .zip(&places)
            .enumerate()
            .map(|(k, (p, place))| {
                let name = ident(&p.name);
                let k = lit(k as u64);
                let invalid = quote!(ProtocolError::InvalidArgument { index: #k });
                let value = decode_field(&p.kind, &i.g.spec.data_types, *place, &invalid);
                match p.range {
                    // The decoder refuses a value outside the parameter's
                    // range: the server never sees one.
                    Some((lo, hi)) => {
                        let (lo, hi) = (lit(lo), lit(hi));
                        quote!(#name: {
                            let value = #value;
                            if !(#lo..=#hi).contains(&value) {
                                return Err(#invalid);
                            }
                            value
                        })
                    }
                    None => quote!(#name: #value),
                }
            });
        let mut values: Vec<TokenStream> = values.collect();
        if let (Some(name), Some(Place::Cap(k))) = (&donation, donation_place) {
            let name = ident(name);
            let k = lit(k as u64);
            values.push(quote!(#name: Slot::new(caps[#k])));
        }
        decode_arms.push(if values.is_empty() {
            quote!(#label::#v => Ok(#request::#v),)
        } else {
            quote!(#label::#v => {
                wire::check_size(info, #w, #c, ProtocolError::Truncated)?;
                Ok(#request::#v { #(#values,)* })
            })
        });
        label_arms.push(if bindings.is_empty() {
            quote!(#request::#v => #label::#v,)
        } else {
            quote!(#request::#v { .. } => #label::#v,)
        });
    }
    let (msg, caps) = buffer_names(any_words, any_caps);
    let derives = data::derives(
        set.methods
            .iter()
            .flat_map(|m| &m.params)
            .any(|p| data::param_has_float(p, &i.g.spec.data_types)),
    );
    quote! {
        #doc
        #derives
        #[allow(non_camel_case_types)]
        pub enum #request {
            #(#variants,)*
        }

        impl #request {
            /// The method this request calls.
            pub const fn label(&self) -> #label {
                match self {
                    #(#label_arms)*
                }
            }

            /// Writes this request ([messages](ProtocolError#messages)).
            pub fn encode(
                &self,
                #msg: &mut [u64; target::MESSAGE_WORDS],
                #caps: &mut [u64; target::CAPS_PER_MESSAGE],
            ) -> Result<MessageInfo, FieldError> {
                match *self {
                    #(#encode_arms)*
                }
            }

            /// Reads a request ([messages](ProtocolError#messages)).
            pub fn decode(
                info: MessageInfo,
                #msg: &[u64; target::MESSAGE_WORDS],
                #caps: &[u64; target::CAPS_PER_MESSAGE],
            ) -> Result<#request, ProtocolError> {
                let label = #label::from_label(info.label)
                    .ok_or(ProtocolError::UnknownLabel { label: info.label })?;
                match label {
                    #(#decode_arms)*
                }
            }
        }
    }
}

/// The reply struct of a method with results.
pub(super) fn reply_struct(i: &Iface<'_>, m: &Method) -> TokenStream {
    if m.results.is_empty() {
        return TokenStream::new();
    }
    let reply = i.reply(m);
    let (places, words, caps) = layout(&m.results);
    let mut lines = vec![
        format!("What `{}` returns on success.", i.path(m)),
        String::new(),
    ];
    lines.extend(wrap(&layout_line(&m.results, &places, None)));
    let doc = i.docs(lines, m);
    let fields = m.results.iter().map(|p| {
        let doc = doc_lines(&wrap(&i.describe(p, true)));
        let name = ident(&p.name);
        let ty = param_ty(&p.kind, i.g.spec);
        quote!(#doc pub #name: #ty)
    });
    let stmts = m.results.iter().zip(&places).map(|(p, place)| {
        let name = ident(&p.name);
        encode_field(&p.name, &p.kind, *place, quote!(self.#name))
    });
    let values = m.results.iter().zip(&places).map(|(p, place)| {
        let name = ident(&p.name);
        let value = decode_field(
            &p.kind,
            &i.g.spec.data_types,
            *place,
            &quote!(ProtocolError::InvalidResult),
        );
        quote!(#name: #value)
    });
    let (msg, caps_name) = buffer_names(words > 0, caps > 0);
    let (w, c) = (lit(words as u64), lit(caps as u64));
    // A nullable last cap: the reply carries it only when it is there.
    let nullable = m
        .results
        .iter()
        .find(|p| matches!(p.kind, ParamKind::Cap { nullable: true, .. }));
    let (least_caps, sent_caps) = match nullable {
        Some(p) => {
            let name = ident(&p.name);
            (
                lit(caps as u64 - 1),
                quote!(#c - usize::from(self.#name.is_none())),
            )
        }
        None => (c.clone(), quote!(#c)),
    };
    let derives = data::derives(
        m.results
            .iter()
            .any(|p| data::param_has_float(p, &i.g.spec.data_types)),
    );
    quote! {
        #doc
        #derives
        #[allow(non_camel_case_types)]
        pub struct #reply {
            #(#fields,)*
        }

        impl #reply {
            /// Writes this reply ([messages](ProtocolError#messages)).
            pub fn encode(
                &self,
                #msg: &mut [u64; target::MESSAGE_WORDS],
                #caps_name: &mut [u64; target::CAPS_PER_MESSAGE],
            ) -> Result<MessageInfo, FieldError> {
                #(#stmts)*
                Ok(MessageInfo { label: 0, length: #w, caps: #sent_caps })
            }

            /// Reads a successful reply ([messages](ProtocolError#messages)).
            pub fn decode(
                info: MessageInfo,
                #msg: &[u64; target::MESSAGE_WORDS],
                #caps_name: &[u64; target::CAPS_PER_MESSAGE],
            ) -> Result<#reply, ProtocolError> {
                wire::check_size(info, #w, #least_caps, ProtocolError::Truncated)?;
                Ok(#reply {
                    #(#values,)*
                })
            }
        }
    }
}
