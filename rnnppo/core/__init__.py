"""The trainer, in rooms that import one way (tests/test_layers.py): the base (config, spaces, presets,
wrapper specs); envs/ (making envs, built-in tasks, wrappers, env workers); the algorithm at this level
(model, rollout, sequences, ppo, curiosity, optim, filters); analysis/ (memory horizon, data flow, inert
settings, random baseline); runs/ (the training loop, checkpoints, run files, loggers, evaluation, export)."""
