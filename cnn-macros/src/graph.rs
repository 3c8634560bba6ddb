//! The network as a graph: the item tree of the DSL flattened into nodes in topological order,
//! each node a layer (or a residual sum) reading values produced before it, with its
//! `state_dict` key, shapes checked all the way. Every problem becomes a spanned error and
//! checking goes on wherever the incoming shape is known.

use crate::args::{self, def, ArgKind, Default};
use crate::error::{at, shape_message, Errors};
use crate::layers::{self, Layer};
use crate::parse::{ItemSyntax, NetSyntax};
use crate::shape::{Shape, MAX_ELEMENTS};
use proc_macro2::Span;
use std::collections::HashMap;
use syn::{Attribute, Ident, Visibility};

/// A value: the network's input is 0, node `i`'s output is `i + 1`.
pub type ValueId = usize;

/// What a node computes.
pub enum Op {
    Layer(Box<dyn Layer>),
    /// The sum of a residual block's body and its shortcut (or its input).
    Add,
}

/// One node of the graph.
pub struct Node {
    /// The `state_dict` prefix of its tensors.
    pub key: String,
    pub op: Op,
    pub inputs: Vec<ValueId>,
    /// The shape of its (first) input.
    pub input: Shape,
    pub output: Shape,
}

impl Node {
    pub fn layer(&self) -> Option<&dyn Layer> {
        match &self.op {
            Op::Layer(l) => Some(&**l),
            Op::Add => None,
        }
    }
}

/// One row of the summary: an item (layer or block) with its depth in the tree and the nodes
/// it spans.
pub struct Row {
    pub depth: usize,
    pub key: String,
    pub text: String,
    pub output: Shape,
    pub nodes: std::ops::Range<usize>,
}

/// A network that passed every check.
pub struct Graph {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub ident: Ident,
    pub input_text: String,
    pub input: (usize, usize, usize),
    pub nodes: Vec<Node>,
    pub rows: Vec<Row>,
}

impl Graph {
    /// The value the network outputs.
    pub fn output_value(&self) -> ValueId {
        self.nodes.len()
    }
    pub fn input_shape(&self) -> Shape {
        Shape::Chw(self.input.0, self.input.1, self.input.2)
    }
    pub fn shape(&self, v: ValueId) -> Shape {
        if v == 0 {
            self.input_shape()
        } else {
            self.nodes[v - 1].output
        }
    }
    pub fn output(&self) -> Shape {
        self.shape(self.output_value())
    }
}

const INPUT: &[args::ParamDef] = &[
    def("channels", None, ArgKind::Count, Default::Required),
    def("height", None, ArgKind::Count, Default::Required),
    def("width", None, ArgKind::Count, Default::Required),
];

const BLOCKS: &[&str] = &["seq", "residual", "shortcut"];

struct Builder<'e> {
    errors: &'e mut Errors,
    nodes: Vec<Node>,
    rows: Vec<Row>,
    keys: HashMap<String, String>,
}

/// A value and its shape, or `None` once the shape is unknown (an error upstream).
type Flow = Option<(ValueId, Shape)>;

/// Builds and checks the graph; `errors` already holds what parsing found, and all of them come
/// back together if anything is wrong.
pub fn build(net: NetSyntax, mut errors: Errors) -> Result<Graph, syn::Error> {
    let NetSyntax { attrs, vis, ident, items } = net;
    check_order(&ident, &items, &mut errors);
    let (first, rest) = match items.split_first() {
        Some((first, rest)) if first.kind == "input" && first.body.is_none() => (Some(first), rest),
        _ => (None, &items[..]),
    };
    let input = first.and_then(|item| {
        errors.at_item(item.index);
        if let Some(name) = &item.name {
            errors.push(at(
                name.span,
                "`input` cannot have a name",
                Some("remove the name; `input` has no parameters".into()),
            ));
        }
        let usage = "input(channels, height, width), as in `input(1, 28, 28)`";
        let a = args::resolve("input", usage, item.kind.span(), INPUT, item.args.as_ref(), &mut errors)?;
        let (c, h, w) = (a[0].count(), a[1].count(), a[2].count());
        let fits = c.checked_mul(h).and_then(|n| n.checked_mul(w)).is_some_and(|n| n <= MAX_ELEMENTS);
        if !fits {
            errors.push(at(
                item.kind.span(),
                format!("input [{c}, {h}, {w}] has more than {MAX_ELEMENTS} elements"),
                None,
            ));
        }
        fits.then_some((c, h, w))
    });
    let mut b = Builder { errors: &mut errors, nodes: Vec::new(), rows: Vec::new(), keys: HashMap::new() };
    let flow = input.map(|(c, h, w)| (0, Shape::Chw(c, h, w)));
    b.seq(rest, flow, "", 0);
    let Builder { nodes, rows, .. } = b;
    if let Some(all) = errors.into_error() {
        return Err(all);
    }
    let Some(input) = input else {
        return Err(syn::Error::new(ident.span(), "the network must start with `input(channels, height, width)`"));
    };
    let input_text = first.map(ItemSyntax::text).unwrap_or_default();
    Ok(Graph { attrs, vis, ident, input_text, input, nodes, rows })
}

