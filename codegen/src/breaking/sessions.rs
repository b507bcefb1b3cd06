//! Breaking changes of who pays (docs/language.md, "Sessions"): a session
//! added, removed or donated differently (B0040), its least quota or kept
//! state raised (B0041), a parameter's range narrowed (B0042), a method
//! charging more for some argument (B0043), and a refund removed (B0044).

use capc_dsl::model::{Charge, DonationKind, Method, MethodSet, ObjectId, Spec};

use super::{Break, Compare, find, new, old};

/// The most argument values compared for one sizing parameter.
const MAX_VALUES: u64 = 4096;

/// What a session is donated with, in words.
fn session_text(spec: &Spec, s: &MethodSet) -> String {
    match s.session.as_ref().map(|s| &s.kind) {
        None => "no session".into(),
        Some(DonationKind::Quota) => "sessions opened with a byte quota".into(),
        Some(DonationKind::Untyped(c)) => {
            format!("sessions opened with a `{}` cap", spec.caps[c.index()].name)
        }
    }
}

/// The bytes one call of `m` charges its session for `args`.
fn charge(spec: &Spec, m: &Method, args: &[u64]) -> u64 {
    let size = |o: ObjectId, arg: u64| {
        spec.objects[o.index()]
            .size
            .size_bits(arg)
            .map(|b| 1u64 << b)
    };
    m.charges
        .as_ref()
        .map_or(0, |c| c.bytes(args, |_: &Charge| true, size))
}

