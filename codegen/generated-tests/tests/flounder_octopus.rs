//! Barrelfish's octopus.if as ported in examples/flounder/octopus.cap: the
//! generated client, dispatch, and an octopus server over a loopback
//! transport, with two clients, each binding in its own session. As in
//! Barrelfish, a client has two bindings to octopus: an RPC binding (a
//! session opened without a callback) and an event binding (a session
//! opened bound to `OctopusEvents` with the endpoint the client receives
//! events on). It calls `get_identifier` and `identify(id, BindingRpc)` on
//! the first and `identify(id, BindingEvent)` on the second; the server
//! then sends the events of the triggers and subscriptions registered on
//! the RPC binding (octopus's two `message`s) through the event session's
//! generated `OctopusEventsSender`, and the client decodes what it receives
//! with `dispatch_octopus_events`. A client without an event binding gets
//! nothing (`identify(id, BindingEvent)` on a session not bound is
//! `UnsupportedBinding`), a client that is not waiting misses the message
//! without the server waiting for it, and closing the event session hands
//! its sender back to the runtime, which deletes its slot.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use capc_generated_tests::flounder_octopus::*;

type Words = [u64; target::MESSAGE_WORDS];
type Slots = [u64; target::CAPS_PER_MESSAGE];

/// A message a client's endpoint received.
type Delivered = (MessageInfo, Words, Slots);

/// What the "kernel" of the test knows: which server slot holds a copy of
/// which client's endpoint, and each client's endpoint queue.
#[derive(Default)]
struct Endpoints {
    /// The server's slot of a granted endpoint: the client it reaches.
    granted: BTreeMap<u64, usize>,
    /// Messages each client's endpoint holds.
    queue: Vec<Vec<Delivered>>,
    /// Whether each client waits on its endpoint (an `NBSend` to one that
    /// does not is lost).
    waiting: Vec<bool>,
    next_slot: u64,
    /// The caps in the server's slots, as its runtime learns them.
    held: BTreeMap<u64, Cap>,
    /// The server's copies of each cap a client sent, by the client's slot
    /// (what a revoke of the client's cap removes).
    derived: BTreeMap<(usize, u64), Vec<u64>>,
}

/// Carries the message `info` heads through a channel of
/// `target::FRAGMENT_WORDS`-word LMP messages, as Flounder's LMP backend
/// does: cut into `fragments::count` fragments, each no longer than an LMP
/// message, and put back together on the other side. Returns the
/// reassembled message and how many LMP messages it took.
fn through_lmp(info: MessageInfo, msg: &Words) -> (Words, usize) {
    let count = fragments::count(info.length);
    let mut whole = fragments::Reassembly::new(info.length).expect("a message");
    for k in 0..count {
        let fragment = fragments::fragment(msg, info.length, k);
        assert!(fragment.len() <= target::FRAGMENT_WORDS);
        let done = whole.push(fragment).expect("in order, as cut");
        assert_eq!(done, k + 1 == count, "whole after the last fragment only");
    }
    let mut out = [0; target::MESSAGE_WORDS];
    out[..info.length].copy_from_slice(&whole.message().expect("whole")[..info.length]);
    (out, count)
}

/// The server's `Notifier`: seL4's `NBSend` on the slot it names, the
/// message in LMP fragments.
struct Kernel(Rc<RefCell<Endpoints>>);

impl Notifier for Kernel {
    fn notify(&mut self, slot: u64, info: MessageInfo, msg: &Words, caps_out: &[u64]) -> bool {
        let mut k = self.0.borrow_mut();
        let Some(&client) = k.granted.get(&slot) else {
            return false;
        };
        if !k.waiting[client] {
            return false;
        }
        let mut caps = [0; target::CAPS_PER_MESSAGE];
        caps[..caps_out.len()].copy_from_slice(caps_out);
        let (msg, _) = through_lmp(info, msg);
        k.queue[client].push((info, msg, caps));
        true
    }
}

/// A registered trigger or subscription, and whose it is.
struct Watch {
    id: u64,
    session: u64,
    query: String,
    trigger_fn: u64,
    state: u64,
    charge: OctopusCharge,
}

/// An octopus server: records by name, its clients' bindings (octopus's
/// `set_rpc_binding` and `set_event_binding`), triggers and subscriptions.
struct Server {
    kernel: Kernel,
    records: BTreeMap<String, String>,
    /// The last identifier `get_identifier` handed out.
    identifiers: u64,
    /// The identifier of each RPC binding (by session) that said it with
    /// `identify(id, BindingRpc)`.
    rpc: BTreeMap<u64, u64>,
    /// The event binding of each identifier: the sender of the session that
    /// said it with `identify(id, BindingEvent)`.
    events: BTreeMap<u64, OctopusEventsSender>,
    triggers: Vec<Watch>,
    subscriptions: Vec<Watch>,
    next_id: u64,
    /// Events the server could not deliver (a client not waiting).
    missed: u32,
}

