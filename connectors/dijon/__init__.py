"""Dijon Métropole: its geography and the inventory of field assets the simulators and the room work from."""
