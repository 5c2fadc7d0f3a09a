"""The attack simulator: honest practices and attacks through the API's own guard code.

The eligibility answer comes from an in-memory model of the insured population (who exists,
who is covered), not from the store: what is simulated is traffic; what decides is the Guard.
"""