fn text<const N: usize>(s: &str) -> BoundedString<N> {
    BoundedString::new(s).expect("fits")
}

impl Server {
    /// Sends `f`'s event to the event binding of the RPC binding (session)
    /// `session`, if its client identified one (octopus's
    /// `get_event_binding`).
    fn notify(
        &mut self,
        session: u64,
        f: impl FnOnce(&OctopusEventsSender, &mut Kernel) -> Result<(), SendError>,
    ) {
        if let Some(id) = self.rpc.get(&session)
            && let Some(sender) = self.events.get(id)
            && f(sender, &mut self.kernel).is_err()
        {
            self.missed += 1;
        }
    }

    /// Registers `t` as a trigger on `query` when it asks for events;
    /// otherwise gives its charge back at once.
    fn register(
        &mut self,
        query: &str,
        t: Trigger,
        session: &mut OctopusSession,
        charge: &mut Option<OctopusCharge>,
    ) -> u64 {
        let charge = charge.take().expect("charged");
        if t.send_to != BindingType::BindingEvent || t.trigger == 0 {
            session.refund(charge).expect("this session's");
            return 0;
        }
        self.next_id += 1;
        self.triggers.push(Watch {
            id: self.next_id,
            session: session.id(),
            query: query.to_string(),
            trigger_fn: t.trigger,
            state: t.st,
            charge,
        });
        self.next_id
    }

    /// Fires the triggers on `name` (the clients that bound get the event).
    fn fire(&mut self, name: &str, mode: Mode) {
        let record = format!("{name} {}", self.records[name]);
        let fired: Vec<(u64, u64, u64, u64)> = self
            .triggers
            .iter()
            .filter(|t| t.query == name)
            .map(|t| (t.session, t.id, t.trigger_fn, t.state))
            .collect();
        for (session, id, trigger_fn, state) in fired {
            let record = text(&record);
            self.notify(session, |s, k| {
                s.trigger(k, id, trigger_fn, mode, record, state)
            });
        }
    }
}

const NOT_FOUND: ErrVal = 0x4f;

impl OctopusServer for Server {
    fn get_identifier(
        &mut self,
        _session: &mut OctopusSession,
    ) -> Result<OctopusGetIdentifierReply, OctopusError> {
        // Octopus's `current_id++`.
        self.identifiers += 1;
        Ok(OctopusGetIdentifierReply {
            id: self.identifiers,
        })
    }

