"""The experiment's three networks in plain eager PyTorch, for the benchmark's comparison.

Same layers and the same trainable parameters as the Keras networks in `pyimagesearch/`,
channels-first. Differences that do not change the work:

- The networks return logits; `nn.CrossEntropyLoss` applies the softmax.
- Keras' BatchNormalization `momentum` is PyTorch's `1 - momentum`.
- A 3x3 "same" convolution with stride 2 pads one pixel on every side here; Keras pads the
  bottom and right only. The output has the same size.
- The ResNet's L2 kernel regularisers (reg * sum(w^2) added to the loss) become Adam's
  coupled `weight_decay = 2 * reg` on the same kernels: the same gradients, the same work.
"""

import torch
from torch import nn


def batch_norm(channels, epsilon=1e-3, momentum=0.99, dims=2):
    """A BatchNorm layer with Keras' defaults (epsilon 1e-3, Keras momentum 0.99)."""
    layer = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
    return layer(channels, eps=epsilon, momentum=1.0 - momentum)


class MiniVGGNet(nn.Module):
    def __init__(self, depth=3, classes=10, size=32):
        super().__init__()
        blocks = []
        channels = depth
        for filters in (32, 64):
            blocks += [
                nn.Conv2d(channels, filters, 3, padding=1),
                nn.ReLU(),
                batch_norm(filters),
                nn.Conv2d(filters, filters, 3, padding=1),
                nn.ReLU(),
                batch_norm(filters),
                nn.MaxPool2d(2),
                nn.Dropout(0.25),
            ]
            channels = filters
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * (size // 4) ** 2, 512),
            nn.ReLU(),
            batch_norm(512, dims=1),
            nn.Dropout(0.5),
            nn.Linear(512, classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))

    def parameter_groups(self):
        return [{"params": list(self.parameters())}]


class ConvModule(nn.Sequential):
    """Conv -> BN -> ReLU."""

    def __init__(self, in_channels, filters, kernel, stride=1, padding="same"):
        pad = kernel // 2 if padding == "same" else 0
        super().__init__(
            nn.Conv2d(in_channels, filters, kernel, stride=stride, padding=pad),
            batch_norm(filters),
            nn.ReLU(),
        )


class InceptionModule(nn.Module):
    """A 1x1 and a 3x3 conv module side by side, concatenated on the channels."""

    def __init__(self, in_channels, filters_1x1, filters_3x3):
        super().__init__()
        self.conv_1x1 = ConvModule(in_channels, filters_1x1, 1)
        self.conv_3x3 = ConvModule(in_channels, filters_3x3, 3)
        self.out_channels = filters_1x1 + filters_3x3

    def forward(self, x):
        return torch.cat([self.conv_1x1(x), self.conv_3x3(x)], dim=1)


class DownsampleModule(nn.Module):
    """A strided 3x3 conv module beside a 3x3 max pool, both "valid"."""

    def __init__(self, in_channels, filters):
        super().__init__()
        self.conv_3x3 = ConvModule(in_channels, filters, 3, stride=2, padding="valid")
        self.pool = nn.MaxPool2d(3, stride=2)
        self.out_channels = filters + in_channels

    def forward(self, x):
        return torch.cat([self.conv_3x3(x), self.pool(x)], dim=1)


class MiniGoogLeNet(nn.Module):
    def __init__(self, depth=3, classes=10):
        super().__init__()
        layers = [ConvModule(depth, 96, 3)]
        channels = 96
        plan = [
            ("inception", 32, 32),
            ("inception", 32, 48),
            ("downsample", 80),
            ("inception", 112, 48),
            ("inception", 96, 64),
            ("inception", 80, 80),
            ("inception", 48, 96),
            ("downsample", 96),
            ("inception", 176, 160),
            ("inception", 176, 160),
        ]
        for kind, *filters in plan:
            module = InceptionModule if kind == "inception" else DownsampleModule
            layers.append(module(channels, *filters))
            channels = layers[-1].out_channels
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.AvgPool2d(7), nn.Dropout(0.5), nn.Flatten(), nn.Linear(channels, classes)
        )

    def forward(self, x):
        return self.classifier(self.features(x))

    def parameter_groups(self):
        return [{"params": list(self.parameters())}]


