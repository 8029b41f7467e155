"""Reusable parts of the room's layouts: the map, the header strip."""