    fn identify(
        &mut self,
        id: u64,
        r#type: BindingType,
        session: &mut OctopusSession,
    ) -> Result<(), OctopusError> {
        match r#type {
            BindingType::BindingRpc => {
                self.rpc.insert(session.id(), id);
            }
            // The events go where this session's client receives them: the
            // cap it opened the session bound to. A session opened without
            // one has nothing to send them through.
            BindingType::BindingEvent => {
                let events = session.events().ok_or(OctopusError::UnsupportedBinding)?;
                self.events.insert(id, *events);
            }
        }
        Ok(())
    }

    fn get_names(
        &mut self,
        query: BoundedString<8192>,
        t: Trigger,
        session: &mut OctopusSession,
        charge: &mut Option<OctopusCharge>,
    ) -> Result<OctopusGetNamesReply, OctopusError> {
        let names: Vec<&str> = self
            .records
            .keys()
            .filter(|k| k.starts_with(query.as_str()))
            .map(String::as_str)
            .collect();
        let output = text(&names.join(","));
        let tid = self.register(query.as_str(), t, session, charge);
        Ok(OctopusGetNamesReply {
            output,
            tid,
            error_code: 0,
        })
    }

    fn get(
        &mut self,
        query: BoundedString<8192>,
        t: Trigger,
        session: &mut OctopusSession,
        charge: &mut Option<OctopusCharge>,
    ) -> Result<OctopusGetReply, OctopusError> {
        let found = self.records.get(query.as_str()).cloned();
        let tid = self.register(query.as_str(), t, session, charge);
        Ok(OctopusGetReply {
            output: text(found.as_deref().unwrap_or("")),
            tid,
            error_code: if found.is_some() { 0 } else { NOT_FOUND },
        })
    }

    fn set(
        &mut self,
        query: BoundedString<8192>,
        mode: u64,
        t: Trigger,
        get: bool,
        session: &mut OctopusSession,
        charge: &mut Option<OctopusCharge>,
    ) -> Result<OctopusSetReply, OctopusError> {
        let (name, value) = query
            .as_str()
            .split_once(' ')
            .unwrap_or((query.as_str(), ""));
        self.records.insert(name.to_string(), value.to_string());
        let tid = self.register(name, t, session, charge);
        self.fire(name, mode);
        Ok(OctopusSetReply {
            record: text(if get { query.as_str() } else { "" }),
            tid,
            error_code: 0,
        })
    }

    fn get_with_idcap(
        &mut self,
        idcap: Slot<Cap>,
        t: Trigger,
        session: &mut OctopusSession,
        charge: &mut Option<OctopusCharge>,
    ) -> Result<OctopusGetWithIdcapReply, OctopusError> {
        let name = format!("id{}", idcap.index());
        let found = self.records.get(&name).cloned();
        let tid = self.register(&name, t, session, charge);
        Ok(OctopusGetWithIdcapReply {
            output: text(found.as_deref().unwrap_or("")),
            tid,
            error_code: if found.is_some() { 0 } else { NOT_FOUND },
        })
    }

    fn set_with_idcap(
        &mut self,
        idcap: Slot<Cap>,
        attributes: BoundedString<2048>,
        mode: u64,
        t: Trigger,
        get: bool,
        session: &mut OctopusSession,
        charge: &mut Option<OctopusCharge>,
    ) -> Result<OctopusSetWithIdcapReply, OctopusError> {
        let name = format!("id{}", idcap.index());
        self.records
            .insert(name.clone(), attributes.as_str().to_string());
        let tid = self.register(&name, t, session, charge);
        self.fire(&name, mode);
        Ok(OctopusSetWithIdcapReply {
            record: text(if get { attributes.as_str() } else { "" }),
            tid,
            error_code: 0,
        })
    }

    fn del(
        &mut self,
        query: BoundedString<8192>,
        t: Trigger,
        session: &mut OctopusSession,
        charge: &mut Option<OctopusCharge>,
    ) -> Result<OctopusDelReply, OctopusError> {
        let gone = self.records.remove(query.as_str()).is_some();
        let tid = self.register(query.as_str(), t, session, charge);
        Ok(OctopusDelReply {
            tid,
            error_code: if gone { 0 } else { NOT_FOUND },
        })
    }

    fn exists(
        &mut self,
        query: BoundedString<8192>,
        t: Trigger,
        session: &mut OctopusSession,
        charge: &mut Option<OctopusCharge>,
    ) -> Result<OctopusExistsReply, OctopusError> {
        let found = self.records.contains_key(query.as_str());
        let tid = self.register(query.as_str(), t, session, charge);
        Ok(OctopusExistsReply {
            tid,
            error_code: if found { 0 } else { NOT_FOUND },
        })
    }

    fn wait_for(
        &mut self,
        query: BoundedString<8192>,
        _session: &mut OctopusSession,
    ) -> Result<OctopusWaitForReply, OctopusError> {
        // (The test's records are there before anyone waits.)
        let found = self.records.get(query.as_str()).cloned();
        Ok(OctopusWaitForReply {
            record: text(found.as_deref().unwrap_or("")),
            error_code: if found.is_some() { 0 } else { NOT_FOUND },
        })
    }

    fn remove_trigger(
        &mut self,
        id: u64,
        session: &mut OctopusSession,
    ) -> Result<OctopusRemoveTriggerReply, OctopusError> {
        let Some(at) = self
            .triggers
            .iter()
            .position(|t| t.id == id && t.session == session.id())
        else {
            return Ok(OctopusRemoveTriggerReply {
                error_code: NOT_FOUND,
            });
        };
        let t = self.triggers.remove(at);
        session.refund(t.charge).expect("this session's");
        Ok(OctopusRemoveTriggerReply { error_code: 0 })
    }

    fn subscribe(
        &mut self,
        query: BoundedString<8192>,
        trigger_fn: u64,
        state: u64,
        session: &mut OctopusSession,
        charge: &mut Option<OctopusCharge>,
    ) -> Result<OctopusSubscribeReply, OctopusError> {
        self.next_id += 1;
        self.subscriptions.push(Watch {
            id: self.next_id,
            session: session.id(),
            query: query.as_str().to_string(),
            trigger_fn,
            state,
            charge: charge.take().expect("charged"),
        });
        Ok(OctopusSubscribeReply {
            id: self.next_id,
            error_code: 0,
        })
    }

    fn unsubscribe(
        &mut self,
        id: u64,
        session: &mut OctopusSession,
    ) -> Result<OctopusUnsubscribeReply, OctopusError> {
        let Some(at) = self
            .subscriptions
            .iter()
            .position(|s| s.id == id && s.session == session.id())
        else {
            return Ok(OctopusUnsubscribeReply {
                error_code: NOT_FOUND,
            });
        };
        let s = self.subscriptions.remove(at);
        session.refund(s.charge).expect("this session's");
        Ok(OctopusUnsubscribeReply { error_code: 0 })
    }

    fn publish(
        &mut self,
        record: BoundedString<2048>,
        _session: &mut OctopusSession,
    ) -> Result<OctopusPublishReply, OctopusError> {
        let matching: Vec<(u64, u64, u64, u64)> = self
            .subscriptions
            .iter()
            .filter(|s| record.as_str().starts_with(&s.query))
            .map(|s| (s.session, s.id, s.trigger_fn, s.state))
            .collect();
        for (session, id, trigger_fn, state) in matching {
            let record = text(record.as_str());
            self.notify(session, |s, k| {
                s.subscription(k, id, trigger_fn, 0, record, state)
            });
        }
        Ok(OctopusPublishReply { error_code: 0 })
    }

    fn get_cap(
        &mut self,
        key: BoundedString<256>,
        _session: &mut OctopusSession,
    ) -> Result<OctopusGetCapReply, OctopusError> {
        let slot = self
            .records
            .get(key.as_str())
            .and_then(|v| v.parse().ok())
            .map(Slot::new);
        Ok(OctopusGetCapReply {
            retcap: slot.unwrap_or(Slot::new(0)),
            reterr: if slot.is_some() { 0 } else { NOT_FOUND },
        })
    }

    fn put_cap(
        &mut self,
        key: BoundedString<256>,
        storecap: Slot<Cap>,
        _session: &mut OctopusSession,
    ) -> Result<OctopusPutCapReply, OctopusError> {
        self.records
            .insert(key.as_str().to_string(), storecap.index().to_string());
        Ok(OctopusPutCapReply { reterr: 0 })
    }

    fn sput_cap(
        &mut self,
        key: BoundedString<256>,
        storecap: Slot<Cap>,
        _session: &mut OctopusSession,
    ) -> Result<OctopusSputCapReply, OctopusError> {
        self.next_id += 1;
        let key = format!("{}{}", key.as_str(), self.next_id);
        self.records
            .insert(key.clone(), storecap.index().to_string());
        Ok(OctopusSputCapReply {
            retkey: text(&key),
            reterr: 0,
        })
    }

    fn remove_cap(
        &mut self,
        key: BoundedString<256>,
        _session: &mut OctopusSession,
    ) -> Result<OctopusRemoveCapReply, OctopusError> {
        let gone = self.records.remove(key.as_str()).is_some();
        Ok(OctopusRemoveCapReply {
            reterr: if gone { 0 } else { NOT_FOUND },
        })
    }
}

