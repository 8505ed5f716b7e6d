"""What each kind is called and coloured in every view (text, PNG, figure, page).

Plain constants, no imports: the text view reads them without loading matplotlib."""

from __future__ import annotations

__all__ = ["COLORS", "TITLES"]

COLORS = {"activations": "#2a9d8f", "weights": "#e76f51", "grads": "#457b9d"}
TITLES = {"activations": "Activations", "weights": "Weights", "grads": "Gradients"}
