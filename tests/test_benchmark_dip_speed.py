"""Checks of benchmarks/dip_speed.py with the tiny DIP network."""

import pytest

from benchmarks import dip_speed
from hint.models import DIPSkip
from hint.summary import graph_flops


def test_row_times_the_loop_and_counts_forward_and_backward():
    row = dip_speed.measure("dip_tiny", 32, steps=1)
    assert row["preset"] == "dip_tiny" and row["size"] == 32
    assert row["first_s"] > 0 and row["iteration_s"] > 0
    forward = sum(graph_flops(DIPSkip.from_preset("dip_tiny"), {"code": (32, 32, 32)}).values())
    # The gradients of a convolution cost about twice its forward pass.
    assert 2.5 < row["gflop_per_iteration"] * 1e9 / forward < 4.0
    assert row["gflops"] == pytest.approx(row["gflop_per_iteration"] / row["iteration_s"], rel=0.1)


def test_gemm_rate_is_positive():
    assert dip_speed.gemm_gflops(repeats=1) > 0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--sizes", "48"], "multiples of 32"),
        (["--steps", "0"], "at least 1"),
    ],
)
def test_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        dip_speed.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
