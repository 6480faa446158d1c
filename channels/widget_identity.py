"""Who is chatting in the widget: partner-signed JWTs, gateway-signed anonymous ids (jti replay: channels.replay).

A partner's backend signs ``{iss: partner id, sub, exp, jti}`` (HS256, its own secret, at most
10 minutes ahead). The gateway accepts each ``jti`` once; a reconnect after that uses a
gateway-signed *session* token, so the partner token never needs to be replayed. Anonymous
youths get a random id signed by the gateway: the iframe keeps it in localStorage, and because
it is signed nobody can forge another youth's id to read their history.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass

import jwt

from channels.replay import ReplayCache
from contract.config import PartnerConfig

log = logging.getLogger("youthdesk.channels.widget")

MAX_PARTNER_TOKEN_SECONDS = 600
LEEWAY_SECONDS = 30
SESSION_SECONDS = 6 * 3600
ANONYMOUS_SECONDS = 180 * 24 * 3600
GATEWAY_ISSUER = "youthdesk"


class IdentityRejected(Exception):
    """The identity offered by the iframe is not acceptable; ``reason`` goes back to it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class WidgetIdentity:
    partner: str
    external_user_id: str  # partner sub, or "anon:<random>" for an anonymous browser
    anonymous: bool


class IdentityVerifier:
    def __init__(self, *, signing_key: bytes, replay: ReplayCache) -> None:
        self._key = signing_key
        self.replay = replay

    @classmethod
    def from_data_key(cls, data_key: str, replay: ReplayCache) -> IdentityVerifier:
        # A dedicated key derived from the data key: no new secret to configure, none shared.
        key = hmac.new(base64.urlsafe_b64decode(data_key), b"youthdesk-widget-identity", hashlib.sha256).digest()
        return cls(signing_key=key, replay=replay)

    async def partner_token(self, partner: PartnerConfig, token: str) -> WidgetIdentity:
        """Verify a partner-signed JWT and consume its ``jti``."""
        try:
            claims = jwt.decode(
                token, partner.secret, algorithms=["HS256"], issuer=partner.id, leeway=LEEWAY_SECONDS,
                options={"require": ["iss", "sub", "exp", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise IdentityRejected("token expired") from None
        except jwt.InvalidIssuerError:
            raise IdentityRejected("token issuer is not this partner") from None
        except jwt.MissingRequiredClaimError as exc:
            raise IdentityRejected(f"token lacks claim {exc.claim}") from None
        except jwt.InvalidTokenError:
            raise IdentityRejected("token signature or format invalid") from None
        sub, jti, exp = claims["sub"], claims["jti"], claims["exp"]
        if not isinstance(sub, str) or not sub or len(sub) > 128:
            raise IdentityRejected("token sub must be a non-empty string of at most 128 characters")
        if not isinstance(jti, str) or not jti or len(jti) > 128:
            raise IdentityRejected("token jti must be a non-empty string")
        if exp > time.time() + MAX_PARTNER_TOKEN_SECONDS + LEEWAY_SECONDS:
            raise IdentityRejected("token lifetime exceeds 10 minutes")
        if not await self.replay.claim(f"{partner.id}:{jti}", float(exp) + LEEWAY_SECONDS):
            raise IdentityRejected("token already used")
        return WidgetIdentity(partner=partner.id, external_user_id=sub, anonymous=False)

    def new_anonymous(self, partner: PartnerConfig) -> tuple[WidgetIdentity, str]:
        identity = WidgetIdentity(partner=partner.id, external_user_id=f"anon:{secrets.token_urlsafe(18)}",
                                  anonymous=True)
        return identity, self._issue(identity, "anonymous", ANONYMOUS_SECONDS)

    def source_of(self, address: str) -> str:
        """A keyed, one-way name for the client address: enough to group a flood from one source,
        never the address itself (it is stored on the youth's conversation)."""
        return hmac.new(self._key, f"source:{address}".encode(), hashlib.sha256).hexdigest()[:20]

    def new_session(self, identity: WidgetIdentity) -> str:
        """Lets the same iframe reconnect without the partner token (which is single-use)."""
        return self._issue(identity, "session", SESSION_SECONDS)

    def gateway_token(self, partner: PartnerConfig, token: str) -> WidgetIdentity:
        """Verify a token this gateway issued (anonymous id or session) for this partner."""
        try:
            claims = jwt.decode(token, self._key, algorithms=["HS256"], issuer=GATEWAY_ISSUER,
                                audience=partner.id, options={"require": ["sub", "exp", "kind", "aud"]})
        except jwt.ExpiredSignatureError:
            raise IdentityRejected("session expired") from None
        except jwt.InvalidTokenError:
            raise IdentityRejected("session token invalid") from None
        anonymous = str(claims["sub"]).startswith("anon:")
        if anonymous and not partner.anonymous_allowed:
            raise IdentityRejected("anonymous chat is not allowed by this partner")
        return WidgetIdentity(partner=partner.id, external_user_id=claims["sub"], anonymous=anonymous)

    def _issue(self, identity: WidgetIdentity, kind: str, lifetime: int) -> str:
        now = int(time.time())
        claims = {"iss": GATEWAY_ISSUER, "aud": identity.partner, "sub": identity.external_user_id,
                  "kind": kind, "iat": now, "exp": now + lifetime}
        return jwt.encode(claims, self._key, algorithm="HS256")


def sign_partner_token(partner: PartnerConfig, sub: str, *, lifetime: int = 300, jti: str | None = None,
                       issuer: str | None = None, now: float | None = None) -> str:
    """What a partner backend does (used by the demo partner page, tests and the bench)."""
    issued = int(now if now is not None else time.time())
    claims = {"iss": issuer or partner.id, "sub": sub, "iat": issued, "exp": issued + lifetime,
              "jti": jti or secrets.token_hex(12)}
    return jwt.encode(claims, partner.secret, algorithm="HS256")
