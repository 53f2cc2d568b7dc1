"""Privacy: pseudonymisation, encryption at rest, differential privacy, federated training,
membership-inference audits and unlearning. Optional extras (Flower) are imported lazily, and
so is unlearning (it loads model code), when ``ForgetReport`` or ``forget_users`` is first used."""

from typing import Any

from trustrec.privacy.anonymity import AnonymityReport, anonymity_report, generalize_users
from trustrec.privacy.encryption import (
    decrypt_file,
    encrypt_file,
    is_encrypted_model,
    load_model,
    save_model,
)
from trustrec.privacy.keys import check_key_location, generate_key, read_key
from trustrec.privacy.pseudonymize import pseudonymize_dataset, pseudonyms

__all__ = [
    "AnonymityReport",
    "ForgetReport",
    "anonymity_report",
    "check_key_location",
    "decrypt_file",
    "encrypt_file",
    "forget_users",
    "generalize_users",
    "generate_key",
    "is_encrypted_model",
    "load_model",
    "pseudonymize_dataset",
    "pseudonyms",
    "read_key",
    "save_model",
]


def __getattr__(name: str) -> Any:
    """``ForgetReport`` and ``forget_users`` from :mod:`trustrec.privacy.unlearning`, on
    first use."""
    if name in ("ForgetReport", "forget_users"):
        from trustrec.privacy import unlearning

        return getattr(unlearning, name)
    raise AttributeError(f"module 'trustrec.privacy' has no attribute {name!r}")
