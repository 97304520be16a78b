"""The contest engine: lifecycle, WebSocket gateway, HTTP API, conductor and CLI."""
