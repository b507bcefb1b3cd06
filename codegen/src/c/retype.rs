//! `cap_for` and the retype validator of the Rust module
//! (backend/caps.rs's `ObjectType::cap_for`, backend/retype.rs's `retype`,
//! `RetypeRule`, `UntypedMemory`) in C. The per-spec knowledge (which
//! field is the watermark and in what unit, which objects a source may
//! become, each object's size bounds, alignment and kind of memory) is
//! generated as `switch` arms from the model; the algorithm, seL4's
//! `decodeUntypedInvocation` in its order of checks, is written once below
//! (`RETYPE_BODY`) as it is in the Rust backend, and so is `retype_at`
//! (`RETYPE_AT_BODY`) for a spec with an `#[at_offset]` retype rule.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use capc_dsl::model::{CapField, CapId, CapType, FieldKind, Object, Retype, Role};

use super::predicates::{get, object_const, tag};
use super::{Header, c_snake, c_upper, u64_lit};

pub(crate) fn generate(h: &mut Header<'_, '_>) {
    cap_for(h);
    if !h.g.spec.retypes.is_empty() {
        retype(h);
    } else if super::split::any(h) {
        object_facts(h);
    }
}

/// The value a new object's cap stores in `f` and the parameter it reads,
/// when it is not 0 (the empty cap's value); as backend/caps.rs's
/// `new_object_value`.
fn new_value(
    h: &Header<'_, '_>,
    c: &CapType,
    f: &CapField,
    o: &Object,
) -> Option<(String, Option<&'static str>)> {
    let device = match (o.ram, o.device) {
        (true, true) => Some(("device", Some("device"))),
        (true, false) => None,
        (false, _) => Some(("true", None)),
    };
    Some(match (f.role, &f.kind) {
        (Role::Object, _) if f.virtual_offset != 0 => (
            format!("address + UINT64_C({:#x})", f.virtual_offset),
            Some("address"),
        ),
        (Role::Object, _) => ("address".to_string(), Some("address")),
        (Role::SizeArg, _) if f.size_bytes => (
            "(size_arg < 64 ? UINT64_C(1) << size_arg : 0)".to_string(),
            Some("size_arg"),
        ),
        (Role::SizeArg, _) => ("size_arg".to_string(), Some("size_arg")),
        (Role::Device, FieldKind::Bool) => {
            let (v, p) = device?;
            (v.to_string(), p)
        }
        (Role::Device, _) => {
            let (v, p) = device?;
            (format!("(uint64_t){v}"), p)
        }
        (_, FieldKind::Rights { .. }) => (
            format!("{}_{}_VALID_RIGHTS", h.upper, c_upper(&c.name)),
            None,
        ),
        // An enumerated field starts at its first variant.
        (Role::Plain, _) if h.g.spec.initial_value(f) != 0 => {
            (u64_lit(h.g.spec.initial_value(f)), None)
        }
        _ => return None,
    })
}

fn cap_for(h: &mut Header<'_, '_>) {
    let (l, spec) = (h.lower.clone(), h.g.spec);
    let f = h.name(format!("{l}_cap_for"), "the new object's cap");
    let mut arms = String::new();
    let mut used = BTreeSet::new();
    for (i, o) in spec.objects.iter().enumerate() {
        let Some(c) = spec
            .caps
            .iter()
            .find(|c| c.object.is_some_and(|id| id.index() == i))
        else {
            continue;
        };
        let sets: Vec<String> = c
            .fields
            .iter()
            .filter_map(|field| {
                let (value, param) = new_value(h, c, field, o)?;
                used.extend(param);
                Some(format!(
                    "!{l}_{}_set_{}(&c, {value})",
                    c_snake(&c.name),
                    c_snake(&field.name)
                ))
            })
            .collect();
        let _ = writeln!(
            arms,
            "    case {}:\n        c = {l}_{}_empty();",
            object_const(h, i),
            c_snake(&c.name)
        );
        if !sets.is_empty() {
            let _ = writeln!(
                arms,
                "        if ({}) {{\n            return false;\n        }}",
                sets.join("\n            || ")
            );
        }
        let _ = writeln!(arms, "        break;");
    }
    let _ = writeln!(
        h.out,
        "/**\n * The cap a retype makes for a new object of type `object_type` at `address`,\n \
         * of the first cap type the spec declares for it, in `cap`: its `#[object]`\n \
         * field `address`, its `#[size_arg]` field `size_arg`, its `#[device]` field\n \
         * `device` (always true for objects only device memory may hold), its rights\n \
         * every right the cap type may carry, every other field 0. False, leaving\n \
         * `cap` alone, for an unknown object type, one no cap type names, or a value\n \
         * a field refuses (a misaligned or too wide address, a size argument too\n \
         * wide).\n */\n\
         static inline bool {f}(uint64_t object_type, uint64_t address, uint64_t size_arg, bool device,\n\
         {}{l}_cap_t *cap)\n{{",
        " ".repeat(f.len() + 20)
    );
    for param in ["address", "size_arg", "device"] {
        if !used.contains(param) {
            let _ = writeln!(h.out, "    (void){param};");
        }
    }
    if arms.is_empty() {
        let _ = writeln!(
            h.out,
            "    (void)object_type;\n    (void)cap;\n    return false;\n}}\n"
        );
        return;
    }
    let _ = writeln!(
        h.out,
        "    {l}_cap_t c;\n    switch (object_type) {{\n{arms}    default:\n        return false;\n    }}\n    \
         *cap = c;\n    return true;\n}}\n"
    );
}

