//! `torchvision.models.regnet_x_400mf` and `regnet_y_400mf`: stages of residual bottleneck
//! blocks named `block{i}-{j}` (string names), Y with squeeze-and-excitation. The stage tables
//! are what torchvision's `BlockParams.from_init_params` computes for these two models.

use super::{conv_bn_act, squeeze_excitation};

/// (width, depth, group width) per stage; the bottleneck multiplier is 1 and every stage's
/// first block has stride 2.
fn regnet(stem: usize, stages: &[(usize, usize, usize)], se_ratio: Option<f64>, n: usize) -> String {
    let mut out = conv_bn_act(Some("stem"), 3, stem, 3, 2, 1, "", Some("relu"));
    out += "trunk_output: seq {\n";
    let mut cin = stem;
    for (i, &(width, depth, group_width)) in stages.iter().enumerate() {
        let stage = i + 1;
        let mut blocks = String::new();
        for j in 0..depth {
            let s = if j == 0 { 2 } else { 1 };
            let groups = width / group_width;
            let mut f = conv_bn_act(Some("a"), cin, width, 1, 1, 1, "", Some("relu"));
            f += &conv_bn_act(Some("b"), width, width, 3, s, groups, "", Some("relu"));
            if let Some(ratio) = se_ratio {
                let squeeze = (ratio * cin as f64).round() as usize;
                f += &squeeze_excitation(Some("se"), width, squeeze, "relu", "sigmoid");
            }
            f += &conv_bn_act(Some("c"), width, width, 1, 1, 1, "", None);
            let proj = if cin != width || s != 1 {
                format!("proj: shortcut {{ conv({cin}, {width}, k=1, s={s}, bias=false) batchnorm({width}) }}")
            } else {
                String::new()
            };
            blocks += &format!(
                "\"block{stage}-{j}\": seq {{ _: residual {{ f: seq {{ {f} }} }} {proj} activation: relu }}\n"
            );
            cin = width;
        }
        out += &format!("block{stage}: seq {{ {blocks} }}\n");
    }
    out += "}\n";
    out + &format!("avgpool: adaptive_avgpool(1) _: flatten fc: linear({cin}, {n})")
}

pub fn regnet_x_400mf(n: usize) -> String {
    regnet(32, &[(32, 1, 16), (64, 2, 16), (160, 7, 16), (400, 12, 16)], None, n)
}

pub fn regnet_y_400mf(n: usize) -> String {
    regnet(32, &[(48, 1, 8), (104, 3, 8), (208, 6, 8), (440, 6, 8)], Some(0.25), n)
}
