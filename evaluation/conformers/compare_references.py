"""Two builds of the same reference molecules, compared by the verification rule.

    python -m evaluation.conformers.compare_references OLD.npz --split val [--ids val-00040 ...]
        [-o evaluation/conformers/compare_references.md]

When the sampler gains a move (a new revision) and some references are rebuilt with it, the
question is whether the old ensembles were right: an old label that the new build contradicts was
wrong, since the new sampler can leave every state the old one could. ``OLD.npz`` is a copy of a
reference file taken before the rebuild; every molecule of ``--split``'s current file whose record
differs from the old one (another seed, revision or CPU time: it was rebuilt), or the ``--ids``
given, is compared with :func:`geomgen.conformers.reference.verification.compare` (a torsion agrees
when W1(old, new) <= max(0.1, 2 x the new build's inter-half W1), modulo symmetry, mirror-averaged
where both sampled mirror images; monitored discrete states within 0.05 of each other where both
monitored them; a state only the new build monitors is listed with its population, not judged).
Writes a markdown table to ``-o`` and the records to the same stem ``.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from geomgen.atomic import atomic_write_text
from geomgen.conformers.reference import verification as V
from geomgen.conformers.reference.store import load_reference_set

HERE = Path(__file__).resolve().parent


def _signature(ref) -> tuple:
    d = ref.diagnostics
    return d.get("seed"), d.get("sampler_version"), d.get("sampler_revision"), d.get("cpu_seconds")


def rebuilt_ids(old: dict, new: dict) -> list[str]:
    """The ids present in both whose build differs (seed, sampler version, revision or CPU time)."""
    return [i for i in new if i in old and _signature(old[i]) != _signature(new[i])]


def compare_molecule(old, new) -> dict:
    """One molecule's record: both builds' revision and label, and the rule's verdict."""
    d_old, d_new = old.diagnostics, new.diagnostics
    base = {"id": new.id, "smiles": new.smiles,
            "old_revision": f"{d_old.get('sampler_version')}.{d_old.get('sampler_revision')}",
            "new_revision": f"{d_new.get('sampler_version')}.{d_new.get('sampler_revision')}",
            "old_converged": bool(old.converged), "new_converged": bool(new.converged)}
    # a state that only the new build monitors (a ring the new revision flips) is listed, not
    # judged: the old build has no population for it
    cmp = V.compare(old, new, noise=True, unshared_states_disagree=False)
    if cmp["mismatch"] is not None:
        return {**base, "error": cmp["mismatch"], "agrees": None}
    cmp["new_states"] = [st for st in cmp["states"] if st["stored"] is None and st["rerun"] is not None]
    return {**base, "error": None, **cmp}


def markdown(records: list[dict], command: str) -> str:
    judged = [r for r in records if r["agrees"] is not None]
    lines = [
        "# Two builds of the same reference molecules",
        "",
        f"Command: `{command}`",
        "",
        "A torsion agrees when W1(old, new) <= max(0.1, 2 x the new build's inter-half W1) (radians, modulo symmetry; "
        "mirror-averaged where both sampled mirror images); a monitored discrete state when the populations differ by "
        "at most 0.05 (`geomgen.conformers.reference.verification.compare`). Where the new sampler can leave every "
        "state the old one could, an old converged label that the new build contradicts was wrong.",
        "",
        f"**{sum(r['agrees'] for r in judged)} of {len(judged)} agree** "
        f"({sum(r['agrees'] for r in judged if r['old_converged'] and r['new_converged'])} of "
        f"{sum(r['old_converged'] and r['new_converged'] for r in judged)} labelled converged by both).",
        "",
        "| id | SMILES | old | new | old converged | new converged | worst W1 / threshold | worst state diff. "
        "| states only the new build monitors | agrees |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        if r["agrees"] is None:
            lines.append(f"| {r['id']} | `{r['smiles']}` | {r['old_revision']} | {r['new_revision']} | "
                         f"{'yes' if r['old_converged'] else 'no'} | {'yes' if r['new_converged'] else 'no'} | "
                         f"- | - | - | not compared: {r['error']} |")
            continue
        state = "-" if r.get("worst_state_difference") is None else f"{r['worst_state_difference']:.3f}"
        only_new = ", ".join(f"{st['name']} {st['rerun']:.2f}" for st in r["new_states"]) or "-"
        worst = "-" if r["worst_w1"] is None else f"{r['worst_w1']:.3f} / {r['worst_threshold']:.3f}"
        lines.append(f"| {r['id']} | `{r['smiles']}` | {r['old_revision']} | {r['new_revision']} | "
                     f"{'yes' if r['old_converged'] else 'no'} | {'yes' if r['new_converged'] else 'no'} | "
                     f"{worst} | {state} | {only_new} | {'yes' if r['agrees'] else '**no**'} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path, help="a copy of the reference file taken before the rebuild")
    ap.add_argument("--split", required=True, help="the split whose current reference file holds the new builds")
    ap.add_argument("--ids", nargs="+", help="these molecules (default: every molecule rebuilt since the copy)")
    ap.add_argument("-o", "--out", type=Path, default=HERE / "compare_references.md")
    args = ap.parse_args(argv)
    if not args.old.exists():
        ap.error(f"{args.old}: no such reference file")
    old = {r.id: r for r in load_reference_set(str(args.old))}
    new = {r.id: r for r in load_reference_set(args.split)}
    ids = args.ids or rebuilt_ids(old, new)
    missing = [i for i in ids if i not in old or i not in new]
    if missing:
        ap.error(f"not in both reference files: {', '.join(missing)}")
    records = [compare_molecule(old[i], new[i]) for i in ids]
    command = "python -m evaluation.conformers.compare_references " + " ".join(sys.argv[1:] if argv is None else argv)
    atomic_write_text(args.out, markdown(records, command))
    atomic_write_text(args.out.with_suffix(".json"), json.dumps({"command": command, "molecules": records}, indent=1, default=float))
    judged = [r for r in records if r["agrees"] is not None]
    print(f"{sum(r['agrees'] for r in judged)} of {len(judged)} agree -> {args.out}")
    return records


if __name__ == "__main__":
    main()
