"""One training run: the loop, checkpoints, run files, loggers, evaluation, export."""
