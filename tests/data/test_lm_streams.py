import numpy as np
import pytest
import torch

from rnnkit.data import DataError, StreamBatches


def test_each_column_is_one_contiguous_stretch_of_the_corpus():
    tokens = np.arange(103)                       # 3 left over after 4 streams of 25
    batches = StreamBatches(tokens, batch_size=4, seq_len=6)
    inputs = torch.cat([chunk.inputs for chunk in batches])       # (L − 1, B)
    targets = torch.cat([chunk.targets for chunk in batches])
    for b in range(4):
        stream = tokens[b * 25:(b + 1) * 25]
        np.testing.assert_array_equal(inputs[:, b].numpy(), stream[:-1])
        np.testing.assert_array_equal(targets[:, b].numpy(), stream[1:])


def test_chunks_have_seq_len_steps_except_the_last_and_reset_where_streams_wrap():
    batches = StreamBatches(np.arange(4 * 25), batch_size=4, seq_len=6)
    lengths = [chunk.inputs.size(0) for chunk in batches]
    assert lengths == [6, 6, 6, 6]                # 24 input steps per stream
    assert [batches.chunk(p).reset for p in range(9)] == [True, False, False, False] * 2 + [True]
    torch.testing.assert_close(batches.chunk(5).inputs, batches.chunk(1).inputs)


def test_corpus_too_small_for_one_batch_is_an_error():
    with pytest.raises(DataError, match="too few for one batch"):
        StreamBatches(np.arange(20), batch_size=4, seq_len=8, min_steps=8)
