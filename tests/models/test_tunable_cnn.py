"""TunableCNN: shapes, round trips, the masked input, presets and the config registry."""

import numpy as np
import pytest

from hint import training
from hint.config import load_config
from hint.models import TunableCNN, get_preset
from tests.layer_checks import check_layer


def _inputs(batch=2, size=32, channels=3):
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(batch, size, size, channels)).astype("float32")
    mask = (rng.uniform(size=(batch, size, size, 1)) > 0.7).astype("float32")
    return {"image": image, "mask": mask}


def test_layer_checks_round_trip():
    model = TunableCNN(filters=4, kernel_size=3, activation="elu", depth=2, bottleneck=8)
    out = check_layer(model, _inputs(), (2, 32, 32, 3), atol=1e-5)
    assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("activation", ["relu", "gelu", "leaky_relu", "swish", "tanh"])
def test_hyperparameters_shape_the_network(activation):
    model = TunableCNN(filters=4, kernel_size=5, activation=activation, depth=3, bottleneck=12)
    assert model.get_layer("encoder_3").filters == 16
    assert model.get_layer("encoder_1").kernel_size == (5, 5)
    assert model.get_layer("bottleneck").filters == 12
    assert model.get_layer("decoder_1").filters == 4
    assert model(_inputs()).shape == (2, 32, 32, 3)


def test_image_values_under_the_hole_do_not_matter():
    model = TunableCNN(filters=4, depth=2, bottleneck=8)
    x = _inputs()
    other = dict(x, image=np.where(x["mask"] > 0, 0.123, x["image"]).astype("float32"))
    np.testing.assert_allclose(model(x).numpy(), model(other).numpy(), atol=1e-6)


def test_gray_images_and_size_check():
    model = TunableCNN(filters=4, depth=2, bottleneck=8, image_channels=1)
    assert model(_inputs(channels=1)).shape == (2, 32, 32, 1)
    with pytest.raises(ValueError, match="multiples of 4"):
        model(_inputs(size=18, channels=1))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"filters": 0},
        {"kernel_size": 4},
        {"activation": "sigmoidal"},
        {"depth": 0},
        {"depth": 7},
        {"bottleneck": -1},
        {"image_channels": 0},
    ],
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError, match="Received"):
        TunableCNN(**kwargs)


@pytest.mark.slow
def test_preset_builds_through_the_config_and_trains_in_the_inpainter(tmp_path):
    preset = get_preset("tunable_cnn")
    assert preset.pop("type") == "TunableCNN"
    cfg = load_config(
        None,
        [
            f"run.dir={tmp_path}",
            "model.preset=tunable_cnn",
            "model.filters=4",
            "model.bottleneck=8",
            "data.image_size=32",
            "data.batch_size=2",
            "data.val_count=2",
            "inpaint.mask.kind=rect",  # one kind of hole: quicker to trace than the default mix
            "inpaint.loss.perceptual=0",
            "inpaint.loss.style=0",
            "inpaint.loss.adversarial=0",
            "train.epochs=1",
            "train.steps_per_epoch=1",
        ],
    )
    assert cfg.model.type == "TunableCNN"
    assert cfg.model.args == {**preset, "filters": 4, "bottleneck": 8}
    task, history, _ = training.fit_task(cfg, training.make_run_dir(cfg), verbose=0)
    assert isinstance(task.generator, TunableCNN)
    assert np.isfinite(history.history["val_psnr"][-1])
