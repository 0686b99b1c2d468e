"""Prompt formats: rendering model-neutral prompts for one model (chat template or plain text).

:func:`~wvsalign.prompts.build_prompts` returns model-neutral rows (``system``, ``user``,
``labels``, ``codes`` and the format words of the language). A backend renders them at
scoring time with :func:`render_prompts`, which adds what the scorer reads: ``text`` (ending
exactly where the answer begins), ``continuations``, ``label_end``, ``chat`` and
``prompt_format``:

* ``chat`` (``prompt_format`` = ``"chat:<8 hex digits of sha1(chat template)>"``): ``user``
  is the user message and a non-empty ``system`` the system message, rendered by
  ``tokenizer.apply_chat_template(..., add_generation_prompt=True)``. The answer is the bare
  label ("7"); ``label_end`` is what the template writes after an assistant message (its
  end-of-turn string, such as ``<|im_end|>`` or ``<end_of_turn>``), found by rendering a probe
  conversation; the tokenizer's EOS token when that cannot be found.
* ``plain``: ``"<question_word> <user>\\n<answer_word>"`` (``Question:`` / ``Answer:`` in
  English, from the language file), a non-empty ``system`` opening the text. The answer is a
  space and the label (" 7"); ``label_end`` is ``"\\n"`` (an answer is one line).

An answer prefix (the row's ``answer_prefix_text``, such as ``"The answer is "``) opens the
answer: it follows the generation prompt (chat) or the answer word and a space (plain).
Trailing spaces of the prefix are moved into the continuations (``text`` ends with
``"The answer is"``, the continuations are ``" 1"``, ``" 2"``, ...): the tokenizers of the
embedded models write a space before a word or a letter as part of its token ("ĠA", "▁A"), so
the text ends at a token boundary only before the space, and the scored tokens equal those of
tokenising the full string (the scoring rule of :mod:`wvsalign.inference.scoring`).

The country sentence closes the user message in both formats, and the answer prefix is the
same for every country, so prompts of one item share every token up to the country name
whatever the model.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Sequence

import pandas as pd

from ..errors import InputError

PLAIN = "plain"
PLAIN_LABEL_END = "\n"
_PROBE_ANSWER = "WVSALIGN_PROBE_ANSWER"

#: columns render_prompts adds to a model-neutral prompts table
RENDERED_COLUMNS = ("chat", "prompt_format", "text", "continuations", "label_end")


@dataclass(frozen=True)
class PromptFormat:
    """How a model-neutral prompt becomes model input text."""

    name: str  # "plain" or "chat:<hash>"
    label_end: str
    tokenizer: Any = None

    @property
    def chat(self) -> bool:
        return self.tokenizer is not None

    def render(self, user: str, *, system: str | None = None, question: str = "Question:",
               answer: str = "Answer:", prefix: str = "") -> str:
        """The full prompt text, ending where the answer starts.

        Parameters
        ----------
        user : str
            The user message (question, options, instruction, closing country sentence).
        system : str or None
            The system message (``None`` or ``""``: none).
        question, answer : str
            The plain format's words (ignored by the chat format).
        prefix : str
            The answer prefix ("" for none); its trailing spaces are left to :meth:`continuations`.
        """
        head, _ = split_prefix(prefix)
        if not self.chat:
            opening = f"{system}\n\n" if system else ""
            return f"{opening}{question} {user}\n{answer}" + (f" {head}" if head else "")
        return _apply_template(self.tokenizer, _messages(user, system or None), add_generation_prompt=True) + head

    def continuations(self, labels: Sequence[str], prefix: str = "") -> list[str]:
        """The exact strings that follow ``text`` when the model answers each label (after ``prefix``)."""
        head, gap = split_prefix(prefix)
        if not head:
            gap = "" if self.chat else " "
        return [f"{gap}{label}" for label in labels]


def split_prefix(prefix: str) -> tuple[str, str]:
    """An answer prefix split where the prompt text ends: (the prefix without trailing spaces, those spaces).

    Examples
    --------
    >>> split_prefix("The answer is ")
    ('The answer is', ' ')
    >>> split_prefix("答案是")
    ('答案是', '')
    """
    head = prefix.rstrip(" ")
    return head, prefix[len(head):]


def get_format(tokenizer: Any = None, chat: bool | None = None) -> PromptFormat:
    """The chat format when the tokenizer has a chat template (``chat=None``), else plain.

    Parameters
    ----------
    tokenizer : transformers tokenizer or None
        The model's tokenizer (``None``: plain format).
    chat : bool or None
        ``None``: chat when the tokenizer has a chat template; ``False``: plain even then;
        ``True``: chat (an :class:`~wvsalign.errors.InputError` without a chat template).

    Returns
    -------
    PromptFormat
    """
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


def render_prompts(prompts: pd.DataFrame, tokenizer: Any = None, *, chat: bool | None = None,
                   source: str | None = None) -> pd.DataFrame:
    """Model-neutral prompts rendered for one model: a copy with :data:`RENDERED_COLUMNS` added.

    Parameters
    ----------
    prompts : DataFrame
        A prompts table (``contracts.check(prompts, "prompts")``), e.g. from ``build_prompts``.
    tokenizer : transformers tokenizer or None
        The model's tokenizer; its chat template is used when it has one (see ``chat``).
    chat : bool or None
        As in :func:`get_format`.
    source : str or None
        Named in error messages (a file name, say).

    Returns
    -------
    DataFrame
        ``prompts`` with ``chat``, ``prompt_format``, ``text``, ``continuations`` and ``label_end``
        (replacing any such columns it had).

    Raises
    ------
    InputError
        For a table that is not a prompts table, or roles the chat template refuses.

    Examples
    --------
    >>> rendered = render_prompts(build_prompts(bank, ["USA"]))   # plain format
    >>> rendered["text"].iloc[0].startswith("Question: ")
    True
    """
    from .. import contracts

    contracts.check(prompts, "prompts", source=source)
    fmt = get_format(tokenizer, chat)
    words = _format_words(prompts)
    prefixes = _answer_prefixes(prompts)
    users = prompts["user"].astype(str).tolist()
    systems = ["" if _missing(s) else str(s) for s in prompts["system"]]
    rendered: dict[tuple[str, str, str, str, str], str] = {}
    texts = []
    for user, system, (question, answer), prefix in zip(users, systems, words, prefixes):
        key = (user, system, question, answer, prefix)
        if key not in rendered:
            rendered[key] = fmt.render(user, system=system or None, question=question, answer=answer, prefix=prefix)
        texts.append(rendered[key])
    out = prompts.drop(columns=[c for c in RENDERED_COLUMNS if c in prompts.columns]).copy()
    out["chat"] = fmt.chat
    out["prompt_format"] = fmt.name
    out["text"] = texts
    out["continuations"] = [fmt.continuations([str(v) for v in labels], prefix)
                            for labels, prefix in zip(prompts["labels"], prefixes)]
    out["label_end"] = fmt.label_end
    return out


def _format_words(prompts: pd.DataFrame) -> list[tuple[str, str]]:
    """Per row, the plain format's (question, answer) words: the row's, else its language's."""
    from .translations import translation_for

    have = "question_word" in prompts.columns and "answer_word" in prompts.columns
    cache: dict[str, tuple[str, str]] = {}
    out = []
    for i, language in enumerate(prompts["language"].astype(str)):
        if have and not _missing(prompts["question_word"].iat[i]) and not _missing(prompts["answer_word"].iat[i]):
            out.append((str(prompts["question_word"].iat[i]), str(prompts["answer_word"].iat[i])))
            continue
        if language not in cache:
            words = translation_for(language)
            cache[language] = (words.format_word("question"), words.format_word("answer"))
        out.append(cache[language])
    return out


def _answer_prefixes(prompts: pd.DataFrame) -> list[str]:
    """Per row, the answer prefix text: the row's ``answer_prefix_text``, else that of its
    ``answer_prefix`` name in its language, else none (tables made before answer prefixes)."""
    from .translations import translation_for

    texts = prompts["answer_prefix_text"].tolist() if "answer_prefix_text" in prompts.columns else [None] * len(prompts)
    names = prompts["answer_prefix"].tolist() if "answer_prefix" in prompts.columns else [None] * len(prompts)
    out = []
    for text, name, language in zip(texts, names, prompts["language"].astype(str)):
        if not _missing(text):
            out.append(str(text))
        elif _missing(name) or str(name) == "none":
            out.append("")
        else:
            out.append(translation_for(language).answer_prefix(str(name)))
    return out


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


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
            f"use a template without a system message (e.g. 'persona') or the plain format (chat=False)"
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
