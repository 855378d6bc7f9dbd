import json
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from geomgen.conformers.reference import verification as V
from geomgen.conformers.reference.build import sample_molecule, write_result
from geomgen.conformers.reference.store import assemble, is_converged, load_reference_set
from tests.scripts import load_script

TINY = dict(n_chains=2, n_samples=40, warmup_sweeps=10, round_sweeps=40, min_sweeps=40, max_sweeps=40,
            nitrogen_inversions_per_sweep=1.0, amide_flips_per_sweep=2.0, max_cpu_seconds=20.0)
ATOMS = np.array([[0, 1, 2, 3], [1, 2, 3, 4]])
OTHER_ATOMS = np.array([[0, 1, 2, 5], [1, 2, 3, 4]])  # another dihedral about the first bond


def ensemble(angles, half_w1=(0.02, 0.02), states=None, atoms=ATOMS, symmetry=(1, 3)):
    diag = {"w1": list(half_w1)}
    if states:
        diag.update(state_names=list(states), state_population=list(states.values()))
    return V.Ensemble(torsion_atoms=np.asarray(atoms), angles=np.asarray(angles), symmetry=np.asarray(symmetry), diagnostics=diag)


def draws(n, seed, shift=0.0):
    """Two torsions: a von Mises around 1 rad (+ shift) and a threefold one."""
    rng = np.random.default_rng(seed)
    a = rng.vonmises(1.0 + shift, 4.0, n)
    b = rng.vonmises(0.5, 8.0, n) / 3 + rng.integers(0, 3, n) * 2 * np.pi / 3
    return np.angle(np.exp(1j * np.stack([a, b], 1)))


def test_compare_agreeing_ensembles_agree():
    out = V.compare(ensemble(draws(2000, 0), states={"amide-0": 0.30}), ensemble(draws(2000, 1), states={"amide-0": 0.27}))
    assert out["agrees"] and out["mismatch"] is None
    assert [t["agrees"] for t in out["torsions"]] == [True, True]
    assert out["torsions"][1]["symmetry"] == 3 and out["torsions"][0]["atoms"] == [0, 1, 2, 3]
    assert out["worst_w1"] < out["worst_threshold"] == pytest.approx(0.1)
    assert out["worst_state_difference"] == pytest.approx(0.03)
    # identical ensembles: W1 zero
    e = ensemble(draws(500, 2))
    assert V.compare(e, e)["worst_w1"] == pytest.approx(0.0, abs=1e-12)


def test_compare_shifted_torsion_disagrees_and_threshold_scales_with_rerun_halves():
    out = V.compare(ensemble(draws(2000, 0)), ensemble(draws(2000, 1, shift=0.5)))
    assert not out["agrees"] and [t["agrees"] for t in out["torsions"]] == [False, True]
    assert out["worst_w1"] == pytest.approx(out["torsions"][0]["w1"]) and out["worst_w1"] > 0.3
    # a rerun that resolves the torsion this poorly itself: the threshold is 2 x its inter-half W1
    loose = V.compare(ensemble(draws(2000, 0)), ensemble(draws(2000, 1, shift=0.5), half_w1=(0.4, 0.02)))
    assert loose["torsions"][0]["threshold"] == pytest.approx(0.8) and loose["agrees"]


def test_compare_state_population_off_by_02_disagrees():
    a, b = draws(1000, 0), draws(1000, 1)
    out = V.compare(ensemble(a, states={"amide-0": 0.7, "nitrogen-5": 0.5}), ensemble(b, states={"amide-0": 0.5, "nitrogen-5": 0.52}))
    assert not out["agrees"] and all(t["agrees"] for t in out["torsions"])
    by = {s["name"]: s for s in out["states"]}
    assert not by["amide-0"]["agrees"] and by["amide-0"]["difference"] == pytest.approx(0.2) and by["nitrogen-5"]["agrees"]
    # a state monitored on one side only is a disagreement
    out = V.compare(ensemble(a, states={"amide-0": 0.5}), ensemble(b, states={"amide-0": 0.5, "nitrogen-5": 0.5}))
    assert not out["agrees"] and out["worst_state_difference"] is None
    assert {s["name"]: (s["stored"], s["agrees"]) for s in out["states"]}["nitrogen-5"] == (None, False)


