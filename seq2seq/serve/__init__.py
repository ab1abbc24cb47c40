"""HTTP API and web page over the seq2seq Translator (`seq2seq serve`)."""
