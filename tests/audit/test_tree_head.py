"""Signed tree heads: the canonical encoding, Ed25519 signatures over it and the JSON form."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from vigie.audit.tree_head import (
    ENCODED_PREFIX,
    SignatureError,
    SignedTreeHead,
    TreeHead,
    TreeHeadError,
    decode_public_key,
    decode_tree_head,
    encode_public_key,
    sign_tree_head,
    verify_tree_head,
)

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
ROOT_8 = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
HEAD = TreeHead(tree_size=8, root_hash=ROOT_8, timestamp_ms=1_706_486_400_000, log_id="vigie-test")
# Ed25519 is deterministic (RFC 8032): this pins the signed bytes of HEAD under KEY.
HEAD_SIGNATURE = bytes.fromhex(
    "6f192f2ee3a950786d66580f5b1a00b883d7be420b29bc0f38512d72c84310a3"
    "fda7c88ae620fb34a041d16dc54754ed172518998cbf081c1181d63c6fd4cc0a"
)

heads = st.builds(
    TreeHead,
    tree_size=st.integers(0, 2**64 - 1),
    root_hash=st.binary(min_size=32, max_size=32),
    timestamp_ms=st.integers(0, 2**64 - 1),
    log_id=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=255),
)


def test_encoding_is_the_documented_layout() -> None:
    expected = (
        b"vigie tree head v1\x00"
        + (8).to_bytes(8, "big")
        + ROOT_8
        + (1_706_486_400_000).to_bytes(8, "big")
        + bytes([len("vigie-test")])
        + b"vigie-test"
    )
    assert HEAD.encode() == expected
    assert expected.startswith(ENCODED_PREFIX)


def test_signature_is_pinned_and_verifies() -> None:
    signed = sign_tree_head(HEAD, KEY)
    assert signed.signature == HEAD_SIGNATURE
    assert verify_tree_head(signed, KEY.public_key()) == HEAD


@pytest.mark.parametrize(
    "changes",
    [
        {"tree_size": 9},
        {"tree_size": 7},
        {"root_hash": bytes(32)},
        {"timestamp_ms": 1_706_486_400_001},
        {"log_id": "vigie-prod"},
        {"log_id": "vigie-test2"},
    ],
)
def test_a_signature_does_not_carry_over_to_a_changed_head(changes: dict[str, object]) -> None:
    moved = SignedTreeHead(dataclasses.replace(HEAD, **changes), HEAD_SIGNATURE)  # type: ignore[arg-type]
    with pytest.raises(SignatureError):
        verify_tree_head(moved, KEY.public_key())


def test_a_flipped_signature_byte_or_another_key_is_refused() -> None:
    for position in range(64):
        flipped = bytearray(HEAD_SIGNATURE)
        flipped[position] ^= 0x40
        with pytest.raises(SignatureError):
            verify_tree_head(SignedTreeHead(HEAD, bytes(flipped)), KEY.public_key())
    with pytest.raises(SignatureError):
        verify_tree_head(SignedTreeHead(HEAD, HEAD_SIGNATURE), OTHER_KEY.public_key())
    with pytest.raises(SignatureError):
        verify_tree_head(sign_tree_head(HEAD, OTHER_KEY), KEY.public_key())


def test_signature_error_is_a_tree_head_error() -> None:
    # Callers that refuse any bad head catch one type.
    assert issubclass(SignatureError, TreeHeadError)


BAD_HEADS: dict[str, Callable[[], object]] = {
    "negative size": lambda: dataclasses.replace(HEAD, tree_size=-1),
    "size over u64": lambda: dataclasses.replace(HEAD, tree_size=2**64),
    "bool size": lambda: dataclasses.replace(HEAD, tree_size=True),
    "negative timestamp": lambda: dataclasses.replace(HEAD, timestamp_ms=-1),
    "timestamp over u64": lambda: dataclasses.replace(HEAD, timestamp_ms=2**64),
    "float timestamp": lambda: dataclasses.replace(HEAD, timestamp_ms=1.5),  # type: ignore[arg-type]
    "short root": lambda: dataclasses.replace(HEAD, root_hash=bytes(31)),
    "long root": lambda: dataclasses.replace(HEAD, root_hash=bytes(33)),
    "hex root": lambda: dataclasses.replace(HEAD, root_hash=ROOT_8.hex()),  # type: ignore[arg-type]
    "empty log id": lambda: dataclasses.replace(HEAD, log_id=""),
    "long log id": lambda: dataclasses.replace(HEAD, log_id="a" * 256),
    "log id with a space": lambda: dataclasses.replace(HEAD, log_id="vigie test"),
    "log id with a tab": lambda: dataclasses.replace(HEAD, log_id="vigie\ttest"),
    "non-ASCII log id": lambda: dataclasses.replace(HEAD, log_id="vigié"),
    "bytes log id": lambda: dataclasses.replace(HEAD, log_id=b"vigie"),  # type: ignore[arg-type]
    "short signature": lambda: SignedTreeHead(HEAD, HEAD_SIGNATURE[:63]),
    "long signature": lambda: SignedTreeHead(HEAD, HEAD_SIGNATURE + b"\x00"),
}


@pytest.mark.parametrize("make", BAD_HEADS.values(), ids=BAD_HEADS.keys())
def test_malformed_heads_are_refused(make: Callable[[], object]) -> None:
    with pytest.raises(TreeHeadError):
        make()


def test_the_longest_fields_encode() -> None:
    head = TreeHead(2**64 - 1, ROOT_8, 2**64 - 1, "~" * 255)
    assert decode_tree_head(head.encode()) == head


@given(heads)
def test_decoding_inverts_encoding(head: TreeHead) -> None:
    assert decode_tree_head(head.encode()) == head


@given(heads, heads)
def test_different_heads_never_share_an_encoding(a: TreeHead, b: TreeHead) -> None:
    assert (a.encode() == b.encode()) is (a == b)


NOT_ENCODINGS: dict[str, bytes] = {
    "empty": b"",
    "another prefix": b"vigie tree head v2\x00" + HEAD.encode()[len(ENCODED_PREFIX) :],
    "truncated fixed part": HEAD.encode()[: len(ENCODED_PREFIX) + 40],
    "truncated log id": HEAD.encode()[:-1],
    "trailing byte": HEAD.encode() + b"x",
    "empty log id": HEAD.encode()[: -len("vigie-test") - 1] + b"\x00",
    "non-ASCII log id": HEAD.encode()[: -len("vigie-test")] + "vigie-tést".encode()[:10],
    "log id with a space": HEAD.encode()[: -len("vigie-test")] + b"vigie test",
}


@pytest.mark.parametrize("data", NOT_ENCODINGS.values(), ids=NOT_ENCODINGS.keys())
def test_decoding_refuses_anything_but_a_canonical_encoding(data: bytes) -> None:
    with pytest.raises(TreeHeadError):
        decode_tree_head(data)


def test_json_form_round_trips() -> None:
    signed = sign_tree_head(HEAD, KEY)
    assert signed.to_dict() == {
        "log_id": "vigie-test",
        "tree_size": 8,
        "root_hash": ROOT_8.hex(),
        "timestamp_ms": 1_706_486_400_000,
        "signature": base64.b64encode(HEAD_SIGNATURE).decode("ascii"),
    }
    assert SignedTreeHead.from_dict(signed.to_dict()) == signed


BAD_JSON: dict[str, dict[str, object]] = {
    "missing size": {"tree_size": None},
    "string size": {"tree_size": "8"},
    "bool size": {"tree_size": True},
    "negative size": {"tree_size": -8},
    "float timestamp": {"timestamp_ms": 1.0},
    "root not hex": {"root_hash": "zz" * 32},
    "root odd length": {"root_hash": ROOT_8.hex()[:-1]},
    "root short": {"root_hash": ROOT_8.hex()[:-2]},
    "root non-ASCII": {"root_hash": "é" * 64},
    "signature not base64": {"signature": "not base64!"},
    "signature short": {"signature": "AAAA"},
    "log id number": {"log_id": 7},
}


@pytest.mark.parametrize("change", BAD_JSON.values(), ids=BAD_JSON.keys())
def test_json_form_refuses_malformed_fields(change: dict[str, object]) -> None:
    data: dict[str, object] = {**sign_tree_head(HEAD, KEY).to_dict(), **change}
    data = {name: value for name, value in data.items() if value is not None}
    with pytest.raises(TreeHeadError):
        SignedTreeHead.from_dict(data)


def test_public_key_text_round_trips() -> None:
    text = encode_public_key(KEY.public_key())
    assert text == "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
    signed = sign_tree_head(HEAD, KEY)
    assert verify_tree_head(signed, decode_public_key(text)) == HEAD


@pytest.mark.parametrize("text", ["", "AAAA", "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg", "é"])
def test_malformed_public_keys_are_refused(text: str) -> None:
    with pytest.raises(TreeHeadError):
        decode_public_key(text)
