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
//! (every network tensor present with its shape and dtype, no unknown tensor) and changes
//! nothing on error; saving is atomic.

use crate::optim::Optimizer;
use crate::weights::{
    check_view, checked_views, parse, read_f32s, read_i64, tensors, write_file, write_views, Raw, StateMut, StateRef,
    StateSpecs, WeightsError, WeightsErrorKind,
};
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
pub fn save_checkpoint<O: Optimizer + ?Sized>(
    specs: &StateSpecs,
    state: StateRef<'_>,
    progress: Progress,
    opt: &O,
    path: &Path,
) -> Result<(), WeightsError> {
    let opt_state = opt.state();
    // Both as their bits: a u64 past i64::MAX comes back the same.
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

/// Loads a checkpoint written by [`save_checkpoint`] from `path` into `state`, `progress` and
/// `opt`; on any error none of them changes.
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
    let scalar = |name: &str| -> Result<u64, WeightsError> {
        let view = file.tensor(name).map_err(|_| {
            WeightsError::new(WeightsErrorKind::Names { missing: vec![name.to_string()], unexpected: Vec::new() })
        })?;
        check_view(name, &view, Dtype::I64, &[])?;
        Ok(read_i64(&view) as u64)
    };
    let new_progress = Progress { step: scalar(STEP_COUNT)?, seed: scalar(SEED)? };
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
    let mut opt_counters = Vec::new();
    for name in counter_names {
        let key = format!("{OPTIMIZER_PREFIX}{name}");
        opt_counters.push(match file.tensor(&key) {
            Ok(view) => {
                check_view(&key, &view, Dtype::I64, &[])?;
                Some(read_i64(&view))
            }
            Err(_) => None,
        });
    }
    write_views(specs, views, state);
    *progress = new_progress;
    opt.set_state(opt_tensors, opt_counters);
    Ok(())
}
