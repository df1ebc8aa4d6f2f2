"""The one place that writes SQL: ``reports`` (writes, tracking, tokens, COPY), ``features`` (feed and tile
queries), ``cql`` (CQL2 → SQL with bound values), ``versions`` (per-layer change counters for ETags).
Functions take a connection or cursor and own no transactions: services decide where those start and end."""
