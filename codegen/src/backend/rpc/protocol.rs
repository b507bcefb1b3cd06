//! What every interface shares: the types generated once per spec
//! (`ProtocolError`, `DonationKind`, `Donation`, `Transport`, `CallError`,
//! `SendError`); the messages' wire helpers are the base module's one
//! `wire` module (`backend/wire.rs`).

use proc_macro2::TokenStream;
use quote::quote;

use super::{Gen, callbacks};

/// Whether some method of the spec is `#[idempotent]`: its clients then
/// learn of a server's death (`Transport::SERVER_DIED`), retry idempotent
/// methods and answer `CallError::ServerDied` for the others.
pub(super) fn restartable(g: &Gen<'_>) -> bool {
    g.spec
        .interfaces
        .iter()
        .flat_map(|s| &s.methods)
        .any(|m| m.idempotent)
}

/// Types every interface uses, generated once.
/// `minting`: some client mints a copy of a cap it sends (the
/// `CallError::NotMinted` variant); `oneway_mints`: some one-way method's
/// does (`SendError::NotMinted`).
pub(super) fn shared(g: &Gen<'_>, oneway: bool, minting: bool, oneway_mints: bool) -> TokenStream {
    let mut out = quote! {
        /// Why a message does not fit the method it names. A server that
        /// refuses a request replies with the variant's label (see
        /// [`ProtocolError::label`]), from [`ProtocolError::FIRST_LABEL`] up
        /// to `target::LAST_LABEL`, above every error number; word 0 holds the
        /// variant's payload (0 when it has none). The server method is not
        /// called when its request is refused.
        ///
        /// # Messages
        ///
        /// A request's label is its method's; a reply's label is 0 with the
        /// results, an error's number with its payload, or a protocol
        /// error's label. Arguments (results in a reply) travel in
        /// declaration order: scalars one word each, arrays packed from the
        /// low bits, message values in bytes from a word boundary, caps as
        /// slots of the caps array, a donated Untyped last. A granted cap's
        /// copy is the receiver's to keep; a lent cap's copy is for the call
        /// only, and its sender revokes it after the call. `encode` fails
        /// with the [`FieldError`] of a value that does not fit its type;
        /// `decode` ignores words and caps past the method's.
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
            pub const FIRST_LABEL: u64 = target::LAST_LABEL - 4;

            /// The reply label of this error.
            pub const fn label(self) -> u64 {
                target::LAST_LABEL
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
                match target::LAST_LABEL.wrapping_sub(info.label) {
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
            ///
            /// # Budgets
            ///
            /// A donating method's budget is the only memory the server has
            /// for one call: `dispatch_*` makes it with `from_donation`
            /// (public for tests, not for servers; its fields are private)
            /// and lends it to the server method. `from_donation` refuses,
            /// with the method's out-of-budget error, a donation smaller than
            /// `MIN_DONATION` or than the worst case once its start is rounded
            /// up to `ALIGN`. `alloc` places each object as a retype from the
            /// donation's first free address does (at the running total
            /// rounded up to the object's alignment); in the class enum's
            /// order no gaps arise and every class fits at its count, as
            /// `capc check` proved. It fails with the out-of-budget error once
            /// a class's count is used up or past the donation. `needed` is
            /// then the bytes that would have done. A server may return that
            /// error itself.
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
    let send_not_minted = oneway_mints.then(|| {
        quote! {
            /// The transport could not mint the copy of a cap the message
            /// sends with its parameter's rights ([`Transport::mint`]);
            /// nothing was sent.
            NotMinted,
        }
    });
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
                #send_not_minted
            }
        }
    });
    if g.options.clients {
        let died_error = if restartable(g) {
            quote! {
                /// The server died before replying (the transport's reply
                /// had the label [`Transport::SERVER_DIED`]): for a method
                /// that is not idempotent at once, for an idempotent one
                /// after [`Transport::RETRIES`] more tries. The request may
                /// or may not have been carried out.
                ServerDied,
            }
        } else {
            TokenStream::new()
        };
        let lease_error = if minting {
            quote! {
                /// The transport could not mint the copy of a cap or a
                /// lease's frame the request sends with its parameter's
                /// rights ([`Transport::mint`]); nothing was sent.
                NotMinted,
            }
        } else {
            TokenStream::new()
        };
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
