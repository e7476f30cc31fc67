"""Paper-ready output: the LaTeX leaderboard (booktabs, escaped, one row per method, the summary's numbers),
PDF figures (deterministic), and the landing page report/index.html (every link resolves, every written file
is linked, the glossary explains every leaderboard column, summary quantity, verdict, metric and attack)."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pandas as pd
import pytest

from test_report import DOWNSTREAM, report_data
from unlearnbench.report import layout
from unlearnbench.report.latex import TEX_COLUMNS, tex_escape, tex_value
from unlearnbench.report.leaderboard import display_table, scenario_table, write_leaderboards


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Leaderboards (every format) of the synthetic report data (3 seeds) with an expected method named with
    underscores and no results."""
    out = tmp_path_factory.mktemp("paper")
    data, summary = report_data(out, seeds=(0, 1, 2), expected=["retrain", "original", "my_new_method"])
    return out, data, summary, write_leaderboards(data, out)


# --- LaTeX --------------------------------------------------------------------------------------------------
def tex_rows(tex: str) -> tuple[str, list[str]]:
    body = tex.split("\\midrule\n")[1].split("\n\\bottomrule")[0]
    header = tex.split("\\toprule\n")[1].split("\n\\midrule")[0]
    return header, body.splitlines()


def test_latex_leaderboard_is_well_formed(written):
    out, data, summary, paths = written
    assert {layout.leaderboard_file(out, sc, "tex") for sc in ("cls", "smp")} <= set(paths)
    tex = layout.leaderboard_file(out, "cls", "tex").read_text()
    for env in ("table", "tabular"):
        assert tex.count(f"\\begin{{{env}}}") == tex.count(f"\\end{{{env}}}") == 1
    assert tex.index("\\begin{table}") < tex.index("\\begin{tabular}") < tex.index("\\end{tabular}") \
        < tex.index("\\end{table}")
    rules = [ln for ln in tex.splitlines() if ln in ("\\toprule", "\\midrule", "\\bottomrule")]
    assert rules == ["\\toprule", "\\midrule", "\\bottomrule"]
    header, rows = tex_rows(tex)
    table = scenario_table(data, "cls")
    assert len(rows) == len(table) == 9  # one row per method, the missing one included
    ncols = len(re.search(r"\\begin\{tabular\}\{([lr]+)\}", tex).group(1))
    for line in [header, *rows]:
        assert line.endswith(" \\\\") and line.count(" & ") == ncols - 1
    assert [r.split(" & ")[0] for r in rows] == [tex_escape(m) for m in table["method"]]
    assert rows[0].startswith("retrain & reference") and "my\\_new\\_method" in tex
    # no unescaped underscore outside \label, no raw Unicode the report uses elsewhere
    text = "\n".join(ln for ln in tex.splitlines() if not ln.startswith(("\\label", "%")))
    assert not re.search(r"(?<!\\)_", text)
    assert not set("±→—′≤≥−") & set(tex)
    # the headline columns and the summary's numbers as $mean \pm ci$
    assert header.split(" & ")[:5] == ["method", "verdict", "recovery", "forget-test acc", "retain-test acc"]
    assert "CKA$\\to$original" in header and "harmonic" in header
    good = next(r for r in rows if r.startswith("good &"))
    s = summary[(summary["scenario"] == "cls") & (summary["method"] == "good")].set_index("quantity")
    assert f"${s.loc['cka_to_original', 'mean']:.3f} \\pm {s.loc['cka_to_original', 'ci95']:.3f}$" in good
    assert "close to retrain" in good
    missing = next(r for r in rows if r.startswith("my\\_new\\_method"))
    assert set(missing.removesuffix(" \\\\").split(" & ")[1:]) == {"---"}
    # the caption names the scenario and the noise rule
    caption = re.search(r"\\caption\{(.*)\}\n", tex).group(1)
    assert "\\texttt{cls}" in caption and "noise band" in caption and "95" in caption
    assert "\\label{tab:unlearnbench-cls}" in tex


def test_latex_sample_scenario_reads_forget_train_and_drops_empty_columns(written):
    out, *_ = written
    header, rows = tex_rows(layout.leaderboard_file(out, "smp", "tex").read_text())
    cols = header.split(" & ")
    assert "forget-train acc" in cols and "forget-test acc" not in cols
    assert "probe recovery" not in cols  # no value under sample forgetting
    assert "prototype attack" not in cols  # no attack ran in these results
    assert len(TEX_COLUMNS) >= 9


