"""One study, one MLflow parent run, however many ``recsys-neg tune`` processes start together.

The process whose ``create_study`` call creates the study (the storage's unique
study name makes exactly one succeed) creates the parent run and records its id
in the study's user attributes. Every other process, started at the same time
or later, waits for that id and nests its trials under it. A study that exists
without a parent (searched earlier with tracking off) gets one by the same
write-then-read-back rule, so concurrent claimers converge on one run and the
others delete theirs.
"""
from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)
PARENT_ATTR = "mlflow_parent_run_id"


def _safe_url(url: str) -> str:
    """A storage URL without its password, fit for a tag."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a SQLAlchemy URL: keep the host part only
        return url.split("@")[-1]


def parent_run(study, created: bool, tracker, params: dict, storage: str, wait_s: float = 10.0,
               settle_s: float = 1.0) -> str:
    """The study's parent run id, opened (RUNNING) in ``tracker``."""
    name = study.study_name
    tags = {"optuna.study": name, "optuna.storage": _safe_url(storage), "kind": "optuna_study"}
    run_id = study.user_attrs.get(PARENT_ATTR)
    if run_id is None and created:
        tracker.start(f"study-{name}", params, tags)
        study.set_user_attr(PARENT_ATTR, tracker.run_id)
        return tracker.run_id
    # An empty study without a parent was most likely created a moment ago by a process that is
    # writing the parent now; a study with trials was created earlier without one: claim at once.
    fresh = run_id is None and not study.get_trials(deepcopy=False)
    deadline = time.monotonic() + (wait_s if fresh else 0)
    while run_id is None and time.monotonic() < deadline:
        time.sleep(0.25)
        run_id = _reload(study).user_attrs.get(PARENT_ATTR)
    if run_id is not None:
        try:
            tracker.resume(run_id)
            return run_id
        except Exception:  # noqa: BLE001 - the study outlived its MLflow store
            log.warning("parent run %s not found in %s; creating a new one", run_id, tracker.uri)
    tracker.start(f"study-{name}", params, tags)
    mine = tracker.run_id
    study.set_user_attr(PARENT_ATTR, mine)
    time.sleep(settle_s)  # let concurrent claimers write; the last write wins for everyone
    winner = _reload(study).user_attrs.get(PARENT_ATTR)
    if winner != mine:
        tracker.client.delete_run(mine)
        tracker.resume(winner)
    return winner


def _reload(study):
    import optuna

    return optuna.load_study(study_name=study.study_name, storage=study._storage)
