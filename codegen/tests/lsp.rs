//! `capc lsp`, driven like an editor drives it: real JSON-RPC messages with
//! `Content-Length` framing over the child's stdin and stdout.
//!
//! One session opens a spec with an error, fixes it, asks for hover, go to
//! definition and document symbols, and shuts the server down.

mod common;

use common::{Scratch, UNKNOWN_NAME};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

struct Session {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
    next_id: i64,
}

impl Session {
    fn start() -> Session {
        let mut child = Command::new(env!("CARGO_BIN_EXE_capc"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start capc lsp");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let (send, messages) = channel();
        std::thread::spawn(move || {
            loop {
                let mut length = None;
                loop {
                    let mut line = String::new();
                    if stdout.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(n) = line.strip_prefix("Content-Length: ") {
                        length = n.parse::<usize>().ok();
                    }
                }
                let mut body = vec![0; length.expect("a Content-Length header")];
                stdout.read_exact(&mut body).unwrap();
                if send.send(serde_json::from_slice(&body).unwrap()).is_err() {
                    return;
                }
            }
        });
        Session {
            child,
            stdin,
            messages,
            next_id: 1,
        }
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and returns its response's `result`.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let response = self.wait_for(|m| m["id"] == json!(id));
        assert!(response.get("error").is_none(), "{response}");
        response["result"].clone()
    }

    /// Sends a request that must fail and returns its response's `error`.
    fn request_error(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let response = self.wait_for(|m| m["id"] == json!(id));
        assert!(response.get("result").is_none(), "{response}");
        response["error"].clone()
    }

    /// The next message that satisfies `pred`, skipping others.
    fn wait_for(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let message = self
                .messages
                .recv_timeout(Duration::from_secs(30))
                .expect("capc lsp answers within 30 s");
            if pred(&message) {
                return message;
            }
        }
    }

    fn diagnostics(&mut self) -> Vec<Value> {
        let published = self.wait_for(|m| m["method"] == json!("textDocument/publishDiagnostics"));
        published["params"]["diagnostics"]
            .as_array()
            .unwrap()
            .clone()
    }
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// The line and UTF-16 column of the first `needle` after `after` in `text`.
fn position_of(text: &str, after: &str, needle: &str) -> Value {
    let start = text.find(after).unwrap();
    let offset = start + text[start..].find(needle).unwrap();
    let line = text[..offset].matches('\n').count();
    let column = offset - text[..offset].rfind('\n').map_or(0, |i| i + 1);
    json!({"line": line, "character": column})
}

#[test]
fn an_editor_session() {
    let s = Scratch::new("lsp", "session");
    let path = s.path("spec.cap");
    let kernel = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../kernel-demo/spec/kernel.cap"),
    )
    .unwrap();
    let uri = uri(&path);
    let doc = json!({"uri": uri});

    let mut session = Session::start();
    let init = session.request(
        "initialize",
        json!({"processId": null, "rootUri": null, "capabilities": {}}),
    );
    let capabilities = &init["capabilities"];
    assert_eq!(capabilities["hoverProvider"], json!(true), "{init}");
    assert_eq!(capabilities["definitionProvider"], json!(true));
    assert_eq!(capabilities["documentSymbolProvider"], json!(true));
    assert_eq!(capabilities["textDocumentSync"], json!(1), "full sync");
    session.notify("initialized", json!({}));

    // Open a spec with an error: `UNKNOWN` on line 8 (0-based 7), columns 14..21.
    session.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "cap", "version": 1, "text": UNKNOWN_NAME}}),
    );
    let diagnostics = session.diagnostics();
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    let d = &diagnostics[0];
    assert_eq!(d["code"], json!("E0100"));
    assert_eq!(d["severity"], json!(1));
    assert_eq!(d["source"], json!("capc"));
    assert_eq!(
        d["range"],
        json!({"start": {"line": 7, "character": 14}, "end": {"line": 7, "character": 21}})
    );
    assert!(d["message"].as_str().unwrap().contains("help:"), "{d}");

    // Fix it: the kernel spec checks clean.
    session.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": kernel}]}),
    );
    assert_eq!(session.diagnostics(), Vec::<Value>::new());

    // Hover over `UntypedCap` in `retype UntypedCap {`: docs, tag and layout.
    let at = position_of(&kernel, "retype UntypedCap", "UntypedCap");
    let hover = session.request(
        "textDocument/hover",
        json!({"textDocument": doc, "position": at}),
    );
    let value = hover["contents"]["value"].as_str().unwrap();
    assert_eq!(hover["contents"]["kind"], json!("markdown"));
    assert!(value.contains("cap `UntypedCap` (tag 1)"), "{value}");
    assert!(
        value.contains("A capability to a region of Untyped memory."),
        "{value}"
    );
    assert!(value.contains("| base (44) | tag (5) |"), "{value}");

    // Hover over an object: its size.
    let at = position_of(&kernel, "cap TcbCap for Tcb", "Tcb {");
    let hover = session.request(
        "textDocument/hover",
        json!({"textDocument": doc, "position": at}),
    );
    let value = hover["contents"]["value"].as_str().unwrap();
    assert!(value.contains("object `Tcb`: size 2 KiB"), "{value}");
    // ... what removing its last cap undoes, in the kernel's order, and its
    // slots at the end of its 2 KiB, 32 bytes each.
    assert!(
        value.contains(
            "When its last cap goes, the kernel, in order:\n\n\
             1. deletes the caps in its owned slots (`ipc_buffer`, `cspace`, `vspace`, \
             `fault_handler`, `caller`)\n\
             2. `stop_thread`: stops the thread and takes it off any queue; the reply cap \
             naming it, and any it holds, is deleted"
        ),
        "{value}"
    );
    assert!(
        value.contains(
            "Owned slots, 32 B each:\n\n\
             - `ipc_buffer`: `FrameCap(read, write)` at byte 1888 (0x760)\n\
             - `cspace`: `CNodeCap` at byte 1920 (0x780)\n\
             - `vspace`: `Pml4Cap` at byte 1952 (0x7a0)\n\
             - `fault_handler`: `EndpointCap(write)` at byte 1984 (0x7c0)\n\
             - `caller`: `ReplyCap` at byte 2016 (0x7e0)"
        ),
        "{value}"
    );

    // Hover over a slot: its cap type, the rights it requires and its offset.
    let at = position_of(&kernel, "slot ipc_buffer", "ipc_buffer");
    let hover = session.request(
        "textDocument/hover",
        json!({"textDocument": doc, "position": at}),
    );
    let value = hover["contents"]["value"].as_str().unwrap();
    assert!(
        value.starts_with(
            "slot `Tcb.ipc_buffer`: `FrameCap(read, write)` at byte 1888 (0x760) of `Tcb`\n\n\
             A cap put there must carry `read`, `write`;"
        ),
        "{value}"
    );
    assert!(
        value.ends_with(
            "The frame holding the thread's IPC buffer (first: seL4's\nTCB_Configure checks it before the roots)."
        ),
        "{value}"
    );
    let at = position_of(&kernel, "slot cspace", "cspace");
    let hover = session.request(
        "textDocument/hover",
        json!({"textDocument": doc, "position": at}),
    );
    let value = hover["contents"]["value"].as_str().unwrap();
    assert!(
        value.contains("`CNodeCap` at byte 1920 (0x780) of `Tcb`")
            && value.contains("must carry no rights"),
        "{value}"
    );

    // Hover over a finaliser: what it undoes for the object that lists it;
    // `unmap` of a frame and of a table say different things.
    let at = position_of(&kernel, "finalise = stop_thread", "stop_thread");
    let hover = session.request(
        "textDocument/hover",
        json!({"textDocument": doc, "position": at}),
    );
    let value = hover["contents"]["value"].as_str().unwrap();
    assert!(
        value.starts_with("finaliser `stop_thread` of `Tcb`: when the last cap to it goes, the kernel stops the thread"),
        "{value}"
    );
    let at = position_of(&kernel, "object PageTable", "unmap");
    let hover = session.request(
        "textDocument/hover",
        json!({"textDocument": doc, "position": at}),
    );
    let value = hover["contents"]["value"].as_str().unwrap();
    assert!(
        value.contains("finaliser `unmap` of `Frame`: when the last cap to it goes, the kernel unmaps the page its last cap is mapped at")
            && value.contains("finaliser `unmap` of `PageTable`: when the last cap to it goes, the kernel unlinks it from the table its caps record it is mapped in"),
        "{value}"
    );

    // Go to the definition of `CNodeCap` from a method parameter.
    let at = position_of(&kernel, "fn retype(", "CNodeCap");
    let definition = session.request(
        "textDocument/definition",
        json!({"textDocument": doc, "position": at}),
    );
    assert_eq!(definition["uri"], json!(uri), "{definition}");
    let line = kernel[..kernel.find("cap CNodeCap for CNode").unwrap()]
        .matches('\n')
        .count();
    assert_eq!(
        definition["range"]["start"]["line"],
        json!(line),
        "{definition}"
    );

    // ... and from a slot's cap type.
    let at = position_of(&kernel, "slot cspace: CNodeCap", "CNodeCap");
    let definition = session.request(
        "textDocument/definition",
        json!({"textDocument": doc, "position": at}),
    );
    assert_eq!(
        definition["range"]["start"]["line"],
        json!(line),
        "{definition}"
    );

    // Document symbols: items with their members.
    let symbols = session.request("textDocument/documentSymbol", json!({"textDocument": doc}));
    let symbols = symbols.as_array().unwrap();
    let untyped_cap = symbols
        .iter()
        .find(|s| s["name"] == json!("UntypedCap"))
        .expect("UntypedCap is a symbol");
    assert_eq!(untyped_cap["kind"], json!(23), "struct");
    let fields: Vec<&Value> = untyped_cap["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["name"])
        .collect();
    assert_eq!(
        fields,
        [
            &json!("base"),
            &json!("bits"),
            &json!("free_index"),
            &json!("is_device")
        ]
    );
    assert!(
        symbols
            .iter()
            .any(|s| s["name"] == json!("invocations CNodeCap"))
    );
    // An object's owned slots are its children, with their cap types.
    let tcb = symbols
        .iter()
        .find(|s| s["name"] == json!("Tcb"))
        .expect("Tcb is a symbol");
    assert_eq!(tcb["detail"], json!("object"));
    let slots: Vec<(&Value, &Value, &Value)> = tcb["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (&s["name"], &s["detail"], &s["kind"]))
        .collect();
    assert_eq!(
        slots,
        [
            (
                &json!("ipc_buffer"),
                &json!("slot: FrameCap(read, write)"),
                &json!(8)
            ),
            (&json!("cspace"), &json!("slot: CNodeCap"), &json!(8)),
            (&json!("vspace"), &json!("slot: Pml4Cap"), &json!(8)),
            (
                &json!("fault_handler"),
                &json!("slot: EndpointCap(write)"),
                &json!(8)
            ),
            (&json!("caller"), &json!("slot: ReplyCap"), &json!(8)),
        ]
    );
    let slot_line = kernel[..kernel.find("slot ipc_buffer").unwrap()]
        .matches('\n')
        .count();
    assert_eq!(
        tcb["children"][0]["selectionRange"]["start"],
        json!({"line": slot_line, "character": 9})
    );

    // A broken edit keeps hover working from the last version that checked.
    let broken = kernel.replace("size = 2 KiB;", "size = 2 KiB");
    session.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 3}, "contentChanges": [{"text": broken}]}),
    );
    let diagnostics = session.diagnostics();
    assert_eq!(diagnostics[0]["code"], json!("E0001"));
    let at = position_of(&broken, "retype UntypedCap", "UntypedCap");
    let hover = session.request(
        "textDocument/hover",
        json!({"textDocument": doc, "position": at}),
    );
    assert!(
        hover["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("(tag 1)")
    );

    // An unknown request is an error, not a crash; so are bad parameters.
    let error = session.request_error("textDocument/implementation", json!({}));
    assert_eq!(error["code"], json!(-32601));
    let error = session.request_error("textDocument/rename", json!({}));
    assert_eq!(error["code"], json!(-32602));

    assert_eq!(session.request("shutdown", Value::Null), Value::Null);
    session.notify("exit", Value::Null);
    let status = session.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

/// Formatting a document gives `capc fmt`'s layout as one edit over the
/// whole text, nothing for a formatted one, and no edit while it does not
/// parse.
#[test]
fn formatting_is_capc_fmt() {
    let mut session = Session::start();
    let init = session.request(
        "initialize",
        json!({"processId": null, "rootUri": null, "capabilities": {}}),
    );
    assert_eq!(
        init["capabilities"]["documentFormattingProvider"],
        json!(true)
    );
    session.notify("initialized", json!({}));
    let uri = "file:///tmp/format.cap";
    let open = |session: &mut Session, version: i64, text: &str| {
        session.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "cap", "version": version, "text": text}}),
        );
        let _ = session.diagnostics();
    };
    let format = |session: &mut Session| {
        session.request(
            "textDocument/formatting",
            json!({"textDocument": {"uri": uri}, "options": {"tabSize": 4, "insertSpaces": true}}),
        )
    };
    open(&mut session, 1, "const A=1;\nconst B = 2;");
    assert_eq!(
        format(&mut session),
        json!([{
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 12}},
            "newText": "const A = 1;\nconst B = 2;\n"
        }])
    );
    open(&mut session, 2, "const A = 1;\n");
    assert_eq!(format(&mut session), json!([]));
    open(&mut session, 3, "const A = ;\n");
    assert_eq!(format(&mut session), Value::Null);
    assert_eq!(session.request("shutdown", Value::Null), Value::Null);
    session.notify("exit", Value::Null);
    assert_eq!(session.child.wait().unwrap().code(), Some(0));
}

