"""Widget identity: partner JWT edge cases, gateway-signed anonymous ids, the replay cache."""

from __future__ import annotations

import time

import jwt
import pytest

from channels.replay import MemoryReplayCache
from channels.widget_identity import IdentityRejected, IdentityVerifier, sign_partner_token
from contract.config import PartnerConfig

PARTNER = PartnerConfig(id="demo-video", name="演示", secret="partner-secret-for-tests-0123456789", desk="sz",
                        origins=["http://127.0.0.1:8080"])
DATA_KEY = "7vVhVc1G4ktNhx3UMUf9Akqg3MfmNWXfzKsXFte_mVw="


@pytest.fixture
def verifier() -> IdentityVerifier:
    return IdentityVerifier.from_data_key(DATA_KEY, MemoryReplayCache())


async def test_valid_partner_token_names_the_youth(verifier: IdentityVerifier) -> None:
    identity = await verifier.partner_token(PARTNER, sign_partner_token(PARTNER, "user-42"))
    assert (identity.partner, identity.external_user_id, identity.anonymous) == ("demo-video", "user-42", False)


async def test_token_signed_with_another_secret_is_rejected(verifier: IdentityVerifier) -> None:
    forged = jwt.encode({"iss": "demo-video", "sub": "u", "exp": int(time.time()) + 60, "jti": "j1"},
                        "not-the-partner-secret-0123456789", algorithm="HS256")
    with pytest.raises(IdentityRejected, match="signature"):
        await verifier.partner_token(PARTNER, forged)


async def test_unsigned_token_is_rejected(verifier: IdentityVerifier) -> None:
    unsigned = jwt.encode({"iss": "demo-video", "sub": "u", "exp": int(time.time()) + 60, "jti": "j"},
                          None, algorithm="none")
    with pytest.raises(IdentityRejected):
        await verifier.partner_token(PARTNER, unsigned)


async def test_garbage_is_rejected(verifier: IdentityVerifier) -> None:
    with pytest.raises(IdentityRejected):
        await verifier.partner_token(PARTNER, "not.a.jwt")


async def test_expired_token_is_rejected(verifier: IdentityVerifier) -> None:
    token = sign_partner_token(PARTNER, "u", lifetime=60, now=time.time() - 600)
    with pytest.raises(IdentityRejected, match="expired"):
        await verifier.partner_token(PARTNER, token)


async def test_token_valid_for_more_than_ten_minutes_is_rejected(verifier: IdentityVerifier) -> None:
    with pytest.raises(IdentityRejected, match="10 minutes"):
        await verifier.partner_token(PARTNER, sign_partner_token(PARTNER, "u", lifetime=3600))


async def test_token_from_another_issuer_is_rejected(verifier: IdentityVerifier) -> None:
    with pytest.raises(IdentityRejected, match="issuer"):
        await verifier.partner_token(PARTNER, sign_partner_token(PARTNER, "u", issuer="other-partner"))


async def test_token_without_jti_is_rejected(verifier: IdentityVerifier) -> None:
    token = jwt.encode({"iss": "demo-video", "sub": "u", "exp": int(time.time()) + 60}, PARTNER.secret,
                       algorithm="HS256")
    with pytest.raises(IdentityRejected, match="jti"):
        await verifier.partner_token(PARTNER, token)


async def test_replayed_token_is_rejected(verifier: IdentityVerifier) -> None:
    token = sign_partner_token(PARTNER, "u")
    await verifier.partner_token(PARTNER, token)
    with pytest.raises(IdentityRejected, match="already used"):
        await verifier.partner_token(PARTNER, token)


async def test_replay_cache_forgets_expired_ids() -> None:
    cache = MemoryReplayCache()
    assert await cache.claim("k", time.time() - 1)
    assert await cache.claim("k", time.time() + 60)
    assert not await cache.claim("k", time.time() + 60)


async def test_anonymous_id_round_trips_and_cannot_be_forged(verifier: IdentityVerifier) -> None:
    identity, token = verifier.new_anonymous(PARTNER)
    assert identity.anonymous and identity.external_user_id.startswith("anon:")
    assert verifier.gateway_token(PARTNER, token) == identity
    header, payload, signature = token.split(".")
    forged = jwt.encode({"iss": "youthdesk", "aud": "demo-video", "sub": "anon:someone-else", "kind": "anonymous",
                         "exp": int(time.time()) + 60}, "guessed-key-guessed-key-guessed-key", algorithm="HS256")
    with pytest.raises(IdentityRejected):
        verifier.gateway_token(PARTNER, forged)
    with pytest.raises(IdentityRejected):
        verifier.gateway_token(PARTNER, f"{header}.{payload}.{signature[:-4]}AAAA")


async def test_gateway_token_for_another_partner_is_rejected(verifier: IdentityVerifier) -> None:
    _, token = verifier.new_anonymous(PARTNER)
    other = PARTNER.model_copy(update={"id": "other"})
    with pytest.raises(IdentityRejected):
        verifier.gateway_token(other, token)


async def test_anonymous_session_refused_when_partner_forbids_it(verifier: IdentityVerifier) -> None:
    _, token = verifier.new_anonymous(PARTNER)
    strict = PARTNER.model_copy(update={"anonymous_allowed": False})
    with pytest.raises(IdentityRejected, match="anonymous"):
        verifier.gateway_token(strict, token)


async def test_partner_token_cannot_pose_as_gateway_session(verifier: IdentityVerifier) -> None:
    with pytest.raises(IdentityRejected):
        verifier.gateway_token(PARTNER, sign_partner_token(PARTNER, "u"))
