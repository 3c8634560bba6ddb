use cnn::cnn;

// Two tensors under one full `state_dict` key: a parameter beside another layer's parameter, a
// buffer, a counter, through a blank `seq` and inside a block. Each is one error, on the second
// item's name.
cnn! {
    block pair(c) {
        proj: conv(c, c, k=1, bias=false)
        proj.weight: scale(c)
    }

    struct Net {
        input(4, 8, 8)
        x: conv(4, 4, k=1, bias=false)
        x.weight: scale(4)
        bn: batchnorm(4)
        bn.running_mean: scale(4)
        bn.num_batches_tracked: scale(4)
        _: seq { bn.bias: scale(4) }
        p: pair(4)
    }
}

fn main() {}
