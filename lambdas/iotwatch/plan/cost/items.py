"""The estimate's shape: line items, the estimate they add up to, and how a price and a count are written."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LineItem:
    item: str
    quantity: float
    unit: str
    unit_price_usd: float  # per `price_per` units (tiered items: the first tier)
    price_per: int
    monthly_usd: float
    assumption: str
    free_tier_usd: float = 0.0  # what the always-free allowance would take off
    tiered: bool = False

    @property
    def price_text(self) -> str:
        """'$0.01 per 1,000 metrics', '$0.125 per 1M RRU', '$0.10 per alarm'."""
        per = {1: "", 1_000_000: "1M "}.get(self.price_per, f"{self.price_per:,} ")
        unit = self.unit
        if self.price_per == 1 and unit.endswith("s") and not unit.endswith("GB-s"):
            unit = unit.removesuffix("s")
        return f"{usd(self.unit_price_usd)} per {per}{unit}" + (", tiered" if self.tiered else "")


def priced(
    item: str,
    quantity: float,
    unit: str,
    price: float,
    per: int,
    assumption: str,
    *,
    free_allowance: float | None = None,
) -> LineItem:
    """A line billed `price` per `per` units: quantity / per x price a month; of it, the
    always-free tier would take off `free_allowance` units' worth (None: no free tier)."""
    return LineItem(
        item,
        quantity,
        unit,
        price,
        per,
        quantity / per * price,
        assumption,
        free_tier_usd=0.0 if free_allowance is None else min(quantity, free_allowance) / per * price,
    )


def usd(value: float) -> str:
    """A price without exponent or float noise, at least to the cent: $3.00, $0.125, $0.0000133334."""
    text = f"{value:.10f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${int(whole):,}.{cents.ljust(2, '0')}"


@dataclass(frozen=True)
class CostEstimate:
    plan_name: str
    series: int
    evaluations_per_month: float
    baseline_builds_per_month: float
    items: list[LineItem]
    assumptions: list[str]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    discovered: int = 0  # of `series`, how many the plan's "*" metrics discover
    queries: int = 0  # distinct metric queries one evaluation reads (a share reads its parts)
    # reading one metric at every evaluation, the least any evaluator of it must pay
    floor_per_metric_usd: float = 0.0

    @property
    def total_usd(self) -> float:
        return sum(i.monthly_usd for i in self.items)

    @property
    def free_tier_usd(self) -> float:
        return sum(i.free_tier_usd for i in self.items)

    def item(self, name: str) -> LineItem:
        (found,) = [i for i in self.items if i.item == name]
        return found

    def dominant(self, share: float = 0.75, limit: int = 3) -> list[LineItem]:
        """The fewest items (at most `limit`) that make up `share` of the total."""
        ranked = sorted(self.items, key=lambda i: i.monthly_usd, reverse=True)
        picked: list[LineItem] = []
        running = 0.0
        for item in ranked:
            if item.monthly_usd <= 0 or len(picked) >= limit:
                break
            picked.append(item)
            running += item.monthly_usd
            if running >= share * self.total_usd:
                break
        return picked


def per_added_metric(base: CostEstimate, more: CostEstimate) -> float:
    """What each metric `more` reads beyond `base` adds to the month: a series of one metric,
    or each part a share of attempts reads that nothing else did."""
    added = more.queries - base.queries
    return (more.total_usd - base.total_usd) / added if added else 0.0


# --- schedules ---------------------------------------------------------------------------------


def count_text(n: float) -> str:
    """A count in an assumption: whole numbers without decimals, others to one decimal."""
    return f"{n:,.0f}" if abs(n - round(n)) < 1e-9 or n >= 100 else f"{n:,.1f}"
