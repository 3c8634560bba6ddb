//! The wording of the messages shared by several kinds (a channel count, a window that does
//! not fit, a flat value where a map is needed), and the error list of an invocation. A mistake
//! only one kind makes is worded in that kind's file (`Layer::explain`, `ShapeError::Own`).
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

pub fn hw(v: Hw) -> String {
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
        ShapeError::NotSpatial { input: input @ Shape::Cl(c, l) } => (
            format!("{layer} needs a [channels, height, width] input, but the value is {input}, a [channels, length] one"),
            Some(format!("`view` it back to [C, H, W] first, as in `view({c}, {l}, 1)`")),
        ),
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
        ShapeError::Join { first, this, how, .. } => {
            let hint = match first {
                Shape::Chw(_, h, w) if !how.starts_with("a sum") => {
                    format!("every branch must keep a {h}x{w} map, as the first does: give them the same stride and padding")
                }
                _ => format!("make every branch end in {first}"),
            };
            (format!("this branch outputs {this}, but the first branch outputs {first}: {how}"), Some(hint))
        }
        ShapeError::Divide { channels, parts, what } => (
            format!("{layer} cannot cut {channels} channels into {parts} equal {what}"),
            Some(format!("use a channel count divisible by {parts}")),
        ),
        ShapeError::Size { expected, found, input } => (
            format!("{layer} expects {expected} channels, but the previous layer outputs {found} (shape {input})"),
            Some(format!("write `{found}`")),
        ),
        ShapeError::Zero => (format!("{layer} has a zero size"), None),
        ShapeError::Own { message, hint } => (message.clone(), hint.clone()),
        ShapeError::Groups { channels, groups, what } => (
            format!("{layer} {what} channels {channels} are not divisible by groups={groups}"),
            Some("groups must divide both channel counts, as in `conv(32, 64, k=3, g=32)`".to_string()),
        ),
        ShapeError::TooLarge { what, dims } => (
            format!(
                "{layer} {what} = {dims:?} would have more than {} elements",
                crate::shape::MAX_ELEMENTS
            ),
            Some("use fewer channels or a smaller input".into()),
        ),
        // The variants one kind raises are worded in its file (`Layer::explain`); reaching
        // here means a kind forgot one, which its UI case shows.
        other => (format!("{layer}: {other:?}"), None),
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

    /// Drops the errors pushed after the first `count` (a pass whose problems one error says).
    pub fn truncate(&mut self, count: usize) {
        self.list.truncate(count);
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

/// The hint for `name`, which no parameter or loop variable has, among `names` (those in scope):
/// the nearest one, and all of them; `None` when there are none.
pub fn names_here(name: &str, mut names: Vec<&str>) -> Option<String> {
    if names.is_empty() {
        return None;
    }
    names.sort_unstable();
    Some(match nearest(name, names.iter().copied()) {
        Some(near) => format!("did you mean `{near}`? the names here are {}", names.join(", ")),
        None => format!("the names here are {}", names.join(", ")),
    })
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

/// The largest integer the DSL reads: its expressions compute in i64, so a literal past it
/// would wrap (`18446744073709551615` read as -1).
pub const MAX_INT: usize = i64::MAX as usize;

/// The error for an integer literal past [`MAX_INT`], with its text.
pub fn too_large(i: &syn::LitInt, span: Span) -> syn::Error {
    at(
        span,
        format!("`{i}` is too large: integers in the DSL go up to {MAX_INT}"),
        Some("sizes, counts and indices are far smaller; check the number".into()),
    )
}

/// The error for a float literal past f64's range (it would read as infinity), with its text.
pub fn float_out_of_range(f: &syn::LitFloat, span: Span) -> syn::Error {
    at(
        span,
        format!(
            "`{f}` is out of the range of a float: f64 holds up to {:e}, and the network computes in f32 (up to {:e})",
            f64::MAX,
            f32::MAX
        ),
        None,
    )
}

/// Items as a message lists them: `a, b and c` (or with `or`).
pub fn listed(items: &[String], conjunction: &str) -> String {
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} {conjunction} {last}", rest.join(", ")),
        _ => items.concat(),
    }
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
