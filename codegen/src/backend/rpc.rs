//! RPC interfaces between user tasks: message encoding, clients, servers and
//! the budgets through which the client pays for what a server allocates.
//!
//! For each interface (in declaration order) the generated module gets:
//! - `<Iface>Label`: the method labels, with each method's declared errors
//!   and donation;
//! - `<Iface>Request`: one variant per method with its decoded arguments,
//!   and `encode`/`decode` to and from a message;
//! - `<Iface><Method>Reply` for each method with results, likewise;
//! - with `options.servers`: `<Iface><Method>Class` and
//!   `<Iface><Method>Budget` for each donating method, the trait
//!   `<Iface>Server` and `dispatch_<iface>`;
//! - with `options.clients`: `<Iface>Client<T: Transport>`.
//!
//! Types shared by every interface (`ProtocolError`, `DonationKind`,
//! `Donation`, `Transport`, `CallError`) and small private helpers are
//! generated once, the helpers only when some message needs them.
//!
//! Message layout: arguments (results in a reply) in declaration order, one
//! word per scalar, arrays packed `64 / bits` elements per word with element 0
//! in the low bits (the layout the checker counts in `ParamKind::Array`).
//! Caps travel beside the words in a caps array of cap slots, in declaration
//! order; a donated Untyped is the last cap of its request.
//!
//! A budget hands out the donation as the kernel's retype places objects
//! in it: each object at the running total, from the donation's first free
//! address, rounded up to the object's alignment, so the address `alloc`
//! returns is where the server's retype puts the object. The classes are in
//! the checker's order (`Donation::allocations` is sorted largest alignment
//! first); allocated in that order they leave no gaps and fit in the worst
//! case the checker proved, whose layout (`offset()`) is fixed at generation
//! time.

use capc_dsl::ast::{Scalar, Transfer};
use capc_dsl::model::{
    Allocation, DataType, Donation, DonationKind, ErrorSet, Method, MethodParam, MethodSet,
    ParamKind,
};
use capc_dsl::units::sum_and_bytes as bytes;
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::{Gen, Part, camel, data, doc_lines, ident, lit, snake};

mod callbacks;
mod leases;
mod received;
mod sessions;

/// The section's parts: the types and helpers every interface shares, then
/// per interface its label and request enums, each method's reply struct,
/// and (as the options ask) its budgets, server and client.
pub fn parts<'a>(g: &'a Gen<'_>) -> Vec<Part<'a>> {
    let interfaces: Vec<&MethodSet> = g
        .spec
        .interfaces
        .iter()
        .filter(|set| !set.methods.is_empty())
        .collect();
    let mut parts: Vec<Part<'a>> = Vec::new();
    if data::needed(g.spec) {
        parts.push(Box::new(data::shared));
        for t in &g.spec.data_types {
            parts.push(Box::new(move || data::data_type(g, t)));
        }
    }
    if interfaces.is_empty() {
        return parts;
    }
    parts.push(Box::new({
        let interfaces = interfaces.clone();
        move || {
            // A callback interface's messages are sent through a
            // `Notifier`, not the client's `Transport`.
            let oneway = interfaces
                .iter()
                .filter(|s| !s.callback)
                .flat_map(|s| &s.methods)
                .any(|m| m.oneway);
            let mut shared = shared(g, oneway, leases::any(&interfaces));
            if leases::any(&interfaces) {
                shared.extend(leases::shared(g));
                if g.options.clients {
                    shared.extend(leases::client_helper());
                }
            }
            let helpers = helpers(&interfaces);
            quote! {
                #shared
                #helpers
            }
        }
    }));
    for set in interfaces {
        parts.extend(interface(g, set));
    }
    parts
}

/// Whether some method of the spec is `#[idempotent]`: its clients then
/// learn of a server's death (`Transport::SERVER_DIED`), retry idempotent
/// methods and answer `CallError::ServerDied` for the others.
fn restartable(g: &Gen<'_>) -> bool {
    g.spec
        .interfaces
        .iter()
        .flat_map(|s| &s.methods)
        .any(|m| m.idempotent)
}

/// Types every interface uses, generated once.
fn shared(g: &Gen<'_>, oneway: bool, leased: bool) -> TokenStream {
    let mut out = quote! {
        /// Why a message does not fit the method it names. A server that
        /// refuses a request replies with the variant's label (see
        /// [`ProtocolError::label`]), from [`ProtocolError::FIRST_LABEL`] up
        /// to `u64::MAX`, above every error number; word 0 holds the
        /// variant's payload (0 when it has none). The server method is not
        /// called when its request is refused.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ProtocolError {
            /// The request's label names no method of the interface.
            UnknownLabel {
                /// The label received.
                label: u64,
            },
            /// The message carries fewer words or caps than the method needs.
            Truncated,
            /// An argument does not fit its type: a `bool` other than 0 or 1,
            /// a `uN` wider than N bits, an array with padding bits set, or
            /// a message value that does not decode (an enum number no
            /// variant has, a length over its bound, text that is not UTF-8,
            /// a nonzero unused byte).
            InvalidArgument {
                /// The argument's position in the method's parameters,
                /// counting from 0 (caps included).
                index: u64,
            },
            /// A result does not fit its type: the server returned a `uN`
            /// wider than N bits, or its reply has a malformed word.
            InvalidResult,
            /// The server returned an error the method does not declare.
            UndeclaredError {
                /// The error's number in its error set.
                number: u64,
            },
        }

        impl ProtocolError {
            /// The lowest reply label of a protocol error.
            pub const FIRST_LABEL: u64 = u64::MAX - 4;

            /// The reply label of this error.
            pub const fn label(self) -> u64 {
                u64::MAX
                    - match self {
                        ProtocolError::UnknownLabel { .. } => 0,
                        ProtocolError::Truncated => 1,
                        ProtocolError::InvalidArgument { .. } => 2,
                        ProtocolError::InvalidResult => 3,
                        ProtocolError::UndeclaredError { .. } => 4,
                    }
            }

            /// The payload word of this error (0 when it has none).
            pub const fn payload(self) -> u64 {
                match self {
                    ProtocolError::UnknownLabel { label } => label,
                    ProtocolError::InvalidArgument { index } => index,
                    ProtocolError::UndeclaredError { number } => number,
                    ProtocolError::Truncated | ProtocolError::InvalidResult => 0,
                }
            }

            /// Writes this error as a reply into `msg` and returns its header.
            pub fn encode(self, msg: &mut [u64; target::MESSAGE_WORDS]) -> MessageInfo {
                msg[0] = self.payload();
                MessageInfo {
                    label: self.label(),
                    length: 1,
                    caps: 0,
                }
            }

            /// The protocol error a reply carries, if its label is one and
            /// it has its payload word.
            pub fn decode(info: MessageInfo, msg: &[u64; target::MESSAGE_WORDS]) -> Option<ProtocolError> {
                if info.length < 1 {
                    return None;
                }
                let payload = msg[0];
                match u64::MAX - info.label {
                    0 => Some(ProtocolError::UnknownLabel { label: payload }),
                    1 => Some(ProtocolError::Truncated),
                    2 => Some(ProtocolError::InvalidArgument { index: payload }),
                    3 => Some(ProtocolError::InvalidResult),
                    4 => Some(ProtocolError::UndeclaredError { number: payload }),
                    _ => None,
                }
            }
        }

        /// How the caller of a method pays for what the server allocates on
        /// its behalf.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum DonationKind {
            /// A byte quota, charged by the server's own accounting of the
            /// caller; nothing travels in the message.
            Quota,
            /// Untyped memory: a cap of this type, the request's last cap.
            /// The server retypes the call's objects from it.
            Untyped(CapType),
        }
    };
    if g.options.servers {
        out.extend(quote! {
            /// What a caller donated with a request, as the server's runtime
            /// learned it: from the kernel (the received Untyped cap) or from
            /// its own accounting (a quota), never from the message words,
            /// which the caller writes. [`Donation::NONE`] for methods that
            /// take no donation.
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
            pub struct Donation {
                /// For an Untyped: its first free address (the region's base
                /// plus its watermark). For a quota: where the server places
                /// it in its own memory (0 to get offsets).
                pub base: u64,
                /// Bytes free from `base`, or the quota's bytes.
                pub bytes: u64,
            }

            impl Donation {
                /// Nothing donated.
                pub const NONE: Donation = Donation { base: 0, bytes: 0 };

                /// A quota of `bytes`, placed at 0: budget addresses are
                /// offsets into the quota.
                pub const fn quota(bytes: u64) -> Donation {
                    Donation { base: 0, bytes }
                }
            }
        });
    }
    let callbacks = callbacks::any(g) && g.options.servers;
    if callbacks {
        out.extend(callbacks::notifier());
    }
    let send_error = ((oneway && g.options.clients) || callbacks).then(|| {
        quote! {
            /// Why a one-way message was not sent.
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub enum SendError {
                /// An argument does not fit its type (a `uN` wider than N
                /// bits); nothing was sent.
                Argument(FieldError),
                /// The transport could not send the message.
                NotSent,
            }
        }
    });
    if g.options.clients {
        // The `Transport` trait is the base module's (common.rs).
        let died_error = restartable(g).then(|| {
            quote! {
                /// The server died before replying (the transport's reply
                /// had the label [`Transport::SERVER_DIED`]): for a method
                /// that is not idempotent at once, for an idempotent one
                /// after [`Transport::RETRIES`] more tries. The request may
                /// or may not have been carried out.
                ServerDied,
            }
        });
        // Only a spec with a lease has leases to mint and end.
        let lease_error = leased.then(|| {
            quote! {
                /// The transport could not mint a lease's frame cap with
                /// the lease's rights ([`Transport::mint_lease`]);
                /// nothing was sent.
                NotLent,
            }
        });
        out.extend(quote! {
            #send_error

            /// Why an RPC returned no results.
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub enum CallError<E> {
                /// The server answered with one of the errors the method
                /// declares.
                Server(E),
                /// The server refused the request before running the method,
                /// or broke its own reply (see [`ProtocolError`]).
                Refused(ProtocolError),
                /// The reply does not fit the method: too short, a result of
                /// the wrong type, or an error the method does not declare.
                BadReply(ProtocolError),
                /// An argument does not fit its type (a `uN` wider than N
                /// bits); nothing was sent.
                Argument(FieldError),
                #died_error
                #lease_error
            }
        });
    } else {
        out.extend(send_error);
    }
    out
}

