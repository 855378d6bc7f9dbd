r"""Synthetic singular distributions: laws on d-dimensional manifolds inside R^D.

Every sampler states its intrinsic dimension ``d`` (:attr:`ManifoldDistribution.intrinsic_dim`)
and its ambient dimension ``D`` (:attr:`ManifoldDistribution.ambient_dim`), draws with an
explicit :class:`torch.Generator`, can be embedded into a larger :math:`\mathbb{R}^D` by a
fixed random isometry and can carry small off-manifold Gaussian noise:

.. math::
    X = Q\, Y + \tau\, \varepsilon,\qquad Y \sim P_{\mathcal M} \text{ on } \mathcal M \subset
    \mathbb{R}^{D_0},\ Q \in \mathbb{R}^{D \times D_0},\ Q^\top Q = I,\ \varepsilon \sim N(0, I_D).

These are the test laws of the simulation studies of Chae, Kim, Kim & Lin, "A likelihood
approach to nonparametric estimation of a singular distribution using deep generative models"
(JMLR 2023).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from geomgen.distributions import VonMisesFisher, VonMisesMixture

__all__ = [
    "ManifoldDistribution",
    "Circle",
    "Sphere",
    "Torus",
    "SwissRoll",
    "Product",
    "Mixture",
    "DISTRIBUTIONS",
    "make_distribution",
    "random_isometry",
]


def random_isometry(ambient_dim: int, base_dim: int, seed: int = 0, dtype=torch.float64) -> Tensor:
    r"""A fixed random linear isometry :math:`Q: \mathbb{R}^{D_0} \to \mathbb{R}^D`.

    :math:`Q` is the orthonormal factor of the QR decomposition of a Gaussian
    :math:`D \times D_0` matrix (signs fixed so the draw is unique), so
    :math:`\|Qx - Qy\| = \|x - y\|`.

    Args:
        ambient_dim (int): D, at least ``base_dim``.
        base_dim (int): :math:`D_0`.
        seed (int, optional): seed of the Gaussian draw (default 0).

    Shapes:
        output: ``[D, D0]`` with orthonormal columns.
    """
    if ambient_dim < base_dim:
        raise ValueError(f"ambient_dim must be >= {base_dim} (the manifold's own dimension), got {ambient_dim}")
    g = torch.Generator().manual_seed(int(seed))
    a = torch.randn(ambient_dim, base_dim, generator=g, dtype=torch.float64)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r)).where(torch.diagonal(r) != 0, torch.ones(1, dtype=torch.float64))
    return q.to(dtype)


def _angles(kappa: float, n: int, generator: torch.Generator | None, loc: float = 0.0) -> Tensor:
    """Angles in [-pi, pi): uniform for kappa = 0, von Mises(loc, kappa) otherwise (float64)."""
    if kappa == 0:
        return (torch.rand(n, generator=generator, dtype=torch.float64) * 2 - 1) * math.pi
    vm = VonMisesMixture(
        torch.tensor([loc], dtype=torch.float64),
        torch.tensor([float(kappa)], dtype=torch.float64),
        torch.zeros(1, dtype=torch.float64),
    )
    return vm.sample((n,), generator=generator)


class ManifoldDistribution:
    r"""Base class: a law on a :math:`d`-manifold in :math:`\mathbb{R}^{D_0}`, optionally
    embedded isometrically in :math:`\mathbb{R}^D` and blurred off the manifold.

    .. math::
        X = Q\,Y + \tau\,\varepsilon

    Subclasses implement :meth:`_sample_base` (points :math:`Y` in their own
    :math:`\mathbb{R}^{D_0}`) and :meth:`_residual_base` (distance of a point of
    :math:`\mathbb{R}^{D_0}` to the manifold, used by tests and sanity checks).

    Args:
        ambient_dim (int, optional): D; ``None`` keeps :math:`D = D_0` and no rotation (default ``None``).
        noise (float, optional): off-manifold noise level :math:`\tau \ge 0` (default 0).
        isometry_seed (int, optional): seed of the fixed random isometry :math:`Q` (default 0).

    Shapes:
        - ``sample(n)``: ``[n, D]``.
        - ``distance_to_manifold(x)``: ``[n, D] -> [n]``.
    """

    #: intrinsic dimension of the manifold (set by subclasses)
    intrinsic_dim: int = 0
    #: dimension of the space the manifold is defined in before embedding
    base_dim: int = 0

    def __init__(self, ambient_dim: int | None = None, noise: float = 0.0, isometry_seed: int = 0):
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        self.noise = float(noise)
        self.isometry_seed = int(isometry_seed)
        self._ambient = None if ambient_dim is None else int(ambient_dim)
        self._q = None
        if self._ambient is not None:
            self._q = random_isometry(self._ambient, self.base_dim, self.isometry_seed)

    @property
    def ambient_dim(self) -> int:
        """D, the dimension of the space the samples live in."""
        return self.base_dim if self._ambient is None else self._ambient

    @property
    def isometry(self) -> Tensor | None:
        """The embedding :math:`Q` (``[D, D0]``), or ``None`` when :math:`D = D_0`."""
        return self._q

    def _sample_base(self, n: int, generator: torch.Generator | None) -> Tensor:  # pragma: no cover
        """Abstract: every law samples ``[n, D0]`` points of its base space."""
        raise NotImplementedError(f"{type(self).__name__} must implement _sample_base")

    def _residual_base(self, y: Tensor) -> Tensor:  # pragma: no cover
        """Abstract: every law measures the distance of base points to its support."""
        raise NotImplementedError(f"{type(self).__name__} must implement _residual_base")

    def sample(self, n: int, generator: torch.Generator | None = None, dtype=torch.float32) -> Tensor:
        """Draw ``n`` points ``[n, D]``; a generator with a fixed seed reproduces them."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        y = self._sample_base(int(n), generator).to(torch.float64)
        x = y if self._q is None else y @ self._q.T
        if self.noise > 0:
            x = x + self.noise * torch.randn(x.shape, generator=generator, dtype=torch.float64)
        return x.to(dtype)

    def to_base(self, x: Tensor) -> Tensor:
        r"""Coordinates in :math:`\mathbb{R}^{D_0}` of the orthogonal projection on the range of Q."""
        x = x.to(torch.float64)
        return x if self._q is None else x @ self._q

    def distance_to_manifold(self, x: Tensor) -> Tensor:
        """Euclidean distance of each point ``[n, D]`` to the (embedded) manifold."""
        x = x.to(torch.float64)
        y = self.to_base(x)
        off = (x - y @ self._q.T).norm(dim=-1) if self._q is not None else torch.zeros(len(x), dtype=x.dtype)
        return torch.sqrt(self._residual_base(y) ** 2 + off**2)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(d={self.intrinsic_dim}, D={self.ambient_dim}, noise={self.noise})"


