//! `capc breaking OLD NEW`: every change from one spec's checked model to
//! another's that breaks code compiled against the old one (tags, layouts,
//! rights bits, object numbers and sizes, labels, message layouts, error
//! numbers, narrowed rules), each with a stable code (`B0001` ...), spans in
//! both files and the diagnostics' human and JSON formats.
//!
//! Items are matched by name: a renamed item is a removal and an addition.
//! Additions that keep every old number (a cap type, method, right, error
//! variant or object type declared after the old ones) break nothing.
//! Reports come in a fixed order (target, rights, objects, caps, retype
//! rules, error sets, invocations, interfaces; within each, the old spec's
//! order), so the output is deterministic.

mod sessions;

use std::io::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use capc_dsl::model::{
    CapField, DonationKind, FieldKind, Method, MethodParam, MethodSet, ParamKind, PayloadTy,
    RightId, Spec,
};
use capc_dsl::source::{FileId, SourceMap, Span};
use capc_dsl::{FsLoader, SourceLoader};
use codespan_reporting::diagnostic::{self as cs, LabelStyle};
use codespan_reporting::files::{self, Files};
use codespan_reporting::term::termcolor::{ColorChoice, NoColor, StandardStream, WriteColor};
use codespan_reporting::term::{self, Config};
use serde_json::json;

use crate::diagnostics::{self, Color, DiagnosticArgs, JsonTo, MessageFormat};
use crate::model_json::{Place, places, scalar};
use crate::present::{code_list as list, count};

pub const BREAKING_EXAMPLES: &str = "\
Examples:
  capc breaking old/kernel.cap kernel-demo/spec/kernel.cap
  capc breaking --against HEAD kernel-demo/spec/kernel.cap
  capc breaking --against v1.0 --message-format json spec.cap | jq .code

Each kind of break has a code (B0001 ...): `capc explain B0002` says what it
means and how to change a spec without it. Items are matched by name.
Exit status: 0 nothing breaks (additions at the end are fine), 1 something
breaks or a spec has errors, 2 usage, I/O or git error.";

#[derive(clap::Args)]
pub struct BreakingArgs {
    /// OLD and NEW specs; with `--against`, only the spec in the work tree.
    #[arg(required = true, num_args = 1..=2, value_name = "OLD NEW")]
    pub files: Vec<PathBuf>,
    /// Compare the spec with the same path at this git revision (a commit,
    /// branch or tag), read with `git show REV:PATH`, imports included.
    #[arg(long, value_name = "REV")]
    pub against: Option<String>,
    #[command(flatten)]
    pub diagnostics: DiagnosticArgs,
}

/// Every kind of break: code, title. docs/tools.md has a section for each
/// (`capc explain` prints it); codes never change meaning.
pub const CODES: &[(&str, &str)] = &[
    ("B0001", "cap type removed"),
    ("B0002", "cap type tag changed"),
    ("B0003", "cap field removed"),
    ("B0004", "cap field moved, resized or retyped"),
    ("B0005", "right removed"),
    ("B0006", "right bit changed"),
    ("B0007", "object type removed or renumbered"),
    ("B0008", "object size or alignment changed"),
    ("B0009", "size or memory rule narrowed"),
    ("B0010", "retype rule narrowed"),
    ("B0011", "method removed"),
    ("B0012", "method label changed"),
    ("B0013", "message layout changed"),
    ("B0014", "error variant removed"),
    ("B0015", "error number changed"),
    ("B0016", "error payload changed"),
    ("B0017", "target setting changed"),
    ("B0018", "caller requirement raised"),
    ("B0019", "address-space number pool changed"),
    ("B0020", "derivation rule removed or narrowed"),
    ("B0021", "method changed between a call and one-way"),
    ("B0030", "retype rule lost `#[at_offset]`"),
    ("B0040", "session added, removed or donated differently"),
    ("B0041", "session's least quota or kept state raised"),
    ("B0042", "parameter range narrowed"),
    ("B0043", "method charges its session more"),
    ("B0044", "refund removed"),
    ("B0050", "method's error set changed"),
    ("B0051", "method no longer idempotent"),
    (
        "B0052",
        "object type's sizes changed between log2 and bytes, or narrowed",
    ),
    (
        "B0053",
        "system call removed, renumbered or allowed on fewer caps",
    ),
    (
        "B0058",
        "interface made a callback interface, or the reverse",
    ),
    (
        "B0059",
        "parameter binds another callback interface, or binds one where it did not",
    ),
    ("B0060", "enumeration variant removed or renumbered"),
    (
        "B0061",
        "field or parameter made enumerated, plain, or of another enumeration",
    ),
    (
        "B0062",
        "parameter made a bitfield, plain, or of another bitfield",
    ),
    (
        "B0063",
        "bitfield field removed, moved or retyped, or bitfield made strict",
    ),
    (
        "B0064",
        "session binds another callback interface, or binds one where it did not",
    ),
    (
        "B0065",
        "cap type's copy conditions added to or its cleared fields changed",
    ),
];

/// Field names as a list for a message (`nothing` when empty).
fn describe_fields(names: &[String]) -> String {
    if names.is_empty() {
        "nothing".to_string()
    } else {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Which spec a span is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    Old,
    New,
}

/// A span in one of the two specs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct At {
    side: Side,
    span: Span,
}

fn old(span: Span) -> At {
    At {
        side: Side::Old,
        span,
    }
}

fn new(span: Span) -> At {
    At {
        side: Side::New,
        span,
    }
}

/// One change that breaks compiled users.
#[derive(Clone, Debug)]
struct Break {
    code: &'static str,
    message: String,
    primary: (At, String),
    secondary: Vec<(At, String)>,
    notes: Vec<String>,
}

impl Break {
    fn new(
        code: &'static str,
        at: At,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Break {
        debug_assert!(CODES.iter().any(|(c, _)| *c == code));
        Break {
            code,
            message: message.into(),
            primary: (at, label.into()),
            secondary: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn also(mut self, at: At, label: impl Into<String>) -> Break {
        self.secondary.push((at, label.into()));
        self
    }

    fn note(mut self, note: impl Into<String>) -> Break {
        self.notes.push(note.into());
        self
    }

    fn help(&self) -> &'static str {
        match self.code {
            "B0001" | "B0003" | "B0005" | "B0011" | "B0014" => {
                "keep it (mark it deprecated in its doc comment) until no compiled user needs it"
            }
            "B0012" => {
                "give the method its old label with `#[label(N)]`, or declare new methods after the existing ones and do not reorder or remove"
            }
            "B0002" | "B0006" | "B0007" | "B0015" => {
                "numbers follow declaration order: declare new items after the existing ones, and do not reorder or remove"
            }
            "B0004" => {
                "declare new fields after the existing ones and keep each field's type and width, or place a field where it was with `#[at(word = W, bit = B)]`"
            }
            "B0008" => {
                "keep the object's size and alignment for every size argument the old spec allowed"
            }
            "B0009" | "B0010" => "allow everything the old spec allowed; widening is compatible",
            "B0013" => "add a new method with the new parameters instead of changing this one",
            "B0016" => "keep the payload words; add a new variant for a new payload",
            "B0017" => {
                "keep the target's settings; only message_words and caps_per_message may grow"
            }
            "B0019" => "keep the pool's number of address-space numbers (`asid_pool = N;`)",
            "B0021" => {
                "keep the method's kind; add a new method of the other kind instead of changing this one"
            }
            "B0040" => {
                "keep the interface's session and what it is donated with; add a new interface instead"
            }
            "B0041" | "B0043" => {
                "charge no more than the old spec did; a new method may charge more"
            }
            "B0042" => "accept every value the old spec accepted; widening a range is compatible",
            "B0044" => "keep the refund; a method may take back more than it did",
            "B0050" => {
                "keep the method's error set; add a variant to it, or a new method with the new set"
            }
            "B0051" => "keep `#[idempotent]`; a new method may be one that is not",
            "B0052" => {
                "keep the object type's `#[bytes]`, granule and alignment, and every size it allowed; widening the range is compatible"
            }
            "B0053" => {
                "keep every system call with its number, what it sends and receives on and no more rights; add a new system call instead"
            }
            "B0058" => {
                "keep the interface's direction; declare a new interface for messages the other way"
            }
            "B0059" => {
                "keep what the parameter binds; add a new method that binds the other interface"
            }
            "B0060" => {
                "keep every variant with its value; add new variants with values no variant had"
            }
            "B0061" => {
                "keep the field's or parameter's type; add a new field or method for the enumerated one"
            }
            "B0062" => "keep the parameter's type; add a new method for the bitfield one",
            "B0063" => {
                "keep every field at its word and bits with its type; add new fields on bits no field held"
            }
            "B0064" => {
                "keep what the interface's sessions bind; add a new interface whose sessions bind the other one"
            }
            "B0065" => {
                "keep the cap type's copy conditions; removing a `requires` field or `no_children` is compatible"
            }
            _ => "require no more than the old spec did; a new method may require more",
        }
    }
}

/// Both specs' files, for codespan-reporting: old files first.
struct Both<'a> {
    old: &'a SourceMap,
    new: &'a SourceMap,
}

impl Both<'_> {
    fn map(&self, side: Side) -> &SourceMap {
        match side {
            Side::Old => self.old,
            Side::New => self.new,
        }
    }
}

