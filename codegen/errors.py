"""Spec errors carry their file and line; all of them are collected and reported at once."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Location:
    """Where a spec element was written: `opspecs/nn.yaml:12`."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class SpecError:
    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class SpecErrors(Exception):
    """Raised once, after parsing and validation, with every problem found."""

    def __init__(self, errors: list[SpecError]):
        self.errors = sorted(errors, key=lambda e: (e.location.file, e.location.line))
        super().__init__("\n".join(str(e) for e in self.errors))


@dataclass
class ErrorCollector:
    """Accumulates errors so one run reports them all (torchgen stops at the first)."""

    errors: list[SpecError] = field(default_factory=list)

    def add(self, location: Location, message: str) -> None:
        self.errors.append(SpecError(location, message))

    def raise_if_any(self) -> None:
        if self.errors:
            raise SpecErrors(self.errors)
