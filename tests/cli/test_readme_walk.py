"""The README's command walk, run as written on synthetic data in the MovieLens-100K layout.

Every ``trustrec …`` line of the README's "Command line" block runs in order in one folder
holding ``ml-100k/`` (and ``~`` pointing at a fresh home), in-process through the real entry
point, and must exit 0. Two lines cannot run here: ``data fetch`` (no network; its download
and checksum code is tested against a local server in tests/data/test_fetch.py) and
``serve``, which runs in its own process until it says where it listens (on a free port
instead of 8000, which a CI machine may have taken).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.test_cli import run
from trustrec.data import synthetic

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_commands() -> list[list[str]]:
    """The ``trustrec`` lines of the README's "Command line" block, as argument lists."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Command line"):]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block, "README: no bash block under '## Command line'"
    commands = []
    for line in block.group(1).splitlines():
        if line.startswith("trustrec "):
            words = shlex.split(line, comments=True)
            commands.append([os.path.expanduser(w) if w.startswith("~/") else w
                             for w in words[1:]])
    return commands


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve_until_listening(args: list[str], cwd: Path) -> str:
    """Start ``trustrec serve …`` in its own process; its first line once it listens."""
    code = "from trustrec.cli import main; main()"
    proc = subprocess.Popen([sys.executable, "-c", code, *args, "--port", str(_free_port())],
                            cwd=cwd, env={**os.environ, "PYTHONUNBUFFERED": "1",
                                          "COLUMNS": "200"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        assert proc.stdout is not None
        for line in proc.stdout:
            if "listening on" in line or time.monotonic() > deadline:
                return line
        raise AssertionError(f"serve exited ({proc.wait()}) without listening")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_every_readme_command_runs_as_written(capsys, tmp_path, monkeypatch) -> None:
    from trustrec.llm.bundled import cache_root

    commands = readme_commands()
    assert len(commands) >= 30
    # the walk's data: ml-100k's layout; enough items for the README's IDs (50, 172, 133)
    data = synthetic.generate(n_users=120, n_items=200, n_interactions=3000, seed=11)
    synthetic.to_movielens_100k(data, tmp_path / "ml-100k")
    # keep the converted language model where it is; `~` is a fresh home for the keys
    monkeypatch.setenv("TRUSTREC_CACHE_DIR", str(cache_root()))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    ran = []
    for args in readme_commands():  # again: `~` now expands to the fresh home
        if args[:2] == ["data", "fetch"]:
            continue
        if args[0] == "serve":
            line = _serve_until_listening(args, tmp_path)
            assert "listening on http://127.0.0.1:" in line, line
            ran.append(args[0])
            continue
        code, _out, err = run(capsys, *args)
        assert code == 0, f"trustrec {shlex.join(args)} exited {code}: {err[-2000:]}"
        ran.append(" ".join(args[:2]))
    assert len(ran) == len(commands) - 1
    assert (tmp_path / "audit" / "index.html").is_file()
    for page in ("robustness.html", "privacy.html", "fairness.html"):
        assert page in (tmp_path / "audit" / "index.html").read_text()


@pytest.mark.parametrize("line", ["trustrec data fetch movielens-100k --dir ."])
def test_the_walk_reads_the_readme_it_shows(line) -> None:
    assert shlex.split(line)[1:] in readme_commands()
