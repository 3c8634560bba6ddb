//! The `cnn!` macro: a convolutional network written once in PyTorch's vocabulary, shape-checked
//! at compile time and expanded into statically sized Rust. See the `cnn` crate for the guide.
//!
//! Pipeline: `parse` (tokens to syntax) → `model` (arguments resolved) → `check` (order,
//! names, shapes; every error collected) → `expand` (code). `shape` holds the pure shape
//! arithmetic and `error` the wording of every message.

mod check;
mod error;
mod expand;
mod model;
mod parse;
mod shape;

use proc_macro::TokenStream;

/// Defines a convolutional network; see the `cnn` crate's documentation for the DSL.
#[proc_macro]
pub fn cnn(input: TokenStream) -> TokenStream {
    expand_net(input.into()).into()
}

/// The whole macro on `proc_macro2` tokens, so tests can drive it directly. Never panics: any
/// problem comes back as `compile_error!` invocations spanned on the offending tokens.
fn expand_net(input: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    let mut errors = error::Errors::default();
    let syntax = match parse::parse(input, &mut errors) {
        Ok(syntax) => syntax,
        Err(e) => {
            errors.push(e);
            return errors.into_error().map(|e| e.to_compile_error()).unwrap_or_default();
        }
    };
    let stub = expand::stub(&syntax.vis, &syntax.ident);
    let net = model::resolve(syntax, &mut errors);
    match check::check(net, errors) {
        Ok(plan) => expand::expand(&plan),
        Err(e) => {
            let mut out = e.to_compile_error();
            out.extend(stub);
            out
        }
    }
}

#[cfg(test)]
mod tests;
