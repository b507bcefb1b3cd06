//! Splitting rules (`derive T from T;`, Barrelfish's `from_self`) in C:
//! the Rust module's `split`, `split_at`, `range_of` and `split_range`
//! (backend/retype.rs), with `DeriveError`'s variants as a status. A
//! piece's cap is made through the field setters, as the Rust `Split::cap`
//! makes it through the view's.

use std::fmt::Write as _;

use capc_dsl::model::{CapType, Role};

use super::predicates::{get, object_const, tag};
use super::{Header, c_snake, u64_lit};

/// The cap types split into pieces of their object (`split`), each with
/// its rule's `#[at_offset]`.
fn object_splits<'a>(h: &Header<'a, '_>) -> Vec<(&'a CapType, bool)> {
    let spec = h.g.spec;
    spec.derives
        .iter()
        .filter(|r| r.source == r.target)
        .map(|r| (&spec.caps[r.source.index()], r.at_offset))
        .filter(|(c, _)| {
            c.object.is_some()
                && c.field_with(Role::Object).is_some()
                && c.field_with(Role::SizeArg).is_some()
        })
        .collect()
}

/// Whether the spec has a splitting rule the header writes.
pub(crate) fn any(h: &Header<'_, '_>) -> bool {
    !object_splits(h).is_empty() || h.g.spec.derives.iter().any(|r| r.range.is_some())
}

pub(crate) fn generate(h: &mut Header<'_, '_>) {
    if !any(h) {
        return;
    }
    let (l, u) = (h.lower.clone(), h.upper.clone());
    let status = h.name(format!("{l}_derive_status"), "the split status enum");
    let result = h.name(format!("{l}_derive_result"), "the split result");
    let _ = writeln!(
        h.out,
        "/* Splitting: the Rust module's `split`, `split_at`, `split_range`. */\n\n\
         /** Why a split was refused, as the Rust module's `DeriveError` (0: it was not). */\n\
         enum {status} {{"
    );
    let variants = [
        ("OK", "The split is allowed."),
        (
            "ILLEGAL_OPERATION",
            "No splitting rule applies to the source (or it names no valid region), or a\n     \
             * field of a piece refuses its value.",
        ),
        (
            "REVOKE_FIRST",
            "The source has pieces (`split`), or live pieces meet the new ones.",
        ),
        (
            "INVALID_ARGUMENT",
            "Argument `index` is invalid: 1 the size argument (or the range, the whole\n     \
             * source's), 2 the offset (outside the object or misaligned).",
        ),
        (
            "RANGE_ERROR",
            "The count (or the range) lies outside `min..=max`.",
        ),
    ];
    for (i, (name, doc)) in variants.iter().enumerate() {
        let name = h.name(format!("{u}_DERIVE_{name}"), "a split status");
        let _ = writeln!(h.out, "    /** {doc} */\n    {name} = {i},");
    }
    let _ = writeln!(
        h.out,
        "}};\n\n\
         /** A split's payload: the fields its status names, 0 otherwise. */\n\
         struct {result} {{\n    /** {u}_DERIVE_INVALID_ARGUMENT: which argument. */\n    uint64_t index;\n    \
         /** {u}_DERIVE_RANGE_ERROR: the allowed range. */\n    uint64_t min;\n    uint64_t max;\n}};\n"
    );
    if !object_splits(h).is_empty() {
        split(h);
    }
    if h.g.spec.derives.iter().any(|r| r.range.is_some()) {
        split_range(h);
    }
}

