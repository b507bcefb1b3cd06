//! Types every generated module has, whatever its spec: the message header
//! shared by invocations and RPCs, and the error for a value that does not
//! fit a cap field. Limits of the target become constants, and so does
//! every `const` of the spec.

use proc_macro2::TokenStream;
use quote::quote;

use super::{Gen, ident, lit};

/// `pub const NAME: u64 = value;` for every `const` of the spec, in
/// declaration order, with its docs and spec line.
pub fn consts(g: &Gen<'_>) -> TokenStream {
    let consts = g.spec.consts.iter().filter(|c| g.here(c.span)).map(|c| {
        let doc = g.docs(
            &c.docs,
            &format!("The spec's `{}` constant.", c.name),
            c.span,
        );
        let name = ident(&c.name);
        let value = lit(c.value);
        quote! {
            #doc
            pub const #name: u64 = #value;
        }
    });
    quote!(#(#consts)*)
}

pub fn generate(g: &Gen<'_>) -> TokenStream {
    let t = &g.spec.target;
    let target_doc = g.docs(&[], &format!("Limits of the `{}` target.", t.name), t.span);
    let address_bits = lit(t.address_bits.into());
    let tag_bits = lit(t.tag_bits.into());
    let tag_shift = lit(t.tag_shift.into());
    let message_registers = lit(t.message_registers.into());
    // With `fragments`, a message array holds the longest RPC message.
    let message_words = lit(t.rpc_words());
    let (fragment_consts, fragments) = fragments(t);
    let message_words_doc = if t.fragments > 1 {
        " Message words of the longest RPC message, in up to `FRAGMENTS` channel messages of `FRAGMENT_WORDS`."
    } else {
        " Message words in all (registers plus IPC buffer)."
    };
    let caps_per_message = lit(t.caps_per_message.into());
    let cap_words = lit(t.cap_words.into());
    let label_bits = lit(t.label_bits.into());
    let last_label = if t.label_bits == 64 {
        quote!(u64::MAX)
    } else {
        quote!((1 << LABEL_BITS) - 1)
    };
    let slot_bits = t.slot_bits.map(|bits| {
        let bits = lit(bits.into());
        quote! {
            /// log2 of the bytes of one capability slot.
            pub const SLOT_BITS: u32 = #bits;
        }
    });
    let consts = consts(g);
    let transport = transport(g);
    let slot = slot();
    let configuration = (!g.spec.configuration.is_empty()).then(|| {
        let on = g
            .spec
            .configuration
            .iter()
            .filter(|o| o.enabled)
            .map(|o| o.name.as_str());
        let declared: Vec<String> = g
            .spec
            .configuration
            .iter()
            .map(|o| format!("`{}`", o.name))
            .collect();
        let doc = format!(
            " The configuration this module is generated for: the options of the spec's `config` block that are on (of {}).",
            declared.join(", ")
        );
        quote! {
            #[doc = #doc]
            pub const CONFIGURATION: &[&str] = &[#(#on),*];
        }
    });
    quote! {
        #consts

        #target_doc
        pub mod target {
            #configuration
            /// Width of a physical or virtual address in bits.
            pub const ADDRESS_BITS: u32 = #address_bits;
            /// Width of the cap type tag, at bit `TAG_SHIFT` of word 0.
            pub const TAG_BITS: u32 = #tag_bits;
            /// The tag's lowest bit in word 0.
            pub const TAG_SHIFT: u32 = #tag_shift;
            /// Message words passed in registers.
            pub const MESSAGE_REGISTERS: usize = #message_registers;
            #[doc = #message_words_doc]
            pub const MESSAGE_WORDS: usize = #message_words;
            #fragment_consts
            /// Capabilities one message may carry.
            pub const CAPS_PER_MESSAGE: usize = #caps_per_message;
            /// Bits of a message's label: every label a message carries
            /// (a method's, an error's number, a protocol error's) is below
            /// 2^`LABEL_BITS`.
            pub const LABEL_BITS: u32 = #label_bits;
            /// The highest label a message may carry. The top five are the
            /// protocol errors' reply labels, the one below them a
            /// transport's "server died"; methods and errors are numbered
            /// below those.
            pub const LAST_LABEL: u64 = #last_label;
            /// 64-bit words of one capability.
            pub const CAP_WORDS: usize = #cap_words;
            #slot_bits
        }

        /// The header of every message: which method, how many words, how
        /// many capabilities.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
        pub struct MessageInfo {
            /// The method's label (kernel invocations, RPCs) or, in a reply,
            /// 0 for success and the error's number otherwise.
            pub label: u64,
            /// Message words used.
            pub length: usize,
            /// Capabilities carried.
            pub caps: usize,
        }

        /// A value that does not fit the field it is stored in: too wide for
        /// its bits, a right the cap type may not carry or, for a pointer,
        /// misaligned. Every setter of a cap field checks its value.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct FieldError {
            /// The field, as named in the spec.
            pub field: &'static str,
            /// The value that was refused.
            pub value: u64,
        }

        #slot

        #transport

        #fragments
    }
}

/// For a target with `fragments = N` (N > 1): the constants saying how an
/// RPC message is cut into channel messages, and the `fragments` module a
/// transport cuts and reassembles them with (Flounder's backends fragment
/// a long message so; capc's clients and dispatch see it whole).
fn fragments(t: &capc_dsl::model::Target) -> (TokenStream, TokenStream) {
    if t.fragments <= 1 {
        return (TokenStream::new(), TokenStream::new());
    }
    let (words, count) = (lit(t.message_words.into()), lit(t.fragments.into()));
    let consts = quote! {
        /// Words of one channel message: a fragment of an RPC message.
        pub const FRAGMENT_WORDS: usize = #words;
        /// Channel messages an RPC message takes at most.
        pub const FRAGMENTS: usize = #count;
    };
    let module = quote! {
        /// Carrying an RPC message in fragments: a transport whose channel
        /// carries `target::FRAGMENT_WORDS` words a message sends a message
        /// of `info.length` words as [`fragments::count`] channel messages,
        /// in order ([`fragments::fragment`]), the first with the header, and
        /// the receiver puts it back together with a
        /// [`fragments::Reassembly`].
        pub mod fragments {
            use super::target;

            /// How many fragments carry a message of `length` words: one
            /// for an empty message.
            pub const fn count(length: usize) -> usize {
                if length == 0 {
                    1
                } else {
                    length.div_ceil(target::FRAGMENT_WORDS)
                }
            }

            /// The words of fragment `index` of a message of `length`
            /// words: `FRAGMENT_WORDS` of them, fewer in the last, none past
            /// it.
            pub fn fragment(msg: &[u64; target::MESSAGE_WORDS], length: usize, index: usize) -> &[u64] {
                let length = length.min(target::MESSAGE_WORDS);
                let start = index.saturating_mul(target::FRAGMENT_WORDS).min(length);
                let end = start.saturating_add(target::FRAGMENT_WORDS).min(length);
                &msg[start..end]
            }

            /// A message of a known length being put back together from its
            /// fragments, in order.
            #[derive(Clone, Debug)]
            pub struct Reassembly {
                msg: [u64; target::MESSAGE_WORDS],
                length: usize,
                got: usize,
            }

            impl Reassembly {
                /// Expects a message of `length` words (its header's);
                /// `None` when no message is that long.
                pub fn new(length: usize) -> Option<Reassembly> {
                    (length <= target::MESSAGE_WORDS).then_some(Reassembly {
                        msg: [0; target::MESSAGE_WORDS],
                        length,
                        got: 0,
                    })
                }

                /// Adds the next fragment, which must be exactly as long as
                /// [`fragment`] cuts it (`None` otherwise, and nothing is
                /// added): `Some(true)` once the message is whole.
                pub fn push(&mut self, fragment: &[u64]) -> Option<bool> {
                    let want = (self.length - self.got).min(target::FRAGMENT_WORDS);
                    if fragment.len() != want || (want == 0 && self.got > 0) {
                        return None;
                    }
                    self.msg[self.got..self.got + want].copy_from_slice(fragment);
                    self.got += want;
                    Some(self.got == self.length)
                }

                /// The whole message, once every fragment is in.
                pub fn message(&self) -> Option<&[u64; target::MESSAGE_WORDS]> {
                    (self.got == self.length).then_some(&self.msg)
                }
            }
        }
    };
    (consts, module)
}

/// `Slot<C>`: a slot of the caller's CSpace (its cptr) that holds, or is
/// to hold, a cap of view type `C`. Every generated client, server and
/// boot plan names caps by it, so passing a cap of the wrong type does not
/// compile. It is generated once, in the base module: a spec generated over
/// an extern base names the base's through `pub use`.
fn slot() -> TokenStream {
    quote! {
        /// A slot of the caller's CSpace (its address, the cptr a kernel
        /// invocation looks up) that holds a cap of type `C`, one of the
        /// cap views (`Slot<FrameCap>`): the typed handle of every cap
        /// parameter and cap result of the generated clients and servers,
        /// and of a boot plan's slots. Passing a slot of the wrong cap type
        /// does not compile.
        ///
        /// The type is the caller's claim: the kernel (or the server) looks
        /// the cap up and checks its type and rights itself. Rights are not
        /// in the type; a method that needs some says so in its docs.
        /// [`Slot::new`] names a slot by its index, as the code that
        /// filled it knows it; [`Slot::index`] is what travels in a
        /// message.
        pub struct Slot<C> {
            index: u64,
            cap: ::core::marker::PhantomData<fn() -> C>,
        }

        impl<C> Slot<C> {
            /// Slot `index`.
            pub const fn new(index: u64) -> Slot<C> {
                Slot {
                    index,
                    cap: ::core::marker::PhantomData,
                }
            }

            /// Its index in the CSpace (its address at the CSpace's depth).
            pub const fn index(self) -> u64 {
                self.index
            }

            /// The same slot, as one holding a cap of any type: what a
            /// `cap any` parameter takes.
            pub const fn any(self) -> Slot<Cap> {
                Slot::new(self.index)
            }
        }

        impl<C> Clone for Slot<C> {
            fn clone(&self) -> Slot<C> {
                *self
            }
        }

        impl<C> Copy for Slot<C> {}

        impl<C> PartialEq for Slot<C> {
            fn eq(&self, other: &Slot<C>) -> bool {
                self.index == other.index
            }
        }

        impl<C> Eq for Slot<C> {}

        impl<C> ::core::hash::Hash for Slot<C> {
            fn hash<H: ::core::hash::Hasher>(&self, state: &mut H) {
                self.index.hash(state);
            }
        }

        impl<C> ::core::fmt::Debug for Slot<C> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                write!(f, "Slot({})", self.index)
            }
        }
    }
}

