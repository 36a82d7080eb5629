"""Who a database session acts for: a signed-in user, or the server operator at the CLI.

Each surface names its actor once, when it opens a session (the web's session dependency, the
CLI's AppContext); the core reads it from the session wherever it records who did something
(the audit trail, the review flow), so no domain function takes it as an argument.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass

from sqlmodel import Session

from cocon.rights import Right, Role, may

ACTOR_KEY = "cocon_actor"


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (with role and org) or the operator (every right, the whole tree)."""

    name: str
    user_id: int | None = None
    role: Role | None = None
    org_id: int | None = None

    @property
    def is_operator(self) -> bool:
        """Tell whether this is the server operator (the CLI), who holds every right."""
        return self.user_id is None

    def may(self, right: Right) -> bool:
        """Tell whether the actor holds a right."""
        return self.is_operator or may(self.role, right)


def operator() -> Actor:
    """Return the server operator running the CLI, named after the system user."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        user = "unknown"
    return Actor(f"cli:{user}")


SYSTEM = Actor("system")


def act_as(session: Session, actor: Actor) -> Session:
    """Name the actor of everything written through session."""
    session.info[ACTOR_KEY] = actor
    return session


def actor_of(session: Session) -> Actor:
    """Return who session acts for (the system, for sessions no surface named)."""
    actor = session.info.get(ACTOR_KEY)
    return actor if isinstance(actor, Actor) else SYSTEM
