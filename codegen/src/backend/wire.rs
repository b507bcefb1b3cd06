//! The one `wire` module: the helpers that place arguments and results in
//! message words, for kernel invocations and RPC messages alike.
//!
//! Where each argument travels is the model's [`Layout`] (one [`Wire`] per
//! parameter); this module only generates the helpers the encoders and
//! decoders call at those places. It is generated once per crate: in the
//! base module (the one of the file that declares `target`, which also
//! holds `MessageInfo`, `FieldError` and `Transport`), and a spec generated
//! over that base (`--extern kernel.cap=crate::caps`) finds it through its
//! `pub use crate::caps::*;` instead of generating its own. So the base
//! holds every helper an importing spec's messages may call, whatever its
//! own methods need, as `Transport` has every member; the module is `pub`
//! (and `#[doc(hidden)]`: it is no part of the API) so that none of them is
//! dead code in a base that does not call it.
//!
//! One semantics for both sides and both kinds of method: a value is
//! refused, never truncated. `pack` fails with the `FieldError` of an array
//! element wider than its field; `scalar` and `unpack` answer `None` for a
//! word that is not a value of its type (a `bool` other than 0 or 1, a `uN`
//! above 2^N - 1, padding bits set).
//!
//! [`Layout`]: capc_dsl::model::Layout
//! [`Wire`]: capc_dsl::model::Wire

use proc_macro2::TokenStream;
use quote::quote;

use super::Gen;

/// The `wire` module, in the base module only (elsewhere nothing: the
/// base's is imported).
pub fn module(g: &Gen<'_>) -> TokenStream {
    if !g.place.base_here() {
        return TokenStream::new();
    }
    let invocations = !g.spec.invocations.is_empty();
    let request = (invocations && g.kernel_side()).then(|| {
        quote! {
            /// The first `words` words and `cap_count` caps of a kernel
            /// invocation's request, if its header and its buffers hold
            /// that many.
            pub fn request<'a>(
                info: super::MessageInfo,
                msg: &'a [u64],
                caps: &'a [super::Cap],
                words: usize,
                cap_count: usize,
            ) -> Option<(&'a [u64], &'a [super::Cap])> {
                if info.length < words || info.caps < cap_count {
                    return None;
                }
                Some((msg.get(..words)?, caps.get(..cap_count)?))
            }
        }
    });
    let invoke = (invocations && g.user_side()).then(|| {
        quote! {
            /// Sends the kernel invocation with `label`, the words `request`
            /// and the extra caps `caps` through `transport`, and returns the
            /// header and the words of a successful reply with at least
            /// `words` words and `cap_count` caps. An error reply is decoded
            /// with `decode` if its number is one of `declared`; any other
            /// reply is malformed.
            pub fn invoke<E>(
                transport: &mut impl super::Transport,
                label: u64,
                request: &[u64],
                caps: &[u64],
                (words, cap_count, declared): (usize, usize, &[u64]),
                decode: fn(u64, &[u64]) -> Option<E>,
            ) -> Result<(super::MessageInfo, [u64; super::target::MESSAGE_WORDS]), super::InvocationError<E>> {
                use super::InvocationError::{Kernel, Malformed};
                let mut msg = [0; super::target::MESSAGE_WORDS];
                msg[..request.len()].copy_from_slice(request);
                let header = super::MessageInfo {
                    label,
                    length: request.len(),
                    caps: caps.len(),
                };
                let info = transport.call(header, &mut msg, caps, &mut [0; super::target::CAPS_PER_MESSAGE]);
                let reply = msg.get(..info.length).ok_or(Malformed(info))?;
                if info.label != 0 {
                    if !declared.contains(&info.label) {
                        return Err(Malformed(info));
                    }
                    return Err(decode(info.label, reply).map_or(Malformed(info), Kernel));
                }
                if info.caps < cap_count || reply.len() < words {
                    return Err(Malformed(info));
                }
                Ok((info, msg))
            }
        }
    });
    quote! {
        /// Placing arguments and results in message words, for the kernel
        /// invocations and RPC messages of this module and of every module
        /// generated over it (`--extern`): the one set of wire helpers of
        /// the crate. Public only for those modules; not part of the API.
        ///
        /// A value is refused, never truncated: `pack` fails with the
        /// `FieldError` of an element wider than its field, `scalar` and
        /// `unpack` answer `None` for a word that is not a value of its
        /// type.
        #[doc(hidden)]
        pub mod wire {
            use super::{FieldError, MessageInfo};

            /// A scalar type of message words: a `bool` or an unsigned
            /// integer.
            pub trait Element: Copy + Default + Into<u64> {
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

            /// `short` unless the message has at least `words` words and
            /// `caps` caps.
            pub fn check_size<E>(info: MessageInfo, words: usize, caps: usize, short: E) -> Result<(), E> {
                if info.length < words || info.caps < caps {
                    Err(short)
                } else {
                    Ok(())
                }
            }

            /// The `bits`-bit value in `word`, if it fits and is a value of `T`.
            pub fn scalar<T: Element>(word: u64, bits: u32) -> Option<T> {
                if word.checked_shr(bits).unwrap_or(0) != 0 {
                    None
                } else {
                    T::from_word(word)
                }
            }

            /// `value` if it fits in `bits` bits, else which field refused it.
            pub fn fit(field: &'static str, value: u64, bits: u32) -> Result<u64, FieldError> {
                if value.checked_shr(bits).unwrap_or(0) == 0 {
                    Ok(value)
                } else {
                    Err(FieldError { field, value })
                }
            }

            /// Packs `values` into `words`, `64 / bits` elements per word
            /// with element 0 in the low bits; padding bits are zero. An
            /// element wider than `bits` is refused (the `FieldError` names
            /// `field`), never cut to its width.
            pub fn pack<T: Element>(
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
            pub fn unpack<T: Element, const N: usize>(words: &[u64], bits: u32) -> Option<[T; N]> {
                let per_word = (64 / bits) as usize;
                let mask = u64::MAX >> (64 - bits);
                for (w, word) in words.iter().enumerate() {
                    let used = N.saturating_sub(w * per_word).min(per_word) as u32 * bits;
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

            #request
            #invoke
        }
    }
}
