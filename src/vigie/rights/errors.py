"""What an import says about a bad file: each problem with where it is and why."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LineError:
    """A problem at one line (1-based, header included); the reason never quotes a value."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"ligne {self.line} : {self.reason}"


class ImportRejected(Exception):
    """The file was not applied at all: the database is exactly as it was."""

    def __init__(self, errors: list[LineError]):
        super().__init__(f"{len(errors)} erreur(s) : fichier refusé, rien n'a été modifié")
        self.errors = errors


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    details: dict[str, int] = field(default_factory=dict)
