//! The derivation predicates of the Rust module (backend/retype.rs and
//! backend/lifecycle.rs) as `static inline` C functions: `cap_region`,
//! `same_object`, `badge_of`, `is_ancestor`, `is_copy`, `may_copy`,
//! `is_mapped` and `derived`. Each is generated from the same model facts
//! as its Rust twin (the `#[object]`, `#[size_arg]`, `#[identity]`,
//! `#[badge]`, `#[mapped_at]`, `#[mapped_in]` and `#[asid]` fields, the copy
//! policies, the mappings, the object kinds) and reads the cap through the
//! header's own getters; tests/c_differential.rs in capc-generated-tests
//! compares the two on random caps.

use std::fmt::Write as _;

use capc_dsl::ast::ObjectKind;
use capc_dsl::model::{CapField, CapType, CopyPolicy, FieldKind, Mapping, Role};

use super::{Header, c_snake, c_upper, u64_lit};

/// `kernel_frame_cap_get_mapped_page(cap)`.
pub(crate) fn get(h: &Header<'_, '_>, c: &CapType, f: &CapField, cap: &str) -> String {
    format!(
        "{}_{}_get_{}({cap})",
        h.lower,
        c_snake(&c.name),
        c_snake(&f.name)
    )
}

/// `KERNEL_CAP_FRAME_CAP`.
pub(crate) fn tag(h: &Header<'_, '_>, c: &CapType) -> String {
    format!("{}_CAP_{}", h.upper, c_upper(&c.name))
}

/// `KERNEL_OBJECT_FRAME`.
pub(crate) fn object_const(h: &Header<'_, '_>, index: usize) -> String {
    format!(
        "{}_OBJECT_{}",
        h.upper,
        c_upper(&h.g.spec.objects[index].name)
    )
}

/// The low `width` bits set.
fn ones(width: u8) -> u64 {
    if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    }
}

/// Whether some cap type has a `#[badge]` field holding a number (then the
/// Rust module has `badge_of`, and so does the header).
pub(crate) fn has_badges(h: &Header<'_, '_>) -> bool {
    h.g.spec.caps.iter().any(|c| badge_field(c).is_some())
}

fn badge_field(c: &CapType) -> Option<&CapField> {
    c.field_with(Role::Badge)
        .filter(|f| f.kind == FieldKind::Uint)
}

pub(crate) fn generate(h: &mut Header<'_, '_>) {
    let _ = writeln!(
        h.out,
        "/* Derivation predicates, as the Rust module's `region`, `same_object`,\n \
         * `badge_of`, `is_ancestor`, `is_copy`, `may_copy`, `is_mapped` and\n \
         * `derived`. */\n"
    );
    region(h);
    same_object(h);
    badge_of(h);
    is_ancestor(h);
    is_mapped(h);
    may_copy(h);
    copy_needs_no_children(h);
    derived(h);
}

