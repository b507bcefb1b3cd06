//! `capc doc`: a Markdown reference of a checked spec.
//!
//! One page per spec, `DIR/<spec name>.md`, built from the checked model and
//! its doc comments: the target, constants and rights; object types with
//! their sizes, the slots they own (where, and what a cap put there must be)
//! and what removing their last cap undoes; every cap type with whose its
//! mapping is and a diagram of its two-word bit layout; retype rules;
//! derivation rules; error sets; kernel invocations; and RPC interfaces with what each method costs
//! its caller. Everything is in declaration order, so the
//! page is reproducible byte for byte.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use capc_dsl::ast::{ObjectKind, Scalar};
use capc_dsl::model::{
    CapType, CopyPolicy, DonationKind, FieldKind, Finaliser, Mapping, Method, MethodParam,
    MethodSet, Object, ObjectId, OwnedSlot, ParamKind, RightId, Role, Spec,
};
use capc_dsl::{FileId, SourceMap, Span};

use crate::graph::allocated;
use crate::present::{bytes_pow, count, exact_bytes};

pub const DOC_EXAMPLES: &str = "\
Examples:
  capc doc kernel-demo/spec/kernel.cap -o target/spec-doc      writes target/spec-doc/kernel.md
  capc doc kernel-demo/spec/decompress.cap > decompress.md     the page on standard output

The page lists the target, constants, rights, object types and sizes with the slots they own
and what removing their last cap undoes, each cap type's mapping rule and bit layout as a
diagram, retype and derivation rules, error sets, invocations, and interfaces with what each
method costs its caller, with the spec's doc comments.
Exit status: 0 written, 1 the spec has errors, 2 usage or I/O error.";

/// Arguments of `capc doc`.
#[derive(clap::Args)]
pub struct DocArgs {
    /// The spec to document (with the files it imports).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Directory to write `<FILE's name>.md` into (created if missing); without it, the page
    /// goes to standard output.
    #[arg(short, long, value_name = "DIR")]
    output: Option<PathBuf>,
    #[command(flatten)]
    diagnostics: crate::diagnostics::DiagnosticArgs,
}

