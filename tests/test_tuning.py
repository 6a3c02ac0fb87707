"""Optuna search: schema, conditional space, pruning, best pipeline, resume, parallel workers."""
import shutil

import optuna
import pytest
import yaml
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from recsys_neg.config import config_from_dict, load_config, parse_override
from recsys_neg.errors import ConfigError
from recsys_neg.metric_key import MetricKey
from recsys_neg.tracking.mlflow_tracker import MLflowTracker
from recsys_neg.tuning.config import TuningConfig
from recsys_neg.tuning.objective import PruningHook, best_value
from recsys_neg.tuning.space import draw, format_override
from recsys_neg.tuning.storage import make_pruner, open_study
from recsys_neg.tuning.study import split_trials, tune, tuning_config

R20 = MetricKey("recall", 20)

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = {
    "sampler.num_negatives": {"type": "int", "low": 1, "high": 16, "log": True},
    "train.lr": {"type": "float", "low": 1.0e-4, "high": 0.05, "log": True},
    "sampler.name": {"type": "categorical", "choices": ["uniform"]},
    "model.name": {"type": "categorical", "choices": ["mf", "lightgcn"]},
    "model.num_layers": {"type": "int", "low": 1, "high": 2, "when": {"model.name": "lightgcn"}},
}


def pipeline(tmp_path, space=SPACE, **tuning):
    raw = {
        "name": "tiny",
        "data": {"source": {"source": "synthetic", "n_users": 100, "n_items": 80, "seed": 2}},
        "model": {"name": "mf", "embedding_dim": 8},
        "sampler": {"name": "uniform"}, "loss": {"name": "bpr"},
        "train": {"epochs": 2, "batch_size": 512, "lr": 0.01, "progress": False, "threads": 1},
        "eval": {"ks": [5, 20], "metrics": ["recall", "ndcg"]},
        "tracking": {"experiment": "tiny", "plots": False, "log_checkpoint": False},  # tested elsewhere
        "output_dir": str(tmp_path / "runs"),
        "tuning": {"startup_trials": 1, "warmup_epochs": 0, "seed": 0, "space": space, **tuning},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def store_template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("store")
    MLflowTracker(f"sqlite:///{folder / 'mlruns.db'}", "warmup")
    return folder / "mlruns.db"


@pytest.fixture
def stores(store_template, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(store_template, tmp_path / "mlruns.db")
    return f"sqlite:///{tmp_path / 'mlruns.db'}", f"sqlite:///{tmp_path / 'optuna.db'}"


@pytest.mark.parametrize("spec, message", [
    ({"a.b": {"type": "int", "low": 0, "high": 5, "log": True}}, "low > 0"),
    ({"a.b": {"type": "categorical"}}, "choices"),
    ({"a.b": {"type": "int", "low": 1.5, "high": 5}}, "integer"),
    ({"a.b": {"type": "float", "low": 2, "high": 1}}, "must not exceed"),
    ({"x.y": {"type": "float", "low": 0, "high": 1, "when": {"s.name": "p"}},
      "s.name": {"type": "categorical", "choices": ["p"]}}, "declared above"),
    ({"s.name": {"type": "categorical", "choices": ["p"]},
      "x.y": {"type": "float", "low": 0, "high": 1, "when": {"s.name": "q"}}}, "not among the choices"),
    ({"a.b": {"type": "float", "low": 0, "high": 1, "bogus": 1}}, "bogus"),
])
def test_tuning_section_is_validated_with_its_path(spec, message):
    with pytest.raises(ConfigError) as err:
        tuning_config(config_from_dict({"tuning": {"space": spec}}), "p.yaml")
    assert "tuning.space" in str(err.value) and message in str(err.value)


@pytest.mark.parametrize("value", [1e-05, 0.001, 3, "popularity", True, "yes", "1e-3", 2.5e12])
def test_overrides_round_trip_through_set_parsing(value):
    path, parsed = parse_override(format_override("train.lr", value))
    assert path == ["train", "lr"] and parsed == value and type(parsed) is type(value)


def test_conditional_parameters_are_drawn_only_when_their_condition_holds():
    space = TuningConfig.model_validate({"space": SPACE}).space
    seen = {"mf": 0, "lightgcn": 0}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(30):
        trial = study.ask()
        values = draw(trial, space)
        seen[values["model.name"]] += 1
        assert ("model.num_layers" in values) == (values["model.name"] == "lightgcn")
        assert 1 <= values["sampler.num_negatives"] <= 16
        study.tell(trial, 0.0)
    assert seen["mf"] and seen["lightgcn"]


def test_pruning_hook_stops_a_trial_below_the_median():
    study = optuna.create_study(direction="maximize",
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0))
    good = study.ask()
    for epoch in (1, 2):
        PruningHook(good, R20).epoch_end(epoch, {"valid_recall@20": 0.5})
    study.tell(good, 0.5)
    bad = study.ask()
    hook = PruningHook(bad, R20)
    hook.epoch_end(1, {"train_loss": 1.0})  # an epoch without validation reports nothing
    with pytest.raises(optuna.TrialPruned):
        hook.epoch_end(1, {"valid_recall@20": 0.1})
    assert bad.storage.get_trial(bad._trial_id).intermediate_values == {1: 0.1}


def test_warmup_epochs_are_never_pruned():
    tuning = TuningConfig.model_validate({"space": SPACE, "warmup_epochs": 2, "startup_trials": 1})
    study = optuna.create_study(direction="maximize", pruner=make_pruner(tuning))
    first = study.ask()
    for epoch in (1, 2, 3):
        first.report(0.9, epoch)
    study.tell(first, 0.9)
    poor = study.ask()
    pruned_at = []
    for epoch in (1, 2, 3):
        poor.report(0.1, epoch)
        if poor.should_prune():
            pruned_at.append(epoch)
    assert pruned_at == [3]


def test_objective_is_the_best_validation_value_not_the_last():
    hist = [{"valid_recall@20": 0.2}, {"train_loss": 1.0}, {"valid_recall@20": 0.3}, {"valid_recall@20": 0.25}]
    assert best_value(hist, R20, "maximize") == 0.3
    assert best_value(hist, R20, "minimize") == 0.2


def test_split_trials_is_exact():
    for n, w in [(4, 2), (10, 3), (2, 4), (1, 1)]:
        quotas = split_trials(n, w)
        assert sum(quotas) == n and len(quotas) <= w and max(quotas) - min(quotas) <= 1


FAST_SPACE = {
    "train.lr": {"type": "float", "low": 1.0e-6, "high": 0.05, "log": True},
    "sampler.num_negatives": {"type": "int", "low": 1, "high": 4},
}


def test_tune_prunes_writes_a_loadable_best_pipeline_and_resumes(stores, tmp_path):
    mlflow_uri, storage = stores
    path = pipeline(tmp_path, FAST_SPACE)
    # queued first trials make the pruning certain: a near-zero learning rate stays at chance level
    tuning = tuning_config(load_config(path), str(path))
    queued, _ = open_study("tiny", storage, tuning)
    for lr in (0.05, 1.0e-6):
        queued.enqueue_trial({"train.lr": lr, "sampler.num_negatives": 2})
    best_out = tmp_path / "tiny_best.yaml"
    res = tune(path, 4, storage=storage, tracking_uri=mlflow_uri, best_out=best_out)
    study = optuna.load_study(study_name="tiny", storage=storage)
    assert len(study.trials) == 4 and sum(res.counts.values()) == 4
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials)
    assert study.trials[1].state == TrialState.PRUNED
    # the value is the best validation value the trial reached
    for t in study.trials:
        if t.state == TrialState.COMPLETE:
            assert t.value == pytest.approx(max(t.intermediate_values.values()))
    best = load_config(best_out)
    assert best.tuning is None and res.best_file == best_out
    assert best.train.lr == pytest.approx(study.best_params["train.lr"])
    assert best.sampler.num_negatives == study.best_params["sampler.num_negatives"]
    assert {p.name for p in res.plots} >= {"tiny_optimization_history.png"}
    # nested MLflow runs under the study's run
    client = MlflowClient(mlflow_uri)
    exp = client.get_experiment_by_name("tiny").experiment_id
    parent = client.get_run(res.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["optuna.study"] == "tiny"
    children = client.search_runs([exp], f"tags.mlflow.parentRunId = '{res.parent_run_id}'")
    assert sorted(int(r.data.tags["optuna.trial"]) for r in children) == [0, 1, 2, 3]
    states = {r.data.tags["optuna.trial"]: (r.info.status, r.data.tags["optuna.state"]) for r in children}
    for t in study.trials:
        expected = ("KILLED", "PRUNED") if t.state == TrialState.PRUNED else ("FINISHED", "COMPLETE")
        assert states[str(t.number)] == expected
    assert not any("test_recall_at_20" in r.data.metrics for r in children)  # never test in a trial
    artifacts = {a.path for a in client.list_artifacts(res.parent_run_id)}
    assert "tiny_best.yaml" in artifacts and "tiny_optimization_history.png" in artifacts
    # resuming adds trials to the same study and the same parent run
    again = tune(path, 2, storage=storage, tracking_uri=mlflow_uri, best_out=best_out)
    study = optuna.load_study(study_name="tiny", storage=storage)
    assert sorted(t.number for t in study.trials) == list(range(6))
    assert again.parent_run_id == res.parent_run_id


def test_an_invalid_combination_fails_the_trial_not_the_study(stores, tmp_path):
    mlflow_uri, storage = stores
    space = {"train.batch_size": {"type": "int", "low": -3, "high": 0}}  # never valid
    path = pipeline(tmp_path, space)
    res = tune(path, 2, storage=storage, tracking_uri=mlflow_uri, best_out=tmp_path / "b.yaml")
    assert res.counts == {"FAIL": 2} and res.best_file is None
    study = optuna.load_study(study_name="tiny", storage=storage)
    assert all("train.batch_size" in t.user_attrs["error"] for t in study.trials)
    client = MlflowClient(mlflow_uri)
    exp = client.get_experiment_by_name("tiny").experiment_id
    assert len(client.search_runs([exp])) == 1  # only the study's run: no trial got as far as a run


def test_tune_refuses_a_pipeline_without_validation_split(stores, tmp_path):
    path = pipeline(tmp_path)
    with pytest.raises(ConfigError, match="merge_valid"):
        tune(path, 1, overrides=["data.merge_valid=true"], storage=stores[1], tracking_uri=stores[0])
    with pytest.raises(ConfigError, match="tuning.metric"):
        tune(path, 1, overrides=["tuning.metric=map@20"], storage=stores[1], tracking_uri=stores[0])


def test_two_worker_processes_share_one_study(stores, tmp_path):
    mlflow_uri, storage = stores
    path = pipeline(tmp_path, FAST_SPACE, pruner="none")
    res = tune(path, 4, storage=storage, workers=2, tracking_uri=mlflow_uri, best_out=tmp_path / "b.yaml")
    study = optuna.load_study(study_name="tiny", storage=storage)
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    run_ids = [t.user_attrs["mlflow_run_id"] for t in study.trials]
    assert len(set(run_ids)) == 4
    client = MlflowClient(mlflow_uri)
    exp = client.get_experiment_by_name("tiny").experiment_id
    children = client.search_runs([exp], f"tags.mlflow.parentRunId = '{res.parent_run_id}'")
    assert sorted(r.info.run_id for r in children) == sorted(run_ids)
    assert len({r.data.tags["recsys_neg.pid"] for r in children}) == 2  # really two processes
