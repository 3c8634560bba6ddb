//! Arguments matched to a layer's parameters as PyTorch matches them: positionally in the
//! constructor's order, or by keyword (with a short spelling beside PyTorch's), defaults filled
//! in, each value checked against its parameter's type and keeping the span of its token.

use crate::error::{at, Errors};
use crate::parse::{ArgsSyntax, ValueSyntax};
use proc_macro2::Span;

/// What a parameter accepts.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum ArgKind {
    /// An integer ≥ 1.
    Count,
    /// An integer ≥ 1, or `_` (infer from the input).
    CountOrInfer,
    /// An integer or `(h, w)` pair, each ≥ 1.
    Size,
    /// An integer or `(h, w)` pair, each ≥ 0.
    Padding,
    /// An integer ≥ 0 (or a pair of them where `pair`), or `same` / `valid` / `same_tf` (bare or
    /// quoted).
    ConvPadding { pair: bool },
    /// `true` or `false`.
    Bool,
    /// A number in `[min, max]`.
    Float { min: f64, max: f64 },
    /// One of these words (bare or quoted).
    Word(&'static [&'static str]),
    /// A tensor dimension, negative counting from the end, as PyTorch's `dim` (the layer
    /// checks it against the shape).
    Dim,
    /// A number in `[min, max]`, or `None`.
    FloatOrNone { min: f64, max: f64 },
    /// An integer or `(h, w)` pair, each ≥ 1, or `None`.
    SizeOrNone,
    /// A positive number or an `(h, w)` pair of integers, or `None` (a scale factor).
    ScaleOrNone,
}

/// A parameter's default.
#[derive(Clone, Copy, Debug)]
pub enum Default {
    Required,
    Int(usize),
    Float(f64),
    Bool(bool),
    Word(&'static str),
    /// The value of the parameter at this index (pool stride defaults to the kernel size).
    SameAs(usize),
    /// `_`: inferred from the input (`scale(by=0.5)` has no channel count of its own).
    Infer,
}

/// One parameter of a layer kind.
pub struct ParamDef {
    pub name: &'static str,
    pub short: Option<&'static str>,
    pub kind: ArgKind,
    pub default: Default,
    /// Given by name only (`ws=true`), as a Python keyword-only argument: positional arguments
    /// stop before it.
    pub keyword_only: bool,
}

pub const fn def(name: &'static str, short: Option<&'static str>, kind: ArgKind, default: Default) -> ParamDef {
    ParamDef { name, short, kind, default, keyword_only: false }
}

/// A keyword-only parameter; they come after every positional one.
pub const fn keyword(name: &'static str, kind: ArgKind, default: Default) -> ParamDef {
    ParamDef { name, short: None, kind, default, keyword_only: true }
}

/// A checked value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `_`.
    Infer,
    Pair(usize, usize),
    Bool(bool),
    Float(f64),
    Word(String),
    /// A dimension as written (negative counts from the end).
    Dim(i64),
}

/// A checked value and the token it came from (the layer's kind word for a default).
#[derive(Clone, Debug)]
pub struct Arg {
    pub value: Value,
    pub span: Span,
}

impl Arg {
    /// An integer (a pair's first element).
    pub fn count(&self) -> usize {
        match self.value {
            Value::Pair(v, _) => v,
            _ => 0,
        }
    }
    /// `None` for `_`.
    pub fn count_or_infer(&self) -> Option<usize> {
        match self.value {
            Value::Infer => None,
            _ => Some(self.count()),
        }
    }
    pub fn pair(&self) -> (usize, usize) {
        match self.value {
            Value::Pair(h, w) => (h, w),
            _ => (0, 0),
        }
    }
    pub fn flag(&self) -> bool {
        matches!(self.value, Value::Bool(true))
    }
    pub fn float(&self) -> f64 {
        match self.value {
            Value::Float(v) => v,
            Value::Pair(v, _) => v as f64,
            _ => 0.0,
        }
    }
    /// A dimension as written.
    pub fn dim(&self) -> i64 {
        match self.value {
            Value::Dim(d) => d,
            Value::Pair(d, _) => d as i64,
            _ => 0,
        }
    }
    /// A dimension, or `None` where it was not written (a parameter defaulting to
    /// [`Default::Infer`]).
    pub fn dim_if_given(&self) -> Option<i64> {
        match self.value {
            Value::Infer => None,
            _ => Some(self.dim()),
        }
    }
    /// `None` for PyTorch's `None`, else the pair.
    pub fn size_or_none(&self) -> Option<(usize, usize)> {
        match self.value {
            Value::Pair(h, w) => Some((h, w)),
            _ => None,
        }
    }
    /// `None` for PyTorch's `None`, else the factor per axis.
    pub fn scale_or_none(&self) -> Option<(f64, f64)> {
        match self.value {
            Value::Pair(h, w) => Some((h as f64, w as f64)),
            Value::Float(v) => Some((v, v)),
            _ => None,
        }
    }
    /// `None` for PyTorch's `None`, else the number.
    pub fn float_or_none(&self) -> Option<f64> {
        match self.value {
            Value::Word(_) => None,
            _ => Some(self.float()),
        }
    }
    pub fn word(&self) -> &str {
        match &self.value {
            Value::Word(w) => w,
            _ => "",
        }
    }
}

