"""``python -m vigie``: the ``vigie`` command (how ``vigie serve`` starts its sequencer)."""

from vigie.cli.main import app

app()
