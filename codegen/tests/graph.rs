//! `capc graph`: the DOT text of the example specs (snapshotted in
//! snapshots/graph/), SVG through Graphviz when it is installed, a clear
//! message when it is not, and the exit codes of `capc check`.

mod common;

use common::{Scratch, UNKNOWN_NAME, capc, text, workspace};
use std::path::Path;
use std::process::Command;

fn has_dot() -> bool {
    Command::new("dot").arg("-V").output().is_ok()
}

#[test]
fn dot_of_the_example_specs() {
    insta::with_settings!({
        snapshot_path => workspace().join("snapshots/graph"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        for spec in [
            "kernel-demo/spec/kernel.cap",
            "kernel-demo/spec/decompress.cap",
            "examples/everything.cap",
        ] {
            let out = capc(&workspace(), &["graph", spec]);
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            let dot = text(&out.stdout);
            // Deterministic: a second run prints the same bytes.
            assert_eq!(text(&capc(&workspace(), &["graph", spec]).stdout), dot);
            let name = Path::new(spec).file_stem().unwrap().to_string_lossy().into_owned();
            insta::assert_snapshot!(name, dot);
        }
    });
}

#[test]
fn the_picture_in_docs_is_up_to_date() {
    let out = capc(&workspace(), &["graph", "kernel-demo/spec/kernel.cap"]);
    let committed = std::fs::read_to_string(workspace().join("docs/kernel-graph.dot"))
        .expect("docs/kernel-graph.dot is committed");
    assert!(
        text(&out.stdout) == committed,
        "docs/kernel-graph.dot is stale: run `capc graph kernel-demo/spec/kernel.cap -o docs/kernel-graph.dot` \
         and `-o docs/kernel-graph.svg`"
    );
}

#[test]
fn the_interface_shows_who_donates_what() {
    let out = capc(&workspace(), &["graph", "kernel-demo/spec/decompress.cap"]);
    let dot = text(&out.stdout);
    assert!(dot.contains(
        "\"cap UntypedCap\" -> \"interfaces\":\"Decompressor\":w [label=\"decompress: client donates >= 1 MiB + 8 KiB"
    ), "{dot}");
    assert!(
        dot.contains("decompress: up to 256 x Frame(12), 4 KiB each"),
        "{dot}"
    );
    assert!(dot.contains("\"cap FrameCap\" -> \"interfaces\":\"Decompressor\":w [label=\"decompress: lends input(read)\""), "{dot}");
}

#[test]
fn owned_slots_finalisers_and_mappings() {
    let out = capc(&workspace(), &["graph", "kernel-demo/spec/kernel.cap"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let dot = text(&out.stdout);
    // One purple edge per slot the TCB owns, in declaration order, drawn from
    // the TCB (the diamond) to the cap type, labelled with the slot's name,
    // required rights and offset, and kept out of the ranking.
    let slots: Vec<&str> = dot.lines().filter(|l| l.contains("#6b46c1")).collect();
    assert_eq!(
        slots,
        [
            "  \"cap FrameCap\" -> \"object Tcb\" [label=\"slot ipc_buffer(read, write)\\nat byte \
             1888 (0x760)\", dir=both, arrowhead=diamond, arrowtail=vee, constraint=false, \
             color=\"#6b46c1\", fontcolor=\"#6b46c1\"];",
            "  \"cap CNodeCap\" -> \"object Tcb\" [label=\"slot cspace\\nat byte 1920 (0x780)\", \
             dir=both, arrowhead=diamond, arrowtail=vee, constraint=false, color=\"#6b46c1\", \
             fontcolor=\"#6b46c1\"];",
            "  \"cap Pml4Cap\" -> \"object Tcb\" [label=\"slot vspace\\nat byte 1952 (0x7a0)\", \
             dir=both, arrowhead=diamond, arrowtail=vee, constraint=false, color=\"#6b46c1\", \
             fontcolor=\"#6b46c1\"];",
            "  \"cap EndpointCap\" -> \"object Tcb\" [label=\"slot fault_handler(write)\\nat byte \
             1984 (0x7c0)\", dir=both, arrowhead=diamond, arrowtail=vee, constraint=false, \
             color=\"#6b46c1\", fontcolor=\"#6b46c1\"];",
            "  \"cap ReplyCap\" -> \"object Tcb\" [label=\"slot caller\\nat byte 2016 (0x7e0)\", \
             dir=both, arrowhead=diamond, arrowtail=vee, constraint=false, color=\"#6b46c1\", \
             fontcolor=\"#6b46c1\"];",
        ]
    );
    // The dashed edge from a cap to the object it names is still there, and
    // not purple: the two kinds of edge between TcbCap, Tcb and the slots'
    // caps are told apart.
    assert!(
        dot.contains("  \"cap CNodeCap\" -> \"object CNode\" [style=dashed,"),
        "{dot}"
    );
    assert!(
        dot.contains("label=\"Tcb\\nkernel object, RAM\\n2 KiB\\nfinalise: stop_thread\"]"),
        "{dot}"
    );
    assert!(
        dot.contains("label=\"FrameCap (tag 6)\\nrights: read, write\\nmapping: each cap's own\\n"),
        "{dot}"
    );
    assert!(
        dot.contains("label=\"PdptCap (tag 8)\\nno rights\\nmapping: the object's, shared\\n"),
        "{dot}"
    );
    assert!(
        dot.contains(
            "(orange: device memory may take that path)<BR/>purple: a slot the object owns>"
        ),
        "{dot}"
    );
    // Without owned slots the legend does not mention them.
    let out = capc(&workspace(), &["graph", "examples/everything.cap"]);
    assert!(text(&out.stdout).contains("purple"));
    let s = Scratch::new("graph", "no-slots");
    let everything = std::fs::read_to_string(workspace().join("examples/everything.cap")).unwrap();
    // Each slot with the doc comment above it.
    let mut without = Vec::new();
    let mut docs = Vec::new();
    for line in everything.lines() {
        if line.trim_start().starts_with("///") {
            docs.push(line);
        } else if line.trim_start().starts_with("slot ") {
            docs.clear();
        } else {
            without.append(&mut docs);
            without.push(line);
        }
    }
    assert!(without.len() < everything.lines().count());
    let without = without.join("\n");
    std::fs::create_dir_all(s.path("lib")).unwrap();
    std::fs::copy(
        workspace().join("examples/lib/everything-base.cap"),
        s.path("lib/everything-base.cap"),
    )
    .unwrap();
    s.write("spec.cap", without);
    let out = capc(&s.dir, &["graph", "spec.cap"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let dot = text(&out.stdout);
    assert!(!dot.contains("purple") && !dot.contains("#6b46c1"), "{dot}");
}

#[test]
fn writes_dot_and_svg_files() {
    let s = Scratch::new("graph", "files");
    std::fs::copy(
        workspace().join("kernel-demo/spec/kernel.cap"),
        s.path("kernel.cap"),
    )
    .unwrap();
    let out = capc(&s.dir, &["graph", "kernel.cap", "-o", "k.dot"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let dot = std::fs::read_to_string(s.path("k.dot")).unwrap();
    assert!(
        dot.starts_with("// @generated by capc graph from kernel.cap"),
        "{dot}"
    );
    if !has_dot() {
        // `cargo xtask test` installs Graphviz; a plain `cargo test` on a
        // machine without it says what it did not check.
        assert!(
            std::env::var_os("CI").is_none(),
            "Graphviz's `dot` is missing in CI: `cargo xtask test` installs it"
        );
        eprintln!("writes_dot_and_svg_files: no `dot`, SVG not checked");
    } else {
        let out = capc(&s.dir, &["graph", "kernel.cap", "-o", "k.svg"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let svg = std::fs::read_to_string(s.path("k.svg")).unwrap();
        assert!(svg.contains("<svg") && svg.contains("UntypedCap"), "{svg}");
    }
}

#[test]
fn svg_without_graphviz_says_how_to_install_it() {
    let s = Scratch::new("graph", "no-dot");
    std::fs::copy(
        workspace().join("kernel-demo/spec/kernel.cap"),
        s.path("kernel.cap"),
    )
    .unwrap();
    // A PATH with no `dot` on it.
    let without_dot = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_capc"))
            .args(args)
            .current_dir(&s.dir)
            .env("PATH", &s.dir)
            .output()
            .expect("run capc")
    };
    let out = without_dot(&["graph", "kernel.cap", "-o", "k.svg"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("apt-get install -y graphviz"), "{stderr}");
    assert!(!s.path("k.svg").exists());
    let out = without_dot(&["graph", "kernel.cap", "--format", "png"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("PNG output needs Graphviz")
            && stderr.contains("apt-get install -y graphviz"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn exit_codes() {
    let s = Scratch::new("graph", "exit");
    s.write("bad.cap", UNKNOWN_NAME);
    let out = capc(&s.dir, &["graph", "bad.cap"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("E0100"));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        capc(&s.dir, &["graph", "missing.cap"]).status.code(),
        Some(2)
    );
    let out = capc(&s.dir, &["graph", "bad.cap", "-o", "x.jpg"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("`.dot`, `.svg` or `.png`") && stderr.contains("--format"),
        "{stderr}"
    );
    let help = text(&capc(&s.dir, &["graph", "--help"]).stdout);
    assert!(
        help.contains("Examples:") && help.contains("Exit status"),
        "{help}"
    );
}

#[test]
fn format_flag() {
    let s = Scratch::new("graph", "format");
    std::fs::copy(
        workspace().join("kernel-demo/spec/kernel.cap"),
        s.path("kernel.cap"),
    )
    .unwrap();
    let dot = text(&capc(&s.dir, &["graph", "kernel.cap"]).stdout);
    assert!(dot.starts_with("// @generated by capc graph"), "{dot}");
    // `--format dot` is the default, to standard output or to any file name.
    let out = capc(&s.dir, &["graph", "kernel.cap", "--format", "dot"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), dot);
    let out = capc(
        &s.dir,
        &["graph", "kernel.cap", "--format=dot", "-o", "k.txt"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(s.path("k.txt")).unwrap(), dot);
    // A format the extension contradicts is refused before anything is written.
    for (format, file) in [
        ("svg", "k.dot"),
        ("dot", "k.svg"),
        ("png", "k.svg"),
        ("svg", "k.png"),
    ] {
        let out = capc(
            &s.dir,
            &["graph", "kernel.cap", "--format", format, "-o", file],
        );
        assert_eq!(out.status.code(), Some(2), "--format {format} -o {file}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!("`--format {format}`"))
                && stderr.contains(&format!("`-o {file}`"))
                && !stderr.contains("panicked"),
            "{stderr}"
        );
        assert!(!s.path(file).exists());
    }
    // An unknown format is a usage error that lists the known ones.
    let out = capc(&s.dir, &["graph", "kernel.cap", "--format", "pdf"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("dot") && stderr.contains("svg") && stderr.contains("png"),
        "{stderr}"
    );
    let help = text(&capc(&s.dir, &["graph", "--help"]).stdout);
    assert!(help.contains("--format <FORMAT>"), "{help}");
    if !has_dot() {
        assert!(
            std::env::var_os("CI").is_none(),
            "Graphviz's `dot` is missing in CI: `cargo xtask test` installs it"
        );
        eprintln!("format_flag: no `dot`, SVG and PNG not checked");
        return;
    }
    // SVG and PNG to standard output, and to a file whose name says nothing.
    let out = capc(&s.dir, &["graph", "kernel.cap", "--format", "svg"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let svg = text(&out.stdout);
    assert!(svg.contains("<svg") && svg.contains("UntypedCap"), "{svg}");
    let out = capc(
        &s.dir,
        &["graph", "kernel.cap", "--format", "svg", "-o", "picture"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        std::fs::read_to_string(s.path("picture"))
            .unwrap()
            .contains("<svg")
    );
    let out = capc(&s.dir, &["graph", "kernel.cap", "--format", "png"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.starts_with(b"\x89PNG\r\n\x1a\n"));
    let out = capc(&s.dir, &["graph", "kernel.cap", "-o", "k.png"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        std::fs::read(s.path("k.png"))
            .unwrap()
            .starts_with(b"\x89PNG")
    );
}

/// One `<g class="node|edge|cluster">` of Graphviz's SVG: its title, the
/// points of its shapes and lines, and its texts.
struct Group {
    class: String,
    title: String,
    /// Every shape's points, edges' paths sampled along their curves.
    points: Vec<(f64, f64)>,
    /// Whether a path is dashed (`stroke-dasharray`).
    dashed: bool,
    texts: Vec<Text>,
}

struct Text {
    content: String,
    /// Estimated box: left, top, right, bottom.
    bbox: (f64, f64, f64, f64),
}

/// The value of `name="..."` in `tag`.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = start + tag[start..].find('"')?;
    Some(&tag[start..end])
}

fn numbers(text: &str) -> Vec<f64> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect()
}

fn unescape(text: &str) -> String {
    text.replace("&#45;", "-")
        .replace("&gt;", ">")
        .replace("&lt;", "<")
        .replace("&amp;", "&")
}

/// The nodes, edges and clusters of an SVG that `dot` wrote, and its height.
fn svg_groups(svg: &str) -> (Vec<Group>, f64) {
    let view_box = numbers(attribute(svg, "viewBox").expect("viewBox"));
    let mut groups = Vec::new();
    for chunk in svg.split("<g id=\"").skip(1) {
        let class = attribute(&format!(" {chunk}"), "class")
            .unwrap_or("")
            .to_string();
        if class == "graph" {
            continue;
        }
        let body = &chunk[..chunk.find("</g>").unwrap_or(chunk.len())];
        let title = body
            .split_once("<title>")
            .and_then(|(_, rest)| rest.split_once("</title>"))
            .map_or(String::new(), |(t, _)| unescape(t));
        let mut group = Group {
            class,
            title,
            points: Vec::new(),
            dashed: false,
            texts: Vec::new(),
        };
        for element in body.split('<').skip(1) {
            if element.starts_with("polygon") {
                let p = numbers(attribute(element, "points").unwrap_or(""));
                group.points.extend(p.chunks(2).map(|c| (c[0], c[1])));
            } else if element.starts_with("path") {
                group.dashed |= attribute(element, "stroke-dasharray").is_some();
                // `M x,y C x1,y1 x2,y2 x3,y3 ...`: sampled along each cubic.
                let p: Vec<(f64, f64)> = numbers(attribute(element, "d").unwrap_or(""))
                    .chunks(2)
                    .map(|c| (c[0], c[1]))
                    .collect();
                group.points.push(p[0]);
                for cubic in p[1..].chunks(3).filter(|c| c.len() == 3) {
                    let p0 = *group.points.last().unwrap();
                    for i in 1..=20 {
                        let t = f64::from(i) / 20.0;
                        let u = 1.0 - t;
                        let at = |a: f64, b: f64, c: f64, d: f64| {
                            u * u * u * a
                                + 3.0 * u * u * t * b
                                + 3.0 * u * t * t * c
                                + t * t * t * d
                        };
                        group.points.push((
                            at(p0.0, cubic[0].0, cubic[1].0, cubic[2].0),
                            at(p0.1, cubic[0].1, cubic[1].1, cubic[2].1),
                        ));
                    }
                }
            } else if element.starts_with("text") {
                let x: f64 = attribute(element, "x").unwrap().parse().unwrap();
                let y: f64 = attribute(element, "y").unwrap().parse().unwrap();
                let size: f64 = attribute(element, "font-size").unwrap().parse().unwrap();
                let content = unescape(&element[element.find('>').unwrap() + 1..]);
                // Helvetica averages about 0.55 em a character.
                let width = content.chars().count() as f64 * size * 0.55;
                let left = match attribute(element, "text-anchor") {
                    Some("middle") => x - width / 2.0,
                    Some("end") => x - width,
                    _ => x,
                };
                group.texts.push(Text {
                    content,
                    bbox: (left, y - size * 0.8, left + width, y + size * 0.2),
                });
            }
        }
        groups.push(group);
    }
    (groups, view_box[3])
}

fn bbox(points: &[(f64, f64)]) -> (f64, f64, f64, f64) {
    points.iter().fold(
        (f64::MAX, f64::MAX, f64::MIN, f64::MIN),
        |(l, t, r, b), &(x, y)| (l.min(x), t.min(y), r.max(x), b.max(y)),
    )
}

fn overlaps(a: (f64, f64, f64, f64), b: (f64, f64, f64, f64)) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

fn inside(p: (f64, f64), b: (f64, f64, f64, f64)) -> bool {
    b.0 < p.0 && p.0 < b.2 && b.1 < p.1 && p.1 < b.3
}

/// The picture `dot` draws: caps top to bottom in tag order, each object
/// level with the first cap that names it (so a cap's dashed edge to its
/// object is short and level), and no node, edge or edge label drawn over a
/// title.
#[test]
fn the_picture_is_laid_out_readably() {
    if !has_dot() {
        assert!(
            std::env::var_os("CI").is_none(),
            "Graphviz's `dot` is missing in CI: `cargo xtask test` installs it"
        );
        eprintln!("the_picture_is_laid_out_readably: no `dot`, the picture not checked");
        return;
    }
    for spec in [
        "kernel-demo/spec/kernel.cap",
        "kernel-demo/spec/decompress.cap",
        "examples/everything.cap",
    ] {
        let out = capc(&workspace(), &["graph", spec, "--format", "svg"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let svg = text(&out.stdout);
        let (groups, height) = svg_groups(&svg);
        let node = |title: &str| {
            groups
                .iter()
                .find(|g| g.class == "node" && g.title == title)
                .unwrap_or_else(|| panic!("{spec}: no node `{title}`"))
        };
        // Caps in tag order, top to bottom (SVG's y grows downwards).
        let dot = text(&capc(&workspace(), &["graph", spec]).stdout);
        let caps: Vec<&str> = dot
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("\"cap "))
            .filter_map(|l| l.split_once("\" [shape=note").map(|(name, _)| name))
            .collect();
        assert!(caps.len() > 5, "{spec}: {caps:?}");
        let tops: Vec<f64> = caps
            .iter()
            .map(|c| bbox(&node(&format!("cap {c}")).points).1)
            .collect();
        assert!(
            tops.windows(2).all(|w| w[0] < w[1]),
            "{spec}: caps not in tag order: {:?}",
            caps.iter().zip(&tops).collect::<Vec<_>>()
        );
        // Each object level with the first cap naming it; no dashed edge
        // from a cap to its object runs across the picture.
        let mut named = Vec::new();
        let cap_edges = groups
            .iter()
            .filter(|g| g.class == "edge" && g.dashed && g.title.starts_with("cap "));
        for edge in cap_edges {
            let (cap, object) = edge.title.split_once("->").unwrap();
            let (cap, object) = (
                cap.split(':').next().unwrap(),
                object.split(':').next().unwrap(),
            );
            assert!(
                cap.starts_with("cap ") && object.starts_with("object "),
                "{spec}: {}",
                edge.title
            );
            let (_, top, _, bottom) = bbox(&edge.points);
            assert!(
                bottom - top < height / 10.0,
                "{spec}: the edge {} spans {:.0} of {height:.0} points in height",
                edge.title,
                bottom - top
            );
            if named.contains(&object) {
                continue;
            }
            named.push(object);
            let cap_box = bbox(&node(cap).points);
            let object_box = bbox(&node(object).points);
            let centre = (object_box.1 + object_box.3) / 2.0;
            assert!(
                cap_box.1 < centre && centre < cap_box.3,
                "{spec}: {object} is not level with {cap}: {object_box:?}, {cap_box:?}"
            );
        }
        assert!(named.len() > 5, "{spec}: {named:?}");
        // Nothing drawn over a title: the titles of the parts, each in the
        // node or cluster that carries it.
        let mut titles = 0;
        for (index, group) in groups.iter().enumerate() {
            for title in group.texts.iter().filter(|t| {
                ["Cap types", "Object types", "RPC interfaces"]
                    .iter()
                    .any(|w| t.content.starts_with(w))
            }) {
                titles += 1;
                for (other_index, other) in groups.iter().enumerate() {
                    if other_index == index || other.class == "cluster" {
                        continue;
                    }
                    if other.class == "node" {
                        assert!(
                            !overlaps(title.bbox, bbox(&other.points)),
                            "{spec}: the node {} is drawn over the title {:?}",
                            other.title,
                            title.content
                        );
                    } else {
                        for label in &other.texts {
                            assert!(
                                !overlaps(title.bbox, label.bbox),
                                "{spec}: the label {:?} of {} is drawn over the title {:?}",
                                label.content,
                                other.title,
                                title.content
                            );
                        }
                        assert!(
                            !other.points.iter().any(|&p| inside(p, title.bbox)),
                            "{spec}: the edge {} is drawn over the title {:?}",
                            other.title,
                            title.content
                        );
                    }
                }
            }
        }
        let expected = if spec.contains("kernel.cap") { 2 } else { 3 };
        assert_eq!(titles, expected, "{spec}: the titles of the parts");
    }
}

/// A session interface's row says what a session is opened with and which
/// methods charge it, and a server-paid method what the server pays.
#[test]
fn the_interface_shows_what_a_session_pays() {
    let out = capc(&workspace(), &["graph", "dsl/tests/ui/pass/sessions.cap"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let dot = text(&out.stdout);
    for wanted in [
        "interface Mem<BR/>errors: MemError<BR/>session: the client donates &gt;= 16 KiB<BR/>allocate(): charged to the session<BR/>free(): free",
        "ping(): charged to the session",
        "stats(): the server pays &lt;= 64 B",
        "session: the client donates &gt;= 64 KiB",
    ] {
        assert!(dot.contains(wanted), "no `{wanted}` in\n{dot}");
    }
}

/// A spec with a `system` is drawn as the system: a table per domain with
/// a row per slot, the shared endpoint between its clients and its server
/// (`calls` from each client's slot, `serves` to the server's), and a
/// thick edge from each client to the server it pays.
#[test]
fn a_system_shows_domains_channels_and_who_pays_whom() {
    let spec = "examples/systems/decompress.cap";
    let out = capc(&workspace(), &["graph", spec]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let dot = text(&out.stdout);
    assert_eq!(text(&capc(&workspace(), &["graph", spec]).stdout), dot);
    for client in ["client", "bomber1", "bomber2"] {
        assert!(
            dot.contains(&format!(
                "\"decompress_demo domain {client}\":\"slot dec\":e -> \"decompress_demo object dec_ep\" [color=\"#2b6cb0\", label=\"calls Decompressor\\n1 call in flight\"];"
            )),
            "{client}: {dot}"
        );
        assert!(
            dot.contains(&format!(
                "\"decompress_demo domain {client}\" -> \"decompress_demo domain decompressor\" [color=\"#2f855a\", penwidth=2.5, constraint=false, label=\"pays decompressor\\ndecompress: donates UntypedCap >= 1 MiB + 8 KiB per call\\nsets aside 2 MiB\"];"
            )),
            "{client}: {dot}"
        );
    }
    assert!(dot.contains(
        "\"decompress_demo object dec_ep\" -> \"decompress_demo domain decompressor\":\"slot ep\":w [color=\"#2b6cb0\", label=\"serves Decompressor\"];"
    ), "{dot}");
    assert_eq!(dot.matches("pays decompressor").count(), 3, "{dot}");
    // The server pays nobody, and its budget holds its own objects only.
    assert!(
        !dot.contains("pays client") && !dot.contains("pays bomber"),
        "{dot}"
    );
    assert!(dot.contains("pays for its own objects only"), "{dot}");
    assert!(dot.contains("trusted: taken to pass on no cap"), "{dot}");
    insta::with_settings!({
        snapshot_path => workspace().join("snapshots/graph"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!("system-decompress", dot);
    });
}

#[test]
fn the_system_picture_in_docs_is_up_to_date() {
    let out = capc(&workspace(), &["graph", "examples/systems/decompress.cap"]);
    let committed = std::fs::read_to_string(workspace().join("docs/system-graph.dot"))
        .expect("docs/system-graph.dot is committed");
    assert!(
        text(&out.stdout) == committed,
        "docs/system-graph.dot is stale: run `capc graph examples/systems/decompress.cap -o docs/system-graph.dot` \
         and `-o docs/system-graph.svg`"
    );
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README.md");
    assert!(
        readme.contains("](docs/system-graph.svg)"),
        "README.md shows the system's picture"
    );
}

/// The system's picture as `dot` draws it: the clients left of the
/// endpoint they call through, the server right of it.
#[test]
fn the_system_picture_puts_clients_left_and_the_server_right() {
    if !has_dot() {
        assert!(
            std::env::var_os("CI").is_none(),
            "Graphviz's `dot` is missing in CI: `cargo xtask test` installs it"
        );
        eprintln!(
            "the_system_picture_puts_clients_left_and_the_server_right: no `dot`, not checked"
        );
        return;
    }
    let out = capc(
        &workspace(),
        &[
            "graph",
            "examples/systems/decompress.cap",
            "--format",
            "svg",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (groups, _) = svg_groups(&text(&out.stdout));
    let node = |title: &str| {
        let g = groups
            .iter()
            .find(|g| g.class == "node" && g.title == title)
            .unwrap_or_else(|| panic!("no node `{title}`"));
        bbox(&g.points)
    };
    let endpoint = node("decompress_demo object dec_ep");
    let server = node("decompress_demo domain decompressor");
    assert!(endpoint.2 < server.0, "{endpoint:?} {server:?}");
    for client in ["client", "bomber1", "bomber2"] {
        let c = node(&format!("decompress_demo domain {client}"));
        assert!(c.2 < endpoint.0, "{client}: {c:?} {endpoint:?}");
    }
}
