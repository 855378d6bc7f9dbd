import math

import pytest
import torch

from geomgen.singular.manifolds import (
    DISTRIBUTIONS,
    Circle,
    Mixture,
    Point,
    Product,
    Sphere,
    SwissRoll,
    Torus,
    make_distribution,
    random_isometry,
)

EXPECTED_DIMS = {  # name -> (d, D)
    "circle": (1, 2), "circle_vm": (1, 2), "sphere": (2, 3), "sphere_vmf": (2, 3), "torus": (2, 3),
    "torus_vm": (2, 3), "swiss_roll": (2, 3), "product": (2, 4), "mixture": (2, 3), "point": (0, 3),
}


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_on_manifold_dims_and_reproducible(name):
    law = make_distribution(name)
    assert (law.intrinsic_dim, law.ambient_dim) == EXPECTED_DIMS[name]
    x = law.sample(400, gen(1))
    assert x.shape == (400, law.ambient_dim) and x.dtype == torch.float32
    assert law.distance_to_manifold(x).max() < 1e-3  # swiss roll residual is a grid search
    assert torch.equal(x, law.sample(400, gen(1)))
    if law.intrinsic_dim > 0:
        assert not torch.equal(x, law.sample(400, gen(2)))


@pytest.mark.parametrize("name", ["circle_vm", "sphere", "swiss_roll", "mixture", "product"])
def test_isometric_embedding(name):
    low = make_distribution(name)
    high = make_distribution(name, ambient_dim=10, isometry_seed=3)
    assert high.ambient_dim == 10 and high.intrinsic_dim == low.intrinsic_dim
    q = high.isometry
    assert torch.allclose(q.T @ q, torch.eye(low.ambient_dim, dtype=q.dtype), atol=1e-12)
    y, x = low.sample(300, gen(4), torch.float64), high.sample(300, gen(4), torch.float64)
    exact = "donot_use_mm_for_euclid_dist"
    assert torch.allclose(torch.cdist(x, x, compute_mode=exact), torch.cdist(y, y, compute_mode=exact), atol=1e-10)
    assert high.distance_to_manifold(x).max() < 1e-3
    # the same seed gives the same isometry, another seed another one
    assert torch.equal(q, make_distribution(name, ambient_dim=10, isometry_seed=3).isometry)
    assert not torch.allclose(q, make_distribution(name, ambient_dim=10, isometry_seed=4).isometry)


def test_off_manifold_noise_and_distance():
    law = Circle(noise=0.05, ambient_dim=5)
    x = law.sample(4000, gen(0), torch.float64)
    # E|noise|^2 = D tau^2; distance to the circle is about the noise norm
    assert 0.04 < float(law.distance_to_manifold(x).pow(2).mean().sqrt()) / math.sqrt(5) < 0.06
    off = x + torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    assert law.distance_to_manifold(off).min() >= 0


def test_distribution_shapes_of_the_laws():
    x = Circle(kappa=4.0, loc=1.0).sample(20000, gen(0), torch.float64)
    mean_angle = math.atan2(float(x[:, 1].mean()), float(x[:, 0].mean()))
    assert abs(mean_angle - 1.0) < 0.05
    u = Circle().sample(20000, gen(0), torch.float64)
    assert u.mean(0).norm() < 0.03
    s = Sphere(kappa=5.0, loc=(1.0, 0.0, 0.0)).sample(20000, gen(0), torch.float64)
    # vMF mean resultant length on S^2: coth(k) - 1/k
    assert abs(float(s.mean(0)[0]) - (1 / math.tanh(5.0) - 0.2)) < 0.01
    t = Torus(major_radius=2.0, minor_radius=0.5).sample(1000, gen(0), torch.float64)
    rho = t[:, :2].norm(dim=1)
    assert rho.min() >= 1.5 - 1e-9 and rho.max() <= 2.5 + 1e-9
    sr = SwissRoll(uniform_area=True).sample(2000, gen(0), torch.float64)
    assert SwissRoll().distance_to_manifold(sr).max() < 1e-3


def test_product_and_mixture_pieces():
    p = Product([Circle(), Sphere()])
    assert (p.intrinsic_dim, p.ambient_dim) == (3, 5)
    x = p.sample(100, gen(0), torch.float64)
    assert torch.allclose(x[:, :2].norm(dim=1), torch.ones(100, dtype=torch.float64))
    assert torch.allclose(x[:, 2:].norm(dim=1), torch.ones(100, dtype=torch.float64))
    m = Mixture([Circle(), Point((0.0, 0.0, 2.0))], weights=[0.75, 0.25])
    assert m.piece_dims == [1, 0] and m.intrinsic_dim == 1 and m.ambient_dim == 3
    y = m.sample(8000, gen(0), torch.float64)
    atom = (y - torch.tensor([0.0, 0.0, 2.0], dtype=torch.float64)).norm(dim=1) < 1e-12
    assert abs(float(atom.double().mean()) - 0.25) < 0.02
    assert m.distance_to_manifold(y).max() < 1e-9


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="unknown distribution 'cirle'"):
        make_distribution("cirle")
    with pytest.raises(ValueError, match="kapa"):
        make_distribution("circle", kapa=2.0)
    with pytest.raises(ValueError, match="noise"):
        Circle(noise=-0.1)
    with pytest.raises(ValueError, match="ambient_dim"):
        random_isometry(2, 3)
    with pytest.raises(ValueError, match="kappa"):
        Sphere(kappa=-1.0)


def test_sphere_of_any_dimension_known_answers():
    from scipy.special import iv

    law = Sphere(kappa=2.0, dim=4, ambient_dim=30)
    assert (law.intrinsic_dim, law.ambient_dim, law.base_dim) == (4, 30, 5)
    x = law.sample(20000, gen(1), torch.float64)
    assert law.distance_to_manifold(x).max() < 1e-9
    y = law.to_base(x)
    assert torch.allclose(y.norm(dim=1), torch.ones(len(y), dtype=torch.float64))
    # vMF on S^{p-1}, p = 5: E[mu^T Y] = I_{p/2}(k) / I_{p/2-1}(k)
    assert abs(float(y[:, -1].mean()) - iv(2.5, 2.0) / iv(1.5, 2.0)) < 0.01
    u = Sphere(dim=1).sample(20000, gen(0), torch.float64)
    assert u.shape == (20000, 2) and u.mean(0).norm() < 0.03
    with pytest.raises(ValueError, match="dim"):
        Sphere(dim=0)
    with pytest.raises(ValueError, match="loc"):
        Sphere(dim=4, loc=(0.0, 0.0, 1.0))
