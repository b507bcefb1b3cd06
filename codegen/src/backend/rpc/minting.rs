//! What a client sends for the caps a method declares (docs/language.md,
//! `interface`, "What travels"): never more than the method says.
//!
//! - a lease and a lent cap travel as a copy the client's transport mints
//!   with the declared rights ([`Transport::mint`]: the cap's own rights
//!   masked by them; a lent cap that names none keeps its own), which the
//!   client takes back once the call returned, however it went
//!   (`Transport::end_lend`: what derives from the copy, the server's, goes
//!   with it);
//! - a granted or moved cap whose parameter names rights travels as such a
//!   copy, which the client deletes once the call returned (the server's
//!   copy, derived from it, stays: it is the server's to keep); one that
//!   names none travels as the client's own cap;
//! - a moved cap is deleted from the client's CSpace once the call
//!   succeeded (Flounder's `give_away_cap`): the server's copy is then the
//!   only one.
//!
//! A donated Untyped travels as it is: the kernel marks the donor's cap
//! full, so that it cannot be donated twice.

use capc_dsl::ast::Transfer;
use capc_dsl::model::{Method, MethodSet, ParamKind};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::super::{Gen, caps::rights_const, ident, lit};
use super::leases::lease_ty;
use super::messages::slot_ty;

/// What a client method does around its call for the caps it sends.
pub(super) struct Sent {
    /// Mints the copies, rebinding each parameter to what travels.
    pub before: TokenStream,
    /// Takes back the lent copies and deletes the granted ones: after the
    /// call, however it went.
    pub after: TokenStream,
    /// Deletes the moved caps: after a successful call.
    pub moved: TokenStream,
}

/// How a cap parameter or result travels; `None` for anything else.
fn transfer(kind: &ParamKind) -> Option<Transfer> {
    match kind {
        ParamKind::Cap { transfer, .. } | ParamKind::AnyCap { transfer } => Some(*transfer),
        _ => None,
    }
}

/// How parameter `k` travels when the client sends a copy of it: `None`
/// when it sends its own cap, or no cap.
fn minted(m: &Method, k: usize) -> Option<Transfer> {
    match &m.params[k].kind {
        ParamKind::Lease(_) => Some(Transfer::Lend),
        ParamKind::Cap {
            transfer: Transfer::Lend,
            ..
        }
        | ParamKind::AnyCap {
            transfer: Transfer::Lend,
        } => Some(Transfer::Lend),
        ParamKind::Cap {
            transfer: t @ (Transfer::Grant | Transfer::Move),
            rights,
            ..
        } if !rights.is_empty() => Some(*t),
        _ => None,
    }
}

/// Whether a client of `m` mints a copy of some cap it sends.
pub(super) fn mints(m: &Method) -> bool {
    (0..m.params.len()).any(|k| minted(m, k).is_some())
}

/// Whether `m` moves a cap to the server.
fn moves(m: &Method) -> bool {
    m.params
        .iter()
        .any(|p| transfer(&p.kind) == Some(Transfer::Move))
}

/// Whether some client of these interfaces mints a copy (the
/// `CallError::NotMinted` variant).
pub(super) fn any(interfaces: &[&MethodSet]) -> bool {
    interfaces.iter().flat_map(|s| &s.methods).any(mints)
}

/// Whether a client method of `m` does anything around its call for its
/// caps.
pub(super) fn has(m: &Method) -> bool {
    mints(m) || moves(m)
}

