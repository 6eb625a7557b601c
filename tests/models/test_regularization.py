import pytest
import torch
from torch.func import functional_call

import rnnkit
from rnnkit.models import LanguageModel, LanguageModelConfig, LockedDropout, drop_recurrent_weights, embedding_dropout

ENGINES = [name for name in rnnkit.engine_names() if name != "auto"]


def test_locked_dropout_uses_one_mask_for_every_time_step_and_is_off_in_eval():
    drop = LockedDropout(0.5).train()
    y = drop(torch.ones(6, 4, 10))
    assert bool((y == y[0]).all()) and bool((y == 0).any())
    x = torch.randn(6, 4, 10)
    assert torch.equal(drop.eval()(x), x)


def test_embedding_dropout_drops_whole_words():
    torch.manual_seed(0)
    embedding = torch.nn.Embedding(20, 6)
    tokens = torch.arange(20).repeat(3, 1)             # every word three times
    out = embedding_dropout(embedding, tokens, 0.5)    # (3, 20, 6)
    dropped = (out == 0).all(-1)                       # (3, 20)
    assert dropped.any() and not dropped.all()
    assert bool((dropped == dropped[0]).all())         # a dropped word is dropped at every use


@pytest.mark.parametrize("engine", ENGINES)
def test_weight_drop_on_each_engine_matches_the_autograd_reference(engine):
    torch.manual_seed(0)
    layer = rnnkit.Recurrent("lstm", 5, 7, num_layers=2, engine=engine)
    reference = rnnkit.Recurrent("lstm", 5, 7, num_layers=2, engine="autograd")
    reference.load_state_dict(layer.state_dict())
    x = torch.randn(9, 3, 5)
    torch.manual_seed(1)
    dropped = drop_recurrent_weights(layer, 0.5)
    assert set(dropped) == {"weight_hh_l0", "weight_hh_l1"}
    output, _ = functional_call(layer, dropped, (x,))
    torch.manual_seed(1)
    expected, _ = functional_call(reference, drop_recurrent_weights(reference, 0.5), (x,))
    torch.testing.assert_close(output, expected)
    assert not torch.allclose(output, layer(x)[0])      # the mask changed the computation
    output.sum().backward()
    expected.sum().backward()
    torch.testing.assert_close(layer.weight_hh_l0.grad, reference.weight_hh_l0.grad)
    assert bool((layer.weight_hh_l0.grad == 0).any())   # dropped connections get no gradient


@pytest.mark.parametrize("engine", ENGINES)
def test_language_model_with_every_regulariser_trains_on_each_engine(engine):
    torch.manual_seed(0)
    config = LanguageModelConfig(vocab_size=12, hidden_size=8, num_layers=2, dropout=0.2, input_dropout=0.2,
                                 output_dropout=0.2, weight_drop=0.3, embedding_dropout=0.1, engine=engine)
    model = LanguageModel(config).train()
    tokens = torch.randint(12, (6, 2))
    loss, _ = model.loss(tokens, tokens)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    model.eval()
    torch.testing.assert_close(model(tokens)[0], model(tokens)[0])   # no dropout in eval mode
