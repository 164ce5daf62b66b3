"""evaluator settings (environment variables with the MAESTRO_ prefix)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from maestro_common.settings import settings_for


class EvaluatorSettings(settings_for("evaluator")):
    api_token: SecretStr = SecretStr("")
    """Bearer token every EvaluatorService call must carry ("authorization: Bearer <token>"); mount it from a
    Kubernetes Secret. Empty refuses to start unless MAESTRO_ALLOW_UNAUTHENTICATED=true."""
    allow_unauthenticated: bool = False
    """Serve without a token (local mode on loopback only); never set it on a reachable address."""
    tls_cert_file: Path | None = None
    """PEM certificate chain for TLS on the gRPC port (with MAESTRO_TLS_KEY_FILE); unset = plaintext."""
    tls_key_file: Path | None = None
    """PEM private key matching MAESTRO_TLS_CERT_FILE."""
    codegen_address: str = ""
    """host:port of the codegen service (writes task policies); empty = $MAESTRO_CODEGEN_ADDRESS or local mode's."""
    max_episodes: int = Field(default=100_000, ge=1, le=1_000_000)
    """Most episodes one EvaluateTask request may ask for."""
    default_num_envs: int = Field(default=8, ge=1, le=256)
    """Environments played at once when a request names none."""
    eval_workers: int = Field(default=1, ge=1, le=256)
    """Processes that play an evaluation's episodes in parallel, each with its own envs and batched actor
    (on a 16-core GPU node: about one per core)."""
    device: str = "auto"
    """Where the frozen skill network runs: auto (cuda when available), cpu, cuda or cuda:N."""
    torch_threads: int = Field(default=0, ge=0, le=1024)
    """CPU threads for torch; 0 keeps torch's default."""
    policy_timeout_s: float = Field(default=3600.0, gt=0, le=86_400)
    """How long an evaluation waits for codegen to write its task policy."""

    def server_credentials(self):
        """gRPC server credentials for TLS (None = plaintext); the shared runtime binds the port with them."""
        if self.tls_cert_file is None or self.tls_key_file is None:
            return None
        import grpc

        pair = (self.tls_key_file.read_bytes(), self.tls_cert_file.read_bytes())
        return grpc.ssl_server_credentials([pair])

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if value in ("auto", "cpu", "cuda") or (value.startswith("cuda:") and value[5:].isdigit()):
            return value
        raise ValueError(f"{value!r} is not a device; use auto, cpu, cuda or cuda:N")

    @model_validator(mode="after")
    def _safe(self) -> EvaluatorSettings:
        if not self.api_token.get_secret_value() and not self.allow_unauthenticated:
            raise ValueError("MAESTRO_API_TOKEN is empty: set it to the bearer token callers must send (from a "
                             "Kubernetes Secret), or set MAESTRO_ALLOW_UNAUTHENTICATED=true for local use")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("set both MAESTRO_TLS_CERT_FILE and MAESTRO_TLS_KEY_FILE, or neither")
        for path in (self.tls_cert_file, self.tls_key_file):
            if path is not None and not path.is_file():
                raise ValueError(f"TLS file {path} does not exist")
        return self
