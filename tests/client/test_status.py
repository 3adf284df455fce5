"""`trireme status` with regions: the link's pairs and one row per replica
table and region pair, its lag shown only once replication reports one."""

from __future__ import annotations

from client.status import render, render_regions, render_replication, replication, replication_lag


def region_report(tables: dict, lag: dict | None = None) -> dict:
    report = {"cluster_id": "c1", "endpoint": "http://127.0.0.1:8000", "nodes": {},
              "meta": {"version": 3, "nodes": {}, "partitions": {}, "tables": tables}}
    if lag is not None:
        report["replication_lag"] = lag
    return report


def table_meta(name: str, replicas: list[dict]) -> dict:
    return {"name": name, "id": 1, "status": "ACTIVE", "partitions": [], "spec": {}, "replicas": replicas}


def test_replica_tables_per_region_pair_with_lag_only_when_measured():
    reports = {
        "us-east-1": region_report({"orders": table_meta("orders", [{"region": "eu-west-1", "status": "ACTIVE"}]),
                                    "local": table_meta("local", [])}),
        "eu-west-1": region_report({"orders": table_meta("orders", [{"region": "us-east-1", "status": "ACTIVE"}])},
                                   lag={"orders": {"us-east-1": 0.25}}),
    }
    rows = replication(reports)
    assert rows == [
        {"table": "orders", "region": "eu-west-1", "replica": "us-east-1", "status": "ACTIVE", "lag_s": 0.25},
        {"table": "orders", "region": "us-east-1", "replica": "eu-west-1", "status": "ACTIVE", "lag_s": None}]
    link = {"pairs": [{"src": "us-east-1", "dst": "eu-west-1", "port": 8101, "target": "127.0.0.1:8001",
                       "latency_ms": 30.0, "cut": True}]}
    text = render_regions({"regions": reports, "link": link, "replication": rows})
    assert "=== region us-east-1: http://127.0.0.1:8000" in text
    assert "8101" in text and "30 ms" in text and "CUT" in text
    assert "250 ms" in text and "not measured" in text
    strong = {**table_meta("acct", [{"region": "eu-west-1", "status": "ACTIVE"}]), "consistency": "STRONG"}
    strong_rows = replication({"us-east-1": region_report({"acct": strong})})
    assert strong_rows[0]["strong"] is True and "strong (one log)" in render_replication(strong_rows)
    down = render_regions({"regions": {"us-east-1": region_report({})}, "replication": [],
                           "link": {"error": "the link does not answer"}})
    assert "the link does not answer" in down and "no replica tables" in down


def test_a_replicas_lag_is_the_largest_its_partition_leaders_report():
    answers = [{"node": "n1", "region": "us-east-1", "replication": [
                   {"table": "orders", "region": "eu-west-1", "lag_ms": 1500, "partitions": 2},
                   {"table": "orders", "region": "ap-south-1", "lag_ms": 0, "partitions": 2}]},
               {"node": "n2", "region": "us-east-1", "replication": [
                   {"table": "orders", "region": "eu-west-1", "lag_ms": 4000, "partitions": 1}]},
               {"node": "n3", "region": "us-east-1", "replication": []}]
    assert replication_lag(answers) == {"orders": {"eu-west-1": 4.0, "ap-south-1": 0.0}}


def test_one_regions_status_lists_its_replica_tables_and_their_lag():
    report = region_report({"orders": table_meta("orders", [{"region": "eu-west-1", "status": "CREATING"}])},
                           lag={"orders": {"eu-west-1": 0.04}})
    report["replication"] = replication({"us-east-1": report})
    text = render(report)
    assert "REPLICATION LAG" in text and "eu-west-1" in text and "CREATING" in text and "40 ms" in text
    assert "REPLICATION LAG" not in render(region_report({"local": table_meta("local", [])}))


def test_status_shows_each_tables_capacity_consumption_and_auto_scaling():
    orders = {**table_meta("orders", []), "spec": {"BillingMode": "PROVISIONED", "ProvisionedThroughput": {
        "ReadCapacityUnits": 10, "WriteCapacityUnits": 5}},
        "consumed": {"read_units_per_s": 2.5, "write_units_per_s": 4.0, "throttled_read_units_total": 0,
                     "throttled_write_units_total": 12}}
    events = {**table_meta("events", []), "spec": {"BillingMode": "PAY_PER_REQUEST"}}
    report = region_report({"orders": orders, "events": events})
    report["meta"]["scaling"] = {"targets": {"table/orders|dynamodb:table:WriteCapacityUnits": {
        "ScalableDimension": "dynamodb:table:WriteCapacityUnits", "MinCapacity": 5, "MaxCapacity": 50}}}
    text = render(report)
    row = next(line for line in text.splitlines() if line.startswith("orders") and "provisioned" in line)
    assert "10/5" in row and "2.5/4.0" in row and "0/12" in row and "write 5-50" in row
    assert any(line.startswith("events") and "on-demand" in line for line in text.splitlines())
