"""Bearer tokens and the OAuth2 refresh grant with rotating refresh tokens."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Fortnox, FortnoxFactory


def basic(client_id: str = "sandbox-client", secret: str = "sandbox-secret") -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


async def refresh(fortnox: Fortnox, refresh_token: str, auth: str | None = None) -> tuple[int, Any]:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    async with fortnox.client.post(
        "/oauth-v1/token", data=form, headers={"Authorization": auth or basic()}
    ) as response:
        return response.status, await response.json()


async def test_a_missing_token_is_refused_with_error_information(fortnox: Fortnox) -> None:
    status, body = await fortnox.as_token(None).get("/3/customers")
    assert status == 401
    assert body["ErrorInformation"]["code"] == 2000310
    assert body["ErrorInformation"]["error"] == 1


async def test_an_unknown_token_is_refused(fortnox: Fortnox) -> None:
    status, body = await fortnox.as_token("stolen").get("/3/orders")
    assert status == 401
    assert body["ErrorInformation"]["code"] == 2000311


async def test_refused_tokens_are_not_counted_as_a_token_s_traffic(fortnox: Fortnox) -> None:
    await fortnox.as_token("stolen").get("/3/orders")
    _, stats = await fortnox.get("/_sandbox/stats")
    assert stats["tokens"] == {}
    assert stats["requests_by_route"] == {"GET /3/orders": 1}


async def test_refresh_issues_a_working_token_and_rotates_the_refresh_token(
    fortnox: Fortnox,
) -> None:
    status, grant = await refresh(fortnox, "sandbox-refresh")
    assert status == 200
    assert grant["expires_in"] == 3600
    assert grant["token_type"] == "bearer"
    assert grant["scope"]
    assert (await fortnox.as_token(grant["access_token"]).get("/3/customers"))[0] == 200

    status, body = await refresh(fortnox, "sandbox-refresh")
    assert (status, body["error"]) == (400, "invalid_grant")
    status, second = await refresh(fortnox, grant["refresh_token"])
    assert status == 200
    assert second["refresh_token"] != grant["refresh_token"]


async def test_a_wrong_client_secret_is_invalid_client(fortnox: Fortnox) -> None:
    status, body = await refresh(fortnox, "sandbox-refresh", basic(secret="guess"))
    assert (status, body["error"]) == (401, "invalid_client")
    # The refresh token was not used up by the refused attempt.
    assert (await refresh(fortnox, "sandbox-refresh"))[0] == 200


async def test_an_expired_token_is_refused_until_the_client_refreshes(fortnox: Fortnox) -> None:
    _, expired = await fortnox.post("/_sandbox/tokens/expire", {"access_token": "sandbox-token"})
    assert expired == {"expired": ["sandbox-token"]}
    status, body = await fortnox.get("/3/customers")
    assert (status, body["ErrorInformation"]["code"]) == (401, 2000311)
    _, grant = await refresh(fortnox, "sandbox-refresh")
    assert (await fortnox.as_token(grant["access_token"]).get("/3/customers"))[0] == 200


async def test_tokens_expire_after_their_lifetime(start_fortnox: FortnoxFactory) -> None:
    import asyncio

    fortnox = await start_fortnox(token_lifetime_seconds=1)
    assert (await fortnox.get("/3/customers"))[0] == 200
    await asyncio.sleep(1.05)
    assert (await fortnox.get("/3/customers"))[0] == 401


@pytest.mark.parametrize(("open_control", "status"), [(False, 403), (True, 200)])
async def test_control_routes_answer_other_hosts_only_when_opened(
    start_fortnox: FortnoxFactory, open_control: bool, status: int
) -> None:
    fortnox = await start_fortnox(remote="198.51.100.4", open_control=open_control)
    answer_status, answer = await fortnox.post("/_sandbox/reset")
    assert answer_status == status
    if status == 403:
        assert "SANDBOX_OPEN_CONTROL=1" in answer["error"]
    assert (await fortnox.get("/_sandbox/state"))[0] == status
    # The API keeps its own bearer token, whatever the address.
    assert (await fortnox.get("/3/customers"))[0] == 200
    assert (await fortnox.as_token(None).get("/3/customers"))[0] == 401