/// One binding of a client to the shared server, in its own session. The
/// caps a call carries go to the server as new slots of the server's, each
/// a copy of the client's cap.
struct Loopback {
    server: Rc<RefCell<Server>>,
    endpoints: Rc<RefCell<Endpoints>>,
    session: OctopusSession,
    client: usize,
    /// The client's CSpace (as this binding's transport sees it).
    own: BTreeMap<u64, Cap>,
    /// The LMP messages the last call's request and reply took.
    lmp: (usize, usize),
    /// The words of the last call's request and reply.
    words: (usize, usize),
}

impl Transport for Loopback {
    fn call(
        &mut self,
        info: MessageInfo,
        msg: &mut Words,
        caps_out: &[u64],
        caps_in: &mut Slots,
    ) -> MessageInfo {
        let mut caps = [0; target::CAPS_PER_MESSAGE];
        for (to, from) in caps.iter_mut().zip(caps_out) {
            let mut k = self.endpoints.borrow_mut();
            k.next_slot += 1;
            *to = k.next_slot;
            let slot = k.next_slot;
            let cap = self.own.get(from).copied().unwrap_or(Cap::NULL);
            if EndPointLMP::from_cap(cap).is_some() {
                k.granted.insert(slot, self.client);
            }
            k.held.insert(slot, cap);
            k.derived
                .entry((self.client, *from))
                .or_default()
                .push(slot);
        }
        let (request, sent) = through_lmp(info, msg);
        *msg = request;
        let endpoints = self.endpoints.clone();
        let reply = dispatch_octopus(
            &mut *self.server.borrow_mut(),
            info,
            msg,
            &mut caps,
            &mut self.session,
            |slot| endpoints.borrow().held.get(&slot).copied(),
        );
        let (answer, received) = through_lmp(reply, msg);
        *msg = answer;
        self.lmp = (sent, received);
        self.words = (info.length, reply.length);
        caps_in[..reply.caps].copy_from_slice(&caps[..reply.caps]);
        reply
    }

    fn mint(&mut self, slot: u64, rights: Rights) -> Option<u64> {
        let copy = self.own.get(&slot)?.with_rights_masked(rights);
        let at = (1000..).find(|s| !self.own.contains_key(s))?;
        self.own.insert(at, copy);
        Some(at)
    }

