//! Packed invocation parameters (`#[at(word = W, bit = B)]`,
//! dsl/tests/ui/pass/packed-parameters.cap) in the generated Rust: the
//! client ors each value into its bits, refusing an integer wider than its
//! bits before sending; the decoder reads exactly the bits (stray bits are
//! ignored, an enumeration's unnamed value refused); the other parameters
//! take the words left over.

mod common;

use common::{Scratch, capc, text, workspace};

/// Exercises the generated module; panics on the first wrong answer.
const MAIN: &str = r#"
#[allow(dead_code)]
mod m {
    include!("packed.rs");
}
use m::*;

/// The kernel behind the client: keeps the request's words and decodes
/// them.
struct Kernel {
    sent: Vec<u64>,
    decoded: Option<Result<UntypedCapInvocation, DecodeError>>,
}

impl Transport for Kernel {
    fn call(
        &mut self,
        info: MessageInfo,
        msg: &mut [u64; target::MESSAGE_WORDS],
        _caps_out: &[u64],
        _caps_in: &mut [u64; target::CAPS_PER_MESSAGE],
    ) -> MessageInfo {
        self.sent = msg[..info.length].to_vec();
        self.decoded = Some(decode_untyped_cap(info, Rights::ALL, &msg[..], &[]));
        MessageInfo { label: 0, length: 0, caps: 0 }
    }
}

fn main() {
    let table: [u8; 16] = core::array::from_fn(|i| i as u8);
    let mut client = UntypedCapClient(Kernel { sent: Vec::new(), decoded: None });
    client.mixed(0xaaaa, 0x9, table, Mode::Auto, true, 0xbbbb).expect("sent");
    // first: word 0; mode bits 0..2, level bits 4..8, all bit 63 of word
    // 1; table words 2 and 3; last word 4.
    assert_eq!(client.0.sent.len(), 5);
    assert_eq!(client.0.sent[0], 0xaaaa);
    assert_eq!(client.0.sent[1], 3 | 0x9 << 4 | 1 << 63);
    assert_eq!(client.0.sent[4], 0xbbbb);
    let expected = UntypedCapMixed {
        first: 0xaaaa,
        level: 0x9,
        table,
        mode: Mode::Auto,
        all: true,
        last: 0xbbbb,
    };
    assert_eq!(client.0.decoded, Some(Ok(UntypedCapInvocation::Mixed(expected))));

    // A `u4` wider than 4 bits is refused before anything is sent.
    let mut client = UntypedCapClient(Kernel { sent: Vec::new(), decoded: None });
    assert_eq!(
        client.mixed(0, 16, table, Mode::Off, false, 0),
        Err(InvocationError::Argument(FieldError { field: "level", value: 16 }))
    );
    assert!(client.0.decoded.is_none(), "a refused argument is not sent");

    // Stray bits of a packed word are ignored; a value no variant of the
    // enumeration names is InvalidArgument at its position.
    let info = MessageInfo { label: UntypedCapLabel::Mixed as u64, length: 5, caps: 0 };
    let mut msg = [0u64; 5];
    msg[1] = 1 | 0x5 << 4 | 0xff << 8;
    match decode_untyped_cap(info, Rights::ALL, &msg, &[]) {
        Ok(UntypedCapInvocation::Mixed(args)) => {
            assert_eq!((args.mode, args.level, args.all), (Mode::On, 0x5, false));
        }
        other => panic!("{other:?}"),
    }
    msg[1] = 2;
    assert_eq!(
        decode_untyped_cap(info, Rights::ALL, &msg, &[]),
        Err(DecodeError::InvalidArgument { index: 3 })
    );

    // `read`: the flags in word 0, count in word 1.
    let mut client = UntypedCapClient(Kernel { sent: Vec::new(), decoded: None });
    client.read(true, 0x7f, 20).expect("sent");
    assert_eq!(client.0.sent, [1 | 0x7f << 8, 20]);
    assert_eq!(UntypedCapLabel::Read.request_words(), 2);
    println!("packed ok");
}
"#;

#[test]
fn packed_parameters_round_trip_in_their_bits() {
    let scratch = Scratch::new("packed", "round-trip");
    let ui = workspace().join("dsl/tests/ui");
    let spec = std::fs::read_to_string(ui.join("pass/packed-parameters.cap"))
        .expect("packed-parameters.cap")
        .replace("use \"../base.cap\";", "use \"base.cap\";");
    scratch.write(
        "base.cap",
        std::fs::read(ui.join("base.cap")).expect("base.cap"),
    );
    scratch.write("packed.cap", spec);
    let out = capc(
        &scratch.dir,
        &["build", "--deny-warnings", "packed.cap", "-o", "packed.rs"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    scratch.write("main.rs", MAIN);
    let rustc = std::process::Command::new(std::env::var("RUSTC").unwrap_or("rustc".into()))
        .args(["--edition", "2024", "-D", "warnings", "-o"])
        .arg(scratch.path("packed_test"))
        .arg(scratch.path("main.rs"))
        .output()
        .expect("rustc runs");
    assert!(rustc.status.success(), "{}", text(&rustc.stderr));
    let run = std::process::Command::new(scratch.path("packed_test"))
        .output()
        .expect("the test program runs");
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(text(&run.stdout), "packed ok\n");
}