/// The first rule for each source cap type (later ones are unreachable),
/// as backend/retype.rs's `rules`.
fn rules<'a>(h: &Header<'a, '_>) -> Vec<&'a Retype> {
    let mut seen = BTreeSet::<CapId>::new();
    h.g.spec
        .retypes
        .iter()
        .filter(|r| seen.insert(r.source))
        .collect()
}

fn retype(h: &mut Header<'_, '_>) {
    let (l, u, spec) = (h.lower.clone(), h.upper.clone(), h.g.spec);
    let rules = rules(h);

    // Types.
    let status = h.name(format!("{l}_retype_status"), "the retype status enum");
    let variants = [
        (
            "OK",
            "The retype is allowed; the result holds its placement.",
        ),
        (
            "INVALID_ARGUMENT",
            "Argument `index` is invalid: 0 the object type (unknown, or one this source\n     \
             * may not become), 1 the size argument (below the smallest), or an object the\n     \
             * source's kind of memory (RAM or device) may not hold.",
        ),
        (
            "RANGE_ERROR",
            "A value lies outside `min..=max`: the size argument, the destination offset,\n     \
             * the count, or the window of slots.",
        ),
        (
            "NOT_ENOUGH_MEMORY",
            "The source has `left` bytes from its watermark to its end: fewer than the\n     \
             * objects need (or the new watermark does not fit its field).",
        ),
        ("DELETE_FIRST", "A destination slot is occupied."),
        (
            "FAILED_LOOKUP",
            "The destination CNode was not found (`destination` is a null pointer).",
        ),
        (
            "ILLEGAL_OPERATION",
            "The source cannot be retyped (no rule for its type, or its size argument is\n     \
             * not allowed), or the last object's cap cannot be made.",
        ),
        (
            "TRUNCATED_MESSAGE",
            "The message is shorter than a retype call needs; reported by the decoder,\n     \
             * never by the validator.",
        ),
    ];
    // `retype_at`'s two refusals, after `retype`'s, as in `RetypeError`.
    let at_offset = rules.iter().any(|r| r.at_offset);
    let at_variants: &[(&str, &str)] = if at_offset {
        &[
            (
                "ALIGNMENT_ERROR",
                "`retype_at`: the objects' first address is not aligned to the object's\n     \
                 * alignment.",
            ),
            (
                "REVOKE_FIRST",
                "`retype_at`: live memory (a copy of the source, or a descendant of it or\n     \
                 * of a copy) meets the objects.",
            ),
        ]
    } else {
        &[]
    };
    let _ = writeln!(
        h.out,
        "/* Retype: the Rust module's `retype`, `RetypeRule`, `UntypedMemory`. */\n\n\
         /** Why a retype was refused, as the Rust module's `RetypeError` (0: it was not). */\n\
         enum {status} {{"
    );
    for (i, (name, doc)) in variants.iter().chain(at_variants).enumerate() {
        let name = h.name(format!("{u}_RETYPE_{name}"), "a retype status");
        let _ = writeln!(h.out, "    /** {doc} */\n    {name} = {i},");
    }
    let _ = writeln!(h.out, "}};\n");
    let request = h.name(format!("{l}_retype_request"), "the retype request");
    let destination = h.name(format!("{l}_retype_destination"), "the retype destination");
    let placement = h.name(format!("{l}_placement"), "the retype placement");
    let result = h.name(format!("{l}_retype_result"), "the retype result");
    let memory = h.name(format!("{l}_untyped_memory"), "the untyped memory");
    let (size_doc, size_member) = if h.g.byte_sizes() {
        ("`size` bytes from `first` on", "uint64_t size;")
    } else {
        (
            "`1 << size_bits` bytes from `first` on",
            "uint32_t size_bits;",
        )
    };
    let _ = writeln!(
        h.out,
        "/** The word arguments of a retype call, unchecked. */\n\
         struct {request} {{\n    \
         /** The object type's number ({u}_OBJECT_*). */\n    uint64_t object_type;\n    \
         /** The size argument (0 for fixed-size types). */\n    uint64_t size_arg;\n    \
         /** The first destination slot. */\n    uint64_t offset;\n    \
         /** How many objects to make, one per slot from `offset` on. */\n    uint64_t count;\n}};\n\n\
         /** The destination CNode, as the kernel's lookup found it. */\n\
         struct {destination} {{\n    /** How many slots it has. */\n    uint64_t slots;\n}};\n\n\
         /**\n * Where a successful retype puts its objects: `count` objects of\n \
         * {size_doc}, object `i`'s cap (see `{l}_cap_for`)\n \
         * in slot `first_slot + i`, and `updated_source` written back to the source's\n \
         * slot.\n */\n\
         struct {placement} {{\n    uint64_t object_type;\n    uint64_t size_arg;\n    \
         {size_member}\n    uint64_t first;\n    uint64_t count;\n    uint64_t first_slot;\n    \
         /** Bytes from the source's base to the end of the last object. */\n    \
         uint64_t new_watermark;\n    \
         /** The source had no children, so its watermark was taken as 0. */\n    bool reset;\n    \
         /** The source cap with its watermark set to `new_watermark`. */\n    \
         {l}_cap_t updated_source;\n}};\n\n\
         /** A retype's payload: the fields its status names, 0 otherwise. */\n\
         struct {result} {{\n    /** {u}_RETYPE_INVALID_ARGUMENT: which argument. */\n    uint64_t index;\n    \
         /** {u}_RETYPE_RANGE_ERROR: the allowed range. */\n    uint64_t min;\n    uint64_t max;\n    \
         /** {u}_RETYPE_NOT_ENOUGH_MEMORY: the free bytes. */\n    uint64_t left;\n    \
         /** {u}_RETYPE_OK: where the objects go (unset otherwise). */\n    \
         struct {placement} placement;\n}};\n\n\
         /** The memory of a cap that can be retyped, read from its fields. */\n\
         struct {memory} {{\n    {l}_cap_t cap;\n    uint64_t base;\n    uint64_t size;\n    \
         /** Bytes already retyped (from the `#[watermark]` field's units; saturated). */\n    \
         uint64_t watermark;\n    bool device;\n}};\n"
    );

    // Rules.
    let rule_of = h.name(format!("{l}_retype_rule_of"), "the retype rule lookup");
    let allows = h.name(format!("{l}_retype_rule_allows"), "the retype rule check");
    let mut fan_out = String::new();
    let mut targets = String::new();
    for r in &rules {
        let c = &spec.caps[r.source.index()];
        let _ = writeln!(
            fan_out,
            "    case {}:\n        *fan_out = {};\n        return true;",
            tag(h, c),
            u64_lit(r.fan_out)
        );
        let allowed: Vec<String> = r
            .targets
            .iter()
            .map(|t| format!("object_type == {}", object_const(h, t.index())))
            .collect();
        let allowed = if allowed.is_empty() {
            "false".to_string()
        } else {
            allowed.join("\n            || ")
        };
        let _ = writeln!(
            targets,
            "    case {}:\n        return {allowed};",
            tag(h, c)
        );
    }
    let _ = writeln!(
        h.out,
        "/** Whether caps with tag `tag` can be retyped; the most objects one call may\n \
         * make in `fan_out`. */\n\
         static inline bool {rule_of}(uint64_t tag, uint64_t *fan_out)\n{{\n    switch (tag) {{\n\
         {fan_out}    default:\n        return false;\n    }}\n}}\n\n\
         /** Whether the retype rule of caps with tag `tag` lets them become `object_type`. */\n\
         static inline bool {allows}(uint64_t tag, uint64_t object_type)\n{{\n    switch (tag) {{\n\
         {targets}    default:\n        return false;\n    }}\n}}\n"
    );
    if at_offset {
        let at = h.name(
            format!("{l}_retype_rule_at_offset"),
            "the retype-at rule check",
        );
        let tags: Vec<String> = rules
            .iter()
            .filter(|r| r.at_offset)
            .map(|r| format!("    case {}:", tag(h, &spec.caps[r.source.index()])))
            .collect();
        let _ = writeln!(
            h.out,
            "/** Whether caps with tag `tag` may also be retyped at an explicit offset\n \
             * (`#[at_offset]` in the spec): see `{l}_retype_at`. */\n\
             static inline bool {at}(uint64_t tag)\n{{\n    switch (tag) {{\n{}\n        \
             return true;\n    default:\n        return false;\n    }}\n}}\n",
            tags.join("\n")
        );
    }

    object_facts(h);

    // UntypedMemory::of and with_watermark.
    let of = h.name(
        format!("{l}_untyped_memory_of"),
        "the untyped memory reader",
    );
    let with = h.name(
        format!("{l}_untyped_memory_with_watermark"),
        "the watermark writer",
    );
    let mut of_arms = String::new();
    let mut with_arms = String::new();
    for r in &rules {
        let c = &spec.caps[r.source.index()];
        let Some(object) = c.object.map(|o| &spec.objects[o.index()]) else {
            continue;
        };
        let Some(field) = c.field_with(Role::Watermark) else {
            continue;
        };
        let value = get(h, c, field, "cap");
        let unit = 1u64.checked_shl(field.unit_bits).unwrap_or(0);
        let watermark = if field.unit_bits == 0 {
            value
        } else if u32::from(field.width) + field.unit_bits <= 64 {
            format!("{value} * {}", u64_lit(unit))
        } else {
            format!(
                "{value} > UINT64_MAX / {unit} ? UINT64_MAX : {value} * {unit}",
                unit = u64_lit(unit)
            )
        };
        let device = match (object.ram, object.device, c.field_with(Role::Device)) {
            (false, _, _) => "true".to_string(),
            (true, true, Some(f)) => format!("(bool){}", get(h, c, f, "cap")),
            (true, _, _) => "false".to_string(),
        };
        let _ = writeln!(
            of_arms,
            "    case {}:\n        memory->watermark = {watermark};\n        memory->device = {device};\n        break;",
            tag(h, c)
        );
        let units = if field.unit_bits == 0 {
            "bytes".to_string()
        } else {
            let unit = u64_lit(unit);
            format!("bytes / {unit} + (uint64_t)(bytes % {unit} != 0)")
        };
        let _ = writeln!(
            with_arms,
            "    case {}:\n        if (!{l}_{}_set_{}(&c, {units})) {{\n            return false;\n        }}\n        break;",
            tag(h, c),
            c_snake(&c.name),
            c_snake(&field.name)
        );
    }
    let with_unused = if with_arms.is_empty() {
        "    (void)bytes;\n"
    } else {
        ""
    };
    let _ = writeln!(
        h.out,
        "/** The memory of `cap` in `memory`, if a retype rule applies to its type and its\n \
         * size argument is one its object type allows; false (`memory` unset) if not. */\n\
         static inline bool {of}({l}_cap_t cap, struct {memory} *memory)\n{{\n    \
         uint64_t base, size;\n    if (!{l}_cap_region(cap, &base, &size)) {{\n        return false;\n    }}\n    \
         switch ({l}_cap_get_tag(cap)) {{\n{of_arms}    default:\n        return false;\n    }}\n    \
         memory->cap = cap;\n    memory->base = base;\n    memory->size = size;\n    return true;\n}}\n\n\
         /** The memory's cap with its watermark set to `bytes` (rounded up to the field's\n \
         * unit) in `cap`; false (`cap` unset) if it does not fit the field. */\n\
         static inline bool {with}(const struct {memory} *memory, uint64_t bytes, {l}_cap_t *cap)\n{{\n\
         {with_unused}    {l}_cap_t c = memory->cap;\n    switch ({l}_cap_get_tag(c)) {{\n{with_arms}    \
         default:\n        return false;\n    }}\n    *cap = c;\n    return true;\n}}\n"
    );

    let f = h.name(format!("{l}_retype"), "the retype validator");
    // A type numbered per size argument (`#[number(A, B, ...)]`) names its
    // size argument itself: the request's two words are read into locals,
    // the per-size numbers replaced by the type's number and argument.
    let upper = h.upper.as_str();
    let per_size: Vec<String> = h
        .g
        .spec
        .objects
        .iter()
        .flat_map(|o| {
            o.numbers.iter().map(move |&(arg, _)| {
                format!(
                    "    case {upper}_OBJECT_{o}_NUMBER_{arg}:\n        object_type = {};\n        size_arg = {};\n        break;\n",
                    o.number,
                    u64_lit(arg),
                    o = c_upper(&o.name),
                )
            })
        })
        .collect();
    let (object_type, size_arg, normalise) = if per_size.is_empty() {
        ("request->object_type", "request->size_arg", String::new())
    } else {
        (
            "object_type",
            "size_arg",
            format!(
                "    uint64_t object_type = request->object_type, size_arg = request->size_arg;\n\n    switch (object_type) {{\n{}    default:\n        break;\n    }}\n",
                per_size.concat()
            ),
        )
    };
    let bytes = h.g.byte_sizes();
    let fill = |template: &str, f: &str| -> String {
        sized(bytes, template)
            .replace("@N@", &normalise)
            .replace("@T@", object_type)
            .replace("@A@", size_arg)
            .replace("@l@", &l)
            .replace("@U@", &u)
            .replace("@f@", f)
    };
    let body = fill(RETYPE_BODY, &f);
    let _ = writeln!(h.out, "{body}");
    if at_offset {
        let f = h.name(format!("{l}_retype_at"), "the retype-at validator");
        let body = fill(RETYPE_AT_BODY, &f);
        let _ = writeln!(h.out, "{body}");
    }
}

