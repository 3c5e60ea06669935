"""The users service: sign-up, login (OAuth 2 password flow issuing EdDSA access tokens), profiles, JWKS.

store.py     the users table in the service's own SQLite file (shared by its replicas)
schemas.py   the JSON bodies it accepts and returns, with the rules a username and password follow
app.py       create_app(settings): the FastAPI app
__main__.py  ``python -m live.users``: the process the supervisor starts
"""
