"""Speech sources: Speech Commands and plain folder layouts, splits, scanning, datasets, the demo set."""

import tarfile

import numpy as np
import pytest

from apps.speech.config import SpeechConfig
from apps.speech.data import (
    BACKGROUND_NOISE,
    DEMO_WORDS,
    load_source,
    make_dataset,
    scan_source,
    speaker_of,
)
from tests.apps.speech.conftest import word_clip, write_wav

SMALL = SpeechConfig(clip_seconds=0.5, batch_size=4, val_fraction=0.2, test_fraction=0.2)


def speech_commands_folder(root):
    for word in ("no", "yes"):
        for speaker in ("aa11", "bb22", "cc33"):
            write_wav(root / word / f"{speaker}_nohash_0.wav", word_clip("steady", 16000, len(speaker)), 16000)
    write_wav(root / BACKGROUND_NOISE / "running_tap.wav", np.random.default_rng(0).normal(scale=0.1, size=32000), 16000)
    (root / "validation_list.txt").write_text("yes/bb22_nohash_0.wav\nno/bb22_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("yes/cc33_nohash_0.wav\nno/cc33_nohash_0.wav\nno/gone_nohash_0.wav\n")
    return root


def test_speech_commands_layout_honours_lists_and_background_noise(tmp_path):
    source = load_source(str(speech_commands_folder(tmp_path / "sc")), SMALL)
    assert source.labels == ["no", "yes"]  # _background_noise_ is not a class
    speakers = {split: sorted(clip.speaker for clip in source.clips[split]) for split in ("train", "val", "test")}
    assert speakers == {"train": ["aa11", "aa11"], "val": ["bb22", "bb22"], "test": ["cc33", "cc33"]}
    assert [path.split("/")[-1] for path in source.noise_paths] == ["running_tap.wav"]
    assert source.missing_listed == 1 and "testing_list.txt" in source.split_note


def test_a_tar_gz_of_the_layout_reads_the_same(tmp_path):
    folder = speech_commands_folder(tmp_path / "sc")
    archive = tmp_path / "speech_commands_v0.02.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in folder.iterdir():
            tar.add(path, arcname=path.name)  # the real archive unpacks flat
    source = load_source(str(archive), SMALL)
    assert source.labels == ["no", "yes"] and source.size("test") == 2 and len(source.noise_paths) == 1


def test_folder_without_lists_is_split_by_hash_or_by_held_out_speaker(wav_folder):
    root, _ = wav_folder
    source = load_source(str(root), SMALL)
    assert source.labels == ["hiss", "rising", "steady"]
    assert all(source.has(split) for split in ("train", "val", "test"))
    again = load_source(str(root), SMALL)
    assert [clip.path for clip in again.clips["test"]] == [clip.path for clip in source.clips["test"]]

    held_out = load_source(str(root), SpeechConfig(test_speakers="speaker1"))
    assert {clip.speaker for clip in held_out.clips["test"]} == {"speaker1"}
    assert "speaker1" not in {clip.speaker for split in ("train", "val") for clip in held_out.clips[split]}
    with pytest.raises(ValueError, match="test_speakers: nobody not among the speakers"):
        load_source(str(root), SpeechConfig(test_speakers="nobody"))


def test_speaker_names_from_file_names():
    assert speaker_of("yes/0b40aa8e_nohash_1.wav") == "0b40aa8e"
    assert speaker_of("_unknown_/backward_0c540988_nohash_0.wav.wav") == "0c540988"  # the v0.02 test set's names
    assert speaker_of("7/theo_12.wav", "7") == "theo"
    assert speaker_of("7/7_theo_12.wav", "7") == "theo"


def speech_commands_12_like(root, speakers=12):
    """The v0.02 test-set layout: keyword folders, _unknown_ as <word>_<speaker>_nohash_<n>.wav.wav, numbered _silence_."""
    rng = np.random.default_rng(0)
    for index in range(speakers):
        speaker = f"{index:08x}"
        for word in ("no", "yes"):
            for take in range(2):
                write_wav(root / word / f"{speaker}_nohash_{take}.wav", word_clip("steady", 16000, index + take), 16000)
        write_wav(root / "_unknown_" / f"backward_{speaker}_nohash_0.wav.wav", word_clip("hiss", 16000, index), 16000)
    for index in range(6):
        write_wav(root / "_silence_" / f"{1000 + index}.wav", rng.normal(scale=0.01 * (index + 1), size=16000), 16000)
    write_wav(root / "_silence_" / "1099.wav", np.zeros(16000), 16000)  # digital silence: no use as noise
    return root


def test_speaker_split_keeps_every_voice_in_one_split_and_reads_doubled_extensions(tmp_path):
    root = speech_commands_12_like(tmp_path / "sc12")
    config = SpeechConfig(val_fraction=0.2, test_fraction=0.2)
    source = load_source(str(root), config)
    assert source.labels == ["_silence_", "_unknown_", "no", "yes"] and source.size("all") == 12 * 5 + 7
    speakers = {split: {clip.speaker for clip in source.clips[split]} for split in ("train", "val", "test")}
    assert all(speakers.values()) and not (speakers["train"] & speakers["val"] or speakers["train"] & speakers["test"]
                                           or speakers["val"] & speakers["test"])
    unknown = [clip for clip in source.split_clips("all") if clip.path.endswith(".wav.wav")]
    assert len(unknown) == 12 and all(len(clip.speaker) == 8 for clip in unknown)
    assert "speakers" in source.split_note
    assert [clip.path for clip in load_source(str(root), config).clips["test"]] == [clip.path for clip in source.clips["test"]]
    # A held-out speaker's clips are the test split; validation is still other speakers.
    held = load_source(str(root), SpeechConfig(test_speakers="00000003"))
    assert {clip.speaker for clip in held.clips["test"]} == {"00000003"}
    assert not {clip.speaker for clip in held.clips["val"]} & {clip.speaker for clip in held.clips["train"]}
    for word in ("no", "yes"):
        for speaker in ("aa11", "bb22"):
            write_wav(tmp_path / "two" / word / f"{speaker}_nohash_0.wav", np.zeros(800), 16000)
    with pytest.raises(ValueError, match="split_by=speaker needs at least 3 speakers, found 2 .*split_by=file"):
        load_source(str(tmp_path / "two"), SpeechConfig())


def test_training_silence_clips_are_the_noise_when_there_is_no_background_folder(tmp_path):
    from apps.speech.data import training_noise

    root = speech_commands_12_like(tmp_path / "sc12")
    config = SpeechConfig(val_fraction=0.2, test_fraction=0.2, noise_probability=0.8)
    source = load_source(str(root), config)
    train_silence = [clip for clip in source.clips["train"] if clip.label == 0]
    loud = [clip for clip in train_silence if not clip.path.endswith("1099.wav")]
    noise, note = training_noise(source, config)
    assert noise is not None and int(noise.shape[0]) == 16000 * len(loud)  # only training clips, the silent one left out
    assert f"the {len(train_silence)} training _silence_ clips" in note
    level = np.sqrt(np.mean(np.square(np.asarray(noise[:16000]))))
    assert level == pytest.approx(0.1, rel=1e-3)
    assert training_noise(source, SpeechConfig(noise_probability=0))[0] is None


def test_bad_layouts_are_refused_with_the_reason(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        load_source(str(tmp_path / "missing"), SMALL)
    write_wav(tmp_path / "loose" / "a.wav", np.zeros(100), 16000)
    with pytest.raises(ValueError, match=r"one folder of .wav files per class \(1 WAV files lie directly"):
        load_source(str(tmp_path / "loose"), SMALL)
    write_wav(tmp_path / "single" / "yes" / "a.wav", np.zeros(100), 16000)
    with pytest.raises(ValueError, match="only one class folder"):
        load_source(str(tmp_path / "single"), SMALL)
    with pytest.raises(ValueError, match="not a single file"):
        load_source(str(tmp_path / "loose" / "a.wav"), SMALL)


def test_tfds_offline_gives_a_clear_error(monkeypatch):
    import tensorflow_datasets as tfds

    def offline(*args, **kwargs):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(tfds, "load", offline)
    with pytest.raises(ValueError, match="tfds:speech_commands: could not load it .*needs the network"):
        load_source("tfds:speech_commands", SMALL)


def test_scan_skips_and_counts_bad_files_and_notes_rates_channels_and_length(wav_folder):
    root, files = wav_folder
    source = load_source(str(root), SMALL)
    total = source.size("all")
    report = scan_source(source, SMALL, verbose=False)
    reasons = dict(report.skipped)
    assert reasons == {str(files["corrupt"]): "corrupt WAV: the 'fmt ' chunk runs past the end of the file",
                       str(files["empty"]): "empty file (0 bytes)"}
    assert source.size("all") == total - 2 and len(report.usable) == total - 2
    assert {8000, 16000, 22050, 44100} <= set(report.rates)
    assert report.stereo == 1 and report.longer >= 1
    assert "2 skipped" in report.summary(0.5)


def test_training_batches_have_one_shape_and_survive_a_file_broken_after_the_scan(tmp_path, wav_folder):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(wav_folder[0], root)
    source = load_source(str(root), SMALL)
    scan_source(source, SMALL, verbose=False)
    clips = source.clips["train"]
    (root / clips[0].path.split(str(root) + "/")[1]).write_bytes(b"now broken")
    (root / clips[1].path.split(str(root) + "/")[1]).unlink()
    noise = np.random.default_rng(0).normal(scale=0.1, size=16000).astype(np.float32)
    batches = list(make_dataset(source, "train", SMALL, training=True, noise=noise).as_numpy_iterator())
    assert {batch[0].shape[1] for batch in batches} == {8000}
    assert sum(len(batch[1]) for batch in batches) <= len(clips) - 2
    assert all(np.abs(batch[0]).max() <= 1.0 for batch in batches)


def test_max_per_class_keeps_every_split(wav_folder):
    source = load_source(str(wav_folder[0]), SpeechConfig(max_per_class=4, val_fraction=0.2, test_fraction=0.2))
    per_class = np.bincount([clip.label for clip in source.split_clips("all")])
    assert per_class.max() <= 4 + 2 and source.has("train")  # shares are rounded up per split


def test_demo_set_is_in_the_speech_commands_layout_at_mixed_rates():
    source = load_source("demo", SpeechConfig(max_per_class=12))
    assert source.labels == list(DEMO_WORDS) and len(source.noise_paths) == 2
    assert "validation_list.txt" in source.split_note and all(source.has(split) for split in ("train", "val", "test"))
    report = scan_source(source, SpeechConfig(), verbose=False)
    assert len(report.rates) >= 3 and not report.skipped


def test_the_recipe_follows_the_model_so_attention_needs_no_other_flag():
    from rnnkit.config import load_config

    stream = load_config(SpeechConfig)
    assert (stream.normalize, stream.pitch_change) == ("pcen", 0.1)  # the measured streaming recipe
    attention = load_config(SpeechConfig, overrides=["model=attention"])
    attention.validate()  # PCEN and pitch perturbation are streaming-only and were refused before
    assert (attention.normalize, attention.pitch_change) == ("batch", 0.0)
    given = load_config(SpeechConfig, overrides=["normalize=clip", "pitch_change=0.05"])
    assert (given.normalize, given.pitch_change) == ("clip", 0.05)
