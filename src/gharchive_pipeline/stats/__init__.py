"""Statistics of events, commits and actors per hour/day/type/repo, from the deduplicating view."""

#: What other packages may import (charts.py is the report's own).
__all__ = ["query", "report", "sql", "views"]
