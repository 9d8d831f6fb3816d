"""Speech sources for the speech app: folder layouts, tfds, and a generated demo set.

SOURCE is one of
  demo           sounds synthesised per class (rising and falling chirps, steady and
                 warbling tones, pulse trains, hiss bursts), written once as WAV files in the
                 Speech Commands layout (with lists and _background_noise_) at mixed sample
                 rates, some stereo, so everything runs offline;
  PATH           a folder (or a .tar.gz of one) with one folder of WAV files per class:
                   <word>/*.wav                    any one-folder-per-class layout, as
                                                   keras.utils.audio_dataset_from_directory reads it
                   _background_noise_/*.wav        Speech Commands: long noise recordings, mixed
                                                   into training clips (not a class)
                   validation_list.txt, testing_list.txt
                                                   Speech Commands: "<word>/<file>.wav" per line;
                                                   the files they name are the validation / test
                                                   splits, all others train
                 Without the lists, `val_fraction` / `test_fraction` of the files (hashed by
                 path, or by speaker with split_by=speaker) are held out, or `test_speakers`
                 names the speakers whose clips are the test split;
  tfds:speech_commands   TensorFlow Datasets (needs the network the first time).

The speaker of a file is the part of its name before "_nohash_" (Speech Commands),
else its name without a trailing "_<number>" ("theo_12.wav" -> "theo").

Every clip is decoded with rnnkit.data.audio: any WAV rate is resampled to the
model's rate, stereo is mixed to mono, and the clip is cut or padded to
`clip_seconds`. A file that cannot be used (not a WAV, empty, unsupported
encoding, unreadable) is skipped and counted before training starts.
"""

from __future__ import annotations

import hashlib
import math
import re
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEMO = "demo"
DEMO_VERSION = 1
DEMO_WORDS = ("falling", "hiss", "pulses", "rising", "steady", "warble")
DEMO_PER_CLASS = 40
BACKGROUND_NOISE = "_background_noise_"
SILENCE, UNKNOWN = "_silence_", "_unknown_"
SILENCE_NOISE_RMS = 0.1
VALIDATION_LIST, TESTING_LIST = "validation_list.txt", "testing_list.txt"
SPLITS = ("train", "val", "test")


@dataclass
class Clip:
    path: str
    label: int
    speaker: str


@dataclass
class SpeechSource:
    """Labels and the clips (or, for tfds, the datasets) of each split."""

    name: str
    labels: list[str]
    clips: dict[str, list[Clip]] = field(default_factory=dict)
    noise_paths: list[str] = field(default_factory=list)
    tfds_splits: dict = field(default_factory=dict)  # split -> (tf.data.Dataset of (int16 audio, label), size)
    split_note: str = ""
    missing_listed: int = 0  # files named in a list but not found

    def size(self, split: str) -> int:
        if split in self.tfds_splits:
            return int(self.tfds_splits[split][1])
        if split == "all":
            return sum(len(items) for items in self.clips.values())
        return len(self.clips.get(split, []))

    def has(self, split: str) -> bool:
        return self.size(split) > 0

    def split_clips(self, split: str) -> list[Clip]:
        if split == "all":
            return [clip for name in SPLITS for clip in self.clips.get(name, [])]
        return list(self.clips.get(split, []))


# -- speakers and splits ----------------------------------------------------


def speaker_of(path: str | Path, label: str | None = None) -> str:
    name = Path(path).name
    if "_nohash_" in name:
        # "<speaker>_nohash_<n>.wav", and "<word>_<speaker>_nohash_<n>.wav.wav" as the v0.02 test set names
        # its _unknown_ clips: the speaker is the hex id just before "_nohash_".
        return name.split("_nohash_")[0].rsplit("_", 1)[-1]
    stem = Path(path).stem
    speaker = re.sub(r"_\d+$", "", stem)
    if label and speaker.startswith(f"{label}_"):  # "7_theo_12.wav" as the original FSDD names it
        speaker = speaker[len(label) + 1:]
    return speaker


def _fraction(key: str) -> float:
    """A stable number in [0, 1) for `key`: the same file or speaker always lands in the same split."""
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) / 2**32


