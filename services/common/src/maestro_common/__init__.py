"""MaestroMotif shared library: everything two or more services use.

Nothing here starts a server by itself; `maestro_common.runtime.serve` is the one entry point
that every service (and local mode) uses to run.
"""
