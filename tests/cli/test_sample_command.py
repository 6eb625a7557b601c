"""``rnnkit sample``: word prompts, n-gram blocking and the repetition penalty, through ``main``."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from rnnkit.cli.main import main
from rnnkit.cli.sample import NO_REPEAT_NGRAM
from rnnkit.data import CorpusConfig
from rnnkit.decoding import generate
from rnnkit.tasks import language_modeling as lm
from rnnkit.training import TrainConfig

WORDS = ["The", "city", "of", "centre", "river", "north", "old", "bridge"]
TINY = TrainConfig(steps=2, batch_size=2, seq_len=8, val_tokens=200)


def word_text(lines: int = 200) -> str:
    rng = np.random.default_rng(0)
    return "".join(" ".join(rng.choice(WORDS, rng.integers(2, 7))) + "\n" for _ in range(lines))


@pytest.fixture(scope="module")
def word_run(tmp_path_factory) -> Path:
    """A word model trained for two steps, then made to prefer "centre" above every other token."""
    root = tmp_path_factory.mktemp("words")
    (root / "words.txt").write_text(word_text())
    lm.train(root / "trained", CorpusConfig(path=str(root / "words.txt"), tokens="word"), {"hidden_size": 8},
             train_config=TINY)
    model, tokenizer, _ = lm.load_run(root / "trained")
    with torch.no_grad():
        model.head.bias[tokenizer.index["centre"]] = 50.0
    shutil.copytree(root / "trained", root / "centre")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, root / "centre" / "model.safetensors")
    return root / "centre"


@pytest.fixture(scope="module")
def char_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("chars")
    (root / "code.py").write_text("".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(300)))
    lm.train(root / "run", CorpusConfig(path=str(root / "code.py")), {"hidden_size": 16},
             train_config=TrainConfig(steps=20, batch_size=4, seq_len=16, val_tokens=500))
    return root / "run"


def sample(capsys, *args: str) -> str:
    assert main(["sample", *args]) == 0
    return capsys.readouterr().out


def test_echo_prompt_joins_the_first_generated_word_with_a_space(word_run, capsys):
    out = sample(capsys, str(word_run), "--prompt", "The city of", "--echo-prompt", "--length", "2", "--seed", "0")
    assert out == "The city of centre centre\n"


def test_a_word_prompt_that_ends_a_line_is_followed_by_a_new_line(word_run, capsys):
    out = sample(capsys, str(word_run), "--prompt", "The city of\n", "--echo-prompt", "--length", "2", "--seed", "0")
    assert out == "The city of\ncentre centre\n"


def test_a_word_prompt_without_a_line_break_primes_the_model_without_eos(word_run, capsys):
    """The model continues the prompt's line: it is primed with the prompt's words, no <eos> after them."""
    out = sample(capsys, str(word_run), "--prompt", "The city of", "--length", "4", "--seed", "3",
                 "--temperature", "30")
    model, tokenizer, _ = lm.load_run(word_run)
    prompt = [tokenizer.index[word] for word in ("The", "city", "of")]
    tokens = generate(model, torch.tensor([prompt]), 4, temperature=30.0, banned_tokens=(tokenizer.unk_id,),
                      generator=torch.Generator().manual_seed(3), use_forward=True)
    assert out == tokenizer.decode([*prompt, *(int(t[0]) for t in tokens)])[len("The city of"):] + "\n"


def longest_run(text: str) -> int:
    """The length of the longest run of one repeated character."""
    longest = current = 0
    for i, char in enumerate(text):
        current = current + 1 if i and char == text[i - 1] else 1
        longest = max(longest, current)
    return longest


def repeats_an_ngram(text: str, n: int) -> bool:
    grams = [text[i:i + n] for i in range(len(text) - n + 1)]
    return len(set(grams)) < len(grams)


@pytest.mark.parametrize("strategy", ["greedy", "beam"])
def test_greedy_and_beam_block_repeated_character_ngrams_by_default(char_run, capsys, strategy):
    n = NO_REPEAT_NGRAM["char"]
    free = sample(capsys, str(char_run), "--strategy", strategy, "--length", "120", "--no-repeat-ngram", "0")
    assert repeats_an_ngram(free, n), "unblocked, this model should loop for the test to mean anything"
    out = sample(capsys, str(char_run), "--strategy", strategy, "--length", "120")
    assert len(out) == 121 and not repeats_an_ngram(out[:-1], n)
    assert longest_run(out) <= n


def test_greedy_prints_generate_with_the_default_blocking(char_run, capsys):
    out = sample(capsys, str(char_run), "--strategy", "greedy", "--length", "60")
    model, tokenizer, _ = lm.load_run(char_run)
    tokens = generate(model, torch.as_tensor(tokenizer.encode("\n"))[None], 60, strategy="greedy",
                      banned_tokens=(tokenizer.unk_id,), no_repeat_ngram_size=NO_REPEAT_NGRAM["char"])
    assert out == tokenizer.decode(int(t[0]) for t in tokens) + "\n"


def test_repetition_penalty_reaches_generate(char_run, capsys):
    out = sample(capsys, str(char_run), "--length", "60", "--seed", "5", "--repetition-penalty", "1.4")
    model, tokenizer, _ = lm.load_run(char_run)
    tokens = generate(model, torch.as_tensor(tokenizer.encode("\n"))[None], 60, repetition_penalty=1.4,
                      banned_tokens=(tokenizer.unk_id,), generator=torch.Generator().manual_seed(5),
                      use_forward=True)
    assert out == tokenizer.decode(int(t[0]) for t in tokens) + "\n"


@pytest.mark.parametrize(("args", "message"), [
    (["--no-repeat-ngram", "-1"], "--no-repeat-ngram must be non-negative"),
    (["--repetition-penalty", "0"], "--repetition-penalty must be a positive number"),
    (["--strategy", "beam", "--repetition-penalty", "1.2"], "--repetition-penalty applies to"),
])
def test_bad_repetition_flags_are_named(word_run, capsys, args, message):
    assert main(["sample", str(word_run), *args]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_sampling_a_character_model_never_loops_on_a_run_of_spaces(char_run, tmp_path, capsys):
    """A model whose next space, once in a run of spaces, outweighs any top-p: the command's default
    blocking of repeated 24-grams ends every run, where plain sampling never leaves it."""
    import shutil

    from safetensors.torch import load_file, save_file

    from rnnkit.cli.sample import SAMPLE_NO_REPEAT_NGRAM

    run = tmp_path / "spaces"
    shutil.copytree(char_run, run)
    model, tokenizer, _ = lm.load_run(run)
    weights = load_file(run / "model.safetensors")
    weights["head.bias"] = weights["head.bias"].clone()
    weights["head.bias"][tokenizer.index[" "]] += 8.0               # spaces take nearly all the mass
    save_file(weights, run / "model.safetensors")
    args = ["--prompt", "def ", "--length", "200", "--temperature", "0.8", "--top-p", "0.95", "--seed", "1"]
    looped = sample(capsys, str(run), *args, "--no-repeat-ngram", "0")
    assert looped.strip("\n") == " " * 200                          # the failure the default prevents
    out = sample(capsys, str(run), *args)
    n = SAMPLE_NO_REPEAT_NGRAM["char"]
    assert " " * (n + 1) not in out and out.strip()
