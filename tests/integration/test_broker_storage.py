"""The local broker's storage, measured (bench/broker_storage.py): in memory a SIGKILL loses
the log; on `s3://` the log outlives the broker, for as long as the S3 server keeps it
(moto's server here, a dev dependency: it keeps its objects in memory)."""

from __future__ import annotations

import pytest

from bench.broker_storage import measure

pytestmark = pytest.mark.integration


def test_the_log_outlives_the_broker_only_in_s3() -> None:
    result = measure(300, kinds=("memory", "moto"))
    assert result["memory"]["consumed"] == result["moto"]["consumed"] == 300
    assert result["memory"]["kept_after_broker_sigkill"] == 0
    assert result["moto"]["kept_after_broker_sigkill"] == 300
    assert result["moto"]["produce_per_s"] > 0 and result["moto"]["consume_per_s"] > 0
