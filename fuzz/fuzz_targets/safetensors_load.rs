//! Any bytes given to `load_safetensors_bytes` give `Ok` or an error, never a panic, and a
//! failed load leaves the network as it was.
#![no_main]

use cnn::nets::LeNet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut net = LeNet::new(0);
    let before = net.to_safetensors_bytes();
    if net.load_safetensors_bytes(data).is_err() {
        assert!(net.to_safetensors_bytes() == before, "a failed load changed the network");
    }
});
