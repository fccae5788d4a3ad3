"""socketwire's ASGI app (``socketwire.ASGIApp``) under uvicorn."""

from __future__ import annotations

from _common import parse_args, run_uvicorn
from socketwire_native import make_server

from socketwire.io.asgi import ASGIApp

if __name__ == "__main__":
    run_uvicorn(ASGIApp(make_server()), parse_args(__doc__ or ""))
