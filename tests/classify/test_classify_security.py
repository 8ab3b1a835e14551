"""Issue 16: pipeline files cannot name arbitrary callables; model files cannot run code."""

import io
import json
import math
import pickle
import sys
import warnings
import zipfile

import joblib
import numpy as np
import pytest
import skops.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.ensemble import (
    AdaBoostClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from geo.classify import (
    ESTIMATORS,
    build_estimator,
    check_estimator,
    check_estimator_params,
    models,
)
from geo.classify import estimators as est_module
from geo.classify.models import load_model, save_model, sidecar_path
from geo.errors import GeoError, InvalidParameterError, ModelFileError
from geo.prospectivity.modelling import fit_prospectivity

ALLOWED = est_module._CLASSES
NAMES = ["f1", "f2", "f3"]
PAYLOAD = "open({marker!r}, 'w').write('pwned')"


def _data(n_classes=3, n=60):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, 3)).astype("float32")
    y = np.arange(n) % n_classes + 1
    X[:, 0] += y  # learnable
    return X, y


SMALL = {
    "RandomForestClassifier": {"n_estimators": 5},
    "ExtraTreesClassifier": {"n_estimators": 5},
    "GradientBoostingClassifier": {"n_estimators": 5},
    "HistGradientBoostingClassifier": {"max_iter": 5},
    "AdaBoostClassifier": {"n_estimators": 5},
    "MLPClassifier": {"hidden_layer_sizes": [5], "max_iter": 50},
    "KNeighborsClassifier": {"n_neighbors": 3},
}


def _fitted(name="RandomForestClassifier", n_classes=3, **params):
    X, y = _data(n_classes)
    model = build_estimator(name, {**SMALL.get(name, {}), **params}, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, y), X, y


def _saved(tmp_path, model, name="model.skops"):
    return save_model(model, tmp_path / name, feature_names=NAMES, classes=model.classes_)


def _one_line(exc_info):
    message = str(exc_info.value)
    assert "\n" not in message and message
    return message


# ---- allow-list of estimator classes --------------------------------------------------


def test_both_spellings_name_the_same_class():
    for cls in ALLOWED:
        module = {v: k for k, vs in est_module._PUBLIC.items() for v in vs}[cls]
        assert ESTIMATORS[cls.__name__] is cls
        assert ESTIMATORS[f"{module}.{cls.__name__}"] is cls
    assert ESTIMATORS["sklearn.ensemble.RandomForestClassifier"] is RandomForestClassifier
    assert all(hasattr(cls, "predict_proba") for cls in ALLOWED)


