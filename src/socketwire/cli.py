"""The ``socketwire`` command: ``socketwire serve [module:attr]``, in the manner of uvicorn.

Without an app it serves the embedded demo ([`socketwire.demo`][socketwire.demo]): a chat page at
``/`` and an ``/echo`` namespace. Exit status: 0 after a clean stop (Ctrl-C, SIGTERM), 1 when the
server cannot listen, 2 for a usage error or an app that cannot be loaded.

``socketwire asyncapi [module:attr]`` and ``socketwire typescript [module:attr]`` print the
AsyncAPI 3.0 document and the TypeScript event maps of a server's contract (the demo's
without an app); ``-o FILE`` writes them to a file. Exit status 2 for an app that cannot be
loaded or described (pydantic missing, an annotation pydantic cannot describe).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import importlib
import json
import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from socketwire.io.forwarding import forwarding_summary
from socketwire.io.http import HttpApp
from socketwire.static import ClientBundle

if TYPE_CHECKING:
    from socketwire.server import Server

__all__ = ["AppLoadError", "load_app", "load_server", "main", "run"]

logger = logging.getLogger("socketwire")

# EADDRINUSE, and its Windows (WSA) number
_IN_USE = frozenset({errno.EADDRINUSE, 10048})
_APP_METHODS = ("owns", "handle_http", "handle_websocket", "shutdown")
# Options that build the embedded demo (None when not given); an app given as module:attr
# is configured in code.
_DEMO_OPTIONS = {
    "path": "--path",
    "cors_origin": "--cors-origin",
    "parser": "--parser",
    "client_dist": "--client-dist",
    "serve_client": "--no-serve-client",
    "redis": "--redis",
    "redis_streams": "--redis-streams",
}

# How long `serve` waits for a cluster adapter (Redis) to subscribe before giving up.
_START_TIMEOUT = 10.0


class AppLoadError(Exception):
    """The ``module:attr`` given on the command line does not name a servable app."""


def _is_missing(exc: ModuleNotFoundError, module_name: str) -> bool:
    # "No module named x" about the module asked for (or a parent package), not about
    # something that module imports.
    name = exc.name or ""
    return bool(name) and (module_name == name or module_name.startswith(name + "."))


def load_app(spec: str) -> HttpApp:
    """Import ``module:attr`` and return the app it names (``attr`` may be dotted).

    The current directory is searched first, as uvicorn does.

    Raises:
        AppLoadError: the spec is malformed, the module or attribute is missing, importing
            the module failed, or the object is not an app socketwire can serve.
    """
    obj = _load_object(spec)
    if isinstance(obj, type) or not all(callable(getattr(obj, m, None)) for m in _APP_METHODS):
        raise AppLoadError(
            f"{spec} is not a socketwire app: expected a socketwire.Server instance (or an "
            f"object with {', '.join(m + '()' for m in _APP_METHODS)}), "
            f"got {type(obj).__name__ if not isinstance(obj, type) else 'a class'}"
        )
    return obj  # type: ignore[return-value]


def _load_object(spec: str) -> object:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise AppLoadError(f"the app must be given as 'module:attribute', got {spec!r}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if _is_missing(exc, module_name):
            raise AppLoadError(
                f"could not import module {module_name!r}: no module named {exc.name!r} "
                f"(looked in the current directory, {os.getcwd()}, and the Python path)"
            ) from None
        raise AppLoadError(_import_failure(module_name, exc)) from None
    except Exception as exc:
        raise AppLoadError(_import_failure(module_name, exc)) from None
    obj: object = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AppLoadError(f"module {module_name!r} has no attribute {attr!r}") from None
    return obj


def load_server(spec: str | None) -> Server:
    """The [`Server`][socketwire.Server] that ``module:attr`` names (or that the
    ``socketwire.ASGIApp`` it names serves); the demo's without a spec.

    Raises:
        AppLoadError: as ``load_app()``, or the app is not (or does not serve) a Server.
    """
    from socketwire.server import Server

    if spec is None:
        from socketwire.demo import create_app

        return create_app(serve_client=False)
    app = _load_object(spec)
    app = getattr(app, "http_app", app)  # an ASGIApp: the app it serves
    if not isinstance(app, Server):
        raise AppLoadError(
            f"{spec} is not a socketwire app: expected a socketwire.Server (or an ASGIApp "
            f"serving one), got {type(app).__name__}"
        )
    return app


def _describe(args: argparse.Namespace) -> int:
    try:
        sio = load_server(args.app)
        if args.command == "asyncapi":
            info = {k: v for k, v in (("title", args.title), ("version", args.api_version)) if v}
            text = json.dumps(sio.asyncapi(**info), indent=2, ensure_ascii=False) + "\n"
        else:
            from socketwire.typed.typescript import typescript_module

            text = typescript_module(sio.contract(), source=args.app or "socketwire.demo")
    except AppLoadError as exc:
        print(f"socketwire: {exc}", file=sys.stderr)
        return 2
    except (ImportError, TypeError) as exc:
        print(f"socketwire: cannot describe the app's events: {exc}", file=sys.stderr)
        return 2
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
    return 0


def _import_failure(module_name: str, exc: BaseException) -> str:
    details = "".join(traceback.format_exception(exc)).rstrip()
    return f"importing module {module_name!r} failed:\n{details}"


def _demo(args: argparse.Namespace) -> HttpApp:
    from socketwire.demo import create_app
    from socketwire.engineio import CorsOptions

    options: dict[str, object] = {}
    if args.redis or args.redis_streams:
        from socketwire.adapters.redis import adapter_from_url

        options["adapter"] = adapter_from_url(
            args.redis_streams or args.redis, streams=bool(args.redis_streams)
        )
    if args.cors_origin:
        origins: list[str] = args.cors_origin
        options["cors"] = CorsOptions(origin="*" if "*" in origins else origins)
    return create_app(
        path=args.path or "/socket.io/",
        parser=args.parser or "json",
        serve_client=args.serve_client is None,
        serve_client_dir=args.client_dist,
        **options,
    )


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


async def _serve(app: HttpApp, host: str, port: int, what: str) -> int:
    from socketwire.io.native import NativeServer

    server = NativeServer(app, host=host, port=port)
    try:
        await server.start()
    except OSError as exc:
        if exc.errno in _IN_USE:
            reason = (
                "the address is already in use (another program listens there: stop it, "
                "or choose another port with --port)"
            )
        else:
            reason = exc.strerror or str(exc)
        print(f"socketwire: cannot listen on {host}:{port}: {reason}", file=sys.stderr)
        return 1
    start = getattr(app, "start", None)
    if callable(start):
        # A cluster node subscribes before it announces itself (socketwire.Server.start).
        try:
            await asyncio.wait_for(start(), _START_TIMEOUT)
        except Exception as exc:  # any failure to start is reported; the command exits 1
            print(f"socketwire: cannot start the server's adapters: {exc!r}", file=sys.stderr)
            await server.close()
            return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    print(f"socketwire: serving {what}", flush=True)
    bundle = getattr(app, "client_bundle", None)
    if isinstance(bundle, ClientBundle) and bundle.dist is not None:
        name = f"socket.io-client {bundle.version}" if bundle.version else "browser client"
        print(f"socketwire: serving {name} from {bundle.dist}", flush=True)
    print(f"socketwire: listening on {_url(host, server.port)} (Ctrl-C to stop)", flush=True)
    try:
        await stop.wait()
    finally:
        for sig in signals:
            # a second Ctrl-C while closing interrupts at once
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
        print("socketwire: shutting down", flush=True)
        await server.close()
    summary = forwarding_summary(app)
    if summary is not None:
        print(f"socketwire: {summary}", flush=True)
    print("socketwire: stopped", flush=True)
    return 0


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is between 0 and 65535, not {port}")
    return port


def _workers(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of workers: {text!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"at least one worker, not {count}")
    return count


def _worker_command(args: argparse.Namespace) -> list[str]:
    """The command line that starts one worker serving what ``args`` serves."""
    command = [sys.executable, "-m", "socketwire", "serve", "--log-level", args.log_level]
    if args.app:
        command.append(args.app)
    for dest, flag in _DEMO_OPTIONS.items():
        value = getattr(args, dest)
        if value is None:
            continue
        if dest == "serve_client":
            command.append(flag)
        elif isinstance(value, list):
            for item in value:
                command += [flag, item]
        else:
            command += [flag, str(value)]
    return command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="socketwire", description="Socket.IO for Python.")
    parser.add_argument("--version", action="version", version=f"socketwire {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    serve = commands.add_parser(
        "serve",
        help="run a server (the embedded chat demo when no app is given)",
        description="Serve a socketwire app given as module:attribute (a socketwire.Server), "
        "or, without one, the embedded chat demo at http://127.0.0.1:3000/.",
    )
    serve.add_argument("app", nargs="?", help="the app to serve, as module:attribute")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    serve.add_argument("--port", type=_port, default=3000, help="port to bind (3000; 0: any)")
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help="serve from N worker processes sharing the port, one cluster with no external "
        "service (1: this process serves)",
    )
    # How the primary starts each worker (see socketwire.workers); not for people.
    serve.add_argument("--worker", help=argparse.SUPPRESS)
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="logging level (info)",
    )
    serve.add_argument(
        "--admin",
        action="store_true",
        help="serve the Socket.IO admin UI at /admin/ and instrument the server for it "
        "(see --admin-user)",
    )
    serve.add_argument(
        "--admin-user",
        metavar="USER:BCRYPT_HASH",
        help="require this login in the admin UI (the password as a bcrypt hash; without "
        "it, the UI is open to anyone who reaches the server)",
    )
    serve.add_argument("--admin-read-only", action="store_true", help="the admin UI may only watch")
    serve.add_argument(
        "--metrics", action="store_true", help="serve Prometheus metrics at /metrics"
    )
    demo = serve.add_argument_group("options of the embedded demo (without an app)")
    demo.add_argument("--path", help="the Socket.IO path (/socket.io/)")
    demo.add_argument(
        "--cors-origin",
        action="append",
        metavar="ORIGIN",
        help="allow this origin (repeatable; '*' allows any)",
    )
    demo.add_argument("--parser", choices=["json", "msgpack"], help="the packet parser (json)")
    demo.add_argument(
        "--no-serve-client",
        dest="serve_client",
        action="store_const",
        const=False,
        help="do not serve the browser client at <path>/socket.io.js",
    )
    cluster = demo.add_mutually_exclusive_group()
    cluster.add_argument(
        "--redis",
        metavar="URL",
        help="join a cluster through Redis pub/sub (@socket.io/redis-adapter format)",
    )
    cluster.add_argument(
        "--redis-streams",
        metavar="URL",
        help="join a cluster through Redis streams (@socket.io/redis-streams-adapter format)",
    )
    demo.add_argument(
        "--client-dist",
        metavar="DIR",
        help="where socket.io-client's dist is (default: looked for; see docs/cli.md)",
    )
    for name, what in (
        ("asyncapi", "the AsyncAPI 3.0 document (JSON)"),
        ("typescript", "the TypeScript event maps for socket.io-client"),
    ):
        describe = commands.add_parser(
            name,
            help=f"print {what} of an app's events",
            description=f"Print {what} of the events of a socketwire app given as "
            "module:attribute (the embedded demo's without one). Needs pydantic.",
        )
        describe.add_argument("app", nargs="?", help="the app, as module:attribute")
        describe.add_argument("-o", "--output", metavar="FILE", help="write it to FILE")
        if name == "asyncapi":
            describe.add_argument("--title", help="info.title (the app's asyncapi_info)")
            describe.add_argument(
                "--api-version", help="info.version: the version of your API (1.0.0)"
            )
    return parser


def _observe(app: HttpApp, args: argparse.Namespace) -> None:
    """``--admin`` and ``--metrics`` on the app (a socketwire.Server)."""
    if not (args.admin or args.metrics):
        return
    from socketwire.server import Server

    if not isinstance(app, Server):
        raise ValueError("--admin and --metrics need a socketwire.Server")
    if args.metrics:
        import socketwire.metrics

        socketwire.metrics.enable(app)
    if args.admin:
        auth: Any = False
        if args.admin_user:
            user, sep, hashed = args.admin_user.partition(":")
            if not sep:
                raise ValueError("--admin-user is USER:BCRYPT_HASH")
            auth = {"type": "basic", "username": user, "password": hashed}
        app.instrument(auth=auth, read_only=args.admin_read_only, serve_ui=True)


def _version() -> str:
    try:
        return version("socketwire")
    except PackageNotFoundError:
        return "unknown"


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command in ("asyncapi", "typescript"):
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        return _describe(args)
    level = logging.getLevelName(args.log_level.upper())
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if level > logging.DEBUG:
        # the websockets library logs every connection at INFO: too chatty for a server log
        logging.getLogger("websockets").setLevel(max(level, logging.WARNING))
    if args.app:
        given = [flag for dest, flag in _DEMO_OPTIONS.items() if getattr(args, dest) is not None]
        if given:
            verb = "applies" if len(given) == 1 else "apply"
            print(
                f"socketwire: {', '.join(given)} {verb} to the embedded demo only; with an "
                "app, set the options on its socketwire.Server",
                file=sys.stderr,
            )
            return 2
    what = args.app or f"the chat demo ({args.parser or 'json'} parser)"
    if args.workers > 1 and args.worker is None:
        from socketwire.workers.primary import Primary

        try:
            primary = Primary(_worker_command(args), args.workers, args.host, args.port, what)
        except ValueError as exc:
            print(f"socketwire: {exc}", file=sys.stderr)
            return 2
        try:
            with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                return runner.run(primary.run())
        except KeyboardInterrupt:
            return 130
    link = config = None
    if args.worker is not None:
        from socketwire.workers.worker import WorkerConfig, prepare

        try:
            config = WorkerConfig.from_json(args.worker)
        except ValueError as exc:
            print(f"socketwire: {exc}", file=sys.stderr)
            return 2
        # Before the app is imported: its servers then get the inter-worker adapter.
        link = prepare(config)
    if args.app:
        try:
            app = load_app(args.app)
        except AppLoadError as exc:
            print(f"socketwire: {exc}", file=sys.stderr)
            return 2
    else:
        try:
            app = _demo(args)
        except ValueError as exc:
            print(f"socketwire: {exc}", file=sys.stderr)
            return 2
    try:
        _observe(app, args)
    except (ValueError, RuntimeError, ImportError) as exc:
        print(f"socketwire: {exc}", file=sys.stderr)
        return 2
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            if config is not None and link is not None:
                from socketwire.workers.worker import serve as serve_worker

                return runner.run(serve_worker(app, config, link, args.host, args.port))
            return runner.run(_serve(app, args.host, args.port, what))
    except KeyboardInterrupt:
        # a second Ctrl-C during shutdown
        return 130


def run(
    app: str | HttpApp | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 3000,
    workers: int = 1,
    log_level: str = "info",
) -> int:
    """Serve ``app`` as ``socketwire serve`` does, until SIGINT or SIGTERM; the exit status.

    Args:
        app: A ``socketwire.Server`` (or another app), or ``"module:attribute"`` naming one;
            None serves the embedded demo. With ``workers`` > 1 it must be a string: each
            worker imports it.
        host: The address to bind.
        port: The port to bind (0: any free one).
        workers: How many worker processes share the port (see ``socketwire serve
            --workers``).
        log_level: ``"debug"``, ``"info"``, ``"warning"``, ``"error"`` or ``"critical"``.

    Raises:
        ValueError: ``workers`` > 1 with an app object rather than its import string.
    """
    argv = ["serve", "--host", host, "--port", str(port), "--log-level", log_level]
    argv += ["--workers", str(workers)]
    if app is None or isinstance(app, str):
        return main([*argv, *([app] if app else [])])
    if workers > 1:
        raise ValueError(
            "with several workers, give the app as 'module:attribute': each worker imports it"
        )
    logging.basicConfig(level=logging.getLevelName(log_level.upper()))
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(_serve(app, host, port, repr(app)))
