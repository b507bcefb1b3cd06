//! The cap struct and, per cap type, a `static inline` getter and setter
//! per field (seL4 bitfield_gen's shape: `<prefix>_<cap type>_get_<field>`
//! and `_set_<field>`), bit for bit the layout the Rust module's views use.

use std::fmt::Write as _;

use capc_dsl::model::{CapField, FieldKind};

use super::{Header, c_snake, c_upper, u64_lit};

/// The low `width` bits set.
fn low_bits(width: u8) -> u64 {
    if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    }
}

/// The cap struct, the tag accessor, and every cap type's accessors.
pub(crate) fn accessors(h: &mut Header<'_, '_>) {
    let (l, u) = (h.lower.clone(), h.upper.clone());
    let spec = h.g.spec;
    let words = spec.target.cap_words;
    let tag_mask = u64_lit(low_bits(spec.target.tag_bits as u8));
    let tag_shift = spec.target.tag_shift;
    let (tag_read, tag_place) = match tag_shift {
        0 => (
            format!("cap.words[0] & {tag_mask}"),
            format!("low\n * {} bits", spec.target.tag_bits),
        ),
        shift => (
            format!("(cap.words[0] >> {shift}) & {tag_mask}"),
            format!("bits\n * {shift}..{}", shift + spec.target.tag_bits),
        ),
    };
    let ty = h.name(format!("{l}_cap_t"), "the cap struct");
    let tag_get = h.name(format!("{l}_cap_get_tag"), "the tag getter");
    let _ = write!(
        h.out,
        "/** A capability: {words} 64-bit words, the cap type's tag in the {tag_place} of word 0. */\n\
         typedef struct {l}_cap {{\n    uint64_t words[{u}_CAP_WORDS];\n}} {ty};\n\n\
         /** The tag of `cap` (`{u}_CAP_NULL` for the null cap). */\n\
         static inline uint64_t {tag_get}({ty} cap)\n{{\n    return {tag_read};\n}}\n\n"
    );

    for cap in &spec.caps {
        let name = c_snake(&cap.name);
        let upper = c_upper(&cap.name);
        let what = format!("cap type `{}`", cap.name);
        h.at = Some(cap.span);
        let _ = writeln!(
            h.out,
            "/* {}: tag {} ({}). */\n",
            cap.name,
            cap.tag,
            h.g.location(cap.span)
        );
        let is = h.name(format!("{l}_cap_is_{name}"), what.clone());
        let _ = writeln!(
            h.out,
            "/** Whether `cap` is a `{}`. */\nstatic inline bool {is}({ty} cap)\n{{\n    \
             return {tag_get}(cap) == {u}_CAP_{upper};\n}}\n",
            cap.name
        );
        let empty = h.name(format!("{l}_{name}_empty"), what.clone());
        let first = match tag_shift {
            0 => format!("{u}_CAP_{upper}"),
            shift => format!("(uint64_t){u}_CAP_{upper} << {shift}"),
        };
        let zeros = vec!["0"; words as usize - 1].join(", ");
        let rest = if zeros.is_empty() {
            String::new()
        } else {
            format!(", {zeros}")
        };
        let _ = writeln!(
            h.out,
            "/** A `{}` with every field 0. */\nstatic inline {ty} {empty}(void)\n{{\n    \
             {ty} cap = {{ {{ {first}{rest} }} }};\n    return cap;\n}}\n",
            cap.name
        );
        for field in &cap.fields {
            field_accessors(h, &ty, &name, &upper, &cap.name, field);
        }
    }
    h.at = None;
}

