"""AffineAugmentation against the legacy ImageDataGenerator it replaces.

The reference is Keras' own legacy `apply_affine_transform` (scipy, per image,
per channel, float64), imported from `keras.src.legacy.preprocessing.image`.
Images are non-square and non-symmetric (13x17) so that any row/column or
x/y mix-up shows.
"""

import keras
import numpy as np
import pytest
import scipy.stats
from keras import ops
from keras.src.legacy.preprocessing.image import apply_affine_transform

from pyimagesearch.augmentation import AffineAugmentation, affine_matrices, warp
from pyimagesearch.original import AUGMENTATION

HEIGHT, WIDTH = 13, 17
PARAMETER_NAMES = ("theta", "tx", "ty", "shear", "zx", "zy")
NEUTRAL = dict(theta=0.0, tx=0.0, ty=0.0, shear=0.0, zx=1.0, zy=1.0)
# Each transform alone, then all together (large enough to move pixels).
CASES = {
    "rotation": dict(theta=20.0),
    "x shift": dict(tx=3.3),
    "y shift": dict(ty=-2.7),
    "shear": dict(shear=25.0),
    "zoom x": dict(zx=1.3),
    "zoom y": dict(zy=0.8),
    "all": dict(theta=-17.0, tx=2.2, ty=-1.5, shear=8.0, zx=0.9, zy=1.15),
}
# Everything the reference experiment turned on.
REFERENCE_ARGS = AUGMENTATION
# On JAX every eager op compiles once per shape: the layer-call tests share
# this batch shape to keep the suite fast.
BATCH = 16


def random_images(batch, channels, seed=0):
    return np.random.default_rng(seed).random((batch, HEIGHT, WIDTH, channels)).astype("float32")


def legacy_warp(image, fill_mode="nearest", **params):
    """ImageDataGenerator.apply_transform's affine step for one channels-last image."""
    return apply_affine_transform(
        image.astype("float64"),
        **params,
        row_axis=0,
        col_axis=1,
        channel_axis=2,
        fill_mode=fill_mode,
        order=1,
    )


def fixed_warp(images, cases, fill_mode="nearest"):
    """Our fixed-parameter path, one parameter set per image, one warp call."""
    columns = [np.array([c[name] for c in cases], "float32") for name in PARAMETER_NAMES]
    matrices = affine_matrices(*columns, HEIGHT, WIDTH)
    return ops.convert_to_numpy(warp(images, matrices, fill_mode))


@pytest.mark.backend
@pytest.mark.parametrize("channels", [1, 3])
def test_warp_matches_legacy_apply_affine_transform(channels):
    cases = [{**NEUTRAL, **c} for c in CASES.values()]
    images = random_images(len(cases), channels)
    warped = fixed_warp(images, cases)
    for name, image, params, ours in zip(CASES, images, cases, warped):
        reference = legacy_warp(image, **params)
        assert not np.allclose(reference, image, atol=0.05), name  # it moved
        np.testing.assert_allclose(ours, reference, atol=1e-4, err_msg=name)


@pytest.mark.backend
def test_warp_fill_modes_against_scipy():
    params = {**NEUTRAL, **CASES["all"]}
    images = random_images(1, 3)
    # "reflect" is scipy's "reflect"; our "constant" is scipy's "grid-constant"
    # (it blends towards cval in the border pixel, legacy "constant" does not).
    for ours_mode, scipy_mode in [("reflect", "reflect"), ("constant", "grid-constant")]:
        ours = fixed_warp(images, [params], ours_mode)[0]
        reference = legacy_warp(images[0], scipy_mode, **params)
        np.testing.assert_allclose(ours, reference, atol=1e-4, err_msg=ours_mode)


@pytest.mark.backend
def test_identity_parameters_give_the_identity_warp():
    images = random_images(2, 3)
    np.testing.assert_allclose(fixed_warp(images, [NEUTRAL, NEUTRAL]), images, atol=1e-6)


