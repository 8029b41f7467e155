"""Asset-register connector: import GeoJSON or CSV registers into the inventory format, and the asset registry."""

__all__: list[str] = []
