//! Session statements of `capc simulate` scripts (docs/simulate.md,
//! "Sessions"): opening, upgrading and closing sessions, and requests made
//! in one, run on the [`Sessions`] ledger beside the machine.
//!
//! ```text
//! session s1 = open Mem quota 65536 by alice
//! request s1 Mem.allocate bits 12 -> r1
//! request s1 Mem.free ram r1
//! upgrade s1 quota 4096
//! close s1
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Cursor, PResult, Parser, PathExpr, Tok, bytes, values};
use crate::session::{Backing, SessionId, SessionWhy, Sessions};
use crate::{Machine, NodeId, OpError};
use capc_dsl::diag::{Code, Diagnostic};
use capc_dsl::model::{ParamKind, Spec};
use capc_dsl::source::Span;

/// The statements that start a session statement.
pub(super) const STATEMENTS: &[&str] = &["session", "upgrade", "close", "request"];

/// Names a script binds: sessions and handles, with where each was bound.
#[derive(Clone, Debug, Default)]
pub(super) struct Names {
    sessions: BTreeMap<String, (String, Span)>,
    handles: BTreeMap<String, Span>,
}

/// What a session is opened with.
#[derive(Clone, Debug)]
pub(super) enum Opening {
    Quota { bytes: u64, principal: String },
    Untyped(PathExpr),
}

/// An argument of a request.
#[derive(Clone, Debug)]
pub(super) enum Arg {
    Number(u64),
    Handle(String),
    /// A value of the parameter's type (docs/simulate.md, "Typed
    /// arguments"): its word for a scalar, and whether the decoder takes it.
    Typed(values::Checked),
}

/// A parsed session statement.
#[derive(Clone, Debug)]
pub(super) enum SessionStmt {
    Open {
        name: String,
        interface: String,
        with: Opening,
    },
    Upgrade {
        name: String,
        bytes: u64,
    },
    Close {
        name: String,
    },
    Request {
        name: String,
        interface: String,
        method: String,
        /// One per parameter, in order (0 for those not given).
        args: Vec<Arg>,
        /// Names for what it hands out, in result order.
        handles: Vec<String>,
    },
}

