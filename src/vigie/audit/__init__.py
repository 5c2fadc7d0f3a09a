"""The tamper-evident access log: every access is a leaf of an RFC 9162 Merkle tree whose signed
tree heads commit to the whole history.

- ``merkle``: pure RFC 9162 hashing, inclusion and consistency proofs, compact ranges.
- ``tree_head``: the canonical encoding of tree heads and their Ed25519 signatures.

Errors: ``merkle.ProofError`` (a bad proof or bad proof parameters), ``tree_head.TreeHeadError``
(a malformed head) and its subclass ``tree_head.SignatureError`` (a signature that does not verify).

Invariant: nothing here does I/O; an entry, once covered by a signed head, cannot be modified,
removed, inserted or reordered without a proof against that head failing.
"""