    fn end_lend(&mut self, copy: u64) {
        assert!(self.own.remove(&copy).is_some(), "a lent copy");
        let mut k = self.endpoints.borrow_mut();
        for slot in k.derived.remove(&(self.client, copy)).unwrap_or_default() {
            k.held.remove(&slot);
        }
    }
}

/// A client's CSpace: its event endpoint, an ID cap and two frames.
fn own_caps() -> BTreeMap<u64, Cap> {
    let frame = |base| Frame::new(base, 4096, 0).unwrap().cap();
    BTreeMap::from([
        (
            CLIENT_ENDPOINT,
            EndPointLMP::new(0x1000, 0, 64, 0).unwrap().cap(),
        ),
        (5, ID::new(3, 7).unwrap().cap()),
        (44, frame(0x4_4000)),
        (45, frame(0x4_5000)),
    ])
}

/// What a client's handler got, in order.
#[derive(Debug, PartialEq)]
enum Event {
    Trigger(TriggerId, u64, Mode, String, u64),
    Subscription(TriggerId, u64, Mode, String, u64),
}

#[derive(Default)]
struct Handler(Vec<Event>);

impl OctopusEventsHandler for Handler {
    fn trigger(
        &mut self,
        id: TriggerId,
        trigger_fn: u64,
        m: Mode,
        record: BoundedString<2048>,
        state: u64,
    ) {
        self.0.push(Event::Trigger(
            id,
            trigger_fn,
            m,
            record.as_str().to_string(),
            state,
        ));
    }

    fn subscription(
        &mut self,
        id: TriggerId,
        trigger_fn: u64,
        m: Mode,
        record: BoundedString<2048>,
        state: u64,
    ) {
        self.0.push(Event::Subscription(
            id,
            trigger_fn,
            m,
            record.as_str().to_string(),
            state,
        ));
    }
}

/// The server, the endpoints, and the RPC bindings of two clients
/// (sessions 1 and 2, neither bound to a callback).
type World = (
    Rc<RefCell<Server>>,
    Rc<RefCell<Endpoints>>,
    OctopusClient<Loopback>,
    OctopusClient<Loopback>,
);

/// Client `client`'s binding in session `session`, opened by the server's
/// runtime with 4 KiB of quota and, with `events`, bound to `OctopusEvents`.
fn binding(
    server: &Rc<RefCell<Server>>,
    endpoints: &Rc<RefCell<Endpoints>>,
    client: usize,
    session: u64,
    events: Option<OctopusEventsSender>,
) -> OctopusClient<Loopback> {
    let donation = Donation::quota(4096);
    let session = match events {
        None => OctopusSession::open(session, donation),
        Some(sender) => OctopusSession::open_bound(session, donation, sender),
    };
    OctopusClient::new(Loopback {
        server: server.clone(),
        endpoints: endpoints.clone(),
        session: session.unwrap(),
        client,
        own: own_caps(),
        lmp: (0, 0),
        words: (0, 0),
    })
}

/// Client `client`'s event binding, session `session`: the client sends
/// the endpoint it receives events on with its donation, the runtime gets a
/// copy in a slot of the server's and opens the session bound to it.
fn event_binding(
    server: &Rc<RefCell<Server>>,
    endpoints: &Rc<RefCell<Endpoints>>,
    client: usize,
    session: u64,
) -> OctopusClient<Loopback> {
    let slot = {
        let mut k = endpoints.borrow_mut();
        k.next_slot += 1;
        let slot = k.next_slot;
        k.granted.insert(slot, client);
        k.held.insert(slot, own_caps()[&CLIENT_ENDPOINT]);
        slot
    };
    binding(
        server,
        endpoints,
        client,
        session,
        Some(OctopusEventsSender::new(slot)),
    )
}

/// Closes `client`'s session as the server's runtime does: the quota goes
/// back, and the slot of the cap it was bound to is deleted. Returns the
/// quota.
fn close(endpoints: &Rc<RefCell<Endpoints>>, client: OctopusClient<Loopback>) -> u64 {
    let (quota, events) = client.into_transport().session.close();
    if let Some(sender) = events {
        let mut k = endpoints.borrow_mut();
        assert!(
            k.granted.remove(&sender.slot()).is_some(),
            "a bound endpoint"
        );
        k.held.remove(&sender.slot());
    }
    quota
}

fn world() -> World {
    let endpoints = Rc::new(RefCell::new(Endpoints {
        queue: vec![Vec::new(), Vec::new()],
        waiting: vec![true, true],
        next_slot: 100,
        ..Endpoints::default()
    }));
    let server = Rc::new(RefCell::new(Server {
        kernel: Kernel(endpoints.clone()),
        records: BTreeMap::new(),
        identifiers: 0,
        rpc: BTreeMap::new(),
        events: BTreeMap::new(),
        triggers: Vec::new(),
        subscriptions: Vec::new(),
        next_id: 0,
        missed: 0,
    }));
    let a = binding(&server, &endpoints, 0, 1, None);
    let b = binding(&server, &endpoints, 1, 2, None);
    (server, endpoints, a, b)
}

