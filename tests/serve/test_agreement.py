"""The server and the CLI give the same outputs for the same input and settings: one Translator per model,
decoding through `generate` with the model's lexical shortlist.

The shortlist is the union of the candidates of a batch's sentences, so with one, a sentence's output depends on
the batch it is decoded in (the CLI's file neighbours, the server's micro-batch); the tests compare like batches:
a request's list against the CLI on the same list, and a request sent alone against the CLI on that one text.
"""

import asyncio
import shutil
from pathlib import Path

import pytest
import torch

import toy_models
from seq2seq.cli import main
from seq2seq.hub import shipped
from seq2seq.decode.shortlist import build
from seq2seq.translate import Translator
from seq2seq.serve.app import create_app

TEXTS = ["1 2 3", "4 5 6 7 8", "9 0", "3 3 1 2", "", "7 6 5 4 3 2 1"]
SENTENCES = ["A man in an orange hat starring at something.", "Two dogs play in the snow.",
             "A little girl climbs into a wooden playhouse.", "A group of people stand in front of an igloo."]


def cli_lines(model_dir: Path, texts: list[str], beam: int, capsys) -> list[str]:
    capsys.readouterr()
    assert main(["translate", "--model", str(model_dir), "--beam", str(beam), "--device", "cpu", *texts]) == 0
    return capsys.readouterr().out.split("\n")[:-1]


def server_outputs(translator, texts: list[str], beam: int, singles: list[str]) -> tuple[list[str], list[str]]:
    """`texts` in one request; and each of `singles` in a request of its own, one after the other."""
    async def run():
        async with toy_models.client(create_app({"m": translator})) as c:
            together = await c.post("/translate", json={"text": texts, "beam": beam})
            alone = [await c.post("/translate", json={"text": t, "beam": beam}) for t in singles]
        return [t["text"] for t in together.json()["translations"]], [r.json()["translations"][0]["text"]
                                                                       for r in alone]

    return asyncio.run(run())


@pytest.fixture
def narrow_shortlist(tmp_path) -> Path:
    """The toy translator with a shortlist that offers, for each source digit, the next digit: it changes the
    outputs, so agreeing with the CLI means decoding with it."""
    model_dir = tmp_path / "model"
    shutil.copytree(toy_models.translator_dir(), model_dir)
    src = Path(Translator.load(model_dir, "cpu").config.data.train_src).read_text().splitlines()
    build(model_dir, src, [s.translate(str.maketrans("0123456789", "1234567890")) for s in src], top=1, frequent=0)
    return model_dir


def test_server_equals_cli_with_the_models_shortlist(narrow_shortlist, capsys):
    tr = Translator.load(narrow_shortlist, "cpu")
    assert tr.shortlist is not None
    for beam in (1, 3):
        together, alone = server_outputs(tr, TEXTS, beam, TEXTS)
        assert together == cli_lines(narrow_shortlist, TEXTS, beam, capsys)
        assert alone == [cli_lines(narrow_shortlist, [t], beam, capsys)[0] for t in TEXTS]
    for text, out in zip(TEXTS[:4], alone):  # each output piece is among its source's shortlist candidates
        allowed = tr.tgt_tok.pieces(tr.shortlist.candidates(torch.tensor(tr.src_tok.encode([text]))).tolist())
        assert set(tr.tgt_tok.pieces(tr.tgt_tok.encode([out])[0])) <= set(allowed)
    assert alone != [tr.translate(t, beam=3, shortlist=False) for t in TEXTS]  # the shortlist mattered


def test_an_answer_does_not_depend_on_the_requests_it_is_batched_with(narrow_shortlist):
    tr = Translator.load(narrow_shortlist, "cpu")

    async def run():
        async with toy_models.client(create_app({"m": tr}, window_ms=100)) as c:
            replies = await asyncio.gather(*(c.post("/translate", json={"text": t}) for t in TEXTS))
        return [r.json()["translations"][0]["text"] for r in replies]

    assert asyncio.run(run()) == [tr.translate(t) for t in TEXTS]


@pytest.mark.skipif("multi30k-en-de" not in shipped(), reason="the shipped multi30k-en-de is not present")
def test_server_equals_cli_on_a_shipped_model(capsys):
    model_dir = shipped()["multi30k-en-de"]["path"]
    tr = Translator.load(model_dir, "cpu")
    assert tr.shortlist is not None
    for beam in (5, 2):
        together, alone = server_outputs(tr, SENTENCES, beam, SENTENCES[:1])
        assert together == cli_lines(model_dir, SENTENCES, beam, capsys)
        assert alone == cli_lines(model_dir, SENTENCES[:1], beam, capsys)
