"""Where a test run's time went, by module: the per-test durations of ``pytest --durations=0``, summed.

    python -m pytest --durations=0 ... > before.log      # on one tree
    python -m pytest --durations=0 ... > after.log       # on the other, under the same load if possible
    python bench/durations_by_module.py before.log after.log

Prints, for each test module, the seconds its tests spent in setup, call and teardown (a module's share
of a session fixture counts where the fixture was set up), one column per log, and the totals. On a
busy machine absolute seconds move with the load; the split between modules, and two runs made side
by side, still compare. A module that a log does not mention (not run, or interrupted) shows ``-``.
This is a measurement, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s (setup|call|teardown)\s+(\S+?)::")


def seconds_by_module(log: Path) -> dict[str, float]:
    """The summed durations in ``log``'s ``slowest durations`` lines, by module path."""
    sums: dict[str, float] = defaultdict(float)
    for line in log.read_text(errors="replace").splitlines():
        if found := DURATION.match(line):
            sums[found[3]] += float(found[1])
    return dict(sums)


def table(logs: list[Path]) -> list[str]:
    """One row per module (the slowest first, by the first log), then the totals."""
    columns = [seconds_by_module(log) for log in logs]
    modules = sorted({module for column in columns for module in column}, key=lambda m: -columns[0].get(m, 0.0))
    width = max([len(module) for module in modules] + [len("total")])
    rows = [f"{'module':<{width}}" + "".join(f"{log.name[-12:]:>14}" for log in logs)]
    for module in modules:
        cells = "".join(f"{column[module]:>14.1f}" if module in column else f"{'-':>14}" for column in columns)
        rows.append(f"{module:<{width}}{cells}")
    rows.append(f"{'total':<{width}}" + "".join(f"{sum(column.values()):>14.1f}" for column in columns))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+", type=Path, help="outputs of pytest --durations=0")
    print("\n".join(table(parser.parse_args().logs)))


if __name__ == "__main__":
    main()
