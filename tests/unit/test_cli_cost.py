"""`iotwatch plan cost`: the table for the default plan, --json, the volume options, and bad
plan files reported exactly as `plan validate` reports them."""

from __future__ import annotations

import io
import json
import textwrap

import pytest

from iotwatch_cli.main import main

from .conftest import DEFAULT_PLAN_FILE

PLAN = str(DEFAULT_PLAN_FILE)
ITEMS = [
    "CloudWatch GetMetricData",
    "Lambda requests",
    "Lambda evaluator compute",
    "Lambda baseline builder compute",
    "Lambda audit compute",  # the default plan has tools.audit on
    "Lambda band widget compute",  # and tools.dashboard
    "DynamoDB reads",
    "DynamoDB writes",
    "DynamoDB storage + backups",
    "CloudWatch custom metrics",
    "CloudWatch alarms",
    "CloudWatch dashboard",
    "SNS e-mail deliveries",
    "SNS SMS deliveries",
    "CloudWatch Logs ingestion",
    "X-Ray traces",
    "KMS key (alert topics)",
    # the devices section (issue 23): lifecycle counts, page look-ups, top clients, the IoT log
    "IoT rules (lifecycle events)",
    "PutMetricData (lifecycle counts)",
    "Custom metrics (lifecycle counts)",
    "Fleet index queries (page look-ups)",
    "Contributor Insights rules",
    "Contributor Insights matched log events",
    "AWS IoT log ingestion (ERROR)",
]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["plan", *argv], out, err)
    return code, out.getvalue(), err.getvalue()


