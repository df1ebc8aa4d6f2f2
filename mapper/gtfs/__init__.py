"""GTFS feed import: safe archive access, parsing and loading."""
