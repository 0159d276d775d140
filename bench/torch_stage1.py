"""
One Stage I training step of the `full` config (complex generator and discriminator) in plain
PyTorch, on synthetic data: a reference for bench/stage1.ts's images/s on the same network, doing
the same work per step. Nothing here is a test.
  python3 bench/torch_stage1.py [--ngf 128] [--ndf 64] [--batch 64] [--steps 10] [--warmup 3] [--threads N] [--tf32] [--json]

Mirrors packages/stage1/src/model.ts, packages/stage1/src/losses.ts and the step of
packages/core/src/runtime/gan.ts: fakes drawn without gradient; a discriminator update on real,
wrong and fake images; a generator update whose pass records the generator's batch-norm
statistics; Adam for each; the losses read back every step.
"""

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

FULL = json.loads((Path(__file__).resolve().parent.parent / 'packages' / 'stage1' / 'configs' / 'full.json').read_text())
# bench/stage1.ts's TEXT_DIM.
TEXT_DIM = 256


def conv2d(cin: int, cout: int, kernel: int, stride: int = 1, same: bool = True) -> nn.Conv2d:
    # TensorFlow's 'same' pads every conv used here (1x1, 3x3 stride 1, 4x4 stride 2 on even sizes)
    # by (kernel - 1) // 2 on each side. No bias: batch norm follows, as in ours.
    conv = nn.Conv2d(cin, cout, kernel, stride, padding=(kernel - 1) // 2 if same else 0, bias=False)
    nn.init.trunc_normal_(conv.weight, std=0.02, a=-0.04, b=0.04)
    return conv


def dense(inputs: int, outputs: int) -> nn.Linear:
    fc = nn.Linear(inputs, outputs)
    nn.init.normal_(fc.weight, std=0.02)
    nn.init.zeros_(fc.bias)
    return fc


def leaky_relu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode='nearest')