/// Completion offers the attributes after `#[` and, elsewhere, the keywords
/// and the spec's names; folding covers each item of several lines.
#[test]
fn completion_and_folding() {
    let mut session = Session::start();
    let init = session.request(
        "initialize",
        json!({"processId": null, "rootUri": null, "capabilities": {}}),
    );
    assert_eq!(init["capabilities"]["foldingRangeProvider"], json!(true));
    assert_eq!(
        init["capabilities"]["completionProvider"]["triggerCharacters"],
        json!(["["])
    );
    session.notify("initialized", json!({}));
    let kernel = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../kernel-demo/spec/kernel.cap"),
    )
    .unwrap();
    let uri = "file:///tmp/complete.cap";
    session.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "cap", "version": 1, "text": kernel}}),
    );
    let _ = session.diagnostics();
    let labels = |items: &Value| -> Vec<String> {
        items
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["label"].as_str().unwrap().to_string())
            .collect()
    };
    // After `#[` on the line of `#[required]`: attributes only.
    let line = kernel[..kernel.find("#[required]").unwrap()]
        .matches('\n')
        .count();
    let at = json!({"line": line, "character": 6});
    let items = session.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": uri}, "position": at}),
    );
    let attributes = labels(&items);
    for attribute in ["required", "at", "sign_extend", "label", "label_base"] {
        assert!(
            attributes.contains(&attribute.to_string()),
            "{attribute}: {attributes:?}"
        );
    }
    assert!(!attributes.contains(&"cap".to_string()), "{attributes:?}");
    // At the start of a line: keywords and the spec's names, with kinds.
    let items = session.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}}),
    );
    let names = labels(&items);
    for want in [
        "abstract",
        "invocations",
        "TcbCap",
        "Endpoint",
        "KernelError",
        "SLOT_BITS",
        "grant",
    ] {
        assert!(names.contains(&want.to_string()), "{want} in {names:?}");
    }
    let tcb = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == json!("TcbCap"))
        .unwrap();
    assert_eq!(tcb["detail"], json!("cap type"));
    // Folding: the TCB object, from its `object` line to its closing brace.
    let folds = session.request(
        "textDocument/foldingRange",
        json!({"textDocument": {"uri": uri}}),
    );
    let start = kernel[..kernel.find("object Tcb {").unwrap()]
        .matches('\n')
        .count();
    assert!(
        folds
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["startLine"] == json!(start)
                && f["endLine"].as_u64().unwrap() > start as u64 + 5),
        "{folds}"
    );
    // A syntax error keeps the symbols (and folds) of the last text that
    // parsed.
    let broken = kernel.replacen("object Tcb {", "object Tcb {{", 1);
    session.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": broken}]}),
    );
    let _ = session.diagnostics();
    let symbols = session.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": uri}}),
    );
    assert!(
        symbols
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == json!("Tcb")),
        "{symbols}"
    );
    assert_eq!(session.request("shutdown", Value::Null), Value::Null);
    session.notify("exit", Value::Null);
    assert_eq!(session.child.wait().unwrap().code(), Some(0));
}

