"""Quota table: how many eligibility questions an account and its structure may ask.

Invariant: every profession has a limit on each window (minute, day, 30 days), for full-card and
card-less questions, per account and per structure; card-less limits are far tighter.

Why these numbers (per account; a structure gets STRUCTURE_FACTOR times its profession's limits):
- A pharmacy counter serves a patient every 2-3 minutes at peak and checks nearly every one with
  a tiers payant card: 60 a day is typical, 150 a busy day in flu season; 400 leaves room.
- Laboratories and hospital admission desks are as busy; a hospital account is often a desk.
- Physicians, dentists, nurses and physiotherapists check a handful to 20 patients a day, most of
  them known; opticians few, with an estimate (devis) before each agreement.
- Audiologists fit a few patients a week: 20 a day is already far beyond their practice.
- The minute limit allows a short burst (a queue at the counter) but not scraping: at 6 a minute
  an account that scrapes is throttled after 6 answers and suspended soon after (risk engine).
  Laboratories (the morning blood-test rush) and hospital desks get 10 and 15.
- The 30-day limit is about 15 busy days: low-and-slow extraction hits it within a month even
  when it stays under the daily limit.
- Card-less lookups (the patient forgot the mutuelle card) prove less possession, so they get a
  budget of a few a day and 40 a month: enough for honest use (a few per cent of patients).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vigie.identity.identifiers import Profession as P

MINUTE = 60.0
DAY = 86_400.0
MONTH = 30 * DAY


@dataclass(frozen=True, slots=True)
class Limits:
    minute: int
    day: int
    month: int

    def windows(self) -> tuple[tuple[int, float], ...]:
        return ((self.minute, MINUTE), (self.day, DAY), (self.month, MONTH))


# Full-card questions, per account.
ACCOUNT: dict[P, Limits] = {
    P.pharmacist: Limits(6, 400, 6_000),
    P.laboratory: Limits(10, 500, 8_000),
    P.hospital: Limits(15, 600, 10_000),
    P.physician: Limits(4, 80, 1_200),
    P.dentist: Limits(4, 60, 900),
    P.nurse: Limits(4, 60, 900),
    P.physiotherapist: Limits(4, 60, 900),
    P.optician: Limits(4, 50, 750),
    P.audiologist: Limits(2, 20, 300),
}
# Card-less questions (NIR + birth date + birth rank), per account.
CARDLESS: dict[P, Limits] = {
    P.pharmacist: Limits(1, 6, 60),
    P.laboratory: Limits(1, 6, 60),
    P.hospital: Limits(1, 8, 80),
    P.physician: Limits(1, 3, 30),
    P.dentist: Limits(1, 3, 30),
    P.nurse: Limits(1, 3, 30),
    P.physiotherapist: Limits(1, 3, 30),
    P.optician: Limits(1, 2, 20),
    P.audiologist: Limits(1, 2, 10),
}
STRUCTURE_FACTOR = 4
# When the risk engine slows an account down: two questions a minute, 40 an hour at most.
SLOW = ((2, MINUTE), (40, 3_600.0))


Check = tuple[str, int, float]  # (key, how many, per how many seconds)


class Checks(list[Check]):
    """The windows one question must fit in, built once per account and kind (never changed
    after), and what the quota store that takes them noted about them: where their state lives,
    found once rather than looked up by name on every question."""

    __slots__ = ("noted",)

    def __init__(self, windows: Iterable[Check] = ()) -> None:
        super().__init__(windows)
        self.noted: object = None  # the store's own (it checks that the note is its own)


def checks_for(
    profession: P, account: int, structure: int | None, *, cardless: bool, slowed: bool
) -> Checks:
    """The quota keys one question must fit in, all taken together or not at all."""
    table = CARDLESS if cardless else ACCOUNT
    tag = "c" if cardless else "f"
    limits = table[profession]
    found = Checks((f"a:{account}:{tag}:{int(p)}", n, p) for n, p in limits.windows())
    if structure is not None:
        found.extend(
            (f"s:{structure}:{tag}:{int(p)}", n * STRUCTURE_FACTOR, p) for n, p in limits.windows()
        )
    if slowed:
        found.extend((f"a:{account}:slow:{int(p)}", n, p) for n, p in SLOW)
    return found


def daily_allowance(profession: P) -> int:
    return ACCOUNT[profession].day