/// `template` with sizes in bytes for a spec with a byte-sized object type
/// (`RETYPE_BODY` and `RETYPE_AT_BODY` are written in bits).
fn sized(bytes: bool, template: &str) -> String {
    let template = template
        .replace("@CHECKS@\n", REQUEST_CHECKS)
        .replace("@PLACED@\n", PLACED);
    if bytes {
        template
            .replace("    int bits;\n", "    uint64_t size;\n    uint32_t size_bits;\n")
            .replace(
                "    bits = @l@_object_size_bits(@T@, @A@);\n    if (bits < 0) {",
                "    size = @l@_object_size_bytes(@T@, @A@);\n    if (size == 0) {",
            )
            .replace(
                "    if (bits >= 64 || (left >> bits) < request->count) {",
                "    if (left / size < request->count) {",
            )
            .replace("    bytes = request->count << bits;\n", "    bytes = request->count * size;\n")
            .replace(
                "    align_bits = @l@_object_align_bits(@T@, (uint32_t)bits);",
                "    for (size_bits = 0; size_bits < 63 && ((size >> size_bits) & 1) == 0; size_bits++) {\n    }\n    align_bits = @l@_object_align_bits(@T@, size_bits);",
            )
            .replace("    last = (request->count - 1) << bits;", "    last = (request->count - 1) * size;")
            .replace(
                "    result->placement.size_bits = (uint32_t)bits;",
                "    result->placement.size = size;",
            )
    } else {
        template
    }
}

