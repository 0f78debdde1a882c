"""Where sweeps live: the Optuna storage backend and the storage contract (what each study and trial holds)."""