def test_tex_escape_and_values():
    assert tex_escape("a_b & 50% #1 $x {y} ~^\\") == \
        "a\\_b \\& 50\\% \\#1 \\$x \\{y\\} \\textasciitilde{}\\textasciicircum{}\\textbackslash{}"
    assert tex_escape("CKA→original — original′") == "CKA$\\to$original --- original$'$"
    assert tex_value(0.91234, 0.0131) == "$0.912 \\pm 0.013$"
    assert tex_value(0.91234) == "$0.912$" and tex_value(float("nan")) == tex_value(None) == "---"


# --- PDF figures --------------------------------------------------------------------------------------------
def test_pdf_figures_are_written_and_deterministic(tmp_path):
    from unlearnbench.report.figbase import new_figure
    from unlearnbench.report.plots import save_figure

    assert "pdf" in layout.IMAGE_FORMATS

    def draw():
        fig = new_figure(3, 2)
        fig.add_subplot().plot([0, 1], [1, 0], label="a_b")
        return fig

    paths = save_figure(draw(), tmp_path / "fig")
    assert {p.suffix for p in paths} == {f".{f}" for f in layout.IMAGE_FORMATS}
    first = (tmp_path / "fig.pdf").read_bytes()
    assert first.startswith(b"%PDF") and b"CreationDate" not in first
    assert b"/Type3" not in first and b"/CIDFontType2" in first  # TrueType fonts (publishers reject Type 3)
    save_figure(draw(), tmp_path / "fig")
    assert (tmp_path / "fig.pdf").read_bytes() == first


def test_rules_derive_figure_and_leaderboard_formats_from_layout():
    """The plots rule declares one output list per layout.IMAGE_FORMATS entry and the leaderboard rule the
    LaTeX files and the landing page (a dry run of the quick config checks the DAG: tests/test_report.py)."""
    from conftest import REPO

    smk = (REPO / "rules" / "report.smk").read_text()
    assert "**{fmt: figures(fmt) for fmt in layout.IMAGE_FORMATS}" in smk
    assert 'tex=[str(LAYOUT.leaderboard_file(sc, "tex")) for sc in SCENARIOS]' in smk
    assert "index=str(LAYOUT.report_index())" in smk
    assert "for fmt in layout.LEADERBOARD_FORMATS" in smk


# --- landing page -------------------------------------------------------------------------------------------
class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.terms, self._dt = [], [], False

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs.append(dict(attrs)["href"])
        self._dt = tag == "dt"

    def handle_data(self, data):
        if self._dt:
            self.terms.append(data)
            self._dt = False


@pytest.fixture(scope="module")
def site(tmp_path_factory, monkeypatch_module):
    """Everything the report jobs write (figures as tiny stand-ins: their file names come from the real
    writers) plus the landing page."""
    from unlearnbench.report import plots
    from unlearnbench.report.exports import write_exports
    from unlearnbench.report.figbase import new_figure
    from unlearnbench.report.index import write_index

    for name in ("figure_logit_vs_repr", "figure_knn", "figure_probe", "figure_cka_layers", "figure_curves",
                 "figure_relearn", "figure_layer_probe"):
        monkeypatch_module.setattr(plots, name, lambda *a, **k: new_figure(1, 1))
    out = tmp_path_factory.mktemp("site")
    data, summary = report_data(out, seeds=(0, 1))
    written = write_leaderboards(data, out) + write_exports(data, out) + plots.write_plots(data, out)
    index = write_index(data, out)
    page = _Page()
    page.feed(index.read_text())
    return out, data, summary, written, index, page


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_landing_page_links_every_file_and_only_existing_ones(site):
    out, data, _, written, index, page = site
    report = layout.report_dir(out)
    targets = {(report / h).resolve() for h in page.hrefs}
    assert all(not h.startswith(("/", "http")) for h in page.hrefs)  # relative: the folder can move
    assert all(t.is_file() for t in targets), sorted(str(t) for t in targets if not t.is_file())
    on_disk = {p.resolve() for p in report.rglob("*") if p.is_file()} - {index.resolve()}
    assert targets == on_disk == {p.resolve() for p in written}
    assert any(h.endswith(".pdf") for h in page.hrefs) and any(h.endswith(".tex") for h in page.hrefs)


