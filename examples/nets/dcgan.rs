// The networks of pytorch/examples' `dcgan` (`main.py`'s `Generator` and `Discriminator`) for
// 32x32 pictures of one channel, shared by `examples/dcgan.rs` and its PyTorch-parity test
// (`tests/examples_parity.rs`).

cnn::cnn! {
    /// The example's generator with `nz = 100`, `ngf = 64`, `nc = 1`, one stride-2 layer fewer
    /// for 32x32 pictures (the example's last layer maps 32x32 to 64x64): a latent vector
    /// `[100, 1, 1]` up through transposed convolutions, batch norm and ReLU to a `tanh`
    /// picture. The same `state_dict` keys as the example's `netG` (`main.0.weight`, ...).
    pub struct Generator {
        input(100, 1, 1)
        main: seq {
            0: conv_transpose(100, 256, k=4, s=1, p=0, bias=false)
            1: batchnorm(256)
            2: relu
            3: conv_transpose(256, 128, k=4, s=2, p=1, bias=false)
            4: batchnorm(128)
            5: relu
            6: conv_transpose(128, 64, k=4, s=2, p=1, bias=false)
            7: batchnorm(64)
            8: relu
            9: conv_transpose(64, 1, k=4, s=2, p=1, bias=false)
            10: tanh
        }
    }
}

cnn::cnn! {
    /// The example's discriminator with `ndf = 64`, `nc = 1` for 32x32 pictures: strided
    /// convolutions, batch norm and LeakyReLU(0.2) down to one probability (`sigmoid`).
    pub struct Discriminator {
        input(1, 32, 32)
        main: seq {
            0: conv(1, 64, k=4, s=2, p=1, bias=false)
            1: leaky_relu(0.2)
            2: conv(64, 128, k=4, s=2, p=1, bias=false)
            3: batchnorm(128)
            4: leaky_relu(0.2)
            5: conv(128, 256, k=4, s=2, p=1, bias=false)
            6: batchnorm(256)
            7: leaky_relu(0.2)
            8: conv(256, 1, k=4, s=1, p=0, bias=false)
            9: sigmoid
        }
    }
}

/// The latent size, the example's `nz`.
pub const NZ: usize = 100;

/// Loss and the gradient of [`cnn::loss::bce`] of every probability against one label
/// (`real_label` 1 or `fake_label` 0), into `grad`; also the mean probability (`D(x)`,
/// `D(G(z))` as the example prints them).
pub fn bce_against(probabilities: &[[f32; 1]], label: f32, grad: &mut [[f32; 1]]) -> (f32, f32) {
    let p = probabilities.as_flattened();
    let targets = vec![label; p.len()];
    let loss = cnn::loss::bce(p, &targets, grad.as_flattened_mut()).expect("a sigmoid's outputs are probabilities");
    (loss, p.iter().sum::<f32>() / p.len().max(1) as f32)
}

/// One iteration of the example's training loop: (1) the discriminator's step on a real and a
/// fake batch (gradients added up over the two passes, as two `backward()` calls before
/// `optimizerD.step()`); (2) the generator's step through the discriminator, frozen meanwhile
/// (its gradients would be thrown away by the next `zero_grad()` anyway). Returns `errD`, `errG`,
/// `D(x)`, `D(G(z))` before and after the discriminator's step, as the example prints them.
pub fn train_iteration(
    g: &mut Generator,
    d: &mut Discriminator,
    (opt_g, opt_d): (&mut cnn::prelude::Adam, &mut cnn::prelude::Adam),
    real: &[[f32; 1024]],
    noise: &[[f32; NZ]],
) -> [f32; 5] {
    use cnn::prelude::*;
    let n = real.len();
    let (mut grads_d, mut grads_g) = (DiscriminatorGrads::new(), GeneratorGrads::new());
    let mut dy = vec![[0.0f32; 1]; n];
    // (1) Update D: maximize log(D(x)) + log(1 - D(G(z))).
    let out = d.forward_train(real);
    let (err_real, d_x) = bce_against(out, 1.0, &mut dy);
    d.backward(&dy, &mut grads_d);
    let fake = g.forward_train(noise);
    let out = d.forward_train(fake);
    let (err_fake, d_g_z1) = bce_against(out, 0.0, &mut dy);
    d.backward_accumulate(&dy, &mut grads_d);
    d.apply_gradients(opt_d, &grads_d);
    // (2) Update G: maximize log(D(G(z))).
    d.requires_grad_(false);
    let out = d.forward_train(fake);
    let (err_g, d_g_z2) = bce_against(out, 1.0, &mut dy);
    let mut grad_fake = vec![[0.0f32; 1024]; n];
    d.backward_to_input(&dy, &mut grads_d, &mut grad_fake);
    d.requires_grad_(true);
    g.backward(&grad_fake, &mut grads_g);
    g.apply_gradients(opt_g, &grads_g);
    [err_real + err_fake, err_g, d_x, d_g_z1, d_g_z2]
}
