//! Types every generated module has, whatever its spec: the message header
//! shared by invocations and RPCs, and the error for a value that does not
//! fit a cap field. Limits of the target become constants, and so does
//! every `const` of the spec.

use proc_macro2::TokenStream;
use quote::quote;

use super::{Gen, ident, lit};

/// `pub const NAME: u64 = value;` for every `const` of the spec, in
/// declaration order, with its docs and spec line.
fn spec_consts(g: &Gen<'_>) -> TokenStream {
    let consts = g.spec.consts.iter().map(|c| {
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
    let message_words = lit(t.message_words.into());
    let caps_per_message = lit(t.caps_per_message.into());
    let cap_words = lit(t.cap_words.into());
    let slot_bits = t.slot_bits.map(|bits| {
        let bits = lit(bits.into());
        quote! {
            /// log2 of the bytes of one capability slot.
            pub const SLOT_BITS: u32 = #bits;
        }
    });
    let consts = spec_consts(g);
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
            /// Message words in all (registers plus IPC buffer).
            pub const MESSAGE_WORDS: usize = #message_words;
            /// Capabilities one message may carry.
            pub const CAPS_PER_MESSAGE: usize = #caps_per_message;
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
