"""Data normalisation and the dataset helpers (edgeml/data.py), TF-free: every value against numpy or one
worked out by hand. Kills mutmut's mutants; see docs/MUTATION.md."""

from __future__ import annotations

import gzip
import json
import struct

import numpy as np
import pytest

from conftest import write_idx
from edgeml.data import (Dataset, DatasetInfo, Normalization, balanced_indices, choose_normalization,
                         format_dataset_infos, load_dataset, parse_normalize, read_idx, subset,
                         train_validation_split, validate_arrays)
from edgeml.errors import EdgeMLError


# ------------------------------------------------------------------------------------------ Normalization


def test_defaults_are_pixels_over_255_as_floats():
    default = Normalization()
    assert (default.mean, default.std, default.method, default.note) == (0.0, 255.0, "custom", "")
    assert type(default.mean) is float and type(Normalization(1, 2).std) is float
    assert default.channels is None


def test_values_become_floats_or_tuples_of_floats():
    n = Normalization([1, 2, 3], np.array([[4.0], [5.0], [6.0]]))
    assert (n.mean, n.std, n.channels) == ((1.0, 2.0, 3.0), (4.0, 5.0, 6.0), 3)
    assert all(type(v) is float for v in n.mean + n.std)
    single = Normalization((7,), [2])
    assert (single.mean, single.std, single.channels) == (7.0, 2.0, None)
    assert Normalization(0.5, (1.0, 2.0)).channels == 2 and Normalization((1.0, 2.0), 3.0).channels == 2
    # method and note do not take part in comparisons
    assert Normalization(1.0, 2.0, method="pixels", note="x") == Normalization(1.0, 2.0)
    assert Normalization(1.0, 2.0) != Normalization(1.0, 2.5) and Normalization(1.0, 2.0) != Normalization(1.5, 2.0)


@pytest.mark.parametrize("mean, std, message", [
    (0.0, 0.0, "normalisation std must be positive, got (x - 0) / 0"),
    (0.0, -1.0, "normalisation std must be positive, got (x - 0) / -1"),
    (0.0, (1.0, 0.0), "normalisation std must be positive, got (x - 0) / [1, 0]"),
    (float("nan"), 1.0, "normalisation mean and std must be finite numbers, got (x - nan) / 1"),
    (0.0, float("inf"), "normalisation mean and std must be finite numbers, got (x - 0) / inf"),
    ((1.0, float("-inf")), 1.0, "normalisation mean and std must be finite numbers, got (x - [1, -inf]) / 1"),
    ((1.0, 2.0), (1.0, 2.0, 3.0), "normalisation has 2 means but 3 stds; give one per channel"),
    ((1.0, 2.0, 3.0), (1.0, 2.0), "normalisation has 3 means but 2 stds; give one per channel"),
])
def test_invalid_values_are_refused(mean, std, message):
    with pytest.raises(EdgeMLError) as caught:
        Normalization(mean, std)
    assert str(caught.value) == message


def test_apply_is_raw_minus_mean_over_std_in_float32():
    raw = np.array([[0, 51, 255]], np.uint8)
    out = Normalization(0.0, 255.0).apply(raw)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.array([[0, 51, 255]], np.float32) / np.float32(255))
    np.testing.assert_allclose(Normalization(10.0, 4.0).apply([2.0, 18.0]), [-2.0, 2.0])
    per_channel = Normalization((1.0, 2.0), (2.0, 4.0)).apply(np.array([[3.0, 10.0], [1.0, 2.0]]))
    np.testing.assert_array_equal(per_channel, [[1.0, 2.0], [0.0, 0.0]])
    # A scalar mean with a per-channel std broadcasts too.
    np.testing.assert_array_equal(Normalization(1.0, (1.0, 2.0)).apply([[3.0, 5.0]]), [[2.0, 2.0]])
    assert Normalization(0.0, 2.0).apply(np.float64(3.0)) == np.float32(1.5)


