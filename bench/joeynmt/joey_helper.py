"""JoeyNMT side of bench/joeynmt_compare.py; run with JoeyNMT's own python, never ours.

    JOEY_PYTHON bench/joeynmt/joey_helper.py info
    JOEY_PYTHON bench/joeynmt/joey_helper.py train CONFIG --threads T
    JOEY_PYTHON bench/joeynmt/joey_helper.py validate CONFIG CKPT --threads T
    JOEY_PYTHON bench/joeynmt/joey_helper.py translate CONFIG CKPT SRC OUT --threads T

`train` is `python -m joeynmt train CONFIG --skip-test` (stop it with SIGINT: JoeyNMT then saves the current
weights as latest.ckpt and exits normally). `validate` runs JoeyNMT's own validation (greedy decoding of the
dev set, loss and BLEU) on one checkpoint. `translate` decodes SRC with the config's `testing` settings the
way `joeynmt translate` does with stdin input, timing the work from raw lines to detokenized output written
to OUT (model loading excluded). All but `train` print one JSON line on stdout; JoeyNMT logs go to stderr.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import inspect
import json
import signal
import sys
import time
from pathlib import Path


def compat() -> None:
    """Let JoeyNMT 2.3.0 run with what a plain `pip install joeynmt` installs today. It imports the
    importlib_metadata backport without depending on it; it passes ReduceLROnPlateau a `verbose` argument that
    recent torch releases no longer accept (its plateau schedule would fail at start-up); and it restricts the
    sentencepiece model to its vocabulary with SetVocabulary, which sentencepiece 0.2.1+ no longer has. That
    restriction changes nothing when the vocabulary holds every piece of the model, as here, so it is skipped
    after checking exactly that."""
    try:
        import importlib_metadata  # noqa: F401
    except ImportError:
        sys.modules["importlib_metadata"] = importlib.metadata
    import joeynmt.builders
    import sentencepiece
    import torch.optim.lr_scheduler as lrs
    from joeynmt.tokenizers import BasicTokenizer, SentencePieceTokenizer

    if "verbose" not in inspect.signature(lrs.ReduceLROnPlateau).parameters:
        class ReduceLROnPlateau(lrs.ReduceLROnPlateau):
            def __init__(self, optimizer, verbose: bool = False, **kwargs):
                super().__init__(optimizer, **kwargs)

        joeynmt.builders.ReduceLROnPlateau = ReduceLROnPlateau

    if not hasattr(sentencepiece.SentencePieceProcessor, "SetVocabulary"):
        def set_vocab(self, vocab) -> None:
            BasicTokenizer.set_vocab(self, vocab)
            missing = {self.spm.id_to_piece(i) for i in range(self.spm.get_piece_size())} - set(vocab._itos)
            if missing:
                raise ValueError(f"{len(missing)} pieces of {self.model_file} are not in the vocabulary, and this "
                                 f"sentencepiece cannot restrict the model to it (no SetVocabulary)")

        SentencePieceTokenizer.set_vocab = set_vocab


def load_args(config: str, ckpt: str | None, mode: str):
    from joeynmt.config import load_config, parse_global_args

    cfg = load_config(Path(config))
    cfg["testing"]["load_model"] = ckpt
    return parse_global_args(cfg, rank=0, mode=mode)


def info(_) -> dict:
    import sacrebleu
    import torch

    return {"joeynmt": importlib.metadata.version("joeynmt"), "torch": torch.__version__,
            "sacrebleu": sacrebleu.__version__, "python": sys.version.split()[0]}


def train(a) -> None:
    from joeynmt.__main__ import main

    # SIGINT must raise KeyboardInterrupt even when this was started with SIGINT ignored (as `cmd &` or nohup do)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.argv = ["joeynmt", "train", a.config, "--skip-test"]
    main()


def validate(a) -> dict:
    from joeynmt.config import set_validation_args
    from joeynmt.helpers import load_checkpoint
    from joeynmt.prediction import predict, prepare

    args = load_args(a.config, a.ckpt, "test")
    model, _, dev_data, _ = prepare(args, rank=0, mode="test")
    tic = time.perf_counter()
    scores = predict(model=model, data=dev_data, device=args.device, n_gpu=args.n_gpu, compute_loss=True,
                     normalization=args.train.normalization, num_workers=args.num_workers,
                     args=set_validation_args(args.test), autocast=args.autocast)[0]
    seconds = time.perf_counter() - tic
    stats = load_checkpoint(Path(a.ckpt), map_location=args.device)["stats_state"]
    best = stats["best_ckpt_iter"] > 0  # a validation during training wrote best.ckpt
    return {"bleu": scores["bleu"], "seconds": seconds, "steps": stats["steps"], "total_tokens": stats["total_tokens"],
            "best_bleu": stats["best_ckpt_score"] if best else None,
            "best_step": stats["best_ckpt_iter"] if best else None}


def translate(a) -> dict:
    from joeynmt.prediction import predict, prepare

    args = load_args(a.config, a.ckpt, "translate")
    model, _, _, stream = prepare(args, rank=0, mode="translate")
    lines = Path(a.src).read_text(encoding="utf-8").splitlines()
    tic = time.perf_counter()
    for line in lines:
        stream.set_item(line.rstrip())
    hyps = predict(model=model, data=stream, device=args.device, n_gpu=args.n_gpu, compute_loss=False,
                   normalization="none", num_workers=args.num_workers, args=args.test, autocast=args.autocast)[2]
    Path(a.out).write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
    seconds = time.perf_counter() - tic
    return {"seconds": seconds, "sentences": len(lines), "parameters": sum(p.numel() for p in model.parameters()),
            "beam": args.test.beam_size, "alpha": args.test.beam_alpha, "batch_size": args.test.batch_size,
            "batch_type": args.test.batch_type}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    for name, func, positional in (("info", info, ()), ("train", train, ("config",)),
                                   ("validate", validate, ("config", "ckpt")),
                                   ("translate", translate, ("config", "ckpt", "src", "out"))):
        p = sub.add_parser(name)
        p.set_defaults(func=func)
        for arg in positional:
            p.add_argument(arg)
        p.add_argument("--threads", type=int, default=1, help="torch threads")
    a = ap.parse_args()
    compat()
    import torch

    torch.set_num_threads(a.threads)
    result = a.func(a)
    if result is not None:
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
