//! Callback interfaces in generated code (docs/language.md, "Callbacks"):
//! the messages a server sends to a client that bound them. The roles are
//! those of an interface turned round: for `callback interface WatchEvents`
//! the server side (`options.servers`) gets `WatchEventsSender`, the bound
//! cap with one method per message, which sends through the [`Notifier`]
//! the server implements (seL4's `NBSend`: never waiting for the client);
//! the client side (`options.clients`) gets the trait `WatchEventsHandler`
//! and `dispatch_watch_events`, which decodes a received message and calls
//! the handler. The label and request enums are an interface's. A method of
//! another interface with a `binds WatchEvents` parameter hands its server a
//! `WatchEventsSender` for the cap the client granted.
//!
//! [`Notifier`]: the generated trait, made by [`notifier`].

use capc_dsl::model::{Method, MethodParam, MethodSet};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::{Iface, method_lines, request_pattern, too_many_arguments, wrap};
use crate::backend::{Gen, doc_lines, ident, snake};

/// Whether the spec has a callback interface with a message.
pub(super) fn any(g: &Gen<'_>) -> bool {
    g.spec
        .interfaces
        .iter()
        .any(|s| s.callback && !s.methods.is_empty())
}

/// `WatchEventsSender`.
pub(super) fn sender_ty(set: &MethodSet) -> Ident {
    format_ident!("{}Sender", set.name)
}

/// The callback interface a parameter binds, if it binds one with a
/// message (one without has no sender: its server takes the slot).
pub(super) fn bound<'a>(g: &'a Gen<'_>, p: &MethodParam) -> Option<&'a MethodSet> {
    p.binds
        .map(|i| &g.spec.interfaces[i])
        .filter(|set| !set.methods.is_empty())
}

