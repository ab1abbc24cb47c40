"""Training: the one loop (trainer), what each task brings to it (tasks/), the objectives, validation, the
learning-rate schedule, exact resume, the run folder, torchrun data parallelism, and export."""