/// The end of `retype` and `retype_at` (`@PLACED@`): checks 7's last,
/// 8 and 9, and the placement.
const PLACED: &str = r#"    if (!@l@_untyped_memory_with_watermark(&memory, new_watermark, &updated_source)) {
        result->left = left;
        return @U@_RETYPE_NOT_ENOUGH_MEMORY;
    }
    if (!@l@_object_may_hold(@T@, memory.device)) {
        result->index = 1;
        return @U@_RETYPE_INVALID_ARGUMENT;
    }
    /* Addresses grow with the object's index: if the last object's cap can be
     * made, every earlier one can. */
    last = (request->count - 1) << bits;
    if (last > UINT64_MAX - first
        || !@l@_cap_for(@T@, first + last, @A@, memory.device,
                        &cap)) {
        return @U@_RETYPE_ILLEGAL_OPERATION;
    }
    result->placement.object_type = @T@;
    result->placement.size_arg = @A@;
    result->placement.size_bits = (uint32_t)bits;
    result->placement.first = first;
    result->placement.count = request->count;
    result->placement.first_slot = request->offset;
    result->placement.new_watermark = new_watermark;
    result->placement.reset = !has_children;
    result->placement.updated_source = updated_source;
    return @U@_RETYPE_OK;
"#;

/// Checks 2 to 6 of `retype` and `retype_at`, the same in both
/// (`@CHECKS@` in their templates): the object type, the size argument,
/// the destination, its window and its empty slots.
const REQUEST_CHECKS: &str = r#"    if (!@l@_retype_rule_allows(@l@_cap_get_tag(source), @T@)) {
        return @U@_RETYPE_INVALID_ARGUMENT;
    }
    bits = @l@_object_size_bits(@T@, @A@);
    if (bits < 0) {
        @l@_object_arg_bounds(@T@, &min, &max);
        if (@A@ < min) {
            result->index = 1;
            return @U@_RETYPE_INVALID_ARGUMENT;
        }
        result->min = min;
        result->max = max;
        return @U@_RETYPE_RANGE_ERROR;
    }
    if (!destination) {
        return @U@_RETYPE_FAILED_LOOKUP;
    }
    if (request->offset >= destination->slots) {
        result->max = destination->slots == 0 ? 0 : destination->slots - 1;
        return @U@_RETYPE_RANGE_ERROR;
    }
    if (request->count == 0 || request->count > fan_out) {
        result->min = 1;
        result->max = fan_out;
        return @U@_RETYPE_RANGE_ERROR;
    }
    if (request->count > destination->slots - request->offset) {
        result->min = 1;
        result->max = destination->slots - request->offset;
        return @U@_RETYPE_RANGE_ERROR;
    }
    for (slot = request->offset; slot < request->offset + request->count; slot++) {
        if (!slot_is_empty(context, slot)) {
            return @U@_RETYPE_DELETE_FIRST;
        }
    }