/// A problem in an imported file is shown on the `use` that brings it in,
/// naming the file, with the place itself as related information.
#[test]
fn an_imported_problem_is_shown_on_its_use() {
    let s = Scratch::new("lsp", "imported");
    s.write("lib.cap", UNKNOWN_NAME);
    let main = "// The spec.\nuse \"lib.cap\";\n";
    s.write("main.cap", main);
    let path = s.path("main.cap");
    let mut session = Session::start();
    session.request(
        "initialize",
        json!({"processId": null, "rootUri": null, "capabilities": {}}),
    );
    session.notify("initialized", json!({}));
    session.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri(&path), "languageId": "cap", "version": 1, "text": main}}),
    );
    let diagnostics = session.diagnostics();
    let d = diagnostics
        .iter()
        .find(|d| d["code"] == json!("E0100"))
        .unwrap_or_else(|| panic!("{diagnostics:?}"));
    // `"lib.cap"` on line 1, columns 4..13.
    assert_eq!(
        d["range"],
        json!({"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 13}})
    );
    assert!(d["message"].as_str().unwrap().contains("lib.cap"), "{d}");
    let related = &d["relatedInformation"][0];
    assert!(
        related["location"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("lib.cap"),
        "{d}"
    );
    assert_eq!(related["location"]["range"]["start"]["line"], json!(7));
    assert_eq!(session.request("shutdown", Value::Null), Value::Null);
    session.notify("exit", Value::Null);
    assert_eq!(session.child.wait().unwrap().code(), Some(0));
}

/// Methods have a namespace of their own: hovering `read` after `fn` shows
/// the method, in `rights(read, ...)` the right and not the method.
#[test]
fn hover_keeps_methods_apart() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/everything.cap");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut session = Session::start();
    session.request(
        "initialize",
        json!({"processId": null, "rootUri": null, "capabilities": {}}),
    );
    session.notify("initialized", json!({}));
    let doc = json!({"uri": uri(&path.canonicalize().unwrap())});
    session.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": doc["uri"], "languageId": "cap", "version": 1, "text": text}}),
    );
    let _ = session.diagnostics();
    let hover = |session: &mut Session, after: &str| {
        let at = position_of(&text, after, "read");
        let hover = session.request(
            "textDocument/hover",
            json!({"textDocument": doc, "position": at}),
        );
        hover["contents"]["value"].as_str().unwrap().to_string()
    };
    let method = hover(&mut session, "fn read(");
    assert!(method.contains("FileService.read"), "{method}");
    assert!(!method.contains("right `read`"), "{method}");
    let right = hover(&mut session, "rights: rights(read");
    assert!(right.contains("right `read`"), "{right}");
    assert!(!right.contains("FileService.read"), "{right}");
    assert_eq!(session.request("shutdown", Value::Null), Value::Null);
    session.notify("exit", Value::Null);
    assert_eq!(session.child.wait().unwrap().code(), Some(0));
}

