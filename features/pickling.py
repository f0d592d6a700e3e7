"""Fast pickling for the slotted dataclasses the dataflow snapshots every epoch.

Python 3.11's `@dataclass(slots=True)` pickles through `dataclasses._dataclass_getstate`,
which rebuilds the field list with `fields()` for every object: with recovery on, snapshotting
the accounts' states and the learner's pending lessons spent ~15% of the dataflow's time
there. `fast_pickling` swaps in `operator.attrgetter` (C) for the same state: a list or tuple
of the field values in order, so snapshots written either way load either way, and a state
written before a field was added (at the end, with a default) loads with the default."""

from __future__ import annotations

from dataclasses import MISSING, fields
from operator import attrgetter
from typing import Any


def fast_pickling(*classes: type) -> None:
    for cls in classes:
        names = tuple(f.name for f in fields(cls))
        getter = attrgetter(*names)
        one = len(names) == 1

        def getstate(self: Any, g: Any = getter, one: bool = one) -> tuple[Any, ...]:
            return (g(self),) if one else g(self)

        defaults = {f.name: f.default for f in fields(cls) if f.default is not MISSING}

        def setstate(
            self: Any, state: Any, names: tuple[str, ...] = names, defaults: dict[str, Any] = defaults
        ) -> None:
            for name, value in zip(names, state, strict=False):
                object.__setattr__(self, name, value)
            for name in names[len(state) :]:  # a field added since the snapshot: its default
                object.__setattr__(self, name, defaults[name])

        setattr(cls, "__getstate__", getstate)  # noqa: B010 - a method of the class, set after it is made
        setattr(cls, "__setstate__", setstate)  # noqa: B010