/// Runs `capc doc`.
pub fn run(args: &DocArgs) -> ExitCode {
    let compilation = match crate::diagnostics::checked(&args.file, &args.diagnostics) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let spec = compilation.spec.as_ref().expect("checked");
    let name = crate::graph::display_name(&args.file);
    let page = render(spec, &name, &compilation.sources);
    let written = match &args.output {
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(page.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|e| format!("cannot write standard output: {e}"))
        }
        Some(dir) => {
            let path = dir.join(format!("{}.md", name.trim_end_matches(".cap")));
            std::fs::create_dir_all(dir)
                .and_then(|()| std::fs::write(&path, page))
                .map_err(|e| format!("cannot write `{}`: {e}", path.display()))
        }
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// Where each file of a compilation is, for the items it declares: `None`
/// for the root spec, and for an imported file its path from the root's
/// directory, as a `use` in the root would write it.
pub struct Origins(Vec<Option<String>>);

impl Origins {
    /// The files of `sources`, whose first is the root spec.
    pub fn new(sources: &SourceMap) -> Origins {
        let root = Path::new(sources.name(FileId(0)));
        let dir = root.parent().unwrap_or(Path::new(""));
        let files = (0..sources.len())
            .map(|i| (i > 0).then(|| relative(Path::new(sources.name(FileId(i as u32))), dir)))
            .collect();
        Origins(files)
    }

    /// The imported file an item declared at `span` comes from, if not the root.
    fn of(&self, span: Span) -> Option<&str> {
        self.0.get(span.file.0 as usize)?.as_deref()
    }

    /// `*Imported from `FILE`.*`, after the heading of an imported item.
    fn mark(&self, w: &mut String, span: Span) {
        if let Some(file) = self.of(span) {
            let _ = writeln!(w, "*Imported from `{file}`.*\n");
        }
    }

    /// The cell of an "imported from" column.
    fn cell(&self, span: Span) -> String {
        self.of(span).map_or(String::new(), |f| format!("`{f}`"))
    }
}

/// `path` from `dir` (both lexically normalised, as the loader names files):
/// `kernel.cap`, `lib/base.cap`, `../common/base.cap`; the path as it is when
/// `dir` climbs out of where the two part.
fn relative(path: &Path, dir: &Path) -> String {
    let to: Vec<Component> = path.components().collect();
    let from: Vec<Component> = dir.components().collect();
    let common = to.iter().zip(&from).take_while(|(a, b)| a == b).count();
    if from[common..]
        .iter()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return path.to_string_lossy().replace('\\', "/");
    }
    let mut parts = vec!["..".to_string(); from.len() - common];
    parts.extend(
        to[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

/// The Markdown page of `spec`; `name` is its file name, `sources` the files
/// it was read from (to mark what it imports).
pub fn render(spec: &Spec, name: &str, sources: &SourceMap) -> String {
    let origins = Origins::new(sources);
    let o = &origins;
    let mut out = String::new();
    let w = &mut out;
    // A name with a line break or `-->` must not end the comment.
    let header = capc::backend::comment_text(name).replace("--", "-\\-");
    let _ = writeln!(
        w,
        "<!-- @generated by capc doc from {header}, do not edit. -->\n"
    );
    let _ = writeln!(w, "# `{name}`\n");
    docs(w, &spec.docs);
    imports(w, o);
    target(w, spec, o);
    consts(w, spec, o);
    rights(w, spec, o);
    objects(w, spec, o);
    caps(w, spec, o);
    retypes(w, spec, o);
    derives(w, spec, o);
    errors(w, spec, o);
    enumerations(w, spec, o);
    bitfields(w, spec, o);
    data_types(w, spec, o);
    method_sets(w, spec, o, &spec.invocations, "Kernel invocations");
    syscalls(w, spec, o);
    method_sets(w, spec, o, &spec.interfaces, "Interfaces");
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

fn docs(w: &mut String, docs: &[String]) {
    if !docs.is_empty() {
        let _ = writeln!(w, "{}\n", docs.join("\n"));
    }
}

/// A Markdown table and the blank line after it. A column that only some
/// rows fill (where imported items come from, doc comments, payloads) is left
/// out when no row does.
pub(crate) fn table(w: &mut String, head: &[&str], rows: &[Vec<String>]) {
    const OPTIONAL: [&str; 3] = ["imported from", "description", "payload words"];
    let keep: Vec<usize> = (0..head.len())
        .filter(|&c| !OPTIONAL.contains(&head[c]) || rows.iter().any(|r| !r[c].is_empty()))
        .collect();
    let line = |cells: Vec<&str>| format!("| {} |", cells.join(" | "));
    let _ = writeln!(w, "{}", line(keep.iter().map(|&c| head[c]).collect()));
    let _ = writeln!(w, "|{}", "---|".repeat(keep.len()));
    for row in rows {
        let _ = writeln!(
            w,
            "{}",
            line(keep.iter().map(|&c| row[c].as_str()).collect())
        );
    }
    let _ = writeln!(w);
}

/// Doc comments joined into one table cell.
fn cell(docs: &[String]) -> String {
    docs.join(" ").replace('|', "\\|")
}

/// Which files the spec imports, and how their items are marked.
fn imports(w: &mut String, o: &Origins) {
    let files: Vec<String> = o.0.iter().flatten().map(|f| format!("`{f}`")).collect();
    match files.as_slice() {
        [] => {}
        [file] => {
            let _ = writeln!(
                w,
                "Imports {file}: what it declares is marked *imported from {file}*.\n"
            );
        }
        [init @ .., last] => {
            let _ = writeln!(
                w,
                "Imports {} and {last}: what each declares is marked *imported from* its \
                 file.\n",
                init.join(", ")
            );
        }
    }
}

fn target(w: &mut String, spec: &Spec, o: &Origins) {
    let t = &spec.target;
    let _ = writeln!(w, "## Target `{}`\n", t.name);
    o.mark(w, t.span);
    let _ = writeln!(w, "| setting | value |\n|---|---|");
    let _ = writeln!(w, "| address bits | {} |", t.address_bits);
    let _ = writeln!(
        w,
        "| cap tag bits | {} (up to {}) |",
        t.tag_bits,
        count((1u64 << t.tag_bits) - 1, "cap type", "cap types")
    );
    let _ = writeln!(w, "| message registers | {} |", t.message_registers);
    let _ = writeln!(w, "| message words | {} |", t.message_words);
    if t.fragments > 1 {
        let _ = writeln!(
            w,
            "| RPC message | up to {} channel messages ({} words) |",
            t.fragments,
            t.rpc_words()
        );
    }
    if t.label_bits < 64 {
        let _ = writeln!(
            w,
            "| label bits | {} (methods and errors numbered up to {}) |",
            t.label_bits,
            t.last_method_label()
        );
    }
    let _ = writeln!(w, "| caps per message | {} |", t.caps_per_message);
    if let Some(slot_bits) = t.slot_bits {
        let _ = writeln!(
            w,
            "| capability slot bits | {slot_bits} ({} per slot) |",
            bytes_pow(slot_bits)
        );
    }
    let _ = writeln!(w);
}

fn consts(w: &mut String, spec: &Spec, o: &Origins) {
    if spec.consts.is_empty() {
        return;
    }
    let _ = writeln!(w, "## Constants\n");
    let rows: Vec<Vec<String>> = spec
        .consts
        .iter()
        .map(|c| {
            vec![
                format!("`{}`", c.name),
                c.value.to_string(),
                o.cell(c.span),
                cell(&c.docs),
            ]
        })
        .collect();
    table(w, &["name", "value", "imported from", "description"], &rows);
}

fn rights(w: &mut String, spec: &Spec, o: &Origins) {
    if spec.rights.is_empty() {
        return;
    }
    let _ = writeln!(w, "## Rights\n");
    let rows: Vec<Vec<String>> = spec
        .rights
        .iter()
        .enumerate()
        .map(|(bit, r)| {
            vec![
                bit.to_string(),
                format!("`{}`", r.name),
                o.cell(r.span),
                cell(&r.docs),
            ]
        })
        .collect();
    table(w, &["bit", "right", "imported from", "description"], &rows);
}

fn objects(w: &mut String, spec: &Spec, o: &Origins) {
    let _ = writeln!(w, "## Object types\n");
    for (index, object) in spec.objects.iter().enumerate() {
        let kind = match object.kind {
            ObjectKind::Untyped => "untyped memory",
            ObjectKind::Frame => "frame",
            ObjectKind::Kernel => "kernel object",
        };
        let _ = writeln!(w, "### `{}`\n", object.name);
        o.mark(w, object.span);
        docs(w, &object.docs);
        let memory = match (object.ram, object.device) {
            (true, true) => "RAM or device memory",
            (false, true) => "device memory only",
            _ => "RAM",
        };
        let _ = writeln!(w, "- kind: {kind}, in {memory}");
        match &object.size.param {
            None => {
                let _ = writeln!(w, "- size: {}", bytes_pow(object.size.min_bits()));
            }
            Some(param) if object.size.is_bytes() => {
                let b = object.size.bytes.expect("byte-sized");
                let _ = writeln!(
                    w,
                    "- size: `{param}` bytes, any multiple of {} from {} to {} (`#[bytes]`)",
                    bytes_pow(b.granule_bits),
                    b.min,
                    b.max,
                );
            }
            Some(param) => {
                let _ = writeln!(
                    w,
                    "- size: by `{param}`, {} from {} ({}) to {} ({})",
                    count(object.size.table.len() as u64, "value", "values"),
                    object.size.min_arg(),
                    bytes_pow(object.size.min_bits()),
                    object.size.max_arg(),
                    bytes_pow(object.size.max_bits()),
                );
            }
        }
        if let Some(align) = object.align_bits {
            let _ = writeln!(w, "- alignment: {}", bytes_pow(align));
        } else {
            let _ = writeln!(w, "- alignment: its size");
        }
        let caps: Vec<String> = spec
            .caps
            .iter()
            .filter(|c| {
                c.object
                    .is_some_and(|o| spec.objects[o.index()].name == object.name)
            })
            .map(|c| format!("`{}`", c.name))
            .collect();
        if !caps.is_empty() {
            let _ = writeln!(w, "- named by: {}", caps.join(", "));
        }
        let from: Vec<String> = spec
            .retypes
            .iter()
            .filter(|r| {
                r.targets
                    .iter()
                    .any(|t| spec.objects[t.index()].name == object.name)
            })
            .map(|r| format!("`{}`", spec.caps[r.source.index()].name))
            .collect();
        if !from.is_empty() {
            let _ = writeln!(w, "- made by retyping: {}", from.join(", "));
        }
        if let Some(t) = &object.table {
            let _ = writeln!(w, "- translation table: {}", table_text(spec, t));
        }
        let undone = finalisation(spec, ObjectId(index as u32));
        if !undone.is_empty() {
            let order = if undone.len() > 1 { ", in order" } else { "" };
            let _ = writeln!(w, "- when its last cap goes, the kernel{order}:");
            for (i, step) in undone.iter().enumerate() {
                let _ = writeln!(w, "  {}. {step}", i + 1);
            }
        }
        let _ = writeln!(w);
        owned_slots(w, spec, object);
    }
}

/// A table's shape in words: "512 entries of 2 MiB, each empty or holding
/// `PageTable` or `Frame`".
pub(crate) fn table_text(spec: &Spec, t: &capc_dsl::model::Table) -> String {
    let holds: Vec<String> = t
        .holds
        .iter()
        .map(|h| format!("`{}`", spec.objects[h.index()].name))
        .collect();
    format!(
        "{} of {}, each empty or holding {}",
        count(t.entries, "entry", "entries"),
        bytes_pow(t.entry_bits),
        holds.join(" or ")
    )
}

/// What removing the last cap to `object` undoes, one sentence per step in
/// the kernel's order: the caps in the owned slots go first (the
/// derivation tree empties them before the object's own cap is finalised),
/// then the declared finalisers.
pub(crate) fn finalisation(spec: &Spec, object: ObjectId) -> Vec<String> {
    let o = &spec.objects[object.index()];
    let mut steps = Vec::new();
    if !o.slots.is_empty() {
        let names: Vec<String> = o.slots.iter().map(|s| format!("`{}`", s.name)).collect();
        steps.push(format!(
            "deletes the caps in its owned slots ({})",
            names.join(", ")
        ));
    }
    steps.extend(
        o.finalisers
            .iter()
            .map(|f| format!("`{}`: {}", f.name(), finaliser_text(spec, object, *f))),
    );
    steps
}

/// What one finalisation action does to an object of type `object`, as a
/// clause whose subject is the kernel. `unmap` depends on whose the mapping
/// of the object's caps is.
pub(crate) fn finaliser_text(spec: &Spec, object: ObjectId, f: Finaliser) -> &'static str {
    match f {
        Finaliser::StopThread => {
            "stops the thread and takes it off any queue; the reply cap naming it, and any \
             it holds, is deleted"
        }
        Finaliser::CancelWaiters => "restarts the threads queued on it with an error",
        Finaliser::Unmap => {
            let each_cap = spec
                .caps
                .iter()
                .filter(|c| c.object == Some(object))
                .all(|c| c.mapping != Some(Mapping::Shared));
            if each_cap {
                "unmaps the page its last cap is mapped at, if any (every other mapped cap \
                 unmapped its own as it went: the mapping is each cap's own)"
            } else {
                "unlinks it from the table its caps record it is mapped in"
            }
        }
        Finaliser::ReleaseAsid => {
            "releases its address-space number, so every mapping recorded under it is dead"
        }
    }
}

/// The byte offset of an owned slot in its object, in decimal and hex.
pub(crate) fn slot_offset(slot: &OwnedSlot) -> String {
    format!("{} (0x{:x})", slot.offset, slot.offset)
}

/// The rights a cap must carry to be put in a slot, or that it needs none.
pub(crate) fn required_rights(spec: &Spec, rights: &[RightId]) -> String {
    if rights.is_empty() {
        return "no rights".to_string();
    }
    let names: Vec<String> = rights
        .iter()
        .map(|r| format!("`{}`", spec.rights[r.index()].name))
        .collect();
    names.join(", ")
}

/// The table of the slots `object` owns, if any.
fn owned_slots(w: &mut String, spec: &Spec, object: &Object) {
    if object.slots.is_empty() {
        return;
    }
    let slot_bits = spec.target.slot_bits.unwrap_or_default();
    let _ = writeln!(
        w,
        "Owned slots: {} at the end of the object, {} each, in the derivation tree like a \
         CNode's.\n",
        object.slots.len(),
        bytes_pow(slot_bits)
    );
    let rows: Vec<Vec<String>> = object
        .slots
        .iter()
        .map(|slot| {
            let description = match (slot.required, cell(&slot.docs)) {
                (false, docs) => docs,
                (true, docs) if docs.is_empty() => "required to run".to_string(),
                (true, docs) => format!("required to run: {docs}"),
            };
            vec![
                format!("`{}`", slot.name),
                format!("`{}`", spec.caps[slot.cap.index()].name),
                required_rights(spec, &slot.rights),
                slot_offset(slot),
                description,
            ]
        })
        .collect();
    table(
        w,
        &[
            "slot",
            "holds",
            "a cap put there must carry",
            "byte offset",
            "description",
        ],
        &rows,
    );
}

/// Whose the mapping a cap records is, and the copy rule that follows.
pub(crate) fn mapping_text(mapping: Mapping) -> &'static str {
    match mapping {
        Mapping::EachCap => {
            "each cap's own: a copy or mint starts unmapped, and removing a mapped cap unmaps \
             its page"
        }
        Mapping::Shared => {
            "the object's, shared by its caps: an unmapped cap cannot be copied or minted, a \
             copy of a mapped cap keeps the mapping, and removing the last cap unlinks the object"
        }
    }
}

fn caps(w: &mut String, spec: &Spec, o: &Origins) {
    let _ = writeln!(w, "## Cap types\n");
    let _ = writeln!(
        w,
        "A cap is two 64-bit words. Bits `{}..{}` of word 0 hold its tag (0 is the null cap). \
         Bit ranges are half-open, low to high, as in docs/language.md: `0..5` is bits 0 to 4. \
         The diagrams number the highest and the lowest bit of each box.\n",
        spec.target.tag_shift,
        spec.target.tag_shift + spec.target.tag_bits
    );
    for cap in &spec.caps {
        let _ = writeln!(w, "### `{}` (tag {})\n", cap.name, cap.tag);
        o.mark(w, cap.span);
        docs(w, &cap.docs);
        if let Some(object) = cap.object {
            let _ = writeln!(w, "- names: `{}`", spec.objects[object.index()].name);
        } else {
            let _ = writeln!(w, "- names no object");
        }
        if !cap.rights.is_empty() {
            let rights: Vec<String> = cap
                .rights
                .iter()
                .map(|r| format!("`{}`", spec.rights[r.index()].name))
                .collect();
            let _ = writeln!(w, "- rights it may carry: {}", rights.join(", "));
        }
        match cap.copy {
            CopyPolicy::Normal => {}
            CopyPolicy::Always => {
                let _ = writeln!(w, "- every derivation is a copy (`#[always_copy]`)");
            }
            CopyPolicy::Never => {
                let _ = writeln!(w, "- cannot be copied (`#[never_copy]`)");
            }
        }
        let conditions = &cap.copy_conditions;
        let quoted = |list: &[usize]| -> String {
            list.iter()
                .map(|&i| format!("`{}`", cap.fields[i].name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !conditions.requires.is_empty() {
            let _ = writeln!(
                w,
                "- copied or minted only while {} {} not 0 (`#[copy(requires(...))]`)",
                quoted(&conditions.requires),
                if conditions.requires.len() == 1 {
                    "is"
                } else {
                    "are"
                }
            );
        }
        if !conditions.clears.is_empty() {
            let _ = writeln!(
                w,
                "- a copy has {} cleared (`#[copy(clears(...))]`)",
                quoted(&conditions.clears)
            );
        }
        if conditions.no_children {
            let _ = writeln!(
                w,
                "- copied or minted only while it has no children (`#[copy(no_children)]`: `RevokeFirst` otherwise)"
            );
        }
        if let Some(mapping) = cap.mapping {
            let fields: Vec<String> = [Role::MappedAt, Role::MappedIn]
                .into_iter()
                .filter_map(|role| cap.field_with(role))
                .map(|f| format!("`{}`", f.name))
                .collect();
            let _ = writeln!(
                w,
                "- mapping ({}) is {}",
                fields.join(", "),
                mapping_text(mapping)
            );
        }
        let held: Vec<String> = spec
            .objects
            .iter()
            .flat_map(|o| o.slots.iter().map(move |s| (o, s)))
            .filter(|(_, s)| spec.caps[s.cap.index()].name == cap.name)
            .map(|(o, s)| format!("`{}.{}`", o.name, s.name))
            .collect();
        if !held.is_empty() {
            let _ = writeln!(w, "- held in owned slots: {}", held.join(", "));
        }
        let _ = writeln!(w);
        layout(w, spec, cap);
    }
}

/// Each word as a row of boxes, high bits left, with the bit numbers above.
pub(crate) fn layout(w: &mut String, spec: &Spec, cap: &CapType) {
    let _ = writeln!(w, "```text");
    for word in 0..2u8 {
        let mut cells: Vec<(u32, u32, String)> = cap
            .fields
            .iter()
            .filter(|f| f.word == word)
            .map(|f| {
                let lo = u32::from(f.shift);
                (lo + u32::from(f.width) - 1, lo, f.name.clone())
            })
            .collect();
        if word == 0 {
            let shift = spec.target.tag_shift;
            cells.push((shift + spec.target.tag_bits - 1, shift, "tag".to_string()));
        }
        cells.sort_by_key(|c| std::cmp::Reverse(c.0));
        // Unused bits between fields.
        let mut with_gaps = Vec::new();
        let mut next_hi: i64 = 63;
        for (hi, lo, name) in cells {
            if i64::from(hi) < next_hi {
                with_gaps.push((next_hi as u32, hi + 1, "-".to_string()));
            }
            next_hi = i64::from(lo) - 1;
            with_gaps.push((hi, lo, name));
        }
        if next_hi >= 0 {
            with_gaps.push((next_hi as u32, 0, "-".to_string()));
        }
        let (mut numbers, mut border, mut names) = (String::new(), String::new(), String::new());
        for (hi, lo, name) in &with_gaps {
            let label = if hi == lo {
                name.clone()
            } else {
                format!("{name} ({})", hi - lo + 1)
            };
            let (hi_text, lo_text) = (hi.to_string(), lo.to_string());
            let numbers_width = if hi == lo {
                hi_text.len()
            } else {
                hi_text.len() + 1 + lo_text.len()
            };
            let width = (label.len() + 2).max(numbers_width);
            let numbers_cell = if hi == lo {
                format!("{hi_text:<width$}")
            } else {
                format!("{hi_text}{lo_text:>0$}", width - hi_text.len())
            };
            numbers.push(' ');
            numbers.push_str(&numbers_cell);
            border.push('+');
            border.push_str(&"-".repeat(width));
            names.push('|');
            names.push_str(&format!("{label:^width$}"));
        }
        border.push('+');
        names.push('|');
        let _ = writeln!(
            w,
            "word {word}\n{}\n{border}\n{names}\n{border}",
            numbers.trim_end()
        );
    }
    let _ = writeln!(w, "```\n");
    if cap.fields.is_empty() {
        return;
    }
    let mut rows = Vec::new();
    for f in &cap.fields {
        let lo = u32::from(f.shift);
        let hi = lo + u32::from(f.width) - 1;
        let ty = match &f.kind {
            FieldKind::Ptr { align_bits } if f.whole_word => {
                format!(
                    "address aligned to {}, stored whole",
                    bytes_pow(*align_bits)
                )
            }
            FieldKind::Ptr { align_bits } => {
                format!(
                    "address aligned to {}, stored >> {align_bits}{}",
                    bytes_pow(*align_bits),
                    if f.sign_extend { ", sign-extended" } else { "" }
                )
            }
            FieldKind::Uint => match f.values {
                Some(e) => format!("`{}` (u{})", spec.enumerations[e.index()].name, f.width),
                None => format!("u{}", f.width),
            },
            FieldKind::Bool => "bool".to_string(),
            FieldKind::Rights { allowed } => {
                let names: Vec<&str> = allowed
                    .iter()
                    .map(|r| spec.rights[r.index()].name.as_str())
                    .collect();
                format!("rights mask ({})", names.join(", "))
            }
        };
        let mut role = match f.role {
            Role::Plain => String::new(),
            Role::Object if f.virtual_offset != 0 => format!(
                "the object's kernel-virtual address: its address plus {:#x}",
                f.virtual_offset
            ),
            Role::Object => "the object's address".to_string(),
            Role::SizeArg if f.size_bytes => {
                "the object's size in bytes (2^size argument)".to_string()
            }
            Role::SizeArg
                if cap
                    .object
                    .is_some_and(|o| spec.objects[o.index()].size.is_bytes()) =>
            {
                "the object's size in bytes (its size argument)".to_string()
            }
            Role::SizeArg => "the object's size argument".to_string(),
            Role::Watermark => format!("bytes retyped, in units of {}", bytes_pow(f.unit_bits)),
            Role::Badge => "badge, set once by mint".to_string(),
            Role::Device => "device memory".to_string(),
            Role::Guard => "CNode guard".to_string(),
            Role::GuardBits => "guard width".to_string(),
            Role::MappedAt => "virtual page mapped at (0: unmapped)".to_string(),
            Role::MappedIn => "address space mapped in (0: none)".to_string(),
            Role::Asid => "the address space's number, from a pool (0: none yet)".to_string(),
            Role::Caller => {
                "the thread waiting for the reply (not kept alive by this cap)".to_string()
            }
        };
        if f.identity {
            if !role.is_empty() {
                role.push_str("; ");
            }
            role.push_str("identity");
        }
        rows.push(vec![
            format!("`{}`", f.name),
            f.word.to_string(),
            // Half-open, low to high, as docs/language.md writes them.
            format!("{lo}..{}", hi + 1),
            ty,
            role,
            cell(&f.docs),
        ]);
    }
    table(
        w,
        &["field", "word", "bits", "type", "role", "description"],
        &rows,
    );
}

fn retypes(w: &mut String, spec: &Spec, o: &Origins) {
    if spec.retypes.is_empty() {
        return;
    }
    let _ = writeln!(w, "## Retype rules\n");
    let rows: Vec<Vec<String>> = spec
        .retypes
        .iter()
        .map(|r| {
            let targets: Vec<String> = r
                .targets
                .iter()
                .map(|t| format!("`{}`", spec.objects[t.index()].name))
                .collect();
            vec![
                format!("`{}`", spec.caps[r.source.index()].name),
                targets.join(", "),
                r.fan_out.to_string(),
                o.cell(r.span),
                cell(&r.docs),
            ]
        })
        .collect();
    table(
        w,
        &[
            "cap",
            "may become",
            "objects per call",
            "imported from",
            "description",
        ],
        &rows,
    );
}

fn derives(w: &mut String, spec: &Spec, o: &Origins) {
    if spec.derives.is_empty() {
        return;
    }
    let _ = writeln!(w, "## Derivation rules\n");
    let rows: Vec<Vec<String>> = spec
        .derives
        .iter()
        .map(|d| {
            vec![
                format!("`{}`", spec.caps[d.target.index()].name),
                format!("`{}`", spec.caps[d.source.index()].name),
                match (d.multiple, d.at_offset, d.range) {
                    (true, _, _) => "any number".to_string(),
                    (_, true, _) => {
                        "one split from the start, or any at offsets that do not meet".to_string()
                    }
                    (_, _, Some((a, b))) => {
                        let fields = &spec.caps[d.target.index()].fields;
                        format!(
                            "any sub-ranges of `{}..={}` that do not meet",
                            fields[a].name, fields[b].name
                        )
                    }
                    _ => "one at a time".to_string(),
                },
                o.cell(d.span),
                cell(&d.docs),
            ]
        })
        .collect();
    table(
        w,
        &[
            "cap",
            "derived from",
            "per source cap",
            "imported from",
            "description",
        ],
        &rows,
    );
}

/// `syscalls` blocks: one table each, a row per system call.
fn syscalls(w: &mut String, spec: &Spec, o: &Origins) {
    if spec.syscalls.is_empty() {
        return;
    }
    let _ = writeln!(w, "## System calls\n");
    let targets = |t: &Option<capc_dsl::model::SyscallTargets>, none: &str| match t {
        None => "—".to_string(),
        Some(t) if t.caps.is_empty() => none.to_string(),
        Some(t) => t
            .caps
            .iter()
            .map(|c| {
                let cap = &spec.caps[c.cap.index()];
                let needs: Vec<&str> = c
                    .rights
                    .iter()
                    .map(|r| spec.rights[r.index()].name.as_str())
                    .chain(c.flags.iter().map(|f| cap.fields[*f].name.as_str()))
                    .collect();
                if needs.is_empty() {
                    format!("`{}`", cap.name)
                } else {
                    format!("`{}({})`", cap.name, needs.join(", "))
                }
            })
            .collect::<Vec<_>>()
            .join(" or "),
    };
    for set in &spec.syscalls {
        let _ = writeln!(w, "### `{}`\n", set.name);
        docs(w, &set.docs);
        let rows: Vec<Vec<String>> = set
            .syscalls
            .iter()
            .map(|c| {
                vec![
                    format!("`{}`", c.name),
                    c.number.to_string(),
                    format!("`{:#x}`", c.number as u64),
                    targets(&c.sends, "the caller's reply"),
                    targets(&c.receives, "the reply"),
                    o.cell(c.span),
                    cell(&c.docs),
                ]
            })
            .collect();
        table(
            w,
            &[
                "system call",
                "number",
                "word",
                "sends on",
                "receives on",
                "imported from",
                "description",
            ],
            &rows,
        );
    }
}

fn errors(w: &mut String, spec: &Spec, o: &Origins) {
    if spec.error_sets.is_empty() {
        return;
    }
    let _ = writeln!(w, "## Error sets\n");
    for set in &spec.error_sets {
        let _ = writeln!(w, "### `{}`\n", set.name);
        o.mark(w, set.span);
        docs(w, &set.docs);
        let rows: Vec<Vec<String>> = set
            .variants
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let payload: Vec<String> =
                    v.payload
                        .iter()
                        .zip(&v.payload_types)
                        .map(|(p, (t, _))| match t {
                            capc_dsl::model::PayloadTy::Word => format!("`{p}`"),
                            t => format!("`{p}: {}`", t.spelling(spec)),
                        })
                        .chain(v.rest.iter().map(|(p, id)| {
                            format!("`{p}: ..{}`", spec.error_sets[id.index()].name)
                        }))
                        .collect();
                vec![
                    (i + 1).to_string(),
                    format!("`{}`", v.name),
                    payload.join(", "),
                    cell(&v.docs),
                ]
            })
            .collect();
        table(
            w,
            &["number", "variant", "payload words", "description"],
            &rows,
        );
    }
}

/// Each enumeration with its named values.
fn enumerations(w: &mut String, spec: &Spec, o: &Origins) {
    if spec.enumerations.is_empty() {
        return;
    }
    let _ = writeln!(w, "## Enumerations\n");
    for e in &spec.enumerations {
        let _ = writeln!(w, "### `{}` (u{})\n", e.name, e.bits);
        o.mark(w, e.span);
        docs(w, &e.docs);
        let rows: Vec<Vec<String>> = e
            .values
            .iter()
            .map(|v| vec![v.value.to_string(), format!("`{}`", v.name), cell(&v.docs)])
            .collect();
        table(w, &["value", "variant", "description"], &rows);
    }
}

/// Each bitfield with its fields' words and bits.
fn bitfields(w: &mut String, spec: &Spec, o: &Origins) {
    if spec.bitfields.is_empty() {
        return;
    }
    let _ = writeln!(w, "## Bitfields\n");
    for b in &spec.bitfields {
        let words = if b.words == 1 { "word" } else { "words" };
        let strict = if b.strict { ", `#[strict]`" } else { "" };
        let _ = writeln!(w, "### `{}` ({} {words}{strict})\n", b.name, b.words);
        o.mark(w, b.span);
        docs(w, &b.docs);
        let rows: Vec<Vec<String>> = b
            .fields
            .iter()
            .map(|f| {
                let ty = match f.values {
                    Some(e) => format!("`{}`", spec.enumerations[e.index()].name),
                    None if f.boolean => "`bool`".to_string(),
                    None => format!("`u{}`", f.width),
                };
                vec![
                    f.word.to_string(),
                    format!("{}..{}", f.bit, f.bit + f.width),
                    format!("`{}`", f.name),
                    ty,
                    cell(&f.docs),
                ]
            })
            .collect();
        table(w, &["word", "bits", "field", "type", "description"], &rows);
    }
}

/// Each `struct`, `enum` and `type` with its wire layout: the byte each
/// field or value starts at, as the generated `Wire` code writes it.
fn data_types(w: &mut String, spec: &Spec, o: &Origins) {
    use capc_dsl::model::DataDef;
    if spec.data_types.is_empty() {
        return;
    }
    let types = &spec.data_types;
    let _ = writeln!(
        w,
        "## Message types
"
    );
    for t in types {
        let (what, layout) = match &t.def {
            DataDef::Record(_) => ("struct", String::new()),
            DataDef::Enum {
                discriminant_bytes, ..
            } => (
                "enum",
                format!(
                    ": a {discriminant_bytes}-byte discriminant at byte 0, then the variant's values"
                ),
            ),
            DataDef::Alias(ty) => ("type", format!(": `{}`", ty.spelling(types))),
            DataDef::Range { ty, min, max } => (
                "type",
                format!(
                    ": a `{}` from {min} to {max}; decoding refuses other values",
                    ty.spelling(types)
                ),
            ),
        };
        let _ = writeln!(
            w,
            "### {what} `{}`
",
            t.name
        );
        o.mark(w, t.span);
        docs(w, &t.docs);
        let _ = writeln!(
            w,
            "{}{layout}.
",
            count(t.bytes, "byte", "bytes")
        );
        let rows: Vec<Vec<String>> = match &t.def {
            DataDef::Record(fields) => fields
                .iter()
                .map(|f| {
                    vec![
                        f.offset.to_string(),
                        format!("`{}`", f.name),
                        format!("`{}`", f.ty.spelling(types)),
                        cell(&f.docs),
                    ]
                })
                .collect(),
            DataDef::Enum { variants, .. } => variants
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let values: Vec<String> = v
                        .fields
                        .iter()
                        .map(|(ty, at)| format!("`{}` at byte {at}", ty.spelling(types)))
                        .collect();
                    vec![
                        i.to_string(),
                        format!("`{}`", v.name),
                        values.join(", "),
                        cell(&v.docs),
                    ]
                })
                .collect(),
            DataDef::Alias(_) | DataDef::Range { .. } => continue,
        };
        let head: &[&str] = match &t.def {
            DataDef::Record(_) => &["byte", "field", "type", "description"],
            _ => &["number", "variant", "values", "description"],
        };
        table(w, head, &rows);
    }
}

fn method_sets(w: &mut String, spec: &Spec, o: &Origins, sets: &[MethodSet], title: &str) {
    if sets.is_empty() {
        return;
    }
    let _ = writeln!(w, "## {title}\n");
    for set in sets {
        let errors = &spec.error_sets[set.errors.index()];
        match set.cap {
            Some(_) => {
                let _ = writeln!(w, "### Invocations on `{}`\n", set.name);
            }
            None => {
                let _ = writeln!(w, "### Interface `{}`\n", set.name);
            }
        }
        o.mark(w, set.span);
        docs(w, &set.docs);
        let _ = writeln!(w, "Errors: `{}`.\n", errors.name);
        if let Some(s) = &set.session {
            let what = match s.kind {
                DonationKind::Quota => "a byte quota".to_string(),
                DonationKind::Untyped(cap) => {
                    format!("an untyped cap `{}`", spec.caps[cap.index()].name)
                }
            };
            let _ = writeln!(
                w,
                "Used through sessions: a client opens one with {what} of at least {}, which pays for everything the server keeps for it; the server keeps {} per session; a charge that does not fit the quota fails with `{}`.\n",
                exact_bytes(s.min_bytes),
                exact_bytes(s.keeps),
                errors.variants[s.out_of_budget].name
            );
            if let Some(b) = s.binds {
                let _ = writeln!(
                    w,
                    "A session may be opened bound to the callback interface `{}` with the cap the client receives its messages on: the server sends them to the session's client through it, and keeps it until the session closes, paid by what the session keeps.\n",
                    spec.interfaces[b].name
                );
            }
        }
        for method in &set.methods {
            self::method(w, spec, set, method);
        }
    }
}

pub(crate) fn method(w: &mut String, spec: &Spec, set: &MethodSet, method: &Method) {
    let errors = &spec.error_sets[method.error_set.index()];
    let _ = writeln!(w, "#### `{}` (label {})\n", method.name, method.label);
    let params: Vec<String> = method.params.iter().map(|p| param(spec, p)).collect();
    let mut signature = format!("fn {}({})", method.name, params.join(", "));
    if !method.results.is_empty() {
        let results: Vec<String> = method.results.iter().map(|p| param(spec, p)).collect();
        let _ = write!(signature, " -> ({})", results.join(", "));
    }
    let _ = writeln!(w, "```cap\n{signature}\n```\n");
    docs(w, &method.docs);
    if method.oneway {
        let _ = writeln!(
            w,
            "- one-way (`#[oneway]`): sent without waiting, never answered"
        );
    }
    if method.idempotent {
        let _ = writeln!(
            w,
            "- idempotent (`#[idempotent]`): called again when its server died"
        );
    }
    let _ = writeln!(
        w,
        "- message: {}, {}",
        count(method.request_words, "request word", "request words"),
        count(method.reply_words, "reply word", "reply words")
    );
    if !method.requires.is_empty() {
        let rights: Vec<String> = method
            .requires
            .iter()
            .map(|r| format!("`{}`", spec.rights[r.index()].name))
            .collect();
        let _ = writeln!(w, "- the invoked cap must carry: {}", rights.join(", "));
    }
    if !method.errors.is_empty() {
        let names: Vec<String> = method
            .errors
            .iter()
            .map(|e| format!("`{}`", errors.variants[*e].name))
            .collect();
        let of = if method.error_set == set.errors {
            String::new()
        } else {
            format!(" (of `{}`)", errors.name)
        };
        let _ = writeln!(w, "- may fail with{of}: {}", names.join(", "));
    }
    if let Some(bound) = method.server_pays {
        let _ = writeln!(
            w,
            "- **paid by the server** (`server_pays`): up to {} of the server's own memory per call",
            exact_bytes(bound)
        );
    }
    if let Some(charges) = &method.charges {
        session_charges(w, spec, set, method, charges);
    }
    if set.cap.is_none() && method.server_pays.is_none() {
        match &method.donation {
            None if method.charges.is_some() => {}
            None => {
                let _ = writeln!(w, "- costs the caller: nothing (no donation)");
            }
            Some(d) => {
                let what = match d.kind {
                    DonationKind::Quota => "a byte quota".to_string(),
                    DonationKind::Untyped(cap) => {
                        format!("an untyped cap `{}`", spec.caps[cap.index()].name)
                    }
                };
                let _ = writeln!(
                    w,
                    "- costs the caller: {what} of at least {}; the server's allocations need \
                     at most {}, placed largest alignment first",
                    exact_bytes(d.min_bytes),
                    exact_bytes(d.worst_case_bytes),
                );
                for a in &d.allocations {
                    let _ = writeln!(
                        w,
                        "  - up to {} × `{}`, {} each",
                        a.count,
                        allocated(spec, a),
                        bytes_pow(a.size_bits)
                    );
                }
                let _ = writeln!(
                    w,
                    "- when the donation runs out: `{}`",
                    errors.variants[d.out_of_budget].name
                );
            }
        }
    }
    let _ = writeln!(w);
}

/// What a method charges its caller's session, one line each.
fn session_charges(
    w: &mut String,
    spec: &Spec,
    set: &MethodSet,
    method: &Method,
    charges: &capc_dsl::model::Charges,
) {
    use capc_dsl::model::{Amount, Charged};
    let show = |a: Amount| match a {
        Amount::Const(v) => v.to_string(),
        Amount::Param(i) => format!("`{}`", method.params[i].name),
        Amount::Pow2(i) => format!("`1 << {}`", method.params[i].name),
    };
    // Inside a code span: the parameter's name without backticks.
    let bare = |a: Amount| match a {
        Amount::Const(v) => v.to_string(),
        Amount::Param(i) => method.params[i].name.clone(),
        Amount::Pow2(i) => format!("1 << {}", method.params[i].name),
    };
    for c in &charges.charges {
        let what = match &c.what {
            Charged::Bytes(b) => format!("{} of server state", exact_bytes(*b)),
            Charged::Objects { object, count, arg } => {
                let o = &spec.objects[object.index()];
                match o.size.param {
                    Some(_) => format!("{} × `{}({})`", show(*count), o.name, bare(*arg)),
                    None => format!("{} × `{}`", show(*count), o.name),
                }
            }
        };
        let how = match c.handed_to {
            Some(r) => format!(
                "handed out with `{}`, until it is refunded",
                method.results[r].name
            ),
            None if c.for_the_call() => "for the call only".to_string(),
            None => "until the session closes".to_string(),
        };
        let _ = writeln!(w, "- charges the caller's session: {what}, {how}");
    }
    for r in &charges.refunds {
        let from: Vec<String> = r
            .from
            .iter()
            .map(|(m, _)| format!("`{}`", set.methods[*m].name))
            .collect();
        let _ = writeln!(
            w,
            "- refunds the caller's session: what `{}` is, as {} handed it out",
            method.params[r.param].name,
            from.join(" or ")
        );
    }
}

fn param(spec: &Spec, p: &MethodParam) -> String {
    let bitfield = p.bitfield.map(|b| &spec.bitfields[b.index()]);
    let ty = match (&p.kind, bitfield) {
        (_, Some(b)) => {
            format!(
                "{} ({} word{})",
                b.name,
                b.words,
                if b.words == 1 { "" } else { "s" }
            )
        }
        (ParamKind::Scalar(_), None) if p.values.is_some() => {
            let e = p.values.expect("enumerated");
            spec.enumerations[e.index()].name.clone()
        }
        (ParamKind::Scalar(s), None) => scalar(*s),
        (ParamKind::Array { element, len, .. }, None) => {
            format!("[{}; {len}]", scalar(*element))
        }
        (ParamKind::Data { ty, .. }, None) => ty.spelling(&spec.data_types),
        (
            ParamKind::Cap {
                transfer,
                cap,
                rights,
                alternatives,
                nullable,
                ..
            },
            None,
        ) => {
            let transfer = transfer.prefix();
            let rights = crate::graph::rights_list(spec, rights);
            let mut text = format!("{transfer}cap {}{rights}", spec.caps[cap.index()].name);
            for a in alternatives {
                text.push_str(&format!(" | {}", spec.caps[a.index()].name));
            }
            if *nullable {
                text.push_str(" | null");
            }
            text
        }
        (ParamKind::AnyCap { transfer }, None) => format!("{}cap any", transfer.prefix()),
        (ParamKind::Lease(l), None) => crate::breaking::lease_text(spec, l),
    };
    let attribute = match p.kind {
        ParamKind::Cap {
            unchecked: true, ..
        } => "#[unchecked] ",
        _ => "",
    };
    let range = match p.range {
        Some((lo, hi)) => format!(" in {lo}..={hi}"),
        None => String::new(),
    };
    format!("{attribute}{}: {ty}{range}", p.name)
}

fn scalar(s: Scalar) -> String {
    match s {
        Scalar::Word => "word".to_string(),
        Scalar::Bool => "bool".to_string(),
        Scalar::Uint(n) => format!("u{n}"),
    }
}
