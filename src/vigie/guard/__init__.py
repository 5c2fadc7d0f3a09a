"""Access guard: quotas, streaming risk signals, and explained, reversible containment.

Invariant: every eligibility request passes ``Guard.admit`` before the store and
``Guard.observe`` before its answer leaves; the API and the simulator share this code.
"""
