"""Checks of benchmarks/ffn_bands.py on a tiny input."""

from benchmarks import ffn_bands
from hint.layers import gated_ffn


def test_rows_cover_the_whole_image_and_each_budget_with_the_same_output():
    default = gated_ffn.BAND_BYTES
    # 16 px wide, hidden int(8 * 2.66) = 21: 1344 bytes per row, so 0.004 MiB is 3 rows.
    rows = ffn_bands.measure(16, 8, [0.004, 1.0], repeats=1)
    assert gated_ffn.BAND_BYTES == default
    assert [r["budget_mib"] for r in rows] == [None, 0.004, 1.0]
    assert [r["rows_per_band"] for r in rows] == [None, 3, None]
    assert rows[0]["ratio_to_whole"] == 1.0
    for row in rows:
        assert row["median_ms"] > 0
        assert row["max_abs_difference"] < 1e-5
