"""What installing the project puts into an environment: one import name, `hint`."""

import ast
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(REPO, "hint")


def _build_wheel(tmp_path) -> str:
    # From a copy of the sources: setuptools reuses a checkout's stale build/lib, which would
    # put files of an older layout into the wheel.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(os.path.join(REPO, name), src / name)
    shutil.copytree(PACKAGE, src / "hint", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation"]
        + ["--no-index", "-q", "-w", str(out)],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.iterdir()
    return str(wheel)


def test_wheel_has_one_top_level_package_and_the_console_script(tmp_path):
    import hint

    with zipfile.ZipFile(_build_wheel(tmp_path)) as wheel:
        names = wheel.namelist()
        info = f"hint-{hint.__version__}.dist-info"
        assert {n.split("/")[0] for n in names} == {"hint", info}
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    assert "hint = hint.cli:main" in entry_points
    # The subpackages and the data files a user needs are inside.
    for path in ("hint/datasets/masks.py", "hint/tuning/search.py", "hint/weights/denoise_gray.md"):
        assert path in names


def _imports(path):
    """(module imported, line) for every absolute import statement of a file."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, node.lineno


def test_no_module_imports_a_generic_top_level_name():
    """`datasets` and `tuning` are `hint.datasets` and `hint.tuning` everywhere.

    A bare `import datasets` would pick up Hugging Face's `datasets` in most environments.
    """
    found = []
    for root in (PACKAGE, os.path.join(REPO, "benchmarks"), os.path.join(REPO, "tests")):
        for folder, _, files in os.walk(root):
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(folder, name)
                for module, line in _imports(path):
                    if module.split(".")[0] in ("datasets", "tuning", "main"):
                        found.append(f"{os.path.relpath(path, REPO)}:{line} imports {module}")
    assert found == []


@pytest.mark.slow
def test_another_datasets_package_on_the_path_does_not_break_hint(tmp_path):
    """A package named `datasets` first on `sys.path` (as Hugging Face's is) changes nothing."""
    fake = tmp_path / "site" / "datasets"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("MARK = 'not hint'\n")
    code = textwrap.dedent(
        """
        import datasets
        import hint.commands
        import hint.datasets
        from hint.config import load_config
        from hint import training

        assert datasets.MARK == 'not hint'
        train, val = training.build_datasets(load_config(None, ['data.image_size=32']))
        batch = next(iter(train))
        print('ok', hint.datasets.__name__, tuple(batch[1].shape))
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), REPO])}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ok hint.datasets (4, 32, 32, 3)" in result.stdout


@pytest.mark.slow
def test_import_hint_registers_what_the_shipped_models_and_a_run_refer_to(tmp_path):
    """In a fresh process, `import hint` is enough for Keras' safe loading of every file."""
    code = textwrap.dedent(
        f"""
        import glob, keras
        import hint
        from hint.models import DnCNN
        DnCNN(depth=3, filters=4).save({str(tmp_path / "run.keras")!r})
        paths = sorted(glob.glob({os.path.join(PACKAGE, "weights", "*.keras")!r}))
        paths.append({str(tmp_path / "run.keras")!r})
        for path in paths:
            model = keras.saving.load_model(path, safe_mode=True, compile=False)
            print(type(model).__name__)
        """
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": REPO}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["CrossPlaneDnCNN", "DnCNN", "HINTBackbone", "DnCNN"]
