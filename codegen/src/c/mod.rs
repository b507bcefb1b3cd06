//! The C backend: from a checked [`Spec`] to one C header, for kernels
//! written in C (`capc build --lang c`, `Builder::lang(Lang::C)`).
//!
//! The header holds what C code needs to agree with the spec's binary
//! interface: the target's limits, the spec's constants, the rights bits,
//! object types with their sizes, cap type tags with their valid rights, a
//! `static inline` getter and setter per cap field in the style of seL4's
//! bitfield_gen, the derivation predicates and the retype validator
//! (predicates.rs, retype.rs: generated from the same model facts as the
//! Rust module's), invocation and RPC method labels, and error numbers. It
//! does not hold invocation decoding or RPC stubs.
//!
//! Conventions:
//! - C99 and C11, no compiler extensions; it compiles warning-free with
//!   `-Wall -Wextra -Wpedantic -Werror` (a test does this for every example
//!   spec); only `<stdbool.h>` and `<stdint.h>`;
//! - every name starts with the spec file's stem (`kernel_`, `KERNEL_`):
//!   two specs' headers can be included together; spec names become
//!   snake_case (functions, types) or UPPER_SNAKE_CASE (constants, enum
//!   members), and two that come out equal are an error, not a header that
//!   does not compile;
//! - setters check the value as the Rust module's do (it fits the field; a
//!   pointer is aligned; a rights mask holds only rights the cap type may
//!   carry) and return `false`, leaving the cap unchanged, when it does not;
//! - masks are computed here and written as literals, so the header has no
//!   shift by 64 and no comparison that is always true;
//! - output is deterministic: declaration order, no paths but the spec's
//!   file name, no time stamps.

mod caps;
mod predicates;
mod retype;
mod split;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use capc_dsl::SourceMap;
use capc_dsl::diag::{Code, Diagnostic};
use capc_dsl::model::{Spec, Target};
use capc_dsl::source::Span;

use crate::backend::{Gen, Options, snake};

/// The header for `spec`, whose root file is `root_name`; a diagnostic
/// (E0942) for each C name two spec names would both give.
pub fn render(
    spec: &Spec,
    sources: &SourceMap,
    root_name: &str,
) -> Result<String, Vec<Diagnostic>> {
    let options = Options::default();
    let g = Gen::new(spec, sources, &options);
    let file = root_name.rsplit(['/', '\\']).next().unwrap_or(root_name);
    let stem = file.strip_suffix(".cap").unwrap_or(file);
    let mut h = Header::new(&g, stem);
    h.preamble(file);
    h.target(&spec.target);
    h.constants();
    h.rights();
    h.objects();
    h.cap_types();
    caps::accessors(&mut h);
    predicates::generate(&mut h);
    retype::generate(&mut h);
    split::generate(&mut h);
    h.labels();
    h.errors();
    h.enumerations();
    h.finish()
}

/// The header being written, and every C name it declared (to find
/// collisions).
pub(crate) struct Header<'a, 'g> {
    pub(crate) g: &'a Gen<'g>,
    /// `kernel`: the prefix of every function and type.
    pub(crate) lower: String,
    /// `KERNEL`: the prefix of every constant and enum member.
    pub(crate) upper: String,
    guard: String,
    pub(crate) out: String,
    /// The spec item whose C names are being declared (`None` for the
    /// header's own names: `kernel_cap_t`, `KERNEL_CAP_NULL`...).
    pub(crate) at: Option<Span>,
    /// C name -> what declared it first, and where in the spec.
    names: BTreeMap<String, (String, Option<Span>)>,
    collisions: Vec<Diagnostic>,
}

/// `EndpointCap` -> `endpoint_cap`, `read` -> `read`, as a C identifier.
pub(crate) fn c_snake(name: &str) -> String {
    snake(name)
}

/// `EndpointCap` -> `ENDPOINT_CAP`.
pub(crate) fn c_upper(name: &str) -> String {
    c_snake(name).to_ascii_uppercase()
}

