"""The engine's end-to-end tests again, on a real 3-node Redis Cluster.

The same test functions as on one Redis (a whole live show, one with its members on three
shards (each shard's keys on its own primary), a whole window round, members
split over two ``contest serve`` processes, the conductor's process killed mid-show and the
show taken over, the HTTP API's contest lifecycle, statistics and results; the bank upload
tests run on the cluster in tests/test_engine_cluster.py), collected here with
``redis_url`` and ``redis_client`` pointing at the cluster (``redis+cluster://...``), so
every part of the engine runs on ``RedisCluster``: sharded pub/sub for broadcasts, each
contest on its own slot, organisations and banks on theirs. One cluster for the module;
each test has its own key prefix. Skipped, with the reason, where no cluster can start.
"""

from __future__ import annotations

import pytest

from tests import cluster as cluster_support
from tests.test_e2e_live import test_whole_live_show, test_whole_live_show_on_three_shards
from tests.test_e2e_processes import (
    test_killing_the_conductors_process_mid_show,
    test_two_processes_members_split_see_the_same_show,
)
from tests.test_e2e_window import test_whole_window_round
from tests.test_http_contests import (
    api,
    test_finalize_and_results,
    test_lifecycle_actions,
    test_public_contest_information,
    test_stats_and_leaderboards,
)

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

cluster_nodes = cluster_support.cluster_nodes

__all__ = [
    "api",
    "test_finalize_and_results",
    "test_killing_the_conductors_process_mid_show",
    "test_lifecycle_actions",
    "test_public_contest_information",
    "test_stats_and_leaderboards",
    "test_two_processes_members_split_see_the_same_show",
    "test_whole_live_show",
    "test_whole_live_show_on_three_shards",
    "test_whole_window_round",
]


redis_url = cluster_support.engine_url
redis_client = cluster_support.engine_client
