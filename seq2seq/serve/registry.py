"""What `seq2seq serve` serves, from its command line: each --model entry is one model, or an ensemble written
`A+B` (served as one direction named after its members), and each --lm is fused into every served model that
writes its language. Everything is loaded and checked here, before the server starts: a bad combination is a
UserError (one line), not a failure at the first request."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seq2seq.caption import Captioner
from seq2seq.errors import UserError
from seq2seq.hub import resolve, shipped
from seq2seq.modeldir import model_task, read_config
from seq2seq.translate import Translator


@dataclass(frozen=True)
class Fusion:
    """A language model for shallow fusion and its weight."""

    lm: str
    weight: float


def members(spec: str) -> list[Path]:
    """The model folders of one --model entry: a folder or shipped name, or several joined by '+' (an ensemble).
    A folder whose own name holds a '+' is taken whole."""
    if "+" in spec and not Path(spec).is_dir() and spec not in shipped():
        parts = spec.split("+")
        if not all(parts):
            raise UserError(f"--model {spec!r}: an ensemble is written A+B (model folders or shipped names)")
        return [resolve(p) for p in parts]
    return [resolve(spec)]


def fusions(lms: list[str], weights: list[float]) -> list[Fusion]:
    """--lm and --lm-weight, paired in order (one weight per LM, 0 < weight <= 10)."""
    if len(lms) != len(weights):
        raise UserError(f"give one --lm-weight per --lm (got {len(lms)} --lm and {len(weights)} --lm-weight)")
    for lm, w in zip(lms, weights):
        if not 0 < w <= 10:  # NaN fails too
            raise UserError(f"--lm-weight for {lm} must be in (0, 10], got {w}")
    return [Fusion(lm, w) for lm, w in zip(lms, weights)]


def lm_language(lm: str) -> str:
    """The language a language model writes (its config's data.tgt_lang); refuses a model that is not an LM."""
    cfg = read_config(resolve(lm))
    if cfg.task != "lm":
        raise UserError(f"--lm {lm} is not a language model (`seq2seq lm train` makes one)")
    return cfg.data.tgt_lang


def load_served(specs: list[str], lms: list[Fusion], device: str = "auto",
                quantize: bool = False, ensemble: bool = True) -> tuple[dict, dict]:
    """name -> Translator and name -> Captioner for the entries `specs`, each LM fused into every model whose
    output language is the LM's (one LM per language; an LM that fits no served model, or one of another
    sentencepiece model than a model it is fused into, is refused). The default direction comes first. A lone
    model whose config names ensemble members (search.ensemble) is served as that ensemble unless not `ensemble`."""
    by_lang: dict[str, Fusion] = {}
    for f in lms:
        lang = lm_language(f.lm)
        if lang in by_lang:
            raise UserError(f"--lm {by_lang[lang].lm} and --lm {f.lm} both write {lang}: give one LM per language")
        by_lang[lang] = f
    translators, captioners, used = {}, {}, set()
    for spec in specs:
        paths = members(spec)
        name = "+".join(p.name for p in paths)
        task = model_task(paths[0])
        if task not in ("translate", "caption"):
            raise UserError(f"--model {spec}: {paths[0]} is a language model; give it as --lm (fused into the "
                            f"models that write its language)")
        if name in translators or name in captioners:
            raise UserError(f"two --model entries are both named {name!r}; serve each model once (models are named after their folders)")
        lang = _output_language(paths[0])
        fusion = by_lang.get(lang)
        search = {"lm": fusion.lm, "lm_weight": fusion.weight} if fusion else {}
        if task == "caption":
            model = captioners[name] = Captioner.load(paths, device, ensemble=ensemble, **search)
        else:
            model = translators[name] = Translator.load(paths, device, quantize=quantize, ensemble=ensemble, **search)
        if fusion:
            used.add(lang)
            try:
                model.language_model()
            except UserError as e:
                raise UserError(f"--lm {fusion.lm} cannot be fused into {name} (which writes {lang}): {e}") from None
    for lang, f in by_lang.items():
        if lang not in used:
            raise UserError(f"--lm {f.lm} writes {lang}, but no served model does; add one with --model")
    return _default_first(translators), captioners


def _output_language(model_dir: Path) -> str:
    return read_config(model_dir).data.tgt_lang


def _default_first(translators: dict) -> dict:
    """The default direction (en->de's shipped model, alone or leading an ensemble) first: the app's default."""
    try:
        default = resolve(None).name
    except UserError:
        return translators
    return dict(sorted(translators.items(), key=lambda kv: kv[0].split("+")[0] != default))


def describe(m) -> dict:
    """What /models says about how a served model is made: its members' folders and its fusion LM."""
    dirs = getattr(m, "model_dirs", None) or [m.model_dir]
    s = m.search
    return {"members": [str(d) for d in dirs],
            "lm": {"model": str(s.lm), "weight": s.lm_weight} if s.lm and s.lm_weight else None}