/// A layer's checked arguments, read by parameter name (`a["kernel_size"]`), so that a layer's
/// constructor cannot read one parameter's value for another.
pub struct Args {
    defs: &'static [ParamDef],
    values: Vec<Arg>,
}

impl Args {
    pub fn new(defs: &'static [ParamDef], values: Vec<Arg>) -> Self {
        Args { defs, values }
    }

    /// The tokens the arguments came from, by name: what a layer keeps to blame an argument
    /// for a mistake its shape check finds later.
    pub fn spans(&self) -> Spans {
        Spans { defs: self.defs, spans: self.values.iter().map(|a| a.span).collect() }
    }
}

/// The token of each of a layer's arguments (the kind word's for a default), read by parameter
/// name as [`Args`] is (`spans["padding"]`).
pub struct Spans {
    defs: &'static [ParamDef],
    spans: Vec<Span>,
}

impl std::ops::Index<&str> for Spans {
    type Output = Span;

    /// The token of the parameter `name`; a name outside the schema is a mistake in the kind's
    /// own file, which every test of that kind meets.
    fn index(&self, name: &str) -> &Span {
        let at = self.defs.iter().position(|d| d.name == name);
        &self.spans[at.unwrap_or_else(|| panic!("cnn: no parameter `{name}` in this layer's schema"))]
    }
}

impl std::ops::Index<&str> for Args {
    type Output = Arg;

    /// The value of the parameter `name`. A name outside the kind's schema is a mistake in the
    /// kind's own file, which every test of that kind meets.
    fn index(&self, name: &str) -> &Arg {
        let at = self.defs.iter().position(|d| d.name == name);
        &self.values[at.unwrap_or_else(|| panic!("cnn: no parameter `{name}` in this layer's schema"))]
    }
}

