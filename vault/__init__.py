"""Redress: an encrypted report vault for a sex workers' charity's casework team.

The library is usable without the CLI. Start with :class:`vault.store.Vault`.
"""

__version__ = "0.1.0"

# Modules that keep something derived from each report fill in, at unlock, what older cases
# lack (vault.store.after_unlock): imported here so that every unlock runs them, in this order.
from vault import triage as triage  # noqa: I001
from vault import professional_index as professional_index
