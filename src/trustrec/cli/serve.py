"""Service commands: ``serve``, ``events export`` and ``keys create|list|revoke|sign-model``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from trustrec.cli.common import app, err, out, user_errors, write_csv

events_app = typer.Typer(no_args_is_help=True, help="The service's event store.")
app.add_typer(events_app, name="events")
keys_app = typer.Typer(no_args_is_help=True, help="API keys of the service (stored hashed).")
app.add_typer(keys_app, name="keys")

DbOpt = Annotated[str, typer.Option("--db", help="Event database URL (SQLite file or "
                                    "postgresql+psycopg://…).")]
DEFAULT_DB = "sqlite:///trustrec-events.db"


@app.command()
@user_errors
def serve(
    model_dir: Annotated[Path, typer.Option(help="A directory written by `trustrec train`.")],
    db: DbOpt = DEFAULT_DB,
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] =
        "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    items: Annotated[Path | None, typer.Option(help="Item table (titles) for /items.")] = None,
    anonymous_reads: Annotated[bool, typer.Option(
        "--anonymous-reads", help="Item and (non-personal) search routes answer without a "
                                  "key; routes about a user always need one.")] = False,
    trusted_proxy: Annotated[list[str] | None, typer.Option(
        help="Proxy address or network whose X-Forwarded-For names the client (repeatable; "
             "none by default).")] = None,
    rate: Annotated[float, typer.Option(help="Requests/s per key and per address.")] = 100.0,
    burst: Annotated[int, typer.Option(help="Token-bucket burst size.")] = 200,
    cors_origin: Annotated[list[str] | None, typer.Option(
        help="Origin allowed to call from a browser (repeatable; none by default).")] = None,
    model_root: Annotated[list[Path] | None, typer.Option(
        help="Directory under which /v1/admin/reload may load signed models "
             "(repeatable).")] = None,
    docs: Annotated[bool, typer.Option("--docs", help="Serve /docs and /openapi.json.")] = False,
    bandit: Annotated[bool, typer.Option("--bandit", help="LinUCB exploration with logged "
                                                "propensities.")] = False,
) -> None:
    """Serve a model over HTTP (web page at /; OpenAPI at /docs with --docs)."""
    import uvicorn

    from trustrec.serve.settings import ENV_VAR, Settings
    from trustrec.serve.supervision import mark_supervisor

    settings = Settings(model_dir=model_dir, db_url=db, items_path=items,
                        anonymous_reads=anonymous_reads,
                        trusted_proxies=tuple(trusted_proxy or ()), rate=rate, burst=burst,
                        cors_origins=tuple(cors_origin or ()),
                        model_roots=tuple(model_root or ()), open_docs=docs, bandit=bandit)
    from trustrec.models import Recommender

    Recommender.load(model_dir)  # fail here, with one line, on a bad artifact
    os.environ[ENV_VAR] = settings.to_json()
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"warning: binding {host}: the service is reachable from other machines")
    mark_supervisor()  # workers die with this process, even when it is SIGKILLed
    shown = f"[{host}]" if ":" in host else host
    out.print(f"listening on http://{shown}:{port} ({workers} worker(s); web page at /, "
              f"events in {db.split('://')[0]})", highlight=False)
    # the app reads X-Forwarded-For itself, from --trusted-proxy only: uvicorn must not
    uvicorn.run("trustrec.serve.app:app_from_env", factory=True, host=host, port=port,
                workers=workers, log_level="warning", proxy_headers=False,
                timeout_graceful_shutdown=10)


@events_app.command("export")
@user_errors
def events_export(
    out_path: Annotated[Path, typer.Option("--out", help="CSV or .parquet file.")],
    db: DbOpt = DEFAULT_DB,
    all_events: Annotated[bool, typer.Option(
        "--all", help="Every raw event with its type column, instead of the training "
                      "input.")] = False,
) -> None:
    """Write the stored events as training input for `trustrec train` (one row per user and
    item, disliked pairs left out), or every raw event with --all."""
    from trustrec.serve.store import EventStore, training_events

    store = EventStore(db)
    try:
        frame = store.export()
    finally:
        store.close()
    if not all_events:
        frame = training_events(frame)
    if out_path.suffix == ".parquet":
        out_path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(out_path, index=False)
    else:
        write_csv(frame, out_path)
    what = "events" if all_events else "training rows (latest positive event per pair)"
    out.print(f"exported {len(frame):,} {what} → {out_path}")


@keys_app.command("create")
@user_errors
def keys_create(
    role: Annotated[str, typer.Option(help="metrics | read | write | admin.")],
    name: Annotated[str, typer.Option(help="Who or what uses the key.")],
    user: Annotated[list[str] | None, typer.Option(
        help="An end-user key: the user it may act for (repeatable). Without: a service "
             "key for every user.")] = None,
    db: DbOpt = DEFAULT_DB,
) -> None:
    """Create an API key and print it once (only its salted hash is stored)."""
    from trustrec.serve.security import create_key
    from trustrec.serve.store import EventStore

    store = EventStore(db)
    try:
        key = create_key(store, name, role, users=user)
    finally:
        store.close()
    typer.echo(key)
    scope = f"user(s) {', '.join(user)}" if user else "every user"
    err.print(f"created a '{role}' key for {name} ({scope})")
    err.print("store it now, it cannot be shown again")


@keys_app.command("list")
@user_errors
def keys_list(db: DbOpt = DEFAULT_DB) -> None:
    """List keys (IDs, names, roles; never secrets)."""
    from trustrec.serve.security import list_keys
    from trustrec.serve.store import EventStore

    store = EventStore(db)
    try:
        frame = list_keys(store)
    finally:
        store.close()
    for row in frame.itertuples(index=False):
        state = "revoked" if row.revoked else "active"
        scope = "all users" if row.users is None else "users " + ",".join(row.users)
        out.print(f"{row.key_id}  {row.role:<7}  {state:<7}  {row.name}  ({scope})",
                  highlight=False)


@keys_app.command("sign-model")
@user_errors
def keys_sign_model(
    model_dir: Annotated[Path, typer.Option(help="A model directory you approve for serving.")],
    db: DbOpt = DEFAULT_DB,
) -> None:
    """Sign a model with the service's key, so a running service may (re)load it."""
    from trustrec.models import Recommender
    from trustrec.serve.signing import server_key, sign_artifact
    from trustrec.serve.store import EventStore

    Recommender.load(model_dir)  # sign only what loads: hashes checked
    store = EventStore(db)
    try:
        path = sign_artifact(model_dir, server_key(store))
    finally:
        store.close()
    out.print(f"signed {model_dir} → {path.name}")


