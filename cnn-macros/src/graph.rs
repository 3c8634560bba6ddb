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
    /// The token its shape errors point at, and the one that says its output is never read.
    pub span: Span,
    /// For a node of a `reuse`: the node of the module's first use whose tensors it computes
    /// with (the same parameters, gradients summed).
    pub shares: Option<usize>,
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
    /// The value it outputs: its last node's, or with `from` an earlier one.
    pub value: ValueId,
    pub nodes: std::ops::Range<usize>,
}

/// An `output NAME` of the network: its name, the value and its shape, and where it is written.
#[derive(Clone)]
pub struct NamedOutput {
    pub name: String,
    pub value: ValueId,
    pub shape: Shape,
    pub span: Span,
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
    /// The named outputs, in the order written; empty for a network with one unnamed output.
    /// With two or more, the graph ends in nodes of its own that flatten them and join them
    /// one after another into the value the network outputs.
    pub outputs: Vec<NamedOutput>,
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
    /// The values named by `let`, innermost block use last: a block's names are its own.
    scopes: Vec<HashMap<String, Flow>>,
    /// The values made outputs by `output NAME`, in order.
    outputs: Vec<NamedOutput>,
    /// With a `reuse` anywhere in the network: each keyed item built so far, as written, with
    /// its nodes, for a `reuse` of its key to build again.
    built: Option<HashMap<String, (ItemSyntax, std::ops::Range<usize>)>>,
    /// While a `reuse` builds its module again: the first node of the module's first use and
    /// the first node of this one (node `k` of the one shares the tensors of node `k` of the
    /// other).
    sharing: Option<(usize, usize)>,
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
    /// The named outputs read so far, with their sizes.
    pub outputs: Vec<(String, usize)>,
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
        scopes: vec![HashMap::new()],
        outputs: Vec::new(),
        built: rest.iter().any(has_reuse).then(HashMap::new),
        sharing: None,
    };
    let flow = input.map(|(c, h, w)| (0, Shape::Chw(c, h, w)));
    let mut out = b.seq(rest, flow, "", 0);
    if b.errors.count() == 0 && !b.errors.tainted() {
        b.unread(out);
    }
    if b.outputs.len() > 1 && b.errors.count() == 0 && !b.errors.tainted() {
        out = b.join_outputs();
    }
    let Builder { nodes, rows, outputs, .. } = b;
    let named = outputs.iter().map(|o| (o.name.clone(), o.shape.len())).collect();
    let in_len = input.map(|(c, h, w)| c * h * w);
    let out_len = match outputs.len() {
        0 | 1 => out.map(|(_, shape)| shape.len()),
        _ => outputs.iter().try_fold(0usize, |n, o| n.checked_add(o.shape.len())),
    };
    let tainted = errors.tainted();
    if let Some(error) = errors.into_error() {
        return Err(Broken { error: Some(error), in_len, out_len, outputs: named });
    }
    if tainted {
        return Err(Broken { error: None, in_len, out_len, outputs: named });
    }
    let Some(input) = input else {
        let error = syn::Error::new(ident.span(), "the network must start with `input(channels, height, width)`");
        return Err(Broken { error: Some(error), in_len, out_len, outputs: named });
    };
    let input_text = first.map(ItemSyntax::text).unwrap_or_default();
    Ok(Graph { attrs, vis, ident, input_text, input, nodes, rows, outputs })
}

