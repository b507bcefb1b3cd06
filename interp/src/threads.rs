//! Threads and IPC objects: what the spec's `stop_thread` and
//! `cancel_waiters` finalisers act on, run with the demo kernel's
//! semantics (seL4 before MCS, kernel-demo/kernel/src/ipc.rs).
//!
//! - An object whose type finalises with `stop_thread` is a thread: it is
//!   inactive when made, running once resumed, or blocked: queued on an
//!   endpoint to send (with the badge and rights of the cap it sent
//!   through, and whether it calls) or to receive, waiting for the reply
//!   to a call, or waiting on a notification.
//! - An object whose type finalises with `cancel_waiters` holds a queue of
//!   threads. Its caps carry messages (an endpoint) if their type may carry
//!   the `grant` right; otherwise it is a notification: a word of signalled
//!   bits. The spec has no other word for the difference.
//! - A call through a cap with `grant` or `grant_reply` gives its receiver
//!   the one right to reply (seL4's reply cap in the caller slot), which
//!   goes when it is used, when the receiver takes another call, and when
//!   the caller's wait is cancelled; without either right the caller is
//!   left inactive. The reply may carry caps iff the receiver's cap had
//!   `grant`. Caps themselves are not transferred here: the events say who
//!   got what ([`IpcEvent`]).
//! - Finalisation: the last cap with a badge to an endpoint restarts, with
//!   an error, the sends queued with that badge; the last cap to an IPC
//!   object restarts all its waiters; the last cap to a thread stops it (it
//!   leaves any queue, the right to reply to it and the one it holds go).
//!
//! Touches only the machine's threads, IPC objects and event log.

use std::collections::VecDeque;

use super::{Cap, Machine, OpError, SlotPath};
use capc_dsl::model::{CapId, Finaliser, ObjectId, Role};

/// What a thread waiting to send will send.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pending {
    /// The badge of the cap it sent through.
    pub badge: u64,
    /// The cap had `grant`: caps may go along.
    pub grant: bool,
    /// A call through a cap with `grant_reply`.
    pub grant_reply: bool,
    /// A call: the sender waits for the reply.
    pub call: bool,
}

/// Where a thread is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum ThreadState {
    /// Made, or suspended, or left without a reply right by a call.
    #[default]
    Inactive,
    /// Runnable: it may make system calls.
    Running,
    /// Queued on the endpoint at `endpoint` to send `pending`.
    Sending {
        /// The endpoint's address.
        endpoint: u64,
        /// What it sends.
        pending: Pending,
    },
    /// Queued on the endpoint at `endpoint` to receive, through a cap with
    /// `grant` or not.
    Receiving {
        /// The endpoint's address.
        endpoint: u64,
        /// The cap had `grant`: a call it takes may be answered with caps.
        grant: bool,
    },
    /// Waiting for the reply to a call.
    AwaitingReply,
    /// Queued on the notification at `notification`.
    Waiting {
        /// The notification's address.
        notification: u64,
    },
}

/// A thread. The right to reply it holds is a reply cap in its caller
/// slot (see [`Machine::reply_cap`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Thread {
    /// Where it is.
    pub state: ThreadState,
    /// While it awaits a reply: the thread whose caller slot holds the
    /// reply cap naming it.
    pub reply_from: Option<u64>,
}

/// What a thread's IPC buffer names for cap transfer (seL4's extra caps
/// and receive slot), as paths from the root CNode, looked up when a
/// message is delivered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpcBuffer {
    /// The cap a message this thread sends (or replies) carries.
    pub send: Option<Vec<u64>>,
    /// The empty slot a cap this thread receives goes into.
    pub receive: Option<Vec<u64>>,
}

/// Which protocol an IPC object speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum IpcKind {
    /// Messages: one queue of senders or of receivers.
    Endpoint,
    /// Signals: a word of bits and a queue of waiters.
    Notification,
}

/// An endpoint or a notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpcObject {
    /// Its object type.
    pub object_type: ObjectId,
    /// Endpoint or notification.
    pub kind: IpcKind,
    /// The threads queued, first to be served first.
    pub queue: VecDeque<u64>,
    /// Bits signalled and not yet taken (notifications).
    pub word: u64,
    /// A signal nobody waited for is pending (notifications; seL4's
    /// `NtfnState_Active`), even one of badge 0, whose `word` is 0: the next
    /// wait takes `word` and clears it.
    pub active: bool,
}

/// What IPC did, in order: who got what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpcEvent {
    /// `to` received the message of `from` (a reply too: badge 0), with
    /// caps iff `grant`.
    Message {
        /// The sender (or replier).
        from: u64,
        /// The receiver (or caller).
        to: u64,
        /// The badge the receiver sees.
        badge: u64,
        /// Caps may go along.
        grant: bool,
        /// How many caps went along (copied into the receiver's receive
        /// slot).
        caps: u64,
    },
    /// `to` took the bits `word` of a notification.
    Signal {
        /// The waiter.
        to: u64,
        /// The bits.
        word: u64,
    },
    /// `thread`'s wait ended with an error: what it waited on is gone, or
    /// the badge it sent with was.
    Restarted {
        /// The thread.
        thread: u64,
    },
}