impl Parser<'_> {
    /// The session a statement names: bound by an earlier `session`.
    fn session_name(&self, c: &mut Cursor<'_>, example: &str) -> PResult<(String, String)> {
        let (name, span) = c.ident("a session name", example)?;
        match self.sessions.sessions.get(&name) {
            Some((interface, _)) => Ok((name, interface.clone())),
            None => Err(Box::new(
                Diagnostic::new(
                    Code::ScriptUnknownName,
                    span,
                    format!("no session is called `{name}`"),
                )
                .label("not opened in this script")
                .help("open it first: `session NAME = open Interface quota BYTES by PRINCIPAL`"),
            )),
        }
    }

    /// A session statement after its first word.
    pub(super) fn session_statement(
        &mut self,
        word: &str,
        c: &mut Cursor<'_>,
    ) -> PResult<SessionStmt> {
        match word {
            "session" => {
                let example = "session s1 = open Mem quota 65536 by alice";
                let (name, span) = c.ident("a session name", example)?;
                if let Some((_, first)) = self.sessions.sessions.get(&name) {
                    return Err(Box::new(
                        Diagnostic::new(
                            Code::ScriptDuplicate,
                            span,
                            format!("session `{name}` is opened twice"),
                        )
                        .label("named again here")
                        .with_secondary(*first, "first named here")
                        .help("give each session its own name"),
                    ));
                }
                c.expect("=", example)?;
                c.expect("open", example)?;
                let (interface, ispan) = c.ident("an interface", example)?;
                let spec = self.spec;
                let Some(set) = spec.interfaces.iter().find(|i| i.name == interface) else {
                    return Err(self.unknown(
                        ispan,
                        "interface",
                        &interface,
                        spec.interfaces.iter().map(|i| i.name.as_str()),
                    ));
                };
                let Some(session) = &set.session else {
                    return Err(Box::new(
                        Diagnostic::new(
                            Code::ScriptInvalid,
                            ispan,
                            format!("`{interface}` is not used through sessions"),
                        )
                        .label("no `session` block")
                        .help("open sessions of an interface with a `session { ... }` block"),
                    ));
                };
                let kw = c.span();
                let with = if c.eat("quota") {
                    let (bytes, _) = c.number("the quota in bytes", example)?;
                    c.expect("by", example)?;
                    let principal = c.ident("the paying principal", example)?.0;
                    Opening::Quota { bytes, principal }
                } else if c.eat("donate") {
                    Opening::Untyped(self.path(c, "session s2 = open Mem donate gift")?)
                } else {
                    return Err(c.error("`quota BYTES by NAME` or `donate SLOT`", example));
                };
                let untyped = matches!(session.kind, capc_dsl::model::DonationKind::Untyped(_));
                if untyped != matches!(with, Opening::Untyped(_)) {
                    let want = if untyped {
                        "an Untyped cap: `donate SLOT`"
                    } else {
                        "a quota: `quota BYTES by NAME`"
                    };
                    return Err(Box::new(
                        Diagnostic::new(
                            Code::ScriptInvalid,
                            kw,
                            format!("a session of `{interface}` is opened with {want}"),
                        )
                        .label("the wrong kind of donation")
                        .with_secondary(session.span, "the session is declared here")
                        .help(format!("donate {want}")),
                    ));
                }
                c.done(example)?;
                self.sessions
                    .sessions
                    .insert(name.clone(), (interface.clone(), span));
                Ok(SessionStmt::Open {
                    name,
                    interface,
                    with,
                })
            }
            "upgrade" => {
                let example = "upgrade s1 quota 4096";
                let (name, _) = self.session_name(c, example)?;
                c.expect("quota", example)?;
                let (bytes, _) = c.number("the bytes added", example)?;
                c.done(example)?;
                Ok(SessionStmt::Upgrade { name, bytes })
            }
            "close" => {
                let example = "close s1";
                let (name, _) = self.session_name(c, example)?;
                c.done(example)?;
                Ok(SessionStmt::Close { name })
            }
            _ => self.request(c),
        }
    }

    fn request(&mut self, c: &mut Cursor<'_>) -> PResult<SessionStmt> {
        let example = "request s1 Mem.allocate bits 12 -> r1";
        let (name, session_interface) = self.session_name(c, example)?;
        let (interface, ispan) = c.ident("an interface", example)?;
        if interface != session_interface {
            return Err(Box::new(
                Diagnostic::new(
                    Code::ScriptInvalid,
                    ispan,
                    format!("`{name}` is a session of `{session_interface}`"),
                )
                .label("another interface")
                .help(format!("request methods of `{session_interface}` in it")),
            ));
        }
        let spec = self.spec;
        let set = spec
            .interfaces
            .iter()
            .find(|i| i.name == interface)
            .expect("a session's interface exists");
        c.expect(".", example)?;
        let (method, mspan) = c.ident("a method", example)?;
        let Some(m) = set.methods.iter().find(|m| m.name == method) else {
            return Err(self.unknown(
                mspan,
                &format!("method of `{interface}`"),
                &method,
                set.methods.iter().map(|m| m.name.as_str()),
            ));
        };
        let mut args = vec![Arg::Number(0); m.params.len()];
        while let Some(super::Token {
            tok: Tok::Ident(param),
            span,
        }) = c.peek().cloned()
        {
            c.at += 1;
            let Some(i) = m.params.iter().position(|p| p.name == param) else {
                return Err(self.unknown(
                    span,
                    &format!("parameter of `{interface}.{method}`"),
                    &param,
                    m.params.iter().map(|p| p.name.as_str()),
                ));
            };
            let refunded = m
                .charges
                .as_ref()
                .is_some_and(|ch| ch.refunds.iter().any(|r| r.param == i));
            args[i] = if refunded {
                let (h, hspan) = c.ident("the name of a handle (`-> r1`)", example)?;
                if !self.sessions.handles.contains_key(&h) {
                    return Err(Box::new(
                        Diagnostic::new(
                            Code::ScriptUnknownName,
                            hspan,
                            format!("no handle is called `{h}`"),
                        )
                        .label("not handed out in this script")
                        .help("name what a request hands out with `-> NAME` first"),
                    ));
                }
                Arg::Handle(h)
            } else if matches!(
                m.params[i].kind,
                ParamKind::Cap { .. } | ParamKind::AnyCap { .. }
            ) {
                return Err(Box::new(
                    Diagnostic::new(Code::ScriptInvalid, span, format!("`{param}` is a cap"))
                        .label("a cap is not given as a value")
                        .help("leave it out: the session ledger counts bytes, not caps"),
                ));
            } else {
                Arg::Typed(values::parse(
                    c,
                    spec,
                    &m.params[i].kind,
                    m.params[i].range,
                )?)
            };
        }
        let handed = m
            .charges
            .as_ref()
            .map(|ch| {
                let mut r: Vec<usize> = ch.charges.iter().filter_map(|c| c.handed_to).collect();
                r.sort_unstable();
                r.dedup();
                r.len()
            })
            .unwrap_or(0);
        let mut handles = Vec::new();
        if c.eat("->") {
            loop {
                let (h, hspan) = c.ident("a name for what it hands out", example)?;
                if let Some(first) = self.sessions.handles.get(&h) {
                    return Err(Box::new(
                        Diagnostic::new(
                            Code::ScriptDuplicate,
                            hspan,
                            format!("handle `{h}` is named twice"),
                        )
                        .label("named again here")
                        .with_secondary(*first, "first named here")
                        .help("give each handle its own name"),
                    ));
                }
                self.sessions.handles.insert(h.clone(), hspan);
                handles.push(h);
                if !c.eat(",") {
                    break;
                }
            }
        }
        if handles.len() > handed {
            return Err(Box::new(
                Diagnostic::new(
                    Code::ScriptInvalid,
                    mspan,
                    format!("`{interface}.{method}` hands out {handed} thing(s)"),
                )
                .label(format!("{} name(s) given", handles.len()))
                .help("name one handle per result the method charges `for`"),
            ));
        }
        c.done(example)?;
        Ok(SessionStmt::Request {
            name,
            interface,
            method,
            args,
            handles,
        })
    }
}