/// Hovering a message type shows its fields or variants and its size on
/// the wire, where it is used as where it is declared.
#[test]
fn hover_shows_message_types() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/messages.cap");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut session = Session::start();
    session.request(
        "initialize",
        json!({"processId": null, "rootUri": null, "capabilities": {}}),
    );
    session.notify("initialized", json!({}));
    let doc = json!({"uri": uri(&path.canonicalize().unwrap())});
    session.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": doc["uri"], "languageId": "cap", "version": 1, "text": text}}),
    );
    let _ = session.diagnostics();
    for (after, name, want) in [
        (
            "fn insert(entry: ",
            "Entry",
            "struct `Entry`: `name: Name` at byte 0, `kind: Kind` at byte 25",
        ),
        ("struct ", "Entry", "(65 bytes on the wire)"),
        (
            "    kind: ",
            "Kind",
            "enum `Kind`: `File`, `Directory`, `Link` (29 bytes on the wire)",
        ),
        (
            "type ",
            "Name",
            "type `Name` = `string<=24>` (25 bytes on the wire)",
        ),
        (
            "fn limit(full: ",
            "Percent",
            "type `Percent` = `u8 in 0..=100` (1 bytes on the wire)",
        ),
    ] {
        let at = position_of(&text, after, name);
        let hover = session.request(
            "textDocument/hover",
            json!({"textDocument": doc, "position": at}),
        );
        let value = hover["contents"]["value"].as_str().unwrap_or_default();
        assert!(value.contains(want), "{after}{name}: {value}");
    }
    assert_eq!(session.request("shutdown", Value::Null), Value::Null);
    session.notify("exit", Value::Null);
    assert_eq!(session.child.wait().unwrap().code(), Some(0));
}

/// `binds Name` names a callback interface, in a session block and on a
/// parameter: the interface's references include it, and go to definition
/// reaches the interface (dsl/tests/ui/pass/session-binds.cap,
/// callbacks.cap).
#[test]
fn binds_refers_to_the_callback_interface() {
    let mut session = Session::start();
    session.request(
        "initialize",
        json!({"processId": null, "rootUri": null, "capabilities": {}}),
    );
    session.notify("initialized", json!({}));
    for (file, after) in [
        ("session-binds.cap", "        binds "),
        ("callbacks.cap", "EndpointCap(write) binds "),
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../dsl/tests/ui/pass")
            .join(file);
        a_name_refers_to_its_declaration(
            &mut session,
            &path,
            ("callback interface ", "KeyEvents"),
            (after, "KeyEvents"),
        );
    }
    assert_eq!(session.request("shutdown", Value::Null), Value::Null);
    session.notify("exit", Value::Null);
    assert_eq!(session.child.wait().unwrap().code(), Some(0));
}

/// `name: ..Set` (a variable-length error payload) names the error set
/// `Set`: its references include it, and go to definition reaches it
/// (dsl/tests/ui/pass/error-payload-rest.cap).
#[test]
fn an_error_payload_rest_refers_to_its_set() {
    let mut session = Session::start();
    session.request(
        "initialize",
        json!({"processId": null, "rootUri": null, "capabilities": {}}),
    );
    session.notify("initialized", json!({}));
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../dsl/tests/ui/pass/error-payload-rest.cap");
    a_name_refers_to_its_declaration(
        &mut session,
        &path,
        ("errors ", "LookupFault"),
        ("lookup: ..", "LookupFault"),
    );
    assert_eq!(session.request("shutdown", Value::Null), Value::Null);
    session.notify("exit", Value::Null);
    assert_eq!(session.child.wait().unwrap().code(), Some(0));
}

