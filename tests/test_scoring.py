"""The scoring rule: tokens scored per option, the prefix rule, normalisation, and agreement
of the batched prefix-sharing engine with a naive per-option computation (tiny random
models here; real SmolLM2 and Gemma 3 270M in the slow tests)."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import scipy.special

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from wvsalign import tables  # noqa: E402
from wvsalign.errors import InputError  # noqa: E402
from wvsalign.inference.engine import ScoringEngine  # noqa: E402
from wvsalign.inference.scoring import (  # noqa: E402
    encode_requests, naive_logprobs, normalise, probs_frame,
)
from wvsalign.inference.testing import tiny_model, tiny_tokenizer  # noqa: E402
from wvsalign.prompts import build_prompts, render_prompts  # noqa: E402
from wvsalign.survey.items import ItemBank  # noqa: E402

TEN_POINT = "Q164"  # importance of God, 1..10


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


def _prompt(text, conts, end, labels=None, pid="p1", item="Q1"):
    labels = labels or [c.strip() for c in conts]
    return {"prompt_id": pid, "item_id": item, "country": "USA", "language": "en", "template": "persona",
            "option_order": "original", "text": text,
            "labels": labels, "codes": list(range(1, len(conts) + 1)), "continuations": conts, "label_end": end}


def _ids(tok, s):
    return tuple(tok(s, add_special_tokens=False)["input_ids"])


# ---- tokens and the prefix rule ------------------------------------------------------------
def test_single_token_labels_are_scored_alone(tok):
    df = pd.DataFrame([_prompt("Q?\nAnswer:", [" 1", " 2", " 3", " 4"], "\n")])
    (req,) = encode_requests(df, tok)
    assert not req.scored_with_end
    assert req.continuations == tuple(_ids(tok, c) for c in [" 1", " 2", " 3", " 4"])
    assert req.context == _ids(tok, "Q?\nAnswer:")


def test_ten_point_labels_are_scored_with_the_end_of_answer(tok):
    conts = [str(i) for i in range(1, 11)]
    df = pd.DataFrame([_prompt("<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant\n", conts, "<|im_end|>")])
    (req,) = encode_requests(df, tok)
    assert req.scored_with_end
    end = tok.convert_tokens_to_ids("<|im_end|>")
    one, zero = _ids(tok, "1")[0], _ids(tok, "0")[0]
    assert req.continuations[0] == (one, end)  # '1' then end of turn: excludes '10'
    assert req.continuations[9] == (one, zero, end)
    assert all(c[-1] == end for c in req.continuations)


def test_letters_are_not_scored_with_end(tok):
    df = pd.DataFrame([_prompt("x", list("ABCDEFGHIJ"), "<|im_end|>")])
    assert not encode_requests(df, tok)[0].scored_with_end


def test_bos_is_added_once(tok):
    from tokenizers import processors

    tok2 = tiny_tokenizer()
    bos = tok2.bos_token_id
    tok2._tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", bos)])
    df = pd.DataFrame([_prompt("ab", ["1", "2"], "\n"), _prompt("<s>ab", ["1", "2"], "\n", pid="p2")])
    a, b = encode_requests(df, tok2)
    assert a.context == (bos,) + _ids(tok, "ab")
    assert b.context == a.context  # a text that starts with BOS gets no second one
    assert a.continuations == (_ids(tok, "1"), _ids(tok, "2"))  # continuations never get specials


def test_prefix_labels_without_label_end_are_refused(tok):
    df = pd.DataFrame([_prompt("x", ["1", "10"], "")])
    with pytest.raises(InputError, match="label_end"):
        encode_requests(df, tok)


def test_identical_continuations_are_refused(tok):
    df = pd.DataFrame([_prompt("x", ["1", "1"], "\n")])
    with pytest.raises(InputError, match="indistinguishable"):
        encode_requests(df, tok)


def test_prompt_longer_than_context_is_refused_by_name(tok):
    df = pd.DataFrame([_prompt("x" * 50, ["1", "2"], "\n", pid="long-one")])
    with pytest.raises(InputError, match=r"prompt long-one .* 51 tokens .* context of 40 tokens"):
        encode_requests(df, tok, context_length=40)
    assert encode_requests(df, tok, context_length=51)


def test_missing_columns_are_named(tok):
    df = pd.DataFrame([_prompt("x", ["1", "2"], "\n")]).drop(columns="continuations")
    with pytest.raises(InputError, match="continuations"):
        encode_requests(df, tok)


# ---- normalisation and the probs table ---------------------------------------------------------
def test_normalise_matches_scipy():
    lp = np.array([-3.2, -0.7, -5.0, -1.1])
    probs, mass = normalise(lp)
    np.testing.assert_allclose(probs, scipy.special.softmax(lp), rtol=1e-14)
    np.testing.assert_allclose(mass, np.exp(scipy.special.logsumexp(lp)), rtol=1e-14)
    # far below float range: still finite and normalised
    probs, mass = normalise(lp - 2000)
    np.testing.assert_allclose(probs, scipy.special.softmax(lp), rtol=1e-12)
    assert mass == 0.0


def test_probs_frame_contract(tok):
    df = pd.DataFrame([_prompt("x", [" 1", " 2", " 3"], "\n", pid="a"),
                       _prompt("y", ["A", "B"], "\n", pid="b", item="Q2")])
    df["instruction"] = "default"
    reqs = encode_requests(df, tok)
    lps = [np.array([-1.0, -2.0, -3.0]), np.array([-0.5, -0.25])]
    out = probs_frame(df, reqs, lps, "m")
    tables.check(out, "probs")
    assert list(out["prompt_id"]) == ["a"] * 3 + ["b"] * 2
    assert list(out["code"]) == [1, 2, 3, 1, 2]
    np.testing.assert_allclose(out["prob"].iloc[:3], scipy.special.softmax([-1.0, -2.0, -3.0]))
    np.testing.assert_allclose(out["valid_mass"].iloc[3], np.exp(-0.5) + np.exp(-0.25))
    assert list(out["logprob"]) == [-1.0, -2.0, -3.0, -0.5, -0.25]
    assert set(out["instruction"]) == {"default"} and out["label_style"].isna().all()


# ---- engine vs naive on tiny models -----------------------------------------------------------
def _tiny_prompts(tok, chat_tok):
    bank = ItemBank.wvs7().filter(ids=["Q1", "Q46", TEN_POINT])
    chat = render_prompts(build_prompts(bank, ["USA", "JPN", "NLD"], templates=["persona", "default"],
                                        label_styles=["number", "letter"]), chat_tok)
    plain = render_prompts(build_prompts(bank, ["USA", "GBR"]))
    # a reversed order takes letter labels (number labels would not name the scale points)
    reversed_ = render_prompts(build_prompts(bank, ["USA", "GBR"], option_orders=["reversed"], label_styles=["letter"]))
    plain["prompt_id"] += "-plain"  # the same model-neutral prompts as some chat ones, rendered otherwise
    return pd.concat([chat, plain, reversed_], ignore_index=True)


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_engine_equals_naive_on_tiny_models(tok, arch):
    prompts = _tiny_prompts(tok, tok)
    reqs = encode_requests(prompts, tok)
    assert any(r.scored_with_end for r in reqs) and not all(r.scored_with_end for r in reqs)
    model = tiny_model(arch, vocab_size=len(tok))  # gemma3: sliding window of 8 tokens, far below prompt length
    ref = probs_frame(prompts, reqs, naive_logprobs(model, reqs), "m")
    got = probs_frame(prompts, reqs, ScoringEngine(model).logprobs(reqs), "m")
    assert np.abs(got["prob"] - ref["prob"]).max() < 1e-5
    assert np.abs(got["logprob"] - ref["logprob"]).max() < 1e-4
    assert got["prob"].std() > 0.01  # the model is not uniform: the comparison has teeth


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_scoring_emits_no_library_warning(tmp_path, arch, capfd):
    """transformers' current API only: no FutureWarning (past_key_values), no deprecation log lines."""
    import warnings

    from wvsalign.inference.models import load_backend
    from wvsalign.inference.runner import score
    from wvsalign.inference.testing import save_tiny_model

    folder = save_tiny_model(tmp_path / arch, arch)
    capfd.readouterr()
    prompts = build_prompts(ItemBank.wvs7().filter(ids=["Q46", TEN_POINT]), ["USA", "JPN"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        backend = load_backend(folder, progress=False)
        out = score(prompts, backend, progress=False)
        score(prompts, backend, progress=False, batch_size=1)
        ScoringEngine(backend.model, share_prefixes=False).logprobs(backend.requests(backend.render(prompts)))
    assert len(out) == 4 * 2 + 10 * 2
    err = capfd.readouterr().err
    assert "deprecated" not in err and "forward_call" not in err, err


# ---- real models (slow) ------------------------------------------------------------------------
def _real_check(name):
    from wvsalign.inference.models import load_backend
    from wvsalign.inference.runner import score

    loaded = load_backend(name, progress=False)
    bank = ItemBank.wvs7().filter(ids=["Q1", TEN_POINT])
    prompts = build_prompts(bank, ["JPN"], templates=["persona", "default"], label_styles=["number", "letter"])
    rendered = loaded.render(prompts)
    reqs = encode_requests(rendered, loaded.tokenizer)
    # tokenising context and continuation separately equals splitting the joint text (lm-eval's rule)
    tk = loaded.tokenizer
    for text, conts, end, req in zip(rendered["text"], rendered["continuations"], rendered["label_end"], reqs):
        for cont, ids in zip(conts, req.continuations):
            scored = cont + (end if req.scored_with_end else "")
            special = not (tk.bos_token and text.startswith(tk.bos_token))
            assert tuple(tk(text + scored, add_special_tokens=special)["input_ids"]) == req.context + ids
    got = score(prompts, loaded, progress=False)
    ref = probs_frame(rendered, reqs, naive_logprobs(loaded.model, reqs), loaded.name)
    assert any(r.scored_with_end for r in reqs)
    assert list(got["prompt_id"]) == list(ref["prompt_id"])
    dp = np.abs(got["prob"].to_numpy() - ref["prob"].to_numpy()).max()
    assert dp < 1e-5, dp
    assert np.abs(got["valid_mass"].to_numpy() - ref["valid_mass"].to_numpy()).max() < 1e-5
    return got


@pytest.mark.slow
def test_smollm2_equals_naive_including_ten_point_item():
    got = _real_check("smollm2-135m")
    ten = got[(got["item_id"] == TEN_POINT) & (got["label_style"] == "number")]
    assert ten["scored_with_end"].all() and len(ten) == 10 * ten["prompt_id"].nunique() > 0


@pytest.mark.slow
def test_gemma3_equals_naive_including_ten_point_item():
    got = _real_check("gemma3-270m")
    ten = got[(got["item_id"] == TEN_POINT) & (got["label_style"] == "number")]
    assert ten["scored_with_end"].all() and len(ten) == 10 * ten["prompt_id"].nunique() > 0
