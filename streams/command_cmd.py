"""`vigie command`: dim or switch lights and flash crossroads from the command line, with the room's checks.

Every command goes through `streams.commands.prepare_command` (role, targets, bounds, second
operator, rate limit from the store, training never towards live), is written to the store's
`commands` table with its audit row, and is published to `<namespace>.commands.requests`.
`--wait S` follows `<namespace>.commands.acks` until the equipment's final answer.
"""

from __future__ import annotations

import argparse
import sys
import time

from .commands import CommandPolicy, CommandRefused, prepare_command, select_targets
from .config import Settings

__all__ = ["ACTIONS", "FINAL_STATUSES", "add_arguments", "check_command", "run", "send_command", "wait_for_ack"]

ACTIONS = ("dim", "switch", "flash", "normal")
FINAL_STATUSES = frozenset({"done", "failed", "rejected", "expired"})


class _Stop(Exception):
    """A one-line message and an exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `vigie command`."""
    parser.add_argument("action", choices=ACTIONS, help="dim (with --level), switch (with --state), flash, normal")
    parser.add_argument("--commune", help="INSEE code of a commune: every lamp of it")
    parser.add_argument("--lamp", action="append", default=[], metavar="ID", help="a light point (repeatable)")
    parser.add_argument("--cabinet", action="append", default=[], metavar="ID",
                        help="a control cabinet: every lamp behind it (repeatable)")
    parser.add_argument("--signal", action="append", default=[], metavar="ID",
                        help="a signalised crossroads (repeatable)")
    parser.add_argument("--level", type=float, help="dimming level, 0-100 %% (dim)")
    parser.add_argument("--state", choices=("on", "off"), help="on or off (switch)")
    parser.add_argument("--minutes", type=float, default=60.0, help="duration before the programme resumes")
    parser.add_argument("--user", required=True,
                        help="the operator sending the command (password: prompt, or VIGIE_PASSWORD)")
    parser.add_argument("--reason", required=True, help="why: written to the audit log")
    parser.add_argument("--confirmed-by", dest="confirmed_by", help="second operator (large or crossroads commands; password: prompt, or VIGIE_CONFIRM_PASSWORD)")
    parser.add_argument("--namespace", default=None, help="namespace the command is sent from (default: live)")
    parser.add_argument("--target-namespace", dest="target_namespace", default=None,
                        help="namespace whose equipment receives it (default: the same)")
    parser.add_argument("--wait", type=float, default=0.0, metavar="S",
                        help="wait up to S seconds for the final acknowledgement and print it")


def _action(args: argparse.Namespace) -> str:
    if args.action == "switch":
        if args.state is None:
            raise _Stop("vigie command: switch needs --state on or --state off")
        return f"switch_{args.state}"
    if args.state is not None:
        raise _Stop(f"vigie command: --state applies to switch, not to {args.action}")
    return args.action


def check_command(store, *, assets, action: str, user: str, role: str, reason: str, minutes: float,
                  level: float | None = None, confirmed_by: str | None = None, confirmer_role: str | None = None,
                  lamps=(), cabinets=(), signals=(),
                  commune: str | None = None, origin_namespace: str, target_namespace: str,
                  policy: CommandPolicy = CommandPolicy(), now_ms: int | None = None):
    """Select and check a command (rate limit from the store); return (request, selection) or raise CommandRefused."""
    from .schemas import now_ms as wall_ms

    now = now_ms if now_ms is not None else wall_ms()
    selection = select_targets(assets, lamps=lamps, cabinets=cabinets, signals=signals, commune=commune)
    recent = store.count_commands(user, now - policy.rate_limit_window_s * 1000)
    request = prepare_command(selection, action=action, minutes=minutes, user=user, role=role, reason=reason,
                              now_ms=now, level=level, confirmed_by=confirmed_by or None,
                              confirmer_role=confirmer_role, origin_namespace=origin_namespace, target_namespace=target_namespace,
                              recent_by_user=recent, policy=policy)
    return request, selection


def send_command(store, producer, request, selection, *, namespace: str, role: str | None = None) -> None:
    """Record a checked command (status pending, with its audit row) and publish it to the command topic."""
    store.record_command(request, scope=selection.scope, count=selection.count, namespace=namespace, role=role)
    producer.send(request)
    producer.flush(timeout=10)


def _ack_consumer(bootstrap: str, namespace: str):
    from kafka import TopicPartition

    from .kafka import make_consumer
    from .topics import topic_name

    topic = topic_name(namespace, "commands", "acks")
    consumer = make_consumer(bootstrap, (), group_id=None, auto_offset_reset="latest")
    parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    consumer.assign(parts)
    consumer.seek_to_end(*parts)
    for tp in parts:
        consumer.position(tp)  # resolve "the end" now, before the command goes out
    return consumer


