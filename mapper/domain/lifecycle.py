"""Report statuses. The full lifecycle (moderation, roles) builds on these names."""

SUBMITTED = "submitted"
STATUSES = ("submitted", "acknowledged", "in_progress", "resolved", "closed", "hidden", "rejected")
# Reports in these statuses are absent from every public output, counts included.
# ("suppressed" marks derived cells too small to publish.)
PUBLIC_HIDDEN_STATUSES = ("hidden", "rejected", "suppressed")
