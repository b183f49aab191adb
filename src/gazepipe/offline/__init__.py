"""Recorded video through the service's own machinery: `gazepipe analyze` and its outputs."""
