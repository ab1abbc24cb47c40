"""`seq2seq serve` (the HTTP API and web page) and `seq2seq models` (the shipped models)."""

from __future__ import annotations

import math
import socket
import sys

from seq2seq.cli.common import command, ensemble_arg
from seq2seq.errors import UserError
from seq2seq.extras import require_extra
from seq2seq.serve.limits import MAX_QUEUED_COST, MAX_REQUEST_COST


SHORT_ROW = 100  # characters in a `seq2seq models` row (--long: no limit)


def register(sub) -> None:
    sv = command(sub, "serve", _cmd_serve, help="HTTP API and web page (FastAPI + uvicorn)",
                 description="Serve translation and captioning models over HTTP: POST /translate, POST /caption, "
                 "GET /models, GET /health, a web page at / and the API docs at /docs. Requests arriving "
                 "together are decoded as one micro-batch. A translation request costs (subword tokens + 1) x "
                 "beam summed over its texts: one over --max-request-cost is refused (413), and while more than "
                 "--max-queued-cost waits, new requests get 503 with Retry-After. An entry A+B serves an "
                 "ensemble as one model (log-probabilities averaged; same vocabularies, and for captioners the same "
                 "image size and transform); --lm fuses a language "
                 "model into every served model that writes its language (data.tgt_lang).",
                 examples=["seq2seq serve", "seq2seq serve --model multi30k-en-de runs/my-model --port 8080",
                           "seq2seq serve --host 0.0.0.0 --quantize",
                           "seq2seq serve --model multi30k-en-de+runs/en-de-2 multi30k-de-en --lm runs/lm-de "
                           "--lm-weight 0.2"])
    sv.add_argument("--model", nargs="+", action="append", default=[],
                    help="model folders or shipped names, each served as one model; A+B: an ensemble of A and B "
                    "(default: every shipped translator and captioner)")
    sv.add_argument("--lm", action="append", default=[], metavar="DIR",
                    help="shallow fusion: a language model, fused into every served model that writes its "
                    "language (repeat for other languages, each with its --lm-weight)")
    sv.add_argument("--lm-weight", action="append", default=[], type=float, metavar="W",
                    help="the weight of the --lm of the same position (W x log p_LM at every search step)")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on")
    sv.add_argument("--port", type=int, default=8000, help="port to listen on")
    sv.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to run")
    sv.add_argument("--quantize", action="store_true", help="int8 dynamic quantization (CPU)")
    ensemble_arg(sv)
    sv.add_argument("--no-batching", action="store_true", help="translate each request on its own")
    sv.add_argument("--window-ms", type=float, default=5.0, help="micro-batching collection window (0-1000)")
    sv.add_argument("--max-batch", type=int, default=64, help="most sentences in one micro-batch")
    sv.add_argument("--max-request-cost", type=float, default=MAX_REQUEST_COST,
                    help="most cost one translation request may have")
    sv.add_argument("--max-queued-cost", type=float, default=MAX_QUEUED_COST,
                    help="most cost waiting per model before new requests get 503")

    md = command(sub, "models", _cmd_models, help="list the shipped models",
                 description="List the shipped models, one short row each: name, task, what it reads -> what it "
                 "writes, and the start of its card's summary; --long prints each summary whole and the ensemble "
                 "members a model decodes with by default.",
                 examples=["seq2seq models", "seq2seq models --long"])
    md.add_argument("--long", action="store_true", help="whole summaries and default ensemble members")


def _check_options(args) -> None:
    """Every option that could make the server fail after loading the models, checked first."""
    if not 1 <= args.port <= 65535:
        raise UserError(f"--port must be between 1 and 65535, got {args.port}")
    if not 0 <= args.window_ms <= 1000:  # NaN fails too
        raise UserError(f"--window-ms must be between 0 and 1000, got {args.window_ms}")
    if args.max_batch < 1:
        raise UserError(f"--max-batch must be at least 1, got {args.max_batch}")
    for opt in ("max_request_cost", "max_queued_cost"):
        value = getattr(args, opt)
        if not (value > 0 and math.isfinite(value)):
            raise UserError(f"--{opt.replace('_', '-')} must be a positive number, got {value}")
    if len(args.model) > 1:
        raise UserError("give every model after one --model (--model A B serves two models; --model A+B serves "
                        "their ensemble as one)")
    _check_listen(args.host, args.port)


def _check_listen(host: str, port: int) -> None:
    """Bind (host, port) once, as uvicorn will: an unknown host, a port in use or a privileged port is a
    UserError now rather than a failure after the models have loaded."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as e:
        raise UserError(f"--host {host!r} is not an address or a known host name ({e})") from None
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as e:
            raise UserError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


def _cmd_serve(args) -> int:
    require_extra("serve")
    _check_options(args)
    from seq2seq.hub import shipped  # lazy: keeps start-up fast
    from seq2seq.serve.registry import fusions, load_served

    lms = fusions(args.lm, args.lm_weight)  # before any model is loaded
    # by default every shipped translator and captioner; language models are fused (--lm, search.lm), not served
    names = (args.model or [[]])[0] or [n for n, m in shipped().items() if m["task"] in ("translate", "caption")]
    if not names:
        raise UserError("no shipped translators or captioners to serve; give --model DIR")
    translators, captioners = load_served(names, lms, args.device, args.quantize, args.ensemble)
    import uvicorn  # lazy: keeps start-up fast

    from seq2seq.serve.app import create_app  # lazy: keeps start-up fast
    from seq2seq.serve.limits import Limits

    limits = Limits(request_cost=args.max_request_cost, queued_cost=args.max_queued_cost)
    app = create_app(translators, captioners, batching=not args.no_batching, window_ms=args.window_ms,
                     max_batch=args.max_batch, limits=limits)
    print(f"serving {', '.join([*translators, *captioners])} on http://{args.host}:{args.port}", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _cmd_models(args) -> int:
    from seq2seq.hub import checkpoints_dir, shipped  # lazy: keeps start-up fast

    models = shipped()
    if not models:
        print(f"no shipped models in {checkpoints_dir()}")
        return 0
    width = max(map(len, models))
    for name, m in models.items():
        source = {"translate": m["src_lang"], "caption": "image", "transcribe": "audio",
                  "lm": "text"}.get(m["task"], "?")
        pair = f"{source}->{m['tgt_lang']}"  # a language model continues text of its language: text->de
        row = f"{name:{width}s}  {m['task']:9s} {pair:10s} "
        if not args.long:
            room = SHORT_ROW - len(row)
            summary = m["summary"] if len(m["summary"]) <= room else m["summary"][: room - 3].rstrip() + "..."
            print(row + summary)
            continue
        members = f" [by default an ensemble with {', '.join(m['ensemble'])}; --no-ensemble: alone]" if m["ensemble"] else ""
        print(f"{row}{m['summary']}{members}")
    return 0
