"""Diagnostics that make the notes' arguments visible: how gradients flow back through time, how gates saturate,
what single neurons track over a text, where attention looks."""

from .attention import plot_attention, plot_image_attention, plot_token_rows, plot_token_weights
from .clipping import ClippingConfig, ClippingRuns, RunCurves, clipping_runs, plot_clipping
from .gates import (GateFractions, GateSaturation, GateSaturationConfig, gate_saturation,
                    plot_gate_saturation)
from .gradient_flow import (CellGradients, GradientFlow, GradientFlowConfig, RunGradientFlowConfig, gradient_flow,
                            plot_gradient_flow, run_gradient_flow)
from .neurons import (NeuronActivations, NeuronConfig, Tracker, neuron_activations, span_search, text_properties,
                      write_page)

__all__ = [
    "CellGradients", "ClippingConfig", "ClippingRuns", "GateFractions", "GateSaturation", "GateSaturationConfig", "GradientFlow", "GradientFlowConfig",
    "NeuronActivations", "NeuronConfig", "RunCurves", "RunGradientFlowConfig", "Tracker", "gate_saturation", "gradient_flow",
    "clipping_runs", "neuron_activations", "plot_attention", "plot_clipping", "plot_gate_saturation", "plot_gradient_flow", "plot_image_attention",
    "plot_token_rows", "plot_token_weights", "run_gradient_flow", "span_search", "text_properties", "write_page",
]
