"""Pre-activation bottleneck ResNet for CIFAR-sized inputs (Rosebrock, DL4CV)."""

import keras
from keras import layers
from keras.regularizers import l2


class ResNet:
    @staticmethod
    def residual_module(data, K, stride, red=False, reg=0.0001, bnEps=2e-5, bnMom=0.9):
        """BN-ReLU-Conv bottleneck (1x1 K/4, 3x3 K/4, 1x1 K) plus the shortcut."""
        shortcut = data

        bn1 = layers.BatchNormalization(axis=-1, epsilon=bnEps, momentum=bnMom)(data)
        act1 = layers.Activation("relu")(bn1)
        conv1 = layers.Conv2D(
            int(K * 0.25), (1, 1), use_bias=False, kernel_regularizer=l2(reg)
        )(act1)

        bn2 = layers.BatchNormalization(axis=-1, epsilon=bnEps, momentum=bnMom)(conv1)
        act2 = layers.Activation("relu")(bn2)
        conv2 = layers.Conv2D(
            int(K * 0.25),
            (3, 3),
            strides=stride,
            padding="same",
            use_bias=False,
            kernel_regularizer=l2(reg),
        )(act2)

        bn3 = layers.BatchNormalization(axis=-1, epsilon=bnEps, momentum=bnMom)(conv2)
        act3 = layers.Activation("relu")(bn3)
        conv3 = layers.Conv2D(K, (1, 1), use_bias=False, kernel_regularizer=l2(reg))(act3)

        # Reduce the spatial size / change the depth: the shortcut starts from act1, not data.
        if red:
            shortcut = layers.Conv2D(
                K, (1, 1), strides=stride, use_bias=False, kernel_regularizer=l2(reg)
            )(act1)

        return layers.add([conv3, shortcut])

    @staticmethod
    def build(
        width,
        height,
        depth,
        classes,
        stages,
        filters,
        reg=0.0001,
        bnEps=2e-5,
        bnMom=0.9,
        dataset="cifar",
    ):
        """Return the uncompiled ResNet; `filters[0]` is the stem, `filters[i+1]` stage i."""
        if dataset != "cifar":
            raise ValueError(f"ResNet.build: dataset must be 'cifar', got {dataset!r}")

        inputs = keras.Input(shape=(height, width, depth))
        x = layers.BatchNormalization(axis=-1, epsilon=bnEps, momentum=bnMom)(inputs)
        x = layers.Conv2D(
            filters[0], (3, 3), use_bias=False, padding="same", kernel_regularizer=l2(reg)
        )(x)

        for i in range(len(stages)):
            stride = (1, 1) if i == 0 else (2, 2)
            # As in the book, `reg` is not passed on: the modules use the default 0.0001.
            x = ResNet.residual_module(
                x, filters[i + 1], stride, red=True, bnEps=bnEps, bnMom=bnMom
            )
            for _ in range(stages[i] - 1):
                x = ResNet.residual_module(
                    x, filters[i + 1], (1, 1), bnEps=bnEps, bnMom=bnMom
                )

        x = layers.BatchNormalization(axis=-1, epsilon=bnEps, momentum=bnMom)(x)
        x = layers.Activation("relu")(x)
        x = layers.AveragePooling2D((8, 8))(x)

        x = layers.Flatten()(x)
        x = layers.Dense(classes, kernel_regularizer=l2(reg))(x)
        x = layers.Activation("softmax")(x)
        return keras.Model(inputs, x, name="resnet")