def test_compare_reports_mismatched_torsions():
    a = draws(200, 0)
    out = V.compare(ensemble(a), ensemble(a, atoms=OTHER_ATOMS))
    assert not out["agrees"] and "quadruples differ" in out["mismatch"] and out["torsions"] == []
    out = V.compare(ensemble(a), ensemble(a[:, :1], atoms=ATOMS[:1], symmetry=(1,), half_w1=(0.0,)))
    assert not out["agrees"] and "quadruples differ" in out["mismatch"]
    # a quadruple read backwards is the same dihedral (same value, same sign): not a mismatch
    out = V.compare(ensemble(a), ensemble(a, atoms=[[3, 2, 1, 0], [1, 2, 3, 4]]))
    assert out["mismatch"] is None and out["agrees"]
    out = V.compare(ensemble(a), ensemble(a, symmetry=(1, 1)))
    assert not out["agrees"] and "symmetry" in out["mismatch"]
    s, r = ensemble(a), ensemble(a)
    s.smiles, r.smiles = "C[C@H](N)O", "C[C@@H](N)O"
    assert "SMILES differ" in V.compare(s, r)["mismatch"]


def test_seed_config_summary():
    assert V.rerun_seed(20251202, 1) == 20251202 + 1001
    with pytest.raises(ValueError):
        V.rerun_seed(0, -1)
    # early stopping off even where the stored settings do not name it (its default is 0.25)
    assert V.rerun_config({"max_cpu_seconds": 90.0, "n_chains": 4}, 1.5) == {"max_cpu_seconds": 135.0, "n_chains": 4, "give_up_after": 0.0}
    # a check gets the whole budget: no early stopping in reruns
    assert V.rerun_config({"max_cpu_seconds": 90.0, "give_up_after": 0.25}) == {"max_cpu_seconds": 90.0, "give_up_after": 0.0}
    # a cached run that never gave up is the run a config without early stopping asks for
    assert V._same_run({"a": 1, "give_up_after": 0.25}, {"a": 1, "give_up_after": 0.0}, gave_up=[])
    assert not V._same_run({"a": 1, "give_up_after": 0.25}, {"a": 1, "give_up_after": 0.0}, gave_up=["projected: ..."])
    assert not V._same_run({"a": 2, "give_up_after": 0.25}, {"a": 1, "give_up_after": 0.0}, gave_up=[])
    assert V._same_run({"a": 1}, {"a": 1, "give_up_after": 0.0}, gave_up=[])  # the default, never fired
    assert V.summarize([True] * 27 + [False] * 3)["trustworthy"]
    assert not V.summarize([True] * 20)["trustworthy"]  # too few
    assert not V.summarize([True] * 26 + [False] * 4)["trustworthy"]
    assert V.summarize([])["share"] is None


def _script():
    return load_script("evaluation/conformers/verify_references.py")


def _tiny_reference(tmp_path):
    """A two-molecule reference file (butane, N-methylacetamide) sampled with the TINY settings."""
    csv_path = tmp_path / "smiles_tiny.csv"
    csv_path.write_text("id,smiles,source\nm0,CCCC,test\nm1,CNC(C)=O,test\n")
    work = tmp_path / "build"
    for mol_id, smi in (("m0", "CCCC"), ("m1", "CNC(C)=O")):
        write_result(work, sample_molecule(mol_id, smi, TINY, seed=7))
    ref = tmp_path / "reference_tiny.npz"
    assert assemble(csv_path, work, ref)["molecules"] == 2
    return ref


