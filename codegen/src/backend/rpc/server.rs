//! The server side of an interface: its trait and `dispatch_*` function,
//! with the session charging around a call.

use capc_dsl::model::{DonationKind, Method};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::messages::{donated_cap, donation_field, param_ty, request_pattern};
use super::{
    Iface, callbacks, doc_lines, ident, join_and, method_lines, received, reply_ty, sessions,
    snake, too_many_arguments, wrap,
};

/// The server trait and dispatch function of an interface.
pub(super) fn server(i: &Iface<'_>) -> TokenStream {
    let set = i.set;
    let (request, error) = (&i.request, &i.error_ty);
    let server = format_ident!("{}Server", set.name);
    let dispatch = format_ident!("dispatch_{}", snake(&set.name));
    let donating = set.methods.iter().any(|m| m.donation.is_some());
    // With a one-way method, dispatch answers `None` for it: no reply.
    let oneway = set.methods.iter().any(|m| m.oneway);

    // What the extra parameters of the methods are, said once on the trait.
    let mut roles = Vec::new();
    if set.session.is_some() {
        roles.push("`session`, the caller's session, which pays for what the server keeps for it: refund to it what a call takes back;");
    }
    if set
        .methods
        .iter()
        .any(|m| sessions::has(m, sessions::Part::Handed))
    {
        roles.push("`charge`, what the session was charged for what the call hands out: take it and keep it with what it paid for (it is refunded when that comes back); left there on success, it stays charged until the session closes, and on failure dispatch refunds it;");
    }
    if donating {
        roles.push("`budget`, the memory of the call, from the caller's donation: the server has no other;");
    }
    let mut headline = format!(
        "The server side of the `{}` interface: one method per RPC, called by [`{dispatch}`] with the decoded arguments.",
        set.name
    );
    if !roles.is_empty() {
        // The last role ends the sentence.
        let roles = roles.join(" ");
        headline.push_str(" After its arguments, a method may take (with a `_` appended to a name an argument has) ");
        headline.push_str(&roles[..roles.len() - 1]);
        headline.push('.');
    }
    let doc = i.interface_doc(headline);
    let fns = set.methods.iter().map(|m| {
        let name = ident(&m.name);
        let params = m.params.iter().map(|p| {
            let n = ident(&p.name);
            let t = callbacks::server_param_ty(i.g, p, param_ty(&p.kind, i.g.spec));
            quote!(#n: #t)
        });
        let mut extra: Vec<String> = Vec::new();
        let free_name = |base: &str| {
            let mut name = base.to_string();
            while m.params.iter().any(|p| p.name == name) {
                name.push('_');
            }
            name
        };
        let session_param = set.session.as_ref().map(|_| {
            let name = free_name("session");
            extra.push(format!("`{name}`"));
            let n = ident(&name);
            let s = sessions::session_ty(set);
            quote!(#n: &mut #s)
        });
        let charge_param = sessions::has(m, sessions::Part::Handed).then(|| {
            let name = free_name("charge");
            extra.push(format!("`{name}`"));
            let n = ident(&name);
            let c = sessions::charge_ty(set);
            quote!(#n: &mut Option<#c>)
        });
        let budget_param = m.donation.as_ref().map(|_| {
            let name = free_name("budget");
            extra.push(format!("`{name}`"));
            let n = ident(&name);
            let b = i.budget(m);
            quote!(#n: &mut #b)
        });
        let extra = if extra.is_empty() {
            Vec::new()
        } else {
            wrap(&format!(
                "Also takes {} (see [`{server}`]).",
                join_and(&extra)
            ))
        };
        let doc = i.docs(method_lines(i, m, "method", &extra), m);
        let reply = reply_ty(i, m);
        let allow = too_many_arguments(
            1 + m.params.len()
                + usize::from(budget_param.is_some())
                + usize::from(session_param.is_some())
                + usize::from(charge_param.is_some()),
        );
        if m.oneway {
            // Checked: a one-way method has no results, errors or donation.
            let session_param = session_param.into_iter();
            return quote! {
                #doc
                #allow
                fn #name(&mut self, #(#params,)* #(#session_param)*);
            };
        }
        let extra_params = session_param
            .into_iter()
            .chain(charge_param)
            .chain(budget_param);
        let error = i.method_error_ty(m);
        quote! {
            #doc
            #allow
            fn #name(&mut self, #(#params,)* #(#extra_params),*) -> Result<#reply, #error>;
        }
    });

    let answer = quote! {
        match result {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => ProtocolError::InvalidResult.encode(msg),
            Err(error) if label.errors().contains(&error.number()) => error.reply(msg),
            Err(error) => ProtocolError::UndeclaredError { number: error.number() }.encode(msg),
        }
    };
    let mixed = i.mixed();
    let arms = set.methods.iter().map(|m| {
        let v = i.variant(m);
        let name = ident(&m.name);
        let donation = donated_cap(m).map(|_| donation_field(m));
        let (pattern, bindings) = request_pattern(request, &v, m, donation.as_deref());
        let plain = &bindings[..m.params.len()];
        let args = &callbacks::server_args(i.g, m, plain)[..];
        let encode = if m.results.is_empty() {
            quote!(.map(|()| Ok(MessageInfo::default())))
        } else {
            quote!(.map(|reply| reply.encode(msg, caps)))
        };
        let session_arg = set.session.as_ref().map(|_| quote!(session));
        if m.oneway {
            let session_arg = session_arg.into_iter();
            return quote! {
                #pattern => {
                    server.#name(#(#args,)* #(#session_arg)*);
                    None
                }
            };
        }
        let handed = sessions::has(m, sessions::Part::Handed);
        let charge_arg = handed.then(|| quote!(&mut charge));
        let leading: Vec<TokenStream> = session_arg.into_iter().chain(charge_arg).collect();
        let call = match &m.donation {
            None => quote!(server.#name(#(#args,)* #(#leading),*)),
            Some(d) => {
                let budget = i.budget(m);
                let from = match (&d.kind, bindings.last()) {
                    (DonationKind::Untyped(_), Some(slot)) if donation.is_some() => {
                        quote!(#budget::from_donation(#slot, donated))
                    }
                    _ => quote!(#budget::from_donation(donated)),
                };
                quote! {
                    #from
                        .and_then(|mut budget| server.#name(#(#args,)* #(#leading,)* &mut budget))
                }
            }
        };
        let call = charged_call(i, m, plain, call);
        let value = quote!(#call #encode);
        let value = if mixed {
            // Each method's errors are of its own set: answered here.
            let merr = i.method_error_ty(m);
            quote! {
                {
                    let result: Result<Result<MessageInfo, FieldError>, #merr> = #value;
                    #answer
                }
            }
        } else {
            value
        };
        if oneway {
            quote!(#pattern => Some(#value),)
        } else {
            quote!(#pattern => #value,)
        }
    });
    let arms: Vec<TokenStream> = arms.collect();
    let donated_param = donating.then(|| quote!(donated: Donation,));
    let session_param = set.session.as_ref().map(|_| {
        let s = sessions::session_ty(set);
        quote!(session: &mut #s,)
    });
    let donated_doc = if donating {
        " For a donating method it first makes the method's budget from `donated`, what the caller donated as the server's runtime learned it (see [`Donation`]); a donation below the method's minimum is answered with the method's out-of-budget error and the server is not called."
    } else {
        ""
    };
    let dispatch_doc = doc_lines(
        &[
            wrap(&format!(
                "Serves one `{}` request: decodes `info`, `msg` and `caps`, calls `server`, and writes the reply into `msg` and `caps`, returning its header.{donated_doc}",
                set.name
            )),
            vec![String::new()],
            wrap("The reply's label is 0 with the results on success, the error's number with its payload when the method returns an error it declares, and a [`ProtocolError`] label when the request does not decode (the server is not called), when the server returns an error the method does not declare (`UndeclaredError`), or results that do not fit their types (`InvalidResult`)."),
            if oneway {
                [
                    vec![String::new()],
                    wrap("`None` for a one-way message, decoded or not: nobody waits for an answer, so the server loop sends no reply."),
                ]
                .concat()
            } else {
                Vec::new()
            },
        ]
        .concat(),
    );
    let label_ty = &i.label;
    // The caps a request carries are checked before the server runs.
    let checks = received::carries(set);
    let check = if !checks {
        TokenStream::new()
    } else if oneway {
        quote! {
            if let Err(refusal) = label.check_caps(&caps[..info.caps.min(target::CAPS_PER_MESSAGE)], held) {
                // Nobody waits for an answer to a one-way message.
                return (!label.oneway()).then(|| refusal.encode(msg));
            }
        }
    } else {
        quote! {
            if let Err(refusal) = label.check_caps(&caps[..info.caps.min(target::CAPS_PER_MESSAGE)], held) {
                return refusal.encode(msg);
            }
        }
    };
    let held_param = checks.then(|| quote!(held: impl Fn(u64) -> Option<Cap>,));
    let body = if oneway {
        quote! {
            let request = match #request::decode(info, msg, caps) {
                Ok(request) => request,
                // Nobody waits for an answer to a one-way message.
                Err(_) if #label_ty::from_label(info.label).is_some_and(#label_ty::oneway) => {
                    return None;
                }
                Err(error) => return Some(error.encode(msg)),
            };
            let label = request.label();
            #check
            let result: Result<Result<MessageInfo, FieldError>, #error> = match request {
                #(#arms)*
            }?;
            Some(#answer)
        }
    } else {
        quote! {
            let request = match #request::decode(info, msg, caps) {
                Ok(request) => request,
                Err(error) => return error.encode(msg),
            };
            let label = request.label();
            #check
            let result: Result<Result<MessageInfo, FieldError>, #error> = match request {
                #(#arms)*
            };
            #answer
        }
    };
    let body = match (mixed, oneway) {
        (false, _) => body,
        (true, true) => quote! {
            let request = match #request::decode(info, msg, caps) {
                Ok(request) => request,
                // Nobody waits for an answer to a one-way message.
                Err(_) if #label_ty::from_label(info.label).is_some_and(#label_ty::oneway) => {
                    return None;
                }
                Err(error) => return Some(error.encode(msg)),
            };
            let label = request.label();
            #check
            match request {
                #(#arms)*
            }
        },
        (true, false) => quote! {
            let request = match #request::decode(info, msg, caps) {
                Ok(request) => request,
                Err(error) => return error.encode(msg),
            };
            let label = request.label();
            #check
            match request {
                #(#arms)*
            }
        },
    };
    let returns = if oneway {
        quote!(Option<MessageInfo>)
    } else {
        quote!(MessageInfo)
    };
    quote! {
        #doc
        pub trait #server {
            #(#fns)*
        }

        #dispatch_doc
        pub fn #dispatch(
            server: &mut impl #server,
            info: MessageInfo,
            msg: &mut [u64; target::MESSAGE_WORDS],
            caps: &mut [u64; target::CAPS_PER_MESSAGE],
            #session_param
            #donated_param
            #held_param
        ) -> #returns {
            #body
        }
    }
}

/// The call of a session method's server method, `call`, wrapped in the
/// charging dispatch does: the call's charge for its actual arguments must
/// fit what is left of the session's quota (else the session's error, the
/// server not called); what it needs for the call only is refunded when it
/// returns, what it hands out goes to the server as `charge`, and both that
/// and what it keeps are refunded when it fails.
fn charged_call(i: &Iface<'_>, m: &Method, args: &[Ident], call: TokenStream) -> TokenStream {
    use sessions::Part;
    if i.set.session.is_none() || !Part::ALL.iter().any(|p| sessions::has(m, *p)) {
        return call;
    }
    let ty = sessions::session_ty(i.set);
    let amount = |part: Part| -> TokenStream {
        let f = sessions::bytes_fn(m, part);
        let values = sessions::sizing_params(m, part)
            .into_iter()
            .map(|k| &args[k]);
        quote!(#ty::#f(#(#values),*))
    };
    let (call_bytes, handed_bytes, kept_bytes) =
        (amount(Part::Call), amount(Part::Handed), amount(Part::Kept));
    // (Each is used only where the method has charges of its part.)
    let scratch = sessions::has(m, Part::Call).then(|| {
        (
            quote!(let scratch = session.charge(#call_bytes);),
            quote! {
                if let Ok(scratch) = scratch {
                    let _ = session.refund(scratch);
                }
            },
        )
    });
    // A charge handed out with a `cap T | null` result that comes back
    // without the cap handed nothing out: refunded as on failure.
    let nullable_handle = m
        .charges
        .iter()
        .flat_map(|c| &c.charges)
        .filter_map(|c| c.handed_to)
        .map(|k| &m.results[k])
        .find(|r| {
            matches!(
                r.kind,
                capc_dsl::model::ParamKind::Cap { nullable: true, .. }
            )
        })
        .map(|r| crate::backend::ident(&r.name));
    let refund_handed = match &nullable_handle {
        Some(h) => quote! {
            let handed_nothing = !result.as_ref().is_ok_and(|reply| reply.#h.is_some());
            if let (true, Some(charge)) = (handed_nothing, charge) {
                let _ = session.refund(charge);
            }
        },
        None => quote! {
            if let (Err(_), Some(charge)) = (&result, charge) {
                let _ = session.refund(charge);
            }
        },
    };
    let handed = sessions::has(m, Part::Handed).then(|| {
        (
            quote!(let mut charge = session.charge(#handed_bytes).ok();),
            refund_handed,
        )
    });
    let kept = sessions::has(m, Part::Kept).then(|| {
        (
            quote!(let kept = session.charge(#kept_bytes);),
            quote! {
                if let (Err(_), Ok(kept)) = (&result, kept) {
                    let _ = session.refund(kept);
                }
            },
        )
    });
    let (before, after): (Vec<TokenStream>, Vec<TokenStream>) =
        scratch.into_iter().chain(handed).chain(kept).unzip();
    let mut present = Part::ALL
        .into_iter()
        .filter(|p| sessions::has(m, *p))
        .map(amount);
    let first = present.next().expect("a charging method");
    let total = present.fold(first, |sum, a| quote!(#sum.saturating_add(#a)));
    quote! {
        {
            let total = #total;
            if total > session.available() {
                Err(#ty::out_of_budget(total))
            } else {
                #(#before)*
                let result = #call;
                #(#after)*
                result
            }
        }
    }
}