/// `struct <l>_split`, `<l>_split_cap`, `<l>_split` and, with an
/// `#[at_offset]` splitting rule, `<l>_split_at`.
fn split(h: &mut Header<'_, '_>) {
    let (l, u) = (h.lower.clone(), h.upper.clone());
    let bytes = h.g.byte_sizes();
    let splits = object_splits(h);
    let split = h.name(format!("{l}_split"), "the split function");
    let split_cap = h.name(format!("{l}_split_cap"), "a piece's cap");
    let object_of = h.name(
        format!("{l}_split_object_type"),
        "the splitting object types",
    );
    let (size_member, size_doc) = if bytes {
        ("uint64_t size;", "A piece's size in bytes.")
    } else {
        ("uint32_t size_bits;", "log2 of a piece's size.")
    };
    let _ = writeln!(
        h.out,
        "/**\n * Where `{split}` puts the pieces of a cap: `count` pieces back to back from\n \
         * `first` (the start of the source's object, or `{split}_at`'s offset into it).\n */\n\
         struct {split} {{\n    /** The cap split. */\n    {l}_cap_t source;\n    \
         /** The pieces' size argument. */\n    uint64_t size_arg;\n    /** {size_doc} */\n    \
         {size_member}\n    /** Address of the first piece. */\n    uint64_t first;\n    \
         /** How many pieces. */\n    uint64_t count;\n}};\n"
    );

    // The object type of each splitting cap type.
    let mut object_arms = String::new();
    let mut cap_arms = String::new();
    let mut at_tags = Vec::new();
    for (c, at_offset) in &splits {
        let t = tag(h, c);
        let object = c.object.expect("filtered").index();
        let _ = writeln!(
            object_arms,
            "    case {t}:\n        *object_type = {};\n        return true;",
            object_const(h, object)
        );
        if *at_offset {
            at_tags.push(format!("    case {t}:"));
        }
        let setter = |f: &capc_dsl::model::CapField| {
            format!("{l}_{}_set_{}", c_snake(&c.name), c_snake(&f.name))
        };
        let object_field = c.field_with(Role::Object).expect("filtered");
        let address = match object_field.virtual_offset {
            0 => "address".to_string(),
            offset => format!("address + {}", u64_lit(offset)),
        };
        let arg_field = c.field_with(Role::SizeArg).expect("filtered");
        let arg = if arg_field.size_bytes {
            "UINT64_C(1) << split->size_arg"
        } else {
            "split->size_arg"
        };
        // A size argument of 64 or more has no byte count: refused as
        // the Rust `checked_shl` refuses it.
        let arg_check = if arg_field.size_bytes {
            "        if (split->size_arg >= 64) {\n            return false;\n        }\n"
        } else {
            ""
        };
        let mut sets = vec![
            format!("{}(&c, {address})", setter(object_field)),
            format!("{}(&c, {arg})", setter(arg_field)),
        ];
        sets.extend(
            c.fields
                .iter()
                .filter(|f| matches!(f.role, Role::MappedAt | Role::MappedIn | Role::Asid))
                .map(|f| format!("{}(&c, 0)", setter(f))),
        );
        let _ = writeln!(
            cap_arms,
            "    case {t}:\n{arg_check}        ok = {};\n        break;",
            sets.join("\n            && ")
        );
    }
    // As the Rust `checked_mul` and `checked_shl` (which refuses only a
    // shift of 64 or more).
    let step = if bytes {
        "if (split->size != 0 && i > UINT64_MAX / split->size) {\n        return false;\n    }\n    \
         offset = i * split->size;"
    } else {
        "if (split->size_bits >= 64) {\n        return false;\n    }\n    \
         offset = i << split->size_bits;"
    };
    let _ = writeln!(
        h.out,
        "/** The object type whose pieces caps with tag `tag` split into; false for a tag\n \
         * with no splitting rule (or one of `#[range]`). */\n\
         static inline bool {object_of}(uint64_t tag, uint64_t *object_type)\n{{\n    \
         switch (tag) {{\n{object_arms}    default:\n        return false;\n    }}\n}}\n\n\
         /** The cap of piece `i` in `cap`: the source's with the piece's address and size\n \
         * argument, unmapped; false past the last piece or if a field refuses its value\n \
         * (never for a split that returned {u}_DERIVE_OK). As the Rust `Split::cap`. */\n\
         static inline bool {split_cap}(const struct {split} *split, uint64_t i, {l}_cap_t *cap)\n{{\n    \
         uint64_t offset, address;\n    {l}_cap_t c = split->source;\n    bool ok;\n\n    \
         if (i >= split->count) {{\n        return false;\n    }}\n    {step}\n    \
         if (offset > UINT64_MAX - split->first) {{\n        return false;\n    }}\n    \
         address = split->first + offset;\n    \
         switch ({l}_cap_get_tag(c)) {{\n{cap_arms}    default:\n        return false;\n    }}\n    \
         if (!ok) {{\n        return false;\n    }}\n    *cap = c;\n    return true;\n}}\n"
    );
    let body = fill(SPLIT_BODY, bytes, &l, &u, &split);
    let _ = writeln!(h.out, "{body}");
    if !at_tags.is_empty() {
        let at = h.name(format!("{l}_split_at"), "the split-at function");
        let at_rule = h.name(
            format!("{l}_split_rule_at_offset"),
            "the split-at rule check",
        );
        let _ = writeln!(
            h.out,
            "/** Whether caps with tag `tag` also split from an offset (a splitting rule with\n \
             * `#[at_offset]`): see `{at}`. */\n\
             static inline bool {at_rule}(uint64_t tag)\n{{\n    switch (tag) {{\n{}\n        \
             return true;\n    default:\n        return false;\n    }}\n}}\n",
            at_tags.join("\n")
        );
        let body = fill(SPLIT_AT_BODY, bytes, &l, &u, &split);
        let _ = writeln!(h.out, "{body}");
    }
}

