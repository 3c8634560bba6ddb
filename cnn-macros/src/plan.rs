//! Passes over the graph that decide where everything lives: the tensor tables, fusion and
//! buffer reuse for inference, and the regions, gradient flow and stages of training.

use crate::graph::{Graph, ValueId};
use crate::layers::{InitKind, Kind, Role, TensorDef};

/// One tensor of the network, with its place in its flat array.
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub offset: usize,
    pub init: InitKind,
    pub role: Role,
}

impl Tensor {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Every tensor, and per node the indices of its own in `all`.
pub struct Tables {
    pub all: Vec<Tensor>,
    pub per_node: Vec<Vec<usize>>,
    pub param_count: usize,
    pub buffer_count: usize,
    /// Per node, how many parameter tensors the nodes before it introduced (the parameter
    /// table's first ones).
    pub params_before: Vec<usize>,
    /// Per tensor of `all`, its index in the parameter table (meaningful for parameters).
    pub param_rank: Vec<usize>,
}

impl Tables {
    pub fn of(&self, role: Role) -> impl Iterator<Item = &Tensor> {
        self.all.iter().filter(move |t| t.role == role)
    }
    /// Parameters of node `i` (a `reuse`'s node counts its first use's).
    pub fn node_params(&self, i: usize) -> usize {
        self.per_node[i].iter().map(|&t| &self.all[t]).filter(|t| t.role == Role::Param).map(Tensor::len).sum()
    }
}

pub fn tables(g: &Graph) -> Tables {
    let (mut p, mut b, mut c) = (0, 0, 0);
    let mut all = Vec::new();
    let mut per_node: Vec<Vec<usize>> = Vec::new();
    let (mut params_before, mut param_rank, mut params) = (Vec::new(), Vec::new(), 0);
    for node in &g.nodes {
        params_before.push(params);
        // A `reuse` computes with its first use's tensors (the graph checked their shapes).
        if let Some(first) = node.shares {
            let theirs = per_node[first].clone();
            per_node.push(theirs);
            continue;
        }
        let defs: Vec<TensorDef> = node.layer().tensors(node.input(), node.output);
        let mut mine = Vec::new();
        for d in defs {
            let len = d.len();
            let at = match d.role {
                Role::Param => &mut p,
                Role::Buffer => &mut b,
                Role::Counter => &mut c,
            };
            let offset = *at;
            *at += if d.role == Role::Counter { 1 } else { len };
            mine.push(all.len());
            param_rank.push(params);
            params += usize::from(d.role == Role::Param);
            all.push(Tensor {
                // `_: conv(...)` at the top of the network has the tensors of no module: `weight`.
                name: match (node.key.is_empty(), d.suffix.is_empty()) {
                    (_, true) => node.key.clone(),
                    (true, false) => d.suffix.to_string(),
                    (false, false) => format!("{}.{}", node.key, d.suffix),
                },
                shape: d.shape,
                offset,
                init: d.init,
                role: d.role,
            });
        }
        per_node.push(mine);
    }
    Tables { all, per_node, param_count: p, buffer_count: b, params_before, param_rank }
}

fn kind(g: &Graph, i: usize) -> Option<Kind> {
    Some(g.nodes[i].layer().kind())
}

/// Readers of each value, by node index.
fn readers(g: &Graph) -> Vec<Vec<usize>> {
    let mut r = vec![Vec::new(); g.nodes.len() + 1];
    for (i, n) in g.nodes.iter().enumerate() {
        for &v in &n.inputs {
            r[v].push(i);
        }
    }
    r
}

/// A first-fit allocator of per-sample offsets.
#[derive(Default)]
struct Arena {
    free: Vec<(usize, usize)>,
    len: usize,
}

impl Arena {
    fn alloc(&mut self, len: usize) -> usize {
        if let Some(i) = self.free.iter().position(|&(_, l)| l >= len) {
            let (at, l) = self.free[i];
            if l == len {
                self.free.remove(i);
            } else {
                self.free[i] = (at + len, l - len);
            }
            return at;
        }
        // Grow, absorbing a free block at the end.
        if let Some(i) = self.free.iter().position(|&(at, l)| at + l == self.len) {
            let (at, _) = self.free.remove(i);
            self.len = at + len;
            return at;
        }
        self.len += len;
        self.len - len
    }

