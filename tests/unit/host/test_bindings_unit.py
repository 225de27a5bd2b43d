"""Binding helpers without storage: expressions, queue message encoding, table entity shaping, keys."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import azure.functions as func
import pytest

from devhost.auth import load_or_create_keys
from devhost.bindings.expressions import BindingExpressionError, resolve
from devhost.bindings.queue_output import QueueOutputError, decode_message, encode_message
from devhost.bindings.storage import client_options, expand_connection_string
from devhost.bindings.table import TableBindingError, table_entities
from devhost.net import is_loopback_host
from devhost.worker.conversions import OutputTypeError, message_bodies


def test_expressions_resolve_case_insensitively_with_dotted_paths():
    data = {"id": 7, "Query": {"city": "Oslo"}, "QueueTrigger": "text"}
    assert resolve("items/{ID}/{query.city}-{queueTrigger}", data, "w") == "items/7/Oslo-text"
    assert len(resolve("{rand-guid}", {}, "w")) == 36
    with pytest.raises(BindingExpressionError, match=r"no value for \{name\}"):
        resolve("x/{name}", data, "binding 'b'")


def test_queue_encoding_round_trip():
    assert encode_message("héllo", "base64") == base64.b64encode("héllo".encode()).decode()
    assert decode_message(encode_message(b"\x00\xff", "base64"), "base64") == b"\x00\xff"
    assert encode_message("plain", "none") == "plain"
    with pytest.raises(ValueError, match="not valid base64"):
        decode_message("not base64!", "base64")
    with pytest.raises(QueueOutputError, match="base64"):
        encode_message(b"\xff", "none")


def test_queue_output_values_like_the_worker():
    assert message_bodies("a") == ["a"]
    assert message_bodies(["a", b"b", func.QueueMessage(body="c")]) == ["a", b"b", b"c"]
    assert message_bodies({"k": 1}) == ['{"k": 1}']
    assert message_bodies(None) == []
    with pytest.raises(OutputTypeError):
        message_bodies(42)


def test_table_output_shapes():
    assert table_entities('{"RowKey": "r", "V": 1}', "p", None) == [{"RowKey": "r", "V": 1, "PartitionKey": "p"}]
    assert (
        len(table_entities([{"PartitionKey": "a", "RowKey": "1"}, {"PartitionKey": "a", "RowKey": "2"}], None, None))
        == 2
    )
    with pytest.raises(TableBindingError, match="RowKey"):
        table_entities({"PartitionKey": "p"}, None, None)
    with pytest.raises(TableBindingError, match="not valid JSON"):
        table_entities("{", None, None)


def test_development_storage_expands_to_azurite_defaults():
    expanded = expand_connection_string("UseDevelopmentStorage=true")
    assert "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1" in expanded
    assert expand_connection_string("AccountName=x;AccountKey=y") == "AccountName=x;AccountKey=y"


def test_storage_on_loopback_skips_environment_proxies_and_remote_storage_keeps_them():
    local = expand_connection_string("UseDevelopmentStorage=true")
    assert client_options(local, {"retry_total": 2}) == {"retry_total": 2, "use_env_settings": False}
    ipv6 = "AccountName=a;AccountKey=k;QueueEndpoint=http://[::1]:10001/a;TableEndpoint=http://localhost:10002/a"
    assert client_options(ipv6, {})["use_env_settings"] is False
    remote = "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k;EndpointSuffix=core.windows.net"
    assert client_options(remote, {"retry_total": 2}) == {"retry_total": 2}
    mixed = (
        "AccountName=a;AccountKey=k;QueueEndpoint=http://127.0.0.1:10001/a;BlobEndpoint=https://a.blob.core.windows.net"
    )
    assert "use_env_settings" not in client_options(mixed, {})


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool):
    assert is_loopback_host(host) is loopback


def test_keys_are_generated_once_with_private_permissions(tmp_path: Path):
    keys, created = load_or_create_keys(tmp_path, {})
    assert created
    assert stat.S_IMODE((tmp_path / "keys.json").stat().st_mode) == 0o600
    again, created_again = load_or_create_keys(tmp_path, {})
    assert (again, created_again) == (keys, False)
    fixed, _ = load_or_create_keys(tmp_path, {"DEVHOST_ADMIN_KEY": "admin-from-settings"})
    assert fixed.admin == "admin-from-settings" and fixed.function == keys.function
    assert json.loads((tmp_path / "keys.json").read_text())["admin"] == keys.admin


def test_missing_azurite_binary_says_how_to_install_it(tmp_path: Path):
    from devhost.azurite import start_azurite
    from devhost.errors import AzuriteNotFoundError

    with pytest.raises(AzuriteNotFoundError, match=r"run `devhost azurite install` \(or `make setup` in a devhost"):
        start_azurite(tmp_path, binary=tmp_path / "node_modules" / ".bin" / "azurite")


def test_needs_azurite_only_for_development_storage():
    from devhost.azurite import needs_azurite

    assert needs_azurite(None) is False
    assert needs_azurite("DefaultEndpointsProtocol=http;AccountName=a;AccountKey=b") is False