def test_apply_refuses_inputs_without_the_channels():
    normalization = Normalization((1.0, 2.0, 3.0), 1.0)
    with pytest.raises(EdgeMLError) as caught:
        normalization.apply(np.zeros((2, 4)))
    assert str(caught.value) == "the normalisation has 3 channels but the inputs' last axis is 4 (shape (2, 4))"
    with pytest.raises(EdgeMLError) as caught:
        normalization.apply(np.float32(1.0))
    assert str(caught.value) == "the normalisation has 3 channels but the inputs' last axis is missing (shape ())"
    assert normalization.apply(np.zeros((5, 3))).shape == (5, 3)
    # the last axis, not the second
    for shape in ((2, 3, 4), (2, 5, 4)):
        with pytest.raises(EdgeMLError) as caught:
            normalization.apply(np.zeros(shape))
        assert str(caught.value) == f"the normalisation has 3 channels but the inputs' last axis is 4 (shape {shape})"
    assert normalization.apply(np.zeros((2, 4, 3))).shape == (2, 4, 3)


def test_apply_computes_in_float32_as_the_firmware_does():
    """Raw value, mean and std each rounded to float32 first, then float32 arithmetic (the C header's
    ``(x - mean) / std`` in float): for these values any one of them kept in float64 gives 2.8613327."""
    expected = (np.float32(115.642) - np.float32(0.13)) / np.float32(40.37)
    assert expected == np.float32(2.861333)
    assert Normalization(0.13, 40.37).apply(np.array([115.642])) == expected
    assert Normalization((0.13, 0.0), (40.37, 1.0)).apply(np.array([[115.642, 2.0]])).tolist() == [[expected, 2.0]]


def test_then_composes_two_normalisations():
    first, second = Normalization(2.0, 4.0), Normalization(0.5, 3.0)
    composed = first.then(second)
    # ((x - 2)/4 - 0.5)/3 = (x - 4) / 12
    assert (composed.mean, composed.std) == (4.0, 12.0)
    x = np.array([4.0, 16.0, -8.0])
    np.testing.assert_allclose(composed.apply(x), second.apply(first.apply(x)), rtol=1e-6)
    per_channel = Normalization((1.0, 2.0), (2.0, 5.0)).then(Normalization((3.0, -1.0), 10.0))
    assert (per_channel.mean, per_channel.std) == ((7.0, -3.0), (20.0, 50.0))


def test_describe_names_formula_method_and_note():
    assert Normalization(0.0, 255.0).describe() == "(x - 0) / 255"
    assert Normalization(0.5, 0.25, method="custom", note="--normalize 0.5,0.25").describe() == \
        "(x - 0.5) / 0.25 [custom: --normalize 0.5,0.25]"
    assert Normalization(1.0, 3.0, method="standardize").describe() == "(x - 1) / 3 [standardize]"
    assert Normalization((0.5, 0.4, 0.3), (0.2, 0.2, 0.2), method="model", note="Rescaling").describe() == \
        "(x - [0.5, 0.4, 0.3]) / [0.2, 0.2, 0.2] [model: Rescaling]"
    assert Normalization(1 / 3, 1234567.0).describe() == "(x - 0.333333) / 1.23457e+06"


def test_dict_round_trip_keeps_method_and_note():
    n = Normalization((1.0, 2.0), 3.0, method="model", note="Rescaling(1/3)")
    data = n.to_dict()
    assert data == {"mean": [1.0, 2.0], "std": 3.0, "method": "model", "note": "Rescaling(1/3)"}
    back = Normalization.from_dict(json.loads(json.dumps(data)))
    assert back == n and (back.method, back.note) == ("model", "Rescaling(1/3)")
    old = Normalization.from_dict({"mean": 0, "std": 16})  # a config.json written before method/note
    assert (old.mean, old.std, old.method, old.note) == (0.0, 16.0, "custom", "")
    assert Normalization.from_dict({"mean": 0, "std": 1, "method": None, "note": 5}).note == "5"


# ------------------------------------------------------------------------------------ --normalize values


@pytest.mark.parametrize("text, expected", [
    (None, None), ("", None), ("   ", None), ("none", "none"), (" pixels ", "pixels"), ("standardize", "standardize"),
    ("0.5,0.25", ((0.5,), (0.25,))), (" 1 , 2 ", ((1.0,), (2.0,))),
    ("1,2,3/4,5,6", ((1.0, 2.0, 3.0), (4.0, 5.0, 6.0))), ("1/2,3", ((1.0,), (2.0, 3.0))),
    ("1,2/3", ((1.0, 2.0), (3.0,))),
])
def test_parse_normalize_values(text, expected):
    assert parse_normalize(text) == expected