    fn release(&mut self, at: usize, len: usize) {
        self.free.push((at, len));
        self.free.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::new();
        for &(a, l) in &self.free {
            match merged.last_mut() {
                Some((ma, ml)) if *ma + *ml == a => *ml += l,
                _ => merged.push((a, l)),
            }
        }
        self.free = merged;
    }
}

/// How one computing node runs at inference.
pub struct InferStep {
    pub node: usize,
    /// A batch norm folded into this conv.
    pub bn: Option<usize>,
    /// An activation applied in this node's epilogue.
    pub act: Option<usize>,
    /// Whether it writes over its (first) input.
    pub in_place: bool,
    /// Per-sample region `(offset, len)` of each input, and of the output.
    pub inputs: Vec<(usize, usize)>,
    pub output: (usize, usize),
    /// For a concatenation: which inputs were written in their place in its output already.
    pub placed: Vec<bool>,
}

/// The inference plan: steps in order, the arena size per sample, where the input goes and the
/// output comes from.
pub struct InferPlan {
    pub steps: Vec<InferStep>,
    pub arena: usize,
    pub input_at: usize,
    pub output_at: usize,
    /// Each value's per-sample region `(offset, len)`: where it lies after the run, for a plan
    /// that keeps every value ([`infer_plan`] with `keep_all`).
    pub values: Vec<(usize, usize)>,
}

/// How a plan lays values out.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Layout {
    /// Any number of samples a tile; a concatenation copies its inputs in.
    Batched,
    /// One sample a tile, so a channel range of a value is contiguous: a concatenation's inputs
    /// are written in their place in its output where they can be, and it copies nothing.
    OneSample,
    /// Every layer on its own and every value kept to the end, which is what reading each
    /// layer's output (`activations`) needs.
    KeepAll,
}

