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
//! `Donation`, `Transport`, `CallError`) are generated once; the messages
//! pack and check their words with the base module's one `wire` module
//! (`backend/wire.rs`), which kernel invocations use too.
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
//!
//! Generated docs say each explanation once and link to it: what every
//! message shares in the `# Messages` section of `ProtocolError`'s docs,
//! what every budget shares in the `# Budgets` section of `Donation`'s, a
//! method's docs, cost and errors on its label variant, its arguments on
//! its request variant's fields, the server's extra parameters on the
//! server trait. The other items (client and server methods, `encode` and
//! `decode`, budgets) keep their spec line and what is their own.
//!
//! The code is laid out by what it generates: `protocol` (the shared
//! types), `messages` (layouts, label and request enums, reply
//! structs), `budgets`, `server`, `client`, and for the features of some
//! specs `callbacks`, `leases`, `received` and `sessions`. This file holds
//! [`parts`], the per-interface context [`Iface`] and the doc helpers they
//! all use.

use capc_dsl::ast::Transfer;
use capc_dsl::model::{
    Allocation, DonationKind, ErrorSet, Method, MethodParam, MethodSet, ParamKind,
};
use capc_dsl::units::sum_and_bytes as bytes;
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::{Gen, Part, camel, data, doc_lines, ident, lit, snake};

mod budgets;
mod callbacks;
mod client;
mod leases;
mod messages;
mod minting;
mod protocol;
mod received;
mod server;
mod sessions;

use budgets::budget;
use client::client;
use messages::{
    bits, donated_cap, label_enum, param_ty, reply_struct, request_enum, request_pattern,
    scalar_name,
};
use protocol::shared;
use server::server;

/// The section's parts: the types and helpers every interface shares, then
/// per interface its label and request enums, each method's reply struct,
/// and (as the options ask) its budgets, server and client.
pub fn parts<'a>(g: &'a Gen<'_>) -> Vec<Part<'a>> {
    let interfaces: Vec<&MethodSet> = g
        .spec
        .interfaces
        .iter()
        .filter(|set| !set.methods.is_empty() && g.here(set.span))
        .collect();
    let mut parts: Vec<Part<'a>> = Vec::new();
    if data::needed(g.spec) && g.spec.data_types.iter().any(|t| g.here(t.span)) {
        parts.push(Box::new(data::shared));
        for t in g.spec.data_types.iter().filter(|t| g.here(t.span)) {
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
            let oneway_mints = interfaces
                .iter()
                .filter(|s| !s.callback)
                .flat_map(|s| &s.methods)
                .any(|m| m.oneway && minting::mints(m));
            let mut shared = shared(g, oneway, minting::any(&interfaces), oneway_mints);
            if leases::any(&interfaces) {
                shared.extend(leases::shared(g));
                if g.options.clients {
                    shared.extend(leases::client_helper());
                }
            }
            shared
        }
    }));
    for set in interfaces {
        parts.extend(interface(g, set));
    }
    parts
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
            let moved = minting::moved_results(&i);
            let server = server(&i);
            quote! {
                #checks
                #moved
                #server
            }
        }));
    }
    if g.options.clients {
        parts.push(Box::new(move || client(&Iface::new(g, set))));
    }
    parts
}

/// How a cap argument (`result`: a result) travels, for docs. What lending,
/// granting and moving mean is said once, in the messages section of
/// `ProtocolError`'s docs.
fn transferred(transfer: Transfer, result: bool) -> &'static str {
    match (transfer, result) {
        (Transfer::Lend, _) => "lent for the call",
        (Transfer::Move, false) => "moved to the server",
        (Transfer::Move, true) => "moved to the caller",
        (_, false) => "granted to the server",
        (_, true) => "granted to the caller",
    }
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

    /// A link to the method's label variant, where its docs, cost and
    /// errors are said once: "`decompress`: [`DecompressorLabel::Decompress`]".
    fn method_link(&self, m: &Method, what: &str) -> String {
        format!(
            "The `{}` {what}: [`{}::{}`].",
            m.name,
            self.label,
            self.variant(m)
        )
    }

    /// The spec's docs of a method, or a fallback.
    fn method_docs(&self, m: &Method) -> Vec<String> {
        if m.docs.is_empty() {
            vec![format!("The `{}` method of `{}`.", m.name, self.set.name)]
        } else {
            m.docs.clone()
        }
    }

    /// What a call costs its caller, in one sentence; `None` when it costs
    /// nothing (the label enum says once what that means) and for a
    /// callback message.
    fn cost(&self, m: &Method) -> Option<String> {
        if self.set.callback {
            return None;
        }
        if let Some(bound) = m.server_pays {
            return Some(format!(
                "Paid by the server: up to {} of its own memory per call (`server_pays`).",
                bytes(bound)
            ));
        }
        let session = self.session_cost(m);
        let Some(d) = &m.donation else {
            return session;
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
        Some(match session {
            Some(s) => format!("{per_call} {s}"),
            None => per_call,
        })
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
            " Idempotent: retried when its server died."
        } else {
            ""
        };
        format!("Errors{own}: {}.{retried}", names.join(", "))
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
                format!(
                    "The slot of {}{rights}, {}.{}",
                    a_cap(cap),
                    transferred(*transfer, result),
                    callbacks::binds_doc(self.g, p)
                )
            }
            ParamKind::AnyCap { transfer } => format!(
                "The slot of a cap of any type, with whatever rights it has, {}.{}",
                transferred(*transfer, result),
                callbacks::binds_doc(self.g, p)
            ),
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

/// The docs of a method (or callback message, `what`) as the client and
/// the server see it: links to its label variant (its docs, cost and
/// errors), to its request variant (its arguments) and to its reply (its
/// results), then `extra`, what only this side's function has.
fn method_lines(i: &Iface<'_>, m: &Method, what: &str, extra: &[String]) -> Vec<String> {
    let mut lines = vec![i.method_link(m, what)];
    let mut links = Vec::new();
    if !m.params.is_empty() {
        links.push(format!(
            "arguments as in [`{}::{}`]",
            i.request,
            i.variant(m)
        ));
    }
    if !m.results.is_empty() {
        links.push(format!("results in [`{}`]", i.reply(m)));
    }
    if !links.is_empty() {
        let mut line = join_and(&links);
        line[..1].make_ascii_uppercase();
        lines.push(String::new());
        lines.extend(wrap(&format!("{line}.")));
    }
    // Rights are not in a slot's type: the method says what its caps must
    // carry.
    let rights: Vec<String> = m
        .params
        .iter()
        .filter_map(|p| match &p.kind {
            ParamKind::Cap { rights, .. } if !rights.is_empty() => {
                let names: Vec<String> = rights
                    .iter()
                    .map(|r| format!("`{}`", i.g.spec.rights[r.index()].name))
                    .collect();
                Some(format!("`{}` must carry {}.", p.name, join_and(&names)))
            }
            _ => None,
        })
        .collect();
    if !rights.is_empty() {
        lines.push(String::new());
        lines.extend(wrap(&rights.join(" ")));
    }
    if !extra.is_empty() {
        lines.push(String::new());
        lines.extend(extra.iter().cloned());
    }
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