/// Client `i`'s two bindings made known to the server as Barrelfish's
/// `oct_init` does: `get_identifier` and `identify(id, BindingRpc)` on the
/// RPC binding, `identify(id, BindingEvent)` on the event binding. Returns
/// the identifier.
fn identify(rpc: &mut OctopusClient<Loopback>, events: &mut OctopusClient<Loopback>) -> u64 {
    let id = rpc.get_identifier().unwrap().id;
    rpc.identify(id, BindingType::BindingRpc).unwrap();
    events.identify(id, BindingType::BindingEvent).unwrap();
    id
}

/// Handles every message client `i`'s endpoint holds.
fn receive(endpoints: &Rc<RefCell<Endpoints>>, i: usize) -> Vec<Event> {
    let mut handler = Handler::default();
    for (info, msg, caps) in std::mem::take(&mut endpoints.borrow_mut().queue[i]) {
        dispatch_octopus_events(&mut handler, info, &msg, &caps).expect("a well-formed event");
    }
    handler.0
}

const CLIENT_ENDPOINT: u64 = 9;

fn no_trigger() -> Trigger {
    Trigger {
        in_case: 0,
        send_to: BindingType::BindingRpc,
        m: 0,
        trigger: 0,
        st: 0,
    }
}

#[test]
fn events_reach_the_event_binding_of_the_client_that_identified_it_and_no_other() {
    let (server, endpoints, mut a, mut b) = world();
    // A opens its event binding bound to its endpoint (session 3): the
    // server keeps the cap, paid by the session's `keeps` like every
    // session's record (128 bytes), and A identifies its two bindings.
    let mut a_events = event_binding(&server, &endpoints, 0, 3);
    assert_eq!(a_events.transport().session.used(), 128);
    assert!(a_events.transport().session.events().is_some());
    assert!(a.transport().session.events().is_none());
    let id = identify(&mut a, &mut a_events);
    assert_eq!(id, 1);
    assert_eq!(server.borrow().events.len(), 1);
    // `identify` keeps nothing beyond what the sessions keep.
    assert_eq!(a.transport().session.used(), 128);
    assert_eq!(a_events.transport().session.used(), 128);

    // B has no event binding: `identify(id, BindingEvent)` on its RPC
    // binding, which was not opened bound to `OctopusEvents`, is refused
    // with octopus's `OCT_ERR_UNSUPPORTED_BINDING`, and the server records
    // nothing.
    let b_id = b.get_identifier().unwrap().id;
    assert_eq!(b_id, 2);
    b.identify(b_id, BindingType::BindingRpc).unwrap();
    assert_eq!(
        b.identify(b_id, BindingType::BindingEvent),
        Err(CallError::Server(OctopusError::UnsupportedBinding))
    );
    assert_eq!(server.borrow().events.len(), 1);

    // Both subscribe to "temp" on their RPC bindings.
    let sub_a = a.subscribe(text("temp"), 0xa0, 1).unwrap();
    let sub_b = b.subscribe(text("temp"), 0xb0, 2).unwrap();
    assert_eq!((sub_a.error_code, sub_b.error_code), (0, 0));
    assert_eq!(b.transport().session.used(), 128 + 64);

    assert_eq!(b.publish(text("temperature 21")).unwrap().error_code, 0);
    assert_eq!(
        receive(&endpoints, 0),
        [Event::Subscription(
            sub_a.id,
            0xa0,
            0,
            "temperature 21".to_string(),
            1
        )]
    );
    // B subscribed too, but has no event binding: nothing reached it, and
    // nothing was attempted.
    assert!(receive(&endpoints, 1).is_empty());
    assert_eq!(server.borrow().missed, 0);

    // Unsubscribing refunds the subscription: nothing more arrives.
    assert_eq!(a.unsubscribe(sub_a.id).unwrap().error_code, 0);
    assert_eq!(a.transport().session.used(), 128);
    b.publish(text("temperature 22")).unwrap();
    assert!(receive(&endpoints, 0).is_empty());
}

