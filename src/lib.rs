pub use cnn_macros::cnn;
