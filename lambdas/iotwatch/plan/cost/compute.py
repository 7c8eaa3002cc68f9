"""Lambda's line items (requests, compute per function, and X-Ray's trace per invocation), and
the duration warnings: whether a run of this plan would come near its duration alarm."""

from __future__ import annotations

from iotwatch.plan.cost.assumptions import Assumptions
from iotwatch.plan.cost.deployment import (
    AUDIT,
    BAND_WIDGET,
    BASELINE_BUILDER,
    BENCH_POINTS_PER_SERIES,
    DURATION_ALARM_FRACTION,
    EVALUATOR,
    FunctionSize,
)
from iotwatch.plan.cost.items import LineItem, count_text, priced
from iotwatch.plan.cost.prices import FreeTier, Prices
from iotwatch.plan.cost.workload import Workload


def deployed_functions(w: Workload) -> list[FunctionSize]:
    return [
        EVALUATOR,
        BASELINE_BUILDER,
        *([AUDIT] if w.audit else []),
        *([BAND_WIDGET] if w.dashboard else []),
    ]


def _evaluator_seconds_per_tick(w: Workload, a: Assumptions) -> float:
    return a.evaluator_base_seconds * (1 + w.shard_evals) + w.n * a.evaluator_ms_per_series / 1000


def _builder_seconds_per_build(w: Workload, a: Assumptions) -> float:
    return (
        a.builder_base_seconds * (1 + w.shard_builds)
        + w.builder_calls * a.builder_seconds_per_call
        + w.points / BENCH_POINTS_PER_SERIES * a.builder_ms_per_series / 1000
    )


def invocations_of(w: Workload) -> dict[str, float]:
    """Invocations a month, per function."""
    return {
        EVALUATOR.name: w.evaluator_invocations,
        BASELINE_BUILDER.name: w.builder_invocations,
        AUDIT.name: w.events,
        BAND_WIDGET.name: w.draws,
    }


def total_invocations(w: Workload) -> float:
    invocations = invocations_of(w)
    return sum(invocations[f.name] for f in deployed_functions(w))


def lambda_items(w: Workload, a: Assumptions, p: Prices, free: FreeTier) -> list[LineItem]:
    """Requests, then each function's GB-seconds (the free allowance taken in that order)."""
    functions = deployed_functions(w)
    invocations = invocations_of(w)
    total = total_invocations(w)
    items = [
        priced(
            "Lambda requests",
            total,
            "invocations",
            p.lambda_requests_per_million,
            1_000_000,
            " + ".join(f"{count_text(invocations[f.name])} {f.name}" for f in functions)
            + (f" (each tick: 1 + {w.shard_evals} shards)" if w.eval_fans_out else "")
            + (f" (each build: 1 + {w.shard_builds} shards)" if w.build_fans_out else ""),
            free_allowance=free.lambda_requests,
        )
    ]
    seconds, how = _seconds_of(w, a), _how_of(w, a)
    free_gbs = float(free.lambda_gb_seconds)
    for f in functions:
        gb_seconds = seconds[f.name] * f.memory_gb
        covered = min(gb_seconds, free_gbs)
        free_gbs -= covered
        items.append(
            LineItem(
                f"Lambda {f.name} compute",
                gb_seconds,
                "GB-s",
                p.lambda_arm_gb_second,
                1,
                gb_seconds * p.lambda_arm_gb_second,
                f"{how[f.name]} x {f.memory_mb} MB arm64",
                free_tier_usd=covered * p.lambda_arm_gb_second,
            )
        )
    return items


def _seconds_of(w: Workload, a: Assumptions) -> dict[str, float]:
    """Billed seconds a month, per function."""
    return {
        EVALUATOR.name: w.evaluations * _evaluator_seconds_per_tick(w, a),
        BASELINE_BUILDER.name: w.builds * _builder_seconds_per_build(w, a),
        AUDIT.name: w.events * a.audit_seconds_per_event,
        BAND_WIDGET.name: w.draws * a.band_widget_seconds_per_draw,
    }


def _how_of(w: Workload, a: Assumptions) -> dict[str, str]:
    """How each function's seconds were counted."""
    return {
        EVALUATOR.name: (
            f"{count_text(w.evaluations)} ticks x ({1 + w.shard_evals} invocation(s) x "
            f"{a.evaluator_base_seconds:g} s + {a.evaluator_ms_per_series:g} ms x {w.n} series)"
        ),
        BASELINE_BUILDER.name: (
            f"{count_text(w.builds)} builds x ({1 + w.shard_builds} invocation(s) x {a.builder_base_seconds:g} s + "
            f"{a.builder_seconds_per_call:g} s x {w.builder_calls} history call(s) + {a.builder_ms_per_series:g} ms "
            f"per {BENCH_POINTS_PER_SERIES:,} datapoints x {w.points:,} datapoints)"
        ),
        AUDIT.name: f"{w.events:,} events x {a.audit_seconds_per_event:g} s (mostly cold starts, as audit events are sparse)",
        BAND_WIDGET.name: f"{w.draws:,} draws x {a.band_widget_seconds_per_draw:g} s",
    }


def duration_warnings(w: Workload, a: Assumptions) -> list[str]:
    """The longest single invocation of the evaluator and the builder, against its duration alarm."""
    builder_work = _builder_seconds_per_build(w, a) - a.builder_base_seconds * (1 + w.shard_builds)
    longest = {
        EVALUATOR.name: a.evaluator_base_seconds + max(w.eval_shards) * a.evaluator_ms_per_series / 1000,
        BASELINE_BUILDER.name: a.builder_base_seconds + max(w.build_shards) / max(w.n, 1) * builder_work,
    }
    warnings = []
    for f in (EVALUATOR, BASELINE_BUILDER):
        limit = f.timeout_seconds * DURATION_ALARM_FRACTION
        if longest[f.name] >= limit:
            warnings.append(
                f"the {f.name} would run about {longest[f.name]:.0f} s, past its duration alarm "
                f"({limit:.0f} s of its {f.timeout_seconds} s timeout): lower its shard size or raise its "
                "memory or timeout in infra/"
            )
    return warnings


def xray_traces(w: Workload, p: Prices, free: FreeTier) -> LineItem:
    invocations = total_invocations(w)
    return priced(
        "X-Ray traces",
        invocations,
        "traces",
        p.xray_traces_per_million,
        1_000_000,
        "active tracing on every function, one trace per invocation",
        free_allowance=free.xray_traces,
    )
