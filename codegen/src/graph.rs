//! `capc graph`: a checked spec as a Graphviz picture.
//!
//! Three parts, left to right: the cap types, a column in tag order (with
//! their rights, whose their mapping is, invocations, and a dashed edge to the
//! object each names); the RPC interfaces, a table (what a client lends,
//! grants and donates to call each method, and what the server may allocate
//! from the donation); and the object types, a column with each object level
//! with the first cap type that names it (each with what removing its last
//! cap undoes, an edge down the right of the column for every object a retype
//! rule lets an untyped type become, orange where device memory may take that
//! path, and a purple edge with a diamond at the owner from an object to the
//! cap type each of its owned slots holds). Each part's title is a node, so
//! nothing is drawn over it. The DOT text depends only on the spec, in
//! declaration order, so it is byte-for-byte reproducible; SVG and PNG are
//! made by Graphviz's `dot`, run as a subprocess. A spec that declares a
//! `system` is drawn as the system instead ([`system`]).

mod system;

use std::fmt::Write as _;
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use capc_dsl::ast::{ObjectKind, Transfer};

use crate::present::{bytes, bytes_pow};
use capc_dsl::model::{
    Allocation, Donation, DonationKind, Mapping, MethodParam, Object, ParamKind, SizeRule, Spec,
};

pub const GRAPH_EXAMPLES: &str = "\
Examples:
  capc graph kernel-demo/spec/kernel.cap > kernel.dot
  capc graph kernel-demo/spec/kernel.cap -o docs/kernel-graph.svg
  capc graph kernel-demo/spec/kernel.cap --format svg > kernel.svg
  capc graph kernel-demo/spec/decompress.cap --format png -o decompress.png

Without --format, the format is -o's extension (.dot or .gv, .svg, .png), and DOT on standard
output without -o; a --format that -o's extension contradicts is an error.
Cap types are a column in tag order, each level with the object it names (dashed edge);
object types are boxes (rounded: untyped memory; a folder: frames); an arrow down the right
from A to B says untyped A may be retyped into B; orange arrows and double borders mark
device memory; a purple edge with a diamond goes from an object to the cap type one of its
owned slots holds. Objects list their finalisers, cap types their rights and mapping;
interfaces show who lends, grants and donates what. A spec that declares a `system` is drawn
as the system: its domains, who calls and who serves which interface on which object, and who
pays whom (e.g. capc graph examples/systems/decompress.cap -o system.svg).
SVG and PNG need Graphviz's `dot` (Debian: apt-get install -y graphviz).
Exit status: 0 written, 1 the spec has errors, 2 usage or I/O error (or no `dot` for SVG or PNG).";

/// Arguments of `capc graph`.
#[derive(clap::Args)]
pub struct GraphArgs {
    /// The spec to draw (with the files it imports).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Write here instead of standard output; without --format, the extension picks the format.
    #[arg(short, long, value_name = "OUT.dot|OUT.svg|OUT.png")]
    output: Option<PathBuf>,
    /// The output format [default: -o's extension, or dot].
    #[arg(long, value_enum)]
    format: Option<Format>,
    #[command(flatten)]
    diagnostics: crate::diagnostics::DiagnosticArgs,
}

/// What `capc graph` writes.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Format {
    /// Graphviz DOT text (deterministic; needs nothing installed).
    Dot,
    /// An SVG picture, made by Graphviz's `dot`.
    Svg,
    /// A PNG picture, made by Graphviz's `dot`.
    Png,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Dot => "dot",
            Format::Svg => "svg",
            Format::Png => "png",
        }
    }

    /// The format a file name's extension says, if it says one.
    fn of_extension(extension: &str) -> Option<Format> {
        match extension.to_ascii_lowercase().as_str() {
            "dot" | "gv" => Some(Format::Dot),
            "svg" => Some(Format::Svg),
            "png" => Some(Format::Png),
            _ => None,
        }
    }
}

