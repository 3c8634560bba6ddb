//! The network as a dataflow graph: the item tree of the DSL flattened into nodes in topological
//! order, each node a layer kind or a merge reading any number of values produced before it,
//! with its `state_dict` key, shapes checked all the way. Blocks (`seq`, `residual`, `cat`, ...)
//! build on the [`Builder`] through the [`BlockDef`] interface defined here; the caller hands
//! the builder its vocabulary ([`Words`]), so that the graph depends on no block built on it. Every problem becomes a spanned error and
//! checking goes on wherever the incoming shape is known.

use crate::args::{self, def, ArgKind, Default};
use crate::error::{at, shape_message, Errors};
use crate::layers::{self, KindDef, Layer, TensorDef};
use crate::parse::{ItemSyntax, Net};
use crate::shape::{Shape, ShapeError, MAX_ELEMENTS};
use proc_macro2::Span;
use std::collections::{HashMap, HashSet};
use syn::{Attribute, Ident, Visibility};

/// A block item being built: the item, the one after it, the incoming value, its key and depth.
pub struct Call<'a> {
    pub item: &'a ItemSyntax,
    pub next: Option<&'a ItemSyntax>,
    pub flow: Flow,
    pub key: &'a str,
    pub depth: usize,
}

/// One block kind: its word and how it builds; `build` returns the block's output and whether
/// it took the next item (a `residual`'s `shortcut`).
pub struct BlockDef {
    pub name: &'static str,
    /// How it is written, as the messages and the documentation show it.
    pub usage: &'static str,
    pub build: fn(&mut Builder<'_>, Call<'_>) -> (Flow, bool),
}

/// The words the graph reads kinds and blocks by, given by the caller
/// ([`crate::vocabulary::WORDS`]): the graph builds blocks, which are built on it, so it reaches
/// them through this table rather than by name.
pub struct Words {
    /// The block kind named so.
    pub block: fn(&str) -> Option<&'static BlockDef>,
    /// The layer kind named so.
    pub layer: fn(&str) -> Option<&'static KindDef>,
    /// The error for a word with a body that is no block (`layer` when it is a layer kind).
    pub unknown_block: fn(&Ident, bool) -> syn::Error,
    /// The error for a word that is no layer kind.
    pub unknown_layer: fn(&Ident) -> syn::Error,
}

/// A value: the network's input is 0, node `i`'s output is `i + 1`.
pub type ValueId = usize;

/// One node of the graph.
pub struct Node {
    /// The `state_dict` prefix of its tensors, and the key its output is read by.
    pub key: String,
    pub op: Box<dyn Layer>,
    pub inputs: Vec<ValueId>,
    /// The shapes of its inputs, in order.
    pub shapes: Vec<Shape>,
    pub output: Shape,
    /// Whether its output is a module's output (what a forward hook sees): a channel chunk of
    /// `split` is not.
    pub hooked: bool,
}

impl Node {
    pub fn layer(&self) -> &dyn Layer {
        &*self.op
    }
    /// The shape of its first input.
    pub fn input(&self) -> Shape {
        self.shapes[0]
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

/// What the graph is built into as the item tree is walked.
pub struct Builder<'e> {
    pub errors: &'e mut Errors,
    words: &'static Words,
    nodes: Vec<Node>,
    rows: Vec<Row>,
    keys: HashMap<String, String>,
    /// Every full `state_dict` key (parameters, buffers, counters) and the item that has it.
    tensor_keys: HashMap<String, String>,
    /// Item keys already reported as used twice: their tensors are not reported again.
    twice: HashSet<String>,
}

/// A value and its shape, or `None` once the shape is unknown (an error upstream).
pub type Flow = Option<(ValueId, Shape)>;

/// A network with errors: all of them, and the sizes of one input and one output sample where
/// they are known in spite of the errors (for the stub's types).
pub struct Broken {
    /// `None` when every error is reported elsewhere (in a block definition the network uses).
    pub error: Option<syn::Error>,
    pub in_len: Option<usize>,
    pub out_len: Option<usize>,
}

/// Builds and checks the graph; `errors` already holds what parsing found, and all of them come
/// back together if anything is wrong.
pub fn build(net: Net, mut errors: Errors, words: &'static Words) -> Result<Graph, Broken> {
    let Net { attrs, vis, ident, items } = net;
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
    let mut b = Builder {
        errors: &mut errors,
        words,
        nodes: Vec::new(),
        rows: Vec::new(),
        keys: HashMap::new(),
        tensor_keys: HashMap::new(),
        twice: HashSet::new(),
    };
    let flow = input.map(|(c, h, w)| (0, Shape::Chw(c, h, w)));
    let out = b.seq(rest, flow, "", 0);
    let Builder { nodes, rows, .. } = b;
    let in_len = input.map(|(c, h, w)| c * h * w);
    let out_len = out.map(|(_, shape)| shape.len());
    let tainted = errors.tainted();
    if let Some(error) = errors.into_error() {
        return Err(Broken { error: Some(error), in_len, out_len });
    }
    if tainted {
        return Err(Broken { error: None, in_len, out_len });
    }
    let Some(input) = input else {
        let error = syn::Error::new(ident.span(), "the network must start with `input(channels, height, width)`");
        return Err(Broken { error: Some(error), in_len, out_len });
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
        // Items that an error already reported took away (a refused loop, a construct nested
        // too deep) are not missing a second time.
        Some(first) if items.len() == 1 && errors.count() == 0 && !errors.tainted() => {
            errors.push(at(
                first.kind.span(),
                format!("network `{ident}` has no layers after `input`"),
                Some("add layers, such as `conv(1, 6, k=5) relu`".into()),
            ));
        }
        Some(_) => {}
    }
}

/// The key of a child of `parent` at `pos`: its name, its position, or (for `_`) the parent's.
pub fn child_key(parent: &str, item: &ItemSyntax, pos: usize) -> String {
    let segment = match &item.name {
        Some(n) if n.is_blank() => return parent.to_string(),
        Some(n) => n.text(),
        None => pos.to_string(),
    };
    if parent.is_empty() {
        segment
    } else {
        format!("{parent}.{segment}")
    }
}

/// Whether an item is named `_`: forward code that is not a module, whose key is its parent's.
fn is_blank(item: &ItemSyntax) -> bool {
    item.name.as_ref().is_some_and(|n| n.is_blank())
}

impl Builder<'_> {
    /// The items of one sequence, numbered from 0 under `parent`; returns the last value.
    pub fn seq(&mut self, items: &[ItemSyntax], flow: Flow, parent: &str, depth: usize) -> Flow {
        self.children(items, flow, parent, depth, true).last().map_or(flow, |&(out, _)| out)
    }

