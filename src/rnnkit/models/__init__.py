"""Models built from recurrent layers: the language model, the sequence classifier and tagger, the
forecasters, the encoder-decoder with attention, and the image captioner."""

from .attention import Attention
from .captioner import Captioner, CaptionerConfig, CaptionState
from .classifier import AttentionPooling, SequenceClassifier, SequenceClassifierConfig
from .esrnn import ESRNN
from .forecaster import Forecaster, ForecasterConfig, ordered_quantiles, pinball_loss
from .language_model import LanguageModel, LanguageModelConfig, LMState
from .regularization import LockedDropout, drop_recurrent_weights, embedding_dropout
from .seq2seq import Seq2Seq, Seq2SeqConfig, Seq2SeqState
from .tagger import SequenceTagger, TaggerConfig, tagging_loss

__all__ = [
    "Attention", "AttentionPooling", "CaptionState", "Captioner", "CaptionerConfig", "ESRNN", "Forecaster", "ForecasterConfig", "LMState", "LanguageModel",
    "LanguageModelConfig", "LockedDropout", "Seq2Seq", "Seq2SeqConfig", "Seq2SeqState", "SequenceClassifier",
    "SequenceClassifierConfig", "SequenceTagger", "TaggerConfig", "drop_recurrent_weights", "embedding_dropout",
    "ordered_quantiles", "pinball_loss", "tagging_loss",
]
