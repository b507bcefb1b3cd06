//! `expect` statements: what a script asserts, so a script is a test
//! (docs/simulate.md, "Expectations"). Each is checked when the script
//! reaches it; one that does not hold is `E0933`, with the expectation's
//! span, what was found and a hint, and the run exits 1.
//!
//! ```text
//! expect OutOfBudget                      # the previous step's outcome
//! expect ok: 3 cap(s) deleted
//! expect client holds write on dec_ep     # a domain's right on an object
//! expect bomber1 lacks read on client_input
//! expect client free 2 MiB                # a principal's memory
//! expect client uses 20 KiB
//! expect root[3] empty                    # a slot
//! ```

use super::{Cursor, PResult, Parser, PathExpr, bytes};
use crate::{Machine, OpError};
use capc_dsl::diag::{Code, Diagnostic, closest};
use capc_dsl::model::ObjectId;
use capc_dsl::source::Span;

/// The outcomes a step can have: `ok` and the kernel's errors.
pub(super) const OUTCOMES: &[&str] = &[
    "ok",
    "InvalidArgument",
    "RangeError",
    "NotEnoughMemory",
    "DeleteFirst",
    "RevokeFirst",
    "FailedLookup",
    "IllegalOperation",
    "OutOfBudget",
    "InvalidCapability",
    "AlignmentError",
];

/// An assertion about the machine's state.
#[derive(Clone, Debug)]
pub(super) enum Expectation {
    /// `DOMAIN holds|lacks RIGHT on OBJECT`: some cap in the domain's
    /// CSpace names the object and carries the right (or none does).
    Holds {
        domain: String,
        cspace: Option<u64>,
        right: String,
        mask: u64,
        object: String,
        object_type: ObjectId,
        address: u64,
        yes: bool,
    },
    /// `PRINCIPAL free|uses BYTES`: the memory given to the principal at
    /// boot that is free, or in use, as the accounting counts it.
    Memory {
        principal: String,
        free: bool,
        bytes: u64,
    },
    /// `SLOT empty`: the slot resolves and holds no cap.
    Empty(PathExpr),
}

/// Whether `want`, an outcome as written, matches a step's result: `got`
/// (`ok` or the error as printed) or `shown` (the whole result as
/// printed); an error's bare name matches it with any payload.
pub(super) fn outcome_matches(want: &str, got: &str, shown: &str) -> bool {
    want == got
        || want == shown
        || (!want.contains(' ')
            && got
                .strip_prefix(want)
                .is_some_and(|rest| rest.starts_with(" {")))
}

/// The outcome's name (its first word, before any `:` or payload) is
/// `ok` or a kernel error (`E0800` otherwise).
pub(super) fn check_outcome(want: &str, span: Span) -> PResult<()> {
    let name = want.split([' ', ':', '{']).next().unwrap_or_default();
    if OUTCOMES.contains(&name) {
        return Ok(());
    }
    let d = Diagnostic::new(
        Code::ScriptSyntax,
        span,
        format!("`{name}` is no outcome of a step"),
    )
    .label("not `ok` or a kernel error");
    Err(Box::new(match closest(name, OUTCOMES.iter().copied()) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None => d.help(format!("an outcome is one of {}", OUTCOMES.join(", "))),
    }))
}

/// A size as the report prints one: a number, optionally followed by `B`,
/// `KiB`, `MiB` or `GiB`, and terms joined by `+` (`2 MiB + 18 KiB`).
fn size(c: &mut Cursor<'_>, example: &str) -> PResult<u64> {
    let mut total = 0u64;
    loop {
        let (n, span) = c.number("a size", example)?;
        let shift = [("B", 0u32), ("KiB", 10), ("MiB", 20), ("GiB", 30)]
            .into_iter()
            .find(|(u, _)| c.is_word(u))
            .map_or(0, |(_, shift)| {
                c.at += 1;
                shift
            });
        total = n
            .checked_mul(1u64 << shift)
            .and_then(|b| b.checked_add(total))
            .ok_or_else(|| {
                Box::new(
                    Diagnostic::new(Code::ScriptNumber, span, format!("{n} is too large"))
                        .label("the size passes 2^64 bytes")
                        .help("give a size below 2^64 bytes"),
                )
            })?;
        if !c.eat("+") {
            return Ok(total);
        }
    }
}

