//! A configuration option the spec does not declare: E0443 as a
//! compile_error!, not a panic.

mod caps {
    capc_macros::include_spec!("../../../../macros/tests/specs/configured.cap", cfg(msc));
}

fn main() {}
