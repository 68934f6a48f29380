"""Redress: an encrypted report vault for a sex workers' charity's casework team.

The library is usable without the CLI. Start with :class:`vault.store.Vault`.
"""

__version__ = "0.1.0"
