"""Vigie: a tiers payant platform that answers eligibility and cost questions without becoming a
mass-extraction target.

The package is laid out by capability; the tree tells the architecture:

- ``rights``: mutuelles' plans, beneficiaries and their rights, and the v1 import formats.
- ``eligibility``: the eligibility decision, the cost rules v1 and agreements.
- ``crypto``: the key file, envelope encryption of personal fields, keyed blind indexes.
- ``identity``: professionals, structures and their bearer tokens.
- ``synthetic``: a realistic synthetic population for the demo, tests and benchmarks.
- ``db``: engine, schema metadata and Alembic migrations (no business logic).
- ``api``, ``cli``: thin layers that translate HTTP and command lines into service calls.
"""

__version__ = "0.1.0"