impl<'a> Files<'a> for Both<'a> {
    type FileId = (Side, FileId);
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, id: (Side, FileId)) -> Result<&'a str, files::Error> {
        Files::name(self.map(id.0), id.1)
    }

    fn source(&'a self, id: (Side, FileId)) -> Result<&'a str, files::Error> {
        Files::source(self.map(id.0), id.1)
    }

    fn line_index(&'a self, id: (Side, FileId), byte: usize) -> Result<usize, files::Error> {
        Files::line_index(self.map(id.0), id.1, byte)
    }

    fn line_range(&'a self, id: (Side, FileId), line: usize) -> Result<Range<usize>, files::Error> {
        Files::line_range(self.map(id.0), id.1, line)
    }
}

fn to_codespan(b: &Break) -> cs::Diagnostic<(Side, FileId)> {
    let label = |style, (at, message): &(At, String)| {
        cs::Label::new(style, (at.side, at.span.file), at.span.range()).with_message(message)
    };
    let mut labels = vec![label(LabelStyle::Primary, &b.primary)];
    labels.extend(b.secondary.iter().map(|l| label(LabelStyle::Secondary, l)));
    let mut notes = b.notes.clone();
    notes.push(format!("help: {}", b.help()));
    cs::Diagnostic::error()
        .with_code(b.code)
        .with_message(&b.message)
        .with_labels(labels)
        .with_notes(notes)
}

fn emit(out: &mut dyn WriteColor, both: &Both<'_>, b: &Break) -> std::io::Result<()> {
    term::emit_to_write_style(out, &Config::default(), both, &to_codespan(b))
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// One break as the JSON object `--message-format json` prints: the fields
/// of a diagnostic's (docs/language.md), `severity` always `"error"`.
fn json(both: &Both<'_>, b: &Break) -> serde_json::Value {
    let label = |(at, message): &(At, String)| {
        let map = both.map(at.side);
        let (line, column) = map.line_col(at.span.file, at.span.start as usize);
        let (end_line, end_column) = map.line_col(at.span.file, at.span.end as usize);
        json!({
            "file": map.name(at.span.file),
            "byte_start": at.span.start,
            "byte_end": at.span.end,
            "line": line,
            "column": column,
            "end_line": end_line,
            "end_column": end_column,
            "message": message,
        })
    };
    let primary = label(&b.primary);
    let mut rendered = NoColor::new(Vec::new());
    let rendered = match emit(&mut rendered, both, b) {
        Ok(()) => String::from_utf8_lossy(&rendered.into_inner()).into_owned(),
        Err(e) => format!("error[{}]: {} ({e})\n", b.code, b.message),
    };
    json!({
        "code": b.code,
        "severity": "error",
        "message": b.message,
        "file": primary["file"],
        "byte_start": primary["byte_start"],
        "byte_end": primary["byte_end"],
        "line": primary["line"],
        "column": primary["column"],
        "end_line": primary["end_line"],
        "end_column": primary["end_column"],
        "label": b.primary.1,
        "secondary": b.secondary.iter().map(label).collect::<Vec<_>>(),
        "notes": b.notes,
        "help": b.help(),
        "rendered": rendered,
    })
}

// ------------------------------------------------------------ git

/// Reads files as they are at a git revision: `git show REV:./PATH`, the
/// path relative to the working directory.
struct GitLoader {
    rev: String,
}

impl GitLoader {
    fn object(&self, path: &Path) -> std::io::Result<String> {
        let relative = if path.is_absolute() {
            let here = std::env::current_dir()?;
            path.strip_prefix(&here)
                .map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "outside the working directory",
                    )
                })?
                .to_path_buf()
        } else {
            path.to_path_buf()
        };
        let relative = relative.to_string_lossy().replace('\\', "/");
        Ok(format!("{}:./{relative}", self.rev))
    }
}

impl SourceLoader for GitLoader {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        let object = self.object(path)?;
        let out = std::process::Command::new("git")
            .args(["show", &object])
            .stdin(std::process::Stdio::null())
            .output()?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such file",
            ))
        }
    }
}

/// Runs `git ARGS` in the working directory: its stdout if it succeeds,
/// else its stderr's first line (or why git could not run).
fn git(args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new("git")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `git`: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(err.lines().next().unwrap_or("").trim().to_string())
    }
}

/// Checks that `file` can be read at `rev`, with a clear message if not.
fn check_revision(rev: &str, file: &Path) -> Result<(), String> {
    git(&["rev-parse", "--is-inside-work-tree"]).map_err(|e| {
        format!("`--against` compares with a git revision, but the working directory is not in a git repository ({e})")
    })?;
    if rev.starts_with('-') {
        return Err(format!("`{rev}` is not a revision of this repository"));
    }
    git(&[
        "rev-parse",
        "--verify",
        "--quiet",
        &format!("{rev}^{{commit}}"),
    ])
    .map_err(|_| format!("`{rev}` is not a revision of this repository"))?;
    let object = GitLoader { rev: rev.into() }
        .object(file)
        .map_err(|e| format!("`{}` is {e}", file.display()))?;
    git(&["cat-file", "-e", &object])
        .map_err(|_| format!("`{}` does not exist at revision `{rev}`", file.display()))?;
    Ok(())
}

// -------------------------------------------------------------- run

pub fn run(args: &BreakingArgs) -> ExitCode {
    let (old_spec, new_path) = match (&args.against, args.files.as_slice()) {
        (None, [old, new]) => (Old::File(old.clone()), new.clone()),
        (Some(rev), [file]) => (Old::Git(rev.clone(), file.clone()), file.clone()),
        (None, _) => {
            eprintln!(
                "error: `capc breaking` takes OLD and NEW specs, or `--against REV` and one spec"
            );
            return ExitCode::from(2);
        }
        (Some(_), _) => {
            eprintln!(
                "error: with `--against REV`, give one spec: it is compared with itself at REV"
            );
            return ExitCode::from(2);
        }
    };
    // Spec diagnostics go where `check` puts them: JSON to stdout, with the
    // breaks, since this command prints nothing else there.
    let opts = &args.diagnostics;
    let old = match &old_spec {
        Old::File(path) => diagnostics::checked_with(path, &FsLoader, None, opts, JsonTo::Stdout),
        Old::Git(rev, path) => {
            if let Err(message) = check_revision(rev, path) {
                eprintln!("error: {message}");
                return ExitCode::from(2);
            }
            let loader = GitLoader { rev: rev.clone() };
            let prefix = format!("{rev}:");
            diagnostics::checked_with(path, &loader, Some(&prefix), opts, JsonTo::Stdout)
        }
    };
    let new = diagnostics::checked_with(&new_path, &FsLoader, None, opts, JsonTo::Stdout);
    let (old, new) = match (old, new) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(a), Err(b)) => return if a == ExitCode::from(2) { a } else { b },
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let (Some(old_model), Some(new_model)) = (&old.spec, &new.spec) else {
        return ExitCode::from(1);
    };
    let breaks = compare(old_model, new_model);
    let both = Both {
        old: &old.sources,
        new: &new.sources,
    };
    let printed = print(&both, &breaks, opts);
    match printed {
        Err(e) => {
            eprintln!("error: cannot write the report: {e}");
            ExitCode::from(2)
        }
        Ok(()) if breaks.is_empty() => ExitCode::SUCCESS,
        Ok(()) => ExitCode::from(1),
    }
}

enum Old {
    File(PathBuf),
    Git(String, PathBuf),
}

