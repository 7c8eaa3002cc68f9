"""`iotwatch plan cost [FILE]`: what the plan costs per month on AWS, item by item.

The figures come from `iotwatch.plan.cost` (every price and assumption is there); this
module reads the plan as `plan validate` does (same messages, exit code 2 on a bad file),
applies the volume options, counts the series the plan's "*" metrics discover (from the
deployed stack's table with `--stack`/`--table`, or `--expected-series N`) and prints a
table, or JSON with `--json`.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from dataclasses import asdict, replace
from typing import Any, TextIO

from iotwatch.domain.series import Series
from iotwatch.plan.cost.assumptions import Assumptions
from iotwatch.plan.cost.estimate import estimate_cost
from iotwatch.plan.cost.items import CostEstimate, LineItem, per_added_metric
from iotwatch.plan.cost.prices import PRICING_REGION
from iotwatch.plan.cost.workload import expected_discovered
from iotwatch.plan.expand import expand_series, expand_templates
from iotwatch.plan.loader import DEFAULT_PLAN_FILE
from iotwatch.plan.model.plan import Plan

from iotwatch_cli.errors import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK
from iotwatch_cli.plan_file import read_checked_plan

SCALE_FACTOR = 10
WIDTH = 110


def money(value: float) -> str:
    """Dollars to the cent; a positive amount under a cent shows as <0.01, not as zero."""
    if 0 < value < 0.005:
        return "<0.01"
    return f"{value:,.2f}"


def quantity(value: float) -> str:
    if abs(value - round(value)) < 1e-9 or value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:,.2f}"
    return f"{value:.3g}"


def share(item: LineItem, estimate: CostEstimate) -> str:
    return f"{item.monthly_usd / estimate.total_usd:.0%}" if estimate.total_usd else "-"


def dominant_line(estimate: CostEstimate) -> str:
    top = estimate.dominant()
    if not top:
        return "Nothing here costs anything."
    parts = [f"{i.item} (${money(i.monthly_usd)}, {share(i, estimate)})" for i in top]
    joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"Dominated by {joined}."


def scaled_line(base: CostEstimate, scaled: CostEstimate) -> str:
    ratio = scaled.total_usd / base.total_usd if base.total_usd else 0.0
    top = scaled.dominant(limit=1)
    lead = f"; {top[0].item} alone ${money(top[0].monthly_usd)}" if top else ""
    return (
        f"At {SCALE_FACTOR}x the series ({scaled.series}): ${money(scaled.total_usd)} per month "
        f"({ratio:.1f}x){lead}."
    )


def per_metric_line(base: CostEstimate, scaled: CostEstimate, plan: Plan) -> str:
    each = per_added_metric(base, scaled)
    floor = base.floor_per_metric_usd
    versus = f", {each / floor:.2f}x" if floor else ""
    what = "series (or part a share of attempts adds)" if base.queries != base.series else "series"
    return (
        f"Each added {what}: ${each:.4f} a month{versus} the GetMetricData floor of ${floor:.4f} "
        f"(reading it at each of {base.evaluations_per_month:,.0f} evaluations, {plan.frequency.evaluation}, "
        "at $0.01 per 1,000 metrics)."
    )


def bullet(text: str) -> str:
    return textwrap.fill(
        text, width=WIDTH, initial_indent="  - ", subsequent_indent="    ", break_on_hyphens=False
    )


def render_table(estimate: CostEstimate) -> list[str]:
    header = ("ITEM", "QUANTITY", "UNIT", "UNIT PRICE", "USD/MONTH")
    rows = [
        (i.item, quantity(i.quantity), i.unit, i.price_text, money(i.monthly_usd)) for i in estimate.items
    ]
    total = ("TOTAL", "", "", "", money(estimate.total_usd))
    widths = [max(len(r[c]) for r in (header, *rows, total)) for c in range(len(header))]
    right = (False, True, False, False, True)

    def line(row: tuple[str, ...]) -> str:
        cells = [
            cell.rjust(w) if align else cell.ljust(w)
            for cell, w, align in zip(row, widths, right, strict=True)
        ]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return [line(header), rule, *(line(r) for r in rows), rule, line(total)]


def render(source: str, plan: Plan, estimate: CostEstimate, scaled: CostEstimate) -> str:
    lines = [
        f"{source}: plan '{plan.name}', {estimate.series} series"
        + (f" ({estimate.discovered} discovered)" if estimate.discovered else "")
        + (f" read as {estimate.queries} metric queries" if estimate.queries != estimate.series else "")
        + f", evaluation {plan.frequency.evaluation}, "
        f"dashboard {'on' if plan.tools.dashboard else 'off'}, audit {'on' if plan.tools.audit else 'off'}",
        f"Estimated monthly AWS cost at {PRICING_REGION} list prices (USD, before any free tier):",
        "",
        *render_table(estimate),
        "",
        dominant_line(estimate),
        per_metric_line(estimate, scaled, plan),
        scaled_line(estimate, scaled),
        f"The always-free allowances, if nothing else in the account used them, would take off "
        f"about ${money(estimate.free_tier_usd)}.",
        "",
        "Assumptions:",
        *(bullet(a) for a in estimate.assumptions),
        *(bullet(f"{i.item}: {i.assumption}") for i in estimate.items),
    ]
    if estimate.notes:
        lines += ["", "Notes:", *(bullet(n) for n in estimate.notes)]
    warnings = [*estimate.warnings, *(f"at {SCALE_FACTOR}x the series: {w}" for w in scaled.warnings)]
    if warnings:
        lines += ["", f"{len(warnings)} warning(s):", *(bullet(w) for w in warnings)]
    return "\n".join(lines)


def item_json(item: LineItem, estimate: CostEstimate) -> dict[str, Any]:
    return {
        "item": item.item,
        "quantity": round(item.quantity, 6),
        "unit": item.unit,
        "unit_price_usd": item.unit_price_usd,
        "price_per": item.price_per,
        "tiered": item.tiered,
        "monthly_usd": round(item.monthly_usd, 6),
        "share": round(item.monthly_usd / estimate.total_usd, 4) if estimate.total_usd else 0.0,
        "free_tier_usd": round(item.free_tier_usd, 6),
        "assumption": item.assumption,
    }


def as_json(
    source: str, estimate: CostEstimate, scaled: CostEstimate, assumptions: Assumptions
) -> dict[str, Any]:
    return {
        "source": source,
        "plan": estimate.plan_name,
        "region": PRICING_REGION,
        "currency": "USD",
        "month_days": assumptions.month_days,
        "series": estimate.series,
        "metric_queries": estimate.queries,
        "discovered_series": estimate.discovered,
        "evaluations_per_month": estimate.evaluations_per_month,
        "baseline_builds_per_month": estimate.baseline_builds_per_month,
        "items": [item_json(i, estimate) for i in estimate.items],
        "total_usd": round(estimate.total_usd, 6),
        "free_tier_usd": round(estimate.free_tier_usd, 6),
        "dominant": [i.item for i in estimate.dominant()],
        "per_added_metric_usd": round(per_added_metric(estimate, scaled), 6),
        "get_metric_data_floor_per_metric_usd": round(estimate.floor_per_metric_usd, 6),
        "per_added_metric_vs_floor": (
            round(per_added_metric(estimate, scaled) / estimate.floor_per_metric_usd, 4)
            if estimate.floor_per_metric_usd
            else None
        ),
        "scaled": {
            "series_factor": SCALE_FACTOR,
            "series": scaled.series,
            "total_usd": round(scaled.total_usd, 6),
            "dominant": [i.item for i in scaled.dominant()],
            "warnings": scaled.warnings,
        },
        "assumptions": estimate.assumptions,
        "assumed": asdict(assumptions),
        "notes": estimate.notes,
        "warnings": estimate.warnings,
    }


def assumptions_from(args: argparse.Namespace) -> Assumptions:
    changes: dict[str, Any] = {
        "sms_per_month": args.sms_per_month,
        "sms_price_usd": args.sms_price,
        "emails_per_month": args.emails_per_month,
        "audit_events_per_month": args.audit_events_per_month,
        "dashboard_views_per_month": args.dashboard_views_per_month,
        "devices": args.devices,
        "disconnects_per_device_per_day": args.disconnects_per_device_per_day,
        "failed_log_events_per_device_per_day": args.log_events_per_device_per_day,
        "messages_per_device_per_day": args.messages_per_device_per_day,
    }
    return replace(Assumptions(), **{k: v for k, v in changes.items() if v is not None})


def cmd_plan_cost(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    read = read_checked_plan(args.file, err)
    if read is None:
        return EXIT_BAD_INPUT
    plan, check = read
    source = args.file
    assumptions = assumptions_from(args)
    try:
        discovered, extra = discovered_series(plan, args)
    except DiscoveryReadError as exc:
        print(exc, file=err)
        return exc.code
    estimate = estimate_cost(plan, assumptions, discovered=discovered)
    scaled = estimate_cost(plan, assumptions, discovered=discovered, series_factor=SCALE_FACTOR)
    if args.audit_events_per_month is not None and not plan.tools.audit:
        extra.append("--audit-events-per-month is ignored: tools.audit is off in this plan")
    if check.warnings:
        extra.append(
            f"the plan has {len(check.warnings)} warning(s): `iotwatch plan validate {source}` lists them"
        )
    estimate = replace(estimate, notes=[*estimate.notes, *extra])
    if args.json:
        print(json.dumps(as_json(source, estimate, scaled, assumptions), indent=2), file=out)
    else:
        print(render(source, plan, estimate, scaled), file=out)
    return EXIT_OK


class DiscoveryReadError(RuntimeError):
    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code  # 2: the stack or table named is not an iotwatch one; 1: AWS failed


def discovered_series(plan: Plan, args: argparse.Namespace) -> tuple[list[Series], list[str]]:
    """The series the plan's "*" metrics discover, and notes on where the count came from."""
    templates = expand_templates(plan)
    expected = args.expected_series
    if not templates:
        ignored = [
            f
            for f, v in (("--expected-series", expected), ("--stack", args.stack), ("--table", args.table))
            if v
        ]
        return [], [f"{', '.join(ignored)} ignored: the plan has no '*' metric"] if ignored else []
    if expected is not None:
        found = expected_discovered(templates, expected)
        notes = [
            f"{len(found):,} discovered series assumed (--expected-series), spread over {len(templates)} '*' metric(s)"
        ]
        if len(found) < expected:
            notes.append(
                f"--expected-series {expected:,}: at most {len(found):,} are watched (500 values per '*' metric); "
                "the rest would be listed and left out"
            )
        return found, notes
    if args.stack or args.table:
        found, where = _read_discovered(plan, templates, stack=args.stack, table=args.table)
        return found, [f"{len(found):,} discovered series counted from {where}"]
    return [], [
        f"the plan's {len(templates)} '*' metric(s) are counted without the values they discover: pass "
        "--stack NAME or --table NAME to count them from the deployed table, or --expected-series N"
    ]