/// A C identifier from a file stem: letters, digits and `_`, never
/// starting with a digit.
fn stem_ident(stem: &str) -> String {
    let mut id: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if id.is_empty() || id.starts_with(|c: char| c.is_ascii_digit()) {
        id.insert_str(0, "spec_");
    }
    id
}

/// `text` safe inside a `/* */` comment: no `*/`, no trigraph, no control
/// character.
fn comment(text: &str) -> String {
    crate::backend::comment_text(text)
        .replace("*/", "* /")
        .replace("??", "?\\?")
}

/// A 64-bit unsigned literal.
pub(crate) fn u64_lit(value: u64) -> String {
    if value < 10 {
        format!("UINT64_C({value})")
    } else {
        format!("UINT64_C({value:#x})")
    }
}

impl<'a, 'g> Header<'a, 'g> {
    fn new(g: &'a Gen<'g>, stem: &str) -> Self {
        let lower = stem_ident(stem);
        let upper = lower.to_ascii_uppercase();
        Header {
            g,
            guard: format!("CAPC_{upper}_H"),
            lower,
            upper,
            out: String::new(),
            at: None,
            names: BTreeMap::new(),
            collisions: Vec::new(),
        }
    }

    /// Declares the C name `name` for `what` (the spec item at
    /// [`Header::at`]); a second declaration of the same name is a
    /// collision (E0942), reported at the spec item that declared it (the
    /// first, when the second is one of the header's own names).
    pub(crate) fn name(&mut self, name: String, what: impl Into<String>) -> String {
        let what = what.into();
        match self.names.get(&name) {
            Some((first, first_at)) => {
                let message = format!("`{name}` is the C name of both {first} and {what}");
                let help = match (self.at, *first_at) {
                    (Some(_), None) => {
                        format!("rename {what}: the header needs `{name}` for {first}")
                    }
                    (None, Some(_)) => {
                        format!("rename {first}: the header needs `{name}` for {what}")
                    }
                    _ => format!("rename {first} or {what} so that their C names differ"),
                };
                let diagnostic = match (self.at, *first_at) {
                    (Some(at), Some(first_at)) => {
                        Diagnostic::new(Code::CNameCollision, at, message)
                            .label(format!("C name `{name}` again"))
                            .with_secondary(first_at, format!("C name `{name}` first"))
                    }
                    (Some(at), None) => Diagnostic::new(Code::CNameCollision, at, message)
                        .label(format!("C name `{name}`, which the header gives {first}")),
                    (None, Some(first_at)) => {
                        Diagnostic::new(Code::CNameCollision, first_at, message)
                            .label(format!("C name `{name}`, which the header gives {what}"))
                    }
                    // The header's own names are distinct: never reached,
                    // but reported at the target rather than lost.
                    (None, None) => {
                        Diagnostic::new(Code::CNameCollision, self.g.spec.target.span, message)
                            .label(format!("C name `{name}`"))
                    }
                };
                self.collisions.push(diagnostic.help(help));
            }
            None => {
                self.names.insert(name.clone(), (what, self.at));
            }
        }
        name
    }

    /// A `/** ... */` comment from spec doc lines (or `fallback`), with the
    /// spec line, indented by `indent`.
    pub(crate) fn docs(&mut self, indent: &str, docs: &[String], fallback: &str, span: Span) {
        let mut lines: Vec<String> = docs.iter().map(|l| comment(l.trim_end())).collect();
        if lines.is_empty() {
            lines.push(comment(fallback));
        }
        let location = comment(&self.g.location(span));
        let _ = writeln!(self.out, "{indent}/**");
        for line in lines {
            let line = line.trim_start_matches(' ');
            if line.is_empty() {
                let _ = writeln!(self.out, "{indent} *");
            } else {
                let _ = writeln!(self.out, "{indent} * {line}");
            }
        }
        let _ = writeln!(
            self.out,
            "{indent} *\n{indent} * Spec: {location}.\n{indent} */"
        );
    }