TAKES = ("--normalize takes none | pixels (x/255; x/16 for digits) | standardize (training mean/std) | MEAN,STD | "
         "M1,M2,../S1,S2,.. (one value per channel, channels last); got ")


@pytest.mark.parametrize("text, message", [
    ("1,2,3", TAKES + "'1,2,3'"), ("scale", TAKES + "'scale'"), ("1/2/3", TAKES + "'1/2/3'"),
    ("1/2,3/4", TAKES + "'1/2,3/4'"), ("a,b/c", TAKES + "'a,b/c'"), ("Pixels", TAKES + "'Pixels'"),
    ("1,0", "normalisation std must be positive, got (x - 1) / 0"),
    ("1,2/3,4,5", "normalisation has 2 means but 3 stds; give one per channel"),
])
def test_parse_normalize_refuses(text, message):
    with pytest.raises(EdgeMLError) as caught:
        parse_normalize(text)
    assert str(caught.value) == message


def test_choose_normalization_defaults_and_requests():
    x = np.array([[1.0, 3.0], [5.0, 7.0]])
    pixels = choose_normalization(None, x, 16.0, user_model=True)
    assert (pixels.mean, pixels.std, pixels.method, pixels.note) == (0.0, 16.0, "pixels", "default for pixel data")
    none = choose_normalization(None, x, None, user_model=True)
    assert (none.mean, none.std, none.method) == (0.0, 1.0, "none")
    assert none.note.startswith("default for float data and your own model")
    standard = choose_normalization(None, x, None, user_model=False)
    assert (standard.mean, standard.std) == (4.0, float(np.std([1.0, 3.0, 5.0, 7.0])))
    assert (standard.method, standard.note) == ("standardize", "default for float data and a built-in model")
    constant = choose_normalization("standardize", np.full((3, 2), 5.0), 255.0, user_model=True)
    assert (constant.mean, constant.std, constant.note) == (5.0, 1.0, "--normalize standardize")
    asked_pixels = choose_normalization("pixels", x, None, user_model=False)
    assert (asked_pixels.mean, asked_pixels.std, asked_pixels.note) == (0.0, 255.0, "--normalize pixels")
    assert choose_normalization("pixels", x, 16.0, user_model=False).std == 16.0
    asked_none = choose_normalization("none", x, 255.0, user_model=False)
    assert (asked_none.mean, asked_none.std, asked_none.method) == (0.0, 1.0, "none")
    custom = choose_normalization("1,2,3/4", x, 255.0, user_model=False)
    assert (custom.mean, custom.std, custom.method, custom.note) == ((1.0, 2.0, 3.0), 4.0, "custom", "--normalize 1,2,3/4")
    # uint8 pixels are standardised in float64, not wrapped around
    small = choose_normalization("standardize", np.array([1.0, 2.0]), None, user_model=False)
    assert (small.mean, small.std) == (1.5, 0.5)  # a std below 1 is kept
    big = choose_normalization("standardize", np.array([250, 255], np.uint8), None, user_model=False)
    assert (big.mean, big.std) == (252.5, 2.5)


# ----------------------------------------------------------------------------------- subsets and splits


def tiny_dataset() -> Dataset:
    labels = np.array([0, 1, 2] * 6)
    x = np.arange(18 * 2, dtype=np.float32).reshape(18, 2)
    return Dataset("t", "here", x, labels, x[:9] + 100, labels[:9], ("a", "b", "c"), Normalization(1.0, 2.0),
                   label_format="one-hot", pixel_max=9.0)


