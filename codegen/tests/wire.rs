//! The one `wire` module: kernel invocations and RPC messages pack their
//! arrays with the same helpers, with one semantics on both sides: a value
//! is refused, never truncated. A client refuses an array element wider
//! than its field before sending anything; the kernel's decoder refuses a
//! word with bits outside the elements; the reply encoder refuses too.

mod common;

use common::{Scratch, capc, text};

/// After `common::TARGET`: a spec whose kernel invocation and RPC method
/// take arrays of `u4` elements (a width no Rust integer has, so a `u8` can
/// be too wide).
const SPEC: &str = "\
rights {
    read,
    write,
}

untyped Untyped(bits in 4..=40) {
    size = 1 << bits;
}

object Endpoint {
    size = 16;
}

cap UntypedCap for Untyped {
    #[identity] #[object]
    base: ptr(align = 16),
    #[size_arg]
    bits: u6,
    #[watermark(unit = 16)]
    free_index: u37,
}

cap EndpointCap for Endpoint {
    #[identity] #[object]
    base: ptr(align = 16),
    rights: rights(read, write),
}

retype UntypedCap {
    into = Untyped | Endpoint;
    fan_out = 64;
}

errors KernelError {
    InvalidArgument(index),
}

invocations EndpointCap -> KernelError {
    /// Takes three nibbles, returns the first and the last.
    fn nibbles(count: word, nibbles: [u4; 3]) -> (ends: [u4; 2], count_back: word) {
        errors InvalidArgument;
    }
}

interface Nibbler -> KernelError {
    fn put(nibbles: [u4; 3]) -> (back: [u4; 3]);
}
";

/// Exercises the generated module; panics on the first wrong answer.
const MAIN: &str = r#"
#[allow(dead_code)]
mod m {
    include!("nibbles.rs");
}
use m::*;

/// The kernel behind the client: decodes, answers with the first and the
/// last nibble, and notes that it was called.
struct Kernel {
    called: bool,
}

impl Transport for Kernel {
    fn call(
        &mut self,
        info: MessageInfo,
        msg: &mut [u64; target::MESSAGE_WORDS],
        _caps_out: &[u64],
        _caps_in: &mut [u64; target::CAPS_PER_MESSAGE],
    ) -> MessageInfo {
        self.called = true;
        match decode_endpoint_cap(info, Rights::ALL, &msg[..], &[]) {
            Ok(EndpointCapInvocation::Nibbles(args)) => {
                let reply = EndpointCapNibblesReply {
                    ends: [args.nibbles[0], args.nibbles[2]],
                    count_back: args.count,
                };
                encode_endpoint_cap_nibbles_reply(&reply, &mut msg[..]).expect("nibbles fit")
            }
            Err(DecodeError::InvalidArgument { index }) => {
                KernelError::InvalidArgument { index }.reply(&mut msg[..])
            }
            Err(other) => panic!("{other:?}"),
        }
    }
}

fn main() {
    // A round trip through the client, the decoder and the reply encoder.
    let mut client = EndpointCapClient(Kernel { called: false });
    let reply = client.nibbles(7, [1, 15, 9]);
    assert_eq!(reply, Ok(EndpointCapNibblesReply { ends: [1, 9], count_back: 7 }));

    // An element wider than 4 bits is refused, and nothing is sent (it
    // used to be cut to 0 and sent).
    let mut client = EndpointCapClient(Kernel { called: false });
    let refused = FieldError { field: "nibbles", value: 16 };
    assert_eq!(client.nibbles(7, [1, 16, 9]), Err(InvocationError::Argument(refused)));
    assert!(!client.0.called, "a refused argument is not sent");

    // The kernel's decoder refuses a word with bits above its three
    // elements, as a hand-made request could carry.
    let mut msg = [0u64; target::MESSAGE_WORDS];
    msg[1] = 1 | 15 << 4 | 9 << 8 | 1 << 12;
    let info = MessageInfo { label: EndpointCapLabel::Nibbles as u64, length: 2, caps: 0 };
    assert!(matches!(
        decode_endpoint_cap(info, Rights::ALL, &msg, &[]),
        Err(DecodeError::InvalidArgument { index: 1 })
    ));
    msg[1] = 1 | 15 << 4 | 9 << 8;
    assert!(matches!(
        decode_endpoint_cap(info, Rights::ALL, &msg, &[]),
        Ok(EndpointCapInvocation::Nibbles(EndpointCapNibbles { count: 0, nibbles: [1, 15, 9] }))
    ));

    // The kernel's reply encoder refuses a result element too wide.
    let wide = EndpointCapNibblesReply { ends: [0, 200], count_back: 0 };
    assert_eq!(
        encode_endpoint_cap_nibbles_reply(&wide, &mut msg),
        Err(FieldError { field: "ends", value: 200 })
    );

    // An RPC request packs with the same helper, with the same answer.
    let mut caps = [0u64; target::CAPS_PER_MESSAGE];
    assert_eq!(
        NibblerRequest::Put { nibbles: [1, 16, 0] }.encode(&mut msg, &mut caps),
        Err(FieldError { field: "nibbles", value: 16 })
    );
    println!("wire ok");
}
"#;

#[test]
fn invocations_and_rpcs_refuse_a_too_wide_array_element_never_truncate() {
    let scratch = Scratch::new("wire", "refuse");
    scratch.write("nibbles.cap", format!("{}{SPEC}", common::TARGET));
    let out = capc(&scratch.dir, &["build", "nibbles.cap", "-o", "nibbles.rs"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let module = std::fs::read_to_string(scratch.path("nibbles.rs")).expect("generated");
    // One wire module, used by both kinds of method.
    assert_eq!(module.matches("pub mod wire").count(), 1);
    assert!(!module.contains("rpc_wire"));
    // Its docs link nowhere they cannot reach (the module's own docs are
    // read in its parent's scope).
    scratch.write(
        "lib.rs",
        "#![no_std]\n//! The test.\n/// The module.\npub mod m { include!(\"nibbles.rs\"); }\n",
    );
    let rustdoc = std::process::Command::new(std::env::var("RUSTDOC").unwrap_or("rustdoc".into()))
        .args([
            "--edition",
            "2024",
            "-D",
            "warnings",
            "--document-private-items",
            "-o",
        ])
        .arg(scratch.path("doc"))
        .arg(scratch.path("lib.rs"))
        .output()
        .expect("rustdoc runs");
    assert!(rustdoc.status.success(), "{}", text(&rustdoc.stderr));
    scratch.write("main.rs", MAIN);
    let rustc = std::process::Command::new(std::env::var("RUSTC").unwrap_or("rustc".into()))
        .args(["--edition", "2024", "-D", "warnings", "-o"])
        .arg(scratch.path("wire_test"))
        .arg(scratch.path("main.rs"))
        .output()
        .expect("rustc runs");
    assert!(rustc.status.success(), "{}", text(&rustc.stderr));
    let run = std::process::Command::new(scratch.path("wire_test"))
        .output()
        .expect("the test program runs");
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(text(&run.stdout), "wire ok\n");
}
