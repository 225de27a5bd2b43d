"""`make faults`: the crash and storage-outage scenarios at a larger scale, with a summary table.

    python -m tests.reliability.faults                 # 5,000 requests per scenario
    python -m tests.reliability.faults --requests 500 --seed 7

Exit status 0 when no request was lost and no result duplicated, else 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tests.reliability.scenarios import Report, crash_scenario, format_table, outage_scenario, rig


def main(argv: Sequence[str] | None = None) -> int:
    """Run both scenarios and print the table."""
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.faults", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, metavar="N", help="requests per scenario (default 5000)")
    parser.add_argument("--kills", type=int, default=3, metavar="K", help="SIGKILLs in the crash scenario (default 3)")
    parser.add_argument("--outage", type=float, default=10.0, metavar="S", help="seconds Azurite stays down")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random, printed)")
    parser.add_argument("--only", choices=("crash", "outage"), default=None, help="run one scenario")
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= 100_000:
        parser.error("--requests must be from 1 to 100000")
    timeout = max(600.0, args.requests * 0.5)
    reports: list[Report] = []
    if args.only in (None, "crash"):
        with rig(log=sys.stderr) as crash_rig:
            reports.append(crash_scenario(crash_rig, args.requests, args.kills, args.seed, timeout))
    if args.only in (None, "outage"):
        with rig(log=sys.stderr) as outage_rig:
            reports.append(outage_scenario(outage_rig, args.requests, args.outage, args.seed, timeout))
    print(format_table(reports))
    failed = [r for r in reports if r.lost or r.duplicated_results or r.wrong_output or r.queue_left or r.poisoned]
    for report in failed:
        print(
            f"FAILED {report.scenario}: lost {report.lost}, duplicated {report.duplicated_results}, wrong outputs "
            f"{report.wrong_output}, left on queue {report.queue_left}, poisoned {report.poisoned}",
            file=sys.stderr,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
