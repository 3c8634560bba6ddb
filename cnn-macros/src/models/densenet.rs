//! `torchvision.models.densenet121` and `densenet169` (any growth rate and block table): dense
//! layers that join their input with what they compute, and transitions that halve the channels
//! and the map, written as torchvision's `densenet.py` is.

/// DenseNet with `blocks` layers per dense block: its blocks, and the items of the network.
pub fn densenet(growth: usize, blocks: [usize; 4], init: usize, n: usize) -> (String, String) {
    let [b1, b2, b3, b4] = blocks;
    let defs = format!(
        "block dense_layer(cin) {{
            _: dense {{
                norm1: batchnorm(cin) relu1: relu conv1: conv(cin, 4 * {growth}, k=1, bias=false)
                norm2: batchnorm(4 * {growth}) relu2: relu conv2: conv(4 * {growth}, {growth}, k=3, p=1, bias=false)
            }}
        }}

        block dense_block(layers, cin) {{
            for i in 0..layers {{ \"denselayer{{i + 1}}\": dense_layer(cin + i * {growth}) }}
        }}

        block transition(cin) {{
            norm: batchnorm(cin) relu: relu conv: conv(cin, cin / 2, k=1, bias=false) pool: avgpool(2, 2)
        }}"
    );
    // The channels after each dense block and transition, as torchvision's loop counts them.
    let c1 = init + b1 * growth;
    let c2 = c1 / 2 + b2 * growth;
    let c3 = c2 / 2 + b3 * growth;
    let c4 = c3 / 2 + b4 * growth;
    let items = format!(
        "features: seq {{
            conv0: conv(3, {init}, k=7, s=2, p=3, bias=false) norm0: batchnorm({init}) relu0: relu
            pool0: maxpool(3, 2, p=1)
            denseblock1: dense_block({b1}, {init}) transition1: transition({c1})
            denseblock2: dense_block({b2}, {c1} / 2) transition2: transition({c2})
            denseblock3: dense_block({b3}, {c2} / 2) transition3: transition({c3})
            denseblock4: dense_block({b4}, {c3} / 2)
            norm5: batchnorm({c4})
        }}
        _: relu _: adaptive_avgpool(1) _: flatten classifier: linear({c4}, {n})"
    );
    (defs, items)
}