HOSTILE_NAMES = [
    "sklearn.datasets.clear_data_home",
    "sklearn.datasets.fetch_openml",
    "sklearn.datasets.fetch_california_housing",
    "os.system",
    "builtins.eval",
    "subprocess.Popen",
    "sklearn.ensemble.RandomForestClassifier.__init__",
    "sklearn.utils._joblib.joblib.load",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.pipeline.Pipeline",
    "sklearn.ensemble.RandomForestRegressor",
    "randomforestclassifier",
    " RandomForestClassifier",
    "",
    "RandomForestClassifier; rm -rf /",
    "RandomForestClassifier\nimport os",
    None,
    42,
    ["RandomForestClassifier"],
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_class_names_are_refused(name):
    before = set(sys.modules)
    with pytest.raises(InvalidParameterError) as err:
        check_estimator(name, {})
    message = _one_line(err)
    assert message.startswith("classifier.estimator.class: ")
    assert (
        "is not an allowed estimator; use one of RandomForestClassifier, ExtraTreesClassifier"
        in message
    )
    with pytest.raises(InvalidParameterError):
        build_estimator(name, {}, seed=0)
    assert set(sys.modules) == before  # nothing was imported by name


HOSTILE_PARAMS = [
    (
        {"data_home": "/nonexistent/geo-test-canary"},
        r"params\.data_home: RandomForestClassifier has no parameter 'data_home'; its parameters are bootstrap, ccp_alpha",
    ),
    (
        {"n_estimators": "10; import os"},
        r"params\.n_estimators: expected an integer number from 1 to 5000",
    ),
    (
        {"estimator": {"class": "os.system"}},
        r"params\.estimator: RandomForestClassifier has no parameter 'estimator'",
    ),
    ({"n_estimators": 1e12}, r"params\.n_estimators: expected an integer number from 1 to 5000"),
    ({"n_estimators": 10**9}, r"params\.n_estimators: expected an integer number from 1 to 5000"),
    (
        {"n_estimators": 10**30},
        r"params\.n_estimators: expected a plain value .*an integer of 31 digits",
    ),
    (
        {"n_estimators": float("nan")},
        r"params\.n_estimators: expected a plain value \(number, text, true/false, null or a list of them\); got nan",
    ),
    (
        {"max_depth": float("inf")},
        r"params\.max_depth: expected a plain value.*inf \(not a finite number\)",
    ),
    ({"n_estimators": True}, r"params\.n_estimators: expected an integer number"),
    ({"n_estimators": 0}, r"params\.n_estimators: expected an integer number from 1 to 5000"),
    ({"max_depth": len}, r"params\.max_depth: expected a plain value.*builtin_function_or_method"),
    ({"max_depth": object()}, r"params\.max_depth: expected a plain value.*got object"),
    (
        {"max_depth": {"a": 1}},
        r"params\.max_depth: expected a plain value.*got a mapping \(only class_weight",
    ),
    ({"max_depth": b"x"}, r"params\.max_depth: expected a plain value.*got bytes"),
    ({"max_depth": [[[1]]]}, r"params\.max_depth: expected a plain value.*nested too deep"),
    (
        {"criterion": "x" * 500},
        r"params\.criterion: expected a plain value.*text of 500 characters",
    ),
    (
        {"criterion": "os.system"},
        r"params\.criterion: The 'criterion' parameter of RandomForestClassifier must be a str among",
    ),
    ({"class_weight": {1: "heavy"}}, r"params\.class_weight\.1: expected a finite number"),
    ({"class_weight": {1: float("nan")}}, r"params\.class_weight\.1: expected a finite number"),
    ({"class_weight": {(1, 2): 1.0}}, r"params\.class_weight: keys must be class codes or names"),
    (
        {"n_jobs": 1000},
        r"params\.n_jobs: expected null, -1 \(every core\) or an integer from 1 to 64",
    ),
    ({"foo": 1}, r"params\.foo: RandomForestClassifier has no parameter 'foo'"),
    ({"estimator__max_depth": 1}, r"has no parameter 'estimator__max_depth'"),
    ({1: 2}, r"params\.1: RandomForestClassifier has no parameter 1"),
    ({"foo\nbar": 1}, r"params\.'foo\\nbar': RandomForestClassifier has no parameter"),
]


@pytest.mark.parametrize(("params", "match"), HOSTILE_PARAMS)
def test_hostile_params_are_refused(params, match):
    with pytest.raises(InvalidParameterError, match=match) as err:
        check_estimator("sklearn.ensemble.RandomForestClassifier", params)
    assert _one_line(err).startswith("classifier.estimator.params")


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        (
            "AdaBoostClassifier",
            {"estimator": {"class": "os.system"}},
            r"params\.estimator: only null",
        ),
        (
            "AdaBoostClassifier",
            {"estimator": "sklearn.datasets.clear_data_home"},
            r"params\.estimator: only null",
        ),
        ("LinearDiscriminantAnalysis", {"covariance_estimator": "x"}, "only null"),
        (
            "MLPClassifier",
            {"hidden_layer_sizes": [10**6] * 100},
            r"at most 10000 hidden units in all.*got 100000000",
        ),
        ("MLPClassifier", {"hidden_layer_sizes": [5000, 5001]}, "at most 10000 hidden units"),
        ("MLPClassifier", {"hidden_layer_sizes": [0]}, "expected a positive integer or a list"),
        ("MLPClassifier", {"max_iter": 10**6}, "from 1 to 100000"),
        ("MLPClassifier", {"max_fun": 10**6}, "from 1 to 100000"),
        ("KNeighborsClassifier", {"n_neighbors": 10**5}, "from 1 to 10000"),
        ("KNeighborsClassifier", {"metric": "pyfunc"}, "expected one of minkowski, euclidean"),
        ("KNeighborsClassifier", {"metric": "mahalanobis"}, "expected one of minkowski"),
        ("KNeighborsClassifier", {"metric_params": {"func": "os.system"}}, None),
        ("SVC", {"probability": False}, "SVC needs probability: true"),
        ("SVC", {"cache_size": 10**6}, "from 1 to 4096"),
        ("SVC", {"max_iter": 10**7}, "from 1 to 100000"),
        ("SVC", {"kernel": "precomputed"}, None),
        ("HistGradientBoostingClassifier", {"scoring": "accuracy"}, r"only 'loss' \(the default\)"),
        ("HistGradientBoostingClassifier", {"categorical_features": [0]}, "from_dtype"),
        ("GradientBoostingClassifier", {"n_estimators": 5001}, "from 1 to 5000"),
        ("LogisticRegression", {"solver": "x"}, "The 'solver' parameter of LogisticRegression"),
    ],
)
def test_hostile_params_of_other_estimators(name, params, match):
    with pytest.raises(InvalidParameterError, match=match) as err:
        build_estimator(name, params, seed=0)
    _one_line(err)


