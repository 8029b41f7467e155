"""Connectors: everything that talks to a field system or a standard, one package each."""
