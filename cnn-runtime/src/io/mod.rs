//! Reading and writing: weights as safetensors `state_dict`s, training checkpoints, and data sets
//! with their loader and augmentations.

pub mod checkpoint;
pub mod data;
pub mod weights;
