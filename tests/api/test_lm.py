"""Language models (model.encoder=none): the shared decoder learns a synthetic language in the shared trainer,
resumes exactly, scores as a hand computation over its steps, generates (greedy == top-k 1 == tiny temperature,
seeded samples reproducible), lends its decoder to a translator, and fuses into beam search."""

import math

import pytest
import torch

from conftest import (LM_SENTENCES, TRAP, ScriptedDecoder, lm_config, lm_of, resumed_and_uninterrupted, scripted_enc,
                      tiny_config, write_lines)
from seq2seq import LanguageModel, UserError
from seq2seq.cli import main
from seq2seq.decode.combine import LogLinear, PerModel
from seq2seq.decode.search import beam_search, greedy_search
from seq2seq.data.tokenizer import BOS, EOS
from seq2seq.train.trainer import Trainer
from seq2seq.translate import Translator

# the best possible perplexity: log 2 per sentence over (5 + 1 + 7 + 1) / 2 tokens on average
OPTIMUM = math.exp(math.log(2) / 7)


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory):
    cfg = lm_config(tmp_path_factory.mktemp("lm"))
    Trainer(cfg, progress=False).train()
    return cfg.model_dir


def test_learns_the_language_to_near_its_best_perplexity(lm_dir):
    lm = LanguageModel.load(lm_dir, device="cpu")
    scores = lm.score(list(LM_SENTENCES))
    assert scores.tokens == [6, 8]
    assert scores.perplexity < 1.1 * OPTIMUM  # a unigram model would be near 5
    assert lm.score(["e d c b a"]).perplexity > 5  # and an unseen order is unlikely


def test_config_makes_a_language_model_of_the_decoder_alone(tmp_path):
    cfg = lm_config(tmp_path)
    assert cfg.task == "lm"
    for bad in ({"model": {"attention": "bahdanau"}}, {"model": {"input_feeding": True}},
                {"train": {"valid_metric": "bleu"}}, {"data": {"train_src": "x.txt"}}):
        with pytest.raises(UserError):
            lm_config(tmp_path, **bad)


def test_score_equals_the_sum_of_its_steps_log_probabilities(lm_dir):
    lm = LanguageModel.load(lm_dir, device="cpu")
    text = "b c d e a"
    ids = lm.tok.encode([text])[0] + [EOS]
    d, total = lm.model.decoder, 0.0
    with torch.inference_mode():
        enc = lm.model.encode(torch.zeros(1, 1, dtype=torch.long), torch.ones(1, dtype=torch.long))
        state, prev = d.init_state(enc), BOS
        for tok in ids:
            logits, state, _ = d.step(torch.tensor([prev]), state, enc, None)
            total += float(torch.log_softmax(logits, -1)[0, tok])
            prev = tok
    s = lm.score([text])
    assert s.logprobs[0] == pytest.approx(total, abs=1e-4) and s.tokens == [len(ids)]
    assert s.words == 6 and s.word_perplexity == pytest.approx(math.exp(-total / 6), rel=1e-4)


def test_scoring_does_not_depend_on_the_batch(lm_dir):
    lm = LanguageModel.load(lm_dir, device="cpu")
    texts = ["a", "b c d e a b c d e a b", "", "c d"]
    together = lm.score(texts, batch_size=4).logprobs
    alone = [lm.score([t]).logprobs[0] for t in texts]
    assert together == pytest.approx(alone, abs=1e-5)


def test_top_k_one_and_a_tiny_temperature_are_greedy(lm_dir):
    lm = LanguageModel.load(lm_dir, device="cpu")
    prefixes = ["", "a b", "b c d", "e"]
    greedy = lm.generate(prefixes, beam=1)
    for kw in ({"top_k": 1}, {"temperature": 1e-4}):
        sampled = lm.generate(prefixes, seed=3, **kw)
        assert [g[0].text for g in sampled] == [g[0].text for g in greedy]
        assert [g[0].score for g in sampled] == pytest.approx([g[0].score for g in greedy], abs=1e-4)
    assert all(g[0].text.startswith(p) for g, p in zip(greedy, prefixes))
    assert greedy[1][0].text == "a b c d e"  # the prefix picks the sentence


