import pytest

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
    assert cfg.evaluation["num_points"] == 40 and cfg.evaluation["alpha"] == 2.0


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
