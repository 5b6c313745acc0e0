"""``sgl-console serve-web``: the same console in a browser tab, through textual-serve.

Why: operators reach GPU hosts over SSH and many would rather keep a browser tab open than a
terminal.  textual-serve starts one console process per browser connection (the same app, keys,
panes and crash report); closing the tab sends that console a quit, which stops what it started
with the usual SIGINT -> SIGTERM -> SIGKILL escalation.

Safety: bound to loopback by default (``ssh -L 8566:127.0.0.1:8566 host`` is the documented way
in).  Bound anywhere else, the server warns and refuses every request that does not carry the
token from ``$SGL_CONSOLE_WEB_TOKEN`` (or ``--token-file``): the token is never taken on the
command line (``ps`` shows it) and never printed.  The websocket that drives the console also
refuses cross-site Origins, so a page open in the same browser cannot drive a loopback console.
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import logging
import os
import shlex
import sys
from collections.abc import Awaitable, Callable
from typing import Any

EXIT_REFUSED = 2
DEFAULT_PORT = 8566
TOKEN_ENV = "SGL_CONSOLE_WEB_TOKEN"
TOKEN_COOKIE = "sgl_console_token"
MIN_TOKEN_CHARS = 16


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``serve-web`` to ``sgl-console``."""
    p = subparsers.add_parser(
        "serve-web", help="serve the console in a browser (textual-serve)",
        description="Serve the console in a browser tab: one console process per browser session, "
        "closing the tab stops what it started. Loopback by default; reach it through an SSH tunnel "
        f"(ssh -L {DEFAULT_PORT}:127.0.0.1:{DEFAULT_PORT} HOST). Bound elsewhere, a token is required "
        f"(${TOKEN_ENV} or --token-file; open http://HOST:PORT/?token=...).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: loopback only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--token-file", metavar="FILE",
                   help=f"file holding the access token (else ${TOKEN_ENV}); required off loopback")
    p.add_argument("--public-url", metavar="URL",
                   help="URL the browser uses (behind a proxy); default: the address the browser asked for")
    p.add_argument("--web-session", metavar="N", dest="web_session",
                   help="session each console opens (default: the top-level --session, else 'default')")
    p.set_defaults(handler=serve_web_main)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses: nobody off this machine can connect."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(token_file: str | None, environ: dict[str, str]) -> str | None:
    """The access token from ``token_file`` (first line) or ``$SGL_CONSOLE_WEB_TOKEN``.

    Raises:
        ValueError: the file cannot be read, or the token is shorter than 16 characters.
    """
    if token_file:
        try:
            with open(token_file, encoding="utf-8") as fh:
                token = fh.readline().strip()
        except OSError as exc:
            raise ValueError(f"--token-file {token_file!r}: cannot read it ({exc.strerror})") from exc
        where = f"--token-file {token_file!r}"
    else:
        token = environ.get(TOKEN_ENV, "").strip()
        where = f"${TOKEN_ENV}"
        if not token:
            return None
    if len(token) < MIN_TOKEN_CHARS:
        raise ValueError(f"{where}: the token has {len(token)} characters; at least {MIN_TOKEN_CHARS} are required")
    return token


def console_command(session: str | None, command: str | None) -> str:
    """The shell command textual-serve runs per browser session: this interpreter, this console."""
    argv = [sys.executable, "-m", "tui"]
    if session:
        argv += ["--session", session]
    if command:
        argv += ["--command", command]
    return shlex.join(argv)


def origin_allowed(origin: str | None, host: str) -> bool:
    """A websocket Origin is allowed when absent (not a browser) or naming this very server."""
    if not origin:
        return True
    from urllib.parse import urlsplit

    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


def make_server(command: str, host: str, port: int, token: str | None, public_url: str | None) -> Any:
    """A textual-serve ``Server`` with the token and Origin checks (imported here: aiohttp is heavy)."""
    from aiohttp import web
    from textual_serve.server import Server

    Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/static/"):
            return await handler(request)  # the page's scripts and fonts: no console behind them
        if request.path == "/ws" and not origin_allowed(request.headers.get("Origin"), request.host):
            return web.Response(status=403, text="websocket refused: cross-site Origin\n")
        if token is not None:
            offered = request.query.get("token") or request.cookies.get(TOKEN_COOKIE) or ""
            if not hmac.compare_digest(offered.encode(), token.encode()):
                return web.Response(status=403, text="token required: open /?token=<the token>\n")
        response = await handler(request)
        if token is not None and request.query.get("token"):
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict")
        return response

    class ConsoleServer(Server):
        """textual-serve with our guard; the page's URLs follow the address the browser used."""

        def initialize_logging(self) -> None:
            super().initialize_logging()
            # The access log prints request lines, query strings included: the token would show.
            logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(guard)
            return app

        async def handle_index(self, request: web.Request) -> Any:
            if public_url is None:
                self.public_url = f"{request.scheme}://{request.host}"
            return await super().handle_index(request)

        async def on_startup(self, app: web.Application) -> None:
            where = f"http://{host}:{port}/" if ":" not in host else f"http://[{host}]:{port}/"
            print(f"sgl-console web: serving the console on {where} (ctrl+c stops; each browser tab is "
                  "one console, closing it stops what that console started)", flush=True)

    server = ConsoleServer(command, host=host, port=port, title="sgl-console", public_url=public_url)
    return server


def serve_web_main(args: argparse.Namespace) -> int:
    """Check the binding and the token, then serve until ctrl+c / SIGTERM."""
    if not 0 < args.port < 65536:
        print(f"serve-web: --port {args.port}: must be 1..65535", file=sys.stderr)
        return EXIT_REFUSED
    try:
        token = read_token(args.token_file, dict(os.environ))
    except ValueError as exc:
        print(f"serve-web: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    if not is_loopback(args.host):
        if token is None:
            print(f"serve-web: --host {args.host} is not loopback: anyone who can reach it could run "
                  f"commands as you. Set ${TOKEN_ENV} (or --token-file) to a token of at least "
                  f"{MIN_TOKEN_CHARS} characters, or keep the default 127.0.0.1 and use an SSH tunnel.",
                  file=sys.stderr)
            return EXIT_REFUSED
        print(f"serve-web: WARNING: listening on {args.host}, reachable from other machines; every request "
              "must carry the token (open /?token=...). Traffic is plain HTTP: prefer an SSH tunnel.",
              file=sys.stderr)
    session = args.web_session or getattr(args, "session", None)
    command = console_command(session, getattr(args, "command", None))
    server = make_server(command, args.host, args.port, token, args.public_url)
    try:
        server.serve()
    except OSError as exc:
        print(f"serve-web: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_REFUSED
    return 0