/// `template` (written in bits) for this spec: sizes in bytes for a spec
/// with a byte-sized object type, and its prefixes.
fn fill(template: &str, bytes: bool, l: &str, u: &str, split: &str) -> String {
    let template = template
        .replace("@SIZE@\n", PIECE_SIZE)
        .replace("@COUNT@\n", PIECE_COUNT)
        .replace("@MADE@\n", MADE);
    let sized = if bytes {
        template
            .replace("    int bits;\n", "    uint64_t piece;\n")
            .replace(
                "    bits = @l@_object_size_bits(object_type, size_arg);\n    \
                 if (bits < 0 || bits >= 64 || (UINT64_C(1) << bits) >= size) {",
                "    piece = @l@_object_size_bytes(object_type, size_arg);\n    \
                 if (piece == 0 || piece >= size) {",
            )
            .replace(
                "    align_bits = @l@_object_align_bits(object_type, (uint32_t)bits);",
                "    for (align_bits = 0; align_bits < 63 && ((piece >> align_bits) & 1) == 0; align_bits++) {\n    }\n    \
                 align_bits = @l@_object_align_bits(object_type, align_bits);",
            )
            .replace("(size - at) >> bits", "(size - at) / piece")
            .replace("size >> bits", "size / piece")
            .replace("count << bits", "count * piece")
            .replace("s.size_bits = (uint32_t)bits;", "s.size = piece;")
    } else {
        template
    };
    sized
        .replace("@split@", split)
        .replace("@l@", l)
        .replace("@U@", u)
}

/// The checks `split` and `split_at` share (`@SIZE@`, `@COUNT@` in their
/// templates): the pieces' size argument, and their count.
const PIECE_SIZE: &str = r#"    bits = @l@_object_size_bits(object_type, size_arg);
    if (bits < 0 || bits >= 64 || (UINT64_C(1) << bits) >= size) {
        result->index = 1;
        return @U@_DERIVE_INVALID_ARGUMENT;
    }
"#;
const PIECE_COUNT: &str = r#"    if (count == 0 || count > pieces) {
        result->min = 1;
        result->max = pieces;
        return @U@_DERIVE_RANGE_ERROR;
    }
"#;

/// The end of `split` and `split_at` (`@MADE@`): the split, if its last
/// piece's cap can be made.
const MADE: &str = r#"    s.source = source;
    s.size_arg = size_arg;
    s.size_bits = (uint32_t)bits;
    s.first = first;
    s.count = count;
    if (!@split@_cap(&s, count - 1, &last)) {
        return @U@_DERIVE_ILLEGAL_OPERATION;
    }
    *split = s;
    return @U@_DERIVE_OK;
"#;

