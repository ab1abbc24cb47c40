"""The public Python API: `from seq2seq import Translator, Captioner`, as a user calls it, on the shipped models.

A string is one sentence (one string back), a list gives a list; shipped names and directories load; search
settings are per call; PIL images of every mode caption; misuse is the CLI's UserError, never a silent surprise.
"""

import io

import pytest
from PIL import Image

import seq2seq
from seq2seq import Captioner, SearchConfig, Translator, UserError
from seq2seq.hub import shipped

needs_translator = pytest.mark.skipif("multi30k-en-de" not in shipped(), reason="no shipped en-de model")
needs_captioner = pytest.mark.skipif("flickr8k-en" not in shipped(), reason="no shipped captioner")


@pytest.fixture(scope="module")
def en_de():
    return Translator.load("multi30k-en-de", device="cpu")


@pytest.fixture(scope="module")
def captioner():
    return Captioner.load("flickr8k-en", device="cpu")


def test_public_names():
    assert set(seq2seq.__all__) >= {"Translator", "Captioner", "SearchConfig", "UserError"}
    with pytest.raises(AttributeError):
        seq2seq.NoSuchThing  # noqa: B018


@needs_translator
def test_a_string_is_one_sentence(en_de):
    out = en_de.translate("A dog runs.")
    assert isinstance(out, str) and len(out.split()) >= 2  # one sentence, not one output per character
    assert en_de.translate(["A dog runs.", "", "Two men are talking."]) == [out, "", en_de.translate(
        "Two men are talking.")]


@needs_translator
def test_shipped_name_and_directory_load_the_same_model(en_de):
    from_dir = Translator.load(shipped()["multi30k-en-de"]["path"], device="cpu")
    assert from_dir.translate("A dog runs.") == en_de.translate("A dog runs.")


@needs_translator
def test_the_shipped_default_is_the_ensemble_its_config_names(en_de):
    """multi30k-en-de by name is the model plus the members of its search.ensemble (its card says why);
    ensemble=False is the model alone."""
    from seq2seq.hub import resolve

    path = shipped()["multi30k-en-de"]["path"]
    members = [resolve(m) for m in en_de.config.search.ensemble]
    assert en_de.model_dirs == [path, *members] and len(en_de.members) == len(members)
    alone = Translator.load("multi30k-en-de", device="cpu", ensemble=False)
    assert alone.model_dirs == [path] and not alone.members
    assert alone.translate("A dog runs.")


@needs_translator
def test_search_settings_per_call(en_de):
    text = "A little girl in a pink dress is climbing the stairs."
    greedy = en_de.translate(text, beam=1)
    assert en_de.search.beam == en_de.config.search.beam  # the call did not change the translator's defaults
    res = en_de.generate([text], beam=4, nbest=3)[0]
    assert len(res.nbest) == 3 and [s for _, s in res.nbest] == sorted((s for _, s in res.nbest), reverse=True)
    assert en_de.generate([text], beam=1)[0].text == greedy
    assert en_de.translate(text, shortlist=False)  # the whole vocabulary on request


@needs_translator
@pytest.mark.parametrize("bad, message", [(123, "expected a list of strings"), (["ok", 5], "text 1"),
                                          (["ok", "\ud800 x"], "text 1: not valid Unicode"),
                                          ({"a": 1}, "expected a list of strings")])
def test_bad_texts_are_user_errors(en_de, bad, message):
    with pytest.raises(UserError, match=message):
        en_de.translate(bad)


@needs_translator
@pytest.mark.parametrize("setting", [{"beam": 0}, {"alpha": 1e308}, {"alpha": float("nan")}, {"nbest": 9, "beam": 5},
                                     {"nbest": 0},
                                     {"beam": "wide"}, {"colour": 3}])
def test_bad_search_settings_are_user_errors(en_de, setting):
    with pytest.raises(UserError):
        en_de.translate("A dog runs.", **setting)


@needs_translator
def test_nbest_above_the_default_beam_raises_the_beam_for_that_call(en_de):
    """The README's example: n best need a beam of n, so asking for more than the default beam widens it."""
    assert en_de.search.beam < 3
    res = en_de.generate(["A dog runs."], nbest=3, return_attention=True)[0]
    assert len(res.nbest) == 3 and res.attention is not None
    assert en_de.search.beam == en_de.config.search.beam  # only that call


def test_nbest_and_beam_errors_name_their_values():
    with pytest.raises(UserError, match=r"nbest <= search.beam, got nbest=3 and beam=2"):
        SearchConfig().updated(nbest=3, beam=2)  # a beam given with it is kept, and the message shows both
    with pytest.raises(UserError, match=r"search.beam must be between 1 \(greedy\) and 100, got 0"):
        SearchConfig().updated(beam=0)
    assert SearchConfig(beam=2).updated(nbest=4).beam == 4


@needs_translator
def test_control_characters_are_spaces(en_de):
    assert en_de.translate("A dog\x00runs\x1b.") == en_de.translate("A dog runs .")


@needs_translator
def test_wrong_kind_of_model_and_unknown_name():
    with pytest.raises(UserError, match="captioning model"):
        Translator.load("flickr8k-en", device="cpu")
    with pytest.raises(UserError, match="translation model"):
        Captioner.load("multi30k-en-de", device="cpu")
    with pytest.raises(UserError, match="no model directory or shipped model named"):
        Translator.load("no-such-model", device="cpu")


def test_search_config_updated_validates():
    s = SearchConfig()
    assert s.updated(beam=3, alpha=None).beam == 3 and s.updated(beam=3).alpha == s.alpha
    with pytest.raises(UserError):
        s.updated(beam=-1)


@needs_captioner
@pytest.mark.parametrize("mode", ["RGB", "L", "P", "RGBA", "CMYK", "I;16", "1", "LA", "F"])
def test_caption_pil_images_of_every_mode(captioner, mode):
    """Any mode is captioned as its 8-bit RGB rendering (alpha on white, 16-bit rescaled); it used to crash."""
    from seq2seq.data.images import to_rgb

    rgb = Image.linear_gradient("L").resize((96, 64)).convert("RGB")
    image = rgb.convert(mode) if mode not in ("I;16", "F") else rgb.convert("L").convert(mode)
    out = captioner.generate([image])[0]
    assert isinstance(out.text, str) and out.tokens  # at least </s>
    assert out.text == captioner.caption(to_rgb(image))


@needs_captioner
def test_caption_paths_bytes_and_lists(captioner, tmp_path):
    im = Image.new("RGB", (80, 120), (200, 40, 40))
    path = tmp_path / "red.png"
    im.save(path)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    one = captioner.caption(im)
    assert captioner.caption(str(path)) == one and captioner.caption(path) == one
    assert captioner.caption(buf.getvalue()) == one
    assert captioner.caption([im, path]) == [one, one]
    with pytest.raises(UserError, match="image 1: expected a file path, bytes or a PIL image"):
        captioner.caption([im, 3.5])
    with pytest.raises(UserError, match="no such image file"):
        captioner.caption(tmp_path / "missing.png")
