"""Typed events: handler signatures, payload validation (pydantic), the event contract.

``signature`` reads a handler's signature once and decides how it is called; ``payloads``
validates and serialises with pydantic (the optional ``pydantic`` extra); ``contract``
describes a server's events, from which ``asyncapi`` and ``typescript`` write an AsyncAPI
document and TypeScript event maps. Nothing here imports pydantic until it is used.
"""
