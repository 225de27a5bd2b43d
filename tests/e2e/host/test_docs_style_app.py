"""A typical v2 app written like the public docs (FunctionApp + Blueprint module) runs unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from tests.support.azurite import Azurite
from tests.support.devhost import running_devhost
from tests.support.storage import queue_client, unique_name, wait_for_messages

APP = Path(__file__).resolve().parents[2] / "apps" / "docs_app"

pytestmark = [pytest.mark.azurite, pytest.mark.slow]


async def test_docs_style_app_runs_unchanged(azurite: Azurite, tmp_path: Path):
    queues = {"ORDERS_QUEUE": unique_name("orders-"), "RECEIPTS_QUEUE": unique_name("receipts-")}
    with running_devhost(APP, azurite, data_dir=tmp_path, extra_env=queues) as host:
        base = f"{host.base_url}/api"
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/hello?name=Ada") as response:
                assert response.status == 200
                assert await response.text() == "Hello, Ada. This HTTP triggered function executed successfully."
            async with session.post(f"{base}/hello", json={"name": "Grace"}) as response:
                assert (await response.text()).startswith("Hello, Grace.")
            async with session.get(f"{base}/products/books/12") as response:
                assert await response.json() == {"category": "books", "id": 12}
            async with session.get(f"{base}/products/books") as response:
                assert await response.json() == {"category": "books", "id": None}
            async with session.get(f"{base}/products/b00ks/1") as response:
                assert response.status == 404  # {category:alpha} does not match
            async with session.post(f"{base}/products/toys/3", json={"quantity": 2}) as response:
                assert (response.status, await response.text()) == (202, "order accepted")
        # The blueprint's queue output feeds the app's own queue trigger, which writes a receipt.
        receipts = queue_client(azurite.connection_string, queues["RECEIPTS_QUEUE"])
        texts = wait_for_messages(receipts, 1)
        assert len(texts) == 1 and texts[0].startswith("receipt for ")
        assert json.loads(texts[0].removeprefix("receipt for ")) == {"category": "toys", "id": "3", "quantity": 2}
        output = host.output()
        assert "HttpTrigger1: [GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS,TRACE]" in output
        assert (
            f"products: [GET,POST] http://localhost:{host.port}/api/products/{{category:alpha}}/{{id:int?}}" in output
        )
        assert "queue_trigger: queueTrigger" in output