/// How eval-mode inference runs: fused (batch norms folded into the convolution before them,
/// activations into the layer before them) and with buffers reused by liveness, laid out as
/// `layout` says.
pub fn infer_plan(g: &Graph, layout: Layout) -> InferPlan {
    let keep_all = layout == Layout::KeepAll;
    let n = g.nodes.len();
    let alias = |i: usize| matches!(kind(g, i), Some(Kind::Alias | Kind::Dropout));
    // Computing readers of each value, counting through aliases, and whether a value (through
    // aliases) is the network's output: both decide whether a layer may absorb the next.
    let readers = readers(g);
    let mut computing_readers = vec![0usize; n + 1];
    let mut is_output = vec![false; n + 1];
    is_output[n] = true;
    for v in (0..=n).rev() {
        for &i in &readers[v] {
            if alias(i) {
                computing_readers[v] += computing_readers[i + 1];
                is_output[v] |= is_output[i + 1];
            } else {
                computing_readers[v] += 1;
            }
        }
    }
    // The node that computes each node's result (itself, or the one it is fused into).
    let mut absorber: Vec<usize> = (0..n).collect();
    let mut bn: Vec<Option<usize>> = vec![None; n];
    let mut act: Vec<Option<usize>> = vec![None; n];
    // A value's storage root: itself, or the value whose memory it shares.
    let mut root: Vec<ValueId> = (0..=n).collect();
    for (i, node) in g.nodes.iter().enumerate() {
        let u = node.inputs[0];
        if alias(i) {
            root[i + 1] = root[u];
            continue;
        }
        let k = kind(g, i);
        if keep_all
            || !matches!(k, Some(Kind::Act | Kind::BatchNorm))
            || u == 0
            || alias(u - 1)
            || computing_readers[u] != 1
            || is_output[u]
        {
            continue;
        }
        let p = absorber[u - 1];
        let add = kind(g, p) == Some(Kind::Add);
        let fuses = match k {
            Some(Kind::BatchNorm) => {
                node.layer().folding().is_some()
                    && kind(g, p) == Some(Kind::Conv)
                    && bn[p].is_none()
                    && act[p].is_none()
            }
            _ => act[p].is_none() && (add || matches!(kind(g, p), Some(Kind::Conv | Kind::Linear | Kind::BatchNorm))),
        };
        if fuses {
            absorber[i] = p;
            root[i + 1] = root[u];
            if k == Some(Kind::BatchNorm) {
                bn[p] = Some(i);
            } else {
                act[p] = Some(i);
            }
        }
    }
    // Liveness of roots over the computing nodes.
    let computes = |i: usize| absorber[i] == i && !alias(i);
    let mut last_use = vec![0usize; n + 1];
    for (i, node) in g.nodes.iter().enumerate() {
        if computes(i) {
            for &v in &node.inputs {
                last_use[root[v]] = last_use[root[v]].max(i);
            }
        }
    }
    last_use[root[n]] = usize::MAX;
    if keep_all {
        last_use.iter_mut().for_each(|u| *u = usize::MAX);
    }
    let placement = if layout == Layout::OneSample {
        placements(g, &root, &absorber, &last_use, &is_output)
    } else {
        vec![None; n + 1]
    };
    // The outermost concatenation holding a value, and the value's offset in it.
    let container = |mut v: ValueId| {
        let mut offset = 0;
        while let Some((c, at)) = placement[v] {
            offset += at;
            v = c;
        }
        (v, offset)
    };
    let mut arena = Arena::default();
    let mut at = vec![usize::MAX; n + 1];
    at[0] = arena.alloc(g.input_shape().len());
    let len = |v: ValueId| g.shape(v).len();
    let mut steps = Vec::new();
    for (i, node) in g.nodes.iter().enumerate() {
        if !computes(i) {
            continue;
        }
        let out = root[i + 1];
        let ins: Vec<ValueId> = node.inputs.iter().map(|&v| root[v]).collect();
        let elementwise = matches!(kind(g, i), Some(Kind::Add | Kind::Act));
        let distinct = !ins[1..].contains(&ins[0]);
        let in_place = elementwise
            && distinct
            && last_use[ins[0]] == i
            && node.layer().in_place().is_some()
            && placement[ins[0]].is_none()
            && placement[out].is_none();
        let (top, offset) = container(out);
        at[out] = if in_place {
            at[ins[0]]
        } else if top != out {
            // Written in its place inside a concatenation, allocated with the first of its parts.
            if at[top] == usize::MAX {
                at[top] = arena.alloc(len(top));
            }
            at[top] + offset
        } else if at[out] == usize::MAX {
            arena.alloc(len(i + 1))
        } else {
            // A concatenation whose parts came first: its memory is already theirs.
            at[out]
        };
        let placed: Vec<bool> = ins.iter().map(|&r| placement[r].is_some_and(|(c, _)| c == out)).collect();
        steps.push(InferStep {
            node: i,
            bn: bn[i],
            act: act[i],
            in_place,
            inputs: ins.iter().map(|&r| (at[r], len(r))).collect(),
            output: (at[out], len(i + 1)),
            placed,
        });
        let mut freed: Vec<ValueId> = ins.clone();
        freed.dedup();
        for r in freed {
            // A part of a concatenation lives and dies with it.
            if last_use[r] == i && !(in_place && r == ins[0]) && placement[r].is_none() {
                arena.release(at[r], len(r));
            }
        }
    }
    let values = (0..=n).map(|v| (at[root[v]], len(v))).collect();
    InferPlan { steps, arena: arena.len.max(1), input_at: at[0], output_at: at[root[n]], values }
}

/// Where each value is written in its place inside a concatenation that reads it: `(the
/// concatenation's value, per-sample offset)`. A value qualifies when the network's input or
/// output is not it, a layer wrote it into memory of its own (not an activation or sum that may
/// run in place over its input), no other concatenation took it, and nothing reads it after the
/// concatenation, whose memory it then shares. Only for one-sample tiles, where a channel range
/// of a sample is contiguous.
fn placements(
    g: &Graph,
    root: &[ValueId],
    absorber: &[usize],
    last_use: &[usize],
    is_output: &[bool],
) -> Vec<Option<(ValueId, usize)>> {
    let n = g.nodes.len();
    let mut placement: Vec<Option<(ValueId, usize)>> = vec![None; n + 1];
    for (c, node) in g.nodes.iter().enumerate() {
        if kind(g, c) != Some(Kind::Concat) || absorber[c] != c {
            continue;
        }
        let out = root[c + 1];
        let mut offset = 0;
        for &v in &node.inputs {
            let r = root[v];
            let writes_own = r != 0
                && !matches!(kind(g, absorber[r - 1]), Some(Kind::Act | Kind::Add | Kind::Alias | Kind::Dropout));
            let inputs_of_c = node.inputs.iter().filter(|&&u| root[u] == r).count();
            if writes_own && placement[r].is_none() && !is_output[r] && last_use[r] <= c && inputs_of_c == 1 && r != out
            {
                placement[r] = Some((out, offset));
            }
            offset += g.shape(v).len();
        }
    }
    placement
}

