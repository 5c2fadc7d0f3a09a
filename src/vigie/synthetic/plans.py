"""Synthetic mutuelles and their plans, written in the plans v1 exchange format.

Invariant: every plan belongs to one mutuelle (distinct 9-digit AMC numbers) and uses only v1
categories, each guarantee being {"pct_br": N} or {"flat": N, "per": act|equipment|ear|year}.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from vigie.eligibility.categories import Category as C

Guarantee = dict[str, int | str]
# A template entry: a percentage of BR drawn from these choices, or a Flat.
Pct = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Flat:
    """A flat amount drawn from `amounts`, per act, equipment, ear or year."""

    amounts: tuple[int, ...]
    per: str


Template = dict[C, Pct | Flat]

_PHARMACY: Template = {C.pharmacy_100: (100,), C.pharmacy_65: (100,), C.pharmacy_30: (100,)}
_BASE: Template = {
    C.consultation_gp: (100,),
    C.consultation_specialist: (100,),
    **_PHARMACY,
    C.lab: (100,),
    C.nursing: (100,),
    C.physiotherapy: (100,),
    C.hospital_fees: (100,),
    C.hospital_daily_fee: (100,),
    C.dental_care: (100,),
}


def _tier(base: Template, **entries: Pct | Flat) -> Template:
    return {**base, **{C(name): spec for name, spec in entries.items()}}


# Entry level (100 % BR, few categories) up to high end (300-400 % BR and large flats).
TIERS: dict[str, Template] = {
    "ECO": _BASE,
    "ESSENTIEL": _tier(_BASE, dental_moderate=(125,), optics_b=Flat((100,), "equipment")),
    "CONFORT": _tier(
        _BASE,
        consultation_gp=(125, 150),
        consultation_specialist=(150,),
        pharmacy_15=(100,),
        lab=(150,),
        nursing=(150,),
        physiotherapy=(150,),
        hospital_fees=(150, 200),
        dental_care=(150,),
        dental_moderate=(175, 200),
        optics_b=Flat((150, 200), "equipment"),
        audio_2=Flat((300, 400), "ear"),
    ),
    "EQUILIBRE": _tier(
        _BASE,
        consultation_gp=(150, 200),
        consultation_specialist=(200,),
        pharmacy_15=(100,),
        lab=(200,),
        nursing=(200,),
        physiotherapy=(200,),
        hospital_fees=(250,),
        dental_care=(200,),
        dental_moderate=(250,),
        dental_free=Flat((200, 300), "year"),
        optics_b=Flat((250,), "equipment"),
        audio_2=Flat((500, 600), "ear"),
    ),
    "PREMIUM": _tier(
        _BASE,
        consultation_gp=(200,),
        consultation_specialist=(250, 300),
        pharmacy_15=(100,),
        lab=(200,),
        nursing=(200,),
        physiotherapy=(250,),
        hospital_fees=(300,),
        dental_care=(300,),
        dental_moderate=(300, 350, 400),
        dental_free=Flat((400, 500, 600), "year"),
        optics_b=Flat((300, 350, 400), "equipment"),
        audio_2=Flat((700, 800, 1000), "ear"),
    ),
    "EXCELLENCE": _tier(
        _BASE,
        consultation_gp=(200,),
        consultation_specialist=(400,),
        pharmacy_15=(100,),
        lab=(300,),
        nursing=(300,),
        physiotherapy=(300,),
        hospital_fees=(400,),
        dental_care=(400,),
        dental_moderate=(400,),
        dental_free=Flat((800, 1000), "year"),
        optics_b=Flat((400,), "equipment"),
        audio_2=Flat((1200, 1400), "ear"),
    ),
}

# Not responsable: they may cover the participation-free categories freely, and have no ceilings.
NON_RESPONSABLE_TIERS: dict[str, Template] = {
    "LIBERTE": _tier(
        TIERS["EXCELLENCE"],
        consultation_gp=(300,),
        hospital_daily_fee=Flat((1000, 1500), "year"),
        dental_moderate=Flat((1000, 1200), "year"),
        optics_a=Flat((150,), "equipment"),
        dental_100s=(300,),
        audio_1=Flat((500,), "ear"),
        optics_b=Flat((600, 800), "equipment"),
        audio_2=Flat((1500, 1800), "ear"),
    ),
    "HOSPI": {
        C.consultation_specialist: (100,),
        C.hospital_fees: (150, 200),
        C.hospital_daily_fee: Flat((500, 1000), "year"),
    },
}

# How often a family picks each tier within its mutuelle (middle of the range sells most).
TIER_WEIGHTS = {
    "ECO": 25,
    "ESSENTIEL": 25,
    "CONFORT": 40,
    "EQUILIBRE": 40,
    "PREMIUM": 20,
    "EXCELLENCE": 10,
    "LIBERTE": 6,
    "HOSPI": 6,
}


@dataclass(frozen=True, slots=True)
class MutuelleSpec:
    name: str
    prefix: str
    share: int  # relative number of members
    tiers: tuple[str, ...]


# Fictional mutuelles; 3 non-responsable plans out of 20.
MUTUELLES: tuple[MutuelleSpec, ...] = (
    MutuelleSpec("Mutuelle Horizon Santé", "MHS", 30, ("ECO", "CONFORT", "PREMIUM", "LIBERTE")),
    MutuelleSpec(
        "Union Mutualiste des Vallées", "UMV", 22, ("ESSENTIEL", "EQUILIBRE", "EXCELLENCE")
    ),
    MutuelleSpec("Prévoyance Santé des Métiers", "PSM", 16, ("ECO", "CONFORT", "PREMIUM")),
    MutuelleSpec(
        "Mutuelle Familiale du Littoral", "MFL", 14, ("ESSENTIEL", "CONFORT", "EXCELLENCE", "HOSPI")
    ),
    MutuelleSpec("Solidarité Santé Atlantique", "SSA", 10, ("ESSENTIEL", "EQUILIBRE")),
    MutuelleSpec("Entraide Mutuelle du Centre", "EMC", 8, ("ECO", "CONFORT", "PREMIUM", "LIBERTE")),
)


@dataclass(frozen=True, slots=True)
class Plan:
    code: str
    amc: str
    responsable: bool
    guarantees: dict[str, Guarantee]
    tier: str

    def to_v1(self) -> dict[str, object]:
        return {
            "code": self.code,
            "amc": self.amc,
            "responsable": self.responsable,
            "guarantees": self.guarantees,
        }


@dataclass(frozen=True, slots=True)
class Mutuelle:
    name: str
    amc: str
    share: int
    plans: tuple[Plan, ...]


def _guarantee(rng: random.Random, spec: Pct | Flat) -> Guarantee:
    if isinstance(spec, Flat):
        return {"flat": rng.choice(spec.amounts), "per": spec.per}
    return {"pct_br": rng.choice(spec)}


def _plan(rng: random.Random, spec: MutuelleSpec, amc: str, tier: str) -> Plan:
    responsable = tier in TIERS
    template = TIERS[tier] if responsable else NON_RESPONSABLE_TIERS[tier]
    guarantees = {str(cat): _guarantee(rng, template[cat]) for cat in C if cat in template}
    return Plan(f"{spec.prefix}-{tier}", amc, responsable, guarantees, tier)


def make_mutuelles(rng: random.Random) -> tuple[Mutuelle, ...]:
    """The mutuelles with distinct AMC numbers and their plans, drawn from the templates."""
    amcs: list[str] = []
    while len(amcs) < len(MUTUELLES):
        amc = str(rng.randrange(100_000_000, 1_000_000_000))
        if amc not in amcs:
            amcs.append(amc)
    return tuple(
        Mutuelle(spec.name, amc, spec.share, tuple(_plan(rng, spec, amc, t) for t in spec.tiers))
        for spec, amc in zip(MUTUELLES, amcs, strict=True)
    )


def write_plans(path: Path, mutuelles: tuple[Mutuelle, ...]) -> int:
    """Write plans.json (v1 format) and return the number of plans."""
    plans = [plan.to_v1() for m in mutuelles for plan in m.plans]
    path.write_text(json.dumps({"plans": plans}, ensure_ascii=False, indent=2) + "\n", "utf-8")
    return len(plans)
