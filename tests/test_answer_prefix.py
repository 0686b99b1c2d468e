"""Answer prefixes: a prompt variant that opens the answer ("Answer: ", "The answer is ").

Checked here: the wording comes from the language files; the prefix follows the chat
template's generation prompt (or the plain format's answer word) and is the same for every
country, so the prompts of one item still share everything up to the country name; its
trailing space goes into the continuations, so the scored tokens are those of the full
string tokenised at once (the scoring rule); it is part of the prompt identity (and prompts
without one keep the ids of the versions before prefixes); it travels as the
``answer_prefix`` variant column into the probs table; RunConfig and the CLI take it.
"""
from __future__ import annotations

import hashlib
import json

import pytest

from wvsalign.errors import ConfigError, InputError
from wvsalign.inference.scoring import encode_requests, tokenize
from wvsalign.inference.testing import tiny_tokenizer
from wvsalign.prompts import build_prompts, render_prompts
from wvsalign.prompts.translations import builtin_languages, translation_for
from wvsalign.survey.items import ItemBank

PREFIXES = ["none", "answer", "the_answer_is"]


def _bank(ids=("Q46", "Q164")):
    return ItemBank.wvs7().filter(ids=list(ids))


def test_prompts_carry_the_prefix_name_and_text_of_their_language():
    df = build_prompts(_bank(), ["USA", "JPN"], answer_prefixes=PREFIXES, languages=["en", "zh"])
    assert len(df) == 2 * 2 * 3 * 2 and df["prompt_id"].is_unique
    en = df[df.language == "en"].drop_duplicates("answer_prefix").set_index("answer_prefix")["answer_prefix_text"]
    assert en.to_dict() == {"none": "", "answer": "Answer: ", "the_answer_is": "The answer is "}
    zh = df[df.language == "zh"].drop_duplicates("answer_prefix").set_index("answer_prefix")["answer_prefix_text"]
    assert zh["the_answer_is"] == "答案是"
    # the prefix does not touch the model-neutral messages
    for _, group in df.groupby(["language", "item_id", "country"]):
        assert group["user"].nunique() == 1 and group["system"].nunique() == 1


def test_unknown_prefix_is_an_input_error_naming_it():
    with pytest.raises(InputError, match=r"no answer prefix 'hello' in language 'en'.*'the_answer_is'"):
        build_prompts(_bank(), ["USA"], answer_prefixes=["hello"])
    with pytest.raises(InputError, match="answer_prefixes must be a non-empty list"):
        build_prompts(_bank(), ["USA"], answer_prefixes=[])


def test_prompt_id_hashes_the_prefix_and_keeps_the_old_ids_without_one():
    df = build_prompts(_bank(["Q46"]), ["USA"], answer_prefixes=PREFIXES)
    row = df[df.answer_prefix == "none"].iloc[0]
    fields = ("item_id", "country", "language", "template", "instruction", "label_style", "option_order",
              "system", "user", "labels", "codes", "question_word", "answer_word")
    payload = {k: (list(row[k]) if k in ("labels", "codes") else row[k]) for k in fields}
    payload["seed"] = None
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert row["prompt_id"] == hashlib.sha1(blob.encode("utf-8")).hexdigest()[:16]  # as before prefixes
    with_prefix = df[df.answer_prefix == "answer"].iloc[0]
    payload.update(answer_prefix="answer", answer_prefix_text="Answer: ")
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert with_prefix["prompt_id"] == hashlib.sha1(blob.encode("utf-8")).hexdigest()[:16]


def test_chat_and_plain_rendering_put_the_prefix_after_the_turn_and_its_space_in_the_answer():
    tok = tiny_tokenizer()
    df = build_prompts(_bank(["Q46"]), ["USA"], answer_prefixes=PREFIXES)
    chat = render_prompts(df, tok).set_index("answer_prefix")
    assert chat.loc["none", "text"].endswith("<|im_start|>assistant\n")
    assert chat.loc["the_answer_is", "text"] == chat.loc["none", "text"] + "The answer is"
    assert chat.loc["answer", "text"] == chat.loc["none", "text"] + "Answer:"
    assert list(chat.loc["none", "continuations"]) == ["1", "2", "3", "4"]
    assert list(chat.loc["answer", "continuations"]) == [" 1", " 2", " 3", " 4"]
    plain = render_prompts(df).set_index("answer_prefix")
    assert plain.loc["none", "text"].endswith("\nAnswer:")
    assert plain.loc["the_answer_is", "text"] == plain.loc["none", "text"] + " The answer is"
    assert list(plain.loc["the_answer_is", "continuations"]) == list(plain.loc["none", "continuations"]) == [
        " 1", " 2", " 3", " 4"]
    # a language that writes no space before the label: the continuation is the bare label
    zh = render_prompts(build_prompts(_bank(["Q46"]), ["USA"], languages=["zh"], answer_prefixes=["the_answer_is"]),
                        tok)
    assert zh["text"].iloc[0].endswith("<|im_start|>assistant\n答案是")
    assert list(zh["continuations"].iloc[0]) == ["1", "2", "3", "4"]