fn region(h: &mut Header<'_, '_>) {
    let (l, spec) = (h.lower.clone(), h.g.spec);
    let f = h.name(format!("{l}_cap_region"), "the region predicate");
    let mut arms = String::new();
    let mut log2_bytes: Option<String> = None;
    for c in &spec.caps {
        let Some(object) = c.object else { continue };
        let object_index = object.index();
        let o = &spec.objects[object_index];
        let Some(base) = c.fields.iter().find(|f| f.role == Role::Object) else {
            continue;
        };
        let bytes_mode = h.g.byte_sizes();
        let bits = if let [(_, bits)] = o.size.table.as_slice() {
            if bytes_mode {
                match 1u64.checked_shl(*bits) {
                    Some(bytes) => u64_lit(bytes),
                    None => "0".to_string(),
                }
            } else {
                bits.to_string()
            }
        } else {
            let Some(arg) = c.field_with(Role::SizeArg) else {
                continue;
            };
            // A size in bytes stands for the argument log2 of it.
            let value = if arg.size_bytes {
                format!(
                    "{}({})",
                    log2_bytes.get_or_insert_with(
                        || h.name(format!("{l}_log2_bytes"), "the log2 of a size in bytes")
                    ),
                    get(h, c, arg, "cap")
                )
            } else {
                get(h, c, arg, "cap")
            };
            format!(
                "{l}_object_size_{}({}, {value})",
                if bytes_mode { "bytes" } else { "bits" },
                object_const(h, object_index),
            )
        };
        let _ = writeln!(
            arms,
            "    case {}:\n        b = (uint64_t){}{};\n        bits = {bits};\n        break;",
            tag(h, c),
            get(h, c, base, "cap"),
            // A kernel-virtual pointer: the address is the field less its
            // offset (unsigned arithmetic wraps as the Rust module's).
            match base.virtual_offset {
                0 => String::new(),
                offset => format!(" - UINT64_C({offset:#x})"),
            }
        );
    }
    if let Some(log2) = log2_bytes {
        let _ = writeln!(
            h.out,
            "/** log2 of `bytes` if it is a power of two, else 64 (no size argument). */\n\
             static inline uint64_t {log2}(uint64_t bytes)\n{{\n    uint64_t bits = 0;\n    \
             if (bytes == 0 || (bytes & (bytes - 1)) != 0) {{\n        return 64;\n    }}\n    \
             while (bytes > 1) {{\n        bytes >>= 1;\n        bits++;\n    }}\n    return bits;\n}}\n"
        );
    }
    let _ = writeln!(
        h.out,
        "/**\n * The memory the object of `cap` occupies: its base address (the `#[object]`\n \
         * field) and size in bytes (from the `#[size_arg]` field). False, leaving\n \
         * `base` and `size` alone, for the null cap, an unknown tag, cap types that\n \
         * name no object, and a size argument the object type does not allow.\n */\n\
         static inline bool {f}({l}_cap_t cap, uint64_t *base, uint64_t *size)\n{{"
    );
    if arms.is_empty() {
        let _ = writeln!(
            h.out,
            "    (void)cap;\n    (void)base;\n    (void)size;\n    return false;\n}}\n"
        );
        return;
    }
    if h.g.byte_sizes() {
        // Sizes in bytes: 0 is no allowed size.
        let arms = arms.replace("        bits = ", "        bytes = ");
        let _ = writeln!(
            h.out,
            "    uint64_t b, bytes;\n    switch ({l}_cap_get_tag(cap)) {{\n{arms}    \
             default:\n        return false;\n    }}\n    if (bytes == 0) {{\n        \
             return false;\n    }}\n    *base = b;\n    *size = bytes;\n    return true;\n}}\n"
        );
        return;
    }
    let _ = writeln!(
        h.out,
        "    uint64_t b;\n    int bits;\n    switch ({l}_cap_get_tag(cap)) {{\n{arms}    \
         default:\n        return false;\n    }}\n    if (bits < 0 || bits >= 64) {{\n        \
         return false;\n    }}\n    *base = b;\n    *size = UINT64_C(1) << bits;\n    return true;\n}}\n"
    );
}

fn same_object(h: &mut Header<'_, '_>) {
    let (l, spec) = (h.lower.clone(), h.g.spec);
    let f = h.name(format!("{l}_same_object"), "the same-object predicate");
    let mut arms = String::new();
    let mut anonymous = String::new();
    for c in &spec.caps {
        let fields: Vec<String> = c
            .fields
            .iter()
            .filter(|f| f.identity)
            .map(|f| format!("{} == {}", get(h, c, f, "a"), get(h, c, f, "b")))
            .collect();
        if fields.is_empty() {
            let _ = writeln!(anonymous, "    case {}:", tag(h, c));
        } else {
            let _ = writeln!(
                arms,
                "    case {}:\n        return {};",
                tag(h, c),
                fields.join("\n            && ")
            );
        }
    }
    if !anonymous.is_empty() {
        anonymous.push_str("        return true;\n");
    }
    let _ = writeln!(
        h.out,
        "/**\n * Whether `a` and `b` name the same object: the same cap type and equal\n \
         * `#[identity]` fields (rights, badges and other fields may differ). Caps of a\n \
         * type without identity fields all name the one object of that type. The null\n \
         * cap names nothing.\n */\n\
         static inline bool {f}({l}_cap_t a, {l}_cap_t b)\n{{\n    \
         if ({l}_cap_get_tag(a) != {l}_cap_get_tag(b)) {{\n        return false;\n    }}\n    \
         switch ({l}_cap_get_tag(a)) {{\n{arms}{anonymous}    default:\n        return false;\n    }}\n}}\n"
    );
}

fn badge_of(h: &mut Header<'_, '_>) {
    if !has_badges(h) {
        return;
    }
    let (l, spec) = (h.lower.clone(), h.g.spec);
    let f = h.name(format!("{l}_badge_of"), "the badge reader");
    let mut arms = String::new();
    for c in &spec.caps {
        if let Some(field) = badge_field(c) {
            let _ = writeln!(
                arms,
                "    case {}:\n        *badge = {};\n        return true;",
                tag(h, c),
                get(h, c, field, "cap")
            );
        }
    }
    let _ = writeln!(
        h.out,
        "/**\n * The badge of `cap` (0: unbadged) in `badge`, if its type has a `#[badge]`\n \
         * field; false, leaving `badge` alone, if not.\n */\n\
         static inline bool {f}({l}_cap_t cap, uint64_t *badge)\n{{\n    \
         switch ({l}_cap_get_tag(cap)) {{\n{arms}    default:\n        return false;\n    }}\n}}\n"
    );
}

