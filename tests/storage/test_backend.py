"""Storage URLs: a bare postgresql:// opens with psycopg 3 (the driver rnnppo[postgres] installs) on every
SQLAlchemy, other URLs are kept, and the password stays masked in what is printed."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from rnnppo.errors import StorageError
from rnnppo.storage.backend import driver_url, mask_url, open_storage


def test_a_bare_postgresql_url_names_the_psycopg_3_driver():
    url = "postgresql://user:s3cr%40t@db-host:5432/rnnppo?sslmode=require"
    opened = driver_url(url)
    assert opened == "postgresql+psycopg://user:s3cr%40t@db-host:5432/rnnppo?sslmode=require"
    parsed = make_url(opened)
    assert parsed.get_dialect().driver == "psycopg"  # whatever this SQLAlchemy's default for postgresql://
    assert (parsed.username, parsed.password, parsed.host, parsed.database) == ("user", "s3cr@t", "db-host", "rnnppo")
    assert mask_url(opened) == "postgresql+psycopg://user:***@db-host:5432/rnnppo?sslmode=require"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg2://user:pw@host/db",
        "postgresql+psycopg://user:pw@host/db",
        "sqlite:///results/rnnppo.db",
        "mysql+pymysql://user:pw@host/db",
    ],
)
def test_a_url_that_names_its_driver_is_kept(url):
    assert driver_url(url) == url


def test_an_unreachable_postgresql_server_is_a_storage_error_without_the_password():
    with pytest.raises(StorageError) as caught:
        open_storage("postgresql://user:hunter2@127.0.0.1:1/rnnppo", heartbeat=False)
    message = str(caught.value)
    assert "hunter2" not in message
    assert "postgresql://user:***@127.0.0.1:1/rnnppo" in message  # the user's URL, as given
    assert "psycopg2" not in message  # never the driver the extra does not install
