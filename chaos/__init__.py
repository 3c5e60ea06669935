"""servicelab chaos (arrives with a later issue)."""
