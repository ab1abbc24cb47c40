"""The speech front end (seq2seq/data/audio.py): Sphinx .mfc files, wav reading, our MFCCs against CMU's sphinx_fe
(Debian's sphinxbase-utils; `make speech-tools` installs it), resampling, deltas, normalisation, SpecAugment, AN4."""

from __future__ import annotations

import shutil
import subprocess
import wave

import numpy as np
import pytest
import torch

from conftest import SHARED_DATA, load_script
from seq2seq.data import audio
from seq2seq.errors import UserError

AN4 = SHARED_DATA / "an4"
SPHINX_FE = shutil.which("sphinx_fe")
ESPEAK = shutil.which("espeak-ng")
# the features of AN4 (its README), and no VAD: sphinx_fe's -remove_silence defaults to yes and drops frames
SPHINX_ARGS = ["-mswav", "yes", "-samprate", "16000", "-lowerf", "130", "-upperf", "6800", "-nfilt", "40", "-nfft",
               "512", "-ncep", "13", "-frate", "100", "-remove_noise", "no", "-remove_silence", "no"]


def write_mfc(path, values, byteorder: str) -> None:
    values = np.asarray(values, np.float32).ravel()
    path.write_bytes(np.array([values.size], f"{byteorder}i4").tobytes() + values.astype(f"{byteorder}f4").tobytes())


def write_wav(path, samples, rate: int = 16000, channels: int = 1, width: int = 2) -> None:
    """PCM samples (int array, interleaved for stereo) in the given byte width."""
    dtype = {1: "u1", 2: "<i2", 4: "<i4"}[width]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(np.asarray(samples).astype(dtype).tobytes())


def one_line_error(call, *names: str) -> str:
    with pytest.raises(UserError) as e:
        call()
    message = str(e.value)
    assert "\n" not in message
    for name in names:
        assert name in message
    return message


# -- .mfc files ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("byteorder", [">", "<"])
def test_read_mfc_either_byte_order(tmp_path, byteorder):
    values = np.arange(26, dtype=np.float32).reshape(2, 13) / 4 - 3  # exact in float32
    write_mfc(tmp_path / "a.mfc", values, byteorder)
    feats = audio.read_mfc(tmp_path / "a.mfc")
    assert feats.dtype == torch.float32 and feats.shape == (2, 13)
    assert torch.equal(feats, torch.from_numpy(values))


