"""bench/compare.py's figures: one run's numbers, their medians, issue 19's targets
checked against them, and the table and chart that show them."""

from __future__ import annotations

import dataclasses
import re
import statistics
from collections.abc import Mapping
from pathlib import Path

TARGETS = ("rotor", "OpenBao", "moto", "hello")
WRITE_P99_MS = 50.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class Run:
    """One wrk run's figures, or the medians of several."""

    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float


def to_ms(text: str) -> float:
    """wrk's latency (``812.00us``, ``1.25ms``, ``2.01s``, ``1.00m``) in milliseconds."""
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if found is None:
        raise ValueError(f"not a wrk latency: {text!r}")
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}[found.group(2)]
    return float(found.group(1)) * scale


def median_run(runs: list[Run]) -> Run:
    return Run(
        rps=statistics.median(r.rps for r in runs),
        p50_ms=statistics.median(r.p50_ms for r in runs),
        p99_ms=statistics.median(r.p99_ms for r in runs),
        cpu_us=statistics.median(r.cpu_us for r in runs),
    )


def verdicts(medians: Mapping[str, Mapping[str, Run]]) -> list[tuple[str, bool]]:
    """Issue 19's targets, each with whether the medians meet it."""
    read, write = medians["read"], medians["write"]
    return [
        ("read rps >= 2x OpenBao", read["rotor"].rps >= 2 * read["OpenBao"].rps),
        ("read p99 <= OpenBao's", read["rotor"].p99_ms <= read["OpenBao"].p99_ms),
        ("read rps >= 50% of hello", read["rotor"].rps >= 0.5 * read["hello"].rps),
        ("write rps >= 1x OpenBao", write["rotor"].rps >= write["OpenBao"].rps),
        (f"write p99 <= {WRITE_P99_MS:.0f} ms", write["rotor"].p99_ms <= WRITE_P99_MS),
    ]


# -- reporting -------------------------------------------------------------------------


def table(medians: Mapping[str, Mapping[str, Run]]) -> str:
    lines = [
        f"{'path':<6} {'target':<8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'CPU/req':>10} {'vs OpenBao':>10}"
    ]
    for path, by_target in medians.items():
        bao = by_target["OpenBao"].rps
        for name, run in by_target.items():
            lines.append(
                f"{path:<6} {name:<8} {run.rps:>8.0f} {run.p50_ms:>8.2f} {run.p99_ms:>8.2f} "
                f"{run.cpu_us:>7.0f} µs {run.rps / bao:>9.2f}x"
            )
    return "\n".join(lines)


def chart(medians: Mapping[str, Mapping[str, Run]], title: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    width = 0.8 / len(TARGETS)
    for i, name in enumerate(TARGETS):
        for ax, field in zip(axes, ("rps", "p99_ms"), strict=True):
            xs = [p for p, path in enumerate(medians) if name in medians[path]]
            ys = [getattr(medians[path][name], field) for path in medians if name in medians[path]]
            ax.bar([x + i * width for x in xs], ys, width, label=name)
    for ax, label in zip(
        axes, ("requests/s (higher is better)", "p99 ms (lower is better)"), strict=True
    ):
        ax.set_xticks([p + 0.4 - width / 2 for p in range(len(medians))], list(medians))
        ax.set_ylabel(label)
        ax.legend()
    axes[1].axhline(WRITE_P99_MS, color="grey", linestyle="--", linewidth=0.8)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
