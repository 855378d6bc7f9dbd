"""How state seeds should share the conformers: the minima's Boltzmann weights against sampled
torsion partition functions, per molecule and over draws, against values measured by sampling.

    python -m evaluation.conformers.state_weights --draws 2000 --repeats 3 \\
        -o evaluation/conformers/state_weights.md

For each molecule (verified references with stored per-sample states, and small amides whose
populations the reference sampler with amide flips measured: :data:`KNOWN`), one ETKDGv3 embedding
minimised with MMFF94 gives the state seeds (:func:`geomgen.conformers.embedding.state_seeds`,
amide and nitrogen sites) with their minima weights; the shipped network's torsion law then gives
:func:`geomgen.conformers.generator.sampled_state_weights` with ``--repeats`` independent sets of
``--draws`` draws, and the smallest effective sample size of each set. Reported per site: the
reference's population of state 1, the minima's, and the sampled ones (one per repeat), so the
spread over repeats shows what a single estimate is worth. A fourth, :func:`search_state_weights`,
sums over the distinct minima of a conformer search (20 ETKDGv3 embeddings per repeat, each set
to every combination of states and minimised). A third estimate,
:func:`ensemble_state_weights`, sums the Boltzmann factors of each state's distinct minima,
found by minimising its seed and the lowest of the network's draws on it.

Findings (2026-12-04; the table in state_weights.md): the sampled weights are right on small
amides where the minima are not (N-benzyl-N-methylformamide 0.73-0.75 against 0.74, minima
0.86) and wrong on drug-sized molecules even at effective sample sizes of 30-70 (test-00025,
drugs-00124). Tryptophan (drugs-00124) shows why: the reference's state 1 has a well at
41.5 kcal/mol (its samples minimised, by hand) that neither the seeds' minimisation (49.3), nor 100
minimised network draws (48.5), nor importance sampling reach, so state 0 (46.3) wins instead
of losing. A defensive mixture (half the draws von Mises around each seed's torsions, kappa 20;
measured by hand) raised the effective sample sizes (test-00000 30-52 from 4-12) but not the
tryptophan estimate (0.02). Per-state free energies of drug-sized molecules need the search the
reference sampler does, or a state probability learned from references that sample the states.
The conformer search finds tryptophan's well (1.00, right) and gets drugs-00097's nitrogen
(0.46-0.55 against 0.535), but a sum over minima follows whichever low, narrow well a set of
embeddings finds: baclofen 0.004-0.94 against 0.28 across three sets of 20 embeddings, test-00025
0.24-0.93 against 0.68.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from geomgen.tables import markdown_table, publish  # noqa: E402

HERE = Path(__file__).resolve().parent
#: SMILES -> population of each site's state 1 measured by the reference sampler with amide flips
#: (geomgen.conformers.embedding.state_seeds' docstring)
KNOWN = {"CCN(C)C(C)=O": [0.47], "O=CN(C)Cc1ccccc1": [0.74], "CC(=O)NCc1ccccc1": [0.001]}
#: verified references with amide or nitrogen sites whose states the reference samples
REFERENCES = ("test-00000", "test-00025", "drugs-00100", "drugs-00097", "drugs-00124")


def _reference_population(ref, sites):
    """The reference's share of samples in state 1 per site name (stored per-sample states)."""
    from evaluation.conformers.evaluate import nitrogen_sites, reference_amide_population, reference_nitrogen_population

    amide = reference_amide_population(ref) or []
    nits = reference_nitrogen_population(ref) or []
    atoms = [int(n) for n, _, _ in nitrogen_sites(ref.mol)]
    out = {}
    for name in sites:
        kind, k = name.split("-")
        if kind == "amide" and int(k) < len(amide):
            out[name] = amide[int(k)]
        elif kind == "nitrogen" and int(k) in atoms:
            out[name] = nits[atoms.index(int(k))]
    return out


