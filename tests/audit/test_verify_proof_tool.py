"""The standalone verifier (tools/verify_proof.py): it accepts what the project proves, refuses
any tampering, and agrees with ``vigie.audit`` case by case."""

from __future__ import annotations

import base64
import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from vigie.audit.merkle import (
    MerkleTree,
    ProofError,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from vigie.audit.tree_head import (
    SignatureError,
    SignedTreeHead,
    TreeHead,
    encode_public_key,
    sign_tree_head,
    verify_tree_head,
)

TOOL_PATH = Path(__file__).resolve().parents[2] / "tools" / "verify_proof.py"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
PUBLIC_KEY = encode_public_key(KEY.public_key())
LOG_ID = "vigie-test"
ENTRIES = [f'{{"seq": {i}, "kind": "eligibility"}}'.encode() for i in range(40)]
TREE = MerkleTree(leaf_hash(e) for e in ENTRIES)


def _load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_proof", TOOL_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


def _head(size: int, key: Ed25519PrivateKey = KEY, log_id: str = LOG_ID) -> dict[str, Any]:
    head = TreeHead(size, TREE.root(size), 1_706_486_400_000 + size, log_id)
    return dict(sign_tree_head(head, key).to_dict())


def inclusion_document(index: int, size: int) -> dict[str, Any]:
    return {
        "kind": "inclusion",
        "public_key": PUBLIC_KEY,
        "tree_head": _head(size),
        "leaf_index": index,
        "leaf_hash": TREE.leaf(index).hex(),
        "audit_path": [node.hex() for node in TREE.inclusion_proof(index, size)],
    }


def consistency_document(old: int, new: int) -> dict[str, Any]:
    return {
        "kind": "consistency",
        "public_key": PUBLIC_KEY,
        "old_tree_head": _head(old),
        "tree_head": _head(new),
        "proof": [node.hex() for node in TREE.consistency_proof(old, new)],
    }


def _flip_hex(value: str, position: int = 0) -> str:
    raw = bytearray(bytes.fromhex(value))
    raw[position] ^= 0x01
    return raw.hex()


def _run(tmp_path: Path, document: object, *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(TOOL_PATH), str(path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --- As a subprocess, on documents made by the project -----------------------------------------


def test_tool_accepts_an_inclusion_proof_from_the_project(tmp_path: Path) -> None:
    result = _run(tmp_path, inclusion_document(17, 37))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK inclusion: leaf 17 ")
    assert PUBLIC_KEY in result.stdout


def test_tool_accepts_a_leaf_entry_against_a_pinned_key(tmp_path: Path) -> None:
    document = inclusion_document(3, 40)
    del document["leaf_hash"], document["public_key"]
    document["leaf_entry"] = base64.b64encode(ENTRIES[3]).decode("ascii")
    result = _run(tmp_path, document, "--public-key", PUBLIC_KEY)
    assert result.returncode == 0, result.stderr
    assert "(pinned)" in result.stdout


def test_tool_accepts_a_consistency_proof_from_the_project(tmp_path: Path) -> None:
    result = _run(tmp_path, consistency_document(13, 40))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK consistency: log vigie-test at tree size 40 ")


def test_tool_refuses_a_tampered_inclusion_proof(tmp_path: Path) -> None:
    document = inclusion_document(17, 37)
    document["audit_path"][2] = _flip_hex(document["audit_path"][2], 5)
    result = _run(tmp_path, document)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("FAIL: inclusion proof does not lead to the signed root")


def test_tool_refuses_a_tampered_consistency_proof(tmp_path: Path) -> None:
    document = consistency_document(13, 40)
    document["proof"].pop()
    result = _run(tmp_path, document)
    assert result.returncode == 1
    assert result.stderr.startswith("FAIL: consistency proof too short")


def test_tool_refuses_a_head_it_cannot_read(tmp_path: Path) -> None:
    result = _run(tmp_path, inclusion_document(0, 1), "--public-key", "AAAA")
    assert result.returncode == 1
    assert result.stderr.startswith("FAIL: ")


# --- In process (same code, without a process per case) ---------------------------------------


def _verdict(document: object, pinned: str | None = None) -> str:
    try:
        return str(tool.verify_document(document, pinned))
    except tool.VerificationError as exc:
        return f"FAIL: {exc}"


def _tampered(document: dict[str, Any], path: list[str | int], value: object) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    target: Any = changed
    for step in path[:-1]:
        target = target[step]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return changed


_DELETE = object()
INCLUSION = inclusion_document(17, 37)
CONSISTENCY = consistency_document(13, 40)
TAMPERED_DOCUMENTS: dict[str, dict[str, Any]] = {
    "another leaf index": _tampered(INCLUSION, ["leaf_index"], 16),
    "a leaf index beyond the tree": _tampered(INCLUSION, ["leaf_index"], 37),
    "another leaf hash": _tampered(INCLUSION, ["leaf_hash"], TREE.leaf(16).hex()),
    "another leaf entry": _tampered(
        _tampered(INCLUSION, ["leaf_hash"], _DELETE),
        ["leaf_entry"],
        base64.b64encode(ENTRIES[16]).decode(),
    ),
    "both leaf hash and entry": _tampered(INCLUSION, ["leaf_entry"], ""),
    "a node added": _tampered(INCLUSION, ["audit_path"], [*INCLUSION["audit_path"], "00" * 32]),
    "a short node": _tampered(INCLUSION, ["audit_path", 0], "00" * 31),
    "a node not in hex": _tampered(INCLUSION, ["audit_path", 0], "zz" * 32),
    "a root changed": _tampered(
        INCLUSION, ["tree_head", "root_hash"], _flip_hex(INCLUSION["tree_head"]["root_hash"])
    ),
    "a size changed": _tampered(INCLUSION, ["tree_head", "tree_size"], 38),
    "a timestamp changed": _tampered(INCLUSION, ["tree_head", "timestamp_ms"], 1),
    "a log id changed": _tampered(INCLUSION, ["tree_head", "log_id"], "vigie-prod"),
    "a log id with a space": _tampered(INCLUSION, ["tree_head", "log_id"], "vigie test"),
    "a signature from another key": _tampered(INCLUSION, ["tree_head"], _head(37, OTHER_KEY)),
    "a signature cut short": _tampered(INCLUSION, ["tree_head", "signature"], "AAAA"),
    "a bool size": _tampered(INCLUSION, ["tree_head", "tree_size"], True),
    "no public key": _tampered(INCLUSION, ["public_key"], _DELETE),
    "an unknown kind": _tampered(INCLUSION, ["kind"], "exclusion"),
    "heads swapped": {
        **CONSISTENCY,
        "old_tree_head": CONSISTENCY["tree_head"],
        "tree_head": CONSISTENCY["old_tree_head"],
    },
    "an old head of another log": _tampered(
        CONSISTENCY, ["old_tree_head"], _head(13, log_id="vigie-other")
    ),
    "an old head of another size": _tampered(CONSISTENCY, ["old_tree_head"], _head(12)),
    "a consistency node flipped": _tampered(
        CONSISTENCY, ["proof", 0], _flip_hex(CONSISTENCY["proof"][0], 31)
    ),
    "a consistency proof emptied": _tampered(CONSISTENCY, ["proof"], []),
    "not an object": [INCLUSION],  # type: ignore[dict-item]
}


@pytest.mark.parametrize("document", TAMPERED_DOCUMENTS.values(), ids=TAMPERED_DOCUMENTS.keys())
def test_tool_refuses_tampered_documents(document: dict[str, Any]) -> None:
    assert _verdict(document).startswith("FAIL: ")


def test_tool_refuses_a_key_other_than_the_pinned_one() -> None:
    assert _verdict(INCLUSION, PUBLIC_KEY).startswith("OK ")
    other = encode_public_key(OTHER_KEY.public_key())
    assert _verdict(INCLUSION, other) == "FAIL: the file's public_key is not the pinned key"


def test_tool_main_reports_unreadable_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert tool.main([str(tmp_path / "missing.json")]) == 1
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    assert tool.main([str(tmp_path / "bad.json")]) == 1
    assert capsys.readouterr().err.count("FAIL: cannot read") == 2


@pytest.mark.parametrize("size", range(1, 25))
def test_tool_and_project_agree_on_inclusion(size: int) -> None:
    root = TREE.root(size)
    for index in range(size):
        proof = TREE.inclusion_proof(index, size)
        for claim_index, claimed in _variants(index, proof):
            leaf = TREE.leaf(index)
            project = _passes(ProofError, verify_inclusion, claim_index, size, leaf, claimed, root)
            standalone = _passes(
                tool.VerificationError,
                tool.verify_inclusion,
                claim_index,
                size,
                leaf,
                claimed,
                root,
            )
            assert project is standalone
            assert project is (claim_index == index and claimed == proof)


@pytest.mark.parametrize("size", range(1, 25))
def test_tool_and_project_agree_on_consistency(size: int) -> None:
    for old in range(1, size + 1):
        proof = TREE.consistency_proof(old, size)
        for claim_old, claimed in _variants(old, proof):
            args = (claim_old, size, TREE.root(old), TREE.root(size), claimed)
            project = _passes(ProofError, verify_consistency, *args)
            standalone = _passes(tool.VerificationError, tool.verify_consistency, *args)
            assert project is standalone
            assert project is (claim_old == old and claimed == proof)


def _variants(number: int, proof: list[bytes]) -> list[tuple[int, list[bytes]]]:
    """The genuine claim, then the number moved by one, then each node flipped or dropped."""
    out = [(number, proof), (number - 1, proof), (number + 1, proof)]
    for i, node in enumerate(proof):
        out.append((number, [*proof[:i], bytes([node[0] ^ 1]) + node[1:], *proof[i + 1 :]]))
        out.append((number, proof[:i] + proof[i + 1 :]))
    return out


def _passes(error: type[Exception], check: Any, *args: object) -> bool:
    try:
        check(*args)
    except error:
        return False
    return True


@given(
    st.builds(
        TreeHead,
        tree_size=st.integers(0, 2**64 - 1),
        root_hash=st.binary(min_size=32, max_size=32),
        timestamp_ms=st.integers(0, 2**64 - 1),
        log_id=st.text(
            st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=255
        ),
    ),
    st.booleans(),
)
def test_tool_and_project_agree_on_signed_heads(head: TreeHead, tamper: bool) -> None:
    signed = sign_tree_head(head, KEY)
    data = signed.to_dict()
    if tamper:
        data["timestamp_ms"] = (head.timestamp_ms + 1) % 2**64
    parsed, published = tool.parse_head(data, "tree_head"), SignedTreeHead.from_dict(data)
    assert parsed.encode() == published.head.encode()
    project = _passes(SignatureError, verify_tree_head, published, KEY.public_key())
    standalone = _passes(tool.VerificationError, parsed.verify, KEY.public_key())
    assert project is standalone is (not tamper)
