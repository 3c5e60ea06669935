"""servicelab contracts: Pact consumer tests and provider verification for every edge of the live stack.

Consumer-driven contract testing: each *consumer* states, in an executable test, the requests it
sends and the parts of the answers it relies on; the test runs the consumer's real code against
Pact's mock server, which answers as the contract says and records the contract in a *pact file*
(Pact specification V4, JSON). The *provider* then replays every interaction of every pact naming it
against the real service (:mod:`contracts.providers`) and checks the answers. A provider may change
anything no consumer relies on; a change that breaks a consumer fails the provider's build, before
it is deployed, with a mismatch that names the field.

Edges (consumer -> provider, what the consumer is):

* ``gateway -> users``: the gateway's JWKS fetch, and the users routes it forwards (sign-up, log-in,
  profiles);
* ``gateway -> orders``, ``gateway -> inventory``: the routes the gateway forwards, with the identity
  headers it adds (``X-User``, ``X-Scopes``);
* ``orders -> inventory``: orders' :class:`~live.orders.inventory.InventoryClient` (reserve, release);
* ``inventory -> orders`` (messages): ``OrderPlaced`` / ``OrderCancelled`` from orders' outbox, consumed
  into inventory's sales ledger.

Modules: :mod:`contracts.offline` (no network traffic leaves the machine), :mod:`contracts.consumers`
(the consumer tests; :func:`contracts.consumers.generate` writes every pact), :mod:`contracts.providers`
(verification against the services on loopback, with state handlers seeding their databases),
:mod:`contracts.pactfiles` (reading pact files), :mod:`contracts.versions` (a service's version: a
digest of its code), :mod:`contracts.results` (verification results kept locally),
:mod:`contracts.matrix` (the can-i-deploy matrix), :mod:`contracts.discovery` (the fixed ``discover``
hooks that point a consumer at a mock server), :mod:`contracts.copies` (a changed copy of a service,
to see verification catch a breaking change); :mod:`contracts.cli` is ``servicelab contracts``.
``live/deploy/pipeline.yml`` shows where all of it sits in a delivery pipeline.
"""
