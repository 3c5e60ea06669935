"""servicelab's Chaos Toolkit extension: probes and actions against a live stack.

Experiments name them as Python providers (``module: chaos.extension.probes``, ``func:
shop_latency``), so they run under the real ``chaos`` CLI as well as ``servicelab chaos run``.
Every function finds the stack through its state folder: the ``state_dir`` configuration key, else
the environment variable ``SERVICELAB_STATE_DIR``, else ``.servicelab/live`` (:mod:`.stack`).

``probes``
    the shop's latency and error rate under a short load through the gateway (the live load
    generator), whether a service's instances are ready, and the audit of orders against inventory
    (:mod:`.audit`): acknowledged orders missing, orders held twice, stock not conserved.
``actions``
    toxics on edges named by caller and callee (``orders`` -> ``inventory``), killing an instance and
    restarting what is gone, stopping and starting a service, scaling, run-time configuration, a load
    run, and placing N orders with retries under one idempotency key each (:mod:`.orders`).

Load-based activities leave their requests in ``<state_dir>/chaos/requests.csv`` (:mod:`.timeline`),
which ``servicelab chaos run`` plots over the experiment's timeline.
"""