def _speaker_shares(clips: list[Clip], shares: list[tuple[str, float]]) -> dict[str, str]:
    """Speaker -> split: speakers in a stable hashed order fill each split until it holds its share of the clips.

    Every split with a share gets at least one speaker, and training keeps at least one.
    """
    counts = Counter(clip.speaker for clip in clips)
    order = sorted(counts, key=lambda speaker: (_fraction(speaker), speaker))
    wanted = [(split, share) for split, share in shares if share > 0]
    if len(order) < len(wanted) + 1:
        raise ValueError(f"split_by=speaker needs at least {len(wanted) + 1} speakers, found {len(order)} "
                         f"({', '.join(order)}); use --set split_by=file")
    total = sum(counts.values())
    assigned: dict[str, str] = {}
    position = 0
    for split, share in wanted:
        taken = 0
        while position < len(order) - 1 and (taken == 0 or taken < share * total):
            assigned[order[position]] = split
            taken += counts[order[position]]
            position += 1
    for speaker in order[position:]:
        assigned[speaker] = "train"
    return assigned


def assign_splits(clips: list[Clip], root: Path, config) -> tuple[dict[str, list[Clip]], str]:
    """Train / val / test without Speech Commands lists (see the module docstring)."""
    splits: dict[str, list[Clip]] = {name: [] for name in SPLITS}
    held_out = set(config.speakers())
    if held_out:
        known = sorted({clip.speaker for clip in clips})
        unknown = sorted(held_out - set(known))
        if unknown:
            shown = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
            raise ValueError(f"test_speakers: {', '.join(unknown)} not among the speakers of {root} ({shown})")
    rest = [clip for clip in clips if clip.speaker not in held_out]
    splits["test"] = [clip for clip in clips if clip.speaker in held_out]
    test_share = 0.0 if held_out else config.test_fraction
    if config.split_by == "speaker":
        assigned = _speaker_shares(rest, [("test", test_share), ("val", config.val_fraction)])
        for clip in rest:
            splits[assigned[clip.speaker]].append(clip)
    else:
        for clip in rest:
            share = _fraction(str(Path(clip.path).relative_to(root)))
            split = "test" if share < test_share else "val" if share < test_share + config.val_fraction else "train"
            splits[split].append(clip)
    unit = "speakers (all clips of a speaker in one split)" if config.split_by == "speaker" else "files (hashed)"
    if held_out:
        note = f"test = every clip of {', '.join(sorted(held_out))}; val = {config.val_fraction:.0%} of the other {unit}"
    else:
        note = f"val / test = {config.val_fraction:.0%} / {config.test_fraction:.0%} of the {unit}"
    if config.split_by == "speaker":
        count = {name: len({clip.speaker for clip in splits[name]}) for name in SPLITS}
        note += f"; {count['train']} / {count['val']} / {count['test']} speakers"
    return splits, note


# -- folder layouts ---------------------------------------------------------


def _wav_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.suffix.lower() == ".wav" and not path.name.startswith("."))


def _read_list(path: Path) -> set[str]:
    return {line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


def load_folder(root: str | Path, config) -> SpeechSource:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"--data {root}: no such folder")
    class_dirs = sorted(path for path in root.iterdir()
                        if path.is_dir() and path.name != BACKGROUND_NOISE and not path.name.startswith(".") and _wav_files(path))
    if not class_dirs:
        loose = [path for path in root.iterdir() if path.suffix.lower() == ".wav"]
        hint = f" ({len(loose)} WAV files lie directly in it)" if loose else ""
        raise ValueError(f"--data {root}: expected one folder of .wav files per class{hint}, e.g. {root}/yes/*.wav")
    if len(class_dirs) < 2:
        raise ValueError(f"--data {root}: only one class folder ({class_dirs[0].name}); a classifier needs two or more")
    labels = [path.name for path in class_dirs]
    clips = []
    for index, folder in enumerate(class_dirs):
        clips += [Clip(str(path), index, speaker_of(path, folder.name)) for path in _wav_files(folder)]
    noise_dir = root / BACKGROUND_NOISE
    noise_paths = [str(path) for path in _wav_files(noise_dir)] if noise_dir.is_dir() else []
    lists = {name: root / file for name, file in (("val", VALIDATION_LIST), ("test", TESTING_LIST))}
    source = SpeechSource(str(root), labels, noise_paths=noise_paths)
    if any(path.is_file() for path in lists.values()):
        listed = {name: _read_list(path) if path.is_file() else set() for name, path in lists.items()}
        splits: dict[str, list[Clip]] = {name: [] for name in SPLITS}
        for clip in clips:
            relative = Path(clip.path).relative_to(root).as_posix()
            split = "test" if relative in listed["test"] else "val" if relative in listed["val"] else "train"
            splits[split].append(clip)
        present = {Path(clip.path).relative_to(root).as_posix() for clip in clips}
        source.missing_listed = len((listed["val"] | listed["test"]) - present)
        names = " and ".join(file for file, path in ((VALIDATION_LIST, lists["val"]), (TESTING_LIST, lists["test"])) if path.is_file())
        source.split_note = f"splits from {names}"
        source.clips = splits
    else:
        source.clips, source.split_note = assign_splits(clips, root, config)
    if config.max_per_class:
        source.clips = limit_per_class(source.clips, config.max_per_class)
    return source


