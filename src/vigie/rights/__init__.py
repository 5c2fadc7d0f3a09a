"""Mutuelles' plans, beneficiaries and their rights, and the v1 import formats."""
