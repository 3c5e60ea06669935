"""servicelab's pattern logic: pure Python, clock injected, no I/O.

The simulator runs these classes on virtual time and the live services on real time; neither
re-implements them.
"""

from patterns.clock import Clock, ManualClock

__all__ = ["Clock", "ManualClock"]