/// What the messages of the interfaces need from the private helpers.
#[derive(Default)]
struct Needs {
    /// Some message has words or caps: `check_size`.
    sizes: bool,
    /// Some argument or result is an array: `pack`, `unpack`.
    arrays: bool,
    /// Some scalar is a `bool` or a `uN` narrower than 64 bits: `scalar`.
    scalars: bool,
    /// Some scalar is a `uN` whose width is not that of a Rust integer: `fit`.
    odd: bool,
}

fn needs(interfaces: &[&MethodSet]) -> Needs {
    let mut n = Needs::default();
    for m in interfaces.iter().flat_map(|s| &s.methods) {
        if !m.params.is_empty() || !m.results.is_empty() || donated_cap(m).is_some() {
            n.sizes = true;
        }
        for p in m.params.iter().chain(&m.results) {
            match &p.kind {
                ParamKind::Scalar(s) => {
                    n.scalars |= *s != Scalar::Word && bits(*s) < 64;
                    n.odd |= odd(*s);
                }
                ParamKind::Array { .. } => n.arrays = true,
                ParamKind::Cap { .. } | ParamKind::Data { .. } | ParamKind::Lease(_) => {}
            }
        }
    }
    n
}

/// Private helpers the message code calls, only those some message needs.
fn helpers(interfaces: &[&MethodSet]) -> TokenStream {
    let n = needs(interfaces);
    let mut out = TokenStream::new();
    if n.sizes {
        out.extend(quote! {
            /// `Truncated` unless the message has at least `words` words and
            /// `caps` caps.
            pub(super) fn check_size(info: MessageInfo, words: usize, caps: usize) -> Result<(), ProtocolError> {
                if info.length < words || info.caps < caps {
                    Err(ProtocolError::Truncated)
                } else {
                    Ok(())
                }
            }
        });
    }
    if n.arrays || n.scalars {
        out.extend(quote! {
            /// A scalar type of message words.
            pub(super) trait Element: Copy + Default + Into<u64> {
                /// The value `word` holds, if it is a value of this type.
                fn from_word(word: u64) -> Option<Self>;
            }

            impl Element for bool {
                fn from_word(word: u64) -> Option<bool> {
                    match word {
                        0 => Some(false),
                        1 => Some(true),
                        _ => None,
                    }
                }
            }

            impl Element for u8 {
                fn from_word(word: u64) -> Option<u8> {
                    u8::try_from(word).ok()
                }
            }

            impl Element for u16 {
                fn from_word(word: u64) -> Option<u16> {
                    u16::try_from(word).ok()
                }
            }

            impl Element for u32 {
                fn from_word(word: u64) -> Option<u32> {
                    u32::try_from(word).ok()
                }
            }

            impl Element for u64 {
                fn from_word(word: u64) -> Option<u64> {
                    Some(word)
                }
            }
        });
    }
    if n.scalars {
        out.extend(quote! {
            /// The `bits`-bit value in `word`, if it fits and is a value of `T`.
            pub(super) fn scalar<T: Element>(word: u64, bits: u32) -> Option<T> {
                if word >> bits != 0 {
                    None
                } else {
                    T::from_word(word)
                }
            }
        });
    }
    if n.odd {
        out.extend(quote! {
            /// `value` if it fits in `bits` bits, else which field refused it.
            pub(super) fn fit(field: &'static str, value: u64, bits: u32) -> Result<u64, FieldError> {
                if value >> bits == 0 {
                    Ok(value)
                } else {
                    Err(FieldError { field, value })
                }
            }
        });
    }
    if n.arrays {
        out.extend(quote! {
            /// Packs `values` into `words`, `64 / bits` elements per word with
            /// element 0 in the low bits; padding bits are zero.
            pub(super) fn pack<T: Element>(
                field: &'static str,
                words: &mut [u64],
                values: &[T],
                bits: u32,
            ) -> Result<(), FieldError> {
                let per_word = (64 / bits) as usize;
                words.fill(0);
                for (i, value) in values.iter().enumerate() {
                    let value: u64 = (*value).into();
                    if bits < 64 && value >> bits != 0 {
                        return Err(FieldError { field, value });
                    }
                    let shift = (i % per_word) as u32 * bits;
                    words[i / per_word] |= value << shift;
                }
                Ok(())
            }

            /// The `N` elements [`pack`] put into `words`; `None` when an
            /// element is not a value of `T` or a padding bit is set.
            pub(super) fn unpack<T: Element, const N: usize>(words: &[u64], bits: u32) -> Option<[T; N]> {
                let per_word = (64 / bits) as usize;
                let mask = u64::MAX >> (64 - bits);
                for (w, word) in words.iter().enumerate() {
                    let used = (N - w * per_word).min(per_word) as u32 * bits;
                    if used < 64 && word >> used != 0 {
                        return None;
                    }
                }
                let mut values = [T::default(); N];
                for (i, value) in values.iter_mut().enumerate() {
                    let shift = (i % per_word) as u32 * bits;
                    *value = T::from_word((words[i / per_word] >> shift) & mask)?;
                }
                Some(values)
            }
        });
    }
    let uses = match (n.sizes, n.arrays || n.odd) {
        (false, false) => return TokenStream::new(),
        (true, false) => quote!(
            use super::{MessageInfo, ProtocolError};
        ),
        (false, true) => quote!(
            use super::FieldError;
        ),
        (true, true) => quote!(
            use super::{FieldError, MessageInfo, ProtocolError};
        ),
    };
    quote! {
        /// Placing RPC arguments and results in message words, shared by
        /// the clients and the servers of every interface.
        mod rpc_wire {
            #uses

            #out
        }
    }
}

/// Width in bits of a scalar in a message.
fn bits(s: Scalar) -> u32 {
    match s {
        Scalar::Word => 64,
        Scalar::Bool => 1,
        Scalar::Uint(n) => n,
    }
}

/// A `uN` whose width is not that of a Rust integer: encoding checks it.
fn odd(s: Scalar) -> bool {
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
fn scalar_name(s: Scalar) -> String {
    match s {
        Scalar::Word => "word".to_string(),
        Scalar::Bool => "bool".to_string(),
        Scalar::Uint(n) => format!("u{n}"),
    }
}

/// The Rust type of an argument or result; a cap is its slot.
fn param_ty(kind: &ParamKind, types: &[DataType]) -> TokenStream {
    match kind {
        ParamKind::Data { ty, .. } => data::rust_ty(ty, types),
        ParamKind::Scalar(s) => scalar_ty(*s),
        ParamKind::Array { element, len, .. } => {
            let t = scalar_ty(*element);
            let len = lit(*len);
            quote!([#t; #len])
        }
        ParamKind::Cap { .. } => quote!(u64),
        ParamKind::Lease(l) => leases::lease_ty(l),
    }
}

/// The cap type of a method's donated Untyped, if it donates one.
fn donated_cap(m: &Method) -> Option<capc_dsl::model::CapId> {
    match m.donation.as_ref().map(|d| &d.kind) {
        Some(DonationKind::Untyped(cap)) => Some(*cap),
        _ => None,
    }
}

/// Everything generated for one interface.
fn interface<'a>(g: &'a Gen<'_>, set: &'a MethodSet) -> Vec<Part<'a>> {
    let mut parts: Vec<Part<'a>> = vec![Box::new(move || {
        let i = Iface::new(g, set);
        let label = label_enum(&i);
        let request = request_enum(&i);
        // Each message type the interface carries has the size the checker
        // laid its parameters out with.
        let types = &g.spec.data_types;
        let mut sizes = std::collections::BTreeMap::new();
        for m in &set.methods {
            for p in m.params.iter().chain(&m.results) {
                if let ParamKind::Data { ty, bytes, .. } = &p.kind {
                    sizes.entry(ty.spelling(types)).or_insert((ty, *bytes));
                }
            }
        }
        let checks = sizes.iter().map(|(spelling, (ty, bytes))| {
            data::layout_check(spelling, vec![data::rust_ty(ty, types)], 0, *bytes)
        });
        quote! {
            #label
            #request
            #(#checks)*
        }
    })];
    for m in &set.methods {
        parts.push(Box::new(move || reply_struct(&Iface::new(g, set), m)));
    }
    if set.callback {
        // The roles turned round: the server sends, the client handles.
        if g.options.servers {
            parts.push(Box::new(move || callbacks::sender(&Iface::new(g, set))));
        }
        if g.options.clients {
            parts.push(Box::new(move || callbacks::handler(&Iface::new(g, set))));
        }
        return parts;
    }
    if g.options.servers {
        if set.session.is_some() {
            parts.push(Box::new(move || {
                sessions::session_types(&Iface::new(g, set))
            }));
        }
        for m in &set.methods {
            parts.push(Box::new(move || budget(&Iface::new(g, set), m)));
        }
        parts.push(Box::new(move || {
            let i = Iface::new(g, set);
            let checks = received::checks(&i);
            let server = server(&i);
            quote! {
                #checks
                #server
            }
        }));
    }
    if g.options.clients {
        parts.push(Box::new(move || client(&Iface::new(g, set))));
    }
    parts
}