def test_script_end_to_end_and_resume(tmp_path, monkeypatch):
    ref = _tiny_reference(tmp_path)
    script = _script()
    out = tmp_path / "verify.md"
    argv = ["--reference", str(ref), "--sample", "5", "--seed", "1", "--work", str(tmp_path / "verify"), "-o", str(out),
            "--all-labels", "--no-progress"]
    result = script.main(argv + ["--jobs", "1"])  # a process pool, as on the command line
    data = json.loads(out.with_suffix(".json").read_text())
    assert data == json.loads(json.dumps(result))
    assert [m["id"] for m in data["molecules"]] == ["m0", "m1"]
    for m in data["molecules"]:
        assert isinstance(m["agrees"], bool) and m["split"] == "tiny" and m["error"] is None and m["mismatch"] is None
        assert m["rerun_seed"] == 7 + 1001 and m["stored_seed"] == 7 and m["rerun_config"] == {**TINY, "give_up_after": 0.0}
        assert isinstance(m["rerun_converged"], bool)
    m0, m1 = data["molecules"]
    assert m0["n_torsions"] == len(m0["torsions"]) == 1 and m1["n_torsions"] == 0
    assert set(m0["torsions"][0]) >= {"atoms", "w1", "rerun_half_w1", "threshold", "agrees"}
    ref0 = next(r for r in load_reference_set(str(ref)) if r.id == "m0")
    assert m0["energy"]["stored_min"] == pytest.approx(float(ref0.energies.min()))
    assert m0["energy"]["rerun_min_below"] == pytest.approx(m0["energy"]["stored_min"] - m0["energy"]["rerun_min"])
    assert [s["name"] for s in m1["states"]] == ["amide-0"] and m1["states"][0]["rerun"] is not None
    s = data["summary"]
    assert s["overall"]["molecules"] == 2 and s["splits"]["tiny"]["eligible"] == 2 and s["overall"]["trustworthy"] is False
    assert "| tiny | m1 | `CNC(C)=O` | 0 |" in out.read_text()
    assert (tmp_path / "verify" / "tiny" / "m0.npz").exists()

    # resumed: the cached reruns are reused, nothing is sampled again
    def boom(*a, **k):
        raise AssertionError("rerun not reused")

    monkeypatch.setattr(V, "rerun", boom)
    with ThreadPoolExecutor(1) as ex:
        again = script.main(argv, executor=ex)
    assert [m["torsions"] for m in again["molecules"]] == [m["torsions"] for m in result["molecules"]]
    # without --all-labels only the molecules labelled converged (current sampler) are drawn
    converged = [r.id for r in load_reference_set(str(ref)) if is_converged(r.diagnostics)]
    with ThreadPoolExecutor(1) as ex:
        some = script.main([a for a in argv if a != "--all-labels"], executor=ex)
    assert [m["id"] for m in some["molecules"]] == converged and some["summary"]["splits"]["tiny"]["eligible"] == len(converged)
    # --min-revision: only references of that sampler revision or later are drawn
    from geomgen.conformers.reference.build import SAMPLER_REVISION

    with ThreadPoolExecutor(1) as ex:
        late = script.main(argv + ["--min-revision", str(SAMPLER_REVISION + 1)], executor=ex)
        now = script.main(argv + ["--min-revision", str(SAMPLER_REVISION)], executor=ex)
    assert late["molecules"] == [] and late["summary"]["splits"]["tiny"]["eligible"] == 0
    assert [m["id"] for m in now["molecules"]] == ["m0", "m1"]


def test_script_reruns_an_earlier_verification_against_a_second_seed(tmp_path):
    """``--ids-from`` takes the molecules of an earlier JSON (not a fresh draw); ``--against-seed``
    reruns each with a second seed and compares the two reruns by the same rule."""
    ref = _tiny_reference(tmp_path)
    earlier = tmp_path / "earlier.json"
    earlier.write_text(json.dumps({"molecules": [{"split": "tiny", "id": "m1"}]}))
    script = _script()
    out = tmp_path / "pairs.md"
    argv = ["--reference", str(ref), "--ids-from", str(earlier), "--seed", "1", "--against-seed", "2",
            "--work", str(tmp_path / "verify"), "-o", str(out), "--no-progress"]
    with ThreadPoolExecutor(1) as ex:
        result = script.main(argv, executor=ex)
    (m,) = result["molecules"]
    assert m["id"] == "m1" and m["rerun_seed"] == 7 + 1001 and m["second_seed"] == 7 + 1002
    assert isinstance(m["reruns_agree"], bool) and m["pair_worst_state_difference"] is not None
    # the pair comparison is the rule applied to the two cached reruns
    first = V.cached_rerun(tmp_path / "verify" / "tiny", "m1", 7 + 1001, TINY)
    second = V.cached_rerun(tmp_path / "verify" / "tiny-seed2", "m1", 7 + 1002, TINY)
    assert first is not None and second is not None
    assert m["reruns_agree"] == V.compare(V.ensemble_from_result(first), V.ensemble_from_result(second))["agrees"]
    pairs = result["summary"]["pairs"]
    assert pairs["molecules"] == 1 and pairs["agree"] == int(m["reruns_agree"])
    assert pairs["stored_disagrees"] == int(not m["agrees"])
    text = out.read_text()
    assert "Rerun against rerun" in text and "earlier verification" in text and "| reruns agree |" in text
    assert isinstance(m["reruns_agree_within_noise"], bool) and isinstance(m["agrees_within_noise"], bool)
    assert result["summary"]["within_noise"]["molecules"] == 1 and "Within sampling noise" in text
    # an id the reference files do not hold is named; the second seed must differ from the first
    earlier.write_text(json.dumps({"molecules": [{"split": "tiny", "id": "nope"}]}))
    with pytest.raises(SystemExit, match="nope"):
        script.main(argv)
    with pytest.raises(SystemExit):
        script.main([a if a != "2" else "1" for a in argv])


