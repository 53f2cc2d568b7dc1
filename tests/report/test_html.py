"""The HTML report writer: pages that share a folder are linked, never replaced."""

from __future__ import annotations

from trustrec.report.html import Report, Section


def test_reports_in_one_folder_keep_each_other_and_are_indexed(tmp_path) -> None:
    for name, title in (("robustness.html", "robustness <audit>"),
                        ("privacy.html", "privacy audit"), ("fairness.html", "fairness")):
        report = Report(title=title)
        report.add(Section("s").text(f"body of {name}"))
        report.write(tmp_path, name)
    pages = {p.name for p in tmp_path.glob("*.html")}
    assert pages == {"index.html", "robustness.html", "privacy.html", "fairness.html"}
    assert "body of robustness.html" in (tmp_path / "robustness.html").read_text()
    index = (tmp_path / "index.html").read_text()
    for name in ("robustness.html", "privacy.html", "fairness.html"):
        assert f"href='{name}'" in index
    assert "robustness &lt;audit&gt;" in index  # titles escaped, not injected
    # a page written as index.html stays what it is (the demo report)
    Report(title="demo").write(tmp_path / "demo")
    assert "<title>demo</title>" in (tmp_path / "demo" / "index.html").read_text()


def test_comparison_table_shows_its_intervals_and_no_none() -> None:
    from trustrec.data import split, synthetic
    from trustrec.experiment import ModelSpec, compare_models, summary_rows
    from trustrec.report.evaluation import comparison_section

    ds = synthetic.generate(n_users=80, n_items=40, n_interactions=1500, seed=1)
    parts = split.random_holdout(ds, test_fraction=0.2, seed=0)
    runs = compare_models(parts, [ModelSpec.parse("popularity"), ModelSpec.parse("mf")], k=5)
    html = comparison_section(runs, summary_rows([runs], 5), 5).render()
    assert "<th>NDCG@5 95% CI</th>" in html
    assert ">None<" not in html and "<td>–</td>" in html  # popularity has no RMSE
    lo, hi = runs[0].ranking.intervals["ndcg@5"]
    assert f"{lo:.4f}–{hi:.4f}" in html
