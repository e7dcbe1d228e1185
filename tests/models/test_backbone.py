"""The networks' base: size multiples, inference defaults and dtype policies saved with them."""

import keras
import numpy as np
import pytest

from hint import inference
from hint.models import CrossPlaneDnCNN, DnCNN, HINTBackbone, TunableCNN
from hint.models.backbone import Backbone
from hint.precision import load_policy, precision_policy

HINT_TINY = {"dim": 4, "num_blocks": [1, 1, 1, 1], "num_heads": [1, 1, 1, 1]}


@pytest.mark.parametrize(
    ("cls", "args", "multiple"),
    [
        (HINTBackbone, HINT_TINY, 16),
        (DnCNN, {"depth": 3, "filters": 4}, 1),
        (DnCNN, {"depth": 3, "filters": 4, "downsample": "pixel_unshuffle"}, 2),
        (CrossPlaneDnCNN, {"depth": 3, "filters": 4}, 1),
        (TunableCNN, {"filters": 4, "depth": 2}, 4),
    ],
)
def test_size_multiple(cls, args, multiple):
    assert cls.multiple_for(**args) == multiple
    model = cls(**args)
    assert isinstance(model, Backbone) and model.size_multiple == multiple


def test_inference_defaults_and_dtype_round_trip(tmp_path):
    with precision_policy("mixed_bfloat16"):
        model = DnCNN(depth=3, filters=4, inference_defaults={"color_space": "rgb"})
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.inference_defaults == {"color_space": "rgb"}
    assert loaded.dtype_policy.name == "mixed_bfloat16"
    assert loaded.get_layer("conv_1").dtype_policy.name == "mixed_bfloat16"
    # A loader's precision wins over the saved one (`hint.inference.load_model(precision=)`).
    with load_policy("float32"):
        forced = keras.saving.load_model(path, safe_mode=True)
    assert forced.get_layer("conv_1").dtype_policy.name == "float32"
    assert inference.load_model(path).dtype_policy.name == "mixed_bfloat16"
    assert inference.load_model(path, precision="float32").dtype_policy.name == "float32"
    x = {"image": np.random.default_rng(0).random((1, 8, 8, 1), np.float32)}
    np.testing.assert_allclose(forced(x), model(x), atol=0.05)  # bfloat16 vs float32


def test_model_saved_without_policy_loads_in_the_global_one(tmp_path):
    model = DnCNN(depth=3, filters=4)
    config = model.get_config()
    assert config["dtype"] == "float32" and config["inference_defaults"] == {}
    del config["dtype"], config["inference_defaults"]  # a file saved before they existed
    with precision_policy("mixed_bfloat16"):
        old = DnCNN.from_config(config)
    assert old.get_layer("conv_1").dtype_policy.name == "mixed_bfloat16"
    assert old.inference_defaults == {}


def test_bad_inference_defaults():
    with pytest.raises(ValueError, match="Received: inference_defaults='rgb'"):
        DnCNN(depth=3, filters=4, inference_defaults="rgb")
