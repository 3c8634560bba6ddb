//! timm's CNNs as `tools/torch2cnn.py` converts them (sources in `tests/timm/`, written and
//! compared with the converter's output by `tools/test_torch2cnn.py --timm`; fixtures from
//! `--write-timm`): each compiles, has timm's `state_dict` keys, shapes and parameter count,
//! and with every tensor a function of its name on both sides gives timm's eval-mode logits
//! within PyTorch's own float32 distance from its float64 run (3x it, never under 1e-5
//! relative), at 3x32x32. What each brings: MobileNetV3's `BatchNormAct2d` and head, RexNet's
//! partial residuals (`let`/`from` with `narrow`), GhostNet's channel slices, ConvNeXt's `[C]`
//! layer scale (`scale(..., flat=true)`).

mod common;

use cnn::Network;
use common::{assert_within, Fixture};

macro_rules! timm {
    ($($test:ident: $file:literal, $module:ident::$net:ident;)*) => {$(
        #[path = $file]
        mod $module;
        use $module::$net;

        #[test]
        fn $test() {
            let name = stringify!($module);
            let f = Fixture::open(&format!("timm/{name}.safetensors"));
            let mut want: Vec<String> = f.text("keys").lines().map(str::to_string).collect();
            want.sort();
            assert_eq!(state_dict_text!($net), want, "{name}: state_dict keys and shapes");
            assert_eq!($net::PARAM_COUNT as i64, f.i64("param_count")[0], "{name}: parameter count");

            let mut net = $net::new(0);
            fill_seeded!(net);
            let xs: Vec<[f32; $net::INPUT_LEN]> =
                f.f32("input").1.chunks_exact($net::INPUT_LEN).map(|c| c.try_into().unwrap()).collect();
            let ys = net.forward_batch(&xs);
            let (want, want32) = (f.f32("output").1, f.f32("output32").1);
            let bound = (3.0 * common::relative_error(&want32, &want)).max(1e-5);
            assert_within(name, ys.as_flattened(), &want, bound);
            assert_eq!(net.forward(&xs[1])[..], ys[1][..], "{name}: one sample alone");
        }
    )*};
}

timm! {
    mobilenetv3_small_050_matches_timm: "timm/mobilenetv3_small_050.rs", mobilenetv3_small_050::Mobilenetv3Small050;
    rexnet_100_matches_timm: "timm/rexnet_100.rs", rexnet_100::Rexnet100;
    ghostnet_050_matches_timm: "timm/ghostnet_050.rs", ghostnet_050::Ghostnet050;
    convnext_atto_matches_timm: "timm/convnext_atto.rs", convnext_atto::ConvnextAtto;
}
