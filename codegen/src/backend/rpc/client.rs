//! The client side of an interface: `<Iface>Client<T: Transport>`.

use capc_dsl::model::ParamKind;
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::messages::{donated_cap, donation_field, param_ty, slot_ty};
use super::protocol::restartable;
use super::{Iface, ident, leases, method_lines, minting, reply_ty, too_many_arguments, wrap};

/// The client struct of an interface.
pub(super) fn client(i: &Iface<'_>) -> TokenStream {
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
        let donated = donated_cap(m);
        let donation = donated.map(|_| donation_field(m));
        let mut params: Vec<TokenStream> = m
            .params
            .iter()
            .map(|p| {
                let n = ident(&p.name);
                // The client lends a range of its frame; the request
                // carries the lease made of it.
                let t = match &p.kind {
                    ParamKind::Lease(l) => {
                        let f = leases::frame_view(l, i.g.spec);
                        quote!(FrameRange<#f>)
                    }
                    kind => param_ty(kind, i.g.spec),
                };
                quote!(#n: #t)
            })
            .collect();
        let mut names: Vec<Ident> = m.params.iter().map(|p| ident(&p.name)).collect();
        if let (Some(n), Some(cap)) = (&donation, donated) {
            let n = ident(n);
            let t = slot_ty(i.g.spec, cap);
            params.push(quote!(#n: #t));
            names.push(n);
        }
        // The client takes a lease as the range it lends.
        let extra = if leases::has(m) {
            wrap("A lease is passed as the [`FrameRange`] it is lent from.")
        } else {
            Vec::new()
        };
        let doc = i.docs(method_lines(i, m, "method", &extra), m);
        let value = if names.is_empty() {
            quote!(#request::#v)
        } else {
            quote!(#request::#v { #(#names),* })
        };
        let reply = reply_ty(i, m);
        let allow = too_many_arguments(1 + params.len());
        if m.oneway {
            let sent = minting::client(i.g, m, &quote!(SendError::NotMinted));
            let (before, after, moved) = (sent.before, sent.after, sent.moved);
            // The copies are deleted once sent (the kernel made the
            // server's from them), or when the message was not sent.
            let send = if minting::has(m) {
                quote! {
                    let sent = request
                        .encode(&mut msg, &mut caps)
                        .map_err(SendError::Argument)
                        .and_then(|info| {
                            if self.transport.send(info, &msg, &caps[..info.caps]) {
                                Ok(())
                            } else {
                                Err(SendError::NotSent)
                            }
                        });
                    #after
                    if sent.is_ok() {
                        #moved
                    }
                    sent
                }
            } else {
                quote! {
                    let info = request.encode(&mut msg, &mut caps).map_err(SendError::Argument)?;
                    if self.transport.send(info, &msg, &caps[..info.caps]) {
                        Ok(())
                    } else {
                        Err(SendError::NotSent)
                    }
                }
            };
            return quote! {
                #doc
                #allow
                pub fn #name(&mut self, #(#params),*) -> Result<(), SendError> {
                    #before
                    let request = #value;
                    let mut msg = [0; target::MESSAGE_WORDS];
                    let mut caps = [0; target::CAPS_PER_MESSAGE];
                    #send
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
        let sent = minting::client(i.g, m, &quote!(CallError::NotMinted));
        let (lend, end, moved) = (sent.before, sent.after, sent.moved);
        let finish = if minting::has(m) {
            // The copies are taken back however the call went; the moved
            // caps go once it succeeded.
            let decode = if m.results.is_empty() {
                quote!(reply.map(|_| ()))
            } else {
                let r = i.reply(m);
                quote!(reply.and_then(|reply| #r::decode(reply, &msg, &caps).map_err(CallError::BadReply)))
            };
            let result = if moved.is_empty() {
                decode
            } else {
                quote! {
                    let result = #decode;
                    if result.is_ok() {
                        #moved
                    }
                    result
                }
            };
            quote! {
                let reply = self.call(&request, &mut msg, &mut caps #decoder #retries);
                #end
                #result
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
