"""Data: tokenizers, corpora memory-mapped as token ids, and stream batches for language models."""

from .corpora import CorpusConfig, DataError, EncodedCorpus, encode_corpus, find_sources, split_tokens, stdlib_sources
from .streams import Chunk, StreamBatches
from .tokenizers import CharTokenizer, Tokenizer, WordTokenizer

__all__ = [
    "CharTokenizer", "Chunk", "CorpusConfig", "DataError", "EncodedCorpus", "StreamBatches", "Tokenizer",
    "WordTokenizer", "encode_corpus", "find_sources", "split_tokens", "stdlib_sources",
]
