"""The argparse types the commands and benchmarks share."""

import argparse

import pytest

from rnnkit.cli.options import comma_choices, positive_int


def test_comma_choices_keeps_the_order_given_and_strips_spaces():
    assert comma_choices(("none", "additive", "general"))(" general,none ,") == ["general", "none"]


@pytest.mark.parametrize("text, named", [("general,dot", "'dot'"), ("", "no names"), (" , ", "no names")])
def test_comma_choices_names_what_it_does_not_know_and_what_it_accepts(text, named):
    with pytest.raises(argparse.ArgumentTypeError, match="choose from none, general") as error:
        comma_choices(("none", "general"))(text)
    assert named in str(error.value)


def test_a_comma_list_error_reaches_the_user_through_argparse(capsys):
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--tasks", type=comma_choices(("a", "b")))
    with pytest.raises(SystemExit):
        parser.parse_args(["--tasks", "a,c"])
    assert "argument --tasks: unknown 'c'" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["0", "-3", "two", "1.5"])
def test_positive_int_refuses_what_is_not_a_count(text):
    with pytest.raises(argparse.ArgumentTypeError):
        positive_int(text)
