//! Generates the example specs' modules (kernel.cap, decompress.cap,
//! everything.cap, messages.cap, Barrelfish's caps.cap, its mem.if and octopus.if, the
//! file service of files.cap, Hubris's jefe.idol and sprot.idol, leases.cap, seL4's
//! x86_64.cap) with the build-script API,
//! exactly as a kernel crate would; and, for the differential test of the C
//! backend (tests/c_differential.rs), each of the first three specs' C
//! header, one C harness that calls every header's accessors by (tag, field
//! index), its predicates and its retype validator, compiled with the system
//! C compiler, and per spec the same dispatch over the Rust module
//! (`c_<stem>.rs`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use capc::backend::{ident, snake};
use capc::dsl::model::{FieldKind, Role, Spec};

/// Every spec with a Rust module, and the stem its header is named by.
const SPECS: [(&str, &str); 6] = [
    ("../../kernel-demo/spec/kernel.cap", "kernel"),
    ("../../kernel-demo/spec/decompress.cap", "decompress"),
    ("../../kernel-demo/spec/serial.cap", "serial"),
    ("../../examples/everything.cap", "everything"),
    ("../../examples/barrelfish/caps.cap", "caps"),
    ("../../examples/sel4/x86_64.cap", "x86_64"),
];

/// seL4's configurations besides the one with every option off: the
/// directory under `OUT_DIR` and the options on (every combination of MCS
/// and SMP; the IOMMU and VT-x alone, together, and with MCS and SMP;
/// VT-x with 64-bit guests).
const SEL4_CONFIGURATIONS: [(&str, &[&str]); 8] = [
    ("sel4_mcs", &["mcs"]),
    ("sel4_smp", &["smp"]),
    ("sel4_mcs_smp", &["mcs", "smp"]),
    ("sel4_iommu", &["iommu"]),
    ("sel4_vtx", &["vtx"]),
    ("sel4_iommu_vtx", &["iommu", "vtx"]),
    ("sel4_all", &["mcs", "smp", "iommu", "vtx"]),
    ("sel4_vtx64", &["vtx", "vtx64"]),
];

fn main() {
    let mut rust = capc::Builder::new();
    let mut c = capc::Builder::new().lang(capc::Lang::C);
    for (path, _) in SPECS {
        rust = rust.spec(path);
        c = c.spec(path);
    }
    // Message types: a Rust module only (the C header has no RPC code).
    rust = rust
        .spec("../../examples/messages.cap")
        .spec("../../examples/flounder/mem.cap")
        .spec("../../examples/flounder/octopus.cap")
        .spec("../../examples/files.cap")
        // The demo's systems: their boot plans (tests/boot_plan.rs).
        .spec("../../kernel-demo/spec/client_pays.cap")
        .spec("../../examples/idol/jefe.cap")
        .spec("../../examples/idol/sprot.cap")
        .spec("../../examples/leases.cap");
    rust.run();
    c.run();

    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // seL4's spec in its other configurations (tests/sel4_configurations.rs),
    // each in a directory of its own: every module is `x86_64.rs`.
    for (dir, options) in SEL4_CONFIGURATIONS {
        let dir = out.join(dir);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            fail(&format!("cannot create `{}`: {e}", dir.display()));
        }
        let mut builder = capc::Builder::new()
            .spec("../../examples/sel4/x86_64.cap")
            .out_dir(&dir);
        for option in options {
            builder = builder.cfg(*option);
        }
        builder.run();
        // The configuration with every option has every cap type and field:
        // its accessors by (tag, field index), as for the C differential
        // test, for sel4_configurations.rs's table of seL4's positions.
        if options.len() == 4 {
            let chosen: Vec<String> = options.iter().map(|o| o.to_string()).collect();
            let path = Path::new("../../examples/sel4/x86_64.cap");
            let compilation = match capc::dsl::compile_with(path, &capc::dsl::FsLoader, &chosen) {
                Ok(c) => c,
                Err(e) => fail(&format!("{e}")),
            };
            let Some(spec) = &compilation.spec else {
                fail(&compilation.render());
            };
            write(&dir.join("dispatch.rs"), &rust_dispatch(spec));
        }
    }
    // The example system (examples/systems/decompress.cap): a directory of
    // its own, its module being `decompress.rs` as the service's is.
    let dir = out.join("example_system");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        fail(&format!("cannot create `{}`: {e}", dir.display()));
    }
    capc::Builder::new()
        .spec("../../examples/systems/decompress.cap")
        .out_dir(dir)
        .run();
    let mut harness = String::from("#include <stdbool.h>\n#include <stdint.h>\n");
    for (path, stem) in SPECS {
        let compilation = match capc::dsl::compile(Path::new(path), &capc::dsl::FsLoader) {
            Ok(c) => c,
            Err(e) => fail(&format!("{e}")),
        };
        let Some(spec) = &compilation.spec else {
            fail(&compilation.render());
        };
        if spec.retypes.is_empty() {
            fail(&format!(
                "{path} has no retype rules: tests/c_differential.rs needs them"
            ));
        }
        harness.push_str(&c_harness(spec, stem));
        harness.push_str(&c_splits(spec, stem));
        write(&out.join(format!("c_{stem}.rs")), &rust_dispatch(spec));
    }
    write(&out.join("c_harness.c"), &harness);
    cc::Build::new()
        .file(out.join("c_harness.c"))
        .include(&out)
        .std("c11")
        .warnings_into_errors(true)
        .flag("-Wall")
        .flag("-Wextra")
        .compile("capc_c_harness");
}

