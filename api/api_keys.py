"""API keys: a caller's own keys, another key, rotation with a grace period, revocation."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.params import JSONBody, PathParameter

from api.auth import requires_role
from api.deps import Caller, DbSession
from api.errors import problems
from leadmarket import api_keys
from leadmarket.api_keys import ApiKeyCreate, ApiKeyIssued, ApiKeyRotate, ApiKeyView
from leadmarket.identity import Role

KeyId = Annotated[int, PathParameter(ge=1, le=2**31 - 1)]


class ApiKeyController(Controller):
    path = "/api/v1/api-keys"
    guards = [requires_role(*Role)]
    tags = ["api keys"]

    @get(sync_to_thread=True, responses=problems(401, 403))
    def list_keys(self, session: DbSession, principal: Caller) -> list[ApiKeyView]:
        """Your own keys (your company's; for staff, those issued or rotated from yours), newest
        first, never the keys themselves; an admin sees every key."""
        return api_keys.list_keys(session, principal)

    @post(sync_to_thread=True, responses=problems(400, 401, 403, 413, 422))
    def create(self, data: JSONBody[ApiKeyCreate], session: DbSession, principal: Caller) -> ApiKeyIssued:
        """Another key for yourself, with your role and company; `api_key` is shown this once."""
        return api_keys.create_key(session, principal, data)

    @post("/rotate", sync_to_thread=True, responses=problems(400, 401, 403, 409, 413, 422))
    def rotate(self, session: DbSession, principal: Caller,
               data: JSONBody[ApiKeyRotate | None] = None) -> ApiKeyIssued:
        """Replace the key you call with: the answer holds the new key; the old one keeps working
        for `grace_seconds` (default and most: LEADMARKET_API_KEY_ROTATION_GRACE_SECONDS), then stops."""
        return api_keys.rotate_key(session, principal, data or ApiKeyRotate())

    @post("/{key_id:int}/revoke", sync_to_thread=True, status_code=200, responses=problems(401, 403, 404, 409, 422))
    def revoke(self, key_id: KeyId, session: DbSession, principal: Caller) -> ApiKeyView:
        """Stop one of your keys now (admins: any key). Your last working key cannot be revoked:
        rotate it instead."""
        return api_keys.revoke_key(session, principal, key_id)
