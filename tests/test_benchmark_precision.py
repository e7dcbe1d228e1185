"""Smoke test of benchmarks/precision_speed.py on a tiny denoiser config."""

import yaml

from benchmarks import precision_speed


def test_prints_both_precisions_and_the_ratio(tmp_path, capsys):
    config = {
        "task": "denoise",
        "data": {"channels": 1, "image_size": 32, "batch_size": 2},
        "model": {"type": "DnCNN", "depth": 3, "filters": 4, "conditioning": "noise_map"},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    assert precision_speed.main(["--config", str(path), "--steps", "1", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "float32" in out and "mixed_bfloat16" in out and "speed-up of mixed_bfloat16" in out
