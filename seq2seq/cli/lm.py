"""`seq2seq lm train | score | generate`: language models (model.encoder=none), thin over seq2seq.lm."""

from __future__ import annotations

import sys

from seq2seq.cli.common import checkpoint_arg, command
from seq2seq.errors import UserError


def register(sub) -> None:
    lm = command(sub, "lm", lambda args: _help(lm), help="language models: train, score sentences, generate",
                 description="RNN language models (the shared decoder with no encoder, model.encoder: none): train "
                 "one from monolingual text, score sentences (log-probabilities, perplexity), or generate text by "
                 "sampling or beam search.",
                 examples=["seq2seq lm train configs/lm-en.yaml", "seq2seq lm score --model runs/lm-en test.en",
                           'seq2seq lm generate --model runs/lm-en --num 3 --top-p 0.9 --seed 1 "A dog"'])
    cmds = lm.add_subparsers(dest="lm_command", metavar="COMMAND")
    t = command(cmds, "train", _cmd_train, help="train a language model from a YAML recipe",
                description="Train a language model (a recipe with model.encoder: none) on data.train_tgt, with the "
                "same trainer as `seq2seq train`: checkpoints, --resume, early stopping on validation perplexity "
                "(data.valid_tgt, else the last training sentences).",
                examples=["seq2seq lm train configs/lm-en.yaml", "seq2seq lm train configs/lm-en.yaml --resume",
                          "seq2seq lm train configs/lm-en.yaml --set train.max_steps=20 model_dir=runs/lm-try"])
    t.add_argument("config", help="YAML config with model.encoder: none (see configs/lm-en.yaml)")
    t.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE", help="override config values")
    t.add_argument("--resume", action="store_true", help="continue the run in model_dir from last.pt")

    sc = command(cmds, "score", _cmd_score, help="per-sentence log-probabilities and the corpus perplexity",
                 description="Score each line of FILE: one output line per sentence, its total log-probability "
                 "(natural log, </s> included) and its token count (sentencepiece pieces + </s>), tab-separated; "
                 "the last line, on stderr, gives the corpus perplexity per token and per word (whitespace words, "
                 "</s> counted as one).",
                 examples=["seq2seq lm score --model runs/lm-en test.en"])
    sc.add_argument("file", help="text file, one sentence per line")
    _model_args(sc)

    g = command(cmds, "generate", _cmd_generate, help="sample (or beam-search) continuations of prefixes",
                description="Continue each PREFIX (none: one sentence from <s>), one output line per generation. "
                "By default samples (--temperature, --top-k, --top-p nucleus, --seed for reproducible samples, "
                "--num per prefix); --beam B gives the --num best of beam search (--beam 1: greedy).",
                examples=['seq2seq lm generate --model runs/lm-en "A dog"',
                          "seq2seq lm generate --model runs/lm-en --num 5 --temperature 0.8 --top-k 20 --seed 7",
                          'seq2seq lm generate --model runs/lm-en --beam 5 "Two men"'])
    g.add_argument("prefix", nargs="*", help="beginnings of sentences to continue")
    _model_args(g)
    g.add_argument("--num", type=int, default=1, help="generations per prefix")
    g.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (> 0)")
    g.add_argument("--top-k", type=int, default=0, help="sample among the k most likely tokens (0: all)")
    g.add_argument("--top-p", type=float, default=1.0, help="nucleus: the fewest tokens with this much probability")
    g.add_argument("--seed", type=int, help="random seed: the same seed gives the same samples")
    g.add_argument("--beam", type=int, help="beam search of this width instead of sampling (1: greedy)")
    g.add_argument("--max-tokens", type=int, default=50, help="new tokens at most, </s> included")


def _model_args(p) -> None:
    p.add_argument("--model", required=True, help="language model directory (or shipped name)")
    checkpoint_arg(p)
    p.add_argument("--batch-size", type=int, default=64, help="sentences per batch")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to run")


def _help(parser) -> int:
    parser.print_help()
    return 2


def _load(args):
    from seq2seq.lm import LanguageModel  # lazy: keeps start-up fast

    if args.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {args.batch_size}")
    return LanguageModel.load(args.model, args.device, checkpoint=args.checkpoint)


def _cmd_train(args) -> int:
    from seq2seq.cli.train import run_training  # lazy: keeps start-up fast
    from seq2seq.config import load_config

    cfg = load_config(args.config, args.set)
    if cfg.task != "lm":
        raise UserError(f"{args.config} is not a language model recipe (model.encoder: none); train it with "
                        f"`seq2seq train`")
    return run_training(cfg, args.resume)


def _cmd_score(args) -> int:
    from seq2seq.data.corpus import read_lines  # lazy: keeps start-up fast

    texts = read_lines(args.file)
    scores = _load(args).score(texts, args.batch_size)
    for lp, n in zip(scores.logprobs, scores.tokens):
        sys.stdout.write(f"{lp:.4f}\t{n}\n")
    sys.stdout.flush()
    print(f"perplexity {scores.perplexity:.2f} per token ({sum(scores.tokens):,} tokens), "
          f"{scores.word_perplexity:.2f} per word ({scores.words:,} words), {len(texts):,} sentences", file=sys.stderr)
    return 0


def _cmd_generate(args) -> int:
    from seq2seq.cli.decode import arguments  # lazy: keeps start-up fast

    lm = _load(args)
    out = lm.generate(arguments(args.prefix) or [""], args.num, beam=args.beam, temperature=args.temperature,
                      top_k=args.top_k, top_p=args.top_p, seed=args.seed, max_tokens=args.max_tokens,
                      batch_size=args.batch_size)
    for gens in out:
        for g in gens:
            sys.stdout.write(g.text + "\n")
    return 0
