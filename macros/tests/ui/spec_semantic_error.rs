mod caps {
    capc_macros::include_spec!("../../../../macros/tests/specs/bad-donation.cap");
}

fn main() {}
