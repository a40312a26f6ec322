"""The 2019 experiment's settings, one line each: what train.py does when given no option; and
the names a run is made of, the original's and those added since.

Its train.py set the epochs, the batch, the optimizers and the augmentation; keras-radam 0.15.0's
RAdam took the arguments below; the networks are the book's (pyimagesearch's resnet.py,
minigooglenet.py and minivggnet.py), with Keras 2's defaults where they set nothing. train.py's
defaults, the networks' tests and README's table "The original's settings" all read this table.
Plain values and no imports, so that any script (plot.py, fetch_data.py) can read it without
starting Keras.
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

# The names a run is made of: 3 networks x 4 data sets x 2 optimizers in 2019, and what the studies
# and the demo added.
MODELS = ("resnet", "googlenet", "minivggnet")
ORIGINAL_OPTIMIZERS = ("adam", "radam")
OPTIMIZERS = ORIGINAL_OPTIMIZERS + ("sgd", "rmsprop", "adam-warmup")
# Each optimizer's learning rate when a run gives none: the original's for Adam and RAdam
# (adam-warmup warms up to it), the book's for SGD, Keras' default (1e-3) for RMSprop.
DEFAULT_LEARNING_RATES = {"adam": LEARNING_RATE, "radam": LEARNING_RATE, "sgd": SGD["learning_rate"],
                          "rmsprop": 1e-3, "adam-warmup": LEARNING_RATE}
ORIGINAL_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")
# scikit-learn's 8x8 digits, bundled with it (nothing to fetch): the offline demo and the tests.
BUNDLED_DATASETS = ("digits",)
DATASETS = ORIGINAL_DATASETS + BUNDLED_DATASETS


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