def _read_discovered(
    plan: Plan, templates: list[Any], *, stack: str | None, table: str | None
) -> tuple[list[Series], str]:
    from botocore.exceptions import BotoCoreError, ClientError
    from iotwatch.adapters.aws import client
    from iotwatch.adapters.store.state_store import DynamoStateStore
    from iotwatch.domain.discovery import discovered_series as series_of

    from iotwatch_cli.errors import CliError, aws_failure
    from iotwatch_cli.stack_table import resolve_table

    try:
        name = table or resolve_table(client("cloudformation"), stack or "")
        found = DynamoStateStore(client("dynamodb"), name).discovered.list_discovered()
    except CliError as exc:
        raise DiscoveryReadError(str(exc), exc.code) from None
    except BotoCoreError as exc:
        failure = aws_failure(exc)
        raise DiscoveryReadError(f"{failure}; or pass --expected-series N", failure.code) from None
    except ClientError as exc:
        raise DiscoveryReadError(
            f"error: cannot read the discovered series from AWS: {exc}; or pass --expected-series N"
        ) from None
    where = f"table {name}" + (f" (stack {stack})" if stack else "")
    return series_of(templates, found, concrete=expand_series(plan)), where


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _price(text: str) -> float:
    try:
        value = float(text.removeprefix("$"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a price in USD, e.g. 0.00645") from None
    if not 0 <= value < 10:
        raise argparse.ArgumentTypeError("give the USD price of one SMS part, e.g. 0.00645")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError("give a number per device per day, e.g. 2 or 0.5")
    return value


def register(plan_commands: Any) -> None:
    """Registers `plan cost` on the `plan` subcommands."""
    defaults = Assumptions()
    cost = plan_commands.add_parser(
        "cost",
        help=f"estimate the plan's monthly AWS cost, item by item ({PRICING_REGION} list prices)",
        description=f"Estimates the monthly AWS cost of a plan at {PRICING_REGION} list prices, with every "
        "assumption printed. Nothing is read from AWS, unless --stack or --table asks for the series a "
        "deployed stack discovered.",
    )
    cost.add_argument(
        "file", nargs="?", default=DEFAULT_PLAN_FILE, help=f"plan file (default {DEFAULT_PLAN_FILE})"
    )
    cost.add_argument("--json", action="store_true", help="print the estimate as JSON")
    cost.add_argument(
        "--sms-per-month",
        type=_count,
        default=None,
        metavar="N",
        help=f"SMS messages delivered per month (default {defaults.sms_per_subscriber} per SMS subscriber)",
    )
    cost.add_argument(
        "--sms-price",
        type=_price,
        default=None,
        metavar="USD",
        help=f"price of one SMS part for your destination country (default {defaults.sms_price_usd}, US)",
    )
    cost.add_argument(
        "--emails-per-month",
        type=_count,
        default=None,
        metavar="N",
        help=f"e-mails delivered per month (default {defaults.emails_per_subscriber} per e-mail subscriber)",
    )
    cost.add_argument(
        "--audit-events-per-month",
        type=_count,
        default=None,
        metavar="N",
        help=f"IoT control-plane write calls per month, with tools.audit (default {defaults.audit_events_per_month:,})",
    )
    cost.add_argument(
        "--dashboard-views-per-month",
        type=_count,
        default=None,
        metavar="N",
        help=f"dashboard views per month, each drawing every band widget once (default "
        f"{defaults.dashboard_views_per_month}; a screen refreshing every minute is ~43,200)",
    )
    cost.add_argument(
        "--devices",
        type=_count,
        default=None,
        metavar="N",
        help=f"devices in the fleet, for the devices section's items (default {defaults.devices:,})",
    )
    cost.add_argument(
        "--disconnects-per-device-per-day",
        type=_rate,
        default=None,
        metavar="N",
        help=f"lifecycle disconnects per device a day (default {defaults.disconnects_per_device_per_day:g})",
    )
    cost.add_argument(
        "--log-events-per-device-per-day",
        type=_rate,
        default=None,
        metavar="N",
        help="failed attempts AWS IoT logs per device a day, what the top-client rules match "
        f"(default {defaults.failed_log_events_per_device_per_day:g})",
    )
    cost.add_argument(
        "--messages-per-device-per-day",
        type=_rate,
        default=None,
        metavar="N",
        help="messages per device a day, logged at INFO level (default "
        f"{defaults.messages_per_device_per_day:g})",
    )
    where = cost.add_mutually_exclusive_group()
    where.add_argument(
        "--expected-series",
        type=_count,
        default=None,
        metavar="N",
        help="series the plan's '*' metrics are expected to discover, in all (instead of reading them)",
    )
    where.add_argument("--stack", help="deployed iotwatch stack whose table lists the discovered series")
    where.add_argument(
        "--table", help="DynamoDB table of a deployed iotwatch stack, for the discovered series"
    )
    cost.set_defaults(func=cmd_plan_cost)
