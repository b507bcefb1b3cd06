//! Section of the generated module: rpc (being written).

use proc_macro2::TokenStream;

use super::Gen;

pub fn generate(_g: &Gen<'_>) -> TokenStream {
    TokenStream::new()
}
