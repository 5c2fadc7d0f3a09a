"""Finding the resources of a request: contained or bundled, references and extensions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vigie.api.fhir_mapping.common import (
    CER,
    FhirInputError,
    JsonObject,
    _child,
    _malformed,
    _object,
    _optional_array,
    _string,
)

# --- Envelope and references --------------------------------------------------------------------


@dataclass(frozen=True)
class _Lookup:
    """Resolves literal references: ``#id`` in a container's ``contained``, else Bundle entries."""

    entries: tuple[tuple[str | None, JsonObject], ...] = ()

    def resolve(
        self, reference: JsonObject, expr: str, expected: str, *, container: JsonObject
    ) -> tuple[JsonObject, JsonObject]:
        """The referenced resource, and the container its own ``#id`` references point into."""
        ref_expr = f"{expr}.reference"
        ref = _string(reference, "reference", ref_expr, f"référence vers une ressource {expected}")
        if ref.startswith("#"):
            found, inner = _contained(container, ref[1:], expr), container
        else:
            found = self._entry(ref)
            inner = found if found is not None else container
        if found is None:
            where = "ni dans contained ni dans le Bundle" if self.entries else "dans contained"
            raise FhirInputError(
                f"Référence non résolue : {ref_expr} (ressource {expected} introuvable {where}).",
                [ref_expr],
                code="not-found",
            )
        if found.get("resourceType") != expected:
            raise FhirInputError(
                f"{ref_expr} doit désigner une ressource {expected}.", [ref_expr], code="invalid"
            )
        return found, inner

    def _entry(self, ref: str) -> JsonObject | None:
        for full_url, resource in self.entries:
            local = f"{resource.get('resourceType')}/{resource.get('id')}"
            if ref in (full_url, local):
                return resource
        return None


def _contained(container: JsonObject, ident: str, expr: str) -> JsonObject | None:
    contained = container.get("contained")
    if contained is None:
        return None
    if not isinstance(contained, list):
        raise _malformed(f"{container.get('resourceType')}.contained", "tableau JSON")
    for resource in contained:
        if isinstance(resource, dict) and resource.get("id") == ident:
            return resource
    return None


def _unwrap(body: object) -> tuple[JsonObject, _Lookup]:
    """The CoverageEligibilityRequest, and how to resolve its references."""
    if not isinstance(body, dict):
        raise FhirInputError(
            "Le corps doit être un objet JSON : ressource CoverageEligibilityRequest ou Bundle.",
            code="structure",
        )
    kind = body.get("resourceType")
    if kind == CER:
        return body, _Lookup()
    if kind == "Bundle":
        return _from_bundle(body)
    raise FhirInputError(
        "resourceType non pris en charge : CoverageEligibilityRequest ou Bundle attendu.",
        ["resourceType"],
        code="not-supported",
    )


def _from_bundle(bundle: JsonObject) -> tuple[JsonObject, _Lookup]:
    if bundle.get("type") not in ("collection", "batch"):
        raise FhirInputError(
            "Bundle.type non pris en charge : collection ou batch attendu.",
            ["Bundle.type"],
            code="not-supported",
        )
    raw_entries = _optional_array(bundle, "entry", "Bundle.entry")
    entries = tuple(_bundle_entry(entry, i) for i, entry in enumerate(raw_entries))
    requests = [resource for _, resource in entries if resource.get("resourceType") == CER]
    if len(requests) != 1:
        raise FhirInputError(
            "Le Bundle doit contenir exactement une ressource CoverageEligibilityRequest.",
            ["Bundle.entry"],
        )
    return requests[0], _Lookup(entries)


def _bundle_entry(value: object, index: int) -> tuple[str | None, JsonObject]:
    expr = f"Bundle.entry[{index}]"
    entry = _object(value, expr)
    resource = _child(entry, "resource", f"{expr}.resource", "ressource")
    full_url = entry.get("fullUrl")
    if full_url is not None and not isinstance(full_url, str):
        raise _malformed(f"{expr}.fullUrl", "URI")
    return full_url, resource


def _extensions(element: JsonObject, expr: str) -> dict[str, JsonObject]:
    """Extensions by URL; a repeated URL is refused, and so is any modifierExtension."""
    _no_modifier_extension(element, expr)
    found: dict[str, JsonObject] = {}
    for i, value in enumerate(_optional_array(element, "extension", f"{expr}.extension")):
        extension = _object(value, f"{expr}.extension[{i}]")
        url = _string(extension, "url", f"{expr}.extension[{i}].url", "URL d'extension")
        if url in found:
            raise FhirInputError(
                f"Extension répétée : {_ext_expr(expr, url)}.", [_ext_expr(expr, url)]
            )
        found[url] = extension
    return found


def _no_modifier_extension(element: JsonObject, expr: str) -> None:
    """FHIR: a modifier extension that is not understood makes the element unusable."""
    if element.get("modifierExtension"):
        raise FhirInputError(
            f"modifierExtension non prise en charge : {expr}.modifierExtension.",
            [f"{expr}.modifierExtension"],
            code="not-supported",
        )


def _ext_expr(expr: str, url: str) -> str:
    return f"{expr}.extension('{url}')"


def _ext_value(
    extensions: Mapping[str, JsonObject], url: str, value_key: str, expr: str
) -> tuple[object, str] | None:
    """The ``value[x]`` of the extension ``url`` and its expression; None when absent."""
    extension = extensions.get(url)
    if extension is None:
        return None
    value_expr = f"{_ext_expr(expr, url)}.{value_key}"
    if extension.get(value_key) is None:
        raise _malformed(_ext_expr(expr, url), value_key)
    return extension[value_key], value_expr
