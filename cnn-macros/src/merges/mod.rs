//! The nodes the blocks join their branches with, which users never write as items: the sum of
//! `residual` and `sum`, the concatenation of `cat`, `dense` and `split`, the product of `gate`
//! and `mul`, and `split`'s channel slices. Each is a [`crate::layers::Layer`] like a layer
//! kind, reading several inputs, but has no `KindDef`: the block that makes it is its syntax.

pub mod add;
pub mod concat;
pub mod mul;
pub mod slice;
pub mod sub;