def test_a_table_without_prefix_columns_renders_as_before():
    df = build_prompts(_bank(["Q46"]), ["USA"], answer_prefixes=["none"])
    old = df.drop(columns=["answer_prefix", "answer_prefix_text"])
    assert render_prompts(old, tiny_tokenizer())["text"].equals(render_prompts(df, tiny_tokenizer())["text"])
    by_name = df.drop(columns=["answer_prefix_text"]).assign(answer_prefix="answer")
    assert render_prompts(by_name)["text"].iloc[0].endswith("\nAnswer: Answer:")


@pytest.mark.parametrize("chat", [True, False])
def test_prefix_sharing_is_kept(chat):
    """The prompts of one item differ only from the country name on: the prefix is the same for all."""
    tok = tiny_tokenizer()
    df = render_prompts(build_prompts(_bank(["Q46"]), ["USA", "JPN", "NGA"], answer_prefixes=["the_answer_is"]),
                        tok, chat=chat)
    texts = list(df["text"])
    opening = texts[0].split("Imagine you are a person from")[0]
    tail = ("<|im_end|>\n<|im_start|>assistant\nThe answer is" if chat else "\nAnswer: The answer is")
    for text in texts:
        assert text.startswith(opening + "Imagine you are a person from ") and text.endswith(tail)


@pytest.mark.parametrize("style", ["number", "letter"])
@pytest.mark.parametrize("chat", [True, False])
def test_scored_tokens_equal_the_full_string_tiny_tokenizer(style, chat):
    tok = tiny_tokenizer()
    items = ["Q46", "Q164"] if style == "number" else ["Q46", "Q1"]
    df = render_prompts(build_prompts(_bank(items), ["USA"], answer_prefixes=PREFIXES, label_styles=[style]),
                        tok, chat=chat)
    _check_full_string(df, tok)


def _check_full_string(df, tok):
    requests = encode_requests(df, tok)
    checked = 0
    for row, req in zip(df.itertuples(), requests):
        end = row.label_end if req.scored_with_end else ""
        fulls = tokenize(tok, [row.text + c + end for c in row.continuations])
        for full, cont in zip(fulls, req.continuations):
            assert full == req.context + cont, (row.language, row.item_id, row.answer_prefix, row.continuations)
            checked += 1
        if row.answer_prefix != "none":
            assert row.text.endswith(row.answer_prefix_text.rstrip(" "))
    assert checked


@pytest.mark.slow
@pytest.mark.parametrize("model", ["smollm2-135m", "gemma3-270m"])
def test_scored_tokens_equal_the_full_string_real_tokenizers(model):
    """Every shipped language x prefix x label style, chat and plain: the context's tokens plus an
    option's tokens are the full string's tokens (a space before a letter is part of its token)."""
    from wvsalign.inference.models import load_tokenizer

    tok = load_tokenizer(model, progress=False)
    for language in builtin_languages():
        for style, items in (("number", ["Q46", "Q164"]), ("letter", ["Q46", "Q1"])):
            df = build_prompts(_bank(items), ["USA"], languages=[language], answer_prefixes=PREFIXES,
                               label_styles=[style])
            for chat in (None, False):  # the model's own format (chat where it has a template), and plain
                _check_full_string(render_prompts(df, tok, chat=chat), tok)


def test_every_builtin_language_has_the_english_prefix_names():
    names = set(translation_for("en").answer_prefixes)
    assert names == set(PREFIXES)
    for language in builtin_languages():
        words = translation_for(language)
        assert set(words.answer_prefixes) == names, language
        assert words.answer_prefix("none") == ""


def test_probs_carry_the_answer_prefix_column(tmp_path):
    from wvsalign.inference import load_backend, score
    from wvsalign.inference.testing import save_tiny_model

    folder = save_tiny_model(tmp_path / "tiny")
    df = build_prompts(_bank(["Q46"]), ["USA"], answer_prefixes=["none", "answer"])
    probs = score(df, load_backend(str(folder), progress=False), progress=False)
    per = probs.drop_duplicates("prompt_id").set_index("prompt_id")["answer_prefix"]
    assert per.to_dict() == df.set_index("prompt_id")["answer_prefix"].to_dict()
    # different prompts, different answers
    mass = probs.drop_duplicates("prompt_id").set_index("answer_prefix")["valid_mass"]
    assert mass["none"] != mass["answer"]


def test_run_config_and_cli_take_answer_prefixes():
    from wvsalign.pipeline import RunConfig

    config = RunConfig(answer_prefixes="answer,the_answer_is")
    assert config.answer_prefixes == ["answer", "the_answer_is"]
    assert RunConfig.from_dict(config.to_dict()).answer_prefixes == ["answer", "the_answer_is"]
    assert "answer_prefixes" in config.result_fields()
    with pytest.raises(ConfigError, match=r"unknown value 'hello' in answer_prefixes; expected some of \['answer'"):
        RunConfig(answer_prefixes=["hello"])
    with pytest.raises(ConfigError, match="answer_prefixes must name at least one value"):
        RunConfig(answer_prefixes=[])
    from wvsalign.cli import build_parser

    args = build_parser().parse_args(["run", "--answer-prefixes", "answer,none"])
    assert args.answer_prefixes == "answer,none"
