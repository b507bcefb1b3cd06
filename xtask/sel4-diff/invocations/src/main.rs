//! seL4's generated stubs and labels against capc's generated code, for
//! every invocation of a spec (see build.rs and
//! xtask/src/sel4diff/invocations.rs). Exits 1, naming each invocation
//! that differs, if any does.

/// capc's generated module of the spec.
#[allow(dead_code, clippy::all)]
mod capc_gen {
    include!(concat!(env!("OUT_DIR"), "/spec.rs"));
}

/// seL4's generated labels and stubs over a small runtime written here.
#[allow(
    non_camel_case_types,
    non_snake_case,
    dead_code,
    unused_parens,
    unused_unsafe,
    unused_mut,
    unused_assignments,
    unsafe_op_in_unsafe_fn,
    clippy::all
)]
mod sel4 {
    pub use rt::*;

    /// What the stubs call: seL4's IPC buffer and `seL4_Call`, on the
    /// host, over a thread-local buffer.
    pub mod rt {
        use std::cell::RefCell;

        pub type seL4_Word = u64;
        pub type seL4_CPtr = u64;

        /// seL4's message tag (types.bf: `label` 52 bits at 12,
        /// `capsUnwrapped` 3 at 9, `extraCaps` 2 at 7, `length` 7 at 0).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct seL4_MessageInfo {
            pub words: [seL4_Word; 1],
        }

        impl seL4_MessageInfo {
            pub fn new(
                label: seL4_Word,
                caps_unwrapped: seL4_Word,
                extra_caps: seL4_Word,
                length: seL4_Word,
            ) -> seL4_MessageInfo {
                assert!(label < 1 << 52 && caps_unwrapped < 8 && extra_caps < 4 && length < 128);
                seL4_MessageInfo {
                    words: [label << 12 | caps_unwrapped << 9 | extra_caps << 7 | length],
                }
            }
            pub fn get_label(&self) -> seL4_Word {
                self.words[0] >> 12
            }
            pub fn get_extraCaps(&self) -> seL4_Word {
                (self.words[0] >> 7) & 0x3
            }
            pub fn get_length(&self) -> seL4_Word {
                self.words[0] & 0x7f
            }
        }

        /// A message as sent: label, length, extra caps, its words and
        /// the extra caps' CPtrs.
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct Sent {
            pub label: u64,
            pub length: u64,
            pub extra_caps: u64,
            pub words: Vec<u64>,
            pub caps: Vec<u64>,
        }

        #[derive(Default)]
        struct Ipc {
            mrs: Vec<seL4_Word>,
            caps: Vec<seL4_CPtr>,
            sent: Option<Sent>,
            reply: Option<(u64, Vec<u64>)>,
        }

        thread_local! {
            static IPC: RefCell<Ipc> = RefCell::new(Ipc {
                mrs: vec![0; 120],
                caps: vec![0; 3],
                ..Ipc::default()
            });
        }

        /// Clears the buffer and forgets what was sent.
        pub fn reset() {
            IPC.with(|ipc| {
                let mut ipc = ipc.borrow_mut();
                ipc.mrs.fill(0);
                ipc.caps.fill(0);
                ipc.sent = None;
            });
        }

        /// Queues the reply the next `seL4_Call` returns.
        pub fn reply(label: u64, words: &[u64]) {
            IPC.with(|ipc| ipc.borrow_mut().reply = Some((label, words.to_vec())));
        }

        /// What the last `seL4_Call` sent.
        pub fn sent() -> Sent {
            IPC.with(|ipc| {
                ipc.borrow()
                    .sent
                    .clone()
                    .expect("the stub called seL4_Call")
            })
        }

        pub unsafe fn seL4_SetMR(i: usize, value: seL4_Word) {
            IPC.with(|ipc| ipc.borrow_mut().mrs[i] = value);
        }

        pub unsafe fn seL4_GetMR(i: usize) -> seL4_Word {
            IPC.with(|ipc| ipc.borrow().mrs[i])
        }

        pub unsafe fn seL4_SetCap(i: usize, cptr: seL4_CPtr) {
            IPC.with(|ipc| ipc.borrow_mut().caps[i] = cptr);
        }

        /// Records the message, then puts the queued reply (none: an empty
        /// reply with label 0) in the buffer and returns its tag.
        pub unsafe fn seL4_Call(_dest: seL4_CPtr, tag: seL4_MessageInfo) -> seL4_MessageInfo {
            IPC.with(|ipc| {
                let mut ipc = ipc.borrow_mut();
                let length = tag.get_length();
                let extra = tag.get_extraCaps();
                ipc.sent = Some(Sent {
                    label: tag.get_label(),
                    length,
                    extra_caps: extra,
                    words: ipc.mrs[..length as usize].to_vec(),
                    caps: ipc.caps[..extra as usize].to_vec(),
                });
                let (label, words) = ipc.reply.take().unwrap_or_default();
                ipc.mrs.fill(0);
                ipc.mrs[..words.len()].copy_from_slice(&words);
                seL4_MessageInfo::new(label, 0, 0, words.len() as u64)
            })
        }
    }

    include!(concat!(env!("OUT_DIR"), "/sel4_types.rs"));
    include!(concat!(env!("OUT_DIR"), "/invocation.rs"));
    include!(concat!(env!("OUT_DIR"), "/syscall_stub.rs"));
}

