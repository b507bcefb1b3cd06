//! Links the kernel binary with `link.ld`, given by absolute path (a relative
//! `-T` would be resolved against whatever directory rustc runs the linker in).
//!
//! Only the kernel target gets the script: host builds of the library (its
//! unit tests) link as ordinary programs.

use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let script = manifest_dir.join("link.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("TARGET").as_deref() == Ok("x86_64-unknown-none") {
        println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    }
}
