"""Critical sections on Azurite: concurrent transfers between accounts keep the sum exact."""

from __future__ import annotations

import asyncio
import random

import pytest

from taskhub.model.entities import EntityId
from tests.entities.apps import app
from tests.entities.conftest import E2E
from tests.helpers import wait_for

pytestmark = [pytest.mark.timeout(400), pytest.mark.app(app)]

KEYS = ["alice", "bob", "carol"]


async def test_30_concurrent_transfers_keep_the_sum_and_never_go_negative(e2e: E2E) -> None:
    client = e2e.client
    for key in KEYS:
        await client.signal_entity(EntityId("account", key), "deposit", input=100)

    async def funded() -> bool:
        metas = [await client.get_entity(EntityId("account", k)) for k in KEYS]
        return all(m is not None and m.state == {"balance": 100} for m in metas)

    await wait_for(funded, 60, 0.2, message="three accounts hold 100 each")
    rng = random.Random(7)
    transfers = []
    for _ in range(30):
        source, dest = rng.sample(KEYS, 2)
        transfers.append({"from": source, "to": dest, "amount": rng.randint(10, 80)})
    ids = await asyncio.gather(*(client.schedule_new_orchestration("transfer", input=t) for t in transfers))
    audits = await asyncio.gather(*(client.schedule_new_orchestration("audit", input=KEYS) for _ in range(5)))
    for iid in [*ids, *audits]:
        state = await client.wait_for_orchestration_completion(iid, timeout=300)
        assert state is not None and state.runtime_status.value == "Completed", (iid, state)
    for iid, t in zip(ids, transfers, strict=True):
        out = (await client.get_orchestration_state(iid)).output  # type: ignore[union-attr]
        assert out["seen"] >= 0
        if out["moved"]:
            assert out["moved"] == t["amount"] and min(out["after"]) >= 0
        else:
            assert out["seen"] < t["amount"]
    for iid in audits:
        balances = (await client.get_orchestration_state(iid)).output  # type: ignore[union-attr]
        assert sum(balances) == 300 and min(balances) >= 0, balances
    final = [await client.get_entity(EntityId("account", k)) for k in KEYS]
    assert all(m is not None and m.locked_by is None for m in final)
    assert sum(m.state["balance"] for m in final if m) == 300