/// Random arguments per invocation.
const ROUNDS: usize = 32;

/// The invoked cap's CPtr seL4's stubs pass (capc's clients are bound to
/// theirs).
const SERVICE: u64 = 0x7;

/// A fixed-seed generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn word(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.word() % n as u64) as usize
    }
}

/// A result's value as words, to compare with what seL4's stub read.
trait ToWords {
    fn to_words(&self) -> Vec<u64>;
}

impl ToWords for u64 {
    fn to_words(&self) -> Vec<u64> {
        vec![*self]
    }
}

impl<const N: usize> ToWords for [u64; N] {
    fn to_words(&self) -> Vec<u64> {
        self.to_vec()
    }
}

/// A transport playing the kernel: it keeps the request capc's client
/// sends and answers with an empty reply.
#[derive(Default)]
struct Kernel {
    sent: (capc_gen::MessageInfo, Vec<u64>, Vec<u64>),
}

impl capc_gen::Transport for &mut Kernel {
    fn call(
        &mut self,
        info: capc_gen::MessageInfo,
        msg: &mut [u64; capc_gen::target::MESSAGE_WORDS],
        caps_out: &[u64],
        _caps_in: &mut [u64; capc_gen::target::CAPS_PER_MESSAGE],
    ) -> capc_gen::MessageInfo {
        self.sent = (info, msg[..info.length].to_vec(), caps_out.to_vec());
        *msg = [0; capc_gen::target::MESSAGE_WORDS];
        capc_gen::MessageInfo {
            label: 0,
            length: 0,
            caps: 0,
        }
    }
}

/// What was compared and what differed.
#[derive(Default)]
struct Report {
    invocations: usize,
    labels: usize,
    requests: usize,
    replies: usize,
    skipped: Vec<String>,
    differences: Vec<String>,
}

impl Report {
    fn label(&mut self, what: &'static str, sel4: u64, capc: u64) {
        self.invocations += 1;
        self.labels += 1;
        if sel4 != capc {
            self.differences.push(format!(
                "{what}: seL4's InvocationLabel is {sel4}, capc's label {capc}"
            ));
        }
    }

    fn request(
        &mut self,
        what: &str,
        sel4: &sel4::Sent,
        capc: &(capc_gen::MessageInfo, Vec<u64>, Vec<u64>),
    ) {
        self.requests += 1;
        let (info, words, caps) = capc;
        let ours = sel4::Sent {
            label: info.label,
            length: info.length as u64,
            extra_caps: info.caps as u64,
            words: words.clone(),
            caps: caps.clone(),
        };
        if *sel4 != ours {
            self.differences.push(format!(
                "{what}: seL4's stub sends {sel4:x?}, capc's client {ours:x?}"
            ));
        }
    }

    fn result(&mut self, what: &str, name: &str, sel4: Vec<u64>, capc: Vec<u64>) {
        self.replies += 1;
        if sel4 != capc {
            self.differences.push(format!(
                "{what}: result `{name}`: capc encoded {capc:x?}, seL4's stub read {sel4:x?}"
            ));
        }
    }

    /// Called by cases.rs for a method it cannot call (none in
    /// examples/sel4/x86_64.cap's default configuration).
    #[allow(dead_code)]
    fn skipped(&mut self, what: &str, why: &str) {
        let line = format!("{what}: not compared: {why}");
        if !self.skipped.contains(&line) {
            self.skipped.push(line);
        }
    }
}

/// One function per invocation (build.rs): generated calls whose casts
/// and conversions are sometimes to the type a value has already.
#[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
mod cases {
    use super::*;

    include!(concat!(env!("OUT_DIR"), "/cases.rs"));
}

/// The configuration compared: its options on.
fn configuration() -> &'static str {
    env!("SEL4_DIFF_CONFIGURATION")
}

fn main() {
    let report = cases::run_cases(Rng(0x5e14_d1ff), Report::default());
    for line in &report.skipped {
        println!("{line}");
    }
    println!(
        "seL4's generators vs capc ({}): {} invocations, {} labels, {} requests and {} reply results compared ({} random argument sets each)",
        configuration(),
        report.invocations,
        report.labels,
        report.requests,
        report.replies,
        ROUNDS
    );
    if !report.differences.is_empty() {
        // The first few of each invocation are enough to see why.
        let mut shown: Vec<&str> = Vec::new();
        for d in &report.differences {
            let what = d.split(':').next().unwrap_or("");
            if shown.iter().filter(|w| **w == what).count() < 2 {
                eprintln!("differs: {d}");
                shown.push(what);
            }
        }
        eprintln!("{} differences", report.differences.len());
        std::process::exit(1);
    }
}
