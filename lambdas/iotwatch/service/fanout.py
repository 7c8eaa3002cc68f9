"""A tick too big for one invocation: the scheduled run claims it and fans the series out
through SQS; each shard is evaluated by its own invocation; the one that finishes the last
shard pages for the whole tick, so messages are grouped exactly as one invocation would.

Shards are ranges of a stable hash of the series ids (`domain.sharding`): the coordinator
cuts them `shard_size` series wide, rounded down to whole GetMetricData calls, so the tick
reads at the API's floor, and ships only each range's bounds; workers agree on membership
without shipping ids, even if one of them has discovered a series the other has not yet.

Every step can be repeated (SQS delivers at least once, Lambda retries):
- a shard's result is written once (conditional put) and a redelivery re-uses it;
- states are saved only by the invocation that pages, after it paged, with the revision they
  were read at (a second save is refused): a tick whose shard never finishes pages nothing
  and moves no state, so the next tick pages what it would have;
- shards done are a set, so finishing one twice counts once;
- paging is claimed once per tick and released if it fails, for the retry.

After an outage the dispatch finds the windows no run completed (`windows_to_evaluate`) and
ships the gap in every shard message: each shard evaluates its series through the missed
windows and then the tick's own, and stores each window's news; the publishing invocation
advances the incidents window by window, in time order, exactly as one invocation catching up
would, and then marks the tick completed.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from iotwatch.domain.deviation import AlertState, PeriodScore, Transition
from iotwatch.domain.evaluation import Gap, missed_windows
from iotwatch.domain.incidents.news import SeriesNews, tick_news
from iotwatch.domain.messages.model import MessageContext
from iotwatch.domain.metric_calls import MAX_QUERIES_PER_CALL
from iotwatch.domain.series import Series
from iotwatch.domain.sharding import ShardRange, query_weights, shard_ranges, size_at_floor
from iotwatch.domain.silences import Silence
from iotwatch.plan.fanout import fans_out
from iotwatch.plan.runtime import RuntimePlan
from iotwatch.service.evaluation import deliver_outbox, tick_window, windows_to_evaluate
from iotwatch.service.evaluation_report import EvaluationReport
from iotwatch.service.incident_publishing import publish_incidents
from iotwatch.service.ports import FanoutStore, MetricReader, Notifier, WhereLookup, WorkQueue
from iotwatch.service.scoring import ScoredSeries, record_outcomes, score_series

SHARD_MESSAGE_VERSION = 2  # 2: the shard's range of series keys; 1: crc32 % shards (still read)
SHARD_RESULT_VERSION = 2  # 2: the tick's news (firing or changed series), for the incidents
EVALUATION_KIND = "evaluation"


@dataclass(frozen=True)
class ShardTask:
    """One SQS message: which tick, which shard of how many, and the range of series it holds."""

    event_time: float
    window_end: int
    shard: int
    shards: int
    range: ShardRange | None = None  # None: a version-1 message, members by crc32 % shards
    gap: Gap | None = None  # the windows the tick catches up on first (None: only its own)

    def body(self) -> str:
        data: dict[str, Any] = {
            "version": SHARD_MESSAGE_VERSION,
            "kind": EVALUATION_KIND,
            "event_time": self.event_time,
            "window_end": self.window_end,
            "shard": self.shard,
            "shards": self.shards,
            "range": (self.range or ShardRange()).as_json(),
        }
        if self.gap is not None:
            data["gap"] = {"start": self.gap.start, "end": self.gap.end, "from": self.gap.caught_up_from}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_body(cls, body: str) -> ShardTask:
        try:
            data = json.loads(body)
            version = data.get("version")
            if (
                version not in (1, SHARD_MESSAGE_VERSION)
                or data.get("kind", EVALUATION_KIND) != EVALUATION_KIND
            ):
                raise ValueError(f"message version {version!r}, kind {data.get('kind')!r}")
            task = cls(
                event_time=float(data["event_time"]),
                window_end=int(data["window_end"]),
                shard=int(data["shard"]),
                shards=int(data["shards"]),
                range=ShardRange.from_json(data["range"]) if version == SHARD_MESSAGE_VERSION else None,
                gap=_gap(data.get("gap")),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ShardMessageError(f"not an iotwatch shard message: {exc}") from exc
        if not 0 <= task.shard < task.shards:
            raise ShardMessageError(f"shard {task.shard} outside 0..{task.shards - 1}")
        return task

    def members(self, series: Sequence[Series]) -> list[Series]:
        if self.range is not None:
            return self.range.members(series)
        return [s for s in series if zlib.crc32(s.id.encode("utf-8")) % self.shards == self.shard]


class ShardMessageError(ValueError):
    pass


def _gap(data: Any) -> Gap | None:
    if data is None:
        return None
    return Gap(int(data["start"]), int(data["end"]), int(data["from"]))


def series_per_shard(shard_size: int) -> int:
    """`frequency.shard_size`, rounded down to whole GetMetricData calls (500 series each)."""
    return size_at_floor(shard_size, MAX_QUERIES_PER_CALL)


def shard_count(series: int, shard_size: int) -> int:
    return max(1, -(-series // series_per_shard(shard_size)))


def needs_fanout(series: Sequence[Series], plan: RuntimePlan) -> bool:
    """Whether this tick fans out: the plan's rule (`plan.fanout`) at `frequency.shard_size`."""
    return fans_out(series, plan.frequency.shard_size)


