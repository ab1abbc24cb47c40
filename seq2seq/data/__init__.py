"""The data layer: corpora and their readers, text normalization, the sentencepiece tokenizer, the memory-mapped
token store, batching (padding, masks, teacher forcing, token-budget buckets), images and cached image features."""
