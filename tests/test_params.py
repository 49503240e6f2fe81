"""The one parameter language (offbench/params.py): kinds, the refusal template, written values,
assignments, grids; and that solver parameter hashes did not move."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offbench.families import FamilyError, FParam
from offbench.params import (NO_DEFAULT, Param, ParamError, expand_grid, parse_assignments,
                             parse_bool, refusal, split_top_level)
from offbench.run.spec import SpecError, parse_spec, param_hash
from offbench.solver import Param as SolverParam
from offbench.solver import Solver, SolverError
from offbench.discovery import parse_params


# ------------------------------------------------------------------------------ the template
@pytest.mark.parametrize("param,value,message", [
    (Param("restarts", int, 8, low=1), 0,
     "The 'restarts' parameter of X must be an int in [1, inf). Got 0."),
    (Param("restarts", int, 8, low=1), 2.5,
     "The 'restarts' parameter of X must be an int in [1, inf). Got 2.5."),
    (Param("restarts", int, 8, low=1), True,
     "The 'restarts' parameter of X must be an int in [1, inf). Got True."),
    (Param("rate", float, 0.5, low=0.0, high=1.0, low_open=True), 0.0,
     "The 'rate' parameter of X must be a float in (0, 1]. Got 0.0."),
    (Param("rate", float, 0.5, high=1.0, high_open=True), 1,
     "The 'rate' parameter of X must be a float in (-inf, 1). Got 1."),
    (Param("rate", float, 0.5), float("nan"), "The 'rate' parameter of X must be a float. Got nan."),
    (Param("rate", float, 0.5), float("inf"), "The 'rate' parameter of X must be a float. Got inf."),
    (Param("mode", str, "a", choices=("a", "b")), "c",
     "The 'mode' parameter of X must be one of {'a', 'b'}. Got 'c'."),
    (Param("flag", bool, False), 1, "The 'flag' parameter of X must be a bool. Got 1."),
    (Param("hidden", list, (120, 80), item=int, low=1, length=(1, 4)), [120, 0],
     "The 'hidden' parameter of X must be a list of 1 to 4 ints in [1, inf). Got [120, 0]."),
    (Param("hidden", list, (120, 80), item=int, low=1, length=(1, 4)), [],
     "The 'hidden' parameter of X must be a list of 1 to 4 ints in [1, inf). Got []."),
    (Param("hidden", list, (120, 80), item=int, low=1, length=(1, 4)), 120,
     "The 'hidden' parameter of X must be a list of 1 to 4 ints in [1, inf). Got 120."),
    (Param("hidden", list, (120, 80), item=int, low=1, length=(1, 4)), "120,80",
     "The 'hidden' parameter of X must be a list of 1 to 4 ints in [1, inf). Got '120,80'."),
    (Param("ids", list, (1, 2), item=int, unique=True), [1, 1],
     "The 'ids' parameter of X must be a list of ints without repeats. Got [1, 1]."),
    (Param("span", "range", (0.0, 1.0), low=0.0), (2, 1),
     "The 'span' parameter of X must be a pair [low, high] of floats with low <= high in [0, inf). "
     "Got (2, 1)."),
    (Param("cap", int, None, low=0, allow_none=True), -1,
     "The 'cap' parameter of X must be an int in [0, inf) or None. Got -1."),
    (Param("steps", int, 8), None, "The 'steps' parameter of X must be an int. Got None."),
    (Param("name", str, "x", length=(1, None)), "  ",
     "The 'name' parameter of X must be a non-empty str. Got '  '."),
])
def test_refusals_use_one_template(param, value, message):
    with pytest.raises(ParamError) as e:
        param.validate("X", value)
    assert str(e.value) == message


def test_owners_raise_their_own_error_and_name_themselves():
    with pytest.raises(SolverError, match=r"^The 'k' parameter of solver fx-v1 must be an int in \[1, inf\)\. Got 0\.$"):
        SolverParam("k", int, 1, low=1).validate("fx-v1", 0)
    with pytest.raises(FamilyError, match=r"^The 'k' parameter of family dmro must be"):
        FParam("k", int, low=1).validate("dmro", 0)
    with pytest.raises(SpecError, match=r"^The 'count' key of run spec sources\[0\] must be an int in \[1, inf\)\. Got 0\.$"):
        parse_spec({"sources": [{"kind": "random", "count": 0}], "solvers": ["all-device"]})
    assert FParam("k", int, low=1).default is NO_DEFAULT


def test_canonical_values():
    assert Param("k", int, 1).validate("X", 4.0) == 4 and type(Param("k", int, 1).validate("X", 4.0)) is int
    assert Param("k", int, 1).validate("X", np.int64(3)) == 3
    assert type(Param("x", float, 1.0).validate("X", 2)) is float
    assert Param("h", list, (), item=int).validate("X", [1, 2.0]) == (1, 2)
    assert Param("h", list, (), item=float).validate("X", np.array([1, 2])) == (1.0, 2.0)
    assert Param("b", bool, True).validate("X", np.bool_(False)) is False
    assert Param("c", int, None, allow_none=True).validate("X", "none") is None  # TOML has no null
    assert Param("s", str, "none", allow_none=True).validate("X", "none") == "none"


def test_paths(tmp_path):
    f = tmp_path / "w.safetensors"
    f.write_bytes(b"x")
    p = Param("weights", "path", None, allow_none=True, exists="file")
    assert p.validate("X", f) == str(f)
    assert p.parse("X", str(f)) == str(f) and p.parse("X", "none") is None
    with pytest.raises(ParamError, match=r"must be a path to an existing file or None\. Got"):
        p.validate("X", tmp_path / "missing")
    with pytest.raises(ParamError, match="must be a path to an existing file"):
        p.validate("X", tmp_path)
    assert Param("out", "path", "results").validate("X", "a/b") == "a/b"
    with pytest.raises(ParamError, match="must be a path"):
        Param("out", "path", "results").validate("X", "")


def test_declarations_survive_copies_and_pickles():
    import copy
    import pickle

    for p in (FParam("r", "range", low=0.0), SolverParam("h", list, (1, 2), item=int, low=1)):
        for q in (copy.deepcopy(p), pickle.loads(pickle.dumps(p))):
            assert q == p and hash(q) == hash(p) and type(q) is type(p)
            assert q.describe() == p.describe() and q.default == p.default
            assert (q.default is NO_DEFAULT) == (p.default is NO_DEFAULT)


def test_bad_declarations_are_caught_at_import():
    with pytest.raises(TypeError, match="unknown type"):
        Param("k", complex, 1)
    with pytest.raises(TypeError, match="needs item="):
        Param("k", list, ())
    with pytest.raises(TypeError, match="the default 0 is not an int in"):
        Param("k", int, 0, low=1)


# ------------------------------------------------------------------------------ written values
@pytest.mark.parametrize("param,text,value", [
    (Param("hidden", list, (), item=int), "120,80", (120, 80)),
    (Param("hidden", list, (), item=int), "[120, 80]", (120, 80)),
    (Param("hidden", list, (), item=int), "[]", ()),
    (Param("hidden", list, (), item=int), "7", (7,)),
    (Param("names", list, (), item=str), '[a,"b,c"," d"]', ("a", "b,c", " d")),
    (Param("flag", bool, False), "yes", True),
    (Param("flag", bool, False), "OFF", False),
    (Param("k", int, 1), "1e3", 1000),
    (Param("k", int, None, allow_none=True), "null", None),
    (Param("x", float, 1.0), "2.5e-3", 0.0025),
    (Param("s", str, "a", allow_none=True), '"none"', "none"),
    (FParam("distance_m", "range", low=0.1), "2.5:5.2", (2.5, 5.2)),
    (FParam("distance_m", "range", low=0.1), "[2.5, 5.2]", (2.5, 5.2)),
    (FParam("layers", "int_range", low=1), "2,9", (2, 9)),
    (FParam("models", "list"), "alexnet+vgg16", ("alexnet", "vgg16")),
])
def test_parse_reads_what_people_write(param, text, value):
    got = param.parse("X", text)
    assert got == value and type(got) is type(value)


def test_parse_refusal_shows_the_text_as_written():
    with pytest.raises(ParamError, match=r"must be a list of ints\. Got 1,x\.$"):
        Param("hidden", list, (), item=int).parse("X", "1,x")
    with pytest.raises(ParamError, match=r"must be a bool\. Got maybe\.$"):
        Param("flag", bool, False).parse("X", "maybe")
    with pytest.raises(ParamError, match=r"must be an int\. Got ''\.$"):
        Param("k", int, 1).parse("X", "")
    with pytest.raises(FamilyError, match=r"with low <= high in \[1, inf\)\. Got 9:2\.$"):
        FParam("layers", "int_range", low=1).parse("scale", "9:2")


def test_format_of_family_kinds_is_what_ids_hold():
    assert FParam("d", "range").format((1.0, 2.0)) == "1:2"
    assert FParam("m", "list").format(("alexnet", "vgg16")) == "alexnet+vgg16"
    assert FParam("c", bool).format(False) == "false"
    assert FParam("x", float).format(5e11) == "5e+11"
    assert Param("h", list, (), item=int).format((120, 80)) == "[120,80]"


def test_parse_bool():
    assert [parse_bool(t) for t in ("1", "true", "Yes", " on ")] == [True] * 4
    assert [parse_bool(t) for t in ("0", "FALSE", "no", "off")] == [False] * 4
    with pytest.raises(ValueError):
        parse_bool("y")


def test_split_top_level():
    assert split_top_level('a=1,b=[1,2],c="x,y"') == ["a=1", "b=[1,2]", 'c="x,y"']
    assert split_top_level("") == [""]


# ------------------------------------------------------------------------------ properties
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_finite = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def declared_values(draw):
    """A declaration and a value it accepts."""
    kind = draw(st.sampled_from(["int", "float", "bool", "str", "choice", "list_int",
                                 "list_float", "list_str", "range", "int_range", "names"]))
    none = draw(st.booleans())
    if kind == "int":
        p, v = Param("p", int, None, allow_none=True), draw(st.integers(-10**12, 10**12))
    elif kind == "float":
        p, v = Param("p", float, None, allow_none=True), draw(_finite)
    elif kind == "bool":
        p, v = Param("p", bool, None, allow_none=True), draw(st.booleans())
    elif kind == "str":
        p, v = Param("p", str, None, allow_none=True), draw(_text)
    elif kind == "choice":
        choices = ("a", "b-c", "none", "x y")
        p, v = Param("p", str, None, choices=choices, allow_none=True), draw(st.sampled_from(choices))
    elif kind == "list_int":
        p, v = Param("p", list, None, item=int, allow_none=True), draw(st.lists(st.integers(-99, 10**9)))
    elif kind == "list_float":
        p, v = Param("p", list, None, item=float, allow_none=True), draw(st.lists(_finite, max_size=4))
    elif kind == "list_str":
        p, v = Param("p", list, None, item=str, allow_none=True), draw(st.lists(_text, max_size=4))
    elif kind == "range":
        a, b = sorted([draw(_finite), draw(_finite)])
        p, v = FParam("p", "range"), [a, b]
        none = False
    elif kind == "int_range":
        a, b = sorted([draw(st.integers(-10**6, 10**6)), draw(st.integers(-10**6, 10**6))])
        p, v = FParam("p", "int_range"), [a, b]
        none = False
    else:
        p, v = FParam("p", "list", choices=("alexnet", "vgg16", "x:y", "a+b")), draw(
            st.lists(st.sampled_from(["alexnet", "vgg16", "x:y", "a+b"]), min_size=1, max_size=3))
        none = False
    return p, (None if none and p.allow_none else v)


@settings(max_examples=400, deadline=None)
@given(declared_values())
def test_a_validated_value_written_back_parses_to_itself(pv):
    p, v = pv
    value = p.validate("X", v)
    text = p.format(value)
    again = p.parse("X", text)
    assert again == value and type(again) is type(value), (text, value, again)
    if isinstance(value, float):
        assert math.copysign(1.0, again) == math.copysign(1.0, value) or value == 0.0


@settings(max_examples=200, deadline=None)
@given(low=st.integers(-50, 50), value=st.integers(-10**6, 10**6))
def test_every_int_below_the_bound_is_refused_with_the_template(low, value):
    p = Param("k", int, low, low=low)
    if value >= low:
        assert p.validate("X", value) == value
        assert p.parse("X", str(value)) == value
        return
    msg = refusal("k", "X", f"an int in [{low}, inf)", repr(value))
    with pytest.raises(ParamError) as e:
        p.validate("X", value)
    assert str(e.value) == msg
    with pytest.raises(ParamError) as e:
        p.parse("X", f" {value} ")
    assert str(e.value) == msg


@settings(max_examples=200, deadline=None)
@given(text=_text)
def test_any_text_is_either_read_or_refused_with_the_template(text):
    p = Param("hidden", list, (1,), item=int, low=1, length=(1, 3))
    try:
        v = p.parse("X", text)
    except ParamError as e:
        shown = text.strip() or repr(text)
        assert str(e) == refusal("hidden", "X", "a list of 1 to 3 ints in [1, inf)", shown)
    else:
        assert 1 <= len(v) <= 3 and all(type(x) is int and x >= 1 for x in v)
        assert p.parse("X", p.format(v)) == v


# ------------------------------------------------------------------------------ assignments
class _Fx(Solver):
    """Parameters of every kind the built-in solvers declare (hash pins below)."""

    name = "fx-hash"
    params = (SolverParam("k", int, 8, low=1), SolverParam("x", float, 0.5, low=0.0, high=1.0),
              SolverParam("mode", str, "a", choices=("a", "b")), SolverParam("flag", bool, True),
              SolverParam("cap", int, None, allow_none=True))


class _Learner(Solver):
    name = "fx-learner"
    params = (SolverParam("hidden", list, (120, 80), item=int, low=1, length=(1, 4)),
              SolverParam("lr", float, 1e-3, low=0.0, low_open=True))

    def _solve(self, inst, ctx):  # pragma: no cover - only its parameters are used here
        raise NotImplementedError


def test_parse_assignments_refuses_unknown_repeated_and_malformed():
    assert parse_params(_Learner, ["hidden=64,32", "lr=0.01"]) == {"hidden": (64, 32), "lr": 0.01}
    assert parse_params(_Learner, ["hidden=[64]"]) == {"hidden": (64,)}
    with pytest.raises(SolverError, match=r"^Solver fx-learner-v1 has no parameter 'hiden'\. Did you mean 'hidden'\?$"):
        parse_params(_Learner, ["hiden=3"])
    with pytest.raises(SolverError, match=r"--param hidden: given twice \(1 and 2\)"):
        parse_params(_Learner, ["hidden=1", "hidden=2"])
    with pytest.raises(SolverError, match="expected NAME=VALUE"):
        parse_params(_Learner, ["hidden"])
    with pytest.raises(SolverError, match=r"The 'lr' parameter of solver fx-learner-v1 must be a float in \(0, inf\)\. Got 0\."):
        parse_params(_Learner, ["lr=0"])
    with pytest.raises(ParamError, match="Its parameters: a."):
        parse_assignments(["zzz=1"], {"a": Param("a", int, 1)}, "thing")


def test_list_parameters_are_one_value_of_a_solver():
    s = _Learner(hidden=[120, 80])
    assert s.hidden == (120, 80)
    described = _Learner.describe()["params"]
    assert described[0]["type"] == "list[int]" and described[0]["written"] == "[120,80]"
    assert parse_params(_Learner, [f"{d['name']}={d['written']}" for d in described]) == {
        "hidden": (120, 80), "lr": 0.001}
    with pytest.raises(SolverError, match=r"must be a list of 1 to 4 ints in \[1, inf\)\. Got \[0\]\."):
        _Learner(hidden=[0])


# ------------------------------------------------------------------------------ hashes
# Computed with the validators before offbench/params.py (commit 420d0ca): the same effective
# parameters must keep their hash, or committed results lose their keys.
@pytest.mark.parametrize("given_,hash_", [
    ({}, "69c9e6c3ac120c1dec9681bd2dbd9386085dd89cac0f3b7edf9f8db78e5f0520"),
    ({"k": 4.0, "x": 1, "flag": False, "cap": 3},
     "38c74e897609d289b8f9155cfbe7241d08de3b479a77cd8d113f556c2403c89e"),
    ({"k": np.int64(2), "x": np.float32(0.25), "mode": "b", "cap": None},
     "036b66fa1e1cfe0cda21a1ae48706c4f04a465cafdd26b77437e8b9e931c1d99"),
])
def test_parameter_hashes_are_pinned(given_, hash_):
    assert param_hash(_Fx(**given_).param_values) == hash_


def test_parameter_hashes_of_written_values_are_pinned():
    v = parse_params(_Fx, ["k=1e3", "x=0.125", "flag=yes", "cap=none", "mode=b"])
    assert param_hash(_Fx(**v).param_values) == "dc633f11e977b0ae76c4b045f7eb6b7d8978b8a262d3f5a625c45e23f2b5100a"


def test_builtin_solver_hashes_in_the_committed_results_are_kept():
    spec = parse_spec({"sources": [{"kind": "random"}],
                       "solvers": ["local-search", {"id": "exhaustive", "params": {"max_layers": 12.0}}]})
    assert [s.param_hash for s in spec.solvers] == [
        "33eac44a62574687bc990dd11e2973aa126da58f70372e1bc5990e338976477d",
        "eac522531035e9c1011d3eb0ed51e7b4651c6dfe35cba8501cd84e9431c3f404"]


# ------------------------------------------------------------------------------ grids
def test_expand_grid_is_the_cartesian_product():
    out = expand_grid({"id": "s", "params": {"a": 1}, "grid": {"b": [1, 2], "c": ["x", "y", "z"]}}, "w")
    assert [(e["params"]["b"], e["params"]["c"]) for e in out] == [
        (1, "x"), (1, "y"), (1, "z"), (2, "x"), (2, "y"), (2, "z")]
    assert all(e["params"]["a"] == 1 and "grid" not in e and e["id"] == "s" for e in out)
    assert expand_grid({"id": "s"}, "w") == [{"id": "s"}]
    assert [e["params"]["h"] for e in expand_grid({"id": "s", "grid": {"h": [[1, 2], [3]]}}, "w")] == [[1, 2], [3]]


@pytest.mark.parametrize("entry,message", [
    ({"id": "s", "params": {"r": 2}, "grid": {"r": [1, 4]}},
     r"^w: the parameter 'r' is given both in params \(r = 2\) and in grid \(r = \[1, 4\]\)"),
    ({"id": "s", "grid": {"r": 3}}, r"^w\.grid\.r: expected a non-empty list of values to try, got 3$"),
    ({"id": "s", "grid": {"r": []}}, r"^w\.grid\.r: expected a non-empty list"),
    ({"id": "s", "grid": {"r": [1, 2, 1]}}, r"^w\.grid\.r: the value 1 is listed twice"),
    ({"id": "s", "grid": []}, r"^w\.grid: expected a table of parameter names"),
])
def test_expand_grid_refusals(entry, message):
    with pytest.raises(ParamError, match=message):
        expand_grid(entry, "w")


def test_run_spec_grid_expands_into_validated_solver_entries():
    base = {"sources": [{"kind": "random", "count": 1}]}
    spec = parse_spec({**base, "solvers": [{"id": "local-search", "grid": {"restarts": [1, 4, 16]}},
                                           "greedy"]})
    assert [(s.id, s.params) for s in spec.solvers] == [
        ("local-search-v1", {"restarts": 1}), ("local-search-v1", {"restarts": 4}),
        ("local-search-v1", {"restarts": 16}), ("greedy-v1", {})]
    assert len({s.param_hash for s in spec.solvers[:3]}) == 3
    with pytest.raises(SpecError, match=r"solvers\[0\] \(grid point restarts=0\): The 'restarts' parameter "
                                        r"of solver local-search-v1 must be an int in \[1, 1000000\]\. Got 0\."):
        parse_spec({**base, "solvers": [{"id": "local-search", "grid": {"restarts": [1, 0]}}]})
    with pytest.raises(SpecError, match=r"solvers\[0\]: the parameter 'restarts' is given both in params"):
        parse_spec({**base, "solvers": [{"id": "local-search", "params": {"restarts": 2},
                                         "grid": {"restarts": [1, 4]}}]})
    with pytest.raises(SpecError, match=r"grid point restart=1\): Solver local-search-v1 has no "
                                        r"parameter 'restart'\. Did you mean 'restarts'\?"):
        parse_spec({**base, "solvers": [{"id": "local-search", "grid": {"restart": [1, 2]}}]})
    with pytest.raises(SpecError, match=r"solvers\[1\]: the same solver and parameters as solvers\[0\] "
                                        r"\(grid point restarts=8\)"):
        parse_spec({**base, "solvers": [{"id": "local-search", "grid": {"restarts": [8, 2]}},
                                        "local-search"]})


def test_track_settings_are_refused_with_the_template():
    base = {"sources": [{"kind": "random", "count": 1}], "solvers": ["greedy"]}
    with pytest.raises(SpecError, match=r"^The 'window' setting of run spec online must be an int in "
                                        r"\[1, inf\)\. Got 0\.$"):
        parse_spec({**base, "online": {"window": 0}})
    assert parse_spec({**base, "online": {"window": 7.0}}).to_dict()["online"] == {"window": 7}


_LIST_PLUGIN = '''
import numpy as np
from offbench.solver import Param, Proposal, Solver

class Layered(Solver):
    """Places layer j on tier hidden[j % len(hidden)] % 3 (a list parameter, end to end)."""
    name = "fx-layered"
    params = (Param("hidden", list, (0,), item=int, low=0, length=(1, 4)),
              Param("note", str, None, allow_none=True))

    def _solve(self, inst, ctx):
        h = self.hidden
        return Proposal(np.array([h[j % len(h)] % 3 for j in range(inst.n_layers)], dtype=np.int8))
'''


def test_list_parameters_on_the_command_line(tmp_path, capsys):
    import json

    from offbench.cli import main
    from offbench.generators import random_instance

    d = tmp_path / "plugins"
    d.mkdir()
    (d / "layered.py").write_text(_LIST_PLUGIN)
    inst = tmp_path / "i.json"
    inst.write_text(random_instance(3).to_json())
    base = ["solve", str(inst), "--solver", "fx-layered", "--solvers-dir", str(d)]
    for written in ("hidden=0,1", "hidden=[0, 1]"):
        assert main(base + ["--param", written, "--param", "note=none"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["params"] == {"hidden": [0, 1], "note": None}
        assert out["decision"][:2] == [0, 1]
    assert main(base + ["--param", "hidden=1", "--param", "hidden=2"]) == 2
    assert "--param hidden: given twice (1 and 2)" in capsys.readouterr().err
    assert main(base + ["--param", "hidden=[1,2,3,4,5]"]) == 2
    assert ("The 'hidden' parameter of solver fx-layered-v1 must be a list of 1 to 4 ints in "
            "[0, inf). Got [1,2,3,4,5].") in capsys.readouterr().err
    assert main(base + ["--param", "hiden=1"]) == 2
    assert "Did you mean 'hidden'?" in capsys.readouterr().err
    # --solver NAME:k=v,... keeps a bracketed list whole, and a spec's list value is one value
    from offbench.run.spec import apply_overrides

    raw = apply_overrides({"sources": [{"kind": "random", "count": 1}]},
                          solvers=["fx-layered:hidden=[0,2],note=x"], solvers_dirs=[str(d)])
    spec = parse_spec(raw)
    assert spec.solvers[0].params == {"hidden": [0, 2], "note": "x"}
    toml_like = parse_spec({"sources": [{"kind": "random", "count": 1}], "solvers_dirs": [str(d)],
                            "solvers": [{"id": "fx-layered", "params": {"hidden": [0, 2], "note": "x"}}]})
    assert toml_like.solvers[0].param_hash == spec.solvers[0].param_hash
    with pytest.raises(SolverError, match="given twice"):
        apply_overrides({}, solvers=["fx-layered:hidden=1,hidden=2"], solvers_dirs=[str(d)])
    grid = parse_spec({"sources": [{"kind": "random", "count": 1}], "solvers_dirs": [str(d)],
                       "solvers": [{"id": "fx-layered", "grid": {"hidden": [[0], [1, 2]]}}]})
    assert [s.params["hidden"] for s in grid.solvers] == [[0], [1, 2]]


def test_a_yaml_spec_refuses_a_key_given_twice(tmp_path):
    from offbench.run.spec import load_spec_file

    p = tmp_path / "run.yaml"
    p.write_text("sources:\n  - kind: random\nsolvers:\n  - id: local-search\n"
                 "    params: {restarts: 1, restarts: 2}\n")
    with pytest.raises(SpecError, match=r"run\.yaml, line 5: the key 'restarts' is given twice$"):
        load_spec_file(p)
    p.write_text("sources:\n  - kind: random\nsolvers:\n  - id: local-search\n    params: {restarts: 1}\n")
    assert load_spec_file(p)["solvers"] == [{"id": "local-search", "params": {"restarts": 1}}]


def test_a_yaml_spec_takes_merge_keys(tmp_path):
    # '<<: *anchor' (a source repeated with another seed, a key overridden) was refused: "not
    # valid YAML: could not determine a constructor for the tag 'tag:yaml.org,2002:merge'"
    from offbench.run.spec import load_spec_file

    p = tmp_path / "run.yaml"
    p.write_text("sources:\n  - &one {kind: random, count: 2, seed: 1}\n  - <<: *one\n"
                 "    name: again\n    seed: 5\nsolvers: [greedy]\n")
    assert load_spec_file(p)["sources"] == [{"kind": "random", "count": 2, "seed": 1},
                                             {"kind": "random", "count": 2, "seed": 5, "name": "again"}]
    p.write_text("sources:\n  - &one {kind: random}\n  - <<: *one\n    seed: 1\n    seed: 2\n")
    with pytest.raises(SpecError, match=r"run\.yaml, line 5: the key 'seed' is given twice$"):
        load_spec_file(p)


def test_every_declared_default_and_family_value_reads_back_as_written():
    from offbench.families import list_families
    from offbench.discovery import discover

    for entry in discover().values():
        for p in entry.cls.params if entry.cls is not None else ():
            value = p.validate(entry.id, p.default)
            assert p.parse(entry.id, p.format(value)) == value, (entry.id, p.name)
    for fam in list_families():
        declared = {p.name: p for p in fam.module.PARAMS}
        for k, v in fam.params.items():
            assert declared[k].parse(fam.name, declared[k].format(v)) == v, (fam.id, k)
