//! The `cnn!` macro: a convolutional network written once in PyTorch's vocabulary, shape-checked
//! at compile time and expanded into statically sized Rust. See the `cnn` crate for the guide.
//!
//! Pipeline: `parse` (tokens to an item tree) → `graph` (items resolved into `layers`, blocks
//! flattened into nodes, keys and shapes checked; every error collected) → `plan` (tensor
//! tables, fusion, buffers, training regions and stages) → `expand` (code). `args` matches
//! arguments, `shape` holds the pure shape arithmetic and `error` the wording shared by several
//! kinds; `merges` holds the nodes blocks join branches with; `vocabulary` tests every list of
//! the DSL's words against the registries.

mod api;
mod args;
mod blocks;
mod error;
mod expand;
mod expr;
mod graph;
mod hygiene;
mod instance;
mod layers;
mod merges;
mod models;
mod parse;
mod plan;
mod shape;
mod size;
mod vocabulary;

use proc_macro::TokenStream;
use syn::ext::IdentExt;

/// Defines a convolutional network; see the `cnn` crate's documentation for the DSL.
#[proc_macro]
pub fn cnn(input: TokenStream) -> TokenStream {
    expand_net(input.into()).into()
}

/// Defines torchvision's families: `NAME!(VIS struct Ident, input(3, H, W))`, optionally
/// `, num_classes = N`. See `cnn::models`.
macro_rules! families {
    ($($name:ident)*) => {$(
        #[doc = concat!("torchvision's `", stringify!($name), "`, with its `state_dict` keys: `", stringify!($name), "!(pub struct Net, input(3, 224, 224))`, optionally `, num_classes = N`. See `cnn::models`.")]
        #[proc_macro]
        pub fn $name(input: TokenStream) -> TokenStream {
            models::expand(stringify!($name), input.into()).into()
        }
    )*};
}

families!(alexnet vgg11_bn resnet18 resnet34 resnet50 resnet152 resnext50_32x4d wide_resnet50_2 mobilenet_v2 mobilenet_v3_small efficientnet_b0 regnet_x_400mf regnet_y_400mf mnasnet0_5 shufflenet_v2_x0_5 squeezenet1_1 densenet121 densenet169 googlenet inception_v3 convnext_tiny fcn_resnet50 deeplabv3_resnet50 deeplabv3_mobilenet_v3_large lraspp_mobilenet_v3_large retinanet_resnet50_fpn fcos_resnet50_fpn ssdlite320_mobilenet_v3_large fasterrcnn_mobilenet_v3_large_fpn);

/// The whole macro on `proc_macro2` tokens, so tests can drive it directly. Never panics: any
/// problem comes back as `compile_error!` invocations spanned on the offending tokens.
fn expand_net(input: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    let mut shared = error::Errors::default();
    let invocation = match parse::parse(input, &mut shared) {
        Ok(invocation) => invocation,
        Err(e) => {
            shared.push(e);
            return shared.into_error().map(|e| e.to_compile_error()).unwrap_or_default();
        }
    };
    instance::check_definitions(&invocation.blocks, &mut shared);
    // A block refused for its name is not used: the word keeps its built-in meaning, so the
    // network's `input(...)` is not read as a use of it.
    let mut invocation = invocation;
    invocation.blocks.retain(|b| vocabulary::builtin(&b.name.to_string()).is_none());
    // Errors in the blocks' definitions come once; each network then brings its own.
    let mut code = shared.into_error().map(|e| e.to_compile_error()).unwrap_or_default();
    let mut names = std::collections::HashSet::new();
    for (syntax, mut errors) in invocation.nets {
        // A second network of one name would define every item twice: one error on its name,
        // and nothing generated for it (the first stands).
        if !names.insert(syntax.ident.unraw().to_string()) {
            let first = format!("a network named `{}` is already defined in this `cnn!`", syntax.ident);
            let hint = Some("give each network its own name".to_string());
            code.extend(error::at(syntax.ident.span(), first, hint).to_compile_error());
            continue;
        }
        let mut net = instance::expand(syntax, &invocation.blocks, &mut errors);
        net.ident = hygiene::type_ident(net.ident);
        let (vis, ident) = (net.vis.clone(), net.ident.clone());
        code.extend(match graph::build(net, errors, &vocabulary::WORDS) {
            Ok(graph) => {
                let out = expand::expand(&graph);
                // Counted as rustc will see it, primitive types qualified.
                match size::check(&graph, &hygiene::qualify_primitives(out.clone())) {
                    Ok(()) => out,
                    Err(e) => {
                        let mut out = e.to_compile_error();
                        let in_len = graph.input.0 * graph.input.1 * graph.input.2;
                        let named: Vec<_> = graph.outputs.iter().map(|o| (o.name.clone(), o.shape.len())).collect();
                        out.extend(expand::stub(&vis, &ident, Some(in_len), Some(graph.output().len()), &named));
                        out
                    }
                }
            }
            Err(broken) => {
                let mut out = broken.error.map(|e| e.to_compile_error()).unwrap_or_default();
                out.extend(expand::stub(&vis, &ident, broken.in_len, broken.out_len, &broken.outputs));
                out
            }
        });
    }
    hygiene::qualify_primitives(code)
}

#[cfg(test)]
mod random_nets;
#[cfg(test)]
mod tests;
