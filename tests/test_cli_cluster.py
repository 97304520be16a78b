"""The ``contest`` subcommands that use Redis, on a real 3-node Redis Cluster.

The same tests as on one Redis (banks, organisations and keys, units, a 23-week campaign,
results, the audit stream; not ``contest contest`` from a file, whose test runs the
executable a dozen times, ~25 s, for what the store's tests on the cluster already cover),
collected with ``redis_url`` set to the cluster's ``redis+cluster://`` URL and the clients
the tests check with made by :func:`engine.runtime.redisconn.connect`. One cluster for the
module; each test has its own key prefix.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.runtime.redisconn import SyncRedis, connect_sync
from tests import cluster as cluster_support
from tests.test_cli_audit import test_audit_lists_every_accepted_answer
from tests.test_cli_bank import (
    bad,
    good,
    redis_args,
    test_import_list_show_export,
    test_orgs_and_keys,
    test_redis_command_errors,
    test_template_and_xlsx_import,
    test_units_import,
    test_units_import_refuses_digits_that_are_not_ascii_with_their_line,
)
from tests.test_cli_campaign import test_a_23_week_campaign_from_the_command_line
from tests.test_cli_results import test_results

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

cluster_nodes = cluster_support.cluster_nodes

__all__ = [
    "bad",
    "good",
    "redis_args",
    "test_a_23_week_campaign_from_the_command_line",
    "test_audit_lists_every_accepted_answer",
    "test_import_list_show_export",
    "test_orgs_and_keys",
    "test_redis_command_errors",
    "test_results",
    "test_template_and_xlsx_import",
    "test_units_import",
    "test_units_import_refuses_digits_that_are_not_ascii_with_their_line",
]


redis_url = cluster_support.engine_url
redis_client = cluster_support.engine_client


@pytest.fixture
def redis_sync(redis_url: str) -> Iterator[SyncRedis]:
    client = connect_sync(redis_url)
    try:
        yield client
    finally:
        client.close()
