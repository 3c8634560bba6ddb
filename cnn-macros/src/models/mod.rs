//! torchvision's classification families and segmentation models as DSL: each `NAME!(VIS struct
//! Ident, input(3, H, W))` (optionally `, num_classes = N`) writes the network torchvision's
//! `NAME(weights=None, num_classes=N)` builds, with its module names, so its `state_dict` loads
//! as it is. Each
//! family is a function that writes the DSL from torchvision's configuration tables, as
//! torchvision's Python builds the modules, with `block`s for its module classes and loops for its
//! stages; the text then goes through `cnn!` like any network.

mod alexnet;
mod convnext;
mod densenet;
mod detection;
mod efficientnet;
mod googlenet;
mod inception;
mod mnasnet;
mod mobilenet_v2;
mod mobilenet_v3;
mod regnet;
mod resnet;
mod segmentation;
mod shufflenet;
mod squeezenet;
mod vgg;

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Ident, LitInt, Token, Visibility};

/// `VIS struct Ident, input(C, H, W)`, optionally `, num_classes = N`.
struct Invocation {
    attrs: Vec<Attribute>,
    vis: Visibility,
    ident: Ident,
    input: (LitInt, LitInt, LitInt),
    input_span: Span,
    /// `None` for the family's default (1000 classes; 21 for the segmentation models).
    num_classes: Option<usize>,
}

impl Parse for Invocation {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        input.parse::<Token![struct]>()?;
        let ident: Ident = input.parse()?;
        input.parse::<Token![,]>()?;
        let word: Ident = input.parse()?;
        if word != "input" {
            return Err(syn::Error::new(word.span(), "expected `input(3, H, W)` after the struct's name"));
        }
        let content;
        let parens = syn::parenthesized!(content in input);
        let c: LitInt = content.parse()?;
        content.parse::<Token![,]>()?;
        let h: LitInt = content.parse()?;
        content.parse::<Token![,]>()?;
        let w: LitInt = content.parse()?;
        content.parse::<Option<Token![,]>>()?;
        let mut num_classes = None;
        while input.parse::<Option<Token![,]>>()?.is_some() && !input.is_empty() {
            let key: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            let value: LitInt = input.parse()?;
            if key != "num_classes" {
                return Err(syn::Error::new(
                    key.span(),
                    format!("unknown option `{key}`; the one option is `num_classes = N`"),
                ));
            }
            let n: usize = value.base10_parse()?;
            if n == 0 {
                return Err(syn::Error::new(value.span(), "num_classes must be at least 1"));
            }
            num_classes = Some(n);
        }
        Ok(Invocation { attrs, vis, ident, input: (c, h, w), input_span: parens.span.join(), num_classes })
    }
}

/// A family's DSL for `num_classes` classes (the family's default if `None`) on inputs of
/// `size` (height, width): the blocks it defines (for the families written with blocks), and the
/// items of its struct.
type Body = fn(Option<usize>, (usize, usize)) -> (String, String);