    fn preamble(&mut self, file: &str) {
        let file = comment(file);
        let guard = self.guard.clone();
        let _ = write!(
            self.out,
            "/* @generated by capc from {file}, do not edit.\n \
             * Regenerate with `capc build --lang c {file}` or capc::Builder. */\n\
             #ifndef {guard}\n#define {guard}\n\n\
             #include <stdbool.h>\n#include <stdint.h>\n\n"
        );
        for doc in &self.g.spec.docs {
            let _ = writeln!(self.out, "/* {} */", comment(doc.trim_end()));
        }
        if !self.g.spec.docs.is_empty() {
            self.out.push('\n');
        }
    }

    fn define(&mut self, name: String, what: &str, value: String) {
        let name = self.name(name, what);
        let _ = writeln!(self.out, "#define {name} {value}");
    }

    fn target(&mut self, t: &Target) {
        let u = self.upper.clone();
        self.docs(
            "",
            &[format!("The target machine `{}`.", t.name)],
            "",
            t.span,
        );
        let settings = [
            ("ADDRESS_BITS", u64::from(t.address_bits)),
            ("TAG_BITS", u64::from(t.tag_bits)),
            ("TAG_SHIFT", u64::from(t.tag_shift)),
            ("MESSAGE_REGISTERS", u64::from(t.message_registers)),
            ("MESSAGE_WORDS", u64::from(t.message_words)),
            ("CAPS_PER_MESSAGE", u64::from(t.caps_per_message)),
            ("CAP_WORDS", u64::from(t.cap_words)),
        ];
        for (name, value) in settings {
            self.define(format!("{u}_{name}"), "a target setting", value.to_string());
        }
        if let Some(bits) = t.slot_bits {
            self.define(
                format!("{u}_SLOT_BITS"),
                "a target setting",
                bits.to_string(),
            );
        }
        if let Some((base, end)) = t.user_space {
            self.define(format!("{u}_USER_BASE"), "a target setting", u64_lit(base));
            self.define(format!("{u}_USER_END"), "a target setting", u64_lit(end));
        }
        self.out.push('\n');
    }

    fn constants(&mut self) {
        let u = self.upper.clone();
        for c in &self.g.spec.consts {
            self.docs("", &c.docs, &format!("The constant `{}`.", c.name), c.span);
            let what = format!("constant `{}`", c.name);
            self.at = Some(c.span);
            self.define(
                format!("{u}_CONST_{}", c.name.to_ascii_uppercase()),
                &what,
                u64_lit(c.value),
            );
        }
        self.at = None;
        if !self.g.spec.consts.is_empty() {
            self.out.push('\n');
        }
    }

    fn rights(&mut self) {
        let u = self.upper.clone();
        let spec = self.g.spec;
        for (bit, right) in spec.rights.iter().enumerate() {
            self.docs(
                "",
                &right.docs,
                &format!("The right `{}`.", right.name),
                right.span,
            );
            let what = format!("right `{}`", right.name);
            self.at = Some(right.span);
            self.define(
                format!("{u}_RIGHT_{}", c_upper(&right.name)),
                &what,
                format!("(UINT64_C(1) << {bit})"),
            );
        }
        self.at = None;
        let all = if spec.rights.len() >= 64 {
            u64::MAX
        } else {
            (1u64 << spec.rights.len()) - 1
        };
        let _ = writeln!(self.out, "/** Every declared right. */");
        self.define(format!("{u}_RIGHTS_ALL"), "every right", u64_lit(all));
        self.out.push('\n');
    }