class ResidualModule(nn.Module):
    """Pre-activation bottleneck: BN-ReLU-Conv 1x1 K/4, 3x3 K/4, 1x1 K, plus the shortcut."""

    def __init__(self, in_channels, filters, stride, reduce, epsilon, momentum):
        super().__init__()
        inner = int(filters * 0.25)
        self.bn1 = batch_norm(in_channels, epsilon, momentum)
        self.conv1 = nn.Conv2d(in_channels, inner, 1, bias=False)
        self.bn2 = batch_norm(inner, epsilon, momentum)
        self.conv2 = nn.Conv2d(inner, inner, 3, stride=stride, padding=1, bias=False)
        self.bn3 = batch_norm(inner, epsilon, momentum)
        self.conv3 = nn.Conv2d(inner, filters, 1, bias=False)
        self.shortcut = None
        if reduce:
            self.shortcut = nn.Conv2d(in_channels, filters, 1, stride=stride, bias=False)

    def forward(self, x):
        act1 = torch.relu(self.bn1(x))
        x1 = self.conv1(act1)
        x2 = self.conv2(torch.relu(self.bn2(x1)))
        x3 = self.conv3(torch.relu(self.bn3(x2)))
        # As in the book, the reducing shortcut starts from act1.
        shortcut = x if self.shortcut is None else self.shortcut(act1)
        return x3 + shortcut

    def kernels(self):
        convs = [self.conv1, self.conv2, self.conv3]
        if self.shortcut is not None:
            convs.append(self.shortcut)
        return [conv.weight for conv in convs]


class ResNet(nn.Module):
    def __init__(
        self,
        depth=3,
        classes=10,
        stages=(9, 9, 9),
        filters=(64, 64, 128, 256),
        reg=0.0005,
        epsilon=2e-5,
        momentum=0.9,
        module_reg=0.0001,
    ):
        super().__init__()
        self.reg, self.module_reg = reg, module_reg
        self.input_bn = batch_norm(depth, epsilon, momentum)
        self.stem = nn.Conv2d(depth, filters[0], 3, padding=1, bias=False)
        modules = []
        channels = filters[0]
        for i, count in enumerate(stages):
            stride = 1 if i == 0 else 2
            for j in range(count):
                modules.append(
                    ResidualModule(
                        channels, filters[i + 1], stride if j == 0 else 1, j == 0, epsilon, momentum
                    )
                )
                channels = filters[i + 1]
        self.stages = nn.Sequential(*modules)
        self.output_bn = batch_norm(channels, epsilon, momentum)
        self.pool = nn.AvgPool2d(8)
        self.dense = nn.Linear(channels, classes)

    def forward(self, x):
        x = self.stages(self.stem(self.input_bn(x)))
        x = self.pool(torch.relu(self.output_bn(x)))
        return self.dense(torch.flatten(x, 1))

    def parameter_groups(self):
        """Adam parameter groups: L2 weight decay on the regularised kernels only.

        As in the book, the modules' convolutions keep the default 0.0001; the stem and the
        dense layer use `reg`.
        """
        module_kernels = [w for module in self.stages for w in module.kernels()]
        own_kernels = [self.stem.weight, self.dense.weight]
        regularised = {id(w) for w in module_kernels + own_kernels}
        others = [w for w in self.parameters() if id(w) not in regularised]
        return [
            {"params": own_kernels, "weight_decay": 2 * self.reg},
            {"params": module_kernels, "weight_decay": 2 * self.module_reg},
            {"params": others, "weight_decay": 0.0},
        ]


def build(name, depth=3, classes=10):
    """The network called `name` as in `training.build_network`: resnet, googlenet or minivggnet."""
    if name == "resnet":
        return ResNet(depth, classes)
    if name == "googlenet":
        return MiniGoogLeNet(depth, classes)
    if name == "minivggnet":
        return MiniVGGNet(depth, classes)
    raise ValueError(f"unknown model {name!r}; choose resnet, googlenet or minivggnet")


def trainable_parameters(network):
    return sum(p.numel() for p in network.parameters() if p.requires_grad)
