"""Nothing lost while iotwatch itself is down: a run after an outage evaluates the windows no
run completed, in order, before its own, and tells on-call once what happened meanwhile.

The scenario of issue 15: every evaluator run fails from 13:55 to 14:55 (GetMetricData
unavailable); during that hour Connect.Success over MQTT drops from 14:00 to 14:40."""

from __future__ import annotations

import pytest
from iotwatch.adapters.cloudwatch import MetricReadError
from iotwatch.domain.evaluation import Gap, Window, catch_up_windows
from iotwatch.domain.messages.gsm7 import gsm7_length
from iotwatch.domain.times import iso_z
from iotwatch.service.evaluation import catch_up_span

from .fakes import MONDAY, PERIOD, FakeReader
from .test_lifecycle import World, make_plan

HOUR = 3600
DOWN_FROM = MONDAY + 13 * HOUR + 55 * 60  # the first window no run completes
BACK = MONDAY + 14 * HOUR + 55 * 60  # the window of the run that recovers
DROP, DROP_END = MONDAY + 14 * HOUR, MONDAY + 14 * HOUR + 40 * 60


# --- which windows a run evaluates (pure) --------------------------------------------------------


def window(end: int) -> Window:
    return Window(end - 3 * PERIOD, end, PERIOD)


def test_a_run_right_after_the_last_completed_one_evaluates_only_its_own_window():
    assert catch_up_windows(window(BACK), last_completed=BACK - PERIOD, span=6 * HOUR, cadence=PERIOD) == (
        [window(BACK)],
        None,
    )
    assert catch_up_windows(window(BACK), last_completed=None, span=6 * HOUR, cadence=PERIOD) == (
        [window(BACK)],
        None,
    )
    # a 10-minute schedule on 5-minute periods skips a window every tick: no gap
    assert catch_up_windows(window(BACK), last_completed=BACK - 600, span=6 * HOUR, cadence=600)[1] is None


def test_missed_windows_come_first_one_per_period_and_the_gap_names_them():
    windows, gap = catch_up_windows(
        window(BACK), last_completed=DOWN_FROM - PERIOD, span=6 * HOUR, cadence=PERIOD
    )
    assert gap == Gap(start=DOWN_FROM, end=BACK, caught_up_from=DOWN_FROM)
    assert gap.not_evaluated == 0
    assert [w.end for w in windows] == list(range(DOWN_FROM, BACK + 1, PERIOD))
    assert all(w.end - w.start == 3 * PERIOD for w in windows)


def test_a_gap_longer_than_the_span_catches_up_on_the_span_and_counts_the_rest():
    windows, gap = catch_up_windows(
        window(BACK), last_completed=BACK - 10 * HOUR, span=6 * HOUR, cadence=PERIOD
    )
    assert gap is not None
    assert gap.start == BACK - 10 * HOUR + PERIOD and gap.caught_up_from == BACK - 6 * HOUR
    assert gap.not_evaluated == 4 * HOUR - PERIOD
    assert windows[0].end == BACK - 6 * HOUR and len(windows) == 6 * HOUR // PERIOD + 1
    # catch_up: 0 evaluates nothing late, and still says what was missed
    windows, gap = catch_up_windows(window(BACK), last_completed=BACK - HOUR, span=0, cadence=PERIOD)
    assert windows == [window(BACK)] and gap is not None and gap.not_evaluated == HOUR - PERIOD


def test_a_window_at_or_before_the_last_completed_one_is_superseded():
    assert catch_up_windows(window(BACK), last_completed=BACK, span=6 * HOUR, cadence=PERIOD) == ([], None)
    assert catch_up_windows(window(BACK), last_completed=BACK + PERIOD, span=6 * HOUR, cadence=PERIOD) == (
        [],
        None,
    )


# --- the outage, over in-memory adapters --------------------------------------------------------


class Unavailable(FakeReader):
    """GetMetricData failing: every run raises, as the evaluator did during the outage."""

    def read(self, series, *, start, end):  # type: ignore[no-untyped-def]
        raise MetricReadError("GetMetricData: InternalError")


def outage(world: World, first: int, last: int) -> None:
    """Every tick whose window ends in [first, last] fails (Lambda's retries included)."""
    working, world.reader = world.reader, Unavailable()
    for end in range(first, last + 1, PERIOD):
        for _attempt in range(3):
            with pytest.raises(MetricReadError):
                world.tick(end)
    world.reader = working


def kinds(world: World, topic: str) -> list[str]:
    return [kind for kind, _ in world.pages(topic)]


@pytest.fixture
def world(default_plan) -> World:
    world = World(default_plan)
    world.run(DOWN_FROM - 2 * HOUR, DOWN_FROM - PERIOD)  # healthy until 13:50
    return world