"#;

/// The object facts `retype` and the splits need: `_object_arg_bounds`,
/// `_object_align_bits`, `_object_may_hold`.
pub(crate) fn object_facts(h: &mut Header<'_, '_>) {
    let (l, spec) = (h.lower.clone(), h.g.spec);
    let bounds = h.name(format!("{l}_object_arg_bounds"), "the size bounds");
    let align = h.name(format!("{l}_object_align_bits"), "the alignment");
    let may_hold = h.name(format!("{l}_object_may_hold"), "the memory check");
    let mut bound_arms = String::new();
    let mut align_arms = String::new();
    let mut hold_arms = String::new();
    for (i, o) in spec.objects.iter().enumerate() {
        let k = object_const(h, i);
        let _ = writeln!(
            bound_arms,
            "    case {k}:\n        *min = {};\n        *max = {};\n        return;",
            u64_lit(o.size.min_arg()),
            u64_lit(o.size.max_arg())
        );
        if let Some(a) = o.align_bits {
            let _ = writeln!(align_arms, "    case {k}:\n        return {a};");
        }
        let hold = match (o.ram, o.device) {
            (true, true) => "true",
            (true, false) => "!device",
            (false, true) => "device",
            (false, false) => "false",
        };
        let _ = writeln!(hold_arms, "    case {k}:\n        return {hold};");
    }
    let align_body = if align_arms.is_empty() {
        "    (void)object_type;\n    return size_bits;".to_string()
    } else {
        format!(
            "    switch (object_type) {{\n{align_arms}    default:\n        return size_bits;\n    }}"
        )
    };
    let _ = writeln!(
        h.out,
        "/** The smallest and largest size argument of `object_type` (0 and 0 if unknown). */\n\
         static inline void {bounds}(uint64_t object_type, uint64_t *min, uint64_t *max)\n{{\n    \
         switch (object_type) {{\n{bound_arms}    default:\n        *min = 0;\n        *max = 0;\n        \
         return;\n    }}\n}}\n\n\
         /** log2 of the alignment of an object of `object_type` and `size_bits`. */\n\
         static inline uint32_t {align}(uint64_t object_type, uint32_t size_bits)\n{{\n{align_body}\n}}\n\n\
         /** Whether device memory (`device`) or RAM may hold objects of `object_type`. */\n\
         static inline bool {may_hold}(uint64_t object_type, bool device)\n{{\n    \
         switch (object_type) {{\n{hold_arms}    default:\n        return false;\n    }}\n}}\n"
    );
}