/// Matches `args` to `defs` for the layer `kind` (spelled as written, for messages), whose
/// usage line is `usage`. Every problem is pushed to `errors`; `None` if any value is missing
/// or wrong.
pub fn resolve(
    kind: &str,
    usage: &str,
    span: Span,
    defs: &[ParamDef],
    args: Option<&ArgsSyntax>,
    errors: &mut Errors,
) -> Option<Vec<Arg>> {
    let empty = Vec::new();
    let list = args.map_or(&empty, |a| &a.args);
    if defs.is_empty() && !list.is_empty() {
        let at_span = args.map_or(span, |a| a.span);
        errors.push(at(at_span, format!("{kind} takes no arguments"), Some(format!("write `{kind}`"))));
        return None;
    }
    if args.is_none() && defs.iter().any(|d| matches!(d.default, Default::Required)) {
        errors.push(at(span, format!("{kind} needs arguments"), Some(format!("write {usage}"))));
        return None;
    }
    let mut given: Vec<Option<ValueSyntax>> = vec![None; defs.len()];
    let mut saw_keyword = false;
    let mut saw_unknown = false;
    let mut positional = 0;
    // Misplaced, unknown or repeated arguments are reported but do not stop the layer: as long
    // as every parameter has a good value, shape checking goes on through it.
    for arg in list {
        let (index, span) = match &arg.key {
            None => {
                let span = arg.value.span();
                if saw_keyword {
                    errors.push(at(
                        span,
                        "positional argument after a keyword argument",
                        Some("put positional arguments first, as in Python".into()),
                    ));
                    continue;
                }
                let positionals = defs.iter().take_while(|d| !d.keyword_only).count();
                if positional == positionals {
                    let names: Vec<&str> = defs[..positionals].iter().map(|d| d.name).collect();
                    errors.push(at(
                        span,
                        format!("{kind} takes at most {positionals} positional arguments ({})", names.join(", ")),
                        Some(format!("write {usage}")),
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
                        let list: Vec<String> = defs
                            .iter()
                            .map(|d| d.short.map_or(d.name.to_string(), |s| format!("{s}/{}", d.name)))
                            .collect();
                        let hint = match crate::error::nearest(&word, spellings) {
                            Some(n) => format!("did you mean `{n}`? {kind} takes {}", list.join(", ")),
                            None => format!("{kind} takes {}", list.join(", ")),
                        };
                        errors.push(at(key.span(), format!("unknown argument `{word}` for {kind}"), Some(hint)));
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
        given[index] = Some(arg.value.clone());
    }

    let mut values: Vec<Option<Arg>> = Vec::with_capacity(defs.len());
    let mut ok = true;
    for (i, d) in defs.iter().enumerate() {
        let v = match &given[i] {
            Some(v) => check_value(d, v, errors),
            None => match d.default {
                // After an unknown keyword the missing parameter is most likely the one it
                // misspelled, which the unknown-argument hint already names.
                Default::Required if saw_unknown => None,
                Default::Required => {
                    errors.push(at(span, format!("{kind} is missing `{}`", d.name), Some(format!("write {usage}"))));
                    None
                }
                Default::Int(v) => Some(Arg { value: Value::Pair(v, v), span }),
                Default::Float(v) => Some(Arg { value: Value::Float(v), span }),
                Default::Bool(v) => Some(Arg { value: Value::Bool(v), span }),
                Default::Word(w) => Some(Arg { value: Value::Word(w.into()), span }),
                Default::SameAs(j) => values[j].clone(),
                Default::Infer => Some(Arg { value: Value::Infer, span }),
            },
        };
        ok &= v.is_some();
        values.push(v);
    }
    if !ok {
        return None;
    }
    Some(values.into_iter().map(|v| v.expect("checked above")).collect())
}

/// Checks one given value against its parameter; `None` if it is wrong (reported).
fn check_value(d: &ParamDef, v: &ValueSyntax, errors: &mut Errors) -> Option<Arg> {
    let name = d.name;
    let span = v.span();
    let fail = |errors: &mut Errors, message: String, hint: Option<String>| {
        errors.push(at(span, message, hint));
        None
    };
    let min = if matches!(d.kind, ArgKind::Padding | ArgKind::ConvPadding { .. }) { 0 } else { 1 };
    match (d.kind, v) {
        (_, ValueSyntax::Bad(_)) => None,
        (ArgKind::CountOrInfer, ValueSyntax::Infer(_)) => Some(Arg { value: Value::Infer, span }),
        (_, ValueSyntax::Infer(_)) => fail(
            errors,
            format!("`_` cannot stand for `{name}`"),
            Some("`_` infers only in_channels and in_features".into()),
        ),
        (ArgKind::Dim, ValueSyntax::Int(d, _)) if *d <= i64::MAX as usize => {
            Some(Arg { value: Value::Dim(*d as i64), span })
        }
        (ArgKind::Dim, ValueSyntax::Float(f, _)) if f.fract() == 0.0 && *f < 0.0 && *f >= i64::MIN as f64 => {
            Some(Arg { value: Value::Dim(*f as i64), span })
        }
        (ArgKind::Dim, other) => fail(
            errors,
            format!("`{name}` is a dimension, an integer such as `1` or `-1`, not `{}`", other.text()),
            None,
        ),
        (ArgKind::FloatOrNone { .. } | ArgKind::SizeOrNone | ArgKind::ScaleOrNone, ValueSyntax::Word(w, _))
            if w == "None" =>
        {
            Some(Arg { value: Value::Word(w.clone()), span })
        }
        (ArgKind::ScaleOrNone, ValueSyntax::Float(f, _)) if *f <= 0.0 => {
            fail(errors, format!("`{name}` must be positive, not {f:?}"), None)
        }
        (ArgKind::ScaleOrNone, ValueSyntax::Float(f, _)) => {
            check_float(name, *f, f64::MIN_POSITIVE, f64::INFINITY, span, errors)
        }
        (ArgKind::ScaleOrNone, ValueSyntax::Int(0, _)) => fail(errors, format!("`{name}` must be positive"), None),
        (ArgKind::ScaleOrNone, ValueSyntax::Int(i, _)) => Some(Arg { value: Value::Float(*i as f64), span }),
        (ArgKind::ScaleOrNone, ValueSyntax::Word(..) | ValueSyntax::Str(..) | ValueSyntax::Bool(..)) => {
            fail(errors, format!("`{name}` takes a number, an `(h, w)` pair or `None`, not `{}`", v.text()), None)
        }
        (ArgKind::SizeOrNone, ValueSyntax::Word(..) | ValueSyntax::Str(..) | ValueSyntax::Bool(..)) => {
            fail(errors, format!("`{name}` takes an integer, an `(h, w)` pair or `None`, not `{}`", v.text()), None)
        }
        (ArgKind::FloatOrNone { min, max }, ValueSyntax::Float(f, _)) => check_float(name, *f, min, max, span, errors),
        (ArgKind::FloatOrNone { min, max }, ValueSyntax::Int(i, _)) => {
            check_float(name, *i as f64, min, max, span, errors)
        }
        (ArgKind::FloatOrNone { .. }, other) => {
            fail(errors, format!("`{name}` takes a number or `None`, not `{}`", other.text()), None)
        }
        (ArgKind::Bool, ValueSyntax::Bool(b, _)) => Some(Arg { value: Value::Bool(*b), span }),
        (ArgKind::Bool, other) => fail(errors, format!("`{name}` is `true` or `false`, not `{}`", other.text()), None),
        (ArgKind::Float { min, max }, ValueSyntax::Float(f, _)) => check_float(name, *f, min, max, span, errors),
        (ArgKind::Float { min, max }, ValueSyntax::Int(i, _)) => check_float(name, *i as f64, min, max, span, errors),
        (ArgKind::Float { .. }, other) => {
            fail(errors, format!("`{name}` takes a number, not `{}`", other.text()), None)
        }
        (ArgKind::Word(_) | ArgKind::ConvPadding { .. }, ValueSyntax::Word(w, _) | ValueSyntax::Str(w, _)) => {
            let words: &[&str] = if let ArgKind::Word(words) = d.kind { words } else { &["same", "valid", "same_tf"] };
            if words.contains(&w.as_str()) {
                Some(Arg { value: Value::Word(w.clone()), span })
            } else {
                let list: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
                fail(
                    errors,
                    format!("`{name}` cannot be `{w}`"),
                    Some(format!("write {}", crate::error::listed(&list, "or"))),
                )
            }
        }
        (ArgKind::Word(words), other) => {
            let list: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
            fail(errors, format!("`{name}` is {}, not `{}`", crate::error::listed(&list, "or"), other.text()), None)
        }
        (_, ValueSyntax::Word(..) | ValueSyntax::Str(..)) => {
            fail(errors, format!("expected an integer, found `{}`", v.text()), None)
        }
        (_, ValueSyntax::Bool(b, _)) => fail(errors, format!("expected an integer, found `{b}`"), None),
        (_, ValueSyntax::Float(f, _)) if *f < 0.0 => {
            fail(errors, format!("`{name}` is {f}, but sizes cannot be negative"), None)
        }
        (_, ValueSyntax::Float(..)) => fail(errors, format!("expected an integer, found `{}`", v.text()), None),
        (ArgKind::Count | ArgKind::CountOrInfer | ArgKind::ConvPadding { pair: false }, ValueSyntax::Pair(..)) => {
            fail(errors, format!("`{name}` takes one integer, not an `(h, w)` pair"), None)
        }
        (_, ValueSyntax::Int(n, _)) if *n < min => fail(errors, format!("`{name}` must be at least {min}"), None),
        (_, ValueSyntax::Pair(h, w, _)) if *h < min || *w < min => {
            fail(errors, format!("`{name}` must be at least {min}"), None)
        }
        (_, ValueSyntax::Int(n, _)) => Some(Arg { value: Value::Pair(*n, *n), span }),
        (_, ValueSyntax::Pair(h, w, _)) => Some(Arg { value: Value::Pair(*h, *w), span }),
    }
}

fn check_float(name: &str, v: f64, min: f64, max: f64, span: Span, errors: &mut Errors) -> Option<Arg> {
    if v.is_finite() && (v as f32).is_finite() && v >= min && v <= max {
        return Some(Arg { value: Value::Float(v), span });
    }
    if v.is_finite() && v >= min && v <= max {
        // Finite as f64, beyond f32: the network computes in f32.
        errors.push(at(
            span,
            format!("`{name}` = {v:?} does not fit an f32 (the largest is {:e})", f32::MAX),
            Some("the network computes in f32: write a value of at most 3.4e38 in magnitude".to_string()),
        ));
        return None;
    }
    let range = if max == f64::INFINITY { format!("at least {min:?}") } else { format!("in [{min:?}, {max:?}]") };
    errors.push(at(span, format!("`{name}` must be {range}, not {v:?}"), None));
    None
}
