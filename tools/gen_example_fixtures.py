"""The first training steps of three of pytorch/examples' programs, for tests/examples_parity.rs.

`dcgan`, `super_resolution` and `fast_neural_style`, their networks and training loops written as
those examples write them (the DCGAN for 32x32 pictures of one channel, as examples/dcgan.rs
ports it; the style network on 64x64 pictures with VGG-16's `features` up to relu4_3), every
parameter and buffer seeded from its name (`fill_seeded`, as the Rust test fills its networks),
run in float64 and in float32 on the same batches. The fixture keeps the batches, the float64
run's losses, and per loss the farthest any of PyTorch's float32 runs is from them (four runs:
1, 2 and 4 threads, and 2 threads without oneDNN, whose convolution algorithms differ: the
spread of float32 sums in other orders), so the test compares with float64 and allows what
float32 itself is off by.

    python3 tools/gen_example_fixtures.py     # writes tests/fixtures/examples_parity.safetensors
"""

import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_layer_fixtures import fill_seeded  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "examples_parity.safetensors"


# --- super_resolution (pytorch/examples/super_resolution/model.py) ---------------------------


class SuperResolutionNet(nn.Module):
    def __init__(self, upscale_factor):
        super().__init__()
        self.relu = nn.ReLU()
        self.conv1 = nn.Conv2d(1, 64, (5, 5), (1, 1), (2, 2))
        self.conv2 = nn.Conv2d(64, 64, (3, 3), (1, 1), (1, 1))
        self.conv3 = nn.Conv2d(64, 32, (3, 3), (1, 1), (1, 1))
        self.conv4 = nn.Conv2d(32, upscale_factor**2, (3, 3), (1, 1), (1, 1))
        self.pixel_shuffle = nn.PixelShuffle(upscale_factor)

    def forward(self, x):
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        x = self.relu(self.conv3(x))
        return self.pixel_shuffle(self.conv4(x))


def super_resolution(dtype, x, y, steps):
    model = fill_seeded(SuperResolutionNet(4)).to(dtype)
    criterion = nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = criterion(model(x.to(dtype)), y.to(dtype))
        losses.append(loss.item())
        loss.backward()
        optimizer.step()
    return losses


# --- dcgan (pytorch/examples/dcgan/main.py, one stride-2 layer fewer for 32x32) -------------


class Generator(nn.Module):
    def __init__(self, nz=100, ngf=64, nc=1):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, x):
        return self.main(x)


class Discriminator(nn.Module):
    def __init__(self, ndf=64, nc=1):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, 1, 4, 1, 0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.main(x).view(-1, 1).squeeze(1)


def dcgan(dtype, reals, noises):
    net_g, net_d = fill_seeded(Generator()).to(dtype), fill_seeded(Discriminator()).to(dtype)
    criterion = nn.BCELoss()
    opt_d = torch.optim.Adam(net_d.parameters(), lr=0.0002, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(net_g.parameters(), lr=0.0002, betas=(0.5, 0.999))
    rows = []
    for real, noise in zip(reals, noises):
        real, noise = real.to(dtype), noise.to(dtype)
        n = real.shape[0]
        # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
        net_d.zero_grad()
        label = torch.full((n,), 1.0, dtype=dtype)
        output = net_d(real)
        err_d_real = criterion(output, label)
        err_d_real.backward()
        d_x = output.mean().item()
        fake = net_g(noise)
        label.fill_(0.0)
        output = net_d(fake.detach())
        err_d_fake = criterion(output, label)
        err_d_fake.backward()
        d_g_z1 = output.mean().item()
        err_d = err_d_real + err_d_fake
        opt_d.step()
        # (2) Update G network: maximize log(D(G(z)))
        net_g.zero_grad()
        label.fill_(1.0)
        output = net_d(fake)
        err_g = criterion(output, label)
        err_g.backward()
        d_g_z2 = output.mean().item()
        opt_g.step()
        rows.append([err_d.item(), err_g.item(), d_x, d_g_z1, d_g_z2])
    return rows


# --- fast_neural_style (pytorch/examples/fast_neural_style/neural_style) ---------------------


class ConvLayer(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride):
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        return self.conv2d(self.reflection_pad(x))


class ResidualBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)
        self.relu = nn.ReLU()

    def forward(self, x):
        residual = x
        out = self.relu(self.in1(self.conv1(x)))
        out = self.in2(self.conv2(out))
        return out + residual


class UpsampleConvLayer(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, upsample=None):
        super().__init__()
        self.upsample = upsample
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        if self.upsample:
            x = F.interpolate(x, mode="nearest", scale_factor=self.upsample)
        return self.conv2d(self.reflection_pad(x))


class TransformerNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = ConvLayer(3, 32, kernel_size=9, stride=1)
        self.in1 = nn.InstanceNorm2d(32, affine=True)
        self.conv2 = ConvLayer(32, 64, kernel_size=3, stride=2)
        self.in2 = nn.InstanceNorm2d(64, affine=True)
        self.conv3 = ConvLayer(64, 128, kernel_size=3, stride=2)
        self.in3 = nn.InstanceNorm2d(128, affine=True)
        self.res1 = ResidualBlock(128)
        self.res2 = ResidualBlock(128)
        self.res3 = ResidualBlock(128)
        self.res4 = ResidualBlock(128)
        self.res5 = ResidualBlock(128)
        self.deconv1 = UpsampleConvLayer(128, 64, kernel_size=3, stride=1, upsample=2)
        self.in4 = nn.InstanceNorm2d(64, affine=True)
        self.deconv2 = UpsampleConvLayer(64, 32, kernel_size=3, stride=1, upsample=2)
        self.in5 = nn.InstanceNorm2d(32, affine=True)
        self.deconv3 = ConvLayer(32, 3, kernel_size=9, stride=1)
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.relu(self.in1(self.conv1(x)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        y = self.res5(self.res4(self.res3(self.res2(self.res1(y)))))
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


class Vgg16(nn.Module):
    """The example's `Vgg16`, its slices keeping torchvision's `features.N` names."""

    def __init__(self):
        super().__init__()
        self.features = torchvision.models.vgg16(weights=None).features[:23]
        for p in self.parameters():
            p.requires_grad = False

    def forward(self, x):
        taps = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in (3, 8, 15, 22):
                taps.append(x)
        return taps


def gram_matrix(y):
    (b, ch, h, w) = y.size()
    features = y.view(b, ch, w * h)
    features_t = features.transpose(1, 2)
    return features.bmm(features_t) / (ch * h * w)


def normalize_batch(batch):
    mean = batch.new_tensor([0.485, 0.456, 0.406]).view(-1, 1, 1)
    std = batch.new_tensor([0.229, 0.224, 0.225]).view(-1, 1, 1)
    batch = batch.div(255.0)
    return (batch - mean) / std


def fast_neural_style(dtype, style, batches, content_weight=1e5, style_weight=1e10):
    transformer = fill_seeded(TransformerNet()).to(dtype)
    vgg = fill_seeded(Vgg16()).to(dtype)
    optimizer = torch.optim.Adam(transformer.parameters(), 1e-3)
    mse_loss = torch.nn.MSELoss()
    features_style = vgg(normalize_batch(style.to(dtype).unsqueeze(0)))
    gram_style = [gram_matrix(y) for y in features_style]
    rows = []
    for x in batches:
        x = x.to(dtype)
        n_batch = len(x)
        optimizer.zero_grad()
        y = transformer(x)
        y = normalize_batch(y)
        x = normalize_batch(x)
        features_y = vgg(y)
        features_x = vgg(x)
        content_loss = content_weight * mse_loss(features_y[1], features_x[1])
        style_loss = 0.0
        for ft_y, gm_s in zip(features_y, gram_style):
            gm_y = gram_matrix(ft_y)
            style_loss += mse_loss(gm_y, gm_s.expand(n_batch, -1, -1))
        style_loss *= style_weight
        total_loss = content_loss + style_loss
        total_loss.backward()
        optimizer.step()
        rows.append([content_loss.item(), style_loss.item()])
    return rows


def float32_spread(run, want64):
    """The largest distance from `want64` of `run()`'s float32 results over several thread counts
    and convolution back ends, entry by entry."""
    worst = torch.zeros_like(want64)
    threads = torch.get_num_threads()
    for n, onednn in [(1, True), (2, True), (4, True), (2, False)]:
        torch.set_num_threads(n)
        with torch.backends.mkldnn.flags(enabled=onednn):
            got = torch.tensor(run(), dtype=torch.float64)
        worst = torch.maximum(worst, (got - want64).abs())
    torch.set_num_threads(threads)
    return worst


def main():
    torch.manual_seed(0)
    out = {}
    # Super-resolution: 4 pictures, three steps on the same batch.
    sr_x, sr_y = torch.rand(4, 1, 8, 8), torch.rand(4, 1, 32, 32)
    out["sr.x"], out["sr.y"] = sr_x, sr_y
    out["sr.loss64"] = torch.tensor(super_resolution(torch.float64, sr_x, sr_y, 3), dtype=torch.float64)
    out["sr.loss32"] = float32_spread(lambda: super_resolution(torch.float32, sr_x, sr_y, 3), out["sr.loss64"])
    # DCGAN: two iterations of 4 real pictures in [-1, 1] and 4 latent vectors.
    reals, noises = torch.rand(2, 4, 1, 32, 32) * 2 - 1, torch.randn(2, 4, 100, 1, 1)
    out["dcgan.real"], out["dcgan.noise"] = reals, noises
    out["dcgan.rows64"] = torch.tensor(dcgan(torch.float64, reals, noises), dtype=torch.float64)
    out["dcgan.rows32"] = float32_spread(lambda: dcgan(torch.float32, reals, noises), out["dcgan.rows64"])
    # Fast neural style: a style picture and two steps of 2 content pictures, 0..255.
    style, batches = torch.rand(3, 64, 64) * 255, torch.rand(2, 2, 3, 64, 64) * 255
    out["style.style"], out["style.content"] = style, batches
    out["style.rows64"] = torch.tensor(fast_neural_style(torch.float64, style, batches), dtype=torch.float64)
    out["style.rows32"] = float32_spread(
        lambda: fast_neural_style(torch.float32, style, batches), out["style.rows64"]
    )
    for k in sorted(k for k in out if "loss" in k or "rows" in k):
        print(k, out[k].tolist())
    save_file({k: v.contiguous() for k, v in out.items()}, OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
