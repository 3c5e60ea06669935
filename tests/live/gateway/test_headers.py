"""Header handling, for any headers a client may send: identity only from the token, hop-by-hop never."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

from live.auth.verify import Claims
from live.gateway.forwarding import HOP_BY_HOP, client_headers, reply_headers

TOKEN_CHARS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
NAMES = st.one_of(
    TOKEN_CHARS,
    st.sampled_from(
        [*sorted(HOP_BY_HOP), "X-User", "x-scopes", "Host", "Content-Length", "Expect", "Traceparent"]
    ),
).map(lambda name: name.title() if len(name) % 2 else name.upper())
HEADERS = st.lists(st.tuples(NAMES, TOKEN_CHARS), max_size=12)
NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length", "expect", "x-user", "x-scopes"}
CLAIMS = st.one_of(
    st.none(),
    st.builds(
        lambda subject, scopes: Claims(subject, frozenset(scopes), 0.0, {}),
        TOKEN_CHARS,
        st.sets(TOKEN_CHARS, max_size=3),
    ),
)


@given(headers=HEADERS, listed=st.lists(TOKEN_CHARS, max_size=3), claims=CLAIMS)
def test_forwarded_headers(headers: list[tuple[str, str]], listed: list[str], claims: Claims | None) -> None:
    sent = CIMultiDict(headers)
    if listed:
        sent.add("Connection", ", ".join(listed))
    out = client_headers(sent, claims, "127.0.0.1")
    connection = {
        token.strip().lower() for value in sent.getall("Connection", []) for token in value.split(",")
    }
    dropped = NOT_FORWARDED | connection
    for name, value in headers:  # every other header goes through as it came
        if name.lower() not in dropped | {"x-forwarded-for"}:
            assert value in out.getall(name)
    set_here = {"x-forwarded-for"} | ({"x-user", "x-scopes"} if claims else set())
    assert not {name.lower() for name in out} & (dropped - set_here)
    if claims is not None:
        assert out.getall("X-User") == [claims.subject]
        assert out.getall("X-Scopes") == [" ".join(sorted(claims.scopes))]
    assert out["X-Forwarded-For"].endswith("127.0.0.1")


@given(headers=HEADERS)
def test_returned_headers_drop_hop_by_hop_and_length(headers: list[tuple[str, str]]) -> None:
    out = reply_headers(CIMultiDict(headers))
    names = {name.lower() for name in out}
    assert not names & (HOP_BY_HOP | {"content-length"})
    assert len(out) == sum(name.lower() not in HOP_BY_HOP | {"content-length"} for name, _ in headers)
