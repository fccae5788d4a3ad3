"""Session ids that name their owner, so that any process can find it without asking.

A session id is 20 URL-safe characters, as JS ``base64id`` makes them (``@socket.io/
cluster-engine`` forwards only ids of that length). On a server that runs in several
processes or on several nodes, the first characters say who owns the session:

```
W NNNN RRRRRRRRRRRRRRR
| |    random (15 characters, 90 bits)
| the node's tag (4 characters, random per node)
the worker's index on that node (one character of the alphabet below)
```

A process reads the owner of any request's session from its ``sid`` parameter alone
(`worker_of()`, `node_of()`, and both at once, the owner's id, `owner_of()`): a
worker hands the request to a sibling (`socketwire.io.handoff`), a node forwards it
to another node through the cluster (`socketwire.io.forwarding`). A single server in
no cluster uses 20 random characters, as before; an id it did not make names some owner,
who answers "Session ID unknown" as any server would.
"""

from __future__ import annotations

import secrets
from typing import Final

__all__ = [
    "ALPHABET",
    "MAX_WORKERS",
    "NODE_TAG_LENGTH",
    "OWNER_LENGTH",
    "SID_LENGTH",
    "is_owner",
    "new_node_tag",
    "new_sid",
    "node_of",
    "owner_of",
    "owner_prefix",
    "worker_of",
]

#: The characters of ``secrets.token_urlsafe`` (base64url), in the order that numbers
#: workers.
ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
SID_LENGTH: Final = 20
NODE_TAG_LENGTH: Final = 4
#: An owner's id: its worker's character and its node's tag (`owner_prefix()`).
OWNER_LENGTH: Final = 1 + NODE_TAG_LENGTH
#: One character numbers the workers of a node.
MAX_WORKERS: Final = len(ALPHABET)
_INDEX: Final = {char: i for i, char in enumerate(ALPHABET)}


def new_node_tag() -> str:
    """A random node tag (4 characters of `ALPHABET`)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(NODE_TAG_LENGTH))


def owner_prefix(worker: int, node: str) -> str:
    """The prefix of the session ids that worker ``worker`` of node ``node`` makes.

    Raises:
        ValueError: ``worker`` is not in ``[0, MAX_WORKERS)`` or ``node`` is not a tag.
    """
    if not 0 <= worker < MAX_WORKERS:
        raise ValueError(f"a node has at most {MAX_WORKERS} workers, not worker {worker}")
    if len(node) != NODE_TAG_LENGTH or any(char not in _INDEX for char in node):
        raise ValueError(f"not a node tag: {node!r}")
    return ALPHABET[worker] + node


def new_sid(prefix: str = "") -> str:
    """A new session id: ``prefix`` (see `owner_prefix()`) then random characters, 20
    in all (20 random ones without a prefix, as JS ``base64id``)."""
    if not prefix:
        return secrets.token_urlsafe(15)
    return prefix + secrets.token_urlsafe(12)[: SID_LENGTH - len(prefix)]


def worker_of(sid: str) -> int | None:
    """The index of the worker that made ``sid`` (None when it cannot be one of ours)."""
    if len(sid) != SID_LENGTH:
        return None
    return _INDEX.get(sid[0])


def node_of(sid: str) -> str | None:
    """The tag of the node that made ``sid`` (None when it cannot be one of ours)."""
    if len(sid) != SID_LENGTH:
        return None
    return sid[1 : 1 + NODE_TAG_LENGTH]


def owner_of(sid: str) -> str | None:
    """The id of the process that made ``sid`` (its first `OWNER_LENGTH` characters, as
    `owner_prefix()` made them), or None when ``sid`` cannot be one of ours."""
    if len(sid) != SID_LENGTH:
        return None
    owner = sid[:OWNER_LENGTH]
    return owner if is_owner(owner) else None


def is_owner(text: str) -> bool:
    """Whether ``text`` is an owner's id (what `owner_prefix()` returns)."""
    return len(text) == OWNER_LENGTH and all(char in _INDEX for char in text)
