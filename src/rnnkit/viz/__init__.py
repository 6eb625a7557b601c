"""Diagnostics that make the notes' arguments visible: how gradients flow back through time, how gates saturate."""

from .gates import (GateFractions, GateSaturation, GateSaturationConfig, gate_saturation,
                    plot_gate_saturation)
from .gradient_flow import CellGradients, GradientFlow, GradientFlowConfig, gradient_flow, plot_gradient_flow

__all__ = ["CellGradients", "GateFractions", "GateSaturation", "GateSaturationConfig", "GradientFlow",
           "GradientFlowConfig", "gate_saturation", "gradient_flow", "plot_gate_saturation", "plot_gradient_flow"]
