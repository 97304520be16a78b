"""Join tokens: issue and verify HS256 JWTs, each refusal typed."""

import base64
import hmac
import json

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.errors import (
    ConfigError,
    TokenExpired,
    TokenForged,
    TokenMalformed,
    TokenNotYetValid,
    TokenWrongContest,
)
from engine.directory.tokens import LEEWAY_SECONDS, Member, issue, verify

SECRET = "s" * 32
NOW = 1_800_000_000_000


def _issue(**overrides: object) -> str:
    fields: dict[str, object] = {
        "contest": "c1",
        "member": "m1",
        "name": "Nguyễn Văn A",
        "province": "hanoi",
        "unit": "u7",
        "ttl_seconds": 60,
        "now_ms": NOW,
    }
    fields.update(overrides)
    return issue(SECRET, **fields)  # type: ignore[arg-type]


def test_round_trip() -> None:
    member = verify(_issue(), SECRET, "c1", now_ms=NOW + 1000)
    assert member == Member(
        id="m1",  # type: ignore[arg-type]
        name="Nguyễn Văn A",
        province="hanoi",  # type: ignore[arg-type]
        unit="u7",  # type: ignore[arg-type]
        contest="c1",  # type: ignore[arg-type]
        expires_ms=NOW + 60_000,
    )


def test_expired_at_and_after_exp() -> None:
    token = _issue()
    verify(token, SECRET, "c1", now_ms=NOW + 59_999)
    with pytest.raises(TokenExpired):
        verify(token, SECRET, "c1", now_ms=NOW + 60_000)


def test_expired_by_the_real_clock() -> None:
    token = issue(SECRET, contest="c", member="m", name="n", province="p", unit="u", ttl_seconds=-1)
    with pytest.raises(TokenExpired):
        verify(token, SECRET, "c")


def test_issued_in_the_future_is_refused_past_the_leeway() -> None:
    assert LEEWAY_SECONDS == 30
    token = _issue(now_ms=NOW + 30_000)  # iat = NOW + 30 s: within the leeway
    assert verify(token, SECRET, "c1", now_ms=NOW).id == "m1"
    token = _issue(now_ms=NOW + 31_000)
    with pytest.raises(TokenNotYetValid) as caught:
        verify(token, SECRET, "c1", now_ms=NOW)
    assert caught.value.code == "token_not_yet_valid" and caught.value.close == 4501
    assert verify(token, SECRET, "c1", now_ms=NOW + 1000).id == "m1"  # once it is due


