//! Typed layers, resolved from the syntax: arguments matched to parameters by position or
//! keyword as PyTorch matches them, defaults filled in, each value keeping the span of the token
//! it came from so later errors can point at it.

use crate::error::{at, Errors};
use crate::parse::{LayerSyntax, NetSyntax, ValueSyntax};
use crate::shape::Hw;
use proc_macro2::Span;
use syn::{Attribute, Ident, Visibility};

/// A value and the token it came from.
#[derive(Clone, Copy, Debug)]
pub struct Arg<T> {
    pub value: T,
    pub span: Span,
}

/// A network after argument resolution.
pub struct Net {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub ident: Ident,
    pub layers: Vec<Layer>,
}

/// One layer after argument resolution.
pub struct Layer {
    pub name: Option<Ident>,
    pub kind: LayerKind,
    /// The span of the layer's kind word (`conv`).
    pub span: Span,
    /// The layer as written, for the summary.
    pub text: String,
    /// `None` when the kind is unknown or an argument was wrong (already reported).
    pub op: Option<Op>,
}

/// What a layer computes, with its arguments.
pub enum Op {
    Input { c: Arg<usize>, h: Arg<usize>, w: Arg<usize> },
    Conv { c_in: Option<Arg<usize>>, c_out: Arg<usize>, k: Arg<Hw>, s: Arg<Hw>, p: Arg<Hw> },
    Relu,
    Pool { k: Arg<Hw>, s: Arg<Hw> },
    Flatten,
    Linear { f_in: Option<Arg<usize>>, f_out: Arg<usize> },
}

/// The layer kinds of the DSL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerKind {
    Input,
    Conv,
    Relu,
    Pool,
    Flatten,
    Linear,
    Unknown,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ArgKind {
    /// An integer ≥ 1.
    Count,
    /// An integer ≥ 1, or `_`.
    CountOrInfer,
    /// An integer or pair, each ≥ 1.
    Size,
    /// An integer or pair, each ≥ 0.
    Padding,
}

#[derive(Clone, Copy)]
enum Default {
    Required,
    Value(usize),
    /// The value of the parameter at this index (pool stride defaults to the kernel size).
    SameAs(usize),
}

struct ParamDef {
    name: &'static str,
    short: Option<&'static str>,
    kind: ArgKind,
    default: Default,
}

const fn def(name: &'static str, short: Option<&'static str>, kind: ArgKind, default: Default) -> ParamDef {
    ParamDef { name, short, kind, default }
}

const INPUT: &[ParamDef] = &[
    def("channels", None, ArgKind::Count, Default::Required),
    def("height", None, ArgKind::Count, Default::Required),
    def("width", None, ArgKind::Count, Default::Required),
];
const CONV: &[ParamDef] = &[
    def("in_channels", None, ArgKind::CountOrInfer, Default::Required),
    def("out_channels", None, ArgKind::Count, Default::Required),
    def("kernel_size", Some("k"), ArgKind::Size, Default::Required),
    def("stride", Some("s"), ArgKind::Size, Default::Value(1)),
    def("padding", Some("p"), ArgKind::Padding, Default::Value(0)),
];
const POOL: &[ParamDef] = &[
    def("kernel_size", Some("k"), ArgKind::Size, Default::Required),
    def("stride", Some("s"), ArgKind::Size, Default::SameAs(0)),
];
const LINEAR: &[ParamDef] = &[
    def("in_features", None, ArgKind::CountOrInfer, Default::Required),
    def("out_features", None, ArgKind::Count, Default::Required),
];

/// Spellings accepted for each kind.
const KINDS: &[(&str, LayerKind)] = &[
    ("input", LayerKind::Input),
    ("conv", LayerKind::Conv),
    ("conv2d", LayerKind::Conv),
    ("relu", LayerKind::Relu),
    ("pool", LayerKind::Pool),
    ("maxpool", LayerKind::Pool),
    ("flatten", LayerKind::Flatten),
    ("linear", LayerKind::Linear),
];

