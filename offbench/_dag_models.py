"""Built-in DNNs for :mod:`offbench.dag_profiles`, written as plain torch modules to be traced.

Plain torch code (no torchvision, no weights), written so that ``torch.fx.symbolic_trace`` sees
every branch and merge: ResNet-18's residual additions, MobileNetV2's inverted residuals,
GoogLeNet's Inception branches and their concatenation, a vision transformer's attention. Layout,
channel counts, kernels, strides and paddings follow the torchvision definitions (ImageNet, 1000
classes, 3x224x224 input), so MAC counts agree with torchvision's model table:

* :func:`resnet18` (He et al. 2016), :func:`mobilenet_v2` (Sandler et al. 2018, width 1.0);
* :func:`googlenet` (Szegedy et al. 2015) without the auxiliary classifiers (they run in training
  only) and, as torchvision, with a 3x3 convolution in the third branch of every Inception module
  (the paper has 5x5; torchvision keeps 3x3 for compatibility with its weights, and its 1.50 G
  figure is for that);
* :func:`vit_b_16` (Dosovitskiy et al. 2021, ViT-B/16: 12 layers, width 768, 12 heads, MLP 3072) and
  :func:`vit_ti_16` (the "Ti" size of Touvron et al. 2021, DeiT-Ti: 12 layers, width 192, 3 heads,
  MLP 768): the small one for instance families.

Attention is written out: three projections ``q``, ``k``, ``v`` (torchvision packs them in one
``in_proj`` matrix; the MACs are the same, and apart they are three parallel nodes whose outputs
each go only where they are needed), the scores ``q k^T`` and the weighted sum ``attn v`` as
matrix products (they count in ViT-B/16's published 17.56 G: without them it would be 16.85 G),
the softmax, and the output projection. Dropout is omitted (the identity at inference); batch
norms and activations are kept (they cost 0 MACs and are fused into the layer before them by the
tracer).

This module imports torch at its top; only :mod:`offbench.dag_profiles` imports it, lazily.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["resnet18", "mobilenet_v2", "googlenet", "vit_b_16", "vit_ti_16", "BUILDERS"]


class ConvBN(nn.Sequential):
    """A bias-free convolution, its batch norm and an optional activation."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 groups: int = 1, activation: nn.Module | None = None, eps: float = 1e-5,
                 padding: int | None = None):
        parts = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride,
                      (kernel_size - 1) // 2 if padding is None else padding,
                      groups=groups, bias=False),
            nn.BatchNorm2d(out_channels, eps=eps),
        ]
        if activation is not None:
            parts.append(activation)
        super().__init__(*parts)


# --------------------------------------------------------------------------------------------
# ResNet-18


class BasicBlock(nn.Module):
    """ResNet's basic block: ``relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = ConvBN(in_channels, out_channels, 3, stride, activation=nn.ReLU())
        self.conv2 = ConvBN(out_channels, out_channels, 3)
        self.downsample = (ConvBN(in_channels, out_channels, 1, stride)
                           if stride != 1 or in_channels != out_channels else None)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102 - nn.Module protocol
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + identity)


class ResNet18(nn.Module):
    """ResNet-18 (torchvision layout)."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.conv1 = ConvBN(3, 64, 7, 2, activation=nn.ReLU())
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        blocks, in_channels = [], 64
        for stage, width in enumerate([64, 128, 256, 512], 1):
            layer = []
            for index in range(2):
                layer.append(BasicBlock(in_channels, width, 2 if stage > 1 and index == 0 else 1))
                in_channels = width
            blocks.append(nn.Sequential(*layer))
        self.layer1, self.layer2, self.layer3, self.layer4 = blocks
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        x = self.maxpool(self.conv1(x))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18() -> nn.Module:
    """ResNet-18 (He et al. 2016, torchvision layout): 1.81 GMAC at 224x224."""
    return ResNet18()


# --------------------------------------------------------------------------------------------
# MobileNetV2