def limit_per_class(splits: dict[str, list[Clip]], limit: int) -> dict[str, list[Clip]]:
    """At most `limit` clips per class in all, shared among the splits as the class's clips are."""
    totals = Counter(clip.label for clips in splits.values() for clip in clips)
    limited = {}
    for name, clips in splits.items():
        counts = Counter(clip.label for clip in clips)
        keep = {label: math.ceil(limit * count / totals[label]) for label, count in counts.items()}
        ranked = sorted(clips, key=lambda clip: _fraction(clip.path))
        taken: Counter = Counter()
        chosen = set()
        for clip in ranked:
            if taken[clip.label] < keep[clip.label]:
                taken[clip.label] += 1
                chosen.add(clip.path)
        limited[name] = [clip for clip in clips if clip.path in chosen]
    return limited


def _class_root(archive: Path) -> Path:
    """Unpack a .tar.gz; return the folder that holds the class folders."""
    from rnnkit.io import extract_archive

    target = extract_archive(archive)
    children = [path for path in target.iterdir() if not path.name.startswith(".")]
    # speech_commands_v0.02.tar.gz unpacks flat; other archives hold one top folder.
    return children[0] if len(children) == 1 and children[0].is_dir() and not _wav_files_directly(children[0]) else target


def _wav_files_directly(folder: Path) -> bool:
    return any(path.suffix.lower() == ".wav" for path in folder.iterdir())


def _load_tfds(name: str, config) -> SpeechSource:
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:  # pragma: no cover - it is a dependency
        raise ValueError("tfds sources need tensorflow-datasets installed") from error
    try:
        splits, info = tfds.load(name, as_supervised=True, with_info=True)
    except Exception as error:
        raise ValueError(f"--data tfds:{name}: could not load it ({type(error).__name__}: {str(error)[:200]}); "
                         "it needs the network the first time; pass a folder in the Speech Commands layout "
                         "(speech_commands_v0.02.tar.gz unpacked) instead") from None
    labels = list(info.features["label"].names)
    rename = {"train": "train", "validation": "val", "test": "test"}
    source = SpeechSource(f"tfds:{name}", labels, split_note=f"tfds {name} splits")
    for split, dataset in splits.items():
        if split in rename:
            size = info.splits[split].num_examples
            if config.max_per_class:
                size = min(size, config.max_per_class * len(labels))
                dataset = dataset.take(size)
            source.tfds_splits[rename[split]] = (dataset, size)
    return source


def load_source(source: str, config) -> SpeechSource:
    """Read SOURCE (see the module docstring) with the run's split settings."""
    if source == DEMO:
        return load_folder(demo_folder(), config)
    if source.startswith("tfds:"):
        return _load_tfds(source.split(":", 1)[1], config)
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"--data {source}: no such file or folder (give a folder of class folders, a .tar.gz, demo or tfds:NAME)")
    if path.is_file():
        if not path.name.endswith((".tar.gz", ".tgz", ".tar")):
            raise ValueError(f"--data {source}: expected a folder of class folders or a .tar.gz of one, not a single file")
        root = _class_root(path)
        loaded = load_folder(root, config)
        loaded.name = source
        return loaded
    return load_folder(path, config)


# -- checking files before training -----------------------------------------


@dataclass
class ScanReport:
    """What decoding every file found: usable clips, and skipped ones with the reason."""

    usable: list[Clip]
    skipped: list[tuple[str, str]]
    rates: Counter
    stereo: int = 0
    longer: int = 0
    truncated: int = 0

    def summary(self, clip_seconds: float) -> str:
        rates = ", ".join(f"{count} at {rate / 1000:g} kHz" for rate, count in sorted(self.rates.items()))
        parts = [f"{len(self.usable)} usable clips ({rates})"]
        if self.stereo:
            parts.append(f"{self.stereo} multi-channel mixed to mono")
        if self.longer:
            parts.append(f"{self.longer} longer than {clip_seconds:g} s cut to their loudest part")
        if self.truncated:
            parts.append(f"{self.truncated} truncated (the frames present are used)")
        if self.skipped:
            reasons = Counter(reason for _, reason in self.skipped)
            parts.append(f"{len(self.skipped)} skipped: " + "; ".join(f"{count} {reason}" for reason, count in reasons.most_common()))
        return ", ".join(parts)