/// Names users bring from other libraries, and what to write instead.
const SYNONYMS: &[(&str, &str)] = &[
    ("dense", "linear"),
    ("fc", "linear"),
    ("fully_connected", "linear"),
    ("max_pool", "pool"),
    ("maxpool2d", "pool"),
    ("max_pool2d", "pool"),
    ("flat", "flatten"),
];

/// Layers people will reach for that the DSL does not have yet.
const NOT_YET: &[&str] = &[
    "avgpool", "avg_pool", "avgpool2d", "avg_pool2d", "sigmoid", "tanh", "softmax", "log_softmax", "dropout", "batchnorm",
    "batch_norm", "batchnorm2d", "gelu", "leaky_relu", "elu", "silu",
];

impl LayerKind {
    fn from_name(name: &str) -> LayerKind {
        KINDS.iter().find(|(n, _)| *n == name).map_or(LayerKind::Unknown, |(_, k)| *k)
    }

    /// The canonical spelling, used in messages.
    pub fn name(self) -> &'static str {
        match self {
            LayerKind::Input => "input",
            LayerKind::Conv => "conv",
            LayerKind::Relu => "relu",
            LayerKind::Pool => "pool",
            LayerKind::Flatten => "flatten",
            LayerKind::Linear => "linear",
            LayerKind::Unknown => "layer",
        }
    }

    fn params(self) -> &'static [ParamDef] {
        match self {
            LayerKind::Input => INPUT,
            LayerKind::Conv => CONV,
            LayerKind::Pool => POOL,
            LayerKind::Linear => LINEAR,
            LayerKind::Relu | LayerKind::Flatten | LayerKind::Unknown => &[],
        }
    }

    fn usage(self) -> &'static str {
        match self {
            LayerKind::Input => "input(channels, height, width), as in `input(1, 28, 28)`",
            LayerKind::Conv => "conv(in_channels, out_channels, k=3, s=1, p=0), as in `conv(1, 6, k=5, p=2)`",
            LayerKind::Pool => "pool(kernel_size, stride), as in `pool(2)` or `pool(3, 2)`",
            LayerKind::Linear => "linear(in_features, out_features), as in `linear(400, 120)`",
            LayerKind::Relu => "relu",
            LayerKind::Flatten => "flatten",
            LayerKind::Unknown => "",
        }
    }
}

/// Edit distance, for "did you mean" hints.
fn distance(a: &str, b: &str) -> usize {
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
fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
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

fn unknown_kind(kind: &Ident) -> syn::Error {
    let word = kind.to_string();
    let lower = word.to_lowercase();
    let known = "input, conv, relu, pool (or maxpool), flatten, linear";
    if let Some((_, instead)) = SYNONYMS.iter().find(|(s, _)| *s == lower) {
        return at(kind.span(), format!("unknown layer `{word}`"), Some(format!("write `{instead}`")));
    }
    if NOT_YET.contains(&lower.as_str()) {
        return at(kind.span(), format!("`{word}` is not supported yet"), Some(format!("the layers are {known}")));
    }
    let hint = match nearest(&word, KINDS.iter().map(|(n, _)| *n)) {
        Some(n) => format!("did you mean `{n}`? the layers are {known}"),
        None => format!("the layers are {known}"),
    };
    at(kind.span(), format!("unknown layer `{word}`"), Some(hint))
}

/// Resolves every layer; each problem is pushed to `errors` and leaves that layer without an op.
pub fn resolve(net: NetSyntax, errors: &mut Errors) -> Net {
    let layers = net
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            errors.at_layer(i);
            resolve_layer(l, errors)
        })
        .collect();
    Net { attrs: net.attrs, vis: net.vis, ident: net.ident, layers }
}

