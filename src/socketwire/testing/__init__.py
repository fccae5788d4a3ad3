"""Test helpers for applications built on socketwire.

[`TestClient`][TestClient] is the real client (``socketwire.AsyncClient``) connected to a
[`Server`][socketwire.Server] in memory, through the server's real connection path, for fast
tests with no network:

```python
from socketwire.testing import TestClient

async def test_echo() -> None:
    async with TestClient(sio) as client:
        assert await client.emit_with_ack("echo", "hi") == "hi"
```
"""

from __future__ import annotations

from socketwire.testing.client import TestClient
from socketwire.testing.memory import MemoryChannel, MemoryRequest, MemoryWebSocket
from socketwire.testing.socket import DEFAULT_TIMEOUT, ReceivedEvent, TestSocket

__all__ = [
    "DEFAULT_TIMEOUT",
    "MemoryChannel",
    "MemoryRequest",
    "MemoryWebSocket",
    "ReceivedEvent",
    "TestClient",
    "TestSocket",
]
