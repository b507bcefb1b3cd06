mod caps {
    capc_macros::include_spec!("../../../../macros/tests/specs/bad-syntax.cap");
}

fn main() {}
