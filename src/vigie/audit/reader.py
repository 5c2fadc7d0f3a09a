"""What the audit API reads, as units of work: the latest signed head, proofs, and an insured
person's own access history, each answered from one connection.

Invariant: an insured caller only ever gets entries whose pseudonym is their own; any other entry
is answered exactly as a missing one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from vigie.audit.log import pseudonym
from vigie.audit.proofs import ProofRequestError, consistency, inclusion, latest_head
from vigie.audit.sequencer import public_key_text
from vigie.identity.principal import Principal, Role
from vigie.rights.protected import cardless_message, unseal
from vigie.runtime import Runtime

NOT_FOUND = "entrée introuvable ou pas encore séquencée"


def own_pseudonym(runtime: Runtime, principal: Principal) -> bytes | None:
    """The log pseudonym of an insured caller; None for every other role. The caller is known
    by their cardless blind index: one of their beneficiary records gives their identity."""
    if principal.role != Role.INSURED:
        return None
    if principal.insured_index is None:
        raise ProofRequestError("compte assuré sans identité rattachée")
    keyring = runtime.current_keyring()
    with runtime.engine.connect() as conn:
        row = conn.execute(
            text("SELECT amc, key_id, pii FROM beneficiaries WHERE cardless_index = :ix LIMIT 1"),
            {"ix": principal.insured_index},
        ).first()
    if row is None:
        raise ProofRequestError("compte assuré sans identité rattachée")
    person = unseal(keyring, row.amc, row.key_id, bytes(row.pii))
    identity = cardless_message(person.nir, person.birth_date, person.birth_rank)
    return pseudonym(runtime.keys.audit_keys().pseudonym, identity)


def tree_head(runtime: Runtime) -> dict[str, Any] | None:
    with runtime.engine.connect() as conn:
        head = latest_head(conn, runtime.settings.audit_log_id)
    if head is None:
        return None
    return {"public_key": public_key_text(runtime.keys), "tree_head": head.to_dict()}


def inclusion_document(
    runtime: Runtime,
    principal: Principal,
    *,
    leaf_index: int | None = None,
    entry_id: int | None = None,
    tree_size: int | None = None,
) -> dict[str, Any]:
    own = own_pseudonym(runtime, principal)
    with runtime.engine.connect() as conn:
        proof = inclusion(
            conn,
            runtime.settings.audit_log_id,
            leaf_index=leaf_index,
            entry_id=entry_id,
            size=tree_size,
        )
    if own is not None and (proof.insured is None or bytes(proof.insured) != own):
        raise ProofRequestError(NOT_FOUND)
    return proof.document(public_key_text(runtime.keys))


def consistency_document(runtime: Runtime, old_size: int, tree_size: int | None) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        document = consistency(conn, runtime.settings.audit_log_id, old_size, tree_size)
    return {**document, "public_key": public_key_text(runtime.keys)}