    fn objects(&mut self) {
        let (l, u) = (self.lower.clone(), self.upper.clone());
        let spec = self.g.spec;
        let _ = writeln!(
            self.out,
            "/** Object types, numbered as the `object_type` word of a retype call. */"
        );
        let ty = self.name(format!("{l}_object_type"), "the object type enum");
        let _ = writeln!(self.out, "enum {ty} {{");
        for object in &spec.objects {
            self.docs("    ", &object.docs, &object.name, object.span);
            let what = format!("object type `{}`", object.name);
            self.at = Some(object.span);
            let name = self.name(format!("{u}_OBJECT_{}", c_upper(&object.name)), what);
            let _ = writeln!(self.out, "    {name} = {},", object.number);
        }
        self.at = None;
        let _ = writeln!(self.out, "}};");
        self.define(
            format!("{u}_OBJECT_TYPE_COUNT"),
            "the object type count",
            spec.objects.len().to_string(),
        );
        self.out.push('\n');

        for object in &spec.objects {
            let what = format!("object type `{}`", object.name);
            self.at = Some(object.span);
            let name = format!("{u}_OBJECT_{}", c_upper(&object.name));
            let rule = &object.size;
            if rule.param.is_none() {
                let bits = rule.min_bits();
                self.define(format!("{name}_SIZE_BITS"), &what, bits.to_string());
                self.define(
                    format!("{name}_ALIGN_BITS"),
                    &what,
                    object.align_bits_for(bits).to_string(),
                );
            } else {
                self.define(format!("{name}_MIN_ARG"), &what, u64_lit(rule.min_arg()));
                self.define(format!("{name}_MAX_ARG"), &what, u64_lit(rule.max_arg()));
            }
            // `#[number(A, B, ...)]`: the number of the type with each size
            // argument (seL4_X86_LargePageObject is the frame's with 1).
            for &(arg, number) in &object.numbers {
                self.define(format!("{name}_NUMBER_{arg}"), &what, number.to_string());
            }
        }
        self.at = None;
        self.out.push('\n');

        // log2 of a power of two, for byte-sized types' `size_bits`.
        if self.g.byte_sizes() {
            let log2 = self.name(format!("{l}_object_log2"), "the log2 of a size");
            let _ = writeln!(
                self.out,
                "/** log2 of `bytes`, a power of two. */\n\
                 static inline int {log2}(uint64_t bytes)\n{{\n    int bits = 0;\n    \
                 while (bytes > 1) {{\n        bytes >>= 1;\n        bits++;\n    }}\n    return bits;\n}}\n"
            );
        }
        // log2 of an object's size for a size argument, -1 when the type or
        // the argument is not allowed.
        let f = self.name(format!("{l}_object_size_bits"), "the size function");
        let _ = writeln!(
            self.out,
            "/**\n * log2 of the size of an object of `type` made with size argument `arg`\n \
             * (0 for fixed-size types); -1 when `type` is unknown or `arg` is not allowed.\n */\n\
             static inline int {f}(uint64_t type, uint64_t arg)\n{{\n    switch (type) {{"
        );
        for object in &spec.objects {
            let _ = writeln!(self.out, "    case {}:", object.number);
            if let Some(b) = object.size.bytes {
                // A byte-sized type: a log2 only for a size that is a
                // power of two.
                let _ = writeln!(
                    self.out,
                    "        return arg < {} || arg > {} || (arg & {}) != 0 || (arg & (arg - 1)) != 0\n            ? -1\n            : {log2}(arg);",
                    u64_lit(b.min),
                    u64_lit(b.max),
                    u64_lit((1u64 << b.granule_bits) - 1),
                    log2 = format_args!("{l}_object_log2"),
                );
                continue;
            }
            let table = &object.size.table;
            let offset = table
                .first()
                .map(|&(arg, bits)| i64::from(bits) - arg as i64);
            let linear = table.windows(2).all(|w| w[1].0 == w[0].0 + 1)
                && table
                    .iter()
                    .all(|&(arg, bits)| Some(i64::from(bits) - arg as i64) == offset);
            match (table.as_slice(), offset) {
                ([(arg, bits)], _) => {
                    let _ = writeln!(
                        self.out,
                        "        return arg == {} ? {bits} : -1;",
                        u64_lit(*arg)
                    );
                }
                (_, Some(offset)) if linear => {
                    let (min, max) = (object.size.min_arg(), object.size.max_arg());
                    let check = if min == 0 {
                        format!("arg > {}", u64_lit(max))
                    } else {
                        format!("arg < {} || arg > {}", u64_lit(min), u64_lit(max))
                    };
                    let value = match offset {
                        0 => "(int)arg".to_string(),
                        o if o > 0 => format!("(int)arg + {o}"),
                        o => format!("(int)arg - {}", -o),
                    };
                    let _ = writeln!(self.out, "        return {check} ? -1 : {value};");
                }
                _ => {
                    let _ = writeln!(self.out, "        switch (arg) {{");
                    for (arg, bits) in table {
                        let _ =
                            writeln!(self.out, "        case {}: return {bits};", u64_lit(*arg));
                    }
                    let _ = writeln!(self.out, "        default: return -1;\n        }}");
                }
            }
        }
        let _ = writeln!(self.out, "    default:\n        return -1;\n    }}\n}}\n");
        if self.g.byte_sizes() {
            self.size_bytes_fn();
        }
    }

