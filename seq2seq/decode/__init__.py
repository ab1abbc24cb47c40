"""Decoding: Steppers over a model's decoder (the fast path, int8 kernels, ensembles and fusion), the lexical
shortlist, and search (greedy, batched beam, sampling), which sees only a Stepper and an EncoderOutput."""
