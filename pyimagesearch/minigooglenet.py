"""MiniGoogLeNet: the small Inception network for 32x32 inputs (Rosebrock, DL4CV)."""

import keras
from keras import layers


class MiniGoogLeNet:
    @staticmethod
    def conv_module(x, K, kX, kY, stride, padding="same"):
        """Conv -> BN -> ReLU."""
        x = layers.Conv2D(K, (kX, kY), strides=stride, padding=padding)(x)
        x = layers.BatchNormalization(axis=-1)(x)
        x = layers.Activation("relu")(x)
        return x

    @staticmethod
    def inception_module(x, numK1x1, numK3x3):
        """Concatenate a 1x1 and a 3x3 conv module on the channel axis."""
        conv_1x1 = MiniGoogLeNet.conv_module(x, numK1x1, 1, 1, (1, 1))
        conv_3x3 = MiniGoogLeNet.conv_module(x, numK3x3, 3, 3, (1, 1))
        return layers.concatenate([conv_1x1, conv_3x3], axis=-1)

    @staticmethod
    def downsample_module(x, K):
        """Halve the spatial size with a strided 3x3 conv module beside a 3x3 max pool."""
        conv_3x3 = MiniGoogLeNet.conv_module(x, K, 3, 3, (2, 2), padding="valid")
        pool = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
        return layers.concatenate([conv_3x3, pool], axis=-1)

    @staticmethod
    def build(width, height, depth, classes):
        """Return the uncompiled MiniGoogLeNet for `height` x `width` x `depth` inputs."""
        inputs = keras.Input(shape=(height, width, depth))
        x = MiniGoogLeNet.conv_module(inputs, 96, 3, 3, (1, 1))

        x = MiniGoogLeNet.inception_module(x, 32, 32)
        x = MiniGoogLeNet.inception_module(x, 32, 48)
        x = MiniGoogLeNet.downsample_module(x, 80)

        x = MiniGoogLeNet.inception_module(x, 112, 48)
        x = MiniGoogLeNet.inception_module(x, 96, 64)
        x = MiniGoogLeNet.inception_module(x, 80, 80)
        x = MiniGoogLeNet.inception_module(x, 48, 96)
        x = MiniGoogLeNet.downsample_module(x, 96)

        x = MiniGoogLeNet.inception_module(x, 176, 160)
        x = MiniGoogLeNet.inception_module(x, 176, 160)
        x = layers.AveragePooling2D((7, 7))(x)
        x = layers.Dropout(0.5)(x)

        x = layers.Flatten()(x)
        x = layers.Dense(classes)(x)
        x = layers.Activation("softmax")(x)
        return keras.Model(inputs, x, name="minigooglenet")
