"""Privacy commands: ``data keygen|pseudonymize|encrypt|decrypt``, ``forget`` and
``audit privacy``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated

import typer

from trustrec.cli.common import (
    ColumnsOpt,
    DuplicatesOpt,
    ParamOpt,
    app,
    audit_app,
    data_app,
    err,
    load_data,
    out,
    print_table,
    user_errors,
    write_csv,
)

KeyFileOpt = Annotated[Path, typer.Option(
    help="Key file (≥ 32 random bytes as hex; `trustrec data keygen` makes one). Keep it "
         "away from the data.")]
ModelKeyOpt = Annotated[Path | None, typer.Option(
    help="Key file of an encrypted model directory.")]


def read_optional_key(path: Path | None) -> bytes | None:
    """The key in ``path``, or None when no key file is given."""
    from trustrec.privacy.keys import read_key

    return None if path is None else read_key(path)


def model_key(path: Path | None, *protected: Path) -> bytes | None:
    """The key in ``path`` (None without one), refused if it lies beside ``protected``."""
    from trustrec.privacy.keys import check_key_location

    if path is not None:
        check_key_location(path, *protected)
    return read_optional_key(path)


@data_app.command("keygen")
@user_errors
def data_keygen(path: Annotated[Path, typer.Argument(help="New key file to create.")]) -> None:
    """Create a key file with 32 random bytes (mode 0600; never overwrites)."""
    from trustrec.privacy.keys import generate_key

    out.print(f"key → {generate_key(path)} (store it apart from the data it protects)")


@data_app.command("pseudonymize")
@user_errors
def data_pseudonymize(
    path: Annotated[Path, typer.Argument(help="Interactions file or MovieLens folder.")],
    out_dir: Annotated[Path, typer.Argument(help="Folder for the pseudonymised CSV files.")],
    key_file: KeyFileOpt,
    items: Annotated[Path | None, typer.Option(help="Item table (item_id,…).")] = None,
    users: Annotated[Path | None, typer.Option(help="User table (user_id,…).")] = None,
    pseudonymize_items: Annotated[bool, typer.Option(
        help="Also replace item IDs by pseudonyms.")] = False,
    age_band: Annotated[int, typer.Option(min=1, help="Width of the age bands.")] = 10,
    zip_digits: Annotated[int, typer.Option(min=0, help="Zip-code digits kept.")] = 3,
    quasi_identifiers: Annotated[str, typer.Option(
        help="User-table columns that could identify a person, comma-separated "
             "(those present are used).")] = "age,age_group,gender,zip,country,occupation",
    sensitive: Annotated[str | None, typer.Option(
        help="Sensitive user-table column for the l-diversity report.")] = None,
    k_target: Annotated[int, typer.Option(min=1, help="k for the k-anonymity report.")] = 5,
    columns: ColumnsOpt = None,
    duplicates: DuplicatesOpt = "error",
) -> None:
    """Pseudonymise IDs (keyed HMAC-SHA256), generalise quasi-identifiers, report k/l."""
    from trustrec.privacy.anonymity import anonymity_report, generalize_users
    from trustrec.privacy.keys import check_key_location, read_key
    from trustrec.privacy.pseudonymize import pseudonymize_dataset

    check_key_location(key_file, out_dir, path, *(p for p in (items, users) if p))
    key = read_key(key_file)
    dataset = pseudonymize_dataset(load_data(path, columns, duplicates, items, users), key,
                                   items=pseudonymize_items)
    write_csv(dataset.to_frame(), out_dir / "interactions.csv")
    if dataset.items is not None:
        write_csv(dataset.items, out_dir / "items.csv")
    if dataset.users is not None:
        table = generalize_users(dataset.users, age_band=age_band, zip_digits=zip_digits)
        write_csv(table, out_dir / "users.csv")
        wanted = [c.strip() for c in quasi_identifiers.split(",") if c.strip()]
        present = [c for c in wanted if c in table.columns and c != sensitive]
        if present:
            report = anonymity_report(table, present, sensitive, k_target)
            print_table("anonymity of the user table", [report.to_dict()])
    out.print(f"pseudonymised {len(dataset):,} interactions of {dataset.n_users:,} users "
              f"→ {out_dir}")


@data_app.command("encrypt")
@user_errors
def data_encrypt(
    src: Annotated[Path, typer.Argument(help="File to encrypt.")],
    dst: Annotated[Path, typer.Argument(help="Encrypted output file.")],
    key_file: KeyFileOpt,
) -> None:
    """Encrypt a data file with AES-256-GCM (authenticated)."""
    from trustrec.privacy.encryption import encrypt_file
    from trustrec.privacy.keys import check_key_location, read_key

    check_key_location(key_file, src, dst)
    out.print(f"encrypted → {encrypt_file(src, dst, read_key(key_file))}")


@data_app.command("decrypt")
@user_errors
def data_decrypt(
    src: Annotated[Path, typer.Argument(help="File written by `trustrec data encrypt`.")],
    dst: Annotated[Path, typer.Argument(help="Decrypted output file.")],
    key_file: KeyFileOpt,
) -> None:
    """Decrypt a file written by `trustrec data encrypt`; wrong keys and tampering are refused."""
    from trustrec.privacy.encryption import decrypt_file
    from trustrec.privacy.keys import read_key

    out.print(f"decrypted → {decrypt_file(src, dst, read_key(key_file))}")


@app.command()
@user_errors
def forget(
    model_dir: Annotated[Path, typer.Option(help="A directory written by `trustrec train`.")],
    user: Annotated[list[str] | None, typer.Option(help="User ID to forget (repeatable).")] = None,
    users_file: Annotated[Path | None, typer.Option(
        "--users", help="User IDs to forget: one per line, or a CSV with user_id.")] = None,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Write the new model here (default: replace --model-dir).")] = None,
    key_file: ModelKeyOpt = None,
    verify: Annotated[bool, typer.Option(
        help="Also retrain from scratch and check the result is the same.")] = False,
    interactions: Annotated[Path | None, typer.Option(
        help="The training data, for models that do not store all their input (e.g. mf).")]
    = None,
    columns: ColumnsOpt = None,
    duplicates: DuplicatesOpt = "error",
) -> None:
    """Remove users' interactions, IDs and influence from a trained model (exact refit)."""
    from trustrec.data import readers
    from trustrec.privacy.encryption import load_model, save_model
    from trustrec.privacy.unlearning import forget_users

    ids = [*(user or []), *(readers.read_id_list(users_file) if users_file else [])]
    if not ids:
        raise typer.BadParameter("give --user (repeatable) or --users FILE")
    key = model_key(key_file, model_dir, *([out_dir] if out_dir else []))
    model = load_model(model_dir, key)
    dataset = load_data(interactions, columns, duplicates) if interactions else None
    new, report = forget_users(model, ids, dataset=dataset, verify=verify)
    target = out_dir or model_dir
    if key is None:  # an atomic save: the old generation, holding the data, goes after it
        save_model(new, target)
    else:
        staging = target.with_name(target.name + ".forget-tmp")
        shutil.rmtree(staging, ignore_errors=True)
        save_model(new, staging, key)
        if target.exists():
            shutil.rmtree(target)  # the old files hold the forgotten data: remove, never keep
        staging.rename(target)
    print_table("forget", [report.to_dict()])
    out.print(f"forgot {report.users_removed} user(s), {report.interactions_removed:,} "
              f"interactions → {target}")


