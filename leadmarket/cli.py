"""The `leadmarket` command: serve, worker, beat, db upgrade, apikey create, user create, demo, dedupe."""

from __future__ import annotations

import sys

import click

from leadmarket.settings import Settings, configure


@click.group()
def main() -> None:
    """Leadmarket: a lead marketplace and affiliate CPA platform."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="Server processes (PostgreSQL only).")
def serve(host: str, port: int, workers: int) -> None:
    """Serve the API and the portal (uvicorn, uvloop, httptools)."""
    import uvicorn

    settings = configure(Settings.from_env())
    if settings.is_sqlite and workers > 1:
        raise click.UsageError("the embedded SQLite database serves from one process; set DATABASE_URL for more")
    uvicorn.run("api.app:served_app", factory=True, host=host, port=port, workers=workers, loop="uvloop",
                http="httptools", access_log=False, proxy_headers=True, log_level="info")


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--queues", default="default,delivery,postbacks,rollups,billing", show_default=True,
              help="Comma-separated queues this worker consumes (delivery, postbacks, rollups, billing, default).")
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker(queues: str, celery_args: tuple[str, ...]) -> None:
    """Run a Celery worker (extra arguments go to `celery worker`)."""
    from leadmarket.celery_app import QUEUES, celery_app, configure_celery

    settings = configure(Settings.from_env())
    if not settings.redis_url:
        raise click.UsageError("REDIS_URL is not set: without a broker, tasks already run inside the server")
    chosen = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(chosen) - set(QUEUES))
    if unknown or not chosen:
        raise click.BadParameter(f"unknown queues {unknown}; choose from {', '.join(QUEUES)}", param_hint="--queues")
    configure_celery(settings)
    celery_app.worker_main(["worker", "--loglevel=INFO", "--queues", ",".join(chosen), *celery_args])


@main.command()
def beat() -> None:
    """Run Celery beat, the scheduler of periodic tasks (one per deployment)."""
    from leadmarket.celery_app import celery_app, configure_celery

    settings = configure(Settings.from_env())
    if not settings.redis_url:
        raise click.UsageError("REDIS_URL is not set")
    configure_celery(settings)
    celery_app.start(["beat", "--loglevel=INFO"])


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply Alembic migrations to DATABASE_URL (the embedded SQLite file by default)."""
    from leadmarket.migrate import upgrade

    settings = configure(Settings.from_env())
    upgrade(settings.database_url, revision)
    click.echo(f"database at {revision}", err=True)


@main.group()
def apikey() -> None:
    """API keys for staff."""


@apikey.command("create")
@click.option("--role", type=click.Choice(["admin", "finance"]), required=True)
@click.option("--name", required=True)
def apikey_create(role: str, name: str) -> None:
    """Create a staff key and print it alone on stdout (it is shown only this once)."""
    from leadmarket.db import session_scope, transaction
    from leadmarket.errors import InvalidInput
    from leadmarket import registry  # noqa: F401  (api_key's foreign keys need every model mapped)
    from leadmarket.identity import Role, create_api_key

    configure(Settings.from_env())
    try:
        with session_scope() as session, transaction(session):
            _, raw = create_api_key(session, role=Role(role), name=name)
    except InvalidInput as exc:
        raise click.BadParameter("; ".join(f"{e.field} {e.reason}" for e in exc.errors)) from None
    sys.stdout.write(raw + "\n")


@main.group()
def user() -> None:
    """Portal users."""


@user.command("create")
@click.option("--email", required=True)
@click.option("--password", required=True, help="At least 10 characters.")
@click.option("--role", type=click.Choice(["admin", "finance", "advertiser", "affiliate"]), required=True)
@click.option("--name", default="")
@click.option("--advertiser-id", type=int, default=None, help="For an advertiser user: whose portal it is.")
@click.option("--affiliate-id", type=int, default=None, help="For an affiliate user: whose portal it is.")
@click.option("--time-zone", default="UTC", show_default=True)
def user_create(email: str, password: str, role: str, name: str, advertiser_id: int | None,
                affiliate_id: int | None, time_zone: str) -> None:
    """Create a portal user who logs in with this e-mail and password; prints the user id."""
    from leadmarket import accounts, registry  # noqa: F401  (the user's foreign keys need every model mapped)
    from leadmarket.db import session_scope, transaction
    from leadmarket.errors import InvalidInput

    configure(Settings.from_env())
    try:
        with session_scope() as session, transaction(session):
            created = accounts.create_user(session, email=email, password=password, role=role, name=name,
                                           advertiser_id=advertiser_id, affiliate_id=affiliate_id, time_zone=time_zone)
            user_id = created.id
    except InvalidInput as exc:
        raise click.BadParameter("; ".join(f"{e.field} {e.reason}" for e in exc.errors)) from None
    sys.stdout.write(f"{user_id}\n")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Seed and print the keys, then exit.")
@click.option("--leads", default=300, show_default=True, type=int, help="How many leads to seed.")
def demo(host: str, port: int, no_serve: bool, leads: int) -> None:
    """Migrate the embedded database, seed a believable network, print keys, and serve it."""
    from leadmarket.demo import run_demo

    run_demo(host=host, port=port, serve=not no_serve, lead_count=leads)


@main.command()
@click.argument("csv_path", metavar="FILE.csv", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
def dedupe(csv_path: str) -> None:
    """Print `earlier_id,id` for each CSV record that repeats a person seen earlier in the file.

    The CSV has a header, an `id` column and any of first_name, last_name, date_of_birth, address,
    city, postal_code, region, country, phone, email. Records are judged in file order by the
    matcher intake uses; no database is needed.
    """
    import csv

    from marketplace.person_batch import dedupe_records, read_records

    stream = sys.stdin if csv_path == "-" else open(csv_path, newline="", encoding="utf-8-sig", errors="replace")
    with stream:
        try:
            pairs = dedupe_records(read_records(stream))
            sys.stdout.writelines(f"{first},{again}\n" for first, again in pairs)
        except (ValueError, csv.Error) as exc:  # no id column, or not CSV
            raise click.BadParameter(str(exc), param_hint="FILE.csv") from None


@main.group()
def keys() -> None:
    """Data keys of the personal data (LEADMARKET_DATA_KEYS)."""


@keys.command("new")
def keys_new() -> None:
    """Print a fresh 256-bit data key (base64) to put in LEADMARKET_DATA_KEYS as "kid:KEY"."""
    from leadmarket.crypto import new_data_key

    sys.stdout.write(new_data_key() + "\n")


@keys.command("rotate-data")
@click.option("--batch", default=500, show_default=True, type=click.IntRange(1, 100_000))
def keys_rotate_data(batch: int) -> None:
    """Re-seal every row's personal data under the current (first) data key. Safe to stop and run again."""
    from leadmarket import registry  # noqa: F401  (every model mapped)
    from leadmarket.crypto import KeyConfigError
    from leadmarket.db import session_scope
    from marketplace.privacy import rotate_data_keys

    configure(Settings.from_env())
    try:
        with session_scope() as session:
            rotation = rotate_data_keys(session, batch=batch)
    except KeyConfigError as exc:
        raise click.UsageError(str(exc)) from None
    counts = ", ".join(f"{table} {count}" for table, count in rotation.resealed.items())
    click.echo(f"re-sealed under key {rotation.key_id}: {counts}", err=True)


if __name__ == "__main__":
    main()
