"""Statistics of events, commits and actors per hour/day/type/repo, from the deduplicating view."""
