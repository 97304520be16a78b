"""bench._wsbench.Latency: p50/p99/max of samples, its formatters, and the flat JSON keys
the benches' result dataclasses write with it (bench/plot.py and scripts read them)."""

import math

from hypothesis import given
from hypothesis import strategies as st

from bench._wsbench import Latency, flat, percentile
from bench.show import SideResult
from bench.storm_floor import FloorResult


@given(st.lists(st.floats(0, 1e6), max_size=300))
def test_latency_of_samples_is_their_percentiles(samples: list[float]) -> None:
    got = Latency.of(samples)
    if not samples:
        assert math.isnan(got.p50) and math.isnan(got.p99) and math.isnan(got.max)
        return
    assert (got.p50, got.p99, got.max) == (
        percentile(samples, 50),
        percentile(samples, 99),
        max(samples),
    )


def test_latency_formats_as_the_benches_printed() -> None:
    lat = Latency(12.25, 40.5, 81.0)
    assert lat.text() == "p50 12 ms, p99 40 ms, max 81 ms"
    assert lat.text(".1f", ("p50", "p99")) == "p50 12.2 ms, p99 40.5 ms"
    assert lat.columns(">6.1f") == "  12.2  40.5"
    assert lat.text("6.3f", sep="   ", unit="") == "p50 12.250   p99 40.500   max 81.000"


def test_result_json_keys_are_the_flat_ones() -> None:
    side = SideResult("engine", 10, 2, ack=Latency(1.0, 2.0, 3.0))
    keys = list(flat(side))
    assert keys[:11] == [
        "name", "members", "questions", "connected", "gateway_cpu_s", "redis_cpu_s",
        "client_cpu_s", "ack_p50_ms", "ack_p99_ms", "delivery_p50_ms", "delivery_p99_ms",
    ]  # fmt: skip
    assert keys[17:21] == ["join_seconds", "join_p50_ms", "join_p99_ms", "join_max_ms"]
    assert "ack_max_ms" not in keys and flat(side)["ack_p99_ms"] == 2.0
    assert list(flat(FloorResult(members=1, servers=1, client_processes=1))) == [
        "members", "servers", "client_processes", "server_lib", "started", "submitted", "failed",
        "given_up", "admit_p50_ms", "admit_p99_ms", "admit_max_ms", "storm_admit_p99_ms",
        "steady_starts", "steady_admit_p99_ms", "start_p50_ms", "start_p99_ms", "acks",
        "ack_p50_ms", "ack_p99_ms", "steady_acks", "steady_ack_p50_ms", "steady_ack_p99_ms",
        "listen_overflows", "server_cpu_s", "client_cpu_s", "seconds", "load_before",
        "load_after", "errors",
    ]  # fmt: skip
