"""Security: loopback by default, keys beyond it (and never logged after the first-start notice), ids and
names validated before they reach the engine, the store intact whatever the URL holds."""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from devhost.cli import build_parser
from tests.support.azurite import REPO_ROOT, Azurite
from tests.support.devhost import running_devhost

pytestmark = [pytest.mark.reliability, pytest.mark.azurite, pytest.mark.slow]
APP = REPO_ROOT / "tests" / "apps" / "durable_app"
MANAGEMENT = "/runtime/webhooks/durabletask"
JSON = {"Content-Type": "application/json"}


def _call(url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # UDP connect sends nothing
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_loopback_by_default(azurite: Azurite, tmp_path: Path) -> None:
    assert build_parser().parse_args(["start"]).host == "127.0.0.1"
    with running_devhost(APP, azurite, data_dir=tmp_path) as host:
        assert _call(f"{host.base_url}{MANAGEMENT}/instances/")[0] == 200  # no key needed on loopback
        address = _non_loopback_address()
        if address is not None:
            with pytest.raises(OSError):
                socket.create_connection((address, host.port), timeout=2).close()
        assert not (tmp_path / "keys.json").exists()


def test_keys_required_beyond_loopback_and_never_logged_again(azurite: Azurite, tmp_path: Path) -> None:
    with running_devhost(APP, azurite, data_dir=tmp_path, host="0.0.0.0") as host:
        keys = json.loads((tmp_path / "keys.json").read_text())
        base, dash = host.base_url, host.dashboard_url
        protected = [
            f"{base}{MANAGEMENT}/instances/",
            f"{base}{MANAGEMENT}/instances/some-id",
            f"{dash}/api/instances",
            f"{dash}/api/overview",
            f"{dash}/",
            f"{base}/admin/functions",
        ]
        for url in protected:
            code, body = _call(url)
            assert code == 401, url
            assert b"key" in body
            assert _call(url + "?code=wrong-key")[0] == 401, url
            assert _call(url, headers={"x-functions-key": "wrong"})[0] == 401, url
        # The management API takes the function key (in the URLs it hands out) or the admin key.
        assert _call(f"{base}{MANAGEMENT}/instances/?code={keys['function']}")[0] == 200
        assert _call(f"{base}{MANAGEMENT}/instances/", headers={"x-functions-key": keys["admin"]})[0] == 200
        # Dashboard and admin routes need the admin key.
        assert _call(f"{dash}/api/instances?code={keys['function']}")[0] == 401
        assert _call(f"{dash}/api/instances?code={keys['admin']}")[0] == 200
        assert _call(f"{base}/admin/functions", headers={"x-functions-key": keys["admin"]})[0] == 200

        # Use the keys a lot, including failing calls, then scan everything logged after the notice.
        notice_end = host.output().index(keys["function"]) + len(keys["function"])
        code, body = _call(
            f"{base}/api/orchestrators/hello_orchestrator?city=Oslo&code={keys['function']}", method="POST"
        )
        assert code == 202
        status_url = json.loads(body)["statusQueryGetUri"]
        for _ in range(3):
            _call(status_url if "code=" in status_url else f"{status_url}&code={keys['function']}")
        _call(f"{base}{MANAGEMENT}/instances/missing?code={keys['admin']}")
        _call(f"{base}{MANAGEMENT}/instances/bad%01id?code={keys['admin']}")
        _call(f"{base}{MANAGEMENT}/orchestrators/nope?code={keys['admin']}", method="POST", body=b"{")
        _call(f"{dash}/api/instances/missing?code={keys['admin']}")
        code, body = _call(
            f"{base}/api/orchestrators/nope", method="POST", headers={"x-functions-key": keys["function"]}
        )
        assert code == 500
        failed_id = json.loads(body)["invocationId"]
        # Log lines trail the answers: wait for the last call's line (the writer keeps their order).
        later = host.wait_for_output(f"Executed 'Functions.http_start' (Failed, Id={failed_id}, ")[notice_end:]
        # The keyed start request ran and was logged as the Functions host logs it (its first http_start run
        # after the notice, and a different invocation from the failed "nope" one).
        started = re.search(
            r"^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] Executing 'Functions\.http_start' "
            r"\(Reason='This function was programmatically called via the host APIs\.', Id=([0-9a-f-]{36})\)$",
            later,
            re.MULTILINE,
        )
        assert started is not None, later
        assert started[1] != failed_id
        assert f"Executed 'Functions.http_start' (Succeeded, Id={started[1]}, Duration=" in later
        assert keys["function"] not in later and keys["admin"] not in later


BAD_IDS = ["../../etc/passwd", "..\\..\\boot.ini", "x" * 300, "a\x00b", "a\nb", "tab\there", "q?x", "h#x", ""]


def test_bad_ids_and_names_get_400_and_the_store_stays_intact(azurite: Azurite, tmp_path: Path) -> None:
    with running_devhost(APP, azurite, data_dir=tmp_path) as host:
        base = f"{host.base_url}{MANAGEMENT}"
        code, body = _call(f"{base}/orchestrators/hello_orchestrator/good-one", method="POST", body=b'"Oslo"')
        assert code == 202
        files_before = sorted(p.name for p in tmp_path.iterdir())
        for bad in BAD_IDS:
            quoted = urllib.parse.quote(bad, safe="")
            if not bad:
                continue  # an empty segment is another route (the list), covered by the name checks below
            for method, path in [
                ("GET", f"/instances/{quoted}"),
                ("DELETE", f"/instances/{quoted}"),
                ("POST", f"/instances/{quoted}/terminate"),
                ("POST", f"/orchestrators/hello_orchestrator/{quoted}"),
                ("POST", f"/instances/{quoted}/raiseEvent/evt"),
            ]:
                code, body = _call(f"{base}{path}", method, b"{}" if method == "POST" else None, JSON)
                assert code == 400, (bad, method, path, code, body)
                assert b"instance id" in body
            code, _ = _call(f"{host.dashboard_url}/api/instances/{quoted}")
            assert code == 400, bad
        for bad in ["x" * 300, "a\x00b", "a\nb", "\x7f"]:
            quoted = urllib.parse.quote(bad, safe="")
            code, body = _call(f"{base}/instances/good-one/raiseEvent/{quoted}", "POST", b"{}", JSON)
            assert code == 400 and b"event name" in body, (bad, body)
            code, body = _call(f"{base}/entities/{quoted}/key")
            assert code == 400 and b"entity name" in body, (bad, body)
        # Quotes, semicolons and spaces are valid in Durable instance ids: stored verbatim, never SQL text.
        sql = "'; DROP TABLE instances; --"
        code, _ = _call(f"{base}/orchestrators/hello_orchestrator/{urllib.parse.quote(sql, safe='')}", "POST", b'"X"')
        assert code == 202
        code, body = _call(f"{base}/instances/{urllib.parse.quote(sql, safe='')}")
        assert code in (200, 202) and json.loads(body)["instanceId"] == sql
        code, body = _call(f"{base}/instances/good-one")
        assert code in (200, 202) and json.loads(body)["instanceId"] == "good-one"
        assert sorted(p.name for p in tmp_path.iterdir()) == files_before  # nothing new on disk
    with sqlite3.connect(f"{(tmp_path / 'taskhub.sqlite').as_uri()}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = {row[0] for row in conn.execute("SELECT instance_id FROM instances")}
    conn.close()
    assert ids == {"good-one", sql}
