"""The `iotwatch` command installed without its extras says which part to install."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(("missing", "extra"), [("pydantic", "cli"), ("yaml", "cli")])
def test_a_missing_part_is_named_with_the_extra_that_installs_it(missing: str, extra: str) -> None:
    code = (
        f"import sys; sys.modules[{missing!r}] = None\n"  # as if not installed
        "from iotwatch_cli.entry import main\n"
        "sys.exit(main(['plan', 'validate', 'monitoring-plan.yaml']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 2, result.stderr
    assert f"pip install 'iotwatch[{extra}]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_with_every_part_installed_the_command_runs() -> None:
    from iotwatch_cli.entry import main

    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
