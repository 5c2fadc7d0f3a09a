"""The ``vigie`` command."""

from __future__ import annotations

import typer

from vigie.cli import audit, clients, guard, imports, incident, keys, professionals, users
from vigie.cli.demo import demo_request
from vigie.cli.demo_incident import demo_incident
from vigie.cli.seed import seed
from vigie.cli.serve import serve
from vigie.cli.simulate import simulate

app = typer.Typer(
    help="Vigie : tiers payant, éligibilité et calcul des parts AMO / AMC / patient.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(keys.app, name="keys")
app.add_typer(guard.app, name="guard")
app.add_typer(audit.app, name="audit")
app.add_typer(incident.app, name="incident")
app.add_typer(imports.app, name="import")
app.add_typer(professionals.professional_app, name="professional")
app.add_typer(professionals.token_app, name="token")
app.add_typer(clients.app, name="client")
app.add_typer(users.app, name="user")
app.command("seed")(seed)
app.command("serve")(serve)
app.command("simulate")(simulate)
app.command("demo-request")(demo_request)
app.command("demo-incident")(demo_incident)