/// `split`, the same for every spec (`@l@`/`@U@`: the prefixes).
const SPLIT_BODY: &str = r#"/**
 * Splits `source` by its type's splitting rule into `count` caps of its type
 * naming the pieces of `size_arg`'s size, back to back from the start of its
 * object, as the Rust module's `split`; on @U@_DERIVE_OK the pieces are in
 * `split` (`@l@_split_cap`), else the payload in `result`. `has_pieces` says
 * whether a live cap that is not a copy of `source` lies within its region
 * and is of its type or of a type derived from it.
 *
 * The checks, in order: a splitting rule applies to `source`'s type and it
 * names a valid region, else ILLEGAL_OPERATION; `size_arg` is one its object
 * type allows, for pieces smaller than the source's object, else
 * INVALID_ARGUMENT (index 1); `count` is in 1..the pieces that fit, else
 * RANGE_ERROR; `has_pieces` is false, else REVOKE_FIRST; the last piece's cap
 * can be made, else ILLEGAL_OPERATION.
 */
static inline enum @l@_derive_status @split@(@l@_cap_t source, uint64_t size_arg, uint64_t count,
                                        bool has_pieces, struct @split@ *split,
                                        struct @l@_derive_result *result)
{
    uint64_t object_type, first, size, pieces;
    int bits;
    struct @split@ s;
    @l@_cap_t last;

    result->index = 0;
    result->min = 0;
    result->max = 0;
    if (!@l@_split_object_type(@l@_cap_get_tag(source), &object_type)
        || !@l@_cap_region(source, &first, &size)) {
        return @U@_DERIVE_ILLEGAL_OPERATION;
    }
@SIZE@
    pieces = size >> bits;
@COUNT@
    if (has_pieces) {
        return @U@_DERIVE_REVOKE_FIRST;
    }
@MADE@
}
"#;

