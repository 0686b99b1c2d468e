"""The public API flow of ARCHITECTURE.md, end to end on a tiny random model (no download).

WVS-format file -> human distributions -> prompts -> scored probs in a run directory ->
alignment per category, each stage's table checked against its contract, and the
alignment estimates recomputed independently with scipy.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

import wvsalign as wa
from wvsalign import contracts
from wvsalign.inference.testing import save_tiny_model


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def test_architecture_flow(tmp_path, tiny_model_dir):
    bank = wa.ItemBank.wvs7().filter(ids=["Q46", "Q57", "Q164", "Q182", "Q199", "Q209"])
    countries = ["USA", "JPN", "DEU", "NGA", "BRA"]
    wvs_file = tmp_path / "wvs.csv"
    wa.survey.write_synthetic(wvs_file, bank, countries, n_per_country=200, seed=3)

    data = wa.read_wvs(wvs_file, items=bank)
    assert data.synthetic
    human = contracts.check(data.distributions(bank), "human")
    assert sorted(human["country"].unique()) == sorted(countries)

    model = wa.load_backend(str(tiny_model_dir))
    prompts = contracts.check(wa.build_prompts(bank, countries=countries, templates="persona"), "prompts")
    assert len(prompts) == len(bank) * len(countries)
    assert model.render(prompts)["prompt_format"].str.startswith("chat:").all()  # the model's own chat template

    probs = contracts.check(wa.score(prompts, model, run_dir=tmp_path / "run", progress=False), "probs")
    assert set(probs["prompt_id"]) == set(prompts["prompt_id"])

    al = contracts.check(wa.alignment(probs, human, bank, by="category"), "alignment")

    # independent recomputation: mean scores by hand, Pearson r per category with scipy
    opts = bank.options_frame()
    model_name = probs["model"].iloc[0]
    m = probs.merge(opts[["item_id", "code", "score"]], on=["item_id", "code"])
    model_mean = (m["prob"] * m["score"]).groupby([m["country"], m["item_id"]]).sum().rename("model")
    h = human.merge(opts[["item_id", "code", "score"]], on=["item_id", "code"])
    human_mean = (h["share"] * h["score"]).groupby([h["country"], h["item_id"]]).sum().rename("human")
    pairs = pd.concat([model_mean, human_mean], axis=1, join="inner").reset_index()
    pairs["category"] = pairs["item_id"].map({it.item_id: it.category for it in bank})
    for category, grp in pairs.groupby("category"):
        row = al[(al["group"] == category) & (al["model"] == model_name)]
        assert len(row) == 1
        if len(grp) > 2:
            r, p = sps.pearsonr(grp["model"], grp["human"])
            assert row["estimate"].iloc[0] == pytest.approx(r, abs=1e-10)
            assert row["p"].iloc[0] == pytest.approx(p, abs=1e-10)
        assert row["n"].iloc[0] == len(grp)


def test_lazy_top_level_import_does_not_load_torch():
    import subprocess
    import sys

    code = "import sys, wvsalign as wa; wa.ItemBank.wvs7(); wa.Countries.load(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
