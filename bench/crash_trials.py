"""Crash safety, many times over: SIGKILL the ingestion at random points, rerun, compare.

    python bench/crash_trials.py --trials 100 [--seed N]

Prints how many kills landed mid-run and whether every rerun equalled an uninterrupted run.
"""
import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.crash_harness import build_inbox, ingest, killed_at_random, log_state, timed  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rnd = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="carnet-crash-") as tmp:
        root = Path(tmp) / "reference"
        build_inbox(root / "inbox")
        seconds = timed("ingest", root)
        expected = log_state(root)
        landed = failures = 0
        started = time.perf_counter()
        for trial in range(args.trials):
            home = Path(tmp) / f"trial{trial}"
            shutil.copytree(root / "inbox", home / "inbox")
            for _ in range(rnd.choice((1, 1, 2, 3))):
                landed += killed_at_random("ingest", home, seconds, rnd)
            ingest(home)
            if log_state(home) != expected:
                failures += 1
                print(f"trial {trial}: the log differs from an uninterrupted run", flush=True)
            shutil.rmtree(home)
        print(f"{args.trials} trials, {landed} kills landed mid-ingestion (an uninterrupted run takes "
              f"{seconds:.2f}s), {failures} differing logs, {time.perf_counter() - started:.0f}s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
