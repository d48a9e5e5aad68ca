"""The plain Keras script a user writes from the TensorFlow tutorials: the yardstick for edgeml's defaults.

Same layers as edgeml's default models, Adam 1e-3, batch 64, sparse categorical cross-entropy, all the
training data (no validation split), the last epoch's weights, pixels scaled by x/255 (Fashion-MNIST) or
x/16 (the 8x8 digits). Only the data comes through edgeml (its loader and its fixed digits split), so both
see the same samples.

    python benchmarks/baseline_keras.py --dataset fashion_mnist --model mlp --epochs 5 10 15 --seed 0

With a constant learning rate and the last epoch's weights, training N epochs and stopping is the same
computation as the first N epochs of a longer run, so one run of the largest budget, evaluated on the
test set after each budget's epoch, stands for one run per budget.
"""

from __future__ import annotations

import argparse
import os

from edgeml.data import load_dataset

BATCH_SIZE = 64
LEARNING_RATE = 1e-3


def build_mlp(keras, input_shape: tuple[int, ...], num_classes: int):
    """Flatten -> Dense 256 -> 64 -> 32 (ReLU) -> softmax, as in the Keras/TensorFlow beginner tutorials."""
    return keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.Flatten(),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(num_classes, activation="softmax"),
    ])


def build_cnn(keras, input_shape: tuple[int, ...], num_classes: int):
    """(Conv 3x3 -> BatchNorm -> ReLU -> MaxPool) for 16 then 32 filters -> Dense 48 -> softmax."""
    layers = [keras.Input(shape=input_shape)]
    size = min(input_shape[:2])
    for filters in (16, 32):
        layers += [
            keras.layers.Conv2D(filters, 3, padding="same", use_bias=False),
            keras.layers.BatchNormalization(momentum=0.9),
            keras.layers.Activation("relu"),
        ]
        if size >= 2:
            layers.append(keras.layers.MaxPooling2D(2))
            size //= 2
    layers += [
        keras.layers.Flatten(),
        keras.layers.Dense(48, activation="relu"),
        keras.layers.Dense(num_classes, activation="softmax"),
    ]
    return keras.Sequential(layers)


def baseline_accuracies(dataset_name: str, model: str, budgets: tuple[int, ...], seed: int) -> dict[int, float]:
    """Test accuracy (fraction) after each epoch count in ``budgets`` of one seeded run."""
    # Keras 2 (tf_keras), like edgeml, so the comparison measures the settings and not the Keras version.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf

    keras = tf.keras
    dataset = load_dataset(dataset_name)
    x_train, x_test = dataset.train_inputs(), dataset.test_inputs()  # x/255, or x/16 for digits
    keras.utils.set_random_seed(seed)
    builder = build_mlp if model == "mlp" else build_cnn
    network = builder(keras, dataset.input_shape, dataset.num_classes)
    network.compile(
        optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    accuracies: dict[int, float] = {}

    class EvaluateAtBudgets(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 in budgets:
                _, accuracy = self.model.evaluate(x_test, dataset.y_test, batch_size=256, verbose=0)
                accuracies[epoch + 1] = float(accuracy)

    network.fit(
        x_train, dataset.y_train, batch_size=BATCH_SIZE, epochs=max(budgets), shuffle=True,
        callbacks=[EvaluateAtBudgets()], verbose=2,
    )
    return accuracies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion_mnist", choices=("fashion_mnist", "digits", "mnist"))
    parser.add_argument("--model", default="mlp", choices=("mlp", "cnn"))
    parser.add_argument("--epochs", type=int, nargs="+", default=[5, 10, 15])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for epochs, accuracy in sorted(baseline_accuracies(args.dataset, args.model, tuple(args.epochs), args.seed).items()):
        print(f"{args.model} on {args.dataset}, seed {args.seed}, {epochs} epochs: test accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
