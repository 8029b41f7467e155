"""The `vigie` command line: one entry point, one subcommand per component.

Each subcommand lives in the module of the component it runs, which exposes
`add_arguments(parser)` and `run(args, settings) -> int`; modules are imported only when
their subcommand runs, so `vigie broker` does not pay for Dash or geopandas.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from streams.config import Settings

__all__ = ["COMMANDS", "build_parser", "main"]

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "broker": ("streams.broker_cmd", "run the embedded Kafka-protocol broker on 127.0.0.1"),
    "inventory": ("connectors.dijon.inventory_cmd", "build or show the Dijon Métropole inventory"),
    "simulate": ("connectors.dijon.simulate_cmd", "simulate Dijon Métropole's field systems onto Kafka"),
    "process": ("streams.process_cmd", "run the stream processor of a namespace into the store"),
    "status": ("streams.status_cmd", "print the room's status from the store"),
    "dashboard": ("dashboard.server", "serve the operator room on 127.0.0.1"),
    "kpi": ("streams.kpi_cmd", "print the contract KPIs with their targets and status"),
    "backfill": ("streams.backfill_cmd", "generate N days of history into the store"),
    "report": ("streams.report_cmd", "write the monthly contract report (PDF and spreadsheet)"),
    "connect": ("connectors.connect_cmd", "run a connector to a field standard (fiware, open311, talq, register)"),
    "record": ("streams.record_cmd", "record live topics into a recording folder"),
    "replay": ("streams.replay_cmd", "replay a recording into a training session"),
    "scenarios": ("streams.scenarios_record", "render the training scenarios into recordings"),
    "train": ("streams.train_cmd", "start, list, control and debrief training sessions"),
    "bench": ("streams.bench_cmd", "run a benchmark and print its figures as key=value lines"),
    "command": ("streams.command_cmd", "dim or switch lights, flash crossroads, with the room's safety checks"),
    "assets": ("streams.assets_cmd", "list assets with their live state (light level, power, mode)"),
    "user": ("streams.user_cmd", "add users, change roles and passwords, list sessions (admins)"),
    "privacy": ("streams.privacy", "delete citizens' contact details older than the retention period"),
    "demo": ("dashboard.demo", "run the whole room on one machine (broker, simulator, processor, dashboard)"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; with `only`, the subcommand's module is imported to add its flags."""
    parser = argparse.ArgumentParser(prog="vigie", description="Vigie, the urban operations control room.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == only:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `vigie` command."""
    argv = sys.argv[1:] if argv is None else argv
    name = next((a for a in argv if a in COMMANDS), None)
    args = build_parser(name).parse_args(argv)
    if not args.command:
        build_parser().print_help()
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # kafka-python logs every transient connection failure as an error; ours say what matters.
    logging.getLogger("kafka").setLevel(logging.DEBUG if args.verbose else logging.CRITICAL)
    module = importlib.import_module(COMMANDS[args.command][0])
    settings = Settings.from_env()
    try:
        return int(module.run(args, settings) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`vigie inventory | head`): not an error of ours.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