/// Every family of `cnn::models`: the one list, which the `families!` invocation, the facade's
/// re-exports and its documentation table are tested against. torchvision's segmentation
/// models default to the 21 classes of Pascal VOC, its detection models to COCO's 91, the
/// classifiers to ImageNet's 1000.
pub const FAMILIES: &[(&str, Body)] = &[
    ("fcn_resnet50", |c, size| segmentation::fcn_resnet50(c.unwrap_or(21), size)),
    ("deeplabv3_resnet50", |c, size| segmentation::deeplabv3_resnet50(c.unwrap_or(21), size)),
    ("deeplabv3_mobilenet_v3_large", |c, size| segmentation::deeplabv3_mobilenet_v3_large(c.unwrap_or(21), size)),
    ("lraspp_mobilenet_v3_large", |c, size| segmentation::lraspp_mobilenet_v3_large(c.unwrap_or(21), size)),
    ("retinanet_resnet50_fpn", |c, size| detection::retinanet_resnet50_fpn(c.unwrap_or(91), size)),
    ("fcos_resnet50_fpn", |c, size| detection::fcos_resnet50_fpn(c.unwrap_or(91), size)),
    ("ssdlite320_mobilenet_v3_large", |c, size| detection::ssdlite320_mobilenet_v3_large(c.unwrap_or(91), size)),
    ("fasterrcnn_mobilenet_v3_large_fpn", |c, size| {
        detection::fasterrcnn_mobilenet_v3_large_fpn(c.unwrap_or(91), size)
    }),
    ("alexnet", |c, _| (String::new(), alexnet::alexnet(c.unwrap_or(1000)))),
    ("vgg11_bn", |c, _| (String::new(), vgg::vgg11_bn(c.unwrap_or(1000)))),
    ("resnet18", |c, _| resnet::resnet(resnet::Block::Basic, [2, 2, 2, 2], 1, 64, c.unwrap_or(1000))),
    ("resnet34", |c, _| resnet::resnet(resnet::Block::Basic, [3, 4, 6, 3], 1, 64, c.unwrap_or(1000))),
    ("resnet50", |c, _| resnet::resnet(resnet::Block::Bottleneck, [3, 4, 6, 3], 1, 64, c.unwrap_or(1000))),
    ("resnet152", |c, _| resnet::resnet(resnet::Block::Bottleneck, [3, 8, 36, 3], 1, 64, c.unwrap_or(1000))),
    ("resnext50_32x4d", |c, _| resnet::resnet(resnet::Block::Bottleneck, [3, 4, 6, 3], 32, 4, c.unwrap_or(1000))),
    ("wide_resnet50_2", |c, _| resnet::resnet(resnet::Block::Bottleneck, [3, 4, 6, 3], 1, 128, c.unwrap_or(1000))),
    ("mobilenet_v2", |c, _| mobilenet_v2::mobilenet_v2(c.unwrap_or(1000))),
    ("mobilenet_v3_small", |c, _| mobilenet_v3::mobilenet_v3_small(c.unwrap_or(1000))),
    ("efficientnet_b0", |c, _| efficientnet::efficientnet_b0(c.unwrap_or(1000))),
    ("regnet_x_400mf", |c, _| regnet::regnet_x_400mf(c.unwrap_or(1000))),
    ("regnet_y_400mf", |c, _| regnet::regnet_y_400mf(c.unwrap_or(1000))),
    ("mnasnet0_5", |c, _| mnasnet::mnasnet(0.5, c.unwrap_or(1000))),
    ("shufflenet_v2_x0_5", |c, _| shufflenet::shufflenet_v2([24, 48, 96, 192, 1024], c.unwrap_or(1000))),
    ("squeezenet1_1", |c, _| squeezenet::squeezenet1_1(c.unwrap_or(1000))),
    ("densenet121", |c, _| densenet::densenet(32, [6, 12, 24, 16], 64, c.unwrap_or(1000))),
    ("densenet169", |c, _| densenet::densenet(32, [6, 12, 32, 32], 64, c.unwrap_or(1000))),
    ("googlenet", |c, _| googlenet::googlenet(c.unwrap_or(1000))),
    ("inception_v3", |c, _| inception::inception_v3(c.unwrap_or(1000))),
    ("convnext_tiny", |c, _| convnext::convnext([(96, 3), (192, 3), (384, 9), (768, 3)], c.unwrap_or(1000))),
];

/// A second network a family's macro writes beside the first, for a model torchvision keeps in
/// one `state_dict` but runs in two parts with work of another kind between them (Faster
/// R-CNN's box head, on regions pooled from the first network's maps): its struct is the
/// first's name with `suffix`, on `input` (C, H, W), with these items.
pub struct Companion {
    pub suffix: &'static str,
    pub input: (usize, usize, usize),
    pub items: String,
}

/// A family's second network for `num_classes` classes (the family's default if `None`).
type CompanionBody = fn(Option<usize>) -> Companion;