    /// `_object_size_bytes`, for a spec with a byte-sized object type: the
    /// size in bytes, 0 when the type or the argument is not allowed.
    fn size_bytes_fn(&mut self) {
        let l = self.lower.clone();
        let spec = self.g.spec;
        let f = self.name(format!("{l}_object_size_bytes"), "the size in bytes");
        let _ = writeln!(
            self.out,
            "/**\n * The size in bytes of an object of `type` made with size argument `arg`:\n \
             * 1 << {l}_object_size_bits, or for a byte-sized type `arg` itself, a whole\n \
             * number of its granules in its range; 0 when `type` is unknown or `arg` is not\n \
             * allowed.\n */\n\
             static inline uint64_t {f}(uint64_t type, uint64_t arg)\n{{\n    int bits;\n\n    switch (type) {{"
        );
        for object in &spec.objects {
            let Some(b) = object.size.bytes else { continue };
            let _ = writeln!(
                self.out,
                "    case {}:\n        return arg < {} || arg > {} || (arg & {}) != 0 ? 0 : arg;",
                object.number,
                u64_lit(b.min),
                u64_lit(b.max),
                u64_lit((1u64 << b.granule_bits) - 1),
            );
        }
        let _ = writeln!(
            self.out,
            "    default:\n        bits = {l}_object_size_bits(type, arg);\n        \
             return bits < 0 || bits >= 64 ? 0 : UINT64_C(1) << bits;\n    }}\n}}\n"
        );
    }

    fn cap_types(&mut self) {
        let (l, u) = (self.lower.clone(), self.upper.clone());
        let spec = self.g.spec;
        let _ = writeln!(
            self.out,
            "/** Cap types, numbered by their tag in the low bits of word 0. */"
        );
        let ty = self.name(format!("{l}_cap_type"), "the cap type enum");
        let _ = writeln!(self.out, "enum {ty} {{\n    /** The null cap. */");
        let null = self.name(format!("{u}_CAP_NULL"), "the null cap");
        let _ = writeln!(self.out, "    {null} = 0,");
        for cap in &spec.caps {
            self.docs("    ", &cap.docs, &cap.name, cap.span);
            let what = format!("cap type `{}`", cap.name);
            self.at = Some(cap.span);
            let name = self.name(format!("{u}_CAP_{}", c_upper(&cap.name)), what);
            let _ = writeln!(self.out, "    {name} = {},", cap.tag);
        }
        let _ = writeln!(self.out, "}};\n");
        for cap in &spec.caps {
            let what = format!("cap type `{}`", cap.name);
            self.at = Some(cap.span);
            let valid = cap.rights.iter().fold(0u64, |m, r| m | 1 << r.0);
            self.define(
                format!("{u}_{}_VALID_RIGHTS", c_upper(&cap.name)),
                &what,
                u64_lit(valid),
            );
            if let Some(object) = cap.object {
                let object = &spec.objects[object.0 as usize];
                let value = format!("{u}_OBJECT_{}", c_upper(&object.name));
                self.define(
                    format!("{u}_{}_OBJECT_TYPE", c_upper(&cap.name)),
                    &what,
                    value,
                );
            }
        }
        self.at = None;
        self.out.push('\n');
    }

