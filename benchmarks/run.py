"""Run the benchmarks and write their Markdown table.

    python -m benchmarks.run [--smoke] [--only a,c] [--output FILE.md]

From the repository root, in an environment with ptyrax-core, every first-party plugin and
PyWavelets installed (jaxwt too, for its comparison): `tox run -e bench` makes one and writes
the table into docs/performance.md; `tox run -e bench-smoke` runs everything on tiny sizes.
`--smoke` checks that every benchmark runs and that both sides compute the same thing; its
timings mean nothing and no target is judged. The table goes to stdout, and with `--output`
into that file, between the markers of an earlier table if the file has them (the rest of the
file is kept); `--block NAME` writes a named block instead (the quality study, `--only l
--block quality`, keeps its own in docs/performance.md).
"""

import argparse
import importlib
import os
import shlex
import sys
import time

from . import _report, _timing

BENCHMARKS = {
    "a": "step",
    "b": "many",
    "c": "wavelet",
    "d": "phase_only",
    "e": "startup",
    "f": "reconstruct",
    "g": "probes",
    "h": "multislice",
    "i": "distributed",
    "j": "penalties",
    "k": "electron",
    "l": "quality",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, few pairs, no judging")
    parser.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help="comma-separated letters of the benchmarks to run (default: all): "
        + ", ".join(f"{k} ({v})" for k, v in BENCHMARKS.items()),
    )
    parser.add_argument("--output", help="Markdown file to write the table into")
    parser.add_argument(
        "--block",
        default="",
        help="the named block of --output to rewrite (default: the main one); the quality "
        "study (l) keeps its own: --block quality",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when a target is missed"
    )
    parser.add_argument("--note", help="a line about this run for the table (what was measured)")
    args = parser.parse_args(argv)
    letters = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = [x for x in letters if x not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    mode = "smoke" if args.smoke else "full"

    start = time.perf_counter()
    _timing.host_devices()
    environment = _timing.environment()
    if args.note:
        environment["note"] = args.note
    rows: list[_report.Row] = []
    for letter in letters:
        name = BENCHMARKS[letter]
        print(f"[{letter}] {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        module = importlib.import_module(f"{__package__}.{name}")
        new = module.run(mode)
        rows.extend(new)
        print(_report.table(new), file=sys.stderr)
        print(f"[{letter}] {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    if hasattr(os, "getloadavg"):
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        environment["load average at end (1, 5, 15 min)"] = load

    command = "python -m benchmarks.run " + shlex.join(a for a in (argv or sys.argv[1:]))
    seconds = time.perf_counter() - start
    block = _report.markdown(rows, environment, command.strip(), seconds, args.block)
    print(block)
    if args.output:
        _report.write(args.output, block, args.block)
    missed = [r for r in rows if r.met is False]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