def dispatch(
    *,
    event_time: float,
    plan: RuntimePlan,
    series: Sequence[Series],
    store: FanoutStore,
    queue: WorkQueue,
    notifier: Notifier,
    report: EvaluationReport,
    on_publish_error: type[Exception] | tuple[type[Exception], ...] = Exception,
) -> int:
    """The scheduled run of a big plan: claims the tick, delivers the outbox, and queues one
    task per shard. Returns the number of shards queued (0: the tick was already claimed)."""
    window = tick_window(event_time, plan, series)
    if not store.runs.claim_run(window.end):
        report.duplicate_run = True
        report.skipped = len(series)
        return 0
    try:
        deliver_outbox(store, notifier, report, on_publish_error)
        size = series_per_shard(plan.frequency.shard_size)
        if not windows_to_evaluate(window, plan=plan, store=store, report=report, series=size):
            return 0  # superseded: a newer tick was completed already
        ranges = shard_ranges([s.id for s in series], size, query_weights(series))
        shards = len(ranges)
        store.shards.start_fanout(window.end, shards)
        tasks = [
            ShardTask(event_time, window.end, shard, shards, r, gap=report.gap)
            for shard, r in enumerate(ranges)
        ]
        queue.send([t.body() for t in tasks])
    except Exception:
        store.runs.release_run(window.end)
        raise
    return shards


@dataclass
class ShardOutcome:
    report: EvaluationReport
    evaluated: bool  # False: a redelivery that re-used the shard's first result
    published: bool  # this invocation paged for the whole tick
    done: int
    shards: int


def run_shard(
    task: ShardTask,
    *,
    plan: RuntimePlan,
    series: Sequence[Series],
    reader: MetricReader,
    store: FanoutStore,
    notifier: Notifier,
    context: MessageContext,
    on_publish_error: type[Exception] | tuple[type[Exception], ...] = Exception,
    where: WhereLookup | None = None,
) -> ShardOutcome:
    started = store.shards.fanout_shards(task.window_end)
    if started != task.shards:
        # no scheduled run queued this (or it split the tick differently): nothing to finish
        raise ShardMessageError(
            f"tick {task.window_end} was not fanned out into {task.shards} shards (found {started})"
        )
    members = task.members(series)
    window = tick_window(task.event_time, plan, series)
    report = EvaluationReport(window_start=window.start, window_end=window.end, series=len(members))
    missed = missed_windows(window, task.gap) if task.gap is not None else []
    report.gap, report.caught_up = task.gap, len(missed)
    stored = store.shards.get_shard_result(task.window_end, task.shard)
    evaluated = stored is None
    if stored is None:
        scored = score_series(
            window=window, missed=missed, plan=plan, series=members, reader=reader, store=store, report=report
        )
        store.shards.put_shard_result(task.window_end, task.shard, _shard_result(scored))
        store.series_state.save_trackers(scored.trackers)  # what this shard's series learnt, paged or not
        # states are saved by whoever pages the tick: a shard that never finishes leaves every
        # series where it was, so the next tick finds the same transitions and pages them
        record_outcomes(scored, report=report)
    done, shards = store.shards.finish_shard(task.window_end, task.shard)
    published = False
    if done >= shards and store.shards.claim_publish(task.window_end):
        try:
            results = store.shards.list_shard_results(task.window_end)
            news, methods, earlier = _gather(results, series)
            publish_incidents(
                news,
                methods,
                window=window,
                plan=plan,
                series=series,
                store=store,
                notifier=notifier,
                context=context,
                report=report,
                on_publish_error=on_publish_error,
                missed=[(w, earlier.get(w.end, [])) for w in missed],
                gap=task.gap,
                where=where,
            )
            for result in results:  # refused (revision moved) if a retry already saved it
                for state in _states_of(result):
                    store.series_state.save_state(state)
            store.runs.complete_run(task.window_end)
        except Exception:
            store.shards.release_publish(task.window_end)
            raise
        published = True
    return ShardOutcome(report, evaluated, published, done, shards)


