"""`iotwatch silence add | list | remove`: parsing and validation, the store's silence items,
the rendering, and the commands against in-memory AWS clients (network off)."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any

import iotwatch.adapters.aws  # noqa: F401  (boto3's first import probes IPv6 with a socket: do it at collection)
import pytest
from botocore.exceptions import ClientError, NoCredentialsError
from iotwatch.adapters.store.silences import SILENCE_PK, SILENCE_TTL_SECONDS
from iotwatch.adapters.store.state_store import DynamoStateStore
from iotwatch.domain.silences import Silence, silence_for

from iotwatch_cli import silence as cli
from iotwatch_cli.main import main
from iotwatch_cli.silence import (
    SilenceError,
    build_silence,
    new_silence_id,
    parse_dimensions,
    parse_duration,
    parse_instant,
    plan_warnings,
    render_table,
)

from .conftest import DEFAULT_PLAN_FILE

TABLE = "IotWatch-Fleet-BaselineTable-ABC123"
NOW = int(datetime(2026, 11, 16, 14, 10, tzinfo=UTC).timestamp())  # a Monday
HOUR = 3600


def add(**overrides: Any) -> Silence:
    args: dict[str, Any] = {
        "metric": "Connect.Success",
        "dimensions": [],
        "until": None,
        "duration": "2h",
        "reason": "broker upgrade",
        "starts": None,
        "by": "alice",
        "now": NOW,
    }
    args.update(overrides)
    return build_silence(**args)


# --- parsing and validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2h", 7200),
        ("90m", 5400),
        ("30min", 1800),
        ("1h30m", 5400),
        ("1d", 86400),
        ("1d12h", 129600),
        ("2H", 7200),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2", "h", "2 hours", "-1h", "0m", "1.5h"])
def test_bad_durations_say_how_to_write_one(text: str) -> None:
    with pytest.raises(SilenceError, match="--for"):
        parse_duration(text)


def test_instants_are_utc_unless_an_offset_is_given() -> None:
    assert parse_instant("2026-11-16T14:10:00Z", "--until") == NOW
    assert parse_instant("2026-11-16T14:10", "--until") == NOW
    assert parse_instant("2026-11-16T15:10+01:00", "--until") == NOW
    with pytest.raises(SilenceError, match=r"--starts 'tomorrow': not an ISO 8601 time"):
        parse_instant("tomorrow", "--starts")


def test_dimensions_are_parsed_and_checked() -> None:
    assert parse_dimensions(["Protocol=MQTT", " RuleName = r1 "]) == {"Protocol": "MQTT", "RuleName": "r1"}
    for bad in ("Protocol", "=MQTT", "Protocol="):
        with pytest.raises(SilenceError, match="use NAME=VALUE"):
            parse_dimensions([bad])
    with pytest.raises(SilenceError, match="given twice"):
        parse_dimensions(["Protocol=MQTT", "Protocol=HTTP"])


def test_a_silence_from_arguments() -> None:
    silence = add(dimensions=["Protocol=MQTT"], reason="  broker\n upgrade  CHG-1 ")
    assert re.fullmatch(r"s-[0-9a-f]{8}", silence.id)
    assert (silence.starts, silence.ends) == (NOW, NOW + 2 * HOUR)
    assert silence.metrics == ("Connect.Success",)
    assert silence.dimensions == {"Protocol": "MQTT"}
    assert silence.reason == "broker upgrade CHG-1"
    assert (silence.created_by, silence.created_at) == ("alice", NOW)


def test_for_counts_from_starts_and_until_is_absolute() -> None:
    later = add(starts="2026-11-16T18:00Z", duration="1h")
    assert later.ends - later.starts == HOUR
    assert later.starts == NOW + 3 * HOUR + 50 * 60
    fixed = add(duration=None, until="2026-11-16T16:00Z")
    assert fixed.ends == NOW + HOUR + 50 * 60


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"duration": None, "until": "2026-11-16T14:00Z"}, "is in the past"),
        (
            {"duration": None, "until": "2026-11-16T15:00Z", "starts": "2026-11-16T16:00Z"},
            "is not after --starts",
        ),
        ({"reason": "   "}, "--reason is empty"),
        ({"metric": " "}, "--metric is empty"),
        ({"dimensions": ["MQTT"]}, "use NAME=VALUE"),
        ({"duration": None}, "give --until TIME or --for DURATION"),
    ],
)
def test_invalid_silences_say_what_to_fix(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(SilenceError, match=message):
        add(**overrides)


def test_ids_are_short_and_distinct() -> None:
    ids = {new_silence_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 10 for i in ids)


def test_warnings_for_globs_and_dimensions_the_plan_does_not_have(default_series) -> None:
    assert plan_warnings(add(metric="Connect.*"), default_series) == []
    assert plan_warnings(add(metric="*", dimensions=["Protocol=MQTT"]), default_series) == []
    (nothing,) = plan_warnings(add(metric="connect.success"), default_series)
    assert "matches no series of the plan" in nothing and "case-sensitive" in nothing
    (protocol,) = plan_warnings(add(dimensions=["Protocol=HTTP"]), default_series)
    assert "Protocol=HTTP" in protocol and "plan: MQTT" in protocol
    (rule,) = plan_warnings(add(dimensions=["RuleName=r1"]), default_series)
    assert "has a dimension RuleName" in rule
    (long,) = plan_warnings(add(duration="10d"), default_series)
    assert "maintenance_windows" in long


def test_a_stored_silence_is_what_the_shared_model_applies(default_series) -> None:
    silence = add(metric="Connect.*", dimensions=["Protocol=MQTT"])
    connect = next(s for s in default_series if s.metric == "Connect.Success")
    rules = next(s for s in default_series if s.metric == "RulesExecuted")
    assert silence_for(connect, NOW + 60, silences=[silence]) == silence
    assert silence_for(rules, NOW + 60, silences=[silence]) is None
    assert silence_for(connect, NOW + 2 * HOUR, silences=[silence]) is None  # ends is exclusive


# --- the store ---------------------------------------------------------------------------------


class FakeDynamo:
    """put_item, delete_item and a paginated query (with the `ends > :now` filter) on a dict."""

    def __init__(self, table: str, *, page: int = 2) -> None:
        self.table = table
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.page = page
        self.queries: list[dict[str, Any]] = []

    def _check(self, name: str) -> None:
        if name != self.table:
            raise ClientError(
                {"Error": {"Code": "ResourceNotFoundException", "Message": "Requested resource not found"}},
                "x",
            )

    def put_item(self, TableName: str, Item: dict[str, Any], **_: Any) -> None:
        self._check(TableName)
        self.items[(Item["pk"]["S"], Item["sk"]["S"])] = Item

    def delete_item(self, TableName: str, Key: dict[str, Any], ReturnValues: str = "NONE") -> dict[str, Any]:
        self._check(TableName)
        old = self.items.pop((Key["pk"]["S"], Key["sk"]["S"]), None)
        return {"Attributes": old} if old and ReturnValues == "ALL_OLD" else {}

    def query(self, TableName: str, **request: Any) -> dict[str, Any]:
        self._check(TableName)
        self.queries.append(request)
        values = request["ExpressionAttributeValues"]
        assert request["KeyConditionExpression"] == "pk = :pk"
        keys = sorted(k for k in self.items if k[0] == values[":pk"]["S"])
        start = request.get("ExclusiveStartKey")
        begin = keys.index((start["pk"]["S"], start["sk"]["S"])) + 1 if start else 0
        chunk = keys[begin : begin + self.page]
        items = [self.items[k] for k in chunk]
        if request.get("FilterExpression"):
            assert request["FilterExpression"] == "ends > :now"
            items = [i for i in items if int(i["ends"]["N"]) > int(values[":now"]["N"])]
        response: dict[str, Any] = {"Items": items}
        if begin + self.page < len(keys):
            response["LastEvaluatedKey"] = {"pk": {"S": chunk[-1][0]}, "sk": {"S": chunk[-1][1]}}
        return response


def silence(sid: str, starts: int, ends: int, **extra: Any) -> Silence:
    return Silence(
        id=sid, starts=starts, ends=ends, reason=f"reason {sid}", created_by="bob", created_at=NOW, **extra
    )


def test_store_round_trips_silences_with_a_ttl_a_month_after_the_end() -> None:
    db = FakeDynamo(TABLE)
    store = DynamoStateStore(db, TABLE)
    original = silence(
        "s-00000001", NOW, NOW + HOUR, metrics=("Connect.*", "Ping.*"), dimensions={"Protocol": "MQTT"}
    )
    store.silences.put_silence(original)
    item = db.items[(SILENCE_PK, "s-00000001")]
    assert int(item["expires_at"]["N"]) == NOW + HOUR + SILENCE_TTL_SECONDS == NOW + HOUR + 30 * 86400
    assert store.silences.list_silences(now=NOW) == [original]


def test_an_incident_silence_names_the_incident_and_matches_no_series(default_series) -> None:
    held = add(metric=None, incident="#261116-1305")
    assert (held.incident, held.metrics, dict(held.dimensions)) == ("261116-1305", (), {})
    assert not any(held.matches(s) for s in default_series)
    with pytest.raises(SilenceError, match="incident ids look like 261116-1305"):
        add(metric=None, incident="i-42")
    with pytest.raises(SilenceError, match="an --incident silence takes none"):
        add(metric=None, incident="261116-1305", dimensions=["Protocol=MQTT"])
    db = FakeDynamo(TABLE)
    store = DynamoStateStore(db, TABLE)
    store.silences.put_silence(held)
    assert store.silences.list_silences(now=NOW) == [held]
    assert render_table([held], now=NOW).splitlines()[1].split()[:4] == [
        held.id,
        "active",
        "incident",
        "261116-1305",
    ]


def test_store_lists_active_and_future_in_one_paginated_query_and_all_on_request() -> None:
    db = FakeDynamo(TABLE, page=2)
    store = DynamoStateStore(db, TABLE)
    expired = silence("s-0000000a", NOW - 3 * HOUR, NOW - HOUR)
    active = silence("s-0000000b", NOW - HOUR, NOW + HOUR)
    future = silence("s-0000000c", NOW + HOUR, NOW + 2 * HOUR)
    just_ended = silence("s-0000000d", NOW - HOUR, NOW)
    for s in (future, expired, just_ended, active):
        store.silences.put_silence(s)
    store.table.requests = 0
    assert store.silences.list_silences(now=NOW) == [active, future]
    assert store.requests == len(db.queries) == 2  # 4 items, 2 per page: one Query, two pages
    assert all(q["ConsistentRead"] for q in db.queries)
    assert store.silences.list_silences(now=NOW, include_expired=True) == [
        expired,
        just_ended,
        active,
        future,
    ]


def test_store_delete_says_whether_there_was_one() -> None:
    store = DynamoStateStore(FakeDynamo(TABLE), TABLE)
    store.silences.put_silence(silence("s-00000001", NOW, NOW + HOUR))
    assert store.silences.delete_silence("s-00000001") is True
    assert store.silences.delete_silence("s-00000001") is False
    assert store.silences.list_silences(now=NOW, include_expired=True) == []


# --- rendering ---------------------------------------------------------------------------------


def test_the_table_is_aligned_and_says_when_each_ends() -> None:
    rows = [
        silence("s-0000000a", NOW - 3 * HOUR, NOW - HOUR),
        silence(
            "s-0000000b",
            NOW - HOUR,
            NOW + HOUR + 20 * 60,
            metrics=("Connect.*",),
            dimensions={"Protocol": "MQTT"},
        ),
        Silence(id="s-0000000c", starts=NOW + HOUR, ends=NOW + 2 * HOUR, reason="x" * 80, created_by="carol"),
        silence("s-0000000d", NOW, NOW + 2 * 86400),
    ]
    lines = render_table(rows, now=NOW).splitlines()
    assert lines[0].split() == [
        "ID",
        "STATUS",
        "METRIC",
        "DIMENSIONS",
        "FROM",
        "(UTC)",
        "UNTIL",
        "REASON",
        "BY",
    ]
    starts = [line.index("s-") for line in lines[1:]]
    assert starts == [0, 0, 0, 0]
    by_column = lines[0].index("BY")
    assert [line[by_column:].strip() for line in lines[1:]] == ["bob", "bob", "carol", "bob"]
    assert "expired" in lines[1] and "ended 1 h ago (13:10)" in lines[1]
    assert "active" in lines[2] and "in 1 h 20 min (15:30)" in lines[2] and "Protocol=MQTT" in lines[2]
    assert "future" in lines[3] and "2026-11-16 15:10" in lines[3] and "(any)" in lines[3]
    assert "x" * 45 + "..." in lines[3] and "x" * 49 not in lines[3]
    assert "in 2 d (11-18 14:10)" in lines[4]  # another day: the date too


# --- the commands, against in-memory clients ------------------------------------------------


class FakeCloudFormation:
    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        if StackName != "IotWatch-Fleet":
            raise ClientError(
                {
                    "Error": {
                        "Code": "ValidationError",
                        "Message": f"Stack with id {StackName} does not exist",
                    }
                },
                "DescribeStacks",
            )
        return {
            "Stacks": [
                {"StackName": StackName, "Outputs": [{"OutputKey": "TableName", "OutputValue": TABLE}]}
            ]
        }


@pytest.fixture
def aws(monkeypatch) -> FakeDynamo:
    dynamodb = FakeDynamo(TABLE)
    clients = {"dynamodb": dynamodb, "cloudformation": FakeCloudFormation()}
    monkeypatch.setattr("iotwatch.adapters.aws.client", lambda service: clients[service])
    monkeypatch.setattr(cli, "clock", lambda: NOW)
    return dynamodb


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([*argv, "--plan", str(DEFAULT_PLAN_FILE)], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_add_list_remove_through_the_plans_stack(aws: FakeDynamo) -> None:
    code, out, err = run(
        "silence", "add", "--metric", "Connect.*", "--dimension", "Protocol=MQTT", "--for", "1h20m",
        "--reason", "broker upgrade CHG-1234", "--by", "alice",
    )  # fmt: skip
    assert (code, err) == (0, "")
    silence_id = re.search(r"Added silence (s-[0-9a-f]{8}) in " + TABLE, out).group(1)  # type: ignore[union-attr]
    assert (
        "covers      3 series of the plan: Connect.Success (MQTT), Connect.AuthErrorRate (MQTT), "
        "Connect.ThrottleRate (MQTT)" in out
    )
    assert f"iotwatch silence remove {silence_id}" in out

    code, out, err = run("silence", "list")
    assert code == 0
    _header, row = out.splitlines()
    assert row.split()[:4] == [silence_id, "active", "Connect.*", "Protocol=MQTT"]
    assert "in 1 h 20 min" in row and "broker upgrade CHG-1234" in row and row.endswith("alice")

    code, out, err = run("silence", "remove", silence_id)
    assert (code, err) == (0, "")
    assert f"Removed silence {silence_id}" in out
    assert run("silence", "list") == (0, f"No active or future silences in {TABLE}.\n", "")


def test_add_warns_about_a_metric_the_plan_does_not_watch_but_stores_it(aws: FakeDynamo) -> None:
    code, out, err = run("silence", "add", "--metric", "PublishIn.Throttle", "--until", "2026-11-16T18:00Z",
                         "--reason", "known", "--table", TABLE)  # fmt: skip
    assert code == 0
    assert "warning: metric 'PublishIn.Throttle' matches no series of the plan" in err
    assert "covers      0 series of the plan\n" in out
    assert len(aws.items) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--until", "2026-11-16T12:00Z", "--reason", "r"], "is in the past"),
        (
            ["--until", "2026-11-16T18:00Z", "--starts", "2026-11-16T19:00Z", "--reason", "r"],
            "not after --starts",
        ),
        (["--for", "2h", "--reason", ""], "--reason is empty"),
        (["--for", "2h", "--reason", "r", "--dimension", "MQTT"], "use NAME=VALUE"),
        (["--for", "soon", "--reason", "r"], "write a duration"),
    ],
)
def test_add_rejects_bad_input_with_exit_2_and_stores_nothing(
    aws: FakeDynamo, argv: list[str], message: str
) -> None:
    code, out, err = run("silence", "add", "--metric", "Connect.Success", *argv)
    assert code == 2 and out == ""
    assert message in err
    assert aws.items == {}


def test_add_needs_until_or_for(aws: FakeDynamo, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run("silence", "add", "--metric", "Connect.Success", "--reason", "r")
    assert exc.value.code == 2
    assert "one of the arguments --until --for is required" in capsys.readouterr().err


def test_list_all_includes_ended_ones(aws: FakeDynamo) -> None:
    store = DynamoStateStore(aws, TABLE)
    store.silences.put_silence(silence("s-0000000a", NOW - 3 * HOUR, NOW - HOUR))
    assert run("silence", "list")[1] == f"No active or future silences in {TABLE}.\n"
    code, out, _ = run("silence", "list", "--all")
    assert code == 0 and "s-0000000a  expired" in out


def test_remove_unknown_or_malformed_ids(aws: FakeDynamo) -> None:
    code, _, err = run("silence", "remove", "s-deadbeef")
    assert code == 2 and "no silence s-deadbeef in " + TABLE in err
    code, _, err = run("silence", "remove", "connect")
    assert code == 2 and "is not a silence id" in err


def test_unknown_stack_or_table(aws: FakeDynamo) -> None:
    code, _, err = run("silence", "list", "--stack", "Nope")
    assert code == 2 and "stack Nope not found" in err
    code, _, err = run("silence", "list", "--table", "missing")
    assert code == 2 and "table does not exist" in err


def test_without_credentials_exit_1(monkeypatch) -> None:
    def no_credentials(service: str) -> Any:
        class Client:
            def __getattr__(self, name: str) -> Any:
                def call(**_: Any) -> Any:
                    raise NoCredentialsError()

                return call

        return Client()

    monkeypatch.setattr("iotwatch.adapters.aws.client", no_credentials)
    code, _, err = run("silence", "list", "--table", TABLE)
    assert code == 1 and "no AWS credentials: set AWS_PROFILE" in err
