//! Authority: which domains of a system can come to hold a cap to an object
//! with a right, by a take-grant closure over the caps they hold at boot.
//!
//! The closure over-approximates: every cap a domain holds may be copied,
//! with the same or fewer rights, within its own CSpace and sent wherever
//! the rules below let caps flow. Caps flow from domain `A` to domain `B`
//! (everything `A` holds becomes something `B` may hold):
//! - through an object that is no domain's CSpace, when `A` holds a cap to
//!   it with `write` and `grant` and `B` one with `read` (a send with caps);
//! - back through it, from `B` to `A`, when `A`'s cap has `write` and
//!   `grant` or `grant_reply` (its call makes a reply cap) and `B`'s has
//!   `read` and `grant` (a reply carries caps when the receiver's cap had
//!   `grant`, as in the kernel and in seL4);
//! - from `D` to `A` when `A` holds any cap to the CNode that is `D`'s
//!   CSpace (it can take from it), and from `A` to `D` (it can place into
//!   it).
//!
//! A `trusted` domain is taken to pass on nothing: no flow whose sender,
//! replier or placer it is. It still receives caps, and a domain holding
//! its CSpace can still take from it; the `deny`s that hold then rest on its
//! program. A right the spec does not declare takes no part. Objects made
//! after boot (a server's output frames) are not modelled: they are named
//! by no cap at boot.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Right, RightId, System};

/// A cap as the closure sees it: the object (index in the system's
/// objects) and the rights (a bit per [`RightId`]).
pub type Held = (usize, u64);

/// How a domain came to hold a cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// It holds it at boot.
    Initial,
    /// Domain `from` held it and it flowed through object `via`.
    Flowed {
        /// The domain it came from.
        from: usize,
        /// The object it flowed through.
        via: usize,
    },
}

/// The closure: for each domain, every cap it can come to hold and how.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Authority {
    /// Per domain (by index), each cap it can hold and its first origin.
    pub held: Vec<BTreeMap<Held, Origin>>,
}

/// One step of a derivation: `domain` holds `cap` by `origin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// The domain.
    pub domain: usize,
    /// The cap.
    pub cap: Held,
    /// How.
    pub origin: Origin,
}

fn right_bit(rights: &[Right], name: &str) -> u64 {
    rights
        .iter()
        .position(|r| r.name == name)
        .map_or(0, |i| bit(RightId(i as u32)))
}

/// The bit of a right.
pub fn bit(right: RightId) -> u64 {
    1u64.checked_shl(right.0).unwrap_or(0)
}

impl Authority {
    /// Computes the closure of `system`, whose spec declares `rights`.
    pub fn of(rights: &[Right], system: &System) -> Authority {
        let read = right_bit(rights, "read");
        let write = right_bit(rights, "write");
        let grant = right_bit(rights, "grant");
        let grant_reply = right_bit(rights, "grant_reply");
        let mut held: Vec<BTreeMap<Held, Origin>> = system
            .domains
            .iter()
            .map(|d| {
                d.slots
                    .iter()
                    .map(|s| {
                        let mask = s.rights.iter().fold(0, |m, r| m | bit(*r));
                        ((s.object, mask), Origin::Initial)
                    })
                    .collect()
            })
            .collect();
        // The domain whose CSpace each object is.
        let cspace_of: BTreeMap<usize, usize> = system
            .domains
            .iter()
            .enumerate()
            .filter_map(|(d, dom)| dom.cspace.map(|c| (c, d)))
            .collect();
        let has = |mask: u64, want: u64| want != 0 && mask & want == want;
        let trusted: Vec<bool> = system.domains.iter().map(|d| d.trusted).collect();
        loop {
            // Every flow the current state allows: (from, to, via).
            let mut flows: BTreeSet<(usize, usize, usize)> = BTreeSet::new();
            for (a, caps) in held.iter().enumerate() {
                for &(object, mask) in caps.keys() {
                    if let Some(&d) = cspace_of.get(&object) {
                        if d != a {
                            // `a` takes from `d`'s CSpace, and places into it.
                            flows.insert((d, a, object));
                            if !trusted[a] {
                                flows.insert((a, d, object));
                            }
                        }
                        continue;
                    }
                    // `a` sends with caps; its call makes a reply cap.
                    let sends = grant != 0 && has(mask, write | grant) && !trusted[a];
                    let calls = has(mask, write) && mask & (grant | grant_reply) != 0;
                    for (b, other) in held.iter().enumerate() {
                        if a == b {
                            continue;
                        }
                        let mut receives = false;
                        let mut replies = false;
                        for &(o, m) in other.keys() {
                            if o == object && read != 0 && m & read != 0 {
                                receives = true;
                                replies |= grant != 0 && m & grant != 0;
                            }
                        }
                        if sends && receives {
                            flows.insert((a, b, object));
                        }
                        if calls && replies && !trusted[b] {
                            flows.insert((b, a, object));
                        }
                    }
                }
            }
            let mut changed = false;
            for (from, to, via) in flows {
                let caps: Vec<Held> = held[from].keys().copied().collect();
                for cap in caps {
                    if let std::collections::btree_map::Entry::Vacant(e) = held[to].entry(cap) {
                        e.insert(Origin::Flowed { from, via });
                        changed = true;
                    }
                }
            }
            if !changed {
                return Authority { held };
            }
        }
    }