/// For a spec with splitting rules: `capc_<stem>_split` and, with
/// `#[at_offset]`, `capc_<stem>_split_at`, each a row of words (status,
/// index, min, max, then on success the piece size, first address, count and
/// the words of the first and the last piece's cap); with `#[range]`,
/// `capc_<stem>_split_range` (status, index, min, max, the piece's words).
/// Live memory and live ranges are one range each.
fn c_splits(spec: &Spec, stem: &str) -> String {
    let words = spec.target.cap_words;
    let object_splits = spec.derives.iter().any(|r| {
        r.source == r.target && {
            let c = &spec.caps[r.source.index()];
            c.object.is_some()
                && c.field_with(Role::Object).is_some()
                && c.field_with(Role::SizeArg).is_some()
        }
    });
    let at_offset = object_splits
        && spec
            .derives
            .iter()
            .any(|r| r.source == r.target && r.at_offset);
    let range = spec.derives.iter().any(|r| r.range.is_some());
    let size_member = if bytes_mode(spec) {
        "size"
    } else {
        "size_bits"
    };
    let load = format!(
        "    {stem}_cap_t s;\n    for (int i = 0; i < {words}; i++) {{\n        s.words[i] = source[i];\n    }}\n"
    );
    let mut out = String::new();
    if object_splits || range {
        out.push_str(&format!(
            "struct {stem}_live {{\n    uint64_t first, end;\n}};\n\n\
             static void {stem}_put_cap({stem}_cap_t c, uint64_t *out)\n{{\n    \
             for (int i = 0; i < {words}; i++) {{\n        out[i] = c.words[i];\n    }}\n}}\n\n"
        ));
    }
    if object_splits {
        out.push_str(&format!(
            "static void {stem}_split_row(enum {stem}_derive_status status, const struct {stem}_split *split,\n    \
             const struct {stem}_derive_result *result, uint64_t *out)\n{{\n    \
             {stem}_cap_t c;\n    for (int i = 0; i < 7 + 2 * {words}; i++) {{\n        out[i] = 0;\n    }}\n    \
             out[0] = (uint64_t)status;\n    out[1] = result->index;\n    out[2] = result->min;\n    \
             out[3] = result->max;\n    if (status != 0) {{\n        return;\n    }}\n    \
             out[4] = split->{size_member};\n    out[5] = split->first;\n    out[6] = split->count;\n    \
             if ({stem}_split_cap(split, 0, &c)) {{\n        {stem}_put_cap(c, &out[7]);\n    }}\n    \
             if ({stem}_split_cap(split, split->count - 1, &c)) {{\n        {stem}_put_cap(c, &out[7 + {words}]);\n    }}\n}}\n\n\
             void capc_{stem}_split(const uint64_t *source, uint64_t size_arg, uint64_t count, int has_pieces,\n    \
             uint64_t *out);\n\
             void capc_{stem}_split(const uint64_t *source, uint64_t size_arg, uint64_t count, int has_pieces,\n    \
             uint64_t *out)\n{{\n{load}    struct {stem}_split split;\n    struct {stem}_derive_result result;\n    \
             enum {stem}_derive_status status = {stem}_split(s, size_arg, count, has_pieces != 0, &split, &result);\n    \
             {stem}_split_row(status, &split, &result, out);\n}}\n\n"
        ));
    }
    if at_offset {
        out.push_str(&format!(
            "static bool {stem}_meets_memory(void *context, uint64_t first, uint64_t bytes)\n{{\n    \
             const struct {stem}_live *live = context;\n    \
             return bytes != 0 && first < live->end && (live->first <= first || live->first - first < bytes);\n}}\n\n\
             void capc_{stem}_split_at(const uint64_t *source, uint64_t size_arg, uint64_t at, uint64_t count,\n    \
             uint64_t live_first, uint64_t live_end, uint64_t *out);\n\
             void capc_{stem}_split_at(const uint64_t *source, uint64_t size_arg, uint64_t at, uint64_t count,\n    \
             uint64_t live_first, uint64_t live_end, uint64_t *out)\n{{\n{load}    \
             struct {stem}_live live = {{ live_first, live_end }};\n    struct {stem}_split split;\n    \
             struct {stem}_derive_result result;\n    \
             enum {stem}_derive_status status = {stem}_split_at(s, size_arg, at, count, {stem}_meets_memory, &live,\n        \
             &split, &result);\n    {stem}_split_row(status, &split, &result, out);\n}}\n\n"
        ));
    }
    if range {
        out.push_str(&format!(
            "static bool {stem}_meets_range(void *context, uint64_t first, uint64_t last)\n{{\n    \
             const struct {stem}_live *live = context;\n    \
             return live->first <= live->end && first <= live->end && live->first <= last;\n}}\n\n\
             void capc_{stem}_split_range(const uint64_t *source, uint64_t first, uint64_t last,\n    \
             uint64_t live_first, uint64_t live_last, uint64_t *out);\n\
             void capc_{stem}_split_range(const uint64_t *source, uint64_t first, uint64_t last,\n    \
             uint64_t live_first, uint64_t live_last, uint64_t *out)\n{{\n{load}    \
             struct {stem}_live live = {{ live_first, live_last }};\n    {stem}_cap_t piece;\n    \
             struct {stem}_derive_result result;\n    \
             enum {stem}_derive_status status = {stem}_split_range(s, first, last, {stem}_meets_range, &live,\n        \
             &piece, &result);\n    \
             for (int i = 0; i < 4 + {words}; i++) {{\n        out[i] = 0;\n    }}\n    \
             out[0] = (uint64_t)status;\n    out[1] = result.index;\n    out[2] = result.min;\n    \
             out[3] = result.max;\n    if (status == 0) {{\n        {stem}_put_cap(piece, &out[4]);\n    }}\n}}\n\n"
        ));
    }
    out
}

