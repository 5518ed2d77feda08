#!/usr/bin/env python3
"""Writes imgarc-dashboard.json, the Grafana dashboard of an imgarc cluster, to stdout:
    python3 deploy/monitoring/make_dashboard.py > deploy/monitoring/imgarc-dashboard.json
The JSON is what Grafana imports; this script is where it is edited (the test suite
checks that the two agree and that every metric named exists on a live node)."""
import json
DS = {"type": "prometheus", "uid": "${datasource}"}
panels = []
pid = [0]
y = [0]
def row(title):
    pid[0] += 1
    panels.append({"type": "row", "title": title, "id": pid[0], "collapsed": False,
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": y[0]}, "panels": []})
    y[0] += 1
x = [0]
def panel(kind, title, exprs, unit="short", w=6, h=6, desc="", legend="{{instance}}", thresholds=None):
    pid[0] += 1
    if x[0] + w > 24:
        x[0] = 0; y[0] += h
    p = {"type": kind, "title": title, "id": pid[0], "datasource": DS, "description": desc,
         "gridPos": {"h": h, "w": w, "x": x[0], "y": y[0]},
         "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
         "targets": [{"datasource": DS, "expr": e, "legendFormat": legend if kind != "stat" else "", "refId": chr(65 + i)}
                     for i, e in enumerate(exprs)]}
    if thresholds:
        p["fieldConfig"]["defaults"]["thresholds"] = {"mode": "absolute", "steps": thresholds}
        p["fieldConfig"]["defaults"]["color"] = {"mode": "thresholds"}
    panels.append(p)
    x[0] += w
def endrow(h=6):
    x[0] = 0; y[0] += h
RED = [{"color": "green", "value": None}, {"color": "red", "value": 1}]
row("Cluster")
panel("stat", "Members down", ["max(imgarc_cluster_members_down)"], thresholds=RED, w=4, h=4,
      desc="Members that stopped answering the leader (imgarc cluster names them).")
panel("stat", "Nodes leading", ["sum(imgarc_raft_is_leader)"], w=4, h=4,
      thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}, {"color": "red", "value": 2}],
      desc="1 when the cluster has a raft leader; 0 means no writes.")
panel("stat", "Under-replicated blobs", ["max(imgarc_blobs_under_replicated)"], w=4, h=4,
      thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}])
panel("stat", "Lost blobs", ["max(imgarc_blobs_lost)"], w=4, h=4, thresholds=RED)
panel("stat", "Blobs on draining nodes", ["max(imgarc_blobs_on_draining_nodes)"], w=4, h=4)
panel("stat", "Leader changes (1h)", ["max(increase(imgarc_raft_leader_changes_total[1h]))"], w=4, h=4)
endrow(4)
panel("timeseries", "Raft applied index", ["imgarc_raft_applied_index"], w=12,
      desc="Every node's applied index: a node falling behind shows here first.")
panel("timeseries", "Raft commits/s", ["rate(imgarc_raft_commit_index[5m])"], unit="ops", w=12)
endrow()
row("Traffic")
panel("timeseries", "Captures/s", ["sum by (instance) (rate(imgarc_captures_total[5m]))"], unit="ops")
panel("timeseries", "Captured bytes/s", ["sum by (instance) (rate(imgarc_capture_bytes_total[5m]))"], unit="Bps")
panel("timeseries", "Downloads/s", ["sum by (instance) (rate(imgarc_downloads_total[5m]))"], unit="ops")
panel("timeseries", "Downloaded bytes/s", ["sum by (instance) (rate(imgarc_download_bytes_total[5m]))"], unit="Bps")
endrow()
panel("timeseries", "HTTP errors/s", ["sum by (instance) (rate(imgarc_http_responses_5xx_total[5m]))",
                                      "sum by (instance) (rate(imgarc_http_responses_4xx_total[5m]))"],
      unit="ops", legend="{{instance}}", w=8)
panel("timeseries", "Failed captures/s", ["sum by (instance) (rate(imgarc_captures_failed_total[5m]))"], unit="ops", w=8)
panel("timeseries", "Requests in flight", ["imgarc_http_requests_in_flight"], w=8)
endrow()
row("Capacity")
panel("timeseries", "Data disk free", ["imgarc_data_free_bytes / (imgarc_data_capacity_bytes > 0)"], unit="percentunit",
      desc="Free share of each node's data disk; the alert warns below 10%.")
panel("timeseries", "Stored bytes", ["imgarc_blob_bytes"], unit="bytes")
panel("timeseries", "Stored blobs", ["imgarc_blobs_stored"])
panel("stat", "Disk full", ["max(imgarc_disk_full)"], thresholds=RED, desc="1 while a node refuses new files (507).")
endrow()
row("Memory")
panel("timeseries", "Resident memory", ["imgarc_process_rss_bytes"], unit="bytes", w=8)
panel("timeseries", "Raft log in memory", ["imgarc_memory_raft_log_bytes"], unit="bytes", w=8)
panel("timeseries", "RocksDB memtables", ["imgarc_memory_rocksdb_memtables_bytes"], unit="bytes", w=8)
endrow()
row("Tenants")
panel("timeseries", "License: days left", ["min by (tenant) (imgarc_license_expiry_seconds) / 86400"], unit="d", w=12, legend="{{tenant}}")
panel("timeseries", "Quota used", ["max by (tenant) (imgarc_tenant_quota_used_ratio)"], unit="percentunit", w=12, legend="{{tenant}}")
endrow()
row("Copies and integrations")
panel("timeseries", "Repair bytes/s", ["sum by (instance) (rate(imgarc_repair_bytes_total[5m]))"], unit="Bps")
panel("timeseries", "Scrubbed bytes/s", ["sum by (instance) (rate(imgarc_scrub_bytes_total[5m]))"], unit="Bps")
panel("timeseries", "Corrupt copies found (1h)", ["sum(increase(imgarc_scrub_corrupt_total[1h])) + sum(increase(imgarc_corrupt_reads_total[1h]))"])
panel("timeseries", "Webhook deliveries given up (1h)", ["sum(increase(imgarc_webhook_deliveries_failed_total[1h]))"])
endrow()
dash = {
    "title": "imgarc cluster",
    "uid": "imgarc-cluster",
    "description": "An imgarc cluster: members, copies, traffic, capacity, memory, tenants (deploy/monitoring/README.md).",
    "tags": ["imgarc"],
    "timezone": "browser",
    "schemaVersion": 38,
    "version": 1,
    "editable": True,
    "refresh": "30s",
    "time": {"from": "now-6h", "to": "now"},
    "templating": {"list": [{"name": "datasource", "label": "Prometheus", "type": "datasource",
                             "query": "prometheus", "current": {}, "hide": 0}]},
    "annotations": {"list": []},
    "panels": panels,
}
print(json.dumps(dash, indent=2, ensure_ascii=False))
