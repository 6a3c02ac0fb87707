"""Close runs left RUNNING by a process that died without cleanup (SIGKILL, power loss).

Every run is tagged with the host and process id that owns it. A RUNNING run
of this host whose process no longer exists is stale. Runs of other hosts are
only touched with ``all_hosts`` and an age (time since their last update),
since their process cannot be checked from here.
"""
from __future__ import annotations

import os
import socket
import time

HOST_TAG = "recsys_neg.host"
PID_TAG = "recsys_neg.pid"


def owner_tags() -> dict[str, str]:
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _last_update_ms(client, run) -> int:
    # the newest metric timestamp, else the start time
    latest = run.info.start_time or 0
    for key in run.data.metrics:
        for m in client.get_metric_history(run.info.run_id, key)[-1:]:
            latest = max(latest, m.timestamp)
    return latest


def stale_runs(client, experiment_ids: list[str], all_hosts: bool = False,
               older_than_s: float | None = None) -> list:
    """RUNNING runs whose owner is gone (this host) or that are older than ``older_than_s``."""
    host, now_ms = socket.gethostname(), time.time() * 1000
    runs = client.search_runs(experiment_ids, filter_string="attributes.status = 'RUNNING'",
                              max_results=5000)
    out = []
    for run in runs:
        tags = run.data.tags
        pid = tags.get(PID_TAG)
        if tags.get(HOST_TAG) == host and pid and pid.isdigit():
            dead = not process_alive(int(pid))
        elif all_hosts and older_than_s is not None:
            dead = now_ms - _last_update_ms(client, run) > older_than_s * 1000
        else:
            continue
        if dead:
            out.append(run)
    return out


def repair_stale_runs(client, experiment_ids: list[str], all_hosts: bool = False,
                      older_than_s: float | None = None) -> list[str]:
    """Mark stale RUNNING runs FAILED (tagged ``recsys_neg.repaired``); returns their ids."""
    from mlflow.entities import RunTag

    fixed = []
    for run in stale_runs(client, experiment_ids, all_hosts, older_than_s):
        rid = run.info.run_id
        client.log_batch(rid, tags=[RunTag("recsys_neg.repaired", "process died while RUNNING")])
        client.set_terminated(rid, status="FAILED")
        fixed.append(rid)
    return fixed
