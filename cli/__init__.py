"""The `vault` command: a thin typer + rich layer over the `vault` library."""