/// Whether the spec's modules have `badge_of`, `is_mapped` and `retype`.
fn has(spec: &Spec) -> (bool, bool, bool) {
    let badges = spec.caps.iter().any(|c| {
        c.field_with(Role::Badge)
            .is_some_and(|f| f.kind == FieldKind::Uint)
    });
    let mapped = spec
        .caps
        .iter()
        .any(|c| c.mapping.is_some() && c.field_with(Role::MappedAt).is_some());
    (badges, mapped, !spec.retypes.is_empty())
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(1);
}

fn write(path: &Path, text: &str) {
    if let Err(e) = std::fs::write(path, text) {
        fail(&format!("cannot write {}: {e}", path.display()));
    }
}

/// For the header of `stem`: `capc_<stem>_get(tag, field, words)` and
/// `capc_<stem>_set(tag, field, words, value)` over every field of every
/// cap type; `capc_<stem>_predicates(a, b, out)`, every predicate of the
/// pair in a row of words (see `rust_predicates`); `capc_<stem>_cap_for`;
/// and `capc_<stem>_retype`, the validator's status, payload and placement
/// in a row of words (see `rust_retype`).
/// Whether some object type is byte-sized: the placement then has `size`
/// in bytes rather than `size_bits`.
fn bytes_mode(spec: &Spec) -> bool {
    spec.objects.iter().any(|o| o.size.is_bytes())
}

