"""The llm-annotator service. Start it with `python -m llm_annotator` (or `maestro-llm-annotator`)."""
