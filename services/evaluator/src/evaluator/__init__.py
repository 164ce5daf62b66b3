"""The evaluator service. Start it with `python -m evaluator` (or `maestro-evaluator`)."""
