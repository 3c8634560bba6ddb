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
        ShapeError::Window { kernel: _, padded: None, input, padding } => (
            format!(
                "{layer} padding {} on the input of shape {input} makes a padded size past any memory",
                hw(*padding)
            ),
            Some("a padding of more than the kernel size only adds zeros: use a smaller one".into()),
        ),
        ShapeError::Window { kernel, padded: Some(padded), input, padding } => {
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
        ShapeError::ChannelsLast { input } => (
            format!("{layer} needs a [channels, height, width] input, but the value is {input}"),
            Some("permute back first, with `permute(0, 3, 1, 2)`".into()),
        ),
        ShapeError::LastDim { input } => (
            format!("{layer} normalizes the last dimension, which on {input} is the width, not the channels"),
            Some("write `layernorm2d` for the channels of [C, H, W], or `permute(0, 2, 3, 1)` first".into()),
        ),
        ShapeError::Join { first, this, how, .. } => {
            let hint = match first {
                Shape::Chw(_, h, w) if !how.starts_with("a sum") => {
                    format!("every branch must keep a {h}x{w} map, as the first does: give them the same stride and padding")
                }
                _ => format!("make every branch end in {first}"),
            };
            (format!("this branch outputs {this}, but the first branch outputs {first}: {how}"), Some(hint))
        }
        ShapeError::Gate { input, body } if layer == "mul" => (
            format!("mul's second branch outputs {body}, which neither is [{}, 1, 1] nor the first branch's shape {input}", input.channels()),
            Some("end the second branch in one value per channel (`adaptive_avgpool(1)`), or in the first's shape".into()),
        ),
        ShapeError::Gate { input, body } => (
            format!("gate's body outputs {body}, which neither is [{}, 1, 1] nor the input's shape {input}", input.channels()),
            Some("end the body in one value per channel, as squeeze-and-excitation does with `adaptive_avgpool(1)`".into()),
        ),
        ShapeError::Divide { channels, parts, what } => (
            format!("{layer} cannot cut {channels} channels into {parts} equal {what}"),
            Some(format!("use a channel count divisible by {parts}")),
        ),
        ShapeError::Size { expected, found, input } => (
            format!("{layer} expects {expected} channels, but the previous layer outputs {found} (shape {input})"),
            Some(format!("write `{found}`")),
        ),
        ShapeError::Permute { dims, input } => {
            let d = dims.map(|d| d.to_string()).join(", ");
            let hint = match input {
                Shape::Hwc(..) => "the value is channels-last: `permute(0, 3, 1, 2)` turns it back",
                Shape::Chw(..) => "on a [channels, height, width] value write `permute(0, 2, 3, 1)` for channels-last",
                Shape::Flat(..) => "a flat value has no axes to permute",
            };
            (format!("{layer}({d}) does not apply to {input}"), Some(hint.into()))
        }
        ShapeError::Zero => (format!("{layer} has a zero size"), None),
        ShapeError::Own { message, hint } => (message.clone(), hint.clone()),
        ShapeError::Groups { channels, groups, what } => (
            format!("{layer} {what} channels {channels} are not divisible by groups={groups}"),
            Some("groups must divide both channel counts, as in `conv(32, 64, k=3, g=32)`".to_string()),
        ),
        ShapeError::SameStride => (
            format!("{layer} padding=same needs stride 1, as in PyTorch"),
            Some("give the padding as numbers, or use stride 1".into()),
        ),
        ShapeError::PoolPadding { padding, kernel } => (
            format!("{layer} padding {} is more than half the window {}", hw(*padding), hw(*kernel)),
            Some("PyTorch allows padding up to half the window; use a larger window or less padding".into()),
        ),
        ShapeError::BatchNormKind { written, input } => (
            format!("{written} needs a {} input, but the previous layer outputs {input}", if *written == "batchnorm2d" { "[channels, height, width]" } else { "flat" }),
            Some("write `batchnorm`, which picks BatchNorm1d or BatchNorm2d from the shape".into()),
        ),
        ShapeError::OutputPadding { output_padding, stride, dilation } => (
            format!(
                "{layer} output_padding {} must be smaller than the stride {} or the dilation {}",
                hw(*output_padding),
                hw(*stride),
                hw(*dilation)
            ),
            Some("output_padding picks one of the `stride` output sizes that map to the same input size: use 0..stride".into()),
        ),
        ShapeError::OutputPaddingPastStride { output_padding, padding, stride } => (
            format!(
                "{layer} output_padding {} exceeds the padding {} by the stride {} or more, which is not supported",
                hw(*output_padding),
                hw(*padding),
                hw(*stride)
            ),
            Some("the extra rows past every tap are the bias alone: use a larger stride or padding, or pad the output".into()),
        ),
        ShapeError::Cropped { full, padding, input } => (
            format!(
                "{layer} padding {} crops away the whole output {} (input shape {input})",
                hw(*padding),
                hw(*full)
            ),
            Some("the padding removes that much from each side of the output: use a smaller one".into()),
        ),
        ShapeError::UpsampleTarget { both: true } => (
            format!("{layer} takes `size` or `scale_factor`, not both"),
            Some("PyTorch refuses both too: keep one".into()),
        ),
        ShapeError::UpsampleTarget { both: false } => (
            format!("{layer} needs `size` or `scale_factor`"),
            Some("write `upsample(scale_factor=2)` or `upsample(size=(h, w))`".into()),
        ),
        ShapeError::AlignCorners { mode } => (
            format!("{layer} align_corners applies to the interpolating modes, not `{mode}`"),
            Some("use `mode=bilinear`, or leave align_corners out".into()),
        ),
        ShapeError::Vanished { scale, input } => (
            format!("{layer} scale_factor {scale} leaves no pixels of the input of shape {input}"),
            Some("each side becomes floor(size · scale_factor), which must be at least 1".into()),
        ),
        ShapeError::PadTooLarge { mode, padding, input, inclusive } => {
            let [l, r, t, b] = padding;
            let limit = if *inclusive { "at most" } else { "smaller than" };
            (
                format!(
                    "{layer} padding (left {l}, right {r}, top {t}, bottom {b}) must be {limit} the input's width and height (shape {input})"
                ),
                Some(format!("{mode} padding reads the map itself, as in PyTorch: pad less, or use zero padding")),
            )
        }
        ShapeError::Indivisible { what, size, by, input } => (
            format!("{layer} needs a {what} divisible by {by}, but the input's is {size} (shape {input})"),
            Some(format!("make the {what} a multiple of {by}, or use a factor that divides it")),
        ),
        ShapeError::Dim { dim, input } => {
            let rank = input.dims().len() as i64 + 1;
            let dims: Vec<String> = input.dims().iter().map(usize::to_string).collect();
            let value = format!("[N, {}]", dims.join(", "));
            let message = if *dim == 0 || *dim == -rank {
                format!("{layer} over dim {dim}, the batch of {value}, would mix the samples of a batch, which are computed apart")
            } else {
                format!("{layer} dim {dim} is out of range for the batched value {value} (dims -{rank}..={})", rank - 1)
            };
            (message, Some(format!("write a dim in 1..={} or -{}..=-1", rank - 1, rank - 1)))
        }
        ShapeError::TooLarge { what, dims } => (
            format!(
                "{layer} {what} = {dims:?} would have more than {} elements",
                crate::shape::MAX_ELEMENTS
            ),
            Some("use fewer channels or a smaller input".into()),
        ),
    }
}