@pytest.mark.backend
def test_random_path_matches_legacy_with_the_drawn_parameters():
    """call() = draw_parameters -> affine_matrices -> warp -> flip, in that order."""
    # Two layers with the same seed draw the same stream: one's draw_parameters
    # says which parameters the other's call used.
    images = random_images(BATCH, 3)
    drawn = AffineAugmentation(**REFERENCE_ARGS, seed=7).draw_parameters(BATCH, HEIGHT, WIDTH)
    drawn = {k: ops.convert_to_numpy(v) for k, v in drawn.items()}
    assert 0 < drawn["flip"].sum() < BATCH
    layer = AffineAugmentation(**REFERENCE_ARGS, seed=7)
    outputs = ops.convert_to_numpy(layer(images, training=True))
    for i, (image, output) in enumerate(zip(images, outputs)):
        reference = legacy_warp(image, **{k: float(drawn[k][i]) for k in PARAMETER_NAMES})
        if drawn["flip"][i]:
            reference = reference[:, ::-1]
        np.testing.assert_allclose(output, reference, atol=1e-4, err_msg=f"image {i}")


@pytest.mark.backend
def test_zero_ranges_are_the_identity_in_training():
    images = random_images(BATCH, 3)
    outputs = AffineAugmentation(seed=1)(images, training=True)
    np.testing.assert_array_equal(ops.convert_to_numpy(outputs), images)


@pytest.mark.backend
def test_inactive_outside_training():
    images = random_images(BATCH, 3)
    layer = AffineAugmentation(**REFERENCE_ARGS, seed=1)
    for outputs in (layer(images), layer(images, training=False)):
        np.testing.assert_array_equal(ops.convert_to_numpy(outputs), images)
    assert not np.allclose(ops.convert_to_numpy(layer(images, training=True)), images)


@pytest.mark.backend
def test_horizontal_flip_mirrors_about_half_of_the_images():
    n = 2000
    images = random_images(n, 1)
    layer = AffineAugmentation(horizontal_flip=True, seed=3)
    outputs = ops.convert_to_numpy(layer(images, training=True))
    same = np.all(outputs == images, axis=(1, 2, 3))
    mirrored = np.all(outputs == images[:, :, ::-1], axis=(1, 2, 3))
    assert np.all(same ^ mirrored)
    # Binomial(2000, 0.5): standard deviation ~22, so +-5 sd is [888, 1112].
    assert abs(mirrored.sum() - n / 2) < 5 * np.sqrt(n) / 2


def assert_uniform(values, low, high, name):
    n = len(values)
    assert low <= values.min() and values.max() <= high, name
    span = high - low
    assert values.min() < low + 0.01 * span and values.max() > high - 0.01 * span, name
    # Mean of U(low, high): standard error span / sqrt(12 n); allow 5 of them.
    assert abs(values.mean() - (low + high) / 2) < 5 * span / np.sqrt(12 * n), name
    assert scipy.stats.kstest(values, "uniform", args=(low, span)).pvalue > 1e-3, name


@pytest.mark.backend
def test_drawn_parameters_follow_the_legacy_uniform_ranges():
    n, height, width = 20000, 32, 40
    layer = AffineAugmentation(**REFERENCE_ARGS, seed=11)
    drawn = layer.draw_parameters(n, height, width)
    drawn = {k: ops.convert_to_numpy(v) for k, v in drawn.items()}
    assert_uniform(drawn["theta"], -18, 18, "theta")
    # tx is a fraction of the rows, ty of the columns (legacy naming).
    assert_uniform(drawn["tx"], -0.2 * height, 0.2 * height, "tx")
    assert_uniform(drawn["ty"], -0.2 * width, 0.2 * width, "ty")
    assert_uniform(drawn["shear"], -0.15, 0.15, "shear")  # degrees
    assert_uniform(drawn["zx"], 0.85, 1.15, "zx")
    assert_uniform(drawn["zy"], 0.85, 1.15, "zy")
    assert abs(np.corrcoef(drawn["zx"], drawn["zy"])[0, 1]) < 5 / np.sqrt(n)  # independent
    assert abs(drawn["flip"].mean() - 0.5) < 5 * 0.5 / np.sqrt(n)