/// The `Transport` trait, through which every generated client calls: the
/// clients of kernel invocations (over the invoked cap) and those of RPC
/// interfaces (over an endpoint), on the user side of a spec with either.
///
/// It has the same members in every module, whatever the spec's methods
/// need, so that a spec generated over an extern base (whose `Transport`
/// was generated without the importing spec's interfaces) finds every
/// member it calls: `call`, which each transport implements, and `send`,
/// the restart constants and the minting methods, whose defaults refuse (a
/// transport for one-way messages or for interfaces that send caps
/// overrides them).
fn transport(g: &Gen<'_>) -> TokenStream {
    if !g.user_side() || (g.spec.interfaces.is_empty() && g.spec.invocations.is_empty()) {
        return TokenStream::new();
    }
    let send = quote! {
        /// Sends the one-way message `info` with the words of `msg` and the
        /// cap slots `caps_out`, as seL4's `Send` on the endpoint, and
        /// returns without waiting for any answer: `false` when it could not
        /// be sent. Its caps travel as a call's do. The default sends
        /// nothing: a transport for interfaces with one-way methods
        /// implements it.
        fn send(
            &mut self,
            info: MessageInfo,
            msg: &[u64; target::MESSAGE_WORDS],
            caps_out: &[u64],
        ) -> bool {
            let _ = (info, msg, caps_out);
            false
        }
    };
    let died = quote! {
        /// The label of the reply [`call`](Transport::call) returns when
        /// the server died before replying (Hubris's dead-task code, seL4's
        /// server fault): nothing came back. It is none of a reply's labels
        /// (0, an error number, a protocol error's label).
        const SERVER_DIED: u64 = target::LAST_LABEL - 5;

        /// How many times a client sends an idempotent method's request
        /// again after its server died (Idol's idempotent operations),
        /// before answering that the server died.
        const RETRIES: u32 = 3;
    };
    let minting = quote! {
        /// Makes a copy of the cap in slot `slot` whose rights are its own
        /// masked by `rights` (seL4's `CNode_Copy` into a free slot: the
        /// copy keeps the badge and never gains a right), and returns the
        /// copy's slot; `None` when it
        /// cannot (the slot is empty, no slot is free). A client sends such
        /// a copy, never its own cap, for a lease, a lent cap, and a granted
        /// or moved cap whose parameter names rights, so that the server
        /// holds no more than the method declares. The default mints
        /// nothing: a transport for interfaces that send caps implements it.
        fn mint(&mut self, slot: u64, rights: Rights) -> Option<u64> {
            let _ = (slot, rights);
            None
        }

        /// Takes back what a call was lent, once it returned: revokes what
        /// derives from the minted copy in slot `copy` (the server's copy of
        /// a lent cap or a lease's frame) and deletes the copy, so that the
        /// server keeps nothing. The default does nothing, as the default
        /// `mint` mints nothing.
        fn end_lend(&mut self, copy: u64) {
            let _ = copy;
        }

        /// Deletes the cap in slot `slot` (seL4's `CNode_Delete`, which
        /// leaves what derives from it): the minted copy of a granted cap
        /// once its call returned (the server's copy stays, derived from the
        /// client's own cap), and a moved cap once its call succeeded. The
        /// default does nothing.
        fn delete(&mut self, slot: u64) {
            let _ = slot;
        }
    };
    quote! {
        /// How a client reaches what it calls: one synchronous call, as
        /// seL4's `Call` on the cap the transport holds: the invoked cap
        /// for a kernel invocation's client (`<Cap>Client`), an endpoint
        /// for an RPC client (`<Interface>Client`; and, for a spec with
        /// one-way methods, seL4's `Send`).
        pub trait Transport {
            /// Sends the request `info` with the words of `msg` and the
            /// cap slots `caps_out`, waits for the reply, and returns its
            /// header. The reply's words overwrite `msg`; the slots of the
            /// caps it carries land in `caps_in`.
            ///
            /// Caps: a kernel invocation's extra caps are looked up in the
            /// caller's CSpace and stay there. To a server, the kernel
            /// copies each cap to the receiver, the copy derived from the
            /// sender's cap. A granted or moved cap and a donated Untyped
            /// are the receiver's to keep; a lent cap is for the call only.
            /// An RPC client sends what the method declares: a copy it
            /// minted with the parameter's rights ([`Transport::mint`]),
            /// which it takes back once the call returns for a lent cap
            /// ([`Transport::end_lend`]), and deletes its own moved cap
            /// once the call succeeded (docs/language.md, `interface`).
            fn call(
                &mut self,
                info: MessageInfo,
                msg: &mut [u64; target::MESSAGE_WORDS],
                caps_out: &[u64],
                caps_in: &mut [u64; target::CAPS_PER_MESSAGE],
            ) -> MessageInfo;

            #send
            #died
            #minting
        }
    }
}