/// The validator, the same for every spec (`@l@`/`@U@`: the prefixes).
const RETYPE_BODY: &str = r#"/**
 * Checks a retype call and works out where its objects go, changing nothing,
 * as the Rust module's `retype`. `source` is the invoked cap, `has_children`
 * whether it has children in the derivation tree (without, its watermark is
 * taken as 0); `destination` the destination CNode (a null pointer: the lookup
 * failed); `slot_is_empty(context, i)` whether slot `i` of it is empty, asked
 * about the window's slots in order. Returns the status; the payload it names
 * goes in `result`, and on @U@_RETYPE_OK the placement.
 *
 * The checks, in seL4's order, each with its status:
 * 1. a retype rule applies to `source` and its size argument is valid, else
 *    ILLEGAL_OPERATION;
 * 2. the object type is one the rule allows, else INVALID_ARGUMENT (index 0);
 * 3. the size argument is not below the type's smallest, else
 *    INVALID_ARGUMENT (index 1), and is allowed, else RANGE_ERROR;
 * 4. the destination was found, else FAILED_LOOKUP;
 * 5. `offset` is a slot of it (RANGE_ERROR 0..slots-1), `count` is in
 *    1..fan_out (RANGE_ERROR), and the window ends within it (RANGE_ERROR
 *    1..slots-offset);
 * 6. every slot of the window is empty, else DELETE_FIRST;
 * 7. the objects fit from the watermark, rounded up to their alignment, to
 *    the region's end, and the new watermark fits its field, else
 *    NOT_ENOUGH_MEMORY with the bytes from the watermark to the end;
 * 8. the source's kind of memory may hold the object, else INVALID_ARGUMENT
 *    (index 1);
 * 9. the last object's cap can be made, else ILLEGAL_OPERATION.
 * All arithmetic is checked.
 */
