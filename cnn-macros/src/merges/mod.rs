//! The nodes the blocks join their branches with, which users never write as items: the sum of
//! `residual` and `sum`, the concatenation of `cat`, `dense` and `split`, the product of `gate`
//! and `mul`, and `split`'s channel slices. Each is a [`crate::layers::Layer`] like a layer
//! kind, reading several inputs, but has no `KindDef`: the block that makes it is its syntax.

pub mod add;
pub mod concat;
pub mod mul;
pub mod slice;
pub mod sub;

use crate::shape::{Inferred, Shape, ShapeError};

/// The output of a merge whose inputs must all have the first's shape (a sum, a difference),
/// and a join error for each that does not; `how` words the rule ("a sum needs one shape").
pub fn same_shape(inputs: &[Shape], how: &'static str) -> Inferred {
    let first = inputs[0];
    let errors: Vec<ShapeError> = inputs
        .iter()
        .enumerate()
        .filter(|&(_, &s)| s != first)
        .map(|(branch, &this)| ShapeError::Join { branch, first, this, how })
        .collect();
    Inferred { output: Some(first), errors }
}
