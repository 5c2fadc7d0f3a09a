"""Reading and checking a v1 rights file (CSV) before anything is written.

Invariant: a file comes out either as fully checked rows or as the list of every bad line with
its number and reason; reasons never quote a value from the file.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Callable, Iterable, Mapping
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


def read_rights(
    lines: Iterable[str],
    *,
    plans: Mapping[tuple[str, str], int],
    keyring: Keyring,
    progress: Progress | None = None,
) -> list[RightRow]:
    """Check every line; raise ImportRejected with all the problems (up to MAX_ERRORS)."""
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise ImportRejected([LineError(1, "fichier vide ou illisible")]) from exc
    positions = _positions(header)
    rows: list[RightRow] = []
    errors: list[LineError] = []
    try:
        for raw in reader:
            number = reader.line_num
            try:
                rows.append(_row(raw, number, positions, plans, keyring))
            except BadLine as exc:
                if len(errors) < MAX_ERRORS:
                    errors.append(LineError(number, str(exc)))
            if progress and number % PROGRESS_EVERY == 0:
                progress(number - 1)
    except csv.Error as exc:
        errors.append(LineError(reader.line_num, f"CSV mal formé ({exc})"))
    errors.extend(_conflicts(rows))
    if errors:
        raise ImportRejected(sorted(errors, key=lambda e: e.line)[:MAX_ERRORS])
    return rows


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
) -> RightRow:
    if len(raw) != len(positions):
        raise BadLine(f"{len(raw)} colonnes au lieu de {len(positions)}")
    amc_s, member_s, nir_s, birth_s, rank_s, last, first, postcode, plan, start_s, end_s = (
        raw[i].strip() for i in positions
    )
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
    if birth > date.today():
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
    if not value.isdigit() or not 1 <= int(value) <= 9:
        raise BadLine("rang de naissance invalide (1 à 9)")
    return int(value)


def _conflicts(rows: list[RightRow]) -> list[LineError]:
    """Duplicates and overlapping periods of one beneficiary inside the file."""
    errors = []
    ordered = sorted(rows, key=lambda r: (r.card_indexes[0], r.start))
    for before, after in itertools.pairwise(ordered):
        if before.card_indexes[0] != after.card_indexes[0]:
            continue
        first, later = sorted((before.line, after.line))
        if before.start == after.start:
            errors.append(LineError(later, f"doublon de la ligne {first}"))
        elif before.end is None or before.end >= after.start:
            errors.append(LineError(later, f"période qui chevauche la ligne {first}"))
    return errors
