"""Prompt formats: the tokenizer's chat template, or plain completion text.

Both formats wrap the same body (question, options, instruction and the template's closing
sentence). ``text`` always ends exactly where the answer begins:

* ``chat`` (``prompt_format`` = ``"chat:<8 hex digits of sha1(chat template)>"``): the body is
  the user message, a ``system``-position template sentence the system message, rendered by
  ``tokenizer.apply_chat_template(..., add_generation_prompt=True)``. The answer is the bare
  label ("7"); ``label_end`` is what the template writes after an assistant message (its
  end-of-turn string, such as ``<|im_end|>`` or ``<end_of_turn>``), found by rendering a probe
  conversation; the tokenizer's EOS token when that cannot be found.
* ``plain``: ``"Question: <body>\\nAnswer:"`` (the format words come from the language file),
  a ``system``-position sentence opening the text. The answer is a space and the label
  (" 7"); ``label_end`` is ``"\\n"`` (an answer is one line).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Sequence

from ..errors import InputError
from .translations import Translation

PLAIN = "plain"
PLAIN_LABEL_END = "\n"
_PROBE_ANSWER = "WVSALIGN_PROBE_ANSWER"


@dataclass(frozen=True)
class PromptFormat:
    """How a prompt body becomes model input text."""

    name: str  # "plain" or "chat:<hash>"
    label_end: str
    tokenizer: Any = None

    @property
    def chat(self) -> bool:
        return self.tokenizer is not None

    def render(self, body: str, *, system: str | None, words: Translation) -> str:
        """The full prompt text, ending where the answer starts."""
        if not self.chat:
            opening = f"{system}\n\n" if system else ""
            return f"{opening}{words.format_word('question')} {body}\n{words.format_word('answer')}"
        return _apply_template(self.tokenizer, _messages(body, system), add_generation_prompt=True)

    def continuations(self, labels: Sequence[str]) -> list[str]:
        """The exact strings that follow ``text`` when the model answers each label."""
        return list(labels) if self.chat else [f" {label}" for label in labels]


def get_format(tokenizer: Any = None, chat: bool | None = None) -> PromptFormat:
    """The chat format when the tokenizer has a chat template (``chat=None``), else plain."""
    tokenizer = getattr(tokenizer, "tokenizer", tokenizer)  # a LoadedModel works too
    template = _chat_template(tokenizer)
    if chat is None:
        chat = template is not None
    if not chat:
        return PromptFormat(PLAIN, PLAIN_LABEL_END)
    if tokenizer is None:
        raise InputError("chat=True needs a tokenizer with a chat template; pass tokenizer= (or chat=None/False)")
    if template is None:
        raise InputError(
            f"chat=True but the tokenizer {type(tokenizer).__name__} has no chat template; use chat=None or False"
        )
    digest = hashlib.sha1(template.encode("utf-8")).hexdigest()[:8]
    return PromptFormat(f"chat:{digest}", _chat_label_end(tokenizer), tokenizer)


def _chat_template(tokenizer: Any) -> str | None:
    template = getattr(tokenizer, "chat_template", None) if tokenizer is not None else None
    if isinstance(template, dict):  # named templates: the default one
        template = template.get("default") or json.dumps(template, sort_keys=True)
    return template or None


def _messages(body: str, system: str | None) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": body})
    return messages


def _apply_template(tokenizer: Any, messages: list[dict[str, str]], *, add_generation_prompt: bool) -> str:
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    except Exception as exc:  # jinja2 raises TemplateError for roles a template does not accept
        roles = [m["role"] for m in messages]
        raise InputError(
            f"the tokenizer's chat template cannot render roles {roles} ({type(exc).__name__}: {exc}); "
            f"use a template without a system message (e.g. 'persona') or chat=False"
        ) from None


def _chat_label_end(tokenizer: Any) -> str:
    """What the chat template writes after an assistant answer (its end of turn)."""
    messages = _messages("Q", None)
    prompt = _apply_template(tokenizer, messages, add_generation_prompt=True)
    full = _apply_template(tokenizer, messages + [{"role": "assistant", "content": _PROBE_ANSWER}], add_generation_prompt=False)
    if full.startswith(prompt + _PROBE_ANSWER):
        end = full[len(prompt) + len(_PROBE_ANSWER):].rstrip("\n")
        if end:
            return end
    eos = getattr(tokenizer, "eos_token", None)
    return eos or PLAIN_LABEL_END