def ensemble_state_weights(seeds, torsions, mix, draws: int = 500, minimise: int = 10, generator=None,
                           max_iters: int = 2000, temperature: float = 300.0):
    r"""Probabilities of a molecule's discrete-state seeds from each state's ensemble of minima.

    For each seed (one combination of states from :func:`state_seeds`), ``draws`` torsion draws
    from ``mix`` are set on it; the ``minimise`` lowest in MMFF94 energy are minimised in full
    (``max_iters``), and the distinct minima that keep the seed's states, with the seed's own,
    form the state's ensemble :math:`\{E_{s,i}\}` (distinct: energies more than 0.01 kcal/mol
    apart). The state's weight is :math:`\sum_i e^{-E_{s,i}/kT}`: a sum over its wells, so a state
    with more low wells (more conformational entropy) weighs more, and a state whose seed sat in
    a high local minimum gets its low ones from the draws. Returns ``(probabilities [S], lowest
    minimum per seed [S], minima found per seed [S])``.
    """
    from geomgen.conformers.discrete_states import SlowSites
    from geomgen.conformers.mmff import MMFF
    from geomgen.conformers.stereo import StereoGuard
    from geomgen.conformers.torsions import set_torsions
    from geomgen.metrics.boltzmann import KB_KCAL_PER_MOL_K

    ff, guard = MMFF(seeds[0]), StereoGuard(seeds[0])
    states = SlowSites(seeds[0]).states
    kt = KB_KCAL_PER_MOL_K * temperature
    log_w, lowest, found = [], [], []
    for s in seeds:
        x = s.GetConformer().GetPositions()
        target = states(x)
        ang = mix.sample((int(draws),), generator=generator).numpy() if mix is not None else np.zeros((0, 0))
        pos = set_torsions(x, torsions, ang) if len(ang) else np.zeros((0,) + x.shape)
        energies = []
        for p in [x] + [pos[i] for i in np.argsort(ff.energies(pos))[:minimise]]:
            y, e = ff.minimize(p, max_iters=max_iters)
            if np.array_equal(states(y), target) and guard.ok(y[None])[0]:
                energies.append(e)
        energies = np.sort(np.array(energies))
        distinct = energies[np.concatenate([[True], np.diff(energies) > 0.01])] if len(energies) else energies
        log_w.append(np.logaddexp.reduce(-distinct / kt) if len(distinct) else -np.inf)
        lowest.append(distinct[0] if len(distinct) else np.inf)
        found.append(len(distinct))
    log_w = np.array(log_w)
    p = np.exp(log_w - log_w.max())
    return p / p.sum(), np.array(lowest), np.array(found)


def search_state_weights(mol, embeddings: int = 20, max_iters: int = 2000, seed: int = 7, temperature: float = 300.0):
    r"""Probabilities of each site's state 1 from a conformer search in every combination of states:
    ``embeddings`` ETKDGv3 embeddings, each set to every combination of the sites' states (amide
    flips, nitrogen inversions) and MMFF94-minimised; a combination's weight is
    :math:`\sum_i e^{-E_i/kT}` over its distinct minima that kept their states and the stereo.
    Returns (probability of state 1 per site, lowest minimum per combination)."""
    import itertools

    from rdkit import Chem
    from rdkit.Chem import AllChem

    from geomgen.conformers.discrete_states import SlowSites
    from geomgen.conformers.mmff import MMFF
    from geomgen.conformers.stereo import StereoGuard
    from geomgen.metrics.boltzmann import KB_KCAL_PER_MOL_K

    sites = SlowSites(mol)

    m = Chem.Mol(mol)
    m.RemoveAllConformers()
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    ids = list(AllChem.EmbedMultipleConfs(m, embeddings, params))
    ff, guard = MMFF(m), StereoGuard(m)
    minima = {}
    for cid in ids:
        x = m.GetConformer(cid).GetPositions()
        s0 = sites.states(x)
        for target in itertools.product((False, True), repeat=len(sites)):
            y = x
            for k in np.flatnonzero(np.array(target) != s0):
                y = sites.flip(y, k)
            z, e = ff.minimize(y, max_iters=max_iters)
            if tuple(sites.states(z)) == target and guard.ok(z[None])[0]:
                minima.setdefault(target, []).append(e)
    log_w = {}
    for t, es in minima.items():
        es = np.sort(es)
        log_w[t] = np.logaddexp.reduce(-es[np.concatenate([[True], np.diff(es) > 0.01])] / (KB_KCAL_PER_MOL_K * temperature))
    top = max(log_w.values())
    w = {t: np.exp(v - top) for t, v in log_w.items()}
    total = sum(w.values())
    return [sum(v for t, v in w.items() if t[k]) / total for k in range(len(sites))], {t: min(es) for t, es in minima.items()}


