"""MiniVGGNet: two VGG-style conv blocks and a dense classifier (Rosebrock, DL4CV)."""

import keras
from keras import layers


class MiniVGGNet:
    @staticmethod
    def build(width, height, depth, classes):
        """Return the uncompiled MiniVGGNet for `height` x `width` x `depth` inputs."""
        model = keras.Sequential(name="minivggnet")
        model.add(keras.Input(shape=(height, width, depth)))

        for filters in (32, 64):
            # ReLU before BN, as the book does
            model.add(layers.Conv2D(filters, (3, 3), padding="same"))
            model.add(layers.Activation("relu"))
            model.add(layers.BatchNormalization(axis=-1))
            model.add(layers.Conv2D(filters, (3, 3), padding="same"))
            model.add(layers.Activation("relu"))
            model.add(layers.BatchNormalization(axis=-1))
            model.add(layers.MaxPooling2D(pool_size=(2, 2)))
            model.add(layers.Dropout(0.25))

        model.add(layers.Flatten())
        model.add(layers.Dense(512))
        model.add(layers.Activation("relu"))
        model.add(layers.BatchNormalization(axis=-1))
        model.add(layers.Dropout(0.5))
        model.add(layers.Dense(classes))
        model.add(layers.Activation("softmax"))
        return model
