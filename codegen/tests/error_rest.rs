//! The generated error sets of dsl/tests/ui/pass/error-payload-rest.cap: a
//! kernel error whose payload ends in an error of another set (`lookup:
//! ..LookupFault`, seL4's FailedLookup), compiled with rustc together with
//! a `main` that encodes every length of it, decodes it back and refuses
//! what its set does not have, exiting non-zero on the first wrong answer.

mod common;

use capc::{Options, render_spec};
use common::{Scratch, rustc_run, workspace};

const MAIN: &str = r#"
fn check(ok: bool, what: &str) {
    if !ok {
        eprintln!("wrong: {what}");
        std::process::exit(1);
    }
}

fn main() {
    // One word, the fault's number, then 0 to 3 words of its payload.
    for (fault, words) in [
        (LookupFault::InvalidRoot, vec![1u64, 1]),
        (LookupFault::MissingCapability { bits_left: 7 }, vec![1, 2, 7]),
        (LookupFault::DepthMismatch { bits_left: 7, bits_found: 3 }, vec![1, 3, 7, 3]),
        (
            LookupFault::GuardMismatch { bits_left: 7, guard_found: 0x55, bits_found: 8 },
            vec![1, 4, 7, 0x55, 8],
        ),
    ] {
        let error = KernelError::FailedLookup { msg: 1, lookup: fault };
        let mut msg = [0u64; 16];
        let info = error.reply(&mut msg);
        check(info.label == 2, "FailedLookup's number");
        check(info.length == words.len(), "the length follows the fault");
        check(msg[..words.len()] == words[..], "the words");
        check(msg[words.len()..].iter().all(|w| *w == 0), "nothing after them");
        check(KernelError::decode(2, &msg[..info.length]) == Some(error), "read back");
        // A message without the fault's last word.
        check(KernelError::decode(2, &msg[..info.length - 1]).is_none(), "short");
    }
    check(KernelError::decode(2, &[1]).is_none(), "no fault number");
    check(KernelError::decode(2, &[1, 0]).is_none(), "fault 0 is no fault");
    check(KernelError::decode(2, &[1, 5]).is_none(), "no fault 5");
    check(KernelError::decode(2, &[0, 2]).is_none(), "MissingCapability without bits_left");
    // The other variants are as before.
    let mut msg = [0u64; 4];
    check(KernelError::InvalidArgument { index: 3 }.encode(&mut msg) == 1 && msg[0] == 3, "InvalidArgument");
    check(KernelError::decode(3, &[]) == Some(KernelError::TruncatedMessage), "TruncatedMessage");
}
"#;

#[test]
fn generated_variable_length_errors_answer_as_documented() {
    let path = workspace().join("dsl/tests/ui/pass/error-payload-rest.cap");
    let (module, _) = render_spec(&path, &Options::default()).expect("the spec checks");
    let scratch = Scratch::new("error_rest", "generated");
    rustc_run(&scratch, "error_rest_main", &format!("{module}\n{MAIN}"));
}