def test_subset_keeps_everything_but_the_samples():
    data = tiny_dataset()
    part = subset(data, 6, None, seed=4)
    assert (part.name, part.source, part.class_names, part.label_format, part.pixel_max) == (
        "t", "here", ("a", "b", "c"), "one-hot", 9.0)
    assert part.normalization == Normalization(1.0, 2.0)
    assert np.bincount(part.y_train).tolist() == [2, 2, 2]
    np.testing.assert_array_equal(part.x_train[:, 0] / 2, np.array([np.flatnonzero(np.all(data.x_train == r, 1))[0]
                                                                   for r in part.x_train]))
    np.testing.assert_array_equal(part.y_train, data.y_train[(part.x_train[:, 0] / 2).astype(int)])
    assert part.x_test is data.x_test and part.y_test is data.y_test
    test_only = subset(data, None, 3, seed=4)
    assert test_only.x_train is data.x_train and np.bincount(test_only.y_test).tolist() == [1, 1, 1]
    # The test subset does not depend on whether a train subset was drawn, and the seed matters.
    np.testing.assert_array_equal(subset(data, 6, 3, seed=4).y_test, test_only.y_test)
    np.testing.assert_array_equal(subset(data, 6, 3, seed=4).x_test, test_only.x_test)
    draws = {tuple(subset(data, 6, None, seed=s).x_train[:, 0]) for s in range(6)}
    assert len(draws) > 1
    expected = balanced_indices(data.y_train, 6, np.random.default_rng([4, 0]))
    np.testing.assert_array_equal(part.x_train, data.x_train[expected])
    expected_test = balanced_indices(data.y_test, 3, np.random.default_rng([4, 1]))
    np.testing.assert_array_equal(test_only.x_test, data.x_test[expected_test])


def test_balanced_indices_round_robin_and_limits():
    labels = np.array([0] * 4 + [1] * 2 + [2] * 4)
    chosen = balanced_indices(labels, 7, np.random.default_rng(0))
    assert len(chosen) == 7 and len(set(chosen.tolist())) == 7
    assert np.bincount(labels[chosen]).tolist() == [3, 2, 2]  # depth 0: 3, depth 1: 3, depth 2: class 0 first
    everything = balanced_indices(labels, 10, np.random.default_rng(0))
    assert sorted(everything.tolist()) == list(range(10))
    assert sorted(balanced_indices(labels, 50, np.random.default_rng(0)).tolist()) == list(range(10))
    one = balanced_indices(labels, 1, np.random.default_rng(0))
    assert len(one) == 1 and labels[one[0]] == 0
    for count in (0, -1):
        with pytest.raises(EdgeMLError, match=f"^sample count must be positive, got {count}$"):
            balanced_indices(labels, count, np.random.default_rng(0))


def test_validation_split_by_class_and_its_fallback():
    labels = np.array([0] * 10 + [1] * 5)
    train, validation = train_validation_split(labels, 0.2, seed=3)
    assert np.bincount(labels[validation]).tolist() == [2, 1]  # round(10*0.2), round(5*0.2)
    assert sorted(np.concatenate([train, validation]).tolist()) == list(range(15))
    again = train_validation_split(labels, 0.2, seed=3)
    np.testing.assert_array_equal(again[0], train)
    np.testing.assert_array_equal(again[1], validation)
    # Two samples per class at 0.2: no class gets one (round(0.4) = 0), so a plain seeded split takes round(6*0.2) = 1.
    pairs = np.array([0, 0, 1, 1, 2, 2])
    train, validation = train_validation_split(pairs, 0.2, seed=0)
    assert (len(train), len(validation)) == (5, 1) and not set(train) & set(validation)
    order = np.random.default_rng(0)
    for cls in (0, 1, 2):
        order.permutation(2)
    order.permutation(5), order.permutation(0)
    assert validation.tolist() == order.permutation(6)[:1].tolist()
    for fraction in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(EdgeMLError, match=rf"^validation split must be between 0 and 1 \(exclusive\), got {fraction}$"):
            train_validation_split(labels, fraction, seed=0)
    with pytest.raises(EdgeMLError, match=r"^validation split 0\.1 leaves an empty train or validation set for 3 samples$"):
        train_validation_split(np.array([0, 1, 2]), 0.1, seed=0)
    with pytest.raises(EdgeMLError, match=r"^validation split 0\.9 leaves an empty train or validation set for 3 samples$"):
        train_validation_split(np.array([0, 0, 0]), 0.9, seed=0)


# ---------------------------------------------------------------------------------------------- checks

GOOD = dict(x_train=np.zeros((4, 2)), y_train=np.array([0, 1, 0, 1]), x_test=np.zeros((2, 2)), y_test=np.array([1, 0]))