static inline enum @l@_retype_status @f@(@l@_cap_t source, bool has_children,
                                         const struct @l@_retype_request *request,
                                         const struct @l@_retype_destination *destination,
                                         bool (*slot_is_empty)(void *context, uint64_t slot),
                                         void *context, struct @l@_retype_result *result)
{
    struct @l@_untyped_memory memory;
    uint64_t fan_out, min, max, slot, watermark, left, bytes, end, align_mask, first, last;
    uint64_t new_watermark;
    uint32_t align_bits;
    int bits;
    @l@_cap_t updated_source, cap;
@N@
    result->index = 0;
    result->min = 0;
    result->max = 0;
    result->left = 0;
    if (!@l@_retype_rule_of(@l@_cap_get_tag(source), &fan_out)
        || !@l@_untyped_memory_of(source, &memory)) {
        return @U@_RETYPE_ILLEGAL_OPERATION;
    }
@CHECKS@

    watermark = has_children ? memory.watermark : 0;
    left = memory.size > watermark ? memory.size - watermark : 0;
    if (bits >= 64 || (left >> bits) < request->count) {
        result->left = left;
        return @U@_RETYPE_NOT_ENOUGH_MEMORY;
    }
    bytes = request->count << bits;
    align_bits = @l@_object_align_bits(@T@, (uint32_t)bits);
    if (align_bits >= 64 || memory.size > UINT64_MAX - memory.base
        || watermark > UINT64_MAX - memory.base) {
        result->left = left;
        return @U@_RETYPE_NOT_ENOUGH_MEMORY;
    }
    end = memory.base + memory.size;
    align_mask = (UINT64_C(1) << align_bits) - 1;
    if (align_mask > UINT64_MAX - (memory.base + watermark)) {
        result->left = left;
        return @U@_RETYPE_NOT_ENOUGH_MEMORY;
    }
    first = (memory.base + watermark + align_mask) & ~align_mask;
    if (first > end || bytes > end - first) {
        result->left = left;
        return @U@_RETYPE_NOT_ENOUGH_MEMORY;
    }
    new_watermark = first - memory.base + bytes;
@PLACED@
}
"#;