/// The type a server method takes for a parameter: the bound callback's
/// sender for a `binds` parameter, else `plain`.
pub(super) fn server_param_ty(g: &Gen<'_>, p: &MethodParam, plain: TokenStream) -> TokenStream {
    match bound(g, p) {
        Some(set) => {
            let s = sender_ty(set);
            quote!(#s)
        }
        None => plain,
    }
}

/// The arguments dispatch passes to a server method, from the bindings of
/// the request's fields: a `binds` parameter's slot becomes its sender.
pub(super) fn server_args(g: &Gen<'_>, m: &Method, args: &[Ident]) -> Vec<TokenStream> {
    m.params
        .iter()
        .zip(args)
        .map(|(p, a)| match bound(g, p) {
            Some(set) => {
                let s = sender_ty(set);
                quote!(#s::new(#a.index()))
            }
            None => quote!(#a),
        })
        .collect()
}

/// What a `binds` parameter adds to its docs.
pub(super) fn binds_doc(g: &Gen<'_>, p: &MethodParam) -> String {
    match bound(g, p) {
        // The sender is generated with the servers only: without them its
        // name is not a link.
        Some(set) if g.options.servers => format!(
            " It binds `{}`: the server sends that callback interface's messages through it ([`{}`]).",
            set.name,
            sender_ty(set)
        ),
        Some(set) => format!(
            " It binds `{}`: the server sends that callback interface's messages through it (`{}`).",
            set.name,
            sender_ty(set)
        ),
        None => String::new(),
    }
}

/// The trait through which a server sends callback messages, generated
/// once (with `options.servers`).
pub(super) fn notifier() -> TokenStream {
    quote! {
        /// How a server sends the messages of a callback interface: through
        /// the cap a client bound, without waiting for the client (seL4's
        /// `NBSend` on an endpoint). A client that is not waiting misses the
        /// message; a server never blocks on one.
        pub trait Notifier {
            /// Sends the one-way message `info` with the words of `msg` and
            /// the cap slots `caps_out` through the cap in slot `slot` (one a
            /// client bound), without blocking: `false` when it was not
            /// delivered (nobody waiting, or the slot no longer holds the
            /// client's cap). Its caps travel as a call's do.
            fn notify(
                &mut self,
                slot: u64,
                info: MessageInfo,
                msg: &[u64; target::MESSAGE_WORDS],
                caps_out: &[u64],
            ) -> bool;
        }
    }
}

/// A free name for a function's parameter besides the method's own.
fn free(m: &Method, base: &str) -> Ident {
    let mut name = base.to_string();
    while m.params.iter().any(|p| p.name == name) {
        name.push('_');
    }
    ident(&name)
}

/// The server side of a callback interface: its sender.
pub(super) fn sender(i: &Iface<'_>) -> TokenStream {
    let set = i.set;
    let request = &i.request;
    let sender = sender_ty(set);
    let doc = i.interface_doc(format!(
        "The sender of the `{}` callback interface: the cap a client bound, through which the server sends it one message per method, without waiting (see [`Notifier`]); a method answers `Err(SendError::NotSent)` when the client was not there to receive its message.",
        set.name
    ));
    let methods = set.methods.iter().map(|m| {
        let name = ident(&m.name);
        let v = i.variant(m);
        let via = free(m, "notifier");
        let params = m.params.iter().map(|p| {
            let n = ident(&p.name);
            let t = super::param_ty(&p.kind, i.g.spec);
            quote!(#n: #t)
        });
        let names: Vec<Ident> = m.params.iter().map(|p| ident(&p.name)).collect();
        let value = if names.is_empty() {
            quote!(#request::#v)
        } else {
            quote!(#request::#v { #(#names),* })
        };
        let doc = i.docs(method_lines(i, m, "message", &[]), m);
        let allow = too_many_arguments(2 + m.params.len());
        quote! {
            #doc
            #allow
            pub fn #name(&self, #via: &mut impl Notifier, #(#params),*) -> Result<(), SendError> {
                let request = #value;
                let mut msg = [0; target::MESSAGE_WORDS];
                let mut caps = [0; target::CAPS_PER_MESSAGE];
                let info = request.encode(&mut msg, &mut caps).map_err(SendError::Argument)?;
                if #via.notify(self.slot, info, &msg, &caps[..info.caps]) {
                    Ok(())
                } else {
                    Err(SendError::NotSent)
                }
            }
        }
    });
    quote! {
        #doc
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[allow(non_camel_case_types)]
        pub struct #sender {
            slot: u64,
        }

        impl #sender {
            /// The sender through the cap in `slot`, which a client bound.
            pub const fn new(slot: u64) -> #sender {
                #sender { slot }
            }

            /// The slot of the bound cap: the server deletes it when it
            /// lets the client go.
            pub const fn slot(self) -> u64 {
                self.slot
            }

            #(#methods)*
        }
    }
}

/// The client side of a callback interface: the handler trait and the
/// dispatch function that calls it.
pub(super) fn handler(i: &Iface<'_>) -> TokenStream {
    let set = i.set;
    let request = &i.request;
    let handler = format_ident!("{}Handler", set.name);
    let dispatch = format_ident!("dispatch_{}", snake(&set.name));
    let doc = i.interface_doc(format!(
        "The client side of the `{}` callback interface: one method per message the server sends, called by [`{dispatch}`] with the decoded arguments.",
        set.name
    ));
    let fns = set.methods.iter().map(|m| {
        let name = ident(&m.name);
        let params = m.params.iter().map(|p| {
            let n = ident(&p.name);
            let t = super::param_ty(&p.kind, i.g.spec);
            quote!(#n: #t)
        });
        let doc = i.docs(method_lines(i, m, "message", &[]), m);
        let allow = too_many_arguments(1 + m.params.len());
        quote! {
            #doc
            #allow
            fn #name(&mut self, #(#params),*);
        }
    });
    let arms = set.methods.iter().map(|m| {
        let v = i.variant(m);
        let name = ident(&m.name);
        let (pattern, bindings) = request_pattern(request, &v, m, None);
        quote!(#pattern => handler.#name(#(#bindings),*),)
    });
    let dispatch_doc = doc_lines(&wrap(&format!(
        "Handles one `{}` message the client received on the endpoint it bound: decodes `info`, `msg` and `caps` and calls `handler`. Nothing is answered: the server did not wait. A message that does not decode is the [`ProtocolError`] returned, and the handler is not called.",
        set.name
    )));
    quote! {
        #doc
        pub trait #handler {
            #(#fns)*
        }

        #dispatch_doc
        pub fn #dispatch(
            handler: &mut impl #handler,
            info: MessageInfo,
            msg: &[u64; target::MESSAGE_WORDS],
            caps: &[u64; target::CAPS_PER_MESSAGE],
        ) -> Result<(), ProtocolError> {
            match #request::decode(info, msg, caps)? {
                #(#arms)*
            }
            Ok(())
        }
    }
}
