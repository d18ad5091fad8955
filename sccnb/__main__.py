"""``python -m sccnb ...``: see :mod:`sccnb.cli`."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
