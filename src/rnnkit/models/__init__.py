"""Models built from recurrent layers."""

from .language_model import LanguageModel, LanguageModelConfig, LMState
from .regularization import LockedDropout, drop_recurrent_weights, embedding_dropout

__all__ = ["LMState", "LanguageModel", "LanguageModelConfig", "LockedDropout", "drop_recurrent_weights",
           "embedding_dropout"]
