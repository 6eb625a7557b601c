"""The synthetic tasks: each generated example is checked against a reference computed here, from the
strings or arrays themselves (Python ints, a stack parser), never against pasted numbers."""

import re
from collections import Counter

import pytest
import torch

from rnnkit.data import (
    AddingConfig, ArithConfig, CopyConfig, XMLConfig, arith_tokenizer, generate_adding, generate_arith, generate_copy,
    generate_xml, xml_tokenizer,
)
from rnnkit.data.synthetic import PAD_ID

ARITH = re.compile(r"(\d+)([+-])(\d+)=(-?\d+)\.")
TAG = re.compile(r"<(/?)([a-z]+)>")


def parse_arith(text: str) -> tuple[str, str, str, str]:
    """The operands, operation and written answer of a string, its distractor letters removed."""
    match = ARITH.fullmatch(re.sub("[a-z]", "", text))
    assert match, f"not an Arith string: {text!r}"
    return match.groups()


def parse_xml(text: str) -> tuple[list[bool], list[int], list[str]]:
    """Reference parse with a stack: per character, whether it is in a closing tag after '</', and
    its element's depth; and the opening names. Fails on a closing tag that does not match."""
    predictable, depth, names, stack, at = [False] * len(text), [0] * len(text), [], [], 0
    for match in TAG.finditer(text):
        assert match.start() == at, f"text between tags at {at} in {text!r}"
        closing, name = match.groups()
        if closing:
            assert stack and stack[-1] == name, f"</{name}> closes {stack[-1:]} in {text!r}"
            level = len(stack)
            stack.pop()
            predictable[match.start() + 2: match.end()] = [True] * (match.end() - match.start() - 2)
        else:
            stack.append(name)
            names.append(name)
            level = len(stack)
        depth[match.start(): match.end()] = [level] * (match.end() - match.start())
        at = match.end()
    assert at == len(text) and not stack, f"unclosed tags {stack} in {text!r}"
    return predictable, depth, names


def column(tensor: torch.Tensor, n: int, length: int) -> list:
    return tensor[:length, n].tolist()


# ---------------------------------------------------------------------------------------------- Arith


def test_arith_answers_are_the_true_sums_and_differences():
    batch = generate_arith(300, seed=0)
    operations, signs = set(), set()
    for n, text in enumerate(batch.texts):
        a, op, b, written = parse_arith(text)
        expected = int(a) + int(b) if op == "+" else int(a) - int(b)
        assert int(written) == expected == int(batch.answers[n]), text
        operations.add(op)
        signs.add(expected < 0)
    assert operations == {"+", "-"} and signs == {True, False}


def test_arith_digit_counts_respect_the_maximum_and_are_uniform():
    max_digits, count = 3, 2000
    batch = generate_arith(count, seed=1, config=ArithConfig(max_digits=max_digits))
    counts = Counter()
    for text in batch.texts:
        a, _, b, _ = parse_arith(text)
        for number in (a, b):
            assert 1 <= len(number) <= max_digits, text
            assert number == str(int(number)), f"leading zero in {text!r}"
            counts[len(number)] += 1
    assert set(counts) == set(range(1, max_digits + 1))
    # 4000 draws: a share's standard deviation is under 0.008, so 0.025 is about 3 of them.
    for digits in counts:
        assert abs(counts[digits] / (2 * count) - 1 / max_digits) < 0.025, counts


def test_arith_mask_marks_exactly_the_answer_and_its_end_marker():
    batch = generate_arith(50, seed=2, config=ArithConfig(max_digits=5, max_distractors=2))
    for n, text in enumerate(batch.texts):
        start = text.index("=") + 1
        expected = [i >= start for i in range(len(text))]
        assert column(batch.mask, n, len(text)) == expected
        assert not batch.mask[len(text):, n].any()


def test_arith_tokens_decode_to_the_texts_and_pad_after_them():
    tokenizer = arith_tokenizer()
    batch = generate_arith(20, seed=3, config=ArithConfig(max_distractors=1))
    assert batch.tokens.shape == (max(map(len, batch.texts)), 20)
    for n, text in enumerate(batch.texts):
        assert int(batch.lengths[n]) == len(text)
        assert tokenizer.decode(column(batch.tokens, n, len(text))) == text
        assert (batch.tokens[len(text):, n] == PAD_ID).all()
        assert PAD_ID not in column(batch.tokens, n, len(text))


