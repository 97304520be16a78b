"""The organiser and public HTTP API (Starlette)."""
