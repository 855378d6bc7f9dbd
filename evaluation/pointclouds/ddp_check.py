"""Check that amortized training is correct under plain Lightning DDP (2 CPU processes, gloo).

Each rank sees different minibatches; after training, the autoencoder and amortizer
parameters must be identical on both ranks (DDP all-reduced every gradient, including the
amortizer's ascent gradient, from the single backward pass per minibatch) and no
unused-parameter error may occur. Prints the largest parameter difference across ranks.

    OMP_NUM_THREADS=1 python -m evaluation.pointclouds.ddp_check
"""

import argparse
import tempfile

import lightning as L
import torch

from geomgen.pointclouds.autoencoder import PointCloudAutoencoder
from geomgen.pointclouds.datamodule import PointCloudDataModule
from geomgen.pointclouds.losses import AmortizedSlicedWassersteinLoss, SelfAttentionAmortizer
from geomgen.pointclouds.system import PointCloudAutoencoderSystem


class RankAgreement(L.Callback):
    def on_train_end(self, trainer, module):
        flat = torch.cat([p.detach().flatten() for p in module.parameters()])
        gathered = trainer.strategy.all_gather(flat)
        if trainer.global_rank == 0:
            diff = (gathered[0] - gathered[1]).abs().max().item()
            print(f"ranks: {gathered.shape[0]}; max parameter difference across ranks: {diff:.3g}", flush=True)


def main(argv=None) -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    torch.set_num_threads(1)
    L.seed_everything(0)
    dm = PointCloudDataModule("shapes", path=tempfile.mkdtemp(), n_points=64, shapes_per_class=10, batch_size=4)
    system = PointCloudAutoencoderSystem(
        PointCloudAutoencoder(latent_dim=8, n_points=64, encoder_hidden=(8,), decoder_hidden=(16,)),
        AmortizedSlicedWassersteinLoss(SelfAttentionAmortizer(hidden=8, kind="linformer"), n_projections=8),
    )
    trainer = L.Trainer(
        accelerator="cpu", devices=2, strategy="ddp_spawn", max_epochs=1, limit_train_batches=4, limit_val_batches=1,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, callbacks=[RankAgreement()],
    )  # fmt: skip
    trainer.fit(system, dm)


if __name__ == "__main__":
    main()