def test_glossary_covers_every_column_quantity_and_verdict(site):
    from unlearnbench.aggregate import DERIVED, HEADLINES, QUANTITY_HELP, SUMMARY_COLUMN_HELP
    from unlearnbench.attacks import ATTACKS
    from unlearnbench.metrics import METRICS
    from unlearnbench.report.glossary import column_help, glossary, quantity_help
    from unlearnbench.report.leaderboard import COLUMN_HELP, QUANTITIES
    from unlearnbench.report.recovery import RECOVERY_HELP, RECOVERY_VERDICTS
    from unlearnbench.report.verdicts import VERDICT_HELP, VERDICTS

    out, data, summary, _, index, page = site
    assert set(QUANTITY_HELP) == {n for n, _, _ in HEADLINES} | set(DERIVED)
    assert set(VERDICT_HELP) == set(VERDICTS) and set(RECOVERY_HELP) == set(RECOVERY_VERDICTS)
    assert set(summary["quantity"]) and all(quantity_help(q) for q in summary["quantity"].unique())
    assert set(summary.columns) <= set(SUMMARY_COLUMN_HELP)
    board = pd.read_csv(layout.combined_leaderboard(out))
    assert all(column_help(c) for c in board.columns)
    shown = display_table(scenario_table(data, "cls"), DOWNSTREAM).columns
    headers = {h.format(ds=ds) for _, h in QUANTITIES for ds in DOWNSTREAM} | {h for h, _ in COLUMN_HELP.values()}
    assert set(shown) <= headers
    assert quantity_help("knn_far").endswith("on the downstream set far: below both references = features damaged")
    # and the page shows every entry: verdicts, quantities, registered metrics and attacks
    terms = set(page.terms)
    sections = glossary()
    assert all(term in terms for entries in sections.values() for term, _ in entries)
    assert set(VERDICTS) | set(RECOVERY_VERDICTS) | set(METRICS) | set(ATTACKS.names()) <= terms
    assert {t.split(" (")[0] for t in terms} >= {n.replace("{ds}", "<set>") for n, _, _ in HEADLINES}
    from unlearnbench.report.figures import FIGURES

    assert set(FIGURES.names()) <= terms and dict(sections["Figures (registered)"])["knn"].startswith(
        FIGURES["knn"].title)


def test_a_quantity_without_a_glossary_line_fails():
    from unlearnbench.headlines import Headline
    from unlearnbench.report import glossary

    with pytest.raises(ValueError, match="glossary line"):
        Headline("new_metric_{ds}", "repr", " ", {"metric": "new"})
    with pytest.raises(ValueError, match="group"):
        Headline("new_metric", "logits", "a line", {"metric": "new"})
    with pytest.raises(KeyError, match="not defined"):
        glossary.quantity_help("new_metric_far")
    with pytest.raises(KeyError, match="not defined"):
        glossary.column_help("never_heard_of")
    # an exact name wins over a {ds} pattern: knn_forget_test is not the downstream set "forget_test"
    assert glossary.quantity_help("knn_forget_test").startswith("k-NN accuracy of forget-test queries")


def test_leaderboard_latex_and_reasons_derive_from_the_headline_table():
    from unlearnbench.aggregate import DERIVED, HEADLINES, QUANTITY_HELP, RECOVERY
    from unlearnbench.headlines import HEADLINE_TABLE
    from unlearnbench.report.leaderboard import QUANTITIES, SECOND_OPINIONS, quantities
    from unlearnbench.report.recovery import LABELS as RECOVERY_LABELS
    from unlearnbench.report.verdicts import LABELS

    shown = [h for h in HEADLINE_TABLE if h.header]
    assert QUANTITIES == [(h.name, h.header) for h in shown]
    assert [q for q, _ in quantities(["a", "b"])][8:10] == ["knn_a", "knn_b"]  # {ds} expands in place
    assert [c for c in TEX_COLUMNS[3:-1]] == [h.name for h in HEADLINE_TABLE if h.paper and h.name != "harmonic"]
    assert {n for n, _, _ in HEADLINES} | set(DERIVED) == set(QUANTITY_HELP) == {h.name for h in HEADLINE_TABLE}
    assert RECOVERY == ("proto_forget_test", "fewshot_auc", "retain_relearn_auc")
    assert RECOVERY_LABELS["retain_relearn_auc"] == "retain-only relearn AUC" and LABELS["cka_to_original"] == "CKA to original"
    assert [q for q, _ in SECOND_OPINIONS] == ["procrustes_to_original", "mknn_to_original"]
