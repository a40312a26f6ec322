"""The 2019 experiment's settings, one line each: what train.py does when given no option.

Its train.py set the epochs, the batch, the optimizers and the augmentation; keras-radam 0.15.0's
RAdam took the arguments below; the networks are the book's (pyimagesearch's resnet.py,
minigooglenet.py and minivggnet.py), with Keras 2's defaults where they set nothing. train.py's
defaults, the networks' tests and README's table "The original's settings" all read this table.
Plain values and no imports, so that any script can read it without starting Keras.
"""

EPOCHS = 60
BATCH_SIZE = 128  # and len(train) // 128 steps an epoch
LEARNING_RATE = 1e-3  # Adam's and RAdam's
RADAM = dict(total_steps=5000, warmup_proportion=0.1, min_lr=1e-5)  # keras-radam's RAdam(...)
SEED = 42  # not the original's (it set none): train.py's, so that a run is repeatable
IMAGE_SIZE = 32  # MNIST's and Fashion-MNIST's 28x28 resized with OpenCV; pixels / 255

# ImageDataGenerator's arguments, for every training batch.
AUGMENTATION = dict(
    rotation_range=18,
    zoom_range=0.15,
    width_shift_range=0.2,
    height_shift_range=0.2,
    shear_range=0.15,
    horizontal_flip=True,
    fill_mode="nearest",
)

# ResNet.build's arguments after the input shape and classes: the book's CIFAR-10 ResNet.
RESNET = dict(stages=(9, 9, 9), filters=(64, 64, 128, 256), reg=0.0005)
# BatchNormalization's momentum: resnet.py sets 0.9; MiniGoogLeNet and MiniVGGNet keep Keras 2's
# default, 0.99 (Keras 3's too).
BATCH_NORM_MOMENTUM = {"resnet": 0.9, "googlenet": 0.99, "minivggnet": 0.99}

# Not in the 2019 experiment, the reference it lacked: the book's SGD for MiniVGGNet on CIFAR-10
# (its Nesterov momentum and decay left out, so that the rate is constant like Adam's).
SGD = dict(learning_rate=0.01, momentum=0.9)


def table():
    """README's table of these settings, as Markdown rows."""
    rows = [
        ("epochs", EPOCHS),
        ("batch size", BATCH_SIZE),
        ("Adam's and RAdam's learning rate", LEARNING_RATE),
        ("RAdam (keras-radam 0.15.0)", ", ".join(f"{key}={value}" for key, value in RADAM.items())),
        ("augmentation (ImageDataGenerator)", ", ".join(f"{key}={value}" for key, value in AUGMENTATION.items())),
        ("input", f"{IMAGE_SIZE}x{IMAGE_SIZE}, pixels / 255"),
        ("ResNet", ", ".join(f"{key}={value}" for key, value in RESNET.items())),
        ("BatchNormalization momentum", ", ".join(f"{key} {value}" for key, value in BATCH_NORM_MOMENTUM.items())),
        ("SGD (not in the original)", ", ".join(f"{key}={value}" for key, value in SGD.items())),
        ("seed (not in the original)", SEED),
    ]
    return "\n".join(["| setting | value |", "|---|---|"] + [f"| {name} | `{value}` |" for name, value in rows])
