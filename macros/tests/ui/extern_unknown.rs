//! An extern that names no file the spec imports: E0621 as a
//! compile_error!, not a panic; an unknown side is a syntax error.

mod decompress {
    capc_macros::include_spec!(
        "../../../../kernel-demo/spec/decompress.cap",
        extern_path("kernal.cap" = crate::caps)
    );
}

mod sided {
    capc_macros::include_spec!("../../../../kernel-demo/spec/kernel.cap", side = server);
}

fn main() {}