@keys_app.command("revoke")
@user_errors
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's ID (second part of the key).")],
    db: DbOpt = DEFAULT_DB,
) -> None:
    """Revoke a key (takes effect within seconds on running servers)."""
    from trustrec.errors import ConfigError
    from trustrec.serve.security import revoke_key
    from trustrec.serve.store import EventStore

    store = EventStore(db)
    try:
        found = revoke_key(store, key_id)
    finally:
        store.close()
    if not found:
        raise ConfigError(f"no API key with ID {key_id!r}")
    out.print(f"revoked {key_id}")


@events_app.command("replay")
@user_errors
def events_replay(
    model_dir: Annotated[Path, typer.Option(help="The model whose greedy lists to evaluate.")],
    db: DbOpt = DEFAULT_DB,
    window: Annotated[float, typer.Option(help="Seconds after serving a click counts.")] =
        3600.0,
) -> None:
    """Off-policy estimate (IPS, SNIPS) of a model's top-k lists on the logged bandit lists."""
    from trustrec.cli.common import print_table
    from trustrec.errors import DataError
    from trustrec.models import Recommender
    from trustrec.models.external import recommend_external
    from trustrec.serve.bandit import deterministic_target, logged_rewards, off_policy_estimate
    from trustrec.serve.store import EventStore

    store = EventStore(db)
    try:
        served, events = store.served_log(), store.export()
    finally:
        store.close()
    if served.empty:
        raise DataError(f"{db}: no served lists logged; run `trustrec serve --bandit` first")
    log = logged_rewards(served, events, window_s=window)
    model = Recommender.load(model_dir)
    users = log["user_id"].unique()
    lists = recommend_external(model, users, k=int(log["position"].max()) + 1).frame
    lists["user_id"], lists["item_id"] = lists["user_id"].astype(str), lists["item_id"].astype(str)
    by_user = lists.groupby("user_id", sort=False)["item_id"].agg(list).to_dict()
    estimate = off_policy_estimate(log["reward"], log["propensity"],
                                   deterministic_target(log, by_user))
    print_table(f"{model.name} on {len(log):,} logged slots", [estimate.to_dict()])
