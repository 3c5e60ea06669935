"""servicelab patterns (arrives with a later issue)."""
