"""ImageDataGenerator's random affine augmentation as one Keras 3 layer.

The reference experiment augmented its training batches with Keras 2's
`ImageDataGenerator(rotation_range=18, zoom_range=0.15, width_shift_range=0.2,
height_shift_range=0.2, shear_range=0.15, horizontal_flip=True, fill_mode="nearest")`.
In Keras 3 that class only survives in `keras.src.legacy.preprocessing.image`, it
imports TensorFlow, and it transforms one image at a time on the CPU with
`scipy.ndimage.affine_transform`. Keras 3's `RandomRotation`, `RandomZoom`, ...
layers are not a drop-in either: they use other parameter conventions (fractions
of a turn, signed zoom factors, reflect fill by default).

`AffineAugmentation` takes ImageDataGenerator's keyword arguments with the same
names, meanings and defaults, draws one parameter set per image with
`keras.random`, composes ONE affine matrix per image exactly as the legacy
`apply_affine_transform` does, and warps the whole batch with a single
`keras.ops.image.affine_transform` call. It runs inside the compiled train step,
on the accelerator, with the TensorFlow, JAX and PyTorch backends.

The fixed-parameter path (`affine_matrices` then `warp`) is public so that tests
can compare it with the legacy scipy implementation, and the layer uses exactly
these functions.
"""

import math
import numbers

import keras
from keras import ops

# ImageDataGenerator's fill modes; `keras.ops.image.affine_transform` supports
# all four on every backend. "nearest" (the reference's) and "reflect" match
# scipy exactly. "constant" matches scipy's "grid-constant": within one pixel of
# the border it blends towards `cval`, where the legacy scipy "constant" does not.
# "wrap" differs from scipy's legacy "wrap" (and between backends) at the border.
FILL_MODES = ("constant", "nearest", "reflect", "wrap")


def affine_matrices(theta, tx, ty, shear, zx, zy, height, width):
    """Composes the legacy ImageDataGenerator affine matrix for each image.

    Reproduces `apply_affine_transform` + `transform_matrix_offset_center`
    from `keras.src.legacy.preprocessing.image`:
    `M = C @ R(theta) @ T(tx, ty) @ S(shear) @ Z(zx, zy) @ C^-1`.

    Args:
        theta: (batch,) rotation angles, in degrees.
        tx, ty: (batch,) shifts in pixels, as drawn by the legacy code
            (`tx` from `height_shift_range`, `ty` from `width_shift_range`).
        shear: (batch,) shear angles, in degrees.
        zx, zy: (batch,) zoom factors (> 1 zooms out).
        height, width: image size (ints or scalar tensors).

    Returns:
        (batch, 8) float32 transforms in the format of
        `keras.ops.image.affine_transform`: each row
        `[a0, a1, a2, b0, b1, b2, 0, 0]` maps an output pixel `(x=col, y=row)`
        to the input point `(a0 x + a1 y + a2, b0 x + b1 y + b2)` it samples.
    """
    theta, tx, ty, shear, zx, zy = (
        ops.cast(ops.convert_to_tensor(p), "float32")
        for p in (theta, tx, ty, shear, zx, zy)
    )
    # Like the legacy code, both angles are in degrees (the shear too: a
    # `shear_range` of 0.15 means at most 0.15 degrees).
    theta = theta * (math.pi / 180.0)
    shear = shear * (math.pi / 180.0)
    cos, sin = ops.cos(theta), ops.sin(theta)

    # R @ T @ S @ Z multiplied out, with R = [[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]],
    # T = [[1, 0, tx], [0, 1, ty], [0, 0, 1]], S = [[1, -sin(shear), 0], [0, cos(shear), 0],
    # [0, 0, 1]], Z = diag(zx, zy, 1): elementwise formulas compile to one fused kernel where
    # six batched 3x3 products were a dozen small ones.
    a = cos * zx
    b = -zy * ops.sin(theta + shear)
    c = sin * zx
    d = zy * ops.cos(theta + shear)
    e = cos * tx - sin * ty
    f = sin * tx + cos * ty

    # Legacy `transform_matrix_offset_center(matrix, h, w)` centres the first
    # coordinate on (h - 1) / 2 and the second on (w - 1) / 2: M = C @ (R T S Z) @ C^-1,
    # whose translation is t + o - L o for the linear part L and the centre o.
    o_x = (ops.cast(height, "float32") - 1.0) / 2.0
    o_y = (ops.cast(width, "float32") - 1.0) / 2.0
    e = e + o_x - (a * o_x + b * o_y)
    f = f + o_y - (c * o_x + d * o_y)

    # The legacy code then treats its matrix as acting on (x, y) = (col, row)
    # and permutes it to (row, col) for scipy. `affine_transform` also works in
    # (x=col, y=row), so the matrix is already in the right order: its first two
    # rows are the 8-parameter transform. (A consequence, kept for fidelity:
    # `tx`, drawn as a fraction of the rows, shifts along the columns, zx zooms
    # the columns, and on non-square images the centre is (row=(w-1)/2,
    # col=(h-1)/2). For square images such as 32x32 none of this matters.)
    zeros = ops.zeros_like(a)
    return ops.stack([a, b, e, c, d, f, zeros, zeros], axis=-1)


