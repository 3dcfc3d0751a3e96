"""explain()'s ``precision`` values: here, not in the backend module, so command lines can offer them without Keras."""
from __future__ import annotations

#: "highest": float32 matrix products and convolutions in full float32 while explaining; "default": the backend's
PRECISIONS = ("highest", "default")