@pytest.mark.parametrize("changes, message", [
    ({"x_train": np.zeros(4)}, "d: x_train must have a sample axis and at least one feature axis, got shape (4,)"),
    ({"x_test": np.zeros(2)}, "d: x_test must have a sample axis and at least one feature axis, got shape (2,)"),
    ({"y_train": np.zeros((4, 1), int)}, "d: y_train must be a 1-D array of integer labels, got shape (4, 1)"),
    ({"y_test": np.array([[1, 0]])}, "d: y_test must be a 1-D array of integer labels, got shape (1, 2)"),
    ({"y_train": np.array([0, 1, 0])}, "d: x_train has 4 samples but y_train has 3 labels"),
    ({"y_test": np.array([0, 1, 1])}, "d: x_test has 2 samples but y_test has 3 labels"),
    ({"x_test": np.zeros((0, 2)), "y_test": np.zeros(0, int)}, "d: the test set is empty"),
    ({"y_train": np.array([0.0, 1.0, 0.0, 1.0])}, "d: y_train must hold integer class labels, got dtype float64"),
    ({"y_test": np.array([1, -1])}, "d: y_test holds negative labels"),
    ({"x_train": np.array([[0.0, np.nan]] * 4)}, "d: x_train contains NaN or infinite values"),
    ({"x_test": np.array([[np.inf, 0.0]] * 2)}, "d: x_test contains NaN or infinite values"),
    ({"x_test": np.zeros((2, 3))}, "d: train samples (2,) and test samples (3,) differ in shape"),
    ({"y_train": np.array([1, 1, 1, 1])}, "d: the training set has only one class; a classifier needs at least two"),
])
def test_validate_arrays_one_message_per_problem(changes, message):
    arrays = {**GOOD, **changes}
    with pytest.raises(EdgeMLError) as caught:
        validate_arrays(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], "d")
    assert str(caught.value) == message


def test_validate_arrays_accepts_label_zero_and_one_test_class():
    validate_arrays(GOOD["x_train"], GOOD["y_train"], GOOD["x_test"], np.array([0, 0]), "d")
    validate_arrays(np.zeros((2, 1), np.uint8), np.array([0, 1], np.uint8), np.zeros((1, 1)), np.array([0]), "d")


# ------------------------------------------------------------------------------------------- idx and npz


def test_read_idx_plain_and_gzipped(tmp_path):
    images = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("a-idx3-ubyte", "a-idx3-ubyte.gz"):
        np.testing.assert_array_equal(read_idx(write_idx(tmp_path / name, images)), images)
    labels = np.array([9, 0, 3], np.uint8)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "l-idx1-ubyte", labels)), labels)


@pytest.mark.parametrize("payload, message", [
    (b"\0\0\x08", "is not an unsigned-byte idx file"),
    (b"\1\0\x08\1\0\0\0\1x", "is not an unsigned-byte idx file"),
    (b"\0\1\x08\1\0\0\0\1x", "is not an unsigned-byte idx file"),
    (b"\0\0\x09\1\0\0\0\1x", "is not an unsigned-byte idx file"),
    (b"\0\0\x08\2\0\0\0\1", "is truncated (header)"),
    (b"\0\0\x08\1\0\0\0\3ab", "is truncated or corrupt: 2 data bytes for shape (3,)"),
    (b"\0\0\x08\1\0\0\0\1ab", "is truncated or corrupt: 2 data bytes for shape (1,)"),
])
def test_read_idx_refuses_bad_files(tmp_path, payload, message):
    path = tmp_path / "x-idx1-ubyte"
    path.write_bytes(payload)
    with pytest.raises(EdgeMLError) as caught:
        read_idx(path)
    assert str(caught.value) == f"{path} {message}"


def test_read_idx_exact_header_and_a_broken_gzip(tmp_path):
    path = tmp_path / "empty-idx1-ubyte"
    path.write_bytes(b"\0\0\x08\1" + struct.pack(">I", 0))
    assert read_idx(path).shape == (0,)
    broken = tmp_path / "b.gz"
    broken.write_bytes(gzip.compress(b"\0\0\x08\1\0\0\0\1x")[:-6])
    with pytest.raises(EdgeMLError, match=r"^cannot read idx file .*b\.gz: "):
        read_idx(broken)


