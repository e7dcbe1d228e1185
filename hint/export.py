"""SavedModel export for TensorFlow Serving.

`export_run(run_dir, out_dir)` turns a run's generator into the layout TF Serving loads:

```
EXPORT_DIR/NAME/
  1/                     version 1: saved_model.pb + variables/ (nothing else)
  2/                     the next export (the next free integer; never overwritten)
  NAME-v1.keras          the Keras model each version was exported from
  NAME-v2.keras
```

TF Serving (`--model_base_path=EXPORT_DIR/NAME`) only considers sub-folders whose names are
integers, so the `.keras` files beside them and the hidden temporary folder of an export in
progress (`.NAME-vN.tmp-*`) are ignored by it. A version folder appears in one `os.rename`, so a
server that polls the folder never sees a half-written version.

What a SavedModel serves is a `ServingModule`: a `tf.Module` holding the Keras model(s), the
graph-building methods and, in `ENDPOINTS`, the signature key, method and named input specs of
each signature. The run's task plug-in gives the module (`TaskPlugin.serving_module`), so a new
task adds its own module class with its own signatures without touching this code.
`write_saved_model` writes any such module with `keras.export.ExportArchive` (which saves only
the endpoints and the variables they use, not the Keras object graph).

Signatures of the inpainting module (`InpaintingServing`):

- `serving_default`: `image` float32 [N, H, W, C] in [0, 1] and `mask` float32 [N, H, W, 1]
  (1 = hole) to `inpainted` (the composite: the blended fill inside the hole, the input outside)
  and `raw` (the network's output), both float32 [N, H, W, C].
- `inpaint_bytes`: `image_bytes` and `mask_bytes`, strings of encoded PNG/JPEG/GIF/BMP files,
  a scalar or [N] each, to `png_bytes`, strings of the same shape: 8-bit PNGs of the composite.

The graph is the `inpaint` command's pass (`hint.inpaint_graph.inpaint_batch`) under the model's
saved inference defaults (its colour handling and blending; `Backbone.inference_defaults`), so a
served image equals the command's output for images within the model's `max_side`; larger ones
are run whole (the command fills them window by window). H and W are free: the graph pads to the
model's size multiple (reflect, or edge padding when the padding would be as large as the side,
exactly as `hint.inference.pad_to_multiple`) and crops back. Inputs are checked inside the
graph and bad ones fail with an `InvalidArgumentError` whose message names the input (rank,
channels, sizes, values outside [0, 1]). The float `mask` is used as given (send 0/1). In
`inpaint_bytes` the mask is read as RGB, any value above zero is a hole, and a mask whose size
differs from its image's is resized with nearest neighbour, the rule of `main.py inpaint`.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile

import keras
import tensorflow as tf

from hint import training
from hint.inference import load_model, size_multiple
from hint.inpaint_graph import inpaint_batch, pad_to_multiple
from hint.models.dncnn import DnCNN
from hint.task_plugin import UnknownTaskError, get_task, task_for_network
from hint.validation import is_int

DEFAULT_NAME = "hint"
REST_PORT = 8501
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


class ExportError(ValueError):
    """An export that cannot be written (bad name or version, existing version)."""


# --------------------------------------------------------------------------- graph helpers


def _shape4(x):
    """tf.shape(x) padded with -1 to at least 4 entries, so indexing it cannot fail."""
    return tf.concat([tf.shape(x), tf.fill([4], -1)], axis=0)


def _first_problem(checks):
    """The message of the first failing (ok, message) pair, as a string tensor."""
    message = tf.constant("")
    for ok, text in reversed(checks):
        message = tf.where(ok, message, text)
    return message


def check_float_input(x, name, channels, unit_range=True):
    """Graph checks of an [N, H, W, channels] float input in [0, 1]; returns it, checked.

    A failing check raises `InvalidArgumentError` whose message starts with `name` and says
    what is wrong. Each group of checks is one `tf.debugging.Assert` that reports the first
    failing condition, and every op computing them works on an input of any rank: TF
    specialises a function to its call's input shapes and folds constants, which drops
    control dependencies between asserts, so e.g. `tf.shape(x)[3]` after an `assert_rank`
    could still fail first, with an unreadable message. `unit_range=False` skips the [0, 1]
    checks (noisy images legitimately leave that range).
    """
    shape = _shape4(x)
    structure = [
        (tf.equal(tf.rank(x), 4), f"{name} must have rank 4 [N, H, W, {channels}]"),
        (
            tf.equal(shape[3], channels),
            f"{name} must have {channels} channel(s) in its last dimension",
        ),
        (tf.reduce_all(shape[1:3] > 0), f"{name} must have a height and width of at least 1"),
    ]
    flat = tf.reshape(x, [-1])
    values = [(tf.reduce_all(tf.math.is_finite(flat)), f"{name} contains NaN or infinite values")]
    if unit_range:
        values += [
            (tf.reduce_all(flat >= 0.0), f"{name} values must be in [0, 1]; found values below 0"),
            (tf.reduce_all(flat <= 1.0), f"{name} values must be in [0, 1]; found values above 1"),
        ]
    checks = [
        tf.debugging.Assert(
            tf.reduce_all(tf.stack([ok for ok, _ in structure])),
            [_first_problem(structure), "received shape", tf.shape(x)],
            summarize=8,
        ),
        tf.debugging.Assert(
            tf.reduce_all(tf.stack([ok for ok, _ in values])),
            [_first_problem(values), "min and max", tf.reduce_min(flat), tf.reduce_max(flat)],
        ),
    ]
    with tf.control_dependencies(checks):
        # A reshape, not tf.ensure_shape: Grappler would read the latter's rank back into `x`
        # and fold the checks above with the wrong rank.
        return tf.reshape(x, tf.stack([shape[0], shape[1], shape[2], channels]))


def to_png(image):
    """[H, W, C] float in [0, 1] to an 8-bit PNG string (rounded like `image_io.write_image`)."""
    pixels = tf.cast(tf.round(tf.clip_by_value(image, 0.0, 1.0) * 255.0), tf.uint8)
    return tf.io.encode_png(pixels)


# Leading bytes of the formats `tf.io.decode_image` reads.
_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM")


def decode_image(data, name, channels=3):
    """Decodes one encoded image string to float32 [H, W, channels] in [0, 1].

    Gray and RGBA images become RGB (alpha dropped); 16-bit PNGs are scaled by 65535. Data
    that is not a PNG, JPEG, GIF or BMP fails with a message naming the input.
    """
    head = tf.strings.substr(data, 0, 4)
    known = tf.reduce_any([tf.equal(tf.strings.substr(head, 0, len(m)), m) for m in _MAGIC], axis=0)
    check = tf.debugging.Assert(
        known, [f"{name} is not an encoded PNG, JPEG, GIF or BMP image"], summarize=1
    )
    with tf.control_dependencies([check]):
        image = tf.io.decode_image(data, channels=3, dtype=tf.float32, expand_animations=False)
    image = tf.ensure_shape(image, [None, None, 3])
    if channels == 1:
        image = tf.image.rgb_to_grayscale(image)
    return image


# --------------------------------------------------------------------------- serving modules


class ServingModule(tf.Module):
    """What a SavedModel serves: Keras model(s) plus named signatures.

    Subclasses set `ENDPOINTS`, a dict mapping each signature key to the name of a method
    building its graph, and implement `input_signature(key)`, the list of named
    `tf.TensorSpec`s of that method's arguments (the names become the signature's input
    keys). Methods return dicts, whose keys become the output keys. `models()` lists the
    Keras models whose variables the SavedModel must hold.
    """

    ENDPOINTS: dict[str, str] = {}

    def models(self) -> list[keras.Model]:
        raise NotImplementedError

    def input_signature(self, key: str) -> list[tf.TensorSpec]:
        raise NotImplementedError

    def endpoints(self):
        """(signature key, bound method, input specs) for every signature."""
        return [
            (key, getattr(self, method), self.input_signature(key))
            for key, method in self.ENDPOINTS.items()
        ]


class InpaintingServing(ServingModule):
    """Serving signatures of an inpainting generator (inputs `image` and `mask`, 1 = hole).

    The graph is `hint.inpaint_graph.inpaint_batch`, the pass `inpaint` runs: the same colour
    handling and Poisson blending (solved by conjugate gradients in the graph).

    Args:
        generator: a Keras model called as `generator({"image": x, "mask": m})` on sides that
            are multiples of `multiple`, returning the raw prediction in [0, 1].
        multiple: the side multiple the generator needs. Defaults to None: the generator's
            `size_multiple` (16 for a model without one).
        color_space: how colour images go through the network: `"joint"`, `"rgb"` or
            `"opponent"` (`hint.inference.inpaint_array`). Defaults to `"joint"`.
        blend: `"poisson"` or `"none"`. Defaults to `"none"`.

    Example:

    >>> module = InpaintingServing(HINTBackbone.from_preset("hint_tiny"), color_space="rgb")
    >>> write_saved_model(module, "export/hint/1")
    """

    ENDPOINTS = {"serving_default": "inpaint", "inpaint_bytes": "inpaint_bytes"}

    def __init__(self, generator, multiple=None, name=None, color_space="joint", blend="none"):
        super().__init__(name=name)
        self.generator = generator
        self.multiple = multiple or size_multiple(generator)
        self.channels = image_channels(generator)
        self.color_space = color_space
        self.blend = blend

    def models(self):
        return [self.generator]

    def input_signature(self, key):
        if key == "serving_default":
            # Unknown rank, so that a wrong rank reaches the readable checks in the graph
            # instead of failing the signature's own shape check.
            return [
                tf.TensorSpec(None, tf.float32, name="image"),
                tf.TensorSpec(None, tf.float32, name="mask"),
            ]
        if key == "inpaint_bytes":
            return [
                tf.TensorSpec(None, tf.string, name="image_bytes"),
                tf.TensorSpec(None, tf.string, name="mask_bytes"),
            ]
        raise KeyError(key)

    def _inpaint_checked(self, image, mask):
        """The inference pass on checked inputs. Returns (composite, raw)."""
        return inpaint_batch(
            self.generator, image, mask, self.color_space, self.blend, self.multiple
        )

    def inpaint(self, image, mask):
        """`serving_default`: float images and masks of any size to `inpainted` and `raw`."""
        image = check_float_input(image, "image", self.channels)
        mask = check_float_input(mask, "mask", 1)
        same = tf.debugging.Assert(
            tf.reduce_all(tf.equal(_shape4(mask)[:3], _shape4(image)[:3])),
            [
                "mask must have the same batch size, height and width as image; received",
                tf.shape(mask),
                "and",
                tf.shape(image),
            ],
            summarize=8,
        )
        with tf.control_dependencies([same]):
            image = tf.identity(image)
        inpainted, raw = self._inpaint_checked(image, mask)
        return {"inpainted": inpainted, "raw": raw}

    def _inpaint_one_encoded(self, pair):
        image = decode_image(pair[0], "image_bytes", self.channels)
        mask = decode_image(pair[1], "mask_bytes", 3)
        mask = tf.cast(tf.reduce_max(mask, axis=-1, keepdims=True) > 0, tf.float32)
        size = tf.shape(image)[:2]
        mask = tf.image.resize(mask, size, method="nearest")
        inpainted, _ = self._inpaint_checked(image[None], mask[None])
        return to_png(inpainted[0])

    def inpaint_bytes(self, image_bytes, mask_bytes):
        """`inpaint_bytes`: encoded images and masks (scalar or [N]) to PNG strings."""
        shape = tf.shape(image_bytes)
        checks = [
            tf.debugging.assert_less_equal(
                tf.rank(image_bytes),
                1,
                message="image_bytes must be one encoded image (a scalar) or a vector [N]",
            ),
            # Same rank and size at rank <= 1 is the same shape (tf.shape of tensors of other
            # ranks cannot be compared element-wise).
            tf.debugging.Assert(
                tf.logical_and(
                    tf.equal(tf.rank(mask_bytes), tf.rank(image_bytes)),
                    tf.equal(tf.size(mask_bytes), tf.size(image_bytes)),
                ),
                ["mask_bytes must have the same shape as image_bytes (one mask per image)"],
            ),
        ]
        with tf.control_dependencies(checks):
            images = tf.reshape(image_bytes, [-1])
            masks = tf.reshape(mask_bytes, [-1])
        png = tf.map_fn(
            self._inpaint_one_encoded,
            (images, masks),
            fn_output_signature=tf.TensorSpec([], tf.string),
            # One image at a time: bounded memory for large images.
            parallel_iterations=1,
        )
        return {"png_bytes": tf.reshape(png, shape)}


class DenoisingServing(ServingModule):
    """Serving signatures of a denoiser (input `image`, and `noise_level` if conditioned).

    `serving_default` takes `image` float32 [N, H, W, C] (values may leave [0, 1]: unclipped
    noise) and `sigma`, the noise level in 0-255 units (a scalar or [N]; ignored by blind
    models), and returns `denoised` clipped to [0, 1]. `denoise_bytes` takes encoded PNG/JPEG
    strings (`image_bytes`, scalar or [N]) and `sigma`, and returns `png_bytes`.

    Args:
        network: a denoiser such as `hint.models.DnCNN`.
        multiple: inputs are reflect-padded to this side multiple and cropped back.
            Defaults to None: the network's `size_multiple` (16 for a model without one).
    """

    ENDPOINTS = {"serving_default": "denoise", "denoise_bytes": "denoise_bytes"}

    def __init__(self, network, multiple=None, name=None):
        super().__init__(name=name)
        self.network = network
        self.multiple = multiple or size_multiple(network)
        self.channels = image_channels(network)
        self.conditioned = "noise_level" in {t.name for t in network.inputs}

    def models(self):
        return [self.network]

    def input_signature(self, key):
        sigma = tf.TensorSpec(None, tf.float32, name="sigma")
        if key == "serving_default":
            return [tf.TensorSpec(None, tf.float32, name="image"), sigma]
        if key == "denoise_bytes":
            return [tf.TensorSpec(None, tf.string, name="image_bytes"), sigma]
        raise KeyError(key)

    def _denoise_checked(self, image, sigma):
        n, h, w = tf.shape(image)[0], tf.shape(image)[1], tf.shape(image)[2]
        ok = tf.debugging.Assert(
            tf.logical_and(
                tf.reduce_all(sigma >= 0.0),
                tf.logical_or(tf.equal(tf.size(sigma), 1), tf.equal(tf.size(sigma), n)),
            ),
            ["sigma must be >= 0 (0-255 units), one value or one per image; received", sigma],
        )
        with tf.control_dependencies([ok]):
            sigma = tf.broadcast_to(tf.reshape(sigma, [-1]), [n]) / 255.0
        padded, _ = pad_to_multiple(image, image[..., :1], self.multiple)
        inputs = {"image": padded}
        if self.conditioned:
            level = tf.ones_like(padded[..., :1]) * sigma[:, None, None, None]
            inputs["noise_level"] = level
        out = self.network(inputs, training=False)[:, :h, :w]
        return tf.clip_by_value(out, 0.0, 1.0)

    def denoise(self, image, sigma):
        """`serving_default`: noisy float images of any size (and sigma) to `denoised`."""
        image = check_float_input(image, "image", self.channels, unit_range=False)
        return {"denoised": self._denoise_checked(image, tf.cast(sigma, tf.float32))}

    def denoise_bytes(self, image_bytes, sigma):
        """`denoise_bytes`: encoded images (scalar or [N]) and sigma to PNG strings."""
        check = tf.debugging.assert_less_equal(
            tf.rank(image_bytes),
            1,
            message="image_bytes must be one encoded image (a scalar) or a vector [N]",
        )
        with tf.control_dependencies([check]):
            images = tf.reshape(image_bytes, [-1])
        sigmas = tf.broadcast_to(tf.reshape(tf.cast(sigma, tf.float32), [-1]), tf.shape(images))

        def one(pair):
            image = decode_image(pair[0], "image_bytes", self.channels)
            return to_png(self._denoise_checked(image[None], pair[1])[0])

        png = tf.map_fn(
            one,
            (images, sigmas),
            fn_output_signature=tf.TensorSpec([], tf.string),
            parallel_iterations=1,
        )
        return {"png_bytes": tf.reshape(png, tf.shape(image_bytes))}


def image_channels(model) -> int:
    """Channels of a model's `image` input (3 when it cannot be told)."""
    channels = getattr(model, "image_channels", None)
    if isinstance(channels, int):
        return channels
    inputs = getattr(model, "input", None)
    if isinstance(inputs, dict) and "image" in inputs:
        return int(inputs["image"].shape[-1])
    return 3


