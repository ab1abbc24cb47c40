"""The speech front end: audio -> 13 mel cepstra per 10 ms frame, the features of CMU Sphinx's `sphinx_fe`.

Two ways in: `read_mfc` reads Sphinx feature files (the AN4 corpus ships as those), and `wav_features` computes the
same features from audio, so a model trained on AN4's .mfc files can hear a wav. The computation follows
sphinxbase's float front end (fe_sigproc.c, fe_interface.c) as `sphinx_fe -mswav yes -samprate 16000 -lowerf 130
-upperf 6800 -nfilt 40 -nfft 512 -ncep 13 -frate 100 -remove_noise no -remove_silence no` runs it: pre-emphasis
0.97 carried across frames, a 410-sample Hamming window every 160 samples, a 512-point power spectrum, 40 triangular
mel filters of unit area on DFT points, log(energy + 1e-4), and Sphinx's legacy DCT (c0 from the log energies, no
lifter, no dither). Where we differ: sphinx_fe's default -remove_silence yes drops frames its VAD calls silence (we
never drop frames, so pass -remove_silence no to compare); its VAD start-up buffer swallows utterances under 11
frames, which we keep; and when the samples end exactly on a window, its 2048-sample reads sometimes lose the last
frame. tests/data/test_audio.py checks the two frame by frame (they agree to float32 rounding, about 3e-6).

Then, for training: `deltas`, per-utterance `normalize` and `spec_augment`; and the AN4 corpus's file lists.
"""

from __future__ import annotations

import io
import math
import os
import random
import wave
from pathlib import Path

import numpy as np
import torch

from seq2seq.errors import UserError

SAMPLE_RATE = 16_000  # Hz: the front end's rate; other rates are resampled to it
MIN_RATE, MAX_RATE = 4_000, 192_000  # Hz: the sample rates accepted
MAX_SECONDS = 60  # longer audio is refused (an utterance, not a recording session)
N_CEPS = 13
FRAME_SHIFT = 160  # samples: 100 frames per second
FRAME_SIZE = 410  # samples: sphinx's 0.025625 s window, int(0.025625 * 16000 + 0.5)
N_FFT = 512
N_FILTERS = 40
LOWER_HZ, UPPER_HZ = 130.0, 6800.0
PRE_EMPHASIS = 0.97
LOG_FLOOR = 1e-4  # added to each mel energy before the log, as sphinxbase does
AN4_SPLITS = ("train", "test")
AN4_SOURCE = ("CMU AN4 (Census) database, http://www.speech.cs.cmu.edu/databases/an4/; these features: "
              "https://github.com/cphazen/Machine-Learning-Project-ASR (folder an4/)")


