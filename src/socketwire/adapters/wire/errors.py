"""The one error the inter-node codecs raise."""

from __future__ import annotations

__all__ = ["WireError"]


class WireError(ValueError):
    """An inter-node message is malformed, of an unknown type, or cannot be encoded.

    A receiving adapter must drop the message (and may log it), as the Node adapters do with
    ``debug("ignoring malformed request")``: one bad message never stops the node.
    """
