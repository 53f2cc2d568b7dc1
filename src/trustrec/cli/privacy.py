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
RoleOpt = Annotated[str, typer.Option(
    help="What the file holds: interactions, users, items, … The ciphertext is bound to this "
         "role and to the encrypted file's name; decryption must state the same role.")]


def read_optional_key(path: Path | None) -> bytes | None:
    """The key in ``path``, or None when no key file is given."""
    from trustrec.privacy.keys import read_key

    return None if path is None else read_key(path)


def model_key(path: Path | None, inputs: tuple[Path, ...] = (),
              outputs: tuple[Path, ...] = ()) -> bytes | None:
    """The key in ``path`` (None without one), refused if it would travel with the
    ``inputs`` / ``outputs`` it protects (see ``check_key_location``)."""
    from trustrec.privacy.keys import check_key_location

    if path is not None:
        check_key_location(path, inputs=inputs, outputs=outputs)
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
        "--pseudonymize-items",
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

    check_key_location(key_file, inputs=[path, *(p for p in (items, users) if p)],
                       outputs=[out_dir])
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
    role: RoleOpt,
) -> None:
    """Encrypt a data file with AES-256-GCM (authenticated, bound to its role and name)."""
    from trustrec.privacy.encryption import encrypt_file
    from trustrec.privacy.keys import check_key_location, read_key

    check_key_location(key_file, inputs=[src], outputs=[dst])
    out.print(f"encrypted → {encrypt_file(src, dst, read_key(key_file), role)}")


@data_app.command("decrypt")
@user_errors
def data_decrypt(
    src: Annotated[Path, typer.Argument(help="File written by `trustrec data encrypt`.")],
    dst: Annotated[Path, typer.Argument(help="Decrypted output file.")],
    key_file: KeyFileOpt,
    role: RoleOpt,
) -> None:
    """Decrypt a file written by `trustrec data encrypt`; wrong keys, tampering, renamed or
    swapped files and another role are refused."""
    from trustrec.privacy.encryption import decrypt_file
    from trustrec.privacy.keys import read_key

    out.print(f"decrypted → {decrypt_file(src, dst, read_key(key_file), role)}")


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
        "--verify",
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
    key = model_key(key_file, inputs=(model_dir,), outputs=(out_dir,) if out_dir else ())
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


def _epsilon_as_text(row: dict) -> dict:
    """A DP-curve or advice row for the terminal, ε written as text (1, 2, …, ∞)."""
    eps = row["epsilon"]
    return {**row, "epsilon": "∞ (not private)" if eps == float("inf") else f"{eps:g}"}


@audit_app.command("privacy")
@user_errors
def audit_privacy(
    interactions: Annotated[Path, typer.Option(help="Interactions file or MovieLens folder.")],
    model: Annotated[str, typer.Option(help="Model name (see `trustrec models`).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for privacy.json and the "
                                          "report.")],
    param: ParamOpt = None,
    items: Annotated[Path | None, typer.Option(
        help="Item table (item_id,…): the public catalogue --dp-curve needs (a MovieLens "
             "folder brings its own).")] = None,
    dp_curve: Annotated[bool, typer.Option(
        "--dp-curve",
        help="Also compare DP-EASE, DP-EASE on privately selected items (dp_ease_topk) and "
             "DP popularity at ε = 0.5, 1, 2, 4, 8 (and ∞) and advise which one to release "
             "(needs a public item table).")] = False,
    k: Annotated[int, typer.Option(min=1, help="Recommendation list length.")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    columns: ColumnsOpt = None,
    duplicates: DuplicatesOpt = "error",
) -> None:
    """Membership-inference audit of a model (threshold and shadow-model attacks)."""
    from trustrec.models.spec import parse_params
    from trustrec.privacy.audit import ADVICE_NOTE, privacy_audit
    from trustrec.progress import terminal_progress
    from trustrec.report.html import Report
    from trustrec.report.privacy import privacy_section

    dataset = load_data(interactions, columns, duplicates, items)
    with terminal_progress() as progress:
        result = privacy_audit(dataset, model, parse_params(param or []), k=k, seed=seed,
                               dp_curve_too=dp_curve, on_progress=progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "privacy.json").write_text(json.dumps(result.to_dict(), indent=2))
    print_table(f"membership inference on {model}", result.rows())
    if result.dp_curve:
        print_table("DP models (δ = 1e-5): utility, attacks and unit of the guarantee",
                    [{k: v for k, v in _epsilon_as_text(r).items() if k != "releases"}
                     for r in result.dp_curve])
        releases = {r["model"]: r["releases"] for r in result.dp_curve}
        print_table("what each DP artifact releases",
                    [{"model": m, "releases": parts} for m, parts in releases.items()])
        print_table("which DP model to release at each ε",
                    [_epsilon_as_text(r) for r in result.advice])
        out.print(ADVICE_NOTE)
    report = Report(title=f"trustrec privacy audit: {model}")
    report.add(privacy_section(result))
    out.print(f"wrote {out_dir / 'privacy.json'} and {report.write(out_dir, 'privacy.html')} "
              f"(linked from {out_dir / 'index.html'})")
