//! `capc build --lang sel4-xml`: a spec's kernel invocations in seL4's
//! interface XML, the format of seL4's `libsel4/include/interfaces/*.xml`
//! that seL4's invocation-label generator (`invocation_header_gen.py`)
//! and system call stub generator (`syscall_stub_gen.py`) read.
//!
//! - One `<interface name=CapType manual_name=CapType>` per run of methods
//!   of one invoked cap type in label order (a block whose methods'
//!   labels are not consecutive, as seL4's IRQ control, gives several, as
//!   seL4's own files do).
//! - One `<method id=CapTypeMethod name=Method manual_name=method>` per
//!   method. seL4's generators number methods by their position in the
//!   files, from 1 (0 is `InvalidInvocation`), so methods are written in
//!   label order, and the export is refused when the labels are not
//!   exactly 1, 2, 3, ... (a gap, E0939, or two methods with one label,
//!   E0938).
//! - `<param dir="in">` per parameter and `<param dir="out">` per result,
//!   in declaration order: `seL4_Word` (`word`), `seL4_Bool` (`bool`),
//!   `seL4_Uint8` to `seL4_Uint64` (`u8` to `u64`, and enumerations of
//!   those widths), `seL4_CPtr` (caps, whichever their type), and a
//!   bitfield's name (declared by a `<struct>` with one `<member>` per
//!   word: a field taking the whole word names it, others are `wordN`).
//! - seL4's stubs place each parameter at the next bit aligned to its
//!   size (a `seL4_Bool` one bit, a `seL4_Uint8` eight...) or to the next
//!   word; the export is refused for a method whose parameters or results
//!   capc lays out elsewhere (a `u8` without `#[at]` after a `bool`, say),
//!   since seL4's stub would not send what capc's code reads (E0940).
//! - A parameter or result of a type the format cannot name (`uN` other
//!   than 8, 16, 32 and 64, arrays, message types, leases, `cap any`, a
//!   cap result) is refused too (E0941).
//!
//! The generators know the C types they were written for; the cap types'
//! and bitfields' names here are capc's, which a user of the generators
//! registers with them (seL4's stub generator keeps its types in a list
//! in the script: `CapType` for an interface, `BitFieldType` for a
//! one-word `<struct>`, `StructType` for a larger one).

use std::fmt::Write as _;

use capc_dsl::ast::Scalar;
use capc_dsl::diag::{Code, Diagnostic};
use capc_dsl::model::{Bitfield, Layout, Method, MethodParam, MethodSet, ParamKind, Spec, Wire};

/// The export of `spec`'s invocations (`root_name` is the spec's file,
/// named in a comment by its last component), or a diagnostic
/// (E0938–E0941) for each method, parameter or result seL4's format or
/// generators cannot take.
pub fn render(spec: &Spec, root_name: &str) -> Result<String, Vec<Diagnostic>> {
    let file = root_name.rsplit(['/', '\\']).next().unwrap_or(root_name);
    let stem = file.strip_suffix(".cap").unwrap_or(file);
    let (methods, mut errors) = in_label_order(spec);
    let mut structs: Vec<usize> = Vec::new();
    let mut body = String::new();
    let mut open: Option<&str> = None;
    for (set, method) in &methods {
        if open != Some(set.name.as_str()) {
            if open.is_some() {
                body.push_str("    </interface>\n");
            }
            let _ = writeln!(
                body,
                "    <interface name=\"{0}\" manual_name=\"{0}\">",
                set.name
            );
            open = Some(&set.name);
        }
        let name = capc_dsl::check::camel(&method.name);
        let _ = writeln!(
            body,
            "        <method id=\"{}{name}\" name=\"{name}\" manual_name=\"{}\">",
            set.name, method.name
        );
        for (dir, params) in [("in", &method.params), ("out", &method.results)] {
            let role = if dir == "in" { "parameter" } else { "result" };
            let before = errors.len();
            for p in params.iter() {
                let ty = match type_of(spec, p, dir == "out") {
                    Ok(ty) => ty,
                    Err((why, help)) => {
                        errors.push(
                            Diagnostic::new(
                                Code::XmlType,
                                p.span,
                                format!(
                                    "`{}.{}`: {role} `{}` is {why}",
                                    set.name, method.name, p.name
                                ),
                            )
                            .label(format!("a {role} seL4's interface XML cannot name"))
                            .help(help),
                        );
                        continue;
                    }
                };
                if let Some(b) = p.bitfield
                    && !structs.contains(&b.index())
                {
                    structs.push(b.index());
                }
                let _ = writeln!(
                    body,
                    "            <param dir=\"{dir}\" name=\"{}\" type=\"{ty}\"/>",
                    p.name
                );
            }
            // Places are compared only for types seL4 can name.
            if errors.len() == before {
                places_agree(spec, set, method, params, dir == "in", &mut errors);
            }
        }
        body.push_str("        </method>\n");
    }
    if open.is_some() {
        body.push_str("    </interface>\n");
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    structs.sort_unstable();
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" ?>\n");
    let _ = writeln!(
        out,
        "<!-- Generated by capc from {file}: its kernel invocations in seL4's interface XML. -->"
    );
    let _ = writeln!(out, "<api name=\"{stem}\">");
    for index in structs {
        let b = &spec.bitfields[index];
        let _ = writeln!(out, "    <struct name=\"{}\">", b.name);
        for word in 0..b.words {
            let _ = writeln!(out, "        <member name=\"{}\"/>", member(b, word));
        }
        out.push_str("    </struct>\n");
    }
    out.push_str(&body);
    out.push_str("</api>\n");
    Ok(out)
}

