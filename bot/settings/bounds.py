"""Bounds live on their field: `setting(default, rule)` puts the rule in the field's metadata and
`check_bounds` is the one checker that reads them, so a range is written once, beside its key."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

BOUND = "bound"


class ConfigError(Exception):
    """A setting is wrong; the message is one line meant for the bot's owner."""


Need = Callable[[bool, str, str], None]  # need(ok, "[table] key", "rule"): raises ConfigError when not ok


@dataclass(frozen=True)
class Bound:
    """What a value must satisfy, and the one-line rule the owner reads when it does not."""

    ok: Callable[[Any], bool]
    rule: str | Callable[[Any], str]

    def says(self, value: Any) -> str:
        return self.rule(value) if callable(self.rule) else self.rule


def setting(default: Any, bound: Bound | None = None) -> Any:
    """A dataclass field with its default and bound (None: any value of its type)."""
    return field(default=default, metadata={BOUND: bound} if bound else {})


def at_least(low: float) -> Bound:
    return Bound(lambda v: v >= low, f"must be at least {low}")


def not_negative() -> Bound:
    return Bound(lambda v: v >= 0, "must be >= 0")


def above(low: float) -> Bound:
    return Bound(lambda v: v > low, f"must be above {low}")


def within(low: float, high: float, rule: str = "") -> Bound:
    """low <= value <= high; `rule` when the plain "must be between …" reads wrong."""
    return Bound(lambda v: low <= v <= high, rule or f"must be between {low} and {high}")


def tcp_port(*, any_free: bool = False) -> Bound:
    if any_free:
        return Bound(lambda v: 0 <= v <= 65535, "must be a TCP port (0: any free one)")
    return Bound(lambda v: 1 <= v <= 65535, "must be a TCP port")


def one_of(choices: Sequence[str]) -> Bound:
    return Bound(lambda v: v in choices, f"must be one of {', '.join(choices)}")


def check_bounds(section: Any, table: str, need: Need) -> None:
    """Every bounded field of one `[table]`, in field order."""
    for spec in fields(section):
        bound: Bound | None = spec.metadata.get(BOUND)
        if bound is not None:
            value = getattr(section, spec.name)
            need(bool(bound.ok(value)), f"[{table}] {spec.name}", bound.says(value))
