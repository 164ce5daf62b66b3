"""The reward-trainer service. Start it with `python -m reward_trainer` (or `maestro-reward-trainer`)."""
