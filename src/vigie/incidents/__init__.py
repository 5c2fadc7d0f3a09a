"""Incidents: a DPO declares one (compromised professional accounts or structures over a time
window, or a copy of the database); Vigie computes from the access log who was exposed, per
mutuelle, and produces the CNIL notification (GDPR art. 33) and the letters to each person
(art. 34).

- ``service``: declaring and reading incidents (the declaration is itself logged).
- ``scope``: the affected people, records and data categories, per mutuelle, in one query.
- ``notification``: the art. 33 notification as data, with the 72-hour clock.
- ``letters``: the people to write to (decrypted only here) and the mail-merge CSV.
- ``render``: French PDF documents from Jinja2 templates (WeasyPrint).
"""