/// `split_at`, for a spec with a splitting rule that has `#[at_offset]`.
const SPLIT_AT_BODY: &str = r#"/**
 * Splits `source` as `@split@` does, but into pieces back to back from `at`
 * bytes into its object (Barrelfish's retype of a Frame at an offset), by a
 * splitting rule with `#[at_offset]`, as the Rust module's `split_at`.
 * `meets_pieces(context, first, bytes)` says whether a live cap that is not a
 * copy of `source`, lies within its region and is of its type or of a type
 * derived from it, names memory with a byte among the `bytes` from address
 * `first` on; it is asked once, after the other checks but the last.
 *
 * The checks, in order: a splitting rule with `#[at_offset]` applies to
 * `source`'s type and it names a valid region, else ILLEGAL_OPERATION;
 * `size_arg` is as for `@split@`, else INVALID_ARGUMENT (index 1); `at` lies
 * in the object and the first piece's address is aligned to the pieces'
 * alignment, else INVALID_ARGUMENT (index 2); `count` is in 1..the pieces that
 * fit from `at` to the object's end, else RANGE_ERROR; `meets_pieces` is
 * false, else REVOKE_FIRST; the last piece's cap can be made, else
 * ILLEGAL_OPERATION.
 */
static inline enum @l@_derive_status @split@_at(@l@_cap_t source, uint64_t size_arg, uint64_t at,
                                           uint64_t count,
                                           bool (*meets_pieces)(void *context, uint64_t first,
                                                                uint64_t bytes),
                                           void *context, struct @split@ *split,
                                           struct @l@_derive_result *result)
{
    uint64_t object_type, base, size, first, pieces;
    uint32_t align_bits;
    int bits;
    struct @split@ s;
    @l@_cap_t last;

    result->index = 0;
    result->min = 0;
    result->max = 0;
    if (!@l@_split_object_type(@l@_cap_get_tag(source), &object_type)
        || !@l@_split_rule_at_offset(@l@_cap_get_tag(source))
        || !@l@_cap_region(source, &base, &size)) {
        return @U@_DERIVE_ILLEGAL_OPERATION;
    }
@SIZE@
    align_bits = @l@_object_align_bits(object_type, (uint32_t)bits);
    if (at >= size || at > UINT64_MAX - base || align_bits >= 64
        || ((base + at) & ((UINT64_C(1) << align_bits) - 1)) != 0) {
        result->index = 2;
        return @U@_DERIVE_INVALID_ARGUMENT;
    }
    first = base + at;
    pieces = (size - at) >> bits;
@COUNT@
    if (meets_pieces(context, first, count << bits)) {
        return @U@_DERIVE_REVOKE_FIRST;
    }
@MADE@
}
"#;

/// `range_of` and `split_range`, for a spec with a `#[range]` splitting
/// rule.
fn split_range(h: &mut Header<'_, '_>) {
    let (l, u) = (h.lower.clone(), h.upper.clone());
    let spec = h.g.spec;
    let range_of = h.name(format!("{l}_range_of"), "the range reader");
    let split_range = h.name(format!("{l}_split_range"), "the range split");
    let mut get_arms = String::new();
    let mut set_arms = String::new();
    for r in spec.derives.iter().filter(|r| r.range.is_some()) {
        let c = &spec.caps[r.target.index()];
        let (a, b) = r.range.expect("filtered");
        let (fa, fb) = (&c.fields[a], &c.fields[b]);
        let t = tag(h, c);
        let _ = writeln!(
            get_arms,
            "    case {t}:\n        *first = {};\n        *last = {};\n        return true;",
            get(h, c, fa, "cap"),
            get(h, c, fb, "cap")
        );
        let _ = writeln!(
            set_arms,
            "    case {t}:\n        ok = {l}_{cap}_set_{a}(&c, first) && {l}_{cap}_set_{b}(&c, last);\n        break;",
            cap = c_snake(&c.name),
            a = c_snake(&fa.name),
            b = c_snake(&fb.name)
        );
    }
    let _ = writeln!(
        h.out,
        "/** The numbers `first..=last` a cap holds, for a cap type that splits by\n \
         * `#[range(first, last)]`; false for any other cap. As the Rust `range_of`. */\n\
         static inline bool {range_of}({l}_cap_t cap, uint64_t *first, uint64_t *last)\n{{\n    \
         switch ({l}_cap_get_tag(cap)) {{\n{get_arms}    default:\n        return false;\n    }}\n}}\n\n\
         /**\n * The cap a kernel splits off `source` for the numbers `first..=last`, by its\n \
         * type's `#[range]` splitting rule, in `piece`, as the Rust `split_range`.\n \
         * `meets_pieces(context, first, last)` says whether a live cap of `source`'s\n \
         * type that is not a copy of it, and whose range lies within `source`'s, holds\n \
         * a number in `first..=last`.\n *\n \
         * The checks, in order: a `#[range]` splitting rule applies to `source`'s\n \
         * type, else ILLEGAL_OPERATION; `first..=last` lies in the source's range,\n \
         * else RANGE_ERROR with the source's range; it is smaller than the source's,\n \
         * else INVALID_ARGUMENT (index 1); `meets_pieces` is false, else\n \
         * REVOKE_FIRST; the cap can hold the numbers, else ILLEGAL_OPERATION.\n */\n\
         static inline enum {l}_derive_status {split_range}({l}_cap_t source, uint64_t first, uint64_t last,\n    \
         bool (*meets_pieces)(void *context, uint64_t first, uint64_t last), void *context,\n    \
         {l}_cap_t *piece, struct {l}_derive_result *result)\n{{\n    \
         uint64_t start, end;\n    {l}_cap_t c = source;\n    bool ok;\n\n    \
         result->index = 0;\n    result->min = 0;\n    result->max = 0;\n    \
         if (!{range_of}(source, &start, &end)) {{\n        return {u}_DERIVE_ILLEGAL_OPERATION;\n    }}\n    \
         if (!(start <= first && first <= last && last <= end)) {{\n        \
         result->min = start;\n        result->max = end;\n        return {u}_DERIVE_RANGE_ERROR;\n    }}\n    \
         if (first == start && last == end) {{\n        result->index = 1;\n        \
         return {u}_DERIVE_INVALID_ARGUMENT;\n    }}\n    \
         if (meets_pieces(context, first, last)) {{\n        return {u}_DERIVE_REVOKE_FIRST;\n    }}\n    \
         switch ({l}_cap_get_tag(c)) {{\n{set_arms}    default:\n        return {u}_DERIVE_ILLEGAL_OPERATION;\n    }}\n    \
         if (!ok) {{\n        return {u}_DERIVE_ILLEGAL_OPERATION;\n    }}\n    \
         *piece = c;\n    return {u}_DERIVE_OK;\n}}\n"
    );
}
