"""The small error family of the domain; only the web layer turns these into HTTP statuses."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FieldProblem:
    """One reason one input was refused: ``field`` is a JSON-pointer-like path (``properties.ph``)."""

    field: str
    reason: str
    row: int | None = None  # 1-based data row, for file imports

    def as_dict(self) -> dict:
        d = {"field": self.field, "reason": self.reason}
        if self.row is not None:
            d["row"] = self.row
        return d

    def __str__(self) -> str:
        where = f"row {self.row}, " if self.row is not None else ""
        return f"{where}{self.field}: {self.reason}"


class MapperError(Exception):
    """Base of every error the platform reports to a user. Subclass the member that says what went wrong
    (``ValidationFailed``, ``BadRequest``, ``NotFound``…): the web layer answers a subclass as its parent."""

    title = "Request failed"

    def __init__(self, detail: str, problems: list[FieldProblem] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.problems = problems or []


class ValidationFailed(MapperError):
    title = "Invalid input"


class NotFound(MapperError):
    title = "Not found"


class Conflict(MapperError):
    title = "Conflict"


class PayloadTooLarge(MapperError):
    title = "Payload too large"


class UnsupportedMediaType(MapperError):
    """The body's Content-Type is not one the route reads."""

    title = "Unsupported media type"


class Unauthorized(MapperError):
    title = "Authentication required"


class Forbidden(MapperError):
    title = "Forbidden"


@dataclass
class LayerDefinitionError(Exception):
    """A layer file is wrong: which file, which key, why."""

    file: str
    key: str
    reason: str
    extra: list = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.reason}"


class BadRequest(MapperError):
    """A query parameter is invalid (OGC API answers 400 for these)."""

    title = "Bad request"
