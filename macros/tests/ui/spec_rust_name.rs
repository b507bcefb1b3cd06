mod caps {
    capc_macros::include_spec!("../../../../macros/tests/specs/path-keyword.cap");
}

fn main() {}