def test_sane_params_and_defaults_pass():
    check_estimator("SVC", {"max_iter": -1, "C": 2.0, "class_weight": {"1": 2, 2: 0.5}})
    check_estimator("MLPClassifier", {"hidden_layer_sizes": (100, 50), "n_iter_no_change": 5})
    check_estimator("KNeighborsClassifier", {"metric": "manhattan", "n_jobs": -1})
    check_estimator("RandomForestClassifier", {"n_estimators": 5000, "n_jobs": None})
    check_estimator("RandomForestClassifier", {"n_estimators": np.int64(20)})
    check_estimator("RandomForestClassifier", None)
    with pytest.raises(InvalidParameterError, match=r"params: expected a mapping"):
        check_estimator("RandomForestClassifier", ["n_estimators", 5])


def test_build_estimator_seeds_and_keeps_params():
    rf = build_estimator("sklearn.ensemble.RandomForestClassifier", {"n_estimators": 7}, seed=3)
    assert type(rf) is RandomForestClassifier and rf.n_estimators == 7 and rf.random_state == 3
    rf = build_estimator("RandomForestClassifier", {"random_state": 11}, seed=3)
    assert rf.random_state == 11
    svc = build_estimator("SVC", {}, seed=1)
    assert svc.probability is True and svc.random_state == 1
    nb = build_estimator("GaussianNB", {}, seed=1)
    assert "random_state" not in nb.get_params()


