"""Tiny random models for tests and smoke runs (no download, a few hundred kilobytes).

``save_tiny_model(folder)`` writes a randomly initialised 2-layer causal LM (Llama or
Gemma 3 architecture) with a character-level tokenizer and a ChatML chat template as a
local Hugging Face folder, loadable like any local model. Characters are single tokens, so
"10" is '1', '0' as in SmolLM2 and Gemma 3, which exercises the multi-token scoring rule.
"""
from __future__ import annotations

import string
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = ("<pad>", "<unk>", "<s>", "<|im_start|>", "<|im_end|>")
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_tokenizer() -> Any:
    """A character-level fast tokenizer (printable ASCII + specials) with a ChatML template."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = [c for c in string.printable if c not in "\x0b\x0c\r"]
    vocab = {tok: i for i, tok in enumerate(list(SPECIAL_TOKENS) + chars)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", unk_token="<unk>", bos_token="<s>", eos_token="<|im_end|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    tok.chat_template = CHATML_TEMPLATE
    return tok


def tiny_model(arch: str = "llama", *, seed: int = 0, vocab_size: int = 128, sliding_window: int = 8) -> Any:
    """A randomly initialised 2-layer causal LM (``arch`` "llama" or "gemma3"), float32, eval mode."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    if arch == "llama":
        cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                          tie_word_embeddings=True, pad_token_id=0, bos_token_id=2, eos_token_id=4)
        model = LlamaForCausalLM(cfg)
    elif arch == "gemma3":
        cfg = Gemma3TextConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                               num_attention_heads=2, num_key_value_heads=1, head_dim=16, sliding_window=sliding_window,
                               layer_types=["sliding_attention", "full_attention"], max_position_embeddings=2048,
                               pad_token_id=0, bos_token_id=2, eos_token_id=4)
        model = Gemma3ForCausalLM(cfg)
    else:
        raise ValueError(f"arch must be 'llama' or 'gemma3', got {arch!r}")
    # random init gives nearly uniform outputs; sharper weights make differences visible
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.mul_(8.0)
    return model.eval()


def save_tiny_model(folder: str | Path, arch: str = "llama", *, seed: int = 0) -> Path:
    """Write a tiny random model and its tokenizer to ``folder`` (a local Hugging Face folder)."""
    folder = Path(folder)
    tok = tiny_tokenizer()
    model = tiny_model(arch, seed=seed, vocab_size=len(tok))
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