fn c_harness(spec: &Spec, stem: &str) -> String {
    let words = spec.target.cap_words;
    let size_member = if bytes_mode(spec) {
        "size"
    } else {
        "size_bits"
    };
    let (badges, mapped, retypes) = has(spec);
    let mut get = String::new();
    let mut set = String::new();
    for cap in &spec.caps {
        let cap_name = snake(&cap.name);
        for (i, field) in cap.fields.iter().enumerate() {
            let f = snake(&field.name);
            let case = format!("    case {} * 256 + {i}:", cap.tag);
            let _ = writeln!(
                get,
                "{case}\n        return (uint64_t){stem}_{cap_name}_get_{f}(cap);"
            );
            let value = if matches!(field.kind, FieldKind::Bool) {
                "value != 0"
            } else {
                "value"
            };
            let _ = writeln!(
                set,
                "{case}\n        ok = {stem}_{cap_name}_set_{f}(&cap, {value});\n        break;"
            );
        }
    }
    let load = |name: &str, from: &str| {
        format!(
            "    {stem}_cap_t {name};\n    for (int i = 0; i < {words}; i++) {{\n        {name}.words[i] = {from}[i];\n    }}\n"
        )
    };
    let badge = if badges {
        format!("    out[6] = {stem}_badge_of(a, &out[7]);\n")
    } else {
        String::new()
    };
    let mapped = if mapped {
        format!("    out[9] = {stem}_is_mapped(a);\n")
    } else {
        String::new()
    };
    let retype = if retypes {
        format!(
            "static bool {stem}_slot_is_empty(void *context, uint64_t slot)\n{{\n    \
             uint64_t occupied = *(const uint64_t *)context;\n    \
             return slot >= 64 || ((occupied >> slot) & 1) == 0;\n}}\n\n\
             void capc_{stem}_retype(const uint64_t *source, int has_children, const uint64_t *request,\n    \
             int found, uint64_t slots, uint64_t occupied, uint64_t *out);\n\
             void capc_{stem}_retype(const uint64_t *source, int has_children, const uint64_t *request,\n    \
             int found, uint64_t slots, uint64_t occupied, uint64_t *out)\n{{\n{}    \
             struct {stem}_retype_request r = {{ request[0], request[1], request[2], request[3] }};\n    \
             struct {stem}_retype_destination d = {{ slots }};\n    \
             struct {stem}_retype_result result;\n    \
             enum {stem}_retype_status status = {stem}_retype(s, has_children != 0, &r, found ? &d : 0,\n        \
             {stem}_slot_is_empty, &occupied, &result);\n    \
             for (int i = 0; i < 13 + {words}; i++) {{\n        out[i] = 0;\n    }}\n    \
             out[0] = (uint64_t)status;\n    out[1] = result.index;\n    out[2] = result.min;\n    \
             out[3] = result.max;\n    out[4] = result.left;\n    \
             if (status == {upper}_RETYPE_OK) {{\n        const struct {stem}_placement *p = &result.placement;\n        \
             out[5] = p->object_type;\n        out[6] = p->size_arg;\n        out[7] = p->{size_member};\n        \
             out[8] = p->first;\n        out[9] = p->count;\n        out[10] = p->first_slot;\n        \
             out[11] = p->new_watermark;\n        out[12] = p->reset;\n        \
             for (int i = 0; i < {words}; i++) {{\n            out[13 + i] = p->updated_source.words[i];\n        }}\n    }}\n}}\n",
            load("s", "source"),
            upper = stem.to_ascii_uppercase()
        )
    } else {
        String::new()
    };
    // `retype_at` for a spec with an `#[at_offset]` rule: the same row, the
    // live memory one range `live_first..live_end` (empty: none).
    let retype = if spec.retypes.iter().any(|r| r.at_offset) {
        let at = retype
            .replace(
                &format!("static bool {stem}_slot_is_empty(void *context, uint64_t slot)\n{{\n    \
                 uint64_t occupied = *(const uint64_t *)context;\n"),
                &format!("static bool {stem}_at_slot_is_empty(void *context, uint64_t slot)\n{{\n    \
                 uint64_t occupied = ((const struct {stem}_at_context *)context)->occupied;\n"),
            )
            .replace(
                "const uint64_t *request,\n    int found,",
                "const uint64_t *request,\n    uint64_t at, uint64_t live_first, uint64_t live_end, int found,",
            )
            .replace(&format!("capc_{stem}_retype("), &format!("capc_{stem}_retype_at("))
            .replace(
                &format!("{stem}_retype(s, has_children != 0, &r, found ? &d : 0,\n        \
                 {stem}_slot_is_empty, &occupied, &result);"),
                &format!("{stem}_retype_at(s, has_children != 0, &r, at, found ? &d : 0,\n        \
                 {stem}_at_slot_is_empty, {stem}_meets_live, &context, &result);"),
            )
            .replace(
                &format!("    struct {stem}_retype_request r ="),
                &format!("    struct {stem}_at_context context = {{ occupied, live_first, live_end }};\n    \
                 struct {stem}_retype_request r ="),
            );
        format!(
            "{retype}\n\
             struct {stem}_at_context {{\n    uint64_t occupied, live_first, live_end;\n}};\n\n\
             static bool {stem}_meets_live(void *context, uint64_t first, uint64_t bytes)\n{{\n    \
             const struct {stem}_at_context *c = context;\n    \
             return bytes != 0 && first < c->live_end\n        \
             && (c->live_first <= first || c->live_first - first < bytes);\n}}\n\n{at}"
        )
    } else {
        retype
    };
    format!(
        "#include \"{stem}.h\"\n\n\
         uint64_t capc_{stem}_get(uint32_t tag, uint32_t field, const uint64_t *words);\n\
         int capc_{stem}_set(uint32_t tag, uint32_t field, uint64_t *words, uint64_t value);\n\
         void capc_{stem}_predicates(const uint64_t *a_words, const uint64_t *b_words, uint64_t *out);\n\
         int capc_{stem}_cap_for(uint64_t object_type, uint64_t address, uint64_t size_arg, int device,\n    \
         uint64_t *words);\n\n\
         uint64_t capc_{stem}_get(uint32_t tag, uint32_t field, const uint64_t *words)\n{{\n{}    \
         switch (tag * 256 + field) {{\n{get}    default:\n        return UINT64_C(0xdead);\n    }}\n}}\n\n\
         int capc_{stem}_set(uint32_t tag, uint32_t field, uint64_t *words, uint64_t value)\n{{\n{}    bool ok;\n    \
         switch (tag * 256 + field) {{\n{set}    default:\n        return -1;\n    }}\n    \
         for (int i = 0; i < {words}; i++) {{\n        words[i] = cap.words[i];\n    }}\n    return ok;\n}}\n\n\
         void capc_{stem}_predicates(const uint64_t *a_words, const uint64_t *b_words, uint64_t *out)\n{{\n{}{}    \
         for (int i = 0; i < 10 + {words}; i++) {{\n        out[i] = 0;\n    }}\n    \
         out[0] = {stem}_cap_region(a, &out[1], &out[2]);\n    \
         out[3] = {stem}_same_object(a, b);\n    out[4] = {stem}_is_ancestor(a, b);\n    \
         out[5] = {stem}_is_copy(a, b);\n{badge}    out[8] = {stem}_may_copy(a);\n{mapped}    \
         {stem}_cap_t d = {stem}_derived(a);\n    \
         for (int i = 0; i < {words}; i++) {{\n        out[10 + i] = d.words[i];\n    }}\n}}\n\n\
         int capc_{stem}_cap_for(uint64_t object_type, uint64_t address, uint64_t size_arg, int device,\n    \
         uint64_t *words)\n{{\n    {stem}_cap_t cap;\n    \
         if (!{stem}_cap_for(object_type, address, size_arg, device != 0, &cap)) {{\n        return 0;\n    }}\n    \
         for (int i = 0; i < {words}; i++) {{\n        words[i] = cap.words[i];\n    }}\n    return 1;\n}}\n\n{retype}",
        load("cap", "words"),
        load("cap", "words"),
        load("a", "a_words"),
        load("b", "b_words"),
    )
}

