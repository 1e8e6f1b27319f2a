#!/usr/bin/env python3
"""Generate the vision-model parity references (ResNet, projection / prediction / DINO heads).

Usage: python3 make_vision_references.py --out DIR

Writes DIR/vision.safetensors, one flat file; every key starts with its case name.
Deterministic: torch.manual_seed(0) once at the start, cases in a fixed order, float32,
torch.set_num_threads(1). Fails (non-zero exit, ImportError) if torchvision or lightly is
missing: never skips.

ResNet cases (torchvision.models.resnet.ResNet, fc = Identity), input x [4,C,S,S]:
  resnet18_small_c1      resnet18,  width 64, small stem, C=1, S=32
  resnet18_small_c3_w16  resnet18,  width 16, small stem, C=3, S=32
  resnet18_std_c1_w16    resnet18,  width 16, torchvision stem, C=1, S=64
  resnet34_small_c3_w8   resnet34,  width 8,  small stem, C=3, S=32
  resnet50_small_c3_w16  resnet50,  width 16, small stem, C=3, S=32
  resnet50_std_c1_w16    resnet50,  width 16, torchvision stem, C=1, S=64
  Small stem: conv1 = Conv2d(C, w, 3, stride 1, padding 1, bias False), maxpool = Identity.
  torchvision stem with C != 3: conv1 = Conv2d(C, w, 7, stride 2, padding 3, bias False).
  Width w != 64: torchvision's ResNet with every stage's planes scaled by w/64 and the stem at
  w channels (subclass overriding _make_layer; torchvision's own blocks). Width 64 uses
  torchvision.models.resnet18() directly (one width-64 case only: it stores
  3 x 11.2 M floats).
  BatchNorm weights, biases and running statistics are perturbed so every parameter matters.
  Keys: <c>.w.<name> (state dict before any forward), <c>.x, <c>.R_pooled, <c>.R_tokens, then
  for mode m in (train, eval), in this order on the same model:
    <c>.m.pooled [4,D], <c>.m.tokens [4,H'W',D] (layer4 output flattened, positions row-major),
    <c>.m.scalar = (pooled*R_pooled).sum() + (tokens*R_tokens).sum(),
    <c>.m.grad.x, <c>.m.grad.<param>, <c>.m.buf.<buffer> (buffers after the forward).
  Gradients are zeroed between the two modes; the train forward updates the running stats
  that the eval forward then uses.

Head cases (lightly 1.6 heads; input x [8,in], train mode, BatchNorm params perturbed):
  simclr               SimCLRProjectionHead(32, 64, 16)                   (num_layers 2, BN)
  simclr_v2_nobn       SimCLRProjectionHead(32, 64, 16, num_layers=3, batch_norm=False)
  byol_projection      BYOLProjectionHead(32, 64, 16)
  byol_prediction      BYOLPredictionHead(16, 64, 16)
  barlow_twins         BarlowTwinsProjectionHead(32, 64, 48)
  vicreg               VICRegProjectionHead(32, 64, 48)                   (num_layers 3)
  vicreg_4             VICRegProjectionHead(32, 64, 48, num_layers=4)
  simsiam_projection   SimSiamProjectionHead(32, 64, 48)
  simsiam_prediction   SimSiamPredictionHead(48, 16, 48)
  moco_projection      MoCoProjectionHead(32, 64, 16)                     (v2: 2 layers, no BN)
  moco_projection_bn3  MoCoProjectionHead(32, 64, 16, num_layers=3, batch_norm=True)
  mocov3_projection    facebookresearch/moco-v3 _build_mlp(3, 32, 64, 16)          (ViT)
  mocov3_projection_2  _build_mlp(2, 32, 64, 16)                                   (ResNet)
  mocov3_prediction    _build_mlp(2, 16, 64, 16)                                   (ViT)
  mocov3_prediction_nolastbn  _build_mlp(2, 16, 64, 16, last_bn=False)             (ResNet)
  (lightly 1.6 has no MoCo v3 head class; moco-v3's _build_mlp is reproduced below, with its
  layers in a `layers` Sequential so the names match.)
  Keys: <c>.w.<name>, <c>.x, <c>.R, <c>.out, <c>.grad.<param>, <c>.buf.<buffer> (after).
  Loss: (out * R).sum().
  byol_pair            BYOLProjectionHead(32, 64, 16) -> BYOLPredictionHead(16, 64, 16) as
                       `projector` / `predictor`; keys <c>.z, <c>.p, loss (p*Rp).sum()+(z*Rz).sum().

DINO cases (lightly DINOProjectionHead(input 32, hidden 64, bottleneck 16, output 48)):
  dino           batch_norm False, norm_last_layer True (weight_g not trained)
  dino_bn_g      batch_norm True, norm_last_layer False (weight_g trained)
  dino_frozen    as dino, freeze_last_layer=2; after backward, cancel_last_layer_gradients(0):
                 grads stored only for parameters whose grad is not None
                 (the last layer's have none); then again with epoch 2 as dino_frozen.e2.
  Keys: <c>.w.<name>, <c>.x, <c>.R, <c>.out, <c>.grad.<param> (only where grad is not None).
"""
import argparse
import os
import sys
import warnings

