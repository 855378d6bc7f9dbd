r"""An independent check of a reference's convergence label: compare a stored ensemble with a
rerun of the sampler from fresh over-dispersed starts, another seed and its own seed geometry.

A torsion **agrees** when the circular W1 between the stored and the rerun samples (modulo the
torsion's symmetry order, :func:`~geomgen.conformers.reference.convergence.torsion_w1`) is
within what the rerun itself cannot resolve,

.. math::

    W_1(\text{stored}, \text{rerun}) \le \max\big(w_{\min},\ f \cdot W_1^{\text{halves}}(\text{rerun})\big),

with :math:`w_{\min} = 0.1` rad, :math:`f = 2` and :math:`W_1^{\text{halves}}` the rerun's
inter-half W1 (its diagnostics ``w1``). A monitored discrete state (an amide's E/Z state, a
nitrogen's configuration, matched by name) agrees when its populations (the share of samples in
state 1, diagnostics ``state_population``) differ by at most 0.05; a state monitored in one
ensemble only is a disagreement. A molecule agrees when all its torsions and states do. The
two ensembles must describe the same torsions: the same canonical isomeric SMILES (where both
say), the same ``[T, 4]`` quadruples in the same order (a quadruple may be read backwards: it is
the same dihedral) and symmetry orders, else the molecule is reported as a mismatch and does not
agree.

A convergence label is **trustworthy** when at least 90 % of a random sample of at least 30
molecules labelled converged agree with their reruns (:func:`summarize`). The rerun is what
``evaluation/conformers/verify_references.py`` runs (:func:`rerun_seed`, :func:`rerun_config`).

*Mirror averaging.* For a molecule whose mirror image is the same stereoisomer the MMFF94 law is
invariant under :math:`x \mapsto -x`, which negates every dihedral; the sampler's mirror move
(:mod:`~geomgen.conformers.reference.moves.symmetry`) applies it with probability 1/2 per sweep,
so each recorded sample carries a fair coin. Averaging over that coin (the samples together with
their mirror images, :func:`mirror_average`) is the Rao-Blackwellised estimate of the same law:
exact for any exact sampler, and without the binomial noise of the coin in the split between
mirror-image modes (at 800 samples that noise alone moves a +-90 degree torsion's W1 by about
0.1 rad). :func:`compare` averages both ensembles when both were sampled with mirror moves.

*What an exact sampler would score.* The rule's 0.1 rad floor is fixed, but the sampling noise of
two ensembles is not: two equal modes pi apart at an effective sample size of 400 each differ in
W1 by more than 0.1 rad in about 37 % of all pairs of exact runs (:math:`\pi |p_1 - p_2| > 0.1` with
:math:`p_1 - p_2` of standard deviation 0.035). :func:`exact_agreement` estimates, for
one molecule, the probability that two *exact* samplers at the two ensembles' effective sizes
agree by the rule (bootstrap from the pooled ensembles, the threshold's inter-half W1 simulated
too). Summed over the molecules of a verification, it is the agreement an exact sampler would
reach: the bar a sampler can be held to at those effective sizes.

*The sampler's precision target.* :func:`self_agreement` is the same figure for one run against an
exact rerun like it: :func:`exact_agreement` of the ensemble with itself. The reference sampler
(``agreement_target``, sampler revision 7) runs on past its R-hat/ESS/W1 rule until that figure
reaches the target, so a molecule labelled converged is one that a verification should confirm
with at least that probability if the sampler were exact; what the verification then measures
is whether it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: a torsion agrees when its W1 is at most max(W1_FLOOR, W1_FACTOR x the rerun's inter-half W1)
W1_FLOOR = 0.1
W1_FACTOR = 2.0
#: a discrete state agrees when its populations differ by at most this
STATE_TOLERANCE = 0.05
#: a label is trustworthy when at least this share of at least MIN_MOLECULES molecules agree
MIN_SHARE = 0.9
MIN_MOLECULES = 30
#: rerun seed = stored seed + SEED_OFFSET + the verification's own seed
SEED_OFFSET = 1000
#: noise check: quantile of the W1 between two independent samples of the ensembles' effective sizes
NOISE_QUANTILE = 0.95
NOISE_DRAWS = 200
#: exact_agreement: bootstrap rounds, and the largest simulated half of a rerun (rows)
AGREEMENT_DRAWS = 400
HALF_CAP = 4000


def mirror_average(angles) -> np.ndarray:
    """The samples and their mirror images: ``[S, T]`` (or ``[S]``) angles -> ``[2S, T]`` (``[2S]``),
    every dihedral negated in the second half (see the module docstring, *Mirror averaging*)."""
    a = np.asarray(angles, dtype=np.float64)
    return np.concatenate([a, -a])


def mirror_sampled(ensemble) -> bool:
    """Whether an ensemble was sampled with mirror moves (its diagnostics' ``mirror_moves``: set
    by the sampler only for a molecule whose mirror image is the same stereoisomer)."""
    return bool((getattr(ensemble, "diagnostics", None) or {}).get("mirror_moves"))


def noise_w1(a, b, ess_a: float, ess_b: float, symmetry: int = 1, quantile: float = NOISE_QUANTILE,
             draws: int = NOISE_DRAWS, seed: int = 0, mirror: bool = False) -> float:
    r"""How large W1 gets between two ensembles of one torsion law from sampling noise alone.

    Under the hypothesis that the two ensembles sample the same law, their pooled samples stand
    for it; two independent samples of ``round(ess_a)`` and ``round(ess_b)`` angles are drawn from
    the pool ``draws`` times and the ``quantile`` of their circular W1 (modulo ``symmetry``,
    :func:`~geomgen.conformers.reference.convergence.torsion_w1`) is returned. Chain samples are
    autocorrelated; the effective sample sizes stand in for their independent draws. Two equal
    modes 3.5 rad apart (width 0.3 rad) give about 0.20 at ESS 400 each and 0.09 at 1,600 (a
    population shift of a few percent moves that mass half way round the circle); one mode of
    width 0.3 gives about 0.05 at 400. With ``mirror`` the pool and every draw are mirror-averaged
    (:func:`mirror_average`), as :func:`compare` then compares them.

    Shapes: a ``[n]``, b ``[m]`` angles (radians).
    """
    from geomgen.conformers.reference.convergence import torsion_w1

    pool = np.concatenate([np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()])
    if mirror:
        pool = mirror_average(pool)
    if len(pool) < 2:
        return math.inf
    na = int(np.clip(round(ess_a), 2, len(pool))) if math.isfinite(ess_a) else len(pool)
    nb = int(np.clip(round(ess_b), 2, len(pool))) if math.isfinite(ess_b) else len(pool)
    rng = np.random.default_rng(seed)
    u = pool[rng.integers(0, len(pool), size=(na, draws))]
    v = pool[rng.integers(0, len(pool), size=(nb, draws))]
    if mirror:
        u, v = mirror_average(u), mirror_average(v)
    w = torsion_w1(u, v, np.full(draws, symmetry))  # each draw a column: one call for all
    return float(np.quantile(w, quantile))


@dataclass
class Ensemble:
    """The parts of a reference that :func:`compare` reads (a
    :class:`~geomgen.conformers.reference.store.ReferenceMolecule` has them too).

    Attributes:
        torsion_atoms: ``[T, 4]`` dihedral quadruples.
        angles: ``[S, T]`` torsion samples (radians).
        symmetry: ``[T]`` symmetry orders.
        diagnostics: sampler diagnostics (``w1`` per torsion, ``state_names``, ``state_population``).
        smiles: canonical isomeric SMILES (optional; compared when both sides have one, so a
            rerun that fixed another stereoisomer is a mismatch).
    """

    torsion_atoms: np.ndarray
    angles: np.ndarray
    symmetry: np.ndarray
    diagnostics: dict = field(default_factory=dict)
    smiles: str | None = None


def ensemble_from_result(rec: dict) -> Ensemble:
    """The :class:`Ensemble` of a successful
    :func:`~geomgen.conformers.reference.build.sample_molecule` record (quantised angles
    dequantised as :func:`~geomgen.conformers.reference.store.load_reference_set` does)."""
    import json

    from geomgen.conformers.reference.store import QUANT

    a = rec["arrays"]
    diag = rec.get("diagnostics") or json.loads(str(a["diagnostics"]))
    q = np.asarray(a["angles"], dtype=np.float64)
    return Ensemble(torsion_atoms=np.asarray(a["torsion_atoms"], dtype=np.int64).reshape(-1, 4),
                    angles=(q / QUANT * 2 * np.pi - np.pi).reshape(len(q), -1),
                    symmetry=np.asarray(a["symmetry"], dtype=np.int64), diagnostics=diag, smiles=str(a["smiles"]))


def _oriented(quads: np.ndarray) -> np.ndarray:
    """Each quadruple read in the direction whose second atom has the lower index: a, b, c, d and
    d, c, b, a are one dihedral with one value (reversing the order keeps its sign)."""
    flip = quads[:, 1] > quads[:, 2]
    return np.where(flip[:, None], quads[:, ::-1], quads)


def _mismatch(stored, rerun) -> str | None:
    s_smi, r_smi = getattr(stored, "smiles", None), getattr(rerun, "smiles", None)
    if s_smi is not None and r_smi is not None and s_smi != r_smi:
        return f"SMILES differ: stored {s_smi}, rerun {r_smi}"
    sa = np.asarray(stored.torsion_atoms, dtype=np.int64).reshape(-1, 4)
    ra = np.asarray(rerun.torsion_atoms, dtype=np.int64).reshape(-1, 4)
    if sa.shape != ra.shape or not np.array_equal(_oriented(sa), _oriented(ra)):
        return f"torsion quadruples differ: stored {sa.tolist()}, rerun {ra.tolist()}"
    ss, rs = np.asarray(stored.symmetry, dtype=np.int64), np.asarray(rerun.symmetry, dtype=np.int64)
    if ss.shape != rs.shape or not np.array_equal(ss, rs):
        return f"symmetry orders differ: stored {ss.tolist()}, rerun {rs.tolist()}"
    for name, e in (("stored", stored), ("rerun", rerun)):
        shape = np.shape(e.angles)
        if len(shape) != 2 or shape[1] != len(sa):
            return f"{name} angles have shape {tuple(shape)}, expected [S, {len(sa)}]"
    return None


def _states(diagnostics: dict, key: str = "state_population") -> dict[str, float]:
    """A per-state diagnostic (``state_population``, ``state_ess``) by state name."""
    names = diagnostics.get("state_names") or []
    return {str(n): float(v) for n, v in zip(names, diagnostics.get(key) or [])}


def _use_mirror(stored, rerun, mirror: bool | None) -> bool:
    """``mirror`` if given, else whether both runs sampled mirror moves (:func:`mirror_sampled`)."""
    return mirror_sampled(stored) and mirror_sampled(rerun) if mirror is None else bool(mirror)


def _threshold(half_w1, w1_floor: float, w1_factor: float):
    """A torsion's agreement threshold from the rerun's inter-half W1 (module docstring)."""
    return np.maximum(w1_floor, w1_factor * np.asarray(half_w1))


def _state_agrees(difference, state_tolerance: float):
    """Population differences within the tolerance (a share of whole counts: no rounding across it)."""
    return np.asarray(difference) <= state_tolerance + 1e-12


def compare(stored, rerun, w1_floor: float = W1_FLOOR, w1_factor: float = W1_FACTOR,
            state_tolerance: float = STATE_TOLERANCE, noise: bool = False, mirror: bool | None = None,
            unshared_states_disagree: bool = True) -> dict:
    r"""Compare a stored reference ensemble with a rerun of the sampler (see the module docstring).

    Args:
        stored: the stored ensemble (:class:`Ensemble`, or anything with its attributes, e.g. a
            :class:`~geomgen.conformers.reference.store.ReferenceMolecule`).
        rerun: the rerun's ensemble (:func:`ensemble_from_result`); its diagnostics' ``w1`` are
            the inter-half W1 the thresholds scale with.
        w1_floor (float): smallest W1 threshold, radians (default 0.1).
        w1_factor (float): threshold factor on the rerun's inter-half W1 (default 2).
        state_tolerance (float): largest agreeing population difference (default 0.05).
        noise (bool): also judge every torsion against the W1 that sampling noise alone reaches at
            the two ensembles' effective sample sizes (:func:`noise_w1`): ``noise_w1`` and
            ``within_noise`` per torsion (W1 at most the larger of the threshold and that noise
            level) and ``agrees_within_noise`` for the molecule (states as for ``agrees``). A
            diagnostic next to the rule, not a replacement of it.
        mirror (bool, optional): compare the mirror-averaged ensembles (:func:`mirror_average`);
            default: when both were sampled with mirror moves (:func:`mirror_sampled`).
        unshared_states_disagree (bool): a state that only one side monitors makes the molecule
            disagree (default: the two runs of one sampler revision monitor the same states); with
            False it is listed and not judged (two revisions, the newer monitoring more states).

    Shapes:
        ``torsion_atoms: [T, 4]``, ``angles: [S, T]`` and ``[S', T]``, ``symmetry: [T]``.

    Returns:
        dict with ``mismatch`` (None, or why the two are not comparable), ``torsions`` (per
        torsion: ``atoms``, ``symmetry``, ``w1``, ``rerun_half_w1``, ``threshold``, ``agrees``),
        ``states`` (per state name: ``stored``, ``rerun`` populations, ``difference``, ``agrees``;
        a population is None where the state is not monitored), ``worst_w1`` and
        ``worst_threshold`` (the torsion with the largest W1 / threshold), ``worst_state_difference``
        (None when a state is missing on one side or there are none), ``mirror_averaged`` and
        ``agrees``.
    """
    from geomgen.conformers.reference.convergence import torsion_w1

    mirror = _use_mirror(stored, rerun, mirror)
    out = {"mismatch": _mismatch(stored, rerun), "torsions": [], "states": [], "worst_w1": None,
           "worst_threshold": None, "worst_state_difference": None, "mirror_averaged": mirror}
    if out["mismatch"] is None:
        sym = np.asarray(stored.symmetry, dtype=np.int64)
        a, b = np.asarray(stored.angles, dtype=np.float64), np.asarray(rerun.angles, dtype=np.float64)
        if mirror:
            a, b = mirror_average(a), mirror_average(b)
        w1 = torsion_w1(a, b, sym) if len(sym) else np.zeros(0)
        half = np.asarray(rerun.diagnostics.get("w1") or [], dtype=np.float64)
        if half.shape != w1.shape:  # no per-torsion figures: the floor alone
            half = np.zeros_like(w1)
        thr = _threshold(half, w1_floor, w1_factor)
        ess_s, ess_r = _ess(stored, len(w1)), _ess(rerun, len(w1))
        for q, atoms in enumerate(np.asarray(stored.torsion_atoms, dtype=np.int64).reshape(-1, 4)):
            rec = {"atoms": atoms.tolist(), "symmetry": int(sym[q]), "w1": float(w1[q]),
                   "rerun_half_w1": float(half[q]), "threshold": float(thr[q]), "agrees": bool(w1[q] <= thr[q])}
            if noise:
                nz = noise_w1(np.asarray(stored.angles)[:, q], np.asarray(rerun.angles)[:, q], ess_s[q], ess_r[q], int(sym[q]),
                              mirror=mirror)
                rec.update(noise_w1=nz, within_noise=bool(w1[q] <= max(thr[q], nz)))
            out["torsions"].append(rec)
        if len(w1):
            worst = int(np.argmax(w1 / thr))
            out["worst_w1"], out["worst_threshold"] = float(w1[worst]), float(thr[worst])
    s_pop, r_pop = _states(stored.diagnostics), _states(rerun.diagnostics)
    diffs = []
    for name in list(s_pop) + [n for n in r_pop if n not in s_pop]:
        a, b = s_pop.get(name), r_pop.get(name)
        d = None if a is None or b is None else abs(a - b)
        judged = d is not None or unshared_states_disagree
        out["states"].append({"name": name, "stored": a, "rerun": b, "difference": d, "judged": judged,
                              "agrees": d is not None and bool(_state_agrees(d, state_tolerance))})
        if judged:
            diffs.append(math.inf if d is None else d)
    if diffs and math.isfinite(max(diffs)):
        out["worst_state_difference"] = float(max(diffs))
    states_agree = all(s["agrees"] for s in out["states"] if s["judged"])
    out["agrees"] = out["mismatch"] is None and all(t["agrees"] for t in out["torsions"]) and states_agree
    if noise:
        out["agrees_within_noise"] = out["mismatch"] is None and all(t["within_noise"] for t in out["torsions"]) and states_agree
    return out


def _ess(ensemble, t: int) -> np.ndarray:
    """Per-torsion effective sample sizes from an ensemble's diagnostics (``ess``), else its sample count."""
    ess = np.asarray((getattr(ensemble, "diagnostics", None) or {}).get("ess") or [], dtype=np.float64)
    if ess.shape != (t,):
        return np.full(t, float(len(np.asarray(ensemble.angles))))
    return np.minimum(ess, len(np.asarray(ensemble.angles)))


def exact_agreement(stored, rerun, ess_factor: float = 1.0, w1_floor: float = W1_FLOOR, w1_factor: float = W1_FACTOR,
                    state_tolerance: float = STATE_TOLERANCE, mirror: bool | None = None,
                    draws: int = AGREEMENT_DRAWS, seed: int = 0) -> dict:
    r"""The probability that two *exact* samplers at the two ensembles' effective sizes agree by
    :func:`compare`'s rule (module docstring, *What an exact sampler would score*).

    Under the hypothesis that both ensembles sample one law, their pooled samples (mirror-averaged
    when :func:`compare` would average them) stand for it, and each of ``draws`` rounds simulates
    what the rule sees:

    * the two compared ensembles: :math:`f n_s` and :math:`f n_r` rows drawn from the pool, where
      :math:`n` is an ensemble's effective size for the torsion, at most its sample count (what
      :func:`compare`'s W1 can resolve) and :math:`f` = ``ess_factor``; mirror-averaged like them;
    * the rerun's inter-half W1 that sets the threshold: two draws of :math:`f\,\mathrm{ESS}/2`
      rows (its whole-chain effective size, at most :data:`HALF_CAP`), mirror-averaged too: the
      sampler's rule is not, but its chains flip the mirror coin every sweep, tens of thousands of
      times, so the sign of a mirror-image mode is far better mixed in them than the ESS (the
      slower of cos and sin) says;
    * each discrete state: binomial populations at the two ensembles' state ESS (times :math:`f`)
      around their mean population.

    Rows are drawn jointly for all torsions, so correlated torsions fail together as they would.
    ``ess_factor`` > 1 answers "what if both runs had f times the effective size (and stored f
    times the samples)".

    Returns:
        dict with ``probability`` (every torsion and state agrees in the same round; None for a
        mismatch), ``torsions`` and ``states`` (each's share of agreeing rounds).
    """
    from geomgen.conformers.reference.convergence import torsion_w1

    if not ess_factor > 0:
        raise ValueError(f"exact_agreement: ess_factor must be positive, got {ess_factor}")
    if _mismatch(stored, rerun) is not None:
        return {"probability": None, "torsions": [], "states": {}}
    mirror = _use_mirror(stored, rerun, mirror)
    rng = np.random.default_rng(seed)
    a, b = np.asarray(stored.angles, dtype=np.float64), np.asarray(rerun.angles, dtype=np.float64)
    t = a.shape[1]
    sym = np.asarray(stored.symmetry, dtype=np.int64)
    pool = np.concatenate([a, b])
    if mirror:
        pool = mirror_average(pool)
    ok = np.ones(draws, dtype=bool)
    per_torsion = []
    if t:
        n_s = np.maximum(2, np.round(ess_factor * _ess(stored, t))).astype(int)
        n_r = np.maximum(2, np.round(ess_factor * _ess(rerun, t))).astype(int)
        full = np.asarray((rerun.diagnostics or {}).get("ess") or [len(b)] * t, dtype=np.float64)
        full = np.where(np.isfinite(full), full, len(b))
        n_h = np.clip(np.round(ess_factor * full / 2), 1, HALF_CAP).astype(int)
        rows = [rng.integers(0, len(pool), size=(int(n.max()), draws)) for n in (n_s, n_r, n_h, n_h)]
        for q in range(t):
            u, v = pool[rows[0][: n_s[q]], q], pool[rows[1][: n_r[q]], q]
            orders = np.full(draws, sym[q])
            h1, h2 = pool[rows[2][: n_h[q]], q], pool[rows[3][: n_h[q]], q]
            if mirror:
                u, v, h1, h2 = (mirror_average(x) for x in (u, v, h1, h2))
            w = torsion_w1(u, v, orders)
            half = torsion_w1(h1, h2, orders)
            passed = w <= _threshold(half, w1_floor, w1_factor)
            per_torsion.append(float(passed.mean()))
            ok &= passed
    states = {}
    s_pop, r_pop = _states(stored.diagnostics), _states(rerun.diagnostics)
    s_ess, r_ess = _states(stored.diagnostics, "state_ess"), _states(rerun.diagnostics, "state_ess")
    for name in list(s_pop) + [n for n in r_pop if n not in s_pop]:
        if name not in s_pop or name not in r_pop:
            passed = np.zeros(draws, dtype=bool)
        else:
            p = 0.5 * (s_pop[name] + r_pop[name])
            es, er = s_ess.get(name, math.inf), r_ess.get(name, math.inf)
            if not (0 < p < 1) or not (math.isfinite(es) and math.isfinite(er)):
                passed = np.ones(draws, dtype=bool)
            else:
                ns, nr = max(1, round(ess_factor * es)), max(1, round(ess_factor * er))
                diff = np.abs(rng.binomial(ns, p, draws) / ns - rng.binomial(nr, p, draws) / nr)
                passed = _state_agrees(diff, state_tolerance)
        states[name] = float(passed.mean())
        ok &= passed
    return {"probability": float(ok.mean()), "torsions": per_torsion, "states": states}


def self_agreement(ensemble, draws: int = AGREEMENT_DRAWS, seed: int = 0) -> float:
    """The probability that a rerun by an *exact* sampler at ``ensemble``'s effective sizes agrees
    with an exact run like it by :func:`compare`'s rule: :func:`exact_agreement` of the ensemble
    with itself (its samples stand for the law; both runs get its effective sizes).

    The sampler's precision target (``agreement_target``): a run whose own figure is below, say,
    0.95 is too short for a verification to confirm it reliably even if it were exact, whatever
    its R-hat and ESS; a run above it has the effective sizes that its torsions need (a narrow
    single mode needs far fewer than two modes half a turn apart)."""
    return float(exact_agreement(ensemble, ensemble, draws=draws, seed=seed)["probability"])


def count_distribution(probabilities) -> np.ndarray:
    """The law of the number of successes of independent trials with the given success
    probabilities (Poisson-binomial), ``[n + 1]``: entry k is P(k successes)."""
    law = np.ones(1)
    for p in probabilities:
        p = float(p)
        if not 0 <= p <= 1:
            raise ValueError(f"count_distribution: probabilities must lie in [0, 1], got {p}")
        law = np.concatenate([law * (1 - p), [0.0]]) + np.concatenate([[0.0], law * p])
    return law


def count_interval(probabilities, level: float = 0.9) -> tuple[int, int]:
    """Central ``level`` interval of the Poisson-binomial count (:func:`count_distribution`):
    the smallest k with P(count <= k) >= (1 - level) / 2 and the smallest with >= (1 + level) / 2."""
    cdf = np.cumsum(count_distribution(probabilities))
    lo = int(np.searchsorted(cdf, (1 - level) / 2 - 1e-12))
    hi = int(np.searchsorted(cdf, (1 + level) / 2 - 1e-12))
    return lo, min(hi, len(cdf) - 1)


def rerun_seed(stored_seed: int, seed: int = 1) -> int:
    """The rerun's seed: the stored one plus :data:`SEED_OFFSET` plus the verification's ``seed``
    (at least 0, so never the stored seed)."""
    if seed < 0:
        raise ValueError(f"rerun_seed: seed must be at least 0, got {seed}")
    return int(stored_seed) + SEED_OFFSET + int(seed)


def rerun_config(stored_config: dict, budget_factor: float = 1.0) -> dict:
    """The rerun's sampler settings: the stored ones with ``max_cpu_seconds`` multiplied by
    ``budget_factor`` (a factor below 1 gives less than the original budget: a smoke test, not a
    check of the label), and without early stopping (``give_up_after`` 0): a check gets at least
    the original budget, so a rerun does not stop at a quarter of it because its own projection
    looks hopeless (test-00025's rerun stopped at 464 CPU-s where the stored run converged at 1,605)."""
    if not budget_factor > 0:
        raise ValueError(f"rerun_config: budget_factor must be positive, got {budget_factor}")
    cfg = dict(stored_config)
    if cfg.get("max_cpu_seconds") is not None:
        cfg["max_cpu_seconds"] = float(cfg["max_cpu_seconds"]) * budget_factor
    cfg["give_up_after"] = 0.0  # also where the stored settings left it at its default (0.25), as the evaluation splits do
    return cfg


def _same_run(recorded: dict, config: dict, gave_up) -> bool:
    """Whether a cached run is the run ``config`` asks for: the same settings, or settings that
    differ only in ``give_up_after`` when the run never gave up (early stopping draws no random
    numbers, so until it fires the two runs are the same run)."""
    if recorded == config:
        return True
    strip = lambda c: {k: v for k, v in c.items() if k != "give_up_after"}  # noqa: E731
    return not gave_up and strip(recorded) == strip(config)


def verified_ids(reports, references: dict) -> tuple[dict[str, set], dict[str, set]]:
    """The molecules independent reruns judged, and those whose stored ensemble agreed, per split.

    A report's record counts only for the ensemble it judged: the reference of that split and id
    in ``references`` must carry the record's stored seed and CPU seconds, so a molecule rebuilt
    since its verification is neither judged nor verified. Each distinct rerun (its seed) votes
    once, however many reports list it (reports with the same draw seed share their cached
    reruns), and votes against when any report judged it disagreeing (two reports can judge one
    rerun differently when the rule changed between them); a stored ensemble is verified when
    more of its reruns agreed than disagreed, so one that two reruns split on needs a third
    (:func:`tied_ids`). A reference that the current sampler would sample otherwise
    (:func:`~geomgen.conformers.reference.build.outdated_by`: a ring it now flips, or flipped
    samples rebuilt in the wrong pucker) is judged but not verified: its rerun shared its blind
    spot.

    Args:
        reports: parsed verification reports (``verify_references.py``'s JSON: a ``molecules``
            list of records with ``split``, ``id``, ``stored_seed``, ``stored_cpu_seconds``,
            ``rerun_seed``, ``agrees``).
        references (dict): split -> {id: reference} (anything with ``diagnostics``).

    Returns:
        ``(judged, agreed)``: split -> set of ids.
    """
    judged: dict[str, set] = {}
    agreed: dict[str, set] = {}
    for (split, mol_id), (yes, no) in rerun_votes(reports, references).items():
        judged.setdefault(split, set()).add(mol_id)
        if yes > no and not _outdated(references[split][mol_id]):
            agreed.setdefault(split, set()).add(mol_id)
    return judged, agreed


def tied_ids(reports, references: dict) -> dict[str, set]:
    """Per split, the references whose reruns split evenly (as many agreed as disagreed, by the
    votes of :func:`verified_ids`), not outdated: a further rerun with an unused seed decides them
    (``verify_references.py --ties``)."""
    tied: dict[str, set] = {}
    for (split, mol_id), (yes, no) in rerun_votes(reports, references).items():
        if yes == no and not _outdated(references[split][mol_id]):
            tied.setdefault(split, set()).add(mol_id)
    return tied


def rerun_votes(reports, references: dict) -> dict[tuple[str, str], tuple[int, int]]:
    """``(split, id) -> (agreeing reruns, disagreeing reruns)`` of each stored ensemble in
    ``references`` that a report judged: one vote per rerun seed, against when any report judged
    that rerun disagreeing (see :func:`verified_ids`)."""
    votes: dict[tuple[str, str], dict] = {}
    for report in reports:
        for m in report.get("molecules", []):
            ref = references.get(m.get("split"), {}).get(m.get("id"))
            if ref is None or m.get("stored_seed") != ref.diagnostics.get("seed") or \
                    m.get("stored_cpu_seconds") != ref.diagnostics.get("cpu_seconds"):
                continue
            by_seed = votes.setdefault((m["split"], m["id"]), {})
            by_seed[m.get("rerun_seed")] = by_seed.get(m.get("rerun_seed"), True) and bool(m.get("agrees"))
    return {key: (sum(v.values()), len(v) - sum(v.values())) for key, v in votes.items()}


def _outdated(ref) -> bool:
    """Whether the current sampler would sample ``ref`` otherwise (only for references with a
    molecule: :func:`~geomgen.conformers.reference.build.outdated_by`)."""
    from geomgen.conformers.reference.build import outdated_by

    return getattr(ref, "mol", None) is not None and outdated_by(ref) is not None


def summarize(agrees, min_share: float = MIN_SHARE, min_molecules: int = MIN_MOLECULES) -> dict:
    """Agreement of a sample of molecules: ``molecules``, ``agree``, ``share`` (None for none)
    and ``trustworthy`` (at least ``min_share`` of at least ``min_molecules`` agree)."""
    agrees = [bool(a) for a in agrees]
    n, k = len(agrees), sum(agrees)
    share = k / n if n else None
    return {"molecules": n, "agree": k, "share": share,
            "trustworthy": bool(n >= min_molecules and share is not None and share >= min_share)}


def rerun(mol_id: str, mol, config: dict, seed: int) -> dict:
    """Sample ``mol`` (an RDKit molecule with hydrogens; its conformers are ignored: the seed
    geometry is embedded afresh with ``seed``) with
    :func:`~geomgen.conformers.reference.build.sample_molecule`. The molecule, not its SMILES,
    is sampled so that atom order and stereo are the stored reference's. Never raises: a
    failure is a record with ``ok`` False and its ``error``; every record carries ``seed`` and
    ``config``."""
    from rdkit import Chem

    from geomgen.conformers.reference.build import SAMPLER_REVISION, SAMPLER_VERSION, sample_molecule

    m = Chem.Mol(mol)
    m.RemoveAllConformers()
    rec = sample_molecule(mol_id, m, dict(config), seed)
    if not rec["ok"]:
        rec["smiles"] = Chem.MolToSmiles(Chem.RemoveHs(m))
    rec.update(seed=int(seed), config=dict(config), sampler_version=SAMPLER_VERSION, sampler_revision=SAMPLER_REVISION)
    return rec


def write_rerun(work_dir, rec: dict) -> None:
    """Write a :func:`rerun` record into ``work_dir`` atomically (``<id>.npz``, or
    ``<id>.fail.json`` with the failure's reason, seed and settings)."""
    from pathlib import Path

    from geomgen.conformers.reference.build import write_result

    Path(work_dir).mkdir(parents=True, exist_ok=True)
    write_result(work_dir, rec)


def cached_rerun(work_dir, mol_id: str, seed: int, config: dict) -> dict | None:
    """The :func:`rerun` record of ``mol_id`` in ``work_dir`` if it was sampled with exactly
    ``seed`` and ``config`` (or a config that gives the same run, :func:`_same_run`) by the
    current sampler version and revision (else None: it has to run again; a run of an earlier
    revision lacks its moves, e.g. revision 12's flips of fused rings)."""
    import json
    from pathlib import Path

    from geomgen.conformers.reference.build import SAMPLER_REVISION, SAMPLER_VERSION

    current = (SAMPLER_VERSION, SAMPLER_REVISION)

    work = Path(work_dir)
    npz, fail = work / f"{mol_id}.npz", work / f"{mol_id}.fail.json"
    if npz.exists():
        with np.load(npz) as z:
            arrays = {k: z[k] for k in z.files}
        diag = json.loads(str(arrays["diagnostics"]))
        if (diag.get("seed") == seed and (diag.get("sampler_version"), diag.get("sampler_revision")) == current
                and _same_run(diag.get("config") or {}, dict(config), diag.get("gave_up_on"))):
            return {"id": mol_id, "ok": True, "arrays": arrays, "diagnostics": diag, "seed": seed, "config": dict(config)}
    elif fail.exists():
        rec = json.loads(fail.read_text())
        if (rec.get("seed") == seed and rec.get("config") == dict(config)
                and (rec.get("sampler_version"), rec.get("sampler_revision")) == current):
            return rec
    return None