/// For one spec's module: `FIELDS` (tag, field index, name) and
/// `rust_get`/`rust_set`, the C harness's dispatch over the Rust views;
/// `rust_predicates` and `rust_retype`, the rows of words the harness's
/// `_predicates` and `_retype` fill.
fn rust_dispatch(spec: &Spec) -> String {
    let (badges, mapped, retypes) = has(spec);
    let mut fields = String::new();
    let mut get = String::new();
    let mut set = String::new();
    for cap in &spec.caps {
        let view = &cap.name;
        for (i, field) in cap.fields.iter().enumerate() {
            let name = snake(&field.name);
            let getter = ident(&name);
            let setter = ident(&format!("set_{name}"));
            let _ = writeln!(fields, "    ({}, {i}, \"{view}.{name}\"),", cap.tag);
            let pat = format!("        ({}, {i}) =>", cap.tag);
            // An enumerated field's getter refuses (with the bits) a value
            // no variant names, and its setter takes a variant.
            let enumeration = field
                .values
                .map(|e| spec.enumerations[e.index()].name.clone());
            let (read, arg) = match field.kind {
                _ if enumeration.is_some() => (
                    "match v.{g}() {\n                Ok(x) => x.value(),\n                Err(e) => e.value,\n            }",
                    "named",
                ),
                FieldKind::Bool => ("u64::from(v.{g}())", "value != 0"),
                FieldKind::Rights { .. } => ("v.{g}().bits()", "rights"),
                // A `uN` field of 32 bits or fewer is read and written as the
                // narrowest integer type that holds it.
                FieldKind::Uint if field.width <= 32 => ("u64::from(v.{g}())", "narrow"),
                _ => ("v.{g}()", "value"),
            };
            let narrow = match field.width {
                0..=8 => "u8",
                9..=16 => "u16",
                _ => "u32",
            };
            let read = read.replace("{g}", &getter.to_string());
            let _ = writeln!(
                get,
                "{pat} {{\n            let v = {view}::from_cap(cap).expect(\"tag\");\n            {read}\n        }}"
            );
            let prelude = if let Some(e) = &enumeration {
                format!(
                    "let Some(named) = {e}::from_value(value) else {{ return false }};\n            "
                )
            } else if matches!(field.kind, FieldKind::Rights { .. }) {
                "let Some(rights) = Rights::from_bits(value) else { return false };\n            "
                    .to_string()
            } else if arg == "narrow" {
                format!(
                    "let Ok(narrow) = {narrow}::try_from(value) else {{ return false }};\n            "
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                set,
                "{pat} {{\n            {prelude}let mut v = {view}::from_cap(*cap).expect(\"tag\");\n            \
                 let ok = v.{setter}({arg}).is_ok();\n            *cap = v.cap();\n            ok\n        }}"
            );
        }
    }
    let badge = if badges {
        "    if let Some(badge) = badge_of(a) {\n        out[6] = 1;\n        out[7] = badge;\n    }\n"
    } else {
        ""
    };
    let mapped = if mapped {
        "    out[9] = u64::from(is_mapped(a));\n"
    } else {
        ""
    };
    let mapped_spec = !mapped.is_empty();
    let rebadge = if badges {
        "    cap.with_badge(badge).unwrap_or(cap)\n"
    } else {
        "    let _ = badge;\n    cap\n"
    };
    // `retype_at`'s two errors, after `retype`'s.
    let at_offset = if spec.retypes.iter().any(|r| r.at_offset) {
        "        Err(RetypeError::AlignmentError) => out[0] = 8,\n        \
         Err(RetypeError::RevokeFirst) => out[0] = 9,\n"
    } else {
        ""
    };
    let retype = if retypes {
        "/// The row `capc_<stem>_retype` fills: status (0 for success, else the\n\
         /// `RetypeError` variant's position from 1), index, min, max, left, then\n\
         /// the placement's fields and updated source words.\n\
         pub fn rust_retype(\n    source: Cap,\n    has_children: bool,\n    request: [u64; 4],\n    \
         destination: Option<u64>,\n    occupied: u64,\n) -> [u64; RETYPE_LEN] {\n    \
         let request = RetypeRequest {\n        object_type: request[0],\n        size_arg: request[1],\n        \
         offset: request[2],\n        count: request[3],\n    };\n    \
         let destination = destination.map(|slots| Destination { slots });\n    \
         let empty = |slot: u64| slot >= 64 || (occupied >> slot) & 1 == 0;\n    \
         let mut out = [0; RETYPE_LEN];\n    \
         match retype(source, has_children, &request, destination, empty) {\n        \
         Ok(p) => {\n            out[5] = p.object_type as u64;\n            out[6] = p.size_arg;\n            \
         out[7] = SIZE_MEMBER;\n            out[8] = p.first;\n            out[9] = p.count;\n            \
         out[10] = p.first_slot;\n            out[11] = p.new_watermark;\n            out[12] = u64::from(p.reset);\n            \
         out[13..].copy_from_slice(&p.updated_source.words());\n        }\n        \
         Err(RetypeError::InvalidArgument { index }) => {\n            out[0] = 1;\n            out[1] = index;\n        }\n        \
         Err(RetypeError::RangeError { min, max }) => {\n            out[0] = 2;\n            out[2] = min;\n            out[3] = max;\n        }\n        \
         Err(RetypeError::NotEnoughMemory { left }) => {\n            out[0] = 3;\n            out[4] = left;\n        }\n        \
         Err(RetypeError::DeleteFirst) => out[0] = 4,\n        \
         Err(RetypeError::FailedLookup) => out[0] = 5,\n        \
         Err(RetypeError::IllegalOperation) => out[0] = 6,\n        \
         Err(RetypeError::TruncatedMessage) => out[0] = 7,\n    }\n    out\n}\n"
            .replace(
                "out[0] = 7,\n    }",
                &format!("out[0] = 7,\n{at_offset}    }}"),
            )
            // A spec with a byte-sized object type places in bytes.
            .replace(
                "SIZE_MEMBER",
                if bytes_mode(spec) { "p.size" } else { "u64::from(p.size_bits)" },
            )
    } else {
        String::new()
    };
    // `rust_retype_at`: the same row from `retype_at`, the live memory one
    // range `live.0..live.1` (empty: none).
    let retype = if spec.retypes.iter().any(|r| r.at_offset) {
        let at = retype
            .replace(
                "/// The row `capc_<stem>_retype` fills",
                "/// The row `capc_<stem>_retype_at` fills (live memory: `live.0..live.1`)",
            )
            .replace("pub fn rust_retype(", "pub fn rust_retype_at(")
            .replace(
                "    request: [u64; 4],\n",
                "    request: [u64; 4],\n    at: u64,\n    live: (u64, u64),\n",
            )
            .replace(
                "match retype(source, has_children, &request, destination, empty) {",
                "let meets = |first: u64, bytes: u64| {\n        \
                 bytes != 0 && first < live.1 && (live.0 <= first || live.0 - first < bytes)\n    };\n    \
                 match retype_at(source, has_children, &request, at, destination, empty, meets) {",
            );
        format!("{retype}\n{at}")
    } else {
        retype
    };
    format!(
        "/// Every cap field: (tag, index among its cap type's fields, name).\n\
         pub const FIELDS: &[(u32, u32, &str)] = &[\n{fields}];\n\n\
         /// Words in a row of `rust_predicates`.\n\
         pub const PREDICATES_LEN: usize = 10 + target::CAP_WORDS;\n\
         /// Words in a row of `rust_retype`.\n\
         pub const RETYPE_LEN: usize = 13 + target::CAP_WORDS;\n\
         \n\
         /// The field through the Rust view.\n\
         pub fn rust_get(tag: u32, field: u32, cap: Cap) -> u64 {{\n    match (tag, field) {{\n{get}        \
         _ => unreachable!(\"no field {{field}} of tag {{tag}}\"),\n    }}\n}}\n\n\
         /// Sets the field through the Rust view; whether it was accepted.\n\
         pub fn rust_set(tag: u32, field: u32, cap: &mut Cap, value: u64) -> bool {{\n    match (tag, field) {{\n{set}        \
         _ => unreachable!(\"no field {{field}} of tag {{tag}}\"),\n    }}\n}}\n\n\
         /// The row `capc_<stem>_predicates` fills: region (found, base, size),\n\
         /// same_object, is_ancestor, is_copy, badge_of (found, badge), may_copy,\n\
         /// is_mapped of `a`, then the words of `derived(a)`.\n\
         pub fn rust_predicates(a: Cap, b: Cap) -> [u64; PREDICATES_LEN] {{\n    \
         let mut out = [0; PREDICATES_LEN];\n    \
         if let Some((base, size)) = region(a) {{\n        out[0] = 1;\n        out[1] = base;\n        out[2] = size;\n    }}\n    \
         out[3] = u64::from(same_object(a, b));\n    out[4] = u64::from(is_ancestor(a, b));\n    \
         out[5] = u64::from(is_copy(a, b));\n{badge}    out[8] = u64::from(may_copy(a));\n{mapped}    \
         out[10..].copy_from_slice(&derived(a).words());\n    out\n}}\n\n\
         /// The spec has badges (`badge_of`) and mappings (`is_mapped`).\n\
         pub const HAS_BADGES: bool = {badges};\n\
         pub const HAS_MAPPINGS: bool = {mapped_spec};\n\n\
         /// `cap` with badge `badge`, where its type has one (a spec without\n\
         /// badges has no `with_badge`).\n\
         pub fn rebadge(cap: Cap, badge: u64) -> Cap {{\n{rebadge}}}\n\n\
         /// `ObjectType::cap_for` by number.\n\
         pub fn rust_cap_for(object_type: u64, address: u64, size_arg: u64, device: bool) -> Option<Cap> {{\n    \
         ObjectType::from_word(object_type)?.cap_for(address, size_arg, device)\n}}\n\n{retype}"
    )
}
