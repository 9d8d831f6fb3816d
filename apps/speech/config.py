"""The speech config: every setting of a run, with defaults that work."""

from __future__ import annotations

from dataclasses import dataclass

CELLS = ("gru", "lstm", "simple")  # simple: the Elman SimpleRNN
MODELS = ("stream", "attention")
SPLIT_BY = ("file", "speaker")
NORMALIZE = ("batch", "clip", "pcen")


# The defaults of model, augmentation and size were chosen on Speech Commands 12 by unseen speakers
# (BENCHMARKS.md: each augmentation alone, then together in the wider model for 40 epochs).
@dataclass
class SpeechConfig:
    # audio: every clip is brought to this rate, mono, and this duration
    sample_rate: int = 16000
    clip_seconds: float = 1.0
    crop: str = "loudest"  # a longer clip keeps its loudest window (or its start, or its center)
    # features (log-mel spectrogram, computed inside the model)
    fft_length: int = 512
    window_ms: float = 30.0
    hop_ms: float = 10.0
    mel_bins: int = 40
    min_freq: float = 20.0
    max_freq: float = 0.0  # 0: half the sample rate
    floor_db: float = -30.0  # mel power below this (dB re full scale) is raised to it: silence and digital zeros look alike
    normalize: str = ""  # "" follows the model: pcen for stream, batch for attention; batch: a learned scale per mel band; pcen: per-channel energy normalization (a gain per band that follows the level); clip: each band of each clip to mean 0, variance 1 over time (not streamable)
    pcen_smoothing: float = 0.025  # PCEN's smoother: the share of each new frame (0.025: a 0.4 s time constant at 10 ms hops)
    # model
    model: str = "stream"  # stream: causal conv + unidirectional RNN, runs packet by packet too; attention: conv + bidirectional RNN + attention pooling
    conv_blocks: int = 2
    conv_filters: int = 32  # doubled in each further block
    cell: str = "gru"  # gru, lstm or simple (SimpleRNN)
    units: int = 128
    rnn_layers: int = 1  # stacked RNN layers (model=stream)
    dropout: float = 0.2
    # data
    val_fraction: float = 0.1  # without validation_list.txt: this share of the files (hashed by path)
    test_fraction: float = 0.1  # without testing_list.txt (ignored when test_speakers is set)
    split_by: str = "speaker"  # speaker: all clips of a speaker go to one split (val and test are voices never heard in training); file: hash each file
    test_speakers: str = ""  # comma-separated speakers held out as the test split (e.g. "theo")
    max_per_class: int = 0  # use at most N clips per class (0: all); for quick runs
    # augmentation (training only)
    time_shift_seconds: float = 0.1
    speed_change: float = 0.1  # play clips up to this much faster or slower (0.1: +-10%; pitch moves too)
    pitch_change: float | None = None  # None follows the model: 0.1 for stream, 0 for attention (which cannot); stretch each clip's frequency axis by up to this much (0.1: +-10%; vocal tract length perturbation, timing kept)
    spec_time_masks: int = 2  # SpecAugment: bands of frames zeroed per training clip ...
    spec_time_width: int = 10  # ... each up to this many frames wide
    spec_freq_masks: int = 2  # bands of mel bins zeroed per training clip ...
    spec_freq_width: int = 5  # ... each up to this many bins wide
    gain_db: float = 6.0
    noise_probability: float = 0.0  # share of training clips mixed with background noise (_background_noise_ recordings, else the training _silence_ clips)
    noise_volume: float = 0.1  # up to this share of the noise's recorded level (silence clips are first brought to 0.1 RMS)
    # optimisation
    epochs: int = 40
    batch_size: int = 32
    optimizer: str = "adam"
    learning_rate: float = 3e-3
    weight_decay: float = 0.0
    schedule: str = "cosine"
    final_lr_fraction: float = 0.02
    warmup_steps: int = 0
    clipnorm: float = 1.0
    patience: int = 0  # early stopping after N epochs without improvement (0: off)
    seed: int = 1337

    def __post_init__(self):
        # The measured recipe (PCEN, pitch perturbation) exists for the streaming model only, so the
        # earlier attention model keeps what it had: `--set model=attention` alone is enough.
        if not self.normalize:
            self.normalize = "batch" if self.model == "attention" else "pcen"
        if self.pitch_change is None:
            self.pitch_change = 0.0 if self.model == "attention" else 0.1

    @property
    def clip_samples(self) -> int:
        from rnnkit.data.audio import seconds_to_samples

        return seconds_to_samples(self.clip_seconds, self.sample_rate)

    @property
    def window_samples(self) -> int:
        return int(round(self.window_ms * self.sample_rate / 1000))

    @property
    def hop_samples(self) -> int:
        return int(round(self.hop_ms * self.sample_rate / 1000))

    def speakers(self) -> list[str]:
        return [name.strip() for name in self.test_speakers.split(",") if name.strip()]

    def validate(self) -> None:
        from rnnkit.data.audio import CROPS

        if self.model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, not {self.model!r}")
        if self.model == "attention" and (self.normalize == "pcen" or self.pitch_change > 0):
            raise ValueError("normalize=pcen and pitch_change need model=stream")
        if self.model == "stream":
            packet = 2 * self.hop_samples
            if self.clip_samples % packet:
                raise ValueError(f"model=stream needs clips of whole 2-hop packets: clip_samples {self.clip_samples} "
                                 f"is not a multiple of {packet}; change clip_seconds or hop_ms")
            if self.mel_bins % 2**self.conv_blocks:
                raise ValueError(f"mel_bins ({self.mel_bins}) must be divisible by 2**conv_blocks ({2**self.conv_blocks})")
        if not 1 <= self.rnn_layers <= 4:
            raise ValueError(f"rnn_layers must be 1..4, not {self.rnn_layers}")
        if not 0.0 < self.pcen_smoothing <= 1.0:
            raise ValueError(f"pcen_smoothing must be in (0, 1], not {self.pcen_smoothing}")
        if not 0.0 <= self.pitch_change < 0.5:
            raise ValueError(f"pitch_change must be in [0, 0.5), not {self.pitch_change}")
        for name in ("spec_time_masks", "spec_time_width", "spec_freq_masks", "spec_freq_width"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, not {getattr(self, name)}")
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, not {self.cell!r}")
        if self.crop not in CROPS:
            raise ValueError(f"crop must be one of {', '.join(CROPS)}, not {self.crop!r}")
        if self.normalize not in NORMALIZE:
            raise ValueError(f"normalize must be one of {', '.join(NORMALIZE)}, not {self.normalize!r}")
        if not 0.0 <= self.speed_change < 0.5:
            raise ValueError(f"speed_change must be in [0, 0.5), not {self.speed_change}")
        if self.split_by not in SPLIT_BY:
            raise ValueError(f"split_by must be one of {', '.join(SPLIT_BY)}, not {self.split_by!r}")
        for name in ("sample_rate", "fft_length", "mel_bins", "conv_filters", "units", "batch_size", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.sample_rate < 4000:
            raise ValueError(f"sample_rate must be at least 4000 Hz, not {self.sample_rate}")
        if not 0.1 <= self.clip_seconds <= 10.0:
            raise ValueError(f"clip_seconds must be between 0.1 and 10, not {self.clip_seconds}")
        if not 1 <= self.hop_samples <= self.window_samples <= self.fft_length:
            raise ValueError(
                f"need 1 <= hop ({self.hop_samples} samples) <= window ({self.window_samples} samples) "
                f"<= fft_length ({self.fft_length}); change hop_ms, window_ms or fft_length"
            )
        nyquist = self.sample_rate / 2
        top = self.max_freq or nyquist
        if not 0 <= self.min_freq < top <= nyquist:
            raise ValueError(f"need 0 <= min_freq ({self.min_freq}) < max_freq ({top}) <= {nyquist} Hz")
        if self.conv_blocks < 0 or self.conv_blocks > 4:
            raise ValueError(f"conv_blocks must be 0..4, not {self.conv_blocks}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")
        if not (0.0 < self.val_fraction < 0.5 and 0.0 <= self.test_fraction < 0.5):
            raise ValueError("val_fraction must be in (0, 0.5) and test_fraction in [0, 0.5)")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, not {self.learning_rate}")
        if not 0.0 <= self.noise_probability <= 1.0 or self.noise_volume < 0 or self.gain_db < 0 or self.time_shift_seconds < 0:
            raise ValueError("noise_probability must be in [0, 1]; noise_volume, gain_db and time_shift_seconds >= 0")
