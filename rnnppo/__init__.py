"""rnnppo: recurrent PPO experiment runner and sweeper."""

__version__ = "0.1.0"
