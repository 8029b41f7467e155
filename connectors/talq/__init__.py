"""TALQ-style lighting connector: LampMonitor readings and alarm flags in, override commands out, acks back."""

__all__: list[str] = []