def measure(name, mol, reference, gen, draws, repeats):
    """Rows (one per site) for one molecule: reference, minima and sampled populations of state 1."""
    import torch
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from geomgen.conformers.embedding import sampled_state_weights, state_seeds

    m = Chem.Mol(mol)
    m.RemoveAllConformers()
    AllChem.EmbedMolecule(m, randomSeed=1)
    AllChem.MMFFOptimizeMolecule(m, maxIters=2000)
    seeds = state_seeds(m, max_seeds=8, nitrogens=True)
    if len(seeds) < 2:
        return [[name, "-", "one state within the window", "", "", "", ""]]
    sites = seeds[0].GetProp("discrete_sites").split()
    states = np.array([[c == "1" for c in s.GetProp("discrete_states")] for s in seeds])
    minima = np.array([s.GetDoubleProp("seed_weight") for s in seeds])
    ts, mix = gen.predict(seeds[0])
    ens = [ensemble_state_weights(seeds, ts, mix, generator=torch.Generator().manual_seed(r))[0] for r in range(repeats)]
    sampled, ess = [], []
    for r in range(repeats):
        p, e = sampled_state_weights(seeds, ts, mix, draws=draws, generator=torch.Generator().manual_seed(r))
        sampled.append(p)
        ess.append(e.min())
    ref = reference(sites) if callable(reference) else dict(zip(sites, reference))
    searched = [search_state_weights(mol, seed=7 + r)[0] for r in range(repeats)]
    rows = []
    for k, site in enumerate(sites):
        got = [float(p[states[:, k]].sum()) for p in sampled]
        rows.append([name, site, "-" if site not in ref else f"{ref[site]:.3f}", f"{minima[states[:, k]].sum():.3f}",
                     " / ".join(f"{p[states[:, k]].sum():.3f}" for p in ens),
                     " / ".join(f"{p[k]:.3f}" for p in searched),
                     " / ".join(f"{x:.3f}" for x in got), " / ".join(f"{x:.0f}" for x in ess), len(ts)])
    return rows


def main(argv=None):
    from rdkit import Chem

    from geomgen.conformers import ConformerGenerator
    from geomgen.conformers.reference.store import load_reference_set

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("-o", "--output", default=str(HERE / "state_weights.md"))
    args = ap.parse_args(argv)
    gen = ConformerGenerator.from_checkpoint()
    refs = {r.id: r for split in ("test", "drugs") for r in load_reference_set(split)}
    rows = []
    for smi, pops in KNOWN.items():
        rows += measure(smi, Chem.AddHs(Chem.MolFromSmiles(smi)), pops, gen, args.draws, args.repeats)
    for rid in REFERENCES:
        ref = refs[rid]
        rows += measure(rid, ref.mol, lambda sites, ref=ref: _reference_population(ref, sites), gen, args.draws, args.repeats)
        print(rows[-1], flush=True)
    head = ["molecule", "site", "reference", "minima", "ensemble", "search", f"sampled ({args.repeats} x {args.draws} draws)",
            "min ESS per repeat", "torsions"]
    publish(args.output, [
        "Population of each discrete-state site's state 1: reference (sampled with state moves), the state seeds' "
        "minima weights, and sampled torsion partition functions (`sampled_state_weights`, shipped model) over "
        "independent sets of draws.",
        f"Command: python -m evaluation.conformers.state_weights --draws {args.draws} --repeats {args.repeats}", "",
        *markdown_table(head, rows)])


if __name__ == "__main__":
    main()