fn resolve_layer(layer: &LayerSyntax, errors: &mut Errors) -> Layer {
    let kind = LayerKind::from_name(&layer.kind.to_string());
    let span = layer.kind.span();
    let text = layer.text();
    let done = |op| Layer { name: layer.name.clone(), kind, span, text: text.clone(), op };
    if kind == LayerKind::Unknown {
        errors.push(unknown_kind(&layer.kind));
        return done(None);
    }
    if kind == LayerKind::Input {
        if let Some(name) = &layer.name {
            errors.push(at(name.span(), "`input` cannot have a name", Some("remove the name; `input` has no parameters".into())));
        }
    }
    let defs = kind.params();
    let Some(args) = &layer.args else {
        if defs.is_empty() {
            return done(Some(if kind == LayerKind::Relu { Op::Relu } else { Op::Flatten }));
        }
        errors.push(at(span, format!("{} needs arguments", kind.name()), Some(format!("write {}", kind.usage()))));
        return done(None);
    };
    if defs.is_empty() {
        if args.args.is_empty() {
            return done(Some(if kind == LayerKind::Relu { Op::Relu } else { Op::Flatten }));
        }
        errors.push(at(args.span, format!("{} takes no arguments", kind.name()), Some(format!("write `{}`", kind.name()))));
        return done(None);
    }

    let mut given: Vec<Option<ValueSyntax>> = vec![None; defs.len()];
    let mut saw_keyword = false;
    let mut saw_unknown = false;
    let mut positional = 0;
    let mut ok = true;
    // Misplaced, unknown or repeated arguments are reported but do not stop the layer: as long
    // as every parameter has a good value, shape checking goes on through it.
    for arg in &args.args {
        let (index, span) = match &arg.key {
            None => {
                let span = arg.value.span();
                if saw_keyword {
                    errors.push(at(span, "positional argument after a keyword argument", Some("put positional arguments first, as in Python".into())));
                    continue;
                }
                if positional == defs.len() {
                    let names: Vec<&str> = defs.iter().map(|d| d.name).collect();
                    errors.push(at(
                        span,
                        format!("{} takes at most {} arguments ({})", kind.name(), defs.len(), names.join(", ")),
                        Some(format!("write {}", kind.usage())),
                    ));
                    continue;
                }
                positional += 1;
                (positional - 1, span)
            }
            Some(key) => {
                saw_keyword = true;
                let word = key.to_string();
                match defs.iter().position(|d| d.name == word || d.short == Some(word.as_str())) {
                    Some(i) => (i, key.span()),
                    None => {
                        let spellings = defs.iter().flat_map(|d| d.short.into_iter().chain([d.name]));
                        let list: Vec<String> = defs.iter().map(|d| d.short.map_or(d.name.to_string(), |s| format!("{s}/{}", d.name))).collect();
                        let hint = match nearest(&word, spellings) {
                            Some(n) => format!("did you mean `{n}`? {} takes {}", kind.name(), list.join(", ")),
                            None => format!("{} takes {}", kind.name(), list.join(", ")),
                        };
                        errors.push(at(key.span(), format!("unknown argument `{word}` for {}", kind.name()), Some(hint)));
                        saw_unknown = true;
                        continue;
                    }
                }
            }
        };
        if given[index].is_some() {
            errors.push(at(span, format!("`{}` is given twice", defs[index].name), None));
            continue;
        }
        given[index] = Some(arg.value);
    }

    let mut values: Vec<Option<Arg<Value>>> = Vec::with_capacity(defs.len());
    for (i, d) in defs.iter().enumerate() {
        let v = match given[i] {
            Some(v) => check_value(d, v, errors),
            None => match d.default {
                // After an unknown keyword the missing parameter is most likely the one it
                // misspelled, which the unknown-argument hint already names.
                Default::Required if saw_unknown => None,
                Default::Required => {
                    errors.push(at(span, format!("{} is missing `{}`", kind.name(), d.name), Some(format!("write {}", kind.usage()))));
                    None
                }
                Default::Value(v) => Some(Arg { value: Value::Pair(v, v), span }),
                Default::SameAs(j) => values[j],
            },
        };
        ok &= v.is_some() || matches!((d.kind, given[i]), (ArgKind::CountOrInfer, Some(ValueSyntax::Infer(_))));
        values.push(v);
    }
    if !ok {
        return done(None);
    }
    let count = |i: usize| values[i].map(|a| Arg { value: a.value.count(), span: a.span });
    let pair = |i: usize| values[i].map(|a| Arg { value: a.value.pair(), span: a.span });
    let op = match kind {
        LayerKind::Input => Op::Input { c: count(0).unwrap(), h: count(1).unwrap(), w: count(2).unwrap() },
        LayerKind::Conv => Op::Conv { c_in: count(0), c_out: count(1).unwrap(), k: pair(2).unwrap(), s: pair(3).unwrap(), p: pair(4).unwrap() },
        LayerKind::Pool => Op::Pool { k: pair(0).unwrap(), s: pair(1).unwrap() },
        LayerKind::Linear => Op::Linear { f_in: count(0), f_out: count(1).unwrap() },
        LayerKind::Relu | LayerKind::Flatten | LayerKind::Unknown => unreachable!("handled above"),
    };
    done(Some(op))
}

