//! Training: the memory and schedule of a step, losses, optimizers, learning-rate schedules and
//! evaluation metrics.

pub mod exchange;
pub(crate) mod frozen;
pub mod loss;
pub mod lr;
mod mean_average_precision;
pub mod metrics;
pub mod optim;
pub(crate) mod step;