@pytest.mark.skipif(not AN4.is_dir(), reason=f"no AN4 copy at {AN4}")
def test_read_mfc_real_an4_file():
    path = AN4 / "feat" / "an4_clstk" / "fash" / "an251-fash-b.mfc"
    data = path.read_bytes()
    assert int.from_bytes(data[:4], "big") * 4 == len(data) - 4  # the copy is big-endian
    feats = audio.read_mfc(path)
    assert feats.shape == ((len(data) - 4) // 52, 13)
    assert torch.isfinite(feats).all()
    assert feats[:, 0].mean() > feats[:, 1:].abs().max()  # c0, the log energy, dominates


def test_read_mfc_bad_files(tmp_path):
    (tmp_path / "empty.mfc").write_bytes(b"")
    one_line_error(lambda: audio.read_mfc(tmp_path / "empty.mfc"), "empty.mfc", "empty")
    write_mfc(tmp_path / "none.mfc", [], ">")
    one_line_error(lambda: audio.read_mfc(tmp_path / "none.mfc"), "none.mfc", "empty")
    write_mfc(tmp_path / "cut.mfc", np.ones(26), ">")
    (tmp_path / "cut.mfc").write_bytes((tmp_path / "cut.mfc").read_bytes()[:-52])
    assert "26 values" in one_line_error(lambda: audio.read_mfc(tmp_path / "cut.mfc"), "cut.mfc", "truncated")
    (tmp_path / "text.mfc").write_bytes(b"this is not a feature file at all\n")
    one_line_error(lambda: audio.read_mfc(tmp_path / "text.mfc"), "text.mfc", "not a Sphinx .mfc file")
    write_mfc(tmp_path / "odd.mfc", np.ones(14), "<")
    one_line_error(lambda: audio.read_mfc(tmp_path / "odd.mfc"), "odd.mfc", "whole frames")
    write_mfc(tmp_path / "nan.mfc", np.full(13, np.nan), "<")
    one_line_error(lambda: audio.read_mfc(tmp_path / "nan.mfc"), "nan.mfc", "damaged")
    one_line_error(lambda: audio.read_mfc(tmp_path / "missing.mfc"), "missing.mfc")


# -- wav input -------------------------------------------------------------------------------------------------
def test_bad_wavs(tmp_path):
    one_line_error(lambda: audio.wav_features(b"RIFF but not really a wav"), "upload", "not a PCM wav file")
    (tmp_path / "t.wav").write_text("hello")
    one_line_error(lambda: audio.wav_features(tmp_path / "t.wav"), "t.wav", "not a PCM wav file")
    write_wav(tmp_path / "empty.wav", np.zeros(0))
    one_line_error(lambda: audio.wav_features(tmp_path / "empty.wav"), "empty.wav", "empty")
    write_wav(tmp_path / "three.wav", np.zeros(300), channels=3)
    one_line_error(lambda: audio.wav_features(tmp_path / "three.wav"), "three.wav", "3 audio channels")
    write_wav(tmp_path / "long.wav", np.zeros(8000 * (audio.MAX_SECONDS + 1)), rate=8000)
    one_line_error(lambda: audio.wav_features(tmp_path / "long.wav"), "long.wav", f"at most {audio.MAX_SECONDS} s")
    write_wav(tmp_path / "cut.wav", np.ones(1000))
    (tmp_path / "cut.wav").write_bytes((tmp_path / "cut.wav").read_bytes()[:-500])
    one_line_error(lambda: audio.wav_features(tmp_path / "cut.wav"), "cut.wav", "truncated")
    float_wav = bytearray((tmp_path / "empty.wav").read_bytes())
    float_wav[20:22] = (3).to_bytes(2, "little")  # format tag 3: IEEE float
    one_line_error(lambda: audio.wav_features(bytes(float_wav)), "not a PCM wav file")
    one_line_error(lambda: audio.wav_features(tmp_path / "missing.wav"), "missing.wav", "no such audio file")
    one_line_error(lambda: audio.wav_features(np.zeros(0, np.int16), 16000), "empty")
    one_line_error(lambda: audio.wav_features(np.zeros(100, np.int16), 10**9), "sample rate")
    one_line_error(lambda: audio.wav_features(np.zeros((2, 100)), 16000), "1-D")
    with pytest.raises(ValueError):
        audio.wav_features(np.zeros(100, np.int16))  # no sample rate


def test_frame_count_follows_sphinx():
    # whole 410-sample windows every 160 samples, then one frame of what follows the last of them
    assert [audio.frame_count(n) for n in (1, 409, 410, 569, 570, 571)] == [1, 1, 2, 2, 3, 3]
    assert audio.mfcc(np.ones(571)).shape == (3, 13)


def test_mel_filters_and_dct():
    weights = audio.mel_filters()  # (257, 40)
    assert weights.shape == (257, 40)
    hz = np.arange(257) * 16000 / 512
    used = hz[(weights > 0).any(axis=1)]
    assert 130 - 31.25 <= used.min() and used.max() <= 6800 + 31.25  # within a DFT point of -lowerf/-upperf
    centres = hz[weights.argmax(axis=0)]
    assert (np.diff(centres) > 0).all()  # 40 distinct triangles, rising
    area = weights.sum(axis=0) * 16000 / 512
    assert np.allclose(area, 1, atol=0.25)  # unit area in Hz, up to the DFT-point rounding of the corners
    dct = audio.legacy_dct()  # (40, 13)
    # a flat log spectrum: c0 = (1/2 + 39) / 40, and the first filter's half weight gives c_i = -cos(pi i / 80) / 80
    expected = [39.5 / 40] + [-np.cos(np.pi * i / 80) / 80 for i in range(1, 13)]
    assert np.allclose(np.ones(40) @ dct, expected)


def sphinx_features(wav, tmp_path) -> torch.Tensor:
    out = tmp_path / (wav.stem + ".mfc")
    subprocess.run([SPHINX_FE, "-i", str(wav), "-o", str(out), *SPHINX_ARGS], check=True, capture_output=True,
                   timeout=60)
    return audio.read_mfc(out)


def chirp_and_noise(n: int = 19877) -> np.ndarray:
    """int16 samples: a 200 Hz -> 8 kHz chirp, amplitude-modulated, in noise (fixed seed), at 16 kHz."""
    t = np.arange(n) / 16000
    signal = 3000 * np.sin(2 * np.pi * (200 * t + 3000 * t**2)) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return np.round(signal + 300 * np.random.default_rng(0).standard_normal(n)).astype(np.int16)


def speech(tmp_path) -> np.ndarray:
    """int16 samples at 16 kHz of espeak-ng saying an AN4-like utterance (espeak-ng speaks at 22,050 Hz)."""
    raw = tmp_path / "espeak.wav"
    subprocess.run([ESPEAK, "-w", str(raw), "ERASE C Q Q F SEVEN. GO TO THE NEXT ITEM, THEN STOP."], check=True,
                   capture_output=True, timeout=60)
    samples, rate = audio.read_wav(raw)
    return np.clip(np.round(audio.resample(samples, rate)), -32768, 32767).astype(np.int16)


@pytest.mark.skipif(SPHINX_FE is None, reason="sphinx_fe missing (Debian sphinxbase-utils: `make speech-tools`)")
@pytest.mark.parametrize("kind", ["chirp", "speech"])
def test_front_end_matches_sphinx_fe(tmp_path, kind):
    if kind == "speech" and ESPEAK is None:
        pytest.skip("espeak-ng missing (`make speech-tools`): no speech to compare on")
    samples = chirp_and_noise() if kind == "chirp" else speech(tmp_path)
    if (len(samples) - audio.FRAME_SIZE) % audio.FRAME_SHIFT == 0:
        samples = samples[:-1]  # ending exactly on a frame, sphinx_fe's 2048-sample reads may drop its last frame
    write_wav(tmp_path / f"{kind}.wav", samples)
    theirs = sphinx_features(tmp_path / f"{kind}.wav", tmp_path)  # (frames, 13)
    ours = audio.wav_features(tmp_path / f"{kind}.wav")
    assert ours.shape == theirs.shape == (audio.frame_count(len(samples)), 13)
    diff = (ours - theirs).abs()
    spread = theirs.max(dim=0).values - theirs.min(dim=0).values
    # the same arithmetic up to float32 rounding: about 3e-6 in practice
    assert diff.max() < 1e-4, f"max |ours - sphinx_fe| = {diff.max():.2e}"
    assert (diff / spread).max() < 1e-4
    # the same samples as bytes and as arrays (int16, and float at full scale 1.0)
    assert torch.equal(audio.wav_features((tmp_path / f"{kind}.wav").read_bytes()), ours)
    assert torch.equal(audio.wav_features(samples, 16000), ours)
    assert torch.equal(audio.wav_features(torch.from_numpy(samples / 32768), 16000), ours)


def tones(rate: int, seconds: float = 1.0) -> np.ndarray:
    """Five tones under 3.2 kHz (so an 8 kHz recording holds them), modulated, faded in and out, full scale 1."""
    t = np.arange(round(rate * seconds)) / rate
    envelope = (1 + 0.8 * np.sin(2 * np.pi * 2.5 * t)) * np.clip(np.minimum(t, seconds - t) / 0.05, 0, 1) ** 2
    parts = [a * np.sin(2 * np.pi * f * t + k) for k, (a, f) in
             enumerate(((4000, 300), (2500, 700), (2000, 1100), (1500, 2300), (1000, 3100)))]
    return sum(parts) * envelope / 32768


@pytest.mark.parametrize("rate", [8000, 22050, 44100])
def test_other_rates_give_the_16k_features(rate):
    ref = audio.wav_features(tones(16000), 16000)
    feats = audio.wav_features(tones(rate), rate)
    assert feats.shape == ref.shape
    spread = ref.max(dim=0).values - ref.min(dim=0).values
    assert ((feats - ref).abs() / spread).max() < 1e-2  # about 7e-3 at 8 kHz, 2e-3 at 44.1 kHz


def test_resample_keeps_a_tone():
    t16 = np.arange(16000) / 16000
    for rate in (8000, 44100, 96001):  # 96,001 Hz: 16,000 phases, so the filter table is interpolated
        t = np.arange(rate) / rate
        out = audio.resample(np.sin(2 * np.pi * 1000 * t), rate)
        assert len(out) == 16000
        assert np.abs(out - np.sin(2 * np.pi * 1000 * t16))[400:-400].max() < 1e-3
    same = np.arange(5.0)
    assert audio.resample(same, 16000) is same


def test_stereo_and_sample_widths(tmp_path):
    rng = np.random.default_rng(1)
    left = rng.integers(-60, 60, 4000) * 512  # even multiples of 256: their mean is exact in 8 bits
    right = rng.integers(-60, 60, 4000) * 512
    mono = (left + right) // 2
    write_wav(tmp_path / "mono.wav", mono)
    write_wav(tmp_path / "stereo.wav", np.stack([left, right], axis=1).ravel(), channels=2)
    ref = audio.wav_features(tmp_path / "mono.wav")
    assert torch.equal(audio.wav_features(tmp_path / "stereo.wav"), ref)
    write_wav(tmp_path / "u8.wav", mono // 256 + 128, width=1)
    write_wav(tmp_path / "i32.wav", mono * 65536, width=4)
    assert torch.equal(audio.wav_features(tmp_path / "u8.wav"), ref)
    assert torch.equal(audio.wav_features(tmp_path / "i32.wav"), ref)
    with wave.open(str(tmp_path / "i24.wav"), "wb") as w:  # 24-bit: the low three bytes of each int32
        w.setnchannels(1)
        w.setsampwidth(3)
        w.setframerate(16000)
        w.writeframes(np.asarray(mono * 256, "<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes())
    assert torch.equal(audio.wav_features(tmp_path / "i24.wav"), ref)


# -- training-time transforms ----------------------------------------------------------------------------------
def test_deltas_on_a_ramp():
    ramp = torch.arange(8.0).unsqueeze(1)  # (8, 1)
    out = audio.deltas(ramp)  # window 2: sum n (x[t+n] - x[t-n]) / 10, edge frames repeated
    assert out.shape == (8, 3)
    assert torch.equal(out[:, 0], ramp[:, 0])
    assert torch.allclose(out[:, 1], torch.tensor([0.5, 0.8, 1, 1, 1, 1, 0.8, 0.5]))
    assert torch.allclose(out[:, 2], torch.tensor([0.13, 0.15, 0.12, 0.04, -0.04, -0.12, -0.15, -0.13]))
    assert torch.allclose(audio.deltas(ramp, window=1)[:, 1], torch.tensor([0.5, 1, 1, 1, 1, 1, 1, 0.5]))


def test_normalize():
    feats = torch.randn(50, 13) * torch.arange(1.0, 14.0) + 7
    feats[:, 3] = 2.5  # a constant coefficient
    out = audio.normalize(feats)
    assert torch.allclose(out.mean(dim=0), torch.zeros(13), atol=1e-5)
    var = out.var(dim=0, unbiased=False)
    assert torch.allclose(var[torch.arange(13) != 3], torch.ones(12), atol=1e-4)
    assert torch.equal(out[:, 3], torch.zeros(50))


def runs(mask: torch.Tensor) -> list[int]:
    """Lengths of the runs of True in a 1-D mask."""
    out, n = [], 0
    for m in [*mask.tolist(), False]:
        if m:
            n += 1
        elif n:
            out, n = [*out, n], 0
    return out


def test_spec_augment():
    feats = torch.ones(120, 13)
    seen_two = False
    for seed in range(20):
        g = torch.Generator().manual_seed(seed)
        out = audio.spec_augment(feats, g, time_masks=0, freq_masks=2, freq_width=3)
        zero_cols = (out == 0).all(dim=0)
        assert ((out == 0) == zero_cols.unsqueeze(0)).all()  # whole coefficients, nothing else
        widths = runs(zero_cols)
        assert 1 <= len(widths) <= 2 and all(w <= 6 for w in widths) and zero_cols.sum() <= 6
        seen_two |= len(widths) == 2
        out = audio.spec_augment(feats, g, time_masks=1, time_width=10, freq_masks=0)
        zero_rows = (out == 0).all(dim=1)
        assert ((out == 0) == zero_rows.unsqueeze(1)).all()
        assert len(runs(zero_rows)) == 1 and 1 <= zero_rows.sum() <= 10
    assert seen_two
    assert torch.equal(feats, torch.ones(120, 13))  # the input is left alone
    first = audio.spec_augment(feats, torch.Generator().manual_seed(5))
    again = audio.spec_augment(feats, torch.Generator().manual_seed(5))
    assert torch.equal(first, again) and (first == 0).any()
    others = [audio.spec_augment(feats, torch.Generator().manual_seed(s)) for s in range(6, 11)]
    assert any(not torch.equal(first, o) for o in others)
    none = audio.spec_augment(feats, torch.Generator(), time_masks=0, freq_masks=0)
    assert torch.equal(none, feats)
    short = audio.spec_augment(torch.ones(3, 13), torch.Generator().manual_seed(0), time_width=20)
    assert short.shape == (3, 13)  # a mask wider than the utterance is cut to it


# -- AN4 -------------------------------------------------------------------------------------------------------
def fake_an4(root, speakers=("fa", "fb", "mc", "md")):
    """A tiny AN4-shaped copy: three utterances per speaker, transcripts with sentence markers."""
    (root / "etc").mkdir(parents=True)
    ids, texts = [], []
    for s in speakers:
        (root / "feat" / "an4_clstk" / s).mkdir(parents=True)
        for i in range(3):
            utt = f"an{i}-{s}-b"
            ids.append(f"an4_clstk/{s}/{utt}")
            texts.append(f"<s> GO {i} </s> ({utt})")
            write_mfc(root / "feat" / "an4_clstk" / s / f"{utt}.mfc", np.zeros(13), ">")
    (root / "etc" / "an4_train.fileids").write_text("\n".join(ids) + "\n")
    (root / "etc" / "an4_train.transcription").write_text("\n".join(texts) + "\n")
    return ids


def test_an4_lists_and_dev_split(tmp_path):
    ids = fake_an4(tmp_path)
    utts = audio.an4_utterances(tmp_path, "train")
    assert [str(p.relative_to(tmp_path)) for p, _ in utts] == [f"feat/{i}.mfc" for i in ids]
    assert [t for _, t in utts[:3]] == ["GO 0", "GO 1", "GO 2"]
    train, dev = audio.an4_dev_split(utts, n=5)
    assert len(dev) == 6 and len(train) == 6  # two whole speakers: 6 is as near 5 as 3
    assert not {audio.speaker(p) for p, _ in dev} & {audio.speaker(p) for p, _ in train}
    assert audio.an4_dev_split(utts, n=5) == (train, dev)
    assert sorted(train + dev) == sorted(utts)
    one_line_error(lambda: audio.an4_utterances(tmp_path, "test"), "an4_test.fileids")
    one_line_error(lambda: audio.an4_utterances(tmp_path, "dev"), "unknown AN4 split")
    with open(tmp_path / "etc" / "an4_train.fileids", "a") as f:
        f.write("an4_clstk/fa/an9-fa-b\n")
    one_line_error(lambda: audio.an4_utterances(tmp_path, "train"), "an9-fa-b")


@pytest.mark.skipif(not AN4.is_dir(), reason=f"no AN4 copy at {AN4}")
def test_an4_copy():
    train, test = audio.an4_utterances(AN4, "train"), audio.an4_utterances(AN4, "test")
    assert (len(train), len(test)) == (948, 130)
    assert train[0][1] == "YES" and test[0][1] == "RUBOUT G M E F THREE NINE"
    assert all(p.is_file() and text for p, text in train + test)
    assert len({audio.speaker(p) for p, _ in train}) == 74 and len({audio.speaker(p) for p, _ in test}) == 10
    rest, dev = audio.an4_dev_split(train)
    assert 80 <= len(dev) <= 120 and len(rest) + len(dev) == 948
    assert not {audio.speaker(p) for p, _ in dev} & {audio.speaker(p) for p, _ in rest}
    recipe = load_script("data/an4.py", "an4_recipe")
    summary, problems = recipe.check(AN4)
    assert problems == [] and "train 948 utterances" in summary and "test 130 utterances" in summary
