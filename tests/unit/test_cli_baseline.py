"""`iotwatch baseline show`: naming the series, the figures (exactly what the evaluator uses),
the rendering, and the command against in-memory AWS clients (network off)."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from typing import Any

import iotwatch.adapters.aws  # noqa: F401  (boto3's first import probes IPv6 with a socket: do it at collection)
import pytest
from botocore.exceptions import ClientError, NoCredentialsError
from iotwatch.adapters.store.state_store import DynamoStateStore
from iotwatch.domain.baseline.build import build_baseline
from iotwatch.domain.baseline.model import HOURS_PER_WEEK, METHOD, Baseline, Bucket, hour_of_week
from iotwatch.domain.deviation import score_period
from iotwatch.plan.expand import expand_series, merged_detection
from iotwatch.plan.loader import load_plan

from iotwatch_cli import baseline_show
from iotwatch_cli.baseline_report import (
    DAY_NAMES,
    MONDAY,
    SOURCE_LETTERS,
    BaselineView,
    compact,
    hour_bands,
    render_json,
    render_text,
)
from iotwatch_cli.baseline_show import (
    ShowError,
    missing_message,
    parse_dimensions,
    series_for,
    show_command,
)
from iotwatch_cli.main import main
from iotwatch_local.traffic import Fleet, generate

from .conftest import DEFAULT_PLAN_FILE
from .fakes import DAY, PERIOD, flat_share_baseline, make_series
from .fakes import MONDAY as FAKES_MONDAY

TABLE = "IotWatch-Fleet-BaselineTable-ABC123"


@pytest.fixture(scope="module")
def learned() -> tuple[Any, Baseline]:
    """PublishIn.Success learned from 10 days of a simulated fleet: Mon-Wed have two weeks of
    their weekday (hour-of-week), the other days fall back to the same hour on weekdays / weekend days."""
    series = make_series()
    start = FAKES_MONDAY
    end = start + 10 * DAY
    points = [
        (ts, float(count))
        for _, ts, count in generate(Fleet(), [series], start=start, end=end, period=PERIOD)
    ]
    baseline = build_baseline(
        series_id=series.id,
        points=points,
        start=start,
        end=end,
        period=PERIOD,
        built_at=end + 3600,
        version=7,
    )
    return series, baseline


def mixed_baseline(series_id: str = "AWS/IoT|PublishIn.Success|Protocol=MQTT") -> Baseline:
    """Every source present, one per hour in turn; level 1.5 so the level visibly matters."""
    sources = list(SOURCE_LETTERS)
    buckets = tuple(
        Bucket(
            expected=0.0 if sources[h % len(sources)] == "none" else 100.0 + 10 * h,
            spread=5.0 + h % 7,
            samples=2 + h % 3,
            source=sources[h % len(sources)],
        )
        for h in range(HOURS_PER_WEEK)
    )
    return Baseline(
        series_id=series_id,
        version=3,
        method=METHOD,
        period=PERIOD,
        trained_from=FAKES_MONDAY - 14 * DAY,
        trained_to=FAKES_MONDAY,
        built_at=FAKES_MONDAY + 120,
        datapoints=4000,
        buckets=buckets,
        level=1.5,
    )


# --- naming the series --------------------------------------------------------------------------


def test_dimensions_are_sorted_by_name_like_the_plan_expands_them():
    assert parse_dimensions(["RuleName=r1", "ActionType=Lambda"]) == (
        ("ActionType", "Lambda"),
        ("RuleName", "r1"),
    )
    assert parse_dimensions([]) == ()
    assert parse_dimensions([" Protocol = MQTT "]) == (("Protocol", "MQTT"),)


@pytest.mark.parametrize("bad", ["Protocol", "=MQTT", "Protocol=", ""])
def test_a_dimension_without_name_and_value_is_refused(bad: str):
    with pytest.raises(ShowError, match="NAME=VALUE"):
        parse_dimensions([bad])


def test_a_dimension_given_twice_with_two_values_is_refused_and_the_same_pair_twice_is_one():
    with pytest.raises(ShowError, match="given twice; a series has one value per dimension"):
        parse_dimensions(["Protocol=MQTT", "Protocol=HTTP"])
    # one rule with `silence add --dimension` (iotwatch_cli.parsing.dimension_options)
    assert parse_dimensions(["Protocol=MQTT", " Protocol = MQTT"]) == (("Protocol", "MQTT"),)


def test_every_plan_series_is_found_by_its_metric_and_dimensions(default_plan, default_series):
    default = merged_detection(default_plan, None)
    for s in default_series:
        given = [f"{k}={v}" for k, v in reversed(s.dimensions)]
        found, in_plan = series_for(
            s.namespace,
            s.metric,
            parse_dimensions(given),
            plan_series=default_series,
            default=default,
            period=300,
        )
        assert in_plan and found == s
        assert show_command(s.id).split()[0] == s.metric


def test_a_series_outside_the_plan_gets_the_plan_defaults(default_plan, default_series):
    default = merged_detection(default_plan, None)
    found, in_plan = series_for(
        "AWS/IoT", "Connect.Success", (), plan_series=default_series, default=default, period=300
    )
    assert not in_plan
    assert found.id == "AWS/IoT|Connect.Success|"
    assert found.detection == default


def test_a_series_keeps_its_own_detection_from_the_plan(default_plan, default_series):
    deletes = next(s for s in default_series if s.metric == "DeleteThingShadow.Accepted")
    found, in_plan = series_for(
        "AWS/IoT",
        "DeleteThingShadow.Accepted",
        (("Protocol", "MQTT"),),
        plan_series=default_series,
        default=merged_detection(default_plan, None),
        period=300,
    )
    assert in_plan and found.detection.min_volume == deletes.detection.min_volume == 5


def test_show_command_names_dimensions_and_a_foreign_namespace():
    assert (
        show_command("AWS/IoT|Connect.Success|Protocol=MQTT") == "Connect.Success --dimension Protocol=MQTT"
    )
    assert show_command("AWS/IoT|RulesExecuted|") == "RulesExecuted"
    assert (
        show_command("Custom/Fleet|Errors|A=1,B=2")
        == "Errors --dimension A=1 --dimension B=2 --namespace Custom/Fleet"
    )


# --- the figures ----------------------------------------------------------------------------------


def test_hour_bands_are_what_the_evaluator_scores_against(learned):
    series, baseline = learned
    warning = series.detection.warning
    bands = hour_bands(baseline, warning)
    assert [b.hour_of_week for b in bands] == list(range(HOURS_PER_WEEK))
    for band in bands:
        # the period centred on the middle of this hour, in any week
        ts = FAKES_MONDAY + 7 * DAY + band.hour_of_week * 3600 + 1800 - PERIOD / 2
        assert hour_of_week(ts + PERIOD / 2) == band.hour_of_week
        expectation = baseline.expectation_at(ts)
        scored = score_period(ts, 0.0, expectation, series.detection)  # type: ignore[arg-type]
        assert (band.expected, band.scale, band.lower, band.upper) == (
            expectation.expected,
            expectation.scale,
            scored.lower,
            scored.upper,
        )
        assert band.source == baseline.buckets[band.hour_of_week].source
        assert band.day == DAY_NAMES[band.hour_of_week // 24] and band.hour == band.hour_of_week % 24


def test_hour_bands_at_the_hour_centre_are_the_bucket_times_the_fleet_level():
    baseline = mixed_baseline()
    for band, bucket in zip(hour_bands(baseline, 4.0), baseline.buckets, strict=True):
        assert band.expected == pytest.approx(bucket.expected * 1.5)
        assert band.upper - band.expected == pytest.approx(4.0 * band.scale)
        assert band.lower == max(band.expected - 4.0 * band.scale, 0.0)
        assert band.scale >= 1.0  # the noise floor
        assert (band.samples, band.spread) == (bucket.samples, bucket.spread)


def test_monday_reference_is_a_monday_midnight():
    assert hour_of_week(MONDAY) == 0 and MONDAY % DAY == 0


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (0.4213, "0.42"),
        (5.3, "5.3"),
        (5.0, "5"),
        (9.996, "10"),
        (99.4, "99.4"),
        (99.94, "100"),
        (812.4, "812"),
        (999.4, "999"),
        (999.6, "1k"),
        (1234, "1.23k"),
        (12345, "12.3k"),
        (123456, "123k"),
        (1_500_000, "1.5M"),
        (-42.5, "-42.5"),
    ],
)
def test_compact_numbers_fit_five_characters(value: float, text: str):
    assert compact(value) == text
    assert len(compact(value).lstrip("-")) <= 5


# --- the text -------------------------------------------------------------------------------------


def render(series: Any, baseline: Baseline, **kwargs: Any) -> str:
    options: dict[str, Any] = {
        "in_plan": True,
        "plan_name": "fleet",
        "table": TABLE,
        "stack": "IotWatch-Fleet",
    }
    options.update(kwargs)
    now = options.pop("now", None)
    return render_text(BaselineView(baseline, series, **options), now=now)


def grid_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line[:3] in DAY_NAMES and line[3:4] == " "]


def test_text_states_where_the_baseline_came_from(learned):
    series, baseline = learned
    text = render(series, baseline)
    assert text.splitlines()[0] == "Baseline of AWS/IoT|PublishIn.Success|Protocol=MQTT"
    for fact in (
        "PublishIn.Success (MQTT), Sum per 5 min (in plan 'fleet')",
        f"{TABLE} (stack IotWatch-Fleet)",
        f"{METHOD}, version 7",
        "2025-11-24 00:00 to 2025-12-04 00:00 UTC (10.0 days)",
        "built at     2025-12-04 01:00 UTC",
        "2,880 of 2,880 periods (100%)",
        f"fleet level  {baseline.level:.3f}",
        "72 hour-of-week, 96 weekday-hour",
        "expected ± 4 x scale (warning; critical at 7 x)",
        "2 period(s) in a row",
    ):
        assert fact in text, fact


def test_text_fits_a_120_column_terminal(learned):
    series, baseline = learned
    for text in (render(series, baseline, now=FAKES_MONDAY + 3 * 3600), render(series, mixed_baseline())):
        assert max(len(line) for line in text.splitlines()) <= 120


def test_the_grid_has_every_hour_of_the_week_with_its_band_and_source(learned):
    series, baseline = learned
    text = render(series, baseline)
    rows = grid_rows(text)
    assert len(rows) == 21  # 7 days x 3 blocks of 8 hours
    bands = hour_bands(baseline, series.detection.warning)
    cells = {}
    for block, first_hour in enumerate((0, 8, 16)):
        for day in range(7):
            row = rows[block * 7 + day]
            assert row.startswith(DAY_NAMES[day])
            found = re.findall(r"[ *]\s*(\S+)±(\S+)\s+([WKDG-])", row[4:])
            assert len(found) == 8, row
            for offset, cell in enumerate(found):
                cells[day * 24 + first_hour + offset] = cell
    assert sorted(cells) == list(range(HOURS_PER_WEEK))
    for how, (expected, half, letter) in cells.items():
        band = bands[how]
        assert expected == compact(band.expected)
        assert half == compact(band.upper - band.expected)
        assert letter == SOURCE_LETTERS[band.source]
    assert Counter(letter for _, _, letter in cells.values()) == Counter(
        SOURCE_LETTERS[b.source] for b in baseline.buckets
    )


def test_every_source_has_its_letter_and_the_legend_explains_them():
    series = make_series()
    text = render(series, mixed_baseline())
    baseline = mixed_baseline()
    letters = Counter(letter for row in grid_rows(text) for letter in re.findall(r"±\S+\s+([WKDG-])", row))
    by_source = Counter(b.source for b in baseline.buckets)
    assert len(by_source) == len(SOURCE_LETTERS) == 5
    assert letters == {SOURCE_LETTERS[source]: count for source, count in by_source.items()}
    for name, letter in SOURCE_LETTERS.items():
        assert f"{letter} {name}:" in text
    assert ", ".join(f"{by_source[name]} {name}" for name in SOURCE_LETTERS) in text


def test_now_is_marked_once_in_its_hour(learned):
    series, baseline = learned
    now = FAKES_MONDAY + 7 * DAY + 1 * DAY + 14 * 3600 + 600  # a Tuesday, 14:10 UTC
    text = render(series, baseline, now=now)
    marked = [row for row in grid_rows(text) if "*" in row]
    assert len(marked) == 1 and marked[0].startswith("Tue")
    assert "* now (Tue 14:10 UTC)" in text
    assert "*" not in "".join(grid_rows(render(series, baseline)))


def test_a_series_outside_the_plan_says_so(learned):
    series, baseline = learned
    assert "not in plan 'fleet': band at the plan's default sensitivity" in render(
        series, baseline, in_plan=False
    )


def test_a_baseline_without_datapoints_says_nothing_pages():
    empty = Baseline(
        series_id="AWS/IoT|RulesExecuted|",
        version=1,
        method=METHOD,
        period=PERIOD,
        trained_from=FAKES_MONDAY - 14 * DAY,
        trained_to=FAKES_MONDAY,
        built_at=FAKES_MONDAY,
        datapoints=0,
        buckets=tuple(Bucket(0.0, 0.0, 0, "none") for _ in range(HOURS_PER_WEEK)),
    )
    text = render(make_series("RulesExecuted", ()), empty)
    assert "the series is learning, nothing pages" in text
    assert "168 none" in text


# --- JSON -----------------------------------------------------------------------------------------


def test_json_has_the_same_facts_and_168_hours(learned):
    series, baseline = learned
    document = render_json(
        BaselineView(baseline, series, in_plan=True, plan_name="fleet", table=TABLE, stack="IotWatch-Fleet")
    )
    document = json.loads(json.dumps(document))  # serialisable as it is
    assert document["series_id"] == series.id
    assert (document["method"], document["version"], document["period"]) == (METHOD, 7, PERIOD)
    assert (document["trained_from"], document["trained_to"]) == (
        "2025-11-24T00:00:00Z",
        "2025-12-04T00:00:00Z",
    )
    assert document["built_at"] == "2025-12-04T01:00:00Z"
    assert (document["datapoints"], document["training_periods"]) == (2880, 2880)
    assert document["level"] == baseline.level
    assert document["sensitivity"] == {"warning": 4.0, "critical": 7.0}
    assert document["sources"] == {"hour-of-week": 72, "weekday-hour": 96}
    assert (document["table"], document["stack"]) == (TABLE, "IotWatch-Fleet")
    hours = document["hours"]
    assert len(hours) == HOURS_PER_WEEK
    for entry, band in zip(hours, hour_bands(baseline, 4.0), strict=True):
        assert entry == {
            "hour_of_week": band.hour_of_week,
            "day": band.day,
            "hour": band.hour,
            "expected": band.expected,
            "lower": band.lower,
            "upper": band.upper,
            "scale": band.scale,
            "source": band.source,
            "samples": band.samples,
            "spread": band.spread,
        }


# --- a missing baseline ---------------------------------------------------------------------------


def test_missing_names_the_series_and_table_and_suggests_close_ones():
    existing = [
        "AWS/IoT|Connect.Success|Protocol=MQTT",
        "AWS/IoT|PublishIn.Success|Protocol=MQTT",
        "AWS/IoT|RulesExecuted|",
    ]
    text = missing_message("AWS/IoT|Connect.Success|", TABLE, existing, more=False)
    assert text.startswith(f"error: no baseline for series AWS/IoT|Connect.Success| in table {TABLE}.")
    assert "iotwatch baseline show Connect.Success --dimension Protocol=MQTT" in text
    for sid in existing:
        assert f"  {sid}" in text


def test_missing_in_an_empty_table_explains_when_baselines_appear():
    text = missing_message("AWS/IoT|RulesExecuted|", TABLE, [], more=False)
    assert "holds no baselines yet" in text


def test_missing_lists_at_most_twenty():
    existing = [f"AWS/IoT|M{i:02d}|" for i in range(30)]
    text = missing_message("AWS/IoT|X|", TABLE, existing, more=True)
    assert "(first ones)" in text
    assert "AWS/IoT|M19|" in text and "AWS/IoT|M20|" not in text


# --- the command, against in-memory clients -------------------------------------------------------


class FakeDynamo:
    """The three DynamoDB calls the command and DynamoStateStore make, on a dict."""

    def __init__(self, table: str, *, page: int = 2) -> None:
        self.table = table
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.page = page
        self.scans = 0

    def _check(self, name: str) -> None:
        if name != self.table:
            raise ClientError(
                {"Error": {"Code": "ResourceNotFoundException", "Message": "Requested resource not found"}},
                "x",
            )

    def put_item(self, TableName: str, Item: dict[str, Any], **_: Any) -> None:
        self._check(TableName)
        self.items[(Item["pk"]["S"], Item["sk"]["S"])] = Item

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        ((name, request),) = RequestItems.items()
        self._check(name)
        found = [
            self.items[(k["pk"]["S"], k["sk"]["S"])]
            for k in request["Keys"]
            if (k["pk"]["S"], k["sk"]["S"]) in self.items
        ]
        return {"Responses": {name: found}, "UnprocessedKeys": {}}

    def scan(
        self, TableName: str, ExclusiveStartKey: dict[str, Any] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        self._check(TableName)
        self.scans += 1
        wanted = kwargs["ExpressionAttributeValues"][":b"]["S"]
        keys = sorted(self.items)
        begin = (
            keys.index((ExclusiveStartKey["pk"]["S"], ExclusiveStartKey["sk"]["S"])) + 1
            if ExclusiveStartKey
            else 0
        )
        chunk = keys[begin : begin + self.page]
        response: dict[str, Any] = {"Items": [{"pk": {"S": pk}} for pk, sk in chunk if sk == wanted]}
        if begin + self.page < len(keys):
            response["LastEvaluatedKey"] = {"pk": {"S": chunk[-1][0]}, "sk": {"S": chunk[-1][1]}}
        return response


class FakeCloudFormation:
    def __init__(self, stacks: dict[str, dict[str, str]]) -> None:
        self.stacks = stacks

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        if StackName not in self.stacks:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ValidationError",
                        "Message": f"Stack with id {StackName} does not exist",
                    }
                },
                "DescribeStacks",
            )
        outputs = [{"OutputKey": k, "OutputValue": v} for k, v in self.stacks[StackName].items()]
        return {"Stacks": [{"StackName": StackName, "Outputs": outputs}]}


@pytest.fixture
def aws(monkeypatch, learned):
    """Fake clients behind iotwatch.adapters.aws.client, with the learned baseline and a STATE item stored."""
    series, baseline = learned
    dynamodb = FakeDynamo(TABLE)
    store = DynamoStateStore(dynamodb, TABLE)
    store.baselines.put_baseline(baseline)
    store.baselines.put_baseline(mixed_baseline("AWS/IoT|Connect.Success|Protocol=MQTT"))
    store.baselines.put_baseline(mixed_baseline("AWS/IoT|RulesExecuted|"))
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": f"SERIES#{series.id}"}, "sk": {"S": "STATE"}})
    clients = {
        "dynamodb": dynamodb,
        "cloudformation": FakeCloudFormation(
            {"IotWatch-Fleet": {"TableName": TABLE, "TopicOncallEmailArn": "arn:x"}, "Other": {"Foo": "bar"}}
        ),
    }
    monkeypatch.setattr("iotwatch.adapters.aws.client", lambda service: clients[service])
    monkeypatch.setattr(baseline_show, "clock", lambda: FAKES_MONDAY + 7 * DAY + 14 * 3600)
    return clients


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["baseline", "show", *argv, "--plan", str(DEFAULT_PLAN_FILE)], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_show_by_table_prints_the_baseline(aws, learned):
    series, baseline = learned
    code, out, err = run("PublishIn.Success", "--dimension", "Protocol=MQTT", "--table", TABLE)
    assert (code, err) == (0, "")
    stored = Baseline.from_record(baseline.to_record())
    (planned,) = [s for s in expand_series(load_plan(DEFAULT_PLAN_FILE, environ={})) if s.id == series.id]
    assert out == render(planned, stored, stack=None, now=FAKES_MONDAY + 7 * DAY + 14 * 3600) + "\n"


def test_show_finds_the_table_from_the_plans_stack_by_default(aws, learned):
    series, baseline = learned
    code, out, err = run("PublishIn.Success", "--dimension", "Protocol=MQTT")
    assert (code, err) == (0, "")
    assert f"{TABLE} (stack IotWatch-Fleet)" in out
    code, out, err = run(
        "PublishIn.Success", "--dimension", "Protocol=MQTT", "--stack", "IotWatch-Fleet", "--json"
    )
    assert code == 0
    document = json.loads(out)
    stored = Baseline.from_record(baseline.to_record())  # what the table holds (rounded figures)
    expected = render_json(
        BaselineView(stored, series, in_plan=True, plan_name="fleet", table=TABLE, stack="IotWatch-Fleet")
    )
    assert document == json.loads(json.dumps(expected))


def test_show_a_missing_series_lists_what_the_table_has(aws):
    code, out, err = run("Connect.Success", "--table", TABLE)
    assert (code, out) == (2, "")
    assert f"no baseline for series AWS/IoT|Connect.Success| in table {TABLE}" in err
    assert "iotwatch baseline show Connect.Success --dimension Protocol=MQTT" in err
    assert "  AWS/IoT|RulesExecuted|" in err
    assert "STATE" not in err
    assert aws["dynamodb"].scans >= 2, "the scan followed LastEvaluatedKey"


def test_show_an_unknown_stack_or_table_or_one_without_output(aws):
    code, out, err = run("RulesExecuted", "--stack", "Nope")
    assert (code, out) == (2, "")
    assert "stack Nope not found" in err
    code, out, err = run("RulesExecuted", "--stack", "Other")
    assert (code, out) == (2, "")
    assert "has no TableName output" in err
    code, out, err = run("RulesExecuted", "--table", "missing-table")
    assert (code, out) == (2, "")
    assert "table missing-table does not exist" in err


def test_show_without_credentials_fails_with_exit_1(monkeypatch):
    def no_credentials(service: str) -> Any:
        raise NoCredentialsError()

    monkeypatch.setattr("iotwatch.adapters.aws.client", no_credentials)
    code, out, err = run("RulesExecuted", "--table", TABLE)
    assert (code, out) == (1, "")
    assert "no AWS credentials: set AWS_PROFILE" in err  # what to do, not botocore's words


def test_show_refuses_bad_arguments(aws, capsys):
    code, out, err = run("RulesExecuted", "--dimension", "Protocol", "--table", TABLE)
    assert (code, out) == (2, "")
    assert "NAME=VALUE" in err
    with pytest.raises(SystemExit) as exited:
        run("RulesExecuted", "--table", TABLE, "--stack", "IotWatch-Fleet")
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_show_with_a_bad_plan_exits_2(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text("goals: []\n", encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["baseline", "show", "RulesExecuted", "--table", TABLE, "--plan", str(plan)], out=out, err=err
    )
    assert (code, out.getvalue()) == (2, "")
    assert str(plan) in err.getvalue()


def test_training_exclusions_inside_the_window_are_shown(learned, tmp_path, aws):
    series, baseline = learned
    inside = (FAKES_MONDAY + 2 * DAY, FAKES_MONDAY + 2 * DAY + 7200, "firmware rollout")
    outside = (FAKES_MONDAY - 30 * DAY, FAKES_MONDAY - 29 * DAY, "last month")
    text = render(series, baseline, exclusions=[inside, outside])
    assert "excluded     2025-11-26 00:00 to 2025-11-26 02:00 UTC: firmware rollout" in text
    assert "last month" not in text
    document = render_json(
        BaselineView(
            baseline, series, in_plan=True, plan_name="fleet", table=TABLE, exclusions=[inside, outside]
        )
    )
    assert document["excluded_from_training"] == [
        {"start": "2025-11-26T00:00:00Z", "end": "2025-11-26T02:00:00Z", "reason": "firmware rollout"}
    ]
    # and from the plan, through the command
    import yaml

    data = yaml.safe_load(DEFAULT_PLAN_FILE.read_text(encoding="utf-8"))
    data["detection"]["exclude_from_training"] = [
        {"start": "2025-11-26T00:00:00Z", "end": "2025-11-26T02:00:00Z", "reason": "firmware rollout"}
    ]
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(data), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    argv = ["baseline", "show", "PublishIn.Success", "--dimension", "Protocol=MQTT", "--table", TABLE]
    assert main([*argv, "--plan", str(plan)], out=out, err=err) == 0, err.getvalue()
    assert "firmware rollout (the plan's exclude_from_training)" in out.getvalue()


def test_a_share_shows_its_expected_share_in_percent_and_how_it_is_judged(default_series):
    """A share's baseline: no fleet level, gaps skipped, the grid in percent (0.2 %, not 0)."""
    [share] = [s for s in default_series if s.metric == "Connect.AuthErrorRate"]
    text = render(share, flat_share_baseline(share.id))
    assert "Connect.AuthErrorRate (MQTT), % of connection attempts per 5 min" in text
    assert "a period with fewer than 100 connection attempts has no share and is skipped" in text
    assert "fleet level  none: a share does not grow with the fleet" in text
    assert "and >= 20 AuthError failed, beyond chance for the attempts" in text
    assert all(row.split()[1].startswith("0.2±") for row in grid_rows(text))
