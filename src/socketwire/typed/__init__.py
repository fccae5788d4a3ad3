"""Typed events: handler signatures, payload validation (pydantic), the event contract.

:mod:`~socketwire.typed.signature` reads a handler's signature once and decides how it is
called; :mod:`~socketwire.typed.payloads` validates and serialises with pydantic (the
optional ``pydantic`` extra); :mod:`~socketwire.typed.contract` describes a server's events,
from which :mod:`~socketwire.typed.asyncapi` and :mod:`~socketwire.typed.typescript` write an
AsyncAPI document and TypeScript event maps. Nothing here imports pydantic until it is used.
"""