class Circle(ManifoldDistribution):
    r"""The unit circle :math:`S^1 \subset \mathbb{R}^2` (d = 1, :math:`D_0` = 2), with the angle
    uniform (``kappa = 0``) or von Mises:

    .. math::
        Y = r(\cos\theta, \sin\theta),\qquad \theta \sim \mathrm{vM}(\mu, \kappa)

    Args:
        kappa (float, optional): von Mises concentration; 0 is the uniform law (default 0).
        loc (float, optional): von Mises mean angle :math:`\mu` in radians (default 0).
        radius (float, optional): r (default 1).
        ambient_dim, noise, isometry_seed: see :class:`ManifoldDistribution`.
    """

    intrinsic_dim = 1
    base_dim = 2

    def __init__(self, kappa: float = 0.0, loc: float = 0.0, radius: float = 1.0, ambient_dim: int | None = None,
                 noise: float = 0.0, isometry_seed: int = 0):
        if kappa < 0:
            raise ValueError(f"kappa must be >= 0, got {kappa}")
        if radius <= 0:
            raise ValueError(f"radius must be > 0, got {radius}")
        self.kappa, self.loc, self.radius = float(kappa), float(loc), float(radius)
        super().__init__(ambient_dim, noise, isometry_seed)

    def _sample_base(self, n, generator):
        t = _angles(self.kappa, n, generator, self.loc)
        return self.radius * torch.stack([torch.cos(t), torch.sin(t)], -1)

    def _residual_base(self, y):
        return (y.norm(dim=-1) - self.radius).abs()


