//! Callback interfaces (docs/language.md, "Callbacks"): the messages a
//! server sends to a client that bound them. A `callback interface`'s
//! messages are one-way, so a server never waits for a client (`E0780`);
//! a `binds` parameter names one (`E0781`) on a granted cap parameter of a
//! call of another interface (`E0782`), and the method that binds it keeps
//! something, since the server holds the cap beyond the call: a session
//! pays for it, or the method says the server does (`E0783`).

use crate::ast;
use crate::diag::{Code, Diagnostic};

use super::methods::SetKind;
use super::{Ctx, TypeSym};

impl Ctx<'_> {
    /// A message of a callback interface: one-way, so no results or errors
    /// (`E0780`); and, as any one-way method, no donation or lent cap
    /// (`E0723`, `E0724`). `false` after an error.
    pub(super) fn check_callback_message(&mut self, method: &ast::Method) -> bool {
        let mname = &method.name.name;
        let mut ok = true;
        let note = "a server sends a callback message without waiting: a client that never answered could otherwise stop it";
        if let Some(first) = method.results.first() {
            self.diags.push(
                Diagnostic::new(
                    Code::CallbackReply,
                    first.name.span,
                    format!("callback message `{mname}` has results"),
                )
                .label("a result needs a reply")
                .note(note)
                .help("remove the results: the client answers, if it must, with a call of the interface it bound the callback through"),
            );
            ok = false;
        }
        if let Some(first) = method.errors.first().or(method.error_sets.first()) {
            self.diags.push(
                Diagnostic::new(
                    Code::CallbackReply,
                    first.span,
                    format!("callback message `{mname}` declares errors"),
                )
                .label("an error needs a reply")
                .note(note)
                .help("remove the `errors` clause"),
            );
            ok = false;
        }
        let mut rest = method.clone();
        rest.results.clear();
        rest.errors.clear();
        rest.error_sets.clear();
        ok & self.check_oneway(&rest)
    }

    /// The callback interface `bound` names for the parameter `p` (its index
    /// among the interfaces), or `None` after an error: it is a callback
    /// interface (`E0781`), and `p` is a granted cap parameter of a call of
    /// an interface that is not one (`E0782`).
    pub(super) fn check_binding(
        &mut self,
        p: &ast::Param,
        bound: &ast::Ident,
        result: bool,
        kind: SetKind,
        in_callback: bool,
    ) -> Option<usize> {
        let name = &p.name.name;
        let misplaced = if kind == SetKind::Invocations {
            Some((
                "in a kernel invocation",
                "the kernel sends nothing to a client on a server's behalf",
            ))
        } else if in_callback {
            Some((
                "in a callback message",
                "a callback's client binds nothing back: it answers through the interface it bound the callback with",
            ))
        } else if result {
            Some((
                "on a result",
                "the client binds a callback by granting the server a cap to send through; a server hands its own endpoint out as a plain granted result",
            ))
        } else if !matches!(
            p.ty,
            ast::ParamType::Cap {
                transfer: ast::Transfer::Grant | ast::Transfer::Move,
                ..
            }
        ) {
            Some((
                "on a parameter that is not a granted cap",
                "the server keeps the bound cap to send through beyond the call, so the client grants it",
            ))
        } else {
            None
        };
        if let Some((where_, why)) = misplaced {
            self.diags.push(
                Diagnostic::new(
                    Code::BindingMisplaced,
                    bound.span,
                    format!("`{name}` binds `{}` {where_}", bound.name),
                )
                .label("not valid here")
                .note(why)
                .help(format!(
                    "bind it with a parameter of a call: `{name}: grant cap EndpointCap(write) binds {}`",
                    bound.name
                )),
            );
            return None;
        }
        self.callback_interface(
            bound,
            "`binds` names the messages a server sends to the client through the cap: a `callback interface`",
        )
    }

    /// The interface `name` names, which `binds` (on a parameter or in a
    /// session block) requires to be a callback interface (`E0781`, with
    /// `why` as its note); `None` after an error.
    pub(super) fn callback_interface(&mut self, name: &ast::Ident, why: &str) -> Option<usize> {
        let i = self.resolve(name, "a callback interface", |s| match s {
            TypeSym::Interface(i) => Some(i),
            _ => None,
        })?;
        let (_, set) = self.items.interfaces[i];
        if set.callback.is_none() {
            self.diags.push(
                Diagnostic::new(
                    Code::BindsNotCallback,
                    name.span,
                    format!("`{}` is not a callback interface", name.name),
                )
                .label("an interface clients call")
                .with_secondary(set.name.span, "declared here")
                .note(why.to_string())
                .help(format!(
                    "declare `callback interface {} -> ...`, or bind another interface",
                    name.name
                )),
            );
            return None;
        }
        Some(i)
    }

    /// The method that binds a callback with `p` holds the cap beyond the
    /// call: it is a call, so its client learns whether the server took
    /// the cap, and it keeps something for it (`keeps N;`, charged to the
    /// session, or paid by the server with `server_pays`) (`E0783`).
    pub(super) fn binding_paid(
        &mut self,
        method: &ast::Method,
        p: &ast::Param,
        oneway: bool,
    ) -> bool {
        let mname = &method.name.name;
        let problem = if oneway {
            Some((
                format!(
                    "one-way method `{mname}` binds a callback with `{}`",
                    p.name.name
                ),
                "the client could not learn whether the server took the cap, nor be refused when its session cannot pay for it",
                "remove `#[oneway]` to make it a call",
            ))
        } else if method.keeps.is_empty() {
            Some((
                format!(
                    "`{mname}` binds a callback with `{}` but keeps nothing",
                    p.name.name
                ),
                "the server holds the bound cap (a slot, and its record of the client) beyond the call: somebody pays for it",
                "add `keeps N;` (in a session interface the client's session pays; elsewhere also `server_pays N;`)",
            ))
        } else {
            None
        };
        let Some((message, why, fix)) = problem else {
            return true;
        };
        let span = p.binds.as_ref().map_or(p.name.span, |b| b.span);
        self.diags.push(
            Diagnostic::new(Code::BindingUnpaid, method.name.span, message)
                .label("binds a callback")
                .with_secondary(span, "bound here")
                .note(why)
                .help(fix),
        );
        false
    }
}
