//! `torchvision.models.squeezenet1_1`: Fire modules (a squeeze, then two expands joined along
//! the channels).

fn fire(cin: usize, squeeze: usize, e1: usize, e3: usize) -> String {
    format!(
        "seq {{
            squeeze: conv({cin}, {squeeze}, k=1) squeeze_activation: relu
            _: cat {{
                _: seq {{ expand1x1: conv({squeeze}, {e1}, k=1) expand1x1_activation: relu }}
                _: seq {{ expand3x3: conv({squeeze}, {e3}, k=3, p=1) expand3x3_activation: relu }}
            }}
        }}\n"
    )
}

pub fn squeezenet1_1(n: usize) -> String {
    let pool = "maxpool(3, 2, ceil_mode=true)\n";
    let features = [
        "conv(3, 64, k=3, s=2) relu\n".to_string(),
        pool.to_string(),
        fire(64, 16, 64, 64),
        fire(128, 16, 64, 64),
        pool.to_string(),
        fire(128, 32, 128, 128),
        fire(256, 32, 128, 128),
        pool.to_string(),
        fire(256, 48, 192, 192),
        fire(384, 48, 192, 192),
        fire(384, 64, 256, 256),
        fire(512, 64, 256, 256),
    ]
    .concat();
    format!(
        "features: seq {{ {features} }}
         classifier: seq {{ dropout(0.5) conv(512, {n}, k=1) relu adaptive_avgpool(1) }}
         _: flatten"
    )
}