def test_a_check_with_another_seed_keeps_the_first_seeds_reruns(tmp_path, monkeypatch):
    """Thirteenth round: a `--seed 2 --against-seed 1` check of two molecules overwrote the
    `--seed 1` reruns in `<work>/<split>/` (the cache is one file per id), so the running seed-1
    check sampled them again. Each seed now has its own folder, and seed 1's is reused as K = 1."""
    ref = _tiny_reference(tmp_path)
    script = _script()
    work = tmp_path / "verify"
    base = ["--reference", str(ref), "--all-labels", "--work", str(work), "--no-progress"]
    with ThreadPoolExecutor(1) as ex:
        script.main(base + ["--sample", "5", "--seed", "1", "-o", str(tmp_path / "one.md")], executor=ex)
    first = {p.name: p.read_bytes() for p in (work / "tiny").glob("*.npz")}
    assert set(first) == {"m0.npz", "m1.npz"}
    sampled = []
    real = V.rerun
    monkeypatch.setattr(V, "rerun", lambda mol_id, mol, cfg, seed: sampled.append(seed) or real(mol_id, mol, cfg, seed))
    with ThreadPoolExecutor(1) as ex:
        result = script.main(base + ["--sample", "5", "--seed", "2", "--against-seed", "1", "-o", str(tmp_path / "two.md")], executor=ex)
    assert sampled == [7 + 1002, 7 + 1002]  # only the new seed is sampled; seed 1's reruns come from the cache
    assert {p.name: p.read_bytes() for p in (work / "tiny").glob("*.npz")} == first
    assert V.cached_rerun(work / "tiny-seed2", "m0", 7 + 1002, TINY) is not None
    assert [m["rerun_seed"] for m in result["molecules"]] == [7 + 1002] * 2
    assert [m["second_seed"] for m in result["molecules"]] == [7 + 1001] * 2


def test_noise_w1_known_answers():
    """The W1 that noise alone reaches: far above 0.1 rad for two modes half a circle apart at ESS
    400, shrinking as 1/sqrt(ESS), small for one narrow mode; two ensembles of one law agree within it."""
    rng = np.random.default_rng(0)

    def two_modes(n):
        return rng.choice([-1.75, 1.75], size=n) + 0.3 * rng.standard_normal(n)

    a, b = two_modes(800), two_modes(800)
    at400, at1600 = V.noise_w1(a, b, 400, 400), V.noise_w1(a, b, 1600, 1600)
    assert 0.15 < at400 < 0.25 and at1600 == pytest.approx(at400 / 2, rel=0.25)
    one = 0.3 * rng.standard_normal(800)
    assert V.noise_w1(one, one, 400, 400) < 0.07
    assert V.noise_w1(a, b, 400, 400) == at400  # seeded
    # compare(noise=True): the same law at ESS 400 is within noise; a shifted mode is not
    diag = {"w1": [0.05], "ess": [400.0]}
    same = V.compare(V.Ensemble(ATOMS[:1], a[:, None], np.array([1]), diag), V.Ensemble(ATOMS[:1], b[:, None], np.array([1]), diag), noise=True)
    assert same["agrees_within_noise"] and same["torsions"][0]["noise_w1"] > 0.1
    moved = V.compare(V.Ensemble(ATOMS[:1], a[:, None], np.array([1]), diag),
                      V.Ensemble(ATOMS[:1], (b + 0.6)[:, None], np.array([1]), diag), noise=True)
    assert not moved["agrees_within_noise"] and not moved["agrees"]
    assert "agrees_within_noise" not in V.compare(V.Ensemble(ATOMS[:1], a[:, None], np.array([1]), diag),
                                                  V.Ensemble(ATOMS[:1], b[:, None], np.array([1]), diag))


