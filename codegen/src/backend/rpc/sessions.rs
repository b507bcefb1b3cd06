//! Sessions in generated code (docs/language.md, "Sessions"): for an
//! interface with a `session` block, `<Iface>Session` (a client's quota and
//! what is charged to it, with the bytes each charging method charges for
//! its actual arguments) and `<Iface>Charge` (what one call handed out,
//! refunded once); and the charging around a server method that
//! `dispatch_<iface>` does.

use capc_dsl::model::{Amount, Charge, Charged, Method, MethodSet, ParamKind};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::{Iface, bytes, doc_lines, ident, lit, param_ty, wrap};
// (`lit` is unsuffixed; counts are suffixed `u64` to call methods on them.)

/// Which of a method's charges a bytes function sums.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    /// Objects for the call only.
    Call,
    /// What is handed out `for` a result.
    Handed,
    /// Bytes kept until the session closes.
    Kept,
}

impl Part {
    fn matches(self, c: &Charge) -> bool {
        match self {
            Part::Call => c.for_the_call(),
            Part::Handed => c.handed_to.is_some(),
            Part::Kept => c.until_close(),
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Part::Call => "call",
            Part::Handed => "handed",
            Part::Kept => "kept",
        }
    }

    pub(super) const ALL: [Part; 3] = [Part::Call, Part::Handed, Part::Kept];
}

/// `MemSession`.
pub(super) fn session_ty(set: &MethodSet) -> Ident {
    format_ident!("{}Session", set.name)
}

/// `MemCharge`.
pub(super) fn charge_ty(set: &MethodSet) -> Ident {
    format_ident!("{}Charge", set.name)
}

/// `allocate_handed_bytes`.
pub(super) fn bytes_fn(m: &Method, part: Part) -> Ident {
    format_ident!("{}_{}_bytes", m.name, part.suffix())
}

/// Whether `m` has charges of `part`.
pub(super) fn has(m: &Method, part: Part) -> bool {
    m.charges
        .as_ref()
        .is_some_and(|c| c.charges.iter().any(|c| part.matches(c)))
}

/// The indices of the parameters the charges of `part` are sized by, in
/// order.
pub(super) fn sizing_params(m: &Method, part: Part) -> Vec<usize> {
    let mut out = Vec::new();
    for c in m.charges.iter().flat_map(|c| &c.charges) {
        if !part.matches(c) {
            continue;
        }
        if let Charged::Objects { count, arg, .. } = &c.what {
            for a in [count, arg] {
                if let Some(i) = a.param()
                    && !out.contains(&i)
                {
                    out.push(i);
                }
            }
        }
    }
    out.sort_unstable();
    out
}

