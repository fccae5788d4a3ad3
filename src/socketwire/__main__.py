"""``python -m socketwire``: the same as the ``socketwire`` command."""

from socketwire.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
