//! `flatten` (`nn.Flatten()`) and `identity` (`nn.Identity()`): the output is the input's
//! memory, so they cost nothing.

use super::{Cx, Epi, Kind, KindDef, Layer, Steps};
use crate::shape::{self, Inferred, Shape};
use proc_macro2::TokenStream;

pub const FLATTEN: KindDef = KindDef {
    names: &["flatten"],
    keeps_shape: false,
    usage: "flatten",
    params: &[],
    build: |_, _| Box::new(Alias { flatten: true }),
};
pub const IDENTITY: KindDef = KindDef {
    names: &["identity"],
    keeps_shape: true,
    usage: "identity",
    params: &[],
    build: |_, _| Box::new(Alias { flatten: false }),
};

pub struct Alias {
    flatten: bool,
}

impl Alias {
    /// `flatten`, as the graph adds it itself (to join several named outputs).
    pub fn flattening() -> Self {
        Alias { flatten: true }
    }
}

impl Layer for Alias {
    fn kind(&self) -> Kind {
        Kind::Alias
    }
    fn infer(&self, input: Shape) -> Inferred {
        if self.flatten && matches!(input, Shape::Hwc(..)) {
            return Inferred::fail(shape::ShapeError::ChannelsLast { input });
        }
        Inferred::ok(if self.flatten { shape::flatten(input) } else { input })
    }
    fn forward(&self, _cx: &Cx, _epi: &Epi) -> TokenStream {
        TokenStream::new()
    }
    fn train_forward(&self, _cx: &Cx) -> Steps {
        Steps::One(TokenStream::new())
    }
    fn backward(&self, _cx: &Cx, _dx: Option<bool>) -> Steps {
        Steps::One(TokenStream::new())
    }
}
