"""What a config or a trained policy does: the memory horizon, the data flow, inert settings."""
