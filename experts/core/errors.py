"""One error type for everything a user can cause: it says what, where, and how to fix it.

The CLI prints `str(err)` on one line and exits non-zero; the HTTP layer maps it to a 4xx.
"""

from __future__ import annotations


class TinyExpertsError(Exception):
    """A problem the user can fix (bad file, unknown name, missing asset).

    Args:
        what: what went wrong, in one phrase.
        where: the file, field, expert or version it concerns.
        fix: the command or change that fixes it.
        status: the HTTP status a server should answer with.
    """

    def __init__(self, what: str, *, where: str = "", fix: str = "", status: int = 400) -> None:
        self.what = what
        self.where = where
        self.fix = fix
        self.status = status
        super().__init__(self.message)

    @property
    def message(self) -> str:
        parts = [f"{self.where}: {self.what}" if self.where else self.what]
        if self.fix:
            parts.append(f"fix: {self.fix}")
        return " — ".join(parts)


class NotFoundError(TinyExpertsError):
    """An unknown expert, version or entity."""

    def __init__(self, what: str, *, where: str = "", fix: str = "") -> None:
        super().__init__(what, where=where, fix=fix, status=404)


class ArtifactError(TinyExpertsError):
    """A damaged, tampered or incomplete artifact; it is never loaded."""

    def __init__(self, what: str, *, where: str = "", fix: str = "") -> None:
        super().__init__(what, where=where, fix=fix, status=409)


class AssetError(TinyExpertsError):
    """A missing or damaged pretrained asset (MiniLM, SmolLM2, the OBD table)."""

    def __init__(self, what: str, *, where: str = "", fix: str = "") -> None:
        super().__init__(what, where=where, fix=fix, status=503)


def from_validation_error(err, *, where: str, fix: str, status: int = 400) -> TinyExpertsError:
    """The first problem of a pydantic ValidationError as one line naming the field."""
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    return TinyExpertsError(f"{loc}: {msg}" if loc else msg, where=where, fix=fix, status=status)
