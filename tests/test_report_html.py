"""The report end to end: files, self-contained HTML, the SYNTHETIC banner, the CLI, and a real browser."""
from __future__ import annotations

import base64
import html.parser
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

import wvsalign as wa
from wvsalign.errors import InputError
from wvsalign.report.testing import small_study

ROOT = Path(__file__).resolve().parents[1]
FAST = {"n_boot": 100, "n_perm": 99}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return small_study(tmp_path_factory.mktemp("study") / "study", option_orders=("original", "reversed"))


@pytest.fixture(scope="module")
def made(study, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report"
    return wa.report([study], out=out, **FAST)


class _Elements(html.parser.HTMLParser):
    """Start tags with their attributes, and whether any script or external resource is referenced."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _elements(text: str) -> list[tuple[str, dict]]:
    parser = _Elements()
    parser.feed(text)
    return parser.tags


def test_report_writes_every_table_and_figure(made):
    out = made.out
    expected_tables = {"models", "conditions", "versions", "alignment_by_category", "alignment_by_country", "bias",
                       "model_comparisons", "regressions", "format_robustness", "distribution_similarity",
                       "cultural_distance"}
    assert set(made.tables) == expected_tables
    for name in expected_tables:
        for ext in ("csv", "md", "tex", "html"):
            assert (out / "tables" / f"{name}.{ext}").stat().st_size > 0, (name, ext)
    expected_figures = {"alignment_heatmap", "alignment_by_country", "model_vs_human", "bias", "culture_map",
                        "format_robustness", "alignment_vs_size"}
    assert set(made.figures) == expected_figures
    for name in expected_figures:
        assert (out / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert "<svg" in (out / "figures" / f"{name}.svg").read_text()


def test_html_is_self_contained_and_complete(made):
    text = made.html.read_text()
    tags = _elements(text)
    ids = {attrs.get("id") for _, attrs in tags}
    for name in made.tables:
        assert f"table-{name}" in ids
    imgs = [attrs for tag, attrs in tags if tag == "img"]
    assert {a["id"] for tag, a in tags if tag == "figure"} == {f"figure-{n}" for n in made.figures}
    for attrs in imgs:
        assert attrs["src"].startswith("data:image/png;base64,")
        png = base64.b64decode(attrs["src"].split(",", 1)[1])
        width, height = struct.unpack(">II", png[16:24])
        assert (int(attrs["width"]), int(attrs["height"])) == (width, height) and width > 100 and height > 100
    # nothing fetched from anywhere: no scripts, no external stylesheets or images
    assert not [t for t, _ in tags if t in ("script", "link", "iframe")]
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)


def test_html_states_the_human_data_models_and_versions(made, study):
    text = made.html.read_text()
    assert 'id="synthetic-banner"' in text and "SYNTHETIC human data" in text
    assert "Human data: SYNTHETIC (synthetic (seed=3))" in text
    for model in ("alpha", "beta", "gamma"):
        assert model in text
    versions = made.tables["versions"].data
    assert set(versions["run"]) == {"alpha", "beta", "gamma"} and "wvsalign" in versions.columns
    conditions = made.tables["conditions"].data
    assert set(conditions["option_orders"]) == {"original, reversed"}
    assert set(conditions["condition"]) == {"persona"}


def _real_copy(run: Path, dest: Path) -> Path:
    """A copy of a run relabelled as made from a WVS file (as a real run's config.yaml records it)."""
    shutil.copytree(run, dest)
    record = yaml.safe_load((dest / "config.yaml").read_text())
    record["config"]["wvs"] = "/data/WVS_Cross-National_Wave_7_csv_v6_0.csv"
    record["human"] = {"synthetic": False, "source": "/data/WVS_Cross-National_Wave_7_csv_v6_0.csv",
                       "sha256": "ab" * 32, "countries": 18, "items": 33}
    (dest / "config.yaml").write_text(yaml.safe_dump(record))
    human = pd.read_parquet(dest / "human.parquet")
    assert human.attrs.get("synthetic")  # the table itself says so too (and that alone would raise the banner)
    human.attrs = {}
    human.to_parquet(dest / "human.parquet", index=False)
    return dest


def test_no_banner_for_real_human_data(study, tmp_path):
    run = _real_copy(study / "runs" / "beta" / "persona", tmp_path / "real")
    rep = wa.report([run], out=tmp_path / "out", figures=False, **FAST)
    text = rep.html.read_text()
    assert not rep.synthetic and rep.figures == {} and not (tmp_path / "out" / "figures").exists()
    assert "synthetic-banner" not in text and "SYNTHETIC human data" not in text
    assert "WVS_Cross-National_Wave_7_csv_v6_0.csv" in text and "ab" * 32 in text
    # the WVS file is not on this machine: no map, and the report says so
    assert any("is not on this machine" in n for n in rep.notes)


def test_banner_when_any_run_is_synthetic(study, tmp_path):
    real = _real_copy(study / "runs" / "beta" / "persona", tmp_path / "real")
    rep = wa.report([real, study / "runs" / "alpha" / "persona"], out=tmp_path / "out", figures=False, **FAST)
    assert rep.synthetic and 'id="synthetic-banner"' in rep.html.read_text()


def test_cli_report(study, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = study / "runs" / "gamma" / "persona"
    proc = subprocess.run([sys.executable, "-m", "wvsalign", "report", str(run), str(study / "runs" / "alpha"),
                           "--out", str(tmp_path / "rep"), "--n-boot", "100", "--n-perm", "99"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout and (tmp_path / "rep" / "report.html").is_file()
    assert proc.stderr == ""  # no library warnings in the terminal
    models = pd.read_csv(tmp_path / "rep" / "tables" / "models.csv")
    assert sorted(models["model"]) == ["alpha", "gamma"]
    bad = subprocess.run([sys.executable, "-m", "wvsalign", "report", str(tmp_path / "nope"), "--out",
                          str(tmp_path / "rep2")], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2
    assert "no such directory" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "rep2").exists()


def test_unfinished_runs_are_left_out_with_a_note(study, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(study / "runs" / "alpha" / "persona", partial)
    (partial / "probs.parquet").unlink()
    rep = wa.report([partial, study / "runs" / "beta" / "persona"], out=tmp_path / "out", figures=False, **FAST)
    assert any("no probs.parquet" in n for n in rep.notes)
    assert list(rep.tables["models"].data["model"]) == ["beta"]
    with pytest.raises(InputError, match="none of the run directories has results"):
        wa.report([partial], out=tmp_path / "out2")


# ---- a real browser ---------------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_report_renders_in_headless_chromium(made, tmp_path):
    url = made.html.resolve().as_uri()
    dom = _chromium("--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    tags = _elements(dom.stdout)
    ids = {attrs.get("id") for _, attrs in tags}
    for name in made.tables:
        assert f"table-{name}" in ids, name
    figures = {attrs["id"] for tag, attrs in tags if tag == "figure"}
    assert figures == {f"figure-{n}" for n in made.figures}
    imgs = [attrs for tag, attrs in tags if tag == "img"]
    assert len(imgs) == len(made.figures)
    assert all(int(a["width"]) > 0 and int(a["height"]) > 0 for a in imgs)
    assert "synthetic-banner" in ids
    shot = tmp_path / "shot.png"
    res = _chromium(f"--screenshot={shot}", "--window-size=1280,4000", url)
    assert res.returncode == 0, res.stderr[-2000:]
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (1280, 4000)
    assert len(png) > 50_000  # a blank page compresses to a few kB


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_images_decode_in_the_browser(made, tmp_path):
    """Chromium decodes every embedded image (naturalWidth > 0), checked by a page that reports it."""
    probe = tmp_path / "probe.html"
    text = made.html.read_text().replace(
        "</body>", "<script>document.title = Array.from(document.images)"
                   ".map(i => i.complete && i.naturalWidth > 0 ? 1 : 0).join('');</script></body>")
    probe.write_text(text)
    dom = _chromium("--dump-dom", probe.resolve().as_uri())
    title = re.search(r"<title>(.*?)</title>", dom.stdout).group(1)
    assert title == "1" * len(made.figures)


def test_report_package_is_callable_and_light():
    """``wa.report(...)`` is the report function; importing the package loads no plotting library."""
    code = ("import sys, wvsalign as wa, wvsalign.report.tables as t; "
            "assert callable(wa.report) and wa.report.tables is t; "
            "assert wa.report.plot_bias.__module__ == 'wvsalign.report.figures'; "
            "print('matplotlib' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    # the package and its tables load no plotting library (the CLI's --help stays fast)
    light = subprocess.run([sys.executable, "-c", "import sys, wvsalign.cli, wvsalign.report.tables; "
                            "print('matplotlib' in sys.modules)"], capture_output=True, text=True, env=env,
                           timeout=120)
    assert light.returncode == 0, light.stderr
    assert light.stdout.strip() == "False"
