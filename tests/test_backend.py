"""A second backend in one class: the Backend interface is all the runner needs.

:class:`WholeSequenceBackend` serves a local Hugging Face folder (the tiny random models of
``wvsalign.inference.testing``) through a different code path than :class:`HFBackend`: its
own tokenisation, one plain forward pass per prompt x option over the whole sequence, no
prefix sharing, no batching, no ScoringEngine and no conversion cache. ``tests/test_runner.py``
runs its runner tests against both backends; here the two are compared number by number,
and the registry, identity, info and rendering of the interface are checked.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from wvsalign import contracts as tables  # noqa: E402
from wvsalign.errors import ConfigError, InputError  # noqa: E402
from wvsalign.inference.backend import Backend, HFBackend, backend_names, load_backend, register_backend  # noqa: E402
from wvsalign.inference.runner import score  # noqa: E402
from wvsalign.inference.scoring import SCORING_RULE  # noqa: E402
from wvsalign.inference.testing import save_tiny_model  # noqa: E402
from wvsalign.prompts import build_prompts, render_prompts  # noqa: E402
from wvsalign.survey.items import ItemBank  # noqa: E402

WHOLE = "whole-sequence"


class WholeSequenceBackend(Backend):
    """Each option scored as one whole sequence (context + continuation) in its own forward pass."""

    kind = WHOLE

    def __init__(self, path: Any, *, device: Any = None, dtype: Any = None, trust_remote_code: bool = False,
                 progress: bool = False, lazy: bool = False, chat: bool | None = None) -> None:
        from transformers import AutoConfig, AutoTokenizer

        if dtype not in (None, "auto", "float32"):
            raise InputError("the whole-sequence test backend computes in float32 only", value=dtype)
        self.path = Path(path).resolve()
        self.name = self.path.name
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
        self.config = AutoConfig.from_pretrained(str(self.path), local_files_only=True)
        self.chat = bool(self.tokenizer.chat_template) if chat is None else chat
        self.context_length = int(self.config.max_position_embeddings)
        self._model = None
        if not lazy:
            self._load()

    def _load(self) -> Any:
        if self._model is None:
            from transformers import AutoModelForCausalLM

            self._model = AutoModelForCausalLM.from_pretrained(str(self.path), local_files_only=True).eval()
        return self._model

    def identity(self) -> dict[str, Any]:
        digest = hashlib.sha256()
        for file in sorted(p for p in self.path.rglob("*") if p.is_file()):
            digest.update(file.name.encode() + b"\0" + file.read_bytes())
        return {"backend": self.kind, "name": self.name, "source": str(self.path), "sha256": digest.hexdigest(),
                "dtype": "float32", "engine": "whole-sequence-test", "engine_version": 1,
                "scoring_rule": SCORING_RULE, "prompt_format": "chat" if self.chat else "plain"}

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "family": self.config.model_type, "backend": self.kind,
                "params": sum(p.numel() for p in self._load().parameters()), "chat": self.chat,
                "context_length": self.context_length, "instruction_tuned": None, "multilingual": None}

    def render(self, prompts: pd.DataFrame) -> pd.DataFrame:
        return render_prompts(prompts, self.tokenizer, chat=self.chat)

    def encode(self, texts: Sequence[str], *, special_tokens: bool = True) -> list[tuple[int, ...]]:
        # the tiny tokenizer adds no BOS of its own, so the context rule is the plain call
        return [tuple(self.tokenizer(t, add_special_tokens=special_tokens)["input_ids"]) for t in texts]

    def logprobs(self, requests: Sequence[Any], *, batch_size: int | str = "auto",
                 progress: Callable[[int], None] | None = None) -> list[np.ndarray]:
        import torch

        model = self._load()
        out = []
        with torch.inference_mode():
            for req in requests:
                n = len(req.context)
                scores = []
                for cont in req.continuations:
                    logits = model(input_ids=torch.tensor([list(req.context + cont)])).logits[0]
                    logp = torch.log_softmax(logits.float(), dim=-1).double()
                    scores.append(sum(float(logp[n - 1 + t, tok]) for t, tok in enumerate(cont)))
                out.append(np.asarray(scores, dtype=np.float64))
                if progress is not None:
                    progress(1)
        return out


register_backend(WHOLE, lambda name_or_path, **options: WholeSequenceBackend(name_or_path, **options))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture(scope="module")
def prompts():
    bank = ItemBank.wvs7().filter(ids=["Q1", "Q46", "Q164", "Q57"])
    return pd.concat([build_prompts(bank, ["USA", "JPN"], templates=["persona", "third_person"]),
                      build_prompts(bank, ["GBR"], label_styles=["letter"], templates=["persona_system"])],
                     ignore_index=True)


@pytest.mark.parametrize("chat", [None, False])
def test_second_backend_matches_hf_backend(model_dir, prompts, chat):
    hf = load_backend(model_dir, progress=False, chat=chat)
    whole = load_backend(model_dir, WHOLE, chat=chat)
    a, b = score(prompts, hf, progress=False, shard_size=7), score(prompts, whole, progress=False)
    assert a["scored_with_end"].any()  # the 10-point item: label_end rule exercised
    assert np.abs(a["prob"] - b["prob"]).max() < 1e-5
    assert np.abs(a["logprob"] - b["logprob"]).max() < 1e-5
    pd.testing.assert_frame_equal(a.drop(columns=["prob", "logprob", "valid_mass"]),
                                  b.drop(columns=["prob", "logprob", "valid_mass"]))
    assert a["prob"].std() > 0.01  # not uniform: the comparison has teeth
    assert b.attrs["model_info"]["backend"] == WHOLE and a.attrs["model_info"]["backend"] == "hf"


def test_registry_names_and_refuses_unknown_kinds(model_dir):
    assert {"hf", WHOLE} <= set(backend_names())
    with pytest.raises(ConfigError, match=r"unknown backend 'vllm-x'.*'hf'"):
        load_backend(model_dir, "vllm-x")
    with pytest.raises(InputError, match="callable"):
        register_backend("broken", "not a factory")
    with pytest.raises(InputError, match="non-empty"):
        register_backend("", lambda *a, **k: None)


def test_hf_identity_is_the_same_lazy_or_loaded_and_loads_nothing(model_dir, monkeypatch):
    lazy = load_backend(model_dir, lazy=True, progress=False)
    loaded = load_backend(model_dir, progress=False)
    assert lazy.identity() == loaded.identity()
    assert not lazy.is_loaded  # identity and rendering need no weights
    ident = loaded.identity()
    assert set(ident) >= {"backend", "name", "source", "sha256", "dtype", "engine", "engine_version",
                          "transformers", "scoring_rule", "prompt_format"}
    assert (ident["backend"], ident["dtype"], ident["scoring_rule"]) == ("hf", "float32", SCORING_RULE)
    assert ident["sha256"] == loaded.loaded.info.sha256
    assert load_backend(model_dir, chat=False, lazy=True).identity()["prompt_format"] == "plain"
    assert ident["prompt_format"].startswith("chat:")


def test_hf_info_has_the_metadata_of_the_studies(model_dir):
    import torch

    backend = load_backend({"path": str(model_dir), "name": "tiny", "instruction_tuned": True,
                            "multilingual": False}, progress=False)
    info = backend.info()
    assert info["params"] == sum(p.numel() for p in backend.model.parameters())  # tied weights once
    assert (info["name"], info["family"], info["instruction_tuned"], info["multilingual"]) == (
        "tiny", "llama", True, False)
    assert info["chat"] is True and info["context_length"] == backend.context_length == 2048
    assert isinstance(backend.model, torch.nn.Module) and backend.device.type == "cpu"
    assert backend.dtype == torch.float32


def test_render_keeps_the_rows_and_adds_what_the_scorer_reads(model_dir, prompts):
    backend = load_backend(model_dir, lazy=True, progress=False)
    rendered = backend.render(prompts)
    tables.check(rendered, "rendered")
    pd.testing.assert_frame_equal(rendered[list(prompts.columns)], prompts)
    for row in rendered.itertuples():
        messages = ([{"role": "system", "content": row.system}] if row.system else []) + [
            {"role": "user", "content": row.user}]
        prefix = row.answer_prefix_text.rstrip(" ")  # the answer prefix opens the answer; its space is scored
        assert row.text == backend.tokenizer.apply_chat_template(messages, tokenize=False,
                                                                 add_generation_prompt=True) + prefix
        assert row.text.endswith(row.user + "<|im_end|>\n<|im_start|>assistant\n" + prefix)  # the user message closes the text
    plain = load_backend(model_dir, chat=False, lazy=True).render(prompts)
    assert plain["text"].str.startswith(tuple(f"{s}\n\nQuestion: " for s in prompts["system"] if s) + ("Question: ",)).all()
    assert (plain["continuations"].map(lambda c: all(x.startswith(" ") for x in c))).all()
    assert not backend.is_loaded


def test_score_by_name_takes_load_options_and_a_backend_takes_none(model_dir, prompts):
    out = score(prompts.iloc[:3], str(model_dir), progress=False, device="cpu", dtype="float32", chat=False)
    assert len(out) > 0
    backend = load_backend(model_dir, lazy=True, progress=False)
    with pytest.raises(InputError, match="load options"):
        score(prompts.iloc[:3], backend, progress=False, device="cpu")


def test_old_rendered_prompt_tables_are_refused_with_the_missing_columns(model_dir, prompts):
    old = render_prompts(prompts).drop(columns=["system", "user"])
    with pytest.raises(InputError, match=r"lacks column\(s\) \['system', 'user'\]"):
        score(old, str(model_dir), progress=False)


def test_pipeline_uses_a_preloaded_backend(model_dir, tmp_path):
    from wvsalign.pipeline import RunConfig, run

    whole = load_backend(model_dir, WHOLE)
    config = RunConfig(model=str(model_dir), items=["Q46", "Q1"], countries=["USA", "JPN"], out=str(tmp_path / "r"),
                       min_n=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run(config, backend=whole, progress=False, echo=None)
    assert result.model_info["backend"] == WHOLE
    ref = score(result.prompts, load_backend(model_dir, progress=False), progress=False)
    assert np.abs(result.probs["prob"].to_numpy() - ref["prob"].to_numpy()).max() < 1e-5
    with pytest.raises(InputError, match="Backend"):
        run(config, backend="not a backend", progress=False, echo=None)


def test_hf_backend_wraps_a_loaded_model(model_dir, prompts):
    from wvsalign.inference.models import load_model

    loaded = load_model(model_dir, progress=False)
    backend = HFBackend.from_loaded(loaded)
    assert backend.identity() == load_backend(model_dir, lazy=True, progress=False).identity()
    pd.testing.assert_frame_equal(score(prompts.iloc[:4], backend, progress=False),
                                  score(prompts.iloc[:4], loaded, progress=False), check_exact=True)
