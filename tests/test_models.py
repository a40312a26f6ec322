"""The three networks match the spec's parameter table, emit softmax rows and keep the book's quirks."""

import functools

import keras
import numpy as np
import pytest

from pyimagesearch import original
from pyimagesearch.minigooglenet import MiniGoogLeNet
from pyimagesearch.minivggnet import MiniVGGNet
from pyimagesearch.resnet import ResNet

pytestmark = pytest.mark.backend

SHAPES = [(1, 10), (3, 10), (3, 100)]  # (depth, classes) at 32x32


def build_resnet(width, height, depth, classes):
    # The experiment's call.
    return ResNet.build(width, height, depth, classes, **original.RESNET)


BUILDERS = {
    "minivggnet": MiniVGGNet.build,
    "minigooglenet": MiniGoogLeNet.build,
    "resnet": build_resnet,
}

# (total count_params(), trainable) per (depth, classes), from the spec's table.
PARAMS = {
    "minivggnet": {
        (1, 10): (2_170_602, 2_169_194),
        (3, 10): (2_171_178, 2_169_770),
        (3, 100): (2_217_348, 2_215_940),
    },
    "minigooglenet": {
        (1, 10): (1_654_522, 1_651_098),
        (3, 10): (1_656_250, 1_652_826),
        (3, 100): (1_686_580, 1_683_156),
    },
    "resnet": {
        (1, 10): (884_942, 872_716),
        (3, 10): (886_102, 873_872),
        (3, 100): (909_232, 897_002),
    },
}

CASES = [(name, depth, classes) for name in BUILDERS for depth, classes in SHAPES]


@functools.cache
def model(name, depth, classes):
    return BUILDERS[name](32, 32, depth, classes)


@pytest.mark.parametrize("name, depth, classes", CASES)
def test_parameter_counts_match_spec(name, depth, classes):
    m = model(name, depth, classes)
    trainable = sum(int(np.prod(w.shape)) for w in m.trainable_weights)
    assert (m.count_params(), trainable) == PARAMS[name][(depth, classes)]
    assert m.name == name


@pytest.mark.parametrize("name, depth, classes", CASES)
def test_outputs_are_softmax_rows(name, depth, classes):
    m = model(name, depth, classes)
    x = np.random.default_rng(0).random((2, 32, 32, depth), dtype=np.float32)
    y = keras.ops.convert_to_numpy(m(x, training=False))
    assert y.shape == (2, classes)
    assert np.all(y >= 0)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, atol=1e-5)


def test_resnet_modules_ignore_build_reg():
    m = model("resnet", 3, 10)
    convs = [layer for layer in m.layers if isinstance(layer, keras.layers.Conv2D)]
    dense = [layer for layer in m.layers if isinstance(layer, keras.layers.Dense)]
    assert len(convs) == 1 + 27 * 3 + 3  # stem, 3 per module, 1 shortcut per stage
    assert len(dense) == 1
    assert len(m.losses) == len(convs) + 1

    stem, module_convs = convs[0], convs[1:]
    assert stem.kernel_regularizer.l2 == pytest.approx(0.0005)
    assert dense[0].kernel_regularizer.l2 == pytest.approx(0.0005)
    assert {round(c.kernel_regularizer.l2, 10) for c in module_convs} == {0.0001}
    assert not any(c.use_bias for c in convs)


def test_batchnorm_settings():
    resnet_bns = [
        layer
        for layer in model("resnet", 3, 10).layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert {(bn.epsilon, bn.momentum) for bn in resnet_bns} == {(2e-5, original.BATCH_NORM_MOMENTUM["resnet"])}
    for name, table_name in (("minivggnet", "minivggnet"), ("minigooglenet", "googlenet")):
        bns = [
            layer
            for layer in model(name, 3, 10).layers
            if isinstance(layer, keras.layers.BatchNormalization)
        ]
        assert {(bn.epsilon, bn.momentum, bn.axis) for bn in bns} == {
            (1e-3, original.BATCH_NORM_MOMENTUM[table_name], -1)
        }


def test_resnet_rejects_unknown_dataset():
    with pytest.raises(ValueError, match="'cifar'"):
        ResNet.build(32, 32, 3, 10, (9, 9, 9), (64, 64, 128, 256), dataset="tiny_imagenet")