def scan_clips(clips: list[Clip], clip_seconds: float) -> ScanReport:
    """Parse every file's header in parallel; unusable files are listed with their reason, never fatal."""
    import tensorflow as tf

    from rnnkit.data.audio import parse_wav

    report = ScanReport([], [], Counter())
    if not clips:
        return report
    readable = []
    for clip in clips:
        path = Path(clip.path)
        if not path.is_file():
            report.skipped.append((clip.path, "missing or not a file"))
        else:
            readable.append(clip)

    def header(index, path):
        info = parse_wav(tf.io.read_file(path))
        return index, info["error"], info["sample_rate"], info["channels"], info["frames"], info["truncated"]

    paths = tf.data.Dataset.from_tensor_slices((tf.range(len(readable)), [clip.path for clip in readable]))
    results = paths.map(header, num_parallel_calls=tf.data.AUTOTUNE).ignore_errors().batch(256)
    seen = set()
    for index, error, rate, channels, frames, truncated in results.as_numpy_iterator():
        for i, message, file_rate, count, length, cut in zip(index, error, rate, channels, frames, truncated, strict=True):
            seen.add(int(i))
            clip = readable[int(i)]
            if message:
                report.skipped.append((clip.path, message.decode("utf-8")))
                continue
            report.usable.append(clip)
            report.rates[int(file_rate)] += 1
            report.stereo += int(count > 1)
            report.longer += int(length > clip_seconds * file_rate + 1)
            report.truncated += int(bool(cut))
    for i, clip in enumerate(readable):
        if i not in seen:
            report.skipped.append((clip.path, "unreadable"))
    order = {clip.path: index for index, clip in enumerate(clips)}
    report.usable.sort(key=lambda clip: order[clip.path])
    return report


def scan_source(source: SpeechSource, config, splits=SPLITS, verbose: bool = True) -> ScanReport:
    """Scan the clips of `splits` in one pass, keeping only the usable ones in each split."""
    names = [split for split in splits if split not in source.tfds_splits and source.clips.get(split)]
    report = scan_clips([clip for split in names for clip in source.clips[split]], config.clip_seconds)
    usable = {clip.path for clip in report.usable}
    for split in names:
        source.clips[split] = [clip for clip in source.clips[split] if clip.path in usable]
    if verbose and names:
        counts = ", ".join(f"{len(source.clips[split])} {split}" for split in names)
        print(f"{source.name}: {report.summary(config.clip_seconds)}; {counts} ({source.split_note})")
        for path, reason in report.skipped[:5]:
            print(f"  skipped {path}: {reason}", file=sys.stderr)
        if len(report.skipped) > 5:
            print(f"  ... and {len(report.skipped) - 5} more", file=sys.stderr)
    return report


# -- tf.data ----------------------------------------------------------------


def load_noise(paths: list[str], sample_rate: int, min_samples: int, rms: float | None = None):
    """Every background-noise file decoded, mono, at `sample_rate`, joined into one 1-D tensor (or None).

    With `rms`, each file is first scaled to that RMS level, and files quieter than
    -60 dB full scale (nearly digital silence, whose scaled-up rounding noise is not a
    background anyone hears) are left out.
    """
    import tensorflow as tf

    from rnnkit.data import audio

    pieces = []
    for path in paths:
        contents = tf.io.read_file(path)
        info = audio.parse_wav(contents)
        if info["error"].numpy():
            print(f"note: background noise {path} skipped: {info['error'].numpy().decode()}", file=sys.stderr)
            continue
        samples = audio.resample(audio.to_mono(audio.decode_wav(contents, info)), info["sample_rate"], sample_rate)
        if rms is not None:
            level = float(tf.sqrt(tf.reduce_mean(tf.square(samples))))
            if level < 1e-3:
                continue
            samples = samples * (rms / level)
        pieces.append(samples)
    if not pieces:
        return None
    noise = tf.concat(pieces, axis=0)
    return noise if int(noise.shape[0]) >= min_samples else None


