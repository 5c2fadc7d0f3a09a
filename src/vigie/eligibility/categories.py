"""Care categories v1 and the families that share a renewal period."""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    consultation_gp = "consultation_gp"
    consultation_specialist = "consultation_specialist"
    pharmacy_100 = "pharmacy_100"
    pharmacy_65 = "pharmacy_65"
    pharmacy_30 = "pharmacy_30"
    pharmacy_15 = "pharmacy_15"
    lab = "lab"
    nursing = "nursing"
    physiotherapy = "physiotherapy"
    hospital_fees = "hospital_fees"
    hospital_daily_fee = "hospital_daily_fee"
    dental_care = "dental_care"
    dental_100s = "dental_100s"
    dental_moderate = "dental_moderate"
    dental_free = "dental_free"
    optics_a = "optics_a"
    optics_b = "optics_b"
    audio_1 = "audio_1"
    audio_2 = "audio_2"


class LensClass(StrEnum):
    simple = "simple"
    complex = "complex"
    very_complex = "very_complex"


# Covered in full above the AMO by every responsable plan (100 % Santé).
SANTE_100 = frozenset({Category.optics_a, Category.dental_100s, Category.audio_1})

# Equipment families: one renewal period per family and beneficiary.
OPTICS = frozenset({Category.optics_a, Category.optics_b})
AUDIO = frozenset({Category.audio_1, Category.audio_2})


def equipment_family(category: Category) -> str | None:
    if category in OPTICS:
        return "optics"
    if category in AUDIO:
        return "audio"
    return None