class Sphere(ManifoldDistribution):
    r"""The unit sphere :math:`S^d \subset \mathbb{R}^{d+1}` (default d = 2), uniform
    (``kappa = 0``) or von Mises-Fisher with mean direction ``loc``, a smooth density on it:

    .. math::
        f(y) \propto \exp(\kappa\, \mu^\top y),\qquad \|y\| = 1

    Args:
        kappa (float, optional): vMF concentration; 0 is the uniform law (default 0).
        loc (sequence of d + 1 floats, optional): mean direction (default the last axis, ``(0, ..., 0, 1)``).
        dim (int, optional): d, the sphere's own dimension, >= 1 (default 2).
        ambient_dim, noise, isometry_seed: see :class:`ManifoldDistribution`.
    """

    intrinsic_dim = 2
    base_dim = 3

    def __init__(self, kappa: float = 0.0, loc: Sequence[float] | None = None, ambient_dim: int | None = None,
                 noise: float = 0.0, isometry_seed: int = 0, dim: int = 2):
        if kappa < 0:
            raise ValueError(f"kappa must be >= 0, got {kappa}")
        if int(dim) != dim or dim < 1:
            raise ValueError(f"dim must be an integer >= 1, got {dim}")
        self.intrinsic_dim, self.base_dim = int(dim), int(dim) + 1
        loc = tuple(loc) if loc is not None else (0.0,) * int(dim) + (1.0,)
        if len(loc) != self.base_dim:
            raise ValueError(f"loc must have dim + 1 = {self.base_dim} entries, got {len(loc)}")
        self.kappa, self.loc = float(kappa), tuple(float(v) for v in loc)
        super().__init__(ambient_dim, noise, isometry_seed)

    def _sample_base(self, n, generator):
        if self.kappa == 0:
            y = torch.randn(n, self.base_dim, generator=generator, dtype=torch.float64)
            return y / y.norm(dim=-1, keepdim=True).clamp_min(1e-300)
        vmf = VonMisesFisher(torch.tensor(self.loc, dtype=torch.float64), self.kappa)
        return vmf.sample((n,), generator=generator)

    def _residual_base(self, y):
        return (y.norm(dim=-1) - 1.0).abs()


class Torus(ManifoldDistribution):
    r"""A torus of revolution in :math:`\mathbb{R}^3` (d = 2) with radii R > r:

    .. math::
        Y = ((R + r\cos\phi)\cos\theta,\ (R + r\cos\phi)\sin\theta,\ r\sin\phi)

    with the angles independent, each uniform or von Mises (``kappa_theta``, ``kappa_phi``).
    Uniform angles are not the uniform area measure (the outer side is sparser); this is a
    law with a smooth density on the torus either way.

    Args:
        major_radius (float, optional): R (default 1).
        minor_radius (float, optional): r (default 0.4).
        kappa_theta (float, optional): concentration of :math:`\theta` (default 0, uniform).
        kappa_phi (float, optional): concentration of :math:`\phi` (default 0, uniform).
        ambient_dim, noise, isometry_seed: see :class:`ManifoldDistribution`.
    """

    intrinsic_dim = 2
    base_dim = 3

    def __init__(self, major_radius: float = 1.0, minor_radius: float = 0.4, kappa_theta: float = 0.0,
                 kappa_phi: float = 0.0, ambient_dim: int | None = None, noise: float = 0.0, isometry_seed: int = 0):
        if not 0 < minor_radius < major_radius:
            raise ValueError(f"need 0 < minor_radius < major_radius, got {minor_radius} and {major_radius}")
        if kappa_theta < 0 or kappa_phi < 0:
            raise ValueError(f"kappa_theta and kappa_phi must be >= 0, got {kappa_theta} and {kappa_phi}")
        self.R, self.r = float(major_radius), float(minor_radius)
        self.kappa_theta, self.kappa_phi = float(kappa_theta), float(kappa_phi)
        super().__init__(ambient_dim, noise, isometry_seed)

    def _sample_base(self, n, generator):
        th = _angles(self.kappa_theta, n, generator)
        ph = _angles(self.kappa_phi, n, generator)
        rho = self.R + self.r * torch.cos(ph)
        return torch.stack([rho * torch.cos(th), rho * torch.sin(th), self.r * torch.sin(ph)], -1)

    def _residual_base(self, y):
        rho = torch.sqrt(y[:, 0] ** 2 + y[:, 1] ** 2)
        return (torch.sqrt((rho - self.R) ** 2 + y[:, 2] ** 2) - self.r).abs()


