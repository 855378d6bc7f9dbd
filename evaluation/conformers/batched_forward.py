"""What batching the network across molecules would buy, and what it would cost in determinism.

    python -m evaluation.conformers.batched_forward --molecules 200 --batch-sizes 8 32 64 \\
        -o evaluation/conformers/batched_forward.md

``ConformerGenerator.predict`` runs one molecule per forward pass, so a molecule's mixture
parameters, and with them its conformers, do not depend on the other molecules of the input. This
script measures that design choice on the first ``--molecules`` of the screening library (one
ETKDGv3 seed each, the shipped network, one thread): the network's time per molecule one by one
and in disjoint-union batches (``features.collate``), and for how many molecules the batched
parameters (locations, concentrations, logits) differ in any bit from the one-by-one ones, with the
largest difference; plain, and as the generator runs it (``ConformerGenerator.predict_many``:
every pass, a lone molecule's too, with the padding graph ``generator._padding_graph``).
Featurization is outside the timed part (it is per molecule either way).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from geomgen.tables import markdown_table, publish  # noqa: E402

HERE = Path(__file__).resolve().parent


def graphs(n: int) -> tuple:
    """The shipped network and the featurized graphs of the first ``n`` library molecules with
    rotatable torsions (each on one ETKDGv3 seed)."""
    from geomgen.conformers import ConformerGenerator
    from geomgen.conformers.embedding import embed_seed
    from geomgen.conformers.features import featurize
    from geomgen.conformers.molecule import parse_molecule
    from geomgen.conformers.torsions import rotatable_torsions

    net = ConformerGenerator.from_checkpoint().net
    out = []
    for i, line in enumerate((HERE / "library.smi").read_text().splitlines()):
        if len(out) == n:
            break
        mol = parse_molecule(line.split()[0], name=f"lib-{i}")
        ts = rotatable_torsions(mol)
        if len(ts):
            seed = embed_seed(mol, seed=1, n_candidates=1, name=f"lib-{i}", max_iters=0)
            out.append(featurize(seed, ts.atoms, torsion_features=net.torsion_features))
    return net, out


def compare(net, gs: list, batch: int, padded: bool, repeats: int = 3) -> dict:
    """One-by-one against batches of ``batch`` (each pass with the generator's padding graph if
    ``padded``): times (best of ``repeats``, ms per molecule), molecules whose parameters differ
    in any bit, largest absolute difference."""
    import torch

    from geomgen.conformers.features import collate
    from geomgen.conformers.generator import _padding_graph

    pad = [_padding_graph(net.torsion_features)] if padded else []
    with torch.no_grad():
        single_ms, batched_ms = float("inf"), float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            single = [net(collate([g] + pad)) for g in gs]
            single_ms = min(single_ms, 1000 * (time.perf_counter() - t0) / len(gs))
            t0 = time.perf_counter()
            outs = [net(collate(gs[s:s + batch] + pad)) for s in range(0, len(gs), batch)]
            batched_ms = min(batched_ms, 1000 * (time.perf_counter() - t0) / len(gs))
    differ, largest, k = 0, 0.0, 0
    for s, out in zip(range(0, len(gs), batch), outs):
        row = 0
        for g in gs[s:s + batch]:
            t = g.torsion_index.shape[0]
            diffs = [(a[:t] - b[row:row + t]).abs().max().item() for a, b in zip(single[k], out)]
            differ += any(d > 0 for d in diffs)
            largest = max(largest, *diffs)
            row += t
            k += 1
    return {"batch": batch, "padded": padded, "single_ms": single_ms, "batched_ms": batched_ms, "differ": differ, "largest": largest}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--molecules", type=int, default=200)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 32, 64])
    ap.add_argument("-o", "--out", type=Path, default=HERE / "batched_forward.md")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    net, gs = graphs(args.molecules)
    rows = [compare(net, gs, b, padded) for padded in (False, True) for b in args.batch_sizes]
    lines = [f"# The network one molecule at a time against batches ({time.strftime('%Y-%m-%d %H:%M')})", "",
             f"`python -m evaluation.conformers.batched_forward --molecules {args.molecules} --batch-sizes "
             f"{' '.join(map(str, args.batch_sizes))}`: {len(gs)} library molecules with rotatable torsions, the shipped "
             "network, one thread, forward pass only (best of 3). 'differ': molecules whose mixture parameters "
             "batched differ in any bit from one at a time.", ""]
    lines += markdown_table(
        ["padding graph", "batch size", "one at a time (ms/molecule)", "batched (ms/molecule)", "speed-up", "molecules that differ",
         "largest difference"],
        [["yes (the generator)" if r["padded"] else "no", r["batch"], f"{r['single_ms']:.2f}", f"{r['batched_ms']:.2f}",
          f"{r['single_ms'] / r['batched_ms']:.1f}x", f"{r['differ']} of {len(gs)}", f"{r['largest']:.1e}"] for r in rows])
    publish(args.out, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
