"""Sky geometry shared by the mock populations: unit vectors, cones and velocity projection.

All vectors are ICRS Cartesian, stored as tuples of three arrays (x, y, z) of shape (n,) so
that the same code runs on NumPy and CuPy without matrix kernels. The local sky basis at
(α, δ) is ê_α = (−sin α, cos α, 0) (towards east), ê_δ = (−sin δ cos α, −sin δ sin α, cos δ)
(towards north) and û = (cos δ cos α, cos δ sin α, sin δ) (away from the observer);
ê_α × ê_δ = û.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from gpu_mc.constants import K_MASYR_KPC

Vec = tuple[Any, Any, Any]


def unit_vector(ra_deg: Any, dec_deg: Any, xp: ModuleType = np) -> Vec:
    """ICRS Cartesian unit vector û towards (ra, dec).

    Parameters
    ----------
    ra_deg, dec_deg : float or array, shape (n,)
        Right ascension and declination, deg.
    xp : module
        Array namespace.

    Returns
    -------
    tuple of 3 arrays, shape (n,)
    """
    a = xp.deg2rad(ra_deg)
    d = xp.deg2rad(dec_deg)
    cd = xp.cos(d)
    return cd * xp.cos(a), cd * xp.sin(a), xp.sin(d)


def sky_basis(ra_deg: Any, dec_deg: Any, xp: ModuleType = np) -> tuple[Vec, Vec, Vec]:
    """Local basis (ê_α, ê_δ, û) at (ra, dec).

    Parameters
    ----------
    ra_deg, dec_deg : float or array, shape (n,)
        Position, deg.
    xp : module
        Array namespace.

    Returns
    -------
    e_alpha, e_delta, u : tuple of 3 arrays each, shape (n,)
        Unit vectors towards east, towards north and along the line of sight.
    """
    a = xp.deg2rad(ra_deg)
    d = xp.deg2rad(dec_deg)
    sa, ca, sd, cd = xp.sin(a), xp.cos(a), xp.sin(d), xp.cos(d)
    e_alpha = (-sa, ca, xp.zeros_like(a))
    e_delta = (-sd * ca, -sd * sa, cd)
    u = (cd * ca, cd * sa, sd)
    return e_alpha, e_delta, u


def dot(a: Vec, b: Vec) -> Any:
    """Component-wise dot product of two vectors, shape (n,)."""
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def to_radec(v: Vec, xp: ModuleType = np) -> tuple[Any, Any, Any]:
    """Position vector to (ra, dec, norm).

    Parameters
    ----------
    v : tuple of 3 arrays, shape (n,)
        Cartesian vector (any length unit).
    xp : module
        Array namespace.

    Returns
    -------
    ra : array, shape (n,)
        Right ascension in [0, 360), deg.
    dec : array, shape (n,)
        Declination, deg.
    r : array, shape (n,)
        Length of ``v`` in its unit.
    """
    r = xp.sqrt(dot(v, v))
    ra = xp.mod(xp.rad2deg(xp.arctan2(v[1], v[0])), 360.0)
    dec = xp.rad2deg(xp.arcsin(xp.clip(v[2] / r, -1.0, 1.0)))
    return ra, dec, r


def project_velocity(
    ra_deg: Any, dec_deg: Any, distance_kpc: Any, v: Vec, xp: ModuleType = np
) -> tuple[Any, Any, Any]:
    """Heliocentric 3-D velocity to proper motion and line-of-sight velocity.

    Each star's own sky basis is used, so perspective effects across a wide field are exact:
    μ_α* = v·ê_α / (K d), μ_δ = v·ê_δ / (K d), v_los = v·û, with K = 4.74047 km/s per
    (mas/yr × kpc).

    Parameters
    ----------
    ra_deg, dec_deg : array, shape (n,)
        Position, deg.
    distance_kpc : array, shape (n,)
        Heliocentric distance, kpc.
    v : tuple of 3 arrays, shape (n,)
        Heliocentric ICRS Cartesian velocity, km/s.
    xp : module
        Array namespace.

    Returns
    -------
    pmra, pmdec : array, shape (n,)
        μ_α* = μ_α cos δ and μ_δ, mas/yr.
    vlos : array, shape (n,)
        Line-of-sight velocity, km/s.
    """
    e_a, e_d, u = sky_basis(ra_deg, dec_deg, xp)
    k = 1.0 / (K_MASYR_KPC * distance_kpc)
    return dot(v, e_a) * k, dot(v, e_d) * k, dot(v, u)


def systemic_velocity(
    ra_deg: float, dec_deg: float, distance_kpc: float, pmra: float, pmdec: float, vlos: float
) -> np.ndarray:
    """3-D heliocentric ICRS velocity of a point with the given observed motion.

    Parameters
    ----------
    ra_deg, dec_deg : float
        Position, deg.
    distance_kpc : float
        Distance, kpc.
    pmra, pmdec : float
        μ_α* and μ_δ, mas/yr.
    vlos : float
        Line-of-sight velocity, km/s.

    Returns
    -------
    numpy.ndarray, shape (3,)
        Velocity, km/s (the inverse of :func:`project_velocity`).
    """
    e_a, e_d, u = (np.array(b, dtype=float) for b in sky_basis(ra_deg, dec_deg))
    return K_MASYR_KPC * distance_kpc * (pmra * e_a + pmdec * e_d) + vlos * u


def cone_directions(ra0: float, dec0: float, t: Any, psi: Any, xp: ModuleType = np) -> Vec:
    """Unit vectors at offset (1 − cos θ, position angle) from a centre.

    Parameters
    ----------
    ra0, dec0 : float
        Centre, deg.
    t : array, shape (n,)
        1 − cos θ, where θ is the angular distance from the centre; uniform ``t`` in
        [0, 1 − cos θ_max] gives directions uniform on the sphere within the cone.
    psi : array, shape (n,)
        Position angle of the offset, north through east, rad.
    xp : module
        Array namespace.

    Returns
    -------
    tuple of 3 arrays, shape (n,)
    """
    e_a, e_d, u0 = (np.array(b, dtype=float) for b in sky_basis(ra0, dec0))
    cos_t = 1.0 - t
    sin_t = xp.sqrt(xp.clip(t * (2.0 - t), 0.0, None))
    cp, sp = xp.cos(psi), xp.sin(psi)
    return tuple(
        cos_t * float(u0[k]) + sin_t * (cp * float(e_d[k]) + sp * float(e_a[k])) for k in range(3)
    )


def apply_matrix(m: np.ndarray, v: Vec) -> Vec:
    """Multiply a host 3×3 matrix into a vector of device arrays, shape (n,) each."""
    return tuple(
        float(m[i, 0]) * v[0] + float(m[i, 1]) * v[1] + float(m[i, 2]) * v[2] for i in range(3)
    )