class SwissRoll(ManifoldDistribution):
    r"""The Swiss roll in :math:`\mathbb{R}^3` (d = 2), rescaled to unit size:

    .. math::
        Y = \frac{1}{c}\,(t\cos t,\ h,\ t\sin t),\qquad t \in [t_0, t_1],\ h \in [0, H]

    with :math:`(t, h)` uniform on the rectangle (``uniform_area=False``, the classic
    parameterisation) or :math:`t` drawn proportional to arc length (``uniform_area=True``).

    Args:
        turns (float, optional): :math:`(t_1 - t_0) / 2\pi` with :math:`t_0 = 1.5\pi` (default 1.5).
        height (float, optional): H before rescaling (default 10).
        scale (float, optional): c (default 10, so the roll fits in about :math:`[-1, 1]^3`).
        uniform_area (bool, optional): uniform w.r.t. the surface area (default False).
        ambient_dim, noise, isometry_seed: see :class:`ManifoldDistribution`.
    """

    intrinsic_dim = 2
    base_dim = 3

    def __init__(self, turns: float = 1.5, height: float = 10.0, scale: float = 10.0, uniform_area: bool = False,
                 ambient_dim: int | None = None, noise: float = 0.0, isometry_seed: int = 0):
        if turns <= 0 or height <= 0 or scale <= 0:
            raise ValueError(f"turns, height and scale must be > 0, got {turns}, {height}, {scale}")
        self.t0 = 1.5 * math.pi
        self.t1 = self.t0 + 2 * math.pi * float(turns)
        self.height, self.scale, self.uniform_area = float(height), float(scale), bool(uniform_area)
        super().__init__(ambient_dim, noise, isometry_seed)

    def _sample_base(self, n, generator):
        u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
        if self.uniform_area:
            # arc length ~ t^2/2 for the spiral t (cos t, sin t) (exactly (t sqrt(1+t^2) + asinh t)/2); invert
            # the dominant term and correct by one Newton step on the exact arc length.
            def arc(t):
                return 0.5 * (t * torch.sqrt(1 + t * t) + torch.asinh(t))

            a0, a1 = arc(torch.tensor(self.t0)), arc(torch.tensor(self.t1))
            target = a0 + u[:, 0] * (a1 - a0)
            t = torch.sqrt(2 * target)
            for _ in range(8):
                t = t - (arc(t) - target) / torch.sqrt(1 + t * t)
        else:
            t = self.t0 + u[:, 0] * (self.t1 - self.t0)
        h = u[:, 1] * self.height
        return torch.stack([t * torch.cos(t), h, t * torch.sin(t)], -1) / self.scale

    def _residual_base(self, y):
        # distance in the (x, z) plane to the spiral, by a dense search over t (exact to ~1e-4)
        p = y[:, [0, 2]] * self.scale
        t = torch.linspace(self.t0, self.t1, 20001, dtype=torch.float64)
        curve = torch.stack([t * torch.cos(t), t * torch.sin(t)], -1)
        d_plane = torch.cdist(p, curve).min(dim=1).values
        h = y[:, 1] * self.scale
        d_h = (h.clamp(0, self.height) - h).abs()
        return torch.sqrt(d_plane**2 + d_h**2) / self.scale


