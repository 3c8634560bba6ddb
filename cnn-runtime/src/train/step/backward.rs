//! The backward pass over the tiles: the output gradient copied in, each stage's tiles run
//! wave by wave, the units' partials summed in unit order (or handed to the exchange), and each
//! stage's reduction.

use super::arena::{grow, Arena};
use super::regions::region_mut;
use super::schedule::{lane_count, Part, TrainLayout};
use super::{gathered, Tile};
use crate::train::exchange::Exchange;

/// The backward pass over the tiles; the summed gradients are left in `summed`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward_pass<S, R>(
    arena: &mut Arena,
    summed: &mut Vec<f32>,
    part: Part,
    n: usize,
    layout: TrainLayout,
    grad_output: &[f32],
    mut exchange: Option<&mut (dyn Exchange + '_)>,
    stage: S,
    mut reduce: R,
) where
    S: Fn(usize, Tile<'_>) + Sync,
    R: FnMut(usize, &[f64], &mut [f64], &mut [f32]),
{
    let TrainLayout { out_len, grad_out_at, param_count, .. } = layout;
    let units = part.units(n);
    let summed = grow(summed, param_count);
    // Gradients no stage's tiles write (a reduction's, or a frozen layer's) start at 0.
    summed.fill(0.0);
    let lanes = lane_count(layout, part, n, exchange.is_some());
    let first = part.first;
    let mut split = arena.split(layout, part, n, lanes);
    for wave in split.waves() {
        split.for_each_tile(wave, &|t: Tile<'_>| {
            let at = t.first - first;
            region_mut(t.grads, t.m, grad_out_at, out_len)
                .copy_from_slice(&grad_output[at * out_len..(at + t.m) * out_len]);
        });
    }
    // Lanes start at zero; in one process each wave's sum zeroes them again for the next.
    // SAFETY: no tile runs yet, and no exchange has been given these lanes this step.
    unsafe { split.lanes.zero(split.lanes.count) };
    for s in 0..layout.backward_stages {
        let ranges = layout.grad_ranges.get(s).copied().unwrap_or(&[]);
        let mut split = arena.split(layout, part, n, lanes);
        let (lanes, waves) = (split.lanes, split.units().div_ceil(split.lanes.count.max(1)));
        for (w, wave) in split.waves().enumerate() {
            let start = wave.start;
            split.for_each_tile(wave.clone(), &|t| stage(s, t));
            if exchange.is_none() {
                // SAFETY: the wave's tiles are done; its lanes are read here alone.
                unsafe { lanes.sum_into(summed, ranges, units.start + start, wave.len(), w + 1 < waves) };
            }
        }
        if let Some(x) = exchange.as_deref_mut() {
            x.bucket(ranges, lanes, units.clone());
        }
        let Arena { stats, all_stats, shared, .. } = arena;
        let range = layout.backward_stats.get(s).copied();
        let partials = gathered(exchange.as_deref_mut(), layout, part, &units, stats, all_stats, range);
        reduce(s, partials, &mut shared[..layout.shared_len], summed);
    }
    if let Some(x) = exchange {
        x.finish(summed);
    }
}