/// The name of a bitfield's word `word` in its `<struct>`: the field that
/// takes the whole word, else `wordN`.
pub fn member(b: &Bitfield, word: u64) -> String {
    b.fields
        .iter()
        .find(|f| f.word == word && f.bit == 0 && f.width == 64)
        .map_or_else(|| format!("word{word}"), |f| f.name.clone())
}

/// Every invocation with its set, in label order, and a diagnostic for
/// each label that is not its position from 1.
fn in_label_order(spec: &Spec) -> (Vec<(&MethodSet, &Method)>, Vec<Diagnostic>) {
    let mut methods: Vec<(&MethodSet, &Method)> = spec
        .invocations
        .iter()
        .flat_map(|set| set.methods.iter().map(move |m| (set, m)))
        .collect();
    methods.sort_by_key(|(_, m)| m.label);
    let mut errors = Vec::new();
    for (position, pair) in methods.iter().enumerate() {
        let (set, method) = pair;
        let position = position as u32 + 1;
        if position > 1 {
            let (other_set, other) = methods[position as usize - 2];
            if other.label == method.label {
                errors.push(
                    Diagnostic::new(
                        Code::XmlLabelTwice,
                        method.span,
                        format!(
                            "`{}.{}` and `{}.{}` both have label {}: seL4's generators give each method its own position",
                            other_set.name, other.name, set.name, method.name, method.label
                        ),
                    )
                    .label(format!("label {} again", method.label))
                    .with_secondary(other.span, format!("label {} first", method.label))
                    .help("give each kernel invocation its own label: seL4's generators number methods 1, 2, 3, ... by their place in the file"),
                );
                // The rest would all be off by one: one error says it.
                break;
            }
        }
        if method.label != position {
            errors.push(
                Diagnostic::new(
                    Code::XmlLabelGap,
                    method.span,
                    format!(
                        "`{}.{}` has label {}, but seL4's generators would number it {position}: they number methods 1, 2, 3, ... in order, so labels must have no gaps",
                        set.name, method.name, method.label
                    ),
                )
                .label(format!("label {}, seL4's position {position}", method.label))
                .help(format!(
                    "number the kernel invocations 1, 2, 3, ... with no gap: this one's label would be {position}"
                )),
            );
            // The rest would all be off too: one error says it.
            break;
        }
    }
    (methods, errors)
}