/// `retype_at`, for a spec with an `#[at_offset]` retype rule: the Rust
/// module's `retype_at`, in its order of checks.
const RETYPE_AT_BODY: &str = r#"/**
 * Checks a retype call that places its objects `at` bytes into the source's
 * region (Barrelfish's retype), not at its watermark, and works out where they
 * go, changing nothing, as the Rust module's `retype_at`. The arguments are
 * `@l@_retype`'s, with `at`, and `meets_live_memory(context, first, bytes)`:
 * whether a live cap other than `source` names memory with a byte among the
 * `bytes` from address `first` on, and is a copy of `source` or a descendant
 * of it or of a copy (asked once, after checks 1 to 6 and 7.1 to 7.3).
 *
 * The checks, each with its status:
 * 1. `@l@_retype`'s check 1, and the rule allows an offset
 *    (`@l@_retype_rule_at_offset`), else ILLEGAL_OPERATION;
 * 2. to 6. `@l@_retype`'s;
 * 7. in order: `at` lies in the region, else RANGE_ERROR (0..size-1); the
 *    region's base plus `at` is aligned to the object's alignment, else
 *    ALIGNMENT_ERROR; `count` objects fit from there to the region's end,
 *    else NOT_ENOUGH_MEMORY with the bytes from `at` to the end; no live
 *    memory meets them, else REVOKE_FIRST; the watermark (0 without
 *    children), raised to the objects' end if it is below, fits its field,
 *    else NOT_ENOUGH_MEMORY;
 * 8. and 9. `@l@_retype`'s.
 * All arithmetic is checked.
 */
static inline enum @l@_retype_status @f@(@l@_cap_t source, bool has_children,
                                         const struct @l@_retype_request *request, uint64_t at,
                                         const struct @l@_retype_destination *destination,
                                         bool (*slot_is_empty)(void *context, uint64_t slot),
                                         bool (*meets_live_memory)(void *context, uint64_t first,
                                                                   uint64_t bytes),
                                         void *context, struct @l@_retype_result *result)
{
    struct @l@_untyped_memory memory;
    uint64_t fan_out, min, max, slot, watermark, left, bytes, first, last;
    uint64_t new_watermark;
    uint32_t align_bits;
    int bits;
    @l@_cap_t updated_source, cap;
@N@
    result->index = 0;
    result->min = 0;
    result->max = 0;
    result->left = 0;
    if (!@l@_retype_rule_of(@l@_cap_get_tag(source), &fan_out)
        || !@l@_retype_rule_at_offset(@l@_cap_get_tag(source))
        || !@l@_untyped_memory_of(source, &memory)) {
        return @U@_RETYPE_ILLEGAL_OPERATION;
    }
@CHECKS@

    if (at >= memory.size) {
        result->max = memory.size == 0 ? 0 : memory.size - 1;
        return @U@_RETYPE_RANGE_ERROR;
    }
    if (at > UINT64_MAX - memory.base) {
        return @U@_RETYPE_ILLEGAL_OPERATION;
    }
    first = memory.base + at;
    align_bits = @l@_object_align_bits(@T@, (uint32_t)bits);
    if (align_bits >= 64 || (first & ((UINT64_C(1) << align_bits) - 1)) != 0) {
        return @U@_RETYPE_ALIGNMENT_ERROR;
    }
    left = memory.size - at;
    if (bits >= 64 || (left >> bits) < request->count) {
        result->left = left;
        return @U@_RETYPE_NOT_ENOUGH_MEMORY;
    }
    bytes = request->count << bits;
    if (meets_live_memory(context, first, bytes)) {
        return @U@_RETYPE_REVOKE_FIRST;
    }
    watermark = has_children ? memory.watermark : 0;
    new_watermark = watermark > at + bytes ? watermark : at + bytes;
@PLACED@
}
"#;