# -- Sphinx feature files --------------------------------------------------------------------------------------
def read_mfc(path: str | Path, ncep: int = N_CEPS) -> torch.Tensor:
    """(frames, ncep) float32 cepstra of a Sphinx .mfc file: an int32 count N, then N float32 values, in either byte
    order (the one whose count matches the file's size)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UserError(f"{path}: cannot read Sphinx feature file ({e.strerror or e})") from None
    if len(data) < 4:
        raise UserError(f"{path}: empty Sphinx feature file ({len(data)} bytes)")
    n_values, spare = divmod(len(data) - 4, 4)
    order = next((o for o in (">", "<") if int(np.frombuffer(data, f"{o}i4", 1)[0]) == n_values), None)
    if order is None or spare:
        heads = [int(np.frombuffer(data, f"{o}i4", 1)[0]) for o in (">", "<")]
        if any(n_values < h <= 1 << 28 for h in heads):
            said = min(h for h in heads if h > n_values)
            raise UserError(f"{path}: truncated Sphinx feature file (header says {said} values, the file holds "
                            f"{n_values})")
        raise UserError(f"{path}: not a Sphinx .mfc file (its header does not match its size, {len(data)} bytes)")
    if n_values == 0:
        raise UserError(f"{path}: empty Sphinx feature file (no frames)")
    if n_values % ncep:
        raise UserError(f"{path}: {n_values} values are not whole frames of {ncep} cepstra")
    feats = np.frombuffer(data, f"{order}f4", n_values, offset=4).astype(np.float32).reshape(-1, ncep)  # (frames, ncep)
    if not np.isfinite(feats).all():
        raise UserError(f"{path}: damaged Sphinx feature file (values that are not finite numbers)")
    return torch.from_numpy(feats)


# -- audio in --------------------------------------------------------------------------------------------------
def read_wav(source: str | Path | bytes, name: str = "upload") -> tuple[np.ndarray, int]:
    """(samples, sample rate) of a PCM wav file (or these bytes, called `name` in errors): 8/16/24/32-bit, mono or
    stereo mixed to mono, as float64 in 16-bit units (what sphinx_fe computes on)."""
    if isinstance(source, (bytes, bytearray)):
        stream, label = io.BytesIO(source), name
    else:
        label = str(source)
        if not Path(source).is_file():
            raise UserError(f"{label}: no such audio file")
        try:
            stream = open(source, "rb")  # noqa: SIM115 (closed below)
        except OSError as e:
            raise UserError(f"{label}: cannot read audio file ({e.strerror or e})") from None
    try:
        with wave.open(stream, "rb") as w:
            channels, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            if channels > 2:
                raise UserError(f"{label}: {channels} audio channels; mono or stereo only")
            if width not in (1, 2, 3, 4):
                raise UserError(f"{label}: {8 * width}-bit samples; 8, 16, 24 or 32-bit PCM only")
            check_rate(rate, label)
            if n == 0:
                raise UserError(f"{label}: empty audio file (no samples)")
            if n > MAX_SECONDS * rate:
                raise UserError(f"{label}: {n / rate:.1f} s of audio; at most {MAX_SECONDS} s")
            raw = w.readframes(n)
    except (wave.Error, EOFError, RuntimeError) as e:  # wave reports some damaged chunks as a bare RuntimeError
        raise UserError(f"{label}: not a PCM wav file ({e or 'damaged header'})") from None
    finally:
        stream.close()
    if len(raw) < n * channels * width:
        raise UserError(f"{label}: truncated wav file ({len(raw) // (channels * width)} of {n} samples)")
    samples = _pcm_to_float(raw, width).reshape(n, channels).mean(axis=1)  # (n,) the mono mix
    return samples, rate


def check_rate(rate: int, label: str) -> None:
    """Refuse a sample rate outside MIN_RATE..MAX_RATE (a damaged header's, or not speech)."""
    if not MIN_RATE <= rate <= MAX_RATE:
        raise UserError(f"{label}: sample rate {rate:,} Hz; {MIN_RATE:,} to {MAX_RATE:,} Hz only")


def _pcm_to_float(raw: bytes, width: int) -> np.ndarray:
    """Little-endian PCM samples as float64 in 16-bit units (wav's 8-bit samples are unsigned, the rest signed)."""
    if width == 1:
        return (np.frombuffer(raw, np.uint8).astype(np.float64) - 128) * 256
    if width == 3:  # no numpy type: widen each sample to 4 bytes, sign in the top byte
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        padded = np.zeros((len(b), 4), np.uint8)
        padded[:, 1:] = b
        return padded.view("<i4")[:, 0].astype(np.float64) / 65536
    dtype = "<i2" if width == 2 else "<i4"
    return np.frombuffer(raw, dtype).astype(np.float64) / (1 if width == 2 else 65536)


def as_samples(samples, label: str = "audio") -> np.ndarray:
    """A 1-D numpy or torch array as float64 in 16-bit units: int16 as it is, int32 / 65536, uint8 (offset 128)
    * 256, floats taken as -1..1 full scale (* 32768)."""
    x = samples.detach().cpu().numpy() if isinstance(samples, torch.Tensor) else np.asarray(samples)
    if x.ndim != 1:
        raise UserError(f"{label}: samples must be a 1-D array, got shape {tuple(x.shape)}")
    if x.size == 0:
        raise UserError(f"{label}: empty audio (no samples)")
    if x.dtype == np.uint8:
        return (x.astype(np.float64) - 128) * 256
    if x.dtype == np.int16:
        return x.astype(np.float64)
    if x.dtype == np.int32:
        return x.astype(np.float64) / 65536
    if np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
        if not np.isfinite(x).all():
            raise UserError(f"{label}: samples that are not finite numbers")
        return x * 32768
    raise UserError(f"{label}: samples of type {x.dtype}; int16, int32, uint8 or float")


def _kaiser_sinc(offsets: np.ndarray, scale: float, half: float, beta: float) -> np.ndarray:
    """The interpolation filter at `offsets` input samples from its centre: a sinc of cutoff `scale`, Kaiser-windowed
    to +-half samples."""
    inside = np.clip(1 - (offsets / half) ** 2, 0, None)
    weights = scale * np.sinc(scale * offsets) * np.i0(beta * np.sqrt(inside)) / np.i0(beta)
    return np.where(np.abs(offsets) < half, weights, 0.0)


def resample(samples: np.ndarray, rate: int, target: int = SAMPLE_RATE, zero_crossings: int = 32,
             rolloff: float = 0.95, beta: float = 8.6) -> np.ndarray:
    """`samples` at `rate` Hz resampled to `target` Hz: band-limited interpolation with a Kaiser-windowed sinc whose
    cutoff is `rolloff` times the lower Nyquist frequency; the usual rates' ratios have few phases, tabulated once."""
    g = math.gcd(int(rate), int(target))
    up, down = target // g, int(rate) // g
    if up == down:
        return samples
    scale = min(1.0, up / down) * rolloff  # cutoff, as a fraction of the input's Nyquist frequency
    half = zero_crossings / scale  # filter half-width in input samples
    k = math.ceil(half)
    taps = np.arange(2 * k)  # output n at position base + phase / up uses input samples base - k + 1 + taps
    # the filter tabulated at `steps` + 1 fractional positions: every phase of the usual rates' ratios (44.1 kHz: 160),
    # else (an odd rate such as 44,101 Hz) 4096 steps, linearly interpolated (errors near 1e-8)
    steps = up if up * len(taps) <= 1 << 22 else 4096
    table = _kaiser_sinc(np.arange(steps + 1)[:, None] / steps + (k - 1 - taps)[None, :], scale, half, beta)
    padded = np.concatenate([np.zeros(k), samples, np.zeros(k + 1)])
    n_out = -(-len(samples) * up // down)  # outputs whose positions fall inside the input
    out = np.empty(n_out)
    chunk = max(1, (1 << 20) // len(taps))  # outputs per step: keeps the (outputs, taps) arrays near 8 MB
    for start in range(0, n_out, chunk):
        n = np.arange(start, min(n_out, start + chunk))
        base, phase = (n * down) // up, (n * down) % up
        if steps == up:
            weights = table[phase]
        else:
            position = phase * (steps / up)
            row = np.minimum(position.astype(np.int64), steps - 1)
            w = (position - row)[:, None]
            weights = table[row] * (1 - w) + table[row + 1] * w
        out[n] = np.einsum("ij,ij->i", padded[base[:, None] + 1 + taps[None, :]], weights)
    return out


# -- the front end ---------------------------------------------------------------------------------------------
def _mel(hz):
    return (2595.0 * np.log10(1.0 + np.asarray(hz, np.float64) / 700.0)).astype(np.float32)


def _mel_to_hz(mel):
    return (700.0 * (10.0 ** (np.asarray(mel, np.float64) / 2595.0) - 1.0)).astype(np.float32)


def mel_filters() -> np.ndarray:
    """(N_FFT // 2 + 1, N_FILTERS) weights of sphinxbase's filter bank: triangles equally spaced in mel, their
    corners rounded to DFT points, scaled to unit area; float32 arithmetic as in its C, so each corner lands on the
    same DFT point."""
    f32 = np.float32
    lo, hi = _mel(LOWER_HZ), _mel(UPPER_HZ)
    width = f32((hi - lo) / f32(N_FILTERS + 1))
    bin_hz = f32(f32(SAMPLE_RATE) / f32(N_FFT))
    corners = _mel_to_hz((np.arange(N_FILTERS)[:, None] + np.arange(3)[None, :]).astype(f32) * width + lo)
    corners = (corners / bin_hz + 0.5).astype(np.int64).astype(f32) * bin_hz  # (filters, 3) left, centre, right
    left, centre, right = corners[:, 0:1], corners[:, 1:2], corners[:, 2:3]
    hz = np.arange(N_FFT // 2).astype(f32)[None, :] * bin_hz  # the Nyquist point is never used
    area = f32(2) / (right - left)
    rising = (hz - left) / (centre - left) * area
    falling = (right - hz) / (right - centre) * area
    weights = np.where((hz >= left) & (hz <= right), np.minimum(rising, falling), f32(0))  # (filters, bins)
    return np.concatenate([weights, np.zeros((N_FILTERS, 1), f32)], axis=1).T.astype(np.float64)


def legacy_dct() -> np.ndarray:
    """(N_FILTERS, N_CEPS) matrix of Sphinx's legacy DCT: c_i = sum_j w_j log E_j cos(pi i (j + 1/2) / N) / N, with
    w_0 = 1/2 and w_j = 1 otherwise (c0 included)."""
    j = np.arange(N_FILTERS)
    cos = np.cos(np.pi / N_FILTERS * np.arange(N_CEPS)[None, :] * (j[:, None] + 0.5))  # (filters, ceps)
    weight = np.where(j == 0, 0.5, 1.0)[:, None]
    return weight * cos / N_FILTERS


def frame_count(n: int) -> int:
    """Frames of `n` samples: every whole window 160 samples apart, then one from the samples after the last (the
    frame sphinx_fe makes at the end of an utterance)."""
    return (1 + (n - FRAME_SIZE) // FRAME_SHIFT if n >= FRAME_SIZE else 0) + 1


def mfcc(samples: np.ndarray) -> torch.Tensor:
    """(frames, 13) float32 cepstra of 16 kHz samples (float, 16-bit units), computed as sphinx_fe does."""
    x = np.asarray(samples, np.float64)
    if x.size == 0:
        raise UserError("audio: empty (no samples)")
    emphasised = x.copy()
    emphasised[1:] -= PRE_EMPHASIS * x[:-1]  # the sample before the first is 0
    frames = frame_count(len(x))
    padded = np.zeros((frames - 1) * FRAME_SHIFT + N_FFT)
    padded[: len(x)] = emphasised  # the last frame is zero-padded
    starts = np.arange(frames)[:, None] * FRAME_SHIFT
    windowed = padded[starts + np.arange(FRAME_SIZE)[None, :]] * np.hamming(FRAME_SIZE)  # (frames, 410)
    power = np.abs(np.fft.rfft(windowed, N_FFT, axis=1)) ** 2  # (frames, 257)
    log_mel = np.log(power @ mel_filters() + LOG_FLOOR)  # (frames, 40)
    return torch.from_numpy((log_mel @ legacy_dct()).astype(np.float32))  # (frames, 13)


def wav_features(source, sample_rate: int | None = None) -> torch.Tensor:
    """(frames, 13) cepstra of a wav file (path or bytes) or of a 1-D sample array at `sample_rate` Hz; any rate
    is resampled to 16 kHz, stereo mixed to mono."""
    if isinstance(source, (str, Path, bytes, bytearray)):
        if sample_rate is not None:
            raise ValueError("sample_rate is for sample arrays; a wav file gives its own")
        samples, rate = read_wav(source)
    else:
        if sample_rate is None:
            raise ValueError("sample_rate is required with a sample array")
        samples, rate = as_samples(source), int(sample_rate)
        check_rate(rate, "audio")
        if len(samples) > MAX_SECONDS * rate:
            raise UserError(f"audio: {len(samples) / rate:.1f} s of audio; at most {MAX_SECONDS} s")
    return mfcc(resample(samples, rate))


# -- training-time transforms ----------------------------------------------------------------------------------
def _delta(feats: torch.Tensor, window: int) -> torch.Tensor:
    """(frames, dim) slopes over +-window frames, edge frames repeated: sum n (x[t+n] - x[t-n]) / (2 sum n^2)."""
    frames = feats.size(0)
    index = torch.arange(frames)
    out = torch.zeros_like(feats)
    for n in range(1, window + 1):
        ahead = feats[(index + n).clamp(max=frames - 1)]
        behind = feats[(index - n).clamp(min=0)]
        out += n * (ahead - behind)
    return out / (2 * sum(n * n for n in range(1, window + 1)))


def deltas(feats: torch.Tensor, window: int = 2) -> torch.Tensor:
    """(frames, 3 * dim): the features, their deltas and delta-deltas (the deltas' deltas), as HTK computes them."""
    d = _delta(feats, window)
    return torch.cat([feats, d, _delta(d, window)], dim=1)


def normalize(feats: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """(frames, dim) with each dimension at zero mean and unit variance over the utterance (a constant one -> 0)."""
    mean = feats.mean(dim=0, keepdim=True)
    std = feats.std(dim=0, unbiased=False, keepdim=True)
    return (feats - mean) / std.clamp(min=eps)


def model_input(cepstra: torch.Tensor, with_deltas: bool = True) -> torch.Tensor:
    """What a speech model reads of an utterance's (frames, 13) cepstra: with their deltas and delta-deltas (39)
    or alone (data.audio_deltas), each dimension normalised over the utterance."""
    return normalize(deltas(cepstra) if with_deltas else cepstra)


def load_cepstra(source, sample_rate: int | None = None) -> torch.Tensor:
    """(frames, 13) cepstra of a Sphinx .mfc file, or of audio (a wav path or bytes, or samples at sample_rate)."""
    if isinstance(source, (str, Path)) and Path(source).suffix.lower() == ".mfc":
        return read_mfc(source)
    feats = wav_features(source, sample_rate)
    if feats.size(0) == 0:
        raise UserError(f"{source if isinstance(source, (str, Path)) else 'audio'}: too short to hold a 10 ms frame")
    return feats


def spec_augment(feats: torch.Tensor, generator: torch.Generator, time_masks: int = 2, time_width: int = 20,
                 freq_masks: int = 2, freq_width: int = 3) -> torch.Tensor:
    """A copy of (frames, dim) features with `time_masks` runs of frames and `freq_masks` runs of dimensions set to
    zero (the utterance mean, once `normalize`d); each run's width is uniform in 1..width, its place uniform; runs
    may overlap. Deterministic given the generator."""
    out = feats.clone()
    for masks, width, axis in ((freq_masks, freq_width, 1), (time_masks, time_width, 0)):
        size = out.size(axis)
        for _ in range(masks if size else 0):
            w = int(torch.randint(1, min(width, size) + 1, (), generator=generator)) if width > 0 else 0
            if w == 0:
                continue
            start = int(torch.randint(0, size - w + 1, (), generator=generator))
            out.narrow(axis, start, w).zero_()
    return out


# -- the AN4 corpus (CMU Census database, as Sphinx features) ------------------------------------------------
def an4_root(root: str | Path | None = None) -> Path:
    """The folder of an AN4 copy (etc/, feat/): `root`, else $AN4, else shared/data/an4 beside the repository."""
    candidates = [root] if root else [os.environ.get("AN4"), Path(__file__).resolve().parents[3] / "shared" / "data"
                                      / "an4", Path("../shared/data/an4")]
    for c in candidates:
        if c and (Path(c) / "etc").is_dir():
            return Path(c)
    raise UserError(f"AN4 not found (looked in {', '.join(str(c) for c in candidates if c)}); give its folder "
                    f"(public source: {AN4_SOURCE})")


def an4_utterances(root: str | Path | None, split: str) -> list[tuple[Path, str]]:
    """(feature file, transcript) of each utterance of an AN4 copy's `train` or `test` list, in the list's order."""
    if split not in AN4_SPLITS:
        raise UserError(f"unknown AN4 split {split!r}; one of {', '.join(AN4_SPLITS)}")
    base = an4_root(root)
    ids, texts = base / "etc" / f"an4_{split}.fileids", base / "etc" / f"an4_{split}.transcription"
    for f in (ids, texts):
        if not f.is_file():
            raise UserError(f"{base}: not an AN4 copy ({f.relative_to(base)} missing)")
    transcript = {}
    for number, line in enumerate(texts.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        text, sep, utt = line.strip().rpartition(" (")
        if not sep or not utt.endswith(")"):
            raise UserError(f"{texts}:{number}: expected 'TEXT (utterance-id)'")
        words = [w for w in text.split() if w not in ("<s>", "</s>")]
        transcript[utt[:-1]] = " ".join(words)
    out = []
    for line in ids.read_text(encoding="utf-8").split():
        utt = Path(line).name
        if utt not in transcript:
            raise UserError(f"{texts}: no transcript for {utt}")
        out.append((base / "feat" / f"{line}.mfc", transcript[utt]))
    return out


def speaker(path: str | Path) -> str:
    """The speaker of an AN4 feature file: its folder (feat/an4_clstk/SPEAKER/ID.mfc)."""
    return Path(path).parent.name


def an4_dev_split(utterances: list[tuple[Path, str]], n: int = 100, seed: int = 1
                  ) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """(train, dev): whole speakers, in a seeded order, moved to dev until it holds about `n` utterances (the
    stopping point nearer n), so no dev speaker is heard in training; the order of the list is kept."""
    counts: dict[str, int] = {}
    for path, _ in utterances:
        counts[speaker(path)] = counts.get(speaker(path), 0) + 1
    order = sorted(counts)
    random.Random(seed).shuffle(order)
    chosen, total = set(), 0
    for s in order:
        if total >= n or (total and abs(total + counts[s] - n) > abs(total - n)):
            break
        chosen.add(s)
        total += counts[s]
    dev = [u for u in utterances if speaker(u[0]) in chosen]
    return [u for u in utterances if speaker(u[0]) not in chosen], dev
