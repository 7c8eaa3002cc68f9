"""Property (fuzz) tests: whatever a plan file or a CSV holds, the command gives a clean result or
says what is wrong (exit 2) on stderr, never a traceback. Run through the installed entry point
(iotwatch_cli.entry.main, in-process for speed), as a user's shell would."""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iotwatch_cli import entry

from .conftest import DEFAULT_PLAN_FILE

PLAN_LINES = DEFAULT_PLAN_FILE.read_text(encoding="utf-8").splitlines()
# what a hand-edited YAML file gets wrong: structure characters, tags, anchors, odd scalars
TOKENS = [
    ": ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    "\t",
    "&a ",
    "*a",
    "!!binary ",
    "!!python/object ",
    "'",
    '"',
    "#",
    "? ",
    "|",
    ">",
    "\x00",
    "0",
    "-1",
    "1e309",
    ".nan",
    "null",
    "~",
    "yes",
    "2026-01-01",
    "*",
    "...",
    "---",
    "<<: *a",
    "%YAML 1.1",
    "\u00e9",
    "\ufeff",
    "99999999999999999999999",
    "[[[[[[[[",
    "{a: {b: [",
]
FUZZ = settings(
    max_examples=60,
    deadline=None,  # the first example imports the model; time is what `make test` budgets, not each case
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = entry.main(argv)
    return code, out.getvalue(), err.getvalue()


@st.composite
def mutated_plan(draw: st.DrawFn) -> str:
    lines = list(PLAN_LINES)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "indent", "dedent", "insert", "value"]))
        token = draw(st.sampled_from(TOKENS) | st.text(max_size=8))
        if action == "delete":
            del lines[i]
        elif action == "duplicate":
            lines.insert(i, lines[i])
        elif action == "indent":
            lines[i] = " " * draw(st.integers(1, 3)) + lines[i]
        elif action == "dedent":
            lines[i] = lines[i][draw(st.integers(1, 4)) :]
        elif action == "insert":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + token + lines[i][at:]
        elif ": " in lines[i]:
            lines[i] = lines[i].split(": ", 1)[0] + ": " + token
        if not lines:
            break
    return "\n".join(lines) + "\n"


def check_plan_outcome(code: int, out: str, err: str, path: str) -> None:
    assert "Traceback" not in err + out
    assert code in (0, 2), (code, err)
    if code == 2:
        assert out == ""
        assert err.startswith(path), err  # the file first, then each problem with what to do
    else:
        assert "OK - plan" in out


@FUZZ
@given(text=mutated_plan())
def test_a_mutated_plan_is_validated_or_refused_cleanly(text: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = str(Path(directory) / "plan.yaml")
        Path(path).write_text(text, encoding="utf-8", errors="surrogatepass")
        check_plan_outcome(*run(["plan", "validate", path]), path)


@settings(FUZZ, max_examples=40)
@given(raw=st.binary(max_size=300) | st.binary(max_size=60).map(lambda b: b"version: 1\n" + b))
def test_random_bytes_as_a_plan_are_refused_cleanly(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = str(Path(directory) / "plan.yaml")
        Path(path).write_bytes(raw)
        code, out, err = run(["plan", "validate", path])
        assert "Traceback" not in err and code == 2 and out == "" and err.startswith(path), (code, err)


CSV_CELLS = st.sampled_from(
    [
        "2026-11-02 00:00:00",
        "2026-11-02T00:05:00Z",
        "2026-11-02 00:10:00+01:00",
        "x",
        "",
        " ",
        "1",
        "-3",
        "1e400",
        "nan",
        "inf",
        '"',
        '"a,b"',
        "\x00",
        "\u00e9",
        "timestamp",
        "value",
        "2026-13-40 25:61:00",
    ]
) | st.text(max_size=6)


@st.composite
def csv_text(draw: st.DrawFn) -> bytes:
    rows = draw(st.lists(st.lists(CSV_CELLS, min_size=0, max_size=4), max_size=12))
    text = "\n".join(",".join(row) for row in rows)
    raw = text.encode("utf-8", errors="surrogatepass")
    if draw(st.booleans()):
        raw += draw(st.binary(max_size=8))  # a truncated or binary tail
    return raw


@settings(FUZZ, max_examples=80)
@given(raw=csv_text())
def test_any_csv_is_scored_or_refused_with_one_line(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = str(Path(directory) / "x.csv")
        Path(path).write_bytes(raw)
        code, out, err = run(["score", path, "--plan", str(DEFAULT_PLAN_FILE)])
        assert "Traceback" not in err
        assert code in (0, 2), (code, err)
        if code == 2:
            assert out == ""
            assert len(err.strip().splitlines()) == 1 and path in err, err
        else:
            assert out.startswith("timestamp,anomaly_score,alert\n")


def test_every_key_of_the_shipped_plans_given_a_wrong_kind_of_value_is_a_problem_not_a_crash() -> None:
    """Every key of the default plan and the examples deleted, misspelt, or given a list, a
    mapping, nothing or empty text: the checks that run after the model (topic names, routes,
    delivery) must not assume the model's types."""
    from iotwatch.plan.loader import check_plan

    from tools.snapshot import PLANS, mutations

    environ = {"ONCALL_EMAIL": "oncall@example.com", "ONCALL_PHONE": "+15555550100"}
    cases = 0
    for plan in PLANS:
        data = yaml.safe_load(plan.read_text(encoding="utf-8"))
        for label, mutated in mutations(data, wrong_values=([], {}, None, "")):
            check = check_plan(mutated, environ=environ)
            assert check.plan is not None or check.errors, f"{plan.name}: {label}"
            cases += 1
    assert cases > 1000
