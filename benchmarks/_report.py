"""Rows of results, and the Markdown they become."""

import dataclasses
import re

from ._timing import Paired, format_ratio, ms


def markers(name: str = "") -> tuple[str, str]:
    """The lines around the block named `name` ("" the main one; a page may hold several,
    such as the quality study's, each rewritten by its own run)."""
    label = f" ({name})" if name else ""
    written = "written by `python -m benchmarks.run`; do not edit"
    return (
        f"<!-- BEGIN benchmarks output{label}: {written} -->",
        f"<!-- END benchmarks output{label} -->",
    )


@dataclasses.dataclass(frozen=True)
class Row:
    """One comparison.

    Attributes:
        benchmark: the issue's letter and a short title, such as "a. ptychography step".
        case: what was compared (sizes, options).
        ptyrax: the ptyrax side's median (a time, an op count, ...).
        reference: the other side's median.
        result: the paired result: a median ratio with its interquartile range, a difference.
        target: the target, or "" where none is set.
        met: whether the target is met; None where none is set, or not judged (smoke run).
        note: what a reader needs to know: a design change behind the number, an error.
    """

    benchmark: str
    case: str
    ptyrax: str
    reference: str
    result: str
    target: str = ""
    met: bool | None = None
    note: str = ""


def same_program_and_time(
    title: str,
    case: str,
    ops: tuple[bool, str],
    paired: Paired,
    target: float,
    judged: bool,
    note: str,
) -> list[Row]:
    """The two rows of a comparison of steps that should compile to the same program: the
    op histograms (`compare_ops`'s result) and the paired step times."""
    same, text = ops
    return [
        Row(
            title,
            case + ": compiled program",
            "",
            "",
            text,
            "same program",
            same if judged else None,
            "op histograms of the optimized HLO",
        ),
        Row(
            title,
            case + ": step time",
            ms(paired.a_median),
            ms(paired.b_median),
            format_ratio(paired),
            f"<= {target}",
            paired.ratio <= target if judged else None,
            note,
        ),
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(rows: list[Row]) -> str:
    lines = [
        "| benchmark | case | ptyrax | reference | result (median [IQR]) | target | met | note |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        met = {True: "yes", False: "**no**", None: ""}[r.met]
        cells = (r.benchmark, r.case, r.ptyrax, r.reference, r.result, r.target, met, r.note)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def markdown(
    rows: list[Row], environment: dict[str, str], command: str, seconds: float, name: str = ""
) -> str:
    """The block named `name` that `--output` writes: how it was made, on what, and the table."""
    begin, end = markers(name)
    judged = [r for r in rows if r.met is not None]
    missed = [r for r in judged if not r.met]
    summary = (
        f"{len(judged) - len(missed)} of {len(judged)} targets met"
        if judged
        else "targets not judged (smoke run: tiny sizes)"
    )
    env = "\n".join(f"| {_cell(k)} | {_cell(v)} |" for k, v in environment.items())
    return "\n".join(
        [
            begin,
            "",
            f"Command: `{command}` ({seconds:.0f} s). {summary}.",
            "",
            "| run | |",
            "| --- | --- |",
            env,
            "",
            table(rows),
            "",
            end,
        ]
    )


def write(path: str, block: str, name: str = "") -> None:
    """Write `block` to `path`, replacing an earlier block between the markers of `name` if
    the file has one (the rest of the file is kept), else replacing the file."""
    begin, end = markers(name)
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        old = ""
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.DOTALL)
    if pattern.search(old):
        new = pattern.sub(lambda _: block, old, count=1)
    else:
        new = block + "\n"
    with open(path, "w") as f:
        f.write(new)