/// Names as a message lists them, sorted: `a`, `b` and `c`.
fn list(names: &[&str]) -> String {
    let mut sorted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    sorted.sort();
    crate::error::listed(&sorted, "and")
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

/// Whether `item` is a `reuse` or holds one.
fn has_reuse(item: &ItemSyntax) -> bool {
    item.kind == "reuse" || item.body.as_ref().is_some_and(|(_, items)| items.iter().any(has_reuse))
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
            // Every item takes a position, `_` ones too, as `nn.Sequential` counts every child;
            // `let`, `from`, `output` and `reuse` (a call of a module that has its place) are no
            // items of PyTorch's.
            let key = child_key(parent, item, pos);
            pos += usize::from(!item.is_value_step() && item.kind != "reuse");
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
        if item.is_value_step() {
            return (self.value_step(item, flow), false);
        }
        let word = item.kind.to_string();
        if word == "reuse" {
            return (self.reuse(item, flow, key, depth), false);
        }
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
            value: 0,
            nodes: start..start,
        });
        // A block's names are its own: a use neither sees nor leaves names of its caller's.
        let scoped = item.shown.is_some();
        if scoped {
            self.scopes.push(HashMap::new());
        }
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
        if scoped {
            self.scopes.pop();
        }
        match out {
            Some((value, shape)) => {
                self.rows[row].output = shape;
                self.rows[row].value = value;
                self.rows[row].nodes = start..self.nodes.len();
            }
            None => self.rows.truncate(row),
        }
        if let Some(built) = self.built.as_mut().filter(|_| out.is_some() && !key.is_empty() && !is_blank(item)) {
            built.entry(key.to_string()).or_insert_with(|| (item.clone(), start..self.nodes.len()));
        }
        (out, used_next)
    }

    /// `NAME: reuse`: the module keyed `NAME` applied again to `flow`, with the same tensors, as
    /// a PyTorch `forward` calls one module on several inputs (a detection head on every level
    /// of a feature pyramid). Its nodes are built again from the module as written, on this
    /// input's shape, and share the first use's tensors, which must come out the same.
    fn reuse(&mut self, item: &ItemSyntax, flow: Flow, key: &str, depth: usize) -> Flow {
        let span = item.name.as_ref().filter(|n| !n.is_blank()).map_or(item.kind.span(), |n| n.span);
        if item.args.is_some() || item.body.is_some() {
            self.errors.push(at(
                item.kind.span(),
                "`reuse` takes no arguments and no body: it applies the module named before it again",
                Some("write `head: reuse` to apply the module `head` built earlier to this value".into()),
            ));
            return None;
        }
        let Some(name) = item.name.as_ref().filter(|n| !n.is_blank()) else {
            self.errors.push(at(
                item.kind.span(),
                "`reuse` needs the name of the module to apply again",
                Some("write it before the word, as in `head.classification_head: reuse`".into()),
            ));
            return None;
        };
        // Where the input is unknown (an error upstream), so may the module's first use be.
        if name.reported || flow.is_none() {
            return None;
        }
        let found = self.built.as_ref().and_then(|b| b.get(key)).cloned();
        let Some((module, first)) = found else {
            let known: Vec<&str> = self.built.iter().flat_map(|b| b.keys().map(String::as_str)).collect();
            let hint = match crate::error::nearest(key, known.iter().copied()) {
                Some(near) => format!("did you mean `{near}`?"),
                None => "build the module first, as in `head: seq { ... }`, and `head: reuse` it later".into(),
            };
            self.errors.push(at(span, format!("no module `{key}` is built before this `reuse`"), Some(hint)));
            return None;
        };
        let (_, input) = flow?;
        for i in first.clone() {
            if let Some(why) = self.nodes[i].layer().reuse_refusal() {
                let what = if self.nodes[i].key.is_empty() { key.to_string() } else { self.nodes[i].key.clone() };
                self.errors.push(at(span, format!("`{key}` cannot be reused: `{what}` {why}"), None));
                return None;
            }
        }
        // Gradients of shared tensors are summed within one backward stage; a batch norm
        // between the two uses would put them in two.
        if let Some(bn) =
            (first.end..self.nodes.len()).find(|&i| self.nodes[i].layer().stats_len(self.nodes[i].input()).1 > 0)
        {
            self.errors.push(at(
                span,
                format!(
                    "`{key}` cannot be reused after `{}`: a layer with batch statistics between two uses of one module is not supported",
                    self.nodes[bn].key
                ),
                Some("apply the module to every input before that layer, or use a module of its own here".into()),
            ));
            return None;
        }
        let start = self.nodes.len();
        let rows = self.rows.len();
        let errors = self.errors.count();
        let outer = self.sharing.replace((first.start, start));
        let out = self.item(&module, None, flow, key, depth).0;
        self.sharing = outer;
        // The same nodes, and each with the first use's tensor shapes (a convolution reused on
        // other channels would not be the same module). Whatever the module's own layers said
        // of this input, on their tokens, is said once here, on the reuse.
        let again = start..self.nodes.len();
        let mismatch = out.is_none()
            || self.errors.count() > errors
            || first.len() != again.len()
            || first
                .clone()
                .zip(again.clone())
                .find(|&(a, b)| {
                    let (na, nb) = (&self.nodes[a], &self.nodes[b]);
                    let shapes = |n: &Node| {
                        n.layer().tensors(n.input(), n.output).into_iter().map(|t| t.shape).collect::<Vec<_>>()
                    };
                    shapes(na) != shapes(nb)
                })
                .is_some();
        if mismatch {
            self.errors.truncate(errors);
            let was = self.nodes[first.start].input();
            self.errors.push(at(
                span,
                format!("`{key}` was built for {was} and cannot take {input} with the same tensors"),
                Some("a reused module must see the same channels (its sizes may differ)".into()),
            ));
            return None;
        }
        // One summary row for the use, its inner rows left to the first use; no key, so that
        // hooks see the module's first use.
        self.rows.truncate(rows);
        let (value, shape) = out?;
        self.rows.push(Row {
            depth,
            key: String::new(),
            text: format!("{key}: reuse"),
            output: shape,
            value,
            nodes: again,
        });
        out
    }

    /// `let NAME` names the value `flow` (a later `let` of the name names another); `from NAME`
    /// is the value so named, read by the items after it.
    fn value_step(&mut self, item: &ItemSyntax, flow: Flow) -> Flow {
        let Some(name) = item.value_name() else {
            // The name was reported as wrong: after a `from`, what comes after reads an unknown
            // value; `let` and `output` leave the chain's value as it is.
            return if item.kind == "from" { None } else { flow };
        };
        if item.kind == "output" {
            self.output(item, name, flow);
        }
        let scope = self.scopes.last_mut().expect("the network's scope is never popped");
        // An output is a named value too: `from p3` reads it again.
        if item.kind == "let" || item.kind == "output" {
            scope.insert(name.to_string(), flow);
            return flow;
        }
        if let Some(&value) = scope.get(name) {
            return value;
        }
        let span = item.args.as_ref().map_or(item.kind.span(), |a| a.span);
        let outer = self.scopes[..self.scopes.len() - 1].iter().any(|s| s.contains_key(name));
        let hint = if outer {
            format!("a block reads only the values it names itself; pass what it needs as its input, or name `{name}` with `let` inside the block")
        } else {
            let known: Vec<&str> = self.scopes.last().into_iter().flat_map(|s| s.keys().map(String::as_str)).collect();
            match crate::error::nearest(name, known.iter().copied()) {
                Some(near) => format!("did you mean `{near}`?"),
                None if known.is_empty() => format!("name the value first with `let {name}` where it is computed"),
                None => {
                    format!("name the value first with `let {name}`; the values named before here are {}", list(&known))
                }
            }
        };
        self.errors.push(at(span, format!("no value is named `{name}` before this `from`"), Some(hint)));
        None
    }

    /// `output NAME`: the value `flow` is the network's output `name`.
    fn output(&mut self, item: &ItemSyntax, name: &str, flow: Flow) {
        let span = item.args.as_ref().map_or(item.kind.span(), |a| a.span);
        if syn::parse_str::<Ident>(name).is_err() || name.starts_with("r#") {
            self.errors.push(at(
                span,
                format!("`{name}` cannot name an output: it is a Rust keyword, and outputs are fields (`out.{name}`)"),
                Some(format!("choose another name, such as `{name}_out`")),
            ));
            return;
        }
        if let Some(first) = self.outputs.iter().find(|o| o.name == name) {
            let mut e = at(
                span,
                format!("output `{name}` is named twice"),
                Some("give each output its own name: they become the fields of the outputs struct".into()),
            );
            e.combine(syn::Error::new(first.span, format!("output `{name}` is first named here")));
            self.errors.push(e);
            return;
        }
        match flow {
            Some((0, shape)) => self.errors.push(at(
                span,
                format!("the network's input {shape} cannot be one of its outputs"),
                Some("an output is a value computed by the network; put it after a layer".into()),
            )),
            Some((value, shape)) => self.outputs.push(NamedOutput { name: name.to_string(), value, shape, span }),
            None => {}
        }
    }

    /// Reports every node whose output nothing reads and that is not the network's output
    /// `out` (with named outputs: not one of them): its parameters would get no gradient (a
    /// `from` moved on without it, or the network goes on after its last `output`).
    fn unread(&mut self, out: Flow) {
        let mut read = vec![false; self.nodes.len() + 1];
        for node in &self.nodes {
            for &v in &node.inputs {
                read[v] = true;
            }
        }
        let named = !self.outputs.is_empty();
        for o in &self.outputs {
            read[o.value] = true;
        }
        if let Some((v, _)) = out.filter(|_| !named) {
            read[v] = true;
        }
        for (i, node) in self.nodes.iter().enumerate() {
            if !read[i + 1] {
                let what = if node.key.is_empty() { String::new() } else { format!(" of `{}`", node.key) };
                let last = out.is_some_and(|(v, _)| v == i + 1);
                let (message, hint) = if named && last {
                    (
                        format!("the network's last value{what} is not one of its outputs"),
                        "end the network with `output NAME`, or remove what follows its last output",
                    )
                } else {
                    (
                        format!("the output{what} is never read: a `from` moves on without it"),
                        "name it with `let NAME` and read it with `from NAME` in a merge's branch, or remove it",
                    )
                };
                self.errors.push(at(node.span, message, Some(hint.into())));
            }
        }
    }

    /// The nodes that make the one value a network with several named outputs gives: each
    /// output flattened (free), then all joined one after another, as the fields of the
    /// outputs struct lie. Neither is a module: no key, no summary row, no hook.
    fn join_outputs(&mut self) -> Flow {
        let outputs = self.outputs.clone();
        let mut flat = Vec::with_capacity(outputs.len());
        let mut shapes = Vec::with_capacity(outputs.len());
        for o in &outputs {
            let shape = crate::shape::flatten(o.shape);
            self.nodes.push(Node {
                key: String::new(),
                op: Box::new(layers::flatten::Alias::flattening()),
                inputs: vec![o.value],
                shapes: vec![o.shape],
                output: shape,
                hooked: false,
                span: o.span,
                shares: None,
            });
            flat.push(self.nodes.len());
            shapes.push(shape);
        }
        let total = Shape::Flat(shapes.iter().map(|s| s.len()).sum(), None);
        self.nodes.push(Node {
            key: String::new(),
            op: Box::new(crate::merges::concat::Concat),
            inputs: flat,
            shapes,
            output: total,
            hooked: false,
            span: outputs[0].span,
            shares: None,
        });
        Some((self.nodes.len(), total))
    }

    /// Records `key` as taken, reporting a duplicate on the item's name.
    pub fn claim(&mut self, key: &str, item: &ItemSyntax) {
        // A `reuse` builds its module's keys again, taken by its first use.
        if self.sharing.is_some() {
            return;
        }
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
    pub fn row(&mut self, depth: usize, key: &str, item: &ItemSyntax, start: usize, output: (ValueId, Shape)) {
        let end = self.nodes.len();
        let (value, output) = output;
        self.rows.push(Row { depth, key: key.to_string(), text: item.text(), output, value, nodes: start..end });
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
        // In a `reuse`, node `k` of the module computes with node `k` of its first use's tensors
        // (the first use's own first, through a reuse inside the module).
        let shares = self.sharing.map(|(first, again)| {
            let k = first + (self.nodes.len() - again);
            self.nodes.get(k).and_then(|n| n.shares).unwrap_or(k)
        });
        self.nodes.push(Node {
            key: key.to_string(),
            op,
            inputs: inputs.iter().map(|&(v, _)| v).collect(),
            shapes,
            output,
            hooked: hooked && shares.is_none(),
            span,
            shares,
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
        let tensors = layer.infer(input.1).output.map(|output| layer.tensors(input.1, output)).unwrap_or_default();
        let flow = self.node(key, &word, layer, &[input], item.kind.span(), &[], true);
        // Under `_`, its tensors are its parent's own (`F.batch_norm(x, self.running_mean, ...)`
        // in the parent's forward): keyed by the parent, and taken once.
        if flow.is_some() {
            self.claim_tensors(key, &tensors, item);
        }
        flow
    }

    /// Records the full `state_dict` keys of an item's tensors, reporting one that another item
    /// already has (`x.weight: scale(4)` after `x: conv(...)`): two tensors under one key could
    /// not be saved or loaded. One error, on the second item's name.
    fn claim_tensors(&mut self, key: &str, tensors: &[TensorDef], item: &ItemSyntax) {
        if self.twice.contains(key) || self.sharing.is_some() {
            return;
        }
        let text = match &item.name {
            Some(n) if n.is_blank() && key.is_empty() => format!("`_: {}`", item.text()),
            Some(n) if n.is_blank() => format!("`_: {}` in `{key}`", item.text()),
            _ => format!("`{key}: {}`", item.text()),
        };
        for t in tensors {
            let full = match (key.is_empty(), t.suffix.is_empty()) {
                (true, true) => {
                    // Only `_` at the top leaves a tensor keyed by the item itself with no key.
                    let span = item.name.as_ref().map_or(item.kind.span(), |n| n.span);
                    self.errors.push(at(
                        span,
                        format!(
                            "`_` at the top of the network leaves `{}`'s tensor without a `state_dict` key",
                            item.kind
                        ),
                        Some("name it: its tensor is keyed by the item's own name".into()),
                    ));
                    return;
                }
                (true, false) => t.suffix.to_string(),
                (false, true) => key.to_string(),
                (false, false) => format!("{key}.{}", t.suffix),
            };
            if let Some(first) = self.tensor_keys.get(&full) {
                let span = item.name.as_ref().map_or(item.kind.span(), |n| n.span);
                self.errors.push(at(
                    span,
                    format!("`state_dict` key `{full}` is taken twice: {first} already has a tensor of that key"),
                    Some("rename one of the two: every parameter, buffer and counter needs its own key".into()),
                ));
                return;
            }
            self.tensor_keys.insert(full, text.clone());
        }
    }
}