/// One interface with the names of its generated items.
struct Iface<'a> {
    g: &'a Gen<'a>,
    set: &'a MethodSet,
    errors: &'a ErrorSet,
    /// The error set's enum.
    error_ty: Ident,
    label: Ident,
    request: Ident,
}

impl<'a> Iface<'a> {
    fn new(g: &'a Gen<'a>, set: &'a MethodSet) -> Iface<'a> {
        let errors = &g.spec.error_sets[set.errors.index()];
        Iface {
            g,
            set,
            errors,
            error_ty: ident(&errors.name),
            label: format_ident!("{}Label", set.name),
            request: format_ident!("{}Request", set.name),
        }
    }

    /// The error set a method's errors are of (its own, or the interface's).
    fn method_errors(&self, m: &Method) -> &'a ErrorSet {
        &self.g.spec.error_sets[m.error_set.index()]
    }

    /// The enum of a method's error set.
    fn method_error_ty(&self, m: &Method) -> Ident {
        ident(&self.method_errors(m).name)
    }

    /// Whether some method's errors are of a set other than the interface's:
    /// dispatch then answers each method's result in its own arm, and the
    /// client's `call` is given each method's error decoder.
    fn mixed(&self) -> bool {
        self.set
            .methods
            .iter()
            .any(|m| m.error_set != self.set.errors)
    }

    /// `Decompress` in `DecompressorLabel::Decompress`.
    fn variant(&self, m: &Method) -> Ident {
        ident(&camel(&m.name))
    }

    /// `DecompressorDecompressReply`.
    fn reply(&self, m: &Method) -> Ident {
        format_ident!("{}{}Reply", self.set.name, camel(&m.name))
    }

    /// `DecompressorDecompressBudget`.
    fn budget(&self, m: &Method) -> Ident {
        format_ident!("{}{}Budget", self.set.name, camel(&m.name))
    }

    /// `DecompressorDecompressClass`.
    fn class(&self, m: &Method) -> Ident {
        format_ident!("{}{}Class", self.set.name, camel(&m.name))
    }

    /// `Decompressor::decompress`, as the docs name a method.
    fn path(&self, m: &Method) -> String {
        format!("{}::{}", self.set.name, m.name)
    }

    /// The spec's docs of a method, or a fallback.
    /// Doc attributes of a type generated for the whole interface: the
    /// headline, then the interface's own doc comment, wrapped.
    fn interface_doc(&self, headline: String) -> TokenStream {
        let mut lines = vec![headline];
        if !self.set.docs.is_empty() {
            lines.push(String::new());
            lines.extend(self.set.docs.iter().cloned());
        }
        let lines: Vec<String> = lines.iter().flat_map(|l| wrap(l)).collect();
        self.g.docs(&lines, "", self.set.span)
    }

    /// A link to the method's label variant, where its docs and cost are
    /// said once: "`decompress`: [`DecompressorLabel::Decompress`]".
    fn method_link(&self, m: &Method, what: &str) -> String {
        format!(
            "The `{}` {what}: [`{}::{}`].",
            m.name,
            self.label,
            self.variant(m)
        )
    }

    fn method_docs(&self, m: &Method) -> Vec<String> {
        if m.docs.is_empty() {
            vec![format!("The `{}` method of `{}`.", m.name, self.set.name)]
        } else {
            m.docs.clone()
        }
    }

    /// What a call costs its caller, in one sentence.
    fn cost(&self, m: &Method) -> String {
        if self.set.callback {
            return "A callback message: the server sends it to a client that bound the interface, without waiting.".to_string();
        }
        if let Some(bound) = m.server_pays {
            return format!(
                "Paid by the server: up to {} of its own memory per call (`server_pays`).",
                bytes(bound)
            );
        }
        let session = self.session_cost(m);
        let Some(d) = &m.donation else {
            return session.unwrap_or_else(|| {
                "Costs the caller nothing: the server allocates nothing on its behalf.".to_string()
            });
        };
        let what = match &d.kind {
            DonationKind::Quota => "a quota".to_string(),
            DonationKind::Untyped(cap) => a_cap(&self.g.spec.caps[cap.index()].name),
        };
        let allocations = if d.allocations.is_empty() {
            "the server allocates nothing from it".to_string()
        } else {
            let each: Vec<String> = d
                .allocations
                .iter()
                .map(|a| format!("{} × `{}`", a.count, self.object(a)))
                .collect();
            format!(
                "the server may allocate from it up to {} per call, {} at worst",
                join_and(&each),
                bytes(d.worst_case_bytes)
            )
        };
        let per_call = format!(
            "Cost: the caller donates {what} of at least {}; {allocations}.",
            bytes(d.min_bytes)
        );
        match session {
            Some(s) => format!("{per_call} {s}"),
            None => per_call,
        }
    }

    /// What a method charges its caller's session, in one sentence; `None`
    /// outside a session, or for a method that charges nothing.
    fn session_cost(&self, m: &Method) -> Option<String> {
        self.set.session.as_ref()?;
        let charges = m.charges.as_ref()?;
        let mut parts = Vec::new();
        for c in &charges.charges {
            let what = match &c.what {
                capc_dsl::model::Charged::Bytes(b) => format!("{} kept", bytes(*b)),
                capc_dsl::model::Charged::Objects { object, count, arg } => {
                    let o = &self.g.spec.objects[object.index()];
                    let show = |a: capc_dsl::model::Amount| match a {
                        capc_dsl::model::Amount::Const(v) => v.to_string(),
                        capc_dsl::model::Amount::Param(i) => format!("`{}`", m.params[i].name),
                        capc_dsl::model::Amount::Pow2(i) => format!("`1 << {}`", m.params[i].name),
                    };
                    match o.size.param {
                        Some(_) => {
                            let arg = match arg {
                                capc_dsl::model::Amount::Const(v) => v.to_string(),
                                capc_dsl::model::Amount::Param(i) => m.params[*i].name.clone(),
                                capc_dsl::model::Amount::Pow2(i) => {
                                    format!("1 << {}", m.params[*i].name)
                                }
                            };
                            format!("{} × `{}({arg})`", show(*count), o.name)
                        }
                        None => format!("{} × `{}`", show(*count), o.name),
                    }
                }
            };
            parts.push(match c.handed_to {
                Some(r) => format!("{what} for `{}` until it is refunded", m.results[r].name),
                None if c.for_the_call() => format!("{what} for the call"),
                None => format!("{what} until the session closes"),
            });
        }
        for r in &charges.refunds {
            let from: Vec<String> = r
                .from
                .iter()
                .map(|(mi, _)| format!("`{}`", self.set.methods[*mi].name))
                .collect();
            parts.push(format!(
                "refunds what `{}` is ({} handed it out)",
                m.params[r.param].name,
                from.join(" or ")
            ));
        }
        (!parts.is_empty()).then(|| {
            format!(
                "Session: charges the caller's session, for the actual arguments, {}.",
                join_and(&parts)
            )
        })
    }

    /// `Frame(12)`, or `Endpoint` for a fixed-size object.
    fn object(&self, a: &Allocation) -> String {
        let o = &self.g.spec.objects[a.object.index()];
        match o.size.param {
            Some(_) => format!("{}({})", o.name, a.arg),
            None => o.name.clone(),
        }
    }

    /// The errors a method declares, in one sentence.
    fn errors_line(&self, m: &Method) -> String {
        if m.oneway {
            return "One-way: sent without waiting for the server, which answers nothing."
                .to_string();
        }
        let errors = self.method_errors(m);
        if m.errors.is_empty() {
            return format!("Errors: none of `{}`.", errors.name);
        }
        let own = if m.error_set == self.set.errors {
            String::new()
        } else {
            format!(" (of `{}`)", errors.name)
        };
        let names: Vec<String> = m
            .errors
            .iter()
            .map(|e| {
                let name = &errors.variants[*e].name;
                match &m.donation {
                    Some(d) if d.out_of_budget == *e => format!("`{name}` (out of budget)"),
                    _ => format!("`{name}`"),
                }
            })
            .collect();
        let retried = if m.idempotent {
            " Idempotent: the client calls it again when its server died."
        } else {
            ""
        };
        format!("Errors{own}: {}.{retried}", names.join(", "))
    }

