"""The names a run is made of, for train.py, combinations.py, plot.py and the benchmark.

Plain tuples and no imports, so that plot.py can read them without starting Keras.
"""

MODELS = ("resnet", "googlenet", "minivggnet")
OPTIMIZERS = ("adam", "radam", "sgd", "rmsprop", "adam-warmup")
ORIGINAL_OPTIMIZERS = ("adam", "radam")
ORIGINAL_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")
# scikit-learn's 8x8 digits, bundled with it: the offline demo and the tests.
DATASETS = ORIGINAL_DATASETS + ("digits",)
