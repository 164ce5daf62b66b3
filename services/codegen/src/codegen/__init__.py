"""The codegen service. Start it with `python -m codegen` (or `maestro-codegen`)."""