def test_prospectivity_params_get_the_same_checks():
    with pytest.raises(
        InvalidParameterError,
        match=r"^prospectivity\.estimator_params\.data_home: LogisticRegression has no parameter",
    ):
        check_estimator_params(
            "LogisticRegression",
            {"data_home": "/nonexistent/geo-test-canary"},
            key="prospectivity.estimator_params",
        )
    with pytest.raises(
        InvalidParameterError,
        match=r"^prospectivity\.estimator_params\.n_estimators: expected an integer",
    ):
        check_estimator_params(
            "RandomForestClassifier", {"n_estimators": 10**9}, key="prospectivity.estimator_params"
        )
    assert check_estimator_params("RandomForestClassifier", {"max_depth": 3}, key="x") == {
        "max_depth": 3
    }
    x = np.tile(np.linspace(0.0, 1.0, 20), (20, 1))
    dep = np.zeros((20, 20), bool)
    dep[::4, 18] = True
    with pytest.raises(
        InvalidParameterError, match=r"^estimator_params\.data_home: RandomForestClassifier"
    ):
        fit_prospectivity(
            {"x": x},
            dep,
            method="random_forest",
            estimator_params={"data_home": "/nonexistent/geo-test-canary"},
        )
    with pytest.raises(InvalidParameterError, match=r"^estimator_params\.n_estimators: expected"):
        fit_prospectivity(
            {"x": x}, dep, method="random_forest", estimator_params={"n_estimators": 1e12}
        )
    with pytest.raises(
        InvalidParameterError, match=r"^estimator_params\.C: expected a plain value"
    ):
        fit_prospectivity({"x": x}, dep, method="logistic", estimator_params={"C": float("nan")})
    model = fit_prospectivity(
        {"x": x}, dep, method="random_forest", estimator_params={"n_estimators": 4}
    )
    assert model.estimator.n_estimators == 4


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(max_size=60),
        st.sampled_from(list(ESTIMATORS)).flatmap(
            lambda n: st.tuples(st.text(max_size=5), st.text(max_size=5)).map(
                lambda a: a[0] + n + a[1]
            )
        ),
        st.sampled_from(
            ["sklearn.", "os.", "builtins.", "sklearn.datasets.", "subprocess."]
        ).flatmap(
            lambda p: st.from_regex(r"[A-Za-z_][A-Za-z0-9_.]{0,30}", fullmatch=True).map(
                lambda s: p + s
            )
        ),
    )
)
def test_random_class_names_never_build_outside_the_allow_list(name):
    before = set(sys.modules)
    try:
        built = build_estimator(name, {}, seed=0)
    except InvalidParameterError as exc:
        assert name not in ESTIMATORS
        assert "\n" not in str(exc)
    else:
        assert name in ESTIMATORS and type(built) in ALLOWED
    assert set(sys.modules) == before


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([cls.__name__ for cls in ALLOWED]),
    st.dictionaries(
        st.sampled_from(
            [
                "n_estimators",
                "max_iter",
                "n_neighbors",
                "hidden_layer_sizes",
                "n_jobs",
                "max_depth",
                "class_weight",
                "C",
                "foo",
            ]
        ),
        _json,
        max_size=3,
    ),
)
def test_random_params_build_an_allowed_estimator_or_fail_cleanly(name, params):
    try:
        built = build_estimator(name, params, seed=0)
    except InvalidParameterError as exc:
        assert "\n" not in str(exc)
        return
    assert type(built) in ALLOWED
    for key, (low, high) in est_module.LIMITS.items():
        if key in params:
            value = built.get_params()[key]
            assert value == built.__class__().get_params()[key] or low <= value <= high
    if "hidden_layer_sizes" in params:
        sizes = np.atleast_1d(built.hidden_layer_sizes)
        assert sizes.sum() <= 10_000


# ---- model files ----------------------------------------------------------------------


def test_allow_lists_are_current():
    derived = models._derive_allow_lists()
    assert derived["skops_trusted"] == sorted(models._SKOPS_TRUSTED)
    assert derived["schema_types"] == sorted(models._SCHEMA_TYPES)
    assert derived["schema_loaders"] == sorted(models._SCHEMA_LOADERS)
    # the allowed estimators are the only top-level types
    assert set(models._TOP_TYPES) <= models._SCHEMA_TYPES


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("name", [cls.__name__ for cls in ALLOWED])
def test_round_trip_of_each_allowed_estimator(tmp_path, name, n_classes):
    model, X, _ = _fitted(name, n_classes)
    path = _saved(tmp_path, model)
    assert path.name == "model.skops" and sidecar_path(path).name == "model.skops.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.skops", "model.skops.json"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_model(path, feature_names=NAMES)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    sidecar = json.loads(sidecar_path(path).read_text())
    assert sidecar["estimator"] == name and sidecar["format"] == "skops"
    assert sidecar["feature_names"] == NAMES and sidecar["classes"] == model.classes_.tolist()


@pytest.mark.parametrize("algorithm", ["kd_tree", "ball_tree"])
def test_knn_search_tree_is_rebuilt_not_loaded(tmp_path, algorithm):
    model, X, _ = _fitted("KNeighborsClassifier", algorithm=algorithm)
    path = _saved(tmp_path, model)
    genuine = model._tree.get_arrays()[1].copy()
    state = list(model._tree.__getstate__())
    state[1] = np.full_like(state[1], 10**9)  # idx_array: indices far out of range
    model._tree.__setstate__(tuple(state))
    path.write_bytes(skops.io.dumps(model))  # behind the genuine sidecar
    loaded = load_model(path, feature_names=NAMES)
    np.testing.assert_array_equal(loaded._tree.get_arrays()[1], genuine)
    model._tree.__setstate__(tuple([*state[:1], genuine, *state[2:]]))
    np.testing.assert_array_equal(loaded.kneighbors(X)[1], model.kneighbors(X)[1])


