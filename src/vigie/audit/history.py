"""An insured person's access history: every check of their rights (when, which kind of
professional, which structure, the answer), each with its inclusion proof against the latest
signed head, so that they need not trust the operator's word for it.

Invariant: only entries carrying the caller's own pseudonym are read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import text

from vigie.audit.proofs import ProofRequestError, inclusion, latest_head
from vigie.audit.reader import own_pseudonym
from vigie.audit.sequencer import public_key_text
from vigie.identity.principal import Principal
from vigie.runtime import Runtime

LIMIT = 200

PROFESSIONS_FR = {
    "pharmacist": "pharmacien",
    "physician": "médecin",
    "dentist": "chirurgien-dentiste",
    "optician": "opticien",
    "audiologist": "audioprothésiste",
    "nurse": "infirmier",
    "physiotherapist": "masseur-kinésithérapeute",
    "laboratory": "laboratoire de biologie",
    "hospital": "établissement de santé",
}
ANSWERS_FR = {
    ("eligibility", "positive"): "droits confirmés",
    ("eligibility", "negative"): "réponse négative",
    ("cancellation", "cancelled"): "accord de prise en charge annulé",
}

_OWN_ENTRIES = text(
    "SELECT e.id, e.at_us, e.kind, e.outcome, e.detail, s.name, l.leaf_index"
    " FROM access_log e"
    " LEFT JOIN structures s ON s.id = e.structure_id"
    " LEFT JOIN audit_leaves l ON l.entry_id = e.id"
    " WHERE e.insured = :own AND e.kind IN ('eligibility', 'cancellation')"
    " ORDER BY e.id DESC LIMIT :limit"
)


def access_history(runtime: Runtime, principal: Principal) -> dict[str, Any]:
    own = own_pseudonym(runtime, principal)
    if own is None:
        raise ProofRequestError("historique réservé à la personne assurée elle-même")
    log_id = runtime.settings.audit_log_id
    with runtime.engine.connect() as conn:
        head = latest_head(conn, log_id)
        accesses = []
        for row in conn.execute(_OWN_ENTRIES, {"own": own, "limit": LIMIT}):
            proof = None
            signed = head is not None and row.leaf_index is not None
            if signed and row.leaf_index < head.head.tree_size:  # type: ignore[union-attr]
                found = inclusion(conn, log_id, leaf_index=row.leaf_index)
                proof = {
                    k: v
                    for k, v in found.document("").items()
                    if k in ("leaf_index", "entry_id", "leaf_entry", "audit_path")
                }
            accesses.append(_access(row, proof))
    return {
        "public_key": public_key_text(runtime.keys),
        "tree_head": head.to_dict() if head is not None else None,
        "accesses": accesses,
        "complete": len(accesses) < LIMIT,
    }


def _access(row: Any, proof: dict[str, Any] | None) -> dict[str, Any]:
    detail = orjson.loads(row.detail)
    profession = str(detail.get("profession", ""))
    return {
        "at": datetime.fromtimestamp(row.at_us / 1_000_000, tz=UTC).isoformat(timespec="seconds"),
        "kind": row.kind,
        "mode": detail.get("mode"),
        "profession": PROFESSIONS_FR.get(profession, "professionnel de santé"),
        "structure": row.name,
        "answer": ANSWERS_FR.get((row.kind, row.outcome), row.outcome),
        "proof": proof,
    }
