//! `torchvision.models.squeezenet1_1`, written as torchvision's `squeezenet.py` is: the `Fire`
//! module once (a squeeze, then two expands joined along the channels), the features a use per
//! row.

/// SqueezeNet 1.1: its blocks, and the items of the network.
pub fn squeezenet1_1(n: usize) -> (String, String) {
    let blocks = "
        /// `Fire`: squeeze to `squeeze` channels, expand by 1x1 and 3x3 convolutions side by side.
        block fire(cin, squeeze, e1, e3) {
            squeeze: conv(cin, squeeze, k=1) squeeze_activation: relu
            _: cat {
                _: seq { expand1x1: conv(squeeze, e1, k=1) expand1x1_activation: relu }
                _: seq { expand3x3: conv(squeeze, e3, k=3, p=1) expand3x3_activation: relu }
            }
        }"
    .to_string();
    let items = format!(
        "features: seq {{
            conv(3, 64, k=3, s=2) relu maxpool(3, 2, ceil_mode=true)
            fire(64, 16, 64, 64) fire(128, 16, 64, 64) maxpool(3, 2, ceil_mode=true)
            fire(128, 32, 128, 128) fire(256, 32, 128, 128) maxpool(3, 2, ceil_mode=true)
            fire(256, 48, 192, 192) fire(384, 48, 192, 192) fire(384, 64, 256, 256) fire(512, 64, 256, 256)
        }}
        classifier: seq {{ dropout(0.5) conv(512, {n}, k=1) relu adaptive_avgpool(1) }}
        _: flatten"
    );
    (blocks, items)
}