impl Parser<'_> {
    /// `expect` followed by an assertion about the state (an outcome is
    /// read from the line's text before it is split into tokens).
    pub(super) fn expectation(&mut self, c: &mut Cursor<'_>) -> PResult<Expectation> {
        let example = "expect client holds write on dec_ep";
        let (first, first_span) = match c.peek() {
            Some(super::Token {
                tok: super::Tok::Ident(_),
                ..
            }) if matches!(
                c.word_after_path(),
                Some("holds" | "lacks" | "free" | "uses")
            ) =>
            {
                c.name("a domain or principal", example)?
            }
            _ => {
                let at = self.path(c, "expect root[3] empty")?;
                c.expect("empty", "expect root[3] empty")?;
                c.done("expect root[3] empty")?;
                return Ok(Expectation::Empty(at));
            }
        };
        if c.eat("holds") || c.is_word("lacks") {
            let yes = !c.eat("lacks");
            let cspace = self.domain(&first, first_span)?;
            let (right, right_span) = c.ident("a right", example)?;
            let Some(i) = self.spec.rights.iter().position(|r| r.name == right) else {
                return Err(self.unknown(
                    right_span,
                    "right",
                    &right,
                    self.spec.rights.iter().map(|r| r.name.as_str()),
                ));
            };
            c.expect("on", example)?;
            let (object, object_span) = c.ident("an object of the system", example)?;
            let (object_type, address) = self.system_object(&object, object_span)?;
            c.done(example)?;
            return Ok(Expectation::Holds {
                domain: first,
                cspace,
                right,
                mask: 1 << i,
                object,
                object_type,
                address,
                yes,
            });
        }
        let example = "expect client free 2 MiB";
        let free = if c.eat("free") {
            true
        } else {
            c.expect("uses", example)?;
            false
        };
        let known = self.regions.iter().any(|r| r.owner == first);
        if !known {
            let d = Diagnostic::new(
                Code::ScriptUnknownName,
                first_span,
                format!("no memory was given to `{first}`"),
            )
            .label("not a principal");
            let owners = self.regions.iter().map(|r| r.owner.as_str());
            return Err(Box::new(match closest(&first, owners) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => d.help(
                    "name a principal given memory by `untyped ... owner NAME`, or a domain of the booted system",
                ),
            }));
        }
        let bytes = size(c, example)?;
        c.done(example)?;
        Ok(Expectation::Memory {
            principal: first,
            free,
            bytes,
        })
    }
}

/// Checks an expectation on the machine: `Ok` with what holds, or `Err`
/// with what was found instead and a hint.
pub(super) fn check(m: &Machine<'_>, e: &Expectation) -> Result<String, (String, String)> {
    match e {
        Expectation::Holds {
            domain,
            cspace,
            right,
            mask,
            object,
            object_type,
            address,
            yes,
        } => {
            let held =
                cspace.is_some_and(|c| super::system::holds(m, c, *object_type, *address, *mask));
            let text = if held {
                format!("`{domain}` holds `{right}` on `{object}`")
            } else {
                format!("`{domain}` holds no cap to `{object}` with `{right}`")
            };
            if held == *yes {
                Ok(text)
            } else {
                Err((
                    text,
                    format!(
                        "the report's cap tree lists `{domain}`'s CSpace slots as `{domain}.SLOT`; `capc authority` shows who may come to hold `{object}`"
                    ),
                ))
            }
        }
        Expectation::Memory {
            principal,
            free,
            bytes: want,
        } => {
            let (mut given, mut used) = (0u64, 0u64);
            for (&(base, size), owner) in m.grants() {
                if owner == principal {
                    given += size;
                    used += m.in_use_of(base, size);
                }
            }
            let have = if *free {
                given.saturating_sub(used)
            } else {
                used
            };
            let text = format!(
                "`{principal}` has {} {}",
                bytes(have),
                if *free { "free" } else { "in use" }
            );
            if have == *want {
                Ok(text)
            } else {
                let verb = if *free { "free" } else { "uses" };
                Err((
                    text,
                    format!(
                        "if that is right, expect `{principal} {verb} {}`; the report's accounting shows each principal's memory",
                        bytes(have)
                    ),
                ))
            }
        }
        Expectation::Empty(at) => {
            let help = "the report's cap tree shows what each slot holds".to_string();
            match m.resolve(&at.path) {
                None => Err((
                    format!(
                        "the slot does not resolve ({:?})",
                        OpError::FailedLookup { source: 0 }
                    ),
                    help,
                )),
                Some(slot) => match m.node_at(slot) {
                    None => Ok("the slot is empty".to_string()),
                    Some(node) => Err((
                        format!(
                            "the slot holds a `{}`",
                            m.spec().caps[node.cap.cap_type.index()].name
                        ),
                        help,
                    )),
                },
            }
        }
    }
}

/// `E0933`: an expectation that did not hold.
pub(super) fn missed(
    span: Span,
    want: &str,
    found: &str,
    step: Option<(usize, Span)>,
    help: String,
) -> Diagnostic {
    let d = Diagnostic::new(
        Code::ExpectationMissed,
        span,
        format!("expected {want}, but {found}"),
    )
    .label("this expectation does not hold");
    let d = match step {
        Some((line, step_span)) => d.with_secondary(step_span, format!("the step on line {line}")),
        None => d,
    };
    d.help(help)
}
