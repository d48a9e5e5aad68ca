from __future__ import annotations

import pytest

from edgeml.errors import EdgeMLError
from edgeml.models import ModelSpec, build_model, check_model_fits_data, load_user_model, model_summary
from edgeml.tf_setup import load_keras


def layer_types(model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


def test_default_mlp_is_the_textbook_mnist_mlp():
    model = build_model(ModelSpec(), (28, 28, 1), 10)
    dense = [layer for layer in model.layers if type(layer).__name__ == "Dense"]
    assert [layer.units for layer in dense] == [256, 64, 32, 10]
    assert [layer.activation.__name__ for layer in dense] == ["relu", "relu", "relu", "softmax"]
    assert layer_types(model)[:2] == ["InputLayer", "Flatten"]
    assert model.count_params() == 784 * 256 + 256 + 256 * 64 + 64 + 64 * 32 + 32 + 32 * 10 + 10


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid", "tanh", "linear"])
def test_mlp_activations(activation):
    model = build_model(ModelSpec(hidden=(8,), activation=activation), (4,), 3)
    if activation == "leaky_relu":
        assert "LeakyReLU" in layer_types(model)
    else:
        assert model.get_layer("dense0").activation.__name__ == activation


def test_mlp_dropout_and_batchnorm():
    model = build_model(ModelSpec(hidden=(16, 8), dropout=0.25, batchnorm=True), (6,), 3)
    types = layer_types(model)
    assert types.count("Dropout") == 2 and types.count("BatchNormalization") == 2
    assert model.get_layer("dropout0").rate == 0.25
    # BatchNorm sits right after its Dense so that it folds at conversion.
    assert types[types.index("Dense") + 1] == "BatchNormalization"


def test_cnn_is_compact_conv_bn_relu_pool():
    model = build_model(ModelSpec.default_for("cnn"), (28, 28, 1), 10)
    assert model.count_params() < 100_000
    types = layer_types(model)
    assert types[1:5] == ["Conv2D", "BatchNormalization", "Activation", "MaxPooling2D"]
    assert types.count("Conv2D") == 2


def test_cnn_options_and_channel_axis():
    spec = ModelSpec(arch="cnn", hidden=(16,), filters=(4, 8), kernel_size=5, pooling="avg")
    model = build_model(spec, (12, 12), 4)  # rank-2 samples get a channel axis
    assert "Reshape" in layer_types(model) and "AveragePooling2D" in layer_types(model)
    assert model.get_layer("conv0").kernel_size == (5, 5)
    assert [model.get_layer(f"conv{i}").filters for i in range(2)] == [4, 8]


def test_conv1d_for_signals_and_binary_output():
    model = build_model(ModelSpec.default_for("conv1d"), (32,), 2)
    # Layers tfmot can wrap for QAT: a one-row image, (1, k) kernels, (1, 2) pools; no Conv1D.
    assert "Conv1D" not in layer_types(model) and "MaxPooling1D" not in layer_types(model)
    assert model.get_layer("as_one_row").output_shape == (None, 1, 32, 1)
    assert model.get_layer("conv0").kernel_size == (1, 3) and model.get_layer("pool0").pool_size == (1, 2)
    assert model.get_layer("pool1").output_shape == (None, 1, 8, 32)
    assert model.output_shape == (None, 1) and model.get_layer("output").activation.__name__ == "sigmoid"
    with pytest.raises(EdgeMLError, match="cannot take inputs"):
        build_model(ModelSpec.default_for("conv1d"), (8, 8, 1), 3)


def test_conv1d_rows_compute_a_1d_convolution():
    """The (1, k) Conv2D over the one-row image equals Keras' Conv1D with the same weights."""
    import numpy as np

    keras = load_keras()
    model = build_model(ModelSpec(arch="conv1d", filters=(5,), hidden=(4,), kernel_size=3), (20, 3), 3)
    conv = model.get_layer("conv0")
    signals = np.random.default_rng(0).normal(size=(4, 20, 3)).astype(np.float32)
    rows = keras.Model(model.input, conv.output)(signals).numpy()
    reference = keras.layers.Conv1D(5, 3, padding="same", use_bias=False)
    reference.build((None, 20, 3))
    reference.set_weights([conv.get_weights()[0][0]])  # (1, k, C, F) -> (k, C, F)
    np.testing.assert_allclose(rows[:, 0], reference(signals).numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(arch="transformer"), "unknown architecture"),
        (dict(activation="gelu"), "unknown activation"),
        (dict(pooling="min"), "unknown pooling"),
        (dict(dropout=1.0), "dropout"),
        (dict(hidden=(16, 0)), "positive"),
    ],
)
def test_bad_specs(kwargs, message):
    with pytest.raises(EdgeMLError, match=message):
        ModelSpec(**kwargs)


def test_spec_round_trips_through_dict():
    spec = ModelSpec(arch="cnn", hidden=(10,), filters=(3, 5), dropout=0.1)
    assert ModelSpec.from_dict(spec.to_dict()) == spec


def test_user_model_loading_and_checks(tmp_path):
    keras = load_keras()
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="softmax")])
    model.save(tmp_path / "user.keras")
    loaded = load_user_model(tmp_path / "user.keras")
    check_model_fits_data(loaded, (5,), 3)
    with pytest.raises(EdgeMLError, match="expects inputs of shape"):
        check_model_fits_data(loaded, (6,), 3)
    with pytest.raises(EdgeMLError, match="3 outputs but the dataset has 4 classes"):
        check_model_fits_data(loaded, (5,), 4)
    assert "dense" in model_summary(loaded)


def test_bad_user_model_files(tmp_path):
    with pytest.raises(EdgeMLError, match="not found"):
        load_user_model(tmp_path / "missing.keras")
    (tmp_path / "model.onnx").write_bytes(b"x")
    with pytest.raises(EdgeMLError, match=r"\.keras or \.h5"):
        load_user_model(tmp_path / "model.onnx")
    (tmp_path / "corrupt.keras").write_bytes(b"not a zip archive")
    with pytest.raises(EdgeMLError, match="cannot load Keras model"):
        load_user_model(tmp_path / "corrupt.keras")
