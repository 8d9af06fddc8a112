"""Fault injection for tests: a switch, read from the environment, that makes a process die or fail at a named
point, so that tests can show a crash never leaves a table half written.

``SMSPARK_FAULTS`` holds ``;``-separated rules ``<action>:<point>@<substring>``: when code reaches
:func:`point` with that point name and a target containing the substring, the action runs:

* ``kill`` -- the process sends itself SIGKILL (no cleanup, no ``finally``, as the OOM killer or a lost node would);
* ``raise`` -- :class:`InjectedFault` is raised.

Points: ``table.staged`` (Spark finished writing a table's staging data), ``table.moved`` (its partitions moved to
their version directories, the commit not yet published). Production never sets the variable.
"""

from __future__ import annotations

import os
import signal

ENV = "SMSPARK_FAULTS"


class InjectedFault(RuntimeError):
    """A failure injected by ``SMSPARK_FAULTS`` (tests only)."""


def point(name: str, target: str) -> None:
    """Run the injected action for ``name`` if a rule matches ``target``; otherwise nothing."""
    rules = os.environ.get(ENV)
    if not rules:
        return
    for rule in rules.split(";"):
        action, _, rest = rule.partition(":")
        where, _, substring = rest.partition("@")
        if where == name and substring in target:
            if action == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise InjectedFault(f"injected fault at {name} for {target}")
