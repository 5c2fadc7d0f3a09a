"""Audit routes: the latest signed tree head, inclusion and consistency proofs (security officer,
DPO; an insured person for their own entries only), and an insured person's access history."""

from __future__ import annotations

from functools import partial
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends
from starlette.responses import Response

from vigie.api.deps import AppServices, Services, require_roles
from vigie.api.errors import json_error
from vigie.audit import history, reader
from vigie.audit.proofs import ProofRequestError
from vigie.identity.principal import Principal, Role

router = APIRouter(prefix="/v1/audit", tags=["audit"])

Reader = Annotated[Principal, Depends(require_roles(Role.SECURITY_OFFICER, Role.DPO, Role.INSURED))]
MAX_U63 = 2**63 - 1


class BadParameter(ValueError):
    pass


def _size(value: str | None, name: str) -> int | None:
    """A tree size or an index: a decimal integer from 0, or None when absent."""
    if value is None or value == "":
        return None
    return _required(value, name)


def _required(value: str | None, name: str) -> int:
    if value is None or value == "":
        raise BadParameter(f"paramètre {name} manquant")
    if not (value.isascii() and value.isdigit()) or len(value) > 19 or int(value) > MAX_U63:
        raise BadParameter(f"paramètre {name} invalide : entier positif ou nul attendu")
    return int(value)


def _json(document: object) -> Response:
    return Response(orjson.dumps(document), media_type="application/json")


@router.get("/tree-head")
async def tree_head(caller: Reader, services: AppServices) -> Response:
    """The latest signed tree head and the log's public key."""
    head = await services.call(reader.tree_head, services.runtime)
    if head is None:
        return json_error(404, "aucune tête d'arbre signée pour l'instant")
    return _json(head)


@router.get("/proofs/inclusion")
async def inclusion_proof(
    caller: Reader,
    services: AppServices,
    leaf_index: str | None = None,
    tree_size: str | None = None,
) -> Response:
    """Proof that leaf ``leaf_index`` is in the signed tree of ``tree_size`` (default: latest)."""
    return await _inclusion(services, caller, tree_size, leaf_index=(leaf_index, "leaf_index"))


@router.get("/proofs/entries/{entry_id}")
async def entry_proof(
    entry_id: str, caller: Reader, services: AppServices, tree_size: str | None = None
) -> Response:
    """Proof that entry ``entry_id`` is in the signed tree of ``tree_size`` (default: latest)."""
    return await _inclusion(services, caller, tree_size, entry_id=(entry_id, "entry_id"))


async def _inclusion(
    services: Services,
    caller: Principal,
    tree_size: str | None,
    **selector: tuple[str | None, str],
) -> Response:
    """An inclusion proof for the leaf or entry ``selector`` names (value, parameter name)."""
    try:
        chosen = {key: _required(value, name) for key, (value, name) in selector.items()}
        find = partial(
            reader.inclusion_document,
            services.runtime,
            caller,
            tree_size=_size(tree_size, "tree_size"),
            **chosen,
        )
        document = await services.call(find)
    except (BadParameter, ProofRequestError) as exc:
        return json_error(400, str(exc))
    return _json(document)


@router.get("/proofs/consistency")
async def consistency_proof(
    caller: Reader,
    services: AppServices,
    old_size: str | None = None,
    tree_size: str | None = None,
) -> Response:
    """Proof that the signed tree of ``tree_size`` (default: latest) extends that of
    ``old_size`` without rewriting it."""
    try:
        old = _required(old_size, "old_size")
        size = _size(tree_size, "tree_size")
        document = await services.call(reader.consistency_document, services.runtime, old, size)
    except (BadParameter, ProofRequestError) as exc:
        return json_error(400, str(exc))
    return _json(document)


Insured = Annotated[Principal, Depends(require_roles(Role.INSURED))]


@router.get("/my-accesses")
async def my_accesses(caller: Insured, services: AppServices) -> Response:
    """Every check of the caller's rights, newest first, each with an inclusion proof."""
    try:
        document = await services.call(history.access_history, services.runtime, caller)
    except ProofRequestError as exc:
        return json_error(400, str(exc))
    return _json(document)
