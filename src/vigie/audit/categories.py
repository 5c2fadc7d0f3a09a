"""The categories of personal data an access can expose, as bits of one integer column.

Invariant: each bit has one meaning forever (entries already signed depend on it); new categories
take new bits.
"""

from __future__ import annotations

from enum import IntFlag


class DataCategory(IntFlag):
    COVERAGE_STATUS = 1  # whether a person is covered by a mutuelle on a date
    AMOUNTS = 2  # the AMO / AMC / patient split of billed care
    AGREEMENT = 4  # an agreement number guaranteeing a payment
    IDENTITY = 8  # identity and contact data (imports, a copy of the database)
    RIGHTS = 16  # contract, plan and periods of cover
    HEALTH_HINT = 32  # care categories, which hint at a person's health


LABELS_FR = {
    DataCategory.COVERAGE_STATUS: "statut de couverture complémentaire",
    DataCategory.AMOUNTS: "montants de prise en charge (AMO, AMC, reste à charge)",
    DataCategory.AGREEMENT: "numéros d'accord de prise en charge",
    DataCategory.IDENTITY: "données d'identité (nom, prénom, NIR, date de naissance, adresse)",
    DataCategory.RIGHTS: "contrat, garanties et périodes de droits",
    DataCategory.HEALTH_HINT: "catégories de soins (indication indirecte sur la santé)",
}


def labels(bits: int) -> list[str]:
    """French labels of the categories set in ``bits``, in a fixed order."""
    return [label for category, label in LABELS_FR.items() if bits & category]


def names(bits: int) -> list[str]:
    return [str(category.name).lower() for category in DataCategory if bits & category]
