"""Fuzzing the Clerk token verifier with generated hostile tokens (Hypothesis).

Three families: arbitrary text; three dot-separated base64url segments holding arbitrary
bytes or JSON (deep nesting, huge numbers, wrong types) in the header and payload; and
tokens *validly signed* with the trusted key whose claims are mutated (wrong types for
`sub`/`azp`/`exp`/`aud`/`iss`, extra nesting, infinities). ``verify`` must either return a
principal (only for claims that are really valid) or raise ``AuthError`` — which the API
answers with 401 — never anything else (a 500). Deterministic and bounded:
``FUZZ_JWT_EXAMPLES`` per family.
"""

import asyncio
import base64
import json
import os
from typing import Any

import jwt
from careers_tools.testing.ingest import AZP, ISSUER, Keys, claims_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest.auth import AuthError, ClerkVerifier, Principal

EXAMPLES = int(os.environ.get("FUZZ_JWT_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
RAN: dict[str, int] = {}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
raw_segment = st.one_of(
    st.binary(max_size=60),
    json_value.map(lambda v: json.dumps(v, allow_nan=True).encode()),
    st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n),
    st.integers(min_value=4000, max_value=6000).map(lambda n: b'{"alg": ' + b"9" * n + b"}"),
    st.fixed_dictionaries({"alg": json_value, "kid": json_value, "typ": json_value}).map(
        lambda d: json.dumps(d, allow_nan=True).encode()
    ),
    st.just(b'{"alg": "RS256", "typ": "JWT"}'),
)


def _verify(verifier: ClerkVerifier, token: str, family: str) -> Principal | None:
    try:
        principal = asyncio.run(verifier.verify(token))
    except AuthError as exc:
        code = exc.code
    else:
        RAN[f"{family}:ok"] = RAN.get(f"{family}:ok", 0) + 1
        return principal
    assert code
    RAN[f"{family}:401"] = RAN.get(f"{family}:401", 0) + 1
    return None


def _verifier(keys: Keys) -> ClerkVerifier:
    return ClerkVerifier(issuer=ISSUER, authorized_parties=[AZP], pem_key=keys.public_pem)


@FUZZ
@given(token=st.text(max_size=200))
def test_arbitrary_text_is_refused(keys: Keys, token: str) -> None:
    assert _verify(_verifier(keys), token, "text") is None


@FUZZ
@given(header=raw_segment, payload=raw_segment, signature=st.binary(max_size=40))
def test_garbage_segments_are_refused(
    keys: Keys, header: bytes, payload: bytes, signature: bytes
) -> None:
    token = f"{_b64(header)}.{_b64(payload)}.{_b64(signature)}"
    assert _verify(_verifier(keys), token, "segments") is None


claim_names = st.sampled_from(["sub", "azp", "exp", "iat", "nbf", "iss", "aud", "sid", "x"])


@FUZZ
@given(
    changes=st.dictionaries(claim_names, st.one_of(json_value, st.just(None)), max_size=3),
    raw_tail=st.one_of(
        st.none(), st.sampled_from([b', "exp": Infinity', b', "x": ' + b"[" * 3000])
    ),
)
def test_validly_signed_hostile_claims_are_401_or_really_valid(
    keys: Keys, changes: dict[str, Any], raw_tail: bytes | None
) -> None:
    claims = claims_for("user_fuzz")
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    payload = json.dumps(claims, allow_nan=True).encode()
    if raw_tail is not None:
        payload = payload[:-1] + raw_tail + b"}"
    token = jwt.api_jws.encode(payload, keys.private, algorithm="RS256", headers={"kid": keys.kid})
    principal = _verify(_verifier(keys), token, "signed")
    if principal is not None:  # accepted: then it must really be a well-formed session
        assert isinstance(principal.sub, str) and principal.sub
        assert principal.authorized_party == AZP
        assert "aud" not in claims or not claims["aud"]


def test_zz_report_cases() -> None:
    print(f"JWT fuzzer: {EXAMPLES} examples per family; outcomes {dict(sorted(RAN.items()))}")
