//! Integer expressions: evaluation with checked 64-bit arithmetic.
//!
//! Names resolve to constants (evaluated on first use, with cycle detection)
//! or to the size parameter in scope. Failures are returned as [`EvalError`]
//! so each caller can report them in its own words (a constant overflowing is
//! `E0200`; a size rule overflowing for some argument is `E0302`).

use crate::ast::{BinOp, Expr, ExprKind};
use crate::diag::{Code, Diagnostic, closeness, closest};
use crate::source::Span;
pub use crate::units::bytes_and_unit as bytes;

use super::Ctx;

/// Why an expression has no value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EvalError {
    /// A name that is neither a constant nor the parameter in scope
    /// (already reported).
    Reported,
    /// `lhs op rhs` does not fit in 64 bits.
    Overflow {
        /// The operation.
        span: Span,
        /// Its operator.
        op: BinOp,
        /// Left value.
        lhs: u64,
        /// Right value.
        rhs: u64,
    },
    /// `lhs - rhs` with `rhs > lhs`.
    Underflow {
        /// The subtraction.
        span: Span,
        /// Left value.
        lhs: u64,
        /// Right value.
        rhs: u64,
    },
}

/// How deeply constants may be defined through other constants: the
/// longest chain of constants each defined through the next, whatever
/// order they are declared in.
const MAX_CONST_DEPTH: usize = 128;

/// The state of a constant during checking.
#[derive(Clone, Debug)]
pub(super) enum ConstState {
    Pending,
    InProgress,
    /// Its value, and the longest chain of constants it is defined
    /// through, itself included.
    Done(u64, usize),
    Failed,
}

