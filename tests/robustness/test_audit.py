"""The audit, its report section and the ``trustrec audit robustness`` command."""

from __future__ import annotations

import json

import pytest

from tests.cli.test_cli import run
from trustrec.data import synthetic
from trustrec.demo.robustness import demo_robustness
from trustrec.robustness.audit import audit_robustness


@pytest.fixture(scope="module")
def small():
    return synthetic.generate(n_users=250, n_items=100, density=0.1, seed=3)


def test_audit_reports_clean_attacked_and_defended_over_seeds(small):
    report = audit_robustness(small, "itemknn", "bandwagon", 0.05, n_targets=2, seeds=2,
                              filler=0.2)
    assert [r["seed"] for r in report.runs] == [0, 1]
    s = report.summary
    assert s["attacked.target_mean_rank"]["mean"] < s["clean.target_mean_rank"]["mean"]
    assert s["detect.recall"]["mean"] > 0.5
    assert [row["stage"] for row in report.table()] == ["clean", "attacked", "defended"]
    json.dumps(report.to_dict())


def test_rating_models_report_prediction_shift(small):
    report = audit_robustness(small, "baseline", "average", 0.1, n_targets=2, seeds=1,
                              filler=0.2)
    assert report.summary["attacked.prediction_shift"]["mean"] > 0


def test_cli_writes_json_and_report(capsys, tmp_path, small):
    synthetic.to_files(small, tmp_path / "data")
    code, out, err = run(capsys, "audit", "robustness", "--interactions",
                         tmp_path / "data" / "interactions.csv", "--model", "popularity",
                         "--attack", "random", "--size", "0.05", "--targets", "2",
                         "--seeds", "1", "--out", tmp_path / "out")
    assert code == 0, err
    data = json.loads((tmp_path / "out" / "robustness.json").read_text())
    assert data["attack"]["kind"] == "random" and len(data["runs"]) == 1
    assert "attacked" in out and (tmp_path / "out" / "robustness.html").exists()
    assert "robustness.html" in (tmp_path / "out" / "index.html").read_text()
    code, _, err = run(capsys, "audit", "robustness", "--interactions",
                       tmp_path / "data" / "interactions.csv", "--attack", "sybil",
                       "--out", tmp_path / "bad")
    assert code == 2 and "attack kind" in err


def test_demo_section_renders(small):
    html = demo_robustness(small, seed=0).render()
    # rank shift and detector plots of the main audit, then size and detector sweeps
    assert "Robustness" in html and html.count("<img") == 4
    assert "1 seed." in html and "± 0.0000" not in html and "1 seeds" not in html


def test_audit_reports_each_finished_seed(planted) -> None:
    heard: list[tuple[str, int, int]] = []
    audit_robustness(planted, "popularity", "random", 0.05, 2, 2,
                     on_progress=lambda *step: heard.append(step))
    assert [(d, t) for _, d, t in heard] == [(0, 2), (1, 2), (2, 2)]
    assert "seeds" in heard[0][0]


def test_terminal_progress_draws_nothing_off_a_terminal(capsys) -> None:
    from trustrec.progress import terminal_progress

    with terminal_progress() as progress:
        assert progress is None  # pytest's stderr is no terminal
    assert capsys.readouterr().err == ""