# --- shard results ------------------------------------------------------------------------------


def _shard_result(scored: ScoredSeries) -> str:
    """What the publishing invocation needs of a shard: its news (every series firing or
    changed, with its state, transition, newest period and silence), the baseline method each
    message quotes, and the states it changed (re-saved by a redelivery); after an outage,
    the news of each window it caught up on too (`missed`, oldest first)."""
    news = _news_records(tick_news(scored.outcomes))
    missed = [(w.end, _news_records(news)) for w, news in scored.missed]
    reported = {n["series"] for n in news} | {n["series"] for _, step in missed for n in step}
    methods = {sid: scored.methods[sid] for sid in reported if sid in scored.methods}
    states = [asdict(s) for s in scored.changed_states()]
    data: dict[str, Any] = {
        "version": SHARD_RESULT_VERSION,
        "news": news,
        "methods": methods,
        "states": states,
    }
    if missed:
        data["missed"] = [{"window_end": end, "news": step} for end, step in missed]
    text = json.dumps(data, separators=(",", ":"))
    if len(text) <= COMPRESS_RESULT_ABOVE:
        return text
    # a big outage: every firing member of the shard, each tick; a DynamoDB item holds 400 KB
    return PACKED + base64.b64encode(zlib.compress(text.encode("utf-8"), 9)).decode("ascii")


def _news_records(news: Sequence[SeriesNews]) -> list[dict[str, Any]]:
    return [
        {
            "series": n.series.id,
            "state": asdict(n.state),
            "transition": asdict(n.transition) if n.transition else None,
            "latest": asdict(n.latest) if n.latest else None,
            "silence": asdict(n.silence) if n.silence else None,
        }
        for n in news
    ]


# A shard result longer than this is stored zlib-compressed (base64, marked): the news of a
# shard of 2,000 series all firing is about 1.4 MB as JSON, about 200 KB packed.
COMPRESS_RESULT_ABOVE = 200_000
PACKED = "zlib:"


def _result_data(result: str) -> dict[str, Any]:
    if result.startswith(PACKED):
        result = zlib.decompress(base64.b64decode(result[len(PACKED) :])).decode("utf-8")
    data: dict[str, Any] = json.loads(result)
    return data


def _states_of(result: str) -> list[AlertState]:
    return [AlertState(**s) for s in _result_data(result)["states"]]


def _transition(data: dict[str, Any]) -> Transition:
    return Transition(**{**data, "latest": PeriodScore(**data["latest"])})


def _silence(data: dict[str, Any]) -> Silence:
    return Silence(**{**data, "metrics": tuple(data["metrics"])})


def _gather(
    results: Iterable[str], series: Sequence[Series]
) -> tuple[list[SeriesNews], dict[str, str], dict[int, list[SeriesNews]]]:
    """Every shard's news in plan order (and each missed window's, by window end): the
    incidents then see the tick exactly as one invocation would have."""
    by_id = {s.id: s for s in series}
    position = {s.id: i for i, s in enumerate(series)}
    found: list[SeriesNews] = []
    earlier: dict[int, list[SeriesNews]] = {}
    methods: dict[str, str] = {}
    for raw in results:
        data = _result_data(raw)
        if data.get("version") != SHARD_RESULT_VERSION:
            raise ShardMessageError(
                f"shard result version {data.get('version')!r}, expected {SHARD_RESULT_VERSION}: "
                "written by another release; the next tick evaluates again"
            )
        methods.update(data["methods"])
        found += _news_of(data["news"], by_id)
        for step in data.get("missed", []):
            earlier.setdefault(int(step["window_end"]), []).extend(_news_of(step["news"], by_id))
    for news in (found, *earlier.values()):
        news.sort(key=lambda n: position[n.series.id])
    return found, methods, earlier


def _news_of(items: Iterable[dict[str, Any]], by_id: Mapping[str, Series]) -> list[SeriesNews]:
    found = []
    for item in items:
        known = by_id.get(item["series"])
        if known is None:  # a series this invocation does not know cannot be rendered
            continue
        found.append(
            SeriesNews(
                known,
                AlertState(**item["state"]),
                _transition(item["transition"]) if item["transition"] else None,
                PeriodScore(**item["latest"]) if item["latest"] else None,
                _silence(item["silence"]) if item["silence"] else None,
            )
        )
    return found