def test_arith_distractors_sit_only_between_input_characters():
    max_distractors = 2
    batch = generate_arith(200, seed=4, config=ArithConfig(max_digits=4, max_distractors=max_distractors))
    seen_letters = False
    for text in batch.texts:
        question, answer = text.split("=")
        assert not re.search("[a-z]", answer), text
        gaps = re.split("[^a-z]", question[1:])                     # the letter run before each character
        assert question[0].isdigit() and max(map(len, gaps)) <= max_distractors, text
        seen_letters |= any(gaps)
    assert seen_letters


def test_whole_answer_accuracy_needs_every_answer_character():
    batch = generate_arith(3, seed=5)
    _, targets, mask = batch.next_character()
    predicted = targets.clone()
    assert batch.all_targets_correct(predicted).tolist() == [True, True, True]
    wrong_answer = mask[:, 0].nonzero()[0, 0]
    predicted[wrong_answer, 0] = (targets[wrong_answer, 0] + 1) % len(arith_tokenizer())
    wrong_question = (~mask[:, 1]).nonzero()[0, 0]
    predicted[wrong_question, 1] = (targets[wrong_question, 1] + 1) % len(arith_tokenizer())
    assert batch.all_targets_correct(predicted).tolist() == [False, True, True]


def test_a_continual_arith_sequence_is_problems_one_after_another_each_answer_scored():
    batch = generate_arith(30, seed=6, config=ArithConfig(max_digits=2, problems=4))
    assert batch.answers.shape == (30, 4)
    for n, text in enumerate(batch.texts):
        problems = re.findall(r"(\d+)([+-])(\d+)=(-?\d+)\.", text)
        assert "".join(f"{a}{op}{b}={r}." for a, op, b, r in problems) == text and len(problems) == 4
        for j, (a, op, b, written) in enumerate(problems):
            assert int(written) == (int(a) + int(b) if op == "+" else int(a) - int(b)) == int(batch.answers[n, j])
        marked = "".join(c for c, m in zip(text, column(batch.mask, n, len(text))) if m)
        assert marked == "".join(f"{r}." for *_, r in problems)
    _, targets, mask = batch.next_character()
    predicted = targets.clone()
    assert batch.answers_correct(predicted) == (120, 120)
    # Two wrong characters in one answer cost one answer; one in another answer, a second.
    first = [(t, 0) for t in mask[:, 0].nonzero().flatten().tolist()[:2]]
    later = (mask[:, 7].nonzero().flatten()[-1].item(), 7)
    for t, n in [*first, later]:
        predicted[t, n] = (targets[t, n] + 1) % len(arith_tokenizer())
    assert batch.answers_correct(predicted) == (118, 120)
    assert generate_arith(30, seed=6, config=ArithConfig(max_digits=2, problems=4)).texts == batch.texts
    with pytest.raises(ValueError, match="problems must be"):
        ArithConfig(problems=0)


# ---------------------------------------------------------------------------------------------- XML


def test_xml_closing_tags_match_their_openings_and_the_mask_marks_exactly_them():
    config = XMLConfig(num_tags=12, min_name_length=2, max_name_length=5)
    batch = generate_xml(40, seed=0, config=config)
    tokenizer = xml_tokenizer()
    for n, text in enumerate(batch.texts):
        predictable, depth, names = parse_xml(text)
        assert len(names) == config.num_tags
        assert all(config.min_name_length <= len(name) <= config.max_name_length for name in names)
        assert column(batch.mask, n, len(text)) == predictable
        assert column(batch.depth, n, len(text)) == depth
        assert tokenizer.decode(column(batch.tokens, n, len(text))) == text
        assert not batch.mask[len(text):, n].any() and (batch.tokens[len(text):, n] == PAD_ID).all()


def test_xml_nests_as_the_close_probability_says():
    nested = generate_xml(5, seed=1, config=XMLConfig(num_tags=6, close_probability=0.0))
    flat = generate_xml(5, seed=1, config=XMLConfig(num_tags=6, close_probability=1.0))
    mixed = generate_xml(50, seed=1, config=XMLConfig(num_tags=6))
    assert (nested.depth.max(dim=0).values == 6).all()
    assert flat.depth.max() == 1
    assert len(set(mixed.depth.max(dim=0).values.tolist())) > 2


# ---------------------------------------------------------------------------------------------- adding