/// Opens `path` (which must check clean) and holds the name declared at
/// `declared` (the text before it, the name) and used at `used` to each
/// other: the declaration's only reference is the use, and go to
/// definition from the use reaches the declaration.
fn a_name_refers_to_its_declaration(
    session: &mut Session,
    path: &Path,
    declared: (&str, &str),
    used: (&str, &str),
) {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = json!({"uri": uri(&path.canonicalize().unwrap())});
    session.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": doc["uri"], "languageId": "cap", "version": 1, "text": text}}),
    );
    let file = path.display();
    assert_eq!(session.diagnostics(), Vec::<Value>::new(), "{file}");
    let line_of = |s: &str| text[..text.find(s).unwrap()].matches('\n').count();
    let declared_line = line_of(&format!("{}{}", declared.0, declared.1));
    let used_line = line_of(&format!("{}{}", used.0, used.1));
    let at = position_of(&text, declared.0, declared.1);
    let references = session.request(
        "textDocument/references",
        json!({"textDocument": doc, "position": at, "context": {"includeDeclaration": false}}),
    );
    let lines: Vec<&Value> = references
        .as_array()
        .unwrap_or_else(|| panic!("{file}: {references}"))
        .iter()
        .map(|l| &l["range"]["start"]["line"])
        .collect();
    assert_eq!(lines, [&json!(used_line)], "{file}: {references}");
    let at = position_of(&text, used.0, used.1);
    let definition = session.request(
        "textDocument/definition",
        json!({"textDocument": doc, "position": at}),
    );
    assert_eq!(
        definition["range"]["start"]["line"],
        json!(declared_line),
        "{file}: {definition}"
    );
}

/// A `Content-Length` past the server's bound is refused before anything is
/// allocated for it: a clear error and exit status 2.
#[test]
fn a_huge_content_length_is_refused() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_capc"))
        .arg("lsp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start capc lsp");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Content-Length: 99999999999\r\n\r\n{}")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("99999999999 bytes") && stderr.contains("64 MiB"),
        "{stderr}"
    );
}

/// The VS Code extension's TextMate grammar is valid JSON and highlights
/// every keyword of grammars/cap.pest.
#[test]
fn the_editor_grammar_knows_every_keyword() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let grammar =
        std::fs::read_to_string(root.join("editors/vscode/syntaxes/cap.tmLanguage.json")).unwrap();
    let parsed: Value = serde_json::from_str(&grammar).expect("the grammar is JSON");
    assert_eq!(parsed["scopeName"], json!("source.cap"));
    let package: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("editors/vscode/package.json")).unwrap(),
    )
    .expect("package.json is JSON");
    assert_eq!(
        package["contributes"]["languages"][0]["extensions"],
        json!([".cap"])
    );

    let pest = std::fs::read_to_string(root.join("grammars/cap.pest")).unwrap();
    // Every `"word"` literal of the grammar (quotes in comments are skipped
    // because what they enclose is not one lowercase word).
    let mut words = Vec::new();
    let mut rest = pest.as_str();
    while let Some(open) = rest.find('"') {
        rest = &rest[open + 1..];
        let Some(close) = rest.find('"') else { break };
        let word = &rest[..close];
        if word.len() > 1 && word.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            words.push(word);
            rest = &rest[close + 1..];
        }
    }
    words.sort();
    words.dedup();
    assert!(
        words.contains(&"invocations") && words.contains(&"out_of_budget"),
        "{words:?}"
    );
    let missing: Vec<&&str> = words
        .iter()
        .filter(|w| {
            !["(", "|"].iter().any(|before| {
                [")", "|"]
                    .iter()
                    .any(|after| grammar.contains(&format!("{before}{w}{after}")))
            })
        })
        .collect();
    assert!(missing.is_empty(), "not highlighted: {missing:?}");
}

/// Starts a session: `initialize` (returning its result) and `initialized`.
fn initialized() -> (Session, Value) {
    let mut session = Session::start();
    let init = session.request(
        "initialize",
        json!({"processId": null, "rootUri": null, "capabilities": {}}),
    );
    session.notify("initialized", json!({}));
    (session, init)
}

fn open(session: &mut Session, uri: &str, text: &str) {
    session.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "cap", "version": 1, "text": text}}),
    );
}

fn shut_down(mut session: Session) {
    assert_eq!(session.request("shutdown", Value::Null), Value::Null);
    session.notify("exit", Value::Null);
    assert_eq!(session.child.wait().unwrap().code(), Some(0));
}

/// The next diagnostics published for `uri`.
fn diagnostics_of(session: &mut Session, uri: &str) -> Vec<Value> {
    let published = session.wait_for(|m| {
        m["method"] == json!("textDocument/publishDiagnostics") && m["params"]["uri"] == json!(uri)
    });
    published["params"]["diagnostics"]
        .as_array()
        .unwrap()
        .clone()
}

/// An imported file open in the editor is read from its buffer, not from
/// the disk: for checking the files that import it (re-checked when it
/// changes) and for going to what it defines; closed, it is read from the
/// disk again.
#[test]
fn open_buffers_are_preferred_over_the_disk() {
    let s = Scratch::new("lsp", "buffers");
    // On disk, lib.cap has an error (`UNKNOWN`).
    s.write("lib.cap", UNKNOWN_NAME);
    let main = "use \"lib.cap\";\n#[allow(unused)]\nconst Z = Y + FROM_BUFFER;\n";
    s.write("main.cap", main);
    let (main_uri, lib_uri) = (uri(&s.path("main.cap")), uri(&s.path("lib.cap")));
    let (mut session, _) = initialized();
    open(&mut session, &main_uri, main);
    let codes = |ds: &[Value]| -> Vec<String> {
        ds.iter()
            .map(|d| d["code"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(codes(&diagnostics_of(&mut session, &main_uri)), ["E0100"]);
    // The buffer fixes the error and defines `FROM_BUFFER`, which the disk
    // does not have.
    let fixed = UNKNOWN_NAME.replace("1 + UNKNOWN", "1") + "\nconst FROM_BUFFER = 2;\n";
    open(&mut session, &lib_uri, &fixed);
    // On its own, lib.cap's constants are unused.
    assert_eq!(
        codes(&diagnostics_of(&mut session, &lib_uri)),
        ["W0003", "W0003"]
    );
    assert_eq!(diagnostics_of(&mut session, &main_uri), Vec::<Value>::new());
    let definition = session.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": main_uri}, "position": position_of(main, "Y +", "FROM_BUFFER")}),
    );
    assert_eq!(
        definition,
        json!({"uri": lib_uri, "range": {"start": {"line": 10, "character": 6}, "end": {"line": 10, "character": 17}}})
    );
    // A change to the buffer re-checks main.cap.
    let broken = fixed.replace("const FROM_BUFFER", "const FROM_BUFFR");
    session.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": lib_uri, "version": 2}, "contentChanges": [{"text": broken}]}),
    );
    let _ = diagnostics_of(&mut session, &lib_uri);
    let ds = diagnostics_of(&mut session, &main_uri);
    assert_eq!(codes(&ds), ["E0100"]);
    assert!(
        ds[0]["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `FROM_BUFFR`?"),
        "{ds:?}"
    );
    // Closed, lib.cap is read from the disk again.
    session.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": lib_uri}}),
    );
    let _ = diagnostics_of(&mut session, &lib_uri);
    let ds = diagnostics_of(&mut session, &main_uri);
    assert_eq!(codes(&ds), ["E0100"]);
    assert!(ds[0]["message"].as_str().unwrap().contains("in "), "{ds:?}");
    shut_down(session);
}

