import pytest

from rnnkit.data import CharTokenizer, Tokenizer, WordTokenizer
from rnnkit.data.tokenizers import EOS, UNK


def test_char_tokenizer_round_trips_and_maps_unseen_characters_to_unk():
    tok = CharTokenizer.fit(["hello world\n"])
    assert tok.decode(tok.encode("hello\n")) == "hello\n"
    ids = tok.encode("hé")
    assert ids[1] == tok.unk_id and tok.tokens[ids[0]] == "h"
    assert tok.unknown("héllo ü") == ["é", "ü"]


def test_char_vocabulary_orders_by_frequency_and_cuts_by_count_and_size():
    text = "aaaabbbcc d"
    tok = CharTokenizer.fit([text], min_count=2)
    assert tok.tokens == [UNK, "a", "b", "c"]
    assert CharTokenizer.fit([text], max_size=3).tokens == [UNK, "a", "b"]


def test_word_tokenizer_ends_each_line_with_eos_and_decodes_lines():
    tok = WordTokenizer.fit(["the cat sat\nthe dog\n"])
    ids = tok.encode("the cat\nthe bird\n")
    assert [tok.tokens[i] for i in ids] == ["the", "cat", EOS, "the", UNK, EOS]
    assert tok.decode(ids) == "the cat\nthe <unk>\n"


def test_word_min_count_sends_rare_words_to_unk():
    tok = WordTokenizer.fit(["a a b\n"], min_count=2)
    assert "b" not in tok.index and tok.tokens[:2] == [UNK, EOS]


@pytest.mark.parametrize("cls", [CharTokenizer, WordTokenizer])
def test_vocabulary_json_round_trip(cls):
    tok = cls.fit(["some text here\nand more\n"])
    again = Tokenizer.from_json(tok.to_json())
    assert type(again) is cls and again.tokens == tok.tokens


def test_foreign_vocabulary_json_is_rejected():
    with pytest.raises(ValueError, match="kind"):
        Tokenizer.from_json({"tokens": ["a"]})
