"""FIWARE connector: NGSI-v2 / NGSI-LD Smart Data Models (Streetlight, cabinets, weather, devices, alerts) to events."""

__all__: list[str] = []