def test_an_incident_over_before_iotwatch_recovered_pages_once_late_per_topic(world):
    world.set_from("Connect.Success", DROP, 150.0, end=DROP_END)  # down 85 %
    outage(world, DOWN_FROM, BACK - PERIOD)
    report = world.tick(BACK)

    assert report.gap == Gap(DOWN_FROM, BACK, DOWN_FROM) and report.caught_up == 12
    assert kinds(world, "oncall-email") == ["late"] and kinds(world, "oncall-sms") == ["late"]
    [incident] = world.incidents()
    assert incident.status == "resolved" and incident.found_late == report.gap
    [member] = incident.members
    assert (member.since, member.ended) == (DROP, DROP_END)
    assert member.worst is not None and member.worst.relative_change == pytest.approx(-0.85)

    sms = next(s for s in report.sent if s.notification.topic == "oncall-sms").message
    email = next(s for s in report.sent if s.notification.topic == "oncall-email").message
    assert (
        email.subject
        == f"[LATE CRITICAL] fleet {incident.id}: Connect.Success (MQTT) was down 85% 14:00-14:40Z"
    )
    assert email.email.splitlines()[0].startswith(
        "LATE (CRITICAL): Connect.Success (MQTT) of plan 'fleet' was down 85% from 14:00 to 14:40 UTC "
        "(40 min); iotwatch could not evaluate from 13:55 to 14:55 UTC."
    )
    assert email.attributes["kind"]["StringValue"] == "late"
    assert email.attributes["gap"]["StringValue"] == f"{iso_z(DOWN_FROM)}/{iso_z(BACK)}"
    assert email.document["incident"]["gap"]["not_evaluated_seconds"] == 0
    assert "14:00-14:40Z" in sms.sms and "13:55-14:55Z" in sms.sms
    assert gsm7_length(sms.sms) <= 160

    # nothing twice: the same event again, and the ticks after it
    assert world.tick(BACK).duplicate_run
    world.run(BACK + PERIOD, BACK + HOUR)
    assert kinds(world, "oncall-email") == ["late"] and kinds(world, "oncall-sms") == ["late"]


def test_the_detector_takes_in_every_missed_period_once_in_order(world):
    series = world.one("Connect.Success")
    outage(world, DOWN_FROM, BACK - PERIOD)
    before = world.reader.calls
    world.tick(BACK)
    tracker = world.store.trackers[series.id]
    assert tracker["x"] == BACK  # the first period not yet taken in: everything up to the run's own
    # one read for every missed window and the run's own (plus none: the trackers were warm)
    assert world.reader.calls - before == 1
    [(ids, start, end)] = world.reader.requests[-1:]
    assert (start, end) == (DOWN_FROM - 3 * PERIOD, BACK) and len(ids) == len(world.series)


def test_an_incident_still_running_at_recovery_pages_firing_with_its_true_start_then_resolves(world):
    world.set_from("Connect.Success", DROP, 150.0, end=BACK + HOUR)
    outage(world, DOWN_FROM, BACK - PERIOD)
    report = world.tick(BACK)
    assert kinds(world, "oncall-email") == ["firing"] and kinds(world, "oncall-sms") == ["firing"]
    page = report.sent[0]
    assert page.notification.incident is not None and page.notification.incident.since == DROP
    assert "since 2025-11-24 14:00 UTC" in page.message.email
    assert "Found late: iotwatch could not evaluate from 13:55 to 14:55 UTC" in page.message.email
    assert "(found late)" in page.message.sms

    world.run(BACK + PERIOD, BACK + HOUR + 4 * PERIOD)
    assert kinds(world, "oncall-email") == ["firing", "resolved"]
    assert kinds(world, "oncall-sms") == ["firing", "resolved"]


def test_an_incident_paged_before_the_outage_and_over_during_it_resolves_once(default_plan):
    world = World(default_plan)
    world.set_from("Connect.Success", DOWN_FROM - 4 * PERIOD, 150.0, end=DROP_END)
    world.run(DOWN_FROM - 2 * HOUR, DOWN_FROM - PERIOD)
    assert kinds(world, "oncall-sms") == ["firing"]
    outage(world, DOWN_FROM, BACK - PERIOD)
    world.tick(BACK)
    assert kinds(world, "oncall-sms") == ["firing", "resolved"]
    assert kinds(world, "oncall-email") == ["firing", "resolved"]
    resolved = next(s for r in world.reports for s in r.sent if s.notification.kind == "resolved")
    assert "iotwatch could not evaluate from 13:55 to 14:55 UTC" in resolved.message.email


