"""What every kind of change has, as the pure rules read it: a path and its old and new value.

sync.core.diff.walk.FieldChange and a stored models.Change row both fit; the rules that need
more (sync.core.events.ChangeLike, sync.core.reverts.StepChange) extend this protocol.
"""

from __future__ import annotations

from typing import Any, Protocol


class Edit(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def old(self) -> Any: ...
    @property
    def new(self) -> Any: ...
