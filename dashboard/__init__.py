"""The Dash application, its server, data access for the UI and the `vigie` command line."""