impl Compare<'_> {
    /// The session of interface `s` (old) and `n` (new), and what each
    /// method of both charges and refunds.
    pub(super) fn sessions(&mut self, s: &MethodSet, n: &MethodSet) {
        let (was, now) = (session_text(self.old, s), session_text(self.new, n));
        if was != now {
            self.push(
                Break::new(
                    "B0040",
                    new(n.span),
                    format!("interface `{}` changed from {was} to {now}", s.name),
                    format!("{now} here"),
                )
                .also(old(s.span), format!("{was} in the old spec"))
                .note("compiled servers and clients open, pay for and serve sessions as the old spec said"),
            );
        } else if let (Some(a), Some(b)) = (&s.session, &n.session) {
            let name = |spec: &Spec, binds: Option<usize>| {
                binds.map_or("nothing".to_string(), |i| {
                    format!("`{}`", spec.interfaces[i].name)
                })
            };
            let (was, now) = (name(self.old, a.binds), name(self.new, b.binds));
            if was != now {
                self.push(
                    Break::new(
                        "B0064",
                        new(b.span),
                        format!("`{}`'s sessions bind {now}, not {was}", s.name),
                        format!("binds {now} here"),
                    )
                    .also(old(a.span), format!("binds {was} in the old spec"))
                    .note("compiled servers open and close sessions, and send a bound session's messages, as the old spec said; compiled clients handle the old callback's"),
                );
            }
            for (what, x, y) in [
                ("least quota", a.min_bytes, b.min_bytes),
                ("state kept per session", a.keeps, b.keeps),
            ] {
                if y > x {
                    self.push(
                        Break::new(
                            "B0041",
                            new(b.span),
                            format!(
                                "the {what} of `{}`'s sessions was raised from {x} to {y} bytes",
                                s.name
                            ),
                            format!("{y} bytes here"),
                        )
                        .also(old(a.span), format!("{x} bytes in the old spec")),
                    );
                }
            }
        }
        for m in &s.methods {
            let Some((_, nm)) = find(&n.methods, &m.name, |m| &m.name) else {
                continue;
            };
            self.ranges(s, m, nm);
            self.charges(s, m, nm);
            self.refunds(s, n, m, nm);
        }
    }

    /// B0042: a parameter accepts fewer values than it did.
    fn ranges(&mut self, s: &MethodSet, m: &Method, n: &Method) {
        for p in &m.params {
            let Some((_, np)) = find(&n.params, &p.name, |p| &p.name) else {
                continue;
            };
            let Some((lo, hi)) = np.range else {
                continue;
            };
            let (was_lo, was_hi) = p.range.unwrap_or((0, u64::MAX));
            if lo > was_lo || hi < was_hi {
                let was = match p.range {
                    Some((a, b)) => format!("{a}..={b}"),
                    None => "any value".to_string(),
                };
                self.push(
                    Break::new(
                        "B0042",
                        new(np.span),
                        format!(
                            "parameter `{}` of `{}.{}` now takes {lo}..={hi}, not {was}",
                            p.name, s.name, m.name
                        ),
                        format!("{lo}..={hi} here"),
                    )
                    .also(old(p.span), format!("{was} in the old spec"))
                    .note("the decoder refuses a value outside the range: compiled clients may send one"),
                );
            }
        }
    }

    /// B0043: for some argument value both specs accept, a call charges
    /// its session more than it did (compared at every value of one sizing
    /// parameter, at the ends of each range otherwise).
    fn charges(&mut self, s: &MethodSet, m: &Method, n: &Method) {
        if n.charges.is_none() {
            return;
        }
        // The argument vectors to compare, by the new spec's parameter
        // order; the old one's arguments by name.
        let ranged: Vec<(usize, u64, u64)> = n
            .params
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let (lo, hi) = p.range?;
                let (a, b) = find(&m.params, &p.name, |p| &p.name)
                    .and_then(|(_, op)| op.range)
                    .unwrap_or((lo, hi));
                (lo.max(a) <= hi.min(b)).then_some((i, lo.max(a), hi.min(b)))
            })
            .collect();
        let mut cases: Vec<Vec<u64>> = vec![vec![0; n.params.len()]];
        for &(i, lo, hi) in &ranged {
            let values: Vec<u64> = if ranged.len() == 1 && hi - lo < MAX_VALUES {
                (lo..=hi).collect()
            } else {
                vec![lo, hi]
            };
            cases = cases
                .into_iter()
                .flat_map(|c| {
                    values.iter().map(move |v| {
                        let mut c = c.clone();
                        c[i] = *v;
                        c
                    })
                })
                .collect();
        }
        for args in cases {
            let old_args: Vec<u64> = m
                .params
                .iter()
                .map(|p| find(&n.params, &p.name, |p| &p.name).map_or(0, |(j, _)| args[j]))
                .collect();
            let (was, now) = (charge(self.old, m, &old_args), charge(self.new, n, &args));
            if now > was {
                let at: Vec<String> = ranged
                    .iter()
                    .map(|&(i, _, _)| format!("`{} = {}`", n.params[i].name, args[i]))
                    .collect();
                let at = if at.is_empty() {
                    String::new()
                } else {
                    format!(" for {}", at.join(", "))
                };
                self.push(
                    Break::new(
                        "B0043",
                        new(n.span),
                        format!(
                            "`{}.{}` charges its session {now} bytes{at}, not {was}",
                            s.name, m.name
                        ),
                        format!("{now} bytes here"),
                    )
                    .also(old(m.span), format!("{was} bytes in the old spec"))
                    .note("compiled clients open and upgrade their sessions for what the old spec charged"),
                );
                return;
            }
        }
    }

    /// B0044: a method no longer takes back what it did.
    fn refunds(&mut self, s: &MethodSet, n: &MethodSet, m: &Method, nm: &Method) {
        let Some(c) = &m.charges else {
            return;
        };
        for r in &c.refunds {
            let param = &m.params[r.param].name;
            for (mi, _) in &r.from {
                let from = &s.methods[*mi].name;
                let kept = nm.charges.as_ref().is_some_and(|nc| {
                    nc.refunds.iter().any(|nr| {
                        nm.params[nr.param].name == *param
                            && nr.from.iter().any(|(nmi, _)| n.methods[*nmi].name == *from)
                    })
                });
                if !kept {
                    self.push(
                        Break::new(
                            "B0044",
                            new(nm.span),
                            format!(
                                "`{}.{}` no longer refunds `{param}` from `{from}`",
                                s.name, m.name
                            ),
                            "no such refund here",
                        )
                        .also(old(m.span), format!("`refunds {param} from {from}` in the old spec"))
                        .note("compiled clients count on getting that quota back before their session closes"),
                    );
                }
            }
        }
    }
}