impl Machine<'_> {
    /// Live threads, by the address of their object.
    pub fn threads(&self) -> &std::collections::BTreeMap<u64, Thread> {
        &self.threads
    }

    /// Live endpoints and notifications, by address.
    pub fn ipc_objects(&self) -> &std::collections::BTreeMap<u64, IpcObject> {
        &self.ipc
    }

    /// Everything IPC did so far, in order.
    pub fn ipc_events(&self) -> &[IpcEvent] {
        &self.ipc_events
    }

    /// Whether objects of `object` are threads (`finalise = stop_thread`).
    pub fn is_thread_object(&self, object: ObjectId) -> bool {
        self.spec.objects[object.index()]
            .finalisers
            .contains(&Finaliser::StopThread)
    }

    /// The protocol of objects of `object`, if they are IPC objects
    /// (`finalise = cancel_waiters`): an endpoint if its cap may carry
    /// `grant`.
    pub fn ipc_kind(&self, object: ObjectId) -> Option<IpcKind> {
        let o = &self.spec.objects[object.index()];
        if !o.finalisers.contains(&Finaliser::CancelWaiters) {
            return None;
        }
        let grant = super::rights_mask(self.spec, ["grant"]).unwrap_or(0);
        let cap = self.spec.caps.iter().find(|c| c.object == Some(object));
        let carries =
            cap.is_some_and(|c| grant != 0 && c.rights.iter().any(|r| 1u64 << r.0 == grant));
        Some(if carries {
            IpcKind::Endpoint
        } else {
            IpcKind::Notification
        })
    }

    /// A new object: a thread starts inactive, an IPC object empty.
    pub(crate) fn made_ipc(&mut self, cap: &Cap) {
        let Some(object) = self.object_of(cap) else {
            return;
        };
        if self.is_thread_object(object) {
            self.threads.insert(cap.object, Thread::default());
        }
        if let Some(kind) = self.ipc_kind(object) {
            self.ipc.insert(
                cap.object,
                IpcObject {
                    object_type: object,
                    kind,
                    queue: VecDeque::new(),
                    word: 0,
                    active: false,
                },
            );
        }
    }

    /// What removing `cap` does to threads and IPC objects (called once the
    /// caps in the object's slots are gone, as the kernel does): `last`: no
    /// other cap names its object; `last_with_badge`: no other cap names it
    /// with the same nonzero badge.
    pub(crate) fn finalise_ipc(&mut self, cap: &Cap, last: bool, last_with_badge: bool) {
        // A reply cap went (used, dropped, or with its holder's slots): its
        // caller keeps waiting, as in seL4, with nobody to answer it.
        if let Some(caller) = self.reply_cap_caller(cap)
            && let Some(c) = self.threads.get_mut(&caller)
        {
            c.reply_from = None;
        }
        let address = cap.object;
        let kind = self.ipc.get(&address).map(|o| o.kind);
        if last_with_badge && kind == Some(IpcKind::Endpoint) {
            self.cancel_badged_sends(address, cap.badge);
        }
        if !last || self.region(cap).is_none() {
            return;
        }
        let Some(object) = self.object_of(cap) else {
            return;
        };
        for finaliser in self.spec.objects[object.index()].finalisers.clone() {
            match finaliser {
                Finaliser::CancelWaiters if kind.is_some() => {
                    self.cancel_all(address);
                    self.ipc.remove(&address);
                }
                Finaliser::StopThread if self.threads.contains_key(&address) => {
                    self.cancel(address);
                    self.drop_reply_right(address);
                    self.threads.remove(&address);
                    self.ipc_buffers.remove(&address);
                }
                _ => {}
            }
        }
    }

    // ----- the operations -----

    /// The thread the cap at `tcb` names: `FailedLookup { source: 0 }` if
    /// no cap is there, `IllegalOperation` if it names no live thread.
    fn thread_named(&self, tcb: &SlotPath) -> Result<u64, OpError> {
        let cap = &self
            .resolve(tcb)
            .and_then(|s| self.node_at(s))
            .ok_or(OpError::FailedLookup { source: 0 })?
            .cap;
        let ok = self
            .object_of(cap)
            .is_some_and(|o| self.is_thread_object(o))
            && self.threads.contains_key(&cap.object);
        ok.then_some(cap.object).ok_or(OpError::IllegalOperation)
    }

    /// The thread at `tcb`, which must be running to make a system call
    /// (`IllegalOperation` otherwise).
    fn running(&self, tcb: &SlotPath) -> Result<u64, OpError> {
        let at = self.thread_named(tcb)?;
        (self.threads[&at].state == ThreadState::Running)
            .then_some(at)
            .ok_or(OpError::IllegalOperation)
    }

    /// The IPC object the cap at `path` names and the cap, if it carries
    /// the right `right`: `FailedLookup { source: 1 }` if no cap is there,
    /// `IllegalOperation` otherwise.
    fn ipc_cap(&self, path: &SlotPath, right: &str) -> Result<(u64, IpcKind, Cap), OpError> {
        let cap = self
            .resolve(path)
            .and_then(|s| self.node_at(s))
            .ok_or(OpError::FailedLookup { source: 1 })?
            .cap
            .clone();
        let mask = super::rights_mask(self.spec, [right]).unwrap_or(0);
        let kind = self.ipc.get(&cap.object).map(|o| o.kind);
        match (self.object_of(&cap).and_then(|o| self.ipc_kind(o)), kind) {
            (Some(k), Some(live)) if k == live && cap.rights & mask == mask && mask != 0 => {
                Ok((cap.object, k, cap))
            }
            _ => Err(OpError::IllegalOperation),
        }
    }

    fn has_right(&self, cap: &Cap, right: &str) -> bool {
        super::rights_mask(self.spec, [right]).is_some_and(|m| m != 0 && cap.rights & m == m)
    }

    fn thread_mut(&mut self, at: u64) -> &mut Thread {
        self.threads.get_mut(&at).expect("a live thread")
    }

    /// Resumes the thread the cap at `tcb` names: an inactive thread runs;
    /// any other is left as it is. `IllegalOperation` if a `#[required]`
    /// slot of its object is empty.
    pub fn resume(&mut self, tcb: &SlotPath) -> Result<(), OpError> {
        let at = self.thread_named(tcb)?;
        // A thread runs only with a cap in each `#[required]` slot (the
        // kernel's address space: a thread without one would run on none).
        let object = self.slot_owners().get(&at).copied();
        if let Some(object) = object {
            let slots = &self.spec.objects[object.index()].slots;
            let table = super::CNodeId::Object(at);
            let missing = slots.iter().enumerate().any(|(index, slot)| {
                slot.required
                    && self
                        .id_at(super::Slot {
                            cnode: table,
                            index: index as u64,
                        })
                        .is_none()
            });
            if missing {
                return Err(OpError::IllegalOperation);
            }
        }
        let t = self.thread_mut(at);
        if t.state == ThreadState::Inactive {
            t.state = ThreadState::Running;
        }
        Ok(())
    }

    /// Suspends the thread the cap at `tcb` names: its wait is cancelled
    /// (it leaves any queue; waiting for a reply, the right to give it
    /// goes), and it is inactive.
    pub fn suspend(&mut self, tcb: &SlotPath) -> Result<(), OpError> {
        let at = self.thread_named(tcb)?;
        self.cancel(at);
        self.thread_mut(at).state = ThreadState::Inactive;
        Ok(())
    }

    /// The running thread at `tcb` sends (or, with `call`, calls) through
    /// the cap at `cap` (it needs `write`): on an endpoint a waiting
    /// receiver gets the message, or the sender queues; on a notification
    /// a send signals the cap's badge (a call there is `IllegalOperation`).
    pub fn send(&mut self, tcb: &SlotPath, cap: &SlotPath, call: bool) -> Result<(), OpError> {
        let sender = self.running(tcb)?;
        let (at, kind, cap) = self.ipc_cap(cap, "write")?;
        if kind == IpcKind::Notification {
            if call {
                return Err(OpError::IllegalOperation);
            }
            self.signal(at, cap.badge);
            return Ok(());
        }
        let pending = Pending {
            badge: cap.badge,
            grant: self.has_right(&cap, "grant"),
            grant_reply: call && self.has_right(&cap, "grant_reply"),
            call,
        };
        let front = self.ipc[&at].queue.front().copied();
        if let Some(receiver) = front
            && let ThreadState::Receiving { grant, .. } = self.threads[&receiver].state
        {
            self.ipc.get_mut(&at).expect("live").queue.pop_front();
            self.message(sender, receiver, pending.badge, pending.grant);
            self.thread_mut(receiver).state = ThreadState::Running;
            if call {
                self.await_reply(sender, receiver, pending, grant);
            }
            return Ok(());
        }
        self.ipc.get_mut(&at).expect("live").queue.push_back(sender);
        self.thread_mut(sender).state = ThreadState::Sending {
            endpoint: at,
            pending,
        };
        Ok(())
    }

    /// The running thread at `tcb` receives through the cap at `cap` (it
    /// needs `read`): on an endpoint the first queued sender's message (a
    /// caller then awaits this thread's reply, any other sender goes on),
    /// or it queues; on a notification the bits signalled, or it queues.
    pub fn recv(&mut self, tcb: &SlotPath, cap: &SlotPath) -> Result<(), OpError> {
        let receiver = self.running(tcb)?;
        let (at, kind, cap) = self.ipc_cap(cap, "read")?;
        if kind == IpcKind::Notification {
            let n = self.ipc.get_mut(&at).expect("live");
            if std::mem::take(&mut n.active) {
                let word = std::mem::take(&mut n.word);
                self.ipc_events
                    .push(IpcEvent::Signal { to: receiver, word });
            } else {
                n.queue.push_back(receiver);
                self.thread_mut(receiver).state = ThreadState::Waiting { notification: at };
            }
            return Ok(());
        }
        let grant = self.has_right(&cap, "grant");
        let front = self.ipc[&at].queue.front().copied();
        if let Some(sender) = front
            && let ThreadState::Sending { pending, .. } = self.threads[&sender].state
        {
            self.ipc.get_mut(&at).expect("live").queue.pop_front();
            self.message(sender, receiver, pending.badge, pending.grant);
            if pending.call {
                self.await_reply(sender, receiver, pending, grant);
            } else {
                self.thread_mut(sender).state = ThreadState::Running;
            }
            return Ok(());
        }
        self.ipc
            .get_mut(&at)
            .expect("live")
            .queue
            .push_back(receiver);
        self.thread_mut(receiver).state = ThreadState::Receiving {
            endpoint: at,
            grant,
        };
        Ok(())
    }

    /// The running thread at `tcb` answers the call it took last, if the
    /// caller still awaits this very reply; the right is used up either
    /// way. `IllegalOperation` if there was nothing to answer: no right, or
    /// one whose caller no longer waits for it.
    pub fn reply(&mut self, tcb: &SlotPath) -> Result<(), OpError> {
        let replier = self.running(tcb)?;
        let Some((caller, grant)) = self.reply_cap(replier) else {
            return Err(OpError::IllegalOperation);
        };
        self.drop_reply_right(replier);
        let c = self.thread_mut(caller);
        if c.state != ThreadState::AwaitingReply {
            return Err(OpError::IllegalOperation);
        }
        c.state = ThreadState::Running;
        self.message(replier, caller, 0, grant);
        Ok(())
    }

    /// Sets what the IPC buffer of the thread the cap at `tcb` names says
    /// (a write to the buffer: no system call, so no check but the thread).
    pub fn set_ipc_buffer(&mut self, tcb: &SlotPath, buffer: IpcBuffer) -> Result<(), OpError> {
        let at = self.thread_named(tcb)?;
        self.ipc_buffers.insert(at, buffer);
        Ok(())
    }

    /// `from`'s message reaches `to` with `badge`; with `grant`, the cap
    /// `from`'s buffer names goes into the slot `to`'s names, as a copy
    /// does (seL4's transferCaps derives it), if both are there and the
    /// copy may be made; otherwise no cap goes.
    fn message(&mut self, from: u64, to: u64, badge: u64, grant: bool) {
        let source = self.ipc_buffers.get(&from).and_then(|b| b.send.clone());
        let dest = self.ipc_buffers.get(&to).and_then(|b| b.receive.clone());
        let caps = match (grant, source, dest) {
            (true, Some(source), Some(dest)) => {
                // Every right the cap has (the kernel copies with all).
                u64::from(self.copy(&source, &dest, u64::MAX).is_ok())
            }
            _ => 0,
        };
        self.ipc_events.push(IpcEvent::Message {
            from,
            to,
            badge,
            grant,
            caps,
        });
    }

    // ----- the state machine -----

    /// `sender`'s call was taken by `receiver`: it awaits the reply and
    /// `receiver` holds the one right to give it, a reply cap in its caller
    /// slot (replacing any it held), if the sender's cap allowed a reply
    /// and `receiver` has a caller slot; otherwise the sender is inactive.
    fn await_reply(&mut self, sender: u64, receiver: u64, pending: Pending, grant: bool) {
        let slot = self.caller_slot(receiver);
        let (true, Some((slot, reply))) = (pending.grant || pending.grant_reply, slot) else {
            self.thread_mut(sender).state = ThreadState::Inactive;
            return;
        };
        self.drop_reply_right(receiver);
        let mut cap = self.blank_cap(reply);
        let caller = self.spec.caps[reply.index()]
            .field_with(Role::Caller)
            .expect("a reply cap");
        cap.other.insert(caller.name.clone(), sender);
        let grant_bit = super::rights_mask(self.spec, ["grant"]).unwrap_or(0);
        cap.rights = if grant {
            grant_bit & self.valid_rights(reply)
        } else {
            0
        };
        self.add_node(super::Node {
            cap,
            holder: super::Holder::Slot(slot),
            parent: None,
            may_parent: false,
        });
        let s = self.thread_mut(sender);
        s.state = ThreadState::AwaitingReply;
        s.reply_from = Some(receiver);
    }

    /// The caller slot of the thread at `thread` (the owned slot of a reply
    /// cap type) and that type, if its object has one.
    fn caller_slot(&self, thread: u64) -> Option<(super::Slot, CapId)> {
        let object = *self.slot_owners().get(&thread)?;
        let (index, slot) = self.spec.objects[object.index()]
            .slots
            .iter()
            .enumerate()
            .find(|(_, s)| self.spec.caps[s.cap.index()].is_reply())?;
        let slot_at = super::Slot {
            cnode: super::CNodeId::Object(thread),
            index: index as u64,
        };
        Some((slot_at, slot.cap))
    }

    /// The caller `cap` names, if it is a reply cap.
    fn reply_cap_caller(&self, cap: &Cap) -> Option<u64> {
        let field = self.spec.caps[cap.cap_type.index()].field_with(Role::Caller)?;
        Some(self.field_value(cap, field))
    }

    /// The right to reply `holder` holds: the caller its reply cap names,
    /// and whether the reply may carry caps (the cap has `grant`).
    pub fn reply_cap(&self, holder: u64) -> Option<(u64, bool)> {
        let (slot, _) = self.caller_slot(holder)?;
        let cap = &self.node_at(slot)?.cap;
        Some((self.reply_cap_caller(cap)?, self.has_right(cap, "grant")))
    }

    /// `holder` loses its right to reply: the reply cap in its caller slot
    /// is deleted; its caller keeps waiting.
    fn drop_reply_right(&mut self, holder: u64) {
        if let Some(id) = self
            .caller_slot(holder)
            .and_then(|(slot, _)| self.id_at(slot))
        {
            self.ipc_deletions += self.delete_node(id);
        }
    }

    /// Signals the notification at `at` with `badge`: its first waiter
    /// takes the bits (and any kept), or they are kept.
    fn signal(&mut self, at: u64, badge: u64) {
        let n = self.ipc.get_mut(&at).expect("live");
        let Some(waiter) = n.queue.pop_front() else {
            n.word |= badge;
            n.active = true;
            return;
        };
        let word = std::mem::take(&mut n.word) | badge;
        self.thread_mut(waiter).state = ThreadState::Running;
        self.ipc_events.push(IpcEvent::Signal { to: waiter, word });
    }

    /// Ends `thread`'s wait, leaving it inactive: out of the queue it is in;
    /// awaiting a reply, the right to give it goes. A thread that does not
    /// wait is left as it is.
    fn cancel(&mut self, thread: u64) {
        let t = self.threads[&thread];
        let object = match t.state {
            ThreadState::AwaitingReply => {
                if let Some(holder) = t.reply_from
                    && self.threads.contains_key(&holder)
                    && self.reply_cap(holder).is_some_and(|(c, _)| c == thread)
                {
                    self.drop_reply_right(holder);
                }
                let t = self.thread_mut(thread);
                t.reply_from = None;
                t.state = ThreadState::Inactive;
                return;
            }
            ThreadState::Sending { endpoint, .. } | ThreadState::Receiving { endpoint, .. } => {
                endpoint
            }
            ThreadState::Waiting { notification } => notification,
            ThreadState::Inactive | ThreadState::Running => return,
        };
        if let Some(o) = self.ipc.get_mut(&object) {
            o.queue.retain(|q| *q != thread);
        }
        self.thread_mut(thread).state = ThreadState::Inactive;
    }

    /// Cancels `thread`'s wait and restarts it with an error.
    fn restart(&mut self, thread: u64) {
        self.cancel(thread);
        self.thread_mut(thread).state = ThreadState::Running;
        self.ipc_events.push(IpcEvent::Restarted { thread });
    }

    /// Restarts every sender queued on the endpoint at `at` with `badge`;
    /// the others stay queued in order.
    fn cancel_badged_sends(&mut self, at: u64, badge: u64) {
        let queue: Vec<u64> = self.ipc[&at].queue.iter().copied().collect();
        for thread in queue {
            if let ThreadState::Sending { pending, .. } = self.threads[&thread].state
                && pending.badge == badge
            {
                self.restart(thread);
            }
        }
    }

    /// Restarts every thread queued on the object at `at`.
    fn cancel_all(&mut self, at: u64) {
        while let Some(thread) = self.ipc.get_mut(&at).and_then(|o| o.queue.pop_front()) {
            self.restart(thread);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The thread and IPC semantics on kernel.cap, each a few steps: the
    //! behaviours the kernel's host tests in kernel-demo/kernel/src/ipc.rs
    //! state, here through the interpreter's operations (resume, suspend,
    //! send, call, recv, reply, copy, mint, delete).

    use std::sync::OnceLock;

    use super::{IpcEvent, ThreadState};
    use crate::{CNodeId, Machine, OpError, Slot};
    use capc_dsl::model::Spec;

    /// Threads (Tcb objects) in root slots 1..=4.
    const A: u64 = 1;
    const B: u64 = 2;
    const C: u64 = 3;
    const D: u64 = 4;
    /// Endpoints in root slots 8 and 9, their caps with every right.
    const EP: u64 = 8;
    const EP2: u64 = 9;
    /// A notification in root slot 12, its cap with every right.
    const NTFN: u64 = 12;
    /// The PML4 every thread runs in.
    const SPACE: u64 = 13;

    fn spec() -> &'static Spec {
        static SPEC: OnceLock<Spec> = OnceLock::new();
        SPEC.get_or_init(|| {
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            capc_dsl::compile(
                &root.join("kernel-demo/spec/kernel.cap"),
                &capc_dsl::FsLoader,
            )
            .expect("readable")
            .spec
            .expect("kernel.cap checks clean")
        })
    }

    /// A root CNode of 64 slots, an Untyped of 1 MiB in slot 0, four
    /// running threads, two endpoints and a notification.
    fn world() -> Machine<'static> {
        let spec = spec();
        let mut m = Machine::new(spec, 6);
        let mut ut = m.blank_cap(spec.cap("UntypedCap").expect("UntypedCap"));
        ut.object = 0x10_0000;
        ut.size_arg = 20;
        let slot = Slot {
            cnode: CNodeId::Root,
            index: 0,
        };
        m.boot(slot, ut, "boot").expect("an empty slot");
        for (object, offset, count) in [
            ("Tcb", A, 4),
            ("Endpoint", EP, 2),
            ("Notification", NTFN, 1),
            ("Pml4", SPACE, 1),
        ] {
            let object = spec.object_number(spec.object(object).expect("in kernel.cap"));
            m.retype(&[0], object, 0, &[], offset, count)
                .expect("room for the objects");
        }
        // The address space's number, from a pool in slot 61 made from
        // 4 KiB in slot 60.
        let untyped = spec.object_number(spec.object("Untyped").expect("in kernel.cap"));
        m.retype(&[0], untyped, 12, &[], 60, 1).expect("room");
        m.make_pool(&[60], &[61]).expect("a pool");
        assert_eq!(m.assign(&[61], &[SPACE]), Ok(1));
        // Each runs in the one address space (a `#[required]` slot).
        let sources: Vec<Option<Vec<u64>>> = spec.objects
            [spec.object("Tcb").expect("in kernel.cap").index()]
        .slots
        .iter()
        .map(|s| s.required.then(|| vec![SPACE]))
        .collect();
        for t in [A, B, C, D] {
            m.configure(&[t], &sources).expect("an address space");
            m.resume(&[t]).expect("a thread");
        }
        m
    }

    #[test]
    fn a_thread_without_its_required_slots_does_not_run() {
        let spec = spec();
        let mut m = world();
        let tcb = spec.object_number(spec.object("Tcb").expect("in kernel.cap"));
        m.retype(&[0], tcb, 0, &[], 20, 1).expect("room");
        assert_eq!(m.resume(&[20]), Err(OpError::IllegalOperation));
        assert_eq!(m.threads()[&at(&m, 20)].state, ThreadState::Inactive);
    }

    fn rights(names: &[&str]) -> u64 {
        crate::rights_mask(spec(), names.iter().copied()).expect("kernel.cap's rights")
    }

    /// The address of the object whose cap is in root slot `slot`.
    fn at(m: &Machine<'_>, slot: u64) -> u64 {
        m.node_at(Slot {
            cnode: CNodeId::Root,
            index: slot,
        })
        .expect("a cap there")
        .cap
        .object
    }

    fn state(m: &Machine<'_>, thread: u64) -> ThreadState {
        m.threads()[&at(m, thread)].state
    }

    /// Who holds the right to reply (the caller, with caps or not) at
    /// `thread`.
    fn reply_to(m: &Machine<'_>, thread: u64) -> Option<(u64, bool)> {
        m.reply_cap(at(m, thread))
    }

    /// The threads queued on the IPC object in `slot`, by their slots.
    fn queue(m: &Machine<'_>, slot: u64) -> Vec<u64> {
        let by_address = |a: u64| {
            [A, B, C, D].into_iter().find(|t| {
                m.node_at(Slot {
                    cnode: CNodeId::Root,
                    index: *t,
                })
                .is_some_and(|n| n.cap.object == a)
            })
        };
        m.ipc_objects()[&at(m, slot)]
            .queue
            .iter()
            .map(|a| by_address(*a).expect("a thread of the world"))
            .collect()
    }

    fn message(m: &Machine<'_>, from: u64, to: u64, badge: u64, grant: bool) -> IpcEvent {
        IpcEvent::Message {
            from: at(m, from),
            to: at(m, to),
            badge,
            grant,
            caps: 0,
        }
    }

    fn restarted(m: &Machine<'_>, thread: u64) -> IpcEvent {
        IpcEvent::Restarted {
            thread: at(m, thread),
        }
    }

    fn call(m: &mut Machine<'_>, thread: u64, cap: u64) {
        m.send(&[thread], &[cap], true).expect("a call");
    }

    fn send(m: &mut Machine<'_>, thread: u64, cap: u64) {
        m.send(&[thread], &[cap], false).expect("a send");
    }

    fn recv(m: &mut Machine<'_>, thread: u64, cap: u64) {
        m.recv(&[thread], &[cap]).expect("a receive");
    }

    #[test]
    fn a_call_meets_a_waiting_receiver_and_the_reply_wakes_the_caller() {
        let mut m = world();
        recv(&mut m, B, EP);
        assert_eq!(queue(&m, EP), [B]);
        let ep = at(&m, EP);
        assert_eq!(
            state(&m, B),
            ThreadState::Receiving {
                endpoint: ep,
                grant: true
            }
        );
        call(&mut m, A, EP);
        assert_eq!(m.ipc_events(), [message(&m, A, B, 0, true)]);
        assert_eq!(state(&m, B), ThreadState::Running);
        assert_eq!(state(&m, A), ThreadState::AwaitingReply);
        assert_eq!(reply_to(&m, B), Some((at(&m, A), true)));
        assert_eq!(queue(&m, EP), []);
        m.reply(&[B]).expect("B answers A");
        assert_eq!(m.ipc_events()[1], message(&m, B, A, 0, true));
        assert_eq!(state(&m, A), ThreadState::Running);
        assert_eq!(
            m.reply(&[B]),
            Err(OpError::IllegalOperation),
            "one reply per call"
        );
    }

    #[test]
    fn senders_queue_in_order_and_a_plain_send_goes_on() {
        let mut m = world();
        let all = rights(&["read", "write", "grant", "grant_reply"]);
        m.mint(&[EP], &[20], all, 1).expect("badge 1");
        m.mint(&[EP], &[21], all, 3).expect("badge 3");
        send(&mut m, A, 20);
        call(&mut m, C, 21);
        assert_eq!(queue(&m, EP), [A, C]);
        recv(&mut m, B, EP);
        assert_eq!(m.ipc_events(), [message(&m, A, B, 1, true)]);
        assert_eq!(state(&m, A), ThreadState::Running, "a plain send goes on");
        assert_eq!(state(&m, B), ThreadState::Running);
        assert_eq!(queue(&m, EP), [C]);
        recv(&mut m, B, EP);
        assert_eq!(m.ipc_events()[1], message(&m, C, B, 3, true));
        assert_eq!(state(&m, C), ThreadState::AwaitingReply);
        assert_eq!(reply_to(&m, B), Some((at(&m, C), true)));
        recv(&mut m, B, EP);
        assert_eq!(queue(&m, EP), [B], "nobody left to send: B waits");
    }

    #[test]
    fn a_suspended_callers_reply_right_is_gone_and_a_stale_reply_misses_its_next_call() {
        let mut m = world();
        recv(&mut m, B, EP);
        call(&mut m, A, EP);
        assert_eq!(m.threads()[&at(&m, A)].reply_from, Some(at(&m, B)));
        m.suspend(&[A]).expect("a thread");
        assert_eq!(state(&m, A), ThreadState::Inactive);
        assert_eq!(reply_to(&m, B), None, "the right went with A's wait");
        // Resumed, A calls C; B's old reply must not reach it.
        m.resume(&[A]).expect("a thread");
        recv(&mut m, C, EP2);
        call(&mut m, A, EP2);
        assert_eq!(m.reply(&[B]), Err(OpError::IllegalOperation));
        assert_eq!(state(&m, A), ThreadState::AwaitingReply);
        m.reply(&[C]).expect("C answers A");
        assert_eq!(m.ipc_events().last(), Some(&message(&m, C, A, 0, true)));
        assert_eq!(state(&m, A), ThreadState::Running);
    }

    /// A's buffer names the notification cap in root slot 12 to send,
    /// B's the empty root slot 40 to receive into.
    fn buffers(m: &mut Machine<'_>) {
        let send = super::IpcBuffer {
            send: Some(vec![NTFN]),
            receive: None,
        };
        m.set_ipc_buffer(&[A], send).expect("a thread");
        let receive = super::IpcBuffer {
            send: Some(vec![EP]),
            receive: Some(vec![40]),
        };
        m.set_ipc_buffer(&[B], receive).expect("a thread");
    }

    fn slot<'m>(m: &'m Machine<'_>, index: u64) -> Option<&'m super::super::Node> {
        m.node_at(Slot {
            cnode: CNodeId::Root,
            index,
        })
    }

    #[test]
    fn a_granted_message_copies_its_cap_into_the_receive_slot() {
        let mut m = world();
        buffers(&mut m);
        call(&mut m, A, EP);
        recv(&mut m, B, EP);
        let Some(&IpcEvent::Message { caps, .. }) = m.ipc_events().last() else {
            panic!("a message");
        };
        assert_eq!(caps, 1);
        let copied = slot(&m, 40).expect("the copy");
        assert_eq!(copied.cap, slot(&m, NTFN).expect("the original").cap);
        // The reply carries B's cap back only if A's slot is there: A
        // named none, so nothing goes.
        m.reply(&[B]).expect("B answers A");
        let Some(&IpcEvent::Message { caps, .. }) = m.ipc_events().last() else {
            panic!("a reply");
        };
        assert_eq!(caps, 0);
    }

    #[test]
    fn no_cap_goes_without_grant_or_into_a_full_slot() {
        // The receive slot is full: nothing goes, the message does.
        let mut m = world();
        buffers(&mut m);
        m.copy(&[EP], &[40], u64::MAX).expect("fill the slot");
        call(&mut m, A, EP);
        recv(&mut m, B, EP);
        assert!(matches!(
            m.ipc_events().last(),
            Some(&IpcEvent::Message { caps: 0, .. })
        ));
        // A copy of the endpoint cap without `grant`: no cap goes.
        let mut m = world();
        buffers(&mut m);
        m.copy(&[EP], &[41], rights(&["read", "write", "grant_reply"]))
            .expect("a copy");
        call(&mut m, A, 41);
        recv(&mut m, B, EP);
        assert!(matches!(
            m.ipc_events().last(),
            Some(&IpcEvent::Message {
                caps: 0,
                grant: false,
                ..
            })
        ));
        assert!(slot(&m, 40).is_none());
    }

    #[test]
    fn a_receiver_that_takes_another_call_loses_the_first_reply_right() {
        let mut m = world();
        call(&mut m, A, EP);
        call(&mut m, C, EP);
        recv(&mut m, B, EP);
        recv(&mut m, B, EP);
        assert_eq!(reply_to(&m, B), Some((at(&m, C), true)));
        assert_eq!(m.threads()[&at(&m, A)].reply_from, None);
        m.reply(&[B]).expect("B answers C");
        assert_eq!(m.ipc_events().last(), Some(&message(&m, B, C, 0, true)));
        assert_eq!(state(&m, C), ThreadState::Running);
        assert_eq!(
            state(&m, A),
            ThreadState::AwaitingReply,
            "left waiting, as seL4"
        );
        assert_eq!(m.reply(&[B]), Err(OpError::IllegalOperation));
    }

    #[test]
    fn grant_rights_decide_the_reply_as_in_sel4() {
        let mut m = world();
        m.copy(&[EP], &[20], rights(&["read", "write"]))
            .expect("a copy without grant");
        m.copy(&[EP], &[21], rights(&["write", "grant_reply"]))
            .expect("a copy with grant_reply alone");
        m.copy(&[EP], &[22], rights(&["write"]))
            .expect("a copy with neither");
        // The receiver's cap has no grant: the reply carries no caps.
        recv(&mut m, B, 20);
        call(&mut m, A, EP);
        assert_eq!(reply_to(&m, B), Some((at(&m, A), false)));
        m.reply(&[B]).expect("B answers A");
        assert_eq!(m.ipc_events().last(), Some(&message(&m, B, A, 0, false)));
        // grant_reply alone gives a reply right (and the message no caps).
        recv(&mut m, B, EP);
        call(&mut m, A, 21);
        assert_eq!(m.ipc_events().last(), Some(&message(&m, A, B, 0, false)));
        assert_eq!(state(&m, A), ThreadState::AwaitingReply);
        assert_eq!(reply_to(&m, B), Some((at(&m, A), true)));
        m.reply(&[B]).expect("B answers A");
        // Neither: no reply right, the caller is left inactive.
        recv(&mut m, B, EP);
        call(&mut m, A, 22);
        assert_eq!(m.ipc_events().last(), Some(&message(&m, A, B, 0, false)));
        assert_eq!(state(&m, A), ThreadState::Inactive);
        assert_eq!(reply_to(&m, B), None);
        assert_eq!(m.reply(&[B]), Err(OpError::IllegalOperation));
    }

    #[test]
    fn deleting_an_endpoints_last_cap_restarts_its_waiters_with_an_error() {
        let mut m = world();
        let ep = at(&m, EP);
        m.copy(&[EP], &[20], rights(&["read", "write"]))
            .expect("a copy");
        for t in [A, B, C] {
            recv(&mut m, t, EP);
        }
        m.delete(&[EP]).expect("a slot");
        assert_eq!(queue(&m, 20), [A, B, C], "a cap to it is left");
        assert_eq!(m.ipc_events(), []);
        m.delete(&[20]).expect("a slot");
        assert_eq!(
            m.ipc_events(),
            [restarted(&m, A), restarted(&m, B), restarted(&m, C)]
        );
        for t in [A, B, C] {
            assert_eq!(state(&m, t), ThreadState::Running);
        }
        assert!(!m.ipc_objects().contains_key(&ep));
    }

    #[test]
    fn the_last_cap_with_a_badge_cancels_only_the_sends_with_it() {
        let mut m = world();
        let all = rights(&["read", "write", "grant", "grant_reply"]);
        m.mint(&[EP], &[20], all, 7).expect("badge 7");
        m.mint(&[EP], &[21], all, 1).expect("badge 1");
        m.copy(&[20], &[22], all).expect("a copy of badge 7");
        call(&mut m, A, 20);
        call(&mut m, B, 21);
        send(&mut m, C, 22);
        m.delete(&[20]).expect("a slot");
        assert_eq!(queue(&m, EP), [A, B, C], "a cap with badge 7 is left");
        m.delete(&[22]).expect("a slot");
        assert_eq!(m.ipc_events(), [restarted(&m, A), restarted(&m, C)]);
        assert_eq!(queue(&m, EP), [B]);
        assert_eq!(state(&m, A), ThreadState::Running);
        assert_eq!(state(&m, C), ThreadState::Running);
    }

    #[test]
    fn an_independent_mint_of_the_same_badge_keeps_the_sends() {
        let mut m = world();
        let all = rights(&["read", "write", "grant", "grant_reply"]);
        m.mint(&[EP], &[20], all, 5).expect("badge 5");
        m.mint(&[EP], &[21], all, 5)
            .expect("badge 5 again, minted apart");
        send(&mut m, A, 20);
        m.delete(&[20]).expect("a slot");
        assert_eq!(queue(&m, EP), [A]);
        assert_eq!(m.ipc_events(), []);
        m.delete(&[21]).expect("a slot");
        assert_eq!(m.ipc_events(), [restarted(&m, A)]);
        assert_eq!(queue(&m, EP), []);
    }

    #[test]
    fn deleting_a_tcbs_last_cap_stops_its_thread_and_takes_it_out_of_its_queue() {
        let mut m = world();
        for t in [A, B, C] {
            send(&mut m, t, EP);
        }
        let b = at(&m, B);
        m.delete(&[B]).expect("a slot");
        assert!(!m.threads().contains_key(&b));
        assert_eq!(queue(&m, EP), [A, C]);
        assert_eq!(m.ipc_events(), [], "no one restarted");
        // The right to reply to a deleted caller goes with it. (A leaves
        // EP's queue to call.)
        recv(&mut m, D, EP2);
        let a = at(&m, A);
        m.suspend(&[A]).expect("a thread");
        m.resume(&[A]).expect("a thread");
        call(&mut m, A, EP2);
        assert_eq!(reply_to(&m, D), Some((a, true)));
        m.delete(&[A]).expect("a slot");
        assert!(!m.threads().contains_key(&a));
        assert_eq!(reply_to(&m, D), None);
    }

    #[test]
    fn signals_accumulate_until_a_wait() {
        let mut m = world();
        let write = rights(&["write"]);
        m.mint(&[NTFN], &[20], write, 0b01).expect("badge 0b01");
        m.mint(&[NTFN], &[21], write, 0b10).expect("badge 0b10");
        m.mint(&[NTFN], &[22], write, 0b100).expect("badge 0b100");
        send(&mut m, B, 20);
        send(&mut m, B, 21);
        assert_eq!(m.ipc_objects()[&at(&m, NTFN)].word, 0b11);
        assert_eq!(m.ipc_events(), [], "nobody waits");
        recv(&mut m, A, NTFN);
        let a = at(&m, A);
        assert_eq!(m.ipc_events(), [IpcEvent::Signal { to: a, word: 0b11 }]);
        assert_eq!(state(&m, A), ThreadState::Running);
        recv(&mut m, A, NTFN);
        assert_eq!(
            state(&m, A),
            ThreadState::Waiting {
                notification: at(&m, NTFN)
            }
        );
        send(&mut m, B, 22);
        assert_eq!(m.ipc_events()[1], IpcEvent::Signal { to: a, word: 0b100 });
        assert_eq!(state(&m, A), ThreadState::Running);
        assert_eq!(m.ipc_objects()[&at(&m, NTFN)].word, 0);
        assert_eq!(
            m.send(&[B], &[22], true),
            Err(OpError::IllegalOperation),
            "no calls on a notification"
        );
    }

    /// seL4: a signal of badge 0 nobody waits for leaves the notification
    /// active (`NtfnState_Active`); the next wait returns at once with the
    /// bits 0, and only that one.
    #[test]
    fn a_signal_of_badge_0_is_kept_for_the_next_wait() {
        let mut m = world();
        m.mint(&[NTFN], &[20], rights(&["write"]), 0)
            .expect("an unbadged copy");
        send(&mut m, B, 20);
        let n = &m.ipc_objects()[&at(&m, NTFN)];
        assert_eq!((n.word, n.active), (0, true));
        recv(&mut m, A, NTFN);
        let a = at(&m, A);
        assert_eq!(m.ipc_events(), [IpcEvent::Signal { to: a, word: 0 }]);
        assert!(!m.ipc_objects()[&at(&m, NTFN)].active);
        recv(&mut m, A, NTFN);
        assert_eq!(
            state(&m, A),
            ThreadState::Waiting {
                notification: at(&m, NTFN)
            },
            "the signal is taken once"
        );
    }
}
