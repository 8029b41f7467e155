"""Open311 GeoReport v2 connector: a city's service requests to incident reports, and status changes back."""

__all__: list[str] = []
