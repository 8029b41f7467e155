"""Reusable parts of the room's layouts: the map, the header strip, the asset panel, figures."""

__all__: list[str] = []
