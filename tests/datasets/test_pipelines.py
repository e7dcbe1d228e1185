import numpy as np
import pytest
import tensorflow as tf

from hint.datasets.masks import MaskGenerator
from hint.datasets.pipelines import evaluation_pipeline, inpainting_pipeline, validation_pipeline
from hint.datasets.sources import ImageSource

SIZE = 32


@pytest.fixture(scope="module")
def clean():
    return np.random.default_rng(0).random((10, SIZE, SIZE, 3), dtype=np.float32)


@pytest.fixture(scope="module")
def generator():
    # "rect" traces fastest; the kinds themselves are tested in test_masks.py.
    return MaskGenerator("rect", SIZE)


def _batches(ds):
    return list(ds.as_numpy_iterator())


def test_shapes_dtypes_and_degradation(clean):
    generator = MaskGenerator("mix", SIZE)
    ds = inpainting_pipeline(tf.data.Dataset.from_tensor_slices(clean), generator, 4, seed=1)
    batches = _batches(ds)
    assert len(batches) == 2  # training drops the partial batch
    inputs, target = batches[0]
    assert set(inputs) == {"image", "mask"}
    assert inputs["image"].shape == (4, SIZE, SIZE, 3) and inputs["image"].dtype == np.float32
    assert inputs["mask"].shape == (4, SIZE, SIZE, 1) and inputs["mask"].dtype == np.float32
    np.testing.assert_array_equal(target, clean[:4])
    mask = inputs["mask"]
    assert set(np.unique(mask)) <= {0.0, 1.0} and mask.sum() > 0
    np.testing.assert_allclose(inputs["image"], target * (1 - mask) + mask, atol=1e-7)
    np.testing.assert_array_equal(inputs["image"][np.broadcast_to(mask, target.shape) > 0], 1.0)


def test_deterministic_per_seed(clean, generator):
    def masks(seed):
        ds = tf.data.Dataset.from_tensor_slices(clean)
        return np.concatenate(
            [x["mask"] for x, _ in _batches(inpainting_pipeline(ds, generator, 5, seed))]
        )

    first = masks(3)
    tf.random.set_seed(42)
    np.testing.assert_array_equal(first, masks(3))
    assert not np.array_equal(first, masks(4))


def test_validation_keeps_last_batch_and_is_fixed(clean, generator):
    ds = validation_pipeline(tf.data.Dataset.from_tensor_slices(clean), generator, 4)
    first, second = _batches(ds), _batches(ds)
    assert [b[1].shape[0] for b in first] == [4, 4, 2]
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a[0]["mask"], b[0]["mask"])


def test_with_image_source():
    source = ImageSource(None, SIZE, seed=0)
    generator = MaskGenerator("freeform", SIZE)
    (inputs, target) = next(iter(inpainting_pipeline(source.train(), generator, 3, seed=0)))
    assert inputs["image"].shape == (3, SIZE, SIZE, 3) and target.shape == (3, SIZE, SIZE, 3)
    val = _batches(validation_pipeline(source.validation(), generator, 8))
    assert sum(b[1].shape[0] for b in val) == len(source.val_files) * source.val_crops


def test_evaluation_pipeline_pairs_crops_with_fixed_masks(clean):
    rng = np.random.default_rng(1)
    buckets = {
        "0-20%": (rng.random((5, SIZE, SIZE, 1)) < 0.1).astype(np.float32),
        "20-40%": (rng.random((2, SIZE, SIZE, 1)) < 0.3).astype(np.float32),
    }
    result = evaluation_pipeline(clean[:3], buckets, batch_size=4)
    assert list(result) == ["0-20%", "20-40%"]
    batches = _batches(result["0-20%"])
    images = np.concatenate([x["image"] for x, _ in batches])
    masks = np.concatenate([x["mask"] for x, _ in batches])
    targets = np.concatenate([y for _, y in batches])
    assert len(targets) == 5
    for i in range(5):
        np.testing.assert_array_equal(targets[i], clean[i % 3])
        np.testing.assert_array_equal(masks[i], buckets["0-20%"][i])
        np.testing.assert_allclose(images[i], clean[i % 3] * (1 - masks[i]) + masks[i])
    assert sum(y.shape[0] for _, y in _batches(result["20-40%"])) == 3


def test_argument_checks(clean, generator):
    ds = tf.data.Dataset.from_tensor_slices(clean)
    with pytest.raises(ValueError, match=r"Received: batch_size=0$"):
        inpainting_pipeline(ds, generator, 0, seed=0)
    with pytest.raises(ValueError, match="32x32 but the masks are 16x16"):
        inpainting_pipeline(ds, MaskGenerator("rect", 16), 2, seed=0)
    with pytest.raises(ValueError, match="Received: masks.shape"):
        evaluation_pipeline(clean, {"0-20%": np.zeros((2, 16, 16, 1))})
