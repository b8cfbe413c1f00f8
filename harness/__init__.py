"""glm-harness: prompt-regression and evaluation harness for GLM-4.7-Flash, as a pytest plugin."""

from __future__ import annotations

__version__ = "0.1.0"
