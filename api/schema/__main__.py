"""``python -m api.schema [--check] [PATH]``: write the SDL (default: schema.graphql at the repo root).

With ``--check``, write nothing and exit 1 when the file differs from the schema.
"""

from __future__ import annotations

import sys
from pathlib import Path

from api.schema import SCHEMA_FILE, schema


def main(argv: list[str]) -> int:
    """Export or check the SDL; return the exit status."""
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"]
    path = Path(paths[0]) if paths else SCHEMA_FILE
    sdl = schema.as_str() + "\n"
    if check:
        same = path.exists() and path.read_text(encoding="utf-8") == sdl
        print(f"{path}: {'up to date' if same else 'differs from the schema; run python -m api.schema'}")
        return 0 if same else 1
    path.write_text(sdl, encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