@pytest.mark.parametrize("length", [2, 7, 50])
def test_adding_target_is_the_sum_of_exactly_two_marked_values_one_in_each_half(length):
    batch = generate_adding(64, seed=0, config=AddingConfig(length=length))
    values, markers = batch.inputs[..., 0], batch.inputs[..., 1]              # (T, N)
    assert batch.inputs.shape == (length, 64, 2)
    assert ((markers == 0) | (markers == 1)).all() and (markers.sum(dim=0) == 2).all()
    assert ((values >= 0) & (values < 1)).all()
    half = length // 2
    for n in range(64):
        first, second = markers[:, n].nonzero().flatten().tolist()
        assert first < half <= second
        assert [first, second] == batch.positions[n].tolist()
        torch.testing.assert_close(batch.targets[n], values[first, n] + values[second, n])


# ---------------------------------------------------------------------------------------------- copy


@pytest.mark.parametrize("length, delay", [(10, 20), (3, 0), (1, 5)])
def test_copy_targets_are_the_first_symbols_and_only_at_the_last_steps(length, delay):
    config = CopyConfig(length=length, delay=delay, alphabet_size=5)
    batch = generate_copy(32, seed=0, config=config)
    total = 2 * length + delay + 1
    assert batch.inputs.shape == batch.targets.shape == batch.mask.shape == (total, 32)
    symbols = batch.inputs[:length]
    assert ((symbols >= 0) & (symbols < config.alphabet_size)).all()
    assert (batch.inputs[length: length + delay] == config.blank).all()
    assert (batch.inputs[length + delay] == config.delimiter).all()
    assert (batch.inputs[length + delay + 1:] == config.blank).all()
    assert torch.equal(batch.targets[-length:], symbols)
    assert (batch.targets[:-length] == config.blank).all()
    assert batch.mask[-length:].all() and not batch.mask[:-length].any()


# ---------------------------------------------------------------------------------------------- seeds


def arrays(batch) -> list[torch.Tensor]:
    return [value for value in vars(batch).values() if isinstance(value, torch.Tensor)]


GENERATORS = [
    (generate_arith, ArithConfig(max_digits=4, max_distractors=1)),
    (generate_xml, XMLConfig(num_tags=5)),
    (generate_adding, AddingConfig(length=12)),
    (generate_copy, CopyConfig(length=4, delay=3)),
]


@pytest.mark.parametrize("generate, config", GENERATORS)
def test_a_seed_fixes_the_data_and_another_seed_changes_it(generate, config):
    first, again, other = generate(16, 7, config), generate(16, 7, config), generate(16, 8, config)
    assert all(torch.equal(x, y) for x, y in zip(arrays(first), arrays(again)))
    assert getattr(first, "texts", None) == getattr(again, "texts", None)
    assert not all(x.shape == y.shape and torch.equal(x, y) for x, y in zip(arrays(first), arrays(other)))


# ---------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("make, field", [
    (lambda: ArithConfig(max_digits=0), "max_digits"),
    (lambda: ArithConfig(max_digits=19), "max_digits"),
    (lambda: ArithConfig(max_digits=2.5), "max_digits"),
    (lambda: ArithConfig(max_distractors=-1), "max_distractors"),
    (lambda: XMLConfig(num_tags=0), "num_tags"),
    (lambda: XMLConfig(min_name_length=0), "min_name_length"),
    (lambda: XMLConfig(min_name_length=4, max_name_length=3), "max_name_length"),
    (lambda: XMLConfig(close_probability=1.5), "close_probability"),
    (lambda: XMLConfig(close_probability=-0.1), "close_probability"),
    (lambda: AddingConfig(length=0), "length"),
    (lambda: AddingConfig(length=1), "length"),
    (lambda: CopyConfig(length=0), "length"),
    (lambda: CopyConfig(delay=-1), "delay"),
    (lambda: CopyConfig(alphabet_size=0), "alphabet_size"),
])
def test_a_bad_config_value_is_refused_naming_its_field(make, field):
    with pytest.raises(ValueError, match=rf"^{field} "):
        make()


@pytest.mark.parametrize("generate", [generate for generate, _ in GENERATORS])
@pytest.mark.parametrize("count, seed, field", [(0, 0, "count"), (2, -1, "seed"), (2, 1.5, "seed")])
def test_a_bad_count_or_seed_is_refused_naming_it(generate, count, seed, field):
    with pytest.raises(ValueError, match=rf"^{field} "):
        generate(count, seed)
