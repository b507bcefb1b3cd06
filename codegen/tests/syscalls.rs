//! The generated code of dsl/tests/ui/pass/syscalls.cap (system calls with
//! negative, zero and extreme numbers, a right and `bool` flags to check),
//! compiled with rustc together with a `main` that checks `number`,
//! `word`, `from_word`, `sends`, `receives`, `sends_on` and `receives_on`
//! and exits non-zero on the first answer that is not the documented one.

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
    let numbers: Vec<i64> = Syscall::ALL.iter().map(|s| s.number()).collect();
    check(numbers == [-1, -2, -3, 0, i64::MIN, i64::MAX], "numbers in declaration order");
    check(Syscall::Call.word() == u64::MAX, "-1 is the word of all ones");
    check(Syscall::Lowest.word() == 1 << 63, "-2^63 is the top bit");
    for s in Syscall::ALL {
        check(Syscall::from_word(s.word()) == Some(s), "from_word(word)");
    }
    check(Syscall::from_word(u64::MAX - 3) == None, "-4 is no system call");
    check(Syscall::from_word(7) == None, "7 only with `fast`");

    check(Syscall::Call.sends() && Syscall::Call.receives(), "Call sends and receives");
    check(Syscall::Reply.sends() && !Syscall::Reply.receives(), "Reply only sends");
    check(!Syscall::Yield.sends() && !Syscall::Yield.receives(), "Yield neither");

    let ep = |rights| EndpointCap::new(0x1000, rights, 0).unwrap().cap();
    let ntfn = |send, recv| NotificationCap::new(send, recv).unwrap().cap();
    check(Syscall::Call.sends_on(ep(Rights::WRITE)), "Call with write");
    check(!Syscall::Call.sends_on(ep(Rights::READ)), "Call without write");
    check(Syscall::Call.sends_on(ntfn(true, false)), "Call on a notification with can_send");
    check(!Syscall::Call.sends_on(ntfn(false, true)), "Call on a notification without it");
    check(!Syscall::Call.receives_on(ep(Rights::ALL)), "Call receives on no named cap");
    check(Syscall::Recv.receives_on(ep(Rights::READ)), "Recv with read");
    check(!Syscall::Recv.receives_on(ep(Rights::WRITE)), "Recv without read");
    check(Syscall::Recv.receives_on(ntfn(false, true)), "Recv with can_receive");
    check(!Syscall::Recv.sends_on(ep(Rights::ALL)), "Recv sends on nothing");
    check(!Syscall::Reply.sends_on(ep(Rights::ALL)), "Reply names no cap");
    let untyped = UntypedCap::new(0x4000, 14, 0, false).unwrap().cap();
    check(!Syscall::Call.sends_on(untyped), "a type not listed");
}
"#;

#[test]
fn generated_system_calls_answer_as_documented() {
    let path = workspace().join("dsl/tests/ui/pass/syscalls.cap");
    let (module, _) = render_spec(&path, &Options::default()).expect("the spec checks");
    let scratch = Scratch::new("syscalls", "generated");
    rustc_run(&scratch, "syscalls_main", &format!("{module}\n{MAIN}"));
}