#[test]
fn a_trigger_registered_on_the_rpc_binding_fires_on_the_event_binding() {
    let (server, endpoints, mut a, mut b) = world();
    let mut a_events = event_binding(&server, &endpoints, 0, 3);
    identify(&mut a, &mut a_events);
    let watch = Trigger {
        in_case: 0,
        send_to: BindingType::BindingEvent,
        m: 0x10,
        trigger: 0xf00,
        st: 7,
    };
    // The trigger is registered on A's RPC binding, and kept for A: charged
    // to that session until it is removed.
    let got = a.get(text("door"), watch).unwrap();
    assert_eq!(got.error_code, NOT_FOUND);
    assert_ne!(got.tid, 0);
    assert_eq!(a.transport().session.used(), 128 + 64);
    assert_eq!(a_events.transport().session.used(), 128);

    // B sets the record: A's trigger fires on A's event binding.
    let set = b.set(text("door open"), 3, no_trigger(), true).unwrap();
    assert_eq!((set.tid, set.error_code), (0, 0));
    assert_eq!(set.record.as_str(), "door open");
    // A trigger that asks for nothing is refunded at once.
    assert_eq!(b.transport().session.used(), 128);
    assert_eq!(
        receive(&endpoints, 0),
        [Event::Trigger(
            got.tid,
            0xf00,
            3,
            "door open".to_string(),
            7
        )]
    );
    assert!(receive(&endpoints, 1).is_empty());

    // A is not waiting on its endpoint: the event is missed, and the
    // server goes on (a non-blocking send never waits for a client).
    endpoints.borrow_mut().waiting[0] = false;
    b.set(text("door shut"), 3, no_trigger(), false).unwrap();
    assert_eq!(server.borrow().missed, 1);
    endpoints.borrow_mut().waiting[0] = true;
    assert!(receive(&endpoints, 0).is_empty());

    // Removed, refunded, silent.
    assert_eq!(a.remove_trigger(got.tid).unwrap().error_code, 0);
    assert_eq!(a.transport().session.used(), 128);
    b.set(text("door open"), 3, no_trigger(), false).unwrap();
    assert!(receive(&endpoints, 0).is_empty());
    // B cannot remove what is not its own.
    assert_eq!(b.remove_trigger(got.tid).unwrap().error_code, NOT_FOUND);
}

#[test]
fn closing_the_event_binding_hands_its_sender_back_and_the_events_stop() {
    let (server, endpoints, mut a, mut b) = world();
    let mut a_events = event_binding(&server, &endpoints, 0, 3);
    identify(&mut a, &mut a_events);
    // The event binding is an ordinary binding too: the client calls on it.
    assert_eq!(
        a_events
            .set(text("fan on"), 0, no_trigger(), false)
            .unwrap()
            .error_code,
        0
    );
    let watch = Trigger {
        in_case: 0,
        send_to: BindingType::BindingEvent,
        m: 0,
        trigger: 0xf00,
        st: 1,
    };
    let tid = a.get(text("fan"), watch).unwrap().tid;
    b.set(text("fan off"), 3, no_trigger(), false).unwrap();
    assert_eq!(receive(&endpoints, 0).len(), 1);

    // The runtime closes A's event session: the quota comes back with the
    // sender, and it deletes the slot the server kept.
    let slots = endpoints.borrow().granted.len();
    assert_eq!(close(&endpoints, a_events), 4096);
    assert_eq!(endpoints.borrow().granted.len(), slots - 1);
    // The trigger still fires, through a slot that holds no cap now: the
    // send fails, A gets nothing, and the server goes on.
    b.set(text("fan on"), 3, no_trigger(), false).unwrap();
    assert!(receive(&endpoints, 0).is_empty());
    assert_eq!(server.borrow().missed, 1);
    // A's RPC binding is unaffected; closing it returns its quota and no
    // sender.
    assert_eq!(a.remove_trigger(tid).unwrap().error_code, 0);
    assert_eq!(close(&endpoints, a), 4096);
    // A bound session is opened with the least quota, as any: below it,
    // nothing is opened (the runtime still has the sender to delete).
    assert_eq!(
        OctopusSession::open_bound(9, Donation::quota(4095), OctopusEventsSender::new(7)),
        Err(OctopusError::OutOfQuota { needed: 4096 })
    );
}

#[test]
fn strings_of_flounders_lengths_travel_in_lmp_fragments() {
    let (_server, _endpoints, mut a, _b) = world();
    // An 8192-byte `query` (a record's name and value): its words, then
    // `mode`, the trigger and `get`, in 10-word LMP messages.
    let (name, value) = ("n".repeat(4000), "v".repeat(4191));
    let query = format!("{name} {value}");
    assert_eq!(query.len(), 8192);
    let set = a.set(text(&query), 0, no_trigger(), true).unwrap();
    assert_eq!(set.record.as_str(), query);
    let (request, reply) = a.transport().words;
    assert!(request > 1025 && reply > 1025, "{request}, {reply}");
    assert_eq!(
        a.transport().lmp,
        (
            request.div_ceil(target::FRAGMENT_WORDS),
            reply.div_ceil(target::FRAGMENT_WORDS)
        )
    );
    // `get` finds it by its 4000-byte name.
    assert_eq!(
        a.get(text(&name), no_trigger()).unwrap().output.as_str(),
        value
    );
    // A name one byte over Flounder's 8192 is refused by the client.
    assert!(BoundedString::<8192>::new(&"n".repeat(8193)).is_none());
    // A short message still takes one LMP message.
    a.get_identifier().unwrap();
    assert_eq!(a.transport().lmp, (1, 1));
}

