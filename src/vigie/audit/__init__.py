"""The tamper-evident access log: every access is a leaf of an RFC 9162 Merkle tree whose signed
tree heads commit to the whole history.

- ``log``: recording an entry in the caller's transaction; the canonical bytes a leaf hashes.
- ``access``: what eligibility requests, cancellations and imports log; ``categories``: the data
  categories an access exposes.
- ``sequencer``: the only writer of the tree (leaf indices, stored subtrees, signed heads,
  publication); ``background``: its round in a server.
- ``proofs``, ``reader``, ``history``: signed heads, inclusion and consistency proofs, an insured
  person's own history.
- ``verify`` (with ``scan``, ``builder``, ``locate``): recomputing and checking everything.
- ``merkle``: pure RFC 9162 hashing, inclusion and consistency proofs, compact ranges.
- ``tree_head``: the canonical encoding of tree heads and their Ed25519 signatures.

Errors: ``merkle.ProofError`` (a bad proof or bad proof parameters), ``tree_head.TreeHeadError``
(a malformed head) and its subclass ``tree_head.SignatureError`` (a signature that does not
verify), ``proofs.ProofRequestError`` (a proof the log cannot give; French message).

Invariant: requests only insert entries; an entry, once covered by a signed head, cannot be
modified, removed, inserted or reordered without a proof against that head failing.
"""
