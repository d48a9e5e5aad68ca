from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import synthetic_images, write_idx
from edgeml.data import (
    DataSource,
    Normalization,
    balanced_indices,
    format_dataset_infos,
    list_datasets,
    load_dataset,
    read_idx,
    train_validation_split,
)
from edgeml.errors import EdgeMLError

OFFLINE = dict(download_url="http://127.0.0.1:9/", download_timeout_s=2.0)  # port 9 refuses at once


def offline_source(tmp_path: Path) -> DataSource:
    return DataSource(keras_cache=tmp_path / "keras", debian_fashion_mnist=tmp_path / "no-debian", **OFFLINE)


def test_digits_is_deterministic_and_normalised():
    first, second = load_dataset("digits"), load_dataset("digits")
    assert first.x_train.shape[1:] == (8, 8, 1) and first.num_classes == 10
    assert len(first.y_train) + len(first.y_test) == 1797
    np.testing.assert_array_equal(first.y_test, second.y_test)
    np.testing.assert_array_equal(first.x_test, second.x_test)
    from sklearn.datasets import load_digits

    bunch = load_digits()  # the same samples, split: every class keeps its count
    np.testing.assert_array_equal(np.bincount(np.concatenate([first.y_train, first.y_test])), np.bincount(bunch.target))
    assert float(first.x_train.sum() + first.x_test.sum()) == float(bunch.images.sum())
    inputs = first.train_inputs()  # pixels 0..16 over 16
    np.testing.assert_array_equal(inputs, first.x_train / np.float32(16))
    assert (inputs.dtype, float(inputs.min()), float(inputs.max())) == (np.float32, 0.0, 1.0)
    assert first.normalization == Normalization(0.0, 16.0)


def test_subset_is_class_balanced_and_seeded():
    data = load_dataset("digits", train_samples=100, test_samples=30, seed=3)
    assert len(data.y_train) == 100 and len(data.y_test) == 30
    assert np.bincount(data.y_train, minlength=10).tolist() == [10] * 10
    again = load_dataset("digits", train_samples=100, test_samples=30, seed=3)
    np.testing.assert_array_equal(data.y_train, again.y_train)


def test_balanced_indices_spreads_counts():
    labels = np.array([0] * 50 + [1] * 5 + [2] * 50)
    chosen = balanced_indices(labels, 30, np.random.default_rng(0))
    counts = np.bincount(labels[chosen])
    assert counts.tolist() == [13, 5, 12] or counts.tolist() == [12, 5, 13]
    assert len(set(chosen.tolist())) == 30


def test_validation_split_is_stratified_and_disjoint():
    labels = np.repeat(np.arange(4), 25)
    train, validation = train_validation_split(labels, 0.2, seed=1)
    assert not set(train) & set(validation)
    assert np.bincount(labels[validation]).tolist() == [5, 5, 5, 5]
    with pytest.raises(EdgeMLError, match="between 0 and 1"):
        train_validation_split(labels, 1.5, seed=1)


def test_idx_folder_via_data_path(idx_folder):
    data = load_dataset("fashion_mnist", data_path=idx_folder, source=DataSource(**OFFLINE))
    assert data.x_train.shape == (200, 28, 28, 1) and data.x_test.shape == (80, 28, 28, 1)
    assert data.source == str(idx_folder)
    assert data.normalization == Normalization(0.0, 255.0)
    assert data.class_names == ("0", "1", "2", "3")  # 4 classes: not the 10 Fashion-MNIST names


def test_keras_cache_is_used_before_debian(tmp_path, idx_folder):
    cache = tmp_path / "keras"
    (cache / "fashion-mnist").mkdir(parents=True)
    for file in idx_folder.iterdir():
        (cache / "fashion-mnist" / file.name).write_bytes(file.read_bytes())
    source = DataSource(keras_cache=cache, debian_fashion_mnist=tmp_path / "absent", **OFFLINE)
    assert load_dataset("fashion_mnist", source=source).source == str(cache / "fashion-mnist")