class BatchNorm(nn.Module):
    """
    Always batch statistics (a training step never uses the moving averages). Ours folds a pass's
    statistics into the moving averages (momentum 0.9) only when that pass records them: the
    generator's pass of its own update, nothing else. PyTorch keeps the unbiased variance where
    ours keeps the biased one; only inference would see the difference.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.empty(channels).normal_(1, 0.02))
        self.beta = nn.Parameter(torch.zeros(channels))
        self.register_buffer('moving_mean', torch.zeros(channels))
        self.register_buffer('moving_variance', torch.ones(channels))

    def forward(self, x: torch.Tensor, record: bool = False) -> torch.Tensor:
        if record:
            return F.batch_norm(x, self.moving_mean, self.moving_variance, self.gamma, self.beta, training=True, momentum=0.1, eps=1e-5)
        return F.batch_norm(x, None, None, self.gamma, self.beta, training=True, eps=1e-5)


class ConvBn(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1):
        super().__init__()
        self.conv = conv2d(cin, cout, kernel, stride)
        self.bn = BatchNorm(cout)

    def forward(self, x: torch.Tensor, record: bool = False) -> torch.Tensor:
        return self.bn(self.conv(x), record)


class Bottleneck(nn.Module):
    def __init__(self, channels: int, act):
        super().__init__()
        inner = max(1, channels // 4)
        self.a = ConvBn(channels, inner, 1)
        self.b = ConvBn(inner, inner, 3)
        self.c = ConvBn(inner, channels, 3)
        self.act = act

    def forward(self, x: torch.Tensor, record: bool = False) -> torch.Tensor:
        return x + self.c(self.act(self.b(self.act(self.a(x, record)), record)), record)


class ConditioningAugmentation(nn.Module):
    def __init__(self, text_dim: int, condition_dim: int):
        super().__init__()
        self.condition_dim = condition_dim
        self.fc = dense(text_dim, condition_dim * 2)

    def forward(self, text: torch.Tensor, eps: torch.Tensor):
        mu, log_sigma = leaky_relu(self.fc(text)).split(self.condition_dim, 1)
        return mu + log_sigma.exp() * eps, mu, log_sigma


class Generator(nn.Module):
    def __init__(self, ngf: int, z_dim: int, condition_dim: int, text_dim: int):
        super().__init__()
        self.ngf = ngf
        self.ca = ConditioningAugmentation(text_dim, condition_dim)
        self.fc = dense(condition_dim + z_dim, 4 * 4 * ngf * 8)
        self.fc_bn = BatchNorm(4 * 4 * ngf * 8)
        self.res4 = Bottleneck(ngf * 8, F.relu)
        self.up8 = ConvBn(ngf * 8, ngf * 4, 3)
        self.res8 = Bottleneck(ngf * 4, F.relu)
        self.up16 = ConvBn(ngf * 4, ngf * 2, 3)
        self.up32 = ConvBn(ngf * 2, ngf, 3)
        self.to_rgb = conv2d(ngf, 3, 3)

    def generate(self, c: torch.Tensor, z: torch.Tensor, record: bool) -> torch.Tensor:
        # Ours reshapes the FC's features to NHWC, this to NCHW: the same network up to a fixed
        # permutation of the FC's outputs.
        h4 = self.fc_bn(self.fc(torch.cat([c, z], 1)), record).view(-1, self.ngf * 8, 4, 4)
        r4 = F.relu(self.res4(h4, record))
        h8 = self.up8(upsample2x(r4), record)
        r8 = F.relu(self.res8(h8, record))
        h16 = F.relu(self.up16(upsample2x(r8), record))
        h32 = F.relu(self.up32(upsample2x(h16), record))
        return torch.tanh(self.to_rgb(upsample2x(h32)))


class Discriminator(nn.Module):
    def __init__(self, ndf: int, condition_dim: int, text_dim: int):
        super().__init__()
        self.down1 = conv2d(3, ndf, 4, 2)
        self.down2 = ConvBn(ndf, ndf * 2, 4, 2)
        self.down3 = ConvBn(ndf * 2, ndf * 4, 4, 2)
        self.down4 = ConvBn(ndf * 4, ndf * 8, 4, 2)
        self.res4 = Bottleneck(ndf * 8, leaky_relu)
        self.text = dense(text_dim, condition_dim)
        self.joint = ConvBn(ndf * 8 + condition_dim, ndf * 8, 1)
        self.logit = conv2d(ndf * 8, 1, 4, 4, same=False)

    def forward(self, images: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        h = leaky_relu(self.down1(images))
        h = leaky_relu(self.down2(h))
        h = self.down4(self.down3(h))
        h = leaky_relu(self.res4(h))
        n, _, height, width = h.shape
        code = leaky_relu(self.text(text)).view(n, -1, 1, 1).expand(-1, -1, height, width)
        joint = leaky_relu(self.joint(torch.cat([h, code], 1)))
        return self.logit(joint).view(n)


def parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def kl_loss(mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    return (-log_sigma + 0.5 * (torch.exp(2 * log_sigma) + mu.square() - 1)).mean()


def bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def fakes(G: Generator, text: torch.Tensor, record: bool):
    n = text.shape[0]
    c, mu, log_sigma = G.ca(text, torch.randn(n, FULL['conditionDim'], device=text.device))
    return G.generate(c, torch.randn(n, FULL['zDim'], device=text.device), record), mu, log_sigma


def train_step(G: Generator, D: Discriminator, g_opt, d_opt, real, wrong, text) -> None:
    with torch.no_grad():
        fake, _, _ = fakes(G, text, record=False)
    # Three calls in training mode normalise each batch with its own statistics, as ours does in
    # one pass over the three stacked.
    d_opt.zero_grad(set_to_none=True)
    d_loss = bce(D(real, text), 1) + (bce(D(wrong, text), 0) + bce(D(fake, text), 0)) / 2
    d_loss.backward()
    d_opt.step()

    # Ours differentiates the generator's loss with respect to the generator's variables only, so
    # no gradients of the discriminator's weights are computed there: nor here.
    D.requires_grad_(False)
    g_opt.zero_grad(set_to_none=True)
    fake, mu, log_sigma = fakes(G, text, record=True)
    g_loss = bce(D(fake, text), 1) + FULL['klWeight'] * kl_loss(mu, log_sigma)
    g_loss.backward()
    D.requires_grad_(True)
    g_opt.step()

    # Ours reads the losses back and checks them every step: a synchronisation each step.
    losses = torch.stack([d_loss.detach(), g_loss.detach()]).tolist()
    if not all(math.isfinite(v) for v in losses):
        raise RuntimeError(f'training diverged: d_loss, g_loss = {losses}')


def conv_gflops(device: torch.device, batch: int = 16, side: int = 32, channels: int = 128, repeats: int = 5) -> float:
    """GFLOP/s of a 3x3 'same' convolution's forward pass, best of `repeats` (bench/flops.ts measures ours alike)."""
    x = torch.randn(batch, channels, side, side, device=device)
    conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False).to(device)
    best = float('inf')
    with torch.no_grad():
        for _ in range(repeats + 1):
            if device.type == 'cuda':
                torch.cuda.synchronize(device)
            started = time.perf_counter()
            conv(x)
            if device.type == 'cuda':
                torch.cuda.synchronize(device)
            best = min(best, time.perf_counter() - started)
    return 2 * batch * side * side * channels * channels * 9 / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--ngf', type=int, default=FULL['ngf'])
    parser.add_argument('--ndf', type=int, default=FULL['ndf'])
    parser.add_argument('--batch', type=int, default=FULL['batchSize'])
    parser.add_argument('--steps', type=int, default=10, help='timed steps')
    parser.add_argument('--warmup', type=int, default=3, help='untimed steps first (Adam state, cuDNN autotuning)')
    parser.add_argument('--text-dim', type=int, default=TEXT_DIM)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--tf32', action='store_true', help='let matmuls and convs use TF32 (off: full fp32, as ours)')
    parser.add_argument('--threads', type=int, default=os.cpu_count(), help='CPU threads (default: every core)')
    parser.add_argument('--json', action='store_true', help='print one JSON line (for bench/stage1.ts --torch)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if FULL['generator'] != 'complex' or FULL['discriminator'] != 'complex':
        raise SystemExit('full.json no longer names the complex networks this script builds')

    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    # Every step has the same shapes: let cuDNN pick its fastest kernels during the warm-up.
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(FULL['seed'])
    device = torch.device(args.device)
    cuda = device.type == 'cuda'

    G = Generator(args.ngf, FULL['zDim'], FULL['conditionDim'], args.text_dim).to(device)
    D = Discriminator(args.ndf, FULL['conditionDim'], args.text_dim).to(device)
    adam = {'lr': FULL['learningRate'], 'betas': (FULL['beta1'], 0.999), 'eps': 1e-8}
    g_opt = torch.optim.Adam(G.parameters(), **adam)
    d_opt = torch.optim.Adam(D.parameters(), **adam)

    real = torch.rand(args.batch, 3, 64, 64, device=device) * 2 - 1
    wrong = torch.rand(args.batch, 3, 64, 64, device=device) * 2 - 1
    text = torch.randn(args.batch, args.text_dim, device=device) / 16

    for _ in range(args.warmup):
        train_step(G, D, g_opt, d_opt, real, wrong, text)
    if cuda:
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    for _ in range(args.steps):
        train_step(G, D, g_opt, d_opt, real, wrong, text)
    if cuda:
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started

    name = torch.cuda.get_device_name(device) if cuda else 'cpu'
    if args.json:
        print(json.dumps({'torch': torch.__version__, 'device': name, 'threads': torch.get_num_threads(), 'ms_per_step': 1000 * seconds / args.steps, 'images_per_s': args.batch * args.steps / seconds, 'conv_gflops': conv_gflops(device)}))
        return
    print(
        f'pytorch {torch.__version__} {name} | ngf {args.ngf} ndf {args.ndf} | batch {args.batch} | tf32 {"on" if args.tf32 else "off"}'
        f' | threads {torch.get_num_threads()} | params G {parameters(G)} D {parameters(D)} | ms/step {1000 * seconds / args.steps:.1f} | images/s {args.batch * args.steps / seconds:.1f}'
    )


if __name__ == '__main__':
    main()