def test_mirror_average_negates_every_dihedral():
    a = np.array([[0.5, -1.0], [2.0, 3.0]])
    m = V.mirror_average(a)
    assert m.shape == (4, 2) and np.array_equal(m[:2], a) and np.array_equal(m[2:], -a)
    assert V.mirror_average(np.array([1.0])).tolist() == [1.0, -1.0]


def test_compare_mirror_averages_only_mirror_sampled_ensembles():
    # a mirror-symmetric law: two equal modes at +-1.5 rad; the runs' coins fell 60/40 and 40/60
    rng = np.random.default_rng(0)

    def run(p_plus, n=800):
        sign = np.where(np.arange(n) < p_plus * n, 1.0, -1.0)
        return (sign * rng.vonmises(1.5, 20.0, n))[:, None]

    atoms, sym = ATOMS[:1], (1,)
    s, r = (ensemble(run(p), half_w1=(0.01,), atoms=atoms, symmetry=sym) for p in (0.6, 0.4))
    plain = V.compare(s, r)
    assert not plain["mirror_averaged"] and not plain["agrees"]
    assert plain["worst_w1"] == pytest.approx(0.2 * 3.0, abs=0.1)  # 20 % of the mass moved about 3 rad
    for e in (s, r):
        e.diagnostics["mirror_moves"] = True
    averaged = V.compare(s, r)
    assert averaged["mirror_averaged"] and averaged["agrees"] and averaged["worst_w1"] < 0.05
    # explicit override, and one side without mirror moves: no averaging
    assert not V.compare(s, r, mirror=False)["agrees"]
    r.diagnostics["mirror_moves"] = False
    assert not V.compare(s, r)["mirror_averaged"]


def _antipodal(n, p, seed, ess_full):
    """One torsion with all its mass on 0 and pi (share p on pi): W1 between two such ensembles
    is pi x the difference of their shares."""
    rng = np.random.default_rng(seed)
    angles = np.where(rng.random(n) < p, np.pi - 1e-9, 0.0)[:, None]
    e = ensemble(angles, half_w1=(0.0,), atoms=ATOMS[:1], symmetry=(1,))
    e.diagnostics["ess"] = [ess_full]
    return e


def test_exact_agreement_known_answer_two_antipodal_modes():
    from scipy import integrate, stats

    def want(n, ess_full):
        # pass iff pi |d| <= max(0.1, 2 pi |d_h|), d ~ N(0, 1/4 (1/n + 1/n)), d_h ~ N(0, 1/4 (2/h + 2/h)), h = ESS/2
        sd, sd_h = math.sqrt(0.25 * 2 / n), math.sqrt(0.25 * 2 / (ess_full / 2))

        def inner(x):
            t = max(0.1 / np.pi, 2 * abs(x))
            return (2 * stats.norm.cdf(t / sd) - 1) * stats.norm.pdf(x, scale=sd_h)

        return integrate.quad(inner, -8 * sd_h, 8 * sd_h, limit=200)[0]

    n, ess_full = 400, 400.0
    s, r = _antipodal(n, 0.5, 0, ess_full), _antipodal(n, 0.5, 1, ess_full)
    got = V.exact_agreement(s, r, draws=4000, seed=3)
    assert 0.75 < want(n, ess_full) < 0.95
    assert got["probability"] == pytest.approx(want(n, ess_full), abs=0.03)
    assert got["torsions"] == [got["probability"]]
    # four times the effective size (and samples)
    four = V.exact_agreement(s, r, ess_factor=4, draws=4000, seed=4)["probability"]
    assert four == pytest.approx(want(4 * n, 4 * ess_full), abs=0.02) and four > got["probability"]
    # one mode: certain
    one = _antipodal(n, 0.0, 2, ess_full)
    assert V.exact_agreement(one, one)["probability"] == 1.0


def test_self_agreement_is_exact_agreement_with_itself():
    """Two antipodal modes of equal weight at ESS 400: the self-figure has the same closed form as
    two runs (the pool is the ensemble alone), rises with the effective size, and is 1 for one mode."""
    from scipy import integrate, stats

    def want(n):
        sd, sd_h = math.sqrt(0.25 * 2 / n), math.sqrt(0.25 * 2 / (n / 2))  # halves of n / 2 each
        return integrate.quad(lambda x: (2 * stats.norm.cdf(max(0.1 / np.pi, 2 * abs(x)) / sd) - 1) * stats.norm.pdf(x, scale=sd_h),
                              -8 * sd_h, 8 * sd_h, limit=200)[0]

    e = _antipodal(400, 0.5, 0, 400.0)
    assert V.self_agreement(e, draws=4000, seed=1) == pytest.approx(want(400), abs=0.03)
    big = _antipodal(1600, 0.5, 0, 1600.0)
    assert V.self_agreement(big, draws=4000, seed=1) == pytest.approx(want(1600), abs=0.03)
    assert want(1600) > want(400) + 0.05
    assert V.self_agreement(_antipodal(400, 0.0, 0, 400.0)) == 1.0


