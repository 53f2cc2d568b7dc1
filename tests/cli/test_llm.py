"""``trustrec llm generate|info``, ``trustrec chat`` and ``trustrec explain --words``."""

from __future__ import annotations

import json

import pytest

from tests.chat.test_chat import ScriptedChat
from tests.cli.test_cli import run
from trustrec.data import synthetic
from trustrec.llm import settings as llm_settings


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("llm-cli")
    ds = synthetic.generate(n_users=60, n_items=40, n_interactions=1200, seed=8)
    files = synthetic.to_files(ds, folder)
    return files, folder / "model"


def test_generate_is_deterministic_and_cached(capsys, tmp_path, bundled_lm) -> None:
    args = ["llm", "generate", "The capital of France is", "--raw", "--max-tokens", "3",
            "--cache-dir", tmp_path / "answers"]
    code, first, err = run(capsys, *args)
    assert code == 0 and "Paris" in first and "generated" in err
    code, again, err = run(capsys, *args)
    assert code == 0 and again == first and "from the cache" in err


def test_info_names_the_bundled_model(capsys, bundled_lm, monkeypatch) -> None:
    for name in ("TRUSTREC_LLM_BACKEND", "TRUSTREC_LLM_BASE_URL", "TRUSTREC_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    code, out, _ = run(capsys, "llm", "info", "--no-speed")
    assert code == 0
    assert "backend: transformers" in out and "SmolLM2-135M-Instruct" in out
    assert str(bundled_lm.folder()) in out.replace("\n", "")


def test_openai_backend_without_a_server_url_is_a_clear_error(capsys, monkeypatch) -> None:
    monkeypatch.delenv("TRUSTREC_LLM_BASE_URL", raising=False)
    code, _, err = run(capsys, "llm", "generate", "hi", "--backend", "openai")
    assert code == 2 and "base URL" in err


def test_chat_and_explain_words(capsys, trained, monkeypatch) -> None:
    files, model_dir = trained
    assert run(capsys, "train", "--interactions", files["interactions"], "--items",
               files["items"], "--model", "ease", "--out", model_dir)[0] == 0
    lm = ScriptedChat('{"genres": ["Comedy"]}', lambda titles: f'Start with "{titles[0]}".')
    monkeypatch.setattr(llm_settings, "open_model", lambda settings=None: lm)
    code, out, _ = run(capsys, "chat", "something funny", "--model-dir", model_dir,
                       "--items", files["items"], "--k", "3", "--json")
    reply = json.loads(out)
    assert code == 0 and reply["request"]["genres"] == ["Comedy"] and len(reply["items"]) == 3
    assert reply["answer"] == f'Start with "{reply["items"][0]["title"]}".'
    code, out, _ = run(capsys, "explain", "--model-dir", model_dir, "--user", "u00001",
                       "--k", "2", "--items", files["items"], "--words", "--json")
    worded = json.loads(out)
    assert code == 0 and len(worded) == 2
    for w in worded:  # the scripted reply quotes "genres" and "Comedy": no catalogue titles
        assert not w["faithful"] and w["unknown"] == ["genres", "Comedy"]
        assert w["source"] == "template" and w["text"] == w["explanation"]["text"]