/// The seL4 type name of a parameter or result, or why the format
/// cannot name it and what to change.
fn type_of(spec: &Spec, p: &MethodParam, result: bool) -> Result<String, (String, String)> {
    if let Some(b) = p.bitfield {
        return Ok(spec.bitfields[b.index()].name.clone());
    }
    let words =
        "pass it as words (`word`, `u64`) or a bitfield, or leave this method out of the export";
    let (why, help) = match &p.kind {
        ParamKind::Scalar(s) => match scalar_type(*s) {
            Some(ty) => return Ok(ty),
            None => (
                format!(
                    "a {}, which seL4's stub generator has no type for (it knows bool, u8, u16, u32, u64 and word)",
                    scalar_spelling(*s)
                ),
                "make it a `u8`, `u16`, `u32`, `u64`, `word` or `bool`".to_string(),
            ),
        },
        ParamKind::Cap { .. } if !result => return Ok("seL4_CPtr".to_string()),
        ParamKind::Cap { .. } => (
            "a cap, which seL4's interface XML cannot return".to_string(),
            "return the cap into a slot the caller names (a CNode cap parameter) instead"
                .to_string(),
        ),
        ParamKind::Array { .. } => (
            "an array, which seL4's interface XML cannot say".to_string(),
            words.to_string(),
        ),
        ParamKind::Data { .. } => (
            "a message type, which seL4's interface XML cannot say".to_string(),
            words.to_string(),
        ),
        ParamKind::Lease(_) => (
            "a lease, which seL4's interface XML cannot say".to_string(),
            words.to_string(),
        ),
        ParamKind::AnyCap { .. } => (
            "`cap any`, which seL4's interface XML cannot say".to_string(),
            "name the cap type (`cap SomeCap`): seL4's XML passes caps of a named type".to_string(),
        ),
    };
    Err((why, help))
}

fn scalar_type(s: Scalar) -> Option<String> {
    Some(
        match s {
            Scalar::Word => "seL4_Word",
            Scalar::Bool => "seL4_Bool",
            Scalar::Uint(8) => "seL4_Uint8",
            Scalar::Uint(16) => "seL4_Uint16",
            Scalar::Uint(32) => "seL4_Uint32",
            Scalar::Uint(64) => "seL4_Uint64",
            Scalar::Uint(_) => return None,
        }
        .to_string(),
    )
}

fn scalar_spelling(s: Scalar) -> String {
    match s {
        Scalar::Word => "word".into(),
        Scalar::Bool => "bool".into(),
        Scalar::Uint(n) => format!("u{n}"),
    }
}

/// Bits a parameter takes as seL4's stub generator sizes it.
fn sel4_bits(spec: &Spec, p: &MethodParam) -> u64 {
    if let Some(b) = p.bitfield {
        return 64 * spec.bitfields[b.index()].words;
    }
    match p.kind {
        ParamKind::Scalar(Scalar::Bool) => 1,
        ParamKind::Scalar(Scalar::Uint(n)) => u64::from(n),
        _ => 64,
    }
}

/// seL4's `get_parameter_positions`: each non-cap parameter's first bit,
/// aligned to its size or to a word, whichever is smaller.
pub fn sel4_positions(spec: &Spec, params: &[MethodParam]) -> Vec<Option<u64>> {
    let mut used = 0u64;
    params
        .iter()
        .map(|p| {
            if matches!(p.kind, ParamKind::Cap { .. }) {
                return None;
            }
            let bits = sel4_bits(spec, p);
            let align = bits.min(64);
            used = used.div_ceil(align) * align;
            let first = used;
            used += bits;
            Some(first)
        })
        .collect()
}

/// Refuses a method whose parameters (or results) capc places other than
/// where seL4's stubs place them.
fn places_agree(
    spec: &Spec,
    set: &MethodSet,
    method: &Method,
    params: &[MethodParam],
    request: bool,
    errors: &mut Vec<Diagnostic>,
) {
    let layout = Layout::of(params);
    let sel4 = sel4_positions(spec, params);
    for ((p, place), first) in params.iter().zip(&layout.places).zip(&sel4) {
        let (Wire::Words { start, .. }, Some(first)) = (place, first) else {
            continue;
        };
        let ours = start * 64 + p.at.map_or(0, |a| u64::from(a.bit));
        if ours != *first {
            errors.push(
                Diagnostic::new(
                    Code::XmlPlacement,
                    p.span,
                    format!(
                        "`{}.{}`: {} `{}` is at word {}, bit {} in capc's {}, but seL4's stubs put it at word {}, bit {}",
                        set.name,
                        method.name,
                        if request { "parameter" } else { "result" },
                        p.name,
                        start,
                        ours % 64,
                        if request { "request" } else { "reply" },
                        first / 64,
                        first % 64,
                    ),
                )
                .label(format!(
                    "capc: word {start}, bit {}; seL4: word {}, bit {}",
                    ours % 64,
                    first / 64,
                    first % 64
                ))
                .help(format!(
                    "give it `#[at(word = {}, bit = {})]`",
                    first / 64,
                    first % 64
                )),
            );
            // Later places follow from this one: one error says it.
            return;
        }
    }
}
