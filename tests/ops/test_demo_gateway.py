"""The demo's own province gateway: on the port the province connector expects, or, when
another process holds that port (a second demo on the machine), on a free one that the
demo's settings, and the environment its Airflow tasks read, point at."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from connectors.signed_api import SignedApiConnector
from ops.demo import serve_gateway
from silobridge.settings import load_settings

VARIABLE = "SILOBRIDGE_PROVINCE__BASE_URL"


@pytest.fixture
def home(small_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "world").symlink_to(small_world)  # the gateway only reads it here
    monkeypatch.setenv("SILOBRIDGE_HOME", str(home))
    return home


@pytest.fixture
def held() -> Iterator[int]:
    """The default port, held by another process's listening socket."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def _rows(base_url: str) -> int:
    """Records a real, signed extraction reads from the gateway at `base_url`."""
    config = load_settings().province.model_copy(update={"base_url": base_url})
    return sum(b.num_rows for b in SignedApiConnector(config, source="province").extract(None))


def test_a_held_port_moves_the_gateway_to_a_free_one(home: Path, held: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    configured = f"http://127.0.0.1:{held}"
    monkeypatch.setenv(VARIABLE, configured)
    with ExitStack() as stack:
        settings, served = serve_gateway(load_settings(), stack)
        assert served is not None and served["port_was_busy"] and served["busy_port"] == held
        port = urlsplit(settings.province.base_url).port
        assert port not in (None, held) and served["url"] == f"http://127.0.0.1:{port}"
        # the tasks build their settings from the environment: it points there too
        assert os.environ[VARIABLE] == settings.province.base_url
        assert load_settings().province.base_url == settings.province.base_url
        assert _rows(settings.province.base_url) > 0
    assert os.environ[VARIABLE] == configured  # restored once the demo is done
    with socket.socket() as s:  # and its gateway is gone
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_a_free_default_port_is_used_as_configured(home: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    configured = f"http://127.0.0.1:{port}"
    monkeypatch.setenv(VARIABLE, configured)
    with ExitStack() as stack:
        settings, served = serve_gateway(load_settings(), stack)
        assert served == {"url": configured, "port_was_busy": False}
        assert settings.province.base_url == os.environ[VARIABLE] == configured
        assert _rows(configured) > 0


def test_a_remote_province_is_not_served(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIABLE, "https://gateway.example")
    with ExitStack() as stack:
        settings, served = serve_gateway(load_settings(), stack)
    assert served is None and settings.province.base_url == "https://gateway.example"
