//! `torchvision.models.alexnet`.

pub fn alexnet(n: usize) -> String {
    format!(
        "features: seq {{
            conv(3, 64, k=11, s=4, p=2) relu maxpool(3, 2)
            conv(64, 192, k=5, p=2) relu maxpool(3, 2)
            conv(192, 384, k=3, p=1) relu
            conv(384, 256, k=3, p=1) relu
            conv(256, 256, k=3, p=1) relu maxpool(3, 2)
        }}
        avgpool: adaptive_avgpool(6) _: flatten
        classifier: seq {{
            dropout(0.5) linear(9216, 4096) relu
            dropout(0.5) linear(4096, 4096) relu
            linear(4096, {n})
        }}"
    )
}