/// `input` first and only there, and at least one layer after it.
fn check_order(ident: &Ident, items: &[ItemSyntax], errors: &mut Errors) {
    errors.at_item(0);
    let start = "start the network with `input(channels, height, width)`, as in `input(1, 28, 28)`";
    match items.first() {
        None => errors.push(at(ident.span(), format!("network `{ident}` has no layers"), Some(start.into()))),
        Some(first) if first.kind != "input" => {
            if !items.iter().any(|l| l.kind == "input") {
                errors.push(at(
                    first.kind.span(),
                    format!("network `{ident}` has no `input` before its first layer"),
                    Some(start.into()),
                ));
            }
        }
        Some(first) if items.len() == 1 => {
            errors.push(at(
                first.kind.span(),
                format!("network `{ident}` has no layers after `input`"),
                Some("add layers, such as `conv(1, 6, k=5) relu`".into()),
            ));
        }
        Some(_) => {}
    }
}

impl Builder<'_> {
    /// The items of one sequence, numbered from 0 under `prefix`; returns the last value.
    fn seq(&mut self, items: &[ItemSyntax], mut flow: Flow, prefix: &str, depth: usize) -> Flow {
        let mut pos = 0;
        let mut i = 0;
        while i < items.len() {
            let item = &items[i];
            i += 1;
            self.errors.at_item(item.index);
            let word = item.kind.to_string();
            if word == "input" {
                self.errors.push(at(
                    item.kind.span(),
                    "`input` must be the first layer, and come once",
                    Some("move it to the top of the network".into()),
                ));
                continue;
            }
            if word == "shortcut" {
                self.errors.push(at(
                    item.kind.span(),
                    "`shortcut` must follow a `residual { ... }` block",
                    Some("write `residual { ... } shortcut { ... }`".into()),
                ));
                continue;
            }
            let key = format!("{prefix}{}", item.name.as_ref().map_or(pos.to_string(), |n| n.text()));
            pos += 1;
            self.claim(&key, item);
            let start = self.nodes.len();
            let row = self.rows.len();
            self.rows.push(Row {
                depth,
                key: key.clone(),
                text: item.text(),
                output: Shape::Flat(0, None),
                nodes: start..start,
            });
            flow = if item.body.is_some() || BLOCKS.contains(&word.as_str()) {
                let shortcut = (word == "residual").then(|| items.get(i).filter(|n| n.kind == "shortcut")).flatten();
                if shortcut.is_some() {
                    i += 1;
                }
                self.block(item, shortcut, flow, &key, depth)
            } else {
                self.layer(item, flow, &key)
            };
            let end = self.nodes.len();
            match flow {
                Some((_, shape)) => {
                    self.rows[row].output = shape;
                    self.rows[row].nodes = start..end;
                }
                None => {
                    self.rows.truncate(row);
                }
            }
        }
        flow
    }

    /// Records `key` as taken, reporting a duplicate on the item's name.
    fn claim(&mut self, key: &str, item: &ItemSyntax) {
        let text = item.text();
        if let Some(first) = self.keys.insert(key.to_string(), text.clone()) {
            let span = item.name.as_ref().map_or(item.kind.span(), |n| n.span);
            self.errors.push(at(
                span,
                format!("layer name `{key}` is used twice; `{first}` already has it"),
                Some(format!("give each layer its own name: names become `state_dict` keys such as `{key}.weight`")),
            ));
        }
    }

    fn block(&mut self, item: &ItemSyntax, shortcut: Option<&ItemSyntax>, flow: Flow, key: &str, depth: usize) -> Flow {
        let word = item.kind.to_string();
        let span = item.kind.span();
        if !BLOCKS.contains(&word.as_str()) {
            self.errors.push(at(
                span,
                format!("`{word}` is not a block"),
                Some("the blocks are `seq { ... }`, `residual { ... }` and `shortcut { ... }` after a residual".into()),
            ));
            // Checking goes on as if the body were not there.
            return self.layer(item, flow, key);
        }
        if let Some(args) = &item.args {
            self.errors.push(at(
                args.span,
                format!("`{word}` takes no arguments"),
                Some(format!("write `{word} {{ ... }}`")),
            ));
        }
        let Some((_, body)) = &item.body else {
            self.errors.push(at(span, format!("`{word}` needs a body"), Some(format!("write `{word} {{ layers }}`"))));
            return flow;
        };
        if body.is_empty() && word != "residual" {
            self.errors.push(at(
                span,
                format!("`{word}` block is empty"),
                Some("put layers inside, or remove it".into()),
            ));
            return flow;
        }
        let out = self.seq(body, flow, &format!("{key}."), depth + 1);
        if word != "residual" {
            return out;
        }
        let side = match shortcut {
            Some(sc) => {
                self.errors.at_item(sc.index);
                let sc_key = format!("{key}.{}", sc.name.as_ref().map_or("shortcut".to_string(), |n| n.text()));
                self.claim(&sc_key, sc);
                if let Some(args) = &sc.args {
                    self.errors.push(at(
                        args.span,
                        "`shortcut` takes no arguments",
                        Some("write `shortcut { ... }`".into()),
                    ));
                }
                let row = self.rows.len();
                let start = self.nodes.len();
                self.rows.push(Row {
                    depth: depth + 1,
                    key: sc_key.clone(),
                    text: sc.text(),
                    output: Shape::Flat(0, None),
                    nodes: start..start,
                });
                let body = sc.body.as_ref().map_or(&[][..], |(_, b)| b);
                if body.is_empty() {
                    self.errors.push(at(
                        sc.kind.span(),
                        "`shortcut` block is empty",
                        Some("leave the shortcut out for `body(x) + x`".into()),
                    ));
                    return None;
                }
                let out = self.seq(body, flow, &format!("{sc_key}."), depth + 2);
                if let Some((_, shape)) = out {
                    self.rows[row].output = shape;
                    self.rows[row].nodes = start..self.nodes.len();
                }
                out
            }
            None => flow,
        };
        let ((a, sa), (b, sb)) = (out?, side?);
        self.errors.at_item(item.index);
        if sa != sb {
            let what = if shortcut.is_some() { "its shortcut outputs" } else { "its input is" };
            let hint = if shortcut.is_some() {
                format!("make both sides end in {sa}")
            } else {
                format!("add a `shortcut {{ ... }}` after the block that maps {sb} to {sa}, as torchvision's `downsample` does")
            };
            self.errors.push(at(span, format!("residual block's body outputs {sa}, but {what} {sb}"), Some(hint)));
            // Checking goes on from the body's output, the shape the user meant the block to have.
            return Some((a, sa));
        }
        self.nodes.push(Node { key: key.to_string(), op: Op::Add, inputs: vec![a, b], input: sa, output: sa });
        Some((self.nodes.len(), sa))
    }

    fn layer(&mut self, item: &ItemSyntax, flow: Flow, key: &str) -> Flow {
        let word = item.kind.to_string();
        let Some(def) = layers::find(&word) else {
            self.errors.push(layers::unknown_kind(&item.kind));
            return None;
        };
        let Some(layer) = layers::resolve(item, def, self.errors) else {
            return if def.keeps_shape { flow } else { None };
        };
        let (value, input) = flow?;
        let inferred = layer.infer(input);
        for e in &inferred.errors {
            let (message, hint) = shape_message(&word, e);
            let span: Span = layer.error_span(e).unwrap_or(item.kind.span());
            self.errors.push(at(span, message, hint));
        }
        let output = inferred.output?;
        self.nodes.push(Node { key: key.to_string(), op: Op::Layer(layer), inputs: vec![value], input, output });
        Some((self.nodes.len(), output))
    }
}
