"""The live service registry: instances register, heartbeat and are health-checked; callers look up."""

from live.registry.app import RegistryConfig, create_app

__all__ = ["RegistryConfig", "create_app"]