fn is_ancestor(h: &mut Header<'_, '_>) {
    let (l, spec) = (h.lower.clone(), h.g.spec);
    let f = h.name(format!("{l}_is_ancestor"), "the ancestor predicate");
    let copy = h.name(format!("{l}_is_copy"), "the copy predicate");
    let untyped: Vec<String> = spec
        .caps
        .iter()
        .filter(|c| {
            c.object
                .is_some_and(|o| spec.objects[o.index()].kind == ObjectKind::Untyped)
        })
        .map(|c| format!("    case {}:\n", tag(h, c)))
        .collect();
    let badges = has_badges(h);
    let badged = if badges {
        let mut terms = vec![
            format!("{l}_same_object(parent, child)"),
            format!("{l}_badge_of(parent, &parent_badge)"),
            "parent_badge == 0".to_string(),
            format!("{l}_badge_of(child, &child_badge)"),
            "child_badge != 0".to_string(),
        ];
        for c in spec.caps.iter().filter(|c| c.copy == CopyPolicy::Always) {
            terms.push(format!("{l}_cap_get_tag(child) != {}", tag(h, c)));
        }
        terms.join("\n        && ")
    } else {
        "false".to_string()
    };
    let derive_rule = if spec.derives.is_empty() {
        ""
    } else {
        "* - `child`'s type is derived from `parent`'s by one or more `derive` rules,\n \
         *   or both are of a type whose caps split and do not name the same object;\n \
         *   and, when `child` names an object, it lies within `parent`'s region;\n "
    };
    let badge_rule = if badges {
        " * - `parent` and `child` name the same object, `parent` is unbadged and\n \
         *   `child` is badged (a mint), and `child`'s type is not `#[always_copy]`."
    } else {
        " * - no cap type of this spec has a badge, so caps that name the same object\n \
         *   are never parent and child."
    };
    let _ = writeln!(
        h.out,
        "/**\n * Whether the contents of the two caps alone show `child` derived from\n \
         * `parent`, as the Rust module's `is_ancestor`. True exactly when:\n \
         {derive_rule}\
         * - `parent` is untyped memory and `child`'s object lies within `parent`'s\n \
         *   region (both ends included), unless the two name the same object;\n\
         {badge_rule}\n \
         * This is what the fields can tell, not where a cap sits in a derivation\n \
         * tree: for caps that name the same object the tree's revocable and\n \
         * first-badged bits decide parenthood (seL4's isMDBParentOf).\n */\n\
         static inline bool {f}({l}_cap_t parent, {l}_cap_t child)\n{{"
    );
    if badges {
        let _ = writeln!(h.out, "    uint64_t parent_badge, child_badge;");
    }
    derived_ancestry(h);
    if untyped.is_empty() {
        if !badges {
            let _ = writeln!(h.out, "    (void)parent;\n    (void)child;");
        }
        let _ = writeln!(h.out, "    return {badged};\n}}\n");
    } else {
        let _ = writeln!(
            h.out,
            "    uint64_t outer, outer_size, inner, inner_size;\n    \
             switch ({l}_cap_get_tag(parent)) {{\n{}        break;\n    default:\n        \
             return {badged};\n    }}\n    if ({l}_same_object(parent, child)) {{\n        \
             return false;\n    }}\n    if (!{l}_cap_region(parent, &outer, &outer_size)\n        \
             || !{l}_cap_region(child, &inner, &inner_size)) {{\n        return false;\n    }}\n    \
             if (outer_size > UINT64_MAX - outer || inner_size > UINT64_MAX - inner) {{\n        \
             return false;\n    }}\n    \
             return inner >= outer && inner + inner_size <= outer + outer_size;\n}}\n",
            untyped.concat()
        );
    }
    let _ = writeln!(
        h.out,
        "/**\n * Whether `a` and `b` are copies by their contents: they name the same object\n \
         * and neither is an ancestor of the other. Not whether they are siblings in a\n \
         * derivation tree.\n */\n\
         static inline bool {copy}({l}_cap_t a, {l}_cap_t b)\n{{\n    \
         return {l}_same_object(a, b) && !{f}(a, b) && !{f}(b, a);\n}}\n"
    );
}

