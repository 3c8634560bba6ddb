//! A contiguous range of channels: the chunk of `split { ... }` a branch reads (`x.chunk(n,
//! dim=1)[i]`). Not a module of its own.

use crate::layers::{lit, Cx, Epi, Layer, Steps};
use crate::shape::{Inferred, Shape};
use proc_macro2::TokenStream;
use quote::quote;

/// Channels `from..from + len`.
pub struct Slice {
    pub from: usize,
    pub len: usize,
}

impl Slice {
    fn copy_out(&self, cx: &Cx) -> TokenStream {
        let plane = cx.input().plane();
        let (n, src, dst) = (cx.n(), cx.src(), cx.dst());
        let (total, at, len) = (lit(cx.input().len()), lit(self.from * plane), lit(self.len * plane));
        quote!(::cnn::__private::copy_block(#n, #src, (#total, #at), #dst, (#len, 0), #len, false);)
    }
}

impl Layer for Slice {
    fn saves(&self) -> (bool, bool) {
        (false, false)
    }
    fn infer(&self, input: Shape) -> Inferred {
        Inferred::ok(input.with_channels(self.len))
    }
    fn forward(&self, cx: &Cx, _epi: &Epi) -> TokenStream {
        self.copy_out(cx)
    }
    fn backward(&self, cx: &Cx, dx: Option<bool>) -> Steps {
        let Some(acc) = dx else { return Steps::One(TokenStream::new()) };
        let plane = cx.input().plane();
        let (n, dy, dxs) = (cx.n(), cx.dy(), cx.dx());
        let (total, at, len) = (lit(cx.input().len()), lit(self.from * plane), lit(self.len * plane));
        // The first gradient to reach the input writes all of it: zeros outside the chunk.
        let clear = (!acc).then(|| quote!(#dxs.fill(0.0);));
        Steps::One(quote! {
            #clear
            ::cnn::__private::copy_block(#n, #dy, (#len, 0), #dxs, (#total, #at), #len, true);
        })
    }
}