    /// A cap `domain` can come to hold on `object` with `right`, if any.
    pub fn holds(&self, domain: usize, object: usize, right: RightId) -> Option<Held> {
        self.held
            .get(domain)?
            .keys()
            .find(|&&(o, m)| o == object && m & bit(right) != 0)
            .copied()
    }

    /// How `domain` comes to hold `cap`: the steps from a domain that holds
    /// it at boot, that domain first.
    pub fn path(&self, domain: usize, cap: Held) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut at = domain;
        while let Some(&origin) = self.held.get(at).and_then(|h| h.get(&cap)) {
            steps.push(Step {
                domain: at,
                cap,
                origin,
            });
            match origin {
                Origin::Initial => break,
                Origin::Flowed { from, .. } => at = from,
            }
            if steps.len() > self.held.len() {
                break;
            }
        }
        steps.reverse();
        steps
    }

    /// The domains that can come to hold `right` on `object`, in domain
    /// order, each with the origin of the first such cap.
    pub fn holders(&self, object: usize, right: RightId) -> Vec<(usize, Origin)> {
        self.held
            .iter()
            .enumerate()
            .filter_map(|(d, caps)| {
                caps.iter()
                    .find(|((o, m), _)| *o == object && m & bit(right) != 0)
                    .map(|(_, origin)| (d, *origin))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryLoader, compile};

    const BASE: &str = include_str!("../tests/ui/system-base.cap");

    /// Checks `system` (statements of a system block) over the UI tests'
    /// system base and returns the spec and the closure of its one system.
    fn closure(system: &str) -> (crate::model::Spec, Authority) {
        let text = format!("use \"base.cap\";\nsystem s {{\n    memory = 64 MiB;\n{system}\n}}\n");
        let loader = MemoryLoader::new()
            .with("base.cap", BASE)
            .with("main.cap", text);
        let compilation = compile(std::path::Path::new("main.cap"), &loader).expect("loads");
        let rendered = compilation.render();
        let spec = compilation
            .spec
            .unwrap_or_else(|| panic!("checks clean:\n{rendered}"));
        let authority = Authority::of(&spec.rights, &spec.systems[0]);
        (spec, authority)
    }

    fn ids(
        spec: &crate::model::Spec,
        domain: &str,
        object: &str,
        right: &str,
    ) -> (usize, usize, RightId) {
        let s = &spec.systems[0];
        let d = s
            .domains
            .iter()
            .position(|d| d.name == domain)
            .expect("domain");
        let o = s
            .objects
            .iter()
            .position(|o| o.name == object)
            .expect("object");
        let r = spec
            .rights
            .iter()
            .position(|r| r.name == right)
            .expect("right");
        (d, o, RightId(r as u32))
    }

    fn can(
        spec: &crate::model::Spec,
        a: &Authority,
        domain: &str,
        object: &str,
        right: &str,
    ) -> bool {
        let (d, o, r) = ids(spec, domain, object, right);
        a.holds(d, o, r).is_some()
    }

    /// A domain with the given slot statements.
    fn domain(name: &str, slots: &str) -> String {
        format!(
            "    domain {name} {{\n        program = \"{name}\";\n        budget = 1 MiB;\n        priority = 1;\n        object {name}_cspace: CNode(4);\n        cspace = {name}_cspace;\n{slots}\n    }}\n"
        )
    }

    #[test]
    fn a_send_with_grant_carries_the_senders_caps_to_the_receiver_only() {
        let (spec, a) = closure(&format!(
            "    object ep: Endpoint;\n    object mine: Endpoint;\n    object theirs: Endpoint;\n{}{}",
            domain(
                "client",
                "        slot ep: EndpointCap(write, grant) = ep;\n        slot mine: EndpointCap(read, write) = mine;"
            ),
            domain(
                "server",
                "        slot ep: EndpointCap(read) = ep;\n        slot theirs: EndpointCap(write) = theirs;"
            ),
        ));
        assert!(can(&spec, &a, "server", "mine", "write"));
        assert!(can(&spec, &a, "server", "ep", "grant"));
        // Nothing flows back: the server's cap has no grant.
        assert!(!can(&spec, &a, "client", "theirs", "write"));
        // A right no cap had is never gained.
        assert!(!can(&spec, &a, "server", "mine", "grant"));
        let (d, o, r) = ids(&spec, "server", "mine", "write");
        let cap = a.holds(d, o, r).expect("held");
        let path = a.path(d, cap);
        assert_eq!(path.len(), 2);
        assert_eq!(path[0].origin, Origin::Initial);
        assert_eq!(path[1].origin, Origin::Flowed { from: 0, via: 0 });
    }

    #[test]
    fn without_grant_nothing_flows() {
        let (spec, a) = closure(&format!(
            "    object ep: Endpoint;\n    object mine: Endpoint;\n{}{}",
            domain(
                "client",
                "        slot ep: EndpointCap(write) = ep;\n        slot mine: EndpointCap(read) = mine;"
            ),
            domain("server", "        slot ep: EndpointCap(read) = ep;"),
        ));
        assert!(!can(&spec, &a, "server", "mine", "read"));
        assert!(can(&spec, &a, "client", "mine", "read"));
    }

    /// A client calling with `caller` rights on `ep` and a server receiving
    /// with `server` rights, which also holds `theirs`.
    fn call(caller: &str, server: &str) -> (crate::model::Spec, Authority) {
        closure(&format!(
            "    object ep: Endpoint;\n    object theirs: Endpoint;\n{}{}",
            domain(
                "client",
                &format!("        slot ep: EndpointCap({caller}) = ep;")
            ),
            domain(
                "server",
                &format!(
                    "        slot ep: EndpointCap({server}) = ep;\n        slot theirs: EndpointCap(read, write) = theirs;"
                )
            ),
        ))
    }

    #[test]
    fn a_reply_carries_caps_when_the_receivers_cap_has_grant() {
        // As in the kernel and seL4: the call makes a reply cap (the
        // caller's cap has grant or grant_reply), and the reply carries
        // caps when the server received through a cap with grant.
        for caller in ["write, grant_reply", "write, grant"] {
            let (spec, a) = call(caller, "read, grant");
            assert!(can(&spec, &a, "client", "theirs", "write"), "{caller}");
            let (spec, a) = call(caller, "read");
            assert!(!can(&spec, &a, "client", "theirs", "write"), "{caller}");
        }
        // A call with neither makes no reply cap: nothing comes back.
        let (spec, a) = call("write", "read, grant");
        assert!(!can(&spec, &a, "client", "theirs", "write"));
        // grant_reply on the server's cap is not what lets a reply carry
        // caps.
        let (spec, a) = call("write, grant_reply", "read, grant_reply");
        assert!(!can(&spec, &a, "client", "theirs", "write"));
    }

    #[test]
    fn a_trusted_domain_receives_but_passes_on_nothing() {
        // Two clients send the server their caps with grant, and the server
        // replies with grant: untrusted, it is a conduit between them.
        let text = |trusted: &str| {
            format!(
                "    object ep: Endpoint;\n    object a_own: Endpoint;\n    object b_own: Endpoint;\n{}{}{}",
                domain(
                    "a",
                    "        slot ep: EndpointCap(write, grant) = ep;\n        slot own: EndpointCap(read) = a_own;"
                ),
                domain(
                    "b",
                    "        slot ep: EndpointCap(write, grant) = ep;\n        slot own: EndpointCap(read) = b_own;"
                ),
                domain(
                    "server",
                    &format!(
                        "{trusted}        slot ep: EndpointCap(read, grant) = ep;\n        slot root: CNodeCap = server_cspace;"
                    )
                ),
            )
        };
        let (spec, a) = closure(&text(""));
        assert!(can(&spec, &a, "b", "a_own", "read"));
        assert!(can(&spec, &a, "a", "server_cspace", "write"));
        let (spec, a) = closure(&text("        trusted;\n"));
        assert!(spec.systems[0].domains[2].trusted);
        assert!(can(&spec, &a, "server", "a_own", "read"));
        assert!(!can(&spec, &a, "b", "a_own", "read"));
        assert!(!can(&spec, &a, "a", "server_cspace", "write"));
    }

    #[test]
    fn a_trusted_domains_cspace_can_still_be_taken_from() {
        // The trusted `t` holds `c`'s CSpace: it takes from it but places
        // nothing into it. `b` holds `t`'s CSpace: it takes what `t` holds,
        // and being untrusted, places it into `c`'s through `t`'s CNode cap.
        let text = |b: &str| {
            format!(
                "    object t_secret: Endpoint;\n    object c_secret: Endpoint;\n    object c_root: CNode(4);\n{}{b}    domain c {{\n        program = \"c\";\n        budget = 1 MiB;\n        priority = 1;\n        cspace = c_root;\n        slot secret: EndpointCap(read) = c_secret;\n    }}\n",
                domain(
                    "t",
                    "        trusted;\n        slot secret: EndpointCap(read) = t_secret;\n        slot c_root: CNodeCap = c_root;"
                ),
            )
        };
        let (spec, a) = closure(&text(""));
        assert!(can(&spec, &a, "t", "c_secret", "read"));
        assert!(!can(&spec, &a, "c", "t_secret", "read"));
        let (spec, a) = closure(&text(&domain(
            "b",
            "        slot t_root: CNodeCap = t_cspace;",
        )));
        assert!(can(&spec, &a, "b", "t_secret", "read"));
        let (d, o, r) = ids(&spec, "c", "t_secret", "read");
        let path = a.path(d, a.holds(d, o, r).expect("through b"));
        let names: Vec<&str> = path
            .iter()
            .map(|s| spec.systems[0].domains[s.domain].name.as_str())
            .collect();
        assert_eq!(names, ["t", "b", "c"]);
    }

    #[test]
    fn flows_compose_and_a_cspace_cap_takes_and_grants() {
        // a -> b through e1 (grant); b holds c's CSpace, so b's caps (a's
        // included) reach c, and c's reach b (and from there nobody: b
        // cannot send back to a).
        let (spec, a) = closure(&format!(
            "    object e1: Endpoint;\n    object secret: Endpoint;\n    object c_private: Endpoint;\n    object c_root: CNode(4);\n{}{}{}",
            domain(
                "a",
                "        slot e1: EndpointCap(write, grant) = e1;\n        slot secret: EndpointCap(read) = secret;"
            ),
            domain(
                "b",
                "        slot e1: EndpointCap(read) = e1;\n        slot c_root: CNodeCap = c_root;"
            ),
            "    domain c {\n        program = \"c\";\n        budget = 1 MiB;\n        priority = 1;\n        cspace = c_root;\n        slot private: EndpointCap(write) = c_private;\n    }\n",
        ));
        assert!(can(&spec, &a, "c", "secret", "read"));
        assert!(can(&spec, &a, "b", "c_private", "write"));
        assert!(!can(&spec, &a, "a", "c_private", "write"));
        let (d, o, r) = ids(&spec, "c", "secret", "read");
        let path = a.path(d, a.holds(d, o, r).expect("held"));
        let domains: Vec<usize> = path.iter().map(|s| s.domain).collect();
        assert_eq!(domains, vec![0, 1, 2]);
        // A CNode cap has no rights field: it carries every right.
        assert!(can(&spec, &a, "b", "c_root", "grant"));
    }

    #[test]
    fn holders_lists_each_domain_once_in_order() {
        let (spec, a) = closure(&format!(
            "    object ep: Endpoint;\n{}{}{}",
            domain("x", "        slot ep: EndpointCap(write, grant) = ep;"),
            domain("y", "        slot ep: EndpointCap(write, grant) = ep;"),
            domain("z", "        slot ep: EndpointCap(read) = ep;"),
        ));
        let (_, o, r) = ids(&spec, "z", "ep", "grant");
        let holders = a.holders(o, r);
        let names: Vec<&str> = holders
            .iter()
            .map(|(d, _)| spec.systems[0].domains[*d].name.as_str())
            .collect();
        assert_eq!(names, ["x", "y", "z"]);
        assert_eq!(holders[2].1, Origin::Flowed { from: 0, via: 0 });
    }
}
