//! timm's CNNs as `tools/torch2cnn.py` converts them (sources in `tests/timm/`, written and
//! compared with the converter's output by `tools/test_torch2cnn.py --timm`; fixtures from
//! `--write-timm`): each compiles, has timm's `state_dict` keys, shapes and parameter count,
//! and with every tensor a function of its name on both sides gives timm's eval-mode logits
//! within PyTorch's own float32 distance from its float64 run (3x it, never under 1e-5
//! relative), at 3x32x32. What each brings: MobileNetV3's `BatchNormAct2d` and head, RexNet's
//! partial residuals (`let`/`from` with `narrow`), GhostNet's channel slices, ConvNeXt's `[C]`
//! layer scale (`scale(..., flat=true)`), ECA-NFNet's weight standardisation (`conv(..., ws=true)`)
//! with ECA's `conv1d` between `view`s, PoolFormer's `pool(x) - x` (`sub`) and traced layer-scale modules.

mod common;

use cnn::Network;

macro_rules! timm {
    ($($test:ident: $file:literal, $module:ident::$net:ident;)*) => {$(
        #[path = $file]
        mod $module;
        use $module::$net;

        #[test]
        fn $test() {
            let name = stringify!($module);
            seeded_parity!($net, name, &format!("timm/{name}.safetensors"), |err32: f32| (3.0 * err32).max(1e-5));
        }
    )*};
}

timm! {
    mobilenetv3_small_050_matches_timm: "timm/mobilenetv3_small_050.rs", mobilenetv3_small_050::Mobilenetv3Small050;
    rexnet_100_matches_timm: "timm/rexnet_100.rs", rexnet_100::Rexnet100;
    ghostnet_050_matches_timm: "timm/ghostnet_050.rs", ghostnet_050::Ghostnet050;
    convnext_atto_matches_timm: "timm/convnext_atto.rs", convnext_atto::ConvnextAtto;
    eca_nfnet_l0_matches_timm: "timm/eca_nfnet_l0.rs", eca_nfnet_l0::EcaNfnetL0;
    poolformer_s12_matches_timm: "timm/poolformer_s12.rs", poolformer_s12::PoolformerS12;
}
