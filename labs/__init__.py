"""servicelab labs (arrives with a later issue)."""
