"""servicelab live (arrives with a later issue)."""
