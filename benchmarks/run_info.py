"""What the benchmark scripts record beside their numbers: the code and the peak memory."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def commit() -> str | None:
    """`git describe --always --dirty` of the checkout, or None outside a git checkout."""
    done = subprocess.run(
        ["git", "-C", REPO_ROOT, "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() or None


def peak_rss_bytes() -> int:
    """The process' peak resident memory (`ru_maxrss`: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def write_json(path: str, payload) -> None:
    """Writes `payload` as indented JSON to `path` atomically (a temporary file, then a rename)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp", delete=False) as f:
        json.dump(payload, f, indent=2)
        f.write("\n")
        temporary = f.name
    os.replace(temporary, path)
