"""Encoder weights from a checked file, fine-tuning the last blocks, the SimpleRNN decoder, and what
`evaluate --split auto` scores on sources other than the training one (with the run's saved baselines)."""

import json

import keras
import numpy as np
import pytest

from apps.captioning.config import CaptioningConfig
from rnnkit.applications import sha256_of
from rnnkit.cli import main as rnnkit_main
from tests.apps.captioning.conftest import TINY, encode


def test_encoder_weights_auto_is_none_only_for_the_demo():
    assert CaptioningConfig().encoder_weights == "auto"
    assert CaptioningConfig().resolved("demo").encoder_weights == "none"
    assert CaptioningConfig().resolved("../flickr8k").encoder_weights == "imagenet"
    assert CaptioningConfig(encoder_weights="w.h5").resolved("demo").encoder_weights == "w.h5"
    with pytest.raises(ValueError, match="fine_tune_blocks .*train_encoder=true"):
        CaptioningConfig(fine_tune_blocks=2, train_encoder=True).validate()


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """A random MobileNetV2-0.35 saved as a weights file: stands in for the ImageNet one (its batch-norm
    statistics measured on pictures, as a trained network's are, so its activations do not fade away)."""
    from apps.captioning.data import demo_source, load_images
    from apps.captioning.model import calibrate_batch_norm
    from rnnkit.applications import feature_extractor

    path = tmp_path_factory.mktemp("weights") / "mobilenet_v2_035.weights.h5"
    keras.utils.set_random_seed(3)
    network = feature_extractor("mobilenet_v2_0.35", "none", (64, 64, 3))
    calibrate_batch_norm(network, load_images(demo_source(train=32, val=0, test=0).train, 64)[0], batch_size=16)
    network.save_weights(path)
    return path


