"""Load benchmark for the realtime path (see README.md)."""
