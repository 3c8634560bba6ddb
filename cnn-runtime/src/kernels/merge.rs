//! The kernels of merges: the sum of a residual or `sum` block, the channel copies of a
//! concatenation and of a `split` chunk, and the product of a `gate` block. Slices hold `n`
//! samples one after another, as every activation does.

use crate::kernels::activation::{act_in_place, Act, ACT_RUN};
use crate::kernels::conv::check_len;

/// `y = Σ inputs`, then `act`: a residual connection (or a `sum` block) and the activation after
/// it in one pass. The inputs are added in order, so the result does not depend on threads.
///
/// # Panics
/// If an input's length differs from `y`'s, or there is no input.
#[track_caller]
pub fn add_forward(inputs: &[&[f32]], y: &mut [f32], act: Act) {
    let (first, rest) = inputs.split_first().expect("add_forward: a sum needs an input");
    assert!(inputs.iter().all(|x| x.len() == y.len()), "add_forward: slices differ in length");
    if let [b] = rest {
        for ((y, a), b) in y.chunks_mut(ACT_RUN).zip(first.chunks(ACT_RUN)).zip(b.chunks(ACT_RUN)) {
            y.iter_mut().zip(a.iter().zip(b)).for_each(|(y, (a, b))| *y = a + b);
            act_in_place(act, y);
        }
        return;
    }
    y.copy_from_slice(first);
    add_in_place(y, rest, act);
}

/// `y += Σ others`, then `act`, in place: [`add_forward`] writing over its first operand.
///
/// # Panics
/// If the slices differ in length.
#[track_caller]
pub fn add_in_place(y: &mut [f32], others: &[&[f32]], act: Act) {
    assert!(others.iter().all(|x| x.len() == y.len()), "add_in_place: slices differ in length");
    let Some((last, rest)) = others.split_last() else {
        act_in_place(act, y);
        return;
    };
    for b in rest {
        y.iter_mut().zip(*b).for_each(|(y, b)| *y += b);
    }
    for (y, b) in y.chunks_mut(ACT_RUN).zip(last.chunks(ACT_RUN)) {
        y.iter_mut().zip(b).for_each(|(y, b)| *y += b);
        act_in_place(act, y);
    }
}

/// `y = a - b`, then `act`: a `sub { a b }` block (MetaFormer's `pool(x) - x`).
///
/// # Panics
/// If the slices differ in length.
#[track_caller]
pub fn sub_forward(a: &[f32], b: &[f32], y: &mut [f32], act: Act) {
    assert!(a.len() == y.len() && b.len() == y.len(), "sub_forward: slices differ in length");
    for ((y, a), b) in y.chunks_mut(ACT_RUN).zip(a.chunks(ACT_RUN)).zip(b.chunks(ACT_RUN)) {
        y.iter_mut().zip(a.iter().zip(b)).for_each(|(y, (a, b))| *y = a - b);
        act_in_place(act, y);
    }
}

/// Writes or adds `-src` into `dst`: the gradient of a difference's second operand.
///
/// # Panics
/// If the slices differ in length.
#[track_caller]
pub fn pass_negated_gradient(src: &[f32], dst: &mut [f32], accumulate: bool) {
    assert_eq!(src.len(), dst.len(), "pass_negated_gradient: slices differ in length");
    if accumulate {
        dst.iter_mut().zip(src).for_each(|(d, s)| *d -= s);
    } else {
        dst.iter_mut().zip(src).for_each(|(d, s)| *d = -s);
    }
}

/// Copies or adds `src` into `dst`: how a gradient reaches a value that more than one layer
/// reads (the sum of their gradients).
///
/// # Panics
/// If the slices differ in length.
#[track_caller]
#[inline]
pub fn pass_gradient(src: &[f32], dst: &mut [f32], accumulate: bool) {
    assert_eq!(src.len(), dst.len(), "pass_gradient: slices differ in length");
    if accumulate {
        dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
    } else {
        dst.copy_from_slice(src);
    }
}

/// For each of `n` samples, copies (or with `accumulate` adds) `len` elements from offset
/// `src.1` of a `src.0`-element sample of `x` to offset `dst.1` of a `dst.0`-element sample of
/// `y`: a branch into its channel range of a concatenation, a chunk out of it, and their
/// gradients.
///
/// # Panics
/// If a range lies outside its sample, or a slice is shorter than `n` samples.
#[track_caller]
pub fn copy_block(
    n: usize,
    x: &[f32],
    src: (usize, usize),
    y: &mut [f32],
    dst: (usize, usize),
    len: usize,
    accumulate: bool,
) {
    assert!(src.1 + len <= src.0 && dst.1 + len <= dst.0, "copy_block: range outside the sample");
    check_len("input", x.len(), n * src.0);
    check_len("output", y.len(), n * dst.0);
    for s in 0..n {
        let from = &x[s * src.0 + src.1..][..len];
        let to = &mut y[s * dst.0 + dst.1..][..len];
        if accumulate {
            to.iter_mut().zip(from).for_each(|(t, f)| *t += f);
        } else {
            to.copy_from_slice(from);
        }
    }
}

/// `y = x * gate` for `n` samples, each gate value scaling `group` consecutive elements of `x`
/// (a channel's map under squeeze-and-excitation; 1 for an element-wise product).
///
/// # Panics
/// If the slices do not hold `n` samples of matching sizes.
#[track_caller]
pub fn gate_forward(n: usize, x: &[f32], gate: &[f32], group: usize, y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "gate_forward: input and output differ in length");
    check_len("gate", gate.len() * group, x.len());
    check_len("input", x.len(), n * group);
    for ((y, x), g) in y.chunks_exact_mut(group).zip(x.chunks_exact(group)).zip(gate) {
        y.iter_mut().zip(x).for_each(|(y, x)| *y = x * g);
    }
}