def training_noise(source: SpeechSource, config):
    """(noise 1-D tensor or None, what it is): _background_noise_ recordings, else the training split's _silence_ clips.

    Only training clips are used, so no validation or test clip is ever heard in training.
    """
    if config.noise_probability <= 0 or config.noise_volume <= 0:
        return None, "no background noise (noise_probability or noise_volume is 0)"
    if source.noise_paths:
        noise = load_noise(source.noise_paths, config.sample_rate, config.clip_samples)
        what = f"{len(source.noise_paths)} {BACKGROUND_NOISE} recordings"
    elif SILENCE in source.labels:
        label = source.labels.index(SILENCE)
        paths = [clip.path for clip in source.clips.get("train", []) if clip.label == label]
        noise = load_noise(paths, config.sample_rate, config.clip_samples, rms=SILENCE_NOISE_RMS)
        what = f"the {len(paths)} training {SILENCE} clips (each at {SILENCE_NOISE_RMS} RMS, near-silent ones left out)"
    else:
        return None, "no background noise (no _background_noise_ folder and no _silence_ class)"
    if noise is None:
        return None, f"no background noise ({what} gave less than one clip of audio)"
    seconds = int(noise.shape[0]) / config.sample_rate
    return noise, (f"background noise: {what}, {seconds:.0f} s, mixed into {config.noise_probability:.0%} of training clips "
                   f"at up to {config.noise_volume:g} of its level")


def make_dataset(source: SpeechSource, split: str, config, *, training: bool, noise=None, cache: bool | None = None,
                 batch_size: int | None = None, seed: int | None = None):
    """Batches of (waveform float32 [batch, clip_samples], label int32) for one split.

    With `training`, clips are shuffled every epoch and augmented (time shift,
    gain, background noise when `noise` is given). Decoded clips are cached in
    memory when they fit in about a gigabyte, so files are decoded once.
    """
    import tensorflow as tf

    from rnnkit.data import audio

    clip_samples = config.clip_samples
    size = source.size(split)
    if size == 0:
        raise ValueError(f"--data {source.name}: the {split} split has no usable clips")
    if split in source.tfds_splits:
        dataset, _ = source.tfds_splits[split]

        def from_tfds(samples, label):
            waveform = tf.cast(samples, tf.float32) / 32768.0
            waveform = audio.resample(waveform, 16000, config.sample_rate)  # Speech Commands is 16 kHz
            return audio.prepare_waveform(waveform, clip_samples, config.crop, config.sample_rate), tf.cast(label, tf.int32)

        dataset = dataset.map(from_tfds, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        clips = source.split_clips(split)
        paths = tf.constant([clip.path for clip in clips])
        labels = tf.constant([clip.label for clip in clips], tf.int32)

        def load(path, label):
            clip = audio.decode_clip(tf.io.read_file(path), config.sample_rate, clip_samples, config.crop)
            return clip["waveform"], label, clip["error"]

        dataset = tf.data.Dataset.from_tensor_slices((paths, labels))
        dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE)
        # A file that changed after the scan is dropped here rather than ending the epoch.
        dataset = dataset.ignore_errors().filter(lambda waveform, label, error: tf.equal(error, ""))
        dataset = dataset.map(lambda waveform, label, error: (waveform, label))
    if cache is None:
        cache = size * clip_samples * 4 < 2**30
    if cache:
        dataset = dataset.cache()
    if training:
        seed = config.seed if seed is None else seed
        dataset = dataset.shuffle(min(size, 20000), seed=seed, reshuffle_each_iteration=True)
        randoms = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        shift = int(config.time_shift_seconds * config.sample_rate)

        def augment(example, seed_pair):
            waveform, label = example
            seeds = tf.random.experimental.stateless_split(tf.cast(seed_pair, tf.int64), 4)
            waveform = audio.change_speed(waveform, config.speed_change, seeds[3])
            waveform = audio.time_shift(waveform, shift, seeds[0])
            waveform = audio.random_gain(waveform, config.gain_db, seeds[1])
            waveform = audio.add_background_noise(waveform, noise, config.noise_probability, config.noise_volume, seeds[2])
            return tf.ensure_shape(waveform, [clip_samples]), label

        dataset = tf.data.Dataset.zip((dataset, randoms)).map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    # No drop_remainder: with a static batch size, Keras 3.15 counts one phantom batch per pass over a
    # dataset of unknown length (as skipping bad files makes it) and under-reports accuracy and loss.
    return dataset.batch(batch_size or config.batch_size).prefetch(tf.data.AUTOTUNE)


# -- the demo set -----------------------------------------------------------


