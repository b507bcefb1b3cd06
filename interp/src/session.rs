//! Sessions: what a server keeps for its clients beyond a call, and who
//! pays for it (docs/language.md, "Sessions").
//!
//! A session of an interface with a `session` block is opened with a
//! donation of at least the least quota: a byte quota paid by a principal,
//! or an Untyped cap whose free bytes are the quota (revoking or deleting
//! it closes the session). Its `keeps` is charged when it opens. A call of a
//! charging method is refused with `OutOfBudget { needed }`, `needed` the
//! call's charge for its actual arguments, when the charge does not fit
//! what is left of the quota; otherwise what it allocates for the call is
//! charged and refunded when it returns, what it hands out `for` a result
//! becomes a *handle* charged until a `refunds` method takes it back, and
//! what it keeps stays charged until the session closes. Closing refunds
//! everything and returns the quota.
//!
//! The ledger counts bytes: the objects themselves are the server's
//! business. It keeps, independently of the sessions, what the server holds
//! for its clients and what it spent of its own (`server_pays` methods), so
//! the invariants "the sum of the sessions' charges is what the server
//! holds for clients" and "no client changes the server's own memory except
//! through `server_pays`" can be checked after every operation.

use std::collections::BTreeMap;

use super::{Machine, NodeId, OpError, SlotPath};
use capc_dsl::model::{Charge, Method, MethodSet, Spec};

/// A session's number.
pub type SessionId = u64;

/// What backs a session's quota.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backing {
    /// A byte quota paid by this principal.
    Quota(String),
    /// The donated Untyped: the cap's node, held by the server.
    Untyped(NodeId),
}

/// Something a call handed out, charged to its session until it is taken
/// back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handed {
    /// The index of the method that handed it out.
    pub method: usize,
    /// The index of that method's result it was handed out with.
    pub result: usize,
    /// Bytes charged for it.
    pub bytes: u64,
}

/// One open session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The index of its interface in the spec.
    pub interface: usize,
    /// Who pays: the principal of a quota, or the owner of the Untyped.
    pub principal: String,
    /// What backs the quota.
    pub backing: Backing,
    /// Bytes donated, upgrades included.
    pub quota: u64,
    /// Bytes charged for the session itself (`keeps` in its block).
    pub own: u64,
    /// Bytes kept until the session closes (`keeps N;` in methods).
    pub kept: u64,
    /// What its calls handed out, by handle.
    pub handed: BTreeMap<u64, Handed>,
}

impl Session {
    /// Bytes charged to the session now.
    pub fn used(&self) -> u64 {
        self.handed
            .values()
            .map(|h| h.bytes)
            .fold(self.own.saturating_add(self.kept), u64::saturating_add)
    }

    /// Bytes of the quota not charged.
    pub fn available(&self) -> u64 {
        self.quota.saturating_sub(self.used())
    }
}

/// Why a session operation was refused, when the error alone does not say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionWhy {
    /// The interface has no `session` block.
    NoSession,
    /// No open session has this number.
    NotOpen(SessionId),
    /// The argument at this index is no handle this session holds from the
    /// method the refund names.
    NotHandedOut(usize),
    /// The donation is below the least quota.
    BelowMinimum {
        /// Bytes donated.
        donated: u64,
        /// The least quota.
        minimum: u64,
    },
    /// The call's charge does not fit what is left of the quota.
    QuotaExhausted {
        /// The call's charge.
        charge: u64,
        /// What was left.
        available: u64,
    },
}

/// What one call did to its session.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CallOutcome {
    /// Handles of what it handed out, one per result charged `for`, in
    /// result order: (result index, handle).
    pub handles: Vec<(usize, u64)>,
    /// Bytes charged for the call only (refunded as it returned).
    pub call_bytes: u64,
    /// Bytes charged for what it handed out.
    pub handed_bytes: u64,
    /// Bytes kept until the session closes.
    pub kept_bytes: u64,
    /// Bytes refunded for what it took back.
    pub refunded: u64,
    /// Bytes of the server's own memory it used (`server_pays`).
    pub server_paid: u64,
}

/// The sessions of every session interface of a spec, and what the server
/// holds.
#[derive(Clone, Debug)]
pub struct Sessions<'s> {
    spec: &'s Spec,
    /// Open sessions by number.
    pub open: BTreeMap<SessionId, Session>,
    next: SessionId,
    next_handle: u64,
    /// Bytes the server holds for its clients, counted by every charge and
    /// refund as it happens (not from the sessions).
    pub held: u64,
    /// Bytes of its own memory the server may have spent on server-paid
    /// calls: the sum of their `server_pays` bounds.
    pub server_own: u64,
    /// Why the last refused operation was refused.
    pub why: Option<SessionWhy>,
}

