"""The names a run is made of, for train.py, combinations.py, plot.py and the benchmark.

Plain tuples, so that plot.py can read them without starting Keras.
"""

from pyimagesearch import original

MODELS = ("resnet", "googlenet", "minivggnet")
OPTIMIZERS = ("adam", "radam", "sgd", "rmsprop", "adam-warmup")
ORIGINAL_OPTIMIZERS = ("adam", "radam")
# Each optimizer's learning rate when a run gives none: the original's for Adam and RAdam
# (adam-warmup warms up to it), the book's for SGD, Keras' default (1e-3) for RMSprop.
DEFAULT_LEARNING_RATES = {"adam": original.LEARNING_RATE, "radam": original.LEARNING_RATE,
                          "sgd": original.SGD["learning_rate"], "rmsprop": 1e-3, "adam-warmup": original.LEARNING_RATE}
ORIGINAL_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")
# scikit-learn's 8x8 digits, bundled with it: the offline demo and the tests.
DATASETS = ORIGINAL_DATASETS + ("digits",)
# Ships with scikit-learn: nothing to fetch.
BUNDLED_DATASETS = ("digits",)