/// A spec in two files for references and rename: the right `read` is
/// declared in lib.cap and used in main.cap, which also has a method `read`.
const REFS_LIB: &str = "\
target t {
    address_bits = 48;
    tag_bits = 5;
    message_registers = 4;
    message_words = 16;
    caps_per_message = 2;
}

rights {
    read,
    write,
}

untyped Untyped(bits in 4..=47) {
    size = 1 << bits;
}

cap UntypedCap for Untyped {
    #[identity] #[object]
    base: ptr(align = 16),
    #[identity] #[size_arg]
    bits: u6,
    #[watermark(unit = 16)]
    free_index: u44,
}

errors Errors {
    Bad,
}
";

const REFS_MAIN: &str = "\
use \"lib.cap\";

object Endpoint {
    size = 16;
}

cap EndpointCap for Endpoint {
    #[identity] #[object]
    ptr: ptr(align = 16),
    rights: rights(read, write),
}

retype UntypedCap {
    into = Untyped | Endpoint;
    fan_out = 16;
}

invocations EndpointCap -> Errors {
    fn read(reply: cap EndpointCap(read)) {
        requires read;
        errors Bad;
    }
}
";

/// The range of the first `needle` after `after` in `text`.
fn range_of(text: &str, after: &str, needle: &str) -> Value {
    let start = position_of(text, after, needle);
    let end = json!({
        "line": start["line"],
        "character": start["character"].as_u64().unwrap() + needle.len() as u64
    });
    json!({"start": start, "end": end})
}

/// `text` with LSP text edits (single-line, not overlapping) applied.
fn apply(text: &str, edits: &Value) -> String {
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let mut edits = edits.as_array().unwrap().clone();
    edits.sort_by_key(|e| {
        let start = &e["range"]["start"];
        std::cmp::Reverse((start["line"].as_u64(), start["character"].as_u64()))
    });
    for e in edits {
        let (start, end) = (&e["range"]["start"], &e["range"]["end"]);
        assert_eq!(start["line"], end["line"]);
        let line = &mut lines[start["line"].as_u64().unwrap() as usize];
        let (a, b) = (
            start["character"].as_u64().unwrap() as usize,
            end["character"].as_u64().unwrap() as usize,
        );
        line.replace_range(a..b, e["newText"].as_str().unwrap());
    }
    lines.join("\n")
}

