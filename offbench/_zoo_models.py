"""Built-in DNN architectures for :mod:`offbench.profiles`, written as chains of units.

Plain torch code, so that profiling needs neither torchvision nor any weights. Each builder
returns an ``nn.Sequential`` whose items are the *block* units of the chain; layout, channel
counts, kernels, strides and paddings follow the torchvision definitions (ImageNet, 1000
classes, 3x224x224 input), so MAC counts agree with theirs.

Two containers tell the profiler how a unit may be split:

* :class:`Fused` — modules that run as one layer (a convolution with its batch norm and
  activation, say). Never split: activations are fused into the layer before them in deployment,
  and a cut between a convolution and its ReLU would only repeat the same tensor.
* :class:`Residual` — a block with a skip connection. One unit at ``"block"`` granularity; opened
  into the parts of its body at ``"layer"`` granularity, where every cut inside it must also carry
  the block's input.

Where torchvision pools adaptively before the classifier and that pooling is the identity at
224x224 (AlexNet's 6x6, VGG's 7x7), the pooling and flattening are fused into the first fully
connected layer rather than made a unit of their own that would repeat the tensor before it.

This module imports torch at its top; only :mod:`offbench.profiles` imports it, lazily.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn

__all__ = ["Fused", "Residual", "alexnet", "vgg16", "resnet18", "mobilenet_v2"]


class Fused(nn.Sequential):
    """Modules that run one after another as one layer: never split when profiling."""


class Residual(nn.Module):
    """A block with a skip connection: ``activation(body(x) + shortcut(x))``.

    Parameters
    ----------
    body : nn.Sequential
        The main path, as named parts.
    shortcut : nn.Module or None
        The projection of the skip path (a strided 1x1 convolution, say); ``None`` for the
        identity.
    activation : nn.Module or None
        Applied after the addition; ``None`` for none.
    """

    def __init__(self, body: nn.Sequential, shortcut: nn.Module | None = None,
                 activation: nn.Module | None = None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut
        self.activation = activation

    def merge(self, main: Tensor, identity: Tensor) -> Tensor:
        """Join the main path's output with the block's input: shortcut, add, activate."""
        skip = identity if self.shortcut is None else self.shortcut(identity)
        out = main + skip
        return out if self.activation is None else self.activation(out)

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102 - nn.Module protocol
        return self.merge(self.body(x), x)


def _conv_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
             groups: int = 1, activation: nn.Module | None = None) -> Fused:
    """A bias-free convolution, its batch norm, and an optional activation, as one layer."""
    parts = [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, (kernel_size - 1) // 2,
                  groups=groups, bias=False),
        nn.BatchNorm2d(out_channels),
    ]
    if activation is not None:
        parts.append(activation)
    return Fused(*parts)


def alexnet() -> nn.Sequential:
    """AlexNet as in torchvision (one-tower variant of Krizhevsky et al. 2012): 11 units.

    Returns
    -------
    nn.Sequential
        ``conv1, pool1, conv2, pool2, conv3, conv4, conv5, pool5, fc6, fc7, fc8``.
    """
    return nn.Sequential(OrderedDict([
        ("conv1", Fused(nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(inplace=True))),
        ("pool1", nn.MaxPool2d(3, 2)),
        ("conv2", Fused(nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True))),
        ("pool2", nn.MaxPool2d(3, 2)),
        ("conv3", Fused(nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True))),
        ("conv4", Fused(nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True))),
        ("conv5", Fused(nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True))),
        ("pool5", nn.MaxPool2d(3, 2)),
        ("fc6", Fused(nn.AdaptiveAvgPool2d((6, 6)), nn.Flatten(), nn.Dropout(0.5),
                      nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True))),
        ("fc7", Fused(nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(inplace=True))),
        ("fc8", nn.Linear(4096, 1000)),
    ]))


def vgg16() -> nn.Sequential:
    """VGG-16 (configuration D of Simonyan and Zisserman 2015, no batch norm): 21 units.

    Returns
    -------
    nn.Sequential
        ``conv1_1, conv1_2, pool1, ..., conv5_3, pool5, fc6, fc7, fc8``.
    """
    units: list[tuple[str, nn.Module]] = []
    in_channels = 3
    for stage, (width, depth) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], 1):
        for index in range(1, depth + 1):
            units.append((f"conv{stage}_{index}",
                          Fused(nn.Conv2d(in_channels, width, 3, padding=1),
                                nn.ReLU(inplace=True))))
            in_channels = width
        units.append((f"pool{stage}", nn.MaxPool2d(2, 2)))
    units += [
        ("fc6", Fused(nn.AdaptiveAvgPool2d((7, 7)), nn.Flatten(), nn.Linear(512 * 7 * 7, 4096),
                      nn.ReLU(inplace=True), nn.Dropout(0.5))),
        ("fc7", Fused(nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5))),
        ("fc8", nn.Linear(4096, 1000)),
    ]
    return nn.Sequential(OrderedDict(units))


def _basic_block(in_channels: int, out_channels: int, stride: int) -> Residual:
    """ResNet's basic block: two 3x3 convolutions, projected shortcut when the shape changes."""
    body = nn.Sequential(OrderedDict([
        ("conv1", _conv_bn(in_channels, out_channels, 3, stride, activation=nn.ReLU(inplace=True))),
        ("conv2", _conv_bn(out_channels, out_channels, 3)),
    ]))
    shortcut = None
    if stride != 1 or in_channels != out_channels:
        shortcut = _conv_bn(in_channels, out_channels, 1, stride)
    return Residual(body, shortcut, nn.ReLU(inplace=True))


