"""Reading and checking a v1 rights file (CSV) before anything is written.

Columns may come in any order, and columns a later version adds are ignored.
Invariant: every line comes out either as a fully checked row or as an error with its number
and reason; reasons never quote a value from the file. Conflicts between lines (duplicates,
overlapping periods) are the importer's to find, since they involve stored rights too.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date

from vigie.crypto.keyring import Keyring
from vigie.identity.identifiers import is_valid_postcode
from vigie.rights.errors import ImportRejected, LineError
from vigie.rights.identifiers import IdentifierError, canonical_amc, canonical_member, canonical_nir
from vigie.rights.protected import Identity, card_message, cardless_message

V1_COLUMNS = (
    "amc",
    "member",
    "nir",
    "birth_date",
    "birth_rank",
    "last_name",
    "first_name",
    "postcode",
    "plan",
    "start",
    "end",
)
RANK_RE = re.compile(r"[1-9]")
NAME_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")
MAX_ERRORS = 1000
PROGRESS_EVERY = 10_000

Progress = Callable[[int], None]


@dataclass(frozen=True)
class RightRow:
    line: int
    person: Identity
    card_indexes: tuple[bytes, ...]
    cardless_index: bytes
    plan_id: int
    start: date
    end: date | None


class BadLine(ValueError):
    """One reason a line is refused."""


class RightsReader:
    """Checks lines one by one: good rows are yielded, bad ones collected in ``errors``."""

    def __init__(
        self,
        lines: Iterable[str],
        *,
        plans: Mapping[tuple[str, str], int],
        keyring: Keyring,
        progress: Progress | None = None,
    ) -> None:
        self._lines = lines
        self._plans = plans
        self._keyring = keyring
        self._progress = progress
        self._today = date.today()
        self.errors: list[LineError] = []
        self.lines_read = 0

    def rows(self) -> Iterator[RightRow]:
        """Raise ImportRejected at once for a bad header; a bad line is recorded and skipped."""
        reader = csv.reader(self._lines)
        try:
            header = next(reader)
        except (StopIteration, csv.Error) as exc:
            raise ImportRejected([LineError(1, "fichier vide ou illisible")]) from exc
        positions = _positions(header)
        try:
            for raw in reader:
                number = reader.line_num
                row = self._checked(raw, number, positions, len(header))
                if row is not None:
                    yield row
                if self._progress and number % PROGRESS_EVERY == 0:
                    self._progress(number - 1)
        except csv.Error as exc:
            self.error(reader.line_num, f"CSV mal formé ({exc})")
        self.lines_read = max(0, reader.line_num - 1)

    def _checked(
        self, raw: list[str], number: int, positions: tuple[int, ...], width: int
    ) -> RightRow | None:
        if len(raw) != width:
            self.error(number, f"{len(raw)} colonnes au lieu de {width}")
            return None
        try:
            return _row(raw, number, positions, self._plans, self._keyring, self._today)
        except BadLine as exc:
            self.error(number, str(exc))
        except (ValueError, UnicodeError):  # whatever a check did not foresee: still this line's
            self.error(number, "ligne illisible")
        return None

    def error(self, line: int, reason: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(LineError(line, reason))


def _positions(header: list[str]) -> tuple[int, ...]:
    names = [h.strip().lstrip("\ufeff") for h in header]
    missing = [c for c in V1_COLUMNS if c not in names]
    if missing or len(set(names)) != len(names):
        reason = "en-tête v1 attendu : " + ",".join(V1_COLUMNS)
        if missing:
            reason += f" (manque : {', '.join(missing)})"
        raise ImportRejected([LineError(1, reason)])
    return tuple(names.index(c) for c in V1_COLUMNS)


def _row(
    raw: list[str],
    number: int,
    positions: tuple[int, ...],
    plans: Mapping[tuple[str, str], int],
    keyring: Keyring,
    today: date,
) -> RightRow:
    amc_s, member_s, nir_s, birth_s, rank_s, last, first, postcode, plan, start_s, end_s = [
        raw[i].strip() for i in positions
    ]
    try:
        amc, member, nir = canonical_amc(amc_s), canonical_member(member_s), canonical_nir(nir_s)
    except IdentifierError as exc:
        raise BadLine(str(exc)) from exc
    birth = _date(birth_s, "birth_date")
    rank = _rank(rank_s)
    start = _date(start_s, "start")
    end = _date(end_s, "end") if end_s else None
    if end is not None and end < start:
        raise BadLine("la date de fin (end) précède la date de début (start)")
    if birth > today:
        raise BadLine("date de naissance dans le futur")
    if not NAME_RE.match(last) or not NAME_RE.match(first):
        raise BadLine("nom ou prénom vide, trop long ou avec des caractères de contrôle")
    if not is_valid_postcode(postcode):
        raise BadLine("code postal invalide")
    plan_id = plans.get((amc, plan))
    if plan_id is None:
        raise BadLine("plan inconnu pour cette AMC")
    person = Identity(amc, member, nir, birth, rank, last, first, postcode)
    return RightRow(
        line=number,
        person=person,
        card_indexes=tuple(
            keyring.blind_index_candidates(card_message(amc, member, nir, birth, rank))
        ),
        cardless_index=keyring.blind_index(cardless_message(nir, birth, rank)),
        plan_id=plan_id,
        start=start,
        end=end,
    )


def _date(value: str, column: str) -> date:
    if len(value) != 10:
        raise BadLine(f"date {column} invalide (AAAA-MM-JJ attendu)")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise BadLine(f"date {column} invalide (AAAA-MM-JJ attendu)") from exc


def _rank(value: str) -> int:
    if not RANK_RE.fullmatch(value):
        raise BadLine("rang de naissance invalide (1 à 9)")
    return int(value)