class Product(ManifoldDistribution):
    r"""The product of independent laws: :math:`Y = (Y_1, \dots, Y_k)` with
    :math:`Y_j \sim P_j` independent, on :math:`\mathcal M_1 \times \dots \times \mathcal M_k`
    (:math:`d = \sum_j d_j`, :math:`D_0 = \sum_j D_{0,j}`). The default is a flat torus
    :math:`S^1 \times S^1 \subset \mathbb{R}^4` with a von Mises and a uniform factor.

    Args:
        components (list of ManifoldDistribution or dict specs, optional): factors; their own
            embedding and noise are ignored (default von Mises circle times uniform circle).
        ambient_dim, noise, isometry_seed: see :class:`ManifoldDistribution`.
    """

    def __init__(self, components: Sequence | None = None, ambient_dim: int | None = None, noise: float = 0.0,
                 isometry_seed: int = 0):
        if components is None:
            components = [Circle(kappa=2.0), Circle()]
        self.components = [_as_distribution(c) for c in components]
        if not self.components:
            raise ValueError("Product needs at least one component")
        self.intrinsic_dim = sum(c.intrinsic_dim for c in self.components)
        self.base_dim = sum(c.base_dim for c in self.components)
        super().__init__(ambient_dim, noise, isometry_seed)

    def _sample_base(self, n, generator):
        return torch.cat([c._sample_base(n, generator) for c in self.components], -1)

    def _residual_base(self, y):
        parts = torch.split(y, [c.base_dim for c in self.components], dim=-1)
        res = torch.stack([c._residual_base(p) for c, p in zip(self.components, parts)], -1)
        return res.norm(dim=-1)


class Point(ManifoldDistribution):
    r"""A point mass at ``loc`` (d = 0), a piece for :class:`Mixture`.

    Args:
        loc (sequence of floats): the atom, which fixes :math:`D_0`.
    """

    intrinsic_dim = 0

    def __init__(self, loc: Sequence[float] = (0.0, 0.0, 0.0), ambient_dim: int | None = None, noise: float = 0.0,
                 isometry_seed: int = 0):
        self.loc = torch.tensor([float(v) for v in loc], dtype=torch.float64)
        self.base_dim = len(self.loc)
        super().__init__(ambient_dim, noise, isometry_seed)

    def _sample_base(self, n, generator):
        return self.loc.expand(n, -1).clone()

    def _residual_base(self, y):
        return (y - self.loc).norm(dim=-1)


class Mixture(ManifoldDistribution):
    r"""A mixture of pieces, possibly of different dimensions, placed in a common
    :math:`\mathbb{R}^{D_0}` (pieces of lower :math:`D_0` are zero-padded, then shifted):

    .. math::
        P = \sum_j w_j\, (T_j)_\# P_j,\qquad T_j(y) = (y, 0) + c_j

    :attr:`intrinsic_dim` is the largest piece dimension; :attr:`piece_dims` lists them all.
    The default mixes a uniform circle (d = 1) with a von Mises-Fisher cap on a sphere of
    radius 1/2 centred at (0, 0, 1.5) (d = 2) and an atom at (0, 0, -1) (d = 0), weights
    0.45 / 0.45 / 0.1, in :math:`\mathbb{R}^3`.

    Args:
        components (list, optional): pieces (distributions or dict specs).
        weights (list of float, optional): mixture weights, normalised (default equal).
        shifts (list of lists, optional): :math:`c_j` (default zero).
        scales (list of float, optional): each piece is scaled by this factor before shifting (default 1).
        ambient_dim, noise, isometry_seed: see :class:`ManifoldDistribution`.
    """

    def __init__(self, components: Sequence | None = None, weights: Sequence[float] | None = None,
                 shifts: Sequence[Sequence[float]] | None = None, scales: Sequence[float] | None = None,
                 ambient_dim: int | None = None, noise: float = 0.0, isometry_seed: int = 0):
        if components is None:
            components = [Circle(), Sphere(kappa=1.0), Point((0.0, 0.0, -1.0))]
            weights = weights if weights is not None else [0.45, 0.45, 0.1]
            shifts = shifts if shifts is not None else [[0, 0, 0], [0, 0, 1.5], [0, 0, 0]]
            scales = scales if scales is not None else [1.0, 0.5, 1.0]
        self.components = [_as_distribution(c) for c in components]
        k = len(self.components)
        if k == 0:
            raise ValueError("Mixture needs at least one component")
        w = torch.tensor([1.0] * k if weights is None else [float(v) for v in weights], dtype=torch.float64)
        if len(w) != k or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"weights must be {k} non-negative numbers with a positive sum, got {weights}")
        self.weights = w / w.sum()
        self.base_dim = max(c.base_dim for c in self.components)
        self.shifts = torch.zeros(k, self.base_dim, dtype=torch.float64)
        if shifts is not None:
            if len(shifts) != k:
                raise ValueError(f"shifts must have {k} entries, got {len(shifts)}")
            for j, s in enumerate(shifts):
                self.shifts[j, : len(s)] = torch.tensor([float(v) for v in s], dtype=torch.float64)
        self.scales = [1.0] * k if scales is None else [float(v) for v in scales]
        if len(self.scales) != k or min(self.scales) <= 0:
            raise ValueError(f"scales must be {k} positive numbers, got {scales}")
        self.piece_dims = [c.intrinsic_dim for c in self.components]
        self.intrinsic_dim = max(self.piece_dims)
        super().__init__(ambient_dim, noise, isometry_seed)

    def _place(self, j: int, y: Tensor) -> Tensor:
        pad = torch.zeros(len(y), self.base_dim - y.shape[1], dtype=torch.float64)
        return torch.cat([y * self.scales[j], pad], -1) + self.shifts[j]

    def _sample_base(self, n, generator):
        comp = torch.multinomial(self.weights, n, replacement=True, generator=generator) if n else torch.zeros(0, dtype=torch.long)
        out = torch.empty(n, self.base_dim, dtype=torch.float64)
        for j, c in enumerate(self.components):
            idx = (comp == j).nonzero(as_tuple=True)[0]
            if len(idx):
                out[idx] = self._place(j, c._sample_base(len(idx), generator).to(torch.float64))
        return out

    def _residual_base(self, y):
        res = []
        for j, c in enumerate(self.components):
            local = (y - self.shifts[j]) / self.scales[j]
            inside, outside = local[:, : c.base_dim], local[:, c.base_dim :]
            r = torch.sqrt(c._residual_base(inside) ** 2 + (outside**2).sum(-1)) * self.scales[j]
            res.append(r)
        return torch.stack(res, -1).min(dim=-1).values