def test_exact_agreement_states_and_mismatch():
    a = draws(800, 0)
    s = ensemble(a, states={"amide-0": 0.5, "amide-1": 0.0})
    r = ensemble(draws(800, 1), states={"amide-0": 0.5, "amide-1": 0.0})
    for e in (s, r):
        e.diagnostics.update(ess=[5000.0, 5000.0], state_ess=[100.0, float("inf")])
    got = V.exact_agreement(s, r, draws=4000, seed=1)
    # |p1 - p2| <= 0.05 with p_i ~ Bin(100, 0.5) / 100: P(|k1 - k2| <= 5), k1 - k2 symmetric
    from scipy import stats

    k = np.arange(101)
    pmf = stats.binom.pmf(k, 100, 0.5)
    want = sum(pmf[i] * pmf[j] for i in k for j in k if abs(i - j) <= 5)
    assert got["states"]["amide-0"] == pytest.approx(want, abs=0.03)
    assert got["states"]["amide-1"] == 1.0  # never left its state
    r.diagnostics.update(state_names=["amide-0"], state_population=[0.5], state_ess=[100.0])
    assert V.exact_agreement(s, r)["states"]["amide-1"] == 0.0  # monitored on one side only
    assert V.exact_agreement(s, ensemble(a, atoms=OTHER_ATOMS))["probability"] is None
    with pytest.raises(ValueError, match="ess_factor"):
        V.exact_agreement(s, r, ess_factor=0)


def test_count_distribution_and_interval():
    law = V.count_distribution([0.5, 0.5])
    assert law.tolist() == pytest.approx([0.25, 0.5, 0.25])
    from scipy import stats

    ps = [0.9] * 30
    assert V.count_distribution(ps) == pytest.approx(stats.binom.pmf(np.arange(31), 30, 0.9))
    lo, hi = V.count_interval(ps, 0.9)
    assert (lo, hi) == (int(stats.binom.ppf(0.05, 30, 0.9)), int(stats.binom.ppf(0.95, 30, 0.9)))
    assert V.count_interval([1.0] * 5) == (5, 5)
    with pytest.raises(ValueError):
        V.count_distribution([1.2])


def test_verified_ids_count_a_record_only_for_the_ensemble_it_judged(tmp_path, monkeypatch):
    from types import SimpleNamespace

    def ref(i, seed, cpu, converged=True):
        return SimpleNamespace(id=i, converged=converged, diagnostics={"seed": seed, "cpu_seconds": cpu})

    refs = {"test": {"a": ref("a", 1, 10.0), "b": ref("b", 2, 20.0), "c": ref("c", 3, 30.0)}}
    report = {"molecules": [
        {"split": "test", "id": "a", "stored_seed": 1, "stored_cpu_seconds": 10.0, "agrees": True},
        {"split": "test", "id": "b", "stored_seed": 2, "stored_cpu_seconds": 20.0, "agrees": False},
        {"split": "test", "id": "c", "stored_seed": 3, "stored_cpu_seconds": 29.0, "agrees": True},  # rebuilt since
        {"split": "val", "id": "a", "stored_seed": 1, "stored_cpu_seconds": 10.0, "agrees": True},  # another split
    ]}
    judged, agreed = V.verified_ids([report], refs)
    assert judged == {"test": {"a", "b"}} and agreed == {"test": {"a"}}
    # evaluate.py --verified-only scores exactly those
    mod = load_script("evaluation/conformers/evaluate.py")
    (tmp_path / "verify_references_x.json").write_text(json.dumps(report))
    monkeypatch.setattr(mod, "HERE", tmp_path)
    every = list(refs["test"].values()) + [ref("d", 4, 40.0, converged=False)]
    assert [r.id for r in mod.verified_references("test", every)] == ["a"]
    with pytest.raises(SystemExit):
        mod.main(["--all-molecules", "--verified-only"])


