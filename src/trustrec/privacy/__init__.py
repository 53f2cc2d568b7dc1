"""Privacy: pseudonymisation, encryption at rest, differential privacy, federated training,
membership-inference audits and unlearning. Optional extras (Flower) are imported lazily."""

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
from trustrec.privacy.unlearning import ForgetReport, forget_users

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