def test_mnist_npz_in_keras_cache(tmp_path):
    x_train, y_train = synthetic_images(60, 3, seed=0)
    x_test, y_test = synthetic_images(30, 3, seed=1)
    (tmp_path / "keras").mkdir()
    np.savez(tmp_path / "keras" / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    data = load_dataset("mnist", source=offline_source(tmp_path))
    assert data.x_train.shape == (60, 28, 28, 1) and data.num_classes == 3
    infos = {info.name: info for info in list_datasets(offline_source(tmp_path))}
    assert infos["mnist"].found and infos["mnist"].train_shape == (60, 28, 28, 1)
    assert not infos["fashion_mnist"].found


def test_offline_and_missing_is_one_clear_error(tmp_path):
    with pytest.raises(EdgeMLError) as error:
        load_dataset("mnist", source=offline_source(tmp_path))
    message = str(error.value)
    assert "mnist not found" in message and str(tmp_path / "keras" / "mnist.npz") in message
    assert "download failed" in message and "--data" in message and "\n" not in message


def test_no_silent_fallback_to_another_dataset(tmp_path):
    with pytest.raises(EdgeMLError, match="fashion_mnist not found.*dataset-fashion-mnist"):
        load_dataset("fashion_mnist", source=offline_source(tmp_path))


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_from_debian(tmp_path):
    source = DataSource(keras_cache=tmp_path / "empty-cache", **OFFLINE)
    data = load_dataset("fashion_mnist", source=source, train_samples=500, test_samples=100)
    assert data.source == "/usr/share/datasets/fashion-mnist"
    assert data.class_names[0] == "T-shirt/top" and data.num_classes == 10
    assert data.x_train.shape == (500, 28, 28, 1) and data.x_train.dtype == np.uint8
    listing = format_dataset_infos(list_datasets(source))
    assert "(60000, 28, 28, 1)" in listing and "(10000, 28, 28, 1)" in listing


def test_npz_dataset_keeps_class_names_and_accepts_one_hot(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(40, 12)).astype(np.float32)
    labels = np.arange(40) % 2
    np.savez(tmp_path / "d.npz", x_train=x, y_train=np.eye(2)[labels], x_test=x[:10], y_test=labels[:10],
             class_names=np.array(["cat", "dog"]))
    data = load_dataset(f"npz:{tmp_path / 'd.npz'}")
    assert data.class_names == ("cat", "dog") and data.y_train.tolist() == labels.tolist()
    assert data.normalization.mean == pytest.approx(float(x.astype(np.float64).mean()), rel=1e-6)
    assert abs(float(data.train_inputs().mean())) < 1e-5


@pytest.mark.parametrize(
    "arrays, message",
    [
        (dict(x_train=np.zeros((10, 4)), y_train=np.arange(9) % 2), "10 samples but y_train has 9 labels"),
        (dict(x_train=np.zeros((10, 4)), y_train=np.zeros(10, dtype=int)), "only one class"),
        (dict(x_train=np.zeros(10), y_train=np.arange(10) % 2), "feature axis"),
        (dict(x_train=np.full((10, 4), np.nan), y_train=np.arange(10) % 2), "NaN"),
        (dict(x_train=np.zeros((10, 4)), y_train=np.arange(10) % 2 + 0.5), "integer class labels"),
        (dict(x_train=np.zeros((10, 4))), "lacks the arrays y_train"),
    ],
)
def test_bad_npz_data_is_a_clear_error(tmp_path, arrays, message):
    test_part = dict(x_test=np.zeros((4, 4)), y_test=np.arange(4) % 2)
    np.savez(tmp_path / "bad.npz", **{**test_part, **arrays})
    with pytest.raises(EdgeMLError, match=message):
        load_dataset(f"npz:{tmp_path / 'bad.npz'}")


def test_corrupt_npz_and_missing_file(tmp_path):
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(EdgeMLError, match="cannot read"):
        load_dataset(f"npz:{tmp_path / 'corrupt.npz'}")
    with pytest.raises(EdgeMLError, match="not found"):
        load_dataset(f"npz:{tmp_path / 'missing.npz'}")
    with pytest.raises(EdgeMLError, match="unknown dataset"):
        load_dataset("cifar100")


def test_truncated_idx_file(tmp_path):
    path = write_idx(tmp_path / "x.idx", np.zeros((3, 4, 4), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(EdgeMLError, match="truncated"):
        read_idx(path)
    (tmp_path / "y.idx").write_bytes(b"\x00\x00\x0d\x01junk")
    with pytest.raises(EdgeMLError, match="not an unsigned-byte idx"):
        read_idx(tmp_path / "y.idx")


def _image_folder(root: Path, classes: dict[str, int], size=(12, 10)) -> Path:
    from PIL import Image

    for position, (name, count) in enumerate(classes.items()):
        (root / name).mkdir(parents=True)
        for index in range(count):
            pixels = np.full((size[1], size[0]), 30 + 60 * position + index, dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{index}.png")
    return root


def test_image_folder_keeps_class_names(tmp_path):
    root = _image_folder(tmp_path / "imgs", {"circle": 5, "square": 5, "triangle": 5})
    data = load_dataset(f"folder:{root}")
    assert data.class_names == ("circle", "square", "triangle")
    assert data.x_train.shape[1:] == (10, 12, 1) and len(data.y_train) + len(data.y_test) == 15
    assert set(np.unique(data.y_test)) == {0, 1, 2}


def test_image_folder_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EdgeMLError, match="no class sub-folders"):
        load_dataset(f"folder:{empty}")
    one = _image_folder(tmp_path / "one", {"only": 4})
    with pytest.raises(EdgeMLError, match="only one class"):
        load_dataset(f"folder:{one}")
    broken = _image_folder(tmp_path / "broken", {"a": 3, "b": 3})
    (broken / "b" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(EdgeMLError, match="unreadable image .*bad.png"):
        load_dataset(f"folder:{broken}")
    no_images = _image_folder(tmp_path / "noimg", {"a": 3})
    (no_images / "b").mkdir()
    with pytest.raises(EdgeMLError, match="holds no images"):
        load_dataset(f"folder:{no_images}")


def test_keras_npz_via_data_path(tmp_path):
    x_train, y_train = synthetic_images(40, 2, seed=0)
    x_test, y_test = synthetic_images(10, 2, seed=1)
    np.savez(tmp_path / "my_mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    data = load_dataset("mnist", data_path=tmp_path / "my_mnist.npz", source=offline_source(tmp_path))
    assert data.source == str(tmp_path / "my_mnist.npz") and data.x_train.shape == (40, 28, 28, 1)
    with pytest.raises(EdgeMLError, match="--data path does not exist"):
        load_dataset("mnist", data_path=tmp_path / "nope.npz")