    /// One line per argument (or result) saying what it is and how it travels.
    fn param_lines(&self, params: &[MethodParam], result: bool) -> Vec<String> {
        params
            .iter()
            .flat_map(|p| wrap(&format!("- `{}`: {}", p.name, self.describe(p, result))))
            .collect()
    }

    /// What an argument or result is, for docs.
    fn describe(&self, p: &MethodParam, result: bool) -> String {
        match &p.kind {
            ParamKind::Scalar(s) => {
                let name = scalar_name(*s);
                format!("{} `{name}`.", super::article(&name))
            }
            ParamKind::Array { element, len, .. } => format!(
                "A `[{}; {len}]`, {} elements per word.",
                scalar_name(*element),
                64 / bits(*element)
            ),
            ParamKind::Data { ty, bytes, .. } => {
                let name = ty.spelling(&self.g.spec.data_types);
                format!(
                    "{} `{name}`, {bytes} bytes (see [`Wire`]).",
                    super::article(&name)
                )
            }
            ParamKind::Cap {
                transfer,
                cap,
                rights,
                ..
            } => {
                let cap = &self.g.spec.caps[cap.index()].name;
                let rights = if rights.is_empty() {
                    String::new()
                } else {
                    let names: Vec<String> = rights
                        .iter()
                        .map(|r| format!("`{}`", self.g.spec.rights[r.index()].name))
                        .collect();
                    format!(" carrying {}", join_and(&names))
                };
                let how = match (transfer, result) {
                    (Transfer::Lend, _) => {
                        "lent for the call: the server receives a copy derived from the caller's cap, not to be kept once it replies; the caller revokes it after the call"
                    }
                    (_, false) => "granted: the server receives a copy to keep",
                    (_, true) => "granted: the caller receives a copy to keep",
                };
                format!(
                    "The slot of {}{rights}, {how}.{}",
                    a_cap(cap),
                    callbacks::binds_doc(self.g, p)
                )
            }
            ParamKind::Lease(l) => leases::describe(self.g, l),
        }
    }

    /// What the slot of a donated Untyped is, for docs.
    fn donation_desc(&self, m: &Method) -> Option<String> {
        let cap = donated_cap(m)?;
        let d = m.donation.as_ref()?;
        Some(format!(
            "The slot of the donated `{}` of at least {}: the server retypes this call's objects from it.",
            self.g.spec.caps[cap.index()].name,
            bytes(d.min_bytes)
        ))
    }

    /// Doc attributes: `lines`, then the method's spec line.
    fn docs(&self, lines: Vec<String>, m: &Method) -> TokenStream {
        self.g.docs(&lines, "", m.span)
    }
}

