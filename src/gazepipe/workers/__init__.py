"""The tracker worker processes: the supervisor that forks and restarts them, and each worker's loop."""
