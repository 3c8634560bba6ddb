//! What a generated network holds: its parameters, buffers and counters, the step count and
//! seed that key dropout's masks, and its training memory. One type for every network, so that
//! everything done to a network's state is written once (in `cnn::Network`'s methods) and not
//! generated again for each network.

use crate::io::weights::{StateMut, StateRef};
use crate::kernels::conv::packed_weights::Params;
use crate::params::ParamSpec;
use crate::train::step::TrainBuffers;

/// A network's state (the generated struct's one field).
#[doc(hidden)]
#[derive(Debug)]
pub struct NetState {
    /// Parameters in `state_dict` order, with the packed copies of the convolutions' weights.
    pub params: Params,
    /// Buffers (running statistics) in `state_dict` order.
    pub buffers: Box<[f32]>,
    /// Counters (`num_batches_tracked`).
    pub counters: Box<[i64]>,
    /// The seed of the initial weights, which also keys dropout's masks.
    pub seed: u64,
    /// Training forward passes run so far.
    pub step: u64,
    /// The parameters that take no gradient and no update.
    pub frozen: crate::train::frozen::Frozen,
    /// Whether training passes run in train mode (PyTorch's `module.training`): batch
    /// statistics and dropout; else as inference does, by the running statistics.
    pub training: bool,
    /// Memory of training steps, reused from step to step (not part of the state a clone or a
    /// checkpoint carries).
    pub train: TrainBuffers,
}

/// The sizes of a network's state, from its generated tables.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct StateShape {
    pub params: &'static [ParamSpec],
    pub param_count: usize,
    pub buffers: &'static [ParamSpec],
    pub buffer_count: usize,
    pub counters: usize,
    /// Layers, each with a slot for its packed weights.
    pub layers: usize,
}

impl NetState {
    /// A network initialised as PyTorch initialises its layers, from `seed`.
    ///
    /// # Panics
    /// If `CNN_ISA` names an instruction set this CPU lacks: it is read here, once, so that a
    /// bad value fails when the network is made rather than in its first kernel.
    pub fn new(shape: StateShape, seed: u64) -> Self {
        crate::isa::isa();
        let mut params = vec![0.0f32; shape.param_count].into_boxed_slice();
        crate::init::init_default(shape.params, &mut params, seed);
        let mut buffers = vec![0.0f32; shape.buffer_count].into_boxed_slice();
        crate::init::init_default(shape.buffers, &mut buffers, seed);
        NetState {
            params: Params::new(params, shape.layers),
            buffers,
            counters: vec![0; shape.counters].into_boxed_slice(),
            seed,
            step: 0,
            frozen: Default::default(),
            training: true,
            train: TrainBuffers::new(),
        }
    }

    /// The parameters, buffers and counters, for reading.
    pub fn state_ref(&self) -> StateRef<'_> {
        StateRef { params: &self.params, buffers: &self.buffers, counters: &self.counters }
    }

    /// The parameters, buffers and counters, for writing (which drops the packed weights).
    pub fn state_mut(&mut self) -> StateMut<'_> {
        StateMut { params: &mut self.params, buffers: &mut self.buffers, counters: &mut self.counters }
    }
}

/// A copy of the parameters, buffers, counters, seed, step count, frozen parameters and mode, with
/// training memory of its own (empty until it trains).
impl Clone for NetState {
    fn clone(&self) -> Self {
        NetState {
            params: self.params.clone(),
            buffers: self.buffers.clone(),
            counters: self.counters.clone(),
            seed: self.seed,
            step: self.step,
            frozen: self.frozen.clone(),
            training: self.training,
            train: TrainBuffers::new(),
        }
    }
}
