from dataclasses import asdict, fields

import pytest

from geomgen.singular.fit import ESTIMATOR_OPTIONS, MLEOptions, estimator_options
from geomgen.singular.manifolds import DISTRIBUTIONS
from geomgen.singular.studies import StudyConfigError, load_study


def base():
    return {
        "name": "t",
        "distributions": {"circle_vm": {}, "sphere10": {"type": "sphere", "ambient_dim": 10}},
        "n": [50, 100],
        "noise": [0.1, 0.2],
        "estimators": {"perturbed_mle": {"max_steps": 3}, "mle": {"max_steps": 3}, "kde": {}},
        "seeds": [0, 1],
        "extra_grids": [{"distributions": ["circle_vm"], "estimators": ["perturbed_mle"], "n": [100],
                         "noise": [0.05, 0.1]}],
        "evaluation": {"num_points": 40, "test_points": 30},
    }


def test_cells_of_the_grid():
    cfg = load_study(base())
    cells = cfg.cells()
    # main grid: 2 dists x 2 n x (2 noise perturbed + mle + kde) x 2 seeds = 32; extra adds s=0.05 at n=100: 2
    assert len(cells) == 34
    assert len({c.key for c in cells}) == 34
    assert {c.noise for c in cells if c.estimator == "mle"} == {0.0}
    assert cfg.distributions["sphere10"] == {"type": "sphere", "ambient_dim": 10}
    assert cfg.evaluation.num_points == 40 and cfg.evaluation.alpha == 2.0
    assert cfg.cells()[0].evaluation == {"num_points": 40, "test_points": 30, "alpha": 2.0, "compare_n": 1000,
                                         "paired_ambient": False, "w1_repeats": 1, "energy_points": 0,
                                         "energy_directions": 0}


@pytest.mark.parametrize("edit,key", [
    (lambda c: c["distributions"].update(torus2={"type": "donut"}), "distributions.torus2.type"),
    (lambda c: c["distributions"].update(donut={}), "distributions.donut"),
    (lambda c: c["distributions"]["circle_vm"].update(kapa=1.0), "distributions.circle_vm.kapa"),
    (lambda c: c["distributions"]["circle_vm"].update(kappa=-1.0), "distributions.circle_vm"),
    (lambda c: c.update(noise=[0.1, -0.2]), r"noise\[1\]"),
    (lambda c: c.update(noise=[]), "noise"),
    (lambda c: c.update(n=[]), "n: empty"),
    (lambda c: c.update(seeds=[]), "seeds"),
    (lambda c: c.update(distributions={}), "distributions"),
    (lambda c: c.update(estimators={}), "estimators"),
    (lambda c: c.update(n=[10.5]), r"n\[0\]"),
    (lambda c: c.update(sedes=[1]), "sedes"),
    (lambda c: c.pop("seeds"), "seeds: missing"),
    (lambda c: c["estimators"].update(gan={}), "estimators.gan"),
    (lambda c: c["estimators"]["mle"].update(max_stepz=3), "estimators.mle.max_stepz"),
    (lambda c: c["estimators"]["mle"].update(max_steps=0), "estimators.mle.max_steps"),
    (lambda c: c["estimators"]["mle"].update(likelihood="exact"), "estimators.mle.likelihood"),
    (lambda c: c["evaluation"].update(points=3), "evaluation.points"),
    (lambda c: c["extra_grids"][0].update(noise=[-1.0]), r"extra_grids\[0\].noise\[0\]"),
    (lambda c: c["extra_grids"][0].update(distributions=["nope"]), r"extra_grids\[0\].distributions\[0\]"),
    (lambda c: c["extra_grids"][0].update(estimators=[]), r"extra_grids\[0\].estimators"),
    (lambda c: c["extra_grids"][0].update(sizes=[1]), r"extra_grids\[0\].sizes"),
    (lambda c: c.update(workers=0), "workers"),
])
def test_bad_configs_name_the_key(edit, key):
    cfg = base()
    edit(cfg)
    with pytest.raises(StudyConfigError, match=key):
        load_study(cfg)


