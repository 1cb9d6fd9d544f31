"""Runtime configuration: embedded defaults, scale-out through ANDON_* environment variables."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from control.plant.loader import DEMO_SITE
from perception.registry.keys import DEMO_PUBLIC_KEY, DEMO_SIGNING_KEY

# The demo plant's own documents, at the top of the repository.
DEMO_CORPORA = Path(__file__).resolve().parents[1] / "corpora"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ANDON_", extra="ignore")

    data_dir: Path = Field(default=Path("var"), description="state of an embedded install")
    plant_file: Path = DEMO_SITE
    # Application data (audit trail, work orders, approvals) and DBOS workflow state.
    # Empty: SQLite files under data_dir. A postgresql:// URL holds both.
    database_url: str = ""
    opcua_url: str = "opc.tcp://127.0.0.1:4840/andon/"
    opcua_security: bool = False  # Basic256Sha256 SignAndEncrypt + username/password
    opcua_user: str = "andon-control"
    opcua_password: str = (
        "andon-demo-control"  # the simulator's demo login; set it for a real plant
    )
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    api_keys_file: Path | None = None  # default: data_dir/api_keys.json
    # Retrieval: empty URL = Qdrant in local mode on disk under data_dir (one process per store).
    qdrant_url: str = ""
    qdrant_api_key: str = ""
    qdrant_collection: str = "andon"
    embed_threads: int = Field(default=2, ge=1, le=64)
    # Documents `andon up` syncs into the index at start; unset: the repo's corpora/, [] none.
    corpora: tuple[Path, ...] | None = None
    # Language model: empty URL = llama.cpp in this process; else an OpenAI-compatible server
    # (vLLM) at e.g. http://127.0.0.1:8000/v1 serving llm_model.
    llm_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    # Embedded GGUF file; unset: Qwen2.5-Coder-1.5B reassembled from its PyPI parts.
    llm_model_file: Path | None = None
    llm_threads: int = Field(default=2, ge=1, le=64)
    # Perception models: the default key pair is the repo's DEMO pair (perception/keys/).
    model_signing_key: Path = DEMO_SIGNING_KEY  # what `andon train` signs with
    model_trusted_keys: tuple[Path, ...] = (DEMO_PUBLIC_KEY,)  # whose signatures load
    model_roles: tuple[str, ...] = ("engineer", "admin")  # may promote/roll back/shadow
    inference_device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA when present
    inference_threads: int = Field(default=2, ge=1, le=64)  # ONNX Runtime threads per model
    inference_max_batch: int = Field(default=8, ge=1, le=256)
    inference_budget_ms: float = Field(default=2.0, ge=0, le=1000)  # wait to fill a batch
    inference_queue: int = Field(default=64, ge=1, le=10000)  # per model; beyond it: shed
    # Live perception. Inspection: the embedded simulator's vision-station cameras, each part
    # judged by inspection_model (missing: every part held for manual inspection).
    inspection_live: bool = True
    inspection_model: str = "vision-defects"
    telemetry_live: bool = True  # score the telemetry models' assets from the OPC-UA tags
    log_level: str = "INFO"
    log_json: bool = False

    @cached_property
    def keys_path(self) -> Path:
        return self.api_keys_file or self.data_dir / "api_keys.json"

    def corpora_paths(self) -> tuple[Path, ...]:
        if self.corpora is not None:
            return self.corpora
        return (DEMO_CORPORA,) if DEMO_CORPORA.is_dir() else ()

    @cached_property
    def qdrant_path(self) -> Path:
        return self.data_dir / "qdrant"

    @cached_property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @cached_property
    def evidence_dir(self) -> Path:
        return self.data_dir / "evidence"

    @cached_property
    def pki_dir(self) -> Path:
        return self.data_dir / "pki"

    def app_database_url(self) -> str:
        """SQLAlchemy async URL for application data."""
        if not self.database_url:
            return f"sqlite+aiosqlite:///{(self.data_dir / 'andon.sqlite').resolve()}"
        return _with_driver(self.database_url, "psycopg")

    def workflow_database_url(self) -> str:
        """URL for DBOS's system database (plain driver, DBOS picks its own)."""
        if not self.database_url:
            return f"sqlite:///{(self.data_dir / 'workflows.sqlite').resolve()}"
        return _with_driver(self.database_url, None)


def _with_driver(url: str, driver: str | None) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"ANDON_DATABASE_URL is not a URL: {url!r}")
    base = scheme.split("+", 1)[0]
    if base == "postgres":
        base = "postgresql"
    if base not in {"postgresql", "sqlite"}:
        raise ValueError(f"ANDON_DATABASE_URL must be postgresql:// or sqlite://, got {scheme}://")
    if base == "sqlite" and driver == "psycopg":
        driver = "aiosqlite"
    return f"{base}+{driver}://{rest}" if driver else f"{base}://{rest}"
