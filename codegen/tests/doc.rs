//! `capc doc`: the Markdown reference of the demo specs and the example
//! (snapshotted in snapshots/doc/), what it says about layouts, costs and
//! lifecycles, and the exit codes of `capc check`.

mod common;

use common::{Scratch, UNKNOWN_NAME, capc, text, workspace};

#[test]
fn reference_of_the_demo_specs() {
    let s = Scratch::new("doc", "demo");
    let out_dir = s.path("out");
    let out_dir = out_dir.to_str().unwrap();
    insta::with_settings!({
        snapshot_path => workspace().join("snapshots/doc"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        for (spec, page) in [
            ("kernel-demo/spec/kernel.cap", "kernel.md"),
            ("kernel-demo/spec/decompress.cap", "decompress.md"),
            ("examples/everything.cap", "everything.md"),
        ] {
            let out = capc(&workspace(), &["doc", spec, "-o", out_dir]);
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            let markdown = std::fs::read_to_string(s.path("out").join(page)).unwrap();
            insta::assert_snapshot!(page.trim_end_matches(".md"), markdown);
        }
    });
}

#[test]
fn the_page_shows_layouts_and_costs() {
    let s = Scratch::new("doc", "content");
    let out = capc(
        &workspace(),
        &[
            "doc",
            "kernel-demo/spec/decompress.cap",
            "-o",
            s.dir.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let page = std::fs::read_to_string(s.path("decompress.md")).unwrap();
    // The UntypedCap layout: base in word 0 above the 5-bit tag, the watermark in word 1.
    assert!(page.contains("| base (44) | tag (5) |"), "{page}");
    assert!(page.contains("| free_index (44) |"), "{page}");
    assert!(
        page.contains("| `base` | 0 | 5..49 | address aligned to 16 B, stored >> 4 |"),
        "{page}"
    );
    assert!(page.contains("costs the caller: an untyped cap `UntypedCap` of at least 1 MiB + 8 KiB (1056768 bytes)"), "{page}");
    assert!(
        page.contains("  - up to 256 × `Frame(12)`, 4 KiB each"),
        "{page}"
    );
    assert!(page.contains("#### `stats` (label 2)"), "{page}");
    assert!(
        page.contains("- costs the caller: nothing (no donation)"),
        "{page}"
    );
}

/// Barrelfish's splitting rules say how a cap splits: at offsets, or by a
/// range of its fields; a kernel-virtual pointer says its offset.
#[test]
fn the_page_shows_splits_at_offsets_ranges_and_virtual_pointers() {
    let s = Scratch::new("doc", "barrelfish");
    let out = capc(
        &workspace(),
        &[
            "doc",
            "examples/barrelfish/caps.cap",
            "-o",
            s.dir.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let page = std::fs::read_to_string(s.path("caps.md")).unwrap();
    for line in [
        "| `Frame` | `Frame` | one split from the start, or any at offsets that do not meet |",
        "| `IRQSrc` | `IRQSrc` | any sub-ranges of `vec_start..=vec_end` that do not meet |",
        "the object's kernel-virtual address: its address plus 0xfffffe0000000000",
        "the object's size in bytes (its size argument)",
        "- size: `bytes` bytes, any multiple of 4 KiB from 4096 to 18446744073709547520 (`#[bytes]`)",
        "- size: `bytes` bytes, any multiple of 16 KiB from 16384 to 18446744073709535232 (`#[bytes]`)",
    ] {
        assert!(page.contains(line), "{line}\n{page}");
    }
}

#[test]
fn the_page_shows_message_types_with_their_layout() {
    let s = Scratch::new("doc", "messages");
    let out = capc(
        &workspace(),
        &[
            "doc",
            "examples/messages.cap",
            "-o",
            s.dir.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let page = std::fs::read_to_string(s.path("messages.md")).unwrap();
    for line in [
        "## Message types",
        "### type `Name`",
        "25 bytes: `string<=24>`.",
        "29 bytes: a 1-byte discriminant at byte 0, then the variant's values.",
        "| 2 | `Link` | `Name` at byte 1, `Option<u16>` at byte 26 |",
        "| 54 | `mode` | `u16` | Permission bits. |",
        "fn list(start: u32) -> (entries: [Entry; ..=4], more: bool)",
        "fn note(level: u8, text: Name)\n```\n\nNote a line",
        "- one-way (`#[oneway]`): sent without waiting, never answered",
    ] {
        assert!(page.contains(line), "{line}\n{page}");
    }
    assert_eq!(page.matches("- one-way").count(), 1, "only `note`");
}

#[test]
fn the_page_shows_owned_slots_finalisers_and_mappings() {
    let s = Scratch::new("doc", "lifecycle");
    let out = capc(
        &workspace(),
        &[
            "doc",
            "kernel-demo/spec/kernel.cap",
            "-o",
            s.dir.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let page = std::fs::read_to_string(s.path("kernel.md")).unwrap();
    assert!(
        page.contains("| capability slot bits | 5 (32 B per slot) |"),
        "{page}"
    );
    // The TCB: its finaliser, then its slots, in the kernel's order; its
    // four slots at the end of its 2 KiB, with the rights each requires.
    let tcb = &page[page.find("### `Tcb`").unwrap()..page.find("### `Endpoint`").unwrap()];
    assert!(
        tcb.contains(
            "- when its last cap goes, the kernel, in order:\n  \
             1. deletes the caps in its owned slots (`ipc_buffer`, `cspace`, `vspace`, \
             `fault_handler`, `caller`)\n  \
             2. `stop_thread`: stops the thread and takes it off any queue; the reply cap \
             naming it, and any it holds, is deleted\n"
        ),
        "{tcb}"
    );
    assert!(
        tcb.contains(
            "| `ipc_buffer` | `FrameCap` | `read`, `write` | 1888 (0x760) | The frame holding the thread's IPC buffer (first: seL4's TCB_Configure checks it before the roots). |\n\
             | `cspace` | `CNodeCap` | no rights | 1920 (0x780) | Root of the thread's capability space. |\n\
             | `vspace` | `Pml4Cap` | no rights | 1952 (0x7a0) | required to run: Root of the thread's address space; a thread runs only with one. |\n\
             | `fault_handler` | `EndpointCap` | `write` | 1984 (0x7c0) | The endpoint the thread's faults go to (seL4 MCS's tcbFaultHandler). |\n\
             | `caller` | `ReplyCap` | no rights | 2016 (0x7e0) | The right to answer the call the thread took last (seL4's tcbCaller): only the kernel puts a cap here. |\n"
        ),
        "{tcb}"
    );
    // An object without slots or finalisers says nothing about either.
    let cnode = &page[page.find("### `CNode`").unwrap()..page.find("### `Tcb`").unwrap()];
    assert!(
        !cnode.contains("last cap") && !cnode.contains("Owned slots"),
        "{cnode}"
    );
    // `unmap` of a frame (each cap's mapping) and of a table (shared).
    assert!(
        page.contains("  1. `unmap`: unmaps the page its last cap is mapped at, if any"),
        "{page}"
    );
    assert!(
        page.contains("  1. `unmap`: unlinks it from the table its caps record it is mapped in"),
        "{page}"
    );
    assert!(
        page.contains("  1. `release_asid`: releases its address-space number"),
        "{page}"
    );
    // Whose a cap's mapping is, and the copy rule that follows.
    let frame_cap = &page[page.find("### `FrameCap`").unwrap()..];
    assert!(
        frame_cap.contains(
            "- mapping (`mapped_page`, `mapped_asid`) is each cap's own: a copy or mint starts \
             unmapped, and removing a mapped cap unmaps its page\n\
             - held in owned slots: `Tcb.ipc_buffer`\n"
        ),
        "{frame_cap}"
    );
    let pdpt_cap = &page[page.find("### `PdptCap`").unwrap()..];
    assert!(
        pdpt_cap.contains(
            "- mapping (`mapped_page`, `mapped_asid`) is the object's, shared by its caps: an \
             unmapped cap cannot be copied or minted, a copy of a mapped cap keeps the mapping, \
             and removing the last cap unlinks the object\n"
        ),
        "{pdpt_cap}"
    );
    let pml4_cap = &page[page.find("### `Pml4Cap`").unwrap()..page.find("### `PdptCap`").unwrap()];
    assert!(
        !pml4_cap.contains("- mapping") && pml4_cap.contains("- held in owned slots: `Tcb.vspace`"),
        "{pml4_cap}"
    );
}

#[test]
fn exit_codes() {
    let s = Scratch::new("doc", "exit");
    s.write("bad.cap", UNKNOWN_NAME);
    let out = capc(&s.dir, &["doc", "bad.cap", "-o", "out"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("E0100"));
    assert!(
        !s.path("out").exists(),
        "nothing is written for a spec with errors"
    );
    assert_eq!(
        capc(&s.dir, &["doc", "missing.cap", "-o", "out"])
            .status
            .code(),
        Some(2)
    );
    let out = capc(&s.dir, &["doc", "bad.cap"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "", "nothing on standard output either");
    s.write("file", "");
    std::fs::copy(
        workspace().join("kernel-demo/spec/kernel.cap"),
        s.path("kernel.cap"),
    )
    .unwrap();
    let out = capc(&s.dir, &["doc", "kernel.cap", "-o", "file"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "the output is a file, not a directory"
    );
    let help = text(&capc(&s.dir, &["doc", "--help"]).stdout);
    assert!(
        help.contains("Examples:") && help.contains("Exit status"),
        "{help}"
    );
}

/// The pages of the three example specs, by name.
fn pages(s: &Scratch) -> Vec<(&'static str, String)> {
    let out_dir = s.path("out");
    let out_dir = out_dir.to_str().unwrap();
    [
        ("kernel-demo/spec/kernel.cap", "kernel"),
        ("kernel-demo/spec/decompress.cap", "decompress"),
        ("examples/everything.cap", "everything"),
    ]
    .into_iter()
    .map(|(spec, name)| {
        let out = capc(&workspace(), &["doc", spec, "-o", out_dir]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let page = std::fs::read_to_string(s.path("out").join(format!("{name}.md"))).unwrap();
        (name, page)
    })
    .collect()
}

/// The rows of every Markdown table of `page`: header first, without the
/// `|---|` line.
fn tables(page: &str) -> Vec<Vec<Vec<String>>> {
    let mut tables = Vec::new();
    let mut current: Vec<Vec<String>> = Vec::new();
    for line in page.lines() {
        if let Some(inner) = line.strip_prefix('|').and_then(|l| l.strip_suffix('|')) {
            if !line.starts_with("|---") {
                current.push(inner.split(" | ").map(|c| c.trim().to_string()).collect());
            }
        } else if !current.is_empty() {
            tables.push(std::mem::take(&mut current));
        }
    }
    tables
}

#[test]
fn bit_ranges_are_half_open_low_to_high() {
    let s = Scratch::new("doc", "bits");
    for (name, page) in pages(&s) {
        assert!(
            page.contains("Bit ranges are half-open, low to high, as in docs/language.md"),
            "{name}"
        );
        let mut fields = 0;
        for table in tables(&page)
            .iter()
            .filter(|t| t[0].len() > 2 && t[0][..3] == ["field", "word", "bits"])
        {
            for row in &table[1..] {
                let (lo, hi) = row[2]
                    .split_once("..")
                    .unwrap_or_else(|| panic!("{name}: {row:?}"));
                let (lo, hi): (u32, u32) = (lo.parse().unwrap(), hi.parse().unwrap());
                assert!(lo < hi && hi <= 64, "{name}: {row:?}");
                fields += 1;
            }
        }
        assert!(fields > 10, "{name}");
    }
    let page = &pages(&s)[1].1;
    // One bit is a range of one: `is_device` is bit 55.
    assert!(
        page.contains("| `is_device` | 0 | 55..56 | bool |"),
        "{page}"
    );
    assert!(
        page.contains("| `free_index` | 1 | 0..44 | u44 |"),
        "{page}"
    );
}

#[test]
fn counts_and_sizes_read_as_english() {
    let s = Scratch::new("doc", "english");
    for (name, page) in pages(&s) {
        for wrong in [
            " 1 request words",
            " 1 reply words",
            " 1 values",
            " 1 entries",
        ] {
            assert!(!page.contains(wrong), "{name}: {wrong}");
        }
        // A size in bytes is not written twice (`48 B (48 bytes)`).
        for (i, _) in page.match_indices(" bytes)") {
            let open = page[..i].rfind('(').unwrap();
            let n = &page[open + 1..i];
            assert!(
                !page[..open].ends_with(&format!(" {n} B ")),
                "{name}: {}",
                &page[open.saturating_sub(40)..i + 7]
            );
        }
    }
    let everything = &pages(&s)[2].1;
    assert!(
        everything.contains("- message: 1 request word, 0 reply words\n"),
        "{everything}"
    );
    assert!(
        everything.contains("- message: 5 request words, 1 reply word\n"),
        "{everything}"
    );
    assert!(
        everything.contains(
            "a byte quota of at least 1 KiB (1024 bytes); the server's allocations need at most 48 bytes,"
        ),
        "{everything}"
    );
}

#[test]
fn every_column_has_a_name() {
    let s = Scratch::new("doc", "columns");
    for (name, page) in pages(&s) {
        for table in tables(&page) {
            assert!(
                table[0].iter().all(|c| !c.is_empty()),
                "{name}: {:?}",
                table[0]
            );
            assert!(
                table.iter().all(|row| row.len() == table[0].len()),
                "{name}: {table:?}"
            );
        }
    }
    // Without doc comments, no column of empty descriptions.
    s.write(
        "plain.cap",
        "target t {\n    address_bits = 48;\n    tag_bits = 5;\n    message_registers = 4;\n    \
         message_words = 16;\n    caps_per_message = 2;\n}\nconst X = 1;\nrights { read, write }\n",
    );
    let out = capc(&s.dir, &["doc", "plain.cap", "-o", "."]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let page = std::fs::read_to_string(s.path("plain.md")).unwrap();
    assert!(
        page.contains("| name | value |\n|---|---|\n| `X` | 1 |\n"),
        "{page}"
    );
    assert!(
        page.contains("| bit | right |\n|---|---|\n| 0 | `read` |\n"),
        "{page}"
    );
    assert!(!page.contains("description"), "{page}");
}

#[test]
fn imported_items_say_where_they_come_from() {
    let s = Scratch::new("doc", "imports");
    let pages = pages(&s);
    let (kernel, decompress, everything) = (&pages[0].1, &pages[1].1, &pages[2].1);
    assert!(!kernel.contains("mported"), "{kernel}");
    assert!(
        decompress.contains(
            "Imports `kernel.cap`: what it declares is marked *imported from `kernel.cap`*."
        ),
        "{decompress}"
    );
    let section = |page: &str, heading: &str| {
        let start = page.find(heading).unwrap_or_else(|| panic!("{heading}"));
        let end = page[start + 1..]
            .find("\n#")
            .map_or(page.len(), |e| start + 1 + e);
        page[start..end].to_string()
    };
    for heading in [
        "## Target `x86_64`",
        "### `Untyped`",
        "### `UntypedCap` (tag 1)",
        "### `KernelError`",
        "### Invocations on `CNodeCap`",
    ] {
        assert!(
            section(decompress, heading).contains("\n*Imported from `kernel.cap`.*\n"),
            "{heading}: {}",
            section(decompress, heading)
        );
    }
    let interface = section(decompress, "### Interface `Decompressor`");
    assert!(!interface.contains("mported"), "{interface}");
    // Tables with imported rows say which file each came from.
    assert!(
        decompress.contains("| name | value | imported from | description |"),
        "{decompress}"
    );
    assert!(
        decompress.contains("| `SLOT_BITS` | 5 | `kernel.cap` |"),
        "{decompress}"
    );
    assert!(
        decompress.contains("| `MAX_OUTPUT_PAGES` | 256 |  |"),
        "{decompress}"
    );
    // A path relative to the importing file.
    assert!(
        section(everything, "### `Untyped`")
            .contains("\n*Imported from `lib/everything-base.cap`.*\n"),
        "{everything}"
    );
    assert!(
        !section(everything, "### `Frame`").contains("mported"),
        "{everything}"
    );
}

#[test]
fn standard_output_without_o() {
    let s = Scratch::new("doc", "stdout");
    let pages = pages(&s);
    let out = capc(&workspace(), &["doc", "kernel-demo/spec/decompress.cap"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), pages[1].1);
    let help = text(&capc(&s.dir, &["doc", "--help"]).stdout);
    assert!(help.contains("standard output"), "{help}");
}

/// Who pays is on the page: a session's quota and what each method charges
/// it, the refunds, ranges, and a method the server pays for with its
/// bound.
#[test]
fn the_page_shows_who_pays() {
    let s = Scratch::new("doc", "sessions");
    let out = capc(
        &workspace(),
        &[
            "doc",
            "dsl/tests/ui/pass/sessions.cap",
            "-o",
            s.dir.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let page = std::fs::read_to_string(s.path("sessions.md")).unwrap();
    for line in [
        "Used through sessions: a client opens one with a byte quota of at least 16 KiB (16384 bytes), which pays for everything the server keeps for it; the server keeps 256 bytes per session; a charge that does not fit the quota fails with `OutOfQuota`.",
        "fn allocate(bits: u8 in 12..=30) -> (ram: grant cap UntypedCap)",
        "- charges the caller's session: 1 × `Untyped(bits)`, handed out with `ram`, until it is refunded",
        "- charges the caller's session: 64 bytes of server state, handed out with `ram`, until it is refunded",
        "- refunds the caller's session: what `ram` is, as `allocate` handed it out",
        "- charges the caller's session: `n` × `Endpoint`, for the call only",
        "- **paid by the server** (`server_pays`): up to 64 bytes of the server's own memory per call",
    ] {
        assert!(page.contains(line), "{line}\n{page}");
    }
    assert!(!page.contains("costs the caller: nothing"), "{page}");
}

/// A session that may be opened bound to a callback interface says so on
/// the page, and who pays for the cap (dsl/tests/ui/pass/session-binds.cap);
/// one that may not says nothing of it.
#[test]
fn the_page_shows_what_a_session_binds() {
    let s = Scratch::new("doc", "session-binds");
    for spec in ["session-binds", "sessions"] {
        let out = capc(
            &workspace(),
            &[
                "doc",
                &format!("dsl/tests/ui/pass/{spec}.cap"),
                "-o",
                s.dir.to_str().unwrap(),
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let bound = "A session may be opened bound to the callback interface";
    let page = std::fs::read_to_string(s.path("session-binds.md")).unwrap();
    assert!(
        page.contains(
            "A session may be opened bound to the callback interface `KeyEvents` with the cap the client receives its messages on: the server sends them to the session's client through it, and keeps it until the session closes, paid by what the session keeps."
        ),
        "{page}"
    );
    let page = std::fs::read_to_string(s.path("sessions.md")).unwrap();
    assert!(!page.contains(bound), "{page}");
}
