"""api: the HTTP edge (Litestar) and the ``fapiao`` command line."""

from api._app import create_app

__all__ = ["create_app"]
