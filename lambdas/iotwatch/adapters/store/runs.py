"""Evaluation runs: the claim on each window (one run pages for it) and the completed mark."""

from __future__ import annotations

from botocore.exceptions import ClientError

from iotwatch.adapters.store.table import Repository, condition_failed

RUN_PK = "RUN"
RUN_MARKER_TTL_SECONDS = 2 * 86400
# The newest window a run completed: where a run after an outage starts catching up.
COMPLETED_SK = "COMPLETED"


def _claim_sk(window_end: int) -> str:
    return f"EVALUATION#{window_end}"


class RunRepository(Repository):
    def claim_run(self, window_end: int) -> bool:
        """True for the first run that evaluates the window ending at `window_end`; a
        retried or overlapping invocation of the same tick gets False and sends nothing."""
        return self._table.put_new(
            {"pk": RUN_PK, "sk": _claim_sk(window_end), "expires_at": window_end + RUN_MARKER_TTL_SECONDS}
        )

    def release_run(self, window_end: int) -> None:
        """Lets a retry of a failed run evaluate the same window again."""
        self._table.delete(RUN_PK, _claim_sk(window_end))

    def last_completed(self) -> int | None:
        """The end of the newest window a run evaluated to the end (states saved, incidents
        advanced); None before the first one. A run that finds older ones missed catches up."""
        item = self._table.get(RUN_PK, COMPLETED_SK)
        return int(item["window_end"]) if item else None

    def complete_run(self, window_end: int) -> None:
        """Moves the completed mark forward to `window_end` (never back: an old event retried
        late completes nothing newer)."""
        try:
            self._table.update(
                RUN_PK,
                COMPLETED_SK,
                "SET window_end = :end",
                {":end": window_end},
                condition="attribute_not_exists(window_end) OR window_end < :end",
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