/// The derivation rules' part of `is_ancestor`: a `switch` on the child's
/// tag that answers for each derived type whose parent's type it is
/// derived from (as the Rust `CapType::is_derived_from`), and falls
/// through otherwise. Nothing without rules.
fn derived_ancestry(h: &mut Header<'_, '_>) {
    let (l, spec) = (h.lower.clone(), h.g.spec);
    if spec.derives.is_empty() {
        return;
    }
    let mut cases = String::new();
    for (i, c) in spec.caps.iter().enumerate() {
        let descendant = capc_dsl::model::CapId(i as u32);
        let mut ancestors: Vec<String> = spec
            .caps
            .iter()
            .enumerate()
            .filter(|(j, _)| spec.derives_from(capc_dsl::model::CapId(*j as u32), descendant))
            .map(|(_, a)| format!("{l}_cap_get_tag(parent) == {}", tag(h, a)))
            .collect();
        // A piece split off a cap of its own type (not a copy of it).
        if spec.split_rule(descendant).is_some() {
            ancestors.push(format!(
                "({l}_cap_get_tag(parent) == {} && !{l}_same_object(parent, child))",
                tag(h, c)
            ));
        }
        if ancestors.is_empty() {
            continue;
        }
        let range = spec.split_rule(descendant).and_then(|r| r.range);
        let answer = if let Some((a, b)) = range {
            // A piece of a `#[range]` split holds a sub-range of its
            // parent's (as the Rust `range_of`).
            let (first, last) = (&c.fields[a], &c.fields[b]);
            format!(
                "            return {} >= {} && {} <= {};\n",
                get(h, c, first, "child"),
                get(h, c, first, "parent"),
                get(h, c, last, "child"),
                get(h, c, last, "parent"),
            )
        } else if c.object.is_none() {
            "            return true;\n".to_string()
        } else {
            format!(
                "            uint64_t p_base, p_size, c_base, c_size;\n            \
                 if (!{l}_cap_region(parent, &p_base, &p_size)\n                \
                 || !{l}_cap_region(child, &c_base, &c_size)\n                \
                 || p_size > UINT64_MAX - p_base || c_size > UINT64_MAX - c_base) {{\n                \
                 return false;\n            }}\n            \
                 return c_base >= p_base && c_base + c_size <= p_base + p_size;\n"
            )
        };
        let _ = write!(
            cases,
            "    case {}:\n        if ({}) {{\n{answer}        }}\n        break;\n",
            tag(h, c),
            ancestors.join("\n            || ")
        );
    }
    let _ = writeln!(
        h.out,
        "    switch ({l}_cap_get_tag(child)) {{\n{cases}    default:\n        break;\n    }}"
    );
}

/// `get(mapped_at) != 0` for a cap type with a mapping.
fn mapped_expr(h: &Header<'_, '_>, c: &CapType) -> Option<String> {
    c.mapping?;
    let at = c.field_with(Role::MappedAt)?;
    Some(format!("{} != 0", get(h, c, at, "cap")))
}

fn is_mapped(h: &mut Header<'_, '_>) {
    let (l, spec) = (h.lower.clone(), h.g.spec);
    let mut arms = String::new();
    for c in &spec.caps {
        if let Some(expr) = mapped_expr(h, c) {
            let _ = writeln!(arms, "    case {}:\n        return {expr};", tag(h, c));
        }
    }
    if arms.is_empty() {
        return;
    }
    let f = h.name(format!("{l}_is_mapped"), "the mapping predicate");
    let _ = writeln!(
        h.out,
        "/**\n * Whether `cap` records a mapping (its `#[mapped_at]` field is not 0); false for\n \
         * cap types without one, the null cap and an unknown tag.\n */\n\
         static inline bool {f}({l}_cap_t cap)\n{{\n    switch ({l}_cap_get_tag(cap)) {{\n\
         {arms}    default:\n        return false;\n    }}\n}}\n"
    );
}

