//! `stochastic_depth(p, mode=row)` (`torchvision.ops.StochasticDepth(p, mode)`): the identity in
//! eval mode; in train mode each sample's value (`row`) or the batch's (`batch`) is dropped with
//! probability `p` and the survivors scaled by `1 / (1 - p)`, with draws from the dropout
//! generator (seed, step, layer, sample): dropout's layer with whole samples as its units.

use super::dropout::{Dropout, Mask};
use super::KindDef;
use crate::args::{def, ArgKind, Args, Default};

pub const STOCHASTIC_DEPTH: KindDef = KindDef {
    keeps_shape: true,
    names: &["stochastic_depth"],
    usage: "stochastic_depth(p, mode=row), as in `stochastic_depth(0.1, mode=row)`",
    params: &[
        def("p", None, ArgKind::Float { min: 0.0, max: 1.0 }, Default::Required),
        def("mode", None, ArgKind::Word(&["row", "batch"]), Default::Word("row")),
    ],
    build: |_, a: &Args| {
        let mask = if a["mode"].word() == "batch" { Mask::Batch } else { Mask::Rows };
        Box::new(Dropout { p: a["p"].float(), mask })
    },
};
