"""Eligibility (IDB) and cost split (CLC): who is covered, and how a billed line splits between
AMO, AMC and the patient; agreements that guarantee the AMC payment."""