import torch

torch.set_num_threads(1)
# lightly's DINOProjectionHead uses torch.nn.utils.weight_norm, deprecated but what it does.
warnings.filterwarnings("ignore", message=".*weight_norm.*deprecated", category=FutureWarning)

import torch.nn as nn  # noqa: E402
import torchvision  # noqa: E402  (missing -> ImportError: the fixture fails, never skips)
import lightly  # noqa: E402
from lightly.models.modules import heads as lh  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet  # noqa: E402

OUT = {}


def put(key, t):
    assert key not in OUT, key
    t = t.detach()
    if t.is_floating_point():
        t = t.to(torch.float32)
    OUT[key] = t.contiguous().clone()


# ---- ResNet ------------------------------------------------------------------------------------

class ScaledResNet(ResNet):
    """torchvision's ResNet with base width w: stem w channels, stages w, 2w, 4w, 8w planes."""

    def __init__(self, block, layers, width):
        object.__setattr__(self, "_width", width)
        super().__init__(block, layers)
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        if planes == 64:  # layer1: the stem gives `width` channels
            self.inplanes = self._width
        return super()._make_layer(block, planes * self._width // 64, blocks, stride, dilate)


def build_resnet(depth, width, small_stem, channels):
    block, layers = {18: (BasicBlock, [2, 2, 2, 2]), 34: (BasicBlock, [3, 4, 6, 3]),
                     50: (Bottleneck, [3, 4, 6, 3])}[depth]
    if width == 64:
        m = getattr(torchvision.models, f"resnet{depth}")()
    else:
        m = ScaledResNet(block, layers, width)
        # Sanity: the scaling rule at width 64 is torchvision's architecture.
        ref = {k: v.shape for k, v in getattr(torchvision.models, f"resnet{depth}")().state_dict().items()
               if not k.startswith("fc.")}
        got = {k: v.shape for k, v in ScaledResNet(block, layers, 64).state_dict().items() if not k.startswith("fc.")}
        assert ref == got
    m.fc = nn.Identity()
    if small_stem:
        m.conv1 = nn.Conv2d(channels, width, kernel_size=3, stride=1, padding=1, bias=False)
        m.maxpool = nn.Identity()
    elif channels != 3:
        m.conv1 = nn.Conv2d(channels, width, kernel_size=7, stride=2, padding=3, bias=False)
    nn.init.kaiming_normal_(m.conv1.weight, mode="fan_out", nonlinearity="relu")
    return m


@torch.no_grad()
def perturb_bn_(model):
    for mod in model.modules():
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if mod.weight is not None:
                mod.weight.copy_(1.0 + 0.1 * torch.randn_like(mod.weight))
                mod.bias.copy_(0.05 * torch.randn_like(mod.bias))
            mod.running_mean.copy_(0.1 * torch.randn_like(mod.running_mean))
            mod.running_var.copy_(1.0 + 0.2 * torch.rand_like(mod.running_var))


def put_state(prefix, model):
    for k, v in model.state_dict().items():
        put(f"{prefix}.{k}", v)


def resnet_case(c, depth, width, small_stem, channels, size):
    m = build_resnet(depth, width, small_stem, channels)
    perturb_bn_(m)
    put_state(f"{c}.w", m)
    fmap = {}
    m.layer4.register_forward_hook(lambda mod, i, o: fmap.__setitem__("out", o))
    x = torch.randn(4, channels, size, size)
    put(f"{c}.x", x)
    R_pooled = R_tokens = None
    for mode in ("train", "eval"):
        m.train(mode == "train")
        m.zero_grad(set_to_none=True)
        xi = x.clone().requires_grad_(True)
        pooled = m(xi)
        tokens = fmap["out"].flatten(2).transpose(1, 2)
        if R_pooled is None:
            R_pooled, R_tokens = torch.randn_like(pooled), torch.randn_like(tokens)
            put(f"{c}.R_pooled", R_pooled)
            put(f"{c}.R_tokens", R_tokens)
        scalar = (pooled * R_pooled).sum() + (tokens * R_tokens).sum()
        scalar.backward()
        put(f"{c}.{mode}.pooled", pooled)
        put(f"{c}.{mode}.tokens", tokens)
        put(f"{c}.{mode}.scalar", scalar.reshape(1))
        put(f"{c}.{mode}.grad.x", xi.grad)
        for k, p in m.named_parameters():
            assert p.grad is not None, (c, k)
            put(f"{c}.{mode}.grad.{k}", p.grad)
        for k, b in m.named_buffers():
            put(f"{c}.{mode}.buf.{k}", b)


# ---- Heads -------------------------------------------------------------------------------------

class MoCoV3Mlp(nn.Module):
    """facebookresearch/moco-v3 moco/builder.py MoCo._build_mlp, in a `layers` Sequential."""

    def __init__(self, num_layers, input_dim, mlp_dim, output_dim, last_bn=True):
        super().__init__()
        mlp = []
        for l in range(num_layers):
            dim1 = input_dim if l == 0 else mlp_dim
            dim2 = output_dim if l == num_layers - 1 else mlp_dim
            mlp.append(nn.Linear(dim1, dim2, bias=False))
            if l < num_layers - 1:
                mlp.append(nn.BatchNorm1d(dim2))
                mlp.append(nn.ReLU(inplace=True))
            elif last_bn:
                # follow SimCLR's design; "for simplicity, we further removed gamma in BN"
                mlp.append(nn.BatchNorm1d(dim2, affine=False))
        self.layers = nn.Sequential(*mlp)

    def forward(self, x):
        return self.layers(x)


HEADS = [
    ("simclr", lambda: lh.SimCLRProjectionHead(32, 64, 16), 32),
    ("simclr_v2_nobn", lambda: lh.SimCLRProjectionHead(32, 64, 16, num_layers=3, batch_norm=False), 32),
    ("byol_projection", lambda: lh.BYOLProjectionHead(32, 64, 16), 32),
    ("byol_prediction", lambda: lh.BYOLPredictionHead(16, 64, 16), 16),
    ("barlow_twins", lambda: lh.BarlowTwinsProjectionHead(32, 64, 48), 32),
    ("vicreg", lambda: lh.VICRegProjectionHead(32, 64, 48), 32),
    ("vicreg_4", lambda: lh.VICRegProjectionHead(32, 64, 48, num_layers=4), 32),
    ("simsiam_projection", lambda: lh.SimSiamProjectionHead(32, 64, 48), 32),
    ("simsiam_prediction", lambda: lh.SimSiamPredictionHead(48, 16, 48), 48),
    ("moco_projection", lambda: lh.MoCoProjectionHead(32, 64, 16), 32),
    ("moco_projection_bn3", lambda: lh.MoCoProjectionHead(32, 64, 16, num_layers=3, batch_norm=True), 32),
    ("mocov3_projection", lambda: MoCoV3Mlp(3, 32, 64, 16), 32),
    ("mocov3_projection_2", lambda: MoCoV3Mlp(2, 32, 64, 16), 32),
    ("mocov3_prediction", lambda: MoCoV3Mlp(2, 16, 64, 16), 16),
    ("mocov3_prediction_nolastbn", lambda: MoCoV3Mlp(2, 16, 64, 16, last_bn=False), 16),
]


def head_case(c, make, in_dim):
    h = make()
    perturb_bn_(h)
    h.train()
    put_state(f"{c}.w", h)
    x = torch.randn(8, in_dim)
    out = h(x)
    R = torch.randn_like(out)
    (out * R).sum().backward()
    put(f"{c}.x", x)
    put(f"{c}.R", R)
    put(f"{c}.out", out)
    for k, p in h.named_parameters():
        assert p.grad is not None, (c, k)
        put(f"{c}.grad.{k}", p.grad)
    for k, b in h.named_buffers():
        put(f"{c}.buf.{k}", b)


class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.projector = lh.BYOLProjectionHead(32, 64, 16)
        self.predictor = lh.BYOLPredictionHead(16, 64, 16)


def pair_case(c):
    h = Pair()
    perturb_bn_(h)
    h.train()
    put_state(f"{c}.w", h)
    x = torch.randn(8, 32)
    z = h.projector(x)
    p = h.predictor(z)
    Rz, Rp = torch.randn_like(z), torch.randn_like(p)
    ((p * Rp).sum() + (z * Rz).sum()).backward()
    for k, v in (("x", x), ("Rz", Rz), ("Rp", Rp), ("z", z), ("p", p)):
        put(f"{c}.{k}", v)
    for k, q in h.named_parameters():
        put(f"{c}.grad.{k}", q.grad)


def dino_case(c, batch_norm, norm_last_layer, freeze_last_layer=-1):
    h = lh.DINOProjectionHead(32, 64, 16, 48, batch_norm=batch_norm, freeze_last_layer=freeze_last_layer,
                              norm_last_layer=norm_last_layer)
    with torch.no_grad():  # fresh init has zero biases and unit g: make every value matter
        for k, p in h.named_parameters():
            if k.endswith(".bias"):
                p.copy_(0.05 * torch.randn_like(p))
            elif k == "last_layer.weight_g" and not norm_last_layer:
                p.copy_(1.0 + 0.2 * torch.rand_like(p))
    perturb_bn_(h)
    h.train()
    put_state(f"{c}.w", h)
    x = torch.randn(8, 32)
    out = h(x)
    R = torch.randn_like(out)
    put(f"{c}.x", x)
    put(f"{c}.R", R)
    put(f"{c}.out", out)
    epochs = [None] if freeze_last_layer < 0 else [0, freeze_last_layer]
    for e in epochs:
        h.zero_grad(set_to_none=True)
        h(x).mul(R).sum().backward()
        if e is not None:
            h.cancel_last_layer_gradients(e)
        tag = c if e is None or e == 0 else f"{c}.e{e}"
        for k, p in h.named_parameters():
            if p.grad is not None:
                put(f"{tag}.grad.{k}", p.grad)
        has_last = h.last_layer.weight_v.grad is not None
        assert has_last == (e is None or e >= freeze_last_layer), (c, e)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output directory (created if missing)")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    resnet_case("resnet18_small_c1", 18, 64, True, 1, 32)
    resnet_case("resnet18_small_c3_w16", 18, 16, True, 3, 32)
    resnet_case("resnet18_std_c1_w16", 18, 16, False, 1, 64)
    resnet_case("resnet34_small_c3_w8", 34, 8, True, 3, 32)
    resnet_case("resnet50_small_c3_w16", 50, 16, True, 3, 32)
    resnet_case("resnet50_std_c1_w16", 50, 16, False, 1, 64)
    for c, make, in_dim in HEADS:
        head_case(c, make, in_dim)
    pair_case("byol_pair")
    dino_case("dino", batch_norm=False, norm_last_layer=True)
    dino_case("dino_bn_g", batch_norm=True, norm_last_layer=False)
    dino_case("dino_frozen", batch_norm=False, norm_last_layer=True, freeze_last_layer=2)
    # Single metadata key: several would make the header byte order vary between runs.
    meta = {"generator": f"make_vision_references.py torch={torch.__version__} "
                         f"torchvision={torchvision.__version__} lightly={lightly.__version__}"}
    save_file(OUT, os.path.join(args.out, "vision.safetensors"), metadata=meta)
    print(f"wrote {len(OUT)} tensors to {args.out}/vision.safetensors ({meta['generator']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