def test_a_gap_longer_than_the_catch_up_span_says_how_much_was_not_evaluated():
    world = World(_plan_with_frequency(catch_up="1h"))
    world.run(BACK - 5 * HOUR, BACK - 4 * HOUR)
    world.set_from("Connect.Success", DROP, 150.0, end=DROP_END)
    outage(world, BACK - 4 * HOUR + PERIOD, BACK - PERIOD)
    report = world.tick(BACK)
    assert report.gap is not None and report.gap.not_evaluated == 3 * HOUR - PERIOD
    fields = report.as_log_fields()
    assert fields["windows_caught_up"] == 12 and fields["not_evaluated_seconds"] == 3 * HOUR - PERIOD
    late = next(s for s in report.sent if s.notification.topic == "oncall-email")
    assert late.notification.kind == "late"
    assert (
        "iotwatch could not evaluate from 11:00 to 14:55 UTC; it caught up from 13:55 UTC (its catch-up "
        "span): the 2 h 55 min before were not evaluated" in late.message.email
    )


def test_an_old_event_retried_after_a_newer_tick_completed_evaluates_nothing(world):
    world.tick(DOWN_FROM)
    world.store.release_run(DOWN_FROM - PERIOD)  # as if the older run had failed and let go
    report = world.tick(DOWN_FROM - PERIOD)
    assert report.superseded and report.outcomes == [] and not report.sent


def test_a_run_that_fails_while_catching_up_leaves_the_gap_to_its_retry(world):
    world.set_from("Connect.Success", DROP, 150.0, end=DROP_END)
    outage(world, DOWN_FROM, BACK - PERIOD)
    baselines = world.store.get_baselines
    world.store.get_baselines = _throttled  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="throttled"):
        world.tick(BACK)
    world.store.get_baselines = baselines  # type: ignore[method-assign]
    assert world.store.completed == DOWN_FROM - PERIOD and world.notifier.attempts == []
    world.tick(BACK)  # Lambda's retry of the same event catches up on the same windows
    assert kinds(world, "oncall-sms") == ["late"] and kinds(world, "oncall-email") == ["late"]
    assert world.store.completed == BACK


def _throttled(ids):  # type: ignore[no-untyped-def]
    raise RuntimeError("DynamoDB throttled the read")


def test_one_invocation_catches_up_on_what_fits_its_timeout(default_plan):
    """CATCH_UP_BUDGET series x windows: a full shard of 2,000 catches up on the default 6 h,
    an invocation of 20,000 series (the largest shard_size) on 7 windows, the rest reported."""
    assert catch_up_span(default_plan, 2000) == 6 * HOUR
    assert catch_up_span(default_plan, 20000) == 7 * PERIOD
    assert catch_up_span(default_plan, 1) == 6 * HOUR


def test_the_plan_bounds_the_catch_up_span(default_plan):
    assert default_plan.frequency.catch_up == 6 * HOUR
    assert make_plan().frequency.catch_up == 6 * HOUR
    with pytest.raises(AssertionError, match="at most 24h"):
        _plan_with_frequency(catch_up="2d")
    assert _plan_with_frequency(catch_up=0).frequency.catch_up == 0
    assert _plan_with_frequency(catch_up="90m").frequency.catch_up == 90 * 60


def _plan_with_frequency(**frequency):  # type: ignore[no-untyped-def]
    from iotwatch.plan.loader import check_plan

    from .test_lifecycle import plan_data

    data = plan_data()
    data["frequency"].update(frequency)
    check = check_plan(data, environ={})
    assert check.plan is not None, [str(p) for p in check.problems]
    return check.plan


def test_the_incident_history_says_it_was_found_late(world):
    from iotwatch_cli.incidents import incident_document, render_timeline

    world.set_from("Connect.Success", DROP, 150.0, end=DROP_END)
    outage(world, DOWN_FROM, BACK - PERIOD)
    world.tick(BACK)
    [incident] = world.incidents()
    text = render_timeline(incident, now=BACK, plan_name="fleet")
    assert (
        "  found     late: iotwatch could not evaluate 2025-11-24 13:55 to 14:55 UTC and found it catching up"
        in text
    )
    assert "late (critical) to oncall-email, oncall-sms: over before it was found" in text
    assert incident_document(incident)["found_late"] == {
        "gap_start": iso_z(DOWN_FROM),
        "gap_end": iso_z(BACK),
        "caught_up_from": iso_z(DOWN_FROM),
    }


def test_a_silence_that_covered_the_drop_holds_its_late_page_too(world):
    from .test_lifecycle import silence

    world.store.stored_silences = [silence(DROP - 600, DROP_END + 600)]  # a broker upgrade, announced
    world.set_from("Connect.Success", DROP, 150.0, end=DROP_END)
    outage(world, DOWN_FROM, BACK - PERIOD)
    report = world.tick(BACK)
    assert report.sent == [] and world.notifier.attempts == []
    assert [(o.transition.kind, o.silence.id) for o in report.silenced if o.transition and o.silence] == [
        ("firing", "s-1")
    ]
    [incident] = world.incidents()
    assert incident.status == "resolved" and incident.topics == {}
