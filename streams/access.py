"""Roles and their rights: who may see and do what, in the live room and in a training session's room.

One table, read by every check: the dashboard's request guard and its callbacks, the remote-control
policy (`streams.commands`) and the command line. A right is a verb on a part of the room; a role
holds a set of rights, which differ between the live room (real equipment, real citizens) and a
training room (a replayed scenario, where trainees act and operators do not wander in).
"""

from __future__ import annotations

__all__ = [
    "RIGHTS",
    "ROLES",
    "allowed",
    "check_role",
    "pages_of",
    "rights_of",
]

ROLES = ("operator", "supervisor", "manager", "trainer", "trainee", "admin")

RIGHTS = (
    "room.view",        # the map, the alert queue, the asset panel, stream health
    "alert.act",        # acknowledge, assign, resolve, close alerts
    "command.send",     # dim, switch, flash: the remote control
    "command.confirm",  # be the second operator of a large or sensitive command
    "contacts.view",    # a citizen's contact details on a report
    "contract.view",    # the contract KPIs page
    "contract.export",  # the monthly report's PDF and spreadsheet
    "training.manage",  # the trainer page: sessions, recordings, debriefs
    "audit.view",       # the audit journal and its export
    "users.manage",     # add users, change roles and passwords
)

_EVERY = frozenset(RIGHTS)
_LIVE: dict[str, frozenset[str]] = {
    "operator": frozenset({"room.view", "alert.act", "command.send", "command.confirm", "contacts.view"}),
    "supervisor": frozenset({"room.view", "alert.act", "command.send", "command.confirm", "contacts.view",
                             "contract.view", "contract.export", "audit.view"}),
    "manager": frozenset({"room.view", "contract.view", "contract.export"}),
    "trainer": frozenset({"room.view", "training.manage"}),
    "trainee": frozenset(),  # trainees work in training rooms only
    "admin": _EVERY,
}
# in a training room the trainee is the operator; the contacts there are the scenario's, not citizens'
_TRAINING_ACTOR = frozenset({"room.view", "alert.act", "command.send", "command.confirm", "contacts.view"})
_TRAINING: dict[str, frozenset[str]] = {
    "operator": frozenset(),
    "supervisor": frozenset({"room.view"}),
    "manager": frozenset(),
    "trainer": _TRAINING_ACTOR | {"training.manage"},
    "trainee": _TRAINING_ACTOR,
    "admin": _EVERY,
}

# the pages of the live room and the right each needs
_PAGES = (("operator", "room.view"), ("manager", "contract.view"), ("trainer", "training.manage"),
          ("journal", "audit.view"))


def check_role(role: str) -> str:
    """The role if it is one of ROLES, else ValueError naming the valid ones."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    return role


def rights_of(role: str | None, namespace: str = "live") -> frozenset[str]:
    """The rights a role holds in a namespace's room (none for an unknown role)."""
    table = _LIVE if namespace == "live" else _TRAINING
    return table.get(role or "", frozenset())


def allowed(role: str | None, right: str, namespace: str = "live") -> bool:
    """Whether a role holds a right in a namespace's room."""
    if right not in _EVERY:
        raise ValueError(f"unknown right {right!r}")
    return right in rights_of(role, namespace)


def pages_of(role: str | None) -> list[str]:
    """The live room's pages a role may open, in menu order."""
    rights = rights_of(role)
    return [page for page, right in _PAGES if right in rights]
