"""Service settings: one frozen object, also passed to uvicorn workers as JSON."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from trustrec.errors import ConfigError

#: Environment variable through which ``trustrec serve --workers N`` hands settings over.
ENV_VAR = "TRUSTREC_SERVE_SETTINGS"


@dataclass(frozen=True)
class Settings:
    """What the service needs: the model, the database, and its security and online knobs.

    ``anonymous_reads``: the non-personal read routes (items, search without a user) answer
    without a key; every route about a user needs a key that may act for that user.
    ``trusted_proxies``: addresses (or networks) whose ``X-Forwarded-For`` names the client;
    none by default, so the client is the socket's peer.
    ``rate``/``burst``: token bucket per API key and per client address.
    ``max_body_bytes``: largest request body (413 beyond).
    ``cors_origins``: origins allowed to call from a browser (none by default).
    ``model_roots``: directories under which ``POST /v1/admin/reload`` may load a model
    (besides ``model_dir`` itself). ``open_docs``: serve ``/docs`` and ``/openapi.json``.
    ``history_limit``: latest events per user overlaid on the model.
    ``bandit``: re-rank the top ``bandit_candidates`` with LinUCB + ε-greedy and log
    propensities, keeping at most ``served_log_rows`` slots for ``served_log_days``;
    ``items_path``: item table (titles) for ``/items`` and the web page.
    """

    model_dir: Path
    db_url: str = "sqlite:///trustrec-events.db"
    items_path: Path | None = None
    anonymous_reads: bool = False
    trusted_proxies: tuple[str, ...] = ()
    rate: float = 100.0
    burst: int = 200
    max_body_bytes: int = 2 * 1024 * 1024
    cors_origins: tuple[str, ...] = ()
    model_roots: tuple[Path, ...] = ()
    open_docs: bool = False
    history_limit: int = 500
    bandit: bool = False
    bandit_candidates: int = 50
    bandit_alpha: float = 0.5
    bandit_epsilon: float = 0.1
    served_log_rows: int = 1_000_000
    served_log_days: float = 30.0
    key_ttl: float = 5.0
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "model_dir", Path(self.model_dir))
        if self.items_path is not None:
            object.__setattr__(self, "items_path", Path(self.items_path))
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))
        object.__setattr__(self, "trusted_proxies", tuple(self.trusted_proxies))
        object.__setattr__(self, "model_roots", tuple(Path(p) for p in self.model_roots))
        checks = {"rate": self.rate > 0, "burst": self.burst >= 1,
                  "max_body_bytes": self.max_body_bytes >= 1,
                  "served_log_rows": self.served_log_rows >= 1,
                  "served_log_days": self.served_log_days > 0,
                  "history_limit": self.history_limit >= 1,
                  "bandit_candidates": self.bandit_candidates >= 1,
                  "bandit_alpha": self.bandit_alpha >= 0,
                  "bandit_epsilon": 0.0 <= self.bandit_epsilon <= 1.0,
                  "key_ttl": self.key_ttl >= 0}
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"serve settings: field '{name}' has an invalid value "
                                  f"{getattr(self, name)!r}")

    def to_json(self) -> str:
        """JSON form (paths as strings) for :func:`from_json`."""
        data: dict[str, Any] = asdict(self)
        data["model_dir"] = str(self.model_dir)
        data["items_path"] = None if self.items_path is None else str(self.items_path)
        data["cors_origins"] = list(self.cors_origins)
        data["trusted_proxies"] = list(self.trusted_proxies)
        data["model_roots"] = [str(p) for p in self.model_roots]
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Settings:
        """Settings from :meth:`to_json` output; unknown fields are an error."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"serve settings: invalid JSON ({exc})") from None
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"serve settings: unknown field(s) {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def from_env(cls) -> Settings:
        """Settings from ``$TRUSTREC_SERVE_SETTINGS`` (set by ``trustrec serve``)."""
        text = os.environ.get(ENV_VAR)
        if not text:
            raise ConfigError(f"serve settings: ${ENV_VAR} is not set")
        return cls.from_json(text)
