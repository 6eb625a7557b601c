import numpy as np
import pytest

from rnnkit.data import CorpusConfig, DataError, encode_corpus, find_sources, split_tokens, stdlib_sources
from rnnkit.data import corpora


def test_default_corpus_is_the_stdlib_source_and_not_empty():
    files = stdlib_sources()
    assert len(files) > 100
    assert all(path.suffix == ".py" for path in files)
    assert files == find_sources(None)  # deterministic order
    assert sum(path.stat().st_size for path in files[:50]) > 0


def test_encoding_is_memory_mapped_and_round_trips(tmp_path):
    text = "def f(x):\n    return x + 1\n" * 20
    (tmp_path / "a.py").write_text(text)
    corpus = encode_corpus(CorpusConfig(path=str(tmp_path / "a.py")), tmp_path / "cache", progress=False)
    assert isinstance(corpus.tokens, np.memmap)
    assert corpus.tokenizer.decode(corpus.tokens) == text


def test_directory_files_are_read_in_sorted_order_skipping_hidden_and_binary(tmp_path):
    (tmp_path / "b.txt").write_text("second\n")
    (tmp_path / "a.txt").write_text("first")          # no final newline: one is added
    (tmp_path / ".hidden").write_text("hidden\n")
    (tmp_path / "blob.bin").write_bytes(b"\0\1\2")
    corpus = encode_corpus(CorpusConfig(path=str(tmp_path)), tmp_path / "cache", progress=False)
    assert corpus.tokenizer.decode(corpus.tokens) == "first\nsecond\n"
    assert corpus.files == 2


def test_cache_is_reused_for_the_same_content_and_rebuilt_when_it_changes(tmp_path, monkeypatch):
    path = tmp_path / "t.txt"
    path.write_text("abc\n" * 10)
    first = encode_corpus(CorpusConfig(path=str(path)), tmp_path / "cache", progress=False)
    builds = []
    monkeypatch.setattr(corpora, "_build_entry", lambda *args: builds.append(args))
    again = encode_corpus(CorpusConfig(path=str(path)), tmp_path / "cache", progress=False)
    assert again.directory == first.directory and not builds
    path.write_text("abd\n" * 10)
    with pytest.raises(FileNotFoundError):  # a new key: the (disabled) builder was asked for a new entry
        encode_corpus(CorpusConfig(path=str(path)), tmp_path / "cache", progress=False)
    assert len(builds) == 1


def test_empty_file_is_an_error(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(DataError, match="empty.txt is empty"):
        find_sources(str(tmp_path / "empty.txt"))


def test_directory_without_text_is_an_error(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(DataError, match="holds no text files"):
        find_sources(str(tmp_path))


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        find_sources(str(tmp_path / "nope.txt"))


@pytest.mark.parametrize("piece_bytes", [1 << 20, 7])
def test_undecodable_bytes_name_the_file_and_byte_offset(tmp_path, monkeypatch, piece_bytes):
    monkeypatch.setattr(corpora, "PIECE_BYTES", piece_bytes)  # small pieces: the offset spans pieces
    prefix = "héllo wörld\n".encode() * 3
    path = tmp_path / "bad.txt"
    path.write_bytes(prefix + b"\xff rest\n")
    with pytest.raises(DataError) as error:
        encode_corpus(CorpusConfig(path=str(path)), tmp_path / "cache", progress=False)
    message = str(error.value)
    assert "bad.txt" in message and f"byte {len(prefix)} " in message
    assert "--encoding" in message and "--errors replace" in message


def test_errors_replace_substitutes_undecodable_bytes(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"ok\xff\n")
    corpus = encode_corpus(CorpusConfig(path=str(path), errors="replace"), tmp_path / "cache", progress=False)
    assert corpus.tokenizer.decode(corpus.tokens) == "ok\ufffd\n"


def test_split_holds_out_the_last_fraction():
    tokens = np.arange(100)
    train, val = split_tokens(tokens, 0.1)
    np.testing.assert_array_equal(np.concatenate([train, val]), tokens)
    assert len(val) == 10 and val[0] == 90


def test_bad_corpus_settings_name_the_field():
    with pytest.raises(ValueError, match="tokens"):
        CorpusConfig(tokens="bytes")
    with pytest.raises(ValueError, match="encoding"):
        CorpusConfig(encoding="no-such-codec")


def test_a_gzip_compressed_text_is_read_decompressed_and_a_broken_one_is_a_clear_error(tmp_path):
    import gzip

    from rnnkit.data import DataError
    from rnnkit.data.corpora import read_pieces

    text = "ein Hund läuft\n" * 500
    (tmp_path / "plain.txt").write_text(text)
    (tmp_path / "text.txt.gz").write_bytes(gzip.compress(text.encode()))
    assert "".join(read_pieces(tmp_path / "text.txt.gz")) == "".join(read_pieces(tmp_path / "plain.txt"))
    (tmp_path / "broken.gz").write_bytes(gzip.compress(text.encode())[:60])
    with pytest.raises(DataError, match="broken.gz: not a valid gzip file"):
        "".join(read_pieces(tmp_path / "broken.gz"))