fn print(both: &Both<'_>, breaks: &[Break], opts: &DiagnosticArgs) -> std::io::Result<()> {
    match opts.message_format {
        MessageFormat::Json => {
            let mut out = std::io::stdout().lock();
            for b in breaks {
                writeln!(out, "{}", json(both, b))?;
            }
            out.flush()
        }
        MessageFormat::Human => {
            use std::io::IsTerminal as _;
            let choice = match opts.color {
                Color::Always => ColorChoice::Always,
                Color::Never => ColorChoice::Never,
                Color::Auto if std::io::stderr().is_terminal() => ColorChoice::Auto,
                Color::Auto => ColorChoice::Never,
            };
            let mut err = StandardStream::stderr(choice);
            for b in breaks {
                emit(&mut err, both, b)?;
            }
            if !breaks.is_empty() {
                let n = breaks.len();
                let s = if n == 1 { "" } else { "s" };
                writeln!(
                    err,
                    "error: {n} change{s} break{} compiled users of `{}`",
                    if n == 1 { "s" } else { "" },
                    both.old.name(FileId(0)),
                )?;
            }
            err.flush()
        }
    }
}

// ---------------------------------------------------------- compare

/// Every break from `old` to `new`, in report order.
fn compare(old: &Spec, new: &Spec) -> Vec<Break> {
    let mut c = Compare {
        old,
        new,
        out: Vec::new(),
    };
    c.target();
    c.rights();
    c.objects();
    c.caps();
    c.retypes();
    c.derives();
    c.error_sets();
    c.enumerations();
    c.bitfields();
    c.syscalls();
    c.method_sets(&old.invocations, &new.invocations, "invocations on");
    c.method_sets(&old.interfaces, &new.interfaces, "interface");
    c.out
}

struct Compare<'a> {
    old: &'a Spec,
    new: &'a Spec,
    out: Vec<Break>,
}

fn find<'a, T>(
    list: &'a [T],
    name: &str,
    key: impl Fn(&'a T) -> &'a str,
) -> Option<(usize, &'a T)> {
    list.iter().enumerate().find(|(_, t)| key(t) == name)
}

fn right_names(spec: &Spec, rights: &[RightId]) -> Vec<String> {
    rights
        .iter()
        .map(|r| spec.rights[r.index()].name.clone())
        .collect()
}

fn field_type(spec: &Spec, f: &CapField) -> String {
    match &f.kind {
        FieldKind::Ptr { align_bits } if f.sign_extend => {
            format!("#[sign_extend] ptr(align = 2^{align_bits})")
        }
        FieldKind::Ptr { align_bits } if f.whole_word => {
            format!("#[whole_word] ptr(align = 2^{align_bits})")
        }
        FieldKind::Ptr { align_bits } => format!("ptr(align = 2^{align_bits})"),
        FieldKind::Uint => format!("u{}", f.width),
        FieldKind::Bool => "bool".into(),
        FieldKind::Rights { allowed } => {
            format!("rights({})", right_names(spec, allowed).join(", "))
        }
    }
}

fn place_text(place: Place) -> String {
    match place {
        Place::Words(start, 1) => format!("message word {start}"),
        Place::Words(start, count) => format!("message words {start}..{}", start + count),
        Place::Cap(i) => format!("cap {i} of the message"),
        Place::Lease(start, i) => format!(
            "message words {start}..{} and cap {i} of the message",
            start + 2
        ),
    }
}

/// "bits 8..16 of message word 0" for a packed parameter (`#[at]`), else
/// the place as it is.
fn bits_text(bits: Option<(u32, u32)>, place: String) -> String {
    match bits {
        Some((bit, width)) => format!("bits {bit}..{} of {place}", bit + width),
        None => place,
    }
}

/// A parameter's type as far as the message carries it (rights aside).
fn param_type(spec: &Spec, p: &MethodParam) -> String {
    match &p.kind {
        ParamKind::Scalar(s) => scalar_text(*s),
        ParamKind::Array { element, len, .. } => format!("[{}; {len}]", scalar_text(*element)),
        ParamKind::Data { ty, .. } => layout_text(spec, ty),
        ParamKind::Cap {
            transfer,
            cap,
            alternatives,
            nullable,
            ..
        } => {
            let how = transfer.prefix();
            // Alternatives change the decoded argument's Rust type.
            let mut text = format!("{how}cap {}", spec.caps[cap.index()].name);
            for a in alternatives {
                text.push_str(&format!(" | {}", spec.caps[a.index()].name));
            }
            if *nullable {
                text.push_str(" | null");
            }
            text
        }
        ParamKind::AnyCap { transfer } => format!("{}cap any", transfer.prefix()),
        ParamKind::Lease(l) => lease_text(spec, l),
    }
}

/// A lease as the message and its server see it: directions, frame cap
/// type, element and bound (a change to any of them is breaking).
pub(crate) fn lease_text(spec: &Spec, l: &capc_dsl::model::Lease) -> String {
    let rights: Vec<&str> = l
        .rights
        .iter()
        .map(|r| spec.rights[r.index()].name.as_str())
        .collect();
    let len = if l.exact {
        format!("{}", l.max)
    } else {
        format!("..={}", l.max)
    };
    format!(
        "lease {}({}) [{}; {len}]",
        spec.caps[l.cap.index()].name,
        rights.join(", "),
        l.element.spelling(&spec.data_types)
    )
}

/// A message type with its whole layout: the declared types it names
/// spelled out with their fields' offsets and their variants, so that a
/// change inside a `struct`, `enum` or `type` changes the text of every
/// parameter that carries it.
fn layout_text(spec: &Spec, ty: &capc_dsl::model::Ty) -> String {
    use capc_dsl::model::{DataDef, Ty};
    match ty {
        Ty::Named(id) => {
            let t = &spec.data_types[id.index()];
            match &t.def {
                DataDef::Record(fields) => {
                    let fields: Vec<String> = fields
                        .iter()
                        .map(|f| format!("{}: {} @{}", f.name, layout_text(spec, &f.ty), f.offset))
                        .collect();
                    format!("{} {{ {} }}", t.name, fields.join(", "))
                }
                DataDef::Enum { variants, .. } => {
                    let variants: Vec<String> = variants
                        .iter()
                        .map(|v| {
                            if v.fields.is_empty() {
                                v.name.clone()
                            } else {
                                let values: Vec<String> =
                                    v.fields.iter().map(|(t, _)| layout_text(spec, t)).collect();
                                format!("{}({})", v.name, values.join(", "))
                            }
                        })
                        .collect();
                    format!("{} {{ {} }}", t.name, variants.join(" | "))
                }
                DataDef::Alias(inner) => layout_text(spec, inner),
                // The range is part of the layout: a value one side sends,
                // the other may refuse.
                DataDef::Range { ty, min, max } => {
                    format!("{} in {min}..={max}", layout_text(spec, ty))
                }
            }
        }
        Ty::Array(t, n) => format!("[{}; {n}]", layout_text(spec, t)),
        Ty::Bounded(t, n) => format!("[{}; ..={n}]", layout_text(spec, t)),
        Ty::Option(t) => format!("Option<{}>", layout_text(spec, t)),
        Ty::Bool | Ty::Int { .. } | Ty::Float { .. } | Ty::String(_) => {
            ty.spelling(&spec.data_types)
        }
    }
}

fn scalar_text(s: capc_dsl::ast::Scalar) -> String {
    match scalar(s) {
        ("uint", bits) => format!("u{bits}"),
        (name, _) => name.to_string(),
    }
}

