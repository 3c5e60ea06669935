"""servicelab chaos: fault injection for the live stack.

``chaos.toxiproxy`` is an embedded, API-faithful Toxiproxy 2.x server (``servicelab chaos proxy``);
the Chaos Toolkit experiments that drive it arrive with a later part of issue 9.
"""