impl Ctx<'_> {
    /// Evaluates `expr` with `param` (name, value) in scope.
    pub(super) fn eval(
        &mut self,
        expr: &Expr,
        param: Option<(&str, u64)>,
    ) -> Result<u64, EvalError> {
        match &expr.kind {
            ExprKind::Int(v) => Ok(*v),
            ExprKind::Name(name) => {
                if let Some((p, v)) = param
                    && p == name
                {
                    return Ok(v);
                }
                self.const_value(name, expr.span, param.map(|(p, _)| p))
            }
            ExprKind::Binary(lhs, op, rhs) => {
                let a = self.eval(lhs, param)?;
                let b = self.eval(rhs, param)?;
                let result = match op {
                    BinOp::Add => a.checked_add(b),
                    BinOp::Mul => a.checked_mul(b),
                    BinOp::Shl => u32::try_from(b)
                        .ok()
                        .filter(|s| *s < 64)
                        .and_then(|s| a.checked_shl(s))
                        .filter(|r| r >> b == a),
                    BinOp::Sub => {
                        return a.checked_sub(b).ok_or(EvalError::Underflow {
                            span: expr.span,
                            lhs: a,
                            rhs: b,
                        });
                    }
                };
                result.ok_or(EvalError::Overflow {
                    span: expr.span,
                    op: *op,
                    lhs: a,
                    rhs: b,
                })
            }
        }
    }

    /// Evaluates an expression where a failure is an ordinary `E0200`/`E0201`.
    pub(super) fn eval_reported(&mut self, expr: &Expr, param: Option<(&str, u64)>) -> Option<u64> {
        match self.eval(expr, param) {
            Ok(v) => Some(v),
            Err(e) => {
                self.report_eval(e);
                None
            }
        }
    }

    /// Reports an evaluation failure as `E0200`/`E0201`.
    pub(super) fn report_eval(&mut self, error: EvalError) {
        let diagnostic = match error {
            EvalError::Reported => return,
            EvalError::Overflow { span, op, lhs, rhs } => {
                Diagnostic::new(Code::Overflow, span, "integer overflow in expression")
                    .label(format!(
                        "`{lhs} {} {rhs}` does not fit in 64 bits",
                        op.symbol()
                    ))
                    .note("spec arithmetic is unsigned 64-bit and checked")
                    .help("use smaller values")
            }
            EvalError::Underflow { span, lhs, rhs } => {
                Diagnostic::new(Code::Underflow, span, "subtraction below zero")
                    .label(format!("`{lhs} - {rhs}` is negative"))
                    .note("spec arithmetic is unsigned: values cannot be negative")
                    .help("reorder the expression so the result stays at or above zero")
            }
        };
        self.diags.push(diagnostic);
    }

    fn const_value(&mut self, name: &str, at: Span, param: Option<&str>) -> Result<u64, EvalError> {
        let Some(&index) = self.const_index.get(name) else {
            let candidates: Vec<&str> = self
                .const_index
                .keys()
                .map(String::as_str)
                .chain(param)
                .collect();
            let mut d = Diagnostic::new(Code::UnknownName, at, format!("unknown name `{name}`"))
                .label("not a constant or size parameter");
            d = match closest(name, candidates.iter().copied()) {
                Some(c) => d.help(format!("did you mean `{c}`?")).suggest(
                    at,
                    c,
                    closeness(name, c, candidates.iter().copied()),
                ),
                None => d.help("declare it with `const NAME = value;`"),
            };
            self.diags.push(d);
            return Err(EvalError::Reported);
        };
        self.used_consts.insert(name.to_string());
        match self.const_states[index] {
            ConstState::Done(v, chain) => {
                if let Some(longest) = self.const_chain.last_mut() {
                    *longest = (*longest).max(chain);
                }
                Ok(v)
            }
            ConstState::Failed => Err(EvalError::Reported),
            ConstState::InProgress => {
                let decl = self.items.consts[index].1.name.span;
                let mut d = Diagnostic::new(
                    Code::RecursiveConst,
                    at,
                    format!("constant `{name}` is defined in terms of itself"),
                )
                .label("used here while its value is being computed")
                .with_secondary(decl, "defined here");
                let from = self.const_stack.iter().rposition(|&i| i == index);
                if let Some(from) = from
                    && from + 1 < self.const_stack.len()
                {
                    let cycle: Vec<String> = self.const_stack[from..]
                        .iter()
                        .chain([&index])
                        .map(|&i| format!("`{}`", self.items.consts[i].1.name.name))
                        .collect();
                    d = d.note(format!(
                        "{} uses {}",
                        cycle[0],
                        cycle[1..].join(", which uses ")
                    ));
                }
                self.diags
                    .push(d.help("give one constant of the cycle a literal value"));
                self.const_states[index] = ConstState::Failed;
                Err(EvalError::Reported)
            }
            ConstState::Pending if self.const_stack.len() >= MAX_CONST_DEPTH => {
                self.diags.push(
                    Diagnostic::new(
                        Code::TooComplex,
                        at,
                        format!("constants defined through more than {MAX_CONST_DEPTH} other constants"),
                    )
                    .label(format!("`{name}` is {} constants deep here", self.const_stack.len() + 1))
                    .note("capc limits how deeply constants refer to each other so that checking any input is bounded")
                    .help("give a constant in the middle of the chain a literal value"),
                );
                self.const_states[index] = ConstState::Failed;
                Err(EvalError::Reported)
            }
            ConstState::Pending => {
                self.const_states[index] = ConstState::InProgress;
                self.const_stack.push(index);
                self.const_chain.push(0);
                let expr = &self.items.consts[index].1.value;
                let result = self.eval(expr, None);
                self.const_stack.pop();
                let chain = self.const_chain.pop().unwrap_or(0) + 1;
                if let Some(longest) = self.const_chain.last_mut() {
                    *longest = (*longest).max(chain);
                }
                match result {
                    // Declared in the order they are used, the constants
                    // of a long chain are each evaluated shallowly: the
                    // chain's length, not the recursion, is the limit.
                    Ok(_) if chain > MAX_CONST_DEPTH => {
                        self.diags.push(
                            Diagnostic::new(
                                Code::TooComplex,
                                at,
                                format!("constants defined through more than {MAX_CONST_DEPTH} other constants"),
                            )
                            .label(format!("`{name}` is {chain} constants deep here"))
                            .note("capc limits how deeply constants refer to each other so that checking any input is bounded")
                            .help("give a constant in the middle of the chain a literal value"),
                        );
                        self.const_states[index] = ConstState::Failed;
                        Err(EvalError::Reported)
                    }
                    Ok(v) => {
                        if !matches!(self.const_states[index], ConstState::Failed) {
                            self.const_states[index] = ConstState::Done(v, chain);
                        }
                        Ok(v)
                    }
                    Err(e) => {
                        self.report_eval(e);
                        self.const_states[index] = ConstState::Failed;
                        Err(EvalError::Reported)
                    }
                }
            }
        }
    }
}

/// Bits needed to store every value from 0 to `max` inclusive.
pub fn bits_for(max: u64) -> u32 {
    64 - max.leading_zeros()
}
