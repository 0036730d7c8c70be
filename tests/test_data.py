import numpy as np
import pytest

from vg_studio import catalog
from vg_studio.data import DatasetError, load_dataset

KERAS_CACHE = {"mnist": "mnist.npz", "fashion_mnist": "fashion-mnist", "cifar10": "cifar-10-batches-py"}


def test_mnist_5k_is_the_offline_default():
    data = load_dataset("mnist-5k")
    assert data.x_train.shape == (4000, 28, 28, 1) and data.x_test.shape == (1000, 28, 28, 1)
    assert data.x_train.dtype == np.float32 and 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    assert data.num_classes == 10
    assert set(np.bincount(data.y_test)) <= set(range(70, 140))  # shuffled before the split: every class present
    again = load_dataset("mnist-5k")
    np.testing.assert_array_equal(again.y_test, data.y_test)


def test_digits():
    data = load_dataset("digits", {"limit": 100})
    assert data.input_shape == (8, 8, 1) and len(data.x_train) == 100 and len(data.x_test) == 360


def test_shapes10_is_deterministic_and_split_like_seed_000():
    a = load_dataset("shapes10")
    assert (len(a.x_train), len(a.x_val), len(a.x_test)) == (7000, 2000, 1000)
    assert np.bincount(a.y_train).min() > 600
    b = load_dataset("shapes10")
    np.testing.assert_array_equal(a.x_test, b.x_test)
    c = load_dataset("shapes10", {"seed": 1})
    assert not np.array_equal(a.x_test, c.x_test)


def test_validation_split_only_when_missing():
    data = load_dataset("digits").with_validation(0.1, seed=0)
    assert len(data.x_val) == 144 and len(data.x_train) == 1293
    shapes = load_dataset("shapes10").with_validation(0.5, seed=0)
    assert len(shapes.x_val) == 2000


def test_npz_round_trip_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    good = tmp_path / "my data.npz"
    np.savez(good, x_train=rng.integers(0, 255, (20, 5, 5)), y_train=np.arange(20) % 3,
             x_test=rng.integers(0, 255, (6, 5, 5)), y_test=np.arange(6) % 3)
    data = load_dataset(f"npz:{good}")
    assert data.input_shape == (5, 5, 1) and data.num_classes == 3 and data.x_train.max() <= 1.0

    missing = tmp_path / "missing.npz"
    np.savez(missing, x_train=np.zeros((4, 2)), y_train=np.zeros(4))
    with pytest.raises(DatasetError, match=r"missing.npz: missing array\(s\) x_test, y_test"):
        load_dataset(f"npz:{missing}")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:100])
    with pytest.raises(DatasetError, match="truncated.npz: not a readable .npz file"):
        load_dataset(f"npz:{truncated}")
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, x_train=np.array([object()] * 4, dtype=object), y_train=np.zeros(4), x_test=np.zeros((2, 2)),
             y_test=np.zeros(2))
    with pytest.raises(DatasetError, match="pickled.npz"):
        load_dataset(f"npz:{pickled}")
    with pytest.raises(DatasetError, match="nope.npz: file not found"):
        load_dataset(f"npz:{tmp_path / 'nope.npz'}")


def test_image_folder(tmp_path):
    from PIL import Image

    for label, colour in (("cats", 40), ("dogs", 200)):
        (tmp_path / label).mkdir()
        for i in range(6):
            size = (10, 12) if i % 2 else (20, 24)  # mixed sizes are resized to the first image's size
            Image.new("L", size, color=colour + i).save(tmp_path / label / f"{i}.png")
    data = load_dataset(f"folder:{tmp_path}")
    assert data.class_names == ["cats", "dogs"] and len(data.x_train) + len(data.x_test) == 12
    assert data.input_shape in ((24, 20, 1), (12, 10, 1))
    (tmp_path / "dogs" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(DatasetError, match=r"broken.png: not a readable image"):
        load_dataset(f"folder:{tmp_path}")
    with pytest.raises(DatasetError, match="folder not found"):
        load_dataset(f"folder:{tmp_path / 'none'}")


def test_keras_mnist_reads_a_hand_placed_cache_file(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "datasets").mkdir()
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "datasets" / "mnist.npz", x_train=rng.integers(0, 255, (30, 28, 28), dtype=np.uint8),
             y_train=np.arange(30) % 10, x_test=rng.integers(0, 255, (10, 28, 28), dtype=np.uint8),
             y_test=np.arange(10))
    data = load_dataset("mnist")
    assert data.x_train.shape == (30, 28, 28, 1) and data.num_classes == 10


@pytest.mark.parametrize("name", catalog.KERAS_DATASETS)
def test_keras_dataset_offline_names_the_cache_file(name, tmp_path, monkeypatch):
    """Every Keras dataset the catalog names is loaded through keras.datasets, and offline the error names the
    file to place by hand."""
    import urllib.error

    import keras

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(getattr(keras.datasets, name), "load_data", offline)
    with pytest.raises(DatasetError) as info:
        load_dataset(name)
    message = str(info.value)
    assert "could not be downloaded" in message and str(tmp_path / "datasets" / KERAS_CACHE[name]) in message


def test_npz_splits_are_scaled_together(tmp_path):
    path = tmp_path / "mixed.npz"
    np.savez(path, x_train=np.full((4, 3), 200.0), y_train=np.array([0, 1, 0, 1]), x_test=np.full((2, 3), 1.0),
             y_test=np.array([0, 1]))
    data = load_dataset(f"npz:{path}")
    assert data.x_train.max() == pytest.approx(200 / 255) and data.x_test.max() == pytest.approx(1 / 255)