/// The value of an amount in a bytes function, as a `u64`; parenthesised
/// where it is the receiver of a method call.
fn amount(m: &Method, a: Amount, receiver: bool) -> TokenStream {
    match a {
        Amount::Const(v) => {
            let v = proc_macro2::Literal::u64_suffixed(v);
            quote!(#v)
        }
        Amount::Param(i) => {
            let p = ident(&m.params[i].name);
            // The sizing parameters are `uN` or `word`: at most a u64.
            match (&m.params[i].kind, receiver) {
                (ParamKind::Scalar(capc_dsl::ast::Scalar::Word), _) => quote!(#p),
                (_, true) => quote!((#p as u64)),
                (_, false) => quote!(#p as u64),
            }
        }
        Amount::Pow2(i) => {
            // `1 << p`; the checker ends the range at 63.
            let p = ident(&m.params[i].name);
            quote!(match 1u64.checked_shl(#p as u32) {
                Some(bytes) => bytes,
                None => u64::MAX,
            })
        }
    }
}

/// The session and charge types of a session interface, and the bytes
/// functions of its charging methods.
pub(super) fn session_types(i: &Iface<'_>) -> TokenStream {
    let set = i.set;
    let Some(session) = &set.session else {
        return TokenStream::new();
    };
    let (ty, charge, error) = (session_ty(set), charge_ty(set), &i.error_ty);
    let oob = &i.errors.variants[session.out_of_budget];
    let oob_name = &oob.name;
    let v = ident(&oob.name);
    let (oob_value, uses_needed) = if oob.payload.is_empty() {
        (quote!(#error::#v), false)
    } else {
        let fields = oob.payload.iter().map(|w| {
            let name = ident(w);
            if w == "needed" {
                quote!(#name)
            } else {
                quote!(#name: 0)
            }
        });
        (
            quote!(#error::#v { #(#fields),* }),
            oob.payload.iter().any(|w| w == "needed"),
        )
    };
    let needed = if uses_needed {
        format_ident!("needed")
    } else {
        format_ident!("_needed")
    };
    let min = lit(session.min_bytes);
    let keeps = lit(session.keeps);
    let what = match &session.kind {
        capc_dsl::model::DonationKind::Quota => "a byte quota".to_string(),
        capc_dsl::model::DonationKind::Untyped(cap) => format!(
            "an `{}`, whose free bytes are the quota",
            i.g.spec.caps[cap.index()].name
        ),
    };
    let mut lines = wrap(&format!(
        "A client's session of `{}`: the quota it opened the session with ({what}, at least {}), and what is charged to it. Everything the server keeps for the client beyond a call is charged here; closing the session returns the quota.",
        set.name,
        bytes(session.min_bytes)
    ));
    if !session.docs.is_empty() {
        lines.push(String::new());
        lines.extend(session.docs.iter().flat_map(|l| wrap(l)));
    }
    lines.push(String::new());
    lines.extend(wrap(&format!(
        "The server's runtime opens one per client (as Genode's root interface does), finds it by the client's badge, and lends it to [`dispatch_{}`] with each request. Its fields are private: a server cannot charge or refund what it was not given.",
        super::snake(&set.name)
    )));
    let charge_doc = doc_lines(&wrap(&format!(
        "The charge of what one `{}` call handed out, to the session numbered `session`: neither `Clone` nor `Copy`, so it is refunded once. Keep it with what it paid for, and give it to [`{ty}::refund`] when that comes back.",
        set.name
    )));
    let oob_doc = doc_lines(&[format!(
        "The error of a charge that does not fit: `{error}::{oob_name}`."
    )]);
    let bound = session
        .binds
        .map(|b| &i.g.spec.interfaces[b])
        .filter(|cb| !cb.methods.is_empty());
    let sender = bound.map(super::callbacks::sender_ty);
    let bound_parts = bound_parts(set, sender.as_ref(), error);
    let BoundParts {
        field,
        field_init,
        open_bound,
        events,
        close,
    } = bound_parts;
    if let Some(cb) = bound {
        lines.push(String::new());
        lines.extend(wrap(&format!(
            "A session may be opened bound to the callback interface `{}` ([`{ty}::open_bound`]) with the cap the client sent when opening it: the server sends `{}`'s messages through it ([`{ty}::events`]), and the client calls `{}`'s methods on the session as on any other. The server keeps that cap until the session closes, paid by [`KEEPS`]({ty}::KEEPS); [`{ty}::close`] hands it back for the runtime to delete.",
            cb.name, cb.name, set.name
        )));
    }
    let doc = i.g.docs(&lines, "", session.span);
    let fns = set.methods.iter().flat_map(|m| {
        Part::ALL
            .into_iter()
            .filter(move |p| has(m, *p))
            .map(move |part| bytes_function(i, m, part))
    });
    quote! {
        #doc
        #[derive(Debug, PartialEq, Eq)]
        pub struct #ty {
            id: u64,
            quota: u64,
            used: u64,
            #field
        }

        #charge_doc
        #[derive(Debug, PartialEq, Eq)]
        #[must_use = "a charge is refunded with the session's `refund`, or stays charged until the session closes"]
        pub struct #charge {
            session: u64,
            bytes: u64,
        }

        impl #charge {
            /// Bytes charged.
            pub const fn bytes(&self) -> u64 {
                self.bytes
            }

            /// The number of the session charged.
            pub const fn session(&self) -> u64 {
                self.session
            }
        }

        impl #ty {
            /// The least quota a session is opened with.
            pub const MIN_QUOTA: u64 = #min;
            /// Bytes the server keeps per session, charged when it opens.
            pub const KEEPS: u64 = #keeps;

            /// Opens session number `id` with what the client donated (see
            /// [`Donation`]); [`KEEPS`](Self::KEEPS) is charged at once.
            /// Refuses a donation below [`MIN_QUOTA`](Self::MIN_QUOTA) with
            /// the session's out-of-budget error, `needed` the least quota.
            pub fn open(id: u64, donation: Donation) -> Result<#ty, #error> {
                if donation.bytes < Self::MIN_QUOTA {
                    return Err(Self::out_of_budget(Self::MIN_QUOTA));
                }
                Ok(#ty {
                    id,
                    quota: donation.bytes,
                    used: Self::KEEPS,
                    #field_init
                })
            }

            #open_bound

            /// Adds what the client donated to the quota (Genode's
            /// upgrade); refuses a quota past 2^64 - 1 bytes.
            pub fn upgrade(&mut self, donation: Donation) -> Result<(), #error> {
                match self.quota.checked_add(donation.bytes) {
                    Some(quota) => {
                        self.quota = quota;
                        Ok(())
                    }
                    None => Err(Self::out_of_budget(donation.bytes)),
                }
            }

            #close

            #events

            /// The session's number.
            pub const fn id(&self) -> u64 {
                self.id
            }

            /// Bytes donated, upgrades included.
            pub const fn quota(&self) -> u64 {
                self.quota
            }

            /// Bytes charged now.
            pub const fn used(&self) -> u64 {
                self.used
            }

            /// Bytes of the quota not charged.
            pub const fn available(&self) -> u64 {
                self.quota - self.used
            }

            /// Charges `bytes`; refuses, with the session's out-of-budget
            /// error (`needed` the bytes), more than is
            /// [`available`](Self::available).
            pub fn charge(&mut self, bytes: u64) -> Result<#charge, #error> {
                if bytes > self.available() {
                    return Err(Self::out_of_budget(bytes));
                }
                self.used += bytes;
                Ok(#charge {
                    session: self.id,
                    bytes,
                })
            }

            /// Refunds `charge`; gives it back when it is another
            /// session's.
            pub fn refund(&mut self, charge: #charge) -> Result<(), #charge> {
                if charge.session != self.id || charge.bytes > self.used {
                    return Err(charge);
                }
                self.used -= charge.bytes;
                Ok(())
            }

            #oob_doc
            pub const fn out_of_budget(#needed: u64) -> #error {
                #oob_value
            }

            #(#fns)*
        }
    }
}

/// `<method>_<part>_bytes(args)`: the bytes the charges of `part` of `m`
/// come to for its actual arguments.
fn bytes_function(i: &Iface<'_>, m: &Method, part: Part) -> TokenStream {
    let name = bytes_fn(m, part);
    let params = sizing_params(m, part).into_iter().map(|k| {
        let p = ident(&m.params[k].name);
        let t = param_ty(&m.params[k].kind, i.g.spec);
        quote!(#p: #t)
    });
    let mut terms = Vec::new();
    let mut said = Vec::new();
    for c in m.charges.iter().flat_map(|c| &c.charges) {
        if !part.matches(c) {
            continue;
        }
        match &c.what {
            Charged::Bytes(b) => {
                said.push(bytes(*b));
                let b = lit(*b);
                terms.push(quote!(#b));
            }
            Charged::Objects { object, count, arg } => {
                let o = &i.g.spec.objects[object.index()];
                let n = amount(m, *count, true);
                let a = amount(m, *arg, false);
                let v = ident(&o.name);
                said.push(match (count, arg, &o.size.param) {
                    (_, _, None) => format!("{} × `{}`", show(m, *count), o.name),
                    _ => {
                        let arg = match arg {
                            Amount::Const(v) => v.to_string(),
                            Amount::Param(k) => m.params[*k].name.clone(),
                            Amount::Pow2(k) => format!("1 << {}", m.params[*k].name),
                        };
                        format!("{} × `{}({arg})`", show(m, *count), o.name)
                    }
                });
                terms.push(if o.size.is_bytes() {
                    quote! {
                        #n.saturating_mul(match ObjectType::#v.size_bytes(#a) {
                            Ok(bytes) => bytes,
                            Err(_) => u64::MAX,
                        })
                    }
                } else {
                    quote! {
                        #n.saturating_mul(match ObjectType::#v.size_bits(#a) {
                            Ok(bits) => 1u64 << bits,
                            Err(_) => u64::MAX,
                        })
                    }
                });
            }
        }
    }
    let what = match part {
        Part::Call => "for the call only (refunded as it returns)",
        Part::Handed => "for what it hands out (until it is refunded)",
        Part::Kept => "kept until the session closes",
    };
    let doc = doc_lines(&wrap(&format!(
        "Bytes one `{}::{}` call charges its session {what}, for its actual arguments: {}.",
        i.set.name,
        m.name,
        said.join(" + ")
    )));
    quote! {
        #doc
        pub const fn #name(#(#params),*) -> u64 {
            let mut total: u64 = 0;
            #(total = total.saturating_add(#terms);)*
            total
        }
    }
}

