"""CloudTrail records -> AuditEvent: both record shapes, every identity type, the sensitive
action list, the document shapes, and fuzzing (only AuditRecordError may escape)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from iotwatch.domain.audit.event import AuditRecordError
from iotwatch.domain.audit.policy import CRITICAL, SENSITIVE_ACTIONS, WARNING, notes, sensitivity
from iotwatch.domain.audit.reading import normalize, records_from_document

from .conftest import EVENTS_DIR

CLOUDTRAIL = EVENTS_DIR / "cloudtrail"


def load(name: str) -> Any:
    return json.loads((CLOUDTRAIL / name).read_text(encoding="utf-8"))


# --- the monitoring guide's example (old shape) --------------------------------------------


def test_guide_example_reads_in_full():
    event = normalize(load("guide-attach-policy.json"))
    assert event.action == "AttachPolicy"
    assert event.time == datetime(2016, 4, 8, 23, 51, 36, tzinfo=UTC)
    assert event.credentials == "role"
    assert event.temporary is True
    assert event.principal == "iotmonitor-us-east-1-InstanceRole-1C5T1YCYMHPYT"
    assert event.principal_arn == (
        "arn:aws:iam::123456789012:role/executionServiceEC2Role/iotmonitor-us-east-1-beta-InstanceRole-1C5T1YCYMHPYT"
    )
    assert event.session == "i-35d0a4b6"
    assert event.via_service is not None and "111111111111" in event.via_service
    assert event.source_ip == "52.90.213.26"
    assert event.parameters["policyName"] == "ExamplePolicyForIoT"
    assert event.key_parameters["policyName"] == "ExamplePolicyForIoT"
    assert event.key_parameters["principal"].startswith("arn:aws:iot:us-east-1:123456789012:cert/")
    assert event.error is None and event.error_message is None  # "" means absent
    assert event.event_id == "8bff4fed-c229-4d2d-8264-4ab28a487505"
    assert event.source is None  # the example names no EventSource
    assert event.mfa is False
    assert sensitivity(event) == WARNING
    assert not event.is_root and not event.failed


def test_guide_epoch_timestamp_alone_is_enough():
    record = load("guide-attach-policy.json")
    record["EventTime"] = ""
    assert normalize(record).time == datetime(2016, 4, 8, 23, 51, 36, tzinfo=UTC)


def test_correctly_spelt_request_parameters_also_read():
    record = load("guide-attach-policy.json")
    record["RequestParameters"] = record.pop("RequestParamters")
    assert normalize(record).parameters["policyName"] == "ExamplePolicyForIoT"


def test_camel_case_wins_over_capitalised_duplicates():
    record = load("identity-iam-user.json")
    record["EventName"] = "SomethingElse"
    assert normalize(record).action == "DetachPolicy"


# --- identity types ------------------------------------------------------------------------

IDENTITIES = [
    # file, credentials, temporary, principal, session
    ("identity-root.json", "root", True, "root", None),  # console root session: ASIA key
    ("identity-iam-user.json", "iam-user", False, "alice", None),
    ("identity-assumed-role.json", "role", True, "DeployRole", "ci-deploy-4711"),
    ("identity-federated-user.json", "federated", True, "bob", None),
    ("identity-aws-service.json", "aws-service", False, "iot.amazonaws.com", None),
    ("identity-aws-account.json", "aws-account", False, "210987654321", None),
    (
        "identity-identity-center.json",
        "identity-center",
        True,
        "94482488-3041-7026-18f3-be45837cd0e4",
        None,
    ),
    ("identity-unknown.json", "unknown", False, "carol", None),
]


@pytest.mark.parametrize(("name", "credentials", "temporary", "principal", "session"), IDENTITIES)
def test_identity_types(name, credentials, temporary, principal, session):
    event = normalize(load(name))
    assert event.credentials == credentials
    assert event.temporary is temporary
    assert event.principal == principal
    assert event.session == session
    assert event.source == "iot.amazonaws.com"
    assert event.region == "eu-west-1"
    assert event.account == "123456789012"
    assert event.time.tzinfo is not None


def test_role_principal_arn_is_the_role_not_the_session():
    event = normalize(load("identity-assumed-role.json"))
    assert event.principal_arn == "arn:aws:iam::123456789012:role/ops/DeployRole"
    assert event.who == "role DeployRole/ci-deploy-4711"


def test_aws_service_is_named_as_via_service():
    event = normalize(load("identity-aws-service.json"))
    assert event.via_service == "iot.amazonaws.com"


def test_asia_key_makes_any_identity_temporary():
    record = load("identity-iam-user.json")
    record["userIdentity"]["accessKeyId"] = "ASIAEXAMPLEUSER00001"
    assert normalize(record).temporary is True


def test_root_and_failures_are_notable():
    root = normalize(load("identity-root.json"))
    assert root.is_root and "root credentials" in notes(root)
    denied = normalize(load("identity-unknown.json"))
    assert denied.failed and denied.error == "AccessDeniedException"
    assert "failed: AccessDeniedException" in notes(denied)
    assert sensitivity(denied) == WARNING  # a denied DeleteThing is still someone trying


# --- sensitivity ---------------------------------------------------------------------------


def test_sensitive_list_covers_the_plan():
    for action in ("DeletePolicy", "DetachPolicy", "DeleteCACertificate", "UpdateCACertificate",
                   "DeleteTopicRule", "DisableTopicRule", "SetV2LoggingOptions", "DeleteAuthorizer",
                   "UpdateDomainConfiguration", "DeleteAccountAuditConfiguration"):  # fmt: skip
        assert SENSITIVE_ACTIONS[action] == CRITICAL, action
    for action in ("AttachPolicy", "CreatePolicyVersion", "SetDefaultPolicyVersion", "CreateTopicRule",
                   "ReplaceTopicRule", "RegisterCACertificate", "CreateAuthorizer", "DeleteThing"):  # fmt: skip
        assert SENSITIVE_ACTIONS[action] == WARNING, action


def test_update_certificate_severity_depends_on_new_status():
    record = load("identity-assumed-role.json")
    assert sensitivity(normalize(record)) == CRITICAL  # REVOKED
    record["requestParameters"]["newStatus"] = "ACTIVE"
    assert sensitivity(normalize(record)) == WARNING


def test_same_name_in_another_service_is_not_sensitive():
    iam_delete = normalize(load("s3-log-file.json")["Records"][2])
    assert iam_delete.action == "DeletePolicy" and iam_delete.source == "iam.amazonaws.com"
    assert sensitivity(iam_delete) is None


def test_custom_sensitive_mapping():
    event = normalize(load("identity-aws-service.json"))
    assert sensitivity(event) is None
    assert sensitivity(event, {"CreateThing": CRITICAL}) == CRITICAL


# --- missing and malformed fields ----------------------------------------------------------


def test_missing_event_name_is_named():
    record = load("identity-iam-user.json")
    del record["eventName"]
    with pytest.raises(AuditRecordError, match="no eventName"):
        normalize(record)


def test_missing_time_is_named():
    record = load("guide-attach-policy.json")
    record["EventTime"] = ""
    record["timestamp"] = ""
    with pytest.raises(AuditRecordError, match="no eventTime"):
        normalize(record)


@pytest.mark.parametrize("bad", ["yesterday", "2016-13-40T00:00:00Z"])
def test_unreadable_time_is_named(bad):
    record = load("identity-iam-user.json")
    record["eventTime"] = bad
    with pytest.raises(AuditRecordError, match="eventTime"):
        normalize(record)


def test_null_request_parameters_are_empty():
    event = normalize(load("s3-log-file.json")["Records"][3])
    assert event.parameters == {} and event.key_parameters == {}


def test_non_object_record():
    with pytest.raises(AuditRecordError, match="not a JSON object"):
        normalize(["eventName"])


# --- documents -----------------------------------------------------------------------------


def test_log_file_records():
    records = list(records_from_document(load("s3-log-file.json")))
    assert [r["eventName"] for r in records] == ["AttachPolicy", "CreateBucket", "DeletePolicy", "ListThings"]


def test_eventbridge_event_yields_its_detail():
    (record,) = records_from_document(load("eventbridge-api-call.json"))
    assert normalize(record).action == "DisableTopicRule"


def test_single_record_and_lists():
    guide = load("guide-attach-policy.json")
    assert list(records_from_document(guide)) == [guide]
    mixed = [guide, load("eventbridge-api-call.json"), load("s3-log-file.json")]
    assert len(list(records_from_document(mixed))) == 1 + 1 + 4


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"Records": {"eventName": "x"}}, "Records is an object"),
        ({"detail-type": "Scheduled Event", "detail": {}}, "is not an"),
        ("text", "got a string"),
        (None, "got null"),
    ],
)
def test_unreadable_documents(document, message):
    with pytest.raises(AuditRecordError, match=message):
        list(records_from_document(document))


# --- fuzzing -------------------------------------------------------------------------------

FIELD_NAMES = [
    "eventName", "EventName", "eventTime", "EventTime", "timestamp", "eventSource", "awsRegion",
    "recipientAccountId", "userIdentity", "UserIdentity", "type", "arn", "accountId", "userName",
    "invokedBy", "serviceAccountId", "sessionContext", "sessionIssuer", "attributes",
    "mfaAuthenticated", "accessKeyId", "onBehalfOf", "userId", "requestParameters",
    "RequestParamters", "errorCode", "sourceIPAddress", "Records", "detail-type", "detail",
]  # fmt: skip
TYPES = ["Root", "IAMUser", "AssumedRole", "FederatedUser", "AWSService", "AWSAccount", "IdentityCenterUser"]
TRICKY = ["2016-04-08T23:51:36Z", "1460159496", "1e400", "-1e30", "", "Z", "ASIA"]
TRICKY += [
    "AWS API Call via CloudTrail",
    "arn:aws:sts::1:assumed-role/R/s",
    "arn:aws:sts::1:federated-user/b",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from([*TYPES, *TRICKY])
)
JSONISH = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=25,
)


def _never_anything_but_audit_errors(value: Any) -> None:
    try:
        records = list(records_from_document(value))
    except AuditRecordError:
        records = [value]
    for record in records:
        try:
            event = normalize(record)
        except AuditRecordError:
            continue
        assert event.time.tzinfo is not None
        sensitivity(event)
        notes(event)
        _ = event.who, event.key_parameters


@settings(settings.get_profile("slow_properties"), max_examples=200)
@given(JSONISH)
def test_fuzz_arbitrary_json(value):
    _never_anything_but_audit_errors(value)


def _replace_at(record: Any, path: list[int], value: Any) -> Any:
    """`record` with one nested value (chosen by `path` indices into sorted keys) replaced."""
    if not path or not isinstance(record, dict) or not record:
        return value
    key = sorted(record)[path[0] % len(record)]
    copied = dict(record)
    copied[key] = _replace_at(record[key], path[1:], value)
    return copied


GOOD = [load("guide-attach-policy.json"), *(load(name) for name, *_ in IDENTITIES)]


@settings(settings.get_profile("slow_properties"), max_examples=200)
@given(st.sampled_from(GOOD), st.lists(st.integers(0, 50), min_size=1, max_size=4), JSONISH)
def test_fuzz_mutated_real_records(record, path, value):
    _never_anything_but_audit_errors(_replace_at(copy.deepcopy(record), path, value))