impl<'s> Sessions<'s> {
    /// No sessions yet.
    pub fn new(spec: &'s Spec) -> Sessions<'s> {
        Sessions {
            spec,
            open: BTreeMap::new(),
            next: 1,
            next_handle: 1,
            held: 0,
            server_own: 0,
            why: None,
        }
    }

    fn refuse<T>(&mut self, why: SessionWhy, error: OpError) -> Result<T, OpError> {
        self.why = Some(why);
        Err(error)
    }

    fn interface_index(&self, interface: &str) -> Option<usize> {
        self.spec
            .interfaces
            .iter()
            .position(|i| i.name == interface)
    }

    /// Opens a session of `interface` with `bytes` donated as `backing`.
    /// `None` when the spec has no such interface; `IllegalOperation` for
    /// an interface without a session or a backing of the wrong kind,
    /// `OutOfBudget { needed }` (the least quota) for too small a donation.
    pub fn open(
        &mut self,
        interface: &str,
        principal: &str,
        backing: Backing,
        bytes: u64,
    ) -> Option<Result<SessionId, OpError>> {
        self.why = None;
        let index = self.interface_index(interface)?;
        let Some(session) = &self.spec.interfaces[index].session else {
            return Some(self.refuse(SessionWhy::NoSession, OpError::IllegalOperation));
        };
        let untyped = matches!(session.kind, capc_dsl::model::DonationKind::Untyped(_));
        if untyped != matches!(backing, Backing::Untyped(_)) {
            return Some(Err(OpError::IllegalOperation));
        }
        if bytes < session.min_bytes {
            let minimum = session.min_bytes;
            return Some(self.refuse(
                SessionWhy::BelowMinimum {
                    donated: bytes,
                    minimum,
                },
                OpError::OutOfBudget { needed: minimum },
            ));
        }
        let id = self.next;
        self.next += 1;
        self.held += session.keeps;
        self.open.insert(
            id,
            Session {
                interface: index,
                principal: principal.to_string(),
                backing,
                quota: bytes,
                own: session.keeps,
                kept: 0,
                handed: BTreeMap::new(),
            },
        );
        Some(Ok(id))
    }

    /// Opens a session backed by the Untyped at `path`: its free bytes are
    /// the quota, its owner pays. `FailedLookup { source: 1 }` for an empty
    /// or unresolved slot, `IllegalOperation` for a cap of another type.
    pub fn open_untyped(
        &mut self,
        machine: &Machine<'_>,
        interface: &str,
        path: &SlotPath,
    ) -> Option<Result<SessionId, OpError>> {
        let index = self.interface_index(interface)?;
        let wanted = match self.spec.interfaces[index]
            .session
            .as_ref()
            .map(|s| &s.kind)
        {
            Some(capc_dsl::model::DonationKind::Untyped(cap)) => *cap,
            _ => return Some(Err(OpError::IllegalOperation)),
        };
        let Some(id) = machine.resolve(path).and_then(|s| machine.id_at(s)) else {
            return Some(Err(OpError::FailedLookup { source: 1 }));
        };
        let cap = &machine.nodes[&id].cap;
        if cap.cap_type != wanted || !machine.is_memory(cap) {
            return Some(Err(OpError::IllegalOperation));
        }
        let (_, size) = machine.region(cap)?;
        let free = if machine.children(id).is_empty() {
            size
        } else {
            size - cap.watermark.min(size)
        };
        let principal = machine.principal_of(id).unwrap_or_default();
        self.open(interface, &principal, Backing::Untyped(id), free)
    }

    /// Adds `bytes` to session `id`'s quota.
    pub fn upgrade(&mut self, id: SessionId, bytes: u64) -> Result<(), OpError> {
        self.why = None;
        let Some(s) = self.open.get_mut(&id) else {
            return self.refuse(SessionWhy::NotOpen(id), OpError::FailedLookup { source: 0 });
        };
        match s.quota.checked_add(bytes) {
            Some(q) => {
                s.quota = q;
                Ok(())
            }
            None => Err(OpError::RangeError {
                min: 0,
                max: u64::MAX - s.quota,
            }),
        }
    }

    /// Closes session `id`: everything it holds is refunded, and its quota
    /// returns to its client. Returns the quota.
    pub fn close(&mut self, id: SessionId) -> Result<u64, OpError> {
        self.why = None;
        let Some(s) = self.open.remove(&id) else {
            return self.refuse(SessionWhy::NotOpen(id), OpError::FailedLookup { source: 0 });
        };
        self.held -= s.used();
        Ok(s.quota)
    }

    /// Closes every session whose donated Untyped is gone (deleted, or
    /// revoked with an ancestor) or was itself revoked (`revoked`, the cap
    /// a revoke just ran on): the sessions closed, in order.
    pub fn reap(&mut self, machine: &Machine<'_>, revoked: Option<NodeId>) -> Vec<SessionId> {
        let gone: Vec<SessionId> = self
            .open
            .iter()
            .filter(|(_, s)| match s.backing {
                Backing::Untyped(n) => !machine.nodes.contains_key(&n) || revoked == Some(n),
                Backing::Quota(_) => false,
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &gone {
            let _ = self.close(*id);
        }
        gone
    }

    /// Calls `interface.method` in session `id` with the integer
    /// arguments `args` (by parameter index; handles for the parameters a
    /// refund takes back, 0 for other parameters). `None` when the spec has
    /// no such method.
    ///
    /// A server-paid method charges nothing and counts its bound against
    /// the server's own memory. Otherwise: refunds are checked first (each
    /// must name a handle this session holds from the named method and
    /// result, else `InvalidArgument { index }`); then the charge for the
    /// actual arguments must fit what is left (`OutOfBudget { needed }`);
    /// then what it hands out becomes new handles, what it keeps is
    /// charged, and what it takes back is refunded.
    pub fn call(
        &mut self,
        id: SessionId,
        interface: &str,
        method: &str,
        args: &[u64],
    ) -> Option<Result<CallOutcome, OpError>> {
        self.why = None;
        let index = self.interface_index(interface)?;
        let set: &'s MethodSet = &self.spec.interfaces[index];
        let mi = set.methods.iter().position(|m| m.name == method)?;
        let m: &'s Method = &set.methods[mi];
        let Some(session) = self.open.get(&id) else {
            return Some(self.refuse(SessionWhy::NotOpen(id), OpError::FailedLookup { source: 0 }));
        };
        if session.interface != index {
            return Some(Err(OpError::IllegalOperation));
        }
        // The decoder refuses an argument outside its parameter's range.
        for (i, p) in m.params.iter().enumerate() {
            let v = args.get(i).copied().unwrap_or(0);
            if let Some((lo, hi)) = p.range
                && !(lo..=hi).contains(&v)
            {
                return Some(Err(OpError::InvalidArgument { index: i as u64 }));
            }
        }
        if let Some(bound) = m.server_pays {
            self.server_own = self.server_own.saturating_add(bound);
            return Some(Ok(CallOutcome {
                server_paid: bound,
                ..CallOutcome::default()
            }));
        }
        let Some(charges) = &m.charges else {
            return Some(Ok(CallOutcome::default()));
        };
        // Refunds: every handle must be this session's, from the method
        // and result the clause names.
        let mut refunded = 0u64;
        let mut taken = Vec::new();
        for r in &charges.refunds {
            let handle = args.get(r.param).copied().unwrap_or(0);
            match session.handed.get(&handle) {
                Some(h) if r.from.contains(&(h.method, h.result)) && !taken.contains(&handle) => {
                    refunded += h.bytes;
                    taken.push(handle);
                }
                _ => {
                    return Some(self.refuse(
                        SessionWhy::NotHandedOut(r.param),
                        OpError::InvalidArgument {
                            index: r.param as u64,
                        },
                    ));
                }
            }
        }
        let size = |object: capc_dsl::model::ObjectId, arg: u64| {
            self.spec.objects[object.index()].size.size_of(arg)
        };
        let call_bytes = charges.bytes(args, Charge::for_the_call, size);
        let kept_bytes = charges.bytes(args, Charge::until_close, size);
        let mut per_result: BTreeMap<usize, u64> = BTreeMap::new();
        for c in &charges.charges {
            if let Some(r) = c.handed_to {
                let e = per_result.entry(r).or_insert(0);
                *e = e.saturating_add(c.bytes(args, &size));
            }
        }
        let handed_bytes = per_result.values().fold(0u64, |a, b| a.saturating_add(*b));
        let charge = call_bytes
            .saturating_add(handed_bytes)
            .saturating_add(kept_bytes);
        let available = session.available();
        if charge > available {
            return Some(self.refuse(
                SessionWhy::QuotaExhausted { charge, available },
                OpError::OutOfBudget { needed: charge },
            ));
        }
        let session = self.open.get_mut(&id).expect("open");
        for h in &taken {
            session.handed.remove(h);
        }
        let mut handles = Vec::new();
        for (result, bytes) in per_result {
            let handle = self.next_handle;
            self.next_handle += 1;
            session.handed.insert(
                handle,
                Handed {
                    method: mi,
                    result,
                    bytes,
                },
            );
            handles.push((result, handle));
        }
        session.kept += kept_bytes;
        self.held = self.held + handed_bytes + kept_bytes - refunded;
        Some(Ok(CallOutcome {
            handles,
            call_bytes,
            handed_bytes,
            kept_bytes,
            refunded,
            server_paid: 0,
        }))
    }

    /// The invariant: the sum of every open session's charges is what the
    /// server holds for its clients.
    pub fn balanced(&self) -> bool {
        self.open
            .values()
            .map(Session::used)
            .fold(0u64, u64::saturating_add)
            == self.held
    }

    /// What each principal has donated to open sessions and what is
    /// charged to them now: principal to (quota, used).
    pub fn by_principal(&self) -> BTreeMap<String, (u64, u64)> {
        let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for s in self.open.values() {
            let e = out.entry(s.principal.clone()).or_insert((0, 0));
            e.0 = e.0.saturating_add(s.quota);
            e.1 = e.1.saturating_add(s.used());
        }
        out
    }
}
