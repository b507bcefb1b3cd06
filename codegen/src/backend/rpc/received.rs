//! The caps a server receives, checked (docs/language.md, `interface`,
//! "Typed caps"): for an interface whose requests carry caps,
//! `<Iface>Label::caps` lists each cap's parameter, type and least rights
//! (a lease's frame cap with the lease's rights), and
//! `<Iface>Label::check_caps` checks what arrived, as the server's runtime
//! learns it from the kernel (the `held` that `dispatch_<iface>` takes):
//! dispatch calls it before the server runs, so that a cap of another type,
//! or without a right its parameter declares, is refused with
//! `ProtocolError::InvalidArgument` at that parameter's index, and no server
//! method sees one.

use capc_dsl::model::{DonationKind, MethodSet, ParamKind};
use proc_macro2::TokenStream;
use quote::quote;

use super::{Iface, donated_cap, lit};
use crate::backend::{caps::rights_const, ident};

/// Whether requests of `set` carry caps (parameters or a donated Untyped):
/// its dispatch checks them.
pub(super) fn carries(set: &MethodSet) -> bool {
    set.methods.iter().any(|m| {
        donated_cap(m).is_some()
            || m.params.iter().any(|p| {
                matches!(
                    p.kind,
                    ParamKind::Cap { .. } | ParamKind::AnyCap { .. } | ParamKind::Lease(_)
                )
            })
    })
}

/// `caps` and `check_caps` on the label enum of an interface whose
/// requests carry caps; nothing for one whose requests carry none.
pub(super) fn checks(i: &Iface<'_>) -> TokenStream {
    let set = i.set;
    let label = &i.label;
    if !carries(set) {
        return TokenStream::new();
    }
    let arms = set.methods.iter().map(|m| {
        let v = i.variant(m);
        let mut entries: Vec<TokenStream> = m
            .params
            .iter()
            .enumerate()
            .filter_map(|(k, p)| match &p.kind {
                ParamKind::Cap { cap, rights, .. } => {
                    let k = lit(k as u64);
                    let ty = ident(&i.g.spec.caps[cap.index()].name);
                    let rights = rights_const(i.g, rights);
                    Some(quote!((#k, Some(CapType::#ty), #rights)))
                }
                // Any cap but the null cap.
                ParamKind::AnyCap { .. } => {
                    let k = lit(k as u64);
                    Some(quote!((#k, None, Rights::NONE)))
                }
                // A lease's frame cap carries at least the lease's rights.
                ParamKind::Lease(l) => {
                    let k = lit(k as u64);
                    let ty = ident(&i.g.spec.caps[l.cap.index()].name);
                    let rights = rights_const(i.g, &l.rights);
                    Some(quote!((#k, Some(CapType::#ty), #rights)))
                }
                _ => None,
            })
            .collect();
        // The donated Untyped travels last; its index is one past the
        // parameters, as the request enum's field.
        if let Some(d) = &m.donation
            && let DonationKind::Untyped(cap) = &d.kind
        {
            let k = lit(m.params.len() as u64);
            let ty = ident(&i.g.spec.caps[cap.index()].name);
            entries.push(quote!((#k, Some(CapType::#ty), Rights::NONE)));
        }
        quote!(#label::#v => &[#(#entries),*],)
    });
    quote! {
        impl #label {
            /// The caps a request of this method carries, in message order
            /// (a donated Untyped last): for each, the index of its
            /// parameter (the donation one past the parameters), its cap
            /// type (`None` for `cap any`: any cap but the null cap), and
            /// the rights it must carry at least (a lease's frame cap: the
            /// lease's).
            pub const fn caps(self) -> &'static [(u64, Option<CapType>, Rights)] {
                match self {
                    #(#arms)*
                }
            }

            /// Checks the caps a request of this method received, in the
            /// slots `caps`, as the server's runtime learns them from the
            /// kernel (`held`: the cap a receive slot holds, as the demo
            /// kernel's `DebugCapIdentify` gives its words; `None` for an
            /// empty slot): each is of its parameter's cap type and carries
            /// at least the rights it declares. `Truncated` when fewer caps
            /// arrived than the method carries, `InvalidArgument` with the
            /// parameter's index for a cap of another type or with too few
            /// rights. `dispatch_*` calls it before the server method and
            /// answers the refusal, so no server method sees such a cap.
            pub fn check_caps(
                self,
                caps: &[u64],
                held: impl Fn(u64) -> Option<Cap>,
            ) -> Result<(), ProtocolError> {
                let expected = self.caps();
                if caps.len() < expected.len() {
                    return Err(ProtocolError::Truncated);
                }
                for (&(index, ty, rights), &slot) in expected.iter().zip(caps) {
                    let fits = held(slot).is_some_and(|cap| {
                        let of_type = match ty {
                            Some(ty) => cap.cap_type() == Some(ty),
                            None => cap.cap_type().is_some(),
                        };
                        of_type && cap.rights().contains(rights)
                    });
                    if !fits {
                        return Err(ProtocolError::InvalidArgument { index });
                    }
                }
                Ok(())
            }
        }
    }
}