def wait_for_ack(consumer, command_id: str, timeout_s: float):
    """The final CommandAck of a command read from an acks consumer, the last one seen, or None."""
    from .schemas import CommandAck, InvalidEvent, Validator

    validator = Validator()
    last = None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=200).values():
            for record in records:
                try:
                    ack = validator.decode(record.value)
                except InvalidEvent:
                    continue
                if isinstance(ack, CommandAck) and ack.command_id == command_id:
                    last = ack
                    if ack.status in FINAL_STATUSES:
                        return ack
    return last


def _describe(request, selection) -> str:
    what = request.action + (f" {request.level:g} %" if request.level is not None else "")
    minutes = (request.expires_at - request.ts) / 60_000
    return (f"{what} on {request.asset_id} ({selection.count} equipment) for {minutes:g} min "
            f"by {request.user}" + (f", confirmed by {request.confirmed_by}" if request.confirmed_by else ""))


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Send one command; exit 2 with a one-line reason when refused, 1 when the equipment did not do it."""
    try:
        return _run(args, settings)
    except _Stop as stop:
        print(str(stop), file=sys.stderr)
        return stop.code


def _signatures(args: argparse.Namespace, settings: Settings, origin: str):
    """The sender and the confirming operator (if any), each checked against their password and rights."""
    from .store.accounts import Accounts
    from .user_cmd import SignatureRefused, signed_in

    accounts = Accounts.from_settings(settings)
    try:
        user = signed_in(accounts, args.user, "command.send", namespace=origin)
        confirmer = None
        if args.confirmed_by:
            if args.confirmed_by == args.user:
                raise _Stop("vigie command: refused: the confirming operator must be someone else")
            confirmer = signed_in(accounts, args.confirmed_by, "command.confirm", env="VIGIE_CONFIRM_PASSWORD",
                                  namespace=origin)
    except SignatureRefused as refused:
        raise _Stop(f"vigie command: refused: {refused}") from None
    return user, confirmer


def _run(args: argparse.Namespace, settings: Settings) -> int:
    import pandas as pd

    from .kafka import BrokerUnavailable, EventProducer
    from .store import open_store
    from .topics import LIVE, validate_namespace

    action = _action(args)
    try:
        origin = validate_namespace(args.namespace or settings.namespace)
        target = validate_namespace(args.target_namespace or origin)
    except ValueError as exc:
        raise _Stop(f"vigie command: {exc}") from None
    if origin != LIVE and target == LIVE:  # refused before the live store is even opened
        raise _Stop("vigie command: refused: a training session cannot command live equipment")
    if not (args.commune or args.lamp or args.cabinet or args.signal):
        raise _Stop("vigie command: name the targets (--commune, --lamp, --cabinet or --signal)")
    try:
        store = open_store(settings, target)
        assets = pd.DataFrame(store.inventory(), columns=["asset_id", "kind", "commune_code", "cabinet_id"])
    except Exception as exc:  # a missing or unreachable store is a message, not a traceback
        raise _Stop(f"vigie command: cannot read the store: {exc}", 1) from None
    if assets.empty:
        raise _Stop("vigie command: the store holds no inventory (run `vigie inventory` and `vigie process`)", 1)
    user, confirmer = _signatures(args, settings, origin)
    try:
        request, selection = check_command(
            store, assets=assets, action=action, user=user.name, role=user.role, reason=args.reason,
            minutes=args.minutes, level=args.level, confirmed_by=confirmer.name if confirmer else None,
            confirmer_role=confirmer.role if confirmer else None, lamps=args.lamp,
            cabinets=args.cabinet, signals=args.signal, commune=args.commune, origin_namespace=origin,
            target_namespace=target)
    except CommandRefused as refused:
        raise _Stop(f"vigie command: refused: {refused.reason}") from None
    consumer = None
    try:
        producer = EventProducer.connect(settings.kafka_bootstrap, target)
        if args.wait > 0:
            consumer = _ack_consumer(settings.kafka_bootstrap, target)
    except BrokerUnavailable as exc:
        raise _Stop(f"vigie command: not sent: {exc}", 1) from None
    try:
        try:
            send_command(store, producer, request, selection, namespace=target, role=user.role)
        except BrokerUnavailable as exc:
            raise _Stop(f"vigie command: recorded but not sent: {exc}", 1) from None
        print(f"command {request.command_id} sent: {_describe(request, selection)}")
        if consumer is None:
            return 0
        ack = wait_for_ack(consumer, request.command_id, args.wait)
    finally:
        producer.close()
        if consumer is not None:
            consumer.close()
    if ack is None:
        print(f"command {request.command_id}: no acknowledgement within {args.wait:g} s", file=sys.stderr)
        return 1
    print(f"command {request.command_id} {ack.status}: applied to {ack.applied}"
          + (f" ({ack.detail})" if ack.detail else ""))
    return 0 if ack.status == "done" else 1