def test_seeded_samples_are_reproducible(lm_dir):
    lm = LanguageModel.load(lm_dir, device="cpu")
    texts = lambda seed: [g.text for g in lm.generate([""], num=30, seed=seed, temperature=3.0)[0]]  # noqa: E731
    assert texts(1) == texts(1)
    assert texts(1) != texts(2)  # 30 draws of at least a coin flip each


def test_beam_gives_the_n_best(lm_dir):
    lm = LanguageModel.load(lm_dir, device="cpu")
    best = lm.generate([""], num=2, beam=4)[0]
    assert sorted(g.text for g in best) == sorted(LM_SENTENCES)


def test_resume_equals_uninterrupted(tmp_path):
    sections = dict(model={"dropout": 0.3, "emb_dropout": 0.2, "cell": "lstm"},
                    train={"max_steps": 16, "valid_every": 8})
    a, b = resumed_and_uninterrupted(lm_config(tmp_path / "a", **sections), lm_config(tmp_path / "b", **sections), 8)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- with a translator: the decoder from an LM, and shallow fusion ---------------------------------------------
@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A tiny translator (digit reversal) and a language model of its target side, on its sentencepiece model."""
    tmp = tmp_path_factory.mktemp("pair")
    tr = tiny_config(tmp / "tr", train={"max_steps": 30, "valid_every": 30})
    Trainer(tr, progress=False).train()
    return tr, lm_of(tr, tmp / "lm", max_steps=10, valid_every=10)


def test_a_translator_takes_its_decoder_from_a_language_model(pair, tmp_path):
    tr, lm = pair
    cfg = tiny_config(tmp_path, model={"attention": "bahdanau", "input_feeding": False},
                      data={**{k: getattr(tr.data, k) for k in ("train_src", "train_tgt", "valid_src", "valid_tgt")},
                            "spm_model": f"{tr.model_dir}/spm.model"},
                      train={"init_from": lm.model_dir, "init_parts": ["decoder"], "max_steps": 1})
    t = Trainer(cfg, progress=False)
    theirs = LanguageModel.load(lm.model_dir, device="cpu").model.state_dict()
    own = t.model.state_dict()
    shared = ["decoder.embedding.weight", "decoder.layers.0.weight_ih_l0", "decoder.layers.0.weight_hh_l0",
              "decoder.layers.0.bias_ih_l0", "decoder.layers.0.bias_hh_l0", "decoder.output.bias"]
    assert set(shared) <= set(theirs) & set(own)  # the same names for the same parts
    for k in shared:
        assert torch.equal(own[k], theirs[k]), k
    assert not torch.equal(own["encoder.embedding.weight"][4:], theirs["decoder.embedding.weight"][4:])
    t.run.release()


def _uniform(model_dir: str) -> LanguageModel:
    lm = LanguageModel.load(model_dir, device="cpu")
    with torch.no_grad():  # tied output: zero embeddings and bias give every token the same logit
        lm.model.decoder.output.weight.zero_()
        lm.model.decoder.output.bias.zero_()
    return lm


def test_fusion_with_weight_zero_or_a_uniform_lm_changes_nothing(pair):
    tr, lm = pair
    src = open(tr.data.valid_src).read().splitlines()[:20]
    translator = Translator.load(tr.model_dir, device="cpu", beam=3)
    plain = translator.generate(src)
    zero = translator.generate(src, lm=lm.model_dir, lm_weight=0.0)
    assert [(t.text, t.score) for t in zero] == [(t.text, t.score) for t in plain]
    translator.lms[lm.model_dir] = _uniform(lm.model_dir).model  # what fusion_lm would have loaded
    for shortlist in (True, False):
        fused = translator.generate(src, lm=lm.model_dir, lm_weight=2.0, shortlist=shortlist)
        alone = translator.generate(src, shortlist=shortlist)
        assert [t.text for t in fused] == [t.text for t in alone]
        assert [t.score for t in fused] == pytest.approx([t.score for t in alone], abs=1e-4)
    real = Translator.load(tr.model_dir, device="cpu", beam=3, lm=lm.model_dir, lm_weight=5.0)
    assert real.lms == {} and len(real.generate(src)) == len(src) and lm.model_dir in real.lms


class _Uniform:
    """A Stepper whose every next token is equally likely."""

    columns = None

    def precompute(self, enc):
        return None

    def init_state(self, enc):
        return enc

    def step(self, tokens, state, enc, keys, group=1):
        return torch.zeros(tokens.size(0), 6), state, None


def test_fusion_of_a_scripted_model_with_a_uniform_lm_is_the_model():
    enc = scripted_enc(2)
    for search in (lambda s, e: greedy_search(s, e, torch.full((2,), 5)),
                   lambda s, e: beam_search(s, e, torch.full((2,), 5), beam=3, alpha=0.0, nbest=2)):
        alone = search(ScriptedDecoder(TRAP), enc)
        fused = search(LogLinear([ScriptedDecoder(TRAP), _Uniform()], [1.0, 3.0]), PerModel([enc, enc]))
        assert fused.tokens == alone.tokens
        assert fused.scores == [pytest.approx(s, abs=1e-5) for s in alone.scores]


def test_fusion_refuses_a_language_model_of_another_vocabulary(pair, lm_dir, capsys):
    tr, _ = pair
    assert main(["translate", "--model", tr.model_dir, "--lm", lm_dir, "--lm-weight", "0.5", "1 2 3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: the language model") and "sentencepiece" in err[0]


# -- the command line ----------------------------------------------------------------------------------------
def test_cli_score_and_generate(lm_dir, tmp_path, capsys):
    f = write_lines(tmp_path / "s.txt", ["a b c d e", "", "b c"])
    assert main(["lm", "score", "--model", lm_dir, f]) == 0
    out, err = capsys.readouterr()
    rows = [line.split("\t") for line in out.splitlines()]
    scores = LanguageModel.load(lm_dir, device="cpu").score(["a b c d e", "", "b c"])
    assert [int(n) for _, n in rows] == scores.tokens == [6, 1, 3]
    assert [float(lp) for lp, _ in rows] == pytest.approx(scores.logprobs, abs=1e-4)
    assert err.strip().splitlines()[-1].startswith(f"perplexity {scores.perplexity:.2f} per token")
    args = ["lm", "generate", "--model", lm_dir, "--num", "4", "--seed", "5", "--temperature", "2", "a", "b c"]
    assert main(args) == 0
    first = capsys.readouterr().out.splitlines()
    assert main(args) == 0 and capsys.readouterr().out.splitlines() == first and len(first) == 8


@pytest.mark.parametrize("args, says", [
    (["score", "FILE_MISSING"], "file not found"),
    (["generate", "--top-p", "1.5"], "top-p"),
    (["generate", "--top-p", "0"], "top-p"),
    (["generate", "--temperature", "0"], "temperature"),
    (["generate", "--num", "3", "--beam", "2"], "num"),
    (["generate", "--top-k", "-1"], "top-k"),
])
def test_cli_bad_input_is_one_error_line(lm_dir, tmp_path, capsys, args, says):
    args = [a.replace("FILE_MISSING", str(tmp_path / "missing.txt")) for a in args]
    assert main(["lm", args[0], "--model", lm_dir, *args[1:]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and says in err[0]


def test_cli_refuses_a_translation_model_and_a_translation_recipe(pair, tmp_path, capsys):
    tr, _ = pair
    f = write_lines(tmp_path / "s.txt", ["1 2"])
    assert main(["lm", "score", "--model", tr.model_dir, f]) == 2
    assert main(["lm", "train", "configs/example-reverse.yaml"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "not a language model" in err[0] and "not a language model recipe" in err[1]


def test_without_validation_text_the_last_sentences_are_held_out(tmp_path):
    cfg = lm_config(tmp_path, data={"valid_tgt": None}, train={"max_steps": 2, "valid_every": 2})
    t = Trainer(cfg, progress=False)
    assert len(t.task.tgt) == 600 - 30 and len(t.task.valid_ids) == 30
    assert t.task.tgt[len(t.task.tgt) - 1] == t.task.tgt_tok.encode([LM_SENTENCES[(600 - 31) % 2]])[0]
    assert t.train()["step"] == 2