/// The families that write a second network, for `num_classes` classes (the family's default
/// if `None`).
const COMPANIONS: &[(&str, CompanionBody)] =
    &[("fasterrcnn_mobilenet_v3_large_fpn", |c| detection::fasterrcnn_box_head(c.unwrap_or(91)))];

fn body(name: &str, num_classes: Option<usize>, size: (usize, usize)) -> Option<(String, String)> {
    FAMILIES.iter().find(|(n, _)| *n == name).map(|(_, body)| body(num_classes, size))
}

/// The macro `cnn::models::NAME!`: the invocation read, the family's DSL written, and the whole
/// run through the `cnn!` macro.
pub fn expand(name: &str, input: TokenStream) -> TokenStream {
    let inv = match syn::parse2::<Invocation>(crate::parse::unwrap_invisible(input)) {
        Ok(inv) => inv,
        Err(e) => return e.to_compile_error(),
    };
    let size = match (inv.input.1.base10_parse::<usize>(), inv.input.2.base10_parse::<usize>()) {
        (Ok(h), Ok(w)) if h > 0 && w > 0 => (h, w),
        _ => {
            return syn::Error::new(inv.input_span, "the input's height and width are positive integers")
                .to_compile_error()
        }
    };
    let Some((blocks, text)) = body(name, inv.num_classes, size) else {
        return syn::Error::new(Span::call_site(), format!("no torchvision family `{name}`")).to_compile_error();
    };
    let blocks: TokenStream = match blocks.parse() {
        Ok(blocks) => crate::parse::respan(blocks, inv.input_span),
        Err(e) => {
            return syn::Error::new(inv.input_span, format!("cnn: the {name} blocks are bad tokens: {e}"))
                .to_compile_error()
        }
    };
    let items: TokenStream = match text.parse() {
        // Every token gets the invocation's `input(...)` span, so that an error in the
        // generated text (an input too small for the network) points there.
        Ok(items) => crate::parse::respan(items, inv.input_span),
        Err(e) => {
            return syn::Error::new(inv.input_span, format!("cnn: the {name} table wrote bad tokens: {e}"))
                .to_compile_error()
        }
    };
    let Invocation { attrs, vis, ident, input: (c, h, w), input_span, num_classes } = inv;
    let net = quote::quote! {
        #blocks
        #(#attrs)*
        #vis struct #ident {
            input(#c, #h, #w)
            #items
        }
    };
    let mut code = crate::expand_net(net);
    if let Some((_, companion)) = COMPANIONS.iter().find(|(n, _)| *n == name) {
        let Companion { suffix, input: (c, h, w), items } = companion(num_classes);
        let [c, h, w] = [c, h, w].map(proc_macro2::Literal::usize_unsuffixed);
        let second = Ident::new(&format!("{ident}{suffix}"), ident.span());
        let doc = format!(
            "The second network of [`{ident}`] (torchvision's `{name}` keeps both in one `state_dict`: load it with `{ident}::load_safetensors_with`)."
        );
        let items: TokenStream = match items.parse() {
            Ok(items) => crate::parse::respan(items, input_span),
            Err(e) => {
                return syn::Error::new(input_span, format!("cnn: the {name} table wrote bad tokens: {e}"))
                    .to_compile_error()
            }
        };
        code.extend(crate::expand_net(quote::quote! {
            #[doc = #doc]
            #vis struct #second {
                input(#c, #h, #w)
                #items
            }
        }));
    }
    code
}

/// `torchvision.models._utils._make_divisible`: `v` rounded to a multiple of `divisor`, never
/// below 90% of `v`.
pub fn make_divisible(v: f64, divisor: usize) -> usize {
    let d = divisor as f64;
    let mut new = (divisor).max(((v + d / 2.0) as usize) / divisor * divisor);
    if (new as f64) < 0.9 * v {
        new += divisor;
    }
    new
}
