"""Light commands import no heavy library (issue 17, point 4): checked on a fresh interpreter
through ``sys.modules``, never by timing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import trustrec

#: Libraries that cost seconds to import and that no light command needs.
HEAVY = ("torch", "sentence_transformers", "transformers", "onnxruntime", "fastapi",
         "sqlalchemy", "scipy.stats", "implicit", "numba", "sklearn")

_PROBE = """
import json, sys
argv, heavy = json.loads(sys.argv[1]), json.loads(sys.argv[2])
code = 0
if argv and argv[0] == "import":
    import importlib
    importlib.import_module(argv[1])
else:
    sys.argv = ["trustrec", *argv]
    from trustrec.cli import main
    try:
        main()
    except SystemExit as exc:
        code = exc.code or 0
print(json.dumps({"code": code, "heavy": [m for m in heavy if m in sys.modules]}))
"""


def imported_heavy(*argv: str) -> tuple[int, list[str]]:
    """Run ``trustrec ARGV`` (or ``import MODULE`` for ``("import", MODULE)``) in a fresh
    interpreter; return its exit status and the heavy modules it imported."""
    src = str(Path(trustrec.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [src, *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(argv), json.dumps(HEAVY)],
                          capture_output=True, text=True, env=env, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return int(result["code"]), result["heavy"]


@pytest.mark.parametrize("argv", [
    ("--help",),
    ("models",),
    ("train", "--model", "ease"),  # an argument error: --interactions and --out missing
    ("evaluate", "--train", "no/such/train.csv", "--test", "no/such/test.csv",
     "--model", "ease"),  # a "no such file" error
    ("import", "trustrec.models"),
    ("import", "trustrec.models.topk"),
    ("import", "trustrec.privacy"),
    ("import", "trustrec.evaluation"),
], ids=lambda argv: " ".join(argv))
def test_light_command_imports_no_heavy_library(argv: tuple[str, ...]) -> None:
    code, heavy = imported_heavy(*argv)
    assert heavy == [], f"{' '.join(argv)} imported {heavy}"
    assert code == (2 if argv[0] in ("train", "evaluate") else 0)
