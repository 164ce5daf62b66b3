"""The NetHack core: the paper's environment and everything built on its observations.

Modules (import them directly; this package imports nothing heavy by itself):

- `actions`  the 28-action set and its key sequences;
- `env`      `EnvConfig`, `make_env` and `MaestroEnv` (seeded, prompt-handling, macro actions);
- `features` featurisers over one observation (message, status, hero crop, new items);
- `skills`   the five skill specifications shipped as package data;
- `policies` simple policies used to collect observations;
- `dataset`  the observation-dataset format for annotation and parallel collection;
- `nld`      an importer for NetHack Learning Dataset ttyrec directories.
"""
