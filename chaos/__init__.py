"""servicelab chaos: fault injection for the live stack.

``chaos.toxiproxy`` is an embedded, API-faithful Toxiproxy 2.x server (``servicelab chaos proxy``).
``chaos.hook`` puts a proxy on every service-to-service edge of a stack (``live up --chaos``; the
edges in ``chaos.edges``, the API client in ``chaos.client``). ``chaos.extension`` is a Chaos Toolkit
extension (probes and actions against the stack), ``chaos/experiments/`` holds experiments in Chaos
Toolkit's format, and ``chaos.run`` with ``chaos.report`` is ``servicelab chaos run`` (journal and
report); the real ``chaos`` CLI runs the same experiments.
"""
