"""The stack's streams: the contract between the services that publish and those that consume."""

__all__ = ["ORDER_EVENTS"]

ORDER_EVENTS = "orders"
"""``OrderPlaced`` and ``OrderCancelled`` (orders' outbox, :class:`live.orders.outbox.OutboxEvent` JSON)."""
