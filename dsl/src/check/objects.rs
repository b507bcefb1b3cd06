//! Object types: size rules evaluated for every allowed size argument.
//!
//! A size rule is checked over its whole declared range, not only at its ends:
//! for each argument the size must evaluate without overflow or underflow, be
//! a power of two, and fit the address space. Alignment, when given, must be a
//! power of two no larger than the smallest object. Only `untyped` and `frame`
//! objects may live in device memory.

use crate::ast::{Domain, ObjectKind};
use crate::diag::{Code, Diagnostic};
use crate::model::{self, Finaliser, SizeRule};
use crate::source::Span;

use super::eval::{EvalError, bytes};
use super::{Ctx, TypeSym};

/// The most values a size argument may range over.
const MAX_DOMAIN: u64 = 1 << 16;

impl Ctx<'_> {
    pub(super) fn check_objects(
        &mut self,
        target: Option<&model::Target>,
    ) -> Vec<Option<model::Object>> {
        let address_bits = target.map_or(64, |t| t.address_bits);
        let numbers = self.object_numbers();
        (0..self.items.objects.len())
            .map(|i| {
                let object = self.check_object(i, address_bits)?;
                let (numbers, extra) = numbers.as_ref()?;
                let number = numbers[i];
                let per_size = self.numbers_per_size(i, &object, number, &extra[i])?;
                Some(model::Object {
                    number,
                    numbers: per_size,
                    ..object
                })
            })
            .collect()
    }

    /// `#[number(A, B, ...)]`: one number per value of the size argument,
    /// in ascending order (`E0447` otherwise).
    fn numbers_per_size(
        &mut self,
        index: usize,
        object: &model::Object,
        first: u32,
        extra: &[(u64, Span)],
    ) -> Option<Vec<(u64, u32)>> {
        if extra.is_empty() {
            return Some(Vec::new());
        }
        let args: Vec<u64> = object.size.table.iter().map(|&(arg, _)| arg).collect();
        if object.size.param.is_none() || args.len() != extra.len() + 1 {
            let (item, _) = self.items.objects[index];
            let span = item
                .attrs
                .iter()
                .find(|a| a.name.name == "number")
                .map_or(object.span, |a| a.span);
            let d = Diagnostic::new(
                Code::NumbersPerSize,
                span,
                format!(
                    "`{}` is given {} object-type numbers for {} size {}",
                    object.name,
                    extra.len() + 1,
                    args.len(),
                    if args.len() == 1 { "argument" } else { "arguments" }
                ),
            )
            .label("one number per value of the size argument")
            .with_secondary(object.span, match &object.size.param {
                Some(p) => format!("`{p}` takes {} values", args.len()),
                None => "a fixed size: one number".to_string(),
            })
            .note("several numbers name the object type with each size argument, as seL4 numbers its 4 KiB, 2 MiB and 1 GiB frames");
            self.diags.push(d.help(if object.size.param.is_none() {
                "give one number".to_string()
            } else {
                format!("give {} numbers, or one", args.len())
            }));
            return None;
        }
        let numbers = std::iter::once(u64::from(first))
            .chain(extra.iter().map(|&(n, _)| n))
            .map(|n| n as u32);
        Some(args.into_iter().zip(numbers).collect())
    }

    fn check_object(&mut self, index: usize, address_bits: u32) -> Option<model::Object> {
        let (item, object) = self.items.objects[index];
        let name = &object.name.name;

        // Memory kinds.
        let (mut ram, mut device) = (true, false);
        if let Some(extra) = object.memories.get(1) {
            let first = &object.memories[0];
            self.diags.push(
                Diagnostic::new(
                    Code::DuplicateStatement,
                    kinds_span(extra),
                    format!("`memory` of `{name}` is given twice"),
                )
                .label("given again here")
                .with_secondary(kinds_span(first), "first given here")
                .help("list every kind in one statement: `memory = ram | device;`"),
            );
        }
        let mut memory_ok = true;
        if let Some(kinds) = object.memories.first() {
            ram = false;
            for kind in kinds {
                match kind.name.as_str() {
                    "ram" => ram = true,
                    "device" => device = true,
                    _ => {
                        self.unknown(kind, "memory kind", ["ram", "device"]);
                        memory_ok = false;
                    }
                }
            }
        }
        if device && object.kind == ObjectKind::Kernel {
            let at = object.memories[0]
                .iter()
                .find(|k| k.name == "device")
                .map_or(object.name.span, |k| k.span);
            self.diags.push(
                Diagnostic::new(Code::DeviceKernelObject, at, format!("kernel object `{name}` may not live in device memory"))
                    .label("`device` is not allowed for kernel objects")
                    .with_secondary(object.kind_span, "declared as a kernel object here")
                    .note("the kernel keeps its own state in kernel objects; device memory may have side effects and is not zeroed")
                    .help("declare it `frame` or `untyped` if it holds no kernel state, or use `memory = ram;`"),
            );
            memory_ok = false;
        }

        // `#[bytes]`: the size argument is the size in bytes.
        let bytes_attr = item
            .attrs
            .iter()
            .filter(|a| a.name.name == "bytes")
            .collect::<Vec<_>>();
        if !bytes_attr.is_empty() {
            return self.check_byte_object(
                index,
                address_bits,
                &bytes_attr,
                ram,
                device,
                memory_ok,
            );
        }

        // Size argument domain.
        let domain = match &object.param {
            None => Some(vec![0]),
            Some(param) => self.domain(name, param),
        };

        // Size rule over the domain.
        let size_expr = match object.sizes.as_slice() {
            [] => {
                self.diags.push(
                    Diagnostic::new(
                        Code::MissingStatement,
                        object.name.span,
                        format!("object type `{name}` has no size"),
                    )
                    .label("no `size = ...;` statement")
                    .help("add its size in bytes, e.g. `size = 64;`"),
                );
                return None;
            }
            [size, rest @ ..] => {
                if let Some(extra) = rest.first() {
                    self.diags.push(
                        Diagnostic::new(
                            Code::DuplicateStatement,
                            extra.span,
                            format!("`size` of `{name}` is given twice"),
                        )
                        .label("given again here")
                        .with_secondary(size.span, "first given here")
                        .help("keep one `size` statement"),
                    );
                }
                size
            }
        };
        let domain = domain?;
        let param_name = object.param.as_ref().map(|p| p.name.name.as_str());
        let mut table = Vec::with_capacity(domain.len());
        for arg in domain {
            let env = param_name.map(|p| (p, arg));
            let at = match param_name {
                Some(p) => format!(" for `{p} = {arg}`"),
                None => String::new(),
            };
            let size = match self.eval(size_expr, env) {
                Ok(size) => size,
                Err(EvalError::Reported) => return None,
                Err(EvalError::Overflow { span, op, lhs, rhs }) => {
                    self.diags.push(
                        Diagnostic::new(
                            Code::SizeOverflow,
                            span,
                            format!("the size of `{name}` overflows 64 bits{at}"),
                        )
                        .label(format!(
                            "`{lhs} {} {rhs}` does not fit in 64 bits",
                            op.symbol()
                        ))
                        .with_secondary(object.name.span, "object type declared here")
                        .help("narrow the size argument's range or change the size rule"),
                    );
                    return None;
                }
                Err(EvalError::Underflow { span, lhs, rhs }) => {
                    self.diags.push(
                        Diagnostic::new(
                            Code::SizeRuleUndefined,
                            span,
                            format!("the size rule of `{name}` is not defined{at}"),
                        )
                        .label(format!("`{lhs} - {rhs}` is negative"))
                        .with_secondary(object.name.span, "object type declared here")
                        .note("a size rule must give a size for every value its parameter may take")
                        .help("narrow the size argument's range or change the size rule"),
                    );
                    return None;
                }
            };
            if !size.is_power_of_two() {
                self.diags.push(
                    Diagnostic::new(Code::SizeNotPowerOfTwo, size_expr.span, format!("the size of `{name}` is not a power of two{at}"))
                        .label(format!("{size} bytes"))
                        .note("objects are placed at their natural alignment, which must be a power of two")
                        .help(format!("round it up to {} bytes", size.checked_next_power_of_two().unwrap_or(1 << 63))),
                );
                return None;
            }
            let bits = size.trailing_zeros();
            if bits > address_bits {
                self.diags.push(
                    Diagnostic::new(
                        Code::SizeAboveAddressSpace,
                        size_expr.span,
                        format!("`{name}` is larger than the address space{at}"),
                    )
                    .label(format!("2^{bits} bytes"))
                    .note(format!("the target has {address_bits}-bit addresses"))
                    .help("narrow the size argument's range"),
                );
                return None;
            }
            table.push((arg, bits));
        }
        let size = SizeRule {
            param: param_name.map(str::to_string),
            table,
            bytes: None,
        };

        // Alignment.
        let align_bits = match object.aligns.as_slice() {
            [] => None,
            [align, rest @ ..] => {
                if let Some(extra) = rest.first() {
                    self.diags.push(
                        Diagnostic::new(
                            Code::DuplicateStatement,
                            extra.span,
                            format!("`align` of `{name}` is given twice"),
                        )
                        .label("given again here")
                        .with_secondary(align.span, "first given here")
                        .help("keep one `align` statement"),
                    );
                }
                let value = self.eval_reported(align, None)?;
                if !value.is_power_of_two() {
                    self.diags.push(
                        Diagnostic::new(
                            Code::AlignNotPowerOfTwo,
                            align.span,
                            format!("the alignment of `{name}` is not a power of two"),
                        )
                        .label(format!("{value} bytes"))
                        .help(match value {
                            0 => "use a power of two, e.g. `align = 16;`".to_string(),
                            _ => {
                                let below = 1u64 << (63 - value.leading_zeros());
                                match value.checked_next_power_of_two() {
                                    Some(above) => format!("use {below} or {above} bytes"),
                                    None => format!("use {below} bytes"),
                                }
                            }
                        }),
                    );
                    return None;
                }
                let bits = value.trailing_zeros();
                if bits > size.min_bits() {
                    self.diags.push(
                        Diagnostic::new(Code::AlignAboveSize, align.span, format!("`{name}` is aligned more strictly than its size"))
                            .label(format!("alignment {}", bytes(value)))
                            .note(format!("the smallest `{name}` is {}", bytes(1 << size.min_bits())))
                            .help("remove the `align` statement: objects are naturally aligned to their size"),
                    );
                    return None;
                }
                Some(bits)
            }
        };
        let finalisers = self.finalisers(name, object)?;
        if !memory_ok {
            return None;
        }
        // A second object of the same name (E0101, reported already) is
        // checked but not accepted, so later passes do not report it again.
        if !matches!(self.types.get(name), Some((TypeSym::Object(i), _)) if *i == index) {
            return None;
        }
        Some(model::Object {
            docs: item.docs.clone(),
            name: name.clone(),
            kind: object.kind,
            size,
            align_bits,
            ram,
            device,
            finalisers,
            // Filled in by the lifecycle pass, which knows the cap types.
            slots: Vec::new(),
            // Filled in by the tables pass, which knows every object.
            table: None,
            asid_pool: None,
            // Set by `check_objects` from the numbering pass.
            number: 0,
            numbers: Vec::new(),
            span: object.name.span,
        })
    }

    /// A byte-sized object type (`#[bytes]`, Barrelfish's RAM and Frame):
    /// `#[bytes] frame Frame(bytes in 4 KiB..=1 << 47) { size = bytes; align
    /// = 4 KiB; }`. Its size argument is its size in bytes, any multiple of
    /// its `align` (the granule) in the range; objects are aligned to the
    /// granule. E0615 for a malformed attribute or a size argument that is
    /// not a range, E0616 for a size rule other than the argument, E0617 for
    /// a missing granule or bounds that are not multiples of it, E0618 for
    /// sizes beyond the address space.
    fn check_byte_object(
        &mut self,
        index: usize,
        address_bits: u32,
        attrs: &[&crate::ast::Attribute],
        ram: bool,
        device: bool,
        memory_ok: bool,
    ) -> Option<model::Object> {
        let (item, object) = self.items.objects[index];
        let name = &object.name.name;
        let attr = attrs[0];
        if let Some(extra) = attrs.get(1) {
            self.diags.push(
                Diagnostic::new(
                    Code::BytesAttribute,
                    extra.span,
                    format!("`#[bytes]` is given twice on `{name}`"),
                )
                .label("given again here")
                .with_secondary(attr.span, "first given here")
                .help("keep one `#[bytes]`"),
            );
            return None;
        }
        // `#[bytes(granule = N)]`: sizes are multiples of N, objects
        // aligned to `align`; `#[bytes]`: both are `align`.
        let mut granule_expr = None;
        for arg in &attr.all {
            let granule = attr
                .args
                .iter()
                .find(|(k, e)| k.name == "granule" && k.span.to(e.span) == arg.span());
            if let (Some((_, e)), None) = (granule, granule_expr) {
                granule_expr = Some(e);
                continue;
            }
            self.diags.push(
                Diagnostic::new(Code::BytesAttribute, arg.span(), "`#[bytes]` takes only `granule = N`")
                    .label("not an argument of `#[bytes]`")
                    .note("sizes are whole numbers of the granule; without `granule` it is the object's `align`")
                    .help("write `#[bytes]`, or `#[bytes(granule = 16 KiB)]` for sizes coarser than the alignment"),
            );
            return None;
        }
        let Some(param) = &object.param else {
            self.diags.push(
                Diagnostic::new(Code::BytesAttribute, attr.span, format!("byte-sized `{name}` has no size argument"))
                    .label("`#[bytes]` needs a size argument")
                    .with_secondary(object.name.span, "declared without `(bytes in MIN..=MAX)`")
                    .note("`#[bytes]` makes the size argument the object's size in bytes; a fixed size needs no `#[bytes]`")
                    .help(format!("give a range, e.g. `{name}(bytes in 4 KiB..=1 MiB)`, or remove `#[bytes]`")),
            );
            return None;
        };
        let p = &param.name.name;
        let (lo, hi) = match &param.domain {
            Domain::Inclusive(lo, hi) | Domain::Exclusive(lo, hi) => (lo, hi),
            Domain::Set(values) => {
                let span = values[0].span.to(values[values.len() - 1].span);
                self.diags.push(
                    Diagnostic::new(Code::BytesAttribute, span, format!("the sizes of byte-sized `{name}` are a set"))
                        .label("a byte-sized object's size argument is a range")
                        .help(format!("write `{p} in MIN..=MAX`: every multiple of the granule between them is a size")),
                );
                return None;
            }
        };
        let lo_v = self.eval_reported(lo, None);
        let hi_v = self.eval_reported(hi, None);
        let (lo_v, hi_v) = (lo_v?, hi_v?);
        let hi_v = if matches!(param.domain, Domain::Inclusive(..)) {
            Some(hi_v)
        } else {
            hi_v.checked_sub(1)
        };
        let range_span = lo.span.to(hi.span);
        let Some(hi_v) = hi_v.filter(|h| *h >= lo_v) else {
            self.diags.push(
                Diagnostic::new(
                    Code::EmptyDomain,
                    range_span,
                    format!("the size argument of `{name}` has no values"),
                )
                .label("empty range")
                .help("write the smaller bound first"),
            );
            return None;
        };
        // The size rule is the argument.
        let size_expr = match object.sizes.as_slice() {
            [] => {
                self.diags.push(
                    Diagnostic::new(
                        Code::MissingStatement,
                        object.name.span,
                        format!("object type `{name}` has no size"),
                    )
                    .label("no `size = ...;` statement")
                    .help(format!(
                        "a byte-sized object's size is its argument: `size = {p};`"
                    )),
                );
                return None;
            }
            [size, ..] => size,
        };
        if !matches!(&size_expr.kind, crate::ast::ExprKind::Name(n) if n == p) {
            self.diags.push(
                Diagnostic::new(Code::BytesSizeRule, size_expr.span, format!("the size of byte-sized `{name}` is not its size argument"))
                    .label(format!("`{p}` is the size in bytes; this computes another"))
                    .with_secondary(attr.span, "byte-sized here")
                    .note("with `#[bytes]` the size argument is the object's size in bytes, as Barrelfish's retype takes it")
                    .help(format!("write `size = {p};`, or remove `#[bytes]` for sizes computed from a log2")),
            );
            return None;
        }
        // The granule.
        let Some(align) = object.aligns.first() else {
            self.diags.push(
                Diagnostic::new(Code::BytesGranule, attr.span, format!("byte-sized `{name}` has no granule"))
                    .label("`#[bytes]` without `align`")
                    .with_secondary(object.name.span, "declared here")
                    .note("byte-sized objects are aligned to a granule, not to their size, and their sizes are multiples of it")
                    .help(format!("give the granule in `{name}`, e.g. `align = 4 KiB;` (Barrelfish's base page)")),
            );
            return None;
        };
        let align_value = self.eval_reported(align, None)?;
        if !align_value.is_power_of_two() {
            self.diags.push(
                Diagnostic::new(
                    Code::AlignNotPowerOfTwo,
                    align.span,
                    format!("the alignment of `{name}` is not a power of two"),
                )
                .label(format!("{align_value} bytes"))
                .help("use a power of two, e.g. `align = 4 KiB;`"),
            );
            return None;
        }
        let granule = match granule_expr {
            None => align_value,
            Some(e) => {
                let granule = self.eval_reported(e, None)?;
                if !granule.is_power_of_two() || granule < align_value {
                    self.diags.push(
                        Diagnostic::new(Code::BytesGranule, e.span, format!("the granule of `{name}` is not a power of two at least its alignment"))
                            .label(format!("{granule} bytes"))
                            .with_secondary(align.span, format!("alignment {}", bytes(align_value)))
                            .note("sizes are whole numbers of the granule, so pieces cut back to back stay aligned")
                            .help(format!("use a power of two of at least {align_value} bytes")),
                    );
                    return None;
                }
                granule
            }
        };
        let align = granule_expr.unwrap_or(align);
        let granule_bits = granule.trailing_zeros();
        for (value, span, which) in [(lo_v, lo.span, "smallest"), (hi_v, hi.span, "largest")] {
            if value == 0 || value % granule != 0 {
                let down = value / granule * granule;
                let fix = if which == "smallest" || down == 0 {
                    value.div_ceil(granule).max(1).saturating_mul(granule)
                } else {
                    down
                };
                self.diags.push(
                    Diagnostic::new(Code::BytesGranule, span, format!("the {which} size of `{name}` is not a multiple of its granule"))
                        .label(format!("{value} bytes"))
                        .with_secondary(align.span, format!("granule {}", bytes(granule)))
                        .note("every size of a byte-sized object is a whole number of granules, at least one")
                        .help(format!("use {fix}")),
                );
                return None;
            }
        }
        let limit = 1u128 << address_bits;
        if u128::from(hi_v) > limit {
            self.diags.push(
                Diagnostic::new(
                    Code::BytesMaximum,
                    hi.span,
                    format!("`{name}` may be larger than the address space"),
                )
                .label(format!("{hi_v} bytes"))
                .note(format!("the target has {address_bits}-bit addresses"))
                .help("narrow the size argument's range"),
            );
            return None;
        }
        // What needs sizes that are powers of two.
        let unsupported = [
            (object.tables.first().map(|t| t.span), "a translation table"),
            (
                object.asid_pools.first().map(|t| t.span),
                "an address-space pool",
            ),
            (
                object.slots.first().map(|s| s.span),
                "an object that owns capability slots",
            ),
        ];
        for (span, what) in unsupported {
            if let Some(span) = span {
                self.diags.push(
                    Diagnostic::new(
                        Code::BytesMixedUse,
                        span,
                        format!("byte-sized `{name}` cannot be {what}"),
                    )
                    .label("needs a size that is a power of two")
                    .with_secondary(attr.span, "byte-sized here")
                    .help("remove `#[bytes]` and size the object by a log2"),
                );
                return None;
            }
        }
        let finalisers = self.finalisers(name, object)?;
        if !memory_ok {
            return None;
        }
        if !matches!(self.types.get(name), Some((TypeSym::Object(i), _)) if *i == index) {
            return None;
        }
        Some(model::Object {
            docs: item.docs.clone(),
            name: name.clone(),
            kind: object.kind,
            size: SizeRule {
                param: Some(p.clone()),
                table: Vec::new(),
                bytes: Some(model::ByteSizes {
                    granule_bits,
                    min: lo_v,
                    max: hi_v,
                }),
            },
            align_bits: Some(align_value.trailing_zeros()),
            ram,
            device,
            finalisers,
            slots: Vec::new(),
            table: None,
            asid_pool: None,
            number: 0,
            numbers: Vec::new(),
            span: object.name.span,
        })
    }

    /// E0619 when `object` is byte-sized (`#[bytes]`) where `what` needs
    /// sizes that are powers of two (allocations by methods, objects of a
    /// system, entries of a table); whether it was reported.
    pub(super) fn reject_byte_object(
        &mut self,
        object: &model::Object,
        span: Span,
        what: &str,
    ) -> bool {
        if !object.size.is_bytes() {
            return false;
        }
        self.diags.push(
            Diagnostic::new(
                Code::BytesMixedUse,
                span,
                format!("byte-sized `{}` cannot be {what}", object.name),
            )
            .label("needs a size that is a power of two")
            .with_secondary(object.span, "byte-sized (`#[bytes]`) here")
            .note("byte-sized objects are made by retype and split only")
            .help(format!(
                "remove `#[bytes]` from `{}` and size it by a log2",
                object.name
            )),
        );
        true
    }

    /// The actions of the `finalise` statement, in the order written.
    fn finalisers(
        &mut self,
        name: &str,
        object: &crate::ast::ObjectItem,
    ) -> Option<Vec<Finaliser>> {
        if let Some(extra) = object.finalises.get(1) {
            let first = &object.finalises[0];
            self.diags.push(
                Diagnostic::new(
                    Code::DuplicateStatement,
                    kinds_span(extra),
                    format!("`finalise` of `{name}` is given twice"),
                )
                .label("given again here")
                .with_secondary(kinds_span(first), "first given here")
                .help("list every action in one statement: `finalise = unmap | release_asid;`"),
            );
        }
        let Some(actions) = object.finalises.first() else {
            return Some(Vec::new());
        };
        let mut out: Vec<(Finaliser, crate::source::Span)> = Vec::new();
        let mut ok = true;
        for action in actions {
            let Some(finaliser) = Finaliser::from_name(&action.name) else {
                self.unknown(
                    action,
                    "finalisation action",
                    Finaliser::ALL.iter().map(|f| f.name()),
                );
                ok = false;
                continue;
            };
            if let Some((_, first)) = out.iter().find(|(f, _)| *f == finaliser) {
                self.diags.push(
                    Diagnostic::new(
                        Code::DuplicateName,
                        action.span,
                        format!(
                            "`{}` is listed twice in the finalisation of `{name}`",
                            action.name
                        ),
                    )
                    .label("listed again here")
                    .with_secondary(*first, "first listed here")
                    .help("list each action once"),
                );
                ok = false;
                continue;
            }
            out.push((finaliser, action.span));
        }
        ok.then(|| out.into_iter().map(|(f, _)| f).collect())
    }

    /// Every value of a size argument, ascending.
    fn domain(&mut self, name: &str, param: &crate::ast::SizeParam) -> Option<Vec<u64>> {
        let span = match &param.domain {
            Domain::Inclusive(lo, hi) | Domain::Exclusive(lo, hi) => lo.span.to(hi.span),
            Domain::Set(values) => values[0].span.to(values[values.len() - 1].span),
        };
        let mut empty_help = None;
        let values: Vec<u64> = match &param.domain {
            Domain::Inclusive(lo, hi) | Domain::Exclusive(lo, hi) => {
                let lo_v = self.eval_reported(lo, None);
                let hi_v = self.eval_reported(hi, None);
                let (lo_v, hi_v) = (lo_v?, hi_v?);
                let hi_incl = if matches!(param.domain, Domain::Inclusive(..)) {
                    Some(hi_v)
                } else {
                    hi_v.checked_sub(1)
                };
                empty_help = Some(match param.domain {
                    Domain::Inclusive(..) if lo_v > hi_v => {
                        format!("write the smaller bound first: `{hi_v}..={lo_v}`")
                    }
                    Domain::Exclusive(..) if lo_v == hi_v => {
                        format!(
                            "`{lo_v}..{hi_v}` excludes its end; to allow only {lo_v}, write `{lo_v}..={hi_v}`"
                        )
                    }
                    _ => format!("write the smaller bound first: `{hi_v}..{lo_v}`"),
                });
                match hi_incl {
                    Some(hi) if hi >= lo_v => {
                        if hi - lo_v >= MAX_DOMAIN {
                            self.diags.push(
                                Diagnostic::new(
                                    Code::DomainTooLarge,
                                    span,
                                    format!(
                                        "the size argument of `{name}` ranges over too many values"
                                    ),
                                )
                                .label(format!("{} values", (hi - lo_v).saturating_add(1)))
                                .note(format!(
                                    "every value is checked; at most {MAX_DOMAIN} are allowed"
                                ))
                                .help("a size argument is usually a log2, e.g. `bits in 4..=47`"),
                            );
                            return None;
                        }
                        (lo_v..=hi).collect()
                    }
                    _ => Vec::new(),
                }
            }
            Domain::Set(exprs) => {
                let mut values = Vec::new();
                for e in exprs {
                    values.push(self.eval_reported(e, None));
                }
                let mut values: Vec<u64> = values.into_iter().collect::<Option<_>>()?;
                values.sort_unstable();
                values.dedup();
                values
            }
        };
        if values.is_empty() {
            self.diags.push(
                Diagnostic::new(
                    Code::EmptyDomain,
                    span,
                    format!("the size argument of `{name}` can take no value"),
                )
                .label("empty range")
                .help(empty_help.unwrap_or_else(|| "write the smaller bound first".to_string())),
            );
            return None;
        }
        Some(values)
    }
}

/// The span of a `memory = ...;` list of kinds.
fn kinds_span(kinds: &[crate::ast::Ident]) -> crate::source::Span {
    let first = kinds[0].span;
    kinds.last().map_or(first, |k| first.to(k.span))
}