/// References and rename go across the `use`, keep to the namespace of the
/// name (the right `read` is not the method `read`), and rename refuses a
/// name that is not one, a keyword, a name of the language and a name
/// another item of the namespace has.
#[test]
fn references_and_rename_across_imports() {
    let s = Scratch::new("lsp", "rename");
    s.write("lib.cap", REFS_LIB);
    s.write("main.cap", REFS_MAIN);
    let (lib, main) = (uri(&s.path("lib.cap")), uri(&s.path("main.cap")));
    let (mut session, init) = initialized();
    assert_eq!(init["capabilities"]["referencesProvider"], json!(true));
    assert_eq!(
        init["capabilities"]["renameProvider"],
        json!({"prepareProvider": true})
    );
    open(&mut session, &main, REFS_MAIN);
    assert_eq!(diagnostics_of(&mut session, &main), Vec::<Value>::new());
    let at = |after: &str, needle: &str| json!({"textDocument": {"uri": main}, "position": position_of(REFS_MAIN, after, needle)});
    let references = |session: &mut Session, after: &str, needle: &str, declaration: bool| {
        let mut params = at(after, needle);
        params["context"] = json!({"includeDeclaration": declaration});
        session.request("textDocument/references", params)
    };
    // The right `read`, from its use in `requires`: declared in lib.cap.
    let right_uses = json!([
        {"uri": main, "range": range_of(REFS_MAIN, "rights(", "read")},
        {"uri": main, "range": range_of(REFS_MAIN, "EndpointCap(", "read")},
        {"uri": main, "range": range_of(REFS_MAIN, "requires ", "read")},
    ]);
    let mut with_declaration =
        vec![json!({"uri": lib, "range": range_of(REFS_LIB, "rights {", "read")})];
    with_declaration.extend(right_uses.as_array().unwrap().iter().cloned());
    assert_eq!(
        references(&mut session, "requires ", "read", true),
        json!(with_declaration)
    );
    assert_eq!(
        references(&mut session, "requires ", "read", false),
        right_uses
    );
    // The method `read`: only its declaration.
    assert_eq!(
        references(&mut session, "fn ", "read", true),
        json!([{"uri": main, "range": range_of(REFS_MAIN, "fn ", "read")}])
    );
    assert_eq!(references(&mut session, "fn ", "read", false), json!([]));

    // prepareRename: the name and its range; an error on a name of the
    // language.
    assert_eq!(
        session.request("textDocument/prepareRename", at("requires ", "read")),
        json!({"range": range_of(REFS_MAIN, "requires ", "read"), "placeholder": "read"})
    );
    let error = session.request_error("textDocument/prepareRename", at("#[", "identity"));
    assert_eq!(
        error["message"],
        json!("the attribute name `identity` is part of the language and cannot be renamed")
    );

    // Renaming the right edits both files.
    let rename = |session: &mut Session, after: &str, needle: &str, new: &str| {
        let mut params = at(after, needle);
        params["newName"] = json!(new);
        let id = session.next_id;
        session.next_id += 1;
        session.send(
            json!({"jsonrpc": "2.0", "id": id, "method": "textDocument/rename", "params": params}),
        );
        session.wait_for(|m| m["id"] == json!(id))
    };
    let edit = |range: Value| json!({"range": range, "newText": "look"});
    let response = rename(&mut session, "requires ", "read", "look");
    assert_eq!(
        response["result"],
        json!({"changes": {
            lib.clone(): [edit(range_of(REFS_LIB, "rights {", "read"))],
            main.clone(): [
                edit(range_of(REFS_MAIN, "rights(", "read")),
                edit(range_of(REFS_MAIN, "EndpointCap(", "read")),
                edit(range_of(REFS_MAIN, "requires ", "read")),
            ],
        }}),
        "{response}"
    );
    let changes = response["result"]["changes"].clone();
    // The method `read` may take the name of a right: other namespace.
    let method = rename(&mut session, "fn ", "read", "write");
    assert_eq!(
        method["result"],
        json!({"changes": {main.clone(): [
            {"range": range_of(REFS_MAIN, "fn ", "read"), "newText": "write"}
        ]}})
    );
    // Refusals, each with its reason.
    let refused = |session: &mut Session, after: &str, needle: &str, new: &str| {
        let response = rename(session, after, needle, new);
        assert_eq!(response["error"]["code"], json!(-32803), "{response}");
        response["error"]["message"].as_str().unwrap().to_string()
    };
    assert_eq!(
        refused(&mut session, "requires ", "read", "2read"),
        "`2read` is not a valid name: a name is a letter or `_` followed by letters, digits and `_`"
    );
    assert_eq!(
        refused(&mut session, "requires ", "read", "cap"),
        "`cap` is a keyword, not a name"
    );
    let lib_path = s.path("lib.cap");
    assert_eq!(
        refused(&mut session, "requires ", "read", "write"),
        format!(
            "cannot rename the right `read` to `write`: the right `write` is declared at {}:11:5",
            lib_path.display()
        )
    );
    assert_eq!(
        refused(&mut session, "for Endpoint", "Endpoint", "Untyped"),
        format!(
            "cannot rename the type `Endpoint` to `Untyped`: the type `Untyped` is declared at {}:14:9",
            lib_path.display()
        )
    );
    assert_eq!(
        refused(&mut session, "#[", "identity", "id"),
        "the attribute name `identity` is part of the language and cannot be renamed"
    );

    // Applied, the rename leaves a spec that checks: lib.cap opened with
    // its edits (main.cap, still using `read`, now has errors), then
    // main.cap changed with its.
    let new_lib = apply(REFS_LIB, &changes[&lib]);
    let new_main = apply(REFS_MAIN, &changes[&main]);
    assert!(new_main.contains("requires look;"), "{new_main}");
    open(&mut session, &lib, &new_lib);
    let ds = diagnostics_of(&mut session, &main);
    assert!(
        ds.iter().all(|d| d["code"] == json!("E0100")) && !ds.is_empty(),
        "{ds:?}"
    );
    session.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": main, "version": 2}, "contentChanges": [{"text": new_main}]}),
    );
    assert_eq!(diagnostics_of(&mut session, &main), Vec::<Value>::new());
    // From lib.cap, which imports nothing, the references are found in
    // main.cap too: it is open and imports the declaration.
    let found = session.request(
        "textDocument/references",
        json!({"textDocument": {"uri": lib}, "position": position_of(&new_lib, "rights {", "look"),
               "context": {"includeDeclaration": true}}),
    );
    assert_eq!(
        found,
        json!([
            {"uri": lib, "range": range_of(&new_lib, "rights {", "look")},
            {"uri": main, "range": range_of(&new_main, "rights(", "look")},
            {"uri": main, "range": range_of(&new_main, "EndpointCap(", "look")},
            {"uri": main, "range": range_of(&new_main, "requires ", "look")},
        ])
    );
    shut_down(session);
}

