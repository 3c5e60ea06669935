"""servicelab contracts (arrives with a later issue)."""