def test_verified_ids_takes_the_majority_of_distinct_reruns():
    from types import SimpleNamespace

    refs = {"test": {i: SimpleNamespace(id=i, diagnostics={"seed": 0, "cpu_seconds": 5.0}) for i in "abcd"}}

    def rec(i, rerun_seed, agrees):
        return {"split": "test", "id": i, "stored_seed": 0, "stored_cpu_seconds": 5.0, "rerun_seed": rerun_seed, "agrees": agrees}

    reports = [
        {"molecules": [rec("a", 1001, True), rec("b", 1001, False), rec("c", 1001, True), rec("d", 1001, False)]},
        {"molecules": [rec("a", 1002, False), rec("b", 1002, True), rec("c", 1001, True)]},  # c: the same rerun again
        {"molecules": [rec("b", 1021, True), rec("d", 1001, True)]},  # d: one rerun votes once, against if judged so once
    ]
    judged, agreed = V.verified_ids(reports, refs)
    # a: 1 of 2 (a tie is not verified); b: 2 of 3; c: 1 of 1; d: 0 of 1
    assert judged == {"test": set("abcd")} and agreed == {"test": {"b", "c"}}
    assert V.tied_ids(reports, refs) == {"test": {"a"}}
    assert V.rerun_votes(reports, refs) == {("test", "a"): (1, 1), ("test", "b"): (2, 1), ("test", "c"): (1, 0), ("test", "d"): (0, 1)}


@pytest.mark.parametrize("smiles, revision, flips, outdated", [
    ("CC1CCc2ccccc2C1", 11, 1.0, "aryl-fused"),  # a tetralin: its half-chair was held
    ("CC1CCC2(CC1)CCCC2", 11, 1.0, "spiro"),
    ("CC1CCc2ccccc2C1", 12, 1.0, None),
    ("CN1CCCC1=O", 11, 1.0, "in-plane"),  # the lactam oxygen labelled the pucker
    ("CN1CCCC1=O", 11, 0.0, None),  # nothing was flipped, so nothing was rebuilt wrongly
    ("CC1CCCCC1", 11, 1.0, None),
])
def test_outdated_references_are_judged_but_not_verified(smiles, revision, flips, outdated):
    from types import SimpleNamespace

    from geomgen.conformers import parse_molecule
    from geomgen.conformers.reference.build import outdated_by

    ref = SimpleNamespace(id="a", converged=True, mol=parse_molecule(smiles), diagnostics={
        "seed": 1, "cpu_seconds": 10.0, "sampler_version": 4, "sampler_revision": revision,
        "config": {"ring_flips_per_sweep": flips}})
    reason = outdated_by(ref)
    assert (reason is None) if outdated is None else (outdated in reason)
    report = {"molecules": [{"split": "test", "id": "a", "stored_seed": 1, "stored_cpu_seconds": 10.0, "agrees": True}]}
    judged, agreed = V.verified_ids([report], {"test": {"a": ref}})
    assert judged == {"test": {"a"}} and agreed == ({} if outdated else {"test": {"a"}})


def test_basin_record_compares_the_runs_lowest_basins():
    script = _script()
    got = script.basin_record({"basin_sample_min": -2.0}, {"basin_sample_min": -3.125})
    assert got["basin_below"] == pytest.approx(1.125) and got["stored_sample_min"] == -2.0
    assert script.basin_record({"basin_sample_min": -2.0}, {}) == {}  # a run before revision 9


