//! Checkpoints: a network's `state_dict` together with what a resumed run needs beside it, in
//! one safetensors file, so that training resumed from it gives bit-identical weights to a run
//! that never stopped.
//!
//! The file holds the network's tensors under their `state_dict` names, `cnn.step_count` (the
//! training forward passes so far) and `cnn.seed` (the network's seed, its bits), which key
//! dropout's masks (`I64`, 0-dimensional), and the
//! optimizer's state under `optimizer.` + its names: `optimizer.momentum_buffer` for
//! [`Sgd`](crate::Sgd) with momentum, `optimizer.exp_avg`, `optimizer.exp_avg_sq` (`F32`, one
//! value per parameter, in `flat_params` order) and `optimizer.step` (`I64`) for
//! [`Adam`](crate::Adam) and [`AdamW`](crate::AdamW). Loading is as strict as loading weights
//! (every network tensor present with its shape and dtype, no unknown tensor; the optimizer's
//! tensors and counters exactly those it keeps) and changes nothing on error; saving checks what
//! it writes as loading will, refuses what could not be loaded, and is atomic.

use crate::io::weights::{
    check_counter, check_counters, check_view, checked_views, parse, read_f32s, read_i64, tensors, write_file,
    write_views, Raw, StateMut, StateRef, StateSpecs, WeightsError, WeightsErrorKind,
};
use crate::train::optim::Optimizer;
use safetensors::tensor::Dtype;
use std::borrow::Cow;
use std::path::Path;

/// The name of the step count in a checkpoint.
pub const STEP_COUNT: &str = "cnn.step_count";
/// The name of the network's seed in a checkpoint.
pub const SEED: &str = "cnn.seed";

/// Where a network's training stands beside its tensors: what keys dropout's masks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Training forward passes so far.
    pub step: u64,
    /// The seed the network was made with.
    pub seed: u64,
}
/// What the optimizer's names get in front of them in a checkpoint.
pub const OPTIMIZER_PREFIX: &str = "optimizer.";

/// Saves `state`, `progress` and `opt`'s state to `path`, atomically.
///
/// # Errors
/// What [`load_checkpoint`] would refuse is refused here, before anything is written (the file
/// at `path` stays as it was): optimizer state of another length than the network's parameters
/// (an optimizer that stepped on another network), part of it missing, or a counter that could
/// not be continued; and as [`save_state`](crate::io::weights::save_state), a write that fails.
pub fn save_checkpoint<O: Optimizer + ?Sized>(
    specs: &StateSpecs,
    state: StateRef<'_>,
    progress: Progress,
    opt: &O,
    path: &Path,
) -> Result<(), WeightsError> {
    let opt_state = opt.state();
    let check = || -> Result<(), WeightsError> {
        check_counters(specs, state)?;
        let step = i64::try_from(progress.step).unwrap_or(i64::MAX);
        check_counter(STEP_COUNT, step)?;
        let (tensor_names, counter_names) = opt.state_names();
        let find = |name: &str| opt_state.tensors.iter().find(|t| t.0 == name).map(|t| t.1.len());
        let tensors: Vec<_> = tensor_names.iter().map(|&n| (n, find(n))).collect();
        let counters: Vec<_> =
            counter_names.iter().map(|&n| (n, opt_state.counters.iter().find(|c| c.0 == n).map(|c| c.1))).collect();
        check_optimizer(opt, &tensors, &counters, state.params.len())
    };
    check().map_err(|e| e.at(path))?;
    // The seed as its bits: a u64 past i64::MAX comes back the same.
    let step = [
        (Cow::Borrowed(STEP_COUNT), Raw::i64(progress.step as i64)),
        (Cow::Borrowed(SEED), Raw::i64(progress.seed as i64)),
    ];
    let opt_tensors = opt_state
        .tensors
        .iter()
        .map(|(name, data)| (Cow::Owned(format!("{OPTIMIZER_PREFIX}{name}")), Raw::f32s(vec![data.len()], data)));
    let opt_counters =
        opt_state.counters.iter().map(|(name, v)| (Cow::Owned(format!("{OPTIMIZER_PREFIX}{name}")), Raw::i64(*v)));
    write_file(tensors(specs, state).chain(step).chain(opt_tensors).chain(opt_counters), path)
}