def resnet18() -> nn.Sequential:
    """ResNet-18 (He et al. 2016, torchvision layout): 12 block units, 20 layer units.

    Returns
    -------
    nn.Sequential
        ``conv1, maxpool, layer1_0, layer1_1, ..., layer4_1, avgpool, fc``; each ``layerS_B`` is
        a :class:`Residual` with parts ``conv1, conv2``.
    """
    units: list[tuple[str, nn.Module]] = [
        ("conv1", Fused(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64),
                        nn.ReLU(inplace=True))),
        ("maxpool", nn.MaxPool2d(3, 2, 1)),
    ]
    in_channels = 64
    for stage, width in enumerate([64, 128, 256, 512], 1):
        for index in range(2):
            stride = 2 if stage > 1 and index == 0 else 1
            units.append((f"layer{stage}_{index}", _basic_block(in_channels, width, stride)))
            in_channels = width
    units += [
        ("avgpool", Fused(nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten())),
        ("fc", nn.Linear(512, 1000)),
    ]
    return nn.Sequential(OrderedDict(units))


def _inverted_residual(in_channels: int, out_channels: int, stride: int,
                       expand_ratio: int) -> nn.Module:
    """MobileNetV2's inverted residual: expand (1x1), depthwise (3x3), project (1x1, linear)."""
    hidden = in_channels * expand_ratio
    parts: list[tuple[str, nn.Module]] = []
    if expand_ratio != 1:
        parts.append(("expand", _conv_bn(in_channels, hidden, 1,
                                         activation=nn.ReLU6(inplace=True))))
    parts += [
        ("depthwise", _conv_bn(hidden, hidden, 3, stride, groups=hidden,
                               activation=nn.ReLU6(inplace=True))),
        ("project", _conv_bn(hidden, out_channels, 1)),
    ]
    body = nn.Sequential(OrderedDict(parts))
    if stride == 1 and in_channels == out_channels:
        return Residual(body)
    return body


def mobilenet_v2() -> nn.Sequential:
    """MobileNetV2 (Sandler et al. 2018, width 1.0, torchvision layout): 21 block units.

    Returns
    -------
    nn.Sequential
        ``stem, block1, ..., block17, head, avgpool, classifier``. Blocks with a skip connection
        are :class:`Residual`; the others are plain chains of ``expand, depthwise, project``.
    """
    units: list[tuple[str, nn.Module]] = [
        ("stem", _conv_bn(3, 32, 3, 2, activation=nn.ReLU6(inplace=True))),
    ]
    in_channels = 32
    block = 0
    # (expansion t, output channels c, repeats n, first stride s), as in the paper's Table 2.
    for expand_ratio, width, repeats, first_stride in [
        (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
        (6, 160, 3, 2), (6, 320, 1, 1),
    ]:
        for index in range(repeats):
            block += 1
            stride = first_stride if index == 0 else 1
            units.append((f"block{block}",
                          _inverted_residual(in_channels, width, stride, expand_ratio)))
            in_channels = width
    units += [
        ("head", _conv_bn(in_channels, 1280, 1, activation=nn.ReLU6(inplace=True))),
        ("avgpool", Fused(nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten())),
        ("classifier", Fused(nn.Dropout(0.2), nn.Linear(1280, 1000))),
    ]
    return nn.Sequential(OrderedDict(units))