/// The format to write: `--format` if given (which an output extension that
/// names another format contradicts), else the output's extension, else DOT.
fn format(args: &GraphArgs) -> Result<Format, String> {
    let from_name = args
        .output
        .as_deref()
        .map(|path| (path, Format::of_extension(extension(path))));
    match (args.format, from_name) {
        (Some(format), Some((path, Some(named)))) if named != format => Err(format!(
            "`--format {}` and `-o {}` disagree: the extension says {}; \
             drop `--format`, or give a file name ending in `.{}`",
            format.name(),
            path.display(),
            named.name().to_uppercase(),
            format.name()
        )),
        (Some(format), _) => Ok(format),
        (None, Some((_, Some(named)))) => Ok(named),
        (None, Some((path, None))) => Err(format!(
            "cannot tell the format of `{}`: the output must end in `.dot`, `.svg` or `.png`, \
             or give `--format dot|svg|png`",
            path.display()
        )),
        (None, None) => Ok(Format::Dot),
    }
}

/// Runs `capc graph`.
pub fn run(args: &GraphArgs) -> ExitCode {
    let format = match format(args) {
        Ok(format) => format,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    if format == Format::Png && args.output.is_none() && std::io::stdout().is_terminal() {
        eprintln!(
            "error: a PNG is binary and standard output is a terminal: \
             write it with `-o FILE.png`, or redirect standard output"
        );
        return ExitCode::from(2);
    }
    let compilation = match crate::diagnostics::checked(&args.file, &args.diagnostics) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let spec = compilation.spec.as_ref().expect("checked");
    // A spec that declares a system is drawn as its systems; its kernel's
    // picture is the kernel spec's own.
    let dot = if spec.systems.is_empty() {
        render(spec, &display_name(&args.file))
    } else {
        system::render(spec, &display_name(&args.file))
    };
    let bytes = match format {
        Format::Dot => Ok(dot.into_bytes()),
        Format::Svg | Format::Png => graphviz(&dot, format),
    };
    let result = bytes.and_then(|bytes| match &args.output {
        None => std::io::stdout()
            .write_all(&bytes)
            .and_then(|()| std::io::stdout().flush())
            .map_err(|e| format!("cannot write standard output: {e}")),
        Some(path) => std::fs::write(path, bytes)
            .map_err(|e| format!("cannot write `{}`: {e}", path.display())),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn extension(path: &Path) -> &str {
    path.extension().and_then(|e| e.to_str()).unwrap_or("")
}

/// The file's name without directories, as generated files name their spec.
pub fn display_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Runs Graphviz's `dot -Tsvg` or `dot -Tpng` on `dot`.
fn graphviz(dot: &str, format: Format) -> Result<Vec<u8>, String> {
    let child = Command::new("dot")
        .arg(format!("-T{}", format.name()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "{} output needs Graphviz's `dot`, which is not installed: \
                 install it (Debian/Ubuntu: `apt-get install -y graphviz`), \
                 or write DOT (`--format dot`, or `-o FILE.dot`)",
                format.name().to_uppercase()
            ));
        }
        Err(e) => return Err(format!("cannot run `dot`: {e}")),
    };
    let mut stdin = child.stdin.take().expect("piped");
    let input = dot.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child
        .wait_with_output()
        .map_err(|e| format!("cannot run `dot`: {e}"))?;
    let _ = writer.join();
    if !output.status.success() {
        return Err(format!(
            "`dot -T{}` failed: {}",
            format.name(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(output.stdout)
}

// ---------------------------------------------------------------- rendering

/// The DOT text of `spec`; `name` is the spec's file name, for the title.
///
/// Left to right: the cap types in a column in tag order, then the
/// interfaces, then the object types in a column, each object level with the
/// first cap type that names it, so the dashed edge from a cap to its object
/// is short and level. The retype edges run down the right of the object
/// column. Each part's title is a node (the first of its column, or a table's
/// first row), as nothing is drawn over a node, where it would be over a
/// cluster's label.
pub fn render(spec: &Spec, name: &str) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "// @generated by capc graph from {}, do not edit.",
        capc::backend::comment_text(name)
    );
    let _ = writeln!(w, "digraph {} {{", quote(name.trim_end_matches(".cap")));
    let title = format!(
        "{name}: retype graph, cap types and interfaces (target {}, {}-bit addresses)",
        spec.target.name, spec.target.address_bits
    );
    let _ = writeln!(
        w,
        "  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=12, labelloc=t, label={}, \
         nodesep=0.25, ranksep=0.6];",
        quote(&title)
    );
    let _ = writeln!(w, "  node [fontname=\"Helvetica\", fontsize=10];");
    let _ = writeln!(w, "  edge [fontname=\"Helvetica\", fontsize=9];");
    // Edges go after the nodes, so each column lists only its own nodes.
    let mut edges = String::new();
    caps(w, &mut edges, spec);
    objects(w, &mut edges, spec);
    interfaces(w, &mut edges, spec);
    let _ = writeln!(w);
    w.push_str(&edges);
    let _ = writeln!(w, "}}");
    out
}

/// Writes `nodes` as one column, top to bottom in the order given: one rank,
/// held in order by invisible edges (a left-to-right layout draws the tail of
/// such an edge above its head).
fn column(w: &mut String, nodes: &[(String, String)]) {
    let _ = writeln!(w, "  {{");
    let _ = writeln!(w, "    rank=same;");
    for (node, attributes) in nodes {
        let _ = writeln!(w, "    {node} [{attributes}];");
    }
    for pair in nodes.windows(2) {
        let _ = writeln!(w, "    {} -> {} [style=invis];", pair[0].0, pair[1].0);
    }
    let _ = writeln!(w, "  }}");
}

/// A column's title: a bold first line, then the legend.
fn title_node(title: &str, legend: &[&str]) -> String {
    let mut label = format!("shape=plaintext, label=<<B>{}</B>", html(title));
    for line in legend {
        let _ = write!(label, "<BR/>{}", html(line));
    }
    label.push('>');
    label
}

/// The object types in the order of the first cap type that names each (in
/// tag order), then those no cap type names, in declaration order.
fn object_order(spec: &Spec) -> Vec<usize> {
    let first_tag = |object: usize| {
        spec.caps
            .iter()
            .filter(|c| c.object.is_some_and(|o| o.index() == object))
            .map(|c| c.tag)
            .min()
            .unwrap_or(u32::MAX)
    };
    let mut order: Vec<usize> = (0..spec.objects.len()).collect();
    order.sort_by_key(|&o| (first_tag(o), o));
    order
}

fn objects(w: &mut String, e: &mut String, spec: &Spec) {
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "  // Object types, each level with the first cap type that names it."
    );
    let mut legend = vec![
        "an arrow on the right from A to B:",
        "untyped A may be retyped into B",
        "(orange: device memory may take that path)",
    ];
    if spec.objects.iter().any(|o| !o.slots.is_empty()) {
        legend.push("purple: a slot the object owns");
    }
    let mut nodes = vec![(quote("title objects"), title_node("Object types", &legend))];
    for index in object_order(spec) {
        let object = &spec.objects[index];
        let (shape, style) = match object.kind {
            ObjectKind::Untyped => ("box", "rounded,filled"),
            ObjectKind::Frame => ("folder", "filled"),
            ObjectKind::Kernel => ("box", "filled"),
        };
        let fill = match object.kind {
            ObjectKind::Untyped => "#fff4d6",
            ObjectKind::Frame => "#e3f2e1",
            ObjectKind::Kernel => "#e6eefc",
        };
        let kind = match object.kind {
            ObjectKind::Untyped => "untyped",
            ObjectKind::Frame => "frame",
            ObjectKind::Kernel => "kernel object",
        };
        let mut label = format!(
            "{}\n{kind}, {}\n{}{}",
            object.name,
            memory(object),
            size_text(&object.size),
            object
                .align_bits
                .map_or(String::new(), |a| format!(", aligned to {}", bytes_pow(a))),
        );
        if !object.finalisers.is_empty() {
            let names: Vec<&str> = object.finalisers.iter().map(|f| f.name()).collect();
            let _ = write!(label, "\nfinalise: {}", names.join(", "));
        }
        if let Some(t) = &object.table {
            let _ = write!(
                label,
                "\ntable: {} x {}",
                t.entries,
                bytes_pow(t.entry_bits)
            );
        }
        let peripheries = if object.device { ", peripheries=2" } else { "" };
        nodes.push((
            object_node(&object.name),
            format!(
                "shape={shape}, style={style:?}, fillcolor={fill:?}{peripheries}, label={}",
                quote(&label)
            ),
        ));
    }
    column(w, &nodes);
    for rule in &spec.retypes {
        let cap = &spec.caps[rule.source.index()];
        let Some(source) = cap.object.map(|o| &spec.objects[o.index()]) else {
            continue;
        };
        for target in &rule.targets {
            let target = &spec.objects[target.index()];
            // The target's box says its sizes; the colour says whether
            // device memory may take this path.
            let color = if source.device && target.device {
                "#d9730d"
            } else {
                "#333333"
            };
            let _ = writeln!(
                e,
                "  {}:e -> {}:e [color={color:?}];",
                object_node(&source.name),
                object_node(&target.name),
            );
        }
        let _ = writeln!(
            e,
            "  // {} retypes up to {} objects per call",
            cap.name, rule.fan_out
        );
    }
    for object in &spec.objects {
        for slot in &object.slots {
            let rights = rights_list(spec, &slot.rights);
            // Written cap -> object and drawn object -> cap (the diamond at
            // the owner), and left out of the ranking, which the columns fix.
            let _ = writeln!(
                e,
                "  {} -> {} [label={}, dir=both, arrowhead=diamond, arrowtail=vee, \
                 constraint=false, color=\"#6b46c1\", fontcolor=\"#6b46c1\"];",
                cap_node(&spec.caps[slot.cap.index()].name),
                object_node(&object.name),
                quote(&format!(
                    "slot {}{rights}\nat byte {}",
                    slot.name,
                    crate::doc::slot_offset(slot)
                ))
            );
        }
    }
}

fn caps(w: &mut String, e: &mut String, spec: &Spec) {
    let _ = writeln!(w);
    let _ = writeln!(w, "  // Cap types in tag order.");
    let mut legend = vec![
        "tag, rights, invocations;",
        "dashed: the object a cap names",
    ];
    if !spec.derives.is_empty() {
        legend.push("blue on the right from A to B:");
        legend.push("B is derived from A (a loop: A splits)");
    }
    let mut nodes = vec![(quote("title caps"), title_node("Cap types", &legend))];
    for cap in &spec.caps {
        let mut label = format!("{} (tag {})", cap.name, cap.tag);
        if cap.rights.is_empty() {
            label.push_str("\nno rights");
        } else {
            let rights: Vec<&str> = cap
                .rights
                .iter()
                .map(|r| spec.rights[r.index()].name.as_str())
                .collect();
            let _ = write!(label, "\nrights: {}", rights.join(", "));
        }
        match cap.mapping {
            None => {}
            Some(Mapping::EachCap) => label.push_str("\nmapping: each cap's own"),
            Some(Mapping::Shared) => label.push_str("\nmapping: the object's, shared"),
        }
        let invocations = spec.invocations.iter().filter(|set| {
            set.cap
                .is_some_and(|c| spec.caps[c.index()].name == cap.name)
        });
        for set in invocations {
            let names: Vec<&str> = set.methods.iter().map(|m| m.name.as_str()).collect();
            let _ = write!(label, "\ninvocations: {}", wrap(&names, 40));
        }
        nodes.push((
            cap_node(&cap.name),
            format!(
                "shape=note, style=filled, fillcolor=\"#f4f4f4\", label={}",
                quote(&label)
            ),
        ));
    }
    // A byte quota pays like an Untyped cap: it goes last in the column.
    let quota = spec.interfaces.iter().any(|i| {
        i.methods.iter().any(|m| {
            m.donation
                .as_ref()
                .is_some_and(|d| d.kind == DonationKind::Quota)
        })
    });
    if quota {
        nodes.push((
            quote("quota"),
            "shape=cylinder, style=filled, fillcolor=\"#fff4d6\", \
             label=\"byte quota\\n(held by the server)\""
                .to_string(),
        ));
    }
    column(w, &nodes);
    for rule in &spec.derives {
        let multiple = if rule.multiple { ", any number" } else { "" };
        let _ = writeln!(
            e,
            "  {}:e -> {}:e [color=\"#2b6cb0\", constraint=false]; // derive{multiple}",
            cap_node(&spec.caps[rule.source.index()].name),
            cap_node(&spec.caps[rule.target.index()].name),
        );
    }
    // Heavy: `dot` then draws each object level with its cap.
    for cap in &spec.caps {
        if let Some(object) = cap.object {
            let _ = writeln!(
                e,
                "  {} -> {} [style=dashed, weight=10, arrowhead=vee, color=\"#888888\"];",
                cap_node(&cap.name),
                object_node(&spec.objects[object.index()].name)
            );
        }
    }
}

fn interfaces(w: &mut String, e: &mut String, spec: &Spec) {
    if spec.interfaces.is_empty() {
        return;
    }
    let _ = writeln!(w);
    // One node, a table with a row per interface, its title the first row.
    let mut rows = vec![format!(
        "<TR><TD BORDER=\"0\"><B>RPC interfaces</B><BR/>{}</TD></TR>",
        html("what a client lends, grants and donates per call")
    )];
    for set in &spec.interfaces {
        let mut lines = vec![
            format!("interface {}", set.name),
            format!("errors: {}", spec.error_sets[set.errors.index()].name),
        ];
        if let Some(session) = &set.session {
            lines.push(format!(
                "session: the client donates >= {}",
                bytes(session.min_bytes)
            ));
        }
        for m in &set.methods {
            let charged = m.charges.as_ref().is_some_and(|c| !c.charges.is_empty());
            let cost = match (&m.donation, m.server_pays) {
                (Some(d), _) => format!("costs the caller >= {}", bytes(d.min_bytes)),
                (None, Some(n)) => format!("the server pays <= {}", bytes(n)),
                (None, None) if charged => "charged to the session".to_string(),
                (None, None) => "free".to_string(),
            };
            lines.push(format!("{}(): {cost}", m.name));
        }
        let lines: Vec<String> = lines.iter().map(|l| html(l)).collect();
        rows.push(format!(
            "<TR><TD PORT={} BGCOLOR=\"#fde7e9\">{}</TD></TR>",
            quote(&set.name),
            lines.join("<BR/>")
        ));
    }
    let _ = writeln!(
        w,
        "  \"interfaces\" [shape=plain, label=<<TABLE BORDER=\"0\" CELLBORDER=\"1\" \
         CELLSPACING=\"6\" CELLPADDING=\"4\">"
    );
    for row in rows {
        let _ = writeln!(w, "    {row}");
    }
    let _ = writeln!(w, "  </TABLE>>];");
    for set in &spec.interfaces {
        for method in &set.methods {
            for param in &method.params {
                transfer_edge(e, spec, &set.name, method.name.as_str(), param, false);
            }
            for result in &method.results {
                transfer_edge(e, spec, &set.name, method.name.as_str(), result, true);
            }
            if let Some(donation) = &method.donation {
                donation_edges(e, spec, &set.name, &method.name, donation);
            }
        }
    }
}

/// An edge for a cap that travels: lent or granted to the server, or granted back.
fn transfer_edge(
    w: &mut String,
    spec: &Spec,
    interface: &str,
    method: &str,
    param: &MethodParam,
    result: bool,
) {
    let ParamKind::Cap {
        transfer,
        cap,
        rights,
        ..
    } = &param.kind
    else {
        return;
    };
    let verb = match (transfer, result) {
        (Transfer::Lend, _) => "lends",
        (Transfer::Grant, false) => "grants",
        (Transfer::Grant, true) => "returns",
        (Transfer::Move, false) => "moves",
        (Transfer::Move, true) => "returns (moved)",
        (Transfer::Lookup, _) => "names",
    };
    let rights = rights_list(spec, rights);
    let label = format!("{method}: {verb} {}{rights}", param.name);
    let cap = cap_node(&spec.caps[cap.index()].name);
    let node = interface_in(interface);
    // A result goes back to the client, against the columns' order: it is
    // left out of the ranking.
    let (from, to, constraint) = if result {
        (node.as_str(), cap.as_str(), ", constraint=false")
    } else {
        (cap.as_str(), node.as_str(), "")
    };
    let _ = writeln!(
        w,
        "  {from} -> {to} [label={}, color=\"#2b6cb0\", fontcolor=\"#2b6cb0\"{constraint}];",
        quote(&label)
    );
}

/// The donation edge into the interface and the allocation edges out of it.
fn donation_edges(w: &mut String, spec: &Spec, interface: &str, method: &str, donation: &Donation) {
    let from = match donation.kind {
        DonationKind::Quota => quote("quota"),
        DonationKind::Untyped(cap) => cap_node(&spec.caps[cap.index()].name),
    };
    let label = format!(
        "{method}: client donates >= {}\n(worst case {})",
        bytes(donation.min_bytes),
        bytes(donation.worst_case_bytes)
    );
    let _ = writeln!(
        w,
        "  {from} -> {} [label={}, color=\"#b7791f\", fontcolor=\"#b7791f\", penwidth=2];",
        interface_in(interface),
        quote(&label)
    );
    for allocation in &donation.allocations {
        let label = format!(
            "{method}: up to {} x {}, {} each",
            allocation.count,
            allocated(spec, allocation),
            bytes_pow(allocation.size_bits)
        );
        let _ = writeln!(
            w,
            "  {} -> {} [label={}, style=dotted, color=\"#b7791f\", fontcolor=\"#b7791f\"];",
            interface_out(interface),
            object_node(&spec.objects[allocation.object.index()].name),
            quote(&label)
        );
    }
}

fn object_node(name: &str) -> String {
    quote(&format!("object {name}"))
}

fn cap_node(name: &str) -> String {
    quote(&format!("cap {name}"))
}

/// An interface's row of the interfaces table, for edges from the client's side.
fn interface_in(name: &str) -> String {
    format!("\"interfaces\":{}:w", quote(name))
}

/// An interface's row of the interfaces table, for edges to what it allocates.
fn interface_out(name: &str) -> String {
    format!("\"interfaces\":{}:e", quote(name))
}

/// Text escaped for an HTML-like label.
fn html(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// A DOT string literal; `\n` in `text` becomes a centred line break.
fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn memory(object: &Object) -> &'static str {
    match (object.ram, object.device) {
        (true, true) => "RAM or device",
        (false, true) => "device only",
        _ => "RAM",
    }
}

/// `2^bits for bits in 4..=47: 16 B .. 128 TiB`, or one size.
fn size_text(size: &SizeRule) -> String {
    match &size.param {
        None => bytes_pow(size.min_bits()),
        Some(param) => format!(
            "{param} in {}: {}",
            args_text(size),
            size_range(size.min_bits(), size.max_bits())
        ),
    }
}

/// `4..=47` for a contiguous range, `{12, 21}` otherwise.
fn args_text(size: &SizeRule) -> String {
    let args: Vec<u64> = size.table.iter().map(|(a, _)| *a).collect();
    let contiguous = args.windows(2).all(|w| w[1] == w[0] + 1);
    if contiguous && args.len() > 2 {
        format!("{}..={}", size.min_arg(), size.max_arg())
    } else {
        let list: Vec<String> = args.iter().map(u64::to_string).collect();
        format!("{{{}}}", list.join(", "))
    }
}

fn size_range(min_bits: u32, max_bits: u32) -> String {
    if min_bits == max_bits {
        bytes_pow(min_bits)
    } else {
        format!("{} .. {}", bytes_pow(min_bits), bytes_pow(max_bits))
    }
}

/// The object an allocation makes, as the spec writes it: `Frame(12)`, or
/// `Tcb` for a type without a size argument.
pub fn allocated(spec: &Spec, allocation: &Allocation) -> String {
    let object = &spec.objects[allocation.object.index()];
    if object.size.param.is_some() {
        format!("{}({})", object.name, allocation.arg)
    } else {
        object.name.clone()
    }
}

/// Rights as the spec writes them after a cap type: `(read, write)`, or
/// nothing for none.
pub fn rights_list(spec: &Spec, rights: &[capc_dsl::model::RightId]) -> String {
    if rights.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = rights
        .iter()
        .map(|r| spec.rights[r.index()].name.as_str())
        .collect();
    format!("({})", names.join(", "))
}

/// Names joined by `, `, with a line break before a line grows past `width`.
fn wrap(names: &[&str], width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.push(',');
            line += 1;
            if line + name.len() + 1 > width {
                out.push('\n');
                line = 0;
            } else {
                out.push(' ');
                line += 1;
            }
        }
        out.push_str(name);
        line += name.len();
    }
    out
}