    fn labels(&mut self) {
        let (l, u) = (self.lower.clone(), self.upper.clone());
        let spec = self.g.spec;
        let sets = spec
            .invocations
            .iter()
            .map(|s| (s, "invocations of"))
            .chain(spec.interfaces.iter().map(|s| (s, "interface")));
        for (set, kind) in sets {
            if set.methods.is_empty() {
                continue;
            }
            let _ = writeln!(
                self.out,
                "/** Method labels of the {kind} `{}` (spec: {}). */",
                comment(&set.name),
                comment(&self.g.location(set.span))
            );
            let what = format!("the labels of `{}`", set.name);
            self.at = Some(set.span);
            let ty = self.name(format!("{l}_{}_label", c_snake(&set.name)), what);
            let _ = writeln!(self.out, "enum {ty} {{");
            for method in &set.methods {
                self.docs("    ", &method.docs, &method.name, method.span);
                let what = format!("method `{}.{}`", set.name, method.name);
                self.at = Some(method.span);
                let name = self.name(
                    format!(
                        "{u}_{}_LABEL_{}",
                        c_upper(&set.name),
                        method.name.to_ascii_uppercase()
                    ),
                    what,
                );
                let _ = writeln!(self.out, "    {name} = {},", method.label);
            }
            let _ = writeln!(self.out, "}};\n");
        }
        self.at = None;
    }

    fn errors(&mut self) {
        let (l, u) = (self.lower.clone(), self.upper.clone());
        let spec = self.g.spec;
        for set in &spec.error_sets {
            self.docs("", &set.docs, &set.name, set.span);
            let what = format!("error set `{}`", set.name);
            self.at = Some(set.span);
            let ty = self.name(format!("{l}_{}", c_snake(&set.name)), what);
            let _ = writeln!(self.out, "enum {ty} {{");
            for (i, variant) in set.variants.iter().enumerate() {
                let mut docs = variant.docs.clone();
                if set.typed && !variant.payload.is_empty() {
                    // An RPC's set: the header has no RPC code, only the numbers.
                    let values: Vec<String> = variant
                        .payload
                        .iter()
                        .zip(&variant.payload_types)
                        .map(|(p, (t, at))| format!("{p}: {} at byte {at}", t.spelling(spec)))
                        .collect();
                    docs.push(String::new());
                    docs.push(format!("Payload: {}.", values.join(", ")));
                } else if !variant.payload.is_empty() {
                    docs.push(String::new());
                    docs.push(format!("Payload words: {}.", variant.payload.join(", ")));
                }
                if let Some((name, id)) = &variant.rest {
                    docs.push(String::new());
                    docs.push(format!(
                        "Then `{name}`: a {} error, its number in one word and its payload words after it.",
                        spec.error_sets[id.index()].name
                    ));
                }
                self.docs("    ", &docs, &variant.name, variant.span);
                let what = format!("error `{}::{}`", set.name, variant.name);
                self.at = Some(variant.span);
                let name = self.name(
                    format!("{u}_{}_{}", c_upper(&set.name), c_upper(&variant.name)),
                    what,
                );
                let _ = writeln!(self.out, "    {name} = {},", i + 1);
            }
            let _ = writeln!(self.out, "}};\n");
        }
        self.at = None;
    }

    /// Each enumeration's values as constants (`UINT64_C`: a C enum holds
    /// only `int`s).
    fn enumerations(&mut self) {
        let u = self.upper.clone();
        let spec = self.g.spec;
        for e in &spec.enumerations {
            self.docs("", &e.docs, &e.name, e.span);
            let prefix = format!("{u}_{}", c_upper(&e.name));
            self.at = Some(e.span);
            self.define(
                format!("{prefix}_BITS"),
                &format!("enumeration `{}`", e.name),
                e.bits.to_string(),
            );
            for v in &e.values {
                self.at = Some(v.span);
                self.define(
                    format!("{prefix}_{}", c_upper(&v.name)),
                    &format!("value `{}::{}`", e.name, v.name),
                    u64_lit(v.value),
                );
            }
            self.out.push('\n');
        }
    }

    fn finish(mut self) -> Result<String, Vec<Diagnostic>> {
        if !self.collisions.is_empty() {
            return Err(self.collisions);
        }
        let _ = writeln!(self.out, "#endif /* {} */", self.guard);
        Ok(self.out)
    }
}
