"""A fanned-out tick's shard results: what the publishing invocation gets back is what the
shard found, and a big outage still fits one DynamoDB item."""

from __future__ import annotations

from dataclasses import replace

from iotwatch.domain.baseline.model import Expectation
from iotwatch.domain.deviation import AlertState, Transition, score_period
from iotwatch.domain.evaluation import SeriesOutcome
from iotwatch.domain.incidents.news import tick_news
from iotwatch.domain.silences import Silence
from iotwatch.service.fanout import PACKED, _gather, _shard_result, _states_of
from iotwatch.service.scoring import ScoredSeries

from .fakes import DETECTION, MONDAY, PERIOD, make_series, share_series

AT = MONDAY + 14 * 3600
DYNAMODB_ITEM_LIMIT = 400 * 1024


def _outage(count: int) -> ScoredSeries:
    outcomes = []
    for i in range(count):
        series = make_series("PublishIn.Success", (("ThingGroup", f"plant-{i:05d}"),))
        latest = score_period(AT - PERIOD, 100.0, Expectation(1000.0, 50.0, "hour-of-week"), DETECTION)
        state = AlertState(series.id, "firing", "critical", AT - PERIOD, latest.score, AT)
        transition = Transition("firing", series.id, "critical", AT - PERIOD, AT, latest.score, latest)
        silence = Silence("s-00000001", AT - 3600, AT + 3600, "upgrade") if i % 7 == 0 else None
        outcomes.append(SeriesOutcome(series, [latest], state, transition, "firing", silence))
    return ScoredSeries(outcomes, {}, {o.series.id: "seasonal-level-v2" for o in outcomes})


def test_a_shard_result_gives_the_publisher_the_news_the_shard_found():
    scored = _outage(5)
    result = _shard_result(scored)
    assert not result.startswith(PACKED)
    news, methods, _ = _gather([result], [o.series for o in scored.outcomes])
    assert news == tick_news(scored.outcomes)
    assert set(methods) == {o.series.id for o in scored.outcomes}


def test_a_shard_of_two_thousand_firing_series_fits_one_item_packed():
    scored = _outage(2000)
    result = _shard_result(scored)
    assert result.startswith(PACKED)
    assert len(result.encode("utf-8")) < DYNAMODB_ITEM_LIMIT // 2
    news, _, _ = _gather([result], [o.series for o in scored.outcomes])
    assert news == tick_news(scored.outcomes)
    assert len(_states_of(result)) == 2000  # each newly firing state, for the publisher to save


def test_a_shares_news_keeps_its_attempts_through_a_shard_result():
    """The publishing invocation renders "AuthError 31 % of 4,210 connection attempts": a share's
    newest period must reach it with its attempts, whichever shard judged it."""
    share = share_series()
    latest = replace(
        score_period(AT - PERIOD, 0.31, Expectation(0.002, 0.0007, "hour-of-week", False), DETECTION),
        attempts=4210.0,
    )
    state = AlertState(share.id, "firing", "critical", AT - PERIOD, latest.score, AT)
    transition = Transition("firing", share.id, "critical", AT - PERIOD, AT, latest.score, latest)
    scored = ScoredSeries([SeriesOutcome(share, [latest], state, transition, "firing")], {}, {})
    [news], _, _ = _gather([_shard_result(scored)], [share])
    assert news.series.ratio == share.ratio
    assert news.latest is not None and news.latest.attempts == 4210.0
    assert news.transition is not None and news.transition.latest == latest