def _schema_zip(data: bytes, edit) -> bytes:
    """Rewrite schema.json of a skops file with ``edit(schema) -> schema``."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "schema.json":
                content = json.dumps(edit(json.loads(content))).encode()
            dst.writestr(info.filename, content)
    return out.getvalue()


def _payload_node(module: str, func: str, arg: str) -> dict:
    """A skops node that calls ``module.func(arg)`` when built (if skops trusted it)."""
    args = json.loads(zipfile.ZipFile(io.BytesIO(skops.io.dumps((arg,)))).read("schema.json"))
    args.pop("protocol", None)
    args.pop("_skops_version", None)
    return {
        "__class__": func,
        "__module__": module,
        "__loader__": "ConstructorFromReduceNode",
        "content": args,
    }


def _write_model(folder, data: bytes, name="model.skops"):
    """Write ``data`` as a model file in ``folder``, with the sidecar of a genuine save."""
    like, _, _ = _fitted("DecisionTreeClassifier")
    genuine = folder / "genuine"
    genuine.mkdir(parents=True, exist_ok=True)
    reference = _saved(genuine, like)
    path = folder / name
    path.write_bytes(data)
    sidecar_path(path).write_text(sidecar_path(reference).read_text())
    return path


@pytest.mark.parametrize("where", ["top", "inside"])
@pytest.mark.parametrize(
    ("module", "func"),
    [("builtins", "exec"), ("builtins", "eval"), ("os", "system"), ("subprocess", "Popen")],
)
def test_malicious_skops_file_is_refused_and_never_runs(tmp_path, where, module, func):
    marker = tmp_path / "pwned.txt"
    code = PAYLOAD.format(marker=str(marker))
    arg = code if func in ("exec", "eval") else f'{sys.executable} -c "{code}"'
    payload = _payload_node(module, func, arg)
    model, _, _ = _fitted("DecisionTreeClassifier")

    def edit(schema):
        if where == "top":
            return {
                **payload,
                "protocol": schema["protocol"],
                "_skops_version": schema["_skops_version"],
            }
        schema["content"]["content"]["criterion"] = payload
        return schema

    data = _schema_zip(skops.io.dumps(model), edit)
    if func == "exec":  # the payload is live: skops runs it once told to trust builtins.exec
        skops.io.loads(data, trusted=["builtins.exec", "sklearn.tree._tree.Tree"])
        assert marker.read_text() == "pwned"
        marker.unlink()
    path = _write_model(tmp_path, data)
    with pytest.raises(
        ModelFileError,
        match=rf"^Model file .*model\.skops: (holds types geo does not load \(.*{module}\.{func}|holds '{module}\.{func}', not one of the allowed estimators)",
    ) as err:
        load_model(path, feature_names=NAMES)
    _one_line(err)
    assert not marker.exists()


def test_default_trusted_sklearn_objects_are_not_enough(tmp_path):
    pipe = make_pipeline(StandardScaler(), DecisionTreeClassifier()).fit(*_data()[:2])
    path = _write_model(tmp_path, skops.io.dumps(pipe))
    with pytest.raises(
        ModelFileError,
        match=r"holds 'sklearn\.pipeline\.Pipeline', not one of the allowed estimators",
    ):
        load_model(path, feature_names=NAMES)
    path = _write_model(tmp_path, skops.io.dumps({"a": 1}), name="dict.skops")
    with pytest.raises(ModelFileError, match=r"holds 'builtins\.dict'"):
        load_model(path, feature_names=NAMES)
    # a method node, an unknown node kind
    model, _, _ = _fitted("DecisionTreeClassifier")

    def method(schema):
        schema["content"]["content"]["criterion"] = {
            "__class__": "RandomForestClassifier",
            "__module__": "sklearn.ensemble._forest",
            "__loader__": "MethodNode",
            "content": {"func": "fit", "obj": {}},
        }
        return schema

    path = _write_model(tmp_path, _schema_zip(skops.io.dumps(model), method), name="m.skops")
    with pytest.raises(ModelFileError, match="node kind MethodNode"):
        load_model(path, feature_names=NAMES)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (PAYLOAD.format(marker=str(self.marker)),))


@pytest.mark.parametrize("suffix", [".skops", ".joblib", ".pkl"])
@pytest.mark.parametrize("writer", ["pickle", "joblib"])
def test_pickles_are_refused_and_never_run(tmp_path, suffix, writer):
    marker = tmp_path / "pwned.txt"
    path = tmp_path / f"model{suffix}"
    if writer == "pickle":
        path.write_bytes(pickle.dumps(_Evil(marker)))
    else:
        joblib.dump(_Evil(marker), path)
    assert not marker.exists()
    sidecar_path(path).write_text(
        json.dumps(
            {
                "feature_names": NAMES,
                "classes": [1, 2],
                "estimator": "RandomForestClassifier",
                "sklearn_version": "1",
            }
        )
    )
    match = (
        r"pickle-based model files \(\.joblib, \.pkl, \.pickle\) are not loaded because loading them can run any code; re-run the pipeline"
        if suffix != ".skops"
        else r"not a skops model file \(not a readable zip archive"
    )
    with pytest.raises(ModelFileError, match=match) as err:
        load_model(path, feature_names=NAMES)
    _one_line(err)
    assert not marker.exists()


def test_other_suffixes_are_refused(tmp_path):
    model, _, _ = _fitted("DecisionTreeClassifier")
    with pytest.raises(
        InvalidParameterError, match=r"expected a name ending in \.skops.*got '\.joblib'"
    ):
        save_model(model, tmp_path / "rf.joblib", feature_names=NAMES, classes=model.classes_)
    with pytest.raises(ModelFileError, match=r"expected a name ending in \.skops.*got '\.zip'"):
        load_model(tmp_path / "rf.zip", feature_names=NAMES)
    assert list(tmp_path.iterdir()) == []


def test_truncated_and_garbage_files_are_refused(tmp_path):
    model, _, _ = _fitted("RandomForestClassifier")
    data = skops.io.dumps(model)
    cases = {
        "half": data[: len(data) // 2],
        "tail": data[: len(data) - 10],
        "empty": b"",
        "noise": np.random.default_rng(0).bytes(5000),
        "no_schema": _zip({"a.npy": b"x"}),
        "bad_json": _zip({"schema.json": b"{not json"}),
        "deep_json": _zip({"schema.json": b"[" * 100_000 + b"]" * 100_000}),
        "list_schema": _zip({"schema.json": b"[1, 2]"}),
        "missing_array": _drop_arrays(data),
    }
    for name, content in cases.items():
        path = _write_model(tmp_path / name, content)
        with pytest.raises(ModelFileError, match=r"^Model file ") as err:
            load_model(path, feature_names=NAMES)
        _one_line(err)


def _zip(members: dict) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, content in members.items():
            z.writestr(name, content)
    return out.getvalue()


def _drop_arrays(data: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    return _zip({n: src.read(n) for n in src.namelist() if not n.endswith(".npy")})


@pytest.mark.parametrize("protocol", [0, 1, 99, "2", None])
def test_other_skops_protocols_are_refused(tmp_path, protocol):
    model, _, _ = _fitted("DecisionTreeClassifier")
    data = _schema_zip(skops.io.dumps(model), lambda schema: {**schema, "protocol": protocol})
    with pytest.raises(
        ModelFileError, match=r"written in skops format protocol .*geo reads only protocol"
    ):
        load_model(_write_model(tmp_path, data), feature_names=NAMES)


def test_zip_bomb_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "_MAX_SMALL_UNPACKED", 2**20)
    model, _, _ = _fitted("DecisionTreeClassifier")
    src = zipfile.ZipFile(io.BytesIO(skops.io.dumps(model)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for n in src.namelist():
            z.writestr(n, src.read(n))
        z.writestr("zeros.npy", b"\0" * 20 * 2**20)
    path = _write_model(tmp_path, out.getvalue())
    with pytest.raises(ModelFileError, match="refused as a zip bomb"):
        load_model(path, feature_names=NAMES)


def test_sidecar_mismatch_and_corrupt_sidecar(tmp_path):
    model, _, _ = _fitted("RandomForestClassifier")
    path = _saved(tmp_path, model)
    good = json.loads(sidecar_path(path).read_text())
    for change, names, match in [
        (
            {"estimator": "SVC"},
            NAMES,
            r"does not match its sidecar model\.skops\.json \(sidecar: SVC, 3 features, 3 classes; file: RandomForestClassifier",
        ),
        (
            {"classes": [1, 2]},
            NAMES,
            r"does not match its sidecar.*2 classes; file: RandomForestClassifier, 3 features, 3 classes",
        ),
        (
            {"feature_names": ["f1", "f2"]},
            ["f1", "f2"],
            r"sidecar: RandomForestClassifier, 2 features, 3 classes; file: RandomForestClassifier, 3 features",
        ),
        (
            {"feature_names": "f1"},
            NAMES,
            r"^Model sidecar .*expected 'feature_names' as a JSON list",
        ),
        ({"feature_names": [1, 2, 3]}, NAMES, r"feature_names must be strings"),
        ({"sklearn_version": None}, NAMES, r"expected 'sklearn_version' as a JSON string"),
    ]:
        sidecar_path(path).write_text(json.dumps({**good, **change}))
        with pytest.raises(ModelFileError, match=match) as err:
            load_model(path, feature_names=names)
        _one_line(err)
    sidecar_path(path).write_text("{oops")
    with pytest.raises(
        ModelFileError, match=r"^Model sidecar .*model\.skops\.json: not valid JSON"
    ):
        load_model(path, feature_names=NAMES)
    sidecar_path(path).write_text("[]")
    with pytest.raises(ModelFileError, match="expected a JSON object"):
        load_model(path, feature_names=NAMES)
    # a model of another estimator behind a genuine sidecar
    other, _, _ = _fitted("ExtraTreesClassifier")
    sidecar_path(path).write_text(json.dumps(good))
    path.write_bytes(skops.io.dumps(other))
    with pytest.raises(ModelFileError, match="does not match its sidecar"):
        load_model(path, feature_names=NAMES)


# ---- crafted content of allowed types (compiled code trusts these arrays) --------------


def _tamper_and_load(tmp_path, model, tamper, match):
    good = _saved(tmp_path, model)
    tamper(model)
    with pytest.raises(InvalidParameterError, match="load_model would refuse this model"):
        save_model(model, tmp_path / "bad.skops", feature_names=NAMES, classes=model.classes_)
    assert not (tmp_path / "bad.skops").exists()
    good.write_bytes(skops.io.dumps(model))
    with pytest.raises(ModelFileError, match=match) as err:
        load_model(good, feature_names=NAMES)
    _one_line(err)


def _set_tree(tree, **fields):
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    for field, (index, value) in fields.items():
        nodes[field][index] = value
    tree.__setstate__({**state, "nodes": nodes})


@pytest.mark.parametrize(
    "fields",
    [
        {"left_child": (0, 10**6)},
        {"right_child": (0, 0)},  # a cycle
        {"feature": (0, 50)},
        {"feature": (0, -7)},
    ],
)
def test_crafted_decision_tree_is_refused(tmp_path, fields):
    model, _, _ = _fitted("RandomForestClassifier")
    _tamper_and_load(
        tmp_path,
        model,
        lambda m: _set_tree(m.estimators_[1].tree_, **fields),
        "inconsistent decision tree",
    )


def test_crafted_node_count_is_refused(tmp_path):
    model, _, _ = _fitted("DecisionTreeClassifier")

    def edit(schema):
        stack = [schema]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                if node.get("__loader__") == "TreeNode":
                    count = node["content"]["content"]["node_count"]
                    count["content"] = json.dumps(json.loads(count["content"]) - 5)
                    count.pop("__id__")  # skops shares nodes of equal small ints by id
                    return schema
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
        raise AssertionError("no TreeNode")

    path = _write_model(tmp_path, _schema_zip(skops.io.dumps(model), edit))
    with pytest.raises(ModelFileError, match=r"inconsistent decision tree \(node links\)"):
        load_model(path, feature_names=NAMES)


def test_crafted_hist_gradient_boosting_is_refused(tmp_path):
    model, _, _ = _fitted("HistGradientBoostingClassifier")

    def tamper(m):
        nodes = m._predictors[0][0].nodes
        inner = np.flatnonzero(nodes["is_leaf"] == 0)[0]
        nodes["left"][inner] = 10**6

    _tamper_and_load(tmp_path, model, tamper, "inconsistent boosted tree")


def test_crafted_gradient_boosting_stages_are_refused(tmp_path):
    model, _, _ = _fitted("GradientBoostingClassifier")

    def tamper(m):
        m.estimators_ = np.hstack([m.estimators_, m.estimators_])

    _tamper_and_load(
        tmp_path, model, tamper, r"inconsistent gradient boosting \(stages per class\)"
    )


def test_crafted_svc_is_refused(tmp_path):
    model, _, _ = _fitted("SVC")

    def tamper(m):
        m._n_support = m._n_support + np.int32(5)

    _tamper_and_load(tmp_path, model, tamper, r"inconsistent support vector model")


def test_crafted_knn_is_refused(tmp_path):
    model, _, _ = _fitted("KNeighborsClassifier")

    def tamper(m):
        m._y = m._y + 10

    _tamper_and_load(tmp_path, model, tamper, r"inconsistent nearest-neighbour model")


def test_crafted_forest_member_is_refused(tmp_path):
    model, _, _ = _fitted("RandomForestClassifier")
    svc, _, _ = _fitted("SVC")

    def tamper(m):
        m.estimators_[0] = svc

    _tamper_and_load(tmp_path, model, tamper, r"inconsistent ensemble \(member type\)")


def test_save_model_refuses_what_load_model_would(tmp_path):
    pipe = make_pipeline(StandardScaler(), DecisionTreeClassifier()).fit(*_data()[:2])
    with pytest.raises(
        InvalidParameterError, match="a Pipeline is not one of the estimators geo saves"
    ):
        save_model(pipe, tmp_path / "p.skops", feature_names=NAMES, classes=[1, 2, 3])
    X, y = _data()
    hgb = HistGradientBoostingClassifier(max_iter=3, early_stopping=True, scoring="accuracy").fit(
        X, y
    )
    with pytest.raises(InvalidParameterError, match="cannot be saved as a skops file"):
        save_model(hgb, tmp_path / "h.skops", feature_names=NAMES, classes=[1, 2, 3])
    knn = KNeighborsClassifier(metric="hamming").fit(X, y)
    with pytest.raises(
        InvalidParameterError,
        match=r"load_model would refuse this model: .*(HammingDistance|nearest-neighbour)",
    ):
        save_model(knn, tmp_path / "k.skops", feature_names=NAMES, classes=[1, 2, 3])
    rf = RandomForestClassifier(n_estimators=2).fit(X, y)
    with pytest.raises(
        InvalidParameterError, match="fitted on 3 features while feature_names has 2"
    ):
        save_model(rf, tmp_path / "r.skops", feature_names=NAMES[:2], classes=[1, 2, 3])
    with pytest.raises(InvalidParameterError, match="classes has 2 entries but the model has 3"):
        save_model(rf, tmp_path / "r.skops", feature_names=NAMES, classes=[1, 2])
    with pytest.raises(InvalidParameterError, match="not fitted"):
        save_model(SVC(), tmp_path / "s.skops", feature_names=NAMES, classes=[1, 2])
    assert list(tmp_path.iterdir()) == []


def test_errors_are_geo_errors():
    assert issubclass(ModelFileError, GeoError) and issubclass(ModelFileError, ValueError)
    assert math.isfinite(est_module.LIMITS["n_estimators"][1])
    assert {AdaBoostClassifier, GradientBoostingClassifier} <= set(ALLOWED)