/// Every error of one invocation, each tagged with the item it belongs to, so that they come
/// out in source order although parsing, resolution and shape checking find them in passes.
///
/// An item expanded from a block's body carries a note naming the use that produced it (and
/// the uses around that one); every error on the item ends with it, so that an error in a
/// body used twice is told apart by its uses.
#[derive(Default)]
pub struct Errors {
    item: usize,
    list: Vec<(usize, syn::Error)>,
    notes: std::collections::HashMap<usize, std::rc::Rc<str>>,
    tainted: bool,
    /// Each error's place and message, to say each once.
    said: std::collections::HashSet<Said>,
}

/// Where an error starts and ends (line, column) and its message.
type Said = ((usize, usize), (usize, usize), String);

impl Errors {
    /// Tags the errors pushed from now on with item `index` (its position in the DSL, counting
    /// every layer and block in source order).
    pub fn at_item(&mut self, index: usize) {
        self.item = index;
    }

    /// Ends every error on item `index` with `note`.
    pub fn note(&mut self, index: usize, note: std::rc::Rc<str>) {
        self.notes.insert(index, note);
    }

    /// Adds `e`, unless the same message is already there on the same token: a mistake inside
    /// a loop is found once per turn, and is one mistake.
    pub fn push(&mut self, e: syn::Error) {
        let e = match self.notes.get(&self.item) {
            Some(note) => with_note(e, note),
            None => e,
        };
        let (span, message) = (e.span(), e.to_string());
        let start = (span.start().line, span.start().column);
        let end = (span.end().line, span.end().column);
        if !self.said.insert((start, end, message)) {
            return;
        }
        self.list.push((self.item, e));
    }

    /// Marks the network broken by an error reported elsewhere (in a block's definition).
    pub fn taint(&mut self) {
        self.tainted = true;
    }

    /// Whether [`Errors::taint`] was called.
    pub fn tainted(&self) -> bool {
        self.tainted
    }

    /// How many errors there are.
    pub fn count(&self) -> usize {
        self.list.len()
    }

    pub fn extend(&mut self, errors: impl IntoIterator<Item = syn::Error>) {
        for e in errors {
            self.push(e);
        }
    }

    /// All errors as one, in layer order, or `None` if there are none.
    pub fn into_error(mut self) -> Option<syn::Error> {
        self.list.sort_by_key(|(item, _)| *item);
        self.list.into_iter().map(|(_, e)| e).reduce(|mut all, e| {
            all.combine(e);
            all
        })
    }
}

/// `e` with `note` after each of its messages.
fn with_note(e: syn::Error, note: &str) -> syn::Error {
    let noted = e.clone().into_iter().map(|part| syn::Error::new(part.span(), format!("{part}\nnote: {note}")));
    noted
        .reduce(|mut all, part| {
            all.combine(part);
            all
        })
        .unwrap_or(e)
}

/// Edit distance, for "did you mean" hints.
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The nearest of `candidates` to `word`, if near enough to be a likely typo.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            let prefix = lower.len() >= 3 && c.starts_with(&lower);
            (if prefix { 0 } else { distance(&lower, c) }, c)
        })
        .filter(|&(d, c)| d <= 2.max(c.len() / 3))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let kinds = ["input", "conv", "conv2d", "relu", "pool", "maxpool", "flatten", "linear"];
        assert_eq!(nearest("conx", kinds), Some("conv"));
        assert_eq!(nearest("ReLU", kinds), Some("relu"));
        assert_eq!(nearest("linaer", kinds), Some("linear"));
        assert_eq!(nearest("zzzzzzzz", kinds), None);
        assert_eq!(nearest("kernel", ["k", "kernel_size", "s", "stride"]), Some("kernel_size"));
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
