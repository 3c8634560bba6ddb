//! What keeps the generated code meaning the same whatever the user names things: a network may
//! legally be called `f32` or `usize`, which would shadow the primitive type everywhere the
//! generated code writes it. Its name is emitted raw (`r#f32`, the same name) and every bare
//! primitive type the generated code writes becomes `::core::primitive::…`, which no user item
//! can shadow.

use proc_macro2::{Group, Ident, Spacing, TokenStream, TokenTree};
use quote::quote;

const PRIMITIVES: &[&str] = &[
    "bool", "char", "f32", "f64", "i8", "i16", "i32", "i64", "i128", "isize", "str", "u8", "u16", "u32", "u64", "u128",
    "usize",
];

fn is_primitive(name: &str) -> bool {
    PRIMITIVES.contains(&name)
}

/// The network's name, raw if it is a primitive type's, so that [`qualify_primitives`] leaves
/// it alone.
pub fn type_ident(ident: Ident) -> Ident {
    if is_primitive(&ident.to_string()) {
        Ident::new_raw(&ident.to_string(), ident.span())
    } else {
        ident
    }
}

/// `tokens` with every bare primitive type name (not raw, not after `::` or `.`) written as
/// `::core::primitive::name`.
pub fn qualify_primitives(tokens: TokenStream) -> TokenStream {
    let mut out = Vec::new();
    // Whether the previous tokens were `::` or `.`: then an ident is a path segment or field.
    let mut after_path = false;
    let mut colon = false;
    for tree in tokens {
        let (tree, path) = match tree {
            TokenTree::Ident(ident) if !after_path && is_primitive(&ident.to_string()) => {
                out.extend(quote!(::core::primitive::#ident));
                after_path = false;
                colon = false;
                continue;
            }
            TokenTree::Group(g) => {
                let mut inner = Group::new(g.delimiter(), qualify_primitives(g.stream()));
                inner.set_span(g.span());
                (TokenTree::Group(inner), false)
            }
            TokenTree::Punct(p) => {
                let path = (p.as_char() == ':' && colon) || p.as_char() == '.';
                colon = p.as_char() == ':' && p.spacing() == Spacing::Joint;
                (TokenTree::Punct(p), path)
            }
            other => (other, false),
        };
        if !matches!(tree, TokenTree::Punct(_)) {
            colon = false;
        }
        after_path = path;
        out.push(tree);
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_primitives_are_qualified_and_paths_are_not() {
        let ts = quote!(let x: [f32; 3] = [0.0f32; 3] as usize; ::core::primitive::f32::MAX; a.u8; Vec<u8>; r#f32);
        let ident = type_ident(Ident::new("f32", proc_macro2::Span::call_site()));
        let got = qualify_primitives(quote!(#ts #ident)).to_string();
        assert_eq!(
            got,
            quote!(let x: [::core::primitive::f32; 3] = [0.0f32; 3] as ::core::primitive::usize; ::core::primitive::f32::MAX; a.u8; Vec<::core::primitive::u8>; r#f32 r#f32).to_string()
        );
    }
}