fn may_copy(h: &mut Header<'_, '_>) {
    let (l, spec) = (h.lower.clone(), h.g.spec);
    let f = h.name(format!("{l}_may_copy"), "the copy check");
    let mut arms = String::new();
    for c in &spec.caps {
        if c.copy == CopyPolicy::Never {
            continue;
        }
        let mut terms = Vec::new();
        if c.mapping == Some(Mapping::Shared) {
            terms.push(mapped_expr(h, c).unwrap_or_else(|| "false".to_string()));
        }
        if let Some(asid) = c.field_with(Role::Asid) {
            terms.push(format!("{} != 0", get(h, c, asid, "cap")));
        }
        // `#[copy(requires(f))]`: the field's bits are not all 0.
        for &i in &c.copy_conditions.requires {
            let field = &c.fields[i];
            terms.push(format!(
                "(cap.words[{}] & {}) != 0",
                field.word,
                u64_lit(ones(field.width) << field.shift)
            ));
        }
        let expr = if terms.is_empty() {
            "true".to_string()
        } else {
            terms.join(" && ")
        };
        let _ = writeln!(arms, "    case {}:\n        return {expr};", tag(h, c));
    }
    let _ = writeln!(
        h.out,
        "/**\n * Whether `cap` may be copied or minted into another slot: false for the null\n \
         * cap, an unknown tag, `#[never_copy]` cap types, an unmapped cap whose\n \
         * mapping is its object's (`#[mapped_at]` of a shared mapping), and an\n \
         * address-space root's cap without a number yet (`#[asid]` 0), and a cap\n \
         * whose type's `#[copy(requires(...))]` names a field that is 0. The copy\n \
         * starts from `{l}_derived(cap)`; `{l}_copy_needs_no_children(cap)` says\n \
         * whether the kernel must also find no children in its derivation tree.\n */\n\
         static inline bool {f}({l}_cap_t cap)\n{{\n    switch ({l}_cap_get_tag(cap)) {{\n\
         {arms}    default:\n        return false;\n    }}\n}}\n"
    );
}

fn derived(h: &mut Header<'_, '_>) {
    let (l, spec) = (h.lower.clone(), h.g.spec);
    let f = h.name(format!("{l}_derived"), "the derived cap");
    let words = spec.target.cap_words as usize;
    let mut arms = String::new();
    for c in &spec.caps {
        let each_cap = c.mapping == Some(Mapping::EachCap);
        if !each_cap && c.copy_conditions.clears.is_empty() {
            continue;
        }
        let mut masks = vec![0u64; words];
        for field in c.fields.iter().enumerate().filter_map(|(i, f)| {
            let mapping = each_cap && matches!(f.role, Role::MappedAt | Role::MappedIn);
            (mapping || c.copy_conditions.clears.contains(&i)).then_some(f)
        }) {
            if let Some(m) = masks.get_mut(field.word as usize) {
                *m |= ones(field.width) << field.shift;
            }
        }
        let _ = writeln!(arms, "    case {}:", tag(h, c));
        for (w, mask) in masks.iter().enumerate().filter(|(_, m)| **m != 0) {
            let _ = writeln!(arms, "        cap.words[{w}] &= ~{};", u64_lit(*mask));
        }
        let _ = writeln!(arms, "        break;");
    }
    let _ = writeln!(
        h.out,
        "/**\n * The cap a copy or mint of `cap` starts from: `cap` itself, except that a cap\n \
         * whose mapping is its own comes back with its `#[mapped_at]` and\n \
         * `#[mapped_in]` fields cleared (seL4 derives frame caps unmapped), and the\n \
         * fields its type's `#[copy(clears(...))]` names are 0.\n */\n\
         static inline {l}_cap_t {f}({l}_cap_t cap)\n{{"
    );
    if !arms.is_empty() {
        let _ = writeln!(
            h.out,
            "    switch ({l}_cap_get_tag(cap)) {{\n{arms}    default:\n        break;\n    }}"
        );
    }
    let _ = writeln!(h.out, "    return cap;\n}}\n");
}

/// `<prefix>_copy_needs_no_children`: the cap types with
/// `#[copy(no_children)]`, as the Rust `CapType::copy_needs_no_children`.
fn copy_needs_no_children(h: &mut Header<'_, '_>) {
    let (l, spec) = (h.lower.clone(), h.g.spec);
    let f = h.name(
        format!("{l}_copy_needs_no_children"),
        "the no-children copy rule",
    );
    let mut arms = String::new();
    for c in spec.caps.iter().filter(|c| c.copy_conditions.no_children) {
        let _ = writeln!(arms, "    case {}:", tag(h, c));
    }
    let _ = writeln!(
        h.out,
        "/**\n * Whether a cap like `cap` is copied or minted only while it has no children\n \
         * in the derivation tree (`#[copy(no_children)]`, seL4's ensureNoChildren):\n \
         * a kernel refuses such a copy with RevokeFirst.\n */\n\
         static inline bool {f}({l}_cap_t cap)\n{{"
    );
    if arms.is_empty() {
        let _ = writeln!(h.out, "    (void)cap;\n    return false;\n}}\n");
    } else {
        let _ = writeln!(
            h.out,
            "    switch ({l}_cap_get_tag(cap)) {{\n{arms}        return true;\n    default:\n        return false;\n    }}\n}}\n"
        );
    }
}