/// Whether the optimizer state a checkpoint holds (or is to hold) is one `opt` can go on from
/// on a network of `params` parameters: each of its tensors `params` long, all of them there or
/// none (an optimizer that has not stepped), every counter there and continuable, and what
/// [`Optimizer::check_state`] asks beyond that.
fn check_optimizer<O: Optimizer + ?Sized>(
    opt: &O,
    tensors: &[(&str, Option<usize>)],
    counters: &[(&str, Option<i64>)],
    params: usize,
) -> Result<(), WeightsError> {
    let key = |name: &str| format!("{OPTIMIZER_PREFIX}{name}");
    for &(name, len) in tensors {
        if let Some(len) = len.filter(|&l| l != params) {
            return Err(WeightsError::new(WeightsErrorKind::Optimizer(format!(
                "{} holds {len} values but the network has {params} parameters (did the optimizer step on another network?)",
                key(name)
            ))));
        }
    }
    let has_tensors = tensors.iter().any(|t| t.1.is_some());
    let mut missing: Vec<String> = tensors.iter().filter(|t| has_tensors && t.1.is_none()).map(|t| key(t.0)).collect();
    missing.extend(counters.iter().filter(|c| c.1.is_none()).map(|c| key(c.0)));
    if !missing.is_empty() {
        return Err(WeightsError::new(WeightsErrorKind::Names { missing, unexpected: Vec::new() }));
    }
    let values: Vec<i64> = counters.iter().filter_map(|c| c.1).collect();
    for (&(name, _), &v) in counters.iter().zip(&values) {
        check_counter(&key(name), v)?;
    }
    opt.check_state(has_tensors, &values).map_err(|why| WeightsError::new(WeightsErrorKind::Optimizer(why)))
}

/// Loads a checkpoint written by [`save_checkpoint`] from `path` into `state`, `progress` and
/// `opt`; on any error none of them changes.
///
/// # Errors
/// As [`load_state`](crate::io::weights::load_state) for the network's tensors; besides, the step
/// count and seed must be there, the optimizer's tensors and counters must be exactly those
/// `opt` keeps (all its tensors or none of them, each one value per parameter; every counter),
/// and every counter must be one training can go on from (at least 0, below `i64::MAX`).
pub fn load_checkpoint<O: Optimizer + ?Sized>(
    specs: &StateSpecs,
    state: StateMut<'_>,
    progress: &mut Progress,
    opt: &mut O,
    path: &Path,
) -> Result<(), WeightsError> {
    let bytes = std::fs::read(path).map_err(|e| WeightsError::new(WeightsErrorKind::Io(e)).at(path))?;
    load_checkpoint_bytes(specs, state, progress, opt, &bytes).map_err(|e| e.at(path))
}

/// [`load_checkpoint`] from the bytes of a checkpoint file.
pub fn load_checkpoint_bytes<O: Optimizer + ?Sized>(
    specs: &StateSpecs,
    state: StateMut<'_>,
    progress: &mut Progress,
    opt: &mut O,
    bytes: &[u8],
) -> Result<(), WeightsError> {
    let file = parse(bytes)?;
    let (tensor_names, counter_names) = opt.state_names();
    let is_optimizer =
        |name: &str, names: &[&str]| name.strip_prefix(OPTIMIZER_PREFIX).is_some_and(|n| names.contains(&n));
    let views = checked_views(specs, &file, |name| {
        name == STEP_COUNT || name == SEED || is_optimizer(name, tensor_names) || is_optimizer(name, counter_names)
    })?;
    // Everything is read and checked before anything is written.
    let scalar = |name: &str| -> Result<Option<i64>, WeightsError> {
        let Ok(view) = file.tensor(name) else { return Ok(None) };
        check_view(name, &view, Dtype::I64, &[])?;
        Ok(Some(read_i64(&view)))
    };
    let required = |name: &str| -> Result<i64, WeightsError> {
        scalar(name)?.ok_or_else(|| {
            WeightsError::new(WeightsErrorKind::Names { missing: vec![name.to_string()], unexpected: Vec::new() })
        })
    };
    let step = required(STEP_COUNT)?;
    check_counter(STEP_COUNT, step)?;
    let new_progress = Progress { step: step as u64, seed: required(SEED)? as u64 };
    let params = state.params.len();
    let mut opt_tensors = Vec::new();
    for name in tensor_names {
        let key = format!("{OPTIMIZER_PREFIX}{name}");
        opt_tensors.push(match file.tensor(&key) {
            Ok(view) => {
                check_view(&key, &view, Dtype::F32, &[params])?;
                let mut data = vec![0.0; params];
                read_f32s(&view, &mut data);
                Some(data)
            }
            Err(_) => None,
        });
    }
    let opt_counters =
        counter_names.iter().map(|name| scalar(&format!("{OPTIMIZER_PREFIX}{name}"))).collect::<Result<Vec<_>, _>>()?;
    let lens: Vec<_> = tensor_names.iter().zip(&opt_tensors).map(|(&n, t)| (n, t.as_ref().map(Vec::len))).collect();
    let counters: Vec<_> = counter_names.iter().copied().zip(opt_counters.iter().copied()).collect();
    check_optimizer(opt, &lens, &counters, params)?;
    write_views(specs, views, state);
    *progress = new_progress;
    opt.set_state(opt_tensors, opt_counters);
    Ok(())
}
