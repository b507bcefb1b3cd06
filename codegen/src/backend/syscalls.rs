//! `syscalls` blocks: each a Rust enum of the system calls with their
//! numbers (`number`, `word`, `from_word`) and, for a kernel's decoder, which
//! caps each acts on with the rights and flags they need (`sends_on`,
//! `receives_on`).

use capc_dsl::model::{SyscallSet, SyscallTargets};
use proc_macro2::TokenStream;
use quote::quote;

use super::{Gen, Part, caps::rights_const, ident, lit};

/// One part per `syscalls` block of this file.
pub fn parts<'a>(g: &'a Gen<'_>) -> Vec<Part<'a>> {
    g.spec
        .syscalls
        .iter()
        .filter(|s| g.here(s.span))
        .map(|s| -> Part<'a> { Box::new(move || syscall_set(g, s)) })
        .collect()
}

/// Whether `cap` may be named by one half of a system call: its arms.
fn admits(g: &Gen<'_>, targets: &SyscallTargets) -> Vec<TokenStream> {
    targets
        .caps
        .iter()
        .map(|c| {
            let cap_type = &g.spec.caps[c.cap.index()];
            let view = ident(&cap_type.name);
            let mut tests = Vec::new();
            if !c.rights.is_empty() {
                let want = rights_const(g, &c.rights);
                tests.push(quote!(cap.rights().contains(#want)));
            }
            for f in &c.flags {
                let getter = ident(&cap_type.fields[*f].name);
                tests.push(quote!(#view(cap).#getter()));
            }
            let test = if tests.is_empty() {
                quote!(true)
            } else {
                quote!(#(#tests)&&*)
            };
            quote!(Some(CapType::#view) => #test)
        })
        .collect()
}

/// `-3` or `5`: an unsuffixed literal of the number.
fn signed(n: i64) -> TokenStream {
    let m = lit(n.unsigned_abs());
    if n < 0 { quote!(-#m) } else { quote!(#m) }
}

fn syscall_set(g: &Gen<'_>, set: &SyscallSet) -> TokenStream {
    let name = ident(&set.name);
    let doc = g.docs(
        &set.docs,
        &format!("The `{}` system calls.", set.name),
        set.span,
    );
    let count = lit(set.syscalls.len() as u64);
    let variants = set.syscalls.iter().map(|s| {
        let mut lines = if s.docs.is_empty() {
            vec![format!("The `{}` system call.", s.name)]
        } else {
            s.docs.clone()
        };
        lines.push(String::new());
        lines.push(format!(
            "Number {} (the word {:#x}).",
            s.number, s.number as u64
        ));
        let doc = super::doc_lines(&lines);
        let v = ident(&s.name);
        quote!(#doc #v)
    });
    let all = set.syscalls.iter().map(|s| {
        let v = ident(&s.name);
        quote!(Self::#v)
    });
    let numbers = set.syscalls.iter().map(|s| {
        let v = ident(&s.name);
        let n = signed(s.number);
        quote!(Self::#v => #n)
    });
    let from = set.syscalls.iter().map(|s| {
        let v = ident(&s.name);
        let n = signed(s.number);
        quote!(#n => Some(Self::#v))
    });
    let flags = |pick: fn(&capc_dsl::model::Syscall) -> &Option<SyscallTargets>| {
        set.syscalls
            .iter()
            .filter(|s| pick(s).is_some())
            .map(|s| {
                let v = ident(&s.name);
                quote!(Self::#v)
            })
            .collect::<Vec<_>>()
    };
    let sends = flags(|s| &s.sends);
    let receives = flags(|s| &s.receives);
    let sends_on = on_fn(g, set, true);
    let receives_on = on_fn(g, set, false);
    let sends_match = if sends.is_empty() {
        quote!(false)
    } else {
        quote!(matches!(self, #(#sends)|*))
    };
    let receives_match = if receives.is_empty() {
        quote!(false)
    } else {
        quote!(matches!(self, #(#receives)|*))
    };
    quote! {
        #doc
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[allow(non_camel_case_types)]
        pub enum #name {
            #(#variants,)*
        }

        impl #name {
            /// Every system call, in declaration order.
            pub const ALL: [Self; #count] = [#(#all),*];

            /// Its number, a signed word.
            pub const fn number(self) -> i64 {
                match self {
                    #(#numbers,)*
                }
            }

            /// The word a trapping thread passes: the number, two's
            /// complement when negative.
            pub const fn word(self) -> u64 {
                self.number() as u64
            }

            /// The system call a trapping thread's word names; `None` for
            /// a word no system call has.
            pub const fn from_word(word: u64) -> Option<Self> {
                match word as i64 {
                    #(#from,)*
                    _ => None,
                }
            }

            /// Whether it sends (`sends` in the spec).
            pub const fn sends(self) -> bool {
                #sends_match
            }

            /// Whether it receives (`receives` in the spec).
            pub const fn receives(self) -> bool {
                #receives_match
            }

            #sends_on
            #receives_on
        }
    }
}

/// `sends_on` / `receives_on`: whether the cap a thread names may be sent
/// (received) on with this system call: one of the cap types listed, with
/// every right and flag listed for it. `false` for a system call that does
/// not send (receive) on a named cap.
fn on_fn(g: &Gen<'_>, set: &SyscallSet, send: bool) -> TokenStream {
    let arms: Vec<TokenStream> = set
        .syscalls
        .iter()
        .filter_map(|s| {
            let t = if send { &s.sends } else { &s.receives };
            let t = t.as_ref().filter(|t| !t.caps.is_empty())?;
            let v = ident(&s.name);
            let checked = t
                .caps
                .iter()
                .any(|c| !c.rights.is_empty() || !c.flags.is_empty());
            if !checked {
                // Every type listed needs nothing: only the type counts.
                let types = t.caps.iter().map(|c| {
                    let view = ident(&g.spec.caps[c.cap.index()].name);
                    quote!(CapType::#view)
                });
                return Some(quote! {
                    Self::#v => matches!(cap.cap_type(), Some(#(#types)|*)),
                });
            }
            let arms = admits(g, t);
            Some(quote! {
                Self::#v => match cap.cap_type() {
                    #(#arms,)*
                    _ => false,
                }
            })
        })
        .collect();
    let (fname, doc) = if send {
        (
            quote!(sends_on),
            " Whether a thread may send on `cap` with this system call: `cap` is of a cap type its `sends on` lists, with every right and flag listed for that type (`false` when it names no cap to send on).",
        )
    } else {
        (
            quote!(receives_on),
            " Whether a thread may receive on `cap` with this system call: `cap` is of a cap type its `receives on` lists, with every right and flag listed for that type (`false` when it names no cap to receive on).",
        )
    };
    let rest = (arms.len() < set.syscalls.len()).then(|| quote!(_ => false,));
    if arms.is_empty() {
        return quote! {
            #[doc = #doc]
            pub const fn #fname(self, cap: Cap) -> bool {
                let _ = (self, cap);
                false
            }
        };
    }
    quote! {
        #[doc = #doc]
        pub const fn #fname(self, cap: Cap) -> bool {
            match self {
                #(#arms)*
                #rest
            }
        }
    }
}
