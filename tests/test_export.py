"""SavedModel export for TF Serving: layout, signatures vs the Keras model, wire format."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from hint import config as config_lib
from hint import export, inference, training
from hint.models import HINTBackbone

TINY = {"dim": 4, "num_blocks": [1, 1, 1, 1], "num_heads": [1, 1, 1, 1]}
SIZES = [(32, 32), (37, 50)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A fake run (tiny untrained generator), exported once: (generator, run_dir, version).

    Exporting traces HINT's serving functions (about 12 s): the tests using it are marked slow.
    """
    root = tmp_path_factory.mktemp("export")
    run_dir = str(root / "run")
    os.makedirs(run_dir)
    cfg = config_lib.config_from_dict({"model": dict(TINY), "data": {"image_size": 32}})
    config_lib.dump_config(cfg, os.path.join(run_dir, "config.yaml"))
    generator = HINTBackbone(**TINY)
    training.save_model_atomic(generator, os.path.join(run_dir, training.MODEL_FILE))
    version_dir = export.export_run(run_dir, str(root / "out"))
    return generator, run_dir, version_dir


@pytest.fixture(scope="module")
def loaded(exported):
    return tf.saved_model.load(exported[2])


def _inputs(n, h, w, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.uniform(size=(n, h, w, 3)).astype("float32")
    mask = np.zeros((n, h, w, 1), "float32")
    mask[:, h // 4 : h // 2 + 3, w // 5 : w // 2 + 4] = 1
    mask[1:, :5, -6:] = 1  # a different hole per image
    return image, mask


def _png(array):
    return tf.io.encode_png(np.asarray(array, np.uint8)).numpy()


@pytest.mark.slow
def test_layout(exported):
    _, _, version_dir = exported
    model_dir = os.path.dirname(version_dir)
    assert os.path.basename(version_dir) == "1"
    assert os.path.isfile(os.path.join(version_dir, "saved_model.pb"))
    assert os.path.isdir(os.path.join(version_dir, "variables"))
    # Nothing but what tf.saved_model.save writes inside the version folder.
    assert set(os.listdir(version_dir)) <= {
        "saved_model.pb",
        "variables",
        "assets",
        "fingerprint.pb",
    }
    # The .keras file beside the version folders; no temporary folder left behind.
    assert sorted(os.listdir(model_dir)) == ["1", "hint-v1.keras"]
    reloaded = inference.load_model(os.path.join(model_dir, "hint-v1.keras"))
    for a, b in zip(reloaded.get_weights(), exported[0].get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES)
def test_serving_default_matches_the_inpaint_command(exported, loaded, size):
    generator = exported[0]
    h, w = size
    image, mask = _inputs(2, h, w)
    out = loaded.signatures["serving_default"](image=tf.constant(image), mask=tf.constant(mask))
    assert out["inpainted"].shape == (2, h, w, 3) and out["raw"].shape == (2, h, w, 3)
    for i in range(2):
        # What `inpaint` gives under the model's defaults (colour planes, Poisson blending).
        want = inference.inpaint_array(generator, image[i], mask[i])
        np.testing.assert_allclose(out["inpainted"][i].numpy(), want, atol=1e-4)
        raw = inference._network_fill(generator, image[i], mask[i], "rgb")
        np.testing.assert_allclose(out["raw"][i].numpy(), raw, atol=1e-5)
    keep = mask[..., 0] == 0
    np.testing.assert_array_equal(out["inpainted"].numpy()[keep], image[keep])


@pytest.mark.slow
def test_tiny_image_falls_back_to_edge_padding(exported, loaded):
    # 5x7 needs pads of 11 and 9: larger than the sides, so reflect padding is impossible.
    image, mask = _inputs(2, 5, 7, seed=3)
    out = loaded.signatures["serving_default"](image=tf.constant(image), mask=tf.constant(mask))
    want = inference.inpaint_array(exported[0], image[0], mask[0])
    np.testing.assert_allclose(out["inpainted"][0].numpy(), want, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES)
def test_bytes_round_trip(exported, loaded, size):
    h, w = size
    image, mask = _inputs(1, h, w, seed=1)
    pixels = np.round(image[0] * 255).astype(np.uint8)
    out = loaded.signatures["inpaint_bytes"](
        image_bytes=tf.constant(_png(pixels)), mask_bytes=tf.constant(_png(mask[0] * 255))
    )["png_bytes"]
    assert out.shape == () and out.dtype == tf.string
    result = tf.io.decode_png(out).numpy()
    assert result.shape == (h, w, 3) and result.dtype == np.uint8
    # The served PNG is what `inpaint` writes, to the rounding of the last grey level.
    want = inference.inpaint_array(exported[0], pixels.astype("float32") / 255.0, mask[0])
    want = np.round(want * 255).astype(np.int32)
    assert np.abs(result.astype(np.int32) - want).max() <= 1
    keep = mask[0, ..., 0] == 0
    np.testing.assert_array_equal(result[keep], pixels[keep])


@pytest.mark.slow
def test_bytes_batch_gray_rgba_jpeg_and_resized_mask(exported, loaded):
    rng = np.random.default_rng(2)
    gray = rng.integers(0, 256, (24, 40, 1), dtype=np.uint8)
    rgba = rng.integers(0, 256, (24, 40, 4), dtype=np.uint8)
    jpeg = tf.io.encode_jpeg(rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)).numpy()
    small = np.zeros((12, 20, 1), np.uint8)  # half size: resized (nearest) to the image
    small[3:8, 4:12] = 200
    out = loaded.signatures["inpaint_bytes"](
        image_bytes=tf.constant([_png(gray), _png(rgba), jpeg]),
        mask_bytes=tf.constant([_png(small)] * 3),
    )["png_bytes"]
    assert out.shape == (3,)
    results = [tf.io.decode_png(b).numpy() for b in out.numpy()]
    assert all(r.shape == (24, 40, 3) for r in results)
    hole = inference.resize_nearest(inference.binarize_mask(small / 255.0), 24, 40)[..., 0]
    # Outside the (resized) hole, the input comes back: gray as RGB, RGBA without alpha.
    np.testing.assert_array_equal(results[0][hole == 0], np.repeat(gray, 3, -1)[hole == 0])
    np.testing.assert_array_equal(results[1][hole == 0], rgba[..., :3][hole == 0])


@pytest.mark.slow
def test_saved_model_cli_lists_signatures(exported):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    cmd = [cli] if os.path.exists(cli) else ["saved_model_cli"]
    result = subprocess.run(
        [*cmd, "show", "--all", "--dir", exported[2]],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    text = result.stdout
    for key in ("serving_default", "inpaint_bytes"):
        assert f"signature_def['{key}']" in text
    for name in ("image", "mask", "image_bytes", "mask_bytes"):
        assert f"inputs['{name}']" in text
    for name in ("inpainted", "raw", "png_bytes"):
        assert f"outputs['{name}']" in text


def _serve(loaded, request):
    """What the model server does with a PredictRequest: tensor protos in and out."""
    from tensorflow_serving.apis import predict_pb2

    signature = loaded.signatures[request.model_spec.signature_name]
    feeds = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
    outputs = signature(**feeds)
    response = predict_pb2.PredictResponse()
    response.model_spec.CopyFrom(request.model_spec)
    for key, value in outputs.items():
        response.outputs[key].CopyFrom(tf.make_tensor_proto(value.numpy()))
    return response


@pytest.mark.slow
def test_predict_request_wire_format(loaded):
    from tensorflow.core.framework import types_pb2
    from tensorflow_serving.apis import predict_pb2

    image, mask = _inputs(2, 37, 50)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "hint"
    request.model_spec.signature_name = "serving_default"
    request.inputs["image"].CopyFrom(tf.make_tensor_proto(image))
    request.inputs["mask"].CopyFrom(tf.make_tensor_proto(mask))
    # Serialised and parsed again, as it travels over gRPC.
    request = predict_pb2.PredictRequest.FromString(request.SerializeToString())
    response = _serve(loaded, request)
    assert set(response.outputs) == {"inpainted", "raw"}
    for key in ("inpainted", "raw"):
        proto = response.outputs[key]
        assert proto.dtype == types_pb2.DT_FLOAT
        assert [d.size for d in proto.tensor_shape.dim] == [2, 37, 50, 3]
    direct = loaded.signatures["serving_default"](image=tf.constant(image), mask=tf.constant(mask))
    np.testing.assert_array_equal(
        tf.make_ndarray(response.outputs["inpainted"]), direct["inpainted"].numpy()
    )

    pixels = np.random.default_rng(4).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    hole = np.zeros((20, 30, 1), np.uint8)
    hole[5:12, 6:20] = 255
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "hint"
    request.model_spec.signature_name = "inpaint_bytes"
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto(_png(pixels)))
    request.inputs["mask_bytes"].CopyFrom(tf.make_tensor_proto(_png(hole)))
    response = _serve(loaded, predict_pb2.PredictRequest.FromString(request.SerializeToString()))
    proto = response.outputs["png_bytes"]
    assert proto.dtype == types_pb2.DT_STRING and len(proto.tensor_shape.dim) == 0
    png = tf.make_ndarray(proto)
    assert tf.io.decode_png(png.item() if png.ndim == 0 else png).shape == (20, 30, 3)


@pytest.mark.slow
@pytest.mark.parametrize(
    "case, message",
    [
        ("channels", "image must have 3 channel(s)"),
        ("rank", "image must have rank 4"),
        ("mask_channels", "mask must have 1 channel(s)"),
        ("mask_size", "mask must have the same batch size, height and width as image"),
        ("above_one", "image values must be in [0, 1]; found values above 1"),
        ("below_zero", "mask values must be in [0, 1]; found values below 0"),
    ],
)
def test_bad_float_inputs_are_readable(loaded, case, message):
    image, mask = _inputs(1, 32, 32)
    if case == "channels":
        image = np.concatenate([image, image[..., :1]], -1)
    elif case == "rank":
        image = image[0]
    elif case == "mask_channels":
        mask = np.repeat(mask, 3, -1)
    elif case == "mask_size":
        mask = mask[:, :16]
    elif case == "above_one":
        image = image * 2.0
    elif case == "below_zero":
        mask = mask - 1.0
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        loaded.signatures["serving_default"](image=tf.constant(image), mask=tf.constant(mask))
    assert message in str(info.value)


@pytest.mark.slow
def test_bad_bytes_inputs_are_readable(loaded):
    png = _png(np.zeros((16, 16, 3), np.uint8))
    sig = loaded.signatures["inpaint_bytes"]
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        sig(image_bytes=tf.constant(b"not an image"), mask_bytes=tf.constant(png))
    assert "image_bytes is not an encoded PNG, JPEG, GIF or BMP image" in str(info.value)
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        sig(image_bytes=tf.constant([png, png]), mask_bytes=tf.constant([png]))
    assert "mask_bytes must have the same shape as image_bytes" in str(info.value)


@pytest.mark.slow
def test_versions(exported, tmp_path):
    _, run_dir, version_dir = exported
    model_dir = os.path.dirname(version_dir)
    before = sorted(os.listdir(model_dir))
    with pytest.raises(export.ExportError, match="already exists"):
        export.export_run(run_dir, os.path.dirname(model_dir), version=1)
    assert sorted(os.listdir(model_dir)) == before  # nothing written, no temp folder left
    for bad, message in (
        ({"name": "1st"}, "Received: name='1st'"),
        ({"name": "a/b"}, "Received: name='a/b'"),
        ({"version": -1}, "Received: version=-1"),
    ):
        with pytest.raises(export.ExportError, match=message):
            export.export_run(run_dir, str(tmp_path), **bad)
    # A task without serving signatures is refused up front.
    with pytest.raises(export.ExportError, match="Unknown task 'segment'"):
        export.export_model(exported[0], str(tmp_path), task="segment")
    assert not os.listdir(tmp_path)
    # Only integer-named folders are versions; the next is one above the highest.
    fake = tmp_path / "m"
    for entry in ("3", "10", "7.keras", ".m-v11.tmp-x"):
        os.makedirs(fake / entry)
    (fake / "12").write_text("a file, not a version")
    assert export.existing_versions(str(fake)) == [3, 10]
    assert export.next_version(str(fake)) == 11
    assert export.next_version(str(tmp_path / "missing")) == 1


@pytest.mark.slow
def test_cli_export_next_version_and_instructions(exported, capsys):
    from hint import cli

    _, run_dir, version_dir = exported
    out = os.path.dirname(os.path.dirname(version_dir))
    assert cli.main(["export", "--run", run_dir, "--out", out]) == 0
    text = capsys.readouterr().out
    model_dir = os.path.join(out, "hint")
    assert sorted(os.listdir(model_dir)) == ["1", "2", "hint-v1.keras", "hint-v2.keras"]
    assert f"--rest_api_port=8501 --model_name=hint \\\n      --model_base_path={model_dir}" in text
    assert '"signature_name": "inpaint_bytes"' in text and '"b64"' in text
    assert cli.main(["export", "--run", run_dir, "--out", out, "--version", "2"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert sorted(os.listdir(model_dir)) == ["1", "2", "hint-v1.keras", "hint-v2.keras"]


@pytest.mark.slow
def test_printed_rest_examples(exported, loaded, tmp_path):
    """The printed REST commands make valid requests, and the reply decoding works.

    The server's part is emulated as TF Serving documents it: {"b64": ...} values are decoded
    to bytes, and a single output is returned as `{"outputs": value}`, base64 for `*_bytes`.
    """
    import base64
    import json

    text = export.serving_instructions(exported[2])
    floats = json.loads(text.split("-d '", 1)[1].split("'\n", 1)[0])
    assert floats["signature_name"] == "serving_default"
    out = loaded.signatures["serving_default"](
        **{k: tf.constant(v, tf.float32) for k, v in floats["inputs"].items()}
    )
    assert out["inpainted"].shape == (1, 1, 1, 3)

    pixels = np.random.default_rng(5).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    hole = np.zeros((20, 30, 1), np.uint8)
    hole[4:9, 5:15] = 255
    (tmp_path / "photo.png").write_bytes(_png(pixels))
    (tmp_path / "mask.png").write_bytes(_png(hole))
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip().startswith("printf"))
    make_request = "\n".join(lines[first : first + 2])
    subprocess.run(["bash", "-c", make_request], cwd=tmp_path, check=True, timeout=60)
    request = json.loads((tmp_path / "request.json").read_text())
    assert request["signature_name"] == "inpaint_bytes"
    feeds = {k: tf.constant(base64.b64decode(v["b64"])) for k, v in request["inputs"].items()}
    png = loaded.signatures["inpaint_bytes"](**feeds)["png_bytes"].numpy()
    reply = json.dumps({"outputs": {"b64": base64.b64encode(png).decode()}})
    decode = next(line for line in lines if line.strip().startswith("| python3"))
    subprocess.run(
        ["bash", "-c", decode.strip()[2:]], cwd=tmp_path, input=reply.encode(), check=True
    )
    filled = tf.io.decode_png((tmp_path / "filled.png").read_bytes()).numpy()
    keep = hole[..., 0] == 0
    np.testing.assert_array_equal(filled[keep], pixels[keep])


def test_png_helper_rounds_like_image_io():
    # image_io.write_image's rule: clip, then round to the nearest 8-bit level.
    values = np.linspace(-0.1, 1.1, 64, dtype=np.float32).reshape(4, 16, 1).repeat(3, -1)
    ours = tf.io.decode_png(export.to_png(tf.constant(values))).numpy()
    np.testing.assert_array_equal(ours, np.round(np.clip(values, 0, 1) * 255).astype(np.uint8))


@pytest.mark.parametrize("conditioned", [True, False])
def test_denoiser_signatures_match_keras(tmp_path, conditioned):
    from hint.models import DnCNN

    net = DnCNN(
        depth=3,
        filters=4,
        image_channels=1,
        conditioning="noise_map" if conditioned else "none",
        downsample="pixel_unshuffle" if conditioned else "none",
    )
    bn = net.get_layer("bn_2")
    bn.moving_mean.assign(np.linspace(-0.1, 0.1, 4).astype("float32"))
    bn.moving_variance.assign(np.linspace(0.5, 2.0, 4).astype("float32"))
    version_dir = export.export_model(net, str(tmp_path), name="dn", task="denoise")
    loaded = tf.saved_model.load(version_dir)
    # The served graph has the batch norm folded in; the .keras beside it is the model as trained.
    assert not any("moving_mean" in v.name for v in loaded.variables)
    kept = keras.saving.load_model(export.keras_path(str(tmp_path / "dn"), "dn", 1))
    assert kept.batch_norm
    rng = np.random.default_rng(4)
    for h, w in SIZES:
        noisy = (0.5 + rng.normal(0, 0.3, size=(2, h, w, 1))).astype("float32")  # leaves [0, 1]
        out = loaded.signatures["serving_default"](
            image=tf.constant(noisy), sigma=tf.constant(25.0)
        )
        assert out["denoised"].shape == (2, h, w, 1)
        for i in range(2):
            want = inference.denoise_array(net, noisy[i], sigma=25.0)
            np.testing.assert_allclose(out["denoised"][i].numpy(), want, atol=1e-5)
    png = _png(np.full((20, 24, 1), 128))
    got = loaded.signatures["denoise_bytes"](image_bytes=tf.constant(png), sigma=tf.constant(10.0))
    assert tf.io.decode_png(got["png_bytes"]).shape == (20, 24, 1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="sigma must be >= 0"):
        loaded.signatures["serving_default"](
            image=tf.constant(noisy[:, :16, :16]), sigma=tf.constant(-1.0)
        )