/// How one node runs in training.
pub struct TrainNode {
    /// Per-sample activation regions of its inputs and output.
    pub inputs: Vec<(usize, usize)>,
    pub output: (usize, usize),
    /// Gradient regions of its inputs and output: every value has one, for the input's
    /// gradient (`backward_to_input`) flows through them all.
    pub grad_inputs: Vec<Option<(usize, usize)>>,
    pub grad_output: Option<(usize, usize)>,
    /// Per input: whether its gradient adds to what is already there.
    pub accumulate: Vec<bool>,
    /// Per input: whether its gradient is wanted only for the network input's (the value is
    /// upstream of every parameter, or the input itself), so it is computed only when asked.
    pub for_input: Vec<bool>,
    /// Whether its backward runs at all (an alias's does not).
    pub backward: bool,
    /// Whether its backward runs only for the network input's gradient (no parameter of its
    /// own or upstream).
    pub input_only: bool,
    pub argmax_at: usize,
    pub stats_at: (usize, usize),
}

pub struct TrainPlan {
    pub nodes: Vec<TrainNode>,
    pub acts_len: usize,
    pub grad_len: usize,
    pub out_at: usize,
    pub grad_out_at: usize,
    /// Where the network input's gradient lies.
    pub grad_in_at: usize,
    pub argmax_len: usize,
    pub stats_len: usize,
    pub shared_len: usize,
}

