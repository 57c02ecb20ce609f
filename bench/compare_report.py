"""bench/compare.py's figures: one run's numbers, their medians, issue 19's targets
checked against them (each with the figures it was judged on), and the table and chart
that show them."""

from __future__ import annotations

import dataclasses
import re
import statistics
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TARGETS = ("rotor", "rotor-pg", "OpenBao", "moto", "hello")
READS = ("read", "hmac", "kms", "aws")
WRITE_P99_MS = 50.0
#: (label, met, the figures it was judged on)
Verdict = tuple[str, bool, str]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Run:
    """One wrk run's figures, or the medians of several."""

    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    failures: int = 0


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
        failures=sum(r.failures for r in runs),
    )


def _at_least(label: str, got: float, floor: float, unit: str) -> Verdict:
    ratio = got / floor if floor else float("inf")
    return label, got >= floor, f"{got:,.1f} vs {floor:,.1f} {unit} ({ratio:.2f}x)"


def _at_most(label: str, got: float, ceiling: float, unit: str) -> Verdict:
    return label, got <= ceiling, f"{got:,.2f} vs {ceiling:,.2f} {unit}"


def verdicts(medians: Mapping[str, Mapping[str, Run]], report: Mapping[str, Any]) -> list[Verdict]:
    """Every one of issue 19's targets that this run measured, met or not."""
    out: list[Verdict] = []
    bao_read, bao_write = medians["read"]["OpenBao"], medians["write"]["OpenBao"]
    hello = medians["read"]["hello"]
    stores = [n for n in medians["read"] if n.startswith("rotor")]
    for store in stores:
        for path in READS:
            run = medians[path][store]
            if store == "rotor":
                out += [
                    _at_least(
                        f"{store} {path} rps >= 2x OpenBao", run.rps, 2 * bao_read.rps, "rps"
                    ),
                    _at_most(f"{store} {path} p99 <= OpenBao's", run.p99_ms, bao_read.p99_ms, "ms"),
                    _at_least(f"{store} {path} rps >= 50% of hello", run.rps, hello.rps / 2, "rps"),
                ]
            else:
                out.append(
                    _at_least(f"{store} {path} rps >= 1x OpenBao", run.rps, bao_read.rps, "rps")
                )
        write = medians["write"][store]
        out += [
            _at_least(f"{store} write rps >= 1x OpenBao", write.rps, bao_write.rps, "rps"),
            _at_most(
                f"{store} write p99 <= {WRITE_P99_MS:.0f} ms", write.p99_ms, WRITE_P99_MS, "ms"
            ),
        ]
    rotations = report["rotations"]
    bao = rotations["single_user"]["OpenBao"]
    floor = rotations["floor"]["new_connections_ms"]
    for store in stores:
        for clients, got in rotations["single_user"][store].items():
            label = f"{store} mysql-single-user, {clients} client(s), >= 1x OpenBao rotate-role"
            out.append(_at_least(label, got["rate"], bao[clients]["rate"], "/s"))
        alternating = rotations["alternating"][store]["p50_ms"]
        label = f"{store} mysql-alternating server p50 <= 2x its SQL floor"
        out.append(_at_most(label, alternating, 2 * floor, "ms"))
        burst = rotations["burst"][store]
        label = f"{store} burst of {burst['rotations']} due at once >= 200/s"
        met = _at_least(label, burst["rate"], 200.0, "/s")
        if burst["unfinished"]:
            met = (label, False, f"{met[2]}, {burst['unfinished']} never finished")
        out.append(met)
        label = f"{store} read p99 during the burst <= 2x idle"
        out.append(_at_most(label, burst["worst_p99_ms"], 2 * burst["idle_p99_ms"], "ms"))
    client = report["client"]
    out += [
        _at_most("SecretCache get_value hit <= 1 µs", client["cache_get_value_us"], 1.0, "µs"),
        _at_most("SecretCache get_json hit <= 2 µs", client["cache_get_json_us"], 2.0, "µs"),
        _at_most(
            "Client.get_value <= 1.3x http.client",
            client["client_get_value_us"],
            1.3 * client["http_client_us"],
            "µs",
        ),
    ]
    if scale := report.get("scale"):
        (small, at_small), (large, at_large) = scale.items()
        label = f"read p50 with {int(large):,} secrets <= 1.2x with {small}"
        out.append(_at_most(label, at_large["read_p50_ms"], 1.2 * at_small["read_p50_ms"], "ms"))
        label = f"list page with {int(large):,} secrets <= 20 ms"
        out.append(_at_most(label, at_large["list_page_ms"], 20.0, "ms"))
    return out


# -- reporting -------------------------------------------------------------------------


def table(medians: Mapping[str, Mapping[str, Run]]) -> str:
    lines = [
        f"{'path':<6} {'target':<9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'CPU/req':>10} {'failed':>6} {'vs OpenBao':>10}"
    ]
    for path, by_target in medians.items():
        bao = medians["write" if path == "write" else "read"]["OpenBao"].rps
        for name, run in by_target.items():
            lines.append(
                f"{path:<6} {name:<9} {run.rps:>8.0f} {run.p50_ms:>8.2f} {run.p99_ms:>8.2f} "
                f"{run.cpu_us:>7.0f} µs {run.failures:>6} {run.rps / bao:>9.2f}x"
            )
    return "\n".join(lines)


