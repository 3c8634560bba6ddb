//! Whole-network validation: layer order, names, and shapes from the input to the last layer.
//! Every problem becomes a spanned error; checking goes on as long as the shape is known.

use crate::error::{at, shape_message, Errors};
use crate::model::{Arg, Layer, LayerKind, Net, Op};
use crate::shape::{self, Hw, Inferred, Shape, ShapeError, MAX_ELEMENTS};
use std::collections::HashMap;
use syn::{Attribute, Ident, Visibility};

/// A network that passed every check, ready to expand.
pub struct Plan {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub ident: Ident,
    /// The `input(...)` as written.
    pub input_text: String,
    pub input: (usize, usize, usize),
    pub layers: Vec<Planned>,
}

/// One checked layer after `input`.
pub struct Planned {
    /// Its `state_dict` prefix: its name, or its position counted from 0 after `input`.
    pub key: String,
    /// As written.
    pub text: String,
    pub op: PlannedOp,
    pub input: Shape,
    pub output: Shape,
}

/// A checked layer's numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlannedOp {
    Conv { c_in: usize, c_out: usize, k: Hw, s: Hw, p: Hw },
    Relu,
    Pool { k: Hw, s: Hw },
    Flatten,
    Linear { f_in: usize, f_out: usize },
}

impl Plan {
    pub fn output(&self) -> Shape {
        self.layers.last().map_or(Shape::Chw(self.input.0, self.input.1, self.input.2), |l| l.output)
    }
}

/// Checks `net`; `errors` already holds what parsing and resolution found, and all of them come
/// back together if anything is wrong.
pub fn check(net: Net, mut errors: Errors) -> Result<Plan, syn::Error> {
    let Net { attrs, vis, ident, layers } = net;
    check_order(&ident, &layers, &mut errors);
    check_names(&layers, &mut errors);
    errors.at_layer(0);

    let (first, rest) = match layers.split_first() {
        Some((first, rest)) if first.kind == LayerKind::Input => (Some(first), rest),
        _ => (None, &layers[..]),
    };
    let mut shape = first.and_then(|l| match &l.op {
        Some(Op::Input { c, h, w }) => {
            let (c, h, w) = (c.value, h.value, w.value);
            let fits = c.checked_mul(h).and_then(|n| n.checked_mul(w)).is_some_and(|n| n <= MAX_ELEMENTS);
            if !fits {
                errors.push(at(l.span, format!("input [{c}, {h}, {w}] has more than {MAX_ELEMENTS} elements"), None));
            }
            fits.then_some(Shape::Chw(c, h, w))
        }
        _ => None,
    });
    let input = shape;

    let mut planned = Vec::with_capacity(rest.len());
    let skipped = layers.len() - rest.len();
    for (index, layer) in rest.iter().enumerate() {
        errors.at_layer(skipped + index);
        let Some(incoming) = shape else {
            shape = None;
            continue;
        };
        let Some((op, inferred)) = infer(layer, incoming) else {
            shape = None;
            continue;
        };
        for e in &inferred.errors {
            let (message, hint) = shape_message(layer.kind.name(), e);
            errors.push(at(error_span(layer, e), message, hint));
        }
        shape = inferred.output;
        if let Some(output) = shape {
            let key = layer.name.as_ref().map_or(index.to_string(), Ident::to_string);
            planned.push(Planned { key, text: layer.text.clone(), op, input: incoming, output });
        }
    }

    if let Some(all) = errors.into_error() {
        return Err(all);
    }
    let Some(Shape::Chw(c, h, w)) = input else {
        return Err(syn::Error::new(ident.span(), "the network must start with `input(channels, height, width)`"));
    };
    let input_text = first.map(|l| l.text.clone()).unwrap_or_default();
    Ok(Plan { attrs, vis, ident, input_text, input: (c, h, w), layers: planned })
}

/// `input` first and only there, and at least one layer after it.
fn check_order(ident: &Ident, layers: &[Layer], errors: &mut Errors) {
    errors.at_layer(0);
    let start = "start the network with `input(channels, height, width)`, as in `input(1, 28, 28)`";
    match layers.first() {
        None => errors.push(at(ident.span(), format!("network `{ident}` has no layers"), Some(start.into()))),
        Some(first) if first.kind != LayerKind::Input => {
            if !layers.iter().any(|l| l.kind == LayerKind::Input) {
                errors.push(at(first.span, format!("network `{ident}` has no `input` before its first layer"), Some(start.into())));
            }
        }
        Some(first) if layers.len() == 1 => {
            errors.push(at(first.span, format!("network `{ident}` has no layers after `input`"), Some("add layers, such as `conv(1, 6, k=5) relu`".into())));
        }
        Some(_) => {}
    }
    for (i, layer) in layers.iter().enumerate().skip(1).filter(|(_, l)| l.kind == LayerKind::Input) {
        errors.at_layer(i);
        errors.push(at(layer.span, "`input` must be the first layer, and come once", Some("move it to the top of the network".into())));
    }
}

/// Layer names are unique, since they become `state_dict` keys.
fn check_names(layers: &[Layer], errors: &mut Errors) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, layer) in layers.iter().enumerate() {
        let Some(name) = &layer.name else { continue };
        errors.at_layer(i);
        if let Some(first) = seen.insert(name.to_string(), i) {
            seen.insert(name.to_string(), first);
            errors.push(at(
                name.span(),
                format!("layer name `{name}` is used twice; `{}` already has it", layers[first].text),
                Some("give each layer its own name: names become `state_dict` keys such as `{name}.weight`".replace("{name}", &name.to_string())),
            ));
        }
    }
}

/// The checked numbers and inferred output of one layer on `incoming`; `None` when the layer
/// has no op (its problems are already reported).
fn infer(layer: &Layer, incoming: Shape) -> Option<(PlannedOp, Inferred)> {
    let value = |a: &Arg<Hw>| a.value;
    Some(match layer.op.as_ref()? {
        Op::Input { .. } => return None,
        Op::Conv { c_in, c_out, k, s, p } => {
            let inferred = shape::conv2d(incoming, c_in.map(|a| a.value), c_out.value, value(k), value(s), value(p));
            let c_in = match incoming {
                Shape::Chw(c, ..) => c,
                Shape::Flat(..) => 0,
            };
            (PlannedOp::Conv { c_in, c_out: c_out.value, k: k.value, s: s.value, p: p.value }, inferred)
        }
        Op::Relu => (PlannedOp::Relu, Inferred { output: Some(incoming), errors: Vec::new() }),
        Op::Pool { k, s } => (PlannedOp::Pool { k: k.value, s: s.value }, shape::max_pool2d(incoming, k.value, s.value)),
        Op::Flatten => (PlannedOp::Flatten, Inferred { output: Some(shape::flatten(incoming)), errors: Vec::new() }),
        Op::Linear { f_in, f_out } => {
            let inferred = shape::linear(incoming, f_in.map(|a| a.value), f_out.value);
            (PlannedOp::Linear { f_in: incoming.len(), f_out: f_out.value }, inferred)
        }
    })
}

/// The smallest token to blame for `e`.
fn error_span(layer: &Layer, e: &ShapeError) -> proc_macro2::Span {
    match (&layer.op, e) {
        (Some(Op::Conv { c_in: Some(c), .. }), ShapeError::Channels { .. }) => c.span,
        (Some(Op::Linear { f_in: Some(f), .. }), ShapeError::Features { .. }) => f.span,
        (Some(Op::Conv { k, .. } | Op::Pool { k, .. }), ShapeError::Window { .. }) => k.span,
        _ => layer.span,
    }
}