#: registry name -> (class, preset keyword arguments). Presets give the laws used in the studies.
DISTRIBUTIONS: dict[str, tuple[type, dict]] = {
    "circle": (Circle, {}),
    "circle_vm": (Circle, {"kappa": 2.0}),
    "sphere": (Sphere, {}),
    "sphere_vmf": (Sphere, {"kappa": 2.0}),
    "torus": (Torus, {}),
    "torus_vm": (Torus, {"kappa_theta": 1.0, "kappa_phi": 2.0}),
    "swiss_roll": (SwissRoll, {}),
    "product": (Product, {}),
    "mixture": (Mixture, {}),
    "point": (Point, {}),
}


def _as_distribution(spec) -> ManifoldDistribution:
    if isinstance(spec, ManifoldDistribution):
        return spec
    if isinstance(spec, str):
        return make_distribution(spec)
    if isinstance(spec, dict):
        spec = dict(spec)
        if "type" not in spec:
            raise ValueError(f"distribution spec needs a 'type' key, got keys {sorted(spec)}")
        return make_distribution(spec.pop("type"), **spec)
    raise TypeError(f"cannot make a distribution from {spec!r}")


def distribution_arguments(name: str) -> list[str]:
    """Keyword arguments accepted by the registry entry ``name``."""
    cls, _ = DISTRIBUTIONS[name]
    return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]


def make_distribution(name: str, **kwargs) -> ManifoldDistribution:
    """Build a registered distribution; ``kwargs`` override the preset.

    Args:
        name (str): a key of :data:`DISTRIBUTIONS` (``circle``, ``circle_vm``, ``sphere``,
            ``sphere_vmf``, ``torus``, ``torus_vm``, ``swiss_roll``, ``product``, ``mixture``, ``point``).
        **kwargs: constructor arguments (e.g. ``ambient_dim=10, noise=0.01``).

    Raises:
        ValueError: unknown name or unknown keyword argument (the message names it).
    """
    if name not in DISTRIBUTIONS:
        raise ValueError(f"unknown distribution {name!r}; choose one of {sorted(DISTRIBUTIONS)}")
    cls, preset = DISTRIBUTIONS[name]
    allowed = distribution_arguments(name)
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(f"unknown argument(s) {unknown} for distribution {name!r}; allowed: {allowed}")
    return cls(**{**preset, **kwargs})