def warp(images, matrices, fill_mode="nearest", fill_value=0.0):
    """Warps a channels-last batch `(batch, h, w, c)`, one matrix per image.

    Bilinear sampling, as the legacy `interpolation_order=1`. `matrices` are
    `(batch, 8)` transforms as returned by `affine_matrices`.
    """
    if fill_mode not in FILL_MODES:
        raise ValueError(f"fill_mode must be one of {FILL_MODES}, got {fill_mode!r}.")
    # The torch backend of affine_transform permutes its `transform` argument
    # in place: hand it a copy so the caller's matrices stay intact.
    return ops.image.affine_transform(
        images,
        ops.copy(matrices),
        interpolation="bilinear",
        fill_mode=fill_mode,
        fill_value=fill_value,
        data_format="channels_last",
    )


def generator_seed(seed):
    """`seed` (None, or 0 to 2**32 - 1) as this backend's SeedGenerator takes it. PyTorch's holds
    its state in int32 and reads it back as uint32, so a seed of 2**31 or more goes in as the
    int32 of the same bits: as it is, it stopped the run with a traceback."""
    if seed is not None and seed >= 2**31 and keras.backend.backend() == "torch":
        return seed - 2**32
    return seed


def flip_horizontally(images, flip):
    """Mirrors the images (batch, h, w, c) whose boolean `flip` is True."""
    return ops.where(ops.reshape(flip, (-1, 1, 1, 1)), ops.flip(images, axis=2), images)