@pytest.mark.parametrize("nbf_seconds", [31, 3600, 2**40])
def test_not_before_in_the_future_is_refused(nbf_seconds: int) -> None:
    claims = {"sub": "m", "name": "n", "prov": "p", "unit": "u", "cid": "c1"}
    claims |= {"iat": NOW // 1000, "exp": NOW // 1000 + 2**41, "nbf": NOW // 1000 + nbf_seconds}
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    with pytest.raises(TokenNotYetValid):
        verify(token, SECRET, "c1", now_ms=NOW)
    assert verify(token, SECRET, "c1", now_ms=NOW + (nbf_seconds - 30) * 1000).id == "m"


def test_not_before_within_the_leeway_or_past_is_accepted() -> None:
    for nbf in (NOW // 1000 + 30, NOW // 1000, NOW // 1000 - 100):
        claims = {"sub": "m", "name": "n", "prov": "p", "unit": "u", "cid": "c1", "nbf": nbf}
        token = jwt.encode(claims | {"exp": NOW // 1000 + 60}, SECRET, algorithm="HS256")
        assert verify(token, SECRET, "c1", now_ms=NOW).id == "m"


def test_not_before_of_the_wrong_type_is_malformed() -> None:
    claims = {"sub": "m", "name": "n", "prov": "p", "unit": "u", "cid": "c1", "exp": NOW}
    token = jwt.encode(claims | {"nbf": "soon"}, SECRET, algorithm="HS256")
    with pytest.raises(TokenMalformed):
        verify(token, SECRET, "c1", now_ms=0)


def test_wrong_contest() -> None:
    with pytest.raises(TokenWrongContest):
        verify(_issue(), SECRET, "c2", now_ms=NOW)


def test_forged_with_another_secret() -> None:
    token = issue("x" * 32, contest="c1", member="m1", name="n", province="p", unit="u")
    with pytest.raises(TokenForged):
        verify(token, SECRET, "c1")


def test_tampered_payload_is_forged() -> None:
    header, payload, signature = _issue().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenForged):
        verify(f"{header}.{forged}.{signature}", SECRET, "c1", now_ms=NOW)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "....", "eyJhbGciOiJIUzI1NiJ9.e30"])
def test_malformed(token: str) -> None:
    with pytest.raises(TokenMalformed):
        verify(token, SECRET, "c1", now_ms=NOW)


def test_alg_none_and_other_algorithms_are_refused() -> None:
    claims = {"sub": "m", "name": "n", "prov": "p", "unit": "u", "cid": "c1", "exp": NOW}
    unsigned = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(TokenMalformed):
        verify(unsigned, SECRET, "c1", now_ms=NOW)
    hs512 = jwt.encode(claims, SECRET * 2, algorithm="HS512")
    with pytest.raises(TokenMalformed):
        verify(hs512, SECRET * 2, "c1", now_ms=NOW)


@pytest.mark.parametrize("missing", ["sub", "name", "prov", "unit", "cid", "exp"])
def test_missing_claims_are_malformed(missing: str) -> None:
    claims = {"sub": "m", "name": "n", "prov": "p", "unit": "u", "cid": "c1", "exp": NOW}
    del claims[missing]
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    with pytest.raises(TokenMalformed):
        verify(token, SECRET, "c1", now_ms=0)


def test_claims_of_the_wrong_type_are_malformed() -> None:
    claims = {"sub": 5, "name": "n", "prov": "p", "unit": "u", "cid": "c1", "exp": NOW}
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    with pytest.raises(TokenMalformed):
        verify(token, SECRET, "c1", now_ms=0)


def test_short_secret_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        issue("short", contest="c", member="m", name="n", province="p", unit="u")
    with pytest.raises(ConfigError):
        verify("a.b.c", b"short", "c")


@given(
    member=st.text(min_size=1, max_size=40),
    name=st.text(max_size=40),
    province=st.text(max_size=20),
    unit=st.text(max_size=20),
    contest=st.text(min_size=1, max_size=20),
)
def test_any_text_round_trips(
    member: str, name: str, province: str, unit: str, contest: str
) -> None:
    token = issue(
        SECRET, contest=contest, member=member, name=name, province=province, unit=unit, now_ms=NOW
    )
    got = verify(token, SECRET, contest, now_ms=NOW)
    assert (got.id, got.name, got.province, got.unit, got.contest) == (
        member,
        name,
        province,
        unit,
        contest,
    )


def _pyjwt_verdict(token: str, key: str) -> str:
    """What PyJWT's generic HS256 check says of *token*: ``ok``, ``forged`` or
    ``malformed`` (the reference the engine's own check is compared with)."""
    try:
        raw = jwt.decode(
            token,
            key,
            algorithms=["HS256"],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.InvalidSignatureError:
        return "forged"
    except jwt.PyJWTError:
        return "malformed"
    needed = {"sub": str, "name": str, "prov": str, "unit": str, "cid": str, "exp": int}
    typed = all(type(raw.get(k)) is t for k, t in needed.items()) and all(
        raw.get(k) is None or type(raw[k]) is int for k in ("iat", "nbf")
    )
    return "ok" if typed and raw["sub"] and raw["cid"] == "c1" else "malformed"


def _engine_verdict(token: str, key: str) -> str:
    try:
        verify(token, key, "c1", now_ms=NOW)
    except TokenForged:
        return "forged"
    except (TokenMalformed, TokenWrongContest):
        return "malformed"
    except (TokenExpired, TokenNotYetValid):
        return "ok"  # a genuine JWT with the claims; its times are checked after (not PyJWT's)
    return "ok"


_headers = st.sampled_from(
    [
        {"alg": "HS256", "typ": "JWT"},
        {"alg": "HS256"},
        {"alg": "HS256", "kid": "k1"},
        {"alg": "HS256", "kid": 7},
        {"alg": "HS512"},
        {"alg": "none"},
        {"typ": "JWT"},
        {"alg": "HS256", "crit": ["exp"]},
        {"alg": "HS256", "b64": False},
    ]
)
_claim_values = st.one_of(
    st.text(max_size=6), st.integers(-5, 2_000_000_000), st.none(), st.booleans()
)
_GOOD = {"sub": "m1", "name": "n", "prov": "p", "unit": "u", "cid": "c1", "exp": NOW // 1000 + 60}


def _segment(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@settings(max_examples=400)
@given(
    header=_headers,
    changed=st.dictionaries(
        st.sampled_from(["sub", "name", "prov", "unit", "cid", "exp", "iat", "nbf", "aud", "jti"]),
        _claim_values,
        max_size=2,
    ),
    dropped=st.sets(st.sampled_from(sorted(_GOOD)), max_size=1),
    flip=st.one_of(st.none(), st.none(), st.integers(0, 400)),
    signer=st.sampled_from([SECRET, SECRET, "t" * 32]),
)
def test_the_engine_check_agrees_with_pyjwt(
    header: dict[str, object],
    changed: dict[str, object],
    dropped: set[str],
    flip: int | None,
    signer: str,
) -> None:
    """The hand-written HS256 check accepts exactly what PyJWT accepts (with the claims
    the engine needs), and calls forged what PyJWT calls a bad signature; it also refuses
    header extensions (``crit``), which PyJWT lets through."""
    claims = {k: v for k, v in (_GOOD | changed).items() if k not in dropped}
    head = _segment(json.dumps(header).encode())
    body = _segment(json.dumps(claims).encode())
    algorithm = "sha512" if header.get("alg") == "HS512" else "sha256"
    mac = hmac.digest(signer.encode(), f"{head}.{body}".encode(), algorithm)
    token = f"{head}.{body}.{_segment(mac)}"
    if flip is not None:  # one character changed somewhere
        i = flip % len(token)
        token = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
    engine = _engine_verdict(token, SECRET)
    reference = _pyjwt_verdict(token, SECRET)
    if "crit" in header and reference == "ok":
        assert engine == "malformed"
    elif engine == "ok" or reference == "ok":
        assert engine == reference
    if reference == "forged":
        assert engine == "forged"


def test_the_engine_check_refuses_what_pyjwt_refuses_by_example() -> None:
    good = _issue()
    head, _, _ = good.split(".")
    cases = {
        "audience": _segment(json.dumps(_GOOD | {"aud": "x"}).encode()),
        "jti not text": _segment(json.dumps(_GOOD | {"jti": 5}).encode()),
        "array": _segment(b"[1, 2]"),
        "not json": _segment(b"{nope"),
    }
    for payload in cases.values():
        mac = hmac.digest(SECRET.encode(), f"{head}.{payload}".encode(), "sha256")
        token = f"{head}.{payload}.{_segment(mac)}"
        assert _pyjwt_verdict(token, SECRET) == "malformed"
        with pytest.raises(TokenMalformed):
            verify(token, SECRET, "c1", now_ms=NOW)
    with pytest.raises(TokenMalformed):
        verify(good.encode() + b"\xff", SECRET, "c1", now_ms=NOW)
    assert verify(good.encode(), SECRET, "c1", now_ms=NOW).id == "m1"
