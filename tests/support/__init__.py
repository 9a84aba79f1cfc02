"""Reusable test helpers (local stand-ins for remote services)."""