impl Compare<'_> {
    fn push(&mut self, b: Break) {
        self.out.push(b);
    }

    /// B0053: each system call of an old `syscalls` block must keep its
    /// number (compiled code traps with it), still send and receive, and
    /// still accept every cap it accepted (a cap type it listed, with no
    /// right or flag more).
    fn syscalls(&mut self) {
        let (old_spec, new_spec) = (self.old, self.new);
        for set in &old_spec.syscalls {
            let Some((_, nset)) = find(&new_spec.syscalls, &set.name, |s| &s.name) else {
                self.push(Break::new(
                    "B0053",
                    old(set.span),
                    format!("the system calls `{}` were removed", set.name),
                    "declared here in the old spec",
                ));
                continue;
            };
            for call in &set.syscalls {
                let name = format!("{}::{}", set.name, call.name);
                let Some((_, n)) = find(&nset.syscalls, &call.name, |c| &c.name) else {
                    self.push(Break::new(
                        "B0053",
                        old(call.span),
                        format!("system call `{name}` was removed"),
                        "declared here in the old spec",
                    ));
                    continue;
                };
                if n.number != call.number {
                    self.push(
                        Break::new(
                            "B0053",
                            new(n.span),
                            format!(
                                "system call `{name}` is numbered {}, no longer {}",
                                n.number, call.number
                            ),
                            format!("number {} here", n.number),
                        )
                        .also(
                            old(call.span),
                            format!("number {} in the old spec", call.number),
                        ),
                    );
                    continue;
                }
                for (what, o, t) in [
                    ("sends on", &call.sends, &n.sends),
                    ("receives on", &call.receives, &n.receives),
                ] {
                    let Some(o) = o else { continue };
                    let lost = match t {
                        None => Some(format!("no longer {}", &what[..what.len() - 3])),
                        Some(t) => o.caps.iter().find_map(|c| {
                            let cap = &old_spec.caps[c.cap.index()];
                            let now = t
                                .caps
                                .iter()
                                .find(|d| new_spec.caps[d.cap.index()].name == cap.name);
                            match now {
                                None => Some(format!("no longer {what} `{}`", cap.name)),
                                Some(d) => {
                                    let had: Vec<String> = c
                                        .rights
                                        .iter()
                                        .map(|r| old_spec.rights[r.index()].name.clone())
                                        .chain(c.flags.iter().map(|f| cap.fields[*f].name.clone()))
                                        .collect();
                                    let ncap = &new_spec.caps[d.cap.index()];
                                    let more: Vec<String> = d
                                        .rights
                                        .iter()
                                        .map(|r| new_spec.rights[r.index()].name.clone())
                                        .chain(d.flags.iter().map(|f| ncap.fields[*f].name.clone()))
                                        .filter(|x| !had.contains(x))
                                        .collect();
                                    (!more.is_empty()).then(|| {
                                        format!(
                                            "{what} `{}` only with `{}` now",
                                            cap.name,
                                            more.join("`, `")
                                        )
                                    })
                                }
                            }
                        }),
                    };
                    if let Some(lost) = lost {
                        self.push(
                            Break::new(
                                "B0053",
                                new(n.span),
                                format!("system call `{name}` {lost}"),
                                "declared here",
                            )
                            .also(old(call.span), "in the old spec"),
                        );
                    }
                }
            }
        }
    }

    /// B0060: each variant of an old enumeration must keep its value (a
    /// compiled user sends it, a new decoder or getter must take it). A
    /// removed enumeration is reported with the fields and parameters of
    /// its type (B0061); an enumeration nothing uses may go.
    fn enumerations(&mut self) {
        for e in &self.old.enumerations {
            let Some((_, n)) = find(&self.new.enumerations, &e.name, |e| &e.name) else {
                continue;
            };
            for v in &e.values {
                match find(&n.values, &v.name, |v| &v.name) {
                    None => self.push(
                        Break::new(
                            "B0060",
                            old(v.span),
                            format!("variant `{}::{}` ({}) was removed", e.name, v.name, v.value),
                            "declared here in the old spec",
                        )
                        .also(new(n.span), "the enumeration has no such variant here")
                        .note("a cap or message holding its value is refused by the new getters and decoders"),
                    ),
                    Some((_, nv)) if nv.value != v.value => self.push(
                        Break::new(
                            "B0060",
                            new(nv.span),
                            format!(
                                "variant `{}::{}` changed value from {} to {}",
                                e.name, v.name, v.value, nv.value
                            ),
                            format!("{} here", nv.value),
                        )
                        .also(old(v.span), format!("{} in the old spec", v.value)),
                    ),
                    Some(_) => {}
                }
            }
        }
    }

    /// B0063: each field of an old bitfield keeps its word, bits and type
    /// (a compiled user packs it there, a new decoder reads it there), and
    /// a bitfield does not become `#[strict]` (compiled users may set bits
    /// no field holds). A field added on bits no field held is compatible;
    /// a removed bitfield is reported with the parameters of its type
    /// (B0062).
    fn bitfields(&mut self) {
        for b in &self.old.bitfields {
            let Some((_, n)) = find(&self.new.bitfields, &b.name, |b| &b.name) else {
                continue;
            };
            if n.strict && !b.strict {
                self.push(
                    Break::new(
                        "B0063",
                        new(n.span),
                        format!("bitfield `{}` became `#[strict]`", b.name),
                        "strict here",
                    )
                    .also(old(b.span), "not strict in the old spec")
                    .note("the decoder now refuses a bit no field holds, which compiled users may set"),
                );
            }
            let ty = |spec: &Spec, f: &capc_dsl::model::BitfieldField| match f.values {
                Some(e) => format!("`{}`", spec.enumerations[e.index()].name),
                None if f.boolean => "`bool`".to_string(),
                None => format!("`u{}`", f.width),
            };
            for f in &b.fields {
                let place = |f: &capc_dsl::model::BitfieldField| {
                    format!("bits {}..{} of word {}", f.bit, f.bit + f.width, f.word)
                };
                match find(&n.fields, &f.name, |f| &f.name) {
                    None => self.push(
                        Break::new(
                            "B0063",
                            old(f.span),
                            format!("field `{}` of bitfield `{}` was removed", f.name, b.name),
                            "declared here in the old spec",
                        )
                        .also(new(n.span), "the bitfield has no such field here")
                        .note("compiled users set it and read it"),
                    ),
                    Some((_, nf)) => {
                        let (was, now) = (
                            format!("{} in {}", ty(self.old, f), place(f)),
                            format!("{} in {}", ty(self.new, nf), place(nf)),
                        );
                        if was != now {
                            self.push(
                                Break::new(
                                    "B0063",
                                    new(nf.span),
                                    format!(
                                        "field `{}` of bitfield `{}` changed: {was} before, {now} now",
                                        f.name, b.name
                                    ),
                                    "here now",
                                )
                                .also(old(f.span), "in the old spec"),
                            );
                        }
                    }
                }
            }
        }
    }

    /// B0062 for a parameter whose bitfield changed.
    fn bitfield_changed(
        &mut self,
        what: String,
        (was, now): (At, At),
        names: (Option<String>, Option<String>),
    ) {
        let text = |n: Option<String>| n.map_or("plain words".to_string(), |n| format!("`{n}`"));
        let (a, b) = (text(names.0), text(names.1));
        self.push(
            Break::new(
                "B0062",
                now,
                format!("{what} holds {b} now, {a} before"),
                format!("{b} here"),
            )
            .also(was, format!("{a} in the old spec"))
            .note("the generated type of its value changed, and a bitfield's decoder may refuse words plain ones took"),
        );
    }

    /// The enumeration a field or parameter takes, by name (`None` for a
    /// plain one).
    fn enumeration_names(
        &self,
        was: Option<capc_dsl::model::EnumerationId>,
        now: Option<capc_dsl::model::EnumerationId>,
    ) -> (Option<String>, Option<String>) {
        (
            was.map(|e| self.old.enumerations[e.index()].name.clone()),
            now.map(|e| self.new.enumerations[e.index()].name.clone()),
        )
    }

    /// B0061 for a field or parameter whose enumeration changed.
    fn enumeration_changed(
        &mut self,
        what: String,
        (was, now): (At, At),
        names: (Option<String>, Option<String>),
    ) {
        let text = |n: Option<String>| n.map_or("a plain value".to_string(), |n| format!("`{n}`"));
        let (a, b) = (text(names.0), text(names.1));
        self.push(
            Break::new(
                "B0061",
                now,
                format!("{what} holds {b} now, {a} before"),
                format!("{b} here"),
            )
            .also(was, format!("{a} in the old spec"))
            .note("the generated type of its value changed, and an enumerated one refuses values its variants do not name"),
        );
    }

    fn target(&mut self) {
        let (o, n) = (&self.old.target, &self.new.target);
        let exact: [(&str, u64, u64); 7] = [
            ("address_bits", o.address_bits.into(), n.address_bits.into()),
            ("label_bits", o.label_bits.into(), n.label_bits.into()),
            ("tag_bits", o.tag_bits.into(), n.tag_bits.into()),
            ("tag_shift", o.tag_shift.into(), n.tag_shift.into()),
            (
                "message_registers",
                o.message_registers.into(),
                n.message_registers.into(),
            ),
            ("cap_words", o.cap_words.into(), n.cap_words.into()),
            (
                "slot_bits",
                o.slot_bits.map_or(u64::MAX, u64::from),
                n.slot_bits.map_or(u64::MAX, u64::from),
            ),
        ];
        let shown = |v: u64| {
            if v == u64::MAX {
                "unset".to_string()
            } else {
                v.to_string()
            }
        };
        for (name, was, now) in exact {
            if was != now {
                self.push(
                    Break::new(
                        "B0017",
                        new(n.span),
                        format!(
                            "target setting `{name}` changed from {} to {}",
                            shown(was),
                            shown(now)
                        ),
                        format!("`{name}` is {} here", shown(now)),
                    )
                    .also(old(o.span), format!("`{name}` was {}", shown(was))),
                );
            }
        }
        for (name, was, now) in [
            ("message_words", o.message_words, n.message_words),
            ("caps_per_message", o.caps_per_message, n.caps_per_message),
            ("fragments", o.fragments, n.fragments),
        ] {
            if now < was {
                self.push(
                    Break::new(
                        "B0017",
                        new(n.span),
                        format!("target setting `{name}` lowered from {was} to {now}"),
                        format!("`{name}` is {now} here"),
                    )
                    .also(old(o.span), format!("`{name}` was {was}"))
                    .note("a message the old spec allowed may not fit any more"),
                );
            }
        }
        let covers = match (o.user_space, n.user_space) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some((os, oe)), Some((ns, ne))) => ns <= os && oe <= ne,
        };
        if !covers {
            let text = |u: Option<(u64, u64)>| {
                u.map_or("every address the tables cover".to_string(), |(s, e)| {
                    format!("{s:#x}..{e:#x}")
                })
            };
            self.push(
                Break::new(
                    "B0017",
                    new(n.span),
                    "user space narrowed",
                    format!("user space is {} here", text(n.user_space)),
                )
                .also(
                    old(o.span),
                    format!("user space was {}", text(o.user_space)),
                ),
            );
        }
    }

    fn rights(&mut self) {
        for (bit, r) in self.old.rights.iter().enumerate() {
            match find(&self.new.rights, &r.name, |r| &r.name) {
                None => self.push(Break::new(
                    "B0005",
                    old(r.span),
                    format!("right `{}` (bit {bit}) was removed", r.name),
                    "declared here in the old spec",
                )),
                Some((now, nr)) if now != bit => self.push(
                    Break::new(
                        "B0006",
                        new(nr.span),
                        format!("right `{}` moved from bit {bit} to bit {now}", r.name),
                        format!("bit {now} here"),
                    )
                    .also(old(r.span), format!("bit {bit} in the old spec")),
                ),
                Some(_) => {}
            }
        }
    }

    fn objects(&mut self) {
        for o in &self.old.objects {
            let number = o.number;
            let Some((_, n)) = find(&self.new.objects, &o.name, |o| &o.name) else {
                self.push(
                    Break::new(
                        "B0007",
                        old(o.span),
                        format!("object type `{}` (number {number}) was removed", o.name),
                        "declared here in the old spec",
                    )
                    .note("an object type's number is the `object_type` word of a retype call"),
                );
                continue;
            };
            let now = n.number;
            if now != number {
                self.push(
                    Break::new(
                        "B0007",
                        new(n.span),
                        format!("object type `{}` renumbered from {number} to {now}", o.name),
                        format!("number {now} here"),
                    )
                    .also(old(o.span), format!("number {number} in the old spec"))
                    .note("an object type's number (its `#[number(N)]`, else the lowest free in declaration order) is the `object_type` word of a retype call"),
                );
            }
            // Numbers per size argument (`#[number(A, B, ...)]`): each one
            // a retype's type word, dropped or moved breaks it.
            for &(arg, was) in o.numbers.iter().skip(1) {
                let is = n.numbers.iter().find(|&&(a, _)| a == arg).map(|&(_, x)| x);
                if is != Some(was) {
                    self.push(
                        Break::new(
                            "B0007",
                            new(n.span),
                            format!(
                                "object type `{}` with size argument {arg} is no longer number {was}",
                                o.name
                            ),
                            match is {
                                Some(now) => format!("number {now} here"),
                                None => "no number of its own here".to_string(),
                            },
                        )
                        .also(old(o.span), format!("number {was} in the old spec"))
                        .note("each number of `#[number(A, B, ...)]` is the `object_type` word of a retype call making that size"),
                    );
                }
            }
            let mut changed = Vec::new();
            let mut dropped = Vec::new();
            for &(arg, bits) in &o.size.table {
                match n.size.size_bits(arg) {
                    None => dropped.push(arg),
                    Some(now_bits) => {
                        let (was_align, now_align) =
                            (o.align_bits_for(bits), n.align_bits_for(now_bits));
                        if now_bits != bits || was_align != now_align {
                            changed.push(format!(
                                "{}: size 2^{bits} aligned 2^{was_align} before, size 2^{now_bits} aligned 2^{now_align} now",
                                if o.size.param.is_some() { format!("argument {arg}") } else { "the object".into() }
                            ));
                        }
                    }
                }
            }
            let pool = |o: &capc_dsl::model::Object| o.asid_pool.as_ref().map(|p| p.numbers);
            if pool(o) != pool(n) {
                let says = |numbers: Option<u64>| match numbers {
                    Some(numbers) => format!("a pool of {numbers} address-space numbers"),
                    None => "no pool of address-space numbers".to_string(),
                };
                self.push(
                    Break::new(
                        "B0019",
                        new(n.span),
                        format!("object type `{}` changed its pool of address-space numbers", o.name),
                        format!("{} here", says(pool(n))),
                    )
                    .also(old(o.span), format!("{} in the old spec", says(pool(o))))
                    .note("a number's pool and its entry follow from the pool's size, and every address-space root's cap records its number: the numbers compiled users hold would name other address spaces"),
                );
            }
            // Byte-sized types (`#[bytes]`): the size argument's meaning,
            // the granule, the alignment and the range.
            match (o.size.bytes, n.size.bytes) {
                (None, None) => {}
                (Some(w), Some(x)) => {
                    let mut problems = Vec::new();
                    if x.granule_bits > w.granule_bits {
                        problems.push(format!(
                            "granule {} bytes before, {} now: sizes that were whole granules are not",
                            1u64 << w.granule_bits,
                            1u64 << x.granule_bits
                        ));
                    }
                    if n.align_bits > o.align_bits {
                        problems.push(format!(
                            "aligned to 2^{} before, 2^{} now: offsets that were allowed are not",
                            o.align_bits.unwrap_or(0),
                            n.align_bits.unwrap_or(0)
                        ));
                    }
                    if x.min > w.min || x.max < w.max {
                        problems.push(format!(
                            "sizes {}..={} before, {}..={} now",
                            w.min, w.max, x.min, x.max
                        ));
                    }
                    if !problems.is_empty() {
                        let mut b = Break::new(
                            "B0052",
                            new(n.span),
                            format!(
                                "byte-sized object type `{}` allows fewer sizes or places",
                                o.name
                            ),
                            "sized here",
                        )
                        .also(old(o.span), "sized in bytes in the old spec");
                        for p in problems {
                            b = b.note(p);
                        }
                        self.push(b);
                    }
                }
                (was, _) => {
                    let says = |bytes: bool| {
                        if bytes {
                            "its size in bytes"
                        } else {
                            "log2-sized: a size argument its size rule maps to a power of two"
                        }
                    };
                    self.push(
                        Break::new(
                            "B0052",
                            new(n.span),
                            format!("object type `{}` changed what its size argument means", o.name),
                            format!("{} here", says(n.size.is_bytes())),
                        )
                        .also(old(o.span), format!("{} in the old spec", says(was.is_some())))
                        .note("a retype's size argument from compiled code would make objects of other sizes"),
                    );
                }
            }
            if !changed.is_empty() {
                let mut b = Break::new(
                    "B0008",
                    new(n.span),
                    format!("object type `{}` changed size or alignment", o.name),
                    "sized here",
                )
                .also(old(o.span), "sized differently in the old spec");
                for c in changed {
                    b = b.note(c);
                }
                self.push(b);
            }
            if !dropped.is_empty() {
                let args = dropped
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                self.push(
                    Break::new(
                        "B0009",
                        new(n.span),
                        format!(
                            "object type `{}` no longer allows the size argument{} {args}",
                            o.name,
                            if dropped.len() == 1 { "" } else { "s" }
                        ),
                        "its size rule is narrower here",
                    )
                    .also(
                        old(o.span),
                        format!(
                            "allowed {}..={} in the old spec",
                            o.size.min_arg(),
                            o.size.max_arg()
                        ),
                    ),
                );
            }
            for (was, now, what) in [(o.ram, n.ram, "RAM"), (o.device, n.device, "device memory")] {
                if was && !now {
                    self.push(
                        Break::new(
                            "B0009",
                            new(n.span),
                            format!("object type `{}` may no longer be made from {what}", o.name),
                            "its memory rule is narrower here",
                        )
                        .also(old(o.span), format!("allowed in {what} in the old spec")),
                    );
                }
            }
        }
    }

    /// A cap type's copy conditions (`#[copy(...)]`) that the new spec adds
    /// (a `requires` field, `no_children`) or changes (`clears`, either
    /// way: the copy's words change): a copy the old code made may now be
    /// refused or differ.
    fn copy_conditions(&mut self, c: &capc_dsl::model::CapType, n: &capc_dsl::model::CapType) {
        let names = |t: &capc_dsl::model::CapType, list: &[usize]| -> Vec<String> {
            list.iter().map(|&i| t.fields[i].name.clone()).collect()
        };
        let (was, now) = (&c.copy_conditions, &n.copy_conditions);
        let mut changes = Vec::new();
        let old_requires = names(c, &was.requires);
        for f in names(n, &now.requires) {
            if !old_requires.contains(&f) {
                changes.push(format!("`requires({f})` was added"));
            }
        }
        if now.no_children && !was.no_children {
            changes.push("`no_children` was added".to_string());
        }
        let (mut old_clears, mut new_clears) = (names(c, &was.clears), names(n, &now.clears));
        old_clears.sort();
        new_clears.sort();
        if old_clears != new_clears {
            changes.push(format!(
                "`clears` named {} before, {} now",
                describe_fields(&old_clears),
                describe_fields(&new_clears)
            ));
        }
        if changes.is_empty() {
            return;
        }
        self.push(
            Break::new(
                "B0065",
                new(n.span),
                format!(
                    "cap type `{}`'s copy conditions changed: {}",
                    n.name,
                    changes.join("; ")
                ),
                "copy conditions here",
            )
            .also(old(c.span), "declared here in the old spec")
            .note("a copy or mint the old code made may now be refused, or start from other words"),
        );
    }

    fn caps(&mut self) {
        for c in &self.old.caps {
            let Some((_, n)) = find(&self.new.caps, &c.name, |c| &c.name) else {
                self.push(Break::new(
                    "B0001",
                    old(c.span),
                    format!("cap type `{}` (tag {}) was removed", c.name, c.tag),
                    "declared here in the old spec",
                ));
                continue;
            };
            if n.tag != c.tag {
                self.push(
                    Break::new(
                        "B0002",
                        new(n.span),
                        format!(
                            "cap type `{}` changed tag from {} to {}",
                            c.name, c.tag, n.tag
                        ),
                        format!("tag {} here", n.tag),
                    )
                    .also(old(c.span), format!("tag {} in the old spec", c.tag))
                    .note("a cap type's tag is its position among the cap types, from 1"),
                );
            }
            self.copy_conditions(c, n);
            for f in &c.fields {
                let Some((_, nf)) = find(&n.fields, &f.name, |f| &f.name) else {
                    self.push(
                        Break::new(
                            "B0003",
                            old(f.span),
                            format!("field `{}` of cap type `{}` was removed", f.name, c.name),
                            format!(
                                "word {}, bits {}..{} in the old spec",
                                f.word,
                                f.shift,
                                f.shift + f.width
                            ),
                        )
                        .also(new(n.span), "the cap type has no such field here"),
                    );
                    continue;
                };
                let names = self.enumeration_names(f.values, nf.values);
                if names.0 != names.1 {
                    self.enumeration_changed(
                        format!("field `{}` of cap type `{}`", f.name, c.name),
                        (old(f.span), new(nf.span)),
                        names,
                    );
                }
                let (was_ty, now_ty) = (field_type(self.old, f), field_type(self.new, nf));
                let same_encoding = match (&f.kind, &nf.kind) {
                    (FieldKind::Ptr { align_bits: a }, FieldKind::Ptr { align_bits: b }) => {
                        a == b
                            && f.sign_extend == nf.sign_extend
                            && f.whole_word == nf.whole_word
                            && f.virtual_offset == nf.virtual_offset
                    }
                    (FieldKind::Uint, FieldKind::Uint) => f.size_bytes == nf.size_bytes,
                    (FieldKind::Bool, FieldKind::Bool)
                    | (FieldKind::Rights { .. }, FieldKind::Rights { .. }) => true,
                    _ => false,
                };
                // A rights mask is as wide as the rights declared: one that
                // grows or shrinks in place keeps every bit where it was (a
                // right removed or moved is reported as such).
                let rights_mask = matches!(f.kind, FieldKind::Rights { .. });
                let moved = f.word != nf.word || f.shift != nf.shift;
                let resized = f.width != nf.width && !rights_mask;
                if moved || resized || !same_encoding || f.role != nf.role {
                    let at = |f: &CapField| {
                        format!("word {}, bits {}..{}", f.word, f.shift, f.shift + f.width)
                    };
                    let mut b = Break::new(
                        "B0004",
                        new(nf.span),
                        format!(
                            "field `{}` of cap type `{}` changed: {} {} before, {} {} now",
                            f.name,
                            c.name,
                            was_ty,
                            at(f),
                            now_ty,
                            at(nf)
                        ),
                        format!("{now_ty} at {} here", at(nf)),
                    )
                    .also(
                        old(f.span),
                        format!("{was_ty} at {} in the old spec", at(f)),
                    );
                    if f.size_bytes != nf.size_bytes {
                        b = b.note(if nf.size_bytes {
                            "it holds the size in bytes now, the size argument before"
                        } else {
                            "it holds the size argument now, the size in bytes before"
                        });
                    }
                    if f.virtual_offset != nf.virtual_offset {
                        b = b.note(format!(
                            "it holds the address plus {:#x} now, plus {:#x} before",
                            nf.virtual_offset, f.virtual_offset
                        ));
                    }
                    if f.role != nf.role {
                        b = b.note(format!(
                            "its role changed from `{}` to `{}`",
                            crate::model_json::role_name(f.role),
                            crate::model_json::role_name(nf.role)
                        ));
                    }
                    self.push(b);
                }
            }
            let now_rights = right_names(self.new, &n.rights);
            let lost: Vec<String> = right_names(self.old, &c.rights)
                .into_iter()
                .filter(|r| !now_rights.contains(r))
                .collect();
            if !lost.is_empty() {
                self.push(
                    Break::new(
                        "B0018",
                        new(n.span),
                        format!("cap type `{}` can no longer carry {}", c.name, list(&lost)),
                        format!(
                            "carries {} here",
                            if now_rights.is_empty() {
                                "no rights".into()
                            } else {
                                list(&now_rights)
                            }
                        ),
                    )
                    .also(
                        old(c.span),
                        format!(
                            "carried {} in the old spec",
                            list(&right_names(self.old, &c.rights))
                        ),
                    ),
                );
            }
        }
    }

    fn retypes(&mut self) {
        for r in &self.old.retypes {
            let source = &self.old.caps[r.source.index()].name;
            let new_spec = self.new;
            let Some((_, n)) = find(&new_spec.retypes, source, |n| {
                &new_spec.caps[n.source.index()].name
            }) else {
                self.push(Break::new(
                    "B0010",
                    old(r.span),
                    format!("the retype rule of `{source}` was removed"),
                    "declared here in the old spec",
                ));
                continue;
            };
            let now: Vec<&str> = n
                .targets
                .iter()
                .map(|t| self.new.objects[t.index()].name.as_str())
                .collect();
            let lost: Vec<String> = r
                .targets
                .iter()
                .map(|t| self.old.objects[t.index()].name.clone())
                .filter(|t| !now.contains(&t.as_str()))
                .collect();
            if !lost.is_empty() {
                self.push(
                    Break::new(
                        "B0010",
                        new(n.span),
                        format!("`{source}` may no longer be retyped into {}", list(&lost)),
                        "the rule is narrower here",
                    )
                    .also(old(r.span), "the old rule allowed them"),
                );
            }
            if r.at_offset && !n.at_offset {
                self.push(
                    Break::new(
                        "B0030",
                        new(n.span),
                        format!("`{source}`'s retype rule lost `#[at_offset]`"),
                        "no `#[at_offset]` here",
                    )
                    .also(old(r.span), "the old rule had `#[at_offset]`"),
                );
            }
            if n.fan_out < r.fan_out {
                self.push(
                    Break::new(
                        "B0010",
                        new(n.span),
                        format!(
                            "the fan-out of `{source}`'s retype rule was lowered from {} to {}",
                            r.fan_out, n.fan_out
                        ),
                        format!("fan_out = {} here", n.fan_out),
                    )
                    .also(
                        old(r.span),
                        format!("fan_out = {} in the old spec", r.fan_out),
                    ),
                );
            }
        }
    }

    fn derives(&mut self) {
        for d in &self.old.derives {
            let target = &self.old.caps[d.target.index()].name;
            let source = &self.old.caps[d.source.index()].name;
            let new_spec = self.new;
            let Some((_, n)) = find(&new_spec.derives, target, |n| {
                &new_spec.caps[n.target.index()].name
            }) else {
                self.push(Break::new(
                    "B0020",
                    old(d.span),
                    format!("the rule deriving `{target}` from `{source}` was removed"),
                    "declared here in the old spec",
                ));
                continue;
            };
            let now = &new_spec.caps[n.source.index()].name;
            if now != source {
                self.push(
                    Break::new(
                        "B0020",
                        new(n.span),
                        format!("`{target}` is derived from `{now}`, no longer from `{source}`"),
                        format!("derived from `{now}` here"),
                    )
                    .also(
                        old(d.span),
                        format!("derived from `{source}` in the old spec"),
                    ),
                );
            } else if d.multiple && !n.multiple {
                self.push(
                    Break::new(
                        "B0020",
                        new(n.span),
                        format!("the rule deriving `{target}` from `{source}` lost `#[multiple]`"),
                        "one derived cap per source cap at a time here",
                    )
                    .also(old(d.span), "any number in the old spec"),
                );
            } else if (d.range.is_some() && n.range.is_none())
                || d.range.zip(n.range).is_some_and(|((a, b), (c, e))| {
                    let (old_fields, new_fields) = (
                        &self.old.caps[d.target.index()].fields,
                        &new_spec.caps[n.target.index()].fields,
                    );
                    (old_fields[a].name.as_str(), old_fields[b].name.as_str())
                        != (new_fields[c].name.as_str(), new_fields[e].name.as_str())
                })
            {
                self.push(
                    Break::new(
                        "B0020",
                        new(n.span),
                        format!("the rule splitting `{target}` by a range changed its `#[range]`"),
                        "another or no `#[range]` here",
                    )
                    .also(old(d.span), "`split_range` in the old spec"),
                );
            } else if d.at_offset && !n.at_offset {
                self.push(
                    Break::new(
                        "B0020",
                        new(n.span),
                        format!("the rule splitting `{target}` lost `#[at_offset]`"),
                        "no splits at an offset here",
                    )
                    .also(old(d.span), "`split_at` in the old spec"),
                );
            }
        }
    }

    fn error_sets(&mut self) {
        for e in &self.old.error_sets {
            let Some((_, n)) = find(&self.new.error_sets, &e.name, |e| &e.name) else {
                self.push(Break::new(
                    "B0014",
                    old(e.span),
                    format!("error set `{}` was removed", e.name),
                    "declared here in the old spec",
                ));
                continue;
            };
            for (i, v) in e.variants.iter().enumerate() {
                let number = i + 1;
                match find(&n.variants, &v.name, |v| &v.name) {
                    None => self.push(
                        Break::new(
                            "B0014",
                            old(v.span),
                            format!(
                                "error `{}::{}` (number {number}) was removed",
                                e.name, v.name
                            ),
                            "declared here in the old spec",
                        )
                        .also(new(n.span), "the set has no such variant here"),
                    ),
                    Some((j, nv)) => {
                        if j + 1 != number {
                            self.push(
                                Break::new(
                                    "B0015",
                                    new(nv.span),
                                    format!(
                                        "error `{}::{}` renumbered from {number} to {}",
                                        e.name,
                                        v.name,
                                        j + 1
                                    ),
                                    format!("number {} here", j + 1),
                                )
                                .also(old(v.span), format!("number {number} in the old spec"))
                                .note("an error's number is its position in its set, from 1"),
                            );
                        }
                        let typed =
                            |spec: &Spec, v: &capc_dsl::model::ErrorVariant| -> Vec<String> {
                                v.payload
                                    .iter()
                                    .zip(&v.payload_types)
                                    .map(|(name, (t, _))| match t {
                                        PayloadTy::Word => name.clone(),
                                        t => format!("{name}: {}", t.spelling(spec)),
                                    })
                                    // A variable-length rest, by its set.
                                    .chain(v.rest.iter().map(|(name, id)| {
                                        format!("{name}: ..{}", spec.error_sets[id.index()].name)
                                    }))
                                    .collect()
                            };
                        let (was, now) = (typed(self.old, v), typed(self.new, nv));
                        if was != now {
                            let words = |p: &[String]| {
                                if p.is_empty() {
                                    "no payload".to_string()
                                } else {
                                    format!("({})", p.join(", "))
                                }
                            };
                            self.push(
                                Break::new(
                                    "B0016",
                                    new(nv.span),
                                    format!(
                                        "the payload of error `{}::{}` changed from {} to {}",
                                        e.name,
                                        v.name,
                                        words(&was),
                                        words(&now)
                                    ),
                                    format!("{} here", words(&now)),
                                )
                                .also(old(v.span), format!("{} in the old spec", words(&was))),
                            );
                        }
                    }
                }
            }
        }
    }

    fn method_sets(&mut self, olds: &[MethodSet], news: &[MethodSet], what: &str) {
        for s in olds {
            let Some((_, n)) = find(news, &s.name, |s| &s.name) else {
                self.push(Break::new(
                    "B0011",
                    old(s.span),
                    format!(
                        "{what} `{}` removed, with its {} method{}",
                        s.name,
                        s.methods.len(),
                        if s.methods.len() == 1 { "" } else { "s" }
                    ),
                    "declared here in the old spec",
                ));
                continue;
            };
            let (was_set, now_set) = (
                &self.old.error_sets[s.errors.index()].name,
                &self.new.error_sets[n.errors.index()].name,
            );
            if was_set != now_set {
                self.push(
                    Break::new(
                        "B0015",
                        new(n.span),
                        format!(
                            "{what} `{}` returns errors of `{now_set}`, not `{was_set}`",
                            s.name
                        ),
                        format!("`{now_set}` here"),
                    )
                    .also(old(s.span), format!("`{was_set}` in the old spec")),
                );
            }
            if s.callback != n.callback {
                let kind = |callback: bool| {
                    if callback {
                        "a callback interface"
                    } else {
                        "an interface clients call"
                    }
                };
                self.push(
                    Break::new(
                        "B0058",
                        new(n.span),
                        format!(
                            "`{}` changed from {} to {}",
                            s.name,
                            kind(s.callback),
                            kind(n.callback)
                        ),
                        format!("{} here", kind(n.callback)),
                    )
                    .also(old(s.span), format!("{} in the old spec", kind(s.callback)))
                    .note("a callback interface's messages go from the server to the client: compiled code sends and handles them the other way round"),
                );
            }
            self.sessions(s, n);
            for m in &s.methods {
                match find(&n.methods, &m.name, |m| &m.name) {
                    None => self.push(
                        Break::new(
                            "B0011",
                            old(m.span),
                            format!(
                                "method `{}` (label {}) of {what} `{}` was removed",
                                m.name, m.label, s.name
                            ),
                            "declared here in the old spec",
                        )
                        .also(new(n.span), "no such method here"),
                    ),
                    Some((_, nm)) => self.method(s, m, nm, what),
                }
            }
        }
    }

    fn method(&mut self, s: &MethodSet, m: &Method, n: &Method, what: &str) {
        let whose = format!("`{}.{}`", s.name, m.name);
        if m.label != n.label {
            self.push(
                Break::new(
                    "B0012",
                    new(n.span),
                    format!(
                        "method {whose} changed label from {} to {}",
                        m.label, n.label
                    ),
                    format!("label {} here", n.label),
                )
                .also(old(m.span), format!("label {} in the old spec", m.label))
                .note(if what == "interface" {
                    "a method's label is its position in its interface, from 1".to_string()
                } else {
                    "a method's label is its `#[label(N)]`, else one more than the method before's (the first's is the block's `#[label_base(N)]`, else 1)".to_string()
                }),
            );
        }
        if m.oneway != n.oneway {
            let kind = |oneway: bool| if oneway { "one-way" } else { "a call" };
            self.push(
                Break::new(
                    "B0021",
                    new(n.span),
                    format!(
                        "method {whose} changed from {} to {}",
                        kind(m.oneway),
                        kind(n.oneway)
                    ),
                    format!("{} here", kind(n.oneway)),
                )
                .also(old(m.span), format!("{} in the old spec", kind(m.oneway)))
                .note("a compiled client of a call waits for a reply a one-way method never sends, and a compiled one-way client never takes the reply a call's server sends"),
            );
        }
        let (was_set, now_set) = (
            &self.old.error_sets[m.error_set.index()].name,
            &self.new.error_sets[n.error_set.index()].name,
        );
        let (was_block, now_block) = (
            &self.old.error_sets[s.errors.index()].name,
            find(&self.new.interfaces, &s.name, |s| &s.name)
                .or_else(|| find(&self.new.invocations, &s.name, |s| &s.name))
                .map(|(_, n)| &self.new.error_sets[n.errors.index()].name),
        );
        // A block that changed its set is B0015 already.
        if was_set != now_set && (was_set != was_block || Some(now_set) != now_block) {
            self.push(
                Break::new(
                    "B0050",
                    new(n.span),
                    format!("method {whose} returns errors of `{now_set}`, not `{was_set}`"),
                    format!("`{now_set}` here"),
                )
                .also(old(m.span), format!("`{was_set}` in the old spec"))
                .note("a reply's error number is a number in the method's error set: a compiled client would read it as an error of the old set"),
            );
        }
        for p in &m.params {
            let Some(q) = n.params.iter().find(|q| q.name == p.name) else {
                continue;
            };
            let name = |spec: &Spec, binds: Option<usize>| {
                binds.map_or("nothing".to_string(), |i| {
                    format!("`{}`", spec.interfaces[i].name)
                })
            };
            let (was, now) = (name(self.old, p.binds), name(self.new, q.binds));
            if was != now {
                self.push(
                    Break::new(
                        "B0059",
                        new(q.span),
                        format!(
                            "parameter `{}` of {whose} binds {now}, not {was}",
                            p.name
                        ),
                        format!("binds {now} here"),
                    )
                    .also(old(p.span), format!("binds {was} in the old spec"))
                    .note("a compiled server sends the bound interface's messages through the cap, and a compiled client handles the old one's"),
                );
            }
        }
        if m.idempotent && !n.idempotent {
            self.push(
                Break::new(
                    "B0051",
                    new(n.span),
                    format!("method {whose} is no longer idempotent"),
                    "not `#[idempotent]` here",
                )
                .also(old(m.span), "`#[idempotent]` in the old spec")
                .note("a compiled client calls an idempotent method again when its server died, which the method now says is not safe"),
            );
        }
        for (kind, was, now) in [
            ("parameter", &m.params, &n.params),
            ("result", &m.results, &n.results),
        ] {
            self.layout(&whose, kind, (m, was), (n, now));
        }
        let (was_donation, now_donation) = (donation_text(self.old, m), donation_text(self.new, n));
        if was_donation != now_donation {
            self.push(
                Break::new(
                    "B0013",
                    new(n.span),
                    format!(
                        "the donation of {whose} changed from {was_donation} to {now_donation}"
                    ),
                    format!("{now_donation} here"),
                )
                .also(old(m.span), format!("{was_donation} in the old spec"))
                .note("a donated Untyped travels as the request's last cap"),
            );
        } else if let (Some(d), Some(nd)) = (&m.donation, &n.donation)
            && nd.min_bytes > d.min_bytes
        {
            self.push(
                Break::new(
                    "B0018",
                    new(n.span),
                    format!(
                        "the minimum donation of {whose} was raised from {} to {} bytes",
                        d.min_bytes, nd.min_bytes
                    ),
                    format!("at least {} here", count(nd.min_bytes, "byte", "bytes")),
                )
                .also(
                    old(m.span),
                    format!(
                        "at least {} in the old spec",
                        count(d.min_bytes, "byte", "bytes")
                    ),
                ),
            );
        }
        let was = right_names(self.old, &m.requires);
        let added: Vec<String> = right_names(self.new, &n.requires)
            .into_iter()
            .filter(|r| !was.contains(r))
            .collect();
        if !added.is_empty() {
            self.push(
                Break::new(
                    "B0018",
                    new(n.span),
                    format!("method {whose} now requires {}", list(&added)),
                    "required here",
                )
                .also(
                    old(m.span),
                    if was.is_empty() {
                        "no rights required in the old spec".to_string()
                    } else {
                        format!("required {} in the old spec", list(&was))
                    },
                ),
            );
        }
    }

    /// Parameters (or results) of a method: each old one must be there,
    /// at the same place, of the same type; a cap must ask no more rights.
    /// A new one anywhere changes the message.
    fn layout(
        &mut self,
        whose: &str,
        kind: &str,
        (m, was): (&Method, &[MethodParam]),
        (n, now): (&Method, &[MethodParam]),
    ) {
        let (was_places, now_places) = (places(was), places(now));
        for (i, p) in was.iter().enumerate() {
            let Some((j, np)) = find(now, &p.name, |p| &p.name) else {
                self.push(
                    Break::new(
                        "B0013",
                        old(p.span),
                        format!("{kind} `{}` of {whose} was removed", p.name),
                        format!("{} in the old spec", place_text(was_places[i])),
                    )
                    .also(new(n.span), format!("no {kind} `{}` here", p.name)),
                );
                continue;
            };
            let (was_ty, now_ty) = (param_type(self.old, p), param_type(self.new, np));
            let (wp, np_) = (was_places[i], now_places[j]);
            // A packed parameter's bits are part of its place.
            let (wa, na) = (
                p.at.map(|a| (a.bit, a.width)),
                np.at.map(|a| (a.bit, a.width)),
            );
            if was_ty != now_ty || wp != np_ || i != j || wa != na {
                let message = if was_ty == now_ty && wp == np_ && wa == na {
                    format!(
                        "{kind} `{}` of {whose} moved from position {} to {}",
                        p.name,
                        i + 1,
                        j + 1
                    )
                } else {
                    format!(
                        "{kind} `{}` of {whose} changed: {was_ty} in {} before, {now_ty} in {} now",
                        p.name,
                        bits_text(wa, place_text(wp)),
                        bits_text(na, place_text(np_))
                    )
                };
                self.push(
                    Break::new(
                        "B0013",
                        new(np.span),
                        message,
                        format!("{kind} {} here", j + 1),
                    )
                    .also(old(p.span), format!("{kind} {} in the old spec", i + 1)),
                );
                continue;
            }
            let names = self.enumeration_names(p.values, np.values);
            if names.0 != names.1 {
                self.enumeration_changed(
                    format!("{kind} `{}` of {whose}", p.name),
                    (old(p.span), new(np.span)),
                    names,
                );
            }
            let names = (
                p.bitfield
                    .map(|b| self.old.bitfields[b.index()].name.clone()),
                np.bitfield
                    .map(|b| self.new.bitfields[b.index()].name.clone()),
            );
            if names.0 != names.1 {
                self.bitfield_changed(
                    format!("{kind} `{}` of {whose}", p.name),
                    (old(p.span), new(np.span)),
                    names,
                );
            }
            if let (ParamKind::Cap { rights: r, .. }, ParamKind::Cap { rights: nr, .. }) =
                (&p.kind, &np.kind)
            {
                let was_rights = right_names(self.old, r);
                let added: Vec<String> = right_names(self.new, nr)
                    .into_iter()
                    .filter(|x| !was_rights.contains(x))
                    .collect();
                if !added.is_empty() && kind == "parameter" {
                    self.push(
                        Break::new(
                            "B0018",
                            new(np.span),
                            format!(
                                "cap parameter `{}` of {whose} must now carry {}",
                                p.name,
                                list(&added)
                            ),
                            "asked for here",
                        )
                        .also(old(p.span), "the old spec did not ask for it"),
                    );
                }
            }
        }
        for (j, np) in now.iter().enumerate() {
            if find(was, &np.name, |p| &p.name).is_none() {
                self.push(
                    Break::new(
                        "B0013",
                        new(np.span),
                        format!("{kind} `{}` was added to {whose}", np.name),
                        format!("{} here", place_text(now_places[j])),
                    )
                    .also(
                        old(m.span),
                        format!("the method had no {kind} `{}` in the old spec", np.name),
                    )
                    .note("compiled callers and servers send and expect the old message"),
                );
            }
        }
    }
}

fn donation_text(spec: &Spec, m: &Method) -> String {
    match m.donation.as_ref().map(|d| &d.kind) {
        None => "no donation".into(),
        Some(DonationKind::Quota) => "a byte quota".into(),
        Some(DonationKind::Untyped(c)) => format!("a `{}` cap", spec.caps[c.index()].name),
    }
}

#[cfg(test)]
mod tests {
    use super::CODES;

    /// Every code is explained under its title (docs/tools.md), and codes
    /// are unique and in ascending order (ranges of numbers are given out
    /// to features ahead, so there may be gaps: B0021, then B0030).
    #[test]
    fn every_code_is_explained_under_its_title() {
        let mut previous = 0;
        for (code, title) in CODES {
            let number: u32 = code
                .strip_prefix('B')
                .filter(|n| n.len() == 4)
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{code} is not B and four digits"));
            assert!(number > previous, "{code} after B{previous:04}");
            previous = number;
            let text = crate::explain::explanation(code)
                .unwrap_or_else(|| panic!("{code} has no section in docs/tools.md"));
            assert!(
                text.starts_with(&format!("{code}: {title}\n")),
                "{code}: the section is headed `{}`",
                text.lines().next().unwrap_or("")
            );
        }
    }
}
