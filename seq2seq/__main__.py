"""`python -m seq2seq`: the command line (seq2seq.cli)."""

from seq2seq.cli import main

raise SystemExit(main())
