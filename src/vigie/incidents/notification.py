"""The notification to the CNIL (GDPR art. 33) as data: nature, categories and approximate
numbers of people and records per controller (each mutuelle), DPO contact, likely consequences,
measures taken and planned, the 72-hour clock, and what later phases will complete.

Invariant: the notification holds counts and categories only, never a person's data.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from vigie.audit.categories import DataCategory, labels
from vigie.incidents.scope import Scope
from vigie.incidents.service import IncidentView

DEADLINE = timedelta(hours=72)

NATURE = {
    "accounts": (
        "Violation de confidentialité : des comptes de professionnels de santé (ou les comptes "
        "de structures) ont été utilisés par un tiers non autorisé pour consulter des droits "
        "de tiers payant."
    ),
    "database_copy": (
        "Violation de confidentialité : une copie de la base de données de la plateforme de "
        "tiers payant a été obtenue par un tiers non autorisé."
    ),
}

CONSEQUENCES = [
    "hameçonnage ciblé (courriels, SMS ou appels se réclamant de la mutuelle, de l'Assurance "
    "maladie ou d'un professionnel de santé) rendu plus crédible par les données exposées",
    "usurpation d'identité ou tentatives d'escroquerie s'appuyant sur l'appartenance à une "
    "mutuelle et les droits ouverts",
]


def _encrypted_note(incident: IncidentView) -> str | None:
    d = incident.declaration
    if d.kind != "database_copy":
        return None
    if d.keys_compromised:
        return "Les clés de chiffrement ont également été compromises : données lisibles."
    return (
        "Les données d'identité (NIR, noms, numéro d'adhérent, adresse) sont chiffrées "
        "(AES-256-GCM) avec des clés conservées hors de la base, qui n'ont pas été compromises ; "
        "le NIR n'est retrouvable que par un index à clé (HMAC)."
    )


def _declared(incident: IncidentView) -> int:
    """What a copy of the database exposes even where no one was counted."""
    if incident.declaration.kind != "database_copy":
        return 0
    return int(
        DataCategory.IDENTITY
        | DataCategory.RIGHTS
        | DataCategory.AGREEMENT
        | DataCategory.AMOUNTS
        | DataCategory.HEALTH_HINT
    )


def build_notification(
    incident: IncidentView, scope: Scope, *, dpo_contact: str, now: datetime
) -> dict[str, Any]:
    d = incident.declaration
    deadline = d.detected_at + DEADLINE
    consequences = list(CONSEQUENCES)
    if scope.categories & DataCategory.IDENTITY and not _encrypted_note(incident):
        consequences.append("divulgation de l'identité et du NIR des personnes concernées")
    return {
        "objet": "Notification de violation de données personnelles (RGPD, article 33)",
        "incident": incident.id,
        "phase": "notification initiale",
        "nature": NATURE[d.kind],
        "description": d.description,
        "periode": {
            "debut": d.start.isoformat(timespec="seconds") if d.start else None,
            "fin": d.end.isoformat(timespec="seconds") if d.end else None,
        },
        "chronologie": {
            "prise_de_connaissance": d.detected_at.isoformat(timespec="seconds"),
            "echeance_72_heures": deadline.isoformat(timespec="seconds"),
            "notification": now.isoformat(timespec="seconds"),
            "dans_le_delai": now <= deadline,
            "heures_restantes": max(0, int((deadline - now).total_seconds() // 3600)),
            "motif_du_retard": None if now <= deadline else "à compléter par le DPO",
        },
        "categories_de_personnes": "assurés bénéficiaires de contrats de complémentaire santé",
        "nombre_approximatif_de_personnes": scope.people,
        "nombre_approximatif_d_enregistrements": scope.records,
        "categories_de_donnees": labels(scope.categories or _declared(incident)),
        "chiffrement": _encrypted_note(incident),
        "responsables_de_traitement": [
            {
                "amc": m.amc,
                "personnes": m.people,
                "enregistrements": m.records,
                "categories_de_donnees": labels(m.categories),
                "requetes_negatives": m.refused,
            }
            for m in scope.mutuelles
        ],
        "sous_traitant": "Vigie, plateforme de tiers payant, pour le compte de chaque mutuelle",
        "contact_dpo": dpo_contact,
        "consequences_probables": consequences,
        "mesures_prises": d.measures_taken,
        "mesures_envisagees": d.measures_planned,
        "information_des_personnes": (
            "Oui (article 34) : une lettre à chaque personne concernée, adressée par sa mutuelle, "
            "sans lien cliquable, avec des conseils contre l'hameçonnage."
        ),
        "completements_a_venir": [
            "confirmation du périmètre après analyse complète des journaux",
            "résultat des investigations techniques (origine de la compromission)",
            "date d'envoi des lettres par chaque mutuelle",
        ],
        "mode_de_calcul": (
            "Personnes et enregistrements comptés dans le journal d'accès infalsifiable "
            "(arbre de Merkle, têtes signées) : réponses positives et annulations obtenues par "
            "les comptes ou structures compromis pendant la période."
            if d.kind == "accounts"
            else "Toutes les personnes et tous les enregistrements présents dans la base."
        ),
    }