@pytest.mark.parametrize("edit,message", [
    # a bad estimator option: its key, and the options of that estimator (MLEOptions' fields)
    (lambda c: c["estimators"]["mle"].update(max_stepz=3),
     f"estimators.mle.max_stepz: unknown key; allowed: {[f.name for f in fields(MLEOptions)]}"),
    (lambda c: c["estimators"]["mle"].update(likelihood="exact"),
     "estimators.mle.likelihood: expected one of ['mc', 'iw'], got 'exact'"),
    # a bad distribution name: the registry's names
    (lambda c: c["distributions"].update(torus2={"type": "donut"}),
     f"distributions.torus2.type: unknown distribution 'donut'; choose one of {sorted(DISTRIBUTIONS)}"),
    # a wrong type: the expected one, in a grid list with its index
    (lambda c: c["estimators"]["mle"].update(max_steps="many"),
     "estimators.mle.max_steps: expected int restricted to be >0, got 'many'"),
    (lambda c: c["distributions"]["sphere10"].update(ambient_dim="ten"),
     "distributions.sphere10.ambient_dim: expected an int or null, got 'ten'"),
    (lambda c: c["estimators"]["kde"].update(bandwidth="wide"),
     "estimators.kde.bandwidth: expected float restricted to be >0 or one of ['scott', 'silverman', 'loo'], got 'wide'"),
    (lambda c: c.update(seeds=[0, "one"]), "seeds[1]: expected an int, got 'one'"),
    (lambda c: c["evaluation"].update(alpha="two"), "evaluation.alpha: expected float restricted to be >0, got 'two'"),
])
def test_messages_name_the_key_and_what_is_allowed(edit, message):
    cfg = base()
    edit(cfg)
    with pytest.raises(StudyConfigError) as info:
        load_study(cfg)
    assert str(info.value) == f"study config: {message}"


@pytest.mark.parametrize("kind", sorted(ESTIMATOR_OPTIONS))
def test_estimator_options_are_defined_once(kind):
    """A study accepts exactly the fields of the estimator's options dataclass, which fit_estimator takes."""
    options = asdict(ESTIMATOR_OPTIONS[kind]())
    cfg = load_study({**base(), "estimators": {kind: options}, "extra_grids": []})
    assert cfg.estimators[kind] == {"type": kind, **options}
    assert estimator_options(kind, **options) == ESTIMATOR_OPTIONS[kind]()


def test_shorthands_and_normalised_values():
    cfg = load_study({**base(), "estimators": ["kde", {"m": {"type": "mle", "lr": "1e-3"}}], "n": 100, "seeds": 0,
                      "extra_grids": [{"n": 200}]})
    assert cfg.estimators == {"kde": {"type": "kde"}, "m": {"type": "mle", "lr": 0.001}}
    assert (cfg.n, cfg.seeds, cfg.grids[1]["n"]) == ([100], [0], [200])
    assert all(type(v) is int for v in cfg.n + cfg.seeds)  # plain values: cells pickle and hash as before


def test_yaml_file_and_missing_file(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("distributions: [circle, sphere]\nn: 100\nnoise: 0.1\nestimators: [perturbed_mle, kde]\nseeds: [0]\n")
    cfg = load_study(p)
    assert cfg.name == "s" and len(cfg.cells()) == 4
    with pytest.raises(StudyConfigError, match="not found"):
        load_study(tmp_path / "nope.yaml")
    p.write_text("- 1\n- 2\n")
    with pytest.raises(StudyConfigError, match="mapping"):
        load_study(p)


def test_shipped_configs_are_valid():
    from importlib.resources import files

    shipped = sorted((files("geomgen.singular") / "configs").iterdir(), key=lambda p: p.name)
    names = [p.name for p in shipped if p.name.endswith(".yaml")]
    assert "default.yaml" in names
    for p in shipped:
        if p.name.endswith(".yaml"):
            assert load_study(str(p)).cells()
    highdim = load_study(str(files("geomgen.singular") / "configs" / "highdim.yaml"))
    cells = highdim.cells()
    assert len(cells) == 3 * 3 * 3 * 6 * 3  # (d, D) x n x estimators x seeds: the grid issue 11 asks for
    assert [c.seed for c in cells[:162]] == [0] * 162  # seed 0 of every cell runs first
    from geomgen.singular.manifolds import make_distribution

    dims = {(make_distribution(s["type"], **{k: v for k, v in s.items() if k != "type"}).intrinsic_dim,
             s["ambient_dim"]) for s in highdim.distributions.values()}
    assert dims == {(d, D) for d in (1, 2, 4) for D in (d + 1, 10, 30)}
