"""What every live process shares: settings and sockets, serving and draining, observability
(probes, metrics, traces, JSON logs), the registry client and discovery, errors, SQLite."""
