"""Diagnostics that make the notes' arguments visible: how gradients flow back through time."""

from .gradient_flow import CellGradients, GradientFlow, GradientFlowConfig, gradient_flow, plot_gradient_flow

__all__ = ["CellGradients", "GradientFlow", "GradientFlowConfig", "gradient_flow", "plot_gradient_flow"]