def _demo_sound(word: str, rng: np.random.Generator, rate: int) -> np.ndarray:
    """One synthetic "utterance" of `word` at `rate` Hz, 0.25-0.7 s, peak 1."""
    duration = rng.uniform(0.25, 0.7)
    t = np.arange(int(duration * rate)) / rate
    low, high = rng.uniform(250, 450), rng.uniform(900, 1500)
    if word in ("rising", "falling"):
        start, stop = (low, high) if word == "rising" else (high, low)
        frequency = start + (stop - start) * t / duration
        phase = 2 * np.pi * np.cumsum(frequency) / rate
    elif word == "warble":
        centre, rate_hz, depth = rng.uniform(400, 900), rng.uniform(5, 9), rng.uniform(80, 160)
        phase = 2 * np.pi * np.cumsum(centre + depth * np.sin(2 * np.pi * rate_hz * t)) / rate
    else:
        phase = 2 * np.pi * rng.uniform(300, 900) * t
    sound = np.sin(phase) + 0.4 * np.sin(2 * phase) + 0.2 * np.sin(3 * phase)
    if word == "pulses":
        count = rng.integers(3, 6)
        sound *= (np.sin(np.pi * count * t / duration) > 0.3).astype(float)
    if word == "hiss":
        noise = rng.normal(size=t.size)
        spectrum = np.fft.rfft(noise)
        frequencies = np.fft.rfftfreq(t.size, 1 / rate)
        spectrum[(frequencies < 1500) | (frequencies > 3500)] = 0
        sound = np.fft.irfft(spectrum, t.size)
    envelope = np.minimum(1.0, np.minimum(t, duration - t) / 0.03)  # 30 ms fades
    sound = sound * envelope
    return sound / max(np.abs(sound).max(), 1e-9)


def write_demo(root: Path, per_class: int = DEMO_PER_CLASS, seed: int = 0) -> None:
    """The demo set in the Speech Commands layout: clips of 0.5-1 s at 8/16/22.05/44.1 kHz, ~10% stereo."""
    from rnnkit.data.audio import encode_wav

    rng = np.random.default_rng(seed)
    rates = (8000, 16000, 22050, 44100)
    validation, testing = [], []
    for word in DEMO_WORDS:
        (root / word).mkdir(parents=True)
        for index in range(per_class):
            rate = int(rng.choice(rates))
            length = int(rng.uniform(0.5, 1.0) * rate)
            sound = _demo_sound(word, rng, rate)[:length]
            clip = rng.normal(scale=rng.uniform(0.002, 0.02), size=length)
            start = int(rng.integers(0, length - sound.size + 1))
            clip[start: start + sound.size] += rng.uniform(0.2, 0.8) * sound
            if rng.random() < 0.1:
                clip = np.stack([clip, clip * rng.uniform(0.5, 1.0)], axis=1)
            name = f"synth{index % 8}_nohash_{index // 8}.wav"
            (root / word / name).write_bytes(encode_wav(clip, rate, "float32" if rng.random() < 0.1 else "int16"))
            share = index / per_class
            (validation if 0.8 <= share < 0.9 else testing if share >= 0.9 else []).append(f"{word}/{name}")
    (root / VALIDATION_LIST).write_text("\n".join(validation) + "\n", encoding="utf-8")
    (root / TESTING_LIST).write_text("\n".join(testing) + "\n", encoding="utf-8")
    noise_dir = root / BACKGROUND_NOISE
    noise_dir.mkdir()
    white = rng.normal(scale=0.3, size=16000 * 5)
    brown = np.cumsum(rng.normal(size=16000 * 5))
    brown = 0.5 * (brown - brown.mean()) / np.abs(brown - brown.mean()).max()
    (noise_dir / "white_noise.wav").write_bytes(encode_wav(white, 16000))
    (noise_dir / "brown_noise.wav").write_bytes(encode_wav(brown, 16000))


def demo_folder(per_class: int = DEMO_PER_CLASS) -> Path:
    """The demo set's folder, written once into the temporary directory and reused."""
    from rnnkit.io import atomic_directory

    target = Path(tempfile.gettempdir()) / f"rnnkit-speech-demo-v{DEMO_VERSION}-{per_class}"
    if target.is_dir():
        return target
    try:
        with atomic_directory(target) as scratch:
            write_demo(scratch, per_class)
    except (FileExistsError, OSError):
        if not target.is_dir():  # another process finished first: use its copy
            raise
    return target
