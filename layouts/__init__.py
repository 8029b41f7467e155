"""Dash layouts: one module per page or pane, with their thin callbacks."""