def write_saved_model(module: ServingModule, path: str) -> str:
    """Writes a module's signatures as a SavedModel at `path` (a new folder)."""
    archive = keras.export.ExportArchive()
    for model in module.models():
        archive.track(model)
    for key, fn, specs in module.endpoints():
        archive.add_endpoint(key, fn, input_signature=specs)
    archive.write_out(path, verbose=False)
    return path


# --------------------------------------------------------------------------- versions


def existing_versions(model_dir: str) -> list[int]:
    """The version numbers TF Serving would see in `model_dir` (integer-named folders)."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(
        int(entry)
        for entry in os.listdir(model_dir)
        if entry.isdigit() and os.path.isdir(os.path.join(model_dir, entry))
    )


def next_version(model_dir: str) -> int:
    """One more than the highest existing version (TF Serving serves the highest), or 1."""
    versions = existing_versions(model_dir)
    return versions[-1] + 1 if versions else 1


def keras_path(model_dir: str, name: str, version: int) -> str:
    """Where the `.keras` file of a version goes: beside the version folders."""
    return os.path.join(model_dir, f"{name}-v{version}.keras")


def _check_name_version(name, version):
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ExportError(
            "--name must start with a letter and contain only letters, digits, '_', '.' or "
            f"'-'. Received: name={name!r}"
        )
    if version is not None and not is_int(version, minimum=0):
        raise ExportError(f"--version must be a non-negative integer. Received: version={version}")


# --------------------------------------------------------------------------- export


def export_model(
    model: keras.Model,
    out_dir: str,
    name: str = DEFAULT_NAME,
    version: int | None = None,
    task: str | None = None,
) -> str:
    """Exports a network as version `version` of model `name` under `out_dir`.

    Args:
        model: the network (e.g. a generator with inputs `image` and `mask`).
        out_dir: the export root; the SavedModel goes to `out_dir/name/version`.
        name: the served model name. Defaults to `"hint"`.
        version: the version number; None for the next free one. An existing version is an
            error and nothing is written. Defaults to `None`.
        task: the task whose serving signatures to export (`TaskPlugin.serving_module`); None
            for the task that accepts the network's inputs. Defaults to `None`.

    Returns:
        The absolute path of the version folder.

    Raises:
        ExportError: a bad name or version, an existing version, a task that serves nothing.
    """
    _check_name_version(name, version)
    try:
        plugin = task_for_network(model) if task is None else get_task(task)
    except UnknownTaskError as e:
        raise ExportError(str(e)) from None
    # The served graph runs a DnCNN with its batch norms folded (the same outputs, faster);
    # the .keras file beside it is the model as trained.
    served = model.fold_batch_norm() if isinstance(model, DnCNN) else model
    module = plugin.serving_module(served)
    if module is None:
        raise ExportError(f"Task {plugin.name!r} has no serving signatures: nothing to export.")
    model_dir = os.path.abspath(os.path.join(out_dir, name))
    if version is None:
        version = next_version(model_dir)
    target = os.path.join(model_dir, str(version))
    if os.path.exists(target):
        raise ExportError(
            f"Version {version} of '{name}' already exists at {target}; versions are never "
            f"overwritten. Omit --version to write version {next_version(model_dir)}."
        )
    os.makedirs(model_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{name}-v{version}.tmp-", dir=model_dir)
    try:
        saved = os.path.join(tmp, "saved_model")
        write_saved_model(module, saved)
        keras_tmp = os.path.join(tmp, "model.keras")
        model.save(keras_tmp)
        if os.path.exists(target):
            raise ExportError(f"Version {version} of '{name}' appeared meanwhile at {target}.")
        # The version folder appears at once, complete: a server polling the folder never
        # sees a partial version. (rename refuses to replace a non-empty folder.)
        os.rename(saved, target)
        os.replace(keras_tmp, keras_path(model_dir, name, version))
    except OSError as e:
        raise ExportError(f"Could not write version {version} to {target}: {e}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def export_run(
    run_dir: str, out_dir: str, name: str = DEFAULT_NAME, version: int | None = None
) -> str:
    """Exports a run's best network (`run_dir/model.keras`) for TF Serving.

    The run's config names its task; `run_dir` may also be a `.keras` file, exported for the
    task that accepts its inputs.

    Returns:
        The absolute path of the written version folder `out_dir/name/version`.
    """
    _check_name_version(name, version)
    task = None if run_dir.endswith(".keras") else training.load_run_config(run_dir).task
    model = load_model(run_dir, precision="float32")
    return export_model(model, out_dir, name=name, version=version, task=task)


# --------------------------------------------------------------------------- instructions


def serving_instructions(version_dir: str, port: int = REST_PORT) -> str:
    """How to serve an export and call it over REST, as text to print."""
    version_dir = os.path.abspath(version_dir)
    model_dir = os.path.dirname(version_dir)
    name = os.path.basename(model_dir)
    url = f"http://localhost:{port}/v1/models/{name}:predict"
    floats = (
        '{"signature_name": "serving_default", '
        '"inputs": {"image": [[[[0.2, 0.4, 0.6]]]], "mask": [[[[1.0]]]]}}'
    )
    files = (
        '{"signature_name": "inpaint_bytes", '
        '"inputs": {"image_bytes": {"b64": "%s"}, "mask_bytes": {"b64": "%s"}}}'
    )
    decode = (
        "import base64, json, sys; "
        'sys.stdout.buffer.write(base64.b64decode(json.load(sys.stdin)["outputs"]["b64"]))'
    )
    return f"""\
Serve it with TensorFlow Serving:
  tensorflow_model_server --rest_api_port={port} --model_name={name} \\
      --model_base_path={model_dir}
or with Docker:
  docker run -p {port}:{port} -v {model_dir}:/models/{name} -e MODEL_NAME={name} \\
      tensorflow/serving

Signatures: serving_default (image, mask -> inpainted, raw) and inpaint_bytes (image_bytes,
mask_bytes -> png_bytes). Inspect them: saved_model_cli show --all --dir {version_dir}

REST with float arrays (image [N, H, W, 3] in [0, 1], mask [N, H, W, 1], 1 = hole):
  curl -s -X POST {url} \\
      -d '{floats}'

REST with image files (base64 in, the PNG comes back base64 too):
  printf '{files}' \\
      "$(base64 < photo.png | tr -d '\\n')" "$(base64 < mask.png | tr -d '\\n')" > request.json
  curl -s -X POST {url} -d @request.json \\
      | python3 -c '{decode}' > filled.png
"""
