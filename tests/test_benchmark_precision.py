"""Smoke tests of benchmarks/precision_speed.py and dncnn_inference_speed.py on tiny models."""

import pytest
import yaml

from benchmarks import precision_speed

CONFIGS = {
    "denoise": {
        "task": "denoise",
        "data": {"channels": 1, "image_size": 32, "batch_size": 2},
        "model": {"type": "DnCNN", "depth": 3, "filters": 4, "conditioning": "noise_map"},
    },
    "inpaint": {
        "task": "inpaint",
        "data": {"image_size": 32, "batch_size": 2},
        # The tunable CNN: the quickest inpainting generator to trace (the script times any).
        "model": {"preset": "tunable_cnn", "filters": 4, "depth": 2, "bottleneck": 8},
        "inpaint": {"discriminator": {"filters": 4}, "loss": {"perceptual": 0, "style": 0}},
    },
}


# The inpainter's steps take about 12 s to trace in both precisions.
@pytest.mark.parametrize("task", ["denoise", pytest.param("inpaint", marks=pytest.mark.slow)])
def test_prints_both_precisions_and_the_ratio(task, tmp_path, capsys):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(CONFIGS[task]))
    assert precision_speed.main(["--config", str(path), "--steps", "1", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "float32" in out and "mixed_bfloat16" in out and "speed-up of mixed_bfloat16" in out


def test_folding_benchmark_prints_the_ratio_and_difference(tmp_path, capsys):
    from benchmarks import dncnn_inference_speed
    from hint.models.dncnn import DnCNN

    path = tmp_path / "tiny.keras"
    DnCNN(depth=3, filters=4, conditioning="noise_map").save(path)
    argv = ["--model", str(path), "--size", "32", "--rounds", "2"]
    assert dncnn_inference_speed.main(argv) == 0
    out = capsys.readouterr().out
    assert "as saved" in out and "folded" in out and "speed-up of folding" in out
    assert float(out.split("largest output difference: ")[1].split()[0]) < 1e-5