/// The statements of a client method around its call, for the caps it
/// sends (see the module's docs). `error` makes the error a failed mint
/// returns: `CallError::NotMinted`, or `SendError::NotMinted` for a
/// one-way method.
pub(super) fn client(g: &Gen<'_>, m: &Method, error: &TokenStream) -> Sent {
    let spec = g.spec;
    let mut before = TokenStream::new();
    // What to undo, in order, when a later mint fails; and after the call.
    let mut undo: Vec<TokenStream> = Vec::new();
    // The moved caps' own slots, kept before the copies are bound.
    // Locals named apart from the parameters, which are in scope.
    let free = |base: &str| {
        let mut name = base.to_string();
        while m.params.iter().any(|p| p.name == name) {
            name.push('_');
        }
        format_ident!("{name}")
    };
    let moved_name = free("moved");
    let failed = free("error");
    let originals: Vec<Ident> = m
        .params
        .iter()
        .filter(|p| transfer(&p.kind) == Some(Transfer::Move))
        .map(|p| ident(&p.name))
        .collect();
    if !originals.is_empty() {
        let n = lit(originals.len() as u64);
        before.extend(quote!(let #moved_name: [u64; #n] = [#(#originals.index()),*];));
    }
    for (k, p) in m.params.iter().enumerate() {
        let Some(transfer) = minted(m, k) else {
            continue;
        };
        let name = ident(&p.name);
        let (ty, call, end) = match &p.kind {
            ParamKind::Lease(l) => {
                let field = &p.name;
                let (exact, frame) = (l.exact, lit(l.frame_bytes));
                (
                    lease_ty(l, spec),
                    quote!(lend(&mut self.transport, #field, #name, #exact, #frame)),
                    quote!(self.transport.end_lend(#name.frame.index());),
                )
            }
            ParamKind::Cap { .. } | ParamKind::AnyCap { .. } => {
                let (ty, rights) = match &p.kind {
                    ParamKind::Cap { cap, rights, .. } if !rights.is_empty() => {
                        (slot_ty(spec, *cap), rights_const(g, rights))
                    }
                    // A lent cap that names no rights keeps its own.
                    ParamKind::Cap { cap, .. } => (slot_ty(spec, *cap), quote!(Rights::ALL)),
                    _ => (quote!(Slot<Cap>), quote!(Rights::ALL)),
                };
                let end = if transfer == Transfer::Lend {
                    quote!(self.transport.end_lend(#name.index());)
                } else {
                    quote!(self.transport.delete(#name.index());)
                };
                (
                    ty,
                    quote! {
                        self.transport
                            .mint(#name.index(), #rights)
                            .map(Slot::new)
                            .ok_or(#error)
                    },
                    end,
                )
            }
            _ => unreachable!("only leases and caps are minted"),
        };
        before.extend(if undo.is_empty() {
            quote!(let #name: #ty = #call?;)
        } else {
            // A later mint that fails takes back the copies made before it.
            quote! {
                let #name: #ty = match #call {
                    Ok(copy) => copy,
                    Err(#failed) => {
                        #(#undo)*
                        return Err(#failed);
                    }
                };
            }
        });
        undo.push(end);
    }
    let moved = if originals.is_empty() {
        TokenStream::new()
    } else {
        quote! {
            for slot in #moved_name {
                self.transport.delete(slot);
            }
        }
    };
    Sent {
        before,
        after: quote!(#(#undo)*),
        moved,
    }
}

/// `<Iface>Label::moved_results` for an interface with a moved result:
/// which of a successful reply's caps the server's runtime deletes once the
/// reply is sent (the client's copy, derived from the server's cap, stays);
/// nothing for an interface without one.
pub(super) fn moved_results(i: &super::Iface<'_>) -> TokenStream {
    let set = i.set;
    let moved = |m: &Method| -> Vec<u64> {
        m.results
            .iter()
            .filter(|p| transfer(&p.kind).is_some())
            .enumerate()
            .filter(|(_, p)| transfer(&p.kind) == Some(Transfer::Move))
            .map(|(k, _)| k as u64)
            .collect()
    };
    if set.methods.iter().all(|m| moved(m).is_empty()) {
        return TokenStream::new();
    }
    let label = &i.label;
    let arms = set.methods.iter().map(|m| {
        let v = i.variant(m);
        let ks = moved(m).into_iter().map(lit);
        quote!(#label::#v => &[#(#ks),*],)
    });
    quote! {
        impl #label {
            /// The caps of a successful reply of this method that are
            /// moved to the caller (`move cap` results), as indices into
            /// the reply's caps: the server's runtime deletes its own
            /// once the reply is sent, so that the caller's copy is the
            /// only one.
            pub const fn moved_results(self) -> &'static [u64] {
                match self {
                    #(#arms)*
                }
            }
        }
    }
}