/// The getter and setter of one field.
fn field_accessors(
    h: &mut Header<'_, '_>,
    ty: &str,
    cap: &str,
    cap_upper: &str,
    cap_name: &str,
    field: &CapField,
) {
    let l = h.lower.clone();
    let u = h.upper.clone();
    let (word, shift, width) = (field.word, field.shift, field.width);
    let mask = low_bits(width);
    let in_place = u64_lit(mask << shift);
    let mask_lit = u64_lit(mask);
    let what = format!("field `{cap_name}.{}`", field.name);
    let field_name = c_snake(&field.name);
    let cap_span = h.at.replace(field.span);
    let get = h.name(format!("{l}_{cap}_get_{field_name}"), what.clone());
    let set = h.name(format!("{l}_{cap}_set_{field_name}"), what);
    h.at = cap_span;
    let raw = if shift == 0 {
        format!("cap.words[{word}] & {mask_lit}")
    } else if u32::from(shift) + u32::from(width) >= 64 {
        format!("cap.words[{word}] >> {shift}")
    } else {
        format!("(cap.words[{word}] >> {shift}) & {mask_lit}")
    };
    let place = format!("Stored in word {word}, bits {shift}..{}", shift + width);
    h.docs("", &field.docs, &field.name, field.span);
    let store = |value: &str| {
        let shifted = if shift == 0 {
            value.to_string()
        } else {
            format!("({value}) << {shift}")
        };
        format!(
            "    cap->words[{word}] = (cap->words[{word}] & ~{in_place}) | {shifted};\n    return true;"
        )
    };
    match &field.kind {
        FieldKind::Ptr { align_bits } if field.whole_word => {
            // The address itself, the whole word.
            let _ = writeln!(
                h.out,
                "static inline uint64_t {get}({ty} cap)\n{{\n    /* {place}: the whole address. */\n    \
                 return {raw};\n}}\n"
            );
            let mut checks = Vec::new();
            if *align_bits > 0 {
                checks.push(format!(
                    "(value & {}) != 0",
                    u64_lit(low_bits(*align_bits as u8))
                ));
            }
            let _ = writeln!(
                h.out,
                "/** Sets `{}`; false (the cap unchanged) if `value` is misaligned. */\n\
                 static inline bool {set}({ty} *cap, uint64_t value)\n{{\n{}{}\n}}\n",
                field.name,
                guard(&checks),
                store("value")
            );
        }
        FieldKind::Ptr { align_bits } if field.sign_extend => {
            // The address's bits top - 1..64 copy its top stored bit.
            let top = u32::from(width) + align_bits;
            let sign = u64_lit(!low_bits((top - 1) as u8));
            let above = u64_lit(!low_bits(top as u8));
            let top_bit = u64_lit(1 << (top - 1));
            let _ = writeln!(
                h.out,
                "static inline uint64_t {get}({ty} cap)\n{{\n    /* {place}, shifted right by {align_bits}, sign-extended from bit {}. */\n    \
                 uint64_t value = ({raw}) << {align_bits};\n    if (value & {top_bit}) {{\n        value |= {above};\n    }}\n    return value;\n}}\n",
                top - 1
            );
            let mut checks = Vec::new();
            if *align_bits > 0 {
                checks.push(format!(
                    "(value & {}) != 0",
                    u64_lit(low_bits(*align_bits as u8))
                ));
            }
            checks.push(format!(
                "((value & {sign}) != 0 && (value & {sign}) != {sign})"
            ));
            let _ = writeln!(
                h.out,
                "/** Sets `{}`; false (the cap unchanged) if `value` is misaligned or not canonical. */\n\
                 static inline bool {set}({ty} *cap, uint64_t value)\n{{\n{}{}\n}}\n",
                field.name,
                guard(&checks),
                store(&format!("((value >> {align_bits}) & {mask_lit})"))
            );
        }
        FieldKind::Ptr { align_bits } => {
            let _ = writeln!(
                h.out,
                "static inline uint64_t {get}({ty} cap)\n{{\n    /* {place}, shifted right by {align_bits}. */\n    \
                 return ({raw}) << {align_bits};\n}}\n"
            );
            let mut checks = Vec::new();
            if *align_bits > 0 {
                checks.push(format!(
                    "(value & {}) != 0",
                    u64_lit(low_bits(*align_bits as u8))
                ));
            }
            if u32::from(width) + align_bits < 64 {
                checks.push(format!("(value >> {align_bits}) > {mask_lit}"));
            }
            let _ = writeln!(
                h.out,
                "/** Sets `{}`; false (the cap unchanged) if `value` is misaligned or too high. */\n\
                 static inline bool {set}({ty} *cap, uint64_t value)\n{{\n{}{}\n}}\n",
                field.name,
                guard(&checks),
                store(&format!("value >> {align_bits}"))
            );
        }
        FieldKind::Uint if field.values.is_some() => {
            // An enumerated field: a value one of its variants names.
            let e = &h.g.spec.enumerations[field.values.expect("enumerated").index()];
            let _ = writeln!(
                h.out,
                "static inline uint64_t {get}({ty} cap)\n{{\n    /* {place}: a {u}_{}_* value, or one no variant names. */\n    return {raw};\n}}\n",
                c_upper(&e.name)
            );
            let named: Vec<String> = e
                .values
                .iter()
                .map(|v| format!("value != {}", u64_lit(v.value)))
                .collect();
            let _ = writeln!(
                h.out,
                "/** Sets `{}`; false (the cap unchanged) if no variant of `{}` has `value`. */\n\
                 static inline bool {set}({ty} *cap, uint64_t value)\n{{\n{}{}\n}}\n",
                field.name,
                e.name,
                guard(&[named.join(" && ")]),
                store("value")
            );
        }
        FieldKind::Uint => {
            let _ = writeln!(
                h.out,
                "static inline uint64_t {get}({ty} cap)\n{{\n    /* {place}. */\n    return {raw};\n}}\n"
            );
            let checks = if width < 64 {
                vec![format!("value > {mask_lit}")]
            } else {
                Vec::new()
            };
            let _ = writeln!(
                h.out,
                "/** Sets `{}`; false (the cap unchanged) if `value` does not fit in {width} bits. */\n\
                 static inline bool {set}({ty} *cap, uint64_t value)\n{{\n{}{}\n}}\n",
                field.name,
                guard(&checks),
                store("value")
            );
        }
        FieldKind::Bool => {
            let _ = writeln!(
                h.out,
                "static inline bool {get}({ty} cap)\n{{\n    /* {place}. */\n    return ({raw}) != 0;\n}}\n"
            );
            let _ = writeln!(
                h.out,
                "/** Sets `{}`. */\nstatic inline bool {set}({ty} *cap, bool value)\n{{\n{}\n}}\n",
                field.name,
                store("(uint64_t)value")
            );
        }
        FieldKind::Rights { .. } => {
            let _ = writeln!(
                h.out,
                "static inline uint64_t {get}({ty} cap)\n{{\n    /* {place}: a mask of {u}_RIGHT_* bits. */\n    \
                 return {raw};\n}}\n"
            );
            let checks = vec![format!("(value & ~{u}_{cap_upper}_VALID_RIGHTS) != 0")];
            let _ = writeln!(
                h.out,
                "/** Sets `{}`; false (the cap unchanged) if `value` holds a right a `{cap_name}`\n \
                 * may not carry ({u}_{cap_upper}_VALID_RIGHTS). */\n\
                 static inline bool {set}({ty} *cap, uint64_t value)\n{{\n{}{}\n}}\n",
                field.name,
                guard(&checks),
                store("value")
            );
        }
    }
}

/// `if (a || b) return false;`, or nothing without checks.
fn guard(checks: &[String]) -> String {
    if checks.is_empty() {
        String::new()
    } else {
        format!(
            "    if ({}) {{\n        return false;\n    }}\n",
            checks.join(" || ")
        )
    }
}