/// Workspace symbols: the declarations of the open documents and their
/// imports whose names contain the query, ignoring case, by name.
#[test]
fn workspace_symbols_cover_imports() {
    let s = Scratch::new("lsp", "workspace-symbols");
    s.write("lib.cap", REFS_LIB);
    s.write("main.cap", REFS_MAIN);
    let (lib, main) = (uri(&s.path("lib.cap")), uri(&s.path("main.cap")));
    let (mut session, init) = initialized();
    assert_eq!(init["capabilities"]["workspaceSymbolProvider"], json!(true));
    open(&mut session, &main, REFS_MAIN);
    let _ = diagnostics_of(&mut session, &main);
    let symbols = session.request("workspace/symbol", json!({"query": "READ"}));
    assert_eq!(
        symbols,
        json!([
            {"name": "read", "kind": 22, "location": {"uri": lib, "range": range_of(REFS_LIB, "rights {", "read")}},
            {"name": "read", "kind": 6, "containerName": "EndpointCap",
             "location": {"uri": main, "range": range_of(REFS_MAIN, "fn ", "read")}},
        ])
    );
    let names = |symbols: &Value| -> Vec<(String, u64)> {
        symbols
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_string(),
                    s["kind"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let symbols = session.request("workspace/symbol", json!({"query": "untyped"}));
    assert_eq!(
        names(&symbols),
        [("Untyped".to_string(), 5), ("UntypedCap".to_string(), 23)]
    );
    let symbols = session.request("workspace/symbol", json!({"query": "nothing like it"}));
    assert_eq!(symbols, json!([]));
    shut_down(session);
}

/// Semantic tokens: every token of the document, each name as what it
/// names (found through the import), declarations marked, with the legend
/// `initialize` gave.
#[test]
fn semantic_tokens_from_the_parse() {
    let s = Scratch::new("lsp", "tokens");
    s.write("lib.cap", REFS_LIB);
    let text = "\
use \"lib.cap\";
/// Two.
const N = 2 KiB; // N
invocations UntypedCap -> Errors {
    fn read(n: word, c: cap UntypedCap(read)) {
        requires read;
        errors Bad;
    }
}
";
    s.write("main.cap", text);
    let main = uri(&s.path("main.cap"));
    let (mut session, init) = initialized();
    let provider = &init["capabilities"]["semanticTokensProvider"];
    assert_eq!(provider["full"], json!(true));
    let legend = &provider["legend"];
    open(&mut session, &main, text);
    let _ = diagnostics_of(&mut session, &main);
    let result = session.request(
        "textDocument/semanticTokens/full",
        json!({"textDocument": {"uri": main}}),
    );
    // Decoded: line, column, the text, its type and modifiers.
    let data: Vec<u64> = result["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let lines: Vec<&str> = text.lines().collect();
    let (mut line, mut column) = (0, 0);
    let mut decoded = Vec::new();
    for t in data.chunks(5) {
        if t[0] > 0 {
            column = 0;
        }
        line += t[0] as usize;
        column += t[1] as usize;
        let word = &lines[line][column..column + t[2] as usize];
        let ty = legend["tokenTypes"][t[3] as usize].as_str().unwrap();
        let modifiers: Vec<&str> = (0..4)
            .filter(|bit| t[4] & (1 << bit) != 0)
            .map(|bit| legend["tokenModifiers"][bit].as_str().unwrap())
            .collect();
        decoded.push(format!(
            "{line}:{column} {word} {ty} {}",
            modifiers.join(",")
        ));
    }
    assert_eq!(
        decoded,
        [
            "0:0 use keyword ",
            "0:4 \"lib.cap\" string ",
            "1:0 /// Two. comment documentation",
            "2:0 const keyword ",
            "2:6 N variable declaration,readonly",
            "2:10 2 number ",
            "2:12 KiB number ",
            "2:17 // N comment ",
            "3:0 invocations keyword ",
            "3:12 UntypedCap struct ",
            "3:26 Errors enum ",
            "4:4 fn keyword ",
            "4:7 read method declaration",
            "4:12 n parameter declaration",
            "4:15 word type defaultLibrary",
            "4:21 c parameter declaration",
            "4:24 cap keyword ",
            "4:28 UntypedCap struct ",
            "4:39 read enumMember ",
            "5:8 requires keyword ",
            "5:17 read enumMember ",
            "6:8 errors keyword ",
            "6:15 Bad enumMember ",
        ]
    );
    shut_down(session);
}

/// docs/tools.md lists exactly the features `initialize` advertises: each
/// `- **feature**` bullet of its `capc lsp` section names one capability.
#[test]
fn the_docs_list_what_initialize_advertises() {
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/tools.md"))
            .unwrap();
    let section = docs.split("## `capc lsp`").nth(1).unwrap();
    let section = section.split("\n## ").next().unwrap();
    let capability = |feature: &str| match feature {
        "diagnostics" => "textDocumentSync",
        "hover" => "hoverProvider",
        "go to definition" => "definitionProvider",
        "find references" => "referencesProvider",
        "rename" => "renameProvider",
        "document symbols" => "documentSymbolProvider",
        "workspace symbols" => "workspaceSymbolProvider",
        "semantic tokens" => "semanticTokensProvider",
        "code actions" => "codeActionProvider",
        "formatting" => "documentFormattingProvider",
        "completion" => "completionProvider",
        "folding" => "foldingRangeProvider",
        other => panic!("docs/tools.md lists `{other}`, which this test does not know"),
    };
    let mut documented: Vec<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("- **")?.split("**").next())
        .map(capability)
        .collect();
    documented.sort();
    let (session, init) = initialized();
    let advertised: Vec<&str> = init["capabilities"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(documented, advertised);
    shut_down(session);
}

/// Code actions: a diagnostic's suggestion is a quick fix, the preferred
/// one when it is machine-applicable (the only name that close), not when
/// another name is as close.
#[test]
fn suggestions_are_quick_fixes() {
    let text = UNKNOWN_NAME.replace(
        "const Y = X;",
        "const XX = 2;\nconst Y = XXY;\nconst Z = XY;",
    );
    let uri = "file:///tmp/capc-lsp-actions.cap";
    let (mut session, init) = initialized();
    assert_eq!(
        init["capabilities"]["codeActionProvider"],
        json!({"codeActionKinds": ["quickfix"]})
    );
    open(&mut session, uri, &text);
    let shown = diagnostics_of(&mut session, uri);
    assert_eq!(shown.len(), 3, "{shown:?}");
    // Actions for the range from (line, character) to (line, character).
    let actions = |session: &mut Session, start: (u32, u32), end: (u32, u32), only: Value| {
        session.request(
            "textDocument/codeAction",
            json!({
                "textDocument": {"uri": uri},
                "range": {"start": {"line": start.0, "character": start.1},
                          "end": {"line": end.0, "character": end.1}},
                "context": {"diagnostics": [], "only": only},
            }),
        )
    };
    let fix = |diagnostic: &Value, from: &str, to: &str, preferred: bool| {
        let mut action = json!({
            "title": format!("replace `{from}` with `{to}`"),
            "kind": "quickfix",
            "diagnostics": [diagnostic],
            "edit": {"changes": {uri: [{"range": diagnostic["range"], "newText": to}]}},
        });
        if preferred {
            action["isPreferred"] = json!(true);
        }
        action
    };
    assert_eq!(
        actions(&mut session, (0, 0), (11, 0), Value::Null),
        json!([
            fix(&shown[1], "XXY", "XX", true),
            fix(&shown[2], "XY", "X", false)
        ])
    );
    assert_eq!(
        actions(&mut session, (9, 11), (9, 11), Value::Null),
        json!([fix(&shown[1], "XXY", "XX", true)])
    );
    // `UNKNOWN` has no fix; a client that wants no quick fixes gets none.
    assert_eq!(
        actions(&mut session, (7, 16), (7, 16), Value::Null),
        json!([])
    );
    assert_eq!(
        actions(&mut session, (0, 0), (11, 0), json!(["refactor"])),
        json!([])
    );
    shut_down(session);
}