/// The name of the request field of a donated Untyped: `donation`, unless a
/// parameter already has that name.
fn donation_field(m: &Method) -> String {
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

/// The binding of an argument in a match arm.
/// The pattern that destructures `m`'s variant `v` of the request enum, and
/// the local names it binds: the parameters, then the donated slot.
fn request_pattern(
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

/// The places of `params` in a message, and the words and caps it takes.
fn layout(params: &[MethodParam]) -> (Vec<Place>, usize, usize) {
    let (mut words, mut caps) = (0, 0);
    let places = params
        .iter()
        .map(|p| match &p.kind {
            ParamKind::Scalar(_) => {
                words += 1;
                Place::Words(words - 1, words)
            }
            ParamKind::Array { words: n, .. } | ParamKind::Data { words: n, .. } => {
                let start = words;
                words += *n as usize;
                Place::Words(start, words)
            }
            ParamKind::Cap { .. } => {
                caps += 1;
                Place::Cap(caps - 1)
            }
            ParamKind::Lease(_) => {
                words += 2;
                caps += 1;
                Place::Lease(words - 2, caps - 1)
            }
        })
        .collect();
    (places, words, caps)
}

/// The statement writing `value` (a field called `name`) at `place`.
fn encode_field(name: &str, kind: &ParamKind, place: Place, value: TokenStream) -> TokenStream {
    match (kind, place) {
        (ParamKind::Scalar(s), Place::Words(i, _)) => {
            let i = lit(i as u64);
            let b = lit(bits(*s).into());
            if odd(*s) && bits(*s) > 32 {
                quote!(msg[#i] = rpc_wire::fit(#name, #value, #b)?;)
            } else if odd(*s) {
                quote!(msg[#i] = rpc_wire::fit(#name, u64::from(#value), #b)?;)
            } else if bits(*s) == 64 {
                quote!(msg[#i] = #value;)
            } else {
                quote!(msg[#i] = u64::from(#value);)
            }
        }
        (ParamKind::Array { element, .. }, Place::Words(a, b)) => {
            let (a, b) = (lit(a as u64), lit(b as u64));
            let bits = lit(bits(*element).into());
            quote!(rpc_wire::pack(#name, &mut msg[#a..#b], &#value, #bits)?;)
        }
        (ParamKind::Data { .. }, Place::Words(a, b)) if a == b => quote!(let _ = #value;),
        (ParamKind::Data { .. }, Place::Words(a, b)) => {
            let (start, end, at) = (lit(a as u64), lit(b as u64), lit(a as u64 * 8));
            quote! {
                msg[#start..#end].fill(0);
                #value.write_words(&mut msg[..], #at);
            }
        }
        (_, Place::Cap(i)) => {
            let i = lit(i as u64);
            quote!(caps[#i] = #value;)
        }
        (_, Place::Lease(at, cap)) => leases::encode(at, cap, value),
        (ParamKind::Cap { .. } | ParamKind::Lease(_), Place::Words(..)) => {
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
                quote!(rpc_wire::scalar(msg[#i], #b).ok_or(#invalid)?)
            }
        }
        (ParamKind::Array { element, .. }, Place::Words(a, b)) => {
            let (a, b) = (lit(a as u64), lit(b as u64));
            let bits = lit(bits(*element).into());
            quote!(rpc_wire::unpack(&msg[#a..#b], #bits).ok_or(#invalid)?)
        }
        (_, Place::Cap(i)) => {
            let i = lit(i as u64);
            quote!(caps[#i])
        }
        (ParamKind::Lease(l), Place::Lease(at, cap)) => leases::decode(l, at, cap, invalid),
        (_, Place::Lease(..)) => unreachable!("only a lease has a lease's place"),
        (ParamKind::Cap { .. } | ParamKind::Lease(_), Place::Words(..)) => {
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

/// "a `FrameCap`", "an `UntypedCap`" (lowercase [`super::article`]).
fn a_cap(name: &str) -> String {
    let article = super::article(name).to_ascii_lowercase();
    format!("{article} `{name}`")
}

/// `a`, `a and b`, `a, b and c`.
fn join_and(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The label enum of an interface.
fn label_enum(i: &Iface<'_>) -> TokenStream {
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
    let doc = i.g.docs(&lines, "", set.span);
    let variants = set.methods.iter().map(|m| {
        let mut lines = i.method_docs(m);
        lines.push(String::new());
        lines.extend(wrap(&i.cost(m)));
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
fn request_enum(i: &Iface<'_>) -> TokenStream {
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
        "Arguments travel in declaration order: scalars one word each, arrays packed, message values in bytes from a word boundary, caps as the slots of the caps array; a donated Untyped is the request's last cap.",
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
                let ty = param_ty(&p.kind, &i.g.spec.data_types);
                quote!(#doc #name: #ty)
            })
            .collect();
        if let (Some(name), Some(desc)) = (&donation, i.donation_desc(m)) {
            let doc = doc_lines(&wrap(&desc));
            let name = ident(name);
            fields.push(quote!(#doc #name: u64));
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
            stmts.push(quote!(caps[#i] = #b;));
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
            values.push(quote!(#name: caps[#k]));
        }
        decode_arms.push(if values.is_empty() {
            quote!(#label::#v => Ok(#request::#v),)
        } else {
            quote!(#label::#v => {
                rpc_wire::check_size(info, #w, #c)?;
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

            /// Writes this request into `msg` and `caps` and returns its
            /// header; fails when an argument does not fit its type.
            pub fn encode(
                &self,
                #msg: &mut [u64; target::MESSAGE_WORDS],
                #caps: &mut [u64; target::CAPS_PER_MESSAGE],
            ) -> Result<MessageInfo, FieldError> {
                match *self {
                    #(#encode_arms)*
                }
            }

            /// The request `info`, `msg` and `caps` carry. Words and caps
            /// past those of the method are ignored.
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
fn reply_struct(i: &Iface<'_>, m: &Method) -> TokenStream {
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
        let ty = param_ty(&p.kind, &i.g.spec.data_types);
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
            /// Writes this reply (label 0) into `msg` and `caps` and returns
            /// its header; fails when a result does not fit its type.
            pub fn encode(
                &self,
                #msg: &mut [u64; target::MESSAGE_WORDS],
                #caps_name: &mut [u64; target::CAPS_PER_MESSAGE],
            ) -> Result<MessageInfo, FieldError> {
                #(#stmts)*
                Ok(MessageInfo { label: 0, length: #w, caps: #c })
            }

            /// The results a successful reply (label 0) carries. Words and
            /// caps past those of the method are ignored.
            pub fn decode(
                info: MessageInfo,
                #msg: &[u64; target::MESSAGE_WORDS],
                #caps_name: &[u64; target::CAPS_PER_MESSAGE],
            ) -> Result<#reply, ProtocolError> {
                rpc_wire::check_size(info, #w, #c)?;
                Ok(#reply {
                    #(#values,)*
                })
            }
        }
    }
}

/// One allocation class of a budget: the objects of one type and size,
/// with the region the layout gives them.
struct Class<'a> {
    /// The allocation (counts of repeated clauses of one object and size
    /// added together).
    alloc: Allocation,
    object: &'a capc_dsl::model::Object,
    align_bits: u32,
    /// Bytes from the start of the layout.
    offset: u64,
}

impl Class<'_> {
    /// `Frame12`, or `Endpoint` for a fixed-size object.
    fn variant(&self) -> Ident {
        match self.object.size.param {
            Some(_) => format_ident!("{}{}", self.object.name, self.alloc.arg),
            None => ident(&self.object.name),
        }
    }

    /// `alloc_frame_12`, or `alloc_endpoint`.
    fn alloc_fn(&self) -> Ident {
        match self.object.size.param {
            Some(_) => format_ident!("alloc_{}_{}", snake(&self.object.name), self.alloc.arg),
            None => format_ident!("alloc_{}", snake(&self.object.name)),
        }
    }

    fn size(&self) -> u64 {
        1 << self.alloc.size_bits
    }
}

/// The classes of a donation laid out as the checker placed its worst case:
/// in the model's order (largest alignment first, then larger objects), each
/// starting at the running total rounded up to its alignment. Returns the
/// classes and the end of the layout.
fn classes<'a>(i: &Iface<'a>, d: &Donation) -> (Vec<Class<'a>>, u64) {
    let mut classes: Vec<Class<'a>> = Vec::new();
    for a in &d.allocations {
        if let Some(c) = classes
            .iter_mut()
            .find(|c| c.alloc.object == a.object && c.alloc.arg == a.arg)
        {
            c.alloc.count += a.count;
            continue;
        }
        let object = &i.g.spec.objects[a.object.index()];
        classes.push(Class {
            alloc: a.clone(),
            object,
            align_bits: object.align_bits_for(a.size_bits),
            offset: 0,
        });
    }
    let mut end: u64 = 0;
    for c in &mut classes {
        c.offset = end.next_multiple_of(1 << c.align_bits);
        end = c.offset + c.alloc.count * c.size();
    }
    debug_assert_eq!(end, d.worst_case_bytes, "the layout is the checker's");
    (classes, end)
}

/// The fields of the out-of-budget variant: `needed` where the payload has a
/// word of that name, 0 elsewhere. Whether `needed` is used.
fn out_of_budget(i: &Iface<'_>, d: &Donation) -> (TokenStream, bool) {
    let variant = &i.errors.variants[d.out_of_budget];
    let (ty, v) = (&i.error_ty, ident(&variant.name));
    if variant.payload.is_empty() {
        return (quote!(#ty::#v), false);
    }
    let fields = variant.payload.iter().map(|w| {
        let name = ident(w);
        if w == "needed" {
            quote!(#name)
        } else {
            quote!(#name: 0)
        }
    });
    let used = variant.payload.iter().any(|w| w == "needed");
    (quote!(#ty::#v { #(#fields),* }), used)
}

/// The class enum and budget type of a donating method.
fn budget(i: &Iface<'_>, m: &Method) -> TokenStream {
    let Some(d) = &m.donation else {
        return TokenStream::new();
    };
    let (classes, end) = classes(i, d);
    let table: Vec<String> = classes
        .iter()
        .map(|c| {
            format!(
                "- `{}`: {} × `{}` of {} each, at offset {}",
                c.variant(),
                c.alloc.count,
                i.object(&c.alloc),
                bytes(c.size()),
                c.offset
            )
        })
        .collect();
    let class_enum = if classes.is_empty() {
        TokenStream::new()
    } else {
        class_enum(i, m, &classes, &table)
    };
    let budget = budget_struct(i, m, d, &classes, end, &table);
    quote! {
        #class_enum
        #budget
    }
}

/// The enum of a budget's allocation classes, with each class's place in
/// the layout.
fn class_enum(i: &Iface<'_>, m: &Method, classes: &[Class<'_>], table: &[String]) -> TokenStream {
    let class = i.class(m);
    let mut lines = wrap(&format!(
        "The allocation classes of `{}`, one per object type and size it allocates, in the order its budget lays them out (largest alignment first):",
        i.path(m)
    ));
    lines.extend(table.iter().cloned());
    let doc = i.docs(lines, m);
    let variants = classes.iter().map(|c| {
        let doc = doc_lines(&[format!(
            "`{}`: up to {} per call.",
            i.object(&c.alloc),
            c.alloc.count
        )]);
        let v = c.variant();
        quote!(#doc #v)
    });
    let count = lit(classes.len() as u64);
    let arms = |f: &dyn Fn(&Class<'_>) -> TokenStream| -> Vec<TokenStream> {
        classes
            .iter()
            .map(|c| {
                let v = c.variant();
                let value = f(c);
                quote!(#class::#v => #value,)
            })
            .collect()
    };
    let all = classes.iter().map(|c| {
        let v = c.variant();
        quote!(#class::#v)
    });
    let object_type = arms(&|c| {
        let o = ident(&c.object.name);
        quote!(ObjectType::#o)
    });
    let size_arg = arms(&|c| {
        let a = lit(c.alloc.arg);
        quote!(#a)
    });
    let size = arms(&|c| {
        let s = lit(c.size());
        quote!(#s)
    });
    let align = arms(&|c| {
        let s = lit(1 << c.align_bits);
        quote!(#s)
    });
    let count_arms = arms(&|c| {
        let n = lit(c.alloc.count);
        quote!(#n)
    });
    let offset = arms(&|c| {
        let n = lit(c.offset);
        quote!(#n)
    });
    quote! {
        #doc
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[allow(non_camel_case_types)]
        pub enum #class {
            #(#variants,)*
        }

        impl #class {
            /// Every class, in layout order.
            pub const ALL: [#class; #count] = [#(#all),*];

            /// The object type to retype the donation into.
            pub const fn object_type(self) -> ObjectType {
                match self {
                    #(#object_type)*
                }
            }

            /// The size argument of the retype (0 for a fixed-size type).
            pub const fn size_arg(self) -> u64 {
                match self {
                    #(#size_arg)*
                }
            }

            /// Bytes of one object.
            pub const fn size(self) -> u64 {
                match self {
                    #(#size)*
                }
            }

            /// The alignment of one object in bytes.
            pub const fn align(self) -> u64 {
                match self {
                    #(#align)*
                }
            }

            /// The most objects of this class one call may allocate.
            pub const fn count(self) -> u64 {
                match self {
                    #(#count_arms)*
                }
            }

            /// Where the class starts in the worst case: in bytes from an
            /// `ALIGN`ed start, with every class before it in layout order
            /// allocated to its count.
            pub const fn offset(self) -> u64 {
                match self {
                    #(#offset)*
                }
            }
        }
    }
}

/// The budget type of a donating method.
fn budget_struct(
    i: &Iface<'_>,
    m: &Method,
    d: &Donation,
    classes: &[Class<'_>],
    end: u64,
    table: &[String],
) -> TokenStream {
    let (budget, class, error) = (i.budget(m), i.class(m), &i.error_ty);
    let oob_variant = &i.errors.variants[d.out_of_budget].name;
    let (oob, uses_needed) = out_of_budget(i, d);
    let needed = if uses_needed {
        format_ident!("needed")
    } else {
        format_ident!("_needed")
    };
    let untyped = donated_cap(m).map(|cap| &i.g.spec.caps[cap.index()].name);
    let mut lines = wrap(&format!(
        "The budget of one `{}` call: the only memory the server has for it, paid for by the caller.",
        i.path(m)
    ));
    lines.push(String::new());
    lines.extend(wrap(&i.cost(m)));
    lines.push(String::new());
    if classes.is_empty() {
        lines.push("The method allocates nothing: the budget only holds the donation.".to_string());
    } else {
        lines.extend(wrap(&format!(
            "[`alloc`](Self::alloc) hands out the donation as retyping it from its first free address does: each object at the running total rounded up to the object's alignment. In layout order ([`{class}::ALL`], largest alignment first) no gaps arise and every class fits at its declared count, as `capc check` proved: the worst case below. `alloc` returns `{error}::{oob_variant}` once a class's count is used up, or when an object would end past the donation (which only alignment gaps, out of layout order, can cause)."
        )));
        lines.push(String::new());
        lines.extend(table.iter().cloned());
    }
    lines.push(String::new());
    lines.extend(wrap(&format!(
        "[`dispatch_{}`] makes it from the request's donation and lends it to the server method. Its fields are private, so a server cannot enlarge it; `from_donation` is public for tests and other dispatchers, not for servers.",
        snake(&i.set.name)
    )));
    let doc = i.docs(lines, m);
    let min = lit(d.min_bytes);
    let worst = lit(end);
    let align = lit(classes
        .iter()
        .map(|c| 1u64 << c.align_bits)
        .max()
        .unwrap_or(1));
    let n = lit(classes.len() as u64);
    let (untyped_field, untyped_init, untyped_param, untyped_getter) = match untyped {
        Some(cap) => {
            let getter_doc = doc_lines(&wrap(&format!(
                "The slot of the donated `{cap}`: the server retypes the objects `alloc` hands out from it (their addresses are inside its region)."
            )));
            (
                quote!(untyped: u64,),
                quote!(untyped,),
                quote!(untyped: u64,),
                quote! {
                    #getter_doc
                    pub const fn untyped(&self) -> u64 {
                        self.untyped
                    }
                },
            )
        }
        None => (quote!(), quote!(), quote!(), quote!()),
    };
    let from_doc = doc_lines(&wrap(&match untyped {
        Some(cap) => format!(
            "The budget of a call that donated the `{cap}` in slot `untyped`, whose free part is `donation`. Refuses, with `{error}::{oob_variant}`, a donation smaller than [`MIN_DONATION`](Self::MIN_DONATION) or too small for the worst case once its start is rounded up to [`ALIGN`](Self::ALIGN) (or that wraps around the address space); `needed` is then the bytes that would have done."
        ),
        None => format!(
            "The budget of a call whose caller donated the quota `donation`. Refuses, with `{error}::{oob_variant}`, a quota smaller than [`MIN_DONATION`](Self::MIN_DONATION) or too small for the worst case once its start is rounded up to [`ALIGN`](Self::ALIGN) (or that wraps around the address space); `needed` is then the bytes that would have done."
        ),
    }));
    let payload_note = if uses_needed {
        "with `needed` bytes (other payload words 0)"
    } else {
        "(its payload words 0: it has no `needed` word)"
    };
    let oob_doc = doc_lines(&wrap(&format!(
        "The error this method returns when its donation runs out: `{error}::{oob_variant}` {payload_note}. A server may return it itself, e.g. when its output would need more than the budget holds."
    )));
    let (alloc_field, alloc_init, allocation) = if classes.is_empty() {
        (
            quote!(),
            quote!(),
            quote! {
                /// Bytes handed out so far: always 0, the method allocates
                /// nothing.
                pub const fn used_bytes(&self) -> u64 {
                    0
                }
            },
        )
    } else {
        let shortcuts = classes.iter().map(|c| {
            let f = c.alloc_fn();
            let v = c.variant();
            let doc = doc_lines(&wrap(&format!(
                "Allocates one `{}`: [`alloc`](Self::alloc) of [`{class}::{v}`].",
                i.object(&c.alloc)
            )));
            quote! {
                #doc
                pub fn #f(&mut self) -> Result<u64, #error> {
                    self.alloc(#class::#v)
                }
            }
        });
        let alloc_doc = doc_lines(&wrap(&format!(
            "The next object of `class`: its address, where a retype from the donation's first free address puts it after the objects handed out so far (the running total rounded up to the object's alignment). Fails with `{error}::{oob_variant}` once `class.count()` objects of the class were handed out in this call, or if the object would end past the donation; `needed` is then the bytes the call would have used with this object."
        )));
        (
            quote!(used: u64, allocated: [u64; #n],),
            quote!(used: 0, allocated: [0; #n],),
            quote! {
                #alloc_doc
                pub fn alloc(&mut self, class: #class) -> Result<u64, #error> {
                    let index = class as usize;
                    // The new running total: from `base`, past the object.
                    let end = (self.base + self.used)
                        .checked_next_multiple_of(class.align())
                        .and_then(|start| start.checked_add(class.size()))
                        .map_or(u64::MAX, |end| end - self.base);
                    if self.allocated[index] == class.count() || end > self.bytes {
                        return Err(Self::out_of_budget(end));
                    }
                    self.allocated[index] += 1;
                    self.used = end;
                    Ok(self.base + end - class.size())
                }

                #(#shortcuts)*

                /// Bytes of the donation used so far in this call: from
                /// [`base`](Self::base) to the end of the last object,
                /// alignment gaps included.
                pub const fn used_bytes(&self) -> u64 {
                    self.used
                }

                /// How many more objects of `class` this call may allocate.
                pub const fn remaining(&self, class: #class) -> u64 {
                    class.count() - self.allocated[class as usize]
                }
            },
        )
    };
    let from_body = if classes.is_empty() {
        // Nothing to align: the donation only has to be large enough.
        quote! {
            if donation.bytes < Self::MIN_DONATION || donation.base.checked_add(donation.bytes).is_none() {
                return Err(Self::out_of_budget(Self::MIN_DONATION));
            }
            Ok(#budget {
                #untyped_init
                base: donation.base,
                bytes: donation.bytes,
            })
        }
    } else {
        quote! {
            let padding = donation.base.wrapping_neg() % Self::ALIGN;
            let needed = Self::MIN_DONATION.max(Self::WORST_CASE_BYTES.saturating_add(padding));
            if donation.bytes < needed || donation.base.checked_add(donation.bytes).is_none() {
                return Err(Self::out_of_budget(needed));
            }
            Ok(#budget {
                #untyped_init
                base: donation.base,
                bytes: donation.bytes,
                #alloc_init
            })
        }
    };
    quote! {
        #doc
        #[derive(Debug, PartialEq, Eq)]
        #[allow(non_camel_case_types)]
        pub struct #budget {
            #untyped_field
            base: u64,
            bytes: u64,
            #alloc_field
        }

        impl #budget {
            /// The least bytes the caller donates.
            pub const MIN_DONATION: u64 = #min;
            /// Bytes of every class at its declared count, in layout
            /// order from an address aligned to `ALIGN`: at most
            /// `MIN_DONATION`, as `capc check` proved.
            pub const WORST_CASE_BYTES: u64 = #worst;
            /// The largest alignment of any class: a donation starting
            /// below it needs the difference on top of the worst case.
            pub const ALIGN: u64 = #align;

            #from_doc
            pub fn from_donation(#untyped_param donation: Donation) -> Result<#budget, #error> {
                #from_body
            }

            #oob_doc
            pub const fn out_of_budget(#needed: u64) -> #error {
                #oob
            }

            #untyped_getter

            /// The donation's first free address: where the running total
            /// of [`alloc`](Self::alloc) starts.
            pub const fn base(&self) -> u64 {
                self.base
            }

            /// Bytes of the donation from [`base`](Self::base).
            pub const fn bytes(&self) -> u64 {
                self.bytes
            }

            #allocation
        }
    }
}

/// Splits a paragraph into doc lines of at most about 72 characters; the
/// lines after the first of a `- ` bullet are indented to match.
fn wrap(text: &str) -> Vec<String> {
    if text.is_empty() {
        return vec![String::new()];
    }
    let indent = if text.starts_with("- ") { "  " } else { "" };
    let mut lines = Vec::new();
    let mut line = String::new();
    // A line starting with `+` or `-` would read as a list item: keep them
    // at the end of the previous line.
    let mut words: Vec<String> = Vec::new();
    for word in text.split(' ') {
        match words.last_mut() {
            Some(last) if word == "+" || word == "-" => {
                last.push(' ');
                last.push_str(word);
            }
            _ => words.push(word.to_string()),
        }
    }
    for word in &words {
        if !line.trim_start().is_empty() && line.chars().count() + 1 + word.chars().count() > 72 {
            lines.push(std::mem::replace(&mut line, indent.to_string()));
        }
        if !line.trim_start().is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The docs of a method as the client and the server see it: a link to
/// its label (its docs and cost), its arguments and results, its errors.
fn method_lines(i: &Iface<'_>, m: &Method, extra: &[String]) -> Vec<String> {
    let mut lines = vec![i.method_link(m, "method")];
    if !m.params.is_empty() || !extra.is_empty() {
        lines.push(String::new());
        lines.push("Arguments:".to_string());
        lines.extend(i.param_lines(&m.params, false));
        lines.extend(extra.iter().cloned());
    }
    if !m.results.is_empty() {
        lines.push(String::new());
        lines.push(format!("Results, in [`{}`]:", i.reply(m)));
        lines.extend(i.param_lines(&m.results, true));
    }
    lines.push(String::new());
    lines.extend(wrap(&i.errors_line(m)));
    lines
}

/// `#[allow(clippy::too_many_arguments)]` for a function of more than seven
/// parameters (`self` included): client and server methods take the spec's
/// parameters one by one.
fn too_many_arguments(count: usize) -> TokenStream {
    if count > 7 {
        quote!(#[allow(clippy::too_many_arguments)])
    } else {
        TokenStream::new()
    }
}

/// The Rust type of a method's results.
fn reply_ty(i: &Iface<'_>, m: &Method) -> TokenStream {
    if m.results.is_empty() {
        quote!(())
    } else {
        let r = i.reply(m);
        quote!(#r)
    }
}

/// The server trait and dispatch function of an interface.
fn server(i: &Iface<'_>) -> TokenStream {
    let set = i.set;
    let (request, error) = (&i.request, &i.error_ty);
    let server = format_ident!("{}Server", set.name);
    let dispatch = format_ident!("dispatch_{}", snake(&set.name));
    let donating = set.methods.iter().any(|m| m.donation.is_some());
    // With a one-way method, dispatch answers `None` for it: no reply.
    let oneway = set.methods.iter().any(|m| m.oneway);

    let doc = i.interface_doc(format!(
        "The server side of the `{}` interface: one method per RPC, called by [`{dispatch}`] with the decoded arguments.",
        set.name
    ));
    let fns = set.methods.iter().map(|m| {
        let name = ident(&m.name);
        let params = m.params.iter().map(|p| {
            let n = ident(&p.name);
            let t = callbacks::server_param_ty(i.g, p, param_ty(&p.kind, &i.g.spec.data_types));
            quote!(#n: #t)
        });
        let mut extra = Vec::new();
        let free_name = |base: &str| {
            let mut name = base.to_string();
            while m.params.iter().any(|p| p.name == name) {
                name.push('_');
            }
            name
        };
        let session_param = set.session.as_ref().map(|_| {
            let name = free_name("session");
            extra.extend(wrap(&format!(
                "- `{name}`: The caller's session, which pays for what the server keeps for it; refund to it what a call takes back."
            )));
            let n = ident(&name);
            let s = sessions::session_ty(set);
            quote!(#n: &mut #s)
        });
        let charge_param = sessions::has(m, sessions::Part::Handed).then(|| {
            let name = free_name("charge");
            extra.extend(wrap(&format!(
                "- `{name}`: What the session was charged for what this call hands out: take it and keep it with what it paid for (it is refunded when that comes back); left here on success, it stays charged until the session closes; on failure dispatch refunds it."
            )));
            let n = ident(&name);
            let c = sessions::charge_ty(set);
            quote!(#n: &mut Option<#c>)
        });
        let budget_param = m.donation.as_ref().map(|_| {
            let name = free_name("budget");
            extra.extend(wrap(&format!(
                "- `{name}`: The memory of this call, from the caller's donation; the server has no other."
            )));
            let n = ident(&name);
            let b = i.budget(m);
            quote!(#n: &mut #b)
        });
        let doc = i.docs(method_lines(i, m, &extra), m);
        let reply = reply_ty(i, m);
        let allow = too_many_arguments(
            1 + m.params.len()
                + usize::from(budget_param.is_some())
                + usize::from(session_param.is_some())
                + usize::from(charge_param.is_some()),
        );
        if m.oneway {
            // Checked: a one-way method has no results, errors or donation.
            let session_param = session_param.into_iter();
            return quote! {
                #doc
                #allow
                fn #name(&mut self, #(#params,)* #(#session_param)*);
            };
        }
        let extra_params = session_param.into_iter().chain(charge_param).chain(budget_param);
        let error = i.method_error_ty(m);
        quote! {
            #doc
            #allow
            fn #name(&mut self, #(#params,)* #(#extra_params),*) -> Result<#reply, #error>;
        }
    });

    let answer = quote! {
        match result {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => ProtocolError::InvalidResult.encode(msg),
            Err(error) if label.errors().contains(&error.number()) => error.reply(msg),
            Err(error) => ProtocolError::UndeclaredError { number: error.number() }.encode(msg),
        }
    };
    let mixed = i.mixed();
    let arms = set.methods.iter().map(|m| {
        let v = i.variant(m);
        let name = ident(&m.name);
        let donation = donated_cap(m).map(|_| donation_field(m));
        let (pattern, bindings) = request_pattern(request, &v, m, donation.as_deref());
        let plain = &bindings[..m.params.len()];
        let args = &callbacks::server_args(i.g, m, plain)[..];
        let encode = if m.results.is_empty() {
            quote!(.map(|()| Ok(MessageInfo::default())))
        } else {
            quote!(.map(|reply| reply.encode(msg, caps)))
        };
        let session_arg = set.session.as_ref().map(|_| quote!(session));
        if m.oneway {
            let session_arg = session_arg.into_iter();
            return quote! {
                #pattern => {
                    server.#name(#(#args,)* #(#session_arg)*);
                    None
                }
            };
        }
        let handed = sessions::has(m, sessions::Part::Handed);
        let charge_arg = handed.then(|| quote!(&mut charge));
        let leading: Vec<TokenStream> = session_arg.into_iter().chain(charge_arg).collect();
        let call = match &m.donation {
            None => quote!(server.#name(#(#args,)* #(#leading),*)),
            Some(d) => {
                let budget = i.budget(m);
                let from = match (&d.kind, bindings.last()) {
                    (DonationKind::Untyped(_), Some(slot)) if donation.is_some() => {
                        quote!(#budget::from_donation(#slot, donated))
                    }
                    _ => quote!(#budget::from_donation(donated)),
                };
                quote! {
                    #from
                        .and_then(|mut budget| server.#name(#(#args,)* #(#leading,)* &mut budget))
                }
            }
        };
        let call = charged_call(i, m, plain, call);
        let value = quote!(#call #encode);
        let value = if mixed {
            // Each method's errors are of its own set: answered here.
            let merr = i.method_error_ty(m);
            quote! {
                {
                    let result: Result<Result<MessageInfo, FieldError>, #merr> = #value;
                    #answer
                }
            }
        } else {
            value
        };
        if oneway {
            quote!(#pattern => Some(#value),)
        } else {
            quote!(#pattern => #value,)
        }
    });
    let arms: Vec<TokenStream> = arms.collect();
    let donated_param = donating.then(|| quote!(donated: Donation,));
    let session_param = set.session.as_ref().map(|_| {
        let s = sessions::session_ty(set);
        quote!(session: &mut #s,)
    });
    let donated_doc = if donating {
        " For a donating method it first makes the method's budget from `donated`, what the caller donated as the server's runtime learned it (see [`Donation`]); a donation below the method's minimum is answered with the method's out-of-budget error and the server is not called."
    } else {
        ""
    };
    let dispatch_doc = doc_lines(
        &[
            wrap(&format!(
                "Serves one `{}` request: decodes `info`, `msg` and `caps`, calls `server`, and writes the reply into `msg` and `caps`, returning its header.{donated_doc}",
                set.name
            )),
            vec![String::new()],
            wrap("The reply's label is 0 with the results on success, the error's number with its payload when the method returns an error it declares, and a [`ProtocolError`] label when the request does not decode (the server is not called), when the server returns an error the method does not declare (`UndeclaredError`), or results that do not fit their types (`InvalidResult`)."),
            if oneway {
                [
                    vec![String::new()],
                    wrap("`None` for a one-way message, decoded or not: nobody waits for an answer, so the server loop sends no reply."),
                ]
                .concat()
            } else {
                Vec::new()
            },
        ]
        .concat(),
    );
    let label_ty = &i.label;
    let body = if oneway {
        quote! {
            let request = match #request::decode(info, msg, caps) {
                Ok(request) => request,
                // Nobody waits for an answer to a one-way message.
                Err(_) if #label_ty::from_label(info.label).is_some_and(#label_ty::oneway) => {
                    return None;
                }
                Err(error) => return Some(error.encode(msg)),
            };
            let label = request.label();
            let result: Result<Result<MessageInfo, FieldError>, #error> = match request {
                #(#arms)*
            }?;
            Some(#answer)
        }
    } else {
        quote! {
            let request = match #request::decode(info, msg, caps) {
                Ok(request) => request,
                Err(error) => return error.encode(msg),
            };
            let label = request.label();
            let result: Result<Result<MessageInfo, FieldError>, #error> = match request {
                #(#arms)*
            };
            #answer
        }
    };
    let body = match (mixed, oneway) {
        (false, _) => body,
        (true, true) => quote! {
            let request = match #request::decode(info, msg, caps) {
                Ok(request) => request,
                // Nobody waits for an answer to a one-way message.
                Err(_) if #label_ty::from_label(info.label).is_some_and(#label_ty::oneway) => {
                    return None;
                }
                Err(error) => return Some(error.encode(msg)),
            };
            let label = request.label();
            match request {
                #(#arms)*
            }
        },
        (true, false) => quote! {
            let request = match #request::decode(info, msg, caps) {
                Ok(request) => request,
                Err(error) => return error.encode(msg),
            };
            let label = request.label();
            match request {
                #(#arms)*
            }
        },
    };
    let returns = if oneway {
        quote!(Option<MessageInfo>)
    } else {
        quote!(MessageInfo)
    };
    quote! {
        #doc
        pub trait #server {
            #(#fns)*
        }

        #dispatch_doc
        pub fn #dispatch(
            server: &mut impl #server,
            info: MessageInfo,
            msg: &mut [u64; target::MESSAGE_WORDS],
            caps: &mut [u64; target::CAPS_PER_MESSAGE],
            #session_param
            #donated_param
        ) -> #returns {
            #body
        }
    }
}

/// The call of a session method's server method, `call`, wrapped in the
/// charging dispatch does: the call's charge for its actual arguments must
/// fit what is left of the session's quota (else the session's error, the
/// server not called); what it needs for the call only is refunded when it
/// returns, what it hands out goes to the server as `charge`, and both that
/// and what it keeps are refunded when it fails.
fn charged_call(i: &Iface<'_>, m: &Method, args: &[Ident], call: TokenStream) -> TokenStream {
    use sessions::Part;
    if i.set.session.is_none() || !Part::ALL.iter().any(|p| sessions::has(m, *p)) {
        return call;
    }
    let ty = sessions::session_ty(i.set);
    let amount = |part: Part| -> TokenStream {
        let f = sessions::bytes_fn(m, part);
        let values = sessions::sizing_params(m, part)
            .into_iter()
            .map(|k| &args[k]);
        quote!(#ty::#f(#(#values),*))
    };
    let (call_bytes, handed_bytes, kept_bytes) =
        (amount(Part::Call), amount(Part::Handed), amount(Part::Kept));
    // (Each is used only where the method has charges of its part.)
    let scratch = sessions::has(m, Part::Call).then(|| {
        (
            quote!(let scratch = session.charge(#call_bytes);),
            quote! {
                if let Ok(scratch) = scratch {
                    let _ = session.refund(scratch);
                }
            },
        )
    });
    let handed = sessions::has(m, Part::Handed).then(|| {
        (
            quote!(let mut charge = session.charge(#handed_bytes).ok();),
            quote! {
                if let (Err(_), Some(charge)) = (&result, charge) {
                    let _ = session.refund(charge);
                }
            },
        )
    });
    let kept = sessions::has(m, Part::Kept).then(|| {
        (
            quote!(let kept = session.charge(#kept_bytes);),
            quote! {
                if let (Err(_), Ok(kept)) = (&result, kept) {
                    let _ = session.refund(kept);
                }
            },
        )
    });
    let (before, after): (Vec<TokenStream>, Vec<TokenStream>) =
        scratch.into_iter().chain(handed).chain(kept).unzip();
    let mut present = Part::ALL
        .into_iter()
        .filter(|p| sessions::has(m, *p))
        .map(amount);
    let first = present.next().expect("a charging method");
    let total = present.fold(first, |sum, a| quote!(#sum.saturating_add(#a)));
    quote! {
        {
            let total = #total;
            if total > session.available() {
                Err(#ty::out_of_budget(total))
            } else {
                #(#before)*
                let result = #call;
                #(#after)*
                result
            }
        }
    }
}

/// The client struct of an interface.
fn client(i: &Iface<'_>) -> TokenStream {
    let set = i.set;
    let (request, error) = (&i.request, &i.error_ty);
    let mixed = i.mixed();
    let restartable = restartable(i.g);
    let client = format_ident!("{}Client", set.name);
    let doc = i.interface_doc(format!(
        "A client of the `{}` interface: one method per RPC, each encoding its request, calling the server through the [`Transport`] and decoding the reply.",
        set.name
    ));
    let methods = set.methods.iter().map(|m| {
        let name = ident(&m.name);
        let v = i.variant(m);
        let donation = donated_cap(m).map(|_| donation_field(m));
        let mut params: Vec<TokenStream> = m
            .params
            .iter()
            .map(|p| {
                let n = ident(&p.name);
                // The client lends a range of its frame; the request
                // carries the lease made of it.
                let t = match &p.kind {
                    ParamKind::Lease(_) => quote!(FrameRange),
                    kind => param_ty(kind, &i.g.spec.data_types),
                };
                quote!(#n: #t)
            })
            .collect();
        let mut names: Vec<Ident> = m.params.iter().map(|p| ident(&p.name)).collect();
        let mut extra = Vec::new();
        if let (Some(n), Some(desc)) = (&donation, i.donation_desc(m)) {
            extra.extend(wrap(&format!("- `{n}`: {desc}")));
            let n = ident(n);
            params.push(quote!(#n: u64));
            names.push(n);
        }
        let doc = i.docs(method_lines(i, m, &extra), m);
        let value = if names.is_empty() {
            quote!(#request::#v)
        } else {
            quote!(#request::#v { #(#names),* })
        };
        let reply = reply_ty(i, m);
        let allow = too_many_arguments(1 + params.len());
        if m.oneway {
            return quote! {
                #doc
                #allow
                pub fn #name(&mut self, #(#params),*) -> Result<(), SendError> {
                    let request = #value;
                    let mut msg = [0; target::MESSAGE_WORDS];
                    let mut caps = [0; target::CAPS_PER_MESSAGE];
                    let info = request.encode(&mut msg, &mut caps).map_err(SendError::Argument)?;
                    if self.transport.send(info, &msg, &caps[..info.caps]) {
                        Ok(())
                    } else {
                        Err(SendError::NotSent)
                    }
                }
            };
        }
        let merr = i.method_error_ty(m);
        let decoder = mixed.then(|| quote!(, #merr::decode));
        let retries = restartable.then(|| {
            if m.idempotent {
                quote!(, T::RETRIES)
            } else {
                quote!(, 0)
            }
        });
        let (lend, end) = leases::client_lend(m);
        let finish = if leases::has(m) {
            // The leases end however the call went.
            let decode = if m.results.is_empty() {
                quote! {
                    reply?;
                    Ok(())
                }
            } else {
                let r = i.reply(m);
                quote!(#r::decode(reply?, &msg, &caps).map_err(CallError::BadReply))
            };
            quote! {
                let reply = self.call(&request, &mut msg, &mut caps #decoder #retries);
                #end
                #decode
            }
        } else if m.results.is_empty() {
            quote! {
                self.call(&request, &mut msg, &mut caps #decoder #retries)?;
                Ok(())
            }
        } else {
            let r = i.reply(m);
            quote! {
                let reply = self.call(&request, &mut msg, &mut caps #decoder #retries)?;
                #r::decode(reply, &msg, &caps).map_err(CallError::BadReply)
            }
        };
        quote! {
            #doc
            #allow
            pub fn #name(&mut self, #(#params),*) -> Result<#reply, CallError<#merr>> {
                #lend
                let request = #value;
                let mut msg = [0; target::MESSAGE_WORDS];
                let mut caps = [0; target::CAPS_PER_MESSAGE];
                #finish
            }
        }
    });
    // A private helper only calls use.
    let call = set.methods.iter().any(|m| !m.oneway).then(|| {
        // With methods of several error sets, each gives its decoder.
        let (generic, error, decoder_param, decoder) = if mixed {
            (
                quote!(<E>),
                quote!(E),
                quote!(decode: fn(u64, &[u64]) -> Option<E>,),
                quote!(decode),
            )
        } else {
            (quote!(), quote!(#error), quote!(), quote!(#error::decode))
        };
        let (retries_param, send, doc) = if restartable {
            (
                quote!(retries: u32,),
                quote! {
                    let mut retries = retries;
                    let reply = loop {
                        let info = request.encode(msg, caps).map_err(CallError::Argument)?;
                        let sent = *caps;
                        let reply = self.transport.call(info, msg, &sent[..info.caps], caps);
                        if reply.label != T::SERVER_DIED {
                            break reply;
                        }
                        if retries == 0 {
                            return Err(CallError::ServerDied);
                        }
                        retries -= 1;
                    };
                },
                quote! {
                    /// Sends `request` and returns the header of a successful reply,
                    /// whose words and caps are then in `msg` and `caps`. When the
                    /// server died before replying, sends it again up to `retries`
                    /// more times (an idempotent method's [`Transport::RETRIES`], 0
                    /// for any other), then answers [`CallError::ServerDied`].
                },
            )
        } else {
            (
                quote!(),
                quote! {
                    let info = request.encode(msg, caps).map_err(CallError::Argument)?;
                    let sent = *caps;
                    let reply = self.transport.call(info, msg, &sent[..info.caps], caps);
                },
                quote! {
                    /// Sends `request` and returns the header of a successful reply,
                    /// whose words and caps are then in `msg` and `caps`.
                },
            )
        };
        quote! {
            #doc
            fn call #generic(
                &mut self,
                request: &#request,
                msg: &mut [u64; target::MESSAGE_WORDS],
                caps: &mut [u64; target::CAPS_PER_MESSAGE],
                #decoder_param
                #retries_param
            ) -> Result<MessageInfo, CallError<#error>> {
                #send
                if reply.label == 0 {
                    return Ok(reply);
                }
                if reply.label >= ProtocolError::FIRST_LABEL {
                    return Err(match ProtocolError::decode(reply, msg) {
                        Some(refusal) => CallError::Refused(refusal),
                        None => CallError::BadReply(ProtocolError::Truncated),
                    });
                }
                if !request.label().errors().contains(&reply.label) {
                    return Err(CallError::BadReply(ProtocolError::UndeclaredError {
                        number: reply.label,
                    }));
                }
                let payload = &msg[..reply.length.min(target::MESSAGE_WORDS)];
                Err(match #decoder(reply.label, payload) {
                    Some(error) => CallError::Server(error),
                    None => CallError::BadReply(ProtocolError::Truncated),
                })
            }
        }
    });
    quote! {
        #doc
        #[derive(Debug)]
        #[allow(non_camel_case_types)]
        pub struct #client<T: Transport> {
            transport: T,
        }

        impl<T: Transport> #client<T> {
            /// A client that calls the server through `transport`.
            pub const fn new(transport: T) -> #client<T> {
                #client { transport }
            }

            /// The transport.
            pub fn transport(&mut self) -> &mut T {
                &mut self.transport
            }

            /// The transport, giving the client up.
            pub fn into_transport(self) -> T {
                self.transport
            }

            #(#methods)*

            #call
        }
    }
}
