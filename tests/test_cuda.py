"""CUDA: a model gives the CPU's results on the GPU (teacher forcing, beam search, the shipped translator and
captioner), and training runs there with bf16 autocast and resumes. Skipped where no CUDA device is present."""

import json
import math

import pytest
import torch
from PIL import Image

from conftest import reverse_files, tiny_config
from seq2seq.data.batching import collate
from seq2seq.config import ModelConfig, SearchConfig
from seq2seq.hub import resolve
from seq2seq.model import build_model
from seq2seq.decode.search import decode
from seq2seq.train.trainer import Trainer
from seq2seq.loading import resolve_device
from seq2seq.translate import Translator

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")


def test_auto_picks_cuda():
    assert resolve_device("auto").type == "cuda"


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_forward_and_beam_search_match_the_cpu(cell):
    torch.manual_seed(0)
    cfg = ModelConfig(emb_dim=16, hidden=32, enc_layers=2, dec_layers=2, cell=cell, dropout=0.0, emb_dropout=0.0)
    cpu = build_model(cfg, 13, 13).eval()
    gpu = build_model(cfg, 13, 13).eval()
    gpu.load_state_dict(cpu.state_dict())
    gpu.to(CUDA)
    srcs = [[4 + (i * 7 + j) % 9 for j in range(2 + i % 6)] for i in range(24)]
    b = collate(srcs, [s[::-1] for s in srcs])
    with torch.inference_mode():
        want, _ = cpu(b.src, b.src_lengths, b.tgt_in)
        got, _ = gpu(b.src.to(CUDA), b.src_lengths, b.tgt_in.to(CUDA))
        assert torch.allclose(got.cpu(), want, atol=1e-4)
        a = decode(cpu.decoder, cpu.encode(b.src, b.src_lengths), b.src_lengths, SearchConfig(beam=4, alpha=0.6))
        g = decode(gpu.decoder, gpu.encode(b.src.to(CUDA), b.src_lengths), b.src_lengths, SearchConfig(beam=4, alpha=0.6))
    same = sum(x == y for x, y in zip(a.tokens, g.tokens))
    assert same >= len(srcs) - 1  # a near-tie may break differently in float arithmetic, at most once here
    for x, y, sx, sy in zip(a.tokens, g.tokens, a.scores, g.scores):
        if x == y:
            assert sx[0] == pytest.approx(sy[0], abs=1e-3)


def test_shipped_translator_agrees_with_the_cpu():
    model = resolve(None, "en", "de")
    texts = ["A dog runs through the grass.", "Two men are playing football in a park.",
             "A little girl in a pink dress is climbing the stairs.", "People are walking down a busy street."]
    cpu = Translator.load(model, "cpu").translate(texts)
    gpu = Translator.load(model, "cuda").translate(texts)
    assert sum(a == b for a, b in zip(cpu, gpu)) >= len(texts) - 1
    assert all(gpu)


def test_shipped_captioner_runs_on_cuda():
    from seq2seq.caption import Captioner

    cap = Captioner.load(resolve("flickr8k-en"), "cuda")
    img = Image.new("RGB", (224, 224), (40, 120, 40))
    out = cap.generate([img, img.transpose(Image.FLIP_LEFT_RIGHT)], return_attention=True)
    assert len(out) == 2 and all(c.text for c in out)


def test_training_with_bf16_autocast_learns_and_resumes(tmp_path):
    data = reverse_files(tmp_path / "data", n_train=1500, n_valid=50, min_len=2, max_len=6)
    cfg = tiny_config(tmp_path, data=data, model={"emb_dim": 32, "hidden": 64, "cell": "lstm"},
                      train={"max_steps": 120, "valid_every": 60, "batch_tokens": 800, "lr": 0.005,
                             "log_every": 20, "device": "cuda", "amp": True})
    trainer = Trainer(cfg, progress=False)
    assert trainer.amp and next(trainer.model.parameters()).is_cuda
    trainer.train()
    log = [json.loads(line) for line in open(tmp_path / "model" / "log.jsonl")]
    losses = [r["loss"] for r in log if r["type"] == "train"]
    assert all(math.isfinite(x) for x in losses) and losses[-1] < 0.7 * losses[0]
    cfg.train.max_steps = 140
    resumed = Trainer(cfg, resume=True, progress=False)
    assert resumed.step == 120
    assert resumed.train()["step"] == 140
