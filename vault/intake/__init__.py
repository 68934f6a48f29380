"""The intake: the reporters' form and API, and the inbox that holds sealed envelopes.

It holds the team public key only. See ``docs/intake.md``.
"""