#[derive(Clone, Copy)]
enum Value {
    Count(usize),
    Pair(usize, usize),
}

impl Value {
    fn count(self) -> usize {
        match self {
            Value::Count(v) | Value::Pair(v, _) => v,
        }
    }
    fn pair(self) -> Hw {
        match self {
            Value::Count(v) => (v, v),
            Value::Pair(h, w) => (h, w),
        }
    }
}

/// Checks one given value against its parameter; `None` if it is wrong (reported) or `_`.
fn check_value(d: &ParamDef, v: ValueSyntax, errors: &mut Errors) -> Option<Arg<Value>> {
    let min = if d.kind == ArgKind::Padding { 0 } else { 1 };
    let too_small = |span| at(span, format!("`{}` must be at least {min}", d.name), None);
    match (v, d.kind) {
        (ValueSyntax::Bad(_), _) => None,
        (ValueSyntax::Infer(_), ArgKind::CountOrInfer) => None,
        (ValueSyntax::Infer(span), _) => {
            errors.push(at(span, format!("`_` cannot stand for `{}`", d.name), Some("`_` infers only in_channels and in_features".into())));
            None
        }
        (ValueSyntax::Pair(_, _, span), ArgKind::Count | ArgKind::CountOrInfer) => {
            errors.push(at(span, format!("`{}` takes one integer, not an `(h, w)` pair", d.name), None));
            None
        }
        (ValueSyntax::Int(n, span), _) if n < min => {
            errors.push(too_small(span));
            None
        }
        (ValueSyntax::Pair(h, w, span), _) if h < min || w < min => {
            errors.push(too_small(span));
            None
        }
        (ValueSyntax::Int(n, span), ArgKind::Count | ArgKind::CountOrInfer) => Some(Arg { value: Value::Count(n), span }),
        (ValueSyntax::Int(n, span), _) => Some(Arg { value: Value::Pair(n, n), span }),
        (ValueSyntax::Pair(h, w, span), _) => Some(Arg { value: Value::Pair(h, w), span }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(nearest("conx", KINDS.iter().map(|(n, _)| *n)), Some("conv"));
        assert_eq!(nearest("ReLU", KINDS.iter().map(|(n, _)| *n)), Some("relu"));
        assert_eq!(nearest("linaer", KINDS.iter().map(|(n, _)| *n)), Some("linear"));
        assert_eq!(nearest("zzzzzzzz", KINDS.iter().map(|(n, _)| *n)), None);
        assert_eq!(nearest("kernel", ["k", "kernel_size", "s", "stride"]), Some("kernel_size"));
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
