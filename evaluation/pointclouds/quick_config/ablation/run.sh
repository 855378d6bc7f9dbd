#!/bin/bash
# The settings ablation of the quick config (thirteenth round): each run is the quick config of that round's
# start (SW, L = 100, 40 shapes per class, batch 16, PointNet 32-64-128, 64-d latent, lr 2e-3) with the
# overrides named, 2.5 minutes of wall time, in its own folder. Run from an empty folder.
G=geomgen
run() { name=$1; shift; mkdir -p $name; (cd $name && $G pointcloud fit --config quick --trainer.max_time 00:00:02:30 \
    --trainer.enable_progress_bar false --model.loss geomgen.pointclouds.losses.SlicedWassersteinLoss \
    --data.shapes_per_class 40 --data.batch_size 16 "$@" > log 2>&1); }
W="--model.autoencoder.init_args.encoder_hidden [64,128,256] --model.autoencoder.init_args.latent_dim 128"
run chamfer --model.loss geomgen.pointclouds.losses.ChamferLoss
run sw_l500 --model.loss.init_args.n_projections 500
run sw_lr5e4 --model.lr 5e-4
run chamfer_b32 --model.loss geomgen.pointclouds.losses.ChamferLoss --data.batch_size 32
run wide_chamfer $W --model.loss geomgen.pointclouds.losses.ChamferLoss
run wide_sw $W
run wide_chamfer_lr1e3 $W --model.loss geomgen.pointclouds.losses.ChamferLoss --model.lr 1e-3
run chamfer_b32_s200 --model.loss geomgen.pointclouds.losses.ChamferLoss --data.batch_size 32 --data.shapes_per_class 200
run sw_b32_s200 --data.batch_size 32 --data.shapes_per_class 200