def test_npz_labels_one_hot_column_and_float(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    one_hot = np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 2]]
    np.savez(tmp_path / "a.npz", x_train=x, y_train=one_hot, x_test=x[:3], y_test=np.array([[2], [1], [0]]))
    data = load_dataset(f"npz:{tmp_path / 'a.npz'}")
    assert data.label_format == "one-hot" and data.y_train.tolist() == [0, 1, 2, 0, 1, 2]
    assert data.y_test.tolist() == [2, 1, 0] and data.y_test.dtype == np.int64
    assert data.class_names == ("0", "1", "2") and data.pixel_max is None
    assert data.normalization == Normalization(x.astype(np.float64).mean(), x.astype(np.float64).std())
    np.savez(tmp_path / "b.npz", x_train=x.astype(np.uint8), y_train=np.array([0., 1, 2, 0, 1, 2]), x_test=x[:3].astype(np.uint8),
             y_test=np.array([1, 1, 1]), class_names=np.array(["p", "q", "r", "s"]))
    data = load_dataset(f"npz:{tmp_path / 'b.npz'}")
    assert data.label_format == "integer" and data.y_train.dtype == np.int64 and data.y_train.tolist() == [0, 1, 2, 0, 1, 2]
    assert data.class_names == ("p", "q", "r", "s") and data.pixel_max == 255.0
    assert data.normalization == Normalization(0.0, 255.0) and data.normalization.method == "pixels"
    assert data.input_shape == (2,) and data.num_classes == 4
    assert data.describe() == f"npz:{tmp_path / 'b.npz'}: train (6, 2) test (3, 2), 4 classes, from {tmp_path / 'b.npz'}"
    np.testing.assert_array_equal(data.test_inputs(), x[:3] / np.float32(255))


@pytest.mark.parametrize("y_train, message", [
    (np.array([[1, 1, 0]] * 6), "y_train is 2-D but not one-hot"),
    (np.array([[2, 0]] * 6), "y_train is 2-D but not one-hot"),
    (np.array([[0.5, 0.5]] * 6), "y_train is 2-D but not one-hot"),
    (np.zeros((6, 1, 1), int), "y_train must be 1-D integer labels or one-hot rows, got shape (6, 1, 1)"),
    (np.array([0.5, 1, 0, 1, 0, 1]), "y_train must hold integer class labels, got dtype float64"),
    (np.array(["a", "b", "a", "b", "a", "b"]), "y_train must hold integer class labels, got dtype <U1"),
])
def test_npz_labels_that_are_not_labels(tmp_path, y_train, message):
    x = np.zeros((6, 2), np.float32)
    np.savez(tmp_path / "a.npz", x_train=x, y_train=y_train, x_test=x[:2], y_test=np.array([0, 1]))
    with pytest.raises(EdgeMLError) as caught:
        load_dataset(f"npz:{tmp_path / 'a.npz'}")
    assert str(caught.value) == f"{tmp_path / 'a.npz'}: {message}"


def test_npz_class_names_must_cover_the_labels(tmp_path):
    x = np.zeros((4, 2), np.float32)
    np.savez(tmp_path / "a.npz", x_train=x, y_train=np.array([0, 1, 2, 0]), x_test=x[:1], y_test=np.array([3]),
             class_names=np.array(["a", "b", "c"]))
    with pytest.raises(EdgeMLError) as caught:
        load_dataset(f"npz:{tmp_path / 'a.npz'}")
    assert str(caught.value) == f"{tmp_path / 'a.npz'}: class_names has 3 names but labels go up to 3"


def test_format_dataset_infos_lines():
    infos = [DatasetInfo("mnist", False, "not found locally"),
             DatasetInfo("digits", True, "scikit-learn", (1437, 8, 8, 1), (360, 8, 8, 1), 10)]
    assert format_dataset_infos(infos).splitlines() == [
        "mnist          not found locally",
        "digits         train (1437, 8, 8, 1)    test (360, 8, 8, 1)     10 classes  scikit-learn",
        "npz:PATH       your arrays x_train, y_train, x_test, y_test (optional class_names)",
        "folder:PATH    one sub-folder of images per class",
    ]