class InvertedResidual(nn.Module):
    """MobileNetV2's block: expand (1x1), depthwise (3x3), project (1x1, linear), and a skip."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = in_channels * expand_ratio
        self.expand = (ConvBN(in_channels, hidden, 1, activation=nn.ReLU6())
                       if expand_ratio != 1 else None)
        self.depthwise = ConvBN(hidden, hidden, 3, stride, groups=hidden, activation=nn.ReLU6())
        self.project = ConvBN(hidden, out_channels, 1)
        self.use_skip = stride == 1 and in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        y = x if self.expand is None else self.expand(x)
        y = self.project(self.depthwise(y))
        return x + y if self.use_skip else y


class MobileNetV2(nn.Module):
    """MobileNetV2, width 1.0 (torchvision layout)."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        layers: list[nn.Module] = [ConvBN(3, 32, 3, 2, activation=nn.ReLU6())]
        in_channels = 32
        # (expansion t, output channels c, repeats n, first stride s): the paper's Table 2.
        for expand_ratio, width, repeats, first_stride in [
            (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
            (6, 160, 3, 2), (6, 320, 1, 1),
        ]:
            for index in range(repeats):
                layers.append(InvertedResidual(in_channels, width,
                                               first_stride if index == 0 else 1, expand_ratio))
                in_channels = width
        layers.append(ConvBN(in_channels, 1280, 1, activation=nn.ReLU6()))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(1280, num_classes)

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


def mobilenet_v2() -> nn.Module:
    """MobileNetV2 (Sandler et al. 2018, width 1.0, torchvision layout): 0.30 GMAC."""
    return MobileNetV2()


# --------------------------------------------------------------------------------------------
# GoogLeNet


def _basic_conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> ConvBN:
    """torchvision's ``BasicConv2d``: convolution, batch norm (eps 0.001), ReLU."""
    return ConvBN(in_channels, out_channels, kernel_size, stride, activation=nn.ReLU(), eps=1e-3)


class Inception(nn.Module):
    """An Inception module: four parallel branches, concatenated along the channels."""

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int,
                 ch5x5: int, pool_proj: int):
        super().__init__()
        self.branch1 = _basic_conv(in_channels, ch1x1, 1)
        self.branch2 = nn.Sequential(_basic_conv(in_channels, ch3x3red, 1),
                                     _basic_conv(ch3x3red, ch3x3, 3))
        # 3x3, not the paper's 5x5: torchvision's choice, which its 1.50 G figure counts.
        self.branch3 = nn.Sequential(_basic_conv(in_channels, ch5x5red, 1),
                                     _basic_conv(ch5x5red, ch5x5, 3))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True),
                                     _basic_conv(in_channels, pool_proj, 1))

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class GoogLeNet(nn.Module):
    """GoogLeNet (torchvision layout, no auxiliary classifiers)."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.conv1 = _basic_conv(3, 64, 7, 2)
        self.maxpool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = _basic_conv(64, 64, 1)
        self.conv3 = _basic_conv(64, 192, 3)
        self.maxpool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4c(self.inception4b(self.inception4a(x)))
        x = self.maxpool4(self.inception4e(self.inception4d(x)))
        x = self.inception5b(self.inception5a(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def googlenet() -> nn.Module:
    """GoogLeNet (Szegedy et al. 2015, torchvision layout, inference): 1.50 GMAC."""
    return GoogLeNet()


# --------------------------------------------------------------------------------------------
# Vision transformers


class SelfAttention(nn.Module):
    """Multi-head self-attention with its products written out (see the module docstring)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.scale = self.head_dim ** -0.5
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def _split(self, x: Tensor) -> Tensor:
        # (batch, tokens, dim) -> (batch, heads, tokens, head_dim)
        return x.unflatten(-1, (self.heads, self.head_dim)).transpose(1, 2)

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        q, k, v = self._split(self.q(x)), self._split(self.k(x)), self._split(self.v(x))
        scores = torch.matmul(q * self.scale, k.transpose(-2, -1))
        out = torch.matmul(scores.softmax(-1), v)
        return self.out_proj(out.transpose(1, 2).flatten(2))


class EncoderBlock(nn.Module):
    """A pre-norm transformer encoder layer: attention and MLP, each with its residual."""

    def __init__(self, dim: int, heads: int, mlp_dim: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-6)
        self.self_attention = SelfAttention(dim, heads)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp_1 = nn.Linear(dim, mlp_dim)
        self.gelu = nn.GELU()
        self.mlp_2 = nn.Linear(mlp_dim, dim)

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        x = x + self.self_attention(self.ln_1(x))
        return x + self.mlp_2(self.gelu(self.mlp_1(self.ln_2(x))))


class VisionTransformer(nn.Module):
    """A ViT classifier (torchvision layout): patch projection, class token, encoder, head."""

    def __init__(self, patch: int, dim: int, depth: int, heads: int, mlp_dim: int,
                 image: int = 224, num_classes: int = 1000):
        super().__init__()
        self.conv_proj = nn.Conv2d(3, dim, patch, patch)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.zeros(1, (image // patch) ** 2 + 1, dim))
        self.layers = nn.Sequential(*(EncoderBlock(dim, heads, mlp_dim) for _ in range(depth)))
        self.ln = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        x = self.conv_proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], 1) + self.pos_embedding
        x = self.ln(self.layers(x))
        return self.head(x[:, 0])


def vit_b_16() -> nn.Module:
    """ViT-B/16 (Dosovitskiy et al. 2021, torchvision layout): 17.56 GMAC at 224x224."""
    return VisionTransformer(16, 768, 12, 12, 3072)


def vit_ti_16() -> nn.Module:
    """ViT-Ti/16 (DeiT-Ti, Touvron et al. 2021: width 192, 3 heads): 1.25 GMAC at 224x224."""
    return VisionTransformer(16, 192, 12, 3, 768)


#: Builder of each built-in DAG model, by name.
BUILDERS = {
    "resnet18": resnet18, "mobilenet_v2": mobilenet_v2, "googlenet": googlenet,
    "vit_b_16": vit_b_16, "vit_ti_16": vit_ti_16,
}
