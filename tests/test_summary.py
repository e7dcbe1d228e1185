import json

import pytest

from hint import commands, summary
from hint.config import load_config

TINY = ["model.dim=4", "model.num_blocks=[1,1,1,1]", "model.num_heads=[1,1,1,1]"]


def test_report_shape_and_consistency():
    cfg = load_config(None, [*TINY, "data.image_size=32", "inpaint.discriminator.filters=4"])
    report = summary.model_report(cfg)
    gen = report["generator"]
    names = [c["name"] for c in gen["components"]]
    assert names[0] == "embedding" and names[-1] == "output" and "latent" in names
    assert sum(c["params"] for c in gen["components"]) == gen["total_params"]
    assert all(c["macs"] > 0 for c in gen["components"])
    assert gen["total_macs"] >= sum(c["macs"] for c in gen["components"])
    assert report["discriminator"]["total_params"] > 0
    assert "total" in summary.format_report(report)


@pytest.mark.slow
def test_macs_grow_linearly_with_pixels():
    """Channel attention: every component's cost scales with the pixel count, none faster."""
    small = summary.model_report(load_config(None, [*TINY, "data.image_size=32"]))
    large = summary.model_report(load_config(None, [*TINY, "data.image_size=64"]))
    ratio = large["generator"]["total_macs"] / small["generator"]["total_macs"]
    assert 3.9 < ratio < 4.1


def test_summary_command_json(capsys):
    commands.summary(
        None, [*TINY, "data.image_size=32", "inpaint.loss.adversarial=0"], as_json=True
    )
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"image_size", "generator"}
    assert {"total_params", "total_macs", "components"} <= set(out["generator"])
