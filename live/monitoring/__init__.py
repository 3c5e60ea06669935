"""Monitoring of the live stack: a real Prometheus scraping every instance, with alerting rules.

``files.py`` renders ``live/deploy/prometheus/`` (the config template, the rules) and the file_sd
targets into ``<state>/prometheus/``; ``server.py`` starts and stops the ``prometheus`` binary on
loopback; ``hook.py`` is the :class:`~live.supervisor.StackHook` behind ``live up --prometheus`` that
keeps the targets in step with the stack; ``alerts.py`` reads the alerts back.
"""

from live.monitoring.alerts import alerts, firing
from live.monitoring.files import ALERT_RULES, CONFIG_TEMPLATE, Intervals, PrometheusFiles, render_config
from live.monitoring.hook import PrometheusHook, monitoring_hooks, prometheus_of
from live.monitoring.server import PrometheusRecord, start_prometheus, stop_prometheus

__all__ = [
    "ALERT_RULES",
    "CONFIG_TEMPLATE",
    "Intervals",
    "PrometheusFiles",
    "PrometheusHook",
    "PrometheusRecord",
    "alerts",
    "firing",
    "monitoring_hooks",
    "prometheus_of",
    "render_config",
    "start_prometheus",
    "stop_prometheus",
]
