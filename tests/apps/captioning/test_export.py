"""TF Serving and TFLite exports of a tiny captioning run."""

import json
from pathlib import Path

import numpy as np

from tests.conftest import run_python


def test_export_layout_and_tflite_verification(tiny_export):
    version = Path(tiny_export["saved_model"])
    assert version.name == "1" and (version / "saved_model.pb").is_file()
    served = json.loads((version / "assets.extra" / "rnnkit_config.json").read_text())
    assert served["app"] == "captioning" and served["encoder_weights_source"] == {"weights": "none"}
    meta = json.loads((version / "captioning_mobile.json").read_text())
    assert meta["encoder_weights_source"] == {"weights": "none"} and meta["encoder_network"] == "mobilenet_v2_0.5"
    check = meta["verification"]
    assert check["captions_match"] and check["logits_max_abs_diff"] <= 1e-4 and check["decoder_steps"] >= 3
    for ops in (check["encoder_ops"], check["decoder_ops"]):
        assert ops and not [op for op in ops if op.startswith("Flex") or op == "CUSTOM" or op.upper() != op]
    assert "WHILE" not in check["decoder_ops"]  # one step, a flat graph
    assert meta["decoder_inputs"]["features"] == [1, 4, 16] and meta["states"] == ["h"]


def test_saved_model_cli_captions_bytes_in_a_fresh_process(tiny_export, image_files, tmp_path):
    """Real image bytes of four kinds and one non-image, in one request."""
    batch = np.array([image_files[key].read_bytes() for key in ("rgb", "grayscale", "alpha", "large", "garbage")],
                     dtype=object)
    np.save(tmp_path / "images.npy", batch, allow_pickle=True)
    result = run_python("-m", "tensorflow.python.tools.saved_model_cli", "run", "--dir", tiny_export["saved_model"],
                        "--tag_set", "serve", "--signature_def", "serving_default",
                        "--inputs", f"images={tmp_path / 'images.npy'}", timeout=240)
    out = result.stdout
    captions = out.split("Result for output key caption:")[1].split("Result for output key")[0]
    errors = out.split("Result for output key error:")[1]
    assert captions.count("b'") == 5 and captions.strip().endswith("b'']"), out
    assert errors.count("not a JPEG, PNG, GIF or BMP image") == 1 and errors.count("b''") == 4, out


def test_served_captions_match_the_run_and_predict_runs_the_mobile_loop(tiny_run, tiny_export, image_files, capsys):
    from apps.captioning.data import decode_image, resize_image
    from apps.captioning.model import load_run
    from rnnkit.cli import main as rnnkit_main

    captioner = load_run(tiny_run)
    pixels = resize_image(decode_image(image_files["rgb"].read_bytes()), captioner.config.image_size).numpy()
    expected = captioner.captions(pixels[None], beam_width=3, max_length=6)[0]
    # predict on an export calls its `caption` signature: decoding, resizing and beam search in the graph
    assert rnnkit_main(["captioning", "predict", "--model", tiny_export["saved_model"], "--beam-width", "3",
                        "--max-length", "6", str(image_files["rgb"])]) == 0
    assert capsys.readouterr().out == f"{image_files['rgb']}\t{expected}\n"
    code = rnnkit_main(["captioning", "predict", "--model", tiny_export["tflite_encoder"], str(image_files["alpha"]),
                        str(image_files["garbage"])])
    out = capsys.readouterr()
    assert code == 2 and out.out.startswith(str(image_files["alpha"]) + "\t") and "notes.jpg" in out.err
