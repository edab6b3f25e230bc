"""Apply loader results to a store: the `load` write command (`graph.commands.load`).

Kept as the loaders' name for it; the command itself lives with the other write commands
so that the CLI, the demo and any future API verb share one door.
"""

from __future__ import annotations

from graph.commands.load import ImportSummary, load, merge, plan

__all__ = ["ImportSummary", "import_result", "merge", "plan"]

import_result = load
