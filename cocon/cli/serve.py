"""`cocon serve`: run the web app with uvicorn."""

from __future__ import annotations

import click

from cocon.cli.base import AppContext, pass_app
from cocon.i18n import _
from cocon.settings import LOOPBACK_HOSTS, Settings


def app_factory():
    """Build the app from COCON_* environment variables (uvicorn calls this in its process)."""
    from cocon.web import create_app

    return create_app(Settings.from_env())


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Worker processes, e.g. one per CPU core.",
)
@pass_app
def serve_command(app: AppContext, host: str, port: int, workers: int) -> None:
    """Run the web app (the demo is loaded into a database without orgs)."""
    import uvicorn

    if host not in LOOPBACK_HOSTS:
        from cocon.users import has_admin

        with app.session() as session:
            if not has_admin(session):
                click.echo(
                    _(
                        "Warning: {host} is reachable from other machines and no admin exists"
                        " yet: create one with `cocon users add NAME --role admin --org CODE`."
                    ).format(host=host),
                    err=True,
                )
    if workers > 1:
        from cocon.web.app import prepare_database

        # Workers starting together would race to migrate the schema and load the demo.
        prepare_database(app.settings, app.policies).dispose()
    click.echo(_("Serving cocon on http://{host}:{port}/").format(host=host, port=port))
    # Each worker builds its own app from the environment (app_factory): nothing is shared.
    uvicorn.run(
        "cocon.cli.serve:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=False,
    )
