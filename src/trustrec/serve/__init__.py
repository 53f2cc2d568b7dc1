"""The real-time service: HTTP API, durable event store, online updates, bandit, security.

``create_app(Settings(model_dir=…))`` builds a FastAPI app; ``trustrec serve`` runs it.
"""

from trustrec.serve.app import create_app
from trustrec.serve.settings import Settings

__all__ = ["Settings", "create_app"]
