//! Generates the example specs' modules with the build-script API, exactly as
//! a kernel crate would.

fn main() {
    capc::Builder::new()
        .spec("../../kernel-demo/spec/kernel.cap")
        .spec("../../kernel-demo/spec/decompress.cap")
        .spec("../../examples/everything.cap")
        .run();
}