@keras.saving.register_keras_serializable(package="pyimagesearch")
class AffineAugmentation(keras.layers.Layer):
    """Random affine augmentation with ImageDataGenerator's arguments.

    Args:
        rotation_range: degrees; `theta ~ U(-rotation_range, rotation_range)`.
        width_shift_range: float: `ty ~ U(-r, r)`, times the width if r < 1
            (else pixels); int n: integer pixels in (-n, n); list: one of its
            values with a random sign (times the width if all are < 1).
        height_shift_range: same for `tx` and the height.
        shear_range: degrees; `shear ~ U(-shear_range, shear_range)`.
        zoom_range: float z means `[1 - z, 1 + z]`, or a `[lower, upper]`
            pair; `zx` and `zy` are drawn independently from it.
        horizontal_flip: mirror each image with probability 0.5 (after the
            affine warp).
        fill_mode: one of `"constant"`, `"nearest"`, `"reflect"`, `"wrap"`.
        cval: value outside the image when `fill_mode="constant"`.
        seed: seed of the layer's `keras.random.SeedGenerator`.

    Only active with `training=True`; otherwise the inputs are returned as is.
    Inputs are channels-last batches `(batch, height, width, channels)`.
    """

    def __init__(
        self,
        rotation_range=0,
        width_shift_range=0.0,
        height_shift_range=0.0,
        shear_range=0.0,
        zoom_range=0.0,
        horizontal_flip=False,
        fill_mode="nearest",
        cval=0.0,
        seed=None,
        **kwargs,
    ):
        # The warp computes in float32 under any global policy: under mixed_bfloat16 the pixel
        # values would otherwise keep 8 bits of mantissa, coarser than the images' 1/255 levels.
        # The network's first layer casts its input to bfloat16 itself.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if fill_mode not in FILL_MODES:
            raise ValueError(f"fill_mode must be one of {FILL_MODES}, got {fill_mode!r}.")
        if isinstance(zoom_range, numbers.Real):
            zoom_bounds = [1.0 - zoom_range, 1.0 + zoom_range]
        elif len(zoom_range) == 2 and all(isinstance(z, numbers.Real) for z in zoom_range):
            zoom_bounds = [float(zoom_range[0]), float(zoom_range[1])]
        else:
            raise ValueError(
                f"zoom_range must be a float or a [lower, upper] pair, got {zoom_range!r}."
            )

        self.rotation_range = rotation_range
        self.width_shift_range = width_shift_range
        self.height_shift_range = height_shift_range
        self.shear_range = shear_range
        self.zoom_range = zoom_range
        self.horizontal_flip = horizontal_flip
        self.fill_mode = fill_mode
        self.cval = cval
        self.seed = seed
        self.zoom_bounds = zoom_bounds
        self.seed_generator = keras.random.SeedGenerator(generator_seed(seed))
        # TensorFlow has no XLA kernel for the op behind affine_transform
        # (ImageProjectiveTransformV3): this makes `jit_compile="auto"` fall
        # back to a plain tf.function graph there. JAX jit-compiles it fine.
        self.supports_jit = keras.backend.backend() != "tensorflow"
        # Static switch, like the legacy code skipping the warp when its
        # transform matrix is None: with every geometric range off, no warp.
        self.warps = bool(
            rotation_range
            or width_shift_range
            or height_shift_range
            or shear_range
            or zoom_bounds != [1.0, 1.0]
        )

    def _shift(self, shift_range, size, u, u_sign):
        """Pixel shifts from two uniform columns, as the legacy `get_random_transform` draws tx / ty."""
        if not shift_range:
            return ops.zeros_like(u)
        if isinstance(shift_range, numbers.Real) and not isinstance(
            shift_range, numbers.Integral
        ):
            shift = -shift_range + 2.0 * shift_range * u
            largest = shift_range
        else:
            # The legacy `np.random.choice(shift_range)`: an int n gives one of
            # 0 .. n-1, a list one of its values; then a random sign.
            if isinstance(shift_range, numbers.Integral):
                values = list(range(shift_range))
            else:
                values = [float(v) for v in shift_range]
            index = ops.minimum(ops.cast(u * len(values), "int32"), len(values) - 1)
            sign = ops.where(u_sign < 0.5, -1.0, 1.0)
            shift = ops.take(ops.convert_to_tensor(values, "float32"), index) * sign
            largest = max(values)
        if largest < 1:  # a fraction of the image size, else pixels
            shift = shift * ops.cast(size, "float32")
        return shift

    def draw_parameters(self, batch_size, height, width):
        """Draws one legacy `get_random_transform` parameter set per image.

        Returns a dict of (batch_size,) tensors: `theta`, `tx`, `ty`, `shear`
        (degrees and pixels, as the legacy code), `zx`, `zy` and the boolean
        `flip`. A range that is off gives its neutral value.
        """
        # One draw of independent uniforms, a column per parameter: one random-number kernel
        # per step instead of seven.
        u = keras.random.uniform((batch_size, 9), seed=self.seed_generator)
        u = [u[:, column] for column in range(9)]
        r, s = self.rotation_range, self.shear_range
        low, high = self.zoom_bounds
        return {
            "theta": -r + 2.0 * r * u[0],
            "tx": self._shift(self.height_shift_range, height, u[1], u[2]),
            "ty": self._shift(self.width_shift_range, width, u[3], u[4]),
            "shear": -s + 2.0 * s * u[5],
            "zx": low + (high - low) * u[6],
            "zy": low + (high - low) * u[7],
            "flip": (u[8] < 0.5) if self.horizontal_flip else ops.zeros_like(u[8]) > 1.0,
        }

    def call(self, inputs, training=None):
        if not training:
            return inputs
        images = ops.cast(inputs, self.compute_dtype)
        batch_size, height, width = ops.shape(images)[:3]
        params = self.draw_parameters(batch_size, height, width)
        if self.warps:
            matrices = affine_matrices(
                params["theta"],
                params["tx"],
                params["ty"],
                params["shear"],
                params["zx"],
                params["zy"],
                height,
                width,
            )
            images = warp(images, matrices, self.fill_mode, self.cval)
        if self.horizontal_flip:
            images = flip_horizontally(images, params["flip"])
        return images

    # Keras saves the variables a layer tracks, but not its SeedGenerator's
    # state: store it too, so that a reloaded model continues the random
    # stream instead of restarting it from `seed`.
    def save_own_variables(self, store):
        super().save_own_variables(store)
        store["seed_generator_state"] = self.seed_generator.state

    def load_own_variables(self, store):
        # The layer has no other variables (nothing to hand to super()).
        if "seed_generator_state" in store:
            self.seed_generator.state.assign(store["seed_generator_state"])

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "rotation_range": self.rotation_range,
                "width_shift_range": self.width_shift_range,
                "height_shift_range": self.height_shift_range,
                "shear_range": self.shear_range,
                "zoom_range": self.zoom_range,
                "horizontal_flip": self.horizontal_flip,
                "fill_mode": self.fill_mode,
                "cval": self.cval,
                "seed": self.seed,
            }
        )
        return config
