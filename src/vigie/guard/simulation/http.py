"""``vigie simulate --http``: the attacks that play out in minutes, live, against a server.

Over HTTP the guard sees what it sees in production: real tokens, the server's own quotas, risk
state and wall clock, and the answers of its database. So only the attacks that end in minutes
run here, each on its own account and at once: (a) scraping as fast as Retry-After allows,
(d) card-less enrichment from a NIR list, (e) guessed identifiers. The swarm (c) and the slow
account (b) pace themselves under day quotas for hours or weeks, and the honest month (false
containments) needs as long: they need the simulated clock of the in-process mode.

The attacker's credentials are tokens of the development identity provider, minted here for
professionals of the seed (a phished account; every step-up passed by minting a fresh token,
the worst case). The people asked about come from the seed's rights file (their full card data:
the worst case), or, for (d) and (e), are NIRs with valid keys.

Invariant: nothing but HTTP reaches the server; the counts come from its answers alone.
"""

from __future__ import annotations

import csv
import http.client
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from vigie.guard.quotas import CARDLESS
from vigie.guard.simulation.report import EXPOSED_TARGET
from vigie.identity.identifiers import Profession
from vigie.synthetic.nir import nir_key

# A Retry-After this long means a day or month window is spent, not the minute's.
HELD = 600.0
LINE = {"category": "pharmacy_65", "billed": "12.40", "br": "12.40", "amo_rate": "0.65"}
LABELS = {
    "a": "(a) un compte, au plus vite",
    "d": "(d) liste de NIR",
    "e": "(e) devinette",
}
NOT_OVER_HTTP = {
    "b": "(b) un compte, lent : des semaines de questions, horloge simulée seulement",
    "c": "(c) essaim : des heures sous les quotas du jour, horloge simulée seulement",
    "honest": "faux confinements : un mois d'activité honnête, horloge simulée seulement",
}
MODEL = (
    "Attaques jouées en direct contre un serveur Vigie en marche (HTTP, jetons réels, garde et"
    " base du serveur, horloge réelle). Les attaquants passent chaque réauthentification (pire"
    " cas : un nouveau jeton) et respectent Retry-After."
)


class ServerError(RuntimeError):
    """The server answered something an attack cannot go on from."""


@dataclass(frozen=True)
class Person:
    amc: str
    member: str
    nir: str
    birth_date: str
    birth_rank: int

    def question(self, day: date, *, cardless: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "patient": {
                "nir": self.nir,
                "birth_date": self.birth_date,
                "birth_rank": self.birth_rank,
            },
            "date": day.isoformat(),
            "mode": "estimate",
            "lines": [LINE],
        }
        if not cardless:
            body["card"] = {"amc": self.amc, "member": self.member}
        return body


