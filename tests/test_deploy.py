"""deploy/: the systemd units, the environment file, the Prometheus configuration and the
Grafana dashboard, checked mechanically.

* the units pass ``systemd-analyze verify`` (with ExecStart pointed at this machine's
  ``contest`` and ``redis-server``, the only lines that name an install path);
* every variable of the environment example is a setting, and ``contest serve`` started
  with that file (ports, Redis and data folder replaced by a test's own) becomes ready;
* prometheus.yml and the alert rules pass ``promtool check``, and so does every PromQL
  expression of the dashboard (written into a rules file for the check);
* every metric name the dashboard and the rules use is one a real ``contest serve`` exports
  at ``/metrics``, scraped over HTTP.

``systemd-analyze`` and ``promtool`` checks are skipped, saying so, where the tool is absent
(``apt-get install systemd``; promtool is in Debian's ``prometheus`` package).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.core.settings import ENV_PREFIX, Settings
from loadtest import deploy

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
DASHBOARD = DEPLOY / "grafana" / "contest-engine.json"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"
RULES = DEPLOY / "prometheus" / "contest-rules.yml"
ENV_EXAMPLE = DEPLOY / "contest.env.example"

METRIC = re.compile(r"\b((?:contest|process|python)_[a-z0-9_]+|up)\b(?!\s*\()")
"""A metric name in a PromQL expression (not a function such as ``histogram_quantile(``)."""
LABEL_MATCHER = re.compile(r"\{[^}]*\}")


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed here")
    return found


def dashboard_exprs() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in board["panels"] for t in p.get("targets", [])]


def rule_exprs() -> list[str]:
    rules = yaml.safe_load(RULES.read_text())
    return [str(r["expr"]) for g in rules["groups"] for r in g["rules"]]


def metric_names(expr: str) -> set[str]:
    """The metric names *expr* selects (label matchers and their quoted values removed)."""
    bare = LABEL_MATCHER.sub("", expr)
    bare = re.sub(r"\b(?:by|without)\s*\([^)]*\)", "", bare)
    return set(METRIC.findall(bare))


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


# -- systemd units


def test_units_exist_for_the_gateway_and_redis_nodes() -> None:
    assert [u.name for u in UNITS] == ["contest-redis@.service", "contest-serve.service"]


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_unit_passes_systemd_analyze_verify(unit: Path, tmp_path: Path) -> None:
    analyze = _tool("systemd-analyze")
    redis_server = shutil.which("redis-server") or pytest.skip("no redis-server")
    contest = deploy.contest_cli()[0]
    text = unit.read_text()
    assert "/opt/contest/.venv/bin/contest" in text or "/usr/bin/redis-server" in text
    text = text.replace("/opt/contest/.venv/bin/contest", contest)
    text = text.replace("/usr/bin/redis-server", str(redis_server))
    name = unit.name.replace("@.", "@7001.")  # a template is verified as an instance
    (tmp_path / unit.name).write_text(text)
    if name != unit.name:
        (tmp_path / name).symlink_to(tmp_path / unit.name)
    done = subprocess.run(
        [analyze, "verify", str(tmp_path / name)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
    )
    problems = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        # verify also checks units this one names that this box does not have
        # (network-online.target in a container) and the Documentation= URL's scheme.
        if line.strip() and "network-online.target" not in line
    ]
    assert done.returncode == 0 and not problems, problems


def test_serve_unit_runs_contest_serve_with_the_environment_file() -> None:
    text = (DEPLOY / "systemd" / "contest-serve.service").read_text()
    service = text.split("[Service]", 1)[1].split("[Install]", 1)[0]
    lines = dict(
        line.split("=", 1) for line in service.splitlines() if "=" in line and line[0] != "#"
    )
    assert lines["ExecStart"] == "/opt/contest/.venv/bin/contest serve"
    assert lines["EnvironmentFile"] == "/etc/contest/contest.env"
    assert lines["KillMode"] == "mixed"  # SIGTERM to serve, which stops its children
    assert int(lines["LimitNOFILE"]) >= int(env_example()["CONTEST_MAX_CONNECTIONS"]) + 200


# -- the environment file


def test_every_variable_of_the_env_example_is_a_setting() -> None:
    settings = {ENV_PREFIX + name.upper() for name in Settings.__struct_fields__}
    values = env_example()
    assert values, "no variables in the example"
    assert set(values) <= settings, set(values) - settings


def test_contest_serve_starts_with_the_env_example(redis_url: str, tmp_path: Path) -> None:
    """The example file's values load (a wrong type exits 2) and serve becomes ready with
    them; only where to listen, which Redis and the data folder are this test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env.update(env_example())
    env.update(
        {
            "CONTEST_HOST": "127.0.0.1",
            "CONTEST_WS_PORT": str(deploy._free_port()),
            "CONTEST_HTTP_PORT": str(deploy._free_port()),
            "CONTEST_REDIS_URL": redis_url,
            "CONTEST_DATA_DIR": str(tmp_path),
            "CONTEST_WORKERS": "2",
        }
    )
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [*deploy.contest_cli(), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deploy._wait_ready(f"http://127.0.0.1:{env['CONTEST_HTTP_PORT']}", process, 60)
    finally:
        process.terminate()
        code = process.wait(30)
        log.close()
    output = (tmp_path / "serve.log").read_text()
    assert code == 0, output
    assert "2 worker(s)" in output


# -- Prometheus and Grafana


def test_prometheus_config_and_rules_pass_promtool() -> None:
    promtool = _tool("promtool")
    done = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 rule files found" in done.stdout


def test_dashboard_is_grafana_json_with_queries() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] == "contest-engine"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    graphs = [p for p in board["panels"] if p["type"] != "row"]
    assert graphs and all(p["targets"] and p["gridPos"]["w"] <= 24 for p in graphs)
    titles = " ".join(p["title"] for p in graphs).lower()
    for topic in ("members online", "answers accepted", "broadcast latency", "redis", "scheduler"):
        assert topic in titles, topic


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses every expression: they go into a rules file as recording rules."""
    promtool = _tool("promtool")
    rules: dict[str, Any] = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": expr}
                    for i, expr in enumerate(dashboard_exprs())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_metric_names_are_read_from_expressions() -> None:
    expr = (
        "histogram_quantile(0.99, sum by (le, kind) "
        '(rate(contest_broadcast_seconds_bucket{kind="question",op="x_total"}[1m])))'
    )
    assert metric_names(expr) == {"contest_broadcast_seconds_bucket"}
    assert metric_names('up{job="contest"} == 0') == {"up"}


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text: str = response.read().decode()
        return text


def _sample_names(text: str) -> set[str]:
    """Every series name in an exposition, from its samples and its TYPE lines (a labelled
    metric with no sample yet still has its family's TYPE line), with the names PromQL sees
    for a histogram (_bucket, _sum, _count) and a counter (_total)."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            base = name.removesuffix("_total")
            if kind == "histogram":
                names.update({base + "_bucket", base + "_sum", base + "_count"})
            elif kind == "counter":
                names.add(base + "_total")
            else:
                names.add(name)
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def test_every_metric_the_dashboard_and_rules_use_is_exported() -> None:
    """Scrape a real ``contest serve`` (one worker: every family is listed, sampled or not)
    after a readiness check, and look up each name the dashboard and the alert rules use."""
    wanted = set().union(*(metric_names(e) for e in dashboard_exprs() + rule_exprs()))
    wanted.discard("up")  # Prometheus's own series for each target
    assert len(wanted) >= 15
    with deploy.serve(workers=1) as target:
        with urllib.request.urlopen(target.http_url + "/readyz", timeout=10) as response:
            assert response.status == 200
        text = _scrape(target.http_url)
    exported = _sample_names(text)
    assert wanted <= exported, sorted(wanted - exported)
    # The label values the panels select are recorded: op="ping" by /readyz.
    assert re.search(r'contest_redis_seconds_bucket\{[^}]*op="ping"', text)


def test_several_workers_export_the_same_metric_families() -> None:
    """With ``--workers 2`` (PROMETHEUS_MULTIPROC_DIR) a worker's /metrics adds up both
    workers; what it lists is a subset of the names one worker exports."""
    with deploy.serve(workers=1) as one:
        single = _sample_names(_scrape(one.http_url))
    with deploy.serve(workers=2) as two:
        target = two.http_url
        for _ in range(4):  # requests spread over both workers (SO_REUSEPORT)
            urllib.request.urlopen(target + "/healthz", timeout=10).close()
        text = _scrape(target)
    multi = _sample_names(text)
    assert "contest_http_requests_total" in multi
    assert {n for n in multi if n.startswith("contest_")} <= single
    served = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("contest_http_requests_total{") and 'route="/healthz"' in line
    )
    assert served >= 4
