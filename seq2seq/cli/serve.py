"""`seq2seq serve` (the HTTP API and web page) and `seq2seq models` (the shipped models)."""

from __future__ import annotations

import sys

from seq2seq import UserError
from seq2seq.cli.common import command
from seq2seq.extras import require_extra


def register(sub) -> None:
    sv = command(sub, "serve", _cmd_serve, help="HTTP API and web page (FastAPI + uvicorn)",
                 description="Serve translation and captioning models over HTTP: POST /translate, POST /caption, "
                 "GET /models, GET /health, a web page at / and the API docs at /docs. Requests arriving "
                 "together are decoded as one micro-batch.",
                 examples=["seq2seq serve", "seq2seq serve --model multi30k-en-de runs/my-model --port 8080",
                           "seq2seq serve --host 0.0.0.0 --quantize"])
    sv.add_argument("--model", nargs="+", default=[], help="model folders or shipped names (default: all shipped)")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on")
    sv.add_argument("--port", type=int, default=8000, help="port to listen on")
    sv.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to run")
    sv.add_argument("--quantize", action="store_true", help="int8 dynamic quantization (CPU)")
    sv.add_argument("--no-batching", action="store_true", help="translate each request on its own")
    sv.add_argument("--window-ms", type=float, default=5.0, help="micro-batching collection window")
    sv.add_argument("--max-batch", type=int, default=64, help="most sentences in one micro-batch")

    command(sub, "models", _cmd_models, help="list the shipped models",
            description="List the shipped models: name, task, language pair and the summary from each card.",
            examples=["seq2seq models"])


def _cmd_serve(args) -> int:
    require_extra("serve")
    from seq2seq.hub import resolve, shipped
    from seq2seq.translate import Translator

    from seq2seq.caption import Captioner
    from seq2seq.loading import model_task

    names = args.model or list(shipped())
    if not names:
        raise UserError("no shipped models to serve; give --model DIR")
    translators, captioners = {}, {}
    for n in names:
        path = resolve(n)
        if model_task(path) == "caption":
            captioners[path.name] = Captioner.load(path, args.device)
        else:
            translators[path.name] = Translator.load(path, args.device, quantize=args.quantize)
    try:  # the default direction (en->de) first: the app's default model is the first one
        default = resolve(None).name
        translators = dict(sorted(translators.items(), key=lambda kv: kv[0] != default))
    except UserError:
        pass
    import uvicorn

    from serve.app import create_app

    app = create_app(translators, captioners, batching=not args.no_batching, window_ms=args.window_ms,
                     max_batch=args.max_batch)
    print(f"serving {', '.join([*translators, *captioners])} on http://{args.host}:{args.port}", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _cmd_models(args) -> int:
    from seq2seq.hub import checkpoints_dir, shipped

    models = shipped()
    if not models:
        print(f"no shipped models in {checkpoints_dir()}")
        return 0
    for name, m in models.items():
        pair = f"{m['src_lang']}->{m['tgt_lang']}" if m["task"] == "translate" else "image->" + str(m["tgt_lang"])
        print(f"{name:24s} {m['task']:9s} {pair:10s} {m['summary']}")
    return 0
