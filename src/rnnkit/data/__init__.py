"""Data: tokenizers, corpora memory-mapped as token ids, stream batches for language models, and the
synthetic tasks of the architecture comparison (Arith, XML, adding, copy)."""

from .conll import TaggedSequence, read_conll
from .corpora import CorpusConfig, DataError, EncodedCorpus, encode_corpus, find_sources, split_tokens, stdlib_sources
from .dates import DatePair, generate_dates
from .parallel import CharCodec, Codec, SubwordCodec, WordCodec, read_parallel
from .pytokens import label_source
from .streams import Chunk, StreamBatches
from .synthetic import (
    ARITH_TOKENS, XML_TOKENS, AddingBatch, AddingConfig, ArithBatch, ArithConfig, CharBatch, CopyBatch, CopyConfig,
    XMLBatch, XMLConfig, arith_tokenizer, generate_adding, generate_arith, generate_copy, generate_xml, xml_tokenizer,
)
from .tables import Table, read_table
from .tokenizers import CharTokenizer, Tokenizer, WordTokenizer

__all__ = [
    "CharCodec", "Codec", "DatePair", "SubwordCodec", "WordCodec", "generate_dates", "read_parallel",
    "Table", "read_table",
    "TaggedSequence", "label_source", "read_conll",
    "ARITH_TOKENS", "XML_TOKENS", "AddingBatch", "AddingConfig", "ArithBatch", "ArithConfig", "CharBatch",
    "CharTokenizer", "Chunk", "CopyBatch", "CopyConfig", "CorpusConfig", "DataError", "EncodedCorpus",
    "StreamBatches", "Tokenizer", "WordTokenizer", "XMLBatch", "XMLConfig", "arith_tokenizer", "encode_corpus",
    "find_sources", "generate_adding", "generate_arith", "generate_copy", "generate_xml", "split_tokens",
    "stdlib_sources", "xml_tokenizer",
]
