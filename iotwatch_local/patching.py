"""One of moto's methods replaced while a local endpoint needs it.

Every `LocalAws` of a process shares moto's backends, and endpoints nest (a demo run inside
a test's endpoint): installs are counted, and only the last uninstall puts moto's own method
back, so stopping an inner endpoint leaves the outer one patched.
"""

from __future__ import annotations

from typing import Any


class CountedPatch:
    """`owner.name` replaced by `replacement` from the first `install` to the last `uninstall`;
    `original` is moto's own method meanwhile (for the replacement to fall back on)."""

    def __init__(self, owner: type, name: str, replacement: Any) -> None:
        self.owner = owner
        self.name = name
        self.replacement = replacement
        self.original: Any = None
        self._installs = 0

    def install(self) -> None:
        self._installs += 1
        if self.original is None:
            self.original = getattr(self.owner, self.name)
            setattr(self.owner, self.name, self.replacement)

    def uninstall(self) -> None:
        self._installs = max(self._installs - 1, 0)
        if self._installs == 0 and self.original is not None:
            setattr(self.owner, self.name, self.original)
            self.original = None
