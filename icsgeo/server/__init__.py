"""``icsgeo serve``: the public API over HTTP (FastAPI), for teams that cannot send postcodes to a
third party. ``app`` builds the application, ``models`` derives its response models from the answer
schema, ``health`` says what the server knows about itself, ``batching`` shares one call of the
public verb among concurrent single lookups. FastAPI and uvicorn are the ``server`` extra.
"""

from ..answer import Status
from ..errors import MissingDependencyError

try:
    import fastapi  # noqa: F401
    import pydantic  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised by test_cli_serve_without_fastapi
    raise MissingDependencyError(
        f'icsgeo serve needs FastAPI and uvicorn ({exc.name} is missing): pip install "icsgeo[server]"'
    ) from exc

from .app import MAX_BODY_BYTES, Limits, allowed_hosts, create_app, serve  # noqa: E402
from .models import MAX_BULK  # noqa: E402

__all__ = ["create_app", "serve", "Limits", "allowed_hosts", "MAX_BULK", "MAX_BODY_BYTES", "Status"]