/// A `match` of `scrutinee` over an enum's variants, arms `pattern =>
/// value`, as a kernel author writes it: patterns with the same value joined
/// by `|` (in the order they first come) and, when `arms` names every
/// variant, the largest such group (the first of equal ones) as `_`, last;
/// so a table where most variants share a value says only the exceptions.
/// When every variant has the same value that value is the whole
/// expression.
pub fn grouped_match(
    scrutinee: TokenStream,
    arms: Vec<(TokenStream, TokenStream)>,
    every_variant: bool,
) -> TokenStream {
    let mut groups: Vec<(String, TokenStream, Vec<TokenStream>)> = Vec::new();
    for (pattern, value) in arms {
        let key = value.to_string();
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, _, patterns)) => patterns.push(pattern),
            None => groups.push((key, value, vec![pattern])),
        }
    }
    let mut rest = None;
    if every_variant {
        let mut largest = 0;
        for (i, group) in groups.iter().enumerate() {
            if group.2.len() > groups[largest].2.len() {
                largest = i;
            }
        }
        if groups.get(largest).is_some_and(|g| g.2.len() > 1) {
            rest = Some(groups.remove(largest).1);
        }
    }
    match rest {
        Some(value) if groups.is_empty() => value,
        rest => {
            let arms = groups
                .iter()
                .map(|(_, value, patterns)| quote!(#(#patterns)|* => #value,));
            let rest = rest.map(|value| quote!(_ => #value,));
            quote!(match #scrutinee { #(#arms)* #rest })
        }
    }
}
