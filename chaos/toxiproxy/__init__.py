"""An embedded, API-faithful Toxiproxy 2.x server: TCP proxies with toxics, driven over HTTP.

Toxiproxy (Shopify) is a Go binary no package registry ships, so servicelab carries its own server with
the same HTTP API, JSON shapes, defaults, status codes and toxics; clients written for Toxiproxy
(``toxiproxy-python``, ``chaostoolkit-toxiproxy``, the Go client) drive it unchanged. The deviations are
few and deliberate: proxies listen on 127.0.0.1 only (see :mod:`chaos.toxiproxy.models`), reset_peer
always resets with RST, per-connection toxicity is decided once per connection and toxic, removing a
timeout closes only the connections it acted on, and the slicer never recurses without end.

Modules: ``api`` (HTTP), ``collection``/``proxy``/``toxic_collection`` (the model), ``connection`` and
``link`` (the data path on asyncio), ``toxics`` (one module per toxic), ``server`` (running it).
"""

from __future__ import annotations

from chaos.toxiproxy.api import API_VERSION, build_app
from chaos.toxiproxy.server import DEFAULT_PORT, EmbeddedToxiproxy, ToxiproxyServer
from chaos.toxiproxy.toxics import TOXICS

__all__ = ["API_VERSION", "DEFAULT_PORT", "TOXICS", "EmbeddedToxiproxy", "ToxiproxyServer", "build_app"]