@pytest.fixture(scope="module")
def fine_tuned_run(weights_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("captioning-fine-tune") / "run"
    flags = [*TINY, "--set", "encoder=mobilenet_v2_0.35", "--encoder-weights", str(weights_file),
             "--set", "fine_tune_blocks=2", "--set", "cell=simple"]
    assert rnnkit_main(["captioning", "train", "--data", "demo", "--out", str(out), "--epochs", "1",
                        "--samples", "0", *flags]) == 0
    return out


def test_fine_tuned_simple_rnn_run_records_its_weights_and_trains_only_the_tail(fine_tuned_run, weights_file):
    """--encoder-weights FILE is recorded with its sha256; fine_tune_blocks trains the tail's kernels only."""
    from apps.captioning.model import TAIL_LAYER, load_run
    from rnnkit.applications import feature_extractor

    saved = json.loads((fine_tuned_run / "config.json").read_text())
    assert saved["config"]["cell"] == "simple" and saved["config"]["fine_tune_blocks"] == 2
    assert saved["encoder_weights_source"] == {"weights": "file", "file": str(weights_file.resolve()),
                                               "sha256": sha256_of(weights_file)}
    captioner = load_run(fine_tuned_run)  # the saved head + the trained tail
    original = feature_extractor("mobilenet_v2_0.35", str(weights_file), (64, 64, 3))
    before = {w.path: np.asarray(w) for w in original.weights}
    tail = captioner.model.get_layer(TAIL_LAYER)
    kernels = [w for w in tail.weights if w.path.endswith("kernel")]
    statistics = [w for w in tail.weights if "moving" in w.path]
    assert kernels and statistics
    assert any(not np.allclose(np.asarray(w), before[w.path]) for w in kernels)  # trained
    for w in statistics:  # its batch norms stay in inference mode
        np.testing.assert_array_equal(np.asarray(w), before[w.path])
    images = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    assert captioner.caption_arrays(images, beam_width=2)[0].shape == (2, captioner.config.max_length)


def test_fine_tuned_simple_rnn_decoder_step_runs_on_tflite(fine_tuned_run):
    """The SimpleRNN step converts to builtin ops and carries its state as Keras does along a caption.

    (The encoder's conversion, a MobileNetV2 with its rescaling inside, is verified by test_export.)"""
    from apps.captioning.data import START_ID
    from apps.captioning.export import convert_decoder_step
    from apps.captioning.model import load_run
    from rnnkit.export import tflite

    captioner = load_run(fine_tuned_run)
    decoder = convert_decoder_step(captioner)
    ops = tflite.check_builtin_only(decoder)
    assert "WHILE" not in ops and not [op for op in ops if op.startswith("Flex")]
    step = tflite.signature_runner(decoder, "serve")
    images = np.random.default_rng(2).uniform(0, 255, (1, 64, 64, 3)).astype("float32")
    projected, keras_state = [np.asarray(x) for x in captioner.image_encoder(images)]
    lite_state, token = keras_state.copy(), START_ID
    for _ in range(captioner.config.max_length):
        logits, _, keras_state = captioner.step_model([np.array([token], np.int32), projected, keras_state])
        out = step(token=np.array([token], np.int32), features=projected, h=lite_state)
        lite_state = out["new_h"]
        np.testing.assert_allclose(out["logits"], np.asarray(logits), atol=1e-4)
        token = int(np.argmax(np.asarray(logits)[0]))


def write_photos(root, count, captions_for=0, test_list=False):
    """A Flickr8k-layout folder of `count` demo pictures; captions for `captions_for` images (more than are there)."""
    from apps.captioning.data import demo_item

    images = root / "Flicker8k_Dataset"
    images.mkdir(parents=True)
    rng = np.random.default_rng(5)
    lines, names = [], []
    for index in range(max(count, captions_for)):
        item = demo_item(rng, index)
        name = f"photo{index}.jpg"
        if index < count:
            (images / name).write_bytes(encode(item.array, "JPEG"))
            names.append(name)
        lines += [f"{name}#{n}\t{caption}" for n, caption in enumerate(item.captions)]
    (root / "Flickr8k.token.txt").write_text("\n".join(lines) + "\n")
    if test_list:
        (root / "Flickr_8k.testImages.txt").write_text("\n".join(names) + "\n")
    return root


@pytest.fixture(scope="module")
def demo_captioner(tiny_run):
    from apps.captioning.model import load_run

    return load_run(tiny_run)


def scored(captioner, folder, out, capsys):
    from apps.captioning.evaluate import evaluate

    metrics = evaluate(captioner, str(folder), "auto", beam_width=1, out_dir=out, plots=1, grid=4)
    said = [line for line in capsys.readouterr().out.splitlines() if line.startswith("evaluate: scoring")]
    assert len(said) == 1
    return said[0], metrics


def test_auto_scores_a_folder_without_lists_whole_with_the_saved_baselines(demo_captioner, tmp_path, capsys):
    folder = write_photos(tmp_path / "photos", 5)
    said, metrics = scored(demo_captioner, folder, tmp_path / "eval", capsys)
    assert "the all split" in said and "5 images" in said and "no Flickr_8k.testImages.txt" in said
    assert metrics["split"] == "all" and metrics["images"] == 5
    # The folder has no training images: the baselines come from the run folder's baselines.npz.
    assert 0 < metrics["most_frequent_bleu_1"] <= 1 and 0 <= metrics["nearest_bleu_4"] <= 1
    assert (tmp_path / "eval" / "caption_grid.png").stat().st_size > 1000
    assert len(list((tmp_path / "eval" / "attention").glob("*.png"))) == 1


def test_auto_scores_the_test_list_of_a_test_only_folder(demo_captioner, tmp_path, capsys):
    from apps.captioning.data import load_source
    from apps.captioning.evaluate import choose_split

    # Only test photos, the captions (of more images than are there, as the full token file has) and the test list.
    folder = write_photos(tmp_path / "test-only", 4, captions_for=9, test_list=True)
    said, metrics = scored(demo_captioner, folder, tmp_path / "eval", capsys)
    assert "the test split" in said and "4 images" in said and "Flickr_8k.testImages.txt" in said
    assert metrics["split"] == "test" and metrics["images"] == 4 and "nearest_bleu_1" in metrics
    # A dev split carved from a training list exists only on the run's own source.
    with pytest.raises(ValueError, match="no Flickr_8k.devImages.txt"):
        choose_split(load_source(str(folder)), str(folder), "dev", trained_on="demo")