    /// Branches on the same input `flow`, each keyed under `parent` by name or position: their
    /// outputs and the items they came from.
    pub fn branches<'i>(
        &mut self,
        items: &'i [ItemSyntax],
        flow: Flow,
        parent: &str,
        depth: usize,
    ) -> Vec<(Flow, &'i ItemSyntax)> {
        self.children(items, flow, parent, depth, false)
    }

    /// The children of a block keyed under `parent` by name or position, each reading `flow`,
    /// or with `chain` the output of the one before; their outputs.
    fn children<'i>(
        &mut self,
        items: &'i [ItemSyntax],
        mut flow: Flow,
        parent: &str,
        depth: usize,
        chain: bool,
    ) -> Vec<(Flow, &'i ItemSyntax)> {
        let mut out = Vec::new();
        let mut pos = 0;
        let mut i = 0;
        while i < items.len() {
            let item = &items[i];
            i += 1;
            // Every item takes a position, `_` ones too, as `nn.Sequential` counts every child.
            let key = child_key(parent, item, pos);
            pos += 1;
            let (value, used_next) = self.item(item, items.get(i), flow, &key, depth);
            if used_next {
                i += 1;
            }
            if chain {
                flow = value;
            }
            out.push((value, item));
        }
        out
    }

    /// One item under `key`, with the item after it (which a `residual` may take as its
    /// `shortcut`); returns its output and whether it took the next item.
    pub fn item(
        &mut self,
        item: &ItemSyntax,
        next: Option<&ItemSyntax>,
        flow: Flow,
        key: &str,
        depth: usize,
    ) -> (Flow, bool) {
        self.errors.at_item(item.index);
        if item.reported {
            return (None, false);
        }
        let word = item.kind.to_string();
        if word == "input" {
            self.errors.push(at(
                item.kind.span(),
                "`input` must be the first layer, and come once",
                Some("move it to the top of the network".into()),
            ));
            return (flow, false);
        }
        if !is_blank(item) {
            self.claim(key, item);
        }
        let start = self.nodes.len();
        let row = self.rows.len();
        self.rows.push(Row {
            depth,
            key: key.to_string(),
            text: item.text(),
            output: Shape::Flat(0, None),
            nodes: start..start,
        });
        let (out, used_next) = match (self.words.block)(&word) {
            Some(block) => (block.build)(self, Call { item, next, flow, key, depth }),
            // A word no kind knows, with a body: one error, as a block (what it was meant as).
            None if item.body.is_some() && (self.words.layer)(&word).is_none() => {
                self.errors.push((self.words.unknown_block)(&item.kind, false));
                (None, false)
            }
            None if item.body.is_some() => {
                self.errors.push((self.words.unknown_block)(&item.kind, true));
                // Checking goes on as if the body were not there.
                (self.layer(item, flow, key), false)
            }
            None => (self.layer(item, flow, key), false),
        };
        match out {
            Some((_, shape)) => {
                self.rows[row].output = shape;
                self.rows[row].nodes = start..self.nodes.len();
            }
            None => self.rows.truncate(row),
        }
        (out, used_next)
    }

    /// Records `key` as taken, reporting a duplicate on the item's name.
    pub fn claim(&mut self, key: &str, item: &ItemSyntax) {
        if item.name.as_ref().is_some_and(|n| n.reported) {
            self.twice.insert(key.to_string());
            return;
        }
        let text = item.text();
        if let Some(first) = self.keys.insert(key.to_string(), text.clone()) {
            self.twice.insert(key.to_string());
            let span = item.name.as_ref().map_or(item.kind.span(), |n| n.span);
            self.errors.push(at(
                span,
                format!("layer name `{key}` is used twice; `{first}` already has it"),
                Some(format!("give each layer its own name: names become `state_dict` keys such as `{key}.weight`")),
            ));
        }
    }

    /// Adds a summary row for an item that a block reads itself (a `shortcut`), over the nodes
    /// from `start` on.
    pub fn row(&mut self, depth: usize, key: &str, item: &ItemSyntax, start: usize, output: Shape) {
        let end = self.nodes.len();
        self.rows.push(Row { depth, key: key.to_string(), text: item.text(), output, nodes: start..end });
    }

    /// The index the next node will get.
    pub fn next_node(&self) -> usize {
        self.nodes.len()
    }

    /// Adds a node computing `op` on `inputs`; its shape errors are reported on the token
    /// `span`, or for a join on the branch item that does not fit (`spans[k]` for input `k`).
    #[allow(clippy::too_many_arguments)]
    pub fn node(
        &mut self,
        key: &str,
        word: &str,
        op: Box<dyn Layer>,
        inputs: &[(ValueId, Shape)],
        span: Span,
        spans: &[Span],
        hooked: bool,
    ) -> Flow {
        let shapes: Vec<Shape> = inputs.iter().map(|&(_, s)| s).collect();
        let inferred = op.infer_inputs(&shapes);
        for e in &inferred.errors {
            let (message, hint) = op.explain(word, e).unwrap_or_else(|| shape_message(word, e));
            let at_span = match e {
                ShapeError::Join { branch, .. } => spans.get(*branch).copied().unwrap_or(span),
                // The factor is the second input: a `mul`'s second branch (a gate's own word).
                ShapeError::Gate { .. } => spans.get(1).copied().unwrap_or(span),
                _ => op.error_span(e).unwrap_or(span),
            };
            self.errors.push(at(at_span, message, hint));
        }
        let output = inferred.output?;
        self.nodes.push(Node {
            key: key.to_string(),
            op,
            inputs: inputs.iter().map(|&(v, _)| v).collect(),
            shapes,
            output,
            hooked,
        });
        Some((self.nodes.len(), output))
    }

    fn layer(&mut self, item: &ItemSyntax, flow: Flow, key: &str) -> Flow {
        let word = item.kind.to_string();
        let Some(def) = (self.words.layer)(&word) else {
            self.errors.push((self.words.unknown_layer)(&item.kind));
            return None;
        };
        let Some(layer) = layers::resolve(item, def, self.errors) else {
            return if def.keeps_shape { flow } else { None };
        };
        let input = flow?;
        let blank = item.name.as_ref().filter(|n| n.is_blank());
        let tensors = layer.infer(input.1).output.map(|output| layer.tensors(input.1, output)).unwrap_or_default();
        if let Some(name) = blank {
            if !tensors.is_empty() {
                self.errors.push(at(
                    name.span,
                    format!("`_` gives `{word}` no name of its own, but its parameters need one"),
                    Some(
                        "name it, or leave the name out to number it; `_` is for forward code without parameters"
                            .into(),
                    ),
                ));
            }
        }
        let flow = self.node(key, &word, layer, &[input], item.kind.span(), &[], true);
        // A blank name with tensors is reported above; its keys are its parent's.
        if flow.is_some() && blank.is_none() {
            self.claim_tensors(key, &tensors, item);
        }
        flow
    }

    /// Records the full `state_dict` keys of an item's tensors, reporting one that another item
    /// already has (`x.weight: scale(4)` after `x: conv(...)`): two tensors under one key could
    /// not be saved or loaded. One error, on the second item's name.
    fn claim_tensors(&mut self, key: &str, tensors: &[TensorDef], item: &ItemSyntax) {
        if self.twice.contains(key) {
            return;
        }
        let text = format!("{key}: {}", item.text());
        for t in tensors {
            let full = if t.suffix.is_empty() { key.to_string() } else { format!("{key}.{}", t.suffix) };
            if let Some(first) = self.tensor_keys.get(&full) {
                let span = item.name.as_ref().map_or(item.kind.span(), |n| n.span);
                self.errors.push(at(
                    span,
                    format!("`state_dict` key `{full}` is taken twice: `{first}` already has a tensor of that key"),
                    Some("rename one of the two: every parameter, buffer and counter needs its own key".into()),
                ));
                return;
            }
            self.tensor_keys.insert(full, text.clone());
        }
    }
}