/// The ledger and what the script's names stand for while it runs.
pub(super) struct Runner<'s> {
    pub(super) ledger: Sessions<'s>,
    ids: BTreeMap<String, SessionId>,
    handles: BTreeMap<String, u64>,
}

impl<'s> Runner<'s> {
    pub(super) fn new(spec: &'s Spec) -> Runner<'s> {
        Runner {
            ledger: Sessions::new(spec),
            ids: BTreeMap::new(),
            handles: BTreeMap::new(),
        }
    }

    fn usage(&self, id: SessionId) -> String {
        self.ledger.open.get(&id).map_or(String::new(), |s| {
            format!("; uses {} of {}", bytes(s.used()), bytes(s.quota))
        })
    }

    /// Runs one statement: its result as the report shows it, and why it
    /// was refused when the error does not say.
    pub(super) fn run(
        &mut self,
        m: &Machine<'_>,
        stmt: &SessionStmt,
    ) -> (Result<String, OpError>, Option<String>) {
        let result = match stmt {
            SessionStmt::Open {
                name,
                interface,
                with,
            } => {
                let opened = match with {
                    Opening::Quota { bytes, principal } => self.ledger.open(
                        interface,
                        principal,
                        Backing::Quota(principal.clone()),
                        *bytes,
                    ),
                    Opening::Untyped(path) => self.ledger.open_untyped(m, interface, &path.path),
                };
                match opened {
                    Some(Ok(id)) => {
                        self.ids.insert(name.clone(), id);
                        Ok(format!("session {id}{}", self.usage(id)))
                    }
                    Some(Err(e)) => Err(e),
                    None => Err(OpError::IllegalOperation),
                }
            }
            SessionStmt::Upgrade { name, bytes: b } => match self.ids.get(name) {
                Some(&id) => self
                    .ledger
                    .upgrade(id, *b)
                    .map(|()| format!("quota raised by {}{}", bytes(*b), self.usage(id))),
                None => Err(OpError::FailedLookup { source: 0 }),
            },
            SessionStmt::Close { name } => match self.ids.get(name) {
                Some(&id) => {
                    let used = self.ledger.open.get(&id).map_or(0, |s| s.used());
                    self.ledger.close(id).map(|quota| {
                        format!("{} returned, {} reclaimed", bytes(quota), bytes(used))
                    })
                }
                None => Err(OpError::FailedLookup { source: 0 }),
            },
            SessionStmt::Request {
                name,
                interface,
                method,
                args,
                handles,
            } => match self.ids.get(name) {
                Some(&id) => {
                    let values: Vec<u64> = args
                        .iter()
                        .map(|a| match a {
                            Arg::Number(v) => *v,
                            // A handle never bound (its request failed) is
                            // no handle: 0.
                            Arg::Handle(h) => self.handles.get(h).copied().unwrap_or(0),
                            Arg::Typed(t) => t.word,
                        })
                        .collect();
                    // The decoder refuses the first argument its type does
                    // not take, before the server runs.
                    let refused = args
                        .iter()
                        .position(|a| matches!(a, Arg::Typed(t) if !t.fits));
                    match refused.map(|index| OpError::InvalidArgument {
                        index: index as u64,
                    }) {
                        Some(e) => Err(e),
                        None => match self.ledger.call(id, interface, method, &values) {
                            Some(Ok(out)) => {
                                for (name, (_, handle)) in handles.iter().zip(&out.handles) {
                                    self.handles.insert(name.clone(), *handle);
                                }
                                let mut parts = Vec::new();
                                if out.server_paid > 0 {
                                    parts.push(format!(
                                        "the server pays up to {}",
                                        bytes(out.server_paid)
                                    ));
                                }
                                if out.call_bytes > 0 {
                                    parts.push(format!("{} for the call", bytes(out.call_bytes)));
                                }
                                if out.handed_bytes > 0 {
                                    parts.push(format!("{} handed out", bytes(out.handed_bytes)));
                                }
                                if out.kept_bytes > 0 {
                                    parts.push(format!("{} kept", bytes(out.kept_bytes)));
                                }
                                if out.refunded > 0 {
                                    parts.push(format!("{} refunded", bytes(out.refunded)));
                                }
                                if parts.is_empty() {
                                    parts.push("nothing charged".to_string());
                                }
                                Ok(format!("{}{}", parts.join(", "), self.usage(id)))
                            }
                            Some(Err(e)) => Err(e),
                            None => Err(OpError::IllegalOperation),
                        },
                    }
                }
                None => Err(OpError::FailedLookup { source: 0 }),
            },
        };
        let why = match (&result, self.ledger.why.take()) {
            (Err(_), Some(why)) => Some(explain(stmt, &why)),
            _ => None,
        };
        (result, why)
    }

    /// Closes the sessions whose donated Untyped is gone or was revoked
    /// (`revoked`: the cap a revoke ran on): a line for each.
    pub(super) fn reap(&mut self, m: &Machine<'_>, revoked: Option<NodeId>, out: &mut String) {
        for id in self.ledger.reap(m, revoked) {
            let name = self
                .ids
                .iter()
                .find(|(_, v)| **v == id)
                .map_or(String::new(), |(k, _)| k.clone());
            writeln!(
                out,
                "      closes session `{name}`: its donated Untyped was revoked"
            )
            .expect("a String");
        }
    }

    /// The sessions section of the report: each open session, and the
    /// invariants.
    pub(super) fn report(&self, spec: &Spec, out: &mut String) {
        if self.ids.is_empty() {
            return;
        }
        out.push_str("\nsessions\n");
        for (name, id) in &self.ids {
            let Some(s) = self.ledger.open.get(id) else {
                writeln!(out, "  {name}: closed").expect("a String");
                continue;
            };
            writeln!(
                out,
                "  {name}: {} by {}, quota {}, used {} ({} own, {} kept, {} handed out in {} handle(s))",
                spec.interfaces[s.interface].name,
                s.principal,
                bytes(s.quota),
                bytes(s.used()),
                bytes(s.own),
                bytes(s.kept),
                bytes(s.handed.values().map(|h| h.bytes).sum()),
                s.handed.len()
            )
            .expect("a String");
        }
        writeln!(
            out,
            "  the server holds {} for its clients: {}",
            bytes(self.ledger.held),
            if self.ledger.balanced() {
                "the sum of the sessions' charges"
            } else {
                "NOT the sum of the sessions' charges"
            }
        )
        .expect("a String");
        writeln!(
            out,
            "  the server's own memory spent on clients, at most (`server_pays` bounds): {}",
            bytes(self.ledger.server_own)
        )
        .expect("a String");
    }
}

fn explain(stmt: &SessionStmt, why: &SessionWhy) -> String {
    match why {
        SessionWhy::NoSession => "the interface has no session".to_string(),
        SessionWhy::NotOpen(_) => "the session is closed".to_string(),
        SessionWhy::NotHandedOut(i) => match stmt {
            SessionStmt::Request { method, .. } => format!(
                "argument {i} of `{method}` is nothing this session holds from the method its `refunds` names"
            ),
            _ => format!("argument {i} is no handle of this session"),
        },
        SessionWhy::BelowMinimum { donated, minimum } => format!(
            "the donation of {} is below the session's least quota, {}",
            bytes(*donated),
            bytes(*minimum)
        ),
        SessionWhy::QuotaExhausted { charge, available } => format!(
            "the call's charge, {}, does not fit what is left of the session's quota, {}",
            bytes(*charge),
            bytes(*available)
        ),
    }
}
