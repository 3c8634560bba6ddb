//! The wording of every message the macro can give, in one place.
//!
//! Style: lowercase, no final period, quote the DSL, give the numbers and the incoming shape,
//! and end with a hint on its own line where one helps.

use crate::shape::{Hw, Shape, ShapeError};
use proc_macro2::Span;

/// A message on `span`, with an optional hint.
pub fn at(span: Span, message: impl Into<String>, hint: Option<String>) -> syn::Error {
    let mut text = message.into();
    if let Some(hint) = hint {
        text += "\nhelp: ";
        text += &hint;
    }
    syn::Error::new(span, text)
}

fn hw(v: Hw) -> String {
    format!("{}x{}", v.0, v.1)
}

/// The message and hint for a shape error found at layer `layer` (`conv`, `pool`, `linear`).
pub fn shape_message(layer: &str, e: &ShapeError) -> (String, Option<String>) {
    match e {
        ShapeError::Channels { expected, found, input } => (
            format!("{layer} expects {expected} input channels, but the previous layer outputs {found} (shape {input})"),
            Some(format!("write `{found}`, or `_` to take it from the previous layer")),
        ),
        ShapeError::Features { expected, found, input } => {
            let from = match input {
                Shape::Flat(n, Some((c, h, w))) => format!("[{c}, {h}, {w}] = {n}"),
                other => format!("shape {other}"),
            };
            (
                format!("{layer} expects {expected} input features, but the previous layer outputs {found} ({from})"),
                Some(format!("write `{found}`, or `_` to take it from the previous layer")),
            )
        }
        ShapeError::Window { kernel, padded, input, padding } => {
            let what = if layer == "conv" { "kernel" } else { "window" };
            let fits = if *padding == (0, 0) {
                format!("the input {} (shape {input})", hw(*padded))
            } else {
                format!("the padded input {} (shape {input}, padding {})", hw(*padded), hw(*padding))
            };
            let hint = if layer == "conv" { "use a smaller kernel or more padding" } else { "use a smaller window, or pool earlier" };
            (format!("{layer} {what} {} is larger than {fits}, so the output would be empty", hw(*kernel)), Some(hint.into()))
        }
        ShapeError::NotSpatial { input } => (
            format!("{layer} needs a [channels, height, width] input, but the previous layer outputs {input} after `flatten`"),
            Some("move `flatten` after the last conv or pool".into()),
        ),
        ShapeError::NotFlat { input } => (
            format!("{layer} needs a flat input, but the previous layer outputs {input}"),
            Some(format!("add `flatten` before `{layer}`")),
        ),
        ShapeError::Zero => (format!("{layer} has a zero size"), None),
        ShapeError::TooLarge { what } => (
            format!("{layer} {what} would have more than {} elements", crate::shape::MAX_ELEMENTS),
            Some("use fewer channels or a smaller input".into()),
        ),
    }
}

/// Every error of one invocation, each tagged with the layer it belongs to, so that they come
/// out in source order although parsing, resolution and shape checking find them in passes.
#[derive(Default)]
pub struct Errors {
    layer: usize,
    list: Vec<(usize, syn::Error)>,
}

impl Errors {
    /// Tags the errors pushed from now on with layer `index` (its position in the DSL).
    pub fn at_layer(&mut self, index: usize) {
        self.layer = index;
    }

    pub fn push(&mut self, e: syn::Error) {
        self.list.push((self.layer, e));
    }

    pub fn extend(&mut self, errors: impl IntoIterator<Item = syn::Error>) {
        for e in errors {
            self.push(e);
        }
    }

    /// All errors as one, in layer order, or `None` if there are none.
    pub fn into_error(mut self) -> Option<syn::Error> {
        self.list.sort_by_key(|(layer, _)| *layer);
        self.list.into_iter().map(|(_, e)| e).reduce(|mut all, e| {
            all.combine(e);
            all
        })
    }
}
