"""Item and user text → vectors with a pretrained sentence encoder, with a disk cache."""

from trustrec.text.cache import EmbeddingCache, text_key
from trustrec.text.encoder import BUNDLED_MODEL_NAME, TextEncoder, default_model_path
from trustrec.text.item_text import DEFAULT_FIELDS, build_item_texts, normalize_text
from trustrec.text.store import ItemVectors, encode_item_table

__all__ = ["BUNDLED_MODEL_NAME", "DEFAULT_FIELDS", "EmbeddingCache", "ItemVectors",
           "TextEncoder", "build_item_texts", "default_model_path", "encode_item_table",
           "normalize_text", "text_key"]
