"""The AWS adapters against botocore's Stubber: request shapes, paging, limits, locking."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from datetime import UTC, datetime

import boto3
import pytest
import pytest_socket
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber
from iotwatch.adapters.cloudwatch import CloudWatchMetricReader
from iotwatch.adapters.notifier import SnsNotifier, UnknownTopicError
from iotwatch.adapters.store import table as store_table
from iotwatch.adapters.store.state_store import DynamoStateStore
from iotwatch.domain.deviation import AlertState
from iotwatch.domain.messages.model import RenderedMessage
from iotwatch.domain.metric_calls import MAX_DATAPOINTS_PER_CALL, MAX_QUERIES_PER_CALL, plan_batches

from .fakes import DAY, MONDAY, PERIOD, flat_baseline, make_series

TABLE = "iotwatch-fleet-state"


def aws(service):
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def recorded_params(client, operation):
    """Every parameter dict the client is asked to send for `operation`."""
    seen = []
    client.meta.events.register(
        f"before-parameter-build.{client.meta.service_model.service_id.hyphenize()}.{operation}",
        lambda params, **_: seen.append(json.loads(json.dumps(params, default=str))),
    )
    return seen


@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_the_network_is_off_in_unit_tests():
    with pytest.raises(pytest_socket.SocketBlockedError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)


def utc(ts):
    return datetime.fromtimestamp(ts, UTC)


# --- CloudWatch ------------------------------------------------------------------------------

CONNECT = make_series("Connect.Success")
PING = make_series("Ping.Success")
RULES = make_series("RulesExecuted", ())
START, END = MONDAY, MONDAY + 4 * PERIOD


def query(query_id, metric, dimensions):
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {"Namespace": "AWS/IoT", "MetricName": metric, "Dimensions": dimensions},
            "Period": PERIOD,
            "Stat": "Sum",
        },
        "ReturnData": True,
    }


def result(query_id, points, status="Complete"):
    return {
        "Id": query_id,
        "Label": query_id,
        "Timestamps": [utc(ts) for ts, _ in points],
        "Values": [v for _, v in points],
        "StatusCode": status,
    }


def test_reader_sends_explicit_dimensions_in_one_call():
    cloudwatch = aws("cloudwatch")
    reader = CloudWatchMetricReader(cloudwatch)
    with Stubber(cloudwatch) as stub:
        stub.add_response(
            "get_metric_data",
            {
                "MetricDataResults": [
                    result("m0", [(START, 5.0), (START + PERIOD, 6.0)]),
                    result("m1", []),
                    result("m2", [(START + 3 * PERIOD, 9.0)]),
                ]
            },
            expected_params={
                "MetricDataQueries": [
                    query("m0", "Connect.Success", [{"Name": "Protocol", "Value": "MQTT"}]),
                    query("m1", "Ping.Success", [{"Name": "Protocol", "Value": "MQTT"}]),
                    # published without dimensions: asked for with none, not "any"
                    query("m2", "RulesExecuted", []),
                ],
                "StartTime": utc(START),
                "EndTime": utc(END),
                "ScanBy": "TimestampAscending",
            },
        )
        data = reader.read([CONNECT, PING, RULES], start=START, end=END)
        stub.assert_no_pending_responses()
    assert reader.calls == 1
    assert data == {
        CONNECT.id: [(START, 5.0), (START + PERIOD, 6.0)],
        PING.id: [],
        RULES.id: [(START + 3 * PERIOD, 9.0)],
    }


def test_reader_follows_next_token_and_merges_partial_pages():
    cloudwatch = aws("cloudwatch")
    reader = CloudWatchMetricReader(cloudwatch)
    base_request = {
        "MetricDataQueries": ANY,
        "StartTime": utc(START),
        "EndTime": utc(END),
        "ScanBy": "TimestampAscending",
    }
    with Stubber(cloudwatch) as stub:
        stub.add_response(
            "get_metric_data",
            {
                "MetricDataResults": [
                    result("m0", [(START, 10.0), (START + PERIOD, 11.0)], "PartialData"),
                    result("m1", [(START, 1.0)], "PartialData"),
                ],
                "NextToken": "page-2",
            },
            expected_params=base_request,
        )
        stub.add_response(
            "get_metric_data",
            {
                "MetricDataResults": [
                    result("m0", [(START + 2 * PERIOD, 12.0), (START + 3 * PERIOD, 13.0)]),
                    result("m1", [(START + 3 * PERIOD, 4.0)]),
                ]
            },
            expected_params={**base_request, "NextToken": "page-2"},
        )
        data = reader.read([CONNECT, PING], start=START, end=END)
        stub.assert_no_pending_responses()
    assert reader.calls == 2
    # all four of Connect's periods, none taken as a zero because the first page stopped early
    assert data[CONNECT.id] == [(START + i * PERIOD, 10.0 + i) for i in range(4)]
    assert data[PING.id] == [(START, 1.0), (START + 3 * PERIOD, 4.0)]


@pytest.mark.parametrize("status", ["InternalError", "Forbidden"])
def test_reader_does_not_turn_a_failed_query_into_zero_traffic(status):
    """GetMetricData reports a failed query with StatusCode InternalError/Forbidden and no
    values. Returning an empty list for it reads, one layer up, as a dead series (every period
    0), and pages on-call with a fleet-wide drop that never happened. The read must fail."""
    cloudwatch = aws("cloudwatch")
    with Stubber(cloudwatch) as stub:
        for _ in range(5):  # room for a fix that retries before giving up
            stub.add_response(
                "get_metric_data",
                {"MetricDataResults": [result("m0", [(START, 5.0)]), result("m1", [], status)]},
            )
        with pytest.raises(Exception) as raised:  # the kind of error is the fix's choice
            CloudWatchMetricReader(cloudwatch).read([CONNECT, PING], start=START, end=END)
    assert not isinstance(raised.value, AssertionError)  # includes running out of stubbed responses


def test_reader_drops_datapoints_outside_the_window():
    cloudwatch = aws("cloudwatch")
    with Stubber(cloudwatch) as stub:
        stub.add_response(
            "get_metric_data",
            {"MetricDataResults": [result("m0", [(START - PERIOD, 1.0), (START, 2.0), (END, 3.0)])]},
        )
        data = CloudWatchMetricReader(cloudwatch).read([CONNECT], start=START, end=END)
    assert data == {CONNECT.id: [(START, 2.0)]}


def test_reader_never_sends_more_than_500_queries_per_call():
    cloudwatch = aws("cloudwatch")
    sent = recorded_params(cloudwatch, "GetMetricData")
    series = [make_series(f"Metric{i}", namespace="Fleet/Devices") for i in range(1001)]
    reader = CloudWatchMetricReader(cloudwatch)
    with Stubber(cloudwatch) as stub:
        for _ in range(3):
            stub.add_response("get_metric_data", {"MetricDataResults": []})
        data = reader.read(series, start=START, end=END)
        stub.assert_no_pending_responses()
    assert [len(p["MetricDataQueries"]) for p in sent] == [500, 500, 1]
    assert reader.calls == 3
    queried = [q["MetricStat"]["Metric"]["MetricName"] for p in sent for q in p["MetricDataQueries"]]
    assert queried == [s.metric for s in series]
    assert all(len({q["Id"] for q in p["MetricDataQueries"]}) == len(p["MetricDataQueries"]) for p in sent)
    assert set(data) == {s.id for s in series}


def test_batches_for_fourteen_days_of_five_minute_data_hold_25_series():
    per_series = 14 * DAY // PERIOD  # 4,032 datapoints
    assert MAX_DATAPOINTS_PER_CALL // per_series == 25
    series = [make_series(f"M{i}", namespace="X") for i in range(60)]
    batches = plan_batches(series, start=MONDAY - 14 * DAY, end=MONDAY)
    assert [len(b) for b in batches] == [25, 25, 10]
    assert [s for b in batches for s in b] == series


def test_batches_for_an_evaluation_window_are_limited_by_queries():
    series = [make_series(f"M{i}", namespace="X") for i in range(1000)]
    batches = plan_batches(series, start=MONDAY, end=MONDAY + 4 * PERIOD)
    assert [len(b) for b in batches] == [MAX_QUERIES_PER_CALL, MAX_QUERIES_PER_CALL]


def test_batches_count_datapoints_per_series_period():
    one_minute = [make_series(f"F{i}", namespace="X", period=60) for i in range(10)]
    hourly = [make_series(f"H{i}", namespace="X", period=3600) for i in range(10)]
    start, end = MONDAY - 14 * DAY, MONDAY
    # 20,160 points per one-minute series: five fit in 100,800; hourly series add 336 each
    assert [len(b) for b in plan_batches(one_minute, start=start, end=end)] == [5, 5]
    assert [len(b) for b in plan_batches(hourly + one_minute, start=start, end=end)] == [14, 5, 1]


# --- DynamoDB --------------------------------------------------------------------------------------


def test_save_state_is_a_conditional_write_on_the_revision_it_read():
    dynamodb = aws("dynamodb")
    state = AlertState(
        series_id=CONNECT.id,
        status="firing",
        severity="critical",
        since=MONDAY,
        peak_score=-9.5,
        last_evaluated=MONDAY + 600,
        revision=7,
    )
    with Stubber(dynamodb) as stub:
        stub.add_response(
            "put_item",
            {},
            expected_params={
                "TableName": TABLE,
                "Item": {
                    "pk": {"S": f"SERIES#{CONNECT.id}"},
                    "sk": {"S": "STATE"},
                    "revision": {"N": "8"},
                    "status": {"S": "firing"},
                    "state": {"S": ANY},
                },
                "ConditionExpression": "attribute_not_exists(pk) OR revision = :seen",
                "ExpressionAttributeValues": {":seen": {"N": "7"}},
            },
        )
        assert DynamoStateStore(dynamodb, TABLE).series_state.save_state(state) is True
        stub.assert_no_pending_responses()


def test_save_state_returns_false_when_another_run_wrote_first():
    dynamodb = aws("dynamodb")
    with Stubber(dynamodb) as stub:
        stub.add_client_error(
            "put_item", service_error_code="ConditionalCheckFailedException", http_status_code=400
        )
        assert DynamoStateStore(dynamodb, TABLE).series_state.save_state(AlertState(series_id="s")) is False


def test_save_state_raises_other_errors():
    dynamodb = aws("dynamodb")
    with Stubber(dynamodb) as stub:
        stub.add_client_error("put_item", service_error_code="AccessDeniedException", http_status_code=400)
        with pytest.raises(ClientError):
            DynamoStateStore(dynamodb, TABLE).series_state.save_state(AlertState(series_id="s"))


def test_state_round_trips_through_the_item_it_writes():
    dynamodb = aws("dynamodb")
    written = recorded_params(dynamodb, "PutItem")
    store = DynamoStateStore(dynamodb, TABLE)
    state = AlertState(
        series_id=PING.id,
        status="firing",
        severity="warning",
        since=MONDAY,
        peak_score=-5.25,
        last_evaluated=MONDAY + 900,
        revision=3,
    )
    with Stubber(dynamodb) as stub:
        stub.add_response("put_item", {})
        store.series_state.save_state(state)
        item = written[0]["Item"]
        stub.add_response("batch_get_item", {"Responses": {TABLE: [item]}, "UnprocessedKeys": {}})
        states = store.series_state.get_states([PING.id])
    # the same state, at the revision the write stored (the next save must expect 4)
    assert states == {PING.id: replace(state, revision=4)}


def baseline_items(store, dynamodb, baselines):
    written = recorded_params(dynamodb, "PutItem")
    with Stubber(dynamodb) as stub:
        for baseline in baselines:
            stub.add_response("put_item", {})
            store.baselines.put_baseline(baseline)
    return [p["Item"] for p in written]


def test_get_baselines_retries_unprocessed_keys(monkeypatch):
    dynamodb = aws("dynamodb")
    store = DynamoStateStore(dynamodb, TABLE)
    pauses = []
    monkeypatch.setattr(store_table.time, "sleep", pauses.append)
    baselines = [
        flat_baseline(s.id, expected=100.0 * (i + 1), scale=10.0)
        for i, s in enumerate([CONNECT, PING, RULES])
    ]
    items = baseline_items(store, dynamodb, baselines)

    def keys(*series):
        return [{"pk": {"S": f"SERIES#{s.id}"}, "sk": {"S": "BASELINE"}} for s in series]

    with Stubber(dynamodb) as stub:
        stub.add_response(
            "batch_get_item",
            {"Responses": {TABLE: items[:1]}, "UnprocessedKeys": {TABLE: {"Keys": keys(PING, RULES)}}},
            expected_params={
                "RequestItems": {TABLE: {"Keys": keys(CONNECT, PING, RULES), "ConsistentRead": True}}
            },
        )
        stub.add_response(
            "batch_get_item",
            {"Responses": {TABLE: items[2:]}, "UnprocessedKeys": {TABLE: {"Keys": keys(PING)}}},
            expected_params={"RequestItems": {TABLE: {"Keys": keys(PING, RULES), "ConsistentRead": True}}},
        )
        stub.add_response(
            "batch_get_item",
            {"Responses": {TABLE: items[1:2]}, "UnprocessedKeys": {}},
            expected_params={"RequestItems": {TABLE: {"Keys": keys(PING), "ConsistentRead": True}}},
        )
        loaded = store.baselines.get_baselines([CONNECT.id, PING.id, RULES.id])
        stub.assert_no_pending_responses()
    assert loaded == {b.series_id: b for b in baselines}
    assert len(pauses) == 2 and pauses[0] < pauses[1] <= 1.0  # backs off between retries


def test_get_baselines_asks_for_at_most_100_keys_per_request(monkeypatch):
    dynamodb = aws("dynamodb")
    sent = recorded_params(dynamodb, "BatchGetItem")
    ids = [f"Fleet|M{i}|" for i in range(150)] + ["Fleet|M0|"]  # a duplicate is asked for once
    with Stubber(dynamodb) as stub:
        stub.add_response("batch_get_item", {"Responses": {TABLE: []}})
        stub.add_response("batch_get_item", {"Responses": {TABLE: []}})
        assert DynamoStateStore(dynamodb, TABLE).baselines.get_baselines(ids) == {}
        stub.assert_no_pending_responses()
    assert [len(p["RequestItems"][TABLE]["Keys"]) for p in sent] == [100, 50]


# --- SNS ---------------------------------------------------------------------------------------------


def rendered():
    return RenderedMessage(
        subject="[CRITICAL] fleet: Connect.Success (MQTT) down 80%",
        email="CRITICAL: 1 metric(s) ...",
        sms="CRIT fleet: Connect.Success (MQTT) -80% (20 vs ~100) since 14:00Z. Details by email.",
        attributes={
            "severity": {"DataType": "String", "StringValue": "critical"},
            "kind": {"DataType": "String", "StringValue": "firing"},
            "metric": {"DataType": "String.Array", "StringValue": json.dumps(["Connect.Success"])},
        },
    )


def test_sns_publish_sends_per_protocol_json_with_attributes():
    sns = aws("sns")
    arn = "arn:aws:sns:us-east-1:123456789012:iotwatch-fleet-oncall-sms"
    notifier = SnsNotifier(sns, {"oncall-sms": arn})
    message = rendered()
    with Stubber(sns) as stub:
        stub.add_response(
            "publish",
            {"MessageId": "11111111-2222-3333-4444-555555555555"},
            expected_params={
                "TopicArn": arn,
                "Subject": message.subject,
                "Message": message.sns_message(),
                "MessageStructure": "json",
                "MessageAttributes": message.attributes,
            },
        )
        assert notifier.publish("oncall-sms", message) == "11111111-2222-3333-4444-555555555555"
        stub.assert_no_pending_responses()
    assert notifier.published == 1


def test_sns_publish_to_a_topic_without_arn_fails_before_calling_aws():
    sns = aws("sns")
    notifier = SnsNotifier(sns, {"oncall-email": "arn:aws:sns:us-east-1:123456789012:x"})
    with Stubber(sns), pytest.raises(UnknownTopicError) as raised:
        notifier.publish("oncall-sms", rendered())
    assert "oncall-sms" in str(raised.value)
    assert notifier.published == 0
