"""``socketwire serve --workers N``: worker processes sharing one port, one cluster.

- `.primary`: the supervising process (starts, restarts and stops the workers);
- `.hub`: the primary's relay of the workers' cluster messages;
- `.worker`: one worker's life.

The worker side of the cluster is `socketwire.adapters.workers`; the connection
handoff between workers is `socketwire.io.handoff`. See the "Deploying" section of
the clusters topic.
"""

from __future__ import annotations

__all__: list[str] = []