def print_report(
    medians: Mapping[str, Mapping[str, Run]],
    results: list[Verdict],
    report: Mapping[str, Any],
    load_before: float,
    load_after: float,
) -> None:
    print()
    print(table(medians))
    for path in READS[1:]:
        if "hello" in medians[path] and "rotor" in medians[path]:
            ceiling = medians[path]["hello"].rps / max(medians[path]["rotor"].rps, 1)
            print(f"wrk sends pre-signed {path} reads to hello at {ceiling:.1f}x rotor's rate")
    if report.get("moto_refusals"):
        print(f"moto's failures (its log): {report['moto_refusals']}")
    rotations = report["rotations"]
    print()
    for store, by_clients in rotations["single_user"].items():
        for clients, got in by_clients.items():
            print(
                f"mysql-single-user {store:<8} {clients} client(s): {got['rate']:7.1f}/s, "
                f"p50 {got['p50_ms']:7.2f} ms"
            )
    floor = rotations["floor"]
    print(
        f"SQL floor: ALTER USER {floor['alter_open_ms']:.2f} ms on an open connection, "
        f"{floor['new_connections_ms']:.2f} ms with new connections and a login"
    )
    for store, got in rotations["alternating"].items():
        print(
            f"mysql-alternating {store:<8}: {got['rate']:.1f}/s, server p50 {got['p50_ms']:.2f} ms"
        )
    for store, got in rotations["burst"].items():
        print(
            f"burst {store:<8}: {got['rotations']} in {got['seconds']:.1f} s, {got['rate']:.0f}/s; "
            f"read p99 idle {got['idle_p99_ms']:.1f} ms, during {got['burst_p99_ms']} ms"
        )
    client = report["client"]
    print(
        f"client: SecretCache get_value {client['cache_get_value_us']:.2f} µs, get_json "
        f"{client['cache_get_json_us']:.2f} µs; Client.get_value {client['client_get_value_us']:.0f}"
        f" µs vs http.client {client['http_client_us']:.0f} µs"
    )
    for size, got in report.get("scale", {}).items():
        print(
            f"scale {int(size):>7,} secrets: read p50 {got['read_p50_ms']:.2f} ms, "
            f"list page {got['list_page_ms']:.1f} ms"
        )
    print()
    for label, ok, figures in results:
        print(f"{'PASS' if ok else 'FAIL'}  {label}: {figures}")
    print()
    print(f"{'':<24} {'idle RSS':>10} {'start-up':>10}")
    for name, label in (("rotor", "rotor (1 worker)"), ("OpenBao", "OpenBao (dev)")):
        size = report["footprint"][name]
        print(
            f"{label:<24} {size['idle_rss_bytes'] / 2**20:>6.0f} MiB "
            f"{size['startup_seconds']:>8.2f} s"
        )
    print(
        "moto's requests are not signed per request (moto checks no signature). "
        f"Load average {load_before:.2f} before, {load_after:.2f} after: "
        "on a busy machine read the ratios and CPU/req, not the rates."
    )


def chart(
    medians: Mapping[str, Mapping[str, Run]], report: Mapping[str, Any], title: str, out: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 2, figsize=(13, 9))
    width = 0.8 / len(TARGETS)
    for i, name in enumerate(TARGETS):
        for ax, field in zip(axes[0], ("rps", "p99_ms"), strict=True):
            xs = [p for p, path in enumerate(medians) if name in medians[path]]
            ys = [getattr(medians[path][name], field) for path in medians if name in medians[path]]
            ax.bar([x + i * width for x in xs], ys, width, label=name)
    for ax, label in zip(
        axes[0], ("requests/s (higher is better)", "p99 ms (lower is better, log)"), strict=True
    ):
        ax.set_xticks([p + 0.4 - width / 2 for p in range(len(medians))], list(medians))
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    axes[0][1].set_yscale("log")
    axes[0][1].axhline(WRITE_P99_MS, color="grey", linestyle="--", linewidth=0.8)

    rotations = report["rotations"]
    single = rotations["single_user"]
    for i, (name, by_clients) in enumerate(single.items()):
        xs = [c + i * 0.25 for c in range(len(by_clients))]
        axes[1][0].bar(xs, [got["rate"] for got in by_clients.values()], 0.25, label=name)
    axes[1][0].set_xticks([c + 0.25 for c in range(2)], ["1 client", "8 clients"])
    axes[1][0].set_ylabel("mysql-single-user rotations/s (log)")
    axes[1][0].set_yscale("log")
    axes[1][0].legend(fontsize=8)

    burst = rotations["burst"]
    names = list(burst)
    axes[1][1].bar(
        [i - 0.2 for i in range(len(names))],
        [burst[n]["idle_p99_ms"] for n in names],
        0.4,
        label="idle",
    )
    axes[1][1].bar(
        [i + 0.2 for i in range(len(names))],
        [burst[n]["worst_p99_ms"] for n in names],
        0.4,
        label="during the burst",
    )
    axes[1][1].set_xticks(
        range(len(names)), [f"{n}: {burst[n]['rate']:.0f} rotations/s" for n in names]
    )
    axes[1][1].set_ylabel("bearer read p99 ms")
    axes[1][1].legend(fontsize=8)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