@audit_app.command("privacy")
@user_errors
def audit_privacy(
    interactions: Annotated[Path, typer.Option(help="Interactions file or MovieLens folder.")],
    model: Annotated[str, typer.Option(help="Model name (see `trustrec models`).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for privacy.json and the "
                                          "report.")],
    param: ParamOpt = None,
    dp_curve: Annotated[bool, typer.Option(
        help="Also run the DP-EASE utility/privacy curve.")] = False,
    k: Annotated[int, typer.Option(min=1, help="Recommendation list length.")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    columns: ColumnsOpt = None,
    duplicates: DuplicatesOpt = "error",
) -> None:
    """Membership-inference audit of a model (threshold and shadow-model attacks)."""
    from trustrec.experiment import parse_params
    from trustrec.privacy.audit import privacy_audit
    from trustrec.report.html import Report
    from trustrec.report.privacy import privacy_section

    dataset = load_data(interactions, columns, duplicates)
    result = privacy_audit(dataset, model, parse_params(param or []), k=k, seed=seed,
                           dp_curve_too=dp_curve,
                           on_progress=lambda m: err.print(f"[dim]{m}[/dim]"))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "privacy.json").write_text(json.dumps(result.to_dict(), indent=2))
    print_table(f"membership inference on {model}", result.rows())
    report = Report(title=f"trustrec privacy audit: {model}")
    report.add(privacy_section(result))
    out.print(f"privacy.json and report → {report.write(out_dir).parent}")