def table(out: str) -> list[str]:
    """The lines from the header to the TOTAL line."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("ITEM "))
    end = next(i for i, line in enumerate(lines) if line.startswith("TOTAL "))
    return lines[start : end + 1]


def test_default_plan_prints_every_item_a_total_and_the_assumptions():
    code, out, err = run("cost", PLAN)
    assert (code, err) == (0, "")
    rows = table(out)
    assert rows[0].split() == ["ITEM", "QUANTITY", "UNIT", "UNIT", "PRICE", "USD/MONTH"]
    for item in ITEMS:
        assert sum(1 for row in rows if row.startswith(item + " ")) == 1, item
    assert "us-east-1" in out
    assert "30-day month" in out
    assert "Assumptions:" in out
    for item in ITEMS:  # every item explains itself
        assert f"  - {item}: " in out, item
    # one PutMetricData per lifecycle event: 10,000 devices x 2 disconnects a day
    assert "Dominated by PutMetricData (lifecycle counts)" in out
    assert "At 10x the series (220): $" in out
    assert (
        "Each added series (or part a share of attempts adds): $0.0986 a month, 1.14x the GetMetricData "
        "floor of $0.0864" in out
    )
    assert "free" in out


def test_the_table_is_aligned_and_adds_up():
    code, out, _ = run("cost", PLAN)
    assert code == 0
    rows = table(out)
    money_rows = [r for r in rows if not r.startswith(("ITEM", "-"))]
    assert len({len(r) for r in money_rows}) == 1  # the USD column is right-aligned
    _, data, _ = run("cost", "--json", PLAN)
    estimate = json.loads(data)
    assert rows[-1].split()[-1] == f"{estimate['total_usd']:,.2f}"


def test_json_parses_and_matches_the_table():
    code, out, err = run("cost", "--json", PLAN)
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data["region"] == "us-east-1" and data["currency"] == "USD" and data["month_days"] == 30
    # the shares read their parts; the devices section adds 9 disconnect reasons + failed connects
    assert (data["series"], data["metric_queries"]) == (22, 28)
    assert data["evaluations_per_month"] == 8_640
    assert [i["item"] for i in data["items"]] == ITEMS
    assert data["total_usd"] == pytest.approx(sum(i["monthly_usd"] for i in data["items"]), abs=1e-5)
    for item in data["items"]:
        assert set(item) >= {"item", "quantity", "unit", "unit_price_usd", "monthly_usd", "assumption"}
    get_metric_data = data["items"][0]
    # 28 metrics per evaluation and build, + 300 dashboard views of 22 bands (a share's reads its parts)
    assert get_metric_data["quantity"] == 28 * 8_640 + 28 * 34 + 300 * (9 + 6 + 6 + 5 + 10)
    assert data["scaled"]["series_factor"] == 10 and data["scaled"]["series"] == 220
    assert data["scaled"]["total_usd"] > data["total_usd"]
    assert data["dominant"][0] == "PutMetricData (lifecycle counts)"
    assert data["assumed"]["sms_price_usd"] == 0.00645
    # issue 13: each added metric read under USD 0.11 and 1.3x the floor (the USD 8 bar for the
    # nine metrics is test_plan_cost's; the three shares add what reading their parts costs; the
    # devices section about $10 more at 10,000 devices, test_plan_devices itemizes it)
    assert data["total_usd"] <= 20.00
    assert data["get_metric_data_floor_per_metric_usd"] == pytest.approx(0.0864)
    assert data["per_added_metric_usd"] <= 0.11
    assert data["per_added_metric_vs_floor"] <= 1.3
    assert data["discovered_series"] == 0
    assert any("tracker is ~1 KB" in a for a in data["assumptions"])


def test_sms_options():
    _, out, _ = run("cost", "--json", "--sms-per-month", "150", "--sms-price", "0.02", PLAN)
    sms = next(i for i in json.loads(out)["items"] if i["item"] == "SNS SMS deliveries")
    assert sms["quantity"] == 150
    assert sms["monthly_usd"] == pytest.approx(3.0)


def test_audit_events_option():
    _, few, _ = run("cost", "--json", "--audit-events-per-month", "10", PLAN)
    _, many, _ = run("cost", "--json", "--audit-events-per-month", "100000", PLAN)

    def audit_compute(text: str) -> float:
        return next(i["quantity"] for i in json.loads(text)["items"] if i["item"] == "Lambda audit compute")

    assert audit_compute(many) == pytest.approx(10_000 * audit_compute(few))


def test_audit_events_option_without_the_audit_says_it_is_ignored(tmp_path):
    original = DEFAULT_PLAN_FILE.read_text(encoding="utf-8")
    text = original.replace("  audit: true ", "  audit: false ")
    assert text != original
    path = tmp_path / "no-audit.yaml"
    path.write_text(text, encoding="utf-8")
    code, out, _ = run("cost", "--audit-events-per-month", "500", str(path))
    assert code == 0
    assert "--audit-events-per-month is ignored" in out
    assert "Lambda audit compute" not in out


def test_a_bad_plan_exits_2_naming_the_file_as_validate_does(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(
        textwrap.dedent(
            """
            version: 1
            name: Fleet
            goals: [x]
            owners: {team: t}
            resources: {metrics: [{metric: PublishIn.Success}]}
            frequency: {evaluation: rate(5 minute)}
            notify: {topics: [{name: a}], routes: [{topic: b}]}
            """
        ),
        encoding="utf-8",
    )
    code, out, err = run("cost", str(path))
    assert (code, out) == (2, "")
    assert err.startswith(f"{path}: ")
    assert "frequency.evaluation" in err and "notify.routes[0].topic" in err
    assert run("validate", str(path))[2] == err


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.yaml", None, "cannot read the plan file"),
        ("bad.yaml", "goals: [unclosed\n", "not valid YAML"),
        ("list.yaml", "- a\n- b\n", "must be a mapping"),
    ],
)
def test_unreadable_files_exit_2(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code, out, err = run("cost", str(path))
    assert (code, out) == (2, "")
    assert str(path) in err and message in err


@pytest.mark.parametrize(
    "argv", [("--sms-per-month", "-1"), ("--sms-per-month", "many"), ("--sms-price", "abc")]
)
def test_bad_option_values_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["plan", "cost", *argv, PLAN])
    assert exit_info.value.code == 2
    assert "--sms-p" in capsys.readouterr().err


def _with_wildcards(tmp_path, text: str | None = None):
    original = DEFAULT_PLAN_FILE.read_text(encoding="utf-8")
    extra = textwrap.indent(
        textwrap.dedent(
            """\
            - metric: TopicMatch
              dimensions: {RuleName: "*"}
            - metric: Failure
              dimensions: {RuleName: "*", ActionType: Lambda}
            """
        ),
        "    ",
    )
    anchor = "  metrics:\n"
    assert anchor in original
    path = tmp_path / "wild.yaml"
    path.write_text(text or original.replace(anchor, anchor + extra, 1), encoding="utf-8")
    return str(path)


def test_expected_series_counts_what_the_wildcards_discover(tmp_path):
    plan = _with_wildcards(tmp_path)
    code, out, err = run("cost", "--json", plan)
    assert (code, err) == (0, "")
    without = json.loads(out)
    assert without["series"] == 22 and without["discovered_series"] == 0
    assert any("pass --stack NAME or --table NAME" in n for n in without["notes"])
    code, out, err = run("cost", "--json", "--expected-series", "600", plan)
    assert (code, err) == (0, "")
    counted = json.loads(out)
    assert (counted["series"], counted["discovered_series"]) == (622, 600)
    assert counted["total_usd"] > without["total_usd"]
    assert counted["per_added_metric_usd"] <= 0.11
    # discovery watches at most 500 values per "*" metric, and says so
    _, out, _ = run("cost", "--expected-series", "5000", plan)
    assert "plan 'fleet', 1022 series (1000 discovered) read as 1028 metric queries" in out
    assert "at most 1,000 are watched (500 values per '*' metric)" in out


def test_expected_series_on_a_plan_without_wildcards_is_ignored_and_said():
    code, out, _ = run("cost", "--expected-series", "100", PLAN)
    assert code == 0
    assert "--expected-series ignored: the plan has no '*' metric" in out
    assert "plan 'fleet', 22 series read as 28 metric queries," in out


def test_expected_series_and_a_stack_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exited:
        run("cost", "--expected-series", "10", "--stack", "IotWatch-Fleet", PLAN)
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_dashboard_views_option():
    _, few, _ = run("cost", "--json", "--dashboard-views-per-month", "30", PLAN)
    _, many, _ = run("cost", "--json", "--dashboard-views-per-month", "43200", PLAN)

    def draws(text: str) -> float:
        return next(
            i["quantity"] for i in json.loads(text)["items"] if i["item"] == "Lambda band widget compute"
        )

    assert draws(many) == pytest.approx(1440 * draws(few))
    assert json.loads(many)["total_usd"] > json.loads(few)["total_usd"]
