"""The names a run is made of, for train.py, combinations.py, plot.py and the benchmark.

Plain tuples and no imports, so that plot.py can read them without starting Keras.
"""

MODELS = ("resnet", "googlenet", "minivggnet")
OPTIMIZERS = ("adam", "radam", "sgd", "rmsprop", "adam-warmup")
ORIGINAL_OPTIMIZERS = ("adam", "radam")
# Each optimizer's learning rate when a run gives none: the original's 1e-3 for Adam and RAdam
# (adam-warmup warms up to it), the book's 0.01 for SGD, Keras' default for RMSprop.
DEFAULT_LEARNING_RATES = {"adam": 1e-3, "radam": 1e-3, "sgd": 0.01, "rmsprop": 1e-3, "adam-warmup": 1e-3}
ORIGINAL_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")
# scikit-learn's 8x8 digits, bundled with it: the offline demo and the tests.
DATASETS = ORIGINAL_DATASETS + ("digits",)
# Ships with scikit-learn: nothing to fetch.
BUNDLED_DATASETS = ("digits",)