/// An amount as the docs show it.
fn show(m: &Method, a: Amount) -> String {
    match a {
        Amount::Const(v) => v.to_string(),
        Amount::Param(i) => format!("`{}`", m.params[i].name),
        Amount::Pow2(i) => format!("`1 << {}`", m.params[i].name),
    }
}

/// The parts of a session type that differ when its sessions may be bound
/// to a callback interface (`binds Name;`, its sender `sender`).
struct BoundParts {
    field: TokenStream,
    field_init: TokenStream,
    open_bound: TokenStream,
    events: TokenStream,
    close: TokenStream,
}

fn bound_parts(set: &MethodSet, sender: Option<&Ident>, error: &Ident) -> BoundParts {
    let Some(sender) = sender else {
        return BoundParts {
            field: TokenStream::new(),
            field_init: TokenStream::new(),
            open_bound: TokenStream::new(),
            events: TokenStream::new(),
            close: quote! {
                /// Closes the session: everything charged to it is reclaimed,
                /// and the quota, returned here, goes back to the client. The
                /// charges the server still holds are stale: refunding one to
                /// another session fails.
                pub fn close(self) -> u64 {
                    self.quota
                }
            },
        };
    };
    let ty = session_ty(set);
    let open_doc = doc_lines(&wrap(&format!(
        "Opens session number `id`, as [`open`](Self::open), bound to `events`: the sender through the cap the client sent with its donation, on which it receives the callback's messages. The server keeps that cap until the session closes, paid by [`KEEPS`](Self::KEEPS) (charged bound or not). When this refuses, the runtime deletes the cap's slot (`events.slot()`); `{ty}` never holds it then."
    )));
    BoundParts {
        field: quote!(events: Option<#sender>,),
        field_init: quote!(events: None,),
        open_bound: quote! {
            #open_doc
            pub fn open_bound(id: u64, donation: Donation, events: #sender) -> Result<#ty, #error> {
                let mut session = Self::open(id, donation)?;
                session.events = Some(events);
                Ok(session)
            }
        },
        events: quote! {
            /// The sender of the callback interface this session was opened
            /// bound to, `None` for a session opened without one: a server
            /// method sends the callback's messages to its client through
            /// it, and has nothing to send them through otherwise.
            pub const fn events(&self) -> Option<&#sender> {
                self.events.as_ref()
            }
        },
        close: quote! {
            /// Closes the session: everything charged to it is reclaimed,
            /// and the quota, returned here, goes back to the client, with
            /// the sender the session was bound to (`None` if unbound):
            /// the runtime deletes its slot, the cap the server kept. The
            /// charges the server still holds are stale: refunding one to
            /// another session fails, and copies of the sender the server
            /// kept send to a slot that no longer holds the client's cap.
            #[must_use = "the bound sender's slot is the runtime's to delete"]
            pub fn close(self) -> (u64, Option<#sender>) {
                (self.quota, self.events)
            }
        },
    }
}