/// The gradient of [`gate_forward`] with respect to `x`: `dx = dy * gate`, written or added.
///
/// # Panics
/// As [`gate_forward`].
#[track_caller]
pub fn gate_backward_input(n: usize, gate: &[f32], group: usize, dy: &[f32], dx: &mut [f32], accumulate: bool) {
    assert_eq!(dy.len(), dx.len(), "gate_backward_input: gradients differ in length");
    check_len("gate", gate.len() * group, dy.len());
    check_len("grad_output", dy.len(), n * group);
    for ((dx, dy), g) in dx.chunks_exact_mut(group).zip(dy.chunks_exact(group)).zip(gate) {
        if accumulate {
            dx.iter_mut().zip(dy).for_each(|(dx, dy)| *dx += dy * g);
        } else {
            dx.iter_mut().zip(dy).for_each(|(dx, dy)| *dx = dy * g);
        }
    }
}

/// The gradient of [`gate_forward`] with respect to the gate: each value's `Σ dy * x` over its
/// group, summed in order, written or added.
///
/// # Panics
/// As [`gate_forward`].
#[track_caller]
pub fn gate_backward_gate(n: usize, x: &[f32], group: usize, dy: &[f32], dgate: &mut [f32], accumulate: bool) {
    assert_eq!(x.len(), dy.len(), "gate_backward_gate: input and gradient differ in length");
    check_len("gate gradient", dgate.len() * group, x.len());
    check_len("input", x.len(), n * group);
    for ((g, x), dy) in dgate.iter_mut().zip(x.chunks_exact(group)).zip(dy.chunks_exact(group)) {
        let sum: f32 = x.iter().zip(dy).map(|(x, dy)| x * dy).sum();
        if accumulate {
            *g += sum;
        } else {
            *g = sum;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_in_order_with_activation() {
        let (a, b, c) = ([1.0, -2.0, 3.0], [0.5, 0.5, -5.0], [0.25, 0.0, 1.0]);
        let mut y = [0.0; 3];
        add_forward(&[&a, &b, &c], &mut y, Act::Relu);
        assert_eq!(y, [1.75, 0.0, 0.0]);
        add_forward(&[&a, &b], &mut y, Act::Identity);
        assert_eq!(y, [1.5, -1.5, -2.0]);
        add_in_place(&mut y, &[&c, &a], Act::Identity);
        assert_eq!(y, [2.75, -3.5, 2.0]);
    }

    #[test]
    fn differences_and_their_negated_gradients() {
        // Longer than one activation run, so that the runs' seams are crossed.
        let a: Vec<f32> = (0..ACT_RUN + 5).map(|i| i as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..ACT_RUN + 5).map(|i| (i % 7) as f32).collect();
        let mut y = vec![0.0; a.len()];
        sub_forward(&a, &b, &mut y, Act::Relu);
        for i in 0..a.len() {
            assert_eq!(y[i], (a[i] - b[i]).max(0.0), "{i}");
        }
        let mut d = vec![1.0; a.len()];
        pass_negated_gradient(&b, &mut d, true);
        assert!(d.iter().zip(&b).all(|(d, b)| *d == 1.0 - b));
        pass_negated_gradient(&b, &mut d, false);
        assert!(d.iter().zip(&b).all(|(d, b)| *d == -b));
    }

    #[test]
    fn blocks_go_to_their_ranges_per_sample() {
        // Two samples of 2 elements into the middle of two samples of 5.
        let x = [1.0, 2.0, 3.0, 4.0];
        let mut y = [0.0; 10];
        copy_block(2, &x, (2, 0), &mut y, (5, 1), 2, false);
        assert_eq!(y, [0.0, 1.0, 2.0, 0.0, 0.0, 0.0, 3.0, 4.0, 0.0, 0.0]);
        copy_block(2, &x, (2, 0), &mut y, (5, 2), 2, true);
        assert_eq!(y, [0.0, 1.0, 3.0, 2.0, 0.0, 0.0, 3.0, 7.0, 4.0, 0.0]);
        let mut back = [0.0; 4];
        copy_block(2, &y, (5, 3), &mut back, (2, 0), 2, false);
        assert_eq!(back, [2.0, 0.0, 4.0, 0.0]);
    }

    #[test]
    fn gate_matches_a_naive_broadcast() {
        // 2 samples, 3 channels of 2 pixels; one gate value per channel.
        let x: Vec<f32> = (0..12).map(|v| v as f32 - 5.0).collect();
        let g: Vec<f32> = (0..6).map(|v| 0.5 * v as f32 - 1.0).collect();
        let dy: Vec<f32> = (0..12).map(|v| (v as f32 * 0.37).sin()).collect();
        let mut y = vec![0.0; 12];
        gate_forward(2, &x, &g, 2, &mut y);
        let mut dx = vec![0.0; 12];
        gate_backward_input(2, &g, 2, &dy, &mut dx, false);
        let mut dg = vec![0.0; 6];
        gate_backward_gate(2, &x, 2, &dy, &mut dg, false);
        for i in 0..12 {
            assert_eq!(y[i], x[i] * g[i / 2]);
            assert_eq!(dx[i], dy[i] * g[i / 2]);
        }
        for c in 0..6 {
            assert_eq!(dg[c], x[2 * c] * dy[2 * c] + x[2 * c + 1] * dy[2 * c + 1]);
        }
    }
}
