"""The live autoscaler (``servicelab live autoscale``): the HPA rule of ``patterns.autoscaling`` run
against the instances' ``/metrics``, scaling through the supervisor.

``scrape.py`` reads an instance's answered-requests counter; ``rate.py`` turns two scrapes into
requests per second per replica (the metric, and why that one); ``loop.py`` is the control loop and
the HPA it is given.
"""

from live.autoscaler.loop import Decision, autoscale, request_rate_hpa
from live.autoscaler.rate import RequestRate
from live.autoscaler.scrape import requests_answered, scrape_all

__all__ = ["Decision", "RequestRate", "autoscale", "request_rate_hpa", "requests_answered", "scrape_all"]