def test_shift_ranges_in_pixels_and_lists():
    layer = AffineAugmentation(height_shift_range=2.5, width_shift_range=3, seed=5)
    drawn = layer.draw_parameters(4000, 32, 40)
    tx, ty = ops.convert_to_numpy(drawn["tx"]), ops.convert_to_numpy(drawn["ty"])
    assert_uniform(tx, -2.5, 2.5, "float >= 1 means pixels")
    # An int n is np.random.choice(n) (0 .. n-1) with a random sign.
    assert set(np.unique(ty)) == {-2.0, -1.0, 0.0, 1.0, 2.0}
    layer = AffineAugmentation(width_shift_range=[0.25, 0.5], seed=5)
    ty = ops.convert_to_numpy(layer.draw_parameters(4000, 32, 40)["ty"])
    assert set(np.unique(ty)) == {-20.0, -10.0, 10.0, 20.0}  # fractions of the width


def test_invalid_arguments():
    with pytest.raises(ValueError, match="fill_mode"):
        AffineAugmentation(fill_mode="mirror")
    with pytest.raises(ValueError, match="zoom_range"):
        AffineAugmentation(zoom_range=(0.9, 1.0, 1.1))


def test_get_config_round_trip():
    layer = AffineAugmentation(**REFERENCE_ARGS, cval=0.5, seed=42, name="augment")
    config = layer.get_config()
    for key, value in {**REFERENCE_ARGS, "cval": 0.5, "seed": 42}.items():
        assert config[key] == value, key
    assert AffineAugmentation.from_config(config).get_config() == config
    layer = AffineAugmentation(zoom_range=[0.8, 1.2])
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(clone, AffineAugmentation)
    assert clone.get_config() == layer.get_config()
    assert clone.zoom_bounds == [0.8, 1.2]


@pytest.mark.backend
def test_the_warp_stays_float32_under_mixed_precision():
    images = random_images(BATCH, 3)
    plain = AffineAugmentation(**REFERENCE_ARGS, seed=3)(images, training=True)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        layer = AffineAugmentation(**REFERENCE_ARGS, seed=3)
        mixed = layer(images, training=True)
        clone = AffineAugmentation.from_config(layer.get_config())
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert layer.compute_dtype == clone.compute_dtype == "float32"
    assert keras.backend.standardize_dtype(mixed.dtype) == "float32"
    np.testing.assert_array_equal(ops.convert_to_numpy(mixed), ops.convert_to_numpy(plain))


def tiny_model():
    return keras.Sequential(
        [
            keras.Input((HEIGHT, WIDTH, 3)),
            AffineAugmentation(**REFERENCE_ARGS, seed=0),
            keras.layers.Flatten(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )


@pytest.mark.backend
def test_fit_save_and_load(tmp_path):
    images = random_images(40, 3)
    labels = keras.utils.to_categorical(np.arange(40) % 2, 2)
    model = tiny_model()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    if keras.backend.backend() == "jax":
        assert model.jit_compile  # the layer runs inside the jitted train step
    history = model.fit(images, labels, batch_size=16, epochs=2, verbose=0)  # last batch: 8
    assert np.all(np.isfinite(history.history["loss"]))
    layer = model.layers[0]
    state = ops.convert_to_numpy(layer.seed_generator.state)
    assert not np.array_equal(state, [0, 0])  # the generator advanced in the train step

    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    loaded_layer = loaded.layers[0]
    assert isinstance(loaded_layer, AffineAugmentation)
    assert loaded_layer.get_config() == layer.get_config()
    # The generator state travels with the model: the reloaded layer continues
    # the random stream (same config + same state = same draws).
    np.testing.assert_array_equal(ops.convert_to_numpy(loaded_layer.seed_generator.state), state)
    np.testing.assert_allclose(
        loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6
    )