@dataclass
class Outcome:
    key: str
    rpps: str
    asked: int = 0
    exposed: set[str] = field(default_factory=set)  # the NIRs answered positively
    throttled: int = 0
    step_ups: int = 0
    # Seconds from the attack's first question to its suspension, or to a refusal whose
    # Retry-After (HELD or more: a day or month quota spent) outlasts the run.
    contained_after: float | None = None
    contained_by: str | None = None  # "suspension" or "quota"
    stopped: str = ""  # why the attack ended

    def result(self) -> dict[str, Any]:
        target = EXPOSED_TARGET[self.key]
        return {
            "scenario": self.key,
            "label": LABELS[self.key],
            "accounts": 1,
            "questions": self.asked,
            "exposed": len(self.exposed),
            "exposed_target": target,
            "contained_accounts": int(self.contained_after is not None),
            "containment_s_max": _round(self.contained_after),
            "containment_s_median": _round(self.contained_after),
            "throttled": self.throttled,
            "step_ups": self.step_ups,
            "contained_by": self.contained_by,
            "stopped": self.stopped,
            "met": len(self.exposed) <= target and self.contained_after is not None,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class Server:
    """One keep-alive connection per attack to the server at ``url``."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"adresse de serveur invalide : {url}")
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        self.timeout = timeout

    def connect(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        return kind(self.host, self.port, timeout=self.timeout)

    @staticmethod
    def ask(
        conn: http.client.HTTPConnection, token: str, device: str, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any], float]:
        """(status, JSON body, Retry-After seconds) of one POST /v1/eligibility."""
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "User-Agent": device,
        }
        payload = json.dumps(body)
        try:
            conn.request("POST", "/v1/eligibility", payload, headers)
            response = conn.getresponse()
        except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
            # The server closed the idle keep-alive connection (while the attacker waited out a
            # Retry-After): ask again on a new one.
            conn.close()
            conn.request("POST", "/v1/eligibility", payload, headers)
            response = conn.getresponse()
        raw = response.read()
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            answer = {}
        retry = float(response.getheader("Retry-After") or 0)
        return response.status, answer if isinstance(answer, dict) else {}, retry


Minter = Callable[[str], str]  # RPPS -> a fresh access token


@dataclass
class Attack:
    """One phished account asking ``next_question()`` until contained or out of time.

    ``candidates``: accounts to phish, in order; one already suspended (an earlier run) is
    passed over on its first answer, which counts for nothing."""

    key: str
    candidates: list[str]
    device: str
    next_question: Callable[[], tuple[dict[str, Any], str]]  # (body, the NIR asked about)
    pace: float  # seconds between questions when not throttled

    def run(self, server: Server, mint: Minter, deadline: float) -> Outcome:
        conn = server.connect()
        try:
            for rpps in self.candidates:
                out = self._phish(server, conn, mint, Outcome(self.key, rpps), deadline)
                if out is not None:
                    return out
        finally:
            conn.close()
        raise ServerError(
            f"scénario {self.key} : tous les comptes prévus sont déjà suspendus ; levez les"
            " suspensions ('vigie guard lift') ou changez de graine (--seed)"
        )

    def _phish(
        self, server: Server, conn: http.client.HTTPConnection, mint: Minter, out: Outcome,
        deadline: float,
    ) -> Outcome | None:  # fmt: skip
        token = mint(out.rpps)
        started = time.monotonic()
        stepped = False  # the last answer asked for a step-up
        while time.monotonic() < deadline:
            body, nir = self.next_question()
            status, answer, retry = server.ask(conn, token, self.device, body)
            reason = answer.get("reason")
            if status == 403 and reason == "account_suspended":
                if out.asked == 0:
                    return None  # suspended before this run: not this attack's doing
                out.asked += 1
                out.contained_after = time.monotonic() - started
                out.contained_by = "suspension"
                out.stopped = "compte suspendu"
                return out
            out.asked += 1
            if status == 200:
                if answer.get("eligible") is True:
                    out.exposed.add(nir)
                wait = self.pace
            elif status == 503:  # the server's store or shared quotas away a moment
                wait = max(retry, 1.0, self.pace)
            elif status == 429:
                out.throttled += 1
                wait = max(retry, self.pace)
                if wait >= HELD and time.monotonic() + wait >= deadline:
                    # A day or month quota spent (the card-less budget): held past the run.
                    out.contained_after = time.monotonic() - started
                    out.contained_by = "quota"
                    out.stopped = f"quota épuisé : Retry-After {wait / 60:.0f} min"
                    return out
            elif status == 401 and reason == "step_up_required" and not stepped:
                out.step_ups += 1
                token = mint(out.rpps)  # the worst case: the attacker passes it
                stepped = True
                continue
            else:
                raise ServerError(f"réponse inattendue du serveur : {status} {reason or ''}")
            stepped = False
            time.sleep(max(0.0, min(wait, deadline - time.monotonic())))
        out.stopped = "temps écoulé"
        return out


@dataclass(frozen=True)
class Seed:
    people: list[Person]
    professionals: dict[Profession, list[str]]  # RPPS by profession, in file order

    @classmethod
    def read(cls, folder: Path, day: date) -> Seed:
        iso = day.isoformat()
        people: list[Person] = []
        with (folder / "rights.csv").open(encoding="utf-8", newline="") as stream:
            for row in csv.DictReader(stream):
                if row["start"] <= iso and (not row["end"] or row["end"] >= iso):
                    people.append(
                        Person(row["amc"], row["member"], row["nir"], row["birth_date"],
                               int(row["birth_rank"]))
                    )  # fmt: skip
        pros: dict[Profession, list[str]] = {}
        with (folder / "professionals.csv").open(encoding="utf-8", newline="") as stream:
            for row in csv.DictReader(stream):
                pros.setdefault(Profession(row["profession"]), []).append(row["rpps"])
        if not people:
            raise ValueError(f"aucun droit ouvert le {iso} dans {folder / 'rights.csv'}")
        return cls(people, pros)

    def accounts(self, profession: Profession, rng: random.Random) -> list[str]:
        """The professionals of a profession in a random order, the first one (the demo's
        example) left out."""
        found = self.professionals.get(profession, [])[1:]
        if not found:
            raise ValueError(f"aucun professionnel « {profession.value} » dans le jeu")
        return rng.sample(found, len(found))


def attacks(seed: Seed, day: date, rng: random.Random, only: str, stamp: str) -> list[Attack]:
    """The attacks named in ``only`` (letters among a, d, e), each on its own accounts."""
    pharmacists = seed.accounts(Profession.pharmacist, rng)
    half = max(1, len(pharmacists) // 2)
    nurses = seed.accounts(Profession.nurse, rng)
    people = seed.people
    cardless_pace = 60.0 / CARDLESS[Profession.pharmacist].minute

    def scrape() -> tuple[dict[str, Any], str]:
        person = rng.choice(people)
        return person.question(day, cardless=False), person.nir

    def enrich() -> tuple[dict[str, Any], str]:
        # Most of another leak's list is insured here too.
        person = rng.choice(people) if rng.random() < 0.7 else _stranger(rng)
        return person.question(day, cardless=True), person.nir

    prefix = rng.choice(people).nir[:10]
    order = iter(range(1, 1000))

    def guess() -> tuple[dict[str, Any], str]:
        person = _guessed(prefix, next(order, 999), rng)
        return person.question(day, cardless=True), person.nir

    made = {
        "a": Attack("a", pharmacists[:half], f"sim-{stamp}/a", scrape, 0.0),
        "d": Attack("d", pharmacists[half:] or pharmacists, f"sim-{stamp}/d", enrich,
                    cardless_pace),
        "e": Attack("e", nurses, f"sim-{stamp}/e", guess, cardless_pace),
    }  # fmt: skip
    return [made[key] for key in "ade" if key in only]


def _stranger(rng: random.Random) -> Person:
    """Someone from another leak who is not insured here (a valid NIR, born in 1901)."""
    body = f"{rng.choice('12')}01{rng.randint(1, 12):02d}75{rng.randint(101, 120):03d}"
    body += f"{rng.randint(1, 999):03d}"
    return Person("", "", body + nir_key(body), f"1901-{body[3:5]}-01", 1)


def _guessed(prefix: str, order: int, rng: random.Random) -> Person:
    """The next order number after a real NIR's prefix, on a birth day picked at random."""
    body = f"{prefix}{order:03d}"
    year = int(body[1:3])
    century = 2000 if year <= date.today().year % 100 else 1900
    birth = f"{century + year}-{body[3:5]}-{rng.randint(1, 28):02d}"
    return Person("", "", body + nir_key(body), birth, 1)


def run(
    server: Server, mint: Minter, chosen: list[Attack], seconds: float
) -> tuple[list[Outcome], float]:
    """Every attack at once, each in its own thread, until contained or ``seconds`` pass."""
    started = time.monotonic()
    deadline = started + seconds
    outcomes: list[Outcome] = []
    errors: list[BaseException] = []

    def one(attack: Attack) -> None:
        try:
            outcomes.append(attack.run(server, mint, deadline))
        except BaseException as exc:  # reported once every thread is done
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(a,), daemon=True) for a in chosen]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    order = {a.key: i for i, a in enumerate(chosen)}
    return sorted(outcomes, key=lambda o: order[o.key]), time.monotonic() - started


def results(outcomes: list[Outcome], elapsed: float, seconds: float, seed: int) -> dict[str, Any]:
    run_keys = {o.key for o in outcomes}
    return {
        "mode": "http",
        "model": MODEL,
        "seed": seed,
        "seconds_allowed": seconds,
        "elapsed_s": round(elapsed, 1),
        "scenarios": [o.result() for o in outcomes],
        "not_run": {
            **{k: f"{v} : non demandé (--only)" for k, v in LABELS.items() if k not in run_keys},
            **NOT_OVER_HTTP,
        },
        "honest": None,
    }
