"""Per-session signals over time, computed in the front from each tracked frame: smoothing, attention, events,
screen position."""
