"""Keys and encryption: the master key file (outside the database), envelope-encrypted data keys,
AES-256-GCM personal fields and HMAC blind indexes.

Invariant: no key in clear and no personal field in clear ever reaches the database.
"""
