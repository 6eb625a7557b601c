"""Settings shared by the whole suite."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Every test uses tiny tensors, which run fastest on one thread; and two OpenMP threads per process
    stall badly when other processes share the cores (the workers spin waiting for each other)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
