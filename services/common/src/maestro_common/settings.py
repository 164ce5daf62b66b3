"""Typed service settings from environment variables (prefix MAESTRO_).

Every field has a docstring; `load_settings` turns a bad value into one message per field that
says which variable to set and how, and exits before anything starts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


def maestro_home() -> Path:
    """Root for local state: $MAESTRO_HOME, else ~/.maestro."""
    return Path(os.environ.get("MAESTRO_HOME") or Path.home() / ".maestro").expanduser()


class ServiceSettings(BaseSettings):
    """Settings every service shares. Services subclass it to add their own fields."""

    model_config = SettingsConfigDict(
        env_prefix="MAESTRO_", use_attribute_docstrings=True, extra="ignore", frozen=True
    )

    grpc_host: str = "0.0.0.0"
    """Interface the gRPC server binds to (127.0.0.1 in local mode)."""
    grpc_port: int = Field(default=0, ge=0, le=65535)
    """gRPC port; 0 picks a free port (tests). Each service's subclass sets its own default."""
    metrics_port: int = Field(default=0, ge=-1, le=65535)
    """Prometheus /metrics port; 0 picks a free port, -1 disables the exporter."""
    data_dir: Path | None = None
    """Directory for this service's durable state (the job database); default $MAESTRO_HOME/<service>."""
    artifact_root: str = ""
    """Artifact store root: a directory or an fsspec URL (s3://bucket/prefix); default $MAESTRO_HOME/artifacts."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Minimum level of the JSON log lines written to stderr."""
    max_rpc_workers: int = Field(default=16, ge=1, le=1024)
    """Threads serving RPCs concurrently (streams such as WatchJob hold one each)."""
    max_concurrent_jobs: int = Field(default=1, ge=1, le=64)
    """Jobs this replica runs at the same time; the rest wait QUEUED."""
    max_message_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    """Largest gRPC message accepted or sent; big payloads belong in the artifact store."""
    shutdown_grace_seconds: float = Field(default=10.0, ge=0, le=600)
    """On SIGTERM: how long running RPCs and jobs get to finish before they are stopped."""

    def resolved_data_dir(self, service_name: str) -> Path:
        return Path(self.data_dir or maestro_home() / service_name).expanduser()

    def resolved_artifact_root(self) -> str:
        return self.artifact_root or str(maestro_home() / "artifacts")


S = TypeVar("S", bound=ServiceSettings)


class SettingsError(SystemExit):
    """Raised (and exits with status 2) when the environment holds an unusable setting."""


def load_settings(cls: type[S], **overrides) -> S:
    """Read `cls` from the environment (overrides win); exit with an actionable message on error."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        lines = ["Invalid configuration; fix these environment variables and start again:"]
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            var = "MAESTRO_" + field.upper()
            info = cls.model_fields.get(field)
            what = (info.description or "").strip().splitlines()[0] if info and info.description else ""
            value = os.environ.get(var, "<unset>")
            lines.append(f"  {var}={value!r}: {err['msg']}. {what}")
        raise SettingsError("\n".join(lines)) from None


def settings_for(service_name: str, base: type[S] = ServiceSettings) -> type[S]:
    """`base` with the service's default ports from the catalog; services subclass the result."""
    from pydantic import create_model

    from maestro_common.catalog import service_info

    info = service_info(service_name)
    return create_model(
        base.__name__ + "For" + info.package.title().replace("_", ""),
        __base__=base,
        grpc_port=(int, Field(default=info.grpc_port, ge=0, le=65535,
                              description=f"gRPC port of {info.name}; 0 picks a free port.")),
        metrics_port=(int, Field(default=info.metrics_port, ge=-1, le=65535,
                                 description=f"Prometheus /metrics port of {info.name}; "
                                             "0 picks a free port, -1 disables it.")),
    )
