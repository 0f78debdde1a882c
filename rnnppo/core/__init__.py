"""The trainer: config, environments, model, rollout, sequences, PPO and curiosity."""