#[test]
fn every_rpc_round_trips() {
    let (_server, endpoints, mut a, _b) = world();
    assert_eq!(a.get_identifier().unwrap().id, 1);
    let set = a.set(text("disk0 sata"), 0, no_trigger(), false).unwrap();
    assert_eq!(set.error_code, 0);
    a.set(text("disk1 nvme"), 0, no_trigger(), false).unwrap();
    let names = a.get_names(text("disk"), no_trigger()).unwrap();
    assert_eq!(names.output.as_str(), "disk0,disk1");
    assert_eq!(
        a.get(text("disk1"), no_trigger()).unwrap().output.as_str(),
        "nvme"
    );
    assert_eq!(a.exists(text("disk0"), no_trigger()).unwrap().error_code, 0);
    assert_eq!(a.del(text("disk0"), no_trigger()).unwrap().error_code, 0);
    assert_eq!(
        a.exists(text("disk0"), no_trigger()).unwrap().error_code,
        NOT_FOUND
    );
    assert_eq!(a.wait_for(text("disk1")).unwrap().record.as_str(), "nvme");
    let with = a
        .set_with_idcap(
            Slot::<ID>::new(5).any(),
            text("core 3"),
            0,
            no_trigger(),
            true,
        )
        .unwrap();
    assert_eq!(with.record.as_str(), "core 3");
    // (The test's kernel gives the lent ID cap the server's slot 101.)
    assert_eq!(
        a.get_with_idcap(Slot::new(5), no_trigger())
            .unwrap()
            .error_code,
        NOT_FOUND
    );
    // `idcap` is Flounder's `cap`, any cap granted: the server keeps a copy
    // of each ID cap it was given (one per call), which dispatch checked to
    // be a cap at all; the client made no copy of its own (no rights named).
    let ids = endpoints
        .borrow()
        .held
        .values()
        .filter(|cap| ID::from_cap(**cap).is_some())
        .count();
    assert_eq!(ids, 2);
    assert!(a.transport().own.range(1000..).next().is_none());
    // An empty slot is no cap: refused before the server runs.
    assert_eq!(
        a.get_with_idcap(Slot::new(77), no_trigger()),
        Err(CallError::Refused(ProtocolError::InvalidArgument {
            index: 0
        }))
    );
    assert_eq!(a.put_cap(text("frame"), Slot::new(44)).unwrap().reterr, 0);
    let stored = a.get_cap(text("frame")).unwrap();
    assert_eq!(stored.reterr, 0);
    let sput = a.sput_cap(text("f"), Slot::new(45)).unwrap();
    assert!(sput.retkey.as_str().starts_with('f'));
    assert_eq!(a.remove_cap(text("frame")).unwrap().reterr, 0);
    assert_eq!(a.remove_cap(text("frame")).unwrap().reterr, NOT_FOUND);
    assert_eq!(a.publish(text("nobody listens")).unwrap().error_code, 0);
    // Everything a trigger-less call was charged came back.
    assert_eq!(a.transport().session.used(), 128);
}

#[test]
fn a_client_refuses_an_event_that_does_not_decode() {
    let mut handler = Handler::default();
    let msg = [0; target::MESSAGE_WORDS];
    let caps = [0; target::CAPS_PER_MESSAGE];
    let unknown = MessageInfo {
        label: 9,
        length: 0,
        caps: 0,
    };
    assert_eq!(
        dispatch_octopus_events(&mut handler, unknown, &msg, &caps),
        Err(ProtocolError::UnknownLabel { label: 9 })
    );
    let short = MessageInfo {
        label: OctopusEventsLabel::Trigger.label(),
        length: 3,
        caps: 0,
    };
    assert_eq!(
        dispatch_octopus_events(&mut handler, short, &msg, &caps),
        Err(ProtocolError::Truncated)
    );
    // A record whose length is over its bound.
    // (`record` starts at byte 24, its length in its first two bytes.)
    let mut msg = [0; target::MESSAGE_WORDS];
    msg[3] = 2049;
    let long = MessageInfo {
        label: OctopusEventsLabel::Subscription.label(),
        length: 261,
        caps: 0,
    };
    assert_eq!(
        dispatch_octopus_events(&mut handler, long, &msg, &caps),
        Err(ProtocolError::InvalidArgument { index: 3 })
    );
    assert!(handler.0.is_empty());
    // The events are one-way: the labels say so.
    assert!(OctopusEventsLabel::ALL.iter().all(|l| l.oneway()));
}
