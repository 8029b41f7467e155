"""The `vigie dashboard` subcommand: serve the operator room on 127.0.0.1."""

from __future__ import annotations

import argparse
import logging
import sys
import threading

from streams.config import Settings

__all__ = ["DEFAULT_PORT", "add_arguments", "run"]

DEFAULT_PORT = 8050


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the flags of `vigie dashboard`."""
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--tiles", metavar="URL", default=None,
                        help="tile URL template, e.g. https://tiles.example/{z}/{x}/{y}.png "
                             "(default: none, a plain dark background that works offline)")
    parser.add_argument("--tiles-attribution", default=None, help="attribution text the tile provider requires")
    parser.add_argument("--stale-after", type=float, default=30.0, metavar="SECONDS",
                        help="show the STALE banner when no event or heartbeat came for this long (default 30)")
    parser.add_argument("--namespace", default=None,
                        help="show this namespace's store: `live` (default) or `train-<session>` for a training room")
    parser.add_argument("--debug", action="store_true", help="Dash debug mode (dev tools, reloader off)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the room until interrupted."""
    from dashboard.app import create_app
    from streams.topics import validate_namespace

    if args.namespace:
        try:
            settings = settings.with_(namespace=validate_namespace(args.namespace))
        except ValueError as exc:
            print(f"vigie dashboard: {exc}", file=sys.stderr)
            return 2
    from streams.store.accounts import AccountError, Accounts, first_admin

    try:
        created = first_admin(Accounts.from_settings(settings))
    except AccountError as exc:
        print(f"vigie dashboard: {exc.reason}", file=sys.stderr)
        return 2
    if created:
        print(f"vigie dashboard: first admin {created!r} created", flush=True)
    app = create_app(settings, tiles=args.tiles, tiles_attribution=args.tiles_attribution,
                     stale_after_s=args.stale_after)
    room = app.server.config["VIGIE_ROOM"]
    if not args.debug:  # one access line per browser per second drowns what matters
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    threading.Thread(target=room.geo.warm, name="geo-warm", daemon=True).start()
    print(f"Vigie operator room on http://{args.host}:{args.port}/ (store {settings.store_url})", flush=True)
    try:
        app.run(host=args.host, port=args.port, debug=args.debug, use_reloader=False, threaded=True)
    finally:
        if room.training is not None:  # the sessions this server started end with it
            room.training.stop_all()
    return 0