def test_unjudged_drops_only_molecules_judged_in_their_current_ensemble(tmp_path):
    from types import SimpleNamespace

    def ref(i, seed, cpu):
        return SimpleNamespace(id=i, diagnostics={"seed": seed, "cpu_seconds": cpu})

    refs = {"test": {"a": ref("a", 1, 10.0), "b": ref("b", 2, 20.0), "c": ref("c", 3, 30.0)}, "val": {"a": ref("a", 1, 10.0)}}
    path = tmp_path / "verify_references_x.json"
    path.write_text(json.dumps({"molecules": [
        {"split": "test", "id": "a", "stored_seed": 1, "stored_cpu_seconds": 10.0, "agrees": True},
        {"split": "test", "id": "b", "stored_seed": 2, "stored_cpu_seconds": 20.0, "agrees": False},  # judged, disagreed
        {"split": "test", "id": "c", "stored_seed": 3, "stored_cpu_seconds": 29.0, "agrees": True},  # rebuilt since
    ]}))
    pools = {split: list(r.values()) for split, r in refs.items()}
    left = _script().unjudged(pools, refs, [path])
    assert [r.id for r in left["test"]] == ["c"] and [r.id for r in left["val"]] == ["a"]
    assert _script().unjudged(pools, refs, []) == pools
    # --ties: b's one rerun disagreed (not a tie); a second report's rerun of b agreeing makes it one
    assert _script().tied(pools, refs, [path]) == {"test": [], "val": []}
    second = tmp_path / "verify_references_y.json"
    second.write_text(json.dumps({"molecules": [
        {"split": "test", "id": "b", "stored_seed": 2, "stored_cpu_seconds": 20.0, "rerun_seed": 1024, "agrees": True}]}))
    assert [r.id for r in _script().tied(pools, refs, [path, second])["test"]] == ["b"]


def test_a_cached_rerun_of_another_sampler_revision_is_sampled_again(tmp_path, monkeypatch):
    """Nineteenth round: a revision-12 reference (fused rings flip) was judged against a cached
    revision-11 rerun of the same seed and settings, which had no such flips. The cache now keys on
    the sampler's version and revision too."""
    from geomgen.conformers.reference import build as B

    ref = _tiny_reference(tmp_path)
    script = _script()
    work = tmp_path / "verify"
    with ThreadPoolExecutor(1) as ex:
        script.main(["--reference", str(ref), "--all-labels", "--work", str(work), "--no-progress", "--sample", "5",
                     "--seed", "1", "-o", str(tmp_path / "one.md")], executor=ex)
    assert V.cached_rerun(work / "tiny", "m0", 7 + 1001, TINY) is not None
    monkeypatch.setattr(B, "SAMPLER_REVISION", B.SAMPLER_REVISION + 1)
    assert V.cached_rerun(work / "tiny", "m0", 7 + 1001, TINY) is None


def test_a_state_only_one_side_monitors_disagrees_unless_told_otherwise():
    """Two runs of one revision monitor the same states, so a missing one is a disagreement; two
    revisions (compare_references.py) list it without judging it, in both verdicts."""
    from types import SimpleNamespace

    def ens(states, pops):
        return SimpleNamespace(torsion_atoms=np.array([[0, 1, 2, 3]]), symmetry=np.array([1]),
                               angles=np.zeros((50, 1)), diagnostics={"w1": [0.0], "state_names": states,
                                                                      "state_population": pops})

    old, new = ens(["amide-0"], [0.5]), ens(["amide-0", "ring-0"], [0.52, 0.3])
    strict = V.compare(old, new, noise=True)
    assert not strict["agrees"] and not strict["agrees_within_noise"] and strict["worst_state_difference"] is None
    loose = V.compare(old, new, noise=True, unshared_states_disagree=False)
    assert loose["agrees"] and loose["agrees_within_noise"] and loose["worst_state_difference"] == pytest.approx(0.02)
    assert [s["judged"] for s in loose["states"]] == [True, False]


def test_skip_outdated_draws_no_reference_whose_rebuild_is_pending():
    from types import SimpleNamespace

    from geomgen.conformers import parse_molecule
    from geomgen.conformers.reference.build import SAMPLER_VERSION

    def ref(i, smiles, revision):
        return SimpleNamespace(id=i, mol=parse_molecule(smiles), diagnostics={
            "seed": 1, "cpu_seconds": 10.0, "sampler_version": SAMPLER_VERSION, "sampler_revision": revision,
            "config": {"ring_flips_per_sweep": 1.0}, "converged": True})

    refs = [ref("tetralin-11", "CC1CCc2ccccc2C1", 11), ref("tetralin-12", "CC1CCc2ccccc2C1", 12), ref("hexane-11", "CC1CCCCC1", 11)]
    script = _script()
    script.is_converged = lambda d: d["converged"]
    every, counts = script.candidates(refs)
    kept, kept_counts = script.candidates(refs, skip_outdated=True)
    assert [r.id for r in every] == ["hexane-11", "tetralin-11", "tetralin-12"]
    assert [r.id for r in kept] == ["hexane-11", "tetralin-12"]  # the tetralin of revision 11 held its half-chair
    assert counts["eligible"] == 3 and kept_counts["eligible"] == 2