pub fn train_plan(g: &Graph, tables: &Tables) -> TrainPlan {
    let n = g.nodes.len();
    let mut root: Vec<ValueId> = (0..=n).collect();
    for (i, node) in g.nodes.iter().enumerate() {
        if kind(g, i) == Some(Kind::Alias) {
            root[i + 1] = root[node.inputs[0]];
        }
    }
    let len = |v: ValueId| g.shape(v).len();
    // A value the backward pass reads keeps its region to the end; any other is reused once
    // the last layer that reads it in the forward pass has run. Layers are read through
    // aliases; a residual sum's backward reads nothing.
    let saves = |i: usize| g.nodes[i].layer().saves();
    let mut kept = vec![false; n + 1];
    let mut last_read = vec![0usize; n + 1];
    kept[0] = true;
    kept[root[n]] = true;
    for (i, node) in g.nodes.iter().enumerate() {
        if kind(g, i) == Some(Kind::Alias) {
            continue;
        }
        let (reads_input, reads_output) = saves(i);
        kept[root[i + 1]] |= reads_output;
        for &v in &node.inputs {
            kept[root[v]] |= reads_input;
            last_read[root[v]] = last_read[root[v]].max(i);
        }
    }
    let mut act_at = vec![0; n + 1];
    let mut arena = Arena::default();
    act_at[0] = arena.alloc(len(0));
    for i in 0..n {
        let v = i + 1;
        if root[v] == v {
            act_at[v] = arena.alloc(len(v));
        }
        // Values last read here, and not kept, give their regions back.
        for (r, &last) in last_read.iter().enumerate() {
            if last == i && root[r] == r && !kept[r] && r != v {
                arena.release(act_at[r], len(r));
            }
        }
    }
    let acts_len = arena.len;
    // Which values need a gradient for the parameters': those downstream of a parameter. The
    // others (the input, and what comes before the first parameter) need one only when the
    // input's gradient is asked for; every value has a region for it.
    let mut needs = vec![false; n + 1];
    for (i, node) in g.nodes.iter().enumerate() {
        needs[i + 1] = tables.node_params(i) > 0 || node.inputs.iter().any(|&v| needs[v]);
    }
    let out_root = root[n];
    let mut grad_at = vec![usize::MAX; n + 1];
    let mut grad_len = 0;
    for v in 0..=n {
        if root[v] == v {
            grad_at[v] = grad_len;
            grad_len += len(v);
        }
    }
    let (mut argmax_len, mut stats_len, mut shared_len) = (0, 0, 0);
    let mut nodes = Vec::with_capacity(n);
    for (i, node) in g.nodes.iter().enumerate() {
        let (argmax_at, stats_at);
        let l = node.layer();
        argmax_at = argmax_len;
        argmax_len += l.argmax_len(node.output);
        let (s, h) = l.stats_len(node.input());
        stats_at = (stats_len, shared_len);
        stats_len += s;
        shared_len += h;
        let region = |v: ValueId| (act_at[root[v]], len(v));
        let grad = |v: ValueId| Some((grad_at[root[v]], len(v)));
        nodes.push(TrainNode {
            inputs: node.inputs.iter().map(|&v| region(v)).collect(),
            output: region(i + 1),
            grad_inputs: node.inputs.iter().map(|&v| grad(v)).collect(),
            grad_output: grad(i + 1),
            accumulate: vec![false; node.inputs.len()],
            for_input: node.inputs.iter().map(|&v| !needs[v] || root[v] == 0).collect(),
            backward: kind(g, i) != Some(Kind::Alias),
            input_only: !needs[i + 1],
            argmax_at,
            stats_at,
        });
    }
    // In backward order, the first gradient to reach a value writes it, the rest add. A value
    // upstream of every parameter gets its gradients only when the input's is asked for, and
    // then from all its readers; any other value from the same readers either way: so the
    // order is one for both passes.
    let mut written = vec![false; n + 1];
    written[out_root] = true;
    for i in (0..n).rev() {
        if !nodes[i].backward {
            continue;
        }
        for (k, &v) in g.nodes[i].inputs.iter().enumerate() {
            nodes[i].accumulate[k] = written[root[v]];
            written[root[v]] = true;
        }
    }
    TrainPlan {
        nodes,
        acts_len,
        grad_len: grad_len.max(1),
        out_at: act_at[out_root],
        grad_out_at: grad_at[out_root],
        grad_in_at: grad_at[0],
        argmax_len,
        stats_len,
        shared_len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{self, Graph};
    use std::str::FromStr;

    fn graph(items: &str) -> Graph {
        let src = format!("struct Net {{ {items} }}");
        let mut shared = crate::error::Errors::default();
        let invocation = crate::parse::parse(proc_macro2::TokenStream::from_str(&src).unwrap(), &mut shared).unwrap();
        let (syntax, mut errors) = invocation.nets.into_iter().next().unwrap();
        let net = crate::instance::expand(syntax, &invocation.blocks, &mut errors);
        graph::build(net, errors, &crate::vocabulary::WORDS).unwrap_or_else(|e| panic!("{src}: {:?}", e.error))
    }

    /// The keys of the nodes each step computes, with what it absorbed.
    fn steps(g: &Graph, plan: &InferPlan) -> Vec<String> {
        plan.steps
            .iter()
            .map(|s| {
                let mut text = g.nodes[s.node].key.clone();
                if let Some(b) = s.bn {
                    text += &format!("+bn {}", g.nodes[b].key);
                }
                if let Some(a) = s.act {
                    text += &format!("+act {}", g.nodes[a].key);
                }
                if s.in_place {
                    text += " in place";
                }
                text
            })
            .collect()
    }

    #[test]
    fn fusion_folds_batch_norm_and_activations_into_the_layer_before() {
        let g = graph("input(3, 8, 8) conv(3, 4, k=3, p=1) batchnorm(4) relu conv(4, 4, k=1) relu relu flatten linear(256, 2) tanh");
        let plan = infer_plan(&g, Layout::Batched);
        // The second relu of a pair runs in place; an activation after flatten fuses through it.
        assert_eq!(steps(&g, &plan), ["0+bn 1+act 2", "3+act 4", "5 in place", "7+act 8"]);
        let kept = infer_plan(&g, Layout::KeepAll);
        assert_eq!(kept.steps.len(), 8, "every computing layer on its own");
    }

    #[test]
    fn a_value_read_twice_is_not_fused_and_the_sum_runs_in_place() {
        let g = graph("input(2, 4, 4) conv(2, 2, k=1) residual { conv(2, 2, k=1) relu } relu");
        let plan = infer_plan(&g, Layout::Batched);
        // The conv's output feeds the body and the sum: the body's relu fuses into the body's
        // conv, the one after the block into the sum, which writes over the body's output.
        assert_eq!(steps(&g, &plan), ["0", "1.0+act 1.1", "1+act 2 in place"]);
    }

    #[test]
    fn buffers_are_reused_by_liveness() {
        let chain = "conv(4, 4, k=3, p=1) tanh ".repeat(6);
        let g = graph(&format!("input(4, 8, 8) {chain}"));
        let plan = infer_plan(&g, Layout::Batched);
        // Two values of 256 live at a time (activations run in place), however long the chain.
        assert_eq!(plan.arena, 2 * 256);
        assert_eq!(infer_plan(&g, Layout::KeepAll).arena, 13 * 256, "the input and every layer's output");
    }

    #[test]
    fn gradients_of_a_value_read_twice_add_up() {
        let g = graph("input(2, 4, 4) conv(2, 2, k=1) sum { identity conv(2, 2, k=1) identity } flatten linear(32, 2)");
        let t = tables(&g);
        let plan = train_plan(&g, &t);
        let add = g.nodes.iter().position(|n| n.key == "1").unwrap();
        // Backward runs in reverse, so the sum's gradients come first: of its three inputs (the
        // first conv's output through an identity, the branch conv's, the first conv's output
        // again) the first to reach the shared value writes it and the second adds.
        assert_eq!(plan.nodes[add].accumulate, [false, false, true]);
        let conv = g.nodes.iter().position(|n| n.key == "1.1").unwrap();
        assert_eq!(plan.nodes[conv].accumulate, [true], "the branch conv adds to what the sum wrote");
    }

    #[test]
    fn one_sample_tiles_write_a_concatenations_parts_in_place() {
        let g = graph(
            "input(3, 8, 8) conv(3, 4, k=1)
             l1: dense { batchnorm(4) relu conv(4, 2, k=3, p=1) }
             l2: dense { batchnorm(6) relu conv(6, 2, k=3, p=1) }
             conv(8, 3, k=1)",
        );
        let single = infer_plan(&g, Layout::OneSample);
        let concats: Vec<&InferStep> =
            single.steps.iter().filter(|s| g.nodes[s.node].key.starts_with('l') && s.placed.len() == 2).collect();
        assert_eq!(concats.len(), 2);
        assert!(concats.iter().all(|s| s.placed == [true, true]), "nothing to copy");
        // The first conv's output, the two growth convs' and the first join share the last
        // join's region: 4 + 2 channels, then 2 more.
        let (l2_at, l2_len) = concats[1].output;
        assert_eq!(l2_len, 8 * 64);
        assert_eq!(concats[0].output, (l2_at, 6 * 64));
        assert_eq!(concats[1].inputs, [(l2_at, 6 * 64), (l2_at + 6 * 64, 2 * 64)]);
        // Wider tiles copy: a channel range of a sample is not contiguous there.
        let batched = infer_plan(&g, Layout::Batched);
        assert!(batched.steps.iter().all(|s| s.placed.iter().all(|&p| !p)));
    }

    #[test]
    fn parts_read_after_the_join_or_joined_twice_are_copied() {
        // The first conv's output is read after the join (by the sum), and a branch is the
        // network's input: neither can live inside the join.
        let g = graph("input(2, 4, 4) conv(2, 2, k=1) residual { cat { conv(2, 1, k=1) identity } conv(3, 2, k=1) }");
        let single = infer_plan(&g, Layout::OneSample);
        let cat = single.steps.iter().find(|s| s.placed.len() == 2).unwrap();
        assert_eq!(cat.placed, [true, false], "the identity branch is the conv's output, read later");
        let g = graph("input(2, 4, 4) cat { identity conv(2, 2, k=1) } conv(4, 2, k=1)");
        let cat = infer_plan(&g, Layout::OneSample).steps.into_iter().find(|s| s.placed.len() == 2).unwrap();
        assert_eq!(cat.placed, [false, true], "the input stays where the caller put it");
    }

    #[test]
    fn split_chunks_are_not_hooked_and_land_in_the_join() {
        let g = graph("input(4, 2, 2) conv(4, 4, k=1) split { identity conv(2, 2, k=1) } channel_shuffle(2)");
        let slices: Vec<&str> = g.nodes.iter().filter(|n| !n.hooked).map(|n| n.key.as_str()).collect();
        assert_eq!(slices, ["1", "1"], "two chunks, keyed by the block, seen by no hook");
        let single = infer_plan(&g, Layout::OneSample);
        let cat = single.steps.iter().find(|s| s.placed.len() == 2).unwrap();
        assert_eq!(cat.placed, [true, true], "the chunk copy and the branch conv write into the join");
    }
}
